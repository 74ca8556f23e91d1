r"""Parzen-window log-likelihood (C13).

:func:`parzen_log_likelihood` fits an isotropic Gaussian kernel density estimate to
``samples`` and returns the mean log-density of ``held_out`` points (the GAN papers'
"Parzen window" metric), with the bandwidth chosen by cross-validation over a grid.
"""

from __future__ import annotations

import math

import numpy as np

from .._results import EstimateResult
from .._validation import (INT64_MAX, check_int, check_positive, check_probability, check_rng,
                           check_sample_pair, pow2_exponent)
from .._warnings import warn
from ..exceptions import KantorovichWarning

__all__ = ["parzen_log_likelihood", "kde_log_density"]


def kde_log_density(points, samples, bandwidth: float, *, batch_size: int = 1024,
                    exclude_self: bool = False) -> np.ndarray:
    r"""Log-density of an isotropic Gaussian KDE at ``points``.

    :math:`\log\hat p(z) = \operatorname{logsumexp}_i\big(-\|z - s_i\|^2 / (2\sigma^2)\big)
    - \log n - \tfrac d2\log(2\pi\sigma^2)`, computed in batches of ``batch_size`` points
    (memory O(batch_size n)). ``exclude_self=True`` (``points is samples``) gives the
    leave-one-out density (the point's own kernel removed, n - 1 in the normaliser).
    """
    from scipy.special import logsumexp

    pts = np.asarray(points, dtype=np.float64)
    s = np.asarray(samples, dtype=np.float64)
    n, d = s.shape
    sn = np.sum(s * s, axis=1)
    out = np.empty(pts.shape[0])
    inv = 1.0 / (2.0 * bandwidth ** 2)
    count = n - 1 if exclude_self else n
    norm = math.log(count) + 0.5 * d * math.log(2 * math.pi * bandwidth ** 2)
    for a in range(0, pts.shape[0], batch_size):
        b = min(pts.shape[0], a + batch_size)
        p = pts[a:b]
        d2 = np.maximum(np.sum(p * p, axis=1)[:, None] + sn[None, :] - 2.0 * (p @ s.T), 0.0)
        e = -d2 * inv
        if exclude_self:
            e[np.arange(b - a), np.arange(a, b)] = -np.inf
        out[a:b] = logsumexp(e, axis=1) - norm
    return out


def _scaled_bandwidth(sigma: float, k: int, name: str) -> float:
    """``sigma / 2**k``, checked so that ``sigma**2`` is a finite, normal float."""
    with np.errstate(over="ignore", under="ignore"):  # out of range: the check below says so
        v = float(np.ldexp(sigma, -k))
    if not 1e-150 <= v <= 1e150:
        raise ValueError(
            f"`{name}` must be within 1e-150 and 1e150 times the scale of the data (its square "
            f"enters the kernel); got {float(sigma)!r} for data of scale 2**{k}.")
    return v


