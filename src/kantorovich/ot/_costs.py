"""The ground cost ``c(x, y) = |x - y|^p`` (Euclidean norm), in one place for every solver.

One vocabulary (the ``cost=`` argument of :class:`~kantorovich.ot.PointCloud` and
:func:`~kantorovich.ot.assignment`)::

    "sqeuclidean"    c(x, y) = |x - y|^2      p = 2, no 1/2 factor (POT's ot.dist, OTT's SqEuclidean)
    "euclidean"      c(x, y) = |x - y|        p = 1
    a float p > 0    c(x, y) = |x - y|^p      2.0 and 1.0 are the two names above

(The ``p=`` of :func:`~kantorovich.ot.wasserstein`, ``wasserstein_1d`` and ``sliced_wasserstein``
is the order of W_p, whose ground cost is ``|x - y|^p``; W_p needs p >= 1.)

:class:`~kantorovich.ot.PointCloud` also takes a callable ``fn(x_block, y_block) -> (k, l)`` as
its cost (:data:`KIND_CALLABLE`; docs/costs.md "A callable cost"): the solvers that can call it
on blocks of rows do, the others materialise the matrix or say they cannot.

What lives here, for numpy and (unchanged) CuPy arrays:

- :func:`parse_cost`: the argument to a frozen :class:`Cost` (name, exponent ``p`` and the
  integer ``kind`` the numba and CUDA kernels branch on: :data:`KIND_SQEUCLIDEAN`,
  :data:`KIND_EUCLIDEAN`, :data:`KIND_POWER`; :data:`KIND_DENSE` marks an explicit matrix);
- :func:`cost_block`: ``c(x_i, y_j)`` for a block of rows, by exact differences, free of
  overflow and underflow wherever the distance is representable; :func:`cdist_cost`, the
  whole matrix by scipy's ``cdist`` (faster, at unit scale only);
- :func:`diameter`: an upper bound on the costs (the bounding-box diagonal to the p-th power);
- :func:`grad_coef` and :func:`cost_grad`: the gradient in x, ``p |x - y|^(p-2) (x - y)``
  (``2 (x - y)`` for "sqeuclidean", ``(x - y) / |x - y|`` for "euclidean"), 0 where x = y and
  p < 2 (a subgradient).

The kernels keep their own inlined arithmetic (that is the kernel) and take the kind codes
from here. This module imports only numpy and :mod:`kantorovich._validation` (scipy inside
:func:`cdist_cost`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_positive, describe, xp_of

__all__ = [
    "KIND_CALLABLE",
    "KIND_DENSE",
    "KIND_EUCLIDEAN",
    "KIND_POWER",
    "KIND_SQEUCLIDEAN",
    "NAMES",
    "Cost",
    "cdist_cost",
    "cost_block",
    "cost_grad",
    "cost_range",
    "diameter",
    "grad_coef",
    "is_callable_cost",
    "no_gradient_message",
    "parse_cost",
]

#: kind codes of the numba and CUDA kernels (compile-time constants there)
KIND_DENSE = -1  # an explicit cost matrix C (no points)
KIND_SQEUCLIDEAN = 0  # |x - y|^2
KIND_EUCLIDEAN = 1  # |x - y|
KIND_POWER = 2  # |x - y|^p, any other p > 0
KIND_CALLABLE = -2  # a Python callable fn(x_block, y_block) (numpy blocks only, no kernel)

#: the named costs and their exponents
NAMES = {"sqeuclidean": 2.0, "euclidean": 1.0}


@dataclass(frozen=True)
class Cost:
    """A parsed ground cost: ``name`` ("sqeuclidean", "euclidean", "p=<p>", or a callable's
    ``__name__``), exponent ``p`` (float; None for a callable), kernel ``kind`` code and, for
    :data:`KIND_CALLABLE`, the callable ``fn``."""

    name: str
    p: float | None
    kind: int
    fn: Callable | None = None

    @property
    def is_callable(self) -> bool:
        return self.kind == KIND_CALLABLE


def is_callable_cost(cost: Any) -> bool:
    """Whether ``cost`` is a callable cost (a function, or a parsed :data:`KIND_CALLABLE`
    :class:`Cost`); types (``float``) are not."""
    if isinstance(cost, Cost):
        return cost.is_callable
    return callable(cost) and not isinstance(cost, type)


def parse_cost(cost: Any, name: str = "cost", *, allow_callable: bool = False) -> Cost:
    """``cost`` ("sqeuclidean", "euclidean", a real p > 0 or a :class:`Cost`) as a :class:`Cost`.

    A float 2.0 is "sqeuclidean" and 1.0 "euclidean" (same kernels, same bits). With
    ``allow_callable`` (:class:`~kantorovich.ot.PointCloud`), a callable is a
    :data:`KIND_CALLABLE` cost. Errors name ``name``: a ValueError for an unknown name or
    p <= 0, NaN or infinity; a TypeError for other types (bools included, and callables where
    they are not allowed).

    >>> parse_cost("euclidean"), parse_cost(3).name
    (Cost(name='euclidean', p=1.0, kind=1, fn=None), 'p=3')
    """
    if isinstance(cost, Cost):
        if cost.is_callable and not allow_callable:
            raise TypeError(_no_callable(name))
        return cost
    what = f"one of {tuple(NAMES)} or a positive float p"
    if getattr(cost, "shape", None) == () and hasattr(cost, "item"):
        cost = cost.item()  # a 0-d array
    if is_callable_cost(cost):
        if not allow_callable:
            raise TypeError(_no_callable(name))
        return Cost(str(getattr(cost, "__name__", type(cost).__name__)), None, KIND_CALLABLE, cost)
    if isinstance(cost, str):
        if cost not in NAMES:
            raise ValueError(f"`{name}` must be {what}; got {cost!r}.")
        p = NAMES[cost]
    elif isinstance(cost, (bool, np.bool_)) or not isinstance(cost, numbers.Real):
        raise TypeError(f"`{name}` must be {what}; got {describe(cost)}.")
    else:
        p = check_positive(cost, name)
    if p == 2.0:
        return Cost("sqeuclidean", 2.0, KIND_SQEUCLIDEAN)
    if p == 1.0:
        return Cost("euclidean", 1.0, KIND_EUCLIDEAN)
    return Cost(f"p={p:g}", p, KIND_POWER)


def _no_callable(name: str) -> str:
    return (f"`{name}` must be one of {tuple(NAMES)} or a positive float p here: a callable cost "
            "is taken by PointCloud(x, y, cost=fn) (docs/costs.md, \"A callable cost\").")


def _callable_block(fn: Callable, x, y):
    """``fn(x, y)``, checked: a real ``(len(x), len(y))`` array of finite costs, in x's dtype.

    The first block that breaks the contract raises (TypeError: not a real array; ValueError:
    another shape, NaN or infinity), naming `cost`.
    """
    xp = xp_of(x)
    out = fn(x, y)
    want = (int(x.shape[0]), int(y.shape[0]))
    kind = getattr(getattr(out, "dtype", None), "kind", None)
    if kind not in ("f", "i", "u"):
        try:
            out = xp.asarray(out)
        except Exception:
            raise TypeError(f"`cost` (a callable) must return a real array of shape {want}; "
                            f"got {describe(out)}.") from None
        if out.dtype.kind not in "fiu":
            raise TypeError(f"`cost` (a callable) must return a real array of shape {want}; "
                            f"got {describe(out)}.")
    if tuple(out.shape) != want:
        raise ValueError(f"`cost` (a callable) must return an array of shape {want} for "
                         f"{want[0]} rows of x against {want[1]} points of y; got {describe(out)}.")
    with np.errstate(over="ignore", invalid="ignore"):  # (what does not fit is reported next)
        out = xp.asarray(out, dtype=x.dtype)
    if not bool(xp.isfinite(out).all()):
        raise ValueError(f"`cost` (a callable) must return finite costs; got NaN or infinity "
                         f"(in {np.dtype(x.dtype).name}) for {want[0]} rows of x against "
                         f"{want[1]} points of y.")
    return out


def cost_range(x, y, cost: Any = "sqeuclidean", *, block_entries: int = 1 << 22) -> tuple[float, float]:
    """``(min C, max C)`` of ``C_ij = c(x_i, y_j)``, exactly, from blocks of rows (O(block m)
    memory); for an empty C, ``(0.0, 0.0)``.

    >>> cost_range(np.zeros((1, 2)), np.array([[3.0, 4.0], [0.0, 1.0]]), "euclidean")
    (1.0, 5.0)
    """
    n, m = int(x.shape[0]), int(y.shape[0])
    if n == 0 or m == 0:
        return 0.0, 0.0
    lo, hi = math.inf, -math.inf
    step = max(1, block_entries // max(1, m * max(1, int(x.shape[1]))))
    for i0 in range(0, n, step):
        C = cost_block(x[i0:i0 + step], y, cost)
        lo, hi = min(lo, float(C.min())), max(hi, float(C.max()))
    return lo, hi


def _power(sq, p: float, xp):
    """``sq^(p/2)`` with the two exact special cases (p = 2: ``sq``; p = 1: ``sqrt(sq)``)."""
    if p == 2.0:
        return sq
    if p == 1.0:
        return xp.sqrt(sq)
    with np.errstate(over="ignore", under="ignore"):
        return sq ** (p / 2.0)


def _separated(ax, ay, fi) -> bool:
    """Whether no two distinct points of the coordinates' magnitudes ``ax``, ``ay`` can have a
    sum of squared differences below ``tiny / eps`` (where it would lose bits to underflow).

    True when every nonzero |coordinate| is at least ``T = 2 sqrt(64 tiny / eps^3)`` (2^-429 in
    float64, 2^-24.5 in float32): two different floats of magnitude >= T differ by more than
    ``T eps / 2`` (half an ulp of the smaller; by >= T when one is 0 or the signs differ), so
    a nonzero rounded difference is at least ``T eps / 4`` and its square, rounded and summed
    with others, at least ``T^2 eps^2 / 64 >= 4 tiny / eps``. Equal coordinates give 0 and
    cost nothing. O((k + m) d), against a reduction over the k m squared distances.
    """
    t = 2.0 * math.sqrt(64.0 * float(fi.tiny) / float(fi.eps) ** 3)
    return all(bool(((a >= t) | (a == 0)).all()) for a in (ax, ay))


def cost_block(x, y, cost: Any = "sqeuclidean"):
    """``C_ij = |x_i - y_j|^p`` for x (k, d) and y (m, d): a (k, m) block, by exact differences.

    The squared distance is summed in coordinate order. Pairs whose sum of squares overflows
    or loses bits to underflow (distances beyond about 1e154 or below 1e-146 in float64) are
    redone scaled by their largest coordinate difference, as :func:`diameter` does: |x - y| is
    then exact to rounding wherever it is representable (its p-th power may still be 0 or
    inf). Checking for such pairs costs O((k + m) d) when no nonzero coordinate is below
    2^-429 (float64; :func:`_separated`) and nothing overflows, one reduction otherwise.

    A callable cost (:data:`KIND_CALLABLE`) is ``fn(x, y)``, checked (a real (k, m) array of
    finite costs, in x's dtype; the first block that is not raises, naming `cost`).

    >>> cost_block(np.zeros((1, 2)), np.array([[3.0, 4.0]]), "euclidean")
    array([[5.]])
    """
    c = parse_cost(cost, allow_callable=True)
    if c.is_callable:
        return _callable_block(c.fn, x, y)
    p = c.p
    xp = xp_of(x)
    diff = x[:, None, :] - y[None, :, :]
    with np.errstate(over="ignore", under="ignore"):
        sq = xp.sum(diff * diff, axis=-1)
    if sq.size == 0:
        return _power(sq, p, xp)
    fi = np.finfo(sq.dtype)
    lo_ok, hi_ok = float(fi.tiny) / float(fi.eps), float(fi.max)
    ax, ay = xp.abs(x), xp.abs(y)
    # |x_i - y_j|^2 <= d (2 max|coordinate|)^2: no sum of squares can overflow below that
    top = max(float(xp.max(ax)), float(xp.max(ay)))
    may_overflow = not 4.0 * x.shape[1] * top * top < hi_ok / 2
    if ((_separated(ax, ay, fi) or bool(sq.min() >= lo_ok))
            and (not may_overflow or bool(sq.max() <= hi_ok))):
        return _power(sq, p, xp)
    out = _power(sq, p, xp)
    bad = ~(sq >= lo_ok) | ~(sq <= hi_ok) if may_overflow else sq < lo_ok
    ii, jj = xp.nonzero(bad)
    db = diff[ii, jj]
    far = xp.any(db != 0, axis=-1)  # distinct points only (equal ones cost 0)
    if bool(far.any()):
        ii, jj, db = ii[far], jj[far], db[far]
        t = xp.max(xp.abs(db), axis=-1)
        with np.errstate(over="ignore", under="ignore", invalid="ignore"):
            r = t * xp.sqrt(xp.sum((db / t[:, None]) ** 2, axis=-1))
            out[ii, jj] = r if p == 1.0 else r ** p
    return out


def cdist_cost(x, y, cost: Any = "sqeuclidean"):
    """The dense float64 matrix ``|x_i - y_j|^p`` by scipy's ``cdist`` (numpy x (n, d), y (m, d)):
    faster than :func:`cost_block` for a whole matrix, without its overflow and underflow care
    (the exact LP's costs, at unit scale)."""
    from scipy.spatial.distance import cdist

    p = parse_cost(cost).p
    if p == 2.0:
        return cdist(x, y, "sqeuclidean")
    D = cdist(x, y, "euclidean")
    return D if p == 1.0 else D ** p


def diameter(x, y, cost: Any = "sqeuclidean") -> float:
    """Upper bound on ``|x_i - y_j|^p``: (diagonal of the joint bounding box)^p, a float.

    The diagonal is scaled by the largest extent where its squares would over- or underflow;
    a finite diagonal whose p-th power is beyond float64 gives ``inf``. A callable cost has no
    bounding box: its diameter is the exact range ``max C - min C`` (:func:`cost_range`, one
    pass over the costs).

    >>> diameter(np.zeros((1, 2)), np.array([[3.0, 4.0]]), 2.0)
    25.0
    """
    c = parse_cost(cost, allow_callable=True)
    if c.is_callable:
        lo, hi = cost_range(x, y, c)
        return hi - lo
    p = c.p
    xp = xp_of(x)
    lo = xp.minimum(x.min(axis=0), y.min(axis=0))
    hi = xp.maximum(x.max(axis=0), y.max(axis=0))
    w = hi - lo
    top = float(xp.max(w)) if w.size else 0.0
    if not top > 0.0 or not math.isfinite(top):
        diag = top if top > 0.0 else 0.0  # all points equal, or an infinite extent
    elif (math.sqrt(float(np.finfo(w.dtype).tiny)) * 4 < top
          < math.sqrt(float(np.finfo(w.dtype).max) / (4 * max(1, w.size)))):
        diag = float(xp.sqrt(xp.sum(w ** 2)))  # the squares and their sum are representable
    else:  # scaled by the largest extent: the squares would over- or underflow
        diag = top * float(xp.sqrt(xp.sum((w / top) ** 2)))
    try:
        return diag ** p
    except OverflowError:  # a finite diagonal whose p-th power is beyond float64
        return math.inf


def no_gradient_message(what: str = "the points") -> str:
    """Why a callable cost gives no gradient, naming `cost` (one message for every solver)."""
    return (f"`cost` is a callable: gradients in {what} exist only for the named costs "
            "('sqeuclidean', 'euclidean', a float p > 0; docs/costs.md, \"A callable cost\"), "
            "whose gradient in x is known in closed form. Pass plain arrays (detached, not "
            "traced) for values only, or a named cost for gradients.")


def grad_coef(sq, cost: Any = "sqeuclidean"):
    """The coefficient ``k`` with ``grad_x |x - y|^p = k (x - y)``, from ``sq = |x - y|^2``:
    ``p |x - y|^(p-2)`` (2 for p = 2; 0 where ``sq = 0``: a subgradient when p < 2). A
    callable cost is a ValueError naming `cost` (no closed-form gradient)."""
    c = parse_cost(cost, allow_callable=True)
    if c.is_callable:
        raise ValueError(no_gradient_message())
    p = c.p
    xp = xp_of(sq)
    if p == 2.0:
        return xp.full_like(sq, 2.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = p * sq ** (p / 2.0 - 1.0)
    return xp.where(sq > 0, out, 0.0)


def cost_grad(x, y, cost: Any = "sqeuclidean"):
    """The gradient in ``x`` of ``|x - y|^p`` for broadcastable x (..., d) and y (..., d):
    ``2 (x - y)`` ("sqeuclidean"), ``(x - y) / |x - y|`` ("euclidean", 0 where x = y),
    ``p |x - y|^(p-2) (x - y)`` otherwise (0 where x = y). The gradient in y is its negative.

    >>> cost_grad(np.array([3.0, 4.0]), np.zeros(2), "euclidean")
    array([0.6, 0.8])
    """
    if parse_cost(cost, allow_callable=True).is_callable:
        raise ValueError(no_gradient_message())
    xp = xp_of(x)
    diff = x - y
    return grad_coef(xp.sum(diff * diff, axis=-1), cost)[..., None] * diff
