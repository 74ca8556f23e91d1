r"""Pairs of distributions (P, Q) with closed-form divergences and transport distances.

Every family is a *pair* with the same interface:

- ``.sample(n, rng=None, m=None) -> (x, y)``: ``x ~ P`` of shape ``(n, d)``, ``y ~ Q`` of
  shape ``(m or n, d)`` (float64, independent draws, ``rng`` via ``None | int | Generator``);
- ``.tv()``, ``.kl()`` (KL(P‖Q)), ``.kl_reverse()`` (KL(Q‖P)), ``.js()``, ``.w1()``, ``.w2()``:
  Python floats in nats, ``math.inf`` where infinite, ``NotImplementedError`` where this
  module has no closed form (or exact quadrature);
- ``.dim`` (the ambient dimension d), ``.name``.

Families
--------
``ParallelLines(theta)``
    C1: P = (0, Z), Q = (theta, Z), Z ~ U[0, 1] in 2-D. W1 = W2 = abs(theta);
    JS = log 2, KL = +inf both ways, TV = 1 for theta != 0; all 0 at theta = 0.
``GaussianPair(mean0, cov0, mean1, cov1)``
    1-D (scalars; cov = variance) or d-D (vectors, (d, d) SPD matrices). KL closed form,
    W2 by the Bures formula, W1 (1-D) in closed form (the mean of a folded normal), TV (1-D,
    exact from the density crossings; d-D with equal covariances: 2 Φ(Δ/2) - 1 with Δ the
    Mahalanobis distance), JS (1-D) by adaptive quadrature.
``UniformSegments(a0, b0, a1, b1)``
    P = U[a0, b0], Q = U[a1, b1] on the real line: every quantity in closed form.
``HistogramPair(p, q, support=None)``
    Discrete P = Σ p_i δ_{s_i}, Q = Σ q_i δ_{s_i} on common support points (default 0..n-1,
    1-D, or an (n, d) array). TV/KL/JS exact (``kantorovich.divergences``); W1, W2 exact for a
    1-D support (quantile formula); d-D support: NotImplementedError (use
    ``kantorovich.ot.emd``).

Module functions :func:`gaussian_kl` and :func:`gaussian_w2` give the Gaussian closed forms
directly.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Any

import numpy as np

from ._interop import NUMPY, caller, interop, kind_of, to_kernel, wrap_result
from ._text import with_article
from ._validation import INT64_MAX, as_float_array, check_int, check_memory, check_rng, check_weights, describe, pow2_exponent

__all__ = [
    "Family",
    "GaussianPair",
    "HistogramPair",
    "ParallelLines",
    "UniformSegments",
    "gaussian_kl",
    "gaussian_w2",
]

_LOG2 = math.log(2.0)


def _ldexp(v: float, k: int) -> float:
    """``v * 2**k``, or an infinity of the sign of ``v`` when that overflows (math.ldexp raises)."""
    try:
        return math.ldexp(v, k)
    except OverflowError:
        return math.copysign(math.inf, v)


def _real(value: Any, name: str) -> float:
    if hasattr(value, "shape") and getattr(value, "shape", None) == () and hasattr(value, "item"):
        value = value.item()
    # a real number, not anything float() accepts: numeric strings ("0.3") are a TypeError, as in
    # the checks of _validation
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number; got {describe(value)}.")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"`{name}` must be a finite real number; got {value!r}.")
    return v


def _sample_sizes(n: Any, m: Any, d: int = 1) -> tuple[int, int]:
    n = check_int(n, "n", minimum=1, maximum=INT64_MAX)
    m = n if m is None else check_int(m, "m", minimum=1, maximum=INT64_MAX)
    check_memory(16 * (n + m) * d, "n", "m")  # the two samples and a temporary per coordinate
    return n, m


def _adopt_arg(v: Any) -> Any:
    """A caller's array as the kernels take it; a 0-d one (a torch or JAX scalar) as a float,
    which the scalar parameters (theta, segment ends) require."""
    if kind_of(v) not in (None, "numpy"):
        v = to_kernel(v)
        if getattr(v, "ndim", None) == 0 and not hasattr(v, "get"):
            return v.item()
    return v


def _method_caller(fam: "Family", args: tuple, names: tuple[str, ...]):
    """The caller of a method call: the arguments' (``pdf0(x)``) for a family of float64 numpy
    parameters (or numbers), else the family's, which array arguments must share: an array of
    another library or device is the TypeError naming it, as a function's mixed arguments are."""
    c = caller(*args, names=names)
    own = fam._caller
    if own.direct:
        return c
    for name, v in zip(names, args):
        if kind_of(v) is None:
            continue
        vc = caller(v, names=(name,))
        if vc.kind != own.kind:
            raise TypeError(
                f"`{name}` is {with_article(vc.kind)} array but this {type(fam).__name__} was built from "
                f"{own.kind} arrays; pass arrays of one library (convert one of them first).")
        if vc.device_key != own.device_key:
            raise TypeError(
                f"`{name}` is on {vc.device_key} but this {type(fam).__name__} was built from "
                f"arrays on {own.device_key}; move them to one device first.")
    return caller(fam, *args, names=(type(fam).__name__, *names))


#: the methods whose results follow the caller's array type (docs/arrays.md)
_CALLER_METHODS = ("tv", "kl", "kl_reverse", "js", "w1", "w2", "sample", "pdf0", "pdf1")


