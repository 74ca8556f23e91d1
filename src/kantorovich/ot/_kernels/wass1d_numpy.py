r"""The 1-D north-west-corner numerics on sorted rows, for any array module ``xp``.

The numpy reference of the 1-D Wasserstein kernels (as :mod:`.softmin_numpy` is the reference
of the soft-min kernels): the cost ``|a - b|^p`` with equal infinities at distance 0, the sort
of values with their weights, the merged cumulative weights (breakpoints) and the cells of the
staircase they cut [0, 1] into, W_p^p per row by that merge, and the exact power-of-two
rescaling. The same functions run with ``xp = cupy`` on the GPU
(:mod:`.wass1d_cupy`); the orchestration that picks a sort and a reduction lives in
:mod:`kantorovich.ot._sorted_rows`. A leaf: it imports only numpy.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["broadcast_rows", "breakpoints", "cost", "merge_cells", "pow2_above_max_abs", "pow2_exponents",
           "sort_rows", "wpp_reference"]


def cost(a, b, p, xp, div=None):
    """(|a - b| / div)^p with |inf - inf| = 0 for two equal infinities (``p = inf``: the
    difference only); ``div`` None means 1, else it broadcasts against a - b."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = xp.abs(a - b)
        nan = xp.isnan(d)  # inputs hold no NaN: only inf - inf of two equal infinities
        if bool(nan.any()):
            d = xp.where(nan, 0.0, d)
        if div is not None:
            d = d / div
        if p == 1.0 or p == math.inf:
            return d
        if p == 2.0:
            return d * d
        return d ** p


def sort_rows(x, w, xp):
    """Sort values along the last axis and carry the weights (None stays None)."""
    if w is None:
        if xp is np:
            x.sort(axis=-1)  # in place: x is our own validated copy
            return x, None
        return xp.sort(x, axis=-1), None
    w = xp.broadcast_to(w, x.shape) if w.shape != x.shape else w
    if xp is np:
        # one complex sort orders by (real, imag): values with their weights in a single
        # numpy sort, about 2x faster than argsort + two gathers at n = 1e7
        c = np.empty(x.shape, dtype=np.complex128)
        c.real = x
        c.imag = w
        c.sort(axis=-1)
        return c.real, c.imag  # strided views: the kernels read them without a copy
    order = xp.argsort(x, axis=-1)
    return xp.take_along_axis(x, order, axis=-1), xp.take_along_axis(w, order, axis=-1)


def breakpoints(w, n, rows, xp):
    """Interior cumulative weights (rows, n - 1), normalised so the last one is exactly 1."""
    if w is None:
        cu = xp.arange(1, n, dtype=xp.float64) / n
        return xp.broadcast_to(cu, (rows, n - 1))
    c = xp.cumsum(w.astype(xp.float64), axis=-1)
    return xp.minimum(c[..., :-1] / c[..., -1:], 1.0)


def merge_cells(cu, cv, xp):
    """Cells of the north-west corner staircase for breakpoints cu (B, n-1), cv (B, m-1).

    Returns ``(iu, iv, mass)``, each (B, n + m - 1): the sorted-order indices of the cell
    visited on the k-th interval of [0, 1] and that interval's length. Consecutive cells
    differ by one in exactly one index, from (0, 0) to (n - 1, m - 1).
    """
    B = cu.shape[0]
    n1 = cu.shape[-1]
    t = xp.concatenate([cu, cv], axis=-1)
    # two sorted runs: numpy's stable sort (timsort) merges them in linear time
    order = xp.argsort(t, axis=-1, kind="stable") if xp is np else xp.argsort(t, axis=-1)
    ts = xp.take_along_axis(t, order, axis=-1)
    is_u = (order < n1).astype(xp.int64)
    cnt_u = xp.cumsum(is_u, axis=-1)
    k = xp.arange(1, t.shape[-1] + 1)
    zero = xp.zeros((B, 1), dtype=xp.int64)
    iu = xp.concatenate([zero, cnt_u], axis=-1)
    iv = xp.concatenate([zero, k - cnt_u], axis=-1)
    ends = xp.concatenate([ts, xp.ones((B, 1))], axis=-1)
    starts = xp.concatenate([xp.zeros((B, 1)), ts], axis=-1)
    mass = xp.maximum(ends - starts, 0.0)
    return iu, iv, mass


def wpp_reference(xs, wu, ys, wv, p, xp=np, div=None):
    """W_p^p per row for sorted xs (B, n), ys (B, m); weights in sorted order or None.

    Obviously-correct vectorised north-west corner (O((n+m) log(n+m)) for the merge);
    zero-mass cells contribute 0 even when their cost is infinite. ``div`` (B,) divides the
    differences of each row (None: 1); ``p = inf`` gives the largest difference over the
    cells of positive mass (the largest moved distance) instead.
    """
    B, n = xs.shape
    m = ys.shape[-1]
    if div is not None:
        div = xp.asarray(div, dtype=xp.float64).reshape(B, 1)
    if wu is None and wv is None and n == m:
        c = cost(xs, ys, p, xp, div)
        return xp.max(c, axis=-1) if p == math.inf else xp.mean(c, axis=-1)
    cu = breakpoints(wu, n, B, xp)
    cv = breakpoints(wv, m, B, xp)
    iu, iv, mass = merge_cells(cu, cv, xp)
    a = xp.take_along_axis(xs, iu, axis=-1)
    b = xp.take_along_axis(ys, iv, axis=-1)
    c = xp.where(mass > 0, cost(a, b, p, xp, div), 0.0)
    return xp.max(c, axis=-1) if p == math.inf else xp.sum(mass * c, axis=-1)


def pow2_above_max_abs(xs, ys, xp):
    """A power of two s with max |finite value| / s in [0.5, 1) (exact rescaling), or 1;
    at most 2**1023 (the largest power of two in float64)."""
    ends = xp.concatenate([xs[..., :1].ravel(), xs[..., -1:].ravel(), ys[..., :1].ravel(), ys[..., -1:].ravel()])
    ends = xp.abs(ends)
    if bool(xp.all(xp.isfinite(ends))):
        top = float(ends.max())
    else:
        fin = xp.concatenate([xp.abs(xs[xp.isfinite(xs)]), xp.abs(ys[xp.isfinite(ys)])])
        top = float(fin.max()) if fin.size else 0.0
    return math.ldexp(1.0, int(pow2_exponents(np.array([top]))[0]))


def pow2_exponents(top):
    """The exponents e (int64) of the powers of two :func:`pow2_above_max_abs` picks, 2**e, for
    largest finite |values| ``top`` (a numpy array): 0 where ``top`` is 0 or not finite, else the
    e with top / 2**e in [0.5, 1), at most 1023. Callers that group rows by their single call's
    scale (pairwise matrices, batched sliced W) compute it here, so the rule is written once."""
    top = np.asarray(top, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(top) & (top > 0)
    return np.where(ok, np.minimum(np.frexp(np.where(ok, top, 1.0))[1], 1023), 0).astype(np.int64)


def broadcast_rows(xs, ws, batch, xp):
    """Broadcast sorted (..., n) values (and weights) to the batch and flatten to (B, n)."""
    n = xs.shape[-1]
    shape = tuple(batch) + (n,)
    xs = xp.broadcast_to(xs, shape).reshape(-1, n)
    if ws is not None:
        ws = xp.broadcast_to(ws, shape).reshape(-1, n)
    return xs, ws
