"""POT's entropic-OT tests (``ot.sinkhorn``, ``ot.bregman.empirical_sinkhorn*``) on
:func:`kantorovich.ot.sinkhorn` and :func:`kantorovich.ot.sinkhorn_divergence`.

Source: POT test/test_bregman.py (PythonOT/POT main, 2026). Conventions: POT's ``reg`` is our
``eps`` (same cost units; the plan minimising <P, M> + reg Σ P (log P - 1) is the plan
minimising <P, M> + eps KL(P‖a⊗b), so plans agree); ``ot.sinkhorn2`` returns the linear cost
<P, M>, our ``value``; POT's ``empirical_sinkhorn_divergence`` combines those linear costs while
ours (Genevay et al. 2018; Feydy et al. 2019) combines the regularised objectives
``OT_eps = <P, M> + eps KL(P‖a⊗b)``, so that case is compared with POT's plans turned into
objectives here. POT's ``stopThr`` (on the marginal violation) is our ``tol`` (L1 marginal
error); ``numItermax`` is ``max_iter``; ``warmstart`` is ``f0, g0`` (potentials in cost units).
Barycenters, unmixing, screenkhorn, convolutional and backend/dtype/device tests have no
counterpart.
"""

from __future__ import annotations

import warnings

import numpy as np
import ot as pot
import pytest
from numpy.testing import assert_allclose

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import DenseGeometry, PointCloud, emd, sinkhorn, sinkhorn_divergence


def _cloud(n=100, seed=0):
    x = np.random.RandomState(seed).randn(n, 2)
    return x, pot.utils.unif(n), pot.dist(x, x)


