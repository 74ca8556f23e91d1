"""Fused GPU top-K candidate search for the kNN estimators: a CuPy RawKernel (private).

One thread per query point keeps the query's ``K`` best candidates (squared-distance keys and
reference indices) sorted in registers; the block streams the reference points through shared
memory in tiles of :data:`TILE`; per (query, reference) pair the key

    key_ij = |r_j|^2 - 2 q_i . r_j        (the squared distance minus |q_i|^2, constant per row)

is ``D`` float32 FMAs from ``|r_j|^2`` (the reference rows are stored as ``(-2 r_j, |r_j|^2)``,
padded to a multiple of 4 floats for 16-byte shared loads), then one compare with the current
``K``-th key; only a key below it is inserted (a branch taken ~``K (1 + ln(m / K))`` times per
row of ``m`` references, not per pair). Both clouds are centred on the reference mean first,
which limits the cancellation of the expansion, as in :func:`~._knn.knn_tiled`. The point
itself (``same=True``) is skipped by index inside the rare insertion branch. Nothing ``n x m``
is formed: the output is ``(n, splits * K)`` int32 indices, best first, ``-1`` where a split
had fewer than ``K`` references.

The float32 keys only select candidates: :func:`knn_fused` then recomputes the candidates'
distances exactly in float64 from coordinate differences (:func:`~._knn.exact_sorted`, the
same code and arithmetic as ``knn_tiled``) and keeps the ``kk`` smallest, so the output is
bit-identical to ``knn_tiled``'s whenever the candidate sets contain the same distances
(always on the tests' data: see tests/divergences/test_knn_cuda_kernel.py). As in
``knn_tiled``, ``K = kk + 2``: two candidates beyond ``kk`` absorb float32 misorderings at the
boundary (for the estimators ``kk = k + 8``, so the ``k`` positive distances of a row without
duplicates have 10 spare candidates).

Split-K: when the rows fill fewer than ``4 n_SM`` blocks, ``grid.y`` splits the references;
each split keeps its own ``K`` candidates and the exact re-rank merges them (the union holds
the float32 top-``K`` of the whole row).

Why a CuPy RawKernel and not numba-cuda: the estimators' GPU backend is CuPy already (inputs
and the re-rank are CuPy arrays, no second JIT and no numba-cuda dependency on the GPU
path); ``D`` and ``K`` are compile-time constants substituted in the CUDA C, so the FMA
chain and the sorted insertion unroll fully into registers (no local memory), which the
static tests check on NVRTC's sm_90 output (registers, spills, no float64 in the float32
loop, SASS instructions per pair). The host logic takes its array module and kernel as
arguments: the CPU tests run it with numpy and :class:`NumpyKnnKernel`, a numpy model of the
kernel (same splits, same tie order: among equal keys the smaller index first).

Floor at n = m = 1e5, d = 10, one search (1e10 pairs): ~11 instructions per pair (10 FFMA
+ 1 FSETP) -> 1.1e11 thread instructions; an H100 SXM issues 132 SMs x 4 x 32 = 16 896 per
clock, 3.3e13/s at 1.98 GHz: **3.3 ms**. The SASS hot path is 16 per pair (the 3 LDS.128 of
the reference row, the checks and the loop as well): ~5 ms; the insertions, executed by a warp
when any of its lanes inserts, add up to ~+25 % (estimated). ``estimate_kl`` with
``method="knn"`` runs 2 searches, the default at d = 10 (``"knn-gauss-corrected"``, 4
reference pairs) 10: ~10 ms and ~50-65 ms of kernel. Bytes: each block of 128 rows reads all
m references once (m x 48 B = 4.8 MB, L2-resident): 782 blocks -> ~3.8 GB from L2 per search
(~0.7 ms at ~5.5 TB/s, under the compute time); from HBM only the inputs and the candidates
(~15 MB). The float64 re-rank gathers n x K x d = 1.5e7 coordinates per search.
"""

from __future__ import annotations

import numpy as np

from .._array_api import cupy_or_raise
from ._knn import exact_sorted

__all__ = ["MAX_D", "MAX_K", "CupyKnnKernel", "FusedSearch", "NumpyKnnKernel", "fused_supported",
           "kernel_source", "knn_fused", "prepare", "split_count", "split_layout"]

