"""cumulative_deltas / emd_1d_histogram: C2, agreement with scipy, validation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import wasserstein_distance

from kantorovich.ot._histogram1d import cumulative_deltas, emd_1d_histogram

from ..strategies import pmf_pairs

P_C2, Q_C2 = [3, 2, 1, 4], [1, 2, 4, 3]


def test_c2_raw_masses():
    d = cumulative_deltas(P_C2, Q_C2)
    assert d.tolist() == [0.0, 2.0, 2.0, -1.0, 0.0]
    assert emd_1d_histogram(P_C2, Q_C2) == 5.0
    assert type(emd_1d_histogram(P_C2, Q_C2)) is np.float64


def test_c2_normalised_and_bin_width():
    assert emd_1d_histogram(P_C2, Q_C2, normalize=True) == pytest.approx(0.5, abs=1e-15)
    assert cumulative_deltas(P_C2, Q_C2, normalize=True) == pytest.approx([0, 0.2, 0.2, -0.1, 0], abs=1e-15)
    assert emd_1d_histogram(P_C2, Q_C2, bin_width=0.25) == pytest.approx(1.25)


def test_matches_scipy_wasserstein_distance():
    rng = np.random.default_rng(0)
    for n in (1, 2, 5, 50):
        p, q = rng.random(n), rng.random(n)
        h = 0.3
        x = h * np.arange(n)
        assert emd_1d_histogram(p, q, bin_width=h, normalize=True) == pytest.approx(
            wasserstein_distance(x, x, p, q), rel=1e-12, abs=1e-15)


def test_batched():
    rng = np.random.default_rng(1)
    P = rng.random((3, 2, 7))
    Q = P[..., ::-1].copy()  # same totals, row by row
    w = emd_1d_histogram(P, Q)
    d = cumulative_deltas(P, Q)
    assert w.shape == (3, 2) and d.shape == (3, 2, 8)
    for i in range(3):
        for j in range(2):
            assert w[i, j] == emd_1d_histogram(P[i, j], Q[i, j])
    wn = emd_1d_histogram(P, np.ones(7), normalize=True)
    assert wn.shape == (3, 2)


@given(pmf_pairs(n_bins=st.integers(1, 12)))
def test_properties(pq):
    p, q = pq
    w = emd_1d_histogram(p, q)  # normalised pmfs have equal totals up to rounding
    assert w >= 0
    assert w == pytest.approx(emd_1d_histogram(q, p), abs=1e-14)
    assert emd_1d_histogram(p, p) == 0.0
    d = cumulative_deltas(p, q)
    assert d[0] == 0.0 and abs(d[-1]) < 1e-12
    # shifting both by one bin changes nothing; shifting one costs exactly 1 per unit mass
    pz, qz = np.append(p, 0.0), np.append(q, 0.0)
    assert emd_1d_histogram(np.append(0.0, p), np.append(0.0, q)) == pytest.approx(w, abs=1e-14)
    assert emd_1d_histogram(np.append(0.0, p), pz) == pytest.approx(1.0, rel=1e-12)
    assert emd_1d_histogram(pz, qz) == pytest.approx(w, abs=1e-14)


@pytest.mark.parametrize("f", [cumulative_deltas, emd_1d_histogram])
@pytest.mark.parametrize("p, q, kw, err, match", [
    ([1, 2], [2, 2], {}, ValueError, "equal total mass"),
    ([1, -1, 2], [1, 0, 1], {}, ValueError, "`p` must be non-negative"),
    ([1, 1], [np.nan, 1], {}, ValueError, "`q` must contain only finite"),
    ([1, 1], [1, 0.5, 0.5], {}, ValueError, "same number of bins"),
    ([], [], {}, ValueError, "`p` must not be empty"),
    ([0, 0], [0, 0], {}, ValueError, "positive total"),
    ([[1, 1]] * 3, [[1, 1]] * 2, {}, ValueError, "do not broadcast"),
    ("ab", [1, 1], {}, TypeError, "`p`"),
    ([1, 1], [1, 1], {"normalize": "yes"}, TypeError, "`normalize`"),
])
def test_validation(f, p, q, kw, err, match):
    with pytest.raises(err, match=match):
        f(p, q, **kw)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf")])
def test_bin_width_validation(bad):
    with pytest.raises(ValueError, match="`bin_width`"):
        emd_1d_histogram([1, 1], [1, 1], bin_width=bad)


def test_unequal_totals_ok_with_normalize_and_input_untouched():
    p, q = np.array([1.0, 2.0]), np.array([4.0, 2.0])
    assert emd_1d_histogram(p, q, normalize=True) == pytest.approx(1 / 3)
    assert p.tolist() == [1.0, 2.0] and q.tolist() == [4.0, 2.0]


def test_public_names_and_doctests():
    import doctest

    import kantorovich.ot as kot
    import kantorovich.ot._histogram1d as m

    # the public names are the implementations behind the array layer (kantorovich._interop)
    assert kot.emd_1d_histogram.__wrapped__ is emd_1d_histogram
    assert kot.cumulative_deltas.__wrapped__ is cumulative_deltas
    assert doctest.testmod(m).failed == 0


@pytest.mark.parametrize("normalize", [False, True])
def test_overflowing_total_mass_is_an_error(normalize):
    # the total of p overflowed: normalize=True returned 0.0 instead of 0.5, normalize=False
    # passed the equal-mass check with inf - inf = NaN and returned 1e308
    with pytest.raises(ValueError, match="`p` must have a finite total mass"):
        emd_1d_histogram([1e308, 1e308], [0.0, 1e308], normalize=normalize)
    with pytest.raises(ValueError, match="`p` must have a finite total mass"):
        cumulative_deltas([1e308, 1e308], [1e308, 1e308], normalize=normalize)


def test_mass_tolerance_follows_the_input_dtype():
    """Histograms normalised in float32 sum to 1 only to float32 rounding (here 6.7e-9 apart):
    accepted, with the float64 answer to float32 accuracy; a real mass difference is still
    refused, and float64 input keeps its 1e-9 tolerance."""
    g = np.random.default_rng(0)
    p, q = g.random(6), g.random(6)
    p, q = p / p.sum(), q / q.sum()
    p32, q32 = p.astype(np.float32), q.astype(np.float32)
    assert abs(float(p32.sum(dtype=np.float64)) - float(q32.sum(dtype=np.float64))) > 1e-9
    assert emd_1d_histogram(p32, q32) == pytest.approx(emd_1d_histogram(p, q), rel=1e-6)
    assert cumulative_deltas(p32, q32).shape == (7,)
    with pytest.raises(ValueError, match=r"equal total mass.*relative tolerance 1\.2e-05"):
        emd_1d_histogram(p32, (q * 1.001).astype(np.float32))
    with pytest.raises(ValueError, match=r"relative tolerance 1\.0e-09"):
        emd_1d_histogram(p, q * (1 + 1e-8))
