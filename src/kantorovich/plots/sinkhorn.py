"""Figures for entropic OT (matplotlib imported inside each function).

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes for the
multi-panel figures) and returns its figure, else makes a new Figure; none runs Sinkhorn.
"""

from __future__ import annotations

import numpy as np

from ._axes import closes_on_error, old_axes_keyword, panel_axes, single_axes
from ._data import as_array, as_mapping, number, same_length
from .emd_exact import _plan

__all__ = ["plot_plans", "plot_convergence", "plot_value_vs_eps"]


@closes_on_error
@old_axes_keyword
def plot_plans(x, y, plans, titles, *, ax=None):
    """One panel per plan: points x (blue) and y (red), segments with opacity ~ P_ij / max P.

    Parameters
    ----------
    x : array (n, 2)
    y : array (m, 2)
    plans : sequence of arrays (n, m)
        E.g. ``sinkhorn(a, b, M, eps=eps, plan=True).plan`` for a few eps, and the exact plan.
    titles : sequence of str
        One per plan.
    ax : sequence of matplotlib Axes, optional
        One per plan; default a new 1 x len(plans) Figure (shared axes).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_plans
    >>> x, y = np.array([[0.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> fig = plot_plans(x, y, [np.full((2, 2), 0.25), np.eye(2) / 2], ["blurred", "exact"])
    """
    from matplotlib.collections import LineCollection

    x, y = as_array(x, "x", ndim=2, cols=2), as_array(y, "y", ndim=2, cols=2)
    plans, titles = [_plan(P, f"plans[{k}]", x, y) for k, P in enumerate(plans)], list(titles)
    if not plans or len(titles) != len(plans):
        raise ValueError(f"`plans` and `titles` must have one (positive) length; got {len(plans)} and {len(titles)}.")
    made = ax is None
    fig, axes = panel_axes(ax, len(plans), figsize=(3.2 * len(plans), 3.3), sharex=True, sharey=True)
    for a, P, title in zip(axes, plans, titles):
        w = P / P.max()
        ii, jj = np.nonzero(w > 1e-3)
        segs = np.stack([x[ii], y[jj]], axis=1)
        cols = np.zeros((len(ii), 4))
        cols[:, 3] = w[ii, jj]
        a.add_collection(LineCollection(segs, colors=cols, linewidths=1.0))
        a.scatter(*x.T, s=14, c="tab:blue", zorder=3, label="x (a)")
        a.scatter(*y.T, s=14, c="tab:red", zorder=3, label="y (b)")
        a.set_title(title, fontsize=10)
        a.set_aspect("equal")
        a.set_xticks([])
        a.set_yticks([])
    # under the first panel, not in it: every corner of a blurred plan holds points and lines
    axes[0].legend(loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=2, fontsize=8, frameon=False,
                   borderaxespad=0.2)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_convergence(curves: dict, *, eps=None, ax=None):
    """Marginal L1 error against iteration, one line per label (log scale).

    Parameters
    ----------
    curves : dict label -> (iterations, errors)
        E.g. the iterations of the checks and ``SinkhornResult.marginal_error_history``: arrays
        of one length, finite iterations, else a ``ValueError`` naming the curve (a NaN error
        leaves a gap in its line).
    eps : float, optional
        Shown in the title.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_convergence
    >>> it = np.arange(10, 110, 10)
    >>> fig = plot_convergence({"cold start": (it, 0.5 ** (it / 10))}, eps=0.01)
    """
    checked = {}
    for label, curve in as_mapping(curves, "curves").items():
        name = f"curves[{label!r}]"
        if isinstance(curve, (str, bytes)) or not hasattr(curve, "__len__") or len(curve) != 2:
            raise TypeError(f"`{name}` must be a pair (iterations, errors); got {type(curve).__name__}.")
        iters = as_array(curve[0], f"{name}[0]", ndim=1)
        errs = as_array(curve[1], f"{name}[1]", ndim=1, finite=False)
        same_length(**{f"{name}[0]": iters, f"{name}[1]": errs})
        checked[label] = iters, errs
    made = ax is None
    fig, ax = single_axes(ax, (6, 4))
    # a line style per curve besides its colour: four default colours put green beside red,
    # which a red-green colour-blind reader (or a grey print) does not tell apart
    styles = ("-", "--", "-.", ":")
    for i, (label, (iters, errs)) in enumerate(checked.items()):
        ax.semilogy(iters, errs, ls=styles[i % len(styles)], label=label)
    ax.set_xlabel("iteration (annealing iterations included)")
    ax.set_ylabel(r"marginal error $\|P\mathbf{1} - a\|_1 + \|P^\top\mathbf{1} - b\|_1$")
    if eps is not None:
        ax.set_title(rf"Sinkhorn convergence at $\varepsilon$ = {eps:.3g}")
    ax.grid(True, which="both", alpha=0.3)
    # below the axes: the curves fill the plot from corner to corner, so any corner hides one
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, fontsize=9)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_value_vs_eps(eps, values, exact, *, ax=None):
    """Left: <P_eps, C> against eps with the exact EMD; right: the gap on log-log axes.

    Parameters
    ----------
    eps : array (k,)
        Positive (log axes).
    values : array (k,)
        Transport cost <P_eps, C> of the entropic plan at each eps.
    exact : float
        The exact EMD (unregularised optimum).
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        ``eps`` and ``values`` are finite and of one length, ``exact`` a finite number, else a
        ``ValueError`` naming the argument.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_value_vs_eps
    >>> eps = np.geomspace(0.3, 1e-3, 5)
    >>> fig = plot_value_vs_eps(eps, 1.0 + eps, 1.0)
    """
    eps, values = as_array(eps, "eps", ndim=1), as_array(values, "values", ndim=1)
    same_length(eps=eps, values=values)
    if np.any(eps <= 0):
        raise ValueError(f"`eps` must be positive (a log axis); got {eps.tolist()}.")
    exact = number(exact, "exact")
    made = ax is None
    fig, axes = panel_axes(ax, 2, figsize=(10, 3.8))
    axes = axes[:2]
    axes[0].semilogx(eps, values, "o-", label=r"Sinkhorn $\langle P_\varepsilon, C\rangle$")
    axes[0].axhline(exact, color="k", ls="--", label="exact EMD (linear program)")
    axes[0].set_xlabel(r"$\varepsilon$")
    axes[0].set_ylabel("transport cost")
    axes[0].set_title(r"Sinkhorn cost against $\varepsilon$")
    axes[0].legend()
    gap = np.maximum(values - exact, 1e-16)
    axes[1].loglog(eps, gap, "o-", label=r"gap $\langle P_\varepsilon, C\rangle$ - EMD")
    axes[1].loglog(eps, eps * gap[0] / eps[0], ":", color="gray", label="slope 1 (reference)")
    axes[1].set_xlabel(r"$\varepsilon$")
    axes[1].set_ylabel("gap")
    axes[1].set_title("gap to the exact cost")
    axes[1].legend()
    for a in axes:
        a.grid(True, which="both", alpha=0.3)
    if made:
        fig.tight_layout()
    return fig
