"""Report sections: divergences estimated from samples."""

from __future__ import annotations

import math
import time

import numpy as np

from .. import register
from .._stats import ALPHA, bias_budget_tolerance


def _gauss_kl_iso(d, mu, s2):
    return 0.5 * (d / s2 + d * mu ** 2 / s2 - d + d * math.log(s2))


@register("estimators_convergence", title="Sample KL estimators: error against n", order=50)
def convergence(ctx):
    """kNN KL estimators on Gaussians N(0, I) vs N(0.5 1, 1.5 I) in d = 1, 2, 5, 10 against
    the closed form: mean absolute error over replicates on log-log axes."""
    from ...divergences import estimate_kl
    from ...plots.estimators import plot_estimator_errors

    ns = ctx.size([250, 800, 2500], [250, 1000, 4000, 16000])
    reps = ctx.size(2, 5)
    methods = ["knn", "knn-adaptive", "knn-ensemble", "knn-gauss-corrected"]
    mu, s2 = 0.5, 1.5
    results, rows = {}, []
    g = ctx.rng(0)
    # the Gaussian reference samples of "knn-gauss-corrected" get a generator of their own, so
    # that the method is reproducible and the samples drawn from g stay those of the other methods
    g_ref = ctx.rng(1)
    for d in ctx.progress([1, 2, 5, 10], desc="estimators d"):
        truth = _gauss_kl_iso(d, mu, s2)
        results[d] = {}
        for meth in methods:
            errs, ses = [], []
            for n in ns:
                v = np.array([estimate_kl(g.normal(size=(n, d)), mu + math.sqrt(s2) * g.normal(size=(n, d)),
                                          method=meth, n_boot=0, rng=g_ref).value for _ in range(reps)])
                errs.append(abs(v.mean() - truth))
                ses.append(v.std(ddof=1) / math.sqrt(reps))
                rows.append([d, meth, n, truth, float(v.mean()), float(v.mean() - truth)])
            results[d][meth] = (ns, np.array(errs), np.array(ses))
    ctx.figure(plot_estimator_errors(results, title="KL(N(0, I) || N(0.5·1, 1.5 I)): kNN estimators"),
               "kl_error_vs_n.png", "Mean |error| against n; error bars: standard error of the mean over "
               f"{reps} replicates. The slope shows the bias decay, slow in d = 10.")
    ctx.table("KL estimates vs closed form", ["d", "method", "n", "truth", "mean estimate", "bias"], rows)
    last = {(r[0], r[1]): r[5] for r in rows if r[2] == ns[-1]}
    ctx.verdict("At n = %d the error of plain kNN is %s; of the ensemble %s (by d = 1, 2, 5, 10)." % (
        ns[-1], ", ".join(f"{abs(last[(d, 'knn')]):.3f}" for d in (1, 2, 5, 10)),
        ", ".join(f"{abs(last[(d, 'knn-ensemble')]):.3f}" for d in (1, 2, 5, 10))))


@register("estimators_parallel_lines", title="Parallel lines from samples: JS -> log 2, TV -> 1, KL flagged",
          order=51)
def lines(ctx):
    """ParallelLines(0.5) sampled: JS and TV by three methods, and the KL flag."""
    from ...divergences import estimate_js, estimate_kl, estimate_tv
    from ...families import ParallelLines
    from ...plots.estimators import plot_estimators_parallel_lines

    fam = ParallelLines(0.5)
    ns = ctx.size([100, 400, 1600], [100, 400, 1600, 6400])
    js = {m: [] for m in ("knn", "classifier", "histogram")}
    tv = {m: [] for m in js}
    raw, flags = [], []
    g = ctx.rng(1)
    for n in ns:
        x, y = fam.sample(n, rng=g)
        for m in js:
            js[m].append(estimate_js(x, y, method=m, n_boot=0, rng=g).value)
            tv[m].append(estimate_tv(x, y, method=m, n_boot=0, rng=g).value)
        r = estimate_kl(x, y, n_boot=0)
        raw.append(r.info.get("finite_value", r.value))
        flags.append(r.infinite)
    ctx.figure(plot_estimators_parallel_lines(ns, js, tv, raw), "parallel_lines.png",
               "Estimates from samples of the parallel lines (theta = 0.5). JS reaches log 2 and TV 1; "
               "the raw kNN KL grows without bound and every estimate is flagged infinite.")
    for m in js:
        ctx.check(f"parallel lines JS ({m}), n = {ns[-1]}", fam.js(), js[m][-1], rtol=0, atol=0.01,
                  source="C1")
        ctx.check(f"parallel lines TV ({m}), n = {ns[-1]}", fam.tv(), tv[m][-1], rtol=0, atol=0.02,
                  source="C1")
    ctx.check("parallel lines KL flagged infinite (all n)", fam.kl(),
              math.inf if all(flags) else raw[-1], source="C1, C10")
    ctx.number("raw_knn_kl_by_n", dict(zip(map(str, ns), raw)))
    ctx.verdict(f"KL flagged infinite at {sum(flags)} of {len(flags)} sizes; raw value grew from "
                f"{raw[0]:.2f} to {raw[-1]:.2f}; JS (kNN) {js['knn'][-1]:.4f} vs log 2 = {math.log(2):.4f}.")


