"""Report sections of the foundation issue: parallel lines, cumulative deltas, D*, closed forms."""

from __future__ import annotations

import math

import numpy as np

from .. import register

_LOG2, _LOG4 = math.log(2.0), math.log(4.0)
_C1 = "C1 (Ma 2022 review, GAN Flavors slides, Min's slides)"


def _discretised_lines(theta: float, k: int):
    """Parallel lines with Z on k levels: histograms on 2k points (disjoint for theta != 0)."""
    z = (np.arange(k) + 0.5) / k
    pts = np.concatenate([np.c_[np.zeros(k), z], np.c_[np.full(k, theta), z]])
    p = np.r_[np.ones(k), np.zeros(k)] / k
    q = np.r_[np.zeros(k), np.ones(k)] / k
    if theta == 0.0:  # the same points
        q = p.copy()
    return pts, p, q


def _w1_lp(a, b, C):
    """W1 between two discrete measures by scipy's HiGHS LP (small sizes only)."""
    from scipy.optimize import linprog

    n, m = C.shape
    A_eq = np.vstack([np.kron(np.eye(n), np.ones(m)), np.kron(np.ones(n), np.eye(m))])
    res = linprog(C.ravel(), A_eq=A_eq, b_eq=np.r_[a, b], bounds=(0, None), method="highs")
    return float(res.fun)


@register("parallel_lines", title="Parallel lines: TV, KL, JS and W against theta (C1, C9, C10)", order=10)
def parallel_lines(ctx):
    """P_0 = (0, Z) and P_theta = (theta, Z), Z ~ U[0,1]: the WGAN paper's Figure 1. The
    closed forms are checked against divergences computed from a discretisation of Z (exact
    TV/KL/JS on histograms, W1 by an LP), and the sequence theta_n = 1/n shows C9."""
    from scipy.spatial.distance import cdist

    from ..._text import with_article
    from ...divergences._exact import js_divergence, kl_divergence, tv_distance
    from ...families import ParallelLines
    from ...plots.foundation import plot_parallel_lines

    thetas = np.linspace(-1, 1, ctx.size(201, 801))
    if not np.any(thetas == 0.0):
        thetas = np.sort(np.append(thetas, 0.0))
    fams = [ParallelLines(t) for t in thetas]
    fig = plot_parallel_lines(thetas, [f.w1() for f in fams], [f.js() for f in fams], [f.tv() for f in fams])
    ctx.figure(fig, "parallel_lines.png",
               "TV, KL, JS and W between P_0 and P_theta: only W = |theta| goes to 0 continuously; "
               "JS sits at log 2, TV at 1 and KL at +inf for every theta != 0.")
    k = ctx.size(8, 16)
    rows = []
    for theta in (0.0, 0.1, -0.5, 1.0):
        fam = ParallelLines(theta)
        pts, p, q = _discretised_lines(theta, k)
        C = cdist(pts, pts)
        w = _w1_lp(p, q, C) if theta != 0.0 else 0.0
        tv, kl, klr, js = tv_distance(p, q), kl_divergence(p, q), kl_divergence(q, p), js_divergence(p, q)
        ctx.check(f"C1 W1, theta={theta:g}", fam.w1(), w, rtol=1e-9, atol=1e-12, source=_C1)
        ctx.check(f"C1 JS, theta={theta:g}", fam.js(), float(js), rtol=1e-15, atol=0, source=_C1)
        ctx.check(f"C1 TV, theta={theta:g}", fam.tv(), float(tv), rtol=1e-15, atol=0,
                  source=_C1 + "; the Ma (2022) review's TV = 1 at theta = 0 is a typo")
        ctx.check(f"C1 KL both ways, theta={theta:g}", fam.kl(), float(max(kl, klr)), rtol=0, atol=0, source=_C1)
        rows.append([theta, w, float(tv), float(kl), float(klr), float(js)])
    ctx.table(f"Divergences from {with_article(k)}-level discretisation of Z (exact on histograms; W by LP)",
              ["theta", "W1 (LP)", "TV", "KL(P0||Ptheta)", "KL(Ptheta||P0)", "JS"], rows)
    # C9: theta_n = 1/n
    ns = [1, 10, 100, 1000]
    seq = [[n, ParallelLines(1 / n).w1(), ParallelLines(1 / n).js(), ParallelLines(1 / n).tv()] for n in ns]
    ctx.table("C9: theta_n = 1/n", ["n", "W1", "JS", "TV"], seq)
    w_last, js_last, tv_last = seq[-1][1], seq[-1][2], seq[-1][3]
    ctx.check("C9 W(P_0, P_1/n) -> 0 (n = 1000)", 1e-3, w_last, rtol=1e-12, source="C9 (Ma 2022 review)")
    ctx.check("C9 JS stays log 2 along 1/n", _LOG2, js_last, rtol=1e-15, atol=0, source="C9 (Ma 2022 review)")
    ctx.check("C9 TV stays 1 along 1/n", 1.0, tv_last, rtol=0, atol=0, source="C9 (Ma 2022 review)")
    pts, p, q = _discretised_lines(0.01, k)
    ctx.check("C10 disjoint 1-D supports in 2-D: JS", _LOG2, float(js_divergence(p, q)), rtol=1e-15, atol=0,
              source="C10 (Arjovsky & Bottou Thm 2.3)")
    ctx.check("C10 disjoint supports: KL(P||Q) and KL(Q||P)", math.inf,
              float(min(kl_divergence(p, q), kl_divergence(q, p))), rtol=0, atol=0,
              source="C10 (Arjovsky & Bottou Thm 2.3)")
    ctx.number("W1_at_theta_1e-3", w_last)
    ctx.number("JS_at_theta_1e-3", js_last)
    ok = all(c["agrees"] for c in ctx.checks)
    ctx.verdict(f"{sum(c['agrees'] for c in ctx.checks)} of {len(ctx.checks)} checks agree. At theta = "
                f"{1 / ns[-1]:g}, W = {w_last:g} while JS = {js_last:.6f} (log 2 = {_LOG2:.6f}) and TV = "
                f"{tv_last:g}: " + ("W is the only one of the four that sees theta shrink."
                                    if ok and w_last < 0.01 and js_last == _LOG2 else "see the failing rows."))


