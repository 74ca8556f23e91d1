"""Report section T10: generators trained by the Earth-Mover distance itself, no critic.

Order 74 (after T7). Every verdict is computed from the numbers of the run.
"""

from __future__ import annotations

import math

import numpy as np

from .. import register

_NAMES = {"w1_1d": "W1 on x (wasserstein_1d)", "emd": "exact minibatch W1 (emd)",
          "sinkhorn": "Sinkhorn divergence", "sliced": "sliced W1", "js": "JS (closed form)"}


@register("theory_t10_parallel_lines", title="T10 - Parallel lines trained by OT losses, no critic", order=74,
          description="Data (0, Z), generator (theta, z), Z, z ~ U[0,1], theta0 = 1, theta the only parameter. Each "
                      "step differentiates a minibatch OT loss between a data and a generated sample with autograd "
                      "(through kantorovich.ot) and takes a plain gradient step; JS = log 2 for theta != 0, so its "
                      "gradient is 0. Population slopes |dW/dtheta|: W1 1, Sinkhorn divergence ~1, sliced W1 2/pi.")
def t10_parallel_lines(ctx):
    from ...families import ParallelLines
    from ...plots.theory_ot import plot_ot_landscape, plot_ot_training
    from ...toy_experiments.ot_training import (
        POPULATION_SLOPE,
        ParallelLinesOTConfig,
        parallel_lines_landscape,
        run_parallel_lines_ot,
    )

    cfg = ParallelLinesOTConfig(n_steps=ctx.size(60, 200), batch=ctx.size(64, 256))
    res = run_parallel_lines_ot(cfg, ctx.rng(0), progress=lambda it, n: ctx.progress(it, desc=f"T10 {n}"))
    ctx.figure(plot_ot_training(res), "theory_t10_parallel_lines.png",
               f"theta (left) and |d loss/d theta| (right) over plain gradient steps (lr {cfg.lr:g}, batch "
               f"{cfg.batch}) for each minibatch OT loss and for JS, whose gradient is 0.")
    thetas = np.linspace(-1.0, 1.0, ctx.size(21, 41))
    land = parallel_lines_landscape(thetas, cfg, ctx.rng(1), n_rep=ctx.size(2, 10))
    ctx.figure(plot_ot_landscape(land), "theory_t10_landscape.png",
               "Minibatch losses (left, mean over draws) and their gradients (right, mean +- sd) against theta, "
               "with the closed forms W1 = |theta|, SW1 = (2/pi)|theta| and JS (log 2 off 0, 0 at 0).")

    i0 = int(np.argmin(np.abs(thetas)))
    rows = []
    for name, r in res["runs"].items():
        ref = POPULATION_SLOPE[name]
        bias0 = float(land["value"][name][:, i0].mean()) if name in land["value"] else 0.0
        rows.append([_NAMES[name], r["theta"][-1], res["final_abs_theta"][name], res["grad_far"][name], ref,
                     res["sign_near"][name], bias0, r["sec_per_step"] * 1e3])
        for k in ("final_abs_theta", "grad_far", "sign_near"):
            ctx.number(f"{name}_{k}", res[k][name])
        ctx.number(f"{name}_ms_per_step", r["sec_per_step"] * 1e3)
        if name in land["value"]:
            ctx.number(f"{name}_minibatch_value_at_0", bias0)
    ctx.table("Gradient descent from theta = 1", ["loss", "final theta", "mean |theta|, last fifth",
                                                  "mean |grad| while |theta| > 0.25", "population slope",
                                                  "share of steps toward 0 (|theta| < 0.05)",
                                                  "minibatch loss at theta = 0 (truth 0)", "ms per step"], rows)

    ot = [n for n in res["runs"] if n != "js"]
    tol = 3 * cfg.lr
    for name in ot:
        ctx.check(f"{_NAMES[name]}: gradient descent drives theta from 1 to ~0 (mean |theta| over the last fifth "
                  f"< 3 lr)", True, res["final_abs_theta"][name] < tol,
                  agrees=res["final_abs_theta"][name] < tol, source="Arjovsky et al. 2017, Example 1")
    slope_tol = {"w1_1d": 1e-12, "emd": 0.05, "sinkhorn": 0.1, "sliced": 0.1}
    for name in ot:
        ctx.check(f"{_NAMES[name]}: mean |d loss/d theta| while |theta| > 0.25 ~ population slope",
                  POPULATION_SLOPE[name], res["grad_far"][name], rtol=0, atol=slope_tol[name],
                  source="W1 = |theta|; SW1 = (2/pi)|theta|")
    js = res["runs"]["js"]
    ctx.check("JS gradient at theta != 0 (closed form: JS = log 2 is flat)", 0.0, float(np.max(np.abs(js["grad"]))),
              rtol=0, atol=1e-12, source="Arjovsky et al. 2017, Example 1")
    ctx.check("theta trained on JS stays at theta0", 1.0, float(js["theta"][-1]), rtol=0, atol=1e-12,
              source="Arjovsky et al. 2017, Example 1")
    # the landscape: W continuous (1-Lipschitz in theta), JS jumps at 0
    jump = float(ParallelLines(1e-9).js() - ParallelLines(0.0).js())
    ctx.check("JS jumps at theta = 0: JS(1e-9) - JS(0) = log 2", math.log(2), jump, rtol=1e-12,
              source="Arjovsky et al. 2017, Example 1")
    dt = float(thetas[1] - thetas[0])
    lip = {n: float(np.max(np.abs(np.diff(land["value"][n].mean(axis=0))))) / dt for n in land["value"]}
    for n, v in lip.items():
        ctx.number(f"{n}_landscape_max_slope", v)
    if "emd" in lip:
        # W_hat(theta) - W_hat(theta') <= |theta - theta'| for fixed samples; averaged over
        # independent draws the difference also carries their noise, so allow a margin
        ctx.check("exact minibatch W1 is continuous in theta: max |Delta W|/|Delta theta| on the grid <= ~1",
                  True, lip["emd"] < 1.5, agrees=lip["emd"] < 1.5, source="W1 is 1-Lipschitz in the points")
    if "emd" in land["value"]:
        b = float(land["value"]["emd"][:, i0].mean())
        ctx.check("minibatch W1 is biased up: E W1(batch) at theta = 0 > 0 = W1", True, b > 0, agrees=b > 0,
                  source="Jensen: E W(P_n, Q_n) >= W(P, Q)")
    ctx.number("lr", cfg.lr)
    ctx.number("batch", cfg.batch)
    ctx.number("n_steps", cfg.n_steps)

    # verdict, from the numbers
    moved = [n for n in ot if res["final_abs_theta"][n] < tol]
    parts = [f"From theta = 1, plain gradient descent (lr {cfg.lr:g}, batch {cfg.batch}, {cfg.n_steps} steps) on "
             + ", ".join(f"{_NAMES[n]} (mean |theta| over the last fifth {res['final_abs_theta'][n]:.3f})"
                         for n in ot)
             + (" drives theta to ~0 in every case" if len(moved) == len(ot)
                else f" drives theta to ~0 only for {', '.join(moved) or 'none'}")
             + f", while JS's gradient is exactly 0 (max {np.max(np.abs(js['grad'])):.0e}) and theta stays at "
             f"{js['theta'][-1]:g}."]
    parts.append("Away from 0 (|theta| > 0.25) the mean |gradient| is "
                 + ", ".join(f"{res['grad_far'][n]:.3f} ({_NAMES[n]}; population {POPULATION_SLOPE[n]:.3f})"
                             for n in ot) + ".")
    if "emd" in ot:
        parts.append(f"The minibatch W1 is biased up (at theta = 0 its mean is {land['value']['emd'][:, i0].mean():.3f}, "
                     f"not 0: the two samples' heights never match), and its gradient sum P_ij theta/|x_i - y_j| "
                     f"shrinks below 1 as |theta| falls to the size of the vertical gaps (~1/batch), "
                     + ("so theta oscillates less than" if res["final_abs_theta"]["emd"]
                        < res["final_abs_theta"].get("w1_1d", math.inf) else "yet theta does not settle better than")
                     + f" with the exact 1-D W1, whose gradient is exactly sign(theta) (final mean |theta| "
                     f"{res['final_abs_theta']['emd']:.3f} vs {res['final_abs_theta'].get('w1_1d', float('nan')):.3f}).")
    if "sliced" in ot:
        noisy = res["sign_near"]["sliced"] < 1
        parts.append(f"Sliced W1's random directions {'add' if noisy else 'added no'} sign noise near 0: "
                     f"{res['sign_near']['sliced']:.0%} of its steps with |theta| < 0.05 pointed towards 0"
                     + (f" (emd: {res['sign_near']['emd']:.0%})" if "emd" in ot else "") + ".")
    ctx.verdict(" ".join(parts))


