"""First-order optimisers on nested parameter structures, and update schemes for games.

Every optimiser works on any nested list/tuple/dict of arrays (flattened with
``autograd.misc.flatten``) and keeps its state (moments) between calls. ``step`` performs a
*descent* step ``params - lr * direction(grads)`` and returns new parameters; the input is
never modified. To ascend, pass ``-grads``.

Update rules (PyTorch conventions, ``g`` the gradient, ``t`` the step count from 1)::

    sgd       p <- p - lr g
    momentum  v <- mu v + g;                           p <- p - lr v      (nesterov: p - lr (g + mu v))
    rmsprop   s <- a s + (1 - a) g^2;                  p <- p - lr g / (sqrt(s) + eps)
    adam      m <- b1 m + (1 - b1) g;  s <- b2 s + (1 - b2) g^2
              p <- p - lr (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)

Games: :func:`game_step` advances a two-player game ``min_x f(x, y)``, ``min_y h(x, y)``
(each player *descends* its own loss; for ``min_x max_y f`` pass ``grad_y = -df/dy``, the
convention of ``games.py``). With ``g`` the players' gradients and ``step`` the optimiser's
update ``p - lr d(g)``::

    simultaneous   both gradients at (x, y), both step
    alternating    y steps first (a discriminator before the generator), x uses the new y
                   (``lead="x"`` swaps the order)
    extragradient  (Korpelevich 1976) x~ = step(x, g_x(x, y)), y~ = step(y, g_y(x, y));
                   x' = step(x, g_x(x~, y~)), y' = step(y, g_y(x~, y~))
    optimistic     (optimistic GD / OMD) p' = p - lr (2 d_t - d_{t-1}), d the optimiser's
                   direction, both players at (x, y); d_{-1} = d_0 (first step plain)
    prediction     (Yadav et al. 2018) x' = step(x, g_x(x, y)); y' = step(y, g_y(2x' - x, y))
                   (``lead="y"`` predicts y instead)

On min_x max_y xy with SGD these are exactly the linear maps of
``games.bilinear_update_matrix`` (T6).
"""

from __future__ import annotations

import numpy as np
from autograd.misc import flatten as _autograd_flatten

from .._validation import check_choice, check_positive

__all__ = ["GAME_SCHEMES", "OPTIMIZERS", "Optimizer", "adam_betas", "checked_step", "flatten", "game_step", "make_optimizer",
           "quiet_divergence"]


def _leaves(tree, out):
    if isinstance(tree, (list, tuple)):
        for t in tree:
            _leaves(t, out)
    elif isinstance(tree, dict):
        for k in sorted(tree):
            _leaves(tree[k], out)
    else:
        out.append(tree)
    return out


def _rebuild(tree, it):
    if isinstance(tree, list):
        return [_rebuild(t, it) for t in tree]
    if isinstance(tree, tuple):
        return tuple(_rebuild(t, it) for t in tree)
    if isinstance(tree, dict):
        return {k: _rebuild(tree[k], it) for k in sorted(tree)}
    return next(it)


def flatten(tree):
    """``(flat_vector, unflatten)`` for a nested list/tuple/dict of arrays or scalars.

    Same contract as ``autograd.misc.flatten`` (dict keys in sorted order), in plain numpy,
    about 50x faster on small parameter lists (autograd's version traces every concatenate).
    Falls back to autograd's for leaf types it does not know.
    """
    leaves = _leaves(tree, [])
    if not all(isinstance(v, (np.ndarray, float, int, np.floating, np.integer)) for v in leaves):
        return _autograd_flatten(tree)
    arrs = [np.asarray(v, dtype=float) for v in leaves]
    shapes = [a.shape for a in arrs]
    sizes = [a.size for a in arrs]
    flat = np.concatenate([a.ravel() for a in arrs]) if arrs else np.zeros(0)
    offsets = np.cumsum([0] + sizes)

    def unflatten(v):
        v = np.asarray(v)
        parts = iter(v[offsets[i]:offsets[i + 1]].reshape(shapes[i]) for i in range(len(arrs)))
        return _rebuild(tree, parts)

    return flat, unflatten

