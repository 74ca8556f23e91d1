"""The array layer: torch, JAX and array-API arrays in, the same kind of arrays out.

Each public function is called with the same data as numpy and as the caller's library; the
result must be of the caller's type, in its floating dtype, and agree with the numpy result
(to float32 rounding where the caller's dtype is float32).
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich._interop import caller, from_kernel, kind_of, to_kernel

torch = pytest.importorskip("torch")
jnp = pytest.importorskip("jax.numpy")
xps = pytest.importorskip("array_api_strict")

RNG = np.random.default_rng(0)
X1 = RNG.normal(size=40)
Y1 = RNG.normal(size=30) + 0.5
X2 = RNG.normal(size=(12, 2))
Y2 = RNG.normal(size=(10, 2)) + 1.0
P = np.array([0.1, 0.2, 0.3, 0.4])
Q = np.array([0.25, 0.25, 0.25, 0.25])

LIBS = {
    "torch64": (lambda a: torch.tensor(a, dtype=torch.float64), "torch", "float64"),
    "torch32": (lambda a: torch.tensor(a, dtype=torch.float32), "torch", "float32"),
    "torch_grad": (lambda a: torch.tensor(a, dtype=torch.float64, requires_grad=True), "torch", "float64"),
    "jax32": (lambda a: jnp.asarray(a, dtype=jnp.float32), "jax", "float32"),
    "strict64": (lambda a: xps.asarray(a, dtype=xps.float64), "array_api", "float64"),
    "numpy32": (lambda a: np.asarray(a, dtype=np.float32), "numpy", "float32"),
}


def _host(v):
    if kind_of(v) == "torch":
        return v.detach().cpu().numpy()
    return np.asarray(to_kernel(v))


def _check(out, ref, kind, dtype, *, scalar):
    if kind == "numpy" and scalar:
        assert isinstance(out, float), type(out)  # a numpy scalar value is a Python float
    else:
        assert kind_of(out) == kind, type(out)
        name = str(out.dtype).replace("torch.", "").replace("array_api_strict.", "")
        assert name == dtype
        if scalar:
            assert tuple(out.shape) == ()
    if kind == "torch":
        assert not out.requires_grad  # arrays of a result are detached (values: see below)
    tol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(_host(out), ref, rtol=tol, atol=tol)


CASES = {
    "wasserstein_1d": ("ot", lambda f, m: f(m(X1), m(Y1)), None),
    "wasserstein_1d_plan": ("ot", lambda f, m: f(m(X1), m(Y1)), "f"),
    "sliced_wasserstein": ("ot", lambda f, m: f(m(X2), m(Y2), n_projections=16, rng=0), None),
    "emd": ("ot", lambda f, m: f(None, None, m(np.abs(X1[:6, None] - Y1[None, :5]))), "f"),
    "wasserstein": ("ot", lambda f, m: f(m(X2), m(Y2)), None),
    "sinkhorn": ("ot", lambda f, m: f(None, None, m(np.abs(X1[:6, None] - Y1[None, :5])), eps=0.5), "g"),
    "kl_divergence": ("divergences", lambda f, m: f(m(P), m(Q)), None),
    "js_divergence": ("divergences", lambda f, m: f(m(P), m(Q)), None),
    "tv_distance": ("divergences", lambda f, m: f(m(P), m(Q)), None),
    "estimate_kl": ("divergences", lambda f, m: f(m(X2), m(Y2), rng=0, n_boot=0), None),
}

#: functions whose value is differentiable (kantorovich._autodiff)
DIFFERENTIABLE = {"wasserstein_1d", "wasserstein_1d_plan", "sliced_wasserstein", "emd", "wasserstein",
                  "sinkhorn"}


@pytest.mark.parametrize("lib", sorted(LIBS))
@pytest.mark.parametrize("fname", sorted(CASES))
def test_caller_type_back(fname, lib):
    import importlib

    mod, call, arr_field = CASES[fname]
    f = getattr(importlib.import_module(f"kantorovich.{mod}"), fname)
    make, kind, dtype = LIBS[lib]
    ref = call(f, np.asarray)
    out = call(f, make)
    ref_value = getattr(ref, "value", ref)
    out_value = getattr(out, "value", out)
    if lib == "torch_grad" and fname in DIFFERENTIABLE:
        assert out_value.requires_grad  # a node of the caller's graph (tests/ot/test_gradients.py)
        out_value = out_value.detach()
    # float32 inputs are float32-rounded data: compare against numpy on the same rounded data
    if dtype == "float32":
        ref = call(f, lambda a: np.asarray(a, dtype=np.float32).astype(np.float64))
        ref_value = getattr(ref, "value", ref)
    _check(out_value, float(ref_value), kind, dtype, scalar=True)
    if arr_field is not None:
        a = getattr(out, arr_field)
        _check(a, getattr(ref, arr_field), kind, dtype, scalar=False)


def test_numpy_float64_is_direct():
    from kantorovich.ot import emd

    M = np.abs(X1[:6, None] - Y1[None, :5])
    r = emd(None, None, M)
    assert type(r.value) is float or isinstance(r.value, float)
    assert r.f.dtype == np.float64
    assert caller(M).direct


def test_zero_copy_handover_on_cpu():
    t = torch.arange(12, dtype=torch.float64).reshape(3, 4)
    a = to_kernel(t)
    assert isinstance(a, np.ndarray) and a.ctypes.data == t.data_ptr()
    tg = torch.ones(5, dtype=torch.float32, requires_grad=True)
    assert to_kernel(tg).ctypes.data == tg.data_ptr()
    tv = t[:, ::2]  # a strided view is handed over as a strided numpy view, not a copy
    assert to_kernel(tv).ctypes.data == tv.data_ptr()
    j = jnp.arange(6.0)
    assert to_kernel(j).ctypes.data == j.unsafe_buffer_pointer()
    s = xps.asarray([1.0, 2.0, 3.0])
    assert isinstance(to_kernel(s), np.ndarray)


@pytest.mark.parametrize("make", [lambda a: torch.tensor(a).bfloat16(),
                                  lambda a: jnp.asarray(a, dtype=jnp.bfloat16)], ids=["torch", "jax"])
def test_bfloat16_comes_back_in_float32(make):
    """bfloat16 (no numpy counterpart; JAX's converts to an ml_dtypes array numpy cannot compute
    with) is handed over as a float32 copy and the result is float32, as docs/arrays.md says."""
    from kantorovich.divergences import kl_divergence
    from kantorovich.ot import wasserstein_1d

    def held(a):  # the values the caller holds, in float64
        return np.asarray(to_kernel(a), dtype=np.float64)

    p, q = make(P), make(Q)
    ref = kl_divergence(held(p), held(q))
    _check(kl_divergence(p, q), ref, kind_of(p), "float32", scalar=True)
    x, y = make(X1), make(Y1)
    ref = wasserstein_1d(held(x), held(y))
    _check(wasserstein_1d(x, y), ref, kind_of(x), "float32", scalar=True)


@pytest.mark.parametrize("make", [lambda a: torch.tensor(a).bfloat16(),
                                  lambda a: jnp.asarray(a, dtype=jnp.bfloat16)], ids=["torch", "jax"])
def test_bfloat16_weights_are_checked_at_bfloat16_precision(make):
    """Weights normalised in bfloat16 sum to 1 only to its rounding (eps = 2^-7): their float32
    copy is checked with bfloat16's mass tolerance (it was float32's 1.2e-5, and weights as
    normalised by torch were refused), and a real mismatch is still refused."""
    import gc

    from kantorovich._validation import _WIDENED, input_dtype, mass_rtol
    from kantorovich.ot import PointCloud, emd, sinkhorn

    rng = np.random.default_rng(3)
    a, b = rng.uniform(0.2, 1.0, 30), rng.uniform(0.2, 1.0, 40)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(40, 2))
    ab, bb = make(a / a.sum()), make(b / b.sum())
    held = [np.asarray(to_kernel(w), dtype=np.float64) for w in (ab, bb)]
    assert abs(held[0].sum() - held[1].sum()) > 1e-4  # beyond float32's tolerance
    geo = PointCloud(make(x).float() if kind_of(ab) == "torch" else make(x).astype("float32"),
                     make(y).float() if kind_of(ab) == "torch" else make(y).astype("float32"))
    got = sinkhorn(ab, bb, geo, eps=0.5, tol=1e-6)
    ref = sinkhorn(held[0], held[1] * (held[0].sum() / held[1].sum()), PointCloud(
        np.asarray(to_kernel(geo.x), np.float64), np.asarray(to_kernel(geo.y), np.float64)),
        eps=0.5, tol=1e-6)
    _check(got.value, ref.value, kind_of(ab), "float32", scalar=True)
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    assert float(emd(ab, bb, make(C)).value) == pytest.approx(emd(held[0], held[1], C, normalize=True).value
                                                              * held[0].sum(), rel=1e-2)
    with pytest.raises(ValueError, match=r"same total mass \(balanced OT; relative tolerance 1\.0e-01\)"):
        sinkhorn(ab, make(1.5 * b / b.sum()), geo, eps=0.5)
    # the record follows the copy, and goes with it
    k = to_kernel(ab)
    assert input_dtype(k) == "bfloat16" and mass_rtol("bfloat16") == 0.1
    assert mass_rtol(np.float16) == pytest.approx(100 * 2.0 ** -10)  # unchanged: 0.098
    key = id(k)
    del k
    gc.collect()
    assert key not in _WIDENED


def test_mixed_namespaces_name_both():
    from kantorovich.ot import wasserstein_1d

    with pytest.raises(TypeError, match=r"`u_values` is a torch array but `v_values` is a numpy"):
        wasserstein_1d(torch.tensor(X1), Y1)
    with pytest.raises(TypeError, match=r"`u_values` is a jax array but `v_values` is a torch"):
        wasserstein_1d(jnp.asarray(X1), torch.tensor(Y1))
    # the article as the kind is read: "an array_api array", both ways round, and in a family
    with pytest.raises(TypeError, match=r"`u_values` is a numpy array but `v_values` is an array_api array;"):
        wasserstein_1d(X1, xps.asarray(Y1))
    with pytest.raises(TypeError, match=r"`u_values` is an array_api array but `v_values` is a numpy array;"):
        wasserstein_1d(xps.asarray(X1), Y1)
    from kantorovich.families import GaussianPair

    g = GaussianPair(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.5), torch.tensor(2.0))
    with pytest.raises(TypeError, match=r"`x` is an array_api array but this GaussianPair"):
        g.pdf0(xps.asarray(X1))


@pytest.mark.parametrize("word, expected", [
    ("numpy", "a numpy"), ("array_api", "an array_api"), ("torch", "a torch"), (2, "a 2"),
    (8, "an 8"), (11, "an 11"), (16, "a 16"), (18, "an 18"), (80, "an 80"), (110, "a 110"),
    (800, "an 800"), (11_000, "an 11000"), ("8-D", "an 8-D"),
])
def test_the_article_before_a_filled_in_word_is_as_it_is_read(word, expected):
    from kantorovich._text import with_article

    assert with_article(word) == expected



@pytest.mark.parametrize("lib", ["torch", "jax", "array_api_strict"])
def test_the_lazy_plan_of_a_point_cloud_is_numpy_and_todense_like_gives_the_callers_array(lib):
    """sinkhorn(..., plan=True) on a PointCloud: a lazy numpy SinkhornPlan whatever the input
    (docs/arrays.md lists it); todense(like=r.f) is the dense plan in r.f's library and dtype."""
    from kantorovich.ot import PointCloud, sinkhorn
    from kantorovich.ot._sinkhorn import SinkhornPlan

    conv = {"torch": lambda z: torch.tensor(z, dtype=torch.float32), "jax": jnp.asarray,
            "array_api_strict": xps.asarray}[lib]
    r = sinkhorn(None, None, PointCloud(conv(X2[:6]), conv(Y2[:5])), eps=0.5, plan=True)
    assert isinstance(r.plan, SinkhornPlan) and kind_of(r.f) == kind_of(conv(X2))
    dense = r.plan.todense()
    assert type(dense) is np.ndarray and dense.dtype == np.float64
    P = r.plan.todense(like=r.f)
    assert kind_of(P) == kind_of(r.f) and P.dtype == r.f.dtype and tuple(P.shape) == (6, 5)
    np.testing.assert_allclose(np.asarray(P), dense.astype(np.asarray(r.f).dtype), rtol=1e-6)
    assert type(r.plan.todense(like=np.zeros(1))) is np.ndarray

