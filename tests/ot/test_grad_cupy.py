"""The GPU envelope-gradient pass (kantorovich.ot._kernels.grad_cupy) against the numba pass.

CPU (no GPU): the host logic (scaled centred points, base-2 log-weights, row shifts, grid,
split-K, tiles padded to chunks) runs with numpy and the kernel's numpy model
(:class:`NumpyGradKernels`), and must give the numba gradients (``grad_numba.grad_envelope``)
within the rounding of its float32/float64 arguments: :func:`rounding_bound`, a first-order
bound summed term by term; and the kernel's CUDA C itself, compiled for the host with g++
behind a thread-per-CUDA-thread shim (``_grad_host.py``: float32 arithmetic, exact exp2).
GPU (``-m gpu``): the CuPy kernel through ``pointcloud_grads``, and
the torch-CUDA backward, against the numba gradients (float64: 1e-10 relative; float32: the
same bound plus the kernel's own float32 arithmetic) and ``torch.autograd.gradcheck``.
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich._autodiff import pointcloud_grads
from kantorovich.ot import PointCloud, sinkhorn
from kantorovich.ot._kernels import grad_cupy as G

U32, U64 = 2.0 ** -24, 2.0 ** -53
LN2 = np.log(2.0)


def _shifted(f, w, eps):
    with np.errstate(divide="ignore"):
        return np.maximum(f + eps * np.log(w), -1e300)


def _problem(rng, n, m, d, p, eps=0.3, zero=True, dtype=np.float64, offset=0.0):
    x = (rng.normal(size=(n, d)) + offset).astype(dtype).astype(np.float64)
    y = (rng.normal(size=(m, d)) + 0.5 + offset).astype(dtype).astype(np.float64)
    if n > 3 and m > 3:
        y[3] = x[2]  # a repeated point: |x - y| = 0 (the subgradient 0 for p < 2)
    a, b = rng.uniform(size=n), rng.uniform(size=m)
    if zero and n > 4:
        a[4] = 0.0
        b[0] = 0.0
    a, b = a / a.sum(), b / b.sum()
    r = sinkhorn(a, b, PointCloud(x, y, cost=p), eps=eps, tol=1e-12)
    return x, y, a, b, r


def rounding_bound(x, y, fa, gb, eps, p, u, device=False):
    """Per-entry bound (n, D) on |computed - exact| of the x-side gradient when the kernel's
    arguments (x' = s (x - c), y', u = fa k2, w = gb k2) are rounded to unit roundoff ``u``,
    first order, summed over the terms ``t_ij = 2^v_ij |d'|^(p-2) d'_ij`` (times the output
    factor p s / k2):

    - |dd'| <= u (|x'| + |y'|) per coordinate, so d|d'| <= sqrt(D) u (|x'|_inf + |y'|_inf);
    - dv <= u (|u_i| + |w_j|) + p |d'|^(p-1) d|d'| (the exponent v = u_i + w_j - |d'|^p);
    - |dt| <= |t| (ln2 dv + |p - 2| d|d'| / |d'|) + 2^v |d'|^(p-2) |dd'|.

    ``device=True`` adds the kernel's own float32 arithmetic: the sum u_i + w_j and the D FMAs
    of the exponent ((D + 2) u of |u_i| + |w_j| + |d'|^p), the approximate exp2 / log2 / rsqrt
    (relative or absolute error <= 2^-22 = 4 u each, PTX ISA; two of them for p != 1, 2) and
    the float32 sum of a chunk of 32 columns (31 u of its absolute sum)."""
    k2 = 1.4426950408889634 / eps
    s = k2 ** (1.0 / p)
    c = x.mean(axis=0)
    xs, ys = (x - c) * s, (y - c) * s
    D = x.shape[1]
    uu, ww = np.maximum(fa * k2, -1e30), np.maximum(gb * k2, -1e30)
    d = xs[:, None, :] - ys[None, :, :]
    r = np.sqrt((d * d).sum(-1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        v = uu[:, None] + ww[None, :] - r ** p
        base = np.where(r > 0, np.exp2(v) * r ** (p - 2), 0.0)
        dd = u * (np.abs(xs).max(1)[:, None] + np.abs(ys).max(1)[None, :])
        dr = np.sqrt(D) * dd
        lw = np.abs(uu)[:, None] + np.abs(ww)[None, :]
        dv = u * lw + p * r ** (p - 1) * dr
        rel = LN2 * dv + np.where(r > 0, abs(p - 2) * dr / r, 0.0)
        if device:
            dv_dev = (D + 2) * u * (lw + r ** p) + (0 if p in (1.0, 2.0) else 8 * u * r ** p)
            rel = rel + LN2 * dv_dev + (4 if p in (1.0, 2.0) else 8) * u + (D + 1) * u + 31 * u
        err = np.where(r[..., None] > 0, base[..., None] * (np.abs(d) * rel[..., None] + dd[..., None]), 0.0)
    return (p * s / k2) * np.nan_to_num(err).sum(axis=1)


def _model(x, y, fa, gb, eps, p, dtype, n_sm=132):
    kernels = []

    def factory(D, dt, pp):
        kernels.append(G.NumpyGradKernels(D, dt, pp))
        return kernels[-1]

    gx, gy = G.envelope_grads(x.astype(dtype), y.astype(dtype), fa, gb, eps, p, xp=np, kernels=factory,
                              n_sm=n_sm)
    return gx, gy, kernels[0]


def _check(got, ref, bound, scale_u):
    """|got - ref| <= 2 bound + the float64 sums' own rounding (a few u_64 of the row's size)."""
    tol = 2 * bound + 64 * scale_u * np.abs(ref).max()
    bad = np.abs(got - ref) > tol
    assert not bad.any(), (np.abs(got - ref)[bad][:5], tol[bad][:5])


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_model_matches_numba(p, d, dtype):
    """n = 300 rows (two row blocks, the second partial), m = 530 columns (split-K over a
    small GPU of 4 SMs: several splits, partial tiles padded to chunks), zero weights and a
    repeated point."""
    rng = np.random.default_rng(int(10 * p) + d)
    x, y, a, b, r = _problem(rng, 300, 530, d, p, dtype=dtype)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    gx, gy, k = _model(x, y, fa, gb, r.eps, p, dtype, n_sm=4)
    ex, ey = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
    splits = k.launches[0][1][1]
    assert k.launches[0][1][0] == 2 and splits > 1, k.launches
    u = U32 if dtype == np.float32 else U64
    _check(gx, ex, rounding_bound(x, y, fa, gb, r.eps, p, u), U64)
    _check(gy, ey, rounding_bound(y, x, gb, fa, r.eps, p, u), U64)
    if dtype == np.float64:  # the bound is tight enough to mean something: 1e-12 here
        np.testing.assert_allclose(gx, ex, rtol=1e-11, atol=1e-13 * np.abs(ex).max())


def test_model_float32_bound_is_not_vacuous():
    """The derived float32 bound is far below the gradient (the test above would catch a wrong
    term), and a float32 model does differ from the numba pass by more than float64 rounding."""
    rng = np.random.default_rng(1)
    x, y, a, b, r = _problem(rng, 50, 40, 2, 2.0, dtype=np.float32)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    bound = rounding_bound(x, y, fa, gb, r.eps, 2.0, U32)
    gx, _, _ = _model(x, y, fa, gb, r.eps, 2.0, np.float32)
    ex, _ = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0, need_y=False)
    assert bound.max() < 1e-5 * np.abs(ex).max()
    assert np.abs(gx - ex).max() > 1e-12 * np.abs(ex).max()


def test_model_offset_clouds_keep_their_digits():
    """Clouds far from the origin (|x| = 1e4 |x - y|): the centring keeps x' - y' exact
    enough for float32 (without it the float32 differences would lose 1e4 in relative error)."""
    rng = np.random.default_rng(2)
    x, y, a, b, r = _problem(rng, 40, 30, 2, 2.0, dtype=np.float32, offset=1e4)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    gx, _, _ = _model(x, y, fa, gb, r.eps, 2.0, np.float32)
    ex, _ = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0, need_y=False)
    _check(gx, ex, rounding_bound(x, y, fa, gb, r.eps, 2.0, U32), U64)
    assert np.abs(gx - ex).max() < 1e-5 * np.abs(ex).max()


def test_overflowing_rows_are_redone_with_a_shift():
    """Potentials far from a solve's (f + 30, g + 30 at eps = 0.3: exponents up to ~260 in
    base 2, beyond float32's 2^128): the float32 kernel's rows overflow and are redone with
    their largest exponent as a shift, and the gradient equals the numba pass's (float64, where
    nothing overflows at this size); float64 redoes nothing."""
    rng = np.random.default_rng(3)
    x, y, a, b, r = _problem(rng, 20, 25, 2, 2.0)
    f, g = r.f + 30.0, r.g + 30.0
    fa, gb = _shifted(f, a, r.eps), _shifted(g, b, r.eps)
    ex, ey = pointcloud_grads(x, y, a, b, f, g, r.eps, 2.0)
    assert np.isfinite(ex).all() and np.abs(ex).max() > 1e50
    for dtype, u in ((np.float64, U64), (np.float32, U32)):
        gx, gy, k = _model(x, y, fa, gb, r.eps, 2.0, dtype)
        assert (k.redone > 0) == (dtype == np.float32), k.redone
        _check(gx, ex, rounding_bound(x, y, fa, gb, r.eps, 2.0, u), U64)
        _check(gy, ey, rounding_bound(y, x, gb, fa, r.eps, 2.0, u), U64)


@pytest.mark.parametrize("D, dtype", [(1, np.float32), (2, np.float64), (64, np.float32), (500, np.float64)])
def test_tiles_are_whole_chunks_and_fit_shared_memory(D, dtype):
    t, ch = G.tile_columns(D, dtype), G.chunk_columns(D, dtype)
    assert 1 <= ch <= G.CHUNK and t % ch == 0 and t <= G.TPB
    assert t * G.stride(D) * np.dtype(dtype).itemsize <= 48 * 1024
    src = G.kernel_source(D, dtype, 2.0)
    assert f"#define TILE {t}" in src and f"#define CH {ch}" in src and "__" + "D__" not in src


def test_large_d_model_with_one_column_chunks():
    """D = 3000 float64: a tile of 1 column (no whole chunk fits), still the numba result."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(5, 3000)) * 0.02, rng.normal(size=(6, 3000)) * 0.02
    a, b = np.full(5, 0.2), np.full(6, 1 / 6)
    r = sinkhorn(a, b, PointCloud(x, y), eps=0.5, tol=1e-12)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    gx, gy, k = _model(x, y, fa, gb, r.eps, 2.0, np.float64)
    assert k.tile == k.chunk < G.CHUNK
    ex, ey = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0)
    np.testing.assert_allclose(gx, ex, rtol=1e-10, atol=1e-12 * np.abs(ex).max())
    np.testing.assert_allclose(gy, ey, rtol=1e-10, atol=1e-12 * np.abs(ey).max())


