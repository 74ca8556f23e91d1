"""CuPy path of the 1-D Wasserstein distance (and of the sliced distances built on it).

* equal-size unweighted rows: one CuPy sort per side (batched along the last axis) and one
  fused ``ReductionKernel`` reading both sorted arrays (float32 or float64) and accumulating
  ``|x - y|^p`` in float64: two sorts plus one pass over memory;
* otherwise: the vectorised north-west-corner merge of
  :func:`kantorovich.ot._wasserstein_1d._wpp_reference` run with ``xp = cupy``
  (argsort + gather for weighted rows, a sort of the merged cumulative weights).

The orchestration :func:`wasserstein_1d_xp` takes the array module and the equal-size
reduction as arguments, so the tests run it with numpy and a numpy reduction on machines
without a GPU; only :func:`_equal_uniform_cupy` is CuPy-specific. CuPy is imported inside the
functions, never at ``import kantorovich``.
"""

from __future__ import annotations

__all__ = ["wasserstein_1d_cupy", "wasserstein_1d_xp", "equal_uniform_numpy"]

_KERNELS: dict = {}

_PREAMBLE = r"""
__device__ __forceinline__ double kwass_cost(double a, double b) {
    if (a == b) return 0.0;          /* also two equal infinities */
    double d = fabs(a - b);
    return KWASS_POW(d);
}
"""


def _reduction_kernel(p: float):
    """A cached ReductionKernel summing |x - y|^p in float64 along the reduced axis."""
    key = float(p)
    kern = _KERNELS.get(key)
    if kern is not None:
        return kern
    import cupy

    if key == 1.0:
        powexpr = "(d)"
    elif key == 2.0:
        powexpr = "((d) * (d))"
    else:
        powexpr = f"pow((d), {key!r})"
    kern = cupy.ReductionKernel(
        "T x, T y",
        "float64 s",
        "kwass_cost((double)x, (double)y)",
        "a + b",
        "s = a",
        "0",
        f"kantorovich_wass1d_p{abs(hash(key))}",
        preamble=f"#define KWASS_POW(d) {powexpr}\n" + _PREAMBLE,
    )
    _KERNELS[key] = kern
    return kern


def _equal_uniform_cupy(xs, ys, p):
    """(B,) float64 CuPy array of mean |xs - ys|^p along the last axis (sorted rows)."""
    n = xs.shape[-1]
    return _reduction_kernel(p)(xs, ys, axis=-1) / n


def equal_uniform_numpy(xs, ys, p):
    """numpy stand-in of :func:`_equal_uniform_cupy` (used by the tests without a GPU)."""
    from .._wasserstein_1d import _cost
    import numpy as np

    return np.mean(_cost(xs.astype(np.float64), ys.astype(np.float64), p, np), axis=-1)


def _sort_rows(x, w, xp):
    if w is None:
        return xp.sort(x, axis=-1), None
    if w.shape != x.shape:
        w = xp.broadcast_to(w, x.shape)
    order = xp.argsort(x, axis=-1)
    return xp.take_along_axis(x, order, axis=-1), xp.take_along_axis(w, order, axis=-1)


def broadcast_rows(xs, ws, batch, xp):
    """Broadcast sorted (..., n) values (and weights) to the batch and flatten to (B, n)."""
    n = xs.shape[-1]
    shape = tuple(batch) + (n,)
    xs = xp.broadcast_to(xs, shape).reshape(-1, n)
    if ws is not None:
        ws = xp.broadcast_to(ws, shape).reshape(-1, n)
    return xs, ws


def _rows(x, w, batch, xp):
    return broadcast_rows(*_sort_rows(x, w, xp), batch, xp)


def wpp_sorted_xp(xs, wu, ys, wv, p, xp, equal_kernel):
    """W_p^p per row from sorted rows (B, n), (B, m), any array module ``xp``.

    Returns ``(wpp, scale)``: W_p = scale * wpp ** (1/p) (scale is an exact power of two
    chosen for p != 1 to keep |x - y|^p finite).
    """
    from .._wasserstein_1d import _pow2_scale, _wpp_reference

    scale = 1.0
    if p != 1.0:
        scale = _pow2_scale(xs, ys, xp)
        if scale != 1.0:
            xs = xs / xs.dtype.type(scale)
            ys = ys / ys.dtype.type(scale)
    if wu is None and wv is None and xs.shape[-1] == ys.shape[-1]:
        wpp = equal_kernel(xs, ys, p)
    else:
        wpp = _wpp_reference(xs.astype(xp.float64), wu, ys.astype(xp.float64), wv, p, xp)
    return wpp, scale


def wasserstein_1d_xp(u, v, uw, vw, *, p, batch, xp, equal_kernel):
    """W_p for validated arrays of module ``xp``; returns an array of shape ``batch``."""
    xs, wu = _rows(u, uw, batch, xp)
    ys, wv = _rows(v, vw, batch, xp)
    wpp, scale = wpp_sorted_xp(xs, wu, ys, wv, p, xp, equal_kernel)
    wp = wpp if p == 1.0 else scale * wpp ** (1.0 / p)
    return wp.reshape(tuple(batch))


def wasserstein_1d_cupy(u, v, uw, vw, *, p, batch):
    """W_p on the GPU for validated CuPy arrays (float32 or float64 values)."""
    import cupy

    return wasserstein_1d_xp(u, v, uw, vw, p=p, batch=batch, xp=cupy, equal_kernel=_equal_uniform_cupy)
