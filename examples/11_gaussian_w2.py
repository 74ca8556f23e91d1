"""The W_2 distance between Gaussians: the closed form against the estimate from samples.

For P = N(m0, S0) and Q = N(m1, S1),

    W_2^2 = |m0 - m1|^2 + tr(S0 + S1 - 2 (S0^(1/2) S1 S0^(1/2))^(1/2))     (the Bures formula)

which `kantorovich.families.GaussianPair(...).w2()` computes. From samples, the exact W_2
between two empirical measures of n points (`kantorovich.ot.wasserstein(x, y, p=2)`, an LP on
the n x n costs) approaches it as n grows, slowly: in 2-D the error of one draw is sample noise
plus an upward bias (the two samples never match exactly), both shrinking like n^(-1/2) up to
logarithms, so the errors below are not monotone in n.
"""
import numpy as np

from kantorovich.families import GaussianPair
from kantorovich.ot import wasserstein

m0, S0 = np.zeros(2), np.eye(2)
m1, S1 = np.array([1.0, 1.0]), np.array([[2.0, 0.5], [0.5, 0.5]])
truth = GaussianPair(m0, S0, m1, S1).w2()
print(f"closed form W_2 = {truth:.4f}")

rng = np.random.default_rng(0)
print(f"{'n':>5} {'W_2 from samples':>17} {'error':>8}")
for n in (100, 300, 1000):
    x = rng.multivariate_normal(m0, S0, size=n)
    y = rng.multivariate_normal(m1, S1, size=n)
    w2 = wasserstein(x, y, p=2)
    print(f"{n:5d} {w2:17.4f} {w2 - truth:+8.4f}")
