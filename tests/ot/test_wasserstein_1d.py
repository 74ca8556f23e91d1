"""wasserstein_1d / wasserstein_1d_plan: scipy's own cases, properties, the LP, closed forms,
bad input, and the numba / CuPy kernels against the numpy reference."""

from __future__ import annotations

import math
import warnings

import numpy as np
import ot as pot
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_equal
from scipy import stats

from kantorovich.families import GaussianPair, ParallelLines
from kantorovich.ot import wasserstein_1d, wasserstein_1d_plan
from kantorovich.ot._kernels import wass1d_cupy
from kantorovich.ot._wasserstein_1d import _wpp_reference

BACKENDS = ["numpy", "numba"]


def lp_wp(x, y, a=None, b=None, p=1.0):
    """W_p by the exact LP (POT network simplex) on the |x - y|^p cost."""
    a = np.ones(len(x)) if a is None else np.asarray(a, float)
    b = np.ones(len(y)) if b is None else np.asarray(b, float)
    M = np.abs(np.subtract.outer(np.asarray(x, float), np.asarray(y, float))) ** p
    return pot.emd2(a / a.sum(), b / b.sum(), M) ** (1.0 / p)


# --------------------------------------------------------------- scipy's TestWassersteinDistance
@pytest.mark.parametrize("backend", BACKENDS)
class TestScipyCases:
    """scipy/stats/tests/test_stats.py::TestWassersteinDistance, ported (p = 1)."""

    def test_simple(self, backend):
        W = lambda *a: wasserstein_1d(*a, backend=backend)  # noqa: E731
        assert_allclose(W([0, 1], [0], [1, 1], [1]), 0.5)
        assert_allclose(W([0, 1], [0], [3, 1], [1]), 0.25)
        assert_allclose(W([0, 2], [0], [1, 1], [1]), 1)
        assert_allclose(W([0, 1, 2], [1, 2, 3]), 1)

    def test_same_distribution(self, backend):
        assert_equal(wasserstein_1d([1, 2, 3], [2, 1, 3], backend=backend), 0)
        assert_equal(wasserstein_1d([1, 1, 1, 4], [4, 1], [1, 1, 1, 1], [1, 3], backend=backend), 0)

    def test_shift(self, backend):
        W = lambda *a: wasserstein_1d(*a, backend=backend)  # noqa: E731
        assert_allclose(W([0], [1]), 1)
        assert_allclose(W([-5], [5]), 10)
        assert_allclose(W([1, 2, 3, 4, 5], [11, 12, 13, 14, 15]), 10)
        assert_allclose(W([4.5, 6.7, 2.1], [4.6, 7, 9.2], [3, 1, 1], [1, 3, 1]), 2.5)

    def test_combine_weights(self, backend):
        W = lambda *a: wasserstein_1d(*a, backend=backend)  # noqa: E731
        assert_allclose(
            W([0, 0, 1, 1, 1, 1, 5], [0, 3, 3, 3, 3, 4, 4], [1] * 7, [1] * 7),
            W([5, 0, 1], [0, 4, 3], [1, 2, 4], [1, 2, 4]))

    def test_collapse(self, backend):
        u = np.arange(-10, 30, 0.3)
        v = np.zeros_like(u)
        assert_allclose(wasserstein_1d(u, v, backend=backend), np.mean(np.abs(u)))
        u_weights = np.arange(len(u))
        v_weights = u_weights[::-1]
        assert_allclose(wasserstein_1d(u, v, u_weights, v_weights, backend=backend),
                        np.average(np.abs(u), weights=u_weights))

    def test_zero_weight(self, backend):
        assert_allclose(wasserstein_1d([1, 2, 100000], [1, 1], [1, 1, 0], [1, 1], backend=backend),
                        wasserstein_1d([1, 2], [1, 1], [1, 1], [1, 1], backend=backend))

    def test_inf_values(self, backend):
        # where scipy returns inf, so do we
        assert_equal(wasserstein_1d([1, 2, np.inf], [1, 1], backend=backend), np.inf)
        assert_equal(wasserstein_1d([1, 2, np.inf], [-np.inf, 1], backend=backend), np.inf)
        assert_equal(wasserstein_1d([1, -np.inf, np.inf], [1, 1], backend=backend), np.inf)
        # scipy: NaN with "invalid value" RuntimeWarning; the integral of |F - G| is +inf
        # (a sixth of the mass travels from 2 to +inf): we return inf and warn nothing
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_equal(wasserstein_1d([1, 2, np.inf], [np.inf, 1], backend=backend), np.inf)

    def test_inf_matched_or_zero_weight(self, backend):
        # deliberate differences from scipy (which returns NaN): equal masses at +inf match
        # each other at no cost, and a point of zero weight is ignored even at infinity
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_allclose(wasserstein_1d([1, np.inf], [2, np.inf], backend=backend), 0.5)
            assert_allclose(wasserstein_1d([1, 2, np.inf], [1, 2], [1, 1, 0], backend=backend), 0)
            assert_allclose(wasserstein_1d([-np.inf, 0, np.inf], [-np.inf, 1, np.inf], p=2,
                                           backend=backend), math.sqrt(1 / 3))

    def test_scipy_docstring_examples(self, backend):
        assert_allclose(wasserstein_1d([3.4, 3.9, 7.5, 7.8], [4.5, 1.4], [1.4, 0.9, 3.1, 7.2], [3.2, 3.5],
                                       backend=backend), 4.0781331438047861, rtol=1e-14)


class TestEnergyDistanceCases:
    """scipy's TestEnergyDistance cases use the same weight handling; energy distance is the
    L2 distance between CDFs, not W_2, so we port the cases that are about W (same
    distribution, combine weights, zero weight) at p = 2, and check W_2 on the simple ones."""

    def test_same_distribution(self):
        assert_equal(wasserstein_1d([1, 2, 3], [2, 1, 3], p=2), 0)
        assert_equal(wasserstein_1d([1, 1, 1, 4], [4, 1], [1, 1, 1, 1], [1, 3], p=2), 0)

    def test_simple_w2(self):
        assert_allclose(wasserstein_1d([0, 1], [0], [1, 1], [1], p=2), math.sqrt(0.5))
        assert_allclose(wasserstein_1d([0, 1], [0], [3, 1], [1], p=2), math.sqrt(0.25))
        assert_allclose(wasserstein_1d([0, 2], [0], [1, 1], [1], p=2), math.sqrt(2))
        assert_allclose(wasserstein_1d([0, 1, 2], [1, 2, 3], p=2), 1)
        assert_allclose(wasserstein_1d([0], [1], p=2), 1)
        assert_allclose(wasserstein_1d([-5], [5], p=2), 10)

    def test_combine_weights(self):
        assert_allclose(
            wasserstein_1d([0, 0, 1, 1, 1, 1, 5], [0, 3, 3, 3, 3, 4, 4], [1] * 7, [1] * 7, p=2),
            wasserstein_1d([5, 0, 1], [0, 4, 3], [1, 2, 4], [1, 2, 4], p=2))

    def test_zero_weight(self):
        assert_allclose(wasserstein_1d([1, 2, 100000], [1, 1], [1, 1, 0], [1, 1], p=2),
                        wasserstein_1d([1, 2], [1, 1], [1, 1], [1, 1], p=2))

    def test_inf_values(self):
        assert_equal(wasserstein_1d([1, 2, np.inf], [1, 1], p=2), np.inf)
        assert_equal(wasserstein_1d([1, 2, np.inf], [-np.inf, 1], p=2), np.inf)
        assert_equal(wasserstein_1d([1, -np.inf, np.inf], [1, 1], p=2), np.inf)


