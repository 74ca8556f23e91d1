"""T5: Lipschitz WGAN critics by weight clipping, gradient penalty and spectral normalisation.

By Kantorovich-Rubinstein duality W_1(P, Q) = sup_{Lip(f) <= 1} E_P f - E_Q f, and a family
of K-Lipschitz functions gives K·W_1 (C8). A critic f (an MLP) is trained to maximise
E_P f - E_Q f under one of three constraints:

- ``"clip"``: every weight clipped to [-c, c] after each step (WGAN; c = 0.01). The family is
  K-Lipschitz for some K far below 1 that nobody controls: the raw estimate is K·W, tiny.
- ``"gp"``: the penalty λ E (|∇f(x̂)| - K)² on random interpolates (WGAN-GP; λ = 10, or the
  authors' toy λ = 0.1, ``center`` K = 1). A soft constraint: small λ lets the estimate
  overshoot W. The two-sided penalty also makes a critic that starts with the wrong sign
  (E_P f < E_Q f) a local minimum: flipping it means passing through slope 0, which costs
  λ·(0 - 1)² > W, so some seeds stay stuck with a negative estimate for hundreds of steps.
- ``"sn"``: each layer divided by its spectral norm σ(W) (power iteration, SN-GAN): the MLP is
  1-Lipschitz (ReLU is 1-Lipschitz), so the estimate is a lower bound of W up to the power
  iteration's error.
- ``"none"``: no constraint (the estimate grows without bound).

Every result carries a certificate: ``lipschitz_bound`` = Π_l ‖W_l‖₂ (exact matrix 2-norms)
bounds the Lipschitz constant of the trained critic, so E_{P_n} f - E_{Q_n} f <=
lipschitz_bound · W_1(P_n, Q_n) on the evaluation samples by duality, an inequality that
always holds and that the tests check.

The exact W_1 between the evaluation samples is the LP (``kantorovich.ot.emd`` with a
Euclidean cost; ``pot.emd2`` if unavailable). The toys (``TOYS``) are translations, whose
population W_1 is the length of the shift exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .._results import Result
from .._validation import check_choice, check_finite, check_int, check_nonnegative, check_positive, check_rng
from . import data as _data

__all__ = ["CRITIC_METHODS", "TOYS", "CriticResult", "toy_sampler", "exact_w1",
           "train_critic", "critic_value", "critic_surface", "layer_sigmas"]

CRITIC_METHODS = ("clip", "gp", "sn", "none")
TOYS = ("gaussians", "rings", "segments")


def toy_sampler(name: str, shift: float = 1.0):
    """Samplers (P, Q) of a 2-D toy and its exact W_1 (= |shift|: Q is P translated).

    ``"gaussians"``: P = N(0, 0.3² I), Q = P + (shift, 0). ``"rings"``: P uniform on the unit
    circle with noise 0.05, Q = P + (shift, 0). ``"segments"``: the parallel lines
    P = (0, Z), Q = (shift, Z), Z ~ U[0, 1] (disjoint supports, JS = log 2, W = shift).

    Returns ``(sample_p, sample_q, w1)`` with ``sample_*(n, rng) -> (n, 2)``.

    Examples
    --------
    >>> sp, sq, w = toy_sampler("segments", 0.5)
    >>> w, sq(3, 0)[:, 0].tolist()
    (0.5, [0.5, 0.5, 0.5])
    """
    check_choice(name, "name", TOYS)
    shift = check_finite(shift, "shift")
    s = np.array([shift, 0.0])
    if name == "gaussians":
        def sp(n, rng):
            return 0.3 * check_rng(rng).standard_normal((n, 2))
    elif name == "rings":
        def sp(n, rng):
            return _data.sample("circle", n, rng, noise=0.05)
    else:
        def sp(n, rng):
            return _data.sample("parallel_lines", n, rng, theta=0.0)

    def sq(n, rng):
        return sp(n, rng) + s

    return sp, sq, abs(shift)


def exact_w1(x, y) -> float:
    """W_1 between the uniform empirical measures on ``x`` (n, d) and ``y`` (m, d), by the LP."""
    from scipy.spatial.distance import cdist

    x = np.asarray(x, dtype=float); y = np.asarray(y, dtype=float)
    M = cdist(x, y)
    a = np.full(len(x), 1.0 / len(x)); b = np.full(len(y), 1.0 / len(y))
    try:
        from ..ot import emd

        return float(emd(a, b, M, return_plan=False).value)
    except (ImportError, AttributeError):  # pragma: no cover - the LP module is absent
        import ot as pot

        return float(pot.emd2(a, b, M))


def layer_sigmas(params) -> list[float]:
    """Exact spectral norms ‖W_l‖₂ of every layer (numpy's matrix 2-norm)."""
    return [float(np.linalg.norm(np.asarray(W, dtype=float), 2)) for W, _ in params]


@dataclass(frozen=True)
class CriticResult(Result):
    """A trained Lipschitz critic and its W_1 estimate.

    value : float            E_P f - E_Q f on fresh evaluation samples (the estimate of K·W)
    w1_lp : float            exact W_1 between those evaluation samples (LP)
    w1_true : float          population W_1 (nan when unknown)
    method : str             "clip", "gp", "sn" or "none"
    lipschitz_bound : float  Π_l ‖W_l‖₂ of the critic as evaluated: certified Lip(f) bound
    max_grad_norm : float    max |∇f| over evaluation points and interpolates (a lower
                             estimate of Lip(f))
    sigmas : tuple           ‖W_l‖₂ per layer of the critic as evaluated (after SN for "sn")
    history : array (k, 2)   (step, training-batch estimate) checkpoints
    params : list            critic parameters (raw; apply ``spectral_normalize`` for "sn":
                             use :func:`critic_value`)
    info : dict              settings
    """

    value: float
    w1_lp: float = float("nan")
    w1_true: float = float("nan")
    method: str = ""
    lipschitz_bound: float = float("nan")
    max_grad_norm: float = float("nan")
    sigmas: tuple = ()
    history: Any = None
    params: Any = None
    info: dict = field(default_factory=dict)


def critic_value(result: CriticResult, x) -> np.ndarray:
    """Evaluate the trained critic of ``result`` at points ``x`` (n, 2) -> (n,)."""
    from .nn import mlp

    return np.asarray(mlp(result.info["eval_params"], np.asarray(x, dtype=float),
                          activation=result.info["activation"])).ravel()


def critic_surface(result: CriticResult, lo, hi, *, n_grid: int = 80, n_arrows: int = 13) -> dict:
    """The trained critic of ``result`` on the box [lo, hi] (two (2,) corners), as drawn by
    :func:`kantorovich.plots.plot_critic_surfaces`.

    Returns a dict: ``gx``, ``gy`` (n_grid x n_grid meshgrid) and ``values`` (the critic
    there); ``arrows_at`` (n_arrows² x 2 points) and ``gradients`` (the critic's input
    gradients there); and the result's ``value``, ``w1_lp`` and ``max_grad_norm``.
    """
    from .nn import input_gradients, mlp

    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], n_grid), np.linspace(lo[1], hi[1], n_grid))
    grid = np.stack([gx.ravel(), gy.ravel()], 1)
    ax_, ay_ = np.meshgrid(np.linspace(lo[0], hi[0], n_arrows), np.linspace(lo[1], hi[1], n_arrows))
    agrid = np.stack([ax_.ravel(), ay_.ravel()], 1)
    eff = result.info["eval_params"]
    gr = np.asarray(input_gradients(lambda z: mlp(eff, z, activation=result.info["activation"]), agrid))
    return {"gx": gx, "gy": gy, "values": critic_value(result, grid).reshape(gx.shape),
            "arrows_at": agrid, "gradients": gr, "value": result.value, "w1_lp": result.w1_lp,
            "max_grad_norm": result.max_grad_norm}


