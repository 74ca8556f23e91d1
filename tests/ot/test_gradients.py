"""Gradients of OT values (kantorovich._autodiff): torch and autograd, by the envelope theorem.

Checks, on small random problems (n = m = 8, float64, solved to tol = 1e-12):

- ``torch.autograd.gradcheck`` (central differences against the backward pass) for the Sinkhorn
  divergence and objective (points, weights, dense costs), emd (costs, weights), the 1-D and
  sliced distances and wasserstein (exact LP);
- agreement with POT's ``ot.emd2`` gradients on torch tensors;
- autograd (numpy) and torch give the same numbers;
- sinkhorn's ``value`` (<P, C>, not an optimal value) by implicit differentiation;
- the refusals (functions without a rule, batches) and the warnings for a gradient of an
  unconverged solve;
- weights exactly 0 (one-sided derivatives) and tiny, and the Wasserstein gradients at scales
  where |x - y|^p under- or overflows. (JAX: tests/ot/test_gradients_jax.py.)

Weights live on the simplex, where the functions of balanced OT are defined; the weight
gradients are projected on its tangent (docs/gradients.md), so gradcheck differentiates through
``w / w.sum()`` (every perturbation then keeps the mass) except where a function normalises
its weights itself (wasserstein_1d, wasserstein, emd(normalize=True)): there the gradient is the
exact derivative and raw weights are checked.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kantorovich import ConvergenceWarning
from kantorovich.ot import (
    DenseGeometry,
    PointCloud,
    emd,
    sinkhorn,
    sinkhorn_divergence,
    sliced_wasserstein,
    wasserstein,
    wasserstein_1d,
    wasserstein_1d_plan,
)

torch = pytest.importorskip("torch")
autograd = pytest.importorskip("autograd")

RNG = np.random.default_rng(7)
N = 8
X = RNG.normal(size=(N, 2))
Y = RNG.normal(size=(N, 2)) + np.array([0.7, -0.3])
WA = RNG.uniform(0.5, 1.5, N)
WB = RNG.uniform(0.5, 1.5, N)
M = RNG.uniform(0.0, 1.0, (N, N))
TIGHT = {"eps": 0.5, "tol": 1e-12}


def t(a, grad=True):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def simplex(w):
    return w / w.sum()


def gradcheck(fn, *inputs):
    # central differences with step 1e-6: truncation ~1e-12, and the solves' own error
    # (tol = 1e-12 in the marginals) enters divided by the step, ~1e-6; hence atol 1e-5
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)


# ----------------------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("cost", ["sqeuclidean", 1.5])
def test_gradcheck_sinkhorn_divergence_points_and_weights(cost):
    def S(x, y, wa, wb):
        return sinkhorn_divergence(simplex(wa), simplex(wb), PointCloud(x, y, cost=cost), **TIGHT).value

    gradcheck(S, t(X), t(Y), t(WA), t(WB))


def test_gradcheck_sinkhorn_divergence_dense():
    Maa, Mbb = M @ M.T / N, M.T @ M / N

    def S(Mab, A, B, wa, wb):
        return sinkhorn_divergence(simplex(wa), simplex(wb), Mab, M_aa=A, M_bb=B, **TIGHT).value

    gradcheck(S, t(M), t(Maa), t(Mbb), t(WA), t(WB))


def test_gradcheck_sinkhorn_objective_pointcloud_and_dense():
    def obj_pc(x, y, wa, wb):
        return sinkhorn(simplex(wa), simplex(wb), PointCloud(x, y), **TIGHT).objective

    def obj_dense(Mt, wa, wb):
        return sinkhorn(simplex(wa), simplex(wb), DenseGeometry(Mt), **TIGHT).objective

    gradcheck(obj_pc, t(X), t(Y), t(WA), t(WB))
    gradcheck(obj_dense, t(M), t(WA), t(WB))


def test_gradcheck_emd_cost_and_weights():
    # random costs and weights: a unique, non-degenerate optimal basis, so the LP value is
    # differentiable and the potentials are unique up to a constant
    gradcheck(lambda Mt, wa, wb: emd(simplex(wa), simplex(wb), Mt).value, t(M), t(WA), t(WB))
    # normalize=True: raw weights, exact derivative of the normalisation
    gradcheck(lambda wa, wb: emd(wa, wb, t(M, False), normalize=True).value, t(WA), t(WB * 3.0))


@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_gradcheck_wasserstein_1d_values_and_weights(p):
    u, v = RNG.normal(size=N), RNG.normal(size=N + 3) + 0.4
    wu, wv = RNG.uniform(0.5, 1.5, N), RNG.uniform(0.5, 1.5, N + 3)
    gradcheck(lambda *z: wasserstein_1d(*z, p=p), t(u), t(v), t(wu), t(wv))
    gradcheck(lambda *z: wasserstein_1d_plan(*z, p=p).value, t(u), t(v), t(wu), t(wv))
    gradcheck(lambda a, b: wasserstein_1d(a, b, p=p), t(u), t(v))  # uniform weights
    gradcheck(lambda a, b: wasserstein_1d(a, b, p=p), t(u), t(v[:N]))  # ... and equal sizes


@pytest.mark.parametrize("p", [1, 2])
def test_gradcheck_sliced_and_exact_wasserstein(p):
    gradcheck(lambda x, y, wa: sliced_wasserstein(x, y, n_projections=5, p=p, rng=3, a=wa),
              t(X), t(Y), t(WA))
    gradcheck(lambda x, y: sliced_wasserstein(x, y, n_projections=5, p=p, rng=3), t(X), t(Y))
    gradcheck(lambda x, y, wb: wasserstein(x, y, b=wb, p=p, method="exact"), t(X), t(Y), t(WB))
    gradcheck(lambda x, y: wasserstein(x[:, :1], y[:, :1], p=p), t(X), t(Y))  # the 1-D path


# ----------------------------------------------------------------------------- scale
#: data scales where |x - y|^p under- or overflows float64 (p = 2 below ~1e-162, p = 3 below
#: ~1e-108, p = 20 at 1e-17 and 1e16; 1e160 squared overflows) while W_p does not
SCALES = (1e-170, 1e-17, 1e16, 1e160)
U1, V1 = RNG.normal(size=N), RNG.normal(size=N + 3) + 0.4
WU1, WV1 = RNG.uniform(0.5, 1.5, N), RNG.uniform(0.5, 1.5, N + 3)
# each: (function of the points and weights, given the constructor of the caller's constants,
# the points, the weights); W_p(s x, s y) = s W_p(x, y) for the functions that normalise the
# weights themselves, so the gradient in the points is the same at every s and the one in the
# weights s times the unit-scale one
SCALE_CASES = {
    "wasserstein_1d": (lambda c, u, v, wu, wv: wasserstein_1d(u, v, wu, wv, p=P_), (U1, V1), (WU1, WV1)),
    "wasserstein_1d_uniform": (lambda c, u, v: wasserstein_1d(u, v, p=P_), (U1, V1[:N]), ()),
    "wasserstein_1d_plan": (lambda c, u, v, wu, wv: wasserstein_1d_plan(u, v, wu, wv, p=P_).value,
                            (U1, V1), (WU1, WV1)),
    "sliced_wasserstein": (lambda c, x, y, a, b: sliced_wasserstein(x, y, a=a, b=b, n_projections=5,
                                                                    p=P_, rng=3), (X, Y), (WA, WB)),
    "wasserstein_exact": (lambda c, x, y, a, b: wasserstein(x, y, a, b, p=P_, method="exact"),
                          (X, Y), (WA, WB)),
    "wasserstein_auto": (lambda c, x, y: wasserstein(x, y, p=P_), (X, Y[:N - 1]), ()),
    "wasserstein_1d_method": (lambda c, x, y, a: wasserstein(x, y, a, p=P_, method="1d"),
                              (X[:, :1], Y[:, :1]), (WA,)),
}
P_ = None  # the exponent of the case being run (set by scale_grads)


def scale_grads(name, p, s, lib="torch", pts=None):
    """The gradients of case ``name`` at its points scaled by s (or at ``pts``, the points
    already scaled by s), the weight gradients divided by s."""
    global P_
    P_ = p
    fn, pts0, ws = SCALE_CASES[name]
    arrs = ([z * s for z in pts0] if pts is None else list(pts)) + list(ws)
    if lib == "torch":
        ts = [t(z) for z in arrs]
        gs = [g.numpy() for g in torch.autograd.grad(fn(lambda z: t(z, False), *ts), ts)]
    else:
        k = tuple(range(len(arrs)))
        gs = list(autograd.grad(lambda *z: fn(np.asarray, *z), k)(*arrs))
    return gs[:len(pts0)] + [g / s for g in gs[len(pts0):]]


def assert_close(got, ref, what):
    for i, (g, r) in enumerate(zip(got, ref)):
        err, tol = np.abs(g - r).max(), 1e-12 * np.abs(r).max()
        assert err <= tol, (what, i, err, tol)


@pytest.mark.parametrize("name", sorted(SCALE_CASES))
@pytest.mark.parametrize("p", [1.0, 2.0, 3.0, 20.0])
# the plan's potentials at 1e160 (and 1e16 for p = 20) overflow float64, as that warning says
# (docs/emd_1d.md); its value and gradient are what this test checks
@pytest.mark.filterwarnings("ignore:wasserstein_1d_plan. the potentials f, g are of order")
def test_wasserstein_gradients_are_scale_free(name, p):
    """At every scale the gradient is the unit-scale one, relative 1e-12 of its largest entry, in
    torch and autograd: it was 0 where |x - y|^p underflows and an OverflowError (or a ValueError
    naming `M`) where it overflows. The exact LP at p = 20: its potentials themselves move with
    the scale of the costs (emd's own resolution: by 7e-8 of the largest entry at scale 0.28 and
    6e-5 at 0.2, where nothing is rescaled), so its weight gradient at scale s is checked against
    the problem the function solves, the data rescaled by its power of two 2**-k (its point
    gradient against the unit scale's, as everywhere)."""
    from kantorovich._validation import pow2_exponent

    npts = len(SCALE_CASES[name][1])
    for lib in ("torch", "autograd"):
        ref = scale_grads(name, p, 1.0, lib)
        for s in SCALES:
            got = scale_grads(name, p, s, lib)
            if name == "wasserstein_exact" and p == 20.0:
                xs, ys = X * s, Y * s
                k = pow2_exponent(xs, ys, p=p)
                solved = scale_grads(name, p, s * 2.0 ** -k, lib, (np.ldexp(xs, -k), np.ldexp(ys, -k)))
                assert_close(got[npts:], solved[npts:], (lib, s, "weights"))
                got, ref_s = got[:npts], ref[:npts]
            else:
                ref_s = ref
            assert_close(got, ref_s, (lib, s))


LARGE_P_CASES = {
    "wasserstein_1d": lambda u, v, a, b, p: wasserstein_1d(u, v, a, b, p=p),
    "wasserstein_1d_plan": lambda u, v, a, b, p: wasserstein_1d_plan(u, v, a, b, p=p).value,
    "wasserstein_1d_method": lambda u, v, a, b, p: wasserstein(u, v, a, b, p=p, method="1d"),
    "sliced_wasserstein": lambda u, v, a, b, p: sliced_wasserstein(u[:, None], v[:, None], a=a, b=b,
                                                                   n_projections=3, p=p, rng=0),
}


@pytest.mark.parametrize("name", sorted(LARGE_P_CASES))
@pytest.mark.parametrize("p", [2000.0, 1e4])
@pytest.mark.filterwarnings("ignore:wasserstein_1d_plan. the potentials f, g are of order")
def test_one_d_gradients_at_large_p(name, p):
    """u = (0, 2) with weights (alpha, beta) against v = (0): all of u's mass goes to 0, so
    W_p = 2 q^(1/p) with q = beta / (alpha + beta) (in 1-D, SW_p = W_p whatever the
    directions). Its gradient: dW/du = (0, q^(1/p)), dW/dv = -q^(1/p), dW/dalpha =
    -(W / p) / (alpha + beta), dW/dbeta = (W / p) alpha / (beta (alpha + beta)). It was 0 in
    the points and the weights once |t / 2**k|^p underflowed (the largest moved difference at
    a power-of-two scale: 0.5^2000 is 0), though the value was right."""
    alpha, beta = 1.0, 3.0
    q = beta / (alpha + beta)
    w = 2.0 * q ** (1.0 / p)
    ref = [np.array([0.0, q ** (1.0 / p)]), np.array([-q ** (1.0 / p)]),
           np.array([-(w / p) / (alpha + beta), (w / p) * alpha / (beta * (alpha + beta))])]
    u, v, a = t([0.0, 2.0]), t([0.0]), t([alpha, beta])
    val = LARGE_P_CASES[name](u, v, a, None, p)
    val.backward()
    assert abs(float(val.detach()) - w) <= 4e-16 * w
    for got, r in zip((u.grad.numpy(), v.grad.numpy(), a.grad.numpy()), ref):
        # a few roundings of numbers of order one, and of the exponents 1/p - 1
        assert np.abs(got - r).max() <= 1e-14 * np.abs(r).max(), (got, r)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.5])
