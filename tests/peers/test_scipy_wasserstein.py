"""scipy.stats.wasserstein_distance / wasserstein_distance_nd tests on ``kantorovich.ot``.

Source: scipy/stats/tests/test_stats.py, classes ``TestWassersteinDistance`` and
``TestWassersteinDistanceND`` (scipy main, 2026). scipy's 1-D function maps onto
:func:`kantorovich.ot.wasserstein_1d` (p = 1), its N-D one onto
:func:`kantorovich.ot.wasserstein` (p = 1, Euclidean ground cost).
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_equal
from scipy import stats

from kantorovich.ot import wasserstein, wasserstein_1d

# ---------------------------------------------------------------- TestWassersteinDistance (1-D)

@pytest.mark.parametrize("u, v, uw, vw, expected", [
    ([0, 1], [0], [1, 1], [1], 0.5),
    ([0, 1], [0], [3, 1], [1], 0.25),
    ([0, 2], [0], [1, 1], [1], 1.0),
    ([0, 1, 2], [1, 2, 3], None, None, 1.0),
])
def test_simple(u, v, uw, vw, expected):
    """test_stats.py TestWassersteinDistance.test_simple."""
    assert_allclose(wasserstein_1d(u, v, uw, vw), expected)
    assert_allclose(wasserstein_1d(u, v, uw, vw), stats.wasserstein_distance(u, v, uw, vw))


@pytest.mark.parametrize("u, v, uw, vw", [
    ([1, 2, 3], [2, 1, 3], None, None),
    ([1, 1, 1, 4], [4, 1], [1, 1, 1, 1], [1, 3]),
])
def test_same_distribution(u, v, uw, vw):
    """test_stats.py TestWassersteinDistance.test_same_distribution (exactly 0)."""
    assert_equal(wasserstein_1d(u, v, uw, vw), 0)


@pytest.mark.parametrize("u, v, uw, vw, expected", [
    ([0], [1], None, None, 1),
    ([-5], [5], None, None, 10),
    ([1, 2, 3, 4, 5], [11, 12, 13, 14, 15], None, None, 10),
    ([4.5, 6.7, 2.1], [4.6, 7, 9.2], [3, 1, 1], [1, 3, 1], 2.5),
])
def test_shift(u, v, uw, vw, expected):
    """test_stats.py TestWassersteinDistance.test_shift."""
    assert_allclose(wasserstein_1d(u, v, uw, vw), expected)


def test_combine_weights():
    """test_stats.py TestWassersteinDistance.test_combine_weights."""
    assert_allclose(
        wasserstein_1d([0, 0, 1, 1, 1, 1, 5], [0, 3, 3, 3, 3, 4, 4],
                       [1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]),
        wasserstein_1d([5, 0, 1], [0, 4, 3], [1, 2, 4], [1, 2, 4]))


def test_collapse():
    """test_stats.py TestWassersteinDistance.test_collapse."""
    u = np.arange(-10, 30, 0.3)
    v = np.zeros_like(u)
    assert_allclose(wasserstein_1d(u, v), np.mean(np.abs(u)))
    u_weights = np.arange(len(u))
    v_weights = u_weights[::-1]
    assert_allclose(wasserstein_1d(u, v, u_weights, v_weights),
                    np.average(np.abs(u), weights=u_weights))


def test_zero_weight():
    """test_stats.py TestWassersteinDistance.test_zero_weight."""
    assert_allclose(wasserstein_1d([1, 2, 100000], [1, 1], [1, 1, 0], [1, 1]),
                    wasserstein_1d([1, 2], [1, 1], [1, 1], [1, 1]))


@pytest.mark.parametrize("u, v", [
    ([1, 2, np.inf], [1, 1]),
    ([1, 2, np.inf], [-np.inf, 1]),
    ([1, -np.inf, np.inf], [1, 1]),
])
def test_inf_values(u, v):
    """test_stats.py TestWassersteinDistance.test_inf_values (the cases scipy gives inf)."""
    assert_equal(wasserstein_1d(u, v), np.inf)
    assert_equal(stats.wasserstein_distance(u, v), np.inf)


def test_inf_values_undefined_in_scipy():
    """test_stats.py TestWassersteinDistance.test_inf_values, last case: scipy returns NaN with a
    RuntimeWarning for ``([1, 2, inf], [inf, 1])``; the integral of |F_u - F_v| is +inf there (a
    sixth of the mass travels from 2 to +inf), which is what kantorovich returns (documented in
    ``wasserstein_1d``'s Notes)."""
    with pytest.warns(RuntimeWarning, match="invalid value"):
        assert np.isnan(stats.wasserstein_distance([1, 2, np.inf], [np.inf, 1]))
    assert_equal(wasserstein_1d([1, 2, np.inf], [np.inf, 1]), np.inf)


# ------------------------------------------------------------ TestWassersteinDistanceND (N-D)

def test_published_values():
    """test_stats.py TestWassersteinDistanceND.test_published_values (McCaffrey's example)."""
    u = [(1, 1)] * 10 + [(4, 2), (6, 1), (6, 1)]
    v = [(2, 1), (2, 1), (3, 2), (3, 2), (3, 2)] + [(5, 1)] * 7 + [(7, 1)]
    flow = np.array([2., 3., 5., 1., 1., 1.])
    dist = np.array([1.00, 5**0.5, 4.00, 2**0.5, 1.00, 1.00])
    ref = np.sum(flow * dist) / np.sum(flow)
    assert_allclose(wasserstein(np.array(u, float), np.array(v, float)), ref)
    assert_allclose(stats.wasserstein_distance_nd(u, v), ref)


@pytest.mark.parametrize("n_value", (4, 15, 35))
@pytest.mark.parametrize("ndim", (3, 4, 7))
@pytest.mark.parametrize("max_repeats", (5, 10))
def test_same_distribution_nD(ndim, n_value, max_repeats):
    """test_stats.py TestWassersteinDistanceND.test_same_distribution_nD."""
    rng = np.random.default_rng(363836384995579937222333)
    repeats = rng.integers(1, max_repeats, size=n_value, dtype=int)
    u_values = rng.random(size=(n_value, ndim))
    v_values = np.repeat(u_values, repeats, axis=0)
    v_weights = rng.random(np.sum(repeats))
    range_repeat = np.repeat(np.arange(len(repeats)), repeats)
    u_weights = np.bincount(range_repeat, weights=v_weights)
    index = rng.permutation(len(v_weights))
    v_values, v_weights = v_values[index], v_weights[index]
    assert_allclose(wasserstein(u_values, v_values, u_weights, v_weights), 0, atol=1e-15)


@pytest.mark.parametrize("nu", (8, 9, 38))
@pytest.mark.parametrize("nv", (8, 12, 17))
@pytest.mark.parametrize("ndim", (3, 5, 23))
def test_collapse_nD(nu, nv, ndim):
    """test_stats.py TestWassersteinDistanceND.test_collapse_nD."""
    rng = np.random.default_rng(38573488467338826109)
    u_values = rng.random(size=(nu, ndim))
    v_values = np.zeros((nv, ndim))
    u_weights = rng.random(size=nu)
    v_weights = rng.random(size=nv)
    ref = np.average(np.linalg.norm(u_values, axis=1), weights=u_weights)
    assert_allclose(wasserstein(u_values, v_values, u_weights, v_weights), ref)


@pytest.mark.parametrize("nu", (8, 16, 32))
@pytest.mark.parametrize("nv", (8, 16, 32))
@pytest.mark.parametrize("ndim", (1, 2, 6))
def test_zero_weight_nD(nu, nv, ndim):
    """test_stats.py TestWassersteinDistanceND.test_zero_weight_nD."""
    rng = np.random.default_rng(38573488467338826109)
    u_values = rng.random(size=(nu, ndim))
    v_values = rng.random(size=(nv, ndim))
    u_weights = rng.random(size=nu)
    v_weights = rng.random(size=nv)
    ref = wasserstein(u_values, v_values, u_weights, v_weights)
    assert_allclose(ref, stats.wasserstein_distance_nd(u_values, v_values, u_weights, v_weights))
    add_row, nrows = rng.integers(0, nu, size=2)
    add_value = rng.random(size=(nrows, ndim))
    u_values = np.insert(u_values, add_row, add_value, axis=0)
    u_weights = np.insert(u_weights, add_row, np.zeros(nrows), axis=0)
    assert_allclose(wasserstein(u_values, v_values, u_weights, v_weights), ref)


def test_inf_values_nD():
    """test_stats.py TestWassersteinDistanceND.test_inf_values: scipy returns inf (or NaN with a
    RuntimeWarning); kantorovich's point-cloud ``wasserstein`` rejects non-finite coordinates at
    once (documented under Raises), naming the argument."""
    with pytest.raises(ValueError, match="`y`"):
        wasserstein(np.array([[1., 1], [2, 1]]), np.array([[np.inf, -np.inf]]), [1, 1])
    with pytest.raises(ValueError, match="`x`"):
        wasserstein(np.array([[np.inf, np.inf]]), np.array([[np.inf, -np.inf]]))


@pytest.mark.parametrize("nu", (10, 15, 20))
@pytest.mark.parametrize("nv", (10, 15, 20))
@pytest.mark.parametrize("ndim", (1, 3, 5))
def test_multi_dim_nD(nu, nv, ndim):
    """test_stats.py TestWassersteinDistanceND.test_multi_dim_nD."""
    rng = np.random.default_rng(2736495738494849509)
    u_values = rng.random(size=(nu, ndim))
    v_values = rng.random(size=(nv, ndim))
    u_weights = rng.random(size=nu)
    v_weights = rng.random(size=nv)
    ref = wasserstein(u_values, v_values, u_weights, v_weights)
    add_dim = rng.integers(0, ndim)
    add_value = rng.random()
    u_values = np.insert(u_values, add_dim, add_value, axis=1)
    v_values = np.insert(v_values, add_dim, add_value, axis=1)
    assert_allclose(wasserstein(u_values, v_values, u_weights, v_weights), ref)


@pytest.mark.parametrize("nu", (7, 13, 19))
@pytest.mark.parametrize("nv", (7, 13, 19))
@pytest.mark.parametrize("ndim", (2, 4, 7))
def test_orthogonal_nD(nu, nv, ndim):
    """test_stats.py TestWassersteinDistanceND.test_orthogonal_nD."""
    rng = np.random.default_rng(34746837464536)
    u_values = rng.random(size=(nu, ndim))
    v_values = rng.random(size=(nv, ndim))
    u_weights = rng.random(size=nu)
    v_weights = rng.random(size=nv)
    ref = wasserstein(u_values, v_values, u_weights, v_weights)
    transform = stats.ortho_group(ndim).rvs(random_state=rng)
    shift = rng.random(size=ndim)
    res = wasserstein(u_values @ transform + shift, v_values @ transform + shift,
                      u_weights, v_weights)
    assert_allclose(res, ref)


def test_error_code():
    """test_stats.py TestWassersteinDistanceND.test_error_code: 3-D input and mismatched
    dimensions are rejected (kantorovich reads 1-D input as d = 1, so scipy's third case,
    (2, 10) against (2, 2), is a dimension mismatch here too)."""
    rng = np.random.default_rng(52473644737485644836320101)
    with pytest.raises(ValueError):
        wasserstein(rng.random(size=(4, 10, 15)), rng.random(size=(6, 2, 7)))
    with pytest.raises(ValueError):
        wasserstein(rng.random(size=(15,)), rng.random(size=(3, 15)))
    with pytest.raises(ValueError):
        wasserstein(rng.random(size=(2, 10)), rng.random(size=(2, 2)))


@pytest.mark.parametrize("u_size", [1, 10, 50])
@pytest.mark.parametrize("v_size", [1, 10, 50])
def test_optimization_vs_analytical(u_size, v_size):
    """test_stats.py TestWassersteinDistanceND.test_optimization_vs_analytical: the LP on (n, 1)
    points, the 1-D formula on flat input and scipy's 1-D function agree."""
    rng = np.random.default_rng(45634745675)
    u_values = rng.random(size=(u_size, 1))
    v_values = rng.random(size=(v_size, 1))
    uf, vf = u_values.ravel(), v_values.ravel()
    d1 = stats.wasserstein_distance(uf, vf)
    assert_allclose(wasserstein(u_values, v_values, method="exact"), d1)
    assert_allclose(wasserstein(uf, vf), d1)
    assert_allclose(wasserstein_1d(uf, vf), d1)
    u_weights = rng.random(size=u_size)
    v_weights = rng.random(size=v_size)
    d1 = stats.wasserstein_distance(uf, vf, u_weights, v_weights)
    assert_allclose(wasserstein(u_values, v_values, u_weights, v_weights, method="exact"), d1)
    assert_allclose(wasserstein(uf, vf, u_weights, v_weights), d1)
    assert_allclose(wasserstein_1d(uf, vf, u_weights, v_weights), d1)
