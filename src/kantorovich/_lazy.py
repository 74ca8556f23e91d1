"""Lazy re-exports: ``attach(__name__, {name: submodule})`` keeps package import cheap."""

from __future__ import annotations

import importlib
import inspect
from typing import Callable


def attach(package: str, exports: dict[str, str], *, wrap: Callable | None = None):
    """Return (__getattr__, __dir__, __all__) loading ``exports[name]`` on first access.

    ``wrap``: applied once to every exported function (not to classes), e.g. the array
    interoperability layer of :mod:`kantorovich._interop`; the wrapped function is cached so
    that repeated access returns the same object.
    """
    cache: dict[str, object] = {}

    def __getattr__(name: str):
        if name in cache:
            return cache[name]
        mod = exports.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(mod, package), name)
        if wrap is not None and inspect.isfunction(value):
            value = wrap(value)
        cache[name] = value
        return value

    def __dir__():
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)
