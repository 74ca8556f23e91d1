"""Forward mode and vectorised derivatives of OT values in torch and autograd (docs/gradients.md,
"Forward mode and vectorised Jacobians").

A first derivative of an OT value is its gradient g (the envelope or implicit rule of
kantorovich._autodiff), so its derivative along a tangent v is <g, v>: forward-mode tangents
(torch dual tensors, ``torch.func.linearize``, ``autograd.make_jvp``) are checked against the
reverse-mode gradient contracted with v (the same numbers up to the rounding of the sum), and
the vectorised Jacobians (``is_grads_batched``: gradcheck's batched check,
``jacobian(vectorize=True)``, the forward-mode strategy) against the row-by-row Jacobian. These
were a silent zero tangent (dual tensors went through the detached path) and torch's
"Batching rule not implemented for aten::item" (the cotangent was read as a number).
Second derivatives through a tangent refuse, as second derivatives do.
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.ot import (
    PointCloud,
    emd,
    sinkhorn,
    sinkhorn_divergence,
    sliced_wasserstein,
    wasserstein,
    wasserstein_1d,
)

torch = pytest.importorskip("torch")
autograd = pytest.importorskip("autograd")
fwAD = torch.autograd.forward_ad

# torch's own machinery warns from inside itself: its forward-mode formulas are set up with
# torch.jit.script (a FutureWarning since torch 2.13), and torch.func.linearize's constant
# folding inserts attributes it then reports as missing. Neither is about this package.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Attempted to insert a get_attr Node:UserWarning"),
]

RNG = np.random.default_rng(11)
X = RNG.normal(size=(7, 2))
Y = RNG.normal(size=(6, 2)) + np.array([0.7, -0.3])
V = RNG.normal(size=(7, 2))
XB = RNG.normal(size=(3, 7, 2))
YB = RNG.normal(size=(3, 6, 2)) + 1.0
VB = RNG.normal(size=(3, 7, 2))
A = np.full(7, 1 / 7)
DA = RNG.normal(size=7)
DA -= DA.mean()  # a tangent of the simplex (docs/gradients.md, "Weights")
TIGHT = {"eps": 0.5, "tol": 1e-13}


def t(a, grad=False):
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


FNS = {
    "sinkhorn.objective": lambda x, y: sinkhorn(None, None, PointCloud(x, y), **TIGHT).objective,
    "sinkhorn.value": lambda x, y: sinkhorn(None, None, PointCloud(x, y), **TIGHT).value,
    "sinkhorn_divergence": lambda x, y: sinkhorn_divergence(None, None, PointCloud(x, y),
                                                            **TIGHT).value,
    "emd": lambda x, y: emd(None, None, PointCloud(x, y)).value,
    "wasserstein_1d": lambda x, y: wasserstein_1d(x[:, 0], y[:, 0], p=2),
    "sliced_wasserstein": lambda x, y: sliced_wasserstein(x, y, n_projections=8, rng=0),
    "wasserstein": lambda x, y: wasserstein(x, y),
}


def reverse(f, x, *rest):
    xt = t(x, True)
    f(xt, *rest).backward()
    return xt.grad


def tangent(f, x, v, *rest):
    with fwAD.dual_level():
        out = f(fwAD.make_dual(t(x), t(v)), *rest)
        primal, tan = fwAD.unpack_dual(out)
    return primal, tan


@pytest.mark.parametrize("name", list(FNS))
def test_torch_dual_tensor_tangent_is_the_gradient_along_it(name):
    f = FNS[name]
    primal, tan = tangent(f, X, V, t(Y))
    assert tan is not None
    assert float(primal) == float(f(t(X), t(Y)))
    g = reverse(f, X, t(Y))
    np.testing.assert_allclose(float(tan), float((g * t(V)).sum()), rtol=1e-12)


def test_torch_forward_mode_in_weights_costs_and_float32():
    """Tangents of weights (on the simplex) and of a dense cost; a float32 input gives a
    float32 value and tangent."""
    M = RNG.uniform(0.0, 1.0, (7, 6))
    dM = RNG.normal(size=(7, 6))
    fa = lambda a: sinkhorn_divergence(a, None, PointCloud(t(X), t(Y)), **TIGHT).value  # noqa: E731
    fm = lambda m: emd(None, None, m).value  # noqa: E731
    for f, p, dp in ((fa, A, DA), (fm, M, dM)):
        _, tan = tangent(lambda z, f=f: f(z), p, dp)
        g = reverse(f, p)
        np.testing.assert_allclose(float(tan), float((g * t(dp)).sum()), rtol=1e-12)
    with fwAD.dual_level():
        d = fwAD.make_dual(t(X).float(), t(V).float())
        out = sinkhorn_divergence(None, None, PointCloud(d, t(Y).float()), **TIGHT).value
        assert out.dtype == torch.float32 and fwAD.unpack_dual(out).tangent.dtype == torch.float32


def test_torch_gradcheck_forward_ad_and_batched_grad():
    """gradcheck's forward-mode check (dual tensors) and batched check (is_grads_batched)."""
    y = t(Y)

    def S(x, w):
        return sinkhorn_divergence(w / w.sum(), None, PointCloud(x, y), **TIGHT).value

    w = t(RNG.uniform(0.5, 1.5, 7), True)
    assert torch.autograd.gradcheck(S, (t(X, True), w), atol=1e-6, rtol=1e-5,
                                    check_forward_ad=True, check_batched_grad=True)
    assert torch.autograd.gradcheck(lambda x: wasserstein_1d(x, y[:, 0], p=2), (t(X[:, 0], True),),
                                    atol=1e-6, rtol=1e-5, check_forward_ad=True,
                                    check_batched_grad=True)


