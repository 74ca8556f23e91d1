"""kantorovich.families: closed forms checked against independent numerics, sampling, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, stats

from kantorovich.families import (
    GaussianPair,
    HistogramPair,
    ParallelLines,
    UniformSegments,
    gaussian_kl,
    gaussian_w2,
)

LOG2 = math.log(2.0)


# ----------------------------------------------------------------------------- parallel lines
@pytest.mark.parametrize("theta", [-1.5, -0.01, 1e-9, 0.3, 2.0])
def test_parallel_lines_closed_forms(theta):
    fam = ParallelLines(theta)
    assert fam.dim == 2
    assert fam.w1() == abs(theta) and fam.w2() == abs(theta)
    assert fam.tv() == 1.0 and fam.js() == LOG2
    assert fam.kl() == math.inf and fam.kl_reverse() == math.inf
    assert isinstance(fam.js(), float) and isinstance(fam.w1(), float)


def test_parallel_lines_theta_zero_all_zero():
    # one source prints TV = 1 at theta = 0, a typo (docs/theory.md lists it): all
    # divergences vanish there.
    fam = ParallelLines(0.0)
    assert fam.summary() == {"tv": 0.0, "kl": 0.0, "kl_reverse": 0.0, "js": 0.0, "w1": 0.0, "w2": 0.0}


def test_parallel_lines_sample():
    fam = ParallelLines(0.7)
    x, y = fam.sample(500, rng=1, m=300)
    assert x.shape == (500, 2) and y.shape == (300, 2)
    assert np.all(x[:, 0] == 0.0) and np.all(y[:, 0] == 0.7)
    assert 0 <= x[:, 1].min() and x[:, 1].max() <= 1
    # Z ~ U[0, 1]: mean 1/2, sd 1/sqrt(12)
    assert abs(x[:, 1].mean() - 0.5) < 4 / math.sqrt(12 * 500)
    x2, y2 = fam.sample(500, rng=1, m=300)
    assert np.array_equal(x, x2) and np.array_equal(y, y2)
    g = np.random.default_rng(5)
    assert not np.array_equal(fam.sample(10, rng=g)[0], fam.sample(10, rng=g)[0])


# ----------------------------------------------------------------------------- Gaussians 1-D
GAUSS_1D = [(0.0, 1.0, 2.0, 1.0), (0.3, 1.5, -1.0, 0.5), (1.0, 0.04, 1.2, 9.0), (-2.0, 2.0, -2.0, 0.7)]


def _pdfs(m0, v0, m1, v1):
    s0, s1 = math.sqrt(v0), math.sqrt(v1)
    return (lambda x: stats.norm.pdf(x, m0, s0)), (lambda x: stats.norm.pdf(x, m1, s1)), s0, s1


@pytest.mark.parametrize("args", GAUSS_1D)
def test_gaussian_1d_kl_vs_quadrature(args):
    m0, v0, m1, v1 = args
    p, q, s0, s1 = _pdfs(*args)
    lo, hi = min(m0 - 30 * s0, m1 - 30 * s1), max(m0 + 30 * s0, m1 + 30 * s1)
    lp = lambda x: stats.norm.logpdf(x, m0, s0)
    lq = lambda x: stats.norm.logpdf(x, m1, s1)
    num = integrate.quad(lambda x: p(x) * (lp(x) - lq(x)), lo, hi, points=[m0, m1], limit=400)[0]
    fam = GaussianPair(*args)
    assert fam.kl() == pytest.approx(num, rel=1e-8, abs=1e-12)
    assert fam.kl() == pytest.approx(math.log(s1 / s0) + (v0 + (m0 - m1) ** 2) / (2 * v1) - 0.5, rel=1e-13)
    assert fam.kl_reverse() == pytest.approx(gaussian_kl(m1, v1, m0, v0), rel=1e-14)


@pytest.mark.parametrize("args", GAUSS_1D)
def test_gaussian_1d_w1_w2_vs_quantile_formula(args):
    # W_p^p = ∫_0^1 |F^{-1}(u) - G^{-1}(u)|^p du, by Gauss-Legendre in u (independent of ∫|F-G|)
    m0, v0, m1, v1 = args
    s0, s1 = math.sqrt(v0), math.sqrt(v1)
    f = lambda u: abs((m0 - m1) + (s0 - s1) * stats.norm.ppf(u))
    w1 = integrate.quad(f, 0, 1, points=[0.5], limit=400)[0]
    w2 = math.sqrt(integrate.quad(lambda u: f(u) ** 2, 0, 1, limit=400)[0])
    fam = GaussianPair(*args)
    assert fam.w1() == pytest.approx(w1, rel=1e-8)
    assert fam.w2() == pytest.approx(w2, rel=1e-8)
    assert fam.w2() == pytest.approx(math.hypot(m0 - m1, s0 - s1), rel=1e-14)
    assert fam.w1() <= fam.w2() * (1 + 1e-12)


@pytest.mark.parametrize("ratio,shift", [(1e-3, 0.0), (1e-3, 0.3), (1e-4, 3.0), (1e-6, 0.3)])
def test_gaussian_1d_js_deviations_far_apart(ratio, shift):
    # against a 30-digit quadrature split on the scales of both Gaussians: one quadrature in x
    # with breakpoints at the means missed the narrow peak (1.5e-4 off at a ratio of 1e-3)
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 30
    m1, s1 = mp.mpf(shift), mp.mpf(ratio)

    def f(x):
        lp = -x ** 2 / 2 - mp.log(2 * mp.pi) / 2
        lq = -((x - m1) / s1) ** 2 / 2 - mp.log(s1) - mp.log(2 * mp.pi) / 2
        lm = mp.log(mp.exp(lp) + mp.exp(lq))
        return (mp.exp(lp) * (mp.log(2) + lp - lm) + mp.exp(lq) * (mp.log(2) + lq - lm)) / 2

    cuts = sorted({float(c) for c in [-40, 40] + [m1 + t * s1 for t in (-40, -20, -10, -5, -2, -1, 0,
                                                                          1, 2, 5, 10, 20, 40)]})
    want = float(mp.quad(f, cuts))
    assert GaussianPair(0.0, 1.0, shift, ratio * ratio).js() == pytest.approx(want, rel=0, abs=1e-13)


@pytest.mark.parametrize("ratio", [1e-3, 1e-4, 1e-6, 1e-9, 1e-12])
@pytest.mark.parametrize("shift", [0.0, 1e-3, 0.3, 3.0])
def test_gaussian_1d_w1_deviations_far_apart(ratio, shift):
    # W1 = E|Δ + σ Z|, the mean of a folded normal (scipy.stats.foldnorm, c = |Δ| / σ): the
    # quadrature of ∫|F - G| missed the narrow Gaussian's spread from a ratio of 1e-3 of the
    # deviations (relative error about that ratio, with scipy's IntegrationWarning)
    import warnings

    sigma = 1.0 - ratio
    want = stats.foldnorm.mean(shift / sigma, scale=sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = GaussianPair(0.0, 1.0, shift, ratio * ratio).w1()
    assert got == pytest.approx(want, rel=1e-13)
    assert GaussianPair(shift, ratio * ratio, 0.0, 1.0).w1() == got  # symmetric


@pytest.mark.parametrize("args", GAUSS_1D)
def test_gaussian_1d_tv_js_vs_grid(args):
    m0, v0, m1, v1 = args
    p, q, s0, s1 = _pdfs(*args)
    lo, hi = min(m0 - 20 * s0, m1 - 20 * s1), max(m0 + 20 * s0, m1 + 20 * s1)
    x = np.linspace(lo, hi, 400001)
    px, qx = p(x), q(x)
    tv = 0.5 * integrate.simpson(np.abs(px - qx), x=x)
    mx = 0.5 * (px + qx)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = 0.5 * (np.where(px > 0, px * np.log(px / mx), 0) + np.where(qx > 0, qx * np.log(qx / mx), 0))
    js = integrate.simpson(np.nan_to_num(t), x=x)
    fam = GaussianPair(*args)
    assert fam.tv() == pytest.approx(tv, abs=2e-7)
    assert fam.js() == pytest.approx(js, abs=2e-7)
    assert 0 <= fam.js() <= LOG2 and 0 <= fam.tv() <= 1


def test_gaussian_identical_is_zero():
    fam = GaussianPair(1.0, 2.0, 1.0, 2.0)
    assert fam.summary() == {"tv": 0.0, "kl": 0.0, "kl_reverse": 0.0, "js": 0.0, "w1": 0.0, "w2": 0.0}


def test_gaussian_equal_variance_closed_forms():
    fam = GaussianPair(0.0, 4.0, 3.0, 4.0)
    assert fam.w1() == 3.0
    assert fam.tv() == pytest.approx(2 * stats.norm.cdf(3.0 / 4.0) - 1, rel=1e-14)
    assert fam.kl() == pytest.approx(9 / 8, rel=1e-14)


# ----------------------------------------------------------------------------- Gaussians d-D
def _spd(rng, d):
    A = rng.standard_normal((d, d))
    return A @ A.T + 0.5 * np.eye(d)


@pytest.mark.parametrize("d", [2, 3, 5])
def test_gaussian_dd_kl_and_w2(d):
    rng = np.random.default_rng(d)
    m0, m1 = rng.standard_normal(d), rng.standard_normal(d)
    S0, S1 = _spd(rng, d), _spd(rng, d)
    inv = np.linalg.inv(S1)
    dm = m1 - m0
    kl = 0.5 * (np.trace(inv @ S0) + dm @ inv @ dm - d + np.log(np.linalg.det(S1) / np.linalg.det(S0)))
    assert gaussian_kl(m0, S0, m1, S1) == pytest.approx(kl, rel=1e-10)
    import ot.gaussian as pg

    w2_pot = float(pg.bures_wasserstein_distance(m0, m1, S0, S1))
    assert gaussian_w2(m0, S0, m1, S1) == pytest.approx(w2_pot, rel=1e-8)
    fam = GaussianPair(m0, S0, m1, S1)
    assert fam.dim == d and fam.w2() == gaussian_w2(m0, S0, m1, S1)
    with pytest.raises(NotImplementedError):
        fam.w1()
    with pytest.raises(NotImplementedError):
        fam.js()
    with pytest.raises(NotImplementedError):
        fam.tv()  # unequal covariances


def test_gaussian_dd_commuting_w2_and_equal_cov_tv():
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 1.0])
    m0, m1 = np.zeros(3), np.array([1.0, -2.0, 0.5])
    w2 = math.sqrt(m1 @ m1 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert gaussian_w2(m0, np.diag(a), m1, np.diag(b)) == pytest.approx(w2, rel=1e-13)
    S = np.array([[2.0, 0.5], [0.5, 1.0]])
    mu = np.array([1.0, 1.0])
    delta = math.sqrt(mu @ np.linalg.solve(S, mu))
    assert GaussianPair(np.zeros(2), S, mu, S).tv() == pytest.approx(2 * stats.norm.cdf(delta / 2) - 1, rel=1e-13)


def test_gaussian_sample_moments():
    S0 = np.array([[2.0, 0.6], [0.6, 1.0]])
    fam = GaussianPair([1.0, -1.0], S0, [0.0, 0.0], np.eye(2))
    x, y = fam.sample(20000, rng=3, m=100)
    assert x.shape == (20000, 2) and y.shape == (100, 2)
    # mean within 5 standard errors, covariance within 5% (n = 20000)
    se = np.sqrt(np.diag(S0) / 20000)
    assert np.all(np.abs(x.mean(0) - [1.0, -1.0]) < 5 * se)
    assert np.allclose(np.cov(x.T), S0, rtol=0.05, atol=0.03)
    x1, _ = GaussianPair(2.0, 0.25, 0.0, 1.0).sample(5, rng=0)
    assert x1.shape == (5, 1)


# ----------------------------------------------------------------------------- uniform segments
@pytest.mark.parametrize("ab", [(0, 1, 2, 3), (0, 2, 1, 4), (0, 1, 0, 1), (0.2, 0.5, 0, 1), (-1, 3, 0, 1),
                                (0, 1, 1, 2)])
def test_uniform_segments_vs_numerics(ab):
    a0, b0, a1, b1 = ab
    fam = UniformSegments(*ab)
    lo, hi = min(a0, a1) - 1, max(b0, b1) + 1
    brk = sorted({a0, b0, a1, b1})
    p, q = fam.pdf0, fam.pdf1
    tv = 0.5 * integrate.quad(lambda x: abs(p(x) - q(x)), lo, hi, points=brk, limit=200)[0]

    def js_t(x):
        px, qx = float(p(x)), float(q(x))
        m = 0.5 * (px + qx)
        return 0.5 * ((px * math.log(px / m) if px > 0 else 0) + (qx * math.log(qx / m) if qx > 0 else 0))

    js = integrate.quad(js_t, lo, hi, points=brk, limit=200)[0]
    F = lambda x: min(max((x - a0) / (b0 - a0), 0), 1)
    G = lambda x: min(max((x - a1) / (b1 - a1), 0), 1)
    w1 = integrate.quad(lambda x: abs(F(x) - G(x)), lo, hi, points=brk, limit=200)[0]
    u = (np.arange(200000) + 0.5) / 200000
    w2 = math.sqrt(np.mean(((a0 + u * (b0 - a0)) - (a1 + u * (b1 - a1))) ** 2))
    assert fam.tv() == pytest.approx(tv, abs=1e-10)
    assert fam.js() == pytest.approx(js, abs=1e-10)
    assert fam.w1() == pytest.approx(w1, abs=1e-10)
    assert fam.w2() == pytest.approx(w2, rel=1e-8, abs=1e-12)
    inside = a1 <= a0 and b0 <= b1
    assert fam.kl() == (math.log((b1 - a1) / (b0 - a0)) if inside else math.inf)


def test_uniform_segments_disjoint_like_parallel_lines():
    fam = UniformSegments(0, 1, 5, 6)
    assert fam.js() == LOG2 and fam.tv() == 1.0 and fam.kl() == math.inf and fam.w1() == 5.0
    x, y = fam.sample(100, rng=0)
    assert x.shape == (100, 1) and x.min() >= 0 and x.max() <= 1 and y.min() >= 5


# ----------------------------------------------------------------------------- histograms
def test_histogram_pair_c2_and_scipy():
    h = HistogramPair([3, 2, 1, 4], [1, 2, 4, 3])
    assert h.w1() == pytest.approx(0.5, abs=1e-15)
    rng = np.random.default_rng(0)
    for _ in range(5):
        n = 7
        p, q, s = rng.random(n), rng.random(n), rng.standard_normal(n) * 3
        h = HistogramPair(p, q, support=s)
        assert h.w1() == pytest.approx(stats.wasserstein_distance(s, s, p, q), rel=1e-12, abs=1e-14)
        # W2 against the quantile formula on a fine grid of u
        u = (np.arange(100000) + 0.5) / 100000
        o = np.argsort(s)
        cp, cq = np.cumsum(p[o]) / p.sum(), np.cumsum(q[o]) / q.sum()
        qp = s[o][np.minimum(np.searchsorted(cp, u), n - 1)]
        qq = s[o][np.minimum(np.searchsorted(cq, u), n - 1)]
        assert h.w2() == pytest.approx(math.sqrt(np.mean((qp - qq) ** 2)), rel=1e-3)


def test_histogram_pair_divergences_and_sampling():
    h = HistogramPair([1, 0, 1], [0, 1, 1], support=[[0, 0], [1, 0], [0, 1]])
    assert h.dim == 2
    assert h.tv() == pytest.approx(0.5) and h.kl() == math.inf
    assert h.js() == pytest.approx(0.5 * LOG2)
    with pytest.raises(NotImplementedError, match="on a 2-D support.*emd"):
        h.w1()
    with pytest.raises(NotImplementedError, match="on an 8-D support"):
        HistogramPair([1, 1], [1, 0], support=np.eye(2, 8)).w1()
    x, y = h.sample(1000, rng=2, m=10)
    assert x.shape == (1000, 2) and y.shape == (10, 2)
    assert not np.any(np.all(x == [1, 0], axis=1))  # zero-mass point never drawn
    assert abs(np.mean(np.all(x == [0, 0], axis=1)) - 0.5) < 0.06


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize("make, err, match", [
    (lambda: ParallelLines(float("nan")), ValueError, "theta"),
    (lambda: ParallelLines("a"), TypeError, "theta"),
    (lambda: ParallelLines(True), TypeError, "theta"),
    (lambda: GaussianPair(0.0, -1.0, 0.0, 1.0), ValueError, "cov0"),
    (lambda: GaussianPair(0.0, 1.0, 0.0, 0.0), ValueError, "cov1"),
    (lambda: GaussianPair([0, 0], np.eye(2), [0, 0, 0], np.eye(3)), ValueError, "mean"),
    (lambda: GaussianPair([0, 0], np.eye(3), [0, 0], np.eye(2)), ValueError, "cov0"),
    (lambda: GaussianPair([0, 0], [[1, 2], [0, 1]], [0, 0], np.eye(2)), ValueError, "symmetric"),
    (lambda: GaussianPair([0, np.inf], np.eye(2), [0, 0], np.eye(2)), ValueError, "mean0"),
    (lambda: GaussianPair(0.0, np.nan, 0.0, 1.0), ValueError, "cov0"),
    (lambda: GaussianPair([], [], [], []), ValueError, "mean0"),
    (lambda: UniformSegments(1, 0, 0, 1), ValueError, "a0"),
    # numeric strings are not numbers (float() accepted them)
    (lambda: ParallelLines("0.3"), TypeError, "`theta`"),
    (lambda: UniformSegments("0", 1, 0.5, 2), TypeError, "`a0`"),
    (lambda: UniformSegments(0, 1, 0.5, "2"), TypeError, "`b1`"),
    (lambda: ParallelLines(b"1"), TypeError, "`theta`"),
    (lambda: ParallelLines(1j), TypeError, "`theta`"),
    (lambda: UniformSegments(0, 1, 2, 2), ValueError, "a1"),
    (lambda: HistogramPair([1, -1], [1, 1]), ValueError, "`p`"),
    (lambda: HistogramPair([1, 1], [1, 1, 1]), ValueError, "`q`"),
    (lambda: HistogramPair([0, 0], [1, 1]), ValueError, "`p`"),
    (lambda: HistogramPair([1, 1], [1, np.nan]), ValueError, "`q`"),
    (lambda: HistogramPair([[1, 1]], [[1, 1]]), ValueError, "`p`"),
    (lambda: HistogramPair([1, 1], [1, 1], support=[0, 1, 2]), ValueError, "support"),
    (lambda: HistogramPair([1, 1], [1, 1], support=[0, np.nan]), ValueError, "support"),
    (lambda: ParallelLines(1.0).sample(0), ValueError, "`n`"),
    (lambda: ParallelLines(1.0).sample(2.5), TypeError, "`n`"),
    (lambda: ParallelLines(1.0).sample(3, m=0), ValueError, "`m`"),
    (lambda: ParallelLines(1.0).sample(3, rng="x"), TypeError, "rng"),
    # the points of a density: no NaN (it gave NaN for a Gaussian, 0 for a segment), None, text,
    # booleans or complex numbers
    (lambda: GaussianPair(0.0, 1.0, 0.5, 2.0).pdf0([0.0, np.nan]), ValueError, "`x` must contain no NaN"),
    (lambda: UniformSegments(0.0, 1.0, 0.5, 2.0).pdf1([np.nan]), ValueError, "`x` must contain no NaN"),
    (lambda: GaussianPair(0.0, 1.0, 0.5, 2.0).pdf1(None), TypeError, "`x`"),
    (lambda: UniformSegments(0.0, 1.0, 0.5, 2.0).pdf0("a"), TypeError, "`x`"),
    (lambda: GaussianPair(0.0, 1.0, 0.5, 2.0).pdf0([True]), TypeError, "`x`"),
    (lambda: UniformSegments(0.0, 1.0, 0.5, 2.0).pdf1([1 + 1j]), TypeError, "`x`"),
])
def test_validation(make, err, match):
    with pytest.raises(err, match=match):
        make()


def test_inputs_not_modified():
    p, q = np.array([3.0, 1.0]), np.array([1.0, 1.0])
    S = np.array([[2.0, 0.1], [0.1, 1.0]])
    S_copy = S.copy()
    HistogramPair(p, q).tv()
    GaussianPair(np.zeros(2), S, np.ones(2), S).w2()
    assert p[0] == 3.0 and np.array_equal(S, S_copy)


@pytest.mark.parametrize("s", [1e300, 1e-300])
def test_gaussian_w2_at_extreme_scales(s):
    # covariances of 1e300 overflowed in S0^(1/2) S1 S0^(1/2) (NaN); of 1e-300 the cross term
    # underflowed and W2 came out sqrt(5) times too large
    I = np.eye(2)
    assert math.isclose(gaussian_w2([0, 0], I * s, [0, 0], 4 * I * s), math.sqrt(2 * s), rel_tol=1e-12)
    assert math.isclose(GaussianPair([0, 0], I * s, [1, 0], I * s).w2(), 1.0, rel_tol=1e-12)


@pytest.mark.parametrize("ends,ref", [((0.0, 1e308, -1e308, 1e308), (0.0, 1.0, -1.0, 1.0)),
                                      ((0.0, 1e-320, 0.0, 2e-320), (0.0, 1.0, 0.0, 2.0))])
def test_uniform_segments_at_extreme_scales(ends, ref):
    # b - a overflowed (TV / W2 NaN, JS "math domain error"); 1 / L of 1e-320 overflowed (NaN)
    u, r = UniformSegments(*ends), UniformSegments(*ref)
    scale = ends[1] / ref[1]
    for m in ("tv", "js", "kl", "kl_reverse"):
        assert getattr(u, m)() == pytest.approx(getattr(r, m)(), rel=1e-12)
    for m in ("w1", "w2"):
        assert getattr(u, m)() == pytest.approx(getattr(r, m)() * scale, rel=1e-3)


def test_histogram_pair_w2_on_a_huge_support():
    h, r = HistogramPair([1, 2, 3], [3, 2, 1], [-1e308, 0, 1e308]), HistogramPair([1, 2, 3], [3, 2, 1], [-1, 0, 1])
    assert h.w2() == pytest.approx(r.w2() * 1e308, rel=1e-12)  # was inf (|x_i - x_j|^2 overflow)
    assert h.w1() == pytest.approx(r.w1() * 1e308, rel=1e-12)


def test_real_parameters_accept_numbers_and_0d_arrays():
    assert ParallelLines(np.float32(0.5)).w1() == 0.5
    assert ParallelLines(np.array(2)).w1() == 2.0
    assert UniformSegments(0, 1, np.int64(2), 3).w1() == 2.0


def test_uniform_segments_subnormal_length_and_huge_ends():
    # 0 * (1 / 5e-324 = inf) was NaN: the segments are disjoint, TV = 1
    assert UniformSegments(0.0, 5e-324, 0.5, 2.0).tv() == 1.0
    assert UniformSegments(0.0, 5e-324, 0.5, 2.0).js() == math.log(2.0)
    # P = U[0, 5e-324] inside Q = U[0, 2]: nearly mutually singular
    u = UniformSegments(0.0, 5e-324, 0.0, 2.0)
    assert u.tv() == 1.0 and u.js() == pytest.approx(math.log(2.0), abs=1e-300)
    # ends of 1.7e308: log(0) ("math domain error") in js, b - a overflowing in sample()
    u = UniformSegments(0.0, 1.0, -1.7e308, 2.0)
    assert u.js() == pytest.approx(math.log(2.0), rel=1e-15)
    assert u.tv() == 1.0
    v = UniformSegments(-1.7e308, 1.7e308, -1e308, 1e308)
    x, y = v.sample(1000, rng=0)
    assert np.all(np.isfinite(x)) and np.all((x >= -1.7e308) & (x <= 1.7e308))
    assert np.all((y >= -1e308) & (y <= 1e308)) and (x / 1e308).std() > 0.5
    r = UniformSegments(-1.7, 1.7, -1.0, 1.0)
    for m in ("tv", "js", "kl", "kl_reverse"):
        assert getattr(v, m)() == pytest.approx(getattr(r, m)(), rel=1e-12)
    assert v.pdf0([0.0])[0] == pytest.approx(1 / 3.4e308, rel=1e-12)
    # the same numbers as drawing at unit scale directly
    xu, yu = UniformSegments(0.0, 1.0, 2.0, 3.0).sample(5, rng=1)
    xs, ys = UniformSegments(0.0, 2.0 ** 200, 2.0 ** 201, 3 * 2.0 ** 200).sample(5, rng=1)
    assert np.array_equal(xs, xu * 2.0 ** 200) and np.array_equal(ys, yu * 2.0 ** 200)
    # W2 beyond the float range is inf, not OverflowError
    assert UniformSegments(-1.7e308, -1e308, 1e308, 1.7e308).w2() == math.inf


@pytest.mark.parametrize("a0,b0,a1,b1", [(0.0, 1.0, 0.5, 2.0), (0.0, 1.0, 0.0, 1.0 + 1e-12),
                                         (0.0, 1.0, 0.2, 0.3), (-3.0, 1.0, 0.0, 10.0)])
def test_uniform_segments_tv_js_against_quadrature(a0, b0, a1, b1):
    from scipy import integrate

    u = UniformSegments(a0, b0, a1, b1)
    lo, hi = min(a0, a1), max(b0, b1)
    pts = sorted({a0, b0, a1, b1})

    def js_f(x):
        p, q = u.pdf0([x])[0], u.pdf1([x])[0]
        m = 0.5 * (p + q)
        return 0.5 * ((p * math.log(p / m) if p > 0 else 0.0) + (q * math.log(q / m) if q > 0 else 0.0))

    tv = sum(integrate.quad(lambda x: 0.5 * abs(u.pdf0([x])[0] - u.pdf1([x])[0]), a, b)[0]
             for a, b in zip(pts[:-1], pts[1:]))
    js = sum(integrate.quad(js_f, a, b)[0] for a, b in zip(pts[:-1], pts[1:]))
    assert u.tv() == pytest.approx(tv, rel=1e-12, abs=1e-15)
    assert u.js() == pytest.approx(js, rel=1e-9, abs=1e-15)
    assert lo < hi


@pytest.mark.parametrize("args,tv,js", [
    ((1e308, 1.0, 2.0, 4.0), 1.0, math.log(2.0)),        # means 1e308 apart
    ((0.0, 5e-324, 2.0, 4.0), 1.0, math.log(2.0)),       # standard deviations 2e-162 and 2
    ((0.0, 1e-300, 2.0, 1e300), 1.0, math.log(2.0)),     # 1e-150 and 1e150
    ((-1.7e308, 1.0, 1.7e308, 1.0), 1.0, math.log(2.0)),  # m1 - m0 overflows
])
def test_gaussian_pair_1d_tv_js_at_extreme_parameters(args, tv, js):
    # the quadratic of the density crossings overflowed (OverflowError); these are mutually
    # singular to double precision
    g = GaussianPair(*args)
    assert g.tv() == tv and g.js() == js


@pytest.mark.parametrize("s,shift", [(1e300, 0.0), (1e-300, 0.0), (1e200, 3e101), (1e-200, 1e-100), (1e120, 1e58)])
def test_gaussian_pair_1d_tv_js_affine_invariant_at_extreme_scales(s, shift):
    ref = GaussianPair(0.3, 1.0, 1.0, 2.5)
    sd = math.sqrt(s)
    g = GaussianPair(0.3 * sd + shift, s, 1.0 * sd + shift, 2.5 * s)
    assert g.tv() == pytest.approx(ref.tv(), rel=1e-9)
    assert g.js() == pytest.approx(ref.js(), rel=1e-9)


def test_gaussian_pair_w2_beyond_the_float_range_is_inf():
    # exact W2 = sqrt(2) * 1.7e308 > the largest float; math.ldexp raised OverflowError
    assert GaussianPair([1.7e308] * 2, np.eye(2), [0.0, 0.0], np.eye(2)).w2() == math.inf
    assert gaussian_w2([1e308] * 2, np.eye(2), [0.0, 0.0], np.eye(2)) == pytest.approx(math.sqrt(2) * 1e308)


def test_gaussian_kl_beyond_the_float_range_is_inf_not_nan_and_warns_nothing():
    # means 1e300 apart over variances of 1e-300: 0 * inf inside the triangular solve gave NaN;
    # means 1e200 apart leaked a matmul overflow warning
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        far = GaussianPair(np.array([1e300, 1e300]), np.eye(2), np.zeros(2), 1e-300 * np.eye(2))
        assert far.kl() == math.inf and far.kl_reverse() == math.inf
        assert GaussianPair(np.array([1e200, 0.0]), np.eye(2), np.zeros(2), np.eye(2)).kl() == math.inf
        # 0.5 * (a quadratic form beyond the float maximum) is still finite: kept, not inf
        # (KL = (m0 - m1)^2 / (2 s^2) = (1.79e308 + 1e300)^2 / (2 * 1.79e308))
        v = gaussian_kl(1.79e308, 1.79e308, -1e300, 1.79e308)
        assert v == pytest.approx(8.9500001e307, rel=1e-14)
    # ordinary sizes: the plain formula, unchanged
    assert gaussian_kl(0.0, 1.0, 2.0, 1.0) == 2.0


def test_gaussian_covariance_near_the_float_maximum_is_checked_without_overflow():
    # the symmetrisation 0.5 * (S + S.T) overflowed to inf, the pair was built with an infinite
    # covariance and its methods failed naming `S1`; this rank-1 matrix is not positive definite
    import warnings

    c0 = np.array([[7.1, 3.0, -4.0], [3.0, 4.1, 0.2], [-4.0, 0.2, 11.0]])
    top = np.full((3, 3), np.finfo(float).max)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="`cov1` must be positive definite"):
            GaussianPair(np.zeros(3), c0, np.ones(3), top)
        with pytest.raises(ValueError, match="`cov0` must be positive definite"):
            GaussianPair(np.zeros(3), top, np.ones(3), c0)
        g = GaussianPair(0.0, 1e308, 1.0, 1.7e308)  # a positive definite one of that size
        assert g.cov0[0, 0] == 1e308 and math.isfinite(g.kl())


def test_doctests():
    """The docstring examples (the API pages show them) run and print what they show."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module("kantorovich.families"))
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("offset", [2.0 ** 20, 2.0 ** 30, 2.0 ** 40, 2.0 ** 50, -3.0 * 2.0 ** 48])
def test_gaussian_pair_1d_tv_js_w1_translation_invariant_at_large_means(offset):
    # worked in the raw coordinates, the quadratic of the density crossings cancelled (TV = 0
    # from offsets of 2^30 on) and the quadrature nodes were rounded to ulp(offset) (JS and W1
    # off in the third digit at 2^50). The shifted parameters are exact floats, so the pair in
    # standard coordinates is the same; only the quadrature's own tolerance (1e-12) remains
    ref = GaussianPair(0.0, 1.0, 1.0, 4.0)
    g = GaussianPair(offset, 1.0, offset + 1.0, 4.0)
    assert g.tv() == pytest.approx(ref.tv(), rel=1e-12)
    assert g.js() == pytest.approx(ref.js(), rel=1e-12)
    assert g.w1() == pytest.approx(ref.w1(), rel=1e-12)


