"""numba dense soft-min (rows and columns of a host cost matrix) against the numpy reference,
on random inputs (the `input_seed` fixture), with the tolerances of the point-cloud kernel tests."""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.ot._kernels import softmin_numpy as ref

from ._softmin_tol import softmin_atol


def _inputs(rng, n, m, scale=1.0):
    C = rng.random((n, m)) * 2.0 * scale
    h = rng.normal(size=m)
    hT = rng.normal(size=n)
    if m > 1:
        h[rng.integers(0, m)] = -np.inf  # a zero weight
    if n > 1:
        hT[rng.integers(0, n)] = -np.inf
    return C, h, hT


def _refs(C, h, hT, eps):
    return ref.softmin_dense(C, h, eps), ref.softmin_dense(np.ascontiguousarray(C.T), hT, eps)


@pytest.mark.parametrize("eps", [1e4, 1.0, 1e-2, 1e-4, 1e-7])
def test_rows_and_columns_match_reference_float64(eps, input_seed):
    """Safe path (first call) and shift path (second call) to 1e-12 relative, -inf in h,
    several 512-column tiles and 256-row tiles, huge and tiny eps."""
    from kantorovich.ot._kernels import softmin_numba_dense as K

    seed = input_seed  # fixed per test; KANTOROVICH_TEST_SEED=fresh draws new inputs
    rng = np.random.default_rng(seed)
    for n, m in ((1, 1), (1, int(rng.integers(2, 9))), (int(rng.integers(2, 9)), 1),
                 (int(rng.integers(1, 700)), int(rng.integers(1, 1300)))):
        C, h, hT = _inputs(rng, n, m)
        r, rT = _refs(C, h, hT, eps)
        msg = f"seed={seed}, n={n}, m={m}"
        opr = K.DenseSoftmin(C, axis=1, kmat=False)  # the row loops (the matrix path: below)
        opc = K.DenseSoftmin(C, axis=0, kmat=False)
        for call in range(2):
            o, oc = opr(eps, h), opc(eps, hT)
            assert o.dtype == np.float64 and oc.dtype == np.float64
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)
            np.testing.assert_allclose(oc, rT, rtol=1e-12, atol=softmin_atol(eps, C, hT), err_msg=msg)
            if call == 0:  # no shift yet: every row / column on the safe path
                assert opr.n_fallback == n and opc.n_fallback == m
        # the output is the next call's shift: no fallback at a fixed eps
        assert opr.n_fallback == n and opc.n_fallback == m


def test_kernel_matrix_path_matches_reference(input_seed):
    """Small float64 costs >= 0 keep K = 2^(-c C) per eps (built at every new eps where
    c max C <= 450): rows, columns and the row-softmax mean to 1e-12 of the reference; the row
    loops at a smaller eps, above 2^16 entries, with a negative cost and with ``kmat=False``."""
    from kantorovich.ot._kernels import softmin_numba_dense as K

    seed = input_seed  # fixed per test; KANTOROVICH_TEST_SEED=fresh draws new inputs
    rng = np.random.default_rng(seed)
    n, m = int(rng.integers(1, 250)), int(rng.integers(1, 260))
    C, h, hT = _inputs(rng, n, m)
    opr, opc = K.DenseSoftmin(C, axis=1), K.DenseSoftmin(C, axis=0)
    for eps in (1.0, 0.02, 0.02, 1e-3, 1.0):
        msg = f"seed={seed}, n={n}, m={m}, eps={eps}"
        takes = 1.4426950408889634 / eps * C.max() <= 450
        r, rT = _refs(C, h, hT, eps)
        _, rm = ref.softmin_dense(C, h, eps, with_mean_cost=True)
        before = opr.n_kmat_calls, opc.n_kmat_calls
        o, oc = opr(eps, h), opc(eps, hT)
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)
        np.testing.assert_allclose(oc, rT, rtol=1e-12, atol=softmin_atol(eps, C, hT), err_msg=msg)
        o, mc = opr(eps, h, with_mean_cost=True)
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h), err_msg=msg)
        rtol, atol = (1e-12, 16 * np.finfo(float).eps * C.max()) if takes else (1e-10, 1e-12)
        np.testing.assert_allclose(mc, rm, rtol=rtol, atol=atol, err_msg=msg)
        assert (opr.n_kmat_calls - before[0], opc.n_kmat_calls - before[1]) == (
            (2, 1) if takes else (0, 0)), msg
    C2, h2, _ = _inputs(rng, 257, 256)
    Cneg = C.copy()
    Cneg.flat[int(rng.integers(0, C.size))] = -0.01  # one negative cost (C - 0.01 may stay >= 0)
    for Cx, kw in ((Cneg, {}), (C, {"kmat": False}), (C2, {})):
        op = K.DenseSoftmin(Cx, axis=1, **kw)
        op(1.0, h if Cx.shape[1] == m else h2)
        assert op.n_kmat_calls == 0, f"seed={seed}, n={n}, m={m}, kw={kw}, shape={Cx.shape}"


