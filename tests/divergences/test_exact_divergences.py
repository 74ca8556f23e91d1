"""Exact TV / KL / JS on probability vectors: properties, support rules, scipy regressions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.special import rel_entr

from kantorovich.divergences._exact import js_distance, js_divergence, kl_divergence, tv_distance
from kantorovich.ot._histogram1d import emd_1d_histogram

from ..strategies import pmf_pairs, pmfs

LOG2 = math.log(2.0)
FUNCS = [tv_distance, kl_divergence, js_divergence, js_distance]


# ----------------------------------------------------------------------------- values
def test_known_values():
    p, q = [0.5, 0.5], [0.25, 0.75]
    assert tv_distance(p, q) == pytest.approx(0.25)
    assert kl_divergence(p, q) == pytest.approx(0.5 * math.log(2) + 0.5 * math.log(2 / 3), rel=1e-14)
    m = np.array([0.375, 0.625])
    js = 0.5 * np.sum(rel_entr(p, m)) + 0.5 * np.sum(rel_entr(q, m))
    assert js_divergence(p, q) == pytest.approx(js, rel=1e-13)
    assert js_distance(p, q) == pytest.approx(math.sqrt(js), rel=1e-13)


def test_return_types():
    assert type(js_divergence([1, 2], [2, 1])) is np.float64
    assert isinstance(kl_divergence([1, 2], [2, 1]), float)
    out = tv_distance(np.ones((3, 4, 5)), np.ones(5))
    assert isinstance(out, np.ndarray) and out.shape == (3, 4)


def test_normalisation_like_scipy():
    assert kl_divergence([2, 2], [1, 3]) == pytest.approx(kl_divergence([0.5, 0.5], [0.25, 0.75]), rel=1e-15)
    assert js_distance([1, 2, 3], [3, 2, 1]) == pytest.approx(jensenshannon([1, 2, 3], [3, 2, 1]), rel=1e-12)


def test_support_rules():
    # KL = +inf where p > 0 = q, no NaN, no warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert kl_divergence([0.5, 0.5], [1.0, 0.0]) == math.inf
        assert kl_divergence([1.0, 0.0], [0.5, 0.5]) == pytest.approx(LOG2, rel=1e-15)
        assert js_divergence([1.0, 0.0, 0.0], [0.0, 0.5, 0.5]) == LOG2
        assert tv_distance([1.0, 0.0], [0.0, 1.0]) == 1.0
        assert js_distance([1, 0], [0, 1], base=2) == 1.0


def test_base():
    p, q = [0.1, 0.9], [0.6, 0.4]
    assert kl_divergence(p, q, base=2) == pytest.approx(kl_divergence(p, q) / LOG2, rel=1e-14)
    assert js_divergence(p, q, base=2) == pytest.approx(js_divergence(p, q) / LOG2, rel=1e-14)
    assert js_distance(p, q, base=2) == pytest.approx(jensenshannon(p, q, base=2), rel=1e-12)
    assert js_divergence([1, 0], [0, 1], base=2) == 1.0
    for bad in (1, 0, -2.0, float("nan")):
        with pytest.raises(ValueError, match="`base`"):
            js_divergence(p, q, base=bad)
    with pytest.raises(TypeError, match="`base`"):
        kl_divergence(p, q, base="e")


@pytest.mark.parametrize("fn", [kl_divergence, js_divergence, js_distance])
@pytest.mark.parametrize("base", [0.5, 0.1, 1e-300, 0.999999, np.float64(0.5)])
def test_base_below_one_is_an_error(fn, base):
    # log(base) < 0 made KL and JS negative and js_distance 0 for p != q
    with pytest.raises(ValueError, match="`base` must be a float greater than 1"):
        fn([0.2, 0.8], [0.5, 0.5], base=base)
    assert fn([0.2, 0.8], [0.5, 0.5], base=1.000001) > 0


def test_batched_matches_loop():
    rng = np.random.default_rng(1)
    P = rng.random((4, 3, 6))
    P[P < 0.2] = 0
    P[..., 0] += 0.1
    Q = rng.random((3, 6))
    for f in FUNCS:
        out = f(P, Q)
        assert out.shape == (4, 3)
        for i in range(4):
            for j in range(3):
                assert out[i, j] == f(P[i, j], Q[j])


def test_float32_computed_in_float64():
    rng = np.random.default_rng(2)
    p32, q32 = rng.random(9).astype(np.float32), rng.random(9).astype(np.float32)
    for f in FUNCS:
        a = f(p32, q32)
        assert a.dtype == np.float64
        assert a == f(p32.astype(np.float64), q32.astype(np.float64))


def test_against_naive_formulas():
    rng = np.random.default_rng(3)
    for _ in range(20):
        p, q = rng.random(8) + 0.01, rng.random(8) + 0.01
        p, q = p / p.sum(), q / q.sum()
        m = 0.5 * (p + q)
        assert kl_divergence(p, q) == pytest.approx(np.sum(p * np.log(p / q)), rel=1e-12, abs=1e-15)
        js = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))
        assert js_divergence(p, q) == pytest.approx(js, rel=1e-11, abs=1e-15)
        assert js_distance(p, q) == pytest.approx(jensenshannon(p, q), rel=1e-8)
        assert tv_distance(p, q) == pytest.approx(0.5 * np.abs(p - q).sum(), rel=1e-14)


def test_js_accuracy_for_nearly_equal_pmfs():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    rng = np.random.default_rng(4)
    for scale in (1e-3, 1e-6, 1e-9):
        p = rng.random(5) + 0.1
        p /= p.sum()
        q = p * (1 + scale * rng.standard_normal(5))
        q /= q.sum()
        P = [mpmath.mpf(float(v)) for v in p]
        Q = [mpmath.mpf(float(v)) for v in q]
        sp, sq = sum(P), sum(Q)
        P, Q = [v / sp for v in P], [v / sq for v in Q]
        exact = sum(0.5 * a * mpmath.log(2 * a / (a + b)) + 0.5 * b * mpmath.log(2 * b / (a + b))
                    for a, b in zip(P, Q))
        assert js_divergence(p, q) == pytest.approx(float(exact), rel=1e-9)  # naive: 6e-5, 5e2


# ----------------------------------------------------------------------------- scipy regressions
def test_scipy_20779_nextafter_half():
    """scipy#20779: x = nextafter(0.5, 0), p = [x, 1-x], q = [1-x, x] gave NaN."""
    x = np.nextafter(0.5, 0)
    p, q = [x, 1 - x], [1 - x, x]
    d = js_distance(p, q)
    js = js_divergence(p, q)
    assert np.isfinite(d) and 0.0 <= d < 1e-15
    assert 0.0 <= js < 1e-30
    assert js_divergence(p, q) == js_divergence(q, p)