TPB = 128  # query rows (threads) per block
TILE = 256  # reference points per shared-memory tile
MAX_D = 32  # the query's coordinates live in registers: larger d uses knn_tiled
MAX_K = 32  # candidates per row in registers (K = kk + 2; kk = k + 8 for the estimators: k <= 22)
MAX_POINTS = 2 ** 30  # int row / column indices in the kernel (padding included)
# the float64 re-rank runs over chunks of rows holding at most this many candidate coordinates
_RERANK_ENTRIES = 2 ** 23

_SOURCE = r"""
#define D __D__
#define S __S__        /* floats per reference row in shared memory: D + 1 rounded up to 4 */
#define K __K__        /* candidates kept per query row */
#define TPB __TPB__
#define TILE __TILE__

/* insert (key, j) into the sorted list (bd, bi) unless it is not below the K-th key or j is the
   query itself. Branch-free shift: slot t takes the entry of slot t - 1 when the key goes above
   it, else the key when it goes above slot t; strict <: an equal key stays behind the earlier
   index (the order of a stable sort by key) */
__device__ __forceinline__ void insert(float (&bd)[K], int (&bi)[K], float key, int j, int self)
{
    if (key < bd[K - 1] && j != self) {
        bool lt[K];
        #pragma unroll
        for (int t = 0; t < K; ++t) lt[t] = key < bd[t];
        #pragma unroll
        for (int t = K - 1; t > 0; --t) {
            bd[t] = lt[t - 1] ? bd[t - 1] : (lt[t] ? key : bd[t]);
            bi[t] = lt[t - 1] ? bi[t - 1] : (lt[t] ? j : bi[t]);
        }
        if (lt[0]) { bd[0] = key; bi[0] = j; }
    }
}

extern "C" __global__ void __launch_bounds__(TPB) knn_topk(
    const float* __restrict__ q,    /* n x D: centred query rows */
    const float* __restrict__ r,    /* (splits cps) x S: -2 r_j (D values), |r_j|^2, zero padding;
                                       rows past m: |r_j|^2 = +inf (never inserted) */
    int n, int cols_per_split,      /* a multiple of TILE */
    int same,
    int* __restrict__ idx)          /* n x (gridDim.y K): candidates, best first, -1 unfilled */
{
    __shared__ __align__(16) float sr[TILE * S];
    int i = blockIdx.x * TPB + threadIdx.x;
    size_t jb = (size_t)blockIdx.y * cols_per_split;
    float qi[D];
    #pragma unroll
    for (int k = 0; k < D; ++k) qi[k] = i < n ? q[(size_t)i * D + k] : 0.0f;
    int self = (same && i < n) ? i : -1;
    float bd[K];
    int bi[K];
    #pragma unroll
    for (int t = 0; t < K; ++t) { bd[t] = __int_as_float(0x7f800000); bi[t] = -1; }
    for (int c0 = 0; c0 < cols_per_split; c0 += TILE) {
        const float4* src = reinterpret_cast<const float4*>(r + (jb + c0) * S);
        float4* dst = reinterpret_cast<float4*>(sr);
        #pragma unroll
        for (int e = threadIdx.x; e < TILE * (S / 4); e += TPB) dst[e] = src[e];
        __syncthreads();
        int j0 = (int)jb + c0;
        #pragma unroll 4
        for (int jj = 0; jj < TILE; jj += 2) {
            const float* p = sr + jj * S;
            float k0 = p[D], k1 = p[S + D];
            #pragma unroll
            for (int k = 0; k < D; ++k) {
                k0 = fmaf(qi[k], p[k], k0);
                k1 = fmaf(qi[k], p[S + k], k1);
            }
            if (fminf(k0, k1) < bd[K - 1]) {   /* rare: ~K (1 + ln(m / K)) times per row */
                insert(bd, bi, k0, j0 + jj, self);
                insert(bd, bi, k1, j0 + jj + 1, self);
            }
        }
        __syncthreads();
    }
    if (i < n) {
        size_t o = (size_t)i * gridDim.y * K + (size_t)blockIdx.y * K;
        #pragma unroll
        for (int t = 0; t < K; ++t) idx[o + t] = bi[t];
    }
}
"""