def test_one_d_gradients_with_infinite_values(p):
    """wasserstein_1d takes +-inf values, two equal infinities at distance 0 (its Notes).
    Matched infinities: u = (0, 1, inf), v = (0.5, 2, inf) is the finite problem with mass 1/3
    each, so dW/du = (-(1/3) W^(1-p) 0.5^(p-1), -(1/3) W^(1-p), 0). The backward pass took
    inf - inf as NaN: the gradient of every finite value was 0 for p > 1 and NaN at the
    infinities. A point at inf of zero weight: the weight gradients of the others are those
    without it, its own +inf (moving mass there costs without bound); they were all NaN."""
    w = ((0.5 ** p + 1.0) / 3.0) ** (1.0 / p)
    ref_u = np.array([-(1 / 3) * w ** (1 - p) * 0.5 ** (p - 1), -(1 / 3) * w ** (1 - p), 0.0])
    u, v = t([0.0, 1.0, np.inf]), t([0.5, 2.0, np.inf])
    val = wasserstein_1d(u, v, p=p)
    val.backward()
    assert abs(float(val.detach()) - w) <= 1e-15 * w
    assert np.abs(u.grad.numpy() - ref_u).max() <= 1e-14
    assert np.abs(v.grad.numpy() + ref_u).max() <= 1e-14

    x, y, wy = [0.0, 1.0, 2.0], [0.5, 3.0], [1.0, 1.7]
    a = t([1.0, 2.0, 1.0, 0.0])
    wasserstein_1d(t(x + [np.inf], False), t(y, False), a, t(wy, False), p=p).backward()
    a3 = t([1.0, 2.0, 1.0])
    wasserstein_1d(t(x, False), t(y, False), a3, t(wy, False), p=p).backward()
    assert np.abs(a.grad.numpy()[:3] - a3.grad.numpy()).max() <= 1e-15
    assert a.grad.numpy()[3] == np.inf


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
@pytest.mark.parametrize("far", [1e300, -1e300, 1e10])
def test_one_d_weight_gradients_beside_a_far_zero_weight_point(far, p):
    """A point of zero weight changes neither W_p nor the derivatives in the other weights
    (its own is the one-sided one, about far^(p - 1): +inf where that overflows). With it at
    1e300 the weight gradients of the others were all 0 for p >= 2: the potentials were
    formed at the scale of its difference, where theirs, (1e-300)^p, round to 0."""
    x, y, wx, wy = [0.0, 1.0, 2.0], [0.5, 3.0], [1.0, 2.0, 1.0], [1.0, 1.7]
    a, b = t(wx + [0.0]), t(wy)
    wasserstein_1d(t(x + [far], False), t(y, False), a, b, p=p).backward()
    a3, b3 = t(wx), t(wy)
    wasserstein_1d(t(x, False), t(y, False), a3, b3, p=p).backward()
    assert np.abs(a.grad.numpy()[:3] - a3.grad.numpy()).max() <= 1e-15
    assert np.abs(b.grad.numpy() - b3.grad.numpy()).max() <= 1e-15
    assert a.grad.numpy()[3] > 1e9


@pytest.mark.parametrize("p", [2000.0, 1e4])
def test_auction_gradient_at_large_p(p):
    """wasserstein(method="auction") at large p: the gradient is that of method="exact" (both
    optimal plans are the identity here). It was 0: p |x - y|^(p-2) (x - y) of the unit-scale
    points underflowed (p = 2000), or the permutation came from costs that were all 0 (p = 1e4,
    where the value is the exact LP's)."""
    x, y = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[2.0, 0.0], [3.0, 0.5]])
    grads = {}
    for method in ("auction", "exact"):
        xt = t(x)
        wasserstein(xt, t(y, False), p=p, method=method).backward()
        grads[method] = xt.grad.numpy()
    assert np.abs(grads["exact"]).max() > 0.9
    assert np.abs(grads["auction"] - grads["exact"]).max() <= 1e-15


POINT_CLOUD_VALUES = {
    "emd": lambda pc, eps: emd(None, None, pc).value,
    "sinkhorn_objective": lambda pc, eps: sinkhorn(None, None, pc, eps=eps, tol=1e-12).objective,
    "sinkhorn_value": lambda pc, eps: sinkhorn(None, None, pc, eps=eps, tol=1e-12).value,
    "sinkhorn_divergence": lambda pc, eps: sinkhorn_divergence(None, None, pc, eps=eps,
                                                               tol=1e-12).value,
}


@pytest.mark.parametrize("name", sorted(POINT_CLOUD_VALUES))
@pytest.mark.parametrize(("cost", "s"), [("euclidean", 1e-170), ("euclidean", 1e160),
                                         (1.5, 1e-170), (1.5, 1e200), (3.0, 1e100)])
def test_point_cloud_gradients_are_scale_free(name, cost, s):
    """The point gradients of emd and the Sinkhorn values on a PointCloud at scale s are
    s^(p-1) times the unit-scale ones (eps scaled by s^p), relative 1e-12 of the largest entry.
    They were 0 for p < 2 where |x - y|^2 under- or overflows (the gradient of |x - y| is a unit
    vector at every scale), and the Sinkhorn passes left out the rows whose potentials were
    below -1e299, taken for zero weights (p = 3 at 1e100: 0.40 off)."""
    p = {"euclidean": 1.0}.get(cost, cost)
    fn = POINT_CLOUD_VALUES[name]

    def grad(scale):
        x = t(X[:6] * scale)
        fn(PointCloud(x, t(Y[:5] * scale, False), cost=cost), 0.5 * scale ** p).backward()
        return x.grad.numpy()

    ref, got = grad(1.0), grad(s) / s ** (p - 1)
    assert np.abs(got - ref).max() <= 1e-12 * np.abs(ref).max()


@pytest.mark.parametrize("name", sorted(POINT_CLOUD_VALUES) + ["wasserstein"])
@pytest.mark.parametrize("cost", ["euclidean", 1.2])
@pytest.mark.parametrize("need", ["x", "xy"])
def test_point_cloud_gradient_of_a_pair_closer_than_1e_154(name, cost, need):
    """Pairs at distance delta below 2^-511 (|x - y|^2 loses digits below ~1e-154 and is 0
    below ~1e-162) in a cloud at unit scale, where nothing is rescaled: their terms of the
    gradient are those at delta = 1e-100 (the other terms move by O(delta)), relative 1e-12 of
    the largest entry, for p = 1 (a unit vector times the plan's entry: it was 0, about 0.15 of
    the largest entry off) and p = 1.2; x holds a near pair of its own (the self terms of the
    divergence) and one near a point of y. The gradient in y too (the fused pass), and a
    coordinate that is subnormal (1e-310)."""
    p = {"euclidean": 1.0}.get(cost, cost)

    def grad(delta):
        x, y = X[:6].copy(), Y[:5].copy()
        x[0], x[1], y[0] = (delta, -0.5 * delta), (0.0, 0.0), (-0.25 * delta, 0.0)
        xt, yt = t(x), t(y, need == "xy")
        if name == "wasserstein":
            wasserstein(xt, yt, p=p, method="exact").backward()
        else:
            POINT_CLOUD_VALUES[name](PointCloud(xt, yt, cost=cost), 0.5).backward()
        return np.concatenate([xt.grad.numpy()] + ([yt.grad.numpy()] if need == "xy" else []))

    ref = grad(1e-100)
    for delta in (1e-160, 1e-170, 1e-310):
        got = grad(delta)
        assert np.abs(got - ref).max() <= 1e-12 * np.abs(ref).max(), delta


def test_exact_gradient_from_the_rescaled_rounds():
    """Where the costs at one scale lose the optimum (unit distances next to a pair at 1e200,
    p = 3: they underflow to 0 there), wasserstein solves the LP in rounds at the scale of W_p;
    the gradient comes from that plan: the same point gradients as with the far pair at 5
    (the plan is the same), where it was a ValueError naming `M`. And the rounds' formulas
    against the direct path's on ordinary data."""
    from kantorovich._autodiff import _w_exact, _w_exact_rescaled

    def grads(far):
        x = t(np.array([[0.0, 0.0], [1.0, 0.3], [far, 0.0]]))
        y = t(np.array([[0.5, 0.1], [1.5, -0.2], [far, 0.0]]))
        a, b = t(np.array([0.3, 0.3, 0.4]), False), t(np.array([0.25, 0.35, 0.4]), False)
        return [g.numpy() for g in torch.autograd.grad(wasserstein(x, y, a, b, p=3, method="exact"), (x, y))]

    assert_close(grads(1e200), grads(5.0), "far pair")
    need = {"x", "y", "a", "b"}
    for p in (1.0, 1.5, 2.0, 3.0):
        direct = _w_exact(X, Y, WA, WB, p, None, need)
        rounds = _w_exact_rescaled(X, Y, WA, WB, simplex(WA), simplex(WB), p, need)
        assert_close([rounds[k] for k in "xyab"], [direct[k] for k in "xyab"], p)


# ----------------------------------------------------------------------------- references
def test_emd_gradients_match_pot_emd2():
    pot = pytest.importorskip("ot")
    a, b = simplex(WA), simplex(WB)
    ours = [t(M), t(a), t(b)]
    theirs = [t(M), t(a), t(b)]
    emd(ours[1], ours[2], ours[0]).value.backward()
    pot.emd2(theirs[1], theirs[2], theirs[0]).backward()
    for o, p in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_pointcloud_gradient_is_the_plan_formula():
    """d OT_eps / dx_i = 2 (a_i x_i - sum_j P_ij y_j) for the squared cost, with the dense plan."""
    r = sinkhorn(None, None, PointCloud(X, Y), plan=True, **TIGHT)
    P = np.asarray(r.plan)
    x = t(X)
    sinkhorn(None, None, PointCloud(x, t(Y, False)), **TIGHT).objective.backward()
    expect = 2 * (P.sum(1)[:, None] * X - P @ Y)
    np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-9, atol=1e-12)


