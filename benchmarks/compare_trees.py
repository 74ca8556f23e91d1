"""Source trees of kantorovich timed against each other, interleaved in one run.

Each round starts one fresh subprocess per tree (each round starting with the next tree),
imports kantorovich from that tree's ``src`` and times the cases below; medians and spreads
(min-max) over the rounds are printed with the ratio to the first tree (of the medians, and
the min / median / max of the per-round ratios) and the 1-minute load before and after. Used
for docs/performance.md "The cost layer": the numpy paths before and after a change, e.g. the
tree before it from ``git archive``::

    git archive COMMIT src | tar -x -C /tmp/before
    python benchmarks/compare_trees.py /tmp/before/src src --rounds 7 [--out PATH]

Cases (fixed iteration counts: ``scaling=None``, ``tol`` unreachable, ``max_iter`` 5, so each
call is 12 soft-mins whatever the tree's convergence rules):

- ``sinkhorn_numpy_xy``: ``sinkhorn(None, None, PointCloud(x, y), eps=0.05, backend="numpy")``,
  n = m = 2000, d = 2, x and y distinct uniform points;
- ``sinkhorn_numpy_xx``: the same with y = x (the clouds share every point: zero costs);
- ``emd_300``: ``emd(None, None, PointCloud(x, y).cost_matrix())`` on 300 x 300 points, d = 2
  (what ``emd(None, None, PointCloud(x, y))`` does; trees before the cost layer's emd took no
  geometry).

``--cases numba`` times the numba kernels instead, with ``backend="numba"`` and 25 iterations
(so the first soft-mins' safe path and the last pass's mean cost weigh little against the
iterations): point clouds in d = 2 at n = m = 4000 in float64 and float32, in d = 3 at 3000
with the squared and the Euclidean cost, a dense 2000 x 2000 cost, and a batch of 256 problems
of 64 points (50 iterations each). ``--threads N`` sets ``NUMBA_NUM_THREADS`` in the workers.
Where the trees' values differ (a change of vector width moves the last bits of sums), the
relative difference is printed.

``--cases small`` times what a user of small problems runs: single ``sinkhorn`` solves to the
default tolerance (eps = 0.05, uniform points in the unit square or cube) at n = m = 64, 128,
256 (the largest with the kernel matrix, 2^16 entries) and 300 (above it) in d = 2, 128 in
d = 3 and with the Euclidean cost, and the default batched solve of 256 problems of 64 points.

Timings are never pass/fail tests; only ratios from one run mean anything on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

_WORKER = r"""
import json, sys, time, warnings
import numpy as np
from kantorovich.ot import PointCloud, emd, sinkhorn

reps = int(sys.argv[1])
which = sys.argv[2]
rng = np.random.default_rng(0)
x, y = rng.random((2000, 2)), rng.random((2000, 2))
u, v = rng.random((300, 2)), rng.random((300, 2))
kw = dict(eps=0.05, backend="numpy", scaling=None, tol=1e-300, max_iter=5, check_every=5)
if which == "numpy":
    cases = {
        "sinkhorn_numpy_xy": lambda: sinkhorn(None, None, PointCloud(x, y), **kw).value,
        "sinkhorn_numpy_xx": lambda: sinkhorn(None, None, PointCloud(x, x), **kw).value,
        "emd_300": lambda: emd(None, None, PointCloud(u, v).cost_matrix()).value,
    }
elif which == "small":  # single small solves to the default tolerance, and the batch
    sm = {}
    for n, d in ((64, 2), (128, 2), (256, 2), (300, 2), (128, 3)):
        xs, ys = rng.random((n, d)), rng.random((n, d))
        sm[f"small_pc_d{d}_{n}"] = (lambda xs=xs, ys=ys: sinkhorn(None, None, PointCloud(xs, ys),
                                                                  eps=0.05).value)
    xe, ye = rng.random((128, 3)), rng.random((128, 3))
    sm["small_pc_euclid_128"] = lambda: sinkhorn(None, None, PointCloud(xe, ye, cost="euclidean"),
                                                 eps=0.05).value
    xb, yb = rng.random((256, 64, 2)), rng.random((256, 64, 2))
    sm["small_batch_256x64"] = lambda: float(sinkhorn(None, None, PointCloud(xb, yb),
                                                      eps=0.05).value.sum())
    cases = sm
