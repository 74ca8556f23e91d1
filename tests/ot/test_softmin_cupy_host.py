"""The CuPy soft-min's host logic on the CPU: :class:`OnlineSoftmin` run with numpy and
:class:`NumpyKernels` (a numpy model of each CUDA kernel: the same grids, splits, flags, masks).

What the CUDA C itself compiles to is checked in test_gpu_static.py; what it computes on a GPU,
in the gpu-marked tests of test_softmin_kernels.py.
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.ot._kernels import softmin_cupy as K
from kantorovich.ot._kernels import softmin_numpy as R


def _inputs(rng, n, m, d, dt):
    x, y = rng.random((n, d)).astype(dt), rng.random((m, d)).astype(dt)
    h = (rng.normal(size=m) * 0.1).astype(dt)
    if m > 2:
        h[rng.integers(0, m)] = -np.inf
    return x, y, h


def _op(x, y, p, n_sm=132):
    kern = K.NumpyKernels(x.shape[1], x.dtype)
    return K.OnlineSoftmin(x, y, p, xp=np, kernels=kern, n_sm=n_sm), kern


@pytest.mark.parametrize("dt, tol", [(np.float64, 1e-12), (np.float32, 2e-6)])
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
def test_host_logic_matches_reference(dt, tol, p, input_seed):
    rng = np.random.default_rng(input_seed)
    for n, m, d, n_sm in [(1, 1, 1, 132), (37, 1000, 2, 132), (700, 900, 3, 132), (513, 2100, 2, 7)]:
        x, y, h = _inputs(rng, n, m, d, dt)
        op, kern = _op(x, y, p, n_sm)
        for eps in (1.0, 1e-2):
            r, rm = R.softmin_pointcloud(x.astype(float), y.astype(float), h.astype(float), eps, p,
                                         with_mean_cost=True)
            o1 = op(eps, h)  # safe kernel (no shift yet)
            o2 = op(eps, h)  # shift kernel for p = 2
            o3, m3 = op(eps, h, with_mean_cost=True)
            for o in (o1, o2, o3):
                assert o.dtype == dt
                np.testing.assert_allclose(o, r, rtol=0, atol=tol * max(1.0, np.abs(r).max()))
            np.testing.assert_allclose(m3, rm, rtol=50 * tol, atol=tol)
        kinds = [ln[0] for ln in kern.launches]
        assert ("shift" in kinds) == (p == 2.0)


def test_shift_call_is_two_raw_launches_and_counts_no_fallback(input_seed):
    rng = np.random.default_rng(input_seed)
    x, y, h = _inputs(rng, 300, 800, 2, np.float32)
    op, kern = _op(x, y, 2.0)
    op(0.05, h)
    assert op.n_fallback == 300 and kern.launches[-1] == ("safe", ((300 + 255) // 256, 3), False)
    kern.launches.clear()
    op(0.05, h)
    # the shift kernel, then the masked safe kernel (its blocks return at once: no row flagged)
    assert [ln[0] for ln in kern.launches] == ["shift", "safe"] and kern.launches[1][2] is True
    assert op.n_fallback == 300


def test_xs_is_cached_per_eps(input_seed):
    rng = np.random.default_rng(input_seed)
    x, y, h = _inputs(rng, 50, 60, 2, np.float64)
    op, _ = _op(x, y, 2.0)
    op(0.1, h)
    op(0.1, h)
    xs = op._xs
    op(0.1, h)
    assert op._xs is xs
    op(0.05, h)
    assert op._xs is not xs and np.array_equal(op._xs, 2 * (K._LOG2E / 0.05) * op.x)


@pytest.mark.parametrize("dt", [np.float64, np.float32])
def test_rows_with_untrusted_sums_are_redone_exactly(dt, input_seed):
    """A shift too far off (potentials that jumped) leaves the shifted sum S of a row
    outside [2^-60, 2^100]: under 2^-60 float32 may have flushed terms below 2^-126 (FTZ) while
    S itself is still a normal number, so `S == 0` alone misses it. Those rows, and only those,
    are flagged and redone by the safe kernel; the others keep the shift kernel's value."""
    rng = np.random.default_rng(input_seed)
    n, m, eps = 600, 500, 0.01
    x, y, h = _inputs(rng, n, m, 2, dt)
    r = R.softmin_pointcloud(x.astype(float), y.astype(float), h.astype(float), eps, 2.0)
    op, kern = _op(x, y, 2.0)
    op(eps, h)
    op(eps, h)
    base = op.n_fallback
    k2 = K._LOG2E / eps
    # log2 S = -(shift of prev) k2: pick rows in each band
    bits = np.zeros(n)
    bits[:50] = 110.0  # S ~ 2^-110: a normal float32, but below the trusted range
    bits[50:60] = -110.0  # S ~ 2^110: above it
    bits[60:70] = 300.0  # S = 0 in float32 (and tiny in float64)
    bits[300:310] = -300.0  # S = inf in float32
    prev = op.prev.copy()
    op.prev = (prev + bits / k2).astype(dt)
    kern.launches.clear()
    o = op(eps, h)
    flagged = np.flatnonzero(bits != 0)
    assert op.n_fallback - base == flagged.size
    np.testing.assert_allclose(o, r, rtol=0, atol=(1e-12 if dt == np.float64 else 2e-6) * max(1.0, np.abs(r).max()))
    assert [ln[0] for ln in kern.launches] == ["shift", "safe"] and kern.launches[1][2] is True
    # a shift 40 bits off is trusted (S = 2^-40 loses nothing) and not redone
    op.prev = (op.prev + 40.0 / k2).astype(dt)
    before = op.n_fallback
    o = op(eps, h)
    assert op.n_fallback == before
    np.testing.assert_allclose(o, r, rtol=0, atol=(1e-12 if dt == np.float64 else 2e-6) * max(1.0, np.abs(r).max()))


