"""numba compiles each jitted function once: no constant argument between jitted functions.

numba compiles a jitted function once per combination of argument types, and a constant at a
call site inside jitted code (``f(x, 0)``, ``f(x, False)``, a module constant, a local name
bound once to a constant) is typed as a literal (``Literal[int](0)``, ``Literal[bool](False)``):
each distinct constant makes its own specialisation, compiled and cached again (the batched
Sinkhorn kernel's eps loop was compiled four times for that reason; docs/performance.md,
"Compile time"). Functions with ``inline="always"`` are inlined into their caller before
typing, so a constant given to one only counts where the inlined body hands it on to a
function that is not inlined. This is a static check over the package's source.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[2] / "src" / "kantorovich"
_JIT_NAMES = ("njit", "_njit", "jit")


def _jit_options(node: ast.expr) -> dict | None:
    """The keyword options of a numba ``njit``/``jit`` decorator expression, else None."""
    call = node if isinstance(node, ast.Call) else None
    fn = call.func if call is not None else node
    name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else None
    if name not in _JIT_NAMES:
        return None
    if call is None:
        return {}
    return {k.arg: getattr(k.value, "value", None) for k in call.keywords}


def _module_name(path: pathlib.Path, root: pathlib.Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_constant(node: ast.expr) -> bool:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd, ast.Not)):
        node = node.operand
    return isinstance(node, ast.Constant) and isinstance(node.value, (bool, int, str))


class _Package:
    """The jitted functions, module constants and imported names of every module."""

    def __init__(self, root: pathlib.Path):
        self.root = root
        self.trees = {_module_name(p, root): (p, ast.parse(p.read_text(), str(p)))
                      for p in sorted(root.rglob("*.py"))}
        self.jitted: dict[tuple[str, str], tuple[dict, ast.FunctionDef | None]] = {}
        self.constants: set[tuple[str, str]] = set()
        self.imports: dict[str, dict[str, tuple[str, str]]] = {}
        for mod, (path, tree) in self.trees.items():
            package = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
            names = self.imports.setdefault(mod, {})
            for node in ast.walk(tree):
                if isinstance(node, ast.FunctionDef):
                    for dec in node.decorator_list:
                        opts = _jit_options(dec)
                        if opts is not None:
                            self.jitted[(mod, node.name)] = (opts, node)
                elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                    opts = _jit_options(node.value.func)
                    if opts is not None:
                        for target in node.targets:
                            if isinstance(target, ast.Name):
                                self.jitted.setdefault((mod, target.id), (opts, None))
                elif isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = package[:len(package) - node.level + 1]
                        source = ".".join(base + ([node.module] if node.module else []))
                    else:
                        source = node.module or ""
                    for alias in node.names:
                        names[alias.asname or alias.name] = (source, alias.name)
            for node in tree.body:
                if isinstance(node, ast.Assign) and _is_constant(node.value):
                    self.constants.update((mod, t.id) for t in node.targets
                                          if isinstance(t, ast.Name))
        # the bodies of njit(...)(f) assignments: f defined in the same module
        for (mod, name), (opts, fn) in list(self.jitted.items()):
            if fn is None:
                self.jitted[(mod, name)] = (opts, self._assigned_function(mod, name))

    def _assigned_function(self, mod: str, name: str) -> ast.FunctionDef | None:
        """The body of ``name = njit(...)(f)``: f defined in ``mod`` or imported into it."""
        for node in ast.walk(self.trees[mod][1]):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                    and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
                    and node.value.args and isinstance(node.value.args[0], ast.Name)):
                where, inner = self.imports.get(mod, {}).get(node.value.args[0].id,
                                                             (mod, node.value.args[0].id))
                for fn in ast.walk(self.trees[where][1]) if where in self.trees else ():
                    if isinstance(fn, ast.FunctionDef) and fn.name == inner:
                        return fn
        return None

    def resolve(self, mod: str, name: str) -> tuple[str, str]:
        return (mod, name) if (mod, name) in self.jitted or (mod, name) in self.constants \
            else self.imports.get(mod, {}).get(name, (mod, name))

    def literal_names(self, mod: str, fn: ast.FunctionDef) -> set[str]:
        """Names that numba types as literals inside ``fn``: module constants (its own and
        imported ones) and local names bound exactly once, to a constant."""
        bound: dict[str, list[ast.expr | None]] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    for leaf in ast.walk(t):
                        if isinstance(leaf, ast.Name):
                            bound.setdefault(leaf.id, []).append(
                                node.value if isinstance(t, ast.Name) else None)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign, ast.For, ast.NamedExpr)):
                for leaf in ast.walk(node.target):
                    if isinstance(leaf, ast.Name):
                        bound.setdefault(leaf.id, []).extend([None, None])
        params = {a.arg for a in fn.args.args}
        # bound once, to a constant; or to a constant and elsewhere to a run-time value (numba
        # types the call while only the constant has reached the name, compiles that literal
        # specialisation, then the unified int64 one: the k-d tree's split dimension did)
        local = {n for n, vals in bound.items()
                 if any(v is not None and _is_constant(v) for v in vals)
                 and (len(vals) == 1 or not all(v is not None and _is_constant(v)
                                                for v in vals))}
        names = {n for n in self._names_used(fn) if n not in bound and n not in params
                 and self.resolve(mod, n) in self.constants}
        return local | names

    @staticmethod
    def _names_used(fn: ast.FunctionDef) -> set[str]:
        return {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}

    def literal_calls(self):
        """(where, caller, callee, argument) for each constant argument that reaches a jitted
        function compiled on its own."""
        for (mod, name), (_, fn) in sorted(self.jitted.items()):
            if fn is None:
                continue
            literals = self.literal_names(mod, fn)
            for call in ast.walk(fn):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
                    continue
                callee = self.resolve(mod, call.func.id)
                if callee not in self.jitted:
                    continue
                for i, arg in enumerate(call.args):
                    if _is_constant(arg) or (isinstance(arg, ast.Name) and arg.id in literals):
                        if self._reaches_compiled(callee, i, set()):
                            yield (f"{self.trees[mod][0].relative_to(self.root.parent)}:{call.lineno}",
                                   name, call.func.id, ast.unparse(arg))
                for kw in call.keywords:
                    if _is_constant(kw.value) or (isinstance(kw.value, ast.Name)
                                                  and kw.value.id in literals):
                        yield (f"{self.trees[mod][0].relative_to(self.root.parent)}:{call.lineno}",
                               name, call.func.id, ast.unparse(kw))

    def _reaches_compiled(self, callee: tuple[str, str], index: int, seen: set) -> bool:
        """Whether a constant as argument ``index`` of ``callee`` is typed as an argument of
        a separately compiled function: ``callee`` itself unless it is inlined, or a function
        its inlined body hands that parameter to."""
        opts, fn = self.jitted[callee]
        if opts.get("inline") != "always":
            return True
        if fn is None or (callee, index) in seen or index >= len(fn.args.args):
            return fn is None
        seen.add((callee, index))
        param = fn.args.args[index].arg
        for call in ast.walk(fn):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name):
                inner = self.resolve(callee[0], call.func.id)
                if inner in self.jitted:
                    for j, arg in enumerate(call.args):
                        if isinstance(arg, ast.Name) and arg.id == param \
                                and self._reaches_compiled(inner, j, seen):
                            return True
        return False


@pytest.fixture(scope="module")
def package() -> _Package:
    return _Package(SRC)


def test_the_check_sees_the_kernels(package):
    """The scan finds the jitted kernels it is meant to watch (a rename of numba's decorator
    in the source would otherwise make the check below pass vacuously)."""
    found = {f"{m.rsplit('.', 1)[-1]}.{n}" for m, n in package.jitted}
    for name in ("_sinkhorn_batch._at_eps", "_sinkhorn_batch._sm", "_sinkhorn_batch._pairwise_sum",
                 "radix_numba._fix_low", "softmin_numba.shift_inputs",
                 "_knn_kdtree_numba._box_box", "auction_numba.auction_phase"):
        assert name in found, name


def test_the_check_finds_a_constant_argument(tmp_path):
    """A small package with each kind of constant argument the check must see."""
    pkg = tmp_path / "kantorovich"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        "from numba import njit\n"
        "SIDE = 1\n"
        "@njit(cache=True)\n"
        "def f(x, side):\n    return x + side\n"
        "@njit(inline='always')\n"
        "def g(x, side):\n    return f(x, side)\n"
        "@njit(inline='always')\n"
        "def h(x, side):\n    return x * side\n")
    (pkg / "b.py").write_text(
        "from numba import njit\n"
        "from .a import f, g, h, SIDE\n"
        "@njit(cache=True)\n"
        "def caller(x, n):\n"
        "    k = 3\n"
        "    zero = n - n\n"
        "    best = 0\n"
        "    for c in range(n):\n"
        "        best = c\n"
        "    mode = 1\n"
        "    if n > 2:\n"
        "        mode = 2\n"
        "    return f(x, 0) + f(x, -1) + f(x, SIDE) + f(x, k) + g(x, True) + f(x, zero)"
        " + h(x, 2) + f(x, best) + f(x, mode)\n")
    found = sorted(arg for *_, arg in _Package(pkg).literal_calls())
    assert found == ["-1", "0", "SIDE", "True", "best", "k"]


def test_no_constant_arguments_between_jitted_functions(package):
    """Each constant argument to a separately compiled jitted function makes numba compile
    that function (and what it calls with that argument) once more; pass a run-time value
    (``zero = n - n``, ``no = n < 0``) instead."""
    found = [" ".join(map(str, c)) for c in package.literal_calls()]
    assert not found, "constant arguments between jitted functions:\n" + "\n".join(found)


_PRANGE_WORKLOAD = r"""
import json
import numpy as np
from kantorovich.divergences import _resample as R
from kantorovich.ot import PointCloud, emd
from kantorovich.ot._kernels import auction_numba as A

