"""The fused products of the implicit gradient's conjugate-gradient steps (``grad_numba.products``):
``P v`` and ``P^T u`` from one exponential per pair, used by ``_online_system`` for a point cloud
of more than 2^16 pairs on the CPU.

Oracles: the two single-side passes (``grad_numba.rowsums`` on the clouds as given and swapped,
the path before, which sum the same terms in another order), the numpy products with the dense
plan (``_dense_plan``), and central differences of ``sinkhorn(...).value``. The products agree
with the passes to 1e-13 of the sums of their terms' magnitudes (a few hundred roundings in
float64, each 2^-53 of such a sum at most, well inside). Timing is never tested here."""

from __future__ import annotations

import numpy as np
import pytest

import kantorovich._autodiff as ad
from kantorovich._autodiff import _dense_plan, _shifted, sinkhorn_value_grads
from kantorovich.ot import PointCloud, sinkhorn
from kantorovich.ot._kernels import grad_numba
from kantorovich.ot._wasserstein import _cost_matrix

RNG = np.random.default_rng(23)


def _simplex(w):
    return w / w.sum()


def _problem(n, m, d, p, eps=0.3, zeros=True, tiny=False):
    x, y = RNG.normal(size=(n, d)), RNG.normal(size=(m, d)) + 0.3
    if n > 2 and m > 3:
        y[3] = x[2]  # C_ij = 0
    a, b = RNG.uniform(0.5, 1.5, n), RNG.uniform(0.5, 1.5, m)
    if zeros:
        a[4], b[0] = 0.0, 0.0
    if tiny:
        a[7] = 1e-30
    a, b = _simplex(a), _simplex(b)
    r = sinkhorn(a, b, PointCloud(x, y, cost=p), eps=eps, tol=1e-12)
    assert r.converged
    return x, y, a, b, np.asarray(r.f), np.asarray(r.g), r.eps


def _fused(x, y, fa, gb, eps, p, v, u, chunks):
    pv, parts = np.zeros(x.shape[0]), np.zeros((chunks, y.shape[0]))
    grad_numba.products(x, np.ascontiguousarray(y.T), fa, gb, 1.0 / eps, p, v, u, pv, parts)
    return pv, parts.sum(axis=0)


def _two_passes(x, y, fa, gb, eps, p, v, u):
    """``P v`` and ``P^T u`` as the conjugate-gradient steps computed them before: two passes."""
    out = []
    for (s, t, fs, ft, w) in ((x, y, fa, gb, v), (y, x, gb, fa, u)):
        k = s.shape[0]
        s0, s1, s2 = np.zeros(k), np.zeros(k), np.zeros(k)
        grad_numba.rowsums(s, np.ascontiguousarray(t.T), fs, ft, 1.0 / eps, p, w, s0, s1, s2,
                           min(k, 64))
        out.append(s1)
    return tuple(out)


def _close(got, ref, scale):
    for u_, v_, s_ in zip(got, ref, scale):
        assert np.all(np.abs(u_ - v_) <= 1e-13 * s_), np.max(np.abs(u_ - v_) / np.maximum(s_, 1e-300))


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_products_match_the_two_passes_and_the_dense_plan(p, d):
    """Zero weights (their rows and columns exactly 0), a repeated point; 90 x 67 pairs in 64
    chunks of rows (one or two rows each), vectors of both signs."""
    x, y, a, b, f, g, eps = _problem(90, 67, d, p)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    v, u = RNG.normal(size=67), RNG.normal(size=90)
    got = _fused(x, y, fa, gb, eps, p, v, u, ad._xy_chunks(90, 67))
    P = _dense_plan(_cost_matrix(x, y, p), a, b, f, g, eps)
    scale = (P @ np.abs(v), P.T @ np.abs(u))  # the sums of the terms' magnitudes
    _close(got, _two_passes(x, y, fa, gb, eps, p, v, u), scale)
    _close(got, (P @ v, P.T @ u), scale)
    assert got[0][4] == 0.0 and got[1][0] == 0.0
    assert np.all(np.isfinite(got[0])) and np.all(np.isfinite(got[1]))