@pytest.mark.parametrize("e", [-50, -60, -200, 60, 200])
def test_gaussian_pair_1d_w1_scales_with_the_deviations(e):
    # W1(s m0, s^2 v0, s m1, s^2 v1) = s W1(m0, v0, m1, v1); with an absolute quadrature
    # tolerance in raw coordinates, s = 2^-50 came out 3.5e-4 relative off
    s = 2.0 ** e
    ref = GaussianPair(0.0, 1.0, 1.0, 4.0)
    g = GaussianPair(0.0, s * s, s, 4.0 * s * s)
    assert g.w1() == pytest.approx(s * ref.w1(), rel=1e-12)
    assert g.tv() == pytest.approx(ref.tv(), rel=1e-12)


@pytest.mark.parametrize("a0,b0,a1,b1", [
    (0.0, 1e-320, 0.0, 1.0),                   # L1 / L0 = 1e320 overflowed: KL came out inf
    (0.0, 1e-300, 0.0, 1e10),
    (0.0, 5e-324, 0.0, 1.7e308),               # L0 flushed to 0 at unit scale: ZeroDivisionError
    (0.0, 5e-324, -1.7e308, 1.7e308),          # and L1 overflows in the caller's coordinates
    (-1e-300, 1e-300, -1.7e308, 1.7e308),
    (0.0, 1e-10, -1.7e308, 1.7e308),           # L0 subnormal at unit scale: KL came out inf
])
def test_uniform_segments_kl_finite_for_lengths_of_any_ratio(a0, b0, a1, b1):
    # [a0, b0] inside [a1, b1]: KL(P||Q) = log(L1 / L0) = log L1 - log L0, finite however far
    # apart the lengths are; each length as b - a (or 2 (b/2 - a/2) where that overflows)
    u = UniformSegments(a0, b0, a1, b1)
    l1 = math.log(b1 - a1) if math.isfinite(b1 - a1) else math.log(0.5 * b1 - 0.5 * a1) + math.log(2.0)
    expected = l1 - math.log(b0 - a0)
    assert u.kl() == pytest.approx(expected, rel=1e-14)
    assert u.kl_reverse() == math.inf
    # the short segment's mass under Q is below 2^-1000: TV = 1 and JS = log 2 to double precision
    assert u.tv() == 1.0 and u.js() == math.log(2.0)


