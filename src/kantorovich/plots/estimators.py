"""Figures for the sample estimators (matplotlib; ``ax=None`` in, Figure out)."""

from __future__ import annotations


def error_vs_n(results: dict, *, title: str = "", axes=None):
    """Log-log |mean error| against n, one panel per dimension.

    ``results[d][method] = (ns, mean_abs_error, stderr)``.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    dims = sorted(results)
    if axes is None:
        fig, axes = plt.subplots(1, len(dims), figsize=(3.3 * len(dims), 3.2), sharey=False)
    else:
        fig = np.ravel(axes)[0].figure
    for ax, d in zip(np.ravel(axes), dims):
        for method, (ns, err, se) in results[d].items():
            ax.errorbar(ns, np.maximum(err, 1e-4), yerr=se, marker="o", ms=4, capsize=2, label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ns_all = sorted({int(v) for (nn, _, _) in results[d].values() for v in nn})
        ax.set_xticks(ns_all)
        ax.set_xticklabels([str(v) for v in ns_all], fontsize=7)
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.set_xlabel("n = m")
        ax.set_title(f"d = {d}")
        ax.grid(True, which="both", alpha=0.3)
    np.ravel(axes)[0].set_ylabel("|mean estimate - truth| (nats)")
    np.ravel(axes)[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def parallel_lines(ns, js: dict, tv: dict, kl_raw, *, ax=None):
    """JS and TV estimates against n for the parallel lines, and the raw kNN KL growing."""
    import math

    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    for name, vals in js.items():
        axes[0].plot(ns, vals, marker="o", label=name)
    axes[0].axhline(math.log(2), color="k", ls="--", label="log 2")
    axes[0].set_title("JS estimate")
    for name, vals in tv.items():
        axes[1].plot(ns, vals, marker="o", label=name)
    axes[1].axhline(1.0, color="k", ls="--", label="1")
    axes[1].set_title("TV estimate")
    axes[2].plot(ns, kl_raw, marker="o", color="C3", label="raw kNN KL (flagged inf)")
    axes[2].set_title("KL: raw kNN value grows ~ 2 log n")
    for a in axes:
        a.set_xscale("log")
        a.set_xlabel("n = m")
        a.grid(True, alpha=0.3)
        a.legend(fontsize=7)
    fig.suptitle("Parallel lines, theta = 0.5 (disjoint supports)")
    fig.tight_layout()
    return fig
