"""``kantorovich bench``: time our Wasserstein solvers against the peers, in one process.

For each suite and size the runner builds the data once, calls ours and every installed peer
once to get their values and checks that they agree (to the case's stated tolerance) before
any time counts; then it times them interleaved (ours, peer, ours, peer, ...) and records
medians, quartiles and the ratio peer / ours. A disagreement is recorded and printed, and its
ratio is left empty. Results go to ``DIR/results.json`` (schema below) and ``DIR/index.html``
(log-log time against n per suite, and ratio bars).

``results.json`` (``"schema": "kantorovich-bench/1"``)::

    environment: date, kantorovich, python, platform, machine, cpu_model, cpu_count,
                 gpu {name, driver, cuda} or null, libraries {name: version}
    settings:    suites, quick, device, dtype, peers, repeat
    cases:       [{suite, variant, case, n, params, device, dtype, note,
                   impls: {"ours" | peer: {value, median_s, q1_s, q3_s, min_s, runs}
                           or {error}},
                   agreement: {peer: {rel_diff, rtol, agrees}},
                   ratio: {peer: peer median / our median, or null when they disagree}}]
    skipped:     [{suite, peer, reason}]

``variant`` is "" or, where a suite times more than one quantity at an n, the name of each
further one (``wasserstein_1d``: ``weighted``; ``assignment``: ``points``, costs on the fly;
``sinkhorn``: ``divergence``, against GeomLoss; ``sinkhorn_iter``: ``points``, the online
soft-min; ``knn``: ``d=5``, ``d=10``); tables, figures and ``--compare`` show it as
``suite/variant``. ``results.json`` is rewritten after every case.

Timings are medians of wall-clock times (CUDA events on the GPU); this is a measurement, not
a test: nothing here passes or fails on a time. :func:`measure`, :func:`interleaved`,
:func:`agreement`, :func:`environment` and :func:`write_json` are the timing loop, the
agreement check, the environment block and the JSON writer of these suites; the repository's
``benchmarks/`` scripts (measurements that are not a user feature) use the same ones.
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import statistics
import sys
import textwrap
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .._progress import advance, label, progress_bar
from .._text import text_table
from .._validation import check_int, check_out_dir
from .suites import BUILDERS, PEERS, SUITE_PEERS, SUITES, peer_available

SCHEMA = "kantorovich-bench/1"
__all__ = ["run", "compare", "write", "write_json", "environment", "measure", "interleaved",
           "agreement", "SUITES", "PEERS", "SCHEMA"]


# --------------------------------------------------------------------------- environment
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def _gpu() -> dict | None:
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return None
        props = cupy.cuda.runtime.getDeviceProperties(0)
        name = props["name"]
        return {"name": name.decode() if isinstance(name, bytes) else str(name),
                "driver": cupy.cuda.runtime.driverGetVersion(),
                "cuda": cupy.cuda.runtime.runtimeGetVersion()}
    except Exception:  # noqa: BLE001 - no CuPy, no driver, no device: no GPU
        return None


def _no_gpu_reason() -> str:
    """Why there is no GPU to run on: CuPy missing, CuPy failing to load, or CuPy seeing no
    device (one line, under 100 columns with the words around it)."""
    try:
        import cupy  # noqa: F401
    except ModuleNotFoundError:
        return "CuPy is not installed (pip install cupy-cuda13x, or -cuda12x)"
    except Exception as exc:  # noqa: BLE001 - a CuPy that is installed but fails to load
        return f"CuPy does not load ({type(exc).__name__}: {str(exc)[:60]})"
    return "CuPy sees no GPU here"


def environment() -> dict:
    from importlib import metadata

    from .. import __version__

    libs = {}
    for dist in ("numpy", "scipy", "numba", "cupy-cuda12x", "cupy-cuda13x", "pot", "torch",
                 "jax", "ott-jax", "geomloss", "universal-divergence"):
        try:
            libs[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return {"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "kantorovich": __version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "cpu_model": _cpu_model(),
            "cpu_count": os.cpu_count(), "gpu": _gpu(), "libraries": libs}


# --------------------------------------------------------------------------- timing
def _timer(device: str):
    """``timer(fn)``: the seconds of one call ``fn()`` (CUDA events on the GPU)."""
    if device != "gpu":
        def run(fn):
            t0 = time.perf_counter()
            fn()
            return time.perf_counter() - t0
        return run
    import cupy

    def run_gpu(fn):
        cupy.cuda.Device().synchronize()
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        return cupy.cuda.get_elapsed_time(start, end) / 1e3
    return run_gpu


def _summary(times: list[float]) -> dict:
    q = np.quantile(times, [0.25, 0.75]) if len(times) > 1 else [times[0], times[0]]
    return {"median_s": statistics.median(times), "q1_s": float(q[0]), "q3_s": float(q[1]),
            "min_s": min(times), "runs": len(times)}


def interleaved(fns: dict, *, rounds: int, warmup: int = 0, device: str = "cpu",
                max_seconds: float | None = None, quiet: bool = False) -> dict:
    """Time every ``fns[name]()`` once per round, in turn (a change in the machine's load hits
    them all alike), after ``warmup`` untimed calls of each; ``{name: {median_s, q1_s, q3_s,
    min_s, runs}}``. Rounds stop early once ``max_seconds`` have passed (at least one runs);
    ``quiet`` silences warnings inside the calls. The one timing loop of ``kantorovich bench``
    and of the repository's benchmarks/ scripts."""
    timer = _timer(device)
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
        for fn in fns.values():
            for _ in range(warmup):
                fn()
        times: dict[str, list[float]] = {name: [] for name in fns}
        t_start = time.perf_counter()
        for _ in range(max(1, rounds)):
            for name, fn in fns.items():
                times[name].append(timer(fn))
            if max_seconds is not None and time.perf_counter() - t_start > max_seconds:
                break
    return {name: _summary(t) for name, t in times.items()}


