"""Batched solvers: a leading batch axis gives the results of a loop of single calls."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import (
    PointCloud,
    assignment,
    emd,
    sinkhorn,
    sinkhorn_divergence,
    sliced_wasserstein,
)

B, N, M_, D = 5, 12, 9, 2
TOL = 1e-12


def _clouds(rng, nb=B, n=N, m=M_, d=D):
    return rng.random((nb, n, d)), rng.random((nb, m, d))


def _sqdist(x, y):
    return ((x[:, :, None, :] - y[:, None, :, :]) ** 2).sum(-1)


def _weights(rng, kind, nb, n):
    if kind == "none":
        return None
    if kind == "shared":
        w = rng.random(n) + 0.1
        return w / w.sum()
    w = rng.random((nb, n)) + 0.1
    return w / w.sum(axis=1, keepdims=True)


def _row(w, q):
    return None if w is None else (w[q] if np.ndim(w) == 2 else w)


def _assert_sinkhorn_equal(r, singles, eps=1.0):
    # potentials are -eps log(sum): their rounding is eps * 2**-52, whatever their size
    tol_pot = TOL * max(1.0, eps)
    np.testing.assert_array_equal(r.n_iter, [s.n_iter for s in singles])
    np.testing.assert_array_equal(r.converged, [s.converged for s in singles])
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    np.testing.assert_allclose(r.objective, [s.objective for s in singles], rtol=0, atol=TOL)
    np.testing.assert_allclose(r.f, np.stack([s.f for s in singles]), rtol=0, atol=tol_pot)
    np.testing.assert_allclose(r.g, np.stack([s.g for s in singles]), rtol=0, atol=tol_pot)
    np.testing.assert_allclose(r.marginal_error, [s.marginal_error for s in singles],
                               rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("weights", ["none", "shared", "batched", "mixed"])
@pytest.mark.parametrize("geometry", ["pointcloud", "dense"])
def test_sinkhorn_batch_matches_loop(rng, weights, geometry):
    x, y = _clouds(rng)
    a = _weights(rng, "batched" if weights == "mixed" else weights, B, N)
    b = _weights(rng, "shared" if weights == "mixed" else weights, B, M_)
    cost = PointCloud(x, y) if geometry == "pointcloud" else _sqdist(x, y)
    r = sinkhorn(a, b, cost, eps=0.05)
    singles = [sinkhorn(_row(a, q), _row(b, q), PointCloud(x[q], y[q]) if geometry == "pointcloud"
                        else cost[q], eps=0.05) for q in range(B)]
    assert r.value.shape == r.objective.shape == r.n_iter.shape == r.converged.shape == (B,)
    assert r.f.shape == (B, N) and r.g.shape == (B, M_)
    _assert_sinkhorn_equal(r, singles)


@pytest.mark.parametrize("kwargs", [dict(symmetric=True), dict(scaling=None),
                                    dict(check_every=1, tol=1e-8), dict(cost="euclidean"),
                                    dict(cost=1.5, eps=2e4)])
def test_sinkhorn_batch_options_match_loop(rng, kwargs):
    """Symmetric updates, no schedule, checks at every iteration, other costs, the primal
    objective of a huge eps: each as the single solver."""
    kwargs = dict(kwargs)
    cost = kwargs.pop("cost", "sqeuclidean")
    eps = kwargs.pop("eps", 0.02)
    x, y = _clouds(rng)
    r = sinkhorn(None, None, PointCloud(x, y, cost=cost), eps=eps, **kwargs)
    singles = [sinkhorn(None, None, PointCloud(x[q], y[q], cost=cost), eps=eps, **kwargs)
               for q in range(B)]
    _assert_sinkhorn_equal(r, singles, eps)


@pytest.mark.parametrize("cost,d,weights", [("sqeuclidean", 2, "none"), ("euclidean", 2, "batched"),
                                           ("sqeuclidean", 3, "shared"), (1.5, 2, "none")])
def test_sinkhorn_batch_rounds_as_the_single_solver(rng, cost, d, weights):
    """Point clouds that the single solver runs on its numba operator: the batch runs the same
    compiled row loops (d = 2, any d, other p) and the same marginal error, so potentials,
    errors and iteration counts are bit-identical, also for the problems whose tail
    extrapolation jumped (which the generic kernel leaves to the single solver); none is
    solved again."""
    nb, n, m = 12, 24, 20
    x, y = rng.random((nb, n, d)), rng.random((nb, m, d))
    a, b = _weights(rng, weights, nb, n), _weights(rng, weights, nb, m)
    r = sinkhorn(a, b, PointCloud(x, y, cost=cost), eps=0.01)
    singles = [sinkhorn(_row(a, q), _row(b, q), PointCloud(x[q], y[q], cost=cost), eps=0.01)
               for q in range(nb)]
    assert singles[0].backend == "numba"
    assert r.info["rounds_as_single_solver"]
    assert r.info["single_solver_problems"].size == 0
    np.testing.assert_array_equal(r.n_iter, [s.n_iter for s in singles])
    np.testing.assert_array_equal(r.f, np.stack([s.f for s in singles]))
    np.testing.assert_array_equal(r.g, np.stack([s.g for s in singles]))
    np.testing.assert_array_equal(r.marginal_error, [s.marginal_error for s in singles])
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    np.testing.assert_allclose(r.objective, [s.objective for s in singles], rtol=0, atol=TOL)
    if cost == "sqeuclidean" and d == 2:
        assert r.info["extrapolated"].any()  # the jump is exercised


@pytest.mark.parametrize("weights", ["none", "batched"])
def test_sinkhorn_batch_dense_kernel_matrix_rounds_as_the_single_solver(rng, weights):
    """Small float64 dense costs that the single solver runs on the numba kernel matrix (costs
    >= 0, c max C <= 450 at eps) take it in the batch too, through the same entry points:
    bit-identical potentials and iteration counts, none solved again; a problem with a
    negative cost (the single solver's numpy path) runs the generic kernel beside them and
    equals the loop to 1e-12."""
    nb, n, m = 12, 24, 20
    x, y = rng.random((nb, n, 2)), rng.random((nb, m, 2))
    a, b = _weights(rng, weights, nb, n), _weights(rng, weights, nb, m)
    C = _sqdist(x, y)
    r = sinkhorn(a, b, C, eps=0.01)
    assert r.info["rounds_as_single_solver"] and r.info["extrapolated"].any()
    assert r.info["single_solver_problems"].size == 0
    assert r.info["kernel_matrix_problems"].size == nb
    C[5] -= 0.02  # a negative cost: not this path
    r = sinkhorn(a, b, C, eps=0.01)
    singles = [sinkhorn(_row(a, q), _row(b, q), C[q], eps=0.01) for q in range(nb)]
    assert [s.backend for s in singles] == ["numpy" if q == 5 else "numba" for q in range(nb)]
    k = [q for q in range(nb) if q != 5]
    np.testing.assert_array_equal(r.info["kernel_matrix_problems"], k)
    assert not r.info["rounds_as_single_solver"]  # problem 5: the generic kernel
    assert not set(r.info["single_solver_problems"]) & set(k)
    np.testing.assert_array_equal(r.n_iter, [s.n_iter for s in singles])
    np.testing.assert_array_equal(r.f[k], np.stack([singles[q].f for q in k]))
    np.testing.assert_array_equal(r.g[k], np.stack([singles[q].g for q in k]))
    _assert_sinkhorn_equal(r, singles, 0.01)


def test_sinkhorn_batch_redoes_the_extrapolated_problems_when_the_rounding_differs(rng,
                                                                                 monkeypatch):
    """The guard behind ``rounds_as_single_solver``, forced: should the batch's row loops round
    otherwise than the single solver's, every problem whose extrapolation jumped is solved
    again by the single solver, and the results equal the loop's to 1e-12."""
    from kantorovich.ot import _sinkhorn_batch

    monkeypatch.setitem(_sinkhorn_batch._ROUNDING_CHECKED, (_sinkhorn_batch._ONLINE2, 2.0, 2),
                        False)
    nb, n, m = 12, 24, 20
    x, y = rng.random((nb, n, 2)), rng.random((nb, m, 2))
    r = sinkhorn(None, None, PointCloud(x, y), eps=0.01)
    singles = [sinkhorn(None, None, PointCloud(x[q], y[q]), eps=0.01) for q in range(nb)]
    assert not r.info["rounds_as_single_solver"]
    assert r.info["extrapolated"].any()
    np.testing.assert_array_equal(r.info["single_solver_problems"],
                                  np.flatnonzero(r.info["extrapolated"]))
    _assert_sinkhorn_equal(r, singles)


_ROUNDING_PROBE = """
import json
import numpy as np
from kantorovich.ot import PointCloud, sinkhorn
out = []
for cost, d in [("sqeuclidean", 2), ("euclidean", 2), ("sqeuclidean", 3), (1.5, 2)]:
    g = np.random.default_rng(7)
    x, y = g.random((12, 24, d)), g.random((12, 20, d))
    r = sinkhorn(None, None, PointCloud(x, y, cost=cost), eps=0.01)
    s = [sinkhorn(None, None, PointCloud(x[q], y[q], cost=cost), eps=0.01) for q in range(12)]
    out.append([r.info["rounds_as_single_solver"], int(r.info["single_solver_problems"].size),
                bool(np.array_equal(r.f, np.stack([t.f for t in s]))
                     and np.array_equal(r.g, np.stack([t.g for t in s])))])
print(json.dumps(out))
"""


@pytest.mark.slow
def test_sinkhorn_batch_rounds_as_the_single_solver_with_a_cold_numba_cache(tmp_path):
    """In new processes with an empty numba cache, then with the batch kernel loaded from the
    cache beside row loops compiled in the process (where the batch, linking the row loops
    into its own module, rounded otherwise for d = 2): the configurations of the test above
    round as the single solver, bit for bit, and no problem is solved again. (Compiles
    everything twice: minutes.)"""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    import kantorovich

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    src = str(Path(kantorovich.__file__).resolve().parents[1])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")

    def run():
        out = subprocess.run([sys.executable, "-c", _ROUNDING_PROBE], env=env, check=True,
                             capture_output=True, text=True).stdout
        return json.loads(out.splitlines()[-1])

    assert run() == [[True, 0, True]] * 4  # everything compiled in the process
    kernels = [f for f in tmp_path.rglob("softmin_numba.*") if f.suffix in (".nbi", ".nbc")]
    assert kernels
    for f in kernels:
        f.unlink()
    assert run() == [[True, 0, True]] * 4  # the batch from the cache, the row loops compiled


def test_sinkhorn_batch_each_problem_stops_on_its_own(rng):
    """A problem that needs many more iterations changes neither the others' iterations nor
    their results; with a small max_iter only it fails (and the warning says 1 of B)."""
    x, y = _clouds(rng)
    hard_x, hard_y = x.copy(), y.copy()
    hard_x[2] *= 6.0  # costs 36x larger at the same eps: many more iterations
    hard_y[2] *= 6.0
    r_easy = sinkhorn(None, None, PointCloud(x, y), eps=0.05)
    r = sinkhorn(None, None, PointCloud(hard_x, hard_y), eps=0.05)
    others = [0, 1, 3, 4]
    np.testing.assert_array_equal(r.n_iter[others], r_easy.n_iter[others])
    np.testing.assert_array_equal(r.value[others], r_easy.value[others])
    assert r.n_iter[2] > 3 * r.n_iter[others].max()
    cap = int(r.n_iter[others].max()) + 1
    with pytest.warns(ConvergenceWarning, match="in 1 of 5 problems"):
        r_cap = sinkhorn(None, None, PointCloud(hard_x, hard_y), eps=0.05, max_iter=cap)
    assert r_cap.converged.tolist() == [True, True, False, True, True]
    with pytest.warns(ConvergenceWarning):
        single = sinkhorn(None, None, PointCloud(hard_x[2], hard_y[2]), eps=0.05, max_iter=cap)
    assert r_cap.n_iter[2] == single.n_iter == cap
    assert abs(r_cap.value[2] - single.value) <= TOL


@pytest.mark.parametrize("max_iter", [3, 12, 40])
@pytest.mark.parametrize("symmetric", [False, True])
def test_sinkhorn_batch_unconverged_errors_are_the_returned_plans(max_iter, symmetric):
    """Unconverged problems of a batch report the marginal error of the pair they return (f
    after the final half-step, whose rows sum to a), as a single call does: bit for bit the
    loop's, and the plan's L1 error from the returned potentials (float64 sums of exponents up
    to diameter^2 / eps ~ 160, so ~1e-13 relative rounding; 1e-9 allows for the orders). 3
    iterations end inside the eps schedule, 12 and 40 after it."""
    rng = np.random.default_rng(1)
    x, y = _clouds(rng)
    x *= 4.0  # costs 16x larger at eps = 0.05: none of the problems converges within 40
    eps = 0.05
    with pytest.warns(ConvergenceWarning):
        r = sinkhorn(None, None, PointCloud(x, y), eps=eps, max_iter=max_iter, symmetric=symmetric)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        singles = [sinkhorn(None, None, PointCloud(x[q], y[q]), eps=eps, max_iter=max_iter,
                            symmetric=symmetric) for q in range(B)]
    assert not r.converged.any()
    np.testing.assert_array_equal(r.marginal_error, [s.marginal_error for s in singles])
    a, b = np.full(N, 1 / N), np.full(M_, 1 / M_)
    for q in range(B):
        C = _sqdist(x[q][None], y[q][None])[0]
        P = a[:, None] * b[None, :] * np.exp((r.f[q][:, None] + r.g[q][None, :] - C) / eps)
        true = np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()
        assert r.marginal_error[q] == pytest.approx(true, rel=1e-9)


@pytest.mark.parametrize("kwargs", [{}, {"plan": True}, {"dtype": np.float32},
                                    {"f0": np.zeros(N)}])
def test_sinkhorn_batch_warns_once_naming_the_unconverged_problems(rng, kwargs):
    """The kernel and the loop of single calls (options the kernel lacks) alike: one
    ConvergenceWarning for the batch, naming the problems that did not converge (the loop
    gave one warning per problem, none saying which)."""
    x, y = _clouds(rng)
    x[[1, 3]] *= 6.0  # costs 36x larger at the same eps: many more iterations
    y[[1, 3]] *= 6.0
    cap = 2 * int(sinkhorn(None, None, PointCloud(x[0], y[0]), eps=0.05).n_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = sinkhorn(None, None, PointCloud(x, y), eps=0.05, max_iter=cap, **kwargs)
    assert r.converged.tolist() == [True, False, True, False, True]
    assert [w.category for w in caught] == [ConvergenceWarning], [str(w.message) for w in caught]
    assert "in 2 of 5 problems (problems 1 and 3; largest marginal error" in str(caught[0].message)
    assert caught[0].filename == __file__  # attributed to the caller's line


def test_problem_list_names_a_few_and_counts_the_rest():
    from kantorovich._warnings import problem_list

    assert problem_list([2]) == "problem 2"
    assert problem_list(np.array([0, 3])) == "problems 0 and 3"
    assert problem_list(range(3)) == "problems 0, 1 and 2"
    assert problem_list(range(20)) == "problems 0, 1, 2, 3, 4, 5, 6, 7 and 12 more"


def test_sinkhorn_batch_zero_weights_and_fallback(rng):
    """Zero weights (log 0 = -inf) and the per-problem path (plan=True) agree with the loop."""
    x, y = _clouds(rng)
    a = np.full((B, N), 1.0 / (N - 2))
    a[:, :2] = 0.0
    M = _sqdist(x, y)
    r = sinkhorn(a, None, M, eps=0.05)
    singles = [sinkhorn(a[q], None, M[q], eps=0.05) for q in range(B)]
    _assert_sinkhorn_equal(r, singles)
    rp = sinkhorn(a, None, M, eps=0.05, plan=True)
    assert rp.plan.shape == (B, N, M_)
    _assert_sinkhorn_equal(rp, singles)
    np.testing.assert_allclose(rp.plan[1], sinkhorn(a[1], None, M[1], eps=0.05, plan=True).plan)


@pytest.mark.parametrize("geometry", ["pointcloud", "dense"])
def test_sinkhorn_divergence_batch_matches_loop(rng, geometry):
    x, y = _clouds(rng)
    y[3] = x[3, :M_]  # problem 3: a = b on the same support when N == M_ (else ordinary)
    if geometry == "pointcloud":
        x[1] = y[1][np.arange(N) % M_]  # an ordinary problem with repeated points
        r = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.05)
        singles = [sinkhorn_divergence(None, None, PointCloud(x[q], y[q]), eps=0.05)
                   for q in range(B)]
    else:
        Mxy, Mxx, Myy = _sqdist(x, y), _sqdist(x, x), _sqdist(y, y)
        r = sinkhorn_divergence(None, None, Mxy, M_aa=Mxx, M_bb=Myy, eps=0.05)
        singles = [sinkhorn_divergence(None, None, Mxy[q], M_aa=Mxx[q], M_bb=Myy[q], eps=0.05)
                   for q in range(B)]
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    np.testing.assert_array_equal(r.converged, [s.converged for s in singles])


def test_float32_point_cloud_batch_is_the_loop_of_float32_solves(rng):
    # PointCloud(..., dtype=float32) is a float32 solve for the single solver (its working
    # dtype is the geometry's); the batch ran it in float64 (another tol, other iterations)
    x, y = _clouds(rng)
    r = sinkhorn(None, None, PointCloud(x, y, dtype=np.float32), eps=0.05)
    for q in range(B):
        one = sinkhorn(None, None, PointCloud(x[q], y[q], dtype=np.float32), eps=0.05)
        assert one.info["dtype"] == "float32"
        assert r.n_iter[q] == one.n_iter and r.converged[q] == one.converged
        np.testing.assert_array_equal(r.f[q], one.f)
        np.testing.assert_array_equal(r.g[q], one.g)
    s = sinkhorn_divergence(None, None, PointCloud(x, y, dtype=np.float32), eps=0.05)
    for res in (s.ot_ab, s.ot_aa, s.ot_bb):
        assert [i["dtype"] for i in res.info["per_problem"]] == ["float32"] * B


def test_sinkhorn_divergence_batch_identical_problem_is_zero(rng):
    x, y = _clouds(rng, m=N)
    y[2] = x[2]
    r = sinkhorn_divergence(None, None, PointCloud(x, y), eps=0.05)
    single = sinkhorn_divergence(None, None, PointCloud(x[2], y[2]), eps=0.05)
    assert r.value[2] == single.value == 0.0
    assert r.info["identical_inputs"].tolist() == [False, False, True, False, False]
    assert r.ot_ab.n_iter[2] == single.ot_ab.n_iter
    assert r.info["backends"] == {"ab": r.ot_ab.backend, "aa": r.ot_aa.backend, "bb": r.ot_bb.backend}


@pytest.mark.parametrize("weights", ["none", "uniform_list", "batched"])
def test_emd_batch_matches_loop(rng, weights):
    x, y = _clouds(rng, m=N)
    M = _sqdist(x, y)
    a = {"none": None, "uniform_list": [2.0] * N, "batched": _weights(rng, "batched", B, N)}[weights]
    b = {"none": None, "uniform_list": [2.0] * N, "batched": _weights(rng, "batched", B, N)}[weights]
    r = emd(a, b, M)
    singles = [emd(_row(a, q), _row(b, q), M[q]) for q in range(B)]
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    np.testing.assert_allclose(r.plan, np.stack([s.plan for s in singles]), rtol=0, atol=TOL)
    assert r.certified.all() and r.plan.shape == (B, N, N)
    mass = 2.0 * N if weights == "uniform_list" else 1.0
    # each problem's certificate, from its own plan and potentials
    for q in range(B):
        fq, gq = r.f[q], r.g[q]
        assert (fq[:, None] + gq[None, :] - M[q]).max() <= r.dual_violation[q] + 1e-15
        aq = np.full(N, 1.0 / N) if _row(a, q) is None else np.asarray(_row(a, q)) / mass
        bq = np.full(N, 1.0 / N) if _row(b, q) is None else np.asarray(_row(b, q)) / mass
        dual = (aq @ fq + bq @ gq) * mass
        assert abs(r.value[q] - dual - r.duality_gap[q]) <= 1e-13
        assert abs(r.duality_gap[q]) <= 1e-12
    if weights == "batched":  # the single solver per problem: the same potentials too
        np.testing.assert_array_equal(r.f, np.stack([s.f for s in singles]))


def _emd_results_equal(r, singles):
    """The batch result of the network simplex is the loop's: the same solver on the same
    problems, the certificate computed for all problems at once (sums in another order)."""
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=1e-14, atol=1e-15)
    np.testing.assert_array_equal(r.plan, np.stack([s.plan for s in singles]))
    np.testing.assert_array_equal(r.f, np.stack([s.f for s in singles]))
    np.testing.assert_array_equal(r.g, np.stack([s.g for s in singles]))
    for fld in ("duality_gap", "dual_violation", "marginal_error"):
        np.testing.assert_allclose(getattr(r, fld), [getattr(s, fld) for s in singles],
                                   rtol=0, atol=1e-14)
    np.testing.assert_array_equal(r.certified, [s.certified for s in singles])
    assert [i["repaired"] for i in r.info["per_problem"]] == [s.info["repaired"]
                                                            for s in singles]
    assert r.method == "network_simplex"


