"""The ground-cost layer (kantorovich.ot._costs) and the geometries every exact solver takes.

- parse_cost: one vocabulary, errors naming `cost`;
- cost_block against a broadcasting reference, diameter as a bound, the gradient in x against
  finite differences;
- emd, assignment, wasserstein, sinkhorn and sinkhorn_divergence given a PointCloud or a
  DenseGeometry return what the dense call returns (same value to 1e-12, same plan).
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.ot import (
    DenseGeometry,
    PointCloud,
    assignment,
    emd,
    sinkhorn,
    sinkhorn_divergence,
    wasserstein,
)
from kantorovich.ot._costs import (
    KIND_DENSE,
    KIND_EUCLIDEAN,
    KIND_POWER,
    KIND_SQEUCLIDEAN,
    Cost,
    cost_block,
    cost_grad,
    diameter,
    grad_coef,
    parse_cost,
)

COSTS = ("sqeuclidean", "euclidean", 1.5, 3.0)


def _clouds(n=9, m=11, d=3, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)), rng.normal(size=(m, d))


def _weights(n, m, seed=1):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum()


# ----------------------------------------------------------------------------- parse_cost
def test_parse_cost_vocabulary():
    assert parse_cost("sqeuclidean") == Cost("sqeuclidean", 2.0, KIND_SQEUCLIDEAN)
    assert parse_cost("euclidean") == Cost("euclidean", 1.0, KIND_EUCLIDEAN)
    assert parse_cost(2) == parse_cost(2.0) == parse_cost(np.float64(2.0)) == parse_cost("sqeuclidean")
    assert parse_cost(1) == parse_cost("euclidean")
    assert parse_cost(np.array(1.5)) == Cost("p=1.5", 1.5, KIND_POWER)
    c = parse_cost(3)
    assert parse_cost(c) is c
    assert len({KIND_DENSE, KIND_SQEUCLIDEAN, KIND_EUCLIDEAN, KIND_POWER}) == 4


@pytest.mark.parametrize("bad, exc", [("cityblock", ValueError), ("", ValueError), (0, ValueError),
                                      (-2.0, ValueError), (float("nan"), ValueError),
                                      (float("inf"), ValueError), (True, TypeError),
                                      (None, TypeError), ([2.0], TypeError), (1 + 2j, TypeError)])
def test_parse_cost_errors_name_cost(bad, exc):
    with pytest.raises(exc, match="`cost`"):
        parse_cost(bad)
    with pytest.raises(exc, match="`cost`"):
        PointCloud([[0.0]], [[1.0]], cost=bad)
    with pytest.raises(exc, match="`cost`"):
        assignment(x=[[0.0], [1.0]], y=[[1.0], [0.0]], cost=bad)


def test_pointcloud_keeps_its_names():
    pc = PointCloud([[0.0, 0.0]], [[3.0, 4.0]], cost=2.0)
    assert (pc.cost, pc.p) == ("sqeuclidean", 2.0)
    pc = PointCloud([[0.0, 0.0]], [[3.0, 4.0]], cost=0.5)
    assert (pc.cost, pc.p) == ("p=0.5", 0.5)
    assert pc.astype(np.float32).p == 0.5 and pc.astype(np.float32).cost == "p=0.5"


# ----------------------------------------------------------------------------- blocks, bound
@pytest.mark.parametrize("cost", COSTS + (0.5,))
def test_cost_block_matches_broadcasting_reference(cost):
    x, y = _clouds()
    p = parse_cost(cost).p
    ref = np.linalg.norm(x[:, None, :] - y[None, :, :], axis=-1) ** p
    C = cost_block(x, y, cost)
    assert C.shape == (9, 11)
    np.testing.assert_allclose(C, ref, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(PointCloud(x, y, cost=cost).cost_matrix(), C)
    np.testing.assert_array_equal(PointCloud(x, y, cost=cost).cost_block(2, 5), C[2:5])


def test_cost_block_sqeuclidean_is_the_plain_sum_of_squares():
    x, y = _clouds(d=2)
    diff = x[:, None, :] - y[None, :, :]
    np.testing.assert_array_equal(cost_block(x, y, "sqeuclidean"), (diff * diff).sum(-1))
    np.testing.assert_array_equal(cost_block(x, y, "euclidean"), np.sqrt((diff * diff).sum(-1)))


def test_cost_block_extreme_scales():
    x = np.array([[1e200, 0.0], [1e-200, 0.0], [0.0, 0.0]])
    y = np.array([[0.0, 0.0]])
    np.testing.assert_array_equal(cost_block(x, y, "euclidean")[:, 0], [1e200, 1e-200, 0.0])
    np.testing.assert_array_equal(cost_block(x, x[:0], 2.0), np.zeros((3, 0)))
    # the soft-min's numpy block is the same function (it used to overflow to inf here)
    from kantorovich.ot._kernels.softmin_numpy import pointcloud_cost_block

    assert pointcloud_cost_block(x, y, 1.0)[0, 0] == 1e200


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cost_block_separated_coordinates_need_no_underflow_check(dtype):
    # cost_block skips its scan for squared distances below tiny/eps when every nonzero
    # |coordinate| is at least T: then no two distinct points are that close. Adversarial
    # points at T (neighbouring floats, both signs, zeros) keep every nonzero squared
    # distance above tiny/eps; below T the scan runs (test_cost_block_extreme_scales)
    from kantorovich.ot._costs import _separated

    fi = np.finfo(dtype)
    t = dtype(2.0 * np.sqrt(64.0 * float(fi.tiny) / float(fi.eps) ** 3))
    vals = [t]
    for _ in range(3):
        vals.append(np.nextafter(vals[-1], dtype(np.inf)))
    vals = np.array(vals + [-v for v in vals] + [0.0], dtype=dtype)
    grid = np.stack(np.meshgrid(vals, vals[:3]), -1).reshape(-1, 2).astype(dtype)
    assert _separated(np.abs(grid), np.abs(grid), fi)
    diff = grid[:, None, :] - grid[None, :, :]
    sq = (diff * diff).sum(-1)
    assert sq[sq > 0].min() >= float(fi.tiny) / float(fi.eps)
    np.testing.assert_array_equal(cost_block(grid, grid, "euclidean"), np.sqrt(sq))
    assert not _separated(np.abs(grid) / 4, np.abs(grid), fi)


@pytest.mark.parametrize("cost", COSTS)
def test_diameter_bounds_the_costs(cost):
    x, y = _clouds()
    top = float(cost_block(x, y, cost).max())
    dia = diameter(x, y, cost)
    assert top <= dia * (1 + 1e-15)
    assert dia == PointCloud(x, y, cost=cost).diameter()
    assert diameter(x[:1], x[:1], cost) == 0.0


# ----------------------------------------------------------------------------- gradient
@pytest.mark.parametrize("cost", COSTS + (0.5,))
def test_cost_grad_matches_finite_differences(cost):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    G = cost_grad(x, y, cost)
    h = 1e-6
    fd = np.empty_like(x)
    for k in range(3):
        e = np.zeros(3)
        e[k] = h
        fd[:, k] = (np.diag(cost_block(x + e, y, cost)) - np.diag(cost_block(x - e, y, cost))) / (2 * h)
    np.testing.assert_allclose(G, fd, rtol=1e-6, atol=1e-8)


def test_cost_grad_closed_forms():
    x, y = np.array([[3.0, 4.0], [1.0, 1.0]]), np.array([[0.0, 0.0], [1.0, 1.0]])
    np.testing.assert_array_equal(cost_grad(x, y, "sqeuclidean"), 2 * (x - y))
    np.testing.assert_allclose(cost_grad(x, y, "euclidean"), [[0.6, 0.8], [0.0, 0.0]], rtol=1e-15, atol=0)
    np.testing.assert_allclose(cost_grad(x, y, 3.0), [[3 * 5 * 3.0, 3 * 5 * 4.0], [0.0, 0.0]], rtol=1e-15)
    assert grad_coef(np.array([0.0, 4.0]), 1.0).tolist() == [0.0, 0.5]
    # broadcasting: all pairs at once, and the gradient in y is the negative
    Gxy = cost_grad(x[:, None, :], y[None, :, :], 1.5)
    assert Gxy.shape == (2, 2, 2)
    np.testing.assert_array_equal(cost_grad(y[None, :, :], x[:, None, :], 1.5), -Gxy)


# ----------------------------------------------------------------------------- geometries
def _geoms(x, y, cost):
    pc = PointCloud(x, y, cost=cost)
    return pc, DenseGeometry(pc.cost_matrix()), pc.cost_matrix()


@pytest.mark.parametrize("cost", COSTS)
def test_emd_takes_geometries(cost):
    x, y = _clouds()
    a, b = _weights(9, 11)
    pc, dg, M = _geoms(x, y, cost)
    ref = emd(a, b, M)
    for g in (pc, dg):
        r = emd(a, b, g)
        assert r.value == pytest.approx(ref.value, rel=1e-12, abs=0)
        np.testing.assert_array_equal(r.plan, ref.plan)
        np.testing.assert_array_equal(r.f, ref.f)
        assert r.certified


@pytest.mark.parametrize("cost", COSTS)
def test_assignment_takes_geometries(cost):
    x, y = _clouds(n=40, m=40, d=2)
    pc, dg, M = _geoms(x, y, cost)
    ref = assignment(M)
    on_the_fly = assignment(x=x, y=y, cost=cost)
    for backend in ("numba", "numpy"):
        for g in (pc, dg):
            r = assignment(g, backend=backend)
            assert r.value == pytest.approx(ref.value, rel=1e-12, abs=0)
            np.testing.assert_array_equal(r.perm, ref.perm)
            assert r.exact
    r = assignment(pc)
    assert r.value == on_the_fly.value and np.array_equal(r.perm, on_the_fly.perm)
    with pytest.raises(ValueError, match="`M`"):
        assignment(pc, x=x, y=y)


@pytest.mark.parametrize("cost", ("sqeuclidean", "euclidean", 1.5))
def test_wasserstein_takes_geometries(cost):
    x, y = _clouds()
    a, b = _weights(9, 11)
    pc, dg, _ = _geoms(x, y, cost)
    ref = wasserstein(x, y, a, b, p=pc.p)
    assert wasserstein(pc, a=a, b=b) == ref
    assert wasserstein(pc, a=a, b=b, p=pc.p) == ref
    assert wasserstein(dg, a=a, b=b, p=pc.p) == pytest.approx(ref, rel=1e-12, abs=0)
    assert wasserstein(pc, a=a, b=b, method="sinkhorn") == wasserstein(x, y, a, b, p=pc.p, method="sinkhorn")


def test_wasserstein_geometry_errors():
    x, y = _clouds()
    pc = PointCloud(x, y)
    with pytest.raises(ValueError, match="`p`"):
        wasserstein(pc, p=1)
    with pytest.raises(TypeError, match="`y`"):
        wasserstein(pc, y)
    with pytest.raises(TypeError, match="`y`"):
        wasserstein(x)
    with pytest.raises(ValueError, match="`p`"):
        wasserstein(PointCloud(x, y, cost=0.5))  # W_p needs p >= 1
    with pytest.raises(ValueError, match="`method`"):
        wasserstein(DenseGeometry(pc.cost_matrix()), method="sinkhorn")


@pytest.mark.parametrize("cost", ("sqeuclidean", "euclidean", 1.5))
def test_sinkhorn_takes_geometries(cost):
    x, y = _clouds()
    a, b = _weights(9, 11)
    pc, dg, M = _geoms(x, y, cost)
    kw = dict(eps=0.5, backend="numpy", tol=1e-12)
    ref = sinkhorn(a, b, M, plan=True, **kw)
    for g in (pc, dg):
        r = sinkhorn(a, b, g, plan=True, **kw)
        assert r.value == pytest.approx(ref.value, rel=1e-12, abs=0)
        assert r.objective == pytest.approx(ref.objective, rel=1e-12, abs=0)
        np.testing.assert_allclose(r.plan, ref.plan, rtol=1e-12, atol=1e-15)
    Maa, Mbb = cost_block(x, x, cost), cost_block(y, y, cost)
    sref = sinkhorn_divergence(a, b, M, M_aa=Maa, M_bb=Mbb, **kw).value
    assert sinkhorn_divergence(a, b, pc, **kw).value == pytest.approx(sref, rel=1e-12, abs=1e-15)
    sdg = sinkhorn_divergence(a, b, dg, M_aa=DenseGeometry(Maa), M_bb=DenseGeometry(Mbb), **kw).value
    assert sdg == pytest.approx(sref, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- gradients
def test_emd_and_wasserstein_gradients_through_a_pointcloud():
    ag = pytest.importorskip("autograd")
    x, y = _clouds(n=6, m=7, d=2, seed=4)
    a, b = _weights(6, 7, seed=5)
    for cost in ("sqeuclidean", "euclidean", 1.5):
        f = lambda z: emd(a, b, PointCloud(z, y, cost=cost)).value  # noqa: E731
        G = ag.grad(f)(x)
        plan = emd(a, b, PointCloud(x, y, cost=cost)).plan
        ref = np.einsum("ij,ijk->ik", plan, cost_grad(x[:, None, :], y[None, :, :], cost))
        np.testing.assert_allclose(G, ref, rtol=1e-12, atol=1e-15)
        h = 1e-6
        e = np.zeros_like(x)
        e[2, 1] = h
        assert G[2, 1] == pytest.approx((f(x + e) - f(x - e)) / (2 * h), rel=1e-5, abs=1e-9)
        p = parse_cost(cost).p
        gw = ag.grad(lambda z: wasserstein(PointCloud(z, y, cost=cost), a=a, b=b))(x)  # noqa: B023
        np.testing.assert_array_equal(gw, ag.grad(lambda z: wasserstein(z, y, a, b, p=p))(x))  # noqa: B023
    C = cost_block(x, y, 2.0)
    gC = ag.grad(lambda c: wasserstein(DenseGeometry(c), a=a, b=b, p=2))(C)
    r = emd(a, b, C)
    np.testing.assert_allclose(gC, r.plan / (2 * np.sqrt(r.value)), rtol=1e-12)


def test_doctests():
    import doctest

    import kantorovich.ot._costs as costs
    import kantorovich.ot._geometry as geometry

    for mod in (costs, geometry):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0


def test_emd_gradient_in_a_dense_geometry_is_the_plan():
    ag = pytest.importorskip("autograd")
    C = np.random.default_rng(6).random((4, 5))
    a, b = np.full(4, 0.25), np.full(5, 0.2)
    g = ag.grad(lambda c: emd(a, b, DenseGeometry(c)).value)(C)
    np.testing.assert_array_equal(g, emd(a, b, C).plan)


def test_a_geometry_given_to_dense_geometry():
    """DenseGeometry(DenseGeometry(M)) said "`M` must be an array of real numbers; got array of
    shape () and dtype object"; it is a copy of the costs (in the dtype asked for). A PointCloud
    there is a TypeError that says what to pass."""
    M = np.array([[0.0, 1.0], [2.0, 0.5]])
    g = DenseGeometry(DenseGeometry(M))
    np.testing.assert_array_equal(g.C, M)
    assert DenseGeometry(DenseGeometry(M), dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match=r"`M` is a PointCloud.*cost_matrix"):
        DenseGeometry(PointCloud(np.zeros((2, 1)), np.ones((3, 1))))
