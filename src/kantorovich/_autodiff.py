"""Gradients of OT values for torch, numpy-autodiff (``autograd``) and JAX, by the envelope theorem.

The solvers run on numpy (or CuPy) data and are never traced. What makes a value
differentiable is a first-order optimality argument: at the optimum, the derivative of an
optimal value with respect to the problem data is the derivative of the Lagrangian at the
optimal primal/dual pair (Danskin's / the envelope theorem). So the gradients are built after
the solve from what the solver returns -- the potentials ``f, g`` and the plan ``P`` -- plus
one O(n + m)-memory pass over the cost for point clouds. The one value that is not an optimal
value, ``sinkhorn(...).value`` = <P, C>, is differentiated implicitly instead (the adjoint of
the Sinkhorn fixed point, :func:`sinkhorn_value_grads`). See docs/gradients.md for the
formulas and conventions.

Mechanism (:func:`call`, entered from :func:`kantorovich._interop.interop` when a torch input
requires grad or carries a forward-mode tangent, or an input is an ``autograd`` box or a JAX
tracer):

1. the differentiable inputs ("leaves") are collected: array arguments (``a``, ``b``, ``M``,
   ``u_values`` ...) and the arrays a geometry was built from (``PointCloud(x, y)`` keeps
   ``x`` and ``y``, ``DenseGeometry(M)`` keeps ``M``);
2. the forward pass, :func:`_forward`, shared by the three libraries: the solver runs once on
   detached numpy views (exactly the numbers of a plain call), and each differentiable scalar
   of the result (``value``, ``objective``) gets a :class:`_Node`, whose ``vjp`` -- the
   backward pass, also shared -- computes the gradients lazily, only for the leaves that need
   them, from the saved result, and scales them by the incoming cotangent;
3. the wrapper of the caller's library makes each node's value a node of its graph: a
   :class:`torch.autograd.Function` output, an ``autograd`` primitive (both with a forward-mode
   rule, the same gradient contracted with the tangents: :meth:`_Node.contract`), or an output of a
   ``jax.custom_jvp`` whose rule is the linear map t -> <gradient, t>, run forward for
   ``jax.jvp`` and transposed by JAX for ``jax.grad``, its gradient computed by the backward
   pass above on the host (through a primitive of ours, :func:`_host_primitive`, under
   ``jit`` and ``vmap``: a ``jax.pure_callback`` under ``jit``, a direct call outside it;
   :func:`_jax_call`). Under ``jax.vmap`` the functions with a batch form solve the mapped
   problems as one batch (:func:`_vmapped`); a batch given as JAX arrays is the ``jax.vmap``
   of the single call (:func:`_jax_batch_call`).

Functions without a rule here give detached torch results (as before) and refuse ``autograd``
boxes and JAX tracers with a TypeError.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import functools
import inspect
import itertools
import math
import sys
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from ._validation import xp_of
from ._warnings import warn as _warn_at_caller
from .exceptions import ConvergenceWarning
from ._constants import EXP_CLIP as _EXP_CLIP

__all__ = [
    "TracedResult",
    "call",
    "differentiable",
    "is_box",
    "is_tracer",
    "placeholder",
    "pointcloud_grads",
    "sinkhorn_value_grads",
    "value_of",
    "wants_grad",
]


# ----------------------------------------------------------------------------- leaves
def is_box(v: Any) -> bool:
    """True for an ``autograd`` tracer box (e.g. ``ArrayBox``), without importing autograd."""
    return type(v).__module__.startswith("autograd.") and hasattr(v, "_value")


def value_of(v: Any) -> Any:
    """The plain value inside an ``autograd`` box (nested boxes unwrapped), else ``v``."""
    while is_box(v):
        v = v._value
    return v


def is_tracer(v: Any) -> bool:
    """True for a JAX tracer (inside ``jax.grad``, ``jit``, ``vmap``), without importing JAX."""
    if not type(v).__module__.startswith("jax"):
        return False
    import jax

    return isinstance(v, jax.core.Tracer)


def differentiable(v: Any) -> bool:
    """A torch tensor that requires grad or carries a forward-mode tangent (a dual tensor of
    ``torch.autograd.forward_ad``), an ``autograd`` box, or a JAX tracer."""
    if is_box(v) or is_tracer(v):
        return True
    if type(v).__module__.split(".")[0] != "torch":
        return False
    return bool(getattr(v, "requires_grad", False)) or has_tangent(v)


def _dual_level() -> bool:
    """Inside ``torch.autograd.forward_ad.dual_level()``."""
    fwd = sys.modules.get("torch.autograd.forward_ad")
    return fwd is not None and getattr(fwd, "_current_level", 0) >= 0


def has_tangent(v: Any) -> bool:
    """A torch tensor with a forward-mode tangent at the current dual level (inside
    ``torch.autograd.forward_ad.dual_level()``: ``make_dual``, ``gradcheck(check_forward_ad=
    True)``, ``torch.autograd.functional.jacobian(strategy="forward-mode")``). Cheap outside a
    dual level: one attribute read."""
    if not _dual_level():
        return False
    try:
        return sys.modules["torch.autograd.forward_ad"].unpack_dual(v).tangent is not None
    except (TypeError, RuntimeError):
        return False


def _traced(v: Any) -> bool:
    """An ``autograd`` box or JAX tracer, or a geometry built from one."""
    if is_box(v) or is_tracer(v):
        return True
    leaves = getattr(v, "_leaves", None)
    return bool(leaves) and any(is_box(t) or is_tracer(t) for t in leaves.values())


def wants_grad(requires_grad: bool, args: tuple, kwargs: dict) -> bool:
    """Whether a call must go through :func:`call`: a torch input requires grad, or an input
    (or an input geometry's data) is an ``autograd`` box or a JAX tracer. Cheap: attribute
    checks only."""
    return requires_grad or any(_traced(v) for v in (*args, *kwargs.values()))


def placeholder(v: Any) -> np.ndarray:
    """Zeros of a JAX tracer's shape and dtype: what a geometry built from a tracer holds. Its
    numbers are the tracer's only once JAX runs the computation; the functions with a gradient
    rule rebuild the geometry from them then (:func:`call`), no other use is meant. (bfloat16,
    which numpy has not, as its float32 copy: see :func:`_jax_host`.)"""
    return _jax_host(np.zeros(v.shape, dtype=np.dtype(v.dtype)))


def _jax_host(v: Any) -> Any:
    """A concrete JAX array (or the numpy array a JAX callback hands over) as the numpy array
    the solvers take: bfloat16, which numpy has as ml_dtypes' non-float type only, becomes a
    float32 copy that remembers its precision, as :func:`kantorovich._interop.to_kernel` makes
    it for a plain call."""
    arr = np.asarray(v)
    if arr.dtype.name == "bfloat16":
        from ._validation import note_widened

        return note_widened(arr.astype(np.float32), "bfloat16")
    return arr


def _arr64(v: Any) -> Any:
    """``v`` in float64 where it is: a CuPy array stays on its GPU (the backward pass of a GPU
    solve reads the potentials and the plan there), anything else becomes a numpy array."""
    if v is None:
        return None
    if type(v).__module__.split(".")[0] == "cupy":
        return v.astype(np.float64, copy=False)
    return np.asarray(v, dtype=np.float64)


def _host64(v: Any) -> np.ndarray | None:
    if v is None:
        return None
    if hasattr(v, "get") and type(v).__module__.split(".")[0] == "cupy":
        v = v.get()
    return np.asarray(v, dtype=np.float64)


# ----------------------------------------------------------------------------- graph nodes
class _Node:
    """One differentiable output: its value, its leaves, and the lazily computed unit gradients
    ``d value / d leaf`` (cached per leaf). ``grads`` is a function of the set of leaf names
    needed, or a message: the reason there is no gradient (raised as NotImplementedError by
    the backward pass; the forward value is still returned). Only scalar outputs have
    gradient functions (array outputs, the batches of wasserstein_1d, carry a message)."""

    def __init__(self, value: Any, names: tuple[str, ...], grads: Callable | str,
                 warn: str | None = None, once: list | None = None):
        self.value = value
        self.names = names
        self._grads = grads
        self._warn = warn
        # shared by the nodes of one solve (sinkhorn's `value` and `objective`): its warning
        # is given once, by whichever gradient is computed first
        self._once = [] if once is None else once
        self._cache: dict[str, np.ndarray] = {}

    def vjp(self, gbar: Any, need: set[str]) -> dict[str, np.ndarray]:
        """``gbar * d value / d leaf`` for the leaves in ``need``."""
        self._fill(need)
        g = float(gbar)
        return {k: g * self._cache[k] for k in need}

    def units(self, need: set[str]) -> dict[str, Any]:
        """The unit gradients ``d value / d leaf`` of the leaves in ``need`` (a batch node's
        stacked per problem, (B, ...))."""
        self._fill(need)
        return {k: self._cache[k] for k in need}

    def contract(self, xp: Any, G: Any, t: Any, k: str) -> Any:
        """The derivative of the value along the tangent ``t`` of leaf ``k``, ``<G, t>`` with
        ``G`` its unit gradient, in the namespace ``xp`` of ``t`` (torch, ``autograd.numpy``:
        the operations of a forward-mode tangent, which that library may be tracing)."""
        return xp.sum(xp.reshape(G, np.shape(t)) * t)

    def _fill(self, need: set[str]) -> None:
        """The unit gradients of the leaves in ``need`` into the cache (the message of a
        missing gradient raised as NotImplementedError)."""
        if isinstance(self._grads, str):
            raise NotImplementedError(self._grads)
        missing = need - self._cache.keys()
        if missing:
            self._cache.update(self._grads(missing))
            self._warned()

    def _warned(self):
        if self._warn is None or self._once:
            return
        self._once.append(True)
        if not _gather("unconverged", self._warn):
            _warn_at_caller(self._warn, ConvergenceWarning)


#: where the problems of a batch are differentiated one after the other on the host
#: (:func:`_per_problem`, :func:`_forward_batch`), their gradients' warnings, gathered into one
#: for the batch per kind of warning (this thread's)
_GATHERED = threading.local()


def _gather(kind: str, message: str) -> bool:
    """Keep ``message`` (a ConvergenceWarning of kind ``kind``) for its batch's warning, where
    a problem of a batch is being differentiated (:func:`_gathering`); False elsewhere (the
    caller then warns)."""
    gathered = getattr(_GATHERED, "warns", None)
    if gathered is None:
        return False
    gathered.append((kind, message))
    return True


def _gathering(f: Callable, *args) -> tuple[Any, list]:
    """``f(*args)`` as one problem of a batch: (its result, the [(kind, message)] of the
    warnings it gathered instead of issuing them)."""
    before = getattr(_GATHERED, "warns", None)
    _GATHERED.warns = got = []
    try:
        return f(*args), got
    finally:
        _GATHERED.warns = before


def _batch_warnings(per_problem: list) -> list[str]:
    """The batch's messages from each problem's gathered [(kind, message)]: one per kind, in
    the order the kinds first came, naming the problems (:func:`_batch_warning`)."""
    kinds = list(dict.fromkeys(k for got in per_problem for k, _ in got))
    return [_batch_warning([next((m for k2, m in got if k2 == k), None) for got in per_problem])
            for k in kinds]


def _batch_warning(warns: list) -> str | None:
    """One message for the problems of a batch whose gradients warn (``warns[q]``: problem
    q's message or None), naming them, with the first one's message; None if none warns."""
    from ._warnings import batch_message

    bad = [q for q, w in enumerate(warns) if w is not None]
    return batch_message(bad, len(warns), warns[bad[0]]) if bad else None


_TORCH_FN = None
_TORCH_REFUSE = None
_AG_PRIM = None

_SECOND_TORCH = (
    "second derivatives (create_graph=True, a gradient penalty on this gradient, a Hessian, "
    "a gradient of a forward-mode tangent) of kantorovich's OT values are not available: "
    "their gradients are computed from the solver's answer, not traced; first derivatives "
    "are, in both modes: .backward(), torch.autograd.grad (is_grads_batched too), "
    "torch.autograd.functional.jacobian, and forward-mode dual tensors "
    "(torch.autograd.forward_ad) (docs/gradients.md).")


def _torch_refuse():
    """A torch identity on a unit gradient whose backward pass refuses: the unit gradients a
    forward-mode tangent is built from depend on the leaves, which torch cannot see, so a
    reverse pass through that tangent (to the leaves) would silently miss that dependence."""
    global _TORCH_REFUSE
    if _TORCH_REFUSE is None:
        import torch

        class OTGradient(torch.autograd.Function):
            @staticmethod
            def forward(ctx, G, *leaves):
                return G.clone()

            @staticmethod
            def backward(ctx, gout):
                raise NotImplementedError(_SECOND_TORCH)

        _TORCH_REFUSE = OTGradient
    return _TORCH_REFUSE


def _torch_scalar():
    global _TORCH_FN
    if _TORCH_FN is None:
        import torch

        class OTValue(torch.autograd.Function):
            """An OT value computed by a kantorovich solver; its backward pass is the
            envelope (or implicit) gradient of kantorovich._autodiff, its forward-mode rule
            the same gradient contracted with the tangents."""

            @staticmethod
            def forward(ctx, node, dtype, device, n_leaves, *tensors):
                # tensors: the differentiable leaves, then the call's other torch tensors
                # (constants); the backward pass reads their data, so all are saved: an
                # in-place change between the two passes is torch's version-counter error
                # rather than a gradient at data the value was not computed from
                leaves = tensors[:n_leaves]
                ctx.save_for_backward(*tensors)
                ctx.node = node
                ctx.metas = [(tuple(t.shape), t.dtype, t.device) for t in leaves]
                ctx.n_consts = len(tensors) - n_leaves
                # the leaves, where a forward-mode tangent may be asked: a reverse pass through
                # that tangent must reach them to refuse (_torch_refuse)
                ctx.leaves = leaves if _dual_level() else ()
                ctx.out_dtype, ctx.out_device = dtype, device
                return torch.as_tensor(np.array(_host64(node.value)), dtype=dtype, device=device)

            @staticmethod
            def backward(ctx, gout):
                if torch.is_grad_enabled():  # create_graph=True: a second derivative is asked
                    raise NotImplementedError(_SECOND_TORCH)
                ctx.saved_tensors  # noqa: B018 - torch's check that no input changed in place
                node = ctx.node
                flags = ctx.needs_input_grad[4:4 + len(node.names)]
                need = {nm for nm, ok in zip(node.names, flags) if ok}
                units = node.units(need) if need else {}
                # the cotangent is multiplied in torch: under is_grads_batched (vmap over the
                # cotangents: gradcheck's batched check, jacobian(vectorize=True)) it is a
                # batched tensor whose numbers cannot be read
                g64 = gout.to(torch.float64)
                out = [None, None, None, None]
                for nm, ok, (shape, dt, dev) in zip(node.names, flags, ctx.metas):
                    if not ok:
                        out.append(None)
                        continue
                    G = _torch_grad(torch, units[nm], np.shape(units[nm]), torch.float64, dev)
                    if isinstance(node, _BatchNode):
                        if node._shared[nm]:
                            g = torch.tensordot(g64.to(dev), G, dims=1)
                        else:
                            g = g64.to(dev).reshape((-1,) + (1,) * (G.ndim - 1)) * G
                    else:
                        g = g64.to(dev) * G
                    out.append(g.reshape(shape).to(dtype=dt))
                return (*out, *(None,) * ctx.n_consts)

            @staticmethod
            def jvp(ctx, *tangents):
                node = ctx.node
                ts = tangents[4:4 + len(node.names)]
                need = {nm for nm, t in zip(node.names, ts) if t is not None}
                out = torch.zeros(np.shape(node.value), dtype=torch.float64,
                                  device=ctx.out_device)
                if not need:
                    return out.to(ctx.out_dtype)
                units = node.units(need)
                refuse = torch.is_grad_enabled() and any(t.requires_grad for t in ctx.leaves)
                for nm, t, (shape, dt, dev) in zip(node.names, ts, ctx.metas):
                    if t is None:
                        continue
                    G = _torch_grad(torch, units[nm], np.shape(units[nm]), torch.float64, dev)
                    if refuse:
                        G = _torch_refuse().apply(G, *ctx.leaves)
                    out = out + node.contract(torch, G, t.to(torch.float64), nm).to(out.device)
                return out.to(ctx.out_dtype)

        _TORCH_FN = OTValue
    return _TORCH_FN


def _torch_grad(torch, g, shape, dtype, device):
    """A gradient as a tensor of its input's shape, dtype and device: a CuPy array (the backward
    pass of a GPU solve) through DLPack, the same device buffer, no host copy."""
    if type(g).__module__.split(".")[0] == "cupy":
        return torch.from_dlpack(g).reshape(shape).to(dtype=dtype, device=device)
    return torch.as_tensor(np.asarray(g).reshape(shape), dtype=dtype, device=device)


_SECOND_AG = (
    "second derivatives (hessian, grad of grad, a grad of a make_jvp) of kantorovich's OT "
    "values are not available: their gradients are computed from the solver's answer, not "
    "traced; first derivatives are, in both modes: grad, jacobian, make_vjp, "
    "elementwise_grad, make_jvp (docs/gradients.md).")


def _ag_scalar():
    global _AG_PRIM
    if _AG_PRIM is None:
        import autograd.numpy as anp
        from autograd.extend import defjvp_argnum, defvjp_argnum, primitive

        @primitive
        def ot_value(node, *leaves):
            return node.value

        def make_vjp(argnum, ans, args, kwargs):
            node = args[0]
            name = node.names[argnum - 1]
            shape = np.shape(args[argnum])
            dt = np.result_type(value_of(args[argnum]))  # a gradient comes in its input's dtype
            if dt.kind != "f":
                dt = np.dtype(np.float64)
            if any(is_box(a) for a in args[1:]):  # traced again: a second derivative
                def refuse(g):
                    raise NotImplementedError(_SECOND_AG)
                return refuse
            return lambda g: np.reshape(node.vjp(g, {name})[name], shape).astype(dt, copy=False)

        def make_jvp(argnum, t, ans, args, kwargs):  # forward mode (autograd.make_jvp)
            node = args[0]
            if any(is_box(a) for a in args[1:]):  # traced again: a second derivative
                raise NotImplementedError(_SECOND_AG)
            name = node.names[argnum - 1]
            return node.contract(anp, node.units({name})[name], t, name)

        defvjp_argnum(ot_value, make_vjp)
        defjvp_argnum(ot_value, make_jvp)
        _AG_PRIM = ot_value
    return _AG_PRIM


def _attach(node: _Node, objs: tuple, c, consts: tuple = ()) -> Any:
    """``node``'s value as a node of the caller's graph (torch or autograd) over ``objs``;
    ``consts``: the call's torch tensors without a gradient, which the torch node saves with
    ``objs`` for the version check of its backward pass."""
    if any(is_box(t) for t in objs):
        return _ag_scalar()(node, *objs)
    import torch

    dtype = c.dtype if c.dtype is not None else torch.float64
    device = c.device if c.device is not None else "cpu"
    return _torch_scalar().apply(node, dtype, device, len(objs), *objs, *consts)


def _torch_constants(rule: _Rule, sig, args: tuple, kwargs: dict) -> tuple:
    """The torch tensors of a call's differentiable parameters (and of the geometries given
    there) that need no gradient: the backward pass reads their data too. Inference tensors
    (made under ``torch.inference_mode``) are left out: torch cannot save them, and they have
    no version counter."""
    out = []
    bound = sig.bind(*args, **kwargs).arguments
    for pname in rule.params:
        v = bound.get(pname, bound.get("kwargs", {}).get(pname))
        geo = getattr(v, "_torch_inputs", None)
        for t in (geo if geo is not None and not isinstance(v, np.ndarray) else (v,)):
            if (type(t).__module__.split(".")[0] == "torch" and hasattr(t, "is_inference")
                    and not differentiable(t) and not t.is_inference()):
                out.append(t)
    return tuple(out)


# ----------------------------------------------------------------------------- JAX
class _Saved:
    """The gradient nodes of JAX forward passes whose derivatives have not all run yet, by token.

    A JAX residual must be an array, so the forward pass keeps its nodes here and hands JAX an
    int32 token. Reverse mode takes each output's node once (:meth:`take`), forward mode reads
    them (:meth:`get`: ``jax.jacfwd`` pushes one tangent per input entry). Bounded (a forward
    pass whose derivatives never run, as in ``jax.vjp`` without its pullback, must not keep its
    plan alive): the ``size`` most recent forward passes are kept, a batched one (one token per
    problem, :meth:`put_group`) counting once; a derivative that finds its node gone --
    evicted, or taken by an earlier call of the same pullback -- solves again."""

    def __init__(self, size: int = 16):
        self.size = size
        self._d: collections.OrderedDict[int, dict[int, dict]] = collections.OrderedDict()
        self._group: dict[int, int] = {}
        self._lock = threading.Lock()
        self._count = itertools.count(1)

    def put(self, nodes: dict) -> int:
        return self.put_group([nodes])[0]

    def put_group(self, nodes: list[dict]) -> list[int]:
        """One token per problem of a forward pass, evicted together."""
        with self._lock:
            toks = [next(self._count) % (1 << 31) for _ in nodes]
            gid = toks[0]
            self._d[gid] = {t: dict(nd) for t, nd in zip(toks, nodes)}
            self._group.update((t, gid) for t in toks)
            while len(self._d) > self.size:
                for t in self._d.popitem(last=False)[1]:
                    self._group.pop(t, None)
            return toks

    def _nodes(self, tok: int) -> dict:
        return self._d.get(self._group.get(tok, -1), {}).get(tok, {})

    def get(self, tok: int, field: str | None) -> _Node | None:
        with self._lock:
            return self._nodes(tok).get(field)

    def take(self, tok: int, field: str | None) -> _Node | None:
        with self._lock:
            nodes = self._nodes(tok)
            node = nodes.pop(field, None)
            if not nodes and tok in self._group:
                gid = self._group.pop(tok)
                group = self._d.get(gid, {})
                group.pop(tok, None)
                if not group:
                    self._d.pop(gid, None)
            return node


_SAVED = _Saved()


class TracedResult:
    """What a function returning a result object gives inside ``jax.jit`` or ``jax.vmap``: its
    differentiable values (``value``, ``objective``) as traced arrays. The other fields
    (potentials, plan, diagnostics) are computed on the host while JAX runs the function and
    are not returned; reading one is an AttributeError saying so.

    A JAX pytree whose leaves are those values (registered when the first one is made), so a
    transformed function may return it: ``jax.jit(f)(x)`` and ``jax.vmap(f)(xs)`` give a
    TracedResult of concrete (batched) values, with the same missing fields."""

    def __init__(self, name: str, values: dict[str, Any]):
        from ._results import _JAX_REGISTERED, register_jax_pytree

        if TracedResult not in _JAX_REGISTERED:
            register_jax_pytree(TracedResult)
        self.__dict__["_name"] = name
        self.__dict__.update(values)

    def _tree_flatten(self):
        names = tuple(k for k in self.__dict__ if k != "_name")
        return [self.__dict__[k] for k in names], (names, self._name)

    @classmethod
    def _tree_unflatten(cls, aux, children):
        names, name = aux
        return cls(name, dict(zip(names, children)))

    def __getattr__(self, key: str):
        if key.startswith("__"):  # (copy, pickle and JAX probe for protocols)
            raise AttributeError(key)
        raise AttributeError(
            f"`{key}` of {self._name}'s result is not available inside jax.jit or jax.vmap (nor "
            f"in the result they return): only "
            f"{', '.join(k for k in self.__dict__ if k != '_name')} are traced (computed on the "
            "host by jax.pure_callback); call the function outside the transformation for the "
            "other fields (docs/gradients.md).")

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "_name")
        return f"TracedResult({self._name}: {vals})"


def _rebuild(geom, vals: dict[str, np.ndarray], nb: int | None = None):
    """A geometry built from JAX tracers, rebuilt from their values (its other data kept);
    with ``nb``, the geometry of a batch of nb problems: the values are (nb, ...) and the
    data not among them is repeated for every problem."""
    from ._array_api import to_host
    from .ot._geometry import DenseGeometry, PointCloud

    def get(key, kept):
        if key in vals:
            if nb is not None and geom.kind == "pointcloud":
                # each problem's points as the cloud holds them: 1-D samples (n,) are (n, 1)
                return np.reshape(vals[key], (nb,) + tuple(kept.shape))
            return vals[key]
        v = to_host(kept)
        return v if nb is None else np.broadcast_to(v, (nb,) + v.shape)

    if geom.kind == "pointcloud":
        out = PointCloud(get("x", geom.x), get("y", geom.y), cost=geom.p, dtype=geom.dtype)
    elif nb is not None:  # a batch of dense costs is an (nb, n, m) array
        return np.asarray(get("M", geom.C), dtype=geom.dtype)
    else:
        out = DenseGeometry(get("M", geom.C), dtype=geom.dtype)
    # where the geometry was moved (``to_device("cuda")``), the solve runs there too
    return out.to_device("cuda") if geom.on_gpu else out


def _no_second_derivative(primals, tangents):
    raise NotImplementedError(
        "second derivatives (jax.hessian, a grad of a grad, a jvp of a grad) of kantorovich's "
        "OT values are not available: their gradients are computed from the solver's answer, "
        "not traced; first derivatives are, in both modes: jax.grad, jax.vjp, jax.jacrev, "
        "jax.jvp, jax.jacfwd, jax.linearize (docs/gradients.md).")


_HOST_P = None
_HOST_P_LOCK = threading.Lock()


def _host_primitive():
    """The JAX primitive through which the host functions of :func:`_jax_call` run.

    ``jax.pure_callback`` alone would do under ``jit``, but outside ``jit`` (under
    ``jax.vmap``, or in the jaxpr of a derivative evaluated eagerly) JAX dispatches it as a
    one-primitive computation, compiled once per distinct parameters -- the callable among
    them, a new closure per call -- and kept in its dispatch caches with the closure: memory
    grew with every call. This primitive has the same meaning: evaluated (concrete operands)
    it calls the host function now, on numpy views, nothing compiled or cached; staged
    (``jit``) it lowers to that ``jax.pure_callback``, compiled once with the traced function.
    Its batching rule is ``vmap_method="expand_dims"``'s: a batched operand has its batch axis
    first, an unbatched one an axis of 1 there; the host function reads the leading axes
    beyond the problem's (:func:`_vmapped`). It has no derivative rules: the derivatives are
    the ``jax.custom_jvp`` and ``jax.lax.custom_linear_solve`` around it.

    It is built on JAX's extension modules (``jax.extend.core``, ``jax.interpreters``), which
    change between JAX versions. Where they cannot make it, this returns None and warns once:
    :func:`_host_callback` then calls ``jax.pure_callback`` itself (the same values; outside
    ``jit``, memory grows by the compiled callback of every call)."""
    global _HOST_P
    with _HOST_P_LOCK:
        if _HOST_P is None:
            try:
                _HOST_P = _make_host_primitive()
            except Exception as exc:  # noqa: BLE001 - any drift of JAX's internal API
                _HOST_P = False
                from ._warnings import warn

                warn(f"kantorovich could not register its JAX host primitive on this JAX "
                     f"version ({type(exc).__name__}: {exc}); the solvers' host calls go "
                     f"through jax.pure_callback instead: the same values, but each call "
                     f"outside jax.jit keeps its compiled callback in JAX's caches "
                     f"(docs/gradients.md, JAX).", RuntimeWarning)
    return _HOST_P or None


def _make_host_primitive():
    """:func:`_host_primitive`, made and registered with JAX (once)."""
    import jax
    import jax.numpy as jnp
    from jax.interpreters import ad, batching, mlir

    try:
        from jax.extend.core import Primitive
    except ImportError:  # older JAX
        from jax.core import Primitive

    ShapedArray = jax.core.ShapedArray  # noqa: N806 - looked up now: a JAX without it fails here
    prim = Primitive("kantorovich_host")
    prim.multiple_results = True

    def impl(*args, fn, avals):
        outs = fn(*(np.asarray(v) for v in args))
        # where the operands were put (as a dispatched computation's outputs), else the
        # default device
        dev = next((v.sharding for v in args if isinstance(v, jax.Array)
                    and getattr(v, "committed", getattr(v, "_committed", False))
                    and len(v.devices()) == 1), None)
        outs = [np.asarray(o, dtype=dt).reshape(shape) for o, (shape, dt) in zip(outs, avals)]
        return [jnp.asarray(o) if dev is None else jax.device_put(o, dev) for o in outs]

    def abstract(*args, fn, avals):
        return [ShapedArray(shape, dt) for shape, dt in avals]

    def batch(args, dims, *, fn, avals):
        size = next(v.shape[d] for v, d in zip(args, dims) if d is not None)
        args = [jax.lax.expand_dims(v, (0,)) if d is None else jnp.moveaxis(v, d, 0)
                for v, d in zip(args, dims)]
        avals = tuple(((size, *shape), dt) for shape, dt in avals)
        return prim.bind(*args, fn=fn, avals=avals), [0] * len(avals)

    def lower(*args, fn, avals):
        specs = [jax.ShapeDtypeStruct(shape, dt) for shape, dt in avals]
        return jax.pure_callback(fn, specs, *args, vmap_method="expand_dims")

    def jvp(primals, tangents, **params):
        _no_second_derivative(primals, tangents)

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract)
    batching.primitive_batchers[prim] = batch
    ad.primitive_jvps[prim] = jvp
    mlir.register_lowering(prim, mlir.lower_fun(lower, multiple_results=True))
    try:  # as jax.pure_callback's (its lowering may need the devices)
        from jax._src import dispatch

        dispatch.prim_requires_devices_during_lowering.add(prim)
    except (ImportError, AttributeError):
        pass
    return prim


def _host_callback(fn: Callable, specs, *operands) -> Any:
    """``jax.pure_callback(fn, specs, *operands, vmap_method="expand_dims")``, through
    :func:`_host_primitive`: called now outside ``jit`` (nothing compiled or cached per call),
    a callback under it. ``fn`` returns a tuple of arrays when ``specs`` is a tuple, else one."""
    single = not isinstance(specs, (tuple, list))
    sp = (specs,) if single else tuple(specs)
    avals = tuple((tuple(s.shape), np.dtype(s.dtype)) for s in sp)
    host = (lambda *v: (fn(*v),)) if single else (lambda *v: tuple(fn(*v)))
    prim = _host_primitive()
    if prim is None:  # a JAX whose extension API could not make the primitive
        import jax

        outs = jax.pure_callback(host, tuple(jax.ShapeDtypeStruct(s, dt) for s, dt in avals),
                                 *operands, vmap_method="expand_dims")
    else:
        outs = prim.bind(*operands, fn=host, avals=avals)
    return outs[0] if single else tuple(outs)


def _per_problem(f: Callable, ndims: tuple[int, ...], specs) -> Callable:
    """``f`` as the host side of a :func:`_host_callback` (``vmap_method="expand_dims"``),
    run problem after problem on a batch (as ``vmap_method="sequential"``, whose loop would be
    a ``scan`` over a new jaxpr per call, compiled anew outside ``jit``): ``ndims`` are the
    operands' dimensions per problem, ``specs`` one result spec or a tuple of them."""
    single = not isinstance(specs, tuple)
    sp = (specs,) if single else specs

    def host(*v):
        out = f(*v)
        return ((out,) if single else tuple(out)), None

    def run(*w):
        if np.ndim(w[0]) == ndims[0]:  # one problem
            outs = _vmapped(host, False, ndims, sp, w)
            return outs[0] if single else outs
        warns: list = []

        def gathering(*v):  # problem after problem, each one's warnings kept for the batch's
            out, got = _gathering(host, *v)
            warns.append(got)
            return out

        outs = _vmapped(gathering, False, ndims, sp, w)
        for message in _batch_warnings(warns):
            _warn_at_caller(message, ConvergenceWarning)
        return outs[0] if single else outs

    return run


