"""The envelope gradient of a point-cloud OT_eps on the GPU: one fused CuPy RawKernel per side.

Same meaning as :func:`.grad_numba.grad_envelope` (docs/gradients.md, "GPU backward")::

    out_i = sum_j P_ij p |x_i - y_j|^(p-2) (x_i - y_j),   P_ij = exp((fa_i + gb_j - C_ij)/eps)

with ``fa = f + eps log a``, ``gb = g + eps log b`` and ``C_ij = |x_i - y_j|^p``; the gradient in
y is the same kernel with the roles swapped (rows y, columns x, ``gb`` and ``fa`` exchanged).

The kernel ``grad_rows`` (compiled per dimension D, cost kind and precision, ``--use_fast_math``
in float32 as the soft-min kernels):

- each thread one row i, its point in registers; the columns stream through shared-memory tiles
  of ``(y_j, w_j)``, padded to a multiple of ``CHUNK`` columns with ``w = -1e30`` (their
  terms are exactly 0), so the innermost loop has a constant trip count;
- pre-scaled base-2 logs, as the soft-min: with ``k2 = log2(e)/eps`` and ``s = k2^(1/p)`` the
  points are ``x' = s (x - c)``, ``y' = s (y - c)`` (``c`` the mean of x, so that
  ``x' - y'`` loses no digits when |x| >> |x - y|), ``u_i = fa_i k2``, ``w_j = gb_j k2``, and
  then ``C_ij k2 = |x'_i - y'_j|^p =: C'_ij`` and ``P_ij = 2^(u_i + w_j - C'_ij)``;
- per pair (p = 2): D subtractions, one add, D FMAs, one ``exp2`` and D FMAs into the row's
  accumulators ``sum_j 2^(v_ij) (x'_i - y'_j)``; p = 1 adds an ``rsqrt`` (the coefficient
  ``1/|d|``), other p a ``log2`` and a second ``exp2`` (``|d|^p`` and ``|d|^(p-2)``); for
  p != 2 a pair closer than ``TINY_D`` in every coordinate (where ``|d'|^2`` loses digits) is
  left out and its term added on the host (:func:`tiny_pair_terms`; two instructions per pair);
- float32: the accumulators are float32 over a chunk of ``CHUNK`` = 32 columns, then added to
  float64 ones (relative error of a chunk sum <= 31 u_32 of its absolute sum, u_32 = 2^-24; the
  float64 outer sum adds m/32 u_64): the 32 unrolled columns are float32 only, the flush adds
  one conversion and one float64 add per coordinate. float64: float64 throughout;
- no shift: for the potentials a Sinkhorn solve returns, every ``P_ij <= 1`` (the last
  half-step makes one marginal exact, so ``P_ij <= a_i`` or ``<= b_j``) and no term overflows.
  Where one does (other potentials: ``2^v`` beyond the float's range, 2^128 in float32), the
  row's sum is not finite; the block then redoes its rows with a max pass and a sum shifted by
  ``q_i = ceil(max_j v_ij)``, multiplied back by ``2^q_i`` in float64 (no read back to the host,
  and nothing redone when no row overflowed: one ``__syncthreads_or``);
- split-K over ``grid.y`` when the rows are too few to fill the GPU (the soft-min's
  :func:`.softmin_cupy.launch_splits`); each split writes float64 partial sums, added after.

Nothing n x m is allocated: memory O((n + m) D splits). The host logic
(:func:`envelope_grads`) takes its array module and kernels as arguments: the tests run it with
numpy and :class:`NumpyGradKernels`, a numpy model of the kernel (same grid, tiles, chunks,
arguments). This module imports CuPy only when the CuPy kernel is built.

Floor (docs/gradients.md): one ``exp2`` per pair and per side, as one soft-min half-step has
one per matrix entry: ~4e12 pairs/s on an H100 (132 SMs x 16 MUFU.EX2/clock x 1.98 GHz), which
leaves 8 issued instructions per pair (128 per clock per SM). The float32 kernel at p = 2 issues
3D + 3 per pair plus the chunk flush (5.7 / 9.3 / 12.4 SASS at D = 1 / 2 / 3, checked in
tests/gpu/test_gpu_static.py): D = 1 runs at the exp2 rate, D = 2 at ~1.16x and D = 3 at ~1.55x
its time. The backward pass for x and y is therefore ~2 / 2.3 / 3.1 half-steps at D = 1 / 2 / 3
at best, plus its ~8 launches (the mean of x, two point and two weight preparations, per side
the kernel and the split sum).
"""

