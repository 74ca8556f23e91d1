"""Tests of kantorovich.ot.emd: exact OT with a certificate."""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import ot as pot
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linear_sum_assignment

from scipy.spatial.distance import cdist

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import _emd as emd_mod
from kantorovich.ot import emd
from kantorovich.ot._emd import EMDCertificateError

from ..strategies import pmfs


def _random_problem(rng, n, m, zeros=False):
    a = rng.random(n)
    b = rng.random(m) ** 3
    if zeros and n > 2:
        a[rng.integers(0, n, 2)] = 0.0
    a /= a.sum()
    b /= b.sum()
    M = cdist(rng.random((n, 2)), rng.random((m, 2)), "sqeuclidean")
    return a, b, M


def _assert_certificate(r, a, b, M, tol=1e-9):
    """Recompute the certificate from the result, independently of the library."""
    P, f, g = r.plan, r.f, r.g
    scale = np.abs(M).max()
    assert P.shape == M.shape and f.shape == (M.shape[0],) and g.shape == (M.shape[1],)
    assert P.min() >= -1e-15
    assert np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum() <= 1e-12
    assert (f[:, None] + g[None, :] - M).max() <= tol * scale           # dual feasibility
    assert np.isclose(r.value, (P * M).sum(), rtol=1e-12, atol=1e-15)
    gap = (P * M).sum() - (a @ f + b @ g)
    assert abs(gap) <= tol * scale and np.isclose(gap, r.duality_gap, atol=1e-12)
    assert r.certified


# ------------------------------------------------------------------ agreement with peers

@pytest.mark.parametrize("n,m", [(1, 1), (1, 5), (6, 1), (20, 30), (150, 120)])
@pytest.mark.parametrize("method", ["network_simplex", "highs"])
def test_matches_pot_emd2(n, m, method):
    rng = np.random.default_rng(n * 1000 + m)
    a, b, M = _random_problem(rng, n, m)
    r = emd(a, b, M, method=method)
    ref = pot.emd2(a, b, M)
    assert r.value == pytest.approx(ref, rel=1e-9, abs=1e-15)
    assert r.method == method and r.backend == "numpy"
    _assert_certificate(r, a, b, M)


def test_highs_and_network_simplex_agree_on_duals_value():
    rng = np.random.default_rng(7)
    a, b, M = _random_problem(rng, 40, 25)
    r1, r2 = emd(a, b, M, method="network_simplex"), emd(a, b, M, method="highs")
    assert r1.value == pytest.approx(r2.value, rel=1e-10)
    # duals may differ (degenerate LP), but both reach the same dual value
    assert a @ r1.f + b @ r1.g == pytest.approx(a @ r2.f + b @ r2.g, rel=1e-9)


@pytest.mark.parametrize("n", [1, 2, 17, 200])
def test_permutation_matches_linear_sum_assignment(n):
    rng = np.random.default_rng(n)
    M = rng.normal(size=(n, n))          # negative costs are fine
    rows, cols = linear_sum_assignment(M)
    truth = M[rows, cols].mean()
    r = emd(None, None, M)
    assert r.value == pytest.approx(truth, rel=1e-9, abs=1e-12)
    u = np.full(n, 1.0 / n)
    _assert_certificate(r, u, u, M)


def test_cumulative_deltas_closed_form():
    """C2: P = (3,2,1,4), Q = (1,2,4,3) on unit bins: W = 5 unnormalised, 0.5 normalised."""
    x = np.arange(4.0)
    M = np.abs(x[:, None] - x[None, :])
    r = emd([3, 2, 1, 4], [1, 2, 4, 3], M)
    assert r.value == pytest.approx(5.0, abs=1e-12)
    assert r.info["mass"] == 10.0 and np.isclose(r.plan.sum(), 10.0)
    assert r.certified and abs(r.duality_gap) < 1e-9
    assert r.marginal_error < 1e-12
    rn = emd([3, 2, 1, 4], [1, 2, 4, 3], M, normalize=True)
    assert rn.value == pytest.approx(0.5, abs=1e-12)


def test_zero_weights():
    rng = np.random.default_rng(3)
    a, b, M = _random_problem(rng, 30, 20, zeros=True)
    r = emd(a, b, M)
    assert r.value == pytest.approx(pot.emd2(a, b, M), rel=1e-9)
    _assert_certificate(r, a, b, M)
    assert np.all(r.plan[a == 0] == 0)


