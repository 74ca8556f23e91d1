"""Soft-min, numba CPU kernels for a dense cost matrix (host :class:`DenseGeometry`).

Same meaning as :func:`.softmin_numpy.softmin_dense`::

    rows:     out_i = -eps * log sum_j exp((h_j - C_ij) / eps)        (n,)   (softmin_x)
    columns:  out_j = -eps * log sum_i exp((h_i - C_ij) / eps)        (m,)   (softmin_y)

:class:`DenseSoftmin` is the stateful operator the Sinkhorn loop uses; it remembers its last
output and uses it as the next call's shift, as the point-cloud kernel does
(:mod:`.softmin_numba`, whose vectorisable ``exp2`` it reuses).

How it works
------------
- **Base 2, folded constants.** With ``c = log2(e) / eps`` each term is ``2^t`` with
  ``t_ij = (c h_j + o_i) - c C_ij`` (rows) or ``(c h_i + o_j) - c C_ij`` (columns): one add and
  one FMA per entry feed the polynomial ``exp2`` (exponent bits + degree 11 in float64, degree
  5 in float32), so the inner loop vectorises (AVX2 / AVX-512) and has no branch.
- **Known shift, no running max.** ``o = c f_prev``, the previous output of the same operator
  (Sinkhorn's previous potential), so each sum ``S`` is near 1 and ``out = (o - log2 S) / c``.
  A row whose ``S`` leaves the window (``2^-500 .. 2^999`` in float64, ``2^-60 .. 2^99`` in
  float32) is redone by the **safe path**: one pass for the row maximum ``M``, then the sum of
  ``2^(t - M)`` (every term <= 1, the largest exactly 1). The first call takes the safe path.
- **Columns without a transposed copy of C.** The column soft-min walks ``C`` row-major: row
  chunks run in parallel (``prange``), each chunk adds ``2^((c h_i + o_j) - c C_ij)`` into
  its own column accumulator (length m; float64, fed by tiles of 256 rows summed in the
  working dtype), and the chunk accumulators are added at the end. Extra memory is
  ``2 n_chunks m`` numbers (``n_chunks <= 4 x`` the configured thread count and ``<= n/8``),
  not a second ``n x m`` matrix, and every load of ``C`` is unit-stride. The chunking does
  not depend on the current thread count, so outputs are bit-identical on 1 or all threads. The safe path for columns is the same two-pass idea in this layout: a row-major
  pass for the per-column maximum (per-chunk maxima, combined), then the sum pass with the
  shift ``o_j = -M_j``. It runs for all columns when any column leaves the window (rare after
  the first call at a fixed eps).
- **float32** (``dtype=float32``): ``C``, ``c h`` and the shift in float32, terms summed in
  float32 within tiles (512 columns for rows, 256 rows for columns), tile sums, the logs and
  the output in float64. Accuracy is set by the float32 exponent ``t`` (absolute error about
  ``|t| * 6e-8``, i.e. ~``6e-8 max(|h|, |C|)``), as for the point-cloud kernel.
- ``with_mean_cost`` (once per solve, for ``<P, C>``; rows only) runs a float64 two-pass
  kernel (max, then the sums of ``w`` and ``w C``).
- ``-inf`` entries of ``h`` (zero weights) are replaced by a large finite negative number
  (``fastmath`` assumes finite values); their terms are at most ``2^-1000`` of the largest.

Compiled with ``cache=True``: the first call in a fresh environment compiles (a few seconds),
later processes load the cache. The loops run as row loops compiled only as their entry points
(:func:`.softmin_numba.row_loop`, numpy's error model as in numba's parallel functions),
which the parallel passes call by address: a process that compiles them and one that loads
them from the cache run the same machine code.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from ..._parallel import parallel_kernel
from ._simd import wide_vectors
from .softmin_numba import (
    _KMAT_MAX_ENTRIES,
    _entry_caller,
    _exp2_f32,
    _exp2_f64,
    entry_point,
    kmat_build_dense,
    kmat_softmin,
    kmat_softmin_mean_dense,
    row_loop,
    rows_entries,
    shift_inputs,
)
from ..._constants import FASTMATH as _FM
from ..._constants import LOG2E as _LOG2E
from ..._constants import NEG_BIG as _NEG_BIG
from ..._constants import NEG_BIG32 as _NEG_BIG32

__all__ = ["DenseSoftmin", "softmin_dense", "warmup"]

_TILE = 512      # columns per float32 partial sum (row soft-min)
_ROW_TILE = 256  # rows per partial column sum (column soft-min)
_WIN64 = (2.0 ** -500, 2.0 ** 999)
_WIN32 = (2.0 ** -60, 2.0 ** 99)


def _exp2d(t):  # pragma: no cover - typed by the overload below
    raise NotImplementedError


@overload(_exp2d, inline="always", jit_options={"fastmath": _FM})
def _exp2d_ov(t):
    if t == types.float32:
        return lambda t: _exp2_f32(t)
    return lambda t: _exp2_f64(t)


# C is passed flattened (1-D, row-major) and column indices are unsigned: no negative-index
# wrap-around, unit-stride loads that LLVM vectorises, and no per-row array views.

@njit(inline="always", fastmath=_FM)
def _row_sum(C, base, hc, a, c, m):
    """sum_j 2^((hc_j + a) - c C[base + j]), float32 terms in tiles of _TILE, float64 total."""
    T = np.uint64(_TILE)
    s = 0.0
    for j0 in range(np.uint64(0), m, T):
        w = min(m - j0, T)
        st = a - a
        for jj in range(w):
            j = j0 + jj
            st += _exp2d((hc[j] + a) - c * C[base + j])
        s += st
    return s


# The row loops below are compiled once each, as entry points called by address from the
# parallel drivers after them (softmin_numba.row_loop: a fastmath loop in a prange body is
# compiled twice, as numba's parallel function and as its copy linked into the kernel, and a
# compiling and a cache-loading process ran different copies, rounding apart in the last bits).

@row_loop(fastmath=_FM, error_model="numpy")
def dense_shift_rows(C, m, hc, c, o, have_shift, lo, hi, neg, inv_c, out, fell_back, i0, i1):
    """Rows ``i0 .. i1 - 1`` of :func:`dense_rows` on one thread."""
    wide_vectors()
    mu = np.uint64(m)
    for i in range(i0, i1):
        base = np.uint64(i) * mu
        s = 0.0
        if have_shift:
            s = _row_sum(C, base, hc, o[i], c, mu)
        if have_shift and s > lo and s < hi:
            out[i] = (np.float64(o[i]) - math.log2(s)) * inv_c
            fell_back[i] = 0
        else:
            mx = neg
            for j in range(mu):
                mx = max(mx, hc[j] - c * C[base + j])
            s = _row_sum(C, base, hc, -mx, c, mu)
            out[i] = -(np.float64(mx) + math.log2(s)) * inv_c
            fell_back[i] = 1


@row_loop(fastmath=_FM, error_model="numpy")
def dense_mean_rows(C, m, hs, inv_eps, out, mean, i0, i1):
    """Rows ``i0 .. i1 - 1`` of :func:`dense_rows_mean` on one thread."""
    wide_vectors()
    mu = np.uint64(m)
    eps = 1.0 / inv_eps
    for i in range(i0, i1):
        base = np.uint64(i) * mu
        mx = -1e308
        for j in range(mu):
            mx = max(mx, hs[j] - np.float64(C[base + j]) * inv_eps)
        s = 0.0
        sc = 0.0
        for j in range(mu):
            cij = np.float64(C[base + j])
            t = (hs[j] - cij * inv_eps) - mx
            w = _exp2_f64(t * _LOG2E) if t > -700.0 else 0.0
            s += w
            sc += w * cij
        out[i] = -eps * (mx + math.log(s))
        mean[i] = sc / s


@row_loop(fastmath=_FM, error_model="numpy")
def dense_col_sums(C, m, hc, c, o, ak, pk, i_lo, i_hi):
    """One chunk of rows ``i_lo .. i_hi - 1`` of :func:`dense_cols_sum`: its column sums into
    ``ak`` (float64) through the tile sums ``pk`` (working dtype)."""
    wide_vectors()
    mu = np.uint64(m)
    for j in range(mu):
        ak[j] = 0.0
    for t0 in range(i_lo, i_hi, _ROW_TILE):
        for j in range(mu):
            pk[j] = 0.0
        t1 = min(i_hi, t0 + _ROW_TILE)
        i = t0
        while i + 2 <= t1:  # two rows per sweep: half the loads/stores of pk and o per term
            b0 = np.uint64(i) * mu
            b1 = b0 + mu
            r0 = hc[i]
            r1 = hc[i + 1]
            for j in range(mu):
                oj = o[j]
                pk[j] += (_exp2d((r0 + oj) - c * C[b0 + j])
                          + _exp2d((r1 + oj) - c * C[b1 + j]))
            i += 2
        if i < t1:
            b0 = np.uint64(i) * mu
            r0 = hc[i]
            for j in range(mu):
                pk[j] += _exp2d((r0 + o[j]) - c * C[b0 + j])
        for j in range(mu):
            ak[j] += pk[j]


@row_loop(fastmath=_FM, error_model="numpy")
def dense_col_maxima(C, m, hc, c, neg, mk, i_lo, i_hi):
    """One chunk of rows ``i_lo .. i_hi - 1`` of :func:`dense_cols_max`: its column maxima
    into ``mk``."""
    wide_vectors()
    mu = np.uint64(m)
    for j in range(mu):
        mk[j] = neg
    for i in range(i_lo, i_hi):
        base = np.uint64(i) * mu
        r = hc[i]
        for j in range(mu):
            mk[j] = max(mk[j], r - c * C[base + j])


_V, _V32, _U8 = types.float64[::1], types.float32[::1], types.uint8[::1]
_F, _F32, _I, _B = types.float64, types.float32, types.int64, types.boolean


def _shift_rows_sig(v, f):
    return types.void(v, _I, v, f, v, _B, _F, _F, f, _F, _V, _U8, _I, _I)


def _mean_rows_sig(v):
    return types.void(v, _I, _V, _F, _V, _V, _I, _I)


def _col_sums_sig(v, f):
    return types.void(v, _I, v, f, v, _V, v, _I, _I)


def _col_maxima_sig(v, f):
    return types.void(v, _I, v, f, f, v, _I, _I)


_ENTRIES: dict = {}


def dense_entries() -> dict:
    """The dense row loops' entry points (:func:`~.softmin_numba.entry_point`), by working
    dtype: ``"rows"``, ``"mean"``, ``"col_sums"``, ``"col_maxima"`` and the same with
    ``"_f32"``."""
    if not _ENTRIES:
        for v, f, tag in ((_V, _F, ""), (_V32, _F32, "_f32")):
            _ENTRIES.update({
                "rows" + tag: entry_point(_shift_rows_sig(v, f), dense_shift_rows),
                "mean" + tag: entry_point(_mean_rows_sig(v), dense_mean_rows),
                "col_sums" + tag: entry_point(_col_sums_sig(v, f), dense_col_sums),
                "col_maxima" + tag: entry_point(_col_maxima_sig(v, f), dense_col_maxima)})
    return _ENTRIES


_call_rows = _entry_caller("dense_shift_rows", _shift_rows_sig(_V, _F), _shift_rows_sig(_V32, _F32))
_call_mean = _entry_caller("dense_mean_rows", _mean_rows_sig(_V), _mean_rows_sig(_V32))
_call_col_sums = _entry_caller("dense_col_sums", _col_sums_sig(_V, _F), _col_sums_sig(_V32, _F32))
_call_col_maxima = _entry_caller("dense_col_maxima", _col_maxima_sig(_V, _F),
                                 _col_maxima_sig(_V32, _F32))


@parallel_kernel
@njit(parallel=True, cache=True)
def dense_rows(rows, C, n, m, hc, c, o, have_shift, lo, hi, neg, inv_c, out, fell_back, n_chunks):
    """Row soft-min with a known per-row shift ``o`` (when ``have_shift``), safe path per row.

    ``C`` flat (n*m,), ``hc = c h`` (m,), ``c = log2(e)/eps``, ``o = c f_prev`` (n,).
    Writes ``out_i`` (float64) and ``fell_back_i`` (1 for the rows on the safe path); the rows
    in ``n_chunks`` chunks over the threads, each by the entry point at ``rows``
    (:func:`dense_shift_rows`, :func:`dense_entries`).
    """
    for ch in prange(n_chunks):
        _call_rows(rows, C, m, hc, c, o, have_shift, lo, hi, neg, inv_c, out, fell_back,
                   ch * n // n_chunks, (ch + 1) * n // n_chunks)
    return out


@parallel_kernel
@njit(parallel=True, cache=True)
def dense_rows_mean(rows, C, n, m, hs, inv_eps, out, mean, n_chunks):
    """Row soft-min and the row-softmax mean of C, float64, two passes (max, then sums).

    ``hs = h / eps`` (float64). ``out_i = -eps (M_i + ln S_i)``, ``mean_i = sum_j w_ij C_ij / S_i``
    with ``w_ij = exp(hs_j - C_ij/eps - M_i)``; the rows by the entry point at ``rows``
    (:func:`dense_mean_rows`).
    """
    for ch in prange(n_chunks):
        _call_mean(rows, C, m, hs, inv_eps, out, mean, ch * n // n_chunks, (ch + 1) * n // n_chunks)
    return out, mean


@parallel_kernel
@njit(parallel=True, cache=True)
def dense_cols_sum(cols, C, n, m, hc, c, o, acc, part):
    """Partial column sums ``acc[k, j] = sum_{i in chunk k} 2^((hc_i + o_j) - c C_ij)``.

    Row-major walk of ``C`` (flat), one chunk of rows per ``k`` (``acc.shape[0]`` chunks) in
    parallel, each by the entry point at ``cols`` (:func:`dense_col_sums`); ``part`` (chunks,
    m) in the working dtype holds the sums of tiles of _ROW_TILE rows, added into the float64
    ``acc`` after each tile.
    """
    n_chunks = acc.shape[0]
    for k in prange(n_chunks):
        _call_col_sums(cols, C, m, hc, c, o, acc[k], part[k], k * n // n_chunks,
                       (k + 1) * n // n_chunks)
    return acc


@parallel_kernel
@njit(parallel=True, cache=True)
def dense_cols_max(cols, C, n, m, hc, c, neg, mx):
    """Partial column maxima ``mx[k, j] = max_{i in chunk k} (hc_i - c C_ij)`` (row-major),
    each chunk by the entry point at ``cols`` (:func:`dense_col_maxima`)."""
    n_chunks = mx.shape[0]
    for k in prange(n_chunks):
        _call_col_maxima(cols, C, m, hc, c, neg, mx[k], k * n // n_chunks, (k + 1) * n // n_chunks)
    return mx


def _chunks(n: int) -> int:
    return max(1, min(n, 8 * numba.get_num_threads()))


def _col_chunks(n: int) -> int:
    # enough chunks to balance the threads, few enough that the accumulators stay small beside
    # C (at most ~n m / 8 numbers); from the configured maximum thread count, not the current
    # one, so the column sums (and the outputs, bit for bit) do not depend on set_num_threads
    return max(1, min(4 * numba.config.NUMBA_NUM_THREADS, n // 8))


class DenseSoftmin:
    """Stateful numba soft-min over a dense cost ``C`` (n, m), along rows or along columns.

    ``axis=1`` (rows): ``h`` (m,) -> ``out_i = -eps log sum_j exp((h_j - C_ij)/eps)`` (n,).
    ``axis=0`` (columns): ``h`` (n,) -> ``out_j = -eps log sum_i exp((h_i - C_ij)/eps)`` (m,),
    computed from the same row-major ``C`` (no transposed copy).

    The last output is the next call's shift (see the module notes); ``n_fallback`` counts the
    rows (columns) that took the safe path over all calls, ``n_out`` the outputs computed.
    Two operators (rows and columns) can share one ``C``: pass the same array.

    Parameters
    ----------
    C : (n, m) array, finite
    axis : 1 (rows, default) or 0 (columns)
    dtype : float64 (default) or float32 -- working precision (C is cast once if needed)

    Calling ``op(eps, h, with_mean_cost=False)`` returns ``out`` float64, or ``(out, mean)``
    with the row-softmax mean of ``C`` (rows only). Time O(n m) per call; extra memory O(n + m)
    for rows, O(chunks m) for columns.

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.ot._kernels.softmin_numba_dense import DenseSoftmin
    >>> C = np.array([[0.0, 1.0], [1.0, 0.0]])
    >>> op = DenseSoftmin(C, axis=0)
    >>> g = op(1e-3, np.zeros(2))        # first call: safe (max) path for every column
    >>> g = op(1e-3, np.zeros(2))        # then the previous output is the shift
    >>> bool(np.abs(g).max() < 1e-12), op.n_fallback
    (True, 2)
    """

    def __init__(self, C, axis: int = 1, dtype=np.float64, kmat: bool = True):
        if axis not in (0, 1):
            raise ValueError(f"`axis` must be 0 or 1; got {axis!r}.")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValueError(f"`dtype` must be float32 or float64; got {self.dtype}.")
        C = np.asarray(C)
        if C.ndim != 2:
            raise ValueError(f"`C` must be 2-D; got shape {C.shape}.")
        self.C = np.ascontiguousarray(C, dtype=self.dtype)
        self.axis = axis
        self.n, self.m = self.C.shape
        self._flat = self.C.reshape(-1)
        self.size = self.m if axis == 0 else self.n
        self._prev: np.ndarray | None = None
        self._fell_back = np.zeros(self.n, dtype=np.uint8)
        self.n_fallback = 0
        self.n_out = 0
        # the kernel-matrix path (softmin_numba, "Small problems"): float64, n m <= 2^16,
        # costs >= 0; the matrix 2^(-c C) is built at every new c where c max C <= 450 (the
        # whole solve where its target eps allows it: the batched solver then rounds alike)
        self._kmat = (bool(kmat) and self.dtype == np.float64
                      and 0 < self.n * self.m <= _KMAT_MAX_ENTRIES and float(self.C.min()) >= 0.0)
        self._kc = math.nan
        self._kusable = False
        self._kf: np.ndarray | None = None
        self.n_kmat_calls = 0

    def _kmat_call(self, c: float, h, mean=None):
        """The output by the kernel matrix, or None where it does not apply (see __init__)."""
        if not self._kmat:
            return None
        rows = rows_entries()
        if c != self._kc:
            self.kmat_buffers()
            self._kusable = kmat_build_dense(rows["kdense"].address, self._flat, self.n, self.m, c,
                                             self.axis == 0, self._kf)
            self._kc = c
        if not self._kusable:
            return None
        hc, o = self._khc, self._ko
        shift_inputs(h, c, _NEG_BIG, h, False, hc, o)
        out = np.empty(self.size)
        lo, hi = _WIN64
        if mean is None:
            bad = kmat_softmin(rows["ksums"].address, rows["logs"].address, self._kf, hc, self._kw,
                               o, lo, hi, 1.0 / c, out, self._kfell)
        else:
            bad = kmat_softmin_mean_dense(rows["kdmean"].address, rows["logs"].address, self._kf,
                                          hc, self._kw, o, self._flat, lo, hi, 1.0 / c, out, mean,
                                          self._kfell)
        if bad != 0:
            return None  # cannot happen with c max C <= 450
        self.n_kmat_calls += 1
        return out

    def kmat_buffers(self):
        """The kernel-matrix path's buffers, allocated on first use: the matrix (n m), ``c h``
        and the weights (the input's length), the shift and the fallback flags (the output's)."""
        if self._kf is None:
            self._kf = np.empty(self.n * self.m)
            hn = self.m if self.axis == 1 else self.n
            self._khc, self._kw = np.empty(hn), np.empty(hn)
            self._ko = np.empty(self.size)
            self._kfell = np.zeros(self.size, dtype=np.uint8)
        return self._kf, self._khc, self._kw, self._ko, self._kfell

    def _entry(self, kind: str) -> int:
        """The address of the entry point of a row loop (:func:`dense_entries`) in the working
        dtype."""
        return dense_entries()[kind + ("_f32" if self.dtype == np.float32 else "")].address

    def reset(self) -> None:
        """Forget the shift (the next call takes the safe path everywhere)."""
        self._prev = None

    def __call__(self, eps: float, h, with_mean_cost: bool = False):
        eps = float(eps)
        h = np.asarray(h, dtype=np.float64)
        n, m = self.n, self.m
        if h.shape != (self.n if self.axis == 0 else self.m,):
            raise ValueError(f"`h` has shape {h.shape}; expected ({self.n if self.axis == 0 else self.m},).")
        if with_mean_cost:
            if self.axis != 1:
                raise ValueError("`with_mean_cost` is available for the row soft-min (axis=1) only.")
            mean = np.empty(n, dtype=np.float64)
            if _LOG2E / eps == self._kc:  # the matrix of the last call's eps, when usable
                out = self._kmat_call(_LOG2E / eps, h, mean)
                if out is not None:
                    return out, mean
            hs = h / eps
            hs = np.ascontiguousarray(np.where(np.isfinite(hs) | (hs > 0), hs, _NEG_BIG))
            out = np.empty(n, dtype=np.float64)
            if n and m:
                dense_rows_mean(self._entry("mean"), self._flat, n, m, hs, 1.0 / eps, out, mean,
                                _chunks(n))
            else:
                out[:], mean[:] = np.inf, np.nan
            return out, mean
        if n == 0 or m == 0:
            return np.full(self.size, np.inf)
        c = _LOG2E / eps
        out = self._kmat_call(c, h)
        if out is not None:
            self.n_out += self.size
            self._prev = out
            return out
        f32 = self.dtype == np.float32
        wdt = self.dtype.type
        big = _NEG_BIG32 if f32 else _NEG_BIG
        hc = h * c
        hc = np.ascontiguousarray(np.where(np.isfinite(hc) & (hc > big), hc, big), dtype=self.dtype)
        have = self._prev is not None
        o = (self._prev * c).astype(self.dtype) if have else None
        if have and not np.all(np.isfinite(o)):
            have = False
        lo, hi = _WIN32 if f32 else _WIN64
        neg = wdt(-3e38 if f32 else -1e308)
        if self.axis == 1:
            out = np.empty(n, dtype=np.float64)
            if o is None:
                o = np.zeros(n, dtype=self.dtype)
            dense_rows(self._entry("rows"), self._flat, n, m, hc, wdt(c), o, have, lo, hi, neg,
                       1.0 / c, out, self._fell_back, _chunks(n))
            self.n_fallback += int(self._fell_back.sum())
        else:
            out = self._cols(hc, wdt(c), o if have else None, lo, hi, neg, 1.0 / c)
        self.n_out += self.size
        self._prev = out
        return out

    def _cols(self, hc, c, o, lo, hi, neg, inv_c):
        n, m = self.n, self.m
        k = _col_chunks(n)
        acc = np.empty((k, m), dtype=np.float64)
        part = np.empty((k, m), dtype=self.dtype)
        if o is not None:
            dense_cols_sum(self._entry("col_sums"), self._flat, n, m, hc, c, o, acc, part)
            s = acc.sum(axis=0)
            bad = ~((s > lo) & (s < hi))
            n_bad = int(bad.sum())
            if n_bad == 0:
                return (o.astype(np.float64) - np.log2(s)) * inv_c
        else:
            n_bad = m
        # safe path, all columns: per-column maximum M_j, then the sums with the shift -M_j
        mx = np.empty((k, m), dtype=self.dtype)
        dense_cols_max(self._entry("col_maxima"), self._flat, n, m, hc, c, neg, mx)
        M = mx.max(axis=0)
        dense_cols_sum(self._entry("col_sums"), self._flat, n, m, hc, c, np.ascontiguousarray(-M),
                       acc, part)
        s = acc.sum(axis=0)
        self.n_fallback += n_bad
        return -(M.astype(np.float64) + np.log2(s)) * inv_c


def softmin_dense(C, h, eps: float, *, axis: int = 1, with_mean_cost: bool = False, dtype=None):
    """Stateless dense soft-min (numba): rows (``axis=1``) or columns (``axis=0``) of ``C``.

    Same meaning and returns as :func:`.softmin_numpy.softmin_dense` (which takes ``C.T`` for
    the columns); every output takes the safe (max) path. ``dtype``: None/float64 or float32.
    """
    op = DenseSoftmin(C, axis=axis, dtype=np.float64 if dtype is None else dtype)
    return op(eps, h, with_mean_cost=with_mean_cost)


def warmup() -> None:
    """Compile (or load from cache) the kernels on a tiny problem."""
    C = np.zeros((3, 2))
    for dt in (np.float64, np.float32):
        for axis in (0, 1):
            op = DenseSoftmin(C, axis=axis, dtype=dt)
            h = np.zeros(op.n if axis == 0 else op.m)
            op(1.0, h)
            op(1.0, h)
    softmin_dense(C, np.zeros(2), 1.0, with_mean_cost=True)