class Family:
    """Base class: a pair (P, Q) with closed forms. Subclasses override what they know.

    Parameters may be numpy, torch, JAX, CuPy or array-API arrays (or Python numbers): the
    closed forms and samples then come back as that library's arrays, as everywhere in the
    package (docs/arrays.md); with numpy or plain numbers they are Python floats and numpy
    arrays, exactly as computed.
    """

    name: str = "family"
    dim: int = 1
    _caller = NUMPY

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:
            params = tuple(inspect.signature(init).parameters)[1:]  # (the parameters' names, for
            # the errors of mixed libraries or JAX tracers: `mean0`, not `argument 0`)

            @functools.wraps(init)
            def __init__(self, *args, __init=init, __params=params, **kw):
                names = tuple(__params[i] if i < len(__params) else f"argument {i}"
                              for i in range(len(args))) + tuple(kw)
                c = caller(*args, *kw.values(), names=names)
                __init(self, *map(_adopt_arg, args), **{k: _adopt_arg(v) for k, v in kw.items()})
                if not c.direct:
                    self._caller = c

            cls.__init__ = __init__
        for name in _CALLER_METHODS:
            f = cls.__dict__.get(name)
            if f is None or getattr(f, "__kantorovich_interop__", False):
                continue

            params = tuple(inspect.signature(f).parameters)[1:]

            @functools.wraps(f)
            def method(self, *args, __f=f, __params=params, **kw):
                names = tuple(__params[i] if i < len(__params) else f"argument {i}"
                              for i in range(len(args))) + tuple(kw)
                c = _method_caller(self, (*args, *kw.values()), names)
                if c.direct:  # float64 numpy parameters and arguments
                    return __f(self, *args, **kw)
                return wrap_result(__f(self, *map(_adopt_arg, args),
                                       **{k: _adopt_arg(v) for k, v in kw.items()}), c)

            method.__kantorovich_interop__ = True
            setattr(cls, name, method)

    def sample(self, n: int, rng=None, m: int | None = None):  # pragma: no cover - abstract
        raise NotImplementedError

    def _no(self, what: str):
        raise NotImplementedError(f"{type(self).__name__} has no closed form for {what} here.")

    def tv(self) -> float:
        """Total variation sup_A |P(A) - Q(A)|."""
        self._no("TV")

    def kl(self) -> float:
        """KL(P‖Q) in nats."""
        self._no("KL(P||Q)")

    def kl_reverse(self) -> float:
        """KL(Q‖P) in nats."""
        self._no("KL(Q||P)")

    def js(self) -> float:
        """Jensen-Shannon divergence (½-weighted, in [0, log 2])."""
        self._no("JS")

    def w1(self) -> float:
        """Earth-mover distance W_1 with the Euclidean ground cost."""
        self._no("W1")

    def w2(self) -> float:
        """Wasserstein-2 distance with the squared Euclidean cost."""
        self._no("W2")

    def summary(self) -> dict:
        """Every available quantity: {'tv': ..., 'kl': ..., ...}; missing ones are None."""
        out = {}
        for k in ("tv", "kl", "kl_reverse", "js", "w1", "w2"):
            try:
                out[k] = getattr(self, k)()
            except NotImplementedError:
                out[k] = None
        return out


# --------------------------------------------------------------------------- parallel lines
class ParallelLines(Family):
    r"""Two parallel vertical segments in the plane (WGAN paper, Example 1; C1).

    .. math:: P = (0, Z), \quad Q = (\theta, Z), \quad Z \sim U[0, 1].

    Closed forms: :math:`W_1 = W_2 = |\theta|`; for :math:`\theta \ne 0` the supports are
    disjoint, so :math:`\mathrm{JS} = \log 2`, :math:`\mathrm{KL} = +\infty` both ways and
    :math:`\mathrm{TV} = 1`; at :math:`\theta = 0` all are 0 (the Ma (2022) review prints TV = 1 at
    :math:`\theta = 0`: a typo).

    Parameters
    ----------
    theta : float
        Horizontal offset of Q.

    Examples
    --------
    >>> from kantorovich.families import ParallelLines
    >>> fam = ParallelLines(0.5)
    >>> fam.w1(), fam.tv(), fam.kl()
    (0.5, 1.0, inf)
    >>> x, y = fam.sample(3, rng=0)
    >>> x.shape, float(y[0, 0])
    ((3, 2), 0.5)
    """

    dim = 2

    def __init__(self, theta: float):
        self.theta = _real(theta, "theta")
        self.name = f"parallel lines (theta={self.theta:g})"

    def __repr__(self) -> str:
        return f"ParallelLines(theta={self.theta!r})"

    def sample(self, n: int, rng=None, m: int | None = None):
        """``x`` of shape (n, 2) on the line x = 0, ``y`` of shape (m or n, 2) on x = theta."""
        n, m = _sample_sizes(n, m, 2)
        g = check_rng(rng)
        x = np.zeros((n, 2))
        x[:, 1] = g.uniform(0.0, 1.0, n)
        y = np.full((m, 2), self.theta)
        y[:, 1] = g.uniform(0.0, 1.0, m)
        return x, y

    def tv(self) -> float:
        return 0.0 if self.theta == 0 else 1.0

    def kl(self) -> float:
        return 0.0 if self.theta == 0 else math.inf

    def kl_reverse(self) -> float:
        return self.kl()

    def js(self) -> float:
        return 0.0 if self.theta == 0 else _LOG2

    def w1(self) -> float:
        return abs(self.theta)

    def w2(self) -> float:
        return abs(self.theta)