def test_returns_float64_scalar_and_batch_shape():
    w = wasserstein_1d([0.0, 1.0], [1.0])
    assert isinstance(w, np.float64) and isinstance(w, float)
    out = wasserstein_1d(np.zeros((2, 3, 4)), np.ones((3, 5)))
    assert out.shape == (2, 3)
    assert_allclose(out, 1.0)


# --------------------------------------------------------------- agreement with scipy and the LP
finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


@st.composite
def weighted_pair(draw, max_n=8, weighted=True):
    n = draw(st.integers(1, max_n))
    m = draw(st.integers(1, max_n))
    # small integer grids create ties, the hard case for the merge
    elems = st.one_of(finite, st.integers(-3, 3).map(float))
    x = draw(hnp.arrays(np.float64, n, elements=elems))
    y = draw(hnp.arrays(np.float64, m, elements=elems))
    if not weighted or draw(st.booleans()):
        return x, y, None, None
    welem = st.one_of(st.just(0.0), st.floats(1e-3, 10.0), st.integers(1, 4).map(float))
    a = draw(hnp.arrays(np.float64, n, elements=welem))
    b = draw(hnp.arrays(np.float64, m, elements=welem))
    if a.sum() == 0:
        a[0] = 1.0
    if b.sum() == 0:
        b[-1] = 1.0
    return x, y, a, b


@given(weighted_pair(), st.sampled_from(BACKENDS))
def test_matches_scipy_p1(data, backend):
    x, y, a, b = data
    assert_allclose(wasserstein_1d(x, y, a, b, backend=backend), stats.wasserstein_distance(x, y, a, b),
                    rtol=1e-10, atol=1e-9)


@given(weighted_pair(max_n=7), st.sampled_from([1.0, 1.5, 2.0, 3.0]), st.sampled_from(BACKENDS))
def test_matches_lp(data, p, backend):
    x, y, a, b = data
    assert_allclose(wasserstein_1d(x, y, a, b, p=p, backend=backend), lp_wp(x, y, a, b, p),
                    rtol=1e-8, atol=1e-7)


@given(weighted_pair(), st.sampled_from([1.0, 2.0, 2.5]), finite)
def test_translation(data, p, c):
    x, y, a, b = data
    assert_allclose(wasserstein_1d(x + c, y + c, a, b, p=p), wasserstein_1d(x, y, a, b, p=p),
                    rtol=1e-9, atol=1e-8)


@given(weighted_pair(), st.sampled_from([1.0, 2.0, 3.0]),
       st.floats(-100, 100).filter(lambda s: abs(s) > 1e-3))
def test_homogeneity(data, p, s):
    x, y, a, b = data
    assert_allclose(wasserstein_1d(s * x, s * y, a, b, p=p), abs(s) * wasserstein_1d(x, y, a, b, p=p),
                    rtol=1e-9, atol=1e-9)


@given(finite, finite, st.floats(1.0, 8.0), st.sampled_from(BACKENDS))
def test_diracs(a, b, p, backend):
    assert_allclose(wasserstein_1d([a], [b], p=p, backend=backend), abs(a - b), rtol=1e-12)
    # the same Dirac mass split over repeated points
    assert_allclose(wasserstein_1d([a, a, a], [b, b], [1, 2, 0], None, p=p, backend=backend),
                    abs(a - b), rtol=1e-12)


@given(weighted_pair(max_n=6))
def test_symmetry_and_p_monotone(data):
    x, y, a, b = data
    w1 = wasserstein_1d(x, y, a, b)
    assert_allclose(w1, wasserstein_1d(y, x, b, a), rtol=1e-12, atol=1e-12)
    w2 = wasserstein_1d(x, y, a, b, p=2)
    w3 = wasserstein_1d(x, y, a, b, p=3)
    assert w1 <= w2 * (1 + 1e-9) + 1e-12 and w2 <= w3 * (1 + 1e-9) + 1e-12


def test_w1_is_integral_of_cdf_difference(rng):
    x = rng.normal(size=37)
    y = rng.exponential(size=23)
    a = rng.random(37)
    grid = np.linspace(-6, 12, 400_001)
    F = np.searchsorted(np.sort(x), grid, side="right")  # unweighted CDF counts
    order = np.argsort(x)
    Fa = np.concatenate([[0.0], np.cumsum(a[order])])[np.searchsorted(x[order], grid, side="right")] / a.sum()
    G = np.searchsorted(np.sort(y), grid, side="right") / 23
    h = grid[1] - grid[0]
    assert_allclose(wasserstein_1d(x, y), np.sum(np.abs(F / 37 - G)) * h, rtol=1e-4)
    assert_allclose(wasserstein_1d(x, y, a), np.sum(np.abs(Fa - G)) * h, rtol=1e-4)


def test_large_p_does_not_overflow():
    # |x - y|^p overflows float64 here without the exact power-of-two rescaling
    assert_allclose(wasserstein_1d([0.0], [1e200], p=3), 1e200, rtol=1e-12)
    w4 = (0.5 * (1 + 16)) ** 0.25  # W_4([0, 1], [1, 3])
    for backend in BACKENDS:  # and (1e-200)^4 underflows to 0
        assert_allclose(wasserstein_1d([0.0, 1e-200], [1e-200, 3e-200], p=4, backend=backend),
                        1e-200 * w4, rtol=1e-12)
    assert_allclose(wasserstein_1d([0.0, 1.0], [1.0, 3.0], p=4), (0.5 * (1 + 16)) ** 0.25)


