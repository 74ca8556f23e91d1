"""Figure for T7: generated samples over training, one row per variant (Metz et al. 2017, Fig. 1).

Data in, Figure out: draws into the given Axes (``ax=``) or a new Figure; trains nothing.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ._axes import closes_on_error, panel_axes
from ._data import as_array, as_mapping, entry, same_length

__all__ = ["plot_mode_trajectories"]


@closes_on_error
def plot_mode_trajectories(trajectories, *, real=None, max_points: int = 500, lim=None, ax=None):
    """Grid of scatter plots: rows = variants, columns = snapshots of :class:`ModeTrajectory`.

    Parameters
    ----------
    trajectories : dict label -> ModeTrajectory
        All with the same snapshot steps (the columns), each with ``steps``, ``samples``
        ((n, 2) per step), ``occupied``, ``shares`` and ``dominant`` (one per step),
        ``centers`` (k, 2) and ``info``. A missing field, another length or shape, or other
        steps is a ``ValueError`` naming it (a NaN among the samples is not drawn).
    real : array (m, 2), optional
        Real data, drawn in a first column.
    max_points : int
        Points drawn per panel (the first ``max_points`` of the snapshot's samples).
    lim : float, optional
        Half-width of every panel (default 1.75 · ring radius; points outside are not drawn).
    ax : 2-D array (variants x columns) or flat sequence of matplotlib Axes, optional
        One Axes per panel, row-major; default a new Figure of that grid.

    Returns
    -------
    matplotlib.figure.Figure

    Notes
    -----
    Each panel's title gives the step, the occupied modes (>= ``min_share`` of the points
    within ``near`` of a centre) and the share of the dominant mode; the dominant mode's
    centre is marked with a red cross.

    Examples
    --------
    >>> from kantorovich.plots import plot_mode_trajectories
    >>> from kantorovich.toy_experiments.mode_collapse import mode_trajectory
    >>> tr = mode_trajectory("gan", n_steps=2, n_snapshots=2, batch=8, z_dim=2, g_hidden=(4,),
    ...                      d_hidden=(4,), n_eval=20, rng=0)
    >>> fig = plot_mode_trajectories({"gan": tr})
    """
    trajectories = as_mapping(trajectories, "trajectories")
    labels = list(trajectories)
    checked = {}
    for lab, tr in trajectories.items():
        name = f"trajectories[{lab!r}]"
        c = {k: list(entry(tr, k, name)) for k in ("steps", "samples", "occupied", "shares", "dominant")}
        c["samples"] = [as_array(x, f"{name}.samples[{j}]", ndim=2, cols=2, finite=False)
                        for j, x in enumerate(c["samples"])]
        same_length(**{f"{name}.{k}": v for k, v in c.items()})
        c["shares"] = [as_array(v, f"{name}.shares[{j}]", ndim=1) for j, v in enumerate(c["shares"])]
        c["centers"] = as_array(entry(tr, "centers", name), f"{name}.centers", ndim=2, cols=2)
        c["info"] = entry(tr, "info", name)
        if c["steps"] != checked.get(labels[0], c)["steps"]:
            raise ValueError(f"`{name}.steps` must be the steps of `trajectories[{labels[0]!r}]` (the columns); "
                             f"got {c['steps']} and {checked[labels[0]]['steps']}.")
        checked[lab] = c
    if real is not None:
        real = as_array(real, "real", ndim=2, cols=2)
    trajectories = {lab: SimpleNamespace(**c) for lab, c in checked.items()}
    first = trajectories[labels[0]]
    n_col = len(first.steps) + (real is not None)
    made = ax is None
    fig, flat = panel_axes(ax, len(labels) * n_col, nrows=len(labels), ncols=n_col,
                           figsize=(1.7 * n_col, 1.85 * len(labels)))
    axes = [flat[i * n_col:(i + 1) * n_col] for i in range(len(labels))]
    centers = np.asarray(first.centers)
    lim = lim or float(np.abs(centers).max() * 1.75)
    t = np.linspace(0, 2 * np.pi, 40)
    near = first.info.get("near", 0.25)
    for i, lab in enumerate(labels):
        tr = trajectories[lab]
        cols = []
        if real is not None:
            cols.append(("real data", real[:max_points], None))
        cols += [(f"step {s}", x[:max_points], j) for j, (s, x) in enumerate(zip(tr.steps, tr.samples))]
        for ax, (title, x, j) in zip(axes[i], cols):
            for c in centers:
                ax.plot(c[0] + near * np.cos(t), c[1] + near * np.sin(t), color="C2", lw=0.5)
            ax.scatter(x[:, 0], x[:, 1], s=1.0, alpha=0.5, c="k" if j is None else "C0",
                       rasterized=True)
            if j is not None:
                title = f"{title}\n{tr.occupied[j]} occupied, top {100 * tr.shares[j].max():.0f}%"
                if tr.dominant[j] >= 0:
                    c = centers[tr.dominant[j]]
                    ax.plot(c[0], c[1], "x", color="C3", ms=5, mew=1.2)
            ax.set_title(title, fontsize=6.5)
            ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
            ax.set_xticks([]); ax.set_yticks([])
        axes[i][0].set_ylabel(lab, fontsize=8)
    if made:
        fig.tight_layout()
    return fig
