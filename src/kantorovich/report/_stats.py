"""Tolerances of the report's statistical checks, derived from the estimates' own error bars."""

from __future__ import annotations

import math

import numpy as np


#: one-sided level of the replicate-mean checks: a correct estimator whose bias is within its
#: budget fails one of them on at most this fraction of seeds
ALPHA = 1e-3


def bias_budget_tolerance(values, budget: float, alpha: float = ALPHA) -> tuple[float, float]:
    """``(tolerance, se)`` for checking that the mean of ``values`` is within ``budget`` of the truth.

    ``values`` are independent replicates of an estimator whose expectation is claimed to lie
    within ``budget`` (its known finite-sample bias, stated in advance) of the truth. The check
    ``|mean - truth| <= budget + t * se``, with ``se = sd / sqrt(R)`` the standard error of the
    mean of the ``R`` replicates and ``t`` the ``1 - alpha`` quantile of Student's t with
    ``R - 1`` degrees of freedom, then fails with probability at most ``alpha`` when the claim
    holds (the replicate mean is close to normal by the central limit theorem; one-sided, since
    from an expectation inside the budget only the error towards that side can carry the mean
    past it), and still fails when the bias exceeds the budget by more than a few standard errors.
    """
    from scipy.stats import t as student_t

    v = np.asarray(values, dtype=float)
    if v.size < 2:
        raise ValueError("need at least 2 replicates for a standard error")
    se = float(v.std(ddof=1) / math.sqrt(v.size))
    return budget + float(student_t.ppf(1 - alpha, v.size - 1)) * se, se