def parzen_log_likelihood(samples, held_out, *, bandwidth=None, grid=None, cv_fraction: float = 0.2,
                          batch_size: int = 1024, rng=None) -> EstimateResult:
    r"""Mean log-likelihood of ``held_out`` under a Gaussian KDE of ``samples`` (nats).

    Parameters
    ----------
    samples : array_like, shape (n, d)
        Generated samples (the kernel centres).
    held_out : array_like, shape (m, d)
        Test points.
    bandwidth : None, "cv" or float
        Kernel standard deviation :math:`\sigma`. ``None``: Scott's rule
        :math:`\sigma = \bar s\, n^{-1/(d+4)}` (:math:`\bar s` the mean per-axis standard
        deviation of ``samples``). ``"cv"``: as in Goodfellow et al. (2014), the value of
        ``grid`` (default: 20 values log-spaced over [Scott / 10, Scott x 3]) that maximises
        the mean log-likelihood of a validation split (``cv_fraction`` of ``samples``,
        held out from the fit); the final KDE uses all ``samples``.
    grid : array_like or None
        Positive candidate bandwidths, only with ``bandwidth="cv"`` (an error otherwise).
    cv_fraction : float in (0, 1)
        Share of ``samples`` held out for the ``"cv"`` choice.
    batch_size : int
        Rows per logsumexp batch.

    Returns
    -------
    EstimateResult
        ``value`` = mean log-density, ``stderr`` = std / sqrt(m) of the per-point
        log-densities (the "±" the GAN papers print), ``ci`` the normal interval;
        ``info['bandwidth']`` and, for "cv", the grid and its scores.

    Warns
    -----
    KantorovichWarning
        With ``bandwidth="cv"``, when the chosen bandwidth is the smallest or the largest of
        ``grid`` (of two or more values): the best one may lie outside it; widen ``grid``.
        ``info['warning']`` says the same.

    Notes
    -----
    Cost O(n m d) per bandwidth; memory O(batch_size n). Data far from unit scale (largest
    coordinate beyond 2**±100) are rescaled by an exact power of two, with the log-density
    shifted back, so 1e300-scale data give finite values; a bandwidth more than 1e150 times
    away from the data scale is an error (its square would overflow or underflow). Data whose mean
    lies further from the origin than their largest per-axis spread are centred first (the
    value is translation invariant; the squared distances would cancel). In high dimension the metric is
    known to be a poor proxy for likelihood (Theis et al. 2016).

    Examples
    --------
    >>> import numpy as np
    >>> g = np.random.default_rng(0)
    >>> r = parzen_log_likelihood(g.normal(size=(2000, 1)), g.normal(size=(500, 1)), bandwidth="cv", rng=0)
    >>> bool(abs(r.value - (-0.5 * np.log(2 * np.pi) - 0.5)) < 0.1)
    True
    """
    s, h = check_sample_pair(samples, held_out, ("samples", "held_out"))
    n, d = s.shape
    batch_size = check_int(batch_size, "batch_size", minimum=1, maximum=INT64_MAX)
    if grid is not None and not (isinstance(bandwidth, str) and bandwidth == "cv"):
        raise ValueError(f"`grid` is used only with bandwidth='cv'; got bandwidth={bandwidth!r}.")
    # exact power-of-two rescaling of points and bandwidth: log p(z) = log p_k(z / 2^k) - d k log 2,
    # so squared distances of 1e300-scale data do not overflow (NaN) and 1e-300-scale data do
    # not underflow
    k = pow2_exponent(s, h)
    if k:
        s, h = np.ldexp(s, -k), np.ldexp(h, -k)
    # the kernel forms squared distances as |z|^2 + |s|^2 - 2 z.s, which cancels when the data sit
    # far from the origin relative to their spread (an offset of 1e8 times the spread loses every
    # digit); the KDE is translation invariant, so data whose mean is further from the origin than
    # their largest per-axis spread are centred on that mean (then brought back to unit scale)
    centre = s.mean(axis=0)
    if n > 1 and float(np.max(np.abs(centre))) > float(np.max(s.std(axis=0))):
        s, h = s - centre, h - centre
        k2 = pow2_exponent(s, h)
        if k2:
            s, h = np.ldexp(s, -k2), np.ldexp(h, -k2)
            k += k2
    spread = float(np.mean(s.std(axis=0))) if n > 1 else 1.0
    if spread == 0:
        spread = 1.0
    scott = spread * n ** (-1.0 / (d + 4))
    info: dict = {}
    if bandwidth is None:
        sigma = scott
        info["rule"] = "scott"
    elif isinstance(bandwidth, str):
        if bandwidth != "cv":
            raise ValueError(f"`bandwidth` must be None, 'cv' or a positive float; got {bandwidth!r}.")
        if n < 4:
            raise ValueError(f"`samples` must contain at least 4 points for bandwidth='cv'; got {n}.")
        gen = check_rng(rng)
        cv_fraction = check_probability(cv_fraction, "cv_fraction", open_left=True, open_right=True)
        if grid is None:
            grid = np.geomspace(scott / 10, scott * 3, 20)
        else:
            grid = np.asarray([check_positive(g, "grid") for g in np.ravel(grid)])
            if grid.size == 0:
                raise ValueError("`grid` must contain at least one bandwidth; got an empty grid.")
            grid = np.array([_scaled_bandwidth(g, k, "grid") for g in grid])
        perm = gen.permutation(n)
        nv = min(n - 1, max(1, int(round(cv_fraction * n))))
        fit, val = s[perm[nv:]], s[perm[:nv]]
        scores = np.array([kde_log_density(val, fit, g, batch_size=batch_size).mean() for g in grid])
        sigma = float(grid[int(np.argmax(scores))])
        info.update(rule="cv", grid=grid, cv_scores=scores)
        at_end = sigma in (grid.min(), grid.max())
        if at_end:
            info["warning"] = "the chosen bandwidth is at the end of the grid; widen `grid`"
        if at_end and grid.size > 1:
            warn(f"parzen_log_likelihood: the cross-validated bandwidth {np.ldexp(sigma, k):.3g} is "
                 f"the {'smallest' if sigma == grid.min() else 'largest'} value of `grid`, so the "
                 "best one may lie outside it; widen `grid` (info['cv_scores'] has the scores).",
                 KantorovichWarning)
    else:
        sigma = _scaled_bandwidth(check_positive(bandwidth, "bandwidth"), k, "bandwidth")
        info["rule"] = "given"
    sigma = _scaled_bandwidth(sigma, 0, "bandwidth")  # Scott / cv values: the same range check
    info["bandwidth"] = float(np.ldexp(sigma, k))
    ll = kde_log_density(h, s, sigma, batch_size=batch_size)
    if k:  # back to the caller's scale
        ll = ll - d * k * math.log(2.0)
        info["rescaled_by"] = f"2**{-k}"
        if "grid" in info:
            info["grid"] = np.ldexp(info["grid"], k)
    value = float(ll.mean())
    # log-densities of order 1e199 (a bandwidth 1e-100 times the data scale) overflow when
    # squared: take the spread at unit scale (an exact power of two; nothing changes otherwise)
    e = pow2_exponent(ll)
    se = (float(np.ldexp(np.ldexp(ll, -e).std(ddof=1), e) / math.sqrt(ll.size)) if ll.size > 1
          else float("nan"))
    ci = (value - 1.959964 * se, value + 1.959964 * se)
    return EstimateResult(value=value, stderr=se, ci=ci, n=n, m=h.shape[0], method="parzen",
                          info=info)
