"""Module layering of kantorovich.ot: the kernels are leaves, the solvers sit on top.

``kantorovich.ot._kernels.*`` hold the compute kernels (numpy reference, numba, CuPy,
numba-cuda). They may import each other and the package's shared helpers
(``kantorovich._array_api``, ``_validation``, ``_warnings``, ``exceptions``), but nothing from a
solver module of ``kantorovich.ot`` (``_auction``, ``_wasserstein_1d``, ...): a solver passes what
a kernel needs as arguments. The cost layer (``kantorovich.ot._costs``: cost parsing and the
kind codes the kernels share with the solvers) is a leaf too, imported by both. The sorted-row engine (``kantorovich.ot._sorted_rows``) is shared
by the 1-D and the sliced distances and imports neither of them.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import pytest

import kantorovich.ot._kernels as kernels_pkg


def _imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the modules that ``path`` imports anywhere (top level or in functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            # "from . import x" / "from .. import _auction" import submodules by name
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def _kernel_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(kernels_pkg.__path__))


def _solver_modules() -> set[str]:
    import kantorovich.ot as ot_pkg

    return {f"kantorovich.ot.{m.name}" for m in pkgutil.iter_modules(ot_pkg.__path__)
            if m.name not in ("_kernels", "_costs")} | {"kantorovich.ot"}


def test_the_cost_layer_is_a_leaf():
    import kantorovich.ot._costs as costs

    mods = _imported_modules(Path(costs.__file__), "kantorovich.ot")
    assert not {m for m in mods if m.startswith("kantorovich.ot")}, mods


def test_there_are_kernel_modules():
    assert {"auction_cuda", "wass1d_cupy", "wass1d_numba", "wass1d_numpy"} <= set(_kernel_modules())


@pytest.mark.parametrize("name", _kernel_modules())
def test_kernel_modules_are_leaves(name):
    full = f"kantorovich.ot._kernels.{name}"
    mod = importlib.import_module(full)  # importable without a GPU (CuPy / numba-cuda load lazily)
    bad = sorted(m for m in _imported_modules(Path(mod.__file__), "kantorovich.ot._kernels")
                 if m in _solver_modules())
    assert not bad, f"{full} imports from solver modules of kantorovich.ot: {bad}"


def test_sorted_row_engine_is_below_the_1d_and_sliced_modules():
    import kantorovich.ot._sliced as sliced
    import kantorovich.ot._sorted_rows as engine

    assert not _imported_modules(Path(engine.__file__), "kantorovich.ot") & {
        "kantorovich.ot._wasserstein_1d", "kantorovich.ot._sliced"}
    # the sliced distances use the engine, not private names of the 1-D module
    assert "kantorovich.ot._wasserstein_1d" not in _imported_modules(Path(sliced.__file__), "kantorovich.ot")


def test_the_import_walk_sees_relative_imports():
    # the check above is only as good as this resolution of relative imports
    import kantorovich.ot._wasserstein_1d as w1d

    mods = _imported_modules(Path(w1d.__file__), "kantorovich.ot")
    assert {"kantorovich.ot._sorted_rows", "kantorovich._validation",
            "kantorovich.ot._kernels.wass1d_numpy"} <= mods
