"""Tests of kantorovich.ot.assignment (epsilon-scaling auction + exact finish) and
auction_transport (rational weights by duplication). CPU backends only; the CUDA kernels are
tested under the simulator in test_auction_cudasim.py and on a GPU with the `gpu` marker."""

from __future__ import annotations

import numpy as np
import ot as pot
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.optimize import linear_sum_assignment

from kantorovich.ot import assignment, auction_transport, emd


def _lsa_value(M):
    r, c = linear_sum_assignment(M)
    return float(M[r, c].mean())


def _check_certificate(res, M, rtol=1e-12):
    n = M.shape[0]
    perm = np.asarray(res.perm)
    assert sorted(perm.tolist()) == list(range(n)), "not a permutation"
    assert res.value == pytest.approx(M[np.arange(n), perm].mean(), rel=1e-14, abs=1e-300)
    scale = max(1.0, float(np.abs(M).max()))
    viol = (res.f[:, None] + res.g[None, :] - M).max()
    assert viol <= 1e-12 * scale
    assert res.value - (res.f.mean() + res.g.mean()) == pytest.approx(res.duality_gap, abs=1e-12 * scale)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("n", [2, 3, 7, 30, 120])
def test_matches_scipy_random(backend, n):
    rng = np.random.default_rng(n)
    M = rng.random((n, n))
    res = assignment(M, backend=backend)
    assert res.exact
    assert res.value == pytest.approx(_lsa_value(M), rel=1e-9)
    _check_certificate(res, M)
    assert abs(res.duality_gap) <= 1e-12


@pytest.mark.parametrize("cost,p", [("sqeuclidean", 2.0), ("euclidean", 1.0), (1.5, 1.5), (3.0, 3.0)])
def test_points_match_pot(cost, p):
    rng = np.random.default_rng(7)
    n = 150
    x, y = rng.random((n, 2)), rng.random((n, 2)) + 0.2
    M = pot.dist(x, y, metric="euclidean") ** p
    ref = pot.emd2(np.full(n, 1 / n), np.full(n, 1 / n), M)
    res = assignment(x=x, y=y, cost=cost)
    assert res.exact
    assert res.value == pytest.approx(ref, rel=1e-9)
    _check_certificate(res, M, rtol=1e-9)


def test_points_3d_and_dense_agree():
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(80, 3)), rng.normal(size=(80, 3))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    a, b = assignment(M), assignment(x=x, y=y)
    assert a.value == pytest.approx(b.value, rel=1e-12)
    assert a.value == pytest.approx(_lsa_value(M), rel=1e-9)


def test_numpy_reference_matches_numba_kernel():
    """Same algorithm, same tie-breaks: the raw auction (exact=False) agrees."""
    rng = np.random.default_rng(11)
    M = rng.random((60, 60))
    a = assignment(M, backend="numba", exact=False)
    b = assignment(M, backend="numpy", exact=False)
    np.testing.assert_array_equal(a.perm, b.perm)
    np.testing.assert_allclose(a.g, b.g, rtol=0, atol=1e-12)
    assert a.n_iter == b.n_iter


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_integer_costs_exact_without_finisher(backend):
    rng = np.random.default_rng(5)
    M = rng.integers(0, 1000, size=(50, 50)).astype(float)
    res = assignment(M, backend=backend)
    assert res.exact and "integer" in res.method
    assert res.value * 50 == _lsa_value(M) * 50  # integral sums: equal exactly
    assert res.duality_gap < 1 / 50  # certified: summed gap < 1
    assert res.eps_bound < 1 / 50


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_integer_costs_tight_potentials(backend):
    # the integer proof makes the permutation optimal, but the auction's potentials left a
    # summed slack up to 1 cost unit on it (a gap of 1/6 on the all-ones 2 x 2 matrix, 0.0215
    # below), so emd(method="auction") reported certified=False for an optimal plan; the
    # column shifts on the candidate edges make the potentials tight: the gap is rounding only
    rng = np.random.default_rng(0)
    for M in (np.ones((2, 2)), rng.integers(0, 10, (30, 30)).astype(float),
              rng.integers(-2, 1, (60, 60)).astype(float)):
        n = M.shape[0]
        res = assignment(M, backend=backend)
        assert res.exact and "integer" in res.method
        assert res.value * n == _lsa_value(M) * n
        f, g = np.asarray(res.f), np.asarray(res.g)
        scale = np.abs(M).max()
        assert (f[:, None] + g[None, :] - M).max() <= 4 * n * np.finfo(float).eps * scale
        assert abs(res.duality_gap) <= 4 * n * np.finfo(float).eps * scale
        r = emd(None, None, M, method="auction")
        assert r.certified and abs(r.duality_gap) <= 1e-12 * scale
        assert r.value == pytest.approx(_lsa_value(M), rel=1e-12, abs=1e-12 * scale)


