"""The sorted-row engine shared by the 1-D and the sliced Wasserstein distances.

Both reduce to W_p between sorted rows (B, n) and (B, m) of values (and weights):
:func:`kantorovich.ot.wasserstein_1d` sorts its rows once, the sliced distances sort one row
per projection direction. This module holds what they share on the host: the check of ``p``,
the numba sort (LSD radix sort from ``RADIX_MIN_N`` values per row, both sides in two threads
for single long rows), the W_p^p reduction by backend (the numpy reference merge of
:mod:`kantorovich.ot._kernels.wass1d_numpy` or the fused numba pass of
:mod:`kantorovich.ot._kernels.wass1d_numba`) and the overflow-safe W_p from W_p^p
(:func:`wp_sorted`, :func:`wp_rescaled`). ``backend`` is "numpy" or "numba" here.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._validation import describe
from ._kernels.wass1d_numpy import breakpoints, cost, merge_cells, pow2_above_max_abs, sort_rows, wpp_reference

__all__ = ["AUTO_NUMBA_MIN_SIZE", "PAIR_MIN_SIZE", "RADIX_MIN_N", "SAFE_LO", "breakpoints", "check_p", "cost",
           "merge_cells", "numba_ok", "pow2_above_max_abs", "sort_numba", "sort_rows", "sort_rows_numba",
           "wp_rescaled", "wp_sorted", "wp_sorted_pairs", "wpp_reference"]

#: below this many values in total (all rows, both sides), ``backend="auto"`` uses numpy
AUTO_NUMBA_MIN_SIZE = 20_000
#: numba backend: rows of at least this many values are sorted by the numba LSD radix sort
#: (:mod:`kantorovich.ot._kernels.radix_numba`), shorter ones by ``np.sort`` (measured
#: crossover ~2000 float64 on the development machine)
RADIX_MIN_N = 2048
#: numba backend: single rows u, v with at least this many values in all are sorted in two
#: threads at once (a thread start costs ~0.1 ms)
PAIR_MIN_SIZE = 1 << 17


def check_p(p: Any) -> float:
    """``p`` as a float, or the TypeError / ValueError naming `p` (real, finite, >= 1); a 0-d
    array (torch, JAX, numpy) counts as its number, as a 0-d ``eps`` does elsewhere."""
    if getattr(p, "shape", None) == () and hasattr(p, "item") and not isinstance(p, (bool, np.generic)):
        p = p.item()
    if isinstance(p, bool) or not isinstance(p, (int, float, np.integer, np.floating)):
        raise TypeError(f"`p` must be a real number >= 1; got {describe(p)}.")
    pf = float(p)
    if not (pf >= 1.0) or not math.isfinite(pf):
        raise ValueError(f"`p` must be a finite real number >= 1; got {p!r}.")
    return pf


def numba_ok() -> bool:
    """True when numba imports (the numba backend and the size rule of ``"auto"``)."""
    try:
        import numba  # noqa: F401
    except Exception:
        return False
    return True


def wpp_numba(xs, wu, ys, wv, p, div=None):
    """W_p^p per row by the fused O(n + m) numba pass (:mod:`._kernels.wass1d_numba`)."""
    from ._kernels import wass1d_numba as K

    n, m = xs.shape[-1], ys.shape[-1]
    if wu is None and wv is None:
        xs = np.ascontiguousarray(xs)
        ys = np.ascontiguousarray(ys)
        return K.equal_uniform(xs, ys, p, div) if n == m else K.merge_uniform(xs, ys, p, div)
    # weighted rows may be strided views of a complex sort: read in place, no copies
    # (broadcast weights of stride 0 are fine too)
    wu = np.ones((1, n)) if wu is None else wu
    wv = np.ones((1, m)) if wv is None else wv
    wu = np.broadcast_to(wu, xs.shape)
    wv = np.broadcast_to(wv, ys.shape)
    return K.merge_weighted(xs, wu, ys, wv, p, div)


#: a row's W_p^p at the value-based scale is trusted when it lies in [SAFE_LO, inf): no term
#: overflowed, and terms that underflowed (each off by at most 2**-1074) cannot matter
SAFE_LO = 2.0 ** -900


def wpp_rows(xs, wu, ys, wv, p, backend, div=None):
    """W_p^p per row of sorted rows: the fused numba pass or the numpy reference merge."""
    if backend == "numba":
        return np.asarray(wpp_numba(xs, wu, ys, wv, p, div), dtype=np.float64)
    with np.errstate(over="ignore"):  # an overflowing sum is redone by wp_rescaled
        return np.asarray(wpp_reference(xs, wu, ys, wv, p, np, div), dtype=np.float64)


def wp_sorted(xs, wu, ys, wv, p, backend):
    """W_p per row from sorted rows (B, n), (B, m) (numpy/numba).

    First at the scale of the values: for p != 1 they are divided by a power of two s >= the
    largest |value| (exact), W_p = s (sum m |d / s|^p)^(1/p). Rows where that sum overflows or
    underflows (a far value, even of zero weight, large p, sums beyond float64) are redone by
    :func:`wp_rescaled`, scaled by the largest moved difference.
    """
    scale = 1.0
    xv, yv = xs, ys
    if p != 1.0:
        scale = pow2_above_max_abs(xs, ys, np)
        if scale != 1.0:
            xv = xs / scale
            yv = ys / scale
    wpp = wpp_rows(xv, wu, yv, wv, p, backend)

    def rows_of(rows):
        return (xs[rows], None if wu is None else np.broadcast_to(wu, xs.shape)[rows],
                ys[rows], None if wv is None else np.broadcast_to(wv, ys.shape)[rows])
    return _wp_from_wpp(wpp, scale, p, rows_of, backend)


def _wp_from_wpp(wpp, scale, p, rows_of, backend):
    """W_p = scale (W_p^p)^(1/p) per row; rows whose W_p^p at that scale is not trusted
    (``SAFE_LO``) are redone by :func:`wp_rescaled` on ``rows_of(rows)`` = (xs, wu, ys, wv),
    the rows at their own scale."""
    with np.errstate(over="ignore"):
        out = wpp if p == 1.0 else scale * wpp ** (1.0 / p)
    bad = ~((wpp >= SAFE_LO) & (wpp < math.inf))
    if bool(bad.any()):
        rows = np.flatnonzero(bad)
        out = np.array(out, dtype=np.float64, copy=True)
        out[rows] = wp_rescaled(*rows_of(rows), p, backend)
    return out


def wp_sorted_pairs(X, WX, Y, WY, ix, iy, p, scale):
    """W_p of the row pairs ``(X[ix[b]], Y[iy[b]])`` of two stacks of sorted rows (numba).

    The values are those of :func:`wp_sorted` on the gathered rows ``X[ix]``, ``Y[iy]`` with
    the numba backend, bit for bit, without gathering them. ``scale`` is the power of two
    :func:`pow2_above_max_abs` picks for every one of those pairs (the caller groups the pairs
    so that it is one; 1 for p = 1): the stacks are divided by it once, not once per pair.
    """
    from ._kernels import wass1d_numba as K

    Xv, Yv = (X, Y) if scale == 1.0 else (X / scale, Y / scale)
    wpp = np.asarray(K.pairs(Xv, WX, Yv, WY, ix, iy, p), dtype=np.float64)

    def rows_of(rows):
        return (X[ix[rows]], None if WX is None else WX[ix[rows]],
                Y[iy[rows]], None if WY is None else WY[iy[rows]])
    return _wp_from_wpp(wpp, scale, p, rows_of, "numba")


def wp_rescaled(xs, wu, ys, wv, p, backend):
    """W_p per row as D (sum m (|d| / D)^p)^(1/p), D the largest moved difference |d|.

    Every term is at most 1 and the largest is 1, so the sum neither overflows nor vanishes,
    for any p (as p -> inf, W_p -> D). Where |x - y| overflows float64 for finite values the
    row is halved first (exact for values that large) and the result doubled. D = inf means
    positive mass moves to or from an infinity: W_p = inf.
    """
    D = wpp_rows(xs, wu, ys, wv, math.inf, backend)
    half = np.isinf(D)
    if bool(half.any()):
        xs = np.where(half[:, None], xs * 0.5, xs)
        ys = np.where(half[:, None], ys * 0.5, ys)
        D = np.where(half, wpp_rows(xs, wu, ys, wv, math.inf, backend), D)
    pos = (D > 0) & (D < math.inf)
    S = wpp_rows(xs, wu, ys, wv, p, backend, div=np.where(pos, D, 1.0))
    with np.errstate(over="ignore", invalid="ignore"):
        out = D * S ** (1.0 / p)
        out = np.where(half, 2.0 * out, out)
    return np.where(pos, out, np.where(D == 0, 0.0, math.inf))


def radix_prep(x, w):
    """C-contiguous float64 values and (broadcast, copied) weights for the in-place radix sort."""
    x = np.ascontiguousarray(x)  # x is our own validated copy: sorting it in place is fine
    if w is not None and not (w.shape == x.shape and w.dtype == np.float64 and w.flags.c_contiguous
                              and w.flags.writeable and w.base is None):
        # the radix sort permutes the weights in place: broadcast weights (or anything that
        # is not our own validated copy, which owns its data) are copied first
        w = np.array(np.broadcast_to(w, x.shape), dtype=np.float64, order="C")
    return x, w


def sort_numba(u, uw, v, vw):
    """Sort both sides for the numba backend: LSD radix sort (numba) from RADIX_MIN_N values
    per row, u and v concurrently in two threads when each is a single long row."""
    from ._kernels import radix_numba as R

    n, m = u.shape[-1], v.shape[-1]
    if u.size == n and v.size == m and min(n, m) >= RADIX_MIN_N and n + m >= PAIR_MIN_SIZE:
        u, uw = radix_prep(u, uw)
        v, vw = radix_prep(v, vw)
        R.sort_pair(u.reshape(-1), None if uw is None else uw.reshape(-1),
                    v.reshape(-1), None if vw is None else vw.reshape(-1))
        return u, uw, v, vw
    return sort_rows_numba(u, uw) + sort_rows_numba(v, vw)


def sort_rows_numba(x, w):
    """One side, numba backend: radix sort rows of >= RADIX_MIN_N values, else ``np.sort``."""
    if x.shape[-1] < RADIX_MIN_N:
        return sort_rows(x, w, np)
    from ._kernels import radix_numba as R

    x, w = radix_prep(x, w)
    if w is None:
        R.sort_rows(x)
    else:
        R.sort_rows_kv(x, w)
    return x, w
