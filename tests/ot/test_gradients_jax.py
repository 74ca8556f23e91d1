"""JAX gradients of the OT values (kantorovich._autodiff, one ``jax.custom_jvp`` rule).

The solve and the gradients are the torch path's (one shared core), run on the host: so
``jax.grad`` must give the torch gradient on the same data (to 1e-10, float64), agree with
central differences of the JAX function itself, and give the same under ``jax.jit`` and
``jax.vmap`` (through ``jax.pure_callback``; ``vmap`` and a batch of JAX arrays as one
batched solve, each problem differentiated as alone); forward mode (``jax.jvp``, ``jax.jacfwd``) must
give the same first derivatives as reverse mode from one solve. Plus the warnings of an
unconverged solve, the result fields inside and outside ``jit``, float32, and the refusals (a
tracer where there is no rule, second derivatives).
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from kantorovich import ConvergenceWarning
from kantorovich.ot import (
    DenseGeometry,
    PointCloud,
    emd,
    max_sliced_wasserstein,
    sinkhorn,
    sinkhorn_divergence,
    sliced_wasserstein,
    wasserstein,
    wasserstein_1d,
    wasserstein_1d_plan,
)

jax = pytest.importorskip("jax")
jnp = pytest.importorskip("jax.numpy")
torch = pytest.importorskip("torch")

RNG = np.random.default_rng(11)
N = 8
X = RNG.normal(size=(N, 2))
Y = RNG.normal(size=(N + 1, 2)) + np.array([0.7, -0.3])
A = RNG.uniform(0.5, 1.5, N)
A /= A.sum()
B = RNG.uniform(0.5, 1.5, N + 1)
B /= B.sum()
M = RNG.uniform(0.0, 1.0, (N, N + 1))
U, V = RNG.normal(size=N), RNG.normal(size=N + 3) + 0.4
WU, WV = RNG.uniform(0.5, 1.5, N), RNG.uniform(0.5, 1.5, N + 3)
TIGHT = {"eps": 0.5, "tol": 1e-12}
A0, B0 = A.copy(), B.copy()  # weights with exact zeros
A0[[1, 5]] = 0.0
B0[[2]] = 0.0
A0 /= A0.sum()
B0 /= B0.sum()


@pytest.fixture
def x64():
    """float64 JAX for the test, the previous setting restored after it."""
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", before)


# each case: (the function of the differentiated arrays, given the constructor of the
# constants' library, and the numpy arrays differentiated)
CASES = {
    "sinkhorn_divergence_points": (
        lambda c, x, y: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value, (X, Y)),
    "sinkhorn_divergence_weights": (
        lambda c, a, b: sinkhorn_divergence(a, b, PointCloud(c(X), c(Y), cost=1.5), **TIGHT).value,
        (A, B)),
    "sinkhorn_divergence_dense": (
        lambda c, m: sinkhorn_divergence(c(A), c(B), m, M_aa=c(M @ M.T), M_bb=c(M.T @ M),
                                         **TIGHT).value, (M,)),
    "sinkhorn_objective_points_weights": (
        lambda c, x, y, a, b: sinkhorn(a, b, PointCloud(x, y), **TIGHT).objective, (X, Y, A, B)),
    "sinkhorn_objective_dense_geometry": (
        lambda c, m: sinkhorn(c(A), c(B), DenseGeometry(m), **TIGHT).objective, (M,)),
    "sinkhorn_value_implicit_points": (
        lambda c, x, y, a: sinkhorn(a, c(B), PointCloud(x, y), eps=0.2, tol=1e-12).value, (X, Y, A)),
    "sinkhorn_value_implicit_dense": (
        lambda c, m, b: sinkhorn(c(A), b, m, eps=0.2, tol=1e-12).value, (M, B)),
    "sinkhorn_value_zero_weights_points": (  # the one-sided derivative in a zero weight
        lambda c, a, b: sinkhorn(a, b, PointCloud(c(X), c(Y)), eps=0.1, tol=1e-12).value, (A0, B0)),
    "sinkhorn_value_zero_weights_dense": (
        lambda c, a, b: sinkhorn(a, b, c(M), eps=0.1, tol=1e-12).value, (A0, B0)),
    "emd": (lambda c, a, b, m: emd(a, b, m).value, (A, B, M)),
    "emd_normalize": (lambda c, a, b: emd(a, b * 3.0, c(M), normalize=True).value, (A, B)),
    "wasserstein_exact": (
        lambda c, x, y, b: wasserstein(x, y, b=b, p=2, method="exact"), (X, Y, B)),
    "wasserstein_sinkhorn": (
        lambda c, x, y: wasserstein(x, y, p=2, method="sinkhorn", eps=0.1), (X, Y)),
    "wasserstein_1d": (lambda c, u, v, wu, wv: wasserstein_1d(u, v, wu, wv, p=1.5), (U, V, WU, WV)),
    "wasserstein_1d_plan": (
        lambda c, u, v: wasserstein_1d_plan(u, v, c(WU), c(WV), p=2).value, (U, V)),
    "sliced_wasserstein": (
        lambda c, x, y: sliced_wasserstein(x, y, n_projections=6, p=2, rng=3), (X, Y)),
}


def _jax_grads(fn, arrs, transform=lambda f: f):
    k = len(arrs)
    g = transform(jax.grad(lambda *z: fn(jnp.asarray, *z), argnums=tuple(range(k))))
    return [np.asarray(t) for t in g(*(jnp.asarray(a) for a in arrs))]


# W_p(s x, s y) = s W_p(x, y): the gradient in the points the same at every scale s, that in
# the weights s times the unit-scale one (tests/ot/test_gradients.py checks torch and autograd)
SCALE_CASES = {
    "wasserstein_1d": (lambda p: lambda c, u, v, wu, wv: wasserstein_1d(u, v, wu, wv, p=p), 2),
    "sliced_wasserstein": (lambda p: lambda c, x, y, a, b: sliced_wasserstein(
        x, y, a=a, b=b, n_projections=5, p=p, rng=3), 2),
    "wasserstein_exact": (lambda p: lambda c, x, y, a, b: wasserstein(x, y, a, b, p=p, method="exact"), 2),
}


@pytest.mark.parametrize("name", sorted(SCALE_CASES))
@pytest.mark.parametrize("p", [2.0, 3.0, 20.0])
def test_wasserstein_gradients_are_scale_free(name, p, x64):
    """At 1e-170, 1e-17 and 1e160 (|x - y|^p under- or overflows) the JAX gradient is the
    unit-scale one, relative 1e-12 (the exact LP's weight gradient at p = 20 aside: the LP's
    potentials move with the scale of its costs, see tests/ot/test_gradients.py)."""
    make, npts = SCALE_CASES[name]
    fn = make(p)
    pts, ws = ((U, V), (WU, WV)) if name == "wasserstein_1d" else ((X, Y), (A, B))
    ref = _jax_grads(fn, list(pts) + list(ws))
    for s in (1e-170, 1e-17, 1e160):
        got = _jax_grads(fn, [z * s for z in pts] + list(ws))
        for i, (g, r) in enumerate(zip(got, ref)):
            if i >= npts and name == "wasserstein_exact" and p == 20.0:
                continue
            g = g / s if i >= npts else g
            assert np.abs(g - r).max() <= 1e-12 * np.abs(r).max(), (s, i)


def _torch_grads(fn, arrs):
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrs]
    fn(lambda a: torch.tensor(np.asarray(a), dtype=torch.float64), *ts).backward()
    return [t.grad.numpy() for t in ts]


@pytest.mark.parametrize("name", sorted(CASES))
def test_jax_grad_is_the_torch_gradient(name, x64):
    fn, arrs = CASES[name]
    ref = _torch_grads(fn, arrs)
    for got, want in zip(_jax_grads(fn, arrs), ref):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13, err_msg=name)
    # under jit: the same numbers, through jax.pure_callback
    for got, want in zip(_jax_grads(fn, arrs, jax.jit), ref):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13, err_msg=name + " (jit)")


@pytest.mark.parametrize("name", ["sinkhorn_divergence_points", "sinkhorn_value_implicit_points",
                                  "emd", "wasserstein_exact", "wasserstein_1d",
                                  "sliced_wasserstein"])
def test_jax_grad_against_finite_differences(name, x64):
    """Central differences of the JAX function itself along random directions; weights of total
    mass one are moved along the simplex's tangent (balanced OT is defined there only)."""
    fn, arrs = CASES[name]
    grads = _jax_grads(fn, arrs)
    f = lambda *z: float(fn(jnp.asarray, *(jnp.asarray(a) for a in z)))
    h = 1e-6
    g = np.random.default_rng(5)
    for i, a in enumerate(arrs):
        d = g.normal(size=a.shape)
        if a.ndim == 1 and abs(a.sum() - 1.0) < 1e-12 and name != "wasserstein_1d":
            d -= d.mean()
        plus = [z + h * d if j == i else z for j, z in enumerate(arrs)]
        minus = [z - h * d if j == i else z for j, z in enumerate(arrs)]
        fd = (f(*plus) - f(*minus)) / (2 * h)
        assert abs(fd - float(np.sum(grads[i] * d))) < 1e-5 * max(1.0, abs(fd)), (name, i)


