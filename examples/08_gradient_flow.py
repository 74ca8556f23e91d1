"""A gradient step with the Sinkhorn divergence: moving a point cloud toward another with torch.

S_eps(a, b) = OT_eps(a, b) - (OT_eps(a, a) + OT_eps(b, b)) / 2 (the debiased Sinkhorn
divergence; >= 0, and 0 when the clouds coincide). `kantorovich.ot.sinkhorn_divergence` takes
torch tensors; its `value` is a 0-d tensor that `.backward()` differentiates with respect to
the points (docs/gradients.md). Plain gradient descent on the positions of x, scaled by the
number of points (each point carries mass 1/n), carries x onto the target y: the divergence
falls and the mean of x moves to the mean of y. The same gradient is available from numpy
through `autograd.grad`, shown once at the end. A figure of the start and end goes to
KANTOROVICH_EXAMPLES_OUT (default: a temporary folder).
"""
import os
import tempfile

import autograd
import numpy as np
import torch

from kantorovich.ot import PointCloud, sinkhorn_divergence

rng = np.random.default_rng(0)
n = 150
x0 = rng.normal(size=(n, 2)) * 0.3 + np.array([-1.5, 0.0])
y = rng.normal(size=(n, 2)) * np.array([0.2, 0.6]) + np.array([1.5, 0.5])

eps, lr, steps = 0.05, 0.1, 20
x = torch.tensor(x0, requires_grad=True)
yt = torch.as_tensor(y)
print(f"{'step':>4} {'S_eps':>9} {'mean of x':>20}")
for step in range(steps + 1):
    S = sinkhorn_divergence(None, None, PointCloud(x, yt), eps=eps).value
    if step % 4 == 0:
        mx = x.detach().mean(0).numpy()
        print(f"{step:4d} {S.item():9.5f} ({mx[0]:+.3f}, {mx[1]:+.3f})")
    if step == steps:
        break
    S.backward()                                   # x.grad = dS/dx, shape (n, 2)
    with torch.no_grad():
        x -= lr * n * x.grad                       # each point has mass 1/n: the step is 2 lr (x - target)
        x.grad = None
print(f"target mean ({y.mean(0)[0]:+.3f}, {y.mean(0)[1]:+.3f})")

# The same gradient at the start, from numpy by autograd (no torch).
g_np = autograd.grad(lambda u: sinkhorn_divergence(None, None, PointCloud(u, y), eps=eps).value)(x0)
x_start = torch.tensor(x0, requires_grad=True)
sinkhorn_divergence(None, None, PointCloud(x_start, yt), eps=eps).value.backward()
print(f"autograd vs torch gradient at the start: max |diff| = "
      f"{np.abs(g_np - x_start.grad.numpy()).max():.1e}")

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

out = os.environ.get("KANTOROVICH_EXAMPLES_OUT") or tempfile.mkdtemp(prefix="kantorovich_examples_")
os.makedirs(out, exist_ok=True)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.scatter(*x0.T, s=8, label="x at the start")
ax.scatter(*y.T, s=8, label="target y")
ax.scatter(*x.detach().numpy().T, s=8, label=f"x after {steps} steps")
ax.legend(fontsize=8)
ax.set_aspect("equal")
path = os.path.join(out, "08_gradient_flow.png")
fig.savefig(path, dpi=80)
print(f"figure: {path}")
