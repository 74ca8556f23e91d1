r"""Bootstrap means of per-point terms with a counter-based random index stream (private).

``bootstrap_means(t, n_boot, key)`` returns, for b = 0..n_boot-1, the mean of
``t[I(key, b, 0)], ..., t[I(key, b, n-1)]``: a resample of ``t`` with replacement. The index
is a pure function of (key, b, i),

.. math:: I(key, b, i) = \lfloor n\, 2^{-53}\,(h \gg 11) \rfloor,\qquad
          h = \mathrm{mix}(\mathrm{mix}(key + (b+1)\gamma) + (i+1)\gamma),

with :math:`\gamma` = 0x9E3779B97F4A7C15 and mix the SplitMix64 finaliser (a bijection of
64-bit words with full avalanche), so the draws are uniform on {0..n-1} up to 2^-53 and
the result does not depend on the number of threads or on the order in which replicates
are computed. ``key`` is drawn from the caller's ``numpy.random.Generator``: the same
generator state gives the same bootstrap. Each mean is a sum in a fixed order (four
interleaved partial sums over blocks of 256 draws, s_r holding the draws i = r mod 4 of
each block, combined as (s0 + s1) + (s2 + s3)), divided by n.

The numba kernel costs O(B n) with no O(B n) memory, about 0.7 ns per draw on one thread
(1.4 ms for B = 200, n = 10^4); it runs the replicates in parallel from
``PARALLEL_MIN_DRAWS`` = 2^23 draws on (below, a parallel region is not worth its start-up
and its stalls on a shared machine; the results are identical either way); without
numba a numpy version draws the same indices in blocks of replicates (sums may differ in
the last bits).
"""

from __future__ import annotations

import numpy as np

from .._parallel import parallel_kernel

__all__ = ["bootstrap_means", "bootstrap_means_rows", "draw_key"]

_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
PARALLEL_MIN_DRAWS = 1 << 23  # n_boot * n from which replicates run in parallel


def draw_key(gen: np.random.Generator) -> int:
    """One 64-bit key from the caller's generator (advances it by one draw)."""
    return int(gen.integers(0, 2 ** 64, dtype=np.uint64))


try:
    from numba import njit as _njit, prange as _prange, uint64 as _u64

    from ..ot._kernels._simd import wide_vectors
except Exception:  # pragma: no cover - numba is a dependency
    _njit = None

# The kernels live at module level (not as closures built on first use), so numba's on-disk
# cache (cache=True) finds them by their qualified names in a new process instead of compiling
# them again (~0.5 s) and appending one more identical entry to __pycache__ each time.
if _njit is not None:
    @_njit(cache=True, inline="always")
    def _mix(z):  # pragma: no cover - numba
        z = (z ^ (z >> _u64(30))) * _u64(_M1)
        z = (z ^ (z >> _u64(27))) * _u64(_M2)
        return z ^ (z >> _u64(31))

    @_njit(cache=True, boundscheck=False)
    def _one(t, b, key, idx):  # pragma: no cover - numba
        # 512-bit vectors for the hash loop (uint64 multiplies, arithmetic-bound): 1.17-1.20x
        # per replicate on an Intel AVX-512 host (docs/performance.md, "Vector width"); the
        # sums below are scalar, in their fixed order, so the means are unchanged bit for bit
        wide_vectors()
        n = t.shape[0]
        g = _u64(_GAMMA)
        scale = np.float64(n) * 2.0 ** -53
        base = _mix(key + (_u64(b) + _u64(1)) * g)
        s0 = 0.0
        s1 = 0.0
        s2 = 0.0
        s3 = 0.0
        for i0 in range(0, n, 256):
            w = min(256, n - i0)
            c0 = base + _u64(i0) * g
            for j in range(w):  # vectorised: independent hashes
                h = _mix(c0 + (_u64(j) + _u64(1)) * g)
                idx[j] = min(n - 1, np.int64(np.float64(h >> _u64(11)) * scale))
            w4 = w - w % 4
            for j in range(0, w4, 4):
                s0 += t[idx[j]]
                s1 += t[idx[j + 1]]
                s2 += t[idx[j + 2]]
                s3 += t[idx[j + 3]]
            for j in range(w4, w):
                s0 += t[idx[j]]
        return ((s0 + s1) + (s2 + s3)) / n

    @parallel_kernel
    @_njit(parallel=True, cache=True, boundscheck=False)
    def boot_par(t, n_boot, key, out):  # pragma: no cover - numba
        for b in _prange(n_boot):
            idx = np.empty(256, dtype=np.int64)
            # b as int64, as boot_ser's: the uint64 prange index compiled _one a second time
            out[b] = _one(t, np.int64(b), key, idx)

    @_njit(cache=True, boundscheck=False)
    def boot_ser(t, n_boot, key, out):  # pragma: no cover - numba
        idx = np.empty(256, dtype=np.int64)
        for b in range(n_boot):
            out[b] = _one(t, b, key, idx)

    @parallel_kernel
    @_njit(parallel=True, cache=True, boundscheck=False)
    def boot_rows(T, n_boot, keys, out):  # pragma: no cover - numba
        for q in _prange(T.shape[0]):
            idx = np.empty(256, dtype=np.int64)
            for b in range(n_boot):
                out[q, b] = _one(T[q], b, keys[q], idx)

    _KERNEL = (boot_ser, boot_par)