@pytest.mark.parametrize("name", sorted(CASES))
def test_forward_mode_is_the_reverse_mode_gradient(name, x64):
    """jax.jvp along a random direction is <jax.grad, direction>, and jax.jacfwd is jax.grad
    (both modes come from the same JVP rule)."""
    fn, arrs = CASES[name]
    grads = _jax_grads(fn, arrs)
    k = len(arrs)
    f = lambda *z: fn(jnp.asarray, *z)
    g = np.random.default_rng(7)
    dirs = [g.normal(size=a.shape) for a in arrs]
    want = sum(float(np.sum(gr * d)) for gr, d in zip(grads, dirs))
    prim = tuple(jnp.asarray(a) for a in arrs)
    # under jit (through the callbacks) for the cases whose rules differ: envelope, implicit, plan
    jit = name in ("sinkhorn_divergence_points", "sinkhorn_value_implicit_points", "emd")
    for jvp in (jax.jvp, jax.jit(jax.jvp, static_argnums=0)) if jit else (jax.jvp,):
        val, tan = jvp(f, prim, tuple(jnp.asarray(d) for d in dirs))
        assert float(val) == float(f(*prim)), name
        assert abs(float(tan) - want) <= 1e-10 * max(1.0, abs(want)), (name, float(tan), want)
    jac = jax.jacfwd(f, argnums=tuple(range(k)))(*prim)
    for got, want_g in zip(jac, grads):
        np.testing.assert_allclose(np.asarray(got), want_g, rtol=1e-10, atol=1e-13, err_msg=name)


@pytest.mark.parametrize("name", ["sinkhorn_divergence_points", "sinkhorn_value_implicit_points",
                                  "emd", "wasserstein_1d"])
def test_jvp_against_finite_differences(name, x64):
    """jax.jvp against central differences of the function along one direction in all inputs
    at once (weights of mass one moved along the simplex's tangent)."""
    fn, arrs = CASES[name]
    f = lambda *z: fn(jnp.asarray, *(jnp.asarray(a) for a in z))
    g = np.random.default_rng(9)
    dirs = []
    for a in arrs:
        d = g.normal(size=a.shape)
        if a.ndim == 1 and abs(a.sum() - 1.0) < 1e-12 and name != "wasserstein_1d":
            d -= d.mean()
        dirs.append(d)
    _, tan = jax.jvp(f, tuple(jnp.asarray(a) for a in arrs), tuple(jnp.asarray(d) for d in dirs))
    h = 1e-6
    fd = (float(f(*(a + h * d for a, d in zip(arrs, dirs))))
          - float(f(*(a - h * d for a, d in zip(arrs, dirs))))) / (2 * h)
    assert abs(fd - float(tan)) < 1e-5 * max(1.0, abs(fd)), (name, fd, float(tan))


def test_one_solve_per_derivative_and_linearize(x64, monkeypatch):
    """jax.grad, jax.jvp, jax.jacfwd (one tangent per input entry) and jax.linearize each solve
    once; the gradient is computed once and reused by every tangent."""
    import kantorovich._autodiff as ad

    solves, grads = [], []
    real_fwd = ad._forward
    monkeypatch.setattr(ad, "_forward", lambda *a, **k: solves.append(1) or real_fwd(*a, **k))
    real_pc = ad.pointcloud_grads
    monkeypatch.setattr(ad, "pointcloud_grads", lambda *a, **k: grads.append(1) or real_pc(*a, **k))
    y = jnp.asarray(Y)
    S = lambda x: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value
    x = jnp.asarray(X)
    for transform in (jax.grad(S), lambda x: jax.jvp(S, (x,), (jnp.ones_like(x),)), jax.jacfwd(S),
                      jax.jit(jax.jacfwd(S))):
        solves.clear(), grads.clear()
        transform(x)
        assert solves == [1], transform
        assert len(grads) == 2, transform  # of OT(x, y) and OT(x, x) in x: once each
    solves.clear()
    val, lin = jax.linearize(S, x)
    d = jnp.asarray(np.random.default_rng(1).normal(size=X.shape))
    assert float(lin(d)) == pytest.approx(float(jnp.vdot(jax.grad(S)(x), d)), rel=1e-12)
    assert float(val) == float(S(x))


def test_jit_values_vmap_and_eager_result(x64):
    y = jnp.asarray(Y)

    def S(x):
        return sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value

    x = jnp.asarray(X)
    assert float(jax.jit(S)(x)) == float(S(x)) == sinkhorn_divergence(
        None, None, PointCloud(X, Y), **TIGHT).value
    xs = jnp.stack([x, x + 0.5, 2 * x])
    # jax.vmap runs one batched solve: the batched call's numbers, bit for bit, which are a
    # loop's to 1e-12 (docs/batch.md); each problem's gradient is the single rule's
    plain = sinkhorn_divergence(None, None, PointCloud(np.asarray(xs), np.broadcast_to(Y, (3,) + Y.shape)),
                                **TIGHT).value
    np.testing.assert_array_equal(np.asarray(jax.vmap(S)(xs)), plain)
    np.testing.assert_allclose(np.asarray(jax.vmap(S)(xs)), [float(S(z)) for z in xs], rtol=1e-12)
    batched = jax.vmap(jax.grad(S))(xs)
    for k in range(3):
        np.testing.assert_allclose(np.asarray(batched[k]), np.asarray(jax.grad(S)(xs[k])),
                                   rtol=1e-10, atol=1e-12)
    v, g = jax.value_and_grad(S)(x)
    assert float(v) == float(S(x)) and g.shape == x.shape

    # a pullback called twice: the second finds the saved nodes taken and solves again
    _, pull = jax.vjp(S, x)
    np.testing.assert_array_equal(np.asarray(pull(1.0)[0]), np.asarray(pull(1.0)[0]))
    np.testing.assert_array_equal(np.asarray(pull(2.0)[0]), 2 * np.asarray(g))

    seen = {}

    def obj(x):  # outside jit the whole result is there, its fields as JAX arrays
        r = sinkhorn(None, None, PointCloud(x, y), **TIGHT)
        seen["converged"], seen["f"] = r.converged, r.f
        return r.objective

    jax.grad(obj)(x)
    assert seen["converged"] is True and isinstance(seen["f"], jax.Array)
    with pytest.raises(AttributeError, match="`f` of sinkhorn's result is not available inside jax.jit"):
        jax.jit(lambda x: sinkhorn(None, None, PointCloud(x, y), **TIGHT).f)(x)


def test_only_the_outputs_used_are_differentiated(x64, monkeypatch):
    """The implicit solve of sinkhorn(...).value runs only when value is in the loss."""
    import kantorovich._autodiff as ad

    calls = []
    real = ad.sinkhorn_value_grads
    monkeypatch.setattr(ad, "sinkhorn_value_grads", lambda *a, **k: calls.append(1) or real(*a, **k))
    y = jnp.asarray(Y)
    jax.grad(lambda x: sinkhorn(None, None, PointCloud(x, y), **TIGHT).objective)(jnp.asarray(X))
    assert calls == []
    jax.jit(jax.grad(lambda x: sinkhorn(None, None, PointCloud(x, y), **TIGHT).value))(jnp.asarray(X))
    assert calls == [1]


