"""The batched Sinkhorn kernel, compiled as on the GPU machine and read in SASS (no GPU needed).

``kantorovich.ot._kernels.sinkhorn_batch_cuda`` (one thread block per problem, the whole
solve in one launch) is compiled for sm_90 through numba-cuda's NVVM and ``ptxas``, then
disassembled (``tests/gpu/_cuda_toolchain.py``; skips without the tools, fails under ``CI``).

The kernel is float64 by design (it must agree with the single solver to 1e-12), so its
soft-min runs libdevice's ``exp2`` (no hardware float64 exp2: a degree-11 polynomial, ~25
FP64 instructions). Checked, for the launch's block size (``MAX_THREADS``):

* the launch fits the register file: registers x threads <= 65536;
* the soft-min's exp2 loops (the innermost loops that contain the exp2's rounding constant
  2^52 + 2^51) spill nothing and take at most ``PER_ENTRY_MAX`` SASS instructions per matrix
  entry: 60.5 measured with NVVM/ptxas 13 (~25 of them the exp2 itself, ~16 constants
  re-materialised because the schedule's logic around the soft-mins holds 255 registers);
  the floor at ~25 FP64 instructions per entry and 64 FP64 lanes per SM per clock is
  ~5e11 entries/s on an H100, ~2 us per half-step for B = 256 problems of 64 x 64;
* the whole solve is one kernel: no other ``.entry`` in the PTX.

The float32 variant (float32 GPU data: costs, ``c h`` and the soft-min's exponents in float32,
one hardware ``MUFU.EX2`` per entry, float32 sums over blocks of 32 columns added in float64)
takes at most ``PER_ENTRY_MAX_F32`` SASS instructions per ``MUFU.EX2`` in its innermost loops
(14.25-15 measured: the load, the shared ``c h``, an FFMA, the subtraction of the row maximum,
exp2f's range check for results below 2^-126, and 64-bit address arithmetic) and no float64
instruction there; ~2e12 entries/s on an H100 by instruction issue.
"""

from __future__ import annotations

import re

import pytest

from ._cuda_toolchain import (
    inner_loops,
    kernels_without_gpu,
    numba_ptx,
    ptxas,
    require_toolchain,
    sass,
)

PER_ENTRY_MAX = 64
PER_ENTRY_MAX_F32 = 16
_EXP2_SHIFT = "6.75539944105574400000e+15"  # 2^52 + 2^51: the exp2's round-to-integer constant

_CACHE: dict = {}


def _signature(single: bool):
    from numba import types as T

    f64, i64 = T.float64, T.int64
    a1, a2, a3 = T.Array(f64, 1, "C"), T.Array(f64, 2, "C"), T.Array(f64, 3, "C")
    c1 = T.Array(T.float32 if single else f64, 1, "C")  # the costs C, C^T
    i1 = T.Array(i64, 1, "C")
    # C, X, Y, kind, p, A, Bw, logA, logB, eps, levels, n_levels, mag, max_iter, tol,
    # check_every, sym, agree, deferrals, objective_ratio, F, G, stats, Cs, CTs, S, q0
    return (a3, a3, a3, i64, f64, a2, a2, a2, a2, f64, a2, i1, a1, i64, f64, i64, i1, f64, i64,
            f64, a2, a2, a2, c1, c1, a3, i64)


def _compiled(single: bool = False):
    if single in _CACHE:
        return _CACHE[single]
    require_toolchain("ptxas", "nvdisasm")
    import kantorovich.ot._kernels.sinkhorn_batch_cuda as K
    from kantorovich.ot._sinkhorn_batch import _MULTI_MODE_FACTOR

    with kernels_without_gpu(K):
        ks = K.kernels(K.MAX_THREADS, _MULTI_MODE_FACTOR, single)
        ptx = numba_ptx(ks["solve"].py_func, _signature(single))
    cubin, usage = ptxas(ptx)
    (u,) = usage.values()
    _CACHE[single] = (ptx, u, sass(cubin), K.MAX_THREADS)
    return _CACHE[single]


@pytest.mark.parametrize("single", [False, True], ids=["float64", "float32"])
def test_the_whole_solve_is_one_kernel_and_fits_its_launch(single):
    ptx, u, _, threads = _compiled(single)
    assert len(re.findall(r"^\.visible \.entry", ptx, re.M)) == 1
    assert u.registers * threads <= 65536, (u.registers, threads)
    assert u.smem <= 48 * 1024, u.smem


def test_soft_min_loops_do_not_spill_and_stay_within_their_instruction_count():
    _, _, text, _ = _compiled()
    loops = [lp for lp in inner_loops(text, marker="DADD") if lp.instructions > 0]
    exp_loops = []
    lines = text.splitlines()
    labels = {ln.strip().rstrip(":").lstrip("."): i for i, ln in enumerate(lines)
              if ln.strip().startswith(".L") and ln.strip().endswith(":")}
    for lp in loops:
        start = labels[lp.label]
        end = next(i for i in range(start + 1, len(lines))
                   if f"`(.{lp.label})" in lines[i] and "BRA" in lines[i])
        body = lines[start:end + 1]
        n_exp = sum(_EXP2_SHIFT in ln and "DADD" in ln and "-6.755" not in ln for ln in body)
        if n_exp:
            exp_loops.append((lp.label, lp.instructions / n_exp,
                              sum(("LDL" in ln or "STL" in ln) for ln in body)))
    # the soft-min is inlined at each of its call sites (iterations, averaged steps)
    assert len(exp_loops) >= 4, exp_loops
    for label, per_entry, spills in exp_loops:
        assert spills == 0, (label, spills)
        assert per_entry <= PER_ENTRY_MAX, (label, per_entry)


def test_float32_soft_min_loops_use_the_hardware_exp2_and_no_float64():
    _, _, text, _ = _compiled(True)
    loops = inner_loops(text, marker="MUFU.EX2")
    assert len(loops) >= 4, loops  # the soft-min at each of its call sites
    for lp in loops:
        assert lp.per_marker <= PER_ENTRY_MAX_F32, (lp.label, lp.per_marker)
        assert not any(op in lp.ops for op in ("DADD", "DFMA", "DMUL", "DSETP", "F2F")), \
            (lp.label, lp.ops)
