"""numba passes over the pairs of a point cloud for the gradients of kantorovich._autodiff.

All take ``fa = f + eps log a`` and ``gb = g + eps log b`` (zero weights as -1e300, finite for
fastmath), so ``K_ij = exp((fa_i + gb_j - C_ij)/eps)`` is the entropic plan ``P_ij``, with
``C_ij = |x_i - y_j|^p`` recomputed on the fly (O(n + m) memory), and ``yT`` the transposed
second cloud. Rows in parallel; the exponentials by the soft-min kernels' vectorisable exp2
(relative error 1.6e-16; numba has no vector exp).

- :func:`grad_envelope`: ``out_i = sum_j P_ij dC_ij/dx_i`` (the envelope gradient);
- :func:`grad_envelope_xy`: both sides of it from one exponential per pair (the rows' sums
  as in :func:`grad_envelope`, the columns' ``-sum_i P_ij dC_ij/dx_i`` summed per chunk of
  rows and added up at the end);
- :func:`rowsums`: ``s0 = P 1``, ``s1 = P v``, ``s2 = (P o C) 1`` (the implicit solve);
- :func:`products`: ``P v`` and ``P^T u`` from one exponential per pair (a conjugate-gradient
  step of the implicit solve; the columns' sums per chunk of rows, as in
  :func:`grad_envelope_xy`);
- :func:`grad_implicit`: ``out_i = sum_j P_ij (1 + (lam_i + mu_j - C_ij)/eps) dC_ij/dx_i``.

The column versions are the same calls with the clouds, potentials (and multipliers) swapped.

Each is a Python function over a parallel pass (``prange`` over chunks of rows) that calls a
row loop by the address of its entry point (``envelope_rows`` and its siblings, compiled only
as their entry points, :func:`.softmin_numba.row_loop`): a fastmath loop written in the
``prange`` body itself would be compiled twice, as numba's parallel function and as the copy
linked into the kernel, and a process that compiled the kernels and one that loaded them from
numba's cache ran different copies, which rounded apart in the last bits (docs/sinkhorn.md,
"numba's cache and the last bits"). The row loops take numpy's error model, as numba's
parallel functions do (a division has no zero test, so it vectorises).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange, types

from ..._parallel import parallel_kernel
from ._simd import wide_vectors
from .softmin_numba import _FM, _entry_caller, _exp2_f64, _row_costs, entry_point, row_loop

_TINY = 2.2250738585072014e-308  # the smallest normal float64, 2^-1022
from ..._constants import LOG2E as _LOG2E

__all__ = ["grad_envelope", "grad_envelope_xy", "grad_implicit", "products", "rowsums"]



@njit(inline="always", fastmath=_FM)
def _coefficients(x, yT, i, fi, gb, c, p, buf):  # pragma: no cover - compiled
    # buf_j <- P_ij / (a_i b_j) * |x_i - y_j|^(p-2) p: the coefficient of (x_i - y_j) in
    # dC_ij/dx_i, times the plan's kernel (fi = fa_i, c = log2(e)/eps); 0 below 2^-1000 and,
    # for p < 2, where |x_i - y_j|^2 <= 2^-1022 (zero distance: the subgradient 0; a distance
    # below 2^-511, where the square loses digits or underflows: the caller adds those pairs'
    # terms, kantorovich._autodiff._tiny_pair_grads)
    d = x.shape[1]
    m = yT.shape[1]
    for j in range(m):
        buf[j] = 0.0
    for k in range(d):
        xk = x[i, k]
        for j in range(m):
            t = xk - yT[k, j]
            buf[j] += t * t
    if p == 2.0:
        for j in range(m):
            e = (fi + gb[j] - buf[j]) * c
            buf[j] = 2.0 * _exp2_f64(e) if e > -1000.0 else 0.0
    elif p == 1.0:
        for j in range(m):
            sq = buf[j]
            r = math.sqrt(sq)
            e = (fi + gb[j] - r) * c
            buf[j] = _exp2_f64(e) / r if (e > -1000.0 and sq > _TINY) else 0.0
    else:
        lim = _TINY if p < 2.0 else 0.0
        for j in range(m):
            sq = buf[j]
            cp = sq ** (0.5 * p)
            e = (fi + gb[j] - cp) * c
            buf[j] = p * cp / sq * _exp2_f64(e) if (e > -1000.0 and sq > lim) else 0.0


@row_loop(fastmath=_FM, error_model="numpy")
def envelope_rows(x, yT, fa, gb, inv_eps, p, out, i0, i1):  # pragma: no cover - compiled
    # rows i0 .. i1 - 1 of grad_envelope: out_i = sum_j exp((fa_i + gb_j - C_ij)/eps) dC_ij/dx_i
    # with fa = f + eps log a, gb = g + eps log b (zero weights arrive as -1e300: their terms
    # are exactly 0)
    wide_vectors()
    d = x.shape[1]
    m = yT.shape[1]
    c = inv_eps * _LOG2E
    buf = np.empty(m)
    for i in range(i0, i1):
        if fa[i] < -1e299:
            continue
        fi = fa[i]
        if d == 2 and p == 2.0:  # the common case in one fused, vectorised loop
            x0, x1 = x[i, 0], x[i, 1]
            acc0 = 0.0
            acc1 = 0.0
            for j in range(m):
                t0 = x0 - yT[0, j]
                t1 = x1 - yT[1, j]
                e = (fi + gb[j] - (t0 * t0 + t1 * t1)) * c
                w = _exp2_f64(e) if e > -1000.0 else 0.0
                acc0 += w * t0
                acc1 += w * t1
            out[i, 0] = 2.0 * acc0
            out[i, 1] = 2.0 * acc1
            continue
        _coefficients(x, yT, i, fi, gb, c, p, buf)
        for k in range(d):
            xk = x[i, k]
            acc = 0.0
            for j in range(m):
                acc += buf[j] * (xk - yT[k, j])
            out[i, k] = acc


@row_loop(fastmath=_FM, error_model="numpy")
def envelope_xy_rows(x, yT, fa, gb, inv_eps, p, out, gy, i0, i1):  # pragma: no cover - compiled
    # rows i0 .. i1 - 1 of grad_envelope_xy: out_i as envelope_rows, and gy[k, j] -= P_ij
    # dC_ij/dx_i[k] for each of them (one chunk's column sums)
    wide_vectors()
    d = x.shape[1]
    m = yT.shape[1]
    c = inv_eps * _LOG2E
    if d == 2 and p == 2.0:  # the common case in one fused, vectorised loop per row
        gy0 = gy[0]  # (the two rows of gy taken once, not as two views per row)
        gy1 = gy[1]
        for i in range(i0, i1):
            if fa[i] < -1e299:
                continue
            fi = fa[i]
            x0, x1 = x[i, 0], x[i, 1]
            acc0 = 0.0
            acc1 = 0.0
            for j in range(m):
                t0 = x0 - yT[0, j]
                t1 = x1 - yT[1, j]
                e = (fi + gb[j] - (t0 * t0 + t1 * t1)) * c
                w = 2.0 * _exp2_f64(e) if e > -1000.0 else 0.0
                u0 = w * t0
                u1 = w * t1
                acc0 += u0
                acc1 += u1
                gy0[j] -= u0
                gy1[j] -= u1
            out[i, 0] = acc0
            out[i, 1] = acc1
        return
    buf = np.empty(m)
    for i in range(i0, i1):
        if fa[i] < -1e299:
            continue
        fi = fa[i]
        _coefficients(x, yT, i, fi, gb, c, p, buf)
        for k in range(d):
            xk = x[i, k]
            gyk = gy[k]
            acc = 0.0
            for j in range(m):
                u = buf[j] * (xk - yT[k, j])
                acc += u
                gyk[j] -= u
            out[i, k] = acc


@njit(inline="always", fastmath=_FM)
def _cost(x, yT, i, j, p):  # pragma: no cover - compiled
    sq = 0.0
    for k in range(x.shape[1]):
        t = x[i, k] - yT[k, j]
        sq += t * t
    if p == 2.0:
        return sq, sq
    if p == 1.0:
        return sq, math.sqrt(sq)
    return sq, sq ** (0.5 * p)


@njit(inline="always", fastmath=_FM)
def _plan_entry(fi, gj, cst, c):  # pragma: no cover - compiled
    # P_ij = 2^((fa_i + gb_j - C_ij) c), c = log2(e)/eps; 0 below 2^-1000 (and for a zero weight)
    e = (fi + gj - cst) * c
    return _exp2_f64(e) if e > -1000.0 else 0.0


@row_loop(fastmath=_FM, error_model="numpy")
def rowsum_rows(x, yT, fa, gb, inv_eps, p, v, s0, s1, s2, i0, i1):  # pragma: no cover - compiled
    # rows i0 .. i1 - 1 of rowsums: s0 = P 1, s1 = P v, s2 = (P o C) 1
    wide_vectors()
    m = yT.shape[1]
    c = inv_eps * _LOG2E
    buf = np.empty(m)  # the costs of one row: each loop below vectorises
    for i in range(i0, i1):
        if fa[i] < -1e299:
            continue
        _row_costs(x[i], yT, p, buf)
        fi = fa[i]
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        for j in range(m):
            cst = buf[j]
            kij = _plan_entry(fi, gb[j], cst, c)
            a0 += kij
            a1 += kij * v[j]
            a2 += kij * cst
        s0[i] = a0
        s1[i] = a1
        s2[i] = a2


@row_loop(fastmath=_FM, error_model="numpy")
def product_rows(x, yT, fa, gb, inv_eps, p, v, u, pv, cs, i0, i1):  # pragma: no cover - compiled
    # rows i0 .. i1 - 1 of products: pv_i = sum_j P_ij v_j, and cs_j += P_ij u_i (one chunk's
    # column sums)
    wide_vectors()
    m = yT.shape[1]
    c = inv_eps * _LOG2E
    buf = np.empty(m)  # the costs of one row: the loop below vectorises
    for i in range(i0, i1):
        if fa[i] < -1e299:
            continue
        _row_costs(x[i], yT, p, buf)
        fi = fa[i]
        ui = u[i]
        acc = 0.0
        for j in range(m):
            kij = _plan_entry(fi, gb[j], buf[j], c)
            acc += kij * v[j]
            cs[j] += kij * ui
        pv[i] = acc


@row_loop(fastmath=_FM, error_model="numpy")
def implicit_rows(x, yT, fa, gb, inv_eps, p, lam, mu, out, i0, i1):  # pragma: no cover - compiled
    # rows i0 .. i1 - 1 of grad_implicit: out_i += sum_j P_ij (1 + (lam_i + mu_j - C_ij)/eps)
    # dC_ij/dx_i
    wide_vectors()
    d = x.shape[1]
    m = yT.shape[1]
    c = inv_eps * _LOG2E
    # p < 2: the pairs with |x_i - y_j|^2 <= 2^-1022 are left out, as in _coefficients
    lim = _TINY if p < 2.0 else 0.0
    for i in range(i0, i1):
        if fa[i] < -1e299:
            continue
        for j in range(m):
            sq, cst = _cost(x, yT, i, j, p)
            e = (fa[i] + gb[j] - cst) * c
            if e <= -1000.0 or (p != 2.0 and sq <= lim):
                continue
            w = p if p == 2.0 else p * cst / sq
            q = _exp2_f64(e) * (1.0 + (lam[i] + mu[j] - cst) * inv_eps) * w
            for k in range(d):
                out[i, k] += q * (x[i, k] - yT[k, j])


# --------------------------------------------------------------------------------------------
# the entry points of the row loops above, and the parallel passes over the rows
# --------------------------------------------------------------------------------------------

_V, _M, _F, _I = types.float64[::1], types.float64[:, ::1], types.float64, types.int64
_ENVELOPE_SIG = types.void(_M, _M, _V, _V, _F, _F, _M, _I, _I)
_ENVELOPE_XY_SIG = types.void(_M, _M, _V, _V, _F, _F, _M, _M, _I, _I)
_ROWSUM_SIG = types.void(_M, _M, _V, _V, _F, _F, _V, _V, _V, _V, _I, _I)
_PRODUCT_SIG = types.void(_M, _M, _V, _V, _F, _F, _V, _V, _V, _V, _I, _I)
_IMPLICIT_SIG = types.void(_M, _M, _V, _V, _F, _F, _V, _V, _M, _I, _I)
_ENTRIES: dict = {}


def _entries() -> dict:
    """The row loops' entry points (:func:`~.softmin_numba.entry_point`), compiled or loaded
    from numba's cache on first use."""
    if not _ENTRIES:
        _ENTRIES.update(envelope=entry_point(_ENVELOPE_SIG, envelope_rows),
                        envelope_xy=entry_point(_ENVELOPE_XY_SIG, envelope_xy_rows),
                        rowsum=entry_point(_ROWSUM_SIG, rowsum_rows),
                        product=entry_point(_PRODUCT_SIG, product_rows),
                        implicit=entry_point(_IMPLICIT_SIG, implicit_rows))
    return _ENTRIES


