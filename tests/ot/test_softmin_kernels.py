"""Every soft-min backend against the numpy reference on random inputs (the `input_seed`
fixture: fixed per test, fresh with KANTOROVICH_TEST_SEED=fresh)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from kantorovich.ot._kernels import softmin_numpy as ref

from ._softmin_tol import softmin_atol


def _inputs(rng, n, m, d, scale=1.0):
    x = rng.normal(size=(n, d)) * scale
    y = rng.normal(size=(m, d)) * scale
    h = rng.normal(size=m)
    return x, y, h


def test_dense_reference_is_logsumexp(rng):
    C = rng.random((7, 9))
    h = rng.normal(size=9)
    h[2] = -np.inf
    for eps in (1.0, 1e-3):
        out = ref.softmin_dense(C, h, eps)
        np.testing.assert_allclose(out, -eps * logsumexp((h[None, :] - C) / eps, axis=1), rtol=1e-13)


def test_pointcloud_reference_matches_dense(rng):
    x, y, h = _inputs(rng, 12, 10, 3)
    C = ref.pointcloud_cost_block(x, y, 2.0)
    np.testing.assert_allclose(ref.softmin_pointcloud(x, y, h, 0.3, 2.0), ref.softmin_dense(C, h, 0.3))


def test_numba_exp_accuracy():
    from kantorovich.ot._kernels.softmin_numba import exp_nonpos

    t = -np.concatenate([np.linspace(0, 64, 20001), [64.0001, 100.0, 1e300]])
    e = exp_nonpos(t)
    want = np.where(t > -64, np.exp(t), 0.0)  # terms below e^-64 of the maximum are dropped
    assert np.max(np.abs(e - want) / np.maximum(want, 1e-300)) < 5e-14


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_numba_matches_reference(p, d, input_seed):
    from kantorovich.ot._kernels import softmin_numba

    seed = input_seed  # fixed per test; KANTOROVICH_TEST_SEED=fresh draws new inputs
    rng = np.random.default_rng(seed)
    n, m = rng.integers(1, 80), rng.integers(1, 80)
    x, y, h = _inputs(rng, n, m, d)
    h[rng.integers(0, m)] = -np.inf if m > 1 else h[0]
    C = ref.pointcloud_cost_block(x, y, p)
    for eps in (1.0, 1e-2, 1e-4):
        o, mc = softmin_numba.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
        r, rm = ref.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
        msg = f"seed={seed}, n={n}, m={m}, eps={eps}"
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)
        np.testing.assert_allclose(mc, rm, rtol=1e-10, atol=1e-12, err_msg=msg)


@pytest.mark.parametrize("p", [2.0, 1.5])
def test_numba_row_loops_mean_cost_at_large_eps(p):
    """The row loops' row-softmax mean of C (a solve's last pass wherever the kernel matrix is
    not taken, e.g. above 2^16 pairs) with eps large against the costs. It recovered C_ij as
    (h_j/eps - v_ij) eps from the exponent v_ij = h_j/eps - C_ij/eps, which cancels to about
    |h_j/eps| ulp(1) eps: 1e-3 of C at eps = 1e12, nothing left at 1e300 (a mean of 0). With
    the costs kept, the mean is a weighted average of the exact C_ij whose weights
    exp(v_ij - max_j v_ij) carry a relative error of |v| ulp(1) plus the exp's 2e-16 (|v| < 3
    here): a few 1e-16 apart from the reference, so rtol 1e-13."""
    from kantorovich.ot._kernels import softmin_numba as K

    rng = np.random.default_rng(3)
    x, y = rng.random((9, 2)), rng.random((7, 2))
    b = rng.uniform(0.5, 1.5, 7)
    b /= b.sum()
    C = ref.pointcloud_cost_block(x, y, p)
    for eps in (1e3, 1e12, 1e300):
        h = eps * np.log(b)  # h = g + eps log b at g = 0, as in the first iterations
        r, rm = ref.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
        for op in (K.OnlineSoftmin(x, y, p, kmat=False), K.OnlineSoftmin(x, y, p)):
            o, mc = op(eps, h, with_mean_cost=True)  # a fresh operator: the row loops
            assert op.n_kmat_calls == 0
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h),
                                       err_msg=str(eps))
            np.testing.assert_allclose(mc, rm, rtol=1e-13, err_msg=str(eps))


def test_numba_float32_inputs(rng):
    from kantorovich.ot._kernels import softmin_numba

    x, y, h = _inputs(rng, 30, 20, 2)
    o = softmin_numba.softmin_pointcloud(x.astype(np.float32), y.astype(np.float32), h, 1e-3, 2.0)
    r = ref.softmin_pointcloud(x.astype(np.float32).astype(float), y.astype(np.float32).astype(float), h, 1e-3, 2.0)
    assert np.all(np.isfinite(o))
    np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-14)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-11), (np.float32, 2e-5)])
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])  # the safe kernel has one loop per ground cost
def test_cupy_online_matches_reference(dtype, tol, p, input_seed):
    import cupy as cp

    from kantorovich.ot._kernels import softmin_cupy

    rng = np.random.default_rng(input_seed)
    for n, m in [(1, 1), (37, 1000), (3000, 257)]:
        x, y, h = _inputs(rng, n, m, 2, scale=0.3)
        for eps in (1.0, 1e-2):
            r, rm = ref.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
            op = softmin_cupy.OnlineSoftmin(cp.asarray(x, dtype=dtype), cp.asarray(y, dtype=dtype), p)
            o1 = op(eps, cp.asarray(h, dtype=dtype)).get()  # safe kernel (no shift yet)
            o2 = op(eps, cp.asarray(h, dtype=dtype)).get()  # shift kernel (p = 2)
            o3, m3 = op(eps, cp.asarray(h, dtype=dtype), with_mean_cost=True)
            for o in (o1, o2, o3.get()):
                np.testing.assert_allclose(o, r, atol=tol * max(1.0, np.abs(r).max()))
            np.testing.assert_allclose(m3.get(), rm, rtol=50 * tol, atol=tol)


@pytest.mark.gpu
def test_sinkhorn_cuda_backends_match_numpy():
    import cupy as cp

    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.random((700, 2)), rng.random((500, 2))
    r0 = sinkhorn(None, None, PointCloud(x, y), eps=0.01, tol=1e-9, backend="numba")
    r1 = sinkhorn(None, None, PointCloud(x, y), eps=0.01, tol=1e-9, backend="cuda")
    r2 = sinkhorn(None, None, PointCloud(cp.asarray(x), cp.asarray(y)), eps=0.01, tol=1e-9)
    r3 = sinkhorn(None, None, PointCloud(x, y).cost_matrix(), eps=0.01, tol=1e-9, backend="cuda")
    for r in (r1, r2, r3):
        # float(): pytest.approx would hand a 0-d CuPy value to np.asarray, which refuses it
        assert r.converged and float(r.value) == pytest.approx(r0.value, rel=1e-8)
    assert isinstance(r2.f, cp.ndarray) and isinstance(r1.f, np.ndarray)
    r4 = sinkhorn(None, None, PointCloud(cp.asarray(x, dtype=cp.float32), cp.asarray(y, dtype=cp.float32)),
                  eps=1e-3 * 0.17, max_iter=20000)
    assert r4.converged and np.isfinite(r4.value)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sinkhorn_cuda_unconverged_error_is_the_returned_plans(dtype):
    """On CuPy as on the host: an unconverged solve reports the marginal error of the pair it
    returns (after the final half-step), and a float32 solve with a zero weight has a finite
    one (float32 exponents clipped at 80). The plan's error recomputed on the host in float64
    from the returned potentials; float32 potentials carry ~2^-24 * diameter^2 / eps relative
    rounding in each exponent (~1e-3 here), so 5e-2 relative in float32."""
    import warnings

    import cupy as cp

    from kantorovich.exceptions import ConvergenceWarning
    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(300, 2)), rng.normal(size=(200, 2)) + 1.0
    b = np.full(200, 1 / 199)
    b[0] = 0.0
    eps = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = sinkhorn(None, cp.asarray(b, dtype=dtype), PointCloud(cp.asarray(x, dtype=dtype),
                     cp.asarray(y, dtype=dtype)), eps=eps, max_iter=5, symmetric=True)
    assert not r.converged and np.isfinite(float(r.marginal_error))
    f, g = (v.get().astype(np.float64) for v in (r.f, r.g))
    xs, ys = (v.astype(dtype).astype(np.float64) for v in (x, y))
    a, bw = np.full(300, 1 / 300), b.astype(dtype).astype(np.float64)
    C = ((xs[:, None] - ys[None]) ** 2).sum(-1)
    P = a[:, None] * bw[None] * np.exp((f[:, None] + g[None] - C) / eps)
    true = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - bw).sum()
    assert float(r.marginal_error) == pytest.approx(true, rel=1e-8 if dtype == np.float64 else 5e-2)


# ---- numba fast path (p = 2): base-2 exp2, known per-row shift, float32 path ----------------

def test_numba_exp2_accuracy():
    from kantorovich.ot._kernels import softmin_numba as K

    t = np.linspace(-999.0, 999.0, 200001)
    e = K.exp2_array(t)
    assert np.max(np.abs(e / np.exp2(t) - 1)) < 5e-16
    t32 = np.linspace(-125.0, 99.0, 100001).astype(np.float32)
    e32 = K.exp2_array(t32)
    assert e32.dtype == np.float32
    assert np.max(np.abs(e32 / np.exp2(t32.astype(np.float64)) - 1)) < 4e-7


def _sq_ref(x, y, h, eps, p=2.0):
    return ref.softmin_pointcloud(x, y, h, eps, p)


@pytest.mark.parametrize("p", [2.0, 1.0])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_numba_shift_path_matches_reference(d, p, input_seed):
    """Second call uses the previous output as the shift (no fallback), float64 to 1e-12."""
    from kantorovich.ot._kernels import softmin_numba as K

    seed = input_seed  # fixed per test; KANTOROVICH_TEST_SEED=fresh draws new inputs
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 300)), int(rng.integers(1, 1100))  # several 512-column tiles
    x, y, h = _inputs(rng, n, m, d)
    C = ref.pointcloud_cost_block(x, y, p)
    if m > 1:
        h[rng.integers(0, m)] = -np.inf
    for eps in (1.0, 1e-2, 1e-4):
        r = _sq_ref(x, y, h, eps, p)
        msg = f"seed={seed}, n={n}, m={m}, eps={eps}"
        op = K.OnlineSoftmin(x, y, p, kmat=False)  # the row loops (the matrix path: below)
        o1 = op(eps, h)
        assert op.n_fallback == n  # no shift yet: every row on the safe path
        o2 = op(eps, h)
        assert op.n_fallback == n  # shift path for every row
        for o in (o1, o2):
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_numba_kernel_matrix_path_matches_reference(d, p, input_seed):
    """Small problems hold K = 2^(-c C) per eps (float64, n m <= 2^16, c max C <= 450): built at
    the first call (no shift yet) and at the second call at one eps, used by every later call
    at that eps and by the row-softmax mean; the same answers as the reference to 1e-12, and
    the row loops where c max C is too large (small eps)."""
    from kantorovich.ot._kernels import softmin_numba as K

    seed = input_seed  # fixed per test; KANTOROVICH_TEST_SEED=fresh draws new inputs
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 250)), int(rng.integers(1, 260))
    x, y, h = _inputs(rng, n, m, d, scale=0.5)
    C = ref.pointcloud_cost_block(x, y, p)
    if m > 1:
        h[rng.integers(0, m)] = -np.inf
    op = K.OnlineSoftmin(x, y, p)

    def usable(eps):
        return K._LOG2E / eps * C.max() <= K._KMAT_MAX_EXPONENT * (1 - 1e-9)

    # (eps, whether this call and the mean after it take the matrix): the first call builds
    # it (no shift yet); a single visit (0.1, the first 0.3) does not; the second call at one
    # eps builds it (0.3; 1e-4, where c max C is too large); 1.0 after 1e-4 is a new visit
    steps = [(1.0, usable(1.0)), (0.1, False), (0.3, False), (0.3, usable(0.3)),
             (1e-4, False), (1e-4, False), (1.0, False)]
    for eps, takes in steps:
        msg = f"seed={seed}, n={n}, m={m}, eps={eps}"
        r, rm = ref.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True)
        before = op.n_kmat_calls
        o = op(eps, h)
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)
        o, mc = op(eps, h, with_mean_cost=True)
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)
        # the matrix path's mean to 1e-12; the row loops' mean as in test_numba_matches_reference
        # (at eps = 1e-4 the exponents (h_j - C_ij) / eps ~ 1e4 carry 1e-12 of rounding)
        rtol, atol = (1e-12, 16 * np.finfo(float).eps * C.max()) if takes else (1e-10, 1e-12)
        np.testing.assert_allclose(mc, rm, rtol=rtol, atol=atol, err_msg=msg)
        assert op.n_kmat_calls - before == (2 if takes else 0), msg
    assert op.n_kmat_calls >= 2 or not usable(0.3)  # usable unless a far outlier: c max C ~ 100


def test_numba_kernel_matrix_path_limits():
    """Where the matrix path stops: above 2^16 entries, float32, ``kmat=False``; at the exponent
    bound every term stays a normal float64 (no underflow) and the answers stay exact, with
    zero weights and potentials 700 eps apart."""
    from kantorovich.ot._kernels import softmin_numba as K

    rng = np.random.default_rng(7)
    x, y = rng.random((64, 2)), rng.random((64, 2))
    C = ref.pointcloud_cost_block(x, y, 2.0)
    eps = K._LOG2E * C.max() / 449.0  # c max C just inside the bound
    h = rng.normal(size=64) * 700 * eps
    h[:5] = -np.inf
    r = _sq_ref(x, y, h, eps)
    op = K.OnlineSoftmin(x, y, 2.0)
    for _ in range(3):
        np.testing.assert_allclose(op(eps, h), r, rtol=1e-12, atol=softmin_atol(eps, C, h))
    assert op.n_kmat_calls == 3 and op.n_fallback == 0
    for kw, xy in (({"dtype": np.float32}, (x, y)), ({"kmat": False}, (x, y)),
                   ({}, (rng.random((257, 2)), rng.random((256, 2))))):
        op = K.OnlineSoftmin(*xy, 2.0, **kw)
        op(0.1, np.zeros(xy[1].shape[0]))
        op(0.1, np.zeros(xy[1].shape[0]))
        assert op.n_kmat_calls == 0, kw


def test_numba_shift_fallback_and_large_coordinates(input_seed):
    """A bad shift (potentials far off, as after an eps change) falls back, still exact; clouds
    far from the origin (|x| ~ 1e4) are centred; tiny eps stays finite."""
    from kantorovich.ot._kernels import softmin_numba as K

    rng = np.random.default_rng(input_seed)
    x, y, h = _inputs(rng, 200, 700, 2)
    for shift, eps in ((1e4, 1e-2), (0.0, 1e-6)):
        xs, ys = x + shift, y + shift
        r = _sq_ref(xs, ys, h, eps)  # exact differences of the stored coordinates
        for dt, rtol in ((np.float64, 1e-12), (np.float32, None)):
            op = K.OnlineSoftmin(xs, ys, 2.0, dtype=dt)
            op(eps, h)
            op._prev = op._prev + rng.choice([-1.0, 1.0], size=200) * 2000 * eps  # far off
            o = op(eps, h)
            assert np.all(np.isfinite(o))
            assert op.n_fallback == 400  # every row was redone by the safe path
            if rtol is not None:
                C = ref.pointcloud_cost_block(xs, ys, 2.0)
                np.testing.assert_allclose(o, r, rtol=rtol, atol=softmin_atol(eps, C, h))
            else:
                np.testing.assert_allclose(o, r, rtol=0, atol=2e-6 * max(1.0, np.abs(r).max()))


@pytest.mark.parametrize("p", [2.0, 1.0])
@pytest.mark.parametrize("eps", [1.0, 1e-2, 1e-3])
def test_numba_float32_path(eps, p, input_seed):
    """float32 kernel vs the float64 reference: within 2e-6 x max(1, |out|) (the float32
    rounding of the exponent c h; measured ~5e-7), both on the safe and on the shift path."""
    from kantorovich.ot._kernels import softmin_numba as K

    rng = np.random.default_rng(input_seed)
    for d in (2, 3):
        x, y, h = _inputs(rng, 150, 1300, d, scale=0.5)
        h[5] = -np.inf
        r = _sq_ref(x, y, h, eps, p)
        op = K.OnlineSoftmin(x, y, p, dtype=np.float32)
        for _ in range(2):
            o = op(eps, h)
            assert o.dtype == np.float64 and np.all(np.isfinite(o))
            np.testing.assert_allclose(o, r, rtol=0, atol=2e-6 * max(1.0, np.abs(r).max()))


def test_sinkhorn_numba_float32_matches_float64():
    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(3)
    x, y = rng.random((600, 2)), rng.random((500, 2))
    r64 = sinkhorn(None, None, PointCloud(x, y), eps=0.01, tol=1e-9, backend="numba")
    r32 = sinkhorn(None, None, PointCloud(x, y), eps=0.01, tol=1e-5, backend="numba",
                   dtype=np.float32, max_iter=5000)
    # (numba float64 vs the numpy backend is tested in test_sinkhorn.py)
    assert r64.converged
    assert r32.converged and r32.f.dtype == np.float32
    assert r32.value == pytest.approx(r64.value, rel=1e-4)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_shift_inputs_are_the_numpy_expressions(dtype):
    """The soft-min's inputs in one numba pass: bit for bit the numpy expressions they replace,
    with NaN, +-inf and huge values in h, no previous output, and a previous output that
    overflows the working dtype once scaled (the shift then unusable)."""
    from kantorovich.ot._kernels.softmin_numba import _NEG_BIG, _NEG_BIG32, shift_inputs

    rng = np.random.default_rng(3)
    big = _NEG_BIG32 if dtype == np.float32 else _NEG_BIG
    h = rng.normal(size=40) * 10.0
    h[[1, 5, 9, 13]] = [np.nan, np.inf, -np.inf, -1e305]
    c = 1.4426950408889634 / 0.05
    for prev in (None, rng.normal(size=30), np.full(30, 1e307)):
        hc, o = np.empty(40, dtype=dtype), np.empty(30, dtype=dtype)
        have = shift_inputs(h, c, big, h if prev is None else prev, prev is not None, hc, o)
        want = h * c
        want = np.ascontiguousarray(np.where(np.isfinite(want) & (want > big), want, big), dtype=dtype)
        np.testing.assert_array_equal(hc, want)
        if prev is None:
            assert not have and not o.any()
            continue
        with np.errstate(over="ignore"):
            o_want = (prev * c).astype(dtype)
        np.testing.assert_array_equal(o, o_want)
        assert have == bool(np.all(np.isfinite(o_want)))


_CALL_LOGS: list = []


def _shifted_logs_entry(o, out, fell, lo, hi, inv_c, i0, i1):
    """The rows' logs through their entry point, called by address as the row loops call it
    (float64 or float32 shifts ``o``)."""
    from kantorovich.ot._kernels.softmin_numba import call_logs, rows_entries

    if not _CALL_LOGS:
        import numba

        def call(address, o, out, fell, lo, hi, inv_c, i0, i1):
            return call_logs(address, o, out, fell, lo, hi, inv_c, i0, i1)

        _CALL_LOGS.append(numba.njit(call))
    address = rows_entries()["logs_f32" if o.dtype == np.float32 else "logs"].address
    return _CALL_LOGS[0](address, o, out, fell, float(lo), float(hi), float(inv_c), i0, i1)


def test_shifted_logs_are_log2_within_one_ulp():
    """The rows' logs after their shifted sums (one vectorised loop, no libm call): within
    1 ulp of numpy's log2 over the whole window, exact at powers of 2 and at 1; a sum outside
    the window (0, below, above, inf, NaN) is kept and marked for the safe path."""
    from kantorovich.ot._kernels.softmin_numba import _WIN64

    shifted_logs = _shifted_logs_entry
    rng = np.random.default_rng(11)
    lo, hi = _WIN64
    s = np.concatenate([2.0 ** rng.uniform(-499.5, 998.5, 200_000), rng.uniform(0.5, 2.0, 50_000),
                        1.0 + rng.uniform(-1e-7, 1e-7, 10_000), 2.0 ** np.arange(-499, 999),
                        [np.sqrt(2.0), np.nextafter(np.sqrt(2.0), 0.0), np.nextafter(1.0, 2.0)]])
    out = s.copy()
    fell = np.full(s.size, 7, dtype=np.uint8)
    assert shifted_logs(np.zeros(s.size), out, fell, lo, hi, -1.0, 0, s.size) == 0
    want = np.log2(s)
    assert not fell.any()
    ulp = np.abs(out - want) / np.spacing(np.maximum(np.abs(want), np.finfo(float).tiny))
    assert ulp.max() <= 1.0
    powers = s == 2.0 ** np.round(np.log2(s))
    np.testing.assert_array_equal(out[powers], want[powers])

    bad = np.array([0.0, lo, lo / 2, hi, np.inf, np.nan, -1.0, 3.0])
    out = bad.copy()
    fell = np.zeros(bad.size, dtype=np.uint8)
    o = np.full(bad.size, 5.0, dtype=np.float32)  # a float32 shift (the float32 soft-min's)
    assert shifted_logs(o, out, fell, lo, hi, 0.5, 0, bad.size) == 7
    np.testing.assert_array_equal(fell, [1, 1, 1, 1, 1, 1, 1, 0])
    np.testing.assert_array_equal(out[:5], bad[:5])
    assert np.isnan(out[5]) and out[6] == -1.0
    assert out[7] == (5.0 - np.log2(3.0)) * 0.5


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("d", [2, 3])
def test_row_soft_min_does_not_depend_on_the_split_over_threads(dtype, d):
    """A row's value is the same whichever chunk of rows computes it (one chunk, a chunk per
    row, five): the batched solver and the single solver split the rows otherwise and must
    round alike, also when the row loops are loaded from numba's cache (the rows' logs, a
    vectorised loop, once rounded apart in its vector body and its scalar remainder)."""
    from kantorovich.ot._kernels import softmin_numba as sn

    rng = np.random.default_rng(5)
    n, m = 37, 29
    c = 1.4426950408889634 / 0.02
    x, y = rng.random((n, d)), rng.random((m, d))
    x, y = (x - 0.5) * np.sqrt(c), (y - 0.5) * np.sqrt(c)  # (scaled, as the operator's d = 2 path)
    hc = (rng.normal(size=m) * 0.3 * c).astype(dtype)
    o = (rng.normal(size=n) * 0.3 * c - 3.0).astype(dtype)
    f32 = dtype == np.float32
    k, rows = sn._build(), sn.rows_entries()
    logs = rows["logs_f32" if f32 else "logs"].address
    lo, hi = sn._WIN32 if f32 else sn._WIN64
    neg = dtype(-3e38 if f32 else -1e308)
    outs = []
    for n_chunks in (1, n, 5):
        for have in (False, True):
            out, fell = np.empty(n), np.zeros(n, dtype=np.uint8)
            if d == 2:
                cols = [np.ascontiguousarray(v, dtype=dtype) for v in (x[:, 0], x[:, 1], y[:, 0], y[:, 1])]
                k["softmin_sq2_shift"](rows["sq2_f32" if f32 else "sq2"].address, logs, *cols, hc,
                                       False, o, have, lo, hi, neg, 1.0 / c, out, fell, n_chunks)
            else:
                k["softmin_sq_shift"](rows["sq_f32" if f32 else "sq"].address, logs,
                                      np.ascontiguousarray(x, dtype=dtype),
                                      np.ascontiguousarray(y.T, dtype=dtype), hc, dtype(1.0), False,
                                      o, have, lo, hi, neg, 1.0 / c, out, fell, n_chunks)
            assert (not fell.any()) if have else fell.all()  # the shifted path taken when asked
            outs.append((n_chunks, have, out))
    for n_chunks, have, out in outs[2:]:
        np.testing.assert_array_equal(out, outs[int(have)][2], err_msg=f"{n_chunks} chunks")
