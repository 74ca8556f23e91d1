"""C1-C11 closed forms that need no OT solver (C8 with a small LP from scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from kantorovich.divergences._discriminator import (
    gan_value,
    js_from_discriminator,
    optimal_discriminator,
)
from kantorovich.divergences._exact import js_divergence, kl_divergence, tv_distance
from kantorovich.families import GaussianPair, HistogramPair, ParallelLines, UniformSegments
from kantorovich.ot._histogram1d import cumulative_deltas, emd_1d_histogram

LOG2, LOG4 = math.log(2.0), math.log(4.0)


def test_c1_parallel_lines_by_discretisation():
    # Discretise Z on k levels: P, Q become histograms on 2k points with disjoint supports.
    for theta in (0.0, 0.5, -2.0):
        k = 20
        z = (np.arange(k) + 0.5) / k
        pts = np.concatenate([np.c_[np.zeros(k), z], np.c_[np.full(k, theta), z]])
        p = np.r_[np.ones(k), np.zeros(k)]
        q = np.r_[np.zeros(k), np.ones(k)]
        if theta == 0.0:
            p = q = np.ones(k)
            pts = pts[:k]
        fam = ParallelLines(theta)
        assert tv_distance(p, q) == fam.tv()
        assert js_divergence(p, q) == fam.js()
        assert kl_divergence(p, q) == fam.kl() and kl_divergence(q, p) == fam.kl_reverse()
        # W1 of the discretisation by LP equals |theta| (each point moves straight across)
        if theta != 0.0:
            assert _w1_primal(p / k, q / k, cdist(pts, pts)) == pytest.approx(abs(theta), rel=1e-9)


def test_c2_cumulative_deltas():
    assert cumulative_deltas([3, 2, 1, 4], [1, 2, 4, 3]).tolist() == [0, 2, 2, -1, 0]
    assert emd_1d_histogram([3, 2, 1, 4], [1, 2, 4, 3]) == 5.0
    assert emd_1d_histogram([3, 2, 1, 4], [1, 2, 4, 3], normalize=True) == pytest.approx(0.5, abs=1e-15)


def test_c3_to_c7_on_a_histogram():
    p, q = np.array([0.1, 0.4, 0.3, 0.2, 0.0]), np.array([0.3, 0.1, 0.1, 0.2, 0.3])
    D = optimal_discriminator(p, q)
    assert np.allclose(D, [0.25, 0.8, 0.75, 0.5, 0.0], rtol=0, atol=1e-15)       # C3/C4
    v = gan_value(D, p, q)
    assert v == pytest.approx(-LOG4 + 2 * js_divergence(p, q), abs=1e-12)        # C5
    assert v > -LOG4                                                              # p != q
    Ds = optimal_discriminator(p, q, alpha=0.9)                                   # C6
    assert np.allclose(Ds, 0.9 * p / (p + q), atol=1e-15)
    assert js_from_discriminator(D, p, q) == pytest.approx(js_divergence(p, q), abs=1e-12)  # C7
    assert js_from_discriminator(Ds, p, q) < js_divergence(p, q)                  # a bound


def _w1_primal(a, b, C):
    n, m = C.shape
    A_eq = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    res = linprog(C.ravel(), A_eq=A_eq, b_eq=np.r_[a, b], bounds=(0, None), method="highs")
    return res.fun


def _kr_dual(a, b, C, K=1.0):
    """sup_f sum f (a - b) over K-Lipschitz f on the support: |f_i - f_j| <= K C_ij."""
    n = len(a)
    rows, rhs = [], []
    for i in range(n):
        for j in range(n):
            if i != j:
                r = np.zeros(n)
                r[i], r[j] = 1.0, -1.0
                rows.append(r)
                rhs.append(K * C[i, j])
    bounds = [(0, 0)] + [(None, None)] * (n - 1)  # f is defined up to a constant
    res = linprog(-(a - b), A_ub=np.array(rows), b_ub=rhs, bounds=bounds, method="highs")
    return -res.fun


def test_c8_kantorovich_rubinstein_1d_and_2d():
    rng = np.random.default_rng(0)
    # 1-D: the dual LP equals the closed form W1 (sum |F - G| gaps)
    x = np.sort(rng.random(8) * 5)
    a, b = rng.random(8), rng.random(8)
    a, b = a / a.sum(), b / b.sum()
    w1 = HistogramPair(a, b, support=x).w1()
    C = np.abs(x[:, None] - x[None, :])
    assert _kr_dual(a, b, C) == pytest.approx(w1, rel=1e-8)
    assert _kr_dual(a, b, C, K=3.0) == pytest.approx(3 * w1, rel=1e-8)   # K-Lipschitz: K W
    # 2-D support: dual = primal
    pts = rng.random((7, 2))
    C2 = cdist(pts, pts)
    a, b = rng.random(7), rng.random(7)
    a, b = a / a.sum(), b / b.sum()
    assert _kr_dual(a, b, C2) == pytest.approx(_w1_primal(a, b, C2), rel=1e-8)


def test_c9_w_converges_while_js_tv_do_not():
    ns = np.arange(1, 200)
    fams = [ParallelLines(1.0 / n) for n in ns]
    w = np.array([f.w1() for f in fams])
    assert np.all(np.diff(w) < 0) and w[-1] < 0.01
    assert all(f.js() == LOG2 and f.tv() == 1.0 and f.kl() == math.inf for f in fams)
    # the direct half: KL -> 0 forces TV, JS and W -> 0 (Gaussians N(0,1) vs N(1/n, 1))
    for n in (1, 10, 100, 1000):
        g = GaussianPair(0.0, 1.0, 1.0 / n, 1.0)
        assert g.tv() <= math.sqrt(g.kl() / 2) + 1e-15          # Pinsker
        assert g.js() <= g.tv() * LOG2 + 1e-12
        assert g.w1() == pytest.approx(1.0 / n, rel=1e-12)
    assert GaussianPair(0.0, 1.0, 1e-3, 1.0).kl() == pytest.approx(0.5e-6, rel=1e-12)


def test_c10_disjoint_low_dimensional_supports():
    for fam in (ParallelLines(0.3), UniformSegments(0, 1, 1.5, 2), HistogramPair([1, 1, 0, 0], [0, 0, 1, 1])):
        assert fam.js() == pytest.approx(LOG2, rel=1e-15)
        assert fam.kl() == math.inf and fam.kl_reverse() == math.inf
        assert fam.tv() == pytest.approx(1.0, rel=1e-15)
    # touching segments (overlap of measure zero) still give log 2
    assert UniformSegments(0, 1, 1, 2).js() == LOG2


def test_c11_gaussians_monte_carlo_and_bures():
    # KL(N0 || N1) in 2-D against a Monte Carlo average of log p0 - log p1 (fixed seed, 5 SE)
    from scipy.stats import multivariate_normal as mvn

    m0, S0 = np.array([0.0, 1.0]), np.array([[1.0, 0.4], [0.4, 0.8]])
    m1, S1 = np.array([0.5, 0.0]), np.array([[2.0, -0.3], [-0.3, 1.0]])
    g = GaussianPair(m0, S0, m1, S1)
    x, _ = g.sample(200000, rng=7, m=1)
    lr = mvn.logpdf(x, m0, S0) - mvn.logpdf(x, m1, S1)
    se = lr.std() / math.sqrt(len(lr))
    assert abs(lr.mean() - g.kl()) < 5 * se
    # W1 <= W2, and 1-D Bures = quantile formula sqrt(dm^2 + dsigma^2)
    g1 = GaussianPair(1.0, 4.0, -1.0, 0.25)
    assert g1.w2() == pytest.approx(math.hypot(2.0, 1.5), rel=1e-15)
    assert g1.w1() <= g1.w2()


def test_foundation_report_sections_run_and_agree(tmp_path):
    from kantorovich.report import run_report

    names = ["parallel_lines", "cumulative_deltas", "optimal_discriminator", "closed_forms"]
    res = run_report(tmp_path, quick=True, only=names, show_progress=False)
    assert res["failed"] == []
    assert res["all_checks_agree"] and len(res["checks"]) >= 40
    for n in names:
        assert res["sections"][n]["figures"] or n == "closed_forms"
        for fig in res["sections"][n]["figures"]:
            assert (tmp_path / fig["file"]).stat().st_size > 10_000
