"""numba-cuda kernels of the epsilon-scaling auction (Jacobi bidding on the GPU).

Same algorithm, rules and tie-breaks as ``auction_numba.auction_phase`` (its numpy reference is
``kantorovich.ot._auction._auction_phase_numpy``). Under the CUDA simulator, for the same eps
schedule, the kernels give bit-identical prices and the same permutation, round and bid counts
(tested). On a GPU they need not: NVVM contracts ``s += t * t`` and ``scale * s + p[j]`` into
FMAs, so a cost can differ from the CPU's in its last bit, and ``|x - y|^p`` uses CUDA's ``pow``.
A differing last bit can change a tie or a bid, hence the rounds and the final prices; it cannot
make a wrong answer pass: the result is certified (eps-CS, exact finish) on the host with the
CPU kernels either way. Forbidding the contraction (``libdevice.dmul_rn`` for the products) costs
2 SASS instructions per cost evaluation in the scan (25 -> 27 at d = 2), so it is not done.

A phase starts with ``check`` (one block per row: drop the assignments violating the new
eps-CS) and ``compact`` (list the free rows); one host read gets the free-row count. Then:

**Multi-block rounds** while more than ``tail_rows(n)`` rows are free, three kernels per round:

1. ``bid``: one block per free row scans all n columns (costs from a dense matrix or computed
   from points on the fly), reduces (w1, j1, w2) in shared memory (ties: lowest column), and
   posts ``p[j1] + (w2 - w1) + eps`` with a float64 ``atomic.max`` into ``col_best[j1]``;
2. ``winner``: bidders whose bid equals the column maximum post
   ``stamp * 2^32 + (2^32 - 1 - row)`` by int64 ``atomic.max`` into ``col_win`` (``stamp`` = the
   global round number: the newest round wins over stale entries, then the lowest row);
3. ``assign``: the winner takes the column, sets its price, evicts the owner; losers and evicted
   rows are appended to the next free list (atomic counter on the device).

Neither column array is ever reset: a stale ``col_best[j]`` is a past winning bid, hence
``<= p[j] <=`` any new bid on j (prices only rise; ``p + d + eps >= p`` in floating point for
``d >= 0``), so the round's ``atomic.max`` is exact; stale ``col_win`` keys carry older stamps.
The kernels read the free-row count on the device (counters by round parity), so the host
queues ``SYNC_EVERY`` rounds between two reads of the counter (rounds queued past the end of a
phase do nothing); grids are sized by the last read count, an upper bound (it never grows
within a phase).

**Tail kernel** once at most ``tail_rows(n)`` rows are free (``clamp(2^20 // n, 32, 1024)``):
ONE launch of one block (32 warps) runs the rest of the phase. Per round each free row is
scanned by a warp (or by a team of ``32 // nfree`` warps when fewer rows than warps are free;
the late rounds have 1-4 free rows), reduced by warp-shuffle butterflies; the bids are resolved
per bidder in shared memory (highest bid, then lowest row), assignments and the next free list
are written, ``syncthreads`` between the stages (2-3 per round).

Launches and host syncs per bidding round: before, 4 launches + a host->device counter reset +
a blocking device->host read; now 3 launches + 1/``SYNC_EVERY`` blocking reads (multi-block
rounds), and none per round in the tail (one launch + one read per phase). For the n = 8000
benchmark problem (95k rounds, measured on the numpy reference, which has the same rounds) that
is ~382k launches + ~191k host copies before and ~1.7k launches + ~90 reads after.

**The column scan** (``scan``, inlined in ``check``, ``bid`` and ``tail``) is where the time goes
(~2.5e9 cost evaluations in the tail at n = 8000). ``kernels(tpb, kind, d)`` compiles one kernel
set per cost kind and dimension, so the scan has no run-time dispatch on the kind; for
``d <= ROW_REGS`` the coordinate loop is unrolled and a thread keeps ``x[i, :]`` in registers for
the whole scan (larger d: a run-time coordinate loop); ``y`` is passed raveled into one row (its coordinates at compile-time offsets
``j * d + k``); column indices are unsigned 32-bit (no wrap-around code for negative indices).
The loop body has no branch (the running (w1, j1, w2) is updated by selects). sm_90 SASS per
cost evaluation, d = 2 sqeuclidean: 25 instructions against ~140 before; the tail kernel takes
54 registers and no spills (before: 64 and 40 bytes of spills). ``tests/gpu/test_gpu_sass_auction.py``
compiles the kernels for sm_90 and holds these numbers to bounds.

Runs under ``NUMBA_ENABLE_CUDASIM=1`` (tiny sizes, tests; warp shuffles emulated, 3-warp tail
block) and on a CUDA GPU; numba.cuda is imported only when this module is. Not done (needs a GPU
to measure and tune): timings, ``tail_rows`` / ``SYNC_EVERY``, per-row K-best column lists in
the tail (the CPU kernel's O(K) bids; the tail now scans all n columns per bid: ~2.6e9 cost
evaluations on one SM at n = 8000), and the finisher on the GPU (the certificate and exact
finish run on the host with the numba CPU kernels).
"""