@register("cumulative_deltas", title="Earth-mover by cumulative deltas (C2)", order=11)
def cumulative_deltas_section(ctx):
    """P = (3,2,1,4), Q = (1,2,4,3) on four unit-spaced bins: the surplus carried across each
    edge is delta = (0, 2, 2, -1, 0), and W = sum |delta| = 5 on raw masses (0.5 normalised)."""
    from scipy.stats import wasserstein_distance

    from ...ot._histogram1d import cumulative_deltas, emd_1d_histogram
    from ...plots.foundation import plot_cumulative_deltas

    P, Q = [3, 2, 1, 4], [1, 2, 4, 3]
    d = cumulative_deltas(P, Q)
    w = float(emd_1d_histogram(P, Q))
    wn = float(emd_1d_histogram(P, Q, normalize=True))
    ctx.figure(plot_cumulative_deltas(P, Q, d, w), "cumulative_deltas.png",
               "Top: the two histograms. Bottom: the mass carried right (red) or left (green) across "
               "each bin edge; W is the sum of the absolute deltas.")
    src = "C2 (GAN Flavors slides)"
    ctx.check("C2 deltas", "0, 2, 2, -1, 0", ", ".join(f"{v:g}" for v in d),
              agrees=d.tolist() == [0, 2, 2, -1, 0], source=src)
    ctx.check("C2 W on raw masses", 5.0, w, rtol=0, atol=0, source=src)
    ctx.check("C2 W normalised by 10", 0.5, wn, rtol=1e-15, atol=1e-15, source=src)
    x = np.arange(4.0)
    ctx.check("C2 W normalised vs scipy.stats.wasserstein_distance", float(wasserstein_distance(x, x, P, Q)),
              wn, rtol=1e-12, atol=1e-15, source="scipy")
    ctx.number("deltas", d.tolist())
    ctx.number("W_raw", w)
    ctx.number("W_normalised", wn)
    ctx.verdict(f"deltas = {d.tolist()}, W = {w:g} on raw masses and {wn:g} after normalising: "
                + ("as in the GAN Flavors slides." if d.tolist() == [0, 2, 2, -1, 0] and w == 5.0 else "DIFFERENT from the GAN Flavors slides."))