def measure(fn, *, repeat: int = 5, warmup: int = 1, device: str = "cpu",
            max_seconds: float | None = None) -> dict:
    """Median, quartiles and minimum of ``repeat`` timed calls ``fn()`` after ``warmup``
    untimed ones: :func:`interleaved` with one implementation."""
    return interleaved({"fn": fn}, rounds=repeat, warmup=warmup, device=device,
                       max_seconds=max_seconds)["fn"]


def agreement(value: float, reference: float, rtol: float) -> dict:
    """``{rel_diff, rtol, agrees}``: the relative difference of ``value`` from ``reference``
    and whether it is within ``rtol`` (a NaN never agrees)."""
    rel = abs(float(value) - float(reference)) / max(abs(float(reference)), 1e-300)
    return {"rel_diff": rel, "rtol": rtol, "agrees": bool(rel <= rtol)}


def _label(case: dict) -> str:
    """``suite`` or ``suite/variant`` (results written before variants have none)."""
    return f"{case['suite']}/{case['variant']}" if case.get("variant") else case["suite"]


def _run_case(case, device: str, repeat: int, budget_s: float) -> dict:
    data = case.make()
    impls = {"ours": case.ours, **case.peers}
    rec: dict[str, Any] = {"suite": case.suite, "variant": case.variant, "case": case.name,
                           "n": case.n, "params": case.params, "note": case.note, "impls": {},
                           "agreement": {}, "ratio": {}}
    values, first = {}, {}
    for name, fn in impls.items():  # one call each: the value, and the warm-up
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                values[name] = float(fn(data))
                first[name] = time.perf_counter() - t0
        except Exception as exc:  # noqa: BLE001 - a failing implementation is recorded
            rec["impls"][name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    if "ours" not in values:
        return rec
    for name in values:
        if name != "ours":
            rec["agreement"][name] = agreement(values[name], values["ours"], case.rtol)
    slowest = max(first.values())
    reps = max(1, min(repeat, int(budget_s / max(slowest, 1e-9))))
    times = interleaved({name: (lambda fn=impls[name]: fn(data)) for name in values},
                        rounds=reps, device=device, quiet=True)
    for name in values:
        rec["impls"][name] = {"value": values[name], **times[name]}
    ours_t = rec["impls"]["ours"]["median_s"]
    for name, ag in rec["agreement"].items():
        rec["ratio"][name] = rec["impls"][name]["median_s"] / ours_t if ag["agrees"] else None
    return rec


# --------------------------------------------------------------------------- the run
#: the seconds a case's timed runs may take (with --quick, without); the run count drops below
#: ``repeat`` when the slowest first call says ``repeat`` runs would take longer
_BUDGET_S = {True: 2.0, False: 20.0}


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {list(choices)}; got {value!r}.")


def run(suites=None, *, quick: bool = False, device: str = "auto", dtype: str = "float64",
        peers=None, out=None, repeat: int | None = None, progress: bool = True,
        echo=print) -> dict:
    """Run the suites and return the results (and write them under ``out`` when given).

    Parameters
    ----------
    suites : str or sequence of str, optional
        Any of :data:`SUITES`; all by default. A name given twice counts once (so in ``peers``);
        a string is one name (``"emd"``), as in ``peers``.
    quick : bool
        Small sizes: the whole run in under two minutes on 2 CPU cores.
    device : {"auto", "cpu", "gpu"}
        ``"auto"`` is the GPU when CuPy sees one, else the CPU (with one line saying why).
        ``"gpu"`` without CuPy or a device raises RuntimeError saying which. On the GPU our
        inputs are CuPy arrays, POT gets the CuPy arrays (its CuPy backend), OTT-JAX jax
        arrays on jax's default device, GeomLoss torch CUDA tensors, and the CPU-only peers
        (scipy, universal-divergence, POT's exact solver) host copies: every copy is made by
        the case's ``make``, outside the timing.
    dtype : {"float64", "float32"}
    peers : str or sequence of str, optional
        Any of :data:`PEERS`; every installed one by default. Missing ones are skipped with
        one line each. An empty sequence times ours alone.
    out : path, optional
        Folder for ``results.json`` (rewritten after every case, so a run stopped part-way
        keeps the cases it finished) and ``index.html`` (written at the end). A Ctrl-C writes
        both for the cases finished (when there are any), then raises ``KeyboardInterrupt``
        saying how many of the run's cases finished.
    repeat : int, optional
        Timed runs per implementation (default 3 with ``quick``, else 5), fewer when one run
        is slow (a budget of about 2 s per case in quick mode, 20 s otherwise).
    """
    # a string is one name: iterated, "emd" was refused as the suites 'e', 'm' and 'd'
    suites = [suites] if isinstance(suites, str) else suites
    if isinstance(peers, str):  # "" asks for none, as the empty list and --peers ''
        peers = [peers] if peers else []
    # a name given twice counts once (its cases would run, and be listed, twice)
    suites = list(SUITES) if not suites else list(dict.fromkeys(suites))
    for s in suites:
        _check_choice(s, "suites", SUITES)
    _check_choice(device, "device", ("auto", "cpu", "gpu"))
    _check_choice(dtype, "dtype", ("float64", "float32"))
    peers = list(PEERS) if peers is None else list(dict.fromkeys(peers))
    for p in peers:
        _check_choice(p, "peers", PEERS)
    if repeat is not None:
        repeat = check_int(repeat, "repeat", minimum=1)
    if out is not None:  # a file there, or nowhere to make it: said before any case runs
        check_out_dir(out, "out")
    gpu = _gpu()
    skipped: list[dict] = []
    if device == "auto":
        device = "gpu" if gpu else "cpu"
        if not gpu:
            echo(f"device auto: {_no_gpu_reason()}; running on the CPU")
    elif device == "gpu" and not gpu:
        raise RuntimeError(f"`device` is 'gpu' but {_no_gpu_reason()}; use --device cpu "
                           "or --device auto.")
    if device == "gpu":
        import cupy as xp
    else:
        xp = np
    repeat = (3 if quick else 5) if repeat is None else repeat
    budget = _BUDGET_S[bool(quick)]
    available = {}
    for p in peers:
        ok, why = peer_available(p)
        available[p] = ok
        if not ok:
            skipped.append({"suite": "*", "peer": p, "reason": why})
            echo(f"skipped: {why}")
    env = environment()
    cases = []
    for s in suites:
        wired = SUITE_PEERS[s]
        use = [p for p in peers if available[p] and p in wired]
        for p in peers:
            if available[p] and p not in wired:
                skipped.append({"suite": s, "peer": p, "reason": "not wired for this suite"})
        cases.extend(BUILDERS[s](quick, xp, np.dtype(dtype).type, use))
    records: list[dict] = []
    result = {"schema": SCHEMA, "environment": env,
              "settings": {"suites": suites, "quick": quick, "device": device, "dtype": dtype,
                           "peers": peers, "repeat": repeat},
              "cases": records, "skipped": skipped}
    bar = progress_bar(progress, total=len(cases), desc="bench", unit="case", leave=True)

    def say(text: str) -> None:
        """``echo(text)`` on a line of its own: the progress bar's line is cleared first."""
        if bar is None:
            echo(text)
        else:
            with bar.external_write_mode(file=sys.stdout):
                echo(text)

    try:
        for case in cases:
            label(bar, f"{_label(vars(case))} n={case.n}")
            rec = _run_case(case, device, repeat, budget)
            # the dtype of the case's data: the run's, but float64 for knn whatever --dtype
            rec["device"], rec["dtype"] = device, case.dtype or dtype
            records.append(rec)
            for peer, ag in rec["agreement"].items():
                if not ag["agrees"]:
                    say(f"DISAGREES: {_label(rec)} n={case.n}: {peer} differs from ours by "
                        f"{ag['rel_diff']:.3g} (relative; tolerance {ag['rtol']:.0e})")
            if out is not None:  # the cases so far: a run cut off by a time limit keeps them
                write_json(Path(out) / "results.json", result)
            advance(bar)
    except KeyboardInterrupt:
        # Ctrl-C: the page of the cases finished too, and a KeyboardInterrupt that says so
        # (an earlier run's files in `out` are left as they were when none had finished)
        if bar is not None:
            bar.close()
        kept = ""
        if out is not None and records:
            write(result, out)
            kept = f" ({Path(out) / 'results.json'} and index.html hold them)"
        raise KeyboardInterrupt(f"{len(records)} of {len(cases)} bench cases finished"
                                f"{kept}") from None
    if bar is not None:
        bar.close()
    if out is not None:
        write(result, out)
    return result


def write(result: dict, out) -> Path:
    """``out/results.json`` and ``out/index.html``."""
    out = Path(out)
    path = write_json(out / "results.json", result)
    (out / "index.html").write_text(_html(result), encoding="utf-8")
    return path


def _jsonable(v):
    try:
        f = float(v)  # a 0-d array, a numpy integer; not finite: its name, as in write_json
        return f if np.isfinite(f) else str(f)
    except (TypeError, ValueError, OverflowError):
        return repr(v)[:200]


def _finite_or_named(v):
    """``v`` with each float that is not finite written as its name ("nan", "inf", "-inf"), as
    the report's results.json does: JSON has no NaN, and a file holding one (a peer's value
    that is NaN) is refused by strict readers (JavaScript's ``JSON.parse``)."""
    if isinstance(v, dict):
        return {k: _finite_or_named(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite_or_named(x) for x in v]
    if isinstance(v, (float, np.floating)) and not np.isfinite(v):
        return str(float(v))
    return v


def write_json(path, payload: dict) -> Path:
    """``payload`` as indented JSON at ``path`` (folders made), written to a temporary file
    first so that a reader, or a kill, never sees half a file; numpy scalars become floats, a
    float that is not finite its name ("nan", "inf"), and anything else JSON cannot hold its
    ``repr``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(_finite_or_named(payload), indent=2, default=_jsonable, allow_nan=False)
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:  # an interrupt (Ctrl-C, a kill turned into one) or a full disk
        tmp.unlink(missing_ok=True)  # leaves no half-written temporary file behind
        raise
    return path


# --------------------------------------------------------------------------- formatting
def _sig3(x: float) -> str:
    """``x`` to three significant digits without an exponent: 0.0753, 0.874, 3.00, 17.4, 171
    (timings vary by more than 1% between runs: a fourth digit would be noise)."""
    x = float(f"{x:.3g}")
    if x == 0 or abs(x) < 1e-4:
        return f"{x:.3g}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    decimals = 2 - int(np.floor(np.log10(abs(x))))
    return f"{x:.{decimals}f}"


def _ms(seconds: float) -> str:
    """A time in milliseconds, three significant digits (the tables' one unit)."""
    return _sig3(seconds * 1e3)


#: what each implementation's name in the tables and figures stands for
IMPL_NAMES = {
    "ours": "kantorovich, this package",
    "scipy": "SciPy: wasserstein_distance, linear_sum_assignment, or the 5-NN estimator "
             "written on cKDTree",
    "pot": "POT (Python Optimal Transport); in the Sinkhorn suites its log-domain sinkhorn2",
    "pot-kernel": "POT's kernel-space Sinkhorn, sinkhorn2(method='sinkhorn')",
    "ott": "OTT-JAX's Sinkhorn, jitted",
    "geomloss": "GeomLoss SamplesLoss, tensorized torch backend",
    "universal-divergence": "universal-divergence's estimate (5-NN)",
}

_KEY = ("peer/ours: the peer's median time over ours, above 1 when ours is faster (empty: "
        "values disagree).\nagreement: the peer's value against ours, within the suite's "
        "relative tolerance or not.")


def table(result: dict) -> str:
    """A plain-text table: suite, n, implementation, median (ms), peer / ours, agreement;
    then two lines saying how to read the ratio and the agreement, and each implementation
    that failed with its error (in the table they ran past 100 columns)."""
    rows, failed = [], []
    for c in result["cases"]:
        for name, imp in c["impls"].items():
            if "error" in imp:
                rows.append((_label(c), str(c["n"]), name, "error", "", "failed (below)"))
                failed.append(f"{name} failed at {_label(c)} n={c['n']}: {imp['error']}")
                continue
            ag = c["agreement"].get(name)
            ratio = c["ratio"].get(name)
            rows.append((_label(c), str(c["n"]), name, _ms(imp["median_s"]),
                         "" if name == "ours" or ratio is None else f"{_sig3(ratio)}x",
                         "" if ag is None else
                         ("agrees" if ag["agrees"] else f"DISAGREES {ag['rel_diff']:.1e}")))
    return "\n".join([text_table(("suite", "n", "impl", "median (ms)", "peer/ours",
                                  "agreement"), rows, right=(1, 3, 4)), "", _KEY]
                     + [textwrap.fill(f, width=100, subsequent_indent="  ") for f in failed])


# --------------------------------------------------------------------------- figures
# one colour and marker per implementation, the same in both panels and in every suite;
# red is kept for the values that disagree
_STYLE = {"ours": ("black", "o"), "scipy": ("C0", "s"), "pot": ("C1", "^"),
          "pot-kernel": ("C5", "v"), "ott": ("C2", "D"), "geomloss": ("C4", "P"),
          "universal-divergence": ("C6", "X")}
_SPARE = ("C7", "C8", "C9")


def _style(name: str, others: list[str]) -> tuple[str, str]:
    if name in _STYLE:
        return _STYLE[name]
    return _SPARE[others.index(name) % len(_SPARE)], "h"


def _time_tick(v: float, _pos=None) -> str:
    """A time axis tick in the unit that suits it: 200 µs, 10 ms, 1 s."""
    if v >= 1:
        return f"{v:g} s"
    if v >= 1e-3:
        return f"{v * 1e3:g} ms"
    return f"{v * 1e6:g} µs"


def _log_ticks(axis, lo: float, hi: float, fmt) -> None:
    """Labelled ticks at 1, 2, 5 times the powers of ten over a short range (1 only over a
    long one), formatted by ``fmt``; no minor labels (matplotlib's 6x10^-1 style)."""
    from matplotlib import ticker

    decades = np.log10(max(hi, lo * 1.0001) / lo)
    subs = (1.0, 2.0, 5.0) if decades < 3.5 else (1.0,)
    axis.set_major_locator(ticker.LogLocator(base=10, subs=subs))
    axis.set_major_formatter(ticker.FuncFormatter(fmt))
    axis.set_minor_formatter(ticker.NullFormatter())


def _figure_png(suite: str, cases: list[dict]) -> str:
    """Left: median time against n, log-log, a bar from the first to the third quartile; a
    peer whose value disagrees with ours is circled in red there. Right: peer time / our
    time per n as bars from 1 (up: ours faster, down: the peer faster), a disagreement or an
    error written where its bar would be. One colour per implementation in both panels."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib import ticker
    from matplotlib.lines import Line2D

    impls = sorted({k for c in cases for k in c["impls"]}, key=lambda k: (k != "ours", k))
    unknown = [k for k in impls if k not in _STYLE]
    ns = sorted({c["n"] for c in cases})
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
    handles = []
    bad_points = []
    for name in impls:
        colour, marker = _style(name, unknown)
        pts = [(c["n"], c["impls"][name]) for c in cases
               if "median_s" in c["impls"].get(name, {})]
        if not pts:
            continue
        xs = [n for n, _ in pts]
        med = np.array([r["median_s"] for _, r in pts])
        q1 = np.array([r["q1_s"] for _, r in pts])
        q3 = np.array([r["q3_s"] for _, r in pts])
        ax.errorbar(xs, med, yerr=[med - q1, q3 - med], color=colour, marker=marker,
                    lw=2.2 if name == "ours" else 1.2, ms=6, capsize=3,
                    zorder=3 if name == "ours" else 2)
        handles.append(Line2D([], [], color=colour, marker=marker,
                              lw=2.2 if name == "ours" else 1.2, label=name))
        bad_points += [(c["n"], c["impls"][name]["median_s"]) for c in cases
                       if name in c["agreement"] and not c["agreement"][name]["agrees"]
                       and "median_s" in c["impls"][name]]
    if bad_points:
        bn, bt = zip(*bad_points)
        ax.plot(bn, bt, "o", ms=15, mfc="none", mec="red", mew=2, zorder=4)
        handles.append(Line2D([], [], ls="", marker="o", ms=11, mfc="none", mec="red", mew=2,
                              label="value disagrees with ours: its time is not comparable"))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.xaxis.set_minor_locator(ticker.NullLocator())
    if len(ns) == 1:
        ax.set_xlim(ns[0] / 2, ns[0] * 2)
    lo, hi = ax.get_ylim()
    _log_ticks(ax.yaxis, lo, hi, _time_tick)
    ax.set_xlabel("n")
    ax.set_ylabel("median time (bars: quartiles)")
    dtype, device = cases[0].get("dtype"), cases[0].get("device")
    where = f" ({dtype} on the {device.upper()})" if dtype and device else ""
    ax.set_title(f"{suite}: time against n{where}", fontsize=10)

    peers = [p for p in impls if p != "ours"]
    width = 0.8 / max(1, len(peers))
    ratios = [r for c in cases for r in c["ratio"].values() if r]
    rlo, rhi = min(ratios + [1.0]), max(ratios + [1.0])
    rlo, rhi = min(rlo / 1.6, 0.5), max(rhi * 1.6, 2.0)
    bx.set_yscale("log")
    bx.set_ylim(rlo, rhi)
    for j, p in enumerate(peers):
        colour, _ = _style(p, unknown)
        for i, c in enumerate(cases):
            x = i + j * width
            r = c["ratio"].get(p)
            if r:
                bx.bar(x, r - 1.0, bottom=1.0, width=width, color=colour)
                bx.text(x, r * (1.06 if r >= 1 else 1 / 1.06), _sig3(r), ha="center",
                        va="bottom" if r >= 1 else "top", fontsize=7)
            elif p in c["agreement"] and not c["agreement"][p]["agrees"]:
                bx.text(x, 1.0, "disagrees", color="red", rotation=90, ha="center",
                        va="center", fontsize=8, fontweight="bold",
                        bbox={"fc": "white", "ec": "red", "pad": 1.5})
            elif "error" in c["impls"].get(p, {}):
                bx.text(x, 1.0, "error", color="red", rotation=90, ha="center",
                        va="center", fontsize=8, bbox={"fc": "white", "ec": "red", "pad": 1.5})
    bx.axhline(1.0, color="k", lw=0.8)
    bx.set_xticks([i + (len(peers) - 1) * width / 2 for i in range(len(cases))],
                  [str(c["n"]) for c in cases])
    bx.set_xlim(-0.6, len(cases) - 0.4 + (len(peers) - 1) * width)
    _log_ticks(bx.yaxis, rlo, rhi, lambda v, _pos=None: f"{v:g}")
    bx.set_xlabel("n")
    bx.set_ylabel("peer time / our time")
    bx.set_title("ratio: above 1, ours is faster", fontsize=10)
    bx.text(0.01, 0.98, "\u2191 ours faster", transform=bx.transAxes, ha="left", va="top",
            fontsize=8, color="0.3")
    bx.text(0.01, 0.02, "\u2193 peer faster", transform=bx.transAxes, ha="left",
            va="bottom", fontsize=8, color="0.3")
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 4),
                   fontsize=8, frameon=False)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _skipped_html(skipped: list[dict], esc) -> str:
    """The skipped peers: those not installed, with the line that says how to get them, then
    per suite the installed peers that have no call there."""
    absent = [k for k in skipped if k["suite"] == "*"]
    per_suite: dict[str, list[str]] = {}
    for k in skipped:
        if k["suite"] != "*":
            per_suite.setdefault(k["suite"], []).append(k["peer"])
    items = [f"<li>{esc(k['reason'])}</li>" for k in absent]
    if per_suite:
        items.append("<li>installed, with no equivalent call in a suite (not compared there): "
                     + "; ".join(f"{esc(s)}: {esc(', '.join(ps))}"
                                 for s, ps in per_suite.items()) + "</li>")
    return "<h2>Skipped</h2><ul>" + "".join(items) + "</ul>"


def _html(result: dict) -> str:
    import html

    esc = html.escape
    env, settings = result["environment"], result["settings"]
    bad = [(c, p, ag) for c in result["cases"] for p, ag in c["agreement"].items()
           if not ag["agrees"]]
    # our failures apart from the peers': a case where ours failed compares nothing
    ours_failed = [c for c in result["cases"] if "error" in c["impls"].get("ours", {})]
    errors = [(c, p) for c in result["cases"] for p, imp in c["impls"].items()
              if "error" in imp and p != "ours"]
    peer_ran = any(p != "ours" for c in result["cases"] for p in c["impls"])
    names = {k for c in result["cases"] for k in c["impls"]}
    repeat = settings.get("repeat")
    parts = ["<!doctype html><meta charset='utf-8'><title>kantorovich bench</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "td,th{padding:2px 8px;text-align:right}td.l,th.l{text-align:left}"
             ".bad{color:#b00;font-weight:bold}tr.bad td{background:#fdd}</style>",
             "<h1>kantorovich bench</h1>",
             f"<p>{esc(env['date'])} &middot; kantorovich {esc(str(env['kantorovich']))} "
             f"&middot; {esc(env['cpu_model'])} ({env['cpu_count']} cores) &middot; GPU: "
             f"{esc(str((env['gpu'] or {}).get('name', 'none')))} &middot; run on the "
             f"{esc(str(settings['device']).upper())} in {esc(str(settings['dtype']))}"
             + (" &middot; --quick sizes" if settings.get("quick") else "")
             + (f" &middot; up to {repeat} timed runs per implementation" if repeat else "")
             + "</p>"]
    summary = f"{len(result['cases'])} cases; "
    if bad or errors or ours_failed:
        items = [f"{esc(_label(c))} n = {c['n']}: ours failed" for c in ours_failed]
        items += [f"{esc(_label(c))} n = {c['n']}: {esc(p)} differs from ours by "
                  f"{float(ag['rel_diff']):.1e} (tolerance {ag['rtol']:.0e})"
                  for c, p, ag in bad]
        items += [f"{esc(_label(c))} n = {c['n']}: {esc(p)} failed" for c, p in errors]
        counts = ", ".join(f"{k} {w if k == 1 else ws}" for k, w, ws in
                           ((len(ours_failed), "case where ours failed", "cases where ours failed"),
                            (len(bad), "disagreement", "disagreements"),
                            (len(errors), "peer error", "peer errors")) if k)
        parts.append(f"<p class=bad>{summary}{counts}: their times are not comparisons.</p>"
                     "<ul class=bad>"
                     + "".join(f"<li>{i}</li>" for i in items) + "</ul>")
    elif not peer_ran:  # nothing to agree with: "every peer agrees" would be vacuous
        parts.append(f"<p>{summary}no peer ran"
                     + (" (the peers list was empty: ours alone)." if not settings.get("peers")
                        else "; see Skipped below.") + "</p>")
    else:
        parts.append(f"<p>{summary}every peer's value agrees with ours.</p>")
    parts.append(
        "<p>How to read the tables: <b>median</b> and <b>q1&ndash;q3</b> (first to third "
        "quartile) of the timed runs, in milliseconds; <b>runs</b>: how many were timed, fewer "
        "than asked where the slowest implementation's first call, times the runs asked for, "
        f"would pass the case's time budget ({_BUDGET_S[bool(settings.get('quick'))]:g} s "
        "here; one run has no quartiles); <b>peer/ours</b>: the peer's median time over ours, "
        "above 1 when ours is faster, empty when the values disagree; <b>value</b>: what each "
        "returned, to 6 significant digits; <b>agreement</b>: the relative difference from our "
        "value, against the suite's tolerance.</p>")
    parts.append("<p>Implementations:</p><ul>" + "".join(
        f"<li><b>{esc(k)}</b>: {esc(IMPL_NAMES[k])}</li>" for k in IMPL_NAMES if k in names)
        + "</ul>")
    labels = dict.fromkeys(_label(c) for c in result["cases"])  # suites in run order
    for s in labels:
        cases = [c for c in result["cases"] if _label(c) == s]
        parts.append(f"<h2>{esc(s)}</h2><p>{esc(cases[0]['case'])}"
                     + (f" ({esc(cases[0]['note'])})" if cases[0].get("note") else "") + "</p>")
        parts.append(f"<img alt='{esc(s)}' src='data:image/png;base64,{_figure_png(s, cases)}'>")
        parts.append("<table><tr><th>n</th><th class=l>implementation</th><th>median (ms)</th>"
                     "<th>q1&ndash;q3 (ms)</th><th>runs</th><th>peer/ours</th><th>value</th>"
                     "<th class=l>agreement (relative difference)</th></tr>")
        for c in cases:
            for name, imp in c["impls"].items():
                if "error" in imp:
                    parts.append(f"<tr class=bad><td>{c['n']}</td><td class=l>{esc(name)}</td>"
                                 f"<td colspan=6 class='l bad'>{esc(imp['error'])}</td></tr>")
                    continue
                ag = c["agreement"].get(name)
                ratio = c["ratio"].get(name)
                agree = "" if ag is None else (
                    f"agrees ({float(ag['rel_diff']):.1e} &le; {ag['rtol']:.0e})" if ag["agrees"]
                    else f"<span class=bad>DISAGREES ({float(ag['rel_diff']):.1e} &gt; "
                         f"{ag['rtol']:.0e})</span>")
                runs = imp.get("runs", 0)
                quart = (f"{_ms(imp['q1_s'])}&ndash;{_ms(imp['q3_s'])}" if runs > 1
                         else "&ndash;")
                row = " class=bad" if ag is not None and not ag["agrees"] else ""
                parts.append(
                    f"<tr{row}><td>{c['n']}</td><td class=l>{esc(name)}</td>"
                    f"<td>{_ms(imp['median_s'])}</td><td>{quart}</td><td>{runs}</td>"
                    f"<td>{'' if ratio is None else _sig3(ratio)}</td>"
                    # float(): a value that is not finite is read back from results.json as
                    # its name ("nan")
                    f"<td>{float(imp['value']):#.6g}</td><td class=l>{agree}</td></tr>")
        parts.append("</table>")
    if result["skipped"]:
        parts.append(_skipped_html(result["skipped"], esc))
    return "\n".join(parts)


# --------------------------------------------------------------------------- compare
def _load_run(name: str, path) -> dict:
    """The ``results.json`` of run ``name`` (A or B) of :func:`compare`."""
    where = f"run {name} ({str(path)!r})"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ValueError(f"{where} is a folder; give its results.json.") from None
    except FileNotFoundError:
        raise ValueError(f"{where} does not exist.") from None
    except OSError as exc:
        raise ValueError(f"{where} cannot be read: {exc.strerror or exc}.") from None
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not JSON (not UTF-8 text): give the results.json of a "
                         f"kantorovich bench run.") from None
    try:
        run = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{where} is not JSON ({exc}): give the results.json of a "
                         f"kantorovich bench run.") from None
    except RecursionError:  # JSON, but nested deeper than Python's parser goes: no run's file
        raise ValueError(f"{where} is not the results.json of a kantorovich bench run (its JSON "
                         f"is nested too deeply to read).") from None
    if not isinstance(run, dict) or run.get("schema") != SCHEMA:
        raise ValueError(f"{where} is not the results.json of a kantorovich bench run "
                         f"(schema {SCHEMA}).")
    # the fields the comparison reads: a file of the right schema but cut or edited is named
    # with what it lacks rather than a KeyError
    env, cases = run.get("environment"), run.get("cases")
    missing = [f"environment.{k}" for k in ("date", "cpu_model", "gpu")
               if not isinstance(env, dict) or k not in env]
    if not isinstance(cases, list):
        missing.append("cases")
    else:
        for i, c in enumerate(cases):
            lack = [k for k in ("suite", "n", "impls") if not isinstance(c, dict) or k not in c]
            if not lack and not isinstance(c["impls"], dict):
                lack = ["impls"]
            if lack:
                missing += [f"cases[{i}].{k}" for k in lack]
                break
    if missing:
        raise ValueError(f"{where} is a bench results.json without {', '.join(missing)}: it was "
                         "cut or edited; give the file the run wrote.")
    if (wrong := _wrong_field(run)) is not None:
        field, value, what = wrong
        raise ValueError(f"{where} is a bench results.json whose {field} is {value!r}, not {what}: "
                         "it was edited; give the file the run wrote.")
    return run


def _wrong_field(run: dict) -> tuple[str, Any, str] | None:
    """The first field :func:`compare` reads whose value is of a type no run writes (field,
    value, what it should be), or None: an edited file is named rather than a TypeError."""
    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and bool(np.isfinite(v))

    env, settings = run["environment"], run.get("settings")
    if env["gpu"] is not None and not isinstance(env["gpu"], dict):
        return "environment.gpu", env["gpu"], "an object or null"
    if settings is not None and not isinstance(settings, dict):
        return "settings", settings, "an object"
    if isinstance(settings, dict) and not isinstance(settings.get("device", ""), str):
        return "settings.device", settings["device"], "a string"
    for i, c in enumerate(run["cases"]):
        if not isinstance(c["suite"], str):
            return f"cases[{i}].suite", c["suite"], "a string"
        if c.get("variant") is not None and not isinstance(c["variant"], str):
            return f"cases[{i}].variant", c["variant"], "a string"
        if not isinstance(c["n"], int) or isinstance(c["n"], bool):
            return f"cases[{i}].n", c["n"], "an integer"
        for k, imp in c["impls"].items():
            if not isinstance(imp, dict):
                return f"cases[{i}].impls.{k}", imp, "an object"
            if "median_s" in imp and not (number(imp["median_s"]) and imp["median_s"] > 0):
                return f"cases[{i}].impls.{k}.median_s", imp["median_s"], "a positive number"
        agreement = c.get("agreement")
        if agreement is not None and not (isinstance(agreement, dict)
                                          and all(isinstance(a, dict) for a in agreement.values())):
            return f"cases[{i}].agreement", agreement, "an object of objects"
    return None


def compare(a_path, b_path) -> str:
    """Two runs side by side: each (suite, n, impl) in both, its medians and B / A, and a
    note where the peer's value disagreed with ours in either run (its time compares nothing).

    A file that cannot be read, is not JSON, is not a bench ``results.json`` or lacks a field
    the comparison reads or has one of the wrong type (cut or edited) is a ValueError naming
    it (run A or B and its path) and the field.
    """
    a, b = _load_run("A", a_path), _load_run("B", b_path)

    def index(r):
        return {(_label(c), c["n"], k): v for c in r["cases"] for k, v in c["impls"].items()
                if "median_s" in v}

    def disagreeing(r):
        return {(_label(c), c["n"], k) for c in r["cases"]
                for k, ag in (c.get("agreement") or {}).items() if not ag.get("agrees", True)}

    def describe(name, path, r):
        env, st = r["environment"], r.get("settings") or {}
        how = ", ".join(str(x) for x in (st.get("device", "").upper(), st.get("dtype"),
                                         "--quick" if st.get("quick") else "") if x)
        parts = [str(env["date"]), f"kantorovich {env.get('kantorovich', '?')}", str(env["cpu_model"]),
                 f"GPU {(env['gpu'] or {}).get('name', 'none')}" + (f"; {how}" if how else "")]
        # within 100 columns whatever the CPU's name, broken between the parts (the path's
        # line is as long as the path)
        lines = ["   " + parts[0]]
        for part in parts[1:]:
            if len(lines[-1]) + 2 + len(part) <= 100:
                lines[-1] += ", " + part
            else:
                lines[-1] += ","
                lines.append("   " + part)
        return f"{name}: {path}\n" + "\n".join(lines)

    ia, ib = index(a), index(b)
    da, db = disagreeing(a), disagreeing(b)
    # the suites in the order A ran them, then any only B has; within each, n, then ours first
    order = {lab: i for i, lab in enumerate(dict.fromkeys(
        [_label(c) for c in a["cases"]] + [_label(c) for c in b["cases"]]))}
    rows = []
    for key in sorted(set(ia) & set(ib), key=lambda k: (order[k[0]], k[1], k[2] != "ours", k[2])):
        ta, tb = ia[key]["median_s"], ib[key]["median_s"]
        note = {(True, True): "DISAGREES in A and B", (True, False): "DISAGREES in A",
                (False, True): "DISAGREES in B"}.get((key in da, key in db), "")
        rows.append((key[0], str(key[1]), key[2], _ms(ta), _ms(tb), _sig3(tb / ta), note))
    lines = [describe("A", a_path, a), describe("B", b_path, b), "",
             text_table(("suite", "n", "impl", "A median (ms)", "B median (ms)", "B / A", ""),
                        rows, rule=False, right=(1, 3, 4, 5)),
             "", "B / A: B's median time over A's (below 1: faster in B)."]
    if any(r[-1] for r in rows):
        lines.append("DISAGREES: in that run the peer's value differed from ours beyond the "
                     "suite's tolerance;\n  its time there is not a comparison.")
    only = sorted(set(ia) ^ set(ib), key=lambda k: (order[k[0]], k[1]))
    if only:
        suites_only = ", ".join(dict.fromkeys(k[0] for k in only))
        lines.append(textwrap.fill(f"in one run only: {len(only)} (suite, n, impl) entries, "
                                   f"of {suites_only}", width=100, break_on_hyphens=False))
    return "\n".join(lines)
