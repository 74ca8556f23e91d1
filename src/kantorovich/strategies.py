"""Hypothesis strategies for probability vectors, weighted samples, point clouds and costs.

The strategies behind :mod:`kantorovich.testing`, public so that users can write their own
property tests with the same inputs::

    from hypothesis import given
    from kantorovich.strategies import pmf_pairs

    @given(pmf_pairs())
    def test_my_kl_is_nonnegative(pq):
        p, q = pq
        assert my_kl(p, q) >= -1e-12

Every strategy draws float64 numpy arrays. The inputs are chosen to reach the cases that
break divergence and transport code: zero bins, masses down to 1e-300, disjoint supports,
repeated sample values, zero weights and unnormalised weights.

Needs ``hypothesis``: ``pip install "kantorovich[testing]"``.
"""

from __future__ import annotations

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "kantorovich.strategies and kantorovich.testing need hypothesis; install it with "
        "pip install \"kantorovich[testing]\"") from exc

import numpy as np

__all__ = [
    "pmfs",
    "pmf_pairs",
    "pmf_triples",
    "disjoint_pmf_pairs",
    "weighted_samples",
    "sample_pairs",
    "sample_triples",
    "point_clouds",
    "cost_matrices",
]


def _count(k, name, least=1, strategies=True):
    """``k`` if it is an integer >= ``least``; a ValueError naming the argument otherwise (a
    size of 0 gave empty "probability vectors" summing to 0, and empty samples)."""
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, (int, np.integer)) or k < least:
        alt = " (or a strategy of them)" if strategies else ""
        raise ValueError(f"`{name}` must be an integer >= {least}{alt}; got {k!r}.")
    return int(k)


def _size(n, name="n_bins", least=1):
    """A size argument as a strategy: an int as ``st.just``, a strategy's draws checked."""
    if isinstance(n, st.SearchStrategy):
        return n.map(lambda k: _count(k, name, least))
    return st.just(_count(n, name, least))


def _bound(bound):
    """``bound`` as a float if it is a number >= 0 (``inf``: any finite value); a ValueError
    naming it otherwise (hypothesis's own message for a negative or NaN one named neither the
    argument nor the strategy)."""
    if isinstance(bound, (bool, np.bool_)) or not isinstance(bound, (int, float, np.integer,
                                                                     np.floating)) \
            or not float(bound) >= 0.0:
        raise ValueError(f"`bound` must be a number >= 0; got {bound!r}.")
    return float(bound)


def pmfs(n_bins=st.integers(1, 12), *, allow_zeros=True, min_value=0.0):
    """Probability vectors: float64, non-negative, summing to 1.

    Parameters
    ----------
    n_bins : int or strategy of int
        Number of bins.
    allow_zeros : bool
        Whether bins of exactly zero mass are drawn (they are what breaks ``p log(p / q)``).
    min_value : float
        Smallest non-zero mass before normalisation (masses go down to 1e-300 by default).
    """
    if not isinstance(n_bins, st.SearchStrategy):
        _count(n_bins, "n_bins")
    if isinstance(min_value, (bool, np.bool_)) or not isinstance(
            min_value, (int, float, np.integer, np.floating)) or not 0.0 <= min_value <= 1.0:
        # a string or None failed on the comparison, naming neither; a bool is a slip
        raise ValueError(f"`min_value` must be a number in [0, 1]; got {min_value!r}.")

    @st.composite
    def _pmf(draw):
        n = draw(_size(n_bins))
        elems = st.one_of(
            st.floats(min_value=max(min_value, 1e-300), max_value=1.0, allow_subnormal=False),
            # zeros are not masses: min_value bounds the non-zero ones only
            st.just(0.0) if allow_zeros
            else st.floats(min_value=max(min_value, 1e-3), max_value=1.0),
        )
        w = draw(hnp.arrays(np.float64, n, elements=elems))
        if w.sum() <= 0 or not np.isfinite(w.sum()):
            w = np.ones(n)
        return w / w.sum()

    return _pmf()


