"""Tests of kantorovich.ot.wasserstein: W_p between point clouds, solver picked by size."""

from __future__ import annotations

import itertools
import math
import sys
import types
import warnings

import numpy as np
import ot as pot
import pytest
from scipy.spatial.distance import cdist

from kantorovich.ot import emd, wasserstein


def _fake_module(monkeypatch, name, **funcs):
    mod = types.ModuleType(name)
    for k, v in funcs.items():
        setattr(mod, k, v)
    monkeypatch.setitem(sys.modules, name, mod)
    return mod


@pytest.mark.parametrize("theta", [0.0, 0.25, -1.5, 3.0])
@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_parallel_lines_exact(theta, p):
    """C1: W_p(P_0, P_theta) = |theta| for parallel lines (same z: exactly)."""
    z = np.random.default_rng(0).uniform(size=60)
    x = np.c_[np.zeros(60), z]
    y = np.c_[np.full(60, theta), z]
    assert wasserstein(x, y, p=p) == pytest.approx(abs(theta), rel=1e-12, abs=1e-12)


def test_parallel_lines_family_samples():
    """With independent z the empirical W_1 exceeds |theta| by the 1-D W_1 of the z's only."""
    try:
        from kantorovich.families import ParallelLines
    except ImportError:
        pytest.skip("kantorovich.families is not there yet")
    fam = ParallelLines(0.5)
    x, y = fam.sample(200, rng=1)
    w = wasserstein(x, y)
    assert fam.w1() <= w + 1e-12
    assert w <= math.hypot(0.5, 0.15)   # |theta| plus a 1-D sampling error below 0.15


def test_gaussian_w2_statistical():
    """W_2^2 between empirical measures of n-samples approaches the Bures value (2-D).

    Statistical check with fixed seeds: mean of k = 4 replicates within 4 standard errors
    plus a bias budget sqrt(log n / n) * (tr S0 + tr S1) / 2 (the two-sample W_2^2 bias in
    d = 2 is of order sqrt(log n / n) times the variance scale).
    """
    try:
        from kantorovich.families import gaussian_w2
    except ImportError:
        pytest.skip("kantorovich.families is not there yet")
    m0, m1 = np.array([0.0, 0.0]), np.array([1.0, 0.5])
    S0 = np.array([[1.0, 0.3], [0.3, 0.5]])
    S1 = np.array([[0.6, -0.2], [-0.2, 1.2]])
    truth = gaussian_w2(m0, S0, m1, S1) ** 2
    n, k = 600, 4
    vals = []
    for s in range(k):
        rng = np.random.default_rng(100 + s)
        x = rng.multivariate_normal(m0, S0, n)
        y = rng.multivariate_normal(m1, S1, n)
        vals.append(wasserstein(x, y, p=2) ** 2)
    se = np.std(vals, ddof=1) / np.sqrt(k)
    budget = math.sqrt(math.log(n) / n) * (np.trace(S0) + np.trace(S1)) / 2
    assert abs(np.mean(vals) - truth) <= 4 * se + budget


@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_matches_pot_exact(p):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(40, 3)), rng.normal(size=(30, 3)) + 0.5
    a, b = rng.random(40), rng.random(30)
    M = cdist(x, y) ** p
    ref = pot.emd2(a / a.sum(), b / b.sum(), M) ** (1 / p)
    assert wasserstein(x, y, a, b, p=p) == pytest.approx(ref, rel=1e-9)
    assert wasserstein(x, y, 3 * a, b, p=p) == pytest.approx(ref, rel=1e-9)  # normalised
    # the documented way to the details: emd on the cost matrix
    assert emd(a, b, M, normalize=True).value ** (1 / p) == pytest.approx(ref, rel=1e-9)


def test_symmetry_translation_homogeneity():
    rng = np.random.default_rng(4)
    x, y = rng.random((25, 2)), rng.random((35, 2))
    w = wasserstein(x, y, p=2)
    assert wasserstein(y, x, p=2) == pytest.approx(w, rel=1e-10)
    assert wasserstein(x + 7.0, y + 7.0, p=2) == pytest.approx(w, rel=1e-9)
    assert wasserstein(3 * x, 3 * y, p=2) == pytest.approx(3 * w, rel=1e-10)
    assert wasserstein(x, x) == pytest.approx(0.0, abs=1e-12)