# ----------------------------------------------------------------------------- the CUDA C on the host
def _host_kernels():
    from . import _grad_host

    if not _grad_host.available():
        pytest.skip("g++ not found (runs the kernel's CUDA C on the host)")
    return _grad_host.HostKernels


def _host_case(p, d, dtype, seed=None):
    """The CUDA C through the host logic (split-K over 4 SMs) against the numba pass: 1e-13
    relative in float64, the device bound in float32 (its arithmetic is float32 here)."""
    hk = _host_kernels()
    rng = np.random.default_rng(int(10 * p) + d if seed is None else seed)
    x, y, a, b, r = _problem(rng, 300, 530, d, p, dtype=dtype)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    gx, gy = G.envelope_grads(x.astype(dtype), y.astype(dtype), fa, gb, r.eps, p, xp=np, kernels=hk, n_sm=4)
    ex, ey = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
    for g, e, args in ((gx, ex, (x, y, fa, gb)), (gy, ey, (y, x, gb, fa))):
        if dtype == np.float64:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-13 * np.abs(e).max())
        else:
            _check(g, e, rounding_bound(*args, r.eps, p, U32, device=True), U64)


def test_cuda_source_on_the_host_float32():
    """float32, d = 2, p = 2 (the benchmark's kernel) and the overflow fallback on the host."""
    _host_case(2.0, 2, np.float32)
    hk = _host_kernels()
    rng = np.random.default_rng(3)
    x, y, a, b, r = _problem(rng, 20, 25, 2, 2.0)
    f, g = r.f + 30.0, r.g + 30.0  # exponents up to ~260: float32 terms overflow, rows redone
    fa, gb = _shifted(f, a, r.eps), _shifted(g, b, r.eps)
    ex, ey = pointcloud_grads(x, y, a, b, f, g, r.eps, 2.0)
    gx, gy = G.envelope_grads(x.astype(np.float32), y.astype(np.float32), fa, gb, r.eps, 2.0, xp=np, kernels=hk)
    _check(gx, ex, rounding_bound(x, y, fa, gb, r.eps, 2.0, U32, device=True), U64)
    _check(gy, ey, rounding_bound(y, x, gb, fa, r.eps, 2.0, U32, device=True), U64)


