"""The CUDA compilers for the GPU static tests: find them, compile with them, read their output.

No GPU and no CuPy are needed. What is located (each may be absent):

* ``CUDA_HOME`` (the env var, else ``/usr/local/cuda``) and the pip wheels' ``nvidia/*`` folders
  (``nvidia-cuda-nvrtc``, ``nvidia-cuda-nvcc``, ``nvidia-nvvm``, ``nvidia-cuda-cuobjdump``,
  ``nvidia-cuda-nvdisasm``: the dev extra installs them);
* ``ptxas``, ``nvdisasm``, ``cuobjdump`` (the newest version found: a newer ptxas assembles the
  PTX of an older NVVM, not the reverse), ``libnvrtc`` (newest, or a given major version: CuPy
  for CUDA 12 loads NVRTC 12) and ``libnvvm``.

What it does:

* :func:`nvrtc_compile`: CUDA C -> PTX and cubin with NVRTC, called through ctypes with the
  options CuPy's ``RawModule`` uses (:data:`CUPY_OPTIONS` plus the module's own options);
* :func:`ptxas`: PTX -> cubin for sm_90, with the per-kernel resources of ``ptxas -v``;
* :func:`resource_usage`: registers, spills, shared memory, stack of each kernel of a cubin
  (``cuobjdump -res-usage``);
* :func:`sass`, :func:`sass_functions`: cubin -> SASS text (nvdisasm), split per kernel;
* :func:`inner_loops`: the innermost backward-branch loops of a SASS listing, with instruction
  counts per marker instruction (e.g. per ``MUFU.EX2``: one per matrix entry in a soft-min);
* :func:`float64_ptx_lines`, :func:`float64_sass_lines`: float64 instructions, which must not
  appear in a float32 path;
* :func:`require_toolchain`: skip with the missing pieces named, but FAIL when the env var
  ``CI`` is set, so that CI never skips a compile check silently.

The interface (names, arguments, return types) is kept stable: other test files import it.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import functools
import glob
import os
import re
import shutil
import subprocess
import tempfile
from collections import Counter

import pytest

__all__ = [
    "ARCH",
    "kernels_without_gpu",
    "numba_ptx",
    "CUPY_OPTIONS",
    "Loop",
    "Toolchain",
    "Usage",
    "float64_ptx_lines",
    "float64_sass_lines",
    "inner_loops",
    "nvrtc_compile",
    "nvrtc_version",
    "ptxas",
    "require_toolchain",
    "resource_usage",
    "sass",
    "sass_functions",
    "toolchain",
]

ARCH = "sm_90"  # H100 / H200
# what CuPy's RawModule adds to the module's options when it compiles with NVRTC for a GPU
CUPY_OPTIONS = ("-ftz=true", f"-arch={ARCH}", "--device-as-default-execution-space")


def _wheel_roots() -> list[str]:
    """Folders of the pip-installed ``nvidia`` namespace package (CUDA 13 wheels put everything
    under ``nvidia/cu13``; CUDA 12 wheels use ``nvidia/cuda_nvrtc``, ``nvidia/cuda_nvcc`` ...)."""
    try:
        import nvidia  # namespace package of the nvidia-* wheels
    except ImportError:
        return []
    roots = []
    for base in list(getattr(nvidia, "__path__", [])):
        roots += sorted(glob.glob(os.path.join(base, "*")))
    return [r for r in roots if os.path.isdir(r)]


def cuda_homes() -> list[str]:
    """Candidate toolkit roots: ``$CUDA_HOME`` / ``$CUDA_PATH``, ``/usr/local/cuda``, the wheels."""
    out = []
    for v in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"):
        if v and os.path.isdir(v) and v not in out:
            out.append(v)
    return out + _wheel_roots()


def _tool_version(path: str) -> tuple[int, ...]:
    try:
        r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    m = re.search(r"release (\d+)\.(\d+)", r.stdout)
    return (int(m.group(1)), int(m.group(2))) if m else ()


def _find_tool(name: str) -> str | None:
    """The newest working ``name`` among the toolkit roots' bin/ folders and PATH."""
    cands = [os.path.join(h, "bin", name) for h in cuda_homes()]
    cands += [os.path.join(h, "nvvm", "bin", name) for h in cuda_homes()]
    w = shutil.which(name)
    if w:
        cands.append(w)
    best, best_v = None, ()
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            v = _tool_version(c)
            if v and v > best_v:
                best, best_v = c, v
    return best


