"""Running a script under numba's CUDA simulator, in a subprocess (``NUMBA_ENABLE_CUDASIM``
must be set before ``numba.cuda`` is imported)."""

from __future__ import annotations

import os
import subprocess
import sys

#: the interpreter's thread switch interval in the simulator's process. The simulator runs each
#: CUDA thread as a Python thread and every barrier (``syncthreads``, the emulated warp shuffles)
#: waits for all of them; with the default 5 ms a thread that holds the GIL keeps it that long
#: while the others wait at a barrier. 0.2 ms ran the auction kernels' path cases 3.5x faster
#: (28.5 s against 8.0 s; 0.1-0.5 ms all within 10%). It changes the scheduling of the Python
#: threads only: the kernels' results do not depend on it.
SWITCH_INTERVAL_S = 2e-4


def run_simulated(script: str, *args: str, marker: str, timeout: float = 900.0,
                  warnings_as_errors: bool = False) -> str:
    """Run ``script`` (Python source) with ``args`` under the CUDA simulator; assert that it exits
    0 and prints ``marker``; return its stdout."""
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    prelude = f"import sys; sys.setswitchinterval({SWITCH_INTERVAL_S!r})\n"
    flags = ["-W", "error::RuntimeWarning"] if warnings_as_errors else []
    proc = subprocess.run([sys.executable, *flags, "-c", prelude + script, *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert marker in proc.stdout, proc.stdout[-3000:]
    return proc.stdout
