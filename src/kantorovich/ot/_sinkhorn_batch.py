"""Batched entropic OT: many small Sinkhorn problems in one numba parallel loop over problems.

:func:`kantorovich.ot.sinkhorn` and :func:`kantorovich.ot.sinkhorn_divergence` dispatch here
when the cost has a leading batch axis: a dense ``M`` of shape ``(B, n, m)`` or a
``PointCloud(x (B, n, d), y (B, m, d))``. Each problem runs exactly the iteration of the
single solver (:func:`kantorovich.ot._sinkhorn._sinkhorn_loop`: the cold probe of
``check_every`` iterations, extended by up to two check intervals on a close call, the
annealing decision from its error decay, the averaged annealing steps through the eps
schedule, then iterations at ``eps`` checked every ``check_every`` with the tail
extrapolation; its own ``tol`` and ``max_iter``), inside one ``numba.prange`` over the
problems, so a problem that needs many iterations does not hold up the others' count, and
there is no Python work per iteration.

The soft-min, for the point clouds that the single solver runs on its numba backend
(``backend="numba"``, or ``"auto"`` above its numpy size): the single solver's own operator
(:class:`~kantorovich.ot._kernels.softmin_numba.OnlineSoftmin`), step for step and through the
same compiled row loops (``sq2_shift_rows`` for d = 2, ``sq_shift_rows`` for other d,
``pc_rows`` for p other than 1 and 2; ``pc_mean_rows`` for the last row pass): the clouds
centred as it centres them, ``c h`` clamped, the previous output of each side times ``c`` as
the row shift, the coordinates scaled per eps. The marginal error is one compiled loop shared
with the single solver (:func:`marginal_error`, summed in numpy's pairwise order). So the
potentials, errors and iteration counts are bit-identical to a Python loop of single calls,
the tail extrapolation's decisions and jumps included; value and objective are summed in
numpy's order, with libm's ``exp`` for numpy's (agreement ~1e-17).
Both call the row loops by address (C callables, ``softmin_numba.rows_entries``, each the
only compiled copy of its row loop: ``softmin_numba.row_loop``), never inlined, so one machine
code per row loop serves both, whatever numba compiled or loaded from its cache. That the two
round alike is still checked once per process (:func:`_rounds_as_single`, a small problem both
ways, bit for bit); where it fails, the problems whose extrapolation jumped are solved again by
the single solver, as below. (numba's cache does not follow a change of an inlined helper of
``softmin_numba.py``, ``kmat_decide``, into this module's cached kernels: after editing it,
clear the ``__pycache__`` folders.) Problems of n m <= 2^16 take the single solver's
kernel-matrix path with its decisions (``kmat_decide``: when to build ``2^(-c C)``, when to use
it) through its entry points (``kmat_rows``, ``kmat_sums``, ``kmat_mean``). The soft-min
(``_sm``) is compiled without NRT: numba increfs and decrefs every array of an argument tuple atomically,
and the problem's state is a tuple of 26 arrays (about 130 atomic operations per soft-min,
a third of the kernel's time with the 0.6 us kernel-matrix soft-min).

Other batches (dense costs, which the single solver runs on numpy up to n m = 10^4; point
clouds at or below the numpy size) run a generic soft-min: the two-pass log-sum-exp (row
maximum, then the sum of ``2^(t - max)`` with the vectorisable ``exp2`` of the online kernels;
``softmin_numba.lse2_rows``, called by address as the row loops are) over a cost matrix built
per problem. It differs from the single solver's soft-mins by
rounding, so results agree to about 1e-14, except after a jump of the tail extrapolation,
which multiplies that rounding by up to ``1/(1 - r)`` (``r`` the error's rate per check): a
problem that jumped (or nearly did, ``_DECISION_MARGIN``) is solved again by the single
solver, whose results replace the kernel's (``info["single_solver_problems"]``).

Results: the single solver's :class:`~kantorovich._results.SinkhornResult` with array fields,
``value``, ``objective``, ``n_iter``, ``converged`` and ``marginal_error`` (the last measured
error of each problem, not the history) of shape ``(B,)``, ``f`` ``(B, n)``, ``g`` ``(B, m)``.

On a GPU (CuPy or torch CUDA input, or ``backend="cuda"``): one launch of
:mod:`kantorovich.ot._kernels.sinkhorn_batch_cuda`, one thread block per problem running the
generic kernel's whole solve; in float64 the problems it flags are solved again by the single
GPU solver, as above; float32 GPU data runs its soft-mins in float32 (docs/batch.md, "On a
GPU").

Options the kernels do not cover (``dtype=float32`` on the host, warm starts ``f0``/``g0``,
``plan=True``, GPU problems above n, m = 1024 or n m = 2^20, ``progress=True`` on a GPU) run the
single solver once per problem and stack the results the same way. ``progress=True`` shows one
bar over the problems, none per problem: the host kernel then runs the batch in chunks of
problems of about ``PROGRESS_CHUNK_S`` (0.25 s) each, the bar advancing after each.
"""

from __future__ import annotations

import math
import time
import warnings

import numba
import numpy as np
from numba import njit, prange

from .._array_api import is_cupy
from .._jit import notice_first_compile
from .._parallel import parallel_kernel, threads_at_most
from .._progress import advance, open_bar
from .._results import SinkhornResult
from .._validation import (
    as_float_array,
    check_positive,
    check_same_mass,
    check_weights,
    describe,
    input_dtype,
    mass_rtol,
)
from .._warnings import problem_list, warn
from ..exceptions import ConvergenceWarning
from ._costs import diameter
from ._geometry import PointCloud, batch_size_of
from ._kernels._simd import wide_vectors
from .._constants import EXP_CLIP as _EXP_CLIP
from .._constants import LOG2E as _LOG2E
from .._constants import NEG_BIG as _NEG_BIG
from ._kernels.schedule_rules import annealing_pays as _annealing_pays_py
from ._kernels.softmin_numba import (
    _KMAT_MAX_ENTRIES,
    _WIN64,
    call_lse2,
    call_pc,
    call_pc_mean,
    call_sq,
    call_sq2,
    kmat_build,
    kmat_build_dense,
    kmat_decide,
    kmat_softmin,
    kmat_softmin_mean,
    kmat_softmin_mean_dense,
    rows_entries,
    shift_inputs,
)
from ._sinkhorn import _MULTI_MODE_AFTER_UNDOS

__all__ = ["sinkhorn_batch", "sinkhorn_divergence_batch"]

# same constants as the single solver (kantorovich.ot._sinkhorn)
_PRIMAL_OBJECTIVE_EPS_RATIO = 1e3
_KERNEL_BACKENDS = ("auto", "numpy", "numba")
# the tail extrapolation's jump (potentials + r/(1-r) times their change over a check
# interval) multiplies the soft-mins' rounding by up to 1/(1-r), beyond what the loop's
# agreement asks: a problem that jumped, or whose jump test |r2 - r1| <= agree (1 - r2) came
# within this margin, is solved again by the single solver
_DECISION_MARGIN = 1e-6
# the single solver switches to its several-mode extrapolation (_MultiModeTail) once the
# one-mode jump has been undone _MULTI_MODE_AFTER_UNDOS times (``agree`` halved as often);
# the kernel stops such a problem there and marks it for the single solver
_MULTI_MODE_FACTOR = 0.5 ** _MULTI_MODE_AFTER_UNDOS
_NEEDS_SINGLE = 2.0


# --------------------------------------------------------------------------------------------
# the kernel: one problem per prange iteration
# --------------------------------------------------------------------------------------------

@njit(inline="always")
def _softmin(lse2, Cf, n, m, h, e, hc, out):
    """out_i = -e log sum_j exp((h_j - C_ij)/e) over the rows of the flat (n, m) ``Cf``, by the
    two-pass row loop at the address ``lse2`` (``softmin_numba.lse2_rows``)."""
    c = _LOG2E / e
    for j in range(m):
        v = c * h[j]
        hc[j] = v if v > _NEG_BIG else _NEG_BIG  # -inf (zero weights) and below: finite stand-in
    call_lse2(lse2, Cf, n, m, hc, c, 1.0 / c, out)


@njit(cache=True)
def _softmin_mean(Cf, n, m, h, e, out, mean):
    """The row soft-min and the row-softmax mean of C (float64, two passes, natural exp)."""
    wide_vectors()
    inv_e = 1.0 / e
    for i in range(n):
        base = i * m
        mx = -1.7e308
        for j in range(m):
            v = (h[j] - Cf[base + j]) * inv_e
            if v > mx:
                mx = v
        s = 0.0
        sc = 0.0
        for j in range(m):
            t = (h[j] - Cf[base + j]) * inv_e - mx
            w = math.exp(t) if t > -_EXP_CLIP else 0.0
            s += w
            sc += w * Cf[base + j]
        out[i] = -e * (mx + math.log(s))
        mean[i] = sc / s


# how a problem's soft-mins are computed (``K[0][0]``): the generic two-pass kernel on a
# dense cost, or the single solver's own numba point-cloud operator
# (kantorovich.ot._kernels.softmin_numba.OnlineSoftmin) for d = 2 and p in {1, 2}, any d and
# p in {1, 2}, other p
_GENERIC, _ONLINE2, _ONLINE, _POINTWISE = 0, 1, 2, 3
# a small dense float64 problem that the single solver runs on the numba kernel matrix at
# every eps (softmin_numba.kmat_dense_eligible; its DenseSoftmin), per problem
_DENSE_K = 4