def test_scipy_20083_tiny_negative_js_float32():
    """scipy#20083: float32 near-equal pmfs gave sqrt of a tiny negative number (NaN)."""
    c1 = np.array([0.027501475, 0.055202297], dtype="float32")
    c2 = np.array([0.027537677, 0.055334348], dtype="float32")
    d = js_distance(c1, c2)
    assert np.isfinite(d) and d > 0
    # the truth, in float64 from the same float32 values: 1.7883362e-4
    assert d == pytest.approx(1.78833620e-4, rel=1e-6)
    # proportional inputs: ~0, not NaN (float32 3*v is proportional only up to float32
    # rounding, ~6e-8 relative, so the true distance of those values is ~1e-8, not 2e-4)
    v = np.array([1.0, 2.0, 3.0])
    assert js_distance(v, 3 * v) == pytest.approx(0.0, abs=1e-12)
    v32 = np.array([0.1, 0.7, 0.2], dtype=np.float32)
    assert 0.0 <= js_distance(v32, 3 * v32) < 1e-7
    assert js_divergence(v32, v32) == 0.0


def test_scipy_19436_subnormal_entry():
    """scipy#19436: p = [0, 1], q = [5e-324, 1] gave inf; the truth is ~0."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d = js_distance([0, 1], [5e-324, 1])
        assert np.isfinite(d) and 0 <= d < 1e-150
        assert js_divergence([5e-324, 1], [0, 1]) < 1e-300
        assert kl_divergence([0, 1], [5e-324, 1]) == pytest.approx(0.0, abs=1e-300)
        assert kl_divergence([5e-324, 1], [0, 1]) == math.inf
        # subnormal p against a normal q and vice versa: ratios under/overflow, logs stay finite
        assert np.isfinite(kl_divergence([5e-324, 1.0], [1.0, 1.0]))
        assert np.isfinite(kl_divergence([1.0, 1.0], [5e-324, 1.0]))
        assert kl_divergence([1.0, 1.0], [5e-324, 1.0]) == pytest.approx(
            0.5 * (math.log(0.5) - math.log(5e-324)) + 0.5 * math.log(0.5 / 1.0), rel=1e-12)
        assert js_divergence([5e-324, 0], [0, 5e-324]) == LOG2


# ----------------------------------------------------------------------------- properties
@given(pmf_pairs())
def test_kl_nonnegative_and_zero_on_diagonal(pq):
    p, q = pq
    kl = kl_divergence(p, q)
    assert kl >= 0 and not np.isnan(kl)
    assert kl_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    infinite = bool(np.any((p > 0) & (q == 0)))
    assert (kl == math.inf) == infinite


@given(pmf_pairs())
def test_js_symmetric_bounded_log2_iff_disjoint(pq):
    p, q = pq
    js = js_divergence(p, q)
    assert js == js_divergence(q, p)
    assert 0.0 <= js <= LOG2
    assert js_divergence(p, p) == 0.0
    d = js_distance(p, q)
    assert d == pytest.approx(math.sqrt(js), rel=1e-15) and not np.isnan(d)
    overlap = float(np.sum(np.minimum(p, q)))
    if overlap == 0.0:
        assert js == pytest.approx(LOG2, rel=1e-15)
    # concavity of h gives log 2 - JS >= log 2 * sum min(p, q): equality at log 2 only if disjoint
    assert LOG2 - js >= LOG2 * overlap * (1 - 1e-9) - 1e-15


@given(pmf_pairs())
def test_pinsker_and_tv_bounds(pq):
    p, q = pq
    tv, kl, js = tv_distance(p, q), kl_divergence(p, q), js_divergence(p, q)
    assert 0.0 <= tv <= 1.0
    assert tv <= math.sqrt(kl / 2) + 1e-12
    # JS <= TV log 2 (each bin: s h(d)/4 <= |p - q| log 2 / 2)
    assert js <= tv * LOG2 + 1e-15


@given(pmf_pairs(n_bins=st.integers(2, 12)))
def test_w1_le_diameter_times_tv(pq):
    p, q = pq
    n = p.shape[0]
    w1 = emd_1d_histogram(p, q, normalize=True)
    assert w1 <= (n - 1) * tv_distance(p, q) + 1e-12
    assert w1 >= tv_distance(p, q) - 1e-12  # unit spacing: moving mass costs at least 1 per unit


@given(pmf_pairs(n_bins=st.integers(2, 12)), st.data())
def test_merging_bins_never_increases(pq, data):
    p, q = pq
    n = p.shape[0]
    labels = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=n, max_size=n)))
    k = labels.max() + 1
    pm = np.bincount(labels, weights=p, minlength=k)
    qm = np.bincount(labels, weights=q, minlength=k)
    for f in (tv_distance, kl_divergence, js_divergence):
        before, after = f(p, q), f(pm, qm)
        if before == math.inf:
            continue
        assert after <= before + 1e-12 * max(1.0, before)


@given(pmf_pairs(), st.randoms(use_true_random=False))
def test_permuting_bins(pq, rnd):
    p, q = pq
    perm = list(range(p.shape[0]))
    rnd.shuffle(perm)
    for f in FUNCS:
        a, b = f(p, q), f(p[perm], q[perm])
        assert a == pytest.approx(b, rel=1e-12, abs=1e-15) or (a == b == math.inf)


@given(pmfs())
def test_identical_is_zero(p):
    for f in FUNCS:
        assert f(p, p) == 0.0


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("f", FUNCS)
@pytest.mark.parametrize("p, q, err, match", [
    ([1.0, -0.1], [0.5, 0.5], ValueError, "`p` must be non-negative"),
    ([0.5, 0.5], [np.nan, 1.0], ValueError, "`q` must contain only finite"),
    ([0.5, 0.5], [np.inf, 1.0], ValueError, "`q` must contain only finite"),
    ([0.5, 0.5], [0.2, 0.3, 0.5], ValueError, "same number of bins"),
    ([], [], ValueError, "`p` must not be empty"),
    ([0.0, 0.0], [0.5, 0.5], ValueError, "`p` must have a positive total"),
    (0.5, 0.5, ValueError, "`p` must have at least 1"),
    ("ab", [0.5, 0.5], TypeError, "`p`"),
    ([True, False], [0.5, 0.5], TypeError, "`p`"),
    ([[1, 0]] * 3, [[1, 0]] * 2, ValueError, "do not broadcast"),
])
def test_validation(f, p, q, err, match):
    with pytest.raises(err, match=match):
        f(p, q)


@pytest.mark.parametrize("f", FUNCS)
def test_inputs_not_modified(f):
    p, q = np.array([3.0, 1.0, 0.0]), np.array([1.0, 1.0, 2.0])
    p0, q0 = p.copy(), q.copy()
    f(p, q)
    assert np.array_equal(p, p0) and np.array_equal(q, q0)


def test_doctests():
    import doctest

    import kantorovich.divergences._exact as m

    assert doctest.testmod(m).failed == 0


@pytest.mark.gpu
def test_cupy_inputs_match_numpy():
    cp = pytest.importorskip("cupy")
    from kantorovich.divergences._discriminator import gan_value, optimal_discriminator
    from kantorovich.ot._histogram1d import cumulative_deltas

    rng = np.random.default_rng(5)
    P, Q = rng.random((4, 9)), rng.random(9)
    P[P < 0.2] = 0.0
    P[:, 0] += 0.1
    Pd, Qd = cp.asarray(P), cp.asarray(Q)
    for f in FUNCS:
        out = f(Pd, Qd)
        assert isinstance(out, cp.ndarray) and out.shape == (4,)
        np.testing.assert_allclose(out.get(), f(P, Q), rtol=1e-13, atol=1e-15)
        one = f(Pd[0], Qd)
        assert isinstance(one, cp.ndarray) and one.shape == ()
    np.testing.assert_allclose(kl_divergence(cp.asarray([0.5, 0.5]), cp.asarray([1.0, 0.0])).get(), np.inf)
    assert float(js_distance(cp.asarray([0.0, 1.0]), cp.asarray([5e-324, 1.0]))) < 1e-150
    w = emd_1d_histogram(Pd, Qd, normalize=True)
    np.testing.assert_allclose(w.get(), emd_1d_histogram(P, Q, normalize=True), rtol=1e-13)
    assert isinstance(cumulative_deltas(Pd, Pd), cp.ndarray)
    D = optimal_discriminator(Pd, cp.broadcast_to(Qd, P.shape).copy())
    assert isinstance(D, cp.ndarray)
    v = gan_value(D, Pd, cp.broadcast_to(Qd, P.shape).copy())
    Qb = np.broadcast_to(Q, P.shape).copy()
    np.testing.assert_allclose(v.get(), gan_value(optimal_discriminator(P, Qb), P, Qb), rtol=1e-13)
    Pn, Qn = P / P.sum(axis=1, keepdims=True), Q / Q.sum()  # the identity holds for pmfs
    Pnd, Qnb = cp.asarray(Pn), cp.broadcast_to(cp.asarray(Qn), P.shape).copy()
    vn = gan_value(optimal_discriminator(Pnd, Qnb), Pnd, Qnb)
    np.testing.assert_allclose(vn.get(), -np.log(4) + 2 * js_divergence(Pn, Qn), atol=1e-12)
    with pytest.raises(TypeError, match="same device"):
        js_divergence(Pd, Q)
