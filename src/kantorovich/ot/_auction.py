r"""Exact assignment by epsilon-scaling auction, with a certificate of optimality.

Problem (n rows, n columns, uniform weights 1/n):

.. math::
    \mathrm{OT}(C) = \min_{\sigma \in S_n} \frac1n \sum_i C_{i\sigma(i)}
                   = \max_{f_i + g_j \le C_{ij}} \frac1n\sum_i f_i + \frac1n\sum_j g_j .

The auction (Bertsekas 1979, 1988) keeps column prices ``p`` and, phase by phase for a
decreasing ``eps``, lets every unassigned row bid (Jacobi: all of them at once) for its best
column ``j1 = argmin_j C_ij + p_j`` the amount ``p_j1 + (w2 - w1) + eps``; each column takes the
highest bid and evicts its previous owner. A phase ends when all rows are assigned; then every
row satisfies eps-complementary slackness ``C_{i s(i)} + p_{s(i)} <= min_j (C_ij + p_j) + eps``.

Certificate. With ``g = -p`` and ``f_i = min_j C_ij - g_j``, (f, g) is dual feasible and the
*summed* cost of the auction's permutation exceeds the dual objective by
``S = sum_i (C_{i s(i)} - f_i - g_{s(i)}) <= n eps``; in the units of ``value`` (a mean) that is
``S / n <= eps``. Integer costs: the optimum is an integer, so ``S < 1`` proves optimality
(guaranteed by ``eps < 1/n``).

Finishing to the exact optimum for real costs. Every reduced cost ``R_ij = C_ij - f_i - g_j``
is >= 0, so any optimal permutation ``pi`` has ``sum_i R_{i pi(i)} <= S`` and hence uses only
edges with ``R_ij <= S``. The exact assignment problem restricted to those candidate edges
(a few per row once eps is small) therefore has the same optimum as the full problem; it is
solved by scipy's sparse Jonker-Volgenant (``min_weight_full_bipartite_matching``). Tight
dual potentials are then rebuilt by shortest paths on the candidate graph (column shifts
``phi`` in ``[-S, 0]``), which keeps every non-candidate edge feasible because its reduced cost
exceeds ``S``. The returned certificate is measured, not assumed: ``duality_gap`` and
``info['dual_violation'] = max_ij f_i + g_j - C_ij`` over *all* n^2 pairs.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._array_api import is_cupy, resolve_backend, to_host
from .._results import AssignmentResult, EMDResult
from .._validation import (
    INT64_MAX,
    check_cost_matrix,
    check_int,
    check_memory,
    check_positive,
    check_rng,
    check_sample_pair,
    check_weights,
    describe,
    pow2_exponent,
)
from .._progress import advance, progress_bar
from .._warnings import warn
from ..exceptions import ConvergenceWarning
from ._costs import KIND_DENSE, cost_block, parse_cost
from ._geometry import DenseGeometry, PointCloud, batch_size_of

__all__ = ["assignment", "auction_transport"]

_EMD_HINT = "use the general exact solver kantorovich.ot.emd(a, b, M) for it"
_EPS_FLOOR = 2.0 ** -42  # smallest eps in scaled cost units (costs scaled to max |C| in [0.5, 1))
_MACH = np.finfo(np.float64).eps
#: the most (in scaled cost units) by which an assignment proven "exact" may exceed the optimum
#: through the rounding allowance of its certificate
_CERT_MAX_EXCESS = 2.0 ** -20
_LIST_K = 16  # per-row lists of the K best columns (numba kernel)
_PAR_MIN = 512  # bid in parallel only when at least this many rows are unassigned
_PAR_N = 1500  # below this n the numba kernels run on one thread (parallel start-up costs more)


class _threads:
    """Run numba kernels single-threaded for small n (thread wake-ups cost more than they give,
    badly so on a loaded machine); restores the thread count afterwards."""

    def __init__(self, n: int, backend: str):
        self.on = backend in ("numba", "cuda") and n < _PAR_N
        self.saved = None

    def __enter__(self):
        if self.on:
            import numba

            self.saved = numba.get_num_threads()
            numba.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import numba

            numba.set_num_threads(self.saved)
        return False


# --------------------------------------------------------------------------------------------
# input handling
# --------------------------------------------------------------------------------------------

class _Problem:
    """Costs (dense or point cloud) after validation and power-of-two scaling: ``kind`` the
    kernels' code of :mod:`._costs` and ``cost_p`` the cost's exponent (``p`` names the prices
    in this module, as in Bertsekas' papers).

    The kernels' costs are ``kscale C`` (dense) or ``kscale |x_i - y_j|^p`` of the stored
    points, which may be the caller's times a power of two 2^-k (points at 1e-200 would square
    to 0); ``scale`` turns a true cost into a kernel cost (``kscale`` 2^-kp; ``kscale`` itself
    for a dense matrix), and every answer is divided by it."""

    def __init__(self, C, x, y, kind, cost_p, scale, n, integer, c_range, kscale=None, k=0):
        self.C, self.x, self.y = C, x, y
        self.kind, self.cost_p, self.scale = kind, cost_p, scale
        self.kscale = scale if kscale is None else kscale
        self.k = k  # the stored points are the caller's times 2^-k
        self.n, self.integer, self.c_range = n, integer, c_range

    @property
    def args(self):
        return (self.C, self.x, self.y, self.kind, self.cost_p, self.kscale)

    def dense(self) -> np.ndarray:
        """Scaled dense cost matrix (numpy reference paths, small n)."""
        if self.kind == KIND_DENSE:
            return self.C
        return self.kscale * cost_block(self.x, self.y, self.cost_p)


def _matched_value(prob: _Problem, perm: np.ndarray) -> float:
    """The mean cost of the matched pairs (x_i, y_perm(i)), each |x_i - y_j|^p evaluated at the
    power-of-two scale of its own largest coordinate difference, then brought back by the
    points' 2^k: right when the kernels' squared differences cannot resolve it (points that
    span 1e200 and 0.3 square the small differences to 0). A cost below float64's range is 0."""
    diff = prob.x - prob.y[perm]
    _, e = np.frexp(np.max(np.abs(diff), axis=1))  # each row's largest |difference| = m 2^e
    r = np.ldexp(diff, -e[:, None])
    norm = np.sqrt(np.einsum("ij,ij->i", r, r))  # in [1/2, sqrt(d)], or 0
    t = (e + prob.k) * prob.cost_p  # the cost is norm^p 2^t
    ti = np.floor(t)
    with np.errstate(under="ignore", over="ignore"):
        cost = np.ldexp(norm ** prob.cost_p * np.exp2(t - ti), ti.astype(np.int64))
        total = float(cost.sum())
        return total / cost.size if math.isfinite(total) else float((cost / cost.size).sum())


