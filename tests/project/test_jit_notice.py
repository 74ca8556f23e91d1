"""The notice printed when a numba kernel is compiled rather than loaded from numba's cache."""

from __future__ import annotations

import types

from kantorovich import _jit


def _fake(signatures, index, name):
    cache_file = types.SimpleNamespace(_load_index=lambda: index)
    return types.SimpleNamespace(signatures=signatures, __qualname__=name,
                                 _cache=types.SimpleNamespace(_cache_file=cache_file,
                                                              _cache_path="/cache/dir"))


def test_notice_only_when_compiling_and_once(capsys):
    cold = _fake([], {}, "test.cold")
    _jit.notice_first_compile(cold, "the test kernel", "about a second")
    _jit.notice_first_compile(cold, "the test kernel", "about a second")  # once per process
    err = capsys.readouterr().err
    assert err.count("kantorovich: compiling the test kernel for this machine, once "
                     "(about a second); numba keeps it in /cache/dir") == 1
    for warm in (_fake([], {("sig",): "entry"}, "test.cached"), _fake(["float64()"], {}, "test.loaded")):
        assert not _jit.will_compile(warm)
        _jit.notice_first_compile(warm, "the test kernel", "about a second")
    assert capsys.readouterr().err == ""


def test_the_batched_sinkhorn_kernel_is_watched():
    """The real dispatcher has what the notice reads (numba's cache index), so a change of
    numba's internals shows here rather than as a silent notice."""
    from kantorovich.ot._sinkhorn_batch import _solve_batch

    assert isinstance(_jit.will_compile(_solve_batch), bool)
    assert callable(_solve_batch._cache._cache_file._load_index)
