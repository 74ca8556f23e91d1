"""The backward pass of a converged Sinkhorn solve against one Sinkhorn iteration.

The target (docs/gradients.md, Cost): the backward pass of a converged solve costs at most
the time of two soft-min half-steps (one Sinkhorn iteration). Point clouds n = m, d = 2,
float64, eps = 0.1, uniform weights; medians of 5.

    python benchmarks/bench_grad.py [--quick] [--gpu | --gpu-only] [--out DIR]

Per case:
- ``iteration_s``: two online soft-min half-steps (numba on the CPU, the CuPy kernels on the
  GPU), the previous output as the row shift, as `sinkhorn` runs them;
- ``half_step_s`` (GPU): one online soft-min half-step (the shift kernel), the floor's unit;
- ``grad_x_s``, ``grad_xy_s``: the envelope pass over the pairs (``pointcloud_grads``) for x,
  for x and y, from the converged potentials (on the CPU: x and y from one fused numba pass,
  one exp per pair; on the GPU: the fused kernel of ``kantorovich.ot._kernels.grad_cupy``,
  one pass per side; ``grad_xy_f32_s``: the same with float32 points, the float32 kernel);
- ``backward_xy_s``: the whole torch ``sinkhorn(...).objective.backward()`` for x and y (a
  fresh solve before each, not timed; on the GPU: torch CUDA tensors, synchronised; not at
  n = 100 000, where the six solves would exceed the budget);
- ``backward_div_xy_s`` (CPU): the same for ``sinkhorn_divergence(...).value.backward()``,
  three OT terms, so three passes over n x n pairs (target: 3 iterations of one OT term);
- ``*_over_iteration``, ``*_over_half_step``: the ratios (target: ``grad_xy_over_iteration``
  and ``backward_xy_over_iteration`` <= 1, i.e. at most two half-steps; the GPU kernel's floor
  is one half-step per side, ~1.16 at D = 2 by its instruction count, docs/gradients.md; the
  CPU's fused pass has one exp per pair for both sides, about one half-step).
CPU: n = 2000 (quick: 1000); GPU: n = 2000, 20 000 and 100 000 (last: a time-out keeps the
others). Timings are never assertions.
"""

from __future__ import annotations

import os
import statistics

import numpy as np

from _common import Checkpoint, gpu_present, parser, time_cpu, time_gpu, timed_once

EPS = 0.1


def _problem(n: int):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0


def _torch_backward(x, y, device, sync, divergence=False) -> float:
    """Median over 5 fresh solves of the time of ``objective.backward()`` for x and y
    (``divergence``: of ``sinkhorn_divergence(...).value.backward()``)."""
    import torch

    from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence

    times = []
    for _ in range(6):  # the first: warm-up (kernel compilation)
        xt = torch.tensor(x, device=device, requires_grad=True)
        yt = torch.tensor(y, device=device, requires_grad=True)
        if divergence:
            obj = sinkhorn_divergence(None, None, PointCloud(xt, yt), eps=EPS).value
        else:
            obj = sinkhorn(None, None, PointCloud(xt, yt), eps=EPS).objective
        sync()
        times.append(timed_once(lambda obj=obj: (obj.backward(), sync()))[1])
    return statistics.median(times[1:])


def _ratios(rec: dict) -> dict:
    for k in ("grad_x_s", "grad_xy_s", "grad_xy_f32_s", "backward_xy_s", "backward_div_xy_s"):
        if k in rec:
            rec[k[:-2] + "_over_iteration"] = rec[k] / rec["iteration_s"]
            if "half_step_s" in rec:
                rec[k[:-2] + "_over_half_step"] = rec[k] / rec["half_step_s"]
    return rec


