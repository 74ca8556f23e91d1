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

Query bounds: the lower bound of a node for a query point is the squared distance from the
query to the node's bounding box, :math:`\sum_c \max(0, lo_c - q_c, q_c - hi_c)^2`; a node is
skipped when its bound is at least the current k-th best squared distance. Each query keeps a
sorted buffer of its ``k`` best squared distances. Zero distances (the point itself,
duplicates) are not inserted but counted, which gives the strictly positive neighbours
directly; a zero distance always lies in a box with bound 0, so every one is seen and counted.

Exactness: squared distances are summed over the coordinates in order 0..d-1 without
fastmath, which is cKDTree's order for d <= 7, so the returned distances are bit-identical
to cKDTree's there. The box bounds are computed in the same order from coordinate gaps that
are, term by term, at most the point's gaps (floating-point rounding is monotone), so in
floating point they never exceed the distance of any point in the box: pruning is exact.

Both queries of the WKV estimator (x against X without itself, x against Y) take the x's in
X-tree order (neighbouring queries are close in space).

Leaf-batched queries (``knn_pair_batched``, behind ``knn_pair_kdtree``): trees with
small leaves (<= 8 points); the queries are processed by blocks (maximal X-tree nodes of
<= bsize points, box [qlo, qhi]). Per block and reference tree: one depth-first traversal,
nearer child first by the box-to-box bound :math:`\sum_c \max(0, lo_c - qhi_c, qlo_c - hi_c)^2`,
a node skipped when that bound is >= the largest current k-th best of the block; nodes of
<= rleaf points are scanned as a whole, per query of the block whose point-to-box bound is
below its own k-th best. The node reached by descending towards the block's centre is
scanned first (tight bounds from the start) and skipped when met again. Exactness: the
box-to-box bound is, term by term, at most every query's point-to-box bound (rounding is
monotone), which is at most every point's distance; the scan (``_leaf_d2``) sums in the
same order as above, hand-unrolled for d <= 8 so that it vectorises. Candidates below the
k-th best are compacted branch-free, then inserted branch-free: the sorted k-buffer takes each
candidate s as a min/max carry, :math:`b_p, s \leftarrow \min(b_p, s), \max(b_p, s)` for
p = 0..k-1 (the largest value falls off; a zero is counted and carried as inf), which gives the
same buffer as an insertion sort (equal values each keep a slot) without its mispredicted branches.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .._parallel import parallel_kernel, threads_at_most

__all__ = ["batch_params", "build", "knn_pair_batched", "knn_pair_kdtree", "knn_pairs_many"]

_MID_DEPTH = 96  # midpoint splits above this depth, median splits below
_STACK = 256     # depth-first stacks: tree depth <= _MID_DEPTH + log2(n) + 1 < 256


@njit(inline="always", cache=True)
def _swap_rows(P, perm, i, j):  # pragma: no cover - numba
    """Swap rows i and j of P and entries i and j of perm."""
    for cc in range(P.shape[1]):
        t = P[i, cc]
        P[i, cc] = P[j, cc]
        P[j, cc] = t
    t2 = perm[i]
    perm[i] = perm[j]
    perm[j] = t2


@njit(cache=True, boundscheck=False)
def _select(P, perm, dim, lo, hi, kth):  # pragma: no cover - numba
    """Quickselect on the rows lo..hi-1 of P by column dim (rows and perm swapped together)
    so that row kth holds the kth smallest value, smaller-or-equal before, larger-or-equal
    after (Hoare partition, median-of-three pivot value)."""
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
                _swap_rows(P, perm, i, j)
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
    i = s
    j = e - 1
    while True:
        while i <= j and P[i, dim] < cut:
            i += 1
        while i <= j and not P[j, dim] < cut:
            j -= 1
        if i >= j:
            return i
        _swap_rows(P, perm, i, j)
        i += 1
        j -= 1