@pytest.mark.parametrize("n", [10 ** 4, 2 * 10 ** 4, 4 * 10 ** 4, 10 ** 5, 10 ** 6])
@pytest.mark.parametrize("n_sm", [132, 114, 78])
def test_split_count_balances_the_sms(n, n_sm):
    """Blocks spread evenly over the SMs (every block does the same work): balance
    B / (n_SM ceil(B / n_SM)) >= 0.95 at the benchmark sizes on 132 SMs (H100 SXM, H200), never
    below the former rule ceil(4 n_SM / row blocks) elsewhere; at least 4 blocks per SM when the
    rows allow, one wave at most, one tile per split."""
    for rpb in (2 * K.TPB, K.TPB):  # shift, safe
        rb = -(-n // rpb)
        ns = K.split_count(rb, n, n_sm)
        B = rb * ns
        bal = B / (n_sm * -(-B // n_sm))
        assert ns == 1 or B <= K.RESIDENT_BLOCKS * n_sm
        assert B >= min(4 * n_sm, rb * (n // K.TPB)) and n // ns >= K.TPB
        old = max(1, min(-(-4 * n_sm // rb), max(1, n // (4 * K.TPB))))
        bal_old = rb * old / (n_sm * -(-rb * old // n_sm))
        assert bal >= bal_old - 1e-12, (n, n_sm, rpb, ns, bal, bal_old)
        if n_sm == 132 and B <= K.RESIDENT_BLOCKS * n_sm:  # not when the rows make several waves
            assert bal >= 0.95, (n, n_sm, rpb, ns, bal)


def test_split_count_at_the_benchmark_sizes():
    # the rule ceil(4 n_SM / row blocks) gave 3, 7, 14 (89 %, 84 %, 85 % balance)
    assert [K.split_count(-(-n // 512), n) for n in (10 ** 5, 4 * 10 ** 4, 2 * 10 ** 4, 10 ** 6)] == [4, 10, 23, 1]


def test_numba_cuda_backend_is_a_deprecated_alias_of_cuda(input_seed):
    """One GPU soft-min: backend='numba_cuda' warns and runs the CuPy backend (here, without
    CuPy, it raises what backend='cuda' raises)."""
    from kantorovich.ot import PointCloud, sinkhorn
    from kantorovich.ot._sinkhorn import _resolve_backend

    rng = np.random.default_rng(input_seed)
    geom = PointCloud(rng.random((5, 2)), rng.random((4, 2)))
    try:
        import cupy  # noqa: F401
        has_cupy = True
    except ImportError:
        has_cupy = False
    if has_cupy:
        with pytest.warns(DeprecationWarning, match="backend='cuda'"):
            name = _resolve_backend("numba_cuda", geom, False)
        assert name == "cuda"
        return
    with pytest.warns(DeprecationWarning, match="backend='cuda'"), pytest.raises(Exception) as e_alias:
        sinkhorn(None, None, geom, eps=0.1, backend="numba_cuda")
    with pytest.raises(Exception) as e_cuda:
        sinkhorn(None, None, geom, eps=0.1, backend="cuda")
    assert type(e_alias.value) is type(e_cuda.value) and str(e_alias.value) == str(e_cuda.value)
