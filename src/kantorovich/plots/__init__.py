"""Figures of the report, as a public API: data in, matplotlib Figure out.

Every function takes the data to draw (arrays, or the dict / result object an experiment
returned) and returns a :class:`matplotlib.figure.Figure`. With ``ax=`` it draws into the given
Axes (a sequence of Axes, one per panel, for the multi-panel figures) and returns
``ax.figure``, leaving that Figure's own title, legend and layout engine alone (a
``layout="constrained"`` Figure stays constrained; the overall title and the ``tight_layout``
of a figure are drawn only on a Figure the function made); without it, it makes a new
Figure; a call that raises closes any Figure it made. Arrays may be given as lists or torch
tensors. Every function checks its data before drawing: a wrong shape, an empty array,
mismatched lengths, a NaN where it would break the figure (a NaN in an estimate, an error
curve or a generated sample is drawn as a gap) or a non-positive value on a log axis is a
``ValueError`` naming the argument, and a key missing from a result dict (or a field from a
result object) is a ``ValueError`` naming the key. No function solves, trains or estimates
anything (the report sections compute, these only draw), and none calls ``plt.show()``.
matplotlib is imported only when a function runs.

>>> import numpy as np
>>> import matplotlib.pyplot as plt
>>> from kantorovich.plots import plot_plan_matrix, plot_convergence
>>> fig, (left, right) = plt.subplots(1, 2)
>>> plot_plan_matrix(np.eye(3) / 3, ax=left) is fig
True
>>> plot_convergence({"run": ([10, 20, 30], [1e-1, 1e-3, 1e-5])}, ax=right) is fig
True
"""

from __future__ import annotations

from .auction import plot_matching_vs_sinkhorn, plot_timings
from .emd1d import (
    plot_cdf_area,
    plot_cdf_quantile_panels,
    plot_quantile_area,
    plot_sliced_convergence,
    plot_sliced_panels,
    plot_sliced_parallel_lines,
)
from .emd_exact import (
    plot_empirical_convergence,
    plot_estimate_vs_n,
    plot_plan_matrix,
    plot_plan_panels,
    plot_transport_plan,
    plot_w2_convergence,
)
from .estimators import plot_estimator_errors, plot_estimators_parallel_lines
from .foundation import plot_cumulative_deltas, plot_optimal_discriminator, plot_parallel_lines
from .mode_hopping import plot_mode_trajectories
from .sinkhorn import plot_convergence, plot_plans, plot_value_vs_eps
from .theory import (
    plot_cauchy,
    plot_identity,
    plot_instance_noise,
    plot_parallel_lines_gan,
    plot_saturation,
    plot_vanishing,
)
from .theory_games import (
    plot_bilinear_grid,
    plot_bilinear_trajectories,
    plot_critic_estimates,
    plot_critic_surfaces,
    plot_dirac_gan,
    plot_lr_sweep,
    plot_mode_samples,
)
from .theory_ot import plot_ot_generators, plot_ot_landscape, plot_ot_training, plot_sinkhorn_flow

__all__ = [
    # exact and 1-D optimal transport
    "plot_transport_plan", "plot_plan_matrix", "plot_plan_panels", "plot_estimate_vs_n",
    "plot_empirical_convergence", "plot_w2_convergence",
    "plot_cdf_area", "plot_quantile_area", "plot_cdf_quantile_panels",
    "plot_sliced_convergence", "plot_sliced_parallel_lines", "plot_sliced_panels",
    "plot_timings", "plot_matching_vs_sinkhorn",
    # entropic optimal transport
    "plot_plans", "plot_convergence", "plot_value_vs_eps",
    # divergences and their estimators
    "plot_parallel_lines", "plot_cumulative_deltas", "plot_optimal_discriminator",
    "plot_estimator_errors", "plot_estimators_parallel_lines",
    # gradient experiments (T1-T4, T8, T9)
    "plot_vanishing", "plot_identity", "plot_cauchy", "plot_parallel_lines_gan",
    "plot_instance_noise", "plot_saturation",
    # games, critics, mode collapse (T5-T7)
    "plot_bilinear_trajectories", "plot_bilinear_grid", "plot_lr_sweep", "plot_dirac_gan",
    "plot_critic_surfaces", "plot_critic_estimates", "plot_mode_samples", "plot_mode_trajectories",
    # OT-trained generators (T10)
    "plot_ot_training", "plot_ot_landscape", "plot_ot_generators", "plot_sinkhorn_flow",
]
