"""A one-line notice when a numba kernel is compiled for this machine rather than loaded.

numba compiles a kernel on its first call and keeps the machine code in its cache
(``__pycache__`` beside the module, or ``NUMBA_CACHE_DIR``); later processes load it in well
under a second. The largest kernels take a minute or more to compile on 2 cores (docs/batch.md,
"The first call"), long enough for a silent call to look hung: :func:`notice_first_compile`
says so on standard error, once per kernel and process, and only when the cache holds nothing
to load.
"""

from __future__ import annotations

import sys
from typing import Any

_SAID: set[str] = set()


def will_compile(dispatcher: Any) -> bool:
    """Whether calling ``dispatcher`` (a numba ``njit`` function with ``cache=True``) compiles
    it: nothing compiled in this process and no entry in numba's cache that matches its source.
    False when that cannot be told (another numba's internals)."""
    if dispatcher.signatures:
        return False
    try:
        return not dispatcher._cache._cache_file._load_index()
    except Exception:  # pragma: no cover - numba's internals moved
        return False


def notice_first_compile(dispatcher: Any, what: str, duration: str) -> None:
    """Print ``kantorovich: compiling <what> ...`` to standard error when calling ``dispatcher``
    will compile it (:func:`will_compile`), once per process."""
    key = getattr(dispatcher, "__qualname__", repr(dispatcher))
    if key in _SAID or not will_compile(dispatcher):
        return
    _SAID.add(key)
    try:
        where = dispatcher._cache._cache_path
    except Exception:  # pragma: no cover
        where = "numba's cache"
    print(f"kantorovich: compiling {what} for this machine, once ({duration}); numba keeps it "
          f"in {where} for later runs.", file=sys.stderr, flush=True)