def test_ties_and_all_equal_costs():
    n = 25
    res = assignment(np.full((n, n), 3.0))
    assert res.value == 3.0 and res.exact
    assert sorted(res.perm.tolist()) == list(range(n))
    rng = np.random.default_rng(0)
    M = rng.integers(0, 2, size=(n, n)).astype(float) * 0.1  # many ties, non-integer
    res = assignment(M)
    assert res.exact
    assert res.value == pytest.approx(_lsa_value(M), rel=1e-9, abs=1e-15)
    _check_certificate(res, M)
    # duplicated points: every column has a twin
    x = np.repeat(rng.random((10, 2)), 3, axis=0)
    r2 = assignment(x=x, y=x[::-1].copy())
    assert r2.value == pytest.approx(0.0, abs=1e-15)


def test_huge_dynamic_range():
    rng = np.random.default_rng(2)
    n = 40
    M = 10.0 ** rng.uniform(-8, 8, size=(n, n))
    res = assignment(M)
    assert res.exact
    assert res.value == pytest.approx(_lsa_value(M), rel=1e-9)
    _check_certificate(res, M)
    tiny = rng.random((n, n)) * 1e-200
    assert assignment(tiny).value == pytest.approx(_lsa_value(tiny), rel=1e-9)


def test_negative_and_shifted_costs():
    rng = np.random.default_rng(9)
    M = rng.normal(size=(30, 30)) * 5 - 100
    res = assignment(M)
    assert res.value == pytest.approx(_lsa_value(M), rel=1e-9)
    _check_certificate(res, M)


def test_n_equals_one():
    res = assignment([[2.5]])
    assert res.value == 2.5 and res.perm.tolist() == [0] and res.exact
    assert res.f[0] + res.g[0] == 2.5
    r2 = assignment(x=[[0.0, 0.0]], y=[[3.0, 4.0]], cost="euclidean")
    assert r2.value == pytest.approx(5.0)


def test_inexact_mode_respects_its_bound():
    rng = np.random.default_rng(4)
    n = 100
    M = rng.random((n, n))
    opt = _lsa_value(M)
    res = assignment(M, exact=False, eps_final=1e-3)
    assert not res.exact
    assert res.eps_bound == pytest.approx(1e-3)
    assert opt - 1e-12 <= res.value <= opt + res.eps_bound + 1e-12
    assert -1e-12 <= res.duality_gap <= res.eps_bound + 1e-12
    assert res.info["dual_violation"] <= 1e-12


def test_coarse_eps_final_refines_then_finishes():
    rng = np.random.default_rng(8)
    M = rng.random((200, 200))
    res = assignment(M, eps_final=0.5, eps_divisor=3.0)
    assert res.exact
    assert res.value == pytest.approx(_lsa_value(M), rel=1e-9)


def test_input_not_modified_and_lists_accepted():
    M = np.array([[4.0, 1.0, 3.0], [2.0, 0.0, 5.0], [3.0, 2.0, 2.0]])
    M0 = M.copy()
    res = assignment(M.tolist())
    assert res.perm.tolist() == [1, 0, 2] and res.value == pytest.approx(5 / 3)
    assignment(M)
    np.testing.assert_array_equal(M, M0)


@settings(max_examples=40)
@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 7)).map(lambda t: (t[0], t[0])),
                  elements=st.floats(-1e3, 1e3, allow_subnormal=False)))
def test_property_equals_linear_sum_assignment(M):
    res = assignment(M)
    ref = _lsa_value(M)
    assert res.value == pytest.approx(ref, rel=1e-9, abs=1e-9)
    assert res.exact
    _check_certificate(res, M)


# --- bad input ------------------------------------------------------------------------------