else:  # the numba kernels: point clouds d = 2 and 3 (float64, float32), dense, a batch
    kn = {**kw, "backend": "numba", "max_iter": 25, "check_every": 25}
    x4, y4 = rng.random((4000, 2)), rng.random((4000, 2))
    x3, y3 = rng.random((3000, 3)), rng.random((3000, 3))
    C = PointCloud(x, y).cost_matrix()
    xb, yb = rng.random((256, 64, 2)), rng.random((256, 64, 2))
    kb = dict(eps=0.05, scaling=None, tol=1e-300, max_iter=50, check_every=10)
    cases = {
        "numba_pc_d2_4000": lambda: sinkhorn(None, None, PointCloud(x4, y4), **kn).value,
        "numba_pc_d2_4000_f32": lambda: float(sinkhorn(None, None, PointCloud(x4, y4), dtype=np.float32,
                                                       **kn).value),
        "numba_pc_d3_3000": lambda: sinkhorn(None, None, PointCloud(x3, y3), **kn).value,
        "numba_pc_euclid_3000": lambda: sinkhorn(None, None, PointCloud(x3, y3, cost="euclidean"),
                                                 **kn).value,
        "numba_dense_2000": lambda: sinkhorn(None, None, C, **kn).value,
        "batch_256x64": lambda: float(sinkhorn(None, None, PointCloud(xb, yb), **kb).value.sum()),
    }
out = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    for name, fn in cases.items():
        val = fn()  # warm-up (imports, first calls)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        out[name] = {"value": val, "time_s": min(ts)}
print(json.dumps(out))
"""


def _run(src: str, reps: int, which: str, threads: int | None) -> dict:
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    if threads:
        env["NUMBA_NUM_THREADS"] = str(threads)
    r = subprocess.run([sys.executable, "-c", _WORKER, str(reps), which], env=env, check=True,
                       capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


def _differs(b, a) -> str:
    """'' for the same value; else the relative difference (a change of vector width or of
    summation order moves the last bits)."""
    if b == a:
        return ""
    return f" value differs by {abs(b - a) / max(abs(a), 1e-300):.1e} rel."


def _med(ts):
    return sorted(ts)[len(ts) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("srcs", nargs="+", help="the src folders of the trees; the first is the baseline")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3, help="timed calls per case per subprocess (the fastest counts)")
    ap.add_argument("--cases", choices=("numpy", "numba", "small"), default="numpy",
                    help="numpy: the cases above; numba: the numba kernels (point clouds d = 2, "
                         "float64 and float32, n = 4000; d = 3 and the Euclidean cost, n = 3000; "
                         "dense 2000 x 2000; a batch of 256 problems of 64 points, 50 iterations); "
                         "small: single solves to tolerance at n = 64 ... 300 and the batch")
    ap.add_argument("--threads", type=int, default=None, help="NUMBA_NUM_THREADS of the subprocesses")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    trees = args.srcs
    load0 = os.getloadavg()[0]
    times: list[dict] = [{} for _ in trees]
    values: list[dict] = [{} for _ in trees]
    for r in range(args.rounds):
        k = r % len(trees)  # each round starts with the next tree
        for t in [*range(k, len(trees)), *range(k)]:
            for case, d in _run(trees[t], args.reps, args.cases, args.threads).items():
                times[t].setdefault(case, []).append(d["time_s"])
                values[t][case] = d["value"]
        print(f"round {r + 1}/{args.rounds} done, load {os.getloadavg()[0]:.2f}", file=sys.stderr)
    load1 = os.getloadavg()[0]
    rows: dict = {}
    for case in times[0]:
        ta = times[0][case]
        rows[case] = []
        line = [f"{case:18s}"]
        for t, src in enumerate(trees):
            tb = times[t][case]
            ratios = [b / a for a, b in zip(ta, tb)]
            rows[case].append({"src": src, "median_s": _med(tb), "min_s": min(tb), "max_s": max(tb),
                               "ratio_to_first": _med(tb) / _med(ta),
                               "round_ratios_min_median_max": [min(ratios), _med(ratios), max(ratios)],
                               "same_value_as_first": values[t][case] == values[0][case],
                               "rel_diff_to_first": abs(values[t][case] - values[0][case])
                               / max(abs(values[0][case]), 1e-300)})
            line.append(f"[{t}] {_med(tb) * 1e3:8.1f} ms ({min(tb) * 1e3:.1f}-{max(tb) * 1e3:.1f})"
                        + ("" if t == 0 else f" x{_med(tb) / _med(ta):.3f} (rounds {min(ratios):.3f}-"
                           f"{_med(ratios):.3f}-{max(ratios):.3f})"
                           + _differs(values[t][case], values[0][case])))
        print("  ".join(line))
    for t, src in enumerate(trees):
        print(f"[{t}] {src}")
    print(f"load (1 min) before {load0:.2f}, after {load1:.2f}; {args.rounds} rounds x {args.reps} calls")
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"rounds": args.rounds, "reps": args.reps, "load_before": load0,
                       "load_after": load1, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                       "trees": trees, "cases": rows}, fh, indent=1)


if __name__ == "__main__":
    main()