def test_one_dimensional_uses_1d_solver_and_agrees_with_lp():
    rng = np.random.default_rng(5)
    u, v = rng.normal(size=50), rng.normal(size=70) + 1
    w_exact = wasserstein(u, v, method="exact", p=2)
    assert wasserstein(u, v, p=2) == pytest.approx(w_exact, rel=1e-9)
    assert wasserstein(u[:, None], v[:, None], p=2) == pytest.approx(w_exact, rel=1e-9)


def test_auto_rule_1d(monkeypatch):
    calls = []

    def fake_w1d(u, v, uw=None, vw=None, *, p=1):
        calls.append((u.shape, v.shape, p))
        return 0.125

    _fake_module(monkeypatch, "kantorovich.ot._wasserstein_1d", wasserstein_1d=fake_w1d)
    assert wasserstein(np.arange(5.0), np.arange(3.0), p=2) == 0.125
    assert calls == [((5,), (3,), 2.0)]


def test_auto_rule_exact_then_sinkhorn(monkeypatch):
    calls = []

    class FakeResult:
        value = 0.09

    def fake_sinkhorn(a, b, geom, *, eps, progress):  # (progress: wasserstein passes its own)
        assert progress is False
        calls.append((geom.shape, geom.p, eps, float(a.sum()), float(b.sum())))
        return FakeResult()

    _fake_module(monkeypatch, "kantorovich.ot._sinkhorn", sinkhorn=fake_sinkhorn)
    rng = np.random.default_rng(6)
    x, y = rng.random((10, 2)), rng.random((12, 2))
    w_exact = wasserstein(x, y, p=2)                       # 120 entries: exact, no Sinkhorn
    assert calls == [] and w_exact > 0
    assert wasserstein(x, y, p=2, exact_max_entries=119) == pytest.approx(0.3)  # 0.09 ** (1/2)
    (shape, p, eps, sa, sb), = calls
    assert shape == (10, 12) and p == 2.0 and sa == pytest.approx(1.0) and sb == pytest.approx(1.0)
    lo, hi = np.minimum(x.min(0), y.min(0)), np.maximum(x.max(0), y.max(0))
    assert eps == pytest.approx(5e-3 * np.sum((hi - lo) ** 2))      # 5e-3 * diam^p
    assert wasserstein(x, y, p=2, method="sinkhorn", eps=0.01) == pytest.approx(0.3)
    assert calls[-1][2] == 0.01


@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_auto_rule_equal_uniform_clouds_use_the_exact_auction(monkeypatch, p):
    # above exact_max_entries, n == m with uniform weights goes to the exact auction on points
    # (costs on the fly), not to the biased Sinkhorn approximation
    def no_sinkhorn(*args, **kwargs):
        raise AssertionError("Sinkhorn must not be called for n == m uniform clouds")

    rng = np.random.default_rng(8)
    x, y = rng.random((40, 3)), rng.random((40, 3)) + 0.1
    exact = wasserstein(x, y, p=p, method="exact")
    _fake_module(monkeypatch, "kantorovich.ot._sinkhorn", sinkhorn=no_sinkhorn)
    assert wasserstein(x, y, p=p, exact_max_entries=100) == pytest.approx(exact, rel=1e-12)
    w = np.full(40, 2.5)   # uniform, unnormalised
    assert wasserstein(x, y, w, w, p=p, method="auction") == pytest.approx(exact, rel=1e-12)


def test_auction_method_needs_equal_uniform_clouds():
    x, y = np.zeros((3, 2)), np.ones((4, 2))
    with pytest.raises(ValueError, match="n == m"):
        wasserstein(x, y, method="auction")
    with pytest.raises(ValueError, match="non-uniform"):
        wasserstein(x, y[:3], [1.0, 2.0, 1.0], None, method="auction")