@njit(cache=True)
def _block_sum(t, lo, n):
    """numpy's pairwise sum of a block of at most 128 numbers t[lo:lo + n]: eight
    accumulators, combined as a tree, then the rest in order."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += t[lo + i]
        return res
    r0 = t[lo]
    r1 = t[lo + 1]
    r2 = t[lo + 2]
    r3 = t[lo + 3]
    r4 = t[lo + 4]
    r5 = t[lo + 5]
    r6 = t[lo + 6]
    r7 = t[lo + 7]
    i = 8
    while i < n - n % 8:
        r0 += t[lo + i]
        r1 += t[lo + i + 1]
        r2 += t[lo + i + 2]
        r3 += t[lo + i + 3]
        r4 += t[lo + i + 4]
        r5 += t[lo + i + 5]
        r6 += t[lo + i + 6]
        r7 += t[lo + i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += t[lo + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise_sum(t, n):
    """numpy's pairwise summation of t[:n] (``numpy.sum`` rounds alike): blocks of at most
    128, halves split at a multiple of 8, left + right. Without recursion (a recursive
    function does not load from numba's cache): a post-order walk with explicit stacks. No
    start argument: every caller began at a literal 0, which numba compiles as a constant of
    the signature (docs/performance.md, "Compile time")."""
    lo = n - n
    if n <= 128:
        return _block_sum(t, lo, n)
    seg = np.empty((130, 3), dtype=np.int64)  # (start, length, halves done); depth < 64
    vals = np.empty(66)
    sp = 0
    nv = 0
    seg[0, 0], seg[0, 1], seg[0, 2] = lo, n, 0
    sp = 1
    while sp > 0:
        sp -= 1
        s0, k, done = seg[sp, 0], seg[sp, 1], seg[sp, 2]
        if k <= 128:
            vals[nv] = _block_sum(t, s0, k)
            nv += 1
        elif done:
            nv -= 1
            vals[nv - 1] = vals[nv - 1] + vals[nv]
        else:
            n2 = k // 2
            n2 -= n2 % 8
            seg[sp, 0], seg[sp, 1], seg[sp, 2] = s0, k, 1
            seg[sp + 1, 0], seg[sp + 1, 1], seg[sp + 1, 2] = s0 + n2, k - n2, 0
            seg[sp + 2, 0], seg[sp + 2, 1], seg[sp + 2, 2] = s0, n2, 0
            sp += 3
    return vals[0]


@njit(cache=True)
def marginal_error(w, pot, pot_new, e):
    """sum_i w_i |exp((pot_i - pot_new_i)/e) - 1| (the exponent clipped to +-700; NaN stays
    NaN), summed in numpy's order: the single solver's marginal error on the host
    (kantorovich.ot._sinkhorn._marginal_error) is this function, so both solvers take the same
    convergence and extrapolation decisions."""
    n = w.shape[0]
    t = np.empty(n)
    for i in range(n):
        x = (pot[i] - pot_new[i]) / e
        if x > _EXP_CLIP:
            x = _EXP_CLIP
        elif x < -_EXP_CLIP:
            x = -_EXP_CLIP
        t[i] = w[i] * abs(math.expm1(x))
    return _pairwise_sum(t, n)


@njit(inline="always")
def _kmat_state():
    st = np.zeros((2, 3))
    st[:, 0] = np.nan
    st[:, 2] = np.nan
    return st


@njit(inline="always")
def _copy(src, dst):
    for i in range(src.shape[0]):
        dst[i] = src[i]


def row_addresses() -> np.ndarray:
    """The compiled row loops' entry points as the kernels index them in ``K[20]`` (sq2, sq,
    pc, pc_mean, logs, kmat, ksums, kmean, kdense, kdmean, lse2; :func:`rows_entries`)."""
    rows = rows_entries()
    return np.array([rows[k].address for k in ("sq2", "sq", "pc", "pc_mean", "logs", "kmat",
                                               "ksums", "kmean", "kdense", "kdmean", "lse2")],
                    dtype=np.intp)


@njit(cache=True, _nrt=False)  # no reference counting: ~50 atomic operations a call less
def _sm(K, side, e, h, out):
    """One soft-min of a problem: ``side`` 0 over the columns (out_i, i < n), 1 over the rows
    (out_j, j < m): the single solver's operators (:func:`sm_operator`), else the generic
    two-pass kernel over the cost matrix."""
    if sm_operator(K, side, e, h, out):
        return
    n = K[11].shape[0]
    m = K[12].shape[0]
    if side == 0:
        _softmin(K[20][10], K[1], n, m, h, e, K[3], out)
    else:
        _softmin(K[20][10], K[2], m, n, h, e, K[3], out)


@njit(cache=True, _nrt=False)
def sm_operator(K, side, e, h, out):
    """:func:`_sm` where the single solver's operator runs, else False (mode ``_GENERIC``, or
    a ``_DENSE_K`` matrix not usable at ``e``: the generic kernel's). The point-cloud modes do
    what OnlineSoftmin.__call__ does, in the same order and with the same compiled row loops:
    ``c h`` clamped to a finite stand-in, the previous output of this side times ``c`` as the
    row shift (when finite), the coordinates scaled per eps (d = 2); ``_DENSE_K`` what
    DenseSoftmin.__call__ does with its kernel matrix. Its own compiled function, without the
    generic kernel, for the single solver's compiled iterations
    (:mod:`kantorovich.ot._sinkhorn_steps`: 40% less to compile)."""
    mode = K[0][0]
    n = K[11].shape[0]
    m = K[12].shape[0]
    zero = n - n  # the first row (int64, as the entry points take it)
    no = n < 0  # False at run time: a literal False compiled shift_inputs a second time
    if mode == _DENSE_K:  # DenseSoftmin._kmat_call: the matrix of every new c
        c = _LOG2E / e
        kst = K[23][side]
        Kf = K[21] if side == 0 else K[22]
        if kst[0] != c:
            kst[0] = c
            kst[1] = 1.0 if kmat_build_dense(K[20][8], K[1], n, m, c, side == 1, Kf) else 2.0
        if kst[1] == 1.0:
            hc = K[13] if side == 0 else K[14]
            o = K[15] if side == 0 else K[16]
            lo, hi = _WIN64
            shift_inputs(h, c, _NEG_BIG, h, no, hc, o)
            if kmat_softmin(K[20][6], K[20][4], Kf, hc, K[24] if side == 0 else K[25], o, lo, hi,
                            1.0 / c, out, K[17] if side == 0 else K[18]) == 0:
                return True
        # (not reached: such a problem is usable at its smallest eps) the generic kernel
    if mode == _GENERIC or mode == _DENSE_K:
        return False
    p = K[0][1]
    XC, YC, XT, YT = K[4], K[5], K[6], K[7]
    c = _LOG2E / e
    prev = K[11] if side == 0 else K[12]
    hc = K[13] if side == 0 else K[14]
    o = K[15] if side == 0 else K[16]
    fell = K[17] if side == 0 else K[18]
    have_prev = K[19]
    if K[21].shape[0] > 0:  # the kernel-matrix path: OnlineSoftmin._kmat_call's decisions
        kst = K[23][side]
        act = kmat_decide(kst, c, have_prev[side] != 0)
        Kf = K[21] if side == 0 else K[22]
        if act == 2:
            if side == 0:
                usable = kmat_build(K[20][5], XC, YT, c, p, Kf)
            else:
                usable = kmat_build(K[20][5], YC, XT, c, p, Kf)
            kst[0] = c
            kst[1] = 1.0 if usable else 2.0
            act = 1 if usable else 0
        if act == 1:
            w = K[24] if side == 0 else K[25]
            shift_inputs(h, c, _NEG_BIG, h, no, hc, o)
            lo, hi = _WIN64
            if kmat_softmin(K[20][6], K[20][4], Kf, hc, w, o, lo, hi, 1.0 / c, out,
                            fell) == 0:
                _copy(out, prev)
                have_prev[side] = 1
                return True
    if mode == _POINTWISE:
        hs = hc  # h / e, as OnlineSoftmin's numpy expression (no allocation here: no NRT)
        for j in range(hs.shape[0]):
            v = h[j] / e
            hs[j] = v if (math.isfinite(v) or v > 0) else _NEG_BIG
        if side == 0:
            call_pc(K[20][2], XC, YT, hs, e, p, out, zero, n)
        else:
            call_pc(K[20][2], YC, XT, hs, e, p, out, zero, m)
        _copy(out, prev)
        have_prev[side] = 1
        return True
    have = shift_inputs(h, c, _NEG_BIG, prev, have_prev[side] != 0, hc, o)
    root = p == 1.0
    lo, hi = _WIN64
    if mode == _ONLINE2:
        X0, X1, Y0, Y1, scale = K[8][0], K[8][1], K[9][0], K[9][1], K[10]
        sc = c if root else math.sqrt(c)
        if scale[0] != sc:  # the coordinates times sqrt(c) (p = 2) or c (p = 1), per eps
            for i in range(n):
                X0[i] = XC[i, 0] * sc
                X1[i] = XC[i, 1] * sc
            for j in range(m):
                Y0[j] = YC[j, 0] * sc
                Y1[j] = YC[j, 1] * sc
            scale[0] = sc
        if side == 0:
            call_sq2(K[20][0], X0, X1, Y0, Y1, hc, root, o, have, lo, hi, np.float64(-1e308),
                     1.0 / c, out, fell, zero, n, K[20][4])
        else:
            call_sq2(K[20][0], Y0, Y1, X0, X1, hc, root, o, have, lo, hi, np.float64(-1e308),
                     1.0 / c, out, fell, zero, m, K[20][4])
    elif side == 0:
        call_sq(K[20][1], XC, YT, hc, np.float64(c), root, o, have, lo, hi, np.float64(-1e308),
                1.0 / c, out, fell, zero, n, K[20][4])
    else:
        call_sq(K[20][1], YC, XT, hc, np.float64(c), root, o, have, lo, hi, np.float64(-1e308),
                1.0 / c, out, fell, zero, m, K[20][4])
    _copy(out, prev)
    have_prev[side] = 1
    return True


@njit(cache=True)
def _sm_mean(K, e, h, out, mean):
    """The row soft-min and the row-softmax mean of C, as the single solver's last row pass
    (``with_mean_cost``: the point clouds' two-pass kernel)."""
    n = K[11].shape[0]
    m = K[12].shape[0]
    no = n < 0  # False at run time (as in sm_operator)
    if K[0][0] == _DENSE_K:
        c = _LOG2E / e
        kst = K[23][0]
        if c == kst[0] and kst[1] == 1.0:  # DenseSoftmin's row-softmax mean
            shift_inputs(h, c, _NEG_BIG, h, no, K[13], K[15])
            lo, hi = _WIN64
            if kmat_softmin_mean_dense(K[20][9], K[20][4], K[21], K[13], K[24], K[15], K[1], lo,
                                       hi, 1.0 / c, out, mean, K[17]) == 0:
                return
    if K[0][0] == _GENERIC or K[0][0] == _DENSE_K:
        _softmin_mean(K[1], n, m, h, e, out, mean)
        return
    c = _LOG2E / e
    kst = K[23][0]
    if K[21].shape[0] > 0 and c == kst[0] and kst[1] == 1.0:  # OnlineSoftmin._kmat_call's
        shift_inputs(h, c, _NEG_BIG, h, no, K[13], K[15])
        lo, hi = _WIN64
        if kmat_softmin_mean(K[20][7], K[20][4], K[21], K[13], K[24], K[15], K[4], K[7],
                             K[0][1], lo, hi, 1.0 / c, out, mean, K[17]) == 0:
            return
    hs = h / e
    for j in range(m):
        if not (math.isfinite(hs[j]) or hs[j] > 0):
            hs[j] = _NEG_BIG
    call_pc_mean(K[20][3], K[4], K[7], hs, e, K[0][1], out, mean, n - n, n)


# the single solver's rule, compiled here (and for the GPU batch in sinkhorn_batch_cuda)
_annealing_pays = njit(inline="always")(_annealing_pays_py)


#: ``symmetric`` of a problem that is OT(a, a) on a symmetric cost: its averaged steps run one
#: soft-min while f = g (kantorovich.ot._sinkhorn._sinkhorn_loop's ``self_transport``)
_SELF = 2


@njit(inline="always")
def _equal(f, g, n):
    """Whether the first ``n`` entries of ``f`` and ``g`` are equal (a self-transport problem
    keeps them so; an extrapolation may not)."""
    for i in range(n):
        if f[i] != g[i]:
            return False
    return True


@njit(cache=True)
def _at_eps(K, n, m, a, b, loga, logb, f, g, ft, gt, hx, hy, eps, it, k, stop,
            averaged_first, check_first, measure_at, max_iter, tol, check_every, symmetric, st,
            agree):
    """The single solver's ``at_eps``, with its tail extrapolation when ``agree`` > 0; st =
    [last error, n checks, NaN flag, converged, error measured at ``measure_at``, extrapolated
    or near to]. Returns (it, k)."""
    # the sides as run-time integers: literal 0 and 1 compiled _sm (and sm_operator) twice
    sx = n - n
    sy = sx + 1
    k_first = k
    st[3] = 0.0
    st[4] = np.nan
    # the tail extrapolation's state (kantorovich.ot._sinkhorn._extrapolate_tail): the errors
    # of the last two checks kept (n_tail of them) and the potentials at the last one; the
    # potentials before a jump and the bound its next check must beat
    n_tail = 0
    agree_first = agree
    e_prev2 = 0.0
    e_prev = 0.0
    f_prev = np.empty(n)
    g_prev = np.empty(m)
    jumped = False
    bound = 0.0
    f_kept = np.empty(n)
    g_kept = np.empty(m)
    while it < stop:
        check = ((k % check_every == check_every - 1) or it == max_iter - 1
                 or (check_first and k == k_first))
        measure = check or k == measure_at
        for j in range(m):
            hy[j] = g[j] + eps * logb[j]
        _sm(K, sx, eps, hy, ft)
        err = 0.0
        if symmetric == _SELF and _equal(f, g, n):  # the single solver's one-sided step
            if measure:
                err = marginal_error(a, f, ft, eps)
                err = err + err
            for i in range(n):
                f[i] = 0.5 * (f[i] + ft[i])
                g[i] = f[i]
        elif symmetric or (k == k_first and averaged_first):
            for i in range(n):
                hx[i] = f[i] + eps * loga[i]
            _sm(K, sy, eps, hx, gt)
            if measure:
                err = marginal_error(a, f, ft, eps) + marginal_error(b, g, gt, eps)
            for i in range(n):
                f[i] = 0.5 * (f[i] + ft[i])
            for j in range(m):
                g[j] = 0.5 * (g[j] + gt[j])
        else:
            if measure:
                err = marginal_error(a, f, ft, eps)
            for i in range(n):
                f[i] = ft[i]
                hx[i] = f[i] + eps * loga[i]
            _sm(K, sy, eps, hx, g)
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
                        f[:] = f_kept
                        g[:] = g_kept
                        agree = 0.5 * agree
                        if agree <= agree_first * _MULTI_MODE_FACTOR:
                            # the single solver now starts its several-mode extrapolation,
                            # which this kernel does not have: stop, the single solver redoes it
                            st[5] = _NEEDS_SINGLE
                            break
                        continue
                if n_tail == 2:
                    r1 = e_prev / e_prev2
                    r2 = err / e_prev
                    if abs(abs(r2 - r1) - agree * (1.0 - r2)) <= _DECISION_MARGIN:
                        st[5] = 1.0  # a close decision: rounding could tip it
                    if r2 < 1.0 and abs(r2 - r1) <= agree * (1.0 - r2):
                        c = r2 / (1.0 - r2)
                        f_kept[:] = f
                        g_kept[:] = g
                        for i in range(n):
                            f[i] = f[i] + c * (f[i] - f_prev[i])
                        for j in range(m):
                            g[j] = g[j] + c * (g[j] - g_prev[j])
                        jumped = True
                        st[5] = 1.0
                        bound = err * r2
                        n_tail = 0
                        continue
                e_prev2 = e_prev
                e_prev = err
                f_prev[:] = f
                g_prev[:] = g
                n_tail = min(n_tail + 1, 2)
    return it, k


@njit(cache=True)
def _primal_objective(K, n, m, a, b, f, g, eps):
    """As kantorovich.ot._sinkhorn._primal_objective, for one problem (a point cloud's costs
    from its centred coordinates)."""
    total = 0.0
    product = 0.0
    generic = K[0][0] == _GENERIC
    XC, YC, p = K[4], K[5], K[0][1]
    for i in range(n):
        for j in range(m):
            w = a[i] * b[j]
            if generic:
                cij = K[1][i * m + j]
            else:
                sq = 0.0
                for t in range(XC.shape[1]):
                    u = XC[i, t] - YC[j, t]
                    sq += u * u
                cij = sq if p == 2.0 else (math.sqrt(sq) if p == 1.0 else sq ** (p / 2.0))
            z = (f[i] + g[j] - cij) / eps
            z = min(max(z, -_EXP_CLIP), _EXP_CLIP)
            ez = math.exp(z)
            if w > 0:
                total += w * (cij * ez + eps * (z * ez - math.expm1(z)))
            product += w * cij
    return min(total, product)


@njit(cache=True)
def _pc_cost(x, y, p, Cf, CTf):
    """C_ij = |x_i - y_j|^p from exact differences (the PointCloud cost), and its transpose."""
    n, d = x.shape
    m = y.shape[0]
    for i in range(n):
        for j in range(m):
            sq = 0.0
            for t in range(d):
                u = x[i, t] - y[j, t]
                sq += u * u
            if p == 2.0:
                v = sq
            elif p == 1.0:
                v = math.sqrt(sq)
            else:
                v = sq ** (p / 2.0)
            Cf[i * m + j] = v
            CTf[j * n + i] = v


@njit(cache=True)
def _solve_one(K, n, m, a, b, loga, logb, eps, levels, n_levels, mag, max_iter, tol,
               check_every, sym, agree, deferrals, f, g, out):
    """One problem, as the single solver's loop; ``out`` = [n_iter, converged, n_scaling,
    last error, value, objective, NaN flag, extrapolated (or near to)]."""
    f[:] = 0.0
    g[:] = 0.0
    ft = np.empty(n)
    gt = np.empty(m)
    hx = np.empty(n)
    hy = np.empty(m)
    st = np.zeros(6)
    n_scaling = 0
    # run-time constants: literal arguments (0, False, True, -1) made numba compile a
    # specialisation of _at_eps per combination (four) and of _sm per side (two)
    zero = n - n
    one = zero + 1
    no = n < 0
    yes = not no
    none = zero - 1
    if n_levels == 0:
        it, k = _at_eps(K, n, m, a, b, loga, logb, f, g, ft, gt, hx, hy, eps, zero, zero,
                        max_iter, no, no, none, max_iter, tol, check_every, sym, st, 0.0)
    else:
        half = check_every // 2 - 1 if check_every >= 2 else -1
        it, k = _at_eps(K, n, m, a, b, loga, logb, f, g, ft, gt, hx, hy, eps, zero, zero,
                        min(max_iter, check_every), no, no, half, max_iter, tol,
                        check_every, sym, st, 0.0)
        e_half = st[4]
        gap = k - half - 1
        cost = n_levels + check_every
        for _ in range(deferrals):
            # a close call (predicted within twice the annealing's length): one more check
            # interval of the cold start, then decide on its rate
            if (st[2] != 0.0 or st[3] != 0.0 or it >= max_iter
                    or not _annealing_pays(st[0], e_half, gap, tol, cost)
                    or _annealing_pays(st[0], e_half, gap, tol, 2 * cost)):
                break
            e_half = st[0]
            gap = check_every
            it, k = _at_eps(K, n, m, a, b, loga, logb, f, g, ft, gt, hx, hy, eps, it,
                            k, min(max_iter, it + check_every), no, no, none, max_iter, tol,
                            check_every, sym, st, 0.0)
        if st[2] == 0.0 and st[3] == 0.0 and it < max_iter:
            if _annealing_pays(st[0], e_half, gap, tol, cost):
                for s in range(n_levels):
                    if it >= max_iter:
                        break
                    e = levels[s]
                    for j in range(m):
                        hy[j] = g[j] + e * logb[j]
                    for i in range(n):
                        hx[i] = f[i] + e * loga[i]
                    _sm(K, zero, e, hy, ft)
                    if sym == _SELF and _equal(f, g, n):
                        for i in range(n):
                            f[i] = 0.5 * (f[i] + ft[i])
                            g[i] = f[i]
                    else:
                        _sm(K, one, e, hx, gt)
                        for i in range(n):
                            f[i] = 0.5 * (f[i] + ft[i])
                        for j in range(m):
                            g[j] = 0.5 * (g[j] + gt[j])
                    it += 1
                    n_scaling += 1
                it, k = _at_eps(K, n, m, a, b, loga, logb, f, g, ft, gt, hx, hy,
                                eps, it, zero, max_iter, yes, yes, none, max_iter, tol,
                                check_every, sym, st, agree)
            else:
                it, k = _at_eps(K, n, m, a, b, loga, logb, f, g, ft, gt, hx, hy,
                                eps, it, k, max_iter, no, no, none, max_iter, tol,
                                check_every, sym, st, 0.0)
    out[6] = st[2]
    out[7] = st[5]
    if st[2] != 0.0:
        return
    converged = st[3] != 0.0
    # <P, C> from one more row pass (as the single solver)
    for j in range(m):
        hy[j] = g[j] + eps * logb[j]
    mean = np.empty(n)
    _sm_mean(K, eps, hy, ft, mean)
    last = st[0]
    terms = np.empty(max(n, m))
    if converged:
        for i in range(n):
            t = min(max((f[i] - ft[i]) / eps, -_EXP_CLIP), _EXP_CLIP)
            terms[i] = a[i] * math.exp(t) * mean[i]
    else:
        for i in range(n):
            f[i] = ft[i]
            terms[i] = a[i] * mean[i]
        # the returned pair's error: its rows sum to a, its columns are off by (the single
        # solver's _returned_error)
        for i in range(n):
            hx[i] = f[i] + eps * loga[i]
        _sm(K, one, eps, hx, gt)
        last = marginal_error(b, g, gt, eps)
    value = _pairwise_sum(terms, n)
    if eps > _PRIMAL_OBJECTIVE_EPS_RATIO * mag:
        objective = _primal_objective(K, n, m, a, b, f, g, eps)
    else:
        for i in range(n):
            terms[i] = a[i] * f[i]
        objective = _pairwise_sum(terms, n)
        for j in range(m):
            terms[j] = b[j] * g[j]
        objective += _pairwise_sum(terms, m)
    out[0] = it
    out[1] = 1.0 if converged else 0.0
    out[2] = n_scaling
    out[3] = last
    out[4] = value
    out[5] = objective


@njit(cache=True)
def _centred_pair(x, y, xc, yc):
    """kantorovich.ot._kernels.softmin_numba._centred for one problem, in its order: the common
    mean, rounded to a multiple of the spacing of the largest coordinate, subtracted."""
    n, d = x.shape
    m = y.shape[0]
    for k in range(d):
        if d == 1:  # a contiguous column: numpy sums it pairwise
            sx = _pairwise_sum(x[:, 0].copy(), n)
            sy = _pairwise_sum(y[:, 0].copy(), m)
        else:  # numpy adds the rows one after the other
            sx = 0.0
            for i in range(n):
                sx += x[i, k]
            sy = 0.0
            for j in range(m):
                sy += y[j, k]
        mu = (sx + sy) / (n + m)
        top = 0.0
        for i in range(n):
            top = max(top, abs(x[i, k]))
        for j in range(m):
            top = max(top, abs(y[j, k]))
        q = np.spacing(top)
        mu = np.round(mu / q) * q if q > 0 else 0.0
        for i in range(n):
            xc[i, k] = x[i, k] - mu
        for j in range(m):
            yc[j, k] = y[j, k] - mu


@parallel_kernel
@njit(parallel=True, cache=True)
def _solve_batch(mode, dense, C, X, Y, p, A, Bw, logA, logB, eps, levels, n_levels, mag, max_iter, tol,
                 check_every, symmetric, agree, deferrals, F, G, stats, rows, dense_k):
    """Every problem of the batch, one per prange iteration (see :func:`_solve_one`); ``rows``:
    the addresses of the single solver's row loops, ``sq2``, ``sq``, ``pc``, ``pc_mean``, and of
    the rows' logs, ``logs``, of :func:`~kantorovich.ot._kernels.softmin_numba.rows_entries`,
    and of the kernel-matrix path's entries; ``dense_k`` (B,): the dense problems that take
    the kernel matrix (``_DENSE_K``)."""
    nb = F.shape[0]
    n = F.shape[1]
    m = G.shape[1]
    d = X.shape[2]
    for q in prange(nb):
        qmode = _DENSE_K if dense and dense_k[q] != 0 else mode
        modes = np.array([float(qmode), p])
        if qmode == _GENERIC or qmode == _DENSE_K:
            CTf = np.empty(n * m)
            if dense:
                Cf = C[q].ravel()
                for i in range(n):
                    for j in range(m):
                        CTf[j * n + i] = Cf[i * m + j]
            else:
                Cf = np.empty(n * m)
                _pc_cost(X[q], Y[q], p, Cf, CTf)
            XC = np.empty((0, 0))
            YC = XC
        else:
            Cf = np.empty(0)
            CTf = Cf
            XC = np.empty((n, d))
            YC = np.empty((m, d))
            _centred_pair(X[q], Y[q], XC, YC)
        # the kernel-matrix path's matrices (softmin_numba._KMAT_MAX_ENTRIES)
        Kx = np.empty(n * m if qmode != _GENERIC and 0 < n * m <= _KMAT_MAX_ENTRIES else 0)
        Ky = np.empty(Kx.shape[0])
        K = (modes, Cf, CTf, np.empty(max(n, m)), XC, YC, np.ascontiguousarray(XC.T),
             np.ascontiguousarray(YC.T), np.empty((2, n)), np.empty((2, m)), np.zeros(1),
             np.empty(n), np.empty(m), np.empty(m), np.empty(n), np.empty(n), np.empty(m),
             np.empty(n, dtype=np.uint8), np.empty(m, dtype=np.uint8),
             np.zeros(2, dtype=np.int64), rows, Kx, Ky, _kmat_state(),
             np.empty(m), np.empty(n))
        _solve_one(K, n, m, A[q], Bw[q], logA[q], logB[q], eps, levels[q], n_levels[q], mag[q],
                   max_iter, tol, check_every, symmetric[q], agree, deferrals, F[q], G[q],
                   stats[q])


# --------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------

def _self_transport(bt, A, Bw, sym) -> np.ndarray:
    """Per problem (B,): an averaged problem (``sym``) that is OT(a, a) on a symmetric cost,
    as the single solver's ``_self_transport``: equal weights, and equal points (the batch's
    costs are named ones, functions of |x - y|) or a cost matrix equal to its transpose. The
    alternating problems are not compared (a pass over each cost matrix for nothing)."""
    nb, n, m = bt.shape
    out = np.zeros(nb, dtype=bool)
    if n != m:
        return out
    for q in np.flatnonzero(sym):
        if not np.array_equal(A[q], Bw[q]):
            continue
        out[q] = (np.array_equal(bt.C[q], bt.C[q].T) if bt.dense
                  else np.array_equal(bt.X[q], bt.Y[q]))
    return out


def _batch_weights(w, name: str, nb: int, size: int, cost_shape) -> np.ndarray:
    """Weights (B, size), (size,) or None as a (B or 1, size) float64 array."""
    if w is None:
        return np.full((1, size), 1.0 / size)
    arr = check_weights(w, name, n=size, batch=True)
    if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[0] != nb):
        raise ValueError(
            f"`{name}` must have shape ({size},) or ({nb}, {size}) for a batch of {nb} problems "
            f"(cost of shape {tuple(cost_shape)}); got {describe(arr)}.")
    return arr if arr.ndim == 2 else arr[None, :]


