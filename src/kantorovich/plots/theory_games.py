"""Figures for the games, critics and mode-collapse experiments (T5, T6, T7, Dirac-GAN).

Data in, Figure out: every function draws into ``ax`` when given (a sequence of Axes for the
multi-panel figures) and returns its figure, else makes a new Figure; none trains, solves or
evaluates a model, and none calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np

from ._axes import closes_on_error, old_axes_keyword, panel_axes, single_axes, wrapped_axes
from ._data import as_array, as_mapping, entry, number, same_length

__all__ = ["plot_bilinear_trajectories", "plot_bilinear_grid", "plot_lr_sweep", "plot_dirac_gan", "plot_critic_surfaces",
           "plot_critic_estimates", "plot_mode_samples"]

_COLORS = {"simultaneous": "C3", "alternating": "C1", "momentum": "C5", "adam": "C4",
           "rmsprop": "C2", "extragradient": "C0", "optimistic": "C9", "prediction": "C8"}
# one marker per method in the learning-rate sweep: eight colours, of which red against green
# and the three converging methods' blues and olive, are not told apart in grey or by a
# colour-blind reader
_MARKERS = {"simultaneous": "o", "alternating": "s", "momentum": "^", "adam": "v", "rmsprop": "D",
            "extragradient": "P", "optimistic": "X", "prediction": "*"}


def _path(tr, name):
    """The (n, 2) path of a trajectory (its ``path``) or of an array; a diverged path's
    infinities and NaN leave the window, so they are drawn as they are."""
    value = getattr(tr, "path", tr)
    return as_array(value, f"{name}.path" if hasattr(tr, "path") else name, ndim=2, cols=2, finite=False)


def _points(value, name, finite=True):
    """A cloud of 2-D points, (n, 2)."""
    return as_array(value, name, ndim=2, cols=2, finite=finite)


@closes_on_error
def plot_bilinear_trajectories(trajs, *, lim: float = 4.0, ax=None):
    """Trajectories of min_x max_y xy in the (x, y) plane, the saddle at the origin.

    Parameters
    ----------
    trajs : dict label -> GameTrajectory or array (n, 2)
        Paths (:func:`kantorovich.toy_experiments.games.bilinear_game`); a trajectory's
        ``method`` picks its colour. Paths leaving the window are clipped by the axes (a
        diverged path's inf or NaN too); a path of another shape or an empty one is a
        ``ValueError`` naming it.
    lim : float
        Half-width of the window.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kantorovich.plots import plot_bilinear_trajectories
    >>> from kantorovich.toy_experiments.games import bilinear_game
    >>> fig = plot_bilinear_trajectories({"extragradient": bilinear_game("extragradient", 0.1, 50)})
    """
    trajs = as_mapping(trajs, "trajs")
    paths = {label: _path(tr, f"trajs[{label!r}]") for label, tr in trajs.items()}
    fig, ax = single_axes(ax, (6.5, 6))
    for label, tr in trajs.items():
        path = paths[label]
        method = getattr(tr, "method", label)
        ax.plot(path[:, 0], path[:, 1], lw=1.1, color=_COLORS.get(method), label=label, alpha=0.9)
    first = next(iter(paths.values()))
    ax.plot(*first[0], "ko", ms=6, label="start (1, 2)")
    ax.plot(0, 0, marker="*", color="k", ms=14, ls="none", label="saddle (0, 0)")
    ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim)
    ax.axhline(0, color="0.8", lw=0.6); ax.axvline(0, color="0.8", lw=0.6)
    ax.set_aspect("equal")
    ax.set_xlabel("x (minimises xy)"); ax.set_ylabel("y (maximises xy)")
    ax.set_title("min_x max_y xy: trajectories from (1, 2)")
    ax.legend(fontsize=7.5, loc="lower left", ncol=2, framealpha=0.9)
    return fig


@closes_on_error
def plot_bilinear_grid(runs, *, lim: float = 3.2, ncols: int = 4, ax=None):
    """Small multiples: one panel per optimiser, one line per step size (at most three).

    Parameters
    ----------
    runs : dict method -> dict η -> GameTrajectory
        :func:`kantorovich.toy_experiments.games.bilinear_game` runs from (1, 2), each with
        ``path`` (n, 2), ``value`` and ``diverged``; a missing one is a ``ValueError`` naming it.
    lim : float
        Half-width of every panel.
    ncols : int
        Panels per row of a new Figure.
    ax : sequence or 2-D array of matplotlib Axes, optional
        At least one per method, row-major (extra Axes are switched off); default a new grid.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kantorovich.plots import plot_bilinear_grid
    >>> from kantorovich.toy_experiments.games import bilinear_game
    >>> runs = {m: {eta: bilinear_game(m, eta, 50) for eta in (0.1, 0.01)} for m in ("simultaneous", "alternating")}
    >>> fig = plot_bilinear_grid(runs, ncols=2)
    """
    runs = as_mapping(runs, "runs")
    paths = {}
    for m, by_eta in runs.items():
        for eta, tr in as_mapping(by_eta, f"runs[{m!r}]").items():
            name = f"runs[{m!r}][{eta!r}]"
            paths[m, eta] = (_path(entry(tr, "path", name), f"{name}.path"), bool(entry(tr, "diverged", name)),
                             number(entry(tr, "value", name), f"{name}.value", finite=False))
    methods = list(runs)
    nrows = int(np.ceil(len(methods) / ncols))
    made = ax is None
    fig, axes = panel_axes(ax, len(methods), nrows=nrows, ncols=ncols, figsize=(3.3 * ncols, 3.4 * nrows))
    styles = [("C0", 1.2), ("C3", 0.9), ("C2", 0.9)]
    for ax, m in zip(axes, methods):
        parts = []
        for (eta, tr), (col, lw) in zip(runs[m].items(), styles):
            p, diverged, value = paths[m, eta]
            ax.plot(p[:, 0], p[:, 1], color=col, lw=lw, alpha=0.85, label=f"η={eta}")
            parts.append(f"η={eta}: {'diverged' if diverged else f'{value:.2g}'}")
        ax.plot(1, 2, "ko", ms=4)
        ax.plot(0, 0, marker="*", color="k", ms=10)
        ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.5); ax.axvline(0, color="0.85", lw=0.5)
        ax.set_title(f"{m}\nfinal |z|: " + ", ".join(parts), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes[len(methods):]:
        ax.axis("off")
    axes[0].legend(fontsize=7, loc="lower left")
    fig.supxlabel("x (minimises xy)", fontsize=9); fig.supylabel("y (maximises xy)", fontsize=9)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_lr_sweep(sweep, *, start_dist: float = float(np.hypot(1, 2)), n_steps=None, ax=None):
    """Final distance to the saddle against the step size, one line per optimiser (log-log).

    Distances are drawn clipped to [1e-16, 1e8]: a run that diverged (beyond 1e8, inf or NaN)
    sits on the top edge, one that reached the saddle to rounding on the bottom edge.

    Parameters
    ----------
    sweep : dict
        :func:`kantorovich.toy_experiments.games.bilinear_sweep`'s result: ``lrs`` (k,),
        positive, and ``final`` {method: (k,) final distances}. A missing key, another length
        or a NaN learning rate is a ``ValueError`` naming it.
    start_dist : float
        Distance of the start from the saddle (dashed line).
    n_steps : int, optional
        Steps per run, in the y label.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_lr_sweep
    >>> from kantorovich.toy_experiments.games import bilinear_sweep
    >>> fig = plot_lr_sweep(bilinear_sweep(np.logspace(-2, 0, 3), 50, methods=("extragradient",)), n_steps=50)
    """
    lrs = as_array(entry(sweep, "lrs", "sweep"), "sweep['lrs']", ndim=1)
    if np.any(lrs <= 0):
        raise ValueError(f"`sweep['lrs']` must be positive (a log axis); got {lrs.tolist()}.")
    final = {m: as_array(d, f"sweep['final'][{m!r}]", ndim=1, finite=False)
             for m, d in as_mapping(entry(sweep, "final", "sweep"), "sweep['final']").items()}
    for m, d in final.items():
        same_length(**{"sweep['lrs']": lrs, f"sweep['final'][{m!r}]": d})
    fig, ax = single_axes(ax, (7, 5))
    for m, d in final.items():
        d = np.clip(np.where(np.isnan(d), np.inf, d), 1e-16, 1e8)  # diverged: the top edge
        ax.loglog(lrs, d, "-", marker=_MARKERS.get(m, "o"), ms=3.5, lw=1.3, color=_COLORS.get(m), label=m)
    ax.axhline(start_dist, color="k", ls="--", lw=0.8, label="start distance")
    ax.set_ylim(1e-16 * 0.5, 2e8)
    ax.set_title("min_x max_y xy: distance to the saddle against the step size")
    ax.set_xlabel("learning rate η (both players)")
    ax.set_ylabel("final distance to the saddle" + (f" after {n_steps} steps" if n_steps else ""))
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    return fig


@closes_on_error
@old_axes_keyword
def plot_dirac_gan(trajs, *, field_fn=None, lim: float = 1.6, ax=None):
    """Dirac-GAN trajectories in the (θ, ψ) plane, one panel per entry of ``trajs``.

    A path is red when it ends farther from the equilibrium than it started (by 5 %), orange
    when about as far, blue when nearer.

    Parameters
    ----------
    trajs : dict title -> GameTrajectory
        :func:`kantorovich.toy_experiments.games.dirac_gan` runs, each with ``path`` (n, 2)
        and ``value``; a missing one or a path of another shape is a ``ValueError`` naming it.
    field_fn : callable, optional
        ``field_fn(title)`` returns the vector field (θ, ψ) -> (dθ, dψ) of that panel (arrays
        in, arrays out), drawn as arrows on a 21 x 21 grid.
    lim : float
        Half-width of every panel.
    ax : sequence of matplotlib Axes, optional
        One per trajectory; default a new 1 x len(trajs) Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kantorovich.plots import plot_dirac_gan
    >>> from kantorovich.toy_experiments.games import dirac_gan
    >>> fig = plot_dirac_gan({"simultaneous GD": dirac_gan(0.1, 50)})
    """
    trajs = as_mapping(trajs, "trajs")
    paths = {}
    for title, tr in trajs.items():
        name = f"trajs[{title!r}]"
        paths[title] = (_path(entry(tr, "path", name), f"{name}.path"),
                        number(entry(tr, "value", name), f"{name}.value", finite=False))
    n = len(trajs)
    fig, axes = panel_axes(ax, n, figsize=(4.6 * n, 4.4))
    g = np.linspace(-lim, lim, 21)
    T, P = np.meshgrid(g, g)
    for ax, (title, tr) in zip(axes, trajs.items()):
        if field_fn is not None:
            U, V = field_fn(title)(T, P)
            ax.quiver(T, P, U, V, color="0.7", angles="xy", width=0.003)
        path, value = paths[title]
        r0 = np.hypot(*path[0])
        col = "C3" if value > 1.05 * r0 else ("C1" if value > 0.95 * r0 else "C0")
        ax.plot(path[:, 0], path[:, 1], color=col, lw=1.2)
        ax.plot(*path[0], "ko", ms=5)
        ax.plot(0, 0, marker="*", color="k", ms=12)
        ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel(r"θ (generator: $\delta_\theta$)")
    axes[0].set_ylabel("ψ (discriminator ψ·x)")
    return fig


@closes_on_error
@old_axes_keyword
def plot_critic_surfaces(surfaces, samples, *, ax=None):
    """Critic value surfaces with gradient arrows, one panel per critic.

    Parameters
    ----------
    surfaces : dict title -> dict
        Per critic, :func:`kantorovich.toy_experiments.critics.critic_surface`'s dict:
        meshgrid ``gx``, ``gy`` and ``values`` (filled contours), arrow points ``arrows_at``
        (k, 2) and ``gradients`` (k, 2), and ``value``, ``w1_lp``, ``max_grad_norm`` (title).
    samples : pair of arrays (n, 2)
        Points of P and Q (the first 200 of each are drawn).
    ax : sequence of matplotlib Axes, optional
        One per critic; default a new Figure, a 2 x 2 grid of four critics, else rows of at most 3.

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A missing key, a shape other than these (``values`` the shape of ``gx`` and ``gy``) or a
        NaN in the grid, arrows or samples is a ``ValueError`` naming it.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_critic_surfaces
    >>> gx, gy = np.meshgrid(np.linspace(-1, 2, 20), np.linspace(-1, 1, 20))
    >>> pts = np.c_[gx.ravel(), gy.ravel()][::37]
    >>> surf = {"gx": gx, "gy": gy, "values": gx, "arrows_at": pts, "gradients": np.tile([1.0, 0.0], (len(pts), 1)),
    ...         "value": 1.0, "w1_lp": 1.0, "max_grad_norm": 1.0}
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_critic_surfaces({"exact critic": surf}, (rng.normal(size=(50, 2)), 1 + rng.normal(size=(50, 2))))
    """
    from matplotlib.ticker import MaxNLocator

    if isinstance(samples, (str, bytes)) or not hasattr(samples, "__len__") or len(samples) != 2:
        raise TypeError(f"`samples` must be a pair (x, y) of (n, 2) arrays; got {type(samples).__name__}.")
    x, y = _points(samples[0], "samples[0]"), _points(samples[1], "samples[1]")
    checked = {}
    for title, r in as_mapping(surfaces, "surfaces").items():
        name = f"surfaces[{title!r}]"
        c = {k: as_array(entry(r, k, name), f"{name}[{k!r}]", ndim=2) for k in ("gx", "gy")}
        c["values"] = as_array(entry(r, "values", name), f"{name}['values']", ndim=2, finite=False)
        if not c["gx"].shape == c["gy"].shape == c["values"].shape:
            raise ValueError(f"`{name}['gx']`, `['gy']` and `['values']` must have one shape (a meshgrid); got "
                             f"{c['gx'].shape}, {c['gy'].shape} and {c['values'].shape}.")
        c["arrows_at"] = _points(entry(r, "arrows_at", name), f"{name}['arrows_at']")
        c["gradients"] = _points(entry(r, "gradients", name), f"{name}['gradients']")
        same_length(**{f"{name}['arrows_at']": c["arrows_at"], f"{name}['gradients']": c["gradients"]})
        for k in ("value", "w1_lp", "max_grad_norm"):
            c[k] = number(entry(r, k, name), f"{name}[{k!r}]", finite=False)
        checked[title] = c
    surfaces = checked
    made = ax is None
    fig, axes = wrapped_axes(ax, len(surfaces), panel_size=(5.0, 4.3), max_cols=2 if len(surfaces) == 4 else 3)
    for a, (title, r) in zip(axes, surfaces.items()):
        cs = a.contourf(r["gx"], r["gy"], r["values"], levels=20, cmap="coolwarm")
        cb = fig.colorbar(cs, ax=a, shrink=0.8, format="%.2g")
        cb.ax.tick_params(labelsize=7)
        cb.set_label("critic value f(x)", fontsize=7)
        cb.locator = MaxNLocator(6)
        cb.update_ticks()
        at, gr = r["arrows_at"], r["gradients"]
        a.quiver(at[:, 0], at[:, 1], gr[:, 0], gr[:, 1], color="k", alpha=0.7, width=0.004)
        a.scatter(x[:200, 0], x[:200, 1], s=3, c="navy", label="P")
        a.scatter(y[:200, 0], y[:200, 1], s=3, c="darkred", label="Q")
        ratio = r["value"] / r["w1_lp"]
        a.set_title(f"{title}\nestimate {r['value']:.3g} = {ratio:.3g} × W₁(LP) ; max|∇f| {r['max_grad_norm']:.2g}",
                    fontsize=8.5)
        a.set_aspect("equal")
        a.set_xlabel("$x_1$")
        a.set_ylabel("$x_2$")
    axes[0].legend(fontsize=7, loc="upper left")
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_critic_estimates(labels, ratios, *, ax=None, ylabel="critic estimate / exact W₁ (LP)"):
    """Bar chart of estimate / W_1 per critic (1 = exact; bars outside [0.8, 1.2] in red).

    Parameters
    ----------
    labels : sequence of str
    ratios : sequence of float
        One positive ratio per label (log scale); another length, a NaN or a ratio <= 0 is a
        ``ValueError`` naming ``ratios``.
    ax : matplotlib Axes, optional
        Draw here; default a new Figure.
    ylabel : str

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kantorovich.plots import plot_critic_estimates
    >>> fig = plot_critic_estimates(["clip", "GP"], [0.05, 0.97])
    """
    labels = [labels] if isinstance(labels, str) else list(labels)
    ratios = as_array(ratios, "ratios", ndim=1)
    same_length(labels=labels, ratios=ratios)
    if np.any(ratios <= 0):
        raise ValueError(f"`ratios` must be positive (a log axis); got {ratios.tolist()}.")
    fig, ax = single_axes(ax, (7, 4))
    ax.bar(range(len(labels)), ratios, color=["C0" if 0.8 <= r <= 1.2 else "C3" for r in ratios])
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("critic")
    for i, r in enumerate(ratios):
        # on a white ground: a bar ending near 1 put its number on the dashed line
        ax.text(i, r, f"{r:.3g}", ha="center", va="bottom", fontsize=7.5,
                bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="C0", label="within 20% of exact"),
                       Patch(color="C3", label="off by more than 20%")], fontsize=8, ncol=2,
              loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)  # bars fill every corner
    ax.set_title("critic estimate of W₁ against the exact value", pad=22)  # above that legend
    return fig


@closes_on_error
@old_axes_keyword
def plot_mode_samples(results, real, centers, std, *, ax=None, lim=None):
    """Scatter of generated samples per variant, after a panel of the real data; 3σ circles
    around the mode centres.

    Parameters
    ----------
    results : dict label -> ModeCollapseResult
        :func:`kantorovich.toy_experiments.mode_collapse.train_toy_gan` results (their
        ``samples``, ``value`` = modes found, ``hq_fraction``, ``reverse_kl``).
    real : array (m, 2)
        Data points.
    centers : array (k, 2)
    std : float
        The modes' standard deviation.
    ax : sequence of matplotlib Axes, optional
        One per result plus one; default a new Figure of rows of at most 4 panels.
    lim : float, optional
        Half-width of every panel (default from the centres).

    Returns
    -------
    matplotlib.figure.Figure

    Raises
    ------
    ValueError
        A missing field, a point cloud of another shape, or a NaN in ``real``, ``centers`` or
        ``std`` is a ``ValueError`` naming it (a NaN among the generated samples is not drawn).

    Examples
    --------
    >>> from kantorovich.plots import plot_mode_samples
    >>> from kantorovich.toy_experiments import data
    >>> from kantorovich.toy_experiments.mode_collapse import train_toy_gan
    >>> r = train_toy_gan("ring8", "gan", n_steps=2, batch=8, g_hidden=(4,), d_hidden=(4,), n_eval=50, rng=0)
    >>> centers, std = data.mode_centers("ring8")
    >>> fig = plot_mode_samples({"gan": r}, data.sample("ring8", 50, 0), centers, std)
    """
    results = as_mapping(results, "results")
    real, centers = _points(real, "real"), _points(centers, "centers")
    std = number(std, "std")
    samples = {}
    for k, r in results.items():
        name = f"results[{k!r}]"
        samples[k] = _points(entry(r, "samples", name), f"{name}.samples", finite=False)
        results[k] = {field: entry(r, field, name) for field in ("value", "hq_fraction", "reverse_kl")}
    n = len(results) + 1
    fig, axes = wrapped_axes(ax, n, panel_size=(3.2, 3.4), max_cols=4)
    lim = lim or float(np.abs(centers).max() * 1.45 + 0.2)
    t = np.linspace(0, 2 * np.pi, 60)
    panels = [("real data", real, None)] + [(k, samples[k], r) for k, r in results.items()]
    for ax, (title, s, r) in zip(axes, panels):
        for c in centers:
            ax.plot(c[0] + 3 * std * np.cos(t), c[1] + 3 * std * np.sin(t), color="C2", lw=0.8)
        ax.scatter(s[:, 0], s[:, 1], s=1.5, alpha=0.4, c="k" if r is None else "C0")
        if r is not None:
            rkl = "inf" if not np.isfinite(r["reverse_kl"]) else f"{r['reverse_kl']:.2f}"
            title = (f"{title}\n{r['value']}/{len(centers)} modes, {100 * r['hq_fraction']:.1f}% HQ, "
                     f"reverse KL {rkl}")
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
        ax.set_xticks([]); ax.set_yticks([])
    return fig
