"""Array-namespace helpers: one place that knows about numpy vs CuPy.

``namespace(*arrays)`` returns the array-API namespace shared by the inputs (through
array-api-compat), ``is_cupy`` tells a CuPy array without importing CuPy, ``to_host`` /
``to_device`` move data, and ``pick_backend`` resolves ``backend="auto"``.

CuPy and numba-cuda are imported lazily, only when a CuPy array is seen or a GPU backend is
asked for, so ``import kantorovich`` stays cheap and works on machines without a GPU.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from .exceptions import BackendUnavailableError

__all__ = [
    "namespace",
    "is_cupy",
    "to_host",
    "to_device",
    "like",
    "cupy_or_raise",
    "gpu_available",
    "numba_cuda_available",
    "pick_backend",
    "BACKENDS",
]

BACKENDS = ("auto", "numpy", "numba", "cuda")

_GPU_INSTALL_HINT = (
    'install the GPU extra: pip install "kantorovich[gpu]" (CuPy for your CUDA version, '
    "for example cupy-cuda12x, and numba-cuda)"
)


def is_cupy(x: Any) -> bool:
    """True if ``x`` is a CuPy array (checked by type module, without importing CuPy)."""
    return type(x).__module__.split(".")[0] == "cupy"


def namespace(*arrays: Any):
    """Array-API namespace of the inputs (numpy for lists, scalars and numpy arrays).

    Raises TypeError when numpy and CuPy arrays are mixed.
    """
    kinds = {is_cupy(a) for a in arrays if a is not None}
    if kinds == {True, False}:
        raise TypeError(
            "inputs mix numpy and CuPy arrays; move them to one device first "
            "(cupy.asarray(...) or cupy.asnumpy(...))."
        )
    # array-api-compat is optional: without it (a bare GPU machine) the plain module is returned
    # (every caller in the package only needs the mixing check above, or numpy/CuPy functions)
    if True in kinds:
        try:
            import array_api_compat
        except ImportError:
            return cupy_or_raise()
        return array_api_compat.array_namespace(*[a for a in arrays if a is not None])
    try:
        import array_api_compat.numpy as xp_np
    except ImportError:
        return np
    return xp_np


def cupy_or_raise():
    """Import and return CuPy, or raise BackendUnavailableError saying what to install."""
    try:
        import cupy  # noqa: F401
    except Exception as exc:  # ImportError, or a CUDA runtime error at import
        raise BackendUnavailableError(f"CuPy is not available ({exc!s}); {_GPU_INSTALL_HINT}.") from exc
    return cupy


@functools.lru_cache(maxsize=1)
def gpu_available() -> bool:
    """True if CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@functools.lru_cache(maxsize=1)
def numba_cuda_available() -> bool:
    """True if numba.cuda is importable and either a GPU or the CUDA simulator is present."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:
        return False


def to_host(x: Any) -> np.ndarray:
    """Return ``x`` as a numpy array (copying from the GPU if needed)."""
    if is_cupy(x):
        return x.get()
    return np.asarray(x)


def to_device(x: Any, device: str = "cpu"):
    """Move ``x`` to ``device`` ("cpu" -> numpy, "cuda" -> CuPy)."""
    if device == "cpu":
        return to_host(x)
    if device == "cuda":
        return cupy_or_raise().asarray(x)
    raise ValueError(f"`device` must be 'cpu' or 'cuda'; got {device!r}.")


def like(x: Any, reference: Any):
    """Put ``x`` on the same device as ``reference`` (numpy or CuPy)."""
    return to_device(x, "cuda" if is_cupy(reference) else "cpu")


def pick_backend(backend: str, *arrays: Any, choices: tuple[str, ...] = BACKENDS) -> str:
    """Resolve ``backend`` for the given inputs.

    ``"auto"`` gives ``"cuda"`` when any input is a CuPy array and ``"numpy"`` otherwise;
    callers with a numba CPU kernel refine the auto rule by size (see their docstrings).
    An explicit ``"cuda"`` without CuPy raises BackendUnavailableError.
    """
    if not isinstance(backend, str) or backend not in choices:
        raise ValueError(f"`backend` must be one of {choices}; got {backend!r}.")
    on_gpu = any(is_cupy(a) for a in arrays if a is not None)
    if backend == "auto":
        return "cuda" if on_gpu else "numpy"
    if backend == "cuda":
        cupy_or_raise()
    return backend