@njit(cache=True, boundscheck=False, nogil=True)
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
        for c in range(d):  # box in registers (stores to lo/hi in the loop would not be)
            mn = np.inf
            mx = -np.inf
            for t in range(s, e):
                v = P[t, c]
                mn = min(mn, v)
                mx = max(mx, v)
            lo[node, c] = mn
            hi[node, c] = mx
        if e - s <= leafsize:
            continue
        # 0 as a run-time value: with a literal 0 here numba typed the calls below while only
        # the 0 had reached `best` and compiled _split_mid and _select for Literal[int](0)
        # as well as for int64 (docs/performance.md, "Compile time")
        best = d - d
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


@njit(inline="always", cache=True)
def _push_children(stk_node, stk_bound, sp, c0, b0, b1, bound):  # pragma: no cover - numba
    """Push children c0, c0 + 1 whose lower bounds b0, b1 are below ``bound``, the far one
    first (the near one is popped next); returns the new stack size."""
    if b0 <= b1:
        if b1 < bound:
            stk_node[sp] = c0 + 1
            stk_bound[sp] = b1
            sp += 1
        if b0 < bound:
            stk_node[sp] = c0
            stk_bound[sp] = b0
            sp += 1
    else:
        if b0 < bound:
            stk_node[sp] = c0
            stk_bound[sp] = b0
            sp += 1
        if b1 < bound:
            stk_node[sp] = c0 + 1
            stk_bound[sp] = b1
            sp += 1
    return sp


@njit(cache=True, boundscheck=False, inline="always")
def _leaf_d2(QT, qc, TT, s0, w, buf, wq):  # pragma: no cover - numba
    """Squared distances from the point QT[:, qc] to the points TT[:, s0:s0+w] into buf[:w],
    each summed over c = 0..d-1 in order (no fastmath: the same rounding as the generic
    loop and cKDTree); returns how many are < wq. Hand-unrolled for d <= 8 so that the loop
    over the points vectorises (a loop over c inside it does not, one over c outside it
    re-reads buf d times)."""
    d = TT.shape[0]
    us = np.uint64(s0)  # unsigned indices: no negative-index wraparound, the loops vectorise
    uw = np.uint64(w)
    nc = 0
    if d == 1:
        q0 = QT[0, qc]
        for j in range(uw):
            t = us + j
            u0 = q0 - TT[0, t]
            s = u0 * u0
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 2:
        q0, q1 = QT[0, qc], QT[1, qc]
        for j in range(uw):
            t = us + j
            u0, u1 = q0 - TT[0, t], q1 - TT[1, t]
            s = u0 * u0 + u1 * u1
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 3:
        q0, q1, q2 = QT[0, qc], QT[1, qc], QT[2, qc]
        for j in range(uw):
            t = us + j
            u0, u1, u2 = q0 - TT[0, t], q1 - TT[1, t], q2 - TT[2, t]
            s = u0 * u0 + u1 * u1 + u2 * u2
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 4:
        q0, q1, q2, q3 = QT[0, qc], QT[1, qc], QT[2, qc], QT[3, qc]
        for j in range(uw):
            t = us + j
            u0, u1, u2, u3 = q0 - TT[0, t], q1 - TT[1, t], q2 - TT[2, t], q3 - TT[3, t]
            s = u0 * u0 + u1 * u1 + u2 * u2 + u3 * u3
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 5:
        q0, q1, q2, q3, q4 = QT[0, qc], QT[1, qc], QT[2, qc], QT[3, qc], QT[4, qc]
        for j in range(uw):
            t = us + j
            u0, u1 = q0 - TT[0, t], q1 - TT[1, t]
            u2, u3, u4 = q2 - TT[2, t], q3 - TT[3, t], q4 - TT[4, t]
            s = u0 * u0 + u1 * u1 + u2 * u2 + u3 * u3 + u4 * u4
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 6:
        q0, q1, q2, q3, q4, q5 = QT[0, qc], QT[1, qc], QT[2, qc], QT[3, qc], QT[4, qc], QT[5, qc]
        for j in range(uw):
            t = us + j
            u0, u1, u2 = q0 - TT[0, t], q1 - TT[1, t], q2 - TT[2, t]
            u3, u4, u5 = q3 - TT[3, t], q4 - TT[4, t], q5 - TT[5, t]
            s = u0 * u0 + u1 * u1 + u2 * u2 + u3 * u3 + u4 * u4 + u5 * u5
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 7:
        q0, q1, q2 = QT[0, qc], QT[1, qc], QT[2, qc]
        q3, q4, q5, q6 = QT[3, qc], QT[4, qc], QT[5, qc], QT[6, qc]
        for j in range(uw):
            t = us + j
            u0, u1, u2 = q0 - TT[0, t], q1 - TT[1, t], q2 - TT[2, t]
            u3, u4, u5, u6 = q3 - TT[3, t], q4 - TT[4, t], q5 - TT[5, t], q6 - TT[6, t]
            s = u0 * u0 + u1 * u1 + u2 * u2 + u3 * u3 + u4 * u4 + u5 * u5 + u6 * u6
            buf[j] = s
            if s < wq:
                nc += 1
    elif d == 8:
        q0, q1, q2, q3 = QT[0, qc], QT[1, qc], QT[2, qc], QT[3, qc]
        q4, q5, q6, q7 = QT[4, qc], QT[5, qc], QT[6, qc], QT[7, qc]
        for j in range(uw):
            t = us + j
            u0, u1, u2, u3 = q0 - TT[0, t], q1 - TT[1, t], q2 - TT[2, t], q3 - TT[3, t]
            u4, u5, u6, u7 = q4 - TT[4, t], q5 - TT[5, t], q6 - TT[6, t], q7 - TT[7, t]
            s = u0 * u0 + u1 * u1 + u2 * u2 + u3 * u3 + u4 * u4 + u5 * u5 + u6 * u6 + u7 * u7
            buf[j] = s
            if s < wq:
                nc += 1
    else:
        for j in range(uw):
            buf[j] = 0.0
        for c in range(d):
            q = QT[c, qc]
            for j in range(uw):
                u = q - TT[c, us + j]
                buf[j] += u * u
        for j in range(uw):
            if buf[j] < wq:
                nc += 1
    return nc


