"""The divergences' numba kernels that ask LLVM for 512-bit vectors (kantorovich.ot._kernels._simd).

Only the bootstrap's per-replicate kernel pays for it: its hash loop (uint64 multiplies, no
memory traffic) ran 1.17-1.20x faster with 512-bit vectors on an Intel AVX-512 host, while the
kNN kernels (the brute force's float32 tile loop, its float64 refinement, the KD-tree's leaf
scans and build) ran 3-14 % slower or the same (docs/performance.md, "Vector width: 512-bit on
Intel too"). These tests fail when the bootstrap loses the request, and when the request
changes its means: they are sums in a fixed scalar order, so the wide and the narrow code give
the same bits.
"""

from __future__ import annotations

import ast
import inspect
import textwrap

import llvmlite.binding as llvm
import numba
import numpy as np
import pytest

from kantorovich.divergences import _resample
from kantorovich.ot._kernels._simd import PREFER_WIDTH_ATTRIBUTE

HOT = [_resample._one]


def _avx512() -> bool:
    return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


def _fresh(kernel, wide: bool):
    """The kernel compiled anew (the cached one cannot be inspected), with or without its
    ``wide_vectors()`` line."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(kernel.py_func)))
    fn = tree.body[0]
    fn.decorator_list = []
    if not wide:
        fn.body = [s for s in fn.body if "wide_vectors()" not in ast.unparse(s)]
    ns = dict(kernel.py_func.__globals__)
    exec(compile(ast.fix_missing_locations(tree), "<fresh>", "exec"), ns)
    opts = {k: v for k, v in kernel.targetoptions.items() if k not in ("cache", "nopython")}
    return numba.njit(**opts)(ns[fn.name])


@pytest.mark.parametrize("kernel", HOT, ids=lambda k: k.py_func.__name__)
def test_hot_kernel_asks_for_wide_vectors(kernel):
    src = inspect.getsource(kernel.py_func)
    assert "wide_vectors()" in src
    assert "prange(" not in src  # a parallel kernel would need the request in its prange body


def test_bootstrap_replicates_wide_equal_narrow_bit_for_bit():
    wide, narrow = _fresh(_resample._one, True), _fresh(_resample._one, False)
    rng = np.random.default_rng(3)
    for n in (1, 7, 255, 256, 1001, 4099):  # whole blocks of 256 draws, remainders, tails of 4
        t = rng.normal(size=n) * 10.0 ** rng.integers(-3, 4, size=n)
        key = np.uint64(rng.integers(0, 2 ** 63))
        idx = np.empty(256, dtype=np.int64)
        for b in range(5):
            assert wide(t, b, key, idx) == narrow(t, b, key, idx)
            assert wide(t, b, key, idx) == _resample._one(t, b, key, idx)
    ir_wide = next(iter(wide.inspect_llvm().values()))
    ir_narrow = next(iter(narrow.inspect_llvm().values()))
    assert PREFER_WIDTH_ATTRIBUTE in ir_wide and PREFER_WIDTH_ATTRIBUTE not in ir_narrow
    if _avx512():
        assert "zmm" in next(iter(wide.inspect_asm().values()))
