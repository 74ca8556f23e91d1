"""The CuPy Sinkhorn loop's launches and host reads, counted on the CPU.

The loop (:func:`kantorovich.ot._sinkhorn._sinkhorn_loop`) and the CuPy soft-min's host logic
(:class:`~kantorovich.ot._kernels.softmin_cupy.OnlineSoftmin`) run here on a stand-in for CuPy:
numpy arrays of a subclass that counts every ufunc call and array function as one launch and
every conversion to a host value (``float``, ``int``, ``bool``, ``.get()``, ``.item()``) as one
host read (a synchronisation on a GPU), with :class:`NumpyKernels` as the kernels (each call one
launch). A half-step with a known shift must issue four launches and no host read; an iteration
one more launch per half-step (the loop's ``g + eps log b``); a check one host read.
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from kantorovich.ot import _sinkhorn as S
from kantorovich.ot._kernels import softmin_cupy as K


class _Counter:
    def __init__(self):
        self.events: list = []
        self.paused = 0

    def add(self, kind, what):
        if not self.paused:
            self.events.append((kind, what))

    @contextlib.contextmanager
    def pause(self):
        self.paused += 1
        try:
            yield
        finally:
            self.paused -= 1


C = _Counter()


def _plain(obj):
    if isinstance(obj, Dev):
        return obj.view(np.ndarray)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    return obj


def _dev(obj):
    if isinstance(obj, tuple):
        return tuple(_dev(o) for o in obj)
    if isinstance(obj, np.ndarray):
        return obj.view(Dev)
    if isinstance(obj, np.generic):  # a reduction: a 0-d device array on CuPy
        return np.asarray(obj).view(Dev)
    return obj


class Dev(np.ndarray):
    """A numpy array standing in for a CuPy one (see the module docstring)."""

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kw):
        C.add("launch", f"{ufunc.__name__}.{method}")
        if out is not None:
            kw["out"] = _plain(out)
        with C.pause():
            r = getattr(ufunc, method)(*_plain(inputs), **kw)
        return out[0] if out is not None and len(out) == 1 else _dev(r)

    def __array_function__(self, func, types, args, kwargs):
        C.add("launch", func.__name__)
        with C.pause():
            return _dev(func(*_plain(args), **_plain(kwargs)))

    def _read(self, what):
        C.add("read", what)
        return self.view(np.ndarray)

    def __float__(self):
        return float(self._read("float"))

    def __int__(self):
        return int(self._read("int"))

    def __bool__(self):
        return bool(self._read("bool"))

    def __index__(self):
        return self._read("index").__index__()

    def item(self, *a):
        return self._read("item").item(*a)

    def tolist(self):
        return self._read("tolist").tolist()

    def get(self):
        return self._read("get").copy()


class FakeCupy:
    """The functions of numpy under CuPy's names, each call one launch (allocations and
    no-op conversions none), returning :class:`Dev` arrays."""

    _FREE = {"empty", "empty_like", "asarray", "ascontiguousarray"}

    def __getattr__(self, name):
        f = getattr(np, name)
        if not callable(f) or isinstance(f, type):
            return f

        def call(*args, **kwargs):
            if name not in self._FREE:
                C.add("launch", name)
            with C.pause():
                return _dev(f(*_plain(args), **_plain(kwargs)))
        return call


class CountingKernels(K.NumpyKernels):
    """NumpyKernels, each method call one launch (its numpy work not counted)."""


def _counted(name):
    def method(self, *args, **kwargs):
        C.add("launch", "kernel:" + name)
        with C.pause():
            return getattr(K.NumpyKernels, name)(self, *_plain(args), **kwargs)
    return method


for _name in ("shift", "safe", "finish", "combine"):
    setattr(CountingKernels, _name, _counted(_name))


def _problem(n=300, m=260, dt=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    xp = FakeCupy()
    x, y = _dev(rng.random((n, 2)).astype(dt)), _dev(rng.random((m, 2)).astype(dt))
    fx = K.OnlineSoftmin(x, y, 2.0, xp=xp, kernels=CountingKernels(2, dt), n_sm=132)
    fy = K.OnlineSoftmin(y, x, 2.0, xp=xp, kernels=CountingKernels(2, dt), n_sm=132)
    a, b = _dev(np.full(n, 1 / n, dtype=dt)), _dev(np.full(m, 1 / m, dtype=dt))
    return xp, fx, fy, a, b


def _segments(events, mark):
    """The events between consecutive ``mark`` events (the first segment starts at the first)."""
    segs, cur = [], None
    for ev in events:
        if ev == ("mark", mark):
            if cur is not None:
                segs.append(cur)
            cur = []
        elif cur is not None and ev[0] != "mark":
            cur.append(ev)
    segs.append(cur)
    return segs


def _count(seg, kind):
    return sum(1 for k, _ in seg if k == kind)


def test_half_step_with_a_shift_is_four_launches_and_no_host_read():
    _, fx, _, _, b = _problem()
    h = _dev(np.zeros(260, dtype=np.float32))
    fx(0.05, h)  # no shift yet: the safe kernel on every row, and its combine
    fx(0.05, h)  # 2 k2 x computed for this eps
    C.events.clear()
    for _ in range(3):
        fx(0.05, h)
    assert _count(C.events, "read") == 0, C.events
    kernels = [w for k, w in C.events if k == "launch"]
    assert kernels == ["kernel:shift", "kernel:finish", "kernel:safe", "kernel:combine"] * 3, kernels
    assert fx.calls == 5 and fx.launches == 2 + 1 + 4 * 4  # safe call 2, 2 k2 x once, 4 per shift call


def test_kernel_events_bracket_each_launch(monkeypatch):
    """With softmin_cupy.KERNEL_EVENTS a list (the benchmark's kernel time), every launch of a
    call is bracketed by two recorded events, in launch order, and nothing else changes."""
    class Event:
        def record(self):
            C.add("event", "record")

    _, fx, _, _, _ = _problem()
    monkeypatch.setattr(FakeCupy, "cuda", type("cuda", (), {"Event": Event}), raising=False)
    h = _dev(np.zeros(260, dtype=np.float32))
    fx(0.05, h)
    fx(0.05, h)
    monkeypatch.setattr(K, "KERNEL_EVENTS", [])
    C.events.clear()
    fx(0.05, h)
    assert [k for k, _, _ in K.KERNEL_EVENTS] == ["shift", "finish", "safe_masked", "combine"]
    kinds = [w for k, w in C.events if k != "read"]
    assert kinds == [x for name in ("shift", "finish", "safe", "combine")
                     for x in ("record", "kernel:" + name, "record")]
    assert _count(C.events, "read") == 0


@pytest.mark.parametrize("check_every", [5, 1])
def test_loop_iteration_launches_and_host_reads(check_every):
    """Alternating Sinkhorn on the stand-in: an iteration without a check issues 10 launches
    (two half-steps of 4, two additions ``g + eps log b``) and reads nothing back; an iteration
    with a check reads one scalar (the marginal error) and adds the error's few launches."""
    xp, fx, fy, a, b = _problem()
    loga, logb = xp.log(a), xp.log(b)
    f, g = _dev(np.zeros(300, dtype=np.float32)), _dev(np.zeros(260, dtype=np.float32))

    def sx(eps, h, with_mean_cost=False):
        C.add("mark", "x")
        return fx(eps, h, with_mean_cost)

    def sy(eps, h, with_mean_cost=False):
        return fy(eps, h, with_mean_cost)

    C.events.clear()
    stats: dict = {}
    max_iter = 12
    f, g, errors, it, converged, _ = S._sinkhorn_loop(
        xp, sx, sy, a, b, loga, logb, f, g, eps=0.05, schedule=[], max_iter=max_iter, tol=1e-30,
        check_every=check_every, symmetric=False, stats=stats)
    assert it == max_iter and not converged
    segs = _segments(C.events, "x")
    assert len(segs) == max_iter
    checks = [k for k in range(max_iter) if k % check_every == check_every - 1 or k == max_iter - 1]
    assert len(errors) == len(checks) == stats["error_reads"]
    for k, seg in enumerate(segs):
        reads, launches = _count(seg, "read"), _count(seg, "launch")
        kernels = [w for kind, w in seg if w.startswith("kernel:")]
        once = 2 if k == 1 else 0  # each operator's 2 k2 x, computed at its first shift call per eps
        if k == 0:  # no shift yet: the safe kernel on every row in both half-steps
            assert kernels == ["kernel:safe", "kernel:combine"] * 2, kernels
        else:
            assert kernels == ["kernel:shift", "kernel:finish", "kernel:safe", "kernel:combine"] * 2, kernels
        if k in checks:
            assert reads == 1 and [w for kind, w in seg if kind == "read"] == ["float"], seg
            assert launches <= len(kernels) + 2 + once + 8, seg  # the L1 error: a handful of elementwise ops and a sum
        else:
            assert reads == 0, (k, seg)
            assert launches == len(kernels) + 2 + once, (k, seg)
    assert fx.calls == fy.calls == max_iter


def _numpy_ops(n, m, dt=np.float64, seed=1):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)).astype(dt), rng.random((m, 2)).astype(dt)
    fx = K.OnlineSoftmin(x, y, 2.0, xp=np, kernels=K.NumpyKernels(2, dt), n_sm=132)
    fy = K.OnlineSoftmin(y, x, 2.0, xp=np, kernels=K.NumpyKernels(2, dt), n_sm=132)
    return fx, fy