def _lib_major(path: str) -> int:
    m = re.search(r"\.so\.(\d+)", path)
    return int(m.group(1)) if m else 0


def _find_libs(stem: str) -> list[str]:
    """Every ``lib<stem>.so.N`` under the toolkit roots (lib, lib64, nvvm/lib64), newest major
    first. The ``.alt`` variants of the CUDA 12 wheels are left out."""
    found = []
    for h in cuda_homes():
        for sub in ("lib", "lib64", "nvvm/lib64", "nvvm/lib"):
            for p in glob.glob(os.path.join(h, sub, f"lib{stem}.so*")):
                if ".alt." not in p and os.path.isfile(p) and p not in found:
                    found.append(p)
    return sorted(found, key=lambda p: (-_lib_major(p), p))


@dataclasses.dataclass(frozen=True)
class Toolchain:
    cuda_home: str | None
    ptxas: str | None
    nvdisasm: str | None
    cuobjdump: str | None
    nvcc: str | None
    libnvrtc: str | None
    libnvvm: str | None

    def missing(self, *tools: str) -> list[str]:
        """The names among ``tools`` (fields of this class) that were not found."""
        return [t for t in tools if getattr(self, t) is None]


@functools.cache
def toolchain() -> Toolchain:
    homes = cuda_homes()
    nvrtc = _find_libs("nvrtc")
    nvvm = _find_libs("nvvm")
    return Toolchain(
        cuda_home=homes[0] if homes else None,
        ptxas=_find_tool("ptxas"), nvdisasm=_find_tool("nvdisasm"), cuobjdump=_find_tool("cuobjdump"),
        nvcc=_find_tool("nvcc"), libnvrtc=nvrtc[0] if nvrtc else None, libnvvm=nvvm[0] if nvvm else None)


def libnvrtc_paths() -> list[str]:
    """Every NVRTC found, newest major first (e.g. 13 from the toolkit, 12 as CuPy for CUDA 12 loads)."""
    return _find_libs("nvrtc")


