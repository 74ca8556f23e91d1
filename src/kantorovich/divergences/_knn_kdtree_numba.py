r"""Exact k-nearest-neighbour distances on a numba KD-tree (private, CPU, low dimension).

Imported lazily (it imports numba at module level). Contract of
:func:`kantorovich.divergences._knn.knn_positive`: the ``k`` smallest **strictly positive**
Euclidean distances from each query row to the reference rows, ``(n, k)`` float64 sorted
along rows, and the number of query rows that had a zero distance to a point other than
themselves.

Tree (``build``): the points are copied and their rows partitioned in place (with a
permutation array); a node is split along the dimension of largest spread of its points at
the midpoint of that spread (one partition pass; cKDTree's sliding-midpoint rule without the
slide), falling back to a median split (quickselect) when the midpoint leaves a side empty
(rounding) and below depth ``_MID_DEPTH`` (so the depth stays <= _MID_DEPTH + log2 n on any
input, e.g. exponentially spaced points). A node with at most ``leafsize`` points, or whose
points are all equal, is a leaf. Every node
stores the bounding box of its points; the points are copied in tree order (a leaf is a
contiguous block of rows).

Query (``_search``): depth-first, nearer child first, with a stack of (node, lower bound);
the lower bound of a node is the squared distance from the query to the node's bounding
box, :math:`\sum_c \max(0, lo_c - q_c, q_c - hi_c)^2`. A node is skipped when its bound is
at least the current k-th best squared distance. Each query keeps an insertion-sorted buffer
of its ``k`` best squared distances. Zero distances (the point itself, duplicates) are not
inserted but counted, which gives the strictly positive neighbours directly; a zero
distance always lies in a box with bound 0, so every one is seen and counted.

Exactness: squared distances are summed over the coordinates in order 0..d-1 without
fastmath, which is cKDTree's order for d <= 7, so the returned distances are bit-identical
to cKDTree's there. The box bound is computed in the same order from coordinate gaps that
are, term by term, at most the point's gaps (floating-point rounding is monotone), so in
floating point it never exceeds the distance of any point in the box: pruning is exact.

Both queries of the WKV estimator (x against X without itself, x against Y) run in one
parallel loop over the x's in X-tree order (neighbouring queries are close in space, and
``prange``'s static chunks hand each thread a spatially coherent block).
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = ["build", "knn_pair_kdtree", "knn_positive_kdtree", "leafsize_for", "LEAFSIZE"]

LEAFSIZE = 16
_CHUNK = 64      # queries per parallel task (buffers allocated once per task)
_MID_DEPTH = 96  # midpoint splits above this depth, median splits below
_STACK = 256     # depth-first stacks: tree depth <= _MID_DEPTH + log2(n) + 1 < 256


@njit(cache=True, boundscheck=False)
def _select(P, perm, dim, lo, hi, kth):  # pragma: no cover - numba
    """Quickselect on the rows lo..hi-1 of P by column dim (rows and perm swapped together)
    so that row kth holds the kth smallest value, smaller-or-equal before, larger-or-equal
    after (Hoare partition, median-of-three pivot value)."""
    d = P.shape[1]
    while hi - lo > 1:
        a = P[lo, dim]
        b = P[(lo + hi) // 2, dim]
        c = P[hi - 1, dim]
        if a < b:
            if b < c:
                pv = b
            elif a < c:
                pv = c
            else:
                pv = a
        else:
            if a < c:
                pv = a
            elif b < c:
                pv = c
            else:
                pv = b
        i = lo
        j = hi - 1
        while i <= j:
            while P[i, dim] < pv:
                i += 1
            while P[j, dim] > pv:
                j -= 1
            if i <= j:
                for cc in range(d):
                    t = P[i, cc]
                    P[i, cc] = P[j, cc]
                    P[j, cc] = t
                t2 = perm[i]
                perm[i] = perm[j]
                perm[j] = t2
                i += 1
                j -= 1
        # now [lo, j] <= pv, [i, hi) >= pv, (j, i) == pv
        if kth <= j:
            hi = j + 1
        elif kth >= i:
            lo = i
        else:
            return


@njit(cache=True, boundscheck=False)
def _split_mid(P, perm, dim, s, e, cut):  # pragma: no cover - numba
    """Partition rows s..e-1 of P (and perm): values < cut first; returns the first row >= cut."""
    d = P.shape[1]
    i = s
    j = e - 1
    while True:
        while i <= j and P[i, dim] < cut:
            i += 1
        while i <= j and not P[j, dim] < cut:
            j -= 1
        if i >= j:
            return i
        for cc in range(d):
            t = P[i, cc]
            P[i, cc] = P[j, cc]
            P[j, cc] = t
        t2 = perm[i]
        perm[i] = perm[j]
        perm[j] = t2
        i += 1
        j -= 1


@njit(cache=True, boundscheck=False)
def _build(X, leafsize):  # pragma: no cover - numba
    n, d = X.shape
    perm = np.arange(n)
    P = X.copy()  # rows moved with perm: P[t] == X[perm[t]]
    maxnodes = 2 * n + 1  # every split leaves both sides non-empty: <= n leaves
    start = np.empty(maxnodes, dtype=np.int64)
    end = np.empty(maxnodes, dtype=np.int64)
    child = np.full(maxnodes, -1, dtype=np.int64)
    lo = np.empty((maxnodes, d), dtype=np.float64)
    hi = np.empty((maxnodes, d), dtype=np.float64)
    stack = np.empty(_STACK, dtype=np.int64)
    depth = np.zeros(maxnodes, dtype=np.int64)
    start[0] = 0
    end[0] = n
    nn = 1
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        s = start[node]
        e = end[node]
        for c in range(d):
            lo[node, c] = np.inf
            hi[node, c] = -np.inf
        for t in range(s, e):
            for c in range(d):
                v = P[t, c]
                if v < lo[node, c]:
                    lo[node, c] = v
                if v > hi[node, c]:
                    hi[node, c] = v
        if e - s <= leafsize:
            continue
        best = 0
        spread = -1.0
        for c in range(d):
            w = hi[node, c] - lo[node, c]
            if w > spread:
                spread = w
                best = c
        if not spread > 0.0:  # all points equal: a (large) leaf
            continue
        mid = s
        if depth[node] < _MID_DEPTH:
            mid = _split_mid(P, perm, best, s, e, 0.5 * (lo[node, best] + hi[node, best]))
        if mid <= s or mid >= e:  # deep node, or midpoint not strictly inside: median split
            mid = (s + e) // 2
            _select(P, perm, best, s, e, mid)
        left = nn
        nn += 2
        child[node] = left
        start[left] = s
        end[left] = mid
        start[left + 1] = mid
        end[left + 1] = e
        depth[left] = depth[node] + 1
        depth[left + 1] = depth[node] + 1
        stack[sp] = left + 1
        stack[sp + 1] = left
        sp += 2
    TT = np.empty((d, n), dtype=np.float64)
    for t in range(n):
        for c in range(d):
            TT[c, t] = P[t, c]
    maxleaf = 1
    for node in range(nn):
        if child[node] < 0:
            maxleaf = max(maxleaf, end[node] - start[node])
    return perm, P, TT, start[:nn].copy(), end[:nn].copy(), child[:nn].copy(), \
        lo[:nn].copy(), hi[:nn].copy(), maxleaf


@njit(cache=True, boundscheck=False, inline="always")
def _box_bound(q, lo, hi, node, d):  # pragma: no cover - numba
    # squared distance from q to the box [lo, hi] of node, summed over c = 0..d-1 in order
    s = 0.0
    for c in range(d):
        v = q[c]
        a = max(lo[node, c] - v, v - hi[node, c], 0.0)
        s += a * a
    return s


@njit(cache=True, boundscheck=False)
def _search(q, TT, start, end, child, lo, hi, k, best, buf, stk_node, stk_bound):  # pragma: no cover
    """k smallest positive squared distances from q into best (sorted); returns #zeros.

    TT is the reference cloud in tree order, transposed (d, n): a leaf's squared distances
    are accumulated coordinate by coordinate into buf (vectorised over the leaf's points;
    each point's sum is still taken over c = 0..d-1 in order)."""
    d = TT.shape[0]
    for p in range(k):
        best[p] = np.inf
    zeros = 0
    stk_node[0] = 0
    stk_bound[0] = _box_bound(q, lo, hi, 0, d)
    sp = 1
    while sp > 0:
        sp -= 1
        node = stk_node[sp]
        if stk_bound[sp] >= best[k - 1]:
            continue
        c0 = child[node]
        if c0 < 0:
            s0 = start[node]
            w = end[node] - s0
            for j in range(w):
                buf[j] = 0.0
            for c in range(d):
                qc = q[c]
                row = TT[c, s0:s0 + w]
                for j in range(w):
                    u = qc - row[j]
                    buf[j] += u * u
            worst = best[k - 1]
            for j in range(w):
                s = buf[j]
                if s < worst:
                    if s == 0.0:
                        zeros += 1
                        continue
                    p = k - 1
                    while p > 0 and best[p - 1] > s:
                        best[p] = best[p - 1]
                        p -= 1
                    best[p] = s
                    worst = best[k - 1]
        else:
            b0 = _box_bound(q, lo, hi, c0, d)
            b1 = _box_bound(q, lo, hi, c0 + 1, d)
            worst = best[k - 1]
            if b0 <= b1:  # push the far child first: the near one is popped next
                if b1 < worst:
                    stk_node[sp] = c0 + 1
                    stk_bound[sp] = b1
                    sp += 1
                if b0 < worst:
                    stk_node[sp] = c0
                    stk_bound[sp] = b0
                    sp += 1
            else:
                if b0 < worst:
                    stk_node[sp] = c0
                    stk_bound[sp] = b0
                    sp += 1
                if b1 < worst:
                    stk_node[sp] = c0 + 1
                    stk_bound[sp] = b1
                    sp += 1
    return zeros


@njit(parallel=True, cache=True, boundscheck=False)
def _query_pair(TX, TTX, sx, ex, cx, lx, hx, mx, TTY, sy, ey, cy, ly, hy, my, k, out_x, out_y,
                zx, zy):  # pragma: no cover - numba
    """For every row i of TX (X in tree order): k positive NN distances in X and in Y."""
    n, d = TX.shape
    nch = (n + _CHUNK - 1) // _CHUNK
    for ch in prange(nch):
        best = np.empty(k, dtype=np.float64)
        buf = np.empty(max(mx, my), dtype=np.float64)
        q = np.empty(d, dtype=np.float64)
        stk_node = np.empty(_STACK, dtype=np.int64)
        stk_bound = np.empty(_STACK, dtype=np.float64)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            for c in range(d):
                q[c] = TX[i, c]
            zx[i] = _search(q, TTX, sx, ex, cx, lx, hx, k, best, buf, stk_node, stk_bound)
            for p in range(k):
                out_x[i, p] = np.sqrt(best[p])
            zy[i] = _search(q, TTY, sy, ey, cy, ly, hy, k, best, buf, stk_node, stk_bound)
            for p in range(k):
                out_y[i, p] = np.sqrt(best[p])


@njit(parallel=True, cache=True, boundscheck=False)
def _query(Q, TT, s, e, c, lo, hi, mleaf, k, out, z):  # pragma: no cover - numba
    n, d = Q.shape
    nch = (n + _CHUNK - 1) // _CHUNK
    for ch in prange(nch):
        best = np.empty(k, dtype=np.float64)
        buf = np.empty(mleaf, dtype=np.float64)
        q = np.empty(d, dtype=np.float64)
        stk_node = np.empty(_STACK, dtype=np.int64)
        stk_bound = np.empty(_STACK, dtype=np.float64)
        for i in range(ch * _CHUNK, min(n, (ch + 1) * _CHUNK)):
            for cc in range(d):
                q[cc] = Q[i, cc]
            z[i] = _search(q, TT, s, e, c, lo, hi, k, best, buf, stk_node, stk_bound)
            for p in range(k):
                out[i, p] = np.sqrt(best[p])


def build(X, leafsize: int = LEAFSIZE):
    """KD-tree of the rows of X: (perm, T = X[perm], T.T, start, end, child, lo, hi, max leaf)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    return _build(X, int(leafsize))


def _check(out, k):
    if out.shape[0] and not np.all(np.isfinite(out[:, k - 1])):
        raise ValueError(
            f"fewer than k = {k} reference points at a positive distance from some sample "
            "points (too many duplicate points); remove duplicates or lower `k`.")


def leafsize_for(d: int) -> int:
    """Leaf size by dimension, measured at n = 10^4 (docs/estimators.md): 32 for d <= 3,
    64 for d = 4, 128 for d >= 5 (vectorised leaf scans make big leaves cheap)."""
    return 32 if d <= 3 else (64 if d == 4 else 128)


def knn_pair_kdtree(xa, ya, k: int, leafsize: int | None = None):
    """(rho, nu, n_dup_x, n_dup_y): k positive NN distances of the x's in X (self excluded)
    and in Y, original row order; both queries in one parallel pass over the x's."""
    n = xa.shape[0]
    if leafsize is None:
        leafsize = leafsize_for(xa.shape[1])
    px, TX, *tx = build(xa, leafsize)
    _, _, *ty = build(ya, leafsize)
    ox = np.empty((n, k))
    oy = np.empty((n, k))
    zx = np.empty(n, dtype=np.int64)
    zy = np.empty(n, dtype=np.int64)
    _query_pair(TX, *tx, *ty, k, ox, oy, zx, zy)
    _check(ox, k)
    _check(oy, k)
    rho = np.empty_like(ox)
    nu = np.empty_like(oy)
    rho[px] = ox
    nu[px] = oy
    return rho, nu, int(np.sum(zx > 1)), int(np.sum(zy > 0))


def knn_positive_kdtree(query, ref, k: int, *, same: bool = False, leafsize: int | None = None):
    """``(dist, n_dup)`` as :func:`kantorovich.divergences._knn.knn_positive`, numba KD-tree."""
    q = np.ascontiguousarray(query, dtype=np.float64)
    if leafsize is None:
        leafsize = leafsize_for(q.shape[1])
    if same:
        perm, Q, *tree = build(q, leafsize)
    else:
        _, _, *tree = build(ref, leafsize)
        Q = q
    n = Q.shape[0]
    out = np.empty((n, k))
    z = np.empty(n, dtype=np.int64)
    _query(Q, *tree, k, out, z)
    _check(out, k)
    if same:
        res = np.empty_like(out)
        res[perm] = out
        return res, int(np.sum(z > 1))
    return out, int(np.sum(z > 0))
