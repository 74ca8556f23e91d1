"""Exact assignment on the GPU, the GPU runbook's ``auction`` part: the numba-cuda auction on
n uniform points in the unit square (squared Euclidean costs computed on the fly, n = 1000 ...
32000; --quick: 1000, 2000) against POT emd2 on the host CPU up to n = 8000 (the same value to
1e-9), each case saved as soon as it ends.

The CPU comparison, the auction on the cost matrix and on the points against POT emd2 and scipy
linear_sum_assignment with the values checked first, is the ``assignment`` suite of
``kantorovich bench`` (docs/bench.md); without --gpu-only this script runs that suite on the
CPU into the JSON's ``cpu`` entry.

    python benchmarks/bench_auction.py [--quick] [--gpu | --gpu-only] [--out DIR]
"""

from __future__ import annotations

import numpy as np

from _common import Checkpoint, agreement, gpu_present, parser, timed_once


def _problem(n, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return x, y, M


def cpu_suite(quick: bool) -> dict:
    """``kantorovich bench assignment`` on the CPU (its results.json as a dict)."""
    from kantorovich import bench

    return bench.run(["assignment"], quick=quick, device="cpu", peers=["scipy", "pot"],
                     progress=False)


def main():
    args = parser(__doc__).parse_args()
    ck = Checkpoint("bench_auction", args.out, {"cpu": "skipped (--gpu-only)"})
    if not args.gpu_only:
        ck.case("cpu", lambda: cpu_suite(args.quick))
    ck.save()
    if args.gpu:
        if not gpu_present():
            ck.payload["gpu"] = "not measured: no GPU"
        else:
            import ot as pot

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
        # n = 64 runs only the tail kernel; n = 1100 also the multi-block rounds (they start
        # where the free rows exceed tail_rows(n) = 953 there): both compile before any timing
        # (the first run timed n = 2000 with their compilation in it)
        from kantorovich.ot._kernels.auction_cuda import tail_rows

        out = {}
        for n0 in (64, 1100):
            x0, y0, _ = _problem(n0)
            a, t = timed_once(lambda: assignment(x=x0, y=y0, backend="cuda"))
            out[str(n0)] = {"s": t, "exact": bool(a.exact), "multi_block": n0 > tail_rows(n0)}
        return out

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
