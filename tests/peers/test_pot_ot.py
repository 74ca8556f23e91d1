"""POT's exact-OT tests (``ot.emd`` / ``ot.emd2``) on :func:`kantorovich.ot.emd`.

Source: POT test/test_ot.py (PythonOT/POT main, 2026). ``ot.emd(a, b, M)`` returns the plan and
``ot.emd2`` the cost; :func:`kantorovich.ot.emd` returns both with the dual potentials and a
certificate (``EMDResult``). POT's empty weight lists ``[]`` are our ``None`` (uniform).
Barycenters, sparse costs, warm starts and the torch/jax/tf backend tests have no counterpart.
"""

from __future__ import annotations

import warnings

import numpy as np
import ot as pot
import pytest
from numpy.testing import assert_allclose
from ot.datasets import make_1D_gauss as gauss

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import emd, wasserstein_1d
from kantorovich.ot._emd import EMDCertificateError


def check_duality_gap(a, b, M, G, u, v, cost):
    """test_ot.py check_duality_gap: dual cost = primal cost, zero reduced cost on the arcs."""
    np.testing.assert_almost_equal(np.vdot(a, u) + np.vdot(b, v), cost)
    i, j = np.nonzero(G)
    np.testing.assert_array_almost_equal((M - u.reshape(-1, 1) - v.reshape(1, -1))[i, j],
                                         np.zeros(i.size))


def test_emd_dimension_and_mass_mismatch():
    """test_ot.py test_emd_dimension_and_mass_mismatch (POT raises AssertionError; we raise
    ValueError naming the argument)."""
    n = 100
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    M = pot.dist(x, x)
    a = pot.utils.unif(n + 1)
    with pytest.raises(ValueError, match="`a`"):
        emd(a, a, M)
    a = pot.utils.unif(n)
    b = a.copy()
    a[0] = 100
    with pytest.raises(ValueError, match="`a`|`b`|mass"):
        emd(a, b, M)


@pytest.mark.parametrize("weights", ["uniform", "none"])
@pytest.mark.parametrize("method", ["network_simplex", "highs"])
def test_emd_emd2(weights, method):
    """test_ot.py test_emd_emd2 and test_emd_empty: the plan between a cloud and itself is the
    identity / n and the cost is 0."""
    n = 100 if method == "network_simplex" else 30
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    u = pot.utils.unif(n)
    M = pot.dist(x, x)
    w = u if weights == "uniform" else None
    r = emd(w, w, M, method=method)
    assert_allclose(r.plan, np.eye(n) / n, atol=1e-15)
    assert_allclose(r.plan.sum(1), u)
    assert_allclose(r.plan.sum(0), u)
    assert_allclose(r.value, 0, atol=1e-15)
    assert r.certified


def test_emd_auction_identity():
    """test_ot.py test_emd_emd2 through the auction solver (square, uniform)."""
    n = 100
    x = np.random.RandomState(0).randn(n, 2)
    r = emd(None, None, pot.dist(x, x), method="auction")
    assert_allclose(r.plan, np.eye(n) / n, atol=1e-15)
    assert r.value == 0 and r.certified


def test_emd2_multi():
    """test_ot.py test_emd2_multi: one source histogram against five Gaussian targets (POT solves
    them in one call with a 2-D b); each target's cost equals POT's and has a zero duality gap."""
    n = 500
    x = np.arange(n, dtype=np.float64)
    a = gauss(n, m=20, s=5)
    ls = np.arange(20, 500, 100)
    b = np.stack([gauss(n, m=m, s=10) for m in ls], axis=1)
    M = pot.dist(x.reshape((n, 1)), x.reshape((n, 1)))
    emd_pot = pot.emd2(a, b, M)
    for i in range(len(ls)):
        r = emd(a, b[:, i], M, normalize=True)
        check_duality_gap(a, b[:, i], M, r.plan, r.f, r.g, r.value)
        assert_allclose(r.value, emd_pot[i], rtol=1e-7)
        assert r.certified and abs(r.duality_gap) <= 1e-9 * max(1, r.value)


