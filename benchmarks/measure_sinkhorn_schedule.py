"""Iterations of the default eps-scaling against a cold start (``scaling=None``) to a tol.

Regenerates the "Measured" table of docs/sinkhorn.md (section *Epsilon-scaling*): for each
problem and tol 1e-4, 1e-5, 1e-6, the iterations ``n_iter`` of ``sinkhorn(..., scaling=0.5)``
(default) and ``scaling=None``; L1 marginal error, ``check_every=10``, ``max_iter`` 20 000,
numpy backend, dense costs. Iteration counts are deterministic (no timing).
``--previous`` switches off the tail extrapolation after the annealing (one- and several-mode)
and the close-call probing (the default path as it was before them), for the table's
comparison column.

``--sweep`` prints instead, on fresh instances outside the table (uniform clouds n = 30, 60, 90
with seeds 2-5; weighted 50-point and shifted Gaussian 60-point clouds with seeds 2-4; eps 1e-3
and 1e-2; tol 1e-5 and 1e-6), the default against the default with the one-mode tail
extrapolation alone and against cold.

``--wide`` runs the 108-cell sweep of docs/sinkhorn.md (n = 30, 100, 300; eps 1e-3, 1e-2,
0.1; uniform clouds with and without random weights, grids against shifted grids, shifted
Gaussian clouds; tol 1e-4, 1e-5, 1e-6), default against cold, to
``benchmarks/results/sinkhorn_schedule_wide.json``.

    PYTHONPATH=src python benchmarks/measure_sinkhorn_schedule.py [--out PATH] [--previous] [--sweep] [--wide]
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import ot as pot

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import sinkhorn

MAX_ITER = 20_000
TOLS = (1e-4, 1e-5, 1e-6)


def _sq(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def problems():
    """(name, a, b, M, eps) of each table row; a, b None = uniform."""
    out = []
    line = np.arange(10.0)[:, None]
    out.append(("10 points on a line, x against x", None, None, _sq(line, line), 0.1))
    grid = np.array([[i, j] for i in range(6) for j in range(6)], dtype=float)
    out.append(("6 x 6 integer grid, x against x", None, None, _sq(grid, grid), 0.1))
    pts = np.random.default_rng(0).random((50, 2))
    out.append(("50 uniform 2-D points, x against x", None, None, _sq(pts, pts), 1e-3))
    n = 100
    a = pot.datasets.make_1D_gauss(n, m=20, s=5)
    b = pot.datasets.make_1D_gauss(n, m=60, s=8)
    M = pot.utils.dist0(n)
    out.append(("POT Gaussians (m 20, s 5 / m 60, s 8), C / median C", a, b, M / np.median(M), 0.1))
    xs = np.arange(n, dtype=float)[:, None]
    b10 = pot.datasets.make_1D_gauss(n, m=60, s=10)
    for eps in (0.1, 1e-2, 1e-3):
        out.append(("POT Gaussians (s 5 / s 10), C / max C", a, b10, _sq(xs, xs) / (n - 1) ** 2, eps))
    for eps in (0.1, 1.0):
        out.append(("POT Gaussians (s 5 / s 10), C on 0..99", a, b10, _sq(xs, xs), eps))
    rng = np.random.default_rng(12345)
    x, y = rng.random((50, 2)), rng.random((50, 2))
    wa, wb = rng.random(50) + 0.1, rng.random(50) + 0.1
    for eps in (1e-3, 1e-2):
        out.append(("50 x 50 uniform points, random weights", wa / wa.sum(), wb / wb.sum(), _sq(x, y), eps))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(200, 2)) + 1
    out.append(("README clouds N(0, I) vs N(1, I)", None, None, _sq(x, y), 0.05))
    rng = np.random.default_rng(0)
    x, y = rng.random((90, 2)), rng.random((90, 2))
    for eps in (3e-3, 1e-3, 1e-4):
        out.append(("90 x 90 uniform points", None, None, _sq(x, y), eps))
    # rows found by a sweep over sizes 30..300, eps 1e-3..1e-1, clouds, grids, weights
    rng = np.random.default_rng(1)
    x, y = rng.random((30, 2)), rng.random((30, 2))
    for eps in (1e-3, 0.1):
        out.append(("30 x 30 uniform points", None, None, _sq(x, y), eps))
    g = np.array([[i, j] for i in range(5) for j in range(5)], dtype=float) / 4
    out.append(("5 x 5 grid against itself shifted by (0.06, 0.06)", None, None, _sq(g, g + 0.06), 0.1))
    rng = np.random.default_rng(1)
    rng.random((200, 2)), rng.random(200)
    x, y = 0.3 * rng.normal(size=(100, 2)), 0.3 * rng.normal(size=(100, 2)) + 0.5
    for eps in (1e-3, 0.1):
        out.append(("100 x 100 Gaussian points, N(0, 0.09 I) vs N(0.5, 0.09 I)", None, None, _sq(x, y), eps))
    return out


def run(a, b, M, eps, tol, scaling):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r = sinkhorn(a, b, M, eps=eps, tol=tol, max_iter=MAX_ITER, scaling=scaling, backend="numpy")
    return {"n_iter": r.n_iter, "converged": r.converged, "n_iter_scaling": r.info["n_iter_scaling"],
            "levels": len(r.info["eps_schedule"])}


def sweep_problems():
    """(name, a, b, M) of the fresh instances of ``--sweep``."""
    out = []
    for n in (30, 60, 90):
        for seed in range(2, 6):
            rng = np.random.default_rng(seed)
            out.append((f"{n} x {n} uniform points, seed {seed}", None, None, _sq(rng.random((n, 2)), rng.random((n, 2)))))
    for seed in range(2, 5):
        rng = np.random.default_rng(seed)
        x, y = rng.random((50, 2)), rng.random((50, 2))
        wa, wb = rng.random(50) + 0.1, rng.random(50) + 0.1
        out.append((f"50 x 50 points, random weights, seed {seed}", wa / wa.sum(), wb / wb.sum(), _sq(x, y)))
        x, y = 0.3 * rng.normal(size=(60, 2)), 0.3 * rng.normal(size=(60, 2)) + 0.5
        out.append((f"60 x 60 shifted Gaussian points, seed {seed}", None, None, _sq(x, y)))
    return out


def wide_sweep_problems():
    """(name, a, b, M, eps) of the wide sweep (``--wide``): n = 30, 100, 300; eps 1e-3, 1e-2,
    0.1; uniform clouds (``default_rng(1)``), the same clouds with random weights, a k x k grid
    (k = 5, 10, 17) against itself shifted by (0.06, 0.06) / scale, shifted Gaussian clouds
    N(0, 0.09 I) vs N(0.5, 0.09 I). The draws follow the table's rows that came from it (30 x 30
    uniform points; 100 x 100 Gaussian points after 200 uniform points and 200 weights)."""
    out = []
    for n in (30, 100, 300):
        rng = np.random.default_rng(1)
        x, y = rng.random((n, 2)), rng.random((n, 2))
        wa, wb = rng.random(n) + 0.1, rng.random(n) + 0.1
        gx, gy = 0.3 * rng.normal(size=(n, 2)), 0.3 * rng.normal(size=(n, 2)) + 0.5
        k = {30: 5, 100: 10, 300: 17}[n]
        grid = np.array([[i, j] for i in range(k) for j in range(k)], dtype=float) / (k - 1)
        kinds = [(f"{n} x {n} uniform points", None, None, _sq(x, y)),
                 (f"{n} x {n} uniform points, random weights", wa / wa.sum(), wb / wb.sum(), _sq(x, y)),
                 (f"{k} x {k} grid against itself shifted", None, None, _sq(grid, grid + 0.06)),
                 (f"{n} x {n} shifted Gaussian points", None, None, _sq(gx, gy))]
        for eps in (1e-3, 1e-2, 0.1):
            out += [(name, a, b, M, eps) for name, a, b, M in kinds]
    return out


def wide_sweep(out_path):
    """The default against cold on the wide sweep's 108 cells; JSON to ``out_path``."""
    rows, counts = [], {"cells": 0, "above cold": 0, "default": 0, "cold": 0}
    for name, a, b, M, eps in wide_sweep_problems():
        cells = []
        for tol in TOLS:
            new, cold = run(a, b, M, eps, tol, 0.5), run(a, b, M, eps, tol, None)
            rows.append({"problem": name, "n": M.shape[0], "eps": eps, "tol": tol, "default": new, "cold": cold})
            counts["cells"] += 1
            counts["above cold"] += new["n_iter"] > cold["n_iter"]
            counts["default"] += new["n_iter"]
            counts["cold"] += cold["n_iter"]
            mark = " **" if new["n_iter"] > cold["n_iter"] else ""
            cells.append(f"{tol:g} {new['n_iter']} / {cold['n_iter']}{mark}")
        print(f"{name[:45]:45s} {eps:g}: " + "  ".join(cells), flush=True)
    print("default / cold;", counts)
    Path(out_path).write_text(json.dumps({"max_iter": MAX_ITER, "check_every": 10, "totals": counts,
                                          "cells": rows}, indent=1))


