"""Tiny multilayer perceptrons in ``autograd.numpy`` (differentiable, also twice).

Parameters are a plain list of ``(W, b)`` tuples, ``W`` of shape ``(n_in, n_out)`` and ``b``
of shape ``(n_out,)``, so ``autograd.grad`` of any scalar function of the parameters returns
the same nested structure, and :mod:`kantorovich.toy_experiments.optim` steps it.

Contents
--------
init_mlp(rng, sizes, *, scale=None)            parameters of an MLP
mlp(params, x, *, activation, out_activation)  forward pass, shape (n, sizes[-1])
clip_params(params, c)                         WGAN weight clipping to [-c, c]
spectral_norm(W, u, n_iter=1)                  largest singular value by power iteration
spectral_normalize(params, us, n_iter=1)       W / sigma(W) for every layer (SN-GAN)
gradient_penalty(critic, x_real, x_fake, rng)  WGAN-GP penalty, differentiable in the params
input_gradients(f, x)                          per-point gradients of a scalar field, (n, d)
"""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
from autograd import elementwise_grad
from autograd.tracer import getval

from .._validation import check_choice, check_int, check_nonnegative, check_positive, check_rng

__all__ = [
    "ACTIVATIONS",
    "OUT_ACTIVATIONS",
    "activate",
    "clip_params",
    "gradient_penalty",
    "init_mlp",
    "input_gradients",
    "mlp",
    "mlp_vjp",
    "n_params",
    "spectral_norm",
    "spectral_normalize",
]

#: Hidden-layer activations accepted by :func:`mlp`.
ACTIVATIONS = ("relu", "leaky_relu", "tanh", "sigmoid", "linear")
#: Output activations accepted by :func:`mlp` (``None`` = linear output, logits).
OUT_ACTIVATIONS = (None, "linear", "sigmoid", "tanh", "relu", "leaky_relu")

LEAKY_SLOPE = 0.2


def _sigmoid(x):
    # exp(log sigmoid(x)) = exp(-logaddexp(0, -x)): never overflows, and keeps full relative
    # precision of tiny values (sigmoid(-40) ~ 4e-18, where 0.5 (1 + tanh(x/2)) rounds to 0)
    return anp.exp(-anp.logaddexp(0.0, -x))


def activate(x, name: str):
    """Apply the activation ``name`` (one of :data:`ACTIVATIONS`) elementwise."""
    if name == "relu":
        return anp.maximum(x, 0.0)
    if name == "leaky_relu":
        return anp.where(x > 0, x, LEAKY_SLOPE * x)
    if name == "tanh":
        return anp.tanh(x)
    if name == "sigmoid":
        return _sigmoid(x)
    if name in ("linear", None):
        return x
    raise ValueError(f"`activation` must be one of {ACTIVATIONS}; got {name!r}.")


def init_mlp(rng, sizes, *, scale=None):
    """Random parameters of an MLP with layer widths ``sizes``.

    Parameters
    ----------
    rng : None, int or numpy.random.Generator
    sizes : sequence of int
        ``(n_in, h_1, ..., n_out)``, at least two entries, each >= 1.
    scale : float, optional
        Standard deviation of every weight. Default: Glorot-normal,
        ``sqrt(2 / (n_in + n_out))`` per layer. Biases start at 0.

    Returns
    -------
    params : list of (W, b)
        ``W`` of shape ``(sizes[k], sizes[k+1])``, ``b`` of shape ``(sizes[k+1],)``.

    Examples
    --------
    >>> p = init_mlp(0, [2, 16, 1])
    >>> [w.shape for w, b in p]
    [(2, 16), (16, 1)]
    """
    g = check_rng(rng)
    try:
        sizes = [check_int(s, "sizes", minimum=1) for s in sizes]
    except TypeError:
        raise TypeError(f"`sizes` must be a sequence of positive integers; got {sizes!r}.") from None
    if len(sizes) < 2:
        raise ValueError(f"`sizes` must have at least 2 entries (input and output width); got {sizes!r}.")
    if scale is not None:
        scale = check_positive(scale, "scale")
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        s = scale if scale is not None else np.sqrt(2.0 / (n_in + n_out))
        params.append((g.normal(0.0, s, size=(n_in, n_out)), np.zeros(n_out)))
    return params


def n_params(params) -> int:
    """Total number of scalars in a parameter list."""
    return int(sum(np.size(getval(w)) + np.size(getval(b)) for w, b in params))


