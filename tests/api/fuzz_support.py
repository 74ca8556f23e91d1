"""Machinery of tests/api/test_fuzz_api.py: calls of the public API run in a worker process with a
time and memory guard, and each outcome classified.

Classes (as in the conventions of README.md "Conventions" and docs/conventions.md):

- OK: a result that passes its checks, or a ValueError / TypeError whose message names an
  argument of the call in backticks, or a documented exception (BackendUnavailableError, a
  family's NotImplementedError for a quantity without a closed form).
  "Naming" also counts ``method='1d' needs ...`` (an argument followed by ``=``).
- BAD-ERROR: any other exception, or a ValueError / TypeError naming no argument of the call.
- SILENT-NAN: NaN in a result (outside the fields documented as NaN), or inf where the exact
  value is finite.
- WRONG: a finite result contradicting a cheap reference (exact 1-D W_p by quantiles in
  extended precision, LPs by scipy's HiGHS, brute-force permutations, closed forms) or a
  known bound (0 <= JS <= log 2, SW_p <= W_p, ...).
- HANG: no answer within the time guard twice (the second time in a fresh worker), or
  unbounded memory growth (gigabytes of resident memory for a tiny call; also a MemoryError
  after more than a second).
- WARNS: a numpy RuntimeWarning that reaches the caller.
- MUTATES: an input array modified in place, or numpy's global random state advanced.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import math
import multiprocessing as mp
import re
import sys
import time
import traceback
import types
import warnings
from typing import Any

import numpy as np

TIMEOUT_S = 20.0  # per call; a cold numba compile of one kernel takes a few seconds
RETRY_TIMEOUT_S = 45.0  # the retry, in a fresh worker: room for a compile on a loaded machine
MEMORY_GROWTH = 2 * 2**30  # resident memory a tiny call may add before it counts as unbounded

LOG2 = math.log(2.0)


# --------------------------------------------------------------------------------------------
# calls
# --------------------------------------------------------------------------------------------

@dataclasses.dataclass
class Call:
    """``path(*args, **kwargs)``, then ``.method(*margs, **mkwargs)`` on the result when
    ``method`` is set; ``check`` names the checker applied to the final result."""

    path: str
    args: tuple = ()
    kwargs: dict = dataclasses.field(default_factory=dict)
    method: str | None = None
    margs: tuple = ()
    mkwargs: dict = dataclasses.field(default_factory=dict)
    check: str | None = None

    def __repr__(self) -> str:
        def r(v):
            if isinstance(v, np.ndarray):
                s = repr(v.tolist()) if v.size <= 60 else f"<{v.size} entries>"
                return f"np.array({s}, dtype='{v.dtype}')" if v.dtype != np.float64 else f"np.array({s})"
            if isinstance(v, np.random.Generator):
                return "np.random.Generator(...)"
            if isinstance(v, (list, tuple)):
                inner = ", ".join(r(e) for e in v)
                return f"[{inner}]" if isinstance(v, list) else f"({inner}{',' if len(v) == 1 else ''})"
            return repr(v)

        a = ", ".join([r(v) for v in self.args] + [f"{k}={r(v)}" for k, v in self.kwargs.items()])
        s = f"{self.path.split('.')[-1]}({a})"
        if self.method:
            ma = ", ".join([r(v) for v in self.margs] + [f"{k}={r(v)}" for k, v in self.mkwargs.items()])
            s += f".{self.method}({ma})"
        return s


@dataclasses.dataclass
class Outcome:
    cls: str
    reason: str
    call: str

    def __str__(self) -> str:
        return f"{self.cls}: {self.call}\n        -> {self.reason}"


def resolve(path: str):
    import importlib

    mod, name = path.rsplit(".", 1)
    return getattr(importlib.import_module(f"kantorovich.{mod}"), name)


def _param_names(call: Call) -> set[str]:
    import inspect

    names: set[str] = set()
    obj = resolve(call.path)
    try:
        names |= set(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        pass
    if call.method:
        try:
            names |= set(inspect.signature(getattr(obj, call.method)).parameters)
        except (TypeError, ValueError, AttributeError):
            pass
    if call.path.endswith("sinkhorn_divergence"):  # **kwargs go to sinkhorn
        names |= set(inspect.signature(resolve("ot.sinkhorn")).parameters)
    names.discard("self")
    return names


# --------------------------------------------------------------------------------------------
# the worker
# --------------------------------------------------------------------------------------------

def _snapshot(v):
    if isinstance(v, np.ndarray):
        return v.copy()
    if isinstance(v, (list, tuple)):
        return type(v)(_snapshot(e) for e in v)
    return None


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape and bool(
            np.all((a == b) | ((a != a) & (b != b)))) if a.dtype.kind != "O" else True
    if isinstance(a, (list, tuple)):
        return all(_same(x, y) for x, y in zip(a, b))
    return True


# an argument, or one element of a sequence argument: `X[3]` names `X`
_ARG_NAME = re.compile(r"`([A-Za-z_][A-Za-z0-9_]*)(?:\[\d+\])?`")
_ARG_IS = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)=")  # "method='1d' needs d == 1" names `method`


def _classify_exception(call: Call, exc: BaseException, elapsed: float) -> tuple[str, str]:
    from kantorovich.exceptions import BackendUnavailableError

    msg = f"{type(exc).__name__}: {str(exc)[:300]}"
    if isinstance(exc, BackendUnavailableError):
        return "OK", msg
    if isinstance(exc, NotImplementedError) and call.path.startswith("families.") and call.method:
        return "OK", msg  # a quantity the family has no closed form for (documented by Family)
    if isinstance(exc, MemoryError) and elapsed > 1.0:
        return "HANG", f"unbounded memory growth: {msg} after {elapsed:.1f} s"
    if type(exc) in (ValueError, TypeError) or (isinstance(exc, (ValueError, TypeError))
                                                and type(exc).__module__.startswith("kantorovich")):
        named = set(_ARG_NAME.findall(str(exc))) | set(_ARG_IS.findall(str(exc)))
        if named & _param_names(call):
            return "OK", msg
        return "BAD-ERROR", f"message names no argument of the call ({sorted(named) or 'none'}): {msg}"
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (raised at {tb[-1].filename.split('src/')[-1]}:{tb[-1].lineno})" if tb else ""
    return "BAD-ERROR", f"undocumented exception type: {msg}{where}"


def execute(call: Call) -> list[tuple[str, str]]:
    """Run one call here (in the worker) and classify it: a list of (class, reason)."""
    snaps = (_snapshot(call.args), {k: _snapshot(v) for k, v in call.kwargs.items()},
             _snapshot(call.margs))
    rng_state = np.random.get_state()[1].copy(), np.random.get_state()[2]
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = resolve(call.path)(*call.args, **call.kwargs)
            if call.method:
                res = getattr(res, call.method)(*call.margs, **call.mkwargs)
            exc = None
        except MemoryError as e:
            # drop the traceback first: its frames hold whatever grew without bound
            exc, res = MemoryError(str(e)[:200]), None
            e.__traceback__ = None
            del e
            gc.collect()
        except Exception as e:  # noqa: BLE001 - classified below
            exc, res = e, None
        elapsed = time.perf_counter() - t0
        out: list[tuple[str, str]] = []
        if exc is not None:
            out.append(_classify_exception(call, exc, elapsed))
        else:
            try:
                out.extend(check(call, res, [w.category for w in caught]))
            except Exception as e:  # noqa: BLE001 - a checker bug must not read as a library bug
                out.append(("CHECKER-ERROR", f"{type(e).__name__}: {e}"))
    leaked = [w for w in caught if issubclass(w.category, RuntimeWarning)
              and not _kantorovich_warning(w.category)]
    if leaked:
        out.append(("WARNS", "; ".join(sorted({f"{w.category.__name__}: {w.message}" for w in leaked}))[:300]))
    if not (_same(call.args, snaps[0]) and all(_same(call.kwargs[k], snaps[1][k]) for k in call.kwargs)
            and _same(call.margs, snaps[2])):
        out.append(("MUTATES", "an input array was modified in place"))
    st = np.random.get_state()
    if not (np.array_equal(st[1], rng_state[0]) and st[2] == rng_state[1]):
        np.random.seed(0)  # restore a fixed state so the next call is judged alone
        out.append(("MUTATES", "numpy's global random state was advanced"))
    return out or [("OK", "")]


def _kantorovich_warning(cat) -> bool:
    return cat.__module__.startswith("kantorovich")


def _serve(conn) -> None:  # pragma: no cover - runs in the worker
    import kantorovich.divergences  # noqa: F401
    import kantorovich.families  # noqa: F401
    import kantorovich.ot  # noqa: F401

    # POT, which emd/wasserstein/assignment import on their first call: with its torch backend
    # its import took 15-23 s on the shared machine under load, and in a fresh worker it fell
    # inside the per-call guard, so a first emd call on a 1 x 1 cost read as a HANG; the
    # worker's start-up has its own, longer limit
    try:
        import ot  # noqa: F401
    except ImportError:
        pass

    np.random.seed(0)
    conn.send("ready")
    while True:
        call = conn.recv()
        if call is None:
            return
        try:
            out = execute(call)
        except BaseException as e:  # noqa: BLE001
            out = [("BAD-ERROR", f"{type(e).__name__} escaped: {e}")]
        conn.send(out)


def _resident(pid: int) -> int:
    """Resident memory of a process in bytes (0 where /proc is not available)."""
    import resource

    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


class Runner:
    """One worker process at a time; a call silent for ``TIMEOUT_S`` is retried once in a fresh
    worker and is a HANG if it is silent again for ``RETRY_TIMEOUT_S``. A call whose worker grows
    by more than ``MEMORY_GROWTH`` of resident memory is stopped at once: a HANG (unbounded
    growth; a tiny call needs megabytes)."""

    def __init__(self):
        self.ctx = mp.get_context("spawn")
        self.proc = None
        self.conn = None

    def _start(self):
        parent, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_serve, args=(child,), daemon=True)
        self.proc.start()
        self.conn = parent
        t0 = time.monotonic()
        while not parent.poll(0.2):
            if not self.proc.is_alive() or time.monotonic() - t0 > 120:
                raise RuntimeError(f"the fuzz worker did not start (exit code {self.proc.exitcode})")
        assert parent.recv() == "ready"

    def _stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
            self.proc = self.conn = None

    def close(self):
        if self.proc is not None:
            try:
                self.conn.send(None)
                self.proc.join(5)
            except (OSError, BrokenPipeError):
                pass
            self._stop()

    def run(self, call: Call) -> list[Outcome]:
        for attempt in range(2):
            if self.proc is None:
                self._start()
            try:
                base = _resident(self.proc.pid)
                self.conn.send(call)
                t0 = time.monotonic()
                limit = TIMEOUT_S if attempt == 0 else RETRY_TIMEOUT_S
                while not self.conn.poll(0.1):
                    grown = _resident(self.proc.pid) - base
                    if grown > MEMORY_GROWTH:
                        self._stop()
                        return [Outcome("HANG", f"unbounded memory growth: {grown / 2**30:.1f} GiB more "
                                        f"resident memory after {time.monotonic() - t0:.1f} s", repr(call))]
                    if time.monotonic() - t0 > limit:
                        break
                else:
                    res = self.conn.recv()
                    return [Outcome(c, r, repr(call)) for c, r in res]
                why = (f"no answer within {TIMEOUT_S:.0f} s, nor within {RETRY_TIMEOUT_S:.0f} s in a fresh "
                       "worker")
            except (EOFError, OSError, BrokenPipeError) as e:
                why = f"the worker died ({type(e).__name__}; exit code {self.proc.exitcode})"
                if attempt == 1:
                    self._stop()
                    return [Outcome("CRASH", why, repr(call))]
            self._stop()
        return [Outcome("HANG", why, repr(call))]


# --------------------------------------------------------------------------------------------
# helpers for the checkers
# --------------------------------------------------------------------------------------------

def all_perms(n):
    return itertools.permutations(range(n))


def _arr(v, dtype=np.float64):
    return np.asarray(v, dtype=dtype)


def _kw(call: Call, name: str, pos: int | None, default=None):
    """The value the caller gave for parameter ``name`` (keyword, or position ``pos``)."""
    if name in call.kwargs:
        return call.kwargs[name]
    if pos is not None and pos < len(call.args):
        return call.args[pos]
    return default


def _mp():
    import mpmath

    mpmath.mp.dps = 40
    return mpmath


def _close(got, ref, rtol=1e-9, atol=0.0) -> bool:
    """|got - ref| <= rtol |ref| + atol, with ref an mpmath number or float (inf == inf)."""
    mpmath = _mp()
    ref = mpmath.mpf(ref) if not isinstance(ref, mpmath.mpf) else ref
    got = float(got)
    if mpmath.isinf(ref) or math.isinf(got):
        # inf is also the right float for a finite value beyond the float maximum (an overflow)
        beyond = mpmath.isinf(ref) or abs(ref) * (1 - rtol) > sys.float_info.max
        return beyond and math.isinf(got) and (ref > 0) == (got > 0)
    return abs(mpmath.mpf(got) - ref) <= rtol * abs(ref) + atol


def _norm_weights(w, n):
    mpmath = _mp()
    w = np.ones(n) if w is None else _arr(w).ravel()
    tot = mpmath.fsum(mpmath.mpf(float(e)) for e in w)
    return [mpmath.mpf(float(e)) / tot for e in w]


def w1d_ref(u, v, uw, vw, p):
    """Exact W_p in 1-D by the quantile formula, in 40-digit arithmetic."""
    mpmath = _mp()
    u, v = _arr(u).ravel(), _arr(v).ravel()
    return _w1d_mp([mpmath.mpf(float(x)) for x in u], [mpmath.mpf(float(x)) for x in v], uw, vw, p)


def lp_ref(a, b, C):
    """min <P, C> over couplings of the normalised a, b (HiGHS), on C scaled to max |C| = 1;
    None where the scaled problem cannot be trusted (costs spanning more than 1e250)."""
    from scipy.optimize import linprog

    C = _arr(C)
    n, m = C.shape
    a = np.ones(n) / n if a is None else _arr(a) / _arr(a).sum()
    b = np.ones(m) / m if b is None else _arr(b) / _arr(b).sum()
    s = float(np.max(np.abs(C))) if C.size else 0.0
    if s == 0.0:
        return 0.0
    if not math.isfinite(s):
        return None
    Cs = C / s
    A = np.zeros((n + m, n * m))
    for i in range(n):
        A[i, i * m:(i + 1) * m] = 1.0
    for j in range(m):
        A[n + j, j::m] = 1.0
    r = linprog(Cs.ravel(), A_eq=A, b_eq=np.r_[a, b], bounds=(0, None), method="highs")
    return float(r.fun) * s if r.status == 0 else None


def _nan_in(v) -> bool:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return bool(np.isnan(a).any())


def _inf_in(v) -> bool:
    try:
        a = np.asarray(v, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return bool(np.isinf(a).any())


def _value(res):
    return float(res.value) if hasattr(res, "value") else float(res)


SCAN_FIELDS = ("value", "objective", "f", "g", "plan", "stderr", "ci", "duality_gap", "perm")


def _scan_nan(res, allow=()) -> list[tuple[str, str]]:
    if dataclasses.is_dataclass(res):
        bad = [f for f in SCAN_FIELDS if f not in allow and hasattr(res, f)
               and getattr(res, f) is not None and _nan_in(getattr(res, f))]
        return [("SILENT-NAN", f"NaN in the result's `{f}`") for f in bad]
    if isinstance(res, tuple):
        return [x for e in res for x in _scan_nan(e, allow)]
    if _nan_in(res):
        return [("SILENT-NAN", "NaN in the result")]
    return []


def _finite_value(res, what="value") -> list[tuple[str, str]]:
    v = _value(res)
    if math.isinf(v):
        return [("SILENT-NAN", f"{what} is {v} where the exact value is finite")]
    return []


def _cmp(got, ref, what, rtol=1e-9, atol=0.0):
    if ref is None:
        return []
    if _nan_in(got):
        return [("SILENT-NAN", f"{what} is NaN (reference {float(ref):.17g})")]
    if not _close(got, ref, rtol, atol):
        return [("WRONG", f"{what} = {float(got)!r}, reference {float(ref):.17g}")]
    return []


# --------------------------------------------------------------------------------------------
# the checkers, by name (Call.check)
# --------------------------------------------------------------------------------------------

def _chk_w1d(call, res):
    u, v = _kw(call, "u_values", 0), _kw(call, "v_values", 1)
    uw, vw = _kw(call, "u_weights", 2), _kw(call, "v_weights", 3)
    p = float(_kw(call, "p", None, 1))
    val = res.value if hasattr(res, "value") else res
    if np.ndim(val) != 0:  # batches: row by row
        U, V = np.atleast_2d(_arr(u)), np.atleast_2d(_arr(v))
        out = []
        for r in range(np.size(val)):
            ur = U[r] if U.shape[0] > 1 else U[0]
            vr = V[r] if V.shape[0] > 1 else V[0]
            out += _cmp(np.ravel(val)[r], w1d_ref(ur, vr, uw, vw, p), f"W_{p:g} of row {r}")
        return out
    return _cmp(val, w1d_ref(u, v, uw, vw, p), f"W_{p:g}")


def _chk_projected_core(x, y, a, b, p, th):
    x, y = _arr(x), _arr(y)
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    mpmath = _mp()
    ws = []
    for t in th:
        # the projections exactly: a double (53 bits) times a direction entry (133 bits at
        # dps 40) is exact in 186 bits, and a sum of such products is exact once the precision
        # spans their exponents (2^-2150 .. 2^1030) as well: 4500 bits. At dps 40 alone,
        # (1e200, 1) and (1e200, -1.09) projected to the same number, a W of 0 where the
        # points are 0.97 apart along the direction
        with mpmath.workprec(4500):
            px = [mpmath.fsum(mpmath.mpf(float(c)) * mpmath.mpf(tt) for c, tt in zip(row, t)) for row in x]
            py = [mpmath.fsum(mpmath.mpf(float(c)) * mpmath.mpf(tt) for c, tt in zip(row, t)) for row in y]
        ws.append(_w1d_mp(px, py, a, b, p))
    return ws


def _w1d_mp(px, py, a, b, p):
    """W_p in 1-D by the quantile formula on mpmath values (the north-west corner walk);
    projections reach it unrounded, samples as their exact float values."""
    mpmath = _mp()
    aw, bw = _norm_weights(a, len(px)), _norm_weights(b, len(py))
    su = sorted((x, w) for x, w in zip(px, aw) if w > 0)
    sv = sorted((x, w) for x, w in zip(py, bw) if w > 0)
    i = j = 0
    ra, rb = su[0][1], sv[0][1]
    total = mpmath.mpf(0)
    P = mpmath.mpf(p)
    while True:
        m = min(ra, rb)
        d = abs(su[i][0] - sv[j][0])
        if m > 0 and d > 0:
            total += m * d ** P
        ra -= m
        rb -= m
        if ra <= mpmath.mpf(10) ** -35:
            i += 1
            if i == len(su):
                break
            ra += su[i][1]
        if rb <= mpmath.mpf(10) ** -35:
            j += 1
            if j == len(sv):
                break
            rb += sv[j][1]
    return total ** (1 / P) if total > 0 else mpmath.mpf(0)


def _directions(call):
    from kantorovich.ot import random_directions

    rng = _kw(call, "rng", None)
    if isinstance(rng, bool) or not isinstance(rng, (int, np.integer)):
        return None
    x = _arr(_kw(call, "x", 0))
    d = 1 if x.ndim == 1 else x.shape[1]
    return random_directions(int(_kw(call, "n_projections", None)), d, rng=int(rng))


def _chk_sliced(call, res):
    th = _directions(call)
    if th is None:
        return []
    p = float(_kw(call, "p", None, 1))
    ws = _chk_projected_core(_kw(call, "x", 0), _kw(call, "y", 1), _kw(call, "a", None),
                             _kw(call, "b", None), p, th)
    mpmath = _mp()
    if p == 1:
        ref = mpmath.fsum(ws) / len(ws)
    else:
        top = max(ws)
        ref = top * (mpmath.fsum((w / top) ** p for w in ws) / len(ws)) ** (1 / mpmath.mpf(p)) if top > 0 else top
    return _cmp(res, ref, f"SW_{p:g} along the drawn directions", rtol=1e-8)


def _chk_max_sliced(call, res):
    th = _directions(call)
    if th is None:
        return []
    p = float(_kw(call, "p", None, 1))
    ws = _chk_projected_core(_kw(call, "x", 0), _kw(call, "y", 1), _kw(call, "a", None),
                             _kw(call, "b", None), p, th)
    ref = max(ws)
    if int(_kw(call, "refine", None, 0) or 0) == 0:
        return _cmp(res, ref, f"max-SW_{p:g} over the drawn directions", rtol=1e-8)
    if _nan_in(res):
        return [("SILENT-NAN", "NaN result")]
    if float(res) < float(ref) * (1 - 1e-8):
        return [("WRONG", f"refined max-SW_{p:g} = {float(res)!r} is below its best drawn direction "
                          f"{float(ref):.17g}")]
    return []


def _chk_projected(call, res):
    th = _arr(_kw(call, "directions", 2))
    th = th[None, :] if th.ndim == 1 else th
    mpmath = _mp()  # the directions are normalised by the function (docstring)
    th = [[mpmath.mpf(float(e)) / mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(f)) ** 2 for f in t)) for e in t]
          for t in th]
    p = float(_kw(call, "p", None, 1))
    ws = _chk_projected_core(_kw(call, "x", 0), _kw(call, "y", 1), _kw(call, "a", None),
                             _kw(call, "b", None), p, th)
    out = []
    for i, (g, r) in enumerate(zip(np.ravel(res), ws)):
        out += _cmp(g, r, f"W_{p:g} along direction {i}", rtol=1e-8)
    return out


def _chk_random_directions(call, res):
    L, d = int(_kw(call, "n_projections", 0)), int(_kw(call, "d", 1))
    if res.shape != (L, d) or not np.allclose(np.linalg.norm(res, axis=1), 1.0, rtol=1e-12):
        return [("WRONG", f"shape {res.shape}, want ({L}, {d}) unit vectors")]
    return []


def _hist_pair(call):
    p, q = _arr(_kw(call, "p", 0)), _arr(_kw(call, "q", 1))
    if _kw(call, "normalize", None, False):
        p = p / p.sum(-1, keepdims=True)
        q = q / q.sum(-1, keepdims=True)
    return p, q


def _chk_cumdeltas(call, res):
    p, q = _hist_pair(call)
    mpmath = _mp()
    out = []
    P, Q = np.broadcast_arrays(p, q)
    P, Q = P.reshape(-1, P.shape[-1]), Q.reshape(-1, Q.shape[-1])
    R = np.asarray(res).reshape(-1, P.shape[-1] + 1)
    for r in range(P.shape[0]):
        acc = mpmath.mpf(0)
        scale = max(float(np.abs(P[r]).sum()), float(np.abs(Q[r]).sum()))
        for i in range(P.shape[1]):
            acc += mpmath.mpf(float(P[r, i])) - mpmath.mpf(float(Q[r, i]))
            out += _cmp(R[r, i + 1], acc, f"delta[{i + 1}]", rtol=0, atol=1e-12 * scale)
    return out[:1]


def _chk_emd1dh(call, res):
    p, q = _hist_pair(call)
    h = float(_kw(call, "bin_width", None, 1.0))
    mpmath = _mp()
    P, Q = np.broadcast_arrays(p, q)
    P, Q = P.reshape(-1, P.shape[-1]), Q.reshape(-1, Q.shape[-1])
    out = []
    for r in range(P.shape[0]):
        acc, tot = mpmath.mpf(0), mpmath.mpf(0)
        for i in range(P.shape[1]):
            acc += mpmath.mpf(float(P[r, i])) - mpmath.mpf(float(Q[r, i]))
            tot += abs(acc)
        scale = max(float(np.abs(P[r]).sum()), 1e-300) * P.shape[1] * h
        out += _cmp(np.ravel(res)[r], tot * h, f"EMD of row {r}", rtol=1e-9, atol=1e-12 * scale)
    return out[:1]


def _dense(call, pos=2, name="M"):
    from kantorovich.ot import DenseGeometry, PointCloud

    M = _kw(call, name, pos)
    if isinstance(M, PointCloud):
        return _pc_cost_ref(M.x, M.y, M.p)
    if isinstance(M, DenseGeometry):
        return _arr(M.C)
    return _arr(M)


def _pc_cost_ref(x, y, p):
    """|x - y|^p (Euclidean), each pair evaluated at the power-of-two scale of its own largest
    coordinate difference (one scale for all pairs underflows the unit-scale pairs to 0 when
    another point is at 1e200); None where it is not finite."""
    x, y = _arr(x), _arr(y)
    half = np.ldexp(x, -1)[:, None, :] - np.ldexp(y, -1)[None, :, :]  # never overflows
    t = np.abs(half).max(-1) if half.shape[-1] else np.zeros(half.shape[:2])
    k = np.where(t > 0, np.frexp(t)[1], 0)
    D = np.sqrt((np.ldexp(half, -k[..., None]) ** 2).sum(-1))  # in [0.5, sqrt(d)], or 0
    e = (k + 1) * float(p)  # |x - y|^p = D^p 2^e
    ei = np.floor(e)
    with np.errstate(over="ignore", under="ignore"):
        C = np.ldexp(D ** p * np.exp2(e - ei), np.clip(ei, -2000, 2000).astype(np.int64))
    return C if np.isfinite(C).all() else None


def _chk_emd(call, res):
    C = _dense(call)
    a, b = _kw(call, "a", 0), _kw(call, "b", 1)
    if C.ndim == 3:  # a batch (B, n, m): each problem against its own reference
        value = np.asarray(res.value, dtype=np.float64)
        if value.shape != C.shape[:1]:
            return [("WRONG", f"a batch of {C.shape[0]} problems gave values of shape {value.shape}")]
        row = lambda w, q: None if w is None else (_arr(w)[q] if np.ndim(w) == 2 else w)  # noqa: E731
        out = []
        for q in range(C.shape[0]):
            one = dataclasses.replace(call, args=(), kwargs={**call.kwargs, "a": row(a, q),
                                                             "b": row(b, q), "M": C[q]})
            out += [(k, f"problem {q}: {why}") for k, why in
                    _chk_emd(one, types.SimpleNamespace(value=float(value[q])))]
        return out
    if _kw(call, "normalize", None, False) is False and a is not None and b is not None:
        mass = float(_arr(a).sum())
    else:
        mass = 1.0
    ref = lp_ref(a, b, C)
    out = _finite_value(res, "the EMD value")
    if ref is not None and not out:
        scale = float(np.max(np.abs(C))) if C.size else 0.0
        out += _cmp(res.value, ref * mass, "the EMD value", rtol=1e-7, atol=1e-7 * scale * mass)
    return out


def _chk_auction_transport(call, res):
    C = _dense(call)
    ref = lp_ref(_kw(call, "a", 0), _kw(call, "b", 1), C)
    scale = float(np.max(np.abs(C)))
    return _finite_value(res) + _cmp(res.value, ref, "the OT value", rtol=1e-7, atol=1e-7 * scale)


def _chk_wasserstein(call, res):
    x, y = _arr(_kw(call, "x", 0)), _arr(_kw(call, "y", 1))
    x = x[:, None] if x.ndim == 1 else x
    y = y[:, None] if y.ndim == 1 else y
    a, b = _kw(call, "a", 2), _kw(call, "b", 3)
    p = float(_kw(call, "p", None, 1))
    method = _kw(call, "method", None, "auto")
    uniform = (a is None or np.ptp(_arr(a)) == 0) and (b is None or np.ptp(_arr(b)) == 0)
    if method == "auto" and x.shape[1] > 1 and x.shape[0] * y.shape[0] > int(
            _kw(call, "exact_max_entries", None, 25_000_000)) and not (x.shape[0] == y.shape[0] and uniform):
        method = "sinkhorn"  # rule 4 of the docstring: an entropic upper approximation
    out = _finite_value(res, "W_p")
    if out or method == "sinkhorn":
        if method == "sinkhorn" and not out:
            ref = _wasserstein_ref(x, y, a, b, p)
            if ref is not None and float(res) < float(ref) * (1 - 1e-6):
                out.append(("WRONG", f"the entropic W_{p:g} = {float(res)!r} is below the exact {float(ref):.17g}"))
        return out
    ref = _wasserstein_ref(x, y, a, b, p)
    return _cmp(res, ref, f"W_{p:g}", rtol=1e-6)


def _wasserstein_ref(x, y, a, b, p):
    mpmath = _mp()
    n, m = x.shape[0], y.shape[0]
    if x.shape[1] == 1:
        return w1d_ref(x[:, 0], y[:, 0], a, b, p)
    P = mpmath.mpf(p)
    Cm = [[mpmath.sqrt(mpmath.fsum((mpmath.mpf(float(xi)) - mpmath.mpf(float(yj))) ** 2
                                   for xi, yj in zip(x[i], y[j]))) ** P for j in range(m)] for i in range(n)]
    uniform = (a is None or np.ptp(_arr(a)) == 0) and (b is None or np.ptp(_arr(b)) == 0)
    if n == m and uniform and n <= 7:
        best = min(mpmath.fsum(Cm[i][s[i]] for i in range(n)) for s in all_perms(n))
        return (best / n) ** (1 / P)
    top = max(max(r) for r in Cm)
    if top == 0:
        return mpmath.mpf(0)
    if any(0 < c < top * mpmath.mpf(10) ** -250 for r in Cm for c in r):
        return None  # costs spanning more than the float range: no LP reference
    Cs = np.array([[float(c / top) for c in r] for r in Cm])
    v = lp_ref(a, b, Cs)
    return None if v is None else (mpmath.mpf(v) * top) ** (1 / P)


def _chk_sinkhorn(call, res):
    out = _finite_value(res, "value")
    if np.ndim(res.value) != 0:
        return out
    if math.isinf(float(res.objective)):
        out.append(("SILENT-NAN", f"objective is {res.objective}"))
    C = _dense(call)
    if C is None or not np.isfinite(C).all() or not res.converged:
        return out
    a, b = _kw(call, "a", 0), _kw(call, "b", 1)
    n, m = C.shape
    an = np.ones(n) / n if a is None else _arr(a) / _arr(a).sum()
    bn = np.ones(m) / m if b is None else _arr(b) / _arr(b).sum()
    lp = lp_ref(an, bn, C)
    span = float(C.max() - C.min())
    err = max(float(np.max(res.marginal_error_history)) if np.size(res.marginal_error_history) else 0.0, 1e-9)
    tol = (100 * err + 1e-6) * span + 1e-12 * float(np.abs(C).max())
    indep = float(an @ C @ bn)
    if lp is not None and float(res.value) < lp - tol:
        out.append(("WRONG", f"value <P, C> = {float(res.value)!r} is below the OT optimum {lp!r} "
                             f"(converged=True)"))
    obj = float(res.objective)
    if not call.kwargs.get("symmetric") and (obj > indep + tol or (lp is not None and obj < lp - tol)):
        out.append(("WRONG", f"objective = {obj!r} outside [OT, <a x b, C>] = [{lp!r}, {indep!r}] "
                             f"(converged=True)"))
    return out


def _chk_sinkhorn_divergence(call, res):
    return _finite_value(res, "S_eps")


def _chk_assignment(call, res):
    from kantorovich.ot import PointCloud

    M = _kw(call, "M", 0)
    if M is None:
        p = _kw(call, "cost", None, "sqeuclidean")
        p = {"sqeuclidean": 2.0, "euclidean": 1.0}.get(p, p)
        C = _pc_cost_ref(_kw(call, "x", None), _kw(call, "y", None), float(p))
    elif isinstance(M, PointCloud):
        C = _pc_cost_ref(M.x, M.y, M.p)
    else:
        C = _dense(call, 0)
    perm = np.asarray(res.perm)
    n = perm.size
    out = []
    if sorted(perm.tolist()) != list(range(n)):
        return [("WRONG", f"perm {perm.tolist()} is not a permutation")]
    if C is None or not np.isfinite(C).all():
        return _finite_value(res)
    mpmath = _mp()
    Cm = [[mpmath.mpf(float(c)) for c in r] for r in C]
    got = mpmath.fsum(Cm[i][perm[i]] for i in range(n)) / n
    out += _cmp(res.value, got, "value vs the mean cost of the returned perm", rtol=1e-9,
                atol=1e-12 * float(np.abs(C).max()))
    if res.exact and n <= 6:
        best = min(mpmath.fsum(Cm[i][s[i]] for i in range(n)) for s in all_perms(n)) / n
        span = float(C.max() - C.min())
        if got > best + 1e-9 * span + 1e-12 * float(np.abs(C).max()):
            out.append(("WRONG", f"exact=True but value {float(got):.17g} > optimum {float(best):.17g}"))
    return out


def _chk_geometry(call, res):
    from kantorovich.ot import PointCloud

    obj = resolve(call.path)(*call.args, **call.kwargs)
    if isinstance(obj, PointCloud):
        C = _pc_cost_ref(obj.x, obj.y, obj.p)
    else:
        C = _arr(obj.C)
    if C is None:
        return []
    meth = call.method
    if meth in ("cost_matrix",):
        return _cmp_arr(res, C, "cost_matrix()")
    if meth == "cost_block":
        i0, i1 = call.margs
        return _cmp_arr(res, C[i0:i1], f"cost_block({i0}, {i1})")
    if meth == "diameter":
        if isinstance(obj, PointCloud):
            if float(res) < float(C.max()) * (1 - 1e-12):
                return [("WRONG", f"diameter {float(res)!r} < the largest cost {float(C.max())!r}")]
            return []
        return _cmp(res, float(C.max() - C.min()), "diameter()", rtol=1e-6 if obj.C.dtype == np.float32 else 1e-12)
    if meth == "cost_range":
        return _cmp(res[0], float(C.min()), "cost_range()[0]", rtol=1e-6) + _cmp(
            res[1], float(C.max()), "cost_range()[1]", rtol=1e-6)
    return []


def _cmp_arr(got, ref, what):
    got = np.asarray(got, dtype=np.float64)
    if got.shape != ref.shape:
        return [("WRONG", f"{what} has shape {got.shape}, want {ref.shape}")]
    if np.isnan(got).any():
        return [("SILENT-NAN", f"NaN in {what}")]
    bad = ~np.isclose(got, ref, rtol=1e-6, atol=0) & (np.isfinite(got) | np.isfinite(ref))
    if bad.any():
        i = tuple(np.argwhere(bad)[0])
        cls = "SILENT-NAN" if np.isinf(got[i]) else "WRONG"
        return [(cls, f"{what}{list(i)} = {got[i]!r}, reference {ref[i]!r}")]
    return []


def _pmfs(call):
    p, q = _arr(_kw(call, "p", 0)), _arr(_kw(call, "q", 1))
    P, Q = np.broadcast_arrays(p, q)
    P, Q = P.reshape(-1, P.shape[-1]), Q.reshape(-1, Q.shape[-1])
    return P / P.sum(1, keepdims=True), Q / Q.sum(1, keepdims=True)


def _kl_mp(p, q):
    mpmath = _mp()
    P = [mpmath.mpf(float(e)) for e in p]
    Q = [mpmath.mpf(float(e)) for e in q]
    sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
    tot = mpmath.mpf(0)
    for a, b in zip(P, Q):
        a, b = a / sp, b / sq
        if a > 0:
            if b == 0:
                return mpmath.inf
            tot += a * mpmath.log(a / b)
    return tot


def _js_mp(p, q):
    mpmath = _mp()
    P = [mpmath.mpf(float(e)) for e in p]
    Q = [mpmath.mpf(float(e)) for e in q]
    sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
    P, Q = [e / sp for e in P], [e / sq for e in Q]
    M = [(a + b) / 2 for a, b in zip(P, Q)]
    return (_kl_mp(P, M) + _kl_mp(Q, M)) / 2


def _chk_exact_div(call, res):
    which = call.path.split(".")[-1]
    P, Q = _pmfs(call)
    base = _kw(call, "base", None)
    mpmath = _mp()
    if base is not None and float(base) <= 1:
        return [("WRONG", f"accepted base={base!r} (a logarithm base must exceed 1) and returned {res!r}")]
    lb = mpmath.log(base) if base is not None else mpmath.mpf(1)
    out = []
    vals = np.ravel(res)
    for r in range(P.shape[0]):
        if which == "tv_distance":
            ref = mpmath.fsum(abs(mpmath.mpf(float(a)) - mpmath.mpf(float(b))) for a, b in zip(P[r], Q[r])) / 2
            lo, hi = 0.0, 1.0
        elif which == "kl_divergence":
            ref, lo, hi = _kl_mp(P[r], Q[r]) / lb, 0.0, math.inf
        elif which == "js_divergence":
            ref, lo, hi = _js_mp(P[r], Q[r]) / lb, 0.0, float(mpmath.log(2) / lb)
        else:
            ref = mpmath.sqrt(max(_js_mp(P[r], Q[r]) / lb, 0))
            lo, hi = 0.0, float(mpmath.sqrt(mpmath.log(2) / lb))
        v = float(vals[r])
        if not (lo - 1e-15 <= v <= hi * (1 + 1e-12) + 1e-15):
            out.append(("WRONG", f"{which} = {v!r} outside its range [{lo}, {hi}]"))
        out += _cmp(v, ref, which, rtol=1e-9, atol=1e-15)
    return out[:2]


def _chk_optdisc(call, res):
    p, q = _arr(_kw(call, "p_data", 0)), _arr(_kw(call, "p_g", 1))
    al, be = float(_kw(call, "alpha", None, 1.0)), float(_kw(call, "beta", None, 0.0))
    p, q = np.broadcast_arrays(p, q)
    mpmath = _mp()
    out = []
    for i, (g, a, b) in enumerate(zip(np.ravel(res), np.ravel(p), np.ravel(q))):
        a, b = mpmath.mpf(float(a)), mpmath.mpf(float(b))
        ref = (al * a + be * b) / (a + b) if a + b > 0 else mpmath.mpf(al + be) / 2
        if 0 < ref < 1 and not 0 < float(g) < 1:
            out.append(("WRONG", f"D*[{i}] = {float(g)!r} but the exact {mpmath.nstr(ref, 6)} is inside (0, 1)"))
        out += _cmp(g, ref, f"D*[{i}]", rtol=1e-12, atol=1e-300)
    return out[:2]


def _gan_ref(D, p, q, w):
    mpmath = _mp()
    D, p, q = np.broadcast_arrays(_arr(D), _arr(p), _arr(q))
    if w is None:
        P = [mpmath.mpf(float(e)) for e in np.ravel(p)]
        Q = [mpmath.mpf(float(e)) for e in np.ravel(q)]
        sp, sq = mpmath.fsum(P), mpmath.fsum(Q)
        P, Q = [e / sp for e in P], [e / sq for e in Q]
    else:
        W = np.broadcast_to(_arr(w), p.shape)
        P = [mpmath.mpf(float(e)) * mpmath.mpf(float(ww)) for e, ww in zip(np.ravel(p), np.ravel(W))]
        Q = [mpmath.mpf(float(e)) * mpmath.mpf(float(ww)) for e, ww in zip(np.ravel(q), np.ravel(W))]
    tot = mpmath.mpf(0)
    for d, a, b in zip(np.ravel(D), P, Q):
        d = mpmath.mpf(float(d))
        if a > 0:
            if d == 0:
                return -mpmath.inf
            tot += a * mpmath.log(d)
        if b > 0:
            if d == 1:
                return -mpmath.inf
            tot += b * mpmath.log1p(-d)
    return tot


def _chk_gan(call, res):
    D, p, q = _kw(call, "D", 0), _kw(call, "p_data", 1), _kw(call, "p_g", 2)
    if np.ndim(res) != 0 or np.ndim(D) > 1 or np.ndim(p) > 1 or np.ndim(q) > 1:
        return []
    ref = _gan_ref(D, p, q, _kw(call, "weights", None))
    if call.path.endswith("js_from_discriminator"):
        ref = (ref + _mp().log(4)) / 2
    scale = 1.0
    return _cmp(res, ref, call.path.split(".")[-1], rtol=1e-9, atol=1e-15 * scale)


def _chk_estimate(call, res):
    which = call.path.split(".")[-1]
    v = float(res.value)
    out = []
    if math.isnan(v):
        return [("SILENT-NAN", "value is NaN")]
    n_boot = _kw(call, "n_boot", None, 200)
    if isinstance(n_boot, (int, np.integer)) and n_boot >= 2:
        if _nan_in(res.stderr) or _nan_in(res.ci):
            out.append(("SILENT-NAN", f"stderr {res.stderr!r} / ci {res.ci!r} NaN with n_boot={n_boot}"))
    if which == "estimate_js" and not -0.1 <= v <= LOG2 + 0.1:
        out.append(("WRONG", f"JS estimate {v!r} far outside [0, log 2]"))
    if which == "estimate_tv" and not -0.1 <= v <= 1.1:
        out.append(("WRONG", f"TV estimate {v!r} far outside [0, 1]"))
    if which == "estimate_kl" and v < -1e3:
        out.append(("WRONG", f"KL estimate {v!r} hugely negative"))
    return out


def _chk_parzen(call, res):
    out = []
    for f in ("value", "stderr"):
        v = float(getattr(res, f))
        if (math.isnan(v) and (f == "value" or res.m > 1)) or (math.isinf(v) and f == "stderr"):
            out.append(("SILENT-NAN", f"{f} = {v!r}"))
    bw = _kw(call, "bandwidth", None)
    if out or isinstance(bw, (str, type(None))) or isinstance(bw, bool):
        return out
    s, h = _arr(_kw(call, "samples", 0)), _arr(_kw(call, "held_out", 1))
    s = s[:, None] if s.ndim == 1 else s
    h = h[:, None] if h.ndim == 1 else h
    mpmath = _mp()
    sig = mpmath.mpf(float(bw))
    n, d = s.shape
    lls = []
    for z in h:
        terms = [-mpmath.fsum((mpmath.mpf(float(a)) - mpmath.mpf(float(b))) ** 2 for a, b in zip(z, x)) / (2 * sig ** 2)
                 for x in s]
        top = max(terms)
        lls.append(top + mpmath.log(mpmath.fsum(mpmath.exp(t - top) for t in terms)) - mpmath.log(n)
                   - d * mpmath.log(2 * mpmath.pi * sig ** 2) / 2)
    ref = mpmath.fsum(lls) / len(lls)
    return _cmp(res.value, ref, "mean log-likelihood", rtol=1e-8, atol=1e-10)


def _chk_inception(call, res):
    P = _arr(_kw(call, "class_probs", 0))
    v = float(res.value)
    if math.isnan(v):
        return [("SILENT-NAN", "value is NaN")]
    K = P.shape[-1] if P.ndim == 2 else 1
    out = []
    if not 1 - 1e-9 <= v <= K * (1 + 1e-9):
        out.append(("WRONG", f"IS = {v!r} outside [1, {K}]"))
    ns = _kw(call, "n_splits", None, 10)
    if ns == 1 and P.ndim == 2:
        mpmath = _mp()
        rows = [[mpmath.mpf(float(e)) for e in r] for r in P]
        rows = [[e / mpmath.fsum(r) for e in r] for r in rows]
        marg = [mpmath.fsum(r[k] for r in rows) / len(rows) for k in range(K)]
        kl = mpmath.fsum(_kl_mp(r, marg) for r in rows) / len(rows)
        out += _cmp(v, mpmath.exp(kl), "IS", rtol=1e-9)
    return out


def _chk_family(call, res):
    m = call.method
    out = []
    if m == "sample":
        for i, s in enumerate(res):
            if not np.isfinite(np.asarray(s, dtype=np.float64)).all():
                out.append(("SILENT-NAN", f"non-finite entries in sample {i}"))
        return out
    if m in ("pdf0", "pdf1"):
        return [("SILENT-NAN", "NaN density")] if _nan_in(res) else []
    v = float(res)
    if math.isnan(v):
        return [("SILENT-NAN", f"{m}() is NaN")]
    rng = {"tv": (0.0, 1.0), "js": (0.0, LOG2), "kl": (0.0, math.inf), "kl_reverse": (0.0, math.inf),
           "w1": (0.0, math.inf), "w2": (0.0, math.inf)}.get(m)
    if rng and not rng[0] - 1e-12 <= v <= rng[1] * (1 + 1e-12) + 1e-300:
        out.append(("WRONG", f"{m}() = {v!r} outside [{rng[0]}, {rng[1]}]"))
    fam = call.path.split(".")[-1]
    obj = resolve(call.path)(*call.args, **call.kwargs)
    ref = _family_ref(fam, obj, m)
    if ref is not None:
        out += _cmp(v, ref, f"{fam}.{m}()", rtol=1e-9, atol=1e-300)
    if m in ("w1", "w2") and not out:
        try:
            w1, w2 = float(obj.w1()), float(obj.w2())
        except Exception:  # noqa: BLE001 - the other one may have no closed form
            return out
        if w1 > w2 * (1 + 1e-9):
            out.append(("WRONG", f"W1 = {w1!r} > W2 = {w2!r}"))
    return out


def _family_ref(fam, obj, m):
    mpmath = _mp()
    if fam == "ParallelLines":
        t = mpmath.mpf(float(obj.theta))
        return {"tv": 1 if t else 0, "js": mpmath.log(2) if t else 0, "w1": abs(t), "w2": abs(t),
                "kl": mpmath.inf if t else 0, "kl_reverse": mpmath.inf if t else 0}.get(m)
    if fam == "UniformSegments":
        a0, b0, a1, b1 = (mpmath.mpf(float(e)) for e in (obj.a0, obj.b0, obj.a1, obj.b1))
        L0, L1 = b0 - a0, b1 - a1
        if m in ("w1", "w2"):
            # quantiles a0 + t L0 and a1 + t L1: integrate |c + t e|^p over [0, 1]
            c, e = a0 - a1, L0 - L1
            P = 1 if m == "w1" else 2
            f = lambda t: abs(c + t * e) ** P  # noqa: E731
            pts = [0, 1] + ([-c / e] if e != 0 and 0 < -c / e < 1 else [])
            val = mpmath.quad(f, sorted(pts))
            return val ** (mpmath.mpf(1) / P)
        if m == "tv":
            ov = max(mpmath.mpf(0), min(b0, b1) - max(a0, a1))
            return 1 - ov * min(1 / L0, 1 / L1) if ov > 0 else mpmath.mpf(1)
    if fam == "GaussianPair" and getattr(obj, "dim", None) == 1:
        m0, s0 = mpmath.mpf(float(obj.mean0[0])), mpmath.sqrt(mpmath.mpf(float(obj.cov0[0, 0])))
        m1, s1 = mpmath.mpf(float(obj.mean1[0])), mpmath.sqrt(mpmath.mpf(float(obj.cov1[0, 0])))
        if m == "w2":
            return mpmath.sqrt((m0 - m1) ** 2 + (s0 - s1) ** 2)
        if m == "kl":
            return mpmath.log(s1 / s0) + (s0 ** 2 + (m0 - m1) ** 2) / (2 * s1 ** 2) - mpmath.mpf(1) / 2
        if m == "kl_reverse":
            return mpmath.log(s0 / s1) + (s1 ** 2 + (m0 - m1) ** 2) / (2 * s0 ** 2) - mpmath.mpf(1) / 2
    return None


def _chk_gaussian_fn(call, res):
    which = call.path.split(".")[-1]
    v = float(res)
    if math.isnan(v):
        return [("SILENT-NAN", f"{which} is NaN")]
    args = [_arr(_kw(call, n, i)) for i, n in enumerate(("m0", "S0", "m1", "S1"))]
    if v < 0:
        return [("WRONG", f"{which} = {v!r} < 0")]
    if all(a.size == 1 for a in args):
        mpmath = _mp()
        m0, S0, m1, S1 = (mpmath.mpf(float(a.ravel()[0])) for a in args)
        if which == "gaussian_w2":
            ref = mpmath.sqrt((m0 - m1) ** 2 + (mpmath.sqrt(S0) - mpmath.sqrt(S1)) ** 2)
        else:
            ref = (S0 / S1 + (m1 - m0) ** 2 / S1 - 1 + mpmath.log(S1 / S0)) / 2
        return _cmp(v, ref, which, rtol=1e-9, atol=1e-300)
    return []


def _chk_pairwise(call, res):
    """Every entry against the one-pair reference (1-D quantiles or the LP), a zero diagonal."""
    X, Y = _kw(call, "X", 0), _kw(call, "Y", 1)
    p = float(_kw(call, "p", None, 1))
    sym = Y is None
    Ys = X if sym else Y
    wx = _kw(call, "X_weights", None)
    wy = wx if sym else _kw(call, "Y_weights", None)
    wx = [None] * len(X) if wx is None else wx
    wy = [None] * len(Ys) if wy is None else wy
    D = np.asarray(res, dtype=np.float64)
    if D.shape != (len(X), len(Ys)):
        return [("WRONG", f"shape {D.shape}, want {(len(X), len(Ys))}")]
    if np.isnan(D).any():
        return [("SILENT-NAN", "NaN in the matrix")]
    for i in range(len(X)):
        for j in range(len(Ys)):
            x, y = _arr(X[i]), _arr(Ys[j])
            if sym and i == j:
                ref, rtol = 0.0, 0.0
            elif x.ndim == 1:
                ref, rtol = w1d_ref(x, y, wx[i], wy[j], p), 1e-9
            else:
                ref, rtol = _wasserstein_ref(x, y, wx[i], wy[j], p), 1e-6
            out = _cmp(D[i, j], ref, f"W_{p:g}[{i}, {j}]", rtol=rtol)
            if out:
                return out
    return []


CHECKS = {
    "pairwise": _chk_pairwise,
    "w1d": _chk_w1d, "sliced": _chk_sliced, "max_sliced": _chk_max_sliced,
    "projected": _chk_projected, "random_directions": _chk_random_directions,
    "cumdeltas": _chk_cumdeltas, "emd1dh": _chk_emd1dh, "emd": _chk_emd,
    "auction_transport": _chk_auction_transport, "wasserstein": _chk_wasserstein,
    "sinkhorn": _chk_sinkhorn, "sinkhorn_divergence": _chk_sinkhorn_divergence,
    "assignment": _chk_assignment, "geometry": _chk_geometry, "exact_div": _chk_exact_div,
    "optdisc": _chk_optdisc, "gan": _chk_gan, "estimate": _chk_estimate,
    "parzen": _chk_parzen, "inception": _chk_inception, "family": _chk_family,
    "gaussian_fn": _chk_gaussian_fn,
}

# result fields documented as NaN in some cases (EstimateResult: no bootstrap below n_boot = 2;
# the estimators' checker asks for finite ones otherwise)
ALLOW_NAN = {"estimate": ("stderr", "ci"), "parzen": ("stderr", "ci"), "inception": ("stderr", "ci")}


def check(call: Call, res: Any, warned: list) -> list[tuple[str, str]]:
    out = _scan_nan(res, ALLOW_NAN.get(call.check, ()))
    if call.check:
        found = CHECKS[call.check](call, res)
        if call.check == "estimate" and any(_kantorovich_warning(w) for w in warned):
            # an estimate outside the range of the divergence, with a warning saying why
            found = [o for o in found if "far outside" not in o[1]]
        out += [o for o in found if o not in out]
    return out
