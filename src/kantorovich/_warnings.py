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

import os
import sys
import warnings

__all__ = ["batch_message", "problem_list", "warn"]

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
    skipped = _skipped_dirs()
    level = 2  # stacklevel 2 is warn()'s caller
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(skipped):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level - 1 if frame is None else level)


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
