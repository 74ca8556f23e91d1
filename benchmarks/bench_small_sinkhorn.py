"""Small single Sinkhorn solves, two source trees alternated: the compiled iterations against
the Python loop before them.

``sinkhorn(None, None, PointCloud(x, y), eps=0.1)`` and ``sinkhorn_divergence`` of the same
clouds (x, y normal in d = 2, y shifted by 0.5) at n = m = 16, 64, 128, 256, 1024 (``--quick``: 16,
64), the default backend (numba at these sizes), tolerance and schedule. Each round starts one
fresh process per tree (the first tree alternating from round to round), which solves every
case once untimed (numba loads its kernels) and then times it (:func:`kantorovich.bench.measure`
of the tree itself). The JSON holds per case and tree the median and minimum over the rounds of
each round's median, the iterations, the time per iteration, the ratio old / new of the medians,
and whether both trees returned the same value, ``n_iter`` and error history (bit for bit).

The old tree: ``--old DIR`` (a ``src`` folder), else ``git archive BASE src`` of the commit
before the compiled iterations (``BASE`` below) into a temporary folder.

Timings are never assertions; only ratios of one run mean anything on a shared machine.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import parser, write

BASE = "f36fa8a"  # the tree before the compiled iterations (kantorovich.ot._sinkhorn_steps)
ROOT = Path(__file__).resolve().parents[1]

_WORKER = r"""
import json, sys, warnings
import numpy as np
from kantorovich.bench import measure
from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence

warnings.simplefilter("ignore")
sizes, repeat = json.loads(sys.argv[1]), int(sys.argv[2])
out = {}
for n in sizes:
    rng = np.random.default_rng(n)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 0.5
    geom = PointCloud(x, y)
    cases = {
        f"sinkhorn_{n}": lambda: sinkhorn(None, None, geom, eps=0.1),
        f"divergence_{n}": lambda: sinkhorn_divergence(None, None, geom, eps=0.1),
    }
    for name, fn in cases.items():
        r = fn()
        terms = [r] if name.startswith("sinkhorn") else [r.ot_ab, r.ot_aa, r.ot_bb]
        t = measure(fn, repeat=repeat, warmup=1)
        out[name] = {"median_s": t["median_s"], "min_s": t["min_s"], "value": float(r.value),
                     "n_iter": sum(int(s.n_iter) for s in terms),
                     "history": [list(map(float, s.marginal_error_history)) for s in terms],
                     "backend": terms[0].backend}
print("RESULT" + json.dumps(out))
"""


def _old_tree(arg: str | None) -> str:
    if arg:
        return arg
    tmp = tempfile.mkdtemp(prefix="kantorovich_base_")
    atexit.register(shutil.rmtree, tmp, True)
    archive = subprocess.run(["git", "archive", BASE, "src"], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", tmp], input=archive.stdout, check=True)
    return os.path.join(tmp, "src")


def _run(src: str, sizes, repeat: int) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    r = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(sizes), str(repeat)], env=env,
                       capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(r.stdout.split("RESULT", 1)[1])


def _load() -> float:
    return os.getloadavg()[0]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--old", help="the old tree's src folder (default: git archive BASE)")
    p.add_argument("--new", default=str(ROOT / "src"), help="the new tree's src folder")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeat", type=int, default=7, help="timed calls per case and round")
    args = p.parse_args()
    sizes = [16, 64] if args.quick else [16, 64, 128, 256, 1024]
    rounds = 2 if args.quick else args.rounds
    trees = {"old": _old_tree(args.old), "new": args.new}
    load_before = _load()
    samples: dict = {}
    last: dict = {}
    for k in range(rounds):
        order = ["old", "new"] if k % 2 == 0 else ["new", "old"]
        for tree in order:
            res = _run(trees[tree], sizes, 3 if args.quick else args.repeat)
            for name, rec in res.items():
                samples.setdefault(name, {}).setdefault(tree, []).append(rec["median_s"])
            last[tree] = res
        print(f"round {k + 1}/{rounds} done (load {_load():.2f})", flush=True)
    cases = {}
    for name, per in samples.items():
        old, new = last["old"][name], last["new"][name]
        rec = {}
        for tree, ts in per.items():
            ts = sorted(ts)
            med = ts[len(ts) // 2]
            rec[tree] = {"median_s": med, "min_s": ts[0], "n_iter": last[tree][name]["n_iter"],
                         "us_per_iter": 1e6 * med / max(1, last[tree][name]["n_iter"]),
                         "backend": last[tree][name]["backend"]}
        rec["ratio_old_over_new"] = rec["old"]["median_s"] / rec["new"]["median_s"]
        rec["same_results"] = (old["value"] == new["value"] and old["n_iter"] == new["n_iter"]
                               and old["history"] == new["history"])
        cases[name] = rec
        print(f"{name:16s} old {1e3 * rec['old']['median_s']:8.2f} ms  new "
              f"{1e3 * rec['new']['median_s']:8.2f} ms  x{rec['ratio_old_over_new']:.2f}  "
              f"({rec['new']['n_iter']} iterations, {rec['old']['us_per_iter']:.1f} -> "
              f"{rec['new']['us_per_iter']:.1f} us each; same results: {rec['same_results']})")
    write("small_sinkhorn_quick" if args.quick else "small_sinkhorn", args.out,
          {"trees": trees, "rounds": rounds, "sizes": sizes, "eps": 0.1,
           "load_1min_before": load_before, "load_1min_after": _load(), "cases": cases},
          echo=False)


if __name__ == "__main__":
    main()
