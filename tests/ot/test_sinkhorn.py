"""Log-domain Sinkhorn: agreement with POT, limits eps -> 0, float32 stability, bad input."""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot as pot
import pytest

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import DenseGeometry, PointCloud, emd, sinkhorn, sinkhorn_divergence


def _problem(rng, n=40, m=30, d=2):
    x, y = rng.random((n, d)), rng.random((m, d))
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return x, y, a / a.sum(), b / b.sum()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("eps", [0.1, 0.02])
@pytest.mark.parametrize("symmetric", [False, True])
def test_matches_pot_sinkhorn_log(rng, eps, symmetric, backend):
    x, y, a, b = _problem(rng)
    M = pot.dist(x, y)
    ref = pot.sinkhorn2(a, b, M, reg=eps, method="sinkhorn_log", stopThr=1e-14, numItermax=200_000)
    r = sinkhorn(a, b, M, eps=eps, tol=1e-12, symmetric=symmetric, max_iter=200_000, backend=backend)
    assert r.converged and r.backend == backend
    assert r.value == pytest.approx(float(ref), rel=1e-8)
    P_ref = pot.sinkhorn(a, b, M, reg=eps, method="sinkhorn_log", stopThr=1e-14, numItermax=200_000)
    P = sinkhorn(a, b, M, eps=eps, tol=1e-12, plan=True, max_iter=200_000, backend=backend).plan
    np.testing.assert_allclose(P, P_ref, rtol=1e-7, atol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean", 1.5])
def test_pointcloud_matches_dense(rng, backend, cost):
    x, y, a, b = _problem(rng, n=35, m=25, d=3)
    pc = PointCloud(x, y, cost=cost)
    rd = sinkhorn(a, b, pc.cost_matrix(), eps=0.05, tol=1e-11, backend="numpy")
    rp = sinkhorn(a, b, pc, eps=0.05, tol=1e-11, backend=backend)
    assert rp.backend == backend
    assert rp.value == pytest.approx(rd.value, rel=1e-9)
    assert rp.objective == pytest.approx(rd.objective, rel=1e-9)
    # potentials are unique up to (f + c, g - c): compare f_i + g_j
    np.testing.assert_allclose(np.add.outer(rp.f, rp.g), np.add.outer(rd.f, rd.g), atol=1e-9)


def test_objective_is_regularised_cost(rng):
    x, y, a, b = _problem(rng)
    M = pot.dist(x, y)
    eps = 0.05
    r = sinkhorn(a, b, M, eps=eps, tol=1e-12, plan=True)
    P = r.plan
    kl = np.sum(P * np.log(P / np.outer(a, b)))
    assert r.value == pytest.approx(np.sum(P * M), rel=1e-10)
    assert r.objective == pytest.approx(np.sum(P * M) + eps * kl, rel=1e-8)
    np.testing.assert_allclose(P.sum(1), a, atol=1e-11)
    np.testing.assert_allclose(P.sum(0), b, atol=1e-11)


def test_value_approaches_emd_as_eps_shrinks(rng):
    x, y, a, b = _problem(rng, n=30, m=30)
    M = pot.dist(x, y)
    exact = pot.emd2(a, b, M)
    gaps = []
    for eps in [0.1, 0.03, 0.01, 0.003]:
        r = sinkhorn(a, b, M, eps=eps, tol=1e-9, max_iter=100_000)
        assert r.converged
        gaps.append(r.value - exact)
    assert all(g > -1e-9 for g in gaps)  # the entropic plan is feasible: never below the LP optimum
    assert all(g2 < g1 for g1, g2 in zip(gaps, gaps[1:]))
    assert gaps[-1] < 0.05 * gaps[0]


def test_float32_small_eps_finite_and_converges(rng):
    x, y, a, b = _problem(rng, n=40, m=40)
    M = pot.dist(x, y)
    eps = 1e-3 * float(np.median(M))
    r = sinkhorn(a, b, M.astype(np.float32), eps=eps, dtype=np.float32, max_iter=20_000)
    assert r.converged and r.f.dtype == np.float32
    assert np.all(np.isfinite(r.f)) and np.all(np.isfinite(r.g)) and np.isfinite(r.value)
    assert r.marginal_error < 1e-3
    exact = pot.emd2(a, b, M)
    assert abs(r.value - exact) < 1e-2 * exact
    with warnings.catch_warnings():  # POT's kernel-space Sinkhorn: exp(-M/eps) underflows
        warnings.simplefilter("ignore")
        bad = pot.sinkhorn2(a.astype(np.float32), b.astype(np.float32), M.astype(np.float32), reg=eps)
    assert not np.isfinite(bad) or bad == 0 or abs(bad - exact) > 0.1 * exact


def _dense_marginal_error64(a, b, C, f, g, eps):
    """L1 error of both marginals of a b exp((f + g - C)/eps), all in float64, with the
    float32-rounded weights that a float32 solve works with."""
    a, b = (w.astype(np.float32).astype(np.float64) for w in (a, b))
    P = a[:, None] * b[None, :] * np.exp((np.float64(f)[:, None] + np.float64(g)[None, :] - C) / eps)
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float32_solve_is_rechecked_in_float64(rng, backend):
    """A float32 dense solve of costs with a constant part (C + 1000) read a marginal error
    below tol (0 once f was a float32 fixed point) and returned converged=True while the plan's
    marginals were off by ~1e-2. Why: float32 rounds the exponent (g_j - C_ij)/eps, with g and
    C ~ 1000, to about 2^-24 * 2000 / eps = 1.2e-2 at eps = 1e-2 (the exponent of every term
    is off by that much, so the marginals by about as much, 12 x tol = 1e-3). The float64
    recheck flags it; without the offset the same rounding is 2^-24 * 10 / 1e-2 = 6e-5, far
    below tol, and the solve stays converged."""
    x, y, a, b = _problem(rng, n=40, m=40)
    M = pot.dist(x, y)  # max ~10
    eps = 1e-2
    # the offset problem: flagged; the float64 error is what the returned plan carries
    C = (M + 1000.0).astype(np.float32)
    with pytest.warns(ConvergenceWarning, match=r"float32 .* measured in float64 is .*dtype=float64"):
        r = sinkhorn(a, b, C, eps=eps, dtype=np.float32, backend=backend)
    assert not r.converged and r.f.dtype == np.float32
    assert r.marginal_error == r.info["marginal_error_float64"] > 2 * r.info["tol"]
    # and it is the error of the plan returned (f after the final half-step), in float64
    e64 = _dense_marginal_error64(a, b, C.astype(np.float64), r.f, r.g, eps)
    assert r.marginal_error == pytest.approx(e64, rel=1e-8)
    # no offset: converged, and the float64 recheck agrees with a direct float64 evaluation of
    # the returned potentials (float64 exponents ~ 10 / eps = 1e3 carry ~1e3 * 2^-52 = 2e-13
    # absolute rounding each, so the two sums of ~1e-3 agree to ~1e-10 relative; 1e-8 allows
    # for the different summation orders)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        r = sinkhorn(a, b, M.astype(np.float32), eps=eps, dtype=np.float32, backend=backend)
    e64 = _dense_marginal_error64(a, b, M.astype(np.float32).astype(np.float64), r.f, r.g, eps)
    assert r.converged and r.info["marginal_error_float64"] <= 2 * r.info["tol"]
    assert r.info["marginal_error_float64"] == pytest.approx(e64, rel=1e-8)
    # a point cloud is rechecked by one float64 soft-min per side: the same number (dtype=float32
    # makes the geometry hold float32 points, so the costs are those of the rounded points)
    rp = sinkhorn(a, b, PointCloud(x, y), eps=eps, dtype=np.float32, backend=backend)
    x32, y32 = (v.astype(np.float32).astype(np.float64) for v in (x, y))
    e64 = _dense_marginal_error64(a, b, pot.dist(x32, y32), rp.f, rp.g, eps)
    assert rp.converged and rp.info["marginal_error_float64"] == pytest.approx(e64, rel=1e-8)
    # float64 solves are not rechecked (nothing wider to check them in)
    assert "marginal_error_float64" not in sinkhorn(a, b, M, eps=eps, backend=backend).info


def test_float32_recheck_of_a_callable_cost_calls_it_in_the_working_dtype(rng):
    """The float64 recheck of a float32 solve with a callable cost takes the costs as the solve
    took them: the callable gets the float32 cloud (its documented contract), and only the
    exponent's arithmetic is widened. The offset cost (|x - y|^2 + 1000) is flagged as the dense
    one is (same rounding argument as above: 2^-24 * 2000 / 1e-2 = 1.2e-2 in every exponent),
    and the recheck's error equals a direct float64 evaluation of the float32 costs."""
    x, y, a, b = _problem(rng, n=40, m=40)
    eps = 1e-2
    seen = set()

    def offset_sq(u, v):
        seen.add((u.dtype, v.dtype))
        return ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1) + u.dtype.type(1000.0)

    with pytest.warns(ConvergenceWarning, match=r"measured in float64"):
        r = sinkhorn(a, b, PointCloud(x, y, cost=offset_sq), eps=eps, dtype=np.float32)
    assert seen == {(np.dtype(np.float32), np.dtype(np.float32))}
    assert not r.converged and r.f.dtype == np.float32
    C32 = offset_sq(x.astype(np.float32), y.astype(np.float32)).astype(np.float64)
    e64 = _dense_marginal_error64(a, b, C32, r.f, r.g, eps)
    # the same float64 sums in another order: 1e-8 relative as in the test above
    assert r.info["marginal_error_float64"] == pytest.approx(e64, rel=1e-8)