_call_envelope = _entry_caller("envelope_rows", _ENVELOPE_SIG)
_call_envelope_xy = _entry_caller("envelope_xy_rows", _ENVELOPE_XY_SIG)
_call_rowsum = _entry_caller("rowsum_rows", _ROWSUM_SIG)
_call_product = _entry_caller("product_rows", _PRODUCT_SIG)
_call_implicit = _entry_caller("implicit_rows", _IMPLICIT_SIG)


@parallel_kernel
@njit(parallel=True, cache=True)
def _envelope_pass(rows, x, yT, fa, gb, inv_eps, p, out, n_chunks):  # pragma: no cover - compiled
    n = x.shape[0]
    for ch in prange(n_chunks):
        _call_envelope(rows, x, yT, fa, gb, inv_eps, p, out, ch * n // n_chunks,
                       (ch + 1) * n // n_chunks)


@parallel_kernel
@njit(parallel=True, cache=True)
def _envelope_xy_pass(rows, x, yT, fa, gb, inv_eps, p, out, parts):  # pragma: no cover - compiled
    n = x.shape[0]
    n_chunks = parts.shape[0]
    for ch in prange(n_chunks):
        _call_envelope_xy(rows, x, yT, fa, gb, inv_eps, p, out, parts[ch], ch * n // n_chunks,
                          (ch + 1) * n // n_chunks)


@parallel_kernel
@njit(parallel=True, cache=True)
def _rowsum_pass(rows, x, yT, fa, gb, inv_eps, p, v, s0, s1, s2, n_chunks):  # pragma: no cover
    n = x.shape[0]
    for ch in prange(n_chunks):
        _call_rowsum(rows, x, yT, fa, gb, inv_eps, p, v, s0, s1, s2, ch * n // n_chunks,
                     (ch + 1) * n // n_chunks)


@parallel_kernel
@njit(parallel=True, cache=True)
def _product_pass(rows, x, yT, fa, gb, inv_eps, p, v, u, pv, parts):  # pragma: no cover - compiled
    n = x.shape[0]
    n_chunks = parts.shape[0]
    for ch in prange(n_chunks):
        _call_product(rows, x, yT, fa, gb, inv_eps, p, v, u, pv, parts[ch], ch * n // n_chunks,
                      (ch + 1) * n // n_chunks)


@parallel_kernel
@njit(parallel=True, cache=True)
def _implicit_pass(rows, x, yT, fa, gb, inv_eps, p, lam, mu, out):  # pragma: no cover - compiled
    n = x.shape[0]
    for i in prange(n):
        r = np.int64(i)  # (a prange index is unsigned; the entry point takes int64)
        _call_implicit(rows, x, yT, fa, gb, inv_eps, p, lam, mu, out, r, r + 1)


def grad_envelope(x, yT, fa, gb, inv_eps, p, out, n_chunks):
    """``out_i = sum_j exp((fa_i + gb_j - C_ij)/eps) dC_ij/dx_i`` with ``fa = f + eps log a``,
    ``gb = g + eps log b`` (zero weights as -1e300: their terms are exactly 0), into ``out``
    (n, d); the rows in ``n_chunks`` chunks over the threads (:func:`envelope_rows`)."""
    _envelope_pass(_entries()["envelope"].address, x, yT, fa, gb, inv_eps, p, out, n_chunks)


def grad_envelope_xy(x, yT, fa, gb, inv_eps, p, out, parts):
    """``out_i`` as :func:`grad_envelope`, and ``parts[ch, k, j] = -sum_{i in chunk ch} P_ij
    dC_ij/dx_i[k]`` (zeroed by the caller), whose sum over ``ch`` is the gradient in ``y_j``:
    one exponential per pair for both sides. Chunks are fixed ranges of rows, so the sums do not
    depend on the scheduling of the threads (:func:`envelope_xy_rows`)."""
    _envelope_xy_pass(_entries()["envelope_xy"].address, x, yT, fa, gb, inv_eps, p, out, parts)


def rowsums(x, yT, fa, gb, inv_eps, p, v, s0, s1, s2, n_chunks):
    """``s0 = P 1``, ``s1 = P v``, ``s2 = (P o C) 1`` (the implicit solve), the rows in
    ``n_chunks`` chunks over the threads (:func:`rowsum_rows`)."""
    _rowsum_pass(_entries()["rowsum"].address, x, yT, fa, gb, inv_eps, p, v, s0, s1, s2, n_chunks)


def products(x, yT, fa, gb, inv_eps, p, v, u, pv, parts):
    """``pv_i = sum_j P_ij v_j`` (rows' sums, as :func:`rowsums`' ``s1``) and ``parts[ch, j] =
    sum_{i in chunk ch} P_ij u_i`` (zeroed by the caller), whose sum over ``ch`` is ``(P^T
    u)_j``: both products of a conjugate-gradient step from one exponential per pair. Chunks
    are fixed ranges of rows, so the sums do not depend on the scheduling of the threads
    (:func:`product_rows`)."""
    _product_pass(_entries()["product"].address, x, yT, fa, gb, inv_eps, p, v, u, pv, parts)


def grad_implicit(x, yT, fa, gb, inv_eps, p, lam, mu, out):
    """``out_i += sum_j P_ij (1 + (lam_i + mu_j - C_ij)/eps) dC_ij/dx_i``, one row per
    parallel iteration (:func:`implicit_rows`)."""
    _implicit_pass(_entries()["implicit"].address, x, yT, fa, gb, inv_eps, p, lam, mu, out)


# --------------------------------------------------------------------------------------------
# the implicit solve of a small problem, whole, in one call
# --------------------------------------------------------------------------------------------

@njit(cache=True)
def _matvecs(P, ra, rb, z, out):  # pragma: no cover - compiled
    """out = [ra lam + P mu, P^T lam + rb mu] for z = [lam, mu]."""
    n, m = P.shape
    for j in range(m):
        out[n + j] = rb[j] * z[n + j]
    for i in range(n):
        li = z[i]
        t = ra[i] * li
        for j in range(m):
            t += P[i, j] * z[n + j]
            out[n + j] += P[i, j] * li
        out[i] = t


@njit(fastmath=_FM, cache=True)
def pc_cost_matrix(x, yT, p, C):  # pragma: no cover - compiled
    """C_ij = |x_i - y_j|^p as the passes above compute it (:func:`_row_costs`), row by row."""
    wide_vectors()
    for i in range(x.shape[0]):
        _row_costs(x[i], yT, p, C[i])
    return C


@njit(cache=True)
def _sweep_rows(K, s0, s2, other, own):  # pragma: no cover - compiled
    """One Gauss-Seidel half-sweep: ``own_i = (s2_i - sum_j K_ij other_j) / s0_i`` for every
    row with ``s0_i > 0`` (the rows of the plan over a_i, or its columns over b_j as the rows
    of ``K``); returns the largest change."""
    change = 0.0
    for i in range(K.shape[0]):
        if s0[i] > 0:
            s1 = 0.0
            for j in range(K.shape[1]):
                s1 += K[i, j] * other[j]
            new = (s2[i] - s1) / s0[i]
            change = max(change, abs(new - own[i]))
            own[i] = new
    return change


@njit(cache=True)
def implicit_dense(C, a, b, f, g, fa, gb, eps, tol, max_iter, sweep_tol, max_sweeps, clip):  # pragma: no cover
    """The multipliers of the implicit system of kantorovich._autodiff.sinkhorn_value_grads for
    a small problem, its plan ``P_ij = exp((fa_i + gb_j - C_ij)/eps)`` and costs ``C`` held as
    matrices: the same Jacobi-preconditioned conjugate gradients on the right-hand side divided
    by its power of two (``_implicit_solve``, ``_pcg``), then the same Gauss-Seidel sweeps
    (``_substituted_multipliers``; their kernels are the plan's rows over ``a_i`` and columns
    over ``b_j``, recomputed only for zero weights), in one compiled call instead of ~30 steps
    of numpy operations. Returns (lam, mu, relative residual, converged, the last sweep's
    change, P)."""
    n, m = C.shape
    N = n + m
    P = np.empty((n, m))
    ra = np.zeros(n)
    rb = np.zeros(m)
    rhs = np.zeros(N)
    for i in range(n):
        for j in range(m):
            v = math.exp(min((fa[i] + gb[j] - C[i, j]) / eps, clip))
            P[i, j] = v
            ra[i] += v
            rb[j] += v
            rhs[i] += v * C[i, j]
            rhs[n + j] += v * C[i, j]
    top = 0.0
    for k in range(N):
        top = max(top, abs(rhs[k]))
    k2 = math.frexp(top)[1] if top > 0.0 and math.isfinite(top) else 0
    for k in range(N):
        rhs[k] = math.ldexp(rhs[k], -k2)
    # the Jacobi preconditioner; a subnormal row or column sum (a weight below 2^-1022) is
    # left out like a zero one (its reciprocal overflows), and its multiplier comes from the
    # sweeps below
    inv = np.zeros(N)
    for i in range(n):
        inv[i] = 1.0 / ra[i] if ra[i] >= _TINY else 0.0
    for j in range(m):
        inv[n + j] = 1.0 / rb[j] if rb[j] >= _TINY else 0.0
    z = np.zeros(N)
    res = rhs.copy()
    nrm0 = math.sqrt(np.dot(rhs, rhs))
    rel = 0.0
    ok = True
    if nrm0 > 0.0:
        s = inv * res
        d = s.copy()
        Ad = np.empty(N)
        rs = np.dot(res, s)
        rel = 1.0
        ok = False
        for _ in range(max_iter):
            _matvecs(P, ra, rb, d, Ad)
            dAd = np.dot(d, Ad)
            if not dAd > 0.0:
                break
            alpha = rs / dAd
            z += alpha * d
            res -= alpha * Ad
            rel = math.sqrt(np.dot(res, res)) / nrm0
            if rel < tol:
                ok = True
                break
            s = inv * res
            rs_new = np.dot(res, s)
            d = s + (rs_new / rs) * d
            rs = rs_new
        ok = ok or rel < tol
    lam = np.empty(n)
    mu = np.empty(m)
    for i in range(n):
        lam[i] = math.ldexp(z[i], k2)
    for j in range(m):
        mu[j] = math.ldexp(z[n + j], k2)
    # the sweeps' kernels: exp((f_i + gb_j - C_ij)/eps) = P_ij / a_i by rows and
    # exp((fa_i + g_j - C_ij)/eps) = P_ij / b_j by columns (held transposed, KcT[j, i]),
    # recomputed where P_ij is zero or subnormal (a zero weight, or one so small that P_ij
    # kept too few digits to divide)
    Kr = np.empty((n, m))
    KcT = np.empty((m, n))
    for i in range(n):
        for j in range(m):
            Kr[i, j] = (P[i, j] / a[i] if P[i, j] >= _TINY else
                        math.exp(min((f[i] + gb[j] - C[i, j]) / eps, clip)))
            KcT[j, i] = (P[i, j] / b[j] if P[i, j] >= _TINY else
                         math.exp(min((fa[i] + g[j] - C[i, j]) / eps, clip)))
    r0 = np.zeros(n)
    r2 = np.zeros(n)
    c0 = np.zeros(m)
    c2 = np.zeros(m)
    for i in range(n):
        for j in range(m):
            r0[i] += Kr[i, j]
            r2[i] += Kr[i, j] * C[i, j]
            c0[j] += KcT[j, i]
            c2[j] += KcT[j, i] * C[i, j]
    top = 0.0
    for i in range(n):
        if r0[i] > 0:
            top = max(top, abs(r2[i] / r0[i]))
    change_rel = 0.0
    for _ in range(max_sweeps):
        change = _sweep_rows(Kr, r0, r2, mu, lam)  # the rows from the columns' multipliers
        change = max(change, _sweep_rows(KcT, c0, c2, lam, mu))  # then the columns
        change_rel = change / max(top, 1e-300)
        if change_rel <= sweep_tol:
            break
    return lam, mu, rel, ok, change_rel, P
