"""1-D and sliced Wasserstein: kantorovich against scipy, POT and the sort floor, one run.

CPU (float64): n = 1e7 (``--quick``: 1e6) equal-size samples, unweighted and weighted:
``kantorovich.ot.wasserstein_1d`` (auto backend = numba fused pass; also the numpy
backend), two numpy sorts (the floor: ``np.sort(x); np.sort(y)``),
``scipy.stats.wasserstein_distance`` and POT's ``ot.wasserstein_1d``. Ratios:
peer / ours (speed-up) and ours / two sorts (overhead over the floor). The whole CPU set
is repeated ``--rounds`` times (default 3; the machine is shared) and the medians of the
per-round ratios are reported, with the load average (``os.getloadavg``) around each case.

GPU (``--gpu``, CuPy, float32): n = 1e8 (``--quick``: 1e7) against two CuPy sorts; sliced W
with 1000 projections of 1e5 points in 3-D (and POT's ``sliced_wasserstein_distance`` on
CuPy arrays as a peer when POT is importable).

    python benchmarks/bench_wasserstein_1d.py [--quick] [--gpu] [--rounds R] [--out DIR]
"""

from __future__ import annotations

import os
import statistics

import numpy as np
from _common import Checkpoint, free_gpu_memory, gpu_present, parser, time_cpu, time_gpu


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _one_round(x, y, a, b, quick: bool) -> dict:
    """Every CPU timing once per case, in the same process on the same data."""
    import ot as pot
    from scipy import stats

    from kantorovich.ot import wasserstein_1d

    slow = dict(repeat=1 if not quick else 3, warmup=0)
    out: dict = {}
    for label, (uw, vw) in {"unweighted": (None, None), "weighted": (a, b)}.items():
        res: dict = {"load_avg_before": _load()}
        vals: dict = {}
        res["two_numpy_sorts"] = time_cpu(lambda: (np.sort(x), np.sort(y)), repeat=3)
        vals["kantorovich_numba"] = float(wasserstein_1d(x, y, uw, vw, backend="numba"))
        res["kantorovich_numba"] = time_cpu(lambda: wasserstein_1d(x, y, uw, vw, backend="numba"), repeat=3)
        vals["kantorovich_numpy"] = float(wasserstein_1d(x, y, uw, vw, backend="numpy"))
        res["kantorovich_numpy"] = time_cpu(lambda: wasserstein_1d(x, y, uw, vw, backend="numpy"), repeat=3)
        vals["scipy"] = float(stats.wasserstein_distance(x, y, uw, vw))
        res["scipy"] = time_cpu(lambda: stats.wasserstein_distance(x, y, uw, vw), **slow)
        # POT expects weights that sum to 1 (it does not normalise): give it normalised ones
        pu = None if uw is None else uw / uw.sum()
        pv = None if vw is None else vw / vw.sum()
        vals["pot"] = float(pot.wasserstein_1d(x, y, pu, pv, p=1))
        res["pot"] = time_cpu(lambda: pot.wasserstein_1d(x, y, pu, pv, p=1), **slow)
        res["load_avg_after"] = _load()
        ours = res["kantorovich_numba"]["median_s"]
        out[label] = {
            "times": res,
            "values": vals,
            "max_rel_diff_vs_scipy": max(abs(v - vals["scipy"]) / abs(vals["scipy"]) for v in vals.values()),
            "speedup_vs_scipy": res["scipy"]["median_s"] / ours,
            "speedup_vs_pot": res["pot"]["median_s"] / ours,
            "ours_over_two_sorts": ours / res["two_numpy_sorts"]["median_s"],
            "numpy_backend_over_two_sorts": res["kantorovich_numpy"]["median_s"] / res["two_numpy_sorts"]["median_s"],
            "scipy_over_two_sorts": res["scipy"]["median_s"] / res["two_numpy_sorts"]["median_s"],
        }
        print(label, {k: round(v, 3) for k, v in out[label].items() if isinstance(v, float)}, _load(), flush=True)
    return out


RATIOS = ("speedup_vs_scipy", "speedup_vs_pot", "ours_over_two_sorts", "numpy_backend_over_two_sorts",
          "scipy_over_two_sorts")