@pytest.mark.parametrize("chunk", [K.HISTORY_CHUNK, 3])
def test_fallback_rows_per_iteration_in_the_solver_info(monkeypatch, chunk):
    """Rows redone by the safe kernel land in the iteration that redid them: all n + m in the
    first (no shift yet), the flagged rows of a jumped shift later, all n in the final pass;
    the per-call device counters roll over to a new array every HISTORY_CHUNK calls."""
    monkeypatch.setattr(K, "HISTORY_CHUNK", chunk)
    n, m, eps = 300, 520, 0.01
    fx, fy = _numpy_ops(n, m)
    f, g = np.zeros(n), np.zeros(m)
    lb, la = eps * np.log(np.full(m, 1 / m)), eps * np.log(np.full(n, 1 / n))
    jumped = np.arange(n) % 5 == 0  # 60 rows
    for it in range(7):
        if it == 4:  # a shift 300 bits off on those rows: flagged, redone
            fx.prev = fx.prev + np.where(jumped, 300 / (K._LOG2E / eps), 0.0)
        f = fx(eps, g + lb)
        g = fy(eps, f + la)
    fx(eps, g + lb, with_mean_cost=True)  # the final <P, C> pass
    info = S._cupy_loop_info(fx, fy, 7, error_reads=2)
    assert info["fallback_rows_per_iter"] == [n + m, 0, 0, 0, int(jumped.sum()), 0, 0]
    assert info["fallback_rows_final_pass"] == [n]
    assert info["softmin_calls"] == 15 and info["error_reads"] == 2
    assert fx.n_fallback == n + 60 + n and fy.n_fallback == m
    # launches: per operator 2 for a safe call, 4 per shift call, 1 for 2 k2 x, 1 per new chunk
    rolls = (8 - 1) // chunk + (7 - 1) // chunk
    assert info["softmin_launches"] == 2 * 3 + 4 * 12 + 2 + rolls