def test_with_mean_cost_matches_reference(input_seed):
    from kantorovich.ot._kernels import softmin_numba_dense as K

    rng = np.random.default_rng(input_seed)
    C, h, _ = _inputs(rng, int(rng.integers(1, 400)), int(rng.integers(1, 900)))
    for eps in (1.0, 1e-2, 1e-4):
        r, rm = ref.softmin_dense(C, h, eps, with_mean_cost=True)
        o, mc = K.softmin_dense(C, h, eps, with_mean_cost=True)
        np.testing.assert_allclose(o, r, rtol=1e-12, atol=softmin_atol(eps, C, h))
        np.testing.assert_allclose(mc, rm, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="axis=1"):
        K.softmin_dense(C, np.zeros(C.shape[0]), 1.0, axis=0, with_mean_cost=True)


@pytest.mark.parametrize("eps", [1.0, 1e-2, 1e-3])
def test_float32_matches_reference(eps, input_seed):
    """float32 kernels (float32 C and exponent, float64 tile sums and logs) vs the float64
    reference: within 2e-6 x max(1, |out|), on the safe and on the shift path."""
    from kantorovich.ot._kernels import softmin_numba_dense as K

    rng = np.random.default_rng(input_seed)
    C, h, hT = _inputs(rng, int(rng.integers(300, 700)), int(rng.integers(600, 1300)), scale=0.5)
    r, rT = _refs(C, h, hT, eps)
    opr = K.DenseSoftmin(C, axis=1, dtype=np.float32)
    opc = K.DenseSoftmin(C, axis=0, dtype=np.float32)
    assert opr.C.dtype == np.float32
    for _ in range(2):
        o, oc = opr(eps, h), opc(eps, hT)
        assert o.dtype == np.float64 and np.all(np.isfinite(o)) and np.all(np.isfinite(oc))
        np.testing.assert_allclose(o, r, rtol=0, atol=2e-6 * max(1.0, np.abs(r).max()))
        np.testing.assert_allclose(oc, rT, rtol=0, atol=2e-6 * max(1.0, np.abs(rT).max()))


def test_bad_shift_falls_back_and_stays_exact(input_seed):
    """A shift far off (as after an eps change) sends rows / columns to the safe path."""
    from kantorovich.ot._kernels import softmin_numba_dense as K

    rng = np.random.default_rng(input_seed)
    n, m = 300, 700
    C, h, hT = _inputs(rng, n, m)
    eps = 1e-2
    r, rT = _refs(C, h, hT, eps)
    for dt, tol in ((np.float64, None), (np.float32, 2e-6)):
        opr, opc = K.DenseSoftmin(C, 1, dt), K.DenseSoftmin(C, 0, dt)
        opr(eps, h)
        opc(eps, hT)
        opr._prev = opr._prev + rng.choice([-1.0, 1.0], size=n) * 2000 * eps
        opc._prev = opc._prev + rng.choice([-1.0, 1.0], size=m) * 2000 * eps
        o, oc = opr(eps, h), opc(eps, hT)
        assert opr.n_fallback == 2 * n and opc.n_fallback == 2 * m
        for a, b in ((o, r), (oc, rT)):
            assert np.all(np.isfinite(a))
            if tol is None:
                np.testing.assert_allclose(a, b, rtol=1e-12, atol=softmin_atol(eps, C, h if a is o else hT))
            else:
                np.testing.assert_allclose(a, b, rtol=0, atol=tol * max(1.0, np.abs(b).max()))


