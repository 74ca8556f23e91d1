"""Scalar rules of the Sinkhorn schedule, shared by every engine that runs it.

Plain Python on floats, so that one source serves the single solver
(:mod:`kantorovich.ot._sinkhorn`, in Python), the CPU batch (compiled with ``numba.njit``) and
the GPU batch (compiled as a numba-cuda device function): the three take the same decisions
from the same numbers.
"""

from __future__ import annotations

import math

__all__ = ["annealing_pays"]


def annealing_pays(e_now: float, e_half: float, gap: int, tol: float, cost: int) -> bool:
    """Whether a cold start, at the marginal error ``e_now`` after the probe and ``e_half``
    ``gap`` iterations earlier, is predicted to need more than ``cost`` further iterations to
    reach ``tol`` (geometric decay at the measured rate; no rate or no decay: True)."""
    if not (gap > 0 and e_half > 0 and e_now > 0):
        return True
    rate = (e_now / e_half) ** (1.0 / gap)
    if not rate < 1.0:
        return True
    return math.log(tol / e_now) / math.log(rate) > cost