@st.composite
def pmf_pairs(draw, n_bins=st.integers(1, 12), allow_zeros=True):
    """Two probability vectors ``(p, q)`` on the same bins."""
    n = draw(_size(n_bins))
    return (draw(pmfs(n, allow_zeros=allow_zeros)), draw(pmfs(n, allow_zeros=allow_zeros)))


@st.composite
def pmf_triples(draw, n_bins=st.integers(1, 12), allow_zeros=True):
    """Three probability vectors on the same bins (for triangle inequalities)."""
    n = draw(_size(n_bins))
    return tuple(draw(pmfs(n, allow_zeros=allow_zeros)) for _ in range(3))


@st.composite
def disjoint_pmf_pairs(draw, n_bins=st.integers(2, 12)):
    """Two probability vectors with disjoint supports: every bin has mass in at most one.

    The discrete form of the parallel lines of Arjovsky, Chintala and Bottou (2017, Example 1).
    """
    n = draw(_size(n_bins, least=2))  # one bin cannot hold two disjoint supports
    side = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    if side.all() or not side.any():
        side[0] = not side[0]
    w = draw(hnp.arrays(np.float64, n, elements=st.floats(1e-6, 1.0)))
    p = np.where(side, w, 0.0)
    q = np.where(side, 0.0, w)
    return p / p.sum(), q / q.sum()


@st.composite
def weighted_samples(draw, min_size=1, max_size=12, *, weights=True, bound=100.0):
    """A 1-D sample and its weights: ``(values, weights)``, weights ``None`` or unnormalised.

    Values repeat often (drawn from a few distinct numbers half the time); weights, when
    drawn, are positive with zeros allowed, and are not normalised (scipy's convention).
    """
    if _count(max_size, "max_size", strategies=False) < _count(min_size, "min_size",
                                                              strategies=False):
        raise ValueError(f"`max_size` ({max_size!r}) must be >= `min_size` ({min_size!r}).")
    bound = _bound(bound)
    n = draw(st.integers(min_size, max_size))
    finite = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    if draw(st.booleans()):
        pool = draw(st.lists(finite, min_size=1, max_size=3))
        values = np.array(draw(st.lists(st.sampled_from(pool), min_size=n, max_size=n)))
    else:
        values = draw(hnp.arrays(np.float64, n, elements=finite))
    w = None
    if weights and draw(st.booleans()):
        w = draw(hnp.arrays(np.float64, n, elements=st.one_of(st.floats(1e-3, 10.0), st.just(0.0))))
        if w.sum() <= 0:
            w[draw(st.integers(0, n - 1))] = 1.0
    return np.asarray(values, dtype=np.float64), w


@st.composite
def sample_pairs(draw, min_size=1, max_size=12, *, weights=True, bound=100.0):
    """``(u_values, v_values, u_weights, v_weights)`` in scipy's argument order."""
    u, uw = draw(weighted_samples(min_size, max_size, weights=weights, bound=bound))
    v, vw = draw(weighted_samples(min_size, max_size, weights=weights, bound=bound))
    return u, v, uw, vw


@st.composite
def sample_triples(draw, min_size=1, max_size=12, *, weights=True, bound=100.0):
    """Three weighted samples ``((u, uw), (v, vw), (w, ww))``."""
    return tuple(draw(weighted_samples(min_size, max_size, weights=weights, bound=bound))
                 for _ in range(3))


@st.composite
def point_clouds(draw, n=st.integers(1, 8), d=st.integers(1, 3), *, bound=10.0):
    """A point cloud ``x`` of shape (n, d), coordinates in [-bound, bound]."""
    nn, dd, bound = draw(_size(n, "n")), draw(_size(d, "d")), _bound(bound)
    elems = st.floats(-bound, bound, allow_nan=False, allow_infinity=False)
    return draw(hnp.arrays(np.float64, (nn, dd), elements=elems))


@st.composite
def cost_matrices(draw, n=st.integers(1, 8), m=st.integers(1, 8), *, bound=10.0):
    """A non-negative cost matrix of shape (n, m), entries finite, in [0, bound]."""
    nn, mm, bound = draw(_size(n, "n")), draw(_size(m, "m")), _bound(bound)
    return draw(hnp.arrays(np.float64, (nn, mm), elements=st.floats(0.0, bound, allow_infinity=False)))
