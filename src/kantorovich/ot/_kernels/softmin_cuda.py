"""Soft-min, numba-cuda fused online kernel for point clouds (GPU; also runs in the simulator).

Same meaning as :mod:`.softmin_numpy`::

    softmin_pointcloud(x, y, h, eps, p, *, with_mean_cost=False)
    out_i = -eps * log sum_j exp((h_j - |x_i - y_j|^p) / eps)

Design (one fused pass, never an n x m array):

- Blocks of ``TPB`` threads, one row ``i`` per thread. Tiles of ``TPB`` columns (the points
  ``y_j`` and the scaled ``h_j``) are loaded cooperatively into shared memory; each thread then
  sweeps the tile from shared memory, computing ``C_ij`` by exact differences in registers.
- Base 2 with folded constants: the host passes ``hs_j = h_j * log2(e)/eps`` and
  ``k2 = log2(e)/eps``, so each entry costs ``v = hs_j - C_ij * k2`` and one ``exp2``.
- A running maximum and sum per row (``if v > mx: s = s*2^(mx-v) + 1; mx = v else
  s += 2^(v-mx)``): stable for any eps, in float32 too; ``-inf`` (zero weights) is replaced by
  a large finite negative number so fastmath is safe.
- Split-K: when the rows are too few to fill the GPU (``n < 64 * TPB * n_SM`` / ...), the
  columns are split over ``grid.y`` blocks; each writes a partial (max, sum) per row and a
  small combine kernel merges them (``S = sum_k s_k 2^(m_k - M)``).
- float32 kernels accumulate in float32; float64 inputs give the float64 variant (accuracy
  checks).

Inputs may be numpy arrays (copied to the device) or device arrays; results come back as
numpy arrays when the inputs were numpy. Under ``NUMBA_ENABLE_CUDASIM=1`` the same Python
code runs in the (slow) simulator: tests use tiny sizes.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import cuda  # this module is imported only by the numba-cuda backend

__all__ = ["softmin_pointcloud", "TPB", "split_count", "launch_splits"]

import os as _os

# 128 threads per block on a GPU; 16 in the (thread-per-thread, slow) simulator
TPB = 16 if _os.environ.get("NUMBA_ENABLE_CUDASIM") == "1" else 128
_LOG2E = 1.4426950408889634
_kernels: dict = {}


def _get_kernels(D: int, p_kind: int, dtype):
    key = (D, p_kind, np.dtype(dtype).str)
    if key in _kernels:
        return _kernels[key]
    nb_dtype = {"<f4": numba.float32, "<f8": numba.float64}[np.dtype(dtype).str]
    TILE = tile_columns(D, dtype)  # columns per shared tile: <= TPB, fewer for large D
    NEG = -3.0e38  # running-max start (finite: fastmath assumes no infinities)

    @cuda.jit(fastmath=True)
    def partial(x, y, hs, k2, p_half, cols_per_split, out_m, out_s, out_c):
        tid = cuda.threadIdx.x
        i = cuda.blockIdx.x * TPB + tid
        split = cuda.blockIdx.y
        n = x.shape[0]
        m = y.shape[0]
        j_begin = split * cols_per_split
        j_end = min(m, j_begin + cols_per_split)
        sy = cuda.shared.array((D, TILE), nb_dtype)
        sh = cuda.shared.array(TILE, nb_dtype)
        xi = cuda.local.array(D, nb_dtype)
        if i < n:
            for k in range(D):
                xi[k] = x[i, k]
        mx = nb_dtype(NEG)
        s = nb_dtype(0.0)
        sc = nb_dtype(0.0)
        for t0 in range(j_begin, j_end, TILE):
            j = t0 + tid
            if tid < TILE and j < j_end:
                for k in range(D):
                    sy[k, tid] = y[j, k]
                sh[tid] = hs[j]
            cuda.syncthreads()
            if i < n:
                cnt = min(TILE, j_end - t0)
                for jj in range(cnt):
                    c = nb_dtype(0.0)
                    for k in range(D):
                        dk = xi[k] - sy[k, jj]
                        c += dk * dk
                    if p_kind == 1:
                        c = math.sqrt(c)
                    elif p_kind == 2:
                        c = c ** p_half
                    v = sh[jj] - c * k2
                    if v > mx:
                        r = math.exp2(mx - v)
                        s = s * r + nb_dtype(1.0)
                        sc = sc * r + c
                        mx = v
                    else:
                        w = math.exp2(v - mx)
                        s += w
                        sc += w * c
            cuda.syncthreads()
        if i < n:
            out_m[split, i] = mx
            out_s[split, i] = s
            out_c[split, i] = sc

    @cuda.jit(fastmath=True)
    def combine(part_m, part_s, part_c, k2, out, mean):
        i = cuda.grid(1)
        if i < out.shape[0]:
            M = part_m[0, i]
            for k in range(1, part_m.shape[0]):
                M = max(M, part_m[k, i])
            S = nb_dtype(0.0)
            SC = nb_dtype(0.0)
            for k in range(part_m.shape[0]):
                r = math.exp2(part_m[k, i] - M)
                S += part_s[k, i] * r
                SC += part_c[k, i] * r
            out[i] = -(M + math.log2(S)) / k2
            mean[i] = SC / S

    _kernels[key] = (partial, combine)
    return partial, combine


def tile_columns(D: int, dtype) -> int:
    """Columns per shared-memory tile: TPB, or fewer when (D + 1) * TPB values would not fit in
    40 KiB (static shared memory is limited to 48 KiB per block)."""
    return int(max(1, min(TPB, (40 * 1024) // ((int(D) + 1) * np.dtype(dtype).itemsize))))


def _sm_count() -> int:
    try:
        return int(cuda.get_current_device().MULTIPROCESSOR_COUNT)
    except Exception:
        return 132


def split_count(n: int, m: int, n_sm: int | None = None) -> int:
    """Column splits so that about 4 blocks per SM are busy: ``ceil(4 n_SM / row_blocks)``,
    at most one split per ``4 * TPB`` columns."""
    n_sm = _sm_count() if n_sm is None else n_sm
    row_blocks = max(1, -(-n // TPB))
    want = max(1, -(-4 * n_sm // row_blocks))
    return int(max(1, min(want, m // (4 * TPB) if m >= 4 * TPB else 1)))


MAX_GRID_Y = 65535  # CUDA limit on gridDim.y (the splits)


def launch_splits(m: int, n_split: int) -> tuple[int, int]:
    """``(splits, columns per split)`` for ``m`` columns and a wanted split count: at least 1,
    at most ``m`` and ``MAX_GRID_Y`` (a larger ``gridDim.y`` fails to launch), every split
    non-empty (``(splits - 1) * cps < m <= splits * cps``)."""
    ns = max(1, min(int(n_split), int(m), MAX_GRID_Y))
    cps = -(-int(m) // ns)
    return -(-int(m) // cps), cps


def softmin_pointcloud(x, y, h, eps: float, p: float, *, with_mean_cost: bool = False,
                       n_split: int | None = None):
    """Fused online soft-min on the GPU (numba-cuda); see the module docstring.

    ``x`` (n, d), ``y`` (m, d), ``h`` (m,) as numpy or CUDA arrays of one float dtype.
    ``n_split`` overrides the split-K rule (:func:`split_count`).
    """
    host = isinstance(x, np.ndarray)
    dt = np.dtype(np.float32) if np.dtype(x.dtype) == np.float32 else np.dtype(np.float64)
    n, D = int(x.shape[0]), int(x.shape[1])
    m = int(y.shape[0])
    p_kind = 0 if p == 2.0 else (1 if p == 1.0 else 2)
    partial, combine = _get_kernels(D, p_kind, dt)
    k2 = _LOG2E / float(eps)
    h_np = np.asarray(h.copy_to_host() if hasattr(h, "copy_to_host") else _to_np(h), dtype=np.float64)
    hs = h_np * k2
    hs = np.where(np.isfinite(hs), hs, -1.0e30).astype(dt)
    xd = cuda.to_device(np.ascontiguousarray(_to_np(x), dtype=dt)) if host or not _is_dev(x) else x
    yd = cuda.to_device(np.ascontiguousarray(_to_np(y), dtype=dt)) if host or not _is_dev(y) else y
    hd = cuda.to_device(hs)
    ns, cps = launch_splits(m, split_count(n, m) if n_split is None else n_split)
    pm = cuda.device_array((ns, n), dtype=dt)
    ps = cuda.device_array((ns, n), dtype=dt)
    pc = cuda.device_array((ns, n), dtype=dt)
    partial[((n + TPB - 1) // TPB, ns), TPB](xd, yd, hd, dt.type(k2), dt.type(p / 2.0), cps, pm, ps, pc)
    out = cuda.device_array(n, dtype=dt)
    mean = cuda.device_array(n, dtype=dt)
    combine[(n + TPB - 1) // TPB, TPB](pm, ps, pc, dt.type(k2), out, mean)
    o = out.copy_to_host()
    if with_mean_cost:
        return o, mean.copy_to_host()
    return o


def _is_dev(a) -> bool:
    return hasattr(a, "copy_to_host") or hasattr(a, "__cuda_array_interface__")


def _to_np(a):
    if hasattr(a, "copy_to_host"):
        return a.copy_to_host()
    if hasattr(a, "get"):
        return a.get()
    return np.asarray(a)
