"""Sinkhorn per iteration on the CPU against OTT-JAX, GeomLoss and POT, same process, JSON.

Problem: n = m points uniform in the unit square (d = 2), uniform weights, cost |x - y|^2 (no
1/2), eps = 0.01; float64 and float32; n = 4000 and 10000 (--quick: 1000). One iteration is two
soft-min half-steps over the n x m costs for every library:

* ours: the numba backend's two online half-steps (``bench_sinkhorn.ours_iteration``: what
  ``sinkhorn(..., backend="numba")`` runs, O(n + m) memory), median of 5 after one warm-up;
* OTT-JAX: ``Sinkhorn(min_iterations = max_iterations = K, threshold = 0)`` on a
  ``PointCloud(x, y, epsilon=eps)`` (its dense log-domain path), jit-compiled; per iteration =
  (t(K2) - t(K1)) / (K2 - K1), so compilation, the cost matrix and the final cost cancel;
* GeomLoss: ``SamplesLoss("sinkhorn", p=2, blur=sqrt(eps/2), debias=False,
  backend="tensorized")`` (GeomLoss's cost is |x - y|^2 / 2 with eps = blur^2, the same problem);
  it runs one iteration per value of its eps-schedule, so two ``scaling`` values give two
  iteration counts and the per-iteration time is the difference quotient as for OTT
  (at n = 10^4: OTT K = 10 and 30, GeomLoss scaling 0.5 and 0.8, one timed solve each per round);
* POT ``sinkhorn_log`` (numpy), 2 iterations (it takes seconds per iteration).

Timings of the libraries are interleaved in rounds (3), medians over rounds; torch uses as many
threads as there are cores, JAX/XLA its default CPU thread pool, numba its default. Also the
dual objective <a, f> + <b, g> of each library after convergence at n = 1000 (float64), as a
check that all solve the same problem. The peers are optional: a missing one is recorded as
skipped. (They are heavy: torch is several GB; see docs/sinkhorn.md for how they were installed
beside the project without touching its environment.)
"""

from __future__ import annotations

import math
import os
import time
import warnings

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import numpy as np  # noqa: E402
from _common import Checkpoint, parser, time_cpu  # noqa: E402
from bench_sinkhorn import _load, ours_iteration  # noqa: E402

EPS = 0.01


def _jax():
    import jax

    jax.config.update("jax_enable_x64", True)  # float64 arrays when asked for (float32 stay float32)
    return jax


def ott_timer(x, y, dtype):
    """``per_iter()`` for OTT-JAX: seconds per iteration by the difference of two fixed-K solves."""
    jax = _jax()
    import jax.numpy as jnp
    from ott.geometry import pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    xj, yj = jnp.asarray(x, dtype=dtype), jnp.asarray(y, dtype=dtype)

    def solver(K):
        s = ott_sinkhorn.Sinkhorn(max_iterations=K, min_iterations=K, threshold=0.0)

        @jax.jit
        def f(x, y):
            out = s(linear_problem.LinearProblem(pointcloud.PointCloud(x, y, epsilon=EPS)))
            return out.reg_ot_cost, out.n_iters
        return f

    big = x.shape[0] * y.shape[0] > 2e7  # fewer and shorter solves at n = 10^4 (seconds each)
    K1, K2 = (10, 30) if big else (10, 60)
    reps = 1 if big else 3
    f1, f2 = solver(K1), solver(K2)
    n_it = [int(f(xj, yj)[1]) for f in (f1, f2)]  # compiles

    def run(f):
        def go():
            jax.block_until_ready(f(xj, yj))
        return go

    def per_iter():
        t1 = time_cpu(run(f1), repeat=reps, warmup=1)["median_s"]
        t2 = time_cpu(run(f2), repeat=reps, warmup=1)["median_s"]
        return (t2 - t1) / (n_it[1] - n_it[0])
    return per_iter, {"ott_iterations": n_it, "jax_devices": [str(d) for d in jax.devices()]}


def geomloss_timer(x, y, dtype):
    """``per_iter()`` for GeomLoss (tensorized): difference quotient over two eps-schedules."""
    import torch
    from geomloss import SamplesLoss
    from geomloss._legacy.sinkhorn_divergence import epsilon_schedule

    torch.set_num_threads(os.cpu_count() or 1)
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    xt, yt = torch.as_tensor(x, dtype=tdt), torch.as_tensor(y, dtype=tdt)
    blur, diam = math.sqrt(EPS / 2), 1.5
    big = x.shape[0] * y.shape[0] > 2e7
    s1, s2 = (0.5, 0.8) if big else (0.5, 0.95)
    reps = 1 if big else 3
    k = [len(epsilon_schedule(2, diam, blur, s)) for s in (s1, s2)]

    def run(scaling):
        loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, diameter=diam, debias=False,
                           backend="tensorized")

        def go():
            with torch.no_grad():
                return float(loss(xt, yt))
        return go

    g1, g2 = run(s1), run(s2)
    g1()

    def per_iter():
        t1 = time_cpu(g1, repeat=reps, warmup=0)["median_s"]
        t2 = time_cpu(g2, repeat=reps, warmup=0)["median_s"]
        return (t2 - t1) / (k[1] - k[0])
    return per_iter, {"geomloss_iterations": k, "torch_threads": torch.get_num_threads(),
                      "blur": blur, "diameter": diam}