def _pow2_below_reciprocal(cmax: float) -> float:
    """The power of two just below ``1 / cmax``: s with s * cmax in [0.5, 1), a factor that
    rescales float costs exactly (1.0 for a cmax that is 0 or not finite)."""
    if not np.isfinite(cmax) or cmax <= 0:
        return 1.0
    _, e = math.frexp(cmax)  # cmax = m * 2**e, m in [0.5, 1)
    # subnormal costs (cmax < 2**-1022) would need s > 2**1023, which overflows: the largest
    # finite power of two still brings them to >= 2**-52 (the eps floor is 2**-42 below them)
    return math.ldexp(1.0, min(-e, 1023))


def _prepare(M, x, y, cost) -> _Problem:
    if M is not None and (x is not None or y is not None):
        raise ValueError("give either a cost matrix `M` or points `x` and `y`, not both.")
    if M is None:
        if x is None or y is None:
            raise ValueError("`M` or both `x` and `y` must be given; got neither a cost matrix nor two point clouds.")
        c = parse_cost(cost)
        kind, cost_p = c.kind, c.p
        xa, ya = check_sample_pair(to_host(x) if is_cupy(x) else x, to_host(y) if is_cupy(y) else y)
        if xa.shape[0] != ya.shape[0]:
            raise ValueError(
                f"`x` and `y` must have the same number of points for the assignment problem; got "
                f"{xa.shape[0]} and {ya.shape[0]}: {_EMD_HINT} with weights.")
        # points far from unit scale are brought to it by an exact power of two 2^-k: the
        # kernels square differences, which under- or overflow at 1e-200 or 1e200
        k = pow2_exponent(xa, ya, p=2.0)
        if k and -k * cost_p > 1000:  # costs below float64's range (subnormal points, squared):
            k = 0  # every one is 0 in float64 and every assignment optimal; left as they are
        if k:
            xa, ya = np.ldexp(xa, -k), np.ldexp(ya, -k)
        lo = np.minimum(xa.min(0), ya.min(0))
        hi = np.maximum(xa.max(0), ya.max(0))
        with np.errstate(over="ignore"):
            w = hi - lo
            diam = float(np.sqrt((w ** 2).sum()))
        if not math.isfinite(diam):
            # the kernels evaluate |x_i - y_j|^2 before its root or power: it must be finite
            with np.errstate(over="ignore"):
                top = float(w.max())
                span = top * float(np.sqrt(((w / top) ** 2).sum())) if math.isfinite(top) else top
            raise ValueError(
                f"`x` and `y` are too spread out for the assignment kernels: squared distances "
                f"up to {span:.3g}**2 overflow float64. Rescale `x` and `y` (the optimal "
                "assignment does not change when both are multiplied by one positive factor).")
        with np.errstate(over="ignore"):
            cmax = float(np.float64(diam) ** cost_p)  # a Python float power raises OverflowError
        if not math.isfinite(cmax) or (cmax > 0 and math.log2(cmax) + k * cost_p >= 1024):
            e10 = math.log10(diam) + k * math.log10(2.0)  # the diameter, which may overflow too
            raise ValueError(
                f"`cost` = {cost!r} is too large for points this far apart: the largest cost "
                f"{10 ** (e10 % 1):.3g}e+{int(e10 // 1)}**{cost_p:g} overflows float64. Use a "
                "smaller power or rescale `x` and `y`.")
        s = _pow2_below_reciprocal(cmax)
        kp = -k * cost_p  # (|k p| <= 1000 and s * cmax in [1/2, 1): finite and > 0)
        scale = math.ldexp(s, int(kp)) if float(kp).is_integer() else s * 2.0 ** kp
        return _Problem(np.zeros((1, 1)), np.ascontiguousarray(xa), np.ascontiguousarray(ya),
                        kind, cost_p, scale, xa.shape[0], False, cmax * s, kscale=s, k=k)
    Mh = to_host(M) if is_cupy(M) else M
    C = check_cost_matrix(Mh, "M")
    n, m = C.shape
    if n != m:
        raise ValueError(f"`M` must be square for the assignment problem; got shape {C.shape}: {_EMD_HINT}.")
    cmin, cbig, cmax, whole = _dense_stats(C)
    if cmax > 1e300:
        raise ValueError(f"`M` must have costs of magnitude below 1e300; got {cmax!r}.")
    integer = whole and cmax < 2.0 ** 50
    s = _pow2_below_reciprocal(cmax)
    Cs = np.ascontiguousarray(C * s)  # exact: multiplication by a power of two
    c_range = float(cbig * s - cmin * s)  # Cs.max() - Cs.min() (the products are exact or
    # rounded monotonically, as Cs's entries are)
    return _Problem(Cs, np.zeros((1, 1)), np.zeros((1, 1)), KIND_DENSE, 2.0, s, n, integer, c_range)