@pytest.mark.parametrize("chunks", [1, 2, 3, 7, 40])
def test_products_any_number_of_chunks(chunks):
    """The columns' sums are per chunk of rows, added up after: any count of chunks (up to the
    number of rows) gives the same products to rounding."""
    x, y, a, b, f, g, eps = _problem(40, 33, 3, 1.5)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    v, u = RNG.normal(size=33), RNG.normal(size=40)
    ref = _two_passes(x, y, fa, gb, eps, 1.5, v, u)
    P = _dense_plan(_cost_matrix(x, y, 1.5), a, b, f, g, eps)
    _close(_fused(x, y, fa, gb, eps, 1.5, v, u, chunks), ref, (P @ np.abs(v), P.T @ np.abs(u)))


@pytest.mark.parametrize("n,m", [(1, 1), (1, 6), (6, 1), (2, 300), (300, 2)])
def test_products_tiny_clouds(n, m):
    """Fewer rows than chunks (one row each), a single column, a single pair."""
    x, y, a, b, f, g, eps = _problem(n, m, 2, 2.0, zeros=False)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    v, u = RNG.normal(size=m), RNG.normal(size=n)
    got = _fused(x, y, fa, gb, eps, 2.0, v, u, ad._xy_chunks(n, m))
    P = _dense_plan(_cost_matrix(x, y, 2.0), a, b, f, g, eps)
    _close(got, (P @ v, P.T @ u), (P @ np.abs(v), P.T @ np.abs(u)))


def _spy(monkeypatch):
    """Counts of the passes over the pairs: the fused products and the single-side sums."""
    calls = {"products": 0, "rowsums": 0}

    def counted(name, fn):
        def run(*args):
            calls[name] += 1
            return fn(*args)
        return run

    monkeypatch.setattr(grad_numba, "products", counted("products", getattr(grad_numba, "products", None)),
                        raising=False)
    monkeypatch.setattr(grad_numba, "rowsums", counted("rowsums", grad_numba.rowsums))
    return calls


def test_a_conjugate_gradient_step_is_one_pass(monkeypatch):
    """Above 2^16 pairs each step applies the operator by one fused pass; the single-side
    passes run only for the sums before the solve (two) and the Gauss-Seidel sweeps after it
    (two a sweep). Before, each step ran two single-side passes."""
    x, y, a, b, f, g, eps = _problem(300, 260, 2, 2.0)
    calls = _spy(monkeypatch)
    out, rel, ok = sinkhorn_value_grads(PointCloud(x, y), a, b, f, g, eps, {"x", "a"})
    assert ok and rel < ad.IMPLICIT_TOL
    steps = ad._pcg.last_iter
    assert steps > 10
    assert calls["products"] == steps
    assert calls["rowsums"] % 2 == 0 and 4 <= calls["rowsums"] <= 2 + 2 * 3  # 1 to 3 sweeps


def _old_path(monkeypatch):
    """The implicit solve as before: two single-side passes per step (no budget for the fused
    pass's column sums, the fallback of the chooser)."""
    monkeypatch.setattr(ad, "_XY_PARTS_BYTES", 0)


@pytest.mark.parametrize("p", [2.0, 1.0, 1.5])
def test_implicit_gradient_unchanged_against_the_two_passes(monkeypatch, p):
    """n = m = 300 (9e4 pairs, above the dense limit of 2^16): the multipliers and the point
    gradients of the fused steps against the two-pass steps, a zero and a tiny weight included
    (the sweeps' one-sided limits), to 1e-10 relative: the two solves stop at relative
    residuals below 1e-12 with the same operator up to rounding."""
    x, y, a, b, f, g, eps = _problem(300, 300, 2, p, tiny=True)
    need = {"x", "y", "a", "b"}
    calls = _spy(monkeypatch)
    new, rel, ok = sinkhorn_value_grads(PointCloud(x, y, cost=p), a, b, f, g, eps, need)
    assert ok and calls["products"] == ad._pcg.last_iter
    _old_path(monkeypatch)
    calls["products"] = 0
    old, rel0, ok0 = sinkhorn_value_grads(PointCloud(x, y, cost=p), a, b, f, g, eps, need)
    assert ok0 and calls["products"] == 0
    for k in need:
        np.testing.assert_allclose(new[k], old[k], rtol=1e-10, atol=1e-10 * np.abs(old[k]).max())
        assert np.all(np.isfinite(new[k]))


