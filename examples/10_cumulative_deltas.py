"""The Earth-Mover distance between two histograms by cumulative deltas (C2).

On bins 0, 1, 2, 3 (unit spacing), move P = (3, 2, 1, 4) onto Q = (1, 2, 4, 3). Walk left to
right carrying the surplus: delta_0 = 0, delta_{i+1} = delta_i + P_i - Q_i. Each |delta| is the
mass that must cross the border between two bins, so the total work is sum |delta_i|:

    deltas = 0, 2, 2, -1, 0       EMD = 0 + 2 + 2 + 1 + 0 = 5

`kantorovich.ot.cumulative_deltas` and `emd_1d_histogram` compute this; the same number comes
out of the exact LP (`emd`) with cost |i - j|, whose plan says who moves where, and out of
scipy.stats.wasserstein_distance once both histograms are normalised (5 / 10 = 0.5).
"""
import numpy as np
from scipy.stats import wasserstein_distance

from kantorovich.ot import cumulative_deltas, emd, emd_1d_histogram

P = [3, 2, 1, 4]
Q = [1, 2, 4, 3]

deltas = cumulative_deltas(P, Q)
print(f"P = {P}, Q = {Q}")
print(f"cumulative deltas: {np.asarray(deltas).tolist()}")
print(f"sum |delta| = {np.abs(deltas).sum()}; emd_1d_histogram(P, Q) = {emd_1d_histogram(P, Q)}")

# The same by hand, step by step.
d = 0
for i in range(4):
    d_next = d + P[i] - Q[i]
    print(f"  border {i}|{i + 1}: carry {d} + P[{i}] - Q[{i}] = {d_next}")
    d = d_next

# The exact LP with cost |i - j|: the same 5, and the plan.
bins = np.arange(4.0)
r = emd(P, Q, np.abs(bins[:, None] - bins[None, :]))
print(f"emd (LP): value = {r.value}, certified = {r.certified}; plan (rows: from P, columns: to Q):")
print(np.asarray(r.plan))

# Normalised to probability vectors (what scipy compares): 5 / 10.
print(f"normalised: emd_1d_histogram = {emd_1d_histogram(P, Q, normalize=True)}, "
      f"scipy = {wasserstein_distance(bins, bins, P, Q)}")