def test_non_square_points_to_emd():
    with pytest.raises(ValueError, match="emd"):
        assignment(np.ones((3, 4)))
    with pytest.raises(ValueError, match="emd"):
        assignment(x=np.zeros((3, 2)), y=np.zeros((4, 2)))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_inf_costs(bad):
    M = np.ones((3, 3))
    M[1, 2] = bad
    with pytest.raises(ValueError, match="`M`"):
        assignment(M)
    x = np.zeros((3, 2))
    x[0, 0] = bad
    with pytest.raises(ValueError, match="`x`"):
        assignment(x=x, y=np.zeros((3, 2)))


def test_argument_errors():
    M = np.ones((3, 3))
    with pytest.raises(ValueError, match="not both"):
        assignment(M, x=np.zeros((3, 1)), y=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="`M` or both"):
        assignment()
    with pytest.raises(ValueError, match="`cost`"):
        assignment(x=np.zeros((3, 1)), y=np.zeros((3, 1)), cost="cosine")
    with pytest.raises(ValueError, match="`cost`"):
        assignment(x=np.zeros((3, 1)), y=np.zeros((3, 1)), cost=-1.0)
    with pytest.raises(TypeError, match="`cost`"):
        assignment(x=np.zeros((3, 1)), y=np.zeros((3, 1)), cost=None)
    with pytest.raises(ValueError, match="`backend`"):
        assignment(M, backend="gpu")
    with pytest.raises(ValueError, match="`eps_divisor`"):
        assignment(M, eps_divisor=1.0)
    with pytest.raises(ValueError, match="`eps_final`"):
        assignment(M, eps_final=0.0)
    with pytest.raises(TypeError, match="`exact`"):
        assignment(M, exact="yes")
    with pytest.raises(TypeError, match="`rng`"):
        assignment(M, rng="seed")
    with pytest.raises(TypeError, match="`M`"):
        assignment(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match="`M`"):
        assignment(np.ones(3))


def test_cuda_backend_without_gpu_raises():
    from kantorovich._array_api import gpu_available

    if gpu_available():
        pytest.skip("a GPU is present")
    from kantorovich.exceptions import BackendUnavailableError

    with pytest.raises(BackendUnavailableError):
        assignment(np.ones((3, 3)), backend="cuda")


# --- non-uniform weights --------------------------------------------------------------------

def test_transport_rational_weights_matches_pot():
    rng = np.random.default_rng(1)
    a = np.array([3, 1, 4, 2]) / 10
    b = np.array([5, 2, 2, 1, 0]) / 10
    M = rng.random((4, 5))
    ref = pot.emd2(a, b, M)
    res = auction_transport(a, b, M)
    assert res.value == pytest.approx(ref, rel=1e-9)
    assert res.certified
    np.testing.assert_allclose(res.plan.sum(1), a, atol=1e-15)
    np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-15)
    assert res.info["denominator"] == 10
    assert abs(res.duality_gap) < 1e-12 and res.dual_violation <= 1e-12


def test_transport_zero_weights_on_both_sides_feasible_potentials():
    # a zero-weight row (no copy) next to a zero-weight column (no copy): the row's potential
    # used to be set to 0, which violated f_i + g_j <= C_ij by 4.33 here (certified False for
    # an optimal plan); the c-transforms over the copied columns, then over all rows, are
    # feasible and leave the dual value unchanged (zero weights)
    a = [0.5, 0.5, 0.0]
    b = [0.0, 1.0]
    M = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, -5.0]])
    res = auction_transport(a, b, M)
    assert res.value == pytest.approx(1.0, rel=1e-15)
    assert np.all(res.f[:, None] + res.g[None, :] <= M + 1e-15 * np.abs(M).max())
    assert res.dual_violation <= 1e-15 * np.abs(M).max()
    assert abs(res.duality_gap) <= 1e-15
    assert res.certified
    rng = np.random.default_rng(3)
    for _ in range(10):
        ka, kb = rng.integers(0, 4, 4), np.zeros(5, dtype=np.int64)
        ka[0] = 0
        np.add.at(kb, rng.integers(1, 5, max(int(ka.sum()), 1)), 1)
        ka[1] += max(int(kb.sum()) - int(ka.sum()), 0)
        Mr = rng.random((4, 5)) * 10 - 3
        res = auction_transport(ka / ka.sum(), kb / kb.sum(), Mr)
        assert res.value == pytest.approx(pot.emd2(ka / ka.sum(), kb / kb.sum(), Mr), rel=1e-12)
        assert res.dual_violation <= 1e-12 * np.abs(Mr).max() and res.certified