def train_critic(p, q=None, *, method: str = "gp", n_steps: int = 500, batch: int = 256,
                 lr: float | None = None, optimizer: str | None = None, hidden=(64, 64),
                 activation: str = "relu", clip: float = 0.01, lam: float = 10.0,
                 center: float = 1.0, sn_iter: int = 1, n_eval: int = 1000, shift: float = 1.0,
                 rng=None, progress: Callable | None = None) -> CriticResult:
    """Train an MLP critic to maximise E_P f - E_Q f under a Lipschitz constraint.

    Parameters
    ----------
    p : str or callable
        A toy name from ``TOYS`` (then ``q`` is None and ``shift`` sets W_1), or a sampler
        ``p(n, rng) -> (n, 2)``.
    q : callable or None
        Sampler of Q when ``p`` is a callable.
    method : {"clip", "gp", "sn", "none"}
    n_steps, batch : int >= 1
        Critic steps and batch size per distribution.
    lr, optimizer :
        Defaults: "clip" RMSProp(5e-4) (WGAN used 5e-5 over far more steps); "gp", "sn",
        "none" Adam(1e-3, beta1 = 0.5, beta2 = 0.9) (the WGAN-GP toy code's betas).
    hidden : tuple of int
        Hidden widths; input 2, output 1.
    clip : float > 0
        Clipping range c ("clip").
    lam, center : float
        Penalty weight λ >= 0 and target gradient norm K > 0 ("gp"; K·W is then estimated).
    sn_iter : int
        Power iterations per step ("sn"); the final critic is normalised with 50 iterations
        (warm-started), so it is 1-Lipschitz to the power iteration's accuracy.
    n_eval : int
        Fresh samples per distribution for the final estimate and the LP.
    rng : None, int or Generator
    progress : callable or None
        Wraps the step range (e.g. ``ctx.progress``).

    Returns
    -------
    CriticResult

    Raises ValueError "training diverged at step t" (naming ``lr``) when the critic's gradient
    or its new parameters are NaN or infinite.

    Complexity: O(n_steps · batch · width²) (x3 for the gradient penalty), plus the LP on
    ``n_eval`` points (O(n_eval³) worst case; ~0.1 s at 1000).

    Examples
    --------
    >>> r = train_critic("segments", method="gp", n_steps=150, batch=64, hidden=(16,),
    ...                  n_eval=200, rng=1)
    >>> 0.5 < r.value / r.w1_lp < 1.2
    True
    """
    import autograd.numpy as anp
    from autograd import grad

    from .nn import clip_params, gradient_penalty, init_mlp, mlp, spectral_normalize, input_gradients
    from .optim import checked_step, make_optimizer, quiet_divergence

    check_choice(method, "method", CRITIC_METHODS)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    batch = check_int(batch, "batch", minimum=1)
    n_eval = check_int(n_eval, "n_eval", minimum=2)
    clip = check_positive(clip, "clip")
    lam = check_nonnegative(lam, "lam")
    center = check_positive(center, "center")
    sn_iter = check_int(sn_iter, "sn_iter", minimum=1)
    hidden = tuple(check_int(h, "hidden", minimum=1) for h in hidden)
    g = check_rng(rng)
    if isinstance(p, str):
        if q is not None:
            raise ValueError("`q` must be None when `p` names a toy; got a sampler.")
        sp, sq, w1_true = toy_sampler(p, shift)
        toy = p
    else:
        if not (callable(p) and callable(q)):
            raise TypeError("`p` must be a toy name from TOYS or a sampler, and `q` a sampler.")
        sp, sq, w1_true, toy = p, q, float("nan"), "custom"
    if optimizer is None:
        optimizer = "rmsprop" if method == "clip" else "adam"
    if lr is None:
        lr = 5e-4 if method == "clip" else 1e-3
    opt_kw = {"beta1": 0.5, "beta2": 0.9} if optimizer == "adam" else {}
    opt = make_optimizer(optimizer, lr, **opt_kw)

    params = init_mlp(g, (2, *hidden, 1))
    if method == "clip":
        params = clip_params(params, clip)
    us = [None] * len(params)

    def effective(prm, us_):
        if method == "sn":
            return spectral_normalize(prm, us_, n_iter=sn_iter)
        return prm, us_

    def loss(prm, x, y, us_, seed):
        eff, _ = effective(prm, us_)
        f = lambda z: mlp(eff, z, activation=activation)  # noqa: E731
        val = anp.mean(f(y)) - anp.mean(f(x))          # minimise -(E_P f - E_Q f)
        if method == "gp" and lam > 0:
            val = val + lam * gradient_penalty(f, x, y, seed, center=center)
        return val

    dloss = grad(loss)
    steps = range(n_steps)
    if progress is not None:
        steps = progress(steps)
    history = []
    every = max(1, n_steps // 50)
    for t in steps:
        x = sp(batch, g); y = sq(batch, g)
        seed = int(g.integers(2 ** 31))
        if method == "sn":
            _, us = spectral_normalize(params, us, n_iter=sn_iter)
        # a diverging step ends in checked_step's error at the latest one step later: its
        # overflow warnings (here or in the running estimate) are left out
        with quiet_divergence():
            gr = dloss(params, x, y, us, seed)
            params = checked_step(opt, params, gr, step=t + 1, what="critic",
                                  hint=f"lower `lr` (got {lr!r}).")
            if method == "clip":
                params = clip_params(params, clip)
            if t % every == 0 or t == n_steps - 1:
                eff, _ = effective(params, us)
                est = float(np.mean(mlp(eff, x, activation=activation))
                            - np.mean(mlp(eff, y, activation=activation)))
                history.append((t, est))

    if method == "sn":  # evaluate with a converged power iteration (the running one lags a step)
        eff, _ = spectral_normalize(params, us, n_iter=50)
    else:
        eff = params
    eff = [(np.asarray(W, dtype=float), np.asarray(b, dtype=float)) for W, b in eff]
    xe = sp(n_eval, g); ye = sq(n_eval, g)
    f = lambda z: mlp(eff, z, activation=activation)  # noqa: E731
    value = float(np.mean(f(xe)) - np.mean(f(ye)))
    a = g.uniform(size=(n_eval, 1))
    pts = np.concatenate([xe, ye, a * xe + (1 - a) * ye])
    gn = np.linalg.norm(np.asarray(input_gradients(f, pts)), axis=1)
    sig = layer_sigmas(eff)
    info = {"toy": toy, "n_steps": n_steps, "batch": batch, "lr": lr, "optimizer": optimizer,
            "optimizer_options": opt_kw, "hidden": hidden, "activation": activation,
            "n_eval": n_eval, "eval_params": eff}
    if method == "clip":
        info["clip"] = clip
    if method == "gp":
        info.update(lam=lam, center=center)
    if method == "sn":
        info["sn_iter"] = sn_iter
    return CriticResult(value=value, w1_lp=exact_w1(xe, ye), w1_true=w1_true, method=method,
                        lipschitz_bound=float(np.prod(sig)), max_grad_norm=float(gn.max()),
                        sigmas=tuple(sig), history=np.array(history), params=params, info=info)