def test_sinkhorn_path_real():
    try:
        import kantorovich.ot._sinkhorn  # noqa: F401
    except ImportError:
        pytest.skip("kantorovich.ot._sinkhorn is not there yet")
    rng = np.random.default_rng(7)
    x, y = rng.random((60, 2)), rng.random((50, 2)) + np.array([2.0, 0.0])   # W ~ 2, diam ~ 3
    exact = wasserstein(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")                 # default eps: no ConvergenceWarning
        approx = wasserstein(x, y, method="sinkhorn")
    assert exact <= approx * (1 + 1e-6)               # the entropic plan costs at least W
    assert approx == pytest.approx(exact, rel=0.02)


@pytest.mark.parametrize("kwargs,exc,match", [
    ({"p": 0.5}, ValueError, "`p` must be a float >= 1"),
    ({"p": True}, TypeError, "`p`"),
    ({"p": np.nan}, ValueError, "`p`"),
    ({"method": "lp"}, ValueError, "`method` must be one of"),
    ({"method": "1d"}, ValueError, "d == 1"),
    ({"eps": -1.0}, ValueError, "`eps` must be a positive float"),
    ({"a": [1.0, -1.0, 1.0]}, ValueError, "`a` must be non-negative"),
    ({"b": [1.0, 1.0]}, ValueError, "`b` must have length 4"),
    ({"exact_max_entries": 0}, ValueError, "`exact_max_entries`"),
])
def test_bad_options(kwargs, exc, match):
    x, y = np.zeros((3, 2)), np.ones((4, 2))
    with pytest.raises(exc, match=match):
        wasserstein(x, y, **kwargs)


@pytest.mark.parametrize("x,y,exc,match", [
    ([[0.0, np.nan]], [[0.0, 1.0]], ValueError, "`x` must contain only finite"),
    ([[0.0, 1.0]], [[np.inf, 1.0]], ValueError, "`y` must contain only finite"),
    (np.zeros((3, 2)), np.zeros((3, 3)), ValueError, "same dimension"),
    (np.zeros((0, 2)), np.zeros((3, 2)), ValueError, "`x`"),
    ("ab", np.zeros((3, 2)), TypeError, "`x`"),
])
def test_bad_points(x, y, exc, match):
    with pytest.raises(exc, match=match):
        wasserstein(x, y)


@pytest.mark.gpu
def test_cupy_points():
    import cupy as cp

    rng = np.random.default_rng(8)
    x, y = rng.random((30, 2)), rng.random((40, 2))
    w = wasserstein(cp.asarray(x), cp.asarray(y))
    assert isinstance(w, cp.ndarray) and w.shape == ()
    assert float(w) == pytest.approx(wasserstein(x, y), rel=1e-9)


@pytest.mark.parametrize("method", ["exact", "sinkhorn"])
@pytest.mark.parametrize("p", [1, 2, 3.5])
@pytest.mark.parametrize("s", [1e300, 1e-300, 1e150])
def test_points_of_extreme_magnitude_are_rescaled(method, p, s):
    # W_p(s x, s y) = s W_p(x, y): the costs |x - y|^p overflowed ("`M` must contain only finite
    # costs" for points the caller passed) or underflowed to 0 (W = 0.0 silently)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))
    ref = wasserstein(x, y, p=p, method=method)
    assert math.isclose(wasserstein(x * s, y * s, p=p, method=method), ref * s, rel_tol=1e-9)


@pytest.mark.parametrize("s", [1.0, 1e3, 1e-200, 1e200])
def test_sinkhorn_eps_below_resolution_is_told_in_the_callers_units(s):
    """The error quoted the eps and cost scale of the points brought to unit scale ("got
    6.5e-21" for an eps of 1e180 beside costs of 1e200), not the numbers the caller passed."""
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 2)), rng.random((31, 2))
    scale = np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1)).max() * s  # max |x - y| (p = 1)
    x, y, eps = x * s, y * s, 1e-20 * s
    with pytest.raises(ValueError, match=r"`eps` must be at least") as err:
        wasserstein(x, y, method="sinkhorn", eps=eps)
    msg = str(err.value)
    assert f"got {eps!r}." in msg
    quoted = float(msg.split("cost scale ")[1].split(")")[0])
    assert 0.5 * scale < quoted < 2.0 * scale