# --------------------------------------------------------------- closed forms from samples
def test_gaussian_w2_from_samples():
    fam = GaussianPair(0.5, 4.0, -1.0, 1.0)  # N(0.5, 2^2) vs N(-1, 1): W2^2 = 1.5^2 + (2-1)^2
    truth = fam.w2()
    assert_allclose(truth, math.sqrt(1.5 ** 2 + 1.0), rtol=1e-12)
    n = 200_000
    x, y = fam.sample(n, rng=7)
    est = wasserstein_1d(x.ravel(), y.ravel(), p=2)
    # empirical W2 of Gaussians has bias O(sqrt(log log n / n)) and sd ~ 1/sqrt(n): budget 0.02
    assert abs(est - truth) < 0.02, (est, truth)
    w1 = wasserstein_1d(x.ravel(), y.ravel(), p=1)
    assert abs(w1 - fam.w1()) < 0.02, (w1, fam.w1())


@pytest.mark.parametrize("theta", [0.0, 0.3, -1.7])
def test_parallel_lines_w1_from_samples(theta):
    fam = ParallelLines(theta)
    x, y = fam.sample(2000, rng=3)
    # the optimal plan moves each point horizontally: W1 = |theta| exactly for the
    # population; in 1-D along x the projections are the Diracs 0 and theta
    assert_allclose(wasserstein_1d(x[:, 0], y[:, 0]), fam.w1(), atol=1e-12)


# --------------------------------------------------------------- plan and potentials
@given(weighted_pair(max_n=7), st.sampled_from([1.0, 1.5, 2.0, 4.0]))
def test_plan_is_optimal_with_feasible_duals(data, p):
    x, y, a, b = data
    r = wasserstein_1d_plan(x, y, a, b, p=p)
    a_ = np.ones(len(x)) if a is None else a
    b_ = np.ones(len(y)) if b is None else b
    a_, b_ = a_ / a_.sum(), b_ / b_.sum()
    M = np.abs(np.subtract.outer(x, y)) ** p
    P = r.plan.toarray()
    assert r.plan.nnz <= len(x) + len(y) - 1
    assert (P >= 0).all()
    assert_allclose(P.sum(axis=1), a_, atol=1e-12)
    assert_allclose(P.sum(axis=0), b_, atol=1e-12)
    scale = 1.0 + M.max()
    assert_allclose(np.sum(P * M), r.value ** p, rtol=1e-9, atol=1e-12 * scale)
    assert_allclose(r.value, wasserstein_1d(x, y, a, b, p=p), rtol=1e-9, atol=1e-9)
    assert_allclose(r.value, lp_wp(x, y, a, b, p), rtol=1e-7, atol=1e-7)
    # dual feasibility everywhere (zero-weight points included) and zero duality gap
    assert (r.f[:, None] + r.g[None, :] - M).max() <= 1e-9 * scale
    assert_allclose(a_ @ r.f + b_ @ r.g, r.value ** p, rtol=1e-9, atol=1e-9 * scale)


def test_plan_example_and_result_type():
    r = wasserstein_1d_plan([2.0, 0.0], [1.0, 3.0, 5.0], p=2)
    assert r.p == 2.0 and r.backend == "numpy"
    assert_allclose(r.plan.toarray(), [[0, 1 / 6, 1 / 3], [1 / 3, 1 / 6, 0]], atol=1e-15)
    assert_allclose(r.value, math.sqrt((2 + 9 + 1 + 18) / 6), rtol=1e-12)
    M = np.abs(np.subtract.outer([2.0, 0.0], [1.0, 3.0, 5.0])) ** 2
    assert_allclose(r.value ** 2, np.sum(r.plan.toarray() * M))
    assert r.to_dict()["value"] == r.value


def test_plan_rejects_batch_and_inf():
    with pytest.raises(ValueError, match="`u_values` must be 1-D"):
        wasserstein_1d_plan(np.zeros((2, 3)), [1.0])
    with pytest.raises(ValueError, match="`v_values` must be finite"):
        wasserstein_1d_plan([0.0], [np.inf])