def test_a_numpy_geometry_does_not_mix_with_other_libraries():
    """A geometry of float64 numpy arrays is numpy, as a numpy M is: torch or JAX weights beside
    it are the TypeError naming both (they were taken, and the numpy problem came back as torch
    or JAX arrays); lists stay neutral, and the geometry stays picklable."""
    import pickle

    from kantorovich.ot import DenseGeometry, PointCloud, emd, sinkhorn

    pc, dg = PointCloud(X2, Y2), DenseGeometry(np.abs(X1[:6, None] - Y1[None, :5]))
    with pytest.raises(TypeError, match=r"`a` is a torch array but `M_or_geometry` is a numpy"):
        sinkhorn(torch.full((12,), 1 / 12, dtype=torch.float64), None, pc, eps=0.5)
    with pytest.raises(TypeError, match=r"`b` is a jax array but `M` is a numpy"):
        emd(None, jnp.full((5,), 0.2), dg)
    r = sinkhorn([1 / 12] * 12, None, pc, eps=0.5)
    assert isinstance(r.value, float) and isinstance(r.f, np.ndarray)
    assert type(sinkhorn(None, None, PointCloud(X2.tolist(), Y2.tolist()), eps=0.5,
                         tol=1e-5).value) is float
    assert isinstance(pickle.loads(pickle.dumps(pc)), PointCloud)


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_from_points_gives_the_results_in_the_points_library(lib):
    """DenseGeometry.from_points(x, y) of torch, JAX or array-API points held its costs as a
    float64 numpy geometry, so emd and sinkhorn of it answered in numpy (a Python float
    `value`), where DenseGeometry(M) and PointCloud(x, y) of the same library answer in it."""
    import warnings

    from kantorovich.ot import DenseGeometry, PointCloud, emd, sinkhorn

    make, kind, dtype = LIBS[lib]
    x, y = make(X2), make(Y2)
    with warnings.catch_warnings():  # (points that require grad: the warning of its own test)
        warnings.simplefilter("ignore")
        geom = DenseGeometry.from_points(x, y)
    plain = DenseGeometry.from_points(X2, Y2)
    ref = emd(None, None, plain)
    assert ref.value == pytest.approx(emd(None, None, PointCloud(X2, Y2)).value, rel=1e-12)
    r = emd(None, None, geom)
    _check(r.value, ref.value, kind, dtype, scalar=True)
    _check(r.f, ref.f, kind, dtype, scalar=False)
    s = sinkhorn(None, None, geom, eps=0.5)
    _check(s.f, sinkhorn(None, None, plain, eps=0.5).f, kind, dtype, scalar=False)


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_dense_cost_matrix_is_in_the_library_of_M(lib):
    """DenseGeometry(M).cost_matrix() was the stored float64 numpy copy whatever M was; it is
    in M's library, device and dtype, as the solvers' arrays are (r.f here), with the stored
    numbers; torch that requires grad keeps it (tests/ot/test_gradients.py)."""
    from kantorovich.ot import DenseGeometry, sinkhorn

    make, kind, dtype = LIBS[lib]
    M = np.abs(X1[:6, None] - Y1[None, :5])
    geom = DenseGeometry(make(M))
    C = geom.cost_matrix()
    f = sinkhorn(None, None, geom, eps=0.5).f
    assert kind_of(C) == kind == kind_of(f) and C.dtype == f.dtype, (type(C), C.dtype, f.dtype)
    assert str(C.dtype).rsplit(".", 1)[-1] == dtype and tuple(C.shape) == (6, 5)
    assert getattr(C, "requires_grad", False) == (lib == "torch_grad")
    np.testing.assert_array_equal(_host(C), geom.C.astype(_host(C).dtype))


