"""CuPy path of the 1-D Wasserstein distance (and of the sliced distances built on it).

* equal-size unweighted rows: one CuPy sort per side (batched along the last axis) and one
  ``RawKernel`` reading both sorted arrays (float32 or float64), accumulating ``|x - y|^p`` in
  float64 over about a thousand blocks (per-block partials, added by ``cupy.sum``): two sorts
  plus one pass over memory;
* otherwise: the vectorised north-west-corner merge of
  :func:`kantorovich.ot._kernels.wass1d_numpy.wpp_reference` run with ``xp = cupy``
  (argsort + gather for weighted rows, a sort of the merged cumulative weights).

The orchestration :func:`wasserstein_1d_xp` takes the array module and the equal-size
reduction as arguments, so the tests run it with numpy and a numpy reduction on machines
without a GPU; only :func:`_equal_uniform_cupy` is CuPy-specific. CuPy is imported inside the
functions, never at ``import kantorovich``.
"""

from __future__ import annotations

from .wass1d_numpy import broadcast_rows, cost, pow2_above_max_abs, wpp_reference

__all__ = ["equal_uniform_numpy", "wasserstein_1d_cupy", "wasserstein_1d_xp"]

_KERNELS: dict = {}

TPB = 256  # threads per block of the row-sum kernel
_TARGET_BLOCKS = 8 * 132  # about 8 resident blocks on each SM of an H100 / H200

# |x - y|^p summed in float64 over equal-length sorted rows. One launch covers every row: block b
# sums a grid-stride share of row b // G (G blocks per row) and writes one partial; the host adds
# the G partials of each row (cupy.sum: a fixed order, so the result is deterministic).
# A ReductionKernel with two inputs cannot use CuPy's CUB path and puts a one-row reduction on
# a single block (~30-120 ms at n = 1e8); this kernel keeps every SM busy for any batch shape.
_SOURCE = r"""
typedef __REAL__ real;
#define TPB __TPB__
__device__ __forceinline__ double kwass_cost(double a, double b) {
    if (a == b) return 0.0;          /* also two equal infinities */
    double d = fabs(a - b);
    return __POW__;
}
extern "C" __global__ void wass1d_rows(
    const real* __restrict__ x, const real* __restrict__ y,
    long long n, long long row_x, long long row_y, int blocks_per_row,
    double* __restrict__ part)      /* rows x blocks_per_row */
{
    __shared__ double red[TPB / 32];
    long long row = blockIdx.x / blocks_per_row;
    long long b = blockIdx.x - row * blocks_per_row;
    const real* xr = x + row * row_x;
    const real* yr = y + row * row_y;
    double s = 0.0;
    long long stride = (long long)blocks_per_row * TPB;
    for (long long j = b * TPB + threadIdx.x; j < n; j += stride)
        s += kwass_cost((double)xr[j], (double)yr[j]);
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = s;
    __syncthreads();
    if (threadIdx.x < 32) {
        s = threadIdx.x < TPB / 32 ? red[threadIdx.x] : 0.0;
        for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
        if (threadIdx.x == 0) part[blockIdx.x] = s;
    }
}
"""


def _pow_expr(p: float) -> str:
    if p == 1.0:
        return "d"
    if p == 2.0:
        return "d * d"
    return f"pow(d, {float(p)!r})"


def kernel_source(p: float, dtype) -> str:
    """The CUDA C source of the row-sum kernel for exponent ``p`` and float32/float64 rows."""
    import numpy as np

    real = "float" if np.dtype(dtype) == np.float32 else "double"
    return _SOURCE.replace("__REAL__", real).replace("__TPB__", str(TPB)).replace("__POW__", _pow_expr(p))


