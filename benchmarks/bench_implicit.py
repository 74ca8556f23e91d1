"""The implicit gradient of ``sinkhorn(...).value`` on the CPU: one pass over the pairs per
conjugate-gradient step (``grad_numba.products``) against the two single-side passes before.

Point clouds n = m, d = 2, float64, uniform weights, solved to tol = 1e-9. In one process,
each timed in turn once per round (``interleaved``), medians:

- ``iteration_s``, ``half_step_s``: one Sinkhorn iteration (two online soft-min half-steps of
  the numba backend) and one half-step (these and the operator: the mean of a loop of about
  2e7 pairs per run);
- ``operator_{fused,two}_s``: one application of the conjugate-gradient operator's products
  ``(P v, P^T u)``, one fused pass or two passes (``_XY_PARTS_BYTES = 0``: the fallback, the
  code before);
- ``backward_{fused,two}_s``: the whole implicit gradient in x (``sinkhorn_value_grads``: the
  sums, the conjugate gradients, the Gauss-Seidel sweeps, the gradient pass), with
  ``cg_steps`` steps; the gradients of the two are checked to agree (1e-9) before timing.

Timings are never assertions; CPU timings on a shared machine are noisy (the load is recorded).
"""

from __future__ import annotations

import os

import numpy as np

from _common import Checkpoint, interleaved, parser


def case(n: int, eps: float, rounds: int) -> dict:
    from bench_sinkhorn import ours_iteration

    import kantorovich._autodiff as ad
    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1.0
    geom = PointCloud(x, y)
    r = sinkhorn(None, None, geom, eps=eps, tol=1e-9)
    a = b = np.full(n, 1.0 / n)
    f, g = np.asarray(r.f), np.asarray(r.g)
    it, (opx, _) = ours_iteration(x, y, eps, np.float64)
    lb = eps * np.log(b)
    rec = {"n": n, "eps": eps, "solve_iterations": r.n_iter, "load_before": os.getloadavg()}
    fa, gb = ad._shifted(f, a, eps), ad._shifted(g, b, eps)
    xT, yT = np.ascontiguousarray(x.T), np.ascontiguousarray(y.T)
    budget = ad._XY_PARTS_BYTES
    v, u = rng.normal(size=n), rng.normal(size=n)

    def mode(fused: bool):
        ad._XY_PARTS_BYTES = budget if fused else 0

    def backward():
        return ad.sinkhorn_value_grads(geom, a, b, f, g, eps, {"x"})

    ops, grads, steps = {}, {}, {}
    for fused in (True, False):
        mode(fused)
        ops[fused] = ad._online_system(x, y, xT, yT, fa, gb, 1.0 / eps, 2.0)[4]
        grads[fused] = backward()[0]["x"]
        steps[fused] = ad._pcg.last_iter
    mode(True)
    np.testing.assert_allclose(grads[True], grads[False], rtol=1e-9,
                               atol=1e-9 * np.abs(grads[False]).max())
    for k in (0, 1):  # vectors of both signs: relative to the largest product
        ref = ops[False](v, u)[k]
        np.testing.assert_allclose(ops[True](v, u)[k], ref, rtol=0, atol=1e-12 * np.abs(ref).max())
    rec["cg_steps_fused"], rec["cg_steps_two"] = steps[True], steps[False]
    g0 = np.zeros(n)
    reps = max(1, int(2e7 // (n * n)))  # the short calls timed in loops of ~2e7 pairs

    def loop(fn):
        return lambda: [fn() for _ in range(reps)]

    def backward_in(fused):
        def run():
            mode(fused)
            try:
                backward()
            finally:
                mode(True)
        return run

    t = interleaved({
        "iteration": loop(it),
        "half_step": loop(lambda: opx(eps, g0 + lb)),
        "operator_fused": loop(lambda: ops[True](v, u)),
        "operator_two": loop(lambda: ops[False](v, u)),
        "backward_fused": backward_in(True),
        "backward_two": backward_in(False),
    }, rounds=rounds)
    for k, rec_k in t.items():
        rec[k + "_s"] = rec_k["median_s"] / (1 if k.startswith("backward") else reps)
    for k in ("operator_fused", "operator_two", "backward_fused", "backward_two"):
        rec[k + "_over_iteration"] = rec[k + "_s"] / rec["iteration_s"]
    rec["operator_fused_over_two"] = rec["operator_fused_s"] / rec["operator_two_s"]
    rec["backward_fused_over_two"] = rec["backward_fused_s"] / rec["backward_two_s"]
    rec["load_after"] = os.getloadavg()
    rec["rounds"] = rounds
    return rec


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    cases = ([(1000, 0.1, 3)] if args.quick else
             [(2000, 0.1, 7), (2000, 0.02, 5), (20000, 0.1, 3)])
    ck = Checkpoint("bench_implicit", args.out)
    ck.payload["cpu"] = {}
    for n, eps, rounds in cases:
        ck.case(f"n{n}_eps{eps}", lambda n=n, eps=eps, rounds=rounds: case(n, eps, rounds),
                into=ck.payload["cpu"])
    ck.payload["note"] = ("CPU timings on a shared 2-core machine are noisy (load averages recorded); "
                          "compare the ratios measured in the same rounds.")
    ck.done()


if __name__ == "__main__":
    main()
