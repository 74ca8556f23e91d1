"""Thread pools of the BLAS libraries, kept out of the way of numba's.

numba's parallel kernels run on an OpenMP pool whose workers spin for a while after each
parallel region; OpenBLAS (numpy's and scipy's) has a pool of its own whose workers spin too.
Code that alternates short numba parallel regions with small BLAS/LAPACK calls (a Cholesky
factor, a d x d solve, an (n, d) @ (d, d) product) then runs more threads than there are
cores: on 2 cores a kNN query followed by a 5 x 5 triangular solve took 8.2 ms against
0.14 ms with one of the two pools on one thread (docs/estimators.md, "Threads").
:func:`blas_single_thread` runs such small linear algebra with the BLAS pools on one thread,
where threads cannot pay off anyway; it needs ``threadpoolctl`` (a dependency) and is a no-op
without it.
"""

from __future__ import annotations

import contextlib

_CONTROLLER: list = []


def _controller():
    """A ``threadpoolctl.ThreadpoolController`` of the BLAS libraries loaded with numpy and
    scipy.linalg (made once), or None without threadpoolctl."""
    if not _CONTROLLER:
        try:
            import scipy.linalg  # noqa: F401  (its own OpenBLAS, loaded before the controller looks)
            from threadpoolctl import ThreadpoolController

            _CONTROLLER.append(ThreadpoolController())
        except Exception:  # pragma: no cover - threadpoolctl is a dependency
            _CONTROLLER.append(None)
    return _CONTROLLER[0]


def blas_single_thread():
    """Context manager: numpy's and scipy's BLAS limited to one thread inside (about 10 us to
    enter and leave), restored after."""
    ctl = _controller()
    if ctl is None:  # pragma: no cover
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")
