"""The single solver's compiled iterations (kantorovich.ot._sinkhorn_steps): the same results,
bit for bit, as the Python loop they replace, and taken where they apply."""

import numpy as np
import pytest

from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence
from kantorovich.ot import _sinkhorn as S
from kantorovich.ot import _sinkhorn_steps as T

pytestmark = pytest.mark.filterwarnings("ignore::kantorovich.exceptions.ConvergenceWarning")


def _fields(r):
    info = {k: v for k, v in r.info.items() if not k.startswith("time")}
    return (r.f, r.g, r.value, r.objective, r.n_iter, r.converged, r.marginal_error_history, info)


def _same(u, v):
    if isinstance(u, dict):
        return u.keys() == v.keys() and all(_same(u[k], v[k]) for k in u)
    if isinstance(u, (list, tuple)):
        return len(u) == len(v) and all(_same(s, t) for s, t in zip(u, v))
    if isinstance(u, (np.ndarray, float, np.floating)):
        return np.asarray(u).dtype == np.asarray(v).dtype and np.array_equal(u, v, equal_nan=True)
    return u == v


@pytest.fixture
def runs(monkeypatch):
    """run(fn, *args, **kw): fn with the compiled iterations and with the Python loop; returns
    both results and how many compiled calls the first made."""
    calls = []
    run_steps = T.CompiledSteps.run

    def counted(self, *args):
        calls.append(args[3])  # the iterations of the call
        return run_steps(self, *args)

    monkeypatch.setattr(T.CompiledSteps, "run", counted)
    compiled_steps = T.compiled_steps

    def run(fn, *args, **kw):
        calls.clear()
        monkeypatch.setattr(T, "compiled_steps", compiled_steps)
        fast = fn(*args, **kw)
        taken = sum(calls)
        monkeypatch.setattr(T, "compiled_steps", lambda p: None)
        slow = fn(*args, **kw)
        assert not calls[taken:] if taken else not calls
        return fast, slow, taken
    return run


def _check(runs, *args, taken=True, **kw):
    fast, slow, n = runs(sinkhorn, *args, **kw)
    assert _same(_fields(fast), _fields(slow))
    assert (n > 0) == taken
    if taken:  # every iteration compiled (the Newton step's soft-mins are its own)
        assert n <= fast.n_iter
    return fast


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("p", [1.0, 2.0, 1.5])
@pytest.mark.parametrize("symmetric", [False, True])
def test_point_clouds_bit_for_bit(runs, d, p, symmetric):
    rng = np.random.default_rng(10 * d + int(2 * p))
    x, y = rng.normal(size=(23, d)), rng.normal(size=(31, d)) + 0.5
    for eps in (0.5, 0.03):  # the kernel matrix at every eps / the row loops at the smaller
        r = _check(runs, None, None, PointCloud(x, y, cost=p), eps=eps, symmetric=symmetric)
        assert r.converged


def test_both_paths_of_the_soft_min_are_taken(runs):
    # the kernel matrix at eps = 0.3 (c max C <= 450), the row loops at the annealing's
    # levels (each visited once); at eps = 0.1 the row loops throughout
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 2)), rng.normal(size=(64, 2)) + 0.5
    for eps, kmat in ((0.3, 161), (0.1, 0)):
        r = _check(runs, None, None, PointCloud(x, y), eps=eps)
        assert r.info["n_iter_scaling"] > 0 and r.info["kernel_matrix_calls"] == kmat
        assert r.info["numba_thread_calls"][1] == 2 * r.n_iter + 1


def test_weights_and_zero_weights(runs):
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(25, 2))
    a, b = rng.random(20), rng.random(25)
    a[[2, 7]] = 0.0
    b[0] = 0.0
    _check(runs, a / a.sum(), b / b.sum(), PointCloud(x, y), eps=0.05)


def test_self_transport_one_sided(runs):
    x = np.random.default_rng(2).normal(size=(40, 3))
    r = _check(runs, None, None, PointCloud(x, x), eps=0.05, symmetric=True)
    assert r.info["self_transport"]


