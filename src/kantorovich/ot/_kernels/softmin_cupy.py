"""Soft-min, CuPy RawKernel (CUDA C) fused online kernels for point clouds: the GPU fast path.

Same meaning as :mod:`.softmin_numpy`::

    out_i = -eps * log sum_j exp((h_j - |x_i - y_j|^p) / eps)

Two kernels, compiled per (dimension D, precision) with ``--use_fast_math``:

``softmin_shift`` (squared Euclidean, the fast path; PERF_NOTES's recipe)
    - known shift instead of a running max: row ``i`` is shifted by ``sigma_i = -f_prev_i k2``
      (base 2, the previous output of the same soft-min), so the inner loop is branch-free;
    - constants folded once per call: ``k2 = log2(e)/eps``, per column
      ``w_j = (h_j - |y_j|^2) k2``, per row ``u_i = -|x_i|^2 k2 - sigma_i`` and ``2 k2 x_i``;
      each entry is then D FMAs, one add and one ``exp2f``;
    - the clouds are centred (by the mean of both) before the expansion
      ``|x|^2 + |y|^2 - 2 x.y`` so it does not lose digits when |x| >> |x - y|;
    - two rows per thread (instruction-level parallelism), tiles of (w, y) in shared memory;
    - split-K over ``grid.y`` when the rows are too few to fill the GPU; partial sums are
      added with one small reduction (all splits share the same shift).
    The shift can be wrong (first call, a changed eps): rows whose sum over- or underflowed
    are detected (``!isfinite(S) || S == 0``) and the call falls back to ``softmin_safe``.

``softmin_safe`` (any p, and the cost-weighted mean for ``<P, C>``)
    running max and sum per row, exact differences; also split-K with a (max, sum, csum)
    combine.

Nothing n x m is ever allocated: memory is O((n + m) (D + splits)).
This module imports CuPy; it is imported only by the "cuda" backend.
"""

from __future__ import annotations

import numpy as np

from ..._array_api import cupy_or_raise

__all__ = ["OnlineSoftmin", "softmin_pointcloud", "kernel_source"]

_LOG2E = 1.4426950408889634
TPB = 256
_SHARED_BYTES = 40 * 1024
# int n, m and int row / column indices in the kernels (2 rows per thread: i0 < n + 2 TPB);
# offsets into the (n, D) / (splits, n) arrays are computed in size_t
MAX_POINTS = 2 ** 31 - 1 - 2 * TPB

