"""Solvers called from several threads and from forked processes, and the process state they
leave: the same results as one call at a time (bit for bit), no abort on numba's workqueue
layer, no SIGTERM in a fork of a process that ran GNU OpenMP kernels, and numpy's global RNG,
numba's thread count, the environment and the warnings filters as they were."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("numba")

import kantorovich.divergences as kd  # noqa: E402
import kantorovich.ot as ot  # noqa: E402

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")


def _cases():
    """Calls small and large enough for the parallel kernels (one thread and all threads), each
    returning its numbers as one float64 vector."""
    r = np.random.default_rng(0)
    x, y = r.normal(size=(300, 3)), r.normal(size=(300, 3)) + 0.5
    a = np.full(300, 1 / 300)
    xs, ys = x[:40], y[:40]
    s = np.full(40, 1 / 40)
    u, v = r.normal(size=30_000), r.normal(size=30_000) + 0.2
    M = ((xs[:, None] - ys[None]) ** 2).sum(-1)

    def sink(a_, x_, y_):
        res = ot.sinkhorn(a_, a_, ot.PointCloud(x_, y_), eps=0.1, backend="numba")
        return np.concatenate([np.ravel(res.value), np.ravel(res.f), np.ravel(res.g)])

    def assign(x_, y_):
        res = ot.assignment(x=x_, y=y_, backend="numba")
        return np.concatenate([np.ravel(v) for v in (res.value, res.perm, res.f, res.g)])

    return {
        "sinkhorn_large": lambda: sink(a, x, y),
        "sinkhorn_small": lambda: sink(s, xs, ys),
        "assignment": lambda: assign(x, y),
        "emd": lambda: np.concatenate([[ot.emd(s, s, M).value], ot.emd(s, s, M).f]),
        "wasserstein_1d": lambda: np.array([ot.wasserstein_1d(u, v, p=2, backend="numba")]),
        "sliced": lambda: np.array([ot.sliced_wasserstein(x, y, n_projections=20, p=2, rng=0,
                                                          backend="numba")]),
        "estimate_kl": lambda: np.array([kd.estimate_kl(x, y, n_boot=10, rng=0, backend="numba").value]),
        # batches of one and of three problems (a batch of one runs on one thread)
        "sinkhorn_batch_of_1": lambda: sink(s, xs[None], ys[None]),
        "sinkhorn_batch_of_3": lambda: sink(s, np.stack([xs, ys, xs]), np.stack([ys, xs, xs])),
        "assignment_batch_of_1": lambda: assign(xs[None], ys[None]),
        "estimate_kl_batch_of_1": lambda: np.array(
            kd.estimate_kl(x[None], y[None], n_boot=0, rng=0).value).ravel(),
    }


def test_threads_give_the_serial_results_bit_for_bit():
    cases = _cases()
    ref = {k: f() for k, f in cases.items()}
    keys = list(cases) * 3
    np.random.default_rng(1).shuffle(keys)
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda k: (k, cases[k]()), keys))
    for k, out in outs:
        np.testing.assert_array_equal(out, ref[k], err_msg=k)


def test_state_is_left_as_it_was():
    import numba

    cases = _cases()
    for k, f in cases.items():
        rng_state = np.random.get_state()
        threads = numba.get_num_threads()
        env = dict(os.environ)
        filters = list(warnings.filters)
        f()
        assert numba.get_num_threads() == threads, k
        assert dict(os.environ) == env, k
        assert warnings.filters == filters, k
        st = np.random.get_state()
        assert st[0] == rng_state[0] and np.array_equal(st[1], rng_state[1]) and st[2:] == rng_state[2:], k


def test_thread_count_restored_after_an_exception_mid_solve(monkeypatch):
    import numba

    from kantorovich.ot._kernels import auction_numba

    def boom(*args, **kwargs):
        assert numba.get_num_threads() == 1  # a small assignment runs on one thread
        raise KeyboardInterrupt

    monkeypatch.setattr(auction_numba, "auction_phase", boom)
    before = numba.get_num_threads()
    x = np.random.default_rng(2).normal(size=(50, 2))
    with pytest.raises(KeyboardInterrupt):
        ot.assignment(x=x, y=x + 1, backend="numba")
    assert numba.get_num_threads() == before


def test_threaded_emd_leaves_the_warnings_machinery_as_it_was():
    r = np.random.default_rng(3)
    x, y = r.normal(size=(20, 2)), r.normal(size=(20, 2))
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = np.full(20, 1 / 20)
    ot.emd(a, a, M)
    filters, show = list(warnings.filters), warnings.showwarning
    impl = getattr(warnings, "_showwarnmsg_impl", None)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: ot.emd(a, a, M), range(400)))
    assert warnings.filters == filters
    assert warnings.showwarning is show
    assert getattr(warnings, "_showwarnmsg_impl", None) is impl
    with pytest.warns(UserWarning, match="still shown"):
        warnings.warn("still shown", UserWarning)


def _run(code: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([os.path.abspath(SRC), e.get("PYTHONPATH", "")])
    e.update(env or {})
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=e, timeout=timeout,
                          capture_output=True, text=True)


# the data and imports of the two subprocess scripts below
_SETUP = """
    import numpy as np, numba
    import kantorovich.ot as ot
    import kantorovich.divergences as kd
    r = np.random.default_rng(0)
    x, y = r.normal(size=(400, 3)), r.normal(size=(400, 3))
    a = np.full(400, 1 / 400)
    u, v = r.normal(size=30_000), r.normal(size=30_000)
