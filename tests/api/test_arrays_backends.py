"""The backend vocabulary (docs/arrays.md "Backends"): one set of names for every ``backend=``
argument, a table of which function has which, errors that list what a function accepts, and
the old spellings as deprecated aliases."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from kantorovich._array_api import (BACKENDS, DEPRECATED_BACKENDS, FUNCTION_BACKENDS, GPU_BACKENDS,
                                    accepted_backends, resolve_backend)
from kantorovich.exceptions import BackendUnavailableError

DOC = Path(__file__).resolve().parents[2] / "docs" / "arrays.md"

X = np.array([0.0, 1.0, 3.0, 4.5])
Y = np.array([0.5, 2.0, 2.5, 5.0])
X2 = np.column_stack([X, X[::-1]])
Y2 = np.column_stack([Y, Y ** 0.5])

#: one small call per function with a ``backend`` argument
CALLS = {
    "sinkhorn": ("ot", lambda f, be: f(None, None, np.abs(X[:, None] - Y[None, :]), eps=0.5, backend=be)),
    "wasserstein_1d": ("ot", lambda f, be: f(X, Y, backend=be)),
    "sliced_wasserstein": ("ot", lambda f, be: f(X2, Y2, n_projections=4, rng=0, backend=be)),
    "max_sliced_wasserstein": ("ot", lambda f, be: f(X2, Y2, n_projections=4, rng=0, backend=be)),
    "projected_wasserstein": ("ot", lambda f, be: f(X2, Y2, [[1.0, 0.0]], backend=be)),
    "assignment": ("ot", lambda f, be: f(np.abs(X[:, None] - Y[None, :]), backend=be)),
    "auction_transport": ("ot", lambda f, be: f(np.full(4, 0.25), np.full(4, 0.25),
                                                np.abs(X[:, None] - Y[None, :]), backend=be)),
    "estimate_kl": ("divergences", lambda f, be: f(np.vstack([X2, X2 + 0.3]), np.vstack([Y2, Y2 - 0.2]),
                                                   k=1, n_boot=0, method="knn", backend=be)),
}


def _public(module):
    mod = importlib.import_module(f"kantorovich.{module}")
    return {name: getattr(mod, name) for name in mod.__all__ if callable(getattr(mod, name))}


def _has_cupy():
    try:
        import cupy  # noqa: F401
    except Exception:
        return False
    return True


def test_every_backend_argument_is_in_the_table():
    """A public function with a ``backend`` argument must have its row in the table (and a case here)."""
    with_backend = {name for module in ("ot", "divergences") for name, fn in _public(module).items()
                    if "backend" in inspect.signature(fn).parameters}
    assert with_backend == set(FUNCTION_BACKENDS) == set(CALLS)


def test_table_uses_the_vocabulary_and_one_gpu_implementation_each():
    for fn, impl in FUNCTION_BACKENDS.items():
        assert set(impl) <= set(BACKENDS) - {"auto", "cuda"}, fn
        assert sum(b in GPU_BACKENDS for b in impl) == 1, fn
        assert accepted_backends(fn)[:1] == ("auto",) and "cuda" in accepted_backends(fn)
    for (fn, old), (new, spelling) in DEPRECATED_BACKENDS.items():
        assert fn in FUNCTION_BACKENDS and old not in accepted_backends(fn) and new in accepted_backends(fn)
        assert f"backend={new!r}" in spelling


@pytest.mark.parametrize("fname", sorted(FUNCTION_BACKENDS))
def test_docstring_lists_what_the_function_accepts(fname):
    module, _ = CALLS[fname]
    doc = _public(module)[fname].__doc__
    m = re.search(r"backend : \{([^}]*)\}", doc)
    if m is None:  # "x, y, ..., backend : As in :func:`other`", a function with the same table row
        other = re.search(r"backend\n\s+As in :func:`(\w+)`", doc).group(1)
        assert FUNCTION_BACKENDS[other] == FUNCTION_BACKENDS[fname]
        doc = _public(module)[other].__doc__
        m = re.search(r"backend : \{([^}]*)\}", doc)
    listed = tuple(s.strip().strip('"') for s in m.group(1).split(","))
    assert set(listed) == set(accepted_backends(fname))


def test_docs_table_names_every_function_and_its_gpu_implementation():
    text = DOC.read_text(encoding="utf-8")
    section = text[text.index("## Backends"):text.index("## What the layer costs")]
    for name in BACKENDS:
        assert f"`\"{name}\"`" in section
    for fname, impl in FUNCTION_BACKENDS.items():
        gpu = next(b for b in impl if b in GPU_BACKENDS)
        row = next(line for line in section.splitlines() if f"`{fname}`" in line and line.startswith("|"))
        assert f"`\"{gpu}\"`" in row, fname
    for (fname, old), _ in DEPRECATED_BACKENDS.items():
        assert f'backend="{old}"' in section


@pytest.mark.parametrize("fname", sorted(CALLS))
@pytest.mark.parametrize("bad", ["gpu", "CUDA", None, 3])
def test_unknown_names_list_what_the_function_accepts(fname, bad):
    module, call = CALLS[fname]
    with pytest.raises(ValueError, match=r"`backend` must be one of .*'numba'.*for " + fname) as e:
        call(_public(module)[fname], bad)
    for name in accepted_backends(fname):
        assert repr(name) in str(e.value)


@pytest.mark.parametrize("fname", sorted(CALLS))
def test_a_gpu_implementation_the_function_lacks_is_an_error(fname):
    module, call = CALLS[fname]
    impl = FUNCTION_BACKENDS[fname]
    other = next(b for b in GPU_BACKENDS if b not in impl)
    if (fname, other) in DEPRECATED_BACKENDS:
        pytest.skip("a deprecated spelling for this function (tested below)")
    with pytest.raises(ValueError, match=f"`backend` must be one of .* for {fname}.*got '{other}'"):
        call(_public(module)[fname], other)


@pytest.mark.parametrize("fname", sorted(CALLS))
def test_host_backends_agree(fname):
    module, call = CALLS[fname]
    f = _public(module)[fname]
    ref = call(f, "numpy")
    for be in ("auto", "numba"):
        got = call(f, be)
        assert np.allclose(np.asarray(getattr(got, "value", got)), np.asarray(getattr(ref, "value", ref)),
                           rtol=1e-9, atol=1e-12), be
        if hasattr(got, "backend"):
            assert got.backend in ("numpy", "numba")


@pytest.mark.skipif(_has_cupy(), reason="CuPy present")
@pytest.mark.parametrize("fname", sorted(f for f, impl in FUNCTION_BACKENDS.items() if "cupy" in impl))
@pytest.mark.parametrize("name", ["cuda", "cupy"])
def test_cupy_names_without_cupy_say_what_to_install(fname, name):
    module, call = CALLS[fname]
    with pytest.raises(BackendUnavailableError, match="CuPy"):
        call(_public(module)[fname], name)


def test_resolve_backend_rules():
    assert resolve_backend("auto", "wasserstein_1d", X) == "auto"  # host: the function's size rule
    assert resolve_backend("numba", "assignment") == "numba"
    assert resolve_backend("numba_cuda", "assignment") == "cuda"  # numba-cuda raises when it starts
    assert resolve_backend("cuda", "assignment") == "cuda"


def test_deprecated_sinkhorn_numba_cuda_names_the_new_spelling():
    with pytest.warns(DeprecationWarning, match=r"`backend`='numba_cuda' is deprecated for sinkhorn.*"
                                                r"pass backend='cuda'"):
        try:
            resolve_backend("numba_cuda", "sinkhorn")
        except BackendUnavailableError:
            pass  # no CuPy here: the warning came first


def test_deprecated_numba_kdtree_is_numba_with_the_kdtree_search():
    from kantorovich.divergences import estimate_kl

    g = np.random.default_rng(3)
    x, y = g.normal(size=(300, 3)), g.normal(0.4, 1.1, size=(250, 3))
    new = estimate_kl(x, y, method="knn", n_boot=0, backend="numba", knn_search="kdtree")
    with pytest.warns(DeprecationWarning, match="backend='numba', knn_search='kdtree'"):
        old = estimate_kl(x, y, method="knn", n_boot=0, backend="numba-kdtree")
    assert old.value == new.value
    assert (old.info["backend"], old.info["knn_search"]) == ("numba", "kdtree")
    with pytest.warns(DeprecationWarning), pytest.raises(ValueError, match="`knn_search`"):
        estimate_kl(x, y, n_boot=0, backend="numba-kdtree", knn_search="brute")


def test_knn_search_is_checked_against_the_backend():
    from kantorovich.divergences import estimate_kl

    g = np.random.default_rng(4)
    x, y = g.normal(size=(200, 2)), g.normal(0.4, 1.1, size=(150, 2))
    tree = estimate_kl(x, y, method="knn", n_boot=0, backend="numpy")
    assert (tree.info["backend"], tree.info["knn_search"]) == ("numpy", "kdtree")
    for be, search in (("numba", "brute"), ("numba", "kdtree"), ("auto", "brute"), ("auto", "kdtree")):
        r = estimate_kl(x, y, method="knn", n_boot=0, backend=be, knn_search=search)
        assert r.info["knn_search"] == search and abs(r.value - tree.value) < 1e-12
    with pytest.raises(ValueError, match=r"`knn_search` must be one of \('auto', 'kdtree'\) for backend 'numpy'"):
        estimate_kl(x, y, n_boot=0, backend="numpy", knn_search="brute")
    with pytest.raises(ValueError, match="`knn_search` must be one of"):
        estimate_kl(x, y, n_boot=0, knn_search="ball_tree")
