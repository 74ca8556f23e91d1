"""Tolerances of the report's statistical checks, derived from the estimates' own error bars."""

from __future__ import annotations

import math

import numpy as np


#: level of the report's statistical checks: a correct estimate fails one of them on at most
#: this fraction of seeds (one-sided for a bias budget, two-sided for a Monte-Carlo mean)
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


def parallel_lines_sw1_tolerance(theta: float, n_projections: int, w1_z: float, alpha: float = ALPHA) -> float:
    """Tolerance of ``|SW_1 estimate - 2|theta|/pi|`` on the parallel lines (0, Z), (theta, Z).

    On the direction (cos phi, sin phi) the two lines project to Z sin phi and
    theta cos phi + Z sin phi. With the empirical Z samples of each line, the 1-D W_1 is
    |theta cos phi| up to |sin phi| * W_1(Z_x, Z_y) (triangle inequality), where ``w1_z`` is the
    1-D W_1 between the two Z samples, so the sampling term adds at most ``w1_z``. The rest is
    the mean of |theta cos phi| over ``n_projections`` directions uniform on the circle: mean
    2|theta|/pi, standard deviation |theta| sqrt(1/2 - 4/pi^2) each, so by the central limit
    theorem it lies within z standard errors of 2|theta|/pi but with probability ``alpha``
    (z the two-sided normal quantile).
    """
    from scipy.stats import norm

    sd = abs(theta) * math.sqrt(0.5 - 4 / math.pi ** 2)
    return float(norm.ppf(1 - alpha / 2)) * sd / math.sqrt(n_projections) + w1_z