@pytest.mark.parametrize("shape", ["square", "rectangular"])
@pytest.mark.parametrize("normalize", [False, True])
def test_emd_batch_network_simplex_on_threads_matches_loop(rng, shape, normalize):
    """Weights that differ within a problem, or n != m: the network simplex per problem, the
    problems on threads; weights batched, shared or None, masses other than 1."""
    m = N if shape == "square" else M_
    x, y = _clouds(rng, nb=9, m=m)
    M = _sqdist(x, y) - 0.3  # negative costs: the shift
    a = 3.0 * _weights(rng, "batched", 9, N)
    b = _weights(rng, "shared", 9, m) * (1.0 if normalize else 3.0)
    for aa, bb in ((a, b), (a, None if normalize else 3.0 * np.full(m, 1.0 / m))):
        r = emd(aa, bb, M, normalize=normalize)
        singles = [emd(_row(aa, q), bb, M[q], normalize=normalize) for q in range(9)]
        _emd_results_equal(r, singles)
        assert "threads" in r.info["solver"] and r.certified.all()
    r = emd(a, b, M, normalize=normalize, return_plan=False)
    assert r.plan is None and r.value.shape == (9,)


def test_emd_batch_on_one_broadcast_cost_matrix(rng, monkeypatch):
    """np.broadcast_to(M, (B, n, m)): B problems on one cost matrix, checked once and not
    copied, each the single call's (network simplex, or the assignment kernel for constant
    weights); its NaN is found as in any batch."""
    import kantorovich.ot._batch as batch_module

    M = rng.random((N, M_))
    Mb = np.broadcast_to(M, (6, N, M_))
    a, b = _weights(rng, "batched", 6, N), _weights(rng, "batched", 6, M_)
    monkeypatch.setattr(batch_module, "_batch_cost", None)  # the (B, n, m) copy: not made
    for aa, bb in ((a, b), (a, None), (None, b), (a, b[0])):
        r = emd(aa, bb, Mb)
        singles = [emd(_row(aa, q), _row(bb, q), M) for q in range(6)]
        _emd_results_equal(r, singles)
        assert r.plan.shape == (6, N, M_)
    Ms = rng.random((N, N))
    r = emd(None, None, np.broadcast_to(Ms, (3, N, N)))  # uniform: the assignment kernel
    assert r.method == "assignment" and r.certified.all()
    np.testing.assert_allclose(r.value, emd(None, None, Ms).value, rtol=1e-14)
    M[2, 3] = np.nan
    with pytest.raises(ValueError, match="`M` must not contain NaN"):
        emd(a, None, Mb)