_SOURCE = r"""
#define D __D__
#define TPB __TPB__
#define TILE __TILE__   /* columns per shared-memory tile (< TPB only for large D) */
typedef __REAL__ real;

__device__ __forceinline__ real ex2(real v) { return __EX2__(v); }
__device__ __forceinline__ real lg2(real v) { return __LG2__(v); }

extern "C" __global__ void softmin_shift(
    const real* __restrict__ xs,   // n x D : 2 k2 x_i (centred)
    const real* __restrict__ u,    // n     : -|x_i|^2 k2 - sigma_i
    const real* __restrict__ yc,   // m x D : y_j (centred)
    const real* __restrict__ w,    // m     : (h_j - |y_j|^2) k2   (-1e30 for zero weights)
    int n, int m, int cols_per_split,
    real* __restrict__ part)       // splits x n : partial sums of 2^(v_ij - sigma_i)
{
    __shared__ real sy[TILE * D];
    __shared__ real sw[TILE];
    int i0 = 2 * (blockIdx.x * TPB + threadIdx.x);
    int i1 = i0 + 1;
    int jb = blockIdx.y * cols_per_split;
    int je = m - jb < cols_per_split ? m : jb + cols_per_split;  /* min(m, jb + cps), no overflow */
    real xa[D], xb[D];
    real ua = 0, ub = 0;
    #pragma unroll
    for (int k = 0; k < D; ++k) {
        xa[k] = i0 < n ? xs[(size_t)i0 * D + k] : (real)0;
        xb[k] = i1 < n ? xs[(size_t)i1 * D + k] : (real)0;
    }
    if (i0 < n) ua = u[i0];
    if (i1 < n) ub = u[i1];
    real sa = 0, sb = 0;
    for (int t0 = jb; t0 < je; t0 += TILE) {
        int cnt = min(TILE, je - t0);
        for (int e = threadIdx.x; e < cnt * D; e += TPB) sy[e] = yc[(size_t)t0 * D + e];
        for (int e = threadIdx.x; e < cnt; e += TPB) sw[e] = w[t0 + e];
        __syncthreads();
        for (int jj = 0; jj < cnt; ++jj) {
            real va = sw[jj] + ua, vb = sw[jj] + ub;
            #pragma unroll
            for (int k = 0; k < D; ++k) {
                real yk = sy[jj * D + k];
                va = fma(xa[k], yk, va);
                vb = fma(xb[k], yk, vb);
            }
            sa += ex2(va);
            sb += ex2(vb);
        }
        __syncthreads();
    }
    if (i0 < n) part[(size_t)blockIdx.y * n + i0] = sa;
    if (i1 < n) part[(size_t)blockIdx.y * n + i1] = sb;
}

extern "C" __global__ void softmin_safe(
    const real* __restrict__ x, const real* __restrict__ y, const real* __restrict__ hs,
    real k2, real p_half, int p_kind, int n, int m, int cols_per_split,
    real* __restrict__ pm, real* __restrict__ ps, real* __restrict__ pc)
{
    __shared__ real sy[TILE * D];
    __shared__ real sh[TILE];
    int i = blockIdx.x * TPB + threadIdx.x;
    int jb = blockIdx.y * cols_per_split;
    int je = m - jb < cols_per_split ? m : jb + cols_per_split;  /* min(m, jb + cps), no overflow */
    real xi[D];
    #pragma unroll
    for (int k = 0; k < D; ++k) xi[k] = i < n ? x[(size_t)i * D + k] : (real)0;
    real mx = (real)-3.0e38, s = 0, sc = 0;
    for (int t0 = jb; t0 < je; t0 += TILE) {
        int cnt = min(TILE, je - t0);
        for (int e = threadIdx.x; e < cnt * D; e += TPB) sy[e] = y[(size_t)t0 * D + e];
        for (int e = threadIdx.x; e < cnt; e += TPB) sh[e] = hs[t0 + e];
        __syncthreads();
        for (int jj = 0; jj < cnt; ++jj) {
            real c = 0;
            #pragma unroll
            for (int k = 0; k < D; ++k) { real d = xi[k] - sy[jj * D + k]; c = fma(d, d, c); }
            if (p_kind == 1) c = sqrt(c);
            else if (p_kind == 2) c = pow(c, p_half);
            real v = sh[jj] - c * k2;
            if (v > mx) { real r = ex2(mx - v); s = s * r + (real)1; sc = sc * r + c; mx = v; }
            else { real e = ex2(v - mx); s += e; sc = fma(e, c, sc); }
        }
        __syncthreads();
    }
    if (i < n) {
        size_t o = (size_t)blockIdx.y * n + i;
        pm[o] = mx; ps[o] = s; pc[o] = sc;
    }
}
"""

_modules: dict = {}