# --------------------------------------------------------------------------- Gaussians
def _gauss_args(m0, S0, m1, S1, names=("mean0", "cov0", "mean1", "cov1")):
    """Validate a Gaussian pair: scalars (1-D: variances) or vectors and (d, d) SPD matrices.

    Returns (m0, S0, m1, S1) as float64 arrays of shapes (d,), (d, d) and d. ``names``: the
    caller's argument names, for the error messages.
    """
    nm0, nS0, nm1, nS1 = names
    m0a = as_float_array(m0, nm0, max_ndim=1)
    m1a = as_float_array(m1, nm1, max_ndim=1)
    S0a = as_float_array(S0, nS0, max_ndim=2)
    S1a = as_float_array(S1, nS1, max_ndim=2)
    m0a, m1a = np.atleast_1d(m0a), np.atleast_1d(m1a)
    d = m0a.shape[0]
    if m1a.shape[0] != d:
        raise ValueError(f"`{nm0}` and `{nm1}` must have the same length; got {d} and {m1a.shape[0]}.")
    out = []
    for name, S in ((nS0, S0a), (nS1, S1a)):
        if S.ndim == 0 or S.size == 1 and S.ndim <= 1:
            S = S.reshape(1, 1)
        elif S.ndim == 1:
            raise ValueError(f"`{name}` must be a scalar variance or a (d, d) matrix; got {describe(S)}.")
        if S.shape != (d, d):
            raise ValueError(f"`{name}` must have shape ({d}, {d}) to match the means; got {describe(S)}.")
        if not np.all(np.isfinite(S)):
            raise ValueError(f"`{name}` must contain only finite values; got NaN or infinity.")
        with np.errstate(over="ignore"):  # |S - S.T| of entries near the float maximum
            sym = np.allclose(S, S.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(S).max())))
        if not sym:
            raise ValueError(f"`{name}` must be symmetric.")
        with np.errstate(over="ignore"):
            Ss = 0.5 * (S + S.T)
        # entries near the float maximum: halve first (not always, halving subnormals rounds)
        S = Ss if np.all(np.isfinite(Ss)) else 0.5 * S + 0.5 * S.T
        try:
            np.linalg.cholesky(S)
        except np.linalg.LinAlgError:
            k = pow2_exponent(S)  # eigenvalues of 1e308-scale entries at unit scale: no overflow
            with np.errstate(over="ignore"):
                ev = np.linalg.eigvalsh(np.ldexp(S, -k))
            low = _ldexp(float(ev.min()), k)
            if low > 0:  # positive to rounding only: say how small next to the largest
                low = f"{low!r} (rounding error next to the largest, {_ldexp(float(ev.max()), k)!r})"
            raise ValueError(
                f"`{name}` must be positive definite (a positive variance in 1-D); "
                f"got eigenvalues down to {low}."
            ) from None
        out.append(S)
    for name, m in ((nm0, m0a), (nm1, m1a)):
        if not np.all(np.isfinite(m)):
            raise ValueError(f"`{name}` must contain only finite values; got NaN or infinity.")
    return m0a, out[0], m1a, out[1], d


def _points(x: Any) -> np.ndarray:
    """The points of ``pdf0`` / ``pdf1``: real numbers of any shape (±inf included, where the
    density is 0); NaN, None, strings, booleans and complex numbers are the error naming ``x``
    (the density of a NaN point was NaN for a Gaussian, 0 for a segment, and None gave NaN)."""
    arr = as_float_array(x, "x", allow_empty=True)
    if np.isnan(arr).any():
        raise ValueError("`x` must contain no NaN (the density is defined at real points and "
                         "at ±inf); got NaN.")
    return arr


def _sqrtm_psd(S: np.ndarray) -> np.ndarray:
    """Symmetric square root of a PSD matrix by eigendecomposition (eigenvalues clipped at 0)."""
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    return (V * np.sqrt(np.clip(w, 0.0, None))) @ V.T


@interop  # torch, JAX, array-API parameters: the value comes back in that library
def gaussian_kl(m0: Any, S0: Any, m1: Any, S1: Any) -> float:
    r"""KL(N(m0, S0) ‖ N(m1, S1)) in nats.

    .. math::
        \tfrac12\left[\operatorname{tr}(S_1^{-1} S_0) + (m_1 - m_0)^\top S_1^{-1} (m_1 - m_0)
        - d + \log\frac{\det S_1}{\det S_0}\right].

    Parameters
    ----------
    m0, m1 : float or array (d,)
        Means.
    S0, S1 : float or array (d, d)
        Variances (1-D) or symmetric positive definite covariance matrices.

    Returns
    -------
    float

    Notes
    -----
    O(d^3) through Cholesky factors (log-determinants as sums of log-diagonals).

    Examples
    --------
    >>> from kantorovich.families import gaussian_kl
    >>> gaussian_kl(0.0, 1.0, 2.0, 1.0)
    2.0
    """
    m0a, S0a, m1a, S1a, d = _gauss_args(m0, S0, m1, S1, ("m0", "S0", "m1", "S1"))
    L1 = np.linalg.cholesky(S1a)
    L0 = np.linalg.cholesky(S0a)
    import scipy.linalg as sla

    logdet = 2.0 * (np.sum(np.log(np.diag(L1))) - np.sum(np.log(np.diag(L0))))
    with np.errstate(over="ignore", invalid="ignore"):
        A = sla.solve_triangular(L1, L0, lower=True)  # L1^{-1} L0, tr(S1^{-1} S0) = ||A||_F^2
        b = sla.solve_triangular(L1, m1a - m0a, lower=True)
        val = 0.5 * (float(np.sum(A * A)) + float(b @ b) - d + float(logdet))
    if not math.isfinite(val):
        # a term beyond the float range (means 1e300 apart over variances of 1e-300), or NaN from
        # 0 * inf inside the triangular solves: redo both quadratic forms at unit scale, halved
        # (m1 - m0 as twice the difference of the halves, which cannot overflow)
        half_dm = np.ldexp(m1a, -1) - np.ldexp(m0a, -1)
        tr = sum(_inv_quad(L1, L0[:, j], sla, -1) for j in range(d))
        val = tr + _inv_quad(L1, half_dm, sla, 1) + 0.5 * (float(logdet) - d)
    return max(val, 0.0)