def _lazy_dot(tangent: Callable, cotangent: Callable, ts: list, operands: tuple) -> Any:
    """The scalar <g, t> for the tangents ``ts`` (a list of arrays), as a linear map JAX can
    run forward and transpose, with the gradient g computed on the host only when asked.

    ``tangent(*operands, *ts)`` gives <g, t> (forward mode), ``cotangent(*operands, c)`` gives
    c g as one array per tangent (reverse mode). Written with ``jax.lax.custom_linear_solve``,
    JAX's public construct for a linear map whose transpose is a given function: its ``solve``
    is the map (t -> <g, t> stored in the first entry of the first array, zeros elsewhere) and
    its ``transpose_solve`` the transpose; the identity ``matvec`` is never inverted. So under
    ``jax.grad`` the gradient of an output the loss does not use is never computed (its
    transpose never runs); ``jnp`` operations on g instead would need g before JAX knows.
    Under ``jax.vmap`` both run problem after problem (:func:`_per_problem`)."""
    import jax
    import jax.numpy as jnp

    def solve(_, b):
        spec = jax.ShapeDtypeStruct((), b[0].dtype)
        ndims = tuple(np.ndim(v) for v in (*operands, *b))
        s = _host_callback(_per_problem(tangent, ndims, spec), spec, *operands, *b)
        first = jnp.zeros(b[0].size, b[0].dtype).at[0].set(s).reshape(b[0].shape)
        return (first, *(jnp.zeros_like(t) for t in b[1:]))

    def transpose_solve(_, c):
        specs = tuple(jax.ShapeDtypeStruct(t.shape, t.dtype) for t in c)
        ct = c[0].ravel()[0]
        ndims = tuple(np.ndim(v) for v in (*operands, ct))
        return _host_callback(_per_problem(cotangent, ndims, specs), specs, *operands, ct)

    out = jax.lax.custom_linear_solve(lambda v: v, tuple(ts), solve, transpose_solve)
    return out[0].ravel()[0]


