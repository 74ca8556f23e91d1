"""1-D and sliced Wasserstein: the GPU runbook's cases, and on the CPU the sort floor.

CPU (float64): the comparison with scipy and POT is the ``wasserstein_1d`` and ``sliced``
suites of ``kantorovich bench`` (docs/bench.md), run here into the JSON's ``cpu.suites``. What
is not a comparison with a peer stays here: ``kantorovich.ot.wasserstein_1d`` (numba fused pass
and numpy backend) against two numpy sorts (the floor: ``np.sort(x); np.sort(y)``) at n = 1e7
(``--quick``: 1e6) equal-size samples, unweighted and weighted, interleaved, the whole set
repeated ``--rounds`` times (default 3; the machine is shared) with the medians of the
per-round ratios and the load average (``os.getloadavg``) around each round.

GPU (``--gpu``, CuPy, float32): n = 1e8 (``--quick``: 1e7) against two CuPy sorts; sliced W
with 1000 projections of 1e5 points in 3-D (and POT's ``sliced_wasserstein_distance`` on
CuPy arrays as a peer when POT is importable).

    python benchmarks/bench_wasserstein_1d.py [--quick] [--gpu] [--rounds R] [--out DIR]
"""

from __future__ import annotations

import os
import statistics

import numpy as np
from _common import (Checkpoint, agreement, free_gpu_memory, gpu_present, interleaved, parser,
                     time_gpu)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _one_round(x, y, a, b) -> dict:
    """Ours (both backends) and the two sorts, interleaved, on the same data."""
    from kantorovich.ot import wasserstein_1d

    out: dict = {}
    for label, (uw, vw) in {"unweighted": (None, None), "weighted": (a, b)}.items():
        load0 = _load()
        fns = {"two_numpy_sorts": lambda: (np.sort(x), np.sort(y)),
               "kantorovich_numba": lambda: wasserstein_1d(x, y, uw, vw, backend="numba"),
               "kantorovich_numpy": lambda: wasserstein_1d(x, y, uw, vw, backend="numpy")}
        res = {"load_avg_before": load0, **interleaved(fns, rounds=3, warmup=1),
               "load_avg_after": _load()}
        vals = {k: float(wasserstein_1d(x, y, uw, vw, backend=k.split("_")[1]))
                for k in ("kantorovich_numba", "kantorovich_numpy")}
        floor = res["two_numpy_sorts"]["median_s"]
        out[label] = {
            "times": res, "values": vals,
            "numba_vs_numpy_backend": agreement(vals["kantorovich_numba"],
                                                vals["kantorovich_numpy"], 1e-9),
            "ours_over_two_sorts": res["kantorovich_numba"]["median_s"] / floor,
            "numpy_backend_over_two_sorts": res["kantorovich_numpy"]["median_s"] / floor,
        }
        print(label, {k: round(v, 3) for k, v in out[label].items() if isinstance(v, float)},
              _load(), flush=True)
    return out


RATIOS = ("ours_over_two_sorts", "numpy_backend_over_two_sorts")


def cpu_suites(quick: bool) -> dict:
    """``kantorovich bench wasserstein_1d sliced`` on the CPU against scipy and POT (its
    results.json as a dict)."""
    from kantorovich import bench

    return bench.run(["wasserstein_1d", "sliced"], quick=quick, device="cpu",
                     peers=["scipy", "pot"], progress=False)


def cpu_cases(quick: bool, rounds: int) -> dict:
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
        runs.append(_one_round(x, y, a, b))
    for label in ("unweighted", "weighted"):
        per = [run[label] for run in runs]
        out[label] = {
            "median_over_rounds": {k: statistics.median(p[k] for p in per) for k in RATIOS},
            "median_times_s": {k: statistics.median(p["times"][k]["median_s"] for p in per)
                               for k in per[0]["times"] if not k.startswith("load")},
            "rounds": per,
        }
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
    payload["cpu"] = "skipped (--gpu-only)"
    if not args.gpu_only:
        payload["cpu"] = {}
        ck.case("sort_floor", lambda: cpu_cases(args.quick, args.rounds), into=payload["cpu"])
        ck.case("suites", lambda: cpu_suites(args.quick), into=payload["cpu"])
    ck.save()
    if args.gpu:
        if gpu_present():
            gpu_cases(args.quick, ck)
        else:
            payload["gpu"] = "skipped: no CUDA GPU with CuPy"
    payload["note"] = ("CPU timings on a shared 2-core machine (other jobs running: see the load averages) "
                       "are noisy. sort_floor: each round times ours (both backends) and the two sorts "
                       "interleaved on the same data (medians of 3); ratios are per round, then the median "
                       "over rounds. suites: kantorovich bench wasserstein_1d sliced (scipy, POT).")
    ck.done()


if __name__ == "__main__":
    main()
