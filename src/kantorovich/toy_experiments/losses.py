r"""GAN losses on raw critic / discriminator outputs (logits), in stable log-sigmoid form.

Both players *minimise*. With ``f`` the discriminator's logit, ``D = sigmoid(f)`` and
``softplus(t) = log(1 + e^t)`` (so ``-log D = softplus(-f)``, ``-log(1 - D) = softplus(f)``):

================  ===========================================  ==================================
name              d_loss(d_real, d_fake)                       g_loss(d_fake)
================  ===========================================  ==================================
minimax           E softplus(-f_r) + E softplus(f_f)           E log(1 - D(G(z))) = -E softplus(f_f)
non_saturating    same as minimax                              -E log D(G(z)) = E softplus(-f_f)
wgan              E f_f - E f_r                                -E f_f
wgan_gp           E f_f - E f_r  (add the penalty yourself)    -E f_f
least_squares     1/2 E (f_r - 1)^2 + 1/2 E f_f^2              1/2 E (f_f - 1)^2
hinge             E relu(1 - f_r) + E relu(1 + f_f)            -E f_f
================  ===========================================  ==================================

"minimax" is Goodfellow et al.'s saturating generator loss (Theorem 2.4 of Arjovsky &
Bottou: its gradient vanishes as D improves); "non_saturating" is the ``-log D`` trick.
Inputs may be ``(n,)`` or ``(n, 1)`` arrays (autograd boxes welcome).
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np

__all__ = ["LOSSES", "d_loss", "g_loss", "log_sigmoid", "softplus"]

#: Valid loss names.
LOSSES = ("minimax", "non_saturating", "wgan", "wgan_gp", "least_squares", "hinge")


def softplus(t):
    """``log(1 + exp(t))`` without overflow (``logaddexp(0, t)``)."""
    return anp.logaddexp(0.0, t)


def log_sigmoid(t):
    """``log sigmoid(t) = -softplus(-t)``, accurate for large ``|t|``."""
    return -anp.logaddexp(0.0, -t)


def _check_name(name):
    if not isinstance(name, str) or name not in LOSSES:
        raise ValueError(f"`name` must be one of {LOSSES}; got {name!r}.")


def _check_batch(v, arg):
    if np.size(v) == 0:
        raise ValueError(f"`{arg}` must contain at least one output (batch size >= 1); got 0.")


def d_loss(name: str, d_real, d_fake):
    """Discriminator / critic loss (to minimise) from its outputs on real and fake points.

    Parameters
    ----------
    name : str
        One of :data:`LOSSES`.
    d_real, d_fake : arrays (n,) or (n, 1)
        Logits (or critic values) on real and generated samples; batch sizes may differ.

    Returns
    -------
    scalar

    Examples
    --------
    >>> import numpy as np
    >>> round(float(d_loss("minimax", np.zeros(3), np.zeros(3))), 6)   # 2 log 2
    1.386294
    >>> float(d_loss("wgan", np.array([1.0, 3.0]), np.array([0.0])))
    -2.0
    """
    _check_name(name)
    _check_batch(d_real, "d_real")
    _check_batch(d_fake, "d_fake")
    if name in ("minimax", "non_saturating"):
        return anp.mean(softplus(-d_real)) + anp.mean(softplus(d_fake))
    if name in ("wgan", "wgan_gp"):
        return anp.mean(d_fake) - anp.mean(d_real)
    if name == "least_squares":
        return 0.5 * anp.mean((d_real - 1.0) ** 2) + 0.5 * anp.mean(d_fake ** 2)
    return anp.mean(anp.maximum(1.0 - d_real, 0.0)) + anp.mean(anp.maximum(1.0 + d_fake, 0.0))


def g_loss(name: str, d_fake):
    """Generator loss (to minimise) from the discriminator's outputs on generated points.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([-10.0])                     # D(G(z)) = sigmoid(-10) ~ 4.5e-5
    >>> float(g_loss("minimax", f)) > -1e-4       # log(1 - D) ~ 0: saturated
    True
    >>> round(float(g_loss("non_saturating", f)), 4)   # -log D ~ 10
    10.0
    """
    _check_name(name)
    _check_batch(d_fake, "d_fake")
    if name == "minimax":
        return -anp.mean(softplus(d_fake))
    if name == "non_saturating":
        return anp.mean(softplus(-d_fake))
    if name == "least_squares":
        return 0.5 * anp.mean((d_fake - 1.0) ** 2)
    return -anp.mean(d_fake)
