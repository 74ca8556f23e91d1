"""Figures of the 1-D and sliced Wasserstein distances (matplotlib imported inside functions).

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes for
the two-panel figures) and returns its figure, else makes a new Figure; none computes a
distance (the numbers shown are passed in) and none calls ``plt.show()``.
"""

from __future__ import annotations

import math

import numpy as np

from ._axes import closes_on_error, panel_axes, single_axes
from ._data import as_array, same_length

__all__ = ["plot_cdf_area", "plot_cdf_quantile_panels", "plot_quantile_area", "plot_sliced_convergence",
           "plot_sliced_panels", "plot_sliced_parallel_lines"]

_C_U, _C_V, _C_AREA = "#1f5fa8", "#c0392b", "#f0b429"


def _ecdf(values, weights, name="u"):
    v = as_array(values, name, ndim=1)
    w = np.ones_like(v) if weights is None else as_array(weights, f"{name}_weights", ndim=1)
    same_length(**{name: v, f"{name}_weights": w})
    order = np.argsort(v, kind="stable")
    v, w = v[order], w[order]
    return v, np.cumsum(w) / w.sum()


def _per_direction(per_direction_wp):
    """``per_direction_wp`` as a finite, non-negative (L,) array: one W_p per direction."""
    wp = as_array(per_direction_wp, "per_direction_wp", ndim=1)
    if np.any(wp < 0):
        raise ValueError(f"`per_direction_wp` must be non-negative (a distance per direction); "
                         f"got minimum {float(wp.min())}.")
    return wp


def _sliced_lines(thetas, sw, msw, w):
    """``thetas``, ``sw``, ``msw``, ``w`` as finite (k,) arrays of one length."""
    arrays = {k: as_array(v, k, ndim=1) for k, v in (("thetas", thetas), ("sw", sw), ("msw", msw), ("w", w))}
    same_length(**arrays)
    return arrays.values()


def _eval_cdf(v, c, grid):
    idx = np.searchsorted(v, grid, side="right")
    return np.concatenate([[0.0], c])[idx]


@closes_on_error
def plot_cdf_area(u, v, *, u_weights=None, v_weights=None, ax=None, labels=("F (u)", "G (v)"),
                  true_cdfs=None, title=None, value=None):
    r"""Empirical CDFs F and G of two weighted samples with the area between them shaded.

    The shaded area is :math:`\int |F - G|\,dx = W_1(u, v)`.

    Parameters
    ----------
    u, v : array (n,), array (m,)
        The two samples.
    u_weights, v_weights : array, optional
        Their weights (default uniform).
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    labels : pair of str
        Legend entries of F and G.
    true_cdfs : pair of callables, optional
        Population CDFs, drawn dashed (a closed-form comparison).
    title : str, optional
        Default: the formula, with ``value`` when given.
    value : float, optional
        W_1(u, v) shown in the default title (e.g. ``kantorovich.ot.wasserstein_1d(u, v)``).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_cdf_area
    >>> fig = plot_cdf_area(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 3.0]), value=0.6667)
    """
    vu, cu = _ecdf(u, u_weights)
    vv, cv = _ecdf(v, v_weights, "v")
    fig, ax = single_axes(ax, (6, 4))
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
    ax.set_title(title or (r"CDF view: $W_1 = \int |F - G|\,dx$" if value is None
                           else rf"CDF view: $W_1 = \int |F - G|\,dx$ = {value:.4f}"))
    ax.set_xlabel("x")
    ax.set_ylabel("cumulative probability")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


