r"""Sliced and max-sliced Wasserstein distances: 1-D W_p along random directions.

For measures :math:`\mu, \nu` on :math:`\mathbb R^d` and a unit vector :math:`\theta`, let
:math:`\theta_\# \mu` be the law of :math:`\langle \theta, X\rangle`. Then

.. math::

    SW_p(\mu, \nu) = \Big(\int_{S^{d-1}} W_p^p(\theta_\#\mu, \theta_\#\nu)\, d\sigma(\theta)\Big)^{1/p},
    \qquad
    \max\text{-}SW_p(\mu, \nu) = \max_{\theta \in S^{d-1}} W_p(\theta_\#\mu, \theta_\#\nu),

with :math:`\sigma` the uniform measure on the sphere. :math:`SW_p \le \max\text{-}SW_p \le W_p`.
The integral is estimated by Monte Carlo over ``n_projections`` directions drawn uniformly
(normalised Gaussian vectors); all projections are formed by one matrix product and sorted by
one batched sort along the last axis (numpy on the CPU, in chunks bounded in memory; one CuPy
sort on the GPU), then reduced by the sorted-row engine of the 1-D distance (:mod:`kantorovich.ot._sorted_rows`).
"""

from __future__ import annotations

import numpy as np

from .._array_api import cupy_or_raise, is_cupy, namespace, resolve_backend
from .._validation import (INT64_MAX, check_int, check_memory, check_rng, check_sample_pair, check_weights,
                           describe, xp_of)
from ._geometry import batch_size_or_raise
from ._kernels.wass1d_numpy import breakpoints, merge_cells
from ._sorted_rows import AUTO_NUMBA_MIN_SIZE, check_p, numba_ok, sort_rows, sort_rows_numba, wp_sorted

__all__ = ["sliced_wasserstein", "max_sliced_wasserstein", "projected_wasserstein", "random_directions"]

#: CPU: at most this many projected values (both sides) are held at once
_CPU_CHUNK_VALUES = 8_000_000
#: GPU: one sort up to this many projected values per side (beyond it, chunks)
_GPU_CHUNK_VALUES = 400_000_000


def random_directions(n_projections: int, d: int, rng=None) -> np.ndarray:
    """``n_projections`` directions uniform on the unit sphere of R^d, shape (L, d), float64.

    Normalised standard Gaussian vectors (a zero vector, probability 0, is redrawn).

    >>> random_directions(3, 2, rng=0).shape
    (3, 2)
    """
    L = check_int(n_projections, "n_projections", minimum=1, maximum=INT64_MAX)
    d = check_int(d, "d", minimum=1, maximum=INT64_MAX)
    check_memory(16 * L * d, "n_projections", "d")
    gen = check_rng(rng)
    th = gen.standard_normal((L, d))
    nrm = np.linalg.norm(th, axis=1)
    while np.any(nrm == 0):  # pragma: no cover - probability zero
        bad = nrm == 0
        th[bad] = gen.standard_normal((int(bad.sum()), d))
        nrm = np.linalg.norm(th, axis=1)
    return th / nrm[:, None]


def _prepare(x, y, a, b, p, backend, n_dirs_hint=1, *, function="sliced_wasserstein"):
    p = check_p(p)
    namespace(x, y, a, b)  # TypeError when numpy and CuPy mix
    on_gpu = any(is_cupy(t) for t in (x, y, a, b) if t is not None)
    backend = resolve_backend(backend, function, x, y, a, b)  # "auto" on the host: by size below
    if on_gpu and backend in ("numpy", "numba"):
        raise ValueError(
            f"`backend` {backend!r} needs numpy input; got CuPy arrays (use backend='cuda' or 'auto').")
    dt = None
    if backend == "cuda":
        dts = [getattr(t, "dtype", None) for t in (x, y)]
        if all(d is not None and np.dtype(d).kind == "f" and np.dtype(d).itemsize <= 4 for d in dts):
            dt = np.float32
    xa, ya = check_sample_pair(x, y, dtype=dt)
    aw = None if a is None else check_weights(a, "a", n=xa.shape[0])
    bw = None if b is None else check_weights(b, "b", n=ya.shape[0])
    _centre(xa, ya, aw, bw)
    if backend == "auto":
        size = n_dirs_hint * (xa.shape[0] + ya.shape[0])
        backend = "numba" if size >= AUTO_NUMBA_MIN_SIZE and numba_ok() else "numpy"
    return xa, ya, aw, bw, p, backend, on_gpu


