"""Batches of exact problems: :func:`emd`, :func:`assignment` and :func:`sliced_wasserstein` on a
leading batch axis (``M`` of shape ``(B, n, m)``, points ``(B, n, d)``).

``emd`` with ``method="auto"`` on a batch whose problems are all square with uniform weights
(``a``, ``b`` None or constant) solves them in one ``numba.prange`` over problems by the
shortest augmenting path algorithm for the assignment problem (Jonker & Volgenant 1987; the
O(n^2 m) dense form of Kuhn's Hungarian method with potentials): for such problems an optimal
plan is a permutation with mass ``1/n`` per row (Birkhoff-von Neumann), so this is the exact
LP optimum. Each problem keeps its certificate, computed from its own plan and potentials as
:func:`emd` computes it (marginal error, dual violation, duality gap, ``certified``). The
value and, when the optimum is unique, the plan equal those of a loop of single calls (the
network simplex) up to rounding; the potentials ``f``, ``g`` are an optimal dual pair too but
not necessarily the same one (dual solutions are not unique). A problem whose potentials
would need the c-transform repair is redone by the single solver.
Other batches (weights that differ within a problem, or n != m) with ``method="auto"`` or
``"network_simplex"`` run POT's network simplex once per problem, the problems spread over
``numba.get_num_threads()`` threads (the solver releases the GIL), and check the certificates
of all problems at once; a problem whose certificate needs the c-transform repair gets
:func:`emd`'s own. Plans and potentials are those of the loop of single calls, bit for bit.
``method="highs"`` or ``"auction"`` runs the single solver once per problem.

``assignment`` on a batch with the auction's defaults runs the same kernel (each problem
certified from its own potentials); with auction options (``eps_final``, ``rng``, ``exact=False``,
a GPU backend, ...) the single function runs once per problem and the results are stacked.
``sliced_wasserstein`` on a host batch projects and sorts all problems at once, with the
directions each problem would get in a loop of single calls (:func:`sliced_wasserstein_batch`).

Results are the single functions' result types with array fields: scalars become ``(B,)``
arrays, arrays gain a leading ``B`` axis, ``info`` holds the per-problem ``info`` dicts.
"""

from __future__ import annotations

import time

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import intrinsic

from .._parallel import parallel_kernel, threads_at_most
from .._progress import advance, open_bar
from .._results import EMDResult, stack_results
from .._validation import check_same_mass, check_weights, describe, input_dtype, mass_rtol
from .._warnings import batch_message, gathered, pot_quiet, problem_list, warn
from ..exceptions import ConvergenceWarning
from ._sinkhorn_batch import _batch_cost

__all__ = ["assignment_batch", "emd_batch", "sliced_wasserstein_batch", "stack_results"]


# ----------------------------------------------------------------------------- weights

def _batched_weights(w, name: str, nb: int, size: int, cost_shape, what: str = "cost"):
    """``w`` (B, size), (size,) or None as a list of per-problem weights (None kept);
    ``what`` names the array of shape ``cost_shape`` in the message (the cost, or the points)."""
    if w is None:
        return [None] * nb
    arr = check_weights(w, name, n=size, batch=True)
    if arr.ndim > 2 or (arr.ndim == 2 and arr.shape[0] != nb):
        raise ValueError(
            f"`{name}` must have shape ({size},) or ({nb}, {size}) for a batch of {nb} problems "
            f"({what} of shape {tuple(cost_shape)}); got {describe(arr)}.")
    return [arr[q] for q in range(nb)] if arr.ndim == 2 else [arr] * nb


# ----------------------------------------------------------------------------- assignment kernel

# no NaN (finite costs) and no signed zeros in the selects; infinities are used (+inf marks a
# done column), and nothing is reassociated
_FMS = {"nnan", "nsz"}
_MASK = np.int64(0x7FFFFFFFFFFFFFFF)


@intrinsic
def _bits(typingctx, x):
    """The bits of a float64 as an int64."""
    def codegen(context, builder, sig, args):
        from llvmlite import ir
        return builder.bitcast(args[0], ir.IntType(64))
    return types.int64(types.float64), codegen


@njit(inline="always")
def _key(x):
    """An int64 ordered as the double ``x`` (sign-magnitude to two's complement): integer
    minimum reductions vectorise where floating-point ones do not."""
    b = _bits(x)
    return b ^ ((b >> 63) & _MASK)