def blocks_per_row(rows: int, n: int, target: int = _TARGET_BLOCKS) -> int:
    """Blocks per row: enough for ``target`` blocks in all (>= 1000 at one row), at least
    ``4 TPB`` values per block, and at most ``2^31 - 1`` blocks in the launch."""
    rows, n = max(1, int(rows)), max(1, int(n))
    g = max(1, min(-(-target // rows), -(-n // (4 * TPB))))
    return int(max(1, min(g, (2 ** 31 - 1) // rows)))


def _kernel(p: float, dtype):
    import cupy
    import numpy as np

    key = (float(p), np.dtype(dtype).str)
    if key not in _KERNELS:
        _KERNELS[key] = cupy.RawKernel(kernel_source(p, dtype), "wass1d_rows")
    return _KERNELS[key]


def _row_stride(a) -> int:
    """Elements between rows of a (B, n) array with a unit last stride (0 when broadcast)."""
    return int(a.strides[0] // a.itemsize) if a.shape[0] > 1 else 0


def equal_uniform_rows(xs, ys, p, launch, xp):
    """(B,) float64 mean |xs - ys|^p along the last axis, by per-block partial sums.

    ``launch(xs, ys, n, row_x, row_y, G, part)`` fills ``part`` (B * G,) with the partial sums of
    the row-sum kernel; the tests pass a numpy stand-in of it (the same partition of each row).
    """
    B, n = xs.shape
    if xs.strides[-1] != xs.itemsize:
        xs = xp.ascontiguousarray(xs)
    if ys.strides[-1] != ys.itemsize:
        ys = xp.ascontiguousarray(ys)
    G = blocks_per_row(B, n)
    part = xp.empty(B * G, dtype=xp.float64)
    launch(xs, ys, n, _row_stride(xs), _row_stride(ys), G, part)
    return part.reshape(B, G).sum(axis=1) / n


def _launch_cupy(p):
    import numpy as np

    def launch(xs, ys, n, rx, ry, G, part):
        k = _kernel(p, xs.dtype)
        k((int(part.size),), (TPB,), (xs, ys, np.int64(n), np.int64(rx), np.int64(ry), np.int32(G), part))
    return launch


def _equal_uniform_cupy(xs, ys, p):
    """(B,) float64 CuPy array of mean |xs - ys|^p along the last axis (sorted rows)."""
    import cupy

    if xs.dtype != ys.dtype:
        dt = cupy.result_type(xs.dtype, ys.dtype)
        xs, ys = xs.astype(dt), ys.astype(dt)
    return equal_uniform_rows(xs, ys, p, _launch_cupy(p), cupy)


def launch_numpy(p):
    """numpy stand-in of the row-sum kernel: the same rows, blocks and grid-stride shares."""
    import numpy as np

    def launch(xs, ys, n, rx, ry, G, part):
        B = part.size // G
        # the kernel's pointer arithmetic: row r starts r * row_x elements after row 0
        X = np.lib.stride_tricks.as_strided(xs, (B, n), (rx * xs.itemsize, xs.itemsize), writeable=False)
        Y = np.lib.stride_tricks.as_strided(ys, (B, n), (ry * ys.itemsize, ys.itemsize), writeable=False)
        for r in range(B):
            c = cost(X[r].astype(np.float64), Y[r].astype(np.float64), p, np)
            for b in range(G):
                idx = (np.arange(b * TPB, n, G * TPB)[:, None] + np.arange(TPB)[None, :]).ravel()
                part[r * G + b] = c[idx[idx < n]].sum()
    return launch


def equal_uniform_numpy(xs, ys, p):
    """numpy stand-in of :func:`_equal_uniform_cupy` (used by the tests without a GPU)."""
    import numpy as np

    return np.mean(cost(xs.astype(np.float64), ys.astype(np.float64), p, np), axis=-1)


def _sort_rows(x, w, xp):
    if w is None:
        return xp.sort(x, axis=-1), None
    if w.shape != x.shape:
        w = xp.broadcast_to(w, x.shape)
    order = xp.argsort(x, axis=-1)
    return xp.take_along_axis(x, order, axis=-1), xp.take_along_axis(w, order, axis=-1)


def _rows(x, w, batch, xp):
    return broadcast_rows(*_sort_rows(x, w, xp), batch, xp)


def _div_pow2(a, scale: float):
    """``a / scale`` for a power of two ``scale``, in ``a``'s dtype. float32 values at or above
    2**127 (up to 3.4e38) have ``scale = 2**128``, which is inf in float32 (their quotient by it
    was 0, so W_p was 0); its reciprocal 2**-128 is a float32 (subnormal, exact), and so is a
    scale below 1 for tiny values, whose reciprocal could overflow: the same exactly rounded
    quotient either way."""
    if scale > 1.0:
        return a * a.dtype.type(1.0 / scale)
    return a / a.dtype.type(scale)


def wpp_sorted_xp(xs, wu, ys, wv, p, xp, equal_kernel):
    """W_p^p per row from sorted rows (B, n), (B, m), any array module ``xp``.

    Returns ``(wpp, scale)``: W_p = scale * wpp ** (1/p) (scale is an exact power of two
    chosen for p != 1 to keep |x - y|^p finite).
    """
    scale = 1.0
    if p != 1.0:
        scale = pow2_above_max_abs(xs, ys, xp)
        if scale != 1.0:
            xs = _div_pow2(xs, scale)
            ys = _div_pow2(ys, scale)
    if wu is None and wv is None and xs.shape[-1] == ys.shape[-1]:
        wpp = equal_kernel(xs, ys, p)
    else:
        wpp = wpp_reference(xs.astype(xp.float64), wu, ys.astype(xp.float64), wv, p, xp)
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
