"""Statistical report checks: a true claim passes on any seed, a false one still fails."""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.divergences import estimate_kl
from kantorovich.report import run_report
from kantorovich.report._stats import parallel_lines_sw1_tolerance
from kantorovich.report._stats import bias_budget_tolerance


def _wkv_replicates(reps, seed):
    # the report's published setup: N(0, 1) vs N(2, 1), n = 1000, k = 5 (truth 2.0, mean ~1.78)
    g = np.random.default_rng(seed)
    return np.array([estimate_kl(g.normal(0, 1, 1000), g.normal(2, 1, 1000), k=5, n_boot=0).value
                     for _ in range(reps)])


def test_bias_budget_check_passes_the_estimator_and_bites_a_shifted_one():
    for seed in range(3):
        v = _wkv_replicates(20, seed)
        tol, se = bias_budget_tolerance(v, 0.25)
        assert abs(v.mean() - 2.0) <= tol
        assert 0 < se < 0.05
        # an estimator biased by 0.2 more than the real one (|bias| ~0.42 > 0.25) fails
        assert abs(v.mean() - 0.2 - 2.0) > bias_budget_tolerance(v - 0.2, 0.25)[0]
        # and so does one biased high by as much (mean ~2.42)
        assert abs(v.mean() + 0.64 - 2.0) > bias_budget_tolerance(v + 0.64, 0.25)[0]


def test_bias_budget_check_fails_at_its_level_on_the_boundary():
    # replicates whose expectation sits exactly at the budget: the check fails on about
    # alpha of the draws (one-sided Student-t bound), not on a third of them
    alpha, budget, reps, trials = 0.01, 0.25, 20, 4000
    g = np.random.default_rng(7)
    fails = 0
    for _ in range(trials):
        v = 2.0 - budget + 0.11 * g.normal(size=reps)
        fails += abs(v.mean() - 2.0) > bias_budget_tolerance(v, budget, alpha)[0]
    # binomial sd of the rate is 0.0016: the bounds are 6 sd wide
    assert 0.001 < fails / trials < 0.02


def test_bias_budget_check_needs_two_replicates():
    with pytest.raises(ValueError, match="2 replicates"):
        bias_budget_tolerance([1.8], 0.25)


def test_estimators_tables_agree_on_a_seed_that_failed_a_fixed_budget(tmp_path):
    # seed 4 drew three replicates with mean 1.707 against a fixed tolerance of 0.25
    res = run_report(tmp_path, quick=True, only=["estimators_tables"], seed=4, show_progress=False)
    assert res["failed"] == []
    checks = res["sections"]["estimators_tables"]["checks"]
    assert checks and all(c["agrees"] for c in checks), [c for c in checks if not c["agrees"]]


def _lines_sw1(theta, n, L, seed):
    from kantorovich.families import ParallelLines
    from kantorovich.ot import sliced_wasserstein, wasserstein_1d

    px, py = ParallelLines(theta).sample(n, rng=seed)
    sw = float(sliced_wasserstein(px, py, n_projections=L, rng=seed + 100))
    return sw, float(wasserstein_1d(px[:, 1], py[:, 1]))


def test_parallel_lines_sw1_check_passes_the_estimate_and_bites_wrong_values():
    theta, L = -2.0, 1000
    truth = 2 * abs(theta) / np.pi
    for seed in range(3):
        sw, w1_z = _lines_sw1(theta, 1000, L, seed)
        tol = parallel_lines_sw1_tolerance(theta, L, w1_z)
        assert abs(sw - truth) <= tol
        assert 0 < w1_z < 0.1
        # values a wrong SW1 would give: W1 itself (no slicing), SW2 = |theta|/sqrt(2), 10 % off
        for wrong in (abs(theta), abs(theta) / np.sqrt(2), 1.1 * truth, 0.9 * truth):
            assert abs(wrong - truth) > tol


