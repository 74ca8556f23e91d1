"""The array layer's cost: the same call with numpy, torch CPU and JAX CPU arrays.

Each case runs the public function on the same data held as numpy float64, torch float64 and
JAX (float32, JAX's default, against numpy float32) arrays, interleaved round by round in one
process, and reports medians and the ratio to numpy. The values must agree (to the dtype's
resolution) before a time counts. Timings are never assertions.

    python benchmarks/bench_arrays.py [--quick] [--out DIR]
"""

from __future__ import annotations

import numpy as np

from _common import agreement, environment, interleaved, parser, write


def _cases(quick: bool):
    from kantorovich.ot import sinkhorn, wasserstein_1d

    rng = np.random.default_rng(0)
    n = 200_000 if quick else 2_000_000
    x, y = rng.normal(size=n), rng.normal(size=n) + 0.5
    k = 300 if quick else 1000
    M = np.abs(rng.normal(size=(k, 1)) - rng.normal(size=(1, k)) - 0.5) ** 2
    yield (f"wasserstein_1d n={n}", lambda u, v: wasserstein_1d(u, v), (x, y))
    yield (f"sinkhorn dense {k}x{k} eps=0.1", lambda C: sinkhorn(None, None, C, eps=0.1).value, (M,))


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    import jax.numpy as jnp
    import torch

    libs = {
        "numpy64": lambda a: a,
        "torch64": lambda a: torch.from_numpy(a),
        "numpy32": lambda a: a.astype(np.float32),
        "jax32": lambda a: jnp.asarray(a, dtype=jnp.float32),
    }
    rounds = 3 if args.quick else 7
    out = {"environment": environment(), "rounds": rounds, "cases": {}}
    for name, call, data in _cases(args.quick):
        # the caller's arrays are made outside the timed region, as a user would hold them
        held = {lib: tuple(mk(a) for a in data) for lib, mk in libs.items()}
        values = {lib: float(np.asarray(call(*held[lib]))) for lib in libs}  # warm-up + values
        ok64 = agreement(values["torch64"], values["numpy64"], 1e-12)["agrees"]
        ok32 = agreement(values["jax32"], values["numpy32"], 1e-6)["agrees"]
        timed = interleaved({lib: (lambda h=held[lib]: call(*h)) for lib in libs}, rounds=rounds)
        med = {lib: t["median_s"] for lib, t in timed.items()}
        out["cases"][name] = {
            "values": values,
            "values_agree": bool(ok64 and ok32),
            "median_s": med,
            "ratio_torch64_to_numpy64": med["torch64"] / med["numpy64"],
            "ratio_jax32_to_numpy32": med["jax32"] / med["numpy32"],
        }
        print(name, {k: f"{v * 1e3:.2f} ms" for k, v in med.items()},
              f"torch/numpy {med['torch64'] / med['numpy64']:.3f}",
              f"jax/numpy {med['jax32'] / med['numpy32']:.3f}", "agree" if ok64 and ok32 else "DISAGREE")
    write("bench_arrays" + ("_quick" if args.quick else ""), args.out, out)


if __name__ == "__main__":
    main()
