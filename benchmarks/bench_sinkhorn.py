"""Sinkhorn per iteration: our soft-min on the CPU, and the GPU runbook's cases; JSON with
medians and ratios.

CPU: the numba online soft-min (float64 and float32, default threads and 1 thread) at
n = 4000, d = 2, interleaved rounds, with the `uptime` load averages before and after; the
comparison with POT (``sinkhorn_log`` and kernel-space ``sinkhorn``) and OTT-JAX, values
checked first, is the ``sinkhorn_iter`` suite of ``kantorovich bench`` (docs/bench.md), run
into ``cpu.suites`` (and the targets read off it into ``cpu.vs_peers``). --gpu: per iteration
at n = m = 1e6 first, then vs POT sinkhorn_log with CuPy at n = 40000 (split into kernel time
and the rest, rows redone by the safe kernel per iteration, and the two soft-mins alone) and
OTT-JAX at 20000 (if importable), then the fused half-step throughput (cost entries/s) at
n = 2e4, 1e5, 1e6. --dense: the dense-cost CPU block only (numba dense vs numpy dense at
n = 1000, 4000; sinkhorn_dense.json).
"""

from __future__ import annotations

import warnings

import numpy as np
from _common import (Checkpoint, free_gpu_memory, gpu_present, one_thread, parser, time_cpu, time_gpu,
                     timed_once, write)


def _load() -> dict:
    """`uptime` load averages (1, 5, 15 min) and the core count: the machine is shared."""
    import os

    l1, l5, l15 = os.getloadavg()
    return {"load_1m": l1, "load_5m": l5, "load_15m": l15, "cpus": os.cpu_count()}


def ours_iteration(x, y, eps: float, dtype):
    """``(it, ops)``: ``it()`` runs one Sinkhorn iteration (two online half-steps of the numba
    backend, uniform weights, the previous output as the row shift, as `sinkhorn` runs them) on
    state it keeps; three iterations are run first. ``ops`` are the two operators."""
    from kantorovich.ot._kernels import softmin_numba

    n, m = x.shape[0], y.shape[0]
    la, lb = eps * np.log(np.full(n, 1 / n)), eps * np.log(np.full(m, 1 / m))
    opx = softmin_numba.OnlineSoftmin(x, y, 2.0, dtype=dtype)
    opy = softmin_numba.OnlineSoftmin(y, x, 2.0, dtype=dtype)
    st = {"f": np.zeros(n), "g": np.zeros(m)}

    def it():  # one iteration = two online half-steps
        st["f"] = opx(eps, st["g"] + lb)
        st["g"] = opy(eps, st["f"] + la)
    for _ in range(3):
        it()
    return it, (opx, opy)


def cpu_suites(quick: bool) -> dict:
    """``kantorovich bench sinkhorn_iter`` on the CPU (its results.json as a dict): 100
    iterations on the matrix and on the points against POT ``sinkhorn_log``, POT's
    kernel-space ``sinkhorn`` and OTT-JAX, values checked first (docs/bench.md)."""
    from kantorovich import bench

    return bench.run(["sinkhorn_iter"], quick=quick, device="cpu", peers=["pot", "ott"],
                     progress=False)


def _targets(suite: dict) -> dict:
    """The per-iteration targets of docs/performance.md read off the suite's largest n on the
    points (ours: the online soft-min): POT ``sinkhorn_log`` / ours and ours / POT kernel."""
    cases = [c for c in suite["cases"] if c["variant"] == "points"]
    if not cases:
        return {}
    c = max(cases, key=lambda c: c["n"])
    ratio = c["ratio"]
    return {"n": c["n"], "eps": c["params"]["eps"],
            "speedup_vs_pot_log": ratio.get("pot"),
            "ratio_to_pot_kernel": None if not ratio.get("pot-kernel") else 1 / ratio["pot-kernel"],
            "targets": {"speedup_vs_pot_log": ">= 50", "ratio_to_pot_kernel": "<= 1.5"}}