from __future__ import annotations

import numpy as np

from ..._array_api import cupy_or_raise
from .._costs import KIND_EUCLIDEAN, KIND_SQEUCLIDEAN, parse_cost
from .softmin_cupy import launch_splits
from ..._constants import LOG2E as _LOG2E

__all__ = ["CupyGradKernels", "NumpyGradKernels", "envelope_grads", "kernel_source", "tile_columns"]

TPB = 256
CHUNK = 32  # columns per float32 partial sum (and the padding unit of a tile)
_SHARED_BYTES = 40 * 1024
NEG = -1.0e30  # log2-weight of a zero weight or a padding column: its 2^v is exactly 0
MAX_POINTS = 2 ** 31 - 1 - TPB
MAX_D_32_REGS = 2  # float32 kernels fit 32 registers without spills up to this D (every p)
#: for p != 2 the kernel leaves out the pairs whose scaled difference ``x'_i - y'_j`` (in its
#: precision) is below this in every coordinate and not 0: there |d'|^2 loses digits (float32
#: flushes squares below 2^-126 to 0 under fast-math, float64 loses them below 2^-1022), which
#: made the term of such a pair 0 or inexact (a unit vector for p = 1). Their terms are added on
#: the host, from the exact difference scaled by a power of two (:func:`tiny_pair_terms`). A pair the
#: kernel keeps has |d'|^2 >= 2^-100 (float32) or 2^-1000 (float64), its squares' lost parts
#: below 2^-26 (2^-75) of it.
TINY_D = {np.dtype(np.float32): 2.0 ** -50, np.dtype(np.float64): 2.0 ** -500}