@pytest.mark.parametrize("cost", ["sqeuclidean", 1.5])
def test_emd_batch_of_point_clouds_is_the_batch_of_their_costs(rng, cost):
    """A batched PointCloud gives its dense costs, problem by problem, as emd does for one."""
    x, y = _clouds(rng)
    b = _weights(rng, "shared", B, M_)
    r = emd(None, b, PointCloud(x, y, cost=cost))
    singles = [emd(None, b, PointCloud(x[q], y[q], cost=cost)) for q in range(B)]
    _emd_results_equal(r, singles)


def test_emd_batch_network_simplex_repairs_and_errors_as_the_loop(rng, monkeypatch):
    """Potentials that violate the constraints are repaired as emd repairs them (the single
    certificate for that problem); a plan off its marginals raises, naming the problem; unequal
    masses name the problem."""
    import kantorovich.ot._emd as emd_module

    solve = emd_module._solve_network_simplex

    def shifted(a, b, M, max_iter):
        P, f, g, info = solve(a, b, M, max_iter)
        if a[0] > 0.1:  # an infeasible dual for some problems only: f_0 raised
            f = f.copy()
            f[0] += 1e-3
        return P, f, g, info

    monkeypatch.setattr(emd_module, "_solve_network_simplex", shifted)
    x, y = _clouds(rng, nb=8, m=M_)
    M = _sqdist(x, y)
    a = _weights(rng, "batched", 8, N)
    a[::3, 0] = 0.5
    a /= a.sum(axis=1, keepdims=True)
    with pytest.warns(ConvergenceWarning):  # the c-transform of a shifted dual: feasible, a gap
        r = emd(a, None, M)
    with pytest.warns(ConvergenceWarning):
        singles = [emd(a[q], None, M[q]) for q in range(8)]
    _emd_results_equal(r, singles)
    assert 0 < sum(s.info["repaired"] for s in singles) < 8
    # without the plans the problems go in chunks (here of 5: problem 6, repaired, in the second)
    import kantorovich.ot._batch as batch_module

    monkeypatch.setattr(batch_module, "_PLAN_CHUNK", 5 * N * M_)
    monkeypatch.setattr(batch_module.numba, "get_num_threads", lambda: 1)  # chunks of >= 4
    with pytest.warns(ConvergenceWarning):
        rc = emd(a, None, M, return_plan=False)
    assert rc.plan is None
    for fld in ("value", "f", "g", "duality_gap", "dual_violation", "marginal_error", "certified"):
        np.testing.assert_array_equal(getattr(rc, fld), getattr(r, fld), err_msg=fld)
    assert rc.info["per_problem"] == r.info["per_problem"]
    monkeypatch.setattr(emd_module, "_solve_network_simplex", solve)
    with pytest.raises(emd_module.EMDCertificateError, match="in problem 0 of 8.*stopped early"):
        emd(a, None, M, max_iter=3)
    bad = a.copy()
    bad[5] *= 1.5
    with pytest.raises(ValueError, match="same total mass.*in problem 5"):
        emd(bad, None, M)