def test_dense_cost_matrix_of_numpy_is_the_stored_array():
    """float64 numpy M (with or without dtype=): the stored array itself, as before; float32
    numpy M, stored as float64, comes back float32, as the solvers' arrays do."""
    from kantorovich.ot import DenseGeometry

    M = np.abs(X1[:6, None] - Y1[None, :5])
    for dtype in (None, np.float32, np.float64):
        geom = DenseGeometry(M, dtype=dtype)
        assert geom.cost_matrix() is geom.C
    geom = DenseGeometry(M.astype(np.float32))
    C = geom.cost_matrix()
    assert type(C) is np.ndarray and C.dtype == np.float32 and geom.C.dtype == np.float64
    np.testing.assert_array_equal(C, M.astype(np.float32))


def _same_array_type(C, f):
    """``C`` is of ``f``'s library, floating dtype and device."""
    assert kind_of(C) == kind_of(f) and C.dtype == f.dtype, (type(C), C.dtype, type(f), f.dtype)
    assert str(getattr(C, "device", "cpu")) == str(getattr(f, "device", "cpu"))


def _held(a):
    """The points the caller holds, as float64 numpy (what the geometry computes from)."""
    return np.asarray(_host(a), dtype=np.float64)


@pytest.mark.parametrize("batch", [False, True], ids=["one", "batch"])
@pytest.mark.parametrize("lib", sorted(LIBS))
def test_point_cloud_cost_matrix_is_in_the_library_of_the_points(lib, batch):
    """PointCloud(x, y).cost_matrix() and cost_block() of points without gradient were float64
    numpy numbers whatever the points were; they are in the points' library, device and
    floating dtype, as the solvers' arrays are (r.f here), with the numbers of the float64
    numpy computation, rounded to that dtype. Points that require grad (torch_grad) keep the
    matrix computed in their library with the gradient (tests/ot/test_gradients.py), of the
    same type."""
    from kantorovich.ot import PointCloud, sinkhorn

    make, kind, dtype = LIBS[lib]
    xs, ys = (np.stack([X2, X2 + 1.0]), np.stack([Y2, Y2])) if batch else (X2, Y2)
    x, y = make(xs), make(ys)
    pc = PointCloud(x, y)
    C, B = pc.cost_matrix(), pc.cost_block(2, 7)
    f = sinkhorn(None, None, pc, eps=0.5).f
    _same_array_type(C, f)
    _same_array_type(B, f)
    assert str(C.dtype).rsplit(".", 1)[-1] == dtype
    lead = (2,) if batch else ()
    assert tuple(C.shape) == lead + (12, 10) and tuple(B.shape) == lead + (5, 10)
    assert getattr(C, "requires_grad", False) == getattr(B, "requires_grad", False) == (lib == "torch_grad")
    old = PointCloud(_held(x), _held(y))  # float64 numpy: the numbers cost_matrix() returned
    want = old.cost_matrix()
    want_b = want[..., 2:7, :]
    if lib == "torch_grad":  # computed by torch: the same arithmetic, to rounding
        np.testing.assert_allclose(_host(C), want, rtol=1e-14, atol=0)
        np.testing.assert_allclose(_host(B), want_b, rtol=1e-14, atol=0)
    else:
        np.testing.assert_array_equal(_host(C), want.astype(_host(C).dtype))
        np.testing.assert_array_equal(_host(B), want_b.astype(_host(B).dtype))
    np.testing.assert_array_equal(old.cost_block(2, 7), want_b)


@pytest.mark.parametrize("lib", sorted(set(LIBS) - {"torch_grad"}))
def test_point_cloud_callable_cost_matrix_is_in_the_library_of_the_points(lib):
    """A callable cost is called with numpy blocks (docs/costs.md); its matrix and blocks were
    given back as those numpy numbers, and are now converted to the points' library, as the
    solvers' arrays are. (Points that require grad with a callable cost are a ValueError.)"""
    from kantorovich.ot import PointCloud, sinkhorn

    def sq(a, b):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
        return ((a[:, None] - b[None]) ** 2).sum(-1)

    make, kind, dtype = LIBS[lib]
    x, y = make(X2), make(Y2)
    pc = PointCloud(x, y, cost=sq)
    C, B = pc.cost_matrix(), pc.cost_block(3, 5)
    f = sinkhorn(None, None, pc, eps=0.5).f
    _same_array_type(C, f)
    _same_array_type(B, f)
    want = sq(_held(x), _held(y))
    np.testing.assert_array_equal(_host(C), want.astype(_host(C).dtype))
    np.testing.assert_array_equal(_host(B), want[3:5].astype(_host(B).dtype))