def test_one_thread_matches_parallel(input_seed):
    import numba

    from kantorovich.ot._kernels import softmin_numba_dense as K

    rng = np.random.default_rng(input_seed)
    C, h, hT = _inputs(rng, 513, 301)
    par = (K.softmin_dense(C, h, 1e-2), K.softmin_dense(C, hT, 1e-2, axis=0))
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = (K.softmin_dense(C, h, 1e-2), K.softmin_dense(C, hT, 1e-2, axis=0))
    finally:
        numba.set_num_threads(threads)
    for a, b in zip(par, one):  # rows: one thread per row; columns: fixed chunking
        np.testing.assert_array_equal(a, b)


def test_bad_arguments():
    from kantorovich.ot._kernels import softmin_numba_dense as K

    C = np.zeros((3, 2))
    with pytest.raises(ValueError, match="axis"):
        K.DenseSoftmin(C, axis=2)
    with pytest.raises(ValueError, match="dtype"):
        K.DenseSoftmin(C, dtype=np.int64)
    with pytest.raises(ValueError, match="expected"):
        K.DenseSoftmin(C, axis=0)(1.0, np.zeros(2))


@pytest.mark.parametrize("symmetric", [False, True])
def test_sinkhorn_numba_dense_matches_numpy_and_shares_C(symmetric, input_seed):
    import ot as pot

    from kantorovich.ot import DenseGeometry, sinkhorn
    from kantorovich.ot import _sinkhorn as S

    rng = np.random.default_rng(input_seed)
    n, m = int(rng.integers(20, 120)), int(rng.integers(20, 120))
    x, y = rng.random((n, 2)), rng.random((m, 2))
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    a, b = a / a.sum(), b / b.sum()
    a[0] = 0.0  # a zero weight: -inf in h of the column soft-min
    b *= a.sum()
    M = pot.dist(x, y)
    rn = sinkhorn(a, b, M, eps=0.02, tol=1e-11, backend="numpy", symmetric=symmetric)
    rb = sinkhorn(a, b, M, eps=0.02, tol=1e-11, backend="numba", symmetric=symmetric, plan=True)
    assert rb.backend == "numba" and rb.converged
    assert rb.value == pytest.approx(rn.value, rel=1e-9)
    assert rb.objective == pytest.approx(rn.objective, rel=1e-9)
    np.testing.assert_allclose(np.add.outer(rb.f, rb.g), np.add.outer(rn.f, rn.g), atol=1e-9)
    np.testing.assert_allclose(rb.plan.sum(1), a, atol=1e-10)
    # the two operators share one row-major C (no transposed copy)
    sx, _sy = S._ops_numba(DenseGeometry(M), np.dtype(np.float64))
    opx, opy = sx.ops
    assert opx.C is opy.C and opx.C.flags.c_contiguous


def test_sinkhorn_numba_dense_float32_small_eps():
    import ot as pot

    from kantorovich.ot import sinkhorn

    rng = np.random.default_rng(7)
    x, y = rng.random((300, 2)), rng.random((250, 2))
    M = pot.dist(x, y)
    eps = 1e-3 * float(np.median(M))
    r = sinkhorn(None, None, M.astype(np.float32), eps=eps, dtype=np.float32, backend="numba",
                 max_iter=20_000)
    assert r.backend == "numba" and r.converged and r.f.dtype == np.float32
    assert np.all(np.isfinite(r.f)) and np.all(np.isfinite(r.g)) and np.isfinite(r.value)
    exact = pot.emd2(np.full(300, 1 / 300), np.full(250, 1 / 250), M)
    assert abs(r.value - exact) < 1e-2 * exact
