"""W_p between two weighted point clouds, picking the 1-D, exact or Sinkhorn solver by size."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, replace

import numpy as np

from .._array_api import is_cupy, to_host
from .._validation import (
    INT64_MAX,
    check_choice,
    check_int,
    check_positive,
    check_sample_pair,
    check_weights,
    describe,
    pow2_exponent,
)
from .._warnings import warn
from ._costs import cdist_cost, cost_block, diameter
from ._geometry import DenseGeometry, PointCloud

__all__ = ["EXACT_MAX_ENTRIES", "wasserstein"]

#: Largest n * m solved exactly by ``method="auto"`` (a float64 cost matrix of 200 MB).
EXACT_MAX_ENTRIES = 25_000_000


def value_trusted(val: float, top: float) -> bool:
    """Whether an LP or auction optimum ``val`` (clipped at 0) of costs whose largest is
    ``top`` is kept: positive and at least 2**-30 of ``top``. Below, the rounding of the solve
    may have lost it (0 included: at large p the unit-scale costs underflow), and the
    function, and its gradients, take the exact LP at the scale of W_p instead."""
    return val > 0.0 and val >= top * 2.0 ** -30

#: Default Sinkhorn eps relative to the cost scale (the p-th power of the joint bounding-box
#: diagonal): large enough for the log-domain solver with eps-scaling to converge within its
#: default 10 000 iterations without a ConvergenceWarning (measured: about 1 800 iterations for
#: p = 1, 200 for p = 2, on uniform clouds in the unit square). The price is an upward bias,
#: small when W is a sizeable fraction of the diameter, large when the clouds nearly coincide
#: (6% for W_1 and 60% for W_2 between two 300-point samples of one uniform square).
SINKHORN_REL_EPS = 5e-3

_METHODS = ("auto", "1d", "exact", "auction", "sinkhorn")


#: |x_i - y_j|^p (float64, scipy's cdist): the exact LP's dense cost matrix
_cost_matrix = cdist_cost


#: the exact LP sees costs (D / t)^p clipped at this value in its rescaled rounds: ample room
#: above the optimum (whose costs are <= 1 there) yet resolvable next to it in float64
_CLIP = 2.0 ** 24


def _distances(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, int]:
    """Euclidean distances D (n, m) and j with |x_i - y_j| = 2**j D_ij, free of overflow and
    underflow wherever the distance is representable (row blocks of _costs.cost_block,
    scaled per pair where squares would over- or underflow; coordinates beyond 2**1020 are
    halved first so that distances up to 2 * float64 max stay finite)."""
    j = 0
    if max(float(np.abs(x).max()), float(np.abs(y).max())) >= 2.0 ** 1020:
        x, y, j = x * 0.5, y * 0.5, 1
    n, m = x.shape[0], y.shape[0]
    D = np.empty((n, m))
    rows = max(1, (1 << 21) // max(1, m * x.shape[1]))
    for i0 in range(0, n, rows):
        D[i0:i0 + rows] = cost_block(x[i0:i0 + rows], y, "euclidean")
    return D, j


def _plan_wp(P: np.ndarray, D: np.ndarray, p: float) -> float:
    """(sum_ij P_ij D_ij^p)^(1/p) for a unit-mass plan, as Dm (sum P (D / Dm)^p)^(1/p) with Dm
    the largest distance the plan uses (no overflow or underflow for any p)."""
    used = P > 0
    if not bool(used.any()):
        return 0.0
    d = D[used]
    dm = float(d.max())
    if dm == 0.0:
        return 0.0
    s = float(np.sum(P[used] * (d / dm) ** p))
    return dm * s ** (1.0 / p)


def _without_rounding_mass(P: np.ndarray, an, bn) -> np.ndarray:
    """The LP plan ``P`` (unit mass) less the entries that only the rounding of the weights makes.

    ``a`` and ``b`` are normalised separately in float64, so two weight vectors that describe one
    measure (``b = a[perm]``) have totals that differ in their last bits (the sums run in
    different orders), and the LP moves that much mass, about ``(n + m) * 2**-52``, between pairs
    it would not use otherwise. Such a sliver is worth nothing at the scale of the costs
    (``<P, C>`` itself is rounded at ``2**-52`` of the largest cost), but in the rescaled rounds
    it sets the scale ``t`` of W_p, is clipped there, and for large p it dominates ``(sum P
    D^p)^(1/p)``. So entries up to that size between two points whose weights both exceed it
    are dropped; a point whose whole weight is that small keeps its entries."""
    n, m = P.shape
    tau = (n + m) * 2.0 ** -52
    a = np.full(n, 1.0 / n) if an is None else an
    b = np.full(m, 1.0 / m) if bn is None else bn
    sliver = (P <= tau) & (a[:, None] > tau) & (b[None, :] > tau)
    return np.where(sliver, 0.0, P)


def _exact_rescaled(x, y, an, bn, p, progress=False):
    """W_p by the exact LP when the costs |x - y|^p span more than float64 resolves at one scale
    (one far pair of points, large p): rounds of the LP on (D / t)^p clipped at ``_CLIP``, t an
    upper bound on W_p from the previous round's plan. A plan that uses no clipped pair is
    optimal for the true costs too (clipping only lowers costs); otherwise a
    KantorovichWarning says the value is an upper bound. ``progress``: each round's bar (the
    auction's, where emd picks it)."""
    from ..exceptions import KantorovichWarning

    w, j, unseen, _ = _exact_rescaled_plan(x, y, an, bn, p, progress)
    if unseen:
        warn(
            f"wasserstein: the costs |x - y|^p (p = {p:g}) span more than float64 resolves in one "
            "linear program; the plan found uses pairs whose costs the solver saw clipped or "
            "rounded to 0, so the value is an upper bound on W_p.", KantorovichWarning)
    return float(np.ldexp(w, j))


