"""LSD radix sort of float64 values (optionally with float64 payloads) in numba.

Why: at n = 1e7 the 1-D Wasserstein distance is two sorts plus one linear pass, so the sort
*is* the cost. A least-significant-digit radix sort on the IEEE-754 bit patterns is O(n)
(``PASSES`` = 8 scatter passes of ``RADIX_BITS`` = 8-bit digits, plus one fused
histogram pass; 256 buckets keep the scatter's write streams in L1, which measured
faster than 11- or 16-bit digits, especially with a payload), it needs no comparisons, and it carries a payload (the weights) for the
price of one more scattered stream -- no argsort + gather.

Order-preserving key: for a float64 with bit pattern k (as uint64),

    key(k) = ~k            if the sign bit is set   (negatives: reverse their order)
    key(k) = k | 1 << 63   otherwise                (non-negatives: above all negatives)

so unsigned key order is the float order -inf < ... < -0.0 < +0.0 < ... < +inf (-0.0 sorts
just before +0.0; ``np.sort`` leaves them in input order, which compares equal). NaN must not
occur (the callers validate). The sort is stable, so equal values keep their input order
(this matters only for the payload).

Passes whose digit is the same for every key (e.g. the top digit of data in [1, 2)) are
skipped; the histograms of all digits come from one read of the input. Memory: one scratch
array of the input's size (two with a payload).

Entry points (all ``cache=True``; numba is imported here, never at ``import kantorovich``):

* :func:`sort_rows(x)`, :func:`sort_rows_kv(x, w)`: sort every row of a C-contiguous
  (B, n) float64 array (in place: ``x`` and ``w`` are overwritten with the sorted rows);
  parallel over rows (each row sorted by one thread).
* :func:`sort_pair(x, wx, y, wy)`: sort two 1-D arrays (each with an optional payload) in
  place *concurrently*, one per thread (the kernels release the GIL), for the common case of
  one long u and one long v.
* :func:`sort_pair_from(x, wx, y, wy)`: the same, *out of place* (the inputs are only read),
  with the validation (NaN values; NaN, negative, infinite weights; totals) fused into the
  histogram pass, the key flip / unflip fused into the first / last scatter, only the top 48
  bits scattered (6 passes) and runs of equal top keys finished locally (``_fix_low``).

All large buffers are allocated by numpy and passed in: numpy advises transparent huge pages,
numba's ``np.empty`` does not, and the scatter is TLB-bound on 4 KiB pages (0.41 s against
0.25 s for one key-value sort at n = 1e7).
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit, prange

from ..._parallel import parallel_kernel

__all__ = ["PASSES", "RADIX_BITS", "sort_pair", "sort_rows", "sort_rows_kv"]

RADIX_BITS = 8  # measured best at n = 1e7: 8-bit 0.27 s, 11-bit 0.38-0.48 s, 16-bit 0.60 s
PASSES = 8  # 64 / 8
_NB = 1 << RADIX_BITS

_SIGN = np.uint64(1 << 63)
_ONE = np.uint64(1)
_ZERO = np.uint64(0)
_S63 = np.uint64(63)
_MASK = np.uint64(_NB - 1)


@njit(cache=True, inline="always")
def _flip(k):
    # sign set -> ~k ; sign clear -> k | SIGN   (all in uint64: no int64/float promotion)
    return k ^ ((_ZERO - (k >> _S63)) | _SIGN)


@njit(cache=True, inline="always")
def _unflip(k):
    # top bit set (was non-negative) -> k ^ SIGN ; clear (was negative) -> ~k
    return k ^ (((k >> _S63) - _ONE) | _SIGN)


@njit(cache=True, nogil=True)
def _hist_flip(k, hist):
    """Flip the keys in place and count every digit of every key (one read)."""
    n = k.shape[0]
    hist[:, :] = 0
    for i in range(n):
        key = _flip(k[i])
        k[i] = key
        for d in range(PASSES):
            hist[d, (key >> np.uint64(d * RADIX_BITS)) & _MASK] += 1


@njit(cache=True, nogil=True)
def _radix_u64(k, buf, hist):
    """Sort the float64 bit patterns k (uint64 view, length n) in place; buf: scratch (n,)."""
    n = k.shape[0]
    if n < 2:
        return
    _hist_flip(k, hist)
    src = k
    dst = buf
    offs = np.empty(_NB, dtype=np.int64)
    npass = 0
    for d in range(PASSES):
        h = hist[d]
        trivial = False
        for b in range(_NB):
            if h[b] == n:
                trivial = True
                break
            if h[b] != 0:
                break
        if trivial:
            continue
        npass += 1
        s = 0
        for b in range(_NB):
            offs[b] = s
            s += h[b]
        shift = np.uint64(d * RADIX_BITS)
        for i in range(n):
            key = src[i]
            b = (key >> shift) & _MASK
            dst[offs[b]] = key
            offs[b] += 1
        src, dst = dst, src
    if npass % 2 == 0:  # the sorted keys are back in k
        for i in range(n):
            k[i] = _unflip(k[i])
    else:
        for i in range(n):
            k[i] = _unflip(src[i])


@njit(cache=True, nogil=True)
def _radix_u64_kv(k, v, kbuf, vbuf, hist):
    """As :func:`_radix_u64`, carrying the float64 payload v along (stable)."""
    n = k.shape[0]
    if n < 2:
        return
    _hist_flip(k, hist)
    src, dst = k, kbuf
    vsrc, vdst = v, vbuf
    offs = np.empty(_NB, dtype=np.int64)
    npass = 0
    for d in range(PASSES):
        h = hist[d]
        trivial = False
        for b in range(_NB):
            if h[b] == n:
                trivial = True
                break
            if h[b] != 0:
                break
        if trivial:
            continue
        npass += 1
        s = 0
        for b in range(_NB):
            offs[b] = s
            s += h[b]
        shift = np.uint64(d * RADIX_BITS)
        for i in range(n):
            key = src[i]
            b = (key >> shift) & _MASK
            o = offs[b]
            dst[o] = key
            vdst[o] = vsrc[i]
            offs[b] = o + 1
        src, dst = dst, src
        vsrc, vdst = vdst, vsrc
    if npass % 2 == 0:
        for i in range(n):
            k[i] = _unflip(k[i])
    else:
        for i in range(n):
            k[i] = _unflip(src[i])
            v[i] = vsrc[i]


@njit(cache=True, nogil=True)
def _sort_1d(x, buf):
    k = x.view(np.uint64)
    hist = np.empty((PASSES, _NB), dtype=np.int64)
    _radix_u64(k, buf, hist)


@njit(cache=True, nogil=True)
def _sort_1d_kv(x, w, buf, wbuf):
    k = x.view(np.uint64)
    hist = np.empty((PASSES, _NB), dtype=np.int64)
    _radix_u64_kv(k, w, buf, wbuf, hist)


@parallel_kernel
@njit(cache=True, parallel=True)
def _sort_rows(x, buf):
    B = x.shape[0]
    for r in prange(B):
        k = x[r].view(np.uint64)
        hist = np.empty((PASSES, _NB), dtype=np.int64)
        _radix_u64(k, buf[r], hist)


@parallel_kernel
@njit(cache=True, parallel=True)
def _sort_rows_kv(x, w, buf, wbuf):
    B, n = x.shape
    for r in prange(B):
        k = x[r].view(np.uint64)
        hist = np.empty((PASSES, _NB), dtype=np.int64)
        _radix_u64_kv(k, w[r], buf[r], wbuf[r], hist)


def _check(a, name):
    # internal callers pass our own C-contiguous float64 copies; a wrong one is a bug here
    if a.dtype != np.float64 or not a.flags.c_contiguous or not a.flags.writeable:
        raise ValueError(f"`{name}` must be a writeable C-contiguous float64 array (internal).")


def sort_rows(x):
    """Sort each row of a C-contiguous float64 array (..., n) in place; returns x."""
    _check(x, "x")
    # scratch allocated by numpy (huge pages for large arrays; numba's np.empty made the
    # 256-stream scatter ~1.5x slower at n = 1e7)
    if x.ndim == 1:
        _sort_1d(x, np.empty(x.shape, np.uint64))
    else:
        x2 = x.reshape(-1, x.shape[-1])
        _sort_rows(x2, np.empty(x2.shape, np.uint64))
    return x


def sort_rows_kv(x, w):
    """Sort each row of x (..., n) in place, permuting w (same shape) the same way."""
    _check(x, "x")
    _check(w, "w")
    if w.shape != x.shape:
        raise ValueError("`w` must have the shape of `x` (internal).")
    if x.ndim == 1:
        _sort_1d_kv(x, w, np.empty(x.shape, np.uint64), np.empty(x.shape))
    else:
        x2 = x.reshape(-1, x.shape[-1])
        _sort_rows_kv(x2, w.reshape(-1, x.shape[-1]), np.empty(x2.shape, np.uint64), np.empty(x2.shape))
    return x, w


def _two_threads(f1, f2):
    err = []

    def run():
        try:
            f1()
        except BaseException as exc:  # noqa: BLE001 -- re-raised in the caller's thread
            err.append(exc)

    t = threading.Thread(target=run)
    t.start()
    try:
        f2()
    finally:
        t.join()
    if err:
        raise err[0]


def sort_pair(x, wx, y, wy):
    """Sort two 1-D float64 arrays in place, concurrently (one thread each).

    ``wx`` / ``wy``: a payload permuted with ``x`` / ``y`` (same shape), or None.
    """
    for a, nm in ((x, "x"), (wx, "wx"), (y, "y"), (wy, "wy")):
        if a is not None:
            _check(a, nm)

    def job(a, w):
        if w is None:
            return lambda: _sort_1d(a, np.empty(a.shape, np.uint64))
        return lambda: _sort_1d_kv(a, w, np.empty(a.shape, np.uint64), np.empty(a.shape))

    _two_threads(job(x, wx), job(y, wy))
    return x, wx, y, wy


# ------------------------------------------------------------------ fused check + out-of-place sort
_NAN_LO = np.uint64(0xFFE0000000000000)  # (bits << 1) above this: exponent all ones, mantissa != 0


@njit(cache=True, nogil=True)
def _hist_check(k, hist):
    """Count every digit of every flipped key (read only) and flag NaN bit patterns."""
    n = k.shape[0]
    hist[:, :] = 0
    nan = False
    for i in range(n):
        raw = k[i]
        nan |= (raw << _ONE) > _NAN_LO
        key = _flip(raw)
        for d in range(PASSES):
            hist[d, (key >> np.uint64(d * RADIX_BITS)) & _MASK] += 1
    return nan


@njit(cache=True, nogil=True)
def _check_weights(w):
    """(bad, total): bad when some weight is NaN, negative or infinite; total = sum(w)."""
    bad = False
    tot = 0.0
    for i in range(w.shape[0]):
        a = w[i]
        bad |= not (a >= 0.0 and a < np.inf)
        tot += a
    return bad, tot


@njit(cache=True, inline="always")
def _live_passes(hist, n):
    live = np.zeros(PASSES, dtype=np.bool_)
    for d in range(PASSES):
        h = hist[d]
        for b in range(_NB):
            if h[b] != 0:
                live[d] = h[b] != n
                break
    return live


@njit(cache=True, nogil=True)
def _scatter(src, dst, offs, shift, mode):
    """One stable scatter pass; mode 0: copy keys, 1: flip on read, 2: unflip on write,
    3: flip on read and unflip on write (a single live pass)."""
    n = src.shape[0]
    if mode == 0:
        for i in range(n):
            key = src[i]
            q = (key >> shift) & _MASK
            dst[offs[q]] = key
            offs[q] += 1
    elif mode == 1:
        for i in range(n):
            key = _flip(src[i])
            q = (key >> shift) & _MASK
            dst[offs[q]] = key
            offs[q] += 1
    elif mode == 2:
        for i in range(n):
            key = src[i]
            q = (key >> shift) & _MASK
            dst[offs[q]] = _unflip(key)
            offs[q] += 1
    else:
        for i in range(n):
            key = src[i]
            q = (_flip(key) >> shift) & _MASK
            dst[offs[q]] = key
            offs[q] += 1


@njit(cache=True, nogil=True)
def _scatter_kv(src, dst, vsrc, vdst, offs, shift, mode):
    """As :func:`_scatter`, carrying the payload vsrc -> vdst."""
    n = src.shape[0]
    if mode == 0:
        for i in range(n):
            key = src[i]
            q = (key >> shift) & _MASK
            o = offs[q]
            dst[o] = key
            vdst[o] = vsrc[i]
            offs[q] = o + 1
    elif mode == 1:
        for i in range(n):
            key = _flip(src[i])
            q = (key >> shift) & _MASK
            o = offs[q]
            dst[o] = key
            vdst[o] = vsrc[i]
            offs[q] = o + 1
    elif mode == 2:
        for i in range(n):
            key = src[i]
            q = (key >> shift) & _MASK
            o = offs[q]
            dst[o] = _unflip(key)
            vdst[o] = vsrc[i]
            offs[q] = o + 1
    else:
        for i in range(n):
            key = src[i]
            q = (_flip(key) >> shift) & _MASK
            o = offs[q]
            dst[o] = key
            vdst[o] = vsrc[i]
            offs[q] = o + 1


@njit(cache=True, nogil=True)
def _offsets(h, offs):
    s = 0
    for q in range(_NB):
        offs[q] = s
        s += h[q]


#: the out-of-place sorts scatter only digits LOW..7 (48 bits) and finish each run of equal
#: top-48-bit keys locally (insertion sort up to ``_RUN_INSERT`` values, else a two-pass radix
#: on the low 16 bits of the run): for continuous data nearly all runs have length 1, so two
#: of the eight scatter passes become one sequential read
LOW = 2
_RUN_INSERT = 32
_S16 = np.uint64(16)


@njit(cache=True, nogil=True)
def _fix_low(a, wa, tmp, wtmp, has_w):
    """Stable sort of every run of a (raw float64 bits) whose keys agree above bit 16, by the
    low 16 bits of the flipped key, carrying wa (when has_w); tmp / wtmp: scratch (n,)."""
    n = a.shape[0]
    cnt0 = np.empty(_NB, dtype=np.int64)
    cnt1 = np.empty(_NB, dtype=np.int64)
    s = 0
    while s < n:
        top = a[s] >> _S16
        e = s + 1
        while e < n and (a[e] >> _S16) == top:
            e += 1
        if e - s > _RUN_INSERT:
            cnt0[:] = 0
            cnt1[:] = 0
            for i in range(s, e):
                key = _flip(a[i])
                cnt0[key & _MASK] += 1
                cnt1[(key >> np.uint64(RADIX_BITS)) & _MASK] += 1
            o0 = s
            o1 = s
            for q in range(_NB):
                c0 = cnt0[q]
                cnt0[q] = o0
                o0 += c0
                c1 = cnt1[q]
                cnt1[q] = o1
                o1 += c1
            for i in range(s, e):
                q = _flip(a[i]) & _MASK
                o = cnt0[q]
                tmp[o] = a[i]
                if has_w:
                    wtmp[o] = wa[i]
                cnt0[q] = o + 1
            for i in range(s, e):
                q = (_flip(tmp[i]) >> np.uint64(RADIX_BITS)) & _MASK
                o = cnt1[q]
                a[o] = tmp[i]
                if has_w:
                    wa[o] = wtmp[i]
                cnt1[q] = o + 1
        elif e - s > 1:
            for i in range(s + 1, e):
                raw = a[i]
                fk = _flip(raw)
                wv = wa[i] if has_w else 0.0
                j = i - 1
                while j >= s and _flip(a[j]) > fk:
                    a[j + 1] = a[j]
                    if has_w:
                        wa[j + 1] = wa[j]
                    j -= 1
                a[j + 1] = raw
                if has_w:
                    wa[j + 1] = wv
        s = e


@njit(cache=True, nogil=True)
def _sort_from(k, a, b):
    """Sorted copy (uint64 bit patterns) of the float64 bits k (k is only read).

    The histogram pass reads k once (and flags NaN); the first live scatter pass reads k
    directly and flips the keys on the fly, the last one unflips them: no copy of the
    input and no separate flip / unflip passes. Returns (sorted bits, has_nan); the
    sorted bits are garbage when has_nan. ``a`` (the output) and ``b`` (scratch): uint64
    arrays of k's length, allocated by the caller with numpy (numpy advises huge pages for
    large arrays, which the 256-stream scatter needs: buffers from numba's ``np.empty``
    measured 0.23 s against 0.14 s at n = 1e7).
    """
    n = k.shape[0]
    hist = np.empty((PASSES, _NB), dtype=np.int64)
    nan = _hist_check(k, hist)
    if nan or n < 2:
        if not nan:
            a[:] = k
        return a, nan
    live = _live_passes(hist, n)
    nlive = 0
    for d in range(LOW, PASSES):
        nlive += live[d]
    need_fix = False
    for d in range(LOW):
        need_fix |= live[d]
    # no payload, as a run-time bool: a literal False here and True in _sort_from_kv compiled
    # _fix_low twice (docs/performance.md, "Compile time")
    no_w = n < 0
    if nlive == 0:  # all keys agree above the low digits
        a[:] = k
        if need_fix:
            _fix_low(a, a.view(np.float64), b, b.view(np.float64), no_w)
        return a, nan
    offs = np.empty(_NB, dtype=np.int64)
    # the first write goes where the pass count makes the last one land in `a`
    src = k
    dst = a if nlive % 2 == 1 else b
    done = 0
    for d in range(LOW, PASSES):
        if not live[d]:
            continue
        _offsets(hist[d], offs)
        shift = np.uint64(d * RADIX_BITS)
        if nlive == 1:
            mode = 3
        elif done == 0:
            mode = 1
        elif done == nlive - 1:
            mode = 2
        else:
            mode = 0
        _scatter(src, dst, offs, shift, mode)
        done += 1
        nxt = b if dst is a else a
        src = dst
        dst = nxt
    if need_fix:
        _fix_low(a, a.view(np.float64), b, b.view(np.float64), no_w)
    return a, nan


@njit(cache=True, nogil=True)
def _sort_from_kv(k, w, a, wa, b, wb):
    """As :func:`_sort_from` with the payload w (read only) carried along, and the weight
    check of :func:`_check_weights` fused into the histogram pass.

    Returns (sorted bits, w in that order, has_nan, bad_weight, total weight); a, wa
    (output) and b, wb (scratch) are allocated by the caller with numpy.
    """
    n = k.shape[0]
    hist = np.empty((PASSES, _NB), dtype=np.int64)
    hist[:, :] = 0
    nan = False
    bad = False
    tot = 0.0
    for i in range(n):
        raw = k[i]
        nan |= (raw << _ONE) > _NAN_LO
        key = _flip(raw)
        for d in range(PASSES):
            hist[d, (key >> np.uint64(d * RADIX_BITS)) & _MASK] += 1
        c = w[i]
        bad |= not (c >= 0.0 and c < np.inf)
        tot += c
    if nan or bad or n < 2:
        if not (nan or bad):
            a[:] = k
            wa[:] = w
        return a, wa, nan, bad, tot
    live = _live_passes(hist, n)
    nlive = 0
    for d in range(LOW, PASSES):
        nlive += live[d]
    need_fix = False
    for d in range(LOW):
        need_fix |= live[d]
    has_w = n >= 2  # True, as a run-time bool (see _sort_from)
    if nlive == 0:
        a[:] = k
        wa[:] = w
        if need_fix:
            _fix_low(a, wa, b, wb, has_w)
        return a, wa, nan, bad, tot
    offs = np.empty(_NB, dtype=np.int64)
    odd = nlive % 2 == 1
    src = k
    vsrc = w
    dst = a if odd else b
    vdst = wa if odd else wb
    done = 0
    for d in range(LOW, PASSES):
        if not live[d]:
            continue
        _offsets(hist[d], offs)
        shift = np.uint64(d * RADIX_BITS)
        if nlive == 1:
            mode = 3
        elif done == 0:
            mode = 1
        elif done == nlive - 1:
            mode = 2
        else:
            mode = 0
        _scatter_kv(src, dst, vsrc, vdst, offs, shift, mode)
        done += 1
        a_dst = dst is a
        src = dst
        vsrc = vdst
        dst = b if a_dst else a
        vdst = wb if a_dst else wa
    if need_fix:
        _fix_low(a, wa, b, wb, has_w)
    return a, wa, nan, bad, tot


def sort_pair_from(x, wx, y, wy):
    """Sorted copies of two 1-D float64 C-contiguous arrays (with optional payloads), made
    concurrently in two threads; the inputs are only read.

    Validation is fused into the histogram pass. Returns ``(xs, wxs, ys, wys, info)`` with
    ``info = {"x": (has_nan, bad_weight, total), "y": (...)}`` (``bad_weight`` False and
    ``total`` None without a payload). When a flag is set the sorted arrays are garbage.
    """
    for a, nm in ((x, "x"), (wx, "wx"), (y, "y"), (wy, "wy")):
        if a is not None and (a.dtype != np.float64 or a.ndim != 1 or not a.flags.c_contiguous):
            raise ValueError(f"`{nm}` must be a 1-D C-contiguous float64 array (internal).")
    res = {}

    def job(key, a, w):
        def f():
            k = a.view(np.uint64)
            n = k.shape[0]
            if w is None:
                s, nan = _sort_from(k, np.empty(n, np.uint64), np.empty(n, np.uint64))
                res[key] = (s.view(np.float64), None, bool(nan), False, None)
            else:
                s, ws, nan, bad, tot = _sort_from_kv(k, w, np.empty(n, np.uint64), np.empty(n),
                                                     np.empty(n, np.uint64), np.empty(n))
                res[key] = (s.view(np.float64), ws, bool(nan), bool(bad), float(tot))
        return f

    _two_threads(job("x", x, wx), job("y", y, wy))
    xs, wxs, *ix = res["x"]
    ys, wys, *iy = res["y"]
    return xs, wxs, ys, wys, {"x": tuple(ix), "y": tuple(iy)}
