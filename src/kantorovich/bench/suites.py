"""The benchmark suites: for each size, the data, our call and each peer's call on the same data.

Every call returns the number the peers should agree on (a W_p, a transport cost, a KL), so the
runner checks agreement before a time counts. Peers are imported lazily: a missing one is
skipped with a line, never an error.
"""

from __future__ import annotations

import importlib
import math
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

SUITES = ("wasserstein_1d", "sliced", "emd", "assignment", "sinkhorn", "sinkhorn_iter", "knn")
PEERS = ("scipy", "pot", "universal-divergence", "ott", "geomloss")
_MODULES = {"scipy": "scipy", "pot": "ot", "universal-divergence": "universal_divergence",
            "ott": "ott", "geomloss": "geomloss"}
_INSTALL = {"pot": "pot", "universal-divergence": "universal-divergence", "ott": "ott-jax",
            "geomloss": "geomloss", "scipy": "scipy"}


@dataclass
class Case:
    """One benchmark case: ``ours(data)`` and ``peers[name](data)`` return comparable values."""

    suite: str
    name: str
    n: int
    params: dict
    make: Callable[[], Any]
    ours: Callable[[Any], float]
    peers: dict[str, Callable[[Any], float]] = field(default_factory=dict)
    rtol: float = 1e-9
    note: str = ""
    variant: str = ""  # a second quantity timed at the same n in the same suite
    dtype: str = ""  # the data's dtype where it is not the run's (knn: float64 always)


def peer_available(name: str) -> tuple[bool, str]:
    """Whether a peer imports here, and if not, the line that says why: not installed (and
    how to get it), or installed but failing to import (and the error: "not installed, pip
    install it" sent the user to install what was there)."""
    try:
        importlib.import_module(_MODULES[name])
        return True, ""
    except Exception as exc:  # noqa: BLE001 - any import failure means skipped
        if isinstance(exc, ModuleNotFoundError) and exc.name == _MODULES[name]:
            return False, (f"{name} not installed ({type(exc).__name__}): "
                           f"pip install {_INSTALL[name]}")
        first = (str(exc).splitlines() or [""])[0][:80]
        return False, f"{name} does not import ({type(exc).__name__}: {first})"


def _f(x) -> float:
    return float(np.asarray(x.get() if hasattr(x, "get") else x))


def _sizes(quick: bool, small: list[int], full: list[int]) -> list[int]:
    return small if quick else full


class Data(tuple):
    """A case's arrays on the run's device (``data[i]``), with ``host``: the same arrays as
    numpy, for the peers that have no GPU form (scipy, universal-divergence, POT's exact
    solver). On the CPU ``host`` is the tuple itself; on the GPU the copies are made by
    ``make``, outside any timing, so a host peer's time holds no transfer."""

    host: tuple


def _to(xp, dtype, *arrays) -> Data:
    data = Data(xp.asarray(a, dtype=dtype) for a in arrays)
    data.host = data if xp is np else tuple(np.asarray(a, dtype=dtype) for a in arrays)
    return data


def _host(a):
    return a.get() if hasattr(a, "get") else np.asarray(a)


# --------------------------------------------------------------------------- 1-D W
def wasserstein_1d_cases(quick, xp, dtype, peers):
    """W1 of two normal samples and, as the ``weighted`` variant, of the same samples with
    uniform(0, 1) weights (ours and scipy take them as they are, POT normalised: it does not
    normalise them itself)."""
    from kantorovich.ot import wasserstein_1d

    rtol = 1e-9 if dtype == np.float64 else 1e-4
    for n in _sizes(quick, [1_000, 10_000, 100_000], [1_000, 10_000, 100_000, 1_000_000,
                                                       10_000_000]):
        def make(n=n):
            g = np.random.default_rng(n)
            return _to(xp, dtype, g.normal(size=n), g.normal(1.0, 2.0, size=n))

        def make_weighted(n=n):
            g = np.random.default_rng(n)
            x, y = g.normal(size=n), g.normal(1.0, 2.0, size=n)
            a, b = g.random(n), g.random(n)
            return _to(xp, dtype, x, y, a, b, a / a.sum(), b / b.sum())

        pe, pw = {}, {}
        if "scipy" in peers:
            from scipy.stats import wasserstein_distance

            pe["scipy"] = lambda d: wasserstein_distance(d.host[0], d.host[1])
            pw["scipy"] = lambda d: wasserstein_distance(*d.host[:4])
        if "pot" in peers:
            import ot as pot

            pe["pot"] = lambda d: _f(pot.wasserstein_1d(d[0], d[1], p=1))
            pw["pot"] = lambda d: _f(pot.wasserstein_1d(d[0], d[1], d[4], d[5], p=1))
        yield Case("wasserstein_1d", "W1, two normal samples", n, {"p": 1}, make,
                   lambda d: _f(wasserstein_1d(d[0], d[1], p=1)), pe, rtol=rtol)
        yield Case("wasserstein_1d", "W1, two normal samples with uniform(0, 1) weights", n,
                   {"p": 1}, make_weighted,
                   lambda d: _f(wasserstein_1d(d[0], d[1], d[2], d[3], p=1)), pw, rtol=rtol,
                   variant="weighted")