def test_transport_irrational_weights_point_to_emd():
    a = np.array([1 / np.pi, 1 - 1 / np.pi])
    with pytest.raises(ValueError, match="emd"):
        auction_transport(a, [0.5, 0.5], np.ones((2, 2)), max_size=50)
    with pytest.raises(ValueError, match="denominator"):
        auction_transport([0.5, 0.5], [0.5, 0.5], np.ones((2, 2)), denominator=3)
    with pytest.raises(ValueError, match="`a`"):
        auction_transport([-0.5, 1.5], [0.5, 0.5], np.ones((2, 2)))


def test_report_reads_gpu_auction_json_old_and_checkpointed(tmp_path, monkeypatch):
    """The auction report section finds GPU timings in either JSON layout gpu_check.sh writes,
    recorded as package data: the old list of rows, or the per-case dict of
    benchmarks/_common.Checkpoint (failed cases recorded as {"error": ...} are skipped)."""
    import json

    from kantorovich.report.sections import auction as sec

    data = tmp_path / "auction_gpu.json"
    monkeypatch.setattr(sec, "_GPU_DATA", data)
    assert sec._gpu_numbers() is None
    new = {"environment": {"gpu": "H100"},
           "gpu": {"compile": {"s": 3.0, "exact": True}, "1000": {"n": 1000, "auction_cuda_s": 0.1},
                   "2000": {"error": "RuntimeError()"}, "4000": {"n": 4000, "auction_cuda_s": 0.4}}}
    data.write_text(json.dumps({"bench_auction": new}))
    assert sec._gpu_numbers() == ([1000, 4000], [0.1, 0.4], "H100")
    old = {"gpu": [{"n": 500, "auction_cuda_s": 0.05}]}
    data.write_text(json.dumps(old))
    assert sec._gpu_numbers() == ([500], [0.05], "GPU")


def test_report_package_data_holds_the_recorded_gpu_auction_run():
    """The installed report draws its GPU curve from package data: the recorded H100 run (every
    size of benchmarks/gpu_check.sh's auction part, exact), not an empty placeholder."""
    import json

    from kantorovich.report.sections import auction as sec

    ns, secs, device = sec._gpu_numbers()
    assert ns == [1000, 2000, 4000, 8000, 16000, 32000]
    assert device == "NVIDIA H100 80GB HBM3" and all(t > 0 for t in secs)
    rows = json.loads(sec._GPU_DATA.read_text())["gpu"]
    assert all(rows[str(n)]["exact"] for n in ns)


def test_subnormal_costs():
    # the power-of-two rescaling of costs below 2**-1022 overflowed (OverflowError)
    M = np.random.default_rng(0).random((5, 5))
    ref = assignment(M).value
    assert np.isclose(assignment(M * 1e-310).value, ref * 1e-310, rtol=1e-6)


def test_eps_divisor_within_rounding_of_one_is_refused():
    M = np.random.default_rng(0).random((6, 6))
    for sc in (1 + 1e-15, 1 + 1e-12):
        with pytest.raises(ValueError, match="`eps_divisor`"):
            assignment(M, eps_divisor=sc)
    for kw in ({"M": M}, {"x": np.random.default_rng(1).random((5, 2)), "y": np.random.default_rng(2).random((5, 2))}):
        with pytest.raises(ValueError, match="`eps_divisor`"):
            assignment(**kw, eps_divisor=1 + 1e-15)
    assert assignment(M, eps_divisor=1.05).value == pytest.approx(_lsa_value(M), rel=1e-14)


def test_scaling_is_a_deprecated_name_of_eps_divisor():
    # sinkhorn's `scaling` multiplies eps per stage; the auction's divided it: renamed
    M = np.random.default_rng(3).random((7, 7))
    new = assignment(M, eps_divisor=3.0)
    with pytest.warns(DeprecationWarning, match="eps_divisor"):
        old = assignment(M, scaling=3.0)
    assert (old.value, old.perm.tolist(), old.info["phases"]) == (new.value, new.perm.tolist(), new.info["phases"])
    with pytest.raises(TypeError, match="`eps_divisor`.*`scaling`"):
        assignment(M, eps_divisor=3.0, scaling=3.0)