def _exact_rescaled_plan(x, y, an, bn, p, progress=False):
    """The rounds of :func:`_exact_rescaled`: ``(w, j, unseen, kept)`` with W_p = 2**j w,
    ``unseen`` whether the plan uses a pair whose cost the LP saw clipped or rounded to 0, and
    ``kept`` None (W_p = 0) or ``(D, P, r, t)``: the distances with |x_i - y_j| = 2**j D_ij, the
    plan (less its rounding slivers) and the LP result ``r`` it came from, solved on the costs
    min((D / t)^p, _CLIP) (the backward pass takes its gradient from them)."""
    from ._emd import emd

    D, j = _distances(x, y)
    top = float(D.max())
    if top == 0.0:
        return 0.0, j, False, None
    with np.errstate(under="ignore"):
        C = (D / top) ** p  # in [0, 1]: a first plan, whatever the far pairs hide
    r = emd(an, bn, C, progress=progress)
    P = _without_rounding_mass(r.plan, an, bn)
    kept = (D, P, r, top)
    w = _plan_wp(P, D, p)
    unseen = True  # the plan uses a pair whose cost the LP saw clipped or rounded to 0
    for _ in range(16):
        if w == 0.0:
            return 0.0, j, False, None
        with np.errstate(over="ignore", under="ignore"):
            C = np.minimum((D / w) ** p, _CLIP)
        r2 = emd(an, bn, C, progress=progress)
        P2 = _without_rounding_mass(r2.plan, an, bn)
        w2 = _plan_wp(P2, D, p)
        used = P2 > 0
        # clipped pairs, or pairs rounded to 0 that could matter: each is off by < 2**-1074,
        # negligible next to a (scaled) optimum above 2**-1000
        unseen2 = bool(np.any(used & (C >= _CLIP))) or (
            float(np.sum(P2 * C)) < 2.0 ** -1000 and bool(np.any(used & (C == 0) & (D > 0))))
        if w2 >= w * (1.0 - 2.0 ** -40):  # no further progress: keep the better plan
            if w2 <= w:
                unseen = unseen2
                kept = (D, P2, r2, w)
            else:
                w2 = w
            w = min(w, w2)
            break
        kept = (D, P2, r2, w)
        w, unseen = w2, unseen2
    return w, j, unseen, kept


def _uniform(w) -> bool:
    """True for None (uniform) or all-equal normalised weights."""
    return w is None or bool(np.all(w == w[0]))


