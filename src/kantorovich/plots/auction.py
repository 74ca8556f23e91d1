"""Figures for the exact assignment (matplotlib imported inside each function).

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes for the
two-panel figure) and returns its figure, else makes a new Figure; none solves anything.
"""

from __future__ import annotations

import numpy as np

from ._axes import closes_on_error, old_axes_keyword, panel_axes, single_axes
from ._data import as_array, as_mapping, same_length
from .emd_exact import _plan

__all__ = ["plot_timings", "plot_matching_vs_sinkhorn"]

_STYLE = {
    "POT emd2 (network simplex)": dict(color="tab:gray", marker="s"),
    "scipy linear_sum_assignment": dict(color="tab:green", marker="^"),
    "auction, numba CPU (points)": dict(color="tab:blue", marker="o"),
    "auction, numba CPU (matrix)": dict(color="tab:cyan", marker="o", ls="--"),
    "auction, GPU (numba-cuda)": dict(color="tab:red", marker="D"),
}


@closes_on_error
def plot_timings(curves: dict, *, notes: str = "", ax=None):
    """Log-log wall time against n, one line per solver, with slope-2 and slope-3 references.

    Parameters
    ----------
    curves : dict label -> (ns, seconds)
        One line per solver (an empty ``ns`` is skipped): positive, finite ``ns`` and
        ``seconds`` of one length, else a ``ValueError`` naming the curve.
    notes : str
        Small print in the lower right corner (machine, where a curve came from).
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kantorovich.plots import plot_timings
    >>> fig = plot_timings({"solver": ([100, 200, 400], [0.01, 0.04, 0.16])}, notes="made-up times")
    """
    checked = {}
    for label, curve in as_mapping(curves, "curves").items():
        name = f"curves[{label!r}]"
        if isinstance(curve, (str, bytes)) or not hasattr(curve, "__len__") or len(curve) != 2:
            raise TypeError(f"`{name}` must be a pair (ns, seconds); got {type(curve).__name__}.")
        if len(curve[0]) == 0:
            continue
        ns, ts = as_array(curve[0], f"{name}[0]", ndim=1), as_array(curve[1], f"{name}[1]", ndim=1)
        same_length(**{f"{name}[0]": ns, f"{name}[1]": ts})
        if np.any(ns <= 0) or np.any(ts <= 0):
            raise ValueError(f"`{name}` must hold positive sizes and times (log axes); got {ns.tolist()} and "
                             f"{ts.tolist()}.")
        checked[label] = ns, ts
    if not checked:
        raise ValueError("`curves` holds no timings (every `ns` is empty); a figure needs data.")
    made = ax is None
    fig, ax = single_axes(ax, (6.4, 4.4))
    for label, (ns, ts) in checked.items():
        ax.loglog(ns, ts, label=label, **_STYLE.get(label, {}))
    allns = np.concatenate([v[0] for v in checked.values()])
    allts = np.concatenate([v[1] for v in checked.values()])
    if allns.size:
        n0, t0 = allns.min(), np.median(allts[allns == allns.min()])
        ref = np.array([allns.min(), allns.max()])
        ax.loglog(ref, t0 * (ref / n0) ** 2, color="k", lw=0.6, ls=":", label=r"slope 2 ($n^2$)")
        ax.loglog(ref, t0 * (ref / n0) ** 3, color="k", lw=0.6, ls="-.", label=r"slope 3 ($n^3$)")
    ax.set_xlabel("n (points per side)")
    ax.set_ylabel("wall time (s)")
    ax.set_title("Exact OT between two uniform n-point clouds (sq. Euclidean)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    if notes:
        # below the x label: inside the axes the note ran over the smallest-n points
        ax.annotate(notes, xy=(1.0, 0.0), xycoords="axes fraction", xytext=(0, -40), textcoords="offset points",
                    ha="right", va="top", fontsize=7, color="0.3")
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
@old_axes_keyword
def plot_matching_vs_sinkhorn(x, y, perm, P, *, eps: float, values=None, ax=None):
    """Left: the optimal matching (one segment per pair). Right: the Sinkhorn plan at ``eps``
    (segment opacity ~ P_ij / max P).

    Parameters
    ----------
    x, y : array (n, 2)
    perm : array (n,) of int
        x[i] is matched to y[perm[i]] (``kantorovich.ot.assignment(x=x, y=y).perm``).
    P : array (n, n)
        The entropic plan.
    eps : float
        Its regularisation, in the right title.
    values : pair of float, optional
        (optimal cost, <P, C>) shown in the titles.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure (shared axes).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_matching_vs_sinkhorn
    >>> x, y = np.array([[0.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> fig = plot_matching_vs_sinkhorn(x, y, [0, 1], np.full((2, 2), 0.25), eps=0.1)
    """
    from matplotlib.collections import LineCollection

    x, y = as_array(x, "x", ndim=2, cols=2), as_array(y, "y", ndim=2, cols=2)
    perm_f = as_array(perm, "perm", ndim=1, rows=(len(x), "x"))
    perm = perm_f.astype(np.int64)
    if not np.array_equal(perm, perm_f) or sorted(perm.tolist()) != list(range(len(y))):
        raise ValueError(f"`perm` must be a permutation of 0..{len(y) - 1} (x[i] matched to y[perm[i]]); "
                         f"got {perm_f.tolist()}.")
    P = _plan(P, "P", x, y)
    made = ax is None
    fig, axes = panel_axes(ax, 2, figsize=(8.4, 4.2), sharex=True, sharey=True)
    axes = axes[:2]
    ax = axes[0]
    segs = np.stack([x, y[perm]], axis=1)
    ax.add_collection(LineCollection(segs, colors="k", linewidths=1.0))
    t0 = "optimal matching (auction, exact)"
    if values:
        t0 += f"\n$W_2^2$ = {values[0]:.5f}"
    ax.set_title(t0, fontsize=10)
    ax = axes[1]
    w = P / P.max()
    ii, jj = np.nonzero(w > 1e-3)
    cols = np.zeros((ii.size, 4))
    cols[:, 3] = w[ii, jj]
    ax.add_collection(LineCollection(np.stack([x[ii], y[jj]], axis=1), colors=cols, linewidths=1.0))
    t1 = rf"Sinkhorn plan, $\varepsilon$ = {eps:g}"
    if values:
        t1 += "\n" + rf"$\langle P, C\rangle$ = {values[1]:.5f}"
    ax.set_title(t1, fontsize=10)
    for a in axes:
        a.scatter(*x.T, s=16, c="tab:blue", zorder=3, label="x")
        a.scatter(*y.T, s=16, c="tab:red", zorder=3, label="y")
        a.set_aspect("equal")
        a.set_xticks([])
        a.set_yticks([])
    axes[0].legend(loc="lower left", fontsize=8)
    if made:
        fig.tight_layout()
    return fig