def test_eps_final_beyond_the_cost_range_still_gives_the_optimum():
    M = np.random.default_rng(0).random((6, 6))
    for e in (1e15, 1e16, 1e300):
        res = assignment(M, eps_final=e)
        assert res.value == pytest.approx(_lsa_value(M), rel=1e-14)
        assert res.exact
        _check_certificate(res, M)


def test_certificate_refuses_potentials_that_dwarf_the_costs():
    # feasible potentials shifted by +-2**40 prove nothing at the costs' scale: not exact
    from kantorovich.ot import _auction as A

    M = np.random.default_rng(0).integers(0, 9, size=(6, 6)).astype(float)
    prob = A._prepare(M, None, None, "sqeuclidean")
    ops = A._Ops(prob, "numpy")
    r = linear_sum_assignment(prob.C)[1].astype(np.int64)
    res = assignment(M)
    f, g = np.asarray(res.f) * prob.scale, np.asarray(res.g) * prob.scale
    info = {}
    out = A._certify_and_finish(ops, prob, r, f, g, 0.0, False, info)
    assert out[3]  # the integer certificate at the costs' scale
    out = A._certify_and_finish(ops, prob, r, f + 2.0 ** 40, g - 2.0 ** 40, 0.0, False, {})
    assert not out[3]


def test_huge_power_cost_is_a_value_error_naming_cost():
    with pytest.raises(ValueError, match="`cost`"):
        assignment(x=[[0.0], [2.0]], y=[[2.0], [0.0]], cost=1e300)


@pytest.mark.parametrize("cost", ["euclidean", "sqeuclidean", 1.5])
def test_points_whose_costs_overflow_are_a_value_error_without_warnings(cost):
    # points 1e200 apart: their Euclidean and p = 1.5 costs are finite and solved (the points
    # are brought to unit scale first), their squared distances overflow and are refused at
    # once, naming x and y; 2e308 apart every cost overflows; no numpy overflow warning
    # escapes on the way
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x, y = [[1e200], [-0.3]], [[1e200], [0.9]]
        if cost == "sqeuclidean":
            with pytest.raises(ValueError, match=r"1e\+200\*\*2 overflows .* `x` and `y`"):
                assignment(x=x, y=y, cost=cost)
        else:
            r = assignment(x=x, y=y, cost=cost)
            assert r.exact and list(r.perm) == [0, 1]
            assert r.value == pytest.approx((0.0 + 1.2 ** (1.0 if cost == "euclidean" else 1.5)) / 2)
        with pytest.raises(ValueError, match=r"2e\+308\*\*.* overflows .* `x` and `y`"):
            assignment(x=[[1e308], [0.0]], y=[[-1e308], [0.0]], cost=cost)


@pytest.mark.parametrize("cost, scales", [("euclidean", (2.0 ** -900, 1e-200, 1e120, 1e200)),
                                          ("sqeuclidean", (1e-100, 1e120)), (1.5, (1e-150, 1e150))])
def test_assignment_of_points_far_from_unit_scale(cost, scales):
    """Points at 1e-200 square to 0 and at 1e200 overflow: the points are brought to unit scale
    by an exact power of two, so the assignment is the unit-scale one and the value, potentials
    and gap scale as the cost (at 1e-271 the Euclidean costs all read 0 and a wrong assignment
    was certified exact)."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(7, 2)), rng.normal(size=(7, 2))
    p = {"euclidean": 1.0, "sqeuclidean": 2.0}.get(cost, cost)
    ref = assignment(x=x, y=y, cost=cost)
    C = np.linalg.norm(x[:, None] - y[None], axis=2) ** p
    assert ref.exact and ref.value == pytest.approx(C[linear_sum_assignment(C)].mean(), rel=1e-12)
    for s in scales:
        r = assignment(x=x * s, y=y * s, cost=cost)
        assert r.exact
        np.testing.assert_array_equal(r.perm, ref.perm)
        assert r.value == pytest.approx(ref.value * s ** p, rel=1e-12)
        np.testing.assert_allclose(r.f, ref.f * s ** p, rtol=1e-9, atol=1e-12 * ref.value * s ** p)
    tiny = assignment(x=np.array([[2.3661043723335494e-271], [-3.549156558500324e-271],
                                  [3.549156558500324e-271], [0.0]]),
                      y=np.array([[-5.375099133069627e-272], [5.755972357301721e-272],
                                  [3.510028783419467e-271], [1.2333123440582334e-271]]),
                      cost="euclidean")
    assert tiny.exact and tiny.value == pytest.approx(1.1897909210699264e-271, rel=1e-12)


def test_doctests():
    """The docstring examples (the API pages show them) run and print what they show."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module("kantorovich.ot._auction"))
    assert res.failed == 0 and res.attempted > 0


