"""A callable ground cost: ``PointCloud(x, y, cost=fn)`` (docs/costs.md, "A callable cost").

- a callable equal to "sqeuclidean" reproduces the named cost in sinkhorn (numpy backend),
  sinkhorn_divergence, emd, assignment and wasserstein, to 1e-12;
- a cost that is no power of a norm (asymmetric, cosine) against the dense matrix built by hand;
- the exact range as the diameter; "auto" picks numpy at every size; numpy arrays in the callable;
- every error path: a bad return (shape, NaN/inf, complex, not an array) at the first block, the
  kernels that cannot call it (numba, CUDA, batches), gradients in the points, the exact
  solvers' MemoryError, callables where only names are taken.
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
from kantorovich.ot._costs import cost_block, cost_grad, cost_range, diameter, parse_cost

from .test_costs import _clouds, _weights


def sq_fn(u, v):
    d = u[:, None, :] - v[None, :, :]
    return (d * d).sum(-1)


def skew_fn(u, v):
    """An asymmetric, non-metric cost: |x - 2y|^1.5 (c(x, y) != c(y, x))."""
    return (np.sqrt(((u[:, None, :] - 2.0 * v[None, :, :]) ** 2).sum(-1))) ** 1.5


def cosine_fn(u, v):
    nu = np.linalg.norm(u, axis=1)[:, None]
    nv = np.linalg.norm(v, axis=1)[None, :]
    return 1.0 - (u @ v.T) / (nu * nv)


def _close(u, v):
    assert u == pytest.approx(v, rel=1e-12, abs=1e-15)


# ----------------------------------------------------------------------------- same results
def test_sqeuclidean_callable_reproduces_the_named_cost():
    x, y = _clouds()
    a, b = _weights(9, 11)
    named, fn = PointCloud(x, y), PointCloud(x, y, cost=sq_fn)
    np.testing.assert_array_equal(fn.cost_matrix(), named.cost_matrix())
    kw = dict(eps=0.5, tol=1e-12)
    for backend in ("numpy", "auto"):
        ref = sinkhorn(a, b, named, backend="numpy", plan=True, **kw)
        r = sinkhorn(a, b, fn, backend=backend, plan=True, **kw)
        assert r.backend == "numpy" and r.converged
        _close(r.value, ref.value)
        _close(r.objective, ref.objective)
        np.testing.assert_allclose(np.asarray(r.plan), np.asarray(ref.plan), rtol=1e-12, atol=1e-15)
    _close(sinkhorn_divergence(a, b, fn, backend="numpy", **kw).value,
           sinkhorn_divergence(a, b, named, backend="numpy", **kw).value)
    r, ref = emd(a, b, fn), emd(a, b, named)
    _close(r.value, ref.value)
    np.testing.assert_array_equal(r.plan, ref.plan)
    _close(wasserstein(fn, a=a, b=b, p=2), wasserstein(named, a=a, b=b))
    xs, ys = _clouds(n=40, m=40, d=2)
    r = assignment(PointCloud(xs, ys, cost=sq_fn), backend="numpy")
    ref = assignment(PointCloud(xs, ys), backend="numpy")
    _close(r.value, ref.value)
    np.testing.assert_array_equal(r.perm, ref.perm)
    assert r.exact


@pytest.mark.parametrize("fn", [skew_fn, cosine_fn])
def test_non_metric_callable_matches_its_dense_matrix(fn):
    x, y = _clouds()
    a, b = _weights(9, 11)
    M = fn(x, y)
    pc = PointCloud(x, y, cost=fn)
    kw = dict(eps=0.1, tol=1e-12, backend="numpy")
    r, ref = sinkhorn(a, b, pc, plan=True, **kw), sinkhorn(a, b, M, plan=True, **kw)
    assert r.info["diameter"] == float(M.max() - M.min()) == ref.info["diameter"]
    assert r.info["eps_schedule"] == ref.info["eps_schedule"]
    _close(r.value, ref.value)
    _close(r.objective, ref.objective)
    np.testing.assert_allclose(r.f, ref.f, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(r.g, ref.g, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.asarray(r.plan), ref.plan, rtol=1e-12, atol=1e-15)
    if fn is cosine_fn:  # the divergence's self terms need a symmetric cost
        s = sinkhorn_divergence(a, b, pc, **kw).value
        _close(s, sinkhorn_divergence(a, b, M, M_aa=fn(x, x), M_bb=fn(y, y), **kw).value)
    r, ref = emd(a, b, pc), emd(a, b, M)
    _close(r.value, ref.value)
    np.testing.assert_array_equal(r.plan, ref.plan)
    _close(wasserstein(pc, a=a, b=b), wasserstein(DenseGeometry(M), a=a, b=b))
    _close(wasserstein(pc, a=a, b=b, p=3), wasserstein(DenseGeometry(M), a=a, b=b, p=3))


def test_callable_range_blocks_and_arrays():
    x, y = _clouds(n=30, m=20, d=2)
    M = skew_fn(x, y)
    c = parse_cost(skew_fn, allow_callable=True)
    assert c.is_callable and c.name == "skew_fn" and c.p is None
    assert cost_range(x, y, c) == (float(M.min()), float(M.max()))
    assert cost_range(x, y, c, block_entries=7) == cost_range(x, y, c)  # many blocks
    assert diameter(x, y, c) == float(M.max() - M.min())
    pc = PointCloud(x, y, cost=skew_fn)
    assert pc.cost is skew_fn and pc.p is None and pc.cost_is_callable
    assert "skew_fn" in repr(pc)
    np.testing.assert_array_equal(pc.cost_block(3, 7), M[3:7])
    np.testing.assert_array_equal(cost_block(x, y, c), M)
    assert pc.diameter() == float(M.max() - M.min())
    # the callable's costs are taken in the cloud's dtype; it gets numpy arrays of that dtype
    seen = []

    def spy(u, v):
        seen.append((type(u), u.dtype, type(v), v.dtype))
        return sq_fn(u, v)

    r = sinkhorn(None, None, PointCloud(x, y, cost=spy, dtype=np.float32), eps=0.5)
    assert r.backend == "numpy" and seen
    f32 = np.dtype(np.float32)
    assert set(seen) == {(np.ndarray, f32, np.ndarray, f32)}


def test_auto_picks_numpy_at_every_size():
    from kantorovich.ot._sinkhorn import _AUTO_NUMPY_MAX_POINTCLOUD

    x, y = _clouds(n=60, m=50, d=2)
    assert 60 * 50 > _AUTO_NUMPY_MAX_POINTCLOUD  # a named cost runs numba here
    r = sinkhorn(None, None, PointCloud(x, y, cost=sq_fn), eps=0.5, tol=1e-12)
    assert r.backend == "numpy"
    _close(r.value, sinkhorn(None, None, PointCloud(x, y), eps=0.5, tol=1e-12, backend="numpy").value)


def test_torch_inputs_reach_the_callable_as_numpy():
    torch = pytest.importorskip("torch")
    x, y = _clouds()
    seen = []

    def spy(u, v):
        seen.append(type(u))
        return sq_fn(u, v)

    r = emd(None, None, PointCloud(torch.tensor(x), torch.tensor(y), cost=spy))
    assert set(seen) == {np.ndarray}
    _close(float(r.value), emd(None, None, PointCloud(x, y)).value)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("bad, exc, msg", [
    (lambda u, v: sq_fn(u, v)[:, :1], ValueError, "shape"),
    (lambda u, v: sq_fn(u, v).T, ValueError, "shape"),
    (lambda u, v: sq_fn(u, v)[0], ValueError, "shape"),
    (lambda u, v: np.where(sq_fn(u, v) > 1.0, np.nan, sq_fn(u, v)), ValueError, "finite"),
    (lambda u, v: np.full((len(u), len(v)), np.inf), ValueError, "finite"),
    (lambda u, v: np.full((len(u), len(v)), 1e300), ValueError, "finite"),  # overflows float32
    (lambda u, v: sq_fn(u, v) + 0j, TypeError, "real"),
    (lambda u, v: None, TypeError, "real"),
    (lambda u, v: "costs", TypeError, "real"),
    (lambda u, v: np.full((len(u), len(v)), "1"), TypeError, "real"),
])
def test_bad_callable_raises_at_the_first_block(bad, exc, msg):
    x, y = _clouds()
    calls = []

    def fn(u, v):
        calls.append(1)
        return bad(u, v)

    pc = PointCloud(x, y, cost=fn, dtype=np.float32)
    for run in (lambda: sinkhorn(None, None, pc, eps=0.5), lambda: emd(None, None, pc),
                lambda: wasserstein(pc), lambda: pc.cost_block(0, 2)):
        calls.clear()
        with pytest.raises(exc, match=f"`cost`.*{msg}"):
            run()
        assert len(calls) == 1


def test_callable_errors_name_cost_and_backend():
    x, y = _clouds()
    pc = PointCloud(x, y, cost=sq_fn)
    for backend in ("numba", "cuda", "cupy"):
        with pytest.raises(ValueError, match="`backend`.*`cost`"):
            sinkhorn(None, None, pc, eps=0.5, backend=backend)
        with pytest.raises(ValueError, match="`backend`.*`cost`"):
            sinkhorn_divergence(None, None, pc, eps=0.5, backend=backend)
    with pytest.raises(ValueError, match="`backend`"):  # not a backend at all: the usual error
        sinkhorn(None, None, pc, eps=0.5, backend="fast")
    with pytest.raises(ValueError, match="`method`.*callable `cost`"):
        wasserstein(pc, method="sinkhorn")
    # batches: the batched kernels compute the named costs inline
    with pytest.raises(ValueError, match="`cost`.*batches"):
        PointCloud(np.zeros((2, 3, 2)), np.ones((2, 4, 2)), cost=sq_fn)
    # where only names are taken, a callable is a TypeError naming `cost`, pointing to PointCloud
    with pytest.raises(TypeError, match="`cost`.*PointCloud"):
        assignment(x=x[:5], y=y[:5], cost=sq_fn)
    with pytest.raises(TypeError, match="`cost`.*PointCloud"):
        parse_cost(sq_fn)
    with pytest.raises(TypeError, match="`cost`"):
        PointCloud(x, y, cost=float)  # a type is not a cost
    with pytest.raises(ValueError, match="`cost` is a callable: gradients"):
        cost_grad(x, y, parse_cost(sq_fn, allow_callable=True))


def test_callable_cost_has_no_gradient_in_the_points():
    ag = pytest.importorskip("autograd")
    x, y = _clouds()
    with pytest.raises(ValueError, match="`cost` is a callable: gradients"):
        ag.grad(lambda z: emd(None, None, PointCloud(z, y, cost=sq_fn)).value)(x)
    with pytest.raises(ValueError, match="`cost` is a callable: gradients"):
        ag.grad(lambda z: sinkhorn(None, None, PointCloud(x, z, cost=sq_fn), eps=0.5).value)(y)
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="`cost` is a callable: gradients in 'x'"):
        PointCloud(torch.tensor(x, requires_grad=True), torch.tensor(y), cost=sq_fn)
    # without gradients, torch values are fine (results in torch)
    kw = dict(eps=0.5, tol=1e-12)
    r = sinkhorn(None, None, PointCloud(torch.tensor(x), torch.tensor(y), cost=sq_fn), **kw)
    _close(float(r.value), sinkhorn(None, None, PointCloud(x, y), backend="numpy", **kw).value)


def test_exact_solvers_materialise_with_memory_guidance(monkeypatch):
    import kantorovich.ot._geometry as G

    x, y = _clouds()
    monkeypatch.setattr(G, "_available_bytes", lambda device: 10.0)
    pc = PointCloud(x, y, cost=sq_fn)
    for run in (lambda: emd(None, None, pc), lambda: wasserstein(pc),
                lambda: assignment(PointCloud(x, x, cost=sq_fn))):
        with pytest.raises(MemoryError, match="callable `cost`.*backend='numpy'"):
            run()
    # named costs: emd's LP needs the whole matrix, so the error names the solvers that do not
    # (it suggested the PointCloud it had been given)
    with pytest.raises(MemoryError, match=r"assignment\(x=x, y=y\).*O\(n\) memory.*sinkhorn") as err:
        emd(None, None, PointCloud(x, y))
    assert "use the online geometry instead" not in str(err.value)
    # the numpy Sinkhorn calls it by blocks and needs no n x m matrix
    assert sinkhorn(None, None, pc, eps=0.5).converged