from __future__ import annotations

import math
import os
import time

import numpy as np

from ..._warnings import warn
from .._costs import KIND_DENSE, KIND_EUCLIDEAN, KIND_POWER, KIND_SQEUCLIDEAN
from ...exceptions import BackendUnavailableError

_INSTALL = 'install the GPU extra: pip install "kantorovich[gpu]" (numba-cuda and CuPy)'


def _numpy_alias_for_numba_cuda() -> None:
    """numba-cuda 0.30 registers an overload for ``np.row_stack`` when its typing context first
    loads (at the first compile); NumPy 2.5 removed that alias of ``np.vstack``, and the compile
    then fails with "module 'numpy' has no attribute 'row_stack'" (seen on an H100 with NumPy
    2.5.2 and numba-cuda 0.30.4). Restore the alias, only where it is missing."""
    if "row_stack" not in np.__dict__:
        np.row_stack = np.vstack


def _cuda():
    _numpy_alias_for_numba_cuda()
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

TAIL_CAP = 1024  # largest free-row count the tail kernel accepts (its shared-memory lists)
TAIL_ROWS = None  # free rows at which a phase switches to the tail kernel; None: tail_rows(n)
ROW_REGS = 8  # up to this many coordinates, a scanning thread keeps x[i, :] in registers
SYNC_EVERY = 8  # multi-block rounds queued between two host reads of the free-row counter
_KEY = 4294967296  # col_win key = round stamp * 2^32 + (2^32 - 1 - row): max = newest round, lowest row


