"""Every check of user input, in one place.

Errors follow one pattern: ``"`name` must be <what was expected>; got <what came>."``
ValueError for bad values, TypeError for bad types. Inputs are never modified in place:
the helpers return new float64 (or caller-dtype where stated) arrays.

Works for numpy and CuPy arrays: the array module is taken from the input.
"""

from __future__ import annotations

import math
import numbers
import operator
from typing import Any, Sequence

import numpy as np

from ._array_api import is_cupy, to_host

__all__ = [
    "xp_of",
    "as_float_array",
    "check_pmf",
    "check_pmf_pair",
    "check_weights",
    "check_samples",
    "check_sample_pair",
    "check_cost_matrix",
    "check_positive",
    "check_nonnegative",
    "check_int",
    "check_memory",
    "INT64_MAX",
    "check_choice",
    "check_out_dir",
    "check_probability",
    "check_rng",
    "require_distributed",
    "describe",
    "check_float_dtype",
    "pow2_exponent",
]


def xp_of(x: Any):
    """numpy or cupy, by the type of ``x`` (lists and scalars give numpy)."""
    if is_cupy(x):
        import cupy

        return cupy
    return np


def describe(x: Any) -> str:
    """Short description of a bad value for error messages."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"array of shape {tuple(x.shape)} and dtype {x.dtype}"
    r = repr(x)
    return r if len(r) <= 60 else r[:57] + "..."


def as_float_array(x: Any, name: str, *, dtype=None, min_ndim: int = 0, max_ndim: int | None = None,
                   allow_empty: bool = False):
    """Convert ``x`` to a float array (float64 unless ``dtype`` is given).

    Rejects strings, objects, complex numbers and booleans (a boolean mask passed as masses
    is nearly always a mistake). Always returns a copy.
    """
    xp = xp_of(x)
    if isinstance(x, (str, bytes)) or x is None:
        raise TypeError(f"`{name}` must be an array of real numbers; got {describe(x)}.")
    try:
        arr = xp.asarray(x)
    except Exception as exc:  # ragged lists etc.
        raise TypeError(f"`{name}` must be an array of real numbers; got {describe(x)}.") from exc
    kind = arr.dtype.kind
    if kind not in "iuf":
        raise TypeError(
            f"`{name}` must be an array of real numbers; got {describe(arr)}."
        )
    target = np.dtype(dtype or np.float64)
    if kind == "f" and target.itemsize < arr.dtype.itemsize:  # a narrowing cast (to float32)
        with np.errstate(over="ignore"):
            out = arr.astype(target, copy=True)
        if not _all_finite(out) and bool(xp.any(xp.isinf(out) & xp.isfinite(arr))):
            top = float(xp.max(xp.abs(xp.where(xp.isfinite(arr), arr, 0))))
            raise ValueError(
                f"`{name}` has entries of magnitude up to {top:.3g}, beyond the largest {target} "
                f"({float(np.finfo(target).max):.3g}): `dtype`={target} cannot represent them; "
                "rescale the data or use dtype=float64.")
        arr = out
    else:
        arr = arr.astype(target, copy=True)
    if arr.ndim < min_ndim or (max_ndim is not None and arr.ndim > max_ndim):
        want = f"{min_ndim}" if max_ndim == min_ndim else (
            f"at least {min_ndim}" if max_ndim is None else f"{min_ndim} to {max_ndim}")
        raise ValueError(f"`{name}` must have {want} dimension(s); got {describe(arr)}.")
    if not allow_empty and arr.size == 0:
        raise ValueError(f"`{name}` must not be empty; got {describe(arr)}.")
    return arr


def _all_finite(arr) -> bool:
    xp = xp_of(arr)
    return bool(xp.all(xp.isfinite(arr)))


def _first_row(arr, bad) -> str:
    """For a batch of weights (..., n): " in row r", the first row (problem) with an entry
    where ``bad(xp, arr)`` holds; "" for one vector."""
    if arr.ndim < 2:
        return ""
    xp = xp_of(arr)
    rows = to_host(xp.any(bad(xp, arr), axis=-1)).ravel()
    row = np.unravel_index(int(np.argmax(rows)), arr.shape[:-1])
    return f" in row {row[0] if len(row) == 1 else tuple(int(i) for i in row)}"


def check_weights(w: Any, name: str, *, n: int | None = None, normalize: bool = False,
                  allow_zero_total: bool = False, batch: bool = False):
    """Non-negative finite weights (1-D, or (..., n) when ``batch``); returns float64.

    ``n``: required length of the last axis. ``normalize``: divide by the total along the
    last axis. Zero total weight is an error unless ``allow_zero_total``.
    """
    arr = as_float_array(w, name, min_ndim=1, max_ndim=None if batch else 1)
    if not _all_finite(arr):
        raise ValueError(f"`{name}` must contain only finite values; got NaN or infinity"
                         f"{_first_row(arr, lambda xp, t: ~xp.isfinite(t))}.")
    xp = xp_of(arr)
    if bool(xp.any(arr < 0)):
        raise ValueError(f"`{name}` must be non-negative; got a minimum of {float(arr.min())!r}"
                         f"{_first_row(arr, lambda xp, t: t < 0)}.")
    if n is not None and arr.shape[-1] != n:
        raise ValueError(f"`{name}` must have length {n} along its last axis; got {describe(arr)}.")
    with np.errstate(over="ignore"):
        total = arr.sum(axis=-1, keepdims=True)
    if not _all_finite(total):
        raise ValueError(f"`{name}` must have a finite total mass; got an overflow to infinity "
                         "(divide the weights by a common factor).")
    if not allow_zero_total and bool(xp.any(total <= 0)):
        raise ValueError(f"`{name}` must have a positive total mass; got a total of 0"
                         f"{_first_row(total, lambda xp, t: t <= 0)}.")
    if normalize:
        arr = arr / total
    return arr


# id -> the dtype name of the caller's array that a float32 copy stands for (bfloat16, which
# numpy and CuPy lack), while the copy lives (see note_widened)
_WIDENED: dict[int, str] = {}


def note_widened(copy: Any, dtype_name: str) -> Any:
    """Record that ``copy`` (a float32 array made by the array layer) holds the caller's
    ``dtype_name`` data, so that :func:`input_dtype` reports that dtype (tolerances follow the
    caller's precision, not the copy's); returns ``copy``. Forgotten when the copy dies."""
    import weakref

    key = id(copy)
    try:
        weakref.finalize(copy, _WIDENED.pop, key, None)
    except TypeError:  # no weak references: not recorded (the copy's own dtype is used)
        return copy
    _WIDENED[key] = dtype_name
    return copy


#: machine epsilon of the dtypes that numpy has not
_EPS_BY_NAME = {"bfloat16": 2.0 ** -7}


def input_dtype(x: Any) -> Any:
    """The dtype the caller's weights or costs came in (before any cast to float64), or None
    (None, or not an array). For a float32 copy of bfloat16 data (:func:`note_widened`), the
    name ``"bfloat16"``."""
    if x is None:
        return None
    widened = _WIDENED.get(id(x))
    if widened is not None:
        return widened
    dt = getattr(x, "dtype", None)
    if dt is None:
        try:
            dt = np.asarray(x).dtype
        except (TypeError, ValueError):
            return None
    return dt


def mass_rtol(*dtypes: Any, floor: float = 1e-6) -> float:
    """Relative tolerance on |sum a - sum b| of two weight vectors given their input dtypes:
    ``max(floor, min(100 eps, 0.1))`` of the least precise floating dtype among them (float64:
    the floor; float32: 1.2e-5; float16: 0.098; bfloat16, eps = 2^-7: 0.1), since weights
    normalised in a narrow dtype sum to 1 only to its rounding (each weight and the total
    rounded: about eps relative). 100 eps leaves room for sums accumulated in the narrow
    dtype; beyond 0.1 the check would check nothing."""
    eps = [e for e in map(_float_eps, dtypes) if e is not None]
    return max(floor, min(100.0 * max(eps, default=float(np.finfo(np.float64).eps)), 0.1))


def _float_eps(dt: Any) -> float | None:
    """Machine epsilon of a floating dtype (numpy's, or a name of :data:`_EPS_BY_NAME`), None
    for None and other dtypes."""
    if isinstance(dt, str) and dt in _EPS_BY_NAME:
        return _EPS_BY_NAME[dt]
    return float(np.finfo(dt).eps) if dt is not None and _is_float_dtype(dt) else None


def check_same_mass(sa: Any, sb: Any, rtol: float, *, kind: str = "", hint: str = "") -> None:
    """ValueError unless the total masses ``sa`` and ``sb`` of two weight vectors (floats, or
    (B,) arrays for a batch) agree to ``rtol`` relative, |sa - sb| <= rtol max(sa, sb); the
    message gives the tolerance (``kind`` before it, e.g. "balanced OT"), the two totals, the
    first problem of a batch that fails, and ``hint`` (e.g. "or pass normalize=True")."""
    ta, tb = np.broadcast_arrays(np.asarray(sa, dtype=np.float64), np.asarray(sb, dtype=np.float64))
    bad = np.abs(ta - tb) > rtol * np.maximum(ta, tb)
    if not bad.any():
        return
    q = int(np.argmax(bad.ravel()))
    what = f"{kind}; relative tolerance" if kind else "relative tolerance"
    where = f" in problem {q}" if ta.ndim else ""
    raise ValueError(f"`a` and `b` must have the same total mass ({what} {rtol:.1e})"
                     f"{', ' + hint if hint else ''}; got totals {float(ta.ravel()[q])!r} and "
                     f"{float(tb.ravel()[q])!r}{where}.")


def _is_float_dtype(dt: Any) -> bool:
    try:
        return np.dtype(dt).kind == "f"
    except TypeError:  # not a numpy dtype
        return False


def check_pmf(p: Any, name: str, *, normalize: bool = True):
    """A probability vector, or a batch of them along leading axes (shape (..., n)).

    Entries must be finite and non-negative with a positive total; the last axis is
    normalised to sum to 1 (float64) unless ``normalize=False``.
    """
    return check_weights(p, name, normalize=normalize, batch=True)


def check_pmf_pair(p: Any, q: Any, names: tuple[str, str] = ("p", "q"), *, normalize: bool = True):
    """Two pmfs with the same number of bins; leading (batch) axes must broadcast."""
    pa = check_pmf(p, names[0], normalize=normalize)
    qa = check_pmf(q, names[1], normalize=normalize)
    if is_cupy(pa) != is_cupy(qa):
        raise TypeError(f"`{names[0]}` and `{names[1]}` must be on the same device (both numpy or both CuPy).")
    if pa.shape[-1] != qa.shape[-1]:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same number of bins; "
            f"got {pa.shape[-1]} and {qa.shape[-1]}."
        )
    try:
        np.broadcast_shapes(pa.shape, qa.shape)
    except ValueError as exc:
        raise ValueError(
            f"batch shapes of `{names[0]}` {tuple(pa.shape)} and `{names[1]}` {tuple(qa.shape)} "
            "do not broadcast."
        ) from exc
    return pa, qa


def check_samples(x: Any, name: str, *, dtype=None, min_points: int = 1, ndim: int | None = 2):
    """Samples as an (n, d) array (1-D input is read as n points in d = 1 when ``ndim=2``).

    ``ndim=1`` asks for a flat vector of values; ``ndim=None`` keeps the shape.
    Rejects NaN / infinity and fewer than ``min_points`` points.
    """
    arr = as_float_array(x, name, dtype=dtype, min_ndim=1)
    if ndim == 2:
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise ValueError(f"`{name}` must be an (n, d) array of points; got {describe(arr)}.")
    elif ndim == 1 and arr.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array of values; got {describe(arr)}.")
    if not _all_finite(arr):
        raise ValueError(f"`{name}` must contain only finite values; got NaN or infinity.")
    if arr.shape[0] < min_points:
        raise ValueError(f"`{name}` must contain at least {min_points} point(s); got {arr.shape[0]}.")
    return arr


def check_sample_pair(x: Any, y: Any, names: tuple[str, str] = ("x", "y"), *, min_points: int = 1,
                      dtype=None):
    """Two (n, d) / (m, d) samples with the same dimension d."""
    xa = check_samples(x, names[0], min_points=min_points, dtype=dtype)
    ya = check_samples(y, names[1], min_points=min_points, dtype=dtype)
    if xa.shape[1] != ya.shape[1]:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same dimension; "
            f"got d = {xa.shape[1]} and d = {ya.shape[1]}."
        )
    return xa, ya


def check_cost_matrix(M: Any, name: str = "M", *, shape: tuple[int, int] | None = None, dtype=None,
                      allow_inf: bool = False):
    """A 2-D real cost matrix of the given shape without NaN (and without inf unless allowed)."""
    arr = as_float_array(M, name, dtype=dtype, min_ndim=2, max_ndim=2)
    xp = xp_of(arr)
    if bool(xp.any(xp.isnan(arr))):
        raise ValueError(f"`{name}` must not contain NaN.")
    if not allow_inf and bool(xp.any(xp.isinf(arr))):
        raise ValueError(f"`{name}` must contain only finite costs; got infinity.")
    if shape is not None and tuple(arr.shape) != tuple(shape):
        raise ValueError(f"`{name}` must have shape {tuple(shape)}; got {describe(arr)}.")
    return arr


def _real_scalar(value: Any, name: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if hasattr(value, "shape") and getattr(value, "shape", None) == () and hasattr(value, "item"):
            return _real_scalar(value.item(), name, what)
        raise TypeError(f"`{name}` must be {what}; got {describe(value)}.")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"`{name}` must be {what}; got {value!r}.")
    return v


def check_finite(value: Any, name: str) -> float:
    """A finite float (a real number or a 0-d array of one); TypeError naming ``name`` for
    anything else, ValueError for NaN or infinity."""
    return _real_scalar(value, name, "a finite float")


def check_positive(value: Any, name: str) -> float:
    """A finite float > 0 (e.g. eps, a bandwidth, a learning rate)."""
    v = _real_scalar(value, name, "a positive float")
    if v <= 0:
        raise ValueError(f"`{name}` must be a positive float; got {value!r}.")
    return v


def check_nonnegative(value: Any, name: str) -> float:
    """A finite float >= 0."""
    v = _real_scalar(value, name, "a non-negative float")
    if v < 0:
        raise ValueError(f"`{name}` must be a non-negative float; got {value!r}.")
    return v


def check_probability(value: Any, name: str, *, open_left: bool = False, open_right: bool = False) -> float:
    """A float in [0, 1] (ends excluded on request)."""
    v = _real_scalar(value, name, "a float in [0, 1]")
    if v < 0 or v > 1 or (open_left and v == 0) or (open_right and v == 1):
        lo = "(" if open_left else "["
        hi = ")" if open_right else "]"
        raise ValueError(f"`{name}` must be a float in {lo}0, 1{hi}; got {value!r}.")
    return v


def check_int(value: Any, name: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (numpy integers accepted, bools and floats rejected) within bounds."""
    if isinstance(value, bool):
        raise TypeError(f"`{name}` must be an integer; got {value!r}.")
    try:
        v = operator.index(value)
    except TypeError:
        raise TypeError(f"`{name}` must be an integer; got {describe(value)}.") from None
    if minimum is not None and v < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {v}.")
    if maximum is not None and v > maximum:
        raise ValueError(f"`{name}` must be an integer <= {maximum}; got {v}.")
    return v


#: The largest count a loop or kernel index can hold (numba, POT and the C solvers take int64 /
#: C long counts; a larger Python int overflows there with a message naming no argument).
INT64_MAX = 2**63 - 1


def _physical_memory() -> int:
    try:
        import os

        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):  # pragma: no cover - non-POSIX
        return 2**40


