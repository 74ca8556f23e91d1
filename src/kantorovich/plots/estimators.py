"""Figures for the sample estimators.

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes, one per
panel) and returns its figure, else makes a new Figure; none runs an estimator.
"""

from __future__ import annotations

import math

import numpy as np

from ._axes import closes_on_error, old_axes_keyword, panel_axes
from ._data import as_array, as_mapping, same_length
from .emd_exact import _sample_sizes

__all__ = ["plot_estimator_errors", "plot_estimators_parallel_lines"]


def _curves(curves, name, ns, ns_name):
    """``curves`` (dict method -> array) as a dict of (k,) arrays, one value per entry of ``ns``
    (NaN allowed: an estimate that failed leaves a gap)."""
    out = {}
    for method, vals in as_mapping(curves, name).items():
        out[method] = as_array(vals, f"{name}[{method!r}]", ndim=1, finite=False)
        same_length(**{ns_name: ns, f"{name}[{method!r}]": out[method]})
    return out


@closes_on_error
@old_axes_keyword
def plot_estimator_errors(results: dict, *, title: str = "", ax=None):
    """Log-log |mean error| against n, one panel per dimension, one line per method.

    Parameters
    ----------
    results : dict d -> dict method -> (ns, mean_abs_error, stderr)
        Arrays of one length per (d, method); ``stderr`` drawn as error bars. ``ns`` positive
        and finite (a NaN error or stderr leaves a gap), else a ``ValueError`` naming the entry.
    title : str
        Figure title (none when empty), drawn on a new Figure only.
    ax : sequence of matplotlib Axes, optional
        One per dimension, in increasing d; default a new 1 x len(results) Figure. The
        legend then goes in the first of them (on a new Figure: one row below the panels).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_estimator_errors
    >>> ns = np.array([100, 400])
    >>> fig = plot_estimator_errors({1: {"knn": (ns, ns ** -0.5, 0.01 * np.ones(2))}})
    """
    import matplotlib.pyplot as plt

    checked = {}
    for d, methods in as_mapping(results, "results").items():
        checked[d] = {}
        for method, triple in as_mapping(methods, f"results[{d!r}]").items():
            name = f"results[{d!r}][{method!r}]"
            if isinstance(triple, (str, bytes)) or not hasattr(triple, "__len__") or len(triple) != 3:
                raise TypeError(f"`{name}` must be a triple (ns, mean_abs_error, stderr); got {type(triple).__name__}.")
            ns = _sample_sizes(triple[0], f"{name}[0]")
            err = as_array(triple[1], f"{name}[1]", ndim=1, finite=False)
            se = as_array(triple[2], f"{name}[2]", ndim=1, finite=False)
            same_length(**{f"{name}[0]": ns, f"{name}[1]": err, f"{name}[2]": se})
            checked[d][method] = ns, err, se
    results = checked
    dims = sorted(results)
    made = ax is None
    fig, axes = panel_axes(ax, len(dims), figsize=(3.3 * len(dims), 3.2), sharey=False)
    markers = ("o", "s", "^", "D", "v", "P")  # colours alone are lost in grey or to a colour-blind reader
    for a, d in zip(axes, dims):
        for i, (method, (ns, err, se)) in enumerate(results[d].items()):
            a.errorbar(ns, np.maximum(err, 1e-4), yerr=se, marker=markers[i % len(markers)], ms=4, capsize=2,
                       label=method)
        a.set_xscale("log")
        a.set_yscale("log")
        ns_all = sorted({int(v) for (nn, _, _) in results[d].values() for v in nn})
        a.set_xticks(ns_all)
        a.set_xticklabels([str(v) for v in ns_all], fontsize=7)
        a.xaxis.set_minor_formatter(plt.NullFormatter())
        a.set_xlabel("n = m")
        a.set_title(f"d = {d}")
        a.set_ylabel("|mean estimate - truth| (nats)")
        a.grid(True, which="both", alpha=0.3)
    if not made:  # the caller's Figure: its title and layout are left alone, the legend goes in a panel
        axes[0].legend(fontsize=7)
        return fig
    if title:
        fig.suptitle(title)
    # one legend for all panels, in a row below them: inside a panel it covers that panel's lines
    handles, labels = axes[0].get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8, frameon=False)
    return fig


@closes_on_error
def plot_estimators_parallel_lines(ns, js: dict, tv: dict, kl_raw, *, ax=None):
    """JS and TV estimates against n for the parallel lines (theta = 0.5, disjoint supports),
    and the raw kNN KL value growing like 2 log n: three panels.

    Parameters
    ----------
    ns : array (k,)
        Sample sizes (positive, finite).
    js, tv : dict method -> array (k,)
        JS and TV estimates per method (limits log 2 and 1 drawn dashed); a NaN leaves a gap.
    kl_raw : array (k,)
        The finite kNN KL value behind the estimator's +inf flag.
    ax : sequence of 3 matplotlib Axes, optional
        Panels JS, TV, KL; default a new 1 x 3 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        Every array has the length of ``ns``, else a ``ValueError`` naming the argument.

    Examples
    --------
    >>> from kantorovich.plots import plot_estimators_parallel_lines
    >>> ns = [100, 400]
    >>> fig = plot_estimators_parallel_lines(ns, {"knn": [0.6, 0.68]}, {"knn": [0.9, 0.97]}, [9.0, 11.8])
    """
    ns = _sample_sizes(ns, "ns")
    js, tv = _curves(js, "js", ns, "ns"), _curves(tv, "tv", ns, "ns")
    kl_raw = as_array(kl_raw, "kl_raw", ndim=1)
    same_length(ns=ns, kl_raw=kl_raw)
    made = ax is None
    fig, axes = panel_axes(ax, 3, figsize=(11, 3.2))
    axes = axes[:3]
    # one marker per estimator (the colours alone do not survive a grey print), the limit
    # drawn under the estimates (it hid an estimate that reached it)
    markers = ("o", "s", "^", "D", "v")
    for i, (name, vals) in enumerate(js.items()):
        axes[0].plot(ns, vals, marker=markers[i % len(markers)], label=name, zorder=3)
    axes[0].axhline(math.log(2), color="k", ls="--", label="log 2", zorder=2)
    axes[0].set_title("JS estimate")
    axes[0].set_ylabel("JS (nats)")
    for i, (name, vals) in enumerate(tv.items()):
        axes[1].plot(ns, vals, marker=markers[i % len(markers)], label=name, zorder=3)
    axes[1].axhline(1.0, color="k", ls="--", label="1", zorder=2)
    axes[1].set_title("TV estimate")
    axes[1].set_ylabel("TV")
    axes[2].plot(ns, kl_raw, marker="o", color="C3", label="raw kNN KL (flagged inf)")
    axes[2].set_title("KL: raw kNN value grows ~ 2 log n")
    axes[2].set_ylabel("KL (nats), before the flag")
    for a in axes:
        a.set_xscale("log")
        a.set_xlabel("n = m")
        a.grid(True, alpha=0.3)
        a.legend(fontsize=7)
    if made:
        fig.suptitle(r"Parallel lines, $\theta$ = 0.5 (disjoint supports)")
        fig.tight_layout()
    return fig


_OLD_NAMES = {"error_vs_n": "plot_estimator_errors", "parallel_lines": "plot_estimators_parallel_lines"}


def __getattr__(name):
    if name in _OLD_NAMES:
        from .._warnings import warn

        new = _OLD_NAMES[name]
        warn(f"kantorovich.plots.estimators.{name} is deprecated; use kantorovich.plots.{new}.",
             DeprecationWarning)
        return globals()[new]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