@pytest.mark.slow
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cuda_source_on_the_host(p, d, dtype):
    _host_case(p, d, dtype)


# ----------------------------------------------------------------------------- pairs closer than the squares
def _tiny_pair_problem(p, dtype, tiny):
    """40 x 30 points on a grid of multiples of 2^-10 (all sums exact, so the centre c of the
    kernel's scaled points is 0 or of the order of ``tiny``), plus x_0 = (tiny, 0) and
    y_0 = (3 tiny, tiny): each other's nearest point by far, 2.2 ``tiny`` apart."""
    rng = np.random.default_rng(7)
    x = rng.integers(-400, 400, size=(40, 2)) / 1024.0
    y = rng.integers(-900, 900, size=(30, 2)) / 1024.0
    x[0] = 0.0
    x[-1] = -x[:-1].sum(axis=0)  # the grid's sums are 0: the mean of x is 0 or about tiny
    x[0], y[0] = (tiny, 0.0), (3 * tiny, tiny)
    assert np.abs(x.astype(dtype).astype(np.float64).mean(axis=0)).max() <= tiny
    x, y = x.astype(dtype).astype(np.float64), y.astype(dtype).astype(np.float64)
    a, b = np.full(40, 1 / 40), np.full(30, 1 / 30)
    r = sinkhorn(a, b, PointCloud(x, y, cost=p), eps=0.5, tol=1e-12)
    return x, y, a, b, r


