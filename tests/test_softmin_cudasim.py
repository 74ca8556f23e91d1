"""The numba-cuda fused soft-min kernel under the CUDA simulator (tiny sizes, in a subprocess:
NUMBA_ENABLE_CUDASIM must be set before numba.cuda is imported)."""

from __future__ import annotations

import os
import subprocess
import sys

_CODE = r"""
import numpy as np
from kantorovich.ot._kernels import softmin_cuda as K, softmin_numpy as R
from kantorovich.ot import PointCloud, sinkhorn
rng = np.random.default_rng()
cases = [(np.float64, 1e-12, 2.0, 1), (np.float64, 1e-12, 1.5, 3), (np.float64, 1e-12, 1.0, 2),
         (np.float32, 2e-6, 2.0, 3)]
for dt, tol, p, ns in cases:
    if True:
        if True:
            n, m, d = int(rng.integers(1, 20)), int(rng.integers(1, 200)), int(rng.integers(1, 4))
            x, y = rng.random((n, d)).astype(dt), rng.random((m, d)).astype(dt)
            h = rng.normal(size=m) * 0.1
            if m > 2:
                h[1] = -np.inf
            for eps in (0.3, 1e-3):
                o, mc = K.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=True, n_split=ns)
                r, rm = R.softmin_pointcloud(x.astype(float), y.astype(float), h, eps, p, with_mean_cost=True)
                assert o.dtype == dt and np.all(np.isfinite(o)), (dt, p, ns)
                assert np.max(np.abs(o - r)) <= tol * max(1.0, np.abs(r).max()), (dt, p, ns, eps, np.max(np.abs(o - r)))
                assert np.max(np.abs(mc - rm)) <= 10 * tol, (dt, p, ns, eps)
assert K.split_count(100, 100000, n_sm=132) > 1 and K.split_count(10**6, 10**6, n_sm=132) == 1
x, y = rng.random((6, 2)), rng.random((5, 2))
r0 = sinkhorn(None, None, PointCloud(x, y), eps=0.05, tol=1e-10, backend="numpy")
r1 = sinkhorn(None, None, PointCloud(x, y), eps=0.05, tol=1e-10, backend="numba_cuda")
assert r1.converged and abs(r1.value - r0.value) <= 1e-9 * r0.value, (r1.value, r0.value)
print("OK")
"""


def test_numba_cuda_kernel_in_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", _CODE], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stdout[-2000:] + proc.stderr[-4000:]