def _inv_quad(L: np.ndarray, v: np.ndarray, sla, shift: int = 0) -> float:
    """``|L^{-1} v|^2 * 2**shift`` for a lower-triangular ``L``, with ``L`` and ``v`` scaled to
    unit size by powers of two (exact) before the solve and the scales put back by ``ldexp``:
    +inf when the value is beyond the float range, never NaN."""
    if not np.any(v):
        return 0.0
    kv = pow2_exponent(v, threshold=0.0)
    kL = pow2_exponent(L, threshold=0.0)
    with np.errstate(over="ignore", invalid="ignore"):
        w = sla.solve_triangular(np.ldexp(L, -kL), np.ldexp(v, -kv), lower=True)
    if not np.all(np.isfinite(w)):  # |L^{-1} v| beyond 1e308 times the scales: overflows
        return math.inf
    kw = pow2_exponent(w, threshold=0.0)
    w = np.ldexp(w, -kw)
    return _ldexp(float(w @ w), 2 * (kv - kL + kw) + shift)


@interop
def gaussian_w2(m0: Any, S0: Any, m1: Any, S1: Any) -> float:
    r"""Wasserstein-2 distance between two Gaussians (the Bures formula).

    .. math::
        W_2^2 = \|m_0 - m_1\|^2 + \operatorname{tr}\left(S_0 + S_1
        - 2\,(S_0^{1/2} S_1 S_0^{1/2})^{1/2}\right).

    In 1-D this is :math:`\sqrt{(m_0 - m_1)^2 + (\sigma_0 - \sigma_1)^2}` (``S`` = variances).

    Parameters
    ----------
    m0, m1 : float or array (d,)
    S0, S1 : float or array (d, d)
        Variances (1-D) or symmetric positive definite covariances.

    Returns
    -------
    float

    Examples
    --------
    >>> from kantorovich.families import gaussian_w2
    >>> round(gaussian_w2(0.0, 1.0, 3.0, 4.0) ** 2, 12)   # (0 - 3)^2 + (1 - 2)^2
    10.0
    """
    m0a, S0a, m1a, S1a, d = _gauss_args(m0, S0, m1, S1, ("m0", "S0", "m1", "S1"))
    dm = m0a - m1a
    if d == 1:
        s0, s1 = math.sqrt(S0a[0, 0]), math.sqrt(S1a[0, 0])
        return math.hypot(float(dm[0]), s0 - s1)
    # W2(s m0, s^2 S0, s m1, s^2 S1) = s W2(...): work at unit scale (s an exact power of two)
    # so S0^(1/2) S1 S0^(1/2) neither overflows (covariances of 1e300 gave NaN) nor underflows
    # (1e-300 dropped the cross term and gave a wrong W2)
    k = pow2_exponent(dm, math.sqrt(float(np.max(np.abs(S0a)))), math.sqrt(float(np.max(np.abs(S1a)))))
    if k:
        dm, S0a, S1a = np.ldexp(dm, -k), np.ldexp(S0a, -2 * k), np.ldexp(S1a, -2 * k)
    r0 = _sqrtm_psd(S0a)
    cross = _sqrtm_psd(r0 @ S1a @ r0)
    tr = float(np.trace(S0a) + np.trace(S1a) - 2.0 * np.trace(cross))
    return _ldexp(math.sqrt(max(float(dm @ dm) + max(tr, 0.0), 0.0)), k)


