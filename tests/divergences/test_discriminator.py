"""Optimal discriminator and GAN value: C3-C7 on histograms and densities."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from scipy.stats import norm

from kantorovich.divergences._discriminator import (
    _argmax_a_log_y_b_log_1my,
    gan_value,
    js_from_discriminator,
    optimal_discriminator,
)
from kantorovich.divergences._exact import js_divergence
from kantorovich.families import GaussianPair

from ..strategies import pmf_pairs

LOG4 = math.log(4.0)


# ----------------------------------------------------------------------------- C3
@pytest.mark.parametrize("a, b", [(1.0, 1.0), (1.0, 3.0), (0.2, 5.0), (7.0, 0.01)])
def test_c3_argmax_matches_numeric(a, b):
    y = _argmax_a_log_y_b_log_1my(a, b)
    assert y == a / (a + b) and isinstance(y, float)
    res = minimize_scalar(lambda t: -(a * math.log(t) + b * math.log1p(-t)), bounds=(1e-12, 1 - 1e-12),
                          method="bounded", options={"xatol": 1e-12})
    assert y == pytest.approx(res.x, abs=1e-7)


def test_c3_edges_and_arrays():
    assert _argmax_a_log_y_b_log_1my(2.0, 0.0) == 1.0
    assert _argmax_a_log_y_b_log_1my(0.0, 2.0) == 0.0
    out = _argmax_a_log_y_b_log_1my(np.array([1.0, 2.0]), 2.0)
    assert out.tolist() == [1 / 3, 0.5]
    with pytest.raises(ValueError, match="both be 0"):
        _argmax_a_log_y_b_log_1my(0.0, 0.0)
    with pytest.raises(ValueError, match="`a`"):
        _argmax_a_log_y_b_log_1my(-1.0, 1.0)
    with pytest.raises(ValueError, match="`b`"):
        _argmax_a_log_y_b_log_1my(1.0, np.nan)
    with pytest.raises(TypeError, match="`a`"):
        _argmax_a_log_y_b_log_1my("x", 1.0)


# ----------------------------------------------------------------------------- C4, C5, C7
@given(pmf_pairs(n_bins=st.integers(1, 12)))
def test_c5_value_identity(pq):
    p, q = pq
    D = optimal_discriminator(p, q)
    v = gan_value(D, p, q)
    js = js_divergence(p, q)
    assert v == pytest.approx(-LOG4 + 2 * js, abs=1e-12)
    assert v >= -LOG4 - 1e-12
    assert js_from_discriminator(D, p, q) == pytest.approx(js, abs=1e-12)


def test_c5_equality_iff_same():
    p = np.array([0.2, 0.3, 0.5])
    assert gan_value(optimal_discriminator(p, p), p, p) == pytest.approx(-LOG4, abs=1e-15)
    q = np.array([0.3, 0.2, 0.5])
    assert gan_value(optimal_discriminator(p, q), p, q) > -LOG4 + 1e-3


@given(pmf_pairs(n_bins=st.integers(1, 10), allow_zeros=False), st.integers(0, 2**32 - 1))
def test_c4_c7_dstar_beats_any_d_and_bound_holds(pq, seed):
    p, q = pq
    rng = np.random.default_rng(seed)
    Dstar = optimal_discriminator(p, q)
    vstar = gan_value(Dstar, p, q)
    js = js_divergence(p, q)
    for _ in range(5):
        D = np.clip(Dstar + 0.3 * rng.standard_normal(p.shape), 1e-6, 1 - 1e-6)
        assert gan_value(D, p, q) <= vstar + 1e-12
        assert js_from_discriminator(D, p, q) <= js + 1e-12


def test_c4_pointwise_is_c3():
    p, q = np.array([0.1, 0.6, 0.3]), np.array([0.5, 0.25, 0.25])
    assert np.allclose(optimal_discriminator(p, q), _argmax_a_log_y_b_log_1my(p, q), rtol=0, atol=0)


def test_c6_label_smoothing():
    # smoothed objective E_data[a log D + (1-a) log(1-D)] + E_g[b log D + (1-b) log(1-D)]
    # is a' log D + b' log(1-D) pointwise with a' = a p + b q, b' = (1-a) p + (1-b) q
    p, q = np.array([0.1, 0.6, 0.3, 0.0]), np.array([0.5, 0.25, 0.0, 0.25])
    for alpha, beta in [(0.9, 0.0), (0.8, 0.1), (1.0, 0.0)]:
        D = optimal_discriminator(p, q, alpha=alpha, beta=beta)
        s = p + q
        ok = s > 0
        assert np.allclose(D[ok], _argmax_a_log_y_b_log_1my(alpha * p[ok] + beta * q[ok],
                                                          (1 - alpha) * p[ok] + (1 - beta) * q[ok]))
    D = optimal_discriminator(p, q, alpha=0.9)
    assert D.max() <= 0.9 and D[2] == 0.9  # p_g = 0: the smoothed target, not 1


def test_both_zero_gives_midpoint():
    D = optimal_discriminator([0.0, 1.0], [0.0, 1.0])
    assert D.tolist() == [0.5, 0.5]
    assert optimal_discriminator([0.0], [0.0], alpha=0.9, beta=0.1).tolist() == [0.5]
    assert optimal_discriminator([0.0], [0.0], alpha=0.8).tolist() == [0.4]


def test_densities_on_a_grid_match_gaussian_js():
    # N(0, 1) vs N(1.5, 0.7^2): D* on a grid, V(D*) by the trapezoid-like rule with weights
    fam = GaussianPair(0.0, 1.0, 1.5, 0.49)
    x = np.linspace(-7.0, 7.0, 40001)
    w = np.full_like(x, x[1] - x[0])
    w[[0, -1]] *= 0.5
    pd, pg = norm.pdf(x, 0, 1), norm.pdf(x, 1.5, 0.7)
    D = optimal_discriminator(pd, pg)
    v = gan_value(D, pd, pg, weights=w)
    assert v == pytest.approx(-LOG4 + 2 * fam.js(), abs=1e-7)
    assert js_from_discriminator(D, pd, pg, weights=w) == pytest.approx(fam.js(), abs=1e-7)
    # any other D gives less
    assert gan_value(np.full_like(x, 0.5), pd, pg, weights=w) < v
    assert js_from_discriminator(np.full_like(x, 0.5), pd, pg, weights=w) == pytest.approx(0.0, abs=1e-6)


def test_disjoint_supports():
    p, q = [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.3, 0.7]
    D = optimal_discriminator(p, q)
    assert D.tolist() == [1.0, 1.0, 0.0, 0.0]
    assert gan_value(D, p, q) == 0.0  # = -log 4 + 2 log 2
    assert js_from_discriminator(D, p, q) == pytest.approx(math.log(2), abs=1e-15)
    # a D that is 0 where data has mass: -inf, honestly
    assert gan_value([0.0, 1.0, 0.0, 0.0], p, q) == -math.inf


def test_batched():
    rng = np.random.default_rng(0)
    P, Q = rng.random((3, 5)), rng.random((3, 5))
    P /= P.sum(-1, keepdims=True)
    Q /= Q.sum(-1, keepdims=True)
    D = optimal_discriminator(P, Q)
    v = gan_value(D, P, Q)
    assert v.shape == (3,)
    assert np.allclose(v, -LOG4 + 2 * js_divergence(P, Q), atol=1e-12)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("call, err, match", [
    (lambda: optimal_discriminator([1, -1], [1, 1]), ValueError, "`p_data`"),
    (lambda: optimal_discriminator([1, 1], [1, np.inf]), ValueError, "`p_g`"),
    (lambda: optimal_discriminator([1, 1], [1, 1, 1]), ValueError, "same shape"),
    (lambda: optimal_discriminator([], []), ValueError, "`p_data`"),
    (lambda: optimal_discriminator(1.0, 1.0), ValueError, "`p_data`"),
    (lambda: optimal_discriminator([1, 1], [1, 1], alpha=1.5), ValueError, "`alpha`"),
    (lambda: optimal_discriminator([1, 1], [1, 1], beta=-0.1), ValueError, "`beta`"),
    (lambda: optimal_discriminator("ab", [1, 1]), TypeError, "`p_data`"),
    (lambda: gan_value([0.5, 1.5], [1, 1], [1, 1]), ValueError, "`D`"),
    (lambda: gan_value([0.5, np.nan], [1, 1], [1, 1]), ValueError, "`D`"),
    (lambda: gan_value([0.5, 0.5, 0.5], [1, 1], [1, 1]), ValueError, "same shape"),
    (lambda: gan_value([0.5, 0.5], [0, 0], [1, 1]), ValueError, "`p_data`"),
    (lambda: gan_value([0.5, 0.5], [1, 1], [1, -1]), ValueError, "`p_g`"),
    (lambda: gan_value([0.5, 0.5], [1, 1], [1, 1], weights=[-1.0, 1.0]), ValueError, "`weights`"),
    (lambda: gan_value([0.5, 0.5], [1, 1], [1, 1], weights=[1.0, 1.0, 1.0]), ValueError, "`weights`"),
    (lambda: js_from_discriminator([0.5], [1, 1], [1, 1]), ValueError, "same shape"),
])
def test_validation(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_inputs_not_modified():
    D, p, q = np.array([0.3, 0.6]), np.array([2.0, 1.0]), np.array([1.0, 3.0])
    copies = [a.copy() for a in (D, p, q)]
    optimal_discriminator(p, q)
    gan_value(D, p, q)
    js_from_discriminator(D, p, q, weights=0.5)
    assert all(np.array_equal(a, c) for a, c in zip((D, p, q), copies))


def test_argmax_public_name_is_deprecated():
    # the C3 closed form is an internal check: optimal_discriminator is the public maximiser
    import kantorovich.divergences as kd

    assert "argmax_a_log_y_b_log_1my" not in kd.__all__
    with pytest.warns(DeprecationWarning, match="optimal_discriminator"):
        assert kd.argmax_a_log_y_b_log_1my(1.0, 3.0) == 0.25
    with pytest.warns(DeprecationWarning):
        assert kd.argmax_a_log_y_b_log_1my([1.0], [3.0]).tolist() == [0.25]


def test_public_names_and_doctests():
    import doctest

    import kantorovich.divergences as kd
    import kantorovich.divergences._discriminator as m

    # the public names are the implementations behind the array layer (kantorovich._interop)
    assert kd.gan_value.__wrapped__ is gan_value
    assert kd.optimal_discriminator.__wrapped__ is optimal_discriminator
    assert doctest.testmod(m).failed == 0


@pytest.mark.parametrize("tiny", [1.58551882e-154, 7.2e-43, 1e-20, 5e-324])
def test_dstar_stays_inside_where_exact_value_is(tiny):
    # found by hypothesis: p_g / p_data < 1e-16 rounded D* to exactly 1 and V(D*) to -inf
    p, q = np.array([0.5, 0.5]), np.array([tiny, 1.0])
    D = optimal_discriminator(p, q)
    assert 0 < D[0] < 1 and 0 < D[1] < 1
    assert gan_value(D, p, q) == pytest.approx(-LOG4 + 2 * js_divergence(p, q), abs=1e-12)
    assert gan_value(D, q, p) > -math.inf  # swapped roles: D* rounds toward 0, kept > 0
    Dq = optimal_discriminator(q, p)
    assert gan_value(Dq, q, p) == pytest.approx(-LOG4 + 2 * js_divergence(p, q), abs=1e-12)


def test_densities_whose_sum_overflows():
    # p_data + p_g = 1e308 + 1e308 = inf gave D* = 0 (and a = b = 1e308 gave y* = 0) instead of 1/2
    d = optimal_discriminator(np.array([1e308, 1e308]), np.array([1e308, 1.0]))
    np.testing.assert_allclose(d, [0.5, 1.0 - 1e-16], rtol=1e-15)
    assert _argmax_a_log_y_b_log_1my(1e308, 1e308) == 0.5
    assert _argmax_a_log_y_b_log_1my(1.0, 3.0) == 0.25


def test_dstar_stays_inside_when_the_rescaled_mass_underflows():
    # D* depends on p_g / p_data; after dividing by max(p_data, p_g) = 1e30 the mass 1e-300
    # underflowed to 0 and D*[1] (exactly 1e-330) came out 0, so V = -inf
    p, q = [1.0, 1e-300], [1.0, 1e30]
    D = optimal_discriminator(p, q)
    assert D[0] == 0.5 and D[1] == 5e-324
    v = gan_value(D, p, q, weights=1.0)
    assert math.isfinite(v) and v == pytest.approx(-LOG4, abs=1e-15)
    # alpha = 5e-324: alpha * p_data underflows, the exact D* = alpha * p / (p + q) is > 0
    p2, q2 = [0.5, 0.5], [0.5, 0.0]
    D2 = optimal_discriminator(p2, q2, alpha=5e-324)
    assert np.all(D2 == 5e-324)
    assert math.isfinite(gan_value(D2, p2, q2, weights=1.0))
    # where the exact D* is 0 (no p_data mass) it stays 0
    assert optimal_discriminator([0.5, 0.0], [0.5, 0.5], alpha=5e-324)[1] == 0.0
    assert optimal_discriminator([0.0, 1.0], [1.0, 1e-300])[0] == 0.0
