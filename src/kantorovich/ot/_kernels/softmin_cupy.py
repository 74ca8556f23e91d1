"""Soft-min, CuPy RawKernel (CUDA C) fused online kernels for point clouds: THE GPU soft-min.

Same meaning as :mod:`.softmin_numpy`::

    out_i = -eps * log sum_j exp((h_j - |x_i - y_j|^p) / eps)

Two kernels, compiled per (dimension D, precision) with ``--use_fast_math``:

``softmin_shift`` (squared Euclidean, the fast path; the recipe of earlier H100 measurements, docs/sinkhorn.md "Floors")
    - known shift instead of a running max: row ``i`` is shifted by ``sigma_i = -f_prev_i k2``
      (base 2, the previous output of the same soft-min), so the inner loop is branch-free;
    - constants folded: ``k2 = log2(e)/eps``, ``2 k2 x_i`` (cached per eps), per row
      ``u_i = -|x_i|^2 k2 - sigma_i`` (when the thread loads its rows) and per column
      ``w_j = (h_j - |y_j|^2) k2`` (when a block loads a tile into shared memory: a few
      operations per column and block, no launch of their own); each entry is then D FMAs, one
      add and one ``exp2f``;
    - the clouds are centred (by the mean of both) before the expansion
      ``|x|^2 + |y|^2 - 2 x.y`` so it does not lose digits when |x| >> |x - y|;
    - two rows per thread (instruction-level parallelism), tiles of (w, y) in shared memory,
      ``__launch_bounds__(TPB, 8)`` at D <= 5 float32 (32 registers, 8 blocks per SM, whichever NVRTC);
    - split-K over ``grid.y`` when the rows are too few to fill the GPU, the split count chosen
      so that the blocks spread evenly over the SMs (:func:`split_count`); all splits share the
      same shift, so the partial sums are simply added.
    The shift can be wrong (a changed eps, potentials that jumped): a row whose shifted sum ``S``
    is outside ``[2^-60, 2^100]`` or not finite is flagged on the device. Below 2^-60 float32
    terms under 2^-126 may have been flushed to zero (relative error up to m 2^-126 / S); above,
    nothing is lost but a term may overflow next time. Flagged rows, and only their blocks, are
    redone by ``softmin_safe`` in the same call, with no read back to the host.

``softmin_safe`` (any p, and the cost-weighted mean for ``<P, C>``)
    running max and sum per row, exact differences, four columns at a time (two for D > 3
    and in float64): their max, one rescale of the sums (in float64 only when the max grew),
    one ``exp2`` per column, no branch per entry (one loop per ground cost); also split-K with a (max, sum, csum) combine. With a row mask,
    blocks without a flagged row return at once.

Per call on the shift path: two launches (the shift kernel; the split sum, log and flag) plus
two near-empty ones (the masked safe kernel and its combine), and no synchronisation: the
count of flagged rows stays on the device, one counter per call (:meth:`OnlineSoftmin.fallback_rows`
reads them all back at once, after a solve).

Nothing n x m is ever allocated: memory is O((n + m) (D + splits)).
The host logic takes its array module and kernels as arguments (:class:`OnlineSoftmin` ``xp``,
``kernels``): the tests run it with numpy and :class:`NumpyKernels`, a numpy model of each kernel
(same splits, same flags). This module imports CuPy only when the CuPy kernels are built.
"""

from __future__ import annotations

import numpy as np

from ..._array_api import cupy_or_raise
from .._costs import KIND_EUCLIDEAN, KIND_POWER, KIND_SQEUCLIDEAN, parse_cost
from ..._constants import LOG2E as _LOG2E

__all__ = ["NumpyKernels", "OnlineSoftmin", "kernel_source", "softmin_pointcloud", "split_count"]

TPB = 256
_SHARED_BYTES = 40 * 1024
MAX_D_32_REGS = 5  # float32 shift/safe kernels take 32 registers, no stack or spills, same SASS up to this D
# int n, m and int row / column indices in the kernels (2 rows per thread: i0 < n + 2 TPB);
# offsets into the (n, D) / (splits, n) arrays are computed in size_t
MAX_POINTS = 2 ** 31 - 1 - 2 * TPB

