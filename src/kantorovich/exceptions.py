"""Warnings and errors raised by kantorovich."""

from __future__ import annotations

__all__ = ["ConvergenceWarning", "BackendUnavailableError", "EMDCertificateError",
           "KantorovichWarning"]


class KantorovichWarning(UserWarning):
    """Base class of the warnings kantorovich emits."""


class ConvergenceWarning(KantorovichWarning):
    """An iterative solver stopped before reaching its tolerance.

    The message names the knob to turn (``max_iter``, ``eps``, ``tol``...); the result
    still carries finite numbers and ``converged=False``.
    """


class BackendUnavailableError(ImportError, RuntimeError):
    """A requested backend (CuPy, numba-cuda, a GPU) is not available.

    The message says what to install (for example ``pip install "kantorovich[gpu]"``).
    """


class EMDCertificateError(RuntimeError):
    """An exact OT solver's answer failed its certificate (plan marginals off, or infeasible
    potentials that could not be repaired), raised by :func:`kantorovich.ot.emd` instead of
    returning a wrong answer. Never raised for a correct solver on valid input: in practice
    only when POT's network simplex is stopped by a small ``max_iter`` before it has a
    feasible plan. A :class:`RuntimeError`."""
