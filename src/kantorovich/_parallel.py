"""numba's parallel kernels launched safely from several threads and from forked processes.

A numba ``parallel=True`` kernel runs its ``prange`` loops on numba's threading layer, chosen
once per process: TBB when the ``tbb`` package is installed, else OpenMP when the OpenMP
runtime can be loaded (``libgomp`` on Linux), else numba's own ``workqueue``. Two of them
cannot take what programs routinely do:

- ``workqueue`` is not thread-safe: two threads that launch parallel kernels at once (a
  ``ThreadPoolExecutor`` of solves, a Dask cluster of threads) end the whole process
  ("Numba workqueue threading layer is terminating: Concurrent access has been detected").
  Here the launches then take turns on one lock, each still using all of numba's threads.
- GNU OpenMP (``omp`` on Linux) is not fork-safe: a process forked from one that started the
  layer (``multiprocessing`` with fork, a torch ``DataLoader``'s workers, ``os.fork``) is
  killed with SIGTERM at its first parallel launch ("Terminating: fork() called from a process
  already using GNU OpenMP, this is unsafe"); a pool of such workers then waits forever.
  Here such a child runs serial twins of the kernels instead (the same code with ``prange``
  as ``range``, compiled on its first use there and cached on disk like the kernels).

TBB and the other OpenMP runtimes (Intel's, Microsoft's) take both, and the kernels are
launched directly. :func:`parallel_kernel` wraps each parallel kernel; the wrapper costs
less than the noise of a launch (~10 us for a small kernel on 2 cores). docs/performance.md, "Threads and processes", says this for users.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import types
from typing import Any

__all__ = ["launch_mode", "parallel_kernel", "threads_at_most"]

# "direct": launch as they are; "lock": one launch at a time (workqueue); "serial": the serial
# twins (a fork of a process that started GNU OpenMP). Empty until the first launch.
_MODE: list[str] = []
_LOCK = threading.Lock()
_TWINS: dict[int, Any] = {}  # id(parallel dispatcher) -> its serial twin


def _layer_mode() -> str:
    """The mode for this process's threading layer, the layer started if it was not yet."""
    try:
        import numba
        from numba.np.ufunc import parallel

        parallel._launch_threads()  # what numba does before its first parallel launch
        layer = numba.threading_layer()
    except Exception:  # noqa: BLE001 - unknown layer or numba internals moved: the safe choice
        return "lock"
    return "lock" if layer == "workqueue" else "direct"


def launch_mode() -> str:
    """How parallel kernels are launched in this process: ``"direct"``, ``"lock"`` (the
    workqueue layer: one launch at a time) or ``"serial"`` (a fork of a process that started
    GNU OpenMP: serial twins). Starts numba's threading layer if it was not yet."""
    if not _MODE:
        with _LOCK:
            if not _MODE:
                _MODE.append(_layer_mode())
    return _MODE[0]


def _gnu_openmp_started() -> bool:
    """Whether this process has started numba's threading layer and it is GNU OpenMP (without
    importing numba)."""
    par = sys.modules.get("numba.np.ufunc.parallel")
    if par is None or not getattr(par, "_is_initialized", False):
        return False
    try:
        import numba

        if numba.threading_layer() != "omp":
            return False
        from numba.np.ufunc import omppool

        return getattr(omppool, "openmp_vendor", "GNU") == "GNU"
    except Exception:  # noqa: BLE001 - numba internals moved: assume the unsafe runtime
        return True


def _after_fork_in_child() -> None:
    global _LOCK
    # a lock that another thread of the parent held at the fork is never released here
    _LOCK = threading.Lock()
    if _MODE and _MODE[0] == "serial" or _gnu_openmp_started():
        _MODE[:] = ["serial"]


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _is_parallel_dispatcher(v: Any) -> bool:
    opts = getattr(v, "targetoptions", None)
    return isinstance(opts, dict) and bool(opts.get("parallel")) and hasattr(v, "py_func")


def serial_twin(dispatcher: Any) -> Any:
    """``dispatcher``'s function compiled without ``parallel`` (``prange`` runs as ``range``),
    with the parallel kernels it calls replaced by their own twins; cached on disk under its
    own name (``<name>_serial``) when ``dispatcher`` is."""
    if isinstance(dispatcher, ParallelKernel):
        dispatcher = dispatcher.dispatcher
    key = id(dispatcher)
    twin = _TWINS.get(key)
    if twin is not None:
        return twin
    import numba

    f = dispatcher.py_func
    glb = dict(f.__globals__)
    for name in f.__code__.co_names:
        v = glb.get(name)
        if isinstance(v, ParallelKernel) or (_is_parallel_dispatcher(v) and v is not dispatcher):
            glb[name] = serial_twin(v)
    func = types.FunctionType(f.__code__, glb, f.__name__, f.__defaults__, f.__closure__)
    func.__qualname__ = f.__qualname__ + "_serial"
    func.__module__ = f.__module__
    func.__kwdefaults__ = f.__kwdefaults__
    opts = {k: v for k, v in dispatcher.targetoptions.items() if k not in ("parallel", "nopython")}
    cached = type(getattr(dispatcher, "_cache", None)).__name__ not in ("NullCache", "NoneType")
    twin = numba.njit(cache=cached, **opts)(func)
    _TWINS[key] = twin
    return twin


class ParallelKernel:
    """A numba ``parallel=True`` kernel launched as :func:`launch_mode` says. Attributes are
    the dispatcher's (``signatures``, ``py_func``, ...); ``dispatcher`` is the kernel itself
    (what other jitted functions must call: this wrapper is not callable from numba code)."""

    __slots__ = ("__dict__", "dispatcher")

    def __init__(self, dispatcher: Any):
        self.dispatcher = dispatcher
        self.__doc__ = getattr(dispatcher, "__doc__", None)

    def __call__(self, *args, **kwargs):
        mode = _MODE[0] if _MODE else launch_mode()
        if mode == "direct":
            return self.dispatcher(*args, **kwargs)
        if mode == "lock":
            with _LOCK:
                return self.dispatcher(*args, **kwargs)
        return serial_twin(self.dispatcher)(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.dispatcher, name)

    def __repr__(self) -> str:
        return f"ParallelKernel({self.dispatcher!r})"


def parallel_kernel(dispatcher: Any) -> ParallelKernel:
    """Decorator, above ``@njit(parallel=True)``: the kernel launched safely from threads and
    forked processes (module docstring)."""
    return ParallelKernel(dispatcher)


@contextlib.contextmanager
def threads_at_most(k: int):
    """Within: numba's thread count for this thread at most ``k`` (at least 1), restored after.

    For a kernel whose ``prange`` has only ``k`` items (a batch of ``k`` problems, one per
    iteration): the threads beyond ``k`` have nothing to do, but a parallel region still waits
    at its join for each of them to wake and arrive. On free cores that costs microseconds; on
    oversubscribed ones a descheduled thread takes a scheduler tick or more (a batch of one
    64-point Sinkhorn problem: 0.55 ms on one thread, 4-8 ms on two, 2 shared cores at load
    2.3). Results do not depend on it: each item runs on one thread."""
    if launch_mode() == "serial":
        yield
        return
    import numba

    now = numba.get_num_threads()
    k = max(1, int(k))
    if k >= now:
        yield
        return
    numba.set_num_threads(k)
    try:
        yield
    finally:
        numba.set_num_threads(now)
