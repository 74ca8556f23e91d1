"""The absolute tolerance at which two float64 soft-mins of the same inputs agree."""

from __future__ import annotations

import numpy as np


def softmin_atol(eps, C, h):
    """``1e-12 eps`` plus 16 ulps of ``max C + max |h|``.

    The soft-min ``-eps log sum_j exp((h_j - C_ij) / eps)`` tends to ``min_j (C_ij - h_j)`` as
    eps -> 0: a difference of O(1) numbers that can cancel to ~1e-4.  Kernels round ``C_ij``
    and ``h_j - C_ij`` differently (scaled coordinates, folded constants, FMA contraction that
    depends on the CPU), so they agree to a few ulps of the terms, not of a cancelled result.
    """
    h = np.asarray(h, dtype=float)
    finite = h[np.isfinite(h)]
    scale = float(np.max(np.abs(C))) + (float(np.max(np.abs(finite))) if finite.size else 0.0)
    return 1e-12 * eps + 16 * np.finfo(np.float64).eps * scale
