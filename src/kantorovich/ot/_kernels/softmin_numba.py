"""Soft-min, numba CPU online kernels for point clouds: O(n + m) memory, parallel over rows.

Same functions and meaning as :mod:`.softmin_numpy`::

    softmin_pointcloud(x, y, h, eps, p, *, with_mean_cost=False, dtype=None)
    out_i = -eps * log sum_j exp((h_j - |x_i - y_j|^p) / eps)

plus :class:`OnlineSoftmin`, the stateful operator the Sinkhorn loop uses (it remembers the
last output of each row and uses it as the row's shift).

How it is fast and stable
-------------------------
- **Base-2, folded constants.** With ``c = log2(e) / eps`` every term is ``2^t`` with
  ``t_ij = c h_j - c C_ij + o_i``: ``c h_j`` is formed once per half-step; for d = 2 the
  coordinates are stored scaled by ``sqrt(c)`` (p = 2; by ``c`` for p = 1), so ``c C_ij`` is
  ``t0^2 + t1^2`` of exact differences of the scaled, centred coordinates (one mul + one FMA)
  and feeds an ``exp2`` directly.
- **Own vectorisable exp2** (numba has no vector ``exp`` without Intel SVML): ``t = k + r``
  with ``k = rint(t)`` (one ``roundeven`` instruction), ``|r| <= 1/2``; ``2^r = 1 + r q(r)``,
  a degree-11 polynomial fitted for the relative error (float64: 1.9e-16 measured; degree 5 in
  float32: 2.2e-7); ``2^k`` is the bit pattern of ``k + 1.5 * 2^52 + 1023`` shifted left by 52
  (float32: ``+ 1.5 * 2^23 + 127``, by 23), and the clamp of ``k`` to ``[-1000, 1000]``
  (float32 ``[-126, 100]``) is an integer min/max on those bits (bit patterns of positive
  doubles are ordered), so no float-to-int conversion and no FP clamp: per float64 entry 14
  FMA-pipe operations (docs/sinkhorn.md counts the floor).
- **Known shift, no running max** (the GPU trick): row ``i`` is shifted by ``o_i = c f_i``,
  ``f`` the previous output of this row (Sinkhorn's previous potential), so the sum ``S_i`` is
  near 1 and ``out_i = f_i - eps ln S_i``; the loop is branch-free. A row whose ``S_i`` leaves
  the safe window (``2^-500 .. 2^999`` in float64, ``2^-60 .. 2^99`` in float32: terms clamped
  at the window edges would then matter) is recomputed by the **safe path**: a first pass for
  the row maximum, then the sum of ``2^(t - max)`` (every term <= 1, the largest exactly 1).
  The first call (no previous output) takes the safe path for every row.
- **float32 path** (``dtype=float32``): coordinates, ``c h`` and the shift in float32, terms
  summed in float32 within tiles of 512 columns, tile sums and the log in float64; 16 lanes per
  AVX-512 instruction. Accuracy is limited by the float32 exponent ``t`` (absolute error about
  ``|c h| * 6e-8``), i.e. about ``1e-6 .. 1e-4 * eps`` on the soft-min at eps = 1e-2 .. 1e-4 of
  unit-scale costs; the float64 path agrees with the numpy reference to ~1e-15 relative.
- Rows are split over threads (``prange`` over chunks of rows); memory beside the inputs is one
  tile buffer per chunk. The fast kernels take p = 2 and p = 1 (``|x - y|``: one vector sqrt
  more per entry); other p and the row-softmax mean of ``C`` (used once per
  solve for ``<P, C>``) use a float64 two-pass kernel (max, then sum) with the same exp.
- ``-inf`` entries of ``h`` (zero weights) are replaced by a large finite negative number
  before the kernel, so ``fastmath`` (which assumes finite values) is safe.
- **Small problems keep the kernel matrix** (float64, n m <= 2^16, c max C <= 450): a
  half-step is ``out_i = -(H + log2 sum_j K_ij w_j) / c`` with ``K = 2^(-c C)`` built once
  per eps, ``w_j = 2^(c h_j - H)``: 0.6 us instead of 3.4 us at 64 x 64 (see the block before
  the entry points, and docs/sinkhorn.md "Small problems: the kernel matrix").

The clouds are centred (the common mean subtracted: the cost is translation invariant), so large
``|x|`` costs no accuracy in the differences. Compiled with ``cache=True``; the first call in a
fresh environment compiles for a few seconds.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.core.errors import TypingError
from numba.extending import intrinsic, overload

from ..._parallel import parallel_kernel
from ._simd import wide_vectors
from ..._constants import FASTMATH as _FM
from ..._constants import LOG2E as _LOG2E
from ..._constants import NEG_BIG as _NEG_BIG
from ..._constants import NEG_BIG32 as _NEG_BIG32

__all__ = ["OnlineSoftmin", "softmin_pointcloud", "warmup"]

_TILE = 512
# window of the shifted sum S_i outside which a row is recomputed by the safe (max) path
_WIN64 = (2.0 ** -500, 2.0 ** 999)
_WIN32 = (2.0 ** -60, 2.0 ** 99)


def _bits_of(x: float, dt) -> int:
    return int(np.array([x], dtype=dt).view(np.int64 if dt == np.float64 else np.int32)[0])


# Exponent bits: with M = 1.5 * 2^52 + 1023 (float64; 1.5 * 2^23 + 127 in float32) and k = rint(t),
# k + M is exact for |k| < 2^51 and its low mantissa bits hold k + bias as an integer, so its
# bits shifted left by 52 (23) are the bits of 2^k: no float-to-int conversion. (k is rounded
# first, by one roundeven instruction; rounding t + M directly would break ties the other way.)
# Bit patterns of positive doubles are ordered like their values, so clamping the bits of k + M
# (integer min/max) clamps k to [-LIM, LIM] for every finite t (k + M < 0 or |k| >= 2^51 land
# on the clamp too); r = t - k keeps |r| <= 1/2. This replaces the FP clamp of t.
_MAGIC64 = 1.5 * 2.0 ** 52 + 1023.0
_MAGIC32 = float(np.float32(1.5 * 2.0 ** 23 + 127.0))
_KLIM64 = (_bits_of(_MAGIC64 - 1000.0, np.float64), _bits_of(_MAGIC64 + 1000.0, np.float64))
_KLIM32 = (_bits_of(_MAGIC32 - 126.0, np.float32), _bits_of(_MAGIC32 + 100.0, np.float32))


def _pow2_magic_codegen(width, lim):
    def codegen(context, builder, signature, args):
        from llvmlite import ir

        ity = ir.IntType(width)
        lo, hi = ir.Constant(ity, lim[0]), ir.Constant(ity, lim[1])
        b = builder.bitcast(args[0], ity)
        b = builder.select(builder.icmp_signed("<", b, lo), lo, b)
        b = builder.select(builder.icmp_signed(">", b, hi), hi, b)
        b = builder.shl(b, ir.Constant(ity, 52 if width == 64 else 23))
        return builder.bitcast(b, args[0].type)
    return codegen


@intrinsic
def _pow2_magic_f64(typingctx, s):
    """2**k for s = t + _MAGIC64, k = rint(t) clamped to [-1000, 1000] (on the bits)."""
    return types.float64(types.float64), _pow2_magic_codegen(64, _KLIM64)


@intrinsic
def _pow2_magic_f32(typingctx, s):
    """2**k for s = t + _MAGIC32, k = rint(t) clamped to [-126, 100] (on the bits)."""
    return types.float32(types.float32), _pow2_magic_codegen(32, _KLIM32)


@intrinsic
def _rint(typingctx, x):
    """Round to nearest even (``llvm.roundeven``: one vector instruction, vectorises)."""
    def codegen(context, builder, signature, args):
        from llvmlite import ir

        fnty = ir.FunctionType(args[0].type, [args[0].type])
        fn = builder.module.declare_intrinsic("llvm.roundeven", [args[0].type], fnty)
        return builder.call(fn, [args[0]])
    return x(x), codegen


@njit(inline="always", fastmath=_FM)
def _exp2_f64(t):
    """2**t, t clamped to [-1000, 1000]; relative error 1.6e-16.

    ``t = k + r``, ``k = rint(t)``, ``|r| <= 1/2``; ``2^r = 1 + r q(r)`` with q of degree 10
    (weighted least squares for the relative error at 400 Chebyshev nodes, 50-digit arithmetic:
    4e-17 before rounding); ``2^k`` from the bits of ``t + M`` (see ``_MAGIC64``). Per term:
    1 add, 1 round, 1 sub, 2 integer clamps, 1 shift, 11 FMA, 1 mul (fused with the caller's
    accumulation)."""
    k = _rint(t)
    s = _pow2_magic_f64(k + _MAGIC64)  # k + M is exact: the same rounding as r
    r = t - k
    q = 4.4307278984014654e-10
    q = q * r + 7.073810155099862e-09
    q = q * r + 1.0178229258049394e-07
    q = q * r + 1.3215435106247474e-06
    q = q * r + 1.5252733412140717e-05
    q = q * r + 0.00015403530457518835
    q = q * r + 0.0013333558146874727
    q = q * r + 0.009618129107593736
    q = q * r + 0.05550410866481954
    q = q * r + 0.24022650695910133
    q = q * r + 0.6931471805599453
    return s * (q * r + 1.0)


@njit(inline="always", fastmath=_FM)
def _exp2_f32(t):
    """2**t in float32, t clamped to [-126, 100]; relative error 2.2e-7 (degree 5)."""
    k = _rint(t)
    s = _pow2_magic_f32(k + np.float32(_MAGIC32))
    r = t - k
    q = np.float32(0.0013390863364671234)
    q = q * r + np.float32(0.009676031918322054)
    q = q * r + np.float32(0.05550357114219078)
    q = q * r + np.float32(0.2402210748530834)
    q = q * r + np.float32(0.6931471880262288)
    q = q * r + np.float32(1.0000000754548972)
    return s * q


@intrinsic
def _f64_bits(typingctx, x):
    """The bits of a float64 as an int64 (one register move; vectorises)."""
    def codegen(context, builder, signature, args):
        from llvmlite import ir

        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def _bits_f64(typingctx, b):
    """The float64 whose bits are the int64 ``b``."""
    def codegen(context, builder, signature, args):
        from llvmlite import ir

        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.int64), codegen


_MANT = (1 << 52) - 1
_SQRT2_MANT = _bits_of(math.sqrt(2.0), np.float64) & _MANT
_ONE_BITS = _bits_of(1.0, np.float64)
_HIGH_WORD = -(1 << 32)  # the bits 0xFFFFFFFF00000000 as an int64


@njit(inline="always")
def _log2_pos(x):
    """log2(x) for a positive normal float64 ``x``, within 1 ulp; no call and no branch, so a
    loop over rows vectorises (libm's scalar ``log2`` is a call per row, 3.2 ns each here).

    As FreeBSD's ``__ieee754_log2``: ``x = 2^k m`` with ``m`` in [sqrt(2)/2, sqrt(2)) from the
    bits; ``log m = f - f^2/2 + s (f^2/2 + R(s^2))`` with ``f = m - 1``, ``s = f / (2 + f)`` and
    R of degree 7 (its error below 2^-58.45); ``f - f^2/2`` split into a high part with 32
    trailing zero bits and the rest, each times a split 1/log(2), then added to k with the
    rounding error carried. Any other input (zero, inf, NaN, negative, subnormal) gives a
    number without trapping: callers select it away."""
    b = _f64_bits(x)
    mb = b & _MANT
    big = np.int64(mb > _SQRT2_MANT)  # m >= sqrt(2): halve it, one more in the exponent
    k = np.float64((b >> 52) - 1023 + big)
    f = _bits_f64(mb | (_ONE_BITS - (big << 52))) - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    t1 = w * (3.999999999940941908e-01 + w * (2.222219843214978396e-01
                                              + w * 1.531383769920937332e-01))
    t2 = z * (6.666666666666735130e-01 + w * (2.857142874366239149e-01
                                              + w * (1.818357216161805012e-01
                                                     + w * 1.479819860511658591e-01)))
    hfsq = 0.5 * f * f
    r = s * (hfsq + (t2 + t1))
    hi = _bits_f64(_f64_bits(f - hfsq) & _HIGH_WORD)
    lo = ((f - hi) - hfsq) + r
    val_hi = hi * 1.44269504072144627571e+00  # 1/log(2), high 32 bits
    val_lo = (lo + hi) * 1.67517131648865118353e-10 + lo * 1.44269504072144627571e+00
    w = k + val_hi
    val_lo += (k - w) + val_hi
    return val_lo + w


def row_loop(**options):
    """Marks a row loop: a plain function that numba compiles only as its entry point, a C
    callable with these ``njit`` options (:func:`rows_entries`), which compiled code calls by
    its address and Python never calls.

    Not an ``njit`` function beside the entry point: an entry point that calls an ``njit``
    function links a copy of that function's LLVM module into its own and optimises it again
    there, with fastmath into other machine code that rounds otherwise in the last bits; the
    JIT linker then binds the call to the first definition of the function's symbol loaded into
    the process. Where a process compiled the entry point, that was the separately compiled
    function (compiling a caller compiles its callees first); where it loaded the entry point
    from numba's cache, the entry point's own copy (nothing else is loaded). A compiling and a
    cache-loading process then gave different bits, in every soft-min that runs a row loop
    (docs/sinkhorn.md, "numba's cache and the last bits"). Compiled as the entry point itself,
    a row loop has one definition, the same machine code in every process."""
    def mark(fn):
        fn.jit_options = dict(options)
        return fn
    return mark


@row_loop(error_model="numpy")  # numpy's: a division has no zero test (it vectorises)
def shifted_logs(o, out, fell_back, lo, hi, inv_c, i0, i1):
    """The rows' logs after their shifted sums: for i in i0 .. i1 - 1, where the sum ``out_i``
    lies inside (lo, hi), ``out_i = (o_i - log2 out_i) inv_c`` and ``fell_back_i = 0``; else
    ``out_i`` is kept and ``fell_back_i = 1`` (the caller's safe path redoes the row). Returns
    how many rows fell back. One vectorised loop (:func:`_log2_pos`); no fastmath, so its
    comparisons see NaN. The row loops call it by address (:func:`rows_entries`), never
    inlined: compiled into a row loop, its vectorised body and its scalar remainder rounded
    apart in the last bit (seen in code loaded from numba's cache), so a row's value depended
    on how the rows were split over the threads."""
    wide_vectors()
    n_out = 0
    for i in range(np.uint64(i0), np.uint64(i1)):  # unsigned: no wrap-around test, vectorises
        s = out[i]
        ok = (s > lo) & (s < hi)
        v = (np.float64(o[i]) - _log2_pos(s)) * inv_c
        out[i] = v if ok else s
        fell_back[i] = 0 if ok else 1
        n_out += 0 if ok else 1
    return n_out


def _exp2(t):  # pragma: no cover - typed by the overload below
    raise NotImplementedError


@overload(_exp2, inline="always", jit_options={"fastmath": _FM})
def _exp2_ov(t):
    if t == types.float32:
        return lambda t: _exp2_f32(t)
    return lambda t: _exp2_f64(t)

@njit(inline="always", fastmath=_FM)
def _exp_nonpos(t):
    """exp(t) for t <= 0 via the exp2 above; terms with t < -64 are set to exactly 0."""
    return _exp2_f64(t * _LOG2E) if t > -64.0 else 0.0


@njit(inline="always", fastmath=True)
def _exponents(cost, hs, inv_eps, buf):
    """buf_j = hs_j - cost_j / eps (``buf`` may be ``cost`` itself); returns max_j buf_j."""
    mx = _NEG_BIG
    for j in range(cost.shape[0]):
        v = hs[j] - cost[j] * inv_eps
        buf[j] = v
        mx = max(mx, v)
    return mx


@njit(inline="always", fastmath=True)
def _row_values(xi, yT, hs, inv_eps, p, buf):
    """buf_j = hs_j - |xi - y_j|^p / eps; returns max_j buf_j."""
    _row_costs(xi, yT, p, buf)
    return _exponents(buf, hs, inv_eps, buf)

@row_loop(fastmath=True)
def pc_rows(x, yT, hs, eps, p, out, i0, i1):
    """Rows ``i0 .. i1 - 1`` of :func:`softmin_pc` on one thread (shared with the batched
    solver, as :func:`sq2_shift_rows`)."""
    wide_vectors()
    m = yT.shape[1]
    inv_eps = 1.0 / eps
    buf = np.empty(m, dtype=np.float64)
    for i in range(i0, i1):
        mx = _row_values(x[i], yT, hs, inv_eps, p, buf)
        s = 0.0
        for j in range(m):
            s += _exp_nonpos(buf[j] - mx)
        out[i] = -eps * (mx + math.log(s))


@parallel_kernel
@njit(parallel=True, cache=True)
def softmin_pc(rows, x, yT, hs, eps, p, out, n_chunks):
    """``rows``: the address of :func:`pc_rows`'s entry point (:func:`rows_entries`)."""
    n = x.shape[0]
    for c in prange(n_chunks):
        call_pc(rows, x, yT, hs, eps, p, out, c * n // n_chunks, (c + 1) * n // n_chunks)
    return out


@row_loop(fastmath=True)
def pc_mean_rows(x, yT, hs, eps, p, out, mean, i0, i1):
    """Rows ``i0 .. i1 - 1`` of :func:`softmin_pc_mean` on one thread (shared with the batched
    solver, as :func:`sq2_shift_rows`)."""
    wide_vectors()
    m = yT.shape[1]
    inv_eps = 1.0 / eps
    buf = np.empty(m, dtype=np.float64)
    cost = np.empty(m, dtype=np.float64)
    for i in range(i0, i1):
        # the row's costs kept beside the exponents (as _row_values computes both): C_ij
        # recovered as (hs_j - v_j) eps cancels where |hs_j| >> C_ij / eps (eps large against
        # the costs: 3e-6 relative at eps = 1e12 C, every digit at 1e300)
        _row_costs(x[i], yT, p, cost)
        mx = _exponents(cost, hs, inv_eps, buf)
        s = 0.0
        sc = 0.0
        for j in range(m):
            w = _exp_nonpos(buf[j] - mx)
            s += w
            sc += w * cost[j]
        out[i] = -eps * (mx + math.log(s))
        mean[i] = sc / s


@parallel_kernel
@njit(parallel=True, cache=True)
def softmin_pc_mean(rows, x, yT, hs, eps, p, out, mean, n_chunks):
    """``rows``: the address of :func:`pc_mean_rows`'s entry point (:func:`rows_entries`)."""
    n = x.shape[0]
    for c in prange(n_chunks):
        call_pc_mean(rows, x, yT, hs, eps, p, out, mean, c * n // n_chunks, (c + 1) * n // n_chunks)
    return out, mean

# Column indices are unsigned (np.uint64) in the tiled loops below: numba then emits no
# negative-index wrap-around, LLVM sees unit-stride loads and vectorises (no gathers), and no
# array views are created (a view's reference count is an atomic shared by all threads).

@njit(inline="always", fastmath=_FM)
def _sq_tile(xi, YT, j0, w, c, root, buf):
    """buf[:w] = c |xi - y_j|^2 (c |xi - y_j| when ``root``) for the columns j0 .. j0 + w - 1."""
    d = YT.shape[0]
    xk = xi[0]
    for jj in range(w):
        t = xk - YT[0, j0 + jj]
        buf[jj] = t * t
    for k in range(1, d):
        xk = xi[k]
        for jj in range(w):
            t = xk - YT[k, j0 + jj]
            buf[jj] += t * t
    if root:
        for jj in range(w):
            buf[jj] = c * math.sqrt(buf[jj])
    else:
        for jj in range(w):
            buf[jj] *= c


@njit(inline="always", fastmath=_FM)
def _row_safe(xi, YT, hc, c, root, buf, neg):
    """Safe path for one row: (M, S) with M = max_j (hc_j - c C_ij), S = sum_j 2^(v_j - M)."""
    m = np.uint64(YT.shape[1])
    T = np.uint64(_TILE)
    mx = neg
    for j0 in range(np.uint64(0), m, T):
        w = min(m - j0, T)
        _sq_tile(xi, YT, j0, w, c, root, buf)
        for jj in range(w):
            mx = max(mx, hc[j0 + jj] - buf[jj])
    s = 0.0
    for j0 in range(np.uint64(0), m, T):
        w = min(m - j0, T)
        _sq_tile(xi, YT, j0, w, c, root, buf)
        st = mx - mx
        for jj in range(w):
            st += _exp2((hc[j0 + jj] - buf[jj]) - mx)
        s += st
    return mx, s


@row_loop(fastmath=_FM)
def sq_shift_rows(X, YT, hc, c, root, o, have_shift, lo, hi, neg, inv_c, out, fell_back, i0, i1,
                  logs):
    """Rows ``i0 .. i1 - 1`` of :func:`softmin_sq_shift` on one thread (shared with the batched
    solver, as :func:`sq2_shift_rows`); ``logs``: the address of :func:`shifted_logs`'s entry
    point."""
    wide_vectors()
    m = np.uint64(YT.shape[1])
    T = np.uint64(_TILE)
    buf = np.empty(_TILE, dtype=hc.dtype)
    if have_shift:  # the shifted sums first (held in ``out``), the logs after, as sq2_shift_rows
        for i in range(i0, i1):
            xi = X[i]
            r = o[i]
            s = 0.0
            for j0 in range(np.uint64(0), m, T):
                w = min(m - j0, T)
                _sq_tile(xi, YT, j0, w, c, root, buf)
                st = r - r
                for jj in range(w):
                    st += _exp2((hc[j0 + jj] + r) - buf[jj])
                s += st
            out[i] = s
        if call_logs(logs, o, out, fell_back, lo, hi, inv_c, i0, i1) == 0:
            return
    for i in range(i0, i1):
        if not have_shift or fell_back[i]:
            mx, s = _row_safe(X[i], YT, hc, c, root, buf, neg)
            out[i] = -(np.float64(mx) + math.log2(s)) * inv_c
            fell_back[i] = 1


@parallel_kernel
@njit(parallel=True, cache=True)
def softmin_sq_shift(rows, logs, X, YT, hc, c, root, o, have_shift, lo, hi, neg, inv_c, out,
                     fell_back, n_chunks):
    """Online soft-min for C = |x - y|^2 (``root`` False) or |x - y| (``root`` True) with a known
    per-row shift (base 2, folded constants).

    ``X`` (n, d), ``YT`` (d, m) centred, ``hc = c h`` (finite), ``c = log2(e)/eps``, ``o = c f``
    (the previous output, used when ``have_shift``). Writes ``out_i = (o_i - log2 S_i)/c``
    and ``fell_back_i = 1`` for the rows that took the safe path; the rows are split into
    ``n_chunks`` chunks over the threads (``rows``, ``logs``: the addresses of
    :func:`sq_shift_rows`'s and :func:`shifted_logs`'s entry points).
    """
    n = X.shape[0]
    for ch in prange(n_chunks):
        call_sq(rows, X, YT, hc, c, root, o, have_shift, lo, hi, neg, inv_c, out, fell_back,
                ch * n // n_chunks, (ch + 1) * n // n_chunks, logs)
    return out


@njit(inline="always", fastmath=_FM)
def _tile2(x0, x1, Y0, Y1, hc, a, root, j0, w):
    """sum over the columns j0 .. j0 + w - 1 of 2^(hc_j + a - c C_ij), d = 2, in hc's dtype.

    The coordinates come scaled (by sqrt(c) for p = 2, by c for p = 1), so ``c C_ij`` is
    ``t0^2 + t1^2`` (or its square root) of the scaled differences: per entry 2 subtractions,
    1 mul + 1 FMA, 2 adds before the exp2. Two loops (p = 2, p = 1) chosen outside the loop, so
    each vectorises without a select."""
    st = a - a
    if root:
        for jj in range(w):
            j = j0 + jj
            t0 = x0 - Y0[j]
            t1 = x1 - Y1[j]
            st += _exp2((hc[j] + a) - math.sqrt(t0 * t0 + t1 * t1))
    else:
        for jj in range(w):
            j = j0 + jj
            t0 = x0 - Y0[j]
            t1 = x1 - Y1[j]
            st += _exp2((hc[j] + a) - (t0 * t0 + t1 * t1))
    return st


@njit(inline="always", fastmath=_FM)
def _row_safe2(x0, x1, Y0, Y1, hc, root, neg):
    """d = 2 safe path for one row (scaled coordinates): (M, S), as :func:`_row_safe`."""
    m = np.uint64(Y0.shape[0])
    mx = neg
    if root:
        for j in range(m):
            t0 = x0 - Y0[j]
            t1 = x1 - Y1[j]
            mx = max(mx, hc[j] - math.sqrt(t0 * t0 + t1 * t1))
    else:
        for j in range(m):
            t0 = x0 - Y0[j]
            t1 = x1 - Y1[j]
            mx = max(mx, hc[j] - (t0 * t0 + t1 * t1))
    T = np.uint64(_TILE)
    s = 0.0
    for j0 in range(np.uint64(0), m, T):
        s += _tile2(x0, x1, Y0, Y1, hc, -mx, root, j0, min(m - j0, T))
    return mx, s


@row_loop(fastmath=_FM)
def sq2_shift_rows(X0, X1, Y0, Y1, hc, root, o, have_shift, lo, hi, neg, inv_c, out, fell_back,
                   i0, i1, logs):
    """Rows ``i0 .. i1 - 1`` of :func:`softmin_sq2_shift`, on one thread: one compiled row
    loop shared by the single solver's operator and the batched solver
    (:mod:`kantorovich.ot._sinkhorn_batch`), both calling its entry point by address
    (:func:`rows_entries`), so that both round alike; ``logs``: the address of
    :func:`shifted_logs`'s entry point."""
    wide_vectors()
    m = np.uint64(Y0.shape[0])
    T = np.uint64(_TILE)
    if have_shift:  # the shifted sums first (held in ``out``), the logs after: no call and no
        # branch between two rows' exp2 loops (23% less time at n = m = 64)
        for i in range(i0, i1):
            x0 = X0[i]
            x1 = X1[i]
            r = o[i]
            s = 0.0
            for j0 in range(np.uint64(0), m, T):
                s += _tile2(x0, x1, Y0, Y1, hc, r, root, j0, min(m - j0, T))
            out[i] = s
        if call_logs(logs, o, out, fell_back, lo, hi, inv_c, i0, i1) == 0:
            return
    for i in range(i0, i1):
        if not have_shift or fell_back[i]:
            mx, s = _row_safe2(X0[i], X1[i], Y0, Y1, hc, root, neg)
            out[i] = -(np.float64(mx) + math.log2(s)) * inv_c
            fell_back[i] = 1


@parallel_kernel
@njit(parallel=True, cache=True)
def softmin_sq2_shift(rows, logs, X0, X1, Y0, Y1, hc, root, o, have_shift, lo, hi, neg, inv_c, out,
                      fell_back, n_chunks):
    """d = 2 version of :func:`softmin_sq_shift`, coordinates as separate contiguous columns,
    **scaled** by ``sqrt(c)`` (p = 2) or ``c`` (p = 1), so that the scaled squared distance is
    ``c |x_i - y_j|^2`` (its root ``c |x_i - y_j|``): the cost is fused into the exp loop, per
    entry 2 subtractions, 1 mul + 1 FMA, 2 adds, exp2 (11 FMA + 1 fused multiply-accumulate).
    The rows are split into ``n_chunks`` chunks over the threads (``rows``, ``logs``: the
    addresses of :func:`sq2_shift_rows`'s and :func:`shifted_logs`'s entry points)."""
    n = X0.shape[0]
    for ch in prange(n_chunks):
        call_sq2(rows, X0, X1, Y0, Y1, hc, root, o, have_shift, lo, hi, neg, inv_c, out,
                 fell_back, ch * n // n_chunks, (ch + 1) * n // n_chunks, logs)
    return out


# --------------------------------------------------------------------------------------------
# The kernel-matrix path of small problems (n m <= _KMAT_MAX_ENTRIES, float64).
#
# The row loops above spend ~25 vector instructions per entry on the cost and its exp2, every
# half-step. At a fixed eps the factor 2^(-c C_ij) does not change, so a problem whose matrix
# fits in the core's cache keeps it, built once per eps (the second call at that eps: the
# averaged annealing visits each of its levels once), and a half-step is a matrix-vector
# product:
#     out_i = -(H + log2 sum_j K_ij w_j) / c,   K_ij = 2^(-c C_ij),   w_j = 2^(c h_j - H),
# H = max_j c h_j. Every term is then a product of two numbers in (0, 1], so the log-domain
# stabilisation reduces to one maximum per half-step: with c max C <= _KMAT_MAX_EXPONENT
# (450) every K_ij is a normal float64 >= 2^-450, the row's sum is >= K_ij* w_j* = K_ij* with
# j* the argmax of c h (no underflow, no fallback), and the w's exponents are clamped at
# _KMAT_FLOOR = -550 (so every product is normal); a term raised by the clamp adds at most
# m 2^-550 to a sum >= 2^-450, 2^-84 relative at m = 2^16. A problem with c max C above the
# bound (eps below max C / 312) keeps the row loops at that eps. Accuracy: each term's error
# is that of K_ij's and w_j's exp2 (1.6e-16 relative, plus the rounding of c C_ij and
# c h_j - H, as the row loops round c h_j + o_i - c C_ij), one product and the sum's.
_KMAT_MAX_ENTRIES = 1 << 16  # 512 KB per side: both sides' matrices stay in a core's L2
_KMAT_MAX_EXPONENT = 450.0
_KMAT_FLOOR = -550.0


@njit(inline="always", fastmath=_FM)
def _kmat_weights(hc, w):
    """``H = max_j hc_j`` and ``w_j = 2^max(hc_j - H, -550)`` (the kernel-matrix path's
    weights); returns ``H``."""
    m = np.uint64(hc.shape[0])
    top = hc[0]
    for j in range(m):
        top = max(top, hc[j])
    for j in range(m):
        w[j] = _exp2(max(hc[j] - top, _KMAT_FLOOR))
    return top


@njit(inline="always", fastmath=_FM)
def _row_costs(xi, YT, p, buf):
    """``buf_j = |x_i - y_j|^p`` for the columns of ``YT`` (d, m), from the coordinates of
    the row ``xi`` (d,)."""
    d = xi.shape[0]
    m = np.uint64(YT.shape[1])
    xk = xi[0]
    for j in range(m):
        t = xk - YT[0, j]
        buf[j] = t * t
    for k in range(1, d):
        xk = xi[k]
        for j in range(m):
            t = xk - YT[k, j]
            buf[j] += t * t
    if p == 1.0:
        for j in range(m):
            buf[j] = math.sqrt(buf[j])
    elif p != 2.0:
        half = 0.5 * p
        for j in range(m):
            buf[j] = buf[j] ** half


@row_loop(fastmath=_FM, _nrt=False)
def kmat_rows(X, YT, c, p, Kf, i0, i1):
    """``Kf[i m + j] = 2^(-c |x_i - y_j|^p)`` for the rows ``i0 .. i1 - 1`` (``X`` (n, d),
    ``YT`` (d, m), centred); returns ``max c |x_i - y_j|^p`` over them (NaN propagates: the
    caller tests ``<=``)."""
    wide_vectors()
    m = np.uint64(YT.shape[1])
    top = c - c
    for i in range(i0, i1):
        base = np.uint64(i) * m
        _row_costs(X[i], YT, p, Kf[base:base + m])
        for j in range(m):
            Kf[base + j] *= c
        for j in range(m):
            top = max(top, Kf[base + j])
        if top <= _KMAT_MAX_EXPONENT:  # else the caller discards the matrix
            for j in range(m):
                Kf[base + j] = _exp2(-Kf[base + j])
    return top


@row_loop(fastmath=_FM, _nrt=False)
def kmat_sums(Kf, hc, w, o, out, n):
    """The kernel-matrix half-step before its logs: ``H = max_j hc_j``, ``w_j = 2^max(hc_j - H,
    -550)``, ``out_i = sum_j K_ij w_j`` and ``o_i = -H`` for ``i < n`` (the rows' logs then
    give ``out_i = -(H + log2 out_i) / c``). Four rows at a time share the loads of ``w``."""
    wide_vectors()
    m = np.uint64(hc.shape[0])
    top = _kmat_weights(hc, w)
    i = np.uint64(0)
    nn = np.uint64(n)
    while i + np.uint64(4) <= nn:
        b0 = i * m
        b1 = b0 + m
        b2 = b1 + m
        b3 = b2 + m
        s0 = top - top
        s1 = s0
        s2 = s0
        s3 = s0
        for j in range(m):
            wj = w[j]
            s0 += Kf[b0 + j] * wj
            s1 += Kf[b1 + j] * wj
            s2 += Kf[b2 + j] * wj
            s3 += Kf[b3 + j] * wj
        out[i] = s0
        out[i + np.uint64(1)] = s1
        out[i + np.uint64(2)] = s2
        out[i + np.uint64(3)] = s3
        i += np.uint64(4)
    while i < nn:
        b0 = i * m
        s0 = top - top
        for j in range(m):
            s0 += Kf[b0 + j] * w[j]
        out[i] = s0
        i += np.uint64(1)
    for i in range(nn):
        o[i] = -top
    return top


@row_loop(fastmath=_FM, _nrt=False)
def kmat_mean(Kf, hc, w, o, X, YT, p, out, mean, n):
    """:func:`kmat_sums` with the row-softmax mean of the cost: ``out_i = sum_j K_ij w_j`` and
    ``mean_i = sum_j K_ij w_j C_ij / out_i``, ``C_ij = |x_i - y_j|^p`` recomputed from the
    centred coordinates (``X`` (n, d), ``YT`` (d, m)); ``hc`` is overwritten (a row's costs).
    Returns ``H``; the rows' logs follow, as after :func:`kmat_sums`."""
    wide_vectors()
    m = np.uint64(hc.shape[0])
    top = _kmat_weights(hc, w)
    buf = hc
    for i in range(n):
        base = np.uint64(i) * m
        _row_costs(X[i], YT, p, buf)
        s = top - top
        sc = s
        for j in range(m):
            v = Kf[base + j] * w[j]
            s += v
            sc += v * buf[j]
        out[i] = s
        mean[i] = sc / s
        o[i] = -top
    return top


@row_loop(fastmath=_FM, _nrt=False)
def kmat_dense_rows(Cf, n, m, c, transpose, Kf):
    """``K = 2^(-c C)`` from a dense cost (flat row-major ``Cf``, (n, m), entries >= 0) into
    ``Kf``: row-major (n, m), or (m, n) with ``transpose`` (the column soft-min's rows);
    returns ``max c C_ij`` (the caller keeps the matrix where it is <= _KMAT_MAX_EXPONENT)."""
    wide_vectors()
    mu = np.uint64(m)
    nu = np.uint64(n)
    top = c - c
    for i in range(nu):
        base = i * mu
        for j in range(mu):
            top = max(top, c * Cf[base + j])
    if not top <= _KMAT_MAX_EXPONENT:
        return top
    if transpose:
        for i in range(nu):
            base = i * mu
            for j in range(mu):
                Kf[j * nu + i] = _exp2(-(c * Cf[base + j]))
    else:
        for k in range(nu * mu):
            Kf[k] = _exp2(-(c * Cf[k]))
    return top


@row_loop(fastmath=_FM, _nrt=False)
def kmat_dense_mean(Kf, hc, w, o, Cf, out, mean, n):
    """:func:`kmat_mean` for a dense cost (rows of the flat row-major ``Cf``)."""
    wide_vectors()
    m = np.uint64(hc.shape[0])
    top = _kmat_weights(hc, w)
    for i in range(n):
        base = np.uint64(i) * m
        s = top - top
        sc = s
        for j in range(m):
            v = Kf[base + j] * w[j]
            s += v
            sc += v * Cf[base + j]
        out[i] = s
        mean[i] = sc / s
        o[i] = -top
    return top


@row_loop(fastmath=_FM)
def lse2_rows(Cf, n, m, hc, c, inv_c, out):
    """The batched solver's generic soft-min over the rows of a dense cost (flat row-major
    ``Cf``, (n, m)): ``out_i = -(M_i + log2 sum_j 2^(hc_j - c C_ij - M_i)) / c``, ``M_i`` the
    row maximum (finite ``hc``). Unsigned column indices: no negative-index wrap-around, so
    both loops vectorise."""
    wide_vectors()
    mu = np.uint64(m)
    for i in range(n):
        base = np.uint64(i) * mu
        mx = -1.7e308
        for j in range(mu):
            mx = max(mx, hc[j] - c * Cf[base + j])
        s = 0.0
        for j in range(mu):
            s += _exp2_f64((hc[j] - c * Cf[base + j]) - mx)
        out[i] = -(mx + math.log2(s)) * inv_c


# The row loops' entry points: each row loop compiled once, as a C callable (``cfunc``) whose
# body is the row loop itself (:func:`row_loop`), and called by its address, a run-time value,
# by the parallel drivers above, the batched solver's kernel and the single solver's compiled
# iterations. numba links a called ``njit`` function's LLVM module into every caller and
# optimises the whole again there (inlining it, constants propagated, the fastmath reductions
# vectorised anew), so two callers of one row loop need not round alike (seen in the last bits:
# a batch kernel loaded from numba's cache beside row loops compiled in the process), and a
# caller's linked copy of a function need not round as the function compiled alone (a process
# that compiled an entry point ran the one, a process that loaded it from numba's cache the
# other). Called by address, with no separately compiled copy, there is one machine code per
# row loop in every process, whoever calls it.
_V, _V32 = types.float64[::1], types.float32[::1]
_M, _M32 = types.float64[:, ::1], types.float32[:, ::1]
_U8, _B, _F, _F32, _I = types.uint8[::1], types.boolean, types.float64, types.float32, types.int64


def _sq2_sig(v, f):
    return types.void(v, v, v, v, v, _B, v, _B, _F, _F, f, _F, _V, _U8, _I, _I, _I)


def _sq_sig(v, m, f):
    return types.void(m, m, v, f, _B, v, _B, _F, _F, f, _F, _V, _U8, _I, _I, _I)


def _logs_sig(v):
    return types.int64(v, _V, _U8, _F, _F, _F, _I, _I)


_PC_SIG = types.void(_M, _M, _V, _F, _F, _V, _I, _I)
_KMAT_SIG = types.float64(_M, _M, _F, _F, _V, _I, _I)
_KSUMS_SIG = types.float64(_V, _V, _V, _V, _V, _I)
_KMEAN_SIG = types.float64(_V, _V, _V, _V, _M, _M, _F, _V, _V, _I)
_KDENSE_SIG = types.float64(_V, _I, _I, _F, _B, _V)
_KDMEAN_SIG = types.float64(_V, _V, _V, _V, _V, _V, _V, _I)
_PC_MEAN_SIG = types.void(_M, _M, _V, _F, _F, _V, _V, _I, _I)
_LSE2_SIG = types.void(_V, _I, _I, _V, _F, _F, _V)


def entry_point(sig, fn):
    """The entry point of the row loop ``fn`` (:func:`row_loop`) for the signature ``sig``: a C
    callable (``numba.cfunc``) compiled from ``fn`` with its options, or loaded from numba's
    cache; compiled code calls it by its ``.address``."""
    return numba.cfunc(sig, cache=True, **fn.jit_options)(fn)


_ROWS: dict = {}


def rows_entries() -> dict:
    """The row loops' entry points (compiled, or loaded from numba's cache, on first use), C
    callables: ``"sq2"``, ``"sq"``, ``"pc"``, ``"pc_mean"``, ``"logs"`` (float64) and
    ``"sq2_f32"``, ``"sq_f32"``, ``"logs_f32"``, and the kernel-matrix path's ``"kmat"``
    (:func:`kmat_rows`), ``"ksums"`` (:func:`kmat_sums`) and ``"kmean"`` (:func:`kmat_mean`), for
    dense costs ``"kdense"`` (:func:`kmat_dense_rows`) and ``"kdmean"``
    (:func:`kmat_dense_mean`), and the batched solver's generic ``"lse2"`` (:func:`lse2_rows`);
    their ``.address`` is what the callers below take. Each is its row loop compiled with the
    options of its :func:`row_loop` mark (:func:`entry_point`; numba's cache files are named
    after the function: the float64 and float32 entry points of one row loop share a file, by
    signature)."""
    if not _ROWS:
        entry = entry_point
        _ROWS.update(
            sq2=entry(_sq2_sig(_V, _F), sq2_shift_rows),
            sq2_f32=entry(_sq2_sig(_V32, _F32), sq2_shift_rows),
            sq=entry(_sq_sig(_V, _M, _F), sq_shift_rows),
            sq_f32=entry(_sq_sig(_V32, _M32, _F32), sq_shift_rows),
            pc=entry(_PC_SIG, pc_rows), pc_mean=entry(_PC_MEAN_SIG, pc_mean_rows),
            kmat=entry(_KMAT_SIG, kmat_rows), ksums=entry(_KSUMS_SIG, kmat_sums),
            kmean=entry(_KMEAN_SIG, kmat_mean), kdense=entry(_KDENSE_SIG, kmat_dense_rows),
            kdmean=entry(_KDMEAN_SIG, kmat_dense_mean), lse2=entry(_LSE2_SIG, lse2_rows),
            logs=entry(_logs_sig(_V), shifted_logs), logs_f32=entry(_logs_sig(_V32), shifted_logs))
    return _ROWS


def _entry_caller(name, *sigs):
    """``call(address, *args)``: a call of the C callable at ``address`` (a run-time integer,
    so numba's cache holds no address and LLVM sees no body to inline), for the argument types
    of one of ``sigs`` exactly (else a typing error: the C call has no conversions)."""
    @intrinsic
    def call(typingctx, address, *args):
        got = tuple(types.unliteral(t) for t in args)
        sig = next((s for s in sigs if tuple(s.args) == got), None)
        if sig is None:
            raise TypingError(f"{name} entry point: no signature for {got}")

        def codegen(context, builder, signature, llargs):
            from llvmlite import ir

            void = sig.return_type == types.void
            fnty = ir.FunctionType(ir.VoidType() if void else context.get_value_type(sig.return_type),
                                   [context.get_value_type(t) for t in sig.args])
            vals = [builder.extract_value(llargs[1], k) for k in range(len(sig.args))]
            res = builder.call(builder.inttoptr(llargs[0], fnty.as_pointer()), vals)
            return context.get_dummy_value() if void else res
        return sig.return_type(types.intp, types.StarArgTuple.from_types(args)), codegen
    return call


call_sq2 = _entry_caller("sq2_shift_rows", _sq2_sig(_V, _F), _sq2_sig(_V32, _F32))
call_sq = _entry_caller("sq_shift_rows", _sq_sig(_V, _M, _F), _sq_sig(_V32, _M32, _F32))
call_pc = _entry_caller("pc_rows", _PC_SIG)
call_pc_mean = _entry_caller("pc_mean_rows", _PC_MEAN_SIG)
call_logs = _entry_caller("shifted_logs", _logs_sig(_V), _logs_sig(_V32))
call_kmat = _entry_caller("kmat_rows", _KMAT_SIG)
call_ksums = _entry_caller("kmat_sums", _KSUMS_SIG)
call_kmean = _entry_caller("kmat_mean", _KMEAN_SIG)
call_kdense = _entry_caller("kmat_dense_rows", _KDENSE_SIG)
call_kdmean = _entry_caller("kmat_dense_mean", _KDMEAN_SIG)
call_lse2 = _entry_caller("lse2_rows", _LSE2_SIG)


@njit(cache=True, _nrt=False)
def kmat_build(kmat, X, YT, c, p, Kf):
    """Fills ``Kf`` (n m) with ``2^(-c C)`` through the entry point at ``kmat``; returns
    whether the matrix is usable (``max c C <= _KMAT_MAX_EXPONENT``)."""
    return call_kmat(kmat, X, YT, c, p, Kf, X.shape[0] - X.shape[0], X.shape[0]) <= _KMAT_MAX_EXPONENT


@njit(cache=True, _nrt=False)
def kmat_softmin(ksums, logs, Kf, hc, w, o, lo, hi, inv_c, out, fell_back):
    """One kernel-matrix half-step (the sums, then the rows' logs, both by address, as the
    batched solver calls them); returns how many rows' sums left the window ``(lo, hi)`` (none
    where the matrix is usable; the caller then takes the row loops)."""
    n = out.shape[0]
    call_ksums(ksums, Kf, hc, w, o, out, n)
    return call_logs(logs, o, out, fell_back, lo, hi, inv_c, n - n, n)


@njit(cache=True, _nrt=False)
def kmat_softmin_mean(kmean, logs, Kf, hc, w, o, X, YT, p, lo, hi, inv_c, out, mean, fell_back):
    """:func:`kmat_softmin` with the row-softmax mean of the cost (:func:`kmat_mean`)."""
    n = out.shape[0]
    call_kmean(kmean, Kf, hc, w, o, X, YT, p, out, mean, n)
    return call_logs(logs, o, out, fell_back, lo, hi, inv_c, n - n, n)


@njit(cache=True, _nrt=False)
def kmat_build_dense(kdense, Cf, n, m, c, transpose, Kf):
    """:func:`kmat_build` for a dense cost (:func:`kmat_dense_rows` by address)."""
    return call_kdense(kdense, Cf, n, m, c, transpose, Kf) <= _KMAT_MAX_EXPONENT


@njit(cache=True, _nrt=False)
def kmat_softmin_mean_dense(kdmean, logs, Kf, hc, w, o, Cf, lo, hi, inv_c, out, mean, fell_back):
    """:func:`kmat_softmin_mean` for a dense cost (:func:`kmat_dense_mean` by address)."""
    n = out.shape[0]
    call_kdmean(kdmean, Kf, hc, w, o, Cf, out, mean, n)
    return call_logs(logs, o, out, fell_back, lo, hi, inv_c, n - n, n)


def kmat_dense_eligible(n: int, m: int, cmin: float, cmax: float, eps: float) -> bool:
    """Whether a float64 dense problem runs every soft-min of a solve at ``eps`` on the kernel
    matrix (the annealing's levels are larger eps, so smaller ``c max C``): ``0 < n m <=
    _KMAT_MAX_ENTRIES``, costs >= 0 and ``c max C`` within the bound, with a margin of 1e-9
    so that the kernel's own test (``<=`` the bound, :func:`kmat_dense_rows`) always agrees.
    The single solver's ``backend="auto"`` and the batched solver decide with it."""
    return (0 < n * m <= _KMAT_MAX_ENTRIES and cmin >= 0.0
            and _LOG2E / eps * cmax <= _KMAT_MAX_EXPONENT * (1.0 - 1e-9))


def kmat_decide_py(state, c, have_prev):
    """The kernel-matrix path's decision for a call at ``c`` (``state`` = [c of the built
    matrix, its state: 0 none, 1 usable, 2 not, c of the last call]): returns 0 (the row
    loops), 1 (use the built matrix) or 2 (build it for ``c`` first). A matrix is built at the
    first call of a solve (no previous output: the row loops would take their two-pass safe
    path) and at the second consecutive call at one ``c``, not at a single visit (the averaged
    annealing's levels); the matrix of the last ``c`` built is kept."""
    last = state[2]
    state[2] = c
    if c == state[0]:
        return 1 if state[1] == 1.0 else 0
    if c == last or not have_prev:
        return 2
    return 0


kmat_decide = njit(inline="always")(kmat_decide_py)


@njit(fastmath=True, cache=True)
def exp_nonpos_array(t, out):
    wide_vectors()
    for i in range(t.shape[0]):
        out[i] = _exp_nonpos(t[i])
    return out


@njit(fastmath=_FM, cache=True)
def _exp2_loop(t, out):
    wide_vectors()
    for i in range(t.shape[0]):
        out[i] = _exp2(t[i])
    return out


_kernels = {
    "exp2_loop": _exp2_loop, "softmin_pc": softmin_pc, "softmin_pc_mean": softmin_pc_mean,
    "exp_nonpos_array": exp_nonpos_array, "softmin_sq_shift": softmin_sq_shift,
    "softmin_sq2_shift": softmin_sq2_shift,
}


def _build():
    return _kernels


@njit(cache=True, boundscheck=False, _nrt=False)
def shift_inputs(h, c, big, prev, have, hc, o):  # pragma: no cover - numba
    """The shifted kernels' inputs in one pass, into the working-dtype buffers ``hc`` and ``o``:
    ``hc = h c`` with NaN, -inf and values below ``big`` set to ``big``; ``o = prev c`` (zeros
    without a previous output). Returns whether the shift is usable (a previous output, all of
    ``o`` finite). The same roundings as the numpy expressions it replaces (a float64 product,
    then one cast to the working dtype)."""
    # unsigned indices and no short-circuit: both loops vectorise
    for j in range(np.uint64(h.shape[0])):
        v = h[j] * c
        hc[j] = v if (np.isfinite(v) & (v > big)) else big
    if not have:
        o[:] = 0
        return False
    n_bad = 0
    for i in range(np.uint64(o.shape[0])):
        o[i] = prev[i] * c
        n_bad += 0 if np.isfinite(o[i]) else 1
    return n_bad == 0


def _chunks(n: int) -> int:
    return max(1, min(n, 8 * numba.get_num_threads()))


def _centred(x, y):
    """Subtract the common mean of both clouds (the cost is translation invariant)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if y.ndim == 1:
        y = y[:, None]
    n, m = x.shape[0], y.shape[0]
    if n + m == 0:
        return x, y
    mu = (x.sum(axis=0) + y.sum(axis=0)) / (n + m)
    # round the centre to a multiple of the spacing of the largest coordinate, so x - mu is
    # exact for every coordinate in the top binade (no rounding added for far-off clouds)
    top = np.maximum(np.abs(x).max(axis=0, initial=0.0), np.abs(y).max(axis=0, initial=0.0))
    q = np.spacing(top)
    mu = np.where(q > 0, np.round(mu / np.where(q > 0, q, 1.0)) * q, 0.0)
    return x - mu, y - mu


class OnlineSoftmin:
    """Stateful online soft-min ``h -> -eps log sum_j exp((h_j - |x_i - y_j|^p)/eps)`` (CPU).

    Holds the centred clouds in the working layout (``x`` row-major, ``y`` transposed, in
    ``dtype``) and the last output, which is the next call's per-row shift (see the module
    notes): in a Sinkhorn loop the previous potential bounds the row, so the inner loop has no
    running max. Rows whose shifted sum leaves the safe window are redone by the max path;
    ``n_fallback`` counts them (over all calls).

    Parameters
    ----------
    x : (n, d) array, y : (m, d) array, p : float > 0
    dtype : float64 (default) or float32
        Working precision of the p = 2 / p = 1 kernels (other p, and ``with_mean_cost``, run in
        float64).
    kmat : bool, default True
        Take the kernel-matrix path (module notes) where it applies: float64, ``n m <=
        _KMAT_MAX_ENTRIES`` and ``c max C <= _KMAT_MAX_EXPONENT``. False: always the row loops
        (their tests).

    Calling ``op(eps, h, with_mean_cost=False)`` returns ``out`` (n,) float64, or
    ``(out, mean_cost)``. Complexity O(n m d) time, O(n + m) memory.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot._kernels.softmin_numba import OnlineSoftmin
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> op = OnlineSoftmin(x, x, 2.0)
    >>> f = op(1e-3, np.zeros(2))       # first call: safe (max) path for every row
    >>> f = op(1e-3, np.zeros(2))       # then the previous output is the row shift
    >>> bool(np.abs(f).max() < 1e-12), op.n_fallback     # out_i = -eps log(1 + e^(-1/eps))
    (True, 2)
    """

    def __init__(self, x, y, p: float, dtype=np.float64, kmat: bool = True):
        self.p = float(p)
        self.kmat = bool(kmat)
        self.dtype = np.dtype(dtype)
        xc, yc = _centred(x, y)
        self.n, self.m = xc.shape[0], yc.shape[0]
        self._x64 = np.ascontiguousarray(xc)
        self._yT64 = np.ascontiguousarray(yc.T)
        if self.dtype == np.float32:
            self._x = self._x64.astype(np.float32)
            self._yT = self._yT64.astype(np.float32)
        else:
            self._x, self._yT = self._x64, self._yT64
        self._cols_scale = None  # d = 2: scaled coordinate columns, made per scale (eps)
        self._prev: np.ndarray | None = None
        self._fell_back = np.zeros(self.n, dtype=np.uint8)
        self.n_fallback = 0
        self.n_rows = 0
        # the shifted kernels' inputs, refilled by every call (the kernels keep no reference)
        self._hc = np.empty(self.m, dtype=self.dtype)
        self._o = np.empty(self.n, dtype=self.dtype)
        # the kernel-matrix path (float64, n m <= _KMAT_MAX_ENTRIES): the matrix of the last
        # c it was built for, usable or not, and the last call's c (kmat_decide_py)
        self._kf: np.ndarray | None = None
        self._kw: np.ndarray | None = None
        self._kstate = np.array([np.nan, 0.0, np.nan])  # see kmat_decide_py
        self.n_kmat_calls = 0

    def _scaled_cols(self, scale: float):
        """d = 2 coordinate columns times ``scale`` (float64 product, then the working dtype);
        kept while the scale (eps) stays the same."""
        if self._cols_scale != scale:
            x, yT = self._x64 * scale, self._yT64 * scale
            self._cols = tuple(np.ascontiguousarray(v, dtype=self.dtype)
                               for v in (x[:, 0], x[:, 1], yT[0], yT[1]))
            self._cols_scale = scale
        return self._cols

    def _kmat_call(self, c: float, h, rows, mean=None):
        """The kernel-matrix half-step (module notes), where it applies: float64, ``0 < n m <=
        _KMAT_MAX_ENTRIES``, :func:`kmat_decide_py`'s decision, ``c max C <=
        _KMAT_MAX_EXPONENT``; with ``mean`` (the row-softmax mean of the cost, filled in),
        only with a usable matrix already built at ``c``. Returns the output (also the next
        shift, ``self._prev``, without ``mean``), or None where it did not run. The batched
        solver's ``_sm`` and ``_sm_mean`` take the same decisions in the same order."""
        if not self.kmat_applies():
            return None
        st = self._kstate
        if mean is None:
            act = kmat_decide_py(st, c, self._prev is not None)
            if act == 0:
                return None
            if act == 2:
                self.kmat_buffers()
                usable = kmat_build(rows["kmat"].address, self._x64, self._yT64, c, self.p,
                                    self._kf)
                st[0], st[1] = c, 1.0 if usable else 2.0
                if not usable:
                    return None
        elif not (c == st[0] and st[1] == 1.0):
            return None
        hc, o = self._hc, self._o
        shift_inputs(h, c, _NEG_BIG, h, False, hc, o)
        out = np.empty(self.n, dtype=np.float64)
        lo, hi = _WIN64
        if mean is None:
            bad = kmat_softmin(rows["ksums"].address, rows["logs"].address, self._kf, hc,
                               self._kw, o, lo, hi, 1.0 / c, out, self._fell_back)
        else:
            bad = kmat_softmin_mean(rows["kmean"].address, rows["logs"].address, self._kf, hc,
                                    self._kw, o, self._x64, self._yT64, self.p, lo, hi, 1.0 / c,
                                    out, mean, self._fell_back)
        if bad != 0:
            return None  # cannot happen with c max C <= 450 (module notes); the row loops
        self.n_rows += self.n
        self.n_kmat_calls += 1
        if mean is None:
            self._prev = out
        return out

    def kmat_applies(self) -> bool:
        """Whether the kernel-matrix path can run at all (float64, ``0 < n m <=
        _KMAT_MAX_ENTRIES``, not switched off); each call still decides (:meth:`_kmat_call`)."""
        return self.kmat and self.dtype == np.float64 and 0 < self.n * self.m <= _KMAT_MAX_ENTRIES

    def kmat_buffers(self):
        """The kernel-matrix path's matrix (n m) and weights (m), allocated on first use."""
        if self._kf is None:
            self._kf = np.empty(self.n * self.m)
            self._kw = np.empty(self.m)
        return self._kf, self._kw

    def reset(self) -> None:
        """Forget the shift (the next call takes the safe path for every row)."""
        self._prev = None

    def __call__(self, eps: float, h, with_mean_cost: bool = False):
        k, rows = _build(), rows_entries()
        eps = float(eps)
        h = np.asarray(h, dtype=np.float64)
        c = _LOG2E / eps
        mean = np.empty(self.n) if with_mean_cost else None
        out = self._kmat_call(c, h, rows, mean)
        if out is not None:
            return (out, mean) if with_mean_cost else out
        n_chunks = _chunks(self.n)  # (numba's thread count: 1.5 us a call, not on the matrix path)
        if with_mean_cost or self.p not in (1.0, 2.0) or self.n == 0 or self.m == 0:
            hs = h / eps
            hs = np.ascontiguousarray(np.where(np.isfinite(hs) | (hs > 0), hs, _NEG_BIG))
            out = np.empty(self.n, dtype=np.float64)
            if with_mean_cost:  # (``mean``: allocated above)
                k["softmin_pc_mean"](rows["pc_mean"].address, self._x64, self._yT64, hs, eps,
                                     self.p, out, mean, n_chunks)
                return out, mean
            self._prev = out
            return k["softmin_pc"](rows["pc"].address, self._x64, self._yT64, hs, eps, self.p,
                                   out, n_chunks)
        f32 = self.dtype == np.float32
        wdt = self.dtype.type
        big = _NEG_BIG32 if f32 else _NEG_BIG
        hc, o = self._hc, self._o
        prev = self._prev
        have = shift_inputs(h, c, big, h if prev is None else prev, prev is not None, hc, o)
        lo, hi = _WIN32 if f32 else _WIN64
        logs = rows["logs_f32" if f32 else "logs"].address
        out = np.empty(self.n, dtype=np.float64)
        args = (hc, wdt(c), self.p == 1.0, o, have, lo, hi, wdt(-3e38 if f32 else -1e308), 1.0 / c, out,
                self._fell_back, n_chunks)
        if self._x.shape[1] == 2:
            k["softmin_sq2_shift"](rows["sq2_f32" if f32 else "sq2"].address, logs,
                                   *self._scaled_cols(c if self.p == 1.0 else math.sqrt(c)),
                                   *args[:1], *args[2:])
        else:
            k["softmin_sq_shift"](rows["sq_f32" if f32 else "sq"].address, logs, self._x, self._yT,
                                  *args)
        self.n_fallback += int(self._fell_back.sum())
        self.n_rows += self.n
        self._prev = out
        return out


def softmin_pointcloud(x, y, h, eps: float, p: float, *, with_mean_cost: bool = False, dtype=None):
    """Online soft-min ``out_i = -eps log sum_j exp((h_j - |x_i - y_j|^p)/eps)`` (numba, CPU).

    Parameters
    ----------
    x : (n, d) array, y : (m, d) array, h : (m,) array (``-inf`` allowed), eps > 0, p > 0.
    dtype : None/float64 or float32
        Working precision of the p = 2 / p = 1 kernels. None: float64 whatever the input dtype.

    Returns
    -------
    out : (n,) float64, or ``(out, mean_cost)`` when ``with_mean_cost`` (the row-softmax mean
    of ``C_ij``, used for the transport cost ``<P, C>``).

    Stateless: every row takes the safe (max) path; :class:`OnlineSoftmin` keeps the shift.
    Complexity O(n m d) time, O(n + m) extra memory.
    """
    op = OnlineSoftmin(x, y, p, dtype=np.float64 if dtype is None else dtype)
    return op(eps, h, with_mean_cost=with_mean_cost)


def exp_nonpos(t):
    """The kernel's vectorisable ``exp`` for ``t <= 0`` (exposed for tests)."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    return _build()["exp_nonpos_array"](t, np.empty_like(t))


def exp2_array(t):
    """The kernels' vectorisable ``2**t`` (float64 or float32, by the input dtype; for tests)."""
    t = np.ascontiguousarray(t)
    if t.dtype not in (np.float32, np.float64):
        t = t.astype(np.float64)
    return _build()["exp2_loop"](t, np.empty_like(t))


def warmup() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    x = np.zeros((2, 2))
    for dt in (np.float64, np.float32):
        op = OnlineSoftmin(x, x, 2.0, dtype=dt)
        op(1.0, np.zeros(2))
        op(1.0, np.zeros(2))
    softmin_pointcloud(x, x, np.zeros(2), 1.0, 1.0)
    softmin_pointcloud(x, x, np.zeros(2), 1.0, 2.0, with_mean_cost=True)