def _vmap_batchable(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict) -> bool:
    """Whether ``jax.vmap`` over calls of ``fn`` may run as one batched call (docs/batch.md):
    the functions that take a batch and differentiate it problem by problem, on named costs
    (a callable cost takes no batch) and, for ``sliced_wasserstein``, points in d >= 1
    dimensions given as (n, d) (a batch of 1-D samples (B, n) would read as B points)."""
    if fn.__name__ not in _BATCH_GRADIENTS:
        return False
    if fn.__name__ == "sliced_wasserstein":
        return all(np.ndim(_param(sig, args, kwargs, k)) == 2 for k in ("x", "y"))
    return not any(getattr(_param(sig, args, kwargs, k), "cost_is_callable", False)
                   for k in rule.params)


def _vmapped(host: Callable, batchable: bool, ndims: tuple[int, ...], specs, vals) -> tuple:
    """The host side of a :func:`_host_callback` (``vmap_method="expand_dims"``): ``vals``
    with k leading axes more than the problem's (``ndims``; k = 0 outside ``jax.vmap``; an
    axis of 1 where an argument is not mapped) are the problems of a batch: solved as one
    batch when ``batchable``, else one after the other (as ``vmap_method="sequential"``).
    The outputs get the batch's leading axes."""
    k = np.ndim(vals[0]) - ndims[0]
    if k == 0:
        return host(*vals)[0]
    lead = np.broadcast_shapes(*(np.shape(v)[:k] for v in vals))
    nb = int(np.prod(lead))
    flat = [np.broadcast_to(np.asarray(v), lead + np.shape(v)[k:]).reshape((nb,) + np.shape(v)[k:])
            for v in vals]
    if batchable and nb > 0:
        outs = host(*flat, nb=nb)[0]
    else:
        each = [host(*(v[q] for v in flat))[0] for q in range(nb)]
        outs = tuple(np.stack([e[i] for e in each]) if each else np.zeros((0,) + sp.shape, sp.dtype)
                     for i, sp in enumerate(specs))
    return tuple(np.asarray(o, dtype=sp.dtype).reshape(lead + sp.shape) for o, sp in zip(outs, specs))


def _jax_batch_call(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict, c) -> Any:
    """:func:`call` for a batch of problems (a leading batch axis) holding JAX tracers:
    ``jax.vmap`` of the single call over the problems, which JAX runs as one batched solve
    (:func:`_vmapped`); each problem is differentiated by the single rule. The batched data
    (a batched PointCloud's x and y, weights (B, n), costs (B, n, m), points (B, n, d)) is
    mapped over its first axis, the rest (weights (n,), options) is the same for every
    problem. Returns the (B,) values, or a :class:`TracedResult` of the (B,) differentiable
    fields (the other fields are not traced: call without the transformation for them)."""
    import jax

    from .ot._geometry import PointCloud

    mapped: list[tuple[str, str | None, Any]] = []  # (parameter, key in its PointCloud, data)
    for pname in rule.params:
        v = _param(sig, args, kwargs, pname)
        if isinstance(v, PointCloud) and v.batch_size is not None:
            mapped += [(pname, k, v._leaves.get(k, getattr(v, k))) for k in ("x", "y")]
        elif v is not None and not hasattr(v, "kind") and np.ndim(v) == (2 if pname in ("a", "b") else 3):
            mapped.append((pname, None, v))

    sizes = {(key or pname): int(np.shape(data)[0]) for pname, key, data in mapped}
    if len(set(sizes.values())) > 1 or 0 in sizes.values():  # (jax.vmap's error names none)
        raise ValueError(
            "a batch of problems needs the same number B >= 1 of problems in every batched "
            "argument; got " + ", ".join(f"B = {b} in `{k}`" for k, b in sizes.items()) + ".")

    def one(*vals):
        ba = sig.bind(*args, **kwargs)
        clouds: dict[str, dict] = {}
        for (pname, key, _), v in zip(mapped, vals):
            if key is None:
                _set_param(ba, pname, v)
            else:
                clouds.setdefault(pname, {})[key] = v
        for pname, xy in clouds.items():
            geom = _param(sig, args, kwargs, pname)
            one_pc = PointCloud(xy["x"], xy["y"], cost=geom.p, dtype=geom.dtype)
            _set_param(ba, pname, one_pc.to_device("cuda") if geom.on_gpu else one_pc)
        out = call(fn, ba.args, ba.kwargs, c)
        return out if rule.fields == (None,) else tuple(getattr(out, f) for f in rule.fields)

    outs = jax.vmap(one)(*(data for _, _, data in mapped))
    if rule.fields == (None,):
        return outs
    return TracedResult(fn.__name__, dict(zip(rule.fields, outs)))


def _jax_call(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict, c,
              leaves: dict[str, tuple]) -> Any:
    """:func:`call` for JAX tracers: the OT values as outputs of one ``jax.custom_jvp``.

    The solve runs on the host, the same :func:`_forward` as torch's and autograd's: called
    directly when JAX hands concrete arrays (``jax.grad`` or ``jax.jvp`` outside ``jit``: the
    result then has all its fields), through :func:`_host_callback` when it hands tracers
    (``jit``, where it is a ``jax.pure_callback``; under ``vmap`` one batched solve,
    :func:`_vmapped`). The JVP rule is
    <d value / d leaf, tangent> summed over the leaves, with the gradient from the same
    :meth:`_Node.vjp` as torch's, computed lazily (:func:`_lazy_dot`): JAX transposes it for
    reverse mode, so one rule gives ``jax.grad`` and ``jax.jvp``."""
    import jax
    import jax.numpy as jnp
    from jax.custom_derivatives import SymbolicZero

    from ._interop import kind_of

    names = tuple(leaves)
    fields = rule.fields
    # a batch without a gradient rule (wasserstein_1d's leading axes): its values are
    # computed, under jit and vmap too; only a derivative of them is the error
    no_grad = rule.batched({p: _param(sig, args, kwargs, p) for p in rule.params})
    odt = np.dtype(c.dtype) if c.dtype is not None else np.dtype(np.float64)
    shape = rule.out_shape({p: _param(sig, args, kwargs, p) for p in rule.params}) if no_grad else ()
    out_specs = tuple(jax.ShapeDtypeStruct(shape, odt) for _ in fields)
    tok_spec = jax.ShapeDtypeStruct((), np.int32)
    eager: dict[str, Any] = {}

    def solve(vals, grad_names, nb=None):  # on the host, JAX's other arrays too (wherever they live)
        """The forward pass on the leaves' values ``vals``; with ``nb``, on a batch of nb
        problems (each leaf (nb, ...), the other data the same for every problem), then
        (the result, each problem's nodes)."""
        ba = sig.bind(*args, **kwargs)
        host = lambda w: _jax_host(w) if kind_of(w) == "jax" and not is_tracer(w) else w
        for pname, v in list(ba.arguments.items()):
            if pname == "kwargs" and isinstance(v, dict):
                ba.arguments[pname] = {k: host(w) for k, w in v.items()}
            else:
                ba.arguments[pname] = host(v)
        geoms: dict[str, dict] = {}
        for nm, v in zip(names, vals):
            pname, key, _ = leaves[nm]
            if key is None:
                _set_param(ba, pname, _jax_host(v))
            else:
                geoms.setdefault(pname, {})[key] = _jax_host(v)
        for pname, d in geoms.items():
            _set_param(ba, pname, _rebuild(_param(sig, args, kwargs, pname), d, nb))
        if nb is None:
            return _forward(fn, rule, sig, ba.args, ba.kwargs, grad_names)
        traced = {leaves[nm][0] for nm in names}
        for pname in rule.params:  # the untraced problem data: the same for every problem
            v = _param(sig, ba.args, ba.kwargs, pname)
            if pname not in traced and pname not in ("a", "b") and v is not None:
                _set_param(ba, pname, _rebuild(v, {}, nb) if hasattr(v, "kind")
                           else np.broadcast_to(np.asarray(v), (nb,) + np.shape(v)))
        return _forward_problems(fn, rule, sig, ba.args, ba.kwargs, grad_names)

    def values(out, warn=False):
        """The differentiable outputs in the output dtype; with ``warn`` (under jit or vmap,
        where no wrap_result follows), those that overflow float32 named, as it names them."""
        wide = [np.asarray(out if f is None else getattr(out, f)) for f in fields]
        with np.errstate(over="ignore"):
            outs = tuple(np.asarray(w, dtype=odt) for w in wide)
        if warn:
            from ._interop import _warn_overflow

            over = [f or "result" for f, w, o in zip(fields, wide, outs)
                    if np.any(np.isinf(o) & np.isfinite(w))]
            if over:
                _warn_overflow(over)
        return outs

    def primal_host(*vals, nb=None, warn=False):
        out, _ = solve(vals, (), nb)
        return values(out, warn), out

    def fwd_host(need, *vals, nb=None, warn=False):
        out, nodes = solve(vals, need, nb)
        if nb is None:
            return (*values(out, warn), np.int32(_SAVED.put(nodes))), out
        return (*values(out, warn), np.asarray(_SAVED.put_group(nodes), dtype=np.int32)), out

    batchable = _vmap_batchable(fn, rule, sig, args, kwargs)

    def run(host, specs, *xs):
        if any(is_tracer(v) for v in xs):
            ndims = tuple(np.ndim(v) for v in xs)  # per problem: jax.vmap hides its axes
            traced_host = functools.partial(host, warn=True)  # no wrap_result follows
            cb = jax.custom_jvp(lambda *v: _host_callback(
                lambda *w: _vmapped(traced_host, batchable, ndims, specs, w), specs, *v))
            cb.defjvp(_no_second_derivative)
            return cb(*xs)
        outs, obj = host(*xs)
        if obj is not None:
            eager["out"] = obj
        return tuple(jax.device_put(np.asarray(o)) for o in outs)  # (a jax.Array, not a literal)

    # a call whose solve draws from a random state (sliced_wasserstein with a Generator or
    # None) cannot be solved again identically: its nodes are read, not taken (a pullback
    # may run twice), and one evicted is an error rather than another draw's gradient
    replayable = rule.replayable(lambda p: _param(sig, args, kwargs, p))

    def derivatives(field, need):  # the host functions of one output's JVP and its transpose
        def node(lookup, tok, vals):
            got = lookup(int(tok), field)
            if got is not None:
                return got
            if not replayable:
                raise RuntimeError(
                    f"the gradient of {fn.__name__} needs the random directions of its forward "
                    f"pass, which are no longer kept (more than {_SAVED.size} forward passes "
                    "ran before this backward pass), and a Generator (or rng=None) would draw "
                    "other ones: pass an int seed as `rng`, or differentiate sooner.")
            return solve(vals, need)[1][field]  # evicted: solved again, the same answer

        def tangent(tok, *rest):
            vals, ts = rest[:len(names)], rest[len(names):]
            g = node(_SAVED.get, tok, vals).vjp(1.0, set(need))
            t = sum(float(np.vdot(np.ravel(g[nm]), np.ravel(np.asarray(tt, dtype=np.float64))))
                    for nm, tt in zip(need, ts))
            return np.asarray(t, dtype=np.dtype(ts[0].dtype))

        def cotangent(tok, *rest):
            vals, ct = rest[:len(names)], rest[-1]
            shapes = dict(zip(names, (np.shape(v) for v in vals)))
            dts = dict(zip(names, (np.dtype(v.dtype) for v in vals)))
            if float(ct) == 0.0:  # an output the loss does not use: its gradient is not computed
                return tuple(np.zeros(shapes[nm], dts[nm]) for nm in need)
            g = node(_SAVED.take if replayable else _SAVED.get, tok, vals).vjp(ct, set(need))
            return tuple(np.reshape(g[nm], shapes[nm]).astype(dts[nm]) for nm in need)

        return tangent, cotangent

    @jax.custom_jvp
    def ot_value(*xs):
        return run(primal_host, out_specs, *xs)

    def ot_value_jvp(primals, tangents):
        if no_grad:
            raise NotImplementedError(no_grad)
        live = [k for k, t in enumerate(tangents) if not isinstance(t, SymbolicZero)]
        need = tuple(names[k] for k in live)
        ts = [tangents[k] for k in live]
        traced = any(is_tracer(v) for v in primals)
        if traced:  # under jit or vmap: the solve runs in a callback, its nodes saved by token
            *outs, tok = run(lambda *v, **kw: fwd_host(need, *v, **kw), (*out_specs, tok_spec), *primals)
        else:  # concrete arrays: the solve runs now
            out, nodes = solve(primals, need)
            eager["out"] = out
            # device_put, not jnp.asarray: jax.value_and_grad would hand back the latter as a
            # constant literal (TypedNdArray, no block_until_ready), not a jax.Array
            outs = [jax.device_put(v) for v in values(out)]
            tok = np.int32(_SAVED.put({f: nodes[f] for f in rule.implicit})) if rule.implicit else None
        touts = []
        for f in fields:
            if traced or f in rule.implicit:  # the gradient computed only when a mode asks
                t = _lazy_dot(*derivatives(f, need), ts, (tok, *primals))
            else:  # a pass over the solver's answer: computed now (a callback costs more)
                g = nodes[f].vjp(1.0, set(need))
                t = sum(jnp.vdot(jnp.asarray(g[nm], dtype=tt.dtype).ravel(), tt.ravel())
                        for nm, tt in zip(need, ts))
            touts.append(jnp.asarray(t).astype(odt))
        return tuple(outs), tuple(touts)

    ot_value.defjvp(ot_value_jvp, symbolic_zeros=True)
    outs = ot_value(*(t for _, _, t in leaves.values()))
    changes = dict(zip(fields, outs))
    if None in changes:
        return changes[None]
    if "out" in eager:
        from ._interop import wrap_result

        return dataclasses.replace(wrap_result(eager["out"], c), **changes)
    return TracedResult(fn.__name__, changes)


# ----------------------------------------------------------------------------- entry point
#: functions that take a leading batch axis (docs/batch.md); those in _BATCH_GRADIENTS (all,
#: today) differentiate it problem by problem
_BATCHED = ("sinkhorn", "sinkhorn_divergence", "emd", "sliced_wasserstein")


def _has_tracer(v: Any) -> bool:
    """A JAX tracer, or a geometry built from one."""
    return is_tracer(v) or any(is_tracer(t) for t in (getattr(v, "_leaves", None) or {}).values())


def _param(sig, args: tuple, kwargs: dict, pname: str) -> Any:
    """The argument of ``pname`` in a call (None when not given; keyword catch-alls searched)."""
    orig = sig.bind(*args, **kwargs).arguments
    v = orig.get(pname)
    if v is None and pname in orig.get("kwargs", {}):
        v = orig["kwargs"][pname]
    return v


def _set_param(ba, pname: str, v: Any) -> None:
    if pname in ba.arguments:
        ba.arguments[pname] = v
    else:
        ba.arguments["kwargs"][pname] = v


def _leaves(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict) -> dict[str, tuple[str, str | None, Any]]:
    """The differentiable inputs of a call, by leaf name ("a", "x", "M" ...): (parameter, key in
    the geometry given there or None, the input). A JAX tracer elsewhere is a TypeError."""
    leaves: dict[str, tuple[str, str | None, Any]] = {}
    for pname in rule.params:
        v = _param(sig, args, kwargs, pname)
        geo = getattr(v, "_leaves", None)
        if geo is not None and not isinstance(v, (np.ndarray,)) and hasattr(v, "kind"):
            for k, t in geo.items():
                if differentiable(t):
                    leaves[k if v.kind == "pointcloud" else rule.alias.get(pname, pname)] = (pname, k, t)
        elif differentiable(v):
            leaves[rule.alias.get(pname, pname)] = (pname, None, v)
    for pname, v in sig.bind(*args, **kwargs).arguments.items():
        for k, w in (v.items() if pname == "kwargs" and isinstance(v, dict) else ((pname, v),)):
            if k in rule.params:
                continue
            only = (f"{fn.__name__} is differentiable in "
                    f"{', '.join(f'`{p}`' for p in rule.params)} only")
            if _has_tracer(w):
                raise TypeError(
                    f"`{k}` is a JAX tracer (inside jax.grad, jit or vmap), but {only}; pass "
                    f"`{k}` as a concrete value (docs/gradients.md).")
            # a torch tensor that requires grad (or carries a tangent) or an autograd box where
            # no gradient is computed (`eps`, `p`): treated as a constant, its derivative would
            # be silently dropped (torch: `.grad` None; autograd: 0, and a wrong total
            # derivative when it also enters a differentiable argument). A warm start is
            # exempt: the optimum does not depend on it, so its derivative is 0 indeed.
            if k not in _CONSTANT_ARGS and differentiable(w) and not is_tracer(w):
                what = ("an autograd ArrayBox (autograd differentiates it)" if is_box(w) else
                        "a torch tensor that requires grad (or carries a forward-mode tangent)")
                fix = "a plain number" if is_box(w) else f"`{k}.detach()` or a number"
                raise TypeError(
                    f"`{k}` is {what}, but {only}: its derivative would be silently dropped; "
                    f"pass {fix} (docs/gradients.md).")
    return leaves


