"""sliced_wasserstein / max_sliced_wasserstein / projected_wasserstein: exact cases, closed
forms (isotropic Gaussians, parallel lines), agreement with wasserstein_1d, bad input, GPU."""

from __future__ import annotations

import doctest
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from kantorovich.families import ParallelLines
from kantorovich.ot import (max_sliced_wasserstein, projected_wasserstein, random_directions,
                            sliced_wasserstein, wasserstein_1d)

BACKENDS = ["numpy", "numba"]


def test_doctests():
    import kantorovich.ot._sliced as s
    import kantorovich.ot._wasserstein_1d as w

    for mod in (s, w):
        res = doctest.testmod(mod)
        assert res.failed == 0 and res.attempted > 0


def test_random_directions_are_uniform_unit_vectors():
    th = random_directions(20_000, 3, rng=0)
    assert th.shape == (20_000, 3)
    assert_allclose(np.linalg.norm(th, axis=1), 1.0, rtol=1e-12)
    # E[theta] = 0 and E[theta theta^T] = I / d on the sphere
    assert np.abs(th.mean(axis=0)).max() < 4 / math.sqrt(20_000)
    assert_allclose(th.T @ th / 20_000, np.eye(3) / 3, atol=0.015)
    assert_allclose(random_directions(5, 2, rng=3), random_directions(5, 2, rng=3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_projected_matches_1d_on_each_direction(backend, rng):
    x = rng.normal(size=(60, 3))
    y = rng.normal(size=(45, 3)) + [1.0, 0.0, -2.0]
    a = rng.random(60)
    th = random_directions(7, 3, rng=1)
    for p in (1.0, 2.0):
        got = projected_wasserstein(x, y, th, p=p, a=a, backend=backend)
        want = [wasserstein_1d(x @ t, y @ t, a, p=p) for t in th]
        assert_allclose(got, want, rtol=1e-10)


@given(st.lists(st.floats(-5, 5), min_size=2, max_size=2), st.sampled_from([1.0, 2.0, 3.0]))
def test_translation_projects_to_shift(v, p):
    # y = x + v: every projection is a translate, so W_p(theta) = |<theta, v>| exactly
    x = np.random.default_rng(0).normal(size=(30, 2))
    th = random_directions(16, 2, rng=2)
    got = projected_wasserstein(x, x + v, th, p=p)
    assert_allclose(got, np.abs(th @ np.asarray(v)), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_dimensional_input_gives_w_p(backend, rng):
    x = rng.normal(size=40)
    y = rng.exponential(size=25)
    for p in (1.0, 2.5):
        assert_allclose(sliced_wasserstein(x, y, n_projections=3, p=p, rng=0, backend=backend),
                        wasserstein_1d(x, y, p=p), rtol=1e-12)
        assert_allclose(max_sliced_wasserstein(x, y, n_projections=3, p=p, rng=0, backend=backend),
                        wasserstein_1d(x, y, p=p), rtol=1e-12)


def test_backends_agree_and_seed_reproducible(rng):
    x = rng.normal(size=(300, 4))
    y = rng.normal(size=(200, 4)) * 1.5
    b = rng.random(200)
    vals = [sliced_wasserstein(x, y, n_projections=50, p=2, rng=5, b=b, backend=be) for be in BACKENDS]
    assert_allclose(vals[0], vals[1], rtol=1e-10)
    # auto -> numba; same seed, same directions (BLAS may differ in the last ulp by alignment)
    assert_allclose(sliced_wasserstein(x, y, n_projections=50, p=2, rng=5, b=b), vals[1], rtol=1e-13)
    th = random_directions(50, 4, rng=5)
    per = projected_wasserstein(x, y, th, p=2, b=b)
    assert_allclose(vals[0], math.sqrt(np.mean(per ** 2)), rtol=1e-12)


def test_cpu_chunking_does_not_change_the_value(rng, monkeypatch):
    import kantorovich.ot._sliced as S

    x = rng.normal(size=(100, 2))
    y = rng.normal(size=(80, 2)) + 1
    ref = sliced_wasserstein(x, y, n_projections=37, rng=0, backend="numba")
    monkeypatch.setattr(S, "_CPU_CHUNK_VALUES", 500)  # chunks of 2 projections
    assert_allclose(sliced_wasserstein(x, y, n_projections=37, rng=0, backend="numba"), ref, rtol=1e-13)


def _iso_gaussians(n, seed=11):
    rng = np.random.default_rng(seed)
    dm = np.array([3.0, -1.0])
    s0, s1 = 1.0, 2.0
    x = rng.normal(size=(n, 2)) * s0
    y = rng.normal(size=(n, 2)) * s1 + dm
    # N(m0, s0^2 I) vs N(m1, s1^2 I) in d = 2: each projection is N(<t, m0>, s0^2) vs
    # N(<t, m1>, s1^2), W_2^2(t) = <t, dm>^2 + (s0 - s1)^2, and E <t, dm>^2 = |dm|^2 / d
    truth = math.sqrt(dm @ dm / 2 + (s0 - s1) ** 2)
    return x, y, truth


def test_isotropic_gaussians_closed_form_by_quadrature():
    # deterministic quadrature over the circle: no Monte-Carlo error over directions
    x, y, truth = _iso_gaussians(20_000)
    phi = (np.arange(180) + 0.5) * np.pi / 180  # theta and -theta give the same W
    th = np.stack([np.cos(phi), np.sin(phi)], axis=1)
    est = math.sqrt(np.mean(projected_wasserstein(x, y, th, p=2) ** 2))
    # sampling error of the empirical W2 along a direction: O(1/sqrt(n)) ~ 0.01 (budget 0.03)
    assert abs(est - truth) < 0.03, (est, truth)


def test_isotropic_gaussians_sliced_statistical():
    x, y, truth = _iso_gaussians(5000, seed=12)
    L = 400
    est = sliced_wasserstein(x, y, n_projections=L, p=2, rng=0)
    per = projected_wasserstein(x, y, random_directions(L, 2, rng=0), p=2)
    assert_allclose(est, math.sqrt(np.mean(per ** 2)), rtol=1e-12)
    # SE of SW2^2 over directions, propagated to SW2; plus a sampling budget of 0.05
    se = np.std(per ** 2) / math.sqrt(L) / (2 * truth)
    assert abs(est - truth) < 4 * se + 0.05, (est, truth, se)


@pytest.mark.parametrize("theta", [0.0, 0.5, -2.0])
def test_parallel_lines(theta):
    fam = ParallelLines(theta)
    x, y = fam.sample(2000, rng=1)
    # SW_1 = |theta| E|cos phi| = 2 |theta| / pi in 2-D (phi uniform); max-SW_1 = W_1 = |theta|;
    # direction SE: sd(|cos phi|) = 0.31, / sqrt(1000) = 0.01 |theta|; sampling ~ 0.01
    sw = sliced_wasserstein(x, y, n_projections=1000, rng=0)
    assert abs(sw - 2 * abs(theta) / math.pi) < 0.02 + 0.04 * abs(theta), sw
    msw = max_sliced_wasserstein(x, y, n_projections=100, rng=0, refine=10)
    assert abs(msw - abs(theta)) < 0.03 + 0.02 * abs(theta), msw
    assert msw <= fam.w1() + 0.05  # max-SW <= W (up to sampling)


def test_max_sliced_refine_never_lowers(rng):
    x = rng.normal(size=(200, 5))
    y = rng.normal(size=(150, 5)) * [1, 1, 1, 1, 3]
    a = rng.random(200)
    base = max_sliced_wasserstein(x, y, n_projections=5, p=2, rng=0, a=a)
    ref = max_sliced_wasserstein(x, y, n_projections=5, p=2, rng=0, a=a, refine=20)
    assert ref >= base
    # the dominant direction is e5 (sd 3 vs 1): W2 along it ~ 2; refinement finds it
    along = wasserstein_1d(x[:, 4], y[:, 4], a, p=2)
    assert ref >= 0.95 * along
    assert sliced_wasserstein(x, y, n_projections=500, p=2, rng=0, a=a) <= ref + 1e-12


def test_sliced_bounded_by_max_sliced(rng):
    x = rng.normal(size=(100, 3))
    y = rng.normal(size=(100, 3)) + 1
    for p in (1, 2):
        assert sliced_wasserstein(x, y, n_projections=64, p=p, rng=0) <= \
            max_sliced_wasserstein(x, y, n_projections=64, p=p, rng=0) + 1e-12


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(x=[[0.0, np.nan]], y=[[1.0, 1.0]]), ValueError, "`x` must contain only finite"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0, 2.0]]), ValueError, "same dimension"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], n_projections=0), ValueError, "`n_projections`"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], n_projections=2.5), TypeError, "`n_projections`"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], p=0.9), ValueError, "`p`"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], a=[-1.0]), ValueError, "`a` must be non-negative"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], b=[0.0]), ValueError, "`b` must have a positive total"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], b=[1.0, 2.0]), ValueError, "`b` must have length 1"),
    (dict(x=[[0.0, 1.0]], y=[[1.0, 1.0]], rng="seed"), TypeError, "`rng`"),
])
def test_bad_input(kwargs, exc, match):
    kwargs.setdefault("n_projections", 4)
    with pytest.raises(exc, match=match):
        sliced_wasserstein(**kwargs)


