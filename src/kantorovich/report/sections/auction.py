"""Report sections: exact assignment by epsilon-scaling auction."""

from __future__ import annotations

import json
import time
from importlib import resources

import numpy as np

from .. import register

#: GPU timings recorded as package data (installed with the wheel; nothing is read from a
#: benchmarks/ folder, which an installed package does not have)
_GPU_DATA = resources.files("kantorovich.report") / "data" / "auction_gpu.json"
_NOT_MEASURED = ("GPU auction: not measured on this install (no GPU run recorded in "
                 "kantorovich/report/data/auction_gpu.json; docs/gpu_runbook.md)")


def _gpu_rows(d: dict):
    """``(ns, seconds, device)`` from a bench_auction JSON, or None when it holds no GPU row."""
    d = d.get("bench_auction", d)
    g = d.get("gpu")
    # a list of rows (older runs) or {case: row} with failed cases as {"error": ...}
    rows = g if isinstance(g, list) else list(g.values()) if isinstance(g, dict) else []
    rows = [r for r in rows if isinstance(r, dict) and "auction_cuda_s" in r]
    if not rows:
        return None
    return [r["n"] for r in rows], [r["auction_cuda_s"] for r in rows], d.get("environment", {}).get("gpu", "GPU")


def _gpu_numbers():
    """GPU auction timings from the package data, or None when none are recorded."""
    try:
        d = json.loads(_GPU_DATA.read_text())
    except (OSError, ValueError):
        return None
    return _gpu_rows(d)


@register("auction_timing", title="Exact OT on n points: auction vs POT and scipy (time against n)", order=80)
def auction_timing(ctx):
    """Wall time of exact solvers for two uniform n-point clouds in the unit square (squared
    Euclidean cost), measured now on this machine; GPU numbers only from a recorded GPU run
    (package data)."""
    import ot as pot
    from scipy.optimize import linear_sum_assignment

    from ...ot import assignment
    from ...plots.auction import plot_timings

    sizes = ctx.size([200, 400, 700, 1000], [500, 1000, 2000, 4000])
    rng = ctx.rng(0)
    assignment(x=rng.random((16, 2)), y=rng.random((16, 2)))  # JIT (cached) warm-up
    t_pot, t_lsa, t_auc = [], [], []
    rows = []
    worst = 0.0
    all_exact = True
    for n in ctx.progress(sizes, desc="auction timing"):
        x, y = rng.random((n, 2)), rng.random((n, 2))
        M = ((x[:, None] - y[None]) ** 2).sum(-1)
        u = np.full(n, 1.0 / n)
        t0 = time.perf_counter()
        ref = pot.emd2(u, u, M, numItermax=10**8)
        t_pot.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        r, c = linear_sum_assignment(M)
        t_lsa.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        res = assignment(x=x, y=y)
        t_auc.append(time.perf_counter() - t0)
        err = abs(res.value - ref) / ref
        worst = max(worst, err)
        all_exact &= bool(res.exact)
        rows.append([n, t_pot[-1], t_lsa[-1], t_auc[-1], err, res.exact, res.info.get("bids", 0)])
        ctx.check(f"auction value = POT emd2 (n = {n})", ref, res.value, rtol=1e-9, atol=0,
                  source="exact LP optimum")
        ctx.check(f"auction value = scipy LSA (n = {n})", float(M[r, c].mean()), res.value, rtol=1e-9, atol=0,
                  source="Jonker-Volgenant")
    curves = {
        "POT emd2 (network simplex)": (sizes, t_pot),
        "scipy linear_sum_assignment": (sizes, t_lsa),
        "auction, numba CPU (points)": (sizes, t_auc),
    }
    gpu = _gpu_numbers()
    if gpu:
        curves["auction, GPU (numba-cuda)"] = (gpu[0], gpu[1])
        note = f"GPU curve from a benchmark run on {gpu[2]}"
    else:
        note = _NOT_MEASURED
    ctx.number("gpu", note)
    fig = plot_timings(curves, notes=note + "; CPU timings on a shared, noisy machine")
    ctx.figure(fig, "timing.png", "Wall time against n, log-log. " + note + ".")
    ctx.table("Exact solvers, seconds (one run each, shared machine)",
              ["n", "POT emd2", "scipy LSA", "auction CPU", "rel. err vs POT", "proven exact", "bids"], rows)
    ctx.number("max_rel_err_vs_pot", worst)
    ratio = t_pot[-1] / t_auc[-1]
    ctx.number("pot_over_auction_at_largest_n", ratio)
    ctx.verdict(
        f"The auction matched POT's optimum to {worst:.1e} relative at every n "
        f"({'optimality proven' if all_exact else 'NOT all proven'} by the dual certificate); at n = {sizes[-1]} "
        f"it took {t_auc[-1]:.3f} s against POT's {t_pot[-1]:.3f} s ({ratio:.2f}x POT's speed). {note}.")


@register("auction_matching", title="The optimal matching next to the Sinkhorn plan (small 2-D example)", order=81)
def auction_matching(ctx):
    """The exact optimal matching of 30 + 30 points (auction with certificate) beside the
    entropic plan at a small eps: Sinkhorn blurs the permutation, and its transport cost
    is above the optimum."""
    from ...ot import assignment
    from ...plots.auction import plot_matching_vs_sinkhorn

    rng = ctx.rng(1)
    n = 30
    x = rng.normal(size=(n, 2)) * 0.35 + np.array([0.0, 0.0])
    y = rng.normal(size=(n, 2)) * 0.2 + np.array([1.2, 0.6])
    res = assignment(x=x, y=y)
    M = ((x[:, None] - y[None]) ** 2).sum(-1)
    eps = 0.05
    u = np.full(n, 1.0 / n)
    try:
        from ...ot import sinkhorn

        sk = sinkhorn(u, u, M, eps=eps, plan=True)
        P, src = np.asarray(sk.plan), "kantorovich.ot.sinkhorn"
    except Exception:  # fall back to POT when the package's Sinkhorn is unavailable
        import ot as pot

        P, src = pot.sinkhorn(u, u, M, eps, method="sinkhorn_log", numItermax=100000), "POT sinkhorn_log"
    cost_sk = float((P * M).sum())
    fig = plot_matching_vs_sinkhorn(x, y, res.perm, P, eps=eps, values=(res.value, cost_sk))
    proven = "optimality proven by the dual certificate" if res.exact else "optimality not proven"
    ctx.figure(fig, "matching.png", f"Left: optimal matching (auction, {proven}). Right: entropic plan "
               f"({src}) at eps = {eps}.")
    import ot as pot

    ref = pot.emd2(u, u, M)
    ctx.check("auction value = POT emd2 (n = 30)", ref, res.value, rtol=1e-9, atol=0, source="exact LP")
    ctx.check("auction duality gap ~ 0 (certificate)", 0.0, res.duality_gap, rtol=0, atol=1e-12,
              source="tight dual potentials")
    ctx.number("w2_squared", res.value)
    ctx.number("sinkhorn_transport_cost", cost_sk)
    ctx.verdict(f"Exact W2^2 = {res.value:.6f} (duality gap {res.duality_gap:.1e}); the Sinkhorn plan at eps = {eps} "
                f"pays {cost_sk:.6f}, {100 * (cost_sk / res.value - 1):.1f}% more, spread over "
                f"{int((P > 1e-3 * P.max()).sum())} pairs instead of {n}.")
