"""A batch of Sinkhorn problems in one GPU launch: one thread block per problem, the whole solve.

The CPU batch (:mod:`kantorovich.ot._sinkhorn_batch`) runs each problem's full schedule in one
``numba.prange`` iteration. This is the same on the GPU: **one launch** of one kernel, one block
of ``tpb`` threads per problem, runs every problem from the cold start to its last check: the
probe (and its deferrals), the annealing decision from the error's decay, the averaged
annealing steps through the problem's own eps schedule, the iterations at ``eps`` with the tail
extrapolation (its jumps and undos), the convergence checks, and then the value and objective.
There is no host work and no host read per iteration; the host reads ``stats`` once at the end.

Per problem it is the CPU batch's generic kernel (``_sinkhorn_batch._solve_one`` with the
two-pass soft-min over a cost matrix), statement for statement:

* the costs ``C`` (n, m) and ``C^T`` (m, n) are built once in the block's slice of a scratch
  array, from the dense batch or from the point clouds (``|x_i - y_j|^p`` from exact
  differences, as ``_sinkhorn_batch._pc_cost``);
* a soft-min ``out_i = -eps log sum_j exp((h_j - C_ij)/eps)`` gives each thread rows
  ``i = tid, tid + tpb, ...``; the thread reads ``C^T[j, i]`` for j = 0..m-1 (consecutive
  threads, consecutive addresses) and the shared ``c h_j`` (``c = log2(e)/eps``, clamped to
  -1e300 for zero weights), takes the row maximum, then ``sum_j 2^(c h_j - c C_ij - max)``:
  two passes, float64 ``exp2``/``log2`` (libdevice), as the CPU's ``lse2_rows``;
* the marginal errors, the value and the objective are block sums (a tree in shared memory);
* every thread runs the schedule's scalar logic on the same numbers (the sums are read from
  shared memory after a barrier), so all threads take the same branches and meet at every
  ``syncthreads``.

Rounding: the exp2 and the sums are not the CPU's, so potentials agree with the single solver
to ~1e-14; after a jump of the tail extrapolation that difference is multiplied by up to
``1/(1 - r)``. As for the CPU's generic kernel, such problems (``stats[:, 7] != 0``) and those
that reach the several-mode extrapolation (``stats[:, 7] == 2``) are solved again by the
single solver on the host side (``_sinkhorn_batch``), so every result agrees with a loop of
single calls to the tests' 1e-12.

Memory: ``C`` and ``C^T`` take ``16 n m`` bytes per problem (float64); the host launches the
batch in chunks of at most :data:`SCRATCH_BYTES` (a few launches for a large batch).

float32 (``kernels(..., single=True)``, for float32 GPU data as the single solver): the costs,
``c h`` and the soft-min's exponents in float32, one hardware exp2 per entry (14.25-15 SASS
instructions per entry against 60.5 in float64), float32 sums over blocks of 32 columns added
in float64; the potentials, errors, schedule and final sums stay float64.

The floor, B = 256 problems of n = m = 64 on an H100 (not measured here): one half-step is
256 x 4096 = 1.05e6 entries read twice from L1/L2 and one float64 exp2 each (libdevice, ~20
FP64 instructions); at ~3e13 FP64 instructions/s that is ~1 us per half-step for the whole
batch, against ~10 launches of ~5 us per iteration per problem for a loop of single calls.

Runs under ``NUMBA_ENABLE_CUDASIM=1`` (tests: the simulator gives each thread a Python
thread, so only tiny problems) and on a CUDA GPU; numba.cuda is imported when the kernel is
first compiled.
"""

from __future__ import annotations

import math

import numpy as np

from .auction_cuda import _cuda, simulator
from ..._constants import EXP_CLIP as _EXP_CLIP
from ..._constants import LOG2E as _LOG2E
from ..._constants import NEG_BIG as _NEG_BIG
from ..._constants import NEG_BIG32 as _NEG_BIG32

__all__ = ["solve_batch_cuda", "kernels", "SCRATCH_BYTES", "threads_for"]