def test_parallel_lines_sw1_tolerance_is_the_clt_bound():
    # no sampling term: z_{1 - alpha/2} |theta| sqrt(1/2 - 4/pi^2) / sqrt(L)
    sd = np.sqrt(0.5 - 4 / np.pi ** 2)
    assert parallel_lines_sw1_tolerance(2.0, 400, 0.0, alpha=0.05) == pytest.approx(1.959964 * 2 * sd / 20)
    # the per-direction sd is that of |theta cos phi|, phi uniform on the circle
    phi = np.random.default_rng(0).uniform(0, 2 * np.pi, 400_000)
    assert np.abs(np.cos(phi)).std() == pytest.approx(sd, rel=5e-3)


def test_emd1d_sliced_agrees_on_a_seed_near_the_old_fixed_tolerance(tmp_path):
    # seed 3 put the 300-direction SW1 estimate at 0.95 of a fixed 5 % + 0.02 tolerance
    res = run_report(tmp_path, quick=True, only=["emd1d_sliced"], seed=3, show_progress=False)
    assert res["failed"] == []
    checks = res["sections"]["emd1d_sliced"]["checks"]
    assert checks and all(c["agrees"] for c in checks), [c for c in checks if not c["agrees"]]


def test_bures_check_is_in_w2_units_and_bites_a_wrong_w2():
    # the emd_exact_convergence check: 8 replicates of the exact empirical W2 at n = 512 against
    # the Bures value; its budget sqrt(log n / n) (tr S0 + tr S1) / 2 is stated for W2^2 and
    # mapped to W2, while the standard error is already in W2 units
    import math

    from scipy.spatial.distance import cdist

    from kantorovich.families import gaussian_w2
    from kantorovich.ot import emd

    m0, m1 = np.zeros(2), np.array([1.0, 0.5])
    S0, S1 = np.array([[1.0, 0.3], [0.3, 0.5]]), np.array([[0.6, -0.2], [-0.2, 1.2]])
    truth, n = gaussian_w2(m0, S0, m1, S1), 512
    g = np.random.default_rng(1)
    v = np.array([math.sqrt(emd(None, None, cdist(g.multivariate_normal(m0, S0, n),
                                                  g.multivariate_normal(m1, S1, n), "sqeuclidean"),
                                return_plan=False).value) for _ in range(8)])
    budget = math.sqrt(math.log(n) / n) * (np.trace(S0) + np.trace(S1)) / 2 / (2 * truth)
    tol, se = bias_budget_tolerance(v, budget)
    assert abs(v.mean() - truth) <= tol
    assert 0.005 < se < 0.04 and tol < 0.25
    # W2^2 in place of W2 (1.63 against 1.28), and a W2 off by 0.25, fail
    assert abs((v ** 2).mean() - truth) > bias_budget_tolerance(v ** 2, budget)[0]
    assert abs(v.mean() + 0.25 - truth) > tol


def test_emd_exact_convergence_agrees(tmp_path):
    res = run_report(tmp_path, quick=True, only=["emd_exact_convergence"], seed=2, show_progress=False)
    assert res["failed"] == []
    checks = res["sections"]["emd_exact_convergence"]["checks"]
    assert checks and all(c["agrees"] for c in checks), [c for c in checks if not c["agrees"]]


def test_a_check_with_its_own_criterion_does_not_show_the_default_tolerance(tmp_path):
    """A check given `agrees=` is judged by its own rule: its row showed the unused defaults
    "rtol=1e-09, atol=1e-12" (the emd_exact certificate row tests gap < 1e-8). It now says that
    the criterion is the result's own, or gives the `tolerance` passed."""
    from kantorovich.report import Context

    ctx = Context("demo", tmp_path, quick=True, seed=0)
    ctx.check("close", 1.0, 1.0 + 1e-12)
    ctx.check("at most 5 entries", 5, 4, agrees=4 <= 5)
    ctx.check("certified", True, True, agrees=True, tolerance="largest |gap| < 1e-8")
    assert [c["tolerance"] for c in ctx.checks] == [
        "rtol=1e-09, atol=1e-12", "the criterion stated in the result", "largest |gap| < 1e-8"]