@closes_on_error
def plot_quantile_area(u, v, *, u_weights=None, v_weights=None, ax=None, labels=(r"$F^{-1}$", r"$G^{-1}$"),
                       p=1, title=None, value=None):
    r"""Quantile functions of two weighted samples with the area between them shaded.

    The shaded area is :math:`\int_0^1 |F^{-1} - G^{-1}|\,dt = W_1`.

    Parameters
    ----------
    u, v, u_weights, v_weights, labels
        As in :func:`plot_cdf_area`.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    p : float
        The order named in the default title: for ``p != 1`` it reads
        :math:`W_p = (\int_0^1 |F^{-1} - G^{-1}|^p dt)^{1/p}`.
    title : str, optional
    value : float, optional
        W_p(u, v) shown in the default title.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_quantile_area
    >>> fig = plot_quantile_area(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 3.0]))
    """
    vu, cu = _ecdf(u, u_weights)
    vv, cv = _ecdf(v, v_weights, "v")
    fig, ax = single_axes(ax, (6, 4))
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
    head = (rf"quantile view: $W_{{{p:g}}}$" if p != 1
            else r"quantile view: $\int_0^1 |F^{-1} - G^{-1}|\,dt$")
    ax.set_title(title or (head if value is None else f"{head} = {value:.4f}"))
    ax.set_xlabel("t (probability level)")
    ax.set_ylabel("quantile")
    ax.set_xlim(0, 1)
    ax.legend(loc="upper left", fontsize=8, frameon=False)
    return fig


@closes_on_error
def plot_sliced_convergence(per_direction_wp, *, p=2, closed_form=None, upper_lines=None, ax=None,
                            title=None):
    r"""Running Monte-Carlo estimate of SW_p against the number of projections L.

    The estimate after L directions is :math:`(\frac1L \sum_{l \le L} W_p^p)^{1/p}`, drawn
    with a ±2 SE band (delta method).

    Parameters
    ----------
    per_direction_wp : array (L_max,)
        W_p along each drawn direction (``kantorovich.ot.projected_wasserstein``): finite and
        non-negative, else a ``ValueError``.
    p : float
    closed_form : float, optional
        The population SW_p (horizontal line).
    upper_lines : dict label -> float, optional
        Further horizontal lines (max-sliced, W_p).
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_sliced_convergence
    >>> per = np.random.default_rng(0).uniform(0.5, 1.5, 200)
    >>> fig = plot_sliced_convergence(per, p=2, closed_form=1.0)
    """
    w = _per_direction(per_direction_wp) ** p
    fig, ax = single_axes(ax, (6, 4))
    L = np.arange(1, len(w) + 1)
    mean = np.cumsum(w) / L
    var = np.maximum(np.cumsum(w * w) / L - mean ** 2, 0.0)
    se = np.sqrt(var / np.maximum(L - 1, 1))
    est = mean ** (1.0 / p)
    band = se / (p * np.maximum(mean, 1e-300) ** (1 - 1.0 / p))
    ax.fill_between(L, est - 2 * band, est + 2 * band, color=_C_U, alpha=0.18, lw=0, label="±2 SE over directions")
    ax.plot(L, est, color=_C_U, lw=1.6, label=rf"$\widehat{{SW}}_{{{p:g}}}$ after L projections")
    if closed_form is not None:
        ax.axhline(closed_form, color="k", ls="--", lw=1.2, label=rf"closed form $SW_{{{p:g}}}$ = {closed_form:.4f}")
    for i, (lab, val) in enumerate((upper_lines or {}).items()):
        ax.axhline(val, color=["#7d3c98", "#117a65", "#a04000"][i % 3], ls=":", lw=1.4, label=f"{lab} = {val:.4f}")
    ax.set_xscale("log")
    ax.set_xlabel("number of projections L")
    ax.set_ylabel(rf"$SW_{{{p:g}}}$")
    ax.set_title(title or "sliced Wasserstein: Monte Carlo over directions")
    ax.legend(fontsize=8, frameon=False, loc="best")
    return fig