@register("optimal_discriminator", title="The optimal discriminator and the value identity (C3-C7)", order=12)
def optimal_discriminator_section(ctx):
    """Two 1-D Gaussians p_data = N(0, 1), p_g = N(2, 0.8^2): D* = p_data/(p_data + p_g) on a grid;
    V(D*) = -log 4 + 2 JS checked against the quadrature JS of the pair, and the JS lower bound
    of discriminators D_t = sigmoid(t logit D*) that peaks at t = 1 (D*)."""
    from scipy.stats import norm

    from ...divergences._discriminator import (
        _argmax_a_log_y_b_log_1my,
        gan_value,
        js_from_discriminator,
        optimal_discriminator,
    )
    from ...divergences._exact import js_divergence
    from ...families import GaussianPair
    from ...plots.foundation import plot_optimal_discriminator

    fam_logpdf = norm.logpdf
    fam = GaussianPair(0.0, 1.0, 2.0, 0.64)
    x = np.linspace(-7.0, 9.0, ctx.size(8001, 40001))
    w = np.full_like(x, x[1] - x[0])
    w[[0, -1]] *= 0.5  # trapezoid weights
    pd, pg = fam.pdf0(x), fam.pdf1(x)
    D = optimal_discriminator(pd, pg)
    js = fam.js()
    v = float(gan_value(D, pd, pg, weights=w))
    ts = np.linspace(-0.5, 3.0, ctx.size(57, 141))
    # D_t = sigmoid(t * logit D*), logit D* = log p_data - log p_g; V(D_t) in log space, so that
    # D_t rounding to 0 or 1 in the tails cannot turn the bound into -inf
    logit = fam_logpdf(x, 0.0, 1.0) - fam_logpdf(x, 2.0, 0.8)
    bounds = np.array([0.5 * (float(np.sum(w * (pd * -np.logaddexp(0.0, -t * logit)
                                                 + pg * -np.logaddexp(0.0, t * logit)))) + _LOG4)
                       for t in ts])
    i1 = int(np.argmin(np.abs(ts - 1.0)))
    ctx.check("C7 bound at t = 1 by log-space sum vs js_from_discriminator(D*)",
              float(js_from_discriminator(D, pd, pg, weights=w)), float(bounds[i1]), rtol=0, atol=1e-10,
              source="two computations of the same number")
    keep = (x >= -4.0) & (x <= 6.0)
    fig = plot_optimal_discriminator(x[keep], pd[keep], pg[keep], D[keep], t=ts, bound=bounds, js=js)
    ctx.figure(fig, "optimal_discriminator.png",
               "Left: p_data = N(0,1), p_g = N(2, 0.8^2) and D*; D* = 1/2 where the densities cross. "
               "Right: the JS bound of discriminators D_t, maximal (= JS) at D* (t = 1).")
    src = "C4/C5 (Ma 2022 review, Hsieh's WGAN notes)"
    ctx.check("C5 V(D*) = -log 4 + 2 JS, densities on a grid", -_LOG4 + 2 * js, v, rtol=0, atol=1e-8,
              source=src + "; JS by quadrature")
    # on a histogram the identity holds to rounding
    rng = ctx.rng(1)
    p = rng.random(50)
    q = rng.random(50)
    p[rng.random(50) < 0.2] = 0.0
    p, q = p / p.sum(), q / q.sum()
    jsh = float(js_divergence(p, q))
    Dh = optimal_discriminator(p, q)
    ctx.check("C5 V(D*) = -log 4 + 2 JS, 50-bin histogram", -_LOG4 + 2 * jsh, float(gan_value(Dh, p, q)),
              rtol=0, atol=1e-12, source=src)
    ctx.check("C5 V(D*) = -log 4 when p_g = p_data", -_LOG4, float(gan_value(optimal_discriminator(p, p), p, p)),
              rtol=0, atol=1e-15, source=src)
    ctx.check("C3 argmax of 2 log y + 3 log(1-y)", 0.4, _argmax_a_log_y_b_log_1my(2.0, 3.0), rtol=1e-15,
              source="C3 (Ma 2022 review)")
    i_best = int(np.argmax(bounds))
    ctx.check("C7 the JS bound peaks at D* (t = 1)", 1.0, float(ts[i_best]), rtol=0,
              atol=float(ts[1] - ts[0]), source="C7 (Ma 2022 review, GAN Flavors slides)")
    ctx.check("C7 max bound = JS", js, float(bounds.max()), rtol=0, atol=1e-8, source="C7")
    Ds = optimal_discriminator(pd, pg, alpha=0.9)
    ctx.check("C6 smoothed D* = 0.9 D* (beta = 0)", 0.0, float(np.max(np.abs(Ds - 0.9 * D))), rtol=0,
              atol=1e-15, source="C6 (Ma 2022 review)")
    ctx.number("JS_quadrature", js)
    ctx.number("V_Dstar_grid", v)
    ctx.number("identity_error_grid", abs(v - (-_LOG4 + 2 * js)))
    ctx.verdict(f"V(D*) = {v:.10f} on the grid vs -log 4 + 2 JS = {-_LOG4 + 2 * js:.10f} "
                f"(error {abs(v + _LOG4 - 2 * js):.1e}); on a histogram the error is "
                f"{abs(float(gan_value(Dh, p, q)) + _LOG4 - 2 * jsh):.1e}. The bound of D_t peaks at "
                f"t = {ts[i_best]:.3g}.")