# --------------------------------------------------------------------------- sliced
def sliced_cases(quick, xp, dtype, peers):
    from kantorovich.ot import projected_wasserstein

    L, d = 50, 3
    for n in _sizes(quick, [1_000, 10_000], [1_000, 10_000, 100_000, 1_000_000]):
        def make(n=n):
            g = np.random.default_rng(n)
            th = g.normal(size=(L, d))
            th /= np.linalg.norm(th, axis=1, keepdims=True)
            return _to(xp, dtype, g.normal(size=(n, d)), g.normal(0.5, 1.0, size=(n, d)), th)

        def ours(data):  # POT's convention: (mean over directions of W_2^2)^(1/2)
            per = _host(projected_wasserstein(data[0], data[1], data[2], p=2))
            return float(np.sqrt(np.mean(per.astype(np.float64) ** 2)))

        pe = {}
        if "pot" in peers:
            import ot as pot

            pe["pot"] = lambda dd: _f(pot.sliced_wasserstein_distance(
                dd[0], dd[1], p=2, projections=dd[2].T))
        yield Case("sliced", f"sliced W2, d = {d}, {L} fixed directions", n,
                   {"d": d, "n_projections": L, "p": 2}, make, ours, pe,
                   rtol=1e-8 if dtype == np.float64 else 1e-3)


# --------------------------------------------------------------------------- exact OT
def _square_points(n):
    g = np.random.default_rng(n)
    return g.random((n, 2)), g.random((n, 2))


def _square_cost(x, y):
    return ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)


def _scipy_assignment(M) -> float:
    """scipy's ``linear_sum_assignment`` on a square host cost: the optimal mean cost (= emd
    with uniform weights)."""
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(M)
    return float(M[r, c].mean())


def _pot_emd2(M) -> float:
    """POT's network simplex on a host M with uniform weights (the empty lists)."""
    import ot as pot

    return _f(pot.emd2([], [], M, numItermax=10**8))


def _exact_peers(peers, at: int = 0) -> dict:
    """The exact peers, each on the host copy of ``data[at]`` (both are CPU solvers)."""
    return {name: (lambda d, fn=fn: fn(d.host[at]))
            for name, fn in (("pot", _pot_emd2), ("scipy", _scipy_assignment)) if name in peers}


def emd_cases(quick, xp, dtype, peers):
    from kantorovich.ot import emd

    for n in _sizes(quick, [100, 300], [100, 300, 500, 1_000, 2_000]):
        def make(n=n):
            return _to(xp, dtype, _square_cost(*_square_points(n)))

        yield Case("emd", "uniform points in the unit square, squared Euclidean", n, {},
                   make, lambda d: _f(emd(None, None, d[0], return_plan=False).value),
                   _exact_peers(peers), rtol=1e-9 if dtype == np.float64 else 1e-5,
                   note="a host solver: on the GPU it is given CuPy M and copies it")


def assignment_cases(quick, xp, dtype, peers):
    """The auction on the cost matrix and, as the ``points`` variant, on the points with the
    costs computed on the fly (O(n) memory); the peers solve the same matrix."""
    from kantorovich.ot import assignment

    rtol = 1e-9 if dtype == np.float64 else 1e-5
    for n in _sizes(quick, [100, 300], [100, 300, 1_000, 2_000, 4_000]):
        def make(n=n):
            return _to(xp, dtype, _square_cost(*_square_points(n)))

        def make_points(n=n):
            x, y = _square_points(n)
            return _to(xp, dtype, x, y, _square_cost(x, y))

        yield Case("assignment", "auction, uniform points, squared Euclidean", n, {}, make,
                   lambda d: _f(assignment(d[0]).value), _exact_peers(peers), rtol=rtol)
        yield Case("assignment", "auction on the points, costs on the fly", n, {}, make_points,
                   lambda d: _f(assignment(x=d[0], y=d[1]).value), _exact_peers(peers, at=2),
                   rtol=rtol, variant="points")


