"""The ground cost ``c(x, y) = |x - y|^p`` (Euclidean norm), in one place for every solver.

One vocabulary (the ``cost=`` argument of :class:`~kantorovich.ot.PointCloud` and
:func:`~kantorovich.ot.assignment`)::

    "sqeuclidean"    c(x, y) = |x - y|^2      p = 2, no 1/2 factor (POT's ot.dist, OTT's SqEuclidean)
    "euclidean"      c(x, y) = |x - y|        p = 1
    a float p > 0    c(x, y) = |x - y|^p      2.0 and 1.0 are the two names above

(The ``p=`` of :func:`~kantorovich.ot.wasserstein`, ``wasserstein_1d`` and ``sliced_wasserstein``
is the order of W_p, whose ground cost is ``|x - y|^p``; W_p needs p >= 1.)

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
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_positive, describe, xp_of

__all__ = [
    "KIND_DENSE",
    "KIND_EUCLIDEAN",
    "KIND_POWER",
    "KIND_SQEUCLIDEAN",
    "NAMES",
    "Cost",
    "cdist_cost",
    "cost_block",
    "cost_grad",
    "diameter",
    "grad_coef",
    "parse_cost",
]

#: kind codes of the numba and CUDA kernels (compile-time constants there)
KIND_DENSE = -1  # an explicit cost matrix C (no points)
KIND_SQEUCLIDEAN = 0  # |x - y|^2
KIND_EUCLIDEAN = 1  # |x - y|
KIND_POWER = 2  # |x - y|^p, any other p > 0

#: the named costs and their exponents
NAMES = {"sqeuclidean": 2.0, "euclidean": 1.0}


@dataclass(frozen=True)
class Cost:
    """A parsed ground cost ``|x - y|^p``: ``name`` ("sqeuclidean", "euclidean" or "p=<p>"),
    exponent ``p`` (float) and kernel ``kind`` code."""

    name: str
    p: float
    kind: int


def parse_cost(cost: Any, name: str = "cost") -> Cost:
    """``cost`` ("sqeuclidean", "euclidean", a real p > 0 or a :class:`Cost`) as a :class:`Cost`.

    A float 2.0 is "sqeuclidean" and 1.0 "euclidean" (same kernels, same bits). Errors name
    ``name``: a ValueError for an unknown name or p <= 0, NaN or infinity; a TypeError for other
    types (bools included).

    >>> parse_cost("euclidean"), parse_cost(3).name
    (Cost(name='euclidean', p=1.0, kind=1), 'p=3')
    """
    if isinstance(cost, Cost):
        return cost
    what = f"one of {tuple(NAMES)} or a positive float p"
    if getattr(cost, "shape", None) == () and hasattr(cost, "item"):
        cost = cost.item()  # a 0-d array
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

    >>> cost_block(np.zeros((1, 2)), np.array([[3.0, 4.0]]), "euclidean")
    array([[5.]])
    """
    p = parse_cost(cost).p
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
    a finite diagonal whose p-th power is beyond float64 gives ``inf``.

    >>> diameter(np.zeros((1, 2)), np.array([[3.0, 4.0]]), 2.0)
    25.0
    """
    p = parse_cost(cost).p
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


def grad_coef(sq, cost: Any = "sqeuclidean"):
    """The coefficient ``k`` with ``grad_x |x - y|^p = k (x - y)``, from ``sq = |x - y|^2``:
    ``p |x - y|^(p-2)`` (2 for p = 2; 0 where ``sq = 0``: a subgradient when p < 2)."""
    p = parse_cost(cost).p
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
    xp = xp_of(x)
    diff = x - y
    return grad_coef(xp.sum(diff * diff, axis=-1), cost)[..., None] * diff
