r"""T4: learning the parallel lines with a JS-GAN and with a WGAN (one generator parameter).

Data ``P_0 = (0, Z)``, generator ``g_theta(z) = (theta, z)``, ``Z, z ~ U[0, 1]`` (Arjovsky et
al. 2017, Example 1). ``W_1(P_0, P_theta) = |theta|``, so an (ideal) WGAN critic gives the
generator the gradient ``d W / d theta = sign(theta)`` wherever ``theta != 0``, while
``JS = log 2`` is constant for ``theta != 0``: a good JS discriminator leaves the generator
with (almost) no gradient.

Training: the discriminator / critic is pretrained for ``n_pretrain`` steps, then each
generator step follows ``n_critic`` critic steps. The generator uses plain SGD so that the
size of its gradient matters (Adam would rescale a vanishing gradient back to ``lr``).

Variants (``run_parallel_lines(config)``):

- ``"js"``: minimax GAN, D = sigmoid(MLP), generator loss ``E log(1 - D(g(z)))`` (saturating);
- ``"js_ns"``: same D, the non-saturating generator loss ``-E log D(g(z))``;
- ``"wgan_gp"``: critic MLP with gradient penalty ``lambda`` (Gulrajani et al.), generator
  loss ``-E f(g(z))``; the penalty makes the critic about 1-Lipschitz, so its gradient
  estimates ``sign(theta)`` with magnitude about 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import autograd.numpy as anp
import numpy as np
from autograd import grad

from .._validation import check_choice, check_finite, check_int, check_nonnegative, check_positive, check_rng
from . import nn
from .gradients import _logit_and_input_grad, minimax_d_grads
from .losses import log_sigmoid
from .optim import checked_step, make_optimizer, quiet_divergence

__all__ = ["VARIANTS", "ParallelLinesConfig", "run_parallel_lines", "sample_lines"]

VARIANTS = ("js", "js_ns", "wgan_gp")


def sample_lines(theta, n, rng):
    """``n`` points of ``(theta, z)``, ``z ~ U[0, 1]``, shape (n, 2)."""
    return np.column_stack([np.full(n, float(theta)), rng.uniform(0, 1, n)])


@dataclass(frozen=True)
class ParallelLinesConfig:
    """T4 settings (defaults: publication size; the report's quick mode shrinks the steps)."""

    theta0: float = 1.0
    variants: tuple = VARIANTS
    n_gen_steps: int = 150
    n_critic: int = 5
    n_pretrain: int = 200
    batch: int = 64
    hidden: tuple = (32, 32)
    activation: str = "tanh"
    lr_d: float = 5e-3
    beta1: float = 0.5
    beta2: float = 0.9
    lr_g: float = 0.02
    gp_lambda: float = 10.0

    def validate(self):
        check_finite(self.theta0, "theta0")
        check_int(self.n_gen_steps, "n_gen_steps", minimum=1)
        check_int(self.n_critic, "n_critic", minimum=1)
        check_int(self.n_pretrain, "n_pretrain", minimum=0)
        check_int(self.batch, "batch", minimum=1)
        check_positive(self.lr_d, "lr_d")
        check_positive(self.lr_g, "lr_g")
        check_nonnegative(self.gp_lambda, "gp_lambda")
        check_choice(self.activation, "activation", nn.ACTIVATIONS)
        if len(self.variants) == 0:
            raise ValueError(f"`variants` must name at least one of {VARIANTS}; got ().")
        for v in self.variants:
            check_choice(v, "variants", VARIANTS)
        return self


def _run_one(variant, cfg, g, progress=None):
    act = cfg.activation
    params = nn.init_mlp(g, [2, *cfg.hidden, 1])
    opt_d = make_optimizer("adam", cfg.lr_d, beta1=cfg.beta1, beta2=cfg.beta2)
    theta = float(cfg.theta0)
    lam = float(cfg.gp_lambda)
    hint = f"lower `lr_d` (got {cfg.lr_d!r}) or `lr_g` (got {cfg.lr_g!r})."
    at = {"step": 0}  # generator step, for the messages of a diverging run

    if variant == "wgan_gp":
        def critic_loss(p, xr, xf, seed):
            crit = lambda x: nn.mlp(p, x, activation=act)[:, 0]
            base = anp.mean(crit(xf)) - anp.mean(crit(xr))
            return base + lam * nn.gradient_penalty(crit, xr, xf, seed) if lam > 0 else base

        critic_grad = grad(critic_loss)

        def d_step(p):
            xr, xf = sample_lines(0.0, cfg.batch, g), sample_lines(theta, cfg.batch, g)
            with quiet_divergence():
                return checked_step(opt_d, p, critic_grad(p, xr, xf, int(g.integers(2 ** 31))),
                                    step=at["step"], what="critic", hint=hint)
    else:
        def d_step(p):
            xr, xf = sample_lines(0.0, cfg.batch, g), sample_lines(theta, cfg.batch, g)
            with quiet_divergence():
                return checked_step(opt_d, p, minimax_d_grads(p, xr, xf, act), step=at["step"],
                                    what="discriminator", hint=hint)

    def gen_grad(p):
        """d/dtheta of the generator loss on a fresh batch, and the critic's value estimate."""
        xf = sample_lines(theta, cfg.batch, g)
        xr = sample_lines(0.0, cfg.batch, g)
        f, gx = _logit_and_input_grad(p, xf, act)
        fr, _ = _logit_and_input_grad(p, xr, act)
        dfdtheta = gx[:, 0]  # d x / d theta = (1, 0)
        if variant == "wgan_gp":
            return float(-np.mean(dfdtheta)), float(np.mean(fr) - np.mean(f))
        if variant == "js":  # d/dtheta mean log(1 - sigmoid(f)) = mean(-sigmoid(f) f')
            gr = float(np.mean(-np.exp(log_sigmoid(f)) * dfdtheta))
        else:  # d/dtheta mean -log sigmoid(f) = mean(-(1 - sigmoid(f)) f')
            gr = float(np.mean(-np.exp(log_sigmoid(-f)) * dfdtheta))
        # JS lower bound from the discriminator: (V(D) + log 4) / 2
        v = np.mean(log_sigmoid(fr)) + np.mean(log_sigmoid(-f))
        return gr, float(0.5 * (v + np.log(4.0)))

    for _ in range(cfg.n_pretrain):
        params = d_step(params)
    thetas, grads, values = [theta], [], []
    it = range(cfg.n_gen_steps)
    if progress is not None:
        it = progress(it)
    for step in it:
        at["step"] = step + 1
        for _ in range(cfg.n_critic):
            params = d_step(params)
        gr, val = gen_grad(params)
        grads.append(gr)
        values.append(val)
        theta = theta - cfg.lr_g * gr
        if not np.isfinite(theta):
            raise ValueError(f"training diverged at step {step + 1}: the generator parameter "
                             f"theta overflowed to infinity or NaN; {hint}")
        thetas.append(theta)
    return {"theta": np.array(thetas), "grad": np.array(grads), "value": np.array(values)}


def run_parallel_lines(config: ParallelLinesConfig = ParallelLinesConfig(), rng=None, *, progress=None):
    """Train each variant from ``theta0``; record theta, the generator gradient and D's value.

    Returns
    -------
    dict
        ``runs[variant] = {"theta": (n_gen_steps + 1,), "grad": (n_gen_steps,), "value": ...}``
        (``value``: the critic's W_1 estimate ``E f(real) - E f(fake)`` for "wgan_gp", the JS
        lower bound ``(V(D) + log 4)/2`` for the JS variants), and per variant
        ``final_abs_theta`` (mean |theta| over the last fifth of training),
        ``mean_abs_grad_early`` (mean |gradient| over the first fifth) and
        ``sign_agreement`` (share of steps with |theta| > 0.1 whose descent direction
        ``-grad`` points toward 0).

    Raises ValueError "training diverged at step t" (naming ``lr_d`` and ``lr_g``) when a
    gradient, the critic's parameters or theta are NaN or infinite.
    """
    cfg = config.validate()
    g = check_rng(rng)
    out = {"runs": {}, "final_abs_theta": {}, "mean_abs_grad_early": {}, "sign_agreement": {},
           "config": asdict(cfg)}
    for v in cfg.variants:
        r = _run_one(v, cfg, g, progress)
        out["runs"][v] = r
        k = max(1, cfg.n_gen_steps // 5)
        out["final_abs_theta"][v] = float(np.mean(np.abs(r["theta"][-k:])))
        out["mean_abs_grad_early"][v] = float(np.mean(np.abs(r["grad"][:k])))
        far = np.abs(r["theta"][:-1]) > 0.1
        agree = np.sign(r["grad"][far]) == np.sign(r["theta"][:-1][far])
        out["sign_agreement"][v] = float(agree.mean()) if far.any() else float("nan")
    return out
