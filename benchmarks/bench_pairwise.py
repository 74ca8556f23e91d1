"""pairwise_wasserstein: in-process against a 2-worker Dask LocalCluster, and what a larger
cluster would give.

Cases (float64, fixed seed): N 1-D samples of n points (default N = 1000, n = 1e4) and N 2-D
point clouds of n points (default N = 200, n = 500, the exact LP per pair); ``--quick``:
N = 200 and N = 30. For each case:

* ``serial``: ``pairwise_wasserstein(X)`` in this process, numba limited to one thread (the
  cost of one core; wall and CPU time, the CPU time being the better measure on a loaded
  machine), and ``serial_all_threads`` (numba's default thread count) for 1-D;
* ``dask``: the same call with ``client=`` a ``LocalCluster`` of 2 worker processes of one
  thread each (``NUMBA_NUM_THREADS=1`` in the workers), started and warmed (imports) before
  the timing; the matrix is checked identical to the serial one;
* the blocks the call cut the work into, and the per-pair cost (serial time / pairs).

Overheads, on the same cluster: the scheduler's cost per task (``TASKS`` no-op tasks submitted
at once: wall time / TASKS) and the time to scatter each case's data.

Extrapolation to W workers (one core each), from the serial CPU time: T(W) = max(T_cpu / W +
(blocks / W) * per-task cost, blocks * per-task cost) + scatter, and the scheduler caps the useful W near (block seconds) / (per-task cost): beyond
that it hands out tasks more slowly than the workers finish them.

    python benchmarks/bench_pairwise.py [--quick] [--n1d N] [--nclouds N] [--out DIR]
"""

from __future__ import annotations

import math
import os
import time

import numpy as np
from _common import measure, one_thread, parser, timed_once, write

TASKS = 500


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _count_blocks(P):
    """Wrap the module's block tiling to record how many blocks the last call made."""
    seen: dict = {}
    orig = P._blocks

    def blocks(N, K, sym, size):
        rows, cols, out = orig(N, K, sym, size)
        seen.update(block_size=size, blocks=len(out))
        return rows, cols, out
    P._blocks = blocks
    return seen


def _case(name, X, client, P, seen) -> dict:
    from kantorovich.ot import pairwise_wasserstein

    N = len(X)
    pairs = N * (N - 1) // 2
    pairwise_wasserstein(X[:3], progress=False)  # numba cache, imports
    row: dict = {"N": N, "n": int(np.shape(X[0])[0]), "pairs": pairs, "load_before": _load()}
    c0 = time.process_time()
    serial, t1 = timed_once(one_thread(lambda: pairwise_wasserstein(X, progress=False)))
    cpu = time.process_time() - c0  # one thread: the compute, whatever the machine's load
    row.update(serial_s=round(t1, 3), serial_cpu_s=round(cpu, 3),
               per_pair_us=round(1e6 * t1 / pairs, 2), per_pair_cpu_us=round(1e6 * cpu / pairs, 2),
               serial_blocks=seen.get("blocks"), serial_block_size=seen.get("block_size"))
    if name == "1d":
        _, ta = timed_once(lambda: pairwise_wasserstein(X, progress=False))
        row["serial_all_threads_s"] = round(ta, 3)
    D, t2 = timed_once(lambda: pairwise_wasserstein(X, client=client, progress=False))
    row.update(dask_2_workers_s=round(t2, 3), dask_blocks=seen.get("blocks"),
               dask_block_size=seen.get("block_size"), identical=bool(np.array_equal(D, serial)),
               speedup=round(t1 / t2, 2), load_after=_load())

    def scatter():
        fut = client.scatter([X], hash=False)[0]
        fut.result()
        return fut

    fut, t_scatter = timed_once(scatter)
    row["scatter_all_s"] = round(t_scatter, 3)
    del fut
    return row


def _task_overhead(client) -> float:
    def batch():  # TASKS no-op tasks at once
        client.gather([client.submit(int, i, pure=False) for i in range(TASKS)])
    return measure(batch, repeat=1, warmup=1)["median_s"] / TASKS


#: a quiet Dask scheduler's cost per task (Dask's documentation: about 1 ms)
QUIET_TASK_S = 1e-3


def _extrapolate(row: dict, per_task_s: float) -> dict:
    """T(W) for W one-core workers from the serial CPU time C: blocks re-cut to
    ``TASK_SECONDS`` each but at least 4 per worker, T = max(C / W + (blocks / W) o, blocks o)
    + scatter (the scheduler hands out the tasks one at a time), with o the per-task cost
    measured here and a quiet scheduler's; the scheduler caps the useful W near
    (seconds per block) / o."""
    from kantorovich.ot._pairwise import TASK_SECONDS

    C = row["serial_cpu_s"]
    out: dict = {"serial_cpu_s": C}
    for label, o in (("measured_overhead", per_task_s), ("quiet_scheduler_1ms", QUIET_TASK_S)):
        est = {"per_task_s": round(o, 4)}
        for W in (2, 8, 32, 128, 512):
            blocks = max(math.ceil(C / TASK_SECONDS), 4 * W)
            # the scheduler hands out one task at a time: blocks * o is a floor
            T = max(C / W + (blocks / W) * o, blocks * o) + row["scatter_all_s"]
            est[f"T_{W}_workers_s"] = round(T, 3)
        est["scheduler_cap_workers"] = int(min(TASK_SECONDS, C / 4) / o)
        out[label] = est
    return out


def main() -> None:
    ap = parser(__doc__.splitlines()[0])
    ap.add_argument("--n1d", type=int, default=None, help="number of 1-D samples")
    ap.add_argument("--nclouds", type=int, default=None, help="number of 2-D clouds")
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    import kantorovich.ot._pairwise as P

    seen = _count_blocks(P)
    rng = np.random.default_rng(0)
    n1d = args.n1d or (200 if args.quick else 1000)
    ncl = args.nclouds or (30 if args.quick else 200)
    X1 = rng.normal(size=(n1d, 10_000)) * rng.uniform(0.5, 2.0, size=(n1d, 1))
    X2 = [rng.normal(size=(500, 2)) * rng.uniform(0.5, 2.0) + rng.normal(size=2) for _ in range(ncl)]
    results: dict = {"workers": 2, "threads_per_worker": 1}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=40, env={"NUMBA_NUM_THREADS": "1"}) as cluster, \
            Client(cluster) as client:
        client.wait_for_workers(2)
        client.run(lambda: __import__("kantorovich.ot._wasserstein") and __import__("ot"))
        per_task = _task_overhead(client)
        results["per_task_overhead_ms"] = round(1e3 * per_task, 3)
        for name, X in (("1d", X1), ("clouds_2d", X2)):
            row = _case(name, X, client, P, seen)
            row["extrapolation"] = _extrapolate(row, per_task)
            results[name] = row
            print(name, row, flush=True)
    write("pairwise_cpu", args.out, results)


if __name__ == "__main__":
    main()
