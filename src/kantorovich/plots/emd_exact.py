"""Figures for the exact Earth-Mover distance: transport plans as lines, convergence in n."""

from __future__ import annotations

import numpy as np

__all__ = ["plot_empirical_convergence", "plot_plan_matrix", "plot_transport_plan"]


def _axes(ax, figsize=(5.5, 4.5)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def _log_n_axis(ax, ns):
    """Log x-axis with the sample sizes themselves as tick labels (no crowded minor labels)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(list(ns)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{int(v)}" for v in ns])


def plot_transport_plan(x, y, plan, a=None, b=None, *, ax=None, title=None, threshold=1e-12):
    """Draw the optimal plan between 2-D point clouds: one segment per positive entry P_ij.

    Segment width and opacity grow with P_ij; point areas are proportional to the masses
    ``a`` (sources, filled circles) and ``b`` (targets, squares). Returns the Figure.
    """
    x, y, P = np.asarray(x, float), np.asarray(y, float), np.asarray(plan, float)
    a = P.sum(1) if a is None else np.asarray(a, float)
    b = P.sum(0) if b is None else np.asarray(b, float)
    fig, ax = _axes(ax)
    pmax = P.max() if P.size and P.max() > 0 else 1.0
    ii, jj = np.nonzero(P > threshold * pmax)
    for i, j in zip(ii, jj):
        w = P[i, j] / pmax
        ax.plot([x[i, 0], y[j, 0]], [x[i, 1], y[j, 1]], color="0.25", lw=0.6 + 3.5 * w,
                alpha=0.35 + 0.55 * w, zorder=1, solid_capstyle="round")
    scale = 900.0
    ax.scatter(x[:, 0], x[:, 1], s=scale * a / a.max() * 0.35 + 10, c="tab:red", edgecolor="k",
               lw=0.6, zorder=3, label=r"sources $x_i$ (area $\propto a_i$)")
    ax.scatter(y[:, 0], y[:, 1], s=scale * b / b.max() * 0.35 + 10, c="tab:blue", marker="s",
               edgecolor="k", lw=0.6, zorder=3, label=r"targets $y_j$ (area $\propto b_j$)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="best", fontsize=8, framealpha=0.9)
    ax.set_title(title or f"optimal transport plan: {len(ii)} positive entries")
    ax.set_xlabel("first coordinate")
    ax.set_ylabel("second coordinate")
    return fig


def plot_plan_matrix(plan, *, ax=None, title=None):
    """The plan P (n x m) as an image; an optimal vertex has at most n + m - 1 positive entries."""
    P = np.asarray(plan, float)
    fig, ax = _axes(ax, figsize=(4.5, 4.5))
    masked = np.ma.masked_where(P <= 0, P)
    im = ax.imshow(masked, cmap="viridis", interpolation="nearest", aspect="auto")
    fig.colorbar(im, ax=ax, shrink=0.8, label=r"$P_{ij}$")
    nnz = int((P > 0).sum())
    n, m = P.shape
    ax.set_title(title or f"plan matrix: {nnz} positive of {n * m} (bound n+m-1 = {n + m - 1})",
                 fontsize=9)
    ax.set_xlabel("target j")
    ax.set_ylabel("source i")
    return fig


def plot_empirical_convergence(ns, errors, *, stderr=None, rates=None, ax=None, title=None,
                               ylabel="error"):
    """Log-log error against sample size, with reference slopes.

    Parameters
    ----------
    ns : array (k,)
    errors : dict label -> array (k,) of mean errors
    stderr : dict label -> array (k,) or None (drawn as error bars)
    rates : dict label -> exponent r; draws C n^{-r} through the first point of ``errors[label]``
    """
    fig, ax = _axes(ax, figsize=(6, 4.5))
    ns = np.asarray(ns, float)
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for k, (label, err) in enumerate(errors.items()):
        c = colors[k % len(colors)]
        err = np.asarray(err, float)
        se = None if stderr is None or label not in stderr else np.asarray(stderr[label], float)
        ax.errorbar(ns, err, yerr=se, marker="o", color=c, lw=1.8, capsize=3, label=label)
        if rates and label in rates:
            r = rates[label]
            ref = err[0] * (ns / ns[0]) ** (-r)
            ax.plot(ns, ref, ls="--", color=c, lw=1, alpha=0.8,
                    label=rf"slope $n^{{-{r:g}}}$ (reference)")
    ax.set_yscale("log")
    _log_n_axis(ax, ns)
    ax.set_xlabel("sample size n (each measure)")
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig
