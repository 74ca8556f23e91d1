"""Figures of T10, generators trained by OT losses without a critic.

Data in, Figure out: each function takes the dict returned by the matching function of
:mod:`kantorovich.toy_experiments.ot_training`, draws into ``ax`` when given (a sequence of
Axes, one per panel) and returns its figure, else makes a new Figure; no solver runs here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._axes import closes_on_error, wrapped_axes
from ._data import as_array, as_mapping, entry, number
from .theory import _arrays, _axes, _steps_runs

__all__ = ["plot_ot_generators", "plot_ot_landscape", "plot_ot_training", "plot_sinkhorn_flow"]

# Okabe & Ito's colour-blind-safe colours (green against red, as before, is lost to a
# deuteranope) and one line style and marker per loss, for a black-and-white print
_STYLE = {
    "w1_1d": ("#0072B2", r"1-D $W_1$ on the first coordinate"),
    "emd": ("#009E73", r"exact minibatch $W_1$"),
    "sinkhorn": ("#CC79A7", "Sinkhorn divergence"),
    "sliced": ("#E69F00", r"sliced $W_1$"),
    "js": ("#D55E00", "JS (closed form)"),
}
_LINE = {"w1_1d": ("-", "o"), "emd": ("--", "s"), "sinkhorn": ("-.", "^"), "sliced": (":", "D"), "js": ("-", "x")}


@closes_on_error
def plot_ot_training(res, ax=None):
    """theta (left) and |d loss / d theta| (right) against gradient steps, one line per loss.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.ot_training.run_parallel_lines_ot`'s result:
        ``res["runs"][loss]`` holds arrays ``theta`` (start included) and ``grad``; losses
        ``"w1_1d"``, ``"emd"``, ``"sinkhorn"``, ``"sliced"``, ``"js"`` get fixed colours.
        ``theta`` is one longer than ``grad``; a missing key or another length is a
        ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_ot_training
    >>> fig = plot_ot_training({"runs": {"emd": {"theta": np.linspace(1, 0, 11), "grad": np.ones(10)}}})
    """
    runs = _steps_runs(res)
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    for name, r in runs.items():
        c, label = _STYLE.get(name, ("k", name))
        ls, m = _LINE.get(name, ("-", "o"))
        every = max(1, r["grad"].size // 8)  # a few markers: the curves overlap where theta is 0
        a1.plot(np.arange(r["theta"].size), r["theta"], color=c, ls=ls, marker=m, ms=3.5, markevery=every,
                lw=1.5, label=label)
        a2.plot(np.arange(1, r["grad"].size + 1), np.abs(r["grad"]), color=c, ls=ls, marker=m, ms=3.5,
                markevery=every, lw=1.0, alpha=0.85, label=label)
    a1.axhline(0.0, color="k", lw=0.7, ls=":")
    a1.set_xlabel("gradient steps")
    a1.set_ylabel(r"$\theta$")
    a1.set_title(r"parallel lines: $\theta$ under gradient descent, no critic")
    a1.legend(fontsize=7)
    a2.set_xlabel("gradient steps")
    a2.set_ylabel(r"$|\partial\,\mathrm{loss} / \partial\theta|$ (minibatch)")
    a2.set_yscale("symlog", linthresh=1e-2)
    a2.set_title("size of the gradient")
    for a in (a1, a2):
        a.grid(True, alpha=0.3)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_ot_landscape(land, ax=None):
    """Loss values (left) and their theta-gradients (right) against theta, closed forms dashed.

    Parameters
    ----------
    land : dict
        :func:`~kantorovich.toy_experiments.ot_training.parallel_lines_landscape`'s result:
        ``theta`` (k,), ``value[loss]`` and ``grad[loss]`` (replicates x k), the closed forms
        ``w1``, ``sliced_pop``, ``js`` (k,) and the minibatch size ``batch``. ``theta``
        finite; a missing key, another length or a ``value`` / ``grad`` of another number of
        columns is a ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_ot_landscape
    >>> t = np.linspace(-1, 1, 5)
    >>> land = {"theta": t, "value": {"emd": np.abs(t)[None]}, "grad": {"emd": np.sign(t)[None]},
    ...         "w1": np.abs(t), "sliced_pop": 2 * np.abs(t) / np.pi, "js": np.where(t == 0, 0, np.log(2)),
    ...         "batch": 64}
    >>> fig = plot_ot_landscape(land)
    """
    curves = _arrays(land, "land", ["theta"], ["w1", "sliced_pop", "js"])
    k = len(curves["theta"])
    value = as_mapping(entry(land, "value", "land"), "land['value']")
    grad = as_mapping(entry(land, "grad", "land"), "land['grad']")
    for name in value:
        for part, d in (("value", value), ("grad", grad)):
            where = f"land[{part!r}]"
            arr = as_array(entry(d, name, where), f"{where}[{name!r}]", ndim=2, finite=False)
            if arr.shape[1] != k:
                raise ValueError(f"`{where}[{name!r}]` must have shape (replicates, {k}), one column per theta "
                                 f"of `land['theta']`; got {arr.shape}.")
            d[name] = arr
    land = dict(curves, value=value, grad=grad, batch=entry(land, "batch", "land"))
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    t = land["theta"]
    for name in land["value"]:
        c, label = _STYLE.get(name, ("k", name))
        m = _LINE.get(name, ("-", "o"))[1]
        a1.plot(t, land["value"][name].mean(axis=0), "-", marker=m, ms=2.5, color=c, lw=1.2,
                label=f"{label}, minibatch")
        g = land["grad"][name]
        a2.errorbar(t, g.mean(axis=0), yerr=g.std(axis=0), fmt="-", marker=m, ms=2.5, lw=1.0, color=c,
                    capsize=1.5, label=label)
    a1.plot(t, land["w1"], "k--", lw=1.0, label=r"$W_1 = |\theta|$")
    a1.plot(t, land["sliced_pop"], ":", color=_STYLE["sliced"][0], lw=1.2, label=r"$SW_1 = (2/\pi)|\theta|$")
    nz = t != 0
    a1.plot(t[nz], land["js"][nz], "s", ms=3, color=_STYLE["js"][0], label="JS = log 2 (θ ≠ 0)")
    if (~nz).any():
        a1.plot(t[~nz], land["js"][~nz], "o", ms=6, mfc="white", color=_STYLE["js"][0], label="JS(0) = 0")
    a2.plot(t, np.zeros_like(t), color=_STYLE["js"][0], lw=1.5, label="d JS / dθ = 0")
    a2.plot(t, np.sign(t), "k--", lw=1.0, label=r"$\mathrm{sign}(\theta)$")
    a1.set_xlabel(r"$\theta$")
    a1.set_ylabel("loss")
    a1.set_title(f"losses against θ (batch {land['batch']}): W continuous, JS jumps")
    a2.set_xlabel(r"$\theta$")
    a2.set_ylabel(r"$\partial\,\mathrm{loss} / \partial\theta$ (mean ± sd over minibatches)")
    a2.set_title("gradients against θ")
    top = max(1.0, float(np.nanmax(land["w1"])))
    a1.set_ylim(top=1.45 * top)
    a1.legend(fontsize=6.5, ncol=2, loc="upper center")
    # upper left: the gradients are negative for theta < 0, so that corner is empty; lower right
    # covered the curves' jump at theta = 0
    a2.legend(fontsize=6.5, loc="upper left")
    for a in (a1, a2):
        a.grid(True, alpha=0.3)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_ot_generators(runs, data, ax=None):
    """Generated samples of OT-trained generators next to the data, one panel per run.

    Parameters
    ----------
    runs : dict label -> dict
        Results of :func:`~kantorovich.toy_experiments.ot_training.train_ot_generator` on one
        dataset: ``samples`` (n, 2), ``centers``, ``std``, ``modes``, ``hq_fraction``, ``reverse_kl``.
    data : array (n, 2)
        Real points (first panel).
    ax : sequence of matplotlib Axes, optional
        One per run plus one; default a new Figure of rows of at most 4 panels.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A missing key, a point cloud of another shape, or a NaN in ``data``, the centres or
        ``std`` is a ``ValueError`` naming it (a NaN among the generated samples is not drawn).

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_ot_generators
    >>> c = np.array([[1.0, 0.0], [-1.0, 0.0]])
    >>> pts = np.repeat(c, 10, axis=0)
    >>> run = {"samples": pts, "centers": c, "std": 0.01, "modes": 2, "hq_fraction": 1.0, "reverse_kl": 0.0}
    >>> fig = plot_ot_generators({"sinkhorn": run}, pts)
    """
    from matplotlib.patches import Circle

    checked = {}
    for label, r in as_mapping(runs, "runs").items():
        name = f"runs[{label!r}]"
        c = {k: entry(r, k, name) for k in ("modes", "hq_fraction", "reverse_kl")}
        c["samples"] = as_array(entry(r, "samples", name), f"{name}['samples']", ndim=2, cols=2, finite=False)
        c["centers"] = as_array(entry(r, "centers", name), f"{name}['centers']", ndim=2, cols=2)
        c["std"] = number(entry(r, "std", name), f"{name}['std']")
        checked[label] = c
    runs = checked
    data = as_array(data, "data", ndim=2, cols=2)
    made = ax is None
    fig, axs = wrapped_axes(ax, len(runs) + 1, panel_size=(3.0, 3.1), max_cols=4)
    first = next(iter(runs.values()))
    centers, std = first["centers"], first["std"]
    lim = float(np.abs(centers).max()) * 1.3 + 3 * std
    panels = [("data", data, None)] + [(k, r["samples"], r) for k, r in runs.items()]
    for a, (label, pts, r) in zip(axs, panels):
        a.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="#0072B2" if r is None else "#D55E00",
                  rasterized=True)
        for c in centers:
            # black: the green circles of before vanished into the red points for a
            # red-green colour-blind reader, and in a grey print
            a.add_patch(Circle(c, 3 * std, fill=False, color="k", lw=0.8))
        a.set_xlim(-lim, lim)
        a.set_ylim(-lim, lim)
        a.set_aspect("equal")
        a.set_xticks([])
        a.set_yticks([])
        title = label if r is None else (f"{label}\n{r['modes']}/{len(centers)} modes, "
                                         f"{100 * r['hq_fraction']:.0f}% HQ, reverse KL {r['reverse_kl']:.2f}")
        a.set_title(title, fontsize=8)
    if made:
        fig.suptitle("Generated samples next to the data; circles: 3σ around each mode, "
                     "HQ: the share of the samples inside a circle", fontsize=9)
        fig.tight_layout()
    return fig


@closes_on_error
def plot_sinkhorn_flow(flow, ax=None):
    """Snapshots of a point cloud flowing along -grad S_eps towards the target (grey).

    Parameters
    ----------
    flow : dict
        :func:`~kantorovich.toy_experiments.ot_training.sinkhorn_flow`'s result: ``target``
        (m, 2), ``snapshots`` {step: (n, 2) points} and ``value`` {step: S_eps} or an array
        of S_eps indexed by step, a value for every snapshot. A missing key, another shape or a NaN point is a ``ValueError`` naming it.
    ax : sequence of matplotlib Axes, optional
        One per snapshot; default a new 1 x len(snapshots) Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_sinkhorn_flow
    >>> y = np.random.default_rng(0).normal(size=(20, 2))
    >>> fig = plot_sinkhorn_flow({"target": y, "snapshots": {0: y - 2, 10: y}, "value": {0: 4.0, 10: 0.0}})
    """
    y = as_array(entry(flow, "target", "flow"), "flow['target']", ndim=2, cols=2)
    snaps = {k: as_array(x, f"flow['snapshots'][{k!r}]", ndim=2, cols=2)
             for k, x in as_mapping(entry(flow, "snapshots", "flow"), "flow['snapshots']").items()}
    values = entry(flow, "value", "flow")
    if not isinstance(values, Mapping):  # an array of S_eps before each step, indexed by step
        steps = as_array(values, "flow['value']", ndim=1, finite=False)
        values = dict(enumerate(steps.tolist()))
        if any(k not in values for k in snaps):
            raise ValueError(f"`flow['value']` must hold S_eps at every snapshot step {list(snaps)}; got "
                             f"{len(steps)} values (steps 0..{len(steps) - 1}).")
    values = {k: number(entry(values, k, "flow['value']"), f"flow['value'][{k!r}]", finite=False) for k in snaps}
    made = ax is None
    fig, axs = _axes(ax, len(snaps), width=2.8, height=2.9)
    allpts = np.vstack([y, *snaps.values()])
    lo, hi = allpts.min(axis=0) - 0.2, allpts.max(axis=0) + 0.2
    for a, (k, x) in zip(axs, snaps.items()):
        a.scatter(y[:, 0], y[:, 1], s=4, color="0.7", label="target")
        a.scatter(x[:, 0], x[:, 1], s=4, color="#d62728", label="moving points")
        a.set_xlim(lo[0], hi[0])
        a.set_ylim(lo[1], hi[1])
        a.set_aspect("equal")
        a.set_xticks([])
        a.set_yticks([])
        a.set_title(rf"step {k}: $S_\varepsilon$ = {values[k]:.2g}", fontsize=8)
    # under the first panel, not in it: the starting blob reaches every corner of its panel
    axs[0].legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, 0.0), ncol=2, frameon=False,
                  borderaxespad=0.2)
    if made:
        fig.tight_layout()
    return fig