@pytest.mark.parametrize("lib", sorted(LIBS))
def test_point_cloud_cost_range_stays_two_floats(lib):
    """cost_range() is documented as two Python floats (without gradient) and stays so."""
    import warnings

    from kantorovich.ot import PointCloud

    make, _, _ = LIBS[lib]
    with warnings.catch_warnings():  # (torch_grad: the KantorovichWarning of its own test)
        warnings.simplefilter("ignore")
        lo, hi = PointCloud(make(X2), make(Y2)).cost_range()
    assert type(lo) is float and type(hi) is float
    C = PointCloud(_held(make(X2)), _held(make(Y2))).cost_matrix()
    assert (lo, hi) == (C.min(), C.max())


def test_point_cloud_cost_matrix_beyond_float32_warns():
    """float32 points whose costs exceed float32's range (|x - y|^2 of 3e20 is 9e40): the
    costs, computed in float64, are inf in the float32 output, and a KantorovichWarning names
    the method rather than giving inf without a word; float64 points keep the finite costs."""
    import warnings

    from kantorovich.exceptions import KantorovichWarning
    from kantorovich.ot import PointCloud

    x = torch.tensor([[3e20, 0.0], [1.0, 0.0]], dtype=torch.float32)
    y = torch.zeros((1, 2), dtype=torch.float32)
    pc = PointCloud(x, y)
    for what, read in (("cost_matrix()", pc.cost_matrix), ("cost_block(0, 1)",
                                                           lambda: pc.cost_block(0, 1))):
        with pytest.warns(KantorovichWarning) as rec:
            C = read()
        msg = str(rec[0].message)
        assert msg.startswith(f"PointCloud.{what}: costs of magnitude up to 9e+40"), msg
        assert "inf in the float32 output" in msg and rec[0].filename == __file__
        assert C.dtype == torch.float32 and torch.isinf(C[0, 0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        C = PointCloud(x, y).cost_block(1, 2)  # (finite in float32: silent)
        assert C.dtype == torch.float32 and float(C[0, 0]) == 1.0
        assert float(PointCloud(x.double(), y.double()).cost_matrix()[0, 0]) == float(x[0, 0]) ** 2


#: transforms that build a geometry from another, and the geometry the caller would build
#: instead from its own arrays: (data, transform, the constructor's equivalent)
def _transforms():
    from kantorovich.ot import DenseGeometry, PointCloud
    from kantorovich.ot._geometry import as_geometry

    xb, yb = np.stack([X2, X2 + 1.0]), np.stack([Y2, Y2])
    M = np.abs(X1[:6, None] - Y1[None, :5])
    return {
        "PointCloud.astype(float32)": ((X2, Y2), lambda g: g.astype(np.float32),
                                       lambda x, y: PointCloud(x, y, dtype=np.float32)),
        "PointCloud.astype(float64)": ((X2, Y2), lambda g: g.astype(np.float64), PointCloud),
        "PointCloud.to_device(cpu)": ((X2, Y2), lambda g: g.to_device("cpu"), PointCloud),
        "as_geometry(PointCloud, dtype=float32)": (
            (X2, Y2), lambda g: as_geometry(g, dtype=np.float32),
            lambda x, y: PointCloud(x, y, dtype=np.float32)),
        "PointCloud.problem(1)": ((xb, yb), lambda g: g.problem(1),
                                  lambda x, y: PointCloud(x[1, ...], y[1, ...])),
        "PointCloud.with_points(x, x)": ((X2, Y2), lambda g: g.with_points(g.x, g.x),
                                         lambda x, y: PointCloud(x, x)),
        "PointCloud.with_points(y, x)": ((X2, Y2), lambda g: g.with_points(g.y, g.x),
                                         lambda x, y: PointCloud(y, x)),
        "DenseGeometry.astype(float32)": ((M,), lambda g: g.astype(np.float32),
                                          lambda m: DenseGeometry(m, dtype=np.float32)),
        "DenseGeometry.to_device(cpu)": ((M,), lambda g: g.to_device("cpu"), DenseGeometry),
        "as_geometry(DenseGeometry, dtype=float32)": (
            (M,), lambda g: as_geometry(g, dtype=np.float32),
            lambda m: DenseGeometry(m, dtype=np.float32)),
    }


@pytest.mark.parametrize("how", sorted(_transforms()))
@pytest.mark.parametrize("lib", sorted(LIBS))
def test_geometry_transforms_answer_in_the_library_of_the_inputs(lib, how):
    """A geometry built from another (cast, moved, one problem of a batch, a cloud of its own
    points) was a bare geometry of numbers: the solvers gave float64 numpy results (torch:
    a Python float `value` without gradient; numpy float32: float64) and cost_matrix() was
    numpy. Now it answers as the geometry the caller would build from its own arrays
    (PointCloud(x, y, dtype=float32) for astype(float32), ...): f, value and cost_matrix() of
    that library, dtype and device, the same numbers (gradients: tests/ot/test_gradients.py,
    tests/ot/test_gradients_jax.py)."""
    from kantorovich.ot import DenseGeometry, PointCloud, sinkhorn

    make, kind, dtype = LIBS[lib]
    data, transform, build = _transforms()[how]
    ctor = DenseGeometry if len(data) == 1 else PointCloud
    geom = transform(ctor(*(make(a) for a in data)))
    ref = build(*(make(a) for a in data))
    r, r0 = sinkhorn(None, None, geom, eps=0.5), sinkhorn(None, None, ref, eps=0.5)
    _same_array_type(r.f, r0.f)
    _same_array_type(r.value, r0.value)
    assert kind_of(r.f) == kind and str(r.f.dtype).rsplit(".", 1)[-1] == dtype
    assert getattr(r.value, "requires_grad", False) == (lib == "torch_grad")
    np.testing.assert_array_equal(_host(r.f), _host(r0.f))
    assert float(_host(r.value)) == float(_host(r0.value))
    C, C0 = geom.cost_matrix(), ref.cost_matrix()
    _same_array_type(C, r0.f)
    assert getattr(C, "requires_grad", False) == getattr(C0, "requires_grad", False)
    np.testing.assert_array_equal(_host(C), _host(C0))


@pytest.mark.parametrize("how", sorted(_transforms()))
def test_geometry_transforms_of_float64_numpy_stay_numpy(how):
    """float64 numpy data: the transformed geometry answers as the constructor's (numpy
    results, a float value), and torch weights beside it are the TypeError naming both
    libraries. The cast and moved geometries and a batch's problem forgot that their data was
    numpy: torch weights gave torch results without a word. (A cloud of its own float64
    points, with_points, kept it: its numbers are float64 numpy.)"""
    from kantorovich.ot import DenseGeometry, PointCloud, sinkhorn

    data, transform, build = _transforms()[how]
    ctor = DenseGeometry if len(data) == 1 else PointCloud
    geom, ref = transform(ctor(*data)), build(*data)
    r, r0 = sinkhorn(None, None, geom, eps=0.5), sinkhorn(None, None, ref, eps=0.5)
    assert type(r.f) is type(r0.f) is np.ndarray and r.f.dtype == r0.f.dtype
    assert type(r.value) is type(r0.value) and isinstance(r.value, float)
    C = geom.cost_matrix()
    assert type(C) is np.ndarray and C.dtype == ref.cost_matrix().dtype
    n = geom.shape[0]
    for g in (geom, ref):
        with pytest.raises(TypeError, match="`a` is a torch array but `M_or_geometry` is a numpy array"):
            sinkhorn(torch.full((n,), 1.0 / n), None, g, eps=0.5)


def test_with_points_of_its_own_and_other_arrays():
    """with_points(x, y) of arrays that are not the cloud's own takes them as PointCloud does
    (their library); the cloud's own array beside an array of another library is the
    TypeError naming both, as PointCloud(x_torch, y_numpy) is."""
    from kantorovich.ot import PointCloud, sinkhorn

    x, y = torch.tensor(X2), torch.tensor(Y2)
    pc = PointCloud(x, y)
    own = pc.with_points(pc.x, torch.tensor(Y2[:4]))  # the caller's x, and new torch points
    f = sinkhorn(None, None, own, eps=0.5).f
    assert isinstance(f, torch.Tensor) and f.dtype == torch.float64
    ref = sinkhorn(None, None, PointCloud(x, torch.tensor(Y2[:4])), eps=0.5).f
    np.testing.assert_array_equal(f.numpy(), ref.numpy())
    with pytest.raises(TypeError, match="`x` is a torch array but `y` is a numpy array"):
        pc.with_points(pc.x, Y2)
    fresh = pc.with_points(X2, Y2)  # numpy points: a numpy cloud, as PointCloud(X2, Y2)
    assert type(sinkhorn(None, None, fresh, eps=0.5).f) is np.ndarray


def test_lists_and_numbers_are_neutral():
    from kantorovich.ot import wasserstein_1d

    out = wasserstein_1d(torch.tensor([0.0, 1.0]), [2.0, 3.0])
    assert kind_of(out) == "torch" and float(out) == 2.0


def test_integer_weights_keep_the_floating_inputs_dtype():
    """Integer weights (counts) stand for the default floating dtype only when nothing else is
    floating: float32 values with them give float32, as torch's and JAX's own promotion does,
    whatever the default (torch float64, JAX with jax_enable_x64)."""
    import jax

    from kantorovich.ot import emd, wasserstein_1d

    counts_u, counts_v = np.arange(1, 41), np.arange(30, 0, -1)
    ref = wasserstein_1d(X1.astype(np.float32).astype(np.float64), Y1.astype(np.float32).astype(np.float64),
                         counts_u, counts_v)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        out = wasserstein_1d(torch.tensor(X1, dtype=torch.float32), torch.tensor(Y1, dtype=torch.float32),
                             torch.tensor(counts_u), torch.tensor(counts_v))
        assert out.dtype == torch.float32
        np.testing.assert_allclose(float(out), ref, rtol=1e-6)
        # integers alone still give the default floating dtype
        assert wasserstein_1d(torch.tensor([0, 1]), torch.tensor([2, 3])).dtype == torch.float64
    finally:
        torch.set_default_dtype(before)
    with jax.enable_x64(True):
        out = wasserstein_1d(jnp.asarray(X1, dtype=jnp.float32), jnp.asarray(Y1, dtype=jnp.float32),
                             jnp.asarray(counts_u), jnp.asarray(counts_v))
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(float(out), ref, rtol=1e-6)
        r = emd(jnp.asarray([1, 2, 1]), jnp.asarray([2, 2]), jnp.asarray(RNG.random((3, 2)), dtype=jnp.float32),
                normalize=True)
        assert r.f.dtype == r.value.dtype == r.plan.dtype == jnp.float32
        assert wasserstein_1d(jnp.asarray([0, 1]), jnp.asarray([2, 3])).dtype == jnp.float64


def test_a_zero_d_torch_setting_does_not_widen_the_data():
    """torch's own rule: float32 tensors with a 0-d float64 tensor give float32 (a 0-d float64
    eps made every result float64); a 0-d tensor alone, or beside other 0-d ones, still sets it,
    and other libraries keep theirs (numpy and JAX widen on a 0-d float64 array)."""
    import jax

    from kantorovich.families import GaussianPair
    from kantorovich.ot import PointCloud, sinkhorn

    x32 = torch.tensor(RNG.random((12, 2)), dtype=torch.float32)
    y32 = torch.tensor(RNG.random((9, 2)), dtype=torch.float32)
    eps64 = torch.tensor(0.2, dtype=torch.float64)
    assert (x32 + eps64).dtype == torch.float32
    r = sinkhorn(None, None, PointCloud(x32, y32), eps=eps64)
    assert r.f.dtype == r.g.dtype == r.value.dtype == r.objective.dtype == torch.float32
    ref = sinkhorn(None, None, PointCloud(x32.numpy().astype(np.float64), y32.numpy().astype(np.float64)),
                   eps=0.2)
    np.testing.assert_allclose(float(r.value), ref.value, rtol=1e-6)
    assert GaussianPair(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0), torch.tensor(0.5),
                        torch.tensor(2.0)).kl().dtype == torch.float64
    # numpy's and JAX's rule: a 0-d float64 array widens float32 data
    x, y = x32.numpy(), y32.numpy()
    assert (x + np.array(0.2)).dtype == np.float64
    assert sinkhorn(None, None, PointCloud(x, y), eps=np.array(0.2)).f.dtype == np.float64
    with jax.enable_x64(True):
        jx, jy = jnp.asarray(x), jnp.asarray(y)
        assert (jx + jnp.asarray(0.2, dtype=jnp.float64)).dtype == jnp.float64
        assert sinkhorn(None, None, PointCloud(jx, jy), eps=jnp.asarray(0.2, dtype=jnp.float64)).f.dtype \
            == jnp.float64


def test_integer_array_api_input_takes_the_devices_default_float():
    """Integers of an array-API namespace give its default real floating dtype on their device
    (``__array_namespace_info__().default_dtypes``): float32 on array_api_strict's device
    without float64, where a float64 result could not be made."""
    from kantorovich.ot import emd, wasserstein_1d

    dev = xps.Device("no_float64")
    out = wasserstein_1d(xps.asarray([0, 1, 2], device=dev), xps.asarray([1, 2], device=dev))
    assert out.dtype == xps.float32 and out.device == dev
    assert float(out) == pytest.approx(wasserstein_1d([0, 1, 2], [1, 2]), rel=1e-7)
    r = emd(None, None, xps.asarray([[0, 3], [2, 1]], device=dev))
    assert r.plan.dtype == r.f.dtype == r.value.dtype == xps.float32
    assert wasserstein_1d(xps.asarray([0, 1, 2]), xps.asarray([1, 2])).dtype == xps.float64


def test_from_kernel_keeps_integer_arrays():
    c = caller(torch.ones(2))
    out = from_kernel(np.array([2, 0, 1]), c)
    assert out.dtype == torch.int64


def _cuda_libs():
    libs = {}
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            libs["cupy"] = (lambda a: cupy.asarray(a), "cupy")
    except Exception:
        pass
    if torch.cuda.is_available():
        libs["torch_cuda"] = (lambda a: torch.tensor(a, device="cuda"), "torch")
    return libs


@pytest.mark.gpu
@pytest.mark.parametrize("lib", ["cupy", "torch_cuda"])
@pytest.mark.parametrize("fname", sorted(CASES))
def test_caller_type_back_on_the_gpu(fname, lib):
    import importlib

    libs = _cuda_libs()
    if lib not in libs:
        pytest.skip(f"{lib} with a CUDA device is not available here")
    make, kind = libs[lib]
    mod, call, arr_field = CASES[fname]
    f = getattr(importlib.import_module(f"kantorovich.{mod}"), fname)
    ref = call(f, np.asarray)
    out = call(f, make)
    v = getattr(out, "value", out)
    # (a CuPy array's device prints as "<CUDA Device 0>")
    assert kind_of(v) == kind and (kind == "cupy" or "cuda" in str(v.device))
    np.testing.assert_allclose(float(v), float(getattr(ref, "value", ref)), rtol=1e-6, atol=1e-9)
    if arr_field is not None:
        assert kind_of(getattr(out, arr_field)) == kind


@pytest.mark.gpu
@pytest.mark.parametrize("lib", ["cupy", "torch_cuda"])
def test_dense_cost_matrix_on_the_gpu(lib):
    """CuPy M: cost_matrix() is the stored CuPy array itself; torch CUDA M: a torch CUDA
    tensor, a DLPack view of the stored array (float64 here), with the same numbers."""
    from kantorovich.ot import DenseGeometry

    libs = _cuda_libs()
    if lib not in libs:
        pytest.skip(f"{lib} with a CUDA device is not available here")
    make, kind = libs[lib]
    M = np.abs(X1[:6, None] - Y1[None, :5])
    geom = DenseGeometry(make(M))
    C = geom.cost_matrix()
    assert kind_of(C) == kind and geom.on_gpu
    if kind == "cupy":
        assert C is geom.C
    else:
        assert "cuda" in str(C.device) and C.dtype == torch.float64
        assert C.data_ptr() == geom.C.data.ptr
    np.testing.assert_array_equal(C.get() if kind == "cupy" else C.cpu().numpy(), M)


@pytest.mark.gpu
@pytest.mark.parametrize("lib", ["cupy", "torch_cuda"])
def test_point_cloud_cost_matrix_on_the_gpu(lib):
    """CuPy points: cost_matrix() and cost_block() are CuPy arrays, as before; torch CUDA
    points: torch CUDA tensors (they were CuPy arrays), of the type, dtype and device of the
    solvers' f, with the numbers of the CuPy computation."""
    from kantorovich.ot import PointCloud, sinkhorn

    libs = _cuda_libs()
    if lib not in libs:
        pytest.skip(f"{lib} with a CUDA device is not available here")
    make, kind = libs[lib]
    pc = PointCloud(make(X2), make(Y2))
    C, B = pc.cost_matrix(), pc.cost_block(2, 7)
    f = sinkhorn(None, None, pc, eps=0.5).f
    _same_array_type(C, f)
    _same_array_type(B, f)
    assert kind_of(C) == kind and pc.on_gpu
    ref = pc._matrix().get()
    host = C.get() if kind == "cupy" else C.cpu().numpy()
    np.testing.assert_array_equal(host, ref)
    np.testing.assert_array_equal(B.get() if kind == "cupy" else B.cpu().numpy(), ref[2:7])


@pytest.mark.gpu
def test_torch_cuda_handover_is_a_cupy_view():
    if "torch_cuda" not in _cuda_libs():
        pytest.skip("torch with a CUDA device is not available here")
    t = torch.arange(8, dtype=torch.float32, device="cuda")
    v = to_kernel(t)
    assert type(v).__module__.startswith("cupy") and v.data.ptr == t.data_ptr()


def test_dtype_arguments_are_not_arrays():
    assert kind_of(np.float32) is None and kind_of(np.dtype("float32")) is None
    assert caller(np.ones(3), np.float32, torch.float32).direct


def test_dtype_classes_are_neutral():
    """``dtype=np.float32`` (a class, whose ``__array_namespace__`` is unbound) is no array."""
    from kantorovich.ot import sinkhorn

    assert kind_of(np.float32) is None and caller(np.float32).direct
    M = np.abs(X1[:6, None] - Y1[None, :5])
    r = sinkhorn(None, None, M, eps=0.5, dtype=np.float32)
    assert r.f.dtype == np.float32


@pytest.mark.parametrize("dt", [np.float32, "float32", torch.float32, jnp.float32])
def test_dtype_may_be_named_in_any_library(dt):
    """``dtype=`` takes torch's dtypes (and JAX's, numpy's own) as well as numpy's, in
    ``sinkhorn``, ``sinkhorn_divergence`` (forwarded to ``sinkhorn``; it set no output dtype)
    and the geometries; torch's bfloat16 or an integer dtype is the error naming ``dtype``."""
    from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence

    x, y = torch.tensor(np.c_[X1[:6], X1[:6] ** 2]), torch.tensor(np.c_[Y1[:5], Y1[:5] + 1])
    r = sinkhorn(None, None, PointCloud(x, y), eps=0.5, dtype=dt)
    assert r.value.dtype == r.f.dtype == torch.float32
    assert PointCloud(x, y, dtype=dt).dtype == np.float32
    xg = x.clone().requires_grad_()
    s = sinkhorn_divergence(None, None, PointCloud(xg, y), eps=0.5, dtype=dt)
    assert s.value.dtype == torch.float32
    s.value.backward()
    assert xg.grad.dtype == torch.float64  # a gradient comes in its input's dtype
    with pytest.raises(ValueError, match="`dtype` must be None, float32 or float64; got int64"):
        sinkhorn(None, None, PointCloud(x, y), eps=0.5, dtype=torch.int64)


@pytest.mark.parametrize("jit", [False, True])
def test_a_float64_dtype_for_jax_without_x64_gives_float32_and_says_so(jit):
    """JAX holds float64 only with jax_enable_x64. Without it ``dtype=float64`` (the solve's
    precision) gives float32 results, as ``jnp.asarray`` would, with one warning naming
    ``dtype``: under ``jit`` too, where the callback declared float64 outputs and JAX refused
    them (a ValueError from inside JAX); with x64 the results are float64, without a word."""
    import warnings

    import jax

    from kantorovich.exceptions import KantorovichWarning
    from kantorovich.ot import PointCloud, sinkhorn

    ref = sinkhorn(None, None, PointCloud(X1[:6, None], Y1[:5, None]), eps=0.5).value
    f = lambda x, y: sinkhorn(None, None, PointCloud(x, y), eps=0.5, dtype="float64").value  # noqa: E731
    f = jax.jit(f) if jit else f
    with jax.enable_x64(False):
        x, y = jnp.asarray(X1[:6, None]), jnp.asarray(Y1[:5, None])
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out = f(x, y)
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(float(out), ref, rtol=1e-6)
        msgs = [str(w.message) for w in rec]
        assert [w.category for w in rec] == [KantorovichWarning], msgs
        assert "`dtype`=float64" in msgs[0] and "jax_enable_x64" in msgs[0]
    with jax.enable_x64(True):
        x, y = jnp.asarray(X1[:6, None]), jnp.asarray(Y1[:5, None])
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = f(x, y)
        assert out.dtype == jnp.float64
        np.testing.assert_allclose(float(out), ref, rtol=1e-12)


@pytest.mark.parametrize("lib", ["torch64", "torch32", "jax32", "strict64"])
def test_families_follow_the_caller(lib):
    from kantorovich.families import GaussianPair, HistogramPair, ParallelLines

    make, kind, dtype = LIBS[lib]
    g_ref = GaussianPair(np.zeros(2), np.eye(2), np.ones(2), 2 * np.eye(2))
    g = GaussianPair(make(np.zeros(2)), make(np.eye(2)), make(np.ones(2)), make(2 * np.eye(2)))
    for q in ("kl", "kl_reverse", "w2"):
        _check(getattr(g, q)(), getattr(g_ref, q)(), kind, dtype, scalar=True)
    x, y = g.sample(5, rng=0)
    assert kind_of(x) == kind and kind_of(y) == kind
    h = HistogramPair(make(np.array([3.0, 2, 1, 4])), make(np.array([1.0, 2, 4, 3])))
    _check(h.w1(), 0.5, kind, dtype, scalar=True)  # C2: 5 unnormalised, 0.5 normalised
    if kind == "torch":  # a 0-d tensor is a scalar parameter
        theta = make(np.array(0.3))
        _check(ParallelLines(theta).w1(), 0.3, kind, dtype, scalar=True)


def test_families_with_numbers_stay_floats():
    from kantorovich.families import ParallelLines

    f = ParallelLines(0.3)
    assert type(f.w1()) is float and type(f.js()) is float


def test_families_mixing_libraries_name_the_argument():
    """A family's constructor names the parameter of another library (or a JAX tracer), not
    `argument 0`; a method's array argument must be of the family's library, as a function's
    arguments must share one."""
    import jax

    from kantorovich.families import GaussianPair, HistogramPair, ParallelLines

    with pytest.raises(TypeError, match=r"`mean0` is a torch array but `cov0` is a numpy array"):
        GaussianPair(torch.zeros(2), np.eye(2), np.ones(2), np.eye(2))
    with pytest.raises(TypeError, match=r"`p` is a jax array but `q` is a torch array"):
        HistogramPair(jnp.asarray(P), q=torch.tensor(Q))
    with pytest.raises(TypeError, match=r"`theta` is a JAX tracer"):
        jax.jit(lambda t: ParallelLines(t).w1())(0.5)
    g = GaussianPair(torch.tensor(0.0), torch.tensor(1.0), torch.tensor(0.5), torch.tensor(2.0))
    for x, kind in ((jnp.asarray(X1), "jax"), (X1, "numpy")):
        with pytest.raises(TypeError, match=rf"`x` is a {kind} array but this GaussianPair was "
                                            r"built from torch arrays"):
            g.pdf0(x)
    out = g.pdf1(list(X1[:3]))  # lists and numbers mix with anything
    assert kind_of(out) == "torch" and out.dtype == torch.float32
    # a family of numbers (or float64 numpy parameters) follows the argument's library
    assert kind_of(GaussianPair(0.0, 1.0, 0.5, 2.0).pdf0(jnp.asarray(X1))) == "jax"


def test_functions_without_a_gradient_name_the_traced_argument():
    """Under jax.jit, vmap or grad a function that runs outside JAX (the divergences, the
    Gaussian closed forms) is the TypeError naming the traced argument and the way out."""
    import jax

    from kantorovich.divergences import kl_divergence
    from kantorovich.families import gaussian_kl

    msg = r"kl_divergence has no gradient: it was called with a JAX tracer as `{}` \(inside jax"
    with pytest.raises(TypeError, match=msg.format("q") + r".*call it outside the transformation"):
        jax.jit(lambda q: kl_divergence(list(P), q))(jnp.asarray(Q))
    with pytest.raises(TypeError, match=msg.format("p")):
        jax.vmap(lambda p: kl_divergence(p, list(Q)))(jnp.asarray(np.stack([P, P])))
    with pytest.raises(TypeError, match=r"gaussian_kl has no gradient.* as `m1`"):
        jax.grad(lambda m: gaussian_kl(0.0, 1.0, m, 2.0))(0.5)


def test_torch_tensors_the_kernels_cannot_take_are_named():
    """A sparse tensor, or one on a device other than the CPU or CUDA (meta here; mps, xpu), is
    the TypeError naming the argument, not torch's unnamed conversion error or a missing CuPy."""
    from kantorovich.divergences import tv_distance
    from kantorovich.ot import wasserstein_1d

    with pytest.raises(TypeError, match=r"`p` is a torch tensor of layout torch.sparse_coo"):
        tv_distance(torch.tensor(P).to_sparse(), torch.tensor(Q))
    with pytest.raises(TypeError, match=r"`v_values` is a torch tensor on the 'meta' device"):
        wasserstein_1d(torch.tensor(X1), torch.empty(3, device="meta"))


def test_float32_output_that_overflows_is_named_in_a_warning():
    """A float64 result beyond float32's range (|x| ~ 1e20 points: squared costs ~1e40) became
    inf in the float32 output with no word (torch) or numpy's bare cast warning. The boundary is
    float32's rounding to inf: the smallest float64 that rounds to inf is 2^128 - 2^103 (halfway
    between the largest float32, 2^128 - 2^104, and 2^128); one ulp below it rounds to the
    largest float32 and must not warn."""
    import warnings

    from kantorovich._interop import Caller, wrap_result
    from kantorovich.divergences import kl_divergence
    from kantorovich.exceptions import KantorovichWarning
    from kantorovich.ot import PointCloud, sinkhorn

    x = np.array([[0.0, 0.0], [3e19, 0.0]], dtype=np.float32)
    y = np.array([[1e20, 0.0], [2e20, 0.0]], dtype=np.float32)
    with pytest.warns(KantorovichWarning, match=r"`value`, `objective`, `f` and `g` .* largest float32"):
        r = sinkhorn(None, None, PointCloud(torch.from_numpy(x), torch.from_numpy(y)), eps=1e40)
    assert r.value.dtype == torch.float32 and torch.isinf(r.value)
    # numpy: value and objective stay Python floats (finite), the potentials overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no bare numpy "overflow in cast"
        with pytest.warns(KantorovichWarning, match=r"^`f` and `g` of the result exceed"):
            r = sinkhorn(None, None, PointCloud(x, y), eps=1e40)
    assert np.isfinite(r.value) and r.f.dtype == np.float32 and np.isinf(r.f).all()
    # an infinite answer of the computation itself (KL with disjoint supports) is no overflow
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert torch.isinf(kl_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])))
        c = caller(torch.zeros(1, dtype=torch.float32))
        below = np.nextafter(2.0 ** 128 - 2.0 ** 103, 0.0)
        assert torch.isfinite(wrap_result(np.array([below, -below]), c)).all()
    assert isinstance(c, Caller)
    with pytest.warns(KantorovichWarning, match=r"^the result exceeds the largest float32"):
        assert torch.isinf(wrap_result(np.array([2.0 ** 128 - 2.0 ** 103]), c)).all()