def build(X, leafsize: int):
    """KD-tree of the rows of X: (perm, T = X[perm], T.T, start, end, child, lo, hi, max leaf)."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    return _build(X, int(leafsize))


#: n + m from which build_two builds Y's tree on a second thread. Measured on the 2-core
#: development machine (medians of 30, d = 2 and 5): both builds one after the other against
#: two threads took 13 / 140 us at n = m = 100, 62 / 139 us at 1000, 132-292 / 193-263 us at
#: 2000 (d = 2 / 5), 617-1094 / 427-717 us at 4000.
BUILD_THREAD_MIN_POINTS = 4000


def build_two(X, Y, leafsize: int):
    """``(build(X, leafsize), build(Y, leafsize))``, the two builds on two threads.

    ``_build`` releases the GIL (``nogil=True``), so Y's tree is built on a short-lived thread
    while X's is built on the caller's: at n = 10^4, d = 5 the pair took 3.0 ms against 5.5 ms
    one after the other (2 cores, docs/estimators.md). Same trees either way (the builds share
    nothing). A fresh thread per call, not a pool: a pool's worker does not survive ``fork``
    (multiprocessing workers would wait for it forever). Below ``BUILD_THREAD_MIN_POINTS``
    points in all, one after the other: starting and joining the thread (~0.14 ms) costs more
    than the second build."""
    if X.shape[0] + Y.shape[0] < BUILD_THREAD_MIN_POINTS:
        return build(X, leafsize), build(Y, leafsize)
    import threading

    out: list = []

    def run():
        try:
            out.append(build(Y, leafsize))
        except BaseException as exc:  # re-raised on the caller's thread
            out.append(exc)

    t = threading.Thread(target=run, name="kantorovich-kdtree", daemon=True)
    t.start()
    tx = build(X, leafsize)
    t.join()
    if isinstance(out[0], BaseException):
        raise out[0]
    return tx, out[0]


def _check(out, k):
    if out.shape[0] and not np.all(np.isfinite(out[:, k - 1])):
        raise ValueError(
            f"fewer than k = {k} reference points at a positive distance from some sample "
            "points (too many duplicate points); remove duplicates or lower `k`.")


def knn_pairs_many(XA, YA, k: int):
    """``knn_pair_kdtree(XA[q], YA[q], k)`` for every problem q of the batches XA (B, n, d) and YA
    (B, m, d), the problems spread over numba's threads: (rho (B, n, k), nu (B, n, k), the
    duplicate counts n_dup_x (B,) and n_dup_y (B,), ok (B,)). The distances are the single
    calls' bit for bit (same trees, same block order). ``ok[q]`` is False where problem q has
    fewer than k positive distances for some point (the single call raises there); its rows
    are then not to be used."""
    XA = np.ascontiguousarray(XA, dtype=np.float64)
    YA = np.ascontiguousarray(YA, dtype=np.float64)
    B, n, d = XA.shape
    rleaf, bsize = batch_params(d)
    rho = np.empty((B, n, k))
    nu = np.empty((B, n, k))
    dx = np.empty(B, dtype=np.int64)
    dy = np.empty(B, dtype=np.int64)
    ok = np.empty(B, dtype=np.bool_)
    with threads_at_most(B):
        _knn_pairs_many(XA, YA, int(k), max(1, min(8, rleaf)), rleaf, bsize, rho, nu, dx, dy, ok)
    return rho, nu, dx, dy, ok


def knn_pair_kdtree(xa, ya, k: int, leafsize: int | None = None):
    """(rho, nu, n_dup_x, n_dup_y): k positive NN distances of the x's in X (self excluded)
    and in Y, original row order, by leaf-batched queries (:func:`knn_pair_batched`;
    ``leafsize`` is the size of the scanned nodes, default by dimension)."""
    return knn_pair_batched(xa, ya, k, rleaf=leafsize)


# ------------------------------------------------------------------ leaf-batched queries
@njit(cache=True, boundscheck=False)
def _blocks(start, end, child, bsize):  # pragma: no cover - numba
    """Maximal nodes with at most bsize points (or leaves), in tree order."""
    nn = start.shape[0]
    out = np.empty(nn, dtype=np.int64)
    stack = np.empty(_STACK, dtype=np.int64)
    nb = 0
    stack[0] = 0
    sp = 1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        if child[node] < 0 or end[node] - start[node] <= bsize:
            out[nb] = node
            nb += 1
        else:
            stack[sp] = child[node] + 1
            stack[sp + 1] = child[node]
            sp += 2
    return out[:nb]


@njit(cache=True, boundscheck=False, inline="always")
def _box_box(qlo, qhi, lo, hi, node, d):  # pragma: no cover - numba
    # squared distance between the boxes [qlo, qhi] and [lo, hi] of node (0 if they meet)
    s = 0.0
    for c in range(d):
        a = max(lo[node, c] - qhi[c], qlo[c] - hi[node, c], 0.0)
        s += a * a
    return s


@njit(cache=True, boundscheck=False)
def _search_block(QT, qs, nq, qlo, qhi, TT, start, end, child, lo, hi, rleaf, k, best, worst,
                  zeros, pbv, buf, cidx, stk_node, stk_bound, cnt):  # pragma: no cover - numba
    """k smallest positive squared distances from the queries QT[:, qs:qs+nq] (box qlo, qhi)
    into best[qi, :] (sorted), zero counts into zeros[qi].

    One depth-first traversal of the reference tree serves the whole block: a node is skipped
    when its box-to-box bound is >= the largest current k-th best of the block; nodes of at most
    rleaf points (or leaves) are scanned, per query, when the query's point-to-box bound is
    below its own k-th best."""
    d = TT.shape[0]
    for qi in range(nq):
        for p in range(k):
            best[qi, p] = np.inf
        worst[qi] = np.inf
        zeros[qi] = 0
    bound = np.inf
    uqs = np.uint64(qs)
    unq = np.uint64(nq)
    # seed: the scanned node reached by descending towards the block's centre is scanned
    # first (tight k-th bounds from the start), and skipped when the traversal meets it again
    seed = 0
    while child[seed] >= 0 and end[seed] - start[seed] > rleaf:
        c0 = child[seed]
        e0 = 0.0
        e1 = 0.0
        for c in range(d):
            v = 0.5 * (qlo[c] + qhi[c])
            a = max(lo[c0, c] - v, v - hi[c0, c], 0.0)
            e0 += a * a
            a = max(lo[c0 + 1, c] - v, v - hi[c0 + 1, c], 0.0)
            e1 += a * a
        seed = c0 if e0 <= e1 else c0 + 1
    seeded = False
    stk_node[0] = 0
    stk_bound[0] = _box_box(qlo, qhi, lo, hi, 0, d)
    stk_node[1] = seed
    stk_bound[1] = 0.0
    sp = 2
    while sp > 0:
        sp -= 1
        node = stk_node[sp]
        if stk_bound[sp] >= bound:
            continue
        c0 = child[node]
        s0 = start[node]
        w = end[node] - s0
        if c0 < 0 or w <= rleaf:
            if node == seed:
                if seeded:
                    continue
                seeded = True
            cnt[0] += 1
            for qi in range(nq):
                pbv[qi] = 0.0
            for c in range(d):
                lc = lo[node, c]
                hc = hi[node, c]
                for qi in range(unq):
                    v = QT[c, uqs + qi]
                    a = lc - v
                    b = v - hc
                    a = a if a > b else b  # noqa: FURB136 (this form vectorises)
                    a = a if a > 0.0 else 0.0  # noqa: FURB136
                    pbv[qi] += a * a
            for qi in range(nq):
                wq = worst[qi]
                if pbv[qi] >= wq:
                    continue
                cnt[1] += 1
                cnt[2] += w
                nc = _leaf_d2(QT, qs + qi, TT, s0, w, buf, wq)
                if nc == 0:
                    continue
                # branch-free compaction of the candidates, then insertion of those only
                m = 0
                for j in range(w):
                    cidx[m] = j
                    m += buf[j] < wq
                z = 0
                if k <= 8:  # the buffer in registers (best[] stores would not be kept there)
                    b0 = best[qi, 0]
                    b1 = best[qi, 1] if k > 1 else np.inf
                    b2 = best[qi, 2] if k > 2 else np.inf
                    b3 = best[qi, 3] if k > 3 else np.inf
                    b4 = best[qi, 4] if k > 4 else np.inf
                    b5 = best[qi, 5] if k > 5 else np.inf
                    b6 = best[qi, 6] if k > 6 else np.inf
                    b7 = best[qi, 7] if k > 7 else np.inf
                    for t in range(m):
                        s = buf[cidx[t]]
                        z += s == 0.0
                        s = s if s != 0.0 else np.inf
                        b0, s = min(b0, s), max(b0, s)
                        b1, s = min(b1, s), max(b1, s)
                        b2, s = min(b2, s), max(b2, s)
                        b3, s = min(b3, s), max(b3, s)
                        b4, s = min(b4, s), max(b4, s)
                        b5, s = min(b5, s), max(b5, s)
                        b6, s = min(b6, s), max(b6, s)
                        b7 = min(b7, s)
                    best[qi, 0] = b0
                    if k > 1:
                        best[qi, 1] = b1
                    if k > 2:
                        best[qi, 2] = b2
                    if k > 3:
                        best[qi, 3] = b3
                    if k > 4:
                        best[qi, 4] = b4
                    if k > 5:
                        best[qi, 5] = b5
                    if k > 6:
                        best[qi, 6] = b6
                    if k > 7:
                        best[qi, 7] = b7
                else:
                    for t in range(m):
                        s = buf[cidx[t]]
                        z += s == 0.0
                        s = s if s != 0.0 else np.inf  # zeros are counted, not inserted
                        for p in range(k):  # branch-free sorted insert (the largest falls off)
                            b = best[qi, p]
                            best[qi, p] = min(b, s)
                            s = max(b, s)
                zeros[qi] += z
                worst[qi] = best[qi, k - 1]
            bound = 0.0
            for qi in range(nq):
                bound = max(bound, worst[qi])
        else:
            b0 = _box_box(qlo, qhi, lo, hi, c0, d)
            b1 = _box_box(qlo, qhi, lo, hi, c0 + 1, d)
            sp = _push_children(stk_node, stk_bound, sp, c0, b0, b1, bound)


@njit(cache=True, boundscheck=False)
def _query_block(node, mscan, TTX, sx, ex, cx, lx, hx, TTY, sy, ey, cy, ly, hy, rleaf, k, out_x,
                 out_y, zx, zy, cnt):  # pragma: no cover - numba
    """Both queries (x in X without itself, x in Y) of the x's of one block (X-tree ``node``):
    their k positive distances into rows ``sx[node]:ex[node]`` of out_x, out_y (X-tree order),
    their zero counts into zx, zy; scan counters added to cnt (3,)."""
    qs = sx[node]
    nq = ex[node] - qs
    best = np.empty((nq, k), dtype=np.float64)
    worst = np.empty(nq, dtype=np.float64)
    zeros = np.empty(nq, dtype=np.int64)
    pbv = np.empty(nq, dtype=np.float64)
    buf = np.empty(mscan, dtype=np.float64)
    cidx = np.empty(mscan + 1, dtype=np.int64)
    stk_node = np.empty(_STACK, dtype=np.int64)
    stk_bound = np.empty(_STACK, dtype=np.float64)
    qlo = lx[node]
    qhi = hx[node]
    _search_block(TTX, qs, nq, qlo, qhi, TTX, sx, ex, cx, lx, hx, rleaf, k, best, worst, zeros,
                  pbv, buf, cidx, stk_node, stk_bound, cnt)
    _store(best, zeros, qs, nq, k, out_x, zx)
    _search_block(TTX, qs, nq, qlo, qhi, TTY, sy, ey, cy, ly, hy, rleaf, k, best, worst, zeros,
                  pbv, buf, cidx, stk_node, stk_bound, cnt)
    _store(best, zeros, qs, nq, k, out_y, zy)


@njit(cache=True, boundscheck=False, inline="always")
def _store(best, zeros, qs, nq, k, out, z):  # pragma: no cover - numba
    """A block's k best squared distances as distances into rows qs:qs+nq, its zero counts."""
    for qi in range(nq):
        z[qs + qi] = zeros[qi]
        for p in range(k):
            out[qs + qi, p] = np.sqrt(best[qi, p])