def wasserstein(x, y=None, a=None, b=None, *, p=None, method="auto", eps=None,
                exact_max_entries=EXACT_MAX_ENTRIES, progress=False):
    r"""Wasserstein distance W_p between two weighted point clouds (a float).

    .. math::

        W_p(\mu, \nu) = \Big(\min_{P \in U(a, b)} \sum_{ij} P_{ij}\, |x_i - y_j|^p\Big)^{1/p},
        \qquad \mu = \sum_i a_i \delta_{x_i},\ \nu = \sum_j b_j \delta_{y_j},

    with the Euclidean norm. The weights are normalised to probability vectors.

    Solver rule for ``method="auto"`` (n, m points in dimension d):

    1. d == 1: the exact quantile formula, :func:`kantorovich.ot.wasserstein_1d`,
       O((n + m) log(n + m)).
    2. otherwise, n * m <= ``exact_max_entries`` (default 2.5e7): the exact certified LP,
       :func:`kantorovich.ot.emd` (network simplex) on the dense cost matrix.
    3. otherwise, n == m with uniform weights (two empirical measures of equal size): the
       exact ε-scaling auction, :func:`kantorovich.ot.assignment`, with the costs computed
       on the fly from the points (memory O(n); still exact and certified). Measured on 2
       cores at n = 10 000, d = 5: 13 s for the exact W_1, where Sinkhorn at the default eps
       took longer and returned a value 13% too high.
    4. otherwise: entropic OT, :func:`kantorovich.ot.sinkhorn` on an online
       :class:`~kantorovich.ot.PointCloud` (memory O(n + m)), returning
       ``(<P_eps, C>)^(1/p)`` for the entropic plan ``P_eps``. **This is an approximation**
       (biased upwards, by an amount that shrinks with eps); pass ``method="exact"`` to
       insist on the LP.

    A geometry may stand for the two clouds (``y`` then None, weights by keyword):
    ``wasserstein(PointCloud(x, y, cost=q))`` is ``wasserstein(x, y, p=q)`` (the cost
    ``|x - y|^q`` makes q the order); ``wasserstein(DenseGeometry(C), p=p)`` is
    ``emd(a, b, C).value ** (1/p)`` with C taken to hold the costs ``d(x_i, y_j)^p``, and so is
    a PointCloud with a callable cost (its matrix materialised; ``p`` defaults to 1).

    Parameters
    ----------
    x : array_like (n, d) or (n,), PointCloud or DenseGeometry
    y : array_like (m, d) or (m,), or None with a geometry
        Finite coordinates; 1-D input means d = 1.
    a, b : array_like (n,), (m,) or None
        Non-negative weights (normalised to sum 1); None means uniform.
    p : float >= 1 or None
        Order of the distance, W_p (the ground cost is ``|x - y|^p``; ``cost=`` of a
        :class:`~kantorovich.ot.PointCloud` names the same exponent). None: 1 for points, a
        DenseGeometry and a callable cost, the exponent of a PointCloud's named cost (another
        ``p`` is a ValueError).
    method : {"auto", "1d", "exact", "auction", "sinkhorn"}
        Force a solver ("1d" only for d == 1; "auction" only for n == m with uniform
        weights).
    eps : float or None
        Sinkhorn regularisation (in cost units). None: ``5e-3 * diam^p`` where ``diam`` is the
        diagonal of the joint bounding box (converges quietly; biased upwards when W is much
        smaller than the diameter: pass a smaller eps, or use the exact LP). Ignored by the
        exact solvers.
    exact_max_entries : int
        The n * m threshold of the auto rule.
    progress : bool
        Show a progress bar (tqdm, on stderr; ``leave=False``) for the solvers that report as
        they run: the auction's eps-scaling phases (rule 3, and rule 2 when
        :func:`kantorovich.ot.emd` picks the auction there, n == m >= 2000 with uniform
        weights; the bar of ``assignment(progress=True)``) and Sinkhorn's iterations (rule
        4; the bar of ``sinkhorn(progress=True)``). The 1-D formula is fast, and the network
        simplex (POT's C++ code) reports nothing until it returns: neither shows a bar.
        Uniform points in the unit square, p = 2, 2 shared and loaded cores: n = m = 4000 took
        4 s (rule 2, the auction through emd) and 8000 took 10 s (rule 3; docs/emd_exact.md,
        "Long solves").

    Returns
    -------
    float
        W_p. For the plan, the potentials and the certificate, call
        :func:`kantorovich.ot.emd` on the cost matrix yourself:
        ``emd(a, b, cdist(x, y) ** p)`` gives ``value = W_p ** p``.

    Raises
    ------
    ValueError
        NaN / inf coordinates, dimension mismatch, bad weights, ``p < 1``, ``method="1d"``
        with d > 1, ``method="auction"`` with n != m or non-uniform weights.

    Notes
    -----
    Scales: when the exact costs overflow or the optimum lies below 2**-30 of the largest cost
    (one far pair of points next to unit-scale ones, large p), the exact path solves the LP at
    the scale of W_p itself (costs (D / t)^p clipped at 2**24, t an upper bound on W_p from a
    previous plan); a KantorovichWarning says when the value is only an upper bound.

    CuPy inputs are copied to the host (the 1-D path keeps them on the device when the 1-D
    solver accepts CuPy). Complexity: 1-D O((n+m) log(n+m)); exact about O(n^2 m) (POT's
    network simplex; n = 2000 takes about a second); Sinkhorn O(n m) per iteration.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import wasserstein
    >>> z = np.linspace(0, 1, 5)
    >>> x = np.c_[np.zeros(5), z]; y = np.c_[np.full(5, 0.3), z]   # parallel lines
    >>> round(wasserstein(x, y), 12)
    0.3
    """
    geom, p, eps, exact_max_entries = _check_args(x, y, p, method, eps, exact_max_entries)
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be a bool; got {describe(progress)}.")
    progress = bool(progress)
    if isinstance(geom, DenseGeometry) or (geom is not None and geom.cost_is_callable):
        return _solve_dense(geom, a, b, p, method, progress)
    if geom is not None:
        x, y = geom.x, geom.y
    pts = _prepare(x, y, a, b, p, eps, exact_max_entries)
    chosen = _choose_method(method, pts)
    if chosen == "1d":
        val = _solve_1d(pts)
        if val is not None:
            return val
        chosen = "exact"  # 1-D module not installed: the LP gives the same number
    pts = _to_unit_scale(pts)
    if chosen == "exact":
        return _solve_exact(pts, progress)
    if chosen == "auction":
        return _solve_auction(pts, progress)
    return _solve_sinkhorn(pts, progress)


