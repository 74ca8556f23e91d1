"""POT's sliced-Wasserstein tests on :func:`kantorovich.ot.sliced_wasserstein`,
:func:`~kantorovich.ot.max_sliced_wasserstein`, :func:`~kantorovich.ot.projected_wasserstein`
and :func:`~kantorovich.ot.random_directions`.

Source: POT test/test_sliced.py (PythonOT/POT at the parent of commit 394f3e19, the last version
before it moved to test/sliced/test_sliced_distances.py, which keeps the same cases plus
``test_max_sliced_dim_check``, ported here too). Conventions: POT's default order is p = 2, ours
p = 1, so p is always given; POT's projections are columns (d, L), ours rows (L, d); POT's
``seed`` is our ``rng``. The spherical, Stiefel and backend/device tests have no counterpart.
"""

from __future__ import annotations

import numpy as np
import ot as pot
import pytest
from numpy.testing import assert_allclose

from kantorovich.ot import (
    max_sliced_wasserstein,
    projected_wasserstein,
    random_directions,
    sliced_wasserstein,
    wasserstein,
)


def test_get_random_projections():
    """test_sliced.py test_get_random_projections: 50 directions in R^1000 have unit norm."""
    th = random_directions(50, 1000, rng=np.random.default_rng(0))
    assert th.shape == (50, 1000)
    np.testing.assert_almost_equal(np.sum(th ** 2, 1), 1.0)


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_same_dist(p):
    """test_sliced.py test_sliced_same_dist (and test_max_sliced_same_dist): 0 between a cloud
    and itself."""
    x = np.random.RandomState(0).randn(100, 2)
    u = pot.utils.unif(100)
    np.testing.assert_almost_equal(sliced_wasserstein(x, x, a=u, b=u, n_projections=10, p=p,
                                                      rng=0), 0.0)
    np.testing.assert_almost_equal(max_sliced_wasserstein(x, x, a=u, b=u, n_projections=10, p=p,
                                                          rng=0), 0.0)


@pytest.mark.parametrize("fn", [sliced_wasserstein, max_sliced_wasserstein])
def test_sliced_bad_shapes(fn):
    """test_sliced.py test_sliced_bad_shapes and test_max_sliced_dim_check: clouds of different
    dimensions raise ValueError."""
    rng = np.random.RandomState(0)
    with pytest.raises(ValueError):
        fn(rng.randn(100, 2), rng.randn(100, 4), n_projections=10, rng=0)
    with pytest.raises(ValueError):
        fn(np.zeros((3, 2)), np.zeros((4, 3)), n_projections=10)


def test_sliced_log():
    """test_sliced.py test_sliced_log: the per-projection values (POT's log 'projected_emds';
    ours projected_wasserstein on random_directions with the same rng) are positive, one per
    direction, and give the sliced value."""
    rng = np.random.RandomState(0)
    x, y = rng.randn(100, 4), rng.randn(100, 4)
    th = random_directions(10, 4, rng=3)
    w = projected_wasserstein(x, y, th, p=1)
    assert w.shape == (10,) and (w > 0).all()
    assert_allclose(sliced_wasserstein(x, y, n_projections=10, p=1, rng=3), w.mean(), rtol=1e-12)


@pytest.mark.parametrize("p", [1, 2])
def test_sliced_different_dists(p):
    """test_sliced.py test_sliced_different_dists / test_max_sliced_different_dists: > 0, and
    SW_p <= max-SW_p <= W_p."""
    rng = np.random.RandomState(0)
    x, y = rng.randn(100, 2), rng.randn(100, 2)
    sw = sliced_wasserstein(x, y, n_projections=10, p=p, rng=0)
    msw = max_sliced_wasserstein(x, y, n_projections=10, p=p, rng=0)
    assert 0 < sw <= msw + 1e-12
    assert msw <= wasserstein(x, y, p=p) + 1e-12


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_1d_sliced_equals_emd(p, seed):
    """test_sliced.py test_1d_sliced_equals_emd: in 1-D, SW_p is W_p (POT: res**2 equals
    ot.emd2_1d for p = 2), weighted against uniform, n = 100, m = 120."""
    rng = np.random.RandomState(seed)
    n, m = 100, 120
    x = rng.randn(n, 1)
    a = rng.uniform(0, 1, n)
    a /= a.sum()
    y = rng.randn(m, 1)
    u = pot.utils.unif(m)
    res = sliced_wasserstein(x, y, a=a, b=u, n_projections=10, p=p, rng=42)
    expected = pot.emd2_1d(x.squeeze(), y.squeeze(), a, u, metric="minkowski", p=p)
    np.testing.assert_almost_equal(res ** p, expected)
    if p == 2:
        assert_allclose(res ** 2, pot.sliced_wasserstein_distance(x, y, a, u, 10, seed=42) ** 2,
                        rtol=1e-10)