def _centre(xa, ya, aw, bw) -> None:
    """Subtract a common centre from both clouds, in place (they are the checks' own copies).

    W_p of the projections is unchanged by a common translation, but the projections
    ``theta . x`` carry a rounding of about ``u |x|`` (u the unit roundoff: 2^-24 in float32,
    2^-53 in float64), so a cloud at an offset (``x + 1e8``) lost the digits of its spread:
    float32 projections (the GPU path) gave W 36% off for float32 data at 1e8, and float64
    ones 1.7e-6 relative at 1e12. About a centre c inside the data the rounding is
    ``u |x - c|``, at most ``u`` times the data's extent. c is the coordinate-wise median of
    about 1000 points of positive mass spread over both clouds, so a far point (of zero mass,
    or a few outliers) does not drag it away from the bulk; rounded to the data's dtype, ``x - c`` is exact wherever x and
    c are within a factor 2 (Sterbenz). Skipped where ``x - c`` could overflow (data beyond half
    the dtype's largest number)."""
    xp = np if isinstance(xa, np.ndarray) else cupy_or_raise()
    # |x - c| <= |x| + |c| <= 2 max|x|: finite unless the data pass half the dtype's maximum
    # (whole-array min and max: the per-coordinate ones cost 19 ms each on 1e6 x 3 points)
    top = max(abs(float(t)) for t in (xa.min(), xa.max(), ya.min(), ya.max()))
    if not top <= float(np.finfo(xa.dtype).max) / 2:
        return
    px, py = _spread_sample(xa, aw, xp), _spread_sample(ya, bw, xp)
    c = xp.median(xp.concatenate([px, py]).astype(xp.float64), axis=0).astype(xa.dtype)
    xa -= c
    ya -= c


