"""Every public function, in every array library (docs/arrays.md): the array-layer test matrix.

Each public function of :mod:`kantorovich.ot` and :mod:`kantorovich.divergences` (enumerated
from ``__all__``, so a new public function without a case here fails
:func:`test_every_public_function_has_a_case`) and each method of the families that takes or
gives arrays is called with the same data as numpy float64 (the reference), numpy float32,
``array_api_strict`` (float64, float32), torch CPU (float64, float32) and JAX CPU (float64 under
``jax.enable_x64``, float32). Every array of the result (fields of a result object, elements of a
tuple, or the result itself) and its scalar ``value`` must come back in the caller's namespace
and floating dtype (float32 in, float32 out; integer arrays stay integer) and agree with numpy:
to 1e-12 in float64, and in float32 with numpy run on the same float32-rounded data, to float32
resolution. CuPy and torch-CUDA cases are ``gpu``-marked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import inspect

import numpy as np
import pytest

from kantorovich._interop import DIAGNOSTIC_FIELDS, SCALAR_FIELDS, kind_of, to_kernel

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
xps = pytest.importorskip("array_api_strict")

G = np.random.default_rng(7)
X1 = G.normal(size=30)
Y1 = G.normal(size=24) + 0.5
W1 = G.random(30) + 0.1
V1 = G.random(24) + 0.1
X2 = G.normal(size=(14, 2))
Y2 = G.normal(size=(11, 2)) + 0.7
M = np.abs(X1[:6, None] - Y1[None, :5]) ** 1.5
MSQ = np.abs(X1[:6, None] - Y1[None, :6])  # square, for the assignment
A6 = np.array([0.1, 0.2, 0.1, 0.3, 0.2, 0.1])
B5 = np.array([0.3, 0.1, 0.2, 0.2, 0.2])
P = np.array([0.125, 0.25, 0.25, 0.375])  # dyadic: the same total mass in float32
Q = np.array([0.25, 0.375, 0.25, 0.125])
XS = G.normal(size=(80, 2))  # samples of the estimators
YS = G.normal(size=(70, 2)) * 1.3 + 0.4
DIRS = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
PROBS = G.dirichlet(np.ones(4), size=24)
D = np.array([0.3, 0.5, 0.6, 0.7])

#: name -> (module, call(f, m)) with ``m`` turning a numpy array into the library's array
CASES = {
    # ------------------------------------------------------------------ kantorovich.ot
    "DenseGeometry": ("ot", lambda f, m: _ot("sinkhorn")(m(A6), m(B5), f(m(M)), eps=0.5)),
    # tol: float32 points on a GPU are solved in float32, whose default tol is 1e-3
    # (docs/sinkhorn.md); 1e-5, the float64 default, keeps them within the comparison's rtol
    "PointCloud": ("ot", lambda f, m: _ot("sinkhorn")(None, None, f(m(X2), m(Y2)), eps=0.5, tol=1e-5)),
    "assignment": ("ot", lambda f, m: f(m(MSQ))),
    "auction_transport": ("ot", lambda f, m: f(m(np.array([0.25, 0.5, 0.25])), m(np.array([0.5, 0.5])),
                                               m(M[:3, :2]))),
    "cumulative_deltas": ("ot", lambda f, m: f(m(P), m(Q))),
    "emd": ("ot", lambda f, m: f(m(A6), m(B5), m(M))),
    "emd_1d_histogram": ("ot", lambda f, m: f(m(P), m(Q))),
    "max_sliced_wasserstein": ("ot", lambda f, m: f(m(X2), m(Y2), n_projections=8, rng=0)),
    "projected_wasserstein": ("ot", lambda f, m: f(m(X2), m(Y2), m(DIRS), p=2)),
    "sinkhorn": ("ot", lambda f, m: f(m(A6), m(B5), m(M), eps=0.5)),
    "sinkhorn_divergence": ("ot", lambda f, m: f(None, None, _ot("PointCloud")(m(X2), m(Y2)), eps=0.5)),
    "sliced_wasserstein": ("ot", lambda f, m: f(m(X2), m(Y2), n_projections=8, rng=0, a=m(W1[:14]))),
    "wasserstein": ("ot", lambda f, m: f(m(X2), m(Y2))),
    "wasserstein_1d": ("ot", lambda f, m: f(m(X1), m(Y1), m(W1), m(V1), p=2)),
    "wasserstein_1d_plan": ("ot", lambda f, m: f(m(X1), m(Y1), m(W1))),
    # ----------------------------------------------------------- kantorovich.divergences
    "estimate_js": ("divergences", lambda f, m: f(m(XS), m(YS), n_boot=0, rng=0)),
    "estimate_kl": ("divergences", lambda f, m: f(m(XS), m(YS), method="knn", n_boot=20, rng=0)),
    "estimate_tv": ("divergences", lambda f, m: f(m(XS), m(YS), n_boot=0, rng=0)),
    "gan_value": ("divergences", lambda f, m: f(m(D), m(P), m(Q))),
    "inception_score": ("divergences", lambda f, m: f(m(PROBS), n_splits=2)),
    "js_distance": ("divergences", lambda f, m: f(m(P), m(Q))),
    "js_divergence": ("divergences", lambda f, m: f(m(P), m(Q))),
    "js_from_discriminator": ("divergences", lambda f, m: f(m(D), m(P), m(Q))),
    "kl_divergence": ("divergences", lambda f, m: f(m(P), m(Q))),
    "optimal_discriminator": ("divergences", lambda f, m: f(m(P), m(Q))),
    "parzen_log_likelihood": ("divergences", lambda f, m: f(m(XS), m(YS[:20]), bandwidth=0.5)),
    "tv_distance": ("divergences", lambda f, m: f(m(P), m(Q))),
}

#: public names that take no array (nothing to convert), with the reason
NO_ARRAY_INPUT = {"random_directions": "takes counts and a seed; returns numpy directions"}
# functions documented to return numpy whatever the input (a matrix assembled on the host from
# many solves, possibly on a cluster): the inputs are still taken in every library
NUMPY_OUTPUT = {
    "pairwise_wasserstein": lambda f, m: f([m(X1), m(Y1), m(X1[:7])], progress=False),
}


def _gp(m):
    from kantorovich.families import GaussianPair

    return GaussianPair(m(np.zeros(2)), m(np.eye(2)), m(np.array([1.0, -0.5])),
                        m(np.array([[2.0, 0.3], [0.3, 1.0]])))


def _gp1(m):
    from kantorovich.families import GaussianPair

    return GaussianPair(m(np.array(0.0)), m(np.array(1.0)), m(np.array(0.5)), m(np.array(2.0)))


def _hp(m):
    from kantorovich.families import HistogramPair

    return HistogramPair(m(np.array([3.0, 2, 1, 4])), m(np.array([1.0, 2, 4, 3])),
                         m(np.array([0.0, 1.0, 2.5, 3.0])))


def _us(m):
    from kantorovich.families import UniformSegments

    return UniformSegments(0.0, 1.0, 0.5, 2.0)


#: families: (class name, method) -> call(m); values in float64 / float32 of the parameters
FAMILY_CASES = {
    **{("GaussianPair", q): (lambda q: lambda m: getattr(_gp(m), q)())(q) for q in ("kl", "kl_reverse", "w2")},
    # 1-D pairs: the closed forms of w1, tv, js and the densities are 1-D
    **{("GaussianPair", q): (lambda q: lambda m: getattr(_gp1(m), q)())(q) for q in ("w1", "tv", "js")},
    ("GaussianPair", "pdf0"): lambda m: _gp1(m).pdf0(m(X1)),
    ("GaussianPair", "pdf1"): lambda m: _gp1(m).pdf1(m(X1)),
    **{("HistogramPair", q): (lambda q: lambda m: getattr(_hp(m), q)())(q)
       for q in ("kl", "kl_reverse", "w2", "w1", "tv", "js")},
    ("UniformSegments", "pdf0"): lambda m: _us(m).pdf0(m(X1)),
    ("UniformSegments", "pdf1"): lambda m: _us(m).pdf1(m(X1)),
    ("gaussian_kl", None): lambda m: _fam("gaussian_kl")(m(np.zeros(2)), m(np.eye(2)), m(np.ones(2)),
                                                        m(2 * np.eye(2))),
    ("gaussian_w2", None): lambda m: _fam("gaussian_w2")(m(np.zeros(2)), m(np.eye(2)), m(np.ones(2)),
                                                        m(2 * np.eye(2))),
}
#: family methods without an array case, with the reason
FAMILY_EXEMPT = {
    "sample": "random draws: test_family_samples_follow_the_caller checks the kind",
    "summary": "a dict of Python floats",
    # the closed forms of these families take numbers (theta, segment ends), not arrays
    "ParallelLines": "parameter theta is a number",
    "UniformSegments": "parameters are numbers; pdf0 / pdf1 take arrays (cases above)",
}


def _ot(name):
    return getattr(importlib.import_module("kantorovich.ot"), name)


def _fam(name):
    return getattr(importlib.import_module("kantorovich.families"), name)


def _public(module):
    mod = importlib.import_module(f"kantorovich.{module}")
    return {name: getattr(mod, name) for name in mod.__all__}


#: lib -> (make, kind, dtype name, context)
LIBS = {
    "numpy32": (lambda a: np.asarray(a, dtype=np.float32), "numpy", "float32", contextlib.nullcontext),
    "strict64": (lambda a: xps.asarray(a, dtype=xps.float64), "array_api", "float64", contextlib.nullcontext),
    "strict32": (lambda a: xps.asarray(a, dtype=xps.float32), "array_api", "float32", contextlib.nullcontext),
    "torch64": (lambda a: torch.tensor(a, dtype=torch.float64), "torch", "float64", contextlib.nullcontext),
    "torch32": (lambda a: torch.tensor(a, dtype=torch.float32), "torch", "float32", contextlib.nullcontext),
    "jax64": (lambda a: jnp.asarray(a, dtype=jnp.float64), "jax", "float64", lambda: jax.enable_x64(True)),
    "jax32": (lambda a: jnp.asarray(a, dtype=jnp.float32), "jax", "float32", contextlib.nullcontext),
}


def _dtype_name(x) -> str:
    return str(x.dtype).replace("torch.", "").replace("array_api_strict.", "")


def _host(v):
    if kind_of(v) == "torch":
        return v.detach().cpu().numpy()
    return np.asarray(to_kernel(v))


def _pairs(out, ref, path="result"):
    """(path, out, ref, scalar) for every array / scalar answer that the layer converts."""
    if dataclasses.is_dataclass(ref) and not isinstance(ref, type):
        for f in dataclasses.fields(ref):
            r = getattr(ref, f.name)
            if f.name in DIAGNOSTIC_FIELDS:  # never converted (test_batch: numpy for a batch)
                continue
            if f.name in SCALAR_FIELDS and np.ndim(r) == 0 and isinstance(r, (float, np.floating)):
                yield f"{path}.{f.name}", getattr(out, f.name), r, True
            elif isinstance(r, np.ndarray):
                yield f"{path}.{f.name}", getattr(out, f.name), r, False
    elif isinstance(ref, tuple):
        assert isinstance(out, tuple) and len(out) == len(ref), path
        for i, (o, r) in enumerate(zip(out, ref)):
            yield from _pairs(o, r, f"{path}[{i}]")
    elif isinstance(ref, np.ndarray):
        yield path, out, ref, False
    elif isinstance(ref, (float, np.floating)):
        yield path, out, ref, True


def _check(out, ref, kind, dtype):
    pairs = list(_pairs(out, ref))
    assert pairs, "no array or value in the result"
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-13)
    for path, o, r, scalar in pairs:
        if kind == "numpy" and scalar:
            assert isinstance(o, float), (path, type(o))  # a numpy scalar value is a Python float
        else:
            assert kind_of(o) == kind, (path, type(o))
            if np.asarray(r).dtype.kind == "f":
                assert _dtype_name(o) == dtype, (path, o.dtype)
            else:  # integer arrays (perm) keep their integer dtype
                assert np.dtype(_dtype_name(o)).kind in "iu", (path, o.dtype)
            assert tuple(o.shape) == np.shape(r), path
        if kind == "torch":
            assert not o.requires_grad, path
        np.testing.assert_allclose(_host(o), r, err_msg=path, **tol)


def _reference(call, dtype):
    """numpy float64 on the data as the caller holds it (float32-rounded for float32 callers)."""
    if dtype == "float32":
        return call(lambda a: np.asarray(a, dtype=np.float32).astype(np.float64))
    return call(np.asarray)


def test_every_public_function_has_a_case():
    names = set(_public("ot")) | set(_public("divergences"))
    assert names == set(CASES) | set(NO_ARRAY_INPUT) | set(NUMPY_OUTPUT)


@pytest.mark.parametrize("lib", sorted(LIBS))
@pytest.mark.parametrize("fname", sorted(NUMPY_OUTPUT))
def test_numpy_output_function_takes_every_library(fname, lib):
    call = NUMPY_OUTPUT[fname]
    f = _public("ot")[fname]
    make, kind, dtype, ctx = LIBS[lib]
    ref = _reference(lambda m: call(f, m), dtype)
    with ctx():
        out = call(f, make)
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-12 if dtype == "float64" else 1e-6)


def test_every_family_method_has_a_case():
    from kantorovich import families

    have = {c for c, _ in FAMILY_CASES}
    for name in families.__all__:
        obj = getattr(families, name)
        if name == "Family" or name in FAMILY_EXEMPT:
            continue
        if inspect.isclass(obj):
            methods = {k for k, v in vars(obj).items() if callable(v) and not k.startswith("_")}
            methods |= {k for k in ("tv", "kl", "kl_reverse", "js", "w1", "w2") if hasattr(obj, k)}
            missing = {k for k in methods if (name, k) not in FAMILY_CASES and k not in FAMILY_EXEMPT}
            assert not missing, (name, missing)
        else:
            assert name in have, name


@pytest.mark.parametrize("lib", sorted(LIBS))
@pytest.mark.parametrize("fname", sorted(CASES))
def test_public_function_in_every_library(fname, lib):
    module, call = CASES[fname]
    f = _public(module)[fname]
    make, kind, dtype, ctx = LIBS[lib]
    ref = _reference(lambda m: call(f, m), dtype)
    with ctx():
        out = call(f, make)
        _check(out, ref, kind, dtype)


@pytest.mark.parametrize("lib", sorted(LIBS))
@pytest.mark.parametrize("case", sorted(FAMILY_CASES, key=str), ids=lambda c: ".".join(filter(None, c)))
def test_family_in_every_library(case, lib):
    call = FAMILY_CASES[case]
    make, kind, dtype, ctx = LIBS[lib]
    ref = _reference(call, dtype)
    with ctx():
        out = call(make)
        _check(out, ref, kind, dtype)


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_family_samples_follow_the_caller(lib):
    make, kind, dtype, ctx = LIBS[lib]
    with ctx():
        for fam in (_gp(make), _hp(make)):
            x, y = fam.sample(5, rng=0)
            assert kind_of(x) == kind and kind_of(y) == kind


# ------------------------------------------------------------------------------ GPU
def _cuda_libs():
    libs = {}
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            libs["cupy64"] = (lambda a: cupy.asarray(a, dtype=cupy.float64), "cupy", "float64")
            libs["cupy32"] = (lambda a: cupy.asarray(a, dtype=cupy.float32), "cupy", "float32")
    except Exception:
        pass
    if torch.cuda.is_available():
        libs["torch_cuda64"] = (lambda a: torch.tensor(a, dtype=torch.float64, device="cuda"), "torch", "float64")
        libs["torch_cuda32"] = (lambda a: torch.tensor(a, dtype=torch.float32, device="cuda"), "torch", "float32")
    return libs


@pytest.mark.gpu
@pytest.mark.parametrize("lib", ["cupy64", "cupy32", "torch_cuda64", "torch_cuda32"])
@pytest.mark.parametrize("fname", sorted(CASES))
def test_public_function_on_the_gpu(fname, lib):
    libs = _cuda_libs()
    if lib not in libs:
        pytest.skip(f"{lib} with a CUDA device is not available here")
    make, kind, dtype = libs[lib]
    module, call = CASES[fname]
    f = _public(module)[fname]
    ref = _reference(lambda m: call(f, m), dtype)
    out = call(f, make)
    for path, o, r, scalar in _pairs(out, ref):
        assert kind_of(o) == kind, (path, type(o))
        assert "cuda" in str(o.device) or kind == "cupy", path
        if np.asarray(r).dtype.kind == "f":
            assert _dtype_name(o) == dtype, (path, o.dtype)
        # GPU kernels may compute in float32 by design (docs/arrays.md): float32 resolution
        np.testing.assert_allclose(_host(o) if kind == "torch" else o.get(), r, rtol=1e-5, atol=1e-6,
                                   err_msg=path)
