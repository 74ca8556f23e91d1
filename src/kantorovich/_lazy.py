"""Lazy re-exports: ``attach(__name__, {name: submodule})`` keeps package import cheap."""

from __future__ import annotations

import importlib


def attach(package: str, exports: dict[str, str]):
    """Return (__getattr__, __dir__, __all__) loading ``exports[name]`` on first access."""

    def __getattr__(name: str):
        mod = exports.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(mod, package), name)
        return value

    def __dir__():
        return sorted(exports)

    return __getattr__, __dir__, sorted(exports)
