"""Figures for the games, critics and mode-collapse experiments (T5, T6, T7, Dirac-GAN).

Every function takes ``ax=None`` (or draws its own grid of axes) and returns the Figure;
none calls ``plt.show()``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_bilinear_trajectories", "plot_bilinear_grid", "plot_lr_sweep", "plot_dirac_gan", "plot_critic_surfaces",
           "plot_critic_estimates", "plot_mode_samples"]

_COLORS = {"simultaneous": "C3", "alternating": "C1", "momentum": "C5", "adam": "C4",
           "rmsprop": "C2", "extragradient": "C0", "optimistic": "C9", "prediction": "C8"}


def _new(ax, figsize=(6, 5)):
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_bilinear_trajectories(trajs, *, lim: float = 4.0, ax=None):
    """Trajectories of min_x max_y xy in the (x, y) plane, the saddle at the origin.

    ``trajs``: dict label -> GameTrajectory (or (n, 2) path). Paths leaving the window are
    clipped by the axes.
    """
    fig, ax = _new(ax, (6.5, 6))
    for label, tr in trajs.items():
        path = np.asarray(getattr(tr, "path", tr))
        method = getattr(tr, "method", label)
        ax.plot(path[:, 0], path[:, 1], lw=1.1, color=_COLORS.get(method), label=label, alpha=0.9)
    first = np.asarray(getattr(next(iter(trajs.values())), "path", next(iter(trajs.values()))))
    ax.plot(*first[0], "ko", ms=6, label="start (1, 2)")
    ax.plot(0, 0, marker="*", color="k", ms=14, ls="none", label="saddle (0, 0)")
    ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim)
    ax.axhline(0, color="0.8", lw=0.6); ax.axvline(0, color="0.8", lw=0.6)
    ax.set_aspect("equal")
    ax.set_xlabel("x (minimises xy)"); ax.set_ylabel("y (maximises xy)")
    ax.legend(fontsize=7.5, loc="lower left", ncol=2, framealpha=0.9)
    return fig


def plot_bilinear_grid(runs, *, lim: float = 3.2, ncols: int = 4):
    """Small multiples: one panel per optimiser, one line per step size.

    ``runs``: dict method -> dict η -> GameTrajectory.
    """
    import matplotlib.pyplot as plt

    methods = list(runs)
    nrows = int(np.ceil(len(methods) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.3 * ncols, 3.4 * nrows), squeeze=False)
    styles = [("C0", 1.2), ("C3", 0.9), ("C2", 0.9)]
    for ax, m in zip(axes.ravel(), methods):
        parts = []
        for (eta, tr), (col, lw) in zip(runs[m].items(), styles):
            p = np.asarray(tr.path)
            ax.plot(p[:, 0], p[:, 1], color=col, lw=lw, alpha=0.85, label=f"η={eta}")
            parts.append(f"η={eta}: {'diverged' if tr.diverged else f'{tr.value:.2g}'}")
        ax.plot(1, 2, "ko", ms=4)
        ax.plot(0, 0, marker="*", color="k", ms=10)
        ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
        ax.axhline(0, color="0.85", lw=0.5); ax.axvline(0, color="0.85", lw=0.5)
        ax.set_title(f"{m}\nfinal |z|: " + ", ".join(parts), fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in axes.ravel()[len(methods):]:
        ax.axis("off")
    axes[0, 0].legend(fontsize=7, loc="lower left")
    fig.supxlabel("x (minimises xy)", fontsize=9); fig.supylabel("y (maximises xy)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_lr_sweep(sweep, *, start_dist: float = float(np.hypot(1, 2)), n_steps=None, ax=None):
    """Final distance to the saddle against the step size, one line per optimiser (log-log)."""
    fig, ax = _new(ax, (7, 5))
    lrs = sweep["lrs"]
    for m, d in sweep["final"].items():
        d = np.maximum(np.asarray(d, dtype=float), 1e-16)
        ax.loglog(lrs, d, "o-", ms=3, lw=1.3, color=_COLORS.get(m), label=m)
    ax.axhline(start_dist, color="k", ls="--", lw=0.8, label="start distance")
    ax.set_ylim(1e-16 * 0.5, 2e8)
    ax.set_xlabel("learning rate η (both players)")
    ax.set_ylabel("final distance to the saddle" + (f" after {n_steps} steps" if n_steps else ""))
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, which="major", alpha=0.3)
    return fig


def plot_dirac_gan(trajs, *, field_fn=None, lim: float = 1.6, axes=None):
    """Dirac-GAN trajectories in the (θ, ψ) plane, one panel per entry of ``trajs``.

    ``trajs``: dict title -> GameTrajectory; ``field_fn(title)``: optional callable returning
    a function (θ, ψ) -> (dθ, dψ) drawn as a stream of arrows.
    """
    import matplotlib.pyplot as plt

    n = len(trajs)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(4.6 * n, 4.4), squeeze=False)
        axes = axes[0]
    else:
        fig = axes[0].figure
    g = np.linspace(-lim, lim, 21)
    T, P = np.meshgrid(g, g)
    for ax, (title, tr) in zip(axes, trajs.items()):
        if field_fn is not None:
            U, V = field_fn(title)(T, P)
            ax.quiver(T, P, U, V, color="0.7", angles="xy", width=0.003)
        path = np.asarray(tr.path)
        r0 = np.hypot(*path[0])
        col = "C3" if tr.value > 1.05 * r0 else ("C1" if tr.value > 0.95 * r0 else "C0")
        ax.plot(path[:, 0], path[:, 1], color=col, lw=1.2)
        ax.plot(*path[0], "ko", ms=5)
        ax.plot(0, 0, marker="*", color="k", ms=12)
        ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
        ax.set_title(title, fontsize=9.5)
        ax.set_xlabel("θ (generator: δ_θ)")
    axes[0].set_ylabel("ψ (discriminator ψ·x)")
    return fig


def plot_critic_surfaces(results, samples, *, lim=None, axes=None):
    """Critic value surfaces with gradient arrows, one panel per method.

    ``results``: dict title -> CriticResult; ``samples``: (x, y) to scatter (P and Q).
    """
    import matplotlib.pyplot as plt

    from ..toy_experiments.critics import critic_value
    from ..toy_experiments.nn import input_gradients, mlp

    x, y = samples
    allp = np.concatenate([x, y])
    lo = allp.min(0) - 0.5; hi = allp.max(0) + 0.5
    n = len(results)
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(5.0 * n, 4.3), squeeze=False)
        axes = axes[0]
    else:
        fig = axes[0].figure
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 80), np.linspace(lo[1], hi[1], 80))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    ax_, ay_ = np.meshgrid(np.linspace(lo[0], hi[0], 13), np.linspace(lo[1], hi[1], 13))
    agrid = np.stack([ax_.ravel(), ay_.ravel()], 1)
    for ax, (title, r) in zip(axes, results.items()):
        v = critic_value(r, grid).reshape(gx.shape)
        cs = ax.contourf(gx, gy, v, levels=20, cmap="coolwarm")
        cb = fig.colorbar(cs, ax=ax, shrink=0.8, format="%.2g")
        cb.ax.tick_params(labelsize=7)
        cb.locator = __import__("matplotlib.ticker", fromlist=["MaxNLocator"]).MaxNLocator(6)
        cb.update_ticks()
        eff = r.info["eval_params"]
        gr = np.asarray(input_gradients(lambda z: mlp(eff, z, activation=r.info["activation"]), agrid))
        ax.quiver(agrid[:, 0], agrid[:, 1], gr[:, 0], gr[:, 1], color="k", alpha=0.7, width=0.004)
        ax.scatter(x[:200, 0], x[:200, 1], s=3, c="navy", label="P")
        ax.scatter(y[:200, 0], y[:200, 1], s=3, c="darkred", label="Q")
        ratio = r.value / r.w1_lp
        ax.set_title(f"{title}\nestimate {r.value:.3g} = {ratio:.3g} × W₁(LP) ; max|∇f| {r.max_grad_norm:.2g}",
                     fontsize=8.5)
        ax.set_aspect("equal")
    axes[0].legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def plot_critic_estimates(labels, ratios, *, ax=None, ylabel="critic estimate / exact W₁ (LP)"):
    """Bar chart of estimate / W_1 per critic (1 = exact)."""
    fig, ax = _new(ax, (7, 4))
    ratios = np.asarray(ratios, dtype=float)
    ax.bar(range(len(labels)), ratios, color=["C0" if 0.8 <= r <= 1.2 else "C3" for r in ratios])
    ax.axhline(1.0, color="k", ls="--", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    for i, r in enumerate(ratios):
        ax.text(i, r, f"{r:.3g}", ha="center", va="bottom", fontsize=7.5)
    return fig


def plot_mode_samples(results, real, centers, std, *, axes=None, lim=None):
    """Scatter of generated samples per variant (with the real data and 3σ circles)."""
    import matplotlib.pyplot as plt

    n = len(results) + 1
    if axes is None:
        fig, axes = plt.subplots(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
        axes = axes[0]
    else:
        fig = axes[0].figure
    lim = lim or float(np.abs(centers).max() * 1.45 + 0.2)
    t = np.linspace(0, 2 * np.pi, 60)
    panels = [("real data", real, None)] + [(k, r.samples, r) for k, r in results.items()]
    for ax, (title, s, r) in zip(axes, panels):
        for c in centers:
            ax.plot(c[0] + 3 * std * np.cos(t), c[1] + 3 * std * np.sin(t), color="C2", lw=0.8)
        ax.scatter(s[:, 0], s[:, 1], s=1.5, alpha=0.4, c="k" if r is None else "C0")
        if r is not None:
            rkl = "inf" if not np.isfinite(r.reverse_kl) else f"{r.reverse_kl:.2f}"
            title = f"{title}\n{r.value}/{len(centers)} modes, HQ {100 * r.hq_fraction:.1f}%, rKL {rkl}"
        ax.set_title(title, fontsize=8)
        ax.set_xlim(-lim, lim); ax.set_ylim(-lim, lim); ax.set_aspect("equal")
        ax.set_xticks([]); ax.set_yticks([])
    return fig