@pytest.mark.parametrize("jit", [False, True])
def test_unconverged_solve_warns_at_the_gradient(jit, x64):
    y = jnp.asarray(Y)
    fn = jax.grad(lambda x: sinkhorn(None, None, PointCloud(x, y), eps=0.01, max_iter=3).objective)
    fn = jax.jit(fn) if jit else fn
    with pytest.warns(ConvergenceWarning) as rec:
        fn(jnp.asarray(X))
    msgs = [str(w.message) for w in rec]
    assert any("the gradient of sinkhorn comes from the potentials" in m and "`max_iter`" in m
               for m in msgs), msgs


@pytest.mark.parametrize("how", ["grad value", "jit(grad) value", "jvp value",
                                 "grad value + objective", "jit(grad) value + objective"])
def test_an_unconverged_solve_warns_once_at_the_gradient(how, x64):
    """One solve, one warning about its potentials, whichever of its outputs are
    differentiated (outside jit the envelope gradient of `objective` is computed with the
    solve, and the implicit gradient of `value` warned a second time)."""
    import warnings

    y = jnp.asarray(Y)
    r = lambda x: sinkhorn(None, None, PointCloud(x, y), eps=0.01, max_iter=3)  # noqa: E731
    value, both = (lambda x: r(x).value), (lambda x: (lambda s: s.value + s.objective)(r(x)))
    fn = {"grad value": jax.grad(value), "jit(grad) value": jax.jit(jax.grad(value)),
          "jvp value": lambda x: jax.jvp(value, (x,), (jnp.ones_like(x),)),
          "grad value + objective": jax.grad(both),
          "jit(grad) value + objective": jax.jit(jax.grad(both))}[how]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        jax.block_until_ready(fn(jnp.asarray(X)))
    at_gradient = [str(w.message) for w in rec if "the gradient of sinkhorn" in str(w.message)]
    assert len(at_gradient) == 1, at_gradient


def test_an_unconverged_torch_solve_warns_once_for_value_and_objective():
    import warnings

    x = torch.tensor(X, requires_grad=True)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = sinkhorn(None, None, PointCloud(x, torch.tensor(Y)), eps=0.01, max_iter=3)
        (r.value + r.objective).backward()
    at_gradient = [str(w.message) for w in rec if "the gradient of sinkhorn" in str(w.message)]
    assert len(at_gradient) == 1, at_gradient



def _half_converged_batch():
    """Three problems whose third iteration leaves problem 1 unconverged: 0 and 2 are close
    points (costs far below eps)."""
    rng = np.random.default_rng(0)
    Xb, Yb = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 5, 2))
    Xb[[0, 2]] *= 0.01
    Yb[[0, 2]] *= 0.01
    return Xb, Yb


@pytest.mark.parametrize("how", ["vmap(grad)", "jit(vmap(grad))", "grad of a batch"])
def test_unconverged_problems_of_a_batch_warn_once_at_the_gradient_naming_them(how, x64):
    """jax.vmap runs the problems' gradients in one host call: one warning for the batch that
    names the problems whose solve did not converge, as torch's batch gives."""
    import warnings

    Xb, Yb = (jnp.asarray(z) for z in _half_converged_batch())
    obj = lambda x, y: sinkhorn(None, None, PointCloud(x, y), eps=0.05, max_iter=3).objective
    fn = {"vmap(grad)": jax.vmap(jax.grad(obj)), "jit(vmap(grad))": jax.jit(jax.vmap(jax.grad(obj))),
          "grad of a batch": jax.grad(lambda x, y: obj(x, y).sum())}[how]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        jax.block_until_ready(fn(Xb, Yb))
    at_gradient = [str(w.message) for w in rec if "the gradient of sinkhorn" in str(w.message)]
    assert at_gradient == [at_gradient[0]] and at_gradient[0].startswith(
        "in 1 of 3 problems of the batch (problem 1): the gradient of sinkhorn comes from the "
        "potentials"), at_gradient
    assert all(w.category is ConvergenceWarning for w in rec)

@pytest.mark.parametrize("how", ["vmap(grad)", "jit(vmap(grad))", "grad of a batch"])
def test_implicit_solves_of_a_batch_warn_once_at_the_gradient_naming_them(how, x64, monkeypatch):
    """The gradient of sinkhorn(...).value runs an implicit solve per problem: one warning
    for the batch that names the problems whose solve stopped, as torch's batch gives."""
    import warnings

    import kantorovich._autodiff as ad

    monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", 5)  # enough for problems 0 and 2 only
    rng = np.random.default_rng(0)
    Xb, Yb = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 5, 2))
    Xb[[0, 2]] *= 0.01  # close points, costs far below eps
    Yb[[0, 2]] *= 0.01
    val = lambda x, y: sinkhorn(None, None, PointCloud(x, y), eps=0.5, tol=1e-12).value
    fn = {"vmap(grad)": jax.vmap(jax.grad(val)), "jit(vmap(grad))": jax.jit(jax.vmap(jax.grad(val))),
          "grad of a batch": jax.grad(lambda x, y: val(x, y).sum())}[how]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        jax.block_until_ready(fn(jnp.asarray(Xb), jnp.asarray(Yb)))
    msgs = [str(w.message) for w in rec]
    assert [w.category for w in rec] == [ConvergenceWarning], msgs
    assert msgs[0].startswith("in 1 of 3 problems of the batch (problem 1): the implicit solve "
                              "for the gradient of the entropic transport cost"), msgs


def test_float32_points_give_float32_gradients():
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", False)
    try:
        y = jnp.asarray(Y, dtype=jnp.float32)
        S = lambda x: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value
        g = jax.grad(S)(jnp.asarray(X, dtype=jnp.float32))
        assert g.dtype == jnp.float32 and S(jnp.asarray(X, dtype=jnp.float32)).dtype == jnp.float32
        ref = _torch_grads(lambda c, x: sinkhorn_divergence(None, None, PointCloud(x, c(Y)), **TIGHT).value,
                           (X,))[0]
        np.testing.assert_allclose(np.asarray(g), ref, rtol=1e-4, atol=1e-6)
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("name", ["wasserstein_1d", "sliced_wasserstein", "wasserstein",
                                  "emd_points", "sinkhorn_divergence_weights"])
def test_bfloat16_under_grad_jit_and_vmap(name):
    """bfloat16 JAX arrays take the transformations as they take a plain call: copied to float32
    on the host (a traced or callback bfloat16 array reached the solvers' checks as numpy's
    non-float ml_dtypes type, and a concrete one under jit was cast by a traced astype), float32
    values, bfloat16 gradients: those of the float32 call on the bfloat16-rounded data."""
    bf = lambda v: jnp.asarray(v, dtype=jnp.bfloat16)
    a = np.array([1.0, 3, 1, 3, 1, 3, 2, 2]) / 16  # exact in bfloat16 (N = 8)
    fns = {
        "wasserstein_1d": (lambda c, u: wasserstein_1d(u, c(V), p=2), U),
        "sliced_wasserstein": (lambda c, x: sliced_wasserstein(x, c(Y), n_projections=4, rng=0), X),
        "wasserstein": (lambda c, x: wasserstein(x, c(Y), p=2), X),
        "emd_points": (lambda c, x: emd(None, None, PointCloud(x, c(Y))).value, X),
        "sinkhorn_divergence_weights": (lambda c, w: sinkhorn_divergence(
            w, None, PointCloud(c(X), c(Y)), eps=0.5).value, a),
    }
    f, v = fns[name]
    v = bf(v)
    f16 = lambda z: f(bf, z)
    f32 = lambda z: f(lambda t: jnp.asarray(t, dtype=jnp.bfloat16).astype(jnp.float32), z)
    ref = f32(v.astype(jnp.float32))
    g_ref = jax.grad(f32)(v.astype(jnp.float32))
    for out in (f16(v), jax.jit(f16)(v), jax.vmap(f16)(v[None])[0]):
        assert out.dtype == jnp.float32
        np.testing.assert_allclose(float(out), float(ref), rtol=1e-6)
    for g in (jax.grad(f16)(v), jax.jit(jax.grad(f16))(v), jax.vmap(jax.grad(f16))(v[None])[0]):
        assert g.dtype == jnp.bfloat16 and g.shape == v.shape
        np.testing.assert_allclose(np.asarray(g, dtype=np.float32),
                                   np.asarray(g_ref.astype(jnp.bfloat16), dtype=np.float32), rtol=1e-2, atol=1e-3)


