"""What a GPU run records first: device, driver, CUDA (driver and runtime), CuPy, numba,
numba-cuda, jax, POT and OTT versions, NVRTC, SM count, and the date; written to the JSON path
given (``benchmarks/gpu_check.sh`` calls it before any benchmark) and printed. Runs without a
GPU too (the missing pieces are recorded as errors)."""

from __future__ import annotations

import datetime
import json
import platform
import subprocess
import sys


def _version(mod: str):
    try:
        m = __import__(mod)
        return getattr(m, "__version__", "?")
    except Exception as e:  # noqa: BLE001 - record why
        return f"not importable: {type(e).__name__}: {e}"[:200]


def collect() -> dict:
    env: dict = {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
                 "python": sys.version.split()[0], "platform": platform.platform()}
    try:
        r = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                            "--format=csv,noheader"], capture_output=True, text=True, timeout=30, check=False)
        env["nvidia_smi"] = r.stdout.strip() or r.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        env["nvidia_smi"] = f"unavailable: {e}"
    for mod in ("numpy", "scipy", "cupy", "numba", "numba_cuda", "jax", "ot", "ott", "torch"):
        env[mod] = _version(mod)
    try:
        import cupy as cp

        rt = cp.cuda.runtime
        dev = cp.cuda.Device()
        env["cuda_driver"] = rt.driverGetVersion()
        env["cuda_runtime"] = rt.runtimeGetVersion()
        env["nvrtc"] = cp.cuda.nvrtc.getVersion()
        env["device_name"] = rt.getDeviceProperties(dev.id)["name"].decode()
        env["sm_count"] = dev.attributes["MultiProcessorCount"]
        env["compute_capability"] = dev.compute_capability
        env["cupy_accelerators"] = [str(a) for a in cp._core.get_routine_accelerators()]
    except Exception as e:  # noqa: BLE001 - no GPU / no CuPy: say so
        env["cuda"] = f"unavailable: {type(e).__name__}: {e}"[:300]
    return env


if __name__ == "__main__":
    env = collect()
    text = json.dumps(env, indent=2, default=str)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    print(text)