class GaussianPair(Family):
    r"""Two Gaussians P = N(mean0, cov0), Q = N(mean1, cov1), 1-D or d-D.

    Closed forms: KL both ways (:func:`gaussian_kl`), W2 by the Bures formula
    (:func:`gaussian_w2`). 1-D only: W1 in closed form (:meth:`w1`, the mean of a folded
    normal); TV exact from the (at most two) density crossings, via the normal CDF; JS by
    adaptive quadrature of the log-density form, each half in its own Gaussian's coordinates
    (:meth:`js`; absolute error ~1e-13). d-D: TV in closed
    form :math:`2\Phi(\Delta/2) - 1` when ``cov0 == cov1`` (Δ the Mahalanobis distance
    between the means), otherwise NotImplementedError; JS and W1 NotImplementedError.

    Parameters
    ----------
    mean0, mean1 : float or array (d,)
    cov0, cov1 : float or array (d, d)
        Variances (1-D scalars) or symmetric positive definite covariance matrices.

    Examples
    --------
    >>> from kantorovich.families import GaussianPair
    >>> g = GaussianPair(0.0, 1.0, 2.0, 1.0)
    >>> g.kl(), round(g.w1(), 12), g.w2()
    (2.0, 2.0, 2.0)
    """

    def __init__(self, mean0: Any, cov0: Any, mean1: Any, cov1: Any):
        m0, S0, m1, S1, d = _gauss_args(mean0, cov0, mean1, cov1)
        self.mean0, self.cov0, self.mean1, self.cov1 = m0, S0, m1, S1
        self.dim = d
        self.name = f"Gaussians in {d}-D"

    def __repr__(self) -> str:
        if self.dim == 1:
            return (f"GaussianPair({self.mean0[0]!r}, {self.cov0[0, 0]!r}, "
                    f"{self.mean1[0]!r}, {self.cov1[0, 0]!r})")
        return f"GaussianPair(<{self.dim}-D>)"

    # 1-D helpers
    @property
    def _1d(self):
        if self.dim != 1:
            raise NotImplementedError("this quantity is implemented for 1-D Gaussians only.")
        return (float(self.mean0[0]), math.sqrt(self.cov0[0, 0]),
                float(self.mean1[0]), math.sqrt(self.cov1[0, 0]))

    def sample(self, n: int, rng=None, m: int | None = None):
        """``x`` ~ P of shape (n, d), ``y`` ~ Q of shape (m or n, d)."""
        n, m = _sample_sizes(n, m, self.dim)
        g = check_rng(rng)
        L0 = np.linalg.cholesky(self.cov0)
        L1 = np.linalg.cholesky(self.cov1)
        x = self.mean0 + g.standard_normal((n, self.dim)) @ L0.T
        y = self.mean1 + g.standard_normal((m, self.dim)) @ L1.T
        return x, y

    def pdf0(self, x):
        """Density of P at 1-D points ``x`` (1-D pairs only)."""
        from scipy.stats import norm

        m0, s0, _, _ = self._1d
        return norm.pdf(_points(x), m0, s0)

    def pdf1(self, x):
        """Density of Q at 1-D points ``x`` (1-D pairs only)."""
        from scipy.stats import norm

        _, _, m1, s1 = self._1d
        return norm.pdf(_points(x), m1, s1)

    def kl(self) -> float:
        return gaussian_kl(self.mean0, self.cov0, self.mean1, self.cov1)

    def kl_reverse(self) -> float:
        return gaussian_kl(self.mean1, self.cov1, self.mean0, self.cov0)

    def w2(self) -> float:
        return gaussian_w2(self.mean0, self.cov0, self.mean1, self.cov1)

    def _standard_1d(self):
        """(m0, s0, m1, s1, s): the pair in the wider Gaussian's standard coordinates, x -> (x -
        c) / s with c its mean and s the larger standard deviation (so max(s0, s1) = 1).

        TV and JS are invariant under this affine map and W1 scales by s. Working in the raw
        coordinates lost the parameters' precision when the means are large next to the
        deviations: the quadratic of the density crossings cancels (about eps (m / s)^2 in
        its coefficients: TV came out 0 for N(2^30, 1) against N(2^30 + 1, 4)), and the
        quadrature nodes x and the differences x - m are rounded to ulp(m) (JS and W1 wrong
        in the third digit at means of 2^50). The differences m - c are the only rounding
        here, of relative size eps in m0 - m1."""
        m0, s0, m1, s1 = self._1d
        big = max(s0, s1)
        c = m0 if s0 >= s1 else m1
        return (m0 - c) / big, s0 / big, (m1 - c) / big, s1 / big, big

    def _safe_1d(self):
        """(m0, s0, m1, s1) in the standard coordinates of :meth:`_standard_1d` (means within
        40, deviations in [1e-20, 1], where the quadratic of the density crossings cannot
        overflow), or None when P and Q are mutually singular to double precision (TV = 1,
        JS = log 2 exactly).

        With s the larger and r the smaller standard deviation and δ = |m0 - m1| / s: for
        r / s < 1e-20 the narrow density sits inside the wide one on a set of mass O(r / s) of
        it, and for δ > 40 the two overlap by less than e^{-800}; in both cases 1 - TV and
        log 2 - JS are below half an ulp.
        """
        m0, s0, m1, s1 = self._1d
        big = max(s0, s1)
        dm = abs(m0 - m1)  # inf when the means are of opposite signs near the float maximum
        if min(s0, s1) < 1e-20 * big or not dm <= 40.0 * big:
            return None
        return self._standard_1d()[:4]

    def _density_crossings(self, params=None) -> list[float]:
        """Points where the two 1-D densities are equal (0, 1 or 2 of them), in the coordinates
        of ``params`` = (m0, s0, m1, s1) (default: the pair's own)."""
        m0, s0, m1, s1 = self._1d if params is None else params
        # log p - log q = a x^2 + b x + c
        a = 0.5 / s1**2 - 0.5 / s0**2
        b = m0 / s0**2 - m1 / s1**2
        c = 0.5 * m1**2 / s1**2 - 0.5 * m0**2 / s0**2 + math.log(s1 / s0)
        if a == 0.0:
            return [] if b == 0.0 else [-c / b]
        disc = b * b - 4 * a * c
        if disc <= 0:
            return []
        r = math.sqrt(disc)
        qq = -0.5 * (b + math.copysign(r, b))  # stable roots
        roots = sorted({qq / a, c / qq} if qq != 0 else {0.0})
        return roots

    def w1(self) -> float:
        r"""W1 in 1-D, in closed form (the mean of a folded normal).

        With the quantile coupling :math:`F_P^{-1}(u) - F_Q^{-1}(u) = \Delta + \sigma z`,
        :math:`\Delta = m_0 - m_1`, :math:`\sigma = s_0 - s_1`, :math:`z = \Phi^{-1}(u)`,

        .. math:: W_1 = \mathbb E|\Delta + \sigma Z|
            = |\Delta|\,\mathrm{erf}\Big(\frac{t}{\sqrt 2}\Big)
            + |\sigma|\sqrt{2/\pi}\,e^{-t^2/2}, \qquad t = |\Delta| / |\sigma|,

        a sum of two non-negative terms (no cancellation; ``t = inf`` gives :math:`|\Delta|`).
        The quadrature of :math:`\int|F_P - F_Q|` it replaces missed the narrow Gaussian's
        spread once the deviations differ by 1000x or more (relative error about the ratio
        of the deviations: 1e-3 for N(0, 1) against N(0, 1e-6), with scipy's
        IntegrationWarning).
        """
        from scipy.special import erf

        m0, s0, m1, s1 = self._1d
        dm, ds = abs(m0 - m1), abs(s0 - s1)
        if ds == 0.0 or not math.isfinite(dm):  # W1 >= |m0 - m1|, beyond the float range
            return dm
        t = dm / ds  # inf when ds is negligible next to dm: W1 = |m0 - m1|
        return float(dm * erf(t / math.sqrt(2.0)) + ds * math.sqrt(2.0 / math.pi) * math.exp(-0.5 * t * t))

    def tv(self) -> float:
        """TV: exact in 1-D (density crossings and the normal CDF); d-D for equal covariances."""
        from scipy.special import ndtr

        if self.dim > 1:
            if not np.allclose(self.cov0, self.cov1, rtol=1e-12, atol=0.0):
                raise NotImplementedError(
                    "TV between d-D Gaussians has a closed form only for equal covariances.")
            L = np.linalg.cholesky(self.cov0)
            z = np.linalg.solve(L, self.mean1 - self.mean0)
            with np.errstate(over="ignore"):  # delta beyond 1e154: TV = 1 to double precision
                delta = float(np.sqrt(z @ z))
            return float(2.0 * ndtr(delta / 2.0) - 1.0)
        params = self._safe_1d()
        if params is None:
            return 1.0
        m0, s0, m1, s1 = params
        # TV = sum over regions where p > q of P(region) - Q(region)
        edges = [-math.inf, *self._density_crossings(params), math.inf]
        tv = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            if math.isinf(a) and math.isinf(b):
                mid = m0
            elif math.isinf(a):
                mid = b - 1.0
            elif math.isinf(b):
                mid = a + 1.0
            else:
                mid = 0.5 * (a + b)
            lp = -0.5 * ((mid - m0) / s0) ** 2 - math.log(s0)
            lq = -0.5 * ((mid - m1) / s1) ** 2 - math.log(s1)
            if lp > lq:
                Pa = float(ndtr((b - m0) / s0) - ndtr((a - m0) / s0))
                Qa = float(ndtr((b - m1) / s1) - ndtr((a - m1) / s1))
                tv += Pa - Qa
        return float(min(max(tv, 0.0), 1.0))

    def js(self) -> float:
        r"""JS (1-D) by adaptive quadrature, each half in its own Gaussian's coordinates.

        .. math:: \mathrm{JS} = \tfrac12 \int \varphi(z)\,[\log 2 - \log(1 + e^{u_0(z)})]\,dz
            + \tfrac12 \int \varphi(z)\,[\log 2 - \log(1 + e^{u_1(z)})]\,dz,

        with :math:`u_0(z) = \log(q/p)` at :math:`x = m_0 + s_0 z` and :math:`u_1(z) = \log(p/q)`
        at :math:`x = m_1 + s_1 z`, both exact quadratics in z (no rounded node x), on
        z in [-40, 40] split at the other Gaussian's mean and density crossings. One integral
        in x with breakpoints at the means missed the narrower density's peak once the
        deviations differ by 1000x or more (absolute error 1.5e-4 for N(0, 1) against
        N(0, 1e-6)); now within 1e-13 of a 30-digit quadrature down to a ratio of 1e-6.
        """
        if self.dim > 1:
            raise NotImplementedError("JS between d-D Gaussians has no closed form here.")
        from scipy import integrate

        m0, s0, m1, s1 = self._1d
        if m0 == m1 and s0 == s1:
            return 0.0
        params = self._safe_1d()
        if params is None:
            return _LOG2
        m0, s0, m1, s1 = params
        cross = self._density_crossings(params)
        c = 0.5 * math.log(2 * math.pi)
        steps = (-20.0, -10.0, -5.0, -2.0, -1.0, 1.0, 2.0, 5.0, 10.0, 20.0)

        def half(ma, sa, mb, sb):
            # ½ ∫ p_a log(2 p_a / (p_a + p_b)) dx with x = ma + sa z: ½ ∫ φ(z) [log 2 -
            # log(1 + p_b / p_a)] dz, log(p_b / p_a) = z²/2 - w²/2 + log(sa / sb)
            dm, lr = ma - mb, math.log(sa / sb)

            def f(z):
                w = (sa * z + dm) / sb
                u = 0.5 * (z - w) * (z + w) + lr
                return 0.5 * math.exp(-0.5 * z * z - c) * (_LOG2 - float(np.logaddexp(0.0, u)))

            other = [(mb + t * sb - ma) / sa for t in (0.0, *steps)] + [(x - ma) / sa for x in cross]
            pts = sorted({z for z in (0.0, *steps, *other) if -40.0 < z < 40.0})
            return integrate.quad(f, -40.0, 40.0, points=pts, limit=500, epsabs=1e-15,
                                  epsrel=1e-13)[0]

        val = half(m0, s0, m1, s1) + half(m1, s1, m0, s0)
        return float(min(max(val, 0.0), _LOG2))