#: arguments that may carry gradients and are taken as constants: the warm starts of the
#: potentials, on which the optimum (hence every differentiable output) does not depend
_CONSTANT_ARGS = ("f0", "g0")


def _run_plain(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict):
    """``fn`` once on plain data (autograd boxes unwrapped, the caller's arrays as numpy / CuPy
    views): (its result, the result as ``fn`` returns it, the bound arguments, the rule's
    state)."""
    from ._interop import to_kernel

    kargs = tuple(to_kernel(value_of(a)) for a in args)
    kkw = {k: to_kernel(value_of(v)) for k, v in kwargs.items()}
    ba = sig.bind(*kargs, **kkw)
    ba.apply_defaults()
    state = rule.prepare(ba.arguments)
    res = fn(*ba.args, **ba.kwargs)
    return res, rule.finish(res, state), dict(ba.arguments), state


def _forward(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict,
             names: tuple[str, ...]) -> tuple[Any, dict[str | None, _Node]]:
    """The forward pass shared by the torch, autograd and JAX wrappers: ``fn`` once on plain
    data (autograd boxes unwrapped, the caller's arrays as numpy / CuPy views), and the
    gradient node of each differentiable output for the leaves ``names`` (none when empty).
    Returns (the result as ``fn`` returns it, {field: node}); field None is a bare value."""
    res, out, arguments, state = _run_plain(fn, rule, sig, args, kwargs)
    if not names:
        return out, {}
    fields, warn = rule.grads(res, arguments, state, set(names))
    once: list = []  # one warning for the solve, whichever outputs are differentiated
    return out, {f: _Node(res if f is None else getattr(res, f), names, g, warn, once)
                 for f, g in fields.items()}


# ----------------------------------------------------------------------------- batches
#: batched functions whose outputs (B,) have gradients: per problem, by the single rule
_BATCH_GRADIENTS = ("sinkhorn", "sinkhorn_divergence", "emd", "sliced_wasserstein")


class _BatchNode(_Node):
    """A (B,) output of a batch of independent problems. Its unit gradients are stacked per
    problem, ``G[k][q] = d value_q / d leaf_q``; a leaf shared by the problems (weights of
    shape (n,) beside a (B, n, d) cloud) gets ``sum_q gbar_q G[k][q]``, a batched leaf
    ``gbar_q G[k][q]`` in its row q."""

    def __init__(self, value, names, grads, warn, shared: dict[str, bool],
                 once: list | None = None):
        super().__init__(value, names, grads, warn, once)
        self._shared = shared

    def contract(self, xp: Any, G: Any, t: Any, k: str) -> Any:
        """Problem q's derivative along the tangent ``t``, ``<G[q], t[q]>`` for a batched
        leaf, ``<G[q], t>`` for a shared one: the (B,) tangent of the output."""
        nb = np.shape(G)[0]
        rows = (nb, *np.shape(t)[1:]) if not self._shared[k] else (nb, *np.shape(t))
        return xp.sum(xp.reshape(xp.reshape(G, rows) * t, (nb, -1)), 1)

    def vjp(self, gbar: Any, need: set[str]) -> dict[str, Any]:
        self._fill(need)
        out = {}
        for k in need:
            G = self._cache[k]
            xp = xp_of(G)
            g = xp.asarray(np.asarray(gbar, dtype=np.float64).reshape(-1)
                           if not type(gbar).__module__.startswith("cupy") else gbar)
            if self._shared[k]:
                out[k] = xp.tensordot(g, G, axes=1)
            else:
                out[k] = g.reshape((-1,) + (1,) * (G.ndim - 1)) * G
        return out


def _problem_arg(v: Any, q: int, nb: int) -> Any:
    """Problem ``q``'s share of a batched argument: a batched PointCloud's pair, a (B, ...)
    array's row (weights (B, n), costs (B, n, m)); anything else (None, shared weights (n,),
    options) as it is."""
    from .ot._geometry import PointCloud

    if isinstance(v, PointCloud) and v.batch_size is not None:
        return v.problem(q)
    if getattr(v, "ndim", 0) >= 2 and v.shape[0] == nb:
        return v[q]
    return v


def _problem_result(res: Any, q: int) -> Any:
    """Problem ``q`` of a batched SinkhornResult, SinkhornDivergenceResult or EMDResult, as
    the single solver would have returned it (the fields the gradient rules read)."""
    from ._results import EMDResult

    if isinstance(res, np.ndarray):  # a function returning the bare (B,) values
        return float(res[q])
    if isinstance(res, EMDResult):
        f, g = res.f[q], res.g[q]
        return dataclasses.replace(
            res, value=float(res.value[q]), plan=res.plan[q], f=f, g=g,
            duality_gap=float(res.duality_gap[q]), certified=bool(res.certified[q]),
            info={"n": f.shape[0], "m": g.shape[0]})
    if hasattr(res, "ot_ab"):
        return dataclasses.replace(
            res, value=float(res.value[q]), ot_ab=_problem_result(res.ot_ab, q),
            ot_aa=_problem_result(res.ot_aa, q), ot_bb=_problem_result(res.ot_bb, q),
            converged=bool(np.asarray(res.converged)[q]))
    return dataclasses.replace(
        res, value=float(res.value[q]), objective=float(res.objective[q]), f=res.f[q],
        g=res.g[q], converged=bool(np.asarray(res.converged)[q]),
        n_iter=int(np.asarray(res.n_iter)[q]),
        marginal_error=float(np.asarray(res.marginal_error)[q]))


def _batch_len(res: Any) -> int:
    """B of a batch result (or of the bare (B,) values)."""
    return int(np.shape(res if isinstance(res, np.ndarray) else res.value)[0])


def _problem_grads(rule: _Rule, res: Any, arguments: dict, state: Any, names: tuple[str, ...]):
    """The single rule's gradient functions of each problem of a batch result: (B, whether
    each leaf is shared by the problems, [(fields, warn) of problem q])."""
    nb = _batch_len(res)
    # weights of shape (n,) are shared by the problems; the points and costs are batched
    shared = {k: k in ("a", "b") and getattr(arguments[k], "ndim", 1) == 1 for k in names}
    per_q = [{p: _problem_arg(v, q, nb) if p in rule.params else v
              for p, v in arguments.items()} for q in range(nb)]
    fields_q = [rule.grads(_problem_result(res, q), per_q[q], rule.problem_state(state, q),
                           set(names)) for q in range(nb)]
    return nb, shared, fields_q


def _forward_batch(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict,
                   names: tuple[str, ...]) -> tuple[Any, dict[str | None, _Node]]:
    """:func:`_forward` for a batch: ``fn`` once on the whole batch; the gradient of each
    output's entry q is the single rule's gradient of problem q, computed when the backward
    pass asks (a loop over problems, each O(n + m) memory for a point cloud)."""
    res, out, arguments, state = _run_plain(fn, rule, sig, args, kwargs)
    if not names:
        return out, {}
    _, shared, fields_q = _problem_grads(rule, res, arguments, state, names)
    warn = _batch_warning([w for _, w in fields_q])

    def field_grads(field):
        def grads(need):  # the problems' warnings (the implicit solve's): one for the batch
            parts, warns = zip(*(_gathering(fq[field], need) for fq, _ in fields_q))
            for message in _batch_warnings(warns):
                _warn_at_caller(message, ConvergenceWarning)
            out = {}
            for k in need:
                xp = xp_of(parts[0][k])
                out[k] = xp.stack([xp.asarray(_arr64(pt[k])) for pt in parts])
            return out
        return grads

    fields = fields_q[0][0]
    once: list = []  # one warning for the batch's solve, whichever outputs are differentiated
    return out, {f: _BatchNode(res if f is None else getattr(res, f), names, field_grads(f),
                               warn, shared, once) for f in fields}


def _forward_problems(fn: Callable, rule: _Rule, sig, args: tuple, kwargs: dict,
                      names: tuple[str, ...]) -> tuple[Any, list[dict[str | None, _Node]]]:
    """:func:`_forward` for a batch whose problems are differentiated one by one (the JAX
    callbacks of ``jax.vmap``): ``fn`` once on the whole batch, and problem q's nodes, as
    :func:`_forward` would have made them for problem q alone."""
    res, out, arguments, state = _run_plain(fn, rule, sig, args, kwargs)
    if not names:
        return out, [{} for _ in range(_batch_len(res))]
    _, _, fields_q = _problem_grads(rule, res, arguments, state, names)
    value = res if isinstance(res, np.ndarray) else None
    onces: list[list] = [[] for _ in fields_q]  # one warning per problem's solve
    return out, [{f: _Node(value[q] if f is None else getattr(res, f)[q], names, g, warn, onces[q])
                  for f, g in fields.items()} for q, (fields, warn) in enumerate(fields_q)]