def test_epsilon_scaling_reduces_iterations(rng):
    x, y, a, b = _problem(rng, n=50, m=50)
    pc = PointCloud(x, y)
    eps = 1e-3
    r1 = sinkhorn(a, b, pc, eps=eps, scaling=0.5, tol=1e-6, max_iter=50_000)
    r0 = sinkhorn(a, b, pc, eps=eps, scaling=None, tol=1e-6, max_iter=50_000)
    assert r1.converged and r0.converged
    assert r1.n_iter < r0.n_iter
    assert r1.info["eps_schedule"][0] == pytest.approx(pc.diameter())
    assert r1.value == pytest.approx(r0.value, rel=1e-5)


def test_warm_start(rng):
    x, y, a, b = _problem(rng)
    M = pot.dist(x, y)
    r = sinkhorn(a, b, M, eps=0.02, tol=1e-10)
    r2 = sinkhorn(a, b, M, eps=0.02, tol=1e-10, f0=r.f, g0=r.g, check_every=1)
    assert r2.converged and r2.n_iter <= 2 and r2.info["warm_start"]
    assert r2.value == pytest.approx(r.value, rel=1e-9)


def test_lazy_plan(rng):
    x, y, a, b = _problem(rng, n=20, m=15)
    pc = PointCloud(x, y)
    r = sinkhorn(a, b, pc, eps=0.05, tol=1e-11, plan=True, backend="numba")
    P = np.asarray(r.plan)
    Pd = sinkhorn(a, b, pc.cost_matrix(), eps=0.05, tol=1e-11, plan=True).plan
    np.testing.assert_allclose(P, Pd, atol=1e-12)
    v = rng.random(15)
    np.testing.assert_allclose(r.plan.matvec(v), Pd @ v, atol=1e-12)
    np.testing.assert_allclose(r.plan.rmatvec(np.ones(20)), b, atol=1e-9)


