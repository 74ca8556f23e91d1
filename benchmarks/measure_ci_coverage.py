"""Coverage and cost of the error bars of ``estimate_kl``, ``estimate_js`` and ``estimate_tv``.

For Gaussian pairs with a closed-form divergence, P = N(0, I) and Q = N(0.5·1, 1.5 I), draws
x ~ P and y ~ Q (n = m) from independent seeds and computes on each draw both intervals,
``error_bars="terms"`` (the default: bootstrap of the per-point terms at fixed neighbour
distances, n_boot = 200) and ``error_bars="halves"`` (the estimate recomputed on 50 random halves
of x and of y, the delete-half jackknife). Per case and interval it reports how often the 95 %
``ci`` contains the truth, with the binomial standard error sqrt(p (1 - p) / draws) of that
frequency, the mean error (bias) of ``value``, the standard deviation of ``value`` over the
draws, the mean reported ``stderr``, and how often the interval contains the mean of the
values over the draws (the coverage of the estimator's expectation, which the bias does not
affect).

``--split``: for KL in d = 2, n = 1000, the spread of the value from x with y held fixed and from
y with x held fixed. ``--cost``: the time of one call with each interval at d = 2,
n = m = 1000 and 10^4 (best of several, the default's ``n_boot = 200``), and their ratio.

Run: ``nice -n 5 python benchmarks/measure_ci_coverage.py`` (n = 250 and 1000, 200 draws;
--quick: 50 draws), ``--sizes 4000 --draws 50`` for the larger n, ``--cost``; ``--table
FILE ...`` prints the table of results files. Results in
``benchmarks/results/ci_coverage*.json`` and docs/estimators.md "Error bars". No timing is an
assertion.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import warnings
from pathlib import Path

import numpy as np

from kantorovich.bench import write_json
from kantorovich.divergences import estimate_js, estimate_kl, estimate_tv
from kantorovich.families import GaussianPair

try:
    from _common import environment
except ImportError:  # run from another folder
    from benchmarks._common import environment

FAMILIES = [  # (divergence, d, method)
    ("kl", 1, "knn"), ("kl", 2, "knn"), ("kl", 5, "knn-gauss-corrected"),
    ("js", 1, "knn"), ("tv", 1, "knn"),
]
INTERVALS = ("terms", "halves")
FN = {"kl": estimate_kl, "js": estimate_js, "tv": estimate_tv}
RESULTS = Path(__file__).resolve().parent / "results"


def pair(d):
    return np.zeros(d), np.eye(d), np.full(d, 0.5), 1.5 * np.eye(d)


def truth(which, d):
    p = GaussianPair(*pair(d))
    return {"kl": p.kl, "js": p.js, "tv": p.tv}[which]()


def draw(d, n, seed):
    m0, c0, m1, c1 = pair(d)
    g = np.random.default_rng(seed)
    return g.multivariate_normal(m0, c0, size=n), g.multivariate_normal(m1, c1, size=n)


def coverage_case(which, d, n, method, draws):
    """Both intervals on the same ``draws`` draws of the case: a dict per interval."""
    t = truth(which, d)
    vals = []
    ses = {e: [] for e in INTERVALS}
    cis = {e: [] for e in INTERVALS}
    secs = {e: 0.0 for e in INTERVALS}
    for s in range(draws):
        x, y = draw(d, n, 1000 + s)
        for e in INTERVALS:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # JS/TV range warnings
                t0 = time.process_time()
                r = FN[which](x, y, method=method, rng=s, error_bars=e)
                secs[e] += time.process_time() - t0
            if e == "terms":
                vals.append(r.value)
            ses[e].append(r.stderr)
            cis[e].append(r.ci)
    vals = np.array(vals)
    mean, sd = float(vals.mean()), float(vals.std(ddof=1))
    out = {"divergence": which, "d": d, "n": n, "m": n, "method": method, "draws": draws,
           "truth": t, "bias": mean - t, "sd_of_value": sd, "intervals": {}}
    for e in INTERVALS:
        c = np.array(cis[e])
        p = float(np.mean((c[:, 0] <= t) & (t <= c[:, 1])))
        out["intervals"][e] = {
            "coverage_of_truth": p, "coverage_se": math.sqrt(p * (1 - p) / draws),
            "mean_stderr": float(np.mean(ses[e])), "stderr_over_sd": float(np.mean(ses[e])) / sd,
            "coverage_of_mean_value": float(np.mean((c[:, 0] <= mean) & (mean <= c[:, 1]))),
            "cpu_s_per_call": secs[e] / draws}
    return out


def coverage_text(p, draws):
    """``p`` in per cent with its binomial standard error; at 0 or 1, where that error reads
    0, the one-sided 95 % bound instead (1 - 0.05^(1/draws): all draws in, or none)."""
    if 0 < p < 1:
        return f"{100 * p:.1f} ± {100 * math.sqrt(p * (1 - p) / draws):.1f} %"
    bound = 1 - 0.05 ** (1 / draws)
    return f"{100 * p:.1f} % (≥ {100 * (1 - bound):.1f})" if p == 1 else \
        f"{100 * p:.1f} % (≤ {100 * bound:.1f})"


def row(case):
    """The Markdown row of each interval of a case."""
    lines = []
    for e, r in case["intervals"].items():
        lines.append(
            f"| {case['divergence'].upper()} | {case['d']} | {case['n']} | {case['method']} | {e} | "
            f"{case['truth']:.4f} | {coverage_text(r['coverage_of_truth'], case['draws'])} | "
            f"{case['bias']:+.4f} | {case['sd_of_value']:.4f} | {r['mean_stderr']:.4f} | "
            f"{r['mean_stderr'] / case['sd_of_value']:.2f} | "
            f"{100 * r['coverage_of_mean_value']:.1f} % |")
    return "\n".join(lines)


HEADER = ("| | d | n | method | error_bars | truth | truth in `ci` | bias | sd of value over draws "
          "| mean `stderr` | mean `stderr` / sd | mean value in `ci` |")


def split(draws):
    """KL, d = 2, n = 1000: the spread from x (y fixed) and from y (x fixed)."""
    x0, y0 = draw(2, 1000, 7)
    vx = [estimate_kl(draw(2, 1000, 5000 + s)[0], y0, n_boot=0).value for s in range(draws)]
    vy = [estimate_kl(x0, draw(2, 1000, 5000 + s)[1], n_boot=0).value for s in range(draws)]
    print(f"KL d = 2, n = 1000: sd over x with y fixed {np.std(vx, ddof=1):.4f}, over y with x "
          f"fixed {np.std(vy, ddof=1):.4f}, stderr of one draw {estimate_kl(x0, y0, rng=0).stderr:.4f}")


def cost(sizes, repeats):
    """Best-of-``repeats`` wall time of one call with each interval, d = 2."""
    out = []
    print("| | n | terms (s) | halves (s) | ratio |")
    for n in sizes:
        x, y = draw(2, n, 3)
        for which in ("kl", "js", "tv"):
            best = {}
            for e in INTERVALS:
                FN[which](x, y, rng=0, error_bars=e)  # compile, warm caches
                ts = []
                for _ in range(repeats):
                    t0 = time.perf_counter()
                    FN[which](x, y, rng=0, error_bars=e)
                    ts.append(time.perf_counter() - t0)
                best[e] = min(ts)
            ratio = best["halves"] / best["terms"]
            out.append({"divergence": which, "d": 2, "n": n, "m": n, "repeats": repeats,
                        "terms_s": best["terms"], "halves_s": best["halves"], "ratio": ratio})
            print(f"| {which.upper()} | {n} | {best['terms']:.4f} | {best['halves']:.4f} | "
                  f"{ratio:.1f} |", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="50 draws per case")
    ap.add_argument("--draws", type=int, help="draws per case (default 200, 50 with --quick)")
    ap.add_argument("--sizes", default="250,1000", help="n = m of the cases, comma separated")
    ap.add_argument("--split", action="store_true", help="only the x / y split of the KL spread")
    ap.add_argument("--cost", action="store_true", help="only the time of both intervals")
    ap.add_argument("--out", help="JSON file (default benchmarks/results/ci_coverage[_SIZES].json)")
    ap.add_argument("--table", metavar="JSON", nargs="+", help="only print the table of results files")
    args = ap.parse_args()
    if args.table:
        print(HEADER)
        for f in args.table:
            for case in json.loads(Path(f).read_text())["cases"]:
                print(row(case))
        return
    draws = args.draws or (50 if args.quick else 200)
    if args.split:
        split(draws)
        return
    if args.cost:
        res = cost([1000, 10_000], 5)
        write_json(args.out or RESULTS / "ci_cost.json",
                   {"environment": environment(), "n_halves": 50, "n_boot": 200, "cases": res})
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    default = "ci_coverage.json" if sizes == [250, 1000] else f"ci_coverage_{'_'.join(map(str, sizes))}.json"
    path = Path(args.out) if args.out else RESULTS / default
    print(f"{draws} draws per case, ci_level 0.95, n_boot 200, n_halves 50")
    print(HEADER)
    cases = []
    t0 = time.process_time()
    for n in sizes:
        for which, d, method in FAMILIES:
            cases.append(coverage_case(which, d, n, method, draws))
            print(row(cases[-1]), flush=True)
            write_json(path, {"environment": environment(), "draws": draws, "ci_level": 0.95,
                              "n_boot": 200, "n_halves": 50, "complete": False,
                              "cpu_s_total": time.process_time() - t0, "cases": cases})
    write_json(path, {"environment": environment(), "draws": draws, "ci_level": 0.95,
                      "n_boot": 200, "n_halves": 50, "complete": True,
                      "cpu_s_total": time.process_time() - t0, "cases": cases})


if __name__ == "__main__":
    main()
