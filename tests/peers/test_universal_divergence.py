"""universal-divergence's tests on :func:`kantorovich.divergences.estimate_kl`.

Source: slaypni/universal-divergence, test/estimator_test.py (``test_k_estimator``,
``test_generalized_estimator``) and the estimator it tests, src/estimator.py (``estimate``), the
Wang-Kulkarni-Verdú (2009) kNN estimator of KL(P‖Q) with a fixed k or the adaptive k_i, l_i.
universal-divergence is not a dependency: its estimator is transcribed below (vectorised with
scipy's cKDTree, same arithmetic: rho and nu are the k-th neighbour distances in x without the
point itself and in y; the adaptive variant counts the neighbours within
eps_i = max(rho_1, nu_1) + 2^-40 and adds psi(l_i) - psi(k_i)), and the installed package is
also compared with when present. ``estimate(X, Y, k)`` maps onto
``estimate_kl(x, y, method="knn", k=k)`` and ``estimate(X, Y)`` onto ``method="knn-adaptive"``.
The original draws from sklearn's (since removed) ``mixture.GMM`` fitted to two-cluster data;
the port samples the same two mixtures directly.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree
from scipy.special import psi

from kantorovich.divergences import estimate_kl


def ud_estimate(X, Y, k=None):
    """Transcription of universal-divergence's ``estimate`` (src/estimator.py) for samples
    without repeated points."""
    X, Y = np.asarray(X, float), np.asarray(Y, float)
    n, d = X.shape
    m = Y.shape[0]
    tx, ty = cKDTree(X), cKDTree(Y)
    if k is not None:
        rho = tx.query(X, k + 1)[0][:, -1]
        nu = ty.query(X, k)[0]
        nu = nu if k == 1 else nu[:, -1]
        return (d / n) * np.sum(np.log(nu / rho)) + np.log(m / (n - 1))
    rho1 = tx.query(X, 2)[0][:, -1]
    nu1 = ty.query(X, 1)[0]
    e = np.maximum(rho1, nu1) + 0.5 ** 40
    l_i = np.array([len(c) for c in tx.query_ball_point(X, e)]) - 1
    k_i = np.array([len(c) for c in ty.query_ball_point(X, e)])
    rho = np.array([tx.query(x, li + 1)[0][-1] for x, li in zip(X, l_i)])
    nu = np.array([np.atleast_1d(ty.query(x, ki)[0])[-1] for x, ki in zip(X, k_i)])
    r = (d / n) * np.sum(np.log(nu / rho)) + np.log(m / (n - 1))
    return r + np.mean(psi(l_i) - psi(k_i))


def _mixture(rng, n, weight0, shift, d=20):
    z = rng.random(n) < weight0
    return rng.standard_normal((n, d)) + np.where(z, 0.0, shift)[:, None]


@pytest.fixture(scope="module")
def samples():
    """estimator_test.py setUp: mixture 1 = 1/4 N(0, I) + 3/4 N(10, I) in R^20 (the data 100 vs
    300 points of the original), mixture 2 = 1/2 N(0, I) + 1/2 N(5, I); x ~ 500, y ~ 400."""
    rng = np.random.default_rng(20160317)
    x1, y1 = _mixture(rng, 500, 0.25, 10.0), _mixture(rng, 400, 0.25, 10.0)
    x2, y2 = _mixture(rng, 500, 0.5, 5.0), _mixture(rng, 400, 0.5, 5.0)
    return x1, y1, x2, y2


def _ours(x, y, k):
    method = "knn" if k is not None else "knn-adaptive"
    return estimate_kl(x, y, method=method, k=k, n_boot=0, detect_infinite=False).value


@pytest.mark.parametrize("k", [1, 2, 5, None])
def test_estimator(samples, k):
    """estimator_test.py test_k_estimator (k = 1) and test_generalized_estimator (k None); also
    k = 2, 5: same-law pairs give ~0 (assertAlmostEqual places=0, |D| < 0.5), different laws do
    not; each value equals the transcribed estimator."""
    x1, y1, x2, y2 = samples
    for x, y, same in ((x1, y1, True), (x2, y2, True), (x1, y2, False)):
        ours = _ours(x, y, k)
        np.testing.assert_allclose(ours, ud_estimate(x, y, k), rtol=1e-9, atol=1e-9)
        if same:
            assert round(ours, 0) == 0
        else:
            assert round(ours, 0) != 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("k", [1, 3, None])
@pytest.mark.parametrize("d", [1, 2, 5])
def test_estimator_matches_transcription(seed, k, d):
    """src/estimator.py ``estimate`` on Gaussian samples of unequal sizes (n = 300, m = 200)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((300, d))
    y = rng.standard_normal((200, d)) * 1.5 + 0.5
    np.testing.assert_allclose(_ours(x, y, k), ud_estimate(x, y, k), rtol=1e-9, atol=1e-9)


def test_against_installed_package(samples):
    """The installed universal-divergence package itself, when present (the dev extra may have it)."""
    ud = pytest.importorskip("universal_divergence")
    x1, y1, _, _ = samples
    for k in (1, 5, None):
        np.testing.assert_allclose(_ours(x1[:200], y1[:150], k),
                                   ud.estimate(x1[:200], y1[:150], k=k), rtol=1e-9, atol=1e-9)