@pytest.mark.parametrize("kind", ["points", "shared weights"])
def test_torch_jacobian_strategies_of_a_batch_agree(kind):
    """The (B,) values of a batch: jacobian row by row, vectorised (is_grads_batched) and
    forward mode give the same matrix, block diagonal in the points."""
    yb = t(YB)
    if kind == "points":
        f = lambda x: sinkhorn_divergence(None, None, PointCloud(x, yb), **TIGHT).value  # noqa: E731
        p = t(XB)
    else:
        xb = t(XB)
        f = lambda a: sinkhorn_divergence(a, None, PointCloud(xb, yb), **TIGHT).value  # noqa: E731
        p = t(A)
    J = torch.autograd.functional.jacobian(f, p)
    Jv = torch.autograd.functional.jacobian(f, p, vectorize=True)
    Jf = torch.autograd.functional.jacobian(f, p, vectorize=True, strategy="forward-mode")
    np.testing.assert_allclose(Jv.numpy(), J.numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(Jf.numpy(), J.numpy(), rtol=1e-12, atol=1e-15)
    if kind == "points":
        for q in range(3):
            g = reverse(lambda x: sinkhorn_divergence(None, None, PointCloud(x, t(YB[q])),
                                                      **TIGHT).value, XB[q])
            np.testing.assert_allclose(J[q, q].numpy(), g.numpy(), rtol=1e-12, atol=1e-15)
            assert not J[q, (q + 1) % 3].any()


def test_torch_batch_dual_tangents():
    _, tan = tangent(lambda x: sinkhorn_divergence(None, None, PointCloud(x, t(YB)),
                                                   **TIGHT).value, XB, VB)
    J = torch.autograd.functional.jacobian(
        lambda x: sinkhorn_divergence(None, None, PointCloud(x, t(YB)), **TIGHT).value, t(XB))
    np.testing.assert_allclose(tan.numpy(), torch.einsum("qqij,qij->q", J, t(VB)).numpy(),
                               rtol=1e-12)


def test_torch_func_linearize_is_the_gradient_along_the_tangent():
    f = FNS["sinkhorn_divergence"]
    out, jvp = torch.func.linearize(lambda x: f(x, t(Y)), t(X))
    g = reverse(f, X, t(Y))
    assert float(out) == float(f(t(X), t(Y)))
    np.testing.assert_allclose(float(jvp(t(V))), float((g * t(V)).sum()), rtol=1e-12)


def test_torch_reverse_through_a_tangent():
    """The tangent <g(x), v> is linear in v (its gradient in v is g) but depends on x through
    g, which torch does not see: a gradient in x through it is a second derivative, refused
    rather than silently missing the Hessian term."""
    f = FNS["sinkhorn_divergence"]
    x = t(X, True)
    with fwAD.dual_level():
        tan = fwAD.unpack_dual(f(fwAD.make_dual(x, t(V)), t(Y))).tangent
    with pytest.raises(NotImplementedError, match="forward-mode tangent"):
        torch.autograd.grad(tan + (x ** 2).sum(), x)
    v = t(V, True)
    with fwAD.dual_level():
        tan = fwAD.unpack_dual(f(fwAD.make_dual(t(X), v), t(Y))).tangent
    (gv,) = torch.autograd.grad(tan, v)
    np.testing.assert_allclose(gv.numpy(), reverse(f, X, t(Y)).numpy(), rtol=1e-12)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "hessian", "jvp", "vjp",
                                       "grad_and_value"])
def test_torch_func_transforms_are_refused_with_a_message(transform):
    f = lambda x: FNS["sinkhorn_divergence"](x, t(Y))  # noqa: E731
    tf = getattr(torch.func, transform)
    calls = {"jvp": lambda: tf(f, (t(X),), (t(V),)), "vjp": lambda: tf(f, t(X))}
    with pytest.raises(TypeError, match=r"torch\.func transforms .* use torch\.autograd"):
        calls.get(transform, lambda: tf(f)(t(X)))()


def test_autograd_make_jvp():
    """autograd's forward mode: <g, v> for a value, per problem for a batch (batched points,
    shared weights); a forward-mode derivative of a gradient, or a gradient of a forward-mode
    one, refuses (it was autograd's 'JVP of ot_value wrt argnums (1,) not defined')."""
    from autograd import grad, jacobian, make_jvp

    f = lambda x: sinkhorn_divergence(None, None, PointCloud(x, Y), **TIGHT).value  # noqa: E731
    _, tan = make_jvp(f)(X)(V)
    np.testing.assert_allclose(tan, np.sum(grad(f)(X) * V), rtol=1e-12)
    fa = lambda a: sinkhorn(a, None, PointCloud(X, Y), **TIGHT).value  # noqa: E731
    np.testing.assert_allclose(make_jvp(fa)(A)(DA)[1], np.sum(grad(fa)(A) * DA), rtol=1e-12)
    fb = lambda x: emd(None, None, PointCloud(x, YB)).value  # noqa: E731
    np.testing.assert_allclose(make_jvp(fb)(XB)(VB)[1],
                               np.einsum("qqij,qij->q", jacobian(fb)(XB), VB), rtol=1e-12)
    fs = lambda a: sinkhorn_divergence(a, None, PointCloud(XB, YB), **TIGHT).value  # noqa: E731
    np.testing.assert_allclose(make_jvp(fs)(A)(DA)[1], jacobian(fs)(A) @ DA, rtol=1e-12,
                               atol=1e-15)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        make_jvp(grad(f))(X)(V)
    with pytest.raises(NotImplementedError, match="second derivatives"):
        grad(lambda x: make_jvp(f)(x)(V)[1])(X)
