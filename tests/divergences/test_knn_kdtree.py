"""The numba KD-tree kNN backend (bit-identical to cKDTree for d <= 7) and the counter-based
bootstrap kernel (reproducible, independent of the thread count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kantorovich.divergences import estimate_kl
from kantorovich.divergences._knn import knn_positive

kd = pytest.importorskip("kantorovich.divergences._knn_kdtree_numba")


def _ref_pair(x, y, k):
    a, da = knn_positive(x, x, k, same=True)
    b, db = knn_positive(x, y, k)
    return a, b, da, db


@pytest.mark.parametrize("n,m,d,k,leaf", [(700, 500, 1, 3, 16), (1000, 700, 2, 5, 16),
                                           (900, 1300, 3, 8, 32), (1200, 800, 5, 6, 64),
                                           (500, 600, 7, 5, 4), (60, 9, 4, 5, 1)])
def test_kdtree_matches_ckdtree_bitwise(n, m, d, k, leaf):
    g = np.random.default_rng(n + d)
    x, y = g.normal(size=(n, d)), 0.4 + 1.3 * g.normal(size=(m, d))
    rho, nu, dx, dy = kd.knn_pair_kdtree(x, y, k, leafsize=leaf)
    a, b, da, db = _ref_pair(x, y, k)
    np.testing.assert_array_equal(rho, a)
    np.testing.assert_array_equal(nu, b)
    assert (dx, dy) == (da, db) == (0, 0)


def test_kdtree_high_dim_close_to_ckdtree():
    # d >= 8: cKDTree sums squares in 4 interleaved partial sums, ours in order: rounding only
    g = np.random.default_rng(3)
    x, y = g.normal(size=(400, 10)), g.normal(size=(300, 10))
    rho, nu, _, _ = kd.knn_pair_kdtree(x, y, 4)
    a, b, _, _ = _ref_pair(x, y, 4)
    np.testing.assert_allclose(rho, a, rtol=1e-14, atol=0)
    np.testing.assert_allclose(nu, b, rtol=1e-14, atol=0)


def test_kdtree_duplicates_ties_degenerate():
    g = np.random.default_rng(4)
    # integer grid: ties and many duplicates (more than k per point)
    x = g.integers(0, 4, size=(600, 3)).astype(float)
    y = g.integers(0, 4, size=(400, 3)).astype(float)
    rho, nu, dx, dy = kd.knn_pair_kdtree(x, y, 6)
    a, b, da, db = _ref_pair(x, y, 6)
    np.testing.assert_array_equal(rho, a)
    np.testing.assert_array_equal(nu, b)
    assert (dx, dy) == (da, db) and dx > 0
    # a constant coordinate and all-equal blocks (leaves that cannot be split)
    x = np.c_[g.normal(size=500), np.zeros(500)]
    x[:100] = 1.5
    y = np.c_[g.normal(size=300), np.zeros(300)]
    rho, nu, dx, dy = kd.knn_pair_kdtree(x, y, 5)
    a, b, da, db = _ref_pair(x, y, 5)
    np.testing.assert_array_equal(rho, a)
    np.testing.assert_array_equal(nu, b)
    assert (dx, dy) == (da, db) == (100, 0)
    # exponentially spaced points: midpoint splits peel one point per level (depth guard)
    x = np.c_[2.0 ** -np.arange(1000.0), np.zeros(1000)]
    y = np.c_[2.0 ** -np.arange(0.5, 800.0), np.zeros(800)]
    rho, nu, _, _ = kd.knn_pair_kdtree(x, y, 3, leafsize=4)
    a, b, _, _ = _ref_pair(x, y, 3)
    np.testing.assert_array_equal(rho, a)
    np.testing.assert_array_equal(nu, b)


def test_kdtree_too_many_duplicates_raises():
    x = np.zeros((10, 2))
    x[:2, 0] = [1.0, 2.0]
    with pytest.raises(ValueError, match="positive distance"):
        kd.knn_pair_kdtree(x, x + 0.5, 3)


def test_estimate_kl_kdtree_equals_tree_backend():
    g = np.random.default_rng(5)
    x, y = g.normal(size=(1500, 3)), g.normal(0.3, 1.2, size=(1300, 3))
    for method in ("knn", "knn-ensemble", "knn-adaptive"):
        a = estimate_kl(x, y, method=method, n_boot=50, rng=1, backend="numpy")
        b = estimate_kl(x, y, method=method, n_boot=50, rng=1, backend="numba", knn_search="kdtree")
        assert a.value == b.value and a.ci == b.ci, method


# ------------------------------------------------------------------ leaf-batched queries
def _both_paths_equal_ckdtree(x, y, k, **kw):
    a, b, da, db = _ref_pair(x, y, k)
    for res in (kd.knn_pair_batched(x, y, k, **kw), kd.knn_pair_kdtree(x, y, k)):
        np.testing.assert_array_equal(res[0], a)
        np.testing.assert_array_equal(res[1], b)
        assert res[2:] == (da, db)
    return da, db


@pytest.mark.parametrize("k", [1, 5, 10])
@pytest.mark.parametrize("d,n,m", [(1, 900, 400), (2, 700, 1500), (3, 1300, 600), (5, 2000, 900),
                                   (6, 800, 1100)])
def test_batched_matches_ckdtree_bitwise(d, n, m, k):
    g = np.random.default_rng(10 * d + k)
    x, y = g.normal(size=(n, d)), 0.3 + 1.4 * g.normal(size=(m, d))
    _both_paths_equal_ckdtree(x, y, k)
    for rleaf, bsize in ((1, 1), (8, 64), (16, 4), (128, 256)):  # block larger/smaller than scans
        _both_paths_equal_ckdtree(x, y, k, rleaf=rleaf, bsize=bsize)


def test_many_problems_are_their_single_calls():
    """knn_pairs_many: each problem's distances and duplicate counts those of knn_pair_kdtree,
    ``ok`` False where the single call raises (too few positive distances)."""
    g = np.random.default_rng(13)
    X, Y = g.normal(size=(7, 40, 3)), g.normal(size=(7, 45, 3))
    X[2, :5] = X[2, 5]
    X[4, :36] = X[4, 0]  # 4 other points: fewer than k = 6 at a positive distance
    rho, nu, dx, dy, ok = kd.knn_pairs_many(X, Y, 6)
    for q in range(7):
        if q == 4:
            assert not ok[q]
            with pytest.raises(ValueError, match="positive distance"):
                kd.knn_pair_kdtree(X[q], Y[q], 6)
            continue
        r = kd.knn_pair_kdtree(X[q], Y[q], 6)
        assert ok[q] and (dx[q], dy[q]) == r[2:]
        np.testing.assert_array_equal(rho[q], r[0])
        np.testing.assert_array_equal(nu[q], r[1])
    assert dx[2] == 6


@pytest.mark.parametrize("k", [1, 10])
def test_batched_duplicates_ties_degenerate(k):
    g = np.random.default_rng(11 + k)
    # integer grid in 2-D and 4-D: exact ties everywhere, more duplicates than k at some points
    for d, hi in ((2, 9), (4, 3)):
        x = g.integers(0, hi, size=(900, d)).astype(float)
        y = g.integers(0, hi, size=(500, d)).astype(float)
        da, db = _both_paths_equal_ckdtree(x, y, k, rleaf=16, bsize=16)
        assert da > 0 and db > 0
        _both_paths_equal_ckdtree(x, y, k)
    # a constant coordinate, an all-equal block (one unsplittable leaf of 150 points > rleaf)
    x = np.c_[g.normal(size=(600, 2)), np.zeros(600)]
    x[:150] = 0.25
    y = np.c_[g.normal(size=(300, 2)), np.full(300, 1e-3)]
    da, db = _both_paths_equal_ckdtree(x, y, k, rleaf=32, bsize=32)
    assert (da, db) == (150, 0)
    # clouds far apart (y's nearest neighbours all in one far corner), tiny n vs large m
    x = g.normal(size=(40, 3))
    y = 50.0 + g.normal(size=(3000, 3))
    _both_paths_equal_ckdtree(x, y, k)
    _both_paths_equal_ckdtree(y, x, k)
    # exponentially spaced points (deep tree, median splits)
    x = np.c_[2.0 ** -np.arange(700.0), np.zeros(700)]
    y = np.c_[2.0 ** -np.arange(0.5, 500.0), np.zeros(500)]
    _both_paths_equal_ckdtree(x, y, k, rleaf=4, bsize=8)


@pytest.mark.parametrize("k", [1, 5, 10])
def test_batched_insert_ties_at_kth_and_zeros(k):
    # the branch-free k-buffer insert: many candidates equal to the current k-th best (1-D and
    # 2-D integer lattices: distances 1, 1, 2, 2, ... with equal values that must each take a
    # slot), zero distances interleaved with them (duplicates, counted, never inserted), the
    # first scan of each block (k-th best inf: every point a candidate), unequal n, m
    g = np.random.default_rng(20 + k)
    x = np.arange(400.0)[:, None]
    x = np.r_[x, x[::7]]  # every 7th point duplicated once
    y = np.r_[np.arange(0.0, 400.0, 2.0), np.arange(0.0, 400.0, 2.0)][:, None]  # all doubled
    for rleaf, bsize in ((None, None), (128, 256), (2, 2)):
        _both_paths_equal_ckdtree(x, y, k, rleaf=rleaf, bsize=bsize)
    xy = g.permutation(np.stack(np.meshgrid(np.arange(30.0), np.arange(20.0)), -1).reshape(-1, 2))
    _both_paths_equal_ckdtree(np.r_[xy, xy[:50]], xy[::3], k)


def test_batched_too_many_duplicates_raises():
    x = np.zeros((10, 2))
    x[:2, 0] = [1.0, 2.0]
    with pytest.raises(ValueError, match="positive distance"):
        kd.knn_pair_batched(x, x + 0.5, 3)


# ------------------------------------------------------------------ bootstrap kernel
def test_bootstrap_kernel_reproducible_thread_independent_and_uniform(monkeypatch):
    import numba

    from kantorovich.divergences import _resample
    from kantorovich.divergences._resample import _indices_np, bootstrap_means, draw_key

    g = np.random.default_rng(6)
    t = g.normal(size=1001)
    key = draw_key(np.random.default_rng(7))
    assert key == draw_key(np.random.default_rng(7))
    a = bootstrap_means(t, 300, key)  # serial kernel (small job)
    monkeypatch.setattr(_resample, "PARALLEL_MIN_DRAWS", 0)
    saved = numba.get_num_threads()
    try:
        for threads in (1, saved):
            numba.set_num_threads(threads)
            np.testing.assert_array_equal(a, bootstrap_means(t, 300, key))  # parallel kernel
    finally:
        numba.set_num_threads(saved)
    # the numpy path draws the same indices (sums may differ in the last bits)
    np.testing.assert_allclose(a, bootstrap_means(t, 300, key, use_numba=False), rtol=0, atol=1e-13)
    for j in (0, 3, 1000):  # a one-hot vector counts how often index j was drawn
        e = np.zeros(1001)
        e[j] = 1001.0
        np.testing.assert_allclose(bootstrap_means(e, 40, key),
                                   _indices_np(1001, 0, 40, key).__eq__(j).sum(axis=1), atol=1e-9)
    # resampled means: spread sd(t)/sqrt(n), centred on mean(t)
    assert abs(a.std() / (t.std() / np.sqrt(t.size)) - 1) < 0.15
    assert abs(a.mean() - t.mean()) < 3 * t.std() / np.sqrt(t.size * 300)
    # index stream uniform on {0..n-1}
    idx = _indices_np(7, 0, 20000, key).ravel()
    freq = np.bincount(idx, minlength=7) / idx.size
    assert idx.min() == 0 and idx.max() == 6 and np.abs(freq - 1 / 7).max() < 0.003


_CACHE_PROBE = """
import json
import numpy as np
from kantorovich.divergences import _resample as R
t = np.arange(1000.0)
R.bootstrap_means(t, 5, 123)
out = np.empty(5)
R.boot_par(t, 5, np.uint64(123), out)
print(json.dumps([[sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
                  for f in (R.boot_ser, R.boot_par)]))
"""


def test_bootstrap_kernels_are_module_level_and_hit_the_cache_in_a_new_process(tmp_path):
    # closures built inside a function were compiled again in every process (~0.5 s) and each
    # compile appended one more identical entry to numba's on-disk cache
    import json
    import os
    import subprocess
    import sys

    from kantorovich.divergences import _resample

    for f in (_resample.boot_ser, _resample.boot_par):
        assert f.py_func.__qualname__ == f.__name__  # not "<locals>"
        assert f._cache.__class__.__name__ != "NullCache"
    assert _resample._kernel() == (_resample.boot_ser, _resample.boot_par)
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    src = str(Path(_resample.__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    runs = [json.loads(subprocess.run([sys.executable, "-c", _CACHE_PROBE], env=env, check=True,
                                      capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(2)]
    assert runs[0] == [[0, 1], [0, 1]]  # an empty cache: compiled once each
    assert runs[1] == [[1, 0], [1, 0]]  # the next process loads both from the cache
    n_files = len(list(tmp_path.rglob("*.nbc")))
    subprocess.run([sys.executable, "-c", _CACHE_PROBE], env=env, check=True, capture_output=True)
    assert len(list(tmp_path.rglob("*.nbc"))) == n_files  # no new entry


_KNN_CACHE_PROBE = """
import json
import numpy as np
from kantorovich.divergences import _knn_numba as K
g = np.random.default_rng(0)
x = g.normal(size=(300, 13))
K.knn_positive_numba(x, x + 0.1, 3)
print(json.dumps([[sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())]
                  for f in (K.topk_approx, K.refine)]))
"""


def test_brute_force_knn_kernels_hit_the_cache_in_a_new_process(tmp_path):
    # the same closure problem as the bootstrap kernels: compiled again in every process
    import json
    import os
    import subprocess
    import sys

    from kantorovich.divergences import _knn_numba

    for f in (_knn_numba.topk_approx, _knn_numba.refine, _knn_numba.exact_rows):
        assert f.py_func.__qualname__ == f.__name__
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    src = str(Path(_knn_numba.__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    runs = [json.loads(subprocess.run([sys.executable, "-c", _KNN_CACHE_PROBE], env=env, check=True,
                                      capture_output=True, text=True).stdout.splitlines()[-1])
            for _ in range(2)]
    assert runs[0] == [[0, 1], [0, 1]]
    assert runs[1] == [[1, 0], [1, 0]]


def _child_build_two(q):
    import numpy as np

    from kantorovich.divergences import _knn_kdtree_numba as K

    rng = np.random.default_rng(1)
    tx, ty = K.build_two(rng.random((3000, 3)), rng.random((2000, 3)), 8)  # on two threads
    q.put((tx[1].shape, ty[1].shape))


# Python warns at any fork once JAX (loaded by other tests) has started its threads; the child
# here runs only numba code
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_build_two_same_trees_and_survives_fork():
    """The concurrent pair of builds (n + m from BUILD_THREAD_MIN_POINTS on) and the serial
    pair below it equal two serial builds, and the concurrent one still works in a forked child
    after the parent used it (a thread pool's worker would not exist there)."""
    import multiprocessing as mp
    import sys

    from kantorovich.divergences import _knn_kdtree_numba as K

    rng = np.random.default_rng(0)
    assert K.BUILD_THREAD_MIN_POINTS <= 5000
    for n, m in ((2500, 2500), (500, 400)):
        x, y = rng.standard_normal((n, 4)), rng.standard_normal((m, 4))
        tx, ty = K.build_two(x, y, 8)
        for a, b in zip(tx + ty, K.build(x, 8) + K.build(y, 8)):
            assert np.array_equal(np.asarray(a), np.asarray(b))
    if sys.platform != "linux":
        return
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=_child_build_two, args=(q,))
    p.start()
    p.join(60)
    if p.is_alive():  # hung: clean up, then fail
        p.terminate()
    assert p.exitcode == 0
    assert q.get(timeout=5) == ((3000, 3), (2000, 3))