def test_lazy_plan_products_take_matrices_and_check_shapes(rng):
    # rmatvec took no (n, k) operand while matvec did; a wrong length failed inside numpy
    x, y, a, b = _problem(rng, n=20, m=15)
    r = sinkhorn(a, b, PointCloud(x, y), eps=0.05, tol=1e-11, plan=True, backend="numba")
    P = np.asarray(r.plan)
    V, U = rng.random((15, 3)), rng.random((20, 3))
    np.testing.assert_allclose(r.plan.matvec(V), P @ V, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(r.plan.rmatvec(U), P.T @ U, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(r.plan.rmatvec(list(U[:, 0])), P.T @ U[:, 0], rtol=1e-13, atol=1e-300)
    for op, name, size in ((r.plan.matvec, "v", 15), (r.plan.rmatvec, "u", 20)):
        for bad in (np.ones(size + 1), np.ones((size, 2, 2)), np.ones(())):
            with pytest.raises(ValueError, match=rf"`{name}` must have shape .* = {size}; got"):
                op(bad)
        with pytest.raises(TypeError, match=rf"`{name}` must be an array of real numbers"):
            op(np.array(["a"] * size))


def test_uniform_default_and_zero_weight(rng):
    x, y, _, _ = _problem(rng, n=10, m=12)
    M = pot.dist(x, y)
    r = sinkhorn(None, None, M, eps=0.05, tol=1e-11)
    ref = pot.sinkhorn2(np.full(10, 0.1), np.full(12, 1 / 12), M, reg=0.05, method="sinkhorn_log",
                        stopThr=1e-14, numItermax=100_000)
    assert r.value == pytest.approx(float(ref), rel=1e-8)
    a = np.full(10, 0.1)
    a[3], a[4] = 0.0, 0.2
    r = sinkhorn(a, None, M, eps=0.05, tol=1e-11, plan=True)
    assert np.all(r.plan[3] == 0) and np.isfinite(r.value) and r.converged


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("lazy", [False, True])
def test_plan_entry_of_two_zero_weights_is_zero_not_nan(backend, lazy):
    # x_2 and y_2 have zero weight, lie next to each other and far from the rest: f_2 + g_2 -
    # C_22 is about 4800 (2400 each), so exp() overflowed and a_2 b_2 exp() was 0 x inf = NaN
    x = np.array([[0.0, 0.0], [1.0, 0.0], [50.0, 0.0]])
    y = np.array([[0.0, 1.0], [1.0, 1.0], [50.0, 0.5]])
    w = np.array([0.5, 0.5, 0.0])
    geom = PointCloud(x, y) if lazy else PointCloud(x, y).cost_matrix()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        r = sinkhorn(w, w, geom, eps=0.1, tol=1e-12, plan=True, backend=backend)
        P = np.asarray(r.plan)
        assert r.converged and np.all(np.isfinite(P)) and np.all(P[2] == 0) and np.all(P[:, 2] == 0)
        np.testing.assert_allclose(P.sum(1), w, atol=1e-12)
        np.testing.assert_allclose(P.sum(0), w, atol=1e-12)
        if lazy:
            np.testing.assert_allclose(r.plan.matvec(np.ones(3)), w, atol=1e-12)
            np.testing.assert_allclose(r.plan.rmatvec(np.ones(3)), w, atol=1e-12)
            np.testing.assert_array_equal(r.plan.block(2, 3), P[2:3])


def test_input_not_modified(rng):
    x, y, a, b = _problem(rng)
    M = pot.dist(x, y)
    copies = [v.copy() for v in (x, y, a, b, M)]
    sinkhorn(a, b, M, eps=0.1)
    sinkhorn(a, b, PointCloud(x, y), eps=0.1, backend="numba")
    for v, c in zip((x, y, a, b, M), copies):
        np.testing.assert_array_equal(v, c)


def test_auto_backend_rule(rng):
    # numba wins from n = m ~ 20 for point clouds and ~100 for dense costs (measured,
    # docs/sinkhorn.md); numpy keeps the trivially small problems
    x, y, a, b = _problem(rng, n=600, m=600)
    assert sinkhorn(a, b, PointCloud(x, y), eps=0.5).backend == "numba"
    assert sinkhorn(a[:50] / a[:50].sum(), None, PointCloud(x[:50], y), eps=0.5).backend == "numba"
    assert sinkhorn(None, None, PointCloud(x[:8], y[:8]), eps=0.5).backend == "numpy"
    assert sinkhorn(None, None, pot.dist(x[:200], y[:200]), eps=0.5).backend == "numba"
    # small dense costs: numba's kernel matrix where it takes every soft-min of the solve
    # (float64, costs >= 0, c max C <= 450 at eps); numpy's log-sum-exp otherwise
    M = pot.dist(x[:60], y[:60])
    for C in (pot.dist(x[:5], y[:5]), M):
        r = sinkhorn(None, None, C, eps=0.5)
        assert r.backend == "numba" and r.info["kernel_matrix_calls"] == 2 * r.n_iter + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert sinkhorn(None, None, M, eps=1e-3, max_iter=10).backend == "numpy"  # c max C > 450
    assert sinkhorn(None, None, M - 0.01, eps=0.5).backend == "numpy"  # a negative cost
    assert sinkhorn(None, None, M, eps=0.5, dtype=np.float32).backend == "numpy"


def test_numba_thread_mode_by_measurement():
    """Small problems run on one thread; larger ones time both modes on their own calls
    (calls 1-6 alternate) and keep the faster on average, re-timing the other every
    _PROBE_EVERY calls."""
    import numba

    from kantorovich.ot import _sinkhorn as S

    seen = []

    def op(eps, h, with_mean_cost=False):
        seen.append(numba.get_num_threads())
        return h

    T = numba.get_num_threads()
    small = S._NumbaThreads(S._NUMBA_SERIAL_MAX_ENTRIES - 1)
    for _ in range(5):
        small.call(op, 1.0, np.zeros(2))
    assert seen == [1] * 5 and numba.get_num_threads() == T
    if T == 1:
        pytest.skip("one numba thread: nothing to choose")
    seen.clear()
    big = S._NumbaThreads(S._NUMBA_SERIAL_MAX_ENTRIES)
    for _ in range(7):
        big.call(op, 1.0, np.zeros(2))
    assert seen == [T, T, 1, T, 1, T, 1]
    assert len(big.times[1]) == 3 and len(big.times[T]) == 3
    big.times = {1: [1e-3, 1e-3, 1e-3], T: [5e-4, 2e-2, 5e-4]}  # as on an oversubscribed box:
    assert big.best() == 1  # the parallel median is lower, its mean (the cost paid) is not
    seen.clear()
    for _ in range(S._NumbaThreads._PROBE_EVERY):
        big.call(op, 1.0, np.zeros(2))
    assert seen.count(T) == 1 and numba.get_num_threads() == T  # one re-timing of the other mode


def test_numba_thread_retiming_costs_a_bounded_share():
    """The other mode is re-timed every _PROBE_EVERY calls while both modes cost about the
    same, and less often where it is much slower (a parallel call that waits milliseconds at
    its join on a loaded machine, beside one-thread calls of tens of microseconds): the
    re-timings take at most _PROBE_SHARE of the time."""
    import math

    from kantorovich.ot import _sinkhorn as S

    big = S._NumbaThreads(S._NUMBA_SERIAL_MAX_ENTRIES)
    T = big.all
    if T == 1:
        pytest.skip("one numba thread: nothing to choose")
    big.times = {1: [1e-4] * 8, T: [1.2e-4] * 8}
    assert big.probe_interval(1) == S._NumbaThreads._PROBE_EVERY
    assert big.probe_interval(T) == S._NumbaThreads._PROBE_EVERY
    big.times = {1: [4e-5] * 8, T: [5e-3] * 8}  # as measured: 5 ms joins beside 40 us calls
    want = math.ceil(5e-3 / (4e-5 * S._NumbaThreads._PROBE_SHARE))
    assert 2000 < want == big.probe_interval(1)
    big.calls = 7  # past the alternating start
    modes = []
    for _ in range(2 * want):
        modes.append(big._choose()[0])
        big.calls += 1
    probes = [7 + i for i, k in enumerate(modes) if k == T]
    assert probes == [S._NumbaThreads._PROBE_EVERY, S._NumbaThreads._PROBE_EVERY + want]
    # the probes' share of the time: one 5 ms call per `want` calls of 40 us
    assert 5e-3 / (want * 4e-5) <= S._NumbaThreads._PROBE_SHARE


def test_small_numba_solve_sets_the_thread_count_once(rng, monkeypatch):
    """A solve whose soft-mins all run on one thread sets numba's thread count once for its
    loop (and once for the final pass), not twice per soft-min, and restores it; the values
    are those of the per-call setting."""
    import contextlib

    import numba

    from kantorovich.ot import _sinkhorn as S

    T = numba.get_num_threads()
    if T == 1:
        pytest.skip("one numba thread: nothing to set")
    x, y, a, b = _problem(rng, n=30, m=20)
    geom = PointCloud(x, y)
    calls = []
    real = numba.set_num_threads

    def counting(k):
        calls.append(k)
        real(k)

    monkeypatch.setattr(numba, "set_num_threads", counting)
    r = sinkhorn(a, b, geom, eps=0.05, tol=1e-9, backend="numba")
    assert r.converged and r.info["numba_thread_calls"][1] > 10
    assert calls == [1, T, 1, T]  # the loop, then the final <P, C> pass
    assert numba.get_num_threads() == T
    # the per-call setting: every soft-min through the Python loop (not the compiled
    # iterations of kantorovich.ot._sinkhorn_steps, which set nothing), unpinned
    from kantorovich.ot import _sinkhorn_steps

    monkeypatch.setattr(S._NumbaThreads, "pinned", lambda self: contextlib.nullcontext())
    monkeypatch.setattr(_sinkhorn_steps, "compiled_steps", lambda p: None)
    calls.clear()
    r0 = sinkhorn(a, b, geom, eps=0.05, tol=1e-9, backend="numba")
    assert len(calls) == 2 * sum(r0.info["numba_thread_calls"].values())
    assert r.value == r0.value and np.array_equal(r.f, r0.f) and np.array_equal(r.g, r0.g)


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
def test_kernel_matrix_path_solves_as_row_loops(rng, p):
    """Small float64 point clouds keep K = 2^(-c C) per eps (docs/sinkhorn.md, "Small problems:
    the kernel matrix"): the same solve as the row loops (``kmat=False``) and the numpy
    backend, to rounding; annealed and not; the calls that took the matrix are counted in
    ``info``, none above 2^16 entries or where c max C > 450 (small eps)."""
    from kantorovich.ot._kernels import softmin_numba as K

    x, y, a, b = _problem(rng, n=60, m=50)
    geom = PointCloud(x, y, cost=p)
    for eps, scaling in ((0.05, 0.5), (0.05, None), (0.2, None)):
        r = sinkhorn(a, b, geom, eps=eps, scaling=scaling, tol=1e-10, backend="numba")
        ref = sinkhorn(a, b, geom, eps=eps, scaling=scaling, tol=1e-10, backend="numpy")
        assert r.converged and r.info["kernel_matrix_calls"] >= r.n_iter
        assert r.value == pytest.approx(ref.value, rel=1e-12)
        np.testing.assert_allclose(r.f, ref.f, atol=1e-11 * eps)
    real = K.OnlineSoftmin.__init__
    try:
        K.OnlineSoftmin.__init__ = lambda self, *a, **k: real(self, *a, **{**k, "kmat": False})
        rows = sinkhorn(a, b, geom, eps=0.05, tol=1e-10, backend="numba")
    finally:
        K.OnlineSoftmin.__init__ = real
    assert rows.info["kernel_matrix_calls"] == 0
    r = sinkhorn(a, b, geom, eps=0.05, tol=1e-10, backend="numba")
    assert r.value == pytest.approx(rows.value, rel=1e-13) and r.n_iter == rows.n_iter
    x2, y2 = rng.random((300, 2)), rng.random((250, 2))
    assert sinkhorn(None, None, PointCloud(x2, y2, cost=p), eps=0.05,
                    backend="numba").info["kernel_matrix_calls"] == 0
    with pytest.warns(ConvergenceWarning):  # 20 iterations, enough to count the calls
        small = sinkhorn(a, b, geom, eps=1e-3, backend="numba", max_iter=20)  # c max C > 450
    assert small.info["kernel_matrix_calls"] == 0


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_row_loops_transport_cost_at_large_eps(monkeypatch, p):
    """<P, C> from the numba row loops (the path above 2^16 pairs; the kernel matrix turned off
    here) with eps far above the costs: their last pass recovered each C_ij from the
    exponent (h_j/eps - C_ij/eps) and lost it to cancellation, a value 3e-6 off at eps = 1e12
    and 0 at eps = 1e300. numba and numpy then agree to rounding (1e-12)."""
    from kantorovich.ot._kernels import softmin_numba as K

    rng = np.random.default_rng(4)
    geom = PointCloud(rng.random((30, 2)), rng.random((26, 2)), cost=p)
    monkeypatch.setattr(K, "_KMAT_MAX_ENTRIES", 0)
    for eps in (1e12, 1e300):
        r = sinkhorn(None, None, geom, eps=eps, backend="numba")
        ref = sinkhorn(None, None, geom, eps=eps, backend="numpy")
        assert r.info["kernel_matrix_calls"] == 0
        assert r.value == pytest.approx(ref.value, rel=1e-12)


def test_sinkhorn_divergence(rng):
    x, y, a, b = _problem(rng, n=25, m=20)
    s0 = sinkhorn_divergence(a, a, PointCloud(x, x), eps=0.05, tol=1e-10)
    assert abs(s0.value) < 1e-9
    s = sinkhorn_divergence(a, b, PointCloud(x, y), eps=0.05, tol=1e-10)
    assert s.value > 0 and s.converged
    sd = sinkhorn_divergence(a, b, pot.dist(x, y), eps=0.05, M_aa=pot.dist(x, x), M_bb=pot.dist(y, y),
                             tol=1e-10)
    assert sd.value == pytest.approx(s.value, rel=1e-8)
    with pytest.raises(ValueError, match="M_aa"):
        sinkhorn_divergence(a, b, pot.dist(x, y), eps=0.05)


def test_sinkhorn_divergence_self_terms_use_the_averaged_update(rng):
    # the self-transport problems have f = g at the optimum; the averaged update reaches it in
    # tens of iterations (29, 30) where alternating Sinkhorn needs 149, 90 after the (averaged)
    # eps-scaling and 4810, 1090 from a cold start
    x = rng.normal(size=(150, 2))
    y = rng.normal(size=(120, 2)) + 0.5
    s = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.1, tol=1e-6)
    assert s.converged
    for r, pts in ((s.ot_aa, x), (s.ot_bb, y)):
        assert r.info["symmetric"] is True
        alt = sinkhorn(None, None, PointCloud(pts, pts), eps=0.1, tol=1e-6, symmetric=False, max_iter=100_000)
        assert alt.converged and r.n_iter < alt.n_iter / 2
        assert r.objective == pytest.approx(alt.objective, rel=1e-6)
    assert s.ot_ab.info["symmetric"] is False  # the user's choice (default) for OT(a, b)


def test_nonconvergence_warns(rng):
    x, y, a, b = _problem(rng)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = sinkhorn(a, b, pot.dist(x, y), eps=1e-3, max_iter=5, scaling=None)
    assert not r.converged and np.isfinite(r.value) and np.all(np.isfinite(r.f))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("geometry", ["dense", "pointcloud"])
@pytest.mark.parametrize("scaling", [None, 0.5])
def test_float32_symmetric_solve_with_a_zero_weight_has_a_finite_error(backend, geometry, scaling):
    """A zero weight's term of the float32 marginal error is 0 * expm1(t). The exponent t was
    clipped at 700 as in float64, where float32's expm1 is inf, so the term was NaN: symmetric
    float32 solves with a zero weight and costs far above eps (here up to ~700 at eps = 1e-3)
    stopped with "NaN potentials" for 17 of 20 seeds. float32 exponents are now clipped at 80
    (exp(80) = 5.5e34: finite, and times a weight <= 1 too)."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(14, 2)) * 5.0, rng.normal(size=(4, 2))
    b = np.array([0.0, 1.0, 1.0, 1.0]) / 3.0
    cost = _sq(x, y) if geometry == "dense" else PointCloud(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = sinkhorn(None, b, cost, eps=1e-3, dtype=np.float32, symmetric=True, scaling=scaling,
                     backend=backend, max_iter=30)
    assert r.f.dtype == np.float32 and np.all(np.isfinite(r.f)) and np.all(np.isfinite(r.g))
    assert np.all(np.isfinite(r.marginal_error_history)) and np.isfinite(r.value)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("geometry", ["dense", "pointcloud"])
@pytest.mark.parametrize("kwargs", [{}, {"scaling": None}, {"symmetric": True}])
def test_unconverged_marginal_error_is_that_of_the_returned_plan(backend, geometry, kwargs):
    """An unconverged solve returns f after one more half-step (its rows then sum to a), and
    its `marginal_error` and warning describe that returned pair. They used to describe the
    pair before the half-step: 2.2e126 for these clouds (20 iterations ending inside the eps
    schedule, at a pair made for a larger eps), where the returned plan's L1 error is 0.41.
    Both sides in float64, the exponents up to diameter^2 / eps ~ 2e4: each carries ~2e4 *
    2^-52 = 4e-12 relative rounding, so 1e-8 allows for the two summation orders."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2)) + 1.0
    a = np.full(30, 1 / 30)
    C = pot.dist(x, y)
    cost = C if geometry == "dense" else PointCloud(x, y)
    with pytest.warns(ConvergenceWarning, match="max_iter") as caught:
        r = sinkhorn(None, None, cost, eps=1e-3, max_iter=20, backend=backend, **kwargs)
    P = a[:, None] * a[None, :] * np.exp((r.f[:, None] + r.g[None, :] - C) / 1e-3)
    true = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - a).sum()
    assert not r.converged and 0.01 < true < 2.0
    assert r.marginal_error == pytest.approx(true, rel=1e-8)
    assert r.marginal_error_history[-1] == r.marginal_error
    assert f"(marginal error {r.marginal_error:.3g})" in str(caught[0].message)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(eps=0.0), ValueError, "`eps` must be a positive float"),
    (dict(eps=-0.1), ValueError, "`eps`"),
    (dict(eps=float("nan")), ValueError, "`eps`"),
    (dict(eps=float("inf")), ValueError, "`eps`"),
    (dict(eps="a"), TypeError, "`eps`"),
    (dict(eps=0.1, max_iter=0), ValueError, "`max_iter`"),
    (dict(eps=0.1, scaling=1.5), ValueError, "`scaling`"),
    (dict(eps=0.1, backend="gpu"), ValueError, "`backend`"),
])
def test_bad_options(rng, kwargs, exc, match):
    x, y, a, b = _problem(rng, n=5, m=4)
    with pytest.raises(exc, match=match):
        sinkhorn(a, b, pot.dist(x, y), **kwargs)