def _batch_cost(M, name: str) -> np.ndarray:
    """A dense (B, n, m) float64 cost without NaN or infinity."""
    arr = as_float_array(M, name, min_ndim=3, max_ndim=3)
    finite = np.isfinite(arr).all(axis=(1, 2))
    if not bool(finite.all()):  # the first problem that has NaN or infinity, named
        q = int(np.argmin(finite))
        where = f"in problem {q} of {arr.shape[0]}"
        if bool(np.any(np.isnan(arr[q]))):
            raise ValueError(f"`{name}` must not contain NaN; got NaN {where}.")
        raise ValueError(f"`{name}` must contain only finite costs; got infinity {where}.")
    return np.ascontiguousarray(arr)


class _Batch:
    """A batch of costs: dense C (B, n, m) or point clouds X (B, n, d), Y (B, m, d)."""

    def __init__(self, M_or_geometry, name="M_or_geometry"):
        if isinstance(M_or_geometry, PointCloud):
            pc = M_or_geometry
            self.dense = False
            self.X = np.ascontiguousarray(pc.x, dtype=np.float64)
            self.Y = np.ascontiguousarray(pc.y, dtype=np.float64)
            self.p = float(pc.p)
            self.cost = pc.cost
            self.C = np.zeros((1, 1, 1))
            self.nb, self.n, self.m = self.X.shape[0], self.X.shape[1], self.Y.shape[1]
            self.pc = pc
        else:
            self.dense = True
            self.C = _batch_cost(M_or_geometry, name)
            self.X = self.Y = np.zeros((1, 1, 1))
            self.p = 2.0
            self.nb, self.n, self.m = self.C.shape
        self.shape = (self.nb, self.n, self.m)

    def problem(self, q: int):
        """Problem ``q`` as the single solver takes it."""
        if self.dense:
            return self.C[q]
        return PointCloud(self.pc.x[q], self.pc.y[q], cost=self.pc._cost.p)

    def scales(self):
        """(diameter, max |C|) per problem, computed as the single solver computes them."""
        if self.dense:
            lo, hi = self.C.min(axis=(1, 2)), self.C.max(axis=(1, 2))
            return hi - lo, np.maximum(np.abs(lo), np.abs(hi))
        # kantorovich.ot._costs.diameter on every problem at once (the same operations, so
        # the same numbers); the problems whose squares would over- or underflow, or whose
        # extent is 0 or infinite, and every p other than 1 and 2, by the function itself
        lo = np.minimum(self.X.min(axis=1), self.Y.min(axis=1))
        w = np.maximum(self.X.max(axis=1), self.Y.max(axis=1)) - lo
        top = w.max(axis=1)
        plain = ((np.sqrt(np.finfo(np.float64).tiny) * 4 < top)
                 & (top < np.sqrt(np.finfo(np.float64).max / (4 * max(1, w.shape[1])))))
        with np.errstate(over="ignore"):  # those problems are the function's, below
            diam = np.sqrt((w ** 2).sum(axis=1))
        if self.p == 2.0:
            diam = diam * diam
        for q in (range(self.nb) if self.p not in (1.0, 2.0) else np.flatnonzero(~plain)):
            diam[q] = diameter(self.X[q], self.Y[q], self.pc._cost)
        return diam, diam.copy()