else:  # pragma: no cover
    _KERNEL = False


def _kernel():
    """(serial, parallel) numba bootstrap kernels, or False without numba."""
    return _KERNEL


def _mix_np(z):
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def _indices_np(n: int, b0: int, b1: int, key: int) -> np.ndarray:
    """The (b1 - b0, n) index block of replicates b0..b1-1 (numpy, same stream as the kernel)."""
    g = np.uint64(_GAMMA)
    with np.errstate(over="ignore"):
        base = _mix_np(np.uint64(key) + (np.arange(b0, b1, dtype=np.uint64) + np.uint64(1)) * g)
        h = _mix_np(base[:, None] + (np.arange(n, dtype=np.uint64) + np.uint64(1))[None, :] * g)
    idx = ((h >> np.uint64(11)).astype(np.float64) * (float(n) * 2.0 ** -53)).astype(np.int64)
    return np.minimum(idx, n - 1)


def bootstrap_means(t, n_boot: int, key: int, *, use_numba: bool = True) -> np.ndarray:
    """Means of ``n_boot`` resamples (with replacement) of the 1-D array ``t``."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    out = np.empty(n_boot, dtype=np.float64)
    key = np.uint64(key % 2 ** 64)
    kern = _kernel() if use_numba else False
    if kern:
        # the same per-replicate computation either way; threads only pay off on big jobs
        # (a parallel region on a 2-core machine shared with other jobs can stall for ms)
        kern[1 if n_boot * t.shape[0] >= PARALLEL_MIN_DRAWS else 0](t, n_boot, key, out)
        return out
    n = t.shape[0]
    step = max(1, (1 << 20) // max(n, 1))
    for b0 in range(0, n_boot, step):
        b1 = min(n_boot, b0 + step)
        out[b0:b1] = t[_indices_np(n, b0, b1, int(key))].mean(axis=1)
    return out


def bootstrap_means_rows(T, n_boot: int, keys) -> np.ndarray:
    """``bootstrap_means(T[q], n_boot, keys[q])`` for every row q of ``T`` (B, n), the rows in
    parallel: (B, n_boot), each row's replicates those of the single call bit for bit (numba)."""
    T = np.ascontiguousarray(T, dtype=np.float64)
    keys = np.asarray([int(k) % 2 ** 64 for k in keys], dtype=np.uint64)
    out = np.empty((T.shape[0], n_boot), dtype=np.float64)
    boot_rows(T, n_boot, keys, out)
    return out