#: Valid optimiser names and their keyword options with defaults.
OPTIMIZERS = {
    "sgd": {},
    "momentum": {"momentum": 0.9, "nesterov": False},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
}

#: Update schemes of :func:`game_step`.
GAME_SCHEMES = ("simultaneous", "alternating", "extragradient", "optimistic", "prediction")


class NonFiniteGradients(ValueError):
    """The gradients given to :meth:`Optimizer.step` hold NaN or infinity (a ValueError, which
    :func:`checked_step` tells a diverging training run by)."""


class Optimizer:
    """A stateful first-order optimiser (make it with :func:`make_optimizer`).

    Attributes
    ----------
    name : str
    lr : float
    options : dict
    t : int
        Number of steps taken.
    """

    def __init__(self, name: str, lr: float, options: dict):
        self.name = name
        self.lr = lr
        self.options = dict(options)
        self.reset()

    def reset(self) -> None:
        """Forget the moments and the step count."""
        self.t = 0
        self._m = None
        self._s = None
        self._prev_d = None  # direction of the previous optimistic step

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"Optimizer({self.name!r}, lr={self.lr!r}{', ' + opts if opts else ''})"

    def direction(self, grads):
        """The update direction ``d`` (flat) such that the step is ``p - lr d``; advances state."""
        g, _ = flatten(grads)
        return self._direction_flat(g)

    def _direction_flat(self, g):
        """:meth:`direction` of gradients already flattened."""
        g = np.asarray(g, dtype=float)
        if not np.all(np.isfinite(g)):
            raise NonFiniteGradients("`grads` must contain only finite values; got NaN or infinity.")
        if self._m is not None and self._m.shape != g.shape:
            raise ValueError(
                f"`grads` changed size between steps ({self._m.size} -> {g.size}); "
                "use one optimiser per parameter set or call reset().")
        self.t += 1
        o = self.options
        if self.name == "sgd":
            if self._m is None:
                self._m = np.zeros_like(g)
            return g
        if self.name == "momentum":
            self._m = g.copy() if self._m is None else o["momentum"] * self._m + g
            return g + o["momentum"] * self._m if o["nesterov"] else self._m
        if self.name == "rmsprop":
            if self._m is None:
                self._m = np.zeros_like(g)
            self._s = (1 - o["alpha"]) * g * g if self._s is None else o["alpha"] * self._s + (1 - o["alpha"]) * g * g
            return g / (np.sqrt(self._s) + o["eps"])
        # adam
        b1, b2 = o["beta1"], o["beta2"]
        self._m = (1 - b1) * g if self._m is None else b1 * self._m + (1 - b1) * g
        self._s = (1 - b2) * g * g if self._s is None else b2 * self._s + (1 - b2) * g * g
        mhat = self._m / (1 - b1 ** self.t)
        shat = self._s / (1 - b2 ** self.t)
        return mhat / (np.sqrt(shat) + o["eps"])

    def step(self, params, grads):
        """Return ``params - lr * direction(grads)`` with the structure of ``params``.

        Examples
        --------
        >>> import numpy as np
        >>> opt = make_optimizer("sgd", 0.1)
        >>> opt.step([np.array([1.0, 2.0])], [np.array([10.0, -10.0])])
        [array([0., 3.])]
        """
        p, unflatten = flatten(params)
        gp, _ = flatten(grads)
        if np.shape(p) != np.shape(gp):
            raise ValueError(f"`grads` must match `params` in size; got {np.size(gp)} and {np.size(p)}.")
        return unflatten(np.asarray(p, dtype=float) - self.lr * self._direction_flat(gp))


    def optimistic_step(self, params, grads):
        """Optimistic step ``params - lr * (2 d_t - d_{t-1})``, ``d_t = direction(grads)``.

        ``d_{t-1}`` is the direction of the previous *optimistic* step of this optimiser
        (the first one, or the first after :meth:`reset`, uses ``d_{t-1} = d_t``: a plain
        step, as ``games.py`` starts optimistic GD from ``z_{-1} = z_0``). With "sgd" this is
        optimistic gradient descent ``p - lr (2 g_t - g_{t-1})`` (Popov 1980; Daskalakis et
        al. 2018); with "momentum", "rmsprop", "adam" the same extrapolation is applied to
        their direction. For "adam" it is the Optimistic Adam of Daskalakis, Ilyas,
        Syrgkanis & Zeng (2018, Algorithm 1), ``p - 2 lr m_t/sqrt(v_t) + lr m_{t-1}/sqrt(v_{t-1})``,
        except that our moments are bias-corrected and ``eps`` sits outside the square root
        (PyTorch convention).

        Examples
        --------
        >>> import numpy as np
        >>> opt = make_optimizer("sgd", 0.1)
        >>> p = opt.optimistic_step(np.array([1.0]), np.array([1.0]))   # plain: 1 - 0.1
        >>> opt.optimistic_step(p, np.array([3.0]))                      # 0.9 - 0.1 (6 - 1)
        array([0.4])
        """
        p, unflatten = flatten(params)
        gp, _ = flatten(grads)
        if np.shape(p) != np.shape(gp):
            raise ValueError(f"`grads` must match `params` in size; got {np.size(gp)} and {np.size(p)}.")
        d = self._direction_flat(gp)
        prev = d if self._prev_d is None or self._prev_d.shape != d.shape else self._prev_d
        self._prev_d = np.array(d, dtype=float, copy=True)
        return unflatten(np.asarray(p, dtype=float) - self.lr * (2.0 * d - prev))


