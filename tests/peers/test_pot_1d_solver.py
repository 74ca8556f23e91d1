"""POT's 1-D solver tests on ``kantorovich.ot``.

Source: POT test/test_1d_solver.py (PythonOT/POT main, 2026). POT's ``ot.emd_1d`` /
``ot.emd2_1d`` map onto :func:`kantorovich.ot.wasserstein_1d_plan` and
:func:`kantorovich.ot.wasserstein_1d`; its ``ot.lp.wasserstein_1d`` returns W_p^p (batched
along the *first* axis), ours returns W_p (batched along leading axes), so the port compares
``ours ** p`` with POT computed in the test. ``ot.emd(a, b, M)`` maps onto
:func:`kantorovich.ot.emd`. POT's backend/device/dtype tests (torch, jax, tf) have no
counterpart: kantorovich is numpy/CuPy only and computes in float64.
"""

from __future__ import annotations

import numpy as np
import ot as pot
import pytest
from numpy.testing import assert_allclose
from scipy.stats import wasserstein_distance

from kantorovich.ot import emd, wasserstein_1d, wasserstein_1d_plan


def _data(weighted, n=20, m=30, seed=0):
    rng = np.random.RandomState(seed)
    u = rng.randn(n, 1)
    v = rng.randn(m, 1)
    if not weighted:
        return u, v, np.full(n, 1 / n), np.full(m, 1 / m)
    w_u = rng.uniform(0.0, 1.0, n)
    w_u = w_u / w_u.sum()
    w_v = rng.uniform(0.0, 1.0, m)
    w_v = w_v / w_v.sum()
    return u, v, w_u, w_v


@pytest.mark.parametrize("weighted", [True, False])
def test_emd_1d_emd2_1d(weighted):
    """test_1d_solver.py test_emd_1d_emd2_1d_with_weights and test_emd_1d_emd2_1d: the exact LP
    on the squared-Euclidean cost, the 1-D quantile formula (p = 2, squared) and POT agree; the
    p = 1 value equals scipy's; the plans are couplings."""
    u, v, w_u, w_v = _data(weighted)
    M = pot.dist(u, v, metric="sqeuclidean")
    r = emd(w_u, w_v, M)
    wass_pot = pot.emd2(w_u, w_v, M)
    r1d = wasserstein_1d_plan(u.ravel(), v.ravel(), w_u, w_v, p=2)
    assert_allclose(r.value, wass_pot, rtol=1e-7)
    assert_allclose(r1d.value ** 2, r.value, rtol=1e-7)
    assert_allclose(wasserstein_1d(u.ravel(), v.ravel(), w_u, w_v, p=2) ** 2, r.value, rtol=1e-7)
    assert_allclose(wasserstein_1d(u.ravel(), v.ravel(), w_u, w_v, p=1),
                    wasserstein_distance(u.ravel(), v.ravel(), w_u, w_v), rtol=1e-12)
    assert_allclose(wasserstein_1d(u.ravel(), v.ravel(), w_u, w_v, p=1),
                    pot.emd2_1d(u, v, w_u, w_v, metric="euclidean"), rtol=1e-12)
    G = r.plan
    assert_allclose(G.sum(1), w_u, atol=1e-12)
    assert_allclose(G.sum(0), w_v, atol=1e-12)
    G1 = r1d.plan.toarray()
    assert_allclose(G1.sum(1), w_u, atol=1e-12)
    assert_allclose(G1.sum(0), w_v, atol=1e-12)
    if not weighted:  # POT: "check G is similar" (unique optimum for distinct points)
        assert_allclose(G, G1, atol=1e-15)
        assert_allclose(G1, pot.emd_1d(u, v, [], [], metric="sqeuclidean"), atol=1e-15)


def test_emd_1d_rejects_bad_input():
    """test_1d_solver.py test_emd_1d_emd2_1d_with_weights (a non-Minkowski metric raises) and
    test_emd_1d_emd2_1d (2-D input raises): here p < 1 and 2-D points raise, naming the argument."""
    u, v, w_u, w_v = _data(True)
    with pytest.raises(ValueError, match="`p`"):
        wasserstein_1d(u.ravel(), v.ravel(), w_u, w_v, p=0.5)
    with pytest.raises(ValueError, match="`p`"):
        wasserstein_1d_plan(u.ravel(), v.ravel(), w_u, w_v, p=0.5)
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError, match="`u_values`"):
        wasserstein_1d_plan(rng.randn(20, 2), rng.randn(30, 2))


