"""The fused GPU top-K kNN kernel (``_knn_cuda_kernel``): its host logic with numpy and the
kernel's numpy model against ``knn_tiled`` and the KD-tree; the model against a line-by-line
port of the kernel's insertion; on a device (``gpu``), the CUDA kernel against the same.
The sm_90 compile checks are in tests/gpu/test_gpu_static.py."""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.divergences import _knn_cuda_kernel as K
from kantorovich.divergences._knn import knn_positive, knn_tiled
from kantorovich.divergences._knn_cuda import knn_positive_cuda


def _clouds(kind, n, m, d, seed):
    g = np.random.default_rng(seed)
    if kind == "normal":
        return g.normal(size=(n, d)), 0.3 + 1.2 * g.normal(size=(m, d))
    # integer grid: exactly tied distances and duplicate points (at most a few per cell)
    cells = {1: 40, 2: 10, 10: 2}[d]
    return (g.integers(0, cells, size=(n, d)).astype(float),
            g.integers(0, cells, size=(m, d)).astype(float))


CASES = [(kind, n, m, d) for kind in ("normal", "grid") for n, m, d in
         [(50, 70, 1), (120, 90, 2), (200, 150, 10), (64, 9, 2)]]


@pytest.mark.parametrize("kind, n, m, d", CASES)
@pytest.mark.parametrize("splits", [None, 3])
def test_fused_matches_knn_tiled_and_tree(kind, n, m, d, splits):
    x, y = _clouds(kind, n, m, d, n + m + d)
    for q, r, same in ((x, x, True), (x, y, False), (y, x, False)):
        kk = min(13, r.shape[0] - same)
        got = K.knn_fused(q, r, kk, same=same, xp=np, splits=splits)
        # the same float64 re-rank as knn_tiled: bit-identical when the candidates hold the
        # same distances (ties: any of the tied points gives the same value)
        np.testing.assert_array_equal(got, knn_tiled(q, r, kk, same=same, tile_entries=4000))
        tree, _ = knn_positive(q, r, kk, same=same) if kind == "normal" else (None, None)
        if tree is not None:  # the KD-tree works on uncentred coordinates: equal to rounding
            np.testing.assert_allclose(got, tree, rtol=0, atol=1e-12)
        else:  # integer coordinates: every distance exact, zeros (duplicates) included
            from scipy.spatial import cKDTree

            dist, _ = cKDTree(r).query(q, k=kk + same)
            np.testing.assert_array_equal(got, dist.reshape(len(q), -1)[:, same:])


