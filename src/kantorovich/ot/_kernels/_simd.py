"""The vector width of the numba CPU kernels.

LLVM's x86 back end prefers 256-bit vectors on Intel AVX-512 processors (a tuning flag of the
Skylake-server line onwards, against the clock drop 512-bit instructions caused on the first of
them), so a loop that numba vectorises uses ``ymm`` registers even where ``zmm`` ones would
run twice the lanes per instruction. The exp2 loops of the soft-mins are arithmetic-bound
(about 20 vector operations per entry, no memory traffic to speak of), which is the case
512-bit vectors pay for: on an Intel Xeon with AVX-512 the d = 2 float64 row loop ran 1.47x
faster at 2048 x 2048 and a whole point-cloud Sinkhorn solve 1.41x (docs/performance.md,
"Vector width: 512-bit on Intel too").

:func:`wide_vectors` asks for the host's widest vectors in the function that calls it: it sets
LLVM's ``"prefer-vector-width"="512"`` attribute on that function, which the vectorisers read
per function. It changes nothing where the host has no AVX-512 (the vectors are as wide as the
instruction set allows) and nothing for other processes or other numba functions, unlike a
process-wide ``NUMBA_CPU_FEATURES``. Call it first in a kernel whose hot loop vectorises and
is arithmetic-bound, and in each function such a loop is inlined into before LLVM vectorises it
(a numba function with ``inline="always"`` becomes part of its caller, which is then the one to
call it). Measure first: short or load-bound loops ran slower with it (the kNN searches, 0.86-0.94x)
or the same (the radix sorts, the auction); docs/performance.md lists what was measured.
"""

from __future__ import annotations

from numba import types
from numba.extending import intrinsic

__all__ = ["wide_vectors", "PREFER_WIDTH_ATTRIBUTE"]

PREFER_WIDTH_ATTRIBUTE = '"prefer-vector-width"="512"'


@intrinsic
def wide_vectors(typingctx):
    """``wide_vectors()``: the enclosing function's loops vectorise at up to 512 bits."""

    def codegen(context, builder, signature, args):
        # llvmlite checks attribute names against the keyword attributes it knows; a string
        # attribute ("key"="value", printed as written) is added to the set directly
        set.add(builder.function.attributes, PREFER_WIDTH_ATTRIBUTE)
        return context.get_dummy_value()

    return types.void(), codegen