"""

_THREADS = _SETUP + """
    from concurrent.futures import ThreadPoolExecutor
    def job(i):
        if i % 2:
            return ot.sinkhorn(a, a, ot.PointCloud(x, y), eps=0.1, backend="numba").value
        return ot.wasserstein_1d(u, v, p=2, backend="numba")
    ref = [job(i) for i in range(2)]
    with ThreadPoolExecutor(4) as pool:
        out = list(pool.map(job, range(16)))
    assert out == ref * 8, (out, ref)
    print("layer", numba.threading_layer())
"""


@pytest.mark.slow
def test_workqueue_layer_threads_do_not_abort():
    # workqueue ends the process on concurrent launches; the kernels take turns there
    res = _run(_THREADS, {"NUMBA_THREADING_LAYER": "workqueue"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "layer workqueue" in res.stdout


_FORK = _SETUP + """
    import multiprocessing as mp
    def job(i):
        if i == 0:
            return ot.sinkhorn(a, a, ot.PointCloud(x, y), eps=0.1, backend="numba").value
        if i == 1:
            return ot.wasserstein_1d(u, v, p=2, backend="numba")
        return kd.estimate_kl(x, y, n_boot=10, rng=0, backend="numba").value
    ref = [job(i) for i in range(3)]  # the parent runs the parallel kernels first
    print("layer", numba.threading_layer())
    with mp.get_context("fork").Pool(2) as pool:
        out = pool.map(job, range(3))
    assert out == ref, (out, ref)
    print("ok")
"""


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_threads_at_most_sets_and_restores_the_count():
    import numba

    from kantorovich._parallel import launch_mode, threads_at_most

    before = numba.get_num_threads()
    with threads_at_most(1):
        assert numba.get_num_threads() == (before if launch_mode() == "serial" else 1)
    with threads_at_most(before + 5):
        assert numba.get_num_threads() == before
    with pytest.raises(KeyboardInterrupt), threads_at_most(0):  # at least one thread
        assert numba.get_num_threads() == (before if launch_mode() == "serial" else 1)
        raise KeyboardInterrupt
    assert numba.get_num_threads() == before


@pytest.mark.parametrize("nb", [1, 2, 5])
def test_a_batch_launches_no_more_threads_than_problems(monkeypatch, nb):
    """An idle thread still has to wake and reach the parallel region's join: on busy cores
    a batch of one paid a scheduler tick or more for nothing."""
    import numba

    from kantorovich.ot import _sinkhorn_batch

    before = numba.get_num_threads()
    kernel = _sinkhorn_batch._solve_batch
    seen = []

    def spy(*args, **kwargs):
        seen.append((args[-5].shape[0], numba.get_num_threads()))  # (problems in F, threads)
        return kernel(*args, **kwargs)

    spy.signatures = kernel.signatures  # read by the compile notice
    monkeypatch.setattr(_sinkhorn_batch, "_solve_batch", spy)
    x = np.random.default_rng(3).normal(size=(nb, 20, 2))
    ot.sinkhorn(None, None, ot.PointCloud(x, x + 1), eps=0.5)
    # the last launch is the batch's (a first call may also run the one-time rounding probe)
    assert seen[-1] == (nb, min(nb, before)), seen
    assert all(t == min(q, before) for q, t in seen), seen
    assert numba.get_num_threads() == before


def test_fork_after_parallel_kernels():
    # GNU OpenMP: a forked child's first parallel launch was SIGTERM, and the Pool hung
    res = _run(_FORK)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ok" in res.stdout


def test_launch_modes():
    from kantorovich import _parallel

    mode = _parallel.launch_mode()
    import numba

    assert mode == ("lock" if numba.threading_layer() == "workqueue" else "direct")