@pytest.mark.parametrize("engine", ["model", "cuda-on-host"])
@pytest.mark.parametrize("dtype, tiny", [(np.float64, 1e-170), (np.float32, 1e-23)])
@pytest.mark.parametrize("p", [1.0, 1.5])
def test_pairs_closer_than_the_squares_are_added_on_the_host(p, dtype, tiny, engine):
    """A pair whose scaled difference x' - y' is below the float's squares (|d'|^2 under 2^-1022
    in float64, under float32's 2^-126, which fast-math flushes to 0): the kernel formed its
    term from |d'|^2 and gave 0 (float64: the unit vector of p = 1 lost, the row's gradient
    off by ~1/n) or an inexact one (float32 subnormal squares); the kernel now leaves such
    pairs out and the host adds their terms from the exact difference, as the CPU passes do
    (the numba gradients, which are exact there)."""
    kernels = _host_kernels() if engine == "cuda-on-host" else G.NumpyGradKernels
    x, y, a, b, r = _tiny_pair_problem(p, dtype, tiny)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    gx, gy = G.envelope_grads(x.astype(dtype), y.astype(dtype), fa, gb, r.eps, p, xp=np,
                              kernels=kernels, n_sm=4)
    ex, ey = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
    # the pair's term is a large part of its rows (a unit vector times P_00 ~ 1/40 for p = 1)
    assert np.abs(ex[0]).max() > 1e-3 * np.abs(ex).max() or p != 1.0
    for g, e, args in ((gx, ex, (x, y, fa, gb)), (gy, ey, (y, x, gb, fa))):
        if dtype == np.float64:
            np.testing.assert_allclose(g, e, rtol=1e-11, atol=1e-13 * np.abs(e).max())
        else:
            _check(g, e, rounding_bound(*args, r.eps, p, U32, device=engine != "model"), U64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_pair_the_kernel_leaves_out_has_a_small_coordinate(dtype):
    """The host searches only the points with a coordinate that is not 0 and below
    TINY_D 2^(nmant + 2) (``_small_rows``): two floats closer than TINY_D and not equal have
    one such. Checked on a million pairs of random floats around that bound, of both signs."""
    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    lo = int(np.log2(G.TINY_D[np.dtype(dtype)])) - 8
    hi = lo + info.nmant + 16
    e = rng.integers(lo, hi, size=(2, 1_000_000))
    v = (rng.uniform(1, 2, size=e.shape) * np.exp2(e) * rng.choice([-1, 1], size=e.shape)).astype(dtype)
    v[1, ::3] = np.nextafter(v[0, ::3], dtype(np.inf))  # neighbours
    d = v[0] - v[1]
    left_out = (np.abs(d) < G.TINY_D[np.dtype(dtype)]) & (d != 0)
    assert left_out.sum() > 1000
    small = G._small_rows(np, v.T.reshape(-1, 1), dtype).reshape(-1, 2)
    assert (small[left_out].any(axis=1)).all()


# ----------------------------------------------------------------------------- on a GPU
def _cupy_or_skip():
    cp = pytest.importorskip("cupy")
    try:
        cp.cuda.runtime.getDeviceCount()
    except Exception:
        pytest.skip("no CUDA device")
    return cp


@pytest.mark.gpu
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cupy_kernel_matches_numba(p, d, dtype):
    cp = _cupy_or_skip()
    rng = np.random.default_rng(int(10 * p) + d)
    for n, m in [(300, 530), (1000, 1100)]:  # 2 and 4 row blocks, column splits on any GPU
        x, y, a, b, r = _problem(rng, n, m, d, p, dtype=dtype)
        got = pointcloud_grads(*(cp.asarray(v, dtype=dtype) for v in (x, y)), cp.asarray(a), cp.asarray(b),
                               cp.asarray(r.f), cp.asarray(r.g), r.eps, p)
        ref = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
        fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
        for side, (g, e) in enumerate(zip(got, ref)):
            assert isinstance(g, cp.ndarray) and g.dtype == np.float64
            g = g.get()
            if dtype == np.float64:
                np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10 * np.abs(e).max())
            else:
                args = (x, y, fa, gb) if side == 0 else (y, x, gb, fa)
                _check(g, e, rounding_bound(*args, r.eps, p, U32, device=True), U64)


