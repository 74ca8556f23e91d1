"""The caller's arrays: any array in, the same kind of array out.

Every public function of :mod:`kantorovich.ot` and :mod:`kantorovich.divergences` is exported
through :func:`interop`. It

1. finds the array arguments and the namespace, device and floating dtype they share
   (:func:`caller`): numpy, CuPy, torch (CPU or CUDA), JAX, or any array-API-standard array
   (``array_api_strict`` is the test). Inputs that mix namespaces or devices raise a
   ``TypeError`` naming both;
2. hands the data to the kernels **without a copy** where the device matches
   (:func:`to_kernel`): a torch or JAX CPU array becomes a numpy view of the same buffer, a
   torch or JAX CUDA array a CuPy view through DLPack, an array-API array a numpy view through
   DLPack. (The solvers' input checks may still copy: a JAX buffer is read-only, and float
   conversion of int data is a copy; see docs/arrays.md.)
3. gives the result back in the caller's namespace, on its device and in its floating dtype
   (:func:`from_kernel`, :func:`wrap_result`): arrays of a result (plan, f, g, perm, ...) and its
   scalar ``value`` / ``objective`` (a 0-d array of that namespace; for numpy a numpy float64
   scalar, which is a Python ``float``). Diagnostics (errors, gaps, counts, flags) stay Python
   numbers.

Float32 in gives float32 out; the kernels may accumulate wider (float64 sums over float32
data) where that is what makes the value right, and cast on the way out. A ``dtype=``
argument, where a function has one, sets the output dtype instead.

Gradients: when a torch input requires grad, or an input is an ``autograd`` box or a JAX
tracer, the call goes through :func:`kantorovich._autodiff.call`, which runs the solver on
detached views and makes the OT values (``value``, ``objective``) nodes of the caller's graph
(a ``jax.custom_jvp`` output for JAX), differentiated by the envelope theorem from the
returned potentials and plan (implicitly for ``sinkhorn(...).value``; docs/gradients.md).
Functions without a gradient rule give detached torch results.

Calls with only numpy arrays, lists and Python numbers in float64 (or integer) take the direct
path: the function runs exactly as written, with no conversion at all.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import _autodiff
from ._validation import note_widened
from ._text import with_article

__all__ = ["Caller", "caller", "to_kernel", "from_kernel", "wrap_result", "interop", "kind_of",
           "signal_exceptions"]

#: result fields that are the scalar answer (converted to a 0-d array of the caller's namespace)
SCALAR_FIELDS = ("value", "objective")
#: result fields that describe the solve rather than answer it: never converted, so they stay
#: Python numbers for one problem and numpy arrays (float64, int, bool) for a batch
DIAGNOSTIC_FIELDS = ("duality_gap", "dual_violation", "certified", "marginal_error", "eps_bound",
                     "exact", "n_iter", "converged", "eps", "stderr", "ci", "n", "m", "infinite",
                     "ci_level", "p")


def kind_of(x: Any) -> str | None:
    """The namespace family of an array (``"numpy"``, ``"cupy"``, ``"torch"``, ``"jax"``,
    ``"array_api"``), or None for Python numbers, lists, tuples, None and other objects.

    Decided from the type's module, so no optional library is imported to answer.
    """
    if x is None or isinstance(x, (numbers.Number, str, bytes, list, tuple, dict, type, np.dtype)):
        return None  # (classes such as np.float32 passed as dtype= carry unbound array methods)
    if isinstance(x, np.ndarray) or isinstance(x, np.generic):
        return "numpy"
    top = type(x).__module__.split(".")[0]
    if top == "cupy":
        return "cupy"
    if top == "torch" and hasattr(x, "data_ptr"):
        return "torch"
    if top in ("jax", "jaxlib"):
        # a typed PRNG key (jax.random.key) is no data and has no numpy view: as an `rng` it
        # reaches check_rng, which names it
        return None if str(getattr(x, "dtype", "")).startswith("key<") else "jax"
    if hasattr(x, "__array_namespace__"):
        return "array_api"
    return None


#: the device key of a JAX tracer: its device is not known while JAX traces
_TRACED = "jax tracer"


def _device_key(x: Any, kind: str) -> str:
    """A comparable description of where ``x`` lives (``"cpu"``, ``"cuda:0"``, ...)."""
    if kind == "numpy":
        return "cpu"
    if kind == "cupy":
        return f"cuda:{int(x.device.id)}"
    if kind == "torch":
        d = x.device
        return "cpu" if d.type == "cpu" else f"{d.type}:{0 if d.index is None else d.index}"
    if kind == "jax":
        if _autodiff.is_tracer(x):
            return _TRACED
        try:
            devs = tuple(x.devices())
        except Exception:  # no devices to ask
            return "jax"
        plats = sorted({getattr(d, "platform", "cpu") for d in devs})
        if plats == ["cpu"]:  # host memory, also sharded or replicated over host devices
            return "cpu"
        if len(devs) > 1:  # sharded or replicated over GPUs (or other accelerators)
            return f"{len(devs)} {'/'.join(plats)} devices"
        plat = plats[0]
        return f"cuda:{getattr(devs[0], 'id', 0)}" if plat == "gpu" else plat
    return str(getattr(x, "device", "cpu"))


@dataclass(frozen=True)
class Caller:
    """Where the caller's arrays live and what type comes back.

    kind : "numpy" | "cupy" | "torch" | "jax" | "array_api"
    xp : the caller's namespace module (``numpy``, ``cupy``, ``torch``, ``jax.numpy``, or the
        array-API module of the input)
    device : the caller's device object (None for numpy)
    device_key : comparable text form of ``device`` ("cpu", "cuda:0", ...)
    dtype : the floating dtype of the output in the caller's namespace, or None for float64
        numpy (the direct path)
    requires_grad : a torch input requires grad or carries a forward-mode tangent (see
        :mod:`kantorovich._autodiff`)
    floating : ``dtype`` is a floating input's dtype, not the library's default floating dtype
        standing in for integer or boolean input (which a floating input overrides)
    """

    kind: str = "numpy"
    xp: Any = np
    device: Any = None
    device_key: str = "cpu"
    dtype: Any = None
    requires_grad: bool = False
    floating: bool = True

    @property
    def direct(self) -> bool:
        """True when no conversion is needed in or out (numpy in float64)."""
        return self.kind == "numpy" and self.dtype is None


NUMPY = Caller()


def _float_dtype_name(x: Any, kind: str) -> str | None:
    """"float32" / "float64" / "float16"... for floating arrays, None for other dtypes."""
    dt = getattr(x, "dtype", None)
    if dt is None:
        return None
    # torch and array-API dtypes print with their module ("torch.float32",
    # "array_api_strict.float32") and need not have a ``name``
    name = getattr(dt, "name", None) or str(dt).rsplit(".", 1)[-1]
    return name if name.startswith("float") or name == "bfloat16" else None


def caller(*args: Any, names: tuple[str, ...] | None = None, tracers: bool = False) -> Caller:
    """The namespace, device and floating dtype shared by the array arguments ``args``.

    Python numbers, lists, tuples and None are neutral. Geometry objects (anything with a
    ``_caller`` attribute, as ``PointCloud`` built from torch tensors) contribute theirs; one
    of float64 numpy arrays (``_numpy_input``) counts as numpy.
    Raises TypeError naming both sides when namespaces or devices differ. A JAX tracer is a
    TypeError naming it unless ``tracers=True`` (the public functions, whose gradient rules
    take them, :mod:`kantorovich._autodiff`); it matches a JAX array on any device.
    """
    found: list[tuple[str, Caller, str]] = []
    zero_d: set[int] = set()  # positions in ``found`` of 0-d torch tensors
    for i, a in enumerate(args):
        name = names[i] if names is not None and i < len(names) else f"argument {i}"
        a = _autodiff.value_of(a)  # an autograd box counts as the array it holds
        c = getattr(a, "_caller", None)
        if isinstance(c, Caller):
            found.append((name, c, c.kind))
            continue
        if getattr(a, "_numpy_input", False) is True:  # a geometry of float64 numpy arrays
            found.append((name, NUMPY, "numpy"))
            continue
        kind = kind_of(a)
        if kind is None:
            continue
        if kind == "jax" and _autodiff.is_tracer(a) and not tracers:
            raise TypeError(
                f"`{name}` is a JAX tracer (inside jax.grad, jit or vmap): this function needs "
                "concrete arrays and cannot be traced by JAX; call it outside the "
                "transformation (the OT values of kantorovich.ot take JAX gradients: "
                "docs/gradients.md).")
        if kind == "torch":
            _check_torch(a, name)
            if getattr(a, "ndim", None) == 0:
                zero_d.add(len(found))
        found.append((name, _single(a, kind), kind))
    if not found:
        return NUMPY
    first_name, first, _ = found[0]
    for name, c, _ in found[1:]:
        if c.kind != first.kind:
            raise TypeError(
                f"`{first_name}` is {with_article(first.kind)} array but `{name}` is "
                f"{with_article(c.kind)} array; "
                f"pass arrays of one library (convert one of them first)."
            )
        if c.device_key != first.device_key and _TRACED not in (c.device_key, first.device_key):
            raise TypeError(
                f"`{first_name}` is on {first.device_key} but `{name}` is on {c.device_key}; "
                f"move them to one device first."
            )
    # integer / boolean torch and JAX input stands for the library's default floating dtype
    # only when no input is floating: float32 points with integer weights (counts) give
    # float32, as torch's and JAX's own promotion does
    floating = any(c.floating for _, c, _ in found if c.dtype is not None)
    typed = [k for k, (_, c, _) in enumerate(found) if c.dtype is not None and c.floating == floating]
    if first.kind == "torch" and any(k not in zero_d for k in typed):
        # torch's own rule: a 0-d tensor (a setting such as eps, or a scalar parameter) does
        # not widen tensors with dimensions of its category (float32 points and a float64
        # 0-d eps give float32, as float32 + 0-d float64 does in torch)
        typed = [k for k in typed if k not in zero_d]
    dtypes = [found[k][1].dtype for k in typed]
    out_dtype = None
    if dtypes:
        out_dtype = dtypes[0]
        for d in dtypes[1:]:
            out_dtype = _wider(first, out_dtype, d)
    if first.kind == "numpy" and out_dtype is not None and np.dtype(out_dtype) == np.float64:
        out_dtype = None  # float64 numpy: the direct path
    return dataclasses.replace(first, dtype=out_dtype, floating=floating or not dtypes,
                               requires_grad=any(c.requires_grad for _, c, _ in found))


def _check_torch(a: Any, name: str) -> None:
    """A torch tensor the kernels can take: dense (strided), on the CPU or a CUDA device; a
    sparse tensor or another device (meta, mps, xpu) is the TypeError naming it (torch's own
    'can't convert Sparse layout' or a missing-CuPy error named nothing)."""
    layout = str(getattr(a, "layout", "torch.strided"))
    if layout != "torch.strided":
        raise TypeError(f"`{name}` is a torch tensor of layout {layout}; pass a dense tensor "
                        "(`.to_dense()`).")
    dev = getattr(getattr(a, "device", None), "type", "cpu")
    if dev not in ("cpu", "cuda"):
        raise TypeError(f"`{name}` is a torch tensor on the {dev!r} device; kantorovich computes "
                        "on the CPU or a CUDA GPU: move it there first (`.cpu()`).")


def _wider(c: Caller, d1: Any, d2: Any) -> Any:
    if c.kind == "torch":
        import torch

        return torch.promote_types(d1, d2)
    try:
        return c.xp.result_type(d1, d2)
    except Exception:
        return np.result_type(np.dtype(str(d1)), np.dtype(str(d2)))


#: half-precision inputs come back in float32: the kernels have no half-precision path and a
#: float16 result would overflow at 65504 where the value is finite
_HALF = ("float16", "bfloat16")


def _single(a: Any, kind: str) -> Caller:
    dname = _float_dtype_name(a, kind)
    c = _single_raw(a, kind, dname)
    if dname in _HALF:
        c = dataclasses.replace(c, dtype=np.dtype("float32") if kind == "numpy"
                                else getattr(c.xp, "float32"))
    return c


def _functorch_wrapped(torch, a: Any) -> bool:
    """A tensor inside a ``torch.func`` transform (it has no storage of its own)."""
    try:
        return bool(torch._C._functorch.is_functorch_wrapped_tensor(a))
    except (AttributeError, TypeError, RuntimeError):  # another torch: assume a plain tensor
        return False


def _single_raw(a: Any, kind: str, dname: str | None) -> Caller:
    if kind == "numpy":
        # float64 (and integer) numpy input takes the direct path; float32 comes back as float32
        return Caller(kind="numpy", xp=np, dtype=None if dname is None else a.dtype)
    if kind == "cupy":
        import cupy

        dt = None if dname is None else a.dtype
        return Caller(kind="cupy", xp=cupy, device=a.device, device_key=_device_key(a, kind), dtype=dt)
    if kind == "torch":
        import torch

        if _functorch_wrapped(torch, a):
            raise TypeError(
                "torch.func transforms (torch.func.grad, vmap, jacrev, jacfwd, hessian, jvp, "
                "vjp) cannot trace kantorovich's solvers, which run outside torch on the "
                "tensors' data: use torch.autograd (`.backward()`, `torch.autograd.grad`, "
                "`torch.autograd.functional.jacobian`, forward-mode dual tensors) for "
                "derivatives and pass a batch (a leading axis B) for many problems at once "
                "(docs/gradients.md, docs/batch.md).")
        dt = a.dtype if dname is not None else torch.get_default_dtype()
        return Caller(kind="torch", xp=torch, device=a.device, device_key=_device_key(a, kind),
                      dtype=dt, requires_grad=_autodiff.differentiable(a),
                      floating=dname is not None)
    if kind == "jax":
        import jax.numpy as jnp

        dev = None
        try:
            (dev,) = tuple(a.devices())
        except Exception:
            pass
        dt = a.dtype if dname is not None else jnp.result_type(float)
        return Caller(kind="jax", xp=jnp, device=dev, device_key=_device_key(a, kind), dtype=dt,
                      floating=dname is not None)
    xp = a.__array_namespace__()
    dev = getattr(a, "device", None)
    dt = a.dtype if dname is not None else _default_float(xp, dev)
    return Caller(kind="array_api", xp=xp, device=dev, device_key=_device_key(a, kind), dtype=dt,
                  floating=dname is not None)


def _device_dtype(xp: Any, device: Any, name: str, kind: str) -> Any:
    """The dtype ``name`` of the array-API namespace ``xp`` where ``device`` has it, else the
    device's default of that kind (``"real floating"``, ``"integral"``): array_api_strict's
    "no_float64" and "no_x64" devices have no float64 (nor int64). None where the namespace
    does not say (then ``name`` is asked for as it is)."""
    try:
        info = xp.__array_namespace_info__()
        have = info.dtypes(device=device)
    except Exception:
        return getattr(xp, name, None)
    return have[name] if name in have else info.default_dtypes(device=device)[kind]


def _default_float(xp: Any, device: Any) -> Any:
    """The array-API namespace's default real floating dtype on ``device`` (float64 unless the
    device has none: ``array_api_strict``'s "no_float64"), or None where it does not say."""
    try:
        return xp.__array_namespace_info__().default_dtypes(device=device)["real floating"]
    except Exception:
        return None


def to_kernel(x: Any) -> Any:
    """``x`` as a numpy (host) or CuPy (CUDA) array, sharing memory where the device matches.

    numpy, CuPy, Python numbers, lists and other objects are returned unchanged.
    """
    kind = kind_of(x)
    if kind in (None, "numpy", "cupy"):
        return x
    if kind == "torch":
        t = x.detach()
        bf16 = str(t.dtype) == "torch.bfloat16"
        if bf16:  # numpy has no bfloat16: a float32 copy
            t = t.float()
        if t.device.type == "cpu":
            out = t.resolve_conj().resolve_neg().numpy()
        else:
            import cupy

            out = cupy.from_dlpack(t)
        return note_widened(out, "bfloat16") if bf16 else out
    if kind == "jax":
        bf16 = str(x.dtype) == "bfloat16"
        key = _device_key(x, kind)
        if bf16:  # numpy (whose ml_dtypes bfloat16 is no float dtype) and CuPy have no
            # bfloat16: a float32 copy, as for torch; made on the host for a host array, and
            # eagerly on a device (inside jax.jit a concrete array's astype would be traced)
            if key == "cpu":
                return note_widened(np.asarray(x).astype(np.float32), "bfloat16")
            import jax

            with jax.ensure_compile_time_eval():
                x = x.astype("float32")
        if key.startswith("cuda:"):
            import cupy

            out = cupy.from_dlpack(x)
        else:  # a read-only view of a CPU buffer; an array over several devices (its shards
            # gathered) or on another accelerator is copied to the host
            out = np.asarray(x)
        return note_widened(out, "bfloat16") if bf16 else out
    # array-API arrays: DLPack to numpy on the host; anything else through np.asarray
    try:
        return np.from_dlpack(x)
    except Exception:
        return np.asarray(x)


def from_kernel(arr: Any, c: Caller, *, scalar: bool = False) -> Any:
    """A numpy / CuPy array or number from the kernels, in the caller's namespace.

    ``scalar=True`` makes a 0-d array (for numpy: a numpy scalar of the output dtype; float64
    is a Python ``float``). Integer arrays keep their integer dtype; floating ones take
    ``c.dtype``.
    """
    if arr is None:
        return None
    if c.kind == "numpy":
        if scalar:  # a numpy scalar value is always a Python float (np.float64)
            return np.float64(arr)
        if isinstance(arr, np.ndarray) and arr.dtype.kind == "f" and c.dtype is not None:
            with np.errstate(over="ignore"):  # wrap_result names what overflows float32
                return arr.astype(c.dtype, copy=False)
        return arr
    is_float = np.dtype(getattr(arr, "dtype", np.float64)).kind == "f" if not isinstance(
        arr, (bool, int, np.integer)) else False
    if c.kind == "cupy":
        import cupy

        with cupy.cuda.Device(c.device.id if c.device is not None else 0):
            out = cupy.asarray(arr)
            return out.astype(c.dtype, copy=False) if is_float and c.dtype is not None else out
    if c.kind == "torch":
        import torch

        if type(arr).__module__.split(".")[0] == "cupy":
            out = torch.from_dlpack(arr)
        else:
            out = torch.from_numpy(np.array(arr, copy=True) if np.ndim(arr) == 0
                                   else np.ascontiguousarray(arr))
        if is_float:
            out = out.to(dtype=c.dtype)
        return out.to(device=c.device)
    if c.kind == "jax":
        import jax
        import jax.numpy as jnp

        host = arr.get() if hasattr(arr, "get") else np.asarray(arr)
        with np.errstate(over="ignore"):  # wrap_result names what overflows float32
            out = jnp.asarray(host, dtype=c.dtype if is_float else None)
        return jax.device_put(out, c.device) if c.device is not None else out
    # array API standard: asarray from the host buffer, on the caller's device
    host = arr.get() if hasattr(arr, "get") else np.asarray(arr)
    kw = {"device": c.device} if c.device is not None else {}
    if is_float and c.dtype is not None:
        kw["dtype"] = c.dtype
    elif np.asarray(host).dtype.kind in "iu":  # a permutation, counts: int64 where the device
        # has it, its default integer dtype where not (array_api_strict's "no_x64")
        kw["dtype"] = _device_dtype(c.xp, c.device, np.asarray(host).dtype.name, "integral")
    return c.xp.asarray(host, **kw)


def _is_kernel_array(v: Any) -> bool:
    return isinstance(v, np.ndarray) or type(v).__module__.split(".")[0] == "cupy"


#: the smallest magnitude that rounds to infinity in float32 (halfway between its largest
#: finite number, 2^128 - 2^104, and 2^128)
_FLOAT32_OVERFLOW = 2.0 ** 128 - 2.0 ** 103


def _overflows_float32(v: Any, c: Caller, scalar: bool) -> bool:
    """Whether a float64 kernel result ``v`` (array or number) has finite entries that become
    inf in the caller's float32 (checked only when the output narrows to float32; a numpy
    caller's scalar stays a Python float)."""
    if c.dtype is None or str(c.dtype).rsplit(".", 1)[-1] != "float32" or (scalar and c.kind == "numpy"):
        return False
    if isinstance(v, (float, np.floating)) and np.ndim(v) == 0:
        return bool(np.isfinite(v)) and abs(float(v)) >= _FLOAT32_OVERFLOW
    dt = getattr(v, "dtype", None)
    if dt is None or np.dtype(dt).kind != "f" or np.dtype(dt).itemsize <= 4 or v.size == 0:
        return False
    if isinstance(v, np.ndarray):
        xp = np
    else:
        import cupy as xp
    # two reductions without temporaries settle the usual case (a plan, potentials well inside
    # float32's range); NaN fails the comparison and falls through to the entry-wise test
    if max(abs(float(v.min())), abs(float(v.max()))) < _FLOAT32_OVERFLOW:
        return False
    return bool(xp.any((xp.abs(v) >= _FLOAT32_OVERFLOW) & xp.isfinite(v)))


def _warn_overflow(names: list[str]) -> None:
    from ._warnings import warn
    from .exceptions import KantorovichWarning

    what = "the result" if names == ["result"] else \
        " and ".join(", ".join(f"`{n}`" for n in names).rsplit(", ", 1)) + " of the result"
    warn(f"{what} exceed{'s' if len(names) == 1 else ''} the largest float32 "
         f"({float(np.finfo(np.float32).max):.4g}) and {'is' if len(names) == 1 else 'are'} inf in "
         "the float32 output (the computation, in float64, is finite); pass float64 input (or "
         "`dtype=float64` where the function has it) or rescale the data.", KantorovichWarning)


def wrap_result(res: Any, c: Caller) -> Any:
    """Convert a function's return value for the caller.

    Frozen result dataclasses get their array fields and their scalar ``value`` /
    ``objective`` converted (``dataclasses.replace``); tuples are converted element-wise;
    a bare array or float becomes an array / 0-d array of the caller's namespace. Finite
    float64 numbers beyond float32's range that become inf in a float32 output are named in a
    KantorovichWarning (one per call).
    """
    if c.direct:
        return res
    overflow: list[str] = []
    out = _wrap(res, c, overflow, "result")
    if overflow:
        _warn_overflow(overflow)
    return out


def _wrap(res: Any, c: Caller, overflow: list[str], name: str, prefix: str = "") -> Any:
    if dataclasses.is_dataclass(res) and not isinstance(res, type):
        changes = {}
        for f in dataclasses.fields(res):
            v = getattr(res, f.name)
            if f.name in DIAGNOSTIC_FIELDS:
                continue
            if dataclasses.is_dataclass(v) and not isinstance(v, type):
                # a result inside a result (sinkhorn_divergence's ot_ab, ot_aa, ot_bb): the
                # same rules, so its arrays are not left as float64 numpy for a torch caller
                changes[f.name] = _wrap(v, c, overflow, name, f"{prefix}{f.name}.")
                continue
            scalar = f.name in SCALAR_FIELDS and isinstance(v, (float, np.floating, np.ndarray)) \
                and np.ndim(v) == 0
            if scalar or _is_kernel_array(v):  # (numpy scalars are not: np.generic is no ndarray)
                if _overflows_float32(v, c, scalar):
                    overflow.append(prefix + f.name)
                changes[f.name] = from_kernel(v, c, scalar=scalar)
        return dataclasses.replace(res, **changes) if changes else res
    if isinstance(res, tuple):
        return tuple(_wrap(r, c, overflow, f"{name}[{i}]") for i, r in enumerate(res))
    if isinstance(res, (float, np.floating)) or _is_kernel_array(res):
        scalar = isinstance(res, (float, np.floating))
        if _overflows_float32(res, c, scalar):
            overflow.append(name)
        return from_kernel(res, c, scalar=scalar)
    return res


def signal_exceptions(fn: Callable) -> Callable:
    """``fn`` with the exception of a signal handler (Ctrl-C's KeyboardInterrupt, a timeout
    handler's error) raised as itself.

    Some numba kernels call back into Python while they run (numba unpickles constants
    lazily), and a signal handler that runs there, as Ctrl-C's does during a long kernel, sets
    its exception inside the compiled call: numba's dispatcher then raises
    ``SystemError("... returned a result with an exception set")`` caused by it, which
    ``except KeyboardInterrupt`` does not catch."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except SystemError as exc:
            cause = exc.__cause__
            if cause is not None and str(exc).endswith("returned a result with an exception set"):
                raise cause from None
            raise

    return wrapped


def interop(fn: Callable) -> Callable:
    """Wrap a public function: the caller's arrays in, the same kind of arrays out.

    See the module docstring for the rules. The wrapper keeps ``fn``'s name, docstring and
    signature; calls with only float64 numpy arrays, lists and numbers run ``fn`` directly.
    """
    if getattr(fn, "__kantorovich_interop__", False):
        return fn
    try:
        sig = inspect.signature(fn)
        params = tuple(sig.parameters)
        # a ``dtype=`` of its own, or one forwarded through ``**kwargs`` (sinkhorn_divergence's
        # to sinkhorn): either names the output dtype
        has_dtype = "dtype" in params or any(
            p.kind is inspect.Parameter.VAR_KEYWORD for p in sig.parameters.values())
    except (TypeError, ValueError):  # builtins
        params = ()
        has_dtype = False

    @functools.wraps(fn)
    @signal_exceptions
    def wrapper(*args, **kwargs):
        names = tuple(params[i] if i < len(params) else f"argument {i}" for i in range(len(args)))
        c = caller(*args, *kwargs.values(), names=names + tuple(kwargs), tracers=True)
        if not c.direct and has_dtype and kwargs.get("dtype") is not None:
            c = dataclasses.replace(c, dtype=_caller_dtype(c, kwargs["dtype"]))
        if _autodiff.wants_grad(c.requires_grad, args, kwargs):
            out = _autodiff.call(fn, args, kwargs, c)
            if out is not NotImplemented:
                return out
        if c.direct:
            return fn(*args, **kwargs)
        args = tuple(to_kernel(a) for a in args)
        kwargs = {k: to_kernel(v) for k, v in kwargs.items()}
        return wrap_result(fn(*args, **kwargs), c)

    wrapper.__kantorovich_interop__ = True
    return wrapper


def _caller_dtype(c: Caller, dtype: Any) -> Any:
    """The caller-namespace dtype named by a ``dtype=`` argument (numpy's, a name, or another
    library's: ``torch.float64``); what is not a float32 / float64 dtype is the error naming
    ``dtype``."""
    from ._validation import check_float_dtype

    name = check_float_dtype(dtype).name
    if c.kind == "numpy":
        return None if name == "float64" else np.dtype(name)
    if c.kind == "jax":
        # JAX holds float64 only with jax_enable_x64: without it a float64 output is float32,
        # as jnp.asarray gives it; said once here, for jit too (whose callbacks must declare
        # the dtype they return and refused a float64 one)
        import jax

        from ._warnings import warn
        from .exceptions import KantorovichWarning

        got = np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(name)))
        if got.name != name:
            warn(f"`dtype`={name} sets the solve's precision, but JAX arrays are {name} only "
                 f"with jax.config.update(\"jax_enable_x64\", True): the results come back in "
                 f"{got.name}.", KantorovichWarning)
        name = got.name
    if c.kind == "array_api":
        # a device without float64 (array_api_strict's "no_float64"), as JAX without x64
        got = _device_dtype(c.xp, c.device, name, "real floating")
        if got is not None and got != getattr(c.xp, name, None):
            from ._warnings import warn
            from .exceptions import KantorovichWarning

            warn(f"`dtype`={name} sets the solve's precision, but the arrays' device "
                 f"({c.device}) has no {name}: the results come back in its default "
                 f"floating dtype, {got}.", KantorovichWarning)
        return got
    return getattr(c.xp, name)