# ----------------------------------------------------------------------------- wasserstein's steps

@dataclass(frozen=True)
class _Points:
    """Two validated weighted point clouds on the host, and the solver options."""

    xa: np.ndarray      # (n, d) float64 points, scaled by 2**-k
    ya: np.ndarray      # (m, d)
    x0: np.ndarray      # (n, d) the points as given (unscaled)
    y0: np.ndarray      # (m, d)
    an: np.ndarray | None  # (n,) weights normalised to 1, None for uniform
    bn: np.ndarray | None  # (m,)
    p: float
    eps: float | None   # Sinkhorn eps in the units of the (scaled) costs; None: the default
    exact_max_entries: int
    on_gpu: bool        # an input was a CuPy array
    k: int = 0          # the coordinates' power-of-two scaling (W_p is mapped back by 2**k)
    eps_given: float | None = None  # eps as the caller gave it, in the units of their costs

    @property
    def n(self) -> int:
        return self.xa.shape[0]

    @property
    def m(self) -> int:
        return self.ya.shape[0]

    @property
    def uniform(self) -> bool:
        return _uniform(self.an) and _uniform(self.bn)


def _check_args(x, y, p, method, eps, exact_max_entries):
    """(geometry or None, p, eps, exact_max_entries), checked (``x`` may be a geometry)."""
    check_choice(method, "method", _METHODS)
    geom = x if isinstance(x, (DenseGeometry, PointCloud)) else None
    if geom is not None and y is not None:
        raise TypeError(f"`y` must be None when `x` is a {type(geom).__name__} (it holds both "
                        f"sides); got {describe(y)}. Pass the weights as a=..., b=....")
    if geom is None and y is None:
        raise TypeError("`y` must be an array of points; got None (only a PointCloud or a "
                        "DenseGeometry `x` stands for both clouds).")
    named = isinstance(geom, PointCloud) and not geom.cost_is_callable
    if p is None:
        p = geom.p if named else 1.0
    elif named and not (isinstance(p, numbers.Real) and p == geom.p):
        raise ValueError(f"`p` must be None or the exponent of the PointCloud's cost "
                         f"({geom.p:g}: |x - y|^p is the cost of W_p); got {p!r}.")
    if isinstance(p, bool):
        raise TypeError(f"`p` must be a float >= 1; got {p!r}.")
    p = check_positive(p, "p")
    if p < 1:
        raise ValueError(f"`p` must be a float >= 1; got {p!r}.")
    exact_max_entries = check_int(exact_max_entries, "exact_max_entries", minimum=1, maximum=INT64_MAX)
    if eps is not None:
        eps = check_positive(eps, "eps")
    return geom, p, eps, exact_max_entries


