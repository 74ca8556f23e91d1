"""T7: mode collapse on the 8-Gaussian ring and the 25-Gaussian grid, and its remedies.

Variants (tiny numpy MLPs, autograd, Adam for both players):

==================  ===========================================================================
variant             discriminator / losses
==================  ===========================================================================
``gan``             minimax GAN: D minimises the cross-entropy, G minimises E log(1 - D(G(z)))
                    (the saturating loss of Goodfellow et al.)
``non_saturating``  same D; G minimises -E log D(G(z))
``wgan_gp``         critic loss E f(G(z)) - E f(x) + λ GP (λ = ``lam``), G minimises -E f(G(z));
                    ``n_critic`` critic steps per generator step
``minibatch``       non-saturating GAN whose D appends a *minibatch standard deviation*
                    feature (Karras et al. 2018: the mean over hidden units of the standard
                    deviation across the batch) to its last hidden layer, so it can see that a
                    batch lacks diversity. (Not Salimans et al.'s minibatch-feature kernel.)
``pacgan``          non-saturating GAN whose D sees packs of ``pack`` samples (default 2,
                    "PacGAN2"): real and fake batches are reshaped (2B, 2) -> (B, 4)
==================  ===========================================================================

Metrics: :func:`kantorovich.toy_experiments.metrics.mode_metrics` (3σ rule, modes captured,
HQ fraction, reverse KL of the mode histogram) on ``n_eval`` generated points.

:func:`mode_trajectory` is a second, faster trainer (hand-written backward passes, simultaneous
updates) for the setup of Metz et al. (2017, Unrolled GANs, Fig. 1): it records the generated
samples at snapshots over training, to show a GAN collapsing onto one mode and hopping between
modes (variants "gan", "non_saturating", "pacgan", "minibatch"; see ``HOPPING_SETUP``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._results import Result
from .._validation import check_choice, check_int, check_nonnegative, check_positive, check_rng
from . import data as _data
from .metrics import mode_metrics

__all__ = ["GAN_VARIANTS", "HOPPING_SETUP", "ModeCollapseResult", "ModeTrajectory", "PACGAN_TABLE1",
           "TRAJECTORY_VARIANTS", "mode_trajectory", "train_toy_gan"]

GAN_VARIANTS = ("gan", "non_saturating", "wgan_gp", "minibatch", "pacgan")
MIXTURES = ("ring8", "grid25")

#: PacGAN (Lin et al. 2018) Table 1, 2-D ring of 8 Gaussians: modes, HQ %, reverse KL.
PACGAN_TABLE1 = {"gan": (6.3, 98.2, 0.45), "pacgan2": (7.9, 95.6, 0.07)}


@dataclass(frozen=True)
class ModeCollapseResult(Result):
    """A toy GAN trained on a Gaussian mixture, with its mode metrics.

    value : int              modes captured (>= 1 HQ sample) at the end
    hq_fraction : float      fraction of generated points within 3σ of a mode
    reverse_kl : float       KL(mode histogram ‖ uniform), nats (+inf if no HQ point)
    counts : int array (K,)  HQ points per mode
    samples : array (n_eval, 2)
    history : array (k, 4)   (step, modes, hq_fraction, reverse_kl) at checkpoints
    variant, dataset : str
    info : dict              settings and timings
    """

    value: int
    hq_fraction: float = float("nan")
    reverse_kl: float = float("nan")
    counts: Any = None
    samples: Any = None
    history: Any = None
    variant: str = ""
    dataset: str = ""
    info: dict = field(default_factory=dict)


def _check_nets(variant, z_dim, g_hidden, d_hidden, lr_g, lr_d):
    """The network and step-size arguments shared by :func:`train_toy_gan` and
    :func:`mode_trajectory`, validated (same errors, same order)."""
    z_dim = check_int(z_dim, "z_dim", minimum=1)
    g_hidden = tuple(check_int(h, "g_hidden", minimum=1) for h in g_hidden)
    d_hidden = tuple(check_int(h, "d_hidden", minimum=1) for h in d_hidden)
    if variant == "minibatch" and not d_hidden:
        raise ValueError("`d_hidden` must have at least one layer for the minibatch variant.")
    return z_dim, g_hidden, d_hidden, check_positive(lr_g, "lr_g"), check_positive(lr_d, "lr_d")


def _mbstd_disc(body, head, x, activation):
    """D with a minibatch-stddev feature appended to its last hidden layer."""
    import autograd.numpy as anp

    from .nn import mlp

    h = mlp(body, x, activation=activation, out_activation=activation)
    mu = anp.mean(h, axis=0, keepdims=True)
    sd = anp.sqrt(anp.mean((h - mu) ** 2, axis=0) + 1e-8)
    s = anp.mean(sd)
    h2 = anp.concatenate([h, s * anp.ones((h.shape[0], 1))], axis=1)
    return mlp(head, h2, activation=activation)


def train_toy_gan(dataset: str = "ring8", variant: str = "gan", *, n_steps: int = 2000,
                  batch: int = 128, z_dim: int = 2, g_hidden=(64, 64), d_hidden=(64, 64),
                  lr_g: float = 1e-3, lr_d: float = 1e-3, betas=(0.5, 0.9),
                  n_critic: int | None = None, lam: float = 0.1, pack: int = 2,
                  n_eval: int = 2500, n_checkpoints: int = 10, data_kw: dict | None = None,
                  rng=None, progress: Callable | None = None) -> ModeCollapseResult:
    """Train a toy GAN ``variant`` on ``dataset`` and measure mode collapse.

    Parameters
    ----------
    dataset : {"ring8", "grid25"}
    variant : {"gan", "non_saturating", "wgan_gp", "minibatch", "pacgan"}
    n_steps : int
        Generator steps.
    batch : int
        Samples per player per step (for "pacgan": ``batch`` packs of ``pack`` samples).
    z_dim, g_hidden, d_hidden :
        Latent dimension (z ~ N(0, I)) and hidden widths (ReLU G, leaky-ReLU D).
    lr_g, lr_d, betas :
        Adam for both players (default lr 1e-3, betas (0.5, 0.9)).
    n_critic : int or None
        D steps per G step (default 1; 5 for "wgan_gp" as in the WGAN-GP paper).
    lam : float
        Gradient-penalty weight for "wgan_gp" (default 0.1, the WGAN-GP authors' toy code;
        the paper used 10).
    pack : int >= 2
        Pack size for "pacgan".
    n_eval, n_checkpoints :
        Generated points for the metrics, and how many times they are measured.
    data_kw : dict
        Options of the mixture (``radius``/``spacing``, ``std``).
    rng, progress :
        Seed; a wrapper for the step range (e.g. ``ctx.progress``).

    Returns
    -------
    ModeCollapseResult

    Raises ValueError "training diverged at step t" (naming ``lr_d`` and ``lr_g``) when a
    gradient or the new parameters are NaN or infinite.

    Complexity O(n_steps · n_critic · batch · width²).

    Examples
    --------
    >>> r = train_toy_gan("ring8", "non_saturating", n_steps=20, batch=32, g_hidden=(16,),
    ...                   d_hidden=(16,), n_eval=200, rng=0)
    >>> 0 <= r.value <= 8 and r.samples.shape == (200, 2)
    True
    """
    import time

    import autograd.numpy as anp
    from autograd import grad

    from .losses import d_loss, g_loss
    from .nn import gradient_penalty, init_mlp, mlp
    from .optim import adam_betas, checked_step, make_optimizer, quiet_divergence

    check_choice(dataset, "dataset", MIXTURES)
    check_choice(variant, "variant", GAN_VARIANTS)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    batch = check_int(batch, "batch", minimum=1)
    z_dim, g_hidden, d_hidden, lr_g, lr_d = _check_nets(variant, z_dim, g_hidden, d_hidden, lr_g, lr_d)
    lam = check_nonnegative(lam, "lam")
    pack = check_int(pack, "pack", minimum=2)
    n_critic = 5 if (n_critic is None and variant == "wgan_gp") else (n_critic or 1)
    n_critic = check_int(n_critic, "n_critic", minimum=1)
    n_eval = check_int(n_eval, "n_eval", minimum=1)
    n_checkpoints = check_int(n_checkpoints, "n_checkpoints", minimum=1)
    data_kw = dict(data_kw or {})
    centers, std = _data.mode_centers(dataset, **data_kw)
    g = check_rng(rng)

    d_in = 2 * pack if variant == "pacgan" else 2
    G = init_mlp(g, (z_dim, *g_hidden, 2))
    if variant == "minibatch":
        D = {"body": init_mlp(g, (2, *d_hidden)), "head": init_mlp(g, (d_hidden[-1] + 1, 1))}
    else:
        D = init_mlp(g, (d_in, *d_hidden, 1))
    act_d = "leaky_relu"
    d_name = "wgan" if variant == "wgan_gp" else "minimax"
    g_name = {"gan": "minimax", "wgan_gp": "wgan"}.get(variant, "non_saturating")
    k = pack if variant == "pacgan" else 1

    def disc(Dp, x):
        if variant == "minibatch":
            return _mbstd_disc(Dp["body"], Dp["head"], x, act_d)
        if variant == "pacgan":
            x = anp.reshape(x, (-1, d_in))
        return mlp(Dp, x, activation=act_d)

    def gen(Gp, z):
        return mlp(Gp, z, activation="relu")

    def dl(Dp, xr, xf, seed):
        val = d_loss(d_name, disc(Dp, xr), disc(Dp, xf))
        if variant == "wgan_gp" and lam > 0:
            val = val + lam * gradient_penalty(lambda z: mlp(Dp, z, activation=act_d), xr, xf, seed)
        return val

    def gl(Gp, Dp, z):
        return g_loss(g_name, disc(Dp, gen(Gp, z)))

    dgrad = grad(dl)
    ggrad = grad(gl)
    b1, b2 = adam_betas(betas)
    opt_d = make_optimizer("adam", lr_d, beta1=b1, beta2=b2)
    opt_g = make_optimizer("adam", lr_g, beta1=b1, beta2=b2)
    n = batch * k
    checkpoints = set(np.unique(np.linspace(0, n_steps, n_checkpoints + 1).astype(int)).tolist())
    history = []
    z_eval = g.standard_normal((n_eval, z_dim))

    def measure(step):
        m = mode_metrics(gen(G, z_eval), centers, std)
        history.append((step, m["modes_captured"], m["hq_fraction"], m["reverse_kl"]))
        return m

    t0 = time.perf_counter()
    steps = range(1, n_steps + 1)
    if progress is not None:
        steps = progress(steps)
    hint = f"lower `lr_d` (got {lr_d!r}) or `lr_g` (got {lr_g!r})."
    measure(0)
    for t in steps:
        with quiet_divergence():
            for _ in range(n_critic):
                xr = _data.sample(dataset, n, g, **data_kw)
                xf = gen(G, g.standard_normal((n, z_dim)))
                D = checked_step(opt_d, D, dgrad(D, xr, xf, int(g.integers(2 ** 31))), step=t,
                                 what="discriminator", hint=hint)
            G = checked_step(opt_g, G, ggrad(G, D, g.standard_normal((n, z_dim))), step=t,
                             what="generator", hint=hint)
        if t in checkpoints:
            m = measure(t)
    samples = np.asarray(gen(G, z_eval))
    m = mode_metrics(samples, centers, std)
    info = {"n_steps": n_steps, "batch": batch, "z_dim": z_dim, "g_hidden": g_hidden,
            "d_hidden": d_hidden, "lr_g": lr_g, "lr_d": lr_d, "betas": tuple(betas),
            "n_critic": n_critic, "d_loss": d_name, "g_loss": g_name, "centers": centers,
            "std": std, "seconds": time.perf_counter() - t0, "n_eval": n_eval}
    if variant == "wgan_gp":
        info["lam"] = lam
    if variant == "pacgan":
        info["pack"] = pack
    return ModeCollapseResult(value=m["modes_captured"], hq_fraction=m["hq_fraction"],
                              reverse_kl=m["reverse_kl"], counts=m["counts"], samples=samples,
                              history=np.array(history, dtype=float), variant=variant,
                              dataset=dataset, info=info)


# ---------------------------------------------------------------------------------------------
# Mode hopping over training (Metz et al. 2017, Fig. 1): fast numpy loop with hand-written
# backward passes (``nn.mlp_vjp``), snapshots of the generator at regular steps.

TRAJECTORY_VARIANTS = ("gan", "non_saturating", "pacgan", "minibatch")

#: The scaled-down Metz et al. setup the T7 report uses for "samples over training": their ring
#: (radius 2, std 0.02), G 2x128 ReLU, D 1x128 ReLU on x/4, simultaneous Adam with β₁ = 0.5, but
#: z in R^16 (not 256), batch 256 (not 512), lr 2e-4 (not 1e-4) and 10 000 steps (not 25 000),
#: so one run takes ~25-30 s on one core. See docs/theory_games.md (T7) for what was measured.
HOPPING_SETUP = {"n_steps": 10000, "z_dim": 16, "batch": 256, "g_hidden": (128, 128),
                 "d_hidden": (128,), "lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999),
                 "radius": 2.0, "std": 0.02, "d_input_scale": 0.25}


@dataclass(frozen=True)
class ModeTrajectory(Result):
    """Snapshots of a toy GAN's samples over training, with per-snapshot mode occupancy.

    value : int                    occupied modes at the last snapshot
    steps : int array (S,)         generator steps of the snapshots (0 = initialisation)
    samples : array (S, n_eval, 2) generated points at each snapshot (same latent codes)
    shares : array (S, K)          fraction of the n_eval points within ``near`` of mode k
    occupied : int array (S,)      modes with at least ``min_share`` of the points near them
    cell_shares : array (S, K)     fraction of the points whose nearest mode is k (Voronoi cell)
    cells : int array (S,)         modes whose cell holds at least ``min_share`` of the points
    dominant : int array (S,)      the mode whose cell holds the most points
    spread : array (S,)            sqrt(trace Cov) of the samples (the data's is ~ the radius)
    hq_modes : int array (S,)      modes with >= 1 point within 3σ (PacGAN's "modes captured")
    hq_fraction : array (S,)       fraction of points within 3σ of a mode
    centers : array (K, 2); std : float
    variant : str; info : dict     settings, seconds
    """

    value: int
    steps: Any = None
    samples: Any = None
    shares: Any = None
    occupied: Any = None
    cell_shares: Any = None
    cells: Any = None
    dominant: Any = None
    spread: Any = None
    hq_modes: Any = None
    hq_fraction: Any = None
    centers: Any = None
    std: float = float("nan")
    variant: str = ""
    info: dict = field(default_factory=dict)


def _sigmoid_np(t):
    return np.exp(-np.logaddexp(0.0, -t))


def _act_np(a, name):
    if name == "relu":
        return np.maximum(a, 0.0)
    if name == "leaky_relu":
        return np.where(a > 0, a, 0.2 * a)
    return np.tanh(a)


def _act_grad_np(a, h, name):
    if name == "relu":
        return (a > 0).astype(float)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, 0.2)
    return 1.0 - h * h


def _disc_vjp(Dp, x, variant, act):
    """Discriminator logits (n, 1) and a backward ``dout -> (param grads, dx)``.

    "minibatch": D = head([body(x), s]) with s = mean_j std_i(body(x)_ij) (one scalar per batch);
    d s / d h_ij = (h_ij - mu_j) / (n H sd_j) (the mean's own derivative cancels: Σ_i (h_ij - mu_j) = 0).
    """
    from .nn import mlp_vjp

    if variant != "minibatch":
        return mlp_vjp(Dp, x, activation=act)
    a, body_back = mlp_vjp(Dp["body"], x, activation=act)      # last body layer is linear here
    h = _act_np(a, act)
    n, H = h.shape
    mu = h.mean(axis=0)
    sd = np.sqrt(((h - mu) ** 2).mean(axis=0) + 1e-8)
    s = sd.mean()
    out, head_back = mlp_vjp(Dp["head"], np.concatenate([h, np.full((n, 1), s)], axis=1), activation=act)

    def backward(dout):
        g_head, dh2 = head_back(dout)
        dh = dh2[:, :H] + dh2[:, H].sum() * (h - mu) / (n * H * sd)
        g_body, dx = body_back(dh * _act_grad_np(a, h, act))
        return {"body": g_body, "head": g_head}, dx

    return out, backward


def _trajectory_grads(G, Dp, xr, z, variant, pack, scale, act_g="relu", act_d="relu"):
    """Both players' gradients at the same parameters (simultaneous updates).

    D minimises E softplus(-f(s·x_r)) + E softplus(f(s·G(z))) (cross-entropy on logits f, inputs
    scaled by s, ``pack`` points concatenated per D input); G minimises E -softplus(f) ("gan",
    saturating: E log(1 - D)) or E softplus(-f) (the others: -E log D).
    """
    from .nn import mlp_vjp

    n = len(xr)
    b = n // pack
    xf, g_back = mlp_vjp(G, z, activation=act_g)
    fr, back_r = _disc_vjp(Dp, (scale * xr).reshape(b, 2 * pack), variant, act_d)
    ff, back_f = _disc_vjp(Dp, (scale * xf).reshape(b, 2 * pack), variant, act_d)
    gr, _ = back_r(-_sigmoid_np(-fr) / b)
    gf, _ = back_f(_sigmoid_np(ff) / b)
    dff = -_sigmoid_np(ff) / b if variant == "gan" else -_sigmoid_np(-ff) / b
    _, dxf = back_f(dff)
    gG, _ = g_back(scale * dxf.reshape(n, 2))
    return _tree_add(gr, gf), gG


def mode_trajectory(variant: str = "gan", *, n_steps: int = 20000, n_snapshots: int = 10,
                    batch: int = 512, z_dim: int = 256, g_hidden=(128, 128), d_hidden=(128,),
                    lr_g: float = 1e-4, lr_d: float = 1e-4, betas=(0.5, 0.999), radius: float = 2.0,
                    std: float = 0.02, pack: int = 2, d_input_scale: float = 0.25,
                    n_eval: int = 1000, near: float = 0.25, min_share: float = 0.05,
                    rng=None, progress: Callable | None = None) -> ModeTrajectory:
    r"""Train a GAN on the ring of 8 Gaussians and record where its samples sit over training.

    Defaults are the toy setup of Metz et al. (2017, "Unrolled GANs", Fig. 1 and its public
    notebook): ring of radius 2 with std 0.02, z ~ N(0, I_256), G: ReLU MLP 256-128-128-2,
    D: ReLU MLP 2-128-1 on x / 4, Adam(1e-4, β₁ = 0.5) for both, batch 512, **simultaneous**
    updates (both gradients at the same parameters), 20 000 steps. (Their initialisation was
    orthogonal with gain 0.8; ours is Glorot-normal.)

    Parameters
    ----------
    variant : {"gan", "non_saturating", "pacgan", "minibatch"}
        "gan": saturating minimax (G minimises E log(1 - D(G(z)))); the others use the
        non-saturating generator loss -E log D(G(z)). "pacgan": D sees packs of ``pack``
        samples (input 2·pack). "minibatch": D appends the minibatch-stddev scalar (Karras et
        al. 2018) to its last hidden layer (``d_hidden`` must be non-empty).
    n_steps, n_snapshots :
        Training steps (one D and one G update each) and the number of evenly spaced snapshots
        after step 0 (so ``n_snapshots + 1`` in all).
    batch, z_dim, g_hidden, d_hidden, lr_g, lr_d, betas :
        As above (for "pacgan" ``batch`` packs of ``pack`` points per player and step).
    radius, std : ring of 8 Gaussians.
    d_input_scale : D sees ``d_input_scale * x`` (the notebook's 1/4).
    n_eval, near, min_share :
        At each snapshot the same ``n_eval`` latent codes are mapped; a point is *near* mode k
        when within ``near`` of its centre (default 0.25, about a sixth of the 1.53 between
        neighbouring modes at radius 2); a mode is *occupied* when at least ``min_share`` of
        the points are near it. The 3σ metrics of :func:`mode_metrics` are kept too.
    rng, progress : seed; a wrapper for the step range.

    Returns
    -------
    ModeTrajectory

    Raises ValueError "training diverged at step t" (naming ``lr_d`` and ``lr_g``) when a
    gradient or the new parameters are NaN or infinite.

    Complexity O(n_steps · batch · (z_dim·h + h²)) with h the width; about 9 ms per step at
    the defaults on one core (3 min for 20 000 steps).

    Examples
    --------
    >>> tr = mode_trajectory("gan", n_steps=20, n_snapshots=2, batch=32, z_dim=4,
    ...                      g_hidden=(16,), d_hidden=(16,), n_eval=100, rng=0)
    >>> tr.steps.tolist(), tr.samples.shape, tr.shares.shape
    ([0, 10, 20], (3, 100, 2), (3, 8))
    """
    import time

    from .nn import init_mlp, mlp_vjp
    from .optim import adam_betas, checked_step, make_optimizer, quiet_divergence

    check_choice(variant, "variant", TRAJECTORY_VARIANTS)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    n_snapshots = check_int(n_snapshots, "n_snapshots", minimum=1)
    batch = check_int(batch, "batch", minimum=2)
    z_dim, g_hidden, d_hidden, lr_g, lr_d = _check_nets(variant, z_dim, g_hidden, d_hidden, lr_g, lr_d)
    radius = check_positive(radius, "radius"); std = check_positive(std, "std")
    pack = check_int(pack, "pack", minimum=2)
    d_input_scale = check_positive(d_input_scale, "d_input_scale")
    n_eval = check_int(n_eval, "n_eval", minimum=1)
    near = check_positive(near, "near")
    min_share = check_positive(min_share, "min_share")
    g = check_rng(rng)
    centers, _ = _data.mode_centers("ring8", radius=radius, std=std)

    act_g = "relu"
    k = pack if variant == "pacgan" else 1
    G = init_mlp(g, (z_dim, *g_hidden, 2))
    if variant == "minibatch":
        Dp = {"body": init_mlp(g, (2, *d_hidden)), "head": init_mlp(g, (d_hidden[-1] + 1, 1))}
    else:
        Dp = init_mlp(g, (2 * k, *d_hidden, 1))
    b1, b2 = adam_betas(betas)
    opt_g = make_optimizer("adam", lr_g, beta1=b1, beta2=b2)
    opt_d = make_optimizer("adam", lr_d, beta1=b1, beta2=b2)
    z_eval = g.standard_normal((n_eval, z_dim))
    snap_steps = np.unique(np.linspace(0, n_steps, n_snapshots + 1).round().astype(int))
    snaps = []

    def snapshot():
        xs, _ = mlp_vjp(G, z_eval, activation=act_g)
        snaps.append(np.asarray(xs))

    n = batch * k
    t0 = time.perf_counter()
    steps = range(1, n_steps + 1)
    if progress is not None:
        steps = progress(steps)
    hint = f"lower `lr_d` (got {lr_d!r}) or `lr_g` (got {lr_g!r})."
    snapshot()
    for t in steps:
        xr = _data.sample("ring8", n, g, radius=radius, std=std)
        with quiet_divergence():
            gD, gG = _trajectory_grads(G, Dp, xr, g.standard_normal((n, z_dim)), variant, k,
                                       d_input_scale)
            Dp = checked_step(opt_d, Dp, gD, step=t, what="discriminator", hint=hint)
            G = checked_step(opt_g, G, gG, step=t, what="generator", hint=hint)
        if t in snap_steps:
            snapshot()
    seconds = time.perf_counter() - t0
    samples = np.stack(snaps)
    shares, occupied, cell_shares, hq_modes, hq_frac = [], [], [], [], []
    for xs in samples:
        loose = mode_metrics(xs, centers, near / 3.0)             # "HQ" at 3 · near/3 = near
        sh = loose["counts"] / n_eval
        shares.append(sh)
        occupied.append(int(np.sum(sh >= min_share)))
        nearest = np.argmin(((xs[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
        cell_shares.append(np.bincount(nearest, minlength=len(centers)) / n_eval)
        m = mode_metrics(xs, centers, std)
        hq_modes.append(m["modes_captured"]); hq_frac.append(m["hq_fraction"])
    info = {"n_steps": n_steps, "batch": batch, "z_dim": z_dim, "g_hidden": g_hidden,
            "d_hidden": d_hidden, "lr_g": lr_g, "lr_d": lr_d, "betas": tuple(betas),
            "radius": radius, "pack": pack if variant == "pacgan" else None,
            "d_input_scale": d_input_scale, "near": near, "min_share": min_share,
            "n_eval": n_eval, "updates": "simultaneous", "seconds": seconds}
    cell_shares = np.array(cell_shares)
    spread = np.sqrt(samples.var(axis=1).sum(axis=1))
    return ModeTrajectory(value=occupied[-1], steps=snap_steps, samples=samples,
                          shares=np.array(shares), occupied=np.array(occupied),
                          cell_shares=cell_shares, cells=np.sum(cell_shares >= min_share, axis=1),
                          dominant=np.argmax(cell_shares, axis=1), spread=spread,
                          hq_modes=np.array(hq_modes),
                          hq_fraction=np.array(hq_frac), centers=centers, std=std,
                          variant=variant, info=info)


def _tree_add(a, b):
    if isinstance(a, dict):
        return {key: _tree_add(a[key], b[key]) for key in a}
    if isinstance(a, (list, tuple)):
        return type(a)(_tree_add(x, y) for x, y in zip(a, b))
    return a + b
