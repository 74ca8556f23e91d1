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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._results import Result
from .._validation import check_choice, check_int, check_nonnegative, check_positive, check_rng
from . import data as _data
from .metrics import mode_metrics

__all__ = ["GAN_VARIANTS", "ModeCollapseResult", "train_toy_gan", "PACGAN_TABLE1"]

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
    from .optim import make_optimizer

    check_choice(dataset, "dataset", MIXTURES)
    check_choice(variant, "variant", GAN_VARIANTS)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    batch = check_int(batch, "batch", minimum=1)
    z_dim = check_int(z_dim, "z_dim", minimum=1)
    g_hidden = tuple(check_int(h, "g_hidden", minimum=1) for h in g_hidden)
    d_hidden = tuple(check_int(h, "d_hidden", minimum=1) for h in d_hidden)
    if variant == "minibatch" and not d_hidden:
        raise ValueError("`d_hidden` must have at least one layer for the minibatch variant.")
    lr_g = check_positive(lr_g, "lr_g"); lr_d = check_positive(lr_d, "lr_d")
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
    opt_d = make_optimizer("adam", lr_d, beta1=betas[0], beta2=betas[1])
    opt_g = make_optimizer("adam", lr_g, beta1=betas[0], beta2=betas[1])
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
    measure(0)
    for t in steps:
        for _ in range(n_critic):
            xr = _data.sample(dataset, n, g, **data_kw)
            xf = gen(G, g.standard_normal((n, z_dim)))
            D = opt_d.step(D, dgrad(D, xr, xf, int(g.integers(2 ** 31))))
        G = opt_g.step(G, ggrad(G, D, g.standard_normal((n, z_dim))))
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
