"""numba-cuda auction kernels under the CUDA simulator (tiny sizes, in a subprocess so that
NUMBA_ENABLE_CUDASIM is set before numba.cuda is imported), and the same path on a real GPU."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

_SCRIPT = textwrap.dedent(
    """
    import numpy as np
    from scipy.optimize import linear_sum_assignment
    from kantorovich.ot import assignment

    rng = np.random.default_rng(0)
    out = []
    for n in (2, 3, 6, 9):
        M = rng.random((n, n))
        r = assignment(M, backend="cuda")
        rr, cc = linear_sum_assignment(M)
        assert sorted(r.perm.tolist()) == list(range(n))
        assert r.exact, r.method
        assert abs(r.value - M[rr, cc].mean()) <= 1e-9 * M[rr, cc].mean(), (n, r.value)
        assert "GPU" in r.method and r.info["device"] == "cuda-simulator"
        # same algorithm, same tie-breaks as the numpy reference: identical raw auction
        a = assignment(M, backend="cuda", exact=False)
        b = assignment(M, backend="numpy", exact=False)
        assert a.perm.tolist() == b.perm.tolist(), (a.perm, b.perm)
        assert np.allclose(a.g, b.g, rtol=0, atol=1e-12)
        assert a.n_iter == b.n_iter
        out.append(n)
    # points on the fly (sqeuclidean, euclidean), integer costs, ties
    x, y = rng.random((6, 2)), rng.random((6, 2))
    for cost in ("sqeuclidean", "euclidean"):
        r = assignment(x=x, y=y, cost=cost, backend="cuda")
        s = assignment(x=x, y=y, cost=cost, backend="numpy")
        assert abs(r.value - s.value) <= 1e-12, cost
    Mi = rng.integers(0, 20, size=(7, 7)).astype(float)
    r = assignment(Mi, backend="cuda")
    rr, cc = linear_sum_assignment(Mi)
    assert r.value * 7 == Mi[rr, cc].sum() and "integer" in r.method
    r = assignment(np.ones((4, 4)), backend="cuda")
    assert r.value == 1.0 and sorted(r.perm.tolist()) == list(range(4))
    print("CUDASIM-OK", out)
    """
)


def test_cuda_kernels_under_simulator():
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "CUDASIM-OK" in proc.stdout


@pytest.mark.gpu
@pytest.mark.parametrize("n", [100, 1000])
def test_cuda_matches_cpu_on_gpu(n):
    from kantorovich.ot import assignment

    rng = np.random.default_rng(n)
    x, y = rng.random((n, 2)), rng.random((n, 2))
    a = assignment(x=x, y=y, backend="cuda")
    b = assignment(x=x, y=y, backend="numba")
    assert a.exact and b.exact
    assert a.value == pytest.approx(b.value, rel=1e-9)


@pytest.mark.gpu
def test_cupy_inputs_return_cupy():
    import cupy

    from kantorovich.ot import assignment

    rng = np.random.default_rng(1)
    M = rng.random((200, 200))
    r = assignment(cupy.asarray(M))
    assert r.backend == "cuda" and isinstance(r.perm, cupy.ndarray)
    from scipy.optimize import linear_sum_assignment

    rr, cc = linear_sum_assignment(M)
    assert r.value == pytest.approx(M[rr, cc].mean(), rel=1e-9)