rng = np.random.default_rng(0)
x, y = rng.uniform(size=(40, 2)), rng.uniform(size=(40, 2))
emd(None, None, PointCloud(x, y), method="auction")
t = rng.normal(size=300)
R.bootstrap_means(t, 3, 12345)
R.bootstrap_means(t, 2000, 12345)
print(json.dumps({f.__name__: [str(s) for s in f.overloads]
                  for f in (A._best2, A._rescan, A._row_violation, R._one)}))
"""


def test_prange_indices_reach_callees_as_int64(tmp_path):
    """A prange loop's index is uint64 where a serial loop's is int64: passed as it is to a
    separately compiled function that another caller gives an int64, it compiled that function
    twice (the auction's _best2, _rescan and _row_violation, the bootstrap's _one). The
    callers cast it; run with an empty numba cache (where the callees' overloads are filled),
    each of those has one signature. Not seen by the static check above (a type, not a
    constant)."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path), PYTHONPATH=str(SRC.parent))
    out = subprocess.run([sys.executable, "-c", _PRANGE_WORKLOAD], env=env, capture_output=True,
                         text=True, timeout=600, check=True).stdout
    sigs = json.loads(out.strip().splitlines()[-1])
    assert {k: len(v) for k, v in sigs.items()} == dict.fromkeys(sigs, 1), sigs
