"""scipy.stats.entropy tests on :func:`kantorovich.divergences.kl_divergence`.

Source: scipy/stats/tests/test_entropy.py, class ``TestEntropy`` (scipy main, 2026).
``entropy(pk, qk)`` is KL(pk‖qk) along axis 0 (scipy's default), ``kl_divergence`` works along
the last axis, so scipy's 2-D cases compare with the transposes. kantorovich has no Shannon
entropy function; ``entropy(pk)`` is checked through H(p) = log n − KL(p‖uniform).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from kantorovich.divergences import kl_divergence


def _shannon(pk, axis=-1):
    pk = np.moveaxis(np.asarray(pk, float), axis, -1)
    n = pk.shape[-1]
    return math.log(n) - kl_divergence(pk, np.ones(n))


def test_entropy_positive():
    """test_entropy.py TestEntropy.test_entropy_positive."""
    pk = [0.5, 0.2, 0.3]
    qk = [0.1, 0.25, 0.65]
    assert_allclose(kl_divergence(pk, pk), 0.0, atol=1e-16)
    assert kl_divergence(pk, qk) > 0
    assert_allclose(kl_divergence(pk, qk), stats.entropy(pk, qk), rtol=1e-14)


def test_entropy_base():
    """test_entropy.py TestEntropy.test_entropy_base."""
    pk = np.ones(16)
    assert abs(_shannon(pk) / math.log(2) - 4.0) < 1e-5
    qk = np.where(np.arange(16) < 8, 2.0, 1.0)
    S = kl_divergence(pk, qk)
    S2 = kl_divergence(pk, qk, base=2.0)
    assert abs(S / S2 - math.log(2.0)) < 1e-5
    assert_allclose(S2, stats.entropy(pk, qk, base=2.0), rtol=1e-13)


def test_entropy_zero():
    """test_entropy.py TestEntropy.test_entropy_zero (a zero entry of pk contributes 0)."""
    assert_allclose(_shannon([0.0, 1.0, 2.0]), 0.63651416829481278, rtol=1e-12)


PK = np.array([[0.1, 0.2], [0.6, 0.3], [0.3, 0.5]])
QK = np.array([[0.2, 0.1], [0.3, 0.6], [0.5, 0.3]])


def test_entropy_2d():
    """test_entropy.py TestEntropy.test_entropy_2d (scipy's axis 0 = our last axis of .T)."""
    assert_allclose(kl_divergence(PK.T, QK.T), [0.1933259, 0.18609809], rtol=1e-6)
    assert_allclose(kl_divergence(PK.T, QK.T), stats.entropy(PK, QK), rtol=1e-13)


def test_entropy_2d_zero():
    """test_entropy.py TestEntropy.test_entropy_2d_zero (p > 0 = q gives inf)."""
    qk = np.array([[0.0, 0.1], [0.3, 0.6], [0.5, 0.3]])
    assert_allclose(kl_divergence(PK.T, qk.T), [np.inf, 0.18609809], rtol=1e-6)
    pk = np.array([[0.0, 0.2], [0.6, 0.3], [0.3, 0.5]])
    assert_allclose(kl_divergence(pk.T, qk.T), [0.17403988, 0.18609809], rtol=1e-6)
    assert_allclose(kl_divergence(pk.T, qk.T), stats.entropy(pk, qk), rtol=1e-13)


def test_entropy_base_2d_nondefault_axis():
    """test_entropy.py TestEntropy.test_entropy_base_2d_nondefault_axis (Shannon, axis 1)."""
    assert_allclose(_shannon(PK, axis=1), [0.63651417, 0.63651417, 0.66156324], rtol=1e-7)


def test_entropy_2d_nondefault_axis():
    """test_entropy.py TestEntropy.test_entropy_2d_nondefault_axis (axis=1 = our default)."""
    assert_allclose(kl_divergence(PK, QK), [0.23104906, 0.23104906, 0.12770641], rtol=1e-7)
    assert_allclose(kl_divergence(PK, QK), stats.entropy(PK, QK, axis=1), rtol=1e-13)


def test_entropy_raises_value_error():
    """test_entropy.py TestEntropy.test_entropy_raises_value_error (shapes do not broadcast)."""
    with pytest.raises(ValueError):
        kl_divergence(PK.T, np.array([[0.1, 0.2], [0.6, 0.3]]).T)


def test_entropy_transposed():
    """test_entropy.py TestEntropy.test_entropy_transposed / test_base_entropy_transposed."""
    assert_allclose(kl_divergence(PK.T.T, QK.T.T), stats.entropy(PK.T, QK.T), rtol=1e-13)
    assert_allclose(_shannon(PK.T, axis=0), stats.entropy(PK.T), rtol=1e-13)


def test_entropy_broadcasting():
    """test_entropy.py TestEntropy.test_entropy_broadcasting: (3,) against (2, ...) gives one
    value per row of y. Only leading (batch) axes broadcast in kantorovich (documented: the bin
    axis of p and q must agree), so scipy's (2, 1) y is spelled out as its (2, 3) broadcast, and a
    one-bin q against three bins is an error naming both arguments."""
    rng = np.random.default_rng(74187315492831452)
    x = rng.random(3)
    y = rng.random((2, 1))
    yb = np.broadcast_to(y, (2, 3))
    res = kl_divergence(x, yb)
    assert res.shape == (2,)
    assert_allclose(res[0], kl_divergence(x, yb[0]))
    assert_allclose(res[1], kl_divergence(x, yb[1]))
    assert_allclose(res, stats.entropy(x, y, axis=-1), rtol=1e-13)
    with pytest.raises(ValueError, match="`p` and `q`"):
        kl_divergence(x, y)


def test_entropy_shape_mismatch():
    """test_entropy.py TestEntropy.test_entropy_shape_mismatch."""
    with pytest.raises(ValueError):
        kl_divergence(np.ones((10, 1, 12)), np.ones((11, 2)))


@pytest.mark.parametrize("base", [-2, 0, 1, np.nan, np.inf, -np.inf])
def test_input_validation(base):
    """test_entropy.py TestEntropy.test_input_validation: a bad ``base`` raises, naming it
    (scipy: "`base` must be a positive number."; base 1 has no logarithm either)."""
    with pytest.raises(ValueError, match="`base`"):
        kl_divergence(np.ones(10), np.ones(10), base=base)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("base", [None, 2.0, 10.0])
def test_random_pmfs_match_scipy(seed, base):
    """test_entropy.py TestEntropy (random inputs in the spirit of test_entropy_broadcasting):
    unnormalised random masses, both normalised internally."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    p, q = rng.random(n), rng.random(n)
    p[rng.random(n) < 0.2] = 0.0
    p[0] = max(p[0], 1e-3)
    assert_allclose(kl_divergence(p, q, base=base), stats.entropy(p, q, base=base), rtol=1e-12,
                    atol=1e-15)