@pytest.mark.parametrize("name", ["torch32", "numpy32", "jax32"])
def test_sinkhorn_divergence_inner_results_follow_the_rules(name):
    """sinkhorn_divergence's ot_ab, ot_aa, ot_bb are SinkhornResults inside the result: their
    f, g and value came back as float64 numpy whatever the input (a torch float32 caller got
    numpy float64 potentials beside a float32 torch value)."""
    from kantorovich.ot import PointCloud, sinkhorn_divergence

    make, kind, dtype = LIBS[name]
    r = sinkhorn_divergence(None, None, PointCloud(make(X2), make(Y2)), eps=0.1)
    for inner in (r.ot_ab, r.ot_aa, r.ot_bb):
        for v in (inner.f, inner.g):
            assert kind_of(v) == kind and str(v.dtype).endswith(dtype)
        if kind != "numpy":  # numpy: value stays a Python float (arrays.md)
            assert kind_of(inner.value) == kind and str(inner.value.dtype).endswith(dtype)
    ref = sinkhorn_divergence(None, None, PointCloud(X2.astype(np.float32), Y2.astype(np.float32)),
                              eps=0.1)
    # same solve (float64 on the host for all three): equal up to the float32 rounding of f
    assert np.allclose(_host(r.ot_ab.f), ref.ot_ab.f, rtol=2 ** -23, atol=0)


