"""numba-cuda kernels of the epsilon-scaling auction (Jacobi bidding on the GPU).

Same algorithm, rules and tie-breaks as ``auction_numba.auction_phase`` (its numpy reference is
``kantorovich.ot._auction._auction_phase_numpy``), one bidding round as four kernels:

1. ``bid``: one thread block per unassigned row scans all n columns (costs from a dense matrix
   or computed from points on the fly), reduces (best value, best column, second value) in
   shared memory, and thread 0 posts the bid ``p[j1] + (w2 - w1) + eps`` with a float64
   ``atomic.max`` into ``col_best[j1]``;
2. ``winner``: every bidder whose bid equals its column's maximum takes ``atomic.min`` of its
   row index into ``col_win`` (ties: lowest row, as on the CPU);
3. ``assign``: the winning row takes the column, sets its price, evicts the previous owner;
4. ``reset_compact``: resets the per-column scratch and appends the unassigned rows to the next
   bidder list with an atomic counter (list order does not change the outcome).

The host reads one counter per round. Phase start (eps-CS check of kept assignments) is one
more kernel, one block per row. Runs under ``NUMBA_ENABLE_CUDASIM=1`` (tiny sizes, tests) and
on a CUDA GPU; numba.cuda is imported only when this module is.

Not done (needs a GPU to tune): a persistent cooperative kernel for a whole phase (the
per-round launch latency dominates the many small tail rounds), and the finisher on the GPU
(the certificate and exact finish run on the host with the numba CPU kernels).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from ...exceptions import BackendUnavailableError

_INSTALL = 'install the GPU extra: pip install "kantorovich[gpu]" (numba-cuda and CuPy)'


def _cuda():
    try:
        from numba import cuda
    except Exception as exc:  # pragma: no cover - numba-cuda missing
        raise BackendUnavailableError(f"numba-cuda is not available ({exc!s}); {_INSTALL}.") from exc
    try:
        ok = cuda.is_available()
    except Exception:  # pragma: no cover
        ok = False
    if not ok:
        raise BackendUnavailableError(
            f"no CUDA GPU is visible to numba.cuda (backend='cuda'); {_INSTALL}, or use backend='numba'.")
    return cuda


def simulator() -> bool:
    return os.environ.get("NUMBA_ENABLE_CUDASIM", "0") == "1"


_KERNELS: dict = {}
cuda = None  # numba.cuda, bound by kernels()


def kernels(tpb: int):
    """Compile (once per block size) and return the kernels; ``tpb`` a power of two."""
    global cuda  # a module global: the simulator swaps numba.cuda in kernel globals only
    if tpb in _KERNELS:
        return _KERNELS[tpb]
    cuda = _cuda()
    from numba import float64, int64

    INF = math.inf

    @cuda.jit(device=True, inline="always")
    def cost(C, x, y, kind, pw, scale, i, j):
        if kind == -1:
            return C[i, j]
        s = 0.0
        for k in range(x.shape[1]):
            t = x[i, k] - y[j, k]
            s += t * t
        if kind == 0:
            return scale * s
        if kind == 1:
            return scale * math.sqrt(s)
        return scale * s ** (0.5 * pw)

    @cuda.jit(device=True, inline="always")
    def block_best2(C, x, y, kind, pw, scale, p, i, s1, sj, s2):
        """(w1, j1, w2) of row i, reduced over the block; valid in every thread after return."""
        tid = cuda.threadIdx.x
        n = p.shape[0]
        w1 = INF
        w2 = INF
        j1 = n
        j = tid
        while j < n:
            w = cost(C, x, y, kind, pw, scale, i, j) + p[j]
            if w < w1 or (w == w1 and j < j1):
                w2 = min(w2, w1)
                w1 = w
                j1 = j
            elif w < w2:
                w2 = w
            j += tpb
        s1[tid] = w1
        sj[tid] = j1
        s2[tid] = w2
        cuda.syncthreads()
        step = tpb // 2
        while step > 0:
            if tid < step:
                a1 = s1[tid]
                aj = sj[tid]
                a2 = s2[tid]
                b1 = s1[tid + step]
                bj = sj[tid + step]
                b2 = s2[tid + step]
                if a1 < b1 or (a1 == b1 and aj < bj):
                    s2[tid] = min(a2, b1)
                else:
                    s1[tid] = b1
                    sj[tid] = bj
                    s2[tid] = min(b2, a1)
            cuda.syncthreads()
            step //= 2
        return s1[0], sj[0], s2[0]

    @cuda.jit
    def check_kernel(C, x, y, kind, pw, scale, p, r2c, c2r, eps):
        i = cuda.blockIdx.x
        s1 = cuda.shared.array(tpb, float64)
        sj = cuda.shared.array(tpb, int64)
        s2 = cuda.shared.array(tpb, float64)
        w1, j1, w2 = block_best2(C, x, y, kind, pw, scale, p, i, s1, sj, s2)
        if cuda.threadIdx.x == 0:
            j = r2c[i]
            if j >= 0 and cost(C, x, y, kind, pw, scale, i, j) + p[j] > w1 + eps:
                c2r[j] = -1
                r2c[i] = -1

    @cuda.jit
    def bid_kernel(C, x, y, kind, pw, scale, p, rows, eps, bid_col, bid_val, col_best):
        t = cuda.blockIdx.x
        i = rows[t]
        s1 = cuda.shared.array(tpb, float64)
        sj = cuda.shared.array(tpb, int64)
        s2 = cuda.shared.array(tpb, float64)
        w1, j1, w2 = block_best2(C, x, y, kind, pw, scale, p, i, s1, sj, s2)
        if cuda.threadIdx.x == 0:
            b = p[j1] + (w2 - w1) + eps
            bid_col[t] = j1
            bid_val[t] = b
            cuda.atomic.max(col_best, j1, b)

    @cuda.jit
    def winner_kernel(rows, nfree, bid_col, bid_val, col_best, col_win):
        t = cuda.grid(1)
        if t < nfree:
            j = bid_col[t]
            if bid_val[t] == col_best[j]:
                cuda.atomic.min(col_win, j, rows[t])

    @cuda.jit
    def assign_kernel(rows, nfree, bid_col, bid_val, col_win, p, r2c, c2r):
        t = cuda.grid(1)
        if t < nfree:
            j = bid_col[t]
            i = rows[t]
            if col_win[j] == i:
                old = c2r[j]
                if old >= 0:
                    r2c[old] = -1
                c2r[j] = i
                r2c[i] = j
                p[j] = bid_val[t]

    @cuda.jit
    def reset_compact_kernel(nfree, bid_col, col_best, col_win, r2c, rows_out, counter):
        t = cuda.grid(1)
        if t < nfree:
            j = bid_col[t]
            col_best[j] = -INF
            col_win[j] = 1 << 62
        if t < r2c.shape[0] and r2c[t] < 0:
            k = cuda.atomic.add(counter, 0, 1)
            rows_out[k] = t

    ks = dict(check=check_kernel, bid=bid_kernel, winner=winner_kernel, assign=assign_kernel,
              reset_compact=reset_compact_kernel)
    _KERNELS[tpb] = ks
    return ks


def auction_cuda(prob, schedule, max_rounds, tpb=None):
    """Run the phases of ``schedule`` (scaled eps values) on the GPU.

    Returns (perm, prices, rounds, bids, converged) as numpy arrays / ints.
    """
    cuda = _cuda()
    if tpb is None:
        tpb = 4 if simulator() else 256
    k = kernels(tpb)
    n = prob.n
    C = cuda.to_device(np.ascontiguousarray(prob.C))
    x = cuda.to_device(np.ascontiguousarray(prob.x))
    y = cuda.to_device(np.ascontiguousarray(prob.y))
    kind, pw, scale = np.int64(prob.kind), float(prob.pw), float(prob.scale)
    p = cuda.to_device(np.zeros(n))
    r2c = cuda.to_device(np.full(n, -1, dtype=np.int64))
    c2r = cuda.to_device(np.full(n, -1, dtype=np.int64))
    rows = cuda.to_device(np.arange(n, dtype=np.int64))
    rows_next = cuda.device_array(n, dtype=np.int64)
    bid_col = cuda.device_array(n, dtype=np.int64)
    bid_val = cuda.device_array(n, dtype=np.float64)
    col_best = cuda.to_device(np.full(n, -np.inf))
    col_win = cuda.to_device(np.full(n, 1 << 62, dtype=np.int64))
    counter = cuda.to_device(np.zeros(1, dtype=np.int64))
    tb = 128 if not simulator() else 8
    grid_n = (n + tb - 1) // tb
    rounds = bids = 0
    converged = True
    zero = np.zeros(1, dtype=np.int64)
    for eps in schedule:
        eps = float(eps)
        k["check"][n, tpb](C, x, y, kind, pw, scale, p, r2c, c2r, eps)
        counter.copy_to_device(zero)
        k["reset_compact"][grid_n, tb](0, bid_col, col_best, col_win, r2c, rows, counter)
        nfree = int(counter.copy_to_host()[0])
        r = 0
        while nfree > 0:
            if r >= max_rounds:
                converged = False
                break
            r += 1
            bids += nfree
            k["bid"][nfree, tpb](C, x, y, kind, pw, scale, p, rows, eps, bid_col, bid_val, col_best)
            g = (nfree + tb - 1) // tb
            k["winner"][g, tb](rows, nfree, bid_col, bid_val, col_best, col_win)
            k["assign"][g, tb](rows, nfree, bid_col, bid_val, col_win, p, r2c, c2r)
            counter.copy_to_device(zero)
            k["reset_compact"][max(g, grid_n), tb](nfree, bid_col, col_best, col_win, r2c, rows_next, counter)
            rows, rows_next = rows_next, rows
            nfree = int(counter.copy_to_host()[0])
        rounds += r
        if not converged:
            break
    return r2c.copy_to_host(), p.copy_to_host(), rounds, bids, converged


def solve(prob, exact, eps_final, theta, max_rounds, _solve_cpu_finish):
    """GPU auction, then the host certificate / exact finish (``_finish_after_gpu``)."""
    from .._auction import _EPS_FLOOR, _schedule

    _cuda()
    n = prob.n
    info = {"cost_scale": prob.scale, "device": "cuda-simulator" if simulator() else "cuda"}
    if eps_final is None:
        eps_f = prob.scale / (n + 1) if prob.integer else max(prob.c_range / (4.0 * n * n), _EPS_FLOOR)
    else:
        eps_f = max(eps_final * prob.scale, _EPS_FLOOR)
    sched = _schedule(max(prob.c_range / 16.0, eps_f), eps_f, theta)
    t0 = time.perf_counter()
    perm, p, rounds, bids, converged = auction_cuda(prob, sched, max_rounds)
    info.update(t_auction_s=time.perf_counter() - t0, phases=len(sched), bids=int(bids),
                eps_final=sched[-1] / prob.scale)
    if not converged:
        import warnings

        from ...exceptions import ConvergenceWarning

        warnings.warn(f"the GPU auction hit `max_rounds` = {max_rounds}; raise `max_rounds` or `eps_final`.",
                      ConvergenceWarning, stacklevel=3)
        free_c = np.setdiff1d(np.arange(n), perm[perm >= 0])
        perm = perm.copy()
        perm[perm < 0] = free_c
        exact = False
    perm, f, g, ok, method = _solve_cpu_finish(prob, perm, p, sched[-1], exact, info)
    return perm, f, g, sched[-1] / prob.scale, ok, method + " [GPU auction]", rounds, info