@parallel_kernel
@njit(parallel=True, cache=True, boundscheck=False)
def _query_pair_batched(blocks, mscan, TTX, sx, ex, cx, lx, hx, TTY, sy, ey, cy, ly, hy, rleaf, k,
                        out_x, out_y, zx, zy, counters):  # pragma: no cover - numba
    nb = blocks.shape[0]
    for ib in prange(nb):
        cnt = np.zeros(3, dtype=np.int64)
        _query_block(blocks[ib], mscan, TTX, sx, ex, cx, lx, hx, TTY, sy, ey, cy, ly, hy, rleaf, k,
                     out_x, out_y, zx, zy, cnt)
        for t in range(3):
            counters[ib, t] = cnt[t]


@parallel_kernel
@njit(parallel=True, cache=True, boundscheck=False)
def _knn_pairs_many(XA, YA, k, tleaf, rleaf, bsize, rho, nu, dup_x, dup_y, ok):  # pragma: no cover
    """:func:`knn_pair_batched` for each problem q of XA (B, n, d), YA (B, m, d), the problems
    in parallel (each one's trees built and queried on one thread, in the same order)."""
    B, n = XA.shape[0], XA.shape[1]
    for q in prange(B):
        px, _, TTX, sx, ex, cx, lx, hx, mlx = _build(XA[q], tleaf)
        _, _, TTY, sy, ey, cy, ly, hy, mly = _build(YA[q], tleaf)
        blocks = _blocks(sx, ex, cx, bsize)
        mscan = max(rleaf, mlx, mly)
        ox = np.empty((n, k))
        oy = np.empty((n, k))
        zx = np.empty(n, dtype=np.int64)
        zy = np.empty(n, dtype=np.int64)
        cnt = np.zeros(3, dtype=np.int64)
        for ib in range(blocks.shape[0]):
            _query_block(blocks[ib], mscan, TTX, sx, ex, cx, lx, hx, TTY, sy, ey, cy, ly, hy, rleaf,
                         k, ox, oy, zx, zy, cnt)
        ok[q], dup_x[q], dup_y[q] = _original_order(px, ox, oy, zx, zy, rho[q], nu[q])


