"""Report sections of the 1-D and sliced Earth-Mover distance."""

from __future__ import annotations

import math

import numpy as np

from .. import register
from .._stats import ALPHA, parallel_lines_sw1_tolerance

_C11 = "C11 (W_1 = integral of |F - G|; Gaussian W_2)"
_C1 = "C1 (Ma 2022 review, GAN Flavors slides, Min's slides)"


@register("emd1d_cdf", title="1-D Earth-Mover distance: the area between the CDFs (C11)", order=20)
def emd1d_cdf(ctx):
    """W_1 between two 1-D distributions is the area between their CDFs, and equally the area
    between their quantile functions. Two Gaussian samples are drawn; the quantile-formula
    value is checked against scipy, the exact LP, a quadrature of |F - G|, and the population
    closed forms of W_1 and W_2 (statistical tolerances from the sample size)."""
    import ot as pot
    from scipy import stats

    from ...families import GaussianPair
    from ...ot import wasserstein_1d, wasserstein_1d_plan
    from ...plots.emd1d import plot_cdf_quantile_panels

    fam = GaussianPair(0.0, 1.0, 1.5, 0.25)  # N(0, 1) vs N(1.5, 0.5^2)
    n_fig = ctx.size(60, 150)
    x, y = fam.sample(n_fig, rng=ctx.rng(0))
    x, y = x.ravel(), y.ravel()
    F = lambda t: stats.norm.cdf(t, 0.0, 1.0)  # noqa: E731
    G = lambda t: stats.norm.cdf(t, 1.5, 0.5)  # noqa: E731
    w_small = float(wasserstein_1d(x, y))
    fig = plot_cdf_quantile_panels(x, y, value=w_small, population_value=fam.w1(), true_cdfs=(F, G),
                                   labels=("F: sample of N(0, 1)", "G: sample of N(1.5, 0.5²)"))
    ctx.figure(fig, "cdf_area.png",
               "Left: empirical CDFs F, G (solid) and population CDFs (dashed); the shaded area is "
               "the integral of |F - G| = W1. Right: the quantile functions; the shaded area is the "
               "same number (the quantile formula kantorovich computes).")

    # exact identities on this sample
    ctx.check("W1 (quantile formula) = scipy.stats.wasserstein_distance", float(stats.wasserstein_distance(x, y)),
              w_small, rtol=1e-12, atol=1e-14, source="scipy _cdf_distance")
    M = np.abs(np.subtract.outer(x, y))
    w_lp = float(pot.emd2(np.full(n_fig, 1 / n_fig), np.full(n_fig, 1 / n_fig), M))
    ctx.check("W1 (quantile formula) = exact LP (POT emd2)", w_lp, w_small, rtol=1e-9, atol=1e-12,
              source="Kantorovich LP")
    grid = np.linspace(min(x.min(), y.min()) - 1, max(x.max(), y.max()) + 1, 200_001)
    Fe = np.searchsorted(np.sort(x), grid, side="right") / n_fig
    Ge = np.searchsorted(np.sort(y), grid, side="right") / n_fig
    quad = float(np.sum(np.abs(Fe - Ge)) * (grid[1] - grid[0]))
    ctx.check("W1 = Riemann sum of |F - G| on a 2e5-point grid", quad, w_small, rtol=1e-3, source=_C11)
    plan = wasserstein_1d_plan(x, y, p=2)
    duals = float(np.mean(plan.f) + np.mean(plan.g))
    ctx.check("W2^2 = <a, f> + <b, g> (north-west corner potentials)", plan.value ** 2, duals, rtol=1e-9,
              atol=1e-12, source="LP duality")

    # population closed forms from a large sample (statistical tolerance)
    n_big = ctx.size(100_000, 2_000_000)
    xb, yb = fam.sample(n_big, rng=ctx.rng(1))
    w1_big = float(wasserstein_1d(xb.ravel(), yb.ravel()))
    w2_big = float(wasserstein_1d(xb.ravel(), yb.ravel(), p=2))
    tol = 6.0 / math.sqrt(n_big)  # a few standard deviations of the empirical W (sd ~ 1/sqrt(n))
    ctx.check(f"W1 of N(0,1), N(1.5,0.5^2) from n = {n_big:,} samples", fam.w1(), w1_big, rtol=0, atol=tol,
              source=_C11)
    ctx.check(f"W2 (closed form sqrt(dm^2 + ds^2)) from n = {n_big:,} samples", fam.w2(), w2_big, rtol=0,
              atol=tol, source=_C11)
    ctx.number("W1_population", fam.w1())
    ctx.number("W1_large_sample", w1_big)
    ctx.number("W2_population", fam.w2())
    ctx.number("W2_large_sample", w2_big)
    ok = abs(w1_big - fam.w1()) < tol and abs(w2_big - fam.w2()) < tol
    ctx.verdict(f"W1 from {n_big:,} samples = {w1_big:.4f} vs closed form {fam.w1():.4f}; W2 = {w2_big:.4f} vs "
                f"{fam.w2():.4f} (tolerance {tol:.3g}): {'agree' if ok else 'DISAGREE'}; on the small sample the "
                f"quantile formula equals scipy to {abs(w_small - float(stats.wasserstein_distance(x, y))):.1e} "
                f"and the LP to {abs(w_small - w_lp):.1e}.")


