"""The fused envelope pass of a point cloud (``grad_numba.grad_envelope_xy``): the gradients in
x and y from one exponential per pair, used by ``pointcloud_grads`` when both sides need one.

Oracles: the two single-side passes (``grad_numba.grad_envelope``, which sum the same terms in
another order) and the numpy reference on the dense plan (``_dense_plan``,
``_dense_cost_grads``). float64: 1e-12 relative (a few hundred roundings of sums of positive
and mixed terms, well inside); float32 points are taken to float64 on the CPU, exactly, so
they give the float64 numbers of the same values. Timing is never tested here."""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich._autodiff import _dense_cost_grads, _dense_plan, _shifted, pointcloud_grads
from kantorovich.ot import PointCloud, sinkhorn
from kantorovich.ot._kernels import grad_numba
from kantorovich.ot._wasserstein import _cost_matrix

RNG = np.random.default_rng(11)


def _simplex(w):
    return w / w.sum()


def _problem(n, m, d, p, zeros=True, scale=1.0):
    x, y = RNG.normal(size=(n, d)) * scale, RNG.normal(size=(m, d)) * scale + 0.3 * scale
    if n > 2 and m > 3:
        y[3] = x[2]  # C_ij = 0: the subgradient 0 for p < 2
    a, b = _simplex(RNG.uniform(0.5, 1.5, n)), _simplex(RNG.uniform(0.5, 1.5, m))
    if zeros and n > 4 and m > 1:
        a[4] = 0.0
        b[0] = 0.0
        a, b = _simplex(a), _simplex(b)
    r = sinkhorn(a, b, PointCloud(x, y, cost=p), eps=0.3 * scale ** p, tol=1e-12)
    return x, y, a, b, np.asarray(r.f), np.asarray(r.g), r.eps


def _separate(x, y, a, b, f, g, eps, p):
    gx, _ = pointcloud_grads(x, y, a, b, f, g, eps, p, need_y=False)
    _, gy = pointcloud_grads(x, y, a, b, f, g, eps, p, need_x=False)
    return gx, gy


def _dense(x, y, a, b, f, g, eps, p):
    P = _dense_plan(_cost_matrix(x, y, p), a, b, f, g, eps)
    return _dense_cost_grads(x, y, P, p)


def _close(got, ref):
    for u, v in zip(got, ref):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-15 * max(1.0, np.abs(v).max()))


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5, 0.5])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_fused_pass_matches_the_separate_passes_and_the_dense_reference(p, d):
    """Zero weights (their rows and columns exactly 0) and a repeated point included; 70 x 53
    pairs, so several chunks of rows."""
    args = _problem(70, 53, d, p)
    got = pointcloud_grads(*args, p)
    _close(got, _separate(*args, p))
    _close(got, _dense(*args, p))
    assert np.all(got[0][4] == 0.0) and np.all(got[1][0] == 0.0)
    assert np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1]))


@pytest.mark.parametrize("n,m", [(1, 1), (1, 6), (6, 1), (2, 300), (300, 2), (3, 5)])
@pytest.mark.parametrize("p", [2.0, 1.0])
def test_fused_pass_tiny_clouds(n, m, p):
    """Fewer rows than numba threads (one chunk each), a single column, a single pair."""
    args = _problem(n, m, 2, p, zeros=False)
    got = pointcloud_grads(*args, p)
    assert got[0].shape == (n, 2) and got[1].shape == (m, 2)
    _close(got, _separate(*args, p))
    _close(got, _dense(*args, p))


@pytest.mark.parametrize("chunks", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("d,p", [(2, 2.0), (3, 1.5)])
def test_fused_kernel_any_number_of_chunks(chunks, d, p):
    """The column sums are per chunk of rows and added up after: any count of chunks (up to
    the number of rows) gives the same gradients."""
    x, y, a, b, f, g, eps = _problem(40, 33, d, p)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    gx = np.zeros(x.shape)
    parts = np.zeros((chunks, d, y.shape[0]))
    grad_numba.grad_envelope_xy(x, np.ascontiguousarray(y.T), fa, gb, 1.0 / eps, p, gx, parts)
    _close((gx, parts.sum(axis=0).T), _separate(x, y, a, b, f, g, eps, p))


def test_fused_pass_far_from_unit_scale():
    """Points at 2^-600: the pass runs on the points rescaled to unit scale (the squared
    distances would underflow), both sides together, and scales back."""
    s = 2.0 ** -600
    args = _problem(30, 20, 2, 1.0, scale=s)
    got = pointcloud_grads(*args, 1.0)
    _close(got, _separate(*args, 1.0))
    x, y, a, b, f, g, eps = args
    ref = _dense(x / s, y / s, a, b, f / s, g / s, eps / s, 1.0)  # p = 1: the gradient is s^0
    _close(got, ref)


def test_fused_pass_float32_points():
    """float32 points (exact in float64): the float64 gradients of the same values."""
    x, y, a, b, f, g, eps = _problem(25, 31, 2, 2.0)
    x32, y32 = x.astype(np.float32), y.astype(np.float32)
    got = pointcloud_grads(x32, y32, a, b, f, g, eps, 2.0)
    assert got[0].dtype == np.float64 and got[1].dtype == np.float64
    _close(got, _dense(x32.astype(np.float64), y32.astype(np.float64), a, b, f, g, eps, 2.0))


def test_fused_pass_does_not_depend_on_the_thread_count():
    """The column sums are per fixed chunk of rows, not per numba thread: the same bits with
    one thread as with all of them."""
    import numba

    args = _problem(200, 150, 2, 2.0)
    T = numba.get_num_threads()
    ref = pointcloud_grads(*args, 2.0)
    try:
        for k in {1, max(1, T - 1)}:
            numba.set_num_threads(k)
            got = pointcloud_grads(*args, 2.0)
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    finally:
        numba.set_num_threads(T)


def test_fused_pass_beyond_its_memory_runs_the_two_passes(monkeypatch):
    """Where the chunks' column sums would pass ``_XY_PARTS_BYTES`` the two single-side passes
    run instead (O(n + m) memory): their bits."""
    import kantorovich._autodiff as ad

    args = _problem(20, 30, 2, 1.5)
    called = []
    monkeypatch.setattr(ad, "_pointcloud_grads_xy", lambda *a: called.append(1))
    monkeypatch.setattr(ad, "_XY_PARTS_BYTES", 16 * 30 * 2 * 8 - 1)
    got = pointcloud_grads(*args, 1.5)
    assert not called
    ref = _separate(*args, 1.5)
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    monkeypatch.setattr(ad, "_XY_PARTS_BYTES", 16 * 30 * 2 * 8)
    assert pointcloud_grads(*args, 1.5) is None and called  # at the limit: the fused path


def test_fused_pass_chunks_follow_the_sizes_only():
    """64 chunks of rows (the single-side pass's split) while their column sums fit the
    budget, 16 beyond, then none (the two passes): never the thread count."""
    from kantorovich._autodiff import _XY_PARTS_BYTES, _xy_chunks

    md64 = _XY_PARTS_BYTES // (64 * 8)
    md16 = _XY_PARTS_BYTES // (16 * 8)
    assert _xy_chunks(10_000, md64) == 64 and _xy_chunks(10_000, md64 + 1) == 16
    assert _xy_chunks(10_000, md16) == 16 and _xy_chunks(10_000, md16 + 1) == 0
    assert _xy_chunks(5, 100) == 5 and _xy_chunks(1, 100) == 1