def mlp(params, x, *, activation: str = "relu", out_activation=None):
    """Forward pass ``x -> act(x W_1 + b_1) -> ... -> out_act(h W_L + b_L)``.

    Written with ``autograd.numpy``, so gradients (and gradients of gradients, as the
    gradient penalty needs) with respect to ``params`` or ``x`` work.

    Parameters
    ----------
    params : list of (W, b)
        From :func:`init_mlp`.
    x : array (n, n_in)
    activation : {"relu", "leaky_relu", "tanh", "sigmoid", "linear"}
        Hidden activation (leaky slope 0.2).
    out_activation : None or one of the above
        ``None`` returns the last affine layer (logits).

    Returns
    -------
    array (n, n_out)

    Notes
    -----
    Cost O(n * sum_k sizes[k] sizes[k+1]). The sigmoid is evaluated as
    ``exp(-logaddexp(0, -x))``: no overflow, full relative precision of tiny outputs; for log-probabilities use the logits with
    :mod:`kantorovich.toy_experiments.losses` (log-sigmoid forms).

    Examples
    --------
    >>> import numpy as np
    >>> p = init_mlp(0, [2, 8, 1])
    >>> mlp(p, np.zeros((5, 2)), out_activation="sigmoid").ravel()
    array([0.5, 0.5, 0.5, 0.5, 0.5])
    """
    check_choice(activation, "activation", ACTIVATIONS)
    check_choice(out_activation, "out_activation", OUT_ACTIVATIONS)
    if len(params) == 0:
        raise ValueError("`params` must hold at least one (W, b) layer; got an empty list.")
    h = x
    last = len(params) - 1
    for k, (W, b) in enumerate(params):
        h = anp.dot(h, W) + b
        if k < last:
            h = activate(h, activation)
    if out_activation not in (None, "linear"):
        h = activate(h, out_activation)
    return h


def _act_deriv(a, h, name):
    if name == "tanh":
        return 1.0 - h * h
    if name == "relu":
        return (a > 0).astype(float)
    if name == "leaky_relu":
        return np.where(a > 0, 1.0, LEAKY_SLOPE)
    if name == "sigmoid":
        return h * (1.0 - h)
    return np.ones_like(a)


def mlp_vjp(params, x, *, activation: str = "relu"):
    """Plain-numpy forward pass of :func:`mlp` (linear output) with a hand-written backward.

    About ten times faster than autograd on small MLPs; used in the experiments' inner
    loops and checked against autograd in the tests.

    Returns
    -------
    out : array (n, n_out)
        ``mlp(params, x, activation=activation)``.
    backward : callable ``dout (n, n_out) -> (param_grads, dx)``
        The vector-Jacobian product: ``param_grads`` like ``params`` (gradient of
        ``sum(dout * out)``) and ``dx`` of shape (n, n_in).
    """
    check_choice(activation, "activation", ACTIVATIONS)
    x = np.asarray(x, dtype=float)
    hs, pre = [x], []
    h = x
    last = len(params) - 1
    for k, (W, b) in enumerate(params):
        a = h @ W + b
        pre.append(a)
        h = np.asarray(activate(a, activation)) if k < last else a
        hs.append(h)

    def backward(dout):
        d = np.asarray(dout, dtype=float)
        grads = [None] * len(params)
        for k in range(last, -1, -1):
            W = params[k][0]
            # contiguous transposes: OpenBLAS's transposed-operand path spawns threads even
            # for (512, 32) x (32, 32) and is ~100x slower on a busy 2-core machine
            grads[k] = (np.ascontiguousarray(hs[k].T) @ d, d.sum(axis=0))
            d = d @ np.ascontiguousarray(W.T)
            if k > 0:
                d = d * _act_deriv(pre[k - 1], hs[k], activation)
        return grads, d

    return hs[-1], backward


def clip_params(params, c):
    """WGAN weight clipping: every weight and bias clipped to ``[-c, c]`` (new arrays).

    Examples
    --------
    >>> import numpy as np
    >>> clip_params([(np.array([[2.0, -0.5]]), np.array([-3.0, 0.0]))], 1.0)[0][1]
    array([-1.,  0.])
    """
    c = check_positive(c, "c")
    return [(np.clip(W, -c, c), np.clip(b, -c, c)) for W, b in params]


def _unit(v):
    n = np.linalg.norm(v)
    return v / n if n > 0 else v