def test_bad_directions():
    with pytest.raises(ValueError, match="`directions` must have shape"):
        projected_wasserstein([[0.0, 1.0]], [[1.0, 1.0]], [[1.0, 0.0, 0.0]])
    with pytest.raises(ValueError, match="zero vector"):
        projected_wasserstein([[0.0, 1.0]], [[1.0, 1.0]], [[0.0, 0.0]])
    with pytest.raises(ValueError, match="`refine`"):
        max_sliced_wasserstein([[0.0, 1.0]], [[1.0, 1.0]], n_projections=2, refine=-1)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cupy_sliced_matches_numpy(dtype):
    import cupy

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 3)).astype(dtype)
    y = (rng.normal(size=(1500, 3)) + 0.5).astype(dtype)
    b = rng.random(1500)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for p in (1, 2):
        for bb in (None, b):
            ref = sliced_wasserstein(x.astype(np.float64), y.astype(np.float64), n_projections=100, p=p,
                                     rng=3, b=bb, backend="numpy")
            got = sliced_wasserstein(cupy.asarray(x), cupy.asarray(y), n_projections=100, p=p, rng=3,
                                     b=None if bb is None else cupy.asarray(bb))
            assert isinstance(got, cupy.ndarray) and got.ndim == 0
            assert_allclose(float(got), ref, rtol=tol)
    xs = x[:1500]
    ref = max_sliced_wasserstein(xs.astype(np.float64), y.astype(np.float64), n_projections=50, rng=1,
                                 refine=3, backend="numpy")
    got = max_sliced_wasserstein(cupy.asarray(xs), cupy.asarray(y), n_projections=50, rng=1, refine=3)
    assert_allclose(float(got), ref, rtol=10 * tol)