@njit(fastmath=_FMS, cache=True)
def _lsap(C, n, u, v, col4row, row4col, bi, spc, done, path, rows, cols, keys):
    """Shortest augmenting paths for the assignment problem on the flat n x n ``C``.

    Start: column reduction ``v_j = min_i C_ij``, each column taken by its cheapest row when
    that row is still free, then ``u_i = min_j C_ij - v_j`` for the free rows, each taking
    its best column when free (Jonker & Volgenant 1987, without their augmenting row
    reduction: on squared distances in the plane it cycled through ~8n steps of O(n) and
    cost more than it saved). Every row still free is then matched by a Dijkstra search
    over the reduced costs ``C_ij - u_i - v_j >= 0`` that updates the potentials once per
    search (the form of scipy's ``linear_sum_assignment``, Crouse 2016). Each step of a
    search is one branch-free pass over the n columns (vectorised: the tentative distances
    and predecessors as selects, the minimum as an integer minimum of order-preserving keys
    of the doubles, see :func:`_key`), then a scan for the first column at that minimum (an
    unassigned one when there is one: the search ends there). Done columns carry ``+inf``
    in ``done``, so they are never improved nor picked. On return ``col4row[i]`` is row i's
    column and ``u_i + v_j <= C_ij`` with equality on the matching (up to rounding).
    """
    nu = np.uint64(n)
    for j in range(nu):
        row4col[j] = -1
        col4row[j] = -1
        u[j] = 0.0
        v[j] = np.inf
        bi[j] = 0
    for i in range(n):  # column minima, row-major
        base = np.uint64(i) * nu
        for j in range(nu):
            c = C[base + j]
            b = c < v[j]
            v[j] = c if b else v[j]
            bi[j] = i if b else bi[j]
    for j in range(n):
        i = bi[j]
        if col4row[i] == -1:
            col4row[i] = j
            row4col[j] = i
    for i in range(n):  # row reduction of the free rows
        if col4row[i] != -1:
            continue
        base = np.uint64(i) * nu
        kb = _MASK
        for j in range(nu):
            kb = min(kb, _key(C[base + j] - v[j]))
        for j in range(nu):
            if _key(C[base + j] - v[j]) == kb:
                u[i] = C[base + j] - v[j]
                if row4col[j] == -1:
                    row4col[j] = i
                    col4row[i] = np.int64(j)
                break
    for cur in range(n):
        if col4row[cur] != -1:
            continue
        for j in range(nu):
            spc[j] = np.inf
            done[j] = 0.0
        mv = 0.0
        i = cur
        nr = 0
        nc = 0
        sink = -1
        while sink == -1:
            rows[nr] = i
            nr += 1
            base = np.uint64(i) * nu
            ui = u[i]
            kmin = _MASK
            kfree = _MASK  # the smallest key among the unassigned columns
            for j in range(nu):
                r = mv + C[base + j] - ui - v[j] + done[j]
                s = spc[j]
                b = r < s
                s = r if b else s
                spc[j] = s
                path[j] = i if b else path[j]
                k = _key(s + done[j])
                keys[j] = k
                kmin = min(kmin, k)
                kfree = min(kfree, k if row4col[j] < 0 else _MASK)
            # the first column at the minimum, an unassigned one if any (the search ends there)
            free_at_min = kfree == kmin
            js = 0
            for j in range(nu):
                if keys[j] == kmin and (row4col[j] < 0 or not free_at_min):
                    js = np.int64(j)
                    break
            mv = spc[js]
            done[js] = np.inf
            cols[nc] = js
            nc += 1
            if row4col[js] == -1:
                sink = js
            else:
                i = row4col[js]
        u[cur] += mv
        for k in range(1, nr):
            i = rows[k]
            u[i] += mv - spc[col4row[i]]
        for k in range(nc):
            j = cols[k]
            v[j] -= mv - spc[j]
        j = sink
        while True:
            i = path[j]
            row4col[j] = i
            jj = col4row[i]
            col4row[i] = j
            j = jj
            if i == cur:
                break


@parallel_kernel
@njit(parallel=True, cache=True)
def _assign_batch(C, A, Bw, perms, F, G, stats):
    """Every problem: the assignment, then its certificate for the unit-mass problem (A, Bw)
    with the plan P_{i perm(i)} = A_i. ``stats[q]`` = [value, dual, violation, marginal error]."""
    nb, n, _ = C.shape
    for q in prange(nb):
        Cf = C[q].ravel()
        perm = perms[q]
        f = F[q]
        g = G[q]
        idx = np.empty((6, n), dtype=np.int64)
        work = np.empty((2, n))
        _lsap(Cf, n, f, g, perm, idx[0], idx[1], work[0], work[1], idx[2], idx[3], idx[4],
              idx[5])
        a = A[q]
        b = Bw[q]
        value = 0.0
        dual = 0.0
        merr = 0.0
        for i in range(n):
            value += a[i] * Cf[i * n + perm[i]]
        for i in range(n):
            dual += a[i] * f[i] + b[i] * g[i]
            merr += abs(a[i] - b[perm[i]])  # column perm[i] receives a[i]; rows are exact
        viol = 0.0
        for i in range(n):
            fi = f[i]
            base = i * n
            for j in range(n):
                t = fi + g[j] - Cf[base + j]
                if t > viol:
                    viol = t
        st = stats[q]
        st[0] = value
        st[1] = dual
        st[2] = viol
        st[3] = merr