def test_sinkhorn_eps_rescaled_beyond_2_to_the_1023_is_not_an_overflow_error():
    """Points at 1e-200 with p = 2 are scaled by 2**1330: ``2.0 ** 1330`` raised Python's
    OverflowError, where eps times it is a float (the costs at unit scale, eps huge beside
    them: the value of a coupling close to the product measure)."""
    rng = np.random.default_rng(0)
    x, y = rng.random((30, 2)), rng.random((31, 2))
    for eps in (5e-324, 1e-300):
        w = wasserstein(x * 1e-200, y * 1e-200, p=2, method="sinkhorn", eps=eps)
        indep = math.sqrt(np.mean(((x[:, None] - y[None]) ** 2).sum(-1))) * 1e-200
        assert math.isclose(w, indep, rel_tol=1e-6)
    # costs of 1e400, beyond float64 themselves: the eps floor is told as it is (it said
    # "got 1e+170, which is 0.0 at unit scale", 2.0 ** -1330 being 0)
    with pytest.raises(ValueError, match=r"at least 4.3\de\+384 .* scale 1.9\de\+400\); got 1e\+170\."):
        wasserstein(x * 1e200, y * 1e200, p=2, method="sinkhorn", eps=1e170)


def test_auction_points_of_extreme_magnitude():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 2)), rng.normal(size=(5, 2))
    ref = wasserstein(x, y, method="auction", p=2)
    assert math.isclose(wasserstein(x * 1e-300, y * 1e-300, method="auction", p=2), ref * 1e-300,
                        rel_tol=1e-9)
    assert math.isclose(wasserstein(x * 1e300, y * 1e300, method="auction"),
                        wasserstein(x, y, method="auction") * 1e300, rel_tol=1e-9)


@pytest.mark.parametrize("p", [3000.0, 1e4])
def test_auction_at_large_p_is_not_zero(p):
    """x = (0, 0), (1, 0) against y = (2, 0), (3, 0): every matching moves each point by 2, so
    W_p = 2 for every p. At the unit scale (coordinates divided by 4) every |x - y|^p underflowed
    to 0 beyond p of about 2600, the auction's optimum was 0, and the test "0 >= 0 * 2**-30"
    took it: W_p = 0.0. The exact LP's rounds (as method="exact") give 2."""
    x, y = np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([[2.0, 0.0], [3.0, 0.0]])
    assert wasserstein(x, y, p=p, method="auction") == pytest.approx(2.0, rel=1e-15)
    assert wasserstein(x, y, p=p, method="exact") == pytest.approx(2.0, rel=1e-15)
    assert wasserstein(x, x, p=p, method="auction") == 0.0


# ----------------------------------------------------------------------------- geometry checks
def test_pointcloud_costs_far_from_unit_scale():
    from kantorovich.ot import PointCloud

    assert PointCloud([[1e200, 0.0]], [[0.0, 0.0]], cost="euclidean").cost_matrix()[0, 0] == 1e200
    assert PointCloud([[1e-200, 0.0]], [[0.0, 0.0]], cost="euclidean").cost_matrix()[0, 0] == 1e-200
    c = PointCloud([[3e150, 4e150], [1.0, 2.0]], [[0.0, 0.0]], cost=0.5).cost_matrix()
    assert c[0, 0] == pytest.approx(5e150 ** 0.5, rel=1e-15) and c[1, 0] == 5.0 ** 0.25
    # ordinary scales: the same numbers as the plain formula, bit for bit
    g = np.random.default_rng(0)
    x, y = g.normal(size=(7, 3)), g.normal(size=(5, 3))
    for p in (1.0, 2.0, 1.5):
        ref = (((x[:, None] - y[None]) ** 2).sum(-1)) ** (p / 2)
        np.testing.assert_array_equal(PointCloud(x, y, cost=p).cost_matrix(), ref)


