"""Benchmark: kNN KL estimation, kantorovich's backends (auto / numba KD-tree / cKDTree /
numba brute-force) and the bootstrap, on the CPU; with --gpu, the CuPy tiled brute-force
backend at n = 1e5, d = 10.

N(0, I) vs N(0.5 1, 1.5 I); medians of 7 runs; the bootstrap (200 replicates of 10^4 terms)
also timed alone; 1-minute load average before and after each case. The comparison with the
peers (universal-divergence, and the same estimator written on scipy's cKDTree), values
checked first, is the ``knn`` suite of ``kantorovich bench`` (docs/bench.md): without
--gpu-only this script runs it into the JSON's ``cpu_suites`` entry.
"""

from __future__ import annotations

import math
import os

import numpy as np

from _common import Checkpoint, gpu_present, parser, time_cpu, time_gpu, timed_once


def cpu_suites(quick: bool) -> dict:
    """``kantorovich bench knn`` on the CPU (its results.json as a dict)."""
    from kantorovich import bench

    return bench.run(["knn"], quick=quick, device="cpu",
                     peers=["universal-divergence", "scipy"], progress=False)


def main():
    args = parser(__doc__).parse_args()
    from kantorovich.divergences import estimate_kl
    from kantorovich.divergences._estimators import _bootstrap_means

    g = np.random.default_rng(0)
    cases = [(10000, 2), (10000, 5), (10000, 10)] if not args.quick else [(2000, 2), (2000, 10)]
    big = [] if args.quick else [(100000, 10)]
    rows = []
    for n, d in ([] if args.gpu_only else cases + big):
        x = g.normal(size=(n, d))
        y = 0.5 + math.sqrt(1.5) * g.normal(size=(n, d))
        if n > 10000:  # one timed run per backend (tens of seconds on 2 cores)
            for search in ("brute", "kdtree"):
                estimate_kl(x[:2000], y[:2000], k=5, n_boot=0, backend="numba", knn_search=search)  # JIT warm
            load0 = os.getloadavg()[0]
            t_auto = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=0), repeat=1, warmup=0)
            t_brute = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=0, backend="numba", knn_search="brute"),
                               repeat=1, warmup=0)
            rows.append({"n": n, "d": d, "ours_auto_no_bootstrap_s": t_auto["median_s"],
                         "auto_backend": "{backend}/{knn_search}".format(**estimate_kl(x[:50], y[:50], n_boot=0).info),
                         "ours_numba_brute_no_bootstrap_s": t_brute["median_s"],
                         "loadavg_1min_before": load0, "loadavg_1min_after": os.getloadavg()[0],
                         "note": "scipy cKDTree at this size: 60 s (2026-11-22, one run, not rerun)"})
            print(rows[-1], flush=True)
            continue
        rep = 7
        load0 = os.getloadavg()[0]
        ours = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=200, rng=0), repeat=rep)
        ours_nb = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=0), repeat=rep)
        kd_nb = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=0, backend="numba", knn_search="kdtree"), repeat=rep)
        tree_nb = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=0, backend="numpy"), repeat=rep)
        numba_nb = time_cpu(lambda: estimate_kl(x, y, k=5, n_boot=0, backend="numba", knn_search="brute"),
                            repeat=rep)
        terms = np.log(np.abs(x[:, 0]) + 1.0)
        boot = time_cpu(lambda: _bootstrap_means([terms], [1.0], 0.0, 200, 0.95, np.random.default_rng(0)),
                        repeat=rep)
        row = {"n": n, "d": d, "ours_s": ours["median_s"], "ours_min_s": ours["min_s"],
               "ours_no_bootstrap_s": ours_nb["median_s"],
               "auto_backend": estimate_kl(x, y, n_boot=0).info["backend"],
               "numba_kdtree_backend_no_bootstrap_s": kd_nb["median_s"],
               "tree_backend_no_bootstrap_s": tree_nb["median_s"],
               "numba_backend_no_bootstrap_s": numba_nb["median_s"],
               "bootstrap_200_only_s": boot["median_s"],
               "value_ours": estimate_kl(x, y, k=5, n_boot=0).value}
        row["loadavg_1min_before"] = load0
        row["loadavg_1min_after"] = os.getloadavg()[0]
        rows.append(row)
        print(row, flush=True)
    ck = Checkpoint("bench_estimators", args.out, {"setup": "N(0,I) vs N(0.5 1, 1.5 I), k = 5", "cpu": rows,
                                                   "gpu": {}})
    ck.save()
    if not args.gpu_only:
        ck.case("cpu_suites", lambda: cpu_suites(args.quick))
    if args.gpu:
        if not gpu_present():
            ck.payload["gpu"] = {"skipped": "no GPU"}
        else:
            data = {}

            def gpu_case():
                import cupy as cp

                n, d = (100000, 10) if not args.quick else (20000, 10)
                data["x"] = xh = g.normal(size=(n, d))
                data["y"] = yh = 0.5 + math.sqrt(1.5) * g.normal(size=(n, d))
                x, y = cp.asarray(xh), cp.asarray(yh)
                t = time_gpu(lambda: estimate_kl(x, y, k=5, n_boot=0, backend="cuda"), repeat=3, warmup=1)
                return {"n": n, "d": d, "cuda_s": t["median_s"], "cuda_min_s": t["min_s"],
                        "value_cuda": estimate_kl(x, y, k=5, n_boot=0, backend="cuda").value}

            def cpu_same_data():  # the same data on this host's CPU (auto backend)
                v, t = timed_once(lambda: estimate_kl(data["x"], data["y"], k=5, n_boot=0).value)
                rec = ck.payload["gpu"]
                return {"value_cpu": v, "cpu_auto_s": t, "cpu_count": os.cpu_count(),
                        "abs_diff_cuda_cpu": abs(rec["value_cuda"] - v)}

            if "error" not in ck.case("gpu", gpu_case):
                ck.case("cpu_same_data", cpu_same_data, into=ck.payload["gpu"])
    ck.done()


if __name__ == "__main__":
    main()
