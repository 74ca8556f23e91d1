"""Pre-flight checks of the GPU kernels for faults the CUDA simulator cannot show (no GPU needed).

See docs/gpu_runbook.md, "Pre-flight read of the kernels (2026-11-23)":

* launch arithmetic at the benchmark sizes: grid dimensions in range (x >= 1, y <= 65535),
  every column split non-empty, index ranges within the kernels' integer types;
* 64-bit offsets into the (n, D) arrays of the CuPy CUDA C (``int i * D`` wraps at 2^31);
* the 1-D W row-sum kernel's partition of the rows over blocks (its numpy model);
* the tail kernel's register cap also on numba-cuda versions without ``launch_bounds``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

# n, m (and D) of the GPU benchmarks plus edge cases: one row, few columns, many columns
_SIZES = [(1, 1), (1, 7), (3, 10 ** 8), (2 * 10 ** 4, 2 * 10 ** 4), (10 ** 5, 10 ** 5),
          (4 * 10 ** 4, 4 * 10 ** 4), (10 ** 6, 10 ** 6), (100, 10 ** 6), (10 ** 7, 1000)]


@pytest.mark.parametrize("n, m", _SIZES)
def test_softmin_cupy_launch_arithmetic(n, m):
    from kantorovich.ot._kernels import softmin_cupy as K

    for rows_per_block in (K.TPB, 2 * K.TPB):  # softmin_safe, softmin_shift
        ns, cps = K.launch_splits(rows_per_block, n, m, 132)  # as in OnlineSoftmin on an H100
        gx = -(-n // rows_per_block)
        assert 1 <= gx <= 2 ** 31 - 1 and 1 <= ns <= 65535
        assert (ns - 1) * cps < m <= ns * cps  # every split has columns
        # int indices in the kernel: rows (2 per thread), column ends, tile starts
        assert 2 * gx * K.TPB <= 2 ** 31 - 1 and (ns - 1) * cps + cps + K.TPB <= 2 ** 31 - 1
    assert max(n, m) <= K.MAX_POINTS


def test_softmin_cupy_source_uses_64bit_row_offsets():
    """``x[i * D + k]`` in int overflows once n D >= 2^31 (e.g. 1e8 float32 points in D = 32,
    12.8 GB, fits on an H100): every global (n, D) / (splits, n) offset goes through size_t."""
    from kantorovich.ot._kernels import softmin_cupy as K

    src = K.kernel_source(3, np.float32)
    globals_ = ("xs", "x", "yc", "y", "part")
    for name in globals_:
        for idx in re.findall(rf"\b{name}\[([^\]]*)\]", src):
            if "D" in idx or name == "part":
                assert "(size_t)" in idx, (name, idx)
    assert "o = (size_t)blockIdx.y * n + i" in src
    assert "min(m, jb + cols_per_split)" not in src  # jb + cps may pass 2^31 for m > 2^30


def test_tail_kernel_register_cap_without_launch_bounds():
    """Older numba-cuda has no ``launch_bounds``; the tail kernel then caps its registers with
    ``max_registers`` (1024 threads x 64 registers = the 64K register file)."""
    from kantorovich.ot._kernels.auction_cuda import _bounded_jit

    class New:
        @staticmethod
        def jit(func_or_sig=None, device=False, launch_bounds=None, **kws):
            return ("launch_bounds", launch_bounds, kws)

    class Old:
        @staticmethod
        def jit(func_or_sig=None, device=False, **kws):
            return ("kws", kws)

    assert _bounded_jit(New, 1024) == ("launch_bounds", 1024, {})
    assert _bounded_jit(Old, 1024) == ("kws", {"max_registers": 64})
    assert _bounded_jit(Old, 128) == ("kws", {"max_registers": 255})


def test_auction_keys_and_grids_fit():
    """col_win keys ``stamp * 2^32 + (2^32 - 1 - row)`` stay below 2^63 for any feasible round
    count; the per-row / per-free-row grids fit gridDim.x at n = 32000."""
    from kantorovich.ot._kernels import auction_cuda as A

    assert (2 ** 31 - 1) * A._KEY + (A._KEY - 1) < 2 ** 63  # > 2e9 rounds before a wrap
    n = 32000
    assert n <= 2 ** 31 - 1 and A.tail_rows(n) == 32 and A.tail_rows(8000) == 131
    assert A.tail_rows(1) == A.TAIL_CAP


@pytest.mark.parametrize("p", [1.0, 2.0, 1.5])
def test_wass1d_row_sums_cover_every_value_once(p, input_seed):
    """The 1-D W row-sum kernel's partition (blocks x grid-stride shares, row strides of 0 for a
    broadcast row), run by its numpy model, gives the plain mean; the GPU kernel is the same
    arithmetic per value, summed in another order."""
    from kantorovich.ot._kernels import wass1d_cupy as W

    rng = np.random.default_rng(input_seed)
    for B, n in [(1, 1), (1, 5000), (3, 40000), (7, 333)]:
        xs = np.sort(rng.normal(size=(B, n)).astype(np.float32), axis=-1)
        ys = np.sort(rng.normal(size=(1, n)), axis=-1)
        ys[0, -1] = np.inf
        xs[:, -1] = np.inf  # two equal infinities cost 0
        ysb = np.broadcast_to(ys, (B, n))  # row stride 0
        got = W.equal_uniform_rows(xs.astype(np.float64), ysb, p, W.launch_numpy(p), np)
        ref = W.equal_uniform_numpy(xs, ysb, p)
        np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_wass1d_launch_fills_the_gpu():
    """At n = 1e8 one row gets >= 1000 blocks (a two-input ReductionKernel gave it one block);
    sliced 1000 x 1e5 keeps >= 1000 blocks; the grid stays within gridDim.x."""
    from kantorovich.ot._kernels import wass1d_cupy as W

    assert W.blocks_per_row(1, 10 ** 8) >= 1000
    assert 1000 * W.blocks_per_row(1000, 10 ** 5) >= 1000
    assert W.blocks_per_row(1, 10) == 1 and W.blocks_per_row(10 ** 7, 10) == 1
    for B, n in [(1, 10 ** 8), (10 ** 6, 10 ** 3), (2 ** 30, 4), (3, 2 ** 33)]:
        G = W.blocks_per_row(B, n)
        assert 1 <= G and B * G <= 2 ** 31 - 1


def test_gpu_check_plan_fits_one_device_call():
    """benchmarks/gpu_check.sh's default plan: one call, parts ordered by value (Sinkhorn,
    auction, 1-D/sliced, kNN, the backward pass, `kantorovich bench --device gpu --quick`, then
    the gpu-marked tests), the benchmarks' budgets plus the tests' reserve within DEADLINE
    (480 s: one 8-minute call of a 15-minute session budget); `bench` gets at most its budget
    of what they leave."""
    import pathlib
    import subprocess

    root = pathlib.Path(__file__).resolve().parents[2]
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=root, capture_output=True, text=True,
                       env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1"}, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    lines = [ln.strip() for ln in r.stdout.splitlines()[1:]]
    parts = ["sinkhorn", "auction", "wasserstein_1d", "estimators", "grad"]
    assert [ln.split(":")[0] for ln in lines] == [*parts, "bench", "tests"]
    assert "python3 -m kantorovich bench --device gpu --quick --out " in lines[-2]
    assert lines[-2].endswith("/bench_gpu (<= 90s of what is left)")
    m = re.search(r"DEADLINE=(\d+)s, reserve (\d+)s", r.stdout)
    deadline, reserve = int(m.group(1)), int(m.group(2))
    budgets = [int(b) for b in re.findall(r"<= (\d+)s\)", r.stdout)]
    assert deadline == 480 and len(budgets) == len(parts) and sum(budgets) + reserve <= deadline
    for part in parts:
        assert (root / "benchmarks" / f"bench_{part}.py").exists()
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh", "tests", "nonsense"], cwd=root, capture_output=True,
                       text=True, env={"PATH": "/usr/bin:/bin", "DRY_RUN": "1"}, timeout=60, check=False)
    assert r.returncode == 2 and "unknown part" in r.stdout and "<= 180s" in r.stdout