@register("estimators_tables", title="kNN KL: published value, universal-divergence, bias reduction in 10-D",
          order=52)
def tables(ctx):
    """Side-by-side tables: our WKV against `universal-divergence` on the same samples and
    the published value; plain WKV beside the bias-reduced ensemble and the Gaussian-reference
    corrected estimator at d = 10, on Gaussians and on a Student-t pair (truth by Monte Carlo)."""
    from ...divergences import estimate_kl

    # 1) N(0,1) vs N(2,1), n = 1000, k = 5: truth 2.0, published kNN estimate 1.790
    try:
        from universal_divergence import estimate as ud_estimate
    except Exception:
        ud_estimate = None
    g = ctx.rng(2)
    rows, ours_all = [], []
    # 20 replicates (7 ms each): the replicate spread is the error bar of the bias check below
    for rep in range(ctx.size(20, 40)):
        x, y = g.normal(0, 1, (1000, 1)), g.normal(2, 1, (1000, 1))
        t0 = time.perf_counter()
        ours = estimate_kl(x, y, k=5, rng=g)
        t_ours = time.perf_counter() - t0
        ours_all.append(ours.value)
        if ud_estimate is not None:
            t0 = time.perf_counter()
            ud = float(ud_estimate(x, y, 5))
            t_ud = time.perf_counter() - t0
        else:
            ud, t_ud = "not installed", "-"
        rows.append([rep, 2.0, 1.790, ours.value, f"[{ours.ci[0]:.3f}, {ours.ci[1]:.3f}]", ud, t_ours, t_ud])
    ctx.table("N(0,1) vs N(2,1), n = 1000, k = 5 (truth 2.0, published kNN 1.790)",
              ["replicate", "truth", "published", "kantorovich", "95% CI", "universal-divergence",
               "time ours (s)", "time u-d (s)"], rows)
    if ud_estimate is not None:
        diff = max(abs(r[3] - r[5]) for r in rows)
        ctx.check("our WKV equals universal-divergence (fixed k = 5)", 0.0, diff, rtol=0, atol=1e-9,
                  source="same samples")
    # The estimator is biased low at this n: E ~ 1.78 (1000 replicates: 1.778, sd 0.110 each),
    # like the published 1.790. The claim is |bias| <= 0.25; the mean of R replicates carries its
    # own sampling error (sd 0.064 for R = 3, which failed a fixed 0.25 on a third of seeds), so
    # the tolerance is the budget plus a one-sided Student-t bound on that error (level ALPHA).
    tol, se = bias_budget_tolerance(ours_all, 0.25)
    ctx.check(f"mean WKV estimate near truth 2.0 (bias budget 0.25 + {(tol - 0.25) / se:.1f} SE of "
              f"{len(ours_all)} replicates)", 2.0, float(np.mean(ours_all)), rtol=0, atol=tol,
              source=f"published reference numbers; Student-t bound at level {ALPHA:g}")

    # 2) d = 10: plain WKV beside the ensemble
    d, mu = 10, math.sqrt(1.648 / 10)
    truth = _gauss_kl_iso(d, mu, 1.0)
    n = ctx.size(2000, 10000)
    reps = ctx.size(2, 5)
    est = {"knn k=1": [], "knn k=5": [], "knn-adaptive": [], "knn-ensemble": [],
           "knn-gauss-corrected (k=5)": []}
    for rep in ctx.progress(range(reps), desc="10-D"):
        x, y = g.normal(size=(n, d)), mu + g.normal(size=(n, d))
        est["knn k=1"].append(estimate_kl(x, y, method="knn", k=1, n_boot=0).value)
        est["knn k=5"].append(estimate_kl(x, y, method="knn", k=5, n_boot=0).value)
        est["knn-adaptive"].append(estimate_kl(x, y, method="knn-adaptive", n_boot=0).value)
        est["knn-ensemble"].append(estimate_kl(x, y, method="knn-ensemble", n_boot=0).value)
        est["knn-gauss-corrected (k=5)"].append(
            estimate_kl(x, y, method="knn-gauss-corrected", n_boot=0, rng=ctx.rng(100 + rep)).value)
    trows = []
    for name, v in est.items():
        v = np.array(v)
        trows.append([name, n, truth, float(v.mean()), float(v.std(ddof=1)), float(abs(v.mean() - truth))])
    ctx.table(f"d = 10, N(0, I) vs N(0.406 1, I), n = m = {n}, {reps} replicates (truth {truth:.3f})",
              ["method", "n", "truth", "mean", "sd", "|bias|"], trows)
    e_plain = trows[0][5]
    e_ens = trows[3][5]
    e_gc = trows[4][5]
    ctx.number("error_ratio_ensemble_over_plain_k1", e_ens / e_plain)
    ctx.number("error_ratio_gauss_corrected_over_plain_k1", e_gc / e_plain)
    ctx.verdict(f"d = 10, n = {n}: plain WKV (k=1) error {e_plain:.3f}; ensemble {e_ens:.3f} "
                f"(ratio {e_ens / e_plain:.2f}); Gaussian-reference correction {e_gc:.3f} "
                f"(ratio {e_gc / e_plain:.2f}); the target was <= 0.5: "
                f"{'met' if e_gc <= 0.5 * e_plain else 'NOT met'} by the corrected estimator "
                "(exact in expectation for Gaussian data; see the Student-t check).")

    # 3) the same correction on non-Gaussian data: multivariate Student-t (df = 5), d = 10
    from scipy.stats import multivariate_t

    P = multivariate_t(np.zeros(d), np.eye(d), df=5)
    Q = multivariate_t(np.full(d, mu), np.eye(d), df=5)
    xs = P.rvs(ctx.size(50000, 400000), random_state=ctx.rng(3))
    lr = P.logpdf(xs) - Q.logpdf(xs)
    t_truth, t_se = float(lr.mean()), float(lr.std() / math.sqrt(lr.size))
    nt = ctx.size(2000, 10000)
    tv = {"knn k=1": [], "knn k=5": [], "knn-gauss-corrected (k=5)": []}
    for rep in ctx.progress(range(reps), desc="10-D t"):
        x, y = P.rvs(nt, random_state=ctx.rng(200 + rep)), Q.rvs(nt, random_state=ctx.rng(300 + rep))
        tv["knn k=1"].append(estimate_kl(x, y, method="knn", k=1, n_boot=0).value)
        tv["knn k=5"].append(estimate_kl(x, y, method="knn", k=5, n_boot=0).value)
        tv["knn-gauss-corrected (k=5)"].append(
            estimate_kl(x, y, method="knn-gauss-corrected", n_boot=0, rng=ctx.rng(400 + rep)).value)
    trows = []
    for name, v in tv.items():
        v = np.array(v)
        trows.append([name, nt, t_truth, float(v.mean()), float(v.std(ddof=1)), float(abs(v.mean() - t_truth))])
    ctx.table(f"d = 10, Student-t (df = 5): t(0, I) vs t(0.406 1, I), n = m = {nt}, {reps} replicates "
              f"(truth {t_truth:.3f} +- {t_se:.3f} by Monte Carlo of the log-density ratio)",
              ["method", "n", "truth (MC)", "mean", "sd", "|bias|"], trows)
    ctx.number("student_t_error_ratio_gauss_corrected_over_plain_k1", trows[2][5] / trows[0][5])
    ctx.verdict(f"Student-t, d = 10, n = {nt}: plain WKV (k=1) error {trows[0][5]:.3f}, "
                f"Gaussian-reference correction {trows[2][5]:.3f}: the correction "
                f"{'helps' if trows[2][5] < trows[0][5] else 'does NOT help'} on this non-Gaussian pair.")