def test_bad_data(rng):
    x, y, a, b = _problem(rng, n=5, m=4)
    M = pot.dist(x, y)
    with pytest.raises(ValueError, match="`a` must be non-negative"):
        sinkhorn(-a, b, M, eps=0.1)
    with pytest.raises(ValueError, match="`b` must contain only finite"):
        sinkhorn(a, np.r_[b[:-1], np.nan], M, eps=0.1)
    with pytest.raises(ValueError, match="`a` must have length 5"):
        sinkhorn(a[:4], b, M, eps=0.1)
    with pytest.raises(ValueError, match="same total mass"):
        sinkhorn(a, 2 * b, M, eps=0.1)
    Mn = M.copy()
    Mn[1, 1] = np.nan
    with pytest.raises(ValueError, match="`M_or_geometry` must not contain NaN"):
        sinkhorn(a, b, Mn, eps=0.1)
    xn = x.copy()
    xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="`x` must contain only finite"):
        sinkhorn(a, b, PointCloud(xn, y), eps=0.1)
    with pytest.raises(ValueError, match="same dimension"):
        PointCloud(x, y[:, :1])
    with pytest.raises(ValueError, match="`cost`"):
        PointCloud(x, y, cost="cosine")
    with pytest.raises(ValueError, match="`f0` must have shape"):
        sinkhorn(a, b, M, eps=0.1, f0=np.zeros(3))


def test_dense_too_large_suggests_pointcloud():
    x = np.zeros((2_000_000, 2))
    with pytest.raises(MemoryError, match="PointCloud"):
        DenseGeometry.from_points(x, x)


def test_annealing_costs_two_softmins_per_iteration(rng):
    # regression: the alternating annealing step computed a third, discarded soft-min
    from kantorovich.ot import _sinkhorn as S

    x, y, a, b = _problem(rng, n=20, m=30)
    sx0, sy0 = S._ops_numpy(PointCloud(x, y), np.float64)
    for symmetric in (False, True):
        calls = [0]

        def sx(e, h, with_mean_cost=False, calls=calls):
            calls[0] += 1
            return sx0(e, h, with_mean_cost)

        def sy(e, h, with_mean_cost=False, calls=calls):
            calls[0] += 1
            return sy0(e, h, with_mean_cost)
        schedule = S.eps_schedule(1.0, 1e-2, 0.5)
        *_, n_iter, _, n_scaling = S._sinkhorn_loop(
            np, sx, sy, a, b, np.log(a), np.log(b), np.zeros(20), np.zeros(30), eps=1e-2,
            schedule=schedule, max_iter=len(schedule) + 5, tol=1e-300, check_every=1, symmetric=symmetric)
        assert n_scaling == len(schedule) and n_iter == len(schedule) + 5
        assert calls[0] == 2 * n_iter


def test_progress_bar(rng, capsys):
    x, y, a, b = _problem(rng, n=30, m=25)
    r0 = sinkhorn(a, b, PointCloud(x, y), eps=0.05)
    r1 = sinkhorn(a, b, PointCloud(x, y), eps=0.05, progress=True)
    assert r1.value == r0.value and r1.n_iter == r0.n_iter   # the bar changes nothing
    err = capsys.readouterr().err  # (tqdm redraws at most every 0.1 s: a fast solve shows the start)
    assert "sinkhorn 30x25 eps=0.05" in err and "/10000" in err
    with pytest.raises(TypeError, match="`progress` must be a bool"):
        sinkhorn(a, b, PointCloud(x, y), eps=0.05, progress="yes")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("rel", [0.3, 1e-3, 1e-300])
def test_eps_below_the_cost_resolution_is_an_error(backend, dtype, rel):
    # there eps*log(b) vanishes next to g: the loop reported converged=True with a value below
    # the exact EMD (numpy) or of 1e303 (numba)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))
    M = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))
    eps = rel * float(np.finfo(dtype).eps) * float(M.max())
    for geom in (M, PointCloud(x, y, cost=1)):
        with pytest.raises(ValueError, match="`eps` must be at least"):
            sinkhorn(None, None, geom, eps=eps, backend=backend, dtype=dtype)


def test_subnormal_eps_runs_on_numpy_and_numba_refuses_it():
    """Costs and eps below 2^-1022: the numba kernels' c = log2(e)/eps overflows below
    8.03e-309 (their NaN potentials were a bare FloatingPointError, for "auto" too). "auto"
    (single, batched and the divergence) runs numpy there, which gives the problem scaled up
    by a power of two, scaled back; "numba" names `eps`."""
    rng = np.random.default_rng(0)
    x, y = rng.random((3, 20, 2)), rng.random((3, 20, 2))
    s, eps = 2.0 ** -520, 2.0 ** -1045  # squared costs ~2^-1040, eps 2^-5 of them (8.7e-316)
    big = sinkhorn(None, None, PointCloud(x[0], y[0]), eps=2.0 ** -5, backend="numpy", tol=1e-9)
    for M in (PointCloud(x[0] * s, y[0] * s), _sq(x[0] * s, y[0] * s)):
        r = sinkhorn(None, None, M, eps=eps, tol=1e-9)
        # subnormal costs keep about 2^-1074 / 2^-1045 = 2e-9 of the costs' scale
        assert r.converged and abs(math.ldexp(float(r.value), 1040) - big.value) < 1e-6 * big.value
        with pytest.raises(ValueError, match="`eps`=.* is below log2"):
            sinkhorn(None, None, M, eps=eps, backend="numba")
    rb = sinkhorn(None, None, PointCloud(x * s, y * s), eps=eps, tol=1e-9)
    assert rb.value.shape == (3,) and np.all(np.isfinite(rb.value)) and rb.converged.all()
    assert rb.value[0] == sinkhorn(None, None, PointCloud(x[0] * s, y[0] * s), eps=eps,
                                   tol=1e-9).value
    with pytest.raises(ValueError, match="`eps`=.* is below log2"):
        sinkhorn(None, None, PointCloud(x * s, y * s), eps=eps, backend="numba")
    d = sinkhorn_divergence(None, None, PointCloud(x[0] * s, y[0] * s), eps=eps)
    assert np.isfinite(d.value) and d.value >= 0
    # the smallest eps the kernels take: the same solve as numpy's
    r = sinkhorn(None, None, PointCloud(x[0] * s, y[0] * s), eps=8.1e-309, backend="numba")
    assert r.converged and np.isfinite(r.value)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_point_cloud_with_overflowing_costs_is_an_error(dtype):
    # the bounding-box diameter was inf and the eps-scaling schedule grew without end (OOM)
    from kantorovich.ot._sinkhorn import eps_schedule

    assert eps_schedule(float("inf"), 0.1, 0.5) == []
    x = np.random.default_rng(0).normal(size=(5, 2))
    big = 1e300 if dtype == np.float64 else 1e30
    with pytest.raises(ValueError, match="costs of `M_or_geometry` overflow"):
        sinkhorn(None, None, PointCloud(x * big, x * big + big), eps=1.0, dtype=dtype)