#: a cost matrix of at least this many entries takes its statistics from the numba pass
_DENSE_STATS_NUMBA = 1 << 20


def _dense_stats(C) -> tuple[float, float, float, bool]:
    """(min C, max C, max |C|, every entry a whole number) of a finite cost matrix: numpy for a
    small one, one parallel numba pass above ``_DENSE_STATS_NUMBA`` entries (at n = 8000 the
    numpy passes and their temporaries took about a second)."""
    if C.size < _DENSE_STATS_NUMBA or C.shape[1] == 0:
        return (float(C.min()), float(C.max()), float(np.abs(C).max()),
                bool(np.all(C == np.rint(C))))
    from ._kernels.auction_numba import dense_stats

    n = C.shape[0]
    lo, hi, top, whole = np.empty(n), np.empty(n), np.empty(n), np.empty(n, dtype=np.uint8)
    dense_stats(np.ascontiguousarray(C, dtype=np.float64), lo, hi, top, whole)
    return float(lo.min()), float(hi.max()), float(top.max()), bool(whole.all())


# --------------------------------------------------------------------------------------------
# numpy reference of the same algorithm
# --------------------------------------------------------------------------------------------

def _auction_phase_numpy(C, p, row_to_col, col_to_row, eps, max_rounds):
    """The numpy reference of ``auction_numba.auction_phase`` (same rules, same tie-breaks)."""
    n = C.shape[0]
    assigned = np.flatnonzero(row_to_col >= 0)
    if assigned.size:
        W = C[assigned] + p
        keep = W[np.arange(assigned.size), row_to_col[assigned]] <= W.min(1) + eps
        drop = assigned[~keep]
        col_to_row[row_to_col[drop]] = -1
        row_to_col[drop] = -1
    rounds = bids = 0
    while True:
        rows = np.flatnonzero(row_to_col < 0)
        if rows.size == 0:
            return rounds, bids
        if rounds >= max_rounds:
            return -1, bids
        rounds += 1
        bids += rows.size
        W = C[rows] + p
        j1 = W.argmin(1)
        w1 = W[np.arange(rows.size), j1]
        if n > 1:
            W[np.arange(rows.size), j1] = np.inf
            w2 = W.min(1)
        else:
            w2 = w1
        bid = p[j1] + (w2 - w1) + eps
        order = np.lexsort((rows, -bid, j1))  # by column, highest bid, lowest row
        first = np.ones(order.size, dtype=bool)
        first[1:] = j1[order][1:] != j1[order][:-1]
        win = order[first]
        cols, winners = j1[win], rows[win]
        old = col_to_row[cols]
        row_to_col[old[old >= 0]] = -1
        col_to_row[cols] = winners
        row_to_col[winners] = cols
        p[cols] = bid[win]


def _row_min_numpy(C, v, perm):
    W = C - v[None, :]
    u = W.min(1)
    r = W[np.arange(C.shape[0]), perm] - u
    return u, r


def _spfa_numpy(indptr, indices, red, perm, max_passes):
    """Bellman-Ford (vectorised passes) for the column shifts of ``spfa_columns``."""
    n = perm.size
    rows = np.repeat(np.arange(n), np.diff(indptr))
    match = np.full(n, np.inf)
    is_m = indices == perm[rows]
    match[rows[is_m]] = red[is_m]
    phi = np.zeros(n)
    for _ in range(max_passes):
        cand = phi[perm[rows]] + red - match[rows]
        new = phi.copy()
        np.minimum.at(new, indices, cand)
        if np.array_equal(new, phi):
            return phi, True
        phi = new
    return phi, False


# --------------------------------------------------------------------------------------------
# drivers
# --------------------------------------------------------------------------------------------

#: most phases an eps schedule may have (eps0 / eps_final is at most about 2**44 in scaled
#: units, so the default eps_divisor 5 gives about 20 phases, eps_divisor 1.01 about 3000)
MAX_PHASES = 10_000


def _schedule(eps0: float, eps_final: float, theta: float) -> list[float]:
    out = []
    e = max(eps0, eps_final)
    if e > eps_final and math.log(e / eps_final) > MAX_PHASES * math.log(theta):
        raise ValueError(
            f"`eps_divisor` must be large enough for an eps schedule of at most {MAX_PHASES} phases; got "
            f"{theta!r}, which needs about {math.log(e / eps_final) / math.log(theta):.3g} phases to go "
            f"from eps = {e:.3g} to {eps_final:.3g} (scaled costs). Use an `eps_divisor` of 2 to 10.")
    while e > eps_final:
        out.append(e)
        nxt = e / theta
        if not nxt < e:  # theta within rounding of 1
            raise ValueError(f"`eps_divisor` must be a float noticeably above 1; got {theta!r}, "
                             "which does not change eps in floating point.")
        e = nxt
    out.append(eps_final)
    return out


