r"""The optimal GAN discriminator and the value identity (C3-C7).

For a fixed generator with density :math:`p_g`, the GAN value

.. math:: V(D) = \mathbb{E}_{x \sim p_\text{data}} \log D(x) + \mathbb{E}_{x \sim p_g} \log(1 - D(x))

is maximised pointwise (C3: :math:`a \log y + b \log(1-y)` peaks at :math:`y = a/(a+b)`) by
:math:`D^*(x) = p_\text{data}(x) / (p_\text{data}(x) + p_g(x))` (C4), with value
:math:`V(D^*) = -\log 4 + 2\,\mathrm{JS}(p_\text{data}, p_g)` (C5), so
:math:`\mathrm{JS} = \tfrac12 (\max_D V(D) + \log 4)` and any discriminator gives the lower
bound :math:`\tfrac12 (V(\hat D) + \log 4) \le \mathrm{JS}` (C7). One-sided label smoothing
(targets α for real, β for fake) moves the optimum to
:math:`D^* = (\alpha p_\text{data} + \beta p_g)/(p_\text{data} + p_g)` (C6).

Two kinds of input are accepted:

- histograms (``weights=None``): masses on common bins, normalised to sum 1 like the exact
  divergences;
- densities at points (``weights`` given, e.g. a grid spacing or quadrature weights): the
  expectations are :math:`\sum_k w_k\, p(x_k) \log D(x_k)`, no normalisation.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np

from .._array_api import is_cupy
from .._validation import as_float_array, check_probability, check_weights, describe, xp_of
from .._warnings import warn

__all__ = ["gan_value", "js_from_discriminator", "optimal_discriminator"]

_LOG4 = math.log(4.0)
_ONE_MINUS = float(np.nextafter(1.0, 0.0))  # largest double below 1
_TINY = 5e-324  # smallest positive (subnormal) double


def _errstate(xp):
    if xp is np:
        return np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore")
    return contextlib.nullcontext()


def _finish(value, cupy_input: bool):
    if cupy_input:
        return value
    return np.float64(value) if value.ndim == 0 else value


def _nonneg(x: Any, name: str, *, min_ndim: int = 1):
    """Finite, non-negative float64 array with at least ``min_ndim`` dimensions."""
    arr = as_float_array(x, name, min_ndim=min_ndim)
    xp = xp_of(arr)
    if not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"`{name}` must contain only finite values; got NaN or infinity.")
    if bool(xp.any(arr < 0)):
        raise ValueError(f"`{name}` must be non-negative; got a minimum of {float(arr.min())!r}.")
    return arr


def _same_shape(a, b, names):
    if is_cupy(a) != is_cupy(b):
        raise TypeError(f"`{names[0]}` and `{names[1]}` must be on the same device (both numpy or both CuPy).")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same shape; got {tuple(a.shape)} and {tuple(b.shape)}.")


def optimal_discriminator(p_data: Any, p_g: Any, *, alpha: float = 1.0, beta: float = 0.0):
    r"""The optimal discriminator :math:`D^*` for a fixed generator (C4, C6).

    .. math:: D^*(x) = \frac{\alpha\, p_\text{data}(x) + \beta\, p_g(x)}{p_\text{data}(x) + p_g(x)},

    with :math:`\alpha = 1, \beta = 0` the standard GAN (C4) and :math:`\alpha < 1` one-sided
    label smoothing (C6; the seed recommends β = 0). Where both densities are 0 every value of
    D is optimal (the point carries no mass); this function returns the midpoint
    :math:`(\alpha + \beta)/2` there (0.5 in the standard case), the value of the limit
    along :math:`p_\text{data} = p_g \to 0`.

    Parameters
    ----------
    p_data, p_g : array_like, same shape
        Density values at points, or histogram masses on the same bins (numpy or CuPy);
        finite and non-negative. Not normalised: the ratio is pointwise, so pass normalised
        histograms if their totals differ.
    alpha, beta : float in [0, 1]
        Label targets for real and generated samples.

    Returns
    -------
    array
        :math:`D^*` of the inputs' shape, float64, in [min(α, β), max(α, β)]. Where the
        exact :math:`D^*` is strictly inside (0, 1) the result is too (values that would
        round to 1 or 0 are moved to the nearest double inside), so
        ``gan_value(optimal_discriminator(p, q), p, q)`` is finite and equals
        :math:`-\log 4 + 2\,\mathrm{JS}` to ~1e-15.

    Examples
    --------
    >>> from kantorovich.divergences import optimal_discriminator
    >>> optimal_discriminator([0.5, 0.5, 0.0, 0.0], [0.0, 0.25, 0.75, 0.0]).round(4).tolist()
    [1.0, 0.6667, 0.0, 0.5]
    """
    a = check_probability(alpha, "alpha")
    b = check_probability(beta, "beta")
    pd = _nonneg(p_data, "p_data")
    pg = _nonneg(p_g, "p_g")
    _same_shape(pd, pg, ("p_data", "p_g"))
    xp = xp_of(pd)
    # where the exact D* is > 0 and < 1, read from the inputs themselves: after the rescaling
    # below (or in a * p_data with a = 5e-324) a tiny positive mass can underflow to 0
    none = xp.zeros(pd.shape, dtype=bool)
    inside_low = ((pd > 0) if a > 0 else none) | ((pg > 0) if b > 0 else none)
    inside_high = ((pd > 0) if a < 1 else none) | ((pg > 0) if b < 1 else none)
    # D* depends only on the ratio p_g / p_data: divide both by their larger value, so that
    # p_data + p_g cannot overflow (densities of 1e308 gave D* = 0 instead of 1/2)
    big = xp.maximum(pd, pg)
    big = xp.where(big > 0, big, 1.0)
    pd, pg = pd / big, pg / big
    s = pd + pg
    pos = s > 0
    with _errstate(xp):
        d = xp.where(pos, (a * pd + b * pg) / xp.where(pos, s, 1.0), 0.5 * (a + b))
    # Keep D* strictly inside (0, 1) wherever the exact value is: p_g / p_data below ~1e-16
    # would otherwise round D* to exactly 1 (or 0) and make log(1 - D*) = -inf in gan_value,
    # although the exact term p_g log(p_g / (p_data + p_g)) is negligible (< 4e-15 (p_data + p_g)).
    d = xp.where(inside_high, xp.minimum(d, _ONE_MINUS), d)
    d = xp.where(inside_low, xp.maximum(d, _TINY), d)
    return xp.clip(d, min(a, b), max(a, b))  # rounding cannot leave [min(a, b), max(a, b)]


def _expectations(D: Any, p_data: Any, p_g: Any, weights: Any):
    Da = as_float_array(D, "D", min_ndim=1)
    xp = xp_of(Da)
    if not bool(xp.all(xp.isfinite(Da))) or bool(xp.any((Da < 0) | (Da > 1))):
        raise ValueError("`D` must contain values in [0, 1] (probabilities of 'real'); got values outside "
                         "or NaN.")
    if weights is None:
        pd = check_weights(p_data, "p_data", batch=True, normalize=True)
        pg = check_weights(p_g, "p_g", batch=True, normalize=True)
    else:
        pd = _nonneg(p_data, "p_data")
        pg = _nonneg(p_g, "p_g")
    _same_shape(pd, pg, ("p_data", "p_g"))
    _same_shape(Da, pd, ("D", "p_data"))
    if weights is None:
        wd, wg = pd, pg
    else:
        w = _nonneg(weights, "weights", min_ndim=0)
        if is_cupy(w) != is_cupy(pd):
            raise TypeError("`weights` and `p_data` must be on the same device.")
        try:
            w = xp.broadcast_to(w, pd.shape)
        except ValueError:
            raise ValueError(
                f"`weights` must broadcast to the shape of `p_data` {tuple(pd.shape)}; got {describe(w)}.") from None
        wd, wg = w * pd, w * pg
    with _errstate(xp):
        # 0 * log 0 = 0: a point without mass contributes nothing, whatever D is there.
        ld = xp.where(wd > 0, wd * xp.log(xp.where(wd > 0, Da, 1.0)), 0.0)
        lg = xp.where(wg > 0, wg * xp.log1p(-xp.where(wg > 0, Da, 0.0)), 0.0)
    with np.errstate(over="ignore"):  # every term is <= 0: a sum that overflows is -inf exactly
        return xp.sum(ld, axis=-1) + xp.sum(lg, axis=-1), xp


def gan_value(D: Any, p_data: Any, p_g: Any, *, weights: Any = None):
    r"""The GAN value :math:`V(D) = \mathbb{E}_\text{data} \log D + \mathbb{E}_g \log(1 - D)`.

    Parameters
    ----------
    D : array_like, shape (..., n)
        Discriminator outputs in [0, 1] at the n bins / points.
    p_data, p_g : array_like, shape (..., n)
        Histograms (``weights=None``: normalised to sum 1 along the last axis) or density
        values at the points (``weights`` given).
    weights : array_like, optional
        Quadrature weights broadcastable to ``(..., n)`` (for a uniform grid, its spacing):
        then :math:`V = \sum_k w_k [p_\text{data}(x_k) \log D(x_k) + p_g(x_k) \log(1 - D(x_k))]`.

    Returns
    -------
    float or array
        ``numpy.float64`` for 1-D input (array for batches). :math:`\le -\log 4 + 2 \mathrm{JS}`,
        with equality at :math:`D^*`; ``-inf`` if D is 0 (or 1) where p_data (or p_g) has mass.
        Terms without mass are 0 whatever D is there. A D of your own that rounds to
        exactly 1 where :math:`p_g > 0` gives -inf; :func:`optimal_discriminator` avoids that.

    Examples
    --------
    >>> import math
    >>> from kantorovich.divergences import gan_value, optimal_discriminator
    >>> p, q = [0.5, 0.5], [0.5, 0.5]
    >>> math.isclose(gan_value(optimal_discriminator(p, q), p, q), -math.log(4))
    True
    """
    v, _ = _expectations(D, p_data, p_g, weights)
    return _finish(v, is_cupy(v))


def js_from_discriminator(D: Any, p_data: Any, p_g: Any, *, weights: Any = None):
    r"""The Jensen-Shannon bound :math:`\tfrac12 (V(D) + \log 4)` given by a discriminator (C7).

    For every D this is a lower bound on :math:`\mathrm{JS}(p_\text{data}, p_g)`, tight at
    :math:`D = D^*`. It is NOT clipped: a poor discriminator can give a negative number (or
    ``-inf``), which is the honest value of the bound.

    Parameters
    ----------
    D, p_data, p_g, weights
        As in :func:`gan_value`.

    Returns
    -------
    float or array

    Examples
    --------
    >>> import math
    >>> from kantorovich.divergences import js_from_discriminator, optimal_discriminator
    >>> p, q = [1.0, 0.0], [0.0, 1.0]
    >>> math.isclose(js_from_discriminator(optimal_discriminator(p, q), p, q), math.log(2))
    True
    """
    v, _ = _expectations(D, p_data, p_g, weights)
    return _finish(0.5 * (v + _LOG4), is_cupy(v))


def _argmax_a_log_y_b_log_1my(a: Any, b: Any):
    r"""Maximiser of :math:`y \mapsto a \log y + b \log(1 - y)` on [0, 1] (C3).

    For :math:`a, b \ge 0` not both zero the function is concave with its maximum at
    :math:`y^* = a/(a + b)` (at 1 if b = 0, at 0 if a = 0).

    Parameters
    ----------
    a, b : float or array_like (broadcasting)
        Non-negative finite coefficients, not both zero at any position.

    Returns
    -------
    float or array
        ``float`` for scalar inputs, an array otherwise.

    Examples
    --------
    >>> from kantorovich.divergences._discriminator import _argmax_a_log_y_b_log_1my
    >>> _argmax_a_log_y_b_log_1my(1.0, 3.0)
    0.25
    """
    aa = as_float_array(a, "a")
    ba = as_float_array(b, "b")
    scalar = aa.ndim == 0 and ba.ndim == 0 and not (is_cupy(aa) or is_cupy(ba))
    xp = xp_of(aa)
    for name, arr in (("a", aa), ("b", ba)):
        if not bool(xp.all(xp.isfinite(arr))) or bool(xp.any(arr < 0)):
            raise ValueError(f"`{name}` must be non-negative and finite; got {describe(arr) if arr.ndim else arr.item()!r}.")
    try:
        aa, ba = xp.broadcast_arrays(aa, ba)
    except ValueError:
        raise ValueError(f"`a` {tuple(aa.shape)} and `b` {tuple(ba.shape)} do not broadcast.") from None
    big = xp.maximum(aa, ba)
    if bool(xp.any(big <= 0)):
        raise ValueError("`a` and `b` must not both be 0 (the function is then constant); got a = b = 0.")
    aa, ba = aa / big, ba / big  # y* depends on a / b only; a + b of 1e308 + 1e308 would overflow
    y = aa / (aa + ba)
    return float(y) if scalar else y


def argmax_a_log_y_b_log_1my(a: Any, b: Any):
    """Deprecated public name of the C3 closed form a / (a + b) (the report's check of C3);
    :func:`optimal_discriminator` computes the same maximiser pointwise."""
    warn("kantorovich.divergences.argmax_a_log_y_b_log_1my is deprecated and will be removed: "
         "optimal_discriminator(p_data, p_g) gives the maximiser p_data / (p_data + p_g).",
         DeprecationWarning)
    return _argmax_a_log_y_b_log_1my(a, b)
