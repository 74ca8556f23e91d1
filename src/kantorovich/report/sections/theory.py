"""Report sections: theory by experiment, part A (T1-T4, T8, T9: generator gradients).

Orders 60-65. Every verdict is computed from the numbers of the run.
"""

from __future__ import annotations

import math

import numpy as np

from .. import register


def _fmt_pow(x: float) -> str:
    return f"10^{math.log10(x):.1f}" if x > 0 and math.isfinite(x) else str(x)


@register("vanishing_gradients", title="T1 - Vanishing gradients on disjoint manifolds (Thm 2.4)", order=60,
          description="G fixed on a segment disjoint from the data segment; D (tanh MLP, sigmoid output, "
                      "Adam) trains; the norm of the generator's gradient of E log(1 - D(g(z))) against the "
                      "bound M eps/(1-eps) of Arjovsky & Bottou's Theorem 2.4, with M and eps measured.")
def vanishing_gradients(ctx):
    from ...plots.theory import plot_vanishing
    from ...toy_experiments.gradients import (
        SegmentsConfig,
        VanishingConfig,
        run_vanishing_gradients,
    )

    n_steps = ctx.size(1000, 10000)
    cfg = VanishingConfig(offsets=(2.0, 1.0, 0.5),
                          segments=SegmentsConfig(n_steps=n_steps, n_checkpoints=ctx.size(20, 40),
                                                  n_eval=ctx.size(256, 512)))
    res = run_vanishing_gradients(cfg, ctx.rng(0), progress=lambda it: ctx.progress(it, desc="T1 D steps"))
    ctx.figure(plot_vanishing(res), "vanishing_gradients.png",
               "Generator gradient norm (solid) and the bound M eps/(1-eps) (dashed, drawn where eps < 1) "
               "against discriminator steps, for generator segments at three offsets ('ages').")
    rows = []
    for off, h in res["runs"].items():
        rows.append([off, h["grad_sat"][0], float(np.max(h["grad_sat"])), h["grad_sat"][-1], res["fall"][off],
                     h["eps"][-1], h["bound"][-1], h["M"], f"{res['n_valid'][off]}/{h['steps'].size}",
                     res["bound_held"][off]])
        ctx.number(f"fall_offset_{off:g}", res["fall"][off])
        ctx.number(f"final_grad_offset_{off:g}", h["grad_sat"][-1])
        ctx.number(f"final_eps_offset_{off:g}", h["eps"][-1])
        ctx.check(f"Thm 2.4 bound |grad| < M eps/(1-eps) at every checkpoint with eps < 1 (offset {off:g})",
                  True, res["bound_held"][off], agrees=res["bound_held"][off], source="Arjovsky & Bottou 2017, Thm 2.4")
    ctx.table("Generator gradient while D trains", ["offset", "grad at step 0", "max grad", "final grad",
                                                    "step-0 / final", "final eps", "final bound", "M",
                                                    "checkpoints with eps < 1", "bound held"], rows)
    falls = list(res["fall"].values())
    held = all(res["bound_held"].values())
    nv = sum(res["n_valid"].values())
    nt = sum(h["steps"].size for h in res["runs"].values())
    ctx.verdict(
        f"Generator gradient norm fell between {_fmt_pow(min(falls))} and {_fmt_pow(max(falls))} over {n_steps} "
        f"discriminator steps; the bound M eps/(1-eps) "
        + ("held at every checkpoint where it is defined" if held else "was VIOLATED at some checkpoint")
        + f" ({nv} of {nt} checkpoints had eps < 1; at the others the bound is vacuous).")


@register("gradient_identity", title="T2 - The -log D* gradient is that of KL - 2 JS (Thm 2.5)", order=61,
          description="P_r = N(0,1), P_g = N(theta,1), g_theta(z) = theta + z, D* = p_r/(p_r + p_theta0) held "
                      "fixed. Left side E[-d/dtheta log D*(g_theta(z))] by quadrature and by Monte Carlo with "
                      "autograd; right side d/dtheta [KL - 2 JS] with KL = theta^2/2 and JS by quadrature, by "
                      "central differences.")