def cpu_case(n: int) -> dict:
    from bench_sinkhorn import ours_iteration

    from kantorovich._autodiff import pointcloud_grads
    from kantorovich.ot import PointCloud, sinkhorn

    x, y = _problem(n)
    it, _ = ours_iteration(x, y, EPS, np.float64)
    r = sinkhorn(None, None, PointCloud(x, y), eps=EPS)
    a = b = np.full(n, 1.0 / n)
    rec = {"n": n, "solve_iterations": r.n_iter, "load_1m_before": os.getloadavg()[0]}
    rec["iteration_s"] = time_cpu(it)["median_s"]
    rec["grad_x_s"] = time_cpu(lambda: pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0,
                                                        need_y=False))["median_s"]
    rec["grad_xy_s"] = time_cpu(lambda: pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0))["median_s"]
    rec["backward_xy_s"] = _torch_backward(x, y, "cpu", lambda: None)
    rec["backward_div_xy_s"] = _torch_backward(x, y, "cpu", lambda: None, divergence=True)
    rec["load_1m_after"] = os.getloadavg()[0]
    return _ratios(rec)


def gpu_case(n: int) -> dict:
    import cupy as cp
    import torch

    from kantorovich._autodiff import pointcloud_grads
    from kantorovich.ot import PointCloud, sinkhorn
    from kantorovich.ot._kernels import softmin_cupy

    xh, yh = _problem(n)
    x, y = cp.asarray(xh), cp.asarray(yh)
    lw = EPS * cp.log(cp.full(n, 1.0 / n))
    opx, opy = softmin_cupy.OnlineSoftmin(x, y, 2.0), softmin_cupy.OnlineSoftmin(y, x, 2.0)
    st = {"f": cp.zeros(n), "g": cp.zeros(n)}

    def it():  # one iteration = two online half-steps
        st["f"] = opx(EPS, st["g"] + lw)
        st["g"] = opy(EPS, st["f"] + lw)

    def half():  # one half-step (the shift kernel once the first call has set the shift)
        st["f"] = opx(EPS, st["g"] + lw)

    r = sinkhorn(None, None, PointCloud(x, y), eps=EPS)
    a = b = cp.full(n, 1.0 / n)
    rec = {"n": n, "solve_iterations": r.n_iter, "backend": r.backend}
    rec["iteration_s"] = time_gpu(it, repeat=5)["median_s"]
    rec["half_step_s"] = time_gpu(half, repeat=5)["median_s"]
    rec["grad_x_s"] = time_gpu(lambda: pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0,
                                                        need_y=False), repeat=5)["median_s"]
    rec["grad_xy_s"] = time_gpu(lambda: pointcloud_grads(x, y, a, b, r.f, r.g, r.eps, 2.0),
                                repeat=5)["median_s"]
    x32, y32 = x.astype(cp.float32), y.astype(cp.float32)
    rec["grad_xy_f32_s"] = time_gpu(lambda: pointcloud_grads(x32, y32, a, b, r.f, r.g, r.eps, 2.0),
                                    repeat=5)["median_s"]
    if n <= 20000:  # six more solves: ~4 s each at 1e5, beyond the grad part's budget
        rec["backward_xy_s"] = _torch_backward(xh, yh, "cuda", torch.cuda.synchronize)
    return _ratios(rec)


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    ck = Checkpoint("bench_grad", args.out)
    if args.gpu_only:
        ck.payload["cpu"] = "skipped (--gpu-only)"
    else:
        ck.payload["cpu"] = {}
        n = 1000 if args.quick else 2000
        ck.case(str(n), lambda: cpu_case(n), into=ck.payload["cpu"])
    if args.gpu:
        if gpu_present():
            ck.payload["gpu"] = {}
            for n in (2000, 20000, 100000):
                ck.case(str(n), lambda n=n: gpu_case(n), into=ck.payload["gpu"])
        else:
            ck.payload["gpu"] = "skipped: no CUDA GPU with CuPy"
    ck.payload["note"] = ("CPU timings on a shared 2-core machine are noisy (load averages recorded). "
                          "The target: the *_over_iteration ratios <= 1.")
    ck.done()


if __name__ == "__main__":
    main()
