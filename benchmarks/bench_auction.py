"""Exact assignment: kantorovich auction (numba CPU; numba-cuda GPU with --gpu) against POT emd2
and scipy linear_sum_assignment, in the same run. Uniform points in the unit square, squared
Euclidean cost, n = m, uniform weights. Every solver's value is checked against POT (1e-9 rel).

    python benchmarks/bench_auction.py [--quick] [--gpu] [--big] [--out DIR]
"""

from __future__ import annotations

import numpy as np

from _common import Checkpoint, agreement, gpu_present, parser, time_cpu, timed_once


def _problem(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return x, y, M


def main():
    ap = parser(__doc__)
    ap.add_argument("--big", action="store_true", help="also n = 8000 on the CPU (POT ~12-25 s)")
    args = ap.parse_args()
    import ot as pot
    from scipy.optimize import linear_sum_assignment

    from kantorovich.ot import assignment

    sizes = [250, 500, 1000] if args.quick else [1000, 2000, 4000] + ([8000] if args.big else [])
    assignment(np.random.default_rng(0).random((20, 20)))  # JIT warm-up (cached kernels)
    assignment(x=np.random.default_rng(0).random((20, 2)), y=np.random.default_rng(1).random((20, 2)))
    rows = []
    for n in ([] if args.gpu_only else sizes):
        x, y, M = _problem(n)
        u = np.full(n, 1.0 / n)
        rep = 3 if n <= 2000 else 1
        ref = pot.emd2(u, u, M, numItermax=10**8)
        row = {"n": n, "pot_value": float(ref)}
        row["pot_emd2"] = time_cpu(lambda: pot.emd2(u, u, M, numItermax=10**8), repeat=rep, warmup=0)
        if n <= 4000:
            row["scipy_lsa"] = time_cpu(lambda: linear_sum_assignment(M), repeat=rep, warmup=0)
            r, c = linear_sum_assignment(M)
            row["scipy_rel_err"] = agreement(M[r, c].mean(), ref, 1e-9)["rel_diff"]
        res = {}
        row["auction_numba_dense"] = time_cpu(lambda: res.setdefault("d", assignment(M)), repeat=rep, warmup=0)
        res.clear()
        row["auction_numba_points"] = time_cpu(lambda: res.setdefault("p", assignment(x=x, y=y)),
                                               repeat=rep, warmup=0)
        a = assignment(x=x, y=y)
        row["auction_rel_err"] = agreement(a.value, ref, 1e-9)["rel_diff"]
        row["auction_exact"] = bool(a.exact)
        row["auction_info"] = {k: v for k, v in a.info.items() if isinstance(v, (int, float, bool))}
        row["ratio_pot_over_auction_points"] = row["pot_emd2"]["median_s"] / row["auction_numba_points"]["median_s"]
        print(f"n={n}: POT {row['pot_emd2']['median_s']:.3f}s, auction(points) "
              f"{row['auction_numba_points']['median_s']:.3f}s, rel err {row['auction_rel_err']:.1e}", flush=True)
        rows.append(row)
    ck = Checkpoint("bench_auction", args.out,
                    {"cpu": rows, "note": "shared machine: CPU timings are noisy; medians of 1-3 runs"})
    ck.save()
    if args.gpu:
        if not gpu_present():
            ck.payload["gpu"] = "not measured: no GPU"
        else:
            gpu_cases(args.quick, ck, pot)
    ck.done()


def gpu_cases(quick: bool, ck, pot) -> None:
    """One case per n (the GPU auction on points, costs on the fly; POT emd2 on the host CPU up
    to n = 8000, same value to 1e-9), each saved as soon as it ends."""
    from kantorovich.ot import assignment

    gsizes = [1000, 2000] if quick else [1000, 2000, 4000, 8000, 16000, 32000]
    grows: dict = {}
    ck.payload["gpu"] = grows

    def compile_():
        x0, y0, _ = _problem(64)
        a, t = timed_once(lambda: assignment(x=x0, y=y0, backend="cuda"))
        return {"s": t, "exact": bool(a.exact)}

    ck.case("compile", compile_, into=grows)

    def one(n):
        rng = np.random.default_rng(0)
        x, y = rng.random((n, 2)), rng.random((n, 2))
        a, t = timed_once(lambda: assignment(x=x, y=y, backend="cuda"))
        g = {"n": n, "auction_cuda_s": t, "exact": bool(a.exact), "value": a.value,
             "info": {k: v for k, v in a.info.items() if isinstance(v, (int, float, bool, str))}}
        print(f"GPU n={n}: {t:.3f}s exact={a.exact}", flush=True)
        if n <= 8000:
            M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
            u = np.full(n, 1.0 / n)
            ref, g["pot_emd2_s"] = timed_once(lambda: pot.emd2(u, u, M, numItermax=10**8))
            g["rel_err_vs_pot"] = agreement(a.value, ref, 1e-9)["rel_diff"]
            g["speedup_vs_pot"] = g["pot_emd2_s"] / t
        return g

    for n in gsizes:
        ck.case(str(n), lambda: one(n), into=grows)


if __name__ == "__main__":
    main()
