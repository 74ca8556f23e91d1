"""Geometries for entropic OT: what is compared (the cost), separate from how it is solved.

- :class:`DenseGeometry` holds an explicit ``(n, m)`` cost matrix ``C``.
- :class:`PointCloud` holds two clouds ``x`` ``(n, d)`` and ``y`` ``(m, d)`` and a ground cost
  ``C_ij = c(x_i, y_j)`` that is computed on the fly by the soft-min kernels and never stored
  (memory ``O((n + m) d)``).

Costs of :class:`PointCloud` (no ½ factor anywhere; parsed, evaluated and bounded by
:mod:`kantorovich.ot._costs`, docs/costs.md)::

    "sqeuclidean":  C_ij = |x_i - y_j|^2          (p = 2)
    "euclidean":    C_ij = |x_i - y_j|             (p = 1)
    p (a float > 0): C_ij = |x_i - y_j|^p          (|.| the Euclidean norm)
    a callable fn:   C_ij = fn(x_block, y_block)   (numpy blocks; docs/costs.md)

GeomLoss writes the squared cost as ``|x - y|^2 / 2``; here it is ``|x - y|^2``, as in POT's
``ot.dist`` and OTT's ``SqEuclidean``. Every OT solver takes a geometry where it takes a cost
matrix: ``emd``, ``assignment``, ``wasserstein``, ``sinkhorn`` and ``sinkhorn_divergence``.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Any

import numpy as np

from .._array_api import is_cupy, to_host
from .._validation import (
    as_float_array,
    check_cost_matrix,
    check_float_dtype,
    check_sample_pair,
    describe,
    xp_of,
)
from ._costs import (
    Cost,
    cost_block,
    cost_range,
    diameter,
    is_callable_cost,
    no_gradient_message,
    parse_cost,
)

__all__ = ["DenseGeometry", "PointCloud", "as_geometry", "batch_size_of", "check_dense_memory"]


def _available_bytes(device: str) -> float:
    """Free memory on ``device`` ("cpu" or "cuda"), or +inf when unknown."""
    if device == "cuda":
        try:
            import cupy

            free, _total = cupy.cuda.runtime.memGetInfo()
            return float(free)
        except Exception:
            return math.inf
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return math.inf


_ONLINE_HINT = ("use the online geometry instead: kantorovich.ot.PointCloud(x, y, cost=...) with "
                "backend='numba' (CPU) or backend='cuda' (GPU), whose memory is O(n + m).")


def check_dense_memory(n: int, m: int, itemsize: int, *, device: str = "cpu", copies: int = 3,
                       what: str = "a dense n x m cost matrix", hint: str = _ONLINE_HINT) -> None:
    """Raise MemoryError (suggesting :class:`PointCloud`, or ``hint``) when ``copies`` n x m
    arrays do not fit.

    ``copies`` counts the matrix and the temporaries of a dense soft-min (about three).
    """
    need = float(n) * float(m) * itemsize * copies
    have = _available_bytes(device)
    if need > have:
        raise MemoryError(
            f"{what} of shape ({n}, {m}) needs about {need / 2**30:.1f} GiB on {device} "
            f"({copies} arrays of {itemsize} bytes per entry) but only {have / 2**30:.1f} GiB is free; "
            + hint
        )


def _cast(a, dtype, name: str):
    """``a`` in ``dtype`` (itself when already so); a narrowing cast whose values do not fit
    (1e200 to float32) is a ValueError naming ``name`` and `dtype`, not infinities."""
    if a.dtype == np.dtype(dtype):
        return a
    if np.dtype(dtype).itemsize < a.dtype.itemsize:
        return as_float_array(a, name, dtype=dtype, allow_empty=True)
    return a.astype(dtype)


def _gpu_float32(*arrays) -> bool:
    """Whether every array is float32 data on a GPU (CuPy, or torch CUDA through DLPack): the
    Sinkhorn solver then works in float32 by default, as the GPU kernels are float32 by design
    (a float64 soft-min has no hardware exp2 and runs about 5x slower on an H100:
    docs/sinkhorn.md, GPU). The geometry itself stores float64, so the exact solvers see the
    same costs as before."""
    return bool(arrays) and all(is_cupy(a) and a.dtype == np.float32 for a in arrays)


def _is_torch(v) -> bool:
    return type(v).__module__.split(".")[0] == "torch"


class _Own:
    """One of a point cloud's own stored arrays given back to it (``pc.with_points(pc.x,
    pc.x)``, the self-transport term of a Sinkhorn divergence): it stands for the caller's
    array it was made from, so the new cloud answers in the caller's library and carries that
    array's gradient (:func:`_adopt`)."""

    __slots__ = ("src", "key")

    def __init__(self, src, key: str):
        self.src, self.key = src, key

    @property
    def numbers(self):
        """The stored numbers (numpy or CuPy; a tracer's zeros)."""
        return getattr(self.src, self.key)

    @property
    def leaf(self):
        """The caller's array that carries a gradient, or None."""
        return getattr(self.src, "_leaves", {}).get(self.key)

    def stand_in(self):
        """What :func:`kantorovich._interop.caller` reads for it: the source's caller (its
        gradient is the leaf's, added by :func:`_adopt`), the float64 numpy flag, the CuPy
        numbers themselves (the solvers take them natively), or nothing (lists given)."""
        import types

        c = getattr(self.src, "_caller", None)
        if c is not None:
            return types.SimpleNamespace(_caller=dataclasses.replace(c, requires_grad=False))
        if getattr(self.src, "_numpy_input", False):
            return types.SimpleNamespace(_numpy_input=True)
        return self.numbers if is_cupy(self.numbers) else None


