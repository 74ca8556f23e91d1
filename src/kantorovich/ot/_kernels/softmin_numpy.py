"""Soft-min (log-sum-exp reduction), numpy reference: small, obviously correct, dense.

Every soft-min backend provides the same two functions with the same meaning::

    softmin_dense(C, h, eps, *, with_mean_cost=False)
    softmin_pointcloud(x, y, h, eps, p, *, with_mean_cost=False)

    out_i = -eps * log sum_j exp((h_j - C_ij) / eps)                      shape (n,)
    mean_i = sum_j w_ij C_ij,  w_ij = exp((h_j - C_ij)/eps) / sum_k exp((h_k - C_ik)/eps)

with ``C_ij = |x_i - y_j|^p`` for point clouds. The transposed soft-min (over the rows of C)
is the same call with ``C.T`` or with ``x`` and ``y`` swapped. ``h_j`` may be ``-inf`` (a zero
weight); it then contributes nothing. Stability: the row maximum of ``(h_j - C_ij)/eps`` is
subtracted before ``exp`` so no term overflows, and the maximal term is exactly 1 so the sum
is >= 1 and its log is finite. Cost: O(n m) time; the dense version holds O(n m) temporaries,
the point-cloud version works on blocks of rows (O(block m) memory).

This module works for numpy and (unchanged) CuPy arrays: the CuPy dense backend is this code
run with ``xp = cupy``.
"""

from __future__ import annotations

from ..._validation import xp_of
from .._costs import cost_block

__all__ = ["softmin_dense", "softmin_pointcloud", "pointcloud_cost_block"]

_BLOCK_ENTRIES = 1 << 22  # about 32 MiB of float64 temporaries per block


def _lse_rows(V, xp):
    """Row-wise log-sum-exp, stable: max + log(sum exp(V - max)); rows of all -inf give -inf."""
    mx = V.max(axis=1)
    safe = xp.where(xp.isfinite(mx), mx, 0.0)
    W = xp.exp(V - safe[:, None])
    s = W.sum(axis=1)
    return safe + xp.log(s), W, s


def softmin_dense(C, h, eps: float, *, with_mean_cost: bool = False):
    """``out_i = -eps log sum_j exp((h_j - C_ij)/eps)`` for a dense ``C`` (n, m), ``h`` (m,).

    Returns ``out`` (n,), or ``(out, mean_cost)`` when ``with_mean_cost``.

    >>> import numpy as np
    >>> float(softmin_dense(np.zeros((1, 2)), np.zeros(2), 1.0)[0]) == -np.log(2.0)
    True
    """
    xp = xp_of(C)
    V = (h[None, :] - C) / eps
    lse, W, s = _lse_rows(V, xp)
    out = -eps * lse
    if not with_mean_cost:
        return out
    return out, (W * C).sum(axis=1) / s


#: the cost block ``|x_i - y_j|^p`` (n_block, m), exact differences (:mod:`.._costs`)
pointcloud_cost_block = cost_block


def softmin_pointcloud(x, y, h, eps: float, p, *, with_mean_cost: bool = False, block=None):
    """Soft-min over ``C_ij = |x_i - y_j|^p`` computed by blocks of rows (numpy reference).

    Same meaning and returns as :func:`softmin_dense`. Memory O(block * m). ``p`` is anything
    :func:`~kantorovich.ot._costs.cost_block` takes (a callable cost's ``Cost`` included);
    ``block(i0, i1)``, when given, returns rows ``i0:i1`` of C in its place (a callable
    cost's transposed blocks, ``fn(y, x[i0:i1]).T``).
    """
    xp = xp_of(x)
    n, m = x.shape[0], y.shape[0]
    step = max(1, _BLOCK_ENTRIES // max(1, m * max(1, x.shape[1])))
    outs, means = [], []
    for i0 in range(0, n, step):
        if block is None:
            C = pointcloud_cost_block(x[i0:i0 + step], y, p)
        else:
            C = block(i0, min(n, i0 + step))
        r = softmin_dense(C, h, eps, with_mean_cost=with_mean_cost)
        if with_mean_cost:
            outs.append(r[0])
            means.append(r[1])
        else:
            outs.append(r)
    out = xp.concatenate(outs) if len(outs) > 1 else outs[0]
    if not with_mean_cost:
        return out
    return out, (xp.concatenate(means) if len(means) > 1 else means[0])