def _no_warning(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        return fn(*args, **kwargs)


def test_sinkhorn():
    """test_bregman.py test_sinkhorn: n = 100 Gaussian cloud against itself, reg 1, stopThr
    1e-10: the plan's marginals hold to 1e-5 and it is POT's plan."""
    _, u, M = _cloud()
    r = _no_warning(sinkhorn, u, u, M, eps=1.0, tol=1e-10, plan=True)
    assert r.converged
    assert_allclose(r.plan.sum(1), u, atol=1e-05)
    assert_allclose(r.plan.sum(0), u, atol=1e-05)
    G = pot.sinkhorn(u, u, M, 1, method="sinkhorn_log", stopThr=1e-10, numItermax=10000)
    assert_allclose(r.plan, G, atol=1e-05)


def test_sinkhorn_convergence_warning_one_iteration():
    """test_bregman.py test_sinkhorn (its last lines) and test_convergence_warning: one iteration
    with an unreachable tolerance warns (a ConvergenceWarning naming the knob) and says
    converged=False; values stay finite."""
    _, u, M = _cloud()
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = sinkhorn(u, u, M, eps=1.0, max_iter=1, tol=1e-300)
    assert not r.converged and np.isfinite(r.value)
    n = 100
    a1 = pot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = pot.datasets.make_1D_gauss(n, m=40, s=10)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = sinkhorn(a1, a2, pot.utils.dist0(n), eps=1.0, max_iter=1, tol=1e-300)
    assert not r.converged and np.isfinite(r.value)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_stabilized"])
def test_nan_warning(method):
    """test_bregman.py test_nan_warning: reg = 0 gives POT a UserWarning (NaN plan); for us
    eps = 0 is bad input, rejected at once naming `eps`."""
    n = 100
    a1 = pot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = pot.datasets.make_1D_gauss(n, m=40, s=10)
    with pytest.raises(ValueError, match="`eps`"):
        sinkhorn(a1, a2, pot.utils.dist0(n), eps=0.0)


def test_sinkhorn_stabilization():
    """test_bregman.py test_sinkhorn_stabilization: Gaussian histograms (n = 100, means 30 and 40,
    s = 10) on the squared index distance at reg = 1e-5. POT asserts only that two of its
    solvers (log-domain and stabilised, 1000 iterations each) return the same loss; neither
    converges there: eps is 1e-9 of the largest cost, where Sinkhorn needs far more than 1e5
    iterations (our marginal error is 0.045 after 1e4 and 0.034 after 1e5). Ported: the solve
    says so (ConvergenceWarning naming the knob, ``converged=False``, the error it reached), and
    our two CPU solvers of the same iteration agree, as POT's two do."""
    n = 100
    a1 = pot.datasets.make_1D_gauss(n, m=30, s=10)
    a2 = pot.datasets.make_1D_gauss(n, m=40, s=10)
    M = pot.utils.dist0(n)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r = sinkhorn(a1, a2, M, eps=1e-5, max_iter=1000)
    assert not r.converged and r.marginal_error > 1e-5
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        r_nb = sinkhorn(a1, a2, M, eps=1e-5, max_iter=1000, backend="numba")
    assert_allclose(r.value, r_nb.value, atol=1e-6)


@pytest.mark.parametrize("method", ["sinkhorn", "sinkhorn_stabilized", "sinkhorn_log"])
def test_sinkhorn_multi_b(method):
    """test_bregman.py test_sinkhorn_multi_b: n = 10, three target histograms, reg 0.1: each
    loss equals POT's (computed here with the same method) to 1e-4."""
    n = 10
    rng = np.random.RandomState(0)
    x = rng.randn(n, 2)
    u = pot.utils.unif(n)
    b = rng.rand(n, 3)
    b = b / np.sum(b, 0, keepdims=True)
    M = pot.dist(x, x)
    for k in range(3):
        ref = pot.sinkhorn2(u, b[:, k], M, 0.1, method=method, stopThr=1e-10, numItermax=20000)
        r = _no_warning(sinkhorn, u, b[:, k], M, eps=0.1, tol=1e-10)
        assert_allclose(r.value, ref, atol=1e-4)


def test_sinkhorn_empty():
    """test_bregman.py test_sinkhorn_empty: POT's empty weights ``[]`` are our ``None``."""
    _, u, M = _cloud()
    r = _no_warning(sinkhorn, None, None, M, eps=1.0, tol=1e-10, plan=True)
    assert_allclose(r.plan.sum(1), u, atol=1e-05)
    assert_allclose(r.plan.sum(0), u, atol=1e-05)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("symmetric", [False, True])
@pytest.mark.parametrize("scaling", [0.5, None])
def test_sinkhorn_variants(backend, symmetric, scaling):
    """test_bregman.py test_sinkhorn_variants / test_sinkhorn_variants_log: every variant (here
    backend, symmetric updates, eps-scaling on or off) gives POT's plan to 1e-5 (n = 100 and 50,
    reg 1, stopThr 1e-10)."""
    for n in (100, 50):
        _, u, M = _cloud(n)
        G0 = pot.sinkhorn(u, u, M, 1, method="sinkhorn", stopThr=1e-10, numItermax=10000)
        r = _no_warning(sinkhorn, u, u, M, eps=1.0, tol=1e-10, plan=True, backend=backend,
                        symmetric=symmetric, scaling=scaling)
        assert_allclose(r.plan, G0, atol=1e-05)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_stabilized_vs_sinkhorn_multidim(backend):
    """test_bregman.py test_stabilized_vs_sinkhorn_multidim: Gaussian histograms, cost dist0 /
    median, eps 0.1, two targets: our plans equal POT's."""
    n = 100
    a = pot.datasets.make_1D_gauss(n, m=20, s=5)
    b1 = pot.datasets.make_1D_gauss(n, m=60, s=8)
    b2 = pot.datasets.make_1D_gauss(n, m=30, s=4)
    M = pot.utils.dist0(n)
    M /= np.median(M)
    for b in (b1, b2):
        G = pot.sinkhorn(a, b, M, reg=0.1, method="sinkhorn_log", stopThr=1e-10, numItermax=20000)
        r = _no_warning(sinkhorn, a, b, M, eps=0.1, plan=True, backend=backend)
        assert_allclose(r.plan, G, atol=1e-6)


@pytest.mark.parametrize("eps", [1.0, 0.1])
@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean"])
def test_empirical_sinkhorn(eps, metric):
    """test_bregman.py test_empirical_sinkhorn / test_lazy_empirical_sinkhorn: n = 10 points
    0, 1, ..., 9 against themselves; the online point-cloud solver (our ``PointCloud``, POT's
    ``empirical_sinkhorn``) and the dense solver have POT's marginals and loss to 1e-5."""
    n = 10
    a = b = pot.unif(n)
    X = np.reshape(1.0 * np.arange(n), (n, 1))
    M = pot.dist(X, X, metric=metric)
    G_pot = pot.sinkhorn(a, b, M, eps, method="sinkhorn_log", stopThr=1e-10, numItermax=20000)
    loss_pot = pot.sinkhorn2(a, b, M, eps, method="sinkhorn_log", stopThr=1e-10,
                             numItermax=20000)
    r_pc = _no_warning(sinkhorn, a, b, PointCloud(X, X, cost=metric), eps=eps, plan=True)
    r_dn = _no_warning(sinkhorn, a, b, M, eps=eps, plan=True)
    for r in (r_pc, r_dn):
        G = np.asarray(r.plan)
        assert r.converged
        assert_allclose(G.sum(1), G_pot.sum(1), atol=1e-05)
        assert_allclose(G.sum(0), G_pot.sum(0), atol=1e-05)
        assert_allclose(r.value, loss_pot, atol=1e-05)
        assert_allclose(G, G_pot, atol=1e-05)


def _pot_objective(a, b, M, reg):
    """OT_eps(a, b) = <G, M> + reg KL(G‖a⊗b) from POT's converged plan G."""
    G = pot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-10, numItermax=20000)
    ab = a[:, None] * b[None, :]
    pos = G > 0
    return float((G * M).sum() + reg * (G[pos] * np.log(G[pos] / ab[pos])).sum())


