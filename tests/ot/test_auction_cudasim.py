"""numba-cuda auction kernels under the CUDA simulator (tiny sizes, in a subprocess so that
NUMBA_ENABLE_CUDASIM is set before numba.cuda is imported), and the same path on a real GPU."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from ..cudasim_support import run_simulated

_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from kantorovich.ot import assignment

    rng = np.random.default_rng(0)
    out = []
    for n in (2, 3, 6, 9):
        M = rng.random((n, n))
        r = assignment(M, backend="cuda")
        rr, cc = linear_sum_assignment(M)
        assert sorted(r.perm.tolist()) == list(range(n))
        assert r.exact, r.method
        assert abs(r.value - M[rr, cc].mean()) <= 1e-9 * M[rr, cc].mean(), (n, r.value)
        assert "GPU" in r.method and r.info["device"] == "cuda-simulator"
        # default switch point tail_rows(n) >= 32 > n: the tail kernel runs every phase
        assert 0 < r.info["gpu_tail_launches"] <= r.info["phases"], r.info
        assert r.info["gpu_multi_rounds_launched"] == 0, r.info
        assert r.info["gpu_launches"] == 2 * r.info["phases"] + r.info["gpu_tail_launches"], r.info
        # same algorithm, same tie-breaks as the numpy reference: identical raw auction
        a = assignment(M, backend="cuda", exact=False)
        b = assignment(M, backend="numpy", exact=False)
        assert a.perm.tolist() == b.perm.tolist(), (a.perm, b.perm)
        assert np.allclose(a.g, b.g, rtol=0, atol=1e-12)
        assert a.n_iter == b.n_iter
        out.append(n)
    # points on the fly (sqeuclidean, euclidean), integer costs, ties
    x, y = rng.random((6, 2)), rng.random((6, 2))
    for cost in ("sqeuclidean", "euclidean"):
        r = assignment(x=x, y=y, cost=cost, backend="cuda")
        s = assignment(x=x, y=y, cost=cost, backend="numpy")
        assert abs(r.value - s.value) <= 1e-12, cost
    Mi = rng.integers(0, 20, size=(7, 7)).astype(float)
    r = assignment(Mi, backend="cuda")
    rr, cc = linear_sum_assignment(Mi)
    assert r.value * 7 == Mi[rr, cc].sum() and "integer" in r.method
    r = assignment(np.ones((4, 4)), backend="cuda")
    assert r.value == 1.0 and sorted(r.perm.tolist()) == list(range(4))
    print("CUDASIM-OK", out)
    """
)


def test_cuda_kernels_under_simulator():
    run_simulated(_SCRIPT, marker="CUDASIM-OK", timeout=600)


_PATHS_SCRIPT = textwrap.dedent(
    """
    import math

    import numpy as np
    from kantorovich.ot import _auction as A
    from kantorovich.ot._kernels import auction_cuda as G

    def dense(prob):
        # prob.dense() with the coordinates summed in order and scalar (libm) powers, as the
        # kernels compute them; numpy's pairwise sum regroups the coordinates from d = 8 on,
        # and its vectorised power differs from libm's pow in the last bit for a few % of inputs
        if prob.kind == -1:
            return prob.C
        t = prob.x[:, None, :] - prob.y[None, :, :]
        sq = t[..., 0] * t[..., 0]
        for k in range(1, t.shape[2]):
            sq = sq + t[..., k] * t[..., k]
        if prob.x.shape[1] < 8:
            assert np.array_equal(sq, ((prob.x[:, None, :] - prob.y[None, :, :]) ** 2).sum(-1))
        if prob.kind == 2:
            e = 0.5 * prob.cost_p
            return prob.scale * np.array([[math.pow(v, e) for v in row] for row in sq])
        return prob.scale * (sq if prob.kind == 0 else np.sqrt(sq))

    def reference(prob, sched, max_rounds):
        C, n = dense(prob), prob.n
        p, r2c, c2r = np.zeros(n), np.full(n, -1, np.int64), np.full(n, -1, np.int64)
        rounds = bids = 0
        for e in sched:
            r, b = A._auction_phase_numpy(C, p, r2c, c2r, e, max_rounds)
            bids += b
            if r < 0:
                return r2c, p, rounds, bids, False
            rounds += r
        return r2c, p, rounds, bids, True

    rng = np.random.default_rng(3)
    probs = [A._prepare(rng.random((9, 9)), None, None, "sqeuclidean"),
             A._prepare(rng.integers(0, 4, (8, 8)).astype(float), None, None, "sqeuclidean"),  # ties
             A._prepare(None, rng.random((12, 2)), rng.random((12, 2)), "sqeuclidean"),
             # kernels compiled per (cost kind, d): x[i, :] in registers (d <= ROW_REGS) or read
             # from memory (d = 10), euclidean and p-costs
             A._prepare(None, rng.random((7, 1)), rng.random((7, 1)), "sqeuclidean"),
             A._prepare(None, rng.random((7, 3)), rng.random((7, 3)), "euclidean"),
             A._prepare(None, rng.random((7, 10)), rng.random((7, 10)), "sqeuclidean"),
             A._prepare(None, rng.random((7, 2)), rng.random((7, 2)), 1.5)]
    assert G.ROW_REGS < 10 and [q.kind for q in probs[3:]] == [0, 1, 0, 2]
    import json, sys  # the cases: _PATH_CASES below

    cases = [tuple(c) for c in json.loads(sys.argv[1])]
    seen = set()
    for which, max_rounds, tail, sync_every in cases:
        prob = probs[which]
        n = prob.n
        eps_f = prob.scale / (n + 1) if prob.integer else max(prob.c_range / (4.0 * n * n), A._EPS_FLOOR)
        sched = A._schedule(max(prob.c_range / 16.0, eps_f), eps_f, 5.0)
        ref = reference(prob, sched, max_rounds)
        st = {}
        perm, p, rounds, bids, conv = G.auction_cuda(prob, sched, max_rounds, tail=tail,
                                                     sync_every=sync_every, stats=st)
        where = (n, max_rounds, tail, sync_every)
        assert perm.tolist() == ref[0].tolist(), where
        assert np.array_equal(p, ref[1]), where  # bit-identical prices
        assert (bids, conv) == ref[3:], (where, bids, conv, ref[2:])
        if conv:
            assert rounds == ref[2], where
        else:
            assert rounds >= max_rounds, where  # the GPU also counts the rounds of the cut phase
        if tail == 0:
            assert st["tail_launches"] == 0
        if tail == n:
            assert st["multi_rounds_launched"] == 0 and st["tail_rounds"] > 0
        if 0 < tail < n and st["multi_rounds_launched"] and st["tail_rounds"]:
            seen.add("switch" if conv else "switch-cut")
        # host reads: one per phase start, one per sync_every rounds, one per tail launch
        assert st["host_reads"] <= 2 * len(sched) + -(-st["multi_rounds_launched"] // sync_every)
    assert seen == {"switch", "switch-cut"}, seen
    print("PATHS-OK")
    """
)