# --------------------------------------------------------------------------- Sinkhorn
def _sinkhorn_points(n):
    g = np.random.default_rng(n)
    return g.random((n, 2)), g.random((n, 2)) + 0.1


def _sinkhorn_data(n, xp, dtype):
    """``(a, b, M, x, y)``: uniform weights, the squared Euclidean cost and its points."""
    x, y = _sinkhorn_points(n)
    a = np.full(n, 1.0 / n)
    return _to(xp, dtype, a, a, _square_cost(x, y), x, y)


def _pot_sinkhorn(eps, method, stop, k):
    """POT's ``sinkhorn2(a, b, M, eps, method=...)`` on the run's arrays (CuPy on the GPU:
    POT's CuPy backend), warnings silenced (a fixed iteration count does not converge)."""
    import ot as pot

    def run(d):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _f(pot.sinkhorn2(d[0], d[1], d[2], eps, method=method, stopThr=stop,
                                    numItermax=k))
    return run


def sinkhorn_cases(quick, xp, dtype, peers):
    """To a tolerance: both solvers stop at an L1 marginal error of 1e-6 (POT's stopThr is
    the same L1 error of the second marginal); values agree to 1e-4. With GeomLoss, also the
    Sinkhorn divergence at each n (:func:`sinkhorn_divergence_case`)."""
    from kantorovich.ot import sinkhorn

    eps = 0.05
    for n in _sizes(quick, [200, 500], [200, 500, 1_000, 2_000, 4_000]):
        def make(n=n):
            return _sinkhorn_data(n, xp, dtype)

        pe = {}
        if "pot" in peers:
            pe["pot"] = _pot_sinkhorn(eps, "sinkhorn_log", 1e-6, 100_000)
        yield Case("sinkhorn", f"to tol 1e-6, eps = {eps}, uniform points", n,
                   {"eps": eps, "tol": 1e-6}, make,
                   lambda d: _f(sinkhorn(d[0], d[1], d[2], eps=eps, tol=1e-6,
                                         max_iter=100_000).value), pe, rtol=1e-4)
        if "geomloss" in peers:
            yield sinkhorn_divergence_case(n, xp, dtype, eps)


#: GeomLoss's epsilon-scaling ratio in the divergence case, and the agreement tolerance it
#: allows: against a tol = 1e-12 solve of ours, scaling 0.9 leaves a relative error of
#: 1.0e-4 to 8.3e-4 at n = 200 ... 4000 (float64 and float32; docs/bench.md), ours at
#: tol = 1e-3 at most 4e-7.
GEOMLOSS_SCALING, GEOMLOSS_RTOL = 0.9, 2e-3


def _torch_device(xp) -> str:
    """GeomLoss's device: CUDA when the run is on the GPU and torch sees one, else the CPU."""
    import torch

    return "cuda" if xp is not np and torch.cuda.is_available() else "cpu"