SCRATCH_BYTES = 1 << 29  # C and C^T of the problems of one launch: at most 512 MiB
MAX_THREADS = 128  # threads per block at most (threads_for)
HC_CAP = 1024  # the shared c h of a soft-min: n, m <= HC_CAP (8 KiB of shared memory)
_SUM_BLOCK = 32  # float32 soft-min: columns summed in float32 per block, blocks in float64
_DECISION_MARGIN = 1e-6  # as _sinkhorn_batch
_NEEDS_SINGLE = 2.0
# the rows of a problem's scratch S[qb, r, :]: the potentials f and g, the soft-min outputs
# ft and gt, their inputs hx and hy, the clamped c h, f and g at the last check, f and g kept
# before a jump, the row means, the weights a, b and their logs. One array for all of them:
# each array argument costs the kernel a base pointer, shapes and strides in registers
(_F, _G, _FT, _GT, _HX, _HY, _HC, _FP, _GP, _FK, _GK, _MEAN, _A, _B, _LA, _LB) = range(16)
N_SCRATCH = 16
# the stages of a solve (the calls of _sinkhorn_batch._at_eps in _solve_one, in order); one
# call site of the inlined at_eps in the kernel, so it is compiled once
_ONLY, _PROBE, _DEFER, _ANNEALED, _PLAIN, _DONE = range(6)

_KERNELS: dict = {}
cuda = None  # numba.cuda, bound by kernels() (the simulator swaps it in kernel globals only)


def threads_for(n: int, m: int) -> int:
    """Threads per block: the smallest power of two >= max(n, m), between 32 and
    :data:`MAX_THREADS` (4 under the simulator, where each thread is a Python thread running
    the schedule's logic too); rows beyond it wrap around the block. The kernel takes up to 255 registers a thread (the
    schedule's logic around the soft-mins; its inner loops do not spill), so 128 threads
    leave room for two blocks per SM."""
    if simulator():
        return 4
    t = 32
    while t < max(n, m) and t < MAX_THREADS:
        t *= 2
    return t