def test_identical_measures_zero_cost():
    x = np.random.default_rng(0).random((25, 3))
    r = emd(None, None, cdist(x, x))
    assert r.value == pytest.approx(0.0, abs=1e-14)
    assert np.allclose(r.plan, np.eye(25) / 25)


def test_return_plan_false_and_auto_rule():
    rng = np.random.default_rng(5)
    a, b, M = _random_problem(rng, 10, 12)
    r = emd(a, b, M, return_plan=False)
    assert r.plan is None and r.certified and r.method == "network_simplex"
    assert r.f.shape == (10,) and r.g.shape == (12,)
    assert emd_mod.AUTO_AUCTION_MIN_N == 2000  # below it, auto stays on the network simplex


def test_auto_rule_picks_auction_for_large_uniform_square(monkeypatch):
    from scipy.optimize import linear_sum_assignment as lsa

    monkeypatch.setattr(emd_mod, "AUTO_AUCTION_MIN_N", 20)
    rng = np.random.default_rng(9)
    x, y = rng.random((30, 2)), rng.random((30, 2))
    M = cdist(x, y) ** 2
    r = emd(None, None, M)
    rows, cols = lsa(M)
    assert r.method == "auction" and r.certified
    assert r.value == pytest.approx(M[rows, cols].mean(), rel=1e-12)
    a = np.full(30, 1 / 30)
    a[0], a[1] = 0.5 / 30, 1.5 / 30  # non-uniform: auto keeps the network simplex
    assert emd(a, None, M).method == "network_simplex"
    assert emd(None, None, M[:, :25], normalize=True).method == "network_simplex"


def test_inputs_not_modified():
    rng = np.random.default_rng(2)
    a, b, M = _random_problem(rng, 8, 9)
    a32, b32, M32 = a.astype(np.float32), b.astype(np.float32), M.astype(np.float32)
    copies = [v.copy() for v in (a, b, M, a32, b32, M32)]
    emd(a, b, M)
    emd(a32, b32, M32)
    for v, c in zip((a, b, M, a32, b32, M32), copies):
        assert np.array_equal(v, c) and v.dtype == c.dtype