def sinkhorn_divergence_case(n, xp, dtype, eps):
    """The debiased Sinkhorn divergence of two uniform n-point clouds: ours
    ``sinkhorn_divergence(None, None, PointCloud(x, y), eps=eps, tol=1e-3)`` against GeomLoss's
    ``SamplesLoss("sinkhorn", p=2, blur=sqrt(eps / 2), scaling=0.9, debias=True)`` (tensorized
    torch backend) times 2: GeomLoss's cost is |x - y|^2 / 2 and its epsilon blur^2, so its
    value at blur is ours at eps = 2 blur^2, halved (docs/conventions.md).

    GeomLoss stops after a fixed epsilon-scaling schedule, ours on a tolerance: neither can be
    set to the other's error, so ours runs at the loosest tolerance that is still at least as
    accurate as GeomLoss at scaling 0.9 (see :data:`GEOMLOSS_SCALING`). torch uses its default
    thread count (recorded); in a GPU run GeomLoss gets torch CUDA tensors (``params``
    records the device)."""
    import torch
    from geomloss import SamplesLoss

    from kantorovich.ot import PointCloud, sinkhorn_divergence

    blur = math.sqrt(eps / 2)
    tdt = torch.float32 if dtype == np.float32 else torch.float64
    dev = _torch_device(xp)
    loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=GEOMLOSS_SCALING, debias=True,
                       backend="tensorized")

    def make():
        data = _to(xp, dtype, *_sinkhorn_points(n))
        data.torch = tuple(torch.as_tensor(h, dtype=tdt, device=dev) for h in data.host)
        return data

    def ours(d):
        return _f(sinkhorn_divergence(None, None, PointCloud(d[0], d[1]), eps=eps, tol=1e-3,
                                      max_iter=100_000).value)

    def geomloss(d):
        with torch.no_grad():
            return 2.0 * float(loss(*d.torch))

    return Case("sinkhorn", f"Sinkhorn divergence, eps = {eps}, uniform points", n,
                {"eps": eps, "tol": 1e-3, "geomloss_blur": blur,
                 "geomloss_scaling": GEOMLOSS_SCALING, "torch_threads": torch.get_num_threads(),
                 "torch_device": dev},
                make, ours, {"geomloss": geomloss},
                rtol=GEOMLOSS_RTOL, variant="divergence",
                note="GeomLoss: a fixed epsilon-scaling schedule; ours: tol 1e-3, at least as "
                     "accurate")


def sinkhorn_iter_cases(quick, xp, dtype, peers):
    """Per iteration: 100 log-domain iterations from zero potentials, no annealing, no check,
    on the cost matrix and, as the ``points`` variant, on the points (ours: ``PointCloud``,
    the online soft-min, O(n) memory; OTT-JAX: its ``PointCloud``; POT, which has no online
    form, on the matrix). POT runs both its log-domain and its kernel-space Sinkhorn
    (``pot-kernel``): the same iterations, the latter without logarithms.

    Every implementation runs the same k iterations from the same start, so their values
    differ by rounding only, not by the error the k steps leave: at most 7.4e-13 (relative)
    in float64 at n = 500 ... 4000, and 8.4e-7 in float32 at n = 500, 1000 (CPU). The
    tolerance is 1e-9 in float64; 1e-3 allowed ours with epsilon 0.1 % off (6e-4) to agree.
    float32 keeps 1e-3 (not measured on a GPU, where OTT-JAX's float32 products may run in
    TF32)."""
    from kantorovich.ot import PointCloud, sinkhorn

    eps, k = 0.05, 100
    rtol = 1e-9 if dtype == np.float64 else 1e-3
    pe: dict = {}
    if "pot" in peers:
        pe["pot"] = _pot_sinkhorn(eps, "sinkhorn_log", 0.0, k)
        pe["pot-kernel"] = _pot_sinkhorn(eps, "sinkhorn", 0.0, k)
    ott = {}
    if "ott" in peers:
        ott = {"": _ott_fixed_iterations(eps, k, dtype, points=False),
               "points": _ott_fixed_iterations(eps, k, dtype, points=True)}

    def solve(a, b, M):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _f(sinkhorn(a, b, M, eps=eps, tol=1e-30, max_iter=k, scaling=None).value)

    for n in _sizes(quick, [500, 1_000], [500, 1_000, 2_000, 4_000]):
        def make(n=n):
            data = _sinkhorn_data(n, xp, dtype)
            if ott:
                import jax.numpy as jnp

                with _jax_x64(dtype == np.float64):
                    data.jax = tuple(jnp.asarray(h) for h in data.host)
            return data

        for variant, ours in (("", lambda d: solve(d[0], d[1], d[2])),
                              ("points", lambda d: solve(None, None, PointCloud(d[3], d[4])))):
            impls = dict(pe)
            if ott:
                impls["ott"] = ott[variant]
            yield Case("sinkhorn_iter", f"{k} iterations, eps = {eps}"
                       + (", on the points (online soft-min)" if variant else ""), n,
                       {"eps": eps, "iters": k}, make, ours, impls, rtol=rtol, variant=variant,
                       note="the same iterations from the same start: values agree to rounding")


def _jax_x64(on: bool):
    """JAX's float64 for the calls inside (``jax.enable_x64``; ``jax.experimental``'s before
    jax 0.7), leaving the process's setting as it was; a null context when ``on`` is false."""
    import contextlib

    if not on:
        return contextlib.nullcontext()
    import jax

    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:
        from jax.experimental import enable_x64 as ctx
    return ctx(True)