def gradient_identity(ctx):
    from ...plots.theory import plot_identity
    from ...toy_experiments.gradients import IdentityConfig, run_gradient_identity

    cfg = IdentityConfig(thetas=ctx.size((0.25, 0.5, 1.0, 2.0, 3.0), tuple(np.linspace(0.1, 4.0, 14))),
                         n_mc=ctx.size(20000, 200000))
    res = run_gradient_identity(cfg, ctx.rng(0))
    ctx.figure(plot_identity(res), "gradient_identity.png",
               "Both sides of Theorem 2.5 against theta_0, and their differences.")
    rows = []
    for i, t in enumerate(res["theta0"]):
        rows.append([t, res["rhs"][i], res["lhs_quad"][i], res["lhs_mc"][i], res["lhs_se"][i]])
        ctx.check(f"Thm 2.5 at theta0 = {t:.3g}: E[-grad log D*] (quadrature) = grad(KL - 2JS)",
                  res["rhs"][i], res["lhs_quad"][i], rtol=1e-6, atol=1e-7, source="Arjovsky & Bottou 2017, Thm 2.5")
    ctx.table("Theorem 2.5 on Gaussians", ["theta0", "d/dtheta [KL - 2JS]", "left side (quadrature)",
                                          "left side (Monte Carlo)", "MC standard error"], rows)
    ctx.number("max_abs_err_quadrature", res["max_abs_err_quad"])
    ctx.number("max_abs_z_monte_carlo", res["max_z_mc"])
    ok = res["max_abs_err_quad"] < 1e-6 and res["max_z_mc"] < 4
    ctx.verdict(
        f"The identity holds at all {res['theta0'].size} values of theta0: quadrature agrees with "
        f"d/dtheta[KL - 2JS] to {res['max_abs_err_quad']:.1e} (finite-difference error), Monte Carlo within "
        f"{res['max_z_mc']:.1f} standard errors" + ("." if ok else " - NOT within tolerance."))


@register("cauchy_gradients", title="T3 - Cauchy-distributed generator gradients (Thm 2.6)", order=62,
          description="D = D* + white noise on the generator's support (the theorem's hypothesis: independent "
                      "centred Gaussian noise on D and on its gradient at every point). With disjoint supports "
                      "D* = 0 there and -grad log D is a ratio of centred Gaussians; the control run has "
                      "D* = 1/2 (overlapping supports).")