def require_toolchain(*tools: str) -> Toolchain:
    """The toolchain, or ``pytest.skip`` naming what is missing; under ``CI`` a missing piece is a
    failure (the dev extra installs them all). ``tools`` are field names: "ptxas", "libnvrtc" ..."""
    tc = toolchain()
    miss = tc.missing(*tools)
    if miss:
        msg = (f"CUDA toolchain incomplete: {', '.join(miss)} not found (pip install the dev extra: "
               "nvidia-cuda-nvrtc, nvidia-cuda-nvcc, nvidia-nvvm, nvidia-cuda-cuobjdump, "
               "nvidia-cuda-nvdisasm; or set CUDA_HOME)")
        if os.environ.get("CI"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return tc


# --- NVRTC (through ctypes, as CuPy calls it) -----------------------------------------------


@functools.cache
def _nvrtc(lib: str):
    """``libnvrtc`` through ctypes, with the ``libnvrtc-builtins`` beside it loaded first: NVRTC
    opens that library by name when it compiles, which the dynamic linker finds only on its
    search path (a wheel's folder is not) or when it is loaded already (a compile then failed
    with "failed to open libnvrtc-builtins.so.13.0" unless another test had loaded it)."""
    for b in sorted(glob.glob(os.path.join(os.path.dirname(lib), "libnvrtc-builtins.so*"))):
        if ".alt." not in b:
            try:
                ctypes.CDLL(b, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                pass
    return ctypes.CDLL(lib)


def nvrtc_version(lib: str | None = None) -> tuple[int, int]:
    L = _nvrtc(lib or toolchain().libnvrtc)
    maj, mn = ctypes.c_int(), ctypes.c_int()
    L.nvrtcVersion(ctypes.byref(maj), ctypes.byref(mn))
    return maj.value, mn.value


def nvrtc_compile(source: str, options=(), *, lib: str | None = None, cupy: bool = True,
                  name: str = "kernel.cu") -> dict:
    """Compile CUDA C with NVRTC. ``options``: the module's own (e.g. ``("--use_fast_math",)``);
    ``cupy=True`` adds :data:`CUPY_OPTIONS`. Returns ``{"ptx": str, "cubin": bytes, "log": str,
    "version": (major, minor)}``; raises ``RuntimeError`` with the log on a compile error."""
    L = _nvrtc(lib or toolchain().libnvrtc)
    opts = [*options, *(CUPY_OPTIONS if cupy else ())]
    prog = ctypes.c_void_p()
    r = L.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
    if r != 0:
        raise RuntimeError(f"nvrtcCreateProgram failed ({r})")
    try:
        copts = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
        r = L.nvrtcCompileProgram(prog, len(opts), copts)
        n = ctypes.c_size_t()
        L.nvrtcGetProgramLogSize(prog, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value)
        L.nvrtcGetProgramLog(prog, buf)
        log = buf.value.decode(errors="replace")
        if r != 0:
            raise RuntimeError(f"NVRTC compile failed ({r}) with {opts}:\n{log[-4000:]}")
        L.nvrtcGetPTXSize(prog, ctypes.byref(n))
        buf = ctypes.create_string_buffer(n.value)
        L.nvrtcGetPTX(prog, buf)
        ptx = buf.value.decode()
        cubin = b""
        if any(o.startswith(("-arch=sm_", "--gpu-architecture=sm_")) for o in opts):
            L.nvrtcGetCUBINSize(prog, ctypes.byref(n))
            buf = ctypes.create_string_buffer(n.value)
            L.nvrtcGetCUBIN(prog, buf)
            cubin = buf.raw[:n.value]
    finally:
        L.nvrtcDestroyProgram(ctypes.byref(prog))
    return {"ptx": ptx, "cubin": cubin, "log": log, "version": nvrtc_version(lib or toolchain().libnvrtc)}


# --- ptxas, cuobjdump, nvdisasm --------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Usage:
    registers: int
    spill_stores: int  # bytes
    spill_loads: int  # bytes
    smem: int  # static shared memory, bytes
    stack: int  # bytes


@contextlib.contextmanager
def kernels_without_gpu(module):
    """Inside: ``module.kernels(...)`` builds its numba-cuda kernels on a machine without a GPU
    (its ``_cuda()`` gives numba.cuda without asking for a device; its kernel cache is emptied
    and restored after)."""
    from numba import cuda

    saved = module._cuda, module._KERNELS
    module._cuda, module._KERNELS = (lambda: cuda), {}
    try:
        yield
    finally:
        module._cuda, module._KERNELS = saved


def numba_ptx(py_func, signature, *, launch_bounds=None) -> str:
    """PTX for sm_90 of a numba-cuda kernel's Python function (``kernel.py_func``), compiled
    through numba-cuda's NVVM without a GPU. NVVM missing or unusable skips the test, or fails
    it under ``CI`` (as a missing tool)."""
    from numba import cuda

    kw = {} if launch_bounds is None else {"launch_bounds": launch_bounds}
    try:
        ptx, _ = cuda.compile_ptx(py_func, signature, cc=(9, 0), **kw)
    except Exception as exc:  # noqa: BLE001 -- NVVM missing or unusable: as a missing tool
        msg = f"numba-cuda cannot compile for sm_90 (NVVM): {exc!s:.300}"
        if os.environ.get("CI"):
            pytest.fail(msg, pytrace=False)
        pytest.skip(msg)
    return ptx


def _run(args, **kw):
    r = subprocess.run(args, capture_output=True, timeout=300, check=False, **kw)
    if r.returncode != 0:
        err = r.stderr.decode(errors="replace") if isinstance(r.stderr, bytes) else r.stderr
        raise RuntimeError(f"{os.path.basename(args[0])} failed ({r.returncode}):\n{err[-4000:]}")
    return r


def ptxas(ptx: str, arch: str = ARCH, extra=()) -> tuple[bytes, dict[str, Usage]]:
    """Assemble PTX for ``arch`` (``ptxas -v``); returns the cubin and per-kernel :class:`Usage`."""
    exe = toolchain().ptxas
    with tempfile.TemporaryDirectory() as d:
        src, out = os.path.join(d, "k.ptx"), os.path.join(d, "k.cubin")
        with open(src, "w") as f:
            f.write(ptx)
        r = _run([exe, f"-arch={arch}", "-v", *extra, src, "-o", out], text=True)
        with open(out, "rb") as f:
            cubin = f.read()
    return cubin, _parse_ptxas_v(r.stderr + r.stdout)


def _parse_ptxas_v(text: str) -> dict[str, Usage]:
    out, name, spill = {}, None, (0, 0)
    stack = 0
    for line in text.splitlines():
        m = re.search(r"Compiling entry function '([^']+)'", line) or re.search(r"Function properties for (\S+)", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", line)
        if m:
            stack, spill = int(m.group(1)), (int(m.group(2)), int(m.group(3)))
            continue
        m = re.search(r"Used (\d+) registers", line)
        if m and name:
            sm = re.search(r"(\d+) bytes smem", line)
            out[name] = Usage(int(m.group(1)), spill[0], spill[1], int(sm.group(1)) if sm else 0, stack)
            spill, stack = (0, 0), 0
    return out


def resource_usage(cubin: bytes) -> dict[str, Usage]:
    """Per-kernel registers / spills / static shared memory / stack of a cubin (cuobjdump -res-usage)."""
    exe = toolchain().cuobjdump
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "k.cubin")
        with open(p, "wb") as f:
            f.write(cubin)
        txt = _run([exe, "-res-usage", p], text=True).stdout
    out, name = {}, None
    for line in txt.splitlines():
        m = re.search(r"Function (\S+):", line)
        if m:
            name = m.group(1)
            continue
        m = re.search(r"REG:(\d+) STACK:(\d+) SHARED:(\d+) LOCAL:(\d+)", line)
        if m and name:
            # LOCAL = local memory per thread: the spill space (and local arrays)
            loc = int(m.group(4))
            out[name] = Usage(int(m.group(1)), loc, loc, int(m.group(3)), int(m.group(2)))
            name = None
    return out


def sass(cubin: bytes) -> str:
    """The SASS of a cubin as text (nvdisasm; cuobjdump -sass when nvdisasm is missing)."""
    tc = toolchain()
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "k.cubin")
        with open(p, "wb") as f:
            f.write(cubin)
        if tc.nvdisasm:
            return _run([tc.nvdisasm, "-c", p], text=True).stdout
        return _run([tc.cuobjdump, "-sass", p], text=True).stdout


def sass_functions(text: str) -> dict[str, str]:
    """Split an nvdisasm listing into ``{kernel name: its SASS}``."""
    out, name, buf = {}, None, []
    for line in text.splitlines():
        m = re.match(r"\s*\.text\.(\S+):", line) or re.match(r"\s*Function : (\S+)", line)
        if m:
            if name:
                out[name] = "\n".join(buf)
            name, buf = m.group(1), []
        elif name:
            buf.append(line)
    if name:
        out[name] = "\n".join(buf)
    return out


@dataclasses.dataclass(frozen=True)
class Loop:
    label: str
    instructions: int
    markers: int  # occurrences of the marker instruction in the loop body
    ops: dict  # opcode (without modifiers) -> count

    @property
    def per_marker(self) -> float:
        return self.instructions / self.markers if self.markers else float("inf")


_INSTR = re.compile(r"^\s*(?:/\*[0-9a-f]+\*/\s*)?(@!?U?P[T0-9]\s+)?([A-Z][A-Z0-9_]*(?:\.[A-Z0-9_]+)*)\b")
_LABEL = re.compile(r"^\s*\.?(L_x_\d+|\.L_x_\d+|\.L_\w+):")
_BRA = re.compile(r"\bBRA\b.*`\(\.?(L_x_\d+|\.L_x_\d+|\.L_\w+)\)")


def _instr(line: str):
    """The opcode (with modifiers) of a SASS line, or None for labels, directives, comments."""
    s = line.strip()
    if not s or s.startswith((".", "//")) or s.endswith(":"):
        return None
    s = re.sub(r"^/\*[0-9a-f]+\*/\s*", "", s)
    if not s or s.startswith("{") and len(s) == 1:
        return None
    s = s.lstrip("{ ").strip()
    m = _INSTR.match(s)
    return m.group(2) if m else None


def inner_loops(text: str, marker: str = "MUFU.EX2") -> list[Loop]:
    """The innermost loops (a backward ``BRA`` to a label) of a SASS listing that contain ``marker``,
    with their instruction count. ``Loop.per_marker`` = instructions per marker: for a soft-min
    with one ``MUFU.EX2`` per matrix entry, the instructions per entry of the unrolled loop."""
    lines = text.splitlines()
    labels = {}
    for i, ln in enumerate(lines):
        m = _LABEL.match(ln)
        if m:
            labels[m.group(1).lstrip(".")] = i
    loops = []
    for i, ln in enumerate(lines):
        m = _BRA.search(ln)
        if not m:
            continue
        lab = m.group(1).lstrip(".")
        start = labels.get(lab)
        if start is None or start >= i:
            continue
        body = [op for op in (_instr(x) for x in lines[start + 1:i + 1]) if op is not None]
        n_marker = sum(op.startswith(marker) for op in body)
        if not n_marker:
            continue
        # innermost: no other backward branch inside that is itself a loop with the marker
        ops = Counter(op.split(".")[0] for op in body)
        loops.append(Loop(lab, len(body), n_marker, dict(ops)))
    # drop loops that strictly contain a smaller marker loop (keep the innermost ones)
    inner = []
    for lp in loops:
        s = labels[lp.label]
        if not any(o is not lp and labels[o.label] >= s and o.instructions < lp.instructions
                   and _contains(lines, lp, o, labels) for o in loops):
            inner.append(lp)
    return inner


def _contains(lines, outer: Loop, inner: Loop, labels) -> bool:
    so, si = labels[outer.label], labels[inner.label]
    if si < so:
        return False
    # the inner loop's branch lies before the outer loop's branch
    end_o = next(i for i in range(so, len(lines)) if _BRA.search(lines[i]) and
                 _BRA.search(lines[i]).group(1).lstrip(".") == outer.label)
    return si < end_o


_F64_PTX = re.compile(r"\.f64\b")
# SASS double-precision ops: DADD DMUL DFMA DSETP DMNMX DMMA, and conversions to/from f64
_F64_SASS = re.compile(r"\b(D(ADD|MUL|FMA|SETP|MNMX|MMA)\b|F2F\.F64|F2F\.F32\.F64|I2F\.F64|F2I\.[A-Z0-9.]*F64|MUFU\.(RSQ|RCP)64)")


def float64_ptx_lines(ptx: str) -> list[str]:
    """PTX lines with a float64 instruction type (``.f64``; ``%fd`` register names do not count)."""
    return [ln for ln in ptx.splitlines() if _F64_PTX.search(ln) and not ln.lstrip().startswith("//")]


def float64_sass_lines(text: str) -> list[str]:
    """SASS lines with a double-precision instruction (D* ops, F2F/I2F to or from F64)."""
    return [ln for ln in text.splitlines() if _F64_SASS.search(ln)]
