r"""Exact k-nearest-neighbour distances by tiled brute force in numba (private, CPU).

``knn_positive_numba(query, ref, k, same=...)`` has the contract of
:func:`kantorovich.divergences._knn.knn_positive`: the ``k`` smallest strictly positive
Euclidean distances from each query row to the reference rows, ``(n, k)`` float64 sorted
along rows, and the number of query rows that had a zero distance to a point other than
themselves.

Algorithm (O(n m d) flops, O(n k) memory, parallel over blocks of query rows):

1. Centre both clouds on the reference mean (limits cancellation), round to float32, pad
   the dimension to a multiple of 4 with zeros (so the inner loop is a fixed 4-term FMA
   chain that LLVM vectorises over reference columns).
2. For a chunk of 64 query rows and a tile of 2048 reference columns (kept in L1/L2),
   approximate squared distances :math:`|q|^2 + |r|^2 - 2 q\cdot r` for 4 query rows at
   a time; per row, a vectorised count of the tile entries below the row's current
   threshold, and only when it is non-zero a scan with a running top-``kc`` insertion list
   (``kc = kk + 4`` candidates; the point itself is skipped by index when ``same``).
3. Exact recomputation of the ``kc`` candidates in float64 from the differences of the
   caller's (uncentred) coordinates, so that a pair's distance does not depend on the
   reference cloud of the pass; sort, keep ``kk``. **Certificate:** every non-candidate has approximate squared distance
   at least that of the ``kc``-th candidate, ``a``, hence a true one at least ``a - tol``
   with ``tol`` a bound on the float32 rounding error; when the exact ``kk``-th squared
   distance is ``<= a - tol`` the row is exact. Rows that fail (ties at the threshold, huge
   coordinates) are recomputed by an exact float64 scan.
4. Strictly positive distances: zeros (duplicates) are skipped as in ``knn_positive``;
   rows with more duplicates than the spare columns are recomputed with the KD-tree.
"""

from __future__ import annotations

import numpy as np

from .._parallel import parallel_kernel

__all__ = ["knn_positive_numba", "knn_brute", "numba_available"]

_EXTRA = 4   # spare columns for duplicates (zero distances)
_SPARE = 4   # candidates beyond kk kept for the certificate
_CHUNK = 64  # query rows per parallel task
_TILE = 2048  # reference columns per tile

_KERNELS = None


def numba_available() -> bool:
    try:
        import numba  # noqa: F401
    except Exception:
        return False
    return True


try:
    import numba
    from numba import njit, prange
except Exception:  # pragma: no cover - numba is a dependency
    numba = None