#: T10b's Sinkhorn eps in mode standard deviations (the ring's std 0.01 gives eps 0.05)
EPS_PER_STD = 5.0


@register("theory_t10_manifolds", title="T10 - MLP generators trained by minibatch OT, no discriminator", order=75,
          description="The T7 setting (ring of 8 Gaussians, radius 1, std 0.01; grid of 25 in full mode; ReLU MLP "
                      "generator, z ~ N(0, I_2), Adam(1e-3, 0.5, 0.9)) with the discriminator replaced by a minibatch "
                      "OT loss between batch generated and batch data points, differentiated with autograd through "
                      "kantorovich.ot: Sinkhorn divergence (Euclidean cost, eps 5 mode standard deviations: 0.05 "
                      "on the ring, 0.25 on the grid), sliced W1 (50 directions) and exact W1 (emd). Two batch "
                      "sizes show the minibatch bias.")
def t10_manifolds(ctx):
    from ...plots.theory_ot import plot_ot_generators
    from ...toy_experiments import data as D
    from ...toy_experiments.metrics import perfect_hq_fraction
    from ...toy_experiments.ot_training import data_loss_floor, train_ot_generator

    datasets = ["ring8"] if ctx.quick else ["ring8", "grid25"]
    steps = ctx.size(200, 2000)
    hidden = ctx.size((32, 32), (64, 64))
    batches = (32, 128)
    # quick mode: the Sinkhorn divergence (~45 ms a step) only at the small batch
    plan = [("sliced", b) for b in batches] + [("emd", b) for b in batches] + \
        [("sinkhorn", b) for b in (batches[:1] if ctx.quick else batches)]
    perfect = perfect_hq_fraction(3.0)
    ctx.number("perfect_generator_hq_fraction", perfect)
    ctx.number("n_steps", steps)
    rows, res = [], {}
    # the Sinkhorn divergence's eps at 5 mode standard deviations: 0.05 on the ring; on the grid
    # (std 0.05, costs up to ~11) eps = 0.05 needs thousands of iterations a solve, often max_iter
    eps_of = {ds: EPS_PER_STD * D.mode_centers(ds)[1] for ds in datasets}
    # every training has its own seeded generator: independent calls (tasks on a Dask client)
    calls = [dict(dataset=ds, loss=loss, n_steps=steps, batch=b, g_hidden=hidden, n_eval=ctx.size(1000, 2500),
                  eps=eps_of[ds], rng=ctx.rng(10 * k + (0 if ds == "ring8" else 1)),
                  progress=lambda it, _d=f"T10 {ds} {loss} {b}": ctx.progress(it, desc=_d))
             for ds in datasets for k, (loss, b) in enumerate(plan)]
    trained = iter(ctx.map(train_ot_generator, calls))
    for ds in datasets:
        eps = eps_of[ds]
        for k, (loss, b) in enumerate(plan):
            r = next(trained)
            res[(ds, loss, b)] = r
            floor, floor_sd = data_loss_floor(ds, loss, b, n_rep=5, eps=eps, rng=ctx.rng(500 + k))
            tail = r["loss"][-max(1, steps // 10):].mean()
            rows.append([ds, loss, b, r["modes"], 100 * r["hq_fraction"], r["reverse_kl"], r["loss"][0], float(tail),
                         floor, 1e3 * r["sec_per_step"], r["unconverged_steps"]])
            key = f"{ds}/{loss}/batch{b}"
            for name, v in (("modes", r["modes"]), ("hq_percent", 100 * r["hq_fraction"]),
                            ("reverse_kl", r["reverse_kl"]), ("final_loss", float(tail)), ("data_floor", floor),
                            ("ms_per_step", 1e3 * r["sec_per_step"]), ("unconverged_steps", r["unconverged_steps"])):
                ctx.number(f"{key}/{name}", v)
            ctx.check(f"{ds}, {loss}, batch {b}: the minibatch loss fell during training (mean of the last tenth "
                      f"< first step)", True, bool(tail < r["loss"][0]), agrees=bool(tail < r["loss"][0]),
                      source="gradient descent on the OT loss")
        centers, std = D.mode_centers(ds)
        names = {"sliced": r"sliced $W_1$", "emd": r"exact minibatch $W_1$", "sinkhorn": "Sinkhorn divergence"}
        show = {f"{names.get(loss, loss)}, batch {b}": res[(ds, loss, b)] for loss, b in plan}
        ctx.figure(plot_ot_generators(show, D.sample(ds, ctx.size(1000, 2500), ctx.rng(5))),
                   f"theory_t10_generators_{ds}.png",
                   f"{ds}: data and samples of generators trained {steps} steps by each minibatch OT loss "
                   f"(black: 3 sigma circles around the modes), no discriminator. Modes: modes holding a "
                   f"high-quality (HQ) sample, one within 3 sigma of a mode; reverse KL: of the HQ samples' "
                   f"mode histogram to the uniform one (0 = balanced).")
    for loss in ("sliced", "emd"):
        f_small = data_loss_floor(datasets[0], loss, batches[0], n_rep=5, rng=ctx.rng(900))[0]
        f_big = data_loss_floor(datasets[0], loss, batches[1], n_rep=5, rng=ctx.rng(901))[0]
        ctx.check(f"minibatch {loss} between two data samples (a perfect generator's loss; population 0) is > 0 "
                  f"and shrinks with the batch ({batches[0]} -> {batches[1]})", True,
                  bool(0 < f_big < f_small), agrees=bool(0 < f_big < f_small),
                  source="E W(P_n, P'_n) > 0 = W(P, P), decreasing in n")
    ctx.table(f"Generators trained by minibatch OT ({steps} Adam steps, G {'-'.join(map(str, hidden))}; a perfect "
              f"generator scores {100 * perfect:.1f}% HQ and reverse KL 0)",
              ["data", "loss", "batch", "modes captured", "HQ %", "reverse KL", "loss at step 1",
               "loss, mean of last tenth", "loss between two data samples (bias floor)", "ms per step",
               "steps with an unconverged Sinkhorn solve"], rows)
    # verdict from the numbers
    parts = []
    for ds in datasets:
        k_modes = len(D.mode_centers(ds)[0])
        desc = "; ".join(f"{loss} b{b}: {res[(ds, loss, b)]['modes']}/{k_modes} modes, "
                         f"{100 * res[(ds, loss, b)]['hq_fraction']:.0f}% HQ, rKL {res[(ds, loss, b)]['reverse_kl']:.2f}, "
                         f"{1e3 * res[(ds, loss, b)]['sec_per_step']:.0f} ms/step" for loss, b in plan)
        parts.append(f"{ds} after {steps} steps: {desc}.")
    ds0 = datasets[0]
    full_cover = [f"{loss} b{b}" for loss, b in plan if res[(ds0, loss, b)]["modes"] == 8]
    best_hq = max(plan, key=lambda p: res[(ds0, *p)]["hq_fraction"])
    parts.append(f"With no discriminator, {len(full_cover)} of {len(plan)} runs on the ring cover all 8 modes"
                 + (f" ({', '.join(full_cover)})" if full_cover else "")
                 + f"; the best high-quality fraction is {100 * res[(ds0, *best_hq)]['hq_fraction']:.0f}% "
                 f"({best_hq[0]} batch {best_hq[1]}) against a perfect generator's {100 * perfect:.0f}%.")
    both = [loss for loss in ("sliced", "emd", "sinkhorn") if all((ds0, loss, b) in res for b in batches)]
    if both:
        lower = [loss for loss in both if res[(ds0, loss, batches[1])]["reverse_kl"] < res[(ds0, loss, batches[0])]["reverse_kl"]]
        parts.append(f"Batch {batches[1]} instead of {batches[0]} lowered the reverse KL for {len(lower)} of {len(both)} "
                     f"losses ({', '.join(lower) or 'none'}).")
    by = {(r[0], r[1], r[2]): r for r in rows}
    ratios = ", ".join(f"{loss} b{b} {by[(ds0, loss, b)][7] / by[(ds0, loss, b)][8]:.1f}x" for loss, b in plan)
    floors = ", ".join(f"{loss} {by[(ds0, loss, batches[0])][8]:.3f} -> {by[(ds0, loss, batches[1])][8]:.3f}"
                       for loss in both)
    parts.append(f"Minibatch bias: two samples of the data themselves score above 0 (batch {batches[0]} -> "
                 f"{batches[1]}: {floors}), and the trained generators' final losses are {ratios} that floor: at "
                 f"the end a sizeable part of the loss a generator sees is the sampling noise of the batch.")
    unconv = {k: r["unconverged_steps"] for k, r in res.items() if r["unconverged_steps"]}
    if unconv:
        parts.append("Sinkhorn solves that stopped at max_iter (ConvergenceWarning; gradient from slightly "
                     "non-optimal potentials): " + ", ".join(f"{k[0]} b{k[2]}: {n} of {steps} steps"
                                                            for k, n in unconv.items()) + ".")
    if ctx.quick:
        parts.append(f"Quick mode: {steps} steps and small nets; run the full report for the {2000}-step numbers.")
    ctx.verdict(" ".join(parts))


@register("theory_t10_gradient_flow", title="T10 - A point cloud flowing along -grad of the Sinkhorn divergence",
          order=76,
          description="200 points from a Gaussian blob move by gradient descent on S_eps(x, y) (squared Euclidean "
                      "cost, eps 0.05) towards 200 points on a circle; each step takes the fraction 0.2 of the "
                      "barycentric move, x <- x - 0.2 (n/2) grad_x S_eps (autograd through kantorovich.ot).")
def t10_gradient_flow(ctx):
    from ...plots.theory_ot import plot_sinkhorn_flow
    from ...toy_experiments import data as D
    from ...toy_experiments.ot_training import sinkhorn_flow

    g = ctx.rng(0)
    n = ctx.size(150, 400)
    x0 = 0.3 * g.standard_normal((n, 2)) + np.array([-1.5, 0.0])
    y = D.sample("circle", n, g)
    flow = sinkhorn_flow(x0, y, eps=0.05, step=0.2, n_steps=25, snapshots=(0, 2, 5, 10, 25))
    ctx.figure(plot_sinkhorn_flow(flow), "theory_t10_gradient_flow.png",
               f"{n} points (red) flowing along -grad S_eps towards the target (grey), snapshots after 0, 2, 5, 10 "
               f"and 25 steps.")
    v = flow["value"]
    ctx.number("S_start", v[0])
    ctx.number("S_end", v[-1])
    ctx.number("ms_per_step", 1e3 * flow["sec_per_step"])
    ctx.number("n_points", n)
    ctx.number("unconverged_steps", flow["unconverged_steps"])
    rises = int(np.sum(np.diff(v) > 1e-9))
    ctx.check("S_eps decreases along the flow at every step (rises > 1e-9)", 0, rises, rtol=0, atol=0,
              source="gradient descent with a step below the barycentric move")
    ctx.check("the flow reaches the target: S_eps(end) < 1e-3 S_eps(start)", True, bool(v[-1] < 1e-3 * v[0]),
              agrees=bool(v[-1] < 1e-3 * v[0]), source="S_eps(x, y) = 0 iff x = y (Feydy et al. 2019)")
    ctx.verdict(f"S_eps fell from {v[0]:.3g} to {v[-1]:.2g} in 25 steps ({'monotonically' if rises == 0 else f'with {rises} rises'}); "
                f"{1e3 * flow['sec_per_step']:.0f} ms per step for {n} + {n} points"
                + (f"; {flow['unconverged_steps']} of 26 Sinkhorn solves stopped at max_iter (ConvergenceWarning)."
                   if flow["unconverged_steps"] else "."))