@pytest.mark.gpu
@pytest.mark.parametrize("dtype, tiny", [(np.float64, 1e-170), (np.float32, 1e-23)])
@pytest.mark.parametrize("p", [1.0, 1.5])
def test_cupy_pairs_closer_than_the_squares(p, dtype, tiny):
    """The device kernel leaves the pair below the squares to the host (fast-math flushes
    float32's subnormal squares to 0 there): the numba gradients, as on the host above."""
    cp = _cupy_or_skip()
    x, y, a, b, r = _tiny_pair_problem(p, dtype, tiny)
    got = pointcloud_grads(*(cp.asarray(v, dtype=dtype) for v in (x, y)), cp.asarray(a), cp.asarray(b),
                           cp.asarray(r.f), cp.asarray(r.g), r.eps, p)
    ref = pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, p)
    fa, gb = _shifted(r.f, a, r.eps), _shifted(r.g, b, r.eps)
    for side, (g, e) in enumerate(zip(got, ref)):
        g = g.get()
        if dtype == np.float64:
            np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-10 * np.abs(e).max())
        else:
            args = (x, y, fa, gb) if side == 0 else (y, x, gb, fa)
            _check(g, e, rounding_bound(*args, r.eps, p, U32, device=True), U64)


@pytest.mark.gpu
@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_cuda_backward_matches_numba(p, d, dtype):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    rng = np.random.default_rng(5 + d)
    x, y, a, b, _ = _problem(rng, 200, 150, d, p, zero=False, dtype=getattr(np, dtype))
    tdt = getattr(torch, dtype)
    xt = torch.tensor(x, dtype=tdt, device="cuda", requires_grad=True)
    yt = torch.tensor(y, dtype=tdt, device="cuda", requires_grad=True)
    at, bt = torch.tensor(a, dtype=tdt, device="cuda"), torch.tensor(b, dtype=tdt, device="cuda")
    r = sinkhorn(at, bt, PointCloud(xt, yt, cost=p), eps=0.3, tol=1e-5 if dtype == "float32" else 1e-12)
    r.objective.backward()
    f, g = (np.asarray(v.detach().cpu().numpy(), dtype=np.float64) for v in (r.f, r.g))
    a, b = (w.astype(dtype).astype(np.float64) for w in (a, b))  # the weights the solve saw
    a, b = a, b * (a.sum() / b.sum())  # b rescaled to a's mass, as the solver and backward do
    ex, ey = pointcloud_grads(x, y, a, b, f, g, 0.3, p)
    fa, gb = _shifted(f, a, 0.3), _shifted(g, b, 0.3)
    for t, e, args in ((xt, ex, (x, y, fa, gb)), (yt, ey, (y, x, gb, fa))):
        assert t.grad.device.type == "cuda" and t.grad.dtype == tdt
        got = t.grad.cpu().numpy().astype(np.float64)
        if dtype == "float64":
            np.testing.assert_allclose(got, e, rtol=1e-10, atol=1e-10 * np.abs(e).max())
        else:  # plus the rounding of the float64 result to the float32 gradient
            _check(got, e, rounding_bound(*args, 0.3, p, U32, device=True) + U32 * np.abs(e), U64)


@pytest.mark.gpu
@pytest.mark.parametrize("p", [2.0, 1.5])
def test_torch_cuda_gradcheck(p):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA device")
    rng = np.random.default_rng(6)
    kw = {"dtype": torch.float64, "device": "cuda", "requires_grad": True}
    x, y = torch.tensor(rng.normal(size=(8, 2)), **kw), torch.tensor(rng.normal(size=(8, 2)) + 0.7, **kw)

    def obj(x, y):
        return sinkhorn(None, None, PointCloud(x, y, cost=p), eps=0.5, tol=1e-12).objective

    assert torch.autograd.gradcheck(obj, (x, y), eps=1e-6, atol=1e-5, rtol=1e-4)
