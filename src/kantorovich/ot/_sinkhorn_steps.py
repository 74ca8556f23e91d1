"""The single solver's iterations between two convergence checks, in one compiled call.

A small host float64 solve on the numba backend is Python-bound: at 64 x 64 points a soft-min's
row loop takes 3-4 us, while the Python around it (the loop's closures and thread bookkeeping,
``OnlineSoftmin.__call__``'s decisions, buffers and numba dispatches of 7 to 16 arguments)
took ~12 us more, twice per iteration. :func:`_sinkhorn_loop
<kantorovich.ot._sinkhorn._sinkhorn_loop>` hands the iterations up to and including the next
measured one (the next convergence check, or the probe's half-way measurement) to
:func:`run_steps`, and the annealing levels to the same call; the checks, the error history,
the tail extrapolations and the Newton step stay in Python, on the operators as before.

The soft-min of each half-step is the batched solver's ``sm_operator``
(``kantorovich.ot._sinkhorn_batch``: its ``_sm`` without the generic kernel), which does what
``OnlineSoftmin.__call__`` (and, for a dense cost that keeps the kernel matrix,
``DenseSoftmin.__call__``) does, step for step and through the same compiled row loops called
by address, with the state of the two operators themselves: their shift buffers, kernel-matrix
decisions and matrices are the arrays of the tuple ``K`` (the previous outputs are copied in
when the operators moved on in Python, and handed back after). So ``f``, ``g``, the errors and
every decision are bit for bit those of the Python loop (tests/ot/test_sinkhorn_steps.py); the
batched solver's tests check the same function against the operators. The marginal error is
the one compiled loop that the Python loop calls
(:func:`~kantorovich.ot._sinkhorn_batch.marginal_error`).

Taken (:func:`compiled_steps`) where the soft-mins of a solve all run on one thread
(``_NumbaThreads.fixed == 1``: below ``_NUMBA_SERIAL_MAX_ENTRIES`` cost entries, or one numba
thread) in float64 on the host: a point cloud with a named cost (any d and p), or a dense cost
that keeps the kernel matrix at every eps of the solve (``kmat_dense_eligible``); elsewhere the
Python loop runs as before.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._constants import LOG2E as _LOG2E
from ._geometry import DenseGeometry
from ._sinkhorn_batch import (
    _DENSE_K,
    _ONLINE,
    _ONLINE2,
    _POINTWISE,
    marginal_error,
    row_addresses,
    sm_operator,
)

__all__ = ["AVERAGED", "AVERAGED_FIRST", "ALTERNATING", "ONE_SIDED", "CompiledSteps",
           "compiled_steps", "run_steps"]

# the update of the iterations of one call (kantorovich.ot._sinkhorn._sinkhorn_loop)
ALTERNATING, AVERAGED, AVERAGED_FIRST, ONE_SIDED = 0, 1, 2, 3


@njit(inline="always")
def _half_step(K, side, e, h, out, cnt):
    """The operator's soft-min (``sm_operator``; it always runs for the problems that
    :func:`compiled_steps` admits) and its counters (``cnt[side]``: kernel-matrix calls, rows
    computed, rows that fell back to the safe path), as ``OnlineSoftmin`` / ``DenseSoftmin``
    count them."""
    sm_operator(K, side, e, h, out)
    kst = K[23][side]
    size = out.shape[0]
    if K[21].shape[0] > 0 and kst[0] == _LOG2E / e and kst[1] == 1.0:
        cnt[side, 0] += 1
        cnt[side, 1] += size
    elif K[0][0] != _POINTWISE:
        cnt[side, 1] += size
        fell = K[17] if side == 0 else K[18]
        bad = 0
        for i in range(size):
            bad += fell[i]
        cnt[side, 2] += bad


@njit(cache=True)
def run_steps(K, a, b, loga, logb, f, g, ft, gt, hx, hy, levels, count, step, measure, cnt):
    """``count`` Sinkhorn iterations in place on ``f`` (n,) and ``g`` (m,) (one array for
    both in ``ONE_SIDED``), at ``levels[t]`` for iteration ``t`` (``levels[0]`` for all when it
    has one entry); returns the L1 marginal error measured before the last iteration's update
    when ``measure`` (else 0). Per iteration at ``e``, with ``ft = softmin_x(e, g + e log b)``
    and ``gt = softmin_y(e, f + e log a)``:

    - ``AVERAGED``: ``f, g = (f + ft)/2, (g + gt)/2`` (error: both marginals);
    - ``ONE_SIDED`` (self-transport, ``f`` is ``g``): ``f = g = (f + ft)/2`` (twice the rows' error);
    - ``ALTERNATING``: ``f = ft``, then ``g = softmin_y(e, f + e log a)`` (the rows' error);
    - ``AVERAGED_FIRST``: the first iteration averaged, the others alternating.

    The same expressions and roundings as the Python loop (``kantorovich.ot._sinkhorn``)."""
    n = f.shape[0]
    m = g.shape[0]
    # the sides as run-time integers: literal 0 and 1 would compile sm_operator twice
    sx = n - n
    sy = sx + 1
    err = 0.0
    for t in range(count):
        e = levels[t] if levels.shape[0] > 1 else levels[0]
        last = measure and t == count - 1
        for j in range(m):
            hy[j] = g[j] + e * logb[j]
        _half_step(K, sx, e, hy, ft, cnt)
        if step == ONE_SIDED:
            if last:
                err = marginal_error(a, f, ft, e)
                err = err + err
            for i in range(n):
                v = 0.5 * (f[i] + ft[i])
                f[i] = v
                g[i] = v
            continue
        averaged = step == AVERAGED or (step == AVERAGED_FIRST and t == 0)
        if last:
            err = marginal_error(a, f, ft, e)
        if not averaged:
            for i in range(n):
                f[i] = ft[i]
        for i in range(n):
            hx[i] = f[i] + e * loga[i]
        # one call site for the column soft-min (the compiled code is the smaller)
        _half_step(K, sy, e, hx, gt if averaged else g, cnt)
        if averaged:
            if last:
                err = err + marginal_error(b, g, gt, e)
            for i in range(n):
                f[i] = 0.5 * (f[i] + ft[i])
            for j in range(m):
                g[j] = 0.5 * (g[j] + gt[j])
    return err


class CompiledSteps:
    """The two numba operators of one solve (``sx.ops``) as ``sm_operator``'s state tuple, and
    :meth:`run`, the loop's entry; :meth:`close` adds the compiled calls to the operators' and
    the thread bookkeeping's counts (what ``info`` reports)."""

    def __init__(self, mode: int, opx, opy, threads, a, b, loga, logb):
        n, m = a.shape[0], b.shape[0]
        addresses = row_addresses()
        self.opx, self.opy, self.threads, self.mode = opx, opy, threads, mode
        self.a, self.b, self.loga, self.logb = a, b, loga, logb
        self.prev = (np.empty(n), np.empty(m))
        self.have = np.zeros(2, dtype=np.int64)
        kst = np.empty((2, 3))
        if mode == _DENSE_K:
            kx, hcx, wx, ox, fx = opx.kmat_buffers()
            ky, hcy, wy, oy, fy = opy.kmat_buffers()
            Cf, none = opx._flat, np.empty((0, 0))
            XC = YC = XT = YT = none
            p = 0.0
        else:
            if opx.kmat_applies():
                kx, wx = opx.kmat_buffers()
                ky, wy = opy.kmat_buffers()
            else:
                kx = ky = np.empty(0)
                wx, wy = np.empty(m), np.empty(n)
            # the operators' kernel-matrix decisions (kmat_decide_py) become rows of one array
            kst[0], kst[1] = opx._kstate, opy._kstate
            opx._kstate, opy._kstate = kst[0], kst[1]
            hcx, hcy, ox, oy, fx, fy = opx._hc, opy._hc, opx._o, opy._o, opx._fell_back, opy._fell_back
            Cf = np.empty(0)
            XC, YC, XT, YT = opx._x64, opy._x64, opy._yT64, opx._yT64
            p = opx.p
        # the layout of _sinkhorn_batch._solve_batch's tuple (one signature of sm_operator for both)
        self.K = (np.array([float(mode), p]), Cf, Cf, np.empty(max(n, m)), XC, YC, XT, YT,
                  np.empty((2, n)), np.empty((2, m)), np.zeros(1), self.prev[0], self.prev[1],
                  hcx, hcy, ox, oy, fx, fy, self.have, addresses, kx, ky, kst, wx, wy)
        self.kst = kst
        self.work = (np.empty(n), np.empty(m), np.empty(n), np.empty(m))  # ft, gt, hx, hy
        self.cnt = np.zeros((2, 3), dtype=np.int64)
        self.calls = 0

    def _load(self):
        """The operators' state into ``K`` where Python calls moved it on."""
        for side, op in enumerate((self.opx, self.opy)):
            prev = op._prev
            if prev is not self.prev[side]:
                if prev is None:
                    self.have[side] = 0
                else:
                    self.prev[side][:] = prev
                    self.have[side] = 1
        if self.mode == _DENSE_K:
            for side, op in enumerate((self.opx, self.opy)):
                self.kst[side, 0] = op._kc
                self.kst[side, 1] = 1.0 if op._kusable else 2.0

    def _store(self):
        """``K``'s state back to the operators (the Python calls that follow use it)."""
        for side, op in enumerate((self.opx, self.opy)):
            if self.have[side]:
                op._prev = self.prev[side]  # (an operator never writes into its _prev)
        if self.mode == _DENSE_K:
            for side, op in enumerate((self.opx, self.opy)):
                op._kc = float(self.kst[side, 0])
                op._kusable = bool(self.kst[side, 1] == 1.0)

    def run(self, f, g, levels, count: int, step: int, measure: bool):
        """``count`` iterations from ``(f, g)`` (:func:`run_steps`); returns new arrays ``(f,
        g, error)`` (one array for both sides in ``ONE_SIDED``): the loop keeps the old ones
        for its extrapolation."""
        self._load()
        f = f.copy()
        g = f if step == ONE_SIDED else g.copy()
        ft, gt, hx, hy = self.work
        err = run_steps(self.K, self.a, self.b, self.loga, self.logb, f, g, ft, gt, hx, hy,
                        levels, count, step, measure, self.cnt)
        self._store()
        self.calls += count * (1 if step == ONE_SIDED else 2)
        return f, g, err

    def close(self) -> None:
        """The compiled calls into the counts that ``info`` reports."""
        c, self.cnt = self.cnt, np.zeros((2, 3), dtype=np.int64)
        for side, op in enumerate((self.opx, self.opy)):
            op.n_kmat_calls += int(c[side, 0])
            if self.mode == _DENSE_K:
                op.n_out += int(c[side, 1])
            else:
                op.n_rows += int(c[side, 1])
                op.n_fallback += int(c[side, 2])
        self.threads.calls += self.calls
        self.threads.counts[1] += self.calls
        self.calls = 0


def compiled_steps(p) -> CompiledSteps | None:
    """The compiled iterations for a prepared problem (``kantorovich.ot._sinkhorn._Problem``),
    or None where the Python loop runs them (see the module notes)."""
    from ._sinkhorn import _dense_kernel_matrix

    threads = getattr(p.softmin_x, "threads", None)
    if (threads is None or threads.fixed != 1 or p.xp is not np or p.wdt != np.float64
            or p.progress):
        return None
    n, m = p.geom.shape
    if n == 0 or m == 0:
        return None
    opx, opy = p.softmin_x.ops
    if isinstance(p.geom, DenseGeometry):
        if not (opx._kmat and opy._kmat and _dense_kernel_matrix(p.geom, p.eps, p.wdt)):
            return None
        mode = _DENSE_K
    else:
        if opx.dtype != np.float64:
            return None
        d = opx._x64.shape[1]
        mode = (_POINTWISE if opx.p not in (1.0, 2.0) else _ONLINE2 if d == 2 else _ONLINE)
    return CompiledSteps(mode, opx, opy, threads, p.a, p.b, p.loga, p.logb)