def test_geometry_dtype_must_be_float32_or_float64():
    from kantorovich.ot import DenseGeometry, PointCloud

    for dt in (np.int64, complex, np.float16, object):
        with pytest.raises(ValueError, match="`dtype` must be None, float32 or float64"):
            DenseGeometry([[1.5, 2.5]], dtype=dt)
        with pytest.raises(ValueError, match="`dtype` must be None, float32 or float64"):
            PointCloud([[1.5]], [[0.25]], dtype=dt)
    for f in (lambda: DenseGeometry([[1.0]], dtype="bogus"), lambda: PointCloud([[1.0]], [[0.0]], dtype="bogus")):
        with pytest.raises(TypeError, match="`dtype`"):
            f()
    assert PointCloud([[1.5]], [[0.25]], dtype=np.float32).dtype == np.float32
    assert DenseGeometry([[1.5]], dtype="float64").dtype == np.float64


def test_coordinates_beyond_float32_are_a_value_error_naming_the_array_and_dtype():
    # cast to float32 they were infinities, with numpy overflow warnings and inf costs after
    import warnings

    from kantorovich.ot import DenseGeometry, PointCloud, sinkhorn

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"`x` .*1e\+200.*`dtype`=float32"):
            PointCloud([[1e200, 1.8]], [[1e200, 1.0], [-1.0, 0.0]], dtype=np.float32)
        with pytest.raises(ValueError, match=r"`y` .*`dtype`=float32"):
            PointCloud([[-0.4, -13.6]], [[-1.8e300, 1.1e300]], cost=1.5, dtype=np.float32)
        with pytest.raises(ValueError, match=r"`M` .*`dtype`=float32"):
            DenseGeometry([[1e39, 0.0]], dtype=np.float32)
        far = PointCloud([[1e200, 0.0], [1.0, 2.0]], [[0.0, 1.0], [2.0, 0.0]], cost=1)
        with pytest.raises(ValueError, match=r"`x` .*`dtype`=float32"):
            sinkhorn(None, None, far, eps=1.0, dtype=np.float32)
    # what fits is cast as before (float32 rounding; tiny values flush to 0 as numpy does)
    pc = PointCloud([[3e38, 1e-50]], [[0.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(pc.x, np.array([[3e38, 1e-50]], dtype=np.float32))


# ----------------------------------------------------------------------------- far points, large p
def test_one_far_pair_keeps_the_unit_scale_costs():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(6, 2)), g.normal(size=(6, 2)) + 1
    w6 = wasserstein(x, y, p=2)
    # the far pair is matched to itself at cost 1: W_2^2 = (6 W_2(x, y)^2 + 1) / 7
    X, Y = np.r_[x, [[1e200, 0.0]]], np.r_[y, [[1e200, 1.0]]]
    assert wasserstein(X, Y, p=2) == pytest.approx(math.sqrt((6 * w6 ** 2 + 1) / 7), rel=1e-12)
    assert wasserstein(X, Y, p=2, method="auction") == pytest.approx(math.sqrt((6 * w6 ** 2 + 1) / 7), rel=1e-12)
    # p = 1, coordinates 1e300: the optimum pairs (0,0)-(3,1), (1,0)-(2,0) and the far pair
    got = wasserstein([[0.0, 0.0], [1.0, 0.0], [1e300, 0.0]], [[2.0, 0.0], [3.0, 1.0], [1e300, 1.0]])
    assert got == pytest.approx((math.sqrt(10) + 2) / 3, rel=1e-14)


def test_large_p_exact_path_is_monotone_and_finite():
    g = np.random.default_rng(0)
    x, y = g.normal(size=(6, 2)), g.normal(size=(5, 2)) + 1
    vals = [wasserstein(x, y, p=p) for p in (1, 2, 50, 500)]
    assert all(a <= b * (1 + 1e-12) for a, b in itertools.pairwise(vals))  # W_p grows with p
    # every W_p lies below the largest distance and above W_1
    assert vals[-1] <= cdist(x, y).max()
    # square with all distances 3 or 3 sqrt 2: W_p = 3 for every p
    a, b = [[0.0, 0.0], [3.0, 0.0]], [[0.0, 3.0], [3.0, 3.0]]
    assert wasserstein(a, b, p=1e300) == 3.0
    assert wasserstein(a, b, p=1e300, method="auction") == 3.0
    with pytest.raises(ValueError, match="`p`"):
        wasserstein(a, b, p=1e300, method="auction", exact_max_entries=1)


def test_unit_scale_distance_beside_coordinates_of_1e200_is_not_lost():
    # one point each, both at 1e200 in the first coordinate: at the common power-of-two scale
    # the distance 4.16 cubed underflowed to cost 0 and W_3 was reported as 0
    x, y = np.array([[1e200, -1.5858799404538186]]), np.array([[1e200, 2.5747474823534113]])
    d = math.hypot(0.0, 2.5747474823534113 + 1.5858799404538186)
    for p, method in ((3, "auto"), (3, "exact"), (1.5, "exact")):
        assert wasserstein(x, y, p=p, method=method) == pytest.approx(d, rel=1e-14)
    # p = 1e18: every cost is 0 or inf at one scale; W_p is the largest distance moved
    u = np.array([[-0.8019314252534474]] * 3)
    v = np.array([[0.9867564100437185], [0.9751638377904751], [5.204452380655215], [1.1136046532489643]])
    w = wasserstein(u, v, [1.0, 1.0, 1.0], [1.0, 1.0, 4.0, 1.0], p=10**18, method="exact")
    assert w == pytest.approx(5.204452380655215 + 0.8019314252534474, rel=1e-12)
    assert wasserstein(u, u, p=3) == 0.0


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize(("seed", "n", "d"), [(10, 13, 2), (16, 100, 3), (20, 20, 2)])
@pytest.mark.parametrize("p", [1, 2, 3, 50])
def test_permuted_copy_with_weights_equal_up_to_rounding_is_zero_without_warning(seed, n, d, p):
    # b = a[perm] describes the same measure, but a and b are normalised separately and their
    # sums (in different orders) differ in the last bit: the LP moved ~1e-17 of mass between
    # far pairs, the rescaled rounds saw only clipped costs, and the result was an "upper
    # bound" KantorovichWarning with W_2 = 3.5e-10, W_3 = 2.9e-7 instead of 0
    rng = np.random.default_rng(seed)
    x, perm = rng.random((n, d)), rng.permutation(n)
    a = rng.random(n)
    a /= a.sum()
    assert wasserstein(x, x[perm], a, a[perm], p=p) <= 1e-15
    assert wasserstein(x[perm], x, a[perm], a, p=p, method="exact") <= 1e-15


def test_doctests():
    """The docstring examples (the API pages show them) run and print what they show."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module("kantorovich.ot._wasserstein"))
    assert res.failed == 0 and res.attempted > 0


def test_progress_bar_on_stderr_only_when_asked(monkeypatch, capsys):
    from kantorovich.ot import _emd as emd_mod

    g = np.random.default_rng(44)
    x, y = g.random((150, 2)), g.random((150, 2))
    for kw in ({"method": "auction"}, {"exact_max_entries": 100}):  # rule 3 of "auto"
        quiet = wasserstein(x, y, p=2, **kw)
        assert capsys.readouterr().err == ""
        shown = wasserstein(x, y, p=2, progress=True, **kw)
        err = capsys.readouterr().err
        assert "assignment n=150" in err and "phase" in err, kw
        assert shown == quiet
    # rule 2 (the exact LP) shows the auction's bar when emd picks the auction, none otherwise
    exact = wasserstein(x, y, p=2, progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(emd_mod, "AUTO_AUCTION_MIN_N", 100)
    assert wasserstein(x, y, p=2, progress=True) == pytest.approx(exact, rel=1e-12)
    assert "assignment n=150" in capsys.readouterr().err
    # Sinkhorn's iterations (rule 4), as sinkhorn(progress=True) shows them
    quiet = wasserstein(x, y[:140], p=2, method="sinkhorn", eps=0.05)
    assert capsys.readouterr().err == ""
    shown = wasserstein(x, y[:140], p=2, method="sinkhorn", eps=0.05, progress=True)
    assert "sinkhorn" in capsys.readouterr().err and shown == quiet
    # the 1-D formula: no bar
    wasserstein(x[:, 0], y[:, 0], progress=True)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad", ["yes", None, 1])
def test_progress_must_be_a_bool(bad):
    x = np.zeros((3, 2))
    with pytest.raises(TypeError, match="`progress` must be a bool"):
        wasserstein(x, x + 1.0, progress=bad)