def test_warnings():
    """test_ot.py test_warnings: stopping the network simplex after one pivot says so, naming
    the iteration limit (POT: a UserWarning naming numItermax). Ours: an EMDCertificateError
    when no feasible plan exists yet, else a ConvergenceWarning with certified=False; both name
    ``max_iter``."""
    n = m = 100
    x = np.arange(n, dtype=np.float64)
    y = np.arange(m, dtype=np.float64)
    a = gauss(n, m=30, s=5)
    b = gauss(m, m=50, s=10)
    M = pot.dist(x.reshape((-1, 1)), y.reshape((-1, 1))) ** 0.5
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        pot.emd(a, b, M, numItermax=1)
        assert "numItermax" in str(w[-1].message)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        try:
            r = emd(a, b, M, max_iter=1, normalize=True)
        except EMDCertificateError as exc:
            assert "max_iter" in str(exc)
        else:
            assert not r.certified
            assert any(issubclass(x.category, ConvergenceWarning) and "max_iter" in str(x.message)
                       for x in w)


def test_dual_variables():
    """test_ot.py test_dual_variables: Gaussian histograms (n = 500, m = 600, means 300 and 400)
    on |x - y|: the cost is |mean1 - mean2| (POT's closed-form check), equals the 1-D W_1,
    symmetric under swapping a and b, equal to the dual cost, and the duals are feasible."""
    n, m = 500, 600
    mean1, mean2 = 300, 400
    x = np.arange(n, dtype=np.float64)
    y = np.arange(m, dtype=np.float64)
    a = gauss(n, m=mean1, s=5)
    b = gauss(m, m=mean2, s=10)
    M = pot.dist(x.reshape((-1, 1)), y.reshape((-1, 1))) ** 0.5
    r = emd(a, b, M, normalize=True)
    r2 = emd(b, a, np.ascontiguousarray(M.T), normalize=True)
    cost1 = (r.plan * M).sum()
    np.testing.assert_array_almost_equal(cost1, (M * r2.plan.T).sum())
    np.testing.assert_almost_equal(cost1, np.abs(mean1 - mean2))
    np.testing.assert_almost_equal(cost1, r.value)
    np.testing.assert_almost_equal(r.value, wasserstein_1d(x, y, a, b), decimal=10)
    check_duality_gap(a, b, M, r.plan, r.f, r.g, r.value)
    assert (r.f[:, None] + r.g[None, :] - M).max() < 1e-8


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("n, m", [(5, 5), (20, 30), (60, 40)])
def test_emd_random_against_pot(seed, n, m):
    """test_ot.py test_emd_emd2 / test_dual_variables on random weighted clouds: the optimal cost
    equals ot.emd2, the plan is a coupling and the certificate holds."""
    rng = np.random.RandomState(seed)
    x, y = rng.randn(n, 2), rng.randn(m, 2) + 0.5
    a, b = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, m)
    a, b = a / a.sum(), b / b.sum()
    M = pot.dist(x, y)
    r = emd(a, b, M, normalize=True)
    assert_allclose(r.value, pot.emd2(a, b, M), rtol=1e-9)
    assert_allclose(r.plan.sum(1), a, atol=1e-12)
    assert_allclose(r.plan.sum(0), b, atol=1e-12)
    check_duality_gap(a, b, M, r.plan, r.f, r.g, r.value)
    assert r.certified


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_emd_emd2_types(dtype):
    """test_ot.py test_emd_emd2_types_devices (dtypes): float32 input gives the float64 optimum
    of the same problem to float32 rounding (POT's float32 ot.emd can stop as infeasible when
    the float32 totals differ; emd solves in float64, documented in its Notes)."""
    n = 100
    rng = np.random.RandomState(0)
    x, y = rng.randn(n, 2), rng.randn(n, 2)
    a, b = rng.uniform(0.1, 1, n), rng.uniform(0.1, 1, n)
    a, b = a / a.sum(), b / b.sum()
    M = pot.dist(x, y)
    ref = emd(a, b, M).value
    r = emd(a.astype(dtype), b.astype(dtype), M.astype(dtype), normalize=True)
    assert r.certified
    assert isinstance(r.value, float)
    assert_allclose(r.value, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert_allclose(r.value, pot.emd2(a, b, M), rtol=1e-5 if dtype == np.float32 else 1e-9)