_SOURCE = r"""
#define D __D__
#define TPB __TPB__
#define TILE __TILE__   /* columns per shared-memory tile (< TPB only for large D) */
#define BOUNDS __BOUNDS__  /* __launch_bounds__(TPB, 8) at small D float32: 32 registers */
#if TILE > TPB
#error "a tile's column constants are loaded one per thread: TILE <= TPB"
#endif
typedef __REAL__ real;

__device__ __forceinline__ real ex2(real v) { return __EX2__(v); }
__device__ __forceinline__ real lg2(real v) { return __LG2__(v); }
/* the per-row and per-column constants, folded where the kernels load them (no launch of
   their own): u_i = -|x_i|^2 k2 - sigma_i with the shift sigma_i = -prev_i k2, and
   w_j = (h_j - |y_j|^2) k2, -1e30 for a zero weight (h_j = -inf) */
__device__ __forceinline__ real row_u(real prev, real xx, real k2) { real sigma = -prev * k2; return -xx * k2 - sigma; }
__device__ __forceinline__ real col_w(real h, real yy, real k2) { return isfinite(h) ? (h - yy) * k2 : (real)-1e30; }

extern "C" __global__ void BOUNDS softmin_shift(
    const real* __restrict__ xs,   // n x D : 2 k2 x_i (centred)
    const real* __restrict__ prev, // n     : the previous output (row_u)
    const real* __restrict__ xx,   // n     : |x_i|^2
    const real* __restrict__ yc,   // m x D : y_j (centred)
    const real* __restrict__ h,    // m     : h_j (col_w)
    const real* __restrict__ yy,   // m     : |y_j|^2
    real k2, int n, int m, int cols_per_split,
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
    if (i0 < n) ua = row_u(prev[i0], xx[i0], k2);
    if (i1 < n) ub = row_u(prev[i1], xx[i1], k2);
    real sa = 0, sb = 0;
    for (int t0 = jb; t0 < je; t0 += TILE) {
        int cnt = min(TILE, je - t0);
        for (int e = threadIdx.x; e < cnt * D; e += TPB) sy[e] = yc[(size_t)t0 * D + e];
        if (threadIdx.x < cnt) sw[threadIdx.x] = col_w(h[t0 + threadIdx.x], yy[t0 + threadIdx.x], k2);  /* TILE <= TPB */
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

/* the ground cost |x_i - y_j|^p from |x_i - y_j|^2 (kind is a literal at each call site) */
__device__ __forceinline__ real ground_cost(int kind, const real* xi, const real* yj, real p_half)
{
    real c = 0;
    #pragma unroll
    for (int k = 0; k < D; ++k) { real d = xi[k] - yj[k]; c = fma(d, d, c); }
    if (kind == __KIND_EUCLIDEAN__) c = sqrt(c);
    else if (kind == __KIND_POWER__) c = pow(c, p_half);
    return c;
}

/* the columns of one shared-memory tile into a row's running (max mx, sum s, cost sum sc),
   base 2, SAFE_UNROLL columns at a time: their max first, the sums rescaled once by
   2^(mx_old - mx), then one ex2 per column; no branch per entry. kind is a literal at each
   call site, so each ground cost gets its own loop. float32: 4 columns (2 for D > 3: fewer
   live values, no stack under NVRTC 13) and an unconditional rescale (a MUFU.EX2 costs less
   than a branch); float64, whose exp2 is a software routine: 2 columns (the registers of the
   former one-column loop) and the rescale only when the max grew (2^0 = 1: the same sums). */
#define SAFE_UNROLL __SAFE_UNROLL__
#define LAZY_RESCALE __LAZY_RESCALE__
__device__ __forceinline__ void safe_tile(int kind, const real* xi, const real* sy, const real* sh, int cnt,
                                          real k2, real p_half, real& mx, real& s, real& sc)
{
    int jj = 0;
    for (; jj + SAFE_UNROLL <= cnt; jj += SAFE_UNROLL) {
        real c[SAFE_UNROLL], v[SAFE_UNROLL];
        real top = mx;
        #pragma unroll
        for (int u = 0; u < SAFE_UNROLL; ++u) {
            c[u] = ground_cost(kind, xi, sy + (jj + u) * D, p_half);
            v[u] = sh[jj + u] - c[u] * k2;
            top = fmax(top, v[u]);
        }
        if (!LAZY_RESCALE || top > mx) { real r = ex2(mx - top); s *= r; sc *= r; mx = top; }
        #pragma unroll
        for (int u = 0; u < SAFE_UNROLL; ++u) { real e = ex2(v[u] - mx); s += e; sc = fma(e, c[u], sc); }
    }
    for (; jj < cnt; ++jj) {  /* the tile's last cnt % SAFE_UNROLL columns */
        real c = ground_cost(kind, xi, sy + jj * D, p_half);
        real v = sh[jj] - c * k2;
        real top = fmax(mx, v);
        real r = ex2(mx - top);
        real e = ex2(v - top);
        s = fma(s, r, e); sc = fma(sc, r, e * c); mx = top;
    }
}

extern "C" __global__ void BOUNDS softmin_safe(
    const real* __restrict__ x, const real* __restrict__ y, const real* __restrict__ h,  /* -inf: zero weight */
    real k2, real p_half, int p_kind, int n, int m, int cols_per_split,
    const int* __restrict__ row_mask,   /* masked != 0: only blocks with a flagged row run */
    int masked,
    real* __restrict__ pm, real* __restrict__ ps, real* __restrict__ pc)
{
    __shared__ real sy[TILE * D];
    __shared__ real sh[TILE];
    int i = blockIdx.x * TPB + threadIdx.x;
    if (masked && !__syncthreads_or(i < n ? row_mask[i] : 0)) return;  /* block-uniform */
    int jb = blockIdx.y * cols_per_split;
    int je = m - jb < cols_per_split ? m : jb + cols_per_split;  /* min(m, jb + cps), no overflow */
    real xi[D];
    #pragma unroll
    for (int k = 0; k < D; ++k) xi[k] = i < n ? x[(size_t)i * D + k] : (real)0;
    real mx = (real)-3.0e38, s = 0, sc = 0;
    for (int t0 = jb; t0 < je; t0 += TILE) {
        int cnt = min(TILE, je - t0);
        for (int e = threadIdx.x; e < cnt * D; e += TPB) sy[e] = y[(size_t)t0 * D + e];
        for (int e = threadIdx.x; e < cnt; e += TPB) sh[e] = isfinite(h[t0 + e]) ? h[t0 + e] * k2 : (real)-1e30;
        __syncthreads();
        if (p_kind == __KIND_SQEUCLIDEAN__) safe_tile(__KIND_SQEUCLIDEAN__, xi, sy, sh, cnt, k2, p_half, mx, s, sc);
        else if (p_kind == __KIND_EUCLIDEAN__) safe_tile(__KIND_EUCLIDEAN__, xi, sy, sh, cnt, k2, p_half, mx, s, sc);
        else safe_tile(__KIND_POWER__, xi, sy, sh, cnt, k2, p_half, mx, s, sc);
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


def min_blocks(D: int, dtype) -> int:
    """``__launch_bounds__(TPB, 8)``: 8 blocks per SM, a 32-register budget at 256 threads, for
    float32 at D <= 5, where both kernels fit it without spills or stack (D = 6 needs 24-40 B) and with the same SASS per
    entry (NVRTC 12.9 otherwise gives the D = 2 shift kernel 40 registers: 6 blocks per SM).
    0 (no bound, the compiler's choice) for larger D, where the cap would cost instructions,
    and for float64."""
    return 8 if np.dtype(dtype) == np.float32 and int(D) <= MAX_D_32_REGS else 0


def safe_unroll(D: int, dtype) -> int:
    """Columns per step of the safe kernel's loop (see ``safe_tile`` in the CUDA C)."""
    return 4 if np.dtype(dtype) == np.float32 and int(D) <= 3 else 2


def kernel_source(D: int, dtype, minb: int | None = None) -> str:
    """The CUDA C source for dimension ``D`` and float32/float64 (for inspection and tests);
    ``minb`` overrides :func:`min_blocks` (0: no ``__launch_bounds__``)."""
    f32 = np.dtype(dtype) == np.float32
    minb = min_blocks(D, dtype) if minb is None else int(minb)
    bounds = f"__launch_bounds__({TPB}, {minb})" if minb > 0 else ""
    return (_SOURCE.replace("__D__", str(int(D))).replace("__TPB__", str(TPB)).replace("__BOUNDS__", bounds)
            .replace("__KIND_EUCLIDEAN__", str(KIND_EUCLIDEAN)).replace("__KIND_POWER__", str(KIND_POWER))
            .replace("__KIND_SQEUCLIDEAN__", str(KIND_SQEUCLIDEAN))
            .replace("__SAFE_UNROLL__", str(safe_unroll(D, dtype))).replace("__LAZY_RESCALE__", str(int(not f32)))
            .replace("__TILE__", str(tile_columns(D, dtype)))
            .replace("__REAL__", "float" if f32 else "double")
            .replace("__EX2__", "exp2f" if f32 else "exp2").replace("__LG2__", "log2f" if f32 else "log2"))


def _module(D: int, dtype):
    cp = cupy_or_raise()
    key = (int(D), np.dtype(dtype).str)
    if key not in _modules:
        # no -std flag: the source is plain C, and NVRTC's accepted dialects change by version
        _modules[key] = cp.RawModule(code=kernel_source(D, dtype), options=nvrtc_options(dtype))
    return _modules[key]


def nvrtc_options(dtype) -> tuple:
    """The module's own NVRTC options (CuPy adds ``-arch``, ``-ftz=true`` ...)."""
    return ("--use_fast_math",) if np.dtype(dtype) == np.float32 else ()


# the shifted row sum S is trusted in [2^-60, 2^100] (see the module docstring)
S_LOW, S_HIGH = 2.0 ** -60, 2.0 ** 100
HISTORY_CHUNK = 1024  # calls per device array of fallback counters (OnlineSoftmin.fallback_rows)
# None, or a list to which every OnlineSoftmin launch of the shift, safe, finish and combine
# kernels appends (kind, start, end) CUDA events (benchmarks/bench_sinkhorn.py: kernel time)
KERNEL_EVENTS: list | None = None

_ELEMENTWISE = {
    # the splits' partial sums -> the output, and the rows whose sum is not trusted; nbad: the
    # call's slot of the fallback history (a one-element view)
    "finish": ("T prev, raw T part, T k2, int32 n_split, int32 n_rows, T lo, T hi",
               "T out, int32 bad, raw int32 nbad",
               """T S = 0;
               for (int k = 0; k < n_split; ++k) S += part[(size_t)k * n_rows + i];
               T sigma = -prev * k2;
               out = -(sigma + log2(S)) / k2;
               bad = !(S >= lo && S <= hi);   /* also NaN and inf */
               if (bad) atomicAdd(&nbad[0], 1);"""),
    # (max, sum, cost-sum) partials of the safe kernel -> output and mean cost (masked: bad rows)
    "combine": ("raw T pm, raw T ps, raw T pc, T k2, int32 n_split, int32 n_rows, int32 masked, int32 bad",
                "T out, raw T mean",
                """if (!masked || bad) {
                   T M = pm[i];
                   for (int k = 1; k < n_split; ++k) M = max(M, pm[(size_t)k * n_rows + i]);
                   T S = 0, SC = 0;
                   for (int k = 0; k < n_split; ++k) {
                       size_t o = (size_t)k * n_rows + i;
                       T r = exp2(pm[o] - M);
                       S += ps[o] * r;
                       SC += pc[o] * r;
                   }
                   out = -(M + log2(S)) / k2;
                   if (!masked) mean[i] = SC / S;
               }"""),
}
_ELEMENTWISE_KERNELS: dict = {}


class CupyKernels:
    """The device side of :class:`OnlineSoftmin`: the RawModule's two kernels and two fused
    ElementwiseKernels (each call of a method is one launch, asynchronous)."""

    def __init__(self, D: int, dtype):
        cp = cupy_or_raise()
        self.mod = _module(D, dtype)
        self._shift = self.mod.get_function("softmin_shift")
        self._safe = self.mod.get_function("softmin_safe")
        for name, (ins, outs, body) in _ELEMENTWISE.items():
            if name not in _ELEMENTWISE_KERNELS:
                _ELEMENTWISE_KERNELS[name] = cp.ElementwiseKernel(ins, outs, body, f"kantorovich_softmin_{name}")
            setattr(self, name, _ELEMENTWISE_KERNELS[name])

    def shift(self, grid, xs, prev, xx, y, h, yy, k2, n, m, cps, part):
        self._shift(grid, (TPB,), (xs, prev, xx, y, h, yy, xs.dtype.type(k2), np.int32(n), np.int32(m),
                                   np.int32(cps), part))

    def safe(self, grid, x, y, h, k2, p_half, p_kind, n, m, cps, row_mask, masked, pm, ps, pc):
        dt = x.dtype.type
        self._safe(grid, (TPB,), (x, y, h, dt(k2), dt(p_half), np.int32(p_kind), np.int32(n), np.int32(m),
                                  np.int32(cps), row_mask, np.int32(masked), pm, ps, pc))


class NumpyKernels:
    """numpy model of :class:`CupyKernels` for the tests: the same arguments, splits, partial
    sums, flags and masks, computed with numpy in float64 (no fast-math, no FTZ)."""

    def __init__(self, D: int, dtype):
        self.launches: list = []

    def _cols(self, grid, m, cps):
        for k in range(grid[1]):
            j0 = k * cps
            yield k, j0, min(m, j0 + cps)

    @staticmethod
    def _w(h, c, k2):
        """The kernels' column constant: ``(h - c) k2`` in h's dtype, -1e30 for h = -inf."""
        f = np.isfinite(h)
        with np.errstate(invalid="ignore"):
            return np.where(f, (h - c) * h.dtype.type(k2), -1e30).astype(h.dtype)

    def shift(self, grid, xs, prev, xx, y, h, yy, k2, n, m, cps, part):
        self.launches.append(("shift", grid))
        assert grid[0] * 2 * TPB >= n and grid[1] * cps >= m > (grid[1] - 1) * cps
        k2 = xs.dtype.type(k2)
        sigma = -prev * k2
        u = -xx * k2 - sigma  # row_u
        w = self._w(h, yy, k2)  # col_w
        for k, j0, j1 in self._cols(grid, m, cps):
            v = w[None, j0:j1] + u[:, None] + xs @ y[j0:j1].T
            with np.errstate(over="ignore"):
                part[k] = np.exp2(v.astype(np.float64)).sum(axis=1)

    def safe(self, grid, x, y, h, k2, p_half, p_kind, n, m, cps, row_mask, masked, pm, ps, pc):
        self.launches.append(("safe", grid, bool(masked)))
        assert grid[0] * TPB >= n and grid[1] * cps >= m > (grid[1] - 1) * cps
        hs = self._w(h, 0, k2)  # h k2 in h's dtype as the kernel's shared tile holds it
        rows = np.arange(n)
        if masked:  # whole blocks of TPB rows run when one of their rows is flagged
            blk = np.flatnonzero(np.add.reduceat(row_mask, np.arange(0, n, TPB)) > 0)
            rows = rows[np.isin(rows // TPB, blk)]
        for k, j0, j1 in self._cols(grid, m, cps):
            c = ((x[rows, None, :].astype(float) - y[None, j0:j1, :]) ** 2).sum(-1)
            c = c if p_kind == KIND_SQEUCLIDEAN else (np.sqrt(c) if p_kind == KIND_EUCLIDEAN else c ** p_half)
            v = hs[None, j0:j1] - c * k2
            mx = v.max(axis=1)
            e = np.exp2(v - mx[:, None])
            pm[k, rows], ps[k, rows], pc[k, rows] = mx, e.sum(axis=1), (e * c).sum(axis=1)

    def finish(self, prev, part, k2, ns, n, lo, hi, out, bad, nbad):
        S = part[:ns].sum(axis=0)
        sigma = -prev * k2
        with np.errstate(divide="ignore", invalid="ignore"):
            out[...] = -(sigma + np.log2(S)) / k2
        bad[...] = ~((S >= lo) & (S <= hi))
        nbad[0] += int(bad.sum())

    def combine(self, pm, ps, pc, k2, ns, n, masked, bad, out, mean):
        rows = np.flatnonzero(bad) if masked else np.arange(n)
        M = pm[:ns, rows].max(axis=0)
        r = np.exp2(pm[:ns, rows] - M)
        S = (ps[:ns, rows] * r).sum(axis=0)
        out[rows] = -(M + np.log2(S)) / k2
        if not masked:
            mean[rows] = (pc[:ns, rows] * r).sum(axis=0) / S


def _sm_count(cp) -> int:
    try:
        return int(cp.cuda.Device().attributes["MultiProcessorCount"])
    except Exception:
        return 132


RESIDENT_BLOCKS = 8  # blocks of TPB threads resident per SM (32 registers, <= 8 KiB smem at D <= 5)


def split_count(row_blocks: int, m: int, n_sm: int = 132, resident: int = RESIDENT_BLOCKS) -> int:
    """Column splits (``grid.y``) for ``row_blocks`` blocks of rows and ``m`` columns.

    Every block does the same work, and an SM's time is the work of the blocks it gets, so a
    launch of ``B = row_blocks * ns`` blocks takes ``ceil(B / n_SM) / ns`` (in units of one
    unsplit row block). The rule: at least ``4 n_SM`` blocks (latency hiding) when the rows are
    fewer, at most ``resident * n_SM`` (one wave), at least one tile (``TPB`` columns) per
    split; among those, the ``ns`` with the best balance ``B / (n_SM ceil(B / n_SM))``, the
    smallest on a tie. E.g. on 132 SMs: n = 1e5 -> 196 row blocks x 4 (99 %, where
    ``ceil(4 n_SM / row_blocks)`` = 3 gave 89 %); 4e4 -> 79 x 10 (99.7 %); 1e6 -> 1.
    """
    rb, m, n_sm = max(1, int(row_blocks)), max(1, int(m)), max(1, int(n_sm))
    lo = max(1, -(-4 * n_sm // rb))
    hi = max(lo, (resident * n_sm) // rb)
    cap = max(1, m // TPB)
    lo, hi = min(lo, cap), min(hi, cap)
    best, best_bal = lo, -1.0
    for ns in range(lo, hi + 1):
        B = rb * ns
        bal = B / (n_sm * -(-B // n_sm))
        if bal > best_bal + 1e-12:
            best, best_bal = ns, bal
    return int(best)


def launch_splits(rows_per_block: int, n: int, m: int, n_sm: int = 132) -> tuple[int, int]:
    """(splits, columns per split) of a launch: :func:`split_count`, every split non-empty."""
    ns = split_count(max(1, -(-n // rows_per_block)), m, n_sm)
    cps = -(-m // ns)
    return -(-m // cps), cps


class OnlineSoftmin:
    """Callable ``softmin(eps, h, with_mean_cost=False)`` over ``C_ij = |x_i - y_j|^p`` (CuPy).

    Keeps the centred clouds, ``2 k2 x`` of the last eps, and the previous output (the known
    shift of the next call). ``xp`` / ``kernels`` / ``n_sm``: the array module, the kernels
    (:class:`CupyKernels` or :class:`NumpyKernels`) and the SM count; the defaults are CuPy's.
    """

    def __init__(self, x, y, p: float, *, xp=None, kernels=None, n_sm: int | None = None):
        cp = cupy_or_raise() if xp is None else xp
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
        self.k = CupyKernels(self.D, self.dtype) if kernels is None else kernels
        self._p_kind = parse_cost(self.p).kind
        self.n_sm = (_sm_count(cp) if xp is None else 132) if n_sm is None else int(n_sm)
        self.prev = None
        self._xs_eps, self._xs = None, None
        self._bad = cp.zeros(self.n, dtype=np.int32)
        # rows redone by the safe kernel, one device counter per call (HISTORY_CHUNK calls per
        # array), read back only by fallback_rows()
        self._hist_done: list = []
        self._hist = cp.zeros(HISTORY_CHUNK, dtype=np.int32)
        self._safe_calls: list = []  # the calls without a shift (every row on the safe kernel)
        self.calls = 0
        self.launches = 0  # kernel launches issued by the calls (asynchronous; no host read)
        self._scratch = cp.empty(1, dtype=self.dtype)  # the masked combine writes no mean

    def fallback_rows(self) -> np.ndarray:
        """Rows computed by the safe kernel in each call so far (all ``n`` in a call without a
        shift, the flagged rows in a shift call), on the host: one read, which synchronises."""
        dev = self.cp.concatenate([*self._hist_done, self._hist])[:self.calls]
        out = (dev.get() if hasattr(dev, "get") else np.asarray(dev)).astype(np.int64)
        out[self._safe_calls] = self.n
        return out

    @property
    def n_fallback(self) -> int:
        """Rows computed by the safe kernel so far (the sum of :meth:`fallback_rows`). Reading
        it synchronises with the device."""
        return int(self.fallback_rows().sum())

    def _launch(self, kind, fn, *args):
        """One kernel launch, counted; timed with CUDA events when :data:`KERNEL_EVENTS` is a list."""
        self.launches += 1
        if KERNEL_EVENTS is None:
            return fn(*args)
        e0, e1 = self.cp.cuda.Event(), self.cp.cuda.Event()
        e0.record()
        r = fn(*args)
        e1.record()
        KERNEL_EVENTS.append((kind, e0, e1))
        return r

    def _grid(self, rows_per_block):
        """((row blocks, splits), columns per split) of a launch."""
        ns, cps = launch_splits(rows_per_block, self.n, self.m, self.n_sm)
        return ((self.n + rows_per_block - 1) // rows_per_block, ns), cps

    def _safe(self, k2, h, out, mean, masked):
        cp, dt = self.cp, self.dtype
        grid, cps = self._grid(TPB)
        pm = cp.empty((grid[1], self.n), dtype=dt)
        ps = cp.empty_like(pm)
        pc = cp.empty_like(pm)
        self._launch("safe_masked" if masked else "safe", self.k.safe, grid, self.x, self.y, h, k2, self.p / 2,
                     self._p_kind, self.n, self.m, cps, self._bad, int(masked), pm, ps, pc)
        self._launch("combine", self.k.combine, pm, ps, pc, dt.type(k2), np.int32(grid[1]), np.int32(self.n),
                     np.int32(masked), self._bad, out, mean)

    def _history_slot(self):
        """This call's fallback counter on the device (a one-element view, no read back)."""
        slot = self.calls % HISTORY_CHUNK
        if slot == 0 and self.calls:
            self._hist_done.append(self._hist)
            self._hist = self.cp.zeros(HISTORY_CHUNK, dtype=np.int32)
            self.launches += 1  # the memset
        return self._hist[slot:slot + 1]

    def __call__(self, eps: float, h, with_mean_cost: bool = False):
        """The soft-min at ``eps`` of ``h``. On the shift path (p = 2, a previous output, no mean
        cost): four launches (shift, finish, the masked safe kernel and its combine) and no
        host read; otherwise two (the safe kernel on every row, combine)."""
        cp, dt = self.cp, self.dtype
        eps = float(eps)
        h = h.astype(dt, copy=False)
        k2 = dt.type(_LOG2E / eps)
        out = cp.empty(self.n, dtype=dt)
        nbad = self._history_slot()
        if with_mean_cost or self.p != 2.0 or self.prev is None:
            mean = cp.empty(self.n, dtype=dt)
            self._safe(_LOG2E / eps, h, out, mean, masked=False)
            self._safe_calls.append(self.calls)
            self.calls += 1
            self.prev = out
            return (out, mean) if with_mean_cost else out
        if self._xs_eps != eps:  # 2 k2 x changes only with eps
            self._xs = cp.ascontiguousarray((2 * k2) * self.x, dtype=dt)
            self._xs_eps = eps
            self.launches += 1
        grid, cps = self._grid(2 * TPB)
        part = cp.empty((grid[1], self.n), dtype=dt)
        self._launch("shift", self.k.shift, grid, self._xs, self.prev, self.xx, self.y, h, self.yy, k2,
                     self.n, self.m, cps, part)
        self._launch("finish", self.k.finish, self.prev, part, k2, np.int32(grid[1]), np.int32(self.n),
                     dt.type(S_LOW), dt.type(S_HIGH), out, self._bad, nbad)
        # rows whose shift was too far off: only their blocks run, on the device, no read back
        self._safe(_LOG2E / eps, h, out, self._scratch, masked=True)
        self.calls += 1
        self.prev = out
        return out


def softmin_pointcloud(x, y, h, eps: float, p: float, *, with_mean_cost: bool = False, shift=None):
    """One soft-min call (CuPy arrays in, CuPy out); ``shift`` = a previous output to use
    the branch-free kernel (p = 2), else the safe running-max kernel."""
    op = OnlineSoftmin(x, y, p)
    if shift is not None:
        op.prev = shift
    return op(eps, h, with_mean_cost=with_mean_cost)
