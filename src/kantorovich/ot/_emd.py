"""Exact optimal transport between discrete measures (the Earth-Mover LP), certified.

The transport LP between ``a`` (n masses) and ``b`` (m masses) with cost ``M`` (n x m)::

    primal:  min_P <P, M>        s.t.  P 1_m = a,  P^T 1_n = b,  P >= 0
    dual:    max_{f, g} <a, f> + <b, g>   s.t.  f_i + g_j <= M_ij

Every answer comes with a certificate built from the solver's plan and potentials: the plan's
marginals (L1 error), dual feasibility (max_ij f_i + g_j - M_ij) and the duality gap
``<P, M> - (<a, f> + <b, g>)``. A feasible plan and feasible potentials with a zero gap prove
optimality (weak duality), whatever solver produced them.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

import numpy as np

from .._array_api import is_cupy, like, to_host
from .._results import EMDResult
from .._validation import (
    INT64_MAX,
    check_choice,
    check_cost_matrix,
    check_int,
    check_positive,
    check_same_mass,
    check_weights,
    describe,
    input_dtype,
    mass_rtol,
)
from .._warnings import pot_quiet, warn
from ..exceptions import ConvergenceWarning, EMDCertificateError
from ._geometry import DenseGeometry, PointCloud, batch_size_or_raise, check_dense_memory

__all__ = ["METHODS", "EMDCertificateError", "emd"]

METHODS = ("auto", "network_simplex", "highs", "auction")

# The "auto" rule's switch to the auction (kantorovich.ot._auction) for n x n uniform problems.
# Measured on the 2-core development machine, 2026-11-23 (benchmarks/bench_auction.py, points in
# the unit square, squared Euclidean cost, both exact to 1e-15): POT emd2 vs auction 0.096 vs
# 0.069 s at n = 1000, 0.37 vs 0.24 s at 2000, 1.8 vs 1.3 s at 4000, 9.2 vs 3.1 s at 8000.
# 2000 leaves margin for costs where the auction needs more phases. None disables the switch.
AUTO_AUCTION_MIN_N: int | None = 2000


#: smallest accepted ``tol`` (about 4500 times the float64 resolution): the certificate's sums
#: over n + m marginals and n m pairs carry rounding errors of a few ulps each
TOL_MIN = 1e-12


def _is_uniform(w: np.ndarray) -> bool:
    return bool(np.ptp(w) <= 1e-12 * float(np.max(w)))


# ----------------------------------------------------------------------------- solvers
# Each takes float64 a (n,), b (m,) summing to 1 and M (n, m), returns (P, f, g, info).

_POT_LOCK = threading.Lock()
_POT: list = []  # the module, once imported


def _import_pot():
    """POT's ``ot`` module, imported without touching numpy's global RNG state.

    The first ``import ot`` may import optional back-ends (JAX draws from ``np.random`` at
    import time); the README promises that the global seed is never touched. Thread-safe:
    the threads of a batch may ask at once, and while one imports, ``sys.modules`` already
    holds the half-initialised module (no ``ot.emd`` yet)."""
    if _POT:
        return _POT[0]
    with _POT_LOCK:
        if not _POT:
            state = np.random.get_state()
            try:
                import ot
            finally:
                np.random.set_state(state)
            _POT.append(ot)
    return _POT[0]


def _solve_network_simplex(a, b, M, max_iter):
    """POT's network simplex; its result-code warning is kept in ``info`` (from POT's log)
    instead of being shown, through :func:`kantorovich._warnings.pot_quiet` (not
    ``catch_warnings``: process-global and not thread-safe, so this runs in any thread)."""
    pot = _import_pot()

    with pot_quiet():
        P, log = pot.emd(a, b, M, numItermax=max_iter, log=True)
    info = {"solver": "POT network simplex (ot.emd)", "result_code": int(log["result_code"]),
            "max_iter": int(max_iter)}
    msg = log.get("warning")
    if msg is not None:
        info["solver_warning"] = str(msg)
    return np.asarray(P, dtype=np.float64), np.asarray(log["u"], np.float64), \
        np.asarray(log["v"], np.float64), info


def _solve_highs(a, b, M):
    import scipy.sparse as sp
    from scipy.optimize import linprog

    n, m = M.shape
    k = np.arange(n * m)
    rows_i = k // m                     # sum_j P_ij = a_i    (rows 0..n-1)
    rows_j = n + (k % m)                # sum_i P_ij = b_j    (rows n..n+m-1)
    keep = rows_j < n + m - 1           # the last column constraint is redundant: drop it
    A = sp.csr_array((np.ones(n * m + int(keep.sum())),
                      (np.concatenate([rows_i, rows_j[keep]]), np.concatenate([k, k[keep]]))),
                     shape=(n + m - 1, n * m))
    b_eq = np.concatenate([a, b[:-1]])
    res = linprog(M.ravel(), A_eq=A, b_eq=b_eq, bounds=(0, None), method="highs",
                  options={"primal_feasibility_tolerance": 1e-10,
                           "dual_feasibility_tolerance": 1e-10})
    if res.status != 0 or res.x is None:
        raise EMDCertificateError(f"HiGHS did not solve the transport LP: {res.message}")
    P = np.maximum(res.x.reshape(n, m), 0.0)   # clip rounding-level negatives
    # eqlin.marginals = d(objective)/d(b_eq): exactly the dual variables of the minimisation,
    # with the sign of f_i + g_j <= M_ij. The dropped constraint has multiplier g_m = 0.
    y = np.asarray(res.eqlin.marginals, dtype=np.float64)
    f = y[:n].copy()
    g = np.concatenate([y[n:], [0.0]])
    info = {"solver": "scipy.optimize.linprog(method='highs')", "highs_status": int(res.status),
            "highs_iterations": int(getattr(res, "nit", -1))}
    return P, f, g, info


def _solve_auction(M, progress=False):
    try:
        from ._auction import assignment
    except ImportError as exc:
        raise NotImplementedError(
            "method='auction' needs kantorovich.ot._auction (the auction solver), which is not "
            "available in this installation; use method='network_simplex'.") from exc
    r = assignment(M, progress=progress)
    n = M.shape[0]
    perm = np.asarray(to_host(r.perm)).astype(np.intp)
    P = np.zeros((n, n))
    P[np.arange(n), perm] = 1.0 / n
    info = {"solver": "kantorovich.ot.assignment (auction)",
            "auction_exact": bool(getattr(r, "exact", False)),
            "auction_duality_gap": float(getattr(r, "duality_gap", float("nan")))}
    return P, np.asarray(to_host(r.f), np.float64), np.asarray(to_host(r.g), np.float64), info


# ----------------------------------------------------------------------------- certificate

def _violation(f, g, M, block_entries: int = 1 << 16) -> float:
    """max(0, max_ij f_i + g_j - M_ij), by row blocks (one small, cache-resident temporary)."""
    n, m = M.shape
    rows = max(1, block_entries // max(m, 1))
    buf = np.empty((min(rows, n), m))
    worst = 0.0
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        t = buf[: i1 - i0]
        with np.errstate(over="ignore"):  # costs near float64's maximum: -inf is no violation
            np.add(f[i0:i1, None], g[None, :], out=t)
            np.subtract(t, M[i0:i1], out=t)
        worst = max(worst, float(t.max()))
    return worst


def _transport_cost(P, M, block_entries: int = 1 << 16) -> float:
    """<P, M> by row blocks: pairwise sums inside blocks, an exact sum (fsum) across them.

    (np.vdot would call a threaded BLAS, which costs milliseconds of thread start-up on a
    busy machine; (P * M).sum() allocates an n x m temporary.)
    """
    n, m = M.shape
    rows = max(1, block_entries // max(m, 1))
    buf = np.empty((min(rows, n), m))
    parts = []
    for i0 in range(0, n, rows):
        i1 = min(n, i0 + rows)
        t = buf[: i1 - i0]
        np.multiply(P[i0:i1], M[i0:i1], out=t)
        parts.append(float(t.sum()))
    return math.fsum(parts)


def _c_transform(f, M):
    """g_j = min_i M_ij - f_i, then f_i = min_j M_ij - g_j: feasible, and no worse a dual."""
    with np.errstate(over="ignore"):  # an overflowing M_ij - f_i is not the minimum
        g = (M - f[:, None]).min(axis=0)
        f = (M - g[None, :]).min(axis=1)
    return f, g


def _certify(P, f, g, a, b, M, tol, cscale, hint=""):
    """Certificate of (P, f, g) for the unit-mass problem (a, b sum to 1)."""
    info = {}
    neg = float(P.min())
    marginal_error = float(np.abs(P.sum(axis=1) - a).sum() + np.abs(P.sum(axis=0) - b).sum())
    if not (np.isfinite(marginal_error) and np.all(np.isfinite(f)) and np.all(np.isfinite(g))):
        raise EMDCertificateError("the solver returned NaN or infinite plan or potentials.")
    if marginal_error > tol or neg < -tol:
        raise EMDCertificateError(
            f"the solver's plan is not a coupling of a and b: L1 marginal error "
            f"{marginal_error:.3e} (tolerance {tol:.1e}), smallest entry {neg:.3e}.{hint}")
    viol = _violation(f, g, M)
    if viol > tol * cscale:
        info["dual_violation_before_repair"] = viol
        f, g = _c_transform(f, M)
        viol = _violation(f, g, M)
        info["repaired"] = True
        if viol > tol * cscale:  # cannot happen in exact arithmetic: give up loudly
            raise EMDCertificateError(
                f"the potentials violate f_i + g_j <= M_ij by {viol:.3e} even after the "
                f"c-transform repair (tolerance {tol * cscale:.1e}).")
    else:
        info["repaired"] = False
    value = _transport_cost(P, M)
    dual = float(a @ f + b @ g)
    if value - dual > tol * cscale and not info["repaired"]:
        # Feasible but not optimal potentials (e.g. a solver that rounded tiny costs to 0):
        # the c-transform never lowers the dual value; keep it when it closes the gap more.
        f2, g2 = _c_transform(f, M)
        viol2 = _violation(f2, g2, M)
        dual2 = float(a @ f2 + b @ g2)
        if viol2 <= tol * cscale and dual2 > dual:
            info["gap_before_repair"] = value - dual
            info["repaired"] = True
            f, g, viol, dual = f2, g2, viol2, dual2
    gap = value - dual
    return value, f, g, gap, viol, marginal_error, info


# ----------------------------------------------------------------------------- public

def emd(a, b, M, *, method="auto", normalize=False, return_plan=True, tol=1e-9, max_iter=None,
        progress=False):
    r"""Exact optimal transport (Earth-Mover distance) between discrete measures, certified.

    Solves the Kantorovich linear program

    .. math::

        \mathrm{OT}(a, b) = \min_{P \ge 0,\; P 1 = a,\; P^\top 1 = b} \langle P, M \rangle
        = \max_{f_i + g_j \le M_{ij}} \langle a, f\rangle + \langle b, g\rangle

    and checks the answer: the plan's marginals (L1 error, an error above ``tol`` times the
    mass raises :class:`EMDCertificateError`), dual feasibility ``f_i + g_j <= M_ij`` (a
    violation above ``tol * max|M|`` is repaired by the c-transform
    ``g_j = min_i M_ij - f_i``, ``f_i = min_j M_ij - g_j``, which makes the potentials
    feasible, and recorded in ``info["repaired"]``) and the duality gap
    ``<P, M> - (<a, f> + <b, g>)``, which bounds how far ``value`` can be from the optimum.
    ``certified`` is True when all three are within tolerance.

    Parameters
    ----------
    a : array_like (n,) or None
        Source masses (non-negative, finite, positive total); None means uniform ``1/n``.
    b : array_like (m,) or None
        Target masses; None means uniform ``1/m``.
    M : array_like (n, m), DenseGeometry or PointCloud
        Finite real ground costs (NaN and infinity are rejected). A geometry gives its cost
        matrix (a :class:`~kantorovich.ot.PointCloud` materialises ``|x_i - y_j|^p``, raising
        MemoryError when it does not fit); the result is that of the dense call.
        A batch ``M`` (B, n, m) (weights (B, n), (n,) or None) gives array fields: values
        (B,), plans (B, n, m), each problem's certificate (docs/batch.md). Problems on one
        cost matrix (histograms on a shared support): ``np.broadcast_to(M, (B, n, m))``,
        checked once and not copied. A batched PointCloud gives its dense costs.
    method : {"auto", "network_simplex", "highs", "auction"}
        ``"network_simplex"``: POT's ``ot.emd`` (the field's reference CPU solver),
        about O(n^2 m) in practice. ``"highs"``: scipy's HiGHS on the LP with n*m variables,
        for small problems and as an independent check. ``"auction"``: the epsilon-scaling
        auction of :func:`kantorovich.ot.assignment`, only for n == m with uniform weights
        (an optimal plan is then a permutation). ``"auto"``: the auction for n == m >= 2000
        with uniform weights (measured 1.6-3x faster than the network simplex there, exact
        and certified the same way; ``AUTO_AUCTION_MIN_N`` in this module), otherwise the
        network simplex. HiGHS is never chosen automatically.
    normalize : bool
        If True, ``a`` and ``b`` are each divided by their total, and the value is for
        probability measures. If False (default), the totals must agree (relative tolerance
        1e-6, or ``100 * eps`` of the input dtype, e.g. 1.2e-5 for float32) else ValueError;
        ``b`` is then rescaled to the total of ``a`` and the value is for that total mass.
    return_plan : bool
        If False, ``plan`` is None in the result (it is still computed and certified).
    tol : float
        Relative tolerance of the certificate (default 1e-9), at least ``TOL_MIN`` = 1e-12
        (smaller ones are below what float64 rounding lets the certificate check).
    max_iter : int or None
        Pivot limit of the network simplex; None gives ``max(10**6, 200 (n + m))``.
    progress : bool
        Show a progress bar (tqdm, on stderr; ``leave=False``) while the auction runs
        (``method="auction"``, or ``"auto"`` when it picks the auction): its eps-scaling
        phases with the current eps, the bar of ``assignment(progress=True)``. The network
        simplex (POT's C++ code) and HiGHS report nothing until they return, so they show no
        bar. A batch shows one bar over its problems, except on the square uniform batch
        kernel of ``method="auto"``, which solves all problems in one call and shows none.
        Uniform points in the unit square, squared Euclidean cost, 2 shared and loaded cores:
        n = 4000 took 3 s and n = 8000 about 20 s with "auto" (the auction; docs/emd_exact.md,
        "Long solves").

    Returns
    -------
    EMDResult
        ``value`` (float, the optimal cost ``<P, M>``), ``plan`` (n, m), ``f`` (n,), ``g`` (m,),
        ``duality_gap``, ``dual_violation``, ``method``, ``backend``, ``certified``,
        ``marginal_error`` (L1, in the units of the masses) and ``info`` (solver messages,
        timings ``solve_seconds`` / ``certify_seconds``, ``mass``, ``repaired``).
        Arrays are returned on the caller's device.

    Raises
    ------
    ValueError
        Bad masses (negative, NaN, zero total, wrong length), bad costs (NaN, inf, not 2-D),
        ``tol`` below 1e-12,
        unequal total masses without ``normalize=True``, ``method="auction"`` on a
        non-square or non-uniform problem.
    TypeError
        Non-numeric input.
    EMDCertificateError
        The solver's plan is not a coupling of ``a`` and ``b``. Seen only when POT's network
        simplex is stopped by a small ``max_iter`` before it has a feasible plan (then the
        message says so and asks for a larger ``max_iter``); a stop after feasibility gives the
        ``ConvergenceWarning`` below instead. ``kantorovich.exceptions.EMDCertificateError``,
        a :class:`RuntimeError`.

    Warns
    -----
    ConvergenceWarning
        When the solver stopped early (``max_iter`` reached) and the duality gap exceeds the
        tolerance; ``certified`` is then False and ``duality_gap`` bounds the excess cost.

    Notes
    -----
    All solving is in float64. float32 input (where POT's own ``ot.emd`` can stop with
    "Problem infeasible. Check that a and b are in the simplex" or a non-optimal plan because
    the float32 totals differ) is converted to float64 and each of ``a`` and ``b`` is
    renormalised to unit total before solving; the result is then scaled back by the total
    mass of ``a``. CuPy inputs are copied to the host, solved by the CPU solver and the
    plan and potentials are returned as CuPy arrays (a GPU exact solver is the auction's).

    Complexity: the solver dominates; the certificate costs O(nm) time and one n x m
    temporary (measured overhead over ``ot.emd2`` below 10% at n = 1000, see docs/emd_exact.md).

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import emd
    >>> x = np.arange(4.0)
    >>> M = np.abs(x[:, None] - x[None, :])
    >>> r = emd([3, 2, 1, 4], [1, 2, 4, 3], M)
    >>> round(r.value, 12), r.certified, abs(r.duality_gap) < 1e-9
    (5.0, True, True)
    """
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be a bool; got {describe(progress)}.")
    if batch_size_or_raise(M, "M", "(n, m)") is not None:  # a batch of problems (docs/batch.md)
        from ._batch import emd_batch

        return emd_batch(a, b, M, method=method, normalize=normalize, return_plan=return_plan,
                         tol=tol, max_iter=max_iter, progress=bool(progress))
    t0 = time.perf_counter()
    prob = _prepare(a, b, M, method, normalize, tol, max_iter)
    t1 = time.perf_counter()
    P, f, g, info = _solve(prob, bool(progress))
    t2 = time.perf_counter()
    cert = _certify_solution(prob, P, f, g, info)
    t3 = time.perf_counter()
    timings = {"validate_seconds": t1 - t0, "solve_seconds": t2 - t1, "certify_seconds": t3 - t2}
    return _package(prob, P, cert, info, timings, return_plan)


# ----------------------------------------------------------------------------- emd's steps

@dataclass(frozen=True)
class _Problem:
    """One validated transport problem, reduced to unit mass, and how to map the answer back."""

    an: np.ndarray      # (n,) source masses, float64, summing to 1
    bn: np.ndarray      # (m,) target masses, float64, summing to 1
    Mh: np.ndarray      # (n, m) the costs on the host, float64 (what the certificate checks)
    Ms: np.ndarray      # the costs the solver sees: Mh - shift, times 2**-k
    shift: float        # min(min M, 0), added back to f
    k: int              # the power-of-two scaling of Ms, undone on f and g
    cscale: float       # max |M|: the scale of the absolute dual tolerances
    mass: float         # total mass of the answer (1 with normalize=True)
    method: str         # the solver chosen
    max_iter: int
    tol: float
    normalize: bool
    dtypes: tuple       # input dtypes of a, b, M (None for a missing one)
    ref: object         # a CuPy input (results go back to its device), else None


def _check_options(method, normalize, tol) -> float:
    """Check ``method``, ``normalize`` and ``tol``; returns ``tol`` as a float."""
    check_choice(method, "method", METHODS)
    if not isinstance(normalize, (bool, np.bool_)):
        raise TypeError(f"`normalize` must be a bool; got {normalize!r}.")
    tol = check_positive(tol, "tol")
    if tol < TOL_MIN:
        raise ValueError(
            f"`tol` must be at least {TOL_MIN:g}: the certificate is checked in float64, whose "
            f"rounding alone reaches smaller relative errors; got {tol!r}.")
    return tol


def _host_costs(M) -> np.ndarray:
    """``M`` as a checked float64 host matrix (``M`` itself when it already is one)."""
    if (isinstance(M, np.ndarray) and M.dtype == np.float64 and M.ndim == 2 and M.size
            and M.flags.c_contiguous and bool(np.isfinite(M).all())):
        return M   # fast path, no copy: M is only read (the solvers get M itself or new arrays)
    return check_cost_matrix(to_host(M) if is_cupy(M) else M, "M")


def _host_weights(w, name: str, n: int) -> np.ndarray:
    """Checked host masses ``w`` (n,); None gives uniform 1/n."""
    if w is None:
        return np.full(n, 1.0 / n)
    return check_weights(to_host(w) if is_cupy(w) else w, name, n=n)


def _unit_masses(ah, bh, normalize, dt_a, dt_b):
    """(an, bn, mass): both masses at total 1 and the total mass of the answer; a ValueError
    for unequal totals without ``normalize``."""
    sa, sb = float(ah.sum()), float(bh.sum())
    if normalize:
        mass = 1.0
    else:
        check_same_mass(sa, sb, mass_rtol(dt_a, dt_b), hint="or pass normalize=True")
        mass = sa
    an = ah if sa == 1.0 else ah / sa  # unit-mass problem, float64
    bn = bh if sb == 1.0 else bh / sb
    return an, bn, mass


def _choose_method(method: str, an, bn) -> str:
    """The solver that runs: the "auto" rule, or ``method`` after checking that it applies."""
    n, m = an.shape[0], bn.shape[0]
    uniform_square = n == m and _is_uniform(an) and _is_uniform(bn)
    chosen = method
    if method == "auto":
        chosen = "network_simplex"
        if AUTO_AUCTION_MIN_N is not None and uniform_square and n >= AUTO_AUCTION_MIN_N:
            chosen = "auction"
    if chosen == "auction" and not uniform_square:
        raise ValueError(
            "method='auction' solves only square problems (n == m) with uniform weights; got "
            f"n = {n}, m = {m}" + ("" if n != m else " and non-uniform weights")
            + ". Use method='network_simplex' (or 'highs') for general problems.")
    return chosen


def _condition_costs(Mh, m_max=None, m_min=None):
    """(Ms, shift, k, cscale): the costs the solvers see, and how to map their potentials back.

    Solvers work with absolute tolerances: hand them non-negative costs of order 1 (POT's
    network simplex reports a 1 x 1 problem with a negative cost infeasible). Shift by min M
    when it is negative (adds the shift to every f_i), and scale by a power of two (exact in
    floating point) when the costs are far from 1; the potentials are mapped back.
    (``m_max``, ``m_min``: max M and min M when the caller has them.)"""
    if m_max is None:
        m_max, m_min = float(Mh.max()), float(Mh.min())
    if not np.isfinite(m_max - m_min):
        raise ValueError(
            f"`M` must have a finite range max(M) - min(M) in float64; got max {m_max!r} and min "
            f"{m_min!r}, whose difference overflows. Divide `M` by a common factor.")
    cscale = max(m_max, -m_min, np.finfo(np.float64).tiny)
    shift = min(m_min, 0.0)
    Ms = Mh - shift if shift < 0 else Mh
    k = int(np.round(np.log2(max(m_max - shift, np.finfo(np.float64).tiny))))
    if abs(k) > 20:
        Ms = np.ldexp(Ms, -k)
    else:
        k = 0
    return Ms, shift, k, cscale


def _max_iter(max_iter, n: int, m: int) -> int:
    """The network simplex's iteration limit: ``max_iter`` checked, or the default."""
    if max_iter is None:
        return max(10**6, 200 * (n + m))
    return check_int(max_iter, "max_iter", minimum=1, maximum=INT64_MAX)


_EMD_HINT = ("the exact LP needs the whole matrix. With uniform weights and n = m, "
             "assignment(x=x, y=y) (or wasserstein(x, y, method='auction')) is exact with the "
             "costs computed on the fly, O(n) memory; sinkhorn(a, b, PointCloud(x, y), eps=...) is "
             "an entropic approximation in O(n + m) memory.")


def _prepare(a, b, M, method, normalize, tol, max_iter) -> _Problem:
    """Validate the inputs of :func:`emd` (one problem) into a :class:`_Problem`."""
    tol = _check_options(method, normalize, tol)
    if isinstance(M, PointCloud) and not M.cost_is_callable:
        # the LP needs the whole matrix: the error suggests what does not (PointCloud.cost_matrix's
        # own hint suggests the PointCloud that was given)
        n, m = M.shape
        check_dense_memory(n, m, M.dtype.itemsize, device="cuda" if M.on_gpu else "cpu",
                           copies=2 + M.dim, hint=_EMD_HINT)
    if isinstance(M, (DenseGeometry, PointCloud)):
        M = M._matrix()  # a PointCloud's dense cost (MemoryError when it does not fit)
    ref = next((x for x in (M, a, b) if is_cupy(x)), None)
    dtypes = (input_dtype(a), input_dtype(b), input_dtype(M))
    Mh = _host_costs(M)
    n, m = Mh.shape
    ah, bh = _host_weights(a, "a", n), _host_weights(b, "b", m)
    an, bn, mass = _unit_masses(ah, bh, normalize, dtypes[0], dtypes[1])
    if a is None:  # uniform weights have total 1 by definition (n * (1/n) rounds to 1 + 4e-16
        mass = 1.0  # at n = 8000: a copy of the whole plan and a value off by that ulp)
    max_iter = _max_iter(max_iter, n, m)
    chosen = _choose_method(method, an, bn)
    Ms, shift, k, cscale = _condition_costs(Mh)
    return _Problem(an=an, bn=bn, Mh=Mh, Ms=Ms, shift=shift, k=k, cscale=cscale, mass=mass,
                    method=chosen, max_iter=max_iter, tol=tol, normalize=bool(normalize),
                    dtypes=dtypes, ref=ref)


def _solve(prob: _Problem, progress: bool = False):
    """(P, f, g, info) of the chosen solver, the potentials mapped back to the costs ``Mh``
    (``progress``: the auction's bar; the other solvers report nothing while they run)."""
    if prob.method == "network_simplex":
        P, f, g, info = _solve_network_simplex(prob.an, prob.bn, prob.Ms, prob.max_iter)
    elif prob.method == "highs":
        P, f, g, info = _solve_highs(prob.an, prob.bn, prob.Ms)
    else:
        P, f, g, info = _solve_auction(prob.Ms, progress)
    if prob.k:
        with np.errstate(over="ignore"):
            fk, gk = np.ldexp(f, prob.k), np.ldexp(g, prob.k)
        if not (bool(np.all(np.isfinite(fk))) and bool(np.all(np.isfinite(gk)))):
            # costs near float64's maximum, potentials a little above them (the auction's
            # prices): f + c, g - c is as optimal; centre the two ranges on each other
            c = ((float(g.max()) + float(g.min())) - (float(f.max()) + float(f.min()))) / 4.0
            fk, gk = np.ldexp(f + c, prob.k), np.ldexp(g - c, prob.k)
        f, g = fk, gk
        info["cost_scaled_by"] = f"2**{-prob.k}"
    if prob.shift < 0:
        f = f + prob.shift
        info["cost_shifted_by"] = -prob.shift
    return P, f, g, info


def _certify_solution(prob: _Problem, P, f, g, info: dict):
    """:func:`_certify` on the unit-mass problem: (value, f, g, gap, viol, merr, cinfo)."""
    hint = ""
    if "numItermax" in info.get("solver_warning", ""):
        hint = (f" The solver stopped early ({info['solver_warning']!r}): increase `max_iter` "
                f"(now {prob.max_iter}).")
    return _certify(P, f, g, prob.an, prob.bn, prob.Mh, prob.tol, prob.cscale, hint)


def _package(prob: _Problem, P, cert, info: dict, timings: dict, return_plan: bool) -> EMDResult:
    """The :class:`EMDResult` at the problem's mass and on the caller's device; a
    ConvergenceWarning when the duality gap exceeds the tolerance."""
    value, f, g, gap, viol, merr, cinfo = cert
    bound = prob.tol * prob.cscale
    certified = abs(gap) <= bound
    if not certified:
        warn(
            f"emd ({prob.method}) stopped with a duality gap of {gap:.3e} (> {bound:.1e}): the "
            "plan may be suboptimal by at most that much; increase `max_iter`"
            + (f" (now {prob.max_iter})" if prob.method == "network_simplex" else "") + ".",
            ConvergenceWarning)
    n, m = prob.Mh.shape
    mass, ref = prob.mass, prob.ref
    info.update(cinfo)
    info.update({"n": n, "m": m, "mass": mass, "normalized": prob.normalize,
                 "input_dtypes": [str(d) for d in prob.dtypes], **timings})
    if ref is not None:
        info["input_device"] = "cuda (solved on the host)"
    plan = None
    if return_plan:
        if mass != 1.0:  # in place: the solvers' plan is a fresh array (a copy of an n x m
            P *= mass  # plan took 1.6 s and 512 MB more at n = 8000)
        plan = P
        if ref is not None:
            plan = like(plan, ref)
    if ref is not None:
        f, g = like(f, ref), like(g, ref)
    return EMDResult(
        value=value * mass, plan=plan, f=f, g=g, duality_gap=gap * mass, dual_violation=viol,
        method=prob.method, backend="numpy", certified=bool(certified), marginal_error=merr * mass,
        info=info)