# --------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(u_values=[0.0, np.nan], v_values=[1.0]), ValueError, "`u_values` must not contain NaN"),
    (dict(u_values=[0.0], v_values=[np.nan]), ValueError, "`v_values` must not contain NaN"),
    (dict(u_values=[0.0, 1.0], v_values=[1.0], u_weights=[1.0, np.nan]), ValueError, "`u_weights`"),
    (dict(u_values=[0.0, 1.0], v_values=[1.0], u_weights=[1.0, -1.0]), ValueError,
     "`u_weights` must be non-negative"),
    (dict(u_values=[0.0, 1.0], v_values=[1.0], v_weights=[0.0]), ValueError,
     "`v_weights` must have a positive total"),
    (dict(u_values=[0.0, 1.0], v_values=[1.0], u_weights=[1.0, np.inf]), ValueError, "`u_weights`"),
    (dict(u_values=[0.0, 1.0], v_values=[1.0], u_weights=[1.0]), ValueError,
     "`u_weights` must have the same length as `u_values`"),
    (dict(u_values=[0.0, 1.0], v_values=[1.0], u_weights=[1e308, 1e308]), ValueError,
     "`u_weights` must have a finite total"),
    (dict(u_values=[], v_values=[1.0]), ValueError, "`u_values` must not be empty"),
    (dict(u_values=[0.0], v_values=[1.0], p=0.5), ValueError, "`p` must be a finite real number >= 1"),
    (dict(u_values=[0.0], v_values=[1.0], p=np.inf), ValueError, "`p`"),
    (dict(u_values=[0.0], v_values=[1.0], p="2"), TypeError, "`p`"),
    (dict(u_values=["a"], v_values=[1.0]), TypeError, "`u_values`"),
    (dict(u_values=np.zeros((2, 3)), v_values=np.zeros((3, 3))), ValueError, "do not broadcast"),
    (dict(u_values=[0.0], v_values=[1.0], backend="gpu"), ValueError, "`backend`"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        wasserstein_1d(**kwargs)


def test_does_not_modify_input(rng):
    x = rng.normal(size=50)
    y = rng.normal(size=50)
    a = rng.random(50)
    x0, y0, a0 = x.copy(), y.copy(), a.copy()
    for backend in BACKENDS:
        wasserstein_1d(x, y, backend=backend)
        wasserstein_1d(x, y, a, backend=backend)
    wasserstein_1d_plan(x, y, a)
    assert_equal(x, x0), assert_equal(y, y0), assert_equal(a, a0)


# --------------------------------------------------------------- kernels vs reference
@pytest.mark.parametrize("trial", range(6))
def test_numba_kernels_match_reference(trial):
    from kantorovich.ot._kernels import wass1d_numba as K

    rng = np.random.default_rng(100 + trial)
    B = [1, 3][trial % 2]
    n, m = rng.integers(1, 300, size=2)
    p = [1.0, 2.0, 1.7][trial % 3]
    xs = np.sort(np.round(rng.normal(size=(B, n)), 1), axis=-1)  # rounded: ties
    ys = np.sort(np.round(rng.normal(size=(B, m)) + 0.3, 1), axis=-1)
    yn = np.sort(rng.normal(size=(B, n)), axis=-1)
    wu = rng.random((B, n)) * (rng.random((B, n)) > 0.3)
    wv = rng.random((B, m))
    wu[:, 0] += 0.1
    assert_allclose(K.equal_uniform(xs, yn, p), _wpp_reference(xs, None, yn, None, p), rtol=1e-12)
    assert_allclose(K.merge_uniform(xs, ys, p), _wpp_reference(xs, None, ys, None, p), rtol=1e-11)
    assert_allclose(K.merge_weighted(xs, wu, ys, wv, p), _wpp_reference(xs, wu, ys, wv, p), rtol=1e-10)
    # merge_uniform and merge_weighted with unit weights agree with each other
    assert_allclose(K.merge_weighted(xs, np.ones_like(xs), ys, np.ones_like(ys), p),
                    K.merge_uniform(xs, ys, p), rtol=1e-11)


def test_numba_single_row_parallel_sum(rng):
    from kantorovich.ot._kernels import wass1d_numba as K

    x = np.sort(rng.normal(size=(1, 100_003)), axis=-1)
    y = np.sort(rng.normal(size=(1, 100_003)) * 2, axis=-1)
    assert_allclose(K.equal_uniform(x, y, 1.0), np.mean(np.abs(x - y), axis=-1), rtol=1e-12)


def test_backends_agree_on_large_batched_input(rng):
    x = rng.normal(size=(4, 5000))
    y = rng.standard_t(3, size=(4, 3001))
    a = rng.random(5000)
    for p in (1, 2):
        ref = wasserstein_1d(x, y, a, p=p, backend="numpy")
        assert_allclose(wasserstein_1d(x, y, a, p=p, backend="numba"), ref, rtol=1e-10)
        assert_allclose(wasserstein_1d(x, y, a, p=p), ref, rtol=1e-10)  # auto -> numba here
        for b in range(4):
            assert_allclose(ref[b], wasserstein_1d(x[b], y[b], a, p=p), rtol=1e-12)


def test_xp_orchestration_with_numpy_stand_in(rng):
    """The CuPy code path (minus the CUDA reduction) run with numpy."""
    for (n, m, weighted) in [(40, 40, False), (40, 17, False), (40, 40, True)]:
        x = rng.normal(size=(3, n)).astype(np.float32)
        y = rng.normal(size=(3, m))
        a = rng.random(n) if weighted else None
        for p in (1.0, 2.0, 3.5):
            got = wass1d_cupy.wasserstein_1d_xp(x, y, a, None, p=p, batch=(3,), xp=np,
                                                equal_kernel=wass1d_cupy.equal_uniform_numpy)
            assert_allclose(got, wasserstein_1d(x.astype(np.float64), y, a, p=p), rtol=1e-9)


@pytest.mark.parametrize("p", [2.0, 3.5])
@pytest.mark.parametrize(("u", "v"), [([2e38, 0.0], [0.0, 1e38]),        # scale 2**128: inf in float32
                                      ([3e38, -3.4e38], [1e30, 2e38]),
                                      ([1e-40, 0.0], [0.0, 3e-41])])   # scale 2**-133: its inverse too
def test_xp_orchestration_float32_at_the_ends_of_the_range(u, v, p):
    """The CuPy path keeps float32 rows in float32 and divides them by the power of two above
    the largest |value|: for values at or above 2**127 that is 2**128, inf in float32, and the
    rows became 0 (W_p = 0 for [2e38, 0] against [0, 1e38], p = 2; the truth is 7.07e37).
    Checked with numpy standing in for CuPy; the truth is the float64 path on the same values
    (the float32 rescaling is exact, the sums run in float64)."""
    x, y = np.float32(u)[None], np.float32(v)[None]
    got = wass1d_cupy.wasserstein_1d_xp(x, y, None, None, p=p, batch=(1,), xp=np,
                                        equal_kernel=wass1d_cupy.equal_uniform_numpy)
    ref = wasserstein_1d(x[0].astype(np.float64), y[0].astype(np.float64), p=p)
    assert_allclose(got, [ref], rtol=1e-14)
    got_w = wass1d_cupy.wasserstein_1d_xp(x, y, np.ones((1, 2)), None, p=p, batch=(1,), xp=np,
                                          equal_kernel=wass1d_cupy.equal_uniform_numpy)
    assert_allclose(got_w, [ref], rtol=1e-14)


# --------------------------------------------------------------- GPU (CuPy) against numpy
@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [1.0, 2.0, 1.5])
def test_cupy_matches_numpy(dtype, p):
    import cupy

    rng = np.random.default_rng(5)
    for n, m, weighted in [(1000, 1000, False), (1000, 377, False), (999, 1000, True)]:
        x = rng.normal(size=(3, n)).astype(dtype)
        y = (rng.normal(size=(3, m)) + 0.5).astype(dtype)
        a = rng.random(n) if weighted else None
        ref = wasserstein_1d(x.astype(np.float64), y.astype(np.float64), a, p=p, backend="numpy")
        got = wasserstein_1d(cupy.asarray(x), cupy.asarray(y), None if a is None else cupy.asarray(a), p=p)
        assert isinstance(got, cupy.ndarray) and got.shape == (3,)
        assert_allclose(got.get(), ref, rtol=1e-5 if dtype == np.float32 else 1e-10)
        got0 = wasserstein_1d(cupy.asarray(x[0]), cupy.asarray(y[0]), p=p)
        assert isinstance(got0, cupy.ndarray) and got0.ndim == 0
    # numpy input with backend="cuda" returns numpy
    w = wasserstein_1d(np.arange(5.0), np.arange(5.0) + 1, backend="cuda")
    assert isinstance(w, np.float64) and abs(w - 1.0) < 1e-12


@pytest.mark.gpu
def test_cupy_inf_and_zero_weights():
    import cupy

    assert float(wasserstein_1d(cupy.asarray([1.0, 2.0, np.inf]), cupy.asarray([np.inf, 1.0]))) == np.inf
    assert abs(float(wasserstein_1d(cupy.asarray([1.0, np.inf]), cupy.asarray([2.0, np.inf]))) - 0.5) < 1e-12
    assert abs(float(wasserstein_1d(cupy.asarray([1.0, 2.0, 100000.0]), cupy.asarray([1.0, 1.0]),
                                    cupy.asarray([1.0, 1.0, 0.0]))) - 0.5) < 1e-12
    with pytest.raises(ValueError, match="needs numpy input"):
        wasserstein_1d(cupy.asarray([1.0]), cupy.asarray([2.0]), backend="numba")