def check_memory(nbytes: int, *names: str) -> None:
    """Refuse a request whose count arguments ``names`` size an allocation of ``nbytes`` bytes
    beyond this machine's physical memory: a ValueError naming them, instead of numpy's
    MemoryError or "array is too big" after the other checks passed."""
    total = _physical_memory()
    if nbytes > total:
        args = " and ".join(f"`{n}`" for n in names)
        raise ValueError(f"{args} must be smaller: the request would allocate {float(nbytes):.3g} bytes, "
                         f"more than this machine's memory ({total / 2**30:.1f} GiB).")


def check_choice(value: Any, name: str, choices: Sequence[Any]):
    """``value`` must be one of ``choices``; the error lists them."""
    if value not in tuple(choices):
        raise ValueError(f"`{name}` must be one of {tuple(choices)}; got {value!r}.")
    return value


def check_out_dir(path: Any, name: str = "out"):
    """``path`` as a Path to a folder that exists or can be made, and can be written to.

    Nothing is created: the nearest existing folder on the way is probed with a temporary
    folder made and removed at once. A path that is empty, is a file, or lies under one, or
    where no folder can be made, is a ValueError naming ``name`` and saying why.
    """
    import os
    import tempfile
    from pathlib import Path

    try:
        text = os.fspath(path)
    except TypeError:
        raise TypeError(f"`{name}` must be a folder path; got {describe(path)}.") from None
    if not text:  # Path('') is '.': an unset shell variable would write into the working folder
        raise ValueError(f"`{name}` must name a folder; got an empty path ('.' is the current folder).")
    out = Path(text)
    probe = out
    try:
        while not probe.exists():  # the nearest existing folder (or file) on the way
            if probe.parent == probe:
                break
            probe = probe.parent
        is_dir = probe.is_dir()
    except OSError as exc:  # a folder on the way that cannot be looked into
        raise ValueError(f"`{name}` must be a folder that can be made; got {str(out)!r}: "
                         f"{exc.strerror or exc}.") from None
    if not is_dir:
        what = "which is a file" if probe == out else f"which lies under the file {str(probe)!r}"
        raise ValueError(f"`{name}` must be a folder; got {str(out)!r}, {what}.")
    try:
        tempfile.TemporaryDirectory(dir=probe, prefix=".kantorovich-probe-").cleanup()
    except OSError as exc:
        how = "can be written to" if probe == out else "can be made"
        where = "" if probe == out else f" (no folder can be made in {str(probe)!r})"
        raise ValueError(f"`{name}` must be a folder that {how}; got {str(out)!r}{where}: "
                         f"{exc.strerror or exc}.") from None
    return out