@closes_on_error
def plot_sliced_parallel_lines(thetas, sw, msw, w, *, ax=None, title=None):
    r"""SW_1, max-SW_1 and W_1 between the parallel lines against theta, with the closed
    forms :math:`2|\theta|/\pi` (SW_1 in 2-D) and :math:`|\theta|` (max-SW_1 = W_1).

    Parameters
    ----------
    thetas : array (k,)
    sw, msw, w : array (k,)
        SW_1, max-SW_1 and W_1 estimated at each theta. All four finite and of one length, else
        a ``ValueError`` naming the argument.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_sliced_parallel_lines
    >>> t = np.linspace(-1, 1, 5)
    >>> fig = plot_sliced_parallel_lines(t, 2 * abs(t) / np.pi, abs(t), abs(t))
    """
    th, sw, msw, w = _sliced_lines(thetas, sw, msw, w)
    fig, ax = single_axes(ax, (6, 4))
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


@closes_on_error
def plot_cdf_quantile_panels(u, v, *, value=None, population_value=None, labels=("F (u)", "G (v)"),
                             true_cdfs=None, ax=None):
    r"""Two panels: :func:`plot_cdf_area` (left) and :func:`plot_quantile_area` (right), the
    same W_1 as two areas, under a common title.

    Parameters
    ----------
    u, v : array (n,), array (m,)
        Two unweighted samples.
    value : float, optional
        W_1(u, v), shown in both titles and the common title.
    population_value : float, optional
        The population W_1, shown in the common title.
    labels, true_cdfs
        As in :func:`plot_cdf_area`.
    ax : sequence of 2 matplotlib Axes, optional
        Draw the two panels here; default a new 1 x 2 Figure. The common title is drawn
        on a new Figure only (the given Axes' Figure keeps its own).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_cdf_quantile_panels
    >>> fig = plot_cdf_quantile_panels(np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 3.0]), value=0.6667)
    """
    made = ax is None
    fig, axes = panel_axes(ax, 2, figsize=(11, 4.2))
    plot_cdf_area(u, v, ax=axes[0], labels=labels, true_cdfs=true_cdfs, value=value)
    plot_quantile_area(u, v, ax=axes[1], value=value)
    if value is not None and made:
        pop = "" if population_value is None else f" (population $W_1$ = {population_value:.4f})"
        fig.suptitle(f"Same area both ways: $W_1$ = {value:.4f} from {len(u)} + {len(v)} points{pop}",
                     fontsize=11)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_sliced_panels(per_direction_wp, thetas, sw, msw, w, *, p=2, closed_form=None, upper_lines=None,
                       ymax=None, title=None, ax=None):
    r"""Two panels: :func:`plot_sliced_convergence` (left, y-axis from 0 to ``ymax``) and
    :func:`plot_sliced_parallel_lines` (right).

    Parameters
    ----------
    per_direction_wp, p, closed_form, upper_lines, title
        As in :func:`plot_sliced_convergence` (``title`` is the left panel's).
    thetas, sw, msw, w
        As in :func:`plot_sliced_parallel_lines`.
    ymax : float, optional
        Upper limit of the left panel's y-axis.
    ax : sequence of 2 matplotlib Axes, optional
        Draw the two panels here; default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_sliced_panels
    >>> t = np.linspace(-1, 1, 5)
    >>> per = np.random.default_rng(0).uniform(0.5, 1.5, 100)
    >>> fig = plot_sliced_panels(per, t, 2 * abs(t) / np.pi, abs(t), abs(t), closed_form=1.0, ymax=2.0)
    """
    per_direction_wp = _per_direction(per_direction_wp)  # both panels' data checked before either is drawn
    thetas, sw, msw, w = _sliced_lines(thetas, sw, msw, w)
    made = ax is None
    fig, axes = panel_axes(ax, 2, figsize=(12, 4.3))
    plot_sliced_convergence(per_direction_wp, p=p, closed_form=closed_form, upper_lines=upper_lines,
                            ax=axes[0], title=title)
    if ymax is not None:
        axes[0].set_ylim(0, ymax)
    plot_sliced_parallel_lines(thetas, sw, msw, w, ax=axes[1])
    if made:
        fig.tight_layout()
    return fig
