"""Array-namespace helpers: one place that knows about numpy vs CuPy.

``namespace(*arrays)`` returns the array-API namespace shared by the inputs (through
array-api-compat), ``is_cupy`` tells a CuPy array without importing CuPy, ``to_host`` /
``to_device`` move data, and :func:`resolve_backend` checks and resolves a ``backend=`` argument
against the one backend vocabulary of the package (:data:`BACKENDS`, :data:`FUNCTION_BACKENDS`;
docs/arrays.md "Backends").

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
    "resolve_backend",
    "accepted_backends",
    "BACKENDS",
    "FUNCTION_BACKENDS",
    "GPU_BACKENDS",
    "DEPRECATED_BACKENDS",
]

#: The backend vocabulary, the same for every ``backend=`` argument (docs/arrays.md "Backends"):
#: "numpy" the numpy/scipy reference on the host, "numba" the numba CPU (JIT) kernels, "cupy" the
#: CuPy kernels (RawKernels included) on a GPU, "numba_cuda" the numba-cuda kernels on a GPU,
#: "cuda" whichever GPU implementation the function has, "auto" the function's rule (GPU input:
#: its GPU implementation; host input: numpy or numba by size, see its docstring).
BACKENDS = ("auto", "numpy", "numba", "cuda", "cupy", "numba_cuda")
#: the GPU implementations; "cuda" stands for the one a function has
GPU_BACKENDS = ("cupy", "numba_cuda")

_CUPY_FAMILY = ("numpy", "numba", "cupy")
#: The implementations of every public function with a ``backend`` argument (each has one GPU
#: implementation, the one "cuda" selects). A result's ``backend`` (``info["backend"]``) names
#: the family that ran: "numpy", "numba" or "cuda".
FUNCTION_BACKENDS = {
    "sinkhorn": _CUPY_FAMILY,  # (and sinkhorn_divergence, which passes `backend` on)
    "wasserstein_1d": _CUPY_FAMILY,
    "sliced_wasserstein": _CUPY_FAMILY,
    "max_sliced_wasserstein": _CUPY_FAMILY,
    "projected_wasserstein": _CUPY_FAMILY,
    "estimate_kl": _CUPY_FAMILY,
    "assignment": ("numpy", "numba", "numba_cuda"),
    "auction_transport": ("numpy", "numba", "numba_cuda"),
}

#: Old spellings, accepted with a DeprecationWarning for one release: (function, old name) ->
#: (the backend it runs, the spelling to use instead).
DEPRECATED_BACKENDS = {
    # a single sinkhorn has no numba-cuda kernel (a batch on the GPU has one, reached by
    # backend="cuda"): the name ran the CuPy soft-min
    ("sinkhorn", "numba_cuda"): ("cuda", "backend='cuda'"),
    # the kNN search structure is not a backend: it is `knn_search`
    ("estimate_kl", "numba-kdtree"): ("numba", "backend='numba', knn_search='kdtree'"),
}

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


def accepted_backends(function: str) -> tuple[str, ...]:
    """The ``backend`` names that ``function`` accepts (deprecated spellings left out)."""
    impl = FUNCTION_BACKENDS[function]
    return ("auto",) + tuple(b for b in impl if b not in GPU_BACKENDS) + ("cuda",) + tuple(
        b for b in impl if b in GPU_BACKENDS)


def resolve_backend(backend: Any, function: str, *arrays: Any) -> str:
    """Check ``backend`` for ``function`` and name the family to run: "numpy", "numba",
    "cuda" (the function's GPU implementation), or "auto" for host input, which the function
    resolves by its own size rule.

    ``"auto"`` with a CuPy input gives ``"cuda"``. A name of the vocabulary that the function
    does not implement, or any other value, is a ValueError listing what it accepts; a deprecated
    spelling warns (DeprecationWarning, naming the new spelling) and runs its replacement. A GPU
    name without CuPy raises BackendUnavailableError when the implementation is CuPy's (the
    numba-cuda kernels raise their own when they start).
    """
    from ._warnings import warn

    if isinstance(backend, str) and (function, backend) in DEPRECATED_BACKENDS:
        new, spelling = DEPRECATED_BACKENDS[(function, backend)]
        warn(f"`backend`={backend!r} is deprecated for {function} and will be removed in the next "
             f"release; it runs backend={new!r}: pass {spelling} (docs/arrays.md, \"Backends\").",
             DeprecationWarning)
        backend = new
    accepted = accepted_backends(function)
    if not isinstance(backend, str) or backend not in accepted:
        raise ValueError(f"`backend` must be one of {accepted} for {function} (docs/arrays.md, "
                         f"\"Backends\"); got {backend!r}.")
    if backend == "auto":
        return "cuda" if any(is_cupy(a) for a in arrays if a is not None) else "auto"
    if backend == "cuda" or backend in GPU_BACKENDS:
        if "cupy" in FUNCTION_BACKENDS[function]:
            cupy_or_raise()
        return "cuda"
    return backend