def _adopt(geom, *arrays, names):
    """The caller's arrays (torch, JAX, array-API, autograd boxes) as numpy / CuPy data.

    Records on ``geom`` where they came from (``_caller``, so that the solvers give their
    results back in that library and dtype, and weights of another library are the TypeError
    naming both; float64 numpy only a flag, ``_numpy_input``, CuPy nothing: the solvers take
    them natively, as before), the inputs that carry gradients (``_leaves``: torch tensors that
    require grad, autograd boxes, JAX tracers), which :mod:`kantorovich._autodiff`
    differentiates, and the torch tensors among them (``_torch_inputs``). A JAX tracer has no
    numbers yet: the geometry holds zeros of its shape in its place, and the functions with a
    gradient rule rebuild it when JAX runs them. An :class:`_Own` array contributes its
    cloud's caller, stored numbers, leaf and torch inputs.
    """
    from .._autodiff import differentiable, is_tracer, placeholder, value_of
    from .._interop import caller, to_kernel

    plain = tuple(a.stand_in() if isinstance(a, _Own) else value_of(a) for a in arrays)
    c = caller(*plain, names=names, tracers=True)
    given = tuple(a.leaf if isinstance(a, _Own) else a for a in arrays)
    leaves = {k: a for k, a in zip(names, given) if a is not None and differentiable(a)}
    own = [a for a in arrays if isinstance(a, _Own)]
    if own:  # (the stand-ins carry no gradient: the leaves say whether one reaches torch)
        c = dataclasses.replace(c, requires_grad=any(_is_torch(v) for v in leaves.values()))
    if not c.direct and c.kind != "cupy":  # (numpy float32 in: float32 results)
        geom._caller = c
    elif c.direct and any(isinstance(a, np.ndarray) or getattr(a, "_numpy_input", False)
                          for a in plain):
        # float64 numpy: the direct path, marked so that weights of another library are the
        # TypeError naming both, as beside a numpy M (a flag: the geometry stays picklable)
        geom._numpy_input = True
    geom._leaves = leaves
    # the torch tensors given (kantorovich._autodiff saves them for the version check of a
    # backward pass, which reads their data)
    torch_in = [a for a in plain if _is_torch(a)]
    for a in own:
        torch_in += [t for t in getattr(a.src, "_torch_inputs", ()) if not any(t is u for u in torch_in)]
    geom._torch_inputs = tuple(torch_in)
    geom._traced = tuple(k for k, a, v in zip(names, arrays, plain)
                         if (a.key in getattr(a.src, "_traced", ()) if isinstance(a, _Own)
                             else is_tracer(v)))
    return tuple(a.numbers if isinstance(a, _Own) else placeholder(v) if is_tracer(v) else to_kernel(v)
                 for a, v in zip(arrays, plain))


def _carry(new, old, leaves: dict | None = None):
    """``new``, a geometry made from ``old``'s numbers (cast, moved, one problem of a batch),
    answering as ``old`` does: in its caller's library, device and dtype (``_caller``, the
    float64 numpy flag), with the gradients of ``old``'s inputs (``leaves``, by name; all of
    ``old``'s when None), the torch tensors the backward pass reads and the names of JAX
    tracers (whose zeros ``new`` holds), and its working precision on a GPU
    (``gpu_float32``). numpy data moved to a GPU is CuPy data: the solvers take it natively
    and give CuPy back, as for a geometry built from CuPy arrays (numpy and CuPy are the
    storage libraries themselves, and CuPy weights beside it are accepted)."""
    leaves = dict(getattr(old, "_leaves", {})) if leaves is None else leaves
    c = getattr(old, "_caller", None)
    numpy_moved = new.on_gpu and not old.on_gpu and (
        getattr(old, "_numpy_input", False) or (c is not None and c.kind == "numpy"))
    if c is not None and not numpy_moved:
        new._caller = dataclasses.replace(
            c, requires_grad=any(_is_torch(v) for v in leaves.values()))
    if getattr(old, "_numpy_input", False) and not numpy_moved:
        new._numpy_input = True
    new._leaves = leaves
    new._torch_inputs = tuple(getattr(old, "_torch_inputs", ()))
    new._traced = tuple(k for k in getattr(old, "_traced", ()) if k in leaves)
    new.gpu_float32 = getattr(old, "gpu_float32", False)
    return new


def _need_numbers(geom, what: str) -> None:
    """The TypeError for reading the numbers (``what``) of a geometry built from a JAX tracer,
    which holds zeros in the tracer's place: its costs would be the zeros' costs, silently (a
    wrong value under jax.jit, a zero gradient under jax.grad)."""
    traced = getattr(geom, "_traced", ())
    if traced:
        names = " and ".join(f"`{k}`" for k in traced)
        raise TypeError(
            f"{what} of a {type(geom).__name__} built from a JAX tracer ({names}, inside "
            "jax.grad, jit or vmap) is not available: JAX has no numbers to give while it "
            "traces, and the geometry holds zeros in their place. Pass the geometry itself to "
            "sinkhorn, sinkhorn_divergence, emd or wasserstein, which rebuild it from the "
            "tracer's values, or compute the costs with jax.numpy (e.g. "
            "jnp.sum((x[:, None] - y[None]) ** 2, -1)) to differentiate through them.")