@pytest.mark.parametrize("call", ["sliced_wasserstein", "estimate_kl", "random_directions",
                                  "ParallelLines.sample", "assignment"])
def test_a_jax_prng_key_as_rng_is_the_error_naming_rng(call):
    """A typed JAX key (``jax.random.key``) as ``rng`` has no numpy view: it failed inside the
    array conversion ("JAX array with PRNGKey dtype cannot be converted to a NumPy array");
    now the TypeError naming ``rng``, which says to pass an int seed."""
    import jax

    from kantorovich.divergences import estimate_kl
    from kantorovich.families import ParallelLines
    from kantorovich.ot import assignment, random_directions, sliced_wasserstein

    key = jax.random.key(0)
    x, y = jnp.asarray(X1[:6].reshape(3, 2)), jnp.asarray(Y1[:6].reshape(3, 2))
    run = {"sliced_wasserstein": lambda: sliced_wasserstein(x, y, n_projections=3, rng=key),
           "estimate_kl": lambda: estimate_kl(jnp.asarray(X1[:, None]), jnp.asarray(Y1[:, None]), rng=key),
           "random_directions": lambda: random_directions(3, 2, rng=key),
           "ParallelLines.sample": lambda: ParallelLines(jnp.asarray(0.5)).sample(3, rng=key),
           "assignment": lambda: assignment(jnp.abs(x[:, :1] - y[None, :, 0]), exact=False,
                                            rng=key)}[call]
    with pytest.raises(TypeError, match=r"`rng` must be None, an int or a numpy.random.Generator;"
                                        r" got .*key<.*pass an int seed"):
        run()