class _Ops:
    """The kernels of one backend (numpy reference or numba), same signatures."""

    def __init__(self, prob: _Problem, backend: str):
        self.prob, self.backend = prob, backend
        if backend == "numba":
            from ._kernels import auction_numba as k

            self.k = k
            n = prob.n
            K = min(_LIST_K, n)
            self.cand = np.zeros((n, K), dtype=np.int64)
            self.ccnt = np.zeros(n, dtype=np.int64)
            self.cthr = np.full(n, -np.inf)
        else:
            self.Cd = prob.dense()

    def phase(self, p, r2c, c2r, eps, max_rounds):
        if self.backend == "numba":
            return self.k.auction_phase(*self.prob.args, p, r2c, c2r, eps, max_rounds,
                                        self.cand, self.ccnt, self.cthr, _PAR_MIN)
        return _auction_phase_numpy(self.Cd, p, r2c, c2r, eps, max_rounds)

    def row_min(self, v, perm):
        if self.backend == "numba":
            return self.k.row_min_reduced(*self.prob.args, v, perm)
        return _row_min_numpy(self.Cd, v, perm)

    def candidates(self, u, v, thr):
        n = self.prob.n
        if self.backend == "numba":
            cnt = self.k.count_candidates(*self.prob.args, u, v, thr)
            indptr = np.zeros(n + 1, dtype=np.int64)
            np.cumsum(cnt, out=indptr[1:])
            idx, cost, red = self.k.fill_candidates(*self.prob.args, u, v, thr, indptr)
            return indptr, idx, cost, red
        R = self.Cd - u[:, None] - v[None, :]
        mask = R <= thr
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(mask.sum(1), out=indptr[1:])
        rr, cc = np.nonzero(mask)
        return indptr, cc.astype(np.int64), self.Cd[rr, cc], R[rr, cc]

    def count(self, u, v, thr) -> int:
        if self.backend == "numba":
            return int(self.k.count_candidates(*self.prob.args, u, v, thr).sum())
        return int(((self.Cd - u[:, None] - v[None, :]) <= thr).sum())

    def spfa(self, indptr, idx, red, perm, max_passes):
        if self.backend == "numba":
            return self.k.spfa_columns(indptr, idx, red, perm, max_passes)
        return _spfa_numpy(indptr, idx, red, perm, max_passes)

    def violation(self, f, g) -> float:
        if self.backend == "numba":
            return float(self.k.dual_violation(*self.prob.args, f, g))
        return float((f[:, None] + g[None, :] - self.Cd).max())

    def matched(self, perm):
        if self.backend == "numba":
            return self.k.matched_costs(*self.prob.args, perm)
        return self.Cd[np.arange(self.prob.n), perm]