def test_sliced_same_proj():
    """test_sliced.py test_sliced_same_proj: the same seed gives the same directions and the
    same value, and passing those directions gives it again."""
    rng = np.random.RandomState(0)
    X, Y = rng.randn(8, 2), rng.randn(8, 2)
    c1 = sliced_wasserstein(X, Y, n_projections=10, p=2, rng=12)
    c2 = sliced_wasserstein(X, Y, n_projections=10, p=2, rng=12)
    assert c1 == c2
    th = random_directions(10, 2, rng=12)
    assert_allclose(np.sqrt(np.mean(projected_wasserstein(X, Y, th, p=2) ** 2)), c1, rtol=1e-12)


@pytest.mark.parametrize("p", [1, 2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_sliced_backend_given_projections(p, weighted):
    """test_sliced.py test_sliced_backend / test_max_sliced_backend: with the same 20 directions
    (POT's columns, our rows), n = 100 against 2n = 200 points, our values equal POT's:
    SW_p = (mean_l W_p^p)^(1/p), max-SW_p = max_l W_p; seeded calls are reproducible."""
    n = 100
    rng = np.random.RandomState(0)
    x, y = rng.randn(n, 2), rng.randn(2 * n, 2)
    P = rng.randn(2, 20)
    P = P / np.sqrt((P ** 2).sum(0, keepdims=True))
    a = rng.uniform(0.1, 1, n) if weighted else None
    b = rng.uniform(0.1, 1, 2 * n) if weighted else None
    an = None if a is None else a / a.sum()
    bn = None if b is None else b / b.sum()
    w = projected_wasserstein(x, y, P.T, p=p, a=a, b=b)
    sw_pot = pot.sliced_wasserstein_distance(x, y, an, bn, projections=P, p=p)
    msw_pot = pot.max_sliced_wasserstein_distance(x, y, an, bn, projections=P, p=p)
    assert_allclose(np.mean(w ** p) ** (1 / p), sw_pot, rtol=1e-10)
    assert_allclose(w.max(), msw_pot, rtol=1e-10)
    v1 = sliced_wasserstein(x, y, n_projections=20, p=p, a=a, b=b, rng=0)
    v2 = sliced_wasserstein(x, y, n_projections=20, p=p, a=a, b=b, rng=0)
    assert v1 > 0 and v1 == v2
    m1 = max_sliced_wasserstein(x, y, n_projections=20, p=p, a=a, b=b, rng=0)
    assert m1 > 0 and m1 == max_sliced_wasserstein(x, y, n_projections=20, p=p, a=a, b=b, rng=0)


def test_sliced_wasserstein_scaler():
    """test_sliced.py test_sliced_wasserstein_scaler_backend: POT standardises both clouds with a
    common DataScaler; the same affine map applied by hand gives our value equal to POT's."""
    rng = np.random.RandomState(0)
    Xs, Xt = rng.normal(0, 1, (60, 3)), rng.normal(2, 1, (60, 3))
    P = pot.sliced.get_random_projections(3, 50, seed=0)
    scaler = pot.utils.DataScaler(norm="standard").fit([Xs, Xt])
    ref = pot.sliced_wasserstein_distance(Xs, Xt, projections=P, scaler=scaler)
    Z = np.vstack([Xs, Xt])
    mu, sd = Z.mean(0), Z.std(0)
    w = projected_wasserstein((Xs - mu) / sd, (Xt - mu) / sd, P.T, p=2)
    assert_allclose(np.sqrt(np.mean(w ** 2)), ref, atol=1e-5)