def require_distributed(name: str) -> None:
    """BackendUnavailableError naming ``name`` (an argument or a command-line option) and the
    extra to install, when dask.distributed is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        from .exceptions import BackendUnavailableError

        raise BackendUnavailableError(
            f'`{name}` needs dask.distributed, which is not installed: pip install '
            f'"kantorovich[distributed]" (here and on every worker).') from None


def check_rng(rng: Any, name: str = "rng") -> np.random.Generator:
    """``None | int | np.random.Generator`` -> Generator. The global seed is never touched."""
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and rng < 0:
        raise ValueError(f"`{name}` must be None, a non-negative int or a numpy.random.Generator; "
                         f"got {rng!r}.")
    if rng is None or isinstance(rng, (numbers.Integral, np.random.SeedSequence)) and not isinstance(rng, bool):
        return np.random.default_rng(rng)
    if isinstance(rng, np.random.Generator):
        return rng
    hint = ""
    if type(rng).__module__.split(".")[0] in ("jax", "jaxlib"):
        hint = (" (the draws are numpy's, not JAX's: for a JAX key pass an int seed, e.g. "
                "int(jax.random.randint(key, (), 0, 2**31 - 1)))")
    raise TypeError(f"`{name}` must be None, an int or a numpy.random.Generator; got "
                    f"{describe(rng)}{hint}.")


def numpy_dtype(dtype: Any) -> np.dtype:
    """The numpy dtype of ``dtype``: a numpy dtype, a name ("float32"), a numpy scalar type,
    JAX's and CuPy's (numpy's own) or torch's (``torch.float64`` -> float64). A TypeError (from
    numpy) for anything else, torch's ``bfloat16`` included (numpy has none)."""
    if type(dtype).__module__ == "torch" and str(dtype).startswith("torch."):
        return np.dtype(str(dtype)[len("torch."):])
    return np.dtype(dtype)


def check_float_dtype(dtype: Any, name: str = "dtype"):
    """``None`` or the numpy dtype float32 / float64 named by ``dtype`` (numpy's, a name, or
    another library's: :func:`numpy_dtype`); a TypeError for what is not a dtype at all, a
    ValueError for any other dtype (integer, complex, float16, object)."""
    if dtype is None:
        return None
    try:
        dt = numpy_dtype(dtype)
    except TypeError:
        raise TypeError(f"`{name}` must be None, float32 or float64; got {describe(dtype)}.") from None
    if dt not in (np.float32, np.float64):
        raise ValueError(f"`{name}` must be None, float32 or float64; got {dt}.")
    return dt


def pow2_exponent(*arrays: Any, p: float = 1.0, threshold: float = 100.0) -> int:
    """The exponent k with max |entry| / 2**k in [0.5, 1) over the (numpy) ``arrays``, or 0
    when ``|k| * p <= threshold`` (close enough to unit scale: left alone) or every entry is
    0 or non-finite.

    Dividing by 2**k (``np.ldexp(a, -k)``) is exact, so quantities that scale as a power of the
    data (distances, |x - y|^p, densities) can be computed at unit scale, where squares neither
    overflow (1e300-scale data) nor underflow (1e-300), and scaled back exactly. ``p`` is the
    exponent the caller will raise differences to (the cost |x - y|^p)."""
    top = max((float(np.max(np.abs(a))) for a in arrays if np.size(a)), default=0.0)
    if not (top > 0.0 and math.isfinite(top)):
        return 0
    k = math.frexp(top)[1]
    return k if abs(k) * p > threshold else 0