def cpu_cases(quick: bool) -> dict:
    """Per-iteration medians of our online soft-min at n = 4000 (quick: 1000), d = 2,
    eps = 0.01, uniform weights: the two stateful online operators of the numba backend (what
    `sinkhorn` runs: the previous output is the row shift), float64 and float32, default
    threads and 1 thread, interleaved in rounds so that load changes hit every one alike;
    plus the end-to-end `sinkhorn(..., backend="numba")` time per iteration. The peers are
    :func:`cpu_suites`.
    """
    import numba

    from kantorovich.ot import PointCloud, sinkhorn
    from kantorovich.ot._kernels import softmin_numba

    n = 1000 if quick else 4000
    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    eps = 0.01
    softmin_numba.warmup()
    it64, ops64 = ours_iteration(x, y, eps, np.float64)
    it32, ops32 = ours_iteration(x, y, eps, np.float32)
    threads = numba.get_num_threads()
    cases = {"ours_f64": it64, "ours_f32": it32, "ours_f64_1thread": one_thread(it64),
             "ours_f32_1thread": one_thread(it32)}
    samples = {k: [] for k in cases}
    load_before = _load()
    rounds = 3
    for _ in range(rounds):
        for k, fn in cases.items():
            samples[k].append(time_cpu(fn, repeat=5, warmup=1)["median_s"])
    med = {k: float(np.median(v)) for k, v in samples.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=1e-30: a fixed number of iterations, on purpose
        r64 = sinkhorn(None, None, PointCloud(x, y), eps=eps, max_iter=60, tol=1e-30, scaling=None,
                       backend="numba")
        r32 = sinkhorn(None, None, PointCloud(x, y), eps=eps, max_iter=60, tol=1e-30, scaling=None,
                       backend="numba", dtype=np.float32)
    fallback = {k: int(sum(o.n_fallback for o in ops)) for k, ops in (("f64", ops64), ("f32", ops32))}
    return {
        "n": n, "d": 2, "eps": eps, "numba_threads": threads, "numba_threading_layer": numba.threading_layer(),
        "load_before": load_before, "load_after": _load(), "rounds": rounds,
        "s_per_iter_median": med, "s_per_iter_rounds": samples,
        "ours_end_to_end_s_per_iter": {"float64": r64.info["time_per_iter_s"],
                                        "float32": r32.info["time_per_iter_s"]},
        "fallback_rows_after_warmup_iters": fallback,
        "entries_per_s_per_half_step": {k: n * n / (med[k] / 2) for k in med},
    }


def _kernel_seconds(solve, it) -> dict:
    """Seconds of each kind of soft-min launch (shift, finish, safe_masked, combine, safe) in
    one ``solve(it)``, from CUDA events around every launch (softmin_cupy.KERNEL_EVENTS)."""
    import cupy as cp

    from kantorovich.ot._kernels import softmin_cupy

    softmin_cupy.KERNEL_EVENTS = []
    try:
        solve(it)
        cp.cuda.Device().synchronize()
        out: dict = {}
        for kind, e0, e1 in softmin_cupy.KERNEL_EVENTS:
            out[kind] = out.get(kind, 0.0) + cp.cuda.get_elapsed_time(e0, e1) / 1e3
    finally:
        softmin_cupy.KERNEL_EVENTS = None
    return out


def _gpu_per_iter(x, y, lo: int = 4, hi: int = 14, repeat: int = 2, split: bool = False,
                  dtype=np.float32) -> dict:
    """Seconds per Sinkhorn iteration on the GPU: (t(hi) - t(lo)) / (hi - lo) of two solves with a
    fixed number of iterations (tol = 1e-30), so the set-up and the final value pass cancel; each
    solve returns host floats, i.e. it is synchronised. The solve runs in ``dtype`` (float32
    unless told: a PointCloud stores float32 points in float64 by default, and the runs before
    2026-12-07 timed that float64 solve against POT in float32). Also the solver's own
    ``info["time_per_iter_s"]`` of the longer solve (which includes that final pass), its rows
    redone by the safe kernel per iteration (``info["fallback_rows_per_iter"]``), launches and
    host reads. ``split``: the same difference of kernel time (CUDA events around each launch,
    in two more solves), per kind and in all, and the rest of the iteration (host work, launch
    gaps, synchronisations): ``s_per_iter - kernel_s_per_iter``."""
    from kantorovich.ot import PointCloud, sinkhorn

    def solve(it):
        r, t = timed_once(lambda: sinkhorn(None, None, PointCloud(x, y), eps=0.01, max_iter=it,
                                           tol=1e-30, scaling=None, dtype=dtype))
        return t, r

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fixed iteration counts on purpose
        assert solve(2)[1].info["dtype"] == str(np.dtype(dtype))  # kernels compiled (with_mean_cost too)
        t_lo = min(solve(lo)[0] for _ in range(repeat))
        t_hi, r = min((solve(hi) for _ in range(repeat)), key=lambda t: t[0])
        rec = {"s_per_iter": (t_hi - t_lo) / (hi - lo), "info_time_per_iter_s": r.info["time_per_iter_s"],
               "iters": [lo, hi], "value": r.value, "backend": r.backend, "dtype": r.info["dtype"]}
        for key in ("fallback_rows_per_iter", "fallback_rows_final_pass", "softmin_calls", "softmin_launches",
                    "error_reads"):
            rec[key] = r.info.get(key)
        if split:
            k_lo, k_hi = _kernel_seconds(solve, lo), _kernel_seconds(solve, hi)
            per = {kind: (k_hi.get(kind, 0.0) - k_lo.get(kind, 0.0)) / (hi - lo) for kind in k_hi}
            rec["kernel_s_per_iter_by_kind"] = per
            rec["kernel_s_per_iter"] = sum(per.values())
            rec["rest_s_per_iter"] = rec["s_per_iter"] - rec["kernel_s_per_iter"]
    return rec


def _ops_per_iter(x, y, eps: float = 0.01, iters: int = 20) -> dict:
    """The two CuPy soft-mins alone, as the loop calls them (alternating, uniform weights, the
    previous output as the shift), timed with CUDA events over ``iters`` iterations after three:
    what an iteration costs without the solver around it."""
    import cupy as cp

    from kantorovich.bench import measure
    from kantorovich.ot import PointCloud
    from kantorovich.ot import _sinkhorn as S

    n, m = x.shape[0], y.shape[0]
    fx, fy = S._ops_cupy_pointcloud(PointCloud(x, y), np.dtype(np.float32))
    elb = cp.full(m, eps * np.log(1 / m), dtype=cp.float32)
    ela = cp.full(n, eps * np.log(1 / n), dtype=cp.float32)
    st = {"g": cp.zeros(m, dtype=cp.float32)}

    def run():
        for _ in range(iters):
            f = fx(eps, st["g"] + elb)
            st["g"] = fy(eps, f + ela)
    run()
    t = measure(run, repeat=3, warmup=0, device="gpu")["median_s"] / iters
    fb = fx.fallback_rows()[1:] + fy.fallback_rows()[1:]  # after each operator's first (safe) call
    return {"s_per_iter": t, "fallback_rows_after_first": int(fb.sum()),
            "softmin_launches_per_iter": (fx.launches + fy.launches - 4) / (fx.calls - 1)}


def gpu_cases(quick: bool, ck) -> dict:
    """GPU cases, each recorded (or its error) and saved as soon as it ends."""
    import cupy as cp

    from kantorovich.ot._kernels import softmin_cupy

    out: dict = {"half_step": {}}
    ck.payload["gpu"] = out
    rng = np.random.default_rng(0)

    def half_step(n):
        x = cp.asarray(rng.random((n, 2)), dtype=cp.float32)
        y = cp.asarray(rng.random((n, 2)), dtype=cp.float32)
        h = cp.zeros(n, dtype=cp.float32)
        op = softmin_cupy.OnlineSoftmin(x, y, 2.0)
        op(0.01, h)  # safe kernel once: sets the shift
        t = time_gpu(lambda: op(0.01, h), repeat=5 if n >= 10**6 else 10)["median_s"]
        # rows redone by the safe kernel after the first call (which runs every row on it)
        rec = {"n": n, "s_per_half_step": t, "entries_per_s": n * n / t, "fallback_rows": op.n_fallback - n}
        op_safe = softmin_cupy.OnlineSoftmin(x, y, 2.0)

        def safe_call():  # no shift: the running-max kernel on every row (first call of a solve)
            op_safe.prev = None
            return op_safe(0.01, h)
        t_safe = time_gpu(safe_call, repeat=3)["median_s"]
        rec["safe_kernel_entries_per_s"] = n * n / t_safe
        # accuracy of the fast path against a float64 reference on a few rows
        rows = cp.arange(0, n, max(1, n // 64))
        xs, yh = cp.asnumpy(x[rows]).astype(np.float64), cp.asnumpy(y).astype(np.float64)
        ref = np.array([-0.01 * np.log(np.sum(np.exp(-((yh - xi) ** 2).sum(1) / 0.01))) for xi in xs])
        got = cp.asnumpy(op(0.01, h)[rows]).astype(np.float64)
        rec["max_abs_err_vs_f64_rows"] = float(np.max(np.abs(got - ref)))
        return rec

    def n_1e6(n=1000000):
        x = cp.asarray(rng.random((n, 2)), dtype=cp.float32)
        y = cp.asarray(rng.random((n, 2)), dtype=cp.float32)
        return _gpu_per_iter(x, y, lo=2, hi=5, repeat=1)

    # first: the per-iteration cases (the last run's 105 s part ended before n = 1e6 started)
    ck.case("n_1e6", n_1e6, into=out)
    out["n_1e6_s_per_iter"] = out["n_1e6"].get("s_per_iter")
    free_gpu_memory()

    def vs_pot(n=40000):
        xh, yh = rng.random((n, 2)), rng.random((n, 2))
        x, y = cp.asarray(xh, dtype=cp.float32), cp.asarray(yh, dtype=cp.float32)
        rec = {"n": n, "ours": _gpu_per_iter(x, y, split=True), "ours_ops_only": _ops_per_iter(x, y)}
        rec["ours_s_per_iter"] = rec["ours"]["s_per_iter"]
        # the former measurement (6.35 ms): the same solve in float64, PointCloud's default storage
        rec["ours_float64_s_per_iter"] = _gpu_per_iter(x, y, lo=4, hi=9, repeat=1, dtype=np.float64)["s_per_iter"]
        try:
            import ot as pot

            a = cp.full(n, 1 / n, dtype=cp.float32)
            M = pot.dist(x, y)
            t = time_gpu(lambda: pot.sinkhorn(a, a, M, reg=0.01, method="sinkhorn_log", numItermax=10,
                                              stopThr=0), repeat=3)["median_s"] / 10
            rec["pot_sinkhorn_log_cupy_s_per_iter"] = t
            rec["speedup_vs_pot_log"] = t / rec["ours_s_per_iter"]
        except Exception as exc:  # OOM or POT without CuPy support
            rec["pot_error"] = repr(exc)[:300]
        return rec

    ck.case("vs_pot_40000", vs_pot, into=out)
    free_gpu_memory()

    def vs_ott(n=20000):
        import jax
        import jax.numpy as jnp
        from ott.geometry import pointcloud
        from ott.problems.linear import linear_problem
        from ott.solvers.linear import sinkhorn as ott_sinkhorn

        xj = jnp.asarray(rng.random((n, 2)), dtype=jnp.float32)
        yj = jnp.asarray(rng.random((n, 2)), dtype=jnp.float32)
        iters = 100

        @jax.jit  # as a user runs OTT (and as the 2026-11-22 H100 anchor was measured): one compile
        def ott_solve(xj, yj):
            geom = pointcloud.PointCloud(xj, yj, epsilon=0.01)
            solver = ott_sinkhorn.Sinkhorn(max_iterations=iters, min_iterations=iters, threshold=0.0)
            out = solver(linear_problem.LinearProblem(geom))
            return out.f, out.n_iters

        def run():
            f, n_it = ott_solve(xj, yj)
            f.block_until_ready()
            return n_it

        n_it, t_compile = timed_once(run)  # trace + compile + first run
        n_it = int(n_it)
        t_ott = time_cpu(run, repeat=3, warmup=0)["median_s"] / max(1, n_it)  # wall clock: JAX syncs
        x, y = cp.asarray(np.asarray(xj)), cp.asarray(np.asarray(yj))
        ours = _gpu_per_iter(x, y)
        return {"n": n, "jax_devices": [str(d) for d in jax.devices()], "jax_version": jax.__version__,
                "ott_jitted": True, "ott_iterations": n_it, "ott_first_call_s": t_compile,
                "ott_s_per_iter": t_ott, "ours": ours, "ours_s_per_iter": ours["s_per_iter"],
                "speedup": t_ott / ours["s_per_iter"]}

    ck.case("vs_ott_20000", vs_ott, into=out)
    free_gpu_memory()

    # last: the half-step throughput (measured on 2026-12-06; the kernels changed only in
    # where the row and column constants are computed)
    for n in ([20000, 100000] if quick else [20000, 100000, 1000000]):
        ck.case(str(n), lambda: half_step(n), into=out["half_step"])
        free_gpu_memory()
    return out


# --------------------------------------------------------------------------------------------
# dense-cost CPU block (`--dense`, writes sinkhorn_dense.json): the numba dense soft-min
# --------------------------------------------------------------------------------------------

def _dense_one(n: int, eps: float, threads: int) -> dict:
    """One size of :func:`dense_cpu_cases`."""
    from kantorovich.ot import DenseGeometry, sinkhorn
    from kantorovich.ot import _sinkhorn as S

    rng = np.random.default_rng(0)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    a = np.full(n, 1 / n)
    lb = eps * np.log(a)

    def loop(ops_fn, dtype):
        wdt = np.dtype(dtype)
        sx, sy = ops_fn(DenseGeometry(M).astype(wdt), wdt)
        st = {"f": np.zeros(n, dtype=wdt), "g": np.zeros(n, dtype=wdt)}
        lbw = lb.astype(wdt)

        def it():  # one iteration = two soft-mins (alternating)
            st["f"] = sx(eps, st["g"] + lbw)
            st["g"] = sy(eps, st["f"] + lbw)
        it()
        return it

    nb64, nb32 = loop(S._ops_numba, np.float64), loop(S._ops_numba, np.float32)
    cases = {"ours_numba_f64": (nb64, 1), "ours_numba_f32": (nb32, 1),
             "ours_numba_f64_1thread": (one_thread(nb64), 1),
             "ours_numba_f32_1thread": (one_thread(nb32), 1),
             "ours_numpy_dense_f64": (loop(S._ops_numpy, np.float64), 1)}
    slow = {"ours_numpy_dense_f64"}
    samples = {k: [] for k in cases}
    load_before = _load()
    rounds = 3
    for _ in range(rounds):
        for k, (fn, per) in cases.items():
            t = time_cpu(fn, repeat=1 if k in slow else 5, warmup=0 if k in slow else 1)["median_s"]
            samples[k].append(t / per)
    load_after = _load()
    med = {k: float(np.median(v)) for k, v in samples.items()}
    e2e, e2e_threads = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=1e-30: a fixed number of iterations, on purpose
        for dt in (np.float64, np.float32):
            r = sinkhorn(None, None, M, eps=eps, max_iter=200 if n <= 1000 else 60, tol=1e-30, scaling=None,
                         backend="numba", dtype=dt)
            e2e[str(np.dtype(dt))] = r.info["time_per_iter_s"]
            e2e_threads[str(np.dtype(dt))] = {str(k): v for k, v in r.info["numba_thread_calls"].items()}
    ours = [k for k in med if k.startswith("ours_numba")]
    return {
        "n": n, "load_before": load_before, "load_after": load_after, "rounds": rounds,
        "s_per_iter_median": med, "s_per_iter_rounds": samples,
        "ours_end_to_end_s_per_iter": e2e, "ours_end_to_end_softmin_calls_per_thread_count": e2e_threads,
        "speedup_vs_numpy_dense": {k: med["ours_numpy_dense_f64"] / med[k] for k in ours},
    }


def dense_cpu_cases(quick: bool) -> dict:
    """Dense cost on the CPU: per-iteration medians at n = 1000 and 4000 (quick: 1000), d = 2
    points in the unit square, M their squared Euclidean costs, eps = 0.01 absolute, uniform
    weights.

    Ours: the two numba dense soft-min operators exactly as ``sinkhorn(a, b, M,
    backend="numba")`` builds them (``_ops_numba``: row soft-min and the row-major column
    soft-min, previous output as the shift), float64 and float32, default threads and 1
    thread; the numpy dense reference (``_ops_numpy``); and the end-to-end ``sinkhorn`` time per
    iteration. Interleaved rounds, medians, 1-minute load before and after. The peers on the
    same kind of M (POT ``sinkhorn_log`` and kernel-space ``sinkhorn``, OTT-JAX) are the
    ``sinkhorn_iter`` suite of ``kantorovich bench`` (:func:`cpu_suites`).
    """
    import numba

    from kantorovich.ot._kernels import softmin_numba_dense

    softmin_numba_dense.warmup()
    threads = numba.get_num_threads()
    eps = 0.01
    return {"eps": eps, "d": 2, "numba_threads": threads, "numba_threading_layer": numba.threading_layer(),
            "sizes": [_dense_one(n, eps, threads) for n in ([1000] if quick else [1000, 4000])]}


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--dense", action="store_true",
                    help="only the dense-cost CPU block (numba dense vs numpy dense); sinkhorn_dense.json")
    args = ap.parse_args()
    if args.dense:
        payload = {"cpu_dense": dense_cpu_cases(args.quick), "note": "CPU timings on a shared machine are noisy"}
        write("sinkhorn_dense" + ("_quick" if args.quick else ""), args.out, payload)
        return
    ck = Checkpoint("sinkhorn", args.out)
    payload = ck.payload
    payload["cpu"] = "skipped (--gpu-only)"
    if not args.gpu_only:
        payload["cpu"] = {}
        ck.case("ours", lambda: cpu_cases(args.quick), into=payload["cpu"])
        suite = ck.case("suites", lambda: cpu_suites(args.quick), into=payload["cpu"])
        if "cases" in suite:
            payload["cpu"]["vs_peers"] = _targets(suite)
    payload["note"] = "CPU timings on a shared machine are noisy"
    ck.save()
    if args.gpu:
        if gpu_present():
            gpu_cases(args.quick, ck)
        else:
            payload["gpu"] = {"skipped": "no GPU"}
    ck.done()


if __name__ == "__main__":
    main()