_SHARDED = """
import os
os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
import numpy as np, jax, jax.numpy as jnp
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from kantorovich.divergences import kl_divergence
from kantorovich.ot import wasserstein_1d
assert len(jax.devices()) == 2
mesh = Mesh(np.array(jax.devices()), ("i",))
rng = np.random.default_rng(0)
u, v, p = rng.normal(size=8), rng.normal(size=6), rng.uniform(0.1, 1.0, 8)
su = jax.device_put(jnp.asarray(u), NamedSharding(mesh, P("i")))     # sharded
rv = jax.device_put(jnp.asarray(v), NamedSharding(mesh, P()))        # replicated
sp = jax.device_put(jnp.asarray(p), NamedSharding(mesh, P("i")))
for out, ref in [(wasserstein_1d(su, rv), wasserstein_1d(u, v)),
                 (wasserstein_1d(su, jnp.asarray(v)), wasserstein_1d(u, v)),
                 (kl_divergence(sp, sp[::-1]), kl_divergence(p, p[::-1])),
                 (jax.grad(lambda z: wasserstein_1d(z, rv, p=2))(su)[0],
                  jax.grad(lambda z: wasserstein_1d(z, jnp.asarray(v), p=2))(jnp.asarray(u))[0])]:
    assert isinstance(out, jax.Array) and out.dtype == jnp.float32, out
    np.testing.assert_allclose(float(out), float(ref), rtol=1e-6)
print("ok")
"""