def test_result_is_frozen_and_jsonable():
    r = emd(None, None, np.ones((3, 3)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.value = 1.0
    d = r.to_dict()
    assert d["method"] == "network_simplex" and d["certified"] is True


# ------------------------------------------------------------------ float32 and masses

def test_float32_input_is_solved_in_float64():
    rng = np.random.default_rng(11)
    n, m = 300, 200
    a = rng.random(n).astype(np.float32)
    b = (rng.random(m) ** 3).astype(np.float32)
    a /= a.sum()
    b /= b.sum()                       # float32 totals: off from 1 by ~1e-7
    M = cdist(rng.random((n, 2)), rng.random((m, 2)), "sqeuclidean").astype(np.float32)
    r = emd(a, b, M)
    a64, b64, M64 = a.astype(float), b.astype(float), M.astype(float)
    ref = pot.emd2(a64 / a64.sum(), b64 / b64.sum(), M64)
    assert r.value == pytest.approx(ref * a64.sum(), rel=1e-9)
    # solved and certified in float64; the plan comes back in the caller's dtype (docs/arrays.md)
    assert r.plan.dtype == np.float32 and r.certified
    assert abs(r.duality_gap) < 1e-9


def test_float32_masses_differing_by_float32_rounding_are_accepted():
    a = np.full(7, 1 / 7, dtype=np.float32)
    b = np.full(5, 1 / 5, dtype=np.float32)
    b[0] += 2e-6                       # 2e-6 relative: float32 rounding territory
    M = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    assert emd(a, b, M).certified
    with pytest.raises(ValueError, match="same total mass"):
        emd(a.astype(np.float64), b.astype(np.float64), M)  # float64: 2e-6 is a real mismatch


def test_unequal_masses_error_and_normalize():
    M = np.abs(np.arange(3.0)[:, None] - np.arange(4.0)[None, :])
    a, b = [1.0, 1.0, 1.0], [1.0, 2.0, 1.0, 2.0]
    with pytest.raises(ValueError, match="normalize=True"):
        emd(a, b, M)
    r = emd(a, b, M, normalize=True)
    ref = pot.emd2(np.array(a) / 3, np.array(b) / 6, M)
    assert r.value == pytest.approx(ref, rel=1e-12)
    assert r.info["mass"] == 1.0 and np.isclose(r.plan.sum(), 1.0)


# ------------------------------------------------------------------ the certificate itself

def test_infeasible_potentials_are_repaired(monkeypatch):
    rng = np.random.default_rng(9)
    a, b, M = _random_problem(rng, 15, 11)
    real = emd_mod._solve_network_simplex

    def shifted(a_, b_, M_, it):
        P, f, g, info = real(a_, b_, M_, it)
        return P, f + 0.3, g, info        # f_i + g_j <= M_ij now fails by 0.3

    monkeypatch.setattr(emd_mod, "_solve_network_simplex", shifted)
    r = emd(a, b, M)
    assert r.info["repaired"] is True
    assert r.info["dual_violation_before_repair"] == pytest.approx(0.3, abs=1e-9)
    assert r.value == pytest.approx(pot.emd2(a, b, M), rel=1e-9)
    _assert_certificate(r, a, b, M)      # the c-transform restores an optimal dual here


def test_repair_that_leaves_a_gap_warns(monkeypatch):
    rng = np.random.default_rng(10)
    a, b, M = _random_problem(rng, 12, 12)
    real = emd_mod._solve_network_simplex

    def bad(a_, b_, M_, it):
        P, f, g, info = real(a_, b_, M_, it)
        f = f.copy()
        f[::2] += 0.2                      # infeasible, and not a constant shift
        return P, f, g, info

    monkeypatch.setattr(emd_mod, "_solve_network_simplex", bad)
    with pytest.warns(ConvergenceWarning, match="duality gap"):
        r = emd(a, b, M)
    assert r.info["repaired"] is True and not r.certified
    assert r.dual_violation <= 1e-12       # feasible after the repair
    assert r.duality_gap > 0               # the gap is reported, weak duality holds
    assert r.value == pytest.approx(pot.emd2(a, b, M), rel=1e-9)


def test_plan_with_wrong_marginals_raises(monkeypatch):
    def wrong(a_, b_, M_, it):
        n, m = M_.shape
        return np.full((n, m), 0.5 / (n * m)), np.zeros(n), np.zeros(m), {}

    monkeypatch.setattr(emd_mod, "_solve_network_simplex", wrong)
    with pytest.raises(EMDCertificateError, match="not a coupling"):
        emd(None, None, np.ones((4, 3)))


def test_max_iter_too_small():
    M = np.random.default_rng(0).random((50, 50))
    with pytest.raises(EMDCertificateError, match="max_iter"):
        emd(None, None, M, max_iter=1)        # POT returns a non-coupling when stopped at once
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = emd(None, None, M, max_iter=100)  # a coupling, not yet optimal
    assert not r.certified and r.duality_gap > 1e-6


# ------------------------------------------------------------------ methods

def test_auction_method():
    rng = np.random.default_rng(4)
    M = rng.random((30, 30))
    with pytest.raises(ValueError, match="network_simplex"):
        emd(None, None, rng.random((3, 4)), method="auction")
    with pytest.raises(ValueError, match="uniform"):
        emd(rng.random(3) + 0.1, None, rng.random((3, 3)), method="auction", normalize=True)
    try:
        import kantorovich.ot._auction  # noqa: F401
    except ImportError:
        with pytest.raises(NotImplementedError, match="network_simplex"):
            emd(None, None, M, method="auction")
        pytest.skip("kantorovich.ot._auction is not there yet: checked the clear error only")
    r = emd(None, None, M, method="auction")
    rows, cols = linear_sum_assignment(M)
    assert r.method == "auction"
    assert r.value == pytest.approx(M[rows, cols].mean(), rel=1e-9)
    assert r.dual_violation <= 1e-9 * M.max()


# ------------------------------------------------------------------ bad input

@pytest.mark.parametrize("a,b,M,exc,match", [
    (None, None, [[0.0, np.nan]], ValueError, "`M` must not contain NaN"),
    (None, None, [[0.0, np.inf]], ValueError, "`M` must contain only finite"),
    (None, None, np.array([[0.0, np.nan]]), ValueError, "`M` must not contain NaN"),  # fast path
    (None, None, np.array([[-np.inf, 1.0]]), ValueError, "`M` must contain only finite"),
    (None, None, [0.0, 1.0], ValueError, "`M` must have 2 dimension"),
    # (a 3-D M is a batch of problems, docs/batch.md; 4-D is no cost)
    (None, None, np.zeros((2, 2, 2, 2)), ValueError, r"`M` must be \(n, m\) for one problem or \(B, n, m\)"),
    (None, None, np.zeros((0, 3)), ValueError, "`M` must not be empty"),
    (None, None, "abc", TypeError, "`M` must be an array"),
    (None, None, [[1 + 1j]], TypeError, "`M` must be an array"),
    ([0.5, 0.5, 0.0], None, np.ones((2, 2)), ValueError, "`a` must have length 2"),
    (None, [1.0], np.ones((2, 2)), ValueError, "`b` must have length 2"),
    ([-0.5, 1.5], None, np.ones((2, 2)), ValueError, "`a` must be non-negative"),
    ([np.nan, 1.0], None, np.ones((2, 2)), ValueError, "`a` must contain only finite"),
    (None, [0.0, 0.0], np.ones((2, 2)), ValueError, "`b` must have a positive total"),
    ([[0.5, 0.5]], None, np.ones((2, 2)), ValueError, "`a` must have 1 dimension"),
])
def test_bad_input(a, b, M, exc, match):
    with pytest.raises(exc, match=match):
        emd(a, b, M)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"method": "simplex"}, ValueError, "`method` must be one of"),
    ({"tol": -1.0}, ValueError, "`tol` must be a positive float"),
    ({"tol": "x"}, TypeError, "`tol`"),
    ({"normalize": "yes"}, TypeError, "`normalize` must be a bool"),
    ({"max_iter": 0}, ValueError, "`max_iter` must be an integer >= 1"),
    ({"max_iter": 2.5}, TypeError, "`max_iter` must be an integer"),
])
def test_bad_options(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        emd(None, None, np.ones((2, 2)), **kwargs)


# ------------------------------------------------------------------ hypothesis

_costs = st.floats(-10, 10, allow_nan=False, allow_subnormal=False)


@given(st.data())
def test_hypothesis_random_small_problems(data):
    n = data.draw(st.integers(1, 7), label="n")
    m = data.draw(st.integers(1, 7), label="m")
    a = data.draw(pmfs(st.just(n)), label="a")
    b = data.draw(pmfs(st.just(m)), label="b")
    M = data.draw(hnp.arrays(np.float64, (n, m), elements=_costs), label="M")
    r = emd(a, b, M)
    r2 = emd(a, b, M, method="highs")
    scale = max(np.abs(M).max(), 1e-300)
    # POT's network simplex reports "infeasible" (and returns 0) for some all-negative costs,
    # e.g. a constant -2 matrix; a constant shift changes the value by exactly that constant
    # (both masses sum to 1), so the reference is computed on M - min(M).
    c = M.min()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = pot.emd2(a, b, M - c) + c
    assert r.value == pytest.approx(ref, rel=1e-9, abs=1e-9 * scale)
    assert r2.value == pytest.approx(r.value, rel=1e-9, abs=1e-9 * scale)
    for res in (r, r2):
        assert res.certified
        assert (res.f[:, None] + res.g[None, :] - M).max() <= 1e-9 * scale
        assert abs(res.duality_gap) <= 1e-9 * scale
        assert res.marginal_error <= 1e-9


@given(st.data())
def test_hypothesis_permutations_match_linear_sum_assignment(data):
    n = data.draw(st.integers(1, 9), label="n")
    M = data.draw(hnp.arrays(np.float64, (n, n), elements=_costs), label="M")
    rows, cols = linear_sum_assignment(M)
    r = emd(None, None, M)
    scale = max(np.abs(M).max(), 1e-300)
    assert r.value == pytest.approx(M[rows, cols].mean(), rel=1e-9, abs=1e-9 * scale)
    assert r.certified


# ------------------------------------------------------------------ GPU

@pytest.mark.gpu
def test_cupy_input_returns_cupy():
    import cupy as cp

    rng = np.random.default_rng(0)
    a, b, M = _random_problem(rng, 40, 30)
    r = emd(cp.asarray(a), cp.asarray(b), cp.asarray(M))
    assert isinstance(r.plan, cp.ndarray) and isinstance(r.f, cp.ndarray)
    assert isinstance(r.value, cp.ndarray) and r.value.shape == ()
    assert float(r.value) == pytest.approx(pot.emd2(a, b, M), rel=1e-9)
    assert r.certified and r.info["input_device"].startswith("cuda")


@pytest.mark.parametrize("c", [1e-300, 1e-12, 3.0, 1e12, 1e300])
def test_cost_scale_invariance(c):
    """emd(a, b, c M) = c emd(a, b, M), certified, for tiny and huge costs alike."""
    rng = np.random.default_rng(1)
    a, b, M = _random_problem(rng, 12, 9)
    base = emd(a, b, M).value
    r = emd(a, b, c * M)
    assert r.value == pytest.approx(c * base, rel=1e-9)
    assert r.certified and abs(r.duality_gap) <= 1e-9 * c


@pytest.mark.parametrize("method", ["auction", "network_simplex", "highs"])
def test_costs_near_the_float64_maximum(method):
    """Costs up to 1.79e308: every method certifies the optimum of the assignment problem,
    quietly. The auction's potentials, solved on the costs divided by 2**1024, came out a little
    above the largest cost (its prices), overflowed when scaled back and the certificate raised
    EMDCertificateError ("NaN or infinite plan or potentials"); f + c, g - c are as optimal.
    The certificate's own f_i + g_j - M_ij and c-transforms warned of overflows to -inf."""
    import itertools

    rng = np.random.default_rng(0)
    for _ in range(5):
        M = rng.uniform(size=(6, 6)) * 1.79e308
        # brute force over the 720 permutations, on M / 8 (the plain sums overflow; scipy's
        # linear_sum_assignment is itself off at this scale)
        ref = 8.0 * min((M[np.arange(6), list(s)] / 8.0).mean() for s in itertools.permutations(range(6)))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            r = emd(None, None, M, method=method)
        assert r.certified and np.all(np.isfinite(r.f)) and np.all(np.isfinite(r.g))
        assert r.value == pytest.approx(ref, rel=1e-12)


def test_negative_costs_shifted():
    """POT's network simplex calls a 1 x 1 negative-cost problem infeasible; emd does not."""
    r = emd(None, None, [[-2.0]])
    assert r.value == -2.0 and r.certified and r.f[0] + r.g[0] == pytest.approx(-2.0)
    M = -np.random.default_rng(2).random((6, 6)) - 5
    rows, cols = linear_sum_assignment(M)
    assert emd(None, None, M).value == pytest.approx(M[rows, cols].mean(), rel=1e-12)


def test_feasible_but_suboptimal_potentials_are_improved(monkeypatch):
    rng = np.random.default_rng(12)
    a, b, M = _random_problem(rng, 10, 8)
    real = emd_mod._solve_network_simplex

    def zero_duals(a_, b_, M_, it):
        P, f, g, info = real(a_, b_, M_, it)
        return P, np.zeros_like(f), np.zeros_like(g), info   # feasible (M >= 0), gap > 0

    monkeypatch.setattr(emd_mod, "_solve_network_simplex", zero_duals)
    # One c-transform pass does not close the gap of all-zero duals: the result must say so.
    with pytest.warns(ConvergenceWarning, match="duality gap"):
        r = emd(a, b, M)
    assert r.certified is False
    assert r.info["repaired"] is True and r.info["gap_before_repair"] > 0
    assert r.dual_violation <= 1e-12
    assert 0 <= r.duality_gap < r.info["gap_before_repair"]


@pytest.mark.parametrize("method", ["network_simplex", "highs", "auction"])
def test_cost_range_overflow_and_weight_total_overflow_are_errors(method):
    # max(M) - min(M) = inf raised OverflowError deep in the cost rescaling; masses of 1e308 made
    # the totals inf (EMDCertificateError, or a NaN value from highs)
    a = np.full(4, 0.25)
    M = np.where(np.eye(4) > 0, -1e308, 1e308)
    with pytest.raises(ValueError, match="`M` must have a finite range"):
        emd(a, a, M, method=method)
    with pytest.raises(ValueError, match="`a` must have a finite total mass"):
        emd(np.full(4, 1e308), np.full(4, 1e308), np.ones((4, 4)), method=method)


def test_tol_below_float_resolution_is_a_value_error():
    M = np.random.default_rng(0).random((5, 4))
    with pytest.raises(ValueError, match="`tol` must be at least 1e-12"):
        emd(None, None, M, tol=1e-300)
    r = emd(None, None, M, tol=1e-12)
    assert r.certified


def test_first_emd_call_leaves_the_global_rng_alone():
    # a fresh process: the lazy POT import (and whatever it imports) must not draw from np.random
    import subprocess
    import sys

    code = ("import numpy as np; s = np.random.get_state(); from kantorovich.ot import emd; "
            "emd(None, None, np.eye(2)); t = np.random.get_state(); "
            "print(s[2] == t[2] and bool((s[1] == t[1]).all()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"


def test_doctests():
    """The docstring examples (the API pages show them) run and print what they show."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module("kantorovich.ot._emd"))
    assert res.failed == 0 and res.attempted > 0


def test_progress_bar_of_the_auction_on_stderr_only_when_asked(monkeypatch, capsys):
    g = np.random.default_rng(43)
    x, y = g.random((200, 2)), g.random((200, 2))
    M = cdist(x, y) ** 2
    quiet = emd(None, None, M, method="auction")
    assert capsys.readouterr().err == ""
    shown = emd(None, None, M, method="auction", progress=True)
    err = capsys.readouterr().err
    assert "assignment n=200" in err and "phase" in err  # the bar of assignment(progress=True)
    # the same answer with the bar
    assert shown.value == quiet.value and shown.certified
    for fld in ("plan", "f", "g"):
        np.testing.assert_array_equal(getattr(shown, fld), getattr(quiet, fld))
    # "auto" shows it when it picks the auction
    monkeypatch.setattr(emd_mod, "AUTO_AUCTION_MIN_N", 100)
    auto = emd(None, None, M, progress=True)
    assert auto.method == "auction" and "assignment n=200" in capsys.readouterr().err
    assert auto.value == quiet.value
    # the network simplex and HiGHS report nothing while they run: no bar
    for method in ("network_simplex", "highs"):
        r = emd(None, None, M[:40, :30], normalize=True, method=method, progress=True)
        assert r.certified and capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", ["yes", None, 1, 0.0])
def test_progress_must_be_a_bool(bad):
    M = np.ones((3, 3))
    with pytest.raises(TypeError, match="`progress` must be a bool"):
        emd(None, None, M, progress=bad)
    with pytest.raises(TypeError, match="`progress` must be a bool"):  # a batch checks it too
        emd(None, None, np.stack([M, M]), progress=bad)
    assert emd(None, None, M, progress=np.bool_(False)).value == 1.0


@pytest.mark.parametrize("method", ["network_simplex", "auction", "highs"])
def test_uniform_weights_have_mass_one(rng, method):
    """a=None is 1/n each, of total 1 by definition, though n * (1/n) rounds to 1 + 2e-16 at
    n = 7: the value and the plan are those of mass 1 (the plan was copied, times that sum)."""
    n = 7
    assert float(np.full(n, 1.0 / n).sum()) != 1.0
    M = rng.random((n, n))
    r = emd(None, None, M, method=method)
    assert r.info["mass"] == 1.0
    P = np.asarray(r.plan)
    assert r.value == pytest.approx(float((P * M).sum()), rel=1e-15)
    w = np.full(n, 1.0 / n)
    r2 = emd(w, w, M, method=method)  # the same weights given: their own mass, as before
    assert r2.info["mass"] == float(w.sum())


@pytest.mark.parametrize("method", ["auto", "network_simplex"])
def test_uniform_weights_have_mass_one_in_a_batch(rng, method):
    """The batch gives each problem the single call's mass: 1 for a=None at n = 7."""
    M = rng.random((3, 7, 7))
    r = emd(None, None, M, method=method)
    np.testing.assert_array_equal(r.info["mass"], np.ones(3))
    for q in range(3):
        rq = emd(None, None, M[q], method=method)
        assert r.value[q] == pytest.approx(rq.value, rel=1e-15, abs=0)
