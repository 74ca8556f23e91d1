"""An exact matching with `assignment` and `emd`, and the certificate that proves it optimal.

Between n = 200 points x and n = 200 points y with uniform weights, optimal transport is a
permutation (Birkhoff). `kantorovich.ot.assignment` finds it by the eps-scaling auction;
`kantorovich.ot.emd` solves the same LP by the network simplex. Both return dual potentials
f, g with f_i + g_j <= C_ij (dual feasibility); the value equals mean(f) + mean(g) (no
duality gap), which proves the matching optimal: no other transport plan can cost less,
because for any plan P, <P, C> >= sum_ij P_ij (f_i + g_j) = mean(f) + mean(g).

The script checks that certificate by hand and compares with scipy's Hungarian solver.
"""
import numpy as np
from scipy.optimize import linear_sum_assignment

from kantorovich.ot import assignment, emd

rng = np.random.default_rng(0)
n = 200
x = rng.normal(size=(n, 2))
y = rng.normal(size=(n, 2)) + np.array([1.0, 0.0])
C = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)      # squared Euclidean cost

# 1. The auction.
a = assignment(C)
print(f"assignment: value = {a.value:.6f} (mean cost of the matching), exact = {a.exact}, "
      f"duality gap = {a.duality_gap:.1e}")

# 2. The LP (network simplex), with its own certificate.
r = emd(None, None, C)
print(f"emd:        value = {r.value:.6f}, method = {r.method}, certified = {r.certified}, "
      f"duality gap = {r.duality_gap:.1e}, dual violation = {r.dual_violation:.1e}")

# 3. Check the auction's certificate ourselves.
f, g = np.asarray(a.f), np.asarray(a.g)
slack = C - f[:, None] - g[None, :]                   # must be >= 0 everywhere
matched = C[np.arange(n), a.perm]                      # must be tight (= 0 slack) on the matching
print(f"by hand: min slack C_ij - f_i - g_j = {slack.min():.2e} (>= 0 up to rounding), "
      f"max slack on the matching = {slack[np.arange(n), a.perm].max():.2e}")
print(f"         mean(f) + mean(g) = {f.mean() + g.mean():.6f} vs value {matched.mean():.6f}")

# 4. The plan of emd is the same permutation (the optimum is unique for points in general
#    position), and scipy agrees.
perm_emd = np.asarray(r.plan).argmax(axis=1)
rows, cols = linear_sum_assignment(C)
print(f"emd's plan is the auction's permutation: {np.array_equal(perm_emd, np.asarray(a.perm))}; "
      f"scipy.optimize.linear_sum_assignment value = {C[rows, cols].mean():.6f}")
