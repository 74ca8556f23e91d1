"""Figures of the 1-D and sliced Wasserstein distances (matplotlib imported inside functions).

``ax=None`` in, Figure out, never ``plt.show()``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["plot_cdf_area", "plot_quantile_area", "plot_sliced_convergence", "plot_sliced_parallel_lines"]

_C_U, _C_V, _C_AREA = "#1f5fa8", "#c0392b", "#f0b429"


def _fig_ax(ax, figsize=(6, 4)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def _ecdf(values, weights):
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    return v, np.cumsum(w) / w.sum()


def _eval_cdf(v, c, grid):
    idx = np.searchsorted(v, grid, side="right")
    return np.concatenate([[0.0], c])[idx]


def plot_cdf_area(u, v, *, u_weights=None, v_weights=None, ax=None, labels=("F (u)", "G (v)"),
                  true_cdfs=None, title=None):
    r"""Empirical CDFs F and G of two weighted samples with the area between them shaded.

    The shaded area is :math:`\int |F - G|\,dx = W_1(u, v)`. ``true_cdfs``: optional pair of
    callables drawn dashed (the population CDFs, for a closed-form comparison).
    """
    from ..ot import wasserstein_1d

    fig, ax = _fig_ax(ax)
    vu, cu = _ecdf(u, u_weights)
    vv, cv = _ecdf(v, v_weights)
    lo, hi = min(vu[0], vv[0]), max(vu[-1], vv[-1])
    pad = 0.05 * (hi - lo if hi > lo else 1.0)
    grid = np.unique(np.concatenate([[lo - pad], vu, vv, [hi + pad]]))
    F, G = _eval_cdf(vu, cu, grid), _eval_cdf(vv, cv, grid)
    ax.fill_between(grid, F, G, step="post", color=_C_AREA, alpha=0.55, lw=0, label=r"$|F - G|$ (area $= W_1$)")
    ax.step(grid, F, where="post", color=_C_U, lw=1.6, label=labels[0])
    ax.step(grid, G, where="post", color=_C_V, lw=1.6, label=labels[1])
    if true_cdfs is not None:
        xs = np.linspace(lo - pad, hi + pad, 600)
        ax.plot(xs, true_cdfs[0](xs), "--", color=_C_U, lw=1, alpha=0.8, label="population CDFs")
        ax.plot(xs, true_cdfs[1](xs), "--", color=_C_V, lw=1, alpha=0.8)
    w1 = float(wasserstein_1d(u, v, u_weights, v_weights))
    ax.set_title(title or rf"CDF view: $W_1 = \int |F - G|\,dx$ = {w1:.4f}")
    ax.set_xlabel("x")
    ax.set_ylabel("cumulative probability")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def plot_quantile_area(u, v, *, u_weights=None, v_weights=None, ax=None, labels=(r"$F^{-1}$", r"$G^{-1}$"),
                       p=1, title=None):
    r"""Quantile functions of two weighted samples with the area between them shaded.

    The shaded area is :math:`\int_0^1 |F^{-1} - G^{-1}|\,dt = W_1`; for ``p != 1`` the title
    reports :math:`W_p = (\int_0^1 |F^{-1} - G^{-1}|^p dt)^{1/p}`.
    """
    from ..ot import wasserstein_1d

    fig, ax = _fig_ax(ax)
    vu, cu = _ecdf(u, u_weights)
    vv, cv = _ecdf(v, v_weights)
    t = np.unique(np.concatenate([[0.0], cu, cv]))
    t = t[t < 1.0]
    qu = vu[np.minimum(np.searchsorted(cu, t, side="right"), len(vu) - 1)]
    qv = vv[np.minimum(np.searchsorted(cv, t, side="right"), len(vv) - 1)]
    tt = np.concatenate([t, [1.0]])
    qu, qv = np.concatenate([qu, qu[-1:]]), np.concatenate([qv, qv[-1:]])
    ax.fill_between(tt, qu, qv, step="post", color=_C_AREA, alpha=0.55, lw=0,
                    label=r"$|F^{-1} - G^{-1}|$")
    ax.step(tt, qu, where="post", color=_C_U, lw=1.6, label=labels[0])
    ax.step(tt, qv, where="post", color=_C_V, lw=1.6, label=labels[1])
    wp = float(wasserstein_1d(u, v, u_weights, v_weights, p=p))
    ax.set_title(title or (rf"quantile view: $W_{{{p:g}}}$ = {wp:.4f}" if p != 1
                           else rf"quantile view: $\int_0^1 |F^{{-1}} - G^{{-1}}|\,dt$ = {wp:.4f}"))
    ax.set_xlabel("t (probability level)")
    ax.set_ylabel("quantile")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


def plot_sliced_convergence(per_direction_wp, *, p=2, closed_form=None, upper_lines=None, ax=None,
                            title=None):
    r"""Running Monte-Carlo estimate of SW_p against the number of projections L.

    ``per_direction_wp``: W_p along each drawn direction (array (L_max,)); the estimate after L
    directions is :math:`(\frac1L \sum_{l \le L} W_p^p)^{1/p}` with a ±2 SE band (delta
    method). ``closed_form``: the population SW_p (horizontal line); ``upper_lines``: dict
    label -> value of further horizontal lines (max-sliced, W_p).
    """
    fig, ax = _fig_ax(ax)
    w = np.asarray(per_direction_wp, dtype=float) ** p
    L = np.arange(1, len(w) + 1)
    mean = np.cumsum(w) / L
    var = np.maximum(np.cumsum(w * w) / L - mean ** 2, 0.0)
    se = np.sqrt(var / np.maximum(L - 1, 1))
    est = mean ** (1.0 / p)
    band = se / (p * np.maximum(mean, 1e-300) ** (1 - 1.0 / p))
    ax.fill_between(L, est - 2 * band, est + 2 * band, color=_C_U, alpha=0.18, lw=0, label="±2 SE over directions")
    ax.plot(L, est, color=_C_U, lw=1.6, label=rf"$\widehat{{SW}}_{{{p:g}}}$ after L projections")
    if closed_form is not None:
        ax.axhline(closed_form, color="k", ls="--", lw=1.2, label=f"closed form SW = {closed_form:.4f}")
    for i, (lab, val) in enumerate((upper_lines or {}).items()):
        ax.axhline(val, color=["#7d3c98", "#117a65", "#a04000"][i % 3], ls=":", lw=1.4, label=f"{lab} = {val:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("number of projections L")
    ax.set_ylabel(rf"$SW_{{{p:g}}}$")
    ax.set_title(title or "sliced Wasserstein: Monte Carlo over directions")
    ax.legend(fontsize=8, frameon=False, loc="best")
    return fig


def plot_sliced_parallel_lines(thetas, sw, msw, w, *, ax=None, title=None):
    r"""SW_1, max-SW_1 and W_1 between the parallel lines against theta, with the closed
    forms :math:`2|\theta|/\pi` (SW_1 in 2-D) and :math:`|\theta|` (max-SW_1 = W_1)."""
    fig, ax = _fig_ax(ax)
    th = np.asarray(thetas, dtype=float)
    fine = np.linspace(th.min(), th.max(), 400)
    ax.plot(fine, np.abs(fine), color="k", lw=1, ls="--", label=r"$|\theta|$ (W$_1$ = max-SW$_1$)")
    ax.plot(fine, 2 * np.abs(fine) / math.pi, color="0.4", lw=1, ls="-.", label=r"$2|\theta|/\pi$ (SW$_1$)")
    ax.plot(th, w, "s", ms=5, mfc="none", color="#117a65", label="W$_1$ (1-D, x coordinate)")
    ax.plot(th, msw, "^", ms=5, color="#7d3c98", label="max-SW$_1$ (samples)")
    ax.plot(th, sw, "o", ms=4, color=_C_U, label="SW$_1$ (samples)")
    ax.set_xlabel(r"$\theta$")
    ax.set_ylabel("distance")
    ax.set_title(title or r"parallel lines $P_0$, $P_\theta$: sliced distances")
    ax.legend(fontsize=8, frameon=False)
    return fig