def _all_finite(tree) -> bool:
    flat, _ = flatten(tree)
    return bool(np.all(np.isfinite(np.asarray(flat, dtype=float))))


def quiet_divergence():
    """``np.errstate`` for a training step: numpy's overflow and invalid-value warnings off.

    A diverging step's overflow (in the forward pass, its gradients or the update) ends in a
    non-finite gradient or parameter, which :func:`checked_step` reports as "training diverged
    at step k" with the learning rates to lower; the RuntimeWarnings printed before that error
    said nothing more. Wrap the gradient computation and :func:`checked_step` in it, not the
    measurements of a run.
    """
    return np.errstate(over="ignore", invalid="ignore")


def checked_step(opt: Optimizer, params, grads, *, step: int, what: str, hint: str):
    """``opt.step(params, grads)`` in a training loop that says so when training diverges.

    A NaN or infinite gradient, or new parameters that overflow, raise ValueError
    "training diverged at step ``step``: the ``what`` ..." followed by ``hint`` (which
    names the caller's arguments, e.g. its learning rates), instead of the optimiser's
    error about its ``grads`` argument or NaN results further on.
    """
    try:
        with quiet_divergence():  # an overflowing update is reported below
            new = opt.step(params, grads)  # it checks the gradients (NonFiniteGradients)
    except NonFiniteGradients:
        raise ValueError(f"training diverged at step {step}: the {what} gradient holds NaN or "
                         f"infinity; {hint}") from None
    if not _all_finite(new):
        raise ValueError(f"training diverged at step {step}: the {what} parameters overflowed "
                         f"to infinity or NaN; {hint}")
    return new


def adam_betas(betas, name: str = "betas") -> tuple[float, float]:
    """``(beta1, beta2)`` from ``betas``: two numbers, else a ValueError naming ``name`` (their
    ranges are :func:`make_optimizer`'s to check)."""
    try:
        b1, b2 = (float(b) for b in betas)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be two numbers (beta1, beta2); got {betas!r}.") from None
    return b1, b2