def spectral_norm(W, u=None, n_iter: int = 1):
    """Largest singular value of ``W`` by power iteration (Miyato et al. 2018).

    Parameters
    ----------
    W : array (n_in, n_out)
    u : array (n_out,), optional
        Running right singular vector estimate from the previous call (SN-GAN keeps it
        between steps, so one iteration per step suffices). ``None`` starts from a fixed
        pseudo-random vector.
    n_iter : int >= 1
        Power iterations ``v = W u / |W u|``, ``u = W^T v / |W^T v|``.

    Returns
    -------
    sigma : scalar
        ``v^T W u``; differentiable in ``W`` with ``u, v`` held constant (as in SN-GAN).
    u : array (n_out,)
        Updated vector to pass to the next call.

    Notes
    -----
    Cost O(n_iter * n_in * n_out). Converges geometrically at rate (s_2 / s_1)^2.

    Examples
    --------
    >>> import numpy as np
    >>> W = np.diag([3.0, 1.0])
    >>> s, u = spectral_norm(W, n_iter=20)
    >>> round(float(s), 6)
    3.0
    """
    n_iter = check_int(n_iter, "n_iter", minimum=1)
    Wv = np.asarray(getval(W), dtype=float)
    if Wv.ndim != 2:
        raise ValueError(f"`W` must be a 2-D matrix; got shape {Wv.shape}.")
    if u is None:
        u = np.random.default_rng(0).normal(size=Wv.shape[1])
    u = np.asarray(u, dtype=float)
    if u.shape != (Wv.shape[1],):
        raise ValueError(f"`u` must have shape ({Wv.shape[1]},); got {u.shape}.")
    u = _unit(u)
    v = _unit(Wv @ u)
    for _ in range(n_iter):
        v = _unit(Wv @ u)
        u = _unit(Wv.T @ v)
    sigma = anp.dot(v, anp.dot(W, u))
    return sigma, u


def spectral_normalize(params, us=None, n_iter: int = 1):
    """Divide every weight matrix by its spectral norm (biases unchanged).

    Parameters
    ----------
    params : list of (W, b)
    us : list of arrays or None
        Power-iteration vectors from the previous call (``None``: fresh start).
    n_iter : int

    Returns
    -------
    params_sn : list of (W / sigma(W), b)
        Differentiable in ``params`` (autograd), each layer 1-Lipschitz up to the power
        iteration's error, so the MLP with 1-Lipschitz activations is 1-Lipschitz.
    us : list of arrays
        Updated vectors.
    """
    if us is None:
        us = [None] * len(params)
    if len(us) != len(params):
        raise ValueError(f"`us` must have one vector per layer ({len(params)}); got {len(us)}.")
    out, new_us = [], []
    for (W, b), u in zip(params, us):
        sigma, u2 = spectral_norm(W, u, n_iter=n_iter)
        out.append((W / sigma, b))
        new_us.append(u2)
    return out, new_us


def input_gradients(f, x):
    """Per-point gradients ``grad_x f(x_i)`` of a row-wise scalar function.

    ``f`` maps an ``(n, d)`` array to ``(n,)`` or ``(n, 1)`` values, each row depending only
    on its own input row (true of any MLP). Returns an ``(n, d)`` array; differentiable
    again (autograd), which the gradient penalty uses.
    """
    return elementwise_grad(lambda z: anp.sum(f(z)))(x)


def gradient_penalty(critic, x_real, x_fake, rng=None, *, center: float = 1.0):
    r"""WGAN-GP penalty ``mean_i (|grad_x critic(x_hat_i)| - center)^2`` (Gulrajani et al. 2017).

    ``x_hat_i = a_i x_real_i + (1 - a_i) x_fake_i`` with ``a_i ~ U[0, 1]``.

    Parameters
    ----------
    critic : callable
        ``(n, d) -> (n,) or (n, 1)``, row-wise, typically ``lambda x: mlp(params, x)``
        closing over the parameters being differentiated: the penalty is then
        differentiable in them (autograd takes the gradient of the input gradient).
    x_real, x_fake : arrays (n, d)
        Same shape (at least one point).
    rng : None, int or Generator
        For the interpolation weights.
    center : float >= 0
        Target gradient norm (1 for WGAN-GP; 0 gives the zero-centred penalty).

    Returns
    -------
    scalar

    Notes
    -----
    The norm is ``sqrt(|g|^2 + 1e-12)`` so the penalty stays differentiable where
    ``g = 0``. Cost: one forward and two backward passes of the critic.

    Examples
    --------
    >>> import numpy as np
    >>> w = np.array([0.6, 0.8])                      # |w| = 1
    >>> x = np.random.default_rng(0).normal(size=(4, 2))
    >>> float(gradient_penalty(lambda z: z @ w, x, x + 1.0, 0)) < 1e-20
    True
    """
    g = check_rng(rng)
    xr, xf = getval(x_real), getval(x_fake)
    if np.ndim(xr) != 2 or np.shape(xr) != np.shape(xf):
        raise ValueError(
            f"`x_real` and `x_fake` must be (n, d) arrays of the same shape; got {np.shape(xr)} "
            f"and {np.shape(xf)}.")
    if np.shape(xr)[0] == 0:
        raise ValueError("`x_real` must contain at least one point (batch size >= 1); got 0.")
    center = check_nonnegative(center, "center")
    a = g.uniform(size=(np.shape(xr)[0], 1))
    x_hat = a * x_real + (1.0 - a) * x_fake
    grads = input_gradients(critic, x_hat)
    norms = anp.sqrt(anp.sum(grads ** 2, axis=1) + 1e-12)
    return anp.mean((norms - center) ** 2)