# The kernels live at module level (not as closures built on first use), so numba's on-disk
# cache (cache=True) finds them by their qualified names in a new process instead of compiling
# them again and appending one more identical entry to __pycache__ each time.
if numba is not None:
    @njit(cache=True, fastmath=True, boundscheck=False)
    def chunk(Q, qn, RT, rn, kc, same, r0, r1, out_val, out_idx):  # pragma: no cover - numba
        # one chunk of query rows r0..r1 (a multiple of 4 rows); serial, vectorised inner loops
        if True:
            dp = Q.shape[1]
            m = RT.shape[1]
            nr = r1 - r0
            vals = np.full((nr, kc), np.inf, dtype=np.float32)
            idxs = np.full((nr, kc), -1, dtype=np.int64)
            thr = np.full(nr, np.inf, dtype=np.float32)
            a0 = np.empty(2048, dtype=np.float32)
            a1 = np.empty(2048, dtype=np.float32)
            a2 = np.empty(2048, dtype=np.float32)
            a3 = np.empty(2048, dtype=np.float32)
            for t0 in range(0, m, 2048):
                tl = min(2048, m - t0)
                for g in range(r0, r1, 4):
                    b0 = qn[g]
                    b1 = qn[g + 1]
                    b2 = qn[g + 2]
                    b3 = qn[g + 3]
                    for j in range(tl):
                        s = rn[t0 + j]
                        a0[j] = b0 + s
                        a1[j] = b1 + s
                        a2[j] = b2 + s
                        a3[j] = b3 + s
                    for c in range(0, dp, 4):
                        p00 = Q[g, c]
                        p01 = Q[g, c + 1]
                        p02 = Q[g, c + 2]
                        p03 = Q[g, c + 3]
                        p10 = Q[g + 1, c]
                        p11 = Q[g + 1, c + 1]
                        p12 = Q[g + 1, c + 2]
                        p13 = Q[g + 1, c + 3]
                        p20 = Q[g + 2, c]
                        p21 = Q[g + 2, c + 1]
                        p22 = Q[g + 2, c + 2]
                        p23 = Q[g + 2, c + 3]
                        p30 = Q[g + 3, c]
                        p31 = Q[g + 3, c + 1]
                        p32 = Q[g + 3, c + 2]
                        p33 = Q[g + 3, c + 3]
                        R0 = RT[c, t0:t0 + tl]
                        R1 = RT[c + 1, t0:t0 + tl]
                        R2 = RT[c + 2, t0:t0 + tl]
                        R3 = RT[c + 3, t0:t0 + tl]
                        for j in range(tl):
                            v0 = R0[j]
                            v1 = R1[j]
                            v2 = R2[j]
                            v3 = R3[j]
                            a0[j] += p00 * v0 + p01 * v1 + p02 * v2 + p03 * v3
                            a1[j] += p10 * v0 + p11 * v1 + p12 * v2 + p13 * v3
                            a2[j] += p20 * v0 + p21 * v1 + p22 * v2 + p23 * v3
                            a3[j] += p30 * v0 + p31 * v1 + p32 * v2 + p33 * v3
                    for rr in range(4):
                        if rr == 0:
                            acc = a0
                        elif rr == 1:
                            acc = a1
                        elif rr == 2:
                            acc = a2
                        else:
                            acc = a3
                        li = g - r0 + rr
                        th = thr[li]
                        me = g + rr
                        for s0 in range(0, tl, 64):
                            s1 = min(tl, s0 + 64)
                            lo = acc[s0]
                            for j in range(s0 + 1, s1):
                                lo = min(lo, acc[j])
                            if not lo < th:
                                continue
                            for j in range(s0, s1):
                                v = acc[j]
                                if v < th:
                                    gj = t0 + j
                                    if same and gj == me:
                                        continue
                                    p = kc - 1
                                    while p > 0 and vals[li, p - 1] > v:
                                        vals[li, p] = vals[li, p - 1]
                                        idxs[li, p] = idxs[li, p - 1]
                                        p -= 1
                                    vals[li, p] = v
                                    idxs[li, p] = gj
                                    th = vals[li, kc - 1]
                        thr[li] = th
            for li in range(nr):
                for p in range(kc):
                    out_val[r0 + li, p] = vals[li, p]
                    out_idx[r0 + li, p] = idxs[li, p]

    @parallel_kernel
    @njit(parallel=True, cache=True, boundscheck=False)
    def topk_approx(Q, qn, RT, rn, kc, same, out_val, out_idx):  # pragma: no cover - numba
        # Q (n4, dp) float32 = -2 * query rows (n4 multiple of 4), qn (n4,), RT (dp, m), rn (m,);
        # out_val (n4, kc) float32 approx squared distances, out_idx (n4, kc) int64.
        n4 = Q.shape[0]
        nch = (n4 + 63) // 64
        for ch in prange(nch):
            r0 = ch * 64
            chunk(Q, qn, RT, rn, kc, same, r0, min(n4, r0 + 64), out_val, out_idx)

    @parallel_kernel
    @njit(parallel=True, cache=True, boundscheck=False)
    def refine(Q64, R64, idx, aval, tol, kk, same, out, bad):  # pragma: no cover - numba
        # exact float64 distances of the candidates, sorted; certificate per row
        n = out.shape[0]
        kc = idx.shape[1]
        d = Q64.shape[1]
        for i in prange(n):
            ex = np.empty(kc, dtype=np.float64)
            for p in range(kc):
                j = idx[i, p]
                if j < 0:
                    ex[p] = np.inf
                else:
                    s = 0.0
                    for c in range(d):
                        t = Q64[i, c] - R64[j, c]
                        s += t * t
                    ex[p] = s
            ex.sort()
            for p in range(kk):
                out[i, p] = np.sqrt(ex[p])
            last = idx[i, kc - 1]
            if last >= 0:  # some reference points were not candidates
                bad[i] = not (ex[kk - 1] <= np.float64(aval[i, kc - 1]) - tol[i])
            else:
                bad[i] = False

    @parallel_kernel
    @njit(parallel=True, cache=True, boundscheck=False)
    def exact_rows(Q64, R64, rows, kk, same, out):  # pragma: no cover - numba
        # exact float64 scan for the rows that failed the certificate
        m = R64.shape[0]
        d = Q64.shape[1]
        for t in prange(rows.shape[0]):
            i = rows[t]
            best = np.full(kk, np.inf)
            for j in range(m):
                if same and j == i:
                    continue
                s = 0.0
                for c in range(d):
                    u = Q64[i, c] - R64[j, c]
                    s += u * u
                if s < best[kk - 1]:
                    p = kk - 1
                    while p > 0 and best[p - 1] > s:
                        best[p] = best[p - 1]
                        p -= 1
                    best[p] = s
            for p in range(kk):
                out[i, p] = np.sqrt(best[p])

    _KERNELS = (topk_approx, refine, exact_rows, numba)