def cpu_cases(quick: bool, rounds: int) -> dict:
    import ot as pot

    from kantorovich.ot import sliced_wasserstein

    n = 10**6 if quick else 10**7
    rng = np.random.default_rng(0)
    x = rng.normal(size=n)
    y = rng.standard_t(5, size=n) + 0.5
    a = rng.random(n)
    b = rng.random(n)
    out: dict = {"n": n, "rounds": rounds, "load_avg_start": _load()}
    runs = []
    for r in range(rounds):
        print(f"round {r + 1}/{rounds}", flush=True)
        runs.append(_one_round(x, y, a, b, quick))
    for label in ("unweighted", "weighted"):
        per = [run[label] for run in runs]
        out[label] = {
            "median_over_rounds": {k: statistics.median(p[k] for p in per) for k in RATIOS},
            "median_times_s": {k: statistics.median(p["times"][k]["median_s"] for p in per)
                               for k in per[0]["times"] if not k.startswith("load")},
            "max_rel_diff_vs_scipy": max(p["max_rel_diff_vs_scipy"] for p in per),
            "rounds": per,
        }
    # sliced on the CPU, a smaller case than the GPU one (2 shared cores)
    L, m = (100, 10_000) if quick else (200, 100_000)
    X = rng.normal(size=(m, 3))
    Y = rng.normal(size=(m, 3)) * 1.3 + 0.2
    t = time_cpu(lambda: sliced_wasserstein(X, Y, n_projections=L, rng=0), repeat=3)
    tp = time_cpu(lambda: pot.sliced_wasserstein_distance(X, Y, n_projections=L, seed=0), repeat=1 if not quick else 3)
    out["sliced_cpu"] = {"n_points": m, "d": 3, "n_projections": L, "kantorovich": t, "pot": tp,
                         "speedup_vs_pot": tp["median_s"] / t["median_s"]}
    print("sliced_cpu", out["sliced_cpu"]["speedup_vs_pot"], flush=True)
    out["load_avg_end"] = _load()
    return out


def gpu_cases(quick: bool, ck: Checkpoint) -> dict:
    """GPU cases, each recorded (or its error) and saved as soon as it ends."""
    import cupy

    from kantorovich.ot import sliced_wasserstein, wasserstein_1d

    n = 10**7 if quick else 10**8
    g = cupy.random.default_rng(0)
    out: dict = {"n": n, "dtype": "float32"}
    ck.payload["gpu"] = out
    data: dict = {}

    def unweighted():
        x = data["x"] = g.standard_normal(n, dtype=cupy.float32)
        y = data["y"] = g.standard_normal(n, dtype=cupy.float32) * 1.5 + 0.3
        floor = data["floor"] = time_gpu(lambda: (cupy.sort(x), cupy.sort(y)))
        ours = time_gpu(lambda: wasserstein_1d(x, y))
        val = float(wasserstein_1d(x, y))
        ref = float(cupy.mean(cupy.abs(cupy.sort(x).astype(cupy.float64) - cupy.sort(y).astype(cupy.float64))))
        return {"two_cupy_sorts": floor, "kantorovich": ours, "value": val, "reference_value": ref,
                "rel_diff": abs(val - ref) / ref, "ours_over_two_sorts": ours["median_s"] / floor["median_s"]}

    def weighted():
        x, y = data["x"], data["y"]
        a = g.random(n, dtype=cupy.float64)
        w = time_gpu(lambda: wasserstein_1d(x, y, a), repeat=5)
        return {"kantorovich": w, "ours_over_two_sorts": w["median_s"] / data["floor"]["median_s"]}

    ck.case("unweighted", unweighted, into=out)
    ck.case("weighted_u", weighted, into=out)
    data.clear()
    free_gpu_memory()
    L, m = (1000, 10**5)
    X = g.standard_normal((m, 3), dtype=cupy.float32)
    Y = g.standard_normal((m, 3), dtype=cupy.float32) * 1.3 + 0.2

    def sliced():
        sw = data["sw"] = time_gpu(lambda: sliced_wasserstein(X, Y, n_projections=L, rng=0), repeat=5)
        return {"n_points": m, "d": 3, "n_projections": L, "kantorovich": sw,
                "value": float(sliced_wasserstein(X, Y, n_projections=L, rng=0))}

    def sliced_pot():  # POT missing on the GPU machine, or its CuPy backend failing: recorded
        import ot as pot

        tp = time_gpu(lambda: pot.sliced_wasserstein_distance(X, Y, n_projections=L, seed=0), repeat=5)
        return {"pot": tp, "speedup_vs_pot": tp["median_s"] / data["sw"]["median_s"]}

    ck.case("sliced_gpu", sliced, into=out)
    ck.case("sliced_gpu_pot", sliced_pot, into=out)
    return out


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rounds", type=int, default=3, help="repeat the whole CPU set; medians over rounds")
    args = ap.parse_args()
    ck = Checkpoint("bench_wasserstein_1d", args.out)
    payload = ck.payload
    payload["cpu"] = "skipped (--gpu-only)" if args.gpu_only else cpu_cases(args.quick, args.rounds)
    ck.save()
    if args.gpu:
        if gpu_present():
            gpu_cases(args.quick, ck)
        else:
            payload["gpu"] = "skipped: no CUDA GPU with CuPy"
    payload["note"] = ("CPU timings on a shared 2-core machine (other engineers' jobs running: see the load "
                       "averages) are noisy. Each round times every method on the same data in the same process "
                       "(ours/numpy/sorts: median of 3; scipy/POT: one run at full size); ratios are per round, "
                       "then the median over rounds.")
    ck.done()


if __name__ == "__main__":
    main()