# --------------------------------------------------------------------------- uniform segments
def _linear_abs_integral(c: float, d: float) -> float:
    """∫_0^1 |c + d u| du, exactly."""
    if d == 0.0:
        return abs(c)
    u0 = -c / d
    if u0 <= 0.0 or u0 >= 1.0:
        return abs(c + 0.5 * d)
    return abs(c * u0 + 0.5 * d * u0 * u0) + abs(c * (1 - u0) + 0.5 * d * (1 - u0 * u0))


def _log_twice_ratio(L: float, s: float) -> float:
    """log(2 L / s) for 0 < L < s: log1p((2L - s) / s) near 1 (accurate), else log 2 + log L - log s
    (no underflow of L / s for subnormal L)."""
    if 3.0 * L >= s:
        return math.log1p((2.0 * L - s) / s)
    return _LOG2 + math.log(L) - math.log(s)


def _frexp_length(a: float, b: float) -> tuple[float, int]:
    """``math.frexp(b - a)`` for ends a < b, also where b - a overflows (from the halved ends)."""
    length = b - a
    if math.isfinite(length):
        return math.frexp(length)
    m, e = math.frexp(0.5 * b - 0.5 * a)
    return m, e + 1


class UniformSegments(Family):
    r"""Two uniform distributions on intervals of the real line: P = U[a0, b0], Q = U[a1, b1].

    With lengths :math:`L_0, L_1` and overlap length :math:`o`:

    - :math:`\mathrm{TV} = 1 - o / \max(L_0, L_1)` (the shared mass is the overlap times the
      smaller density);
    - :math:`\mathrm{KL}(P\|Q) = \log(L_1/L_0)` if :math:`[a_0, b_0] \subseteq [a_1, b_1]`, else
      :math:`+\infty`;
    - JS piecewise: :math:`\tfrac12\log 2` times the mass of each distribution outside the
      overlap, plus the overlap term
      :math:`\tfrac o2\big[\tfrac1{L_0}\log\tfrac{2L_1}{L_0+L_1} + \tfrac1{L_1}\log\tfrac{2L_0}{L_0+L_1}\big]`
      (written with the ratios :math:`o/L_i` and the lengths, never :math:`1/L_i`, which
      overflows for subnormal lengths);
    - :math:`W_p^p = \int_0^1 |(a_0 - a_1) + u (L_0 - L_1)|^p du` (quantile formula), so
      :math:`W_2^2 = \Delta a^2 + \Delta a\,\Delta L + \Delta L^2/3`.

    Disjoint segments are the 1-D analogue of :class:`ParallelLines`.

    Parameters
    ----------
    a0, b0, a1, b1 : float
        Interval ends, ``a0 < b0`` and ``a1 < b1``.

    Examples
    --------
    >>> from kantorovich.families import UniformSegments
    >>> u = UniformSegments(0.0, 1.0, 2.0, 3.0)
    >>> u.w1(), u.tv(), u.js() == __import__("math").log(2)
    (2.0, 1.0, True)
    """

    dim = 1

    def __init__(self, a0: float, b0: float, a1: float, b1: float):
        self.a0, self.b0 = _real(a0, "a0"), _real(b0, "b0")
        self.a1, self.b1 = _real(a1, "a1"), _real(b1, "b1")
        if not self.a0 < self.b0:
            raise ValueError(f"`a0` must be smaller than `b0`; got a0={a0!r}, b0={b0!r}.")
        if not self.a1 < self.b1:
            raise ValueError(f"`a1` must be smaller than `b1`; got a1={a1!r}, b1={b1!r}.")
        self.name = f"U[{self.a0:g}, {self.b0:g}] vs U[{self.a1:g}, {self.b1:g}]"

    def __repr__(self) -> str:
        return f"UniformSegments({self.a0!r}, {self.b0!r}, {self.a1!r}, {self.b1!r})"

    @property
    def _unit(self):
        """(a0, b0, a1, b1, k): the ends divided by 2**k so the largest |end| is near 1, or k = 0
        when they are within 2**±100 (lengths of +-1e308 ends overflow, 1 / L of 1e-320 ones
        too; TV, KL, JS do not change, W_p scales by 2**k)."""
        ends = (self.a0, self.b0, self.a1, self.b1)
        k = pow2_exponent(ends)
        if not k:
            return (*ends, 0)
        return (*(math.ldexp(e, -k) for e in ends), k)

    @property
    def _lens(self):
        a0, b0, a1, b1, _ = self._unit
        L0, L1 = b0 - a0, b1 - a1
        o = max(0.0, min(b0, b1) - max(a0, a1))
        return L0, L1, o

    def sample(self, n: int, rng=None, m: int | None = None):
        """``x`` ~ U[a0, b0] of shape (n, 1), ``y`` ~ U[a1, b1] of shape (m or n, 1).

        Drawn at the scale of ``_unit`` and scaled back by the exact power of two (the same
        numbers as drawing directly, but ends of ±1.7e308 do not overflow ``b - a``)."""
        n, m = _sample_sizes(n, m)
        g = check_rng(rng)
        a0, b0, a1, b1, k = self._unit
        x, y = g.uniform(a0, b0, (n, 1)), g.uniform(a1, b1, (m, 1))
        return (np.ldexp(x, k), np.ldexp(y, k)) if k else (x, y)

    def _density(self, x, a, b, au, bu, k):
        x = _points(x)
        return np.where((x >= a) & (x <= b), _ldexp(1.0 / (bu - au), -k), 0.0)

    def pdf0(self, x):
        a0, b0, _, _, k = self._unit
        return self._density(x, self.a0, self.b0, a0, b0, k)

    def pdf1(self, x):
        _, _, a1, b1, k = self._unit
        return self._density(x, self.a1, self.b1, a1, b1, k)

    def tv(self) -> float:
        L0, L1, o = self._lens
        return float(min(max(1.0 - o / max(L0, L1), 0.0), 1.0))

    def _kl(self, a0, b0, a1, b1) -> float:
        """log(L1 / L0) from the caller's ends (not those of ``_unit``: scaled to the largest
        end, a short segment's length flushes to 0 next to a long one, a ZeroDivisionError),
        each length as a mantissa and a binary exponent, so that a ratio beyond the float
        range (1e-320 against 1) is still a finite logarithm, not inf."""
        if a1 <= a0 and b0 <= b1:
            m1, e1 = _frexp_length(a1, b1)
            m0, e0 = _frexp_length(a0, b0)
            de = e1 - e0
            if abs(de) < 1000:  # the ratio is a normal float: as log(L1 / L0), rounded once
                return math.log(math.ldexp(m1 / m0, de))
            return math.log(m1 / m0) + de * _LOG2
        return math.inf

    def kl(self) -> float:
        return self._kl(self.a0, self.b0, self.a1, self.b1)

    def kl_reverse(self) -> float:
        return self._kl(self.a1, self.b1, self.a0, self.b0)

    def js(self) -> float:
        L0, L1, o = self._lens
        if min(L0, L1) == 0.0:
            # a length flushed to 0 at the scale of the largest end: it is below 2^-1020 times
            # the other, and so are 1 - TV and log 2 - JS (the overlap's mass under the long one)
            return _LOG2
        r0, r1 = o / L0, o / L1  # the overlap's mass under P and under Q
        js = 0.5 * _LOG2 * ((1.0 - r0) + (1.0 - r1))
        if o > 0:
            s = L0 + L1
            js += 0.5 * (r0 * _log_twice_ratio(L1, s) + r1 * _log_twice_ratio(L0, s))
        return float(min(max(js, 0.0), _LOG2))

    def w1(self) -> float:
        a0, b0, a1, b1, k = self._unit
        return _ldexp(float(_linear_abs_integral(a0 - a1, (b0 - a0) - (b1 - a1))), k)

    def w2(self) -> float:
        a0, b0, a1, b1, k = self._unit
        da = a0 - a1
        dL = (b0 - a0) - (b1 - a1)
        return _ldexp(math.sqrt(max(da * da + da * dL + dL * dL / 3.0, 0.0)), k)


