"""Parzen-window log-likelihood (C13) and Inception score (C12) against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kantorovich.divergences import inception_score, parzen_log_likelihood

from ..peers.test_inception_score import reference_inception_score as _reference_inception_score


def test_parzen_hand_computation():
    s = np.array([[0.0], [2.0]])
    h = np.array([[1.0], [0.0]])
    sig = 0.5
    def dens(z):
        return np.mean([math.exp(-(z - c) ** 2 / (2 * sig ** 2)) / math.sqrt(2 * math.pi * sig ** 2) for c in (0.0, 2.0)])
    want = np.mean([math.log(dens(1.0)), math.log(dens(0.0))])
    r = parzen_log_likelihood(s, h, bandwidth=sig)
    assert abs(r.value - want) < 1e-12
    assert r.info["bandwidth"] == sig and (r.n, r.m) == (2, 2)


def test_parzen_far_points_stay_finite():
    # logsumexp: a point 100 bandwidths away gives a finite (very negative) value, not -inf
    r = parzen_log_likelihood(np.zeros((5, 2)) + np.arange(5)[:, None], [[1000.0, 0.0]], bandwidth=1.0)
    assert np.isfinite(r.value) and r.value < -1e5


def test_parzen_batches_agree():
    g = np.random.default_rng(0)
    s, h = g.normal(size=(300, 3)), g.normal(size=(77, 3))
    a = parzen_log_likelihood(s, h, bandwidth=0.4, batch_size=7).value
    b = parzen_log_likelihood(s, h, bandwidth=0.4, batch_size=1000).value
    assert abs(a - b) < 1e-10


def test_parzen_cv_near_true_likelihood():
    g = np.random.default_rng(1)
    s, h = g.normal(size=(3000, 2)), g.normal(size=(1000, 2))
    r = parzen_log_likelihood(s, h, bandwidth="cv", rng=0)
    true_ll = -math.log(2 * math.pi) - 0.5 * np.mean(np.sum(h ** 2, axis=1))
    assert abs(r.value - true_ll) < 0.05
    scott = parzen_log_likelihood(s, h).info["bandwidth"]
    assert 0.3 * scott < r.info["bandwidth"] < 3 * scott


def test_parzen_bad_input():
    with pytest.raises(ValueError, match="bandwidth"):
        parzen_log_likelihood(np.zeros((5, 1)), np.zeros((2, 1)), bandwidth=-1.0)
    with pytest.raises(ValueError, match="bandwidth"):
        parzen_log_likelihood(np.zeros((5, 1)), np.zeros((2, 1)), bandwidth="silverman")
    with pytest.raises(ValueError, match="same dimension"):
        parzen_log_likelihood(np.zeros((5, 1)), np.zeros((2, 2)))


def test_inception_score_hand_computation():
    p = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.6, 0.4]])
    py = p.mean(axis=0)
    kl = np.sum(p * (np.log(p) - np.log(py)), axis=1)
    assert abs(inception_score(p, n_splits=1).value - math.exp(kl.mean())) < 1e-12
    # two splits: mean and (population) std of the split scores, as in the original code
    sc = []
    for part in (p[:2], p[2:]):
        q = part.mean(axis=0)
        sc.append(math.exp(np.mean(np.sum(part * (np.log(part) - np.log(q)), axis=1))))
    r = inception_score(p, n_splits=2)
    assert abs(r.value - np.mean(sc)) < 1e-12 and abs(r.info["split_std"] - np.std(sc)) < 1e-12


@pytest.mark.parametrize("N,splits", [(10, 3), (10, 4), (7, 7), (11, 2), (12, 5), (12, 4), (9, 1)])
def test_inception_score_splits_as_the_reference_code(N, splits):
    # N not a multiple of n_splits: the reference cuts at i * N // splits (the extra rows go to the
    # later splits; ours put them in the first splits)
    g = np.random.default_rng(N * 100 + splits)
    p = g.dirichlet(np.full(4, 0.3), size=N) + 1e-3
    p /= p.sum(axis=1, keepdims=True)
    mean, std = _reference_inception_score(p, splits)
    r = inception_score(p, n_splits=splits)
    assert abs(r.value - mean) <= 1e-12 and abs(r.info["split_std"] - std) <= 1e-12


def test_inception_score_ten_rows_three_splits():
    p = np.vstack([np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 0, 0]], [[0.2, 0.3, 0.5]]]) * 0.97 + 0.01
    mean, _ = _reference_inception_score(p, 3)
    assert abs(inception_score(p, n_splits=3).value - mean) <= 1e-12


def test_inception_score_row_total_overflow_is_an_error():
    # README "Conventions": weights whose total overflows are an error (rows of 1e308 + 1e308)
    with pytest.raises(ValueError, match="`class_probs`.*overflows"):
        inception_score([[1e308, 1e308, 0.0], [1e308, 0.0, 1e308]], n_splits=1)
    # large but summable rows are the same distributions as the unit rows
    a = inception_score([[1e307, 1e307, 0.0], [1e307, 0.0, 1e307]], n_splits=1).value
    assert abs(a - math.sqrt(2.0)) < 1e-12


def test_inception_score_bounds():
    assert abs(inception_score(np.eye(5), n_splits=1).value - 5) < 1e-12  # confident, diverse
    assert abs(inception_score(np.full((10, 5), 0.2), n_splits=2).value - 1) < 1e-12  # uniform
    # zero probabilities are fine (0 log 0 = 0)
    assert np.isfinite(inception_score([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]).value if False else
                       inception_score([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], n_splits=1).value)


def test_inception_score_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        inception_score([[1.2, -0.2]])
    with pytest.raises(ValueError, match="n_splits"):
        inception_score(np.eye(3), n_splits=5)
    with pytest.raises(ValueError, match="finite"):
        inception_score([[np.nan, 1.0]])


@pytest.mark.parametrize("s", [1e300, 1e-300, 1e200])
@pytest.mark.parametrize("bw", [None, "cv", 0.3])
def test_parzen_data_of_extreme_magnitude(s, bw):
    # log p(s z) = log p(z) - d log s: squared distances of 1e300-scale data overflowed (NaN)
    g = np.random.default_rng(0)
    x, y = g.normal(size=(200, 2)), g.normal(size=(200, 2)) + 0.5
    ref = parzen_log_likelihood(x, y, bandwidth=bw, rng=0)
    got = parzen_log_likelihood(x * s, y * s, bandwidth=bw if bw is None or bw == "cv" else bw * s, rng=0)
    assert math.isclose(got.value, ref.value - 2 * math.log(s), rel_tol=1e-12)
    assert math.isclose(got.info["bandwidth"], ref.info["bandwidth"] * s, rel_tol=1e-12)


def test_parzen_bad_bandwidth_grid_and_cv_fraction():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(50, 2)), g.normal(size=(50, 2))
    for bw in (1e-300, 1e300):  # ZeroDivisionError / OverflowError from bandwidth ** 2 before
        with pytest.raises(ValueError, match="`bandwidth` must be within"):
            parzen_log_likelihood(x, y, bandwidth=bw)
    with pytest.raises(ValueError, match="`grid` is used only with bandwidth='cv'"):
        parzen_log_likelihood(x, y, grid=[1.0])  # was silently ignored
    with pytest.raises(ValueError, match="`grid` must contain at least one"):
        parzen_log_likelihood(x, y, bandwidth="cv", grid=[])
    for cf in (0.0, 1.0, float("nan")):
        with pytest.raises(ValueError, match="`cv_fraction`"):
            parzen_log_likelihood(x, y, bandwidth="cv", cv_fraction=cf)


def test_parzen_tiny_bandwidth_has_a_finite_stderr():
    # log-densities of order -1e199: their squares overflowed in the standard deviation
    g = np.random.default_rng(0)
    r = parzen_log_likelihood(g.normal(size=(20, 2)), g.normal(size=(8, 2)), bandwidth=1e-100)
    assert np.isfinite(r.value) and np.isfinite(r.stderr) and r.stderr > 0
    assert all(np.isfinite(r.ci)) and 1e197 < r.stderr < 1e200


@pytest.mark.parametrize("bw", [None, "cv", 0.3])
@pytest.mark.parametrize("offset", [1e8, -3e12, 7e5])
def test_parzen_translation_invariant(bw, offset):
    # |z|^2 + |s|^2 - 2 z.s cancelled for data far from the origin relative to their spread
    # (offset 1e8: -0.9708 instead of -3.5517)
    g = np.random.default_rng(0)
    s, h = g.normal(size=(20, 2)), g.normal(size=(8, 2))
    ref = parzen_log_likelihood(s, h, bandwidth=bw, rng=0)
    sh, hh = s + offset, h + offset
    # compare with the exact value on the shifted points as stored (the shift rounds them)
    exact = parzen_log_likelihood(sh - offset, hh - offset, bandwidth=bw, rng=0)
    got = parzen_log_likelihood(sh, hh, bandwidth=bw, rng=0)
    assert math.isclose(got.value, exact.value, rel_tol=1e-9, abs_tol=1e-9)
    if offset == 1e8:
        assert abs(got.value - ref.value) < 1e-6


def test_bandwidth_out_of_range_for_subnormal_data_is_a_value_error_without_warnings():
    # data of scale 1e-310 with bandwidth 0.1: 0.1 / 2**k overflowed in ldexp with a numpy
    # warning before the range check raised
    import warnings

    s = np.array([[1.16e-310, -8.5e-311], [2.38e-311, 3.5e-312], [1e-311, -2e-311]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="`bandwidth` must be within 1e-150 and 1e150"):
            parzen_log_likelihood(s, s[:1], bandwidth=0.1)


def test_inception_score_lives_in_its_own_module_under_the_same_public_name():
    import doctest

    import kantorovich.divergences as kd
    from kantorovich.divergences import _inception, _parzen

    assert kd.inception_score.__wrapped__ is _inception.inception_score
    assert not hasattr(_parzen, "inception_score")
    assert doctest.testmod(_inception).failed == 0


def test_parzen_cv_at_the_end_of_the_grid_warns():
    # a grid that stops short of the best bandwidth (about 0.4 here): the CV picks its largest
    # value, a mean log-likelihood far below the truth (-2.03 against -1.42); that was only
    # written to info["warning"]
    import warnings

    from kantorovich.exceptions import KantorovichWarning

    g = np.random.default_rng(0)
    s, h = g.normal(size=(2000, 1)), g.normal(size=(500, 1))
    with pytest.warns(KantorovichWarning, match="largest value of `grid`.*widen `grid`"):
        r = parzen_log_likelihood(s, h, bandwidth="cv", grid=[0.002, 0.001], rng=0)  # unsorted
    assert r.info["bandwidth"] == 0.002 and "warning" in r.info
    with pytest.warns(KantorovichWarning, match="smallest value of `grid`"):
        parzen_log_likelihood(s, h, bandwidth="cv", grid=[5.0, 2.0, 10.0], rng=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = parzen_log_likelihood(s, h, bandwidth="cv", rng=0)  # the default grid holds the best
        assert "warning" not in r.info
        parzen_log_likelihood(s, h, bandwidth="cv", grid=[0.3], rng=0)  # one value: no "end"