def call(fn: Callable, args: tuple, kwargs: dict, c) -> Any:
    """Run ``fn`` with differentiable outputs (see the module docstring), or return
    ``NotImplemented`` when ``fn`` has no gradient rule and no ``autograd`` box or JAX tracer
    is involved (the caller then runs the ordinary, detached path)."""
    from ._interop import wrap_result

    rule = _RULES.get(getattr(fn, "__name__", ""))
    if rule is None or not getattr(fn, "__module__", "").startswith("kantorovich.ot"):
        try:
            params = tuple(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            params = ()
        names = tuple(params[i] if i < len(params) else f"argument {i}"
                      for i in range(len(args))) + tuple(kwargs)
        for name, v in zip(names, (*args, *kwargs.values())):
            if _traced(v):
                jax_ = _has_tracer(v)
                raise TypeError(
                    f"{getattr(fn, '__name__', 'this function')} has no gradient: it was called "
                    f"with {'a JAX tracer' if jax_ else 'an autograd ArrayBox'} as `{name}`"
                    + (" (inside jax.grad, jit or vmap: it runs on concrete arrays, outside JAX; "
                       "call it outside the transformation)" if jax_ else "")
                    + ". Differentiable are sinkhorn (value, objective), "
                    "sinkhorn_divergence, emd, wasserstein, wasserstein_1d(_plan) and "
                    "sliced_wasserstein (see docs/gradients.md).")
        return NotImplemented
    from .ot._geometry import batch_size_of

    batch = fn.__name__ in _BATCHED and any(batch_size_of(v) is not None
                                            for v in (*args, *kwargs.values()))
    if batch and fn.__name__ not in _BATCH_GRADIENTS:
        raise NotImplementedError(
            f"{fn.__name__}: gradients of a batch of problems (a leading batch axis) are not "
            "implemented; call it once per problem for gradients (docs/batch.md).")
    sig = inspect.signature(fn)
    leaves = _leaves(fn, rule, sig, args, kwargs)
    if any(is_tracer(t) for _, _, t in leaves.values()):
        if batch:
            return _jax_batch_call(fn, rule, sig, args, kwargs, c)
        return _jax_call(fn, rule, sig, args, kwargs, c, leaves)
    out, nodes = (_forward_batch if batch else _forward)(fn, rule, sig, args, kwargs,
                                                          tuple(leaves))
    out = wrap_result(out, c)
    if not leaves:
        return out
    objs = tuple(t for _, _, t in leaves.values())
    consts = _torch_constants(rule, sig, args, kwargs) if not any(is_box(t) for t in objs) else ()
    changes = {f: _attach(node, objs, c, consts) for f, node in nodes.items()}
    if None in changes:  # the function returns the bare value
        return changes[None]
    return dataclasses.replace(out, **changes)


class _Rule:
    """What one function needs: its differentiable parameters, its differentiable outputs
    (``fields``: result attributes, or None for a function returning the bare value), a
    pre-call hook, and the gradient functions of its outputs."""

    params: tuple[str, ...] = ()
    fields: tuple[str | None, ...] = ("value",)
    alias: ClassVar[dict[str, str]] = {}
    #: outputs whose gradient costs a linear solve (implicit differentiation): outside jit,
    #: JAX computes them only for the outputs the loss uses (:func:`_jax_call`)
    implicit: tuple[str | None, ...] = ()

    def prepare(self, args: dict) -> Any:
        return None

    def finish(self, res, state):
        return res

    def problem_state(self, state: Any, q: int) -> Any:
        """The state of problem ``q`` of a batch, from the batch's :meth:`prepare` state."""
        return state

    def batched(self, args: dict) -> str | None:
        """Why the outputs are not scalars (no gradient), or None."""
        return None

    def out_shape(self, args: dict) -> tuple[int, ...]:
        """The outputs' shape where :meth:`batched` says they are not scalars."""
        return ()

    def replayable(self, arg: Callable[[str], Any]) -> bool:
        """Whether the call, given its arguments (``arg(name)``), can be solved again with the
        same answer (no random state drawn from)."""
        return True

    def grads(self, res, args: dict, state, leaves: set[str]):
        raise NotImplementedError


# ----------------------------------------------------------------------------- shared maths
def _weights(w: Any, size: int, name: str, like: Any = None) -> Any:
    """The weights ``w`` (uniform for None, on the device of ``like``) in float64, validated."""
    from ._array_api import like as on_device_of
    from ._validation import check_weights

    if w is None:
        u = np.full(size, 1.0 / size)
        return u if like is None else on_device_of(u, like)
    return check_weights(_arr64(w), name, n=size)


def _centred(f: np.ndarray) -> np.ndarray:
    """The projection of a potential on the tangent of the simplex (sum zero), as POT's
    ``emd2`` returns its weight gradients: the value changes by <f, da> for every da of total
    zero, and a constant added to f changes nothing there."""
    return f - f.mean()


def _normalised(f: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The exact derivative of V(w / sum w) given dV/d(w/sum w) = f: (f - <w/sum w, f>) / sum w."""
    s = float(w.sum())
    return (f - float(xp_of(w).dot(w / s, f))) / s


def _tight_at_zero_weights(f, g, a, b, C):
    """The exact LP's potentials (f, g) with those of zero weights replaced by their
    c-transforms over the other side's positive weights: f_i = min_{j: b_j > 0} C_ij - g_j
    where a_i = 0, then g_j = min_{i: a_i > 0} C_ij - f_i where b_j = 0.

    A zero weight leaves its potential free below that bound (any such f_i is optimal, and the
    network simplex returns one of them), but the one-sided derivative of the LP value in
    a_i at 0+ (docs/gradients.md) is the bound itself: the cheapest way to serve mass added
    at x_i given the other side's prices, which are those of the positive weights (mass
    cannot be sent to a point of weight 0). ``a``, ``b`` None are uniform; ``C`` is the
    LP's cost matrix, an array or a callable giving it (called only when a weight is 0)."""
    xp = xp_of(f)
    za = None if a is None else _arr64(a) == 0
    zb = None if b is None else _arr64(b) == 0
    if not ((za is not None and bool(za.any())) or (zb is not None and bool(zb.any()))):
        return f, g
    C = _arr64(C() if callable(C) else C)
    f, g = xp.array(f, copy=True), xp.array(g, copy=True)
    pa = xp.ones(f.shape[0], dtype=bool) if za is None else ~za
    pb = xp.ones(g.shape[0], dtype=bool) if zb is None else ~zb
    if za is not None and bool(za.any()) and bool(pb.any()):
        f[za] = (C[za][:, pb] - g[pb][None, :]).min(axis=1)
    if zb is not None and bool(zb.any()) and bool(pa.any()):
        g[zb] = (C[pa][:, zb] - f[pa][:, None]).min(axis=0)
    return f, g


def _lp_costs(M: Any) -> Any:
    """The dense costs ``emd`` solved for its argument ``M``: the array, a DenseGeometry's
    matrix or a PointCloud's (materialised, as emd materialised it)."""
    if hasattr(M, "_matrix"):
        return M._matrix()
    return M


def _cost_coef(sq: np.ndarray, p: float) -> np.ndarray:
    """d|t|^p/dt = coef * t with coef = p |t|^(p-2) (0 where t = 0 and p < 2: a subgradient),
    from ``sq = |t|^2`` (:func:`kantorovich.ot._costs.grad_coef`)."""
    from .ot._costs import grad_coef

    return grad_coef(sq, p)


def _blocked_cost_grads(x, y, p, plan_rows, need_x=True, need_y=True, block=1 << 20):
    """sum_j P_ij d c(x_i, y_j)/dx_i and sum_i P_ij d c(x_i, y_j)/dy_j for c = |x - y|^p, by
    blocks of rows of about ``block`` pairs (numpy, or CuPy on the GPU), with
    ``plan_rows(i0, i1, sq)`` the rows i0:i1 of the plan P (``sq``: their squared distances)."""
    xp = xp_of(x)
    n, d = x.shape
    m = y.shape[0]
    gx = xp.zeros((n, d)) if need_x else None
    gy = xp.zeros((m, d)) if need_y else None
    step = max(1, block // max(1, m * d))
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        diff = x[i0:i1, None, :] - y[None, :, :]
        sq = xp.einsum("ijk,ijk->ij", diff, diff)
        P = plan_rows(i0, i1, sq)
        W = P * _cost_coef(sq, p)
        terms = [(W, diff)]
        low = sq <= _TINY if p < 2.0 else None  # coincident, or closer than 2^-511
        if low is not None and bool(low.any()):  # the latter's terms apart (:func:`_tiny_factor`)
            tiny = low & xp.any(diff != 0.0, axis=2)
            if bool(tiny.any()):
                up = xp.ldexp(xp.where(tiny[..., None], diff, 0.0), 600)
                k, _ = _tiny_factor(xp, up, p)
                terms = [(xp.where(tiny, 0.0, W), diff), (xp.where(tiny, P * k, 0.0), up)]
        if need_x:
            gx[i0:i1] = sum(xp.einsum("ij,ijk->ik", w, v) for w, v in terms)
        if need_y:
            for w, v in terms:
                gy -= xp.einsum("ij,ijk->jk", w, v)
    return gx, gy


#: the smallest normal float64, 2^-1022: a squared distance below it has lost digits (or is 0)
_TINY = float(np.finfo(np.float64).tiny)


#: a coordinate of a pair closer than 2^-511 is below this in magnitude: two distinct float64
#: of which one is at least 2^-457 in magnitude differ by at least 2^-510
_SMALL = 2.0 ** -457


def _tiny_factor(xp, up, p, shift=600):
    """For differences ``t = 2^-shift up`` (..., d) closer than 2^-511 (``shift`` 600; the GPU
    pass's float32 differences below 2^-50 take 100), p < 2: (``k``, ``C``) with
    ``k up = p |t|^(p-1) t / |t|``, the gradient of ``|t|^p`` (a unit vector for p = 1), and
    ``C = |t|^p``, computed at the scale 2^shift where nothing under- or overflows; ``k`` is 0
    at t = 0 (the subgradient). Its power of two is clamped at 2^1000 before the division by
    ``|up|`` (p < 1 near the smallest distances, where the gradient passes float64's range)."""
    r = xp.sqrt(xp.sum(up * up, axis=-1))
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = xp.log2(r) - float(shift)  # log2 |t|
        k = xp.where(r > 0, xp.exp2(xp.minimum(math.log2(p) + (p - 1.0) * lr, 1000.0)) / r, 0.0)
        C = xp.where(r > 0, xp.exp2(p * lr), 0.0)
    return k, C


def _candidate_pairs(small_r, small_c, n: int, m: int):
    """Index arrays ``(i, j)`` of the pairs that a close pair must be among: the rows
    ``small_r`` against every column, and every other row against the columns ``small_c``;
    by blocks of about 2^16 pairs (O(n + m) memory), each pair once."""
    rest = np.setdiff1d(np.arange(n), small_r)
    cols = np.arange(m)

    def blocks(rows, cs):
        step = max(1, (1 << 16) // max(1, cs.size))
        for r0 in range(0, rows.size, step):
            rs = rows[r0:r0 + step]
            yield np.repeat(rs, cs.size), np.tile(cs, rs.size)

    for i, j in itertools.chain(blocks(small_r, cols), blocks(rest, small_c)):
        if i.size:
            yield i, j


def _tiny_pair_grads(x, y, p, weight, gx, gy):
    """Add to ``gx``, ``gy`` (None: not needed) the terms of the pairs closer than 2^-511 that
    the numba passes leave out for p < 2 (there ``|x_i - y_j|^2 <= 2^-1022`` loses digits or
    underflows, and a unit vector for p = 1 became 0): ``weight(i, j, C)`` dV/dC_ij of the pairs
    (i, j) (index arrays) at their costs C, times the cost's gradient (:func:`_tiny_factor`).
    Such a pair has a coordinate below 2^-457 in magnitude that is not 0 (``_SMALL``): only the
    rows and columns with one are searched, so this is O((n + m) d) where there are none."""
    if p >= 2.0 or (np.abs(x).min() >= _SMALL and np.abs(y).min() >= _SMALL):
        return
    small_x = np.flatnonzero(np.any((x != 0.0) & (np.abs(x) < _SMALL), axis=1))
    small_y = np.flatnonzero(np.any((y != 0.0) & (np.abs(y) < _SMALL), axis=1))
    if not small_x.size and not small_y.size:
        return
    for i, j in _candidate_pairs(small_x, small_y, x.shape[0], y.shape[0]):
        diff = x[i] - y[j]
        sq = np.einsum("ij,ij->i", diff, diff)
        keep = (sq <= _TINY) & np.any(diff != 0.0, axis=1)
        if not keep.any():
            continue
        i, j = i[keep], j[keep]
        up = np.ldexp(diff[keep], 600)
        k, C = _tiny_factor(np, up, p)
        # the terms w k up = w p |t|^(p-1) t/|t|; where k is beyond float64 (p < 1) the
        # coordinates that are 0 add 0, not inf * 0
        terms = np.where(up != 0.0, (weight(i, j, C) * k)[:, None] * up, 0.0)
        if gx is not None:
            np.add.at(gx, i, terms)
        if gy is not None:
            np.add.at(gy, j, -terms)


def _dense_cost_grads(x, y, P, p, need_x=True, need_y=True):
    """:func:`_blocked_cost_grads` for a plan P given as a dense (n, m) array, computed on the
    points rescaled to unit scale where they are far from it (:func:`_unit_exponent`)."""
    k = _unit_exponent(x, y, p)
    if k:
        xp = xp_of(x)
        x, y = xp.ldexp(x, -k), xp.ldexp(y, -k)
    gx, gy = _blocked_cost_grads(x, y, p, lambda i0, i1, sq: P[i0:i1], need_x, need_y)
    return _ldexp_real(gx, k * (p - 1.0)), _ldexp_real(gy, k * (p - 1.0))


def _unit_exponent(x, y, p) -> int:
    """The power of two k that brings the points x, y to unit scale (their largest |coordinate|
    2**k), or 0 near unit scale (|k| max(p, 1) <= 100: left alone, bit for bit).

    The gradient of |x - y|^p, ``p |x - y|^(p-2) (x - y)``, is formed from |x - y|^2, which
    underflows below |x - y| ~ 1e-154 and overflows above 1e154: there it gave 0 (p < 2) where
    the gradient is finite (a unit vector for p = 1), and the Sinkhorn passes' plan
    ``exp((f + g - C)/eps)`` took potentials below -1e299 for zero weights. At unit scale
    neither happens; c(s x, s y) = s^p c(x, y) and its gradient is s^(p-1) the unit one, so
    the plan, the potentials (with eps: all times s^p) and the gradients scale back exactly
    or to rounding."""
    from ._validation import pow2_exponent

    return pow2_exponent(_host64(x) if hasattr(x, "get") else x,
                         _host64(y) if hasattr(y, "get") else y, p=max(float(p), 1.0))


def _ldexp_real(v, e: float):
    """``v * 2**e`` for a real exponent e (numpy or CuPy; None stays None): ``ldexp`` by the
    integer part, exact, and one rounding for the fraction (:func:`_times_pow2` goes through
    logarithms, for exponents beyond float64's)."""
    if v is None or e == 0:
        return v
    xp = xp_of(v)
    ei = math.floor(e)
    if e != ei:
        v = v * 2.0 ** (e - ei)
    return xp.ldexp(v, ei)


def _shifted(f, w, eps):
    """``f + eps log w``, zero weights as -1e300 (finite for fastmath; their plan entries are 0).
    Only the zero weights: a positive weight's entry is kept below -1e300 too, where the costs
    and eps are of that order (clamped, it changed the plan's rows)."""
    xp = xp_of(f)
    with np.errstate(divide="ignore", invalid="ignore"):
        return xp.where(w > 0, f + eps * xp.log(w), -1e300)


def _pc_plan(fa, gb, eps, p):
    """``(cost, plan)`` of a point cloud by array operations (numpy, or CuPy on the GPU):
    ``cost(sq)`` the costs |x - y|^p from squared distances, ``plan(i0, i1, C)`` the rows i0:i1
    of the entropic plan given their costs, with ``fa = f + eps log a``, ``gb = g + eps log b``."""
    xp = xp_of(fa)

    def cost(sq):
        return sq if p == 2.0 else xp.sqrt(sq) if p == 1.0 else sq ** (p / 2.0)

    def plan(i0, i1, C):
        return xp.exp(xp.minimum((fa[i0:i1, None] + gb[None, :] - C) / eps, _EXP_CLIP))

    return cost, plan


def _pointcloud_grads_device(x, y, fa, gb, eps, p, need_x, need_y):
    """:func:`pointcloud_grads` for CuPy data, on its GPU: one fused kernel pass per side
    (:mod:`.ot._kernels.grad_cupy`), in float32 for float32 points (float64 sums) and float64
    otherwise; O(n + m) memory, nothing copied to the host. ``fa = f + eps log a``,
    ``gb = g + eps log b`` (float64). On numpy data the same host logic runs with the numpy
    model of the kernel (for the tests)."""
    from .ot._kernels import grad_cupy

    if type(x).__module__.split(".")[0] == "cupy":
        return grad_cupy.envelope_grads(x, y, fa, gb, eps, p, need_x, need_y)
    return grad_cupy.envelope_grads(x, y, fa, gb, eps, p, need_x, need_y, xp=np,
                                    kernels=grad_cupy.NumpyGradKernels)


def _pc_kernel():
    """The numba pass of :func:`pointcloud_grads` (:mod:`.ot._kernels.grad_numba`)."""
    from .ot._kernels import grad_numba

    return grad_numba.grad_envelope


def _check_reciprocal_eps(eps) -> None:
    """The point-cloud gradient passes take 1/eps, which overflows below 1/finfo.max =
    5.56e-309 (a subnormal eps, which the numpy solver accepts): a ValueError rather than
    gradients computed with an infinite 1/eps."""
    if not math.isfinite(1.0 / float(eps)):
        raise ValueError(
            f"the gradient of a point-cloud Sinkhorn value at `eps`={float(eps)!r}: its passes "
            "take 1/eps, which overflows float64 below 5.56e-309; multiply the points' costs "
            "and eps by a common power of two (the potentials and the value scale with them).")


def pointcloud_grads(x, y, a, b, f, g, eps, p, *, need_x=True, need_y=True):
    """Gradients of a point-cloud OT_eps with respect to the points, O(n + m) memory.

    With the entropic plan ``P_ij = a_i b_j exp((f_i + g_j - C_ij)/eps)`` and
    ``C_ij = |x_i - y_j|^p``::

        dOT/dx_i =  sum_j P_ij p |x_i - y_j|^(p-2) (x_i - y_j)
        dOT/dy_j = -sum_i P_ij p |x_i - y_j|^(p-2) (x_i - y_j)

    (for p = 2: ``2 (a_i x_i - sum_j P_ij y_j)`` when the rows of P sum to a). One pass over
    the n x m pairs, recomputing C_ij and P_ij on the fly (numba, rows in parallel; both
    sides from one exponential per pair when both are needed); nothing n x m is stored.
    Returns ``(gx, gy)`` (None where not needed). CuPy data stays on its GPU
    (:func:`_pointcloud_grads_device`): the gradients come back there.
    """
    if type(x).__module__.split(".")[0] == "cupy":
        xp = xp_of(x)
        # the points keep float32 (the float32 kernel); the potentials and weights are float64
        real = np.float32 if x.dtype == np.float32 and y.dtype == np.float32 else np.float64
        x, y = (xp.asarray(t).astype(real, copy=False) for t in (x, y))
        a, b, f, g = (xp.asarray(_arr64(t)) for t in (a, b, f, g))
        fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
        return _pointcloud_grads_device(x, y, fa, gb, float(eps), float(p), need_x, need_y)
    x = np.ascontiguousarray(_host64(x))
    y = np.ascontiguousarray(_host64(y))
    a, b, f, g = (_host64(t) for t in (a, b, f, g))
    k = _unit_exponent(x, y, p)
    if k:  # far from unit scale: the same plan at unit scale (docs/gradients.md, "Scale")
        x, y = np.ldexp(x, -k), np.ldexp(y, -k)
        f, g, eps = (_ldexp_real(t, -k * p) for t in (f, g, np.float64(eps)))
        gx, gy = pointcloud_grads(x, y, a, b, f, g, eps, p, need_x=need_x, need_y=need_y)
        return _ldexp_real(gx, k * (p - 1.0)), _ldexp_real(gy, k * (p - 1.0))
    _check_reciprocal_eps(eps)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    k = _pc_kernel()
    chunks = lambda n: max(1, min(n, 64))  # row chunks: one buffer of m each, split over threads
    gx = gy = None
    if need_x and need_y and _xy_chunks(x.shape[0], y.size):
        return _pointcloud_grads_xy(x, y, fa, gb, eps, p)  # both from one exp per pair
    if need_x:
        gx = np.zeros(x.shape)
        k(x, np.ascontiguousarray(y.T), fa, gb, 1.0 / float(eps), float(p), gx, chunks(x.shape[0]))
    if need_y:
        gy = np.zeros(y.shape)
        k(y, np.ascontiguousarray(x.T), gb, fa, 1.0 / float(eps), float(p), gy, chunks(y.shape[0]))
    _tiny_envelope_terms(x, y, fa, gb, eps, p, gx, gy)
    return gx, gy


def _tiny_envelope_terms(x, y, fa, gb, eps, p, gx, gy):
    """The envelope terms of the pairs closer than 2^-511 (p < 2), which the numba passes
    leave out (:func:`_tiny_pair_grads`), added to ``gx``, ``gy``."""
    _tiny_pair_grads(x, y, float(p), lambda i, j, C: np.exp(
        np.minimum((fa[i] + gb[j] - C) / eps, _EXP_CLIP)), gx, gy)


# the fused passes' column sums: one (d, m) array per chunk of rows (one (m,) array for the
# implicit solve's products), at most this many bytes in all (beyond, m d > 2^19 at 16 chunks,
# the two single-side passes run: O(n + m) memory)
_XY_PARTS_BYTES = 1 << 26


def _xy_chunks(n: int, md: int) -> int:
    """The fused passes' chunks of rows for ``md`` column sums each (m d for the envelope
    gradients, m for the implicit solve's products ``grad_numba.products``): 64 (the single-side
    pass's parallelism) where their sums fit in ``_XY_PARTS_BYTES``, else 16, else 0 (the two
    single-side passes run); fewer rows, one each. A function of the sizes only, not of numba's
    thread count, so that the column sums, and the bits of the gradient in y, do not depend
    on it."""
    for count in (64, 16):
        if count * md * 8 <= _XY_PARTS_BYTES:
            return max(1, min(n, count))
    return 0


def _pointcloud_grads_xy(x, y, fa, gb, eps, p):
    """Both gradients of :func:`pointcloud_grads` in one numba pass over the pairs
    (``grad_numba.grad_envelope_xy``): the rows' sums as the x pass makes them, the columns'
    sums per chunk of rows (:func:`_xy_chunks`: 64 or 16, O(m d) memory, at most
    ``_XY_PARTS_BYTES``) added up at the end in chunk order. One exponential per pair instead
    of two; the same terms as the two single-side passes, summed in another order."""
    from .ot._kernels import grad_numba

    n, d = x.shape
    m = y.shape[0]
    gx = np.zeros((n, d))
    parts = np.zeros((_xy_chunks(n, m * d), d, m))
    grad_numba.grad_envelope_xy(x, np.ascontiguousarray(y.T), fa, gb, 1.0 / float(eps), float(p),
                                gx, parts)
    gy = np.ascontiguousarray(parts.sum(axis=0).T)
    _tiny_envelope_terms(x, y, fa, gb, eps, p, gx, gy)
    return gx, gy


# ----------------------------------------------------------------------------- implicit
def _rows_kernels():
    """The numba passes of the implicit gradient (:mod:`.ot._kernels.grad_numba`)."""
    from .ot._kernels import grad_numba

    return grad_numba.rowsums, grad_numba.grad_implicit


def _pcg(apply, rhs, diag, tol, max_iter):
    """Jacobi-preconditioned conjugate gradients for a symmetric positive semi-definite system
    with a consistent right-hand side; returns (solution, relative residual, converged) and
    records the number of steps in ``_pcg.last_iter``. numpy, or CuPy on the GPU."""
    xp = xp_of(rhs)
    # a subnormal diagonal entry (a weight below 2^-1022) is left out like a zero one: its
    # reciprocal overflows; its multiplier comes from _substituted_multipliers
    tiny = float(np.finfo(np.float64).tiny)
    inv = xp.where(diag >= tiny, 1.0 / xp.where(diag >= tiny, diag, 1.0), 0.0)
    z = xp.zeros_like(rhs)
    res = rhs.copy()
    nrm0 = float(xp.linalg.norm(rhs))
    if nrm0 == 0.0:
        return z, 0.0, True
    s = inv * res
    d = s.copy()
    rs = float(res @ s)
    rel = 1.0
    for it in range(1, max_iter + 1):
        _pcg.last_iter = it
        Ad = apply(d)
        dAd = float(d @ Ad)
        if not dAd > 0.0:
            break
        alpha = rs / dAd
        z += alpha * d
        res -= alpha * Ad
        rel = float(xp.linalg.norm(res)) / nrm0
        if rel < tol:
            return z, rel, True
        s = inv * res
        rs_new = float(res @ s)
        d = s + (rs_new / rs) * d
        rs = rs_new
    return z, rel, rel < tol


#: relative residual and iteration cap of the implicit solve behind sinkhorn(...).value
IMPLICIT_TOL = 1e-12
IMPLICIT_MAX_ITER = 2000
#: the Gauss-Seidel sweeps that follow it (the multipliers of tiny and zero weights) stop when
#: a sweep changes no multiplier by more than this much of the largest mean row cost. The solve
#: at a residual of 1e-12 leaves the multipliers 2e-12 to 5e-12 off in that measure (measured:
#: n = 200 to 2000, eps = 0.02 to 0.5), which a sweep reduces only at the Sinkhorn iteration's
#: rate (0.8 to 0.9 a sweep there): the sweeps stop once only that error moves them, after one
#: sweep without tiny weights, two where they resolve some
IMPLICIT_SWEEP_TOL = 1e-10
IMPLICIT_MAX_SWEEPS = 50


def sinkhorn_value_grads(geom, a, b, f, g, eps, need, names=None):
    """Gradients of the entropic transport cost V = <P, C> (``sinkhorn(...).value``) by implicit
    differentiation of the Sinkhorn fixed point (O(n + m) memory for a point cloud).

    The potentials solve ``P 1 = a``, ``P^T 1 = b`` with ``P_ij = a_i b_j exp((f_i + g_j - C_ij)/eps)``.
    With the multipliers ``(lam, mu)`` of these constraints, the solution of the (n + m)
    positive semi-definite system (null vector (1, -1))::

        diag(P 1) lam + P mu    = (P o C) 1
        P^T lam + diag(P^T 1) mu = (P o C)^T 1

    the adjoint method gives::

        dV/da = lam,   dV/db = mu,   dV/dC_ij = P_ij (1 + (lam_i + mu_j - C_ij)/eps),

    and the point gradients through dC/dx; a zero weight's multiplier, which the system leaves
    undetermined, is its one-sided limit (:func:`_substituted_multipliers`). Solved by
    Jacobi-preconditioned conjugate gradients, one pass over the pairs per iteration for a point
    cloud on the CPU (both products with the plan from one exponential per pair,
    :func:`_online_system`; docs/gradients.md, "Cost", measures it), then Gauss-Seidel sweeps
    for the tiny and zero weights (two passes each).
    CuPy data is solved on its GPU (:func:`_implicit_device` for a point cloud).
    Returns (dict of gradients, relative residual, converged).
    """
    names = names or {k: k for k in ("a", "b", "M", "x", "y")}
    data = geom.x if geom.kind == "pointcloud" else geom.C
    xp = xp_of(data)
    f, g, a, b = (xp.asarray(_arr64(t)) for t in (f, g, a, b))
    out = {}
    if geom.kind == "pointcloud" and xp is not np:
        return _implicit_device(geom, a, b, f, g, float(eps), need, names)
    k = _unit_exponent(geom.x, geom.y, geom.p) if geom.kind == "pointcloud" else 0
    if k:  # far from unit scale: the same system at unit scale, where the multipliers (in
        # units of the costs) are 2^(-kp) times these and the point gradients 2^(-k(p-1))
        p = float(geom.p)
        unit = geom._like(np.ldexp(_host64(geom.x), -k), np.ldexp(_host64(geom.y), -k))
        f, g, eps1 = (_ldexp_real(t, -k * p) for t in (f, g, np.float64(eps)))
        out, rel, ok = sinkhorn_value_grads(unit, a, b, f, g, eps1, need, names)
        back = {names["a"]: k * p, names["b"]: k * p, names["x"]: k * (p - 1.0),
                names["y"]: k * (p - 1.0)}
        return {key: _ldexp_real(v, back[key]) for key, v in out.items()}, rel, ok
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    if geom.kind == "pointcloud":
        x = np.ascontiguousarray(_host64(geom.x))
        y = np.ascontiguousarray(_host64(geom.y))
        xT, yT = np.ascontiguousarray(x.T), np.ascontiguousarray(y.T)
        _, gradk = _rows_kernels()
        n, m = x.shape[0], y.shape[0]
        _check_reciprocal_eps(eps)
        p, ie = float(geom.p), 1.0 / float(eps)
        C = None
    else:
        C = _arr64(geom.C)
        n, m = C.shape
    if xp is np and 0 < n * m <= IMPLICIT_DENSE_MAX_ENTRIES:
        # a small problem: the solve and the sweeps in one compiled call on the plan and costs
        # held as matrices (~30 conjugate-gradient steps of numpy operations, or of numba passes
        # recomputing the plan, took 0.6-0.7 ms at 64 x 64; docs/gradients.md)
        from .ot._kernels.grad_numba import implicit_dense, pc_cost_matrix

        if C is None:
            C = pc_cost_matrix(x, yT, p, np.empty((n, m)))
        lam, mu, rel, ok, rel_sweep, P = implicit_dense(
            np.ascontiguousarray(C), a, b, f, g, fa, gb, float(eps), IMPLICIT_TOL, IMPLICIT_MAX_ITER, IMPLICIT_SWEEP_TOL, IMPLICIT_MAX_SWEEPS,
            _EXP_CLIP)
    else:
        if C is None:
            system = _online_system(x, y, xT, yT, fa, gb, ie, p)
        else:
            *system, P = _dense_system(C, a, b, f, g, eps)
        ra, rb, r, s, prods, kernel_rows, kernel_cols = system
        lam, mu, rel, ok = _implicit_solve(ra, rb, r, s, prods)
        lam, mu, rel_sweep = _substituted_multipliers(f, g, lam, mu, kernel_rows, kernel_cols)
    if rel_sweep > IMPLICIT_SWEEP_TOL:
        rel, ok = rel_sweep, False
    if names["a"] in need:
        out[names["a"]] = _centred(lam)
    if names["b"] in need:
        out[names["b"]] = _centred(mu)
    if geom.kind == "pointcloud":
        gx = gy = None
        if names["x"] in need:
            gx = np.zeros(x.shape)
            gradk(x, yT, fa, gb, ie, p, lam, mu, gx)
            out[names["x"]] = gx
        if names["y"] in need:
            gy = np.zeros(y.shape)
            gradk(y, xT, gb, fa, ie, p, mu, lam, gy)
            out[names["y"]] = gy
        # the pairs closer than 2^-511 (p < 2), which the passes leave out
        _tiny_pair_grads(x, y, p, lambda i, j, C: np.exp(
            np.minimum((fa[i] + gb[j] - C) * ie, _EXP_CLIP)) * (1.0 + (lam[i] + mu[j] - C) * ie),
            gx, gy)
    elif names["M"] in need:
        out[names["M"]] = P * (1.0 + (lam[:, None] + mu[None, :] - C) / eps)
    return out, rel, ok


#: point clouds of at most this many pairs hold their plan and costs as matrices in the
#: implicit solve (1 MB each)
IMPLICIT_DENSE_MAX_ENTRIES = 1 << 16


def _online_system(x, y, xT, yT, fa, gb, ie, p):
    """:func:`_dense_system` for a point cloud whose plan is recomputed by numba passes over
    the pairs (O(n + m) memory): the sums, the products with P and P^T and the sweeps'
    kernels (``kernel_rows(fz, v)``: the rows' sums with ``fa = fz``).

    The products of a conjugate-gradient step, ``(P v, P^T u)``, are one pass
    (``grad_numba.products``, one exponential per pair): ``P v`` by rows, ``P^T u`` summed per
    fixed chunk of rows (:func:`_xy_chunks` with one sum per column: 64, or 16 beyond
    ``_XY_PARTS_BYTES``) and the chunks added in their order, so that the bits do not depend
    on numba's thread count. Beyond 16 chunks' budget (m > 2^19) the two single-side passes
    run (twice the exponentials, O(n + m) memory)."""
    from .ot._kernels import grad_numba

    sums, _ = _rows_kernels()
    n, m = x.shape[0], y.shape[0]
    n_chunks = _xy_chunks(n, m)

    def kernel_rows(fz, v):
        s0, s1, s2 = np.zeros(n), np.zeros(n), np.zeros(n)
        sums(x, yT, fz, gb, ie, p, v, s0, s1, s2, min(n, 64))
        return s0, s1, s2

    def kernel_cols(gz, u):
        s0, s1, s2 = np.zeros(m), np.zeros(m), np.zeros(m)
        sums(y, xT, gz, fa, ie, p, u, s0, s1, s2, min(m, 64))
        return s0, s1, s2

    def products(v, u):
        if not n_chunks:
            return kernel_rows(fa, v)[1], kernel_cols(gb, u)[1]
        pv, parts = np.zeros(n), np.zeros((n_chunks, m))
        grad_numba.products(x, yT, fa, gb, ie, p, v, u, pv, parts)
        return pv, parts.sum(axis=0)

    ra, _, r = kernel_rows(fa, np.zeros(m))
    rb, _, s = kernel_cols(gb, np.zeros(n))
    return ra, rb, r, s, products, kernel_rows, kernel_cols


def _dense_system(C, a, b, f, g, eps):
    """The implicit system's sums and products for a dense cost ``C``: (row and column sums of
    P and of P o C, ``(v, u) -> (P v, P^T u)``, ``kernel_rows``, ``kernel_cols`` of
    :func:`_substituted_multipliers`, the plan P). numpy, or CuPy on the GPU."""
    xp = xp_of(C)
    P = _dense_plan(C, a, b, f, g, eps)
    PC = P * C
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)

    def kernel_rows(fz, v):
        K = xp.exp(xp.minimum((fz[:, None] + gb[None, :] - C) / eps, _EXP_CLIP))
        return K.sum(1), K @ v, (K * C).sum(1)

    def kernel_cols(gz, u):
        K = xp.exp(xp.minimum((fa[:, None] + gz[None, :] - C) / eps, _EXP_CLIP))
        return K.sum(0), K.T @ u, (K * C).sum(0)

    return (P.sum(1), P.sum(0), PC.sum(1), PC.sum(0), lambda v, u: (P @ v, P.T @ u),
            kernel_rows, kernel_cols, P)


def _substituted_multipliers(f, g, lam, mu, kernel_rows, kernel_cols):
    """Gauss-Seidel sweeps of the implicit system after the conjugate-gradient solve: each
    multiplier of a row recomputed from the columns', then each of a column from the rows',
    until a sweep changes none by more than ``IMPLICIT_SWEEP_TOL`` of the largest mean row cost
    (at most ``IMPLICIT_MAX_SWEEPS``; a sweep does not increase the error in the system's
    energy norm). Returns (lam, mu, the last sweep's relative change).

    Row i of the system reads a_i lam_i = sum_j P_ij (C_ij - mu_j) (with P 1 = a), i.e.
    ``lam_i = sum_j Q_ij (C_ij - mu_j)`` with the row's conditional plan
    ``Q_ij = P_ij / a_i = b_j exp((f_i + g_j - C_ij)/eps)``, a probability whatever a_i (f_i
    is the soft c-transform of g). The solve's stopping test weighs the residual of row i by
    a_i: for a tiny weight (1e-20) it stops before lam_i is resolved, and a zero weight's row
    is empty (P_ij = 0, its equation 0 = 0, lam_i left at 0). The formula resolves both: at
    a_i = 0 it gives the one-sided derivative, the limit a_i -> 0+ (Q, mu and the other
    multipliers are continuous down to 0, row i entering the rest of the system only through
    P_ij = a_i Q_ij; the solver's f_i at a zero weight is that c-transform). The columns
    likewise: ``mu_j = sum_i Q'_ij (C_ij - lam_i)``, ``Q'_ij = a_i exp((f_i + g_j - C_ij)/eps)``.
    On a problem without tiny weights the first sweep changes the multipliers by the solve's
    error only, and is the last.

    ``kernel_rows(fz, v)`` returns the row sums (sum_j K_ij, sum_j K_ij v_j, sum_j K_ij C_ij)
    of ``K_ij = exp((fz_i + g_j + eps log b_j - C_ij)/eps)``; ``kernel_cols(gz, u)`` the
    column sums of ``exp((f_i + eps log a_i + gz_j - C_ij)/eps)``. The sums are divided by
    sum_j K_ij, so that a rounding of f_i cancels. numpy, or CuPy on the GPU.
    """
    xp = xp_of(lam)
    for _ in range(IMPLICIT_MAX_SWEEPS):
        s0, s1, s2 = kernel_rows(f, mu)
        ok = s0 > 0
        new = xp.where(ok, (s2 - s1) / xp.where(ok, s0, 1.0), lam)
        change = float(xp.max(xp.abs(new - lam)))
        lam = new
        t0, t1, t2 = kernel_cols(g, lam)
        ok = t0 > 0
        new = xp.where(ok, (t2 - t1) / xp.where(ok, t0, 1.0), mu)
        change = max(change, float(xp.max(xp.abs(new - mu))))
        mu = new
        # a change is a residual of the system divided by its weight; relative to the largest
        # mean cost of a row (the right-hand side divided by the weights)
        rel = change / max(float(xp.max(xp.abs(s2 / xp.where(s0 > 0, s0, 1.0)))), 1e-300)
        if rel <= IMPLICIT_SWEEP_TOL:
            break
    return lam, mu, rel


def _implicit_solve(ra, rb, r, s, products):
    """The multipliers (lam, mu) of the implicit system, given the plan's row and column sums
    ``ra``, ``rb``, those of P o C, ``r``, ``s``, and ``products(v, u) = (P v, P^T u)`` (both
    at once: a point cloud's come from one pass over the pairs); returns (lam, mu, relative
    residual, converged)."""
    xp = xp_of(ra)
    n = ra.shape[0]

    def apply(z):
        lam, mu = z[:n], z[n:]
        pmu, ptlam = products(mu, lam)
        return xp.concatenate([ra * lam + pmu, ptlam + rb * mu])

    # the system is linear in its right-hand side, of the order of the costs: solved for it
    # divided by its power of two, so that the norms and dot products of conjugate gradients
    # (squares of the costs) neither overflow (costs near 1e300) nor underflow; exact
    rhs = xp.concatenate([r, s])
    k = _pow2_of(np.array([float(xp.max(xp.abs(rhs)))]))  # (one number read: the GPU's stays)
    z, rel, ok = _pcg(apply, xp.ldexp(rhs, -k), xp.concatenate([ra, rb]), IMPLICIT_TOL,
                      IMPLICIT_MAX_ITER)
    z = xp.ldexp(z, k)
    return z[:n], z[n:], rel, ok


def _implicit_device(geom, a, b, f, g, eps, need, names, block=1 << 24):
    """:func:`sinkhorn_value_grads` for a point cloud on the GPU (CuPy; numpy runs the same
    code): the plan's rows recomputed by blocks of about ``block`` pairs with array operations,
    for its sums, its products in the conjugate-gradient steps and the point gradients;
    nothing copied to the host, O(block + n + m) memory."""
    xp = xp_of(geom.x)
    x, y = xp.asarray(_arr64(geom.x)), xp.asarray(_arr64(geom.y))
    p = float(geom.p)
    fa, gb = _shifted(f, a, eps), _shifted(g, b, eps)
    n, m = x.shape[0], y.shape[0]
    step = max(1, block // max(1, m * x.shape[1]))
    cost, plan = _pc_plan(fa, gb, eps, p)

    def blocks():  # (rows, the plan's rows, their costs)
        for i0 in range(0, n, step):
            i1 = min(n, i0 + step)
            diff = x[i0:i1, None, :] - y[None, :, :]
            C = cost(xp.einsum("ijk,ijk->ij", diff, diff))
            yield slice(i0, i1), plan(i0, i1, C), C

    ra, rb, r, s = xp.zeros(n), xp.zeros(m), xp.zeros(n), xp.zeros(m)
    for rows, P, C in blocks():
        PC = P * C
        ra[rows], r[rows] = P.sum(1), PC.sum(1)
        rb += P.sum(0)
        s += PC.sum(0)

    def matvec(v):
        out = xp.zeros(n)
        for rows, P, _ in blocks():
            out[rows] = P @ v
        return out

    def rmatvec(u):
        out = xp.zeros(m)
        for rows, P, _ in blocks():
            out += P.T @ u[rows]
        return out

    lam, mu, rel, ok = _implicit_solve(ra, rb, r, s, lambda v, u: (matvec(v), rmatvec(u)))

    def kernel_rows(fz, v):
        _, rows_z = _pc_plan(fz, gb, eps, p)
        s0, s1, s2 = xp.zeros(n), xp.zeros(n), xp.zeros(n)
        for rows, _, C in blocks():
            K = rows_z(rows.start, rows.stop, C)
            s0[rows], s1[rows], s2[rows] = K.sum(1), K @ v, (K * C).sum(1)
        return s0, s1, s2

    def kernel_cols(gz, u):
        _, rows_z = _pc_plan(fa, gz, eps, p)
        s0, s1, s2 = xp.zeros(m), xp.zeros(m), xp.zeros(m)
        for rows, _, C in blocks():
            K = rows_z(rows.start, rows.stop, C)
            s0 += K.sum(0)
            s1 += K.T @ u[rows]
            s2 += (K * C).sum(0)
        return s0, s1, s2

    lam, mu, rel_sweep = _substituted_multipliers(f, g, lam, mu, kernel_rows, kernel_cols)
    if rel_sweep > IMPLICIT_SWEEP_TOL:
        rel, ok = rel_sweep, False
    out = {}
    if names["a"] in need:
        out[names["a"]] = _centred(lam)
    if names["b"] in need:
        out[names["b"]] = _centred(mu)
    nx, ny = names["x"] in need, names["y"] in need
    if nx or ny:
        def rows_of(i0, i1, sq):
            C = cost(sq)
            return plan(i0, i1, C) * (1.0 + (lam[i0:i1, None] + mu[None, :] - C) / eps)

        gx, gy = _blocked_cost_grads(x, y, p, rows_of, nx, ny, block)
        if nx:
            out[names["x"]] = gx
        if ny:
            out[names["y"]] = gy
    return out, rel, ok


# ----------------------------------------------------------------------------- sinkhorn
def _warn_implicit(rel: float) -> None:
    message = (
        f"the implicit solve for the gradient of the entropic transport cost <P, C> stopped at a "
        f"relative residual of {rel:.3g} (> {IMPLICIT_TOL:g} after at most {IMPLICIT_MAX_ITER} "
        f"conjugate-gradient steps, or > {IMPLICIT_SWEEP_TOL:g} after {IMPLICIT_MAX_SWEEPS} "
        "Gauss-Seidel sweeps); the gradient is approximate. A larger `eps` conditions it better; sinkhorn(...).objective and "
        "sinkhorn_divergence need no solve.")
    if not _gather("implicit", message):  # a problem of a batch: one warning for the batch
        _warn_at_caller(message, ConvergenceWarning)


def _unconverged(name: str, r) -> str:
    last = float(r.marginal_error)  # the error of the pair the unconverged solve returned
    return (f"the gradient of {name} comes from the potentials, which are optimal only at "
            f"convergence, and this solve did not converge (marginal error {last:.3g} > `tol`"
            f"={r.info.get('tol', float('nan')):g}); increase `max_iter` (or `eps`) until "
            "converged=True.")


def _sinkhorn_parts(a, b, geom_arg):
    """(geometry kind, cost data, a, b as the solver uses them: b rescaled to a's mass)."""
    from .ot._geometry import PointCloud, as_geometry

    geom = geom_arg if isinstance(geom_arg, PointCloud) else as_geometry(geom_arg)
    n, m = geom.shape
    ref = geom.x if geom.kind == "pointcloud" else geom.C
    aw = _weights(a, n, "a", ref)
    bw = _weights(b, m, "b", ref)
    bw = bw * (aw.sum() / bw.sum())
    return geom, aw, bw


def _dense_plan(C, a, b, f, g, eps):
    """The entropic plan of a dense cost, where C is (numpy, or CuPy on its GPU)."""
    xp = xp_of(C)
    a, b, f, g = (xp.asarray(_arr64(t)) for t in (a, b, f, g))
    e = xp.minimum((f[:, None] + g[None, :] - _arr64(C)) / eps, _EXP_CLIP)
    return a[:, None] * b[None, :] * xp.exp(e)


def _ot_eps_grads(geom, a, b, r, leaves, names):
    """Unit gradients of one OT_eps (a SinkhornResult r) for the leaves in ``leaves``;
    ``names`` maps the roles ("a", "b", "M", "x", "y") to leaf names."""
    out = {}
    f, g = _arr64(r.f), _arr64(r.g)
    if names.get("a") in leaves:
        out[names["a"]] = _centred(f)
    if names.get("b") in leaves:
        out[names["b"]] = _centred(g)
    if geom.kind == "pointcloud":
        nx, ny = names.get("x") in leaves, names.get("y") in leaves
        if nx or ny:
            gx, gy = pointcloud_grads(geom.x, geom.y, a, b, f, g, r.eps, geom.p, need_x=nx, need_y=ny)
            if nx:
                out[names["x"]] = gx
            if ny:
                out[names["y"]] = gy
    elif names.get("M") in leaves:
        out[names["M"]] = _dense_plan(geom.C, a, b, f, g, r.eps)
    return out


class _Sinkhorn(_Rule):
    params = ("a", "b", "M_or_geometry")
    fields = ("objective", "value")
    implicit = ("value",)
    alias: ClassVar[dict[str, str]] = {"M_or_geometry": "M"}

    def grads(self, res, args, state, leaves):
        roles = {"a": "a", "b": "b", "M": "M", "x": "x", "y": "y"}

        def objective(need):  # lazily: a dense cost is validated again only when asked
            geom, aw, bw = _sinkhorn_parts(args["a"], args["b"], args["M_or_geometry"])
            return _ot_eps_grads(geom, aw, bw, res, need, roles)

        def value(need):  # <P, C>: implicit differentiation of the fixed point
            geom, aw, bw = _sinkhorn_parts(args["a"], args["b"], args["M_or_geometry"])
            out, rel, ok = sinkhorn_value_grads(geom, aw, bw, res.f, res.g, res.eps, need)
            if not ok:
                _warn_implicit(rel)
            return out

        warn = None if res.converged else _unconverged("sinkhorn", res)
        return {"objective": objective, "value": value}, warn


class _SinkhornDivergence(_Rule):
    params = ("a", "b", "M_or_geometry", "M_aa", "M_bb")
    alias: ClassVar[dict[str, str]] = {"M_or_geometry": "M"}

    def grads(self, res, args, state, leaves):
        from .ot._geometry import PointCloud, as_geometry

        def value(need):  # lazily: the geometries are rebuilt only when a gradient is asked
            geom, aw, bw = _sinkhorn_parts(args["a"], args["b"], args["M_or_geometry"])
            ba = _weights(args["b"], geom.shape[1], "b", bw)
            if isinstance(geom, PointCloud):
                g_aa = PointCloud(geom.x, geom.x, cost=geom.p)
                g_bb = PointCloud(geom.y, geom.y, cost=geom.p)
            else:
                g_aa, g_bb = as_geometry(args["M_aa"]), as_geometry(args["M_bb"])
            ab = _ot_eps_grads(geom, aw, bw, res.ot_ab, need,
                               {"a": "a", "b": "b", "M": "M", "x": "x", "y": "y"})
            # OT_eps(a, a) depends on a (and x) through both of its arguments
            twins = {k + "2" for k in ("a", "b", "x", "y") if k in need}
            aa = _ot_eps_grads(g_aa, aw, aw, res.ot_aa, need | twins,
                               {"a": "a", "b": "a2", "M": "M_aa", "x": "x", "y": "x2"})
            bb = _ot_eps_grads(g_bb, ba, ba, res.ot_bb, need | twins,
                               {"a": "b2", "b": "b", "M": "M_bb", "x": "y2", "y": "y"})
            out = {}
            for k in need:
                if k in ("M_aa", "M_bb"):
                    out[k] = -0.5 * (aa if k == "M_aa" else bb)[k]
                    continue
                t = ab.get(k, 0.0)
                if k in ("a", "x"):
                    t = t - 0.5 * (aa[k] + aa[k + "2"])
                if k in ("b", "y"):
                    t = t - 0.5 * (bb[k] + bb[k + "2"])
                out[k] = t
            return out

        bad = [r for r in (res.ot_ab, res.ot_aa, res.ot_bb) if not r.converged]
        warn = _unconverged("sinkhorn_divergence", bad[0]) if bad else None
        return {"value": value}, warn


# ----------------------------------------------------------------------------- emd
class _EMD(_Rule):
    params = ("a", "b", "M")

    def prepare(self, args):
        keep = args["return_plan"]
        args["return_plan"] = True  # the plan is the gradient in M (computed anyway)
        return keep

    def finish(self, res, keep):
        return res if keep else dataclasses.replace(res, plan=None)

    def grads(self, res, args, state, leaves):
        normalize = bool(args["normalize"])
        n, m = res.info["n"], res.info["m"]

        def value(need):
            out = {}
            f, g = _arr64(res.f), _arr64(res.g)
            if need & {"a", "b"}:
                f, g = _tight_at_zero_weights(f, g, args["a"], args["b"],
                                              lambda: _lp_costs(args["M"]))
            for k, pot, w, size in (("a", f, args["a"], n), ("b", g, args["b"], m)):
                if k in need:
                    out[k] = _normalised(pot, _weights(w, size, k, pot)) if normalize else _centred(pot)
            if "M" in need:
                out["M"] = _arr64(res.plan)
            if need & {"x", "y"}:  # a PointCloud: sum_j P_ij grad_x c(x_i, y_j), and in y
                geom = args["M"]
                gx, gy = _dense_cost_grads(_arr64(geom.x), _arr64(geom.y), _arr64(res.plan),
                                           geom.p, "x" in need, "y" in need)
                out.update({k: v for k, v in (("x", gx), ("y", gy)) if k in need})
            return out

        warn = None
        if not res.certified:
            warn = (f"the gradient of emd comes from the plan and the potentials, which are optimal "
                    f"only when certified, and this solve stopped with a duality gap of "
                    f"{res.duality_gap:.3g}; increase `max_iter`.")
        return {"value": value}, warn


# ----------------------------------------------------------------------------- 1-D
def _pow2_of(*arrays) -> int:
    """The exponent k with max |entry| / 2**k in [0.5, 1) (0 when every entry is 0), at every
    scale (:func:`~kantorovich._validation.pow2_exponent` without its unit-scale threshold)."""
    from ._validation import pow2_exponent

    return pow2_exponent(*arrays, threshold=-1.0)


def _w1d_cells(u, v, uw, vw):
    """The north-west corner plan of 1-D ``u``, ``v`` (weights None = uniform), as
    :func:`wasserstein_1d_plan` builds it (stable sorts): ``(pu, pv, iu, iv, mass, t)`` with
    cell k joining the sorted values ``iu[k]``, ``iv[k]`` (``pu``, ``pv`` the sorts) with
    ``mass[k]`` and ``t[k] = u - v`` there. The plan does not change when u and v are scaled
    by a power of two, nor do the cells' masses."""
    from .ot._sorted_rows import breakpoints, merge_cells

    n, m = u.shape[0], v.shape[0]
    pu, pv = np.argsort(u, kind="stable"), np.argsort(v, kind="stable")
    if uw is None and vw is None and n == m:  # the k-th smallest values paired (mass 1/n)
        iu = iv = np.arange(n)
        mass = np.full(n, 1.0 / n)
    else:
        wu = None if uw is None else _host64(uw)[pu][None]
        wv = None if vw is None else _host64(vw)[pv][None]
        iu, iv, mass = (c[0] for c in merge_cells(breakpoints(wu, n, 1, np),
                                                   breakpoints(wv, m, 1, np), np))
    with np.errstate(invalid="ignore"):
        t = u[pu][iu] - v[pv][iv]
    # the values hold no NaN: a NaN is inf - inf of two equal infinities, at distance 0 as in
    # the forward pass (kantorovich.ot._kernels.wass1d_numpy.cost); left NaN, it made W_p^p
    # NaN and the gradient of every finite value 0 for p > 1
    return pu, pv, iu, iv, mass, np.where(np.isnan(t), 0.0, t)


def _w1d_terms(cells, n, m, p, s, uw, vw, weights):
    """For the cells of :func:`_w1d_cells` and the scale ``s`` > 0 (the largest moved
    difference, from :func:`_moved_scale`): ``(Vs, du, dv, duw, dvw)`` with
    ``Vs = sum_k mass_k |t_k / s|^p`` (W_p^p = s^p Vs), ``du``, ``dv`` its derivatives in the
    values times s^(p - 1) and ``duw``, ``dvw`` those in the weights divided by s^p (the
    potentials, normalised; None unless ``weights``): everything of order one, whatever the
    scale of the data and however large p. The largest moved |t_k| / s is 1, so Vs is at least
    the mass of that cell: it cannot underflow to 0, as a power-of-two scale let it
    (|t / 2**k|^p in [0.5^p, 1): 0 for p beyond about 1075, and with it the gradient)."""
    from .ot._wasserstein_1d import _staircase_potentials

    pu, pv, iu, iv, mass, t = cells
    pos = mass > 0.0
    tau = t / s
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        a = np.abs(tau)
        Vs = float(np.sum(np.where(pos, mass * a ** p, 0.0)))
        dc = np.sign(tau) if p == 1.0 else p * np.sign(tau) * a ** (p - 1.0)
        w = np.where(pos, mass * dc, 0.0)  # cells of zero mass move nothing (their cost may be inf)
    du = np.bincount(pu[iu], w, minlength=n)
    dv = -np.bincount(pv[iv], w, minlength=m)
    if not weights:
        return Vs, du, dv, None, None
    # potentials of the costs |t / s|^p, anchored at the first cell of positive mass: those
    # of the points joined to it through moved cells are of order one, a far point of zero
    # mass gets its own huge (or infinite) one. Where that is not defined (inf - inf along the
    # staircase), the costs at the scale T of every cell's difference, in [0, 1], brought to
    # the scale s <= T (the potentials far below T's then round to 0)
    with np.errstate(over="ignore", under="ignore"):
        fs, gs = _anchored_potentials(np.abs(tau) ** p, iu, iv, pos, n, m)
    e = 0.0
    if bool(np.isnan(fs).any()) or bool(np.isnan(gs).any()):
        fin = np.abs(t[np.isfinite(t)])
        T = max(float(fin.max()) if fin.size else 0.0, s)
        with np.errstate(under="ignore"):
            fs, gs = _staircase_potentials(np.abs(t / T) ** p, iu, iv, n, m)
        e = 0.0 if T == s else p * math.log2(T / s)
    f, g = np.empty(n), np.empty(m)
    f[pu], g[pv] = fs, gs
    wu = np.ones(n) if uw is None else _host64(uw)
    wv = np.ones(m) if vw is None else _host64(vw)
    return Vs, du, dv, _times_pow2(_normalised_pos(f, wu), e), _times_pow2(_normalised_pos(g, wv), e)


def _anchored_potentials(c, iu, iv, pos, n, m):
    """Staircase potentials (sorted order) with f_i + g_j = c on every cell, f = 0 at the first
    cell of positive mass: forward and backward from there, each step changing one of (i, j)
    (:func:`kantorovich.ot._wasserstein_1d._staircase_potentials` anchors at the first cell,
    which may be a far point of zero mass whose infinite cost then offsets every potential)."""
    k0 = int(np.argmax(pos))
    with np.errstate(invalid="ignore"):
        dc = np.diff(c)
    step_u = np.diff(iu) == 1
    du, dv = np.where(step_u, dc, 0.0), np.where(step_u, 0.0, dc)
    phi, psi = np.empty(c.shape[0]), np.empty(c.shape[0])
    with np.errstate(invalid="ignore"):
        phi[k0:] = np.concatenate([[0.0], np.cumsum(du[k0:])])
        psi[k0:] = c[k0] + np.concatenate([[0.0], np.cumsum(dv[k0:])])
        phi[:k0] = -np.cumsum(du[:k0][::-1])[::-1]
        psi[:k0] = c[k0] - np.cumsum(dv[:k0][::-1])[::-1]
    fs, gs = np.empty(n), np.empty(m)
    fs[iu] = phi  # constant while i stays: every write per i is the same number
    gs[iv] = psi
    return fs, gs


def _normalised_pos(f: np.ndarray, w: np.ndarray) -> np.ndarray:
    """:func:`_normalised` where a zero weight may hold an infinite potential (a point at
    +-inf of zero weight, in 1-D): its derivative is +-inf, and the mean <w / sum w, f> runs
    over the positive weights only (0 * inf would make every entry NaN)."""
    if bool(np.all(np.isfinite(f))):
        return _normalised(f, w)
    pos = w > 0
    sw = float(w.sum())
    with np.errstate(invalid="ignore"):
        return (f - float(np.dot(w[pos] / sw, f[pos]))) / sw


def _moved_scale(cells) -> float:
    """The largest moved difference max |t_k| over the cells of positive mass (1 when it is
    0, where every moved difference is 0): the scale of :func:`_w1d_terms`."""
    t = np.abs(cells[5][cells[4] > 0.0])
    top = float(t.max()) if t.size else 0.0
    return top if top > 0.0 else 1.0


def _times_pow2(x: np.ndarray, e: float) -> np.ndarray:
    """x * 2**e without an intermediate overflow (an entry beyond float64 becomes +-inf)."""
    if e == 0.0:
        return x
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        if float(e).is_integer() and abs(e) < 1 << 20:  # exact
            return np.ldexp(x, int(e))
        return np.where(x == 0.0, 0.0, np.sign(x) * np.exp2(np.log2(np.abs(x)) + e))


def _w1d_grads(u, v, uw, vw, p, weights=True):
    """W_p of 1-D u, v and its gradients ``(du, dv, duw, dvw)`` (weights None = uniform;
    ``duw``, ``dvw`` None where not asked or uniform with n == m), from the north-west corner
    plan and its potentials, computed at unit scale: the values are divided by the power of
    two of the largest, their differences by the largest moved one. W_p is
    1-homogeneous in (u, v), so its gradient in the values is that of the rescaled problem and
    its gradient in the weights that times the scale: neither |u - v|^p nor W_p^p is formed at
    the data's scale, where it under- or overflows (|t|^20 at t = 1e-17 or 1e16)."""
    u, v = _host64(u), _host64(v)
    k0 = _pow2_of(u, v)
    cells = _w1d_cells(np.ldexp(u, -k0), np.ldexp(v, -k0), uw, vw)
    s = _moved_scale(cells)
    weights = weights and not (uw is None and vw is None and u.shape[0] == v.shape[0])
    Vs, du, dv, duw, dvw = _w1d_terms(cells, u.shape[0], v.shape[0], p, s, uw, vw, weights)
    c = _root_coef(Vs, p)
    scale = lambda g: None if g is None else np.ldexp(c * s * g, k0)
    return c * du, c * dv, scale(duw), scale(dvw)


def _root_coef(V: float, p: float) -> float:
    """d V^(1/p) / dV (0 at V = 0 for p > 1, where W_p is not differentiable: a subgradient)."""
    if p == 1.0:
        return 1.0
    return V ** (1.0 / p - 1.0) / p if V > 0 else 0.0


_BATCH = ("gradients of wasserstein_1d are implemented for one pair of 1-D distributions; "
          "for a batch, call it once per row (or sum the rows' values in a loop; with JAX, "
          "jax.vmap of the single call). The batch's values need no gradient: they are "
          "computed, under jax.jit and jax.vmap too.")


class _Wasserstein1D(_Rule):
    params = ("u_values", "v_values", "u_weights", "v_weights")
    field = None
    fields = (None,)

    def batched(self, args):
        return _BATCH if any(np.ndim(args[k]) != 1 for k in self.params
                             if args[k] is not None) else None

    def out_shape(self, args):
        """The broadcast batch shape: the leading axes of the values and weights."""
        return np.broadcast_shapes(*(np.shape(args[k])[:-1] for k in self.params
                                     if args[k] is not None))

    def grads(self, res, args, state, leaves):
        u, v, uw, vw = (args[k] for k in self.params)
        if self.batched(args):
            return {self.field: _BATCH}, None
        p = float(args["p"])

        def value(need):
            g = dict(zip(self.params, _w1d_grads(u, v, uw, vw, p, bool(need & {"u_weights", "v_weights"}))))
            return {k: g[k] for k in need}

        return {self.field: value}, None


class _Wasserstein1DPlan(_Wasserstein1D):
    field = "value"
    fields = ("value",)


# ----------------------------------------------------------------------------- sliced
class _Sliced(_Rule):
    params = ("x", "y", "a", "b")
    fields = (None,)

    def prepare(self, args):
        from ._validation import check_rng

        rng = args["rng"]
        shape = (int(args["n_projections"]), 1 if np.ndim(args["x"]) == 1
                 else int(np.shape(args["x"])[-1]))  # the draw: (L, d)
        if isinstance(rng, np.random.Generator) or rng is None:
            gen = check_rng(rng)
            args["rng"] = gen  # the generator the function draws from (None: a fresh one)
            # its state before the draws: the directions again
            return ("generator", copy.deepcopy(gen), shape)
        check_rng(rng)  # a seed: every call (every problem of a batch) starts from it
        return ("seed", rng, shape)

    def replayable(self, arg):
        rng = arg("rng")
        return not (rng is None or isinstance(rng, np.random.Generator))

    def problem_state(self, state, q):
        """A seed gives every problem the same directions; a Generator gives consecutive draws,
        problem after problem, as a loop of single calls: problem q's start is q draws on."""
        from .ot._sliced import random_directions

        kind, src, shape = state
        if kind == "seed" or q == 0:
            return state
        gen = copy.deepcopy(src)
        for _ in range(q):
            random_directions(*shape, gen)
        return ("generator", gen, shape)

    def grads(self, res, args, state, leaves):
        from ._validation import check_rng, check_sample_pair
        from .ot._sliced import random_directions

        xa, ya = check_sample_pair(_host64(args["x"]), _host64(args["y"]))
        aw, bw = args["a"], args["b"]
        L, p = int(args["n_projections"]), float(args["p"])
        kind, src, _ = state

        def value(need):
            gen = copy.deepcopy(src) if kind == "generator" else check_rng(src)
            th = random_directions(L, xa.shape[1], gen)
            n, m = xa.shape[0], ya.shape[0]
            # at unit scale (SW_p is 1-homogeneous in (x, y), as _w1d_grads): the points by
            # the power of two of the largest coordinate, the projections' differences by the
            # largest moved one over all directions, shared so that their W_l^p add up
            k0 = _pow2_of(xa, ya)
            xs, ys = np.ldexp(xa, -k0), np.ldexp(ya, -k0)
            cells = [_w1d_cells(xs @ t, ys @ t, aw, bw) for t in th]
            s = max(_moved_scale(c) for c in cells)
            weights = bool(need & {"a", "b"}) and not (aw is None and bw is None and n == m)
            acc = {"x": np.zeros(xa.shape), "y": np.zeros(ya.shape), "a": np.zeros(n),
                   "b": np.zeros(m)}
            Vs = 0.0
            for t, cl in zip(th, cells):
                V, du, dv, da, db = _w1d_terms(cl, n, m, p, s, aw, bw, weights)
                Vs += V / L
                acc["x"] += du[:, None] * t[None, :]
                acc["y"] += dv[:, None] * t[None, :]
                if weights:
                    acc["a"] += da
                    acc["b"] += db
            c = _root_coef(Vs, p) / L  # SW = (mean_l W_l^p)^(1/p)
            return {key: np.ldexp(c * s * acc[key], k0) if key in ("a", "b") else c * acc[key]
                    for key in need}

        return {None: value}, None


# ----------------------------------------------------------------------------- wasserstein
class _Wasserstein(_Rule):
    params = ("x", "y", "a", "b")
    fields = (None,)

    def grads(self, res, args, state, leaves):
        from ._validation import check_sample_pair
        from .ot._geometry import DenseGeometry, PointCloud
        from .ot._wasserstein import _uniform

        geom = args["x"]
        if isinstance(geom, DenseGeometry):
            return {None: lambda need: _w_dense(geom, args, need)}, None
        pts = (geom.x, geom.y) if isinstance(geom, PointCloud) else (args["x"], args["y"])
        xa, ya = check_sample_pair(_host64(pts[0]), _host64(pts[1]))
        n, m, d = xa.shape[0], ya.shape[0], xa.shape[1]
        aw = _weights(args["a"], n, "a")
        bw = _weights(args["b"], m, "b")
        method = args["method"]
        if method == "auto":  # the function's rule, on the same validated data
            uniform = _uniform(None if args["a"] is None else aw / aw.sum()) and \
                _uniform(None if args["b"] is None else bw / bw.sum())
            method = ("1d" if d == 1 else "exact" if n * m <= args["exact_max_entries"]
                      else "auction" if n == m and uniform else "sinkhorn")
        solve = {"1d": _w_1d, "exact": _w_exact, "auction": _w_auction, "sinkhorn": _w_sinkhorn}[method]
        if method == "auction":  # its fallback to the exact LP depends on the size rule
            solve = functools.partial(_w_auction, exact_max_entries=args["exact_max_entries"])
        p = geom.p if isinstance(geom, PointCloud) else float(1.0 if args["p"] is None else args["p"])

        def value(need):
            return solve(xa, ya, aw, bw, p, args["eps"], need)

        return {None: value}, None


def _w_dense(geom, args, need):
    """W = OT(C)^(1/p) on a DenseGeometry's matrix C: its leaf (named "x", the argument it was
    passed as) gets the plan times dW/dOT, the weights their normalised potentials."""
    from .ot._emd import emd

    C = _host64(geom.C)
    n, m = C.shape
    aw, bw = _weights(args["a"], n, "a"), _weights(args["b"], m, "b")
    r = emd(aw / aw.sum(), bw / bw.sum(), C)
    c = _root_coef(max(float(r.value), 0.0), float(1.0 if args["p"] is None else args["p"]))
    f, gp = _tight_at_zero_weights(_arr64(r.f), _arr64(r.g), aw, bw, C) if need & {"a", "b"} \
        else (r.f, r.g)
    g = {"x": r.plan, "a": _normalised(f, aw), "b": _normalised(gp, bw)}
    return {k: c * g[k] for k in need}


def _w_1d(xa, ya, aw, bw, p, eps, need):
    du, dv, da, db = _w1d_grads(xa[:, 0], ya[:, 0], aw, bw, p, bool(need & {"a", "b"}))
    g = {"x": du[:, None], "y": dv[:, None], "a": da, "b": db}
    return {k: g[k] for k in need}


def _w_exact(xa, ya, aw, bw, p, eps, need):
    """The exact LP's plan and potentials, solved as the function solves them: on the costs of
    the points rescaled by its power of two 2**k (W_p is 1-homogeneous: the point gradient is
    the rescaled problem's, the weight gradient that times 2**k), or, where those costs
    over- or underflow, in its rounds at the scale of W_p (:func:`_w_exact_rescaled`)."""
    from .ot._emd import emd
    from .ot._wasserstein import _cost_matrix, value_trusted

    an, bn = aw / aw.sum(), bw / bw.sum()
    xs, ys, k = _scaled(xa, ya, p)
    with np.errstate(over="ignore", under="ignore"):
        M = _cost_matrix(xs, ys, p)
    top = float(M.max())
    if math.isfinite(top):
        r = emd(an, bn, M)
        val = max(float(r.value), 0.0)
        if value_trusted(val, top):  # the function's test, on the same LP
            gx, gy = _dense_cost_grads(xs, ys, r.plan, p, "x" in need, "y" in need)
            c = _root_coef(val, p)
            f, gp = _tight_at_zero_weights(_arr64(r.f), _arr64(r.g), aw, bw, M) \
                if need & {"a", "b"} else (r.f, r.g)
            g = {"x": c * gx if gx is not None else None, "y": c * gy if gy is not None else None,
                 "a": np.ldexp(c * _normalised(f, aw), k),
                 "b": np.ldexp(c * _normalised(gp, bw), k)}
            return {key: g[key] for key in need}
    return _w_exact_rescaled(xa, ya, aw, bw, an, bn, p, need)


def _w_exact_rescaled(xa, ya, aw, bw, an, bn, p, need):
    """The gradient of W_p from the plan P of the function's rescaled rounds: with the
    distances |x_i - y_j| = 2**j D_ij, W_p = 2**j w and the LP solved on (D / t)^p,

        dW/dx_i = sum_j P_ij (D_ij / w)^(p-1) e_ij,      e_ij = (x_i - y_j) / |x_i - y_j|,
        dW/da   = 2**j w (t / w)^p / p  (f - <a, f>) / sum a,

    f the LP's potentials (optimal for the true costs too when no used pair was clipped),
    all of order one."""
    from .ot._wasserstein import _exact_rescaled_plan

    w, j, _, kept = _exact_rescaled_plan(xa, ya, an, bn, p)
    out = {}
    if kept is None or w == 0.0:  # W_p = 0: a subgradient (0 for p > 1, docs/gradients.md)
        for key, size in (("x", xa.shape), ("y", ya.shape), ("a", aw.shape), ("b", bw.shape)):
            if key in need:
                out[key] = np.zeros(size)
        return out
    D, P, r, t = kept
    i, jj = np.nonzero(P)
    k0 = _pow2_of(xa, ya)
    e = np.ldexp(xa, -k0)[i] - np.ldexp(ya, -k0)[jj]  # the used pairs' directions
    with np.errstate(invalid="ignore", divide="ignore", under="ignore"):
        e = e / np.max(np.abs(e), axis=1, keepdims=True)
        e = np.nan_to_num(e / np.linalg.norm(e, axis=1, keepdims=True))  # 0 where x_i = y_j
        q = P[i, jj] * (D[i, jj] / w) ** (p - 1.0) if p != 1.0 else P[i, jj]
    G = q[:, None] * e
    if "x" in need:
        out["x"] = np.zeros(xa.shape)
        np.add.at(out["x"], i, G)
    if "y" in need:
        out["y"] = np.zeros(ya.shape)
        np.add.at(out["y"], jj, -G)
    c = _times_pow2(np.array([w / p]), j + p * math.log2(t / w))[0]
    if need & {"a", "b"}:  # the LP's costs: min((D / t)^p, the clip), as the rounds made them
        from .ot._wasserstein import _CLIP

        def costs():
            with np.errstate(over="ignore", under="ignore"):
                return np.minimum((D / t) ** p, _CLIP)

        f, g = _tight_at_zero_weights(_arr64(r.f), _arr64(r.g), aw, bw, costs)
    if "a" in need:
        out["a"] = c * _normalised(f, aw)
    if "b" in need:
        out["b"] = c * _normalised(g, bw)
    return out


def _scaled(xa, ya, p):
    """The function's exact power-of-two rescaling: (2^-k x, 2^-k y, k)."""
    from ._validation import pow2_exponent

    k = pow2_exponent(xa, ya, p=p)
    return (np.ldexp(xa, -k), np.ldexp(ya, -k), k) if k else (xa, ya, 0)


def _w_auction(xa, ya, aw, bw, p, eps, need, exact_max_entries=None):
    """The assignment's plan (a permutation, mass 1/n each): one pair per point; where the
    function's auction value was not trusted (costs at the unit scale beyond float64, or an
    optimum below 2**-30 of the largest, 0 included: at large p the costs underflow), the
    exact LP's rounds it fell back to (:func:`_w_exact`), as the function."""
    from .ot._auction import assignment
    from .ot._costs import diameter
    from .ot._wasserstein import EXACT_MAX_ENTRIES, value_trusted

    if need & {"a", "b"}:
        raise NotImplementedError(
            "wasserstein used the auction (uniform weights, n == m): its dual potentials are "
            "not unique, so there is no weight gradient; pass method='exact' (or 'sinkhorn').")
    xs, ys, _ = _scaled(xa, ya, p)
    cmax = diameter(xs, ys, p)
    limit = EXACT_MAX_ENTRIES if exact_max_entries is None else exact_max_entries
    r = None
    if math.isfinite(cmax):
        r = assignment(x=xs, y=ys, cost=p, backend="numba")
        val = max(float(r.value), 0.0)
        if not value_trusted(val, cmax):
            r = None if xs.shape[0] * ys.shape[0] <= limit else r
    if r is None:
        return _w_exact(xa, ya, aw, bw, p, eps, need)
    perm = np.asarray(_host64(r.perm)).astype(np.intp)
    D = xs - ys[perm]
    # W = dm (mean (d_i / dm)^p)^(1/p) with dm the largest matched distance: every term at
    # most 1, the largest 1, so neither the terms nor their mean underflow at large p
    d = np.sqrt(np.einsum("ij,ij->i", D, D))
    dm = float(d.max())
    out = {}
    if dm == 0.0:
        G = np.zeros(xs.shape)
        c = 0.0
    else:
        rr = d / dm
        with np.errstate(under="ignore"):
            S = float(np.mean(rr ** p))
            coef = rr ** (p - 1.0) / xs.shape[0]
        unit = np.divide(D, d[:, None], out=np.zeros_like(D), where=d[:, None] > 0)
        G = coef[:, None] * unit
        c = S ** (1.0 / p - 1.0)  # dW/dd_i = S^(1/p - 1) (d_i / dm)^(p - 1) / n; x_s = 2^-k x
    if "x" in need:
        out["x"] = c * G
    if "y" in need:
        gy = np.zeros(ys.shape)
        gy[perm] = -G
        out["y"] = c * gy
    return out


def _w_sinkhorn(xa, ya, aw, bw, p, eps, need):
    """The Sinkhorn path: W = <P_eps, C>^(1/p), its gradient by implicit differentiation."""
    from .ot._geometry import PointCloud
    from .ot._sinkhorn import sinkhorn
    from .ot._wasserstein import SINKHORN_REL_EPS

    xs, ys, k = _scaled(xa, ya, p)
    geom = PointCloud(xs, ys, cost=p)
    if eps is None:
        scale = geom.diameter()
        eps = SINKHORN_REL_EPS * scale if scale > 0 else 1.0
    else:
        eps = eps * 2.0 ** (-k * p)
    an, bn = aw / aw.sum(), bw / bw.sum()
    r = sinkhorn(an, bn, geom, eps=eps)
    g, rel, ok = sinkhorn_value_grads(geom, an, bn, r.f, r.g, eps, need)
    if not ok:
        _warn_implicit(rel)
    c = _root_coef(max(float(r.value), 0.0), p)
    out = {}
    for key in need:  # x_s = 2^-k x cancels the 2^k of W; the weights keep it
        if key in ("x", "y"):
            out[key] = c * g[key]
        else:
            out[key] = np.ldexp(c * _normalised(g[key], aw if key == "a" else bw), k)
    return out


_RULES: dict[str, _Rule] = {
    "sinkhorn": _Sinkhorn(),
    "sinkhorn_divergence": _SinkhornDivergence(),
    "emd": _EMD(),
    "wasserstein_1d": _Wasserstein1D(),
    "wasserstein_1d_plan": _Wasserstein1DPlan(),
    "sliced_wasserstein": _Sliced(),
    "wasserstein": _Wasserstein(),
}