def _solve_dense(geom, a, b, p: float, method: str, progress: bool = False) -> float:
    """W_p of a DenseGeometry (or a PointCloud with a callable cost, materialised) holding the
    costs d(x_i, y_j)^p: the exact LP on its matrix."""
    if method not in ("auto", "exact"):
        what = "a DenseGeometry" if isinstance(geom, DenseGeometry) else "a callable `cost`"
        raise ValueError(f"`method` must be 'auto' or 'exact' for {what} (the exact LP "
                         f"on its matrix); got {method!r}.")
    from ._emd import emd

    val = float(emd(a, b, geom, normalize=True, return_plan=False, progress=progress).value)
    return max(val, 0.0) ** (1.0 / p)


def _prepare(x, y, a, b, p, eps, exact_max_entries) -> _Points:
    """The checked host clouds and weights (CuPy inputs copied to the host)."""
    on_gpu = any(is_cupy(v) for v in (x, y, a, b) if v is not None)
    xh = to_host(x) if is_cupy(x) else x
    yh = to_host(y) if is_cupy(y) else y
    xa, ya = check_sample_pair(xh, yh)
    n, m = xa.shape[0], ya.shape[0]
    an = None if a is None else check_weights(to_host(a) if is_cupy(a) else a, "a", n=n,
                                              normalize=True)
    bn = None if b is None else check_weights(to_host(b) if is_cupy(b) else b, "b", n=m,
                                              normalize=True)
    return _Points(xa=xa, ya=ya, x0=xa, y0=ya, an=an, bn=bn, p=p, eps=eps,
                   exact_max_entries=exact_max_entries, on_gpu=on_gpu)


def _choose_method(method: str, pts: _Points) -> str:
    """The solver of the auto rule (see :func:`wasserstein`), or ``method`` itself."""
    if method != "auto":
        return method
    if pts.xa.shape[1] == 1:
        return "1d"
    if pts.n * pts.m <= pts.exact_max_entries:
        return "exact"
    if pts.n == pts.m and pts.uniform:
        return "auction"
    return "sinkhorn"


def _solve_1d(pts: _Points) -> float | None:
    """W_p by the 1-D quantile formula, or None when that module is not installed (and the
    exact LP may stand in for it)."""
    d = pts.xa.shape[1]
    if d != 1:
        raise ValueError(f"method='1d' needs d == 1; got points of dimension d = {d}.")
    try:
        from ._wasserstein_1d import wasserstein_1d
    except ImportError:
        if pts.n * pts.m > pts.exact_max_entries:
            raise
        return None
    u, v, uw, vw = pts.xa[:, 0], pts.ya[:, 0], pts.an, pts.bn
    if pts.on_gpu:  # keep the data where the caller had it for the 1-D solver
        from .._array_api import cupy_or_raise

        cp = cupy_or_raise()
        u, v = cp.asarray(u), cp.asarray(v)
        uw = None if uw is None else cp.asarray(uw)
        vw = None if vw is None else cp.asarray(vw)
    r = wasserstein_1d(u, v, uw, vw, p=pts.p)
    return float(getattr(r, "value", r))