# (problem, max_rounds, tail, sync_every). tail=0: 3-kernel rounds only; tail=3: switch to the
# tail kernel mid-phase; tail=n: the tail kernel runs whole phases, with more free rows than its
# 3 simulator warps (rows-per-warp loop); max_rounds=3 cuts a phase (also across a switch)
_PATH_CASES = [(0, 10**6, 0, 4), (0, 10**6, 3, 2), (0, 10**6, 9, 1), (1, 10**6, 3, 1),
               (1, 3, 0, 1), (2, 3, 8, 2), (3, 10**6, 7, 1), (4, 10**6, 0, 2),
               (5, 10**6, 7, 1), (6, 10**6, 2, 2), (2, 10**6, 12, 1)]


def test_cuda_tail_kernel_and_multiblock_rounds_match_numpy_reference():
    """The persistent tail kernel, the 3-kernel rounds and the switch between them (mid-phase,
    and under max_rounds) give bit-identical prices, the same permutation, rounds and bids as
    ``_auction_phase_numpy`` for the same eps schedule (CUDA simulator; shuffles emulated)."""
    import json

    run_simulated(_PATHS_SCRIPT, json.dumps(_PATH_CASES), marker="PATHS-OK")


def test_cuda_auction_refuses_2_31_rows(monkeypatch):
    """The scans index columns with unsigned 32-bit integers: n >= 2^31 is refused up front."""
    import types

    from kantorovich.ot._kernels import auction_cuda as G

    monkeypatch.setattr(G, "_cuda", lambda: None)  # no GPU needed: the check comes first
    prob = types.SimpleNamespace(n=2**31, kind=0, x=np.zeros((1, 2)))
    with pytest.raises(ValueError, match=r"`M` / `x` must have fewer than 2\^31 rows"):
        G.auction_cuda(prob, [1.0], 10)


@pytest.mark.gpu
@pytest.mark.parametrize("n", [100, 1000])
def test_cuda_matches_cpu_on_gpu(n):
    from kantorovich.ot import assignment

    rng = np.random.default_rng(n)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    a = assignment(x=x, y=y, backend="cuda")
    b = assignment(x=x, y=y, backend="numba")
    assert a.exact and b.exact
    assert a.value == pytest.approx(b.value, rel=1e-9)


@pytest.mark.gpu
def test_cupy_inputs_return_cupy():
    import cupy

    from kantorovich.ot import assignment

    rng = np.random.default_rng(1)
    M = rng.random((200, 200))
    r = assignment(cupy.asarray(M))
    assert r.backend == "cuda" and isinstance(r.perm, cupy.ndarray)
    from scipy.optimize import linear_sum_assignment

    rr, cc = linear_sum_assignment(M)
    assert float(r.value) == pytest.approx(M[rr, cc].mean(), rel=1e-9)  # a CuPy 0-d array
