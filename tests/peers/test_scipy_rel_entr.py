"""scipy.special.rel_entr tests on :func:`kantorovich.divergences.kl_divergence`.

Source: scipy/special/tests/test_basic.py, ``test_rel_entr``, ``test_rel_entr_gh_20710_near_zero``
and ``test_rel_entr_gh_20710_overflow`` (scipy main, 2026). ``rel_entr(x, y)`` is the elementwise
term x log(x/y); KL(p‖q) is its sum over a probability vector, so each case is ported as the KL
of two-bin pmfs built from the scipy inputs, against the sum of scipy's terms or against mpmath
(computed here, 50 digits, on the normalised float inputs).
"""

from __future__ import annotations

import itertools

import mpmath
import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy import special

from kantorovich.divergences import kl_divergence

EPS = np.finfo(float).eps


def _kl_mp(p, q):
    with mpmath.workdps(50):
        sp = mpmath.fsum(mpmath.mpf(float(a)) for a in p)
        sq = mpmath.fsum(mpmath.mpf(float(b)) for b in q)
        return float(mpmath.fsum(
            0 if a == 0 else mpmath.mpf(float(a)) / sp
            * mpmath.log((mpmath.mpf(float(a)) / sp) / (mpmath.mpf(float(b)) / sq))
            for a, b in zip(p, q)))


VALUES = (0.0, 0.5, 1.0)


@pytest.mark.parametrize("x, y", list(itertools.product(VALUES, VALUES)))
def test_rel_entr_grid(x, y):
    """test_basic.py test_rel_entr, non-negative half of its grid: KL([x, 1-x] ‖ [y, 1-y]) is the
    sum of scipy's two rel_entr terms (inf where x > 0 = y, 0 log 0 = 0)."""
    p, q = np.array([x, 1 - x]), np.array([y, 1 - y])
    expected = special.rel_entr(p, q).sum()
    got = kl_divergence(p, q)
    if np.isinf(expected):
        assert got == np.inf
    else:
        assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("sx, sy", [(-1, 1), (1, -1), (-1, -1)])
@pytest.mark.parametrize("va, vb", [(0.5, 0.5), (1.0, 0.5), (0.5, 1.0)])
def test_rel_entr_negative_inputs(sx, sy, va, vb):
    """test_basic.py test_rel_entr, negative half of its grid: scipy extends rel_entr by +inf
    for negative arguments; a negative mass is bad input for a pmf and raises at once, naming
    the argument (README "Conventions")."""
    p = np.array([sx * va, 1.0])
    q = np.array([sy * vb, 1.0])
    bad = "`p`" if sx < 0 else "`q`"
    with pytest.raises(ValueError, match=bad):
        kl_divergence(p, q)


@pytest.mark.parametrize("x, y", [
    (0.9456657713430001, 0.9456657713430094),
    (0.48066098564791515, 0.48066098564794774),
    (0.786048657854401, 0.7860486578542367),
])
def test_rel_entr_gh_20710_near_zero(x, y):
    """test_basic.py test_rel_entr_gh_20710_near_zero: nearly equal inputs. Each rel_entr term is
    ~1e-14 and scipy gets each to 1e-13 relative; their sum over a pmf, the KL, is ~1e-27 and
    is resolved only to an absolute few ulp of 1 by any float64 sum of such terms (scipy's
    ``stats.entropy`` gives 5.6e-17 on the second case), so the port checks KL >= 0 and
    |KL - mpmath| <= 4 eps."""
    p, q = [x, 1 - x], [y, 1 - y]
    got = kl_divergence(p, q)
    assert got >= 0
    assert abs(got - _kl_mp(p, q)) <= 4 * EPS


@pytest.mark.parametrize("p, q", [
    ([4, 0], [2.22e-308, 4]),            # overflow of p/q in scipy's case (4, 2.22e-308)
    ([1, 0], [5e-324, 1]),               # the ratio overflows: log p - log q is used
    ([4, 2.22e-308], [2.22e-308, 4]),
    ([1e-200, 1], [1e200, 1e200]),       # underflow: scipy's (1e-200, 1e+200)
    ([2.22e-308, 1], [1e15, 1e15]),      # subnormal: scipy's (2.22e-308, 1e15)
    ([5e-324, 1], [1, 1e-300]),
    ([1e-200, 1e-200], [1e200, 1e200]),
])
def test_rel_entr_gh_20710_overflow(p, q):
    """test_basic.py test_rel_entr_gh_20710_overflow: extreme magnitudes, against mpmath."""
    assert_allclose(kl_divergence(p, q), _kl_mp(p, q), rtol=1e-13, atol=0)