def _detached_what(leaves: dict) -> tuple[str, str]:
    """(the names of the points that carry gradients, what they are), for the warnings below."""
    from .._autodiff import is_box

    names = " and ".join(f"`{k}`" for k in leaves)
    box = any(is_box(v) for v in leaves.values())  # (torch and autograd do not mix)
    what = ("an autograd ArrayBox" if box else
            "a torch tensor that requires grad (or carries a forward-mode tangent)")
    return names, f"{'is' if len(leaves) == 1 else 'are'} {what}"


def _warn_detached(leaves: dict) -> None:
    """The KantorovichWarning of :meth:`DenseGeometry.from_points` for points that carry
    gradients (``leaves``: by name, the inputs :func:`_adopt` found differentiable)."""
    from .._autodiff import is_box
    from .._warnings import warn
    from ..exceptions import KantorovichWarning

    names, what = _detached_what(leaves)
    dense = ("e.g. anp.sum((x[:, None] - y[None]) ** 2, -1) with autograd.numpy"
             if any(is_box(v) for v in leaves.values()) else "e.g. torch.cdist(x, y) ** 2")
    warn(f"DenseGeometry.from_points: {names} {what}, but "
         "the geometry holds its costs as numbers without gradient: a value computed from it "
         "does not depend on the points (no gradient reaches them). Pass PointCloud(x, y) to "
         "the solver instead (differentiable in x and y), or a dense M computed in your "
         f"framework ({dense}) (docs/gradients.md).", KantorovichWarning)


def _tracked_costs(pc, i0: int | None = None, i1: int | None = None):
    """``|x_i - y_j|^p`` computed in the library of the points that carry gradients (torch,
    autograd.numpy or jax.numpy, in their dtype and device), so that it carries their
    gradient: rows ``i0:i1`` (all rows when None), of each problem of a batch
    (``(B, i1 - i0, m)``).

    The same arithmetic as :func:`kantorovich.ot._costs.cost_block`'s (differences summed in
    coordinate order, then ``sqrt`` for p = 1 or the power p/2), so the same numbers except
    for distances beyond about 1e154 or below 1e-146, which that function rescales and this
    one leaves to the framework's overflow (inf) and underflow (0). The gradient at coincident
    points, where ``|x - y|^p`` has none for p <= 1, is 0 (the subgradient the solvers use,
    :func:`kantorovich.ot._costs.grad_coef`), not the NaN of a plain ``sqrt``: the power
    is taken of the squared distance where it is positive and 1 elsewhere (its derivative
    then masked), a ``where`` on each side."""
    from .._autodiff import is_box, is_tracer

    lead = next(iter(pc._leaves.values()))
    if is_box(lead):
        import autograd.numpy as lib

        def conv(v):
            return to_host(v)
    elif is_tracer(lead) or type(lead).__module__.startswith("jax"):
        import jax.numpy as lib

        def conv(v):
            return lib.asarray(to_host(v), dtype=lead.dtype)
    else:
        import torch as lib

        def conv(v):
            return lib.as_tensor(to_host(v), dtype=lead.dtype, device=lead.device)

    def points(name, stored):
        v = pc._leaves.get(name)
        if v is None:
            return conv(stored)
        return v[:, None] if len(v.shape) == 1 else v  # 1-D samples: d = 1, as stored

    x, y = points("x", pc.x), points("y", pc.y)
    if i0 is not None:
        x = x[..., i0:i1, :]  # rows of each problem of a batch too
    diff = x[..., :, None, :] - y[..., None, :, :]
    sq = lib.sum(diff * diff, -1)
    p = float(pc.p)
    if p == 2.0:
        return sq
    pos = sq > 0
    safe = lib.where(pos, sq, 1.0)
    return lib.where(pos, lib.sqrt(safe) if p == 1.0 else safe ** (p / 2.0), 0.0)


def _caller_leaf(geom, M):
    """:meth:`DenseGeometry.cost_matrix` where ``M`` carries a gradient: ``M`` itself in the
    output dtype of the geometry's caller (float32 for half precision, an exact widening),
    with the numbers the geometry stores where its dtype is narrower (``dtype=float32`` of a
    float64 ``M``): ``M + stop_gradient(round(M) - M)``, whose value is ``round(M)`` exactly
    (the difference and the sum are exact, Sterbenz) and whose derivative in ``M`` is the
    identity, in ``M``'s precision (a cast there and back would round the gradient too)."""
    from .._autodiff import is_box, value_of

    store = np.dtype(geom.C.dtype)
    c = getattr(geom, "_caller", None)
    if type(M).__module__.split(".")[0] == "torch":
        import torch

        def cast(v, name):
            return v.to(dtype=getattr(torch, name))

        def stop(v):
            return v.detach()
    else:
        def cast(v, name):
            return v.astype(name)

        if is_box(M):
            stop = value_of
        else:
            import jax

            stop = jax.lax.stop_gradient

    def name_of(dt):
        return str(dt).rsplit(".", 1)[-1]

    have = name_of(M.dtype)
    want = have if c is None or c.dtype is None else name_of(c.dtype)
    out = M if have == want else cast(M, want)
    if store.itemsize < out.dtype.itemsize:  # (torch, JAX and numpy dtypes have an itemsize)
        v = stop(out)
        out = out + (cast(cast(v, store.name), want) - v)
    return out