def test_refusals(x64):
    x, y = jnp.asarray(X), jnp.asarray(Y)
    # a tracer where the function is not differentiable: a TypeError naming the argument
    with pytest.raises(TypeError, match=r"`eps` is a JAX tracer.*differentiable in `a`, `b`"):
        jax.grad(lambda e: sinkhorn(None, None, PointCloud(x, y), eps=e).objective)(0.5)
    with pytest.raises(TypeError, match="max_sliced_wasserstein has no gradient: it was called with a JAX tracer"):
        jax.grad(lambda x: max_sliced_wasserstein(x, y, n_projections=3, rng=0))(x)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        jax.hessian(lambda u: wasserstein_1d(u, jnp.asarray(V), p=2))(jnp.asarray(U))
    S = lambda z: sinkhorn_divergence(None, None, PointCloud(z, y), **TIGHT).value
    # every second-order composition, reverse or forward over either: the error names what works
    for second in (jax.hessian(S), jax.jacfwd(jax.jacfwd(S)), jax.jacrev(jax.jacrev(S)),
                   jax.jacrev(jax.jacfwd(S)), jax.jit(jax.hessian(S)),
                   lambda z: jax.jvp(jax.grad(S), (z,), (jnp.ones_like(z),))):
        with pytest.raises(NotImplementedError, match=r"second derivatives.*jax\.jvp, jax\.jacfwd"):
            second(x)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        jax.grad(lambda x: jax.grad(
            lambda z: sinkhorn_divergence(None, None, PointCloud(z, y), **TIGHT).value)(x).sum())(x)
    with pytest.raises(NotImplementedError, match="one pair of 1-D distributions"):
        jax.grad(lambda u: wasserstein_1d(u, jnp.ones(3)).sum())(jnp.zeros((2, 3)))
    with pytest.raises(NotImplementedError, match="one pair of 1-D distributions.*jax.vmap of the single"):
        jax.jit(jax.grad(lambda u: wasserstein_1d(u, jnp.ones(3)).sum()))(jnp.zeros((2, 3)))
    # bad input under jax.grad (outside jit): the solver's own ValueError, at once
    with pytest.raises(ValueError, match="`x`"):
        jax.grad(lambda z: sinkhorn(None, None, PointCloud(z, y), **TIGHT).objective)(x.at[0, 0].set(jnp.nan))



def test_batched_wasserstein_1d_values_under_jit_and_vmap_equal_the_plain_call():
    """A batch of 1-D pairs has no gradient, but its values need none: under jax.jit and
    jax.vmap they are the plain call's (weights batched or shared, p != 1)."""
    rng = np.random.default_rng(4)
    Ub, Vb, Wb = (jnp.asarray(rng.normal(size=(4, 7))), jnp.asarray(rng.normal(size=(4, 9))),
                  jnp.asarray(rng.random((4, 7))))
    cases = [(lambda u, v, w: wasserstein_1d(u, v), (Ub, Vb, Wb)),
             (lambda u, v, w: wasserstein_1d(u, v, p=2.5, u_weights=w), (Ub, Vb, Wb)),
             (lambda u, v, w: wasserstein_1d(u, v, u_weights=w), (Ub[:1], Vb[0], Wb)),  # (B, n) weights of (1, n) values
             (lambda u, v, w: wasserstein_1d(u, v, v_weights=w[0, :4]), (Ub, Vb[0, :4], Wb))]
    for f, xs in cases:
        plain = f(*xs)
        assert plain.shape == (4,)
        np.testing.assert_array_equal(jax.jit(f)(*xs), plain)
        # vmap over batches: each mapped batch is the plain call on it
        stacked = jax.vmap(f)(*(jnp.stack([x, x[::-1]]) for x in xs))
        np.testing.assert_array_equal(stacked[0], plain)
        np.testing.assert_array_equal(stacked[1], f(*(x[::-1] for x in xs)))
    # the gradient of a batch is the error, under jit too; jax.vmap of the single call has one
    loss = lambda u: wasserstein_1d(u, Vb).sum()
    with pytest.raises(NotImplementedError, match="one pair of 1-D distributions"):
        jax.jit(jax.grad(loss))(Ub)
    g = jax.grad(lambda u: jax.vmap(wasserstein_1d)(u, Vb).sum())(Ub)
    np.testing.assert_allclose(g[2], jax.grad(lambda u: wasserstein_1d(u, Vb[2]))(Ub[2]), rtol=1e-12)

# ------------------------------------------------------------------------------ batches
def _batch_cases(c, Xb, Yb, Ab, Mb):
    """Batched calls of every function with batch gradients, on the library of ``c``; each
    returns the (B,) values of the differentiated arrays."""
    return {
        "divergence_points": (lambda x, y: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value,
                              (Xb, Yb)),
        "objective_points_weights": (lambda x, a: sinkhorn(a, None, PointCloud(x, c(Yb)), **TIGHT).objective,
                                     (Xb, Ab)),
        "value_implicit_dense": (lambda m: sinkhorn(None, None, m, eps=0.2, tol=1e-12).value, (Mb,)),
        "emd_cost": (lambda m, a: emd(a, None, m).value, (Mb, Ab)),
        "emd_points": (lambda x: emd(None, None, PointCloud(x, c(Yb))).value, (Xb,)),
        "sliced": (lambda x, y: sliced_wasserstein(x, y, n_projections=5, p=2, rng=4), (Xb, Yb)),
    }


def _batch_data(nb=3):
    rng = np.random.default_rng(5)
    Xb = rng.normal(size=(nb, N, 2))
    Yb = rng.normal(size=(nb, N + 1, 2)) + 0.5
    Ab = rng.uniform(0.5, 1.5, (nb, N))
    Ab /= Ab.sum(axis=1, keepdims=True)
    Mb = rng.uniform(0.0, 1.0, (nb, N, N + 1))
    return Xb, Yb, Ab, Mb


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", ["divergence_points", "objective_points_weights",
                                  "value_implicit_dense", "emd_cost", "emd_points", "sliced"])
def test_batch_of_jax_arrays_has_the_torch_batch_gradient(name, jit, x64):
    """A batch given as JAX arrays (a leading axis) under jax.grad, with and without jit:
    the (B,) values and the gradient of a weighted sum are torch's batch, to the bit."""
    data = _batch_data()
    fn, arrs = _batch_cases(jnp.asarray, *data)[name]
    w = np.array([1.0, -2.0, 0.5])
    loss = lambda *z: jnp.sum(jnp.asarray(w) * fn(*z))
    grad = jax.grad(loss, argnums=tuple(range(len(arrs))))
    grad = jax.jit(grad) if jit else grad
    gj = grad(*(jnp.asarray(a) for a in arrs))
    tfn, _ = _batch_cases(lambda a: torch.tensor(np.asarray(a)), *data)[name]
    ts = [torch.tensor(a, requires_grad=True) for a in arrs]
    vt = tfn(*ts)
    (torch.tensor(w) * vt).sum().backward()
    vj = (jax.jit(fn) if jit else fn)(*(jnp.asarray(a) for a in arrs))
    np.testing.assert_array_equal(np.asarray(vj), vt.detach().numpy())
    for a, b in zip(gj, ts):
        np.testing.assert_array_equal(np.asarray(a), b.grad.numpy())