def make_optimizer(name: str, lr: float, **kw) -> Optimizer:
    """An optimiser by name: "sgd", "momentum", "rmsprop" or "adam".

    Parameters
    ----------
    name : str
        One of :data:`OPTIMIZERS`.
    lr : float > 0
        Learning rate.
    **kw
        Options of that optimiser (see :data:`OPTIMIZERS` for names and defaults):
        ``momentum`` in [0, 1) and ``nesterov``; ``alpha`` in [0, 1) and ``eps`` > 0;
        ``beta1``, ``beta2`` in [0, 1) and ``eps`` > 0.

    Raises
    ------
    ValueError
        Unknown name or option (the message lists the valid ones), ``lr <= 0``, or an
        option out of range.

    Examples
    --------
    >>> opt = make_optimizer("adam", 1e-3, beta1=0.5, beta2=0.9)
    >>> opt
    Optimizer('adam', lr=0.001, beta1=0.5, beta2=0.9, eps=1e-08)
    """
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise ValueError(f"`name` must be one of {tuple(OPTIMIZERS)}; got {name!r}.")
    lr = check_positive(lr, "lr")
    defaults = OPTIMIZERS[name]
    unknown = sorted(set(kw) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown option(s) {unknown} for optimiser {name!r}; valid options: "
            f"{tuple(defaults) if defaults else 'none'}.")
    opts = {**defaults, **kw}
    for key in ("momentum", "alpha", "beta1", "beta2"):
        if key in opts:
            v = float(opts[key])
            if not 0.0 <= v < 1.0:
                raise ValueError(f"`{key}` must be a float in [0, 1); got {opts[key]!r}.")
            opts[key] = v
    if "eps" in opts:
        opts["eps"] = check_positive(opts["eps"], "eps")
    if "nesterov" in opts:
        opts["nesterov"] = bool(opts["nesterov"])
    return Optimizer(name, lr, opts)


