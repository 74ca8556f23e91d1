"""Frozen dataclasses returned by solvers and estimators.

Convention: ``value`` first, then diagnostics. No flag changes the return type. Arrays live
on the caller's device (numpy or CuPy). ``to_dict()`` gives a JSON-friendly summary
(scalars and short lists; large arrays are summarised by their shape).
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "stack_results",
    "register_jax_pytree",
    "Result",
    "EMDResult",
    "SinkhornResult",
    "Wasserstein1DResult",
    "EstimateResult",
    "AssignmentResult",
]


def _jsonable(v: Any, max_len: int = 64) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, Result):  # a result held by another (sinkhorn_divergence's three)
        return v.to_dict()
    if isinstance(v, float):
        return v if np.isfinite(v) else str(v)
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        return _jsonable(v.item())
    if hasattr(v, "nnz") and hasattr(v, "shape"):  # scipy.sparse: np.asarray would give a 0-d object
        return {"shape": list(v.shape), "nnz": int(v.nnz), "format": str(getattr(v, "format", ""))}
    if hasattr(v, "shape") and hasattr(v, "dtype"):
        # (a torch tensor's `size` is a method, and it may carry a gradient or live on a GPU)
        if math.prod(int(k) for k in v.shape) <= max_len:
            from ._interop import to_kernel

            arr = to_kernel(v)
            arr = arr.get() if hasattr(arr, "get") else np.asarray(arr)
            return [_jsonable(x) for x in arr.ravel().tolist()] if arr.ndim else _jsonable(arr.item())
        return {"shape": [int(k) for k in v.shape], "dtype": str(v.dtype)}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v[:max_len]]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    return repr(v)


class _FinalMarginalError(float):
    """``SinkhornResult.marginal_error``: the final L1 marginal error, a float like
    ``EMDResult.marginal_error``. For one release it still answers as the history it used to
    be (indexing, ``len``, iteration), with a DeprecationWarning naming
    ``marginal_error_history``."""

    def __new__(cls, value, history=()):
        self = super().__new__(cls, value)
        self._history = tuple(history)
        return self

    def __reduce__(self):
        return type(self), (float(self), self._history)

    def _history_deprecated(self):
        from ._warnings import warn

        warn("SinkhornResult.marginal_error is the final error (a float); the errors at every check "
             "are SinkhornResult.marginal_error_history.", DeprecationWarning)
        return self._history

    def __getitem__(self, i):
        return self._history_deprecated()[i]

    def __len__(self):
        return len(self._history_deprecated())

    def __iter__(self):
        return iter(self._history_deprecated())


class Result:
    """Mixin: ``to_dict()`` for JSON reports; a JAX pytree once JAX is imported
    (:func:`register_jax_pytree`)."""

    def __new__(cls, *args, **kwargs):
        if cls not in _JAX_REGISTERED and sys.modules.get("jax") is not None:
            register_jax_pytree(cls)
        return super().__new__(cls)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _jsonable(getattr(self, f.name)) for f in dataclasses.fields(self)}


# ----------------------------------------------------------------------------- JAX pytrees
#: the classes registered with JAX's pytree registry so far
_JAX_REGISTERED: set[type] = set()
_JAX_LOCK = threading.Lock()


def register_jax_pytree(cls: type) -> None:
    """Register the result class ``cls`` (a :class:`Result` dataclass, or
    :class:`kantorovich._autodiff.TracedResult`) as a JAX pytree, once.

    Called when a result is made and JAX is already imported (:meth:`Result.__new__`), so that
    importing kantorovich never imports JAX. Which fields are leaves is decided per result by
    :func:`_is_data`: arrays, numbers, None and (nested) results are the children, so they are
    traced, mapped and returned by ``jax.jit`` / ``jax.vmap`` as any array; strings
    (``method``, ``backend``), ``info`` and other host objects (a lazy ``SinkhornPlan``, a
    ``scipy.sparse`` plan) are static auxiliary data, compared by their contents
    (:class:`_Static`), so a result passed into ``jax.jit`` recompiles when they differ and a
    cached trace never hands back another result's metadata. Unflattening sets the fields
    without ``__init__``: the leaves JAX puts back may be tracers or placeholders, on which
    ``__post_init__`` checks could not run."""
    with _JAX_LOCK:
        if cls in _JAX_REGISTERED:
            return
        import jax

        if dataclasses.is_dataclass(cls):
            flatten, unflatten = _flatten_result, functools.partial(_unflatten_result, cls)
        else:  # a TracedResult: its traced values by name
            flatten, unflatten = cls._tree_flatten, cls._tree_unflatten
        keyed = getattr(jax.tree_util, "register_pytree_with_keys", None)
        if keyed is not None:
            def with_keys(obj, flatten=flatten):
                children, aux = flatten(obj)
                return [(jax.tree_util.GetAttrKey(k), v) for k, v in zip(aux[0], children)], aux

            keyed(cls, with_keys, unflatten, flatten)
        else:  # an older JAX: the same tree, without key paths
            jax.tree_util.register_pytree_node(cls, flatten, unflatten)
        _JAX_REGISTERED.add(cls)


def _is_data(v: Any) -> bool:
    """A field value that is a pytree child: an array of any library (or a JAX tracer), a
    number, None, a result, or a tuple / list of these (``ci``, ``marginal_error_history``)."""
    from ._interop import kind_of

    if v is None or isinstance(v, (numbers.Number, np.number, np.bool_)):
        return True
    if isinstance(v, Result) or type(v).__name__ == "TracedResult":
        return True
    if isinstance(v, (tuple, list)):
        return all(_is_data(w) for w in v)
    return kind_of(v) is not None and not hasattr(v, "nnz")  # (scipy.sparse is no JAX leaf)


def _flatten_result(obj: Any):
    names, children, static = [], [], []
    for f in dataclasses.fields(obj):
        v = getattr(obj, f.name)
        if _is_data(v):
            names.append(f.name)
            children.append(v)
        else:
            static.append((f.name, _Static(v)))
    return children, (tuple(names), tuple(static))


def _unflatten_result(cls: type, aux: tuple, children: Any) -> Any:
    names, static = aux
    obj = object.__new__(cls)
    for k, v in zip(names, children):
        object.__setattr__(obj, k, v)
    for k, s in static:
        object.__setattr__(obj, k, s.value)
    return obj


class _Static:
    """A static field of a result pytree (a string, ``info``, a host object), equal to another
    when their contents are (:func:`_freeze`): JAX compares the auxiliary data of ``jax.jit``'s
    inputs to decide whether a compiled trace may be reused, and hashes it."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any):
        self.value = value
        self._key = None

    def key(self) -> Any:
        if self._key is None:
            self._key = _freeze(self.value)
        return self._key

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, _Static) and self.key() == other.key()

    def __hash__(self) -> int:
        return hash(self.key())

    def __repr__(self) -> str:
        return f"_Static({self.value!r})"


