"""CPU-side checks of the GPU code paths (no GPU needed).

* batched weights with more rows than their values (a bug found in the GPU review, shared by
  every backend of ``wasserstein_1d``);
* the shared-memory tile of the soft-min kernels stays within the 48 KiB static limit for any D;
* the CUDA C sources and the numba-cuda kernels compile for sm_90 (H100) when ``nvcc`` / NVVM
  are installed (skipped otherwise): a compile error then shows here, not on the GPU machine.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from kantorovich.ot import wasserstein_1d


def test_wasserstein_1d_weights_with_more_rows_than_values():
    w = np.ones((3, 4))
    w[1, 0] = 5.0
    u, v = np.arange(4.0), np.arange(4.0) + 1.0
    ref = [wasserstein_1d(u, v, u_weights=w[i]) for i in range(3)]
    for backend in ("numpy", "numba"):
        got = wasserstein_1d(u[None], v, u_weights=w, backend=backend)
        np.testing.assert_allclose(got, ref, rtol=1e-12)
        got = wasserstein_1d(v, u[None], v_weights=w, backend=backend)
        np.testing.assert_allclose(got, ref, rtol=1e-12)


@pytest.mark.parametrize("D", [1, 2, 3, 19, 20, 24, 47, 64, 500])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmin_tiles_fit_in_static_shared_memory(D, dtype):
    from kantorovich.ot._kernels import softmin_cupy

    item = np.dtype(dtype).itemsize
    t = softmin_cupy.tile_columns(D, dtype)
    assert 1 <= t <= softmin_cupy.TPB
    assert t * (D + 1) * item <= 48 * 1024
    src = softmin_cupy.kernel_source(D, dtype)
    assert "__" + "TILE__" not in src and f"#define TILE {t}" in src


def _nvcc():
    return shutil.which("nvcc")


@pytest.mark.skipif(_nvcc() is None, reason="nvcc not installed")
@pytest.mark.parametrize("D, dtype", [(2, np.float32), (24, np.float64), (64, np.float32)])
def test_softmin_cupy_source_compiles_for_sm90(D, dtype, tmp_path):
    from kantorovich.ot._kernels import softmin_cupy

    cu = tmp_path / "k.cu"
    cu.write_text(softmin_cupy.kernel_source(D, dtype))
    opts = ["--use_fast_math"] if np.dtype(dtype) == np.float32 else []
    r = subprocess.run([_nvcc(), "-cubin", "-arch=sm_90", *opts, str(cu), "-o", str(tmp_path / "k.cubin")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]


def _nvvm_ok() -> bool:
    try:
        from numba import cuda

        cuda.compile_ptx(lambda a: None, "void(float64[:])", cc=(9, 0))
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _nvvm_ok(), reason="numba-cuda NVVM not available")
def test_numba_cuda_kernels_compile_for_sm90(monkeypatch, tmp_path):
    from numba import cuda
    from numba import types as T

    import kantorovich.ot._kernels.auction_cuda as A
    import kantorovich.ot._kernels.softmin_cuda as S

    monkeypatch.setattr(A, "_cuda", lambda: cuda)
    monkeypatch.setattr(A, "_KERNELS", {})
    ks = A.kernels(256)
    f64, i64 = T.float64, T.int64
    a2, a1, i1 = T.Array(f64, 2, "C"), T.Array(f64, 1, "C"), T.Array(i64, 1, "C")
    sigs = {
        "check": (a2, a2, a2, i64, f64, f64, a1, i1, i1, f64, i1, i64),
        "compact": (i1, i1, i1, i64),
        "bid": (a2, a2, a2, i64, f64, f64, a1, i1, i1, i64, f64, i1, a1, a1),
        "winner": (i1, i1, i64, i64, i1, a1, a1, i1),
        "assign": (i1, i1, i1, i64, i64, i1, a1, i1, a1, i1, i1),
        # the persistent tail kernel: one block of 1024 threads, warp shuffles, shared free lists
        "tail": (a2, a2, a2, i64, f64, f64, a1, i1, i1, i1, i1, i64, f64, i64),
    }
    assert ks["tail_tpb"] == 1024 and ks["launch_bounds"]["tail"] == 1024
    for name, sig in sigs.items():
        lb = ks["launch_bounds"].get(name)
        ptx, _ = cuda.compile_ptx(ks[name].py_func, sig, cc=(9, 0), launch_bounds=lb)
        if name == "tail":
            assert "shfl.sync.bfly" in ptx and "bar.sync" in ptx and ".maxntid 1024" in ptx
        ptxas = shutil.which("ptxas")
        if ptxas is not None:
            # the launch fails on the GPU unless threads/block x registers/thread <= 65536
            f = tmp_path / f"{name}.ptx"
            f.write_text(ptx)
            r = subprocess.run([ptxas, "-arch=sm_90", "-v", str(f), "-o", str(tmp_path / f"{name}.cubin")],
                               capture_output=True, text=True, timeout=120, check=False)
            assert r.returncode == 0, r.stderr[-2000:]
            regs = [int(w) for line in r.stderr.splitlines() if "Used" in line and "registers" in line
                    for w, nxt in zip(line.split(), line.split()[1:]) if nxt.startswith("registers")]
            assert regs and max(regs) * (lb or 256) <= 65536, (name, r.stderr[-1000:])
            # static shared memory within the 48 KiB a block gets without an opt-in
            smem = [int(v) for v in re.findall(r"(\d+) bytes smem", r.stderr)]
            assert name not in ("check", "bid", "tail") or smem, r.stderr[-1000:]
            assert max(smem, default=0) <= 48 * 1024, (name, r.stderr[-1000:])
    for dt, nb in ((np.float32, T.float32), (np.float64, T.float64)):
        partial, combine = S._get_kernels(3, 2, dt)
        b2, b1 = T.Array(nb, 2, "C"), T.Array(nb, 1, "C")
        cuda.compile_ptx(partial.py_func, (b2, b2, b1, nb, nb, i64, b2, b2, b2), cc=(9, 0))
        cuda.compile_ptx(combine.py_func, (b2, b2, b2, nb, b1, b1), cc=(9, 0))


def test_namespace_works_without_array_api_compat(monkeypatch):
    """The GPU machine may lack array-api-compat: wasserstein_1d / sliced must not need it."""
    import sys

    from kantorovich._array_api import namespace

    monkeypatch.setitem(sys.modules, "array_api_compat", None)
    monkeypatch.setitem(sys.modules, "array_api_compat.numpy", None)
    assert namespace(np.ones(2), None) is np
    assert float(wasserstein_1d([0.0, 1.0], [1.0, 2.0])) == 1.0