def _rho(n, seed=0):
    rng = np.random.RandomState(seed)
    rho_u = np.abs(rng.randn(n))
    rho_u /= rho_u.sum()
    rho_v = np.abs(rng.randn(n))
    rho_v /= rho_v.sum()
    return rho_u, rho_v


@pytest.mark.parametrize("p", [1, 1.5, 2, 3])
def test_wasserstein_1d(p):
    """test_1d_solver.py test_wasserstein_1d: against scipy (p = 1) and POT (any p; POT gives
    W_p^p), translation by 1 gives 1, and the batch of (x, 10 x) scales by 10 (W_p^p by 10^p)."""
    n = 100
    x = np.linspace(0, 5, n)
    rho_u, rho_v = _rho(n)
    ours = wasserstein_1d(x, x, rho_u, rho_v, p=p)
    assert_allclose(ours ** p, pot.wasserstein_1d(x, x, rho_u, rho_v, p=p), rtol=1e-10)
    if p == 1:
        np.testing.assert_almost_equal(ours, wasserstein_distance(x, x, rho_u, rho_v))
    np.testing.assert_almost_equal(wasserstein_1d(x, x + 1, p=p), 1.0)
    X = np.stack((np.linspace(0, 5, n), np.linspace(0, 5, n) * 10), -1)
    res = wasserstein_1d(X.T, X.T, rho_u, rho_v, p=p)     # our batch axis leads
    assert res.shape == (2,)
    np.testing.assert_almost_equal(10 * res[0], res[1], decimal=10)
    assert_allclose(res ** p, pot.wasserstein_1d(X, X, rho_u, rho_v, p=p), rtol=1e-10)


@pytest.mark.parametrize("p", [1, 2])
def test_emd1d_dual_with_weights(p):
    """test_1d_solver.py test_emd1d_dual_with_weights: the dual potentials of the 1-D solver give
    the LP cost, <a, f> + <b, g> = W_p^p = ot.emd cost (POT checks it with emd_1d_dual_backprop),
    and they are feasible."""
    u, v, w_u, w_v = _data(True)
    M = pot.dist(u, v, metric="sqeuclidean" if p == 2 else "euclidean")
    wass = emd(w_u, w_v, M).value
    r = wasserstein_1d_plan(u.ravel(), v.ravel(), w_u, w_v, p=p)
    assert_allclose(r.value ** p, wass, rtol=1e-9)
    assert_allclose(np.sum(r.f * w_u) + np.sum(r.g * w_v), wass, rtol=1e-9)
    assert (r.f[:, None] + r.g[None, :] - M).max() <= 1e-12 * M.max()


@pytest.mark.parametrize("seed", range(5))
def test_wasserstein_1d_plan(seed):
    """test_1d_solver.py test_wasserstein_1d_plan: the 1-D plan equals the LP plan (n = 10,
    m = 4, random weights, p = 2)."""
    rng = np.random.RandomState(seed)
    n, m, d = 10, 4, 1
    x = rng.randn(n, d)
    y = rng.randn(m, d)
    a = rng.uniform(0, 1, n)
    a /= a.sum()
    b = rng.uniform(0, 1, m)
    b /= b.sum()
    plan_1d = wasserstein_1d_plan(x.ravel(), y.ravel(), a, b, p=2).plan.toarray()
    assert_allclose(plan_1d, pot.emd(a, b, pot.dist(x, y)), atol=1e-05)
    assert_allclose(plan_1d, emd(a, b, pot.dist(x, y)).plan, atol=1e-05)
    _, plans = pot.wasserstein_1d(x, y, a, b, p=2, return_plans=True)
    assert_allclose(plan_1d, plans[0].toarray(), atol=1e-12)


@pytest.mark.parametrize("n, m", [(1, 1), (1, 7), (7, 1), (10, 10), (33, 17)])
@pytest.mark.parametrize("p", [1, 2])
def test_emd2_1d_sizes(n, m, p):
    """test_1d_solver.py test_emd_1d_emd2_1d_with_weights at other sizes: ot.emd2_1d with the
    Minkowski metric of order p (POT: metric='minkowski', p) equals our W_p^p."""
    rng = np.random.RandomState(n * 100 + m)
    u, v = rng.randn(n), rng.randn(m)
    a, b = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m)
    a, b = a / a.sum(), b / b.sum()
    ref = pot.emd2_1d(u, v, a, b, metric="sqeuclidean" if p == 2 else "euclidean")
    assert_allclose(wasserstein_1d(u, v, a, b, p=p) ** p, ref, rtol=1e-10, atol=1e-14)