_SOURCE = r"""
#define D __D__
#define TPB __TPB__
#define TILE __TILE__      /* columns per shared-memory tile, a multiple of CH */
#define CH __CH__          /* columns per float32 partial sum */
#define STRIDE __STRIDE__  /* values per column in shared memory: y'_j, then w_j (padded) */
#define KIND __KIND__
#define BOUNDS __BOUNDS__  /* __launch_bounds__(TPB, 8) in float32 at small D: 32 registers */
#define TINYD __TINYD__    /* 2^-50 (float32) or 2^-500 (float64): see TINY_D */
typedef __REAL__ real;
typedef double acc_t;

__device__ __forceinline__ real ex2(real v) { return __EX2__(v); }
__device__ __forceinline__ real lg2(real v) { return __LG2__(v); }

/* One pass over the columns jb..je of row i: want_max = 0 adds the terms
   2^(arg_ij) |d'|^(p-2) (x'_i - y'_j) (arg_ij = u_i + w_j - |d'|^p, + (p/2 - 1) log2 |d'|^2 for
   the power kind) into acc; want_max = 1 keeps the largest arg_ij in *vmax instead. */
__device__ __forceinline__ void row_pass(
    const real* __restrict__ ys, const real* __restrict__ w, real* sy, int jb, int je,
    const real* xi, real ui, real ph, bool want_max, acc_t* acc, real* vmax)
{
    for (int t0 = jb; t0 < je; t0 += TILE) {
        int cnt = min(TILE, je - t0);
        int pad = (cnt + CH - 1) / CH * CH;
        for (int e = threadIdx.x; e < pad; e += TPB) {
            bool in = e < cnt;
            #pragma unroll
            for (int k = 0; k < D; ++k) sy[e * STRIDE + k] = in ? ys[(size_t)(t0 + e) * D + k] : (real)0;
            sy[e * STRIDE + D] = in ? w[t0 + e] : (real)-1e30;
        }
        __syncthreads();
        for (int c0 = 0; c0 < pad; c0 += CH) {
            real s[D];
            #pragma unroll
            for (int k = 0; k < D; ++k) s[k] = 0;
            real mx = *vmax;
            #pragma unroll
            for (int jj = c0; jj < c0 + CH; ++jj) {
                const real* col = sy + jj * STRIDE;
                real d[D];
                real t = ui + col[D];          /* u_i + w_j */
                #pragma unroll
                for (int k = 0; k < D; ++k) { d[k] = xi[k] - col[k]; }
#if KIND == __KIND_SQ__
                #pragma unroll
                for (int k = 0; k < D; ++k) t = fma(-d[k], d[k], t);
                real arg = t, f = 1;                     /* 2^(u + w - |d'|^2) */
                bool ok = true;
#else
                real sq = 0, big = 0;
                #pragma unroll
                for (int k = 0; k < D; ++k) { sq = fma(d[k], d[k], sq); big = fmax(big, fabs(d[k])); }
                /* |d'| = 0: the subgradient 0; a pair closer than TINYD in every coordinate
                   (where |d'|^2 loses digits) is left to the host (tiny_pair_terms) */
                bool ok = big >= (real)TINYD;
#if KIND == __KIND_EU__
                real rs = rsqrt(sq);                     /* 1 / |d'| */
                real arg = fma(-sq, rs, t), f = rs;
#else
                real L = lg2(sq);
                real arg = fma(ph - 1, L, t - ex2(ph * L)), f = 1;  /* 2^v |d'|^(p-2) */
#endif
#endif
                if (want_max) {
                    if (ok) mx = fmax(mx, arg);
                } else {
                    real e = ok ? ex2(arg) * f : (real)0;
                    #pragma unroll
                    for (int k = 0; k < D; ++k) s[k] = fma(e, d[k], s[k]);
                }
            }
            if (want_max) *vmax = mx;
            else {
                #pragma unroll
                for (int k = 0; k < D; ++k) acc[k] += (acc_t)s[k];
            }
        }
        __syncthreads();
    }
}

extern "C" __global__ void BOUNDS grad_rows(
    const real* __restrict__ xs,   // n x D : x'_i = s (x_i - c)
    const real* __restrict__ u,    // n     : fa_i k2  (-1e30 for zero weights)
    const real* __restrict__ ys,   // m x D : y'_j = s (y_j - c)
    const real* __restrict__ w,    // m     : gb_j k2  (-1e30 for zero weights)
    real ph,                       // p / 2 (KIND power)
    int n, int m, int cols_per_split,
    double fac,                    // p s / k2: the gradient in the unscaled points
    double* __restrict__ part)     // splits x n x D : fac sum_j 2^(v_ij) |d'|^(p-2) (x'_i - y'_j)
{
    __shared__ __align__(16) real sy[TILE * STRIDE];
    int i = blockIdx.x * TPB + threadIdx.x;
    int jb = blockIdx.y * cols_per_split;
    int je = m - jb < cols_per_split ? m : jb + cols_per_split;  /* min(m, jb + cps), no overflow */
    real xi[D];
    #pragma unroll
    for (int k = 0; k < D; ++k) xi[k] = i < n ? xs[(size_t)i * D + k] : (real)0;
    real ui = i < n ? u[i] : (real)-1e30;
    acc_t acc[D];
    #pragma unroll
    for (int k = 0; k < D; ++k) acc[k] = 0;
    real vm = 0;
    row_pass(ys, w, sy, jb, je, xi, ui, ph, false, acc, &vm);
    bool bad = false;
    #pragma unroll
    for (int k = 0; k < D; ++k) bad |= !isfinite(acc[k]);
    /* a term overflowed (potentials far from a solve's: see the module docstring): the block
       redoes its rows with the row's largest exponent as a shift, and keeps the bad rows' sums */
    if (__syncthreads_or(bad && i < n)) {
        vm = (real)-3.0e38;
        row_pass(ys, w, sy, jb, je, xi, ui, ph, true, acc, &vm);
        acc_t redo[D];
        #pragma unroll
        for (int k = 0; k < D; ++k) redo[k] = 0;
        real dummy = 0;
        /* an integer shift q = ceil(max arg) <= 2046: 2^q exactly, as two powers of two built
           from their exponent bits (no exp2 call); NaN input keeps its NaN */
        int q = vm == vm ? (int)fmax(fmin(ceil((double)vm), 2046.0), -2044.0) : 0;
        row_pass(ys, w, sy, jb, je, xi, bad ? ui - (real)q : (real)-1e30, ph, false, redo, &dummy);
        if (bad && vm == vm) {
            int q1 = q / 2, q2 = q - q / 2;   /* each in [-1022, 1023] for q in [-2044, 2046] */
            double sc = __longlong_as_double((long long)(q1 + 1023) << 52)
                        * __longlong_as_double((long long)(q2 + 1023) << 52);
            #pragma unroll
            for (int k = 0; k < D; ++k) acc[k] = redo[k] * sc;
        }
    }
    if (i < n) {
        #pragma unroll
        for (int k = 0; k < D; ++k) part[((size_t)blockIdx.y * n + i) * D + k] = acc[k] * fac;
    }
}
"""