def test_implicit_gradient_against_central_differences():
    """``sinkhorn(...).value`` at n = m = 300 (9e4 pairs: the conjugate gradients over fused
    passes), its derivative along random directions of x, y and the weights (on the simplex)
    against central differences, h = 1e-5: truncation O(h^2) and the solves' error (tol 1e-13)
    over h, ~1e-8 relative (measured: 1e-11 to 5e-9), so 1e-7."""
    x, y, a, b, f, g, eps = _problem(300, 300, 2, 2.0, eps=0.2, zeros=False)
    grads, rel, ok = sinkhorn_value_grads(PointCloud(x, y), a, b, f, g, eps, {"x", "y", "a", "b"})
    assert ok

    def V(x_, y_, a_, b_):
        return float(sinkhorn(a_, b_, PointCloud(x_, y_), eps=eps, tol=1e-13, max_iter=20000).value)

    h = 1e-5
    dx, dy = RNG.normal(size=x.shape), RNG.normal(size=y.shape)
    da, db = RNG.normal(size=300) * a, RNG.normal(size=300) * b
    da -= a * da.sum()  # tangent to the simplex (a sums to 1)
    db -= b * db.sum()
    for move, g_, dz in (
        (lambda s: V(x + s * dx, y, a, b), grads["x"], dx),
        (lambda s: V(x, y + s * dy, a, b), grads["y"], dy),
        (lambda s: V(x, y, a + s * da, b), grads["a"], da),
        (lambda s: V(x, y, a, b + s * db), grads["b"], db),
    ):
        fd = (move(h) - move(-h)) / (2 * h)
        assert float(np.sum(g_ * dz)) == pytest.approx(fd, rel=1e-7, abs=1e-11)


def test_implicit_gradient_does_not_depend_on_the_thread_count():
    """The columns' sums are per fixed chunk of rows, not per numba thread: the same bits of
    the products, and of the whole gradient, with one thread as with all of them."""
    import numba

    x, y, a, b, f, g, eps = _problem(300, 280, 2, 2.0)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    v, u = RNG.normal(size=280), RNG.normal(size=300)
    geom = PointCloud(x, y)

    def run():
        prods = _fused(x, y, fa, gb, eps, 2.0, v, u, ad._xy_chunks(300, 280))
        grads, _, _ = sinkhorn_value_grads(geom, a, b, f, g, eps, {"x", "a"})
        return (*prods, grads["x"], grads["a"])

    T = numba.get_num_threads()
    ref = run()
    try:
        for k in {1, max(1, T - 1)}:
            numba.set_num_threads(k)
            for got, want in zip(run(), ref):
                assert np.array_equal(got, want)
    finally:
        numba.set_num_threads(T)


def test_products_beyond_their_memory_run_the_two_passes(monkeypatch):
    """Where the chunks' column sums (m numbers per chunk) would pass ``_XY_PARTS_BYTES`` even
    at 16 chunks, each step runs the two single-side passes (O(n + m) memory): their bits."""
    x, y, a, b, f, g, eps = _problem(20, 30, 2, 1.5)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    v, u = RNG.normal(size=30), RNG.normal(size=20)
    xT, yT = np.ascontiguousarray(x.T), np.ascontiguousarray(y.T)
    calls = _spy(monkeypatch)
    monkeypatch.setattr(ad, "_XY_PARTS_BYTES", 16 * 30 * 8 - 1)
    products = ad._online_system(x, y, xT, yT, fa, gb, 1.0 / eps, 1.5)[4]
    got = products(v, u)
    assert calls["products"] == 0
    ref = _two_passes(x, y, fa, gb, eps, 1.5, v, u)
    assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])
    monkeypatch.setattr(ad, "_XY_PARTS_BYTES", 16 * 30 * 8)  # at the limit: the fused pass
    products = ad._online_system(x, y, xT, yT, fa, gb, 1.0 / eps, 1.5)[4]
    products(v, u)
    assert calls["products"] == 1


def test_products_chunks_follow_the_sizes_only():
    """One column sum per chunk and column: 64 chunks up to m = 2^17 columns, 16 up to 2^19,
    then none (the two passes); never the thread count."""
    from kantorovich._autodiff import _XY_PARTS_BYTES, _xy_chunks

    assert _XY_PARTS_BYTES == 1 << 26
    assert _xy_chunks(10_000, 1 << 17) == 64 and _xy_chunks(10_000, (1 << 17) + 1) == 16
    assert _xy_chunks(10_000, 1 << 19) == 16 and _xy_chunks(10_000, (1 << 19) + 1) == 0
    assert _xy_chunks(5, 1 << 17) == 5