# --------------------------------------------------------------------------------------------
# public entry points (called from sinkhorn / sinkhorn_divergence)
# --------------------------------------------------------------------------------------------

def sinkhorn_batch(a, b, M_or_geometry, *, eps, max_iter=10_000, tol=None, scaling=0.5,
                   check_every=10, f0=None, g0=None, plan=False, symmetric=False, backend="auto",
                   dtype=None, progress=False, _symmetric_mask=None,
                   _check_rounding=True) -> SinkhornResult:
    """:func:`kantorovich.ot.sinkhorn` on a batch (see the module notes)."""
    from .._validation import check_choice
    from ._sinkhorn import (
        _EXTRAPOLATION_AGREEMENT,
        _PROBE_DEFERRALS,
        SINKHORN_BACKENDS,
        _check_eps_resolution,
        _check_options,
        _check_plan,
        _numba_takes_eps,
        _scale_limit,
        eps_schedule,
    )

    t0 = time.perf_counter()
    eps, max_iter, check_every, scaling, dtype = _check_options(
        eps, max_iter, check_every, scaling, symmetric, progress, dtype)
    _check_plan(plan)
    check_choice(backend, "backend", SINKHORN_BACKENDS)
    kw = dict(eps=eps, max_iter=max_iter, tol=tol, scaling=scaling, check_every=check_every,
              plan=plan, symmetric=symmetric, backend=backend, dtype=dtype, progress=progress)
    on_gpu = (is_cupy(a) or is_cupy(b) or (isinstance(M_or_geometry, PointCloud)
                                            and M_or_geometry.on_gpu) or is_cupy(M_or_geometry))
    # a host PointCloud stored in float32 (PointCloud(..., dtype=float32)) is a float32 solve
    # for the single solver (its working dtype is the geometry's), as dtype=float32 is
    f32 = (dtype is not None and np.dtype(dtype) != np.float64) or (
        dtype is None and isinstance(M_or_geometry, PointCloud) and not M_or_geometry.on_gpu
        and M_or_geometry.dtype == np.float32)
    gpu_dt = _gpu_kernel_dtype(M_or_geometry, on_gpu, backend, dtype, plan, progress, f0, g0)
    gpu = gpu_dt is not None
    wdt = gpu_dt if gpu else np.dtype(np.float64)
    if not gpu and (on_gpu or f32 or backend not in _KERNEL_BACKENDS or plan
                    or f0 is not None or g0 is not None
                    or not _numba_takes_eps(eps)):  # a subnormal eps: the single solver's
        return _loop(a, b, M_or_geometry, f0, g0, _symmetric_mask, kw)  # numpy, or its error

    dev_cost, dev_a, dev_b = M_or_geometry, a, b  # as given: the single solver re-solves these
    if on_gpu:  # checks and scales on a host copy; the kernel reads the device arrays
        a, b, M_or_geometry = _host_batch(a, b, M_or_geometry)
    bt = _Batch(M_or_geometry)
    nb, n, m = bt.shape
    # the single solver's default: 1e-5 in float64, 1e-3 in float32 (its rounding floor)
    tol = (1e-3 if wdt == np.float32 else 1e-5) if tol is None else check_positive(tol, "tol")
    A = _batch_weights(a, "a", nb, n, bt.shape)
    Bw = _batch_weights(b, "b", nb, m, bt.shape)
    sa, sb = np.broadcast_arrays(A.sum(axis=1), Bw.sum(axis=1))
    check_same_mass(sa, sb, mass_rtol(input_dtype(a), input_dtype(b)), kind="balanced OT")
    # writable copies whatever the weights' form: np.broadcast_to gives a read-only view, which
    # np.ascontiguousarray kept where it was already (B, n) (per-problem weights, a batch of
    # one) and copied where it was not (shared weights), and numba compiled the whole kernel
    # once for read-only and once for writable weights (docs/performance.md, "Compile time")
    Bw = np.array(np.broadcast_to(Bw * (sa / sb)[:, None], (nb, m)), order="C")
    A = np.array(np.broadcast_to(A, (nb, n)), order="C")
    if eps > _scale_limit(wdt):
        raise ValueError(f"`eps` must be at most {_scale_limit(wdt):.3g} in {wdt.name} "
                         f"(finfo.max / 2**12, so that eps log(b) stays finite); got {eps!r}.")
    diam, mag = bt.scales()
    bad = ~(np.isfinite(diam) & (mag <= np.finfo(wdt).max) & (eps >= np.finfo(wdt).eps * mag))
    for q in np.flatnonzero(bad)[:1]:  # the single solver's message, naming the first one
        try:
            _check_eps_resolution(float(mag[q]), float(diam[q]), eps, wdt)
        except ValueError as err:  # which of the B problems, as the batch's other errors say
            raise ValueError(f"in problem {q} of {nb}: {err}") from None
    sched, n_sched = _schedules(diam, eps, scaling, eps_schedule)
    scheds = [sched[q, :n_sched[q]].tolist() for q in range(nb)]
    sym = np.full(nb, bool(symmetric))
    if _symmetric_mask is not None:
        sym |= _symmetric_mask
    # OT(a, a) on a symmetric cost with the averaged update: one soft-min per step, as the
    # single solver (its _self_transport)
    self_t = _self_transport(bt, A, Bw, sym)
    F = np.empty((nb, n))
    G = np.empty((nb, m))
    stats = np.zeros((nb, 8))
    with np.errstate(divide="ignore"):  # log 0 = -inf (zero weights), as the single solver
        logA, logB = np.log(A), np.log(Bw)
    mode = _GENERIC if gpu else _kernel_mode(bt, backend)
    if not gpu:
        notice_first_compile(_solve_batch, "the batched Sinkhorn kernel",
                             "under a minute on 2 cores")
    dense_k = _dense_kernel_matrix(bt, eps, backend) if not gpu else np.zeros(nb, np.uint8)
    same_rounding = mode != _GENERIC and (not _check_rounding
                                          or _rounds_as_single(mode, bt.p, bt.X.shape[2]))
    same = np.full(nb, same_rounding)
    if dense_k.any():
        same[dense_k != 0] = not _check_rounding or _rounds_as_single(_DENSE_K, 0.0, 0)
    t_loop = time.perf_counter()
    gpu_info = None
    if gpu:
        F, G, stats, gpu_info = _solve_on_gpu(bt, dev_cost, on_gpu, A, Bw, logA, logB, eps,
                                              sched, n_sched, mag, max_iter, tol, check_every,
                                              sym, wdt == np.float32)
    else:
        sym_code = np.where(self_t, _SELF, sym.astype(np.int64))
        mag = np.ascontiguousarray(mag, dtype=np.float64)
        rows = row_addresses()
        # progress: the problems in chunks (leading-axis views: the kernel's own types), a
        # bar over the problems advanced after each; each problem's numbers are its own
        with (np.errstate(divide="ignore"), numba.parallel_chunksize(1),
              open_bar(progress, total=nb, desc=f"sinkhorn batch {n}x{m} eps={eps:g}",
                       unit="problem") as bar):
            for q0, q1 in _kernel_chunks(nb, progress):
                s = slice(q0, q1)
                with threads_at_most(q1 - q0):  # (each launch costs a join of the threads)
                    _solve_batch(mode, bt.dense, bt.C[s] if bt.dense else bt.C,
                                 bt.X if bt.dense else bt.X[s], bt.Y if bt.dense else bt.Y[s],
                                 bt.p, A[s], Bw[s], logA[s], logB[s], eps, sched[s], n_sched[s],
                                 mag[s], max_iter, tol, check_every, sym_code[s],
                                 _EXTRAPOLATION_AGREEMENT, _PROBE_DEFERRALS, F[s], G[s],
                                 stats[s], rows, dense_k[s])
                advance(bar, q1 - q0)
    # a kernel that rounds otherwise than the single solver (the generic one): the problems
    # whose tail extrapolation jumped (or nearly did) are solved again by the single solver
    # (and, whatever the rounding, those that reached the several-mode extrapolation)
    # (float32 on the GPU: agreement to float32's rounding, not 1e-12, so only the latter)
    jumped = (stats[:, 7] != 0) & ~same & (wdt == np.float64)
    redo = np.flatnonzero((jumped | (stats[:, 7] == _NEEDS_SINGLE)) & (stats[:, 6] == 0))
    if redo.size:
        if gpu:
            _redo_gpu(dev_a, dev_b, bt, dev_cost, on_gpu, redo, sym, kw, F, G, stats)
        else:  # (a bar over the problems above, none per problem solved again)
            _redo(a, b, bt, redo, sym, {**kw, "progress": False}, F, G, stats)
    t_end = time.perf_counter()
    if bool((stats[:, 6] != 0).any()):
        raise FloatingPointError(
            "sinkhorn produced NaN potentials in problem "
            f"{int(np.argmax(stats[:, 6] != 0))}; check the costs and weights for extreme values.")
    value, objective = stats[:, 4].copy(), stats[:, 5].copy()
    if not (np.isfinite(value).all() and np.isfinite(objective).all()):
        raise FloatingPointError("sinkhorn produced a non-finite value; check the costs for "
                                 "extreme values.")
    converged = stats[:, 1] != 0
    errors = stats[:, 3].copy()
    _warn_unconverged(converged, errors, tol, max_iter)
    info = {"eps_schedule": scheds, "n_iter_scaling": stats[:, 2].astype(np.int64),
            "diameter": diam, "scaling": scaling, "symmetric": bool(symmetric),
            # the problems solved with one soft-min per iteration (OT(a, a), symmetric cost)
            "self_transport": self_t if not gpu else np.zeros(nb, dtype=bool), "tol": tol,
            "check_every": check_every, "warm_start": False, "dtype": wdt.name,
            "shape": (n, m), "batch_size": nb, "geometry": "dense" if bt.dense else "pointcloud",
            "engine": ("CUDA kernel, one thread block per problem" if gpu
                       else "numba prange over problems"),
            "single_solver_problems": redo,
            "kernel_soft_min": ("the single solver's numba kernel matrix (dense)"
                                if dense_k.all() and nb else
                                "two-pass dense log-sum-exp" if mode == _GENERIC
                                else "the single solver's numba point-cloud operator"),
            # dense problems on the single solver's kernel matrix (the others: generic kernel)
            "kernel_matrix_problems": np.flatnonzero(dense_k),
            "rounds_as_single_solver": bool(same.all()) if nb else bool(same_rounding),
            # problems whose tail extrapolation jumped (or whose jump test came within
            # _DECISION_MARGIN of the threshold)
            "extrapolated": stats[:, 7] != 0,
            "time_loop_s": t_end - t_loop,
            "time_total_s": t_end - t0}
    if gpu:
        info["gpu"] = gpu_info
    return SinkhornResult(value=value, objective=objective, f=F, g=G, marginal_error=errors,
                          n_iter=stats[:, 0].astype(np.int64), converged=converged, plan=None,
                          eps=eps, backend="cuda_batch" if gpu else "numba_batch", info=info)