def tail_rows(n: int) -> int:
    """Default switch point: ``clamp(2^20 // n, 32, TAIL_CAP)`` free rows (131 at n = 8000, 32 at
    n = 32000). Rationale: a tail round scans ``nfree * n`` costs on one SM, a multi-block round
    costs ~3 launches (~10-30 us each); both are about equal near ``nfree * n ~ 1e6``. A guess to
    tune on the GPU (``TAIL_ROWS`` / ``auction_cuda(tail=...)``)."""
    if TAIL_ROWS is not None:
        return int(TAIL_ROWS)
    return int(min(TAIL_CAP, max(32, (1 << 20) // max(n, 1))))


_SIM_WARPS: dict = {}


def _sim_shfl3(a, b, c, off):
    """``shfl_xor_sync(0xffffffff, ., off)`` of three values for the CUDA simulator (which lacks
    warp shuffles): the 32 simulator threads of a warp swap them through a buffer and a barrier.
    All 32 lanes must call it together, as on the GPU."""
    import threading

    th = threading.current_thread()
    tid = th.thread_id
    key = tid // 32  # the simulator runs one block at a time
    ent = _SIM_WARPS.get(key)
    if ent is None:
        ent = _SIM_WARPS.setdefault(key, (threading.Barrier(32), [None] * 32))
    bar, buf = ent
    buf[tid % 32] = (a, b, c)
    bar.wait(timeout=120)
    r = buf[(tid % 32) ^ off]
    bar.wait(timeout=120)
    return r


def _bounded_jit(cuda_mod, threads: int):
    """``cuda.jit`` for a kernel launched with ``threads`` threads per block, registers capped
    so that the launch fits the 64K-register file: ``launch_bounds=threads`` where this
    numba-cuda has it (recent versions), else ``max_registers=65536 // threads`` (older ones;
    an unknown keyword would only fail at the first launch, on the GPU machine)."""
    import inspect

    try:
        params = inspect.signature(cuda_mod.jit).parameters
    except (TypeError, ValueError):  # pragma: no cover - not introspectable
        params = {}
    if "launch_bounds" in params:
        return cuda_mod.jit(launch_bounds=threads)
    return cuda_mod.jit(max_registers=min(255, 65536 // threads))


def kernels(tpb: int, kind: int = -1, d: int = 0):
    """Compile (once per block size, cost kind and dimension) and return the kernels.

    ``tpb`` a power of two; ``kind`` the cost kind of ``_Problem`` (a code of
    :mod:`kantorovich.ot._costs`: ``KIND_DENSE`` a dense ``C``, else ``|x - y|^2``, ``|x - y|``
    or ``|x - y|^cost_p``) and ``d`` the number of coordinates (ignored for ``KIND_DENSE``). Both are compile-time constants of the kernels: the column scan has no
    run-time dispatch on the kind; for ``d <= ROW_REGS`` its loop over the coordinates is
    unrolled and the row's coordinates ``x[i, :]`` live in registers for the whole scan (larger d:
    a run-time coordinate loop reading ``x[i, :]``). The kernels take ``y`` raveled into one row,
    shape (1, n * d), and keep the argument ``kind`` (one launch signature for every variant),
    but only the compiled ``kind`` counts."""
    global cuda  # a module global: the simulator swaps numba.cuda in kernel globals only
    kind = int(kind)
    d = int(d) if kind != KIND_DENSE else 0
    kinds = (KIND_DENSE, KIND_SQEUCLIDEAN, KIND_EUCLIDEAN, KIND_POWER)
    if kind not in kinds or (kind != KIND_DENSE and d < 1):
        raise ValueError(f"`kind` must be one of {kinds} and `d` >= 1 for points; got kind={kind}, d={d}.")
    key = (tpb, kind, d)
    if key in _KERNELS:
        return _KERNELS[key]
    cuda = _cuda()
    from numba import float64, int64, uint32, uint64

    INF = math.inf
    sim = simulator()
    # 3 simulator warps: teams of 3 (one free row), idle warps (two), several rows per warp (>= 3)
    tail_warps = 3 if sim else 32  # 96 simulator threads; 1024 threads on a GPU
    tail_tpb = 32 * tail_warps
    CAP = TAIL_CAP
    KEY = _KEY
    LOW = _KEY - 1

    if sim:
        shfl3 = _sim_shfl3
    else:
        @cuda.jit(device=True, inline="always")
        def shfl3(a, b, c, off):
            return (cuda.shfl_xor_sync(0xFFFFFFFF, a, off), cuda.shfl_xor_sync(0xFFFFFFFF, b, off),
                    cuda.shfl_xor_sync(0xFFFFFFFF, c, off))

    KIND = kind  # compile-time constants of every function below
    D = d
    REG = 0 < D <= ROW_REGS  # x[i, :] hoisted into registers for the scan
    XR = D if REG else 1

    @cuda.jit(device=True, inline="always")
    def finish(s, cost_p, scale):
        """The scaled cost from the squared distance ``s`` (compile-time ``KIND``)."""
        if KIND == KIND_SQEUCLIDEAN:
            return scale * s
        if KIND == KIND_EUCLIDEAN:
            return scale * math.sqrt(s)
        return scale * s ** (0.5 * cost_p)

    @cuda.jit(device=True, inline="always")
    def sqdist_row(xr, yf, o):
        """Squared distance of the hoisted row ``xr`` (D registers) to the point at offset
        ``o = j * D`` of ``yf`` (``y`` raveled into one row, shape (1, n * D)), summed in
        coordinate order (``0.0 + t0 * t0`` is ``t0 * t0``: a square is never -0.0)."""
        t = xr[0] - yf[0, o]
        s = t * t
        for k in range(1, D):
            t = xr[k] - yf[0, o + uint64(k)]
            s += t * t
        return s

    @cuda.jit(device=True, inline="always")
    def sqdist(x, yf, i, o):
        """Squared distance of ``x[i]`` (read from memory) to the point at offset ``o`` of
        ``yf``, same sum order; a run-time loop over the coordinates (the path for d >
        ROW_REGS: a fully unrolled loop would hoist all of x[i, :] into registers and spill)."""
        t = x[i, 0] - yf[0, o]
        s = t * t
        dd = uint64(x.shape[1])
        k = uint64(1)
        while k < dd:
            t = x[i, k] - yf[0, o + k]
            s += t * t
            k += uint64(1)
        return s

    @cuda.jit(device=True, inline="always")
    def cost(C, x, yf, cost_p, scale, i, j):
        """Scaled cost of (i, j); ``yf``: ``y`` raveled into one row (see ``sqdist_row``)."""
        if KIND == KIND_DENSE:
            return C[i, j]
        return finish(sqdist(x, yf, i, uint64(j) * uint64(D)), cost_p, scale)

    @cuda.jit(device=True, inline="always")
    def merge(a1, aj, a2, b1, bj, b2):
        """(best, its column, second) of two disjoint column sets; ties: lowest column."""
        if a1 < b1 or (a1 == b1 and aj < bj):
            return a1, aj, min(a2, b1)
        return b1, bj, min(b2, a1)

    @cuda.jit(device=True, inline="always")
    def warp_reduce(w1, j1, w2):
        """Butterfly over the 32 lanes of a warp: every lane ends with the warp's (best, col, second)."""
        off = 16
        while off > 0:
            b1, bj, b2 = shfl3(w1, j1, w2, off)
            w1, j1, w2 = merge(w1, j1, w2, b1, bj, b2)
            off //= 2
        return w1, j1, w2

    @cuda.jit(device=True, inline="always")
    def scan(C, x, y, cost_p, scale, p, i, j, step, w1, w2):
        """Fold columns j, j + step, ... < n of row i into (w1, j1, w2), in increasing j, from
        (w1, n, w2). Unsigned 32-bit column indices (n < 2^31): no negative-index wrap-around
        code and 32-bit arithmetic in the loop; ``y`` is read through its flat view."""
        n = uint32(p.shape[0])
        j = uint32(j)
        step = uint32(step)
        j1 = n
        xr = cuda.local.array(XR, float64)
        if REG:
            for k in range(D):
                xr[k] = x[i, k]
        while j < n:
            if KIND == KIND_DENSE:
                c = C[i, j]
            elif REG:
                c = finish(sqdist_row(xr, y, uint64(j) * uint64(D)), cost_p, scale)
            else:
                c = finish(sqdist(x, y, i, uint64(j) * uint64(D)), cost_p, scale)
            w = c + p[j]
            # w1 <= w2 throughout, and costs and prices are finite (the first column enters:
            # w < INF); ties go to the lowest column: j grows, so an equal w never replaces w1.
            # One test on the common path (w >= w2: nothing changes)
            if w < w2:
                if w < w1:
                    w2 = w1
                    w1 = w
                    j1 = j
                else:
                    w2 = w
            j = uint32(j + step)
        return w1, int64(j1), w2

    @cuda.jit(device=True, inline="always")
    def block_best2(C, x, y, cost_p, scale, p, i, s1, sj, s2):
        """(w1, j1, w2) of row i, reduced over the block; valid in every thread after return."""
        tid = cuda.threadIdx.x
        w1, j1, w2 = scan(C, x, y, cost_p, scale, p, i, tid, tpb, INF, INF)
        s1[tid] = w1
        sj[tid] = j1
        s2[tid] = w2
        cuda.syncthreads()
        step = tpb // 2
        while step > 0:
            if tid < step:
                a1, aj, a2 = merge(s1[tid], sj[tid], s2[tid], s1[tid + step], sj[tid + step], s2[tid + step])
                s1[tid] = a1
                sj[tid] = aj
                s2[tid] = a2
            cuda.syncthreads()
            step //= 2
        return s1[0], sj[0], s2[0]

    @cuda.jit
    def check_kernel(C, x, y, kind, cost_p, scale, p, r2c, c2r, eps, st, par):
        """Phase start: drop the assignments that violate eps-CS; zero this phase's counters."""
        i = cuda.blockIdx.x
        s1 = cuda.shared.array(tpb, float64)
        sj = cuda.shared.array(tpb, int64)
        s2 = cuda.shared.array(tpb, float64)
        w1, _, _ = block_best2(C, x, y, cost_p, scale, p, i, s1, sj, s2)
        if cuda.threadIdx.x == 0:
            if i == 0:
                st[par] = 0
                st[2] = 0
            j = r2c[i]
            if j >= 0 and cost(C, x, y, cost_p, scale, i, j) + p[j] > w1 + eps:
                c2r[j] = -1
                r2c[i] = -1

    @cuda.jit
    def compact_kernel(r2c, rows, st, par):
        """Phase start: list the unassigned rows in ``rows``, count in ``st[par]``."""
        t = cuda.grid(1)
        if t < r2c.shape[0] and r2c[t] < 0:
            k = cuda.atomic.add(st, par, 1)
            rows[k] = t

    @cuda.jit
    def bid_kernel(C, x, y, kind, cost_p, scale, p, rows, st, par, eps, bid_col, bid_val, col_best):
        """One block per free row (grid-stride): post ``p[j1] + (w2 - w1) + eps`` by atomic max.

        ``col_best`` is never reset: a stale entry is a past winning bid <= today's price <= any
        new bid on that column (prices only rise, float addition is monotone), so the atomic
        max over this round's bids is exact."""
        nfree = st[par]
        if cuda.blockIdx.x == 0 and cuda.threadIdx.x == 0:
            st[1 - par] = 0  # the next round's counter (its previous use ended a round ago)
        s1 = cuda.shared.array(tpb, float64)
        sj = cuda.shared.array(tpb, int64)
        s2 = cuda.shared.array(tpb, float64)
        t = cuda.blockIdx.x
        while t < nfree:
            i = rows[t]
            w1, j1, w2 = block_best2(C, x, y, cost_p, scale, p, i, s1, sj, s2)
            if cuda.threadIdx.x == 0:
                b = p[j1] + (w2 - w1) + eps
                bid_col[t] = j1
                bid_val[t] = b
                cuda.atomic.max(col_best, j1, b)
            cuda.syncthreads()
            t += cuda.gridDim.x

    @cuda.jit
    def winner_kernel(rows, st, par, stamp, bid_col, bid_val, col_best, col_win):
        """Bidders matching their column's maximum post ``stamp * 2^32 + (2^32 - 1 - row)`` by
        atomic max: the newest round wins over stale entries (no reset), then the lowest row."""
        nfree = st[par]
        t = cuda.grid(1)
        if t == 0 and nfree > 0:
            st[2] += 1
            st[3] += nfree
        if t < nfree:
            j = bid_col[t]
            if bid_val[t] == col_best[j]:
                cuda.atomic.max(col_win, j, stamp * KEY + (LOW - rows[t]))

    @cuda.jit
    def assign_kernel(rows, rows_next, st, par, stamp, bid_col, bid_val, col_win, p, r2c, c2r):
        """Winners take their column and set its price; losers and evicted owners are appended
        to the next round's list (counter ``st[1 - par]``; list order does not change the outcome)."""
        nfree = st[par]
        t = cuda.grid(1)
        if t < nfree:
            j = bid_col[t]
            i = rows[t]
            if col_win[j] == stamp * KEY + (LOW - i):
                old = c2r[j]
                if old >= 0:
                    r2c[old] = -1
                    rows_next[cuda.atomic.add(st, 1 - par, 1)] = old
                c2r[j] = i
                r2c[i] = j
                p[j] = bid_val[t]
            else:
                rows_next[cuda.atomic.add(st, 1 - par, 1)] = i

    # 1024 threads x at most 64 registers fill the register file: without the bound ptxas
    # takes 78 and the launch fails (the simulator's jit has no launch_bounds)
    tail_jit = cuda.jit if sim else _bounded_jit(cuda, tail_tpb)

    @tail_jit
    def tail_kernel(C, x, y, kind, cost_p, scale, p, r2c, c2r, rows, st, par, eps, max_r):
        """The rest of a phase in ONE block of ``tail_tpb`` threads (``nfree <= TAIL_CAP``).

        A round, with ``nfree`` free rows and W warps:

        1. scan: if ``nfree >= W`` each warp takes rows k = warp, warp + W, ...; otherwise each
           row gets a team of ``g = W // nfree`` warps (thread m of the team reads columns
           m, m + 32 g, ...). A warp reduces (w1, j1, w2) by an xor-butterfly of shuffles (every
           lane ends with the result; ties: lowest column); a team's g partial results go through
           shared memory to the row's first warp, which reduces them the same way. Lane 0 posts
           the bid ``p[j1] + (w2 - w1) + eps`` to shared memory.
        2. resolve (one thread per bidder): a bidder wins iff no other bidder on its column bids
           more, or as much with a lower row (the Jacobi rule of the CPU kernels); the winner sets
           the price, evicts the previous owner; losers and evicted rows are appended to the next
           free list (shared memory, atomic counter).

        ``syncthreads`` after each stage (two per round; three when teams combine). No global
        atomics: ``col_best`` keeps its invariant ``col_best[j] <= p[j]`` as prices only rise.
        Adds the rounds and bids to ``st[2]``, ``st[3]``; writes the rows left free to ``st[4]``
        (> 0 only when ``max_r`` rounds were run) and the rounds it ran to ``st[5]``."""
        fl = cuda.shared.array((2, CAP), int64)  # free lists, by round parity
        bc = cuda.shared.array(CAP, int64)  # bid column of list entry k
        bv = cuda.shared.array(CAP, float64)  # bid value of list entry k
        q1 = cuda.shared.array(tail_warps, float64)  # per-warp partial (w1, j1, w2) of a team
        qj = cuda.shared.array(tail_warps, int64)
        q2 = cuda.shared.array(tail_warps, float64)
        nc = cuda.shared.array(3, int64)  # list lengths by round parity; [2] bids (shared: fewer registers)
        tid = cuda.threadIdx.x
        lane = tid % 32
        warp = tid // 32
        n = p.shape[0]
        nfree0 = st[par]
        t = tid
        while t < nfree0:
            fl[0, t] = rows[t]
            t += tail_tpb
        if tid == 0:
            nc[0] = nfree0
            nc[1] = 0
            nc[2] = 0
        cuda.syncthreads()
        cur = 0
        r = 0
        nfree = nc[0]
        while nfree > 0 and r < max_r:  # block-uniform
            # 1. scan and bid: warps take rows k = warp // g, + W, ... (g = 1: a warp per row;
            # g > 1: fewer rows than warps, a team of g warps per row, so one row each)
            g = tail_warps // nfree if nfree < tail_warps else 1
            k = warp // g
            m = (warp - k * g) * 32 + lane
            while k < nfree:  # warp-uniform: all 32 lanes take part in the shuffles
                w1, j1, w2 = scan(C, x, y, cost_p, scale, p, fl[cur, k], m, 32 * g, INF, INF)
                w1, j1, w2 = warp_reduce(w1, j1, w2)
                if lane == 0:
                    if g == 1:
                        bc[k] = j1
                        bv[k] = p[j1] + (w2 - w1) + eps
                    else:
                        q1[warp] = w1
                        qj[warp] = j1
                        q2[warp] = w2
                k += tail_warps
            if g > 1:  # block-uniform
                cuda.syncthreads()
                if warp < nfree:  # warp k combines the g partials of row k
                    w1 = INF
                    j1 = n
                    w2 = INF
                    if lane < g:
                        w1 = q1[warp * g + lane]
                        j1 = qj[warp * g + lane]
                        w2 = q2[warp * g + lane]
                    w1, j1, w2 = warp_reduce(w1, j1, w2)
                    if lane == 0:
                        bc[warp] = j1
                        bv[warp] = p[j1] + (w2 - w1) + eps
            cuda.syncthreads()
            # 2. resolve, assign, evict, next free list
            if tid == 0:
                nc[cur] = 0  # every thread read it before the sync above
                nc[2] += nfree
            t = uint64(tid)  # unsigned indices: no wrap-around code (fewer registers)
            while t < nfree:
                j = bc[t]
                b = bv[t]
                i = fl[cur, t]
                win = True
                u = uint64(0)
                while u < nfree:
                    if bc[u] == j and (bv[u] > b or (bv[u] == b and fl[cur, u] < i)):
                        win = False
                        break
                    u += uint64(1)
                if win:
                    old = c2r[uint64(j)]
                    if old >= 0:
                        r2c[uint64(old)] = -1
                        fl[1 - cur, cuda.atomic.add(nc, 1 - cur, 1)] = old
                    c2r[uint64(j)] = i
                    r2c[uint64(i)] = j
                    p[uint64(j)] = b
                else:
                    fl[1 - cur, cuda.atomic.add(nc, 1 - cur, 1)] = i
                t += uint64(tail_tpb)
            cuda.syncthreads()
            r += 1
            cur = 1 - cur
            nfree = nc[cur]
        if tid == 0:
            st[2] += r
            st[3] += nc[2]
            st[4] = nfree
            st[5] = r

    ks = dict(check=check_kernel, compact=compact_kernel, bid=bid_kernel, winner=winner_kernel,
              assign=assign_kernel, tail=tail_kernel, tail_tpb=tail_tpb,
              launch_bounds={"tail": None if sim else tail_tpb})
    _KERNELS[key] = ks
    return ks


def auction_cuda(prob, schedule, max_rounds, tpb=None, tail=None, sync_every=None, stats=None):
    """Run the phases of ``schedule`` (scaled eps values) on the GPU.

    Per phase: ``check`` + ``compact`` and one host read; then bidding rounds of three kernels
    (``bid``, ``winner``, ``assign``) queued ``sync_every`` at a time between host reads of the
    free-row counter (the kernels read the count on the device; rounds past the end of the phase
    are no-ops), until at most ``tail`` rows are free; then ONE ``tail`` launch runs the rest of
    the phase, and one host read closes it. ``tail=0`` never uses the tail kernel; ``tail >= n``
    runs every phase in it. ``stats`` (a dict) receives launch / host-read / round counts.

    Returns (perm, prices, rounds, bids, converged) as numpy arrays / ints.
    """
    cuda = _cuda()
    if tpb is None:
        tpb = 4 if simulator() else 256
    n = prob.n
    if n >= 2**31:  # the scans use unsigned 32-bit column indices
        raise ValueError(f"`M` / `x` must have fewer than 2^31 rows for backend='cuda'; got {n}.")
    tail = tail_rows(n) if tail is None else int(tail)
    if not 0 <= tail <= TAIL_CAP:
        raise ValueError(f"`tail` must be in [0, {TAIL_CAP}]; got {tail}.")
    sync_every = SYNC_EVERY if sync_every is None else int(sync_every)
    if sync_every < 1:
        raise ValueError(f"`sync_every` must be >= 1; got {sync_every}.")
    k = kernels(tpb, prob.kind, prob.x.shape[1])
    C = cuda.to_device(np.ascontiguousarray(prob.C))
    x = cuda.to_device(np.ascontiguousarray(prob.x))
    # y raveled into one row: the kernels read y[j, k] as y[0, j * d + k] (compile-time d)
    y = cuda.to_device(np.ascontiguousarray(prob.y).reshape(1, -1))
    kind, cost_p, scale = np.int64(prob.kind), float(prob.cost_p), float(prob.kscale)
    p = cuda.to_device(np.zeros(n))
    r2c = cuda.to_device(np.full(n, -1, dtype=np.int64))
    c2r = cuda.to_device(np.full(n, -1, dtype=np.int64))
    rows = [cuda.device_array(n, dtype=np.int64), cuda.device_array(n, dtype=np.int64)]
    bid_col = cuda.device_array(n, dtype=np.int64)
    bid_val = cuda.device_array(n, dtype=np.float64)
    col_best = cuda.to_device(np.full(n, -np.inf))
    col_win = cuda.to_device(np.zeros(n, dtype=np.int64))
    # st: [0], [1] free-row counters by round parity; [2] rounds of this phase; [3] bids (all
    # phases); [4] rows left free by the tail kernel; [5] rounds run by the tail kernel
    st = cuda.to_device(np.zeros(8, dtype=np.int64))
    hst = cuda.pinned_array(8, dtype=np.int64)
    tb = 128 if not simulator() else 8
    grid_n = (n + tb - 1) // tb
    rounds = 0
    stamp = 1  # global round stamp for col_win keys; strictly increasing over all rounds
    par = 0
    converged = True
    cnt = {"launches": 0, "host_reads": 0, "multi_rounds_launched": 0, "tail_launches": 0, "tail_rounds": 0}

    def read():
        st.copy_to_host(hst)  # synchronises with the queued kernels
        cnt["host_reads"] += 1
        return hst

    for eps in schedule:
        eps = float(eps)
        k["check"][n, tpb](C, x, y, kind, cost_p, scale, p, r2c, c2r, eps, st, par)
        k["compact"][grid_n, tb](r2c, rows[par], st, par)
        cnt["launches"] += 2
        nfree = int(read()[par])
        r = 0  # bidding rounds launched in this phase (all real while nfree > 0 at the last read)
        while nfree > 0:
            if r >= max_rounds:
                converged = False
                break
            if nfree <= tail:
                k["tail"][1, k["tail_tpb"]](C, x, y, kind, cost_p, scale, p, r2c, c2r, rows[par], st, par,
                                            eps, max_rounds - r)
                cnt["launches"] += 1
                cnt["tail_launches"] += 1
                h = read()
                cnt["tail_rounds"] += int(h[5])
                if int(h[4]) > 0:
                    converged = False
                break
            g = (nfree + tb - 1) // tb
            for _ in range(min(sync_every, max_rounds - r)):
                k["bid"][nfree, tpb](C, x, y, kind, cost_p, scale, p, rows[par], st, par, eps,
                                     bid_col, bid_val, col_best)
                k["winner"][g, tb](rows[par], st, par, stamp, bid_col, bid_val, col_best, col_win)
                k["assign"][g, tb](rows[par], rows[1 - par], st, par, stamp, bid_col, bid_val, col_win,
                                   p, r2c, c2r)
                par = 1 - par
                stamp += 1
                r += 1
                cnt["launches"] += 3
                cnt["multi_rounds_launched"] += 1
            nfree = int(read()[par])
        rounds += int(hst[2])  # hst: the last read, taken after every kernel of the phase
        if not converged:
            break
    bids = int(hst[3])
    if stats is not None:
        stats.update(cnt)
    return r2c.copy_to_host(), p.copy_to_host(), rounds, bids, converged


def solve(prob, exact, eps_final, theta, max_rounds, _solve_cpu_finish, _schedule, _eps_floor):
    """GPU auction, then the host certificate / exact finish (``_finish_after_gpu``).

    The caller (:mod:`kantorovich.ot._auction`) passes its finish, its eps schedule
    ``_schedule(eps0, eps_final, theta)`` and its smallest eps ``_eps_floor``: this kernel module
    imports nothing from the solver module that imports it.
    """
    _cuda()
    n = prob.n
    info = {"cost_scale": prob.scale, "device": "cuda-simulator" if simulator() else "cuda"}
    if eps_final is None:
        eps_f = prob.scale / (n + 1) if prob.integer else max(prob.c_range / (4.0 * n * n), _eps_floor)
    else:
        eps_f = max(eps_final * prob.scale, _eps_floor)
    sched = _schedule(max(prob.c_range / 16.0, eps_f), eps_f, theta)
    t0 = time.perf_counter()
    stats: dict = {}
    perm, p, rounds, bids, converged = auction_cuda(prob, sched, max_rounds, stats=stats)
    info.update(t_auction_s=time.perf_counter() - t0, phases=len(sched), bids=int(bids),
                eps_final=sched[-1] / prob.scale, **{f"gpu_{k}": int(v) for k, v in stats.items()})
    if not converged:
        
        from ...exceptions import ConvergenceWarning

        warn(f"the GPU auction hit `max_rounds` = {max_rounds}; raise `max_rounds` or `eps_final`.",
                      ConvergenceWarning)
        free_c = np.setdiff1d(np.arange(n), perm[perm >= 0])
        perm = perm.copy()
        perm[perm < 0] = free_c
        exact = False
    perm, f, g, ok, method = _solve_cpu_finish(prob, perm, p, sched[-1], exact, info)
    return perm, f, g, sched[-1] / prob.scale, ok, method + " [GPU auction]", rounds, info
