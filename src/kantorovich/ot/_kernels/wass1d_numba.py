"""numba CPU kernels of the 1-D Wasserstein distance W_p (one fused pass after the sort).

All kernels take values that are ALREADY SORTED along the last axis (by the radix sort of
:mod:`kantorovich.ot._kernels.radix_numba` for long rows, ``np.sort`` for short ones) and
return, per row, the p-th power of W_p:

* ``equal_uniform(xs, ys, p)``: rows of equal length n and uniform weights,
  ``(1/n) sum_i |xs_i - ys_i|^p``; parallel over rows, or over the points of a single row.
* ``merge_uniform(xs, ys, p)``: uniform weights, lengths n and m; the quantile functions
  are merged with exact integer arithmetic (breakpoints i/n and j/m compared as i*m vs j*n),
  so there is no rounding drift in the masses.
* ``merge_weighted(xs, wu, ys, wv, p)``: weights (not necessarily normalised, zeros allowed),
  merged with running cumulative sums divided by the row totals; the last breakpoint of
  each side is pinned to exactly 1.
* ``pairs(X, WX, Y, WY, ix, iy, p)``: the same reductions for the row pairs
  ``(X[ix[b]], Y[iy[b]])`` of two stacks, read in place (a pairwise matrix passes each sample
  once, not once per pair); each pair is reduced as the batched kernels above reduce a row.

Conventions shared with the numpy reference
(``kantorovich.ot._kernels.wass1d_numpy.wpp_reference``): the distance between two equal values
is 0 even when both are the same infinity, and a segment of zero mass contributes 0 even if
its cost is infinite (so a zero-weight point at infinity is ignored).

numba is imported here, never at ``import kantorovich``; every kernel is ``cache=True``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..._parallel import parallel_kernel

__all__ = ["equal_uniform", "merge_uniform", "merge_weighted", "merge_weighted_chunked", "pairs"]


#: ``p = INF`` selects the max mode: every kernel then returns, per row, the largest |x - y|
#: over the cells of positive mass (W_inf, the largest moved distance) instead of W_p^p
INF = np.inf


@njit(cache=True, inline="always")
def _cost1(a, b, p):
    """|a - b|^p (the plain cost: a loop of it vectorises)."""
    if a == b:  # also for two equal infinities, where a - b would be NaN
        return 0.0
    d = abs(a - b)
    if p == 1.0:
        return d
    if p == 2.0:
        return d * d
    return d ** p


@njit(cache=True, inline="always")
def _cost(a, b, p, div):
    """(|a - b| / div)^p; |a - b| / div in max mode (p = INF)."""
    if a == b:  # also for two equal infinities, where a - b would be NaN
        return 0.0
    d = abs(a - b)
    if div != 1.0:
        d = d / div
    if p == 1.0 or p == INF:
        return d
    if p == 2.0:
        return d * d
    return d ** p


@njit(cache=True, inline="always")
def _acc(s, mass, c, p):
    """One cell into the running result: s + mass * c, or max(s, c) in max mode."""
    if p == INF:
        return c if c > s else s
    return s + mass * c


@parallel_kernel
@njit(cache=True, parallel=True)
def _equal_uniform_rows(xs, ys, p):
    B, n = xs.shape
    out = np.empty(B)
    for b in prange(B):
        s = 0.0
        for i in range(n):
            s += _cost1(xs[b, i], ys[b, i], p)
        out[b] = s / n
    return out


@parallel_kernel
@njit(cache=True, parallel=True)
def _equal_uniform_rows_div(xs, ys, p, div):
    """As _equal_uniform_rows with per-row divisors, or the max mode (p = INF)."""
    B, n = xs.shape
    out = np.empty(B)
    for b in prange(B):
        s = 0.0
        for i in range(n):
            s = _acc(s, 1.0, _cost(xs[b, i], ys[b, i], p, div[b]), p)
        out[b] = s if p == INF else s / n
    return out


@parallel_kernel
@njit(cache=True, parallel=True)
def _equal_uniform_one(x, y, p):
    n = x.shape[0]
    # fixed chunks, summed in order: the result does not depend on the thread count
    n_chunks = 64 if n >= 1 << 16 else 1
    part = np.zeros(n_chunks)
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        s = 0.0
        for i in range(c * step, min(n, (c + 1) * step)):
            s += _cost1(x[i], y[i], p)
        part[c] = s
    s = 0.0
    for c in range(n_chunks):
        s += part[c]
    return s / n


@parallel_kernel
@njit(cache=True, parallel=True)
def _equal_uniform_one_div(x, y, p, div):
    """As _equal_uniform_one with a divisor, or the max mode (p = INF)."""
    n = x.shape[0]
    n_chunks = 64 if n >= 1 << 16 else 1
    part = np.zeros(n_chunks)
    step = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        s = 0.0
        for i in range(c * step, min(n, (c + 1) * step)):
            s = _acc(s, 1.0, _cost(x[i], y[i], p, div), p)
        part[c] = s
    s = 0.0
    for c in range(n_chunks):
        s = _acc(s, 1.0, part[c], p)
    return s if p == INF else s / n


def _divisors(div, B):
    """Per-row divisors of the differences as a float64 (B,) array (None: all 1)."""
    if div is None:
        return np.ones(B)
    return np.ascontiguousarray(np.broadcast_to(np.asarray(div, dtype=np.float64), (B,)))


def equal_uniform(xs, ys, p, div=None):
    """(B,) array of (1/n) sum_i (|xs[b, i] - ys[b, i]| / div[b])^p for sorted (B, n) rows
    (``p = INF``: max_i |xs[b, i] - ys[b, i]| / div[b])."""
    p = float(p)
    if div is None and p != INF:  # the plain kernels (vectorised loops)
        if xs.shape[0] == 1:
            return np.array([_equal_uniform_one(xs[0], ys[0], p)])
        return _equal_uniform_rows(xs, ys, p)
    div = _divisors(div, xs.shape[0])
    if xs.shape[0] == 1:
        return np.array([_equal_uniform_one_div(xs[0], ys[0], p, div[0])])
    return _equal_uniform_rows_div(xs, ys, p, div)


@njit(cache=True)
def _merge_uniform_row(x, y, p, div):
    n = x.shape[0]
    m = y.shape[0]
    nm = n * m
    i = 0
    j = 0
    prev = 0  # current breakpoint t = prev / (n m)
    s = 0.0
    while i < n and j < m:
        tu = (i + 1) * m  # F_u breakpoint (i+1)/n in units of 1/(nm)
        tv = (j + 1) * n
        nxt = tu if tu < tv else tv
        mass = nxt - prev
        if mass > 0:
            s = _acc(s, mass, _cost(x[i], y[j], p, div), p)
        prev = nxt
        if tu <= tv:
            i += 1
        if tv <= tu:
            j += 1
    return s if p == INF else s / nm


@parallel_kernel
@njit(cache=True, parallel=True)
def _merge_uniform_rows(xs, ys, p, div):
    B = xs.shape[0]
    out = np.empty(B)
    for b in prange(B):
        out[b] = _merge_uniform_row(xs[b], ys[b], p, div[b])
    return out


def merge_uniform(xs, ys, p, div=None):
    """(B,) array of W_p^p between uniform sorted rows xs (B, n) and ys (B, m), the
    differences divided by div[b] (``p = INF``: the largest moved difference)."""
    return _merge_uniform_rows(xs, ys, float(p), _divisors(div, xs.shape[0]))


@njit(cache=True)
def _merge_weighted_row(x, wu, y, wv, p, div):
    n = x.shape[0]
    m = y.shape[0]
    tot_u = 0.0
    for k in range(n):
        tot_u += wu[k]
    tot_v = 0.0
    for k in range(m):
        tot_v += wv[k]
    i = 0
    j = 0
    cu = 0.0  # running (unnormalised) cumulative weights up to and including i / j
    cv = 0.0
    cu += wu[0]
    cv += wv[0]
    prev = 0.0
    s = 0.0
    while i < n and j < m:
        tu = 1.0 if i == n - 1 else cu / tot_u
        tv = 1.0 if j == m - 1 else cv / tot_v
        nxt = tu if tu < tv else tv
        mass = nxt - prev
        if mass > 0.0:
            s = _acc(s, mass, _cost(x[i], y[j], p, div), p)
            prev = nxt  # breakpoints are non-decreasing: mass < 0 cannot occur
        if tu <= tv:
            i += 1
            if i < n:
                cu += wu[i]
        if tv <= tu:
            j += 1
            if j < m:
                cv += wv[j]
    return s


@parallel_kernel
@njit(cache=True, parallel=True)
def _merge_weighted_rows(xs, wu, ys, wv, p, div):
    B = xs.shape[0]
    out = np.empty(B)
    for b in prange(B):
        out[b] = _merge_weighted_row(xs[b], wu[b], ys[b], wv[b], p, div[b])
    return out


# ---------------------------------------------------------------- parallel weighted merge
#: a single weighted row pair with n + m >= this is merged in ``MERGE_CHUNKS`` parallel chunks
PAR_MERGE_MIN = 1 << 16
#: number of chunks (fixed: the result does not depend on the thread count)
MERGE_CHUNKS = 16
#: block length of the block sums used to locate the split points
_BLK = 4096


@njit(cache=True, inline="always")
def _prefix_at(w, pb, i, blk):
    """sum(w[:i]) from the block prefix sums pb (pb[b] = sum(w[:b * blk]))."""
    b = i // blk
    s = pb[b]
    for k in range(b * blk, i):
        s += w[k]
    return s


@njit(cache=True)
def _first_above(w, pb, tot, t, blk, last):
    """Smallest i with (sum(w[:i + 1]) / tot > t), clamped to ``last``, and sum(w[:i + 1]).

    i is the atom whose quantile interval contains levels just above t; ``last`` is the
    last atom of positive weight, whose level is pinned to 1.
    """
    nb = pb.shape[0] - 1
    # last block b whose start prefix pb[b] / tot <= t (pb[0] = 0 <= t always)
    lo = 0
    hi = nb - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if pb[mid] / tot <= t:
            lo = mid
        else:
            hi = mid - 1
    c = pb[lo]
    i = lo * blk
    while i < last:
        c += w[i]
        if c / tot > t:
            return i, c
        i += 1
    # the last positive atom: its level is pinned to 1 by the merge, c is not used there
    return last, c


@njit(cache=True)
def _merge_weighted_range(x, wu, y, wv, p, div, i, cu, tot_u, lu, j, cv, tot_v, lv, t_lo, t_hi, last):
    """Sum of mass * cost over the staircase cells between levels t_lo and t_hi.

    (i, cu) / (j, cv): the atoms covering levels just above t_lo and their inclusive
    unnormalised cumulative weights. The same recurrence as the serial pass, cut at t_hi.
    The level of the last positive-weight atom (lu / lv) and of all after it is pinned to
    exactly 1: the block-summed totals may differ from the running sums by rounding, and a
    trailing zero-weight point (possibly at +inf) must not receive a sliver of mass.
    """
    n = x.shape[0]
    m = y.shape[0]
    prev = t_lo
    s = 0.0
    while i < n and j < m:
        tu = 1.0 if i >= lu else cu / tot_u
        tv = 1.0 if j >= lv else cv / tot_v
        nxt = tu if tu < tv else tv
        if not last and nxt >= t_hi:
            mass = t_hi - prev
            if mass > 0.0:
                s = _acc(s, mass, _cost(x[i], y[j], p, div), p)
            break
        mass = nxt - prev
        if mass > 0.0:
            s = _acc(s, mass, _cost(x[i], y[j], p, div), p)
            prev = nxt
        if tu <= tv:
            i += 1
            if i < n:
                cu += wu[i]
        if tv <= tu:
            j += 1
            if j < m:
                cv += wv[j]
    return s


@njit(cache=True, inline="always")
def _seq_prefix(w, pb, blk):
    """pb[b] = the sequential running sum of w before index b * blk; pb[-1] = the total."""
    s = 0.0
    for k in range(w.shape[0]):
        if k % blk == 0:
            pb[k // blk] = s
        s += w[k]
    pb[pb.shape[0] - 1] = s


@njit(cache=True, parallel=True)
def _block_prefix2(wu, wv, blk):
    """Block prefix sums of wu and wv, one side per thread.

    The sums are *sequential* (the same additions in the same order as the serial merge),
    so a chunk that starts from pb[b] and keeps adding reproduces the serial running sums
    and totals bit for bit: the breakpoint levels cu / tot agree exactly across chunks (a
    point at +inf whose mass is matched on the other side stays matched).
    """
    n = wu.shape[0]
    m = wv.shape[0]
    pu = np.empty((n + blk - 1) // blk + 1)
    pv = np.empty((m + blk - 1) // blk + 1)
    for c in prange(2):
        if c == 0:
            _seq_prefix(wu, pu, blk)
        else:
            _seq_prefix(wv, pv, blk)
    return pu, pv


@parallel_kernel
@njit(cache=True, parallel=True)
def _merge_weighted_chunked(x, wu, y, wv, p, div, n_chunks, blk):
    """W_p^p of one weighted row pair, the staircase cut into n_chunks level ranges.

    Split levels: chunk c covers [t_c, t_{c+1}] with t_c the mean of the u level at index
    c n / K and the v level at index c m / K (so both sides' atoms are spread over the
    chunks); the start atoms and their cumulative weights come from the block prefix sums
    plus a scan of one block. Chunks are summed in order (deterministic).
    """
    n = x.shape[0]
    m = y.shape[0]
    pu, pv = _block_prefix2(wu, wv, blk)
    tot_u = pu[pu.shape[0] - 1]
    tot_v = pv[pv.shape[0] - 1]
    lu = n - 1
    while lu > 0 and wu[lu] == 0.0:
        lu -= 1
    lv = m - 1
    while lv > 0 and wv[lv] == 0.0:
        lv -= 1
    lev = np.empty(n_chunks + 1)
    lev[0] = 0.0
    lev[n_chunks] = 1.0
    for c in range(1, n_chunks):
        a = _prefix_at(wu, pu, (c * n) // n_chunks, blk) / tot_u
        b = _prefix_at(wv, pv, (c * m) // n_chunks, blk) / tot_v
        t = 0.5 * (a + b)
        lev[c] = min(max(t, lev[c - 1]), 1.0)
    part = np.zeros(n_chunks)
    for c in prange(n_chunks):
        t_lo = lev[c]
        t_hi = lev[c + 1]
        if t_hi > t_lo or c == n_chunks - 1:
            i, cu = _first_above(wu, pu, tot_u, t_lo, blk, lu)
            j, cv = _first_above(wv, pv, tot_v, t_lo, blk, lv)
            part[c] = _merge_weighted_range(x, wu, y, wv, p, div, i, cu, tot_u, lu, j, cv, tot_v, lv,
                                            t_lo, t_hi, c == n_chunks - 1)
    s = 0.0
    for c in range(n_chunks):
        s = _acc(s, 1.0, part[c], p)
    return s


def merge_weighted(xs, wu, ys, wv, p, div=None):
    """(B,) array of W_p^p between weighted sorted rows (weights carried in sorted order),
    the differences divided by div[b] (``p = INF``: the largest moved difference).

    A single long row pair (n + m >= ``PAR_MERGE_MIN``, contiguous) is merged in
    ``MERGE_CHUNKS`` chunks in parallel (:func:`merge_weighted_chunked`); batches are
    parallel over rows.
    """
    p = float(p)
    div = _divisors(div, xs.shape[0])
    if xs.shape[0] == 1 and xs.shape[1] + ys.shape[1] >= PAR_MERGE_MIN:
        return np.array([merge_weighted_chunked(xs[0], wu[0], ys[0], wv[0], p, div=div[0])])
    return _merge_weighted_rows(xs, wu, ys, wv, p, div)


def merge_weighted_chunked(x, wu, y, wv, p, n_chunks=MERGE_CHUNKS, blk=_BLK, div=1.0):
    """W_p^p of one weighted sorted row pair, merged in ``n_chunks`` parallel level ranges."""
    return _merge_weighted_chunked(x, wu, y, wv, float(p), float(div), int(n_chunks), int(blk))



# ---------------------------------------------------------------- row pairs of two stacks
@parallel_kernel
@njit(cache=True, parallel=True)
def _equal_uniform_pairs(X, Y, ix, iy, p):
    B = ix.shape[0]
    n = X.shape[1]
    out = np.empty(B)
    for b in prange(B):
        x = X[ix[b]]
        y = Y[iy[b]]
        s = 0.0
        for i in range(n):
            s += _cost1(x[i], y[i], p)
        out[b] = s / n
    return out


@parallel_kernel
@njit(cache=True, parallel=True)
def _merge_uniform_pairs(X, Y, ix, iy, p):
    B = ix.shape[0]
    out = np.empty(B)
    for b in prange(B):
        out[b] = _merge_uniform_row(X[ix[b]], Y[iy[b]], p, 1.0)
    return out


@parallel_kernel
@njit(cache=True, parallel=True)
def _merge_weighted_pairs(X, WX, Y, WY, ix, iwx, iy, iwy, p):
    B = ix.shape[0]
    out = np.empty(B)
    for b in prange(B):
        out[b] = _merge_weighted_row(X[ix[b]], WX[iwx[b]], Y[iy[b]], WY[iwy[b]], p, 1.0)
    return out


def pairs(X, WX, Y, WY, ix, iy, p):
    """(B,) array of W_p^p between the sorted rows ``X[ix[b]]`` and ``Y[iy[b]]`` (weights
    ``WX``, ``WY`` in the same sorted order, or None: uniform), read in place.

    Each pair is reduced in the order :func:`equal_uniform`, :func:`merge_uniform` and
    :func:`merge_weighted` reduce a row of a batch of several rows, so the values are theirs bit
    for bit. ``X`` (K, n) and ``Y`` (L, m) are float64 and C-contiguous; ``ix``, ``iy`` (B,)
    are int64 row indices.
    """
    p = float(p)
    ix = np.ascontiguousarray(ix, dtype=np.int64)
    iy = np.ascontiguousarray(iy, dtype=np.int64)
    if WX is None and WY is None:
        if X.shape[1] == Y.shape[1]:
            return _equal_uniform_pairs(X, Y, ix, iy, p)
        return _merge_uniform_pairs(X, Y, ix, iy, p)
    # an unweighted side reads one row of ones, as merge_weighted reads a broadcast one
    zero = np.zeros_like(ix)
    wx, iwx = (np.ones((1, X.shape[1])), zero) if WX is None else (WX, ix)
    wy, iwy = (np.ones((1, Y.shape[1])), zero) if WY is None else (WY, iy)
    return _merge_weighted_pairs(X, wx, Y, wy, ix, iwx, iy, iwy, p)