def _kernels():
    """(topk_approx, refine, exact_rows, numba): the compiled kernels (needs numba)."""
    if _KERNELS is None:  # pragma: no cover - numba is a dependency
        raise ImportError("the numba brute-force kNN backend needs numba")
    return _KERNELS


def knn_brute(query, ref, kk: int, *, same: bool = False) -> np.ndarray:
    """Exact ``kk`` smallest distances (self excluded by index when ``same``), float64 (n, kk).

    Zeros (duplicates) are kept; see :func:`knn_positive_numba` for the positive variant.
    """
    topk_approx, refine, exact_rows, _ = _kernels()
    q = np.asarray(query, dtype=np.float64)
    r = q if same else np.asarray(ref, dtype=np.float64)
    n, d = q.shape
    m = r.shape[0]
    avail = m - (1 if same else 0)
    kk = min(kk, avail)
    kc = min(kk + _SPARE, avail)
    centre = r.mean(axis=0)
    q64 = np.ascontiguousarray(q - centre)
    r64 = q64 if same else np.ascontiguousarray(r - centre)
    dp = -(-d // 4) * 4
    n4 = -(-n // 4) * 4
    Q = np.zeros((n4, dp), dtype=np.float32)
    Q[:n, :d] = q64
    RT = np.zeros((dp, m), dtype=np.float32)
    RT[:d] = r64.T
    qn = np.einsum("ij,ij->i", Q, Q)
    rn = np.einsum("ij,ij->j", RT, RT)
    aval = np.empty((n4, kc), dtype=np.float32)
    aidx = np.empty((n4, kc), dtype=np.int64)
    Qm2 = np.ascontiguousarray(np.float32(-2.0) * Q)  # exact scaling by a power of 2
    topk_approx(Qm2, qn, RT, rn, kc, bool(same), aval, aidx)
    # rounding-error bound of the float32 expansion (inputs rounded, d + 2 accumulations),
    # with a factor 4 of safety: |err| <= 4 (d + 8) 2^-24 * 2 (|q|^2 + max |r|^2)
    rmax = float(np.max(np.einsum("ij,ij->i", r64, r64))) if m else 0.0
    qn64 = np.einsum("ij,ij->i", q64, q64)
    tol = 8.0 * (dp + 8) * 2.0 ** -24 * (qn64 + rmax) + 1e-300
    out = np.empty((n, kk), dtype=np.float64)
    bad = np.zeros(n, dtype=np.bool_)
    # the exact distances from the caller's coordinates, not the centred ones: the centre is
    # the reference's mean, so a pair's centred coordinates (and its distance, by an ulp)
    # depended on the pass; from q - r it is one number in every pass and engine (the
    # adaptive estimator counts exact ties between the within-x and the cross distances)
    qc = np.ascontiguousarray(q)
    rc = qc if same else np.ascontiguousarray(r)
    refine(qc, rc, aidx[:n], aval[:n], tol, kk, bool(same), out, bad)
    rows = np.flatnonzero(bad)
    if rows.size:
        exact_rows(qc, rc, rows.astype(np.int64), kk, bool(same), out)
    return out


def knn_positive_numba(query, ref, k: int, *, same: bool = False) -> tuple[np.ndarray, int]:
    """``(dist, n_dup)``: k smallest strictly positive distances by numba brute force.

    Rows with more than a few duplicates (zero distances) are completed with the KD-tree
    (``knn_positive``), which searches deeper. Raises ValueError as ``knn_positive`` does.
    """
    from ._knn import knn_positive, select_positive

    q = np.asarray(query, dtype=np.float64)
    r = q if same else np.asarray(ref, dtype=np.float64)
    avail = r.shape[0] - (1 if same else 0)
    kk = min(k + _EXTRA, avail)
    dist = knn_brute(q, r, kk, same=same)
    out, ok, n_dup = select_positive(dist, k)
    bad = np.flatnonzero(~ok)
    if bad.size:
        o2, _ = knn_positive(q[bad], r, k, same=same)
        out[bad] = o2
    return out, n_dup