def _finish(ops: _Ops, perm, u, v, S, info):
    """Exact optimum on the candidate edges R_ij <= S (+ rounding margin); tight duals."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    n = ops.prob.n
    mag = max(1.0, float(np.abs(u).max()), float(np.abs(v).max()))
    delta = 4.0 * (n + 4) * _MACH * mag
    thr = S + delta
    t0 = time.perf_counter()
    indptr, idx, cost, red = ops.candidates(u, v, thr)
    info["candidate_edges"] = int(indptr[-1])
    # positive weights that order the candidate matchings as the costs do (scipy wants w != 0)
    w = red + (2.0 * thr + 1e-300)
    G = csr_matrix((w, idx, indptr), shape=(n, n))
    _, cols = min_weight_full_bipartite_matching(G)
    pi = np.asarray(cols, dtype=np.int64)
    info["t_sparse_lsap_s"] = time.perf_counter() - t0
    phi, ok = ops.spfa(indptr, idx, red, pi, max(64, n))
    info["potentials_settled"] = bool(ok)
    if not ok:  # cannot happen in exact arithmetic (pi optimal on the candidate graph)
        return pi, u, v, False
    v2 = v + phi
    c_pi = ops.matched(pi)
    u2 = c_pi - v2[pi]
    return pi, u2, v2, True


def _tight_potentials(ops: _Ops, perm, u, v, S, info):
    """Potentials with equality on the optimal matching ``perm`` (the integer-cost proof):
    the auction's feasible ``u``, ``v`` leave a summed slack ``S`` < 1 cost unit on ``perm``,
    a duality gap the value does not have. The column shifts of :func:`_finish`, by shortest
    paths on the candidate edges ``R_ij <= S`` (``perm`` is optimal there too; no matching is
    solved again), close it. Integer costs are dense, so the candidate graph has at most the
    n^2 entries of the cost matrix. ``(u, v)`` is kept when the shifts do not settle."""
    n = ops.prob.n
    mag = max(1.0, float(np.abs(u).max()), float(np.abs(v).max()))
    indptr, idx, _, red = ops.candidates(u, v, S + 4.0 * (n + 4) * _MACH * mag)
    phi, ok = ops.spfa(indptr, idx, red, perm, max(64, n))
    info["potentials_settled"] = bool(ok)
    if not ok:  # cannot happen in exact arithmetic (perm optimal on the candidate graph)
        return u, v
    v2 = v + phi
    return ops.matched(perm) - v2[perm], v2


def _solve_cpu(prob: _Problem, backend: str, exact: bool, eps_final, theta: float, max_rounds: int,
               progress: bool = False):
    bars: list = []  # the progress bar, opened once the schedule's length is known
    try:
        return _solve_cpu_phases(prob, backend, exact, eps_final, theta, max_rounds,
                                 bars if progress else None)
    finally:
        for bar in bars:
            bar.close()


def _tick(bar, eps: float, scale: float) -> None:
    """One phase done on the progress bar (if any), showing its eps in cost units."""
    if bar is not None:
        advance(bar, 1, f"eps={eps / scale:.3g}")


def _solve_cpu_phases(prob: _Problem, backend: str, exact: bool, eps_final, theta: float,
                      max_rounds: int, bars: list | None):
    n = prob.n
    info: dict[str, Any] = {"cost_scale": prob.scale}
    ops = _Ops(prob, backend)
    t0 = time.perf_counter()
    if eps_final is None:
        if prob.integer:
            eps_f = prob.scale / (n + 1)
        else:
            eps_f = max(prob.c_range / (4.0 * n * n), _EPS_FLOOR)
    else:
        eps_f = max(eps_final * prob.scale, _EPS_FLOOR)
    eps0 = max(prob.c_range / 16.0, eps_f)
    p = np.zeros(n)
    r2c = np.full(n, -1, dtype=np.int64)
    c2r = np.full(n, -1, dtype=np.int64)
    rounds = bids = 0
    phases = 0
    eps = eps0
    converged = True
    schedule = _schedule(eps0, eps_f, theta)
    bar = progress_bar(bars is not None, total=len(schedule), desc=f"assignment n={n}", unit="phase")
    if bar is not None:
        bars.append(bar)
    for eps in schedule:
        r, b = ops.phase(p, r2c, c2r, eps, max_rounds)
        _tick(bar, eps, prob.scale)
        phases += 1
        bids += b
        if r < 0:
            converged = False
            break
        rounds += r
    if not converged:
        warn(f"the auction hit `max_rounds` = {max_rounds} at eps = {eps / prob.scale:.3g}; "
                      "raise `max_rounds` or `eps_final`.", ConvergenceWarning)
        # complete the permutation arbitrarily so that a valid (certified-bound) answer returns
        free_c = np.flatnonzero(c2r < 0)
        r2c[r2c < 0] = free_c
    v = -p
    perm = r2c.copy()
    u, r = ops.row_min(v, perm)
    S = float(r.sum())
    info.update(t_auction_s=time.perf_counter() - t0, phases=phases, bids=int(bids),
                eps_final=eps / prob.scale, pre_finish_gap=S / n / prob.scale)
    # adaptive refinement: too many candidate edges -> continue the scaling at smaller eps
    if exact and not (prob.integer and S / prob.scale < 1.0 - 1e-9) and converged:
        cap = 48 * n + 64
        while eps > _EPS_FLOOR:
            mag = max(1.0, float(np.abs(u).max()), float(np.abs(v).max()))
            if ops.count(u, v, S + 4.0 * (n + 4) * _MACH * mag) <= cap:
                break
            more = _schedule(eps / theta, max(eps / theta ** 2, _EPS_FLOOR), theta)
            if bar is not None:
                bar.total += len(more)
            for e2 in more:
                r_, b_ = ops.phase(p, r2c, c2r, e2, max_rounds)
                _tick(bar, e2, prob.scale)
                bids += b_
                rounds += max(r_, 0)
                phases += 1
                eps = e2
            v = -p
            perm = r2c.copy()
            u, r = ops.row_min(v, perm)
            S = float(r.sum())
        info.update(phases=phases, bids=int(bids), eps_final=eps / prob.scale,
                    pre_finish_gap=S / n / prob.scale)
    eps_bound = eps / prob.scale
    perm, f, g, certified_exact, method = _certify_and_finish(ops, prob, perm, u, v, S, exact, info)
    return perm, f, g, eps_bound, certified_exact, method, rounds, info


def _certify_and_finish(ops, prob, perm, u, v, S: float, exact: bool, info: dict):
    """Shared tail of the CPU and GPU solvers: prove optimality or finish exactly, then measure
    the dual violation over all n^2 pairs. Returns (perm, f, g, certified_exact, method)."""
    certified_exact = False
    method = "auction"
    if prob.integer and S / prob.scale < 1.0 - 1e-9:
        certified_exact = True  # integer optimum within a gap < 1 of an integer cost
        method = "auction (integer costs)"
        f, g = u, v
        if exact and S > 0.0:
            f, g = _tight_potentials(ops, perm, u, v, S, info)
    elif exact:
        t1 = time.perf_counter()
        perm, f, g, certified_exact = _finish(ops, perm, u, v, S, info)
        info["t_finish_s"] = time.perf_counter() - t1
        method = "auction + sparse JV finish"
    else:
        f, g = u, v
    viol = ops.violation(f, g)
    mag = max(1.0, float(np.abs(f).max()), float(np.abs(g).max()))
    info["dual_violation"] = max(viol, 0.0) / prob.scale
    # The certificate: f_i + g_j <= C_ij + 16 eps mag on all pairs and equality on the matching
    # bound the value's excess over the optimum by n * 16 eps mag (scaled costs lie in [-1, 1]).
    # Potentials far larger than the costs make that allowance meaningless: no proof then.
    if viol > 16 * _MACH * mag or prob.n * 16 * _MACH * mag > _CERT_MAX_EXCESS:
        certified_exact = False
    return perm, f, g, certified_exact, method


def assignment(M=None, *, x=None, y=None, cost="sqeuclidean", backend="auto", exact=True,
               eps_final=None, eps_divisor=5.0, max_rounds=1_000_000, rng=None,
               scaling=None, progress=False) -> AssignmentResult:
    r"""Exact optimal assignment (OT between two uniform n-point measures) by auction.

    Solves :math:`\min_{\sigma} \frac1n\sum_i C_{i\sigma(i)}` by the epsilon-scaling forward
    auction with Jacobi-parallel bidding, then (``exact=True``) finishes to the exact optimum
    and returns a measured certificate (see the module docstring for the proof).

    Parameters
    ----------
    M : array (n, n), DenseGeometry or PointCloud, optional
        Cost matrix (finite; NaN or inf raise). Non-square: use :func:`kantorovich.ot.emd`.
        A :class:`~kantorovich.ot.DenseGeometry` is its matrix; a
        :class:`~kantorovich.ot.PointCloud` is its points and its cost, as ``x``, ``y`` and
        ``cost`` below (then ``cost`` is ignored).
    x, y : arrays (n, d), optional
        Point clouds instead of ``M``; the cost is computed on the fly (no n x n matrix).
    cost : {"sqeuclidean", "euclidean"} or float p > 0
        Ground cost for points: :math:`|x_i - y_j|^2`, :math:`|x_i - y_j|` or
        :math:`|x_i - y_j|^p` (the vocabulary of docs/costs.md).
    backend : {"auto", "numpy", "numba", "cuda", "numba_cuda"}
        ``"auto"``: ``"cuda"`` for CuPy inputs, else ``"numba"`` (parallel CPU kernels).
        ``"cuda"`` is the numba-cuda auction (``"numba_cuda"``; docs/arrays.md "Backends").
        ``"numpy"`` is the slow reference of the same algorithm (small n).
    exact : bool
        Finish to the exact optimum (default). ``False`` stops after the auction and returns
        its certified bound (``eps_bound``).
    eps_final : float, optional
        Last eps of the schedule, in cost units. Default: ``1/(n+1)`` for integer costs (exact
        by integrality), else ``range(C) / (4 n^2)``, refined automatically when the finisher's
        candidate graph would be too large. Values above the cost range ``max C - min C`` are
        clamped to it (every assignment is then eps-optimal).
    eps_divisor : float > 1
        eps is divided by this factor from phase to phase (default 5; Bertsekas' theta). A
        ValueError names it when the schedule would need more than ``MAX_PHASES`` (10 000)
        phases.
    max_rounds : int
        Bidding rounds allowed per phase before a ConvergenceWarning.
    rng : None, int or Generator
        Accepted for API symmetry; the algorithm is deterministic and does not use it.
    scaling : float > 1, optional
        Deprecated name of ``eps_divisor`` (a DeprecationWarning; removed in the next
        release): :func:`kantorovich.ot.sinkhorn`'s ``scaling`` is the factor in (0, 1) that
        *multiplies* eps per stage (GeomLoss's convention), so one name meant two opposite
        things.
    progress : bool
        Show a progress bar (tqdm, on stderr) of the eps-scaling phases, with the current
        eps; ``leave=False``: it disappears when the solve ends (the convention of
        :func:`kantorovich.ot.sinkhorn`). The last phases and the exact finish take most of
        the time (x, y uniform in the unit square, n = 10^4: 12 phases, 25 s on 2 shared cores,
        about 4x per doubling of n). Shown for a single
        problem on the CPU backends; a batch and ``backend="cuda"`` show none.

    Returns
    -------
    AssignmentResult
        ``value`` (mean matched cost), ``perm`` (row i -> column perm[i]), potentials ``f, g``
        with :math:`f_i + g_j \le C_{ij}` (up to rounding) and ``mean(f) + mean(g) =
        value - duality_gap``, ``eps_bound`` (a-priori bound on the auction's suboptimality
        of ``value`` before finishing, = final eps: the summed cost is within ``n * eps``),
        ``exact`` (optimality proven), ``info`` (timings, bids, phases, candidate edges,
        ``dual_violation`` measured over all pairs, ``pre_finish_gap``).

    Notes
    -----
    Time: each bidding round costs O(#unassigned * n) (parallel over rows); the number of
    rounds depends on the data (Bertsekas: O(n C / eps) bids per phase in the worst case,
    far fewer in practice on geometric costs). The finisher costs a few O(n^2) sweeps plus a
    sparse JV on ~ a few edges per row. Memory O(n) beyond the input for point clouds.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import assignment
    >>> M = np.array([[4., 1., 3.], [2., 0., 5.], [3., 2., 2.]])
    >>> r = assignment(M)
    >>> r.perm.tolist(), round(r.value * 3, 12), r.exact
    ([1, 0, 2], 5.0, True)
    """
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be a bool; got {describe(progress)}.")
    if batch_size_of(M if M is not None else x) is not None:  # a batch (docs/batch.md)
        from ._batch import assignment_batch

        kw = {} if scaling is None else {"scaling": scaling}  # the deprecated name warns per call
        return assignment_batch(M, x=x, y=y, cost=cost, backend=backend, exact=exact,
                                eps_final=eps_final, eps_divisor=eps_divisor,
                                max_rounds=max_rounds, rng=rng, **kw)
    backend = resolve_backend(backend, "assignment", M, x, y)  # "auto" on the host: numba, below
    if not isinstance(exact, (bool, np.bool_)):
        raise TypeError(f"`exact` must be a bool; got {describe(exact)}.")
    if scaling is not None:
        if eps_divisor != 5.0:
            raise TypeError("give `eps_divisor` or its deprecated name `scaling`, not both.")
        warn("assignment(scaling=...) is deprecated: pass `eps_divisor` (eps is divided by it "
             "per phase; sinkhorn's `scaling` multiplies eps).", DeprecationWarning)
        eps_divisor = scaling
    theta = check_positive(eps_divisor, "eps_divisor")
    if theta <= 1.0:
        raise ValueError(f"`eps_divisor` must be a float > 1; got {eps_divisor!r}.")
    if eps_final is not None:
        eps_final = check_positive(eps_final, "eps_final")
    max_rounds = check_int(max_rounds, "max_rounds", minimum=1, maximum=INT64_MAX)
    check_rng(rng)
    if isinstance(M, (DenseGeometry, PointCloud)):
        if x is not None or y is not None:
            raise ValueError("give either a geometry `M` or points `x` and `y`, not both.")
        if isinstance(M, PointCloud) and M.cost_is_callable:  # the kernels cannot call it
            M = M._matrix()  # (MemoryError when the n x n matrix does not fit)
        elif isinstance(M, PointCloud):  # its points and its cost, computed on the fly
            M, x, y, cost = None, M.x, M.y, M.p
        else:
            M = M.C
    on_gpu = any(is_cupy(a) for a in (M, x, y) if a is not None)
    prob = _prepare(M, x, y, cost)
    if eps_final is not None and prob.c_range > 0.0:
        # an eps beyond the cost range carries no information (every assignment is then
        # eps-optimal) and lets the prices, hence the potentials, dwarf the costs: clamp it
        eps_final = min(eps_final, prob.c_range / prob.scale)
    if backend == "auto":
        backend = "numba"
    n = prob.n
    t0 = time.perf_counter()
    if n == 1:
        val = (float(prob.dense()[0, 0]) / prob.scale if prob.kind == KIND_DENSE
               else _matched_value(prob, np.zeros(1, dtype=np.int64)))
        res = AssignmentResult(value=val, perm=np.zeros(1, dtype=np.int64), f=np.array([val]), g=np.zeros(1),
                               duality_gap=0.0, eps_bound=0.0, exact=True, method="trivial (n = 1)",
                               backend=backend, n_iter=0, info={"dual_violation": 0.0})
        return _on_device(res, on_gpu)
    if backend == "cuda":
        from ._kernels import auction_cuda

        with _threads(n, backend):
            perm, f, g, eps_bound, ok, method, rounds, info = auction_cuda.solve(
                prob, exact, eps_final, theta, max_rounds, _solve_cpu_finish=_finish_after_gpu,
                _schedule=_schedule, _eps_floor=_EPS_FLOOR)
    else:
        with _threads(n, backend):
            perm, f, g, eps_bound, ok, method, rounds, info = _solve_cpu(
                prob, backend, bool(exact), eps_final, theta, max_rounds, bool(progress))
    s = prob.scale
    perm = np.asarray(perm, dtype=np.int64)
    if prob.kind == KIND_DENSE:
        Mh = to_host(M) if is_cupy(M) else np.asarray(M, dtype=np.float64)
        value = float(Mh[np.arange(n), perm].mean())
    else:
        value = _matched_value(prob, perm)
    f = np.asarray(f) / s
    g = np.asarray(g) / s
    gap = value - (float(f.mean()) + float(g.mean()))
    info["t_total_s"] = time.perf_counter() - t0
    res = AssignmentResult(value=value, perm=perm, f=f, g=g, duality_gap=gap, eps_bound=eps_bound,
                           exact=bool(ok), method=method, backend=backend, n_iter=int(rounds), info=info)
    return _on_device(res, on_gpu)


def _on_device(res: AssignmentResult, on_gpu: bool) -> AssignmentResult:
    if not on_gpu:
        return res
    import dataclasses

    import cupy

    return dataclasses.replace(res, perm=cupy.asarray(res.perm), f=cupy.asarray(res.f), g=cupy.asarray(res.g))


def _finish_after_gpu(prob: _Problem, perm, p, eps, exact: bool, info: dict):
    """CPU (numba) certificate and finisher after a GPU auction; returns the _solve_cpu tuple tail."""
    n = prob.n
    ops = _Ops(prob, "numba")
    v = -np.asarray(p, dtype=np.float64)
    perm = np.asarray(perm, dtype=np.int64)
    u, r = ops.row_min(v, perm)
    S = float(r.sum())
    info["pre_finish_gap"] = S / n / prob.scale
    return _certify_and_finish(ops, prob, perm, u, v, S, exact, info)


# --------------------------------------------------------------------------------------------
# non-uniform rational weights: "similar objects" duplication
# --------------------------------------------------------------------------------------------

def auction_transport(a, b, M, *, denominator=None, max_size=4000, backend="auto",
                      progress=False) -> EMDResult:
    r"""Exact OT between weights with a common denominator, by duplication into an assignment.

    If :math:`a_i = k_i / D` and :math:`b_j = l_j / D` with integers :math:`k, l` summing to
    :math:`D`, row i is copied :math:`k_i` times and column j :math:`l_j` times; the D x D
    assignment with uniform weights 1/D has the same optimum as the transport problem (the
    transportation polytope with integer margins has integral vertices), and
    :math:`P_{ij} = \#\{\text{copies of i matched to copies of j}\} / D`.

    Exact when the weights are exactly multiples of ``1/D`` (checked to 1e-12 relative;
    otherwise a ValueError says so) and ``D <= max_size``. Cost O(D) memory beyond the D x D
    duplicated matrix. For other weights use :func:`kantorovich.ot.emd`.

    Parameters
    ----------
    a, b : arrays (n,), (m,)
        Non-negative weights with the same total (normalised to 1).
    M : array (n, m)
        Costs.
    denominator : int, optional
        D. Default: the smallest D <= ``max_size`` making both weight vectors integral.
    max_size : int
        Largest D accepted (the assignment is D x D).
    backend : {"auto", "numpy", "numba", "cuda", "numba_cuda"}
        Of the D x D :func:`assignment` (docs/arrays.md "Backends").
    progress : bool
        Show the progress bar of the D x D assignment's eps-scaling phases (tqdm, on stderr;
        ``leave=False``): the bar of ``assignment(progress=True)``, titled
        ``assignment n=D``; none for ``backend="cuda"``.

    Returns
    -------
    EMDResult with ``plan`` (n, m), potentials ``f, g`` (min over the copies), ``method``
    "auction (duplication, D=...)".

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import auction_transport
    >>> r = auction_transport([0.5, 0.5], [0.25, 0.75], [[0., 1.], [1., 0.]])
    >>> round(r.value, 12), r.plan.tolist()
    (0.25, [[0.25, 0.25], [0.0, 0.5]])
    """
    resolve_backend(backend, "auction_transport", a, b, M)  # checked here, run by assignment
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be a bool; got {describe(progress)}.")
    C = check_cost_matrix(to_host(M) if is_cupy(M) else M, "M")
    n, m = C.shape
    aa = check_weights(to_host(a) if is_cupy(a) else a, "a", n=n, normalize=True)
    bb = check_weights(to_host(b) if is_cupy(b) else b, "b", n=m, normalize=True)
    max_size = check_int(max_size, "max_size", minimum=1, maximum=INT64_MAX)
    check_memory(8 * max_size ** 2, "max_size")  # the D x D duplicated cost matrix, D <= max_size

    def _integral(D):
        ka, kb = aa * D, bb * D
        ra, rb = np.rint(ka), np.rint(kb)
        return (np.allclose(ka, ra, rtol=0, atol=1e-9) and np.allclose(kb, rb, rtol=0, atol=1e-9)
                and ra.sum() == D and rb.sum() == D), ra.astype(np.int64), rb.astype(np.int64)

    if denominator is None:
        found = None
        for D in range(1, max_size + 1):
            ok, ka, kb = _integral(D)
            if ok:
                found = D
                break
        if found is None:
            raise ValueError(
                f"`a` and `b` are not multiples of a common 1/D with D <= `max_size` = {max_size}: "
                f"{_EMD_HINT} (exact for any weights), or raise `max_size`.")
        D = found
    else:
        D = check_int(denominator, "denominator", minimum=1, maximum=INT64_MAX)
        if D > max_size:
            raise ValueError(f"`denominator` must be <= `max_size` = {max_size}; got {D}.")
        ok, ka, kb = _integral(D)
        if not ok:
            raise ValueError(f"`a` and `b` must be multiples of 1/{D} (the `denominator`); they are not: {_EMD_HINT}.")
    ri = np.repeat(np.arange(n), ka)
    cj = np.repeat(np.arange(m), kb)
    res = assignment(C[np.ix_(ri, cj)], backend=backend, progress=bool(progress))
    plan = np.zeros((n, m))
    np.add.at(plan, (ri, cj[res.perm]), 1.0 / D)
    f = np.full(n, np.inf)
    g = np.full(m, np.inf)
    np.minimum.at(f, ri, res.f)
    np.minimum.at(g, cj, res.g)
    # rows and columns of zero weight have no copy: their potentials are the c-transforms,
    # first of the rows over the columns that have copies (finite g; b has positive total),
    # then of the columns over all rows, so that f_i + g_j <= C_ij holds for every pair
    fin_g = np.isfinite(g)
    no_f = ~np.isfinite(f)
    f[no_f] = (C[no_f][:, fin_g] - g[fin_g][None, :]).min(1)
    g[~fin_g] = (C[:, ~fin_g] - f[:, None]).min(0)
    value = float((plan * C).sum())
    dual = float(aa @ f + bb @ g)
    viol = float(max((f[:, None] + g[None, :] - C).max(), 0.0))
    marg = float(np.abs(plan.sum(1) - aa).sum() + np.abs(plan.sum(0) - bb).sum())
    return EMDResult(value=value, plan=plan, f=f, g=g, duality_gap=value - dual, dual_violation=viol,
                     method=f"auction (duplication, D={D})", backend=res.backend,
                     certified=bool(res.exact and viol <= 1e-12 * max(1.0, float(np.abs(C).max()))),
                     marginal_error=marg, info={"denominator": D, "assignment": res.info})