def test_sinkhorn_bad_dtype_and_underflowing_weights():
    M = np.random.default_rng(0).random((5, 6))
    with pytest.raises(TypeError, match="`dtype` must be None, float32 or float64"):
        sinkhorn(None, None, M, eps=0.1, dtype="foo")
    # masses of 1e-310 are 0 in float32: NaN potentials (FloatingPointError) before
    with pytest.raises(ValueError, match="`a` underflows to zero total mass in float32"):
        sinkhorn(np.full(5, 1e-310), np.full(6, 5e-311 * 5 / 3), M, eps=0.1, dtype=np.float32)


def _sq(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def _coincident_problems():
    line = np.arange(10.0)[:, None]
    grid = np.array([[i, j] for i in range(6) for j in range(6)], dtype=float)
    pts = np.random.default_rng(0).random((50, 2))
    return [(_sq(line, line), 0.1), (_sq(grid, grid), 0.1), (_sq(pts, pts), 1e-3)]


def _default_and_cold(a, b, M, **kw):
    """The default schedule and a cold start (``scaling=None``) on one problem: both converge,
    and the default needs no more iterations (docs/sinkhorn.md, *Epsilon-scaling*)."""
    r = sinkhorn(a, b, M, **kw)
    r0 = sinkhorn(a, b, M, scaling=None, **kw)
    assert r.converged and r0.converged
    assert r.n_iter <= r0.n_iter
    return r, r0


@pytest.mark.parametrize("k", range(3))
@pytest.mark.parametrize("tol", [1e-4, 1e-6])
def test_eps_scaling_does_not_stall_when_the_measures_coincide(k, tol):
    # an alternating annealing left an antisymmetric error (f + phi, g - phi) that a nearly
    # diagonal plan barely sees: 8550 / 4889 / 7671 iterations to 1e-4 where a cold start
    # needs 10 / 10 / 30, and no convergence in 20000 to 1e-6. The averaged annealing, started
    # only when the cold probe predicts a slow cold start, never needs more than a cold start.
    M, eps = _coincident_problems()[k]
    _default_and_cold(None, None, M, eps=eps, tol=tol, max_iter=20_000)


def _gauss_problems():
    """The POT Gaussian histograms of docs/sinkhorn.md's table: (a, b, M, eps)."""
    n = 100
    a = pot.datasets.make_1D_gauss(n, m=20, s=5)
    b8, b10 = pot.datasets.make_1D_gauss(n, m=60, s=8), pot.datasets.make_1D_gauss(n, m=60, s=10)
    M0 = pot.utils.dist0(n)
    xs = np.arange(n, dtype=float)[:, None]
    out = [(a, b8, M0 / np.median(M0), 0.1)]
    out += [(a, b10, _sq(xs, xs) / (n - 1) ** 2, eps) for eps in (0.1, 1e-2, 1e-3)]
    out += [(a, b10, _sq(xs, xs), eps) for eps in (0.1, 1.0)]
    rng = np.random.default_rng(12345)
    x, y = rng.random((50, 2)), rng.random((50, 2))
    wa, wb = rng.random(50) + 0.1, rng.random(50) + 0.1
    out += [(wa / wa.sum(), wb / wb.sum(), _sq(x, y), eps) for eps in (1e-3, 1e-2)]
    return out


@pytest.mark.parametrize("k", range(8))
@pytest.mark.parametrize("tol", [1e-4, 1e-6])
def test_default_never_needs_more_iterations_than_a_cold_start(k, tol):
    # docs/sinkhorn.md, *Epsilon-scaling*: the first check_every iterations are a cold start;
    # it goes on cold unless its measured decay predicts more iterations than the annealing
    # takes, so the easy problems (cold start done at its first checks) cost no annealing
    a, b, M, eps = _gauss_problems()[k]
    _default_and_cold(a, b, M, eps=eps, tol=tol, max_iter=20_000)


@pytest.mark.parametrize("tol", [1e-4, 1e-5, 1e-6])
def test_default_beats_a_cold_start_on_90_uniform_points(tol):
    # docs/sinkhorn.md, *Epsilon-scaling*: the annealing left more error on the slowest mode
    # than a cold start does (1830 vs 1540 iterations at tol 1e-5, 5120 vs 4830 at 1e-6); the
    # tail extrapolation removes that mode's error once it dominates (720 and 1130 since)
    rng = np.random.default_rng(0)
    M = _sq(rng.random((90, 2)), rng.random((90, 2)))
    r, r0 = _default_and_cold(None, None, M, eps=3e-3, tol=tol, max_iter=20_000, backend="numpy")
    assert r.info["n_iter_scaling"] > 0
    assert r.value == pytest.approx(r0.value, rel=10 * tol)


def _close_call_problems():
    rng = np.random.default_rng(1)
    grid = np.array([[i, j] for i in range(5) for j in range(5)], dtype=float) / 4
    return [_sq(rng.random((30, 2)), rng.random((30, 2))), _sq(grid, grid + 0.06)]


@pytest.mark.parametrize("k", range(2))
@pytest.mark.parametrize("tol", [1e-5, 1e-6])
def test_a_close_call_of_the_probe_goes_on_cold(k, tol):
    # the probe predicted 16 / 27 more cold iterations against an annealing of 14 / 15: it
    # annealed and needed 44 / 45 iterations against 30 / 40 cold. Predictions below twice the
    # annealing's length now probe for another check_every first
    r = sinkhorn(None, None, _close_call_problems()[k], eps=0.1, tol=tol, backend="numpy")
    r0 = sinkhorn(None, None, _close_call_problems()[k], eps=0.1, tol=tol, backend="numpy", scaling=None)
    assert r.converged and r.n_iter <= r0.n_iter


def test_tail_extrapolation_jumps_to_the_limit_of_one_mode_and_undoes_a_bad_jump():
    from kantorovich.ot._sinkhorn import _extrapolate_tail

    # potentials (f*, g*) + A r^k v at three checks, errors A r^k: the jump lands on (f*, g*)
    fs, gs, v, r = np.array([1.0, -2.0]), np.array([0.5, 3.0]), np.array([1.0, -1.0]), 0.9
    tail, undo = [], None
    for k in range(3):
        f, g = fs + r ** k * v, gs - r ** k * v
        f, g, tail, undo, agree = _extrapolate_tail(f, g, r ** k, tail, undo, 0.01)
    np.testing.assert_allclose(f, fs, atol=1e-12)
    np.testing.assert_allclose(g, gs, atol=1e-12)
    assert undo is not None and agree == 0.01
    kept_f, kept_g = undo[0], undo[1]
    # an error at the next check not below r times the last one: back to the kept pair, and
    # the next jump needs ratios that agree twice as closely
    f, g, tail, undo, agree = _extrapolate_tail(f, g, r ** 2, tail, undo, 0.01)
    assert f is kept_f and g is kept_g and undo is None and tail == [] and agree == 0.005
    # ratios that disagree: no jump
    tail, undo = [], None
    for e in (1.0, 0.9, 0.7):
        f2, g2, tail, undo, _ = _extrapolate_tail(fs, gs, e, tail, undo, 0.01)
    assert undo is None and f2 is fs


def _slow_tail_problems():
    # docs/sinkhorn.md, *Epsilon-scaling*: error tails of several slow modes of nearly equal
    # rate, where the one-mode jump is undone again and again (90 x 90 points at eps 1e-3, tol
    # 1e-5: 7441 against 6540 cold before; 30 x 30 points at eps 1e-3, tol 1e-6: 13 711
    # against 8410)
    rng = np.random.default_rng(0)
    out = [(_sq(rng.random((90, 2)), rng.random((90, 2))), 1e-5)]
    rng = np.random.default_rng(1)
    return out + [(_sq(rng.random((30, 2)), rng.random((30, 2))), 1e-6)]


@pytest.mark.parametrize("k", range(2))
def test_default_beats_a_cold_start_on_tails_of_several_slow_modes(k):
    M, tol = _slow_tail_problems()[k]
    r, r0 = _default_and_cold(None, None, M, eps=1e-3, tol=tol, max_iter=20_000, backend="numpy")
    assert r.info["n_iter_scaling"] > 0
    assert r.value == pytest.approx(r0.value, rel=10 * tol)


def test_multi_mode_extrapolation_lands_on_the_limit_of_two_modes():
    from kantorovich.ot._sinkhorn import _MultiModeTail

    # potentials (f*, g*) + A r1^k v1 + B r2^k v2 at the checks, two rates a one-mode jump
    # cannot separate: six snapshots three checks apart give the limit (RRE is exact for up to
    # five modes); a worse error at the next check undoes the jump
    fs, gs = np.array([1.0, -2.0, 0.5]), np.array([0.5, 3.0, -1.0])
    v1, v2, r1, r2 = np.array([1.0, -1.0, 0.5, 0.2, 0.0, 1.0]), np.array([0.3, 0.4, -1.0, 1.0, 2.0, 0.1]), 0.97, 0.9
    multi, tail, undo, agree = _MultiModeTail(np), [], None, 1e-9
    for k in range(16):
        x = np.concatenate([fs, gs]) + r1 ** k * v1 + 2 * r2 ** k * v2
        f, g, tail, undo, agree = multi.check(x[:3], x[3:], r1 ** k + 2 * r2 ** k, tail, undo, agree)
        if undo is not None:
            break
    assert k == 15 and undo is not None
    np.testing.assert_allclose(f, fs, atol=1e-9)
    np.testing.assert_allclose(g, gs, atol=1e-9)
    kept_f, kept_g = undo[0], undo[1]
    f, g, tail, undo, agree = multi.check(f, g, 1.0, tail, undo, agree)
    assert f is kept_f and g is kept_g and undo is None and multi.wait == 1
    # float32 potentials stay float32 (the weights are computed in float64)
    multi, tail, undo = _MultiModeTail(np), [], None
    for k in range(16):
        x = (np.concatenate([fs, gs]) + r1 ** k * v1 + 2 * r2 ** k * v2).astype(np.float32)
        f, g, tail, undo, agree = multi.check(x[:3], x[3:], r1 ** k + 2 * r2 ** k, tail, undo, agree)
    assert undo is not None and f.dtype == g.dtype == np.float32
    # float32 rounding of the snapshots, amplified by the extrapolation: 3e-4 off (the last
    # snapshot was 0.6 off)
    np.testing.assert_allclose(f, fs, atol=1e-3)


def _isolated_pair_clouds():
    # docs/sinkhorn.md, *Epsilon-scaling*: 30 x 30 uniform points at eps 1e-3, where x_12 and
    # y_6 are matched to each other 0.31 apart, far from the rest of the plan: the annealing
    # left their relative potential about 10 eps off, and the error, exponential in that
    # offset, fell harmonically (9191 iterations to 1e-6 as a PointCloud, 6741 dense, 8410 cold)
    rng = np.random.default_rng(1)
    return rng.random((30, 2)), rng.random((30, 2))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("cloud", [False, True], ids=["dense", "PointCloud"])
@pytest.mark.parametrize("tol", [1e-5, 1e-6])
def test_default_beats_a_cold_start_on_an_isolated_pair(backend, cloud, tol):
    x, y = _isolated_pair_clouds()
    geom = PointCloud(x, y) if cloud else _sq(x, y)
    r, r0 = _default_and_cold(None, None, geom, eps=1e-3, tol=tol, max_iter=20_000, backend=backend)
    assert r.info["n_iter_scaling"] > 0
    assert r0.n_iter == {1e-5: 4730, 1e-6: 8410}[tol]
    if backend == "numpy":  # the numba row loops may round differently from one build to another
        assert r.n_iter == {(False, 1e-5): 3561, (True, 1e-5): 3951,
                            (False, 1e-6): 5337, (True, 1e-6): 5179}[cloud, tol]
    assert r.value == pytest.approx(r0.value, rel=10 * tol)


@pytest.mark.parametrize("start", [2 ** 0.1, 2 ** 0.6, 2.0])
def test_default_beats_a_cold_start_on_an_isolated_pair_from_any_start(monkeypatch, start):
    # the offset the annealing leaves depends on every level: with the schedule started at
    # 2^0.1, 2^0.6 or 2 times max C - min C the same problem needed 18 001, > 20 000 and
    # > 20 000 iterations to 1e-6 before the Newton step (cold: 8410)
    from kantorovich.ot import _sinkhorn as S

    schedule = S.eps_schedule
    monkeypatch.setattr(S, "eps_schedule", lambda d, eps, scaling: schedule(d * start, eps, scaling))
    x, y = _isolated_pair_clouds()
    r = sinkhorn(None, None, _sq(x, y), eps=1e-3, tol=1e-6, max_iter=20_000, backend="numpy")
    assert r.converged and r.info["eps_schedule"][0] == pytest.approx(start * r.info["diameter"])
    assert r.n_iter <= 8410


def _dense_softmins(M):
    from scipy.special import logsumexp

    def sx(eps, h):
        return -eps * logsumexp((h[None, :] - M) / eps, axis=1)

    def sy(eps, h):
        return -eps * logsumexp((h[:, None] - M) / eps, axis=0)
    return sx, sy


def test_newton_step_solves_the_newton_system_of_the_dual(rng):
    from kantorovich.ot._sinkhorn import _newton_step

    n, m, eps = 6, 5, 0.3
    M = rng.random((n, m))
    a, b = rng.random(n) + 0.5, rng.random(m) + 0.5
    a, b = a / a.sum(), b / b.sum()
    sx, sy = _dense_softmins(M)
    f, g = np.zeros(n), np.zeros(m)
    for _ in range(5):
        f = sx(eps, g + eps * np.log(b))
        g = sy(eps, f + eps * np.log(a))
    f = f + 0.01 * rng.normal(size=n)
    P = a[:, None] * b[None, :] * np.exp((f[:, None] + g[None, :] - M) / eps)
    H = np.block([[np.diag(P.sum(1)), P], [P.T, np.diag(P.sum(0))]])
    d = np.linalg.lstsq(H, eps * np.concatenate([a - P.sum(1), b - P.sum(0)]), rcond=None)[0]
    f1, g1, spent = _newton_step(np, sx, sy, a, b, np.log(a), np.log(b), f, g, eps, 1000)
    # the same step up to the flat direction (1, -1): the plans agree
    step = np.concatenate([f1 - f, g1 - g]) - d
    np.testing.assert_allclose(step[:n, None] + step[None, n:], 0.0, atol=1e-9)
    # full step (near the solution), at most n + m Hessian products, one sums, one trial
    assert 3 <= spent <= n + m + 2

    def err(f, g):
        return (np.abs(a - a * np.exp((f - sx(eps, g + eps * np.log(b))) / eps)).sum()
                + np.abs(b - b * np.exp((g - sy(eps, f + eps * np.log(a))) / eps)).sum())
    assert err(f1, g1) < 2 * err(f, g) ** 2 < 1e-3  # quadratic convergence
    # too few iterations left: nothing done
    assert _newton_step(np, sx, sy, a, b, np.log(a), np.log(b), f, g, eps, 6) is None


def test_a_fast_cold_start_is_the_default_run_bit_for_bit():
    M, eps = _coincident_problems()[0]
    for tol in (1e-4, 1e-6):
        r = sinkhorn(None, None, M, eps=eps, tol=tol)
        r0 = sinkhorn(None, None, M, eps=eps, tol=tol, scaling=None)
        assert r.n_iter == r0.n_iter == 10 and r.info["n_iter_scaling"] == 0
        assert r.value == r0.value and np.array_equal(r.f, r0.f) and np.array_equal(r.g, r0.g)
    # a slow cold start (870 iterations to 1e-6) switches to the annealing after its probe
    M, eps = _coincident_problems()[2]
    r = sinkhorn(None, None, M, eps=eps, tol=1e-6)
    assert r.info["n_iter_scaling"] == len(r.info["eps_schedule"]) and r.n_iter < 200


def test_eps_scaling_still_beats_a_cold_start_on_distinct_measures(rng):
    n = 100
    xs = np.arange(n, dtype=float)[:, None]
    a, b = pot.datasets.make_1D_gauss(n, m=20, s=5), pot.datasets.make_1D_gauss(n, m=60, s=10)
    for M, eps in ((_sq(xs, xs), 0.1), (_sq(xs, xs) / (n - 1) ** 2, 1e-3)):
        r = sinkhorn(a, b, M, eps=eps, tol=1e-6, max_iter=20_000)
        r0 = sinkhorn(a, b, M, eps=eps, tol=1e-6, max_iter=20_000, scaling=None)
        assert r.converged and r0.converged and r.n_iter < r0.n_iter


def test_sinkhorn_divergence_of_identical_inputs_is_zero():
    x = np.arange(10.0)[:, None]
    s = sinkhorn_divergence(None, None, PointCloud(x, x), eps=0.1)
    assert s.value == 0.0 and s.converged and s.info["identical_inputs"]
    M = _sq(x, x)
    w = np.linspace(1, 2, 10) / np.linspace(1, 2, 10).sum()
    s = sinkhorn_divergence(w, w.copy(), M, eps=0.1, M_aa=M, M_bb=M.copy())
    assert s.value == 0.0 and s.converged
    # nearly coincident (not identical) inputs converge and give S ~ 0 as well
    s = sinkhorn_divergence(None, None, PointCloud(x, x + 1e-9), eps=0.1)
    assert s.converged and abs(s.value) < 1e-12 * s.ot_ab.objective + 1e-15
    # the key is always there, as in a batch's info and as the docstring lists it (it was absent)
    assert s.info["identical_inputs"] is False


def test_sinkhorn_divergence_names_each_terms_backend(rng):
    # info["backend"] named the cross term's only, while `auto` may run the n x n term elsewhere
    x, y = rng.random((5, 2)), rng.random((400, 2))
    s = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.1)
    assert s.info["backends"] == {"ab": s.ot_ab.backend, "aa": s.ot_aa.backend, "bb": s.ot_bb.backend}
    assert s.info["backend"] == s.ot_ab.backend
    s = sinkhorn_divergence(None, None, PointCloud(x, x), eps=0.1)
    assert s.info["backends"] == dict.fromkeys(("ab", "aa", "bb"), s.ot_ab.backend)