class DenseGeometry:
    """An explicit cost matrix ``C`` of shape ``(n, m)``, stored as numpy or CuPy numbers for
    the solvers; :meth:`cost_matrix` gives it back in the library of ``M``.

    Parameters
    ----------
    M : array_like, shape (n, m), or DenseGeometry
        Finite real costs (NaN and infinity are rejected): numpy, CuPy, torch, JAX or
        array-API arrays, autograd boxes, or another geometry's :meth:`cost_matrix`. Copied;
        the input is never modified.
    dtype : {None, float32, float64}
        Storage precision (default float64; CuPy inputs keep their device). Costs beyond
        float32's range (about 3.4e38) with ``dtype=float32`` are a ValueError.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import DenseGeometry
    >>> geom = DenseGeometry(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> geom.shape, geom.diameter()
    ((2, 2), 1.0)
    """

    kind = "dense"

    def __init__(self, M: Any, *, dtype=None):
        if isinstance(M, PointCloud):
            raise TypeError("`M` is a PointCloud: pass it to the solver as it is, or its dense "
                            "costs, DenseGeometry(M.cost_matrix()).")
        if isinstance(M, DenseGeometry):  # a copy of its costs (the message was about dtype
            # object), in its library and with its gradient: its numbers ``M.C`` would drop both
            # (and are a tracer's zeros in the tracer's place)
            M = M.cost_matrix()
        (M,) = _adopt(self, M, names=("M",))
        self.gpu_float32 = _gpu_float32(M)
        self.C = check_cost_matrix(M, "M", dtype=check_float_dtype(dtype))

    @classmethod
    def from_points(cls, x: Any, y: Any, cost: str | float = "sqeuclidean", *, dtype=None):
        """Materialise the cost of a point cloud (MemoryError suggesting PointCloud when too big).

        The costs are numbers computed on the host, without gradient: where ``x`` or ``y``
        carries one (a torch tensor that requires grad or has a forward-mode tangent, an
        autograd box) a KantorovichWarning says so once per call, and the solvers' values
        depend on neither (torch: no gradient reaches ``x``; autograd: a zero gradient). Pass
        ``PointCloud(x, y)`` to the solver instead, whose values are differentiable in the
        points, or a dense ``M`` computed by your framework (docs/gradients.md). A JAX tracer
        is the TypeError of :func:`_need_numbers` (the geometry would hold its zeros' costs).
        """
        pc = PointCloud(x, y, cost=cost, dtype=dtype)
        _need_numbers(pc, "DenseGeometry.from_points (the costs computed on the host)")
        if pc._leaves:
            _warn_detached(pc._leaves)
        geom = cls(pc._matrix(), dtype=dtype)
        c = getattr(pc, "_caller", None)
        if c is not None:  # the points' library, device and dtype for the results, as a
            # DenseGeometry(M) of that library gives them (the costs carry no gradient)
            geom._caller = dataclasses.replace(c, requires_grad=False)
            geom.__dict__.pop("_numpy_input", None)
        return geom

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.C.shape)

    @property
    def dtype(self):
        return self.C.dtype

    @property
    def on_gpu(self) -> bool:
        return is_cupy(self.C)

    def cost_matrix(self):
        """The ``(n, m)`` costs ``C_ij`` in the library, device and floating dtype of ``M``,
        those the solvers give their arrays (``f``, ``g``, ``plan``) back in; the numbers are
        the stored ones.

        - numpy and CuPy: the stored array itself, not a copy; for a float32 numpy ``M``
          (stored in float64 unless ``dtype=float32``) a float32 copy.
        - torch, JAX and array-API arrays: the stored numbers in that library, on ``M``'s
          device, in ``M``'s floating dtype (float32 for half precision, the library's default
          floating dtype for integers). A torch tensor of the stored dtype is a view of the
          stored array (``torch.from_numpy``, DLPack on a GPU); the others are copies.
        - Where ``M`` carries a gradient (a torch tensor that requires grad or has a
          forward-mode tangent, an autograd box, a JAX tracer inside ``jax.grad``, ``jit`` or
          ``vmap``): ``M`` itself, the caller's own array, so that a loss built from it
          differentiates in ``M``: ``d/dM sum_ij W_ij C_ij = W``. With a ``dtype=`` narrower
          than ``M``'s, ``M + stop_gradient(round(M) - M)``: the stored (rounded) numbers, of
          derivative the identity in ``M``'s precision.

        What shares memory with the geometry (the stored array, a view of it) changes the
        costs the solvers see when written into: copy it first. A geometry made by
        :meth:`from_points` gives the points' library, without gradient (docs/gradients.md,
        "Cost matrices of dense geometries").

        Examples
        --------
        >>> import numpy as np
        >>> geom = DenseGeometry(np.array([[0.0, 1.0], [1.0, 0.0]]))
        >>> geom.cost_matrix() is geom.C
        True
        """
        M = getattr(self, "_leaves", {}).get("M")
        if M is not None:
            return _caller_leaf(self, M)
        c = getattr(self, "_caller", None)
        if c is None:
            return self.C
        from .._interop import from_kernel

        return from_kernel(self.C, c)

    def _matrix(self):
        """The stored costs (numpy or CuPy, of the storage dtype), for the solvers."""
        _need_numbers(self, "cost_matrix()")
        return self.C

    def cost_range(self):
        """``(min C, max C)`` as 0-d values of the stored dtype (numpy, or CuPy on its device):
        one place for both scans. Without gradient: where ``M`` carries one (a torch tensor
        that requires grad or has a forward-mode tangent, an autograd box) a
        KantorovichWarning says so, as :meth:`PointCloud.cost_range` does (the ``min()`` and
        ``max()`` of :meth:`cost_matrix` carry it)."""
        leaves = getattr(self, "_leaves", None)
        if leaves and not getattr(self, "_traced", ()):
            from .._warnings import warn
            from ..exceptions import KantorovichWarning

            names, what = _detached_what(leaves)
            warn(f"DenseGeometry.cost_range(): {names} {what}, but the range is two numbers "
                 "without gradient (no gradient reaches `M` through them); take the min and max "
                 "of cost_matrix(), which carries the gradient (docs/gradients.md).",
                 KantorovichWarning)
        return self._range()

    def _range(self):
        """:meth:`cost_range`, for the solvers (no warning)."""
        _need_numbers(self, "cost_range()")
        return self.C.min(), self.C.max()

    def diameter(self, cost_range=None) -> float:
        """Range of the costs, ``max C - min C`` (the starting eps of epsilon-scaling), a
        float without gradient, as :meth:`PointCloud.diameter`; pass ``cost_range()`` when it
        is already at hand."""
        lo, hi = self._range() if cost_range is None else cost_range
        return float(hi - lo)

    def astype(self, dtype):
        """The same costs stored in ``dtype`` (float32 or float64), as
        ``DenseGeometry(M, dtype=dtype)`` would store them: the solvers compute in ``dtype``,
        and the new geometry answers as this one does, in ``M``'s library, device and floating
        dtype (not ``dtype``: that is the storage, as for the constructor's ``dtype=``), with
        ``M``'s gradient (a JAX tracer's too: its zeros are cast, and the solvers rebuild the
        geometry from the tracer's values in ``dtype``). Costs beyond float32's range with
        ``dtype=float32`` are a ValueError naming ``M``."""
        g = object.__new__(DenseGeometry)
        g.C = _cast(self.C, dtype, "M")
        return _carry(g, self)

    def to_device(self, device: str):
        """The same costs on ``device`` ("cpu", or "cuda": CuPy, a MemoryError when they do not
        fit), where the solvers then compute. The new geometry answers as this one does: a
        torch, JAX or array-API ``M`` in its library, on its device and in its dtype, with its
        gradient (as a solver given ``backend="cuda"`` or ``"numpy"`` moves the costs and
        answers on the caller's device). numpy and CuPy are the storage itself: a numpy ``M``
        moved to the GPU answers in CuPy, a CuPy one moved to the host in numpy, as geometries
        built from those arrays do."""
        from .._array_api import to_device

        if device == "cuda" and not self.on_gpu:
            n, m = self.shape
            check_dense_memory(n, m, self.C.dtype.itemsize, device="cuda")
        g = object.__new__(DenseGeometry)
        g.C = to_device(self.C, device)
        return _carry(g, self)

    def __repr__(self) -> str:
        return f"DenseGeometry(shape={self.shape}, dtype={self.dtype})"