# a problem above this many cost entries runs the single GPU solver (the whole device, O(n + m)
# memory) rather than one thread block with its C and C^T (16 n m bytes) in the batch kernel
_GPU_KERNEL_MAX_ENTRIES = 1 << 20


def _gpu_kernel_dtype(M_or_geometry, on_gpu, backend, dtype, plan, progress, f0, g0):
    """The working dtype of the GPU kernel (one launch, one block per problem) for this batch,
    or None when the batch does not run it. It runs for GPU input (CuPy, torch CUDA) or
    ``backend="cuda"``, with no warm start, plan or progress bar, named costs, at most
    ``_GPU_KERNEL_MAX_ENTRIES`` cost entries per problem and n, m <= ``HC_CAP`` (1024), and for
    ``backend="auto"`` a usable numba-cuda. The dtype is the single solver's: ``dtype`` when
    given, else float32 for float32 GPU data and float64 otherwise (numpy float32 too)."""
    if not (on_gpu or backend in ("cuda", "cupy")) or plan or progress:
        return None
    if f0 is not None or g0 is not None or backend not in ("auto", "cuda", "cupy"):
        return None
    if isinstance(M_or_geometry, PointCloud):
        if M_or_geometry.cost_is_callable:
            return None
        gpu32 = M_or_geometry.gpu_float32
        n, m = M_or_geometry.shape
    else:
        shape = getattr(M_or_geometry, "shape", None)
        if shape is None or len(shape) != 3:
            return None
        gpu32 = is_cupy(M_or_geometry) and M_or_geometry.dtype == np.float32
        n, m = int(shape[1]), int(shape[2])
    from ._kernels.sinkhorn_batch_cuda import HC_CAP

    if not (0 < n * m <= _GPU_KERNEL_MAX_ENTRIES and max(n, m) <= HC_CAP):
        return None
    # GPU data with backend="auto" and CuPy but no usable numba-cuda: the single CuPy solver per
    # problem, as before the kernel (backend="cuda" asks for the kernel: its error says why)
    if backend == "auto" and not _numba_cuda_usable():
        return None
    if dtype is not None:
        return np.dtype(dtype)
    return np.dtype(np.float32 if gpu32 else np.float64)