def test_auto_backend_applies_size_rule(monkeypatch):
    """'auto' picks numba for large inputs and numpy for small ones (regression: it was always numpy)."""
    from kantorovich.ot import _sliced

    seen = []
    real = _sliced._projected_wp

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(_sliced, "_projected_wp", spy)
    rng = np.random.default_rng(0)
    small = rng.normal(size=(10, 2))
    _sliced.sliced_wasserstein(small, small + 1, n_projections=3, rng=0)
    n = _sliced.AUTO_NUMBA_MIN_SIZE // 2 + 1
    big = rng.normal(size=(n, 2))
    _sliced.sliced_wasserstein(big, big + 1, n_projections=1, rng=0)
    assert seen == ["numpy", "numba"]


@pytest.mark.parametrize("weighted", [False, True])
def test_numba_backend_radix_rows_match_numpy(weighted):
    # from 2048 values per projection the numba backend sorts the projected rows with the
    # parallel LSD radix sort (weights carried along); same numbers as numpy's sort
    g = np.random.default_rng(31)
    x, y = g.normal(size=(3000, 3)), g.normal(size=(2500, 3)) + 0.2
    kw = {"a": g.random(3000), "b": g.random(2500)} if weighted else {}
    for p in (1, 2):
        r_nb = sliced_wasserstein(x, y, n_projections=25, p=p, rng=3, backend="numba", **kw)
        r_np = sliced_wasserstein(x, y, n_projections=25, p=p, rng=3, backend="numpy", **kw)
        assert float(r_nb) == pytest.approx(float(r_np), rel=1e-12)


