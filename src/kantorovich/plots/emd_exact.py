"""Figures for the exact Earth-Mover distance: transport plans as lines, convergence in n.

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes for
the two-panel figures) and returns its figure, else makes a new Figure; none solves anything.
"""

from __future__ import annotations

import numpy as np

from ._axes import closes_on_error, panel_axes, single_axes
from ._data import as_array, same_length

__all__ = ["plot_empirical_convergence", "plot_estimate_vs_n", "plot_plan_matrix", "plot_plan_panels",
           "plot_transport_plan", "plot_w2_convergence"]


def _sample_sizes(ns, name="ns"):
    """``ns`` as a float array of positive, finite sample sizes (the log x-axis and its labels)."""
    ns = as_array(ns, name, ndim=1)
    if np.any(ns <= 0):
        raise ValueError(f"`{name}` must be positive sample sizes (a log axis); got {ns.tolist()}.")
    return ns


def _log_n_axis(ax, ns):
    """Log x-axis with the sample sizes themselves as tick labels (no crowded minor labels)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(list(ns)))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xticklabels([f"{int(v)}" for v in ns])


def _plan(plan, name, x, y):
    """``plan`` as a finite (n, m) array for the points ``x`` (n, 2) and ``y`` (m, 2)."""
    P = as_array(plan, name, ndim=2)
    if P.shape != (len(x), len(y)):
        raise ValueError(f"`{name}` must have shape (n, m) = ({len(x)}, {len(y)}), one row per point of `x` "
                         f"and one column per point of `y`; got {P.shape}.")
    return P


@closes_on_error
def plot_transport_plan(x, y, plan, a=None, b=None, *, ax=None, title=None, threshold=1e-12):
    """Draw a transport plan between 2-D point clouds: one segment per positive entry P_ij.

    Segment width and opacity grow with P_ij; point areas are proportional to the masses
    ``a`` (sources, filled circles) and ``b`` (targets, squares).

    Parameters
    ----------
    x : array (n, 2)
        Source points.
    y : array (m, 2)
        Target points.
    plan : array (n, m)
        The plan P (e.g. ``kantorovich.ot.emd(a, b, M).plan``).
    a, b : array (n,), array (m,), optional
        Masses of the points; default the plan's marginals.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    title : str, optional
        Default: the number of drawn entries.
    threshold : float
        Entries at most ``threshold * max P`` are not drawn.

    Returns
    -------
    matplotlib.figure.Figure
        ``ax.figure`` when ``ax`` is given.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_transport_plan
    >>> x, y = np.array([[0.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> fig = plot_transport_plan(x, y, np.eye(2) / 2)
    """
    x, y = as_array(x, "x", ndim=2, cols=2), as_array(y, "y", ndim=2, cols=2)
    P = _plan(plan, "plan", x, y)
    a = P.sum(1) if a is None else as_array(a, "a", ndim=1)
    b = P.sum(0) if b is None else as_array(b, "b", ndim=1)
    same_length(a=a, x=x)
    same_length(b=b, y=y)
    fig, ax = single_axes(ax, (5.5, 4.5))
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


@closes_on_error
def plot_plan_matrix(plan, *, ax=None, title=None):
    """The plan P (n x m) as an image, zero entries blank, with a colour bar.

    An optimal vertex of the transport polytope has at most n + m - 1 positive entries; the
    default title counts them against that bound.

    Parameters
    ----------
    plan : array (n, m)
    ax : matplotlib Axes, optional
        Draw here (the colour bar takes room from it); default a new Figure.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_plan_matrix
    >>> fig = plot_plan_matrix(np.eye(3) / 3)
    """
    P = as_array(plan, "plan", ndim=2)
    fig, ax = single_axes(ax, (4.5, 4.5))
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


@closes_on_error
def plot_empirical_convergence(ns, errors, *, stderr=None, rates=None, ax=None, title=None,
                               ylabel="error"):
    """Log-log error against sample size, with reference slopes.

    Parameters
    ----------
    ns : array (k,)
        Sample sizes (the x-axis, each one a tick label).
    errors : dict label -> array (k,)
        Mean errors, one line per label.
    stderr : dict label -> array (k,), optional
        Drawn as error bars.
    rates : dict label -> float r, optional
        Draws the reference C n^{-r} through the first point of ``errors[label]``.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    title, ylabel : str
        ``title`` defaults to "error against the sample size".

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_empirical_convergence
    >>> ns = np.array([10, 100, 1000])
    >>> fig = plot_empirical_convergence(ns, {"error": ns ** -0.5}, rates={"error": 0.5})
    """
    ns = _sample_sizes(ns)
    errs = {label: as_array(err, f"errors[{label!r}]", ndim=1, finite=False) for label, err in errors.items()}
    ses = {label: as_array(se, f"stderr[{label!r}]", ndim=1) for label, se in (stderr or {}).items()
           if label in errs}
    for label in errs:
        same_length(ns=ns, **{f"errors[{label!r}]": errs[label]})
        if label in ses:
            same_length(ns=ns, **{f"stderr[{label!r}]": ses[label]})
    fig, ax = single_axes(ax, (6, 4.5))
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"]
    for k, (label, err) in enumerate(errs.items()):
        c = colors[k % len(colors)]
        se = ses.get(label)
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
    ax.set_title(title or "error against the sample size", fontsize=10)
    return fig


@closes_on_error
def plot_estimate_vs_n(ns, mean, sd, closed_form, *, n_replicates, ax=None,
                       title="two 2-D Gaussians: empirical $W_2$ → closed form",
                       closed_form_label="Bures closed form $W_2$"):
    r"""Mean estimate ± 1 sd against the sample size, with the closed-form value.

    Parameters
    ----------
    ns : array (k,)
        Sample sizes.
    mean, sd : array (k,)
        Mean and standard deviation of the estimates over the replicates at each n.
    closed_form : float
        The population value (horizontal line).
    n_replicates : int
        Replicates per n (in the legend).
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    title, closed_form_label : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_estimate_vs_n
    >>> ns = np.array([32, 64, 128])
    >>> fig = plot_estimate_vs_n(ns, 1 + ns ** -0.5, 0.1 * ns ** -0.5, 1.0, n_replicates=3)
    """
    ns, mean, sd = _sample_sizes(ns), as_array(mean, "mean", ndim=1), as_array(sd, "sd", ndim=1)
    same_length(ns=ns, mean=mean, sd=sd)
    fig, ax = single_axes(ax, (6, 4.6))
    ax.axhline(closed_form, color="k", lw=1.5, label=f"{closed_form_label} = {closed_form:.4f}")
    ax.fill_between(ns, mean - sd, mean + sd, color="tab:blue", alpha=0.2, label="mean ± 1 sd")
    ax.plot(ns, mean, "o-", color="tab:blue", label=f"exact LP, {n_replicates} replicates per n")
    _log_n_axis(ax, ns)
    ax.set_xlabel("sample size n (each measure)")
    ax.set_ylabel(r"$W_2(\hat\mu_n, \hat\nu_n)$")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return fig


@closes_on_error
def plot_w2_convergence(ns, mean, sd, closed_form, errors, *, n_replicates, stderr=None, rates=None,
                        ax=None):
    r"""Two panels: :func:`plot_estimate_vs_n` (left) and :func:`plot_empirical_convergence`
    of ``errors`` (right, log-log, with the reference rates).

    Parameters
    ----------
    ns, mean, sd, closed_form, n_replicates
        As in :func:`plot_estimate_vs_n`.
    errors, stderr, rates
        As in :func:`plot_empirical_convergence`.
    ax : sequence of 2 matplotlib Axes, optional
        Draw the two panels here; default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_w2_convergence
    >>> ns = np.array([32, 64, 128])
    >>> fig = plot_w2_convergence(ns, 1 + ns ** -0.5, 0.1 * ns ** -0.5, 1.0, {"|error|": ns ** -0.5},
    ...                           n_replicates=3, rates={"|error|": 0.5})
    """
    fig, axes = panel_axes(ax, 2, figsize=(12, 4.6))
    plot_estimate_vs_n(ns, mean, sd, closed_form, n_replicates=n_replicates, ax=axes[0])
    plot_empirical_convergence(
        ns, errors, stderr=stderr, rates=rates, ax=axes[1], ylabel="error (log scale)",
        title=r"rates: $n^{-1/2}$ in d = 2, $n^{-1/d}$ in d = 5 (curse of dimensionality)")
    # below the panel: inside, five entries cover the small-n points of the lowest curve
    # (the curves in the first column, the reference slopes in the second)
    handles, labels = axes[1].get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("slope"))
    axes[1].legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8,
                   loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    if ax is None:  # make room for that legend: without it the legend hung below the Figure
        fig.tight_layout()
    return fig


@closes_on_error
def plot_plan_panels(x, y, plan, a=None, b=None, *, value=None, ax=None):
    """Two panels: :func:`plot_transport_plan` (left, wider) and :func:`plot_plan_matrix` (right).

    Parameters
    ----------
    x, y, plan, a, b
        As in :func:`plot_transport_plan`.
    value : float, optional
        The plan's cost <P, M>, shown in the left title.
    ax : sequence of 2 matplotlib Axes, optional
        Draw the two panels here; default a new Figure with width ratios 1.5 : 1.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_plan_panels
    >>> x, y = np.array([[0.0, 0.0], [0.0, 1.0]]), np.array([[1.0, 0.0], [1.0, 1.0]])
    >>> fig = plot_plan_panels(x, y, np.eye(2) / 2, value=1.0)
    """
    fig, axes = panel_axes(ax, 2, figsize=(12, 4.8), gridspec_kw={"width_ratios": [1.5, 1]})
    title = None if value is None else rf"exact plan, squared Euclidean cost: $\langle P, M\rangle$ = {value:.4f}"
    plot_transport_plan(x, y, plan, a, b, ax=axes[0], title=title)
    plot_plan_matrix(plan, ax=axes[1])
    return fig
