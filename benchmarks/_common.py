"""The command line and the checkpointed JSON of the bench_*.py scripts, on the package's
benchmark code: the timing loop, the agreement check, the environment block and the JSON writer
are those of ``kantorovich bench`` (:mod:`kantorovich.bench`: ``measure``, ``interleaved``,
``agreement``, ``environment``, ``write_json``). The comparisons with peers that are a user
feature are suites of ``kantorovich bench``; these scripts measure what is not (array-type
overhead, backward cost, batches, Dask scaling, the Sinkhorn backend crossover, the GPU
runbook's cases). Every bench_*.py script accepts

    --quick        small sizes (seconds)
    --gpu          also run the GPU cases (skipped with a note when no GPU is present)
    --out DIR      where to write NAME.json (default benchmarks/results)

Timings are never assertions.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kantorovich.bench import agreement, interleaved, measure, write_json  # noqa: E402

__all__ = ["parser", "gpu_present", "environment", "time_cpu", "time_gpu", "write", "Checkpoint",
           "free_gpu_memory", "one_thread", "timed_once", "agreement", "interleaved", "measure",
           "write_json"]


class _Parser(argparse.ArgumentParser):
    def parse_args(self, *a, **k):  # --gpu-only implies --gpu
        args = super().parse_args(*a, **k)
        if args.gpu_only:
            args.gpu = True
        return args


def parser(description: str) -> argparse.ArgumentParser:
    p = _Parser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes")
    p.add_argument("--gpu", action="store_true", help="also run GPU cases")
    p.add_argument("--gpu-only", action="store_true",
                   help="only the GPU cases and the peers they are compared with in the same run (implies "
                        "--gpu; benchmarks/gpu_check.sh uses it: the CPU tables come from the dev machine)")
    p.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"))
    return p


def gpu_present() -> bool:
    from kantorovich.bench import _gpu

    return _gpu() is not None


def environment() -> dict[str, Any]:
    """The machine and library versions, as ``kantorovich bench`` records them
    (:func:`kantorovich.bench.environment`), plus the short keys these scripts' JSON has always
    had: ``cpus``, ``processor``, ``numpy``, and ``gpu`` as the device's name (``cupy`` its
    version) when there is one."""
    from kantorovich.bench import environment as package_environment

    env = package_environment()
    gpu = env.pop("gpu")
    env.update({"cpus": env["cpu_count"], "processor": env["cpu_model"],
                "numpy": env["libraries"].get("numpy", "")})
    if gpu:
        env["gpu"] = gpu["name"]
        env["gpu_driver"], env["cuda_runtime"] = gpu["driver"], gpu["cuda"]
        env["cupy"] = env["libraries"].get("cupy-cuda12x") or env["libraries"].get("cupy-cuda13x", "")
    return env


def time_cpu(fn: Callable[[], Any], *, repeat: int = 5, warmup: int = 1, max_seconds: float = 60.0) -> dict:
    """Median wall time of ``fn()`` over ``repeat`` runs after ``warmup`` runs (fewer runs once
    ``max_seconds`` have passed): :func:`kantorovich.bench.measure`."""
    return measure(fn, repeat=repeat, warmup=warmup, max_seconds=max_seconds)


def time_gpu(fn: Callable[[], Any], *, repeat: int = 10, warmup: int = 2) -> dict:
    """Median time of ``fn()`` measured with CUDA events after warm-up (CuPy):
    :func:`kantorovich.bench.measure` on the GPU."""
    return measure(fn, repeat=repeat, warmup=warmup, device="gpu")


def timed_once(fn: Callable[[], Any], *, device: str = "cpu") -> tuple[Any, float]:
    """``(fn(), seconds)``: one call, timed by :func:`kantorovich.bench.measure` (no warm-up),
    for a measurement that needs the call's result too."""
    box: list = []
    t = measure(lambda: box.append(fn()), repeat=1, warmup=0, device=device)["median_s"]
    return box[0], t


def write(name: str, out: str, payload: dict, *, echo: bool = True) -> Path:
    """``OUT/NAME.json``: the payload after ``benchmark`` and ``environment`` keys."""
    payload = {"benchmark": name, "environment": environment(), **payload}
    path = write_json(Path(out) / f"{name}.json", payload)
    if echo:
        print(path.read_text())
    return path


class Checkpoint:
    """A benchmark's JSON, rewritten after every case.

    A GPU session is short and a device call is killed at its time limit: with a checkpoint,
    a benchmark cut off by a timeout still leaves every case it finished in ``OUT/NAME.json``,
    and a case that raises is recorded as ``{"error": ..., "traceback": ...}`` while the
    following cases still run.
    """

    def __init__(self, name: str, out: str, payload: dict | None = None):
        self.name, self.out = name, out
        self.payload = {} if payload is None else payload

    def save(self) -> None:
        write(self.name, self.out, self.payload, echo=False)

    def case(self, key: str, fn: Callable[[], Any], into: dict | None = None) -> Any:
        """``into[key] = fn()`` (``into`` defaults to the payload), errors recorded, then saved."""
        import traceback

        target = self.payload if into is None else into
        t0 = time.perf_counter()
        print(f"-- case {key}", flush=True)
        try:
            target[key] = fn()
        except Exception as exc:
            target[key] = {"error": repr(exc)[:500], "traceback": traceback.format_exc()[-3000:]}
            print(f"-- case {key} FAILED: {exc!r}"[:600], flush=True)
        print(f"-- case {key}: {time.perf_counter() - t0:.1f} s", flush=True)
        self.save()
        return target[key]

    def done(self) -> Path:
        return write(self.name, self.out, self.payload)


def free_gpu_memory() -> None:
    """Return CuPy's cached blocks to the driver (between GPU cases; JAX allocates outside
    CuPy's pool)."""
    try:
        import cupy

        cupy.cuda.Device().synchronize()
        cupy.get_default_memory_pool().free_all_blocks()
        cupy.get_default_pinned_memory_pool().free_all_blocks()
    except Exception:
        pass


def one_thread(fn: Callable[[], Any], threads: int | None = None) -> Callable[[], Any]:
    """``fn`` run with numba limited to one thread, the previous thread count restored after."""
    import numba

    def run():
        before = numba.get_num_threads() if threads is None else threads
        numba.set_num_threads(1)
        try:
            return fn()
        finally:
            numba.set_num_threads(before)
    return run
