"""Constants shared by the soft-min and gradient kernels (numba, CuPy, numba-cuda) and the
Sinkhorn solvers on the host, defined once so that the kernels and their references agree."""

from __future__ import annotations

# log2(e): the kernels work in base 2, with the exponent scale c = LOG2E / eps
LOG2E = 1.4426950408889634
# c h for a zero weight (h = -inf) is clamped here: finite, and 2^(NEG_BIG - max) is 0
NEG_BIG = -1e300
NEG_BIG32 = -1e30  # its float32 stand-in
# exponents are clipped to +-EXP_CLIP before exp (exp(709.8) overflows float64), and to
# +-EXP_CLIP32 in float32 arithmetic (exp(88.7) overflows float32; at 80, w exp(t) stays finite
# for weights w <= 1, and a zero weight times it is 0, not 0 * inf = NaN)
EXP_CLIP = 700.0
EXP_CLIP32 = 80.0
# numba fastmath flags of the soft-min loops: all are safe there (finite inputs), and none
# breaks the exp2 split into an integer and a fractional part
FASTMATH = {"nnan", "ninf", "nsz", "arcp", "contract", "afn", "reassoc"}  # numba takes a set, not a frozenset