def test_marginal_error_is_the_final_float_and_its_history_a_field_of_its_own(rng):
    # EMDResult.marginal_error is a float; SinkhornResult's was the history at the checks
    import pickle

    x, y, a, b = _problem(rng, n=6, m=5)
    r = sinkhorn(a, b, _sq(x, y), eps=0.1)
    assert isinstance(r.marginal_error, float) and len(r.marginal_error_history) >= 1
    assert r.marginal_error == r.marginal_error_history[-1] == r.to_dict()["marginal_error"]
    assert pickle.loads(pickle.dumps(r)).marginal_error == r.marginal_error
    with pytest.warns(DeprecationWarning, match="marginal_error_history"):
        assert r.marginal_error[-1] == r.marginal_error_history[-1]
    with pytest.warns(DeprecationWarning, match="marginal_error_history"):
        assert len(r.marginal_error) == len(r.marginal_error_history)
    with pytest.warns(DeprecationWarning, match="marginal_error_history"):
        assert list(r.marginal_error) == list(r.marginal_error_history)


def test_to_dict_of_a_lazy_plan_and_of_a_divergence_is_json(rng):
    import json

    x, y, a, b = _problem(rng, n=30, m=20)
    # a lazy plan has a shape and a dtype, and to_dict() raised AttributeError on its `size`
    r = sinkhorn(a, b, PointCloud(x, y), eps=0.1, plan=True)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["plan"] == {"shape": [30, 20], "dtype": "float64"}
    small = sinkhorn(a[:4] / a[:4].sum(), b[:3] / b[:3].sum(), PointCloud(x[:4], y[:3]), eps=0.1,
                     plan=True)
    assert small.to_dict()["plan"] == np.asarray(small.plan).ravel().tolist()
    # the three results of a divergence are summarised as dicts (they were their repr strings,
    # every potential printed)
    s = sinkhorn_divergence(a, b, PointCloud(x, y), eps=0.1)
    d = json.loads(json.dumps(s.to_dict(), allow_nan=False))
    for k in ("ot_ab", "ot_aa", "ot_bb"):
        assert d[k] == json.loads(json.dumps(getattr(s, k).to_dict()))
        assert d[k]["converged"] is True and d[k]["f"] == getattr(s, k).f.tolist()