def _freeze(v: Any) -> Any:
    """A hashable stand-in for ``v`` that is equal for equal contents: floats by their bits
    (NaN equals NaN, so a result equals itself), numpy arrays by shape, dtype and bytes,
    containers element by element; any other object by its identity (the holder keeps it
    alive, so the identity is not reused meanwhile)."""
    if v is None or isinstance(v, (bool, int, str, bytes)):
        return (type(v).__name__, v)
    if isinstance(v, float):
        return ("float", float(v).hex())
    if isinstance(v, np.generic) and not isinstance(v, np.object_):
        return ("np", v.dtype.str, v.tobytes())
    if isinstance(v, np.ndarray) and v.dtype != object:
        return ("ndarray", v.shape, v.dtype.str, v.tobytes())
    if isinstance(v, (tuple, list)):
        return (type(v).__name__, tuple(_freeze(w) for w in v))
    if isinstance(v, dict):
        return ("dict", tuple((_freeze(k), _freeze(w)) for k, w in v.items()))
    if isinstance(v, Result):
        return (type(v).__name__, tuple(_freeze(getattr(v, f.name)) for f in dataclasses.fields(v)))
    return ("id", id(v))


@dataclass(frozen=True)
class EMDResult(Result):
    """Exact optimal transport between discrete measures.

    value : float          optimal cost <P, M>
    plan : array (n, m)    optimal coupling P (None when not requested)
    f, g : arrays (n,), (m,)  dual potentials with f_i + g_j <= M_ij
    duality_gap : float    <P, M> - (<a, f> + <b, g>), >= 0 up to rounding
    dual_violation : float max(0, max_ij f_i + g_j - M_ij)
    method : str           solver used ("network_simplex", "highs", "auction", ...)
    backend : str
    certified : bool       dual feasibility and marginals checked within tolerance
    marginal_error : float L1 error of the plan's marginals
    info : dict            solver-specific extras (timings, iterations)
    """

    value: float
    plan: Any = None
    f: Any = None
    g: Any = None
    duality_gap: float = float("nan")
    dual_violation: float = float("nan")
    method: str = ""
    backend: str = "numpy"
    certified: bool = False
    marginal_error: float = float("nan")
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class AssignmentResult(Result):
    """Exact assignment (n = m, uniform weights) with a certificate.

    value : float        mean cost (1/n) sum_i C[i, perm[i]] (uniform weights 1/n)
    perm : int array     row i is matched to column perm[i]
    f, g : arrays        dual potentials (prices) in cost units of the uniform-weight problem
    duality_gap : float  value - (mean f + mean g) after the final step
    eps_bound : float    eps_final, the certified bound on the pre-finishing suboptimality
                         of ``value`` (n * eps_final on the summed cost)
    exact : bool         True when optimality is proven (integer costs with eps < 1/n, or a
                         finishing step closed the gap)
    """

    value: float
    perm: Any = None
    f: Any = None
    g: Any = None
    duality_gap: float = float("nan")
    eps_bound: float = float("nan")
    exact: bool = False
    method: str = "auction"
    backend: str = "numpy"
    n_iter: int = 0
    info: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SinkhornResult(Result):
    """Entropic OT by log-domain Sinkhorn.

    value : float               transport cost <P, C> of the entropic plan
    objective : float           regularised objective <P, C> + eps KL(P | a x b) = <a,f> + <b,g>
    f, g : arrays               dual potentials
    marginal_error : float      L1 marginal error at the last check (nan when none ran), as
                                in EMDResult
    marginal_error_history : tuple  L1 marginal errors at every check
    n_iter : int
    converged : bool
    plan : array, SinkhornPlan or None  the plan when asked (plan=True): a dense array for a
                                dense cost, a lazy ``SinkhornPlan`` for a ``PointCloud``
                                (``np.asarray(plan)`` materialises it)
    eps : float                 final eps
    backend : str
    info : dict                 eps schedule, timings
    """

    value: float
    objective: float = float("nan")
    f: Any = None
    g: Any = None
    marginal_error: float = float("nan")
    n_iter: int = 0
    converged: bool = False
    plan: Any = None
    eps: float = float("nan")
    backend: str = "numpy"
    info: dict = field(default_factory=dict)
    marginal_error_history: tuple = ()

    def __post_init__(self):
        hist, last = tuple(self.marginal_error_history), self.marginal_error
        if getattr(last, "ndim", 0) >= 1:  # a batch of problems: each one's final error
            return
        if isinstance(last, (tuple, list)):  # the layout before marginal_error_history
            hist, last = tuple(last), float("nan")
        if hist and last != last:  # the final error defaults to the last check's
            last = hist[-1]
        object.__setattr__(self, "marginal_error_history", hist)
        object.__setattr__(self, "marginal_error", _FinalMarginalError(last, hist))


