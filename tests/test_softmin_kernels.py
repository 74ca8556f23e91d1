"""Every soft-min backend against the numpy reference on fresh random inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from kantorovich.ot._kernels import softmin_numpy as ref


def _inputs(rng, n, m, d, scale=1.0):
    x = rng.normal(size=(n, d)) * scale
    y = rng.normal(size=(m, d)) * scale
    h = rng.normal(size=m)
    return x, y, h


def test_dense_reference_is_logsumexp(rng):
    C = rng.random((7, 9))
    h = rng.normal(size=9)
    h[2] = -np.inf
    for eps in (1.0, 1e-3):
        out = ref.softmin_dense(C, h, eps)
        np.testing.assert_allclose(out, -eps * logsumexp((h[None, :] - C) / eps, axis=1), rtol=1e-13)


def test_pointcloud_reference_matches_dense(rng):
    x, y, h = _inputs(rng, 12, 10, 3)
    C = ref.pointcloud_cost_block(x, y, 2.0)
    np.testing.assert_allclose(ref.softmin_pointcloud(x, y, h, 0.3, 2.0), ref.softmin_dense(C, h, 0.3))


def test_numba_exp_accuracy():
    from kantorovich.ot._kernels.softmin_numba import exp_nonpos

    t = -np.concatenate([np.linspace(0, 64, 20001), [64.0001, 100.0, 1e300]])
    e = exp_nonpos(t)
    want = np.where(t > -64, np.exp(t), 0.0)  # terms below e^-64 of the maximum are dropped
    assert np.max(np.abs(e - want) / np.maximum(want, 1e-300)) < 5e-14


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_numba_matches_reference(p, d):
    from kantorovich.ot._kernels import softmin_numba

    rng = np.random.default_rng()  # fresh inputs every run
    n, m = rng.integers(1, 80), rng.integers(1, 80)
    x, y, h = _inputs(rng, n, m, d)
    h[rng.integers(0, m)] = -np.inf if m > 1 else h[0]
    for eps in (1.0, 1e-2, 1e-4):
        o, mc = softmin_numba.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
        r, rm = ref.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-12 * eps)
        np.testing.assert_allclose(mc, rm, rtol=1e-10, atol=1e-12)


def test_numba_float32_inputs(rng):
    from kantorovich.ot._kernels import softmin_numba

    x, y, h = _inputs(rng, 30, 20, 2)
    o = softmin_numba.softmin_pointcloud(x.astype(np.float32), y.astype(np.float32), h, 1e-3, 2.0)
    r = ref.softmin_pointcloud(x.astype(np.float32).astype(float), y.astype(np.float32).astype(float), h, 1e-3, 2.0)
    assert np.all(np.isfinite(o))
    np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("p", [2.0, 1.0])
def test_cupy_online_matches_reference(dtype, tol, p):
    import cupy as cp

    from kantorovich.ot._kernels import softmin_cupy

    rng = np.random.default_rng()
    for n, m in [(1, 1), (37, 1000), (3000, 257)]:
        x, y, h = _inputs(rng, n, m, 2, scale=0.3)
        for eps in (1.0, 1e-2):
            r, rm = ref.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
            op = softmin_cupy.OnlineSoftmin(cp.asarray(x, dtype=dtype), cp.asarray(y, dtype=dtype), p)
            o1 = op(eps, cp.asarray(h, dtype=dtype)).get()  # safe kernel (no shift yet)
            o2 = op(eps, cp.asarray(h, dtype=dtype)).get()  # shift kernel (p = 2)
            o3, m3 = op(eps, cp.asarray(h, dtype=dtype), with_mean_cost=True)
            for o in (o1, o2, o3.get()):
                np.testing.assert_allclose(o, r, atol=tol * max(1.0, np.abs(r).max()))
            np.testing.assert_allclose(m3.get(), rm, rtol=50 * tol, atol=tol)


@pytest.mark.gpu
def test_numba_cuda_matches_reference():
    from kantorovich.ot._kernels import softmin_cuda

    rng = np.random.default_rng()
    x, y, h = _inputs(rng, 5000, 3000, 3, scale=0.3)
    r = ref.softmin_pointcloud(x, y, h, 0.01, 2.0)
    for ns in (None, 1, 7):
        o = softmin_cuda.softmin_pointcloud(x, y, h, 0.01, 2.0, n_split=ns)
        np.testing.assert_allclose(o, r, atol=1e-10)


@pytest.mark.gpu
def test_sinkhorn_cuda_backends_match_numpy():
    import cupy as cp

    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.random((700, 2)), rng.random((500, 2))
    r0 = sinkhorn(None, None, PointCloud(x, y), eps=0.01, tol=1e-9, backend="numba")
    r1 = sinkhorn(None, None, PointCloud(x, y), eps=0.01, tol=1e-9, backend="cuda")
    r2 = sinkhorn(None, None, PointCloud(cp.asarray(x), cp.asarray(y)), eps=0.01, tol=1e-9)
    r3 = sinkhorn(None, None, PointCloud(x, y).cost_matrix(), eps=0.01, tol=1e-9, backend="cuda")
    for r in (r1, r2, r3):
        assert r.converged and r.value == pytest.approx(r0.value, rel=1e-8)
    assert isinstance(r2.f, cp.ndarray) and isinstance(r1.f, np.ndarray)
    r4 = sinkhorn(None, None, PointCloud(cp.asarray(x, dtype=cp.float32), cp.asarray(y, dtype=cp.float32)),
                  eps=1e-3 * 0.17, max_iter=20000)
    assert r4.converged and np.isfinite(r4.value)
