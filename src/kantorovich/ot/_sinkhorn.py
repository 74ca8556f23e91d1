"""Entropic optimal transport by log-domain Sinkhorn, with one loop for every backend.

The loop (:func:`_sinkhorn_loop`) takes the soft-min as an argument (GeomLoss style): the
dense numpy reference, the numba CPU online kernel, the numba-cuda fused kernel and the CuPy
RawKernel all plug into it through two callables ``softmin_x(eps, h)`` (over the columns of C,
one value per row) and ``softmin_y(eps, h)`` (over the rows, one value per column).

:func:`sinkhorn` itself is three steps: :func:`_prepare` checks the arguments and sets up a
:class:`_Problem` (weights, geometry and soft-mins on the backend, start, eps schedule),
:func:`_solve` runs the loop, :func:`_package` computes the value and objective and builds the
``SinkhornResult``.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._array_api import accepted_backends, cupy_or_raise, is_cupy, resolve_backend, to_host
from .._results import Result, SinkhornResult
from .._validation import (
    INT64_MAX,
    check_cost_matrix,
    check_float_dtype,
    check_int,
    check_positive,
    check_same_mass,
    check_weights,
    describe,
    input_dtype,
    mass_rtol,
)
from .._progress import progress_bar
from .._warnings import warn
from ..exceptions import ConvergenceWarning
from ._costs import cost_block
from ._geometry import (
    DenseGeometry,
    PointCloud,
    as_geometry,
    batch_size_or_raise,
    check_dense_memory,
)
from .._constants import EXP_CLIP as _EXP_CLIP
from .._constants import EXP_CLIP32 as _EXP_CLIP32
from .._constants import LOG2E as _LOG2E
from ._kernels.schedule_rules import annealing_pays as _annealing_pays

__all__ = [
    "SINKHORN_BACKENDS",
    "SinkhornDivergenceResult",
    "SinkhornPlan",
    "sinkhorn",
    "sinkhorn_divergence",
]

SINKHORN_BACKENDS = accepted_backends("sinkhorn")
# backend="auto" on the host: numpy up to these n*m, numba above (measured crossovers per
# soft-min, benchmarks/bench_sinkhorn_crossover.py, docs/sinkhorn.md): point clouds tie at
# n = m = 10 and numba wins 1.5-3x at 20-50, 8-13x at 100, 25-80x at 500-1000; dense costs tie
# at n = m = 50-100 (numpy's vectorised dense LSE has little overhead), numba wins 1.2-2x at
# 200, 2-3x at 500, 3.4-5x at 1000; a small float64 dense cost that numba's kernel matrix takes
# for the whole solve goes to numba at any size (_dense_kernel_matrix: 2.2 -> 0.57 ms at 64^2)
_AUTO_NUMPY_MAX_POINTCLOUD = 100
_AUTO_NUMPY_MAX_DENSE = 10_000
_NUMBA_SERIAL_MAX_ENTRIES = 1 << 15  # numba soft-mins below this n*m always run on one thread


# --------------------------------------------------------------------------------------------
# backends: each returns (xp, softmin_x, softmin_y, name)
# softmin_x(eps, h, with_mean_cost=False) -> (n,)   out_i = -eps log sum_j exp((h_j - C_ij)/eps)
# softmin_y(eps, h)                        -> (m,)   out_j = -eps log sum_i exp((h_i - C_ij)/eps)
# --------------------------------------------------------------------------------------------

def _ops_numpy(geom, wdt):
    from ._kernels import softmin_numpy as K

    if isinstance(geom, DenseGeometry):
        C = geom.C.astype(wdt, copy=False)
        CT = C.T

        def sx(eps, h, with_mean_cost=False):
            return K.softmin_dense(C, h, eps, with_mean_cost=with_mean_cost)

        def sy(eps, h, with_mean_cost=False):
            return K.softmin_dense(CT, h, eps, with_mean_cost=with_mean_cost)
    elif geom.cost_is_callable:  # fn(x_block, y) by rows; the columns as fn(x, y_block).T
        x, y, c = geom.x.astype(wdt, copy=False), geom.y.astype(wdt, copy=False), geom._cost

        def sx(eps, h, with_mean_cost=False):
            return K.softmin_pointcloud(x, y, h, eps, c, with_mean_cost=with_mean_cost)

        def sy(eps, h, with_mean_cost=False):
            return K.softmin_pointcloud(y, x, h, eps, c, with_mean_cost=with_mean_cost,
                                        block=lambda j0, j1: cost_block(x, y[j0:j1], c).T)
    else:
        x, y, p = geom.x.astype(wdt, copy=False), geom.y.astype(wdt, copy=False), geom.p

        def sx(eps, h, with_mean_cost=False):
            return K.softmin_pointcloud(x, y, h, eps, p, with_mean_cost=with_mean_cost)

        def sy(eps, h, with_mean_cost=False):
            return K.softmin_pointcloud(y, x, h, eps, p, with_mean_cost=with_mean_cost)
    return sx, sy


def _ops_numba(geom, wdt):
    # stateful operators: each remembers its last output, the next call's per-row shift;
    # dtype float32 runs the float32 kernels (float32 exp, float64 row sums)
    kdt = np.float32 if wdt == np.float32 else np.float64
    if isinstance(geom, DenseGeometry):
        from ._kernels import softmin_numba_dense as KD

        # one contiguous C in the working dtype, shared by both operators: the column soft-min
        # walks it row-major (no transposed copy)
        C = np.ascontiguousarray(geom.C, dtype=kdt)
        opx, opy = KD.DenseSoftmin(C, axis=1, dtype=kdt), KD.DenseSoftmin(C, axis=0, dtype=kdt)
    else:
        from ._kernels import softmin_numba as K

        x, y, p = geom.x, geom.y, geom.p
        opx = K.OnlineSoftmin(x, y, p, dtype=kdt)
        opy = K.OnlineSoftmin(y, x, p, dtype=kdt)
    threads = _NumbaThreads(geom.shape[0] * geom.shape[1])

    def cast(r):
        if isinstance(r, tuple):
            return r[0].astype(wdt, copy=False), r[1]
        return r.astype(wdt, copy=False)

    def sx(eps, h, with_mean_cost=False):
        return cast(threads.call(opx, eps, h, with_mean_cost))

    def sy(eps, h, with_mean_cost=False):
        return cast(threads.call(opy, eps, h, with_mean_cost))
    sx.ops = sy.ops = (opx, opy)
    sx.threads = sy.threads = threads
    return sx, sy


class _NumbaThreads:
    """Runs the numba soft-mins of one solve on all numba threads or on one, by measurement.

    Below ``_NUMBA_SERIAL_MAX_ENTRIES`` cost entries per soft-min: always one thread (the work,
    < ~40 us, is too small to split). Above: both modes are timed on the solve's own calls
    (after the first, safe-path call: calls 1-6 alternate, three each); from then on every
    call is timed, the mode with the smaller **mean** of its last ``_WINDOW`` times runs (the
    mean, not the median, because rare long stalls are what it must price), and the other
    mode is re-timed once every ``_PROBE_EVERY`` calls, so a change of machine load is
    followed, or less often where it is much slower: the re-timings take at most
    ``_PROBE_SHARE`` (5 %) of the time (:meth:`probe_interval`). Why: with free cores the
    threads split the rows (2 threads ~halve the time), but when other processes oversubscribe the cores, a parallel call waits for a descheduled
    thread at its join, ~8-16 ms per call measured on the shared 2-core box (load 3-10), far
    more than the whole work at n <= 1000. Results do not depend on the mode: each row is
    summed by one thread in a fixed order, and the dense column soft-min's chunking is fixed.
    """

    _PROBE_EVERY = 64
    _PROBE_SHARE = 0.05  # the re-timings' largest share of the calls' time (probe_interval)
    _WINDOW = 8

    def __init__(self, entries: int):
        import numba

        self._numba = numba
        self.all = numba.get_num_threads()
        self.fixed = 1 if (entries < _NUMBA_SERIAL_MAX_ENTRIES or self.all == 1) else None
        self.times: dict[int, list[float]] = {1: [], self.all: []}
        self.calls = 0
        self.counts = {1: 0, self.all: 0}
        self._next_probe = self._PROBE_EVERY  # the call that re-times the other mode next
        self._pinned = False

    @contextlib.contextmanager
    def pinned(self):
        """Within: the soft-mins of a solve whose calls all run on one thread (below
        ``_NUMBA_SERIAL_MAX_ENTRIES``) find numba already on one thread, set once for the loop
        instead of twice per call (~3.7 us a pair, a sixth of a 64-point soft-min)."""
        if self.fixed != 1 or self.all == 1 or self._pinned:
            yield
            return
        self._numba.set_num_threads(1)
        self._pinned = True
        try:
            yield
        finally:
            self._pinned = False
            self._numba.set_num_threads(self.all)

    def _choose(self) -> tuple[int, bool]:
        """(threads for this call, whether to time it)."""
        if self.fixed is not None:
            return self.fixed, False
        c = self.calls
        if c == 0:
            return self.all, False  # first call: safe path everywhere, not representative
        if c <= 6:
            return (self.all if c % 2 else 1), True
        best = self.best()
        if c >= self._next_probe:
            self._next_probe = c + self.probe_interval(best)
            return (1 if best == self.all else self.all), True
        return best, True

    def probe_interval(self, best: int) -> int:
        """Calls from one re-timing of the other mode to the next: ``_PROBE_EVERY``, or more
        where the other mode's mean time is more than ``_PROBE_EVERY * _PROBE_SHARE`` times the
        best's, so that the re-timings cost at most ``_PROBE_SHARE`` of the calls' time. (A
        parallel call that waits 5 ms at its join beside 40 us one-thread calls, re-timed every
        64 calls, had cost twice the solve's own work: 256 x 256 points under load 2.)"""
        t_best, t_other = self.mean(best), self.mean(1 if best == self.all else self.all)
        if not t_best > 0.0:
            return self._PROBE_EVERY
        return max(self._PROBE_EVERY, math.ceil(t_other / (t_best * self._PROBE_SHARE)))

    def best(self) -> int:
        """The mode the measurements favour so far (all threads before any measurement)."""
        if self.fixed is not None:
            return self.fixed
        if not all(self.times.values()):
            return self.all
        return min(self.times, key=self.mean)

    def mean(self, k: int) -> float:
        """The mean of the last timed calls on ``k`` threads (0 before any)."""
        ts = self.times[k]
        return sum(ts) / len(ts) if ts else 0.0

    def call(self, op, eps, h, with_mean_cost=False):
        if with_mean_cost:  # once per solve (<P, C>), not timed
            k, timed = self.best(), False
        else:
            k, timed = self._choose()
            self.calls += 1
        self.counts[k] += 1
        if k == self.all or self._pinned:
            t0 = time.perf_counter()
            out = op(eps, h, with_mean_cost=with_mean_cost)
        else:
            self._numba.set_num_threads(k)
            try:
                t0 = time.perf_counter()
                out = op(eps, h, with_mean_cost=with_mean_cost)
            finally:
                self._numba.set_num_threads(self.all)
        if timed:
            ts = self.times[k]
            ts.append(time.perf_counter() - t0)
            del ts[:-self._WINDOW]
        return out


def _ops_cupy_pointcloud(geom, wdt):
    from ._kernels import softmin_cupy as K

    x, y, p = geom.x.astype(wdt, copy=False), geom.y.astype(wdt, copy=False), geom.p
    fx = K.OnlineSoftmin(x, y, p)
    fy = K.OnlineSoftmin(y, x, p)
    return fx, fy


def _cupy_loop_info(fx, fy, n_iter: int, error_reads: int, one_sided: tuple = ()) -> dict:
    """What the CuPy soft-mins of a finished solve did (docs/sinkhorn.md, "On a GPU"): rows
    redone by the safe kernel in each iteration (both half-steps; every row in the first
    iteration of a cold start, which has no shift yet) and in the final ``<P, C>`` pass, the
    soft-min calls and kernel launches, and the marginal errors read back (the loop's host
    reads; the several-mode tail extrapolation adds two per jump). The counters stay on the
    device during the loop; reading them here costs two synchronisations, after it.
    ``one_sided``: the iterations that ran ``fx`` alone (a self-transport problem's)."""
    rx, ry = fx.fallback_rows(), fy.fallback_rows()
    # one call of each per iteration (of fx alone in `one_sided`), then the final pass's
    k = min(n_iter, len(rx))
    both = np.setdiff1d(np.arange(k), np.asarray(one_sided, dtype=np.int64))[:len(ry)]
    per_iter = rx[:k].copy()
    per_iter[both] += ry[:len(both)]
    return {"fallback_rows_per_iter": per_iter.tolist(),
            "fallback_rows_final_pass": rx[k:].tolist() + ry[len(both):].tolist(),
            "softmin_calls": fx.calls + fy.calls, "softmin_launches": fx.launches + fy.launches,
            "error_reads": int(error_reads)}


def _resolve_backend(backend: str, geom, on_gpu: bool, eps: float | None = None, wdt=None) -> str:
    # the vocabulary of docs/arrays.md "Backends"; "numba_cuda" is a deprecated spelling of
    # "cuda" here (one GPU soft-min: the CuPy RawKernel, docs/sinkhorn.md)
    if isinstance(geom, PointCloud) and geom.cost_is_callable:
        # a Python callable runs on numpy blocks only: "auto" is numpy at every size
        if backend in ("auto", "numpy"):
            return "numpy"
        if backend in SINKHORN_BACKENDS or backend == "numba_cuda":
            raise ValueError(f"`backend`={backend!r} cannot evaluate a callable `cost` (the numba "
                             "and CUDA soft-min kernels compute the named costs inline); use "
                             "backend='numpy' or 'auto', or a named cost (docs/costs.md, "
                             "\"A callable cost\").")
    backend = resolve_backend(backend, "sinkhorn")
    n, m = geom.shape
    if eps is not None and not on_gpu and backend == "auto" and not _numba_takes_eps(eps):
        return "numpy"
    if backend == "auto":
        if on_gpu:
            return "cuda"
        limit = _AUTO_NUMPY_MAX_DENSE if isinstance(geom, DenseGeometry) else _AUTO_NUMPY_MAX_POINTCLOUD
        if n * m <= limit and not _dense_kernel_matrix(geom, eps, wdt):
            return "numpy"
        return "numba"
    return backend


def _numba_takes_eps(eps: float) -> bool:
    """Whether the numba kernels' base-2 exponent scale c = log2(e) / eps is finite: not below
    log2(e) / finfo(float64).max = 8.03e-309 (a subnormal eps; numpy works in base e)."""
    return math.isfinite(_LOG2E / eps)


def _dense_kernel_matrix(geom, eps, wdt) -> bool:
    """Whether a small float64 dense problem runs every soft-min on the numba kernel matrix
    (``softmin_numba.kmat_dense_eligible``; docs/sinkhorn.md, "Small problems: the kernel
    matrix"): then ``auto`` takes numba below its numpy size too (the matrix-vector half-step
    beats numpy's log-sum-exp there, and the batched solver rounds as this solver)."""
    from ._kernels.softmin_numba import _KMAT_MAX_ENTRIES, kmat_dense_eligible

    n, m = geom.shape
    if (eps is None or not isinstance(geom, DenseGeometry) or np.dtype(wdt) != np.float64
            or not 0 < n * m <= _KMAT_MAX_ENTRIES):
        return False
    C = np.asarray(geom.C)
    return kmat_dense_eligible(n, m, float(C.min()), float(C.max()), eps)


# --------------------------------------------------------------------------------------------
# the loop
# --------------------------------------------------------------------------------------------

_MAX_SCHEDULE_LEVELS = 100_000  # 0.5 needs 50 levels for diameter/eps = 1e15


def eps_schedule(diameter: float, eps: float, scaling: float | None,
                 max_levels: int = _MAX_SCHEDULE_LEVELS) -> list[float]:
    """Epsilon-scaling schedule: ``diameter * scaling**k`` for k = 0, 1, ... while > ``eps``.

    The target ``eps`` itself is not in the list (the loop runs at it until convergence).
    ``scaling=None`` (or a diameter <= eps) gives an empty schedule. A schedule longer than
    ``max_levels`` (about ``log(diameter/eps) / log(1/scaling)`` levels; a ``scaling`` that
    rounds ``e * scaling`` back to ``e`` would never end) is a ValueError naming ``scaling``.
    """
    if scaling is None or not diameter > eps or not math.isfinite(diameter):
        return []
    step = -math.log(scaling)
    need = math.log(diameter / eps) / step if step > 0 else math.inf
    if not need < max_levels:
        raise ValueError(
            f"`scaling`={scaling!r} needs about {need:.3g} eps-scaling levels from the cost "
            f"diameter {diameter:.3g} down to eps={eps:.3g}, more than {max_levels}; use a "
            "smaller `scaling` (0.5 is the default) or None.")
    out, e = [], float(diameter)
    while e > eps:
        out.append(e)
        nxt = e * scaling
        if not nxt < e:  # rounding: cannot happen for scaling <= 1 - 2**-52 once need < max_levels
            raise ValueError(f"`scaling`={scaling!r} does not shrink eps {e:.3g} in float64.")
        e = nxt
    return out


def _marginal_error(xp, w, pot, pot_new, eps):
    """sum_i w_i |exp((pot_i - pot_new_i)/eps) - 1| (the L1 error of one marginal).

    float64 on the host: one compiled loop, shared with the batched solver (which then takes
    the same convergence and extrapolation decisions; docs/batch.md)."""
    if xp is np and pot.dtype == np.float64 and pot_new.dtype == np.float64 and w.dtype == np.float64:
        from ._sinkhorn_batch import marginal_error

        return marginal_error(w, pot, pot_new, float(eps))
    clip = _exp_clip(pot.dtype)
    t = xp.clip((pot - pot_new) / eps, -clip, clip)
    return xp.sum(w * xp.abs(xp.expm1(t)))


def _exp_clip(dtype) -> float:
    """The clip of an exponent before exp in ``dtype``'s arithmetic: 700 in float64, 80 in
    float32, whose exp(700) is inf (a zero weight times it was NaN: a float32 solve with a
    zero weight and costs far above eps stopped with "NaN potentials")."""
    return _EXP_CLIP if dtype == np.float64 else _EXP_CLIP32


def _sinkhorn_loop(xp, softmin_x: Callable, softmin_y: Callable, a, b, loga, logb, f, g, *,
                   eps: float, schedule: list[float], max_iter: int, tol: float, check_every: int,
                   symmetric: bool, bar=None, stats: dict | None = None, self_transport: bool = False,
                   steps=None):
    """Run log-domain Sinkhorn; returns (f, g, errors, n_iter, converged, n_scaling), and
    ``stats["probe"]``, the iterations of the cold probe, when a ``stats`` dict is given.

    One iteration at ``e``, symmetric (GeomLoss's averaged Jacobi step)::

        ft = softmin_x(e, g + e log b);  gt = softmin_y(e, f + e log a)
        f, g = (f + ft)/2, (g + gt)/2

    alternating (``symmetric=False``, classical Sinkhorn)::

        f = softmin_x(e, g + e log b);   g = softmin_y(e, f + e log a)

    Iterations at ``eps`` until the L1 marginal error of the plan ``P_ij = a_i b_j exp((f_i +
    g_j - C_ij)/eps)`` is below ``tol`` (checked every ``check_every`` iterations, as a device
    reduction and one scalar transfer) or ``max_iter`` iterations in all. With a ``schedule``,
    the first ``check_every`` of them are a probe: if it has not converged and the decay of its
    error between iterations ``check_every // 2`` and ``check_every`` predicts more than
    ``len(schedule) + check_every`` further iterations, one averaged iteration per eps of
    ``schedule`` follows (annealing, whatever ``symmetric`` says, from the probe's potentials),
    then iterations at ``eps``, the first of them averaged and checked, with the tail
    extrapolation (:func:`_extrapolate_tail`); otherwise the run goes on exactly as without a
    schedule. ``n_scaling`` counts the annealing iterations (0 when none ran); every iteration
    counts in ``n_iter``. A close call (a prediction between one and two times that length)
    extends the probe by ``check_every`` iterations, at most twice, and is decided again on the
    rate of the last interval (5 x 5 grid at eps = 0.1, tol 1e-6: 45 iterations annealed, 40
    cold). Why a probe: a cold start that converges within
    its first checks needs fewer iterations than the schedule has levels (10 points on a line:
    10 against 20 with the annealing first).

    Why the annealing averages: when the plan at an eps is close to a permutation (measures that
    nearly coincide, eps below the gap between neighbours), the dual has a flat direction
    ``(f + phi, g - phi)`` that moves the plan only through its tiny off-support entries, so an
    error along it decays at a rate close to 1. An alternating step maps an error ``(u, v)`` to
    about ``(-v, v)``: it turns the symmetric part of the error (left by the change of eps
    between levels) into exactly that antisymmetric, slow part. The averaged step maps it to
    about ``((u - v)/2, (v - u)/2)``: it removes the symmetric part without creating any. With
    alternating annealing, ten points on a line at eps = 0.1 needed 8545 iterations to a
    marginal error of 1e-4 against 1 from a cold start; averaged, 11 (docs/sinkhorn.md).

    ``self_transport``: the problem is OT(a, a) on a symmetric cost (``softmin_y`` computes
    what ``softmin_x`` does, ``b = a``) and starts from ``f = g``. An averaged step then maps
    ``f = g`` to ``f = g``, so it runs one soft-min and keeps one potential for both sides
    (the self terms of a Sinkhorn divergence: half their soft-mins, as GeomLoss does). A step
    that leaves the two apart (an extrapolation's rounding) goes on with two soft-mins until
    they meet again.

    Why the tail extrapolation: the annealing shortens the transient but leaves on the slowest
    mode at ``eps`` an amount of error that depends on the instance, sometimes more than a cold
    start leaves there (90 x 90 uniform points, eps = 3e-3: 1830 iterations to 1e-5 against
    1540 cold, both ending at that mode's rate 0.9993 per iteration). No start level, ratio or
    hand-over of the schedule avoided it on every problem of docs/sinkhorn.md's table, so the
    error on that mode is removed where it shows: once it dominates (720 iterations). Where
    several slow modes of nearly equal rate share the tail, that one-mode jump is undone again
    and again; from its third undo on, a several-mode extrapolation (:class:`_MultiModeTail`)
    runs beside it (90 x 90 points at eps = 1e-3: 4901 iterations to 1e-5, 7441 with the
    one-mode jump alone, 6540 cold). Where the tail still stalls, the error sits on a
    near-flat direction that decays harmonically (a near-isolated pair of points whose relative
    potential the annealing left several eps off); a Newton step on the dual
    (:func:`_newton_step`) removes it (30 x 30 points at eps = 1e-3, tol 1e-6, as a
    ``PointCloud``: 5179 iterations, 9191 without it, 8410 cold).

    ``steps`` (a :class:`~kantorovich.ot._sinkhorn_steps.CompiledSteps`, small float64 numba
    solves): the iterations up to the next measured one, and the annealing's levels, run in one
    compiled call on the same operators, with the same results bit for bit (docs/sinkhorn.md,
    "Small problems: the iterations compiled"); everything else here runs as without it.
    """
    errors: list[float] = []
    if steps is not None:
        from . import _sinkhorn_steps as _steps

        eps_level = np.array([eps])
    if self_transport and symmetric and bool(xp.array_equal(f, g)):
        g = f  # one array for both sides while they are equal (the docstring)

    def one_side(f, g):
        """Whether the averaged step can run one soft-min: both sides hold one array."""
        return self_transport and g is f

    def rejoined(f, g):
        """``(f, g)`` with one array for both sides again where an extrapolation left them
        equal (it computes each side on its own)."""
        if self_transport and g is not f and bool(xp.array_equal(f, g)):
            return f, f
        return f, g

    def newton(f, g, budget):
        return _newton_step(xp, softmin_x, softmin_y, a, b, loga, logb, f, g, eps, budget)

    def at_eps(f, g, it, k, stop, averaged_first, check_first, measure_at=-1, agree=0.0):
        """Iterations at ``eps`` from iteration ``it`` (``k`` of them done at eps) until ``tol``
        or ``stop``, with the tail extrapolation when ``agree`` > 0; returns (f, g, it, k,
        converged, error measured at iteration ``measure_at``)."""
        converged, e_measured = False, math.nan
        k_first = k
        tail: list = []  # (error, f, g) at the last checks, for the extrapolation
        undo = None  # (f, g, error bound) kept at an extrapolated jump
        multi = None  # the several-mode extrapolation, once the one-mode one has failed enough
        agree_first = agree
        eloga, elogb = eps * loga, eps * logb  # once per call, not per iteration (a launch each on CuPy)
        def marks(k, it):
            """(a convergence check, an error measured) at iteration ``it``, ``k`` at eps."""
            check = ((k % check_every == check_every - 1) or it == max_iter - 1
                     or (check_first and k == k_first))
            return check, check or k == measure_at

        while it < stop:
            check, measure = marks(k, it)
            count = 1  # the iterations of this pass of the loop
            if steps is not None:  # up to the next measured iteration in one compiled call
                while not measure and it + count < stop:
                    check, measure = marks(k + count, it + count)
                    count += 1
                if symmetric and one_side(f, g):
                    step = _steps.ONE_SIDED
                    if stats is not None:
                        stats.setdefault("one_sided", []).extend(range(it, it + count))
                elif symmetric:
                    step = _steps.AVERAGED
                else:
                    step = _steps.AVERAGED_FIRST if k == k_first and averaged_first else _steps.ALTERNATING
                f, g, err = steps.run(f, g, eps_level, count, step, measure)
            elif symmetric and one_side(f, g):
                ft = softmin_x(eps, g + elogb)
                if stats is not None:
                    stats.setdefault("one_sided", []).append(it)
                if measure:
                    err = _marginal_error(xp, a, f, ft, eps)
                    err = err + err  # the columns' error is the rows'
                f = g = 0.5 * (f + ft)
            elif symmetric or (k == k_first and averaged_first):
                ft = softmin_x(eps, g + elogb)
                gt = softmin_y(eps, f + eloga)
                if measure:
                    err = _marginal_error(xp, a, f, ft, eps) + _marginal_error(xp, b, g, gt, eps)
                f, g = 0.5 * (f + ft), 0.5 * (g + gt)
            else:
                ft = softmin_x(eps, g + elogb)
                if measure:
                    err = _marginal_error(xp, a, f, ft, eps)
                f = ft
                g = softmin_y(eps, f + eloga)
            it += count
            k += count
            if measure:
                e_val = float(err)  # the loop's one host read (a synchronisation on a GPU)
                if stats is not None:
                    stats["error_reads"] = stats.get("error_reads", 0) + 1
                if math.isnan(e_val):
                    raise FloatingPointError(
                        "sinkhorn produced NaN potentials; check the costs and weights for extreme values.")
                if not check:
                    e_measured = e_val
                    continue
                if bar is not None:
                    bar.update(it - bar.n)
                    bar.set_postfix_str(f"marginal error {e_val:.2e} (tol {tol:.0e})", refresh=False)
                errors.append(e_val)
                if e_val < tol:
                    converged = True
                    break
                if agree and multi is not None:
                    multi.budget = stop - it - 1
                    f, g, tail, undo, agree = multi.check(f, g, e_val, tail, undo, agree)
                    it, multi.spent = it + multi.spent, 0
                    f, g = rejoined(f, g)
                elif agree:
                    f, g, tail, undo, agree = _extrapolate_tail(f, g, e_val, tail, undo, agree)
                    f, g = rejoined(f, g)
                    if undo is None and agree <= agree_first / 2 ** _MULTI_MODE_AFTER_UNDOS:
                        multi = _MultiModeTail(xp)
                        multi.newton, multi.check_every = newton, check_every
        return f, g, it, k, converged, e_measured

    n_scaling = 0
    if not schedule:
        f, g, it, _, converged, _ = at_eps(f, g, 0, 0, max_iter, False, False)
    else:
        # the probe: the first check_every iterations of a cold start, with the error measured
        # half way too, for its decay rate
        half = check_every // 2 - 1 if check_every >= 2 else -1
        f, g, it, k, converged, e_half = at_eps(f, g, 0, 0, min(max_iter, check_every), False, False,
                                                measure_at=half)
        gap, cost = k - half - 1, len(schedule) + check_every
        for _ in range(_PROBE_DEFERRALS):
            # a close call (predicted within twice the annealing's length): one more check
            # interval of the cold start, then decide on its rate
            if (converged or it >= max_iter or not _annealing_pays(errors[-1], e_half, gap, tol, cost)
                    or _annealing_pays(errors[-1], e_half, gap, tol, 2 * cost)):
                break
            e_half, gap = errors[-1], check_every
            f, g, it, k, converged, _ = at_eps(f, g, it, k, min(max_iter, it + check_every), False, False)
        if stats is not None:
            stats["probe"] = it
        if not converged and it < max_iter:
            if _annealing_pays(errors[-1], e_half, gap, tol, cost):
                if steps is not None:  # the levels in one compiled call
                    count = min(len(schedule), max_iter - it)
                    one = one_side(f, g)
                    if one and stats is not None:
                        stats.setdefault("one_sided", []).extend(range(it, it + count))
                    f, g, _ = steps.run(f, g, np.asarray(schedule[:count], dtype=np.float64), count,
                                        _steps.ONE_SIDED if one else _steps.AVERAGED, False)
                    it += count
                    n_scaling += count
                for e in schedule if steps is None else ():  # averaged steps (see above); two soft-mins per iteration
                    if it >= max_iter:
                        break
                    ft = softmin_x(e, g + e * logb)
                    if one_side(f, g):
                        if stats is not None:
                            stats.setdefault("one_sided", []).append(it)
                        f = g = 0.5 * (f + ft)
                    else:
                        gt = softmin_y(e, f + e * loga)
                        f, g = 0.5 * (f + ft), 0.5 * (g + gt)
                    it += 1
                    n_scaling += 1
                f, g, it, _, converged, _ = at_eps(f, g, it, 0, max_iter, True, True,
                                                  agree=_EXTRAPOLATION_AGREEMENT)
            else:  # the cold start goes on, exactly as with scaling=None
                f, g, it, _, converged, _ = at_eps(f, g, it, k, max_iter, False, False)
    if bar is not None:
        bar.update(it - bar.n)
    if g is f:
        g = f.copy()  # the caller's two potentials are two arrays
    return f, g, errors, it, converged, n_scaling


_EXTRAPOLATION_AGREEMENT = 0.01
_PROBE_DEFERRALS = 2
# the several-mode extrapolation (_MultiModeTail): from the third undone one-mode jump on, with
# snapshots of the potentials every third check, the last six of them (five differences)
_MULTI_MODE_AFTER_UNDOS = 3
_MULTI_MODE_SPACING = 3
_MULTI_MODE_DIFFERENCES = 5


def _extrapolate_tail(f, g, e_now: float, tail: list, undo, agree: float):
    """One convergence check's share of the tail extrapolation after the annealing.

    When the errors of three consecutive checks fall at one rate ``r`` per check (the two
    ratios agree to ``agree`` times ``1 - r``), one mode of the error dominates, ``(f, g) ~
    (f*, g*) + A r^k v``, and the potentials jump to its limit (Aitken's delta-squared process,
    per mode)::

        (f, g) <- (f, g) + r / (1 - r) * ((f, g) - (f, g) at the previous check)

    The jump is judged at the next check: an error not below ``r`` times the one before it
    (what plain iterations give) undoes it (the iterations since count) and halves ``agree``.
    Returns (f, g, tail, undo, agree)."""
    if undo is not None:
        f_kept, g_kept, bound = undo
        if not e_now < bound:
            return f_kept, g_kept, [], None, 0.5 * agree
        tail = []
    tail = [*tail[-2:], (e_now, f, g)]
    if len(tail) == 3:
        (e0, _, _), (e1, f1, g1), (e2, f2, g2) = tail
        r1, r2 = e1 / e0, e2 / e1
        if r2 < 1.0 and abs(r2 - r1) <= agree * (1.0 - r2):
            c = r2 / (1.0 - r2)
            return f2 + c * (f2 - f1), g2 + c * (g2 - g1), [], (f, g, e2 * r2), agree
    return f, g, tail, None, agree


class _MultiModeTail:
    """The tail extrapolation once the one-mode jump has been undone three times (the tail is
    then a mix of several slow modes of nearly equal rate, docs/sinkhorn.md).

    At each check the one-mode rule (:func:`_extrapolate_tail`) still runs first and jumps when
    its ratios agree. Otherwise snapshots ``x_i = (f, g)`` are kept every third check; with six
    of them, their errors falling, the potentials jump to the reduced-rank extrapolation of
    their differences ``d_i = x_{i+1} - x_i`` (RRE; Sidi, *Vector Extrapolation Methods with
    Applications*, SIAM 2017, ch. 1): ``sum_i c_i x_{i+1}`` with the weights ``c`` (summing to
    1) that minimise ``|sum_i c_i d_i|``, which removes the error of up to five geometric
    modes at once. The next check judges the jump: an error not below the last snapshot's
    times the decay over the last snapshot interval undoes it and doubles the checks to wait
    before the next. Where neither jumps and the error has fallen by less than half over the
    last 18 checks (after the first several-mode jump was judged), a Newton step on the dual
    follows (:func:`_newton_step`), judged alike. Same interface as :func:`_extrapolate_tail`."""

    def __init__(self, xp):
        self.xp = xp
        self.pending_one = False  # the jump to judge is the one-mode rule's
        # the Newton step on a stalled tail (_newton_step): the loop sets ``newton`` (a
        # callable (f, g, budget) -> (f, g, iterations) or None), its ``check_every`` and,
        # before each check, ``budget`` (iterations left); it adds ``spent`` to its count after
        self.newton, self.check_every = None, 1
        self.budget = self.spent = 0
        self.pending_newton = False
        self.errs: list = []  # the errors at the checks since the last Newton step or undo
        self.newton_wait = 0  # checks to wait after an undone Newton step
        self.judged = 0  # the several-mode jumps judged so far (Newton waits for the first)
        self._reset()

    def _reset(self):
        self.snaps: list = []  # (error, f and g stacked) every _MULTI_MODE_SPACING checks
        self.wait = 0  # checks to wait after an undone jump
        self.since = 0  # checks since the last jump or undo
        self.count = 0  # checks since the last snapshot

    def check(self, f, g, e_now: float, tail: list, undo, agree: float):
        self.errs.append(e_now)
        if undo is not None and self.pending_newton:
            self.pending_newton = False
            f_kept, g_kept, bound = undo
            self._reset()
            if not e_now < bound:
                self.errs, self.newton_wait = [], 2 * max(self.newton_wait, _NEWTON_STALL_CHECKS)
                return f_kept, g_kept, [], None, agree
            self.errs = [e_now]
            return self._newton(f, g, e_now, 1.0, [], agree)  # Newton again while its steps pay
        if undo is not None and self.pending_one:
            f, g, tail, undo, agree = _extrapolate_tail(f, g, e_now, tail, undo, agree)
            self._reset()
            return f, g, tail, undo, agree
        if undo is not None:
            f_kept, g_kept, bound = undo
            self.snaps, self.since = [], 0
            self.judged += 1
            if not e_now < bound:
                self.wait = max(1, 2 * self.wait)
                return f_kept, g_kept, [], None, agree
            f, g, undo = self._step(f, g, e_now)
            return f, g, [], undo, agree
        f, g, tail, undo, agree = _extrapolate_tail(f, g, e_now, tail, None, agree)
        self.pending_one = undo is not None
        if self.pending_one:
            self._reset()
            return f, g, tail, undo, agree
        f, g, undo = self._step(f, g, e_now)
        if undo is None and self.newton is not None and self.judged and len(self.errs) > max(
                _NEWTON_STALL_CHECKS, self.newton_wait):
            e_then = self.errs[-1 - _NEWTON_STALL_CHECKS]
            if e_now > _NEWTON_STALL_DECAY * e_then:  # no jump, and stalled: a Newton step
                return self._newton(f, g, e_now, (e_now / e_then) ** (1 / _NEWTON_STALL_CHECKS), tail, agree)
        return f, g, tail, undo, agree

    def _newton(self, f, g, e_now: float, rate: float, tail: list, agree: float):
        """A Newton step (:func:`_newton_step`), judged at the next check: an error not below
        ``e_now`` times ``rate`` (the decay per check of the stall) over the checks its
        iterations are worth undoes it (f, g, tail, undo, agree)."""
        step = self.newton(f, g, self.budget)
        if step is None:
            return f, g, tail, None, agree
        f_new, g_new, self.spent = step
        if f_new is None:  # no step raised the dual: as an undone one
            self.errs, self.newton_wait = [], 2 * max(self.newton_wait, _NEWTON_STALL_CHECKS)
            return f, g, tail, None, agree
        self.pending_newton = True
        self._reset()
        return f_new, g_new, [], (f, g, e_now * rate ** (1 + self.spent / self.check_every)), agree

    def _step(self, f, g, e_now: float):
        """Keeps a snapshot when due and jumps when six are there: (f, g, undo)."""
        xp, k = self.xp, _MULTI_MODE_DIFFERENCES
        self.since += 1
        self.count += 1
        if self.count >= _MULTI_MODE_SPACING or not self.snaps:
            self.snaps = [*self.snaps[-k:], (e_now, xp.concatenate([f, g]))]
            self.count = 0
        if len(self.snaps) < k + 1 or self.since <= self.wait:
            return f, g, None
        errs = [s[0] for s in self.snaps]
        rate = errs[-1] / errs[-2]
        if not (rate < 1.0 and all(e1 < e0 for e0, e1 in zip(errs, errs[1:]))):
            return f, g, None
        X = xp.stack([s[1] for s in self.snaps], axis=1)
        D = xp.diff(X, axis=1)
        scale = to_host(xp.linalg.norm(D, axis=0)) if xp is not np else np.linalg.norm(D, axis=0)
        Dn = D / xp.asarray(scale)
        G = Dn.T @ Dn
        G = to_host(G) if xp is not np else G
        try:
            y = np.linalg.solve(G + 1e-14 * np.trace(G) * np.eye(k), np.ones(k))
        except np.linalg.LinAlgError:
            return f, g, None
        weights = (y / scale) / np.sum(y / scale)
        if not np.all(np.isfinite(weights)):
            return f, g, None
        x = X[:, 1:] @ xp.asarray(weights, dtype=X.dtype)  # the working dtype stays
        self.snaps, self.since = [], 0
        n = f.shape[0]
        return x[:n], x[n:], (f, g, e_now * rate)


# the Newton step on a stalled tail: when, with the several-mode extrapolation running, the
# error has fallen by less than half over the last 18 checks; at most 200 Hessian products
_NEWTON_STALL_CHECKS = 18
_NEWTON_STALL_DECAY = 0.5
_NEWTON_MAX_PRODUCTS = 200
_NEWTON_CG_TOL = 1e-8
_NEWTON_BACKTRACKS = 4


def _newton_step(xp, softmin_x, softmin_y, a, b, loga, logb, f, g, eps: float, budget: int):
    """One Newton step on the dual, ``(f, g) + d`` with ``H d = eps (a - P 1, b - P^T 1)``, ``H
    = [[diag P 1, P], [P^T, diag P^T 1]]`` (Brauer, Clason, Lorenz and Wirth, *A
    Sinkhorn-Newton method for entropic optimal transport*, 2017), solved by conjugate
    gradients preconditioned by the diagonal, then backtracked on the dual objective; returns
    (f, g, iterations spent), f and g None when no step raised the dual, or None (nothing spent).

    Why: the error of a near-isolated pair of points (a row and a column whose plan is almost
    one entry, far from the others) lies on a near-flat direction of the dual, ``(f_i + t, g_j
    - t)``; the annealing can leave it several eps off (30 x 30 points at eps 1e-3: 10 eps),
    and the marginal error grows as ``exp(|t| / eps)`` there, so plain iterations move it at a
    rate proportional to that error (harmonic, not geometric: the extrapolations, which assume
    geometric modes, do not remove it). Newton moves it by about one eps per step
    (docs/sinkhorn.md). A product ``P v`` is two soft-mins, ``P (v + s) - s P 1`` with ``s =
    2 max |v|`` (a positive weight under the log); a Hessian product costs one iteration's
    soft-mins and counts as one, the row and column sums one more (no step when the plan has a
    zero row or column sum); None when too few iterations are left."""
    limit = min(budget - 1 - _NEWTON_BACKTRACKS, _NEWTON_MAX_PRODUCTS, f.shape[0] + g.shape[0])
    if limit < 2:
        return None
    n = f.shape[0]
    hx, hy = g + eps * logb, f + eps * loga
    r = a * xp.exp((f - softmin_x(eps, hx)) / eps)
    c = b * xp.exp((g - softmin_y(eps, hy)) / eps)
    if not (float(xp.min(r)) > 0.0 and float(xp.min(c)) > 0.0):
        return None, None, 1

    def times_p(op, pot, h, w, sums, v):  # P v (op = softmin_x) or P^T v (softmin_y)
        s = 2.0 * float(xp.max(xp.abs(v)))
        if not s > 0.0:
            return xp.zeros_like(pot)  # P v has the length of the output side, not of v
        return w * xp.exp((pot - op(eps, h + eps * xp.log(v + s))) / eps) - s * sums

    def hessian(d):
        du, dv = d[:n], d[n:]
        return xp.concatenate([r * du + times_p(softmin_x, f, hx, a, r, dv),
                               times_p(softmin_y, g, hy, b, c, du) + c * dv])

    res = rhs = eps * xp.concatenate([a - r, b - c])
    dinv = 1.0 / xp.concatenate([r, c])
    d = xp.zeros_like(res)
    z = dinv * res
    p = z
    rz = rz0 = float(xp.sum(res * z))
    k = 0
    while k < limit and rz > _NEWTON_CG_TOL ** 2 * rz0:
        hp = hessian(p)
        k += 1
        php = float(xp.sum(p * hp))
        if not php > 0.0:
            break
        alpha = rz / php
        d = d + alpha * p
        res = res - alpha * hp
        z = dinv * res
        rz_new = float(xp.sum(res * z))
        p = z + (rz_new / rz) * p
        rz = rz_new
    k += 1
    if not bool(xp.all(xp.isfinite(d))):
        return None, None, k
    # backtracking on the dual objective <a, f> + <b, g> - eps sum P (Armijo): a full step
    # can overshoot where the plan changes fast along d (50 x 50 weighted points at eps 1e-3:
    # the full step lowered the dual, half of it raised it most); a trial costs one soft-min
    # and counts as one iteration
    d0 = float(xp.sum(a * f) + xp.sum(b * g) - eps * xp.sum(r))
    slope = float(xp.sum(rhs * d)) / eps
    step = 1.0
    for _ in range(_NEWTON_BACKTRACKS):
        fs, gs = f + step * d[:n], g + step * d[n:]
        rs = a * xp.exp((fs - softmin_x(eps, gs + eps * logb)) / eps)
        k += 1
        if float(xp.sum(a * fs) + xp.sum(b * gs) - eps * xp.sum(rs)) >= d0 + 1e-4 * step * slope:
            return fs, gs, k
        step *= 0.5
    return None, None, k



def _plan_entries(xp, a, b, f, g, C, eps: float):
    """``a_i b_j exp((f_i + g_j - C_ij)/eps)``, exactly 0 where ``a_i b_j = 0``.

    Between a zero-weight row and a zero-weight column nothing bounds ``f_i + g_j - C_ij``
    (each potential is set by the points of positive weight only): two such points next to
    each other and far from the rest give exponents in the thousands, whose ``exp`` overflows,
    and ``0 x inf`` was a NaN entry in the plan (and in its row and column sums).
    """
    w = a[:, None] * b[None, :]
    with np.errstate(over="ignore", invalid="ignore"):
        P = w * xp.exp((f[:, None] + g[None, :] - C) / eps)
    P[w == 0] = 0
    return P


class SinkhornPlan:
    """The entropic plan ``P_ij = a_i b_j exp((f_i + g_j - C_ij)/eps)`` of a point cloud, lazily.

    Nothing ``n x m`` is stored: ``block(i0, i1)`` gives rows, ``matvec(v)`` = ``P v`` and
    ``rmatvec(u)`` = ``P^T u`` work block by block (O(block m) memory), ``todense()`` (or
    ``numpy.asarray(plan)``) materialises it when it fits in memory.

    It is a numpy (float64) object whatever the input's library: ``todense(like=r.f)`` gives
    the dense plan as an array of the library, device and dtype of the result's own arrays.
    """

    ndim = 2

    def __init__(self, geom: PointCloud, a, b, f, g, eps: float):
        self.geom = geom.to_device("cpu").astype(np.float64)
        self.a, self.b = to_host(a).astype(np.float64), to_host(b).astype(np.float64)
        self.f, self.g = to_host(f).astype(np.float64), to_host(g).astype(np.float64)
        self.eps = float(eps)
        self.shape = geom.shape
        self.dtype = np.dtype(np.float64)

    @property
    def size(self) -> int:
        """n * m, the number of entries (as an array's ``size``)."""
        return self.shape[0] * self.shape[1]

    def block(self, i0: int, i1: int) -> np.ndarray:
        C = self.geom._rows(i0, i1)
        return _plan_entries(np, self.a[i0:i1], self.b, self.f[i0:i1], self.g, C, self.eps)

    def _blocks(self):
        n, m = self.shape
        step = max(1, (1 << 22) // max(1, m))
        for i0 in range(0, n, step):
            yield i0, min(n, i0 + step)

    def matvec(self, v) -> np.ndarray:
        """``P v`` (float64 numpy) for ``v`` of shape (m,) or (m, k), block by block."""
        v = self._operand(v, "v", 1)
        return np.concatenate([self.block(i0, i1) @ v for i0, i1 in self._blocks()])

    def rmatvec(self, u) -> np.ndarray:
        """``P^T u`` (float64 numpy) for ``u`` of shape (n,) or (n, k), block by block."""
        u = self._operand(u, "u", 0)
        out = np.zeros((self.shape[1],) + u.shape[1:])
        for i0, i1 in self._blocks():
            out += self.block(i0, i1).T @ u[i0:i1]
        return out

    def _operand(self, v, name: str, axis: int) -> np.ndarray:
        size = self.shape[axis]
        letter = "nm"[axis]
        try:
            arr = to_host(v)
        except Exception as exc:
            raise TypeError(f"`{name}` must be an array of real numbers; got {describe(v)}.") from exc
        if arr.dtype.kind not in "iuf":
            raise TypeError(f"`{name}` must be an array of real numbers; got {describe(arr)}.")
        if arr.ndim not in (1, 2) or arr.shape[0] != size:
            raise ValueError(f"`{name}` must have shape ({letter},) or ({letter}, k) with {letter} = "
                             f"{size}; got {describe(arr)}.")
        return arr.astype(np.float64, copy=False)

    def todense(self, like=None):
        """The dense (n, m) plan: a float64 numpy array, or with ``like`` (an array, such as
        the result's ``f``) an array of ``like``'s library, device and floating dtype."""
        n, m = self.shape
        check_dense_memory(n, m, 8, copies=3, what="the dense entropic plan")
        P = self.block(0, n)
        if like is None:
            return P
        from .._interop import caller, from_kernel

        return from_kernel(P, caller(like, names=("like",)))

    def __array__(self, dtype=None, copy=None):
        P = self.todense()
        return P if dtype is None else P.astype(dtype)

    def __repr__(self) -> str:
        return f"SinkhornPlan(shape={self.shape}, eps={self.eps:g}, lazy)"


def _check_potential(v, name: str, size: int, xp, wdt, eps: float):
    if v is None:
        return None
    if isinstance(v, (str, bytes)):
        raise TypeError(f"`{name}` must be an array of real numbers; got {describe(v)}.")
    try:
        arr = xp.asarray(v)
    except Exception as exc:  # ragged lists etc.
        raise TypeError(f"`{name}` must be an array of real numbers; got {describe(v)}.") from exc
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"`{name}` must be an array of real numbers; got {describe(arr)}.")
    arr = arr.astype(wdt, copy=True)
    if arr.shape != (size,):
        raise ValueError(f"`{name}` must have shape ({size},); got {describe(arr)}.")
    if not bool(xp.all(xp.isfinite(arr))):
        raise ValueError(f"`{name}` must contain only finite values; got NaN or infinity.")
    # the soft-mins form (h_j - C_ij)/eps and sums of potentials: keep them finite
    limit = _scale_limit(wdt) * min(1.0, eps)
    top = float(xp.max(xp.abs(arr))) if arr.size else 0.0
    if top > limit:
        raise ValueError(f"`{name}` must have entries of magnitude at most {limit:.3g} "
                         f"(finfo.max / 2**12 times min(1, eps)); got {top:.3g}.")
    return arr


def _scale_limit(wdt) -> float:
    """finfo(wdt).max / 2**12: eps log(w) (|log w| <= 745) and sums of potentials stay finite."""
    return float(np.finfo(wdt).max) / 4096.0


# above this eps / (cost scale), the dual objective <a, f> + <b, g> is replaced by the primal
# form (_primal_objective): the soft-min's rounding, about eps * 2**-52 per potential, would
# otherwise exceed 2**-52 * 1000 * (cost scale)
_PRIMAL_OBJECTIVE_EPS_RATIO = 1e3


def _primal_objective(xp, geom, a, b, f, g, eps: float) -> float:
    """``<P, C> + eps KL(P | a x b)`` of ``P = a b exp(z)``, ``z = (f + g - C)/eps``, stably.

    Written as ``sum_ij a_i b_j [C_ij e^z + eps phi(z)]`` with the generalised KL term
    ``phi(z) = z e^z - (e^z - 1) >= 0`` (= z^2/2 + ...): every term is computed to its own
    relative precision, so the rounding is about 2**-52 times the costs, not times eps as in
    ``<a, f> + <b, g>`` (both agree at the optimum, where P has the marginals a, b). For
    eps >> costs it tends to ``<a x b, C>``, as OT_eps does, and it is capped there (an upper
    bound of OT_eps). One pass over the costs, by blocks of rows (O(block m) memory).
    """
    n, m = geom.shape
    step = max(1, (1 << 20) // max(1, m))
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    f64, g64 = f.astype(np.float64), g.astype(np.float64)
    total = product = 0.0
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        C = geom.C[i0:i1] if isinstance(geom, DenseGeometry) else geom._rows(i0, i1)
        C = C.astype(np.float64)
        z = xp.clip((f64[i0:i1, None] + g64[None, :] - C) / eps, -_EXP_CLIP, _EXP_CLIP)
        ez = xp.exp(z)
        terms = C * ez + eps * (z * ez - xp.expm1(z))
        w = a64[i0:i1, None] * b64[None, :]
        total += float(xp.sum(xp.where(w > 0, w * terms, 0.0)))
        product += float(xp.sum(w * C))
    # OT_eps <= <a x b, C> (the product coupling is feasible, with KL = 0): the rounding of
    # the potentials, eps * 2**-52, still enters eps phi(z) as about eps * 2**-104, which is
    # above the bound when the costs are tiny (1e-300 at eps = 0.1)
    return min(total, product)


def _weights(w, name, size, on_gpu):
    if w is None:
        return np.full(size, 1.0 / size)
    return check_weights(to_host(w) if is_cupy(w) else w, name, n=size)


def _check_eps_resolution(mag: float, diameter: float, eps: float, wdt) -> None:
    """Costs representable in ``wdt`` and ``eps`` above their rounding resolution.

    The soft-min updates ``f <- -eps log sum_j b_j exp((g_j - C_ij)/eps)`` carry the weights as
    ``g + eps log b``; once ``eps`` is below the working precision's resolution of the cost scale
    (``finfo(wdt).eps * max|C|``) that term vanishes in rounding and the loop "converges" to a
    plan that ignores ``a`` and ``b`` (measured: converged=True, value below the exact EMD).
    ``mag`` is max |C|.
    """
    top = float(np.finfo(wdt).max)
    if not (math.isfinite(diameter) and mag <= top):
        raise ValueError(
            f"the costs of `M_or_geometry` overflow {np.dtype(wdt).name} (cost scale {mag:.3g}); "
            "divide the costs (or the points) by a common factor.")
    floor = float(np.finfo(wdt).eps) * mag
    if eps < floor:
        raise ValueError(
            f"`eps` must be at least {floor:.3g} ({np.dtype(wdt).name} resolution "
            f"{float(np.finfo(wdt).eps):.2g} times the cost scale {mag:.3g}); got {eps!r}. Below it "
            "the entropic terms eps log(a), eps log(b) vanish in rounding and Sinkhorn ignores the "
            "weights. Use emd() for exact transport.")


def sinkhorn(a: Any, b: Any, M_or_geometry: Any, *, eps: float, max_iter: int = 10_000,
             tol: float | None = None, scaling: float | None = 0.5, check_every: int = 10,
             f0: Any = None, g0: Any = None, plan: bool = False, symmetric: bool = False,
             backend: str = "auto", dtype: Any = None, progress: bool = False) -> SinkhornResult:
    r"""Entropic optimal transport by log-domain Sinkhorn with epsilon-scaling.

    Solves

    .. math::

        \mathrm{OT}_\varepsilon(a, b) = \min_{P \ge 0,\ P1 = a,\ P^T 1 = b}
            \langle P, C\rangle + \varepsilon\,\mathrm{KL}(P \,\|\, a \otimes b)
            = \max_{f, g}\ \langle a, f\rangle + \langle b, g\rangle
              - \varepsilon \langle a \otimes b, e^{(f \oplus g - C)/\varepsilon} - 1\rangle

    with the plan :math:`P_{ij} = a_i b_j \exp((f_i + g_j - C_{ij})/\varepsilon)`. The updates
    are soft-mins in the log domain (no ``exp(-C/eps)`` kernel is ever formed, so any eps > 0 above
    the rounding floor of ``eps`` below is stable, in float32 too)::

        f_i <- -eps log sum_j b_j exp((g_j - C_ij)/eps)
        g_j <- -eps log sum_i a_i exp((f_i - C_ij)/eps)

    Parameters
    ----------
    a, b : array_like (n,), (m,) or None
        Non-negative finite weights with equal totals (to 1e-6 relative in float64, 100
        times the resolution of a narrower input dtype); None = uniform 1/n.
    M_or_geometry : array (n, m), DenseGeometry or PointCloud
        The cost. A bare matrix is wrapped in :class:`DenseGeometry`. A :class:`PointCloud`
        computes ``C_ij = |x_i - y_j|^p`` on the fly (no ½ factor) with O(n + m) memory on the
        numba and CUDA backends.
        A leading batch axis (``M`` (B, n, m), ``PointCloud(x (B, n, d), y (B, m, d))``,
        weights (B, n), (n,) or None) solves B problems in one numba parallel loop, each as
        a single call would; the result's fields are then arrays (docs/batch.md).
    eps : float > 0
        Entropic regularisation, in cost units (POT's ``reg``). At least
        ``finfo(dtype).eps * max|C|`` (2.2e-16 resp. 1.2e-7 times the cost scale; the point
        cloud's diameter for a :class:`PointCloud`): below it ``eps log b`` is lost next to the
        potentials and the loop would "converge" to a plan that ignores the weights.
    max_iter : int
        Maximum number of iterations (one iteration updates both f and g), annealing included.
    tol : float or None
        Stop when the L1 marginal error ``|P1 - a|_1 + |P^T 1 - b|_1`` is below ``tol``
        (default 1e-5 in float64, 1e-3 in float32, whose rounding floor at small eps is near
        1e-4). A float32 solve on the host that reads ``tol`` measures its plan's error once
        more in float64 and is ``converged=False`` (ConvergenceWarning) above 2 ``tol``: the
        float32 exponents ``(g - C)/eps`` carry about ``2^-24 |C| / eps`` of rounding, which
        made costs with a large constant part (``M + 1000``) read 0 against a true 6e-2
        (``info["marginal_error_float64"]``). Measured on the README's Gaussian clouds (eps = 0.05): the transport cost is
        within about ``tol`` relative of its limit (1e-5: 1.0e-5 and 1.7e-5 at n = 200, 500)
        and the objective within 1e-7, in 1071 and 492 iterations (1081 and 502 since the
        cold probe and the tail extrapolation of ``scaling``); 1e-6 took 10 041 and 3982
        (the last digits sit on a slow mode), so 1e-6 did not fit the default ``max_iter``
        then; with the tail's extrapolation and dual Newton step it takes 2401 and 1522.
    scaling : float in (0, 1) or None
        Epsilon-scaling ratio. The first ``check_every`` iterations are those of a cold start
        (the probe); when it has not converged and its error's decay rate (measured at
        ``check_every // 2`` and ``check_every``) predicts more than ``len(schedule) +
        check_every`` further iterations (up to twice that: the probe goes on for another
        ``check_every``, at most twice, and decides again), one (averaged) iteration at each of ``diameter,
        diameter*scaling, ...`` (> eps) follows, from the probe's potentials, then iterations at
        ``eps`` (checked at the first of them too; once three checks show one geometric rate,
        the potentials jump to that mode's limit, undone if the next check is no better; after
        three undone jumps, a reduced-rank extrapolation of snapshots every third check
        removes up to five modes at once, judged the same way);
        otherwise the cold start goes on, exactly as with ``None`` (docs/sinkhorn.md,
        *Epsilon-scaling*). A ratio so close to 1
        that the schedule would exceed 100 000 levels is a ValueError. ``diameter`` is ``max C - min C`` for a dense cost
        and ``(bounding-box diagonal)^p`` for a point cloud. None starts at ``eps``. Ignored
        when a warm start ``f0``/``g0`` is given.
    check_every : int
        Marginal error checked (one device reduction, one scalar to the host) every k iterations.
    f0, g0 : arrays or None
        Warm start potentials (a missing one is set to 0).
    plan : bool
        Also return the plan: a dense array for a dense cost, a lazy :class:`SinkhornPlan`
        (``block``, ``matvec``, ``todense``) for a point cloud.
    symmetric : bool
        True (GeomLoss): averaged updates ``f, g <- (f + ft)/2, (g + gt)/2`` computed from the
        same old pair, symmetric in (a, b), both soft-mins independent; on OT(a, a) with a
        symmetric cost (equal weights, ``PointCloud(x, x)`` with a named cost, or ``M`` equal
        to ``M.T``) and no warm start they are one soft-min, computed once: ``f = g`` all along
        (``info["self_transport"]``; docs/sinkhorn.md). False (default):
        classical alternating updates. Same fixed point and cost per iteration, but the
        averaged map contracts like (1 + k)/2 instead of k^2 (k the Sinkhorn contraction),
        so it needs about 4x more iterations to a given tol (measured: 2358 vs 588 at
        eps = 0.01, n = 60); hence the default.
    backend : {"auto", "numpy", "numba", "cuda", "cupy"}
        ``auto``: CuPy inputs -> "cuda". On the host, by measured crossovers (numpy vs numba
        per soft-min, docs/sinkhorn.md): a PointCloud with ``n*m <= 100`` -> "numpy", larger
        -> "numba" (online kernel; numba wins from n = m ~ 20, 8-13x at 100, 25-80x at
        500-1000); a DenseGeometry with ``n*m <= 10_000`` -> "numpy" (dense log-sum-exp, on par
        up to n = m ~ 100), larger -> "numba" (1.2-2x at 200, 2-3x at 500, 3.4-5x at 1000),
        except a float64 one of ``n*m <= 2**16`` with costs >= 0 and ``eps >= max C / 312``:
        "numba" (its kernel matrix below). Small float64 problems on numba (``n*m <= 2**16``,
        ``eps >= max C / 312``) keep the kernel matrix ``K = exp(-C/eps)`` per eps, and a
        half-step is ``-eps log(K exp(h/eps))``, a matrix-vector product, stabilised by
        ``max h`` (3.4 -> 0.6 us at 64 x 64; docs/sinkhorn.md, "Small problems: the kernel
        matrix"); ``result.info["kernel_matrix_calls"]`` counts those soft-mins.
        "numba" on a DenseGeometry runs the numba dense kernels (rows in parallel; the column
        soft-min walks C row-major with per-chunk column sums, so no transposed copy of C).
        numba soft-mins below ``2**15`` entries run on one thread; above, each solve times
        one thread against all threads on its own calls and keeps the faster on average
        (the other re-timed every 64 calls): on an oversubscribed machine a parallel call can
        wait ~10 ms at its join.
        The first numba call in a fresh environment compiles its kernels (seconds to tens of
        seconds; ``cache=True`` keeps them for later processes). "cuda" (here "cupy"; docs/arrays.md
        "Backends") uses CuPy: the dense
        soft-min for a DenseGeometry, the fused online RawKernel for a PointCloud; numpy
        inputs are moved to the GPU and results back. "numba_cuda" is a deprecated spelling of
        "cuda" here (it ran a second, slower numba-cuda soft-min; DeprecationWarning).
    dtype : None, float32 or float64
        Working precision. Default: float64, except float32 costs or points on a GPU (CuPy,
        torch CUDA), which are solved in float32: the GPU kernels are float32 by design, and a
        float64 soft-min runs about 5x slower there (docs/sinkhorn.md, GPU).
    progress : bool
        Show a progress bar (tqdm) of the iterations, with the latest marginal error; it is
        updated at each convergence check, so it costs nothing between checks. A batch shows
        one bar over its problems instead (docs/batch.md).

    Returns
    -------
    SinkhornResult
        ``value`` = <P, C>; ``objective`` = <a, f> + <b, g> (the regularised OT_eps), or,
        when ``eps`` exceeds 1000 times the cost scale (max |C|, or the point cloud's
        diameter), the equal primal form ``<P, C> + eps KL(P | a x b)`` computed term by term
        (one more pass over the costs): the dual form's rounding grows like ``eps * 2**-52``
        and gave 0.2776 for an OT_eps of 0.5 at eps = 1e16;
        when not converged, ``f`` is first replaced by one more half-step
        ``f <- softmin_x(eps, g + eps log b)``, so that the plan's rows sum to ``a``:
        ``value`` is then a weighted mean of costs (within ``[min C, max C]`` times the mass)
        and ``objective`` a true dual value, a lower bound on OT_eps;
        ``f``, ``g``; ``marginal_error``, the L1 error ``|P1 - a|_1 + |P^T 1 - b|_1`` of the
        returned plan (at the last check; when not converged, of the pair returned after
        the final half-step: its columns' error, one more column soft-min), and
        ``marginal_error_history`` (at every check, ending with that one); ``n_iter``;
        ``converged``;
        ``plan``; ``eps``; ``backend``; ``info`` (eps schedule, timings, symmetric,
        self_transport, tol).

    Raises
    ------
    ValueError
        eps <= 0 or not finite or below the resolution floor above, negative/NaN weights,
        mismatched sizes, unequal masses, NaN in costs or points, costs that overflow the
        working dtype; ``eps`` above ``finfo(dtype).max / 2**12``; warm starts ``f0``/``g0``
        with entries beyond ``finfo(dtype).max / 2**12 * min(1, eps)``; a ``scaling`` whose
        schedule would exceed 100 000 levels.
    TypeError
        Non-numeric, ragged, boolean or complex ``f0``/``g0`` (and the like for every array).
    MemoryError
        A dense plan or cost that does not fit (the message suggests :class:`PointCloud`).

    Warns
    -----
    ConvergenceWarning
        When ``tol`` is not reached within ``max_iter`` (``converged=False``, finite numbers).

    Notes
    -----
    Each iteration costs two soft-mins, O(n m d) time. Memory: O(n m) for a dense cost,
    O(n + m) for a point cloud on the numba/CUDA backends. The value converges to the exact
    EMD as eps -> 0, with a gap of order ``eps log(n m)``.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import sinkhorn
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> r = sinkhorn([0.5, 0.5], [0.5, 0.5], M, eps=0.01)
    >>> r.converged, round(r.value, 6)
    (True, 0.0)
    """
    _check_plan(plan)
    if batch_size_or_raise(M_or_geometry, "M_or_geometry", "(n, m)") is not None:  # a batch of problems (docs/batch.md)
        from ._sinkhorn_batch import sinkhorn_batch

        return sinkhorn_batch(a, b, M_or_geometry, eps=eps, max_iter=max_iter, tol=tol,
                              scaling=scaling, check_every=check_every, f0=f0, g0=g0, plan=plan,
                              symmetric=symmetric, backend=backend, dtype=dtype, progress=progress)
    problem = _prepare(a, b, M_or_geometry, eps=eps, max_iter=max_iter, tol=tol, scaling=scaling,
                       check_every=check_every, f0=f0, g0=g0, symmetric=symmetric,
                       backend=backend, dtype=dtype, progress=progress)
    state = _solve(problem)
    return _package(problem, state, plan=plan)


# --------------------------------------------------------------------------------------------
# the steps of sinkhorn(): _prepare (checks, backend, soft-mins, start, schedule) -> _Problem,
# _solve (the loop) -> _Solved, _package (value, objective, plan, info) -> SinkhornResult
# --------------------------------------------------------------------------------------------

@dataclass
class _Problem:
    """One checked :func:`sinkhorn` problem, placed on its backend, ready for the loop."""

    geom: Any  # DenseGeometry or PointCloud, on the backend's device
    xp: Any  # numpy or cupy
    backend: str  # the resolved backend name
    wdt: np.dtype  # working dtype
    caller_gpu: bool  # CuPy inputs: results stay on the GPU
    a: Any  # weights on the device, in wdt (b rescaled to a's total mass)
    b: Any
    loga: Any
    logb: Any
    f: Any  # starting potentials (zeros where no warm start is given)
    g: Any
    softmin_x: Callable
    softmin_y: Callable
    eps: float
    tol: float
    max_iter: int
    check_every: int
    scaling: float | None
    symmetric: bool
    progress: bool
    warm: bool
    schedule: list[float]
    diameter: float
    mag: float  # max |C| (a point cloud's diameter)
    t_start: float
    self_transport: bool = False  # OT(a, a) on a symmetric cost: one soft-min per averaged step


@dataclass
class _Solved:
    """What :func:`_sinkhorn_loop` returned, with the iterations of its cold probe."""

    f: Any
    g: Any
    errors: list[float]
    n_iter: int
    converged: bool
    n_scaling: int
    t_loop: float
    error_reads: int = 0  # marginal errors read back to the host (one per check)
    one_sided: tuple = ()  # the iterations that ran one soft-min (self-transport)
    # a float32 host solve's marginal error measured in float64 at the end (None otherwise)
    float64_error: float | None = None


def _prepare(a, b, M_or_geometry, *, eps, max_iter, tol, scaling, check_every, f0, g0,
             symmetric, backend, dtype, progress) -> _Problem:
    """Checks the arguments (the first bad one raises) and sets up the problem: the geometry
    and weights on the backend's device, its soft-mins, the starting potentials and the eps
    schedule."""
    t_start = time.perf_counter()
    eps, max_iter, check_every, scaling, dtype = _check_options(
        eps, max_iter, check_every, scaling, symmetric, progress, dtype)
    geom = as_geometry(M_or_geometry, dtype=dtype)
    on_gpu = geom.on_gpu or is_cupy(a) or is_cupy(b)
    n, m = geom.shape
    wdt = np.dtype(dtype) if dtype is not None else \
        np.dtype(np.float32) if getattr(geom, "gpu_float32", False) else geom.dtype
    if tol is None:
        tol = 1e-3 if wdt == np.float32 else 1e-5
    tol = check_positive(tol, "tol")
    aw, bw = _balanced_weights(a, b, n, m, on_gpu)
    name = _resolve_backend(backend, geom, on_gpu, eps, wdt)
    geom, xp = _place(geom, name, wdt)
    a_d, b_d, loga, logb = _device_weights(xp, aw, bw, wdt)
    sx, sy = _softmin_ops(name, geom, wdt)
    if eps > _scale_limit(wdt):
        raise ValueError(f"`eps` must be at most {_scale_limit(wdt):.3g} in {np.dtype(wdt).name} "
                         f"(finfo.max / 2**12, so that eps log(b) stays finite); got {eps!r}.")
    f = _check_potential(f0 if not is_cupy(f0) or xp is not np else to_host(f0), "f0", n, xp, wdt, eps)
    g = _check_potential(g0 if not is_cupy(g0) or xp is not np else to_host(g0), "g0", m, xp, wdt, eps)
    warm = f is not None or g is not None
    f = xp.zeros(n, dtype=wdt) if f is None else f
    g = xp.zeros(m, dtype=wdt) if g is None else g
    diameter, mag = _cost_scale(geom)
    _check_eps_resolution(mag, diameter, eps, wdt)
    if name == "numba" and not _numba_takes_eps(eps):
        raise ValueError(
            f"`eps`={eps!r} is below log2(e) / finfo(float64).max = 8.03e-309, where the numba "
            "kernels' exponent scale log2(e) / eps overflows; use backend='numpy' (or 'auto'), "
            "or multiply the costs and eps by a common power of two (the potentials scale with "
            "them).")
    schedule = [] if warm else eps_schedule(diameter, eps, scaling)
    self_transport = bool(symmetric) and not warm and _self_transport(geom, aw, bw)
    return _Problem(geom=geom, xp=xp, backend=name, wdt=wdt, caller_gpu=on_gpu, a=a_d, b=b_d,
                    loga=loga, logb=logb, f=f, g=g, softmin_x=sx, softmin_y=sy, eps=eps, tol=tol,
                    max_iter=max_iter, check_every=check_every, scaling=scaling,
                    symmetric=bool(symmetric), progress=progress, warm=warm, schedule=schedule,
                    diameter=diameter, mag=mag, t_start=t_start, self_transport=self_transport)


def _self_transport(geom, aw, bw) -> bool:
    """Whether the problem is OT(a, a) on a symmetric cost: equal weights, and a point cloud
    with one set of points and a named cost (each a function of |x - y|), or a symmetric cost
    matrix. Then both soft-mins compute the same thing (:func:`_sinkhorn_loop`)."""
    if not np.array_equal(aw, bw):
        return False
    if isinstance(geom, PointCloud):
        return not geom.cost_is_callable and _same_array(geom.x, geom.y)
    C = geom.C
    xp = cupy_or_raise() if is_cupy(C) else np
    return C.shape[0] == C.shape[1] and bool(xp.array_equal(C, C.T))


def _check_options(eps, max_iter, check_every, scaling, symmetric, progress, dtype):
    """The scalar options of :func:`sinkhorn`; returns (eps, max_iter, check_every, scaling,
    dtype) normalised."""
    eps = check_positive(eps, "eps")
    max_iter = check_int(max_iter, "max_iter", minimum=1, maximum=INT64_MAX)
    check_every = check_int(check_every, "check_every", minimum=1, maximum=INT64_MAX)
    if scaling is not None:
        scaling = check_positive(scaling, "scaling")
        if scaling >= 1:
            raise ValueError(f"`scaling` must be a float in (0, 1) or None; got {scaling!r}.")
    if not isinstance(symmetric, (bool, np.bool_)):
        raise TypeError(f"`symmetric` must be a bool; got {describe(symmetric)}.")
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be a bool; got {describe(progress)}.")
    return eps, max_iter, check_every, scaling, check_float_dtype(dtype)


def _check_plan(plan) -> None:
    """``plan`` is a bool, as ``symmetric`` and ``progress`` are (``plan="no"`` is truthy)."""
    if not isinstance(plan, (bool, np.bool_)):
        raise TypeError(f"`plan` must be a bool; got {describe(plan)}.")


def _balanced_weights(a, b, n: int, m: int, on_gpu: bool):
    """The checked host weights (None: uniform), b rescaled to a's total mass (equal to
    :func:`~kantorovich._validation.mass_rtol` of their dtypes, 1e-6 relative in float64,
    or a ValueError)."""
    aw = _weights(a, "a", n, on_gpu)
    bw = _weights(b, "b", m, on_gpu)
    sa, sb = float(aw.sum()), float(bw.sum())
    check_same_mass(sa, sb, mass_rtol(input_dtype(a), input_dtype(b)), kind="balanced OT")
    return aw, bw * (sa / sb)


def _place(geom, name: str, wdt):
    """The geometry on the backend's device and in the working dtype (numba: as given, its
    kernels cast); returns (geom, xp)."""
    if name in ("cuda",):
        geom = geom.to_device("cuda")
        xp = cupy_or_raise()
    else:
        if geom.on_gpu:
            geom = geom.to_device("cpu")
        xp = np
    geom = geom.astype(wdt) if geom.dtype != wdt and name != "numba" else geom
    return geom, xp


def _device_weights(xp, aw, bw, wdt):
    """The weights on the device in ``wdt`` and their logs (log 0 = -inf): (a, b, log a, log b)."""
    a_d = xp.asarray(aw, dtype=wdt)
    b_d = xp.asarray(bw, dtype=wdt)
    for w_d, w_name in ((a_d, "a"), (b_d, "b")):
        if not bool(xp.any(w_d > 0)):  # e.g. masses of 1e-310 in float32
            raise ValueError(f"`{w_name}` underflows to zero total mass in {np.dtype(wdt).name}; "
                             "multiply the weights by a common factor.")
    with np.errstate(divide="ignore"):
        loga = xp.log(a_d)
        logb = xp.log(b_d)
    return a_d, b_d, loga, logb


def _softmin_ops(name: str, geom, wdt):
    """The backend's two soft-mins (softmin_x, softmin_y) for the loop."""
    if name == "numpy":
        return _ops_numpy(geom, wdt)
    if name == "numba":
        return _ops_numba(geom, wdt)
    if isinstance(geom, DenseGeometry):
        return _ops_numpy(geom, wdt)  # the numpy reference code runs unchanged on CuPy arrays
    return _ops_cupy_pointcloud(geom, wdt)


def _cost_scale(geom) -> tuple[float, float]:
    """(diameter, max |C|) of the costs: the schedule's start and the eps floor's scale."""
    if isinstance(geom, DenseGeometry):  # one min and one max scan of C serve both
        rng_c = geom._range()
        diameter = geom.diameter(rng_c)
        mag = max(abs(float(rng_c[0])), abs(float(rng_c[1])))
    elif geom.cost_is_callable:  # no bounding box: the exact range, from one pass over blocks
        lo, hi = geom._range()
        diameter, mag = hi - lo, max(abs(lo), abs(hi))
    else:  # the costs of a point cloud lie in [0, diameter]
        diameter = mag = geom.diameter()
    return diameter, mag


def _solve(p: _Problem) -> _Solved:
    """Runs :func:`_sinkhorn_loop` on the problem, with the progress bar when asked for."""
    n, m = p.geom.shape
    bar = progress_bar(p.progress, total=p.max_iter, desc=f"sinkhorn {n}x{m} eps={p.eps:.3g}", unit="it")
    t_loop = time.perf_counter()
    loop_stats: dict = {}
    threads = getattr(p.softmin_x, "threads", None)  # numba: one thread count for the loop
    steps = None
    if threads is not None:  # small float64 host solves: the iterations compiled (docs/sinkhorn.md)
        from ._sinkhorn_steps import compiled_steps

        steps = compiled_steps(p)
    try:
        with np.errstate(divide="ignore", over="ignore"), \
                (threads.pinned() if threads is not None else contextlib.nullcontext()):
            f, g, errors, n_iter, converged, n_scaling = _sinkhorn_loop(
                p.xp, p.softmin_x, p.softmin_y, p.a, p.b, p.loga, p.logb, p.f, p.g, eps=p.eps,
                schedule=p.schedule, max_iter=p.max_iter, tol=p.tol, check_every=p.check_every,
                symmetric=p.symmetric, bar=bar, stats=loop_stats, self_transport=p.self_transport,
                steps=steps)
    finally:
        if bar is not None:
            bar.close()
        if steps is not None:
            steps.close()
    return _Solved(f=f, g=g, errors=errors, n_iter=n_iter, converged=converged,
                   n_scaling=n_scaling, t_loop=t_loop,
                   error_reads=loop_stats.get("error_reads", 0),
                   one_sided=tuple(loop_stats.get("one_sided", ())))


# a float32 solve that read `tol` is not converged when its marginal error, measured in
# float64, exceeds this many tol: the float32 reading is then wrong by more than tol itself
_FLOAT32_RECHECK_FACTOR = 2.0


def _float64_marginal_error(p: _Problem, f, g) -> float:
    """The L1 marginal error of the plan ``a_i b_j exp((f_i + g_j - C_ij)/eps)`` of a float32
    solve, computed in float64 (host backends).

    The float32 soft-mins round the exponent ``(g_j - C_ij)/eps`` to about
    ``2^-24 (|g| + |C|)/eps``: with costs of a large constant part (C + 1e3) or eps small
    beside the costs, the loop's own float32 error reads below ``tol`` (0 once ``f`` is a
    float32 fixed point) while the plan's marginals are off by 1e-2. Dense costs by blocks of
    rows (no float64 copy of C); a callable cost the same way, its blocks computed as the
    solve computed them (the callable is given the cloud in the working dtype, as documented,
    and its costs are widened after); other point clouds by one float64 soft-min per side.
    """
    eps = p.eps
    a64, b64 = p.a.astype(np.float64), p.b.astype(np.float64)
    f64, g64 = f.astype(np.float64), g.astype(np.float64)
    geom = p.geom
    if isinstance(geom, DenseGeometry) or geom.cost_is_callable:
        if isinstance(geom, DenseGeometry):
            def cost_rows(i0, i1):
                return geom.C[i0:i1]
        else:
            xw, yw = geom.x.astype(p.wdt, copy=False), geom.y.astype(p.wdt, copy=False)

            def cost_rows(i0, i1):
                return cost_block(xw[i0:i1], yw, geom._cost)
        n, m = geom.shape
        step = max(1, (1 << 20) // max(1, m))
        row_err, cols = 0.0, np.zeros(m)
        for i0 in range(0, n, step):
            i1 = min(n, i0 + step)
            z = (f64[i0:i1, None] + g64[None, :] - cost_rows(i0, i1).astype(np.float64)) / eps
            e = np.exp(np.clip(z, -_EXP_CLIP, _EXP_CLIP))
            row_err += float(np.sum(a64[i0:i1] * np.abs(e @ b64 - 1.0)))
            cols += a64[i0:i1] @ e
        return row_err + float(np.sum(b64 * np.abs(cols - 1.0)))
    sx, sy = _softmin_ops(p.backend, p.geom, np.float64)
    with np.errstate(divide="ignore"):
        ft = sx(eps, g64 + eps * np.log(b64))
        gt = sy(eps, f64 + eps * np.log(a64))
    return float(_marginal_error(np, a64, f64, ft, eps) + _marginal_error(np, b64, g64, gt, eps))


def _recheck_float32(p: _Problem, s: _Solved) -> None:
    """A converged float32 host solve: its marginal error again in float64; above
    ``_FLOAT32_RECHECK_FACTOR * tol`` the solve is not converged (the float64 error of the
    pair it returns then ends the history: :func:`_returned_error`)."""
    if not (s.converged and p.wdt == np.float32 and p.xp is np):
        return
    with np.errstate(over="ignore"):
        err = _float64_marginal_error(p, s.f, s.g)
    s.float64_error = err
    if not err <= _FLOAT32_RECHECK_FACTOR * p.tol:
        s.converged = False  # the returned pair's float64 error ends the history (_final_values)


def _package(p: _Problem, s: _Solved, *, plan) -> SinkhornResult:
    """The SinkhornResult of a finished loop: value and objective (:func:`_final_values`),
    the convergence warning, the plan, the results back on the caller's device, and info."""
    _recheck_float32(p, s)
    f, value, objective = _final_values(p, s)
    g, errors, n_iter, converged = s.g, s.errors, s.n_iter, s.converged
    t_end = time.perf_counter()
    if not (math.isfinite(value) and math.isfinite(objective)):
        raise FloatingPointError("sinkhorn produced a non-finite value; check the costs for extreme values.")
    if not converged and s.float64_error is not None:
        warn(
            f"sinkhorn in float32 read a marginal error below `tol`={p.tol:g}, but the plan's "
            f"marginal error measured in float64 is {s.float64_error:.3g}: float32 rounds the "
            f"exponents (g - C)/eps to about 6e-8 x (cost scale {p.mag:.3g}) / `eps`={p.eps:g} = "
            f"{2.0 ** -24 * p.mag / p.eps:.2g} per entry, too coarse for `tol` here. Use "
            "dtype=float64, a larger `eps`, or subtract the constant part of the costs (C - c "
            "has the same plan).", ConvergenceWarning)
    elif not converged:
        last = errors[-1]
        warn(
            f"sinkhorn did not reach `tol`={p.tol:g} within `max_iter`={p.max_iter} iterations "
            f"(marginal error {last:.3g}); increase `max_iter`, increase `eps`, or loosen `tol`.",
            ConvergenceWarning)

    xp, eps = p.xp, p.eps
    P = None
    if plan:
        if isinstance(p.geom, DenseGeometry):
            P = _plan_entries(xp, p.a, p.b, f, g, p.geom.C, eps)
        else:
            P = SinkhornPlan(p.geom, p.a, p.b, f, g, eps)
    if not p.caller_gpu and xp is not np:
        f, g = to_host(f), to_host(g)
        if P is not None and not isinstance(P, SinkhornPlan):
            P = to_host(P)
    info = {
        "eps_schedule": p.schedule, "n_iter_scaling": s.n_scaling, "diameter": p.diameter,
        "scaling": p.scaling, "symmetric": p.symmetric, "tol": p.tol, "check_every": p.check_every,
        "warm_start": p.warm, "self_transport": p.self_transport, "dtype": str(p.wdt),
        "shape": p.geom.shape,
        "geometry": p.geom.kind, "time_loop_s": t_end - s.t_loop, "time_total_s": t_end - p.t_start,
        "time_per_iter_s": (t_end - s.t_loop) / max(1, n_iter),
    }
    if s.float64_error is not None:
        info["marginal_error_float64"] = s.float64_error
    if hasattr(p.softmin_x, "threads"):  # numba: soft-min calls per thread count (chosen by measurement)
        info["numba_thread_calls"] = dict(p.softmin_x.threads.counts)
        # soft-min calls (both sides, the last pass included) that took the kernel matrix
        info["kernel_matrix_calls"] = sum(getattr(op, "n_kmat_calls", 0) for op in p.softmin_x.ops)
    if hasattr(p.softmin_x, "fallback_rows"):  # the CuPy soft-min
        info.update(_cupy_loop_info(p.softmin_x, p.softmin_y, n_iter, s.error_reads, s.one_sided))
    return SinkhornResult(value=value, objective=objective, f=f, g=g, marginal_error_history=tuple(errors),
                          n_iter=n_iter, converged=converged, plan=P, eps=eps, backend=p.backend, info=info)


def _final_values(p: _Problem, s: _Solved):
    """(f, value, objective) at the loop's end: ``value`` = <P, C> from one more row pass,
    ``objective`` = OT_eps; not converged, ``f`` is first replaced by one more half-step (see
    sinkhorn's Returns). Appends the error now to ``s.errors`` when no check followed the last
    iteration."""
    xp, eps, a_d, f = p.xp, p.eps, p.a, s.f
    with np.errstate(divide="ignore", over="ignore"):
        # transport cost <P, C> from one more row pass: P_i. = a_i exp((f_i - ft_i)/eps), and
        # sum_j P_ij C_ij = P_i. * (softmax-weighted mean of row i of C)
        ft, mean_cost = p.softmin_x(eps, s.g + eps * p.logb, with_mean_cost=True)
        if s.converged:
            clip = _exp_clip(f.dtype)
            rows = a_d * xp.exp(xp.clip((f - ft) / eps, -clip, clip))
        else:
            # a final half-step f <- ft: the plan's rows then sum to a exactly, so its cost
            # is an a-weighted mean of costs (in [min C, max C] per unit mass), and <a, f> +
            # <b, g> is a true dual value (a lower bound on OT_eps); the pair (f, g) returned
            # and the plan are this one
            f, rows = ft, a_d
            s.errors.append(_returned_error(p, s, f))
        value = float(xp.sum(rows.astype(np.float64) * xp.asarray(mean_cost, dtype=np.float64)))
        if eps > _PRIMAL_OBJECTIVE_EPS_RATIO * p.mag:
            objective = _primal_objective(xp, p.geom, a_d, p.b, f, s.g, eps)
        else:
            objective = float(xp.sum(a_d.astype(np.float64) * f) + xp.sum(p.b.astype(np.float64) * s.g))
    return f, value, objective


def _returned_error(p: _Problem, s: _Solved, f) -> float:
    """The L1 marginal error of the pair an unconverged solve returns: ``f`` (after the final
    half-step, so its rows sum to ``a``: their error is 0) with the loop's ``g``, i.e. the
    columns' error ``sum_j b_j |exp((g_j - g~_j)/eps) - 1|``, one more column soft-min. The
    last check measured the pair before that half-step, which can be far larger (2e126 for 30
    points at eps = 1e-3 after 20 iterations, where the returned plan's error is 0.41). A
    float32 host solve that failed its float64 recheck measures the returned pair in float64
    too (``s.float64_error``)."""
    if s.float64_error is not None:
        s.float64_error = _float64_marginal_error(p, f, s.g)
        return s.float64_error
    gt = p.softmin_y(p.eps, f + p.eps * p.loga)
    return float(_marginal_error(p.xp, p.b, s.g, gt, p.eps))


def _same_array(u, v) -> bool:
    """Whether two weight vectors (or None = uniform) are the same values."""
    if u is None or v is None:
        return u is None and v is None
    if u is v:
        return True
    try:
        return bool(np.array_equal(to_host(u) if is_cupy(u) else np.asarray(u),
                                   to_host(v) if is_cupy(v) else np.asarray(v)))
    except (TypeError, ValueError):
        return False


def _same_geometry(g1, g2) -> bool:
    """Whether two geometries hold the same costs (same points and cost, or the same matrix)."""
    if isinstance(g1, PointCloud) and isinstance(g2, PointCloud):
        return (g1._cost == g2._cost and _same_array(g1.x, g2.x) and _same_array(g1.y, g2.y)
                and _same_array(g1.x, g1.y))
    if isinstance(g1, DenseGeometry) and isinstance(g2, DenseGeometry):
        return _same_array(g1.C, g2.C)
    return False


@dataclass(frozen=True)
class SinkhornDivergenceResult(Result):
    """Debiased Sinkhorn divergence S_eps(a, b) = OT_eps(a, b) - ½ OT_eps(a, a) - ½ OT_eps(b, b).

    value : float        S_eps (>= 0, = 0 iff a = b on the same support)
    ot_ab, ot_aa, ot_bb  the three SinkhornResults (their ``objective`` enter S_eps)
    converged : bool     all three converged
    """

    value: float
    ot_ab: Any = None
    ot_aa: Any = None
    ot_bb: Any = None
    converged: bool = False
    eps: float = float("nan")
    info: dict = field(default_factory=dict)


def sinkhorn_divergence(a: Any, b: Any, M_or_geometry: Any, *, eps: float, M_aa: Any = None,
                        M_bb: Any = None, **kwargs) -> SinkhornDivergenceResult:
    r"""Debiased Sinkhorn divergence :math:`S_\varepsilon = OT_\varepsilon(a,b) - \tfrac12
    OT_\varepsilon(a,a) - \tfrac12 OT_\varepsilon(b,b)` (Genevay et al. 2018; Feydy et al. 2019).

    ``OT_eps`` is the regularised objective ``<a,f> + <b,g>`` of :func:`sinkhorn`. S_eps is
    >= 0, is 0 when a = b (same support), and tends to OT as eps -> 0 and to an MMD as
    eps -> infinity. Identical inputs (equal weights, and ``x`` equal to ``y`` or ``M``,
    ``M_aa`` and ``M_bb`` equal) are one problem: it is solved once and S_eps is exactly 0
    (``info["identical_inputs"]``; the three results are the same object).

    Parameters
    ----------
    a, b : weights or None (uniform)
    M_or_geometry : PointCloud, or a dense cost (n, m) with ``M_aa`` (n, n) and ``M_bb`` (m, m)
        A point cloud ``PointCloud(x, y)`` gives the three problems itself (``M_aa`` or
        ``M_bb`` beside it is a ValueError).
    eps : float > 0
    **kwargs : passed to :func:`sinkhorn` (``backend``, ``tol``, ``max_iter``, ``scaling``, ...)
        ``symmetric``, the warm starts ``f0``, ``g0`` and ``plan`` apply to OT(a, b) only: the
        two self-transport terms start cold and always use the averaged (symmetric) update,
        whose fixed point f = g they reach in tens of iterations.

    Returns
    -------
    SinkhornDivergenceResult
        ``value`` (S_eps), the three :class:`SinkhornResult` ``ot_ab``, ``ot_aa``, ``ot_bb``,
        ``converged`` (all three converged), ``eps`` and ``info`` (``backend``: the cross
        term's; ``backends``: each term's, keys "ab", "aa", "bb"; ``identical_inputs``). A batch (docs/batch.md) gives ``value`` and ``converged`` of
        shape (B,) and three batched results.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot import PointCloud, sinkhorn_divergence
    >>> x = np.array([[0.0], [1.0]])
    >>> s = sinkhorn_divergence(None, None, PointCloud(x, x), eps=0.1)
    >>> abs(s.value) < 1e-8
    True
    """
    if batch_size_or_raise(M_or_geometry, "M_or_geometry", "(n, m)") is not None:  # a batch of problems (docs/batch.md)
        from ._sinkhorn_batch import sinkhorn_divergence_batch

        return sinkhorn_divergence_batch(a, b, M_or_geometry, eps=eps, M_aa=M_aa, M_bb=M_bb,
                                         **kwargs)
    g_ab, g_aa, g_bb = _divergence_geometries(M_or_geometry, M_aa, M_bb)
    if _same_array(a, b) and _same_geometry(g_ab, g_aa) and _same_geometry(g_ab, g_bb):
        # a = b on the same support: OT(a, b), OT(a, a), OT(b, b) are one problem, solved once
        # (averaged update), so S = 0 exactly rather than the difference of two solves' rounding
        r = sinkhorn(a, a, g_aa, eps=eps, **{**kwargs, "symmetric": True})
        return SinkhornDivergenceResult(value=0.0, ot_ab=r, ot_aa=r, ot_bb=r, converged=r.converged,
                                        eps=eps, info={"backend": r.backend, "identical_inputs": True,
                                                       "backends": _term_backends(r, r, r)})
    r_ab = sinkhorn(a, b, g_ab, eps=eps, **kwargs)
    # The self-transport problems are symmetric (f = g at the optimum): the averaged update
    # f <- (f + T f)/2 contracts fast there (tens of iterations where alternating Sinkhorn needs
    # thousands: 30 vs 1770 on 2000 Gaussian points at eps = 0.1), so they always use it.
    # warm starts and the plan belong to OT(a, b): g0 has b's length, not a's
    self_kw = {**{k: v for k, v in kwargs.items() if k not in ("f0", "g0", "plan")},
               "symmetric": True}
    r_aa = sinkhorn(a, a, g_aa, eps=eps, **self_kw)
    r_bb = sinkhorn(b, b, g_bb, eps=eps, **self_kw)
    value = r_ab.objective - 0.5 * r_aa.objective - 0.5 * r_bb.objective
    return SinkhornDivergenceResult(value=value, ot_ab=r_ab, ot_aa=r_aa, ot_bb=r_bb,
                                    converged=r_ab.converged and r_aa.converged and r_bb.converged,
                                    eps=eps, info={"backend": r_ab.backend, "identical_inputs": False,
                                          "backends": _term_backends(r_ab, r_aa, r_bb)})


def _term_backends(r_ab, r_aa, r_bb) -> dict[str, str]:
    """The backend of each term of a Sinkhorn divergence (``auto`` may pick them apart: the
    self terms are n x n and m x m, the cross term n x m)."""
    return {"ab": r_ab.backend, "aa": r_aa.backend, "bb": r_bb.backend}


def _no_self_costs_beside(M_aa, M_bb) -> None:
    """A PointCloud gives the self costs itself: ``M_aa``/``M_bb`` beside it would be ignored."""
    given = [k for k, v in (("M_aa", M_aa), ("M_bb", M_bb)) if v is not None]
    if given:
        raise ValueError(f"{' and '.join(f'`{k}`' for k in given)} must be None with a PointCloud "
                         "`M_or_geometry` (it gives the costs within a and within b itself, from "
                         "its points and cost); pass a dense cost matrix to use your own.")


def _divergence_geometries(M_or_geometry, M_aa, M_bb):
    """The geometries of OT(a, b), OT(a, a) and OT(b, b): a point cloud's own, or the dense
    costs ``M``, ``M_aa`` (n, n) and ``M_bb`` (m, m), each checked under its name."""
    if isinstance(M_or_geometry, PointCloud):
        _no_self_costs_beside(M_aa, M_bb)
        pc = M_or_geometry
        # in the precision of OT(a, b): a float32 cloud's self terms are float32 solves too
        return pc, pc.with_points(pc.x, pc.x), pc.with_points(pc.y, pc.y)
    if M_aa is None or M_bb is None:
        raise ValueError("`M_aa` and `M_bb` are required with a dense cost (the costs within a and "
                         "within b); or pass a PointCloud.")
    g_ab = as_geometry(M_or_geometry)
    # checked under their own names (a bare matrix is otherwise checked as `M`)
    g_aa, g_bb = (m if isinstance(m, (DenseGeometry, PointCloud))
                  else DenseGeometry(check_cost_matrix(m, name))
                  for m, name in ((M_aa, "M_aa"), (M_bb, "M_bb")))
    n, m = g_ab.shape
    if g_aa.shape != (n, n):
        raise ValueError(f"`M_aa` must have shape ({n}, {n}); got {g_aa.shape}.")
    if g_bb.shape != (m, m):
        raise ValueError(f"`M_bb` must have shape ({m}, {m}); got {g_bb.shape}.")
    return g_ab, g_aa, g_bb