_NUMBA_CUDA: list = []


def _numba_cuda_usable() -> bool:
    """Whether numba-cuda imports and sees a GPU (checked once per process)."""
    if not _NUMBA_CUDA:
        try:
            from ._kernels.auction_cuda import _cuda

            _cuda()
            _NUMBA_CUDA.append(True)
        except Exception:  # noqa: BLE001 -- numba-cuda missing or no driver: the loop runs
            _NUMBA_CUDA.append(False)
    return _NUMBA_CUDA[0]


def _host_batch(a, b, M_or_geometry):
    """Host copies of GPU weights and costs, for the checks and the eps schedules."""
    if isinstance(M_or_geometry, PointCloud):
        pc = M_or_geometry
        M_or_geometry = PointCloud(_host(pc.x), _host(pc.y), cost=pc._cost.p)
    else:
        M_or_geometry = _host(M_or_geometry)
    return _host(a), _host(b), M_or_geometry


def _solve_on_gpu(bt, dev_cost, on_gpu, A, Bw, logA, logB, eps, sched, n_sched, mag, max_iter,
                  tol, check_every, sym, single=False):
    """The batch kernel of :mod:`kantorovich.ot._kernels.sinkhorn_batch_cuda`; returns
    (F, G, stats, info) with F, G CuPy arrays for GPU input, numpy ones for host input."""
    from ._kernels.sinkhorn_batch_cuda import solve_batch_cuda
    from ._sinkhorn import _EXTRAPOLATION_AGREEMENT, _PROBE_DEFERRALS

    if on_gpu:
        import cupy

        if bt.dense:
            C, X, Y = cupy.ascontiguousarray(dev_cost, dtype=cupy.float64), None, None
        else:
            C = None
            X = cupy.ascontiguousarray(dev_cost.x, dtype=cupy.float64)
            Y = cupy.ascontiguousarray(dev_cost.y, dtype=cupy.float64)
    else:
        C, X, Y = (bt.C, None, None) if bt.dense else (None, bt.X, bt.Y)
    F, G, stats, info = solve_batch_cuda(
        bt.dense, C, X, Y, bt.p, A, Bw, logA, logB, eps, sched, n_sched.astype(np.int64),
        np.ascontiguousarray(mag, dtype=np.float64), max_iter, tol, check_every,
        sym.astype(np.int64), _EXTRAPOLATION_AGREEMENT, _PROBE_DEFERRALS,
        _PRIMAL_OBJECTIVE_EPS_RATIO, _MULTI_MODE_FACTOR, bt.n, bt.m, single=single)
    if on_gpu:
        import cupy

        return cupy.asarray(F), cupy.asarray(G), stats, info
    return F.copy_to_host(), G.copy_to_host(), stats, info