class PointCloud:
    """Two point clouds with a ground cost computed on the fly (never stored).

    Parameters
    ----------
    x : array_like, shape (n, d)
    y : array_like, shape (m, d)
        Finite coordinates (1-D input means d = 1). Copied.
    cost : {"sqeuclidean", "euclidean"}, float p > 0, or callable
        ``C_ij = |x_i - y_j|^p`` with the Euclidean norm: "sqeuclidean" is p = 2 with **no ½
        factor**, "euclidean" is p = 1. A callable ``fn(x_block, y_block)`` returns the
        ``(len(x_block), len(y_block))`` real, finite costs of numpy arrays (rows of ``x``
        against ``y``, or ``x`` against rows of ``y``); it must be vectorised. Which solvers
        call it and how: docs/costs.md, "A callable cost" (numpy Sinkhorn calls it by blocks;
        ``emd``, ``assignment`` and ``wasserstein`` materialise the matrix; the numba and CUDA
        kernels, batches and gradients in the points do not take it).
    dtype : {None, float32, float64}
        Storage precision (default float64). Coordinates beyond float32's range (about 3.4e38)
        with ``dtype=float32`` are a ValueError naming the array. (``sinkhorn`` works in
        float32 by default when both point sets are float32 on a GPU, see its ``dtype``.)

    Notes
    -----
    Memory is ``O((n + m) d)``: the online soft-min kernels (numba on CPU, CUDA on GPU)
    recompute ``C_ij`` whenever they need it. ``cost_matrix()`` materialises it for small
    problems and raises MemoryError when it would not fit.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import PointCloud
    >>> pc = PointCloud(np.zeros((2, 2)), np.ones((3, 2)))
    >>> pc.shape, pc.p, float(pc.cost_matrix()[0, 0])
    ((2, 3), 2.0, 2.0)
    """

    kind = "pointcloud"

    #: B for a batch of point-cloud pairs (x (B, n, d), y (B, m, d)), None for one pair
    batch_size: int | None = None

    def __init__(self, x: Any, y: Any, cost: Any = "sqeuclidean", *, dtype=None):
        x, y = _adopt(self, x, y, names=("x", "y"))
        self.gpu_float32 = _gpu_float32(x, y)
        fn_cost = is_callable_cost(cost)  # (a named cost is parsed after the points, as before)
        if fn_cost and self._leaves:
            raise ValueError(no_gradient_message(" and ".join(map(repr, self._leaves))
                                                 + " (which carry gradients here)"))
        if batch_size_of(x) is not None or batch_size_of(y) is not None:  # a batch
            if fn_cost:
                raise ValueError("`cost` is a callable: batches of point clouds take the named "
                                 "costs only (the batched kernels compute them inline); solve "
                                 "the problems one by one.")
            self.x, self.y = _check_batch_pair(x, y, check_float_dtype(dtype))
            self.batch_size = int(self.x.shape[0])
        else:
            if fn_cost and (is_cupy(x) or is_cupy(y)):  # the callable gets numpy arrays
                x, y = (to_host(v) if is_cupy(v) else v for v in (x, y))
            self.x, self.y = check_sample_pair(x, y, dtype=check_float_dtype(dtype))
        self._set_cost(parse_cost(cost, allow_callable=True))

    def _set_cost(self, c: Cost) -> None:
        self._cost = c
        # a callable is its own `cost` (and has no exponent p)
        self.cost, self.p = (c.fn, None) if c.is_callable else (c.name, c.p)

    @property
    def cost_is_callable(self) -> bool:
        """Whether the cost is a user callable (no kernel code: numpy blocks only)."""
        return self._cost.is_callable

    def _like(self, x, y):
        """A PointCloud on new coordinate arrays with this cost (no validation)."""
        g = PointCloud.__new__(PointCloud)
        g.x, g.y = x, y
        g._set_cost(self._cost)
        g.batch_size = self.batch_size
        return g

    def with_points(self, x, y) -> "PointCloud":
        """``PointCloud(x, y)`` with this cost and this cloud's working precision: its storage
        dtype and, for float32 GPU data, the float32 solve (``gpu_float32``), so that a solve
        on the new cloud (a batch's problem, a divergence's self-transport term) runs in the
        precision a solve on this one runs in.

        ``x`` and ``y`` are arrays of any library, as :class:`PointCloud` takes them, or this
        cloud's own stored arrays (``pc.x``, ``pc.y``, the objects themselves): these stand for
        the caller's arrays they hold, so ``pc.with_points(pc.x, pc.x)`` answers in the
        library, device and floating dtype of ``pc``'s points and carries the gradient of
        ``pc``'s ``x`` (a torch tensor that requires grad, an autograd box, a JAX tracer), as
        ``PointCloud(x, x)`` of the caller's ``x`` does. Beside an array of another library
        it is the TypeError naming both, as for the constructor."""
        own = tuple(_Own(self, "x") if v is self.x else _Own(self, "y") if v is self.y else v
                    for v in (x, y))
        g = PointCloud(*own, cost=self._cost, dtype=self.dtype)
        g.gpu_float32 = getattr(self, "gpu_float32", False)
        return g

    def problem(self, q: int) -> "PointCloud":
        """Problem ``q`` of a batched PointCloud: the single PointCloud ``(x[q], y[q])`` with
        this cost (views, no validation), answering as the batch does: in the library,
        device and floating dtype of its points, with the gradient of ``x[q]`` and ``y[q]``
        where the batch's points carry one (a torch tensor that requires grad, an autograd
        box, a JAX tracer), as ``PointCloud(x[q], y[q])`` of the caller's arrays does."""
        return _carry(self._problem(q), self,
                      {k: v[q] for k, v in getattr(self, "_leaves", {}).items()})

    def _problem(self, q: int) -> "PointCloud":
        """:meth:`problem` as numbers (views of the stored arrays), for the solvers."""
        one = self._like(self.x[q], self.y[q])
        one.batch_size = None
        return one

    @property
    def shape(self) -> tuple[int, int]:
        """(n, m), the size of each problem (of a batch too)."""
        return (int(self.x.shape[-2]), int(self.y.shape[-2]))

    @property
    def dim(self) -> int:
        return int(self.x.shape[-1])

    @property
    def dtype(self):
        return self.x.dtype

    @property
    def on_gpu(self) -> bool:
        return is_cupy(self.x)

    def cost_block(self, i0: int, i1: int):
        """Rows ``i0:i1`` of the cost matrix, ``C_ij = c(x_i, y_j)`` for ``i0 <= i < i1``, of
        shape ``(i1 - i0, m)`` (of each problem of a batch: ``(B, i1 - i0, m)``), computed by
        exact differences, free of overflow and underflow wherever the distance is
        representable (:func:`kantorovich.ot._costs.cost_block`); a callable cost's
        ``fn(x[i0:i1], y)``, checked. In the points' library, device and floating dtype, as
        :meth:`cost_matrix` (a callable's numpy result converted there too); where ``x`` or
        ``y`` carries a gradient, computed in their library, with it."""
        if getattr(self, "_leaves", None):
            return _tracked_costs(self, i0, i1)
        return self._for_caller(self._rows(i0, i1), f"cost_block({i0}, {i1})")

    def _rows(self, i0: int, i1: int):
        """:meth:`cost_block` as numbers (numpy or CuPy), for the solvers; of a batch, rows
        ``i0:i1`` of each problem, ``(B, i1 - i0, m)``."""
        _need_numbers(self, "cost_block()")
        if self.batch_size is not None:
            xp = xp_of(self.x)
            return xp.stack([self._problem(q)._rows(i0, i1) for q in range(self.batch_size)])
        return cost_block(self.x[i0:i1], self.y, self._cost)

    def cost_matrix(self):
        """The dense costs ``C_ij = c(x_i, y_j)``, ``(n, m)``, or ``(B, n, m)`` for a batch
        (MemoryError suggesting the online backends when too big).

        In the library, device and floating dtype of the points, those the solvers give their
        arrays (``f``, ``g``, ``plan``) back in:

        - float64 numpy and CuPy points: the numbers themselves (numpy, or CuPy on the GPU);
          float32 numpy points (stored in float64 unless ``dtype=float32``) give float32.
        - torch, JAX and array-API points without gradient: the same numbers, computed on the
          host (or the GPU) and converted to that library, on the points' device, in their
          floating dtype (float32 for half precision, the library's default floating dtype for
          integers; with ``dtype=float32`` of float64 points, the float32-rounded numbers in
          float64). Costs beyond float32's range (about 3.4e38) that become inf in a float32
          output are a KantorovichWarning saying so.
        - A callable cost: its ``fn(x, y)`` (numpy, as it is always called) converted likewise.
        - Where ``x`` or ``y`` carries a gradient (a torch tensor that requires grad or has a
          forward-mode tangent, an autograd box, a JAX tracer inside ``jax.grad`` or ``jit``),
          the matrix is computed in that library, in its dtype and on its device, and carries
          the gradient: a loss built from it differentiates in the points, as one built by
          hand from ``torch.cdist(x, y) ** 2`` would (gradient 0 at coincident points for
          p <= 1; docs/gradients.md, "Cost matrices of point clouds")."""
        self._check_memory()
        if getattr(self, "_leaves", None):
            return _tracked_costs(self)
        return self._for_caller(self._matrix(checked=True), "cost_matrix()")

    def _for_caller(self, C, what: str):
        """The numbers ``C`` (numpy or CuPy) in the points' library, device and floating dtype
        (:func:`kantorovich._interop.from_kernel`, as the solvers' arrays); themselves for
        float64 numpy and CuPy points. Finite costs that become inf in a float32 output are
        the KantorovichWarning naming ``what``."""
        c = getattr(self, "_caller", None)
        if c is None:
            return C
        from .._interop import _overflows_float32, from_kernel

        if _overflows_float32(C, c, False):
            from .._warnings import warn
            from ..exceptions import KantorovichWarning

            top = max(abs(float(C.min())), abs(float(C.max())))
            warn(f"PointCloud.{what}: costs of magnitude up to {top:.4g} (computed in float64) "
                 f"exceed the largest float32 ({float(np.finfo(np.float32).max):.4g}) and are "
                 "inf in the float32 output; pass float64 points or rescale them.",
                 KantorovichWarning)
        return from_kernel(C, c)

    def _check_memory(self) -> None:
        """The MemoryError of a dense cost that would not fit, saying what does."""
        n, m = self.shape
        hint = ("a callable `cost` is only ever called by blocks of rows by sinkhorn(..., "
                "backend='numpy') (memory O(block m)); the exact solvers need its whole matrix. "
                "A named cost runs online in every solver."
                if self.cost_is_callable else _ONLINE_HINT)
        nb = 1 if self.batch_size is None else self.batch_size
        check_dense_memory(nb * n, m, self.dtype.itemsize, device="cuda" if self.on_gpu else "cpu",
                           copies=2 + self.dim, hint=hint)

    def _matrix(self, checked: bool = False):
        """:meth:`cost_matrix` as numbers (numpy or CuPy), for the solvers (``checked``: the
        memory check done)."""
        _need_numbers(self, "cost_matrix()")
        if not checked:
            self._check_memory()
        return self._rows(0, self.shape[0])

    def cost_range(self) -> tuple[float, float]:
        """``(min C, max C)``, exactly, by blocks of rows (one pass over the costs): Python
        floats, without gradient; where ``x`` or ``y`` carries one, a KantorovichWarning says
        so (``cost_matrix()`` carries it: its ``min()`` and ``max()`` do too)."""
        if getattr(self, "_leaves", None) and not getattr(self, "_traced", ()):
            from .._warnings import warn
            from ..exceptions import KantorovichWarning

            names, what = _detached_what(self._leaves)
            warn(f"PointCloud.cost_range(): {names} {what}, but the range is two floats without "
                 "gradient (no gradient reaches the points through them); take the min and max "
                 "of cost_matrix(), which carries the gradient (docs/gradients.md).",
                 KantorovichWarning)
        return self._range()

    def _range(self) -> tuple[float, float]:
        """:meth:`cost_range`, for the solvers (no warning)."""
        _need_numbers(self, "cost_range()")
        return cost_range(self.x, self.y, self._cost)

    def diameter(self) -> float:
        """Upper bound on the costs: (diagonal of the joint bounding box)^p; for a callable
        cost, the exact range ``max C - min C`` (one pass over the costs)."""
        _need_numbers(self, "diameter()")
        return diameter(self.x, self.y, self._cost)

    def astype(self, dtype):
        """The same points stored in ``dtype`` (float32 or float64), as
        ``PointCloud(x, y, dtype=dtype)`` would store them: the solvers compute in ``dtype``
        (float32 GPU points keep their float32 solve, as for the constructor), and the new
        cloud answers as this one does, in the library, device and floating dtype of its
        points (not ``dtype``: that is the storage, as for the constructor's ``dtype=``), with
        their gradient (a JAX tracer's too: its zeros are cast, and the solvers rebuild the
        cloud from the tracer's values in ``dtype``). Coordinates beyond float32's range with
        ``dtype=float32`` are a ValueError naming the array."""
        return _carry(self._like(_cast(self.x, dtype, "x"), _cast(self.y, dtype, "y")), self)

    def to_device(self, device: str):
        """The same points on ``device`` ("cpu", or "cuda": CuPy), where the solvers then
        compute. The new cloud answers as this one does: torch, JAX and array-API points in
        their library, on their device and in their dtype, with their gradient (as a solver
        given ``backend="cuda"`` or ``"numpy"`` moves the points and answers on the caller's
        device), and float32 GPU points keep their float32 solve. numpy and CuPy are the
        storage itself: numpy points moved to the GPU answer in CuPy, CuPy points moved to the
        host in numpy, as clouds built from those arrays do."""
        from .._array_api import to_device

        return _carry(self._like(to_device(self.x, device), to_device(self.y, device)), self)

    def __repr__(self) -> str:
        batch = "" if self.batch_size is None else f"B={self.batch_size}, "
        return (f"PointCloud({batch}n={self.shape[0]}, m={self.shape[1]}, d={self.dim}, "
                f"cost={self._cost.name if self.cost_is_callable else self.cost!r}, dtype={self.dtype})")