def test_vmap_runs_one_batched_solve(x64, monkeypatch):
    """jax.vmap (nested too, and with an argument not mapped) solves the batch in one call
    of the batched solver, and its gradient reads every problem's saved nodes (no solve again,
    more problems than the store keeps forward passes); a function without a batch form
    (wasserstein_1d) runs its problems one after the other."""
    import kantorovich._autodiff as ad

    runs = []
    real = ad._run_plain

    def counted(fn, rule, sig, args, kwargs):  # the shape of each solve's points x
        geom = sig.bind(*args, **kwargs).arguments.get("M_or_geometry")
        runs.append(np.shape(geom.x) if geom is not None else None)
        return real(fn, rule, sig, args, kwargs)

    monkeypatch.setattr(ad, "_run_plain", counted)
    nb = ad._SAVED.size + 4
    Xb, Yb, _, _ = _batch_data(nb)
    a = jnp.asarray(A)
    S = lambda x, y, a: sinkhorn_divergence(a, None, PointCloud(x, y), **TIGHT).value
    v = jax.vmap(S, in_axes=(0, 0, None))(jnp.asarray(Xb), jnp.asarray(Yb), a)
    assert runs == [(nb, N, 2)]
    runs.clear()
    g = jax.vmap(jax.grad(S, argnums=(0, 2)), in_axes=(0, 0, None))(jnp.asarray(Xb), jnp.asarray(Yb), a)
    assert runs == [(nb, N, 2)]  # one forward solve; the gradients from its saved nodes
    tx = torch.tensor(Xb, requires_grad=True)
    ta = torch.tensor(A, requires_grad=True)
    vt = sinkhorn_divergence(ta, None, PointCloud(tx, torch.tensor(Yb)), **TIGHT).value
    vt.sum().backward()
    np.testing.assert_array_equal(np.asarray(v), vt.detach().numpy())
    np.testing.assert_array_equal(np.asarray(g[0]), tx.grad.numpy())
    # the shared weights: one gradient per problem (vmap maps the output), summing to torch's
    np.testing.assert_allclose(np.asarray(g[1]).sum(axis=0), ta.grad.numpy(), rtol=1e-12, atol=1e-15)
    runs.clear()
    XX = jnp.asarray(Xb[:6].reshape(2, 3, N, 2))
    YY = jnp.asarray(Yb[:6].reshape(2, 3, N + 1, 2))
    vv = jax.vmap(jax.vmap(lambda x, y: S(x, y, a)))(XX, YY)
    assert vv.shape == (2, 3) and runs == [(6, N, 2)]
    np.testing.assert_array_equal(np.asarray(vv).ravel(), np.asarray(v)[:6])
    runs.clear()
    w1 = jax.vmap(lambda u: wasserstein_1d(u, jnp.asarray(V)))(jnp.asarray(Xb[:, :, 0]))
    assert runs == [None] * nb  # no batch form: one call per problem
    np.testing.assert_array_equal(np.asarray(w1), [wasserstein_1d(u, V) for u in Xb[:, :, 0]])


def test_vmap_over_the_weights_of_one_geometry(x64):
    """Only the weights mapped: the cost (a matrix, or a PointCloud of constants) is repeated
    for every problem of the one batched solve; values and gradients are the single calls'
    to the batch's 1e-12."""
    rng = np.random.default_rng(12)
    Aw = rng.random((4, N))
    Aw /= Aw.sum(axis=1, keepdims=True)
    m, x, y = jnp.asarray(M), jnp.asarray(X), jnp.asarray(Y)
    for f in (lambda a: sinkhorn(a, None, m, **TIGHT).objective,
              lambda a: emd(a, None, m).value,
              lambda a: sinkhorn(a, None, PointCloud(x, y), **TIGHT).objective):
        aj = jnp.asarray(Aw)
        np.testing.assert_allclose(np.asarray(jax.vmap(f)(aj)), [float(f(a)) for a in aj],
                                   rtol=1e-12)
        np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(f))(aj)),
                                   np.stack([jax.grad(f)(a) for a in aj]), rtol=1e-10, atol=1e-14)


def test_vmap_over_one_dimensional_point_clouds(x64):
    """A PointCloud of 1-D samples (n,) (d = 1) under jax.vmap: each problem's points are the
    cloud's (n, 1), as in a single call (the batch read the mapped (B, n) as B points in n
    dimensions against y's (B, m, 1), a ValueError); values and gradients are the loop's."""
    rng = np.random.default_rng(13)
    us = jnp.asarray(rng.normal(size=(3, N)))
    v = jnp.asarray(V)
    fns = (lambda u: sinkhorn_divergence(None, None, PointCloud(u, v), **TIGHT).value,
           lambda u: sinkhorn(None, None, PointCloud(u, v, cost="euclidean"), **TIGHT).objective,
           lambda u: emd(None, None, PointCloud(u, v)).value,
           lambda u: emd(None, None, PointCloud(v, u)).value)  # the mapped side second
    for f in fns:
        for vm in (jax.vmap(f), jax.jit(jax.vmap(f))):
            np.testing.assert_allclose(np.asarray(vm(us)), [float(f(u)) for u in us], rtol=1e-12)
        np.testing.assert_allclose(np.asarray(jax.vmap(jax.grad(f))(us)),
                                   np.stack([jax.grad(f)(u) for u in us]), rtol=1e-10, atol=1e-14)


def test_random_directions_are_not_drawn_again_for_a_gradient(x64):
    """sliced_wasserstein with a Generator draws its directions in the forward pass; under jit
    its gradient must use those: a pullback run twice and jacrev over two outputs read the kept
    node (solving again would draw other directions); once the node is evicted the gradient is
    an error that says to pass an int seed, never another draw's gradient."""
    x, y = jnp.asarray(X), jnp.asarray(Y)

    def sw_of(seed):
        g = np.random.default_rng(seed)
        return lambda z: sliced_wasserstein(z, y, n_projections=7, rng=g, p=2)

    out, pull = jax.vjp(jax.jit(sw_of(5)), x)
    first = np.asarray(pull(1.0)[0])
    v0, g0 = jax.value_and_grad(sw_of(5))(x)  # the same draw, outside jit
    assert float(out) == float(v0)
    np.testing.assert_array_equal(first, np.asarray(g0))
    np.testing.assert_array_equal(np.asarray(pull(1.0)[0]), first)
    sw = sw_of(6)
    J = jax.jit(jax.jacrev(lambda z: (lambda v: jnp.stack([v, 2.0 * v]))(sw(z))))(x)  # one draw
    np.testing.assert_allclose(np.asarray(J[1]), 2.0 * np.asarray(J[0]), rtol=1e-12)
    from kantorovich._autodiff import _SAVED

    V = jax.jit(jax.vmap(sw_of(7)))
    Xb = jnp.stack([x, x + 0.3])
    _, pull = jax.vjp(V, Xb)
    for _ in range(_SAVED.size + 1):
        jax.vjp(V, Xb)
    with pytest.raises(Exception, match="pass an int seed as `rng`"):
        pull(jnp.ones(2))


def test_batch_of_jax_arrays_checks_its_sizes(x64):
    """Batched arguments of different B, or B = 0, are the ValueError that names them (under
    jit too), not jax.vmap's message about its own arguments."""
    a = jnp.ones((4, N)) / N
    xb, yb = jnp.asarray(np.stack([X] * 3)), jnp.asarray(np.stack([Y] * 3))
    with pytest.raises(ValueError, match=r"B = 4 in `a`, B = 3 in `x`, B = 3 in `y`"):
        jax.jit(lambda a, x: sinkhorn(a, None, PointCloud(x, yb), **TIGHT).value)(a, xb)
    with pytest.raises(ValueError, match=r"B = 0 in `x`"):
        jax.grad(lambda x: sliced_wasserstein(x, yb[:0], n_projections=3, rng=0).sum())(xb[:0])


@pytest.mark.parametrize("jit", [False, True])
def test_value_and_grad_gives_jax_arrays(x64, jit):
    """jax.value_and_grad's value is a jax.Array (block_until_ready, devices), with or without
    jit: outside jit it was a constant literal (a numpy subclass) where the solve's value was
    handed to JAX with jnp.asarray."""
    y = jnp.asarray(Y)
    fns = [lambda x: sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.5).value,
           lambda x: emd(None, None, PointCloud(x, y)).value,
           lambda x: sliced_wasserstein(x, y, n_projections=4, rng=0),
           lambda x: wasserstein_1d(x[:, 0], y[:, 0])]
    for fn in fns:
        vg = jax.value_and_grad(fn)
        v, g = (jax.jit(vg) if jit else vg)(jnp.asarray(X))
        assert isinstance(v, jax.Array) and isinstance(g, jax.Array)
        assert v.block_until_ready().dtype == jnp.float64 and g.shape == X.shape


