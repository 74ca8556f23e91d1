"""The package's progress bars (kantorovich._progress): one look for every solver's bar."""

from __future__ import annotations

import sys
import warnings

import pytest

from kantorovich._progress import advance, label, open_bar, progress_bar
from kantorovich.exceptions import KantorovichWarning


def test_no_bar_when_not_asked(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # progress=False imports nothing
    assert progress_bar(False, total=3, desc="d", unit="u") is None
    with open_bar(False, total=3, desc="d", unit="u") as bar:
        assert bar is None
        advance(bar, 2, "x")  # no-ops on None
        label(bar, "y")
    assert capsys.readouterr().err == ""


def test_the_look(capsys):
    """desc, unit, the postfix, on stderr; leave=False by default, leave=True on request."""
    with open_bar(True, total=4, desc="solver n=4", unit="phase") as bar:
        assert bar.leave is False and bar.total == 4
        advance(bar, 1, "eps=0.1")
        advance(bar, 3)
        assert bar.n == 4
    err = capsys.readouterr().err
    assert "solver n=4" in err and "phase" in err and capsys.readouterr().out == ""
    bar = progress_bar(True, total=2, desc="report", unit="section", leave=True)
    label(bar, "now")
    advance(bar)
    bar.close()
    assert bar.leave is True and "now" in capsys.readouterr().err


def test_terminal_only_is_silent_off_a_terminal(capsys):
    # (stderr is captured: not a terminal)
    with open_bar(True, total=2, desc="pairs", unit="pair", terminal_only=True) as bar:
        advance(bar, 2)
    assert capsys.readouterr().err == ""
    items = list(progress_bar(True, iterable=range(3), desc="it", terminal_only=True))
    assert items == [0, 1, 2]


def test_closed_on_an_exception():
    with pytest.raises(RuntimeError):
        with open_bar(True, total=2, desc="d", unit="u") as bar:
            raise RuntimeError
    assert bar.disable  # tqdm marks a closed bar disabled


def test_missing_tqdm_warns_and_shows_no_bar(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # `import tqdm.auto` fails
    with pytest.warns(KantorovichWarning, match="tqdm cannot be imported.*'solver'"):
        assert progress_bar(True, total=2, desc="solver", unit="u") is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", KantorovichWarning)
        from kantorovich.ot import sinkhorn

        # a solver runs as without the bar
        r = sinkhorn([0.5, 0.5], [0.5, 0.5], [[0.0, 1.0], [1.0, 0.0]], eps=0.5, progress=True)
    assert r.converged and capsys.readouterr().err == ""