# --------------------------------------------------------------------------- histograms
def _wp_1d_discrete(x: np.ndarray, p: np.ndarray, q: np.ndarray, power: float) -> float:
    """W_p between Σ p_i δ_{x_i} and Σ q_i δ_{x_i} (1-D support, normalised) by quantiles."""
    k = pow2_exponent(x)
    if k:  # W_p(2^-k x) = 2^-k W_p(x): |x_i - x_j|^p of 1e308-scale points overflows
        return math.ldexp(_wp_1d_discrete(np.ldexp(x, -k), p, q, power), k)
    order = np.argsort(x, kind="stable")
    xs, ps, qs = x[order], p[order], q[order]
    if power == 1.0:
        cdf_diff = np.cumsum(ps - qs)[:-1]
        return float(np.sum(np.abs(cdf_diff) * np.diff(xs)))
    cp, cq = np.cumsum(ps), np.cumsum(qs)
    cp[-1] = cq[-1] = 1.0
    u = np.union1d(cp, cq)
    du = np.diff(np.concatenate([[0.0], u]))
    mid = u - 0.5 * du
    ip = np.minimum(np.searchsorted(cp, mid), len(xs) - 1)
    iq = np.minimum(np.searchsorted(cq, mid), len(xs) - 1)
    return float(np.sum(du * np.abs(xs[ip] - xs[iq]) ** power) ** (1.0 / power))