def kernels(tpb: int, multi_mode_factor: float, single: bool = False):
    """Compile (once per block size and precision) and return ``{"solve": kernel}``;
    ``single``: the soft-mins in float32 (module notes, "float32")."""
    global cuda
    key = (int(tpb), float(multi_mode_factor), bool(single))
    if key in _KERNELS:
        return _KERNELS[key]
    cuda = _cuda()
    from numba import float32, float64, uint64

    LOG2E, CLIP = _LOG2E, _EXP_CLIP
    SINGLE = bool(single)
    real = float32 if SINGLE else float64  # the costs, c h and the soft-min's exponents
    NEG_BIG = _NEG_BIG32 if SINGLE else _NEG_BIG
    MX0 = -3.0e38 if SINGLE else -1.7e308
    BLK = uint64(_SUM_BLOCK)
    MARGIN, NEEDS_SINGLE, MULTI = _DECISION_MARGIN, _NEEDS_SINGLE, float(multi_mode_factor)
    T = int(tpb)
    HC_MAX = HC_CAP

    @cuda.jit(device=True, inline="always")
    def bsum(v, red, tid):
        """The block's sum of each thread's ``v`` (a tree in shared memory); every thread
        gets it."""
        red[tid] = v
        cuda.syncthreads()
        s = T // 2
        while s > 0:
            if tid < s:
                red[tid] += red[tid + s]
            cuda.syncthreads()
            s //= 2
        r = red[0]
        cuda.syncthreads()
        return r

    @cuda.jit(device=True, inline="always")
    def softmin(S, qb, Cc, cb, nr, nc, hrow, e, orow, hc, tid):
        """S[qb, orow, i] = -e log sum_j exp((S[qb, hrow, j] - C_ij)/e) for i < nr, with
        C_ij = Cc[cb + j * nr + i]: the row maximum, then the sum of 2^(c h_j - c C_ij - max),
        c = log2(e)/e. ``c h`` goes to the shared ``hc`` (clamped to -1e300 for zero weights);
        the inner loops index with unsigned integers (no negative-index wrap-around code)."""
        c = LOG2E / e
        inv_c = 1.0 / c
        cr = real(c)
        for j in range(tid, nc, T):
            v = c * S[qb, hrow, j]
            hc[j] = real(v) if v > NEG_BIG else real(NEG_BIG)
        cuda.syncthreads()
        unr = uint64(nr)
        unc = uint64(nc)
        for i in range(tid, nr, T):
            base = uint64(cb) + uint64(i)
            mx = real(MX0)
            idx = base
            j = uint64(0)
            while j < unc:
                mx = max(mx, hc[j] - cr * Cc[idx])
                idx += unr
                j += uint64(1)
            sm = 0.0
            idx = base
            j = uint64(0)
            if SINGLE:  # float32 exp2 summed in float32 over blocks of 32 columns, then float64
                while j < unc:
                    jend = min(j + BLK, unc)
                    blk = real(0.0)
                    while j < jend:
                        blk += math.exp2((hc[j] - cr * Cc[idx]) - mx)
                        idx += unr
                        j += uint64(1)
                    sm += float64(blk)
            else:
                while j < unc:
                    sm += math.exp2((hc[j] - c * Cc[idx]) - mx)
                    idx += unr
                    j += uint64(1)
            S[qb, orow, i] = -(float64(mx) + math.log2(sm)) * inv_c
        cuda.syncthreads()

    @cuda.jit(device=True, inline="always")
    def merr(S, qb, wrow, prow, nrow, e, nn, red, tid):
        """sum_i w_i |exp((pot_i - pot_new_i)/e) - 1|, the exponent clipped to +-700."""
        t = 0.0
        for i in range(tid, nn, T):
            x = (S[qb, prow, i] - S[qb, nrow, i]) / e
            if x > CLIP:
                x = CLIP
            elif x < -CLIP:
                x = -CLIP
            t += S[qb, wrow, i] * abs(math.expm1(x))
        return bsum(t, red, tid)

    # the single solver's rule (schedule_rules.annealing_pays), as a device function
    from .schedule_rules import annealing_pays as _annealing_pays

    annealing_pays = cuda.jit(device=True, inline="always")(_annealing_pays)

    @cuda.jit(device=True, inline="always")
    def at_eps(S, qb, Cs, CTs, cb, n, m, eps, it, k, stop, averaged_first, check_first,
               measure_at, max_iter, tol, check_every, symmetric, st, agree, red, hc, tid):
        """``_sinkhorn_batch._at_eps`` for one problem, by the block. Returns (it, k)."""
        k_first = k
        st[3] = 0.0
        st[4] = math.nan
        n_tail = 0
        agree_first = agree
        e_prev2 = 0.0
        e_prev = 0.0
        jumped = False
        bound = 0.0
        while it < stop:
            check = ((k % check_every == check_every - 1) or it == max_iter - 1
                     or (check_first and k == k_first))
            measure = check or k == measure_at
            for j in range(tid, m, T):
                S[qb, _HY, j] = S[qb, _G, j] + eps * S[qb, _LB, j]
            cuda.syncthreads()
            softmin(S, qb, CTs, cb, n, m, _HY, eps, _FT, hc, tid)
            err = 0.0
            if symmetric or (k == k_first and averaged_first):
                for i in range(tid, n, T):
                    S[qb, _HX, i] = S[qb, _F, i] + eps * S[qb, _LA, i]
                cuda.syncthreads()
                softmin(S, qb, Cs, cb, m, n, _HX, eps, _GT, hc, tid)
                if measure:
                    err = (merr(S, qb, _A, _F, _FT, eps, n, red, tid)
                           + merr(S, qb, _B, _G, _GT, eps, m, red, tid))
                for i in range(tid, n, T):
                    S[qb, _F, i] = 0.5 * (S[qb, _F, i] + S[qb, _FT, i])
                for j in range(tid, m, T):
                    S[qb, _G, j] = 0.5 * (S[qb, _G, j] + S[qb, _GT, j])
                cuda.syncthreads()
            else:
                if measure:
                    err = merr(S, qb, _A, _F, _FT, eps, n, red, tid)
                for i in range(tid, n, T):
                    v = S[qb, _FT, i]
                    S[qb, _F, i] = v
                    S[qb, _HX, i] = v + eps * S[qb, _LA, i]
                cuda.syncthreads()
                softmin(S, qb, Cs, cb, m, n, _HX, eps, _G, hc, tid)
            it += 1
            k += 1
            if measure:
                if math.isnan(err):
                    st[2] = 1.0
                    return it, k
                if not check:
                    st[4] = err
                    continue
                st[0] = err
                st[1] += 1.0
                if err < tol:
                    st[3] = 1.0
                    break
                if agree != 0.0:
                    if jumped:
                        jumped = False
                        n_tail = 0
                        if not err < bound:  # the jump did not help: undo it
                            for i in range(tid, n, T):
                                S[qb, _F, i] = S[qb, _FK, i]
                            for j in range(tid, m, T):
                                S[qb, _G, j] = S[qb, _GK, j]
                            cuda.syncthreads()
                            agree = 0.5 * agree
                            if agree <= agree_first * MULTI:
                                st[5] = NEEDS_SINGLE  # the several-mode extrapolation: the host
                                break
                            continue
                    if n_tail == 2:
                        r1 = e_prev / e_prev2
                        r2 = err / e_prev
                        if abs(abs(r2 - r1) - agree * (1.0 - r2)) <= MARGIN:
                            st[5] = 1.0
                        if r2 < 1.0 and abs(r2 - r1) <= agree * (1.0 - r2):
                            c = r2 / (1.0 - r2)
                            for i in range(tid, n, T):
                                v = S[qb, _F, i]
                                S[qb, _FK, i] = v
                                S[qb, _F, i] = v + c * (v - S[qb, _FP, i])
                            for j in range(tid, m, T):
                                v = S[qb, _G, j]
                                S[qb, _GK, j] = v
                                S[qb, _G, j] = v + c * (v - S[qb, _GP, j])
                            cuda.syncthreads()
                            jumped = True
                            st[5] = 1.0
                            bound = err * r2
                            n_tail = 0
                            continue
                    e_prev2 = e_prev
                    e_prev = err
                    for i in range(tid, n, T):
                        S[qb, _FP, i] = S[qb, _F, i]
                    for j in range(tid, m, T):
                        S[qb, _GP, j] = S[qb, _G, j]
                    cuda.syncthreads()
                    n_tail = min(n_tail + 1, 2)
        return it, k

    @cuda.jit
    def solve(C, X, Y, kind, p, A, Bw, logA, logB, eps, levels, n_levels, mag, max_iter, tol,
              check_every, sym, agree, deferrals, objective_ratio, F, G, stats, Cs, CTs, S, q0):
        """Problem ``q0 + blockIdx.x`` of the batch; ``kind`` 0: dense ``C`` (B, n, m), 1: point
        clouds ``X`` (B, n, d), ``Y`` (B, m, d) with cost ``|x - y|^p``. ``stats[q]`` = [n_iter,
        converged, n_scaling, last error, value, objective, NaN flag, extrapolated (or near
        to; 2: needs the several-mode extrapolation)]."""
        red = cuda.shared.array(T, float64)
        hc = cuda.shared.array(HC_MAX, real)
        tid = cuda.threadIdx.x
        qb = cuda.blockIdx.x
        q = q0 + qb
        n = F.shape[1]
        m = G.shape[1]
        cb = qb * n * m  # this problem's C in Cs and C^T in CTs (flat)
        # the costs, C (n, m) and C^T (m, n), once
        for t in range(tid, n * m, T):
            i = t // m
            j = t - i * m
            if kind == 0:
                v = C[q, i, j]
            else:
                sq = 0.0
                for u in range(X.shape[2]):
                    w = X[q, i, u] - Y[q, j, u]
                    sq += w * w
                if p == 2.0:
                    v = sq
                elif p == 1.0:
                    v = math.sqrt(sq)
                else:
                    v = sq ** (p / 2.0)
            Cs[cb + t] = real(v)
            CTs[cb + j * n + i] = real(v)
        for i in range(tid, n, T):
            S[qb, _F, i] = 0.0
            S[qb, _A, i] = A[q, i]
            S[qb, _LA, i] = logA[q, i]
        for j in range(tid, m, T):
            S[qb, _G, j] = 0.0
            S[qb, _B, j] = Bw[q, j]
            S[qb, _LB, j] = logB[q, j]
        cuda.syncthreads()
        st = cuda.local.array(6, float64)
        for u in range(6):
            st[u] = 0.0
        symmetric = sym[q] != 0
        nl = n_levels[q]
        n_scaling = 0
        it = 0
        k = 0
        half = check_every // 2 - 1 if check_every >= 2 else -1
        e_half = 0.0
        gap = 0
        cost = nl + check_every
        n_def = 0
        stage = _PROBE if nl > 0 else _ONLY
        while stage != _DONE:
            # the arguments of this stage's call (see _sinkhorn_batch._solve_one)
            k0 = k
            stop = max_iter
            first = False
            measure_at = -1
            agr = 0.0
            if stage == _ONLY:
                k0 = 0
            elif stage == _PROBE:
                k0 = 0
                stop = min(max_iter, check_every)
                measure_at = half
            elif stage == _DEFER:
                stop = min(max_iter, it + check_every)
            elif stage == _ANNEALED:
                k0 = 0
                first = True
                agr = agree
            it, k = at_eps(S, qb, Cs, CTs, cb, n, m, eps, it, k0, stop, first, first,
                           measure_at, max_iter, tol, check_every, symmetric, st, agr, red, hc,
                           tid)
            if stage == _ONLY or stage == _ANNEALED or stage == _PLAIN:
                stage = _DONE
                continue
            if stage == _PROBE:
                e_half = st[4]
                gap = k - half - 1
            else:
                n_def += 1
            # a close call (predicted within twice the annealing's length): one more check
            # interval of the cold start, then decide on its rate
            if (n_def < deferrals and not (
                    st[2] != 0.0 or st[3] != 0.0 or it >= max_iter
                    or not annealing_pays(st[0], e_half, gap, tol, cost)
                    or annealing_pays(st[0], e_half, gap, tol, 2 * cost))):
                e_half = st[0]
                gap = check_every
                stage = _DEFER
                continue
            stage = _DONE
            if st[2] == 0.0 and st[3] == 0.0 and it < max_iter:
                stage = _PLAIN
                if annealing_pays(st[0], e_half, gap, tol, cost):
                    stage = _ANNEALED
                    for s in range(nl):
                        if it >= max_iter:
                            break
                        e = levels[q, s]
                        for j in range(tid, m, T):
                            S[qb, _HY, j] = S[qb, _G, j] + e * S[qb, _LB, j]
                        for i in range(tid, n, T):
                            S[qb, _HX, i] = S[qb, _F, i] + e * S[qb, _LA, i]
                        cuda.syncthreads()
                        softmin(S, qb, CTs, cb, n, m, _HY, e, _FT, hc, tid)
                        softmin(S, qb, Cs, cb, m, n, _HX, e, _GT, hc, tid)
                        for i in range(tid, n, T):
                            S[qb, _F, i] = 0.5 * (S[qb, _F, i] + S[qb, _FT, i])
                        for j in range(tid, m, T):
                            S[qb, _G, j] = 0.5 * (S[qb, _G, j] + S[qb, _GT, j])
                        cuda.syncthreads()
                        it += 1
                        n_scaling += 1
        if tid == 0:
            stats[q, 6] = st[2]
            stats[q, 7] = st[5]
        if st[2] != 0.0:
            return
        converged = st[3] != 0.0
        # <P, C> from one more row pass (as the single solver): the soft-min and the
        # row-softmax mean of C (two passes, natural exp, as the CPU's _softmin_mean)
        for j in range(tid, m, T):
            S[qb, _HY, j] = S[qb, _G, j] + eps * S[qb, _LB, j]
        cuda.syncthreads()
        inv_e = 1.0 / eps
        for i in range(tid, n, T):
            mx = -1.7e308
            for j in range(m):
                v = (S[qb, _HY, j] - CTs[cb + j * n + i]) * inv_e
                if v > mx:
                    mx = v
            sm = 0.0
            sc = 0.0
            for j in range(m):
                cij = CTs[cb + j * n + i]
                t = (S[qb, _HY, j] - cij) * inv_e - mx
                w = math.exp(t) if t > -CLIP else 0.0
                sm += w
                sc += w * cij
            S[qb, _FT, i] = -eps * (mx + math.log(sm))
            S[qb, _MEAN, i] = sc / sm
        cuda.syncthreads()
        last = st[0]
        part = 0.0
        for i in range(tid, n, T):
            if converged:
                t = min(max((S[qb, _F, i] - S[qb, _FT, i]) / eps, -CLIP), CLIP)
                part += S[qb, _A, i] * math.exp(t) * S[qb, _MEAN, i]
            else:
                S[qb, _F, i] = S[qb, _FT, i]
                part += S[qb, _A, i] * S[qb, _MEAN, i]
        cuda.syncthreads()
        value = bsum(part, red, tid)
        if not converged:
            # the returned pair's error: its rows sum to a, its columns are off by (the
            # single solver's _returned_error)
            for i in range(tid, n, T):
                S[qb, _HX, i] = S[qb, _F, i] + eps * S[qb, _LA, i]
            cuda.syncthreads()
            softmin(S, qb, Cs, cb, m, n, _HX, eps, _GT, hc, tid)
            last = merr(S, qb, _B, _G, _GT, eps, m, red, tid)
        if eps > objective_ratio * mag[q]:
            total = 0.0
            product = 0.0
            for i in range(tid, n, T):
                for j in range(m):
                    w = S[qb, _A, i] * S[qb, _B, j]
                    cij = Cs[cb + i * m + j]
                    z = (S[qb, _F, i] + S[qb, _G, j] - cij) / eps
                    z = min(max(z, -CLIP), CLIP)
                    ez = math.exp(z)
                    if w > 0:
                        total += w * (cij * ez + eps * (z * ez - math.expm1(z)))
                    product += w * cij
            total = bsum(total, red, tid)
            product = bsum(product, red, tid)
            objective = min(total, product)
        else:
            part = 0.0
            for i in range(tid, n, T):
                part += S[qb, _A, i] * S[qb, _F, i]
            objective = bsum(part, red, tid)
            part = 0.0
            for j in range(tid, m, T):
                part += S[qb, _B, j] * S[qb, _G, j]
            objective += bsum(part, red, tid)
        for i in range(tid, n, T):
            F[q, i] = S[qb, _F, i]
        for j in range(tid, m, T):
            G[q, j] = S[qb, _G, j]
        if tid == 0:
            stats[q, 0] = it
            stats[q, 1] = 1.0 if converged else 0.0
            stats[q, 2] = n_scaling
            stats[q, 3] = last
            stats[q, 4] = value
            stats[q, 5] = objective

    _KERNELS[key] = {"solve": solve}
    return _KERNELS[key]