def cauchy_gradients(ctx):
    from ...plots.theory import plot_cauchy
    from ...toy_experiments.gradients import CauchyConfig, run_cauchy_gradients

    cfg = CauchyConfig(n_draws=ctx.size(20000, 200000))
    res = run_cauchy_gradients(cfg, ctx.rng(0))
    ctx.figure(plot_cauchy(res), "cauchy_gradients.png",
               "Left: a gradient coordinate under D = D* + noise with Cauchy and Gaussian fits (log density). "
               "Middle: tail P(|X| > x), slope -1 for a Cauchy law. Right: the sample variance of the first n "
               "draws: it keeps jumping for the disjoint case and settles for the control.")
    rows = []
    for name in ("disjoint", "control"):
        r = res[name]
        rows.append([name, r["d_star"], r["loglik_cauchy"], r["loglik_norm"], r["ks_cauchy"], r["ks_norm"],
                     r["hill_alpha"], r["running_var"][-1]])
        for k in ("loglik_cauchy", "loglik_norm", "ks_cauchy", "ks_norm", "hill_alpha"):
            ctx.number(f"{name}_{k}", r[k])
    ctx.table("Fits of a gradient coordinate (scipy.stats)", ["run", "D* on G's support", "loglik Cauchy",
                                                              "loglik Gaussian", "KS Cauchy", "KS Gaussian",
                                                              f"Hill tail index (k = {res['k']})",
                                                              "variance of all draws"], rows)
    d, c = res["disjoint"], res["control"]
    ctx.check("Hill tail index of -grad log D under white noise (Cauchy: 1)", 1.0, d["hill_alpha"], rtol=0, atol=0.25,
              source="Arjovsky & Bottou 2017, Thm 2.6")
    rv = d["running_var"]
    half = rv[rv.size // 2:]
    swing_d = float(half.max() / half.min())
    half_c = c["running_var"][c["running_var"].size // 2:]
    swing_c = float(half_c.max() / half_c.min())
    ctx.number("running_var_swing_disjoint", swing_d)
    ctx.number("running_var_swing_control", swing_c)
    cauchy_wins = d["loglik_cauchy"] > d["loglik_norm"] and d["ks_cauchy"] < d["ks_norm"]
    ctx.verdict(
        f"Disjoint supports: the Cauchy fit {'beats' if cauchy_wins else 'does NOT beat'} the Gaussian "
        f"(log-likelihood {d['loglik_cauchy']:.4g} vs {d['loglik_norm']:.4g}, KS {d['ks_cauchy']:.3f} vs "
        f"{d['ks_norm']:.3f}), Hill tail index {d['hill_alpha']:.2f} (Cauchy: 1); over the second half of the "
        f"draws the running variance still varies {swing_d:.3g}x (control with D* = 1/2: {swing_c:.3g}x, "
        f"tail index {c['hill_alpha']:.1f}).")


@register("parallel_lines_gan", title="T4 - Parallel lines: JS-GAN vs WGAN", order=63,
          description="Data (0, Z), generator (theta, z), Z, z ~ U[0,1], theta0 = 1, one generator parameter "
                      "trained by SGD after a pretrained discriminator/critic and 5 critic steps per generator "
                      "step. W_1 = |theta| has gradient sign(theta); JS = log 2 is flat.")
def parallel_lines_gan(ctx):
    from ...plots.theory import plot_parallel_lines_gan
    from ...toy_experiments.parallel_lines_gan import ParallelLinesConfig, run_parallel_lines

    cfg = ParallelLinesConfig(n_gen_steps=ctx.size(80, 250), n_pretrain=ctx.size(60, 200))
    res = run_parallel_lines(cfg, ctx.rng(0), progress=lambda it: ctx.progress(it, desc="T4 generator steps"))
    ctx.figure(plot_parallel_lines_gan(res), "parallel_lines_gan.png",
               "theta over generator steps (left) and the size of the generator's gradient (right).")
    rows = []
    for v, r in res["runs"].items():
        rows.append([v, r["theta"][0], r["theta"][-1], res["final_abs_theta"][v], res["mean_abs_grad_early"][v],
                     res["sign_agreement"][v], r["value"][-1]])
        ctx.number(f"{v}_final_abs_theta", res["final_abs_theta"][v])
        ctx.number(f"{v}_mean_abs_grad_early", res["mean_abs_grad_early"][v])
    ctx.table("Parallel lines", ["variant", "theta start", "theta end", "mean |theta|, last fifth",
                                 "mean |grad|, first fifth", "share of steps toward 0 (|theta| > 0.1)",
                                 "final D value (W estimate / JS lower bound)"], rows)
    parts = []
    if "js" in res["runs"]:
        parts.append(f"JS-GAN (minimax): mean |gradient| {res['mean_abs_grad_early']['js']:.1e} in the first fifth, "
                     f"theta {res['runs']['js']['theta'][0]:g} -> {res['runs']['js']['theta'][-1]:.4f}")
    if "wgan_gp" in res["runs"]:
        w = res["runs"]["wgan_gp"]
        ctx.check("WGAN-GP generator gradient ~ |d W_1/d theta| = 1 while |theta| is large", 1.0,
                  res["mean_abs_grad_early"]["wgan_gp"], rtol=0, atol=0.25, source="Arjovsky et al. 2017, Example 1")
        parts.append(f"WGAN-GP: mean |gradient| {res['mean_abs_grad_early']['wgan_gp']:.2f} (ideal 1), theta "
                     f"{w['theta'][0]:g} -> {np.min(np.abs(w['theta'])):.2g} from 0 at step "
                     f"{int(np.argmin(np.abs(w['theta'])))}, final {w['theta'][-1]:.2f}, mean |theta| over the last "
                     f"fifth {res['final_abs_theta']['wgan_gp']:.2f}")
    if "js_ns" in res["runs"]:
        r = res["runs"]["js_ns"]
        parts.append(f"non-saturating JS-GAN: max |gradient| {np.max(np.abs(r['grad'])):.2g}, theta range "
                     f"[{r['theta'].min():.2f}, {r['theta'].max():.2f}], final {r['theta'][-1]:.2f}, mean |theta| "
                     f"over the last fifth {res['final_abs_theta']['js_ns']:.2f}")
    ctx.verdict("; ".join(parts) + ".")


@register("instance_noise", title="T8 - Instance noise restores the gradient", order=64,
          description="The T1 setting (offset 1) with Gaussian noise of standard deviation sigma added to D's "
                      "inputs, real and generated alike, in training and in the generator's gradient.")
def instance_noise(ctx):
    from ...plots.theory import plot_instance_noise
    from ...toy_experiments.gradients import InstanceNoiseConfig, SegmentsConfig, run_instance_noise

    cfg = InstanceNoiseConfig(noise_stds=(0.0, 0.2, 0.5),
                              segments=SegmentsConfig(n_steps=ctx.size(1000, 10000), n_checkpoints=ctx.size(15, 30),
                                                      n_eval=ctx.size(256, 512)))
    res = run_instance_noise(cfg, ctx.rng(0), progress=lambda it: ctx.progress(it, desc="T8 D steps"))
    ctx.figure(plot_instance_noise(res), "instance_noise.png",
               "Generator gradient norm (left) and mean D on generated points (right) as D trains, per noise level.")
    rows = [[s, res["final"][s], res["ratio_to_clean"].get(s, float("nan")), h["mean_d_fake"][-1]]
            for s, h in res["runs"].items()]
    for s in res["runs"]:
        ctx.number(f"final_grad_noise_{s:g}", res["final"][s])
    ctx.table("Generator gradient at the end of D's training", ["noise sigma", "final gradient norm",
                                                                "ratio to no noise", "final mean D(G(z))"], rows)
    noisy = {s: r for s, r in res["ratio_to_clean"].items() if s > 0}
    ctx.verdict(
        f"After {cfg.segments.n_steps} discriminator steps the generator's gradient without noise is "
        f"{res['final'][0.0]:.1e}; with instance noise it is "
        + ", ".join(f"{res['final'][s]:.2g} (sigma = {s:g}, {r:.3g}x larger)" for s, r in noisy.items()) + ".")


@register("saturating_loss", title="T9 - Saturating vs non-saturating generator loss", order=65,
          description="The T1 setting (offset 1): both generator losses' gradients as D learns to reject the fakes. "
                      "Per sample the ratio of the two gradients is (1 - D)/D.")
def saturating_loss(ctx):
    from ...plots.theory import plot_saturation
    from ...toy_experiments.gradients import SaturationConfig, SegmentsConfig, run_saturation

    cfg = SaturationConfig(SegmentsConfig(n_steps=ctx.size(1000, 10000), n_checkpoints=ctx.size(20, 40),
                                          n_eval=ctx.size(256, 512)))
    h = run_saturation(cfg, ctx.rng(0), progress=lambda it: ctx.progress(it, desc="T9 D steps"))
    ctx.figure(plot_saturation(h), "saturating_loss.png",
               "Gradient norms of log(1 - D(G(z))) and -log D(G(z)) against the mean D(G(z)) (left), and their ratio "
               "(right) with (1 - D)/D at the mean D for reference.")
    idx = [0, int(np.argmin(np.abs(h["mean_d_fake"] - 0.1))), int(np.argmin(np.abs(h["mean_d_fake"] - 0.01))), -1]
    rows = [[int(h["steps"][i]), h["mean_d_fake"][i], h["grad_sat"][i], h["grad_ns"][i], h["ratio"][i]] for i in idx]
    ctx.table("Generator gradients as D grows confident", ["D step", "mean D(G(z))", "saturating", "non-saturating",
                                                           "ratio"], rows)
    ctx.number("final_mean_d_fake", h["mean_d_fake"][-1])
    ctx.number("final_ratio_ns_over_sat", h["ratio_final"])
    ctx.verdict(
        f"Once D rejects the fakes (mean D(G(z)) = {h['mean_d_fake'][-1]:.1e}) the non-saturating gradient "
        f"({h['grad_ns'][-1]:.2g}) is {h['ratio_final']:.3g}x the saturating one ({h['grad_sat'][-1]:.1e}); at the "
        f"start (D(G(z)) = {h['mean_d_fake'][0]:.2f}) they were {h['grad_ns'][0]:.2g} and {h['grad_sat'][0]:.2g}.")
