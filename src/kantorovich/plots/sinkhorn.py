"""Figures for entropic OT (matplotlib imported inside each function; ax=None in, Figure out)."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_plans", "plot_convergence", "plot_value_vs_eps"]


def plot_plans(x, y, plans, titles, *, axes=None):
    """One panel per plan: points x (blue) and y (red), segments with opacity ~ P_ij / max P."""
    import matplotlib.pyplot as plt

    if axes is None:
        fig, axes = plt.subplots(1, len(plans), figsize=(3.2 * len(plans), 3.3), sharex=True, sharey=True)
    else:
        fig = np.ravel(axes)[0].figure
    for ax, P, title in zip(np.ravel(axes), plans, titles):
        P = np.asarray(P)
        w = P / P.max()
        ii, jj = np.nonzero(w > 1e-3)
        from matplotlib.collections import LineCollection

        segs = np.stack([x[ii], y[jj]], axis=1)
        cols = np.zeros((len(ii), 4))
        cols[:, 3] = w[ii, jj]
        ax.add_collection(LineCollection(segs, colors=cols, linewidths=1.0))
        ax.scatter(*x.T, s=14, c="tab:blue", zorder=3, label="x (a)")
        ax.scatter(*y.T, s=14, c="tab:red", zorder=3, label="y (b)")
        ax.set_title(title, fontsize=10)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    np.ravel(axes)[0].legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    return fig


def plot_convergence(curves: dict, *, eps=None, ax=None):
    """Marginal L1 error against iteration, one line per label (log scale)."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(6, 4)) if ax is None else (ax.figure, ax))
    for label, (iters, errs) in curves.items():
        ax.semilogy(iters, errs, label=label)
    ax.set_xlabel("iteration (annealing iterations included)")
    ax.set_ylabel("marginal error |P1 - a|_1 + |P^T1 - b|_1")
    if eps is not None:
        ax.set_title(f"Sinkhorn convergence at eps = {eps:.3g}")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_value_vs_eps(eps, values, exact, *, ax=None):
    """Left: <P_eps, C> against eps with the exact EMD; right: the gap on log-log axes."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8)) if ax is None else (ax[0].figure, ax)
    eps, values = np.asarray(eps), np.asarray(values)
    axes[0].semilogx(eps, values, "o-", label="Sinkhorn <P_eps, C>")
    axes[0].axhline(exact, color="k", ls="--", label="exact EMD (pot.emd2)")
    axes[0].set_xlabel("eps")
    axes[0].set_ylabel("transport cost")
    axes[0].legend()
    gap = np.maximum(values - exact, 1e-16)
    axes[1].loglog(eps, gap, "o-", label="gap <P_eps,C> - EMD")
    axes[1].loglog(eps, eps * gap[0] / eps[0], ":", color="gray", label="slope 1 (reference)")
    axes[1].set_xlabel("eps")
    axes[1].set_ylabel("gap")
    axes[1].legend()
    for a in axes:
        a.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig
