"""pairwise_wasserstein: each entry equals the one-pair call, in-process and on Dask."""

from __future__ import annotations

import importlib
import threading
import time

import numpy as np
import pytest

from kantorovich.ot import emd, pairwise_wasserstein, wasserstein, wasserstein_1d

from ..dask_support import killing_a_busy_worker


def _loop(fn, X, Y=None, wx=None, wy=None):
    """The matrix from one call per pair (upper triangle only when Y is None)."""
    sym = Y is None
    Y, wy = (X, wx) if sym else (Y, wy)
    wx = wx or [None] * len(X)
    wy = wy or [None] * len(Y)
    out = np.zeros((len(X), len(Y)))
    for i in range(len(X)):
        for j in range(i + 1 if sym else 0, len(Y)):
            out[i, j] = fn(X[i], Y[j], wx[i], wy[j])
    if sym:
        out = out + out.T
    return out


def _samples_1d(rng):
    """Ragged 1-D samples on both sides of the size rules: numpy and numba backends, rows
    batched and single (n + m >= 2**16), weights with ties, infinities, far values."""
    sizes = [3, 17, 17, 400, 2500, 2500, 11000, 11000, 70000]
    X = [rng.normal(size=n) for n in sizes]
    X[1][0] = np.inf
    X[2][:2] = [np.inf, -np.inf]
    X[3] *= 1e200
    X[5] = np.round(X[5], 1)  # ties
    W = [None] * len(X)
    W[2] = rng.random(17)
    W[5] = rng.integers(0, 4, size=2500).astype(float)
    W[6] = rng.random(11000)
    return X, W


@pytest.mark.parametrize("p", [1, 1.5, 2])
def test_1d_equals_single_calls(p):
    rng = np.random.default_rng(0)
    X, W = _samples_1d(rng)
    D = pairwise_wasserstein(X, p=p, X_weights=W, block_size=3, progress=False)
    ref = _loop(lambda a, b, wa, wb: wasserstein_1d(a, b, wa, wb, p=p), X, wx=W)
    np.testing.assert_array_equal(D, ref)
    assert D.dtype == np.float64 and D.shape == (9, 9)


def test_1d_rectangular_equals_single_calls():
    rng = np.random.default_rng(1)
    X = [rng.normal(size=n) for n in (5, 300, 300, 12000)]
    Y = [rng.exponential(size=n) for n in (300, 9000, 1)]
    wy = [None, rng.random(9000), [2.0]]
    D = pairwise_wasserstein(X, Y, p=2, Y_weights=wy, block_size=2, progress=False)
    ref = _loop(lambda a, b, wa, wb: wasserstein_1d(a, b, wa, wb, p=2), X, Y, wy=wy)
    np.testing.assert_array_equal(D, ref)


@pytest.mark.parametrize("p", [1, 2, 300])
def test_1d_numba_pairs_read_in_place_equal_single_calls(p):
    """Rows long enough for the numba kernels, many pairs per group: the pairs are read by index
    from one stack per side. p = 300 makes W_p^p underflow at the values' scale, so those pairs
    are redone by the rescaled pass."""
    rng = np.random.default_rng(5)
    sizes = [10000, 10000, 10000, 12000, 12000, 10000, 10000]
    X = [rng.normal(rng.normal(), 1 + i % 3, size=n) for i, n in enumerate(sizes)]
    X[6] = np.round(X[6], 1)  # ties with unequal weights: the radix order is the one used
    W = [None] * 5 + [rng.random(10000), rng.integers(1, 4, 10000).astype(float)]
    D = pairwise_wasserstein(X, p=p, X_weights=W, progress=False)
    ref = _loop(lambda a, b, wa, wb: wasserstein_1d(a, b, wa, wb, p=p), X, wx=W)
    np.testing.assert_array_equal(D, ref)


def test_1d_pairs_kernel_equals_the_batched_kernels():
    """wass1d_numba.pairs on (X[ix], Y[iy]) = equal_uniform / merge_uniform / merge_weighted on
    the gathered rows, bit for bit (one side weighted, both, neither)."""
    pytest.importorskip("numba")
    from kantorovich.ot._kernels import wass1d_numba as K

    rng = np.random.default_rng(6)
    X = np.sort(rng.normal(size=(4, 300)), axis=1)
    Y = np.sort(rng.normal(0.5, 2, size=(3, 300)), axis=1)
    Z = np.sort(rng.normal(size=(2, 451)), axis=1)
    WX, WZ = rng.random((4, 300)), rng.random((2, 451))
    ix, iy, iz = np.array([0, 3, 3, 1, 2]), np.array([2, 0, 1, 1, 0]), np.array([1, 0, 0, 1, 1])
    for p in (1.0, 1.5, 2.0):
        np.testing.assert_array_equal(K.pairs(X, None, Y, None, ix, iy, p),
                                      K.equal_uniform(X[ix], Y[iy], p))
        np.testing.assert_array_equal(K.pairs(X, None, Z, None, ix, iz, p),
                                      K.merge_uniform(X[ix], Z[iz], p))
        ones = np.ones((5, 451))
        np.testing.assert_array_equal(K.pairs(X, WX, Z, None, ix, iz, p),
                                      K.merge_weighted(X[ix], WX[ix], Z[iz], ones, p))
        np.testing.assert_array_equal(K.pairs(X, WX, Z, WZ, ix, iz, p),
                                      K.merge_weighted(X[ix], WX[ix], Z[iz], WZ[iz], p))


def test_symmetric_zero_diagonal_and_block_size_invariance():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(13, 50)) * rng.random((13, 1)) * 5
    base = pairwise_wasserstein(X, p=3, progress=False)
    np.testing.assert_array_equal(base, base.T)
    np.testing.assert_array_equal(np.diag(base), 0.0)
    for bs in (1, 2, 5, 13, 100):
        np.testing.assert_array_equal(pairwise_wasserstein(X, p=3, block_size=bs, progress=False), base)


@pytest.mark.parametrize("Y, names", [(None, "`X`"), (np.zeros((3000, 2)), "`X` and `Y`")])
def test_a_matrix_beyond_memory_is_refused_before_any_work(Y, names, monkeypatch):
    """An (N, K) result larger than the machine's memory is a ValueError naming the argument
    and the bytes, before a distribution is prepared: it was numpy's MemoryError after
    seconds of preparing them (N = 200 000 clouds: 4 s)."""
    import kantorovich._validation as V
    import kantorovich.ot._pairwise as P

    monkeypatch.setattr(V, "_physical_memory", lambda: 8 * 3000 * 2999)
    for name in ("_prep_1d", "_prep_cloud", "_solve_block"):
        monkeypatch.setattr(P, name, None)  # any work would fail otherwise
    with pytest.raises(ValueError, match=f"^{names} must be smaller: .* 7.2e\\+07 bytes"):
        pairwise_wasserstein(np.zeros((3000, 2)), Y, progress=False)


def test_peak_memory_is_about_the_result():
    """The pairs of every block held at once (16 bytes per pair) and the mirrored triangle's
    indices made the peak 3.5 times the (N, N) result; now the blocks' pairs are made one
    block at a time and the triangle mirrored by blocks of rows (1.04 times at N = 6000)."""
    import tracemalloc

    rng = np.random.default_rng(8)
    X = [rng.random(int(k)) for k in rng.integers(3, 9, 800)]
    pairwise_wasserstein(X[:20], progress=False)  # numba's kernels loaded before measuring
    tracemalloc.start()
    try:
        D = pairwise_wasserstein(X, block_size=50, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1.5 * D.nbytes, peak / D.nbytes
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    for i, j in ((0, 1), (799, 0), (234, 345), (650, 649)):
        assert D[i, j] == wasserstein_1d(X[i], X[j])


@pytest.mark.parametrize("N, K", [(1, 3000), (3000, 1), (2, 3000), (4, 100000)])
def test_a_short_side_against_a_long_one_is_cut_into_few_blocks(N, K, monkeypatch):
    """The automatic size cut X of 1 against Y of 3000 into 3000 blocks of one pair each (the
    size was capped at N): at most MAX_CHUNKS chunks a side, and as many blocks as the timing
    asks for."""
    import kantorovich.ot._pairwise as P

    for per_pair, workers in ((1e-6, 1), (1e-6, 2), (1.0, 1)):
        size = P._block_size(N, K, False, per_pair, workers)
        rows, cols, blocks = P._blocks(N, K, False, size)
        assert len(rows) <= P.MAX_CHUNKS and len(cols) <= P.MAX_CHUNKS
        want = max(1.0, per_pair * N * K / P.TASK_SECONDS)
        if workers > 1:
            want = max(want, min(4.0 * workers, N * K / 4.0))
        assert len(blocks) <= max(2 * want, 4), (per_pair, workers, len(blocks))
    if K > 10000:
        return
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(N, 20)), rng.normal(size=(K, 20))
    calls = []
    real = P._solve_block
    monkeypatch.setattr(P, "_solve_block", lambda *a: calls.append(1) or real(*a))
    # the probe's measured time per pair sets the number of blocks: fixed here (1 us, as a
    # free core measures), so that a busy machine does not change what the test counts
    sizer = P._block_size
    monkeypatch.setattr(P, "_block_size", lambda N, K, sym, per_pair, workers: sizer(N, K, sym, 1e-6, workers))
    D = pairwise_wasserstein(X, Y, progress=False)
    assert len(calls) <= 2 + 4  # the timed probe, then a few blocks (3000 before)
    np.testing.assert_array_equal(D[:, :5], [[wasserstein_1d(x, y) for y in Y[:5]] for x in X])


@pytest.mark.parametrize("N, K", [(300, 1), (300, 2), (1, 300)])
def test_a_tall_block_of_short_samples_is_few_kernel_calls(N, K, monkeypatch):
    """Unweighted short samples, many left rows against one or two right ones: each left row met
    a run of one or two right rows, and each run was one kernel call (300 calls for 300 x 1;
    20 000 x 1 took twice as long as 1 x 20 000). Such blocks are now stacked: a few calls, the
    same values as wasserstein_1d pair by pair, bit for bit."""
    import kantorovich.ot._pairwise as P

    rng = np.random.default_rng(4)
    X, Y = [rng.normal(size=20) for _ in range(N)], [rng.normal(size=20) + 1 for _ in range(K)]
    calls = []
    real = P.wp_sorted
    monkeypatch.setattr(P, "wp_sorted", lambda *a: calls.append(1) or real(*a))
    D = pairwise_wasserstein(X, Y, block_size=max(N, K), progress=False)
    assert len(calls) <= 4
    np.testing.assert_array_equal(D, [[wasserstein_1d(x, y) for y in Y] for x in X])


def test_clouds_equal_single_calls():
    rng = np.random.default_rng(3)
    X = [rng.normal(size=(n, 2)) + k for k, n in enumerate((5, 12, 12, 30, 7))]
    W = [None, rng.random(12), None, rng.random(30), None]
    for p in (1, 2):
        D = pairwise_wasserstein(X, p=p, X_weights=W, block_size=2, progress=False)
        ref = _loop(lambda a, b, wa, wb: wasserstein(a, b, wa, wb, p=p), X, wx=W)
        np.testing.assert_array_equal(D, ref)
    Y = [rng.normal(size=(9, 2)), rng.normal(size=(4, 2))]
    D = pairwise_wasserstein(X, Y, method="exact", progress=False)
    np.testing.assert_array_equal(D, _loop(lambda a, b, wa, wb: wasserstein(a, b, p=1), X, Y))


def test_histograms_equal_emd():
    rng = np.random.default_rng(4)
    z = np.linspace(0, 1, 12)
    M = np.abs(z[:, None] - z[None, :]) ** 2
    H = rng.random((6, 12))
    D = pairwise_wasserstein(H, p=2, M=M, progress=False)
    ref = _loop(lambda a, b, wa, wb: emd(a, b, M, normalize=True).value ** 0.5, list(H))
    np.testing.assert_array_equal(D, ref)
    # W_2 of histograms on a grid is the 1-D W_2 of the weighted grid
    np.testing.assert_allclose(D[0, 1], wasserstein_1d(z, z, H[0], H[1], p=2), rtol=1e-9)
    # rectangular, a cost that is not symmetric
    Mr = rng.random((12, 5))
    G = rng.random((3, 5))
    D = pairwise_wasserstein(H, G, M=Mr, progress=False)
    ref = _loop(lambda a, b, wa, wb: emd(a, b, Mr, normalize=True).value, list(H), list(G))
    np.testing.assert_array_equal(D, ref)


def test_histograms_sinkhorn_upper_bound():
    z = np.linspace(0, 1, 10)
    M = np.abs(z[:, None] - z[None, :])
    H = np.random.default_rng(5).random((4, 10))
    exact = pairwise_wasserstein(H, M=M, progress=False)
    ent = pairwise_wasserstein(H, M=M, method="sinkhorn", eps=1e-2, progress=False)
    assert np.all(ent >= exact - 1e-4)  # <P_eps, M> of a feasible plan: above the optimum
    np.testing.assert_allclose(ent, exact, atol=3e-2)


def test_inputs_as_arrays_lists_and_single_distribution():
    X = np.arange(12.0).reshape(3, 4)
    a = pairwise_wasserstein(X, progress=False)
    b = pairwise_wasserstein([list(r) for r in X], progress=False)
    np.testing.assert_array_equal(a, b)
    assert pairwise_wasserstein([[1.0, 2.0]], progress=False).tolist() == [[0.0]]
    assert float(a[0, 2]) == 8.0


def test_arrays_of_every_library_are_read_as_numpy():
    """torch (also tensors that require grad), JAX and array-API arrays, whole or as lists,
    give the numpy call's matrix; two libraries in one call are the TypeError of the other
    public functions, naming both; a geometry says what it is."""
    torch = pytest.importorskip("torch")
    xps = pytest.importorskip("array_api_strict")
    from kantorovich.ot import PointCloud

    rng = np.random.default_rng(3)
    A, C = rng.normal(size=(3, 7)), rng.normal(size=(3, 5, 2))
    H = rng.random((3, 4))
    H /= H.sum(axis=1, keepdims=True)
    Mh = np.abs(np.subtract.outer(np.arange(4.0), np.arange(4.0)))
    W = [rng.random(7) for _ in range(3)]
    ref = pairwise_wasserstein(A, progress=False)
    t = lambda v: torch.tensor(v, requires_grad=True)
    for X in (t(A), [t(r) for r in A], xps.asarray(A), [xps.asarray(r) for r in A]):
        np.testing.assert_array_equal(pairwise_wasserstein(X, progress=False), ref)
    np.testing.assert_array_equal(pairwise_wasserstein([t(r) for r in A], X_weights=[t(w) for w in W],
                                                       progress=False),
                                  pairwise_wasserstein(A, X_weights=W, progress=False))
    np.testing.assert_array_equal(pairwise_wasserstein(xps.asarray(C), progress=False),
                                  pairwise_wasserstein(C, progress=False))
    np.testing.assert_array_equal(pairwise_wasserstein(t(H), M=t(Mh), progress=False),
                                  pairwise_wasserstein(H, M=Mh, progress=False))
    with pytest.raises(TypeError, match="`X` is a torch array but `Y` is a numpy array"):
        pairwise_wasserstein(t(A), A, progress=False)
    with pytest.raises(TypeError, match=r"`X\[0\]` is a torch array but `X\[1\]` is a numpy"):
        pairwise_wasserstein([t(A[0]), A[1]], progress=False)
    with pytest.raises(TypeError, match="got a PointCloud .*use `wasserstein`"):
        pairwise_wasserstein(PointCloud(C[0], C[1]), progress=False)


def test_autograd_boxes_are_refused_not_a_silent_zero_gradient():
    """pairwise_wasserstein has no gradient rule and returns numpy: an autograd box (whole, or
    an element of a sequence, or weights) is the TypeError of the functions without a rule.
    autograd took the numpy matrix for a constant, a zero gradient with only its own
    'Output seems independent of input' warning."""
    autograd = pytest.importorskip("autograd")
    rng = np.random.default_rng(4)
    A, w = rng.normal(size=(3, 6)), rng.random(6) + 0.1
    calls = {
        "X": lambda v: pairwise_wasserstein(v[None], progress=False).sum(),
        r"X\[1\]": lambda v: pairwise_wasserstein([A[0], v], progress=False).sum(),
        r"Y\[0\]": lambda v: pairwise_wasserstein(A, [v], progress=False).sum(),
        r"X_weights\[2\]": lambda v: pairwise_wasserstein(A, X_weights=[w, w, v], progress=False).sum(),
    }
    for where, f in calls.items():
        with pytest.raises(TypeError, match=rf"has no gradient: .*autograd ArrayBox as `{where}`"):
            autograd.grad(f)(w if "weights" in where else A[2])


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"X": [[0.0, 1.0], [[0.0, 1.0]]]}, ValueError, r"`X` must hold distributions of one kind"),
    ({"X": [np.zeros((3, 2)), np.zeros((3, 3))]}, ValueError, r"one dimension d"),
    ({"X": [[0.0], [1.0]], "p": 0.5}, ValueError, r"`p`"),
    ({"X": [[0.0], [1.0]], "p": True}, TypeError, r"`p`"),
    ({"X": [[0.0], [1.0]], "client": 3}, TypeError, r"`client` must be a dask.distributed.Client"),
    ({"X": [[0.0], [1.0]], "method": "sinkhorn"}, ValueError, r"`method`"),
    ({"X": [[0.0], [1.0]], "method": "fast"}, ValueError, r"`method`"),
    ({"X": [[0.0], [1.0], [2.0, np.nan]]}, ValueError, r"`X\[2\]`"),
    ({"X": [[0.0], [1.0]], "X_weights": [None]}, ValueError, r"`X_weights` must hold one"),
    ({"X": [[0.0], [1.0, 2.0]], "X_weights": [None, [1.0, -1.0]]}, ValueError, r"`X_weights\[1\]`"),
    ({"X": [[0.0], [1.0]], "Y_weights": [None]}, ValueError, r"`Y_weights` needs `Y`"),
    ({"X": []}, ValueError, r"`X` must hold at least one"),
    ({"X": 3.0}, TypeError, r"`X` must be a sequence"),
    ({"X": [1.0, 2.0]}, ValueError, r"`X\[0\]` must be a 1-D sample"),
    ({"X": [[0.0, 1.0]], "Y": [np.zeros((2, 2))]}, ValueError, r"`X` and `Y`"),
    ({"X": [[0.5, 0.5]], "M": [[0.0, 1.0], [2.0, 0.0]]}, ValueError, r"`M` must be square and symmetric"),
    ({"X": [[0.5, 0.5, 0.0]], "M": [[0.0, 1.0], [1.0, 0.0]]}, ValueError, r"`X\[0\]`"),
    ({"X": [[0.5, 0.5]], "M": [[0.0, 1.0], [1.0, 0.0]], "X_weights": [None]}, ValueError, r"`X_weights`"),
    # negative costs: emd's value would be negative, and the matrix held 0 in its place
    ({"X": [[0.5, 0.5], [0.2, 0.8]], "M": [[0.0, -1.0], [-1.0, 0.0]]}, ValueError,
     r"`M` must be non-negative.*minimum of -1.0"),
    ({"X": [[0.5, 0.5]], "Y": [[0.2, 0.8]], "M": [[1.0, -1e-300], [2.0, 0.0]],
      "method": "sinkhorn"}, ValueError, r"`M` must be non-negative"),
    ({"X": [np.zeros((3, 2))] * 2, "method": "1d"}, ValueError, r"`method` '1d'"),
    ({"X": [[0.0], [1.0]], "block_size": 0}, ValueError, r"`block_size`"),
    ({"X": [[0.0], [1.0]], "progress": "yes"}, TypeError, r"`progress`"),
    ({"X": [np.zeros((3, 2)), np.zeros((3, 3))]}, ValueError, r"point clouds of `X` must"),
    ({"X": [[0.0], [1.0]], "eps": 0.1}, ValueError, r"`eps` is the regularisation"),
    ({"X": [np.zeros((3, 2))] * 2, "method": "exact", "eps": 0.1}, ValueError, r"`eps`"),
    ({"X": [[0.5, 0.5]], "M": [[0.0, 1.0], [1.0, 0.0]], "eps": 0.1}, ValueError, r"`eps`"),
])
def test_bad_input_names_the_argument(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        pairwise_wasserstein(**kwargs)


@pytest.mark.parametrize("kwargs, match", [
    ({"X": [np.zeros((4, 2)), np.ones((4, 2)), np.ones((5, 2))]},
     r"of one size; got `X\[0\]` of 4 points and `X\[2\]` of 5\."),
    ({"X": [np.zeros((4, 2))], "Y": [np.ones((4, 2)), np.ones((3, 2))]},
     r"of one size; got `X\[0\]` of 4 points and `Y\[1\]` of 3\."),
    ({"X": [np.zeros((3, 2))] * 2, "X_weights": [None, [1.0, 2.0, 1.0]]},
     r"uniform weights; got `X_weights\[1\]` that are not\."),
    ({"X": [np.zeros((3, 2))], "Y": [np.ones((3, 2))], "Y_weights": [[0.0, 1.0, 1.0]]},
     r"uniform weights; got `Y_weights\[0\]` that are not\."),
])
def test_auction_on_clouds_it_cannot_pair_is_said_before_any_work(kwargs, match, monkeypatch):
    """method='auction' needs clouds of one size with uniform weights: the error came from the
    first pair that broke it, after every pair before it (on a cluster, from a task), and
    named no distribution ("got n = 5, m = 6")."""
    import kantorovich.ot._pairwise as P

    monkeypatch.setattr(P, "_solve_block", None)  # any work would fail otherwise
    with pytest.raises(ValueError, match=r"^`method` 'auction' solves every pair as an "
                                         r"assignment, which needs .*" + match):
        pairwise_wasserstein(method="auction", progress=False, **kwargs)


def test_auction_on_clouds_of_one_size_with_constant_weights_runs():
    rng = np.random.default_rng(5)
    X = [rng.normal(size=(6, 2)) for _ in range(3)]
    D = pairwise_wasserstein(X, method="auction", X_weights=[None, np.full(6, 2.0), None],
                             progress=False)
    np.testing.assert_array_equal(D, pairwise_wasserstein(X, method="auction", progress=False))


@pytest.mark.parametrize("block_size", [1, 2, None])
def test_an_error_in_one_pairs_solve_names_the_pair(block_size):
    """A solver's error inside a block said what was wrong but not for which pair of the
    N (N - 1) / 2; now it names the pair by its indices in X and Y, whatever the blocks."""
    rng = np.random.default_rng(2)
    X = [rng.normal(size=(5, 2)) for _ in range(4)]
    X[2] = X[2] * 1e200  # eps=1e-3 is below float64's resolution of the pairs with X[2]
    with pytest.raises(ValueError, match=r"^in the pair \(`X\[0\]`, `X\[2\]`\): `eps` must be at least"):
        pairwise_wasserstein(X, method="sinkhorn", eps=1e-3, block_size=block_size, progress=False)
    with pytest.raises(ValueError, match=r"^in the pair \(`X\[1\]`, `Y\[0\]`\): `eps` must be at least"):
        pairwise_wasserstein([X[0], X[2]], [X[0], X[1]], method="sinkhorn", eps=1e-3,
                             block_size=block_size, progress=False)
    H = rng.random((3, 4))
    M = np.abs(np.arange(4.0)[:, None] - np.arange(4.0)[None]) * 1e300
    with pytest.raises(ValueError, match=r"^in the pair \(`X\[0\]`, `X\[1\]`\): `eps` must be at least"):
        pairwise_wasserstein(H, M=M, method="sinkhorn", eps=1e-300, block_size=block_size,
                             progress=False)


def test_progress_bar_silent_off_a_terminal(capsys):
    pairwise_wasserstein(np.arange(12.0).reshape(4, 3))  # progress=True, stderr not a TTY
    assert capsys.readouterr().err == ""


def test_client_without_distributed_says_what_to_install(monkeypatch):
    import sys

    from kantorovich.exceptions import BackendUnavailableError

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    with pytest.raises(BackendUnavailableError, match=r"kantorovich\[distributed\]"):
        pairwise_wasserstein([[0.0], [1.0]], client="tcp://127.0.0.1:1")


# ----------------------------------------------------------------------------- Dask
def _cluster(processes):
    distributed = pytest.importorskip("distributed")
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                    dashboard_address=":0", silence_logs=40)


def test_dask_threads_equals_serial():
    from distributed import Client

    rng = np.random.default_rng(6)
    X, W = _samples_1d(rng)
    clouds = [rng.normal(size=(n, 3)) for n in (4, 9, 9, 15, 6, 11)]
    serial_1d = pairwise_wasserstein(X, p=1.5, X_weights=W, progress=False)
    serial_cl = pairwise_wasserstein(clouds, p=2, block_size=2, progress=False)
    with _cluster(processes=False) as cluster, Client(cluster) as client:
        D = pairwise_wasserstein(X, p=1.5, X_weights=W, client=client, progress=False)
        np.testing.assert_array_equal(D, serial_1d)
        D = pairwise_wasserstein(clouds, p=2, client=client, block_size=2, progress=False)
        np.testing.assert_array_equal(D, serial_cl)
        # a scheduler address: connected to for the call, closed after
        D = pairwise_wasserstein(clouds, clouds[:2], p=2, client=cluster.scheduler_address,
                                 progress=False)
        np.testing.assert_array_equal(D, pairwise_wasserstein(clouds, clouds[:2], p=2, progress=False))
        # an error inside a task (not a lost worker) is raised as it is, not retried forever,
        # naming its pair (method='auction' on clouds of two sizes, the error here before,
        # is now said before any task runs)
        far = clouds[:3] + [clouds[3] * 1e200]  # eps=1e-3 is below float64's resolution there
        with pytest.raises(ValueError, match=r"^in the pair \(`X\[[012]\]`, `X\[3\]`\): `eps` must be"):
            pairwise_wasserstein(far, method="sinkhorn", eps=1e-3, client=client, block_size=1,
                                 retries=1, progress=False)


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs signal.setitimer")
def test_dask_ctrl_c_cancels_the_queued_blocks():
    """A KeyboardInterrupt during a Dask run left its queued blocks running on the cluster
    (hundreds of tasks kept it busy after the call had ended); now they are cancelled, and the
    next call on the same client gives the serial matrix."""
    import signal

    from distributed import Client

    rng = np.random.default_rng(3)
    X = [rng.random((40, 2)) for _ in range(80)]
    serial = pairwise_wasserstein(X, p=2, block_size=2, progress=False)

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    with _cluster(processes=False) as cluster, Client(cluster) as client:
        old = signal.signal(signal.SIGALRM, interrupt)
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.5)
            with pytest.raises(KeyboardInterrupt):
                pairwise_wasserstein(X, p=2, block_size=2, client=client, progress=False)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        deadline = time.monotonic() + 3.0
        while client.processing() and any(client.processing().values()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(client.processing().values())
        np.testing.assert_array_equal(
            pairwise_wasserstein(X, p=2, block_size=2, client=client, progress=False), serial)


@pytest.mark.parametrize("client, exc, why", [
    ("10.0.0.1", ValueError, "port"), ("foo://10.0.0.1:8786", ValueError, "schemes"),
    ("local:0", ValueError, "positive integer"), (8786, TypeError, "Client"),
])
def test_a_bad_client_is_said_before_any_work(client, exc, why, monkeypatch):
    """Checked as `kantorovich report --scheduler` checks it, before a pair is solved or a
    scheduler is dialled."""
    pytest.importorskip("distributed")
    import kantorovich.ot._pairwise as P

    monkeypatch.setattr(P, "_solve_block", None)  # any work would fail otherwise
    with pytest.raises(exc, match=f"`client`.*{why}"):
        pairwise_wasserstein([[0.0], [1.0], [2.0]], client=client, progress=False)



@pytest.mark.parametrize("address, why", [
    ("inproc://nothing", "an inproc address names a scheduler started in this process, as "
                         "'inproc://HOST/PID/N'"),
    ("inproc://10.0.0.1/1/1", "it names process 1, not this one"),
    ("inproc://{ip}/{pid}/999", "none listens there in this process"),
])
def test_an_inproc_address_with_no_scheduler_says_none_answered_and_why(address, why, monkeypatch):
    distributed = pytest.importorskip("distributed")
    import os

    from distributed.comm.inproc import global_manager

    address = address.format(ip=global_manager.ip, pid=os.getpid())

    class NoScheduler(distributed.Client):  # as Dask's Client after its 20 s timeout
        def __new__(cls, address, **kwargs):
            raise OSError(f"Timed out trying to connect to {address} after 20 s")

    monkeypatch.setattr(distributed, "Client", NoScheduler)
    with pytest.raises(OSError) as info:
        pairwise_wasserstein([[0.0], [1.0], [2.0]], client=address, progress=False)
    assert str(info.value).startswith(f"no Dask scheduler answered at {address!r}: {why}")
    assert "unpack" not in str(info.value) and "Timed out" not in str(info.value)

def test_a_closed_client_is_said_before_any_work(monkeypatch):
    """A Client closed (or whose cluster went away) is a ValueError naming `client`; it was an
    AttributeError from inside Dask ("'NoneType' object has no attribute 'scatter'")."""
    from distributed import Client

    import kantorovich.ot._pairwise as P

    with _cluster(processes=False) as cluster:
        client = Client(cluster)
        client.close()
        monkeypatch.setattr(P, "_solve_block", None)  # any work would fail otherwise
        with pytest.raises(ValueError, match=r"`client` is a dask.distributed.Client that is closed"):
            pairwise_wasserstein([[0.0], [1.0], [2.0]], client=client, progress=False)


def test_dask_local_cluster_from_a_string_equals_serial():
    """``client="local:2"``: two worker processes started for the call, closed after."""
    pytest.importorskip("distributed")
    clouds = [np.random.default_rng(k).normal(size=(7, 2)) for k in range(5)]
    D = pairwise_wasserstein(clouds, p=2, client="local:2", block_size=2, progress=False)
    np.testing.assert_array_equal(D, pairwise_wasserstein(clouds, p=2, block_size=2, progress=False))


def test_dask_processes_worker_killed_mid_run():
    """A worker process killed while it computes: its blocks (and the chunks scattered to it)
    are recomputed elsewhere, and the matrix is complete and identical to the serial one."""
    from distributed import Client

    rng = np.random.default_rng(7)
    clouds = [rng.normal(size=(120, 2)) * (1 + k % 3) for k in range(14)]
    serial = pairwise_wasserstein(clouds, block_size=2, progress=False)
    with _cluster(processes=True) as cluster, Client(cluster) as client:
        client.wait_for_workers(2)
        # import the solvers (and POT) in both workers first, so that the run is all solving
        client.run(importlib.import_module, "kantorovich.ot._wasserstein")
        client.run(importlib.import_module, "ot")

        def two_blocks_done():
            return client.run_on_scheduler(
                lambda dask_scheduler: sum(ts.state == "memory" and ts.key.startswith("_run_task")
                                           for ts in dask_scheduler.tasks.values())) >= 2

        with killing_a_busy_worker(client, ready=two_blocks_done) as killed:
            D = pairwise_wasserstein(clouds, client=client, block_size=2, progress=False)
        assert killed, "the run ended before a worker could be killed"
        np.testing.assert_array_equal(D, serial)


def test_dask_lost_data_is_scattered_and_submitted_again(monkeypatch):
    """A scattered chunk cancelled under the running blocks: the blocks that needed it come
    back as cancelled, are resubmitted with the chunk scattered again, and the matrix is whole."""
    from distributed import Client, Future

    import kantorovich.ot._pairwise as P

    lost: list[str] = []
    real = P._lost
    monkeypatch.setattr(P, "_lost", lambda exc: lost.append(type(exc).__name__) or real(exc))
    rng = np.random.default_rng(8)
    clouds = [rng.normal(size=(40, 2)) for _ in range(12)]
    serial = pairwise_wasserstein(clouds, block_size=2, progress=False)
    with _cluster(processes=False) as cluster, Client(cluster) as client:
        stop: list[bool] = []

        def cancel_first_chunk():
            while not stop:
                keys = [k for k in client.futures if str(k).startswith("list-")]
                if keys:
                    client.cancel([Future(keys[0], client)])
                    return
                time.sleep(0.001)

        t = threading.Thread(target=cancel_first_chunk)
        t.start()
        try:
            D = pairwise_wasserstein(clouds, client=client, block_size=2, progress=False)
        finally:
            stop.append(True)
            t.join()
    np.testing.assert_array_equal(D, serial)
    assert lost, "no block was lost: the resubmission path did not run"


def test_doctests():
    """The docstring examples (the API pages show them) run and print what they show."""
    import doctest
    import importlib

    res = doctest.testmod(importlib.import_module("kantorovich.ot._pairwise"))
    assert res.failed == 0 and res.attempted > 0
