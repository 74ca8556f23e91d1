r"""Generator gradients of the original GAN, measured: Arjovsky & Bottou (2017) by experiment.

Each experiment is a function ``run_*(config, rng=None) -> dict`` of numbers and arrays; the
report section (``kantorovich.report.sections.theory``) draws the figures and computes its
verdicts from these numbers.

Setting of T1, T8, T9 ("disjoint segments", Theorem 2.3's hypotheses): the data lie on the
segment ``{(u, 0) : u in [-1, 1]}``; the generator is the affine map

.. math:: g_\theta(z) = c + a z, \quad z \sim U[-1, 1], \quad \theta = (a_1, a_2, c_1, c_2),

a segment at height about ``c_2`` (the *offset*), disjoint from the data. Its Jacobian in
``theta`` is ``J = [[z, 0, 1, 0], [0, z, 0, 1]]`` with ``|J|_2^2 = 1 + z^2``. The discriminator
is an MLP with a sigmoid output, ``D = sigmoid(f)``, trained by Adam on the minimax loss.

Experiments
-----------
run_vanishing_gradients  T1, Theorem 2.4: |grad_theta E log(1 - D(g(z)))| < M eps / (1 - eps)
run_gradient_identity    T2, Theorem 2.5: E[-grad log D*(g(z))] = grad [KL - 2 JS] (Gaussians)
run_cauchy_gradients     T3, Theorem 2.6: D = D* + white noise gives Cauchy gradient coordinates
run_instance_noise       T8: Gaussian noise on D's inputs restores the generator's gradient
run_saturation           T9: log(1 - D) saturates, -log D does not
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import autograd.numpy as anp
import numpy as np
from autograd import grad

from .._validation import check_choice, check_finite, check_int, check_nonnegative, check_positive, check_rng
from . import nn
from .losses import d_loss, log_sigmoid
from .optim import checked_step, make_optimizer, quiet_divergence

__all__ = [
    "CauchyConfig",
    "IdentityConfig",
    "InstanceNoiseConfig",
    "SaturationConfig",
    "SegmentsConfig",
    "VanishingConfig",
    "generator_gradients",
    "generator_jacobian",
    "hill_tail_index",
    "minimax_d_grads",
    "run_cauchy_gradients",
    "run_discriminator_training",
    "run_gradient_identity",
    "run_instance_noise",
    "run_saturation",
    "run_vanishing_gradients",
    "sample_data_segment",
    "segment_generator",
]


# --------------------------------------------------------------------------- the setting
def segment_generator(theta, z):
    """``g_theta(z) = c + a z`` for ``theta = (a1, a2, c1, c2)``, ``z`` of shape (n,) -> (n, 2)."""
    return theta[2:4][None, :] + z[:, None] * theta[0:2][None, :]


def sample_data_segment(n, rng):
    """``n`` points uniform on the data segment ``{(u, 0): u in [-1, 1]}``."""
    return np.column_stack([rng.uniform(-1, 1, n), np.zeros(n)])


def _theta_for_offset(offset, slope):
    return np.array([1.0, slope, 0.0, offset])


def generator_jacobian(z):
    """Per-sample Jacobian ``J_theta g(z) = [[z, 0, 1, 0], [0, z, 0, 1]]``, shape (n, 2, 4).

    (The generator is affine in theta; the tests check this against ``autograd.jacobian``.)
    """
    z = np.asarray(z, dtype=float)
    J = np.zeros((z.size, 2, 4))
    J[:, 0, 0] = J[:, 1, 1] = z
    J[:, 0, 2] = J[:, 1, 3] = 1.0
    return J


def _jacobian_norm_sq(z):
    """Per-sample ``|J_theta g(z)|_2^2`` (spectral norm; equals 1 + z^2 here)."""
    return np.linalg.norm(generator_jacobian(z), ord=2, axis=(1, 2)) ** 2


def minimax_d_grads(params, x_real, x_fake, activation):
    """Gradient in ``params`` of the minimax discriminator loss (hand-written backward).

    Equals ``autograd.grad`` of ``d_loss("minimax", f(x_real), f(x_fake))`` (tested).
    """
    nr = x_real.shape[0]
    f, back = nn.mlp_vjp(params, np.concatenate([x_real, x_fake]), activation=activation)
    f = f[:, 0]
    dout = np.empty_like(f)
    dout[:nr] = -np.exp(log_sigmoid(-f[:nr])) / nr        # d/df softplus(-f) = -sigmoid(-f)
    dout[nr:] = np.exp(log_sigmoid(f[nr:])) / (f.size - nr)  # d/df softplus(f) = sigmoid(f)
    grads, _ = back(dout[:, None])
    return grads


def _logit_and_input_grad(params, x, activation):
    f, back = nn.mlp_vjp(params, x, activation=activation)
    _, dx = back(np.ones_like(f))
    return f[:, 0], dx


def _generator_grads_from(f, grad_f, z):
    """theta-gradients of mean log(1 - D) (saturating) and mean -log D at x_i = g(z_i) (+ noise)."""
    n = f.size
    # d/dx log(1 - D) = -D grad f ; d/dx (-log D) = -(1 - D) grad f ; theta-grad = sum J_i^T (.)
    v_sat = -(np.exp(log_sigmoid(f)) / n)[:, None] * grad_f
    v_ns = -(np.exp(log_sigmoid(-f)) / n)[:, None] * grad_f

    def jt(v):  # J^T v for J = [[z,0,1,0],[0,z,0,1]], summed over the batch
        return np.concatenate([(z[:, None] * v).sum(0), v.sum(0)])

    return jt(v_sat), jt(v_ns)


def generator_gradients(params, theta, z, activation, noise=None):
    """(saturating, non-saturating) generator gradients in ``theta`` for D = sigmoid(mlp).

    ``mean_i log(1 - D(g_theta(z_i) + noise_i))`` and ``mean_i -log D(...)``; hand-written chain
    rule (tested against autograd).
    """
    x = segment_generator(theta, z)
    if noise is not None:
        x = x + noise
    f, gx = _logit_and_input_grad(params, x, activation)
    return _generator_grads_from(f, gx, z)


@dataclass(frozen=True)
class SegmentsConfig:
    """Discriminator training on disjoint segments (shared by T1, T8, T9).

    offset : height of the generator's segment above the data segment (> |slope| keeps
        them disjoint); slope : its tilt a_2; hidden, activation : D's MLP; lr, optimizer :
        D's optimiser; batch : points per class per step; n_steps : discriminator steps;
        n_checkpoints : log-spaced measurement steps; n_eval : points per class for the
        measurements; noise_std : instance noise added to D's inputs (T8; 0 = none).
    """

    offset: float = 1.0
    slope: float = 0.25
    hidden: tuple = (32, 32)
    activation: str = "tanh"
    optimizer: str = "adam"
    lr: float = 1e-2
    batch: int = 128
    n_steps: int = 2000
    n_checkpoints: int = 30
    n_eval: int = 512
    noise_std: float = 0.0

    def validate(self):
        check_positive(self.offset, "offset")
        check_finite(self.slope, "slope")
        check_positive(self.lr, "lr")
        check_int(self.batch, "batch", minimum=1)
        check_int(self.n_steps, "n_steps", minimum=1)
        check_int(self.n_checkpoints, "n_checkpoints", minimum=2)
        check_int(self.n_eval, "n_eval", minimum=1)
        check_nonnegative(self.noise_std, "noise_std")
        check_choice(self.activation, "activation", nn.ACTIVATIONS)
        make_optimizer(self.optimizer, self.lr)  # validates the name
        if abs(self.slope) >= self.offset and self.noise_std == 0:
            raise ValueError(f"`slope` must satisfy |slope| < offset ({self.offset}) so the segments "
                             f"are disjoint; got {self.slope!r}.")
        return self


def _checkpoints(n_steps, k):
    pts = np.unique(np.round(np.geomspace(1, n_steps, k - 1)).astype(int))
    return np.concatenate([[0], pts])


def run_discriminator_training(config: SegmentsConfig = SegmentsConfig(), rng=None, *, progress=None):
    r"""Train D on disjoint segments with G fixed; measure G's gradients at log-spaced steps.

    At every checkpoint, on fixed evaluation batches (``z``, data points and, with instance
    noise, fixed noise draws), records:

    - ``grad_sat``: :math:`\|\nabla_\theta \frac1n\sum_i \log(1 - D(g_\theta(z_i)))\|_2`
      (the minimax / saturating generator loss of Theorem 2.4);
    - ``grad_ns``: the same for the non-saturating loss :math:`-\log D(g_\theta(z))`;
    - ``eps``: the C^1 distance of D from D* (1 on the data, 0 on the generator's segment,
      locally constant, so zero gradient there), measured on the evaluation points:
      ``max(max_data |1 - D|, max_gen D) + max over both of |grad_x D|``;
    - ``eps_gen``: ``max(max_gen D, max_gen |grad_x D|)``, the part the proof of Theorem 2.4
      uses; ``bound`` = ``M eps/(1 - eps)`` (``inf`` where ``eps >= 1``: vacuous);
    - ``mean_d_fake``: mean D on generated points; ``d_loss``.

    ``M = sqrt(mean_i |J_theta g(z_i)|_2^2)`` on the evaluation batch, so that by
    Cauchy-Schwarz the batch gradient obeys the theorem's inequality exactly whenever
    ``eps < 1`` (a deterministic check of the proof's chain of inequalities on data).

    Without noise (``noise_std = 0``) the points are used as they are. With noise ``s``, D
    is trained and evaluated on ``x + s n``, ``n ~ N(0, I)`` for real and fake points alike, and
    ``eps``/``bound`` are not defined (the noisy supports overlap): they are NaN-free ``inf``.

    Returns
    -------
    dict with arrays ``steps, grad_sat, grad_ns, eps, eps_gen, bound, mean_d_fake, d_loss``,
    scalars ``M`` and the config as a dict. Cost O(n_steps * batch * width^2). Raises
    ValueError "training diverged at step t" (naming ``lr``) when D's gradient or its new
    parameters are NaN or infinite.
    """
    cfg = config.validate()
    g = check_rng(rng)
    theta = _theta_for_offset(cfg.offset, cfg.slope)
    params = nn.init_mlp(g, [2, *cfg.hidden, 1])
    opt = make_optimizer(cfg.optimizer, cfg.lr)
    act = cfg.activation
    s = float(cfg.noise_std)

    # fixed evaluation batches
    z_eval = g.uniform(-1, 1, cfg.n_eval)
    x_eval = sample_data_segment(cfg.n_eval, g)
    n_fake_eval = g.normal(size=(cfg.n_eval, 2)) * s
    n_real_eval = g.normal(size=(cfg.n_eval, 2)) * s
    M = float(np.sqrt(np.mean(_jacobian_norm_sq(z_eval))))
    checkpoints = set(_checkpoints(cfg.n_steps, cfg.n_checkpoints).tolist())
    hist = {k: [] for k in ("steps", "grad_sat", "grad_ns", "eps", "eps_gen", "bound", "mean_d_fake", "d_loss")}

    def measure(step):
        xf = segment_generator(theta, z_eval) + n_fake_eval
        xr = x_eval + n_real_eval
        ff, gf_x = _logit_and_input_grad(params, xf, act)
        fr, gr_x = _logit_and_input_grad(params, xr, act)
        d_fake = np.exp(log_sigmoid(ff))
        one_minus_d_real = np.exp(log_sigmoid(-fr))
        # |grad_x D| = D (1 - D) |grad_x f|, with D (1 - D) = exp(log_sig(f) + log_sig(-f))
        gf = np.linalg.norm(gf_x, axis=1) * np.exp(log_sigmoid(ff) + log_sigmoid(-ff))
        gr = np.linalg.norm(gr_x, axis=1) * np.exp(log_sigmoid(fr) + log_sigmoid(-fr))
        g_sat, g_ns = _generator_grads_from(ff, gf_x, z_eval)
        if s == 0:
            eps = max(float(one_minus_d_real.max()), float(d_fake.max())) + max(float(gf.max()), float(gr.max()))
            eps_gen = max(float(d_fake.max()), float(gf.max()))
            bound = M * eps / (1 - eps) if eps < 1 else math.inf
        else:
            eps = eps_gen = bound = math.inf
        hist["steps"].append(step)
        hist["grad_sat"].append(float(np.linalg.norm(g_sat)))
        hist["grad_ns"].append(float(np.linalg.norm(g_ns)))
        hist["eps"].append(eps)
        hist["eps_gen"].append(eps_gen)
        hist["bound"].append(bound)
        hist["mean_d_fake"].append(float(d_fake.mean()))
        hist["d_loss"].append(float(d_loss("minimax", fr, ff)))

    steps = range(cfg.n_steps + 1)
    if progress is not None:
        steps = progress(steps)
    for step in steps:
        if step in checkpoints:
            measure(step)
        if step == cfg.n_steps:
            break
        xr = sample_data_segment(cfg.batch, g)
        xf = segment_generator(theta, g.uniform(-1, 1, cfg.batch))
        if s > 0:
            xr = xr + s * g.normal(size=xr.shape)
            xf = xf + s * g.normal(size=xf.shape)
        with quiet_divergence():
            params = checked_step(opt, params, minimax_d_grads(params, xr, xf, act), step=step + 1,
                                  what="discriminator", hint=f"lower `lr` (got {cfg.lr!r}).")
    out = {k: np.asarray(v, dtype=float) for k, v in hist.items()}
    out["M"] = M
    out["config"] = asdict(cfg)
    return out


# --------------------------------------------------------------------------- T1
@dataclass(frozen=True)
class VanishingConfig:
    """T1: one discriminator training per generator "age" (offset of its segment)."""

    offsets: tuple = (2.0, 1.0, 0.5)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)


def run_vanishing_gradients(config: VanishingConfig = VanishingConfig(), rng=None, *, progress=None):
    """T1 (Theorem 2.4): gradient norms and the bound ``M eps/(1-eps)`` for several generators.

    Returns ``{"runs": {offset: history}, "fall": {offset: grad_first / grad_last},
    "bound_held": {offset: bool over checkpoints with eps < 1}, "n_valid": {offset: count},
    "n_steps": ...}``; a history is the dict of :func:`run_discriminator_training`.
    """
    g = check_rng(rng)
    if len(config.offsets) == 0:
        raise ValueError("`offsets` must hold at least one generator offset; got ().")
    runs, fall, held, n_valid = {}, {}, {}, {}
    for off in config.offsets:
        cfg = SegmentsConfig(**{**asdict(config.segments), "offset": float(off), "noise_std": 0.0})
        h = run_discriminator_training(cfg, g, progress=progress)
        valid = np.isfinite(h["bound"])
        runs[float(off)] = h
        fall[float(off)] = float(h["grad_sat"][0] / max(h["grad_sat"][-1], 1e-300))
        n_valid[float(off)] = int(valid.sum())
        held[float(off)] = bool(np.all(h["grad_sat"][valid] < h["bound"][valid]))
    return {"runs": runs, "fall": fall, "bound_held": held, "n_valid": n_valid,
            "n_steps": config.segments.n_steps}


# --------------------------------------------------------------------------- T2
@dataclass(frozen=True)
class IdentityConfig:
    """T2: P_r = N(0, 1), P_g = N(theta, 1) (g_theta(z) = theta + z), D* fixed at theta_0.

    thetas : the theta_0 values; n_mc : Monte Carlo size for the left side; h : central
    finite-difference step in theta for the right side.
    """

    thetas: tuple = (0.25, 0.5, 1.0, 2.0, 3.0)
    n_mc: int = 20000
    h: float = 1e-3


def _log_normal(x, m):
    return -0.5 * (x - m) ** 2 - 0.5 * np.log(2 * np.pi)


def _quad(fun, theta):
    from scipy.integrate import quad

    lo, hi = min(0.0, theta) - 14.0, max(0.0, theta) + 14.0
    val, _ = quad(fun, lo, hi, points=sorted({0.0, theta / 2, theta}), limit=400, epsabs=1e-13, epsrel=1e-12)
    return val


def js_gaussians(theta):
    """JS(N(theta, 1), N(0, 1)) in nats (the 1/2-weighted definition), by quadrature."""

    def integrand(x):
        lg, lr = _log_normal(x, theta), _log_normal(x, 0.0)
        lm = np.logaddexp(lg, lr) - np.log(2)
        return 0.5 * np.exp(lg) * (lg - lm) + 0.5 * np.exp(lr) * (lr - lm)

    return _quad(integrand, theta)


def run_gradient_identity(config: IdentityConfig = IdentityConfig(), rng=None):
    r"""T2 (Theorem 2.5): both sides of the identity at every ``theta_0``.

    Left side :math:`E_z[-\partial_\theta \log D^*(\theta + z)]|_{\theta_0}` with
    :math:`D^* = p_r / (p_r + p_{\theta_0})` held fixed: by quadrature (``lhs_quad``) and by
    Monte Carlo with autograd (``lhs_mc`` with standard error ``lhs_se``). Right side
    :math:`\partial_\theta[KL(P_\theta\|P_r) - 2 JS(P_\theta, P_r)]` with ``KL = theta^2/2``
    and JS by quadrature, differentiated by central differences (``rhs``).
    """
    g = check_rng(rng)
    n_mc = check_int(config.n_mc, "n_mc", minimum=2)
    h = check_positive(config.h, "h")
    rows = []
    for t0 in config.thetas:
        t0 = float(t0)

        def neg_log_dstar(x, t0=t0):
            # -log D*(x) = log(p_r + p_0) - log p_r
            return anp.logaddexp(_log_normal(x, 0.0), _log_normal(x, t0)) - _log_normal(x, 0.0)

        def dneg_log_dstar(x, t0=t0):
            lr, l0 = _log_normal(x, 0.0), _log_normal(x, t0)
            w0 = np.exp(l0 - np.logaddexp(lr, l0))  # p_0 / (p_r + p_0)
            return (1 - w0) * (-x) + w0 * (-(x - t0)) + x

        lhs_quad = _quad(lambda x, t0=t0: np.exp(_log_normal(x, t0)) * dneg_log_dstar(x), t0)
        z = g.normal(size=n_mc)
        per_sample = grad(lambda th, z=z: anp.sum(neg_log_dstar(th + z)))(t0)  # sum of per-sample grads
        # per-sample values for the standard error (same formula, vectorised)
        vals = dneg_log_dstar(t0 + z)
        lhs_mc = float(per_sample) / n_mc
        lhs_se = float(vals.std(ddof=1) / np.sqrt(n_mc))

        def rhs_fun(t):
            return 0.5 * t * t - 2.0 * js_gaussians(t)

        rhs = (rhs_fun(t0 + h) - rhs_fun(t0 - h)) / (2 * h)
        rows.append({"theta0": t0, "lhs_quad": lhs_quad, "lhs_mc": lhs_mc, "lhs_se": lhs_se, "rhs": rhs,
                     "kl_grad": t0, "js": js_gaussians(t0), "js_grad": (js_gaussians(t0 + h) - js_gaussians(t0 - h)) / (2 * h)})
    arr = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    arr["max_abs_err_quad"] = float(np.max(np.abs(arr["lhs_quad"] - arr["rhs"])))
    arr["max_z_mc"] = float(np.max(np.abs(arr["lhs_mc"] - arr["rhs"]) / arr["lhs_se"]))
    return arr


# --------------------------------------------------------------------------- T3
@dataclass(frozen=True)
class CauchyConfig:
    """T3: D = D* + white noise on the generator's segment.

    n_draws : number of gradient estimates; batch : z's per estimate; sigma_d, sigma_grad :
    standard deviations of the noise on D and on grad_x D; d_star : value of D* on the
    generator's support (0: disjoint supports, Theorem 2.6's case; the control run uses
    0.5: P_g = P_r); tail_fraction : share of the largest |values| used by the Hill estimator.
    """

    n_draws: int = 20000
    batch: int = 16
    sigma_d: float = 0.1
    sigma_grad: float = 0.1
    d_star: float = 0.0
    control_d_star: float = 0.5
    tail_fraction: float = 0.02


def hill_tail_index(x, k):
    r"""Hill estimator of the tail index alpha of ``|x|`` from its ``k`` largest values.

    :math:`\hat\alpha = \left(\frac1k\sum_{i=1}^k \log X_{(i)} - \log X_{(k+1)}\right)^{-1}`
    (``X_(1) >= X_(2) >= ...``) over the nonzero ``|x|``. Cauchy: alpha = 1; a Gaussian's
    estimate grows with n. ValueError if ``x`` holds fewer than ``k + 1`` nonzero values.
    """
    a = np.abs(np.asarray(x, dtype=float)).ravel()
    if not np.all(np.isfinite(a)):
        raise ValueError("`x` must contain only finite values; got NaN or infinity.")
    a = np.sort(a[a > 0])[::-1]   # log X_(k+1) needs X_(k+1) > 0: zeros carry no tail
    k = check_int(k, "k", minimum=1)
    if k > a.size - 1:
        raise ValueError(f"`k` must be an integer <= {a.size - 1} (the nonzero values of `x` "
                         f"less one); got {k}.")
    xi = np.mean(np.log(a[:k])) - np.log(a[k])
    return float(1.0 / xi) if xi > 0 else math.inf


def _noisy_gradients(cfg, d_star, g):
    """Draws of ``-grad_theta (1/B) sum_i log D(g_theta(z_i))`` under D = D* + noise."""
    n, B = cfg.n_draws, cfg.batch
    z = g.uniform(-1, 1, (n, B))
    D = d_star + cfg.sigma_d * g.normal(size=(n, B))            # D(x_i) = D* + white noise
    gradD = cfg.sigma_grad * g.normal(size=(n, B, 2))            # grad D* = 0 on the segment
    # chain rule: -grad_theta log D(g(z)) = -J^T grad_x D / D, J = [[z,0,1,0],[0,z,0,1]]
    r = gradD / D[..., None]
    per = -np.concatenate([z[..., None] * r, r], axis=-1)       # (n, B, 4): (a1, a2, c1, c2)
    return per.mean(axis=1)                                      # (n, 4)


def _fit_stats(x):
    from scipy import stats

    loc_c, sc_c = stats.cauchy.fit(x)
    loc_n, sc_n = stats.norm.fit(x)
    ll_c = float(np.sum(stats.cauchy.logpdf(x, loc_c, sc_c)))
    ll_n = float(np.sum(stats.norm.logpdf(x, loc_n, sc_n)))
    ks_c = float(stats.kstest(x, "cauchy", args=(loc_c, sc_c)).statistic)
    ks_n = float(stats.kstest(x, "norm", args=(loc_n, sc_n)).statistic)
    return {"cauchy_loc": loc_c, "cauchy_scale": sc_c, "norm_loc": loc_n, "norm_scale": sc_n,
            "loglik_cauchy": ll_c, "loglik_norm": ll_n, "ks_cauchy": ks_c, "ks_norm": ks_n}


def _running_variance(x, ns):
    c1 = np.cumsum(x)
    c2 = np.cumsum(x * x)
    out = []
    for n in ns:
        m = c1[n - 1] / n
        out.append((c2[n - 1] - n * m * m) / (n - 1))
    return np.array(out)


def run_cauchy_gradients(config: CauchyConfig = CauchyConfig(), rng=None):
    r"""T3 (Theorem 2.6): heavy-tailed generator gradients under a white-noise discriminator.

    Model (the theorem's hypothesis): on the generator's segment, ``D = D* + sigma_d eps`` and
    ``grad_x D = grad_x D* + sigma_grad r`` with ``eps, r`` independent standard normals at
    every point, ``D* = d_star`` constant there (so ``grad D* = 0``). The per-point gradient is
    ``-J^T r sigma_grad/(d_star + sigma_d eps)``: for ``d_star = 0`` a ratio of centred normals,
    Cauchy, and a batch mean of Cauchy draws is Cauchy again. (``D`` is negative half the time
    in this formal model; ``grad log D = grad D / D`` is read as ``grad log |D|``.) The control
    run uses ``d_star = control_d_star`` (overlapping supports), where the denominator stays
    away from 0.

    Returns per run (``"disjoint"`` and ``"control"``): the draws of coordinate ``c1``
    (``x``), fits (:func:`scipy.stats.cauchy.fit`, :func:`scipy.stats.norm.fit`), their
    log-likelihoods and KS statistics, the Hill tail index, and the running variance at
    sample sizes ``ns``.
    """
    g = check_rng(rng)
    n = check_int(config.n_draws, "n_draws", minimum=50)
    check_int(config.batch, "batch", minimum=1)
    check_positive(config.sigma_d, "sigma_d")
    check_positive(config.sigma_grad, "sigma_grad")
    frac = check_positive(config.tail_fraction, "tail_fraction")
    if frac >= 1:
        raise ValueError(f"`tail_fraction` must be a float in (0, 1); got {config.tail_fraction!r}.")
    for name in ("d_star", "control_d_star"):
        check_finite(getattr(config, name), name)
    k = min(max(5, int(frac * n)), n - 1)
    ns = np.unique(np.round(np.geomspace(10, n, 60)).astype(int))
    out = {"ns": ns, "k": k}
    for name, dstar in (("disjoint", config.d_star), ("control", config.control_d_star)):
        grads = _noisy_gradients(config, float(dstar), g)
        x = grads[:, 2]  # coordinate c1 (the generator's horizontal translation)
        res = _fit_stats(x)
        res["hill_alpha"] = hill_tail_index(x, k)
        res["hill_alpha_all_coords"] = [hill_tail_index(grads[:, j], k) for j in range(4)]
        res["running_var"] = _running_variance(x, ns)
        res["x"] = x
        res["d_star"] = float(dstar)
        out[name] = res
    return out


# --------------------------------------------------------------------------- T8
@dataclass(frozen=True)
class InstanceNoiseConfig:
    """T8: the T1 setting at one offset, trained with each instance-noise level."""

    noise_stds: tuple = (0.0, 0.2, 0.5)
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)


def run_instance_noise(config: InstanceNoiseConfig = InstanceNoiseConfig(), rng=None, *, progress=None):
    """T8: generator gradient norm (saturating loss) as D trains, per noise level.

    Returns ``{"runs": {noise_std: history}, "final": {noise_std: last grad norm},
    "ratio_to_clean": {noise_std: final / final at 0}}``.
    """
    g = check_rng(rng)
    runs, final = {}, {}
    for s in config.noise_stds:
        cfg = SegmentsConfig(**{**asdict(config.segments), "noise_std": float(s)})
        h = run_discriminator_training(cfg, g, progress=progress)
        runs[float(s)] = h
        final[float(s)] = float(h["grad_sat"][-1])
    clean = final.get(0.0)
    ratio = {s: (v / clean if clean else math.inf) for s, v in final.items()} if clean is not None else {}
    return {"runs": runs, "final": final, "ratio_to_clean": ratio}


# --------------------------------------------------------------------------- T9
@dataclass(frozen=True)
class SaturationConfig:
    """T9: the T1 setting at one offset; both generator losses measured as D trains."""

    segments: SegmentsConfig = field(default_factory=SegmentsConfig)


def run_saturation(config: SaturationConfig = SaturationConfig(), rng=None, *, progress=None):
    """T9: saturating vs non-saturating generator gradient norms against D's confidence.

    Per sample, with logit f: d/dtheta log(1 - D) = -D grad f and d/dtheta (-log D) =
    -(1 - D) grad f, so the ratio of the two is D/(1 - D): once D rejects the fakes
    (D(G(z)) -> 0) the saturating gradient is smaller by about a factor D(G(z)).

    Returns the history of :func:`run_discriminator_training` plus ``ratio`` = grad_ns /
    grad_sat per checkpoint and ``ratio_final``.
    """
    cfg = SegmentsConfig(**{**asdict(config.segments), "noise_std": 0.0})
    h = run_discriminator_training(cfg, rng, progress=progress)
    h["ratio"] = h["grad_ns"] / np.maximum(h["grad_sat"], 1e-300)
    h["ratio_final"] = float(h["ratio"][-1])
    return h