@dataclass(frozen=True)
class Wasserstein1DResult(Result):
    """1-D W_p with its plan and potentials (north-west corner rule)."""

    value: float
    p: float = 1.0
    plan: Any = None
    f: Any = None
    g: Any = None
    backend: str = "numpy"


@dataclass(frozen=True)
class EstimateResult(Result):
    """A divergence estimated from samples.

    value : float        the estimate (may be +inf when flagged infinite)
    stderr : float       standard error (bootstrap or analytic, see ``info``)
    ci : (float, float)  interval at ``ci_level``; for the kNN estimators by default
                         (``error_bars="terms"``) it resamples the per-point terms at fixed
                         neighbour distances, so it leaves out the estimator's bias, the
                         spread that comes from ``y`` in KL and the dependence between
                         terms, and covers the truth less often than ``ci_level`` says;
                         ``error_bars="halves"`` recomputes the estimate on random halves
                         of x and y and holds all but the bias (docs/estimators.md "Error
                         bars"; ``info['error_bars']`` says which ran)
    n, m : int           sample sizes
    method : str
    infinite : bool      True when the data indicate an infinite true divergence (disjoint
                         supports): ``value`` is then +inf and ``info['finite_value']`` holds
                         the raw number the estimator produced
    """

    value: float
    stderr: float = float("nan")
    ci: tuple = (float("nan"), float("nan"))
    n: int = 0
    m: int = 0
    method: str = ""
    infinite: bool = False
    ci_level: float = 0.95
    info: dict = field(default_factory=dict)


# ----------------------------------------------------------------------------- batches

def stack_results(res: list):
    """One result of the type of ``res[0]`` whose fields stack those of the B results ``res``:
    scalars become (B,) arrays (bools a bool array), arrays gain a leading B axis (CuPy stays
    CuPy), a string shared by all stays a string (else a tuple of them), tuples become a tuple
    of tuples, ``info`` becomes ``{"batch_size": B, "per_problem": [each info]}``; bare numbers
    become a (B,) array."""
    first = res[0]
    if not dataclasses.is_dataclass(first):  # a bare number per problem
        return np.asarray([float(r) for r in res])
    out = {}
    for fld in dataclasses.fields(first):
        vals = [getattr(r, fld.name) for r in res]
        v0 = vals[0]
        if fld.name == "info":
            out["info"] = {"batch_size": len(res), "per_problem": vals}
        elif all(v is None for v in vals):
            out[fld.name] = None
        elif isinstance(v0, str):
            out[fld.name] = v0 if all(v == v0 for v in vals) else tuple(vals)
        elif isinstance(v0, tuple):
            out[fld.name] = tuple(vals)
        elif isinstance(v0, (bool, np.bool_)):
            out[fld.name] = np.asarray(vals, dtype=bool)
        elif np.ndim(v0) == 0:
            out[fld.name] = np.asarray(vals)
        else:
            out[fld.name] = _stack_arrays(vals)
    return type(first)(**out)


def _stack_arrays(vals):
    from ._array_api import is_cupy

    if is_cupy(vals[0]):
        import cupy

        return cupy.stack(vals)
    return np.stack([np.asarray(v) for v in vals])