def _redo_gpu(a, b, bt, dev_cost, on_gpu, redo, sym, kw, F, G, stats) -> None:
    """:func:`_redo` for the GPU kernel: the single solver on the same device (for host input
    with ``backend="cuda"``, the single GPU solver too; under the CUDA simulator, which has no
    CuPy, the host's)."""
    from ._kernels.auction_cuda import simulator

    problem = None  # the host copies' problems
    if on_gpu:
        if bt.dense:
            problem = dev_cost.__getitem__
        else:
            def problem(q):
                return PointCloud(dev_cost.x[q], dev_cost.y[q], cost=dev_cost._cost.p)
    if not on_gpu and simulator():
        kw = {**kw, "backend": "auto"}
    _redo(a, b, bt, redo, sym, kw, F, G, stats, problem)


def _schedules(diam, eps: float, scaling, eps_schedule):
    """Every problem's eps schedule (kantorovich.ot._sinkhorn.eps_schedule: ``diameter *
    scaling**k`` by repeated products while > eps) as rows of a (B, levels) array, and their
    lengths. The longest is made by eps_schedule itself (its errors for a ``scaling`` that
    needs too many levels); the others are its prefixes' products, the same numbers."""
    nb = diam.shape[0]
    ok = np.isfinite(diam) & (diam > eps)
    if scaling is None or not ok.any():
        return np.zeros((nb, 1)), np.zeros(nb, dtype=np.int64)
    top = int(np.argmax(np.where(ok, diam, -np.inf)))
    levels = len(eps_schedule(float(diam[top]), eps, scaling))
    sched = np.zeros((nb, max(1, levels)))
    n_sched = np.zeros(nb, dtype=np.int64)
    e = np.where(ok, diam, 0.0)
    for k in range(levels):
        live = e > eps
        if not live.any():
            break
        sched[live, k] = e[live]
        n_sched[live] += 1
        e = e * scaling
    return sched, n_sched


_ROUNDING_CHECKED: dict = {}


def _rounds_as_single(mode: int, p: float, d: int) -> bool:
    """Whether the kernel's soft-min rounds as the single solver's in this process: checked
    once per (mode, p, d) on a small problem (12 x 11 points, eps = 0.02: the safe path, the
    shifted sums, the annealing), bit for bit.

    Both call the row loops by address (``softmin_numba.rows_entries``: one machine code per
    row loop in the process), so this holds by construction; the check stays as a guard. (When
    numba linked the row loops into each caller, LLVM re-optimised them there, and a batch
    kernel loaded from numba's cache beside row loops compiled in the process rounded
    otherwise, in the last bits.) Should it fail, the extrapolated problems are solved again
    by the single solver, as for the generic kernel: the results then agree to the tests'
    1e-12 rather than bit for bit, and the batch is slower."""
    key = (mode, float(p), int(d))
    if key not in _ROUNDING_CHECKED:
        from ._sinkhorn import sinkhorn

        rng = np.random.default_rng(20261206)
        x, y = rng.random((1, 12, max(d, 1))), rng.random((1, 11, max(d, 1)))
        if mode == _DENSE_K:  # a dense cost that the kernel matrix takes at eps = 0.02
            geom1 = PointCloud(x[0], y[0])._matrix()
            geom = geom1[None]
        else:
            geom, geom1 = PointCloud(x, y, cost=p), PointCloud(x[0], y[0], cost=p)
        r = sinkhorn_batch(None, None, geom, eps=0.02, backend="numba", _check_rounding=False)
        one = sinkhorn(None, None, geom1, eps=0.02, backend="numba")
        _ROUNDING_CHECKED[key] = bool(np.array_equal(r.f[0], one.f)
                                      and np.array_equal(r.g[0], one.g)
                                      and r.n_iter[0] == one.n_iter)
    return _ROUNDING_CHECKED[key]


def _dense_kernel_matrix(bt, eps: float, backend: str) -> np.ndarray:
    """(B,) uint8: the dense problems that the single solver runs on the numba kernel matrix
    (``backend`` "auto" or "numba", float64, ``softmin_numba.kmat_dense_eligible``)."""
    from ._kernels.softmin_numba import _KMAT_MAX_ENTRIES, kmat_dense_eligible

    nb, n, m = bt.shape
    out = np.zeros(nb, dtype=np.uint8)
    if not bt.dense or backend not in ("auto", "numba") or not 0 < n * m <= _KMAT_MAX_ENTRIES:
        return out
    lo, hi = bt.C.min(axis=(1, 2)), bt.C.max(axis=(1, 2))
    for q in range(nb):
        out[q] = kmat_dense_eligible(n, m, float(lo[q]), float(hi[q]), eps)
    return out


def _kernel_mode(bt, backend: str) -> int:
    """The soft-min a problem of the batch runs: the single solver's own numba point-cloud
    operator where the single solver would run it (``backend="numba"``, or ``"auto"`` above
    its numpy size), else the generic two-pass kernel."""
    from ._sinkhorn import _AUTO_NUMPY_MAX_POINTCLOUD

    n, m = bt.n, bt.m
    if bt.dense or n == 0 or m == 0 or not (
            backend == "numba" or (backend == "auto" and n * m > _AUTO_NUMPY_MAX_POINTCLOUD)):
        return _GENERIC
    if bt.p not in (1.0, 2.0):
        return _POINTWISE
    return _ONLINE2 if bt.X.shape[2] == 2 else _ONLINE


def _redo(a, b, bt, redo, sym, kw, F, G, stats, problem=None) -> None:
    """Problems ``redo`` by the single solver, in place of the kernel's results (the problems
    whose tail extrapolation jumped; see ``_DECISION_MARGIN``); ``problem(q)`` gives problem
    q's cost as the single solver takes it (default ``bt.problem``)."""
    from ._sinkhorn import sinkhorn

    problem = bt.problem if problem is None else problem
    with warnings.catch_warnings():  # the batch warns once for all its problems
        warnings.simplefilter("ignore", ConvergenceWarning)
        for q in redo:
            r = sinkhorn(_slice(a, q, bt.nb), _slice(b, q, bt.nb), problem(q),
                         **{**kw, "symmetric": bool(sym[q])})
            F[q], G[q] = r.f, r.g
            stats[q, :6] = (r.n_iter, r.converged, r.info["n_iter_scaling"],
                            float(r.marginal_error), r.value, r.objective)


#: seconds of kernel time between two updates of a batch's progress bar: each chunk is one
#: more launch of the parallel kernel, whose join took 15 ms on 2 shared cores at load 3
#: (256 problems of 64 points in 43 chunks: 0.71 s against 0.078 s in one launch)
PROGRESS_CHUNK_S = 0.25


def _kernel_chunks(nb: int, progress: bool):
    """The problems of each kernel launch, ``(q0, q1)``: all at once, or with a progress bar,
    chunks of about ``PROGRESS_CHUNK_S`` seconds each, sized from the time per problem of
    the chunks so far (the first has one problem per numba thread)."""
    if not progress:
        yield 0, nb
        return
    threads = numba.get_num_threads()
    size, q0 = threads, 0
    while q0 < nb:
        q1 = min(nb, q0 + size)
        t0 = time.perf_counter()
        yield q0, q1
        per = (time.perf_counter() - t0) / (q1 - q0)
        size = max(threads, int(PROGRESS_CHUNK_S / per) if per > 0 else nb)
        q0 = q1