def test_sinkhorn_divergence(runs):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(48, 2)), rng.normal(size=(40, 2)) + 1.0
    fast, slow, n = runs(sinkhorn_divergence, None, None, PointCloud(x, y), eps=0.1)
    assert n > 0 and fast.value == slow.value
    for t in ("ot_ab", "ot_aa", "ot_bb"):
        assert _same(_fields(getattr(fast, t)), _fields(getattr(slow, t)))


@pytest.mark.parametrize("max_iter", [1, 7, 37])
def test_not_converged(runs, max_iter):
    rng = np.random.default_rng(4)
    x, y = rng.random((30, 2)), rng.random((30, 2))
    r = _check(runs, None, None, PointCloud(x, y), eps=1e-3, max_iter=max_iter)
    assert not r.converged and r.n_iter == max_iter


@pytest.mark.parametrize("check_every", [1, 3, 10])
def test_no_annealing_and_check_intervals(runs, check_every):
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    _check(runs, None, None, PointCloud(x, y), eps=0.05, scaling=None, check_every=check_every)
    _check(runs, None, None, PointCloud(x, y), eps=0.02, check_every=check_every)


def test_annealing_with_extrapolation_and_newton(runs, monkeypatch):
    # the isolated pair of tests/ot/test_sinkhorn.py: annealing, one-mode and several-mode
    # tail extrapolation, then Newton steps on the stall (5179 iterations)
    jumps, newton = [], []
    tail, step = S._extrapolate_tail, S._newton_step

    def tail_spy(*args):
        out = tail(*args)
        jumps.append(out[3] is not None)
        return out

    def newton_spy(*args):
        newton.append(1)
        return step(*args)

    monkeypatch.setattr(S, "_extrapolate_tail", tail_spy)
    monkeypatch.setattr(S, "_newton_step", newton_spy)
    rng = np.random.default_rng(1)
    x, y = rng.random((30, 2)), rng.random((30, 2))
    r = _check(runs, None, None, PointCloud(x, y), eps=1e-3, tol=1e-6, max_iter=20_000)
    assert r.converged and r.info["n_iter_scaling"] > 0 and any(jumps) and newton


@pytest.mark.parametrize("symmetric", [False, True])
def test_dense_kernel_matrix(runs, symmetric):
    rng = np.random.default_rng(6)
    C = 3.0 * rng.random((30, 40))
    r = _check(runs, None, None, C, eps=0.05, symmetric=symmetric, backend="numba")
    assert r.info["kernel_matrix_calls"] == r.info["numba_thread_calls"][1]
    S2 = C[:, :30] + C[:, :30].T
    _check(runs, None, None, S2, eps=0.05, symmetric=True)  # auto: numba, self-transport


def test_not_taken_where_it_does_not_apply(runs):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(30, 2))
    C = np.abs(x[:, None, 0] - y[None, :, 0])
    _check(runs, None, None, PointCloud(x, y), eps=0.05, backend="numpy", taken=False)
    _check(runs, None, None, PointCloud(x, y), eps=0.05, backend="numba", dtype=np.float32,
           taken=False)
    _check(runs, None, None, PointCloud(x, y), eps=0.05, backend="numba", progress=True,
           taken=False)
    # a dense cost beyond the kernel matrix's bound: DenseSoftmin's row loops
    _check(runs, None, None, C, eps=1e-3, backend="numba", taken=False)
    _check(runs, None, None, PointCloud(x, y, cost=lambda u, v: np.abs(u[:, None, 0] - v[None, :, 0])),
           eps=0.05, taken=False)


def test_not_taken_where_the_threads_are_timed(runs, monkeypatch):
    # above _NUMBA_SERIAL_MAX_ENTRIES the soft-mins pick their thread count by timing
    monkeypatch.setattr(S, "_NUMBA_SERIAL_MAX_ENTRIES", 100)
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    fast, _, n = runs(sinkhorn, None, None, PointCloud(x, y), eps=0.05, backend="numba")
    import numba

    assert (n > 0) == (numba.get_num_threads() == 1)