@pytest.mark.parametrize("method", ["highs", "auction"])
def test_emd_batch_loop_of_single_calls_warns_once_naming_the_problems(rng, monkeypatch, method):
    """highs and the auction solve a batch by one single call per problem: one
    ConvergenceWarning for the batch, naming the uncertified problems (as the kernel and the
    network simplex paths do), not one per problem naming none."""
    import kantorovich.ot._emd as emd_module

    name = {"highs": "_solve_highs", "auction": "_solve_auction"}[method]
    solve, calls = getattr(emd_module, name), []

    def suboptimal(*args):  # problems 1 and 3: two columns of the plan swapped, a duality gap
        P, f, g, info = solve(*args)
        calls.append(None)
        return (P[:, [1, 0, *range(2, N)]], f, g, info) if len(calls) in (2, 4) else (P, f, g, info)

    monkeypatch.setattr(emd_module, name, suboptimal)
    x, y = _clouds(rng, nb=5, m=N)
    M = _sqdist(x, y)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = emd(None, None, M, method=method)
    assert [w.category for w in caught] == [ConvergenceWarning], [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert f"emd ({method}) stopped with a duality gap of " in message
    assert "in 2 of 5 problems (problems 1 and 3)" in message
    assert r.certified.tolist() == [True, False, True, False, True]
    calls.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        singles = [emd(None, None, M[q], method=method) for q in range(5)]
    np.testing.assert_array_equal(r.value, [s.value for s in singles])
    np.testing.assert_array_equal(r.duality_gap, [s.duality_gap for s in singles])
    gap = r.duality_gap[1] / r.info["per_problem"][1]["mass"]
    assert f"gap of {gap:.3e}" in message

def test_emd_batch_network_simplex_as_the_first_call_of_a_process():
    """The threads' first POT import would race (a half-initialised module in one thread):
    a weighted batch as the process's first use of POT."""
    import subprocess
    import sys

    script = ("import numpy as np\nfrom kantorovich.ot import emd\n"
              "emd(None, None, np.ones((1, 1, 1)))\n"  # the uniform kernel first: no POT
              "rng = np.random.default_rng(0)\n"
              "r = emd(None, None, rng.random((2, 4, 3)).tolist())\n"
              "assert r.certified.all() and 'threads' in r.info['solver']\nprint('OK')\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={**__import__("os").environ, "NUMBA_NUM_THREADS": "2"})
    assert proc.returncode == 0 and "OK" in proc.stdout, proc.stderr[-2000:]


def test_emd_batch_network_simplex_keeps_the_solvers_warnings_in_info():
    """POT's warnings (max_iter reached, here on problems whose plans are still couplings) go
    into each problem's info, as for one problem; the caller gets one ConvergenceWarning for
    the uncertified problems, from the main thread."""
    rng = np.random.default_rng(3)
    x, y = _clouds(rng, nb=4, n=30, m=25)
    M = _sqdist(x, y)
    a = _weights(rng, "batched", 4, 30)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = emd(a, None, M, max_iter=100)
    assert [w.category for w in caught] == [ConvergenceWarning]
    assert "in 4 of 4 problems (problems 0, 1, 2 and 3)" in str(caught[0].message)
    with pytest.warns(ConvergenceWarning):
        singles = [emd(a[q], None, M[q], max_iter=100) for q in range(4)]
    _emd_results_equal(r, singles)
    assert all("numItermax" in i["solver_warning"] for i in r.info["per_problem"])
    assert not r.certified.any()


@pytest.mark.parametrize("kind", ["real", "ties", "negative"])
def test_emd_batch_assignment_kernel_is_optimal(rng, kind):
    """The batched assignment kernel (shortest augmenting paths, vectorised search steps) finds
    the optimum that scipy's linear_sum_assignment finds, at several n, on real costs, on small
    integer costs full of ties and on negative costs; every problem is certified by the kernel
    itself (none needs the single solver)."""
    from scipy.optimize import linear_sum_assignment

    for n in (1, 2, 7, 33):
        if kind == "real":
            x, y = _clouds(rng, nb=6, n=n, m=n)
            M = _sqdist(x, y)
        elif kind == "ties":
            M = rng.integers(0, 3, size=(6, n, n)).astype(float)
        else:
            M = -rng.random((6, n, n)) * 1e3
        r = emd(None, None, M)
        exact = [M[q][linear_sum_assignment(M[q])].sum() / n for q in range(6)]
        np.testing.assert_allclose(r.value, exact, rtol=1e-14, atol=1e-14)
        assert r.certified.all() and r.info["recomputed_by_emd"] == []
        assert (r.plan > 0).sum(axis=(1, 2)).tolist() == [n] * 6  # a permutation each


def test_emd_batch_rectangular_and_method(rng):
    x, y = _clouds(rng)
    M = _sqdist(x, y)
    r = emd(None, None, M, method="highs")
    singles = [emd(None, None, M[q], method="highs") for q in range(B)]
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    assert r.method == "highs" and r.plan.shape == (B, N, M_)


def test_assignment_and_sliced_batch_match_loop(rng):
    x, y = _clouds(rng, m=N)
    M = _sqdist(x, y)
    r = assignment(M)
    singles = [assignment(M[q]) for q in range(B)]
    np.testing.assert_array_equal(r.perm, np.stack([s.perm for s in singles]))
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    np.testing.assert_array_equal(r.exact, [s.exact for s in singles])
    # with the defaults, one kernel over the problems (the emd batch's augmenting paths), each
    # problem certified by its own potentials: f_i + g_j <= C_ij, mean f + mean g = value - gap
    assert r.backend == "numba_batch" and r.method == "shortest augmenting paths"
    assert r.exact.all() and r.info["recomputed_by_assignment"] == []
    assert (r.f[:, :, None] + r.g[:, None, :] - M).max() <= 1e-12
    np.testing.assert_allclose(r.f.mean(axis=1) + r.g.mean(axis=1), r.value - r.duality_gap,
                               rtol=0, atol=1e-15)
    assert np.abs(r.duality_gap).max() <= 1e-12 and r.n_iter.shape == (B,)
    rx = assignment(x=x, y=y)
    np.testing.assert_array_equal(rx.perm, r.perm)
    assert rx.backend == "numba_batch"
    # integer costs, ties: optimal values (the permutation may differ on ties)
    Mi = rng.integers(0, 6, size=(4, 7, 7)).astype(float)
    ri = assignment(Mi)
    np.testing.assert_allclose(ri.value, [assignment(Mi[q]).value for q in range(4)], rtol=0,
                               atol=TOL)
    # auction options run the auction once per problem
    re = assignment(M[:2], eps_final=1e-3)
    assert re.backend != "numba_batch" and len(re.info["per_problem"]) == 2
    with pytest.raises(TypeError, match="`exact` must be a bool"):
        assignment(M[:2], exact=1)
    sw = sliced_wasserstein(x, y, n_projections=20, rng=3)
    assert sw.shape == (B,)
    np.testing.assert_allclose(sw, [sliced_wasserstein(x[q], y[q], n_projections=20, rng=3)
                                    for q in range(B)], rtol=0, atol=TOL)


def test_assignment_batch_loop_warns_once_naming_the_problems(rng):
    """Auction options solve a batch by one single call per problem: one ConvergenceWarning
    for the batch (`max_rounds` hit), naming the problems and giving the first one's message,
    not one per problem; the values are the single calls'."""
    M = rng.random((4, 12, 12))
    M[[1, 3]] = 1.0 - np.eye(12)  # one round of bids assigns every row: no warning
    x, y = rng.random((2, 3, 12, 2))
    for kwargs, nb, which in (({"M": M}, 4, "2 of 4 problems of the batch (problems 0 and 2; "
                                              "the numbers below are problem 0's)"),
                              ({"x": x, "y": y}, 3, "3 of 3 problems of the batch (problems 0, 1 "
                                                    "and 2; the numbers below are problem 0's)")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = assignment(**kwargs, max_rounds=1)
        assert [w.category for w in caught] == [ConvergenceWarning], [str(w.message) for w in caught]
        assert caught[0].filename == __file__
        with warnings.catch_warnings(record=True) as first:
            warnings.simplefilter("always")
            singles = [assignment(**{k: v[q] for k, v in kwargs.items()}, max_rounds=1)
                       for q in range(nb)]
        assert str(caught[0].message) == f"assignment: in {which}: {first[0].message}"
        np.testing.assert_array_equal(r.value, [s.value for s in singles])
        np.testing.assert_array_equal(r.perm, np.stack([s.perm for s in singles]))


@pytest.mark.parametrize("backend", ["auto", "numpy", "numba"])
@pytest.mark.parametrize("p", [1, 2, 1.5])
def test_sliced_batch_is_the_loop_with_its_draws(rng, backend, p):
    """One stacked projection and sort for the batch; the directions drawn as the loop draws
    them (an int seed: the same for every problem; a Generator: one draw after the other)."""
    x, y = rng.random((6, 9, 3)), rng.random((6, 7, 3))
    a, b = rng.random((6, 9)), rng.random(7)
    for kw in ({"rng": 3}, {"a": a, "b": b, "rng": 5}):
        r = sliced_wasserstein(x, y, n_projections=40, p=p, backend=backend, **kw)
        one = [sliced_wasserstein(x[q], y[q], n_projections=40, p=p, backend=backend,
                                  **{**kw, **({"a": a[q]} if "a" in kw else {})})
               for q in range(6)]
        np.testing.assert_allclose(r, one, rtol=1e-13, atol=0)
    g1, g2 = np.random.default_rng(11), np.random.default_rng(11)
    r = sliced_wasserstein(x, y, n_projections=8, p=p, rng=g1, backend=backend)
    one = [sliced_wasserstein(x[q], y[q], n_projections=8, p=p, rng=g2, backend=backend)
           for q in range(6)]
    np.testing.assert_allclose(r, one, rtol=1e-13, atol=0)
    with pytest.raises(ValueError, match="`x` must contain only finite values"):
        bad = x.copy()
        bad[4, 2, 1] = np.inf
        sliced_wasserstein(bad, y, n_projections=8)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("p", [1.5, 3])
def test_sliced_batch_of_problems_at_different_scales_is_the_loop_bit_for_bit(rng, backend, p):
    """For p != 1 each problem's projections are divided by the power of two its single call
    uses, not one for the whole batch (which rounded the smaller problems otherwise: 2e-14
    relative at p = 1.5 with one problem 1000x larger)."""
    x, y = rng.random((5, 9, 2)), rng.random((5, 7, 2))
    x[1] *= 1e3
    y[1] *= 1e3
    x[3] *= 1e-7
    y[3] *= 1e-7
    x[4, :1], y[4, :1] = 1.0, 1.0  # one point each
    a = rng.random((5, 9))
    for kw in ({"rng": 3}, {"a": a, "rng": 5}):
        r = sliced_wasserstein(x, y, n_projections=16, p=p, backend=backend, **kw)
        one = [sliced_wasserstein(x[q], y[q], n_projections=16, p=p, backend=backend,
                                  **{**kw, **({"a": a[q]} if "a" in kw else {})})
               for q in range(5)]
        np.testing.assert_array_equal(r, one)
    r = sliced_wasserstein(x[:, :1], y[:, :1], n_projections=16, p=p, backend=backend, rng=1)
    one = [sliced_wasserstein(x[q, :1], y[q, :1], n_projections=16, p=p, backend=backend, rng=1)
           for q in range(5)]
    np.testing.assert_array_equal(r, one)
    with pytest.raises(ValueError, match=r"`a` must have shape \(9,\) or \(5, 9\) for a batch of 5 "
                                         r"problems \(`x` of shape \(5, 9, 2\)\)"):
        sliced_wasserstein(x, y, a=a[:3], n_projections=4, rng=0)


def test_batch_errors(rng):
    x, y = _clouds(rng)
    with pytest.raises(ValueError, match=r"`x` and `y` .*\(5, 12, 2\) and \(4, 9, 2\)"):
        PointCloud(x, y[:4])
    with pytest.raises(ValueError, match=r"`x` .*`y`.*\(5, 12, 2\) and \(9, 2\)"):
        PointCloud(x, y[0])
    with pytest.raises(ValueError, match=r"`a` must have shape \(12,\) or \(5, 12\).*\(3, 12\)"):
        sinkhorn(np.full((3, N), 1.0 / N), None, PointCloud(x, y), eps=0.1)
    with pytest.raises(ValueError, match=r"`b` must have length 9"):
        sinkhorn(None, np.full((B, 4), 0.25), PointCloud(x, y), eps=0.1)
    a = np.full((B, N), 1.0 / N)
    a[3] *= 2
    with pytest.raises(ValueError, match="same total mass.*problem 3"):
        sinkhorn(a, None, PointCloud(x, y), eps=0.1)
    M = _sqdist(x, y)
    M[1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="`M_or_geometry` must not contain NaN"):
        sinkhorn(None, None, M, eps=0.1)
    with pytest.raises(ValueError, match=r"`a` must have shape \(12,\) or \(5, 12\)"):
        emd(np.full((2, N), 1.0 / N), None, _sqdist(x, x))
    with pytest.raises(ValueError, match="`M_aa` must have shape"):
        sinkhorn_divergence(None, None, _sqdist(x, y), M_aa=_sqdist(x, x)[:2],
                            M_bb=_sqdist(y, y), eps=0.1)
    with pytest.raises(ValueError, match="`eps` must be a positive float"):
        sinkhorn(None, None, PointCloud(x, y), eps=-1.0)
    # sliced_wasserstein's weights are checked against the points, which the message names
    with pytest.raises(ValueError, match=r"`b` must have shape \(9,\) or \(5, 9\) for a batch of 5 "
                                         r"problems \(`y` of shape \(5, 9, 2\)\)"):
        sliced_wasserstein(x, y, b=np.full((3, 9), 1 / 9), n_projections=4, rng=0)


def test_batch_warm_starts_of_another_batch_size_are_refused_before_any_solve(rng):
    """f0/g0 of shape (n,) or (B, n); other row counts were an IndexError from the loop over
    problems (fewer rows) or silently cut to the first B rows (more rows)."""
    x, y = _clouds(rng)
    pc = PointCloud(x, y)
    for kw, shape in [({"f0": np.zeros((B - 1, N))}, r"\(4, 12\)"),
                      ({"f0": np.zeros((B + 1, N))}, r"\(6, 12\)"),
                      ({"g0": np.zeros((B - 1, M_))}, r"\(4, 9\)"),
                      ({"f0": np.zeros((B, N + 1))}, r"\(5, 13\)")]:
        name = next(iter(kw))
        size = N if name == "f0" else M_
        with pytest.raises(ValueError, match=rf"`{name}` must have shape \({size},\) or "
                                             rf"\(5, {size}\) .*got array of shape {shape}"):
            sinkhorn(None, None, pc, eps=0.1, **kw)
        with pytest.raises(ValueError, match=rf"`{name}` must have shape"):
            sinkhorn(None, None, _sqdist(x, y), eps=0.1, **kw)
        with pytest.raises(ValueError, match=rf"`{name}` must have shape"):
            sinkhorn_divergence(None, None, pc, eps=0.1, **kw)
    # the accepted forms: one warm start for every problem, or one per problem
    f0 = sinkhorn(None, None, pc, eps=0.1).f
    r = sinkhorn(None, None, pc, eps=0.1, f0=f0)
    singles = [sinkhorn(None, None, PointCloud(x[q], y[q]), eps=0.1, f0=f0[q]) for q in range(B)]
    _assert_sinkhorn_equal(r, singles, eps=0.1)
    r = sinkhorn(None, None, pc, eps=0.1, f0=f0[2])
    assert r.value.shape == (B,)


def test_batch_caller_arrays(rng):
    """torch in, torch out (value (B,), f (B, n)), as for one problem."""
    torch = pytest.importorskip("torch")
    x, y = _clouds(rng)
    r = sinkhorn(None, None, PointCloud(torch.tensor(x), torch.tensor(y)), eps=0.05)
    ref = sinkhorn(None, None, PointCloud(x, y), eps=0.05)
    assert isinstance(r.value, torch.Tensor) and tuple(r.f.shape) == (B, N)
    np.testing.assert_allclose(r.value.numpy(), ref.value, rtol=0, atol=TOL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = emd(None, None, torch.tensor(_sqdist(x, x)))
    assert isinstance(e.plan, torch.Tensor) and tuple(e.plan.shape) == (B, N, N)


@pytest.mark.parametrize("seed", ["int", "generator"])
@pytest.mark.parametrize("p", [1, 2])
def test_batch_gradients_of_sliced_are_the_loops(rng, seed, p):
    """Sliced W on a batch: each problem's gradient is the single call's with the directions
    the loop draws (an int seed: the same for every problem; a Generator: consecutive draws),
    values equal to the loop's; autograd gives the torch numbers."""
    torch = pytest.importorskip("torch")
    autograd = pytest.importorskip("autograd")
    x, y = _clouds(rng, d=3)
    w = rng.random(B) + 0.5

    def rng_of():
        return 7 if seed == "int" else np.random.default_rng(11)

    xt, yt = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    out = sliced_wasserstein(xt, yt, n_projections=12, p=p, rng=rng_of())
    (torch.tensor(w) * out).sum().backward()
    r = rng_of()
    for q in range(B):
        xq = torch.tensor(x[q], requires_grad=True)
        yq = torch.tensor(y[q], requires_grad=True)
        v = sliced_wasserstein(xq, yq, n_projections=12, p=p, rng=r)
        (w[q] * v).backward()
        assert float(out[q].detach()) == float(v.detach())
        assert float((xt.grad[q] - xq.grad).abs().max()) <= 1e-14
        assert float((yt.grad[q] - yq.grad).abs().max()) <= 1e-14
    g = autograd.grad(lambda xv: (w * sliced_wasserstein(xv, y, n_projections=12, p=p,
                                                         rng=rng_of())).sum())(x)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=0, atol=1e-14)


def _single_grads(torch, fn, leaves, q, weight):
    """``weight * fn(problem q)`` differentiated problem by problem (the reference)."""
    one = {k: (v[q] if v.ndim >= 2 else v).detach().clone().requires_grad_(v.requires_grad)
           for k, v in leaves.items()}
    (weight * fn(one)).backward()
    return {k: t.grad for k, t in one.items() if t.requires_grad}


@pytest.mark.parametrize("kind", ["sinkhorn objective", "sinkhorn value", "divergence", "dense",
                                  "emd", "emd cloud"])
def test_batch_gradients_equal_the_loop_of_single_gradients(rng, kind):
    """A batch's (B,) output differentiated with weights w: row q of each batched leaf's
    gradient is w_q times the single problem's gradient; a leaf shared by the problems
    (weights (n,)) gets the sum over problems."""
    torch = pytest.importorskip("torch")
    x, y = _clouds(rng)
    a = rng.random(N)
    b = rng.random((B, M_))
    t = {"x": torch.tensor(x, requires_grad=True), "y": torch.tensor(y, requires_grad=True),
         "a": torch.tensor(a / a.sum(), requires_grad=True),
         "b": torch.tensor(b / b.sum(axis=1, keepdims=True), requires_grad=True)}
    kw = {"eps": 0.1, "tol": 1e-11}
    if kind == "dense":
        t = {"M": torch.tensor(_sqdist(x, y), requires_grad=True), "a": t["a"], "b": t["b"]}

        def fn(v):
            return sinkhorn(v["a"], v["b"], v["M"], **kw).objective
    elif kind == "emd":  # the plan in M, the centred potentials in a and b (same solver)
        t = {"M": torch.tensor(_sqdist(x, y), requires_grad=True), "a": t["a"], "b": t["b"]}

        def fn(v):
            return emd(v["a"], v["b"], v["M"]).value
    elif kind == "emd cloud":  # a batched PointCloud: sum_j P_ij grad_x c(x_i, y_j) in x
        def fn(v):
            return emd(v["a"], v["b"], PointCloud(v["x"], v["y"])).value
    elif kind == "divergence":
        def fn(v):
            return sinkhorn_divergence(v["a"], v["b"], PointCloud(v["x"], v["y"]), **kw).value
    else:
        field = kind.split()[1]

        def fn(v):
            return getattr(sinkhorn(v["a"], v["b"], PointCloud(v["x"], v["y"]), **kw), field)
    w = torch.tensor(rng.random(B) + 0.5)
    out = fn(t)
    assert tuple(out.shape) == (B,) and out.grad_fn is not None
    (w * out).sum().backward()
    total_a = 0.0
    for q in range(B):
        ref = _single_grads(torch, fn, t, q, w[q])
        for k, g in ref.items():
            if k == "a":
                total_a = total_a + g
                continue
            scale = float(g.abs().max()) + 1e-300
            assert float((t[k].grad[q] - g).abs().max()) <= 1e-12 * max(1.0, scale), (k, q)
    assert float((t["a"].grad - total_a).abs().max()) <= 1e-12


def test_batch_gradients_with_numpy_autodiff_and_gradcheck(rng):
    """autograd (numpy) gives the torch numbers; torch.autograd.gradcheck passes on a small
    batch in float64."""
    torch = pytest.importorskip("torch")
    autograd = pytest.importorskip("autograd")
    x, y = rng.random((3, 6, 2)), rng.random((3, 5, 2))
    w = np.array([0.3, 1.0, 2.0])

    def loss(xv):
        return (w * sinkhorn_divergence(None, None, PointCloud(xv, y), eps=0.2,
                                        tol=1e-12).value).sum()

    g_ag = autograd.grad(loss)(x)
    xt = torch.tensor(x, requires_grad=True)
    (torch.tensor(w) * sinkhorn_divergence(None, None, PointCloud(xt, torch.tensor(y)), eps=0.2,
                                           tol=1e-12).value).sum().backward()
    np.testing.assert_allclose(g_ag, xt.grad.numpy(), rtol=0, atol=1e-13)

    def f(xv, yv):
        return sinkhorn(None, None, PointCloud(xv, yv), eps=0.2, tol=1e-12).objective

    assert torch.autograd.gradcheck(f, (torch.tensor(x, requires_grad=True),
                                        torch.tensor(y, requires_grad=True)),
                                    eps=1e-6, atol=1e-6, rtol=1e-4)
    # emd: the LP value is piecewise linear in M (the plan its gradient, away from ties) and
    # concave in the weights; autograd = torch on a weighted batch, gradcheck in M
    M = _sqdist(x, y)
    a = rng.random((3, 6)) + 0.1
    a /= a.sum(axis=1, keepdims=True)
    g_ag = autograd.grad(lambda Mv: (w * emd(a, None, Mv).value).sum())(M)
    Mt = torch.tensor(M, requires_grad=True)
    (torch.tensor(w) * emd(torch.tensor(a), None, Mt).value).sum().backward()
    np.testing.assert_array_equal(g_ag, Mt.grad.numpy())
    assert torch.autograd.gradcheck(lambda Mv: emd(torch.tensor(a), None, Mv).value,
                                    (torch.tensor(M, requires_grad=True),), eps=1e-7,
                                    atol=1e-6, rtol=1e-4)


def test_problems_that_reach_the_several_mode_extrapolation_equal_the_loop():
    """The single solver's several-mode tail extrapolation (after three undone one-mode jumps;
    docs/sinkhorn.md) is not in the batched kernel: such a problem is stopped there and solved
    by the single solver, so the batch still equals the loop bit for bit."""
    from kantorovich.ot import _sinkhorn as S

    X, Y = np.empty((2, 30, 2)), np.empty((2, 30, 2))
    for q, seed in enumerate((1, 5)):
        r = np.random.default_rng(seed)
        X[q], Y[q] = r.random((30, 2)), r.random((30, 2))
    kw = dict(eps=1e-3, tol=1e-6, max_iter=12_000, backend="numba")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        rb = sinkhorn(None, None, PointCloud(X, Y), **kw)
        made = []
        orig = S._MultiModeTail.__init__

        def spy(self, xp):
            made.append(1)
            orig(self, xp)

        S._MultiModeTail.__init__ = spy
        try:
            for q in range(2):
                made.clear()
                r = sinkhorn(None, None, PointCloud(X[q], Y[q]), **kw)
                assert made, "the single solver did not reach the several-mode extrapolation"
                assert r.n_iter == rb.n_iter[q] and r.value == rb.value[q]
                np.testing.assert_array_equal(r.f, rb.f[q])
                np.testing.assert_array_equal(r.g, rb.g[q])
        finally:
            S._MultiModeTail.__init__ = orig
    assert list(rb.info["single_solver_problems"]) == [0, 1]


@pytest.mark.gpu
def test_emd_batches_of_cupy_arrays_come_back_as_cupy():
    """Both emd batch paths (uniform square: the assignment kernel; weighted: the network
    simplex on threads) solve CuPy costs on the host and return CuPy plans and potentials."""
    cp = pytest.importorskip("cupy")
    rng = np.random.default_rng(6)
    x, y = _clouds(rng, nb=4, m=N)
    M = _sqdist(x, y)
    a = _weights(rng, "batched", 4, N)
    for aa in (None, a):
        host = emd(aa, None, M)
        r = emd(None if aa is None else cp.asarray(aa), None, cp.asarray(M))
        assert isinstance(r.plan, cp.ndarray) and isinstance(r.f, cp.ndarray)
        np.testing.assert_array_equal(cp.asnumpy(r.plan), host.plan)
        v = cp.asnumpy(r.value) if isinstance(r.value, cp.ndarray) else np.asarray(r.value)
        np.testing.assert_array_equal(v, host.value)  # (np.asarray refuses a CuPy array)


def test_batch_messages_name_the_problem_and_the_forms():
    """Errors of a batch name the problem (row) at fault, print numbers as a single call does,
    and an array with too many axes says both accepted forms."""
    rng = np.random.default_rng(8)
    M = rng.random((3, 5, 5))
    A = rng.random((3, 5))
    A[1] = 0.0
    for fn in (lambda: emd(A, None, M), lambda: sinkhorn(A, None, M, eps=0.1)):
        with pytest.raises(ValueError, match=r"`a` must have a positive total mass; got a total of 0 in row 1\."):
            fn()
    with pytest.raises(ValueError, match=r"got totals 10\.0 and 1\.0 in problem 0"):
        emd(np.full(5, 2.0), None, M)
    M4 = np.zeros((2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"`M` must be \(n, m\) for one problem or \(B, n, m\)"):
        emd(None, None, M4)
    for fn in (sinkhorn, sinkhorn_divergence):
        with pytest.raises(ValueError, match=r"`M_or_geometry` must be \(n, m\) for one problem"):
            fn(None, None, M4, eps=0.1)
    with pytest.raises(ValueError, match=r"`x` must be \(n, d\) for one problem or \(B, n, d\)"):
        sliced_wasserstein(M4, M4, n_projections=2)


def test_batched_pointcloud_cost_matrix_and_repr():
    x, y = _clouds(np.random.default_rng(9))
    pc = PointCloud(x, y)
    C = pc.cost_matrix()
    assert C.shape == (B, N, M_)
    np.testing.assert_array_equal(C[2], PointCloud(x[2], y[2]).cost_matrix())
    assert repr(pc).startswith(f"PointCloud(B={B}, n={N}, m={M_}, d={D}")


@pytest.mark.parametrize("grad", [False, True], ids=["numbers", "torch_grad"])
def test_batched_pointcloud_cost_block_is_rows_of_each_problem(grad):
    """cost_block(i0, i1) of a batch sliced the batch axis (problems i0:i1) and paired the
    problems' points with each other: for B problems of n = m points, cost_block(0, B) was a
    (B, B, n) array of unrelated numbers, without an error (for points that require grad as
    well). It is rows i0:i1 of each problem, (B, i1 - i0, m), as cost_matrix()[:, i0:i1]."""
    x, y = _clouds(np.random.default_rng(11), n=B, m=B)
    if grad:
        torch = pytest.importorskip("torch")
        x, y = torch.tensor(x, requires_grad=True), torch.tensor(y)
    pc = PointCloud(x, y)
    C = pc.cost_matrix()
    for i0, i1 in ((0, B), (1, 3), (4, 5)):
        blk = pc.cost_block(i0, i1)
        assert tuple(blk.shape) == (B, i1 - i0, B)
        if grad:
            assert blk.requires_grad
            blk, want = blk.detach().numpy(), C.detach().numpy()[:, i0:i1]
        else:
            want = C[:, i0:i1]
        np.testing.assert_array_equal(blk, want)


def test_batch_diagnostics_stay_numpy_whatever_the_input():
    """A float32 or torch batch: the answers (values, plans, potentials) in the caller's type
    and dtype, the diagnostics as numpy arrays (float64, int, bool), as a single call's
    diagnostics stay Python numbers."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    M = rng.random((3, 5, 4)).astype(np.float32)
    r = emd(None, None, M)
    assert r.value.dtype == np.float32 and r.plan.dtype == np.float32
    assert r.duality_gap.dtype == np.float64 and r.marginal_error.dtype == np.float64
    assert r.certified.dtype == bool
    rt = emd(None, None, torch.tensor(M))
    assert isinstance(rt.value, torch.Tensor) and isinstance(rt.plan, torch.Tensor)
    assert all(isinstance(v, np.ndarray) for v in (rt.duality_gap, rt.certified, rt.marginal_error))
    s = sinkhorn(None, None, torch.tensor(M), eps=0.5)
    assert isinstance(s.value, torch.Tensor) and s.value.dtype == torch.float32
    assert isinstance(s.n_iter, np.ndarray) and isinstance(s.converged, np.ndarray)
    assert s.marginal_error.dtype == np.float64


@pytest.mark.parametrize("return_plan", [True, False])
def test_emd_batch_redoes_a_problem_whose_kernel_potentials_fail_the_check(rng, monkeypatch,
                                                                           return_plan):
    """A problem whose augmenting-path potentials fail the dual check is solved again by the
    single ``emd`` (its permutation read from that solve's plan), with or without
    ``return_plan``; the results are the loop's."""
    import kantorovich.ot._batch as batch_mod

    kernel = batch_mod._assign_batch

    def off_by_half(C, A, Bw, perms, F, G, stats):  # problem 1's potentials made infeasible
        kernel(C, A, Bw, perms, F, G, stats)
        F[1] += 0.5
        stats[1, 2] = 0.5

    monkeypatch.setattr(batch_mod, "_assign_batch", off_by_half)
    x, y = _clouds(rng, nb=3, n=6, m=6)
    M = _sqdist(x, y)
    r = emd(None, None, M, return_plan=return_plan)
    singles = [emd(None, None, M[q]) for q in range(3)]
    assert r.info["recomputed_by_emd"] == [1] and r.certified.all()
    np.testing.assert_allclose(r.value, [s.value for s in singles], rtol=0, atol=TOL)
    np.testing.assert_array_equal(r.info["perm"][1], np.argmax(singles[1].plan, axis=1))
    np.testing.assert_array_equal(r.f[1], singles[1].f)
    assert (r.plan is None) is (not return_plan)


@pytest.mark.parametrize("options", [{}, {"eps_final": 1e-3}])
def test_assignment_batch_refuses_the_costs_a_single_call_refuses(rng, options):
    """Costs of magnitude above 1e300 are a ValueError for one problem; in a batch they are the
    same error, naming the problem, whichever path the batch takes (before: the kernel path
    returned values for them, or raised the single call's error without naming the problem)."""
    M = rng.random((4, 5, 5))
    M[2] *= 1.5e301
    with pytest.raises(ValueError, match="magnitude below 1e300"):
        assignment(M[2])
    with pytest.raises(ValueError, match=r"magnitude below 1e300; got .* in problem 2\."):
        assignment(M, **options)
    M[2] /= 100.0  # below the limit: solved, as the loop solves it
    r = assignment(M, **options)
    assert r.exact.all()
    np.testing.assert_allclose(r.value, [assignment(M[q], **options).value for q in range(4)],
                               rtol=1e-12)


def test_emd_batch_loop_of_single_calls_names_the_problem_that_raises(rng):
    """``method="auction"`` (a loop of single calls) on a batch where one problem has weights
    that are not uniform: the single call's ValueError, naming that problem, as the network
    simplex path names the problem whose certificate fails."""
    M = rng.random((4, 6, 6))
    a = np.full((4, 6), 1 / 6)
    a[2] = rng.random(6) + 0.1
    a[2] /= a[2].sum()
    with pytest.raises(ValueError, match=r"^in problem 2 of 4: method='auction' solves only "
                                         r"square problems"):
        emd(a, None, M, method="auction")
    r = emd(a[[0, 1, 3]], None, M[[0, 1, 3]], method="auction")
    np.testing.assert_allclose(r.value, [emd(a[q], None, M[q]).value for q in (0, 1, 3)],
                               rtol=0, atol=TOL)


def test_batch_errors_name_the_problem_with_nan_or_infinity(rng):
    """NaN or infinity in one problem's costs or weights: the ValueError names that problem
    (the costs' first bad problem, the weights' first bad row), for every batched solver."""
    x, y = _clouds(rng, nb=4, n=5, m=5)
    M = _sqdist(x, y)
    Mn = M.copy()
    Mn[2, 1, 3] = np.nan
    Mn[3, 0, 0] = np.inf
    Mi = M.copy()
    Mi[1, 4, 4] = np.inf
    for call in (lambda C: emd(None, None, C), lambda C: assignment(C),
                 lambda C: sinkhorn(None, None, C, eps=0.1)):
        with pytest.raises(ValueError, match=r"must not contain NaN; got NaN in problem 2 of 4\."):
            call(Mn)
        with pytest.raises(ValueError, match=r"finite costs; got infinity in problem 1 of 4\."):
            call(Mi)
    a = np.full((4, 5), 0.2)
    a[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"`a` must contain only finite values; got NaN or "
                                         r"infinity in row 3\."):
        emd(a, None, M)
    a[3, 1] = -0.1
    with pytest.raises(ValueError, match=r"`a` must be non-negative; got a minimum of -0\.1 in "
                                         r"row 3\."):
        sliced_wasserstein(x, y, a=a, n_projections=4, rng=0)
    with pytest.raises(ValueError, match=r"`a` must be non-negative; got a minimum of -0\.1\.$"):
        emd(a[3], None, M[3])  # one problem: no row to name


def test_batch_cost_range_overflow_is_one_clean_error(rng):
    """A problem whose cost range overflows float64: the ValueError names it and its numbers as
    the single call prints them, with no numpy overflow warning before it."""
    M = rng.random((3, 4, 4))
    M[1, 0, 0], M[1, 0, 1] = 1e308, -1e308
    # the augmenting-path kernel's batch, and the network simplex's (3 columns)
    for call in (lambda: emd(None, None, M), lambda: emd(None, None, M[:, :, :3])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with pytest.raises(ValueError, match=r"got max 1e\+308 and min -1e\+308 in problem 1,"):
                call()


@pytest.mark.parametrize("options", [{}, {"dense": True}, {"divergence": True},
                                     {"dtype": np.float32}, {"plan": True}],
                         ids=["kernel", "dense kernel", "divergence", "float32 loop", "plan loop"])
def test_sinkhorn_batch_eps_below_one_problems_resolution_names_it(rng, options):
    """One problem of costs 1e20 at eps = 0.05: the single solver's ValueError (eps below the
    working precision's resolution of the costs) did not say which of the B problems it was,
    on the kernel's path or on the loop of single calls; now it names the problem."""
    options = dict(options)
    x, y = _clouds(rng, nb=4, n=6, m=6)
    x[2] *= 1e10
    y[2] *= 1e10
    geom = _sqdist(x, y) if options.pop("dense", False) else PointCloud(x, y)
    solve = sinkhorn_divergence if options.pop("divergence", False) else sinkhorn
    if solve is sinkhorn_divergence and not isinstance(geom, PointCloud):
        geom = PointCloud(x, y)
    with pytest.raises(ValueError, match=r"^in problem 2 of 4: `eps` must be at least .* got 0\.05\."):
        solve(None, None, geom, eps=0.05, **options)


def test_sinkhorn_batch_costs_beyond_float64_name_the_problem_without_a_numpy_warning(rng):
    x, y = _clouds(rng, nb=4, n=6, m=6)
    x[1] *= 1e160
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "overflow encountered in square" came first
        with pytest.raises(ValueError, match=r"^in problem 1 of 4: the costs of `M_or_geometry` "
                                             r"overflow float64"):
            sinkhorn(None, None, PointCloud(x, y), eps=0.05)


def test_emd_batch_progress_bar_over_the_problems(rng, capsys):
    """progress=True: a bar over the problems on the network simplex's threads and on the loop
    of single calls (the same results as without); the square uniform kernel shows none."""
    x, y = _clouds(rng, nb=6)
    M = _sqdist(x, y)
    a = _weights(rng, "batched", 6, N)
    for kw, desc in ((dict(a=a, b=None, normalize=True), "emd batch (network_simplex)"),
                     (dict(a=None, b=None, method="highs", normalize=True), "emd batch (highs)")):
        quiet = emd(M=M, **kw)
        assert capsys.readouterr().err == ""
        shown = emd(M=M, progress=True, **kw)
        err = capsys.readouterr().err
        assert desc in err and "problem" in err, kw
        np.testing.assert_array_equal(shown.value, quiet.value)
        np.testing.assert_array_equal(shown.plan, quiet.plan)
    Ms = _sqdist(*_clouds(rng, nb=3, m=N))
    sq = emd(None, None, Ms, method="auction", progress=True)  # the loop: one bar, none per problem
    err = capsys.readouterr().err
    assert "emd batch (auction)" in err and "assignment n=" not in err
    fast = emd(None, None, Ms, progress=True)  # the kernel over all problems: no bar
    assert fast.backend == "numba_batch" and capsys.readouterr().err == ""
    np.testing.assert_allclose(fast.value, sq.value, rtol=0, atol=TOL)



@pytest.mark.parametrize("geometry", ["pointcloud", "dense"])
def test_sinkhorn_batch_kernel_is_called_with_one_signature(rng, monkeypatch, geometry):
    """numba compiles the batched kernel once per combination of argument types, and a
    read-only array is another type than a writable one: every call of the kernel (the batch
    of one that checks the rounding, then the batch) with shared, per-problem or no weights
    gives it the same types. The weights were read-only views where they already had the
    batch's shape (a batch of one, per-problem weights), so a first call compiled the whole
    kernel twice (docs/performance.md, "Compile time")."""
    import numba

    from kantorovich.ot import _sinkhorn_batch as sb

    real = sb._solve_batch
    seen = {}

    class Recorder:
        def __call__(self, *args):
            seen.setdefault(tuple(str(numba.typeof(v)) for v in args), label)
            return real(*args)

        def __getattr__(self, name):
            return getattr(real, name)

    monkeypatch.setattr(sb, "_solve_batch", Recorder())
    x, y = _clouds(rng)
    cost = PointCloud(x, y) if geometry == "pointcloud" else _sqdist(x, y)
    for kind in ("none", "shared", "batched"):
        label = kind
        sinkhorn(_weights(rng, kind, B, N), _weights(rng, kind, B, M_), cost, eps=0.1)
    assert len(seen) == 1, list(seen.values())


@pytest.mark.parametrize("geometry", ["pointcloud", "dense"])
def test_sinkhorn_batch_progress_is_one_bar_over_the_problems_on_the_kernel(rng, monkeypatch,
                                                                           capsys, geometry):
    """progress=True ran the loop of single calls (about 10x the kernel's time at B = 256,
    n = 64) and showed one bar per problem that said nothing of the batch; now the kernel runs
    the problems in chunks (here forced to one problem per thread each) under one bar over
    the problems, with the numbers of progress=False, bit for bit, and the kernel's types."""
    import numba

    from kantorovich.ot import _sinkhorn_batch as sb

    real = sb._solve_batch
    calls = []

    class Recorder:
        def __call__(self, *args):
            calls.append(tuple(str(numba.typeof(v)) for v in args))
            return real(*args)

        def __getattr__(self, name):
            return getattr(real, name)

    x, y = _clouds(rng, nb=7)
    cost = PointCloud(x, y) if geometry == "pointcloud" else _sqdist(x, y)
    quiet = sinkhorn(None, None, cost, eps=0.05)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sb, "_solve_batch", Recorder())
    monkeypatch.setattr(sb, "PROGRESS_CHUNK_S", 1e-12)  # every chunk one problem per thread
    shown = sinkhorn(None, None, cost, eps=0.05, progress=True)
    err = capsys.readouterr().err
    assert f"sinkhorn batch {N}x{M_} eps=0.05" in err and "problem" in err
    assert f"sinkhorn {N}x{M_}" not in err  # no bar per problem
    assert shown.backend == quiet.backend == "numba_batch"
    assert len(calls) == -(-7 // numba.get_num_threads()) and len(set(calls)) == 1
    for field in ("value", "objective", "f", "g", "n_iter", "marginal_error", "converged"):
        np.testing.assert_array_equal(getattr(shown, field), getattr(quiet, field), err_msg=field)


def test_sinkhorn_batch_progress_on_the_loop_of_single_calls_is_one_bar(rng, capsys):
    """Options the kernel has not (float32 on the host, warm starts, plan=True) run a loop of
    single calls: one bar over its problems there too, none per problem."""
    x, y = _clouds(rng, nb=4)
    for kw in (dict(dtype=np.float32), dict(f0=np.zeros((4, N))), dict(plan=True)):
        quiet = sinkhorn(None, None, PointCloud(x, y), eps=0.05, **kw)
        assert capsys.readouterr().err == ""
        shown = sinkhorn(None, None, PointCloud(x, y), eps=0.05, progress=True, **kw)
        err = capsys.readouterr().err
        assert f"sinkhorn batch {N}x{M_} eps=0.05" in err and "problem" in err, kw
        assert f"sinkhorn {N}x{M_}" not in err, kw
        np.testing.assert_array_equal(shown.f, quiet.f)
        np.testing.assert_array_equal(shown.n_iter, quiet.n_iter)