def batch_size_of(M_or_points: Any) -> int | None:
    """B for a batch (a 3-D array, (B, n, m) costs or (B, n, d) points, or a batched
    PointCloud), None otherwise; reads the shape only."""
    if isinstance(M_or_points, PointCloud):
        return M_or_points.batch_size
    shape = getattr(M_or_points, "shape", None)
    if not isinstance(shape, tuple):  # (a class such as np.float32 has a `shape` descriptor)
        shape = None
    if shape is None and isinstance(M_or_points, (list, tuple)):
        try:
            shape = np.shape(M_or_points)
        except (TypeError, ValueError):  # ragged: the solver's own check says so
            return None
    return int(shape[0]) if shape is not None and len(shape) == 3 else None


def batch_size_or_raise(v: Any, name: str, one: str) -> int | None:
    """:func:`batch_size_of` for an argument that takes one problem (``one``, e.g. "(n, m)")
    or a batch (B, ...): an array of more than 3 dimensions is a ValueError saying both forms
    (rather than the single problem's "must have 2 dimensions")."""
    shape = getattr(v, "shape", None)
    if isinstance(shape, tuple) and len(shape) > 3:
        raise ValueError(f"`{name}` must be {one} for one problem or (B, {one[1:-1]}) for a batch "
                         f"of problems; got an array of shape {tuple(shape)}.")
    return batch_size_of(v)