def _warn_unconverged(converged, errors, tol, max_iter) -> None:
    """One ConvergenceWarning for the problems of a batch that did not reach ``tol``, naming
    them (the kernel's batches and the loop of single calls alike)."""
    bad = np.flatnonzero(~np.asarray(converged, dtype=bool))
    if bad.size:
        warn(f"sinkhorn did not reach `tol`={tol:g} within `max_iter`={max_iter} iterations in "
             f"{bad.size} of {len(converged)} problems ({problem_list(bad)}; largest marginal "
             f"error {float(np.max(np.asarray(errors)[bad])):.3g}); increase `max_iter`, "
             "increase `eps`, or loosen `tol`.", ConvergenceWarning)


def _slice(w, q: int, nb: int):
    """Problem ``q``'s weights from (B, n), (n,) or None."""
    if w is None:
        return None
    nd = getattr(w, "ndim", None)
    if nd is None:
        nd = np.ndim(w)
    return w[q] if nd == 2 else w


def _loop(a, b, M_or_geometry, f0, g0, symmetric_mask, kw) -> SinkhornResult:
    """The single solver once per problem, results stacked (options the kernel lacks)."""
    from .._array_api import to_host
    from ._batch import _named
    from ._sinkhorn import sinkhorn

    if isinstance(M_or_geometry, PointCloud):
        pc = M_or_geometry
        nb = pc.batch_size
        n, m = pc.x.shape[1], pc.y.shape[1]
        probs = [pc.with_points(pc.x[q], pc.y[q]) for q in range(nb)]
    else:
        nb = batch_size_of(M_or_geometry)
        if not is_cupy(M_or_geometry):
            M_or_geometry = _batch_cost(M_or_geometry, "M_or_geometry")
        n, m = M_or_geometry.shape[1], M_or_geometry.shape[2]
        probs = [M_or_geometry[q] for q in range(nb)]
    for name, w, k in (("a", a, 0), ("b", b, 1)):
        if w is not None and np.ndim(to_host(w) if is_cupy(w) else w) == 2 and len(w) != nb:
            raise ValueError(f"`{name}` has {len(w)} rows for a batch of {nb} problems; "
                             f"got shape {tuple(np.shape(w))}.")
    # before any problem is solved: problem q reads row q of a (B, n) warm start
    for name, w, size in (("f0", f0, n), ("g0", g0, m)):
        shape = None if w is None else tuple(getattr(w, "shape", None) or np.shape(w))
        if shape is not None and shape not in ((size,), (nb, size)):
            raise ValueError(f"`{name}` must have shape ({size},) or ({nb}, {size}) for a batch "
                             f"of {nb} problems; got {describe(w)}.")
    res = []
    desc = f"sinkhorn batch {n}x{m} eps={kw['eps']:g}"
    # one bar over the problems (as emd's batch), none per problem
    with (warnings.catch_warnings(),  # one warning for the batch below, naming the problems
          open_bar(kw["progress"], total=nb, desc=desc, unit="problem") as bar):
        warnings.simplefilter("ignore", ConvergenceWarning)
        for q in range(nb):
            kq = {**kw, "progress": False}
            if symmetric_mask is not None and symmetric_mask[q]:
                kq["symmetric"] = True
            # an error of one problem (its eps below float64's resolution of its costs, say)
            # names it, as the kernel's path does
            res.append(_named(q, nb, sinkhorn, _slice(a, q, nb), _slice(b, q, nb), probs[q],
                              f0=_slice(f0, q, nb), g0=_slice(g0, q, nb), **kq))
            advance(bar)
    out = _stack(res)
    _warn_unconverged(out.converged, out.marginal_error, res[0].info["tol"], kw["max_iter"])
    return out


def _stack(res) -> SinkhornResult:
    from .._array_api import to_host

    def arr(vals, dtype=None):
        return np.asarray(vals, dtype=dtype)

    xp_f = res[0].f
    if is_cupy(xp_f):
        import cupy

        F, G = cupy.stack([r.f for r in res]), cupy.stack([r.g for r in res])
    else:
        F, G = np.stack([r.f for r in res]), np.stack([r.g for r in res])
    plans = [r.plan for r in res]
    if all(p is None for p in plans):
        P = None
    elif all(hasattr(p, "shape") and not hasattr(p, "block") for p in plans):
        P = np.stack([to_host(p) if is_cupy(p) else p for p in plans])
    else:
        P = tuple(plans)
    info = {"engine": "single solver per problem", "batch_size": len(res),
            "per_problem": [r.info for r in res]}
    return SinkhornResult(value=arr([r.value for r in res], np.float64),
                          objective=arr([r.objective for r in res], np.float64), f=F, g=G,
                          marginal_error=arr([float(r.marginal_error) for r in res], np.float64),
                          n_iter=arr([r.n_iter for r in res], np.int64),
                          converged=arr([r.converged for r in res], bool), plan=P,
                          eps=res[0].eps, backend=res[0].backend, info=info)


def sinkhorn_divergence_batch(a, b, M_or_geometry, *, eps, M_aa=None, M_bb=None, **kwargs):
    """:func:`kantorovich.ot.sinkhorn_divergence` on a batch: three batched solves.

    Per problem as the single function: identical inputs (equal weights, ``x`` equal to ``y``,
    or ``M``, ``M_aa``, ``M_bb`` equal) are solved once with the averaged update and give
    exactly 0.
    """
    from ._sinkhorn import SinkhornDivergenceResult, _no_self_costs_beside

    if isinstance(M_or_geometry, PointCloud):
        _no_self_costs_beside(M_aa, M_bb)
        pc = M_or_geometry
        g_ab = pc
        g_aa = pc.with_points(pc.x, pc.x)
        g_bb = pc.with_points(pc.y, pc.y)
        nb = pc.batch_size
        hx, hy = _host(pc.x), _host(pc.y)
        same_geom = np.array([np.array_equal(hx[q], hy[q]) for q in range(nb)])
    else:
        if M_aa is None or M_bb is None:
            raise ValueError("`M_aa` and `M_bb` are required with a dense cost (the costs within a "
                             "and within b); or pass a PointCloud.")
        on_gpu = is_cupy(M_or_geometry)  # GPU costs stay there (checked on host copies)
        g_ab = _batch_cost(_host(M_or_geometry), "M_or_geometry")
        nb, n, m = g_ab.shape
        g_aa, g_bb = _batch_cost(_host(M_aa), "M_aa"), _batch_cost(_host(M_bb), "M_bb")
        if g_aa.shape != (nb, n, n):
            raise ValueError(f"`M_aa` must have shape ({nb}, {n}, {n}) for `M_or_geometry` of "
                             f"shape {g_ab.shape}; got {g_aa.shape}.")
        if g_bb.shape != (nb, m, m):
            raise ValueError(f"`M_bb` must have shape ({nb}, {m}, {m}) for `M_or_geometry` of "
                             f"shape {g_ab.shape}; got {g_bb.shape}.")
        same_geom = np.array([np.array_equal(g_ab[q], g_aa[q]) and np.array_equal(g_ab[q], g_bb[q])
                              for q in range(nb)])
        if on_gpu:
            g_ab, g_aa, g_bb = M_or_geometry, M_aa, M_bb
    same = same_geom & _same_weights(_host(a), _host(b), nb)
    r_ab = sinkhorn_batch(a, b, g_ab, eps=eps, **kwargs,
                          _symmetric_mask=same if same.any() else None)
    self_kw = {**{k: v for k, v in kwargs.items() if k not in ("f0", "g0", "plan")},
               "symmetric": True}
    r_aa = sinkhorn_batch(a, a, g_aa, eps=eps, **self_kw)
    r_bb = sinkhorn_batch(b, b, g_bb, eps=eps, **self_kw)
    value = r_ab.objective - 0.5 * r_aa.objective - 0.5 * r_bb.objective
    value = np.where(same, 0.0, value)
    return SinkhornDivergenceResult(
        value=value, ot_ab=r_ab, ot_aa=r_aa, ot_bb=r_bb,
        converged=r_ab.converged & r_aa.converged & r_bb.converged, eps=eps,
        info={"backend": r_ab.backend, "identical_inputs": same, "batch_size": nb,
              "backends": {"ab": r_ab.backend, "aa": r_aa.backend, "bb": r_bb.backend}})


def _host(v):
    """A host copy of a CuPy array; anything else unchanged."""
    from .._array_api import to_host

    return to_host(v) if is_cupy(v) else v


def _same_weights(a, b, nb: int) -> np.ndarray:
    """Per problem: whether a and b are the same weights (None = uniform)."""
    if a is None or b is None:
        return np.full(nb, a is None and b is None)
    try:
        A = np.broadcast_to(np.asarray(a, dtype=np.float64), (nb, np.shape(a)[-1]))
        B_ = np.broadcast_to(np.asarray(b, dtype=np.float64), (nb, np.shape(b)[-1]))
    except (TypeError, ValueError):
        return np.zeros(nb, dtype=bool)
    if A.shape != B_.shape:
        return np.zeros(nb, dtype=bool)
    return np.all(A == B_, axis=1)