# --------------------------------------------------------------- radix sort (numba backend)
def _nasty(rng, n):
    """Fresh float64 values with negatives, +-0.0, duplicates, infinities, subnormals, huge."""
    pool = np.array([0.0, -0.0, np.inf, -np.inf, 5e-324, -5e-324, 1e308, -1e308, 1.0, -1.0, 2.5])
    x = rng.normal(size=n) * 10.0 ** rng.integers(-5, 6, size=n)
    pick = rng.random(n) < 0.3
    x[pick] = rng.choice(pool, size=int(pick.sum()))
    dup = rng.random(n) < 0.2  # repeat earlier values
    if n > 1:
        x[dup] = x[rng.integers(0, n, size=int(dup.sum()))]
    return x


def _stable_order(x):
    """The radix sort's order: by value, -0.0 before +0.0, ties in input order."""
    return np.lexsort((np.arange(x.shape[-1]), (~np.signbit(x)).astype(np.int8), x))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 255, 256, 257, 2048, 100_003])
def test_radix_sort_matches_np_sort(n):
    from kantorovich.ot._kernels import radix_numba as R

    rng = np.random.default_rng(n)
    x = _nasty(rng, n)
    w = rng.random(n)
    xs = x.copy()
    assert R.sort_rows(xs) is xs
    assert_equal(xs, np.sort(x))
    # a permutation of the bit patterns (the sign of zero kept), -0.0 before +0.0
    assert_equal(np.sort(xs.view(np.uint64)), np.sort(x.view(np.uint64)))
    o = _stable_order(x)
    assert_equal(xs.view(np.uint64), x[o].view(np.uint64))
    # key-value: stable, the payload follows its key
    xk, wk = x.copy(), w.copy()
    R.sort_rows_kv(xk, wk)
    assert_equal(xk.view(np.uint64), x[o].view(np.uint64))
    assert_equal(wk, w[o])


def test_radix_sort_special_layouts():
    from kantorovich.ot._kernels import radix_numba as R

    rng = np.random.default_rng(7)
    # all equal (every pass trivial), only the low digit varying, only the sign varying
    for x in (np.full(3000, -2.75), 1.0 + np.arange(3000)[::-1] * 2.0**-52,
              np.where(rng.random(3000) < 0.5, -0.0, 0.0), np.tile([np.inf, -np.inf], 1500)):
        xs = x.copy()
        R.sort_rows(xs)
        assert_equal(xs.view(np.uint64), x[_stable_order(x)].view(np.uint64))
    # batched rows, plain and with payload; rows sorted independently
    x = _nasty(rng, 4 * 3001).reshape(4, 3001)
    w = rng.random((4, 3001))
    xs, ws = x.copy(), w.copy()
    R.sort_rows_kv(xs, ws)
    xp = x.copy()
    R.sort_rows(xp)
    for r in range(4):
        o = _stable_order(x[r])
        assert_equal(xs[r].view(np.uint64), x[r][o].view(np.uint64))
        assert_equal(ws[r], w[r][o])
        assert_equal(xp[r], np.sort(x[r]))
    # two arrays sorted concurrently, payload on one side only
    a, b, wb = _nasty(rng, 5000), _nasty(rng, 7000), rng.random(7000)
    a1, b1, wb1 = a.copy(), b.copy(), wb.copy()
    R.sort_pair(a1, None, b1, wb1)
    ob = _stable_order(b)
    assert_equal(a1, np.sort(a)), assert_equal(b1, b[ob]), assert_equal(wb1, wb[ob])
    with pytest.raises(ValueError, match="C-contiguous float64"):
        R.sort_rows(np.arange(5))
    with pytest.raises(ValueError, match="C-contiguous float64"):
        R.sort_pair(x[:, 0], None, a, None)


