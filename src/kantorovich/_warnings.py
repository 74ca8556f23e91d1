"""Warnings that point at the caller's line, however deep in the package they are raised.

Every public function is called through the array layer (:mod:`kantorovich._interop`) and
often through other package functions, so a fixed ``stacklevel`` would name a line inside
kantorovich. :func:`warn` attributes the warning to the first frame outside the package and
outside the autodiff frameworks (torch, autograd, JAX): the user's own call. The frameworks
are skipped for the warnings of a backward pass, raised in a gradient rule that torch's
engine, autograd or a JAX callback calls: the user's line is then the one that asked for the
gradient (``loss.backward()``, ``torch.autograd.grad(...)``, ``jax.grad(f)(x)``), and a
forward solve that JAX traces (``jax.grad``, ``jax.jit``) is likewise attributed to the line
that called the transformed function.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import warnings

__all__ = ["batch_message", "gathered", "pot_quiet", "problem_list", "warn"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep

#: the frameworks whose frames stand between a gradient rule and the user's line
_FRAMEWORKS = ("torch", "functorch", "autograd", "jax", "jaxlib")


def _skipped_dirs() -> tuple[str, ...]:
    """The package's directory and those of the frameworks imported so far."""
    dirs = [_PACKAGE_DIR]
    for name in _FRAMEWORKS:
        path = getattr(sys.modules.get(name), "__file__", None)
        if path:
            dirs.append(os.path.dirname(os.path.abspath(path)) + os.sep)
    return tuple(dirs)


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn(message, category)`` attributed to the first caller outside kantorovich
    and outside the autodiff frameworks. Where every frame is one of theirs (a backward pass
    that torch runs in a thread of its own, for CUDA tensors), the outermost frame."""
    sink = getattr(_LOCAL, "sink", None)
    if sink is not None:
        sink.append((message, category))
        return
    skipped = _skipped_dirs()
    level = 2  # stacklevel 2 is warn()'s caller
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(skipped):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level - 1 if frame is None else level)


# ``warnings.catch_warnings`` swaps the process-wide filters and ``showwarning`` and puts them
# back on exit: two threads in it at once leave them swapped for good (on 2 cores, 2000 ``emd``
# calls from 4 threads left an "always" filter behind and every later warning of the process
# went into a dead list). The two tools below replace it inside the package.
_LOCAL = threading.local()


@contextlib.contextmanager
def gathered():
    """Within, the :func:`warn` calls of this thread (and only of this thread) append
    ``(message, category)`` to the list yielded instead of warning; the caller decides what
    to raise after. Nests."""
    prev = getattr(_LOCAL, "sink", None)
    sink: list = []
    _LOCAL.sink = sink
    try:
        yield sink
    finally:
        _LOCAL.sink = prev


# POT's network simplex warns about its result code ("numItermax reached before optimality",
# "Problem infeasible", "Problem unbounded") from ``ot.lp``; ``log=True`` gives the same text,
# which ``emd`` keeps in its ``info`` and follows with its own ConvergenceWarning.
_POT_FILTER = ("ignore", re.compile(r"(numItermax reached|Problem infeasible|Problem unbounded)", re.I),
               UserWarning, re.compile(r"ot\.lp"), 0)
_POT_LOCK = threading.Lock()
_POT_USERS = [0]


def _filters_mutated() -> None:
    f = getattr(warnings, "_filters_mutated", None)  # the registries' "once" memory reset
    if f is not None:
        f()


@contextlib.contextmanager
def pot_quiet():
    """Within (any thread, counted), POT's result-code warnings are ignored: one filter that
    matches only them, inserted first by the first user and removed by the last, so that the
    other filters are left as they are, whatever other threads do meanwhile."""
    with _POT_LOCK:
        if _POT_USERS[0] == 0 and _POT_FILTER not in warnings.filters:
            warnings.filters.insert(0, _POT_FILTER)
            _filters_mutated()
        _POT_USERS[0] += 1
    try:
        yield
    finally:
        with _POT_LOCK:
            _POT_USERS[0] -= 1
            if _POT_USERS[0] == 0:
                with contextlib.suppress(ValueError):  # a user's catch_warnings dropped it
                    warnings.filters.remove(_POT_FILTER)
                _filters_mutated()


def problem_list(indices, shown: int = 8) -> str:
    """The problems of a batch named in a message: "problem 2", "problems 0, 3 and 4", or the
    first ``shown`` and how many more ("problems 0, 1, ..., 7 and 12 more")."""
    idx = [int(q) for q in indices]
    if len(idx) == 1:
        return f"problem {idx[0]}"
    head = ", ".join(str(q) for q in idx[:shown])
    if len(idx) > shown:
        return f"problems {head} and {len(idx) - shown} more"
    return f"problems {', '.join(str(q) for q in idx[:-1])} and {idx[-1]}"


def batch_message(bad, total: int, message: str) -> str:
    """The text of one warning for the problems ``bad`` (sorted indices) of a batch of
    ``total`` whose single solves warned, carrying the first one's ``message``."""
    which = problem_list(bad) + (f"; the numbers below are problem {bad[0]}'s" if len(bad) > 1 else "")
    return f"in {len(bad)} of {total} problems of the batch ({which}): {message}"