def game_step(x, y, grad_x, grad_y, opt_x: Optimizer, opt_y: Optimizer, *,
              scheme: str = "alternating", lead: str | None = None):
    """One round of a two-player game, each player descending its own loss.

    Parameters
    ----------
    x, y : nested arrays
        The players' parameters (``x`` e.g. the generator, ``y`` the discriminator).
    grad_x : callable ``(x, y) -> grads like x``
        Gradient in ``x`` of the loss ``x`` minimises.
    grad_y : callable ``(x, y) -> grads like y``
        Gradient in ``y`` of the loss ``y`` minimises (for ``max_y f`` pass ``-grad_y f``).
    opt_x, opt_y : Optimizer
        One per player; their state (moments, step count, previous optimistic direction)
        carries over between rounds.
    scheme : {"simultaneous", "alternating", "extragradient", "optimistic", "prediction"}
        "simultaneous": both gradients at ``(x, y)``, then both step.
        "alternating": ``y`` steps first, then ``x`` steps using the new ``y``.
        "extragradient" (Korpelevich): both players take a trial step with the gradients at
        ``(x, y)`` to ``(x~, y~)``, then both step *from* ``(x, y)`` with the gradients at
        ``(x~, y~)``. Two gradient evaluations per player; with adaptive optimisers both
        steps update the moments (Extra-Adam of Gidel et al. 2019), so ``t`` advances by 2.
        "optimistic": simultaneous :meth:`Optimizer.optimistic_step`,
        ``p - lr (2 d_t - d_{t-1})`` (optimistic GD with "sgd"; Optimistic Adam with "adam").
        "prediction" (Yadav et al. 2018): the leading player (``x`` by default, as in
        ``games.py``) steps at ``(x, y)``; the other steps at the leader's predicted
        parameters ``2 x' - x``.
    lead : {"x", "y"} or None
        Who moves first, for "alternating" (default "y") and "prediction" (default "x");
        must be None for the other schemes.

    Returns
    -------
    (x_new, y_new)
        Same structures as ``x`` and ``y``; the inputs are not modified.

    Raises
    ------
    ValueError
        Unknown ``scheme`` or ``lead`` (the message lists the valid choices), or ``lead``
        given for a scheme without an order.

    Notes
    -----
    On min_x max_y xy (``grad_x = y``, ``grad_y = -x``) with SGD of step η, one round is
    z' = M z with M from ``games.bilinear_update_matrix``: simultaneous I - ηA (radius
    sqrt(1 + η²)), alternating with ``lead="x"`` [[1, -η], [η, 1 - η²]], extragradient
    I - ηA + η²A² (radius sqrt(1 - η² + η⁴)), prediction [[1, -η], [η, 1 - 2η²]] (radius
    sqrt(1 - η²)), optimistic the 4x4 companion on (z_t, z_{t-1}); A = [[0, 1], [-1, 0]].

    Examples
    --------
    Bilinear game min_x max_y x y with SGD (eta = 0.1): simultaneous GD spirals out,
    |lambda| = sqrt(1 + eta^2).

    >>> import numpy as np
    >>> gx = lambda x, y: y            # d(xy)/dx
    >>> gy = lambda x, y: -x           # y maximises xy: descend -xy
    >>> x, y = np.array(1.0), np.array(2.0)
    >>> ox, oy = make_optimizer("sgd", 0.1), make_optimizer("sgd", 0.1)
    >>> x, y = game_step(x, y, gx, gy, ox, oy, scheme="simultaneous")
    >>> float(x), float(y)
    (0.8, 2.1)

    Extragradient contracts: (1, 2) -> (1 - 0.2 - 0.01, 2 + 0.1 - 0.02).

    >>> x, y = game_step(np.array(1.0), np.array(2.0), gx, gy, ox, oy, scheme="extragradient")
    >>> round(float(x), 12), round(float(y), 12)
    (0.79, 2.08)
    """
    check_choice(scheme, "scheme", GAME_SCHEMES)
    ordered = {"alternating": "y", "prediction": "x"}
    if lead is None:
        lead = ordered.get(scheme)
    elif scheme not in ordered:
        raise ValueError(f"`lead` applies only to schemes {tuple(ordered)}; got lead={lead!r} "
                         f"with scheme={scheme!r} (pass lead=None).")
    else:
        check_choice(lead, "lead", ("x", "y"))
    if scheme == "simultaneous":
        gxv = grad_x(x, y)
        gyv = grad_y(x, y)
        return opt_x.step(x, gxv), opt_y.step(y, gyv)
    if scheme == "extragradient":
        gxv = grad_x(x, y)
        gyv = grad_y(x, y)
        x_half, y_half = opt_x.step(x, gxv), opt_y.step(y, gyv)
        gxv = grad_x(x_half, y_half)
        gyv = grad_y(x_half, y_half)
        return opt_x.step(x, gxv), opt_y.step(y, gyv)
    if scheme == "optimistic":
        gxv = grad_x(x, y)
        gyv = grad_y(x, y)
        return opt_x.optimistic_step(x, gxv), opt_y.optimistic_step(y, gyv)
    if scheme == "alternating":
        if lead == "y":
            y_new = opt_y.step(y, grad_y(x, y))
            x_new = opt_x.step(x, grad_x(x, y_new))
        else:
            x_new = opt_x.step(x, grad_x(x, y))
            y_new = opt_y.step(y, grad_y(x_new, y))
        return x_new, y_new
    # prediction
    if lead == "x":
        x_new = opt_x.step(x, grad_x(x, y))
        x_pred = _extrapolate(x_new, x)
        y_new = opt_y.step(y, grad_y(x_pred, y))
    else:
        y_new = opt_y.step(y, grad_y(x, y))
        y_pred = _extrapolate(y_new, y)
        x_new = opt_x.step(x, grad_x(x, y_pred))
    return x_new, y_new


def _extrapolate(new, old):
    """``2 new - old`` with the structure of ``new`` (the prediction step of Yadav et al.)."""
    a, unflatten = flatten(new)
    b, _ = flatten(old)
    return unflatten(2.0 * np.asarray(a, dtype=float) - np.asarray(b, dtype=float))