@pytest.mark.parametrize("weighted", [False, True])
def test_numba_radix_path_matches_numpy(weighted):
    """Sizes that take the radix sort (and the two-thread pair sort), with infinities,
    signed zeros, ties and zero weights; equal and unequal sizes, p = 1 and 2."""
    from kantorovich.ot._wasserstein_1d import PAIR_MIN_SIZE, RADIX_MIN_N

    rng = np.random.default_rng(31 + weighted)
    n = PAIR_MIN_SIZE // 2 + 17
    x = np.round(rng.normal(size=n), 2)
    y = np.round(rng.standard_t(4, size=n) + 0.1, 2)
    x[:5] = [0.0, -0.0, 0.0, -0.0, -0.0]
    a = rng.random(n) * (rng.random(n) > 0.2) if weighted else None
    b = rng.random(n) if weighted else None
    for yy, bb in ((y, b), (y[: n // 2 + 3], None if b is None else b[: n // 2 + 3])):
        for p in (1, 2):
            ref = wasserstein_1d(x, yy, a, bb, p=p, backend="numpy")
            assert_allclose(wasserstein_1d(x, yy, a, bb, p=p, backend="numba"), ref, rtol=1e-10)
    # infinities on both sides (matched mass at +inf): finite; unmatched: inf
    xi, yi = x.copy(), y.copy()
    xi[[3, 9]] = np.inf
    yi[[4, 8]] = np.inf
    for p in (1, 2):
        ref = wasserstein_1d(xi, yi, a, b, p=p, backend="numpy")
        assert_allclose(wasserstein_1d(xi, yi, a, b, p=p, backend="numba"), ref, rtol=1e-10)
    yi[8] = -np.inf
    assert wasserstein_1d(xi, yi, a, b, backend="numba") == np.inf
    # batched rows long enough for the radix sort, against one v
    xb = rng.normal(size=(3, RADIX_MIN_N + 5))
    ab = rng.random((3, RADIX_MIN_N + 5)) if weighted else None
    ref = wasserstein_1d(xb, y[:4000], ab, None if b is None else b[:4000], backend="numpy")
    assert_allclose(wasserstein_1d(xb, y[:4000], ab, None if b is None else b[:4000], backend="numba"),
                    ref, rtol=1e-10)


def test_auto_backend_uses_numba_from_the_size_threshold(rng):
    from kantorovich.ot._wasserstein_1d import AUTO_NUMBA_MIN_SIZE, _prepare

    small = np.zeros(10)
    big = np.zeros(AUTO_NUMBA_MIN_SIZE // 2)
    assert _prepare(small, small, None, None, 1, "auto")[5] == "numpy"
    assert _prepare(big, big, None, None, 1, "auto")[5] == "numba"
    assert _prepare(big, big, None, None, 1, "numpy")[5] == "numpy"


def test_radix_path_does_not_modify_input(rng):
    n = 70_000  # pair sort with payloads
    x, y, a, b = rng.normal(size=n), rng.normal(size=n), rng.random(n), rng.random(n)
    saved = [v.copy() for v in (x, y, a, b)]
    wasserstein_1d(x, y, a, b, backend="numba")
    xx = np.stack([x, -x])
    xx0 = xx.copy()
    wasserstein_1d(xx, y, a, b, backend="numba")  # weights (n,) broadcast to the rows
    for v, v0 in zip((x, y, a, b, xx), saved + [xx0]):
        assert_equal(v, v0)


# --------------------------------------------------------------- fused out-of-place sort, chunked merge
@pytest.mark.parametrize("n", [0, 1, 2, 3, 255, 256, 257, 2049, 100_003])
def test_sort_pair_from_matches_stable_sort(n):
    """The out-of-place radix sort with fused checks: bit-for-bit the stable order, payload
    carried, totals and flags right, inputs untouched."""
    from kantorovich.ot._kernels import radix_numba as R

    rng = np.random.default_rng(500 + n)
    x, y = _nasty(rng, n), _nasty(rng, n + 3)
    wx = rng.random(n) * (rng.random(n) > 0.3)
    saved = [a.copy() for a in (x, y, wx)]
    xs, wxs, ys, wys, info = R.sort_pair_from(x, wx, y, None)
    o = _stable_order(x)
    assert_equal(xs.view(np.uint64), x[o].view(np.uint64))
    assert_equal(wxs, wx[o])
    assert_equal(ys.view(np.uint64), y[_stable_order(y)].view(np.uint64))
    assert wys is None
    assert info["x"][:2] == (False, False) and info["y"] == (False, False, None)
    assert_allclose(info["x"][2], wx.sum(), rtol=1e-12)
    for a, a0 in zip((x, y, wx), saved):
        assert_equal(a, a0)


def test_sort_pair_from_layouts_and_flags():
    from kantorovich.ot._kernels import radix_numba as R

    rng = np.random.default_rng(8)
    # no live pass (all equal), one live pass (flip and unflip in the same scatter: only the
    # low digit varies), sign only, infinities only; odd and even live-pass counts
    for x in (np.full(3001, -2.75), 1.0 + np.arange(3001)[::-1] * 2.0**-52,
              -1.0 - np.arange(3001)[::-1] * 2.0**-52, np.where(rng.random(3001) < 0.5, -0.0, 0.0),
              np.tile([np.inf, -np.inf, 0.0], 1000), 1.0 + rng.integers(0, 2**20, 3001) * 2.0**-52,
              # runs of equal top-48-bit keys finished by the low-digit fix-up: short runs
              # (insertion sort), runs of exactly 32 / 33 (the switch to the run radix), and
              # negatives (low bits in reverse order), mixed with singletons
              1.0 + rng.integers(0, 2**24, 3001) * 2.0**-52,
              -(1.0 + rng.integers(0, 2**24, 3001) * 2.0**-52),
              np.concatenate([1.0 + rng.permutation(32) * 2.0**-52, 2.0 + rng.permutation(33) * 2.0**-51,
                              -3.0 - rng.permutation(33) * 2.0**-51, rng.normal(size=500),
                              np.repeat([5.0, -5.0], 40)])):
        w = rng.random(x.size)
        xs, ws, ys, _, _ = R.sort_pair_from(x, w, x, None)
        o = _stable_order(x)
        assert_equal(xs.view(np.uint64), x[o].view(np.uint64))
        assert_equal(ys.view(np.uint64), x[o].view(np.uint64))
        assert_equal(ws, w[o])
    x = rng.normal(size=5000)
    w = rng.random(5000)
    for bad_x, bad_w, flags in ((np.nan, 1.0, (True, False)), (1.0, -1.0, (False, True)),
                                (1.0, np.inf, (False, True)), (1.0, np.nan, (False, True))):
        xb, wb = x.copy(), w.copy()
        xb[1234], wb[4321] = bad_x, bad_w
        info = R.sort_pair_from(xb, wb, x, None)[4]
        assert info["x"][:2] == flags and info["y"][:2] == (False, False)
    neg_nan = np.array([-np.nan] * 3 + [1.0])
    assert R.sort_pair_from(neg_nan, None, x, None)[4]["x"][0]
    with pytest.raises(ValueError, match="C-contiguous float64"):
        R.sort_pair_from(x[::2], None, x, None)


def _chunk_case(rng, n, m):
    x = np.sort(np.round(rng.normal(size=n), 1))  # ties
    y = np.sort(np.round(rng.normal(size=m) + 0.2, 1))
    wu = rng.random(n) * (rng.random(n) > 0.4)  # zero weights, runs of them
    wv = rng.random(m) * (rng.random(m) > 0.2)
    wu[rng.integers(n)] += 0.5
    wv[rng.integers(m)] += 0.5
    return x, wu, y, wv


@pytest.mark.parametrize("trial", range(8))
def test_chunked_weighted_merge_matches_reference(trial):
    """The parallel merge (staircase cut at quantile levels) against the numpy reference
    and the serial kernel, for many chunk counts and block lengths (split points inside
    blocks, on ties and on runs of zero weights), infinities with zero and positive mass."""
    from kantorovich.ot._kernels import wass1d_numba as K

    rng = np.random.default_rng(700 + trial)
    n, m = (int(k) for k in rng.integers(1, 2500, size=2))
    x, wu, y, wv = _chunk_case(rng, n, m)
    if trial % 4 == 1:  # zero-weight points at the infinities: ignored
        x = np.concatenate([[-np.inf], x, [np.inf, np.inf]])
        wu = np.concatenate([[0.0], wu, [0.0, 0.0]])
    if trial % 4 == 2:  # matched mass at +inf: finite
        x, y = np.append(x, np.inf), np.append(y, np.inf)
        wu, wv = np.append(wu, wu.sum()), np.append(wv, wv.sum())
    if trial % 4 == 3:  # one dominant atom: most chunks fall inside it
        wu[rng.integers(wu.size)] += 1e6
    p = [1.0, 2.0, 1.5, 3.0][trial % 4]
    ref = _wpp_reference(x[None], wu[None], y[None], wv[None], p)[0]
    serial = K._merge_weighted_rows(x[None], wu[None], y[None], wv[None], p, np.ones(1))[0]
    assert_allclose(serial, ref, rtol=1e-10)
    for chunks, blk in ((16, 4096), (7, 3), (64, 1), (2, 17), (1, 5), (33, 64)):
        got = K.merge_weighted_chunked(x, wu, y, wv, p, chunks, blk)
        assert_allclose(got, ref, rtol=1e-10, err_msg=f"chunks={chunks} blk={blk}")
    # unmatched mass at +inf: inf in every chunking
    xi = np.append(x[np.isfinite(x)], np.inf)
    wi = np.append(wu[np.isfinite(x)], 1.0)
    for chunks, blk in ((16, 4096), (7, 3)):
        assert K.merge_weighted_chunked(xi, wi, y, wv, p, chunks, blk) == np.inf
    # chunking of a uniform-weight problem equals the exact integer merge
    assert_allclose(K.merge_weighted_chunked(x[np.isfinite(x)], np.ones(np.isfinite(x).sum()), y,
                                             np.ones(y.size), p, 9, 7),
                    K.merge_uniform(x[None][:, np.isfinite(x)], y[None], p)[0], rtol=1e-10)


def test_fast_single_pair_path_matches_numpy_and_reports_bad_input():
    """The copy-free path (1-D float64 contiguous rows, >= PAIR_MIN_SIZE values): same values
    as the numpy backend (one-sided weights, unequal sizes, p != 1) and the ordinary errors."""
    from kantorovich.ot import _wasserstein_1d as W

    rng = np.random.default_rng(41)
    n = W.PAIR_MIN_SIZE // 2 + 5
    m = W.PAIR_MIN_SIZE // 2 + 1001
    x = np.round(rng.normal(size=n), 2)
    y = np.round(rng.standard_t(3, size=m), 2)
    a = rng.random(n) * (rng.random(n) > 0.3)
    b = rng.random(m)
    assert W._fast_single_pair(x, y, a, b, 1, "auto") is not None
    assert W._fast_single_pair(x, y[:100], a, None, 1, "auto") is None  # too short
    assert W._fast_single_pair(x.astype(np.float32), y, None, None, 1, "auto") is None
    for uw, vw in ((a, b), (a, None), (None, b), (None, None)):
        for p in (1, 2.5):
            ref = wasserstein_1d(x, y, uw, vw, p=p, backend="numpy")
            got = W._fast_single_pair(x, y, uw, vw, p, "numba")
            assert isinstance(got, np.float64)
            assert_allclose(got, ref, rtol=1e-10)
    for kw, match in ((dict(u_values=np.where(np.arange(n) == 7, np.nan, x)), "`u_values` must not contain NaN"),
                      (dict(v_values=np.where(np.arange(m) == 9, np.nan, y)), "`v_values` must not contain NaN"),
                      (dict(u_weights=np.where(np.arange(n) == 3, -1.0, a)), "`u_weights` must be non-negative"),
                      (dict(v_weights=np.where(np.arange(m) == 3, np.inf, b)), "`v_weights`"),
                      (dict(v_weights=np.zeros(m)), "`v_weights` must have a positive total"),
                      (dict(u_weights=np.full(n, 1e305)), "`u_weights` must have a finite total"),
                      (dict(u_weights=a[:-1]), "`u_weights` must have the same length")):
        args = dict(u_values=x, v_values=y, u_weights=a, v_weights=b) | kw
        with pytest.raises(ValueError, match=match):
            wasserstein_1d(**args)


def test_plan_with_overflowing_potentials_warns_and_keeps_value():
    # |x - y|^2 of 1e300-scale points overflows: the value is finite (exact rescaling) but the
    # potentials are not; this raised OverflowError from `scale ** p`
    u, v = np.array([0.0, 1.0, 2.0]), np.array([0.5, 1.5, 3.0])
    ref = wasserstein_1d_plan(u, v, p=2)
    from kantorovich.exceptions import KantorovichWarning

    with pytest.warns(KantorovichWarning, match="potentials"):
        r = wasserstein_1d_plan(u * 1e300, v * 1e300, p=2)
    assert_allclose(r.value, ref.value * 1e300, rtol=1e-14)
    assert not np.isnan(r.f).any() and not np.isnan(r.g).any()
    assert_allclose(r.plan.toarray(), ref.plan.toarray())


# ----------------------------------------------------------------------------- far values, large p
@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_far_zero_weight_value_does_not_hide_unit_scale_differences(backend):
    # a far value (even of zero weight) must not set the scale: W_p is set by the moved distances
    assert wasserstein_1d([0.0, 1.0, -1e300], [2.0, 3.0], [1.0, 1.0, 0.0], p=3, backend=backend) == 2.0
    assert_allclose(wasserstein_1d([0.0, 1.0, 1e200], [2.0, 3.0, 1e200], p=2, backend=backend),
                    math.sqrt(8 / 3), rtol=1e-15)
    # batch: only the affected row is redone, the others keep their values
    x = np.array([[0.0, 1.0, 1e200], [0.0, 1.0, 5.0]])
    got = wasserstein_1d(x, [2.0, 3.0, 1e200], p=2, backend=backend)
    assert_allclose(got, [math.sqrt(8 / 3), wasserstein_1d(x[1], [2.0, 3.0, 1e200], p=2)], rtol=1e-15)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_large_p_tends_to_largest_moved_distance(backend):
    from kantorovich.exceptions import KantorovichWarning

    for p in (1000, 1074, 1100, 1e300):
        assert wasserstein_1d([0.0, 1.0], [2.0, 3.0], p=p, backend=backend) == 2.0
        # potentials of order 2^p: beyond float64 from p = 1024 on, said
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            assert wasserstein_1d_plan([0.0, 1.0], [2.0, 3.0], p=p).value == 2.0
        said = [w for w in rec if issubclass(w.category, KantorovichWarning)
                and "beyond float64" in str(w.message)]
        assert len(said) == (p >= 1024) and len(rec) == len(said)
    # one point against three: (sum m d^p)^(1/p) -> max d = 19.7 as p -> inf
    assert_allclose(wasserstein_1d([-10.0], [1.0, -2.8, 9.7], [1.0], [4.0, 1.0, 1.0], p=1e300, backend=backend),
                    19.7, rtol=1e-15)
    # p large but moderate: compare with the exact sum in extended precision
    import mpmath

    p = 1500
    d = [mpmath.mpf(19.7), mpmath.mpf(12.8), mpmath.mpf(11)]
    m = [mpmath.mpf(1) / 6, mpmath.mpf(1) / 6, mpmath.mpf(4) / 6]
    ref = float(mpmath.fsum(mi * di ** p for mi, di in zip(m, d)) ** (mpmath.mpf(1) / p))
    assert_allclose(wasserstein_1d([-10.0], [1.0, -2.8, 9.7], [1.0], [4.0, 1.0, 1.0], p=p, backend=backend),
                    ref, rtol=1e-13)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sums_and_differences_beyond_float64(backend):
    # p = 1: the sum of 30 distances of 2e307 overflowed
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert wasserstein_1d(np.full(30, 1e307), np.full(30, -1e307), backend=backend) == 2e307
        # |values| >= 2**1023: the scale 2**1024 overflowed (OverflowError)
        assert wasserstein_1d([1e308], [0.0], p=2, backend=backend) == 1e308
        # |x - y| itself overflows for finite values: W_1 = 1.5e308 is representable
        assert_allclose(wasserstein_1d([1e308], [-1e308, 1e308], None, [1.0, 3.0], p=3, backend=backend),
                        1e308 * (2 / 4 ** (1 / 3)), rtol=1e-15)
        # identical inputs at any scale: exactly 0
        assert wasserstein_1d([1e-300, 3e-300], [3e-300, 1e-300], p=5, backend=backend) == 0.0
        assert wasserstein_1d([5e-324, 0.0], [0.0, 0.0], p=2, backend=backend) == pytest.approx(5e-324 / 2 ** 0.5, abs=5e-324)
    # positive mass moved to an infinity is still inf, at every p
    for p in (1, 2, 1e300):
        assert wasserstein_1d([1.0, np.inf], [1.0, 2.0], p=p, backend=backend) == np.inf


def test_plan_far_values_and_large_p_give_value_and_no_nan():
    from kantorovich.exceptions import KantorovichWarning

    with pytest.warns(KantorovichWarning, match="beyond float64"):  # 1e300^3 potentials
        r = wasserstein_1d_plan([0.0, 1.0, -1e300], [2.0, 3.0], [1.0, 1.0, 0.0], p=3)
    assert r.value == 2.0 or abs(r.value - 2.0) < 1e-15
    u, v = [-10.0], [1.0, -2.8328848003381637, 10.0, 9.714024962733227, -2.872308423207869]
    vw = [0.0, 4.1758084702588185, 1.0, 1.192092896e-07, 0.05550357114219078]
    with pytest.warns(KantorovichWarning, match="potentials"):
        r = wasserstein_1d_plan(u, v, [7.59137161986942], vw, p=1e300)
    assert r.value == 20.0
    assert not np.isnan(r.f).any() and not np.isnan(r.g).any()
    # finite potentials where they fit: p = 1 with a far zero-weight point
    r = wasserstein_1d_plan([0.0, 1.0, -1e300], [2.0, 3.0], [1.0, 1.0, 0.0], p=1)
    assert r.value == 2.0 and np.all(np.isfinite(r.f)) and np.all(np.isfinite(r.g))


def test_none_values_and_weights_rows_beyond_the_values():
    with pytest.raises(TypeError, match="`u_values`"):
        wasserstein_1d(None, np.array([1.0, 2.0]))
    with pytest.raises(TypeError, match="`v_values`"):
        wasserstein_1d(np.array([1.0, 2.0]), None)
    # weights broadcast against their values: a (2, n) weight array for a (1, n) value array
    # is a batch of two problems on the same values
    w = np.array([[1.0, 1.0], [1.0, 3.0]])
    got = wasserstein_1d([[1.0, 2.0]], [1.0, 3.0], w)
    assert_allclose(got, [wasserstein_1d([1.0, 2.0], [1.0, 3.0], w[i]) for i in range(2)],
                    rtol=1e-15)
    with pytest.raises(ValueError, match="`u_weights` must have the same length"):
        wasserstein_1d([[1.0, 2.0]], [1.0, 3.0], np.ones((2, 3)))
    # against 1-D values the same weights are refused (1-D values give one distance): the
    # docstring says so and points to values[None]
    with pytest.raises(ValueError, match="`u_weights` must not have more dimensions"):
        wasserstein_1d([1.0, 2.0], [1.0, 3.0], w)
    with pytest.raises(ValueError, match="`u_weights` of shape"):
        wasserstein_1d(np.ones((3, 2)), [1.0, 3.0], np.ones((2, 2)))


def test_rescaled_pass_on_every_numba_kernel():
    # merge_uniform (unequal sizes, uniform weights) at a p where the value-scale sum underflows
    assert_allclose(wasserstein_1d([0.0, 1.0], [2.0, 3.0, 4.0], p=1100, backend="numba"),
                    wasserstein_1d([0.0, 1.0], [2.0, 3.0, 4.0], p=1100, backend="numpy"), rtol=1e-14)
    # the chunked weighted merge (n + m >= PAR_MERGE_MIN) with a far zero-weight value
    g = np.random.default_rng(0)
    n = 40_000
    x, y, a, b = g.normal(size=n), g.normal(size=n + 3) + 1, g.random(n), g.random(n + 3)
    for p in (1.0, 2.0, 3.0):
        ref = wasserstein_1d(x, y, a, b, p=p, backend="numpy")
        got = wasserstein_1d(np.r_[x, -1e300], y, np.r_[a, 0.0], b, p=p, backend="numba")
        assert_allclose(got, ref, rtol=1e-12)


def test_p_may_be_a_zero_d_array_as_eps_may():
    """A 0-d torch/JAX/numpy `p` was a TypeError while a 0-d `eps` was taken as its number."""
    torch = pytest.importorskip("torch")
    jnp = pytest.importorskip("jax.numpy")
    from kantorovich.ot import pairwise_wasserstein, sliced_wasserstein

    rng = np.random.default_rng(3)
    u, v = rng.random(9), rng.random(7)
    ref = wasserstein_1d(u, v, p=2)
    for p in (np.array(2.0), torch.tensor(2.0), torch.tensor(2), jnp.asarray(2.0)):
        wrap = (lambda a: torch.from_numpy(a)) if isinstance(p, torch.Tensor) else (
            jnp.asarray if not isinstance(p, np.ndarray) else np.asarray)
        assert float(wasserstein_1d(wrap(u), wrap(v), p=p)) == pytest.approx(ref, rel=1e-6)
    X, Y = rng.random((6, 2)), rng.random((5, 2))
    assert float(sliced_wasserstein(X, Y, n_projections=8, p=np.array(2), rng=0)) == \
        sliced_wasserstein(X, Y, n_projections=8, p=2, rng=0)
    np.testing.assert_array_equal(pairwise_wasserstein([u, v, u[:4]], p=np.array(2.0)),
                                  pairwise_wasserstein([u, v, u[:4]], p=2))
    tu, tv = torch.from_numpy(u), torch.from_numpy(v)
    for bad, err in ((torch.tensor(True), TypeError), (torch.tensor([2.0]), TypeError),
                     (torch.tensor(0.5), ValueError)):
        with pytest.raises(err, match="`p` must be"):
            wasserstein_1d(tu, tv, p=bad)
