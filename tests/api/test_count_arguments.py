"""Count-like arguments (numbers of projections, replicates, bins, iterations, samples) and
seeds: out-of-range values raise at once a ValueError naming the argument, instead of numpy's
MemoryError / "array is too big", an OverflowError from a C or numba loop bound, or numpy's own
"expected non-negative integer" for a negative seed."""

import numpy as np
import pytest

from kantorovich import _validation as v
from kantorovich.divergences import estimate_js, estimate_kl, estimate_tv, parzen_log_likelihood
from kantorovich.families import GaussianPair, HistogramPair, ParallelLines, UniformSegments
from kantorovich.ot import (
    assignment,
    auction_transport,
    emd,
    max_sliced_wasserstein,
    random_directions,
    sinkhorn,
    sliced_wasserstein,
    wasserstein,
)

X = np.random.default_rng(0).normal(size=(12, 2))
HUGE = 10**18  # sizes an allocation of exabytes
OVER = 2**64  # beyond every C long / numba int64 loop bound

FAMILIES = [ParallelLines(0.3), GaussianPair(0.0, 1.0, 1.0, 2.0), UniformSegments(0.0, 1.0, 0.5, 2.0),
            HistogramPair([0.5, 0.5], [0.2, 0.8])]

CALLS = [
    ("n_projections", lambda c: sliced_wasserstein(X, X, n_projections=c, rng=0)),
    ("n_projections", lambda c: max_sliced_wasserstein(X, X, n_projections=c, rng=0)),
    ("n_projections", lambda c: random_directions(c, 2, rng=0)),
    ("d", lambda c: random_directions(2, c, rng=0)),
    ("n_boot", lambda c: estimate_kl(X, X + 1, n_boot=c, rng=0)),
    ("n_boot", lambda c: estimate_js(X, X + 1, n_boot=c, rng=0)),
    ("n_boot", lambda c: estimate_tv(X, X + 1, method="histogram", n_boot=c, rng=0)),
    ("bins", lambda c: estimate_js(X, X + 1, method="histogram", bins=c, rng=0)),
    ("bins", lambda c: estimate_tv(X, X + 1, method="histogram", bins=c, rng=0)),
    ("n_reference", lambda c: estimate_kl(X, X + 1, method="knn-gauss-corrected", n_reference=c, rng=0)),
    ("n_halves", lambda c: estimate_kl(X, X + 1, error_bars="halves", n_halves=c, rng=0)),
    ("n_halves", lambda c: estimate_tv(X, X + 1, k=3, error_bars="halves", n_halves=c, rng=0)),
    ("max_rounds", lambda c: assignment(np.eye(3), max_rounds=c)),
    ("max_iter", lambda c: emd(None, None, np.eye(3), max_iter=c)),
    ("max_iter", lambda c: sinkhorn(None, None, np.eye(3), eps=0.1, max_iter=c)),
    ("check_every", lambda c: sinkhorn(None, None, np.eye(3), eps=0.1, check_every=c)),
    ("max_size", lambda c: auction_transport([0.5, 0.5], [0.5, 0.5], np.eye(2), max_size=c)),
    ("exact_max_entries", lambda c: wasserstein(X, X, exact_max_entries=c)),
    ("batch_size", lambda c: parzen_log_likelihood(X, X, batch_size=c)),
] + [("n", (lambda f: lambda c: f.sample(c, rng=0))(f)) for f in FAMILIES] \
  + [("m", (lambda f: lambda c: f.sample(3, rng=0, m=c))(f)) for f in FAMILIES]


LOOP_BOUNDS = ("max_rounds", "max_iter", "check_every", "exact_max_entries", "batch_size")
# every count beyond int64; the counts that size an allocation also at 10**18 (exabytes), while
# 10**18 is a valid (large) loop bound
CASES = [(n, c, OVER) for n, c in CALLS] + [(n, c, HUGE) for n, c in CALLS if n not in LOOP_BOUNDS]


@pytest.mark.parametrize("name, call, count", CASES,
                         ids=[f"{n}-{i}-{'2**64' if c == OVER else '10**18'}" for i, (n, _, c) in enumerate(CASES)])
def test_huge_count_names_the_argument(name, call, count):
    with pytest.raises(ValueError, match=f"`{name}`"):
        call(count)


def test_largest_loop_bounds_are_accepted():
    # the int64 maximum is a valid bound for the solvers' loops: same results as the defaults
    M = np.random.default_rng(1).random((4, 4))
    assert assignment(M, max_rounds=v.INT64_MAX).value == assignment(M).value
    assert emd(None, None, M, max_iter=v.INT64_MAX).value == emd(None, None, M).value
    assert (sinkhorn(None, None, M, eps=0.1, max_iter=v.INT64_MAX).value
            == sinkhorn(None, None, M, eps=0.1).value)


SEEDED = [
    lambda r: sliced_wasserstein(X, X + 1, n_projections=3, rng=r),
    lambda r: max_sliced_wasserstein(X, X + 1, n_projections=3, rng=r),
    lambda r: random_directions(3, 2, rng=r),
    lambda r: estimate_kl(X, X + 1, n_boot=5, rng=r),
    lambda r: estimate_js(X, X + 1, k=3, n_boot=5, rng=r),
    lambda r: estimate_tv(X, X + 1, k=3, n_boot=5, rng=r),
    lambda r: assignment(np.eye(3), rng=r),
    lambda r: parzen_log_likelihood(X, X[:4], bandwidth="cv", rng=r),
] + [(lambda f: lambda r: f.sample(3, rng=r))(f) for f in FAMILIES]


@pytest.mark.parametrize("call", SEEDED)
@pytest.mark.parametrize("seed", [-1, -(2**64), np.int64(-3)])
def test_negative_seed_names_rng(call, seed):
    with pytest.raises(ValueError, match="`rng` must be None, a non-negative int"):
        call(seed)


def test_check_rng_seeds():
    assert v.check_rng(0).random() == np.random.default_rng(0).random()
    assert v.check_rng(2**70).random() == np.random.default_rng(2**70).random()
    with pytest.raises(ValueError, match="`seed`"):
        v.check_rng(-1, "seed")
    with pytest.raises(TypeError, match="`rng`"):
        v.check_rng(True)


def test_check_memory():
    v.check_memory(1024, "n")
    with pytest.raises(ValueError, match="`n` and `m` must be smaller"):
        v.check_memory(2**80, "n", "m")

