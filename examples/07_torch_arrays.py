"""Torch tensors in, torch tensors out (docs/arrays.md).

Every public function of `kantorovich.ot` and `kantorovich.divergences` gives results of the
kind it was given: the same library, device and floating dtype. Here float32 CPU tensors go in
and float32 tensors come back (the `value` of a result is a 0-d tensor); diagnostics such as
iteration counts stay Python numbers. Mixing torch with numpy in one call is a TypeError that
names both arguments.
"""
import torch

from kantorovich.divergences import js_divergence
from kantorovich.ot import PointCloud, emd, sinkhorn, wasserstein_1d

torch.manual_seed(0)
x = torch.randn(1000, dtype=torch.float32)
y = torch.randn(800, dtype=torch.float32) + 1

w = wasserstein_1d(x, y)
print(f"wasserstein_1d: {w!r}  (type {type(w).__name__}, dtype {w.dtype}, shape {tuple(w.shape)})")

M = torch.cdist(x[:6, None], y[:5, None])           # a 6 x 5 float32 cost matrix
r = emd(None, None, M)
print(f"emd: value {r.value!r}; plan {type(r.plan).__name__} {r.plan.dtype} {tuple(r.plan.shape)}; "
      f"duality gap {r.duality_gap!r} (a Python float)")

xs, ys = torch.randn(100, 2), torch.randn(120, 2) + 1
s = sinkhorn(None, None, PointCloud(xs, ys), eps=0.1)
print(f"sinkhorn: value {s.value!r}; f {type(s.f).__name__} {s.f.dtype} {tuple(s.f.shape)}; "
      f"n_iter {s.n_iter} ({type(s.n_iter).__name__})")

p = torch.tensor([0.5, 0.5, 0.0], dtype=torch.float64)
q = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
print(f"js_divergence: {js_divergence(p, q)!r}")

try:
    wasserstein_1d(x, y.numpy())
except TypeError as err:
    print(f"mixing libraries: TypeError: {err}")