def test_to_dict_of_torch_results_is_json(rng):
    # a torch tensor's `size` is a method: to_dict() raised TypeError ('<=' between a method
    # and an int) on every torch result, and np.asarray refuses a tensor that requires grad
    import json

    torch = pytest.importorskip("torch")
    x, y, a, b = _problem(rng, n=6, m=5)
    xt = torch.tensor(x, requires_grad=True)
    r = sinkhorn(None, None, PointCloud(xt, torch.tensor(y)), eps=0.1)
    assert r.value.requires_grad
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert d["value"] == r.value.item() and d["f"] == r.f.detach().tolist()
    big = sinkhorn(None, None, PointCloud(torch.tensor(_problem(rng, n=80, m=5)[0]), torch.tensor(y)),
                   eps=0.1)
    assert big.to_dict()["f"] == {"shape": [80], "dtype": "torch.float64"}
    s = sinkhorn_divergence(None, None, PointCloud(xt, torch.tensor(y)), eps=0.1)
    assert json.loads(json.dumps(s.to_dict()))["ot_aa"]["f"] == s.ot_aa.f.detach().tolist()


def test_non_converged_result_is_sensible_and_its_error_is_measured(rng):
    x, y, a, b = _problem(rng, n=5, m=4)
    M = _sq(x, y) + 0.38
    # 1, 3: inside the cold probe (checked at its last iteration); 12, 15: inside the eps
    # schedule after it, the error is measured again at the end
    for max_iter in (1, 3, 12, 15):
        with pytest.warns(ConvergenceWarning) as w:
            r = sinkhorn(a, b, M, eps=1e-3, max_iter=max_iter)
        assert "nan" not in str(w[0].message) and len(r.marginal_error_history) >= 1
        assert np.isfinite(r.marginal_error) and not r.converged
        # the probe's check (at its last iteration, or at iteration 10), then the error of the
        # pair returned after the final half-step
        assert len(r.marginal_error_history) == 2
        assert r.marginal_error_history[-1] == r.marginal_error
        assert M.min() <= r.value <= M.max()   # the rows of the plan sum to a
        with pytest.warns(ConvergenceWarning):
            P = sinkhorn(a, b, M, eps=1e-3, max_iter=max_iter, plan=True).plan
        np.testing.assert_allclose(P.sum(1), a, rtol=1e-12)
        # the reported error is the plan's: its rows' is 0, its columns' the rest (exponents
        # up to max M / eps ~ 2e3, so ~1e-12 relative rounding)
        assert r.marginal_error == pytest.approx(np.abs(P.sum(0) - b).sum(), rel=1e-9, abs=1e-15)
        assert r.value == pytest.approx((P * M).sum(), rel=1e-12)
        # a true dual value: below OT_eps
        ref = sinkhorn(a, b, M, eps=1e-3, tol=1e-12, max_iter=200_000)
        assert r.objective <= ref.objective + 1e-12


@pytest.mark.parametrize("scaling", [1 - 1e-16, np.nextafter(1.0, 0.0), 1 - 1e-9])
def test_eps_schedule_that_never_ends_is_refused(scaling):
    x = np.arange(3.0)
    with pytest.raises(ValueError, match="`scaling`"):
        sinkhorn(None, None, _sq(x[:, None], x[:, None]), eps=0.1, scaling=scaling)
    with pytest.raises(ValueError, match="`scaling`"):
        sinkhorn_divergence(None, None, PointCloud(x, x + 1), eps=0.1, scaling=scaling)
    sinkhorn(None, None, _sq(x[:, None], x[:, None]), eps=0.1, scaling=0.999)  # 4600 levels: fine


def test_extreme_warm_starts_and_eps_are_value_errors_naming_them(rng):
    M = np.array([[0.0, 1.0], [1.0, 0.0]])
    for kw, name in (({"g0": [1.7e308, 1.7e308]}, "`g0`"), ({"f0": [-1e306, 0.0]}, "`f0`")):
        with pytest.raises(ValueError, match=name):
            sinkhorn(None, None, M, eps=0.1, **kw)
    x, y, a, b = _problem(rng, n=5, m=4)
    with pytest.raises(ValueError, match="`eps`"):
        sinkhorn(a, b, _sq(x, y), eps=1e308)
    r = sinkhorn(None, None, M, eps=0.1, g0=[1e6, 1e6])  # a large but sane warm start is fine
    assert r.converged


@pytest.mark.parametrize("plan", ["no", "False", 1, None])
@pytest.mark.parametrize("batch", [False, True])
def test_plan_that_is_not_a_bool_is_a_type_error(plan, batch):
    # as `symmetric` and `progress`: plan="no" returned the plan, plan=None silently none
    M = np.eye(2)[None] if batch else np.eye(2)
    with pytest.raises(TypeError, match="`plan` must be a bool"):
        sinkhorn(None, None, M, eps=0.1, plan=plan)
    with pytest.raises(TypeError, match="`plan` must be a bool"):
        sinkhorn_divergence(None, None, M, eps=0.1, M_aa=M, M_bb=M, plan=plan)
    assert sinkhorn(None, None, M, eps=0.1, plan=np.bool_(True)).plan is not None


@pytest.mark.parametrize("bad", [[[1.0, 2.0], [3.0]], "ab", [1 + 2j, 0], [True, False], [object(), 1]])
def test_malformed_warm_start_is_a_type_error_naming_it(bad):
    with pytest.raises(TypeError, match="`f0`"):
        sinkhorn(None, None, np.eye(2), eps=0.1, f0=bad)


@pytest.mark.parametrize("bad", [np.array([[0, np.nan], [1, 0]]), np.array([[0, np.inf], [1, 0]]),
                                 np.zeros((0, 0)), 1.0, np.eye(2, dtype=bool), np.eye(2) + 0j,
                                 np.array([[object(), 1], [1, 0]]), [[0.0, 1.0], [1.0]],
                                 [["a", "b"], ["c", "d"]]])
@pytest.mark.parametrize("which", ["M_aa", "M_bb"])
def test_sinkhorn_divergence_errors_name_the_self_cost(bad, which):
    kw = {"M_aa": np.ones((2, 2)), "M_bb": np.ones((2, 2)), which: bad}
    with pytest.raises((ValueError, TypeError), match=f"`{which}`"):
        sinkhorn_divergence(None, None, np.ones((2, 2)), eps=0.1, **kw)


@pytest.mark.parametrize("eps", [1e12, 1e16, 1e20, 1e300])
def test_objective_stays_between_its_bounds_when_eps_dwarfs_the_costs(eps):
    # OT_eps lies in [<P, C>, <a x b, C>] = [0.5, 0.5] here; the dual form <a, f> + <b, g>
    # gave 0.50004, 0.2776, 5551 and 5.6e283 (its rounding is about eps * 2**-52)
    M = np.array([[0.0, 1.0], [1.0, 0.0]])
    r = sinkhorn([0.5, 0.5], [0.25, 0.75], M, eps=eps)
    assert r.converged and r.objective == pytest.approx(0.5, abs=1e-12)
    assert r.value == pytest.approx(0.5, abs=1e-12)


def test_objective_of_tiny_costs_is_within_its_bounds():
    M = np.array([[0.0, 1.0], [1.0, 0.0]]) * 1e-300
    r = sinkhorn([0.5, 0.5], [0.25, 0.75], M, eps=0.1, plan=True)
    assert r.value * (1 - 1e-12) <= r.objective <= 0.5e-300 * (1 + 1e-12)