def test_progress_bar_on_stderr_only_when_asked(capsys):
    g = np.random.default_rng(41)
    x, y = g.random((200, 2)), g.random((200, 2))
    quiet = assignment(x=x, y=y)
    assert capsys.readouterr().err == ""
    shown = assignment(x=x, y=y, progress=True)
    err = capsys.readouterr().err
    assert "assignment n=200" in err and "phase" in err
    # the same answer with the bar
    assert np.array_equal(shown.perm, quiet.perm) and shown.value == quiet.value
    with pytest.raises(TypeError, match="`progress` must be a bool"):
        assignment(x=x, y=y, progress="yes")
    with pytest.raises(TypeError, match="`progress` must be a bool"):  # a batch checks it too
        assignment(x=np.stack([x, x]), y=np.stack([y, y]), progress=None)


def test_transport_progress_bar_on_stderr_only_when_asked(capsys):
    """auction_transport(progress=True) shows the bar of its D x D assignment."""
    g = np.random.default_rng(43)
    a = np.array([3, 1, 4, 2]) / 10
    b = np.array([5, 2, 2, 1, 0]) / 10
    M = g.random((4, 5))
    quiet = auction_transport(a, b, M)
    assert capsys.readouterr().err == ""
    shown = auction_transport(a, b, M, progress=True)
    err = capsys.readouterr().err
    assert "assignment n=10" in err and "phase" in err  # D = 10 copies
    assert shown.value == quiet.value and np.array_equal(shown.plan, quiet.plan)
    for bad in ("yes", None, 1):
        with pytest.raises(TypeError, match="`progress` must be a bool"):
            auction_transport(a, b, M, progress=bad)


@pytest.mark.parametrize("kind", ["uniform", "negative", "integer", "almost integer", "one row"])
def test_dense_statistics_pass_matches_numpy(monkeypatch, rng, kind):
    """The one-pass statistics of a large cost matrix (min, max, max |C|, whole numbers) are
    numpy's, and the problem prepared from them is the same as with numpy's passes."""
    from kantorovich.ot import _auction

    n = 1100 if kind != "one row" else 1
    m = 1100 if kind != "one row" else 1 << 20
    C = {"uniform": lambda: rng.random((n, m)),
         "negative": lambda: rng.normal(size=(n, m)) * 1e3,
         "integer": lambda: rng.integers(-50, 50, size=(n, m)).astype(float),
         "almost integer": lambda: rng.integers(0, 9, size=(n, m)).astype(float),
         "one row": lambda: rng.random((n, m)) - 0.5}[kind]()
    if kind == "almost integer":
        C[n - 1, m - 1] += 0.5  # one entry not whole, at the very end
    C[0, 0] = -0.0 if kind == "uniform" else C[0, 0]
    assert C.size >= _auction._DENSE_STATS_NUMBA
    got = _auction._dense_stats(C)
    want = (float(C.min()), float(C.max()), float(np.abs(C).max()), bool(np.all(C == np.rint(C))))
    assert got == want
    if n == m:
        prob = _auction._prepare(C, None, None, "sqeuclidean")
        monkeypatch.setattr(_auction, "_DENSE_STATS_NUMBA", C.size + 1)  # numpy's passes
        ref = _auction._prepare(C, None, None, "sqeuclidean")
        assert (prob.integer, prob.scale, prob.c_range) == (ref.integer, ref.scale, ref.c_range)
        np.testing.assert_array_equal(prob.C, ref.C)
