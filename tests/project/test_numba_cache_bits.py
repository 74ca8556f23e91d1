"""A process that compiles the numba kernels and a process that loads them from numba's cache
compute the same bits (docs/sinkhorn.md, "numba's cache and the last bits").

numba links a jitted function that another calls by name into the caller's LLVM module and
optimises it again there; the JIT linker then binds each call to the first definition of the
function's symbol loaded into the process. A process that compiles the caller has compiled the
callee first, on its own, and runs that copy; a process that loads the caller from the cache
loads nothing else and runs the caller's own copy. The same holds for a ``prange`` body, which
numba compiles as a function of its own and links into the kernel. With fastmath the two copies
are different machine code and round apart in the last bits: the report's Sinkhorn values at
the smallest eps differed between a first run and later ones. So fastmath code is compiled
once: the row loops (``softmin_numba.row_loop``) are compiled only as their entry points, which
the parallel passes call by address, and no other fastmath function is called by name from
compiled code or holds a ``prange``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pathlib
import subprocess
import sys
import textwrap

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src"

# the modules with numba CPU kernels (the CUDA and CuPy ones compile otherwise)
_MODULES = [
    "kantorovich.ot._kernels.softmin_numba", "kantorovich.ot._kernels.softmin_numba_dense",
    "kantorovich.ot._kernels.grad_numba", "kantorovich.ot._kernels.auction_numba",
    "kantorovich.ot._kernels.radix_numba", "kantorovich.ot._kernels.wass1d_numba",
    "kantorovich.ot._sinkhorn_batch", "kantorovich.ot._sinkhorn_steps", "kantorovich.ot._batch",
    "kantorovich.divergences._knn_kdtree_numba", "kantorovich.divergences._resample",
]


def _jitted(obj):
    """The numba dispatcher of ``obj`` (a parallel kernel's too), else None."""
    from numba.core.registry import CPUDispatcher

    obj = getattr(obj, "dispatcher", obj)
    return obj if isinstance(obj, CPUDispatcher) else None


def _compiled_functions():
    """(name, Python function, options) of every jitted function and row loop of the modules."""
    seen = {}
    for name in _MODULES:
        mod = importlib.import_module(name)
        for attr, obj in vars(mod).items():
            d = _jitted(obj)
            if d is not None and d.py_func.__module__ == name:
                seen[f"{name.rsplit('.', 1)[1]}.{attr}"] = (d.py_func, dict(d.targetoptions))
            elif inspect.isfunction(obj) and obj.__module__ == name and hasattr(obj, "jit_options"):
                seen[f"{name.rsplit('.', 1)[1]}.{attr}"] = (obj, dict(obj.jit_options))
    return seen


def _called_by_name(fn):
    """The jitted functions that ``fn``'s body calls by a global name."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            d = _jitted(fn.__globals__.get(node.func.id))
            if d is not None:
                out.append((node.func.id, d))
    return out


def _inlined(options) -> bool:
    return options.get("inline", "never") == "always"


# the fastmath flags that let LLVM change a finite result (reassociate, fuse into an FMA, take
# a reciprocal, approximate a function); nnan, ninf and nsz alone keep the values of finite
# non-zero results (the assignment kernel's shortest paths take only those)
_VALUE_FLAGS = {"reassoc", "contract", "arcp", "afn", "fast"}


def _rounds_freely(options) -> bool:
    """Whether code compiled with these options may round differently where LLVM optimises it
    differently (fastmath with a flag that changes values)."""
    fm = options.get("fastmath")
    if fm is True:
        return True
    return bool(fm) and not isinstance(fm, bool) and bool(set(fm) & _VALUE_FLAGS)


def test_fastmath_code_has_one_compiled_copy():
    """No fastmath function (with a flag that changes values) that is compiled on its own is
    called by name from compiled code (each caller would link its own copy), and none holds a
    ``prange`` (its body would be compiled twice, as numba's parallel function and as the
    kernel's linked copy)."""
    functions = _compiled_functions()
    fast = {k for k, (_, opts) in functions.items() if _rounds_freely(opts) and not _inlined(opts)}
    # the scan sees what it must watch (a renamed decorator would make it pass vacuously)
    for name in ("softmin_numba.sq2_shift_rows", "softmin_numba.sq_shift_rows",
                 "grad_numba.pc_cost_matrix"):
        assert name in fast, name
    for name in ("softmin_numba.softmin_sq2_shift", "_sinkhorn_batch._solve_batch"):
        assert name in functions, name
    parallel = sorted(k for k in fast if functions[k][1].get("parallel"))
    assert not parallel, f"fastmath kernels with a prange body: {parallel}"
    linked = []
    for caller, (fn, _) in sorted(functions.items()):
        for callee, d in _called_by_name(fn):
            opts = d.targetoptions
            if _rounds_freely(opts) and not _inlined(opts):
                linked.append(f"{caller} -> {callee}")
    assert not linked, "fastmath functions called by name from compiled code: " + ", ".join(linked)


def test_entry_points_are_compiled_from_their_row_loops():
    """Each entry point is its row loop itself compiled (not a wrapper that calls a separately
    compiled row loop, whose copy it would link in), and a row loop is no jitted function
    (nothing else compiles it)."""
    from kantorovich.ot._kernels import grad_numba, softmin_numba, softmin_numba_dense

    for mod, build, count in ((softmin_numba, "rows_entries", 14),
                              (softmin_numba_dense, "dense_entries", 8), (grad_numba, "_entries", 5)):
        entries = getattr(mod, build)()
        for name, entry in entries.items():
            fn = entry.__wrapped__
            assert hasattr(fn, "jit_options"), (name, fn)
            assert _jitted(fn) is None, name
        assert len(entries) == count


_WORKLOAD = r"""
import warnings
import numpy as np
from kantorovich.ot import PointCloud, sinkhorn
from kantorovich.ot._kernels import grad_numba

warnings.simplefilter("ignore")
def clouds(rng, n):  # the report's sinkhorn_vs_emd clouds (--quick, seed 0)
    x = rng.normal(size=(n, 2)) * 0.15 + np.array([0.3, 0.5])
    t = rng.uniform(0, 2 * np.pi, n)
    y = np.c_[0.7 + 0.2 * np.cos(t), 0.5 + 0.3 * np.sin(t)] + rng.normal(size=(n, 2)) * 0.02
    return x, y
x, y = clouds(np.random.default_rng([0, 2] + [ord(c) for c in "sinkhorn_vs_emd"]), 60)
out = [sinkhorn(None, None, PointCloud(x, y), eps=1e-3, tol=1e-7, max_iter=50_000).value]
rng = np.random.default_rng(7)
x3, y3 = rng.normal(size=(50, 3)) * 0.2, rng.normal(size=(50, 3)) * 0.2 + 0.3
out.append(sinkhorn(None, None, PointCloud(x3, y3), eps=2e-3, tol=1e-9, backend="numba").value)
for _ in range(3):
    xd, yd = rng.normal(size=(40, 2)) * 0.2, rng.normal(size=(40, 2)) * 0.2 + 0.3
M = PointCloud(xd, yd).cost_matrix()
out.append(sinkhorn(None, None, M, eps=2e-3, tol=1e-9, backend="numba").value)
fa, gb = rng.normal(size=50) * 0.05 - 0.3, rng.normal(size=50) * 0.05 - 0.3
gx, parts = np.zeros((50, 3)), np.zeros((2, 3, 50))
grad_numba.grad_envelope_xy(x3, np.ascontiguousarray(y3.T), fa, gb, 100.0, 2.0, gx, parts)
out += [gx.tobytes().hex(), parts.tobytes().hex()]
print(repr(out))
"""


@pytest.mark.slow
def test_a_compiling_and_a_loading_process_agree_to_the_bit(tmp_path):
    """The same computations in a process that compiles the kernels (an empty numba cache) and
    in one that loads them from that cache: the report's Sinkhorn value at its smallest eps
    (point cloud, d = 2, the compiled iterations), a d = 3 point cloud, a dense cost on the numba
    backend and the fused gradient pass, compared by their repr (33 s on 2 cores at load 1.7;
    most of it compiling)."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(SRC))
    runs = [subprocess.run([sys.executable, "-c", _WORKLOAD], env=env, capture_output=True,
                           text=True, timeout=900, check=True).stdout.strip().splitlines()[-1]
            for _ in range(2)]
    assert runs[0] == runs[1]