_modules: dict = {}


def stride(D: int) -> int:
    """Values per column in shared memory: D coordinates and w, padded to 2 or 4 (one vector
    load per column) when D + 1 <= 4."""
    s = int(D) + 1
    return 2 if s <= 2 else 4 if s <= 4 else s


def tile_columns(D: int, dtype) -> int:
    """Columns per shared-memory tile: TPB, or fewer when a tile would not fit in 40 KiB; a
    multiple of :data:`CHUNK` when at least one chunk fits, else whatever fits (>= 1)."""
    item = np.dtype(dtype).itemsize
    t = max(1, min(TPB, _SHARED_BYTES // (stride(D) * item)))
    return t // CHUNK * CHUNK if t >= CHUNK else t


def chunk_columns(D: int, dtype) -> int:
    return min(CHUNK, tile_columns(D, dtype))


def min_blocks(D: int, dtype) -> int:
    """``__launch_bounds__(TPB, 8)`` (a 32-register budget: 8 blocks of 256 threads per SM) in
    float32 at D <= MAX_D_32_REGS, where every cost kind fits it without spills (NVRTC 12.9
    otherwise gives the D = 2 kernel 40 registers); 0 (the compiler's choice) otherwise."""
    return 8 if np.dtype(dtype) == np.float32 and int(D) <= MAX_D_32_REGS else 0


def kernel_source(D: int, dtype, p: float, minb: int | None = None) -> str:
    """The CUDA C source for dimension ``D``, float32/float64 and the cost ``|x - y|^p``;
    ``minb`` overrides :func:`min_blocks` (0: no ``__launch_bounds__``)."""
    f32 = np.dtype(dtype) == np.float32
    kind = parse_cost(float(p)).kind
    minb = min_blocks(D, dtype) if minb is None else int(minb)
    bounds = f"__launch_bounds__({TPB}, {minb})" if minb > 0 else ""
    return (_SOURCE.replace("__D__", str(int(D))).replace("__TPB__", str(TPB)).replace("__BOUNDS__", bounds)
            .replace("__TILE__", str(tile_columns(D, dtype))).replace("__CH__", str(chunk_columns(D, dtype)))
            .replace("__STRIDE__", str(stride(D))).replace("__KIND__", str(kind))
            .replace("__KIND_SQ__", str(KIND_SQEUCLIDEAN)).replace("__KIND_EU__", str(KIND_EUCLIDEAN))
            .replace("__TINYD__", repr(TINY_D[np.dtype(dtype)]) + ("f" if f32 else ""))
            .replace("__REAL__", "float" if f32 else "double")
            .replace("__EX2__", "exp2f" if f32 else "exp2").replace("__LG2__", "log2f" if f32 else "log2"))


def nvrtc_options(dtype) -> tuple:
    """The module's own NVRTC options (CuPy adds ``-arch``, ``-ftz=true`` ...)."""
    return ("--use_fast_math",) if np.dtype(dtype) == np.float32 else ()


_ELEMENTWISE = {
    # x'_i = s (x_i - c) in the kernel's dtype (x in that dtype already; c, s in float64)
    "points": ("raw T x, raw float64 c, float64 s, int32 dim", "T xs",
               "xs = (T)(((double)x[i] - c[i % dim]) * s);"),
    # u_i = fa_i k2, -1e30 for zero weights (fa <= -1e300; NaN stays NaN)
    "weights": ("float64 fa, float64 k2", "T u", "double v = fa * k2; u = (T)(v < -1e30 ? -1e30 : v);"),
}
_ELEMENTWISE_KERNELS: dict = {}


class CupyGradKernels:
    """The device side of :func:`envelope_grads`: the RawModule's ``grad_rows`` for one
    (D, dtype, p); a call is one asynchronous launch."""

    def __init__(self, D: int, dtype, p: float):
        cp = cupy_or_raise()
        key = (int(D), np.dtype(dtype).str, parse_cost(float(p)).kind)
        if key not in _modules:
            # no -std flag: the source is plain C, and NVRTC's accepted dialects change by version
            _modules[key] = cp.RawModule(code=kernel_source(D, dtype, p), options=nvrtc_options(dtype))
        self._k = _modules[key].get_function("grad_rows")
        for name, (ins, outs, body) in _ELEMENTWISE.items():
            if name not in _ELEMENTWISE_KERNELS:
                _ELEMENTWISE_KERNELS[name] = cp.ElementwiseKernel(ins, outs, body, f"kantorovich_grad_{name}")
            setattr(self, name, _ELEMENTWISE_KERNELS[name])

    def grad_rows(self, grid, xs, u, ys, w, ph, n, m, cps, fac, part):
        self._k(grid, (TPB,), (xs, u, ys, w, xs.dtype.type(ph), np.int32(n), np.int32(m), np.int32(cps),
                               np.float64(fac), part))


class NumpyGradKernels:
    """numpy model of :class:`CupyGradKernels` for the tests: the same grid, splits, tiles and
    chunks (padding included), from the same float32/float64 arguments, computed in float64
    (no fast-math; the float32 rounding of the kernel's arithmetic is not modelled)."""

    def __init__(self, D: int, dtype, p: float):
        self.kind = parse_cost(float(p)).kind
        self.dtype = np.dtype(dtype)
        self.tile, self.chunk = tile_columns(D, dtype), chunk_columns(D, dtype)
        self.max_exp = 128.0 if np.dtype(dtype) == np.float32 else 1024.0
        self.launches: list = []
        self.redone = 0  # rows redone with a shift (a term overflowed)

    def _pass(self, x64, u64, ys, w, ph, jb, je):
        """(sums, largest exponent) of the rows over columns jb..je, tile by tile, chunk by chunk."""
        n, D = x64.shape
        acc, vmax = np.zeros((n, D)), np.full(n, -np.inf)
        for t0 in range(jb, je, self.tile):
            cnt = min(self.tile, je - t0)
            pad = -(-cnt // self.chunk) * self.chunk
            yt, wt = np.zeros((pad, D)), np.full(pad, NEG)
            yt[:cnt], wt[:cnt] = ys[t0:t0 + cnt], w[t0:t0 + cnt]
            for c0 in range(0, pad, self.chunk):
                d = x64[:, None, :] - yt[None, c0:c0 + self.chunk]
                sq = (d * d).sum(-1)
                t = u64[:, None] + wt[None, c0:c0 + self.chunk]
                with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                    if self.kind == KIND_SQEUCLIDEAN:
                        arg, f = t - sq, 1.0
                    elif self.kind == KIND_EUCLIDEAN:
                        arg, f = t - np.sqrt(sq), 1.0 / np.sqrt(sq)
                    else:
                        arg, f = (ph - 1) * np.log2(sq) + t - sq ** ph, 1.0
                    # the kernel's test, on the difference in its precision (tiny_pair_terms)
                    big = np.abs(d.astype(self.dtype)).max(axis=-1)
                    ok = (big >= TINY_D[self.dtype]) | (self.kind == KIND_SQEUCLIDEAN)
                    # the kernel's exp2 overflows at the end of its float's range
                    e = np.where(ok, np.where(arg < self.max_exp, np.exp2(arg), np.inf) * f, 0.0)
                    acc += np.einsum("ij,ijk->ik", e, d)
                vmax = np.maximum(vmax, np.where(ok, arg, -np.inf).max(axis=1))
        return acc, vmax

    def points(self, x, c, s, dim, xs):
        xs[...] = ((x.astype(np.float64) - c) * s).astype(xs.dtype)

    def weights(self, fa, k2, u):
        u[...] = np.where(fa * k2 < NEG, NEG, fa * k2).astype(u.dtype)

    def grad_rows(self, grid, xs, u, ys, w, ph, n, m, cps, fac, part):
        self.launches.append(("grad_rows", grid))
        assert grid[0] * TPB >= n > (grid[0] - 1) * TPB
        assert grid[1] * cps >= m > (grid[1] - 1) * cps and part.shape[0] >= grid[1]
        x64, u64 = xs.astype(np.float64), u.astype(np.float64)
        for k in range(grid[1]):
            jb, je = k * cps, min(m, (k + 1) * cps)
            with np.errstate(invalid="ignore"):
                acc, vmax = self._pass(x64, u64, ys, w, ph, jb, je)
            bad = ~np.isfinite(acc).all(axis=1)
            self.redone += int(bad.sum())
            if bad.any():  # the kernel's fallback: integer shift q = ceil(max exponent)
                q = np.minimum(np.ceil(vmax[bad]), 2046.0)
                redo, _ = self._pass(x64[bad], u64[bad] - q, ys, w, ph, jb, je)
                acc[bad] = redo * np.exp2(q)[:, None]
            part[k] = acc * fac


def _prep(xp, k, x, y, fa, gb, eps, p, dtype):
    """The kernel's arguments for both sides: the points scaled and centred (on the mean of x),
    the base-2 log-weights, in ``dtype`` (two fused launches per side, ``k.points`` and
    ``k.weights``); and the output factor ``p s / k2``."""
    k2 = _LOG2E / eps
    s = k2 ** (1.0 / p)
    c = x.mean(axis=0, dtype=np.float64)
    D = int(x.shape[1])
    xs, ys = xp.empty(x.shape, dtype=dtype), xp.empty(y.shape, dtype=dtype)
    u, w = xp.empty(fa.shape, dtype=dtype), xp.empty(gb.shape, dtype=dtype)
    for src, dst in ((x, xs), (y, ys)):
        k.points(xp.ascontiguousarray(src), c, np.float64(s), np.int32(D), dst)
    k.weights(fa, np.float64(k2), u)
    k.weights(gb, np.float64(k2), w)
    return xs, ys, u, w, p * s / k2  # d|d|^p/dd = p |d|^(p-2) d, in the scaled points


def envelope_grads(x, y, fa, gb, eps, p, need_x=True, need_y=True, *, xp=None, kernels=None,
                   n_sm: int | None = None):
    """``(gx, gy)`` of :func:`kantorovich._autodiff.pointcloud_grads` (None where not needed),
    float64 on the device of ``x``: one :func:`grad_rows` launch per side (plus the split sum).

    ``x``, ``y``: the points in the input's dtype (float32 runs the float32 kernel, anything
    else float64); ``fa``, ``gb``: float64 ``f + eps log a``, ``g + eps log b`` (zero weights
    <= -1e300). ``xp``, ``kernels``, ``n_sm``: the array module, a kernels factory
    ``(D, dtype, p) -> kernels`` (:class:`CupyGradKernels` or :class:`NumpyGradKernels`) and the
    SM count; the defaults are CuPy's.
    """
    from .softmin_cupy import _sm_count

    cp = cupy_or_raise() if xp is None else xp
    dtype = np.dtype(np.float32) if np.dtype(x.dtype) == np.float32 else np.dtype(np.float64)
    n, D = int(x.shape[0]), int(x.shape[1])
    m = int(y.shape[0])
    if max(n, m) > MAX_POINTS:  # int n, m and int row indices in the kernel
        raise ValueError(f"the CuPy gradient pass takes at most {MAX_POINTS} points per side; got {n} and {m}.")
    k = (CupyGradKernels if kernels is None else kernels)(D, dtype, float(p))
    n_sm = (_sm_count(cp) if xp is None else 132) if n_sm is None else int(n_sm)
    xs, ys, u, w, fac = _prep(cp, k, x, y, fa, gb, float(eps), float(p), dtype)

    def side(rows, us, cols, ws):
        nr, nc = int(rows.shape[0]), int(cols.shape[0])
        ns, cps = launch_splits(TPB, nr, nc, n_sm)
        part = cp.empty((ns, nr, D), dtype=np.float64)
        k.grad_rows(((nr + TPB - 1) // TPB, ns), rows, us, cols, ws, float(p) / 2, nr, nc, cps, fac, part)
        return part[0] if ns == 1 else part.sum(axis=0)

    gx = side(xs, u, ys, w) if need_x else None
    gy = side(ys, w, xs, u) if need_y else None
    if parse_cost(float(p)).kind != KIND_SQEUCLIDEAN:  # p = 2: no |d'|^(p-2) factor
        gx, gy = _add_tiny_pairs(cp, xs, u, ys, w, float(p), fac, dtype, gx, gy)
    return gx, gy


def _small_rows(xp, v, dtype):
    """Rows of the scaled points ``v`` with a coordinate that is not 0 and below
    ``TINY_D 2^(nmant + 2)`` in magnitude: a pair closer than ``TINY_D`` in every coordinate
    and not coincident has such a coordinate on one side at least (two floats that differ and
    one of which is larger are at least ``TINY_D`` apart)."""
    bound = TINY_D[np.dtype(dtype)] * 2.0 ** (np.finfo(dtype).nmant + 2)
    a = xp.abs(v)
    return xp.any((a > 0) & (a < bound), axis=1)


def _add_tiny_pairs(xp, xs, u, ys, w, p, fac, dtype, gx, gy):
    """``(gx, gy)`` with the terms of the pairs the kernel leaves out (``TINY_D``) added: none
    on almost every call, found by one reduction over the points and one flag read back; where
    there are some, computed on the host (:func:`tiny_pair_terms`) and added on the device."""
    sx, sy = _small_rows(xp, xs, dtype), _small_rows(xp, ys, dtype)
    if not bool(xp.logical_or(sx.any(), sy.any())):
        return gx, gy
    host = (lambda a: a.get()) if hasattr(xs, "get") else np.asarray
    xh, uh, yh, wh, sxh, syh = (host(a) for a in (xs, u, ys, w, sx, sy))
    if gx is not None:
        t = np.zeros(gx.shape)
        tiny_pair_terms(xh, uh, yh, wh, p, fac, sxh, syh, t)
        gx = gx + xp.asarray(t)
    if gy is not None:
        t = np.zeros(gy.shape)
        tiny_pair_terms(yh, wh, xh, uh, p, fac, syh, sxh, t)
        gy = gy + xp.asarray(t)
    return gx, gy


def tiny_pair_terms(rows, us, cols, ws, p, fac, small_r, small_c, out):
    """Add to ``out`` (numpy float64, one row per row point) the kernel's terms
    ``fac 2^(u_i + w_j - |d'|^p) |d'|^(p-2) d'`` of the pairs ``d' = rows_i - cols_j`` that it
    leaves out: not 0, and below ``TINY_D`` in every coordinate in the points' precision (the
    kernel's test). Computed in float64 from the exact difference scaled by 2^100 (float32)
    or 2^600 (:func:`kantorovich._autodiff._tiny_factor`, as the CPU passes do), where
    nothing under- or overflows. Only the candidate rows and columns (``small_r``, ``small_c``:
    :func:`_small_rows`) are searched, by blocks of about 2^16 pairs."""
    from ..._autodiff import _candidate_pairs, _tiny_factor

    tiny = TINY_D[np.dtype(rows.dtype)]
    # |d'| in [2^-149, 2^-50) (float32) or [2^-1074, 2^-500): scaled by 2^100 or 2^600, its
    # square neither under- nor overflows float64
    shift = 100 if np.dtype(rows.dtype) == np.float32 else 600
    for i, j in _candidate_pairs(np.flatnonzero(small_r), np.flatnonzero(small_c),
                                 rows.shape[0], cols.shape[0]):
        dk = rows[i] - cols[j]  # in the points' precision, as the kernel forms it
        keep = (np.abs(dk).max(axis=1) < tiny) & np.any(dk != 0, axis=1)
        if not keep.any():
            continue
        i, j = i[keep], j[keep]
        up = np.ldexp(rows[i].astype(np.float64) - cols[j].astype(np.float64), shift)
        kf, C = _tiny_factor(np, up, p, shift)  # kf up = p |d'|^(p-2) d', C = |d'|^p
        with np.errstate(over="ignore"):
            e = np.exp2(us[i].astype(np.float64) + ws[j].astype(np.float64) - C) * kf * (fac / p)
        np.add.at(out, i, np.where(up != 0.0, e[:, None] * up, 0.0))
