"""Statistical report checks: a true claim passes on any seed, a false one still fails."""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.divergences import estimate_kl
from kantorovich.report import run_report
from kantorovich.report.sections.estimators import bias_budget_tolerance


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
