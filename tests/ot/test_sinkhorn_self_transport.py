"""OT(a, a) on a symmetric cost with the averaged update: one soft-min per iteration.

The two soft-mins of an averaged step compute the same thing there, so the solver keeps one
potential for both sides (docs/sinkhorn.md, "Self-transport"). These tests check that the
problems are recognised, that nothing else is, and that the results are those of the
two-soft-min iteration.
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence
from kantorovich.ot import _sinkhorn


def _calls(r) -> int:
    """The soft-min calls of a numba solve (both sides and the final pass)."""
    return sum(r.info["numba_thread_calls"].values())


def _two_sided(monkeypatch):
    """Solves without the self-transport shortcut: the iteration as it was before it."""
    monkeypatch.setattr(_sinkhorn, "_self_transport", lambda geom, aw, bw: False)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("cost", ["sqeuclidean", "euclidean"])
@pytest.mark.parametrize("n, d, eps", [(40, 2, 0.1), (300, 3, 0.02), (120, 1, 0.005)])
def test_self_transport_equals_the_two_sided_iteration(monkeypatch, rng, backend, cost, n, d, eps):
    x = rng.normal(size=(n, d))
    a = rng.random(n)
    a[3] = 0.0  # a zero weight on both sides
    a /= a.sum()
    r = sinkhorn(a, a, PointCloud(x, x, cost=cost), eps=eps, symmetric=True, backend=backend)
    assert r.info["self_transport"]
    _two_sided(monkeypatch)
    r2 = sinkhorn(a, a, PointCloud(x, x, cost=cost), eps=eps, symmetric=True, backend=backend)
    assert not r2.info["self_transport"]
    assert r.n_iter == r2.n_iter and r.converged and r2.converged
    np.testing.assert_allclose(r.f, r2.f, rtol=1e-14, atol=1e-14 * eps)
    np.testing.assert_allclose(r.g, r2.g, rtol=1e-14, atol=1e-14 * eps)
    np.testing.assert_allclose([r.objective, r.value], [r2.objective, r2.value], rtol=1e-14)
    np.testing.assert_allclose(r.marginal_error_history, r2.marginal_error_history, rtol=1e-12)
    assert r.f is not r.g  # two arrays, as before


def test_one_soft_min_per_iteration(rng):
    x = rng.normal(size=(500, 2))
    r = sinkhorn(None, None, PointCloud(x, x), eps=0.05, symmetric=True, backend="numba")
    # n_iter averaged steps of one soft-min each, and the final pass of the value
    assert _calls(r) == r.n_iter + 1
    r2 = sinkhorn(None, None, PointCloud(x, x), eps=0.05, symmetric=False, backend="numba")
    assert not r2.info["self_transport"]  # alternating steps: f and g differ between them
    assert _calls(r2) == 2 * r2.n_iter + 1


def test_dense_symmetric_costs_take_one_side(rng):
    x = rng.random((60, 2))
    C = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    r = sinkhorn(None, None, C, eps=0.05, symmetric=True)
    assert r.info["self_transport"]
    C2 = C.copy()
    C2[0, 1] += 1e-3  # not symmetric: both sides
    assert not sinkhorn(None, None, C2, eps=0.05, symmetric=True).info["self_transport"]


@pytest.mark.parametrize("case", ["other weights", "other points", "callable cost", "warm start",
                                  "rectangular"])
def test_other_problems_keep_both_sides(rng, case):
    x = rng.random((30, 2))
    a = np.full(30, 1 / 30)
    kw = {}
    if case == "other weights":
        b = rng.random(30)
        b /= b.sum()
        geom = PointCloud(x, x)
    else:
        b = a
        geom = PointCloud(x, x)
    if case == "other points":
        geom = PointCloud(x, x + 1e-9)
    elif case == "callable cost":  # a callable may be asymmetric: never assumed symmetric
        geom = PointCloud(x, x, cost=lambda u, v: ((u[:, None, :] - v[None, :, :]) ** 2).sum(-1))
    elif case == "warm start":
        kw = {"f0": np.zeros(30), "g0": np.ones(30) * 1e-3}
    elif case == "rectangular":
        geom, b = PointCloud(x, x[:20]), np.full(20, 1 / 20)
    r = sinkhorn(a, b, geom, eps=0.1, symmetric=True, **kw)
    assert not r.info["self_transport"]


def test_extrapolated_annealing_keeps_the_results(monkeypatch, rng):
    """Force the annealing and its tail extrapolation (a self problem converges too fast to take
    them): the results are the two-sided iteration's, with fewer soft-mins."""
    monkeypatch.setattr(_sinkhorn, "_annealing_pays", lambda *args: True)
    x = rng.random((80, 2))
    kw = {"eps": 2e-3, "symmetric": True, "check_every": 4, "tol": 1e-13, "backend": "numba"}
    r = sinkhorn(None, None, PointCloud(x, x), **kw)
    assert r.info["n_iter_scaling"] > 0 and r.info["self_transport"]
    _two_sided(monkeypatch)
    r2 = sinkhorn(None, None, PointCloud(x, x), **kw)
    assert r.n_iter == r2.n_iter
    np.testing.assert_allclose(r.f, r2.f, rtol=1e-13, atol=1e-13 * 2e-3)
    np.testing.assert_allclose(r.objective, r2.objective, rtol=1e-13)
    assert _calls(r) == r.n_iter + 1 < _calls(r2)  # the jumps left f = g: one side throughout


