"""The progress bars of the package, in one place: one look for every bar.

A bar is a tqdm bar (``tqdm.auto``) on stderr with a description and a unit, ``leave=False``
by default: it disappears when the work ends, so that a solver called in a loop leaves no
trail of finished bars. ``progress=False`` builds nothing and imports nothing; where tqdm
cannot be imported (a broken install: it is a core dependency) ``progress=True`` shows no
bar and a KantorovichWarning says why, and the computation runs as without it. The callers
hold either a bar or None and advance it with :func:`advance` (a no-op on None), so that a
change of the bars' look is one edit here.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["advance", "label", "open_bar", "progress_bar"]


def progress_bar(show: bool, *, desc: str, unit: str = "it", total: int | None = None,
                 iterable: Iterable | None = None, leave: bool = False,
                 terminal_only: bool = False) -> Any:
    """A tqdm bar on stderr, or None when ``show`` is False (or tqdm is missing: a warning).

    ``terminal_only``: the bar stays silent when stderr is not a terminal (tqdm's
    ``disable=None``), for the bars that are on by default (``pairwise_wasserstein``, the
    report); the others, asked for with ``progress=True``, always draw. ``iterable``: the bar
    wraps it (iterate over the bar); the caller closes the bar (or uses :func:`open_bar`).
    """
    if not show:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        from ._warnings import warn
        from .exceptions import KantorovichWarning

        warn(f"`progress` is True but tqdm cannot be imported: no progress bar for {desc!r} "
             "(pip install tqdm).", KantorovichWarning)
        return None
    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr,
                disable=None if terminal_only else False)


@contextlib.contextmanager
def open_bar(show: bool, **kwargs: Any) -> Iterator[Any]:
    """``with open_bar(show, desc=..., ...) as bar``: :func:`progress_bar`, closed on every
    way out of the block (an exception, a Ctrl-C); ``bar`` is None when none is shown."""
    bar = progress_bar(show, **kwargs)
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def advance(bar: Any, k: int = 1, postfix: str | None = None) -> None:
    """``k`` more steps done on ``bar`` (nothing when it is None), with the text ``postfix``
    after the counts when given (drawn at the next refresh, not forced)."""
    if bar is None:
        return
    if postfix is not None:
        bar.set_postfix_str(postfix, refresh=False)
    bar.update(k)


def label(bar: Any, text: str) -> None:
    """Show ``text`` after the counts of ``bar`` now (what is running; nothing on None)."""
    if bar is not None:
        bar.set_postfix_str(text)
