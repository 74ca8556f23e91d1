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

Conventions shared with the numpy reference
(``kantorovich.ot._wasserstein_1d._wpp_reference``): the distance between two equal values
is 0 even when both are the same infinity, and a segment of zero mass contributes 0 even if
its cost is infinite (so a zero-weight point at infinity is ignored).

numba is imported here, never at ``import kantorovich``; every kernel is ``cache=True``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

__all__ = ["equal_uniform", "merge_uniform", "merge_weighted"]


@njit(cache=True, inline="always")
def _cost(a, b, p):
    if a == b:  # also for two equal infinities, where a - b would be NaN
        return 0.0
    d = abs(a - b)
    if p == 1.0:
        return d
    if p == 2.0:
        return d * d
    return d ** p


@njit(cache=True, parallel=True)
def _equal_uniform_rows(xs, ys, p):
    B, n = xs.shape
    out = np.empty(B)
    for b in prange(B):
        s = 0.0
        for i in range(n):
            s += _cost(xs[b, i], ys[b, i], p)
        out[b] = s / n
    return out


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
            s += _cost(x[i], y[i], p)
        part[c] = s
    s = 0.0
    for c in range(n_chunks):
        s += part[c]
    return s / n


def equal_uniform(xs, ys, p):
    """(B,) array of (1/n) sum_i |xs[b, i] - ys[b, i]|^p for sorted (B, n) rows."""
    p = float(p)
    if xs.shape[0] == 1:
        return np.array([_equal_uniform_one(xs[0], ys[0], p)])
    return _equal_uniform_rows(xs, ys, p)


@njit(cache=True)
def _merge_uniform_row(x, y, p):
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
            s += mass * _cost(x[i], y[j], p)
        prev = nxt
        if tu <= tv:
            i += 1
        if tv <= tu:
            j += 1
    return s / nm


@njit(cache=True, parallel=True)
def _merge_uniform_rows(xs, ys, p):
    B = xs.shape[0]
    out = np.empty(B)
    for b in prange(B):
        out[b] = _merge_uniform_row(xs[b], ys[b], p)
    return out


def merge_uniform(xs, ys, p):
    """(B,) array of W_p^p between uniform sorted rows xs (B, n) and ys (B, m)."""
    return _merge_uniform_rows(xs, ys, float(p))


@njit(cache=True)
def _merge_weighted_row(x, wu, y, wv, p):
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
            s += mass * _cost(x[i], y[j], p)
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


@njit(cache=True, parallel=True)
def _merge_weighted_rows(xs, wu, ys, wv, p):
    B = xs.shape[0]
    out = np.empty(B)
    for b in prange(B):
        out[b] = _merge_weighted_row(xs[b], wu[b], ys[b], wv[b], p)
    return out


def merge_weighted(xs, wu, ys, wv, p):
    """(B,) array of W_p^p between weighted sorted rows (weights carried in sorted order)."""
    return _merge_weighted_rows(xs, wu, ys, wv, float(p))


def warm_up() -> None:
    """Compile (or load from cache) every kernel on tiny inputs."""
    a = np.array([[0.0, 1.0]])
    w = np.ones((1, 2))
    equal_uniform(a, a, 1.0)
    equal_uniform(np.vstack([a, a]), np.vstack([a, a]), 1.0)
    merge_uniform(a, a[:, :1].copy(), 1.0)
    merge_weighted(a, w, a, w, 1.0)