@pytest.mark.parametrize("s", [1e300, 1e-300])
def test_projected_wasserstein_directions_of_extreme_magnitude(s):
    # the norm of (1e300, 1e300, 1e300) overflowed (direction -> 0, W -> 0 silently) and that of
    # (1e-300, ...) underflowed ("zero vector" error) although both are valid directions
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(25, 3)) + 1
    ref = projected_wasserstein(x, y, np.ones((1, 3)))
    assert_allclose(projected_wasserstein(x, y, np.full((1, 3), s)), ref, rtol=1e-12)


@pytest.mark.parametrize("s", [1e300, 1e-300])
def test_max_sliced_refine_is_scale_equivariant(s):
    # the ascent step overflowed at 1e300 (grad = inf: refinement silently stopped)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 3)), rng.normal(size=(25, 3)) + 1
    ref = max_sliced_wasserstein(x, y, n_projections=5, refine=3, rng=0, p=2)
    got = max_sliced_wasserstein(x * s, y * s, n_projections=5, refine=3, rng=0, p=2)
    assert_allclose(got, ref * s, rtol=1e-9)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_sliced_weights_with_overflowing_total_are_an_error(backend):
    # numpy returned NaN; the numba kernel looped forever on the infinite total
    if backend == "numba":
        pytest.importorskip("numba")
    x = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="`a` must have a finite total mass"):
        sliced_wasserstein(x, x + 1, n_projections=5, a=np.full(20, 1e308), backend=backend)


def test_far_zero_weight_point_does_not_zero_the_sliced_distance():
    x = [[0.0, 0.0], [1.0, 0.0], [1e300, 0.0]]
    y = [[2.0, 0.0], [3.0, 1.0]]
    got = sliced_wasserstein(x, y, a=[1.0, 1.0, 0.0], p=2, n_projections=8, rng=0)
    ref = sliced_wasserstein(x[:2], y, p=2, n_projections=8, rng=0)
    assert_allclose(got, ref, rtol=1e-14)
    assert got > 1.0
    # huge coordinates of either sign: no OverflowError
    assert np.isfinite(sliced_wasserstein([[1.7976931348623157e308, 0.0]], [[1.0, 2.0]], n_projections=2,
                                          p=1.5, rng=0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sliced_w1_at_huge_scale_is_the_scaled_value(backend):
    """SW_1 is 1-homogeneous: at data scale 1e307 it is 1e307 times the unit-scale value. The
    mean of the L = 50 per-direction W_1 (each about 3e307) overflowed to inf while SW_1 is
    3.2e307 (p = 2 was right: its power mean is rescaled); single call and batch alike."""
    if backend == "numba":
        pytest.importorskip("numba")
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2)) + 3
    s = 1e307
    # the directions of both calls are the same; the centring and the projections of the
    # scaled data round differently from the unit ones, by a few ulps of each W_1
    ref = float(sliced_wasserstein(x, y, n_projections=50, rng=0, backend=backend)) * s
    got = sliced_wasserstein(x * s, y * s, n_projections=50, rng=0, backend=backend)
    assert_allclose(got, ref, rtol=1e-12)
    batch = sliced_wasserstein(np.stack([x, y]) * s, np.stack([y, x]) * s, n_projections=50, rng=0,
                               backend=backend)
    assert_allclose(batch, [ref, ref], rtol=1e-12)