@njit(cache=True, boundscheck=False)
def _original_order(px, ox, oy, zx, zy, rho, nu):  # pragma: no cover - numba
    """The distances of the queries in tree order (``ox``, ``oy``) into ``rho``, ``nu`` in the
    original order (row ``px[i]`` is query i); returns (every query has k positive distances
    in both, the x's with a duplicate in X, those with one in Y)."""
    n, k = ox.shape
    good = True
    cx = 0
    cy = 0
    for i in range(n):
        good = good and np.isfinite(ox[i, k - 1]) and np.isfinite(oy[i, k - 1])
        cx += zx[i] > 1
        cy += zy[i] > 0
        for p in range(k):
            rho[px[i], p] = ox[i, p]
            nu[px[i], p] = oy[i, p]
    return good, cx, cy


def batch_params(d: int) -> tuple[int, int]:
    """(rleaf, bsize) of the leaf-batched query by dimension, measured at n = m = 10^4, k = 5
    (docs/estimators.md): scanned nodes of <= 32 points and query blocks of <= 32 for d <= 3,
    64/64 for d = 4, 128/64 for d >= 5."""
    return (32, 32) if d <= 3 else ((64, 64) if d == 4 else (128, 64))


def knn_pair_batched(xa, ya, k: int, rleaf: int | None = None, bsize: int | None = None,
                     counters: bool = False):
    """(rho, nu, n_dup_x, n_dup_y) as :func:`knn_pair_kdtree`, leaf-batched queries.

    Both trees are built with leaves of <= min(8, rleaf) points; a node of <= rleaf points is
    scanned as a whole; the queries are the x's in X-tree order, taken by blocks (maximal nodes of
    <= bsize points). With ``counters=True`` also returns (scanned nodes, per-query scans,
    distances evaluated) summed over both queries, and the number of blocks."""
    n, d = xa.shape
    r0, b0 = batch_params(d)
    rleaf = r0 if rleaf is None else int(rleaf)
    bsize = b0 if bsize is None else int(bsize)
    tleaf = max(1, min(8, rleaf))
    (px, _, TTX, sx, ex, cx, lx, hx, mlx), (_, _, TTY, sy, ey, cy, ly, hy, mly) = \
        build_two(xa, ya, tleaf)
    blocks = _blocks(sx, ex, cx, bsize)
    ox = np.empty((n, k))
    oy = np.empty((n, k))
    zx = np.empty(n, dtype=np.int64)
    zy = np.empty(n, dtype=np.int64)
    cnt = np.zeros((blocks.shape[0], 3), dtype=np.int64)
    with threads_at_most(blocks.shape[0]):
        _query_pair_batched(blocks, max(rleaf, mlx, mly), TTX, sx, ex, cx, lx, hx, TTY, sy, ey,
                            cy, ly, hy, rleaf, k, ox, oy, zx, zy, cnt)
    rho = np.empty_like(ox)
    nu = np.empty_like(oy)
    good, dx, dy = _original_order(px, ox, oy, zx, zy, rho, nu)
    if not good:
        _check(ox, k)
        _check(oy, k)
    res = (rho, nu, int(dx), int(dy))
    if counters:
        return res + (cnt.sum(axis=0), blocks.shape[0])
    return res