def test_empirical_sinkhorn_divergence():
    """test_bregman.py test_empirical_sinkhorn_divergence: a = linspace weights on 0..9, b uniform
    on 0, 2, ..., 18, reg 1: the point-cloud divergence equals the dense one (with M_aa, M_bb)
    and the debiased combination of POT's regularised objectives (see the module docstring)."""
    n = 10
    a = np.linspace(1, n, n)
    a /= a.sum()
    b = pot.unif(n)
    X_s = np.reshape(np.arange(n, dtype=np.float64), (n, 1))
    X_t = np.reshape(np.arange(0, n * 2, 2, dtype=np.float64), (n, 1))
    M, M_s, M_t = pot.dist(X_s, X_t), pot.dist(X_s, X_s), pot.dist(X_t, X_t)
    s_pc = _no_warning(sinkhorn_divergence, a, b, PointCloud(X_s, X_t), eps=1.0, tol=1e-10)
    s_dn = _no_warning(sinkhorn_divergence, a, b, M, eps=1.0, M_aa=M_s, M_bb=M_t, tol=1e-10)
    ref = (_pot_objective(a, b, M, 1.0) - 0.5 * _pot_objective(a, a, M_s, 1.0)
           - 0.5 * _pot_objective(b, b, M_t, 1.0))
    assert_allclose(s_pc.value, s_dn.value, atol=1e-05)
    assert_allclose(s_pc.value, ref, atol=1e-05)
    assert s_pc.value >= 0


def _warm(m=10, n=20):
    a, b = pot.unif(m), pot.unif(n)
    Xs = np.arange(m).reshape(-1, 1) * 1.0
    Xt = np.arange(n).reshape(-1, 1) * 1.0
    M = pot.dist(Xs, Xt)
    r = emd(a, b, M)
    return a, b, Xs, Xt, M, r.f, r.g


def test_sinkhorn_warmstart():
    """test_bregman.py test_sinkhorn_warmstart: starting from the unregularised OT duals gives
    the same plan (reg 1, m = 10, n = 20 points on a line)."""
    a, b, _, _, M, f0, g0 = _warm()
    pi_unif = _no_warning(sinkhorn, a, b, M, eps=1.0, plan=True).plan
    pi_ws = _no_warning(sinkhorn, a, b, M, eps=1.0, plan=True, f0=f0, g0=g0).plan
    assert_allclose(pi_unif, pi_ws, atol=1e-05)
    assert_allclose(pi_unif, pot.sinkhorn(a, b, M, 1.0, method="sinkhorn_log", stopThr=1e-10,
                                          numItermax=10000), atol=1e-05)


def test_empirical_sinkhorn_warmstart():
    """test_bregman.py test_empirical_sinkhorn_warmstart: the same on the point cloud (lazy)."""
    a, b, Xs, Xt, M, f0, g0 = _warm()
    pi_unif = np.asarray(_no_warning(sinkhorn, a, b, PointCloud(Xs, Xt), eps=1.0, plan=True).plan)
    pi_ws = np.asarray(_no_warning(sinkhorn, a, b, PointCloud(Xs, Xt), eps=1.0, plan=True,
                                   f0=f0, g0=g0).plan)
    pi_dense = _no_warning(sinkhorn, a, b, DenseGeometry(M), eps=1.0, plan=True, f0=f0,
                           g0=g0).plan
    assert_allclose(pi_unif, pi_ws, atol=1e-05)
    assert_allclose(pi_unif, pi_dense, atol=1e-05)


def test_empirical_sinkhorn_divergence_warmstart():
    """test_bregman.py test_empirical_sinkhorn_divergence_warmstart: the divergence is the same
    with and without a warm start of OT(a, b), lazy and dense."""
    a, b, Xs, Xt, M, f0, g0 = _warm()
    sd = _no_warning(sinkhorn_divergence, a, b, PointCloud(Xs, Xt), eps=1.0).value
    sd_ws = _no_warning(sinkhorn_divergence, a, b, PointCloud(Xs, Xt), eps=1.0, f0=f0,
                        g0=g0).value
    sd_dense = _no_warning(sinkhorn_divergence, a, b, M, eps=1.0, M_aa=pot.dist(Xs, Xs),
                           M_bb=pot.dist(Xt, Xt), f0=f0, g0=g0).value
    assert_allclose(sd, sd_ws, atol=1e-05)
    assert_allclose(sd, sd_dense, atol=1e-05)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eps", [0.5, 1.0, 5.0])
def test_sinkhorn2_random_against_pot(seed, eps):
    """test_bregman.py test_sinkhorn2_backends / test_sinkhorn_variants on random weighted
    clouds (n = 30, m = 40): our value is ot.sinkhorn2's and our plan ot.sinkhorn's."""
    rng = np.random.RandomState(seed)
    x, y = rng.randn(30, 2), rng.randn(40, 2) + 0.3
    a, b = rng.uniform(0.1, 1, 30), rng.uniform(0.1, 1, 40)
    a, b = a / a.sum(), b / b.sum()
    M = pot.dist(x, y)
    G = pot.sinkhorn(a, b, M, eps, method="sinkhorn_log", stopThr=1e-10, numItermax=20000)
    r = _no_warning(sinkhorn, a, b, M, eps=eps, plan=True, tol=1e-10)
    assert_allclose(r.plan, G, atol=1e-7)
    assert_allclose(r.value, (G * M).sum(), rtol=1e-6)