class HistogramPair(Family):
    r"""Two discrete distributions on the same support points.

    .. math:: P = \sum_i p_i \delta_{s_i}, \qquad Q = \sum_i q_i \delta_{s_i}.

    TV, KL, JS are exact (:mod:`kantorovich.divergences`). W1 and W2 are exact for a 1-D
    support by the quantile formula (W1 = Σ |F_P - F_Q| × gap between sorted points); for an
    (n, d) support with d > 1 they raise NotImplementedError (use ``kantorovich.ot.emd``).

    Parameters
    ----------
    p, q : array_like (n,)
        Non-negative finite masses with positive totals; normalised to sum 1.
    support : array_like (n,) or (n, d), optional
        Support points; default ``0, 1, ..., n-1`` (unit-spaced bins).

    Examples
    --------
    >>> from kantorovich.families import HistogramPair
    >>> h = HistogramPair([3, 2, 1, 4], [1, 2, 4, 3])   # C2, normalised by 10
    >>> round(h.w1(), 12), round(h.tv(), 12)
    (0.5, 0.3)
    """

    def __init__(self, p: Any, q: Any, support: Any = None):
        self.p = check_weights(p, "p", normalize=True)
        self.q = check_weights(q, "q", n=self.p.shape[0], normalize=True)
        n = self.p.shape[0]
        if support is None:
            s = np.arange(n, dtype=float)[:, None]
        else:
            s = as_float_array(support, "support", min_ndim=1, max_ndim=2)
            if s.ndim == 1:
                s = s[:, None]
            if s.shape[0] != n:
                raise ValueError(f"`support` must have {n} points (one per bin); got {describe(s)}.")
            if not np.all(np.isfinite(s)):
                raise ValueError("`support` must contain only finite values; got NaN or infinity.")
        self.support = s
        self.dim = s.shape[1]
        self.name = f"histograms on {n} points in {self.dim}-D"

    def __repr__(self) -> str:
        return f"HistogramPair(n={self.p.shape[0]}, d={self.dim})"

    def sample(self, n: int, rng=None, m: int | None = None):
        """``x`` ~ P of shape (n, d), ``y`` ~ Q of shape (m or n, d): support points drawn with
        the masses as probabilities."""
        n, m = _sample_sizes(n, m, self.dim)
        g = check_rng(rng)
        k = self.p.shape[0]
        ix = g.choice(k, size=n, p=self.p)
        iy = g.choice(k, size=m, p=self.q)
        return self.support[ix].copy(), self.support[iy].copy()

    def _pmfs(self):
        """(p, q) on the distinct support points: the masses of bins at the same point added
        (P and Q are measures on the points; comparing them bin by bin gave TV = 1 for
        p = [1, 0], q = [0, 1] on support [0, 0], where P = Q = δ_0 and W1 = 0)."""
        pts, inv = np.unique(self.support, axis=0, return_inverse=True)
        if pts.shape[0] == self.support.shape[0]:
            return self.p, self.q
        inv = inv.reshape(-1)
        return (np.bincount(inv, weights=self.p, minlength=pts.shape[0]),
                np.bincount(inv, weights=self.q, minlength=pts.shape[0]))

    def tv(self) -> float:
        from .divergences._exact import tv_distance

        return float(tv_distance(*self._pmfs()))

    def kl(self) -> float:
        from .divergences._exact import kl_divergence

        return float(kl_divergence(*self._pmfs()))

    def kl_reverse(self) -> float:
        from .divergences._exact import kl_divergence

        p, q = self._pmfs()
        return float(kl_divergence(q, p))

    def js(self) -> float:
        from .divergences._exact import js_divergence

        return float(js_divergence(*self._pmfs()))

    def _need_1d(self, what):
        if self.dim != 1:
            raise NotImplementedError(
                f"{what} of histograms on {with_article(self.dim)}-D support has no closed form; "
                "use kantorovich.ot.emd with the distance matrix of the support.")

    def w1(self) -> float:
        self._need_1d("W1")
        return _wp_1d_discrete(self.support[:, 0], self.p, self.q, 1.0)

    def w2(self) -> float:
        self._need_1d("W2")
        return _wp_1d_discrete(self.support[:, 0], self.p, self.q, 2.0)
