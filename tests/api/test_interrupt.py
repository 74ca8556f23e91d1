"""Ctrl-C (a signal handler's exception) during a long numba kernel: the caller gets the
handler's exception itself, and the package stays usable."""

from __future__ import annotations

import signal
import sys

import numpy as np
import pytest

from kantorovich._interop import signal_exceptions
from kantorovich.ot import PointCloud, pairwise_wasserstein, sinkhorn


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


@pytest.mark.skipif(sys.platform == "win32" or not hasattr(signal, "setitimer"),
                    reason="needs signal.setitimer")
@pytest.mark.parametrize("call", ["sinkhorn", "pairwise_wasserstein"])
def test_ctrl_c_in_a_kernel_is_a_keyboard_interrupt_and_a_second_call_works(call):
    """The soft-min kernels and the 1-D sorts call back into Python while they run (numba's
    lazy unpickling); a KeyboardInterrupt raised there came out as numba's SystemError
    ("... returned a result with an exception set"), which `except KeyboardInterrupt` missed."""
    rng = np.random.default_rng(0)
    x, y = rng.random((3000, 2)), rng.random((3000, 2)) + 0.2
    X = rng.random((40, 400_000))

    def run():
        if call == "sinkhorn":
            return sinkhorn(None, None, PointCloud(x, y), eps=0.003, max_iter=5000).value
        return pairwise_wasserstein(X, progress=False)[1, 2]

    small = (sinkhorn(None, None, PointCloud(x[:50], y[:50]), eps=0.1).value if call == "sinkhorn"
             else pairwise_wasserstein(X[:3, :100], progress=False))  # kernels loaded
    old = signal.signal(signal.SIGALRM, _raise_keyboard_interrupt)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(KeyboardInterrupt):
            run()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert np.isfinite(run()) and small is not None


def test_signal_exceptions_raises_the_cause_of_numbas_system_error():
    def kernel():
        try:
            raise TimeoutError("the caller's alarm")
        except TimeoutError as exc:
            raise SystemError("CPUDispatcher(<function k>) returned a result with an exception "
                              "set") from exc

    with pytest.raises(TimeoutError, match="the caller's alarm"):
        signal_exceptions(kernel)()

    def other():
        raise SystemError("something else")

    with pytest.raises(SystemError, match="something else"):
        signal_exceptions(other)()
