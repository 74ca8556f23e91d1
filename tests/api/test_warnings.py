"""Warnings name the caller's line, not a line inside kantorovich."""

from __future__ import annotations

import warnings

import numpy as np

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import sinkhorn, wasserstein_1d_plan


def test_convergence_warning_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        M = np.random.default_rng(0).random((30, 30))
        sinkhorn(None, None, M, eps=1e-3, max_iter=3)
    w = [c for c in caught if issubclass(c.category, ConvergenceWarning)]
    assert w and w[0].filename == __file__


def test_warning_from_a_nested_call_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wasserstein_1d_plan([0.0, 1.0], [2.0, 3.0], p=1100)  # potentials beyond float64
    assert caught and all(c.filename == __file__ for c in caught)