def test_jax_arrays_over_several_host_devices_are_read_on_the_host():
    """A JAX array sharded or replicated over several (host) devices has no single device: it
    was taken for a GPU array ("No module named 'cupy'"), and beside a one-device array it was
    "on jax but ... on cpu". Now its shards are gathered on the host; the results come back on
    JAX's default device. (A fresh process: the host devices are set before JAX starts.)"""
    import os
    import subprocess
    import sys

    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    run = subprocess.run([sys.executable, "-c", _SHARDED], capture_output=True, text=True,
                         env=env, timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


def test_array_api_devices_without_64_bit_types():
    """A device without float64 (array_api_strict's "no_float64", "no_x64"): ``dtype=float64``
    failed inside the namespace ("does not support dtype=float64"), and on "no_x64" the int64
    permutation of ``assignment`` could not be made at all. Now, as for JAX without x64, the
    device's default floating dtype with a warning naming ``dtype``, and its default integer
    dtype for integer results; devices with 64-bit types are unchanged."""
    import warnings

    from kantorovich.exceptions import KantorovichWarning
    from kantorovich.ot import assignment, sinkhorn

    M = RNG.random((4, 4))
    ref = sinkhorn(None, None, M.astype(np.float32).astype(np.float64), eps=0.5).value
    perm = np.asarray(assignment(M).perm)
    for name in ("no_float64", "no_x64"):
        dev = xps.Device(name)
        Ms = xps.asarray(M.astype(np.float32), device=dev)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out = sinkhorn(None, None, Ms, eps=0.5, dtype="float64").value
        assert out.dtype == xps.float32 and out.device == dev
        np.testing.assert_allclose(float(out), ref, rtol=1e-6)
        assert [w.category for w in rec] == [KantorovichWarning], [str(w.message) for w in rec]
        assert "`dtype`=float64" in str(rec[0].message)
        p = assignment(Ms).perm
        assert p.device == dev and p.dtype == (xps.int32 if name == "no_x64" else xps.int64)
        np.testing.assert_array_equal(np.asarray(p.to_device(xps.Device("CPU_DEVICE"))), perm)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = sinkhorn(None, None, xps.asarray(M.astype(np.float32)), eps=0.5, dtype="float64")
    assert out.value.dtype == xps.float64 and assignment(xps.asarray(M)).perm.dtype == xps.int64