def _spread_sample(pts, w, xp, size: int = 512):
    """About ``size`` points of positive mass, evenly spread over the array (the median of all
    2e6 points of a 1e6-point pair cost 24% of a 20-direction sliced W)."""
    idx = xp.arange(pts.shape[0]) if w is None else xp.flatnonzero(w > 0)
    return pts[idx[::max(1, idx.shape[0] // size)]]


def _check_directions(directions, d, xp, dtype):
    th = directions
    if is_cupy(th) != (xp is not np):
        th = xp.asarray(th.get() if is_cupy(th) else th)
    try:
        th = xp.asarray(th)
    except (TypeError, ValueError):  # ragged lists
        raise TypeError(f"`directions` must be an array of real numbers; got {describe(th)}.") from None
    if th.ndim == 1:
        th = th[None, :]
    if th.ndim != 2 or th.shape[1] != d:
        raise ValueError(f"`directions` must have shape (L, {d}); got {describe(th)}.")
    if th.dtype.kind not in "iuf":
        raise TypeError(f"`directions` must be an array of real numbers; got {describe(th)}.")
    th = th.astype(xp.float64)
    if not bool(xp.all(xp.isfinite(th))):
        raise ValueError("`directions` must contain only finite values.")
    # divide each row by its largest |entry| first: the norm of (1e300, 1e300) or
    # (1e-300, 1e-300) would overflow to inf or underflow to 0 (both valid directions)
    big = xp.max(xp.abs(th), axis=1)
    if bool(xp.any(big == 0)):
        raise ValueError("`directions` must not contain a zero vector.")
    th = th / big[:, None]
    nrm = xp.linalg.norm(th, axis=1)
    return (th / nrm[:, None]).astype(dtype)


def _projected_wp(xa, ya, aw, bw, th, p, backend):
    """W_p along each row of th (L, d) (unit vectors); array (L,) on the inputs' device."""
    L = th.shape[0]
    n, m = xa.shape[0], ya.shape[0]
    if backend == "cuda":
        import cupy

        from ._kernels import wass1d_cupy

        chunk = max(1, _GPU_CHUNK_VALUES // max(n, m))
        out = []
        for s in range(0, L, chunk):
            t = th[s:s + chunk]
            px = t @ xa.T  # (l, n): one matmul, one batched sort per side
            py = t @ ya.T
            xs, wu = wass1d_cupy._sort_rows(px, aw, cupy)
            ys, wv = wass1d_cupy._sort_rows(py, bw, cupy)
            wpp, scale = wass1d_cupy.wpp_sorted_xp(xs, wu, ys, wv, p, cupy, wass1d_cupy._equal_uniform_cupy)
            out.append(wpp if p == 1.0 else scale * wpp ** (1.0 / p))
        return cupy.concatenate(out)
    chunk = max(1, _CPU_CHUNK_VALUES // (n + m))
    out = np.empty(L)
    for s in range(0, L, chunk):
        t = th[s:s + chunk]
        if backend == "numba":  # the LSD radix sort, rows in parallel (np.sort below 2048 values)
            xs, wu = sort_rows_numba(t @ xa.T, aw)
            ys, wv = sort_rows_numba(t @ ya.T, bw)
        else:
            xs, wu = sort_rows(t @ xa.T, aw, np)  # sorts our own matmul output in place
            ys, wv = sort_rows(t @ ya.T, bw, np)
        out[s:s + chunk] = wp_sorted(xs, wu, ys, wv, p, backend)
    return out


def _on_device(xa, ya, aw, bw):
    cupy = cupy_or_raise()
    return tuple(None if t is None else cupy.asarray(t) for t in (xa, ya, aw, bw))


def _return(val, on_gpu):
    if is_cupy(val) and not on_gpu:
        val = val.get()
    if not is_cupy(val):
        val = np.asarray(val, dtype=np.float64)
        return np.float64(val) if val.ndim == 0 else val
    return val


def projected_wasserstein(x, y, directions, *, p=1, a=None, b=None, backend="auto"):
    r"""W_p between the projections of two point clouds on each of the given directions.

    .. math:: w_l = W_p\big((\theta_l)_\#\mu, (\theta_l)_\#\nu\big), \quad
              \mu = \sum_i a_i \delta_{x_i}, \ \nu = \sum_j b_j \delta_{y_j}.

    Parameters
    ----------
    x, y : array_like, shape (n, d) and (m, d)
        Finite points (1-D input is read as d = 1).
    directions : array_like, shape (L, d) or (d,)
        Directions (normalised here; zero vectors are an error).
    p : float, default 1
        Order, p >= 1.
    a, b : array_like, optional
        Non-negative weights with positive totals; None for uniform.
    backend : {"auto", "numpy", "numba", "cuda", "cupy"}
        As in :func:`sliced_wasserstein`.

    Returns
    -------
    w : array, shape (L,)
        numpy, or CuPy for CuPy input.

    Notes
    -----
    O(L (n + m) d) for the projections and O(L (n + m) log(n + m)) for the sorts.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[0.0, 0.0], [1.0, 0.0]])
    >>> projected_wasserstein(x, x + [3.0, 4.0], [[1, 0], [0, 1], [3, 4]]).tolist()
    [3.0, 4.0, 5.0]
    """
    xa, ya, aw, bw, p, backend, on_gpu = _prepare(x, y, a, b, p, backend, function="projected_wasserstein")
    if backend == "cuda":
        xa, ya, aw, bw = _on_device(xa, ya, aw, bw)
        import cupy

        th = _check_directions(directions, xa.shape[1], cupy, xa.dtype)
    else:
        th = _check_directions(directions, xa.shape[1], np, np.float64)
    return _return(_projected_wp(xa, ya, aw, bw, th, p, backend), on_gpu)


def _draw(n_projections, d, rng, xp, dtype):
    th = random_directions(n_projections, d, rng)  # drawn on the host: same numbers on every device
    return th if xp is np else xp.asarray(th, dtype=dtype)



def _random_projections(x, y, a, b, p, backend, L, rng, function):
    """Validate, move to the device, draw ``L`` directions and project: the shared first half
    of :func:`sliced_wasserstein` and :func:`max_sliced_wasserstein`."""
    xa, ya, aw, bw, p, backend, on_gpu = _prepare(x, y, a, b, p, backend, n_dirs_hint=L, function=function)
    check_memory(16 * L * (xa.shape[0] + ya.shape[0] + xa.shape[1]), "n_projections")
    gen = check_rng(rng)
    if backend == "cuda":
        xa, ya, aw, bw = _on_device(xa, ya, aw, bw)
        xp = xp_of(xa)
    else:
        xp = np
    th = _draw(L, xa.shape[1], gen, xp, xa.dtype)
    w = _projected_wp(xa, ya, aw, bw, th, p, backend)
    return xa, ya, aw, bw, p, backend, on_gpu, xp, th, w

def sliced_wasserstein(x, y, *, n_projections, p=1, rng=None, a=None, b=None, backend="auto"):
    r"""Monte-Carlo sliced Wasserstein distance SW_p between two point clouds.

    .. math::

        \widehat{SW}_p(\mu, \nu) = \Big(\frac1L \sum_{l=1}^L
        W_p^p\big((\theta_l)_\#\mu, (\theta_l)_\#\nu\big)\Big)^{1/p},
        \qquad \theta_l \sim \mathrm{Unif}(S^{d-1}) \text{ i.i.d.}

    Parameters
    ----------
    x, y : array_like, shape (n, d) and (m, d)
        Finite points (1-D input is read as d = 1, where SW_p = W_p exactly).
    n_projections : int
        Number L of random directions; the Monte-Carlo standard error of SW_p^p is
        std(W_p^p(theta)) / sqrt(L).
    p : float, default 1
        Order, p >= 1.
    rng : None, int or numpy.random.Generator
        Seed of the directions (drawn on the host, so CPU and GPU see the same ones).
    a, b : array_like, optional
        Non-negative weights of the points (normalised internally); None for uniform.
    backend : {"auto", "numpy", "numba", "cuda", "cupy"}
        ``"auto"``: ``"cuda"`` for CuPy input, else ``"numba"`` when installed and
        L (n + m) >= 20 000, else ``"numpy"``. ``"cuda"`` keeps float32 input in float32
        for the projections and sorts (accumulating in float64) and returns numpy for
        numpy input. On every backend the clouds are projected about a common centre
        inside the data (W is unchanged by a common translation), so a far offset
        (``x + 1e8``) costs no digits of the spread.

    Returns
    -------
    float
        A numpy float64 (a 0-d CuPy array for CuPy input). For the per-direction values use
        :func:`projected_wasserstein` with :func:`random_directions` (same ``rng``, same
        directions).

    Notes
    -----
    Cost O(L (n + m) (d + log(n + m))). All projections come from one matrix product and
    are sorted by one batched sort per side (on the CPU in chunks of at most ~8e6 projected
    values to bound memory; on the GPU one CuPy sort for up to 4e8 values per side).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).normal(size=(500, 3))
    >>> float(sliced_wasserstein(x, x, n_projections=10, rng=0))
    0.0
    >>> # 1-D: SW_p = W_p whatever the directions
    >>> float(sliced_wasserstein([[0.0], [1.0]], [[2.0], [3.0]], n_projections=4, rng=0))
    2.0
    """
    if (batch_size_or_raise(x, "x", "(n, d)") is not None
            or batch_size_or_raise(y, "y", "(m, d)") is not None):  # a batch (docs/batch.md)
        from ._batch import sliced_wasserstein_batch

        return sliced_wasserstein_batch(x, y, a=a, b=b, n_projections=n_projections, p=p,
                                        rng=rng, backend=backend)
    L = check_int(n_projections, "n_projections", minimum=1, maximum=INT64_MAX)
    xa, ya, aw, bw, p, backend, on_gpu, xp, th, w = _random_projections(x, y, a, b, p, backend, L, rng,
                                                                        "sliced_wasserstein")
    val = _mean(w, xp) if p == 1.0 else _power_mean(w, p, xp)
    return _return(val, on_gpu)


def _mean(w, xp):
    """mean w (SW_1), or max w * mean(w / max w) where the sum of the L values overflows
    (each finite W_1 above float64's maximum / L: 50 directions at a data scale of 1e307)."""
    with np.errstate(over="ignore"):  # the overflow is handled below
        val = xp.mean(w)
    if bool(xp.isfinite(val)):
        return val
    top = xp.max(w)
    if not bool(top > 0) or not bool(xp.isfinite(top)):
        return val
    return top * xp.mean(w / top)


def _power_mean(w, p, xp):
    """(mean w^p)^(1/p), rescaled by max w so that w^p stays finite."""
    top = xp.max(w)
    if not bool(top > 0) or not bool(xp.isfinite(top)):
        return top
    return top * xp.mean((w / top) ** p) ** (1.0 / p)


def max_sliced_wasserstein(x, y, *, n_projections, p=1, rng=None, a=None, b=None, refine=0,
                           backend="auto"):
    r"""Max-sliced Wasserstein distance: the largest 1-D W_p over the drawn directions.

    .. math::

        \max\text{-}SW_p(\mu, \nu) \approx \max_{l \le L} W_p\big((\theta_l)_\#\mu, (\theta_l)_\#\nu\big)
        \le \max_{\theta \in S^{d-1}} W_p(\theta_\#\mu, \theta_\#\nu) \le W_p(\mu, \nu).

    Parameters
    ----------
    x, y, n_projections, p, rng, a, b, backend
        As in :func:`sliced_wasserstein`.
    refine : int, default 0
        Number of ascent steps from the best drawn direction. Each step fixes the optimal
        1-D coupling :math:`\pi` of the current direction and moves to the maximiser of the
        linearisation, :math:`\theta \leftarrow \nabla_\theta \sum \pi_{ij}
        |\langle\theta, x_i - y_j\rangle|^p` normalised; a step is kept only when it raises
        W_p, so refining never lowers the value (a heuristic: the problem is non-concave).

    Returns
    -------
    float
        A numpy float64 (0-d CuPy array for CuPy input): a lower bound of the true max-sliced
        distance, which is itself a lower bound of W_p.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> z = rng.random((200, 1))
    >>> P = np.hstack([np.zeros_like(z), z])          # parallel lines, theta = 0.5
    >>> Q = np.hstack([np.full_like(z, 0.5), z])
    >>> round(float(max_sliced_wasserstein(P, Q, n_projections=50, rng=0, refine=5)), 6)
    0.5
    """
    L = check_int(n_projections, "n_projections", minimum=1, maximum=INT64_MAX)
    refine = check_int(refine, "refine", minimum=0, maximum=INT64_MAX)
    xa, ya, aw, bw, p, backend, on_gpu, xp, th, w = _random_projections(x, y, a, b, p, backend, L, rng,
                                                                        "max_sliced_wasserstein")
    k = int(xp.argmax(w))
    best, theta = w[k], th[k]
    for _ in range(refine):
        new = _ascent_direction(xa, ya, aw, bw, theta, p, xp)
        if new is None:
            break
        w_new = _projected_wp(xa, ya, aw, bw, new[None, :].astype(th.dtype), p, backend)[0]
        if not bool(w_new > best):
            break
        best, theta = w_new, new
    return _return(best, on_gpu)


def _ascent_direction(xa, ya, aw, bw, theta, p, xp):
    """Normalised gradient of sum pi_ij |<theta, x_i - y_j>|^p for the optimal 1-D pi."""
    X = xa.astype(xp.float64)
    Y = ya.astype(xp.float64)
    th = theta.astype(xp.float64)
    ox = xp.argsort(X @ th)
    oy = xp.argsort(Y @ th)
    n, m = X.shape[0], Y.shape[0]
    cu = breakpoints(None if aw is None else aw[ox][None], n, 1, xp)
    cv = breakpoints(None if bw is None else bw[oy][None], m, 1, xp)
    iu, iv, mass = (t[0] for t in merge_cells(cu, cv, xp))
    D = X[ox[iu]] - Y[oy[iv]]  # (n + m - 1, d) displacements of the coupled pairs
    # cells of zero mass (a far zero-weight point) move nothing: they must not set the scale
    D = xp.where((mass > 0)[:, None], D, 0.0)
    top = float(xp.max(xp.abs(D)))
    if top > 0:  # the direction is scale-free: work at unit scale so |proj|^(p-1) stays finite
        D = D / top
    proj = D @ th
    # and the projections by the largest moved one (the direction is unchanged): unit-scale
    # D still left |proj|^(p - 1) = 0 for large p wherever the direction is far from the
    # displacements (|proj| < 1: 0.3^1e4 underflows), and the refinement stopped at once
    pm = float(xp.max(xp.abs(proj)))
    if p != 1.0 and pm > 0:
        proj = proj / pm
    coef = mass * xp.sign(proj) * (xp.abs(proj) ** (p - 1.0) if p != 1.0 else 1.0)
    grad = coef @ D
    nrm = float(xp.linalg.norm(grad))
    if not np.isfinite(nrm) or nrm == 0.0:
        return None
    return grad / nrm
