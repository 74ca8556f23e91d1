"""GPU k-nearest-neighbour distances with CuPy (private).

``knn_positive_cuda(query, ref, k, same=...)`` has the contract of
:func:`kantorovich.divergences._knn.knn_positive` (k smallest strictly positive distances,
float64 numpy output). Candidates are selected, then their distances recomputed exactly in
float64 from coordinate differences (:func:`~kantorovich.divergences._knn.exact_sorted`):

* d <= 32 and k <= 22: the fused top-K kernel
  (:func:`~kantorovich.divergences._knn_cuda_kernel.knn_fused`, one pass over the references,
  float32 keys, the candidates in registers);
* otherwise :func:`~kantorovich.divergences._knn.knn_tiled` with ``xp = cupy`` (float64 GEMM
  tiles, as its docstring explains: float32 tiles missed true neighbours; then row-wise
  argmin passes).

Both run on numpy too (the fused kernel through its numpy model), which is how the host logic
is tested without a GPU; the CuPy runs are checked by the ``gpu`` tests.
"""

from __future__ import annotations

import numpy as np

from .._array_api import cupy_or_raise
from ._knn import knn_tiled, select_positive
from ._knn_cuda_kernel import fused_supported, knn_fused

__all__ = ["knn_positive_cuda"]

_EXTRA = 8  # spare columns for duplicates (zero distances) before giving up


def knn_positive_cuda(query, ref, k: int, *, same: bool = False, tile_entries: int = 2 ** 28,
                      xp=None, kernel=None, fused: bool | None = None):
    """``(dist, n_dup)``: k positive nearest distances computed on the GPU, as numpy.

    Raises BackendUnavailableError without CuPy, ValueError when a point has more than
    8 duplicates (use the CPU backend, which searches deeper). ``xp`` / ``kernel``: the array
    module and the fused kernel's class (CuPy's by default; numpy and its model in the tests);
    ``fused``: force (True) or forbid (False) the fused kernel, by default used where it applies.
    """
    cp = cupy_or_raise() if xp is None else xp
    q = cp.asarray(query, dtype=cp.float64)
    r = q if same else cp.asarray(ref, dtype=cp.float64)
    kk = min(k + _EXTRA, r.shape[0] - (1 if same else 0))
    if fused is None:
        fused = fused_supported(q.shape[1], kk + 2)
    if fused:
        dist = knn_fused(q, r, kk, same=same, xp=cp, kernel=kernel)
    else:
        dist = knn_tiled(q, r, kk, same=same, xp=cp, tile_entries=tile_entries)
    out, ok, n_dup = select_positive(dist, k, xp=cp)
    if not bool(cp.all(ok)):
        raise ValueError(
            f"some points have more than {_EXTRA} duplicates (zero distances); the CUDA backend "
            "does not search deeper: use backend='numpy' or remove duplicates.")
    out = out if cp is np else cp.asnumpy(out)
    return out.astype(np.float64), int(n_dup)
