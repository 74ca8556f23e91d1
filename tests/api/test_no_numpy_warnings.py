"""Results that are right at the edge of the float range come without numpy RuntimeWarnings
(an overflow that gives the correctly rounded answer is not the caller's concern)."""

import warnings

import numpy as np
import pytest

from kantorovich.divergences import gan_value, js_from_discriminator
from kantorovich.families import GaussianPair


@pytest.fixture(autouse=True)
def _runtime_warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def test_gan_value_overflowing_weights_is_minus_inf():
    # every term of V is <= 0 and their sum is about -2.2e308: -inf is the rounded value
    p, q = np.array([0.2, 0.8]), np.array([0.5, 0.5])
    D = p / (p + q)
    assert gan_value(D, p, q, weights=1.7e308) == -np.inf
    assert js_from_discriminator(D, p, q, weights=1.7e308) == -np.inf
    v = gan_value(D, p, q, weights=1e308)  # about -1.28e308: still finite
    assert np.isfinite(v) and v == pytest.approx(1e308 * gan_value(D, p, q, weights=1.0), rel=1e-12)


def test_gaussian_tv_far_means_is_one():
    # Mahalanobis distance 1e200: TV = 2 Phi(delta / 2) - 1 = 1 to double precision
    g = GaussianPair(np.array([1e200, 0.0]), np.eye(2), np.zeros(2), np.eye(2))
    assert g.tv() == 1.0
    assert GaussianPair(np.array([3.0, 0.0]), np.eye(2), np.zeros(2), np.eye(2)).tv() == pytest.approx(
        0.8663855974622838, rel=1e-12)
