"""scipy.spatial.distance.jensenshannon tests on :func:`kantorovich.divergences.js_distance`.

Source: scipy/spatial/distance/tests/test_distance.py (scipy main, 2026; it was
scipy/spatial/tests/test_distance.py before), ``test_jensenshannon`` and the
``test_pdist_jensenshannon_*`` cases of ``TestPdist``. scipy's ``jensenshannon`` is
sqrt(JS) with the ½-weighted JS, i.e. ``js_distance``; kantorovich works along the last axis
(scipy: ``axis=0`` by default). The pdist reference tables are read from the installed scipy's
test data when it ships them, and every case is also compared to scipy computed here.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import scipy
from numpy.testing import assert_allclose
from scipy.spatial.distance import jensenshannon, pdist

from kantorovich.divergences import js_distance, js_divergence


def test_jensenshannon_values():
    """test_distance.py test_jensenshannon, scalar cases."""
    assert math.isclose(js_distance([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], base=2.0), 1.0)
    assert math.isclose(js_distance([1.0, 0.0], [0.5, 0.5]), 0.46450140402245893)
    assert math.isclose(js_distance([1.0, 0.0, 0.0], [1.0, 0.0, 0.0]), 0.0)


def test_jensenshannon_axis():
    """test_distance.py test_jensenshannon, axis cases ([[1, 2]] vs [[0.5, 1.5]]): scipy's axis=0
    compares one-bin columns (each JS 0), axis=1 the rows."""
    p, q = np.array([[1.0, 2.0]]), np.array([[0.5, 1.5]])
    assert_allclose(js_distance(p.T, q.T), [0.0, 0.0], atol=1.5e-7)
    assert_allclose(js_distance(p, q), [0.0649045], atol=1.5e-7)
    assert_allclose(js_distance(p, q), jensenshannon(p, q, axis=1), rtol=1e-12)


def test_jensenshannon_matrix_axes():
    """test_distance.py test_jensenshannon, the 3x4 integer matrices along axis 0 and 1."""
    a = np.array([[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12]])
    b = np.array([[13, 14, 15, 16], [17, 18, 19, 20], [21, 22, 23, 24]])
    assert_allclose(js_distance(a.T, b.T), [0.1954288, 0.1447697, 0.1138377, 0.0927636],
                    atol=1.5e-7)
    assert_allclose(js_distance(a, b), [0.1402339, 0.0399106, 0.0201815], atol=1.5e-7)
    assert_allclose(js_distance(a.T, b.T), jensenshannon(a, b, axis=0), rtol=1e-12)


def _pairs_js(X):
    """pdist(X, 'jensenshannon') order: rows i < j."""
    i, j = np.triu_indices(X.shape[0], k=1)
    return js_distance(X[i], X[j])


def _scipy_data(name):
    for sub in ("spatial/distance/tests/data", "spatial/tests/data"):
        f = Path(os.path.dirname(scipy.__file__)) / sub / name
        if f.exists():
            return np.loadtxt(f)
    pytest.skip(f"the installed scipy ships no test data file {name}")


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-11), (np.float32, 1e-8)])
def test_pdist_jensenshannon_random(dtype, rtol):
    """test_distance.py TestPdist.test_pdist_jensenshannon_random / _float32: all pairs of
    scipy's pdist-double-inp rows against its stored pdist-jensenshannon table."""
    X = _scipy_data("pdist-double-inp.txt").astype(dtype)
    Y_right = _scipy_data("pdist-jensenshannon-ml.txt")
    out = _pairs_js(X)
    # Convention difference: scipy returns float64 for float32 input; kantorovich returns the
    # caller's dtype (docs/arrays.md), computed in float64 and rounded once, so a float32
    # result carries at most half an ulp of float32 on top of scipy's own error.
    assert out.dtype == dtype
    assert_allclose(out, Y_right, rtol=rtol + np.finfo(dtype).eps / 2)
    assert_allclose(out, pdist(X.astype(float), "jensenshannon").astype(dtype), rtol=1e-11)


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-12), (np.float32, 1e-6)])
def test_pdist_jensenshannon_iris(dtype, atol):
    """test_distance.py TestPdist.test_pdist_jensenshannon_iris / _float32."""
    X = _scipy_data("iris.txt").astype(dtype)
    Y_right = _scipy_data("pdist-jensenshannon-ml-iris.txt")
    assert_allclose(_pairs_js(X), Y_right, atol=atol)


@pytest.mark.parametrize("seed", range(20))
def test_pdist_jensenshannon_random_rows_match_scipy(seed):
    """test_distance.py TestPdist.test_pdist_jensenshannon_random, with fresh random rows (some
    zero bins, unnormalised) compared with scipy's pdist computed here."""
    rng = np.random.default_rng(seed)
    X = rng.random((6, int(rng.integers(2, 30))))
    X[rng.random(X.shape) < 0.15] = 0.0
    X[:, 0] += 0.1
    assert_allclose(_pairs_js(X), pdist(X, "jensenshannon"), rtol=1e-11, atol=1e-15)


@pytest.mark.parametrize("base", [None, 2.0, 10.0])
def test_jensenshannon_base(base):
    """test_distance.py test_jensenshannon (base argument): js_distance = sqrt(js_divergence)."""
    p, q = [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]
    assert_allclose(js_distance(p, q, base=base), jensenshannon(p, q, base=base), rtol=1e-13)
    assert_allclose(js_distance(p, q, base=base) ** 2, js_divergence(p, q, base=base),
                    rtol=1e-13)
