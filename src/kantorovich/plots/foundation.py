"""Figures for the foundation results: parallel lines (C1), cumulative deltas (C2), D* (C4-C7).

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes for
the multi-panel figures) and returns its figure, else makes a new Figure; none computes a
divergence or solves anything, and none calls ``plt.show()``. matplotlib is imported inside
the functions.
"""

from __future__ import annotations

import math

import numpy as np

from ._axes import closes_on_error, old_axes_keyword, panel_axes
from ._data import as_array, number, same_length

__all__ = ["plot_cumulative_deltas", "plot_optimal_discriminator", "plot_parallel_lines"]


@closes_on_error
@old_axes_keyword
def plot_parallel_lines(thetas, w1, js, tv, *, ax=None):
    """TV, KL, JS and W_1 between P_0 and P_theta against theta (WGAN paper, Figure 1).

    KL is +inf for every theta != 0: it is drawn on a separate "+inf" level with upward
    arrows, and its single finite value 0 at theta = 0. JS and TV are drawn as two branches
    (theta < 0, theta > 0) with their values at 0 as a filled dot and the limits log 2 and 1
    as open dots.

    Parameters
    ----------
    thetas : array (k,)
        Increasing, containing 0.
    w1, js, tv : array (k,)
        W_1, JS and TV at each theta (e.g. ``kantorovich.families.ParallelLines(t).w1()``).
        All four finite and of one length, else a ``ValueError`` naming the argument.
    ax : sequence of 4 matplotlib Axes, optional
        Panels W, JS, TV, KL (row-major); default a new 2 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_parallel_lines
    >>> t = np.linspace(-1, 1, 21)
    >>> fig = plot_parallel_lines(t, abs(t), np.where(t == 0, 0, np.log(2)), np.where(t == 0, 0, 1.0))
    """
    thetas, w1, js, tv = (as_array(v, k, ndim=1) for v, k in ((thetas, "thetas"), (w1, "w1"), (js, "js"), (tv, "tv")))
    same_length(thetas=thetas, w1=w1, js=js, tv=tv)
    made = ax is None
    fig, axes = panel_axes(ax, 4, nrows=2, ncols=2, figsize=(9.5, 6.5), sharex=True)
    ax_w, ax_js, ax_tv, ax_kl = axes[:4]
    nz = thetas != 0.0

    ax_w.plot(thetas, w1, color="C0", lw=2)
    ax_w.set_title(r"Earth-Mover $W(P_0, P_\theta) = |\theta|$")
    ax_w.set_ylabel("distance")

    ax_js.plot(thetas[nz & (thetas < 0)], js[nz & (thetas < 0)], color="C3", lw=2)
    ax_js.plot(thetas[nz & (thetas > 0)], js[nz & (thetas > 0)], color="C3", lw=2)
    ax_js.plot([0], [0], "o", color="C3", ms=6)
    ax_js.plot([0], [math.log(2)], "o", mfc="white", mec="C3", ms=6)
    ax_js.axhline(math.log(2), color="0.6", ls=":", lw=1)
    ax_js.set_yticks([0, math.log(2)], ["0", r"$\log 2$"])
    ax_js.set_title(r"Jensen-Shannon $JS(P_0, P_\theta)$")
    ax_js.set_ylabel("divergence (nats)")

    ax_tv.plot(thetas[nz & (thetas < 0)], tv[nz & (thetas < 0)], color="C2", lw=2)
    ax_tv.plot(thetas[nz & (thetas > 0)], tv[nz & (thetas > 0)], color="C2", lw=2)
    ax_tv.plot([0], [0], "o", color="C2", ms=6)
    ax_tv.plot([0], [1], "o", mfc="white", mec="C2", ms=6)
    ax_tv.set_title(r"Total variation $\delta(P_0, P_\theta)$")
    ax_tv.set_xlabel(r"$\theta$")
    ax_tv.set_ylabel("divergence")

    # KL: +inf everywhere but 0 -> drawn on an "infinity" level above a broken axis
    inf_level = 1.0
    t_sparse = thetas[nz][:: max(1, nz.sum() // 16)]
    ax_kl.axhline(inf_level, color="C1", lw=2)
    for t in t_sparse:
        ax_kl.annotate("", xy=(t, inf_level + 0.18), xytext=(t, inf_level),
                       arrowprops={"arrowstyle": "->", "color": "C1", "lw": 1})
    ax_kl.plot([0], [0], "o", color="C1", ms=6)
    ax_kl.plot([0], [inf_level], "o", mfc="white", mec="C1", ms=6)
    ax_kl.set_ylim(-0.1, inf_level + 0.3)
    ax_kl.set_yticks([0, inf_level], ["0", r"$+\infty$"])
    ax_kl.set_title(r"$KL(P_0\|P_\theta) = KL(P_\theta\|P_0)$")
    ax_kl.set_ylabel("divergence")
    ax_kl.set_xlabel(r"$\theta$")
    for ax in (ax_w, ax_js, ax_tv, ax_kl):
        ax.grid(alpha=0.3)
    if made:
        fig.suptitle(r"Parallel lines $P_0 = (0, Z)$, $P_\theta = (\theta, Z)$, $Z \sim U[0,1]$: "
                     "only W is continuous in $\\theta$", fontsize=11)
        fig.tight_layout()
    return fig


@closes_on_error
@old_axes_keyword
def plot_cumulative_deltas(p, q, deltas, value, *, ax=None):
    """The two histograms and the running surpluses delta moved between neighbouring bins (C2).

    Top: P and Q side by side per bin. Bottom: an arrow for each delta_i across the edge
    between bins i-1 and i (rightward for delta > 0), with the total W = sum |delta|.

    Parameters
    ----------
    p, q : array (n,)
        The two histograms on unit-spaced bins.
    deltas : array (n + 1,)
        Mass carried across each edge (``kantorovich.ot.cumulative_deltas(p, q)``).
    value : float
        W = sum |delta| (``kantorovich.ot.emd_1d_histogram(p, q)``), in the title.
    ax : sequence of 2 matplotlib Axes, optional
        Panels histograms, deltas; default a new 2 x 1 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        All finite, with the lengths above, else a ``ValueError`` naming the argument.

    Examples
    --------
    >>> from kantorovich.plots import plot_cumulative_deltas
    >>> fig = plot_cumulative_deltas([3, 2, 1, 4], [1, 2, 4, 3], [0, 2, 2, -1, 0], 5.0)
    """
    p, q = as_array(p, "p", ndim=1), as_array(q, "q", ndim=1)
    same_length(p=p, q=q)
    d = as_array(deltas, "deltas", ndim=1)
    n = p.shape[0]
    if len(d) != n + 1:
        raise ValueError(f"`deltas` must have length n + 1 = {n + 1}, one per edge of the {n} bins of `p`; "
                         f"got {len(d)}.")
    w = number(value, "value")
    made = ax is None
    fig, axes = panel_axes(ax, 2, nrows=2, ncols=1, figsize=(7.5, 6), sharex=True,
                           gridspec_kw={"height_ratios": [1.4, 1]})
    ax, ax2 = axes[:2]
    idx = np.arange(n)
    ax.bar(idx - 0.2, p, width=0.4, color="C0", label="P (dirt)")
    ax.bar(idx + 0.2, q, width=0.4, color="C1", label="Q (holes)")
    for i in idx:
        ax.text(i - 0.2, p[i], f"{p[i]:g}", ha="center", va="bottom", fontsize=9)
        ax.text(i + 0.2, q[i], f"{q[i]:g}", ha="center", va="bottom", fontsize=9)
    ax.set_ylabel("mass")
    ax.set_ylim(0, max(p.max(), q.max()) * 1.25)
    ax.legend(loc="upper left")
    ax.set_title("Earth-mover by cumulative deltas: W = " + " + ".join(f"|{v:g}|" for v in d[:-1])
                 + f" = {w:g}")
    # deltas: delta_i is carried across the edge at x = i - 0.5
    edges = np.arange(n + 1) - 0.5
    ax2.axhline(0, color="0.5", lw=0.8)
    for x, v in zip(edges, d):
        if v != 0:
            ax2.annotate("", xy=(x + 0.35 * np.sign(v), v), xytext=(x - 0.35 * np.sign(v), v),
                         arrowprops={"arrowstyle": "-|>", "color": "C3" if v > 0 else "C2", "lw": 2.5})
        ax2.plot([x], [v], "o", color="k", ms=4)
        ax2.text(x, v + (0.25 if v >= 0 else -0.25), rf"$\delta_{{{int(x + 0.5)}}}={v:g}$",
                 ha="center", va="bottom" if v >= 0 else "top", fontsize=9)
    ax2.set_ylabel(r"$\delta_i$ (mass carried right)")
    ax2.set_xlabel(r"bin ($\delta_i$ crosses the edge left of bin i)")
    ax2.set_title(r"cumulative deltas $\delta_i = \sum_{j<i} (P_j - Q_j)$", fontsize=10)
    lim = max(1.0, np.abs(d).max()) * 1.6
    ax2.set_ylim(-lim, lim)
    ax2.set_xticks(idx, [f"bin {i}" for i in idx])
    ax2.set_xlim(-0.9, n - 0.1)
    ax2.grid(alpha=0.3)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
@old_axes_keyword
def plot_optimal_discriminator(x, p_data, p_g, D, *, t=None, bound=None, js=None, ax=None):
    """Densities p_data, p_g and D*(x) = p_data / (p_data + p_g) on a grid (C4).

    With ``t``, ``bound`` and ``js`` a second panel shows the JS lower bound
    ½(V(D_t) + log 4) of a family of discriminators D_t against t, touching JS at D* (C7).

    Parameters
    ----------
    x : array (k,)
        The grid.
    p_data, p_g, D : array (k,)
        The two densities and the optimal discriminator on the grid.
    t, bound : array (j,), optional
        Discriminator family parameter and its bound ½(V(D_t) + log 4).
    js : float, optional
        JS(p_data, p_g), the bound's maximum (with ``t``).
    ax : matplotlib Axes, or sequence of 2 Axes with ``t``, optional
        Draw here; default a new Figure (1 x 2 with ``t``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_optimal_discriminator
    >>> x = np.linspace(-3, 5, 50)
    >>> p, q = np.exp(-x ** 2 / 2), np.exp(-(x - 2) ** 2 / 2)
    >>> fig = plot_optimal_discriminator(x, p, q, p / (p + q))
    """
    x, p_data, p_g = (as_array(v, k, ndim=1) for v, k in ((x, "x"), (p_data, "p_data"), (p_g, "p_g")))
    D = as_array(D, "D", ndim=1, finite=False)  # 0/0 where both densities vanish: a gap in the curve
    same_length(x=x, p_data=p_data, p_g=p_g, D=D)
    two = t is not None
    if two:
        t, bound = as_array(t, "t", ndim=1), as_array(bound, "bound", ndim=1)
        same_length(t=t, bound=bound)
    made = ax is None
    fig, axes = panel_axes(ax, 2 if two else 1, figsize=(11 if two else 6.5, 4.2))
    ax = axes[0]
    ax.fill_between(x, p_data, color="C0", alpha=0.25)
    ax.plot(x, p_data, color="C0", lw=2, label=r"$p_{data}$")
    ax.fill_between(x, p_g, color="C1", alpha=0.25)
    ax.plot(x, p_g, color="C1", lw=2, label=r"$p_g$")
    ax.set_ylabel("density")
    ax.set_xlabel("x")
    axd = ax.twinx()
    axd.plot(x, D, color="k", lw=2, ls="--", label=r"$D^*(x) = p_{data}/(p_{data}+p_g)$")
    axd.axhline(0.5, color="0.6", lw=0.8, ls=":")
    # headroom above the curves for the legend, which would otherwise cover D* where it is 1
    top = 1.4
    peak = max(np.max(p_data), np.max(p_g))
    ax.set_ylim(-0.02 * top * peak, top * peak)
    axd.set_ylim(-0.02 * top, top)
    axd.set_yticks([0, 0.25, 0.5, 0.75, 1])
    axd.set_ylabel(r"$D^*(x)$")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = axd.get_legend_handles_labels()
    axd.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=9, ncol=2)
    ax.set_title("Optimal discriminator for a fixed generator")
    if two:
        ax2 = axes[1]
        ax2.plot(t, bound, color="C4", lw=2, label=r"$\frac{1}{2}(V(D_t) + \log 4)$")
        ax2.axhline(js, color="k", ls="--", lw=1, label=f"JS = {js:.4f}")
        ax2.axvline(1.0, color="0.6", ls=":", lw=1)
        ax2.set_xlabel(r"$t$ in $D_t = \sigma(t \cdot \mathrm{logit}\, D^*)$ ($t = 1$: $D^*$)")
        ax2.set_ylabel("nats")
        ax2.set_title("Any D gives a lower bound on JS, tight at D*")
        ax2.legend(fontsize=9)
        ax2.grid(alpha=0.3)
    if made:
        fig.tight_layout()
    return fig