def _check_batch_pair(x, y, dtype):
    """A batch of point-cloud pairs: x (B, n, d) and y (B, m, d) with the same B and d."""
    from .._validation import check_samples

    xa = check_samples(x, "x", dtype=dtype, ndim=None)
    ya = check_samples(y, "y", dtype=dtype, ndim=None)
    if xa.ndim != 3 or ya.ndim != 3:
        raise ValueError("a batch of point clouds needs `x` (B, n, d) and `y` (B, m, d); got "
                         f"shapes {tuple(xa.shape)} and {tuple(ya.shape)}.")
    if xa.shape[0] != ya.shape[0] or xa.shape[2] != ya.shape[2]:
        raise ValueError("`x` and `y` must have the same batch size B and dimension d; got "
                         f"shapes {tuple(xa.shape)} and {tuple(ya.shape)}.")
    if xa.shape[1] < 1 or ya.shape[1] < 1:
        raise ValueError("`x` and `y` must contain at least 1 point(s) per problem; got shapes "
                         f"{tuple(xa.shape)} and {tuple(ya.shape)}.")
    return xa, ya


def as_geometry(M_or_geometry: Any, *, dtype=None):
    """A geometry from a geometry (returned as is, cast to ``dtype``) or a bare cost matrix."""
    dtype = check_float_dtype(dtype)
    if isinstance(M_or_geometry, (DenseGeometry, PointCloud)):
        g = M_or_geometry
        return g.astype(dtype) if dtype is not None and g.dtype != np.dtype(dtype) else g
    if isinstance(M_or_geometry, (str, bytes)) or M_or_geometry is None:
        raise TypeError("`M_or_geometry` must be a cost matrix, a DenseGeometry or a PointCloud; "
                        f"got {describe(M_or_geometry)}.")
    # DenseGeometry(M_or_geometry), with the errors naming the argument the caller passed
    g = DenseGeometry.__new__(DenseGeometry)
    (M,) = _adopt(g, M_or_geometry, names=("M",))
    g.gpu_float32 = _gpu_float32(M)  # float32 costs on a GPU: the float32 solve, as DenseGeometry(M)
    g.C = check_cost_matrix(M, "M_or_geometry", dtype=dtype)
    return g