@register("closed_forms", title="Closed forms: result / closed form / computed / agrees (C1-C11)", order=13)
def closed_forms(ctx):
    """Every closed form of the report (C1-C13) that needs no OT solver, each computed independently
    (quadrature, Monte Carlo, an LP, or the exact divergences on a discretisation)."""
    from scipy import integrate, stats
    from scipy.spatial.distance import cdist

    from ...divergences._discriminator import (
        _argmax_a_log_y_b_log_1my,
        gan_value,
        optimal_discriminator,
    )
    from ...divergences._exact import js_divergence, kl_divergence, tv_distance
    from ...families import GaussianPair, HistogramPair, ParallelLines, UniformSegments
    from ...ot._histogram1d import emd_1d_histogram

    # C1
    pts, p, q = _discretised_lines(0.5, 6)
    ctx.check("C1 W(P_0, P_0.5) = 0.5", ParallelLines(0.5).w1(), _w1_lp(p, q, cdist(pts, pts)),
              rtol=1e-9, source="C1; LP on a discretisation")
    ctx.check("C1 JS = log 2", _LOG2, float(js_divergence(p, q)), rtol=1e-15, atol=0, source="C1")
    ctx.check("C1 all zero at theta = 0", 0.0, max(ParallelLines(0.0).summary().values()), rtol=0, atol=0,
              source="C1 (Ma (2022) review typo: TV = 1 at 0)")
    # C2
    ctx.check("C2 W = 5 on raw masses", 5.0, float(emd_1d_histogram([3, 2, 1, 4], [1, 2, 4, 3])), rtol=0, atol=0,
              source="C2")
    # C3
    res = __import__("scipy.optimize", fromlist=["minimize_scalar"]).minimize_scalar(
        lambda y: -(1.5 * math.log(y) + 0.5 * math.log1p(-y)), bounds=(1e-9, 1 - 1e-9), method="bounded",
        options={"xatol": 1e-10})
    ctx.check("C3 argmax a log y + b log(1-y) = a/(a+b), a=1.5, b=0.5", _argmax_a_log_y_b_log_1my(1.5, 0.5),
              float(res.x), rtol=0, atol=1e-7, source="C3; scipy minimize_scalar")
    # C4-C7 on a histogram
    pp, qq = np.array([0.1, 0.4, 0.3, 0.2, 0.0]), np.array([0.3, 0.1, 0.1, 0.2, 0.3])
    D = optimal_discriminator(pp, qq)
    js = float(js_divergence(pp, qq))
    ctx.check("C4 D*(bin 1) = 0.4/(0.4+0.1)", 0.8, float(D[1]), rtol=1e-15, source="C4")
    ctx.check("C5 V(D*) = -log 4 + 2 JS", -_LOG4 + 2 * js, float(gan_value(D, pp, qq)), rtol=0, atol=1e-12,
              source="C5")
    ctx.check("C6 smoothed D*, alpha=0.9: D*(bin 2)", 0.9 * 0.75, float(optimal_discriminator(pp, qq, alpha=0.9)[2]),
              rtol=1e-15, source="C6")
    ctx.check("C7 JS = ½(V(D*) + log 4)", js, 0.5 * (float(gan_value(D, pp, qq)) + _LOG4), rtol=0, atol=1e-12,
              source="C7")
    # C8: Kantorovich-Rubinstein dual on a small 2-D histogram
    rng = ctx.rng(2)
    n = 6
    xs = rng.random((n, 2))
    a, b = rng.random(n), rng.random(n)
    a, b = a / a.sum(), b / b.sum()
    C = cdist(xs, xs)
    rows = []
    for i in range(n):
        for j in range(n):
            if i != j:
                r = np.zeros(n)
                r[i], r[j] = 1.0, -1.0
                rows.append(r)
    from scipy.optimize import linprog

    dual = -linprog(-(a - b), A_ub=np.array(rows), b_ub=C[~np.eye(n, dtype=bool)].ravel(),
                    bounds=[(0, 0)] + [(None, None)] * (n - 1), method="highs").fun
    ctx.check("C8 sup over 1-Lipschitz f of E_P f - E_Q f = W1 (2-D, 6 points)", _w1_lp(a, b, C), float(dual),
              rtol=1e-8, source="C8; both sides by scipy HiGHS")
    # C9 / C10
    ctx.check("C9 W(P_0, P_1/1000) -> 0 while JS = log 2", _LOG2, ParallelLines(1e-3).js(), rtol=0, atol=0,
              source="C9")
    u = UniformSegments(0.0, 1.0, 1.5, 2.5)
    ctx.check("C10 disjoint segments: JS = log 2", _LOG2, u.js(), rtol=1e-15, source="C10")
    ctx.check("C10 disjoint segments: KL = +inf", math.inf, u.kl(), source="C10")
    # C11 Gaussians
    g = GaussianPair(0.3, 1.5, -1.0, 0.5)
    m0, s0, m1, s1 = 0.3, math.sqrt(1.5), -1.0, math.sqrt(0.5)
    kl_num = integrate.quad(lambda t: stats.norm.pdf(t, m0, s0) * (stats.norm.logpdf(t, m0, s0)
                                                                    - stats.norm.logpdf(t, m1, s1)),
                            -30, 30, points=[m0, m1], limit=400)[0]
    ctx.check("C11 KL(N0||N1) closed form vs quadrature", g.kl(), kl_num, rtol=1e-8, source="C11")
    f = lambda uu: abs((m0 - m1) + (s0 - s1) * stats.norm.ppf(uu))
    w2q = math.sqrt(integrate.quad(lambda uu: f(uu) ** 2, 0, 1, limit=400)[0])
    ctx.check("C11 Bures W2 vs 1-D quantile formula", g.w2(), w2q, rtol=1e-8, source="C11")
    w1q = integrate.quad(f, 0, 1, points=[0.5], limit=400)[0]
    ctx.check("C11 W1 = ∫|F - G| vs quantile integral ∫|F⁻¹ - G⁻¹|", g.w1(), w1q, rtol=1e-8, source="C11")
    S0 = np.array([[1.0, 0.4], [0.4, 0.8]])
    S1 = np.array([[2.0, -0.3], [-0.3, 1.0]])
    mu0, mu1 = np.array([0.0, 1.0]), np.array([0.5, 0.0])
    g2 = GaussianPair(mu0, S0, mu1, S1)
    xx, _ = g2.sample(ctx.size(20000, 200000), rng=ctx.rng(3), m=1)
    lr = stats.multivariate_normal.logpdf(xx, mu0, S0) - stats.multivariate_normal.logpdf(xx, mu1, S1)
    se = float(lr.std() / math.sqrt(len(lr)))
    ctx.check(f"C11 KL 2-D closed form vs Monte Carlo (±5 SE = {5 * se:.1e})", g2.kl(), float(lr.mean()),
              rtol=0, atol=5 * se, source="C11; Monte Carlo, fixed seed")
    # the exact histogram divergences against naive formulas and inequalities
    h = HistogramPair(pp + 0.01, qq + 0.01)
    ctx.check("Pinsker TV <= sqrt(KL/2) on a histogram", True,
              h.tv() <= math.sqrt(h.kl() / 2), source="Pinsker")
    ctx.check("TV of the histogram pair", 0.5 * float(np.abs(h.p - h.q).sum()), float(tv_distance(h.p, h.q)),
              rtol=1e-15, source="definition")
    ctx.check("KL of the histogram pair vs sum p log(p/q)", float(np.sum(h.p * np.log(h.p / h.q))),
              float(kl_divergence(h.p, h.q)), rtol=1e-12, source="definition")
    n_ok = sum(c["agrees"] for c in ctx.checks)
    ctx.number("checks", len(ctx.checks))
    ctx.number("agree", n_ok)
    ctx.verdict(f"{n_ok} of {len(ctx.checks)} closed forms agree with their independent computation.")