def tile_columns(D: int, dtype) -> int:
    """Columns per shared-memory tile: TPB, or fewer when (D + 1) * TPB values would not fit in
    40 KiB (the static shared-memory limit is 48 KiB per block: D > 39 in float32, D > 19 in
    float64 would not compile with full tiles)."""
    item = np.dtype(dtype).itemsize
    return int(max(1, min(TPB, _SHARED_BYTES // ((int(D) + 1) * item))))


def kernel_source(D: int, dtype) -> str:
    """The CUDA C source for dimension ``D`` and float32/float64 (for inspection and tests)."""
    f32 = np.dtype(dtype) == np.float32
    return (_SOURCE.replace("__D__", str(int(D))).replace("__TPB__", str(TPB))
            .replace("__TILE__", str(tile_columns(D, dtype)))
            .replace("__REAL__", "float" if f32 else "double")
            .replace("__EX2__", "exp2f" if f32 else "exp2").replace("__LG2__", "log2f" if f32 else "log2"))


def _module(D: int, dtype):
    cp = cupy_or_raise()
    key = (int(D), np.dtype(dtype).str)
    if key not in _modules:
        # no -std flag: the source is plain C, and NVRTC's accepted dialects change by version
        opts = ("--use_fast_math",) if np.dtype(dtype) == np.float32 else ()
        _modules[key] = cp.RawModule(code=kernel_source(D, dtype), options=opts)
    return _modules[key]


def _sm_count(cp) -> int:
    try:
        return int(cp.cuda.Device().attributes["MultiProcessorCount"])
    except Exception:
        return 132


def _splits(rows_per_block: int, n: int, m: int, cp) -> int:
    blocks = max(1, -(-n // rows_per_block))
    want = max(1, -(-4 * _sm_count(cp) // blocks))
    return int(max(1, min(want, max(1, m // (4 * TPB)))))


class OnlineSoftmin:
    """Callable ``softmin(eps, h, with_mean_cost=False)`` over ``C_ij = |x_i - y_j|^p`` (CuPy).

    Keeps the centred clouds and the previous output (the known shift of the next call).
    """

    def __init__(self, x, y, p: float):
        cp = cupy_or_raise()
        self.cp = cp
        self.dtype = np.dtype(x.dtype)
        self.p = float(p)
        centre = cp.concatenate([x, y]).mean(axis=0)
        self.x = cp.ascontiguousarray(x - centre)
        self.y = cp.ascontiguousarray(y - centre)
        self.xx = cp.sum(self.x * self.x, axis=1)
        self.yy = cp.sum(self.y * self.y, axis=1)
        self.n, self.D = int(x.shape[0]), int(x.shape[1])
        self.m = int(y.shape[0])
        if max(self.n, self.m) > MAX_POINTS:  # the kernels take int n, m and int row indices
            raise ValueError(f"the CuPy soft-min takes at most {MAX_POINTS} points per side; "
                             f"got {self.n} and {self.m}.")
        self.mod = _module(self.D, self.dtype)
        self.prev = None
        self.n_fallback = 0

    def _safe(self, eps, h, with_mean_cost):
        cp, dt = self.cp, self.dtype
        k2 = _LOG2E / eps
        hs = cp.where(cp.isfinite(h), h * k2, -1e30).astype(dt)
        ns = _splits(TPB, self.n, self.m, cp)
        cps = -(-self.m // ns)
        ns = -(-self.m // cps)
        pm = cp.empty((ns, self.n), dtype=dt)
        ps = cp.empty_like(pm)
        pc = cp.empty_like(pm)
        p_kind = 0 if self.p == 2.0 else (1 if self.p == 1.0 else 2)
        k = self.mod.get_function("softmin_safe")
        k(((self.n + TPB - 1) // TPB, ns), (TPB,),
          (self.x, self.y, hs, dt.type(k2), dt.type(self.p / 2), np.int32(p_kind), np.int32(self.n),
           np.int32(self.m), np.int32(cps), pm, ps, pc))
        M = pm.max(axis=0)
        r = cp.exp2(pm - M[None, :])
        S = (ps * r).sum(axis=0)
        out = -(M + cp.log2(S)) / dt.type(k2)
        if with_mean_cost:
            return out, (pc * r).sum(axis=0) / S
        return out

    def __call__(self, eps: float, h, with_mean_cost: bool = False):
        cp, dt = self.cp, self.dtype
        eps = float(eps)
        h = h.astype(dt, copy=False)
        if with_mean_cost or self.p != 2.0 or self.prev is None:
            out = self._safe(eps, h, with_mean_cost)
            self.prev = out[0] if with_mean_cost else out
            return out
        k2 = dt.type(_LOG2E / eps)
        sigma = -self.prev * k2
        u = (-self.xx * k2 - sigma).astype(dt)
        xs = cp.ascontiguousarray((2 * k2) * self.x, dtype=dt)
        w = cp.where(cp.isfinite(h), (h - self.yy) * k2, -1e30).astype(dt)
        rows_per_block = 2 * TPB
        ns = _splits(rows_per_block, self.n, self.m, cp)
        cps = -(-self.m // ns)
        ns = -(-self.m // cps)
        part = cp.empty((ns, self.n), dtype=dt)
        k = self.mod.get_function("softmin_shift")
        k(((self.n + rows_per_block - 1) // rows_per_block, ns), (TPB,),
          (xs, u, self.y, w, np.int32(self.n), np.int32(self.m), np.int32(cps), part))
        S = part.sum(axis=0)
        bad = ~cp.isfinite(S) | (S <= 0)
        if bool(bad.any()):  # the shift was too far off for some row: redo all rows safely
            self.n_fallback += 1
            out = self._safe(eps, h, False)
        else:
            out = -(sigma + cp.log2(S)) / k2
        self.prev = out
        return out


def softmin_pointcloud(x, y, h, eps: float, p: float, *, with_mean_cost: bool = False, shift=None):
    """One soft-min call (CuPy arrays in, CuPy out); ``shift`` = a previous output to use
    the branch-free kernel (p = 2), else the safe running-max kernel."""
    op = OnlineSoftmin(x, y, p)
    if shift is not None:
        op.prev = shift
    return op(eps, h, with_mean_cost=with_mean_cost)
