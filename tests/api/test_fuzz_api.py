"""Fuzz of the whole public API: every name in the ``__all__`` of kantorovich.ot,
kantorovich.divergences and kantorovich.families, called with tiny inputs (n <= 6, d <= 3),
extreme values (+-inf, NaN, 0, 1e300, 1e-300, 5e-324, data scaled by 2**+-900, far outliers),
bad dtypes, wrong shapes, huge / negative / float counts and extreme parameters.

Each call runs in a worker process under a time and memory guard (tests/api/fuzz_support.py) and is
classified as in the README's conventions: a result that passes its checks, or a ValueError /
TypeError naming an argument, is OK; HANG, SILENT-NAN, WRONG, CRASH, MUTATES (input or global
seed) fail ``test_fuzz``; BAD-ERROR (an exception of another type, or a message naming no
argument) and WARNS (a numpy RuntimeWarning reaching the caller) fail ``test_fuzz_errors``.
A failure lists every offending call as a reproduction, with its class and reason.

Deterministic: hypothesis with ``derandomize=True`` and no example database. The default run
takes about a minute on 2 cores with numba's cache cold; ``-m slow`` runs many more examples.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from .fuzz_support import Call, Runner

MAX_EXAMPLES = 12  # per public name, in CI
SLOW_EXAMPLES = 150  # per public name, in the slow variant

NAN, INF = float("nan"), float("inf")
BIG = 1.7976931348623157e308
SCALES = [2.0**900, 2.0**-900, 1e300, 1e-300, 2.0**1000, 1e-310]
BAD_FLOATS = [0, -1.0, -0.0, NAN, INF, -INF, 1e300, 1e-300, 5e-324, BIG, 10**18, 2**64, True, "1",
              None, np.float32(0.5), np.array(0.5), np.array([0.5]), 1 + 2j, 1 + 1e-15, 1 - 1e-16, 0.5, 2]
BAD_COUNTS = [0, -1, 1, 2, 1.5, True, 10**18, 2**64, -(2**64), np.int64(3), None, "3", 3.0]
BAD_RNGS = [-1, "seed", 1.5, np.random.default_rng(1), True, 2**70, None, 0, np.int64(5), -(2**64)]
BAD_BOOLS = ["yes", None, 1, np.bool_(True), 0.0]
BAD_DTYPES = ["bogus", object, complex, np.int64, np.float16, np.float32, "float32", None, np.float64]


def _bad_arrays(A):
    with np.errstate(all="ignore"):
        return _bad_arrays_of(np.atleast_1d(np.asarray(A, dtype=np.float64)))


def _bad_arrays_of(A):
    out = [None, "ab", [[1.0, 2.0], [3.0]], np.empty((0,) + A.shape[1:]), np.float64(1.0),
           A.astype(bool), A.astype(complex), A.astype(object), A[None], A.astype(np.float16),
           A.astype(np.float32), np.round(A).astype(np.int64), A.tolist(), A[::-1],
           np.asfortranarray(A), A * 1e300, A * 1e-300, A * 5e-324, np.full_like(A, BIG),
           np.zeros_like(A), -A, A[:-1], np.concatenate([A, A[-1:]])]
    if A.size:
        for v in (NAN, INF, -INF):
            B = A.copy()
            B.flat[0] = v
            out.append(B)
    if A.ndim == 2:
        out += [A[:, :-1], np.hstack([A, A[:, :1]]), A.T]
    return out


class Draw:
    """Small vocabulary over hypothesis' ``draw``."""

    def __init__(self, draw):
        self.draw = draw
        self.g = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    def pick(self, seq):
        seq = list(seq)
        return seq[self.draw(st.integers(0, len(seq) - 1))]

    def int(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def coin(self, p=0.5):
        return self.draw(st.floats(0, 1)) < p

    def points(self, n, d, flat=False):
        kind = self.pick(["normal", "normal", "normal", "dup", "int", "wide"])
        if kind == "dup":
            x = np.repeat(self.g.normal(size=(1, d)), n, axis=0)
        elif kind == "int":
            x = self.g.integers(-3, 4, size=(n, d)).astype(float)
        elif kind == "wide":
            x = self.g.normal(size=(n, d)) * 10.0 ** self.g.integers(-5, 6, size=(n, d))
        else:
            x = self.g.normal(size=(n, d))
        return x[:, 0] if flat else x

    def weights(self, n, allow_none=True):
        kind = self.pick(["none", "pos", "zeros", "int"] if allow_none else ["pos", "zeros", "int"])
        if kind == "none":
            return None
        if kind == "int":
            return self.g.integers(1, 5, size=n).astype(float)
        w = self.g.random(n) + 0.05
        if kind == "zeros" and n > 1:
            w[self.g.integers(0, n)] = 0.0
        return w

    def pmf(self, n, batch=False):
        shape = (2, n) if batch else (n,)
        kind = self.pick(["pos", "zeros", "tiny", "int"])
        p = self.g.random(shape) + 0.01
        if kind == "zeros" and n > 1:
            p[..., self.g.integers(0, n)] = 0.0
        elif kind == "tiny":
            p[..., 0] = 1e-300
        elif kind == "int":
            p = self.g.integers(0, 5, size=shape).astype(float)
            p[..., 0] += 1
        return p

    def p_order(self):
        return self.pick([1, 1, 1.5, 2, 2, 3, 1000, 1e300])


# kinds of arguments, for the mutation step: each spec lists its arguments' kinds
ARRAY, FLOAT, COUNT, RNG, BOOL, DTYPE = "array", "float", "count", "rng", "bool", "dtype"


def _mutate(d: Draw, call: Call, kinds: dict, choices: dict, points: tuple = ()):
    """With some probability: scale the point arguments by an extreme factor, add a far outlier,
    or replace one argument by a bad or extreme value of its kind."""
    mode = d.pick(["clean", "scale", "outlier", "bad", "bad", "bad"])
    if mode == "scale" and points:
        s = d.pick(SCALES)
        for k in points:
            if call.kwargs.get(k) is not None:
                call.kwargs[k] = np.asarray(call.kwargs[k], dtype=float) * s
    elif mode == "outlier" and points:
        for k in points:
            v = call.kwargs.get(k)
            if v is not None and np.ndim(v) >= 1:
                v = np.array(v, dtype=float)
                v.flat[0] = 1e200 if k == points[0] else 1e200 + 1.0
                call.kwargs[k] = v
    elif mode == "bad":
        allk = {**kinds, **{k: "choice" for k in choices}}
        if not allk:
            return call
        name = d.pick(sorted(allk))
        kind = allk[name]
        tgt = call.mkwargs if name.startswith("m:") else call.kwargs
        key = name[2:] if name.startswith("m:") else name
        if kind == ARRAY:
            base = tgt.get(key)
            if not isinstance(base, (np.ndarray, list, float)):  # None, or a geometry object
                base = d.g.random((2, 2) if "M" in key else 3)
            tgt[key] = d.pick(_bad_arrays(base))
        elif kind == FLOAT:
            tgt[key] = d.pick(BAD_FLOATS)
        elif kind == COUNT:
            tgt[key] = d.pick(BAD_COUNTS)
        elif kind == RNG:
            tgt[key] = d.pick(BAD_RNGS)
        elif kind == BOOL:
            tgt[key] = d.pick(BAD_BOOLS)
        elif kind == DTYPE:
            tgt[key] = d.pick(BAD_DTYPES)
        else:
            good = choices[name]
            tgt[key] = d.pick(["bogus", "", str(good[-1]).upper(), 1, [good[0]], None])
    return call


# --------------------------------------------------------------------------------------------
# one spec per public name: a valid call drawn at tiny size, then mutated
# --------------------------------------------------------------------------------------------

def _hist_pair_call(d, path, extra_kw, check):
    n = d.int(1, 6)
    batch = d.coin(0.2)
    p = d.pmf(n, batch)
    q = p[..., d.g.permutation(n)].copy() if d.coin(0.6) else d.pmf(n, batch) * 1.0
    kw = dict(p=p, q=q, normalize=bool(d.coin(0.4) or not np.allclose(p.sum(-1), q.sum(-1))))
    kw.update(extra_kw)
    return Call(path, kwargs=kw, check=check)


def spec_cumulative_deltas(d):
    c = _hist_pair_call(d, "ot.cumulative_deltas", {}, "cumdeltas")
    return _mutate(d, c, dict(p=ARRAY, q=ARRAY, normalize=BOOL), {})


def spec_emd_1d_histogram(d):
    c = _hist_pair_call(d, "ot.emd_1d_histogram", dict(bin_width=d.pick([1.0, 0.5, 3.0, 1e-300, 1e300])),
                        "emd1dh")
    return _mutate(d, c, dict(p=ARRAY, q=ARRAY, normalize=BOOL, bin_width=FLOAT), {})


def _w1d_kwargs(d):
    n, m = d.int(1, 6), d.int(1, 6)
    return dict(u_values=d.points(n, 1, flat=True), v_values=d.points(m, 1, flat=True) + d.pick([0, 1, 5]),
                u_weights=d.weights(n), v_weights=d.weights(m), p=d.p_order())


def spec_wasserstein_1d(d):
    kw = _w1d_kwargs(d)
    kw["backend"] = d.pick(["auto", "numpy", "numba"])
    c = Call("ot.wasserstein_1d", kwargs=kw, check="w1d")
    return _mutate(d, c, dict(u_values=ARRAY, v_values=ARRAY, u_weights=ARRAY, v_weights=ARRAY, p=FLOAT),
                   dict(backend=("auto", "numpy", "numba")), points=("u_values", "v_values"))


def spec_wasserstein_1d_plan(d):
    c = Call("ot.wasserstein_1d_plan", kwargs=_w1d_kwargs(d), check="w1d")
    return _mutate(d, c, dict(u_values=ARRAY, v_values=ARRAY, u_weights=ARRAY, v_weights=ARRAY, p=FLOAT),
                   {}, points=("u_values", "v_values"))


def _cloud_kwargs(d, weights=True):
    n, m, dim = d.int(1, 6), d.int(1, 6), d.int(1, 3)
    kw = dict(x=d.points(n, dim), y=d.points(m, dim) + d.pick([0.0, 1.0]))
    if weights:
        kw.update(a=d.weights(n), b=d.weights(m))
    return kw


def spec_sliced_wasserstein(d):
    kw = _cloud_kwargs(d)
    kw.update(n_projections=d.int(1, 6), p=d.p_order(), rng=d.int(0, 9),
              backend=d.pick(["auto", "numpy", "numba"]))
    c = Call("ot.sliced_wasserstein", kwargs=kw, check="sliced")
    return _mutate(d, c, dict(x=ARRAY, y=ARRAY, a=ARRAY, b=ARRAY, n_projections=COUNT, p=FLOAT, rng=RNG),
                   dict(backend=("auto", "numpy", "numba")), points=("x", "y"))


def spec_max_sliced_wasserstein(d):
    kw = _cloud_kwargs(d)
    kw.update(n_projections=d.int(1, 6), p=d.p_order(), rng=d.int(0, 9), refine=d.int(0, 3),
              backend=d.pick(["auto", "numpy", "numba"]))
    c = Call("ot.max_sliced_wasserstein", kwargs=kw, check="max_sliced")
    return _mutate(d, c, dict(x=ARRAY, y=ARRAY, a=ARRAY, b=ARRAY, n_projections=COUNT, p=FLOAT, rng=RNG,
                              refine=COUNT), dict(backend=("auto", "numpy", "numba")), points=("x", "y"))


def spec_projected_wasserstein(d):
    kw = _cloud_kwargs(d)
    dim = kw["x"].shape[1]
    th = d.g.normal(size=(d.int(1, 4), dim))
    if d.coin(0.7):
        th /= np.linalg.norm(th, axis=1, keepdims=True)
    kw.update(directions=th, p=d.p_order(), backend=d.pick(["auto", "numpy", "numba"]))
    c = Call("ot.projected_wasserstein", kwargs=kw, check="projected")
    return _mutate(d, c, dict(x=ARRAY, y=ARRAY, a=ARRAY, b=ARRAY, directions=ARRAY, p=FLOAT),
                   dict(backend=("auto", "numpy", "numba")), points=("x", "y"))


def spec_random_directions(d):
    c = Call("ot.random_directions", kwargs=dict(n_projections=d.int(1, 6), d=d.int(1, 3), rng=d.int(0, 9)),
             check="random_directions")
    return _mutate(d, c, dict(n_projections=COUNT, d=COUNT, rng=RNG), {})


def _cost(d, n, m):
    kind = d.pick(["rand", "rand", "int", "zero", "neg", "wide"])
    if kind == "int":
        return d.g.integers(0, 4, size=(n, m)).astype(float)
    if kind == "zero":
        return np.zeros((n, m))
    if kind == "neg":
        return d.g.random((n, m)) - 0.5
    if kind == "wide":
        return d.g.random((n, m)) * 10.0 ** d.g.integers(-3, 4, size=(n, m))
    return d.g.random((n, m))


def spec_emd(d):
    n, m = d.int(1, 6), d.int(1, 6)
    kw = dict(a=d.weights(n), b=d.weights(m), M=_cost(d, n, m), method=d.pick(["auto", "network_simplex", "highs", "auction"]),
              normalize=True, return_plan=d.coin(0.8))
    if d.coin(0.3):
        kw.update(tol=d.pick([1e-9, 1e-6, 1e-12]), max_iter=d.pick([None, 10**6]))
    c = Call("ot.emd", kwargs=kw, check="emd")
    return _mutate(d, c, dict(a=ARRAY, b=ARRAY, M=ARRAY, normalize=BOOL, return_plan=BOOL, tol=FLOAT,
                              max_iter=COUNT, progress=BOOL),
                   dict(method=("auto", "network_simplex", "highs", "auction")),
                   points=("M",))


def spec_wasserstein(d):
    kw = _cloud_kwargs(d)
    kw.update(p=d.pick([1, 1, 2, 1.5, 3]), method=d.pick(["auto", "auto", "exact", "1d", "auction", "sinkhorn"]))
    if kw["method"] == "sinkhorn":
        kw["eps"] = d.pick([0.1, 1.0])
    if kw["method"] == "auction":
        kw["x"] = kw["x"][: kw["y"].shape[0]]
        kw["y"] = kw["y"][: kw["x"].shape[0]]
        kw["a"] = kw["b"] = None
    c = Call("ot.wasserstein", kwargs=kw, check="wasserstein")
    return _mutate(d, c, dict(x=ARRAY, y=ARRAY, a=ARRAY, b=ARRAY, p=FLOAT, eps=FLOAT, exact_max_entries=COUNT,
                              progress=BOOL),
                   dict(method=("auto", "1d", "exact", "auction", "sinkhorn")), points=("x", "y"))


def spec_pairwise_wasserstein(d):
    one_d = d.coin()
    N, n, dim = d.int(1, 3), d.int(1, 5), d.int(1, 3)

    def dists(k):  # (k, n) samples or (k, n, dim) clouds: arrays, so that mutations apply
        return np.stack([d.points(n, 1, flat=True) if one_d else d.points(n, dim) for _ in range(k)])

    kw = dict(X=dists(N), p=d.pick([1, 1, 1.5, 2, 3]), progress=False)
    if d.coin(0.4):
        kw["Y"] = dists(d.int(1, 2))
    if d.coin(0.4):
        kw["X_weights"] = np.stack([d.weights(n, allow_none=False) for _ in range(N)])
    if d.coin(0.3):
        kw["block_size"] = d.int(1, 3)
    c = Call("ot.pairwise_wasserstein", kwargs=kw, check="pairwise")
    return _mutate(d, c, dict(X=ARRAY, Y=ARRAY, X_weights=ARRAY, p=FLOAT, eps=FLOAT, block_size=COUNT,
                              retries=COUNT, progress=BOOL),
                   dict(method=("auto", "1d", "exact")), points=("X", "Y"))


def _geometry(d, n, m):
    from kantorovich.ot import PointCloud

    if d.coin(0.5):
        return _cost(d, n, m)
    dim = d.int(1, 3)
    return PointCloud(d.points(n, dim), d.points(m, dim) + 0.5, cost=d.pick(["sqeuclidean", "euclidean", 1.5]))


def spec_sinkhorn(d):
    n, m = d.int(1, 6), d.int(1, 6)
    kw = dict(a=d.weights(n), b=d.weights(m), M_or_geometry=_geometry(d, n, m), eps=d.pick([0.05, 0.1, 0.5, 1.0]))
    if d.coin(0.5):
        kw.update(max_iter=d.pick([10_000, 5, 1]), scaling=d.pick([0.5, None, 0.9]),
                  check_every=d.pick([10, 1, 3]), symmetric=d.coin(0.3), plan=d.coin(0.3),
                  backend=d.pick(["auto", "numpy", "numba"]), dtype=d.pick([None, np.float32, np.float64]))
    if d.coin(0.2):
        kw.update(f0=d.g.normal(size=n), g0=d.g.normal(size=m))
    c = Call("ot.sinkhorn", kwargs=kw, check="sinkhorn")
    return _mutate(d, c, dict(a=ARRAY, b=ARRAY, M_or_geometry=ARRAY, eps=FLOAT, max_iter=COUNT, tol=FLOAT,
                              scaling=FLOAT, check_every=COUNT, f0=ARRAY, g0=ARRAY, plan=BOOL,
                              symmetric=BOOL, dtype=DTYPE), dict(backend=("auto", "numpy", "numba")))


def spec_sinkhorn_divergence(d):
    from kantorovich.ot import PointCloud

    n, m, dim = d.int(1, 6), d.int(1, 6), d.int(1, 3)
    x, y = d.points(n, dim), d.points(m, dim) + 0.5
    kw = dict(a=d.weights(n), b=d.weights(m), eps=d.pick([0.05, 0.1, 1.0]))
    if d.coin(0.5):
        kw["M_or_geometry"] = PointCloud(x, y, cost=d.pick(["sqeuclidean", "euclidean"]))
    else:
        sq = lambda u, v: ((u[:, None] - v[None]) ** 2).sum(-1)  # noqa: E731
        kw.update(M_or_geometry=sq(x, y), M_aa=sq(x, x), M_bb=sq(y, y))
    if d.coin(0.3):
        kw.update(backend=d.pick(["numpy", "numba"]), max_iter=d.pick([10_000, 3]))
    c = Call("ot.sinkhorn_divergence", kwargs=kw, check="sinkhorn_divergence")
    return _mutate(d, c, dict(a=ARRAY, b=ARRAY, M_or_geometry=ARRAY, eps=FLOAT, M_aa=ARRAY, M_bb=ARRAY,
                              max_iter=COUNT, scaling=FLOAT, tol=FLOAT), {})


GEOM_METHODS = ("cost_matrix", "diameter")


def spec_DenseGeometry(d):
    n, m = d.int(1, 6), d.int(1, 6)
    c = Call("ot.DenseGeometry", kwargs=dict(M=_cost(d, n, m), dtype=d.pick([None, np.float64, np.float32])),
             method=d.pick(GEOM_METHODS + ("cost_range",)), check="geometry")
    return _mutate(d, c, dict(M=ARRAY, dtype=DTYPE), {}, points=("M",))


def spec_PointCloud(d):
    kw = _cloud_kwargs(d, weights=False)
    kw.update(cost=d.pick(["sqeuclidean", "euclidean", 1.0, 1.5, 3.0]), dtype=d.pick([None, np.float64, np.float32]))
    meth = d.pick(GEOM_METHODS + ("cost_block",))
    margs, mkw = (), {}
    if meth == "cost_block":
        n = kw["x"].shape[0]
        i0 = d.int(0, n - 1)
        margs = (i0, d.int(i0 + 1, n))
    c = Call("ot.PointCloud", kwargs=kw, method=meth, margs=margs, mkwargs=mkw, check="geometry")
    kinds = dict(x=ARRAY, y=ARRAY, cost=FLOAT, dtype=DTYPE)
    return _mutate(d, c, kinds, {}, points=("x", "y"))


def spec_assignment(d):
    n = d.int(1, 6)
    if d.coin(0.6):
        kw = dict(M=_cost(d, n, n))
    else:
        dim = d.int(1, 3)
        kw = dict(x=d.points(n, dim), y=d.points(n, dim) + 0.5, cost=d.pick(["sqeuclidean", "euclidean", 1.5]))
    if d.coin(0.5):
        kw.update(backend=d.pick(["auto", "numpy", "numba"]), exact=d.coin(0.8),
                  eps_final=d.pick([None, 1e-3, 1.0]), eps_divisor=d.pick([5.0, 2.0, 1.5]), rng=d.int(0, 9))
    c = Call("ot.assignment", kwargs=kw, check="assignment")
    return _mutate(d, c, dict(M=ARRAY, x=ARRAY, y=ARRAY, cost=FLOAT, exact=BOOL, eps_final=FLOAT, eps_divisor=FLOAT,
                              max_rounds=COUNT, rng=RNG), dict(backend=("auto", "numpy", "numba")),
                   points=("M",) if "M" in kw else ("x", "y"))


def spec_auction_transport(d):
    n, m = d.int(1, 5), d.int(1, 5)
    D = d.pick([2, 4, 6, 12])
    ka = d.g.multinomial(D, np.ones(n) / n).astype(float)
    kb = d.g.multinomial(D, np.ones(m) / m).astype(float)
    kw = dict(a=ka / D, b=kb / D, M=_cost(d, n, m))
    if d.coin(0.3):
        kw.update(denominator=D, max_size=d.pick([4000, 12, D]))
    c = Call("ot.auction_transport", kwargs=kw, check="auction_transport")
    return _mutate(d, c, dict(a=ARRAY, b=ARRAY, M=ARRAY, denominator=COUNT, max_size=COUNT),
                   dict(backend=("auto", "numpy", "numba")), points=("M",))


def _pmf_pair(d, path, check, base=False):
    n = d.int(1, 6)
    batch = d.coin(0.2)
    kw = dict(p=d.pmf(n, batch), q=d.pmf(n, batch))
    if d.coin(0.15):
        kw["q"] = kw["p"].copy()
    kinds = dict(p=ARRAY, q=ARRAY)
    if base:
        kw["base"] = d.pick([None, 2, math.e, 10])
        kinds["base"] = FLOAT
    return _mutate(d, Call(path, kwargs=kw, check=check), kinds, {}, points=())


def spec_tv_distance(d):
    return _pmf_pair(d, "divergences.tv_distance", "exact_div")


def spec_kl_divergence(d):
    return _pmf_pair(d, "divergences.kl_divergence", "exact_div", base=True)


def spec_js_divergence(d):
    return _pmf_pair(d, "divergences.js_divergence", "exact_div", base=True)


def spec_js_distance(d):
    return _pmf_pair(d, "divergences.js_distance", "exact_div", base=True)


def spec_optimal_discriminator(d):
    n = d.int(1, 6)
    kw = dict(p_data=d.pmf(n), p_g=d.pmf(n))
    if d.coin(0.4):
        kw.update(alpha=d.pick([1.0, 0.9, 0.5]), beta=d.pick([0.0, 0.1]))
    c = Call("divergences.optimal_discriminator", kwargs=kw, check="optdisc")
    return _mutate(d, c, dict(p_data=ARRAY, p_g=ARRAY, alpha=FLOAT, beta=FLOAT), {}, points=("p_data",))


def _gan_call(d, path):
    n = d.int(1, 6)
    p, q = d.pmf(n), d.pmf(n)
    D = d.pick(["opt", "rand", "edge"])
    Dv = p / (p + q) if D == "opt" and (p + q).all() else d.g.random(n)
    if D == "edge":
        Dv[0] = d.pick([0.0, 1.0])
    kw = dict(D=Dv, p_data=p, p_g=q)
    if d.coin(0.3):
        kw["weights"] = d.pick([1.0, 0.5, np.full(n, 0.1)])
    c = Call(path, kwargs=kw, check="gan")
    return _mutate(d, c, dict(D=ARRAY, p_data=ARRAY, p_g=ARRAY, weights=ARRAY), {}, points=())


def spec_gan_value(d):
    return _gan_call(d, "divergences.gan_value")


def spec_js_from_discriminator(d):
    return _gan_call(d, "divergences.js_from_discriminator")


def _est_kwargs(d):
    n, m, dim = d.int(2, 8), d.int(2, 8), d.int(1, 3)
    return dict(x=d.points(n, dim), y=d.points(m, dim) + d.pick([0.0, 1.0, 3.0]),
                n_boot=d.pick([0, 1, 2, 20]), rng=d.int(0, 9))


def spec_estimate_kl(d):
    kw = _est_kwargs(d)
    kw.update(method=d.pick(["knn", "knn-adaptive", "knn-ensemble", "knn-gauss-corrected"]),
              k=d.pick([None, 1, 2, 3]))
    if d.coin(0.3):
        kw.update(whiten=d.coin(), detect_infinite=d.coin(), backend=d.pick(["auto", "numpy", "numba", "numba-kdtree"]),
                  n_reference=d.pick([1, 2, 4]), ci_level=d.pick([0.9, 0.5]))
    c = Call("divergences.estimate_kl", kwargs=kw, check="estimate")
    return _mutate(d, c, dict(x=ARRAY, y=ARRAY, k=COUNT, n_boot=COUNT, ci_level=FLOAT, rng=RNG, whiten=BOOL,
                              infinite_ratio=FLOAT, n_reference=COUNT),
                   dict(method=("knn", "knn-adaptive", "knn-ensemble", "knn-gauss-corrected"),
                        backend=("auto", "numpy", "numba")), points=("x", "y"))


def _spec_js_tv(d, path):
    kw = _est_kwargs(d)
    kw.update(method=d.pick(["knn", "classifier", "histogram"]), k=d.pick([None, 1, 2, 3]))
    if kw["method"] == "histogram":
        kw["x"], kw["y"] = kw["x"][:, :2], kw["y"][:, :2]
        kw["bins"] = d.pick([None, 1, 2, 5])
    if kw["method"] == "classifier":
        kw.update(features=d.pick(["quadratic", "linear"]), test_fraction=d.pick([0.5, 0.3]), l2=d.pick([1e-4, 1.0]))
    c = Call(path, kwargs=kw, check="estimate")
    return _mutate(d, c, dict(x=ARRAY, y=ARRAY, k=COUNT, n_boot=COUNT, ci_level=FLOAT, rng=RNG,
                              test_fraction=FLOAT, l2=FLOAT, bins=COUNT),
                   dict(method=("knn", "classifier", "histogram"), features=("quadratic", "linear")),
                   points=("x", "y"))


def spec_estimate_js(d):
    return _spec_js_tv(d, "divergences.estimate_js")


def spec_estimate_tv(d):
    return _spec_js_tv(d, "divergences.estimate_tv")


def spec_parzen_log_likelihood(d):
    n, m, dim = d.int(1, 6), d.int(1, 6), d.int(1, 3)
    kw = dict(samples=d.points(n, dim), held_out=d.points(m, dim), bandwidth=d.pick([None, 0.5, 1.0, 0.1, "cv"]))
    if kw["bandwidth"] == "cv":
        kw["rng"] = d.int(0, 9)
        if d.coin(0.3):
            kw["grid"] = [0.3, 1.0]
    c = Call("divergences.parzen_log_likelihood", kwargs=kw, check="parzen")
    return _mutate(d, c, dict(samples=ARRAY, held_out=ARRAY, bandwidth=FLOAT, grid=ARRAY, cv_fraction=FLOAT,
                              batch_size=COUNT, rng=RNG), {}, points=("samples", "held_out"))


def spec_inception_score(d):
    n, k = d.int(1, 6), d.int(1, 4)
    P = d.g.random((n, k)) + 0.01
    if d.coin(0.3):
        P[0] = 0.0
        P[0, 0] = 1.0
    kw = dict(class_probs=P / P.sum(1, keepdims=True) if d.coin() else P, n_splits=d.pick([1, 1, 2, n]))
    c = Call("divergences.inception_score", kwargs=kw, check="inception")
    return _mutate(d, c, dict(class_probs=ARRAY, n_splits=COUNT), {}, points=("class_probs",))


FAMILY_METHODS = ("tv", "kl", "kl_reverse", "js", "w1", "w2", "sample")


def _family_call(d, path, kw, kinds, extra_methods=()):
    meth = d.pick(FAMILY_METHODS + tuple(extra_methods))
    margs, mkw = (), {}
    if meth == "sample":
        mkw = dict(n=d.int(1, 5), rng=d.int(0, 9))
        if d.coin(0.3):
            mkw["m"] = d.int(1, 5)
        kinds = {**kinds, "m:n": COUNT, "m:m": COUNT, "m:rng": RNG}
    elif meth in ("pdf0", "pdf1"):
        margs = (d.g.normal(size=d.int(1, 4)),)
    c = Call(path, kwargs=kw, method=meth, margs=margs, mkwargs=mkw, check="family")
    return _mutate(d, c, kinds, {}, points=())


def spec_Family(d):
    return Call("families.Family", method=d.pick(FAMILY_METHODS[:-1]), check="family")


def spec_ParallelLines(d):
    return _family_call(d, "families.ParallelLines", dict(theta=d.pick([0.0, 0.3, -1.0, 2.0, 1e-300, 1e300])),
                        dict(theta=FLOAT))


def spec_UniformSegments(d):
    a0, a1 = d.g.normal(size=2)
    L0, L1 = d.pick([1.0, 0.5, 2.0, 1e-10]), d.pick([1.0, 3.0, 0.1])
    kw = dict(a0=float(a0), b0=float(a0 + L0), a1=float(a1), b1=float(a1 + L1))
    return _family_call(d, "families.UniformSegments", kw, dict(a0=FLOAT, b0=FLOAT, a1=FLOAT, b1=FLOAT),
                        ("pdf0", "pdf1"))


def _spd(d, dim):
    A = d.g.normal(size=(dim, dim))
    return A @ A.T + d.pick([0.1, 1.0]) * np.eye(dim)


def spec_GaussianPair(d):
    dim = d.pick([1, 1, 2, 3])
    if dim == 1 and d.coin():
        kw = dict(mean0=float(d.g.normal()), cov0=d.pick([1.0, 0.5, 4.0]), mean1=float(d.g.normal()),
                  cov1=d.pick([1.0, 2.0, 1e-6]))
    else:
        kw = dict(mean0=d.g.normal(size=dim), cov0=_spd(d, dim), mean1=d.g.normal(size=dim), cov1=_spd(d, dim))
    return _family_call(d, "families.GaussianPair", kw, dict(mean0=ARRAY, cov0=ARRAY, mean1=ARRAY, cov1=ARRAY),
                        ("pdf0", "pdf1") if dim == 1 else ())


def spec_HistogramPair(d):
    n = d.int(1, 5)
    kw = dict(p=d.pmf(n), q=d.pmf(n))
    if d.coin(0.5):
        kw["support"] = d.points(n, d.int(1, 2))
    return _family_call(d, "families.HistogramPair", kw, dict(p=ARRAY, q=ARRAY, support=ARRAY))


def _gauss_fn(d, path):
    dim = d.pick([1, 1, 2])
    if dim == 1:
        kw = dict(m0=float(d.g.normal()), S0=d.pick([1.0, 0.5, 1e-3]), m1=float(d.g.normal()), S1=d.pick([1.0, 2.0]))
    else:
        kw = dict(m0=d.g.normal(size=dim), S0=_spd(d, dim), m1=d.g.normal(size=dim), S1=_spd(d, dim))
    c = Call(path, kwargs=kw, check="gaussian_fn")
    return _mutate(d, c, dict(m0=ARRAY, S0=ARRAY, m1=ARRAY, S1=ARRAY), {}, points=())


def spec_gaussian_kl(d):
    return _gauss_fn(d, "families.gaussian_kl")


def spec_gaussian_w2(d):
    return _gauss_fn(d, "families.gaussian_w2")


SPECS = {name[5:]: fn for name, fn in globals().items() if name.startswith("spec_")}

# known hard cases, run every time besides the drawn ones (extreme parameters and scales that
# random draws reach rarely)
_M6 = np.random.default_rng(0).random((6, 6))
_X6 = np.random.default_rng(0).normal(size=(6, 2))
_Y6 = np.random.default_rng(1).normal(size=(6, 2)) + 1
FIXED = {
    "assignment": [Call("ot.assignment", (_M6,), dict(eps_divisor=1 + 1e-15), check="assignment"),
                   Call("ot.assignment", (_M6,), dict(eps_final=1e16), check="assignment"),
                   Call("ot.assignment", (np.eye(3),), dict(max_rounds=2**64), check="assignment"),
                   Call("ot.assignment", kwargs=dict(x=[[0.0], [2.0]], y=[[2.0], [0.0]], cost=1e300),
                        check="assignment")],
    "sinkhorn": [Call("ot.sinkhorn", (None, None, np.array([[0.0, 1.0], [1.0, 0.0]])),
                      dict(eps=0.1, scaling=1 - 1e-16), check="sinkhorn"),
                 Call("ot.sinkhorn", ([0.5, 0.5], [0.25, 0.75], np.array([[0.0, 1.0], [1.0, 0.0]])),
                      dict(eps=1e16), check="sinkhorn"),
                 Call("ot.sinkhorn", (None, None, np.array([[0.0, 1.0], [1.0, 0.0]])),
                      dict(eps=0.1, g0=[BIG, BIG]), check="sinkhorn"),
                 Call("ot.sinkhorn", (None, None, np.eye(2)), dict(eps=0.1, f0=[[1.0, 2.0], [3.0]]),
                      check="sinkhorn")],
    "sinkhorn_divergence": [Call("ot.sinkhorn_divergence", (None, None, np.ones((2, 2))),
                                 dict(eps=0.1, M_aa=np.array([[0.0, NAN], [1.0, 0.0]]), M_bb=np.ones((2, 2))),
                                 check="sinkhorn_divergence")],
    "wasserstein_1d": [Call("ot.wasserstein_1d", ([-10.0], [1.0, -2.8, 9.7], [1.0], [4.0, 1.0, 1.0]),
                            dict(p=1e300), check="w1d"),
                       Call("ot.wasserstein_1d", (np.full(30, 1e307), np.full(30, -1e307)), check="w1d"),
                       Call("ot.wasserstein_1d", ([0.0, 1.0, -1e300], [2.0, 3.0], [1.0, 1.0, 0.0]),
                            dict(p=3), check="w1d"),
                       Call("ot.wasserstein_1d", ([0.0, 1.0], [2.0, 3.0]), dict(p=1100), check="w1d"),
                       Call("ot.wasserstein_1d", ([1e308], [0.0]), dict(p=2), check="w1d"),
                       Call("ot.wasserstein_1d", (None, np.array([1.0, 2.0])), check="w1d")],
    "wasserstein_1d_plan": [Call("ot.wasserstein_1d_plan", ([0.0, 1.0], [2.0, 3.0]), dict(p=1074), check="w1d")],
    "sliced_wasserstein": [Call("ot.sliced_wasserstein", ([[0.0, 0.0], [1.0, 0.0], [1e300, 0.0]],
                                                          [[2.0, 0.0], [3.0, 1.0]]),
                                dict(a=[1.0, 1.0, 0.0], p=2, n_projections=8, rng=0), check="sliced"),
                           Call("ot.sliced_wasserstein", (_X6, _X6), dict(n_projections=10**18, rng=0),
                                check="sliced"),
                           Call("ot.sliced_wasserstein", ([[0.0]], [[1.0]]), dict(n_projections=2, rng=-1),
                                check="sliced")],
    "wasserstein": [Call("ot.wasserstein", (np.r_[_X6, [[1e200, 0.0]]], np.r_[_Y6, [[1e200, 1.0]]]),
                         dict(p=2), check="wasserstein"),
                    Call("ot.wasserstein", ([[0.0, 0.0], [3.0, 0.0]], [[0.0, 3.0], [3.0, 3.0]]),
                         dict(method="auction", p=1e300), check="wasserstein")],
    "emd": [Call("ot.emd", (None, None, np.random.default_rng(0).random((5, 4))), dict(tol=1e-300), check="emd"),
            Call("ot.emd", (None, None, np.eye(3)), dict(max_iter=2**64), check="emd")],
    "PointCloud": [Call("ot.PointCloud", ([[1e200, 0.0]], [[0.0, 0.0]]), dict(cost="euclidean"),
                        method="cost_matrix", check="geometry"),
                   Call("ot.PointCloud", ([[1e-200, 0.0]], [[0.0, 0.0]]), dict(cost="euclidean"),
                        method="cost_matrix", check="geometry"),
                   Call("ot.PointCloud", ([[1.7]], [[0.2]]), dict(dtype=np.int64), method="diameter",
                        check="geometry")],
    "DenseGeometry": [Call("ot.DenseGeometry", ([[1.5, 2.5]],), dict(dtype=np.int64), method="cost_matrix",
                           check="geometry"),
                      Call("ot.DenseGeometry", ([[1.0]],), dict(dtype="bogus"), method="cost_matrix",
                           check="geometry")],
    "kl_divergence": [Call("divergences.kl_divergence", ([0.2, 0.8], [0.5, 0.5]), dict(base=0.5),
                           check="exact_div")],
    "js_distance": [Call("divergences.js_distance", ([0.2, 0.8], [0.5, 0.5]), dict(base=0.5), check="exact_div")],
    "optimal_discriminator": [Call("divergences.optimal_discriminator", ([1.0, 1e-300], [1.0, 1e30]),
                                   check="optdisc")],
    "inception_score": [Call("divergences.inception_score", ([[1e308, 1e308, 0.0], [1e308, 0.0, 1e308]],),
                             dict(n_splits=1), check="inception")],
    "estimate_kl": [Call("divergences.estimate_kl", (_X6, _X6 + 1), dict(n_boot=10**18), check="estimate")],
    "estimate_js": [Call("divergences.estimate_js", (_X6, _X6 + 1), dict(method="histogram", bins=10**5),
                         check="estimate"),
                    Call("divergences.estimate_js", (_X6[:2], _Y6[:2]), dict(method="classifier", rng=0),
                         check="estimate")],
    "parzen_log_likelihood": [Call("divergences.parzen_log_likelihood", (_X6, _Y6), dict(bandwidth=1e-100),
                                   check="parzen"),
                              Call("divergences.parzen_log_likelihood", (_X6 + 1e8, _Y6 + 1e8),
                                   dict(bandwidth=0.5), check="parzen")],
    "UniformSegments": [Call("families.UniformSegments", (0.0, 5e-324, 0.5, 2.0), method="tv", check="family"),
                        Call("families.UniformSegments", ("0", "1", "0.5", "2"), method="w1", check="family")],
    "GaussianPair": [Call("families.GaussianPair", (1e308, 1.0, 2.0, 4.0), method="tv", check="family"),
                     Call("families.GaussianPair", (0.0, 5e-324, 2.0, 4.0), method="js", check="family"),
                     Call("families.GaussianPair", (np.array([1e300, 1e300]), np.eye(2), np.zeros(2), 1e-300 * np.eye(2)),
                          method="kl", check="family"),
                     Call("families.GaussianPair", (np.array([1e200, 0.0]), np.eye(2), np.zeros(2), np.eye(2)),
                          method="kl", check="family")],
    "ParallelLines": [Call("families.ParallelLines", (0.3,), method="sample", margs=(10**18,), check="family"),
                      Call("families.ParallelLines", ("0.3",), method="w1", check="family")],
}


def _public_names():
    import kantorovich.divergences as dv
    import kantorovich.families as fm
    import kantorovich.ot as ot

    return sorted(set(ot.__all__) | set(dv.__all__) | set(fm.__all__))


NAMES = _public_names()
SEVERE = ("HANG", "CRASH", "SILENT-NAN", "WRONG", "MUTATES", "CHECKER-ERROR")
ERRORS = ("BAD-ERROR", "WARNS")


@pytest.fixture(scope="module")
def runner():
    r = Runner()
    yield r
    r.close()


_OUTCOMES: dict = {}


def _outcomes(name, runner, n_examples):
    key = (name, n_examples)
    if key in _OUTCOMES:
        return _OUTCOMES[key]
    found = []
    for call in FIXED.get(name, []):
        found += runner.run(call)

    @settings(max_examples=n_examples, derandomize=True, database=None, deadline=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data):
        found.extend(runner.run(SPECS[name](Draw(data.draw))))

    run()
    _OUTCOMES[key] = found
    return found


def _report(name, outcomes, classes):
    bad = [o for o in outcomes if o.cls in classes]
    if not bad:
        return
    seen, lines = set(), []
    for o in bad:
        k = (o.cls, o.call, o.reason)
        if k not in seen:
            seen.add(k)
            lines.append(f"  {o}")
    pytest.fail(f"{name}: {len(bad)} of {len(outcomes)} calls {'/'.join(classes)}:\n" + "\n".join(lines),
                pytrace=False)


def test_every_public_name_is_fuzzed():
    missing = [n for n in NAMES if n not in SPECS]
    assert not missing, f"public names without a fuzz spec in tests/api/test_fuzz_api.py: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_fuzz(name, runner):
    """No hang, crash, silent NaN, wrong value or mutated input."""
    _report(name, _outcomes(name, runner, MAX_EXAMPLES), SEVERE)


@pytest.mark.parametrize("name", NAMES)
def test_fuzz_errors(name, runner):
    """Bad input raises ValueError / TypeError naming an argument; no numpy warning leaks."""
    _report(name, _outcomes(name, runner, MAX_EXAMPLES), ERRORS)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_fuzz_many(name, runner):
    _report(name, _outcomes(name, runner, SLOW_EXAMPLES), SEVERE + ERRORS)