def sweep():
    """The default against the one-mode extrapolation alone and against cold, on fresh instances."""
    from kantorovich.ot import _sinkhorn

    after = _sinkhorn._MULTI_MODE_AFTER_UNDOS
    counts = {"cells": 0, "above cold": 0, "above one-mode": 0, "one-mode above cold": 0}
    for name, a, b, M in sweep_problems():
        for eps in (1e-3, 1e-2):
            cells = []
            for tol in (1e-5, 1e-6):
                new, cold = run(a, b, M, eps, tol, 0.5)["n_iter"], run(a, b, M, eps, tol, None)["n_iter"]
                _sinkhorn._MULTI_MODE_AFTER_UNDOS = 1000  # never reached: the one-mode rule alone
                try:
                    one = run(a, b, M, eps, tol, 0.5)["n_iter"]
                finally:
                    _sinkhorn._MULTI_MODE_AFTER_UNDOS = after
                counts["cells"] += 1
                counts["above cold"] += new > cold
                counts["above one-mode"] += new > one
                counts["one-mode above cold"] += one > cold
                cells.append(f"{tol:g} {new} / {one} / {cold}")
            print(f"{name[:45]:45s} {eps:g}: " + "  ".join(cells), flush=True)
    print("default / one-mode alone / cold;", counts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "sinkhorn_schedule.json"))
    ap.add_argument("--rows", default=None, help="comma-separated row indices (default: all)")
    ap.add_argument("--previous", action="store_true",
                    help="switch off the tail extrapolation and the close-call probing")
    ap.add_argument("--sweep", action="store_true", help="fresh instances outside the table")
    ap.add_argument("--wide", action="store_true",
                    help="the 108-cell sweep (n up to 300), to benchmarks/results/sinkhorn_schedule_wide.json")
    args = ap.parse_args(argv)
    if args.sweep:
        return sweep()
    if args.wide:
        return wide_sweep(Path(__file__).parent / "results" / "sinkhorn_schedule_wide.json")
    if args.previous:
        from kantorovich.ot import _sinkhorn

        _sinkhorn._EXTRAPOLATION_AGREEMENT = 0.0
        _sinkhorn._PROBE_DEFERRALS = 0
    rows = []
    probs = problems()
    idx = range(len(probs)) if args.rows is None else [int(i) for i in args.rows.split(",")]
    for i in idx:
        name, a, b, M, eps = probs[i]
        row = {"row": i, "problem": name, "n": M.shape[0], "eps": eps}
        for tol in TOLS:
            row[f"tol {tol:g}"] = {"default": run(a, b, M, eps, tol, 0.5), "cold": run(a, b, M, eps, tol, None)}
        rows.append(row)

        def s(c):
            return f"{c['n_iter']}{'' if c['converged'] else '*'}"
        print(f"{i:2d} {name[:45]:45s} {eps:g}: " + "  ".join(
            f"{tol:g} {s(row[f'tol {tol:g}']['default'])} / {s(row[f'tol {tol:g}']['cold'])}" for tol in TOLS),
            flush=True)
    if args.rows is None:
        Path(args.out).write_text(json.dumps({"max_iter": MAX_ITER, "check_every": 10, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
