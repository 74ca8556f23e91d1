"""kantorovich: divergences and optimal transport with a GPU core.

Subpackages: ``kantorovich.divergences`` (TV, KL, JS exact and from samples),
``kantorovich.ot`` (1-D, exact LP, Sinkhorn, sliced, auction), ``kantorovich.families``
(distributions with closed forms). Import is cheap: numba, matplotlib and CuPy load only
when a function that needs them runs.

Conventions: natural logarithms (nats); JS(P, Q) = ½ KL(P‖M) + ½ KL(Q‖M) with M = (P+Q)/2,
so 0 <= JS <= log 2.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

from .exceptions import BackendUnavailableError, ConvergenceWarning  # noqa: E402

_SUBMODULES = ("divergences", "ot", "families", "report", "plots", "toy_experiments", "cli")

__all__ = ["__version__", "BackendUnavailableError", "ConvergenceWarning", *_SUBMODULES]


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'kantorovich' has no attribute {name!r}")