@pytest.mark.parametrize("eps", [1e4, 1e6, 1e10, 1e14])
def test_sinkhorn_divergence_tends_to_the_energy_distance(rng, eps):
    # S_eps -> <a x b, C> - <a x a, C>/2 - <b x b, C>/2 as eps -> infinity (an MMD)
    x, y = rng.random((30, 2)), rng.random((20, 2)) + 0.3
    limit = _sq(x, y).mean() - 0.5 * _sq(x, x).mean() - 0.5 * _sq(y, y).mean()
    for geom, kw in ((PointCloud(x, y), {}), (_sq(x, y), {"M_aa": _sq(x, x), "M_bb": _sq(y, y)})):
        s = sinkhorn_divergence(None, None, geom, eps=eps, **kw)
        assert s.converged and s.value == pytest.approx(limit, rel=1e-4 if eps < 1e10 else 1e-9)


def test_wasserstein_sinkhorn_branch_converges_on_coincident_clouds():
    # the Sinkhorn branch of wasserstein runs sinkhorn's defaults: with the alternating
    # annealing it warned after 10 000 iterations here and returned 0.0131 (now 0.00904)
    from kantorovich.ot import wasserstein

    x = np.arange(10.0)[:, None]
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        v = wasserstein(x, x, p=2, method="sinkhorn", eps=0.1)
    r = sinkhorn(None, None, PointCloud(x, x), eps=0.1, tol=1e-9, scaling=None)
    assert r.converged
    assert v == pytest.approx(np.sqrt(r.value), rel=1e-4)


@pytest.mark.parametrize("batch", [False, True])
def test_sinkhorn_divergence_refuses_self_costs_beside_a_point_cloud(batch):
    # they were ignored: S came from the cloud's own |x - x'|^2 whatever M_aa held
    x, y = np.arange(4.0)[:, None], np.arange(3.0)[:, None] + 0.5
    pc = PointCloud(x[None], y[None]) if batch else PointCloud(x, y)
    M_aa = np.zeros((1, 4, 4) if batch else (4, 4))
    with pytest.raises(ValueError, match="`M_aa` must be None with a PointCloud"):
        sinkhorn_divergence(None, None, pc, eps=0.1, M_aa=M_aa)
    with pytest.raises(ValueError, match="`M_aa` and `M_bb` must be None"):
        sinkhorn_divergence(None, None, pc, eps=0.1, M_aa=M_aa, M_bb=M_aa)


def test_divergence_warm_start_applies_to_the_cross_term_only():
    # g0 has b's length (m = 20): it must not reach OT(a, a) (n = 10) or OT(b, b)
    x = np.arange(10.0)[:, None]
    y = np.arange(20.0)[:, None] / 2
    r = emd(None, None, (x - y.T) ** 2)
    cold = sinkhorn_divergence(None, None, PointCloud(x, y), eps=1.0, tol=1e-10)
    warm = sinkhorn_divergence(None, None, PointCloud(x, y), eps=1.0, tol=1e-10, f0=r.f, g0=r.g,
                               plan=True)
    assert warm.value == pytest.approx(cold.value, abs=1e-8)
    assert warm.ot_ab.plan is not None and warm.ot_aa.plan is None


def test_divergence_of_a_float32_cloud_solves_every_term_in_float32(rng):
    # the self terms' clouds were rebuilt without the dtype: OT(a, b) in float32 and OT(a, a),
    # OT(b, b) in float64, unlike the same divergence asked for with dtype=float32
    x, y = rng.random((30, 2)), rng.random((25, 2)) + 0.3
    s = sinkhorn_divergence(None, None, PointCloud(x, y, dtype=np.float32), eps=0.05)
    assert [r.info["dtype"] for r in (s.ot_ab, s.ot_aa, s.ot_bb)] == ["float32"] * 3
    ref = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.05, dtype=np.float32)
    assert s.value == ref.value


# ----------------------------------------------------------------------------- GPU float32 default
def test_float32_points_on_a_gpu_are_solved_in_float32_by_default(monkeypatch):
    """float32 CuPy (or torch CUDA) points: sinkhorn's default working dtype is float32 (the GPU
    kernels are float32 by design), while the geometry keeps float64 costs for the exact
    solvers; numpy float32 stays a float64 solve. The GPU is modelled by marking the arrays."""
    from kantorovich.ot import _geometry

    rng = np.random.default_rng(3)
    x32, y32 = rng.random((40, 2)).astype(np.float32), rng.random((30, 2)).astype(np.float32)
    gpu = {id(x32), id(y32)}
    assert not _geometry._gpu_float32(x32, y32)  # numpy data
    monkeypatch.setattr(_geometry, "is_cupy", lambda a: id(a) in gpu)
    assert _geometry._gpu_float32(x32, y32)
    assert not _geometry._gpu_float32(x32, y32.astype(np.float64))  # one float64 input: float64
    monkeypatch.undo()

    pc = PointCloud(x32, y32)
    assert pc.dtype == np.float64 and not pc.gpu_float32
    assert sinkhorn(None, None, pc, eps=0.05).info["dtype"] == "float64"
    pc.gpu_float32 = True  # what the geometry records for float32 CuPy points
    r = sinkhorn(None, None, pc, eps=0.05)
    assert r.info["dtype"] == "float32" and pc.dtype == np.float64
    assert sinkhorn(None, None, pc, eps=0.05, dtype=np.float64).info["dtype"] == "float64"
    dense = DenseGeometry(pc.cost_matrix())
    dense.gpu_float32 = True
    assert sinkhorn(None, None, dense, eps=0.05).info["dtype"] == "float32"



def test_a_bare_float32_gpu_cost_matrix_is_solved_in_float32_as_its_geometry(monkeypatch):
    """``sinkhorn(a, b, M)`` with float32 CuPy (or torch CUDA) costs solved in float64 where
    ``sinkhorn(a, b, DenseGeometry(M))`` solves in float32 (docs/arrays.md): the bare matrix's
    geometry did not record it. The GPU is modelled by marking the array, as above."""
    from kantorovich.ot import _geometry

    M = np.random.default_rng(4).random((30, 20)).astype(np.float32)
    monkeypatch.setattr(_geometry, "is_cupy", lambda a: a is M)
    bare, dense = _geometry.as_geometry(M), DenseGeometry(M)
    monkeypatch.undo()
    assert dense.gpu_float32 and bare.gpu_float32
    assert sinkhorn(None, None, bare, eps=0.05).info["dtype"] == "float32"
    assert not _geometry.as_geometry(M).gpu_float32  # numpy float32: the float64 solve


def test_float32_gpu_points_keep_their_float32_solve_in_derived_clouds():
    """A cloud derived from float32 GPU points (astype, to_device, a batch's problem, a cloud
    of its own points) solves in float32 by default, as PointCloud(x, y, dtype=float64) of
    those points does (the GPU modelled by setting gpu_float32, as above): astype(),
    to_device() and problem() dropped it, a float64 solve, and a batch's astype() had no
    gpu_float32 at all, an AttributeError at the batched GPU path's check."""
    rng = np.random.default_rng(3)
    x32, y32 = rng.random((12, 2)).astype(np.float32), rng.random((10, 2)).astype(np.float32)
    pc = PointCloud(x32, y32)
    pc.gpu_float32 = True
    for g in (pc.astype(np.float64), pc.astype(np.float32), pc.to_device("cpu"),
              pc.with_points(pc.x, pc.x)):
        assert g.gpu_float32
        assert sinkhorn(None, None, g, eps=0.05).info["dtype"] == "float32"
    batch = PointCloud(np.stack([x32, x32]), np.stack([y32, y32]))
    batch.gpu_float32 = True
    assert batch.astype(np.float64).gpu_float32 and batch.problem(1).gpu_float32
    assert sinkhorn(None, None, batch.problem(1), eps=0.05).info["dtype"] == "float32"
    dense = DenseGeometry(pc.cost_matrix())
    dense.gpu_float32 = True
    for g in (dense.astype(np.float64), dense.to_device("cpu")):
        assert sinkhorn(None, None, g, eps=0.05).info["dtype"] == "float32"

def test_weights_mass_tolerance_follows_their_dtype():
    """Weights normalised in float16 sum to 1 only to float16 rounding: sinkhorn accepts them
    as emd does (100 times the dtype's resolution), and still refuses unequal float64 masses."""
    g = np.random.default_rng(4)
    a = g.random(50)
    a16 = (a / a.sum()).astype(np.float16)
    b16 = np.full(50, 1 / 50, dtype=np.float16)
    assert abs(float(a16.astype(np.float64).sum()) - 1.0) > 1e-6
    M = g.random((50, 50))
    assert np.isfinite(sinkhorn(a16, b16, M, eps=0.1).value)
    assert np.isfinite(emd(a16, b16, M).value)
    with pytest.raises(ValueError, match=r"same total mass \(balanced OT; relative tolerance 1\.0e-06\)"):
        sinkhorn(a / a.sum(), np.full(50, 1.001 / 50), M, eps=0.1)


def test_newton_step_with_one_exact_marginal_and_n_not_m():
    """eps tiny and n != m: the dual Newton step's conjugate-gradient direction can have one
    half exactly zero; P v must then be zeros of the output's length (it was v's length, a
    broadcast error). The solve ends with a ConvergenceWarning, not a crash."""
    r = np.random.default_rng(2)
    x, y = r.normal(size=(6, 2)), r.normal(size=(5, 2)) + 0.5
    with pytest.warns(ConvergenceWarning):
        s = sinkhorn(None, None, PointCloud(x, y), eps=1e-4)
    assert np.isfinite(s.value) and s.f.shape == (6,) and s.g.shape == (5,)


def test_doctests():
    """The docstring examples (the API pages show them) run and print what they show."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module("kantorovich.ot._sinkhorn"))
    assert res.failed == 0 and res.attempted > 0
