"""numba CPU kernels of the epsilon-scaling auction (Jacobi-parallel bidding) and its finisher.

One set of kernels serves both cost sources:

* ``kind == KIND_DENSE``: a dense cost matrix ``C`` (n, n) is read;
* ``KIND_SQEUCLIDEAN``, ``KIND_EUCLIDEAN``, ``KIND_POWER`` (the codes of
  :mod:`kantorovich.ot._costs`): the cost is computed on the fly from points ``x`` (n, d),
  ``y`` (n, d) as ``scale * |x_i - y_j|^2``, ``scale * |x_i - y_j|`` or
  ``scale * |x_i - y_j|^cost_p`` (``cost_p`` the cost's exponent; ``p`` is the price vector
  here), so n = 32000 needs no 8 GB matrix.

Costs on the fly are computed from exact coordinate differences (no |x|^2 + |y|^2 - 2 x.y
expansion), so the finisher's reduced costs are accurate to a few ulps.

The numpy reference of the same algorithm is ``kantorovich.ot._auction._auction_numpy``; the
tests compare the two. numba is imported here, never at ``import kantorovich``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from ..._parallel import parallel_kernel
from .._costs import KIND_DENSE, KIND_EUCLIDEAN, KIND_SQEUCLIDEAN

__all__ = [
    "auction_phase",
    "dense_stats",
    "row_min_reduced",
    "count_candidates",
    "fill_candidates",
    "spfa_columns",
    "dual_violation",
    "matched_costs",
]


@njit(cache=True, inline="always")
def _cost(C, x, y, kind, cost_p, scale, i, j):
    if kind == KIND_DENSE:
        return C[i, j]
    s = 0.0
    for k in range(x.shape[1]):
        t = x[i, k] - y[j, k]
        s += t * t
    if kind == KIND_SQEUCLIDEAN:
        return scale * s
    if kind == KIND_EUCLIDEAN:
        return scale * math.sqrt(s)
    return scale * s ** (0.5 * cost_p)


@parallel_kernel
@njit(parallel=True, cache=True)
def dense_stats(C, lo, hi, top, integer):
    """Per row i of a finite cost matrix ``C``: ``lo[i]``, ``hi[i]`` its least and largest
    entries, ``top[i]`` the largest magnitude, ``integer[i]`` 1 when every entry is a whole
    number (one pass over C, where numpy's ``abs``, ``rint``, ``==``, ``min`` and ``max`` take
    seven and three temporaries of its size)."""
    n, m = C.shape
    for i in prange(n):
        a = C[i, 0]
        b = a
        t = abs(a)
        whole = 1
        for j in range(m):
            c = C[i, j]
            a = min(a, c)
            b = max(b, c)
            t = max(t, abs(c))
            if c != np.rint(c):
                whole = 0
        lo[i] = a
        hi[i] = b
        top[i] = t
        integer[i] = whole


@njit(cache=True, inline="always")
def _insert(vals, idx, m, cap, w, j):
    """Insert (w, j) into the ascending buffer vals[:m] of capacity cap; returns the new m."""
    if m < cap:
        k = m
        m += 1
    else:
        k = cap - 1
    while k > 0 and vals[k - 1] > w:
        vals[k] = vals[k - 1]
        idx[k] = idx[k - 1]
        k -= 1
    vals[k] = w
    idx[k] = j
    return m


@njit(cache=True)
def _rescan(C, x, y, kind, cost_p, scale, p, i, cand, ccnt, cthr, vals, idx):
    """Full scan of row i: keep its K best columns by c(i, j) + p_j and the (K+1)-th value.

    Prices only rise, so every column outside the list keeps a value >= cthr[i] afterwards:
    the list answers best / second-best queries exactly while its second best is <= cthr[i].
    """
    n = p.shape[0]
    K = cand.shape[1]
    cap = K + 1
    m = 0
    if kind == KIND_DENSE:
        for j in range(n):
            w = C[i, j] + p[j]
            if m < cap or w < vals[cap - 1]:
                m = _insert(vals, idx, m, cap, w, j)
    elif kind == KIND_SQEUCLIDEAN and x.shape[1] == 2:
        xi0 = x[i, 0]
        xi1 = x[i, 1]
        for j in range(n):
            t0 = xi0 - y[j, 0]
            t1 = xi1 - y[j, 1]
            w = scale * (t0 * t0 + t1 * t1) + p[j]
            if m < cap or w < vals[cap - 1]:
                m = _insert(vals, idx, m, cap, w, j)
    else:
        for j in range(n):
            w = _cost(C, x, y, kind, cost_p, scale, i, j) + p[j]
            if m < cap or w < vals[cap - 1]:
                m = _insert(vals, idx, m, cap, w, j)
    if m == cap:
        cnt = K
        cthr[i] = vals[K]
    else:
        cnt = m
        cthr[i] = np.inf
    for k in range(cnt):
        cand[i, k] = idx[k]
    ccnt[i] = cnt


@njit(cache=True)
def _best2(C, x, y, kind, cost_p, scale, p, i, cand, ccnt, cthr):
    """Best column j1, its value w1 = c(i, j1) + p[j1] and the second-best value w2 (exact)."""
    w1 = np.inf
    w2 = np.inf
    j1 = -1
    for k in range(ccnt[i]):
        j = cand[i, k]
        w = _cost(C, x, y, kind, cost_p, scale, i, j) + p[j]
        if w < w2:
            if w < w1:
                w2 = w1
                w1 = w
                j1 = j
            else:
                w2 = w
    if j1 >= 0 and (w2 <= cthr[i] or ccnt[i] == p.shape[0]):
        return j1, w1, w2
    K = cand.shape[1]
    vals = np.empty(K + 1)
    idx = np.empty(K + 1, dtype=np.int64)
    _rescan(C, x, y, kind, cost_p, scale, p, i, cand, ccnt, cthr, vals, idx)
    if p.shape[0] == 1:
        return idx[0], vals[0], np.inf
    return idx[0], vals[0], vals[1]


@parallel_kernel
@njit(parallel=True, cache=True)
def auction_phase(C, x, y, kind, cost_p, scale, p, row_to_col, col_to_row, eps, max_rounds,
                  cand, ccnt, cthr, par_min):
    """One epsilon phase of the forward auction with Jacobi-parallel bidding (in place).

    Start: rows whose current assignment violates eps-complementary slackness
    (c(i, s(i)) + p[s(i)] > min_k c(i, k) + p[k] + eps) are unassigned. Then, until every row is
    assigned: every unassigned row bids (in parallel when at least ``par_min`` rows bid) for its
    best column j1 with the price ``p[j1] + (w2 - w1) + eps``; every column takes its highest
    bid (ties: lowest row), its previous owner becomes unassigned. Prices only rise.

    Best / second-best queries use per-row lists of the K best columns (``cand``, ``ccnt``,
    ``cthr``, kept between calls; ``ccnt[i] = 0`` forces a scan): exact, since prices only
    rise, and O(K) instead of O(n) while the list stays valid.

    Returns (rounds, bids); rounds == -1 when ``max_rounds`` was reached.
    """
    n = p.shape[0]
    drop = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        j = row_to_col[i]
        if j >= 0:
            # the row as int64, as the bidding loops pass it: the prange index is uint64, and
            # numba compiled _best2 (and _rescan) once for each (docs/performance.md,
            # "Compile time")
            j1, w1, w2 = _best2(C, x, y, kind, cost_p, scale, p, np.int64(i), cand, ccnt, cthr)
            if _cost(C, x, y, kind, cost_p, scale, i, j) + p[j] > w1 + eps:
                drop[i] = True
    for i in range(n):
        if drop[i]:
            col_to_row[row_to_col[i]] = -1
            row_to_col[i] = -1
    rows = np.empty(n, dtype=np.int64)
    nfree = 0
    for i in range(n):
        if row_to_col[i] < 0:
            rows[nfree] = i
            nfree += 1
    bid_col = np.empty(n, dtype=np.int64)
    bid_val = np.empty(n, dtype=np.float64)
    best = np.full(n, -np.inf)
    bidder = np.full(n, -1, dtype=np.int64)
    touched = np.empty(n, dtype=np.int64)
    new_rows = np.empty(n, dtype=np.int64)
    rounds = 0
    bids = 0
    while nfree > 0:
        if rounds >= max_rounds:
            return -1, bids
        rounds += 1
        bids += nfree
        if nfree >= par_min:
            for t in prange(nfree):
                i = rows[t]
                j1, w1, w2 = _best2(C, x, y, kind, cost_p, scale, p, i, cand, ccnt, cthr)
                if n == 1:
                    w2 = w1
                bid_col[t] = j1
                bid_val[t] = p[j1] + (w2 - w1) + eps
        else:
            for t in range(nfree):
                i = rows[t]
                j1, w1, w2 = _best2(C, x, y, kind, cost_p, scale, p, i, cand, ccnt, cthr)
                if n == 1:
                    w2 = w1
                bid_col[t] = j1
                bid_val[t] = p[j1] + (w2 - w1) + eps
        # each column takes its highest bid (ties: lowest row index)
        ntouched = 0
        for t in range(nfree):
            j = bid_col[t]
            i = rows[t]
            b = bid_val[t]
            if bidder[j] < 0:
                touched[ntouched] = j
                ntouched += 1
                best[j] = b
                bidder[j] = i
            elif b > best[j] or (b == best[j] and i < bidder[j]):
                best[j] = b
                bidder[j] = i
        nnew = 0
        for t in range(nfree):
            i = rows[t]
            if bidder[bid_col[t]] != i:
                new_rows[nnew] = i
                nnew += 1
        for s in range(ntouched):
            j = touched[s]
            i = bidder[j]
            old = col_to_row[j]
            if old >= 0:
                row_to_col[old] = -1
                new_rows[nnew] = old
                nnew += 1
            col_to_row[j] = i
            row_to_col[i] = j
            p[j] = best[j]
            best[j] = -np.inf
            bidder[j] = -1
        for t in range(nnew):
            rows[t] = new_rows[t]
        nfree = nnew
    return rounds, bids


@parallel_kernel
@njit(parallel=True, cache=True)
def row_min_reduced(C, x, y, kind, cost_p, scale, v, perm):
    """u_i = min_j c(i, j) - v_j (so u_i + v_j <= c(i, j)) and r_i = c(i, perm[i]) - u_i - v[perm[i]]."""
    n = v.shape[0]
    u = np.empty(n)
    r = np.empty(n)
    for i in prange(n):
        m = np.inf
        for j in range(n):
            w = _cost(C, x, y, kind, cost_p, scale, i, j) - v[j]
            if w < m:
                m = w
        u[i] = m
        j = perm[i]
        r[i] = _cost(C, x, y, kind, cost_p, scale, i, j) - m - v[j]
    return u, r


@parallel_kernel
@njit(parallel=True, cache=True)
def count_candidates(C, x, y, kind, cost_p, scale, u, v, thr):
    """Per row, the number of columns with reduced cost c(i, j) - u_i - v_j <= thr."""
    n = v.shape[0]
    cnt = np.zeros(n, dtype=np.int64)
    for i in prange(n):
        c = 0
        for j in range(n):
            if _cost(C, x, y, kind, cost_p, scale, i, j) - u[i] - v[j] <= thr:
                c += 1
        cnt[i] = c
    return cnt


@parallel_kernel
@njit(parallel=True, cache=True)
def fill_candidates(C, x, y, kind, cost_p, scale, u, v, thr, indptr):
    """CSR lists of the candidate edges: column indices, costs and reduced costs."""
    n = v.shape[0]
    nnz = indptr[n]
    indices = np.empty(nnz, dtype=np.int64)
    cost = np.empty(nnz)
    red = np.empty(nnz)
    for i in prange(n):
        k = indptr[i]
        for j in range(n):
            c = _cost(C, x, y, kind, cost_p, scale, i, j)
            r = c - u[i] - v[j]
            if r <= thr:
                indices[k] = j
                cost[k] = c
                red[k] = r
                k += 1
    return indices, cost, red


@njit(cache=True)
def spfa_columns(indptr, indices, red, perm, max_passes):
    """Column potential shifts phi making ``perm`` tight and every candidate edge feasible.

    With reduced costs ``red[i, j] = c(i, j) - u_i - v_j >= 0`` on the candidate edges (CSR),
    solves phi_j <= phi_{perm[i]} + red[i, j] - red[i, perm[i]] for every candidate edge (i, j)
    by label-correcting shortest paths from a virtual source (phi = 0 start), so that
    v'_j = v_j + phi_j, u'_i = c(i, perm[i]) - v'_{perm[i]} are feasible on the candidate graph
    and tight on ``perm``. The system is solvable iff ``perm`` is optimal on the candidate graph
    (no negative cycle); then -sum_i red[i, perm[i]] <= phi <= 0.
    Returns (phi, ok); ok is False when ``max_passes * n`` queue pops did not settle.
    """
    n = perm.shape[0]
    # c_match[i] = red[i, perm[i]]
    c_match = np.empty(n)
    for i in range(n):
        c_match[i] = np.inf
        for k in range(indptr[i], indptr[i + 1]):
            if indices[k] == perm[i]:
                c_match[i] = red[k]
    col_to_row = np.empty(n, dtype=np.int64)
    for i in range(n):
        col_to_row[perm[i]] = i
    phi = np.zeros(n)
    queue = np.empty(n, dtype=np.int64)
    inq = np.ones(n, dtype=np.bool_)
    for j in range(n):
        queue[j] = j
    head = 0
    size = n
    pops = 0
    limit = max_passes * n
    while size > 0:
        if pops >= limit:
            return phi, False
        j0 = queue[head]
        head = (head + 1) % n
        size -= 1
        inq[j0] = False
        pops += 1
        i = col_to_row[j0]
        base = phi[j0] - c_match[i]
        for k in range(indptr[i], indptr[i + 1]):
            j = indices[k]
            cand = base + red[k]
            if cand < phi[j]:
                phi[j] = cand
                if not inq[j]:
                    inq[j] = True
                    queue[(head + size) % n] = j
                    size += 1
    return phi, True


@njit(cache=True)
def _row_violation(C, x, y, kind, cost_p, scale, f, g, i):
    """max_j (f_i + g_j - c(i, j))."""
    m = -np.inf
    for j in range(g.shape[0]):
        w = f[i] + g[j] - _cost(C, x, y, kind, cost_p, scale, i, j)
        if w > m:
            m = w
    return m


@parallel_kernel
@njit(parallel=True, cache=True)
def dual_violation(C, x, y, kind, cost_p, scale, f, g):
    """max_ij (f_i + g_j - c(i, j)), the largest violation of dual feasibility (<= 0 if feasible).

    The row maximum is a function of its own: numba 0.68.0's parfor pass, with the running
    maximum written inline in the prange body, failed with "unexpected cycle in lookup()"."""
    n = g.shape[0]
    worst = np.empty(n)
    for i in prange(n):
        # int64 row: the uint64 prange index compiled _row_violation a second time
        worst[i] = _row_violation(C, x, y, kind, cost_p, scale, f, g, np.int64(i))
    return worst.max()


@njit(cache=True)
def matched_costs(C, x, y, kind, cost_p, scale, perm):
    """c(i, perm[i]) for every row."""
    n = perm.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = _cost(C, x, y, kind, cost_p, scale, i, perm[i])
    return out
