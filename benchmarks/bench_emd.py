"""Exact OT: POT's ot.emd2 vs kantorovich's certified emd (overhead of the certificate), and
scipy's linear_sum_assignment, on n uniform points in the unit square, squared Euclidean cost,
uniform weights (an assignment problem: all three solve the same LP).

    python benchmarks/bench_emd.py [--quick] [--out DIR]

POT and emd are timed alternately in ABBA order (POT, emd, emd, POT, ...) so that load changes on a shared
machine hit both alike; medians and minima are reported, and the overhead is computed from
both. The breakdown of emd's time (validation / solver / certificate) comes from its own
``info`` timings. --gpu adds nothing here: the exact GPU solver is the auction's benchmark.
"""

from __future__ import annotations

import statistics
import time

import numpy as np
from _common import parser, time_cpu, write


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.gpu_only:
        print("bench_emd has no GPU cases (the GPU exact solver is benchmarked by bench_auction.py)")
        return
    import ot as pot
    from scipy.optimize import linear_sum_assignment
    from scipy.spatial.distance import cdist

    from kantorovich.ot import emd

    sizes = [200, 500] if args.quick else [500, 1000, 2000]
    repeat = 5 if args.quick else 8
    rows = []
    for n in sizes:
        rng = np.random.default_rng(n)
        x, y = rng.random((n, 2)), rng.random((n, 2))
        M = cdist(x, y, "sqeuclidean")
        u = np.full(n, 1.0 / n)
        # warm-up (imports, first-call costs)
        v_pot = float(pot.emd2(u, u, M, numItermax=10**7))
        r = emd(None, None, M)
        t_pot, t_emd, parts = [], [], {"validate_seconds": [], "solve_seconds": [],
                                       "certify_seconds": []}
        def run_pot(M=M, u=u, t_pot=t_pot):
            t0 = time.perf_counter()
            pot.emd2(u, u, M, numItermax=10**7)
            t_pot.append(time.perf_counter() - t0)

        def run_emd(M=M, t_emd=t_emd, parts=parts):
            t0 = time.perf_counter()
            res = emd(None, None, M)
            t_emd.append(time.perf_counter() - t0)
            for k in parts:
                parts[k].append(res.info[k])
            return res

        for i in range(repeat):   # ABBA order: neither solver always runs first
            if i % 2 == 0:
                run_pot()
                r = run_emd()
            else:
                r = run_emd()
                run_pot()
        lsa = {}

        def run_lsa(M=M, lsa=lsa):
            rr, cc = linear_sum_assignment(M)
            lsa["value"] = float(M[rr, cc].mean())

        t_lsa = time_cpu(run_lsa, repeat=repeat, warmup=1)
        med_pot, med_emd = statistics.median(t_pot), statistics.median(t_emd)
        row = {
            "n": n,
            "pot_emd2_median_s": med_pot, "pot_emd2_min_s": min(t_pot),
            "kantorovich_emd_median_s": med_emd, "kantorovich_emd_min_s": min(t_emd),
            "overhead_pct_median": 100.0 * (med_emd / med_pot - 1.0),
            "overhead_pct_min": 100.0 * (min(t_emd) / min(t_pot) - 1.0),
            "emd_breakdown_median_s": {k: statistics.median(v) for k, v in parts.items()},
            "certificate_share_pct": 100.0 * statistics.median(
                [(va + ce) / tot for va, ce, tot in zip(parts["validate_seconds"],
                                                        parts["certify_seconds"], t_emd)]),
            "scipy_lsa_median_s": t_lsa["median_s"],
            "ratio_emd_over_lsa": med_emd / t_lsa["median_s"],
            "values": {"pot": v_pot, "emd": r.value, "lsa": lsa["value"]},
            "max_rel_value_diff": max(abs(r.value - v_pot), abs(r.value - lsa["value"]))
            / abs(v_pot),
            "emd_certified": r.certified, "emd_duality_gap": r.duality_gap,
            "emd_dual_violation": r.dual_violation,
        }
        rows.append(row)
        print(f"n={n}: POT {med_pot:.4f} s, emd {med_emd:.4f} s "
              f"(overhead {row['overhead_pct_median']:+.1f}% median, "
              f"{row['overhead_pct_min']:+.1f}% min; validate+certify "
              f"{row['certificate_share_pct']:.1f}% of emd), scipy LSA {t_lsa['median_s']:.4f} s",
              flush=True)
    write("bench_emd", args.out, {
        "description": "POT ot.emd2 vs certified kantorovich.ot.emd vs scipy "
                       "linear_sum_assignment; uniform points in [0,1]^2, squared Euclidean "
                       "cost, uniform weights; CPU, single thread; shared noisy machine",
        "quick": args.quick,
        "rows": rows,
    })


if __name__ == "__main__":
    main()
