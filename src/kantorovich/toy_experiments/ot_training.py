r"""T10: generators trained by the Earth-Mover distance itself, with no critic.

Parallel lines (Arjovsky et al. 2017, Example 1): data ``P_0 = (0, Z)``, generator
``g_theta(z) = (theta, z)``, ``Z, z ~ U[0, 1]``, ``theta`` the only parameter. Instead of a
critic, each step draws a minibatch of ``batch`` data points and ``batch`` generated points and
differentiates an OT loss between the two samples with respect to ``theta`` (autograd through
the public functions of :mod:`kantorovich.ot`, see docs/gradients.md), then takes a plain
gradient step ``theta <- theta - lr * grad`` (plain, not Adam, so that the size of the gradient
matters).

Losses (``LOSSES``) and their population slopes ``|d/dtheta|`` away from ``theta = 0``:

- ``"w1_1d"``: ``wasserstein_1d`` on the first coordinate. Both projected samples are Diracs,
  so the minibatch value is exactly ``|theta|`` and the gradient exactly ``sign(theta)``: 1.
- ``"emd"``: exact minibatch W1 in the plane, ``emd`` with the Euclidean cost matrix. The
  minibatch value is at least ``|theta|`` (the heights of the two samples do not match, so
  every pair also pays a vertical gap: biased up), and the gradient
  ``sum_ij P_ij theta / |x_i - y_j|`` is below 1 in size, the more so the smaller ``|theta|``
  is against the vertical gaps (about ``1 / batch``). Population slope 1.
- ``"sinkhorn"``: the Sinkhorn divergence ``S_eps`` with the Euclidean cost (p = 1), which
  tends to W1 as ``eps -> 0``. Population slope about 1 for ``|theta| >> eps``.
- ``"sliced"``: sliced W1 with ``n_projections`` random directions drawn afresh each step.
  Projected on direction ``(cos phi, sin phi)`` the two lines are the same law shifted by
  ``theta cos phi``, so ``SW_1 = |theta| E|cos phi| = (2/pi) |theta|``: slope ``2/pi``.

The Jensen-Shannon divergence is ``log 2`` for every ``theta != 0``
(:class:`kantorovich.families.ParallelLines`), so its gradient is 0 there and a generator
trained on it does not move.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import asdict, dataclass

import autograd
import autograd.numpy as anp
import numpy as np

from ..exceptions import ConvergenceWarning
from .._validation import check_choice, check_finite, check_int, check_positive, check_rng

__all__ = [
    "GENERATOR_LOSSES",
    "data_loss_floor",
    "generator_loss",
    "train_ot_generator",
    "LOSSES",
    "POPULATION_SLOPE",
    "ParallelLinesOTConfig",
    "js_gradient",
    "minibatch_loss",
    "parallel_lines_landscape",
    "sinkhorn_flow",
    "run_parallel_lines_ot",
]

LOSSES = ("w1_1d", "emd", "sinkhorn", "sliced")

#: |d loss / d theta| of the population loss away from theta = 0 (the Sinkhorn divergence's
#: tends to 1 as eps -> 0; at eps > 0 it is slightly below).
POPULATION_SLOPE = {"w1_1d": 1.0, "emd": 1.0, "sinkhorn": 1.0, "sliced": 2.0 / math.pi, "js": 0.0}


@dataclass(frozen=True)
class ParallelLinesOTConfig:
    """T10 parallel-lines settings (defaults: publication size; quick mode shrinks them)."""

    theta0: float = 1.0
    losses: tuple = LOSSES
    n_steps: int = 150
    batch: int = 128
    lr: float = 0.05
    eps: float = 0.05
    n_projections: int = 50

    def validate(self):
        check_finite(self.theta0, "theta0")
        check_int(self.n_steps, "n_steps", minimum=1)
        check_int(self.batch, "batch", minimum=2)
        check_positive(self.lr, "lr")
        check_positive(self.eps, "eps")
        check_int(self.n_projections, "n_projections", minimum=1)
        if len(self.losses) == 0:
            raise ValueError(f"`losses` must name at least one of {LOSSES}; got ().")
        for name in self.losses:
            check_choice(name, "losses", LOSSES)
        return self


def _generate(theta, z):
    """Points ``(theta, z_i)``, shape (n, 2), differentiable in ``theta``."""
    return anp.stack([theta * anp.ones(z.shape[0]), z], axis=1)


def minibatch_loss(name, theta, z, y, cfg, seed=0):
    """The minibatch OT loss ``name`` between ``g_theta(z)`` and the data sample ``y`` (n, 2).

    Differentiable in ``theta`` with autograd. ``seed`` fixes the sliced directions.
    """
    from ..ot import PointCloud, emd, sinkhorn_divergence, sliced_wasserstein, wasserstein_1d

    check_choice(name, "name", LOSSES)
    if name == "w1_1d":
        return wasserstein_1d(theta * anp.ones(z.shape[0]), y[:, 0])
    x = _generate(theta, z)
    if name == "emd":
        diff = x[:, None, :] - y[None, :, :]
        # the Euclidean cost; the pairs share no point, so the square root is differentiable
        return emd(None, None, anp.sqrt(anp.sum(diff * diff, axis=2))).value
    if name == "sinkhorn":
        return sinkhorn_divergence(None, None, PointCloud(x, y, cost="euclidean"), eps=cfg.eps).value
    return sliced_wasserstein(x, y, n_projections=cfg.n_projections, rng=seed)


def js_gradient(theta, h=1e-6):
    """d JS / d theta by central differences of the closed form (0 for ``|theta| > h``)."""
    from ..families import ParallelLines

    return (ParallelLines(theta + h).js() - ParallelLines(theta - h).js()) / (2 * h)


def _sample(n, g):
    z = g.uniform(0.0, 1.0, n)
    y = np.zeros((n, 2))
    y[:, 1] = g.uniform(0.0, 1.0, n)
    return z, y


def _train(name, cfg, g, progress=None):
    vg = autograd.value_and_grad(lambda t, z, y, s: minibatch_loss(name, t, z, y, cfg, s))
    theta = float(cfg.theta0)
    thetas, grads, values = [theta], [], []
    steps = range(cfg.n_steps) if progress is None else progress(range(cfg.n_steps))
    t0 = time.perf_counter()
    for _ in steps:
        z, y = _sample(cfg.batch, g)
        v, d = vg(theta, z, y, int(g.integers(2**31)))
        theta -= cfg.lr * float(d)
        thetas.append(theta)
        grads.append(float(d))
        values.append(float(v))
    sec = (time.perf_counter() - t0) / cfg.n_steps
    return {"theta": np.array(thetas), "grad": np.array(grads), "value": np.array(values), "sec_per_step": sec}


def _train_js(cfg):
    theta = float(cfg.theta0)
    thetas, grads, values = [theta], [], []
    from ..families import ParallelLines

    for _ in range(cfg.n_steps):
        d = js_gradient(theta)
        values.append(ParallelLines(theta).js())
        theta -= cfg.lr * d
        thetas.append(theta)
        grads.append(d)
    return {"theta": np.array(thetas), "grad": np.array(grads), "value": np.array(values), "sec_per_step": 0.0}


def run_parallel_lines_ot(config=None, rng=None, progress=None):
    """Gradient descent on theta from ``theta0`` for each loss of ``config.losses``, and on JS.

    Returns ``{"config", "runs": {loss: {"theta" (n_steps + 1,), "grad", "value" (n_steps,),
    "sec_per_step"}}, "final_abs_theta": {loss: mean |theta| over the last fifth},
    "grad_far": {loss: mean |grad| over the steps with |theta| > 0.25}, "sign_near":
    {loss: share of steps with |theta| < 0.05 whose gradient points to 0}}``; ``runs["js"]``
    uses the closed-form JS gradient.
    """
    cfg = (config or ParallelLinesOTConfig()).validate()
    g = check_rng(rng)
    runs = {}
    for name in cfg.losses:
        p = None if progress is None else (lambda it, n=name: progress(it, n))
        runs[name] = _train(name, cfg, g, p)
    runs["js"] = _train_js(cfg)
    tail = max(1, cfg.n_steps // 5)
    out = {"config": asdict(cfg), "runs": runs, "final_abs_theta": {}, "grad_far": {}, "sign_near": {}}
    for name, r in runs.items():
        th = r["theta"][:-1]
        out["final_abs_theta"][name] = float(np.mean(np.abs(r["theta"][-tail:])))
        far = np.abs(th) > 0.25
        out["grad_far"][name] = float(np.mean(np.abs(r["grad"][far]))) if far.any() else float("nan")
        near = (np.abs(th) < 0.05) & (th != 0)
        out["sign_near"][name] = (float(np.mean(np.sign(r["grad"][near]) == np.sign(th[near])))
                                  if near.any() else float("nan"))
    return out


def parallel_lines_landscape(thetas, config=None, rng=None, n_rep=3):
    """Minibatch losses and their theta-gradients on a grid of ``thetas``, with the closed forms.

    Returns ``{"theta", "w1", "js", "sliced_pop" (closed forms), "value": {loss: (n_rep, k)},
    "grad": {loss: (n_rep, k)}}``; each replicate draws fresh samples (the same ones for all
    losses at one theta).
    """
    from ..families import ParallelLines

    cfg = (config or ParallelLinesOTConfig()).validate()
    g = check_rng(rng)
    n_rep = check_int(n_rep, "n_rep", minimum=1)
    thetas = np.asarray(thetas, dtype=float)
    if thetas.ndim != 1 or thetas.size == 0 or not np.all(np.isfinite(thetas)):
        raise ValueError(f"`thetas` must be a non-empty 1-D array of finite floats; got shape {thetas.shape}.")
    vgs = {n: autograd.value_and_grad(lambda t, z, y, s, n=n: minibatch_loss(n, t, z, y, cfg, s))
           for n in cfg.losses}
    val = {n: np.zeros((n_rep, thetas.size)) for n in cfg.losses}
    grd = {n: np.zeros((n_rep, thetas.size)) for n in cfg.losses}
    for r in range(n_rep):
        for k, t in enumerate(thetas):
            z, y = _sample(cfg.batch, g)
            seed = int(g.integers(2**31))
            for n in cfg.losses:
                v, d = vgs[n](float(t), z, y, seed)
                val[n][r, k], grd[n][r, k] = float(v), float(d)
    fam = [ParallelLines(float(t)) for t in thetas]
    return {"theta": thetas, "w1": np.array([f.w1() for f in fam]), "js": np.array([f.js() for f in fam]),
            "sliced_pop": 2.0 / math.pi * np.abs(thetas), "value": val, "grad": grd, "batch": cfg.batch}


# ---------------------------------------------------------------------------------------------
# An MLP generator trained on a Gaussian mixture by a minibatch OT loss, no discriminator (the
# T7 setting of :mod:`kantorovich.toy_experiments.mode_collapse`, with the critic replaced by the
# loss itself).

GENERATOR_LOSSES = ("sinkhorn", "sliced", "emd")


def _counting_unconverged(f, *args):
    """``(f(*args), 1 if a Sinkhorn solve in it stopped at max_iter else 0)``.

    Such a solve warns ConvergenceWarning (for the value and for the gradient); the warnings are
    counted instead of printed and the count goes into the results. Other warnings pass through.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        out = f(*args)
    for w in caught:
        if not issubclass(w.category, ConvergenceWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out, int(any(issubclass(w.category, ConvergenceWarning) for w in caught))


def generator_loss(name, x, y, *, eps=0.05, n_projections=50, seed=0):
    """Minibatch OT loss ``name`` between generated ``x`` and data ``y`` (both (n, 2)), Euclidean cost.

    ``"sinkhorn"``: the Sinkhorn divergence at ``eps``; ``"sliced"``: sliced W1 with
    ``n_projections`` directions fixed by ``seed``; ``"emd"``: exact W1 between the two samples.
    Differentiable in ``x`` with autograd.
    """
    from ..ot import PointCloud, emd, sinkhorn_divergence, sliced_wasserstein

    check_choice(name, "name", GENERATOR_LOSSES)
    if name == "sinkhorn":
        return sinkhorn_divergence(None, None, PointCloud(x, y, cost="euclidean"), eps=eps).value
    if name == "sliced":
        return sliced_wasserstein(x, y, n_projections=n_projections, rng=seed)
    diff = x[:, None, :] - y[None, :, :]
    # a tiny floor keeps the square root differentiable should two points coincide
    return emd(None, None, anp.sqrt(anp.sum(diff * diff, axis=2) + 1e-12)).value


def train_ot_generator(dataset="ring8", loss="sinkhorn", *, n_steps=2000, batch=128, z_dim=2,
                       g_hidden=(64, 64), lr=1e-3, betas=(0.5, 0.9), eps=0.05, n_projections=50,
                       n_eval=2500, rng=None, progress=None):
    """Train a ReLU MLP generator ``z ~ N(0, I) -> R^2`` on ``dataset`` by the minibatch OT ``loss``.

    Each step draws ``batch`` data and ``batch`` generated points and takes one Adam step on the
    gradient of :func:`generator_loss` (autograd through :mod:`kantorovich.ot`). The setup (nets,
    Adam(lr, betas), batch, mixture) is that of
    :func:`kantorovich.toy_experiments.mode_collapse.train_toy_gan`, without a discriminator.

    Returns ``{"modes", "hq_fraction", "reverse_kl", "counts", "samples" (n_eval, 2),
    "loss" (n_steps,), "sec_per_step", "unconverged_steps" (steps whose Sinkhorn solves stopped
    at ``max_iter`` with a ConvergenceWarning: their gradient comes from slightly non-optimal
    potentials; the warnings are counted here instead of printed), "centers", "std", settings}``.
    Raises ValueError "training diverged at step t" (naming ``lr``) when the generated points,
    the gradient or the new parameters are NaN or infinite.
    """
    from . import data as _data
    from .metrics import mode_metrics
    from .nn import init_mlp, mlp
    from .optim import adam_betas, checked_step, make_optimizer, quiet_divergence

    check_choice(dataset, "dataset", ("ring8", "grid25"))
    check_choice(loss, "loss", GENERATOR_LOSSES)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    batch = check_int(batch, "batch", minimum=2)
    z_dim = check_int(z_dim, "z_dim", minimum=1)
    lr = check_positive(lr, "lr")
    eps = check_positive(eps, "eps")
    n_projections = check_int(n_projections, "n_projections", minimum=1)
    n_eval = check_int(n_eval, "n_eval", minimum=1)
    g_hidden = tuple(check_int(h, "g_hidden", minimum=1) for h in g_hidden)
    g = check_rng(rng)
    centers, std = _data.mode_centers(dataset)
    G = init_mlp(g, (z_dim, *g_hidden, 2))

    def objective(Gp, z, y, seed):
        return generator_loss(loss, mlp(Gp, z, activation="relu"), y, eps=eps, n_projections=n_projections,
                              seed=seed)

    vg = autograd.value_and_grad(objective)
    b1, b2 = adam_betas(betas)
    opt = make_optimizer("adam", lr, beta1=b1, beta2=b2)
    losses = []
    steps = range(n_steps) if progress is None else progress(range(n_steps))
    t0 = time.perf_counter()
    unconverged = 0
    hint = f"lower `lr` (got {lr!r})."
    for t in steps:
        y = _data.sample(dataset, batch, g)
        z = g.standard_normal((batch, z_dim))
        with quiet_divergence():
            if not np.all(np.isfinite(np.asarray(mlp(G, z, activation="relu")))):
                raise ValueError(f"training diverged at step {t + 1}: the generated points overflowed "
                                 f"to infinity or NaN; {hint}")
            (v, dG), bad = _counting_unconverged(vg, G, z, y, int(g.integers(2**31)))
            unconverged += bad
            G = checked_step(opt, G, dG, step=t + 1, what="generator", hint=hint)
        losses.append(float(v))
    sec = (time.perf_counter() - t0) / n_steps
    samples = np.asarray(mlp(G, g.standard_normal((n_eval, z_dim)), activation="relu"))
    m = mode_metrics(samples, centers, std)
    return {"modes": int(m["modes_captured"]), "hq_fraction": float(m["hq_fraction"]),
            "reverse_kl": float(m["reverse_kl"]), "counts": m["counts"], "samples": samples,
            "loss": np.array(losses), "sec_per_step": sec, "unconverged_steps": unconverged, "centers": centers, "std": std,
            "dataset": dataset, "loss_name": loss, "batch": batch, "n_steps": n_steps, "eps": eps}


def data_loss_floor(dataset, loss, batch, *, n_rep=5, eps=0.05, n_projections=50, rng=None):
    """Mean minibatch OT ``loss`` between two independent data samples of size ``batch``.

    What a perfect generator scores at that batch size: the upward bias of the minibatch loss
    (the population value is 0). Returns ``(mean, standard deviation)`` over ``n_rep`` draws.
    """
    from . import data as _data

    check_choice(loss, "loss", GENERATOR_LOSSES)
    batch = check_int(batch, "batch", minimum=2)
    n_rep = check_int(n_rep, "n_rep", minimum=1)
    g = check_rng(rng)
    vals = [float(generator_loss(loss, _data.sample(dataset, batch, g), _data.sample(dataset, batch, g), eps=eps,
                                 n_projections=n_projections, seed=int(g.integers(2**31))))
            for _ in range(n_rep)]
    return float(np.mean(vals)), float(np.std(vals))


def sinkhorn_flow(x0, y, *, eps=0.05, step=0.2, n_steps=25, snapshots=(0, 2, 5, 10, 25)):
    """Move the points ``x0`` (n, 2) by gradient descent on the Sinkhorn divergence S_eps(x, y).

    Squared Euclidean cost. The gradient of S_eps in ``x_i`` has the size of the weight 1/n, so
    each step is ``x <- x - step * (n / 2) * grad_x S_eps``: with ``step = 1`` and a small ``eps``
    one step sends each point to (about) its barycentric image, so ``step`` is the fraction of
    that move taken per step (Feydy et al. 2019, Fig. 1; docs/gradients.md for the gradient).

    Returns ``{"snapshots": {step: (n, 2)}, "value" (n_steps + 1,): S_eps before each step and
    after the last, "sec_per_step", "target": y, "unconverged_steps" (steps whose Sinkhorn solve
    stopped at ``max_iter``; see :func:`train_ot_generator`)}``.
    """
    from ..ot import PointCloud, sinkhorn_divergence

    x = np.array(x0, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1] or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"`x0` and `y` must be finite (n, d) and (m, d) arrays; got shapes {x.shape} and {y.shape}.")
    eps = check_positive(eps, "eps")
    step = check_positive(step, "step")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    snaps = sorted({check_int(s, "snapshots", minimum=0, maximum=n_steps) for s in snapshots})
    vg = autograd.value_and_grad(lambda X: sinkhorn_divergence(None, None, PointCloud(X, y), eps=eps).value)
    out, values, unconverged = {}, [], 0
    t0 = time.perf_counter()
    for k in range(n_steps + 1):
        if k in snaps:
            out[k] = x.copy()
        (v, d), bad = _counting_unconverged(vg, x)
        unconverged += bad
        values.append(float(v))
        if k < n_steps:
            x = x - step * (x.shape[0] / 2.0) * np.asarray(d)
    return {"snapshots": out, "value": np.array(values), "sec_per_step": (time.perf_counter() - t0) / (n_steps + 1),
            "target": y, "eps": eps, "step": step, "unconverged_steps": unconverged}