def _to_unit_scale(pts: _Points) -> _Points:
    """W_p(2^-k x, 2^-k y) = 2^-k W_p(x, y) exactly: bring coordinates far from 1 to unit scale
    so the costs |x - y|^p neither overflow (1e300 -> inf) nor underflow (1e-300 -> 0)."""
    k = pow2_exponent(pts.xa, pts.ya, p=pts.p)
    if not k:
        return pts
    eps = pts.eps
    if eps is not None:
        e = -k * pts.p  # eps * 2**e, where 2**e alone may be beyond float64 (p k > 1023)
        try:
            eps = math.ldexp(eps * 2.0 ** (e - math.floor(e)), math.floor(e))
        except OverflowError:
            eps = math.inf
        if not 0.0 < eps < math.inf:
            raise ValueError(
                f"`eps` is out of range for points of magnitude 2**{k}: got {pts.eps!r}, which is "
                f"{eps!r} at unit scale (the costs divided by 2**({k} p) = 2**{k * pts.p:g}), "
                "beyond float64. Rescale `x` and `y`.")
    return replace(pts, xa=np.ldexp(pts.xa, -k), ya=np.ldexp(pts.ya, -k), eps=eps, k=k,
                   eps_given=pts.eps)


def _times_pow2_str(v: float, e: float) -> str:
    """``v * 2**e`` to 3 significant digits, also where it is beyond float64's range."""
    if v == 0.0 or not math.isfinite(v):
        return f"{v:.3g}"
    t = math.log10(abs(v)) + e * math.log10(2.0)
    if -300.0 < t < 300.0:
        return f"{math.copysign(10.0 ** t, v):.3g}"
    ex = math.floor(t)
    mant = math.copysign(10.0 ** (t - ex), v)
    if round(abs(mant), 2) >= 10.0:
        mant, ex = mant / 10.0, ex + 1
    return f"{mant:.3g}e{ex:+d}"


def _check_eps_of_caller(pts: _Points, geom) -> None:
    """The ValueError of an ``eps`` below float64's resolution of the costs (as
    :func:`kantorovich.ot.sinkhorn` raises it), in the caller's units: the solver sees the
    costs and eps of the points at unit scale (:func:`_to_unit_scale`), and its message would
    quote those numbers rather than the ones passed."""
    if pts.eps is None:
        return
    mag = geom.diameter()  # a point cloud's costs lie in [0, diameter], sinkhorn's scale
    res = float(np.finfo(np.float64).eps)
    floor = res * mag
    if pts.eps < floor:
        e = pts.k * pts.p
        given = pts.eps if pts.eps_given is None else pts.eps_given
        raise ValueError(
            f"`eps` must be at least {_times_pow2_str(floor, e)} (float64 resolution {res:.2g} "
            f"times the cost scale {_times_pow2_str(mag, e)}); got {given!r}. Below it the "
            "entropic terms eps log(a), eps log(b) vanish in rounding and Sinkhorn ignores the "
            "weights. Use method='exact' for exact transport.")


def _solve_exact(pts: _Points, progress: bool = False) -> float:
    """W_p by the exact LP (:func:`kantorovich.ot.emd`) on the dense cost matrix."""
    from ._emd import emd

    p, k = pts.p, pts.k
    with np.errstate(over="ignore", under="ignore"):
        M = _cost_matrix(pts.xa, pts.ya, p)
    top = float(M.max())
    if math.isfinite(top):
        val = max(emd(pts.an, pts.bn, M, return_plan=False, progress=progress).value, 0.0)
        if value_trusted(val, top):
            return float(np.ldexp(val ** (1.0 / p), k))
    # costs beyond float64, or an optimum so far below the largest cost that the rounding
    # of the LP may have lost it (0 included: unit-scale distances next to a point at 1e200
    # underflow to cost 0 at the common scale, for p = 3): solve at the scale of W_p itself
    return _exact_rescaled(pts.x0, pts.y0, pts.an, pts.bn, p, progress)