def row_stride(D: int) -> int:
    """Floats per reference row in the kernel's layout: ``D + 1`` rounded up to a multiple of 4."""
    return 4 * ((int(D) + 1 + 3) // 4)


def kernel_source(D: int, K: int) -> str:
    """The CUDA C source for dimension ``D`` and ``K`` candidates (for inspection and tests)."""
    if not (1 <= D <= MAX_D and 1 <= K <= MAX_K):
        raise ValueError(f"the fused kNN kernel takes 1 <= D <= {MAX_D} and 1 <= K <= {MAX_K}; got {D}, {K}.")
    return (_SOURCE.replace("__D__", str(int(D))).replace("__S__", str(row_stride(D)))
            .replace("__K__", str(int(K))).replace("__TPB__", str(TPB)).replace("__TILE__", str(TILE)))


def nvrtc_options() -> tuple:
    """The module's own NVRTC options (CuPy adds ``-arch``, ``-ftz=true`` ...): none. No
    fast-math: the kernel has only FMAs and compares, and ``-ftz`` does not change an order."""
    return ()


def fused_supported(d: int, cand: int) -> bool:
    """Whether the fused kernel covers dimension ``d`` with ``cand`` candidates per row."""
    return 1 <= d <= MAX_D and 1 <= cand <= MAX_K


def split_count(n: int, m: int, n_sm: int = 132) -> int:
    """Reference splits (``grid.y``): enough blocks for ``4 n_SM`` when the rows are few, at
    least one tile of references per split. n = 1e5 -> 1 (782 row blocks); 3000 rows and 2500
    references on 132 SMs -> 9."""
    rb = max(1, -(-int(n) // TPB))
    want = max(1, -(-4 * int(n_sm) // rb))
    return int(max(1, min(want, int(m) // TILE)))


def split_layout(m: int, splits: int) -> tuple[int, int]:
    """``(splits, columns per split)`` for ``m`` references: the columns a multiple of
    :data:`TILE` (the kernel's loop has no remainder; the padding rows are never inserted),
    every split non-empty."""
    ns = max(1, min(int(splits), int(m)))
    cps = TILE * -(-(-(-int(m) // ns)) // TILE)
    return -(-int(m) // cps), cps


_modules: dict = {}


class CupyKnnKernel:
    """The device side of :func:`knn_fused`: the RawModule's ``knn_topk`` for (D, K)."""

    def __init__(self, D: int, K: int):
        cp = cupy_or_raise()
        key = (int(D), int(K))
        if key not in _modules:
            _modules[key] = cp.RawModule(code=kernel_source(D, K), options=nvrtc_options())
        self._fn = _modules[key].get_function("knn_topk")

    def topk(self, grid, q32, rk, n, cps, same, idx):
        self._fn(grid, (TPB,), (q32, rk, np.int32(n), np.int32(cps), np.int32(same), idx))


class NumpyKnnKernel:
    """numpy model of :class:`CupyKnnKernel` for the tests: per split, the ``K`` smallest keys
    ``|r_j|^2 - 2 q.r_j`` (float32 inputs, the point itself excluded when ``same``), ties in
    index order as the kernel's insertion keeps them, ``-1`` for unfilled slots."""

    def __init__(self, D: int, K: int):
        kernel_source(D, K)  # the same limits
        self.D, self.K = int(D), int(K)
        self.launches: list = []

    def topk(self, grid, q32, rk, n, cps, same, idx):
        self.launches.append(grid)
        D, K = self.D, self.K
        assert grid[0] * TPB >= n > (grid[0] - 1) * TPB and cps % TILE == 0
        assert q32.dtype == np.float32 and rk.dtype == np.float32 and rk.shape == (grid[1] * cps, row_stride(D))
        out = idx.reshape(n, grid[1], K)
        for s in range(grid[1]):
            j0, j1 = s * cps, (s + 1) * cps
            key = (rk[None, j0:j1, D] + q32 @ rk[j0:j1, :D].T).astype(np.float32)
            if same:
                rows = np.arange(n)
                inside = (rows >= j0) & (rows < j1)
                key[rows[inside], rows[inside] - j0] = np.inf
            order = np.argsort(key, axis=1, kind="stable")[:, :K]
            took = np.take_along_axis(key, order, axis=1)
            sel = np.where(np.isfinite(took), order + j0, -1)
            out[:, s, :] = -1
            out[:, s, :sel.shape[1]] = sel


class FusedSearch:
    """One search's device inputs (:func:`prepare`): the float64 clouds, the kernel's
    float32 inputs, the launch shape; :meth:`launch` runs the kernel (the benchmark times it
    alone), :meth:`rerank` the float64 re-rank of its candidates."""

    def __init__(self, query, ref, kk: int, same: bool, xp, n_sm: int | None, splits: int | None):
        n, D, m = int(query.shape[0]), int(query.shape[1]), int(ref.shape[0])
        if max(n, m) > MAX_POINTS:
            raise ValueError(f"the fused kNN kernel takes at most {MAX_POINTS} points per side; got {n} and {m}.")
        avail = m - (1 if same else 0)
        self.xp, self.n, self.D, self.same = xp, n, D, bool(same)
        self.kk = min(kk, avail)
        self.K = min(self.kk + 2, avail)
        centre = xp.mean(ref, axis=0, keepdims=True)
        # the float32 keys from the centred clouds (less cancellation); the float64 re-rank from
        # the caller's coordinates, as knn_tiled's: a pair's distance, whatever the reference
        self.q64, self.r64 = query, ref
        self.q32 = xp.ascontiguousarray((query - centre).astype(xp.float32))
        r32 = (ref - centre).astype(xp.float32)
        if n_sm is None:
            n_sm = _sm_count(xp)
        self.ns, self.cps = split_layout(m, split_count(n, m, n_sm) if splits is None else splits)
        self.rk = xp.zeros((self.ns * self.cps, row_stride(D)), dtype=xp.float32)
        self.rk[:m, :D] = -2.0 * r32
        self.rk[:m, D] = xp.sum(r32 * r32, axis=1)
        self.rk[m:, D] = xp.inf  # padding to whole tiles: key +inf, never inserted
        self.idx = xp.empty((n, self.ns * self.K), dtype=xp.int32)

    def kernel(self, cls=None):
        """An instance of ``cls`` (default: the CuPy kernel, or its numpy model on numpy) for
        this search's (D, K)."""
        cls = cls or (NumpyKnnKernel if self.xp is np else CupyKnnKernel)
        return cls(self.D, self.K)

    def launch(self, kern) -> None:
        kern.topk((-(-self.n // TPB), self.ns), self.q32, self.rk, self.n, self.cps, int(self.same), self.idx)

    def rerank(self):
        xp = self.xp
        out = xp.empty((self.n, self.kk), dtype=xp.float64)
        rows = max(1, _RERANK_ENTRIES // (self.ns * self.K * max(self.D, 1)))
        for s in range(0, self.n, rows):
            e = min(self.n, s + rows)
            out[s:e] = exact_sorted(self.q64[s:e], self.r64, self.idx[s:e].astype(xp.int64), self.kk, xp=xp)
        return out


def prepare(query, ref, kk: int, *, same: bool = False, xp=None, n_sm: int | None = None,
            splits: int | None = None) -> FusedSearch:
    """The :class:`FusedSearch` of :func:`knn_fused` (its arguments)."""
    return FusedSearch(query, ref, kk, same, cupy_or_raise() if xp is None else xp, n_sm, splits)


def knn_fused(query, ref, kk: int, *, same: bool = False, xp=None, kernel=None,
              n_sm: int | None = None, splits: int | None = None):
    """Exact ``kk`` smallest distances (float64, ``(n, kk)``, sorted; self excluded when
    ``same``) by the fused top-K kernel and the float64 re-rank of its candidates.

    ``xp`` / ``kernel``: the array module and the kernel class (:class:`CupyKnnKernel` or
    :class:`NumpyKnnKernel`); the defaults are CuPy's. ``splits`` overrides
    :func:`split_count`. The caller checks :func:`fused_supported` first.
    """
    search = prepare(query, ref, kk, same=same, xp=xp, n_sm=n_sm, splits=splits)
    search.launch(search.kernel(kernel))
    return search.rerank()


def _sm_count(xp) -> int:
    if xp is np:
        return 132
    try:
        return int(xp.cuda.Device().attributes["MultiProcessorCount"])
    except Exception:
        return 132