# ------------------------------------------------------------------------------ un-jitted loops
def _live_call_closures():
    """The functions made by a call of the JAX wrapper that are still alive."""
    import gc

    gc.collect()
    return sum(1 for o in gc.get_objects() if callable(o)
               and isinstance(getattr(o, "__qualname__", None), str)
               and "_jax_call.<locals>" in o.__qualname__)


def _dispatch_cache_size():
    """Entries of JAX's eager dispatch cache (one compiled executable per distinct primitive
    parameters), or None where this JAX has no such cache."""
    try:
        from jax._src import dispatch

        return dispatch.xla_primitive_callable.cache_info().currsize
    except (ImportError, AttributeError):
        return None


def test_unjitted_calls_keep_nothing_per_call(x64):
    """Outside jit, calls through the host callbacks (jax.vmap, a derivative's callback) keep
    nothing once done: no compiled executable per call in JAX's dispatch cache, no closure of
    the call alive (they held the solve's data: memory grew with every call)."""
    rng = np.random.default_rng(21)
    Xb = jnp.asarray(rng.normal(size=(4, N, 2)))
    y = jnp.asarray(Y)
    div = lambda x: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value
    val = lambda x: sinkhorn(None, None, PointCloud(x, y), eps=0.3, tol=1e-12).value
    steps = [(jax.vmap(jax.grad(div)), Xb), (jax.vmap(div), Xb), (jax.grad(val), Xb[0]),
             (jax.vmap(jax.grad(val)), Xb), (lambda x: jax.jvp(val, (x,), (jnp.ones_like(x),)), Xb[0]),
             (jax.grad(lambda x: jax.vmap(lambda z: emd(None, None, PointCloud(z, y)).value)(x).sum()), Xb)]
    for f, a in steps:  # warm: what each shape compiles once
        jax.block_until_ready(f(a))
        jax.block_until_ready(f(a + 1.0))
    before = (_live_call_closures(), _dispatch_cache_size())
    for i in range(8):
        for f, a in steps:
            jax.block_until_ready(f(a + 0.1 * i))
    assert (_live_call_closures(), _dispatch_cache_size()) == before


def _torch_rows(fn, Xn):
    """d fn(x_q) / d x_q of each problem q, by torch (one plain call per problem)."""
    out = []
    for x in Xn:
        t = torch.tensor(x, requires_grad=True)
        fn(t).backward()
        out.append(t.grad.numpy())
    return np.stack(out)


def test_calls_with_other_options_each_get_their_own_answer(x64):
    """Un-jitted calls of the same shapes with other options (eps, untraced points, untraced
    weights) in the same process, interleaved, and jitted functions called again with new
    data, and a pullback called after other calls: each value and gradient is its own
    problem's (torch's, one plain call per problem)."""
    rng = np.random.default_rng(22)
    ys = [rng.normal(size=(N + 1, 2)), rng.normal(size=(N + 1, 2)) + 1.0]
    ws = [A, rng.uniform(0.5, 1.5, N)]
    ws[1] /= ws[1].sum()
    opts = [(0.5, ys[0], ws[0]), (0.3, ys[1], ws[1])]

    def div(eps, y, a, c):
        return lambda x: sinkhorn_divergence(c(a), None, PointCloud(x, c(y)), eps=eps, tol=1e-12).value

    def val(eps, y, a, c):  # the implicit gradient: its callbacks run in the backward pass
        return lambda x: sinkhorn(c(a), None, PointCloud(x, c(y)), eps=eps, tol=1e-12).value

    def check(make, f, g, Xn, o):
        ref = make(*o, lambda v: torch.tensor(np.asarray(v)))
        np.testing.assert_allclose(np.asarray(f), [float(ref(torch.tensor(x))) for x in Xn],
                                   rtol=1e-10)
        np.testing.assert_allclose(np.asarray(g), _torch_rows(ref, Xn), rtol=1e-8, atol=1e-12)

    for make in (div, val):
        fns = [make(*o, jnp.asarray) for o in opts]
        jitted = [jax.jit(jax.vmap(jax.value_and_grad(f))) for f in fns]
        Xn = rng.normal(size=(3, N, 2))
        _, pull = jax.vjp(jax.vmap(fns[0]), jnp.asarray(Xn))
        for step in range(3):
            for k in (0, 1, 0):
                Xn2 = rng.normal(size=(3, N, 2))
                v, g = jax.vmap(jax.value_and_grad(fns[k]))(jnp.asarray(Xn2))
                check(make, v, g, Xn2, opts[k])
                vj, gj = jitted[k](jnp.asarray(Xn2))
                check(make, vj, gj, Xn2, opts[k])
        ref = make(*opts[0], lambda v: torch.tensor(np.asarray(v)))
        np.testing.assert_allclose(np.asarray(pull(jnp.ones(3))[0]), _torch_rows(ref, Xn),
                                   rtol=1e-8, atol=1e-12)