@register("emd1d_sliced", title="Sliced Wasserstein: convergence in the number of projections", order=21)
def emd1d_sliced(ctx):
    """Sliced W_2 between isotropic Gaussians in 2-D has the closed form
    SW_2^2 = |m0 - m1|^2 / d + (s0 - s1)^2 (each projection is a pair of 1-D Gaussians), the
    max-sliced distance sqrt(|dm|^2 + (s0 - s1)^2) and W_2 = sqrt(|dm|^2 + d (s0 - s1)^2). The
    Monte-Carlo estimate converges at rate 1/sqrt(L). Parallel lines: SW_1 = 2|theta|/pi in 2-D
    while max-SW_1 = W_1 = |theta|."""
    from ...families import ParallelLines, gaussian_w2
    from ...ot import (max_sliced_wasserstein, projected_wasserstein, random_directions, sliced_wasserstein,
                       wasserstein_1d)
    from ...plots.emd1d import plot_sliced_panels

    d, s0, s1 = 2, 1.0, 2.0
    dm = np.array([3.0, -1.0])
    n = ctx.size(4000, 40_000)
    L_max = ctx.size(1000, 5000)
    rng = ctx.rng(0)
    x = rng.normal(size=(n, d)) * s0
    y = rng.normal(size=(n, d)) * s1 + dm
    sw_true = math.sqrt(dm @ dm / d + (s0 - s1) ** 2)
    msw_true = math.sqrt(dm @ dm + (s0 - s1) ** 2)
    w2_true = gaussian_w2(np.zeros(d), s0 ** 2 * np.eye(d), dm, s1 ** 2 * np.eye(d))
    th = random_directions(L_max, d, rng=ctx.rng(1))
    per = projected_wasserstein(x, y, th, p=2)
    sw_est = float(sliced_wasserstein(x, y, n_projections=L_max, p=2, rng=ctx.rng(1)))
    msw_est = float(max_sliced_wasserstein(x, y, n_projections=ctx.size(100, 400), p=2, rng=ctx.rng(2),
                                           refine=10))
    se = float(np.std(per ** 2) / math.sqrt(L_max) / (2 * sw_true))
    samp = 8.0 / math.sqrt(n)  # sampling error budget of the empirical 1-D W2 (sd ~ 1/sqrt(n))

    thetas = np.linspace(-2, 2, ctx.size(9, 17))
    # 1000 directions in both modes: their Monte-Carlo error is the error bar of the SW1 check
    # below (sd 0.019 at |theta| = 2; 300 directions, sd 0.036, failed a fixed 5 % on 1 % of seeds)
    L_lines = 1000
    sw_l, msw_l, w_l, w1_z = [], [], [], []
    for t in thetas:
        px, py = ParallelLines(float(t)).sample(ctx.size(1000, 5000), rng=ctx.rng(3))
        sw_l.append(float(sliced_wasserstein(px, py, n_projections=L_lines, rng=ctx.rng(4))))
        w1_z.append(float(wasserstein_1d(px[:, 1], py[:, 1])))
        msw_l.append(float(max_sliced_wasserstein(px, py, n_projections=50, rng=ctx.rng(5), refine=10)))
        w_l.append(float(wasserstein_1d(px[:, 0], py[:, 0])))
    fig = plot_sliced_panels(per, thetas, sw_l, msw_l, w_l, p=2, closed_form=sw_true,
                             upper_lines={r"max-$SW_2$ (closed form)": msw_true, r"$W_2$ (Bures)": w2_true},
                             ymax=w2_true * 1.15, title=f"N(0, I) vs N((3, -1), 4 I), {n:,} points each")
    ctx.figure(fig, "sliced.png",
               "Left: the running sliced-W2 estimate against the number of projections, with a ±2 SE band, "
               "converging to the closed form; max-sliced and W2 lie above (SW <= max-SW <= W). Right: on "
               "the parallel lines SW1 = 2|theta|/pi and max-SW1 = W1 = |theta|.")

    ctx.check(f"SW2 isotropic Gaussians (L = {L_max}, n = {n:,})", sw_true, sw_est, rtol=0,
              atol=4 * se + samp, source="closed form |dm|^2/d + (s0 - s1)^2")
    ctx.check("max-SW2 isotropic Gaussians (refined)", msw_true, msw_est, rtol=0, atol=2 * samp + 0.02,
              source="closed form |dm|^2 + (s0 - s1)^2")
    ctx.check("SW2 <= max-SW2 <= W2 (closed forms)", True, bool(sw_true <= msw_true <= w2_true), source="definitions")
    k = int(np.argmax(np.abs(thetas)))
    t = float(thetas[k])
    tol = parallel_lines_sw1_tolerance(t, L_lines, w1_z[k])
    ctx.check(f"parallel lines SW1 = 2|theta|/pi, theta = {t:g} ({L_lines} directions; Monte-Carlo bound "
              f"+ sampling bound {w1_z[k]:.3f})", 2 * abs(t) / math.pi, sw_l[k], rtol=0, atol=tol,
              source=_C1 + f"; normal bound at level {ALPHA:g}")
    ctx.check(f"parallel lines max-SW1 = |theta|, theta = {t:g}", abs(t), msw_l[k], rtol=0.02, atol=0.02, source=_C1)
    ctx.number("SW2_closed_form", sw_true)
    ctx.number("SW2_estimate", sw_est)
    ctx.number("SW2_direction_SE", se)
    ctx.number("maxSW2_closed_form", msw_true)
    ctx.number("maxSW2_estimate", msw_est)
    ctx.number("W2_bures", w2_true)
    err = abs(sw_est - sw_true)
    ctx.verdict(f"Sliced W2 from {L_max} projections = {sw_est:.4f} vs closed form {sw_true:.4f} "
                f"(error {err:.4f}, {err / (se + samp / 4):.1f} x the combined standard error); max-sliced "
                f"{msw_est:.4f} vs {msw_true:.4f}; parallel lines at theta = {t:g}: SW1 = {sw_l[k]:.3f} "
                f"(2|theta|/pi = {2 * abs(t) / math.pi:.3f}), max-SW1 = {msw_l[k]:.3f} (|theta| = {abs(t):g}).")