@pytest.mark.parametrize("p", [2.0, 1e4])
def test_max_sliced_refinement_at_large_p(p):
    """Q is P translated by (0.5, 0.01): every projection moves all the mass by <theta, shift>,
    so max-SW_p = |shift| for every p, reached by refining from any drawn direction. At
    p = 1e4 the ascent step's |<theta, x_i - y_j>|^(p - 1) underflowed to 0 (the differences
    were scaled by their largest coordinate, not by their largest projection), the step was
    taken for a stationary point and the value stayed that of the drawn direction (0.20 for
    0.50)."""
    z = np.random.default_rng(1).random((50, 1))
    P = np.hstack([np.zeros_like(z), z])
    Q = P + [0.5, 0.01]
    for seed in range(3):
        got = max_sliced_wasserstein(P, Q, n_projections=1, rng=seed, refine=20, p=p)
        assert_allclose(got, math.hypot(0.5, 0.01), rtol=1e-12)


def test_max_sliced_refinement_ignores_a_far_zero_weight_point():
    x = [[0.0, 0.0], [1.0, 0.0], [1e300, 0.0]]
    y = [[2.0, 0.0], [3.0, 1.0]]
    for refine in (0, 20):
        got = max_sliced_wasserstein(x, y, a=[1.0, 1.0, 0.0], p=2, n_projections=8, rng=0, refine=refine)
        ref = max_sliced_wasserstein(x[:2], y, p=2, n_projections=8, rng=0, refine=refine)
        assert got == ref


def test_offset_clouds_are_projected_about_their_centre():
    """W_p of the projections is unchanged by a common translation, but theta . x rounds to
    about u |x| (u = 2^-53 in float64, 2^-24 in float32): clouds at an offset lost the digits of
    their spread (float64 at 1e12: 1.7e-6 relative; float32 projections, the GPU path, at 1e8:
    36%). They are now projected about a common centre c inside the data (the coordinate-wise
    median), where x - c is exact (x and c within a factor 2: Sterbenz) and the rounding is
    u |x - c|."""
    from kantorovich.ot import projected_wasserstein, wasserstein_1d
    from kantorovich.ot._sliced import _centre

    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((400, 3)), 1.1 * rng.standard_normal((300, 3)) + 0.2
    off = 1e12
    xo, yo = x + off, y + off
    # (xo - off, yo - off) is the same data exactly translated (the subtraction is exact)
    ref = sliced_wasserstein(xo - off, yo - off, n_projections=20, rng=1, backend="numpy")
    got = sliced_wasserstein(xo, yo, n_projections=20, rng=1, backend="numpy")
    # centred, each projection is off by at most ~u |x - c| sqrt(3) = 2^-53 * 8 * 1.8 ~ 1.6e-15
    # (|x - c| <= 8, the data's extent, for these Gaussians); W ~ 0.2 is a mean of differences
    # of projections, so |dW| <~ 3.2e-15, 1.6e-14 relative; 1e-13 leaves room and is 1e7
    # below the 1.7e-6 that the uncentred projections (u |x| ~ 1.1e-4 each) gave
    assert abs(got - ref) <= 1e-13 * ref
    # float32 projections (what the GPU path computes) of float32 data at 1e8, centred by
    # _centre: each is off by ~2^-24 * 8 * 1.8 ~ 8.6e-7 from the float64 projection of the
    # same data, so W (~0.2) by ~1.7e-6 absolute, 8.6e-6 relative; 2e-5 allows it (uncentred
    # float32 projections: 36%)
    x32, y32 = (x + 1e8).astype(np.float32), (y + 1e8).astype(np.float32)
    th = rng.standard_normal((20, 3))
    th /= np.linalg.norm(th, axis=1)[:, None]
    ref32 = projected_wasserstein(x32.astype(np.float64), y32.astype(np.float64), th)
    xc, yc = x32.copy(), y32.copy()
    _centre(xc, yc, None, None)
    assert xc.dtype == np.float32
    t32 = th.astype(np.float32)
    got32 = np.array([wasserstein_1d(t32[i] @ xc.T, t32[i] @ yc.T) for i in range(20)])
    assert np.all(np.abs(got32 - ref32) <= 2e-5 * ref32)
