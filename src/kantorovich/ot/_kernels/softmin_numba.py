"""Soft-min, numba CPU online kernel for point clouds: O(n + m) memory, parallel over rows.

Same functions and meaning as :mod:`.softmin_numpy`::

    softmin_pointcloud(x, y, h, eps, p, *, with_mean_cost=False)
    out_i = -eps * log sum_j exp((h_j - |x_i - y_j|^p) / eps)

How it is fast and stable
-------------------------
- Rows are split over threads (``prange`` over chunks of rows); each chunk owns one length-m
  buffer, so memory is ``O(m * threads)`` beside the inputs, never ``O(n m)``.
- For one row, a first vectorised pass computes ``v_j = h_j/eps - C_ij/eps`` into the buffer
  and its maximum (the "known shift"); a second pass sums ``exp(v_j - max)``. Every argument is
  then <= 0, so the inner loop is branch-free and cannot overflow; the largest term is 1.
- There is no vectorised ``exp`` in numba without Intel SVML, so :func:`_exp_nonpos` evaluates
  ``exp(t)`` for ``t <= 0`` with plain arithmetic that LLVM vectorises (AVX2/AVX-512):
  ``exp(t) = (P15(t/128))^(2^7)`` with a degree-15 Taylor polynomial on ``[-1/2, 0]`` and seven
  squarings; terms with ``t < -64`` (below 1.6e-28 of the largest term) are set to exactly 0.
  Relative error about 2e-14 per term (the squarings multiply the rounding of the polynomial by
  128), so potentials are accurate to about ``eps * 1e-13``.
- ``-inf`` entries of ``h`` (zero weights) are replaced by a large finite negative number
  before the kernel, so ``fastmath`` (which assumes finite values) is safe.

Arithmetic is float64 whatever the input dtype (float32 inputs are promoted, results are cast
back by the caller). Compiled with ``cache=True``; the first call in a fresh environment
compiles for a few seconds.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

__all__ = ["softmin_pointcloud", "warmup"]

_NEG_BIG = -1e300

@njit(inline="always", fastmath=True)
def _exp_nonpos(t):
    tc = max(t, -64.0)
    z = tc * 0.0078125  # t / 128, in [-1/2, 0]
    q = 1.0 + z * (1.0 + z * (0.5 + z * (1.6666666666666666e-01 + z * (4.1666666666666664e-02
        + z * (8.3333333333333332e-03 + z * (1.3888888888888889e-03 + z * (1.9841269841269841e-04
        + z * (2.4801587301587302e-05 + z * (2.7557319223985893e-06 + z * (2.7557319223985888e-07
        + z * (2.5052108385441720e-08 + z * (2.0876756987868100e-09 + z * (1.6059043836821613e-10
        + z * (1.1470745597729725e-11 + z * 7.6471637318198164e-13))))))))))))))
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    q = q * q
    return q if t > -64.0 else 0.0

@njit(inline="always", fastmath=True)
def _row_values(xi, yT, hs, inv_eps, p, buf):
    """buf_j = hs_j - |xi - y_j|^p / eps; returns max_j buf_j."""
    d = yT.shape[0]
    m = yT.shape[1]
    for j in range(m):
        buf[j] = 0.0
    for k in range(d):
        xk = xi[k]
        for j in range(m):
            t = xk - yT[k, j]
            buf[j] += t * t
    if p == 1.0:
        for j in range(m):
            buf[j] = math.sqrt(buf[j])
    elif p != 2.0:
        half = 0.5 * p
        for j in range(m):
            buf[j] = buf[j] ** half
    mx = _NEG_BIG
    for j in range(m):
        v = hs[j] - buf[j] * inv_eps
        buf[j] = v
        mx = max(mx, v)
    return mx

@njit(parallel=True, fastmath=True, cache=True)
def softmin_pc(x, yT, hs, eps, p, out, n_chunks):
    n = x.shape[0]
    m = yT.shape[1]
    inv_eps = 1.0 / eps
    for c in prange(n_chunks):
        buf = np.empty(m, dtype=np.float64)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            mx = _row_values(x[i], yT, hs, inv_eps, p, buf)
            s = 0.0
            for j in range(m):
                s += _exp_nonpos(buf[j] - mx)
            out[i] = -eps * (mx + math.log(s))
    return out

@njit(parallel=True, fastmath=True, cache=True)
def softmin_pc_mean(x, yT, hs, eps, p, out, mean, n_chunks):
    n = x.shape[0]
    m = yT.shape[1]
    inv_eps = 1.0 / eps
    for c in prange(n_chunks):
        buf = np.empty(m, dtype=np.float64)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            mx = _row_values(x[i], yT, hs, inv_eps, p, buf)
            s = 0.0
            sc = 0.0
            for j in range(m):
                w = _exp_nonpos(buf[j] - mx)
                s += w
                # C_ij = (hs_j - v_j) * eps; hs_j may be the -1e300 stand-in only where w == 0
                sc += w * ((hs[j] - buf[j]) * eps if w > 0.0 else 0.0)
            out[i] = -eps * (mx + math.log(s))
            mean[i] = sc / s
    return out, mean

@njit(fastmath=True, cache=True)
def exp_nonpos_array(t, out):
    for i in range(t.shape[0]):
        out[i] = _exp_nonpos(t[i])
    return out


_kernels = dict(softmin_pc=softmin_pc, softmin_pc_mean=softmin_pc_mean, exp_nonpos_array=exp_nonpos_array)


def _build():
    return _kernels


def _chunks(n: int) -> int:
    return max(1, min(n, 8 * numba.get_num_threads()))


def _prepare(x, y, h, eps):
    x64 = np.ascontiguousarray(x, dtype=np.float64)
    yT = np.ascontiguousarray(np.asarray(y, dtype=np.float64).T)
    hs = np.asarray(h, dtype=np.float64) / float(eps)
    hs = np.where(np.isfinite(hs) | (hs > 0), hs, _NEG_BIG)
    return x64, yT, np.ascontiguousarray(hs)


def softmin_pointcloud(x, y, h, eps: float, p: float, *, with_mean_cost: bool = False):
    """Online soft-min ``out_i = -eps log sum_j exp((h_j - |x_i - y_j|^p)/eps)`` (numba, CPU).

    Parameters
    ----------
    x : (n, d) array, y : (m, d) array, h : (m,) array (``-inf`` allowed), eps > 0, p > 0.

    Returns
    -------
    out : (n,) float64, or ``(out, mean_cost)`` when ``with_mean_cost`` (the row-softmax mean
    of ``C_ij``, used for the transport cost ``<P, C>``).

    Complexity O(n m d) time, O(m * threads) extra memory.
    """
    k = _build()
    x64, yT, hs = _prepare(x, y, h, eps)
    out = np.empty(x64.shape[0], dtype=np.float64)
    if with_mean_cost:
        mean = np.empty_like(out)
        k["softmin_pc_mean"](x64, yT, hs, float(eps), float(p), out, mean, _chunks(len(out)))
        return out, mean
    k["softmin_pc"](x64, yT, hs, float(eps), float(p), out, _chunks(len(out)))
    return out


def exp_nonpos(t):
    """The kernel's vectorisable ``exp`` for ``t <= 0`` (exposed for tests)."""
    t = np.ascontiguousarray(t, dtype=np.float64)
    return _build()["exp_nonpos_array"](t, np.empty_like(t))


def warmup() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    x = np.zeros((2, 2))
    softmin_pointcloud(x, x, np.zeros(2), 1.0, 2.0)
    softmin_pointcloud(x, x, np.zeros(2), 1.0, 2.0, with_mean_cost=True)
