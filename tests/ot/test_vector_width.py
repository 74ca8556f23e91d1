"""The numba CPU kernels ask LLVM for 512-bit vectors (kantorovich.ot._kernels._simd).

LLVM's x86 tuning keeps Intel AVX-512 hosts on 256-bit vectors unless a function says
otherwise; the soft-min's exp2 loops are arithmetic-bound and run about 1.5x faster with
512-bit ones there (docs/performance.md, "Vector width: 512-bit on Intel too"). These tests fail when a hot kernel
loses the request: its source must call ``wide_vectors()``, a fresh compile of it must carry the
attribute, and on an AVX-512 host its machine code must use ``zmm`` registers.
"""

from __future__ import annotations

import inspect

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

from kantorovich.ot import _sinkhorn_batch
from kantorovich.ot._kernels import grad_numba, softmin_numba, softmin_numba_dense
from kantorovich.ot._kernels._simd import PREFER_WIDTH_ATTRIBUTE, wide_vectors

# every kernel whose hot loop vectorises: a row loop called by address (compiled only as its
# entry point, softmin_numba.row_loop: the parallel passes over the rows hold no loop of their
# own), or a helper of the batched solver
HOT = [
    softmin_numba.shifted_logs, softmin_numba.pc_rows, softmin_numba.pc_mean_rows,
    softmin_numba.sq_shift_rows, softmin_numba.sq2_shift_rows, softmin_numba.exp_nonpos_array,
    softmin_numba._exp2_loop,
    softmin_numba_dense.dense_shift_rows, softmin_numba_dense.dense_mean_rows,
    softmin_numba_dense.dense_col_sums, softmin_numba_dense.dense_col_maxima,
    grad_numba.envelope_rows, grad_numba.envelope_xy_rows, grad_numba.rowsum_rows,
    grad_numba.product_rows, grad_numba.implicit_rows,
    softmin_numba.lse2_rows, _sinkhorn_batch._softmin_mean,
]


def _avx512() -> bool:
    return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


def _source_function(kernel):
    """The Python function of a jitted kernel, or a row loop itself (compiled only as its
    entry point, softmin_numba.row_loop)."""
    return getattr(kernel, "py_func", kernel)


@pytest.mark.parametrize("kernel", HOT, ids=lambda k: _source_function(k).__name__)
def test_hot_kernel_asks_for_wide_vectors(kernel):
    src = inspect.getsource(_source_function(kernel))
    assert "wide_vectors()" in src
    if "prange(" in src:  # a parallel kernel: the request must sit in the prange body
        body = src.split("prange(", 1)[1]
        assert "wide_vectors()" in body


def test_attribute_reaches_llvm_and_the_loop_widens():
    fm = softmin_numba._FM
    exp2 = softmin_numba._exp2_f64

    # two written-out twins, not one function with a flag: the request acts when the call is
    # compiled, so a call in a branch not taken would still widen the whole function
    def narrow(x, y, out):
        s = 0.0
        for j in range(np.uint64(x.shape[0])):
            t = x[j] - y[j]
            v = exp2(-(t * t))
            out[j] = v
            s += v
        return s

    def wide(x, y, out):
        wide_vectors()
        s = 0.0
        for j in range(np.uint64(x.shape[0])):
            t = x[j] - y[j]
            v = exp2(-(t * t))
            out[j] = v
            s += v
        return s

    narrow, wide = numba.njit(fastmath=fm)(narrow), numba.njit(fastmath=fm)(wide)
    x, y = np.linspace(-1, 1, 1000), np.linspace(1, -1, 1000)
    o1, o2 = np.empty(1000), np.empty(1000)
    s1, s2 = narrow(x, y, o1), wide(x, y, o2)
    np.testing.assert_array_equal(o1, o2)  # elementwise: the same operations per lane
    assert s2 == pytest.approx(s1, rel=1e-14)  # a sum: its order follows the vector width
    ir_wide = next(iter(wide.inspect_llvm().values()))
    ir_narrow = next(iter(narrow.inspect_llvm().values()))
    assert PREFER_WIDTH_ATTRIBUTE in ir_wide and PREFER_WIDTH_ATTRIBUTE not in ir_narrow
    if _avx512():
        assert "zmm" in next(iter(wide.inspect_asm().values()))


def test_row_loop_compiled_fresh_uses_512_bit_registers():
    """sq2_shift_rows, the d = 2 row loop, compiled anew (the cached entry point cannot be
    inspected): the attribute is in its LLVM module, and zmm registers in its code on an
    AVX-512 host."""
    rows = softmin_numba.sq2_shift_rows
    fresh = numba.njit(**rows.jit_options)(rows)
    n, m = 5, 700
    rng = np.random.default_rng(0)
    X0, X1, Y0, Y1 = rng.random(n), rng.random(n), rng.random(m), rng.random(m)
    hc, o, out = np.zeros(m), np.zeros(n), np.empty(n)
    fell = np.zeros(n, dtype=np.uint8)
    logs = softmin_numba.rows_entries()["logs"].address
    fresh(X0, X1, Y0, Y1, hc, False, o, False, 2.0 ** -500, 2.0 ** 999, -1e308, 1.0, out, fell,
          0, n, logs)
    # the reference: the safe path of a row is log2 sum_j 2^(hc_j - |x_i - y_j|^2)
    ref = [-np.log2(np.sum(np.exp2(-((X0[i] - Y0) ** 2 + (X1[i] - Y1) ** 2)))) for i in range(n)]
    np.testing.assert_allclose(out, ref, rtol=1e-14)
    assert PREFER_WIDTH_ATTRIBUTE in next(iter(fresh.inspect_llvm().values()))
    if _avx512():
        assert "zmm" in next(iter(fresh.inspect_asm().values()))
