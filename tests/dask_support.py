"""Shared helpers of the tests that run on a Dask cluster."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time


@contextlib.contextmanager
def killing_a_busy_worker(client, *, ready=lambda: True, timeout: float = 60.0, settle: float = 0.0):
    """Within the block, kill (SIGKILL) the process of the first worker that has a task, once
    ``ready()`` holds and ``settle`` seconds later; yields the list of the killed pids (empty if
    the block ended first)."""
    killed: list[int] = []

    def kill():
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not killed:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy and ready():
                time.sleep(settle)
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.01)

    t = threading.Thread(target=kill)
    t.start()
    try:
        yield killed
    finally:
        t.join()
