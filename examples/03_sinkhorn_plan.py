"""An entropic transport plan between two point clouds, by log-domain Sinkhorn.

Two small 2-D clouds: x (60 points on a noisy circle) and y (80 points in a shifted blob).
`kantorovich.ot.sinkhorn` on a `PointCloud` geometry (cost |x - y|^2, no 1/2 factor) solves
entropic OT at eps = 0.05; `plan=True` asks for the dense plan P (60 x 80) so that we can draw
it. The script prints the transport cost <P, C>, the regularised objective, the iteration count
and the marginal error, and compares the cost with the exact optimum from `emd`; the figure
(each pair joined by a line whose opacity is its mass) goes to KANTOROVICH_EXAMPLES_OUT
(default: a temporary folder).
"""
import os
import tempfile

import numpy as np

from kantorovich.ot import PointCloud, emd, sinkhorn

rng = np.random.default_rng(0)
angle = rng.uniform(0, 2 * np.pi, 60)
x = np.stack([np.cos(angle), np.sin(angle)], axis=1) + 0.05 * rng.normal(size=(60, 2))
y = 0.4 * rng.normal(size=(80, 2)) + np.array([2.5, 0.5])

# a=None, b=None: uniform weights 1/60 and 1/80.
res = sinkhorn(None, None, PointCloud(x, y), eps=0.05, plan=True)
P = np.asarray(res.plan)                # a lazy SinkhornPlan; asarray makes it dense
print(f"Sinkhorn, eps = {res.eps}: cost <P, C> = {res.value:.4f}, "
      f"objective <P, C> + eps KL = {res.objective:.4f}")
print(f"  {res.n_iter} iterations, converged = {res.converged}, "
      f"final marginal error = {res.marginal_error:.1e}")
print(f"  plan shape {P.shape}, total mass {P.sum():.6f}, "
      f"row sums in [{P.sum(1).min():.5f}, {P.sum(1).max():.5f}] (1/60 = {1 / 60:.5f})")

# The exact optimum for comparison: the entropic cost is a little above it.
M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
exact = emd(None, None, M)
print(f"exact OT (network simplex): {exact.value:.4f}; "
      f"Sinkhorn's cost is {100 * (res.value / exact.value - 1):.2f}% above")

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out = os.environ.get("KANTOROVICH_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="kantorovich_examples_")
os.makedirs(out, exist_ok=True)
fig, ax = plt.subplots(figsize=(6, 4))
i, j = np.nonzero(P > 1e-2 * P.max())
for a, c in zip(i, j):
    ax.plot([x[a, 0], y[c, 0]], [x[a, 1], y[c, 1]], color="k",
            alpha=float(P[a, c] / P.max()), lw=0.8)
ax.scatter(*x.T, s=12, label="x (60)")
ax.scatter(*y.T, s=12, label="y (80)")
ax.set_aspect("equal")
ax.legend()
ax.set_title(f"Sinkhorn plan, eps = {res.eps}")
path = os.path.join(out, "03_sinkhorn_plan.png")
fig.savefig(path, dpi=80)
print(f"figure: {path}")
