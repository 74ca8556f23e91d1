"""Import every package that benchmarks/fetch_gpu_wheels.sh carries to the GPU machine, and run
one small jitted OTT-JAX Sinkhorn (the peer of bench_sinkhorn.py) on whatever device jax has.

Run by ``CHECK=1 bash benchmarks/fetch_gpu_wheels.sh`` in a clean CPython 3.12 venv holding only
what the device has (numpy, scipy, jax), with the carried wheels on PYTHONPATH."""

import importlib
import sys

mods = ["ot", "array_api_compat", "autograd", "threadpoolctl", "ott", "jaxopt", "lineax", "optax", "equinox", "jaxtyping"]
bad = []
for m in mods:
    try:
        importlib.import_module(m)
    except Exception as e:  # noqa: BLE001 - report every failure
        bad.append(f"{m}: {type(e).__name__}: {e}")
try:
    import universal_divergence  # noqa: F401
except Exception as e:  # noqa: BLE001
    bad.append(f"universal_divergence: {e}")

import jax
import jax.numpy as jnp
import numpy as np
from ott.geometry import pointcloud
from ott.problems.linear import linear_problem
from ott.solvers.linear import sinkhorn

rng = np.random.default_rng(0)
x, y = jnp.asarray(rng.random((50, 2)), jnp.float32), jnp.asarray(rng.random((60, 2)), jnp.float32)


@jax.jit
def solve(x, y):
    geom = pointcloud.PointCloud(x, y, epsilon=0.05)
    return sinkhorn.Sinkhorn(max_iterations=50, threshold=-1.0)(linear_problem.LinearProblem(geom))


out = solve(x, y)
print("python", sys.version.split()[0], "jax", jax.__version__, "ott cost", float(out.reg_ot_cost),
      "iterations", int(out.n_iters))
if bad:
    print("FAILED imports:\n  " + "\n  ".join(bad))
    sys.exit(1)
print("all carried packages import")