def pot_timer(x, y, dtype):
    import ot as pot

    n, m = x.shape[0], y.shape[0]
    a, b = np.full(n, 1 / n, dtype=dtype), np.full(m, 1 / m, dtype=dtype)
    M = pot.dist(x, y).astype(dtype)

    def go():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pot.sinkhorn(a, b, M, reg=EPS, method="sinkhorn_log", numItermax=2, stopThr=0)

    def per_iter():
        return time_cpu(go, repeat=1, warmup=0)["median_s"] / 2
    return per_iter, {}


def ours_timer(x, y, dtype):
    it, ops = ours_iteration(x, y, EPS, dtype)

    def per_iter():
        return time_cpu(it, repeat=5, warmup=1)["median_s"]
    return per_iter, {}


def one_size(n: int, dtype, rounds: int, with_pot: bool) -> dict:
    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    timers, info, skipped = {}, {}, {}
    makers = {"ours": ours_timer, "ott_jax": ott_timer, "geomloss": geomloss_timer}
    if with_pot:
        makers["pot_sinkhorn_log"] = pot_timer
    for name, make in makers.items():
        try:
            timers[name], extra = make(x, y, dtype)
            info.update(extra)
        except ImportError as exc:
            skipped[name] = f"not importable: {exc}"
    samples = {k: [] for k in timers}
    load0 = _load()
    for _ in range(rounds):
        for k, per_iter in timers.items():
            samples[k].append(per_iter())
    med = {k: float(np.median(v)) for k, v in samples.items()}
    return {"n": n, "d": 2, "eps": EPS, "dtype": np.dtype(dtype).name, "rounds": rounds,
            "s_per_iter_median": med, "s_per_iter_rounds": samples, "skipped": skipped, **info,
            "entries_per_s_per_half_step": {k: n * n / (v / 2) for k, v in med.items()},
            "peer_over_ours": {k: v / med["ours"] for k, v in med.items() if k != "ours"},
            "load_before": load0, "load_after": _load()}


def agreement(n: int = 1000) -> dict:
    """Dual objective <a, f> + <b, g> after convergence (float64), ours vs OTT-JAX vs GeomLoss."""
    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(1)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    r = sinkhorn(None, None, PointCloud(x, y), eps=EPS, tol=1e-10, max_iter=100_000, backend="numba")
    ours = float(np.mean(r.f) + np.mean(r.g))
    out = {"n": n, "ours_dual": ours, "ours_iterations": int(r.n_iter), "ours_converged": bool(r.converged)}
    try:
        jax = _jax()
        import jax.numpy as jnp
        from ott.geometry import pointcloud
        from ott.problems.linear import linear_problem
        from ott.solvers.linear import sinkhorn as ott_sinkhorn

        geom = pointcloud.PointCloud(jnp.asarray(x), jnp.asarray(y), epsilon=EPS)
        o = ott_sinkhorn.Sinkhorn(threshold=1e-10, max_iterations=100_000)(linear_problem.LinearProblem(geom))
        # OTT's potentials carry the log-weights (P = exp((f + g - C) / eps)): ours = theirs - eps log(a b)
        v = float(jnp.mean(o.f) + jnp.mean(o.g)) - 2 * EPS * math.log(1 / n)
        out.update(ott_dual=v, ott_reg_ot_cost=float(o.reg_ot_cost), ott_converged=bool(o.converged),
                   ott_rel_diff=abs(v - ours) / abs(ours))
        del jax
    except ImportError as exc:
        out["ott"] = f"skipped: {exc}"
    try:
        import torch
        from geomloss import SamplesLoss

        loss = SamplesLoss("sinkhorn", p=2, blur=math.sqrt(EPS / 2), scaling=0.99, diameter=1.5,
                           debias=False, potentials=True, backend="tensorized")
        with torch.no_grad():
            f, g = loss(torch.as_tensor(x), torch.as_tensor(y))
        v = 2.0 * float(f.mean() + g.mean())  # GeomLoss solves cost/2 at eps/2: potentials are halved
        out.update(geomloss_dual=v, geomloss_rel_diff=abs(v - ours) / abs(ours),
                   geomloss_note="fixed eps-schedule (scaling 0.99), no convergence test")
    except ImportError as exc:
        out["geomloss"] = f"skipped: {exc}"
    return out


def versions() -> dict:
    """Versions of the libraries compared (None where not importable)."""
    import importlib

    out = {}
    for mod in ("numba", "ot", "jax", "ott", "torch", "geomloss"):
        try:
            out[mod] = getattr(importlib.import_module(mod), "__version__", "?")
        except ImportError:
            out[mod] = None
    return out


def main():
    args = parser(__doc__).parse_args()
    sizes = [1000] if args.quick else [4000, 10000]
    ck = Checkpoint("bench_sinkhorn_peers_cpu", args.out,
                    {"setup": "uniform unit square, d = 2, |x-y|^2, eps = 0.01, per iteration = two half-steps",
                     "versions": versions()})
    ck.case("agreement_float64", agreement)
    for n in sizes:
        for dtype in (np.float64, np.float32):
            name = f"n{n}_{np.dtype(dtype).name}"
            ck.case(name, lambda n=n, dtype=dtype: one_size(n, dtype, rounds=3,
                                                             with_pot=(n <= 4000 and dtype == np.float64)))
            print(name, ck.payload[name].get("s_per_iter_median"), ck.payload[name].get("peer_over_ours"),
                  flush=True)
    ck.done()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s")