def test_knn_tiled_finds_neighbours_below_the_float32_resolution():
    """500 points among 40 000 normal points in 1-D: the nearest squared distances (~1e-8) lie
    below a float32 expansion's error (~6e-8 |q|^2), which made the tiled candidates miss true
    neighbours (distances off by 2.3e-4); the float64 expansion finds the KD-tree's."""
    x, y = _clouds("normal", 500, 40_000, 1, 11)
    for q, r, same in ((x, x, True), (x, y, False)):
        want, _ = knn_positive(q, r, 13, same=same)
        np.testing.assert_allclose(knn_tiled(q, r, 13, same=same), want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind, n, m, d", [c for c in CASES if c[2] > 9])
@pytest.mark.parametrize("k", [1, 5])
def test_knn_positive_cuda_host_logic_matches_kdtree(kind, n, m, d, k):
    """The whole GPU path (fused kernel modelled in numpy, float64 re-rank, select_positive)
    against the CPU contract: the k smallest strictly positive distances and the count of
    rows with a duplicate."""
    x, y = _clouds(kind, n, m, d, 7 * n + d)
    for q, r, same in ((x, x, True), (x, y, False)):
        want, dup_want = knn_positive(q, r, k, same=same)
        got, dup_got = knn_positive_cuda(q, r, k, same=same, xp=np)
        if kind == "normal":
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(got, want)
            assert dup_got > 0
        assert dup_got == dup_want
        tiled, dup_tiled = knn_positive_cuda(q, r, k, same=same, xp=np, fused=False)
        np.testing.assert_array_equal(got, tiled)
        assert dup_got == dup_tiled


def test_more_duplicates_than_spare_columns_raise():
    g = np.random.default_rng(3)
    x = g.normal(size=(60, 2))
    x[:12] = x[0]  # 11 duplicates of one point: more than the 8 spare columns
    with pytest.raises(ValueError, match="more than 8 duplicates"):
        knn_positive_cuda(x, x, 3, same=True, xp=np)
    with pytest.raises(ValueError, match="more than 8 duplicates"):
        knn_positive_cuda(x[:1], x, 3, xp=np)


def _port_of_kernel(q32, rk, n, cps, ns, same, D, Kc):
    """The CUDA kernel's loops line by line (pairs of references, a min check, one bubble pass
    per insertion), in Python: the model must pick the same candidates in the same order."""
    idx = np.full((n, ns * Kc), -1, dtype=np.int32)
    for i in range(n):
        for s in range(ns):
            bd, bi = [np.float32(np.inf)] * Kc, [-1] * Kc
            for jj in range(s * cps, (s + 1) * cps, 2):
                keys = []
                for j in (jj, jj + 1):
                    key = rk[j, D]
                    for k in range(D):  # the FMA chain (rounding aside: the data are exact)
                        key = np.float32(key + q32[i, k] * rk[j, k])
                    keys.append(key)
                if min(keys) < bd[-1]:
                    for key, j in zip(keys, (jj, jj + 1), strict=True):
                        if key < bd[-1] and not (same and j == i):
                            bd[-1], bi[-1] = key, j
                            for t in range(Kc - 1, 0, -1):
                                if bd[t] < bd[t - 1]:
                                    bd[t], bd[t - 1] = bd[t - 1], bd[t]
                                    bi[t], bi[t - 1] = bi[t - 1], bi[t]
            idx[i, s * Kc:(s + 1) * Kc] = bi
    return idx


@pytest.mark.parametrize("same", [False, True])
def test_numpy_model_picks_what_the_kernel_loop_picks(same):
    # small integers: every key is exact in float32 whatever the summation order, so ties are
    # real ties and the order among them (the smaller index first) is what is compared
    g = np.random.default_rng(5)
    n, m, D, Kc = 24, 300 if not same else 24, 2, 7
    q = g.integers(-3, 4, size=(n, D)).astype(np.float32)
    r = q if same else g.integers(-3, 4, size=(m, D)).astype(np.float32)
    ns, cps = K.split_layout(m, 2)
    rk = np.zeros((ns * cps, K.row_stride(D)), dtype=np.float32)
    rk[:m, :D] = -2 * r
    rk[:m, D] = (r * r).sum(axis=1)
    rk[m:, D] = np.inf
    model = K.NumpyKnnKernel(D, Kc)
    got = np.empty((n, ns * Kc), dtype=np.int32)
    model.topk((1, ns), q, rk, n, cps, int(same), got)
    np.testing.assert_array_equal(got, _port_of_kernel(q, rk, n, cps, ns, same, D, Kc))


def test_split_layout_and_count():
    assert K.split_count(100_000, 100_000) == 1  # 782 row blocks fill 132 SMs
    assert K.split_count(3000, 2500) == 9
    assert K.split_count(10, 100) == 1  # fewer references than a tile
    for m, s in [(1, 1), (9, 3), (2500, 9), (100_000, 1), (257, 2), (70, 3)]:
        ns, cps = K.split_layout(m, s)
        assert cps % K.TILE == 0 and ns * cps >= m > (ns - 1) * cps and 1 <= ns <= s


def test_fused_kernel_limits_and_fallback():
    assert K.fused_supported(10, 15) and K.fused_supported(32, 32)
    assert not K.fused_supported(33, 15) and not K.fused_supported(10, 33)
    with pytest.raises(ValueError, match="D <= 32"):
        K.kernel_source(33, 15)
    g = np.random.default_rng(9)
    x, y = g.normal(size=(80, 33)), g.normal(size=(60, 33))
    got, _ = knn_positive_cuda(x, y, 2, xp=np)  # d = 33: knn_tiled
    want, _ = knn_positive(x, y, 2)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_kernel_source_constants():
    src = K.kernel_source(10, 15)
    assert "#define D 10" in src and "#define K 15" in src and "#define S 12" in src
    assert "__" + "D__" not in src and "double" not in src
    assert K.TILE * K.row_stride(K.MAX_D) * 4 <= 48 * 1024  # static shared memory


# ---------------------------------------------------------------- on a device
@pytest.mark.gpu
@pytest.mark.parametrize("kind, n, m, d", [("normal", 3000, 2500, 10), ("grid", 150, 120, 2),
                                           ("normal", 500, 40_000, 1), ("grid", 700, 600, 10)])
def test_cuda_fused_kernel_matches_model_and_tree(kind, n, m, d):
    import cupy as cp

    x, y = _clouds(kind, n, m, d, 11)
    for q, r, same in ((x, x, True), (x, y, False)):
        dev = K.knn_fused(cp.asarray(q), cp.asarray(r), 13, same=same)
        got = cp.asnumpy(dev)
        np.testing.assert_array_equal(got, cp.asnumpy(knn_tiled(cp.asarray(q), cp.asarray(r), 13,
                                                                 same=same, xp=cp)))
        if kind == "normal":
            want, _ = knn_positive(q, r, 13, same=same)
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)
        else:  # integer grid: every distance exact, zeros (duplicates) included, as on the CPU
            from scipy.spatial import cKDTree

            np.testing.assert_array_equal(got, cKDTree(r).query(q, k=13 + same)[0][:, same:])
        got5, dup = knn_positive_cuda(q, r, 5, same=same)
        want5, dup_want = knn_positive(q, r, 5, same=same)
        np.testing.assert_allclose(got5, want5, rtol=0, atol=1e-12)
        assert dup == dup_want
