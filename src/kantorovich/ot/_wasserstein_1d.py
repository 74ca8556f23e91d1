r"""The 1-D Wasserstein distance W_p by the quantile formula, with its plan and potentials.

For two probability measures on the real line with quantile functions
:math:`F^{-1}` and :math:`G^{-1}`,

.. math::

    W_p(u, v)^p = \int_0^1 |F^{-1}(t) - G^{-1}(t)|^p \, dt ,

and for p = 1 also :math:`W_1 = \int_{\mathbb R} |F(x) - G(x)| \, dx` (the form
``scipy.stats.wasserstein_distance`` uses). For discrete measures both quantile functions
are step functions; merging their breakpoints (the cumulative weights) cuts [0, 1] into at
most n + m - 1 intervals on which both are constant, which is exactly the north-west corner
rule on the sorted supports, and it is optimal because |x - y|^p (p >= 1) is a Monge cost.

Implementations (``backend``):

* ``"numpy"``: sort, then a vectorised merge
  (:func:`kantorovich.ot._kernels.wass1d_numpy.wpp_reference`, also the reference for the tests); equal-size unweighted rows reduce to ``mean(|sort(x) - sort(y)|^p)``.
* ``"numba"``: an LSD radix sort on the float64 bit patterns
  (:mod:`kantorovich.ot._kernels.radix_numba`; weights carried as the payload, u and v
  sorted concurrently in two threads when each is one long row; ``np.sort`` for rows shorter
  than ``RADIX_MIN_N``), then one fused O(n + m) pass
  (:mod:`kantorovich.ot._kernels.wass1d_numba`), parallel over rows.
* ``"cuda"``: CuPy (:mod:`kantorovich.ot._kernels.wass1d_cupy`): one CuPy sort per side and
  one fused reduction for equal-size unweighted rows; the vectorised merge otherwise.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._array_api import cupy_or_raise, is_cupy, namespace, resolve_backend
from .._results import Wasserstein1DResult
from .._validation import as_float_array, check_weights, describe, xp_of
from .._warnings import warn
from ..exceptions import KantorovichWarning
from ._kernels.wass1d_numpy import broadcast_rows
from ._kernels.wass1d_numpy import wpp_reference as _wpp_reference  # noqa: F401 (the numpy reference W_p^p)
from ._sorted_rows import (AUTO_NUMBA_MIN_SIZE, PAIR_MIN_SIZE, RADIX_MIN_N, SAFE_LO, breakpoints, check_p, cost,
                           merge_cells, numba_ok, pow2_above_max_abs, sort_numba, sort_rows, wp_rescaled, wp_sorted)

__all__ = ["wasserstein_1d", "wasserstein_1d_plan"]


# ----------------------------------------------------------------------------- validation
def _check_values(x: Any, name: str, dtype=None):
    arr = as_float_array(x, name, dtype=dtype, min_ndim=1)
    xp = xp_of(arr)
    if bool(xp.any(xp.isnan(arr))):
        raise ValueError(f"`{name}` must not contain NaN.")
    return arr


def _check_dist_weights(w: Any, name: str, values, vname: str):
    if w is None:
        return None
    n = values.shape[-1]
    try:
        with np.errstate(over="ignore"):  # an overflowing total is reported below
            arr = check_weights(w, name, batch=True)
    except ValueError as exc:
        if "positive total" in str(exc):
            raise ValueError(f"`{name}` must have a positive total mass (in every row); got a total of 0.") from None
        raise
    if arr.shape[-1] != n:
        raise ValueError(
            f"`{name}` must have the same length as `{vname}` ({n}) along the last axis; got {describe(arr)}.")
    xp = xp_of(arr)
    with np.errstate(over="ignore"):
        tot = arr.sum(axis=-1)
    if not bool(xp.all(xp.isfinite(tot))):
        raise ValueError(f"`{name}` must have a finite total mass; got an overflow to infinity.")
    try:
        np.broadcast_shapes(arr.shape, values.shape)
    except ValueError:
        raise ValueError(
            f"`{name}` of shape {tuple(arr.shape)} does not broadcast to `{vname}` of shape "
            f"{tuple(values.shape)}.") from None
    if arr.ndim > values.ndim:
        raise ValueError(
            f"`{name}` must not have more dimensions than `{vname}`; got {arr.ndim} and {values.ndim}.")
    return arr


def _prepare(u_values, v_values, u_weights, v_weights, p, backend):
    p = check_p(p)
    namespace(u_values, v_values, u_weights, v_weights)  # TypeError when numpy and CuPy mix
    on_gpu = any(is_cupy(a) for a in (u_values, v_values, u_weights, v_weights) if a is not None)
    backend = resolve_backend(backend, "wasserstein_1d", u_values, v_values, u_weights, v_weights)
    if on_gpu and backend in ("numpy", "numba"):
        raise ValueError(
            f"`backend` {backend!r} needs numpy input; got CuPy arrays (use backend='cuda' or 'auto').")
    keep32 = backend == "cuda"  # the GPU path keeps float32 input in float32 for the sort
    dt = None
    if keep32:
        dts = [getattr(a, "dtype", None) for a in (u_values, v_values)]
        if all(d is not None and np.dtype(d).kind == "f" and np.dtype(d).itemsize <= 4 for d in dts):
            dt = np.float32
    u = _check_values(u_values, "u_values", dt)
    v = _check_values(v_values, "v_values", dt)
    uw = _check_dist_weights(u_weights, "u_weights", u, "u_values")
    vw = _check_dist_weights(v_weights, "v_weights", v, "v_values")
    # weights with more rows than their values (u (1, n), uw (B, n)): give the values the same
    # batch shape, so the sorts, the batch shape and the result all see every row
    xp = xp_of(u)
    if uw is not None and np.broadcast_shapes(u.shape, uw.shape) != u.shape:
        u = xp.broadcast_to(u, np.broadcast_shapes(u.shape, uw.shape)).copy()
    if vw is not None and np.broadcast_shapes(v.shape, vw.shape) != v.shape:
        v = xp.broadcast_to(v, np.broadcast_shapes(v.shape, vw.shape)).copy()
    try:
        batch = np.broadcast_shapes(u.shape[:-1], v.shape[:-1])
    except ValueError:
        raise ValueError(
            f"leading (batch) shapes of `u_values` {tuple(u.shape)} and `v_values` {tuple(v.shape)} "
            "do not broadcast.") from None
    if backend == "auto":
        size = int(np.prod(batch, dtype=np.int64)) * (u.shape[-1] + v.shape[-1])
        backend = "numba" if size >= AUTO_NUMBA_MIN_SIZE and numba_ok() else "numpy"
    return u, v, uw, vw, p, backend, batch, on_gpu


# ----------------------------------------------------------------------------- W_p
def _fast_single_pair(u_values, v_values, u_weights, v_weights, p, backend):
    """The common large case without copies: one long float64 row per side, numba backend.

    When every input is a 1-D C-contiguous float64 numpy array, u and v each hold at least
    ``RADIX_MIN_N`` values and ``PAIR_MIN_SIZE`` in all, the validation (NaN values; NaN,
    negative or infinite weights; the weight totals) is fused into the histogram pass of an
    out-of-place radix sort that reads the caller's arrays directly
    (:func:`kantorovich.ot._kernels.radix_numba.sort_pair_from`). If a check fails, the
    ordinary validation runs and raises its usual error. Returns None when the fast path
    does not apply.
    """
    if not (isinstance(backend, str) and backend in ("auto", "numba")):
        return None
    if u_values is None or v_values is None:
        return None  # the ordinary validation names the argument
    arrs = (u_values, v_values, u_weights, v_weights)
    for a in arrs:
        if a is not None and not (type(a) is np.ndarray and a.ndim == 1 and a.dtype == np.float64
                                  and a.flags.c_contiguous):
            return None
    n, m = u_values.shape[0], v_values.shape[0]
    if min(n, m) < RADIX_MIN_N or n + m < PAIR_MIN_SIZE:
        return None
    if (u_weights is not None and u_weights.shape[0] != n) or (v_weights is not None and v_weights.shape[0] != m):
        return None  # the ordinary path reports the length mismatch
    p = check_p(p)
    if not numba_ok():
        return None
    from ._kernels import radix_numba as R

    xs, wu, ys, wv, info = R.sort_pair_from(u_values, u_weights, v_values, v_weights)
    ok = True
    for nan, bad, tot in info.values():
        if nan or bad or (tot is not None and not (0.0 < tot < math.inf)):
            ok = False
    if not ok:
        # the ordinary validation names the argument and the problem (and raises)
        _prepare(u_values, v_values, u_weights, v_weights, p, backend)
        return None  # (not reached unless the two checks disagree on an overflowing total)
    xs, ys = xs[None], ys[None]
    wu = None if wu is None else wu[None]
    wv = None if wv is None else wv[None]
    wp = wp_sorted(xs, wu, ys, wv, p, "numba")
    return np.float64(np.asarray(wp, dtype=np.float64).reshape(()))


def wasserstein_1d(u_values, v_values, u_weights=None, v_weights=None, *, p=1, backend="auto"):
    r"""Wasserstein distance W_p between two 1-D discrete distributions.

    .. math::

        W_p(u, v) = \Big(\int_0^1 |F_u^{-1}(t) - F_v^{-1}(t)|^p \, dt\Big)^{1/p},
        \qquad W_1(u, v) = \int_{\mathbb R} |F_u(x) - F_v(x)| \, dx ,

    with :math:`F_u, F_v` the CDFs of :math:`u = \sum_i a_i \delta_{x_i}`,
    :math:`v = \sum_j b_j \delta_{y_j}` (weights normalised to sum to 1). For p = 1 this is
    a drop-in replacement of ``scipy.stats.wasserstein_distance`` (same arguments, same
    values to rounding, zero weights ignored); for p = 2 it is *not* scipy's
    ``energy_distance`` (that is the L2 distance between CDFs, a different quantity).

    Parameters
    ----------
    u_values, v_values : array_like, shape (..., n) and (..., m)
        Support points (or samples). Leading axes are a batch: they broadcast against each
        other and give one distance per batch element (values of shape (B, n) and (B, m)
        give B distances; (B, n) against (m,) compares every row with the same v).
        ``+inf`` / ``-inf`` are allowed (see Notes); NaN is an error.
    u_weights, v_weights : array_like, optional
        Non-negative finite weights (counts or masses) of the same length as the values along
        the last axis, with a positive total in every row; shape (n,), the values' shape, or
        (B, n) against values of shape (1, n) (a batch of B weightings of the same values;
        weights with more axes than their values, such as (B, n) against (n,), are a
        ValueError: pass ``values[None]``).
        ``None`` means uniform weights.
    p : float, default 1
        Order, any real p >= 1.
    backend : {"auto", "numpy", "numba", "cuda", "cupy"}
        ``"auto"``: ``"cuda"`` when an input is a CuPy array; otherwise ``"numba"`` when numba
        is installed and the inputs hold at least ``AUTO_NUMBA_MIN_SIZE`` (20 000) values in
        all, else ``"numpy"``. ``"cuda"`` (the GPU implementation, here ``"cupy"``; docs/arrays.md
        "Backends") with numpy input computes on the GPU and returns numpy; ``"numpy"``/``"numba"``
        with CuPy input is an error.

    Returns
    -------
    distance : float or array
        A numpy float64 scalar for 1-D inputs, an array of the broadcast batch shape
        otherwise. With CuPy input: a CuPy array (0-d for 1-D inputs) on the same device.

    Raises
    ------
    ValueError
        NaN values; negative, NaN or infinite weights; a zero total weight; weights whose
        length differs from the values'; empty inputs; p < 1; batch shapes that do not
        broadcast.
    TypeError
        Non-numeric input; numpy and CuPy arrays mixed.

    Notes
    -----
    Cost: sorting, then one O(n + m) pass (numba) or a vectorised merge of the cumulative
    weights (numpy). The numba backend sorts rows of at least ``RADIX_MIN_N`` values with
    an O(n + m) LSD radix sort (8 passes of 8-bit digits over the float64 bit patterns) that
    carries the weights along, sorting u and v in two threads at once; the numpy backend
    uses ``np.sort``, O((n + m) log(n + m)). Weighted rows are sorted together with their
    weights (radix payload; numpy: one complex-valued sort; CuPy: argsort and gather). Equal-size unweighted
    rows need no merge: :math:`W_p^p = \frac1n \sum_i |x_{(i)} - y_{(i)}|^p`. Computation is
    float64 on the CPU; the CuPy path keeps float32 input in float32 for the sort and
    accumulates in float64. For p != 1 the values are first rescaled by an exact power of two
    from the largest |value|; a row whose sum then overflows or underflows (a far value, even
    of zero weight; large p; p = 1 sums beyond float64) is recomputed as
    ``D * (sum m (|d| / D)^p)^(1/p)`` with D the largest moved distance, so W_p is right for
    every p >= 1 (it tends to D as p grows) wherever it is representable (numpy and numba;
    the CuPy path rescales by the largest value only).

    Infinite values: the distance between two equal infinities is taken as 0 and intervals
    of zero mass contribute nothing. So the result is ``inf`` whenever some positive mass
    must travel to or from an infinity (scipy agrees), and finite when the masses at each
    infinity match, or when the only infinite points have zero weight. There scipy returns
    NaN with a RuntimeWarning (``inf - inf`` and ``0 * inf`` in its CDF sum); we return the
    value of the integral :math:`\int |F_u - F_v|`, which is well defined (for example
    ``wasserstein_1d([1, 2, inf], [inf, 1])`` is ``inf``: a sixth of the mass travels from 2 to
    ``+inf``; ``wasserstein_1d([1, inf], [2, inf])`` is 0.5).

    Examples
    --------
    >>> from kantorovich.ot import wasserstein_1d
    >>> float(wasserstein_1d([0, 1, 3], [5, 6, 8]))
    5.0
    >>> float(wasserstein_1d([0, 1], [0, 1], [3, 1], [2, 2]))
    0.25
    >>> float(wasserstein_1d([0, 0], [1, 3], p=2))   # sqrt((1 + 9) / 2)
    2.23606797749979
    >>> wasserstein_1d([[0.0, 1.0], [0.0, 2.0]], [0.0, 1.0]).tolist()   # a batch of two
    [0.0, 0.5]
    """
    fast = _fast_single_pair(u_values, v_values, u_weights, v_weights, p, backend)
    if fast is not None:
        return fast
    u, v, uw, vw, p, backend, batch, on_gpu = _prepare(u_values, v_values, u_weights, v_weights, p, backend)
    if backend == "cuda":
        cupy = cupy_or_raise()
        from ._kernels import wass1d_cupy

        dev = [cupy.asarray(a) if a is not None else None for a in (u, v, uw, vw)]
        out = wass1d_cupy.wasserstein_1d_cupy(*dev, p=p, batch=batch)
        if not on_gpu:
            out = out.get()
            return np.float64(out) if out.ndim == 0 else out
        return out
    if backend == "numba":
        xs, wu, ys, wv = sort_numba(u, uw, v, vw)
    else:
        xs, wu = sort_rows(u, uw, np)
        ys, wv = sort_rows(v, vw, np)
    xs, wu = broadcast_rows(xs, wu, batch, np)
    ys, wv = broadcast_rows(ys, wv, batch, np)
    wp = wp_sorted(xs, wu, ys, wv, p, backend)
    wp = np.asarray(wp, dtype=np.float64).reshape(batch)
    return np.float64(wp) if wp.ndim == 0 else wp


# ----------------------------------------------------------------------------- plan
def wasserstein_1d_plan(u_values, v_values, u_weights=None, v_weights=None, *, p=1):
    r"""W_p in 1-D with an optimal coupling and optimal dual potentials.

    The coupling is the north-west corner rule on the sorted supports: walk the merged
    cumulative weights and give each interval of [0, 1] to the pair of points whose
    quantiles it covers. It is optimal for every p >= 1 (|x - y|^p is a Monge cost). The
    potentials are the basis potentials of that staircase (n + m - 1 cells, a spanning tree
    of the bipartite graph, zero-mass steps included): :math:`f_i + g_j = |x_i - y_j|^p` on
    every staircase cell, fixed by :math:`f = 0` at the smallest :math:`x`. They are dual
    feasible, :math:`f_i + g_j \le |x_i - y_j|^p` for all i, j (the Monge property), so

    .. math:: \langle a, f\rangle + \langle b, g\rangle = \langle P, C\rangle = W_p^p .

    Parameters
    ----------
    u_values, v_values : array_like, shape (n,) and (m,)
        Finite support points (1-D only; no batch).
    u_weights, v_weights : array_like, optional
        Non-negative weights (normalised internally); None for uniform.
    p : float, default 1
        Order, p >= 1.

    Returns
    -------
    Wasserstein1DResult
        ``value`` (W_p), ``p``, ``plan`` -- a ``scipy.sparse.coo_array`` of shape (n, m) in the
        caller's index order holding the at most n + m - 1 positive masses (``plan.row``,
        ``plan.col``, ``plan.data`` are the (i, j, mass) list; ``plan.toarray()`` the dense
        matrix, summing to 1), ``f`` (n,), ``g`` (m,) numpy arrays, ``backend="numpy"``.

    Notes
    -----
    O((n + m) log(n + m)) time and O(n + m) memory; computed on the host (CuPy input is
    copied to the host and numpy is returned).

    Examples
    --------
    >>> from kantorovich.ot import wasserstein_1d_plan
    >>> r = wasserstein_1d_plan([0.0, 2.0], [1.0, 3.0, 5.0])
    >>> round(r.value, 12)   # (1/3)*1 + (1/6)*3 + (1/6)*1 + (1/3)*3
    2.0
    >>> r.plan.toarray().round(3).tolist()
    [[0.333, 0.167, 0.0], [0.0, 0.167, 0.333]]
    """
    p = check_p(p)
    from .._array_api import to_host

    args = [to_host(a) if a is not None and is_cupy(a) else a for a in (u_values, v_values, u_weights, v_weights)]
    u = _check_values(args[0], "u_values")
    v = _check_values(args[1], "v_values")
    for arr, name in ((u, "u_values"), (v, "v_values")):
        if arr.ndim != 1:
            raise ValueError(f"`{name}` must be 1-D for wasserstein_1d_plan; got {describe(arr)}.")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` must be finite for wasserstein_1d_plan; got an infinity.")
    uw = _check_dist_weights(args[2], "u_weights", u, "u_values")
    vw = _check_dist_weights(args[3], "v_weights", v, "v_values")
    for arr, name in ((uw, "u_weights"), (vw, "v_weights")):
        if arr is not None and arr.ndim != 1:
            raise ValueError(f"`{name}` must be 1-D for wasserstein_1d_plan; got {describe(arr)}.")
    n, m = u.shape[0], v.shape[0]
    pu = np.argsort(u, kind="stable")
    pv = np.argsort(v, kind="stable")
    xs, ys = u[pu], v[pv]
    wu = None if uw is None else uw[pu]
    wv = None if vw is None else vw[pv]
    cu = breakpoints(None if wu is None else wu[None], n, 1, np)
    cv = breakpoints(None if wv is None else wv[None], m, 1, np)
    iu, iv, mass = (a[0] for a in merge_cells(cu, cv, np))
    # exact rescaling keeps |x - y|^p finite; potentials scale by s^p
    scale = 1.0 if p == 1.0 else pow2_above_max_abs(xs[None], ys[None], np)
    with np.errstate(over="ignore", invalid="ignore"):
        c = cost(xs[iu] / scale, ys[iv] / scale, p, np)
        wpp = float(np.sum(mass * c))
    with np.errstate(over="ignore"):
        sp = np.float64(scale) ** p  # the potentials scale by s^p
    if SAFE_LO <= wpp < math.inf and np.isfinite(sp) and bool(np.all(np.isfinite(c))):
        value = scale * wpp ** (1.0 / p)
        fs, gs = _staircase_potentials(c, iu, iv, n, m)
        f, g = fs * sp, gs * sp
        big = False
    else:
        # a far value, large p or costs beyond float64: value by the largest moved difference
        # (as wasserstein_1d), potentials by the largest staircase difference (potentials far
        # below the largest one in magnitude may then round to 0)
        value = float(wp_rescaled(xs[None], None if wu is None else wu[None], ys[None],
                                   None if wv is None else wv[None], p, "numpy")[0])
        h = 1.0
        with np.errstate(over="ignore"):
            d = np.abs(xs[iu] - ys[iv])
        if not bool(np.all(np.isfinite(d))):  # finite values: |x - y| overflowed
            h = 2.0
            d = np.abs(xs[iu] * 0.5 - ys[iv] * 0.5)
        top = float(d.max())
        c = np.zeros_like(d) if top == 0.0 else (d / top) ** p  # every entry in [0, 1]
        fs, gs = _staircase_potentials(c, iu, iv, n, m)
        with np.errstate(over="ignore", under="ignore"):
            # f = fs (h top)^p without overflowing an intermediate: |fs|^(1/p) top h, to the p
            f = np.sign(fs) * ((np.abs(fs) ** (1.0 / p) * top) * h) ** p
            g = np.sign(gs) * ((np.abs(gs) ** (1.0 / p) * top) * h) ** p
        big = not (bool(np.all(np.isfinite(f))) and bool(np.all(np.isfinite(g))))
        base = top * h
    if big:
        warn(
            f"wasserstein_1d_plan: the potentials f, g are of order |x - y|^p, up to "
            f"{base:.3g}^{p:g}, beyond float64; the "
            "out-of-range ones are returned as +-inf (value and plan are exact). Rescale "
            "`u_values` and `v_values` for finite potentials.", KantorovichWarning)
    f_out = np.empty(n)
    g_out = np.empty(m)
    f_out[pu] = f
    g_out[pv] = g
    from scipy import sparse

    keep = mass > 0
    plan = sparse.coo_array((mass[keep], (pu[iu[keep]], pv[iv[keep]])), shape=(n, m))
    return Wasserstein1DResult(value=float(value), p=p, plan=plan, f=f_out, g=g_out, backend="numpy")


def _staircase_potentials(c, iu, iv, n, m):
    """Potentials (sorted order) with f_i + g_j = c on every staircase cell and f = 0 at the
    first: each step changes exactly one of (i, j)."""
    dc = np.diff(c)
    step_u = np.diff(iu) == 1
    phi = np.concatenate([[0.0], np.cumsum(np.where(step_u, dc, 0.0))])
    psi = c[0] + np.concatenate([[0.0], np.cumsum(np.where(step_u, 0.0, dc))])
    fs = np.empty(n)
    gs = np.empty(m)
    fs[iu] = phi  # constant while i stays: the last write per i equals the first
    gs[iv] = psi
    return fs, gs
