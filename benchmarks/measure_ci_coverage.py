"""Coverage of the error bars of ``estimate_kl``, ``estimate_js`` and ``estimate_tv``.

For Gaussian pairs with a closed-form divergence, P = N(0, I) and Q = N(0.5·1, 1.5 I), draws
x ~ P and y ~ Q (n = m) from independent seeds and reports, per case: how often the 95 %
``ci`` contains the truth, the mean error (bias) of ``value``, the standard deviation of
``value`` over the draws, the mean reported ``stderr``, and how often the interval contains
the mean of the values over the draws (the coverage of the estimator's expectation, which the
bias does not affect). For KL in d = 2 it also splits the spread into the part from x with y
held fixed and the part from y with x held fixed.

Run: ``nice -n 5 python benchmarks/measure_ci_coverage.py`` (--quick: 50 draws). Results in
docs/estimators.md "Error bars". No timing is an assertion.
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np

from kantorovich.divergences import estimate_js, estimate_kl, estimate_tv
from kantorovich.families import GaussianPair

CASES = [  # (divergence, d, n, method)
    ("kl", 1, 1000, "knn"),
    ("kl", 2, 250, "knn"), ("kl", 2, 1000, "knn"), ("kl", 2, 4000, "knn"),
    ("kl", 5, 1000, "knn-gauss-corrected"),
    ("js", 1, 1000, "knn"), ("tv", 1, 1000, "knn"),
]


def pair(d):
    return np.zeros(d), np.eye(d), np.full(d, 0.5), 1.5 * np.eye(d)


def truth(which, d):
    p = GaussianPair(*pair(d))
    return {"kl": p.kl, "js": p.js, "tv": p.tv}[which]()


def draw(d, n, seed):
    m0, c0, m1, c1 = pair(d)
    g = np.random.default_rng(seed)
    return g.multivariate_normal(m0, c0, size=n), g.multivariate_normal(m1, c1, size=n)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    draws = 50 if ap.parse_args().quick else 200
    fn = {"kl": estimate_kl, "js": estimate_js, "tv": estimate_tv}
    print(f"{draws} draws per case, ci_level 0.95, n_boot 200")
    print("| | d | n | method | truth | coverage of truth | bias | sd of value | mean stderr "
          "| coverage of mean value |")
    for which, d, n, method in CASES:
        t = truth(which, d)
        vals, ses, cis = [], [], []
        for s in range(draws):
            x, y = draw(d, n, 1000 + s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # JS/TV range warnings
                r = fn[which](x, y, method=method, rng=s)
            vals.append(r.value)
            ses.append(r.stderr)
            cis.append(r.ci)
        vals, cis = np.array(vals), np.array(cis)
        mean = vals.mean()
        cov_t = np.mean((cis[:, 0] <= t) & (t <= cis[:, 1]))
        cov_m = np.mean((cis[:, 0] <= mean) & (mean <= cis[:, 1]))
        print(f"| {which.upper()} | {d} | {n} | {method} | {t:.4f} | {cov_t:.3f} | "
              f"{mean - t:+.4f} | {vals.std(ddof=1):.4f} | {np.mean(ses):.4f} | {cov_m:.3f} |",
              flush=True)
    # KL, d = 2, n = 1000: the spread from x (y fixed) and from y (x fixed)
    x0, y0 = draw(2, 1000, 7)
    vx = [estimate_kl(draw(2, 1000, 5000 + s)[0], y0, n_boot=0).value for s in range(draws)]
    vy = [estimate_kl(x0, draw(2, 1000, 5000 + s)[1], n_boot=0).value for s in range(draws)]
    print(f"KL d = 2, n = 1000: sd over x with y fixed {np.std(vx, ddof=1):.4f}, over y with x "
          f"fixed {np.std(vy, ddof=1):.4f}, stderr of one draw {estimate_kl(x0, y0, rng=0).stderr:.4f}")


if __name__ == "__main__":
    main()