def _cost_range(C) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(max C, min C, max |C|) per problem, the last at least the smallest normal: the scale
    of the certificates' tolerances; a ValueError naming the problem whose range max - min
    overflows."""
    cmax, cmin = C.max(axis=(1, 2)), C.min(axis=(1, 2))
    with np.errstate(over="ignore"):  # an overflowing range is the error below
        finite = np.isfinite(cmax - cmin)
    if not bool(finite.all()):
        q = int(np.argmin(finite))
        raise ValueError(
            f"`M` must have a finite range max(M) - min(M) in float64; got max {float(cmax[q])!r} "
            f"and min {float(cmin[q])!r} in problem {q}, whose difference overflows. Divide `M` "
            "by a common factor.")
    return cmax, cmin, np.maximum(np.maximum(cmax, -cmin), np.finfo(np.float64).tiny)


# ----------------------------------------------------------------------------- emd

def emd_batch(a, b, M, *, method="auto", normalize=False, return_plan=True, tol=1e-9,
              max_iter=None, progress=False) -> EMDResult:
    """:func:`kantorovich.ot.emd` on a batch ``M`` (B, n, m) (see the module notes);
    ``progress``: a bar over the problems on the network simplex's threads and on the loop of
    single calls (the square uniform kernel solves all problems in one call: no bar)."""
    from ._emd import _check_options, emd

    t0 = time.perf_counter()
    tol = _check_options(method, normalize, tol)
    from .._array_api import is_cupy, like, to_host
    from ._geometry import PointCloud

    if isinstance(M, PointCloud):  # its dense costs, problem by problem
        ref = next((x for x in (M.x, a, b) if is_cupy(x)), None)
        Mh = np.stack([to_host(M._problem(q)._matrix()) for q in range(M.batch_size)])
    else:
        ref = next((x for x in (M, a, b) if is_cupy(x)), None)
        Mh = to_host(M) if is_cupy(M) else M
    if (isinstance(Mh, np.ndarray) and Mh.ndim == 3 and Mh.shape[0] > 1 and Mh.strides[0] == 0
            and Mh[0].size):  # np.broadcast_to(M, (B, n, m)): one cost matrix, not copied
        from ._emd import _host_costs

        C = np.broadcast_to(_host_costs(Mh[0]), Mh.shape)
    else:
        C = _batch_cost(Mh, "M")
    nb, n, m = C.shape
    A = _batched_weights(to_host(a) if is_cupy(a) else a, "a", nb, n, np.shape(Mh))
    Bw = _batched_weights(to_host(b) if is_cupy(b) else b, "b", nb, m, np.shape(Mh))
    kw = dict(method=method, normalize=normalize, return_plan=return_plan, tol=tol,
              max_iter=max_iter)

    def constant(w):
        return w is None or bool(np.all(w == w[0]))

    distinct = {id(w): w for w in A + Bw}  # None and a shared vector: one object each
    fast = method == "auto" and n == m and all(constant(w) for w in distinct.values())
    if not fast and (method == "network_simplex" or (method == "auto" and _simplex_for_all(
            A, Bw, n, m))):
        with _problems_bar(progress, nb, "network_simplex") as bar:
            return _emd_simplex_batch(a, b, A, Bw, C, normalize=normalize,
                                      return_plan=return_plan, tol=tol, max_iter=max_iter,
                                      ref=ref, t0=t0, bar=bar)
    if not fast:  # highs, the auction: the single solver once per problem
        with gathered() as caught, _problems_bar(progress, nb, method) as bar:
            res = []  # one warning for the batch below, naming the problems
            for q in range(nb):
                res.append(_named(q, nb, emd, A[q], Bw[q], C[q], **kw))
                advance(bar, 1)
        _pass_on(caught, but=ConvergenceWarning)
        out = stack_results(res)
        _warn_uncertified(method, [r.duality_gap / r.info["mass"] for r in res], tol * _cost_range(C)[2],
                          "increase `max_iter`.")
        return out

    an, bn, mass = _unit_masses(A, Bw, n, m, normalize, mass_rtol(input_dtype(a),
                                                                    input_dtype(b)))
    cscale = _cost_range(C)[2]
    perms = np.empty((nb, n), dtype=np.int64)
    F = np.empty((nb, n))
    G = np.empty((nb, m))
    stats = np.empty((nb, 4))
    t1 = time.perf_counter()
    with numba.parallel_chunksize(1), threads_at_most(nb):
        _assign_batch(C, an, bn, perms, F, G, stats)
    t2 = time.perf_counter()
    value, dual, viol, merr = stats.T
    gap = value - dual
    redo = viol > tol * cscale  # would need emd's c-transform repair: the single solver's path
    with gathered() as caught:  # one warning for the batch below, naming the problems
        for q in np.flatnonzero(redo):  # (with its plan, whose rows give the permutation)
            r = _named(q, nb, emd, A[q], Bw[q], C[q], **{**kw, "return_plan": True})
            value[q], gap[q], viol[q] = r.value / mass[q], r.duality_gap / mass[q], r.dual_violation
            merr[q] = r.marginal_error / mass[q]
            F[q], G[q] = r.f, r.g
            perms[q] = np.argmax(r.plan, axis=1)
    _pass_on(caught, but=ConvergenceWarning)
    certified = np.abs(gap) <= tol * cscale
    _warn_uncertified(None, gap, tol * cscale)
    plan = None
    if return_plan:
        plan = np.zeros((nb, n, m))
        plan[np.arange(nb)[:, None], np.arange(n)[None, :], perms] = an * mass[:, None]
        if ref is not None:
            plan = like(plan, ref)
    if ref is not None:
        F, G = like(F, ref), like(G, ref)
    info = {"solver": "shortest augmenting paths (Jonker-Volgenant), numba prange over problems",
            "batch_size": nb, "n": n, "m": m, "mass": mass, "normalized": bool(normalize),
            "recomputed_by_emd": np.flatnonzero(redo).tolist(), "perm": perms,
            "validate_seconds": t1 - t0, "solve_seconds": t2 - t1}
    return EMDResult(value=value * mass, plan=plan, f=F, g=G, duality_gap=gap * mass,
                     dual_violation=np.maximum(viol, 0.0), method="assignment",
                     backend="numba_batch", certified=certified, marginal_error=merr * mass,
                     info=info)


def _problems_bar(show: bool, nb: int, method: str):
    """``with _problems_bar(...) as bar``: a bar over the ``nb`` problems of a batch, or None
    when ``show`` is False; closed on every way out of the block."""
    return open_bar(show, total=nb, desc=f"emd batch ({method})", unit="problem")


def _named(q: int, nb: int, solve, *args, **kwargs):
    """``solve(*args, **kwargs)`` for problem ``q`` of a batch of ``nb``: its ValueError,
    TypeError or EMDCertificateError says which problem (as the network simplex path's do)."""
    from ..exceptions import EMDCertificateError

    try:
        return solve(*args, **kwargs)
    except (ValueError, TypeError, EMDCertificateError) as err:
        if type(err) not in (ValueError, TypeError, EMDCertificateError):
            raise
        raise type(err)(f"in problem {q} of {nb}: {err}") from err


def _warn_uncertified(method, gap, bound, hint: str = "") -> None:
    """One ConvergenceWarning for the problems of a batch whose duality gap (unit mass)
    exceeds ``bound``, naming them and giving the first one's gap (every path of a batch:
    the kernel, the network simplex on threads, the loop of single calls)."""
    gap, bound = np.asarray(gap, dtype=float), np.asarray(bound, dtype=float)
    bad = np.flatnonzero(~(np.abs(gap) <= bound))
    if bad.size:
        q = int(bad[0])
        warn(f"emd{f' ({method})' if method else ''} stopped with a duality gap of {gap[q]:.3e} "
             f"(> {bound[q]:.1e}) in {bad.size} of {gap.size} problems ({problem_list(bad)}): "
             f"the plans may be suboptimal by at most that much" + (f"; {hint}" if hint else "."),
             ConvergenceWarning)


def _pass_on(caught, but) -> None:
    """Raise the warnings that :func:`gathered` caught, at the caller's line, except those of
    category ``but``."""
    for message, category in caught:
        if not issubclass(category, but):
            warn(message, category)


def _single_calls(solve, nb: int, what: str, names=None, total: int | None = None) -> list:
    """``[solve(i) for i in range(nb)]``, the single calls' ConvergenceWarnings gathered into
    one for the batch that names the problems (``names[i]``, default i, of ``total`` problems,
    default nb) and gives the first one's message; their other warnings pass as they were."""
    res, first = [], {}
    for i in range(nb):
        with gathered() as caught:  # this thread's package warnings (catch_warnings is not thread-safe)
            res.append(solve(i))
        for message, category in caught:
            if issubclass(category, ConvergenceWarning):
                first.setdefault(i if names is None else int(names[i]), str(message))
        _pass_on(caught, but=ConvergenceWarning)  # at the caller's line, as before
    if first:
        bad = sorted(first)
        warn(f"{what}: " + batch_message(bad, nb if total is None else total, first[bad[0]]),
             ConvergenceWarning)
    return res


def _unit_masses(A, Bw, n, m, normalize, rtol):
    """(an (B, n), bn (B, m), mass (B,)): each problem's weights at unit mass and its total mass,
    as :func:`emd` computes them (None is uniform); a ValueError naming the first problem whose
    totals differ without ``normalize``."""
    ah = np.stack([np.full(n, 1.0 / n) if w is None else w for w in A])
    bh = np.stack([np.full(m, 1.0 / m) if w is None else w for w in Bw])
    sa, sb = ah.sum(axis=1), bh.sum(axis=1)
    if not normalize:
        check_same_mass(sa, sb, rtol, hint="or pass normalize=True")
    an = np.where((sa == 1.0)[:, None], ah, ah / sa[:, None])
    bn = np.where((sb == 1.0)[:, None], bh, bh / sb[:, None])
    # uniform weights (None) have total 1 by definition, as emd's (n * (1/n) may round off 1)
    return an, bn, np.ones(len(A)) if normalize else np.where([w is None for w in A], 1.0, sa)


def _simplex_for_all(A, Bw, n, m) -> bool:
    """Whether ``method="auto"`` picks the network simplex for every problem of the batch (it
    picks the auction only for large square uniform problems)."""
    from ._emd import AUTO_AUCTION_MIN_N

    return n != m or AUTO_AUCTION_MIN_N is None or n < AUTO_AUCTION_MIN_N


#: entries of the (problems, n, m) temporaries of the batched certificate
_CERT_BLOCK = 1 << 22
#: plan entries held at once by a weighted ``emd`` batch without ``return_plan`` (32 MiB)
_PLAN_CHUNK = 1 << 22


def _certify_chunk(Pc, c0, C, an, bn, F, G, infos, value, gap, viol, merr, cscale, tol, problem,
                   nb):
    """The certificates of problems c0, c0 + 1, ... (plans ``Pc``): the plain checks at once,
    into ``value``, ``gap``, ``viol``, ``merr``; a problem whose plain check fails (NaN, off its
    marginals, a repair) goes through :func:`emd`'s own certificate, errors naming it."""
    from ._emd import EMDCertificateError, _certify_solution

    n, m = Pc.shape[1:]
    c1 = c0 + len(Pc)
    dual = np.empty(len(Pc))
    plain = np.empty(len(Pc), dtype=bool)
    step = max(1, _CERT_BLOCK // max(n * m, 1))
    for q0 in range(c0, c1, step):
        s = slice(q0, min(c1, q0 + step))
        r = slice(q0 - c0, s.stop - c0)
        Pq, Cq = Pc[r], C[s]
        merr[s] = (np.abs(Pq.sum(axis=2) - an[s]).sum(axis=1)
                   + np.abs(Pq.sum(axis=1) - bn[s]).sum(axis=1))
        viol[s] = np.maximum((F[s, :, None] + G[s, None, :] - Cq).max(axis=(1, 2)), 0.0)
        value[s] = (Pq * Cq).reshape(len(Pq), -1).sum(axis=1)
        dual[r] = np.einsum("qi,qi->q", an[s], F[s]) + np.einsum("qj,qj->q", bn[s], G[s])
        plain[r] = ((merr[s] <= tol) & (Pq.min(axis=(1, 2)) >= -tol)
                    & (viol[s] <= tol * cscale[s]) & (value[s] - dual[r] <= tol * cscale[s]))
    gap[c0:c1] = value[c0:c1] - dual
    for q in c0 + np.flatnonzero(~plain):  # NaN, off marginals, repairs: the single certificate
        try:
            value[q], F[q], G[q], gap[q], viol[q], merr[q], extra = _certify_solution(
                problem(q), Pc[q - c0], F[q], G[q], infos[q])
        except EMDCertificateError as err:
            raise EMDCertificateError(f"in problem {q} of {nb}: {err}") from err
        infos[q] = {**infos[q], **extra}
    for q in c0 + np.flatnonzero(plain):
        infos[q] = {**infos[q], "repaired": False}


def _emd_simplex_batch(a, b, A, Bw, C, *, normalize, return_plan, tol, max_iter, ref, t0,
                       bar=None):
    """The network simplex once per problem, the problems on ``numba.get_num_threads()``
    threads (POT's solver releases the GIL), the certificates computed for all problems at
    once; a problem whose certificate needs more than the plain check (the c-transform
    repair, or an error to raise) goes through :func:`emd`'s own certificate. ``bar``: a
    progress bar advanced as the threads finish their slices of problems, or None."""
    from concurrent.futures import ThreadPoolExecutor

    from .._array_api import like
    from ._emd import _condition_costs, _import_pot, _max_iter, _Problem, _solve

    nb, n, m = C.shape
    dtypes = (input_dtype(a), input_dtype(b), input_dtype(C))
    an, bn, mass = _unit_masses(A, Bw, n, m, normalize, mass_rtol(dtypes[0], dtypes[1]))
    max_iter = _max_iter(max_iter, n, m)
    cmax, cmin, cscale = _cost_range(C)

    def problem(q):
        Ms, shift, k, cs = _condition_costs(C[q], float(cmax[q]), float(cmin[q]))
        return _Problem(an=an[q], bn=bn[q], Mh=C[q], Ms=Ms, shift=shift, k=k, cscale=cs,
                        mass=float(mass[q]), method="network_simplex", max_iter=max_iter,
                        tol=tol, normalize=bool(normalize), dtypes=dtypes, ref=None)

    P = np.empty((nb, n, m)) if return_plan else None
    F = np.empty((nb, n))
    G = np.empty((nb, m))
    infos: list = [None] * nb
    value = np.empty(nb)
    gap = np.empty(nb)
    viol = np.empty(nb)
    merr = np.empty(nb)
    threads = max(1, min(numba.get_num_threads(), nb))
    # without return_plan the plans live one chunk of problems at a time
    chunk = nb if return_plan else max(4 * threads, _PLAN_CHUNK // max(n * m, 1))
    _import_pot()  # a first import here, outside the solve time and its threads
    t1 = time.perf_counter()
    t_solve = 0.0
    with ThreadPoolExecutor(threads) as pool:
        for c0 in range(0, nb, chunk):
            c1 = min(nb, c0 + chunk)
            Pc = P[c0:c1] if return_plan else np.empty((c1 - c0, n, m))

            def solve(qs, Pc=Pc, c0=c0):
                for q in qs:
                    Pc[q - c0], F[q], G[q], infos[q] = _solve(problem(q))

            ts = time.perf_counter()
            slices = np.array_split(np.arange(c0, c1), 4 * threads)
            with pot_quiet():  # POT's warnings: each in its problem's info
                for qs, _ in zip(slices, pool.map(solve, slices)):  # in order, as they finish
                    advance(bar, len(qs))
            t_solve += time.perf_counter() - ts
            _certify_chunk(Pc, c0, C, an, bn, F, G, infos, value, gap, viol, merr, cscale, tol,
                           problem, nb)
    t3 = time.perf_counter()
    t2 = t1 + t_solve
    certified = np.abs(gap) <= tol * cscale
    _warn_uncertified("network_simplex", gap, tol * cscale, f"increase `max_iter` (now {max_iter}).")
    plan = None
    if return_plan:
        plan = P if bool(np.all(mass == 1.0)) else P * mass[:, None, None]
    if ref is not None:
        F, G = like(F, ref), like(G, ref)
        plan = None if plan is None else like(plan, ref)
    info = {"solver": f"POT network simplex (ot.emd), problems on {threads} threads",
            "batch_size": nb, "n": n, "m": m, "mass": mass, "normalized": bool(normalize),
            "per_problem": infos, "validate_seconds": t1 - t0, "solve_seconds": t2 - t1,
            "certify_seconds": t3 - t2}
    return EMDResult(value=value * mass, plan=plan, f=F, g=G, duality_gap=gap * mass,
                     dual_violation=viol, method="network_simplex", backend="numpy",
                     certified=certified, marginal_error=merr * mass, info=info)


# ----------------------------------------------------------------------------- the others

_ASSIGNMENT_TOL = 1e-9  # certificate: gap and dual violation within this times max |C|


def assignment_batch(M=None, *, x=None, y=None, cost="sqeuclidean", **kwargs):
    """:func:`kantorovich.ot.assignment` on ``M`` (B, n, n) or ``x``, ``y`` (B, n, d).

    With the auction's defaults (``backend="auto"`` or ``"numba"``, ``exact=True``, no
    ``eps_final``, ``eps_divisor``, ``max_rounds`` or ``rng``), in one ``numba.prange`` over
    problems by the shortest augmenting paths (the kernel of the ``emd`` batch), each problem
    certified from its own potentials: ``exact`` when the duality gap and the dual violation
    are within 1e-9 max|C| (a problem that is not is solved again by :func:`assignment`).
    Otherwise (auction options asked for, a GPU backend, ``exact=False``): the single function
    once per problem, results stacked."""
    from ._auction import assignment

    if M is not None:
        C = _batch_cost(M, "M")
        top = np.abs(C).max(axis=(1, 2))
        if not bool((top <= 1e300).all()):  # the single function's limit, for every path
            q = int(np.argmax(top > 1e300))
            raise ValueError(f"`M` must have costs of magnitude below 1e300; got "
                             f"{float(top[q])!r} in problem {q}.")
    else:
        xa, ya = _batch_points(x, y)
    fast = (kwargs.get("backend", "auto") in ("auto", "numba") and "scaling" not in kwargs
            and kwargs.get("exact", True) is True and kwargs.get("eps_final") is None
            and kwargs.get("rng") is None and kwargs.get("eps_divisor", 5.0) == 5.0
            and kwargs.get("max_rounds", 1_000_000) == 1_000_000)
    if M is not None:
        if not fast or C.shape[1] != C.shape[2]:
            return stack_results(_single_calls(lambda q: assignment(C[q], **kwargs),
                                               C.shape[0], "assignment"))
    else:
        if not fast or xa.shape[1] != ya.shape[1] or callable(cost):
            return stack_results(_single_calls(
                lambda q: assignment(x=xa[q], y=ya[q], cost=cost, **kwargs), xa.shape[0],
                "assignment"))
        from ._geometry import PointCloud

        C = np.stack([PointCloud(xa[q], ya[q], cost=cost)._matrix()
                      for q in range(xa.shape[0])])
        C = _batch_cost(C, "x, y")
    return _assignment_jv(C, cost if M is None else None, kwargs)


def _assignment_jv(C, cost, kwargs):
    """The batch of square costs C (B, n, n) by the shortest augmenting paths, certified."""
    from .._results import AssignmentResult
    from ._auction import assignment

    t0 = time.perf_counter()
    nb, n, _ = C.shape
    if n == 0:
        raise ValueError("`M` must have at least one row and one column; got shape "
                         f"{C.shape}.")
    cscale = _cost_range(C)[2]
    w = np.full((nb, n), 1.0 / n)
    perms = np.empty((nb, n), dtype=np.int64)
    F = np.empty((nb, n))
    G = np.empty((nb, n))
    stats = np.empty((nb, 4))
    with numba.parallel_chunksize(1), threads_at_most(nb):
        _assign_batch(C, w, w, perms, F, G, stats)
    value, dual, viol, _ = stats.T
    gap = value - dual
    exact = (np.abs(gap) <= _ASSIGNMENT_TOL * cscale) & (viol <= _ASSIGNMENT_TOL * cscale)
    redo = np.flatnonzero(~exact)
    # not certified (rounding on extreme costs): the single function
    redone = _single_calls(lambda i: assignment(C[redo[i]], **kwargs), redo.size, "assignment",
                           names=redo, total=nb)
    for q, r in zip(redo, redone):
        value[q], gap[q], exact[q] = r.value, r.duality_gap, r.exact
        viol[q] = r.info.get("dual_violation", np.nan)
        perms[q], F[q], G[q] = r.perm, r.f, r.g
    info = {"solver": "shortest augmenting paths (Jonker-Volgenant), numba prange over problems",
            "batch_size": nb, "n": n, "dual_violation": np.maximum(viol, 0.0),
            "recomputed_by_assignment": redo.tolist(), "cost": cost,
            "solve_seconds": time.perf_counter() - t0}
    return AssignmentResult(value=value, perm=perms, f=F, g=G, duality_gap=gap,
                            eps_bound=np.zeros(nb), exact=exact,
                            method="shortest augmenting paths", backend="numba_batch",
                            n_iter=np.zeros(nb, dtype=np.int64), info=info)


def sliced_wasserstein_batch(x, y, *, a=None, b=None, **kwargs) -> np.ndarray:
    """:func:`kantorovich.ot.sliced_wasserstein` on pairs ``x[q]``, ``y[q]``: (B,) values.

    On the host (numpy input, ``backend`` "auto", "numpy" or "numba"): every problem's
    directions are drawn as a loop of single calls draws them (an integer seed: the same
    directions for every problem; a Generator: consecutive draws, problem after problem), then
    all problems are projected by one stacked matrix product, sorted as one set of rows and
    reduced by the sorted-row engine, the backend chosen by the single function's rule, each
    row at its single call's scale (:func:`_wp_sorted_as_single`): the loop's values bit for
    bit. CuPy input and ``backend="cuda"``: the single
    function once per problem."""
    from .._array_api import is_cupy
    from ._sliced import sliced_wasserstein

    backend = kwargs.get("backend", "auto")
    host = backend in ("auto", "numpy", "numba") and not any(
        is_cupy(t) for t in (x, y, a, b) if t is not None)
    xa, ya = _batch_points(x, y)
    nb = xa.shape[0]
    A = _batched_weights(a, "a", nb, xa.shape[1], xa.shape, "`x`")
    Bw = _batched_weights(b, "b", nb, ya.shape[1], ya.shape, "`y`")
    if host and nb > 0 and set(kwargs) <= {"n_projections", "p", "rng", "backend"}:
        return _sliced_host(xa, ya, A, Bw, **kwargs)
    return np.asarray([float(sliced_wasserstein(xa[q], ya[q], a=A[q], b=Bw[q], **kwargs))
                       for q in range(nb)])


def _sliced_host(xa, ya, A, Bw, *, n_projections, p=1, rng=None, backend="auto"):
    """The batch of :func:`sliced_wasserstein_batch` on the host (see there)."""
    from .._validation import INT64_MAX, check_int, check_memory, check_rng
    from ._sliced import _CPU_CHUNK_VALUES, _centre, _draw, _mean, _power_mean, _prepare
    from ._sorted_rows import sort_rows, sort_rows_numba

    L = check_int(n_projections, "n_projections", minimum=1, maximum=INT64_MAX)
    nb, n, d = xa.shape
    m = ya.shape[1]
    # the single function's checks and backend rule, on the first problem (the batch's points
    # were checked as a whole; every problem has the same sizes)
    _, _, _, _, p, backend, _ = _prepare(xa[0], ya[0], A[0], Bw[0], p, backend, n_dirs_hint=L)
    for q in range(nb):  # each problem about its own centre, as its single call (xa, ya: copies)
        _centre(xa[q], ya[q], A[q], Bw[q])
    check_memory(16 * L * (n + m + d), "n_projections")
    gen = rng if isinstance(rng, np.random.Generator) else None
    th = np.stack([_draw(L, d, gen if gen is not None else check_rng(rng), np, np.float64)
                   for _ in range(nb)])  # (B, L, d), as the loop draws them
    out = np.empty((nb, L))
    per = max(1, _CPU_CHUNK_VALUES // (L * (n + m)))  # problems per chunk
    for s in range(0, nb, per):
        e = min(nb, s + per)
        k = e - s
        px = np.matmul(th[s:e], xa[s:e].transpose(0, 2, 1)).reshape(k * L, n)
        py = np.matmul(th[s:e], ya[s:e].transpose(0, 2, 1)).reshape(k * L, m)
        wu = None if A[s] is None else np.repeat(np.stack(A[s:e]), L, axis=0)
        wv = None if Bw[s] is None else np.repeat(np.stack(Bw[s:e]), L, axis=0)
        if backend == "numba":
            xs, wu = sort_rows_numba(px, wu)
            ys, wv = sort_rows_numba(py, wv)
        else:
            xs, wu = sort_rows(px, wu, np)
            ys, wv = sort_rows(py, wv, np)
        out[s:e] = _wp_sorted_as_single(xs, wu, ys, wv, p, backend, L,
                                        max(1, _CPU_CHUNK_VALUES // (n + m))).reshape(k, L)
    if p == 1.0:
        with np.errstate(over="ignore"):  # a row whose sum overflows: as its single call
            res = out.mean(axis=1)
        for q in np.flatnonzero(~np.isfinite(res)):
            res[q] = float(_mean(out[q], np))
        return res
    return np.array([float(_power_mean(out[q], p, np)) for q in range(nb)])


def _wp_sorted_as_single(xs, wu, ys, wv, p, backend, L, per_call):
    """``wp_sorted`` on the sorted rows of several problems (L rows each), each row at the
    scale its single call gives it. For p != 1 ``wp_sorted`` divides the rows by one power of
    two above the largest |value| of the rows it is given; a single call gives it ``per_call``
    rows of one problem at a time. So the rows are grouped by the exponent of the power of two
    of their single call's rows, and each group is one call: the loop's values bit for bit,
    where one scale for the whole batch rounded each problem otherwise (p = 1.5, problems of
    different sizes)."""
    from ._kernels.wass1d_numpy import pow2_exponents
    from ._sorted_rows import wp_sorted

    if p == 1.0:
        return wp_sorted(xs, wu, ys, wv, p, backend)
    top = np.maximum(np.maximum(np.abs(xs[:, 0]), np.abs(xs[:, -1])),
                     np.maximum(np.abs(ys[:, 0]), np.abs(ys[:, -1])))
    rows = np.arange(len(top))
    call = (rows // L) * (-(-L // per_call)) + (rows % L) // per_call  # the single call's chunk
    call_top = np.zeros(int(call[-1]) + 1)
    np.maximum.at(call_top, call, top)
    key = pow2_exponents(call_top)[call]  # the exponent of each single call's scale
    groups = np.unique(key)
    if len(groups) == 1:
        return wp_sorted(xs, wu, ys, wv, p, backend)
    out = np.empty(len(top))
    for g in groups:
        r = np.flatnonzero(key == g)
        out[r] = wp_sorted(xs[r], None if wu is None else wu[r], ys[r],
                           None if wv is None else wv[r], p, backend)
    return out


def _batch_points(x, y):
    from ._geometry import _check_batch_pair

    return _check_batch_pair(x, y, None)
