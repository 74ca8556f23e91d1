"""The batched Sinkhorn on the GPU: one launch, one thread block per problem
(kantorovich.ot._kernels.sinkhorn_batch_cuda).

* Under the CUDA simulator (a subprocess, so that NUMBA_ENABLE_CUDASIM is set before numba.cuda
  is imported), with ``backend="cuda"`` on host arrays: the kernel against a Python loop of
  single calls to 1e-12 (iteration counts equal), and, with the re-solve of extrapolated
  problems switched off on both sides, against the CPU batch's generic kernel that it
  transcribes (same counts, same extrapolation decisions, potentials to 1e-12).
* Which batches take the kernel (no GPU needed).
* float32 (the soft-mins in float32): against the float64 results to float32's rounding.
* On a GPU (``gpu`` marker): CuPy and torch CUDA batches against the loop of single GPU calls.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from kantorovich.ot import PointCloud, sinkhorn

from ..cudasim_support import run_simulated

_COMMON = textwrap.dedent(
    """
    import numpy as np
    from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence

    def loop(a, b, geom, nb, **kw):
        def w(v, q):
            return None if v is None else (v[q] if np.ndim(v) == 2 else v)
        return [sinkhorn(w(a, q), w(b, q), geom(q), **kw) for q in range(nb)]

    def agree(r, rs, label):
        for q, s in enumerate(rs):
            # the potentials come out of -eps (max + log sum): their rounding scales with eps
            # too (at eps = 5e3 the CPU batch and the single solver differ by ~9e-12)
            scale = max(1.0, float(np.abs(s.f).max()), float(np.abs(s.g).max()), r.eps)
            assert r.n_iter[q] == s.n_iter, (label, q, r.n_iter, s.n_iter)
            assert bool(r.converged[q]) == s.converged, (label, q)
            assert np.abs(r.f[q] - s.f).max() <= 1e-12 * scale, (label, q)
            assert np.abs(r.g[q] - s.g).max() <= 1e-12 * scale, (label, q)
            assert abs(r.value[q] - s.value) <= 1e-12 * max(1.0, abs(s.value)), (label, q)
            assert abs(r.objective[q] - s.objective) <= 1e-12 * max(1.0, abs(s.objective)), label
            # the marginal error (of the returned pair, also when not converged): potentials
            # off by d = 1e-12 * scale move its exponents by 2 d / eps, so it by ~that x (1 + e)
            e = s.marginal_error
            assert abs(r.marginal_error[q] - e) <= 4e-12 * scale / r.eps * (1.0 + e), (label, q)
        assert r.backend == "cuda_batch", r.backend
        assert r.info["engine"] == "CUDA kernel, one thread block per problem"
        assert r.info["gpu"]["launches"] == 1 and r.info["gpu"]["device"] == "cuda-simulator"
        print(label, "ok", list(r.n_iter), list(r.info["single_solver_problems"]))
    """
)

_SCRIPT = _COMMON + textwrap.dedent(
    """
    import kantorovich.ot._sinkhorn_batch as SB

    rng = np.random.default_rng(1)
    # point clouds, d = 2, p = 2: n = 11 rows wrap around the simulator's 4-thread block
    B, n, m = 3, 11, 6
    x, y = rng.random((B, n, 2)), rng.random((B, m, 2))
    r = sinkhorn(None, None, PointCloud(x[:2], y[:2]), eps=0.05, backend="cuda")
    agree(r, loop(None, None, lambda q: PointCloud(x[q], y[q]), 2, eps=0.05), "pointcloud")
    # float32 (the soft-mins in float32): float32's rounding, against the float64 loop
    r32 = sinkhorn(None, None, PointCloud(x[:2], y[:2]), eps=0.05, backend="cuda",
                   dtype=np.float32, tol=1e-5)
    assert r32.info["dtype"] == "float32" and r32.info["gpu"]["soft_min_dtype"] == "float32"
    assert r32.converged.all() and r32.info["gpu"]["launches"] == 1
    for q in range(2):
        assert abs(r32.value[q] - r.value[q]) <= 1e-6, (q, r32.value[q], r.value[q])
        assert np.abs(r32.f[q] - r.f[q]).max() <= 1e-5
    assert sinkhorn(None, None, PointCloud(x[:1], y[:1]), eps=0.05, backend="cuda",
                    dtype=np.float32, max_iter=3).info["tol"] == 1e-3  # the float32 default
    # more threads than rows and columns, as on a GPU (32-128 threads for problems of any
    # size up to that): 8-thread blocks on 5 x 3 problems, idle threads in every stage
    import kantorovich.ot._kernels.sinkhorn_batch_cuda as K

    threads, K.threads_for = K.threads_for, lambda n, m: 8
    xs, ys = rng.random((2, 5, 2)), rng.random((2, 3, 2))
    r = sinkhorn(None, None, PointCloud(xs, ys), eps=0.05, backend="cuda")
    K.threads_for = threads
    assert r.info["gpu"]["threads_per_block"] == 8
    agree(r, loop(None, None, lambda q: PointCloud(xs[q], ys[q]), 2, eps=0.05), "idle threads")
    # dense costs, weights (B, n) with a zero weight and shared b (m,); problem 1 jumps
    rng = np.random.default_rng(30)
    a = rng.random((2, 9)); a[0, 3] = 0.0; a /= a.sum(axis=1, keepdims=True)
    b = rng.random(6); b /= b.sum()
    M = rng.random((2, 9, 6))

    # the kernel itself against the CPU batch's generic kernel it transcribes, the re-solve of
    # extrapolated problems switched off on both sides: the same decisions, to rounding
    SB._redo = SB._redo_gpu = lambda *args, **kw: None
    g = sinkhorn(a, b, M, eps=0.1, backend="cuda")
    c = sinkhorn(a, b, M, eps=0.1, backend="numpy")
    assert c.info["kernel_soft_min"] == "two-pass dense log-sum-exp"
    assert np.array_equal(g.n_iter, c.n_iter), (g.n_iter, c.n_iter)
    assert np.array_equal(g.info["extrapolated"], c.info["extrapolated"])
    assert g.info["extrapolated"].any()  # a jump is exercised
    assert np.abs(g.f - c.f).max() <= 1e-12 and np.abs(g.g - c.g).max() <= 1e-12
    assert np.abs(g.value - c.value).max() <= 1e-12
    print("CUDASIM-OK")
    """
)

_SCRIPT_MORE = _COMMON + textwrap.dedent(
    """
    rng = np.random.default_rng(1)
    B, n, m = 3, 11, 6
    rng.random((B, n, 2)), rng.random((B, m, 2))
    a = rng.random((B, n)); a[0, 3] = 0.0; a /= a.sum(axis=1, keepdims=True)
    b = rng.random(m); b /= b.sum()
    M = rng.random((B, n, m))  # the default test's dense batch, solved through the public path
    r = sinkhorn(a, b, M, eps=0.02, backend="cuda")
    agree(r, loop(a, b, lambda q: M[q], B, eps=0.02), "dense")
    rng = np.random.default_rng(2)
    x, y = rng.random((2, 5, 3)), rng.random((2, 7, 3))
    for p in (1, 1.5):
        r = sinkhorn(None, None, PointCloud(x, y, cost=p), eps=0.1, backend="cuda")
        agree(r, loop(None, None, lambda q: PointCloud(x[q], y[q], cost=p), 2, eps=0.1),
              f"p = {p}")
    r = sinkhorn(None, None, PointCloud(x, x), eps=0.1, backend="cuda", symmetric=True)
    agree(r, loop(None, None, lambda q: PointCloud(x[q], x[q]), 2, eps=0.1, symmetric=True),
          "symmetric")
    # eps above 1e3 max|C|: the primal objective's sums
    r = sinkhorn(None, None, PointCloud(x, y), eps=5e3, backend="cuda")
    agree(r, loop(None, None, lambda q: PointCloud(x[q], y[q]), 2, eps=5e3), "large eps")
    # a problem stopped by max_iter (not converged) beside a converged one
    r = sinkhorn(None, None, PointCloud(x, y), eps=0.002, backend="cuda", max_iter=25)
    agree(r, loop(None, None, lambda q: PointCloud(x[q], y[q]), 2, eps=0.002, max_iter=25),
          "max_iter")
    d = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.1, backend="cuda")
    for q in range(2):
        s = sinkhorn_divergence(None, None, PointCloud(x[q], y[q]), eps=0.1)
        assert abs(d.value[q] - s.value) <= 1e-12, (q, d.value[q], s.value)
    # idle threads (16-thread blocks, 12 x 9 problems) through the annealing and the tail
    # extrapolation: the CPU batch's generic kernel's decisions, the re-solves switched off
    import kantorovich.ot._kernels.sinkhorn_batch_cuda as K
    import kantorovich.ot._sinkhorn_batch as SB

    K.threads_for = lambda n, m: 16
    SB._redo = SB._redo_gpu = lambda *args, **kw: None
    rng = np.random.default_rng(1)
    x, y = rng.random((2, 12, 2)), rng.random((2, 9, 2))
    M = ((x[:, :, None] - y[:, None]) ** 2).sum(-1)
    a = rng.random((2, 12)); a /= a.sum(axis=1, keepdims=True)
    g = sinkhorn(a, None, M, eps=0.005, backend="cuda")
    c = sinkhorn(a, None, M, eps=0.005, backend="numpy")
    assert np.array_equal(g.n_iter, c.n_iter), (g.n_iter, c.n_iter)
    assert g.info["extrapolated"].all() and c.info["extrapolated"].all()
    assert np.abs(g.f - c.f).max() <= 1e-12 and np.abs(g.value - c.value).max() <= 1e-12
    print("CUDASIM-OK")
    """
)


def _run_simulated(script: str) -> str:
    return run_simulated(script, marker="CUDASIM-OK", warnings_as_errors=True)


def test_batch_kernel_under_simulator():
    _run_simulated(_SCRIPT)


@pytest.mark.slow
def test_batch_kernel_under_simulator_more_cases():
    _run_simulated(_SCRIPT_MORE)


@pytest.mark.parametrize(
    "case, expected",
    [
        ({}, np.float64),
        ({"dtype": np.float64}, np.float64),
        ({"dtype": np.float32}, np.float32),  # the soft-mins in float32
        ({"plan": True}, None),
        ({"progress": True}, None),
        ({"f0": np.zeros(4)}, None),
        ({"backend": "numba"}, None),
        ({"n": 1025}, None),  # the shared c h holds at most 1024 entries
        ({"n": 1024, "m": 1025}, None),
        ({"n": 1024, "m": 1024}, np.float64),
    ],
)
def test_which_batches_take_the_gpu_kernel(case, expected):
    from kantorovich.ot._sinkhorn_batch import _gpu_kernel_dtype

    n, m = case.pop("n", 4), case.pop("m", 3)
    pc = PointCloud(np.zeros((2, n, 1)), np.zeros((2, m, 1)))
    kw = {"backend": "cuda", "dtype": None, "plan": False, "progress": False, "f0": None,
          "g0": None, **case}
    got = _gpu_kernel_dtype(pc, False, kw["backend"], kw["dtype"], kw["plan"], kw["progress"],
                            kw["f0"], kw["g0"])
    assert got == (None if expected is None else np.dtype(expected))
    # host input with backend="auto" stays on the CPU; numpy float32 with backend="cuda" is a
    # float64 solve, as for the single solver
    assert _gpu_kernel_dtype(pc, False, "auto", None, False, False, None, None) is None
    pc32 = PointCloud(np.zeros((2, 4, 1), np.float32), np.zeros((2, 3, 1), np.float32))
    assert _gpu_kernel_dtype(pc32, False, "cuda", None, False, False, None, None) == np.float64


def test_gpu_data_without_numba_cuda_runs_the_single_solver_per_problem(monkeypatch):
    import kantorovich.ot._sinkhorn_batch as SB

    pc = PointCloud(np.zeros((2, 4, 1)), np.zeros((2, 3, 1)))
    monkeypatch.setattr(SB, "_NUMBA_CUDA", [False])
    assert SB._gpu_kernel_dtype(pc, True, "auto", None, False, False, None, None) is None
    assert SB._gpu_kernel_dtype(pc, True, "cuda", None, False, False, None, None) == np.float64
    monkeypatch.setattr(SB, "_NUMBA_CUDA", [True])
    assert SB._gpu_kernel_dtype(pc, True, "auto", None, False, False, None, None) == np.float64


def test_a_callable_cost_batch_is_refused_before_any_kernel():
    with pytest.raises(ValueError, match="named costs only"):
        PointCloud(np.zeros((2, 3, 1)), np.zeros((2, 3, 1)), cost=lambda u, v: abs(u - v))


# ------------------------------------------------------------------------------ on a GPU

@pytest.mark.gpu
def test_cupy_batch_is_one_launch_and_agrees_with_the_loop():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(3)
    B, n, m = 64, 40, 33
    x, y = cp.asarray(rng.random((B, n, 2))), cp.asarray(rng.random((B, m, 2)))
    r = sinkhorn(None, None, PointCloud(x, y), eps=0.05)
    assert r.backend == "cuda_batch" and r.info["gpu"]["launches"] == 1
    assert isinstance(r.f, cp.ndarray) and r.f.shape == (B, n) and r.g.shape == (B, m)
    for q in range(0, B, 7):
        s = sinkhorn(None, None, PointCloud(x[q], y[q]), eps=0.05)
        assert r.n_iter[q] == s.n_iter
        assert float(cp.abs(r.f[q] - s.f).max()) <= 1e-12
        assert abs(r.value[q] - s.value) <= 1e-12
    M = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
    d = sinkhorn(None, None, M, eps=0.05)
    assert d.backend == "cuda_batch"
    assert np.abs(d.value - r.value).max() <= 1e-12
    from kantorovich.ot import sinkhorn_divergence

    sd = sinkhorn_divergence(None, None, PointCloud(x[:4], y[:4]), eps=0.05)
    assert sd.ot_ab.backend == "cuda_batch"
    for q in range(4):
        s = sinkhorn_divergence(None, None, PointCloud(x[q], y[q]), eps=0.05)
        assert abs(sd.value[q] - s.value) <= 1e-12


@pytest.mark.gpu
def test_float32_gpu_batch_runs_the_float32_kernel():
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(4)
    x = cp.asarray(rng.random((3, 20, 2)), dtype=cp.float32)
    y = cp.asarray(rng.random((3, 15, 2)), dtype=cp.float32)
    r = sinkhorn(None, None, PointCloud(x, y), eps=0.05, tol=1e-5)
    assert r.backend == "cuda_batch" and r.info["dtype"] == "float32"
    assert r.info["gpu"]["soft_min_dtype"] == "float32" and r.converged.all()
    r64 = sinkhorn(None, None, PointCloud(x, y), eps=0.05, dtype=np.float64, tol=1e-5)
    assert r64.info["dtype"] == "float64"
    assert float(cp.abs(r.value.astype(cp.float64) - cp.asarray(r64.value)).max()) <= 1e-5


@pytest.mark.gpu
def test_torch_cuda_batch():
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for torch")
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.random((8, 30, 2)), device="cuda")
    y = torch.tensor(rng.random((8, 25, 2)), device="cuda")
    r = sinkhorn(None, None, PointCloud(x, y), eps=0.05)
    assert r.f.device.type == "cuda"
    s = sinkhorn(None, None, PointCloud(x.cpu().numpy(), y.cpu().numpy()), eps=0.05)
    assert np.abs(r.value.cpu().numpy() - s.value).max() <= 1e-12
    # the batch's gradients on the device against the host's (docs/gradients.md, "Batches")
    xg = x.clone().requires_grad_()
    sinkhorn(None, None, PointCloud(xg, y), eps=0.05, tol=1e-10).objective.sum().backward()
    xh = x.cpu().clone().requires_grad_()
    sinkhorn(None, None, PointCloud(xh, y.cpu()), eps=0.05, tol=1e-10).objective.sum().backward()
    assert xg.grad.device.type == "cuda"
    assert float((xg.grad.cpu() - xh.grad).abs().max()) <= 1e-10
