"""The data a figure function is given, as float arrays, checked before anything is drawn.

A figure of data of the wrong shape, empty, of mismatched lengths or holding NaN fails deep
inside matplotlib (or draws nothing, silently); these checks raise a ``ValueError`` that names
the argument instead. Torch tensors (on any device, with or without gradients), lists and
anything ``numpy.asarray`` takes are accepted where an array is documented.
"""

from __future__ import annotations

import numpy as np


def as_array(value, name, *, ndim=None, cols=None, rows=None, finite=True, dtype=float):
    """``value`` as a NumPy array of ``dtype``, non-empty, with ``ndim`` dimensions, ``rows`` rows
    and ``cols`` columns when given, and no NaN (nor infinity) when ``finite``; else a
    ``ValueError`` naming ``name`` (a ``TypeError`` when it is not numbers at all)."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"`{name}` must be an array of numbers; got {type(value).__name__} ({exc}).") from None
    if ndim is not None and arr.ndim != ndim:
        shape = {1: "(n,)", 2: "(n, m)" if cols is None else f"(n, {cols})"}.get(ndim, f"{ndim} dimensions")
        raise ValueError(f"`{name}` must be an array of shape {shape}; got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"`{name}` is empty (shape {arr.shape}); a figure needs data.")
    if cols is not None and arr.shape[1] != cols:
        raise ValueError(f"`{name}` must have {cols} columns; got shape {arr.shape}.")
    if rows is not None and arr.shape[0] != rows[0]:
        raise ValueError(f"`{name}` must have length {rows[0]}, one entry per point of `{rows[1]}`; "
                         f"got shape {arr.shape}.")
    if finite and arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        bad = "NaN" if np.isnan(arr).any() else "infinite values"
        raise ValueError(f"`{name}` holds {bad}; a figure needs finite data.")
    return arr


def same_length(**arrays):
    """A ``ValueError`` naming the arguments when the 1-D ``arrays`` differ in length."""
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        said = ", ".join(f"`{k}` {n}" for k, n in lengths.items())
        raise ValueError(f"{' and '.join(f'`{k}`' for k in lengths)} must have one length; got {said}.")


def as_mapping(value, name):
    """``value`` as a non-empty dict (its order kept); a ``TypeError`` naming ``name`` when it is
    not a mapping, a ``ValueError`` when it is empty."""
    from collections.abc import Mapping

    if not isinstance(value, Mapping):
        raise TypeError(f"`{name}` must be a dict; got {type(value).__name__}.")
    if not value:
        raise ValueError(f"`{name}` is empty; a figure needs data.")
    return dict(value)


def entry(container, key, name):
    """``container[key]`` of a dict, or the attribute ``key`` of a result object; a ``ValueError``
    naming ``name`` and the missing key."""
    from collections.abc import Mapping

    if isinstance(container, Mapping):
        if key in container:
            return container[key]
        have = ", ".join(repr(k) for k in container) or "none"
        raise ValueError(f"`{name}` has no key {key!r} (keys: {have}).")
    if isinstance(key, str) and hasattr(container, key):
        return getattr(container, key)
    raise ValueError(f"`{name}` has no {key!r}: a dict or result object holding it is expected; "
                     f"got {type(container).__name__}.")


def number(value, name, *, finite=True):
    """``value`` as a Python float (a finite one when ``finite``); else a ``ValueError`` naming
    ``name`` (a ``TypeError`` when it is not a number at all)."""
    arr = as_array(value, name, finite=finite)
    if arr.ndim != 0:
        raise ValueError(f"`{name}` must be a number; got an array of shape {arr.shape}.")
    return float(arr)
