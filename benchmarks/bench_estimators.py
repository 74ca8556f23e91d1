"""Benchmark: kNN KL estimation, kantorovich's backends (auto / numba KD-tree / cKDTree /
numba brute-force) and the bootstrap, on the CPU; with --gpu, the CuPy tiled brute-force
backend at n = 1e5, d = 10.

N(0, I) vs N(0.5 1, 1.5 I); medians of 7 runs; the bootstrap (200 replicates of 10^4 terms)
also timed alone; 1-minute load average before and after each case. The comparison with the
peers (universal-divergence, and the same estimator written on scipy's cKDTree), values
checked first, is the ``knn`` suite of ``kantorovich bench`` (docs/bench.md): without
--gpu-only this script runs it into the JSON's ``cpu_suites`` entry. With --gpu, the CuPy
backend at n = 1e5, d = 10: the fused top-K kernel alone and one search with its float64
re-rank (x-x and x-y), then ``estimate_kl`` end to end with ``method="knn"`` (2 searches) and
the default (``"knn-gauss-corrected"`` at d = 10: 2 (1 + n_reference) = 10 searches).
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

            def gpu_case():  # the data, on the device
                import cupy as cp

                n, d = (100000, 10) if not args.quick else (20000, 10)
                data["x"] = xh = g.normal(size=(n, d))
                data["y"] = yh = 0.5 + math.sqrt(1.5) * g.normal(size=(n, d))
                data["xd"], data["yd"] = cp.asarray(xh), cp.asarray(yh)
                return {"n": n, "d": d, "k": 5}

            def gpu_kernel():  # the fused top-K kernel alone, and one search (+ float64 re-rank)
                from kantorovich.divergences import _knn_cuda_kernel as KN

                x, y = data["xd"], data["yd"]
                rec = {}
                for name, q, r, same in (("xx", x, x, True), ("xy", x, y, False)):
                    s = KN.prepare(q, r, 13, same=same)  # kk = k + 8 as knn_positive_cuda
                    kern = s.kernel()
                    t = time_gpu(lambda s=s, kern=kern: s.launch(kern), repeat=5, warmup=1)
                    ts = time_gpu(lambda q=q, r=r, same=same: KN.knn_fused(q, r, 13, same=same),
                                  repeat=3, warmup=1)
                    pairs = q.shape[0] * r.shape[0]
                    rec[name] = {"kernel_s": t["median_s"], "kernel_min_s": t["min_s"],
                                 "search_s": ts["median_s"], "pairs_per_s": pairs / t["median_s"],
                                 "K": s.K, "splits": s.ns}
                    for a in ("num_regs", "local_size_bytes"):  # RawKernel / Function attributes
                        try:
                            rec[name][a] = int(getattr(kern._fn, a))
                        except Exception:
                            pass
                return rec

            def gpu_totals():  # estimate_kl end to end: the default method and the plain one
                x, y = data["xd"], data["yd"]
                rec = {}
                for key, method in (("knn", "knn"), ("auto", "auto")):
                    t = time_gpu(lambda method=method: estimate_kl(x, y, k=5, n_boot=0, backend="cuda",
                                                                    method=method, rng=0), repeat=3, warmup=1)
                    # rng = 0: the default method's Gaussian references, the same as on the CPU
                    r = estimate_kl(x, y, k=5, n_boot=0, backend="cuda", method=method, rng=0)
                    # "knn-gauss-corrected" (auto from d = 3) searches 1 + n_reference pairs of clouds
                    searches = 2 * (1 + int(r.info.get("n_reference", 0)))
                    rec[key] = {"total_s": t["median_s"], "total_min_s": t["min_s"], "value": r.value,
                                "method": r.method, "knn_searches": searches}
                # the keys earlier runs wrote (the default method, end to end)
                rec.update(cuda_s=rec["auto"]["total_s"], cuda_min_s=rec["auto"]["total_min_s"],
                           value_cuda=rec["auto"]["value"])
                return rec

            def cpu_same_data():  # the same data on this host's CPU (auto backend)
                v, t = timed_once(lambda: estimate_kl(data["x"], data["y"], k=5, n_boot=0, rng=0).value)
                rec = ck.payload["gpu"]["totals"]
                return {"value_cpu": v, "cpu_auto_s": t, "cpu_count": os.cpu_count(),
                        "abs_diff_cuda_cpu": abs(rec["value_cuda"] - v)}

            if "error" not in ck.case("gpu", gpu_case):
                gpu = ck.payload["gpu"]
                ck.case("kernel", gpu_kernel, into=gpu)
                if "error" not in ck.case("totals", gpu_totals, into=gpu):
                    ck.case("cpu_same_data", cpu_same_data, into=gpu)
    ck.done()


if __name__ == "__main__":
    main()