def test_divergence_self_terms_take_one_side(rng):
    x, y = rng.normal(size=(200, 2)), rng.normal(size=(150, 2)) + 1.0
    r = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.1)
    assert r.ot_aa.info["self_transport"] and r.ot_bb.info["self_transport"]
    assert not r.ot_ab.info["self_transport"]
    assert _calls(r.ot_aa) == r.ot_aa.n_iter + 1


@pytest.mark.parametrize("kind", ["pointcloud", "dense"])
def test_batched_self_transport_equals_the_loop(rng, kind):
    """The batched solver takes the same one-sided steps, problem by problem: its potentials
    are the loop of single calls' bit for bit (the batch's promise), and only the problems
    that are OT(a, a) on a symmetric cost take them."""
    nb, n = 6, 40
    x = rng.random((nb, n, 2))
    y = x.copy()
    y[1] += 0.25  # other points: both sides
    a = np.full((nb, n), 1.0 / n)
    b = a.copy()
    b[2] = rng.random(n)  # other weights: both sides
    b[2] /= b[2].sum()
    if kind == "dense":
        geom = ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)
        geom[3, 0, 1] += 1e-3  # not symmetric: both sides
        one = [geom[q] for q in range(nb)]
    else:
        geom = PointCloud(x, y)
        one = [PointCloud(x[q], y[q]) for q in range(nb)]
    r = sinkhorn(a, b, geom, eps=0.05, symmetric=True)
    expect = [True, False, False, kind != "dense", True, True]
    assert list(r.info["self_transport"]) == expect
    for q in range(nb):
        rq = sinkhorn(a[q], b[q], one[q], eps=0.05, symmetric=True)
        assert rq.info["self_transport"] == expect[q]
        assert r.n_iter[q] == rq.n_iter
        np.testing.assert_array_equal(r.f[q], rq.f)
        np.testing.assert_array_equal(r.g[q], rq.g)
        assert r.objective[q] == rq.objective


def test_batched_divergence_self_terms_take_one_side(rng):
    x, y = rng.random((4, 30, 2)), rng.random((4, 30, 2)) + 0.5
    r = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.05)
    assert r.ot_aa.info["self_transport"].all() and r.ot_bb.info["self_transport"].all()
    assert not r.ot_ab.info["self_transport"].any()
    for q in range(4):
        rq = sinkhorn_divergence(None, None, PointCloud(x[q], y[q]), eps=0.05)
        assert r.value[q] == rq.value
