"""Two-player games without neural nets: the bilinear game min_x max_y xy (T6) and the
Dirac-GAN (Mescheder, Geiger & Nowozin 2018).

Bilinear game
-------------
f(x, y) = x y; x minimises, y maximises; the only equilibrium is the saddle (0, 0). The
descent field is F(x, y) = (∂f/∂x, -∂f/∂y) = (y, -x) = A z with A = [[0, 1], [-1, 0]]
(A² = -I). Every linear method is z_{t+1} = M z_t (or a companion matrix with memory):

=================  ========================================  ================================
method             update                                    spectral radius of M
=================  ========================================  ================================
simultaneous GD    z - η A z                                 sqrt(1 + η²) > 1: spirals out
alternating GD     x' = x - η y;  y' = y + η x'              1 for η < 2 (det M = 1): cycles
extragradient      z - η A (z - η A z)                       sqrt(1 - η² + η⁴) < 1 for η < 1
optimistic GD      z - 2η A z_t + η A z_{t-1}                eigenvalues of a 4x4 companion
prediction         x' = x - η y;  y' = y + η (2x' - x)       sqrt(1 - η²) (Yadav et al. 2018)
momentum           v' = μ v + A z;  z' = z - η v'             eigenvalues of a 4x4 companion
=================  ========================================  ================================

Adam and RMSProp (each player with its own optimiser state, simultaneous updates) are not
linear: no spectral radius; their behaviour is measured.

Dirac-GAN
---------
Generator p_θ = δ_θ, linear discriminator D_ψ(x) = ψ x, data δ_0. With
f(t) = -log(1 + exp(-t)) ("gan", f'(0) = 1/2) or f(t) = t ("wgan", f'(0) = 1),
L(θ, ψ) = f(ψ θ) + f(0), minimised in θ, maximised in ψ; an R1 penalty (γ/2) ψ² is
subtracted from the discriminator's objective. Gradient field
v(θ, ψ) = (-ψ f'(ψθ), θ f'(ψθ) - γ ψ), Jacobian at (0, 0) J = [[0, -c], [c, -γ]], c = f'(0):
continuous-time eigenvalues -γ/2 ± sqrt(γ²/4 - c²) (±i c without penalty); simultaneous GD
with step h has eigenvalues 1 + h λ, modulus sqrt(1 + h² c²) = sqrt(1 + h²/4) for the GAN
loss when γ = 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._results import Result
from .._validation import check_choice, check_int, check_nonnegative, check_positive

__all__ = [
    "BILINEAR_METHODS",
    "GameTrajectory",
    "bilinear_game",
    "bilinear_sweep",
    "bilinear_update_matrix",
    "bilinear_spectral_radius",
    "bilinear_closed_form_radius",
    "measured_rate",
    "DIRAC_LOSSES",
    "dirac_gan",
    "dirac_gan_jacobian",
    "dirac_gan_eigenvalues",
]

BILINEAR_METHODS = ("simultaneous", "alternating", "momentum", "adam", "rmsprop",
                    "extragradient", "optimistic", "prediction")
LINEAR_METHODS = ("simultaneous", "alternating", "momentum", "extragradient", "optimistic",
                  "prediction")
_DEFAULTS = {"momentum": {"mu": 0.9}, "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
             "rmsprop": {"rho": 0.9, "eps": 1e-8}}
_BLOWUP = 1e8  # a trajectory whose norm passes this is declared diverged and frozen


@dataclass(frozen=True)
class GameTrajectory(Result):
    """A trajectory of a two-player game.

    value : float            final distance to the equilibrium (0, 0)
    path : array (n+1, 2)    iterates (frozen at the blow-up point when ``diverged``)
    method : str
    lr : float               step size (η or h)
    n_steps : int
    rate : float             measured per-step factor exp(slope of log|z_t|) (least squares
                             over the unfrozen part of the path)
    spectral_radius : float  closed-form spectral radius of the linear update (nan if none)
    diverged : bool          |z| passed 1e8
    info : dict              options used, diverged_at (step) when diverged
    """

    value: float
    path: Any = None
    method: str = ""
    lr: float = float("nan")
    n_steps: int = 0
    rate: float = float("nan")
    spectral_radius: float = float("nan")
    diverged: bool = False
    info: dict = field(default_factory=dict)


def _options(method: str, kw: dict) -> dict:
    allowed = _DEFAULTS.get(method, {})
    unknown = sorted(set(kw) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid options are "
                         f"{sorted(allowed)}.")
    opts = {**allowed, **kw}
    for k, v in opts.items():
        if k in ("beta1", "beta2", "rho", "mu"):
            v = float(v)
            if not 0.0 <= v < 1.0:
                raise ValueError(f"`{k}` must be a float in [0, 1); got {v!r}.")
            opts[k] = v
        else:
            opts[k] = check_positive(v, k)
    return opts


def _check_method(method: str) -> str:
    return check_choice(method, "method", BILINEAR_METHODS)


def bilinear_update_matrix(method: str, lr: float, **kw) -> np.ndarray:
    """The linear map of one step of ``method`` on min_x max_y xy.

    Returns a (2, 2) matrix acting on z = (x, y), or for "optimistic" (state (z_t, z_{t-1}))
    and "momentum" (state (z, v)) a (4, 4) companion matrix. ValueError for "adam" and
    "rmsprop" (not linear).

    Examples
    --------
    >>> bilinear_update_matrix("simultaneous", 0.1)
    array([[ 1. , -0.1],
           [ 0.1,  1. ]])
    """
    _check_method(method)
    if method not in LINEAR_METHODS:
        raise ValueError(f"`method` must be one of {LINEAR_METHODS} for a linear update matrix; "
                         f"got {method!r} (adaptive methods are not linear).")
    eta = check_positive(lr, "lr")
    opts = _options(method, kw)
    A = np.array([[0.0, 1.0], [-1.0, 0.0]])
    eye = np.eye(2)
    if method == "simultaneous":
        return eye - eta * A
    if method == "alternating":
        return np.array([[1.0, -eta], [eta, 1.0 - eta ** 2]])
    if method == "extragradient":
        return eye - eta * A + eta ** 2 * A @ A
    if method == "prediction":
        return np.array([[1.0, -eta], [eta, 1.0 - 2 * eta ** 2]])
    if method == "optimistic":
        return np.block([[eye - 2 * eta * A, eta * A], [eye, np.zeros((2, 2))]])
    mu = opts["mu"]  # momentum: v' = mu v + A z ; z' = z - eta v'
    return np.block([[eye - eta * A, -eta * mu * eye], [A, mu * eye]])


def bilinear_spectral_radius(method: str, lr: float, **kw) -> float:
    """max |eigenvalue| of :func:`bilinear_update_matrix` (nan for "adam", "rmsprop").

    Examples
    --------
    >>> round(bilinear_spectral_radius("extragradient", 0.5), 6) == round((1 - .25 + .0625) ** .5, 6)
    True
    """
    _check_method(method)
    if method not in LINEAR_METHODS:
        return float("nan")
    return float(np.max(np.abs(np.linalg.eigvals(bilinear_update_matrix(method, lr, **kw)))))


def bilinear_closed_form_radius(method: str, lr: float) -> float:
    """Textbook closed forms: simultaneous sqrt(1 + η²), alternating 1 (η < 2),
    extragradient sqrt(1 - η² + η⁴), prediction sqrt(1 - η²) (η < 1).

    Examples
    --------
    >>> bilinear_closed_form_radius("simultaneous", 1.0) == math.sqrt(2)
    True
    """
    choices = ("simultaneous", "alternating", "extragradient", "prediction")
    check_choice(method, "method", choices)
    eta = check_positive(lr, "lr")
    if method == "simultaneous":
        return math.sqrt(1 + eta ** 2)
    if method == "alternating":
        if eta >= 2:
            raise ValueError(f"`lr` must be < 2 for the alternating closed form; got {lr!r}.")
        return 1.0
    if method == "extragradient":
        return math.sqrt(1 - eta ** 2 + eta ** 4)
    if eta >= 1:
        raise ValueError(f"`lr` must be < 1 for the prediction closed form; got {lr!r}.")
    return math.sqrt(1 - eta ** 2)


def _run_bilinear(method: str, lrs: np.ndarray, n_steps: int, z0, opts: dict):
    """Vectorised over step sizes: returns paths (n+1, k, 2) and blow-up steps (k,) (-1 none)."""
    k = lrs.shape[0]
    x = np.full(k, float(z0[0]))
    y = np.full(k, float(z0[1]))
    path = np.empty((n_steps + 1, k, 2))
    path[0, :, 0], path[0, :, 1] = x, y
    alive = np.ones(k, dtype=bool)
    blown = np.full(k, -1, dtype=np.int64)
    xp, yp = x.copy(), y.copy()            # previous iterate (optimistic)
    sx = np.zeros(k); sy = np.zeros(k)     # first moments / momentum buffers
    vx = np.zeros(k); vy = np.zeros(k)     # second moments
    eta = lrs
    for t in range(1, n_steps + 1):
        gx, gy = y, -x                     # descent directions' gradients: x min, y max
        if method == "simultaneous":
            nx, ny = x - eta * gx, y - eta * gy
        elif method == "alternating":
            nx = x - eta * y
            ny = y + eta * nx
        elif method == "extragradient":
            hx, hy = x - eta * gx, y - eta * gy
            nx, ny = x - eta * hy, y + eta * hx
        elif method == "optimistic":
            nx = x - 2 * eta * y + eta * yp
            ny = y + 2 * eta * x - eta * xp
        elif method == "prediction":
            nx = x - eta * y
            ny = y + eta * (2 * nx - x)
        elif method == "momentum":
            sx = opts["mu"] * sx + gx
            sy = opts["mu"] * sy + gy
            nx, ny = x - eta * sx, y - eta * sy
        elif method == "adam":
            b1, b2, eps = opts["beta1"], opts["beta2"], opts["eps"]
            sx = b1 * sx + (1 - b1) * gx
            sy = b1 * sy + (1 - b1) * gy
            vx = b2 * vx + (1 - b2) * gx * gx
            vy = b2 * vy + (1 - b2) * gy * gy
            c1, c2 = 1 - b1 ** t, 1 - b2 ** t
            nx = x - eta * (sx / c1) / (np.sqrt(vx / c2) + eps)
            ny = y - eta * (sy / c1) / (np.sqrt(vy / c2) + eps)
        else:  # rmsprop
            rho, eps = opts["rho"], opts["eps"]
            vx = rho * vx + (1 - rho) * gx * gx
            vy = rho * vy + (1 - rho) * gy * gy
            nx = x - eta * gx / (np.sqrt(vx) + eps)
            ny = y - eta * gy / (np.sqrt(vy) + eps)
        nx = np.where(alive, nx, x)
        ny = np.where(alive, ny, y)
        xp, yp = x, y
        x, y = nx, ny
        big = alive & ~(np.hypot(x, y) <= _BLOWUP)
        if big.any():
            blown[big] = t
            alive &= ~big
        path[t, :, 0], path[t, :, 1] = x, y
    return path, blown


def measured_rate(path, stop: int | None = None, *, start: int = 0, floor: float = 1e-250) -> float:
    """Per-step contraction factor exp(slope) of a least-squares line through log|z_t|.

    Uses steps ``start``..``stop`` (exclusive) where |z_t| > ``floor``. For a scaled rotation
    (simultaneous GD, extragradient) this is exactly the spectral radius.

    Examples
    --------
    >>> p = np.array([[0.5 ** t, 0.0] for t in range(10)])
    >>> round(measured_rate(p), 6)
    0.5
    """
    p = np.asarray(path, dtype=float)
    p = p.reshape(p.shape[0], -1)
    r = np.linalg.norm(p, axis=1)[start:stop]
    t = np.arange(start, start + len(r), dtype=float)
    ok = np.isfinite(r) & (r > floor)
    if ok.sum() < 2:
        return float("nan")
    slope = np.polyfit(t[ok], np.log(r[ok]), 1)[0]
    return float(np.exp(slope))


def bilinear_game(method: str, lr: float, n_steps: int = 1000, *, x0: float = 1.0, y0: float = 2.0,
                  **kw) -> GameTrajectory:
    """Run ``method`` on min_x max_y xy from (x0, y0) (default (1, 2), as in Min's slides).

    Parameters
    ----------
    method : {"simultaneous", "alternating", "momentum", "adam", "rmsprop", "extragradient",
              "optimistic", "prediction"}
    lr : float > 0
        Step size η, the same for both players.
    n_steps : int >= 1
    x0, y0 : float
        Start.
    **kw : optimiser options: momentum ``mu=0.9``; adam ``beta1=0.9, beta2=0.999, eps=1e-8``;
        rmsprop ``rho=0.9, eps=1e-8``. Adaptive methods update both players simultaneously,
        each with its own state.

    Returns
    -------
    GameTrajectory (``value`` = final distance to the saddle).

    Complexity O(n_steps). A trajectory whose norm exceeds 1e8 stops (``diverged``).

    Examples
    --------
    >>> r = bilinear_game("extragradient", 0.5, 200)
    >>> r.value < 1e-3, r.rate < 1
    (True, True)
    >>> r = bilinear_game("simultaneous", 0.1, 200)
    >>> r.value > 2.236, round(r.rate, 6) == round(math.sqrt(1 + 0.1 ** 2), 6)
    (True, True)
    """
    _check_method(method)
    lr = check_positive(lr, "lr")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    opts = _options(method, kw)
    x0 = float(x0); y0 = float(y0)
    if not (np.isfinite(x0) and np.isfinite(y0)):
        raise ValueError(f"`x0` and `y0` must be finite floats; got {x0!r}, {y0!r}.")
    path, blown = _run_bilinear(method, np.array([lr]), n_steps, (x0, y0), opts)
    path = path[:, 0, :]
    stop = int(blown[0]) if blown[0] >= 0 else None
    info = {"options": opts, "start": (x0, y0)}
    if stop is not None:
        info["diverged_at"] = stop
    return GameTrajectory(
        value=float(np.hypot(*path[-1])), path=path, method=method, lr=lr, n_steps=n_steps,
        rate=measured_rate(path, stop), spectral_radius=bilinear_spectral_radius(method, lr, **kw),
        diverged=stop is not None, info=info)


def bilinear_sweep(lrs, n_steps: int = 1000, *, methods=BILINEAR_METHODS, x0: float = 1.0,
                   y0: float = 2.0) -> dict:
    """Final distance to the saddle and measured rate for each method and step size.

    Returns ``{"lrs": array (k,), "final": {method: (k,)}, "rate": {method: (k,)},
    "diverged": {method: bool (k,)}, "spectral_radius": {method: (k,)}}``; default options.
    Vectorised over the step sizes: O(len(methods) * n_steps * k).

    Examples
    --------
    >>> s = bilinear_sweep([0.01, 0.1], 100, methods=("simultaneous",))
    >>> bool(np.all(s["final"]["simultaneous"] > np.hypot(1, 2)))
    True
    """
    lrs = np.asarray(lrs, dtype=float).ravel()
    if lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"`lrs` must be a non-empty array of positive floats; got {lrs!r}.")
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    for m in methods:
        _check_method(m)
    x0 = float(x0); y0 = float(y0)
    if not (np.isfinite(x0) and np.isfinite(y0)):  # a NaN start would read as "diverged at step 1"
        raise ValueError(f"`x0` and `y0` must be finite floats; got {x0!r}, {y0!r}.")
    out = {"lrs": lrs, "final": {}, "rate": {}, "diverged": {}, "spectral_radius": {}}
    for m in methods:
        path, blown = _run_bilinear(m, lrs, n_steps, (x0, y0), _options(m, {}))
        out["final"][m] = np.hypot(path[-1, :, 0], path[-1, :, 1])
        out["diverged"][m] = blown >= 0
        out["rate"][m] = np.array([measured_rate(path[:, j, :], int(b) if b >= 0 else None)
                                   for j, b in enumerate(blown)])
        out["spectral_radius"][m] = np.array([bilinear_spectral_radius(m, e) for e in lrs])
    return out


# ---------------------------------------------------------------------------------------------
# Dirac-GAN

DIRAC_LOSSES = ("gan", "wgan")
DIRAC_METHODS = ("simultaneous", "alternating")


def _fprime0(loss: str) -> float:
    return 0.5 if loss == "gan" else 1.0


def _dirac_field(theta, psi, loss: str, gamma: float):
    """v(θ, ψ) = (-ψ f'(ψθ), θ f'(ψθ) - γ ψ), written with autograd.numpy."""
    import autograd.numpy as anp

    t = psi * theta
    fp = 1.0 / (1.0 + anp.exp(t)) if loss == "gan" else 1.0 + 0.0 * t  # f'(t) = sigmoid(-t)
    return -psi * fp, theta * fp - gamma * psi


def _dirac_step(z, h: float, loss: str, gamma: float, method: str):
    import autograd.numpy as anp

    theta, psi = z[0], z[1]
    if method == "simultaneous":
        dt, dp = _dirac_field(theta, psi, loss, gamma)
        return anp.stack([theta + h * dt, psi + h * dp])
    dt, _ = _dirac_field(theta, psi, loss, gamma)
    theta2 = theta + h * dt
    _, dp = _dirac_field(theta2, psi, loss, gamma)
    return anp.stack([theta2, psi + h * dp])


def _dirac_args(loss, gamma, h, method):
    check_choice(loss, "loss", DIRAC_LOSSES)
    check_choice(method, "method", DIRAC_METHODS)
    gamma = check_nonnegative(gamma, "gamma")
    h = check_positive(h, "h")
    return gamma, h


def dirac_gan_eigenvalues(*, loss: str = "gan", gamma: float = 0.0, h: float | None = None,
                          method: str = "simultaneous") -> np.ndarray:
    """Closed-form eigenvalues of the Dirac-GAN at its equilibrium (0, 0).

    ``h=None``: continuous-time Jacobian, λ = -γ/2 ± sqrt(γ²/4 - c²), c = f'(0) (1/2 for
    "gan", 1 for "wgan"). With a step ``h``: simultaneous GD 1 + h λ; alternating GD the
    eigenvalues of [[1, -hc], [hc, 1 - h²c² - hγ]].

    Examples
    --------
    >>> ev = dirac_gan_eigenvalues(h=0.1)
    >>> round(float(abs(ev[0])), 8) == round((1 + 0.1 ** 2 / 4) ** 0.5, 8)
    True
    """
    gamma, _ = _dirac_args(loss, gamma, 1.0 if h is None else h, method)
    c = _fprime0(loss)
    disc = np.sqrt(complex(gamma ** 2 / 4 - c ** 2))
    lam = np.array([-gamma / 2 + disc, -gamma / 2 - disc])
    if h is None:
        return lam
    if method == "simultaneous":
        return 1 + h * lam
    tr = 2 - h * h * c * c - h * gamma
    det = 1 - h * gamma
    d = np.sqrt(complex(tr * tr / 4 - det))
    return np.array([tr / 2 + d, tr / 2 - d])


def dirac_gan_jacobian(*, loss: str = "gan", gamma: float = 0.0, h: float | None = None,
                       method: str = "simultaneous", fd_step: float | None = None) -> np.ndarray:
    """Measured Jacobian at (0, 0): of the vector field (``h=None``) or of one update step.

    By autograd (``fd_step=None``) or by central finite differences with step ``fd_step``.
    Compare its eigenvalues with :func:`dirac_gan_eigenvalues`.

    Examples
    --------
    >>> J = dirac_gan_jacobian(gamma=1.0)
    >>> np.round(J, 6).tolist()
    [[0.0, -0.5], [0.5, -1.0]]
    """
    gamma, hh = _dirac_args(loss, gamma, 1.0 if h is None else h, method)
    import autograd.numpy as anp
    from autograd import jacobian

    if h is None:
        def fn(z):
            a, b = _dirac_field(z[0], z[1], loss, gamma)
            return anp.stack([a, b])
    else:
        def fn(z):
            return _dirac_step(z, hh, loss, gamma, method)
    z0 = np.zeros(2)
    if fd_step is None:
        return np.asarray(jacobian(fn)(z0), dtype=float)
    e = check_positive(fd_step, "fd_step")
    J = np.empty((2, 2))
    for j in range(2):
        d = np.zeros(2); d[j] = e
        J[:, j] = (np.asarray(fn(z0 + d)) - np.asarray(fn(z0 - d))) / (2 * e)
    return J


def dirac_gan(h: float = 0.1, n_steps: int = 500, *, loss: str = "gan", gamma: float = 0.0,
              method: str = "simultaneous", theta0: float = 1.0, psi0: float = 1.0) -> GameTrajectory:
    """Train the Dirac-GAN by gradient steps of size ``h`` from (θ0, ψ0).

    Returns a GameTrajectory with ``path`` of (θ, ψ), ``value`` = final distance to (0, 0),
    ``spectral_radius`` = max |closed-form eigenvalue| of the linearised step.

    Examples
    --------
    >>> dirac_gan(0.1, 2000).value > dirac_gan(0.1, 2000, gamma=1.0).value
    True
    """
    gamma, h = _dirac_args(loss, gamma, h, method)
    n_steps = check_int(n_steps, "n_steps", minimum=1)
    z = np.array([float(theta0), float(psi0)])
    if not np.all(np.isfinite(z)):
        raise ValueError("`theta0` and `psi0` must be finite floats.")
    path = np.empty((n_steps + 1, 2))
    path[0] = z
    stop = None
    for t in range(1, n_steps + 1):
        if stop is None:
            z = np.asarray(_dirac_step(z, h, loss, gamma, method), dtype=float)
            if not np.hypot(*z) <= _BLOWUP:
                stop = t
        path[t] = z
    info = {"loss": loss, "gamma": gamma, "start": (float(theta0), float(psi0))}
    if stop is not None:
        info["diverged_at"] = stop
    rho = float(np.max(np.abs(dirac_gan_eigenvalues(loss=loss, gamma=gamma, h=h, method=method))))
    return GameTrajectory(value=float(np.hypot(*path[-1])), path=path, method=method, lr=h,
                          n_steps=n_steps, rate=measured_rate(path, stop), spectral_radius=rho,
                          diverged=stop is not None, info=info)
