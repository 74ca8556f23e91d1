r"""Pairwise W_p matrices between many distributions, in-process or on a Dask cluster.

The (i, j) entry is what the one-pair function returns for that pair: :func:`wasserstein_1d`
for 1-D samples, :func:`wasserstein` for point clouds, :func:`emd` (``value ** (1/p)``) for
histograms on a shared support. The work is cut into blocks of pairs: the distributions are
split into chunks, and a block holds the pairs between two chunks (only i < j when ``Y`` is
None). In-process the blocks run one after the other; with ``client=`` each block is one Dask
task that receives its two chunks as scattered futures (the data travels once per worker, not
per pair) and is retried when its worker dies.

1-D samples are sorted once each; a block then evaluates the quantile integral of every pair
with the sorted-row engine of :mod:`kantorovich.ot._wasserstein_1d`, stacking pairs of equal
sizes and equal scale into one batched call where that call gives bit for bit what one call
per pair gives (see :func:`_block_1d`).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .._array_api import is_cupy, to_host
from .._autodiff import value_of
from .._dask import check_client, open_client
from .._interop import caller, kind_of, signal_exceptions, to_kernel
from .._progress import advance, open_bar
from .._validation import (
    check_choice,
    check_cost_matrix,
    check_int,
    check_memory,
    check_positive,
    check_samples,
    check_weights,
    describe,
)
from ._sorted_rows import (
    AUTO_NUMBA_MIN_SIZE,
    RADIX_MIN_N,
    check_p,
    numba_ok,
    sort_rows,
    sort_rows_numba,
    wp_sorted,
    wp_sorted_pairs,
)
from ._wasserstein_1d import _check_dist_weights, _check_values

__all__ = ["pairwise_wasserstein"]

#: target duration of one block (one Dask task): the scheduler's per-task overhead (about a
#: millisecond, measured in benchmarks/bench_pairwise.py) stays below 1% of the work
TASK_SECONDS = 0.5
#: rows with n + m below this are stacked into one batched call of the 1-D kernels: below it
#: every kernel of ``wass1d_numba`` sums a row in the same order whether the row is alone or in
#: a batch (from ``1 << 16`` a single row is summed in fixed parallel chunks instead)
BATCH_MAX_ROW = 1 << 16
#: the rows of one batched 1-D call take at most this many bytes per side (32 MiB: a parallel
#: launch of the kernels costs tens of microseconds, more on a loaded machine; few, long
#: batches amortise it)
STACK_BYTES = 1 << 25
#: the largest number of chunks per side (a (N, N) matrix is cut into at most this squared
#: over two blocks)
MAX_CHUNKS = 256

_METHODS = ("auto", "1d", "exact", "auction", "sinkhorn")


# ----------------------------------------------------------------------------- inputs
def _host(x: Any) -> Any:
    """An array of any library (torch, also one that requires grad; JAX; CuPy; array-API) as
    numpy on the host (a view where it can be); anything else unchanged."""
    if kind_of(x) in (None, "numpy"):
        return x
    x = to_kernel(value_of(x))
    return to_host(x) if is_cupy(x) else x


def _items(X: Any, name: str) -> list:
    """The distributions of ``X`` as a list (a leading array axis, or a sequence), each on the
    host as numpy where it was an array of another library."""
    if X is None or isinstance(X, (str, bytes, dict)) or np.isscalar(X) or hasattr(X, "kind"):
        what = (f"a {type(X).__name__} (one pair of distributions: use `wasserstein` for it)"
                if hasattr(X, "kind") else describe(X))
        raise TypeError(f"`{name}` must be a sequence of distributions (a list of arrays, or an "
                        f"array whose first axis indexes them); got {what}.")
    X = _host(X)
    try:
        items = list(X)
    except TypeError:
        raise TypeError(f"`{name}` must be a sequence of distributions (a list of arrays, or an "
                        f"array whose first axis indexes them); got {describe(X)}.") from None
    if not items:
        raise ValueError(f"`{name}` must hold at least one distribution; got an empty sequence.")
    return [_host(x) for x in items]


def _one_library(named: list[tuple[str, Any]]) -> None:
    """The TypeError of the other public functions when the arrays come from two libraries
    (or two devices), naming both; a sequence's elements are named ``X[i]``. An ``autograd``
    box is the TypeError of the functions without a gradient (a JAX tracer is ``caller``'s):
    the matrix is numpy, and autograd would take it for a constant, a silent zero gradient."""
    from .._autodiff import is_box

    for name, v in named:
        for k, w in (enumerate(v) if isinstance(v, (list, tuple)) else ((None, v),)):
            if is_box(w):
                where = name if k is None else f"{name}[{k}]"
                raise TypeError(
                    f"pairwise_wasserstein has no gradient: it was called with an autograd "
                    f"ArrayBox as `{where}` (its matrix is numpy, assembled from many solves). "
                    "Differentiable are sinkhorn (value, objective), sinkhorn_divergence, emd, "
                    "wasserstein, wasserstein_1d(_plan) and sliced_wasserstein (see "
                    "docs/gradients.md).")
    names, arrays = [], []
    for name, v in named:
        if v is None:
            continue
        if isinstance(v, (list, tuple)):
            for i, w in enumerate(v):
                names.append(f"{name}[{i}]")
                arrays.append(w)
        else:
            names.append(name)
            arrays.append(v)
    caller(*arrays, names=tuple(names))


def _ndim(x: Any, name: str) -> int:
    try:
        return np.ndim(x)
    except Exception:  # ragged nested lists
        raise TypeError(f"`{name}` must be an array of real numbers; got {describe(x)}.") from None


def _kind(items: list, name: str, M: Any) -> str:
    """'hist' (with ``M``), '1d' (1-D samples) or 'cloud' ((n, d) point clouds)."""
    if M is not None:
        return "hist"
    dims = [_ndim(x, f"{name}[{i}]") for i, x in enumerate(items)]
    for i, d in enumerate(dims):
        if d not in (1, 2):
            raise ValueError(
                f"`{name}[{i}]` must be a 1-D sample (n,) or a point cloud (n, d); got "
                f"{describe(np.asarray(items[i])) if d == 0 else f'an array of {d} dimensions'}"
                f". (`{name}` is a sequence of distributions: wrap a single one in a list.)")
    if len(set(dims)) > 1:
        i1, i2 = dims.index(1), dims.index(2)
        raise ValueError(f"`{name}` must hold distributions of one kind; got a 1-D sample "
                         f"(`{name}[{i1}]`) and a point cloud (`{name}[{i2}]`).")
    return "1d" if dims[0] == 1 else "cloud"


def _weights(W: Any, name: str, count: int, xname: str) -> list:
    if W is None:
        return [None] * count
    ws = _items(W, name)
    if len(ws) != count:
        raise ValueError(f"`{name}` must hold one weight vector (or None) per distribution of "
                         f"`{xname}` ({count}); got {len(ws)}.")
    return ws


def _prep_1d(items: list, ws: list, name: str, wname: str) -> list:
    """Per sample: (n, sorted values, sorted weights, radix-sorted values, radix-sorted weights,
    largest finite |value|). The radix pair is the order ``wasserstein_1d`` gets from its numba
    backend (it differs from the numpy order only among tied values of unequal weights)."""
    out = []
    for i, (x, w) in enumerate(zip(items, ws)):
        xn = f"{name}[{i}]"
        v = _check_values(x, xn)
        if v.ndim != 1:
            raise ValueError(f"`{xn}` must be a 1-D sample; got {describe(v)}.")
        wv = _check_dist_weights(w, f"{wname}[{i}]", v, xn)
        if wv is not None and wv.ndim != 1:
            raise ValueError(f"`{wname}[{i}]` must be 1-D; got {describe(wv)}.")
        rx = rw = None
        if wv is not None and v.shape[0] >= RADIX_MIN_N and numba_ok():
            rx, rw = sort_rows_numba(v[None].copy(), wv[None].copy())
            rx, rw = rx[0], rw[0]
        xs, wsort = sort_rows(v, wv, np)
        fin = np.abs(xs[np.isfinite(xs)])
        top = float(fin.max()) if fin.size else 0.0
        out.append((v.shape[0], xs, wsort, rx, rw, top))
    return out


def _prep_cloud(items: list, ws: list, name: str, wname: str) -> list:
    out = []
    for i, (x, w) in enumerate(zip(items, ws)):
        xa = check_samples(x, f"{name}[{i}]")
        wa = None if w is None else check_weights(w, f"{wname}[{i}]", n=xa.shape[0])
        out.append((xa, wa))
    return out


def _check_assignments(clouds: list) -> None:
    """``method="auction"`` solves every pair as an assignment, which needs clouds of one size
    with uniform weights (``wasserstein``'s rule): said before any pair is solved, naming the
    first cloud or weight vector that breaks it (in a pair's solve, after all the pairs
    before it, the message named no distribution). ``clouds``: (name, (points, weights))
    in the order of ``X`` then ``Y``."""
    from ._wasserstein import _uniform

    index = {"X": 0, "Y": 0}
    n0, first = None, None
    for name, (x, w) in clouds:
        i, index[name] = index[name], index[name] + 1
        if n0 is None:
            n0, first = x.shape[0], f"{name}[{i}]"
        elif x.shape[0] != n0:
            raise ValueError(f"`method` 'auction' solves every pair as an assignment, which needs "
                             f"point clouds of one size; got `{first}` of {n0} points and "
                             f"`{name}[{i}]` of {x.shape[0]}. Use method='exact' or 'sinkhorn'.")
        if w is not None and not _uniform(check_weights(w, f"{name}_weights[{i}]",
                                                        n=x.shape[0], normalize=True)):
            raise ValueError(f"`method` 'auction' solves every pair as an assignment, which needs "
                             f"uniform weights; got `{name}_weights[{i}]` that are not. Use "
                             "method='exact' or 'sinkhorn'.")


def _prep_hist(items: list, name: str, n: int) -> list:
    return [check_weights(x, f"{name}[{i}]", n=n) for i, x in enumerate(items)]


# ----------------------------------------------------------------------------- blocks
def _solve_block(kind: str, opts: dict, left: list, right: list, pairs: np.ndarray,
                 origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """W_p for the pairs (left[i], right[j]) listed in ``pairs`` (K, 2): the work of one task.
    ``origin``: the indices in ``X`` and ``Y`` of ``left[0]`` and ``right[0]``, for the
    message of an error that one pair's solver raises (which names that pair)."""
    if kind == "1d":
        return _block_1d(left, right, pairs, opts["p"])
    if kind == "cloud":
        return _block_cloud(left, right, pairs, opts, origin)
    return _block_hist(left, right, pairs, opts, origin)


def _in_pair(opts: dict, i: int, j: int, solve, *args, **kwargs):
    """``solve(*args, **kwargs)`` for the pair (``X[i]``, ``Y[j]``): its ValueError, TypeError,
    FloatingPointError or EMDCertificateError is raised again naming that pair (on Dask too:
    the message travels with the exception), as a batch's errors name the problem."""
    from ..exceptions import EMDCertificateError

    try:
        return solve(*args, **kwargs)
    except (ValueError, TypeError, FloatingPointError, EMDCertificateError) as err:
        if type(err) not in (ValueError, TypeError, FloatingPointError, EMDCertificateError):
            raise
        x, y = opts["names"]
        raise type(err)(f"in the pair (`{x}[{i}]`, `{y}[{j}]`): {err}") from err


def _scale_exponents(top: np.ndarray, p: float) -> np.ndarray:
    """e with 2**e the power of two ``_sorted_rows.pow2_above_max_abs`` picks for pairs whose
    largest finite |value| is ``top`` (0, i.e. no scale, for p = 1 and for top = 0)."""
    if p == 1.0:
        return np.zeros(top.shape, dtype=np.int64)
    from ._kernels.wass1d_numpy import pow2_exponents

    return pow2_exponents(top)


def _block_1d(left: list, right: list, pairs: np.ndarray, p: float) -> np.ndarray:
    """1-D pairs by the quantile integral on the pre-sorted rows (``wp_sorted``).

    ``wasserstein_1d`` on one pair runs ``wp_sorted`` on a batch of one row with the backend
    its size selects. Pairs that share the sizes (n, m), which sides are weighted, the backend
    and the power-of-two scale are batched into one call: each kernel reduces a row the same
    way alone or in a batch while n + m < ``BATCH_MAX_ROW``, so the values are bit-identical to
    the one-pair calls. Larger rows run one pair per call. With the numba backend the group's
    rows are stacked once per sample and the kernel reads each pair's two rows by index
    (:func:`wp_sorted_pairs`; no copy per pair). The numpy backend (short rows) gets the pairs'
    rows as arrays: unweighted pairs as one left row broadcast against a contiguous slice of the
    right chunk's stacked rows, weighted ones copied.
    """
    out = np.empty(len(pairs))
    if not len(pairs):
        return out
    pi, pj = pairs[:, 0], pairs[:, 1]

    def col(side, k):
        return np.array([t[k] for t in side])

    n, m = col(left, 0)[pi], col(right, 0)[pj]
    wl = np.array([t[2] is not None for t in left])[pi]
    wr = np.array([t[2] is not None for t in right])[pj]
    numba = (n + m >= AUTO_NUMBA_MIN_SIZE) & numba_ok()
    ex = _scale_exponents(np.maximum(col(left, 5)[pi], col(right, 5)[pj]), p)
    keys = np.stack([n, m, wl, wr, numba, ex], axis=1).astype(np.int64)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    for g, (gn, gm, gwl, gwr, gnb, gex) in enumerate(uniq):
        ks = np.flatnonzero(inv == g)  # in the block's order: i-major
        backend = "numba" if gnb else "numpy"
        step = 1 if gn + gm >= BATCH_MAX_ROW else max(1, STACK_BYTES // (8 * (gn + gm)))
        if gnb and step > 1:
            _pairs_indexed(left, right, pairs[ks], p, math.ldexp(1.0, int(gex)), out, ks)
        elif gwl or gwr or step == 1:
            _batches_stacked(left, right, pairs, ks, step, p, backend, bool(gnb), out)
        else:
            _batches_broadcast(left, right, pairs, ks, step, p, backend, out)
    return out


def _pairs_indexed(left, right, pairs, p, scale, out, ks):
    """Pairs of one group on the numba backend: each sample's sorted row (the radix order when it
    has one, as ``wasserstein_1d``'s numba backend sorts) stacked once, the pairs read by index."""
    def stack(side, idx):
        u, pos = np.unique(idx, return_inverse=True)
        return (*_stacked_rows(side, u, True), pos.reshape(-1))

    X, WX, ix = stack(left, pairs[:, 0])
    Y, WY, iy = stack(right, pairs[:, 1])
    out[ks] = wp_sorted_pairs(X, WX, Y, WY, ix, iy, p, scale)


def _stacked_rows(side: list, idx, radix: bool):
    """(values (len(idx), n), weights or None): the sorted rows of samples ``idx`` of ``side``
    stacked, in the radix sort's order where ``radix`` and the sample has one (as
    ``wasserstein_1d``'s numba backend sorts it)."""
    vals = [side[t][3] if radix and side[t][3] is not None else side[t][1] for t in idx]
    if side[idx[0]][2] is None:
        return np.stack(vals), None
    wts = [side[t][4] if radix and side[t][4] is not None else side[t][2] for t in idx]
    return np.stack(vals), np.stack(wts)


def _batches_stacked(left, right, pairs, ks, step, p, backend, radix, out):
    """Both rows of each pair copied into (B, n) and (B, m) stacks (weighted pairs)."""
    for s in range(0, len(ks), step):
        kk = ks[s:s + step]
        xs, wu = _stacked_rows(left, pairs[kk, 0], radix)
        ys, wv = _stacked_rows(right, pairs[kk, 1], radix)
        out[kk] = wp_sorted(xs, wu, ys, wv, p, backend)


def _batches_broadcast(left, right, pairs, ks, step, p, backend, out):
    """Unweighted pairs: the group's right rows stacked once; each left row i against the run
    of consecutive right rows it meets, as a broadcast and a view."""
    js = np.unique(pairs[ks, 1])
    R = np.stack([right[j][1] for j in js])
    pos = np.searchsorted(js, pairs[ks, 1])
    i = pairs[ks, 0]
    # a new run where the left row changes or the right rows stop being consecutive
    cut = np.flatnonzero((np.diff(i) != 0) | (np.diff(pos) != 1)) + 1
    if 8 * (len(cut) + 1) > len(ks):
        # runs of a few pairs (a tall block: many left rows against one or two right ones):
        # one call per run would be one call per pair, so the pairs' rows are copied into
        # stacks instead (the same kernel on the same rows: the same values)
        _batches_stacked(left, right, pairs, ks, step, p, backend, False, out)
        return
    for run in np.split(np.arange(len(ks)), cut):
        for s in range(0, len(run), step):
            r = run[s:s + step]
            x = left[i[r[0]]][1]
            xs = np.broadcast_to(x, (len(r), x.shape[0]))
            out[ks[r]] = wp_sorted(xs, None, R[pos[r[0]]:pos[r[-1]] + 1], None, p, backend)


def _block_cloud(left: list, right: list, pairs: np.ndarray, opts: dict,
                 origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Point clouds: :func:`wasserstein` (the exact LP by default) pair by pair."""
    from ._wasserstein import wasserstein

    out = np.empty(len(pairs))
    for k, (i, j) in enumerate(pairs):
        (x, a), (y, b) = left[i], right[j]
        out[k] = _in_pair(opts, origin[0] + int(i), origin[1] + int(j), wasserstein, x, y, a,
                          b, p=opts["p"], method=opts["method"], eps=opts["eps"])
    return out


def _block_hist(left: list, right: list, pairs: np.ndarray, opts: dict,
                origin: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Histograms on a shared support: the exact LP as one :func:`emd` batch of the pairs'
    weights on ``M`` (the loop's values), or one :func:`sinkhorn` per pair."""
    p, M = opts["p"], opts["M"]
    out = np.empty(len(pairs))
    if opts["method"] == "sinkhorn":
        from ._sinkhorn import sinkhorn

        for k, (i, j) in enumerate(pairs):
            a, b = left[i] / left[i].sum(), right[j] / right[j].sum()
            r = _in_pair(opts, origin[0] + int(i), origin[1] + int(j), sinkhorn, a, b, M,
                         eps=opts["eps"])
            out[k] = max(float(r.value), 0.0) ** (1.0 / p)
        return out
    from ._emd import emd

    # the batch of weights on the one cost matrix (docs/batch.md): each problem's plan and
    # value are those of emd on that pair; without return_plan the batch holds its plans a
    # chunk of 2**22 entries at a time
    v = emd(np.stack([left[i] for i in pairs[:, 0]]), np.stack([right[j] for j in pairs[:, 1]]),
            np.broadcast_to(M, (len(pairs),) + M.shape), normalize=True, return_plan=False).value
    for k, vk in enumerate(v):  # Python's pow, as for one pair (numpy's may round apart)
        out[k] = max(float(vk), 0.0) ** (1.0 / p)
    return out


def _run_task(kind, opts, left, right, pairs, origin=(0, 0)):
    """The Dask task: a block's values (``right`` None: the diagonal block, right = left);
    ``origin`` as in :func:`_solve_block`."""
    return _solve_block(kind, opts, left, left if right is None else right, pairs, origin)


def _bounds(count: int, chunks: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, count, chunks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


class _Blocks:
    """The blocks between the row and column chunks as a sequence of (row chunk, column chunk,
    pairs (P, 2) in chunk-local indices), each block's pairs made when it is asked for: held
    all at once they were 16 bytes per pair, as much again as the (N, N) result (8N^2 bytes)."""

    def __init__(self, rows, cols, sym: bool):
        self.rows, self.cols, self.sym = rows, cols, sym
        # a block on the diagonal of a symmetric matrix has pairs only for a chunk of >= 2
        self.keys = [(r, c) for r, (r0, r1) in enumerate(rows) for c in range(len(cols))
                     if not sym or c > r or (c == r and r1 - r0 >= 2)]

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, b: int):
        r, c = self.keys[b]
        (r0, r1), (c0, c1) = self.rows[r], self.cols[c]
        ii, jj = np.meshgrid(np.arange(r1 - r0), np.arange(c1 - c0), indexing="ij")
        if self.sym:
            keep = ii + r0 < jj + c0
            ii, jj = ii[keep], jj[keep]
        return r, c, np.stack([ii.ravel(), jj.ravel()], axis=1)

    def __iter__(self):
        return (self[b] for b in range(len(self)))


def _blocks(N: int, K: int, sym: bool, size: int):
    """Chunks of rows and columns and the blocks between them (:class:`_Blocks`: row chunk,
    column chunk, pairs (P, 2) in chunk-local indices)."""
    rows = _bounds(N, max(1, math.ceil(N / size)))
    cols = rows if sym else _bounds(K, max(1, math.ceil(K / size)))
    return rows, cols, _Blocks(rows, cols, sym)


def _block_size(N: int, K: int, sym: bool, per_pair: float, workers: int) -> int:
    """Distributions per chunk so that a block takes about ``TASK_SECONDS`` (at least 4 blocks
    per worker thread when there is that much work, at most ``MAX_CHUNKS`` chunks a side)."""
    n_pairs = N * (N - 1) // 2 if sym else N * K
    total = per_pair * n_pairs
    n_blocks = max(1.0, total / TASK_SECONDS)
    if workers > 1:
        n_blocks = max(n_blocks, min(4.0 * workers, n_pairs / 4.0))
    if sym:  # about chunks^2 / 2 blocks of size^2 pairs, chunks = N / size
        size = N / math.sqrt(2.0 * n_blocks)
    else:  # (N / size) * (K / size) blocks
        size = math.sqrt(N * K / n_blocks)
        if size > min(N, K):
            # the shorter side is one chunk: the blocks are the chunks of the longer one (the
            # size had been capped at N, so that X of 1 against Y of 20 000 made 20 000 blocks
            # of one pair each)
            size = max(N, K) / n_blocks
    size = max(math.ceil(size), math.ceil(max(N, K) / MAX_CHUNKS))
    return max(1, min(size, max(N, K)))


# ----------------------------------------------------------------------------- clients
def _threads(client) -> int:
    """Worker threads on the cluster now (1 when the scheduler does not say)."""
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - only sizes the blocks
        return 1


def _lost(exc: BaseException) -> bool:
    """A task that never ran to an answer because the cluster lost it or its data."""
    from concurrent.futures import CancelledError

    names = {"FutureCancelledError", "CancelledError", "KilledWorker", "FuturesCancelledError"}
    return isinstance(exc, CancelledError) or type(exc).__name__ in names


def _run_dask(client, kind, opts, row_data, col_data, blocks, sym, retries, bar):
    """Blocks as Dask tasks on ``client``; yields (block, values). A block whose task or data
    the cluster lost (a worker died and Dask's own retries ran out, or a scattered chunk died
    with its worker) is scattered and submitted again, ``retries`` rounds at most."""
    from distributed import as_completed

    scattered: dict[tuple, Any] = {}

    def scatter(data):
        # the worker a scatter picks may die during it (CommClosedError, an OSError): the
        # scheduler drops it, and the next attempt goes to a live one
        for attempt in range(retries + 1):
            try:
                return client.scatter([data], hash=False)[0]
            except OSError as exc:
                err = exc
                time.sleep(0.1 * (attempt + 1))
        raise RuntimeError(f"pairwise_wasserstein: scattering a chunk failed {retries + 1} times "
                           f"(last error: {err!r}); raise `retries` or check the workers.")

    def chunk(side, c):
        f = scattered.get((side, c))
        if f is None or f.status != "finished":
            data = row_data[c] if side == "r" else col_data[c]
            f = scattered[(side, c)] = scatter(data)
        return f

    def submit(b):
        r, c, pairs = blocks[b]
        left = chunk("r", r)
        right = None if sym and r == c else chunk("r" if sym else "c", c)
        origin = (blocks.rows[r][0], blocks.cols[c][0])
        return client.submit(_run_task, kind, opts, left, right, pairs, origin, retries=retries,
                             pure=False)

    todo = list(range(len(blocks)))
    last: BaseException | None = None
    for _ in range(retries + 1):
        futs = {submit(b): b for b in todo}
        todo = []
        try:
            for f in as_completed(list(futs)):
                b = futs[f]
                try:
                    vals = f.result()
                except Exception as exc:  # noqa: BLE001 - a lost block is resubmitted, others raise
                    if not _lost(exc):
                        raise
                    last = exc
                    todo.append(b)
                    continue
                advance(bar, len(blocks[b][2]))
                yield b, vals
        except BaseException:
            # nothing left running for a failed or interrupted call (Ctrl-C, or the caller's
            # loop left early): the queued blocks would otherwise keep the cluster busy
            client.cancel(list(futs))
            raise
        if not todo:
            return
    raise RuntimeError(
        f"pairwise_wasserstein: {len(todo)} block(s) were lost by the Dask cluster in each of "
        f"{retries + 1} rounds (last error: {last!r}); raise `retries` or check the workers.")


# ----------------------------------------------------------------------------- public
@signal_exceptions
def pairwise_wasserstein(X, Y=None, *, p=1, method="auto", client=None, X_weights=None,
                         Y_weights=None, M=None, eps=None, block_size=None, retries=3,
                         progress=True):
    r"""Matrix of Wasserstein distances W_p between every pair of distributions.

    .. math:: D_{ij} = W_p(\mu_i, \nu_j), \qquad \mu_i \in X,\ \nu_j \in Y \ (\text{or } X),

    where each entry is exactly what the one-pair function returns:
    :func:`~kantorovich.ot.wasserstein_1d` for 1-D samples, :func:`~kantorovich.ot.wasserstein`
    for point clouds, ``emd(a, b, M, normalize=True).value ** (1/p)`` for histograms on a shared
    support. W_p itself, not its p-th power.

    Parameters
    ----------
    X : sequence of N distributions
        A list (or an array whose first axis indexes them) of one of three kinds:

        * 1-D samples, arrays (n_i,) of any lengths (``+-inf`` allowed as in
          ``wasserstein_1d``);
        * point clouds, arrays (n_i, d) with a common d;
        * histograms on a shared support, vectors (n,) of masses, with ``M``.
    Y : sequence of K distributions of the same kind, optional
        None: the (N, N) matrix of ``X`` against itself, symmetric with a zero diagonal, from
        N (N - 1) / 2 solves (the upper triangle, mirrored).
    p : float, default 1
        Order, p >= 1. With ``M``, the entries of ``M`` are taken as the costs d^p and the
        entry is the optimal cost to the power 1/p.
    method : {"auto", "1d", "exact", "auction", "sinkhorn"}
        1-D samples: the exact quantile formula ("auto", "1d" or "exact"). Point clouds:
        passed on to ``wasserstein`` ("auto": the exact LP up to its size threshold).
        Histograms: "auto"/"exact" the exact LP ``emd``, "sinkhorn" entropic (an upper
        bound, biased by ``eps``).
    client : dask.distributed.Client, str or None
        Run the blocks on this Dask cluster: a Client (left open), a scheduler address
        ``[scheme://]host:port`` such as ``"tcp://10.0.0.1:8786"`` (connected to for the call
        and closed after), or ``"local[:N]"``, a cluster of N worker processes on this machine
        (one per core when N is left out) started for the call and closed after, as
        ``kantorovich report --scheduler`` takes them. The result is identical to the
        in-process one. None: in this process.
    X_weights, Y_weights : sequence of weight vectors (or None entries), optional
        Non-negative weights of the 1-D samples or point clouds (normalised per
        distribution); None means uniform. Not used with ``M``.
    M : array_like (n, m), optional
        Ground costs between the support of the histograms of ``X`` (n) and ``Y`` (m),
        non-negative; symmetric with a zero diagonal when ``Y`` is None.
    eps : float, optional
        Sinkhorn regularisation for ``method="sinkhorn"`` (point clouds: ``wasserstein``'s
        default; histograms: ``5e-3 * max(M)``); also passed to ``wasserstein`` for point
        clouds with ``method="auto"``. Given where only an exact solver runs (1-D samples,
        ``"exact"``, ``"auction"``, histograms with ``"auto"``): a ValueError.
    block_size : int, optional
        Distributions per chunk (a block holds the pairs between two chunks). None: sized from
        the timing of a few pairs so that a block takes about ``TASK_SECONDS`` (0.5 s), with
        at least 4 blocks per worker thread when there is that much work.
    retries : int, default 3
        Dask: how many times a task whose worker died (or that raised) is rerun, and how many
        rounds of resubmission follow for blocks the cluster lost with their data.
    progress : bool, default True
        A progress bar over the pairs (tqdm, on stderr; shown only on a terminal).

    Returns
    -------
    numpy.ndarray, shape (N, N) or (N, K)
        float64 (numpy whatever the input arrays were: torch, also tensors that require grad
        (no gradient flows: the matrix is data), JAX, CuPy or array-API arrays are read as
        numpy on the host).

    Raises
    ------
    ValueError
        An (N, K) float64 result larger than this machine's memory (naming ``X``, and ``Y``),
        before any work. ``client`` a malformed address (no port, an unknown scheme), ``local:0``
        or a closed Client. Mixed kinds (1-D samples and point clouds), clouds of different dimensions,
        ``eps`` where no Sinkhorn runs, a bad distribution or weight vector (the message names it, e.g.
        ```X[3]```), ``p < 1``, a method the kind has not, ``method="auction"`` with clouds of
        several sizes or non-uniform weights (every pair must be an assignment), ``M`` of the
        wrong shape, with a negative entry, or not symmetric with ``Y`` None. An error that
        only one pair's solver finds (ValueError, TypeError, FloatingPointError,
        EMDCertificateError) is raised as the solver raised it, the pair named in front:
        ``"in the pair (`X[0]`, `X[3]`): ..."``.
    TypeError
        ``X`` not a sequence, arrays of two libraries or devices (the message names both, e.g.
        ```X[0]``` and ```X[1]```), ``client`` neither a Client nor a string.
    BackendUnavailableError
        ``client`` given without ``dask.distributed`` installed (``pip install
        "kantorovich[distributed]"``).
    OSError
        No Dask scheduler answered at the ``client`` address within 20 s; at once for an
        ``inproc://`` address that is not of this process or not of Dask's form.
    RuntimeError
        Blocks still lost by the cluster after ``retries`` rounds (never a silent gap).

    Notes
    -----
    1-D samples are sorted once each (O(N n log n)); a pair then costs O(n + m) (the
    quantile integral on the sorted rows, many pairs per batched numba call). Point clouds
    cost one exact LP per pair (about O(n^3)); histograms one ``emd`` on ``M`` per pair.

    With a client, each chunk of distributions is scattered once and a block is one task;
    the tasks are submitted with ``retries`` so that Dask reruns those of a killed worker,
    and blocks whose scattered data died with a worker are scattered and submitted again.
    Every entry is checked to be filled before the matrix is returned.
    See docs/pairwise.md for measured timings and the scaling to larger clusters.

    Examples
    --------
    >>> from kantorovich.ot import pairwise_wasserstein
    >>> pairwise_wasserstein([[0.0, 1.0], [2.0, 3.0], [0.0, 3.0]], progress=False)
    array([[0., 2., 1.],
           [2., 0., 1.],
           [1., 1., 0.]])
    """
    p = check_p(p)
    check_choice(method, "method", _METHODS)
    retries = check_int(retries, "retries", minimum=0)
    if block_size is not None:
        block_size = check_int(block_size, "block_size", minimum=1)
    if eps is not None:
        eps = check_positive(eps, "eps")
    if not isinstance(progress, (bool, np.bool_)):
        raise TypeError(f"`progress` must be True or False; got {describe(progress)}.")
    if client is not None:  # before any work: dask.distributed installed, a well-formed address
        check_client(client, "client")
    _one_library([("X", X), ("Y", Y), ("X_weights", X_weights), ("Y_weights", Y_weights),
                  ("M", M)])
    xi = _items(X, "X")
    sym = Y is None
    if sym and Y_weights is not None:
        raise ValueError("`Y_weights` needs `Y`; with `Y` None pass the weights as `X_weights`.")
    yi = xi if sym else _items(Y, "Y")
    # the (N, K) float64 matrix, before any distribution is prepared or any pair solved
    check_memory(8 * len(xi) * len(yi), *(("X",) if sym else ("X", "Y")))
    kind = _kind(xi, "X", M)
    if not sym and _kind(yi, "Y", M) != kind:
        raise ValueError(f"`X` and `Y` must hold distributions of one kind; got {kind} "
                         f"distributions in `X` and {_kind(yi, 'Y', M)} ones in `Y`.")
    if eps is not None and (kind == "1d" or method in ("1d", "exact", "auction")
                            or (kind == "hist" and method == "auto")):
        raise ValueError(f"`eps` is the regularisation of method='sinkhorn' and would not be "
                         f"used here (method={method!r}, {kind} distributions: an exact "
                         "solver); drop it, or pass method='sinkhorn'.")
    # names: how an error inside one pair's solve names the pair
    opts: dict[str, Any] = {"p": p, "method": method, "eps": eps,
                            "names": ("X", "X") if sym else ("X", "Y")}
    if kind == "1d":
        if method not in ("auto", "1d", "exact"):
            raise ValueError(f"`method` {method!r} is not available for 1-D samples: the quantile "
                             "formula ('auto') is exact and faster.")
        xd = _prep_1d(xi, _weights(X_weights, "X_weights", len(xi), "X"), "X", "X_weights")
        yd = xd if sym else _prep_1d(
            yi, _weights(Y_weights, "Y_weights", len(yi), "Y"), "Y", "Y_weights")
    elif kind == "cloud":
        xd = _prep_cloud(xi, _weights(X_weights, "X_weights", len(xi), "X"), "X", "X_weights")
        yd = xd if sym else _prep_cloud(
            yi, _weights(Y_weights, "Y_weights", len(yi), "Y"), "Y", "Y_weights")
        dims = {c[0].shape[1] for c in xd} | {c[0].shape[1] for c in yd}
        if len(dims) > 1:
            raise ValueError(f"the point clouds of {'`X`' if sym else '`X` and `Y`'} must have "
                             f"one dimension d; got d in {sorted(dims)}.")
        if method == "1d" and dims != {1}:
            raise ValueError(f"`method` '1d' needs clouds of dimension d = 1; got d = {dims.pop()}.")
        if method == "auction":
            _check_assignments([("X", c) for c in xd] + ([] if sym else [("Y", c) for c in yd]))
    else:
        if X_weights is not None or Y_weights is not None:
            raise ValueError("`X_weights` and `Y_weights` are not used with `M`: the histograms "
                             "are the weights.")
        if method not in ("auto", "exact", "sinkhorn"):
            raise ValueError(f"`method` {method!r} is not available for histograms with `M`; "
                             "use 'exact' (or 'auto') or 'sinkhorn'.")
        Ma = check_cost_matrix(_host(M), "M")
        if Ma.size and float(Ma.min()) < 0:  # the entries would be clipped to 0: refused instead
            raise ValueError("`M` must be non-negative: its entries are the costs d^p between the "
                             f"support points; got a minimum of {float(Ma.min())!r}.")
        n, m = Ma.shape
        xd = _prep_hist(xi, "X", n)
        yd = xd if sym else _prep_hist(yi, "Y", m)
        if sym and (n != m or not np.array_equal(Ma, Ma.T) or bool(np.any(np.diag(Ma) != 0))):
            raise ValueError("`M` must be square and symmetric with a zero diagonal when `Y` is "
                             f"None (got {describe(Ma)}); pass `Y=X` for any other cost.")
        opts["M"] = Ma
        if method == "sinkhorn" and eps is None:
            top = float(np.abs(Ma).max())
            opts["eps"] = 5e-3 * top if top > 0 else 1.0
    return _assemble(kind, opts, xd, yd, sym, client, block_size, retries, progress)


def _assemble(kind, opts, xd, yd, sym, client, block_size, retries, progress):
    N, K = len(xd), len(yd)
    out = np.full((N, K), np.nan)
    n_pairs = N * (N - 1) // 2 if sym else N * K
    if sym:
        np.fill_diagonal(out, 0.0)
    if n_pairs == 0:
        return out
    cl, close = (None, None) if client is None else open_client(client, "client")
    try:
        if block_size is None:
            # pairs of the first row, timed after one warm-up pair (numba loads its cache); 1-D
            # pairs are batched, so more of them
            probe = np.array([[0, j] for j in range(1 if sym else 0, min(K, 65 if kind == "1d" else 5))])
            _solve_block(kind, opts, xd, yd, probe[:1])
            t0 = time.perf_counter()
            _solve_block(kind, opts, xd, yd, probe)
            per_pair = (time.perf_counter() - t0) / len(probe)
            block_size = _block_size(N, K, sym, per_pair, _threads(cl) if cl is not None else 1)
        rows, cols, blocks = _blocks(N, K, sym, block_size)
        with open_bar(progress, total=n_pairs, desc="pairwise_wasserstein", unit="pair",
                      terminal_only=True) as bar:
            if cl is None:
                done = ((b, _solve_block(kind, opts, xd[slice(*rows[r])],
                                         yd[slice(*cols[c])], pairs, (rows[r][0], cols[c][0])))
                        for b, (r, c, pairs) in enumerate(blocks))
            else:
                row_data = [xd[a:b] for a, b in rows]
                col_data = row_data if sym else [yd[a:b] for a, b in cols]
                done = _run_dask(cl, kind, opts, row_data, col_data, blocks, sym, retries, bar)
            try:
                for b, vals in done:
                    r, c, pairs = blocks[b]
                    out[rows[r][0] + pairs[:, 0], cols[c][0] + pairs[:, 1]] = vals
                    if cl is None:
                        advance(bar, len(pairs))
            finally:
                done.close()  # Dask: its blocks still queued are cancelled (a Ctrl-C here)
    finally:
        if close is not None:
            close()
    if sym:  # the lower triangle from the upper, by blocks of rows: no N x N temporaries
        step = max(1, min(1024, 2**22 // N, N // 16))  # temporaries of <= 32 MB and N^2 / 16
        for i0 in range(0, N, step):
            i1 = min(N, i0 + step)
            out[i0:i1, :i0] = out[:i0, i0:i1].T
            blk = out[i0:i1, i0:i1]
            low = np.tril_indices(i1 - i0, -1)
            blk[low] = blk.T[low]
    rows_at_once = max(1, 2**22 // max(K, 1))
    missing = sum(np.count_nonzero(np.isnan(out[i0:i0 + rows_at_once]))
                  for i0 in range(0, N, rows_at_once))
    if missing:  # every block is accounted for above; this would be a bug, never a silent gap
        raise RuntimeError(f"pairwise_wasserstein: {missing} entries were not computed.")
    return out


pairwise_wasserstein.__kantorovich_interop__ = True  # sequences in, numpy out (see Returns)