def test_self_transport_loop_runs_one_operator():
    """OT(a, a) with the averaged update on the stand-in: one soft-min per iteration (the x
    side's), none on the other side, and the same launches per half-step as above."""
    xp, fx, fy, a, _ = _problem(n=300, m=300)
    fy = K.OnlineSoftmin(fx.x, fx.x, 2.0, xp=xp, kernels=CountingKernels(2, np.float32), n_sm=132)
    fx = K.OnlineSoftmin(fx.x, fx.x, 2.0, xp=xp, kernels=CountingKernels(2, np.float32), n_sm=132)
    loga = xp.log(a)
    f = g = _dev(np.zeros(300, dtype=np.float32))
    stats: dict = {}
    f, g, errors, it, converged, _ = S._sinkhorn_loop(
        xp, fx, fy, a, a, loga, loga, f, g, eps=0.05, schedule=[], max_iter=9, tol=1e-30,
        check_every=3, symmetric=True, stats=stats, self_transport=True)
    assert it == 9 and fx.calls == 9 and fy.calls == 0
    assert stats["one_sided"] == list(range(9)) and len(errors) == 3
    assert f is not g and np.array_equal(_plain(f), _plain(g))


def test_fallback_rows_of_a_self_transport_solve():
    """Rows redone per iteration when the first iterations ran the x side alone and the next
    ones both (a self-transport solve whose extrapolation left the two sides apart)."""
    n = 200
    fx, fy = _numpy_ops(n, n)
    fy = K.OnlineSoftmin(fx.x, fx.x, 2.0, xp=np, kernels=K.NumpyKernels(2, np.float64), n_sm=132)
    fx = K.OnlineSoftmin(fx.x, fx.x, 2.0, xp=np, kernels=K.NumpyKernels(2, np.float64), n_sm=132)
    eps, la = 0.05, 0.05 * np.log(np.full(n, 1 / n))
    f = np.zeros(n)
    for _ in range(3):  # one side
        f = 0.5 * (f + fx(eps, f + la))
    g = f.copy()
    for _ in range(2):  # both sides: the y side's first call has no shift (all n rows safe)
        f, g = 0.5 * (f + fx(eps, g + la)), 0.5 * (g + fy(eps, f + la))
    fx(eps, g + la, with_mean_cost=True)
    info = S._cupy_loop_info(fx, fy, 5, error_reads=1, one_sided=(0, 1, 2))
    assert info["fallback_rows_per_iter"] == [n, 0, 0, n, 0]
    assert info["fallback_rows_final_pass"] == [n]  # the <P, C> pass: every row, as above
    assert info["softmin_calls"] == 6 + 2
