"""Sinkhorn on the CPU: numpy vs numba per soft-min from n = 10 to 1000 (sets backend="auto").

For point clouds (d = 2, p = 2 and 1) and dense costs (``pot.dist``), float64 and float32, the
time of one soft-min as the Sinkhorn loop calls it (the stateful numba operators on their shift
path, i.e. after a first call) for

* ``numpy``         the numpy reference (``_ops_numpy``),
* ``numba_par``     the numba kernel with the default number of threads,
* ``numba_1thread`` the same kernel with ``numba.set_num_threads(1)`` around the call.

Rounds are interleaved (every method once per round), each sample is the mean of a batch of
calls sized to ~20 ms, the JSON holds per-round samples and medians with the 1-minute load
average before and after. ``--quick``: n = 10, 100, 1000 only.
"""

from __future__ import annotations

import os

import numpy as np
from _common import measure, one_thread, parser, timed_once, write


def _batch_time(fn, target_s: float = 0.02) -> float:
    """Mean seconds per call over a batch of calls that lasts about ``target_s`` (the first
    call sizes the batch)."""
    one = max(timed_once(fn)[1], 1e-7)
    k = max(1, min(2000, int(target_s / one)))

    def batch():
        for _ in range(k):
            fn()
    return measure(batch, repeat=1, warmup=0)["median_s"] / k


def _methods(geom, dtype, eps):

    from kantorovich.ot import _sinkhorn as S

    wdt = np.dtype(dtype)
    g_np = geom.astype(wdt)
    sx_np, sy_np = S._ops_numpy(g_np, wdt)
    sx_nb, _ = S._ops_numba(geom, wdt)
    opx, opy = sx_nb.ops
    n, m = geom.shape
    hx, hy = np.zeros(m, dtype=wdt), np.zeros(n, dtype=wdt)

    def both_np():
        sx_np(eps, hx)
        sy_np(eps, hy)

    def both_nb():
        opx(eps, hx)
        opy(eps, hy)
    both_nb()  # first call: safe path; the shift path from here on
    return {"numpy": both_np, "numba_par": both_nb, "numba_1thread": one_thread(both_nb)}


def run(quick: bool) -> dict:
    import numba
    import ot as pot

    from kantorovich.ot import DenseGeometry, PointCloud
    from kantorovich.ot._kernels import softmin_numba, softmin_numba_dense

    _, t_warm = timed_once(lambda: (softmin_numba.warmup(), softmin_numba_dense.warmup()))
    sizes = [10, 100, 1000] if quick else [10, 20, 50, 100, 200, 500, 1000]
    rounds = 3 if quick else 5
    eps = 0.01
    rng = np.random.default_rng(0)
    cases = []
    for n in sizes:
        x, y = rng.random((n, 2)), rng.random((n, 2))
        for dtype in (np.float64, np.float32):
            for kind, geom in (("pointcloud_p2", PointCloud(x, y)),
                               ("pointcloud_p1", PointCloud(x, y, cost="euclidean")),
                               ("dense", DenseGeometry(pot.dist(x, y)))):
                cases.append(((kind, n, np.dtype(dtype).name), _methods(geom, dtype, eps)))
    load_before = os.getloadavg()[0]
    samples = {key: {k: [] for k in meth} for key, meth in cases}
    for _ in range(rounds):
        for key, meth in cases:
            for k, fn in meth.items():
                samples[key][k].append(_batch_time(fn) / 2)  # per soft-min (x and y halves)
    load_after = os.getloadavg()[0]
    table = []
    for (kind, n, dt), s in samples.items():
        med = {k: float(np.median(v)) for k, v in s.items()}
        best_nb = min(med["numba_par"], med["numba_1thread"])
        table.append({"kind": kind, "n": n, "m": n, "dtype": dt, "s_per_softmin_median": med,
                      "s_per_softmin_rounds": s, "numpy_over_best_numba": med["numpy"] / best_nb,
                      "par_over_1thread": med["numba_par"] / med["numba_1thread"]})
    return {"eps": eps, "d": 2, "rounds": rounds, "numba_threads": numba.get_num_threads(),
            "numba_threading_layer": numba.threading_layer(), "load_1m_before": load_before,
            "load_1m_after": load_after, "cpus": os.cpu_count(), "warmup_s": t_warm, "table": table}


def main() -> None:
    args = parser(__doc__.splitlines()[0]).parse_args()
    if args.gpu_only:
        print("bench_sinkhorn_crossover has no GPU cases (CPU numpy/numba crossover only)")
        return
    payload = run(args.quick)
    heads = ("kind", "n", "dtype", "numpy us", "numba par", "numba 1t", "np/best", "par/1t")
    print("\n{:<14} {:>5} {:>8} {:>12} {:>12} {:>12} {:>8} {:>8}".format(*heads))
    for r in payload["table"]:
        med = r["s_per_softmin_median"]
        print(f"{r['kind']:<14} {r['n']:>5d} {r['dtype']:>8} {med['numpy'] * 1e6:>12.1f} "
              f"{med['numba_par'] * 1e6:>12.1f} {med['numba_1thread'] * 1e6:>12.1f} "
              f"{r['numpy_over_best_numba']:>8.2f} {r['par_over_1thread']:>8.2f}")
    print(f"load {payload['load_1m_before']:.2f} -> {payload['load_1m_after']:.2f}")
    write("sinkhorn_crossover" + ("_quick" if args.quick else ""), args.out, payload)


if __name__ == "__main__":
    main()