def test_without_the_host_primitive_jax_pure_callback_gives_the_same(x64, monkeypatch):
    """A JAX whose extension API cannot build the host primitive: one RuntimeWarning, then the
    same values and gradients through a bare jax.pure_callback (jit, vmap, grad)."""
    import kantorovich._autodiff as AD

    def broken():
        raise AttributeError("module 'jax.extend.core' has no attribute 'Primitive'")

    y = jnp.asarray(Y)
    div = lambda x: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT).value
    val = lambda x: sinkhorn(None, None, PointCloud(x, y), eps=0.3, tol=1e-12).value
    Xb = jnp.asarray(np.random.default_rng(23).normal(size=(3, N, 2)))
    def steps():  # new functions each time: jit traces anew
        return [jax.vmap(jax.value_and_grad(div)), jax.jit(jax.vmap(jax.value_and_grad(div))),
                jax.vmap(jax.value_and_grad(val)), jax.jit(jax.value_and_grad(val))]

    want = [f(Xb if i < 3 else Xb[0]) for i, f in enumerate(steps())]
    monkeypatch.setattr(AD, "_HOST_P", None)
    monkeypatch.setattr(AD, "_make_host_primitive", broken)
    with pytest.warns(RuntimeWarning, match="jax.pure_callback instead") as rec:
        got = [f(Xb if i < 3 else Xb[0]) for i, f in enumerate(steps())]  # warned once only
    assert sum(issubclass(w.category, RuntimeWarning) for w in rec) == 1
    assert AD._host_primitive() is None
    for (v, g), (v2, g2) in zip(want, got):
        np.testing.assert_allclose(np.asarray(v2), np.asarray(v), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(g2), np.asarray(g), rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("read", ["from_points in emd", "cost_range", "diameter",
                                  "dense cost_range"])
@pytest.mark.parametrize("how", ["jit", "grad"])
def test_the_numbers_of_a_geometry_built_from_a_tracer_are_the_error_saying_so(read, how, x64):
    """A geometry built from a tracer holds zeros in its place: reading its numbers gave the
    zeros' costs, silently (emd of DenseGeometry.from_points(x, y) under jit: 0.97 for 0.56, and
    a zero gradient under jax.grad). Now the TypeError naming the tracer; the geometry passed
    to the solvers is unchanged (they rebuild it from the tracer's values). (A PointCloud's
    cost_matrix() and cost_block() are computed from the tracer itself, a DenseGeometry's
    cost_matrix() is the tracer: test_point_cloud_cost_matrix_under_jax,
    test_dense_cost_matrix_under_jax; astype() and to_device() keep the tracer:
    test_geometry_transforms_under_jax.)"""
    y = jnp.asarray(Y)
    f = {"from_points in emd": lambda x: emd(None, None, DenseGeometry.from_points(x, y)).value,
         "cost_range": lambda x: jnp.asarray(PointCloud(x, y).cost_range()[1]),
         "diameter": lambda x: jnp.asarray(PointCloud(x, y).diameter()),
         "dense cost_range": lambda x: jnp.asarray(DenseGeometry(
             jnp.sum((x[:, None] - y[None]) ** 2, -1)).cost_range()[1])}[read]
    fn = jax.jit(f) if how == "jit" else jax.grad(f)
    with pytest.raises(TypeError, match=r"built from a JAX tracer \(`[xM]`.*not available"):
        fn(jnp.asarray(X))
    g = jax.grad(lambda x: emd(None, None, PointCloud(x, y)).value)(jnp.asarray(X))
    assert np.abs(np.asarray(g)).max() > 0.01  # the geometry itself still differentiates


def _transforms():
    """Geometries built from another, each beside the geometry the caller would build from its
    own arrays: (data, transform, the constructor's equivalent)."""
    from kantorovich.ot._geometry import as_geometry

    xb, yb = np.stack([X, X + 1.0]), np.stack([Y, Y - 0.5])
    return {
        "PointCloud.astype(float32)": ((X, Y), lambda g: g.astype(np.float32),
                                       lambda x, y: PointCloud(x, y, dtype=np.float32)),
        "PointCloud.astype(float64)": ((X, Y), lambda g: g.astype(np.float64), PointCloud),
        "PointCloud.to_device(cpu)": ((X, Y), lambda g: g.to_device("cpu"), PointCloud),
        "as_geometry(PointCloud, dtype=float32)": (
            (X, Y), lambda g: as_geometry(g, dtype=np.float32),
            lambda x, y: PointCloud(x, y, dtype=np.float32)),
        "PointCloud.problem(1)": ((xb, yb), lambda g: g.problem(1),
                                  lambda x, y: PointCloud(x[1], y[1])),
        "PointCloud.with_points(x, x)": ((X, Y), lambda g: g.with_points(g.x, g.x),
                                         lambda x, y: PointCloud(x, x)),
        "PointCloud.with_points(y, x)": ((X, Y), lambda g: g.with_points(g.y, g.x),
                                         lambda x, y: PointCloud(y, x)),
        "DenseGeometry.astype(float32)": ((M,), lambda g: g.astype(np.float32),
                                          lambda m: DenseGeometry(m, dtype=np.float32)),
        "DenseGeometry.to_device(cpu)": ((M,), lambda g: g.to_device("cpu"), DenseGeometry),
    }


@pytest.mark.parametrize("how", ["grad", "jit", "jit(grad)"])
@pytest.mark.parametrize("name", sorted(_transforms()))
def test_geometry_transforms_under_jax(name, how, x64):
    """A geometry built from another of JAX tracers: astype() and to_device() were the
    TypeError of the test above, and problem(q) and with_points(pc.x, pc.x) held the
    tracer's zeros without it, silently: sinkhorn's value of PointCloud(x, y).problem(1) of
    this data was 0 under jax.jit (the truth 7.66), 2.78 under jax.grad (the cost of the
    zeros to y[1]) with a zero gradient. They keep the tracer now: the values and gradients of
    the geometry the caller would build from its own arrays (PointCloud(x, y, dtype=float32)
    for astype(float32), PointCloud(x[1], y[1]) for problem(1), ...)."""
    data, transform, build = _transforms()[name]
    ctor = DenseGeometry if len(data) == 1 else PointCloud

    def loss(make):
        def f(*a):
            geom = make(*a)
            r = sinkhorn(None, None, geom, eps=0.5)
            return r.value + r.objective + emd(None, None, geom).value
        return f

    args = tuple(jnp.asarray(a) for a in data)
    argnums = tuple(range(len(data)))
    got_f, want_f = loss(lambda *a: transform(ctor(*a))), loss(build)
    want = np.asarray(want_f(*args)), [np.asarray(g) for g in jax.grad(want_f, argnums)(*args)]
    assert float(want[0]) > 0.1 and max(np.abs(g).max() for g in want[1]) > 1e-3
    if how == "jit":
        np.testing.assert_allclose(np.asarray(jax.jit(got_f)(*args)), want[0], rtol=1e-12)
        return
    vg = jax.value_and_grad(got_f, argnums)
    v, g = (jax.jit(vg) if how == "jit(grad)" else vg)(*args)
    np.testing.assert_allclose(np.asarray(v), want[0], rtol=1e-12)
    for gk, wk in zip(g, want[1]):
        np.testing.assert_allclose(np.asarray(gk), wk, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("read", ["cost_matrix", "cost_block"])
@pytest.mark.parametrize("how", ["grad", "jit(grad)", "jit", "vmap(grad)"])
def test_point_cloud_cost_matrix_under_jax(read, how, x64):
    """PointCloud(x, y).cost_matrix() and cost_block() of a tracer were the TypeError above
    (no numbers while JAX traces); they are computed with jax.numpy from the tracer itself, so
    a loss built on them differentiates in the points (under jit too), with the numbers of
    the host computation (0 gradient at coincident points for p <= 1)."""
    from kantorovich.ot._costs import cost_grad

    Yc = Y.copy()
    Yc[3] = X[5]  # a coincident pair
    W = RNG.uniform(-1.0, 1.0, (N, N + 1))
    rows = slice(0, N) if read == "cost_matrix" else slice(2, 6)

    def costs(x, y, cost):
        pc = PointCloud(x, y, cost=cost)
        return pc.cost_matrix() if read == "cost_matrix" else pc.cost_block(2, 6)

    for cost in ("sqeuclidean", "euclidean", 1.5):
        want = PointCloud(X, Yc, cost=cost).cost_matrix()[rows]
        G = W[rows, :, None] * cost_grad(X[rows, None, :], Yc[None, :, :], cost)
        gx = np.zeros_like(X)
        gx[rows] = G.sum(1)
        gy = -G.sum(0)
        loss = lambda x, y, c=cost: jnp.sum(costs(x, y, c) * W[rows])  # noqa: E731
        xj, yj = jnp.asarray(X), jnp.asarray(Yc)
        if how == "jit":
            np.testing.assert_allclose(np.asarray(jax.jit(lambda x, y, c=cost: costs(x, y, c))(xj, yj)),
                                       want, rtol=1e-14, atol=0)
            continue
        if how == "vmap(grad)":  # two copies of the points: each row the same gradient
            g = jax.vmap(jax.grad(loss), in_axes=(0, None))(jnp.stack([xj, xj]), yj)
            for k in range(2):
                np.testing.assert_allclose(np.asarray(g[k]), gx, rtol=1e-12, atol=1e-12)
            continue
        grad = jax.grad(loss, argnums=(0, 1))
        g = (jax.jit(grad) if how == "jit(grad)" else grad)(xj, yj)
        np.testing.assert_allclose(np.asarray(g[0]), gx, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(np.asarray(g[1]), gy, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [None, np.float32])
@pytest.mark.parametrize("how", ["grad", "jit(grad)", "jit", "vmap(grad)"])
def test_dense_cost_matrix_under_jax(how, dtype, x64):
    """DenseGeometry(M).cost_matrix() of a tracer was the TypeError above (the geometry holds
    zeros in its place); it is the tracer itself (with dtype=float32 rounded to the stored
    float32 numbers, the derivative in M still the identity), so a loss built on it
    differentiates in M, under jit too: d/dM sum(W * C) = W."""
    W = RNG.uniform(-1.0, 1.0, M.shape)
    stored = M if dtype is None else M.astype(np.float32).astype(np.float64)

    def loss(m):
        return jnp.sum(DenseGeometry(m, dtype=dtype).cost_matrix() * W)

    Mj = jnp.asarray(M)
    if how == "jit":
        C = jax.jit(lambda m: DenseGeometry(m, dtype=dtype).cost_matrix())(Mj)
        assert C.dtype == jnp.float64
        np.testing.assert_array_equal(np.asarray(C), stored)
        return
    if how == "vmap(grad)":
        g = jax.vmap(jax.grad(loss))(jnp.stack([Mj, Mj + 1.0]))
        for k in range(2):
            np.testing.assert_array_equal(np.asarray(g[k]), W)
        return
    g = (jax.jit(jax.grad(loss)) if how == "jit(grad)" else jax.grad(loss))(Mj)
    np.testing.assert_array_equal(np.asarray(g), W)


def test_dense_cost_matrix_of_a_jax_array_is_a_jax_array(x64):
    """A concrete JAX M (no transformation): its cost_matrix() was the float64 numpy copy; now
    a JAX array of M's dtype, as the solvers' results, with the same numbers."""
    for dt in (jnp.float64, jnp.float32):
        geom = DenseGeometry(jnp.asarray(M, dtype=dt))
        C = geom.cost_matrix()
        assert isinstance(C, jax.Array) and C.dtype == dt
        assert C.dtype == sinkhorn(None, None, geom, eps=0.5).f.dtype
        np.testing.assert_array_equal(np.asarray(C), geom.C.astype(np.asarray(C).dtype))


@pytest.mark.parametrize("how", ["jit", "grad"])
def test_a_dense_geometry_of_a_traced_dense_geometry_is_the_tracer(how, x64):
    """DenseGeometry(DenseGeometry(M)) of a tracer copied the inner geometry's numbers, the
    zeros held in the tracer's place, and did not know them for a tracer's: emd's value under
    jax.jit was 0 (the truth 0.11 here) and its gradient 0, silently. It takes the inner
    cost_matrix(), the tracer, and so rebuilds from its values as DenseGeometry(M) does."""
    ref = emd(None, None, M)

    def f(m):
        return emd(None, None, DenseGeometry(DenseGeometry(m))).value

    if how == "jit":
        assert float(jax.jit(f)(jnp.asarray(M))) == pytest.approx(ref.value, rel=1e-12)
    else:
        np.testing.assert_allclose(np.asarray(jax.grad(f)(jnp.asarray(M))), ref.plan,
                                   rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("how", ["eager", "jit", "vmap", "value_and_grad"])
def test_a_float32_jax_value_beyond_float32s_range_warns_once_naming_it(how):
    """Points at 1e20 have costs ~1e40: the float64 value is finite and the float32 output inf.
    A JAX caller got numpy's bare "overflow encountered in cast" (three times eagerly), and
    under jit and vmap no word naming the field; now one KantorovichWarning naming it, as
    for torch and numpy float32 (docs/arrays.md)."""
    import warnings

    from kantorovich.exceptions import KantorovichWarning

    with jax.enable_x64(False):
        x = jnp.asarray(X[:4, :1] * 1e20, dtype=jnp.float32)
        y = jnp.asarray(Y[:3, :1] * 1e20, dtype=jnp.float32)
        f = lambda z: emd(None, None, PointCloud(z, y)).value  # noqa: E731
        run = {"eager": lambda: f(x), "jit": lambda: jax.jit(f)(x),
               "vmap": lambda: jax.vmap(f)(jnp.stack([x, x])),
               "value_and_grad": lambda: jax.value_and_grad(f)(x)[0]}[how]
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            out = jax.block_until_ready(run())
    assert out.dtype == jnp.float32 and bool(jnp.all(jnp.isinf(out)))
    msgs = [str(w.message) for w in rec]
    assert [w.category for w in rec] == [KantorovichWarning], msgs
    assert msgs[0].startswith("`value`") and "largest float32" in msgs[0]


RESULT_CASES = {  # the functions returning a result object, as a function of the points x
    "sinkhorn": lambda x, y: sinkhorn(None, None, PointCloud(x, y), **TIGHT),
    "sinkhorn dense": lambda x, y: sinkhorn(None, None, jnp.sum((x[:, None] - y[None]) ** 2, -1), **TIGHT),
    "sinkhorn_divergence": lambda x, y: sinkhorn_divergence(None, None, PointCloud(x, y), **TIGHT),
    "emd": lambda x, y: emd(None, None, PointCloud(x, y)),
    "wasserstein_1d_plan": lambda x, y: wasserstein_1d_plan(x[:, 0], y[:, 0], p=2),
}


@pytest.mark.parametrize("name", sorted(RESULT_CASES))
def test_jit_and_vmap_return_the_result(name, x64):
    """A function returning the whole result under jax.jit or jax.vmap was JAX's "not a valid
    JAX type" error: the result inside the transformation (its traced values) is now a pytree,
    so it comes back with the eager values, and its other fields are the AttributeError
    saying they are computed outside the transformation only."""
    y = jnp.asarray(Y)
    fn = functools.partial(RESULT_CASES[name], y=y)
    x = jnp.asarray(X)
    xs = jnp.stack([x, x + 0.5, 2 * x])
    eager = fn(x)
    fields = ("value", "objective") if name.startswith("sinkhorn ") or name == "sinkhorn" else ("value",)
    jitted, mapped = jax.jit(fn)(x), jax.vmap(fn)(xs)
    for f in fields:  # (a cost built by jnp under jit may differ from the eager one in the last bit)
        assert float(getattr(jitted, f)) == pytest.approx(float(getattr(eager, f)), rel=1e-13)
        np.testing.assert_allclose(np.asarray(getattr(mapped, f)),
                                   [float(getattr(fn(z), f)) for z in xs], rtol=1e-12)
    assert [np.shape(v) for v in jax.tree_util.tree_leaves(mapped)] == [(3,)] * len(fields)
    with pytest.raises(AttributeError, match="`f` of .* not available inside jax.jit or jax.vmap"):
        jitted.f  # noqa: B018
    # a gradient through the value, and the result of a traced function, are unchanged
    g = jax.jit(jax.grad(lambda x: fn(x).value))(x)
    np.testing.assert_allclose(np.asarray(g), np.asarray(jax.grad(lambda x: fn(x).value)(x)),
                               rtol=1e-10, atol=1e-13)


def test_an_eager_result_is_a_pytree(x64):
    """Results are pytrees: arrays, numbers and nested results are leaves (jax.tree_util maps
    them, jax.jit takes and returns them), strings and ``info`` static data compared by
    contents, so a compiled trace never hands back another result's metadata."""
    import dataclasses

    r = sinkhorn(None, None, PointCloud(X, Y), **TIGHT)  # numpy in: numpy out, as ever
    assert isinstance(r.value, float) and isinstance(r.f, np.ndarray)
    paths = [jax.tree_util.keystr(k) for k, _ in jax.tree_util.tree_flatten_with_path(r)[0]]
    assert paths[:8] == [".value", ".objective", ".f", ".g", ".marginal_error", ".n_iter",
                         ".converged", ".eps"]
    assert all(p.startswith(".marginal_error_history[") for p in paths[8:])
    leaves = jax.tree_util.tree_leaves(r)
    assert leaves[0] == r.value and leaves[2] is r.f
    assert not any(isinstance(v, (str, dict)) for v in leaves)  # backend, info: static

    double = jax.tree_util.tree_map(lambda v: 2 * v, r)
    assert type(double) is type(r) and double.value == 2 * r.value and double.info is r.info

    identity = jax.jit(lambda r: r)
    back = identity(r)
    assert type(back) is type(r) and float(back.value) == r.value and back.info == r.info
    np.testing.assert_array_equal(np.asarray(back.f), r.f)
    other = dataclasses.replace(r, backend="other", info={"tag": 2})
    assert identity(other).info == {"tag": 2} and identity(other).backend == "other"
    same = dataclasses.replace(r, f=r.f + 1.0)  # the same metadata: one trace serves both
    assert jax.tree_util.tree_structure(same) == jax.tree_util.tree_structure(r)

    d = sinkhorn_divergence(None, None, PointCloud(X, Y), **TIGHT)  # results within a result
    assert type(jax.tree_util.tree_map(lambda v: v, d).ot_ab) is type(r)
    e = emd(None, None, PointCloud(X, Y))
    assert float(jax.jit(lambda e: e.value + 0 * jnp.sum(e.plan))(e)) == e.value

    def f(x):  # the whole result as jax.grad's auxiliary output (outside jit: all its fields)
        res = sinkhorn(None, None, PointCloud(x, jnp.asarray(Y)), **TIGHT)
        return res.objective, res

    (v, aux), g = jax.value_and_grad(f, has_aux=True)(jnp.asarray(X))
    assert aux.converged and float(aux.objective) == float(v) and g.shape == X.shape