def solve_batch_cuda(dense, C, X, Y, p, A, Bw, logA, logB, eps, levels, n_levels, mag, max_iter,
                     tol, check_every, sym, agree, deferrals, objective_ratio, multi_mode_factor,
                     n, m, single=False):
    """Every problem of the batch on the GPU, one block each (see the module notes).

    Array arguments are numpy or device arrays (CuPy, numba); the batch's weights ``A`` (B, n),
    ``Bw`` (B, m) and their logs, the eps ``levels`` (B, L) and ``n_levels`` (B,), ``mag`` (B,),
    ``sym`` (B,) as numbers. Returns ``(F, G, stats, info)``: numba device arrays of the
    potentials (B, n), (B, m), and the per-problem stats (B, 8) as a numpy array; ``info`` the
    launch counts.
    """
    cu = _cuda()
    nb = int(A.shape[0])
    tpb = threads_for(n, m)
    solve = kernels(tpb, multi_mode_factor, single)["solve"]

    def dev(x, dtype=np.float64):
        if hasattr(x, "__cuda_array_interface__"):
            return x
        return cu.to_device(np.ascontiguousarray(x, dtype=dtype))

    Cd = dev(C if dense else np.zeros((1, 1, 1)))
    Xd = dev(np.zeros((1, 1, 1)) if dense else X)
    Yd = dev(np.zeros((1, 1, 1)) if dense else Y)
    Ad, Bd, lAd, lBd = dev(A), dev(Bw), dev(logA), dev(logB)
    lev = dev(levels)
    nlev = dev(n_levels, np.int64)
    magd = dev(mag)
    symd = dev(np.asarray(sym, dtype=np.int64), np.int64)
    F = cu.device_array((nb, n), dtype=np.float64)
    G = cu.device_array((nb, m), dtype=np.float64)
    stats = cu.to_device(np.zeros((nb, 8)))
    per = max(1, n * m)
    real = np.float32 if single else np.float64
    chunk = max(1, min(nb, SCRATCH_BYTES // (2 * np.dtype(real).itemsize * per)))
    Cs = cu.device_array(chunk * per, dtype=real)
    CTs = cu.device_array(chunk * per, dtype=real)
    S = cu.device_array((chunk, N_SCRATCH, max(n, m, 1)), dtype=np.float64)
    launches = 0
    for q0 in range(0, nb, chunk):
        blocks = min(chunk, nb - q0)
        solve[blocks, tpb](Cd, Xd, Yd, 0 if dense else 1, float(p), Ad, Bd, lAd, lBd, float(eps),
                           lev, nlev, magd, int(max_iter), float(tol), int(check_every), symd,
                           float(agree), int(deferrals), float(objective_ratio), F, G, stats, Cs,
                           CTs, S, q0)
        launches += 1
    st = stats.copy_to_host()
    info = {"launches": launches, "threads_per_block": tpb, "problems_per_launch": chunk,
            "device": "cuda-simulator" if simulator() else "cuda",
            "soft_min_dtype": "float32" if single else "float64"}
    return F, G, st, info