def test_autograd_and_torch_agree():
    grad = autograd.grad
    # each case is fn(arg, c): c makes the constants of the caller's library
    cases = {
        "sinkhorn_divergence": (X, lambda x, c: sinkhorn_divergence(None, None, PointCloud(x, c(Y)), **TIGHT).value),
        "sinkhorn_objective": (X, lambda x, c: sinkhorn(None, None, PointCloud(x, c(Y), cost=1.5), **TIGHT).objective),
        "sinkhorn_value": (X, lambda x, c: sinkhorn(None, None, PointCloud(x, c(Y)), **TIGHT).value),
        "sinkhorn_weights": (WA, lambda w, c: sinkhorn_divergence(w / w.sum(), None, PointCloud(c(X), c(Y)), **TIGHT).value),
        "emd": (M, lambda Mx, c: emd(None, None, Mx).value),
        "wasserstein": (X, lambda x, c: wasserstein(x, c(Y), p=2)),
        "wasserstein_1d": (X[:, 0], lambda u, c: wasserstein_1d(u, c(Y[:, 0]), p=2)),
        "sliced_wasserstein": (X, lambda x, c: sliced_wasserstein(x, c(Y), n_projections=4, rng=1)),
    }
    for name, (arg, fn) in cases.items():
        g_ag = grad(lambda z, fn=fn: fn(z, np.asarray))(arg)
        tt = t(arg)
        fn(tt, lambda a: t(a, False)).backward()
        np.testing.assert_allclose(g_ag, tt.grad.numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_torch_float32_points_give_float32_values_and_grads():
    x = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    s = sinkhorn_divergence(None, None, PointCloud(x, torch.tensor(Y, dtype=torch.float32)), **TIGHT)
    assert s.value.dtype == torch.float32 and s.value.requires_grad
    s.value.backward()
    assert x.grad.dtype == torch.float32 and torch.isfinite(x.grad).all()


@pytest.mark.parametrize("name", ["emd x", "emd a", "sinkhorn objective", "divergence", "sliced",
                                  "wasserstein", "wasserstein_1d"])
def test_autograd_float32_inputs_give_float32_grads(name):
    """autograd, as torch and JAX: a gradient comes back in its input's dtype (float32 here;
    the value stays a Python float for numpy inputs, docs/arrays.md), and it is the float64
    call's gradient rounded."""
    x32, y32, a32 = X.astype(np.float32), Y.astype(np.float32), simplex(WA).astype(np.float32)
    fns = {
        "emd x": (lambda z: emd(None, None, PointCloud(z, y32)).value, x32),
        "emd a": (lambda z: emd(z, None, PointCloud(x32, y32)).value, a32),
        "sinkhorn objective": (lambda z: sinkhorn(None, None, PointCloud(z, y32), **TIGHT).objective, x32),
        "divergence": (lambda z: sinkhorn_divergence(None, None, PointCloud(z, y32), **TIGHT).value, x32),
        "sliced": (lambda z: sliced_wasserstein(z, y32, n_projections=16, rng=0), x32),
        "wasserstein": (lambda z: wasserstein(z, y32, p=2), x32),
        "wasserstein_1d": (lambda z: wasserstein_1d(z, y32[:, 0], p=2), x32[:, 0]),
    }
    fn, arg = fns[name]
    val, g = autograd.value_and_grad(fn)(arg)
    assert g.dtype == np.float32 and g.shape == arg.shape and isinstance(val, float)
    g64 = autograd.grad(fn)(arg.astype(np.float64))
    assert g64.dtype == np.float64
    np.testing.assert_allclose(g, g64.astype(np.float32), rtol=1e-6, atol=1e-7)


def test_weight_gradient_is_centred():
    a = t(simplex(WA))
    emd(a, None, t(M, False)).value.backward()
    assert abs(float(a.grad.sum())) < 1e-12


# ----------------------------------------------------------------------------- refusals
def test_gradcheck_sinkhorn_value_implicit():
    """<P, C> of the entropic plan: not an optimal value, differentiated implicitly (adjoint of
    the fixed point, a conjugate-gradient solve); point clouds (p = 2, 1) and dense costs."""
    kw = {"eps": 0.1, "tol": 1e-12}
    gradcheck(lambda x, y, wa, wb: sinkhorn(simplex(wa), simplex(wb), PointCloud(x, y), **kw).value,
              t(X), t(Y), t(WA), t(WB))
    gradcheck(lambda x: sinkhorn(None, None, PointCloud(x, t(Y, False), cost=1.0), **kw).value, t(X))
    gradcheck(lambda Mt, wa, wb: sinkhorn(simplex(wa), simplex(wb), Mt, **kw).value, t(M), t(WA), t(WB))


@pytest.mark.parametrize("s", [2.0 ** -500, 1e-150, 1e100])
def test_sinkhorn_value_gradient_at_extreme_cost_scales(s):
    """The implicit gradient of <P, C> scales with the problem (costs s^2 C, eps s^2 eps: the
    same plan, gradient s times the unit one in x, the plan in M): its conjugate gradients ran
    on right-hand sides of the order of the costs, whose squares overflowed to a NaN gradient
    from costs of about 1e154 (here 1e200), and lost digits below 1e-290 (with a warning)."""
    x0, y0 = X[:6], Y[:5]
    C0 = ((x0[:, None] - y0[None]) ** 2).sum(-1)

    def grads(scale):
        xt = t(x0 * scale)
        Ct = t(C0 * scale ** 2)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow, no unconverged implicit solve
            sinkhorn(None, None, PointCloud(xt, t(y0 * scale, False)), eps=0.5 * scale ** 2).value.backward()
            sinkhorn(None, None, Ct, eps=0.5 * scale ** 2).value.backward()
        return xt.grad.numpy() / scale, Ct.grad.numpy()

    (gx1, gC1), (gx, gC) = grads(1.0), grads(s)
    np.testing.assert_allclose(gx, gx1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(gC, gC1, rtol=1e-9, atol=1e-12)


def test_sinkhorn_value_gradient_of_costs_near_1e300():
    """Costs of 1e300 (eps 5e299): the shifted potentials f + eps log a were clamped at -1e300
    (the stand-in of a zero weight) for positive weights too, which changed the plan's rows
    of the implicit solve (a gradient 10 % off, with a warning); only zero weights get it now."""
    C0 = ((X[:6, None] - Y[None, :5]) ** 2).sum(-1)
    ref, big = t(C0), t(C0 * 1e300)
    sinkhorn(None, None, ref, eps=0.5).value.backward()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sinkhorn(None, None, big, eps=0.5e300).value.backward()
    np.testing.assert_allclose(big.grad.numpy(), ref.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_sinkhorn_value_online_and_dense_agree():
    """The online implicit gradient (point cloud) against the dense one on the same costs."""
    from kantorovich._autodiff import sinkhorn_value_grads
    from kantorovich.ot._wasserstein import _cost_matrix

    a, b = simplex(WA), simplex(WB)
    for p in (2.0, 1.5):
        r = sinkhorn(a, b, PointCloud(X, Y, cost=p), eps=0.2, tol=1e-12)
        Mt = t(_cost_matrix(X, Y, p))
        sinkhorn(t(a, False), t(b, False), Mt, eps=0.2, tol=1e-12).value.backward()
        online, _, ok = sinkhorn_value_grads(PointCloud(X, Y, cost=p), a, b, r.f, r.g, r.eps, {"x", "a"})
        assert ok
        dense, _, _ = sinkhorn_value_grads(DenseGeometry(Mt.detach().numpy()), a, b, r.f, r.g, r.eps, {"M", "a"})
        np.testing.assert_allclose(online["a"], dense["a"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(Mt.grad.numpy(), dense["M"], rtol=1e-8, atol=1e-12)
        # chain rule through C_ij = |x_i - y_j|^p by hand, from the dense gradient in M
        from kantorovich._autodiff import _dense_cost_grads

        ex, _ = _dense_cost_grads(X, Y, dense["M"], p, need_y=False)
        np.testing.assert_allclose(online["x"], ex, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_sinkhorn_value_implicit_small_and_large_paths_agree(monkeypatch, p):
    """Problems of at most 2^16 pairs solve the implicit system and its sweeps in one compiled
    call on their plan held as a matrix (``implicit_dense``); larger ones by conjugate gradients
    over numba passes (point clouds) or numpy products (dense). Both give the same gradients
    in the points, the costs and the weights (a zero weight and a tiny one included: the
    sweeps' one-sided limit), each converged; and gradcheck holds for both."""
    import kantorovich._autodiff as ad
    from kantorovich.ot._wasserstein import _cost_matrix

    rng = np.random.default_rng(11)
    x, y = rng.normal(size=(40, 2)), rng.normal(size=(30, 2))
    a = rng.uniform(0.5, 1.5, 40)
    a[3], a[7] = 0.0, 1e-30
    a, b = simplex(a), simplex(rng.uniform(0.5, 1.5, 30))
    M0 = _cost_matrix(x, y, p)

    def grads():
        xt, at, bt, Mt = t(x), t(a), t(b), t(M0)
        sinkhorn(at, bt, PointCloud(xt, t(y, False), cost=p), eps=0.3, tol=1e-12).value.backward()
        sinkhorn(t(a, False), t(b, False), Mt, eps=0.3, tol=1e-12).value.backward()
        return xt.grad.numpy(), at.grad.numpy(), bt.grad.numpy(), Mt.grad.numpy()

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an unconverged implicit solve warns
        small = grads()
        monkeypatch.setattr(ad, "IMPLICIT_DENSE_MAX_ENTRIES", 0)
        large = grads()
    for s_, l_ in zip(small, large):
        np.testing.assert_allclose(s_, l_, rtol=1e-8, atol=1e-11)
    kw = {"eps": 0.5, "tol": 1e-12}
    for limit in (0, 1 << 16):
        monkeypatch.setattr(ad, "IMPLICIT_DENSE_MAX_ENTRIES", limit)
        gradcheck(lambda x_, wa: sinkhorn(simplex(wa), None, PointCloud(x_, t(Y, False), cost=p),
                                          **kw).value, t(X), t(WA))
        gradcheck(lambda Mt, wb: sinkhorn(None, simplex(wb), Mt, **kw).value, t(M), t(WB))


def _zero_weights(w, zeros):
    w = w.copy()
    w[list(zeros)] = 0.0
    return simplex(w)


WA0, WB0 = _zero_weights(WA, (1, 5)), _zero_weights(WB, (2,))  # weights with exact zeros


@pytest.mark.parametrize("geom", ["sqeuclidean", 1.5, "dense"])
def test_sinkhorn_value_gradient_at_zero_weights_is_the_one_sided_derivative(geom):
    """<P, C> at weights with exact zeros: the implicit system says nothing of a zero weight's
    multiplier (its row of P is 0), and its derivative is the one-sided one (a_i -> 0+).
    Checked against one-sided differences along d = e_i - a (which keep a >= 0 and its mass),
    Richardson-extrapolated, 2 D(h/2) - D(h) with h = 1e-4: truncation O(h^2) and the solves'
    error (tol 1e-12) over h/2, both ~1e-8 here (measured <= 1e-7); the zero weights' values
    before the fix were off by 0.1 to 1."""
    kw = {"eps": 0.1, "tol": 1e-12}
    G = (lambda c: c(M)) if geom == "dense" else (lambda c: PointCloud(c(X), c(Y), cost=geom))
    a, b = t(WA0), t(WB0)
    ga, gb = (g.numpy() for g in torch.autograd.grad(
        sinkhorn(a, b, G(lambda z: t(z, False)), **kw).value, (a, b)))
    V = lambda a, b: float(sinkhorn(a, b, G(np.asarray), **kw).value)
    v0, h = V(WA0, WB0), 1e-4
    for w, g, move in ((WA0, ga, lambda z: V(z, WB0)), (WB0, gb, lambda z: V(WA0, z))):
        for i in range(N):
            d = -w.copy()
            d[i] += 1.0
            D = lambda s: (move(w + s * d) - v0) / s
            fd = 2.0 * D(h / 2) - D(h)
            assert abs(float(g @ d) - fd) < 1e-6, (geom, i, w[i], float(g @ d), fd)


@pytest.mark.parametrize("path", ["matrix", "passes"])
@pytest.mark.parametrize("geom", ["sqeuclidean", "dense"])
def test_sinkhorn_value_gradient_at_tiny_weights_tends_to_the_zero_weight_one(geom, path,
                                                                                monkeypatch):
    """Weights of 1e-20 down to the smallest subnormal where WA0 has zeros (WB0's zero kept):
    the gradient in a (and in the points) is the one at the zeros up to O(1e-20) in exact
    arithmetic; here up to the two implicit solves' errors (1e-12 relative residuals), on the
    small problems' compiled call (the plan held as a matrix) and on the passes. The
    conjugate-gradient solve alone resolves a row only in proportion to its weight: it was off
    by ~60 at 1e-20. Subnormal weights: the preconditioner's reciprocal of the row sum
    overflowed (NaN at 1e-310 and 1e-318), and the rows' kernels P_ij / a_i were divided from
    a P_ij with too few digits (the gradient in a_i off by 0.2 at 5e-324)."""
    import kantorovich._autodiff as ad

    if path == "passes":
        monkeypatch.setattr(ad, "IMPLICIT_DENSE_MAX_ENTRIES", 0)
    kw = {"eps": 0.1, "tol": 1e-12}

    def grads(w):
        a, x = t(w), t(X)
        G = t(M, False) if geom == "dense" else PointCloud(x, t(Y, False))
        v = sinkhorn(a, t(WB0, False), G, **kw).value
        if geom == "dense":
            return [torch.autograd.grad(v, a)[0].numpy()]
        return [g.numpy() for g in torch.autograd.grad(v, (a, x))]

    ref = grads(WA0)
    for z in (1e-20, 1e-80, 1e-300, 1e-310, 1e-318, 5e-324):
        w = WA0.copy()
        w[WA0 == 0] = z
        w = simplex(w)
        assert (w[WA0 == 0] > 0).all()
        for got, want in zip(grads(w), ref):
            assert np.isfinite(got).all(), z
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10, err_msg=str(z))


def test_sinkhorn_value_zero_weights_autograd_batch_and_device_agree():
    """The zero weights' multipliers through autograd, a batch of problems (each problem's
    rule) and the GPU backward's host logic (blocks of rows, here numpy) give torch's numbers."""
    from kantorovich._autodiff import _implicit_device, sinkhorn_value_grads

    kw = {"eps": 0.1, "tol": 1e-12}
    a, b = t(WA0), t(WB0)
    sinkhorn(a, b, PointCloud(t(X, False), t(Y, False)), **kw).value.backward()
    g_ag = autograd.grad(lambda a, b: sinkhorn(a, b, PointCloud(X, Y), **kw).value, (0, 1))(WA0, WB0)
    np.testing.assert_allclose(g_ag[0], a.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g_ag[1], b.grad.numpy(), rtol=1e-12, atol=1e-14)
    # a batch: the problem above, and one with the zeros elsewhere
    A2 = t(np.stack([WA0, WA0[::-1]]))
    B2 = t(np.stack([WB0, WB0[::-1]]))
    sinkhorn(A2, B2, PointCloud(t(np.stack([X, X]), False), t(np.stack([Y, Y]), False)),
             **kw).value.sum().backward()
    np.testing.assert_allclose(A2.grad[0].numpy(), a.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(B2.grad[0].numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-14)
    a1, b1 = t(WA0[::-1].copy()), t(WB0[::-1].copy())
    sinkhorn(a1, b1, PointCloud(t(X, False), t(Y, False)), **kw).value.backward()
    np.testing.assert_allclose(A2.grad[1].numpy(), a1.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(B2.grad[1].numpy(), b1.grad.numpy(), rtol=1e-12, atol=1e-14)
    for p in (2.0, 1.5):
        geom = PointCloud(X, Y, cost=p)
        r = sinkhorn(WA0, WB0, geom, **kw)
        need = {"a", "b", "x", "y"}
        names = {k: k for k in ("a", "b", "M", "x", "y")}
        got, _, ok = _implicit_device(geom, WA0, WB0, r.f, r.g, r.eps, need, names, block=16)
        ref, _, _ = sinkhorn_value_grads(geom, WA0, WB0, r.f, r.g, r.eps, need)
        assert ok
        for k in need:  # two conjugate-gradient solves to 1e-12, summed in different orders
            np.testing.assert_allclose(got[k], ref[k], rtol=1e-8, atol=1e-10, err_msg=k)


@pytest.mark.parametrize("case", ["emd_normalize", "emd_simplex_b", "emd_pointcloud", "emd_batch",
                                  "wasserstein_exact", "wasserstein_dense", "wasserstein_rescaled"])
def test_exact_lp_weight_gradient_at_a_zero_weight_is_the_one_sided_derivative(case):
    """A weight exactly 0 leaves the LP's potential there free below its c-transform, and the
    network simplex returns some such value; the one-sided derivative a_i -> 0+ is the
    c-transform itself (mass added at x_i goes the cheapest way at the other side's prices).
    The gradient in that weight was off by up to 8x (here -0.497 against -0.049); now it is the
    one-sided difference of the value, and the limit of the gradients at small weights."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    b = rng.random(5) + 0.2
    b /= b.sum()
    w = rng.random(6) + 0.2
    tiny = 2.0 ** -600  # |x - y|^2 underflows: the function's rescaled rounds
    fns = {  # (value of the weights, in the library `c` makes constants of; the base weights)
        "emd_normalize": (lambda c, a: emd(a, c(b), c(C), normalize=True).value, w),
        "emd_simplex_b": (lambda c, v: emd(c(w / w.sum()), v / v.sum(), c(C)).value, b),
        "emd_pointcloud": (lambda c, a: emd(a / a.sum(), c(b), PointCloud(c(x), c(y))).value, w),
        "emd_batch": (lambda c, a: emd(a / a.sum(), c(b), c(np.stack([C, 2 * C]))).value.sum(), w),
        "wasserstein_exact": (lambda c, a: wasserstein(c(x), c(y), a, c(b), p=1.5), w),
        "wasserstein_dense": (lambda c, a: wasserstein(DenseGeometry(c(C)), a=a, b=c(b), p=2), w),
        "wasserstein_rescaled": (lambda c, a: wasserstein(c(x * tiny), c(y * tiny), a, c(b), p=2) / tiny, w),
    }
    fn, base = fns[case]
    plain = lambda v: float(fn(np.asarray, v))
    for z in range(len(base)):
        a0 = base.copy()
        a0[z] = 0.0
        at = t(a0)
        fn(lambda v: t(v, False), at).backward()
        e = np.zeros_like(a0)
        e[z] = 1e-8
        one_sided = (plain(a0 + e) - plain(a0)) / 1e-8
        assert at.grad[z].item() == pytest.approx(one_sided, rel=1e-6, abs=1e-7), (case, z)
        a1 = a0.copy()
        a1[z] = 1e-12  # the limit of the gradients at small positive weights
        at1 = t(a1)
        fn(lambda v: t(v, False), at1).backward()
        np.testing.assert_allclose(at.grad.numpy(), at1.grad.numpy(), rtol=1e-6, atol=1e-9)
        if case == "emd_normalize":  # autograd: the same rule
            g = autograd.grad(lambda v: emd(v, b, C, normalize=True).value)(a0)
            np.testing.assert_allclose(g, at.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_sinkhorn_divergence_gradient_at_a_zero_weight_is_the_limit():
    """S_eps at a weight a_4 -> 0+ (docs/gradients.md, the example there): the self term's
    potential at x_4 goes like -(eps/2) log a_4 while a_4 >> s_4^2, so the derivative falls by
    (eps/2) log 1000 per factor 1000 down from 1e-3, then levels off (s_4^2 ~ 1e-28 here) at
    the value given at a_4 = 0: the one-sided derivative there is finite, and is that limit."""
    torch.manual_seed(3)
    x = torch.randn(6, 2, dtype=torch.float64)
    y = torch.randn(5, 2, dtype=torch.float64)
    eps = 0.1

    def along(z):  # the derivative along e_4 - a, a = (z, .25, .25, .5, z, z) / total
        a = torch.tensor([z, 0.25, 0.25, 0.5, z, z], dtype=torch.float64)
        a = (a / a.sum()).requires_grad_()
        S = sinkhorn_divergence(a, None, PointCloud(x, y), eps=eps, tol=1e-12).value
        g, = torch.autograd.grad(S, a)
        d = -a.detach()
        d[4] += 1.0
        return float(g @ d)

    g = {z: along(z) for z in (1e-3, 1e-6, 1e-9, 1e-60, 1e-300, 0.0)}
    for lo, hi in ((1e-6, 1e-3), (1e-9, 1e-6)):  # the asymptote's slope, to O(sqrt(a) + s/sqrt(a))
        assert abs(g[hi] - g[lo] - 0.5 * eps * np.log(1e3)) < 2e-2
    assert np.isfinite(g[0.0])
    assert g[0.0] == pytest.approx(g[1e-60], rel=1e-12, abs=1e-12)
    assert g[0.0] == pytest.approx(g[1e-300], rel=1e-12, abs=1e-12)
    assert [round(g[z], 2) for z in (1e-3, 1e-6, 1e-9)] == [-1.29, -1.64, -1.99]
    assert round(g[0.0], 4) == -4.1276


def test_sinkhorn_value_gradient_warns_when_the_implicit_solve_stops(monkeypatch):
    import kantorovich._autodiff as ad

    monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", 1)
    x = t(X)
    r = sinkhorn(None, None, PointCloud(x, t(Y, False)), **TIGHT)
    with pytest.warns(ConvergenceWarning, match="conjugate-gradient"):
        r.value.backward()


@pytest.mark.parametrize("lib", ["torch", "autograd"])
def test_sinkhorn_value_gradient_warns_when_the_online_solve_stops(monkeypatch, lib):
    """Above 2^16 pairs the implicit solve is the conjugate-gradient loop over the pairs
    (_pcg, not the small problems' compiled solve the test above stops): stopped at its
    iteration cap before its tolerance, the backward pass warns as well; uncapped, it does not."""
    import kantorovich._autodiff as ad

    g = np.random.default_rng(3)
    Xl, Yl = g.normal(size=(300, 2)), g.normal(size=(260, 2))
    assert 300 * 260 > ad.IMPLICIT_DENSE_MAX_ENTRIES

    def backward():
        if lib == "torch":
            x = t(Xl)
            sinkhorn(None, None, PointCloud(x, t(Yl, False)), **TIGHT).value.backward()
            return x.grad.numpy()
        return autograd.grad(lambda x: sinkhorn(None, None, PointCloud(x, Yl), **TIGHT).value)(Xl)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        full = backward()
    steps = ad._pcg.last_iter
    assert steps > 5
    monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", 3)
    with pytest.warns(ConvergenceWarning, match="conjugate-gradient") as rec:
        capped = backward()
    assert ad._pcg.last_iter == 3 and len(rec) == 1 and rec[0].filename == __file__
    assert np.all(np.isfinite(capped)) and np.abs(capped - full).max() > 1e-8  # approximate


def test_sinkhorn_value_gradient_warns_when_the_sweeps_stop(monkeypatch):
    import kantorovich._autodiff as ad

    monkeypatch.setattr(ad, "IMPLICIT_MAX_SWEEPS", 1)
    monkeypatch.setattr(ad, "IMPLICIT_SWEEP_TOL", 0.0)  # no sweep changes nothing at all
    x = t(X)
    r = sinkhorn(None, None, PointCloud(x, t(Y, False)), **TIGHT)
    with pytest.warns(ConvergenceWarning, match="Gauss-Seidel"):
        r.value.backward()


def test_unconverged_gradient_warns_with_the_knob():
    x = t(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the solver's own warning
        r = sinkhorn(None, None, PointCloud(x, t(Y, False)), eps=0.01, max_iter=3, scaling=None)
    assert not r.converged
    with pytest.warns(ConvergenceWarning, match=r"max_iter"):
        r.objective.backward()



def test_unconverged_problems_of_a_batch_warn_once_at_the_gradient_naming_them():
    rng = np.random.default_rng(0)
    Xb, Yb = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 5, 2))
    Xb[[0, 2]] *= 0.01  # close points, costs far below eps: problems 0 and 2 converge
    Yb[[0, 2]] *= 0.01
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the solver's own warning
        r = sinkhorn(None, None, PointCloud(t(Xb), t(Yb, False)), eps=0.05, max_iter=3)
    assert r.converged.tolist() == [True, False, True]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r.objective.sum().backward()
    assert [w.category for w in rec] == [ConvergenceWarning]
    assert str(rec[0].message).startswith(
        "in 1 of 3 problems of the batch (problem 1): the gradient of sinkhorn comes from the "
        "potentials"), str(rec[0].message)

def _implicit_batch():
    """Three problems whose implicit solves stop after 5 conjugate-gradient steps in problem 1
    only: 0 and 2 are close points (costs far below eps)."""
    rng = np.random.default_rng(0)
    Xb, Yb = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 5, 2))
    Xb[[0, 2]] *= 0.01
    Yb[[0, 2]] *= 0.01
    return Xb, Yb


def test_implicit_solves_of_a_batch_warn_once_at_the_gradient_naming_them(monkeypatch):
    """The gradient of a batch's sinkhorn(...).value runs one implicit solve per problem: one
    warning for the batch that names the problems whose solve stopped, not one per problem;
    the gradients are the single problems'."""
    import kantorovich._autodiff as ad

    monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", 5)
    Xb, Yb = _implicit_batch()
    x = t(Xb)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        sinkhorn(None, None, PointCloud(x, t(Yb, False)), eps=0.5, tol=1e-12).value.sum().backward()
    assert [w.category for w in rec] == [ConvergenceWarning], [str(w.message) for w in rec]
    assert str(rec[0].message).startswith(
        "in 1 of 3 problems of the batch (problem 1): the implicit solve for the gradient of "
        "the entropic transport cost"), str(rec[0].message)
    singles = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for q in range(3):
            xq = t(Xb[q])
            sinkhorn(None, None, PointCloud(xq, t(Yb[q], False)), eps=0.5, tol=1e-12).value.backward()
            singles.append(xq.grad.numpy())
    np.testing.assert_allclose(x.grad.numpy(), np.stack(singles), rtol=0, atol=1e-12)


def test_uncertified_emd_gradient_warns():
    from kantorovich.ot._emd import EMDCertificateError

    Mt = t(np.random.default_rng(0).uniform(size=(30, 30)))
    r = None
    for it in (60, 80, 100, 120):  # a pivot limit that stops feasible but not optimal
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # the solver's own warning
            try:
                r = emd(None, None, Mt, max_iter=it)
            except EMDCertificateError:
                continue
        if not r.certified:
            break
    if r is None or r.certified:
        pytest.skip("no pivot limit in the list stops the network simplex between feasible and optimal")
    with pytest.warns(ConvergenceWarning, match=r"max_iter"):
        r.value.backward()


def test_functions_without_a_rule():
    from kantorovich.divergences import kl_divergence

    p = t([0.2, 0.3, 0.5])
    out = kl_divergence(p, t([0.3, 0.3, 0.4], False))
    assert not out.requires_grad  # detached, as before
    with pytest.raises(TypeError, match="no gradient"):
        autograd.grad(lambda q: kl_divergence(q, np.array([0.3, 0.3, 0.4])))(np.array([0.2, 0.3, 0.5]))


def test_batched_wasserstein_1d_gradient_refuses():
    u = t(RNG.normal(size=(2, 5)))
    out = wasserstein_1d(u, t(RNG.normal(size=5), False))
    with pytest.raises(NotImplementedError, match="one pair"):
        out.sum().backward()


def test_emd_return_plan_false_still_differentiable_in_M():
    Mt = t(M)
    r = emd(None, None, Mt, return_plan=False)
    assert r.plan is None
    r.value.backward()
    np.testing.assert_allclose(Mt.grad.numpy(), emd(None, None, M).plan, atol=1e-15)


@pytest.mark.parametrize("p,d", [(2.0, 2), (2.0, 3), (1.0, 2), (1.5, 1), (0.5, 2)])
def test_online_point_gradients_match_the_dense_plan(p, d):
    """The O(n + m)-memory pass against sum_j P_ij dC_ij/dx_i with the dense plan, zero weights
    and a repeated point (C_ij = 0, where p < 2 takes the subgradient 0) included."""
    from kantorovich._autodiff import _dense_cost_grads, _dense_plan, pointcloud_grads
    from kantorovich.ot._wasserstein import _cost_matrix

    x, y = RNG.normal(size=(9, d)), RNG.normal(size=(11, d))
    y[3] = x[2]
    a, b = simplex(RNG.uniform(size=9)), simplex(RNG.uniform(size=11))
    a[4] = 0.0
    b[0] = 0.0
    a, b = simplex(a), simplex(b)
    r = sinkhorn(a, b, PointCloud(x, y, cost=p), eps=0.3, tol=1e-12)
    gx, gy = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
    P = _dense_plan(_cost_matrix(x, y, p), a, b, r.f, r.g, r.eps)
    ex, ey = _dense_cost_grads(x, y, P, p)
    np.testing.assert_allclose(gx, ex, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gy, ey, rtol=1e-12, atol=1e-15)
    assert np.all(gx[4] == 0.0) and np.all(gy[0] == 0.0)


def test_geometries_take_the_callers_arrays():
    """PointCloud / DenseGeometry built from torch, JAX or array-API arrays: the solvers give
    their results back in that library, with the numbers of the numpy call."""
    from kantorovich._interop import kind_of

    jnp = pytest.importorskip("jax.numpy")
    xps = pytest.importorskip("array_api_strict")
    ref = sinkhorn(None, None, PointCloud(X, Y), eps=0.5)
    for mk, kind in ((lambda a: t(a, False), "torch"), (lambda a: jnp.asarray(a, dtype=jnp.float32), "jax"),
                     (lambda a: xps.asarray(a, dtype=xps.float64), "array_api")):
        r = sinkhorn(None, None, PointCloud(mk(X), mk(Y)), eps=0.5)
        assert kind_of(r.f) == kind and kind_of(r.value) == kind
        tol = 1e-5 if kind == "jax" else 1e-12
        np.testing.assert_allclose(float(r.value), ref.value, rtol=tol)
        d = sinkhorn(None, None, DenseGeometry(mk(M)), eps=0.5)
        assert kind_of(d.g) == kind


@pytest.mark.parametrize("p", [1, 2])
def test_wasserstein_auction_and_sinkhorn_paths(p):
    # the auction's permutation plan: exact, so gradcheck applies
    gradcheck(lambda x, y: wasserstein(x, y, p=p, method="auction"), t(X), t(Y))
    # the Sinkhorn path is <P_eps, C>^(1/p) at the solver's default tol: the same numbers as
    # sinkhorn(...).value's implicit gradient, through the p-th root
    x, xr = t(X), t(X)
    wb, wbr = t(WB), t(WB)
    wasserstein(x, t(Y, False), b=wb, p=p, method="sinkhorn", eps=0.1).backward()
    pc = PointCloud(xr, t(Y, False), cost=p)
    (sinkhorn(None, wbr / wbr.sum(), pc, eps=0.1).value ** (1.0 / p)).backward()
    np.testing.assert_allclose(x.grad.numpy(), xr.grad.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(wb.grad.numpy(), wbr.grad.numpy(), rtol=1e-12, atol=1e-15)
    # exact power-of-two rescaling of large coordinates: W scales by s, its gradient in x not,
    # its gradient in the weights by s (eps in cost units scales by s^p)
    s = 2.0 ** 60
    xs, wbs = t(X * s), t(WB)
    wasserstein(xs, t(Y * s, False), b=wbs, p=p, method="sinkhorn", eps=0.1 * s ** p).backward()
    np.testing.assert_allclose(xs.grad.numpy(), x.grad.numpy(), rtol=1e-4, atol=1e-8)
    np.testing.assert_allclose(wbs.grad.numpy() / s, wb.grad.numpy(), rtol=1e-4, atol=1e-8)
    with pytest.raises(NotImplementedError, match="method='exact'"):
        wasserstein(t(X, False), t(Y, False), a=t(np.full(N, 1.0 / N)), method="auction").backward()


def test_a_gradient_in_an_argument_without_one_refuses():
    """A torch tensor that requires grad, or an autograd box, as `eps` or `p` is a TypeError
    naming it, as a JAX tracer there is: it was taken as a constant, so that autograd gave 0 for
    d/deps (d/deps of OT_eps at eps = 0.3 is 0.41 here) and torch left `.grad` None, and a
    total derivative through the points and eps was off (-0.914 against -0.504)."""
    pc = lambda x: PointCloud(x, Y)
    with pytest.raises(TypeError, match=r"`eps` is an autograd ArrayBox.*differentiable in `a`"):
        autograd.grad(lambda e: sinkhorn(None, None, pc(X * e), eps=e).objective)(0.3)
    with pytest.raises(TypeError, match=r"`p` is an autograd ArrayBox.*differentiable in `u_values`"):
        autograd.grad(lambda p: wasserstein_1d(X[:, 0], Y[:, 0], p=p))(2.0)
    e = t(0.3)
    with pytest.raises(TypeError, match=r"`eps` is a torch tensor that requires grad.*eps.detach"):
        sinkhorn(None, None, PointCloud(t(X) * e, t(Y, False)), eps=e)
    with pytest.raises(TypeError, match=r"`eps` is a torch tensor that requires grad"):
        sinkhorn_divergence(None, None, PointCloud(t(X, False), t(Y, False)), eps=e)
    # a detached eps, and a warm start that requires grad (the optimum does not depend on it:
    # its derivative is 0 indeed), are accepted
    x = t(X)
    r0 = sinkhorn(None, None, PointCloud(X, Y), eps=0.3)
    out = sinkhorn(None, None, PointCloud(x, t(Y, False)), eps=e.detach(), f0=t(r0.f)).objective
    out.backward()
    assert x.grad is not None


IN_PLACE_CASES = {  # (the value, the argument changed in place); x, a require grad
    "wasserstein_1d x": (lambda x, y, a, M: wasserstein_1d(x[:, 0], y[:, 0], a, None, p=2), 0),
    "wasserstein_1d a": (lambda x, y, a, M: wasserstein_1d(x[:, 0], y[:, 0], a, None, p=2), 2),
    "sinkhorn objective, constant y": (
        lambda x, y, a, M: sinkhorn(None, None, PointCloud(x, y), eps=0.5).objective, 1),
    "sinkhorn value, constant M": (lambda x, y, a, M: sinkhorn(a, None, M, eps=0.5).value, 3),
    "sinkhorn_divergence a": (
        lambda x, y, a, M: sinkhorn_divergence(a, None, PointCloud(x, y), eps=0.5).value, 2),
    "emd normalize, constant M": (lambda x, y, a, M: emd(a, None, M, normalize=True).value, 3),
    "sliced a": (lambda x, y, a, M: sliced_wasserstein(x, y, a=a, n_projections=3, rng=0), 2),
}


@pytest.mark.parametrize("name", sorted(IN_PLACE_CASES))
def test_an_input_changed_in_place_before_the_backward_pass_is_torchs_error(name):
    """The backward pass reads the inputs' data (the 1-D plan is recomputed, the plan of a
    Sinkhorn solve rebuilt from the potentials and the costs, the weights normalised): an input
    changed in place between the two passes (an optimizer step between two losses' backward
    passes) is torch's version-counter error, as for torch's own operations, the differentiable
    leaves and the constants alike. Before, the gradient was taken at the changed data without
    a word (0.16 to 0.53 off for wasserstein_1d, 0.02 to 0.13 for the Sinkhorn weights and
    costs). An unchanged input and an inference tensor as a constant still work."""
    fn, k = IN_PLACE_CASES[name]
    args = [t(X[:6]), t(Y[:5], False), t(simplex(WA[:6])), t(M[:6, :5], False)]
    fn(*args).backward()  # unchanged: fine
    v = fn(*args)
    with torch.no_grad():
        args[k].mul_(1.5)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        v.backward()
    with torch.inference_mode():
        const = torch.tensor(M[:6, :5])
    xt = t(simplex(WA[:6]))
    sinkhorn(xt, None, const, eps=0.5).value.backward()
    assert torch.isfinite(xt.grad).all()


def test_second_derivatives_refuse():
    u, v = np.array([0.0, 1.0, 3.0]), np.array([0.5, 2.0, 2.5])
    with pytest.raises(NotImplementedError, match="second derivatives"):
        autograd.hessian(lambda z: wasserstein_1d(z, v, p=2))(u)
    tu = t(u)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        torch.autograd.grad(wasserstein_1d(tu, t(v, False), p=2), tu, create_graph=True)


def test_sinkhorn_divergence_gradient_matches_geomloss():
    """GeomLoss ``SamplesLoss("sinkhorn", p=2, blur, debias=True)`` on 200 points.

    Conversion: GeomLoss's cost is |x - y|^2 / 2 and its eps is blur^p, so our S_eps with the
    cost |x - y|^2 is 2 S^{GeomLoss}_{eps / 2}, i.e. blur = sqrt(eps / 2) and gradients times 2.
    GeomLoss anneals with one iteration per eps level and no convergence test, so its answer
    carries an error of first order in the step of its schedule, 1 - scaling: a ten times finer
    schedule must bring its gradient about ten times closer to ours (the converged one)."""
    geomloss = pytest.importorskip("geomloss")
    g = np.random.default_rng(0)
    x, y = g.normal(size=(200, 2)), g.normal(size=(200, 2)) + 1.0
    eps = 0.1
    X = torch.tensor(x, requires_grad=True)
    s = sinkhorn_divergence(None, None, PointCloud(X, torch.tensor(y)), eps=eps, tol=1e-6,
                            max_iter=100_000)
    assert s.converged
    s.value.backward()
    ours = X.grad.numpy()
    rel = {}
    for scaling in (0.9, 0.99):
        Xg = torch.tensor(x, requires_grad=True)
        loss = geomloss.SamplesLoss("sinkhorn", p=2, blur=(eps / 2) ** 0.5, debias=True,
                                    scaling=scaling, backend="tensorized")
        loss(Xg, torch.tensor(y)).backward()
        rel[scaling] = np.abs(2 * Xg.grad.numpy() - ours).max() / np.abs(ours).max()
    assert rel[0.99] < 0.2 * rel[0.9]     # first order in 1 - scaling: 10x finer, ~10x closer
    assert rel[0.99] < 0.02


# ----------------------------------------------------------------------------- GPU backward
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
def test_device_pass_matches_the_numba_pass(p):
    """The host logic of the GPU backward's kernel pass (:mod:`kantorovich.ot._kernels.grad_cupy`),
    here on numpy with the kernel's numpy model, against the numba pass: zero weights and a
    repeated point included."""
    from kantorovich._autodiff import _pointcloud_grads_device, pointcloud_grads

    x, y = RNG.normal(size=(9, 3)), RNG.normal(size=(11, 3))
    y[3] = x[2]
    a, b = RNG.uniform(size=9), RNG.uniform(size=11)
    a[4] = 0.0
    b[0] = 0.0
    a, b = simplex(a), simplex(b)
    r = sinkhorn(a, b, PointCloud(x, y, cost=p), eps=0.3, tol=1e-12)
    with np.errstate(divide="ignore"):
        fa = np.maximum(r.f + r.eps * np.log(a), -1e300)
        gb = np.maximum(r.g + r.eps * np.log(b), -1e300)
    gx, gy = _pointcloud_grads_device(x, y, fa, gb, r.eps, p, True, True)
    ex, ey = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
    np.testing.assert_allclose(gx, ex, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gy, ey, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_device_implicit_solve_matches_the_numba_one(p):
    """The implicit gradient of <P, C> as a GPU backward runs it (array operations by blocks of
    rows, here on numpy in blocks of 16 pairs) against the numba passes."""
    from kantorovich._autodiff import _implicit_device, sinkhorn_value_grads

    a, b = simplex(WA), simplex(WB)
    geom = PointCloud(X, Y, cost=p)
    r = sinkhorn(a, b, geom, eps=0.2, tol=1e-12)
    need = {"a", "b", "x", "y"}
    names = {k: k for k in ("a", "b", "M", "x", "y")}
    got, rel, ok = _implicit_device(geom, a, b, r.f, r.g, r.eps, need, names, block=16)
    ref, _, _ = sinkhorn_value_grads(geom, a, b, r.f, r.g, r.eps, need)
    assert ok and rel < 1e-12
    for k in need:  # two conjugate-gradient solves to 1e-12, summed in different orders
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-8, atol=1e-10, err_msg=k)


def _cuda_or_skip():
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    return torch.device("cuda", torch.cuda.current_device())  # tensors report "cuda:0", not "cuda"


@pytest.fixture
def no_host_copy(monkeypatch):
    """Makes the backward pass fail if it copies a GPU array to the host (every host conversion
    of kantorovich._autodiff goes through _host64; numpy refuses CuPy arrays by itself)."""
    import kantorovich._autodiff as ad

    real = ad._host64

    def host64(v):
        assert type(v).__module__.split(".")[0] != "cupy", "a GPU array was copied to the host"
        return real(v)

    return lambda: monkeypatch.setattr(ad, "_host64", host64)


@pytest.mark.gpu
def test_torch_cuda_backward_sinkhorn_divergence_stays_on_the_device(no_host_copy):
    dev = _cuda_or_skip()
    cuda = lambda a, grad=True: torch.tensor(a, dtype=torch.float64, device=dev, requires_grad=grad)
    x, y, wa = cuda(X), cuda(Y), cuda(simplex(WA))
    s = sinkhorn_divergence(wa, None, PointCloud(x, y), eps=0.5, tol=1e-10)
    assert s.value.device == dev
    no_host_copy()  # from here on: the backward pass only
    s.value.backward()
    xc, yc, wc = t(X), t(Y), t(simplex(WA))
    sinkhorn_divergence(wc, None, PointCloud(xc, yc), eps=0.5, tol=1e-10).value.backward()
    for g, ref in ((x, xc), (y, yc), (wa, wc)):
        assert g.grad.device == dev and g.grad.dtype == torch.float64
        np.testing.assert_allclose(g.grad.cpu().numpy(), ref.grad.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.gpu
def test_torch_cuda_backward_emd_stays_on_the_device(no_host_copy):
    dev = _cuda_or_skip()
    cuda = lambda a: torch.tensor(a, dtype=torch.float64, device=dev, requires_grad=True)
    Mt, wa, wb = cuda(M), cuda(simplex(WA)), cuda(simplex(WB))
    r = emd(wa, wb, Mt)
    no_host_copy()
    r.value.backward()
    ref = emd(simplex(WA), simplex(WB), M)
    assert Mt.grad.device == dev and wa.grad.device == dev
    np.testing.assert_allclose(Mt.grad.cpu().numpy(), ref.plan, atol=1e-12)
    np.testing.assert_allclose(wa.grad.cpu().numpy(), ref.f - ref.f.mean(), atol=1e-12)
    np.testing.assert_allclose(wb.grad.cpu().numpy(), ref.g - ref.g.mean(), atol=1e-12)


@pytest.mark.gpu
def test_torch_cuda_backward_sinkhorn_value_stays_on_the_device(no_host_copy):
    """The implicit gradient of sinkhorn(...).value: its conjugate-gradient solve on the GPU."""
    dev = _cuda_or_skip()
    x = torch.tensor(X, dtype=torch.float64, device=dev, requires_grad=True)
    v = sinkhorn(None, None, PointCloud(x, torch.tensor(Y, device=dev)), eps=0.2, tol=1e-10).value
    no_host_copy()
    v.backward()
    xc = t(X)
    sinkhorn(None, None, PointCloud(xc, t(Y, False)), eps=0.2, tol=1e-10).value.backward()
    assert x.grad.device == dev
    np.testing.assert_allclose(x.grad.cpu().numpy(), xc.grad.numpy(), rtol=1e-6, atol=1e-9)


def test_dtype_argument_with_a_gradient():
    """``dtype=`` names the working and output precision with a gradient as without one (it
    was a TypeError on the way in, the option class read as an array): the torch value is the
    plain call's float32, autograd's and JAX's gradients are those of the same solve."""
    x = t(X)
    r = sinkhorn(None, None, PointCloud(x, t(Y, False)), eps=0.5, dtype=np.float32)
    plain = sinkhorn(None, None, PointCloud(t(X, False), t(Y, False)), eps=0.5, dtype=np.float32)
    assert r.objective.dtype == torch.float32 and r.f.dtype == torch.float32
    assert float(r.objective.detach()) == float(plain.objective)
    r.objective.backward()
    g = autograd.grad(lambda z: sinkhorn(None, None, PointCloud(z, Y), eps=0.5,
                                         dtype=np.float32).objective)(X)
    np.testing.assert_allclose(g, x.grad.numpy(), rtol=1e-12)


def test_torch_func_is_refused_with_a_message():
    """torch.func transforms hand over tensors without storage: the TypeError says what to use
    instead (it was torch's "Cannot access data pointer of Tensor that doesn't have storage")."""
    y = t(Y, False)
    calls = [lambda: torch.func.grad(lambda x: sinkhorn_divergence(None, None, PointCloud(x, y),
                                                                    **TIGHT).value)(t(X, False)),
             lambda: torch.func.vmap(lambda u: wasserstein_1d(u, y[:, 0]))(t(X.T, False)),
             lambda: torch.func.grad(lambda m: emd(None, None, m).value)(t(M, False))]
    for call in calls:
        with pytest.raises(TypeError, match=r"torch\.func transforms .* use torch\.autograd"):
            call()


def test_gradients_at_a_subnormal_eps():
    """eps below 5.56e-309 (the forward solve runs numpy there): the point-cloud gradient passes
    take 1/eps, which overflows, and gave gradients 100 % off without a word. Points far from
    unit scale (2^-520, costs 2^-1040) are brought to it with eps (2^-5 there): their gradients
    are the unit-scale ones times 2^-520 (they were refused with a ValueError). A dense cost's gradients (the plan and the potentials, no
    reciprocal) are the problem's scaled up by a power of two, scaled back."""
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 2)), rng.random((20, 2))
    s, eps = 2.0 ** -520, 2.0 ** -1045
    for field in ("objective", "value"):
        grads = []
        for scale, e in ((s, eps), (1.0, 2.0 ** -5)):
            xt = t(x * scale)
            v = getattr(sinkhorn(None, None, PointCloud(xt, t(y * scale, False)), eps=e,
                                 tol=1e-10), field)
            grads.append(torch.autograd.grad(v, xt)[0].numpy())
        np.testing.assert_allclose(np.ldexp(grads[0], 520), grads[1], rtol=1e-9,
                                   atol=1e-9 * float(np.abs(grads[1]).max()))
    xt = t(x * s)
    d = sinkhorn_divergence(None, None, PointCloud(xt, t(y * s, False)), eps=eps).value
    d.backward()
    assert np.isfinite(xt.grad.numpy()).all() and np.abs(xt.grad.numpy()).max() > 0
    C = ((x[:, None] - y[None]) ** 2).sum(-1)
    for field in ("objective", "value"):
        got, want = [], []
        for M, e, out in ((C * 2.0 ** -1040, eps, got), (C, 2.0 ** -5, want)):
            Mt, at = t(M), t(np.full(20, 0.05))
            v = getattr(sinkhorn(at, None, Mt, eps=e, tol=1e-10), field)
            out.extend(torch.autograd.grad(v, (Mt, at)))
        np.testing.assert_allclose(got[0].numpy(), want[0].numpy(), rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(np.ldexp(got[1].numpy(), 1040), want[1].numpy(), rtol=1e-6,
                                   atol=1e-6 * float(np.abs(want[1].numpy()).max()))


@pytest.mark.parametrize("lib", ["torch", "torch y", "autograd", "forward-mode"])
def test_from_points_of_points_with_gradients_warns_once(lib):
    """DenseGeometry.from_points computes the costs on the host, without gradient: a loss built
    on it did not depend on points that require grad (torch: `.grad` None; autograd: a zero
    gradient), silently. Now one KantorovichWarning at the call naming them and saying what to
    pass instead; the PointCloud route gives the gradient."""
    from kantorovich.exceptions import KantorovichWarning

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if lib == "autograd":
            g_ag = autograd.grad(lambda x: emd(None, None, DenseGeometry.from_points(x, Y)).value)(X)
        elif lib == "forward-mode":
            import torch.autograd.forward_ad as fwAD

            with fwAD.dual_level():
                DenseGeometry.from_points(fwAD.make_dual(t(X, False), t(X, False)), t(Y, False))
        else:
            x, y = (t(X, False), t(Y)) if lib == "torch y" else (t(X), t(Y, False))
            DenseGeometry.from_points(x, y)
    ours = [w for w in rec if issubclass(w.category, KantorovichWarning)]
    assert len(ours) == 1, [str(w.message) for w in rec]
    msg = str(ours[0].message)
    assert msg.startswith("DenseGeometry.from_points: `y`" if lib == "torch y"
                          else "DenseGeometry.from_points: `x`")
    assert "without gradient" in msg and "PointCloud(x, y)" in msg
    assert ours[0].filename == __file__  # the caller's line
    if lib == "autograd":
        assert not np.any(g_ag)  # what the warning is about
        g = autograd.grad(lambda x: emd(None, None, PointCloud(x, Y)).value)(X)
        assert np.abs(g).max() > 0.01
    elif lib == "torch":
        x = t(X)
        emd(None, None, PointCloud(x, t(Y, False))).value.backward()
        assert x.grad is not None and float(x.grad.abs().max()) > 0.01


def _cost_grads(Xn, Yn, W, cost):
    """d/dx and d/dy of sum(W * C(x, y)), from the closed-form gradient of the cost."""
    from kantorovich.ot._costs import cost_grad

    G = W[:, :, None] * cost_grad(Xn[:, None, :], Yn[None, :, :], cost)
    return G.sum(1), -G.sum(0)


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean", 1.5, 0.5])
def test_point_cloud_cost_matrix_carries_the_gradient_torch(cost):
    """PointCloud(x, y).cost_matrix() of points that require grad gave detached numpy numbers:
    a loss built on it had no gradient in the points (`.grad` None), silently. Now a torch
    tensor in their dtype carrying the gradient, with the same numbers; 0 at coincident points
    (p <= 1 has no gradient there), not NaN. cost_block's rows likewise."""
    Yc = Y.copy()
    Yc[3] = X[5]  # a coincident pair
    W = RNG.uniform(-1.0, 1.0, (N, N))
    x, y = t(X), t(Yc)
    C = PointCloud(x, y, cost=cost).cost_matrix()
    assert isinstance(C, torch.Tensor) and C.dtype == torch.float64 and C.requires_grad
    want = PointCloud(X, Yc, cost=cost).cost_matrix()
    np.testing.assert_allclose(C.detach().numpy(), want, rtol=1e-14, atol=0)
    (C * torch.tensor(W)).sum().backward()
    gx, gy = _cost_grads(X, Yc, W, cost)
    np.testing.assert_allclose(x.grad.numpy(), gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), gy, rtol=1e-12, atol=1e-12)
    x = t(X)
    B = PointCloud(x, t(Yc, False), cost=cost).cost_block(2, 6)
    assert B.requires_grad and B.shape == (4, N)
    np.testing.assert_allclose(B.detach().numpy(), want[2:6], rtol=1e-14, atol=0)
    (B * torch.tensor(W[2:6])).sum().backward()
    np.testing.assert_allclose(x.grad.numpy()[2:6], gx[2:6], rtol=1e-12, atol=1e-12)
    assert not x.grad.numpy()[:2].any() and not x.grad.numpy()[6:].any()


def test_point_cloud_cost_matrix_torch_dtype_shapes_and_batches():
    x32 = torch.tensor(X, dtype=torch.float32, requires_grad=True)
    C = PointCloud(x32, torch.tensor(Y, dtype=torch.float32)).cost_matrix()
    assert C.dtype == torch.float32 and C.requires_grad
    x1 = t(X[:, 0])  # 1-D samples are d = 1
    C1 = PointCloud(x1, t(Y[:, 0], False)).cost_matrix()
    np.testing.assert_allclose(C1.detach().numpy(), (X[:, :1] - Y[:, 0][None]) ** 2, rtol=1e-14)
    C1.sum().backward()
    np.testing.assert_allclose(x1.grad.numpy(), 2 * (N * X[:, 0] - Y[:, 0].sum()), rtol=1e-12)
    xb = t(np.stack([X, X + 1.0]))  # a batch: (B, n, m)
    Cb = PointCloud(xb, t(np.stack([Y, Y]), False)).cost_matrix()
    assert Cb.shape == (2, N, N) and Cb.requires_grad
    np.testing.assert_allclose(Cb.detach().numpy()[1], PointCloud(X + 1.0, Y).cost_matrix(),
                               rtol=1e-14)
    with warnings.catch_warnings():  # points without gradient: the numbers, silently, as a
        # tensor of the points' dtype without gradient (tests/api/test_arrays.py)
        warnings.simplefilter("error")
        C = PointCloud(t(X, False), t(Y, False)).cost_matrix()
        assert isinstance(C, torch.Tensor) and C.dtype == torch.float64 and not C.requires_grad
        np.testing.assert_array_equal(C.numpy(), PointCloud(X, Y).cost_matrix())
        assert isinstance(PointCloud(t(X, False), t(Y, False)).cost_range()[0], float)


def test_point_cloud_cost_matrix_forward_mode_torch():
    import torch.autograd.forward_ad as fwAD

    T = RNG.normal(size=X.shape)
    with fwAD.dual_level():
        C = PointCloud(fwAD.make_dual(t(X, False), t(T, False)), t(Y, False)).cost_matrix()
        tangent = fwAD.unpack_dual(C).tangent
    assert tangent is not None
    np.testing.assert_allclose(tangent.numpy(), 2 * ((X[:, None] - Y[None]) * T[:, None]).sum(-1),
                               rtol=1e-12)


@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
def test_point_cloud_cost_matrix_carries_the_gradient_autograd(cost):
    """Under autograd.grad the matrix was numbers: a zero gradient (and autograd's "Output
    seems independent of input"), silently. Now the box carries it."""
    W = RNG.uniform(-1.0, 1.0, (N, N))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = autograd.grad(lambda x: (PointCloud(x, Y, cost=cost).cost_matrix() * W).sum())(X)
        gy = autograd.grad(lambda y: (PointCloud(X, y, cost=cost).cost_block(1, 4) * W[1:4]).sum())(Y)
    want_x, _ = _cost_grads(X, Y, W, cost)
    np.testing.assert_allclose(g, want_x, rtol=1e-12, atol=1e-12)
    _, want_y = _cost_grads(X[1:4], Y, W[1:4], cost)
    np.testing.assert_allclose(gy, want_y, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("lib", ["torch", "autograd"])
def test_point_cloud_cost_range_of_points_with_gradients_warns(lib):
    """cost_range() gives two floats: without gradient, as before, and now said once."""
    from kantorovich.exceptions import KantorovichWarning

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if lib == "torch":
            lo, hi = PointCloud(t(X), t(Y, False)).cost_range()
        else:
            autograd.grad(lambda x: (PointCloud(x, Y).cost_range()[1] + 0.0 * x).sum())(X)
    ours = [w for w in rec if issubclass(w.category, KantorovichWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__, [str(w.message) for w in rec]
    msg = str(ours[0].message)
    assert msg.startswith("PointCloud.cost_range(): `x` is") and "cost_matrix()" in msg
    if lib == "torch":
        assert (lo, hi) == PointCloud(X, Y).cost_range()


@pytest.mark.parametrize("dtype", [None, np.float32])
def test_dense_cost_matrix_carries_the_gradient_torch(dtype):
    """DenseGeometry(M).cost_matrix() of an M that requires grad was the stored float64 numpy
    copy: a loss built on it had no gradient in M (`M.grad` None), silently. Now M itself, a
    torch tensor in M's dtype carrying the gradient: d/dM sum(W * C) = W, exactly; with
    dtype=float32 the numbers the geometry stores (M rounded to float32), the gradient still W
    in float64 (not rounded). The analytic gradient of <P, C> for a fixed plan P is P."""
    W = RNG.uniform(-1.0, 1.0, (N, N))
    Mt = t(M)
    geom = DenseGeometry(Mt, dtype=dtype)
    C = geom.cost_matrix()
    assert isinstance(C, torch.Tensor) and C.dtype == torch.float64 and C.requires_grad
    stored = M if dtype is None else M.astype(np.float32).astype(np.float64)
    np.testing.assert_array_equal(C.detach().numpy(), stored)
    np.testing.assert_array_equal(C.detach().numpy(), geom.C)
    (C * torch.tensor(W)).sum().backward()
    np.testing.assert_array_equal(Mt.grad.numpy(), W)
    Mt = t(M)
    P = sinkhorn(None, None, M, eps=0.5, plan=True).plan
    (DenseGeometry(Mt, dtype=dtype).cost_matrix() * torch.tensor(P)).sum().backward()
    np.testing.assert_array_equal(Mt.grad.numpy(), P)
    M32 = torch.tensor(M, dtype=torch.float32, requires_grad=True)
    C32 = DenseGeometry(M32, dtype=dtype).cost_matrix()
    assert C32 is M32  # float32 M stores its numbers exactly: the caller's own tensor


def test_dense_cost_matrix_forward_mode_torch():
    import torch.autograd.forward_ad as fwAD

    T = RNG.normal(size=M.shape)
    with fwAD.dual_level():
        for dtype in (None, np.float32):
            C = DenseGeometry(fwAD.make_dual(t(M, False), t(T, False)), dtype=dtype).cost_matrix()
            np.testing.assert_array_equal(fwAD.unpack_dual(C).tangent.numpy(), T)


def test_dense_cost_matrix_of_a_tensor_without_grad_is_a_tensor():
    """A torch M without gradient: its cost_matrix() was the float64 numpy copy; now a torch
    tensor in M's dtype (as the solvers' f, g, plan), with the same numbers; a float64 one is
    a view of the stored costs (torch.from_numpy), not a copy."""
    for dt in (torch.float64, torch.float32):
        Mt = torch.tensor(M, dtype=dt)
        geom = DenseGeometry(Mt)
        old = geom.C  # what cost_matrix() returned
        C = geom.cost_matrix()
        assert isinstance(C, torch.Tensor) and C.dtype == dt and not C.requires_grad
        np.testing.assert_array_equal(C.numpy(), old.astype(C.numpy().dtype))
        assert C.dtype == sinkhorn(None, None, geom, eps=0.5).f.dtype
        assert np.shares_memory(C.numpy(), old) == (dt == torch.float64)
    C = DenseGeometry(torch.tensor(M), dtype=np.float32).cost_matrix()  # stored float32, M's dtype
    assert C.dtype == torch.float64
    np.testing.assert_array_equal(C.numpy(), M.astype(np.float32).astype(np.float64))


@pytest.mark.parametrize("dtype", [None, np.float32])
def test_dense_cost_matrix_carries_the_gradient_autograd(dtype):
    """Under autograd.grad the matrix was numbers: a zero gradient (and autograd's "Output
    seems independent of input"), silently. Now the box itself, carrying it."""
    W = RNG.uniform(-1.0, 1.0, (N, N))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        g = autograd.grad(lambda m: (DenseGeometry(m, dtype=dtype).cost_matrix() * W).sum())(M)
        g32 = autograd.grad(lambda m: (DenseGeometry(m).cost_matrix() * W).sum())(M.astype(np.float32))
    np.testing.assert_array_equal(g, W)
    np.testing.assert_array_equal(g32, W)


@pytest.mark.parametrize("lib", ["torch", "autograd"])
def test_dense_cost_range_of_a_matrix_with_gradients_warns(lib):
    """cost_range() gives two numbers without gradient, as before, and now says so once (as a
    PointCloud's does); diameter(), a float, and the solvers (which read the range privately)
    stay silent."""
    from kantorovich.exceptions import KantorovichWarning

    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        if lib == "torch":
            lo, hi = DenseGeometry(t(M)).cost_range()
        else:
            autograd.grad(lambda m: (DenseGeometry(m).cost_range()[1] + 0.0 * m).sum())(M)
    ours = [w for w in rec if issubclass(w.category, KantorovichWarning)]
    assert len(ours) == 1 and ours[0].filename == __file__, [str(w.message) for w in rec]
    msg = str(ours[0].message)
    assert msg.startswith("DenseGeometry.cost_range(): `M` is") and "cost_matrix()" in msg
    if lib == "torch":
        assert (lo, hi) == DenseGeometry(M).cost_range() == (M.min(), M.max())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Mt = t(M)
        geom = DenseGeometry(Mt)
        assert geom.diameter() == M.max() - M.min()
        sinkhorn(None, None, geom, eps=0.5).objective.backward()
        assert float(Mt.grad.abs().max()) > 0.01


def test_dense_geometry_of_a_dense_geometry_keeps_the_gradient():
    """DenseGeometry(DenseGeometry(M)) copied the inner geometry's float64 numbers: with M
    that requires grad the outer geometry's values had no gradient in M (`M.grad` None) and
    came back as numpy. Now it takes the inner cost_matrix(): M's library and gradient."""
    Mt = t(M)
    r = emd(None, None, DenseGeometry(DenseGeometry(Mt)))
    assert isinstance(r.value, torch.Tensor)
    r.value.backward()
    np.testing.assert_allclose(Mt.grad.numpy(), emd(None, None, M).plan, rtol=1e-12, atol=1e-15)
    g = autograd.grad(lambda m: emd(None, None, DenseGeometry(DenseGeometry(m))).value)(M)
    np.testing.assert_allclose(g, emd(None, None, M).plan, rtol=1e-12, atol=1e-15)


def test_from_points_cost_matrix_is_in_the_points_library_without_gradient():
    """DenseGeometry.from_points(x, y) answers in the points' library; its cost_matrix() was
    the float64 numpy copy. Now a tensor of the points' dtype, without gradient (the costs
    are host numbers: the warning of test_from_points_of_points_with_gradients_warns_once)."""
    from kantorovich.exceptions import KantorovichWarning

    for x, grad in ((t(X, False), False), (t(X), True)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KantorovichWarning)
            geom = DenseGeometry.from_points(x, t(Y, False))
        C = geom.cost_matrix()
        assert isinstance(C, torch.Tensor) and C.dtype == torch.float64 and not C.requires_grad
        np.testing.assert_array_equal(C.numpy(), DenseGeometry.from_points(X, Y).cost_matrix())
    x32 = torch.tensor(X, dtype=torch.float32)
    C = DenseGeometry.from_points(x32, torch.tensor(Y, dtype=torch.float32)).cost_matrix()
    assert C.dtype == torch.float32


def test_from_points_without_gradients_is_silent():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x, y in ((X, Y), (t(X, False), t(Y, False)), (X.astype(np.float32), Y)):
            DenseGeometry.from_points(x, y)


# ----------------------------------------------------------------------------- geometry transforms
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


def _loss(geom):
    """sinkhorn's value (implicit gradient) and objective (envelope), and emd's value (the
    default tol: 1e-12 is beyond a float32 solve)."""
    r = sinkhorn(None, None, geom, eps=0.5)
    return r.value + r.objective + emd(None, None, geom).value


def _grads_equal(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("how", sorted(_transforms()))
def test_geometry_transforms_keep_the_gradient_torch(how):
    """A geometry built from another (cast, moved, one problem of a batch, a cloud of its own
    points) of tensors that require grad was a bare geometry of numbers: the solvers gave a
    Python float without gradient (`.backward()` an AttributeError) and cost_matrix() numpy.
    Now the value is a tensor whose gradient in every input is the one of the geometry the
    caller would build from its own tensors (PointCloud(x, y, dtype=float32) for
    astype(float32), PointCloud(x[1], y[1]) for problem(1), PointCloud(x, x) for
    with_points(x, x): y gets none), and so is the gradient through cost_matrix()."""
    data, transform, build = _transforms()[how]
    ctor = DenseGeometry if len(data) == 1 else PointCloud

    def grads(make, read):
        leaves = [t(a) for a in data]
        out = read(make(*leaves))
        assert isinstance(out, torch.Tensor) and out.dtype == torch.float64 and out.requires_grad
        out.backward()
        return out.item(), [None if v.grad is None else v.grad.numpy() for v in leaves]

    W = RNG.uniform(-1.0, 1.0, (N, N))
    for read in (_loss, lambda g: (g.cost_matrix() * torch.tensor(W)).sum()):
        v, got = grads(lambda *a: transform(ctor(*a)), read)
        v0, want = grads(build, read)
        assert v == v0
        assert any(w is not None and np.abs(w).max() > 1e-3 for w in want)
        _grads_equal(got, want)


@pytest.mark.parametrize("how", sorted(_transforms()))
def test_geometry_transforms_keep_the_gradient_autograd(how):
    """Under autograd.grad the transformed geometry held numbers: a zero gradient, silently
    (with autograd's "Output seems independent of input"). Now the gradient of the geometry
    the caller would build from its own arrays."""
    data, transform, build = _transforms()[how]
    ctor = DenseGeometry if len(data) == 1 else PointCloud
    argnums = tuple(range(len(data)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = autograd.grad(lambda *a: _loss(transform(ctor(*a))), argnums)(*data)
        want = autograd.grad(lambda *a: _loss(build(*a)), argnums)(*data)
    assert any(np.abs(w).max() > 1e-3 for w in want)
    _grads_equal(got, want)


def test_problem_forward_mode_torch():
    """A batch's problem carries the forward-mode tangent of its rows (jvp = <grad, tangent>,
    as PointCloud(x[1], y[1]) gives)."""
    import torch.autograd.forward_ad as fwAD

    xb, yb = np.stack([X, X + 1.0]), np.stack([Y, Y])
    T = RNG.normal(size=xb.shape)
    with fwAD.dual_level():
        out = []
        for make in (lambda x, y: PointCloud(x, y).problem(1), lambda x, y: PointCloud(x[1], y[1])):
            x = fwAD.make_dual(t(xb, False), t(T, False))
            out.append(fwAD.unpack_dual(sinkhorn(None, None, make(x, t(yb, False)), **TIGHT).objective).tangent)
    assert abs(float(out[1])) > 1e-3
    np.testing.assert_allclose(float(out[0]), float(out[1]), rtol=1e-12)


def test_with_points_of_an_array_without_gradient_has_none():
    """with_points(y, y) of a cloud whose x alone requires grad: the new cloud carries no
    gradient (its value is a tensor without one, as PointCloud(y, y)'s), in x's library."""
    x, y = t(X), t(Y, False)
    pc = PointCloud(x, y)
    v = sinkhorn(None, None, pc.with_points(pc.y, pc.y), **TIGHT).value
    assert isinstance(v, torch.Tensor) and not v.requires_grad
    assert float(v) == float(sinkhorn(None, None, PointCloud(y, y), **TIGHT).value)