def test_histogram_pair_divergences_merge_bins_at_the_same_support_point():
    # P = sum p_i delta_{s_i}: bins at one point are one atom. Bin by bin, p = [1, 0] and
    # q = [0, 1] on support [0, 0] gave TV = 1, KL = inf, JS = log 2 for P = Q = delta_0 (W1 = 0)
    same = HistogramPair([1.0, 0.0], [0.0, 1.0], support=[0.0, 0.0])
    assert same.summary() == {"tv": 0.0, "kl": 0.0, "kl_reverse": 0.0, "js": 0.0, "w1": 0.0, "w2": 0.0}
    # 2-D support with a repeated point: atoms A = (0, 1) (P 3/4, Q 1) and B = (2, 3) (P 1/4, Q 0)
    h = HistogramPair([1.0, 1.0, 2.0], [1.0, 0.0, 3.0], support=[[0, 1], [2, 3], [0, 1]])
    assert h.tv() == pytest.approx(0.25, rel=1e-15)
    assert h.kl() == math.inf
    assert h.kl_reverse() == pytest.approx(math.log(4.0 / 3.0), rel=1e-15)
    js = 0.5 * (0.75 * math.log(0.75 / 0.875) + 0.25 * math.log(2.0)) + 0.5 * math.log(1.0 / 0.875)
    assert h.js() == pytest.approx(js, rel=1e-14)
    # distinct points: unchanged
    d = HistogramPair([3, 2, 1, 4], [1, 2, 4, 3])
    assert d.tv() == pytest.approx(0.3, rel=1e-15)
