"""GPU k-nearest-neighbour distances by tiled brute force with CuPy (private).

``knn_positive_cuda(query, ref, k, same=...)`` has the contract of
:func:`kantorovich.divergences._knn.knn_positive` (k smallest strictly positive distances,
float64 numpy output) and runs :func:`~kantorovich.divergences._knn.knn_tiled` with
``xp = cupy``: float32 GEMM tiles for candidate selection, then exact float64 distances of
the candidates. The numpy run of the same ``knn_tiled`` is the reference (tests compare it
with the KD-tree); the CuPy run is checked by the ``gpu`` tests.
"""

from __future__ import annotations

import numpy as np

from .._array_api import cupy_or_raise
from ._knn import knn_tiled, select_positive

__all__ = ["knn_positive_cuda"]

_EXTRA = 8  # spare columns for duplicates (zero distances) before giving up


def knn_positive_cuda(query, ref, k: int, *, same: bool = False, tile_entries: int = 2 ** 28):
    """``(dist, n_dup)``: k positive nearest distances computed on the GPU, as numpy.

    Raises BackendUnavailableError without CuPy, ValueError when a point has more than
    8 duplicates (use the CPU backend, which searches deeper).
    """
    cp = cupy_or_raise()
    q = cp.asarray(query, dtype=cp.float64)
    r = q if same else cp.asarray(ref, dtype=cp.float64)
    kk = min(k + _EXTRA, r.shape[0] - (1 if same else 0))
    dist = knn_tiled(q, r, kk, same=same, xp=cp, tile_entries=tile_entries)
    out, ok, n_dup = select_positive(dist, k, xp=cp)
    if not bool(cp.all(ok)):
        raise ValueError(
            f"some points have more than {_EXTRA} duplicates (zero distances); the CUDA backend "
            "does not search deeper: use backend='numpy' or remove duplicates.")
    return cp.asnumpy(out).astype(np.float64), int(n_dup)
