"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp


def pmfs(n_bins=st.integers(1, 12), *, allow_zeros=True, min_value=0.0):
    """Probability vectors (float64, sum 1) with optional zero bins and tiny masses."""

    @st.composite
    def _pmf(draw):
        n = draw(n_bins) if not isinstance(n_bins, int) else n_bins
        elems = st.one_of(
            st.floats(min_value=max(min_value, 1e-300), max_value=1.0, allow_subnormal=False),
            st.just(0.0) if allow_zeros and min_value == 0.0 else st.floats(min_value=max(min_value, 1e-3), max_value=1.0),
        )
        w = draw(hnp.arrays(np.float64, n, elements=elems))
        if w.sum() <= 0 or not np.isfinite(w.sum()):
            w = np.ones(n)
        return w / w.sum()

    return _pmf()


@st.composite
def pmf_pairs(draw, n_bins=st.integers(1, 12), allow_zeros=True):
    n = draw(n_bins)
    p = draw(pmfs(st.just(n), allow_zeros=allow_zeros))
    q = draw(pmfs(st.just(n), allow_zeros=allow_zeros))
    return p, q