def _solve_auction(pts: _Points, progress: bool = False) -> float:
    """W_p by the exact auction (:func:`kantorovich.ot.assignment`), costs computed on the fly."""
    n, m, p, k, uniform = pts.n, pts.m, pts.p, pts.k, pts.uniform
    if n != m or not uniform:
        raise ValueError("method='auction' needs n == m points with uniform weights (an assignment); "
                         f"got n = {n}, m = {m}{'' if uniform else ', non-uniform weights'}."
                         " Use method='exact' or 'sinkhorn'.")
    from ._auction import assignment

    # a float cost p is |x - y|^p; assignment maps p = 1 and 2 to its dedicated kernels
    cmax = diameter(pts.xa, pts.ya, p)  # the auction's cost scale
    res = None
    if math.isfinite(cmax):
        res = assignment(x=np.asarray(pts.xa, dtype=np.float64),
                         y=np.asarray(pts.ya, dtype=np.float64), cost=p, backend="numba",
                         progress=progress)
        val = max(res.value, 0.0)
        # val = 0 is trusted no more than in _solve_exact: at large p every |x - y|^p of the
        # unit-scale points may have underflowed to 0 (cmax too), and W_p came back as 0
        if value_trusted(val, cmax):
            return float(np.ldexp(val ** (1.0 / p), k))
    # costs beyond float64, or an optimum far below the cost scale: the exact LP at the scale
    # of W_p where it fits, else the auction's permutation valued without over/underflow
    if n * m <= pts.exact_max_entries:
        return _exact_rescaled(pts.x0, pts.y0, pts.an, pts.bn, p, progress)
    if res is None:
        raise ValueError(
            f"`p` = {p!r} is too large for points this far apart: the costs |x - y|^p overflow "
            f"float64 for the auction (n * m = {n * m} > `exact_max_entries`). Rescale `x` and "
            "`y`, use a smaller `p`, or raise `exact_max_entries` for the exact LP.")
    return _permutation_wp(pts.x0, pts.y0, np.asarray(res.perm), p)


def _permutation_wp(x0, y0, perm, p: float) -> float:
    """W_p of the uniform plan x_i -> y_perm(i), valued without over- or underflow (an upper
    bound on W_p; a KantorovichWarning says so)."""
    n = x0.shape[0]
    P = np.zeros((1, n))
    P[0] = 1.0 / n
    D = np.empty((1, n))
    for i0 in range(0, n, 4096):  # matched distances only: O(n d)
        i1 = min(n, i0 + 4096)
        Di, j = _distances(x0[i0:i1], y0[perm[i0:i1]])
        D[0, i0:i1] = np.ldexp(np.diagonal(Di), j)
    w = _plan_wp(P, D, p)
    if w > 0.0:
        from ..exceptions import KantorovichWarning

        warn(
            f"wasserstein: the costs |x - y|^p (p = {p:g}) span more than the auction resolves "
            "at one scale; the value is that of its permutation, an upper bound on W_p "
            "(method='exact' rescales).", KantorovichWarning)
    return float(w)


def _solve_sinkhorn(pts: _Points, progress: bool = False) -> float:
    """(<P_eps, C>)^(1/p) of entropic OT on the online geometry (an upward-biased estimate)."""
    from ._sinkhorn import sinkhorn

    geom = PointCloud(pts.xa, pts.ya, cost=pts.p)
    _check_eps_of_caller(pts, geom)
    eps = pts.eps
    if eps is None:
        scale = geom.diameter()
        eps = SINKHORN_REL_EPS * scale if scale > 0 else 1.0
    an = np.full(pts.n, 1.0 / pts.n) if pts.an is None else pts.an
    bn = np.full(pts.m, 1.0 / pts.m) if pts.bn is None else pts.bn
    r = sinkhorn(an, bn, geom, eps=eps, progress=progress)
    val = float(r.value)
    if not math.isfinite(val):
        raise RuntimeError(f"Sinkhorn returned a non-finite transport cost ({val}).")
    return float(np.ldexp(max(val, 0.0) ** (1.0 / pts.p), pts.k))