def _ott_fixed_iterations(eps, k, dtype, points):
    """OTT-JAX's Sinkhorn, jitted once (the first call, outside the timing, compiles), run for
    exactly k iterations on the cost matrix (``geometry.Geometry``) or on the points
    (``pointcloud.PointCloud``, squared Euclidean as ours); returns the transport cost
    <P, M> of its plan. Its inputs are jax arrays made by ``make`` (on jax's default device:
    the GPU where jax has one), float64 (:func:`_jax_x64`) when the run is float64."""
    import jax
    import jax.numpy as jnp
    from ott.geometry import geometry, pointcloud
    from ott.problems.linear import linear_problem
    from ott.solvers.linear import sinkhorn as ott_sinkhorn

    @jax.jit
    def solve(a, b, M, x, y):
        geom = (pointcloud.PointCloud(x, y, epsilon=eps) if points
                else geometry.Geometry(cost_matrix=M, epsilon=eps))
        out = ott_sinkhorn.Sinkhorn(max_iterations=k, min_iterations=k, threshold=0.0)(
            linear_problem.LinearProblem(geom, a, b))
        return jnp.sum(out.matrix * M)

    def run(d):
        with _jax_x64(dtype == np.float64):
            return float(solve(*d.jax))
    return run


# --------------------------------------------------------------------------- kNN
def _ckdtree_kl(x, y, k: int = 5) -> float:
    """The same 5-NN estimator (Wang, Kulkarni & Verdu 2009) written directly on scipy's
    ``cKDTree`` (all cores): d mean(log(nu_k / rho_k)) + log(m / (n - 1))."""
    from scipy.spatial import cKDTree

    n, d = x.shape
    rho = cKDTree(x).query(x, k + 1, workers=-1)[0][:, k]
    nu = cKDTree(y).query(x, k, workers=-1)[0][:, k - 1]
    return float(d * np.mean(np.log(nu / rho)) + math.log(y.shape[0] / (n - 1)))


def knn_cases(quick, xp, dtype, peers):
    """N(0, I) against N(0.5 1, 1.5 I) in d = 2 and, as the variants ``d=5`` and ``d=10``, in
    d = 5 and 10 at fewer sizes (universal-divergence takes seconds at n = 10^4 there). The
    samples are float64 whatever ``dtype`` (the estimator computes in float64); on the GPU ours
    gets CuPy arrays (its CuPy backend), the peers host copies."""
    from kantorovich.divergences import estimate_kl

    pe = {}
    if "universal-divergence" in peers:
        from universal_divergence import estimate as ud

        pe["universal-divergence"] = lambda dd: float(ud(dd.host[0], dd.host[1], k=5))
    if "scipy" in peers:
        pe["scipy"] = lambda dd: _ckdtree_kl(dd.host[0], dd.host[1], k=5)
    grid = {2: _sizes(quick, [2_000, 10_000], [2_000, 10_000, 100_000]),
            5: _sizes(quick, [2_000], [2_000, 10_000]), 10: _sizes(quick, [2_000], [2_000, 10_000])}
    for d, sizes in grid.items():
        for n in sizes:
            def make(n=n, d=d):
                g = np.random.default_rng(n)
                return _to(xp, np.float64, g.normal(size=(n, d)),
                           0.5 + math.sqrt(1.5) * g.normal(size=(n, d)))

            yield Case("knn", f"KL by 5-NN (Wang, Kulkarni & Verdu 2009), d = {d}", n,
                       {"d": d, "k": 5}, make,
                       lambda dd: _f(estimate_kl(dd[0], dd[1], method="knn", k=5,
                                                 n_boot=0).value), pe, rtol=1e-9,
                       variant="" if d == 2 else f"d={d}", dtype="float64")


BUILDERS = {
    "wasserstein_1d": wasserstein_1d_cases,
    "sliced": sliced_cases,
    "emd": emd_cases,
    "assignment": assignment_cases,
    "sinkhorn": sinkhorn_cases,
    "sinkhorn_iter": sinkhorn_iter_cases,
    "knn": knn_cases,
}
# peers each suite can run (the others are listed as not wired for that suite)
SUITE_PEERS = {
    "wasserstein_1d": ("scipy", "pot"),
    "sliced": ("pot",),
    "emd": ("pot", "scipy"),
    "assignment": ("scipy", "pot"),
    "sinkhorn": ("pot", "geomloss"),
    "sinkhorn_iter": ("pot", "ott"),
    "knn": ("universal-divergence", "scipy"),
}
