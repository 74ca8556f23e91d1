"""Command line: ``kantorovich report | experiment NAME | list | verify | bench [NAME]``.

``kantorovich report --quick --out report/`` runs every registered section at a quick size
(under about two minutes on 2 CPU cores) and writes ``report/index.html`` and
``report/results.json``. Without ``--quick`` the figures are made at publication size.
``--format svg|pdf`` and ``--dpi N`` write the figures for slides (PNG at 110 dpi by default).
``--scheduler ADDRESS`` (or ``local[:N]``) runs the sections as tasks on a Dask cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from pathlib import Path


def _int_at_least(minimum: int, what: str, maximum: int | None = None):
    """An argparse ``type``: an integer from ``minimum`` (to ``maximum``), else a usage error
    saying ``what`` it must be."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"must be {what}; got {text!r}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
# numpy's generators take seeds >= 0: a negative one would fail every section
_seed = _int_at_least(0, "a non-negative integer")


def _out_error(out: str) -> str | None:
    """Why ``--out`` cannot hold the output (a file, or no folder can be made there), or None."""
    from ._validation import check_out_dir

    try:
        check_out_dir(out, "--out")
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def _figure_options(p: argparse.ArgumentParser) -> None:
    from .report import FIGURE_FORMATS

    p.add_argument("--format", dest="fig_format", choices=FIGURE_FORMATS, default="png",
                   help="figure file format (default png; svg or pdf for slides)")
    p.add_argument("--dpi", type=_int_at_least(1, "an integer from 1 to 10000", 10_000), default=110,
                   help="figure resolution in dots per inch, 1 to 10000 (default 110)")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kantorovich",
        description="Divergences and optimal transport: the report of checked theory, figures and "
                    "timings, its sections one at a time, and the benchmarks.",
        epilog="Start with: kantorovich report --quick --out report/  (then open report/index.html)")
    from . import __version__

    p.add_argument("--version", action="version", version=f"kantorovich {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("report", help="run every report section; write index.html and results.json")
    r.add_argument("--quick", action="store_true", help="small sizes (about 2 minutes on 2 cores)")
    r.add_argument("--out", default="report", help="output folder (default: report/)")
    r.add_argument("--only", nargs="+", metavar="SECTION",
                   help="run only these sections; an earlier report in --out keeps its other "
                        "sections (same version, mode, seed and figure options)")
    r.add_argument("--seed", type=_seed, default=0,
                   help="random seed of every section, an integer >= 0 (default 0)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    r.add_argument("--scheduler", metavar="ADDRESS",
                   help="run the sections as tasks on a Dask cluster: a scheduler address "
                        "(tcp://HOST:8786), or local[:N] for N worker processes on this machine "
                        "(default: one per core); same files and numbers as the serial run "
                        "(needs kantorovich[distributed] on the client and every worker)")
    _figure_options(r)

    e = sub.add_parser("experiment", help="run one report section")
    e.add_argument("name", help="section name (see `kantorovich list`)")
    e.add_argument("--quick", action="store_true", help="small sizes (seconds for most sections)")
    e.add_argument("--out", default="report",
                   help="output folder (default: report/); the section's figures go to OUT/NAME/, "
                        "and index.html and results.json list it beside an earlier report's "
                        "sections there")
    e.add_argument("--seed", type=_seed, default=0,
                   help="random seed of the section, an integer >= 0 (default 0)")
    e.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _figure_options(e)

    sub.add_parser("list", help="list the report sections")

    v = sub.add_parser("verify", help="check the package's divergences and W distances against "
                                      "their theorems (property-based; needs hypothesis)")
    v.add_argument("--quick", action="store_true", help="20 inputs per property instead of 100")
    v.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: derandomised)")

    b = sub.add_parser("bench", help="time the Wasserstein solvers against the installed peers "
                                     "(results.json and index.html in --out)")
    b.add_argument("suites", nargs="*", metavar="SUITE",
                   help="any of: wasserstein_1d sliced emd assignment sinkhorn sinkhorn_iter knn "
                        "(default: all)")
    b.add_argument("--quick", action="store_true", help="small sizes (under 2 minutes on 2 cores)")
    b.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                   help="auto: the GPU when CuPy sees one, else the CPU (default); gpu without "
                        "CuPy or a device exits with status 2")
    b.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    b.add_argument("--peers", default=None,
                   help="comma-separated: scipy,pot,universal-divergence,ott,geomloss "
                        "(default: every installed one); an empty list (--peers '') times "
                        "ours alone")
    b.add_argument("--out", default="bench", help="output folder (default: bench/)")
    b.add_argument("--repeat", type=_positive_int, default=None,
                   help="timed runs per implementation, at least 1 (default 3 with --quick, else 5)")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    b.add_argument("--compare", nargs=2, metavar=("A.json", "B.json"),
                   help="print two runs side by side instead of running (with no SUITE or "
                        "other option)")
    return p


def _bench(args) -> int:
    from . import bench

    try:
        if args.compare:
            if given := _run_options_given(args):
                print(f"kantorovich: `--compare` prints two earlier runs side by side and runs "
                      f"nothing: it takes no {', '.join(given)}.", file=sys.stderr)
                return 2
            try:
                text = bench.compare(*args.compare)
            except ValueError as exc:
                print(f"kantorovich: `--compare`: {exc}", file=sys.stderr)
                return 2
            print(text)
            return 0
        if (why := _out_error(args.out)) is not None:
            print(f"kantorovich: {why}", file=sys.stderr)
            return 2
        peers = None if args.peers is None else [p.strip() for p in args.peers.split(",") if p.strip()]
        # named as typed here (SUITE, --peers), not as bench.run's arguments
        for option, names, known in (("SUITE", args.suites, bench.SUITES), ("--peers", peers or [], bench.PEERS)):
            if unknown := [n for n in names if n not in known]:
                print(f"kantorovich: `{option}` must be among {', '.join(known)}; got "
                      f"{', '.join(map(repr, unknown))}.", file=sys.stderr)
                return 2
        res = bench.run(args.suites or None, quick=args.quick, device=args.device,
                        dtype=args.dtype, peers=peers, out=args.out, repeat=args.repeat,
                        progress=not args.no_progress and sys.stderr.isatty())
    except BrokenPipeError:  # the reader of stdout left: `main` ends quietly
        raise
    except (ValueError, RuntimeError, OSError) as exc:
        print(f"kantorovich: {exc}", file=sys.stderr)
        return 2
    print(bench.table(res))
    # a case where ours failed has no value to compare and no time: the run failed there
    ours_failed = sum("error" in c["impls"].get("ours", {}) for c in res["cases"])
    print(f"\nwrote {Path(args.out) / 'results.json'} and index.html: "
          f"{_count(len(res['cases']), 'case')}, "
          + (f"ours failed in {ours_failed}, " if ours_failed else "") + _peer_summary(res))
    return 1 if ours_failed else 0


# bench's options that set a run, with their defaults: --compare runs nothing, so any of them
# given beside it would be ignored
_BENCH_RUN_DEFAULTS = {"suites": [], "quick": False, "device": "auto", "dtype": "float64",
                       "peers": None, "out": "bench", "repeat": None, "no_progress": False}


def _run_options_given(args) -> list[str]:
    """The run options of ``kantorovich bench`` given beside ``--compare`` (SUITE, --quick, ...)."""
    return [("SUITE" if name == "suites" else "--" + name.replace("_", "-"))
            for name, default in _BENCH_RUN_DEFAULTS.items() if getattr(args, name) != default]


def _count(n: int, noun: str) -> str:
    """``"1 section"``, ``"3 sections"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _peer_summary(res: dict) -> str:
    """How the peers did in a bench run: disagreements and errors, or that none ran."""
    peer_runs = [(name, imp) for c in res["cases"] for name, imp in c["impls"].items() if name != "ours"]
    if not peer_runs:
        if not res["settings"]["peers"]:
            return "no peer ran (--peers is empty: ours alone)"
        if any("error" in c["impls"].get("ours", {}) for c in res["cases"]):
            return "no peer compared (a case where ours failed keeps no peer's value)"
        skipped = sorted({k["peer"] for k in res["skipped"]})
        return "no peer ran" + (f" (skipped: {', '.join(skipped)})" if skipped else "")
    bad = sum(not ag["agrees"] for c in res["cases"] for ag in c["agreement"].values())
    errors = sum("error" in imp for _, imp in peer_runs)
    parts = ([_count(bad, "disagreement")] if bad else []) + ([_count(errors, "peer error")] if errors else [])
    return ", ".join(parts) or "every peer agrees"


@contextlib.contextmanager
def _hypothesis_storage_elsewhere():
    """Hypothesis's storage folder (its constants and Unicode caches; the examples database is
    off) in a temporary folder for the run, not ``.hypothesis/`` in the working directory,
    unless ``HYPOTHESIS_STORAGE_DIRECTORY`` names one."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    from hypothesis import configuration

    previous = getattr(configuration, "__hypothesis_home_directory", None)
    with tempfile.TemporaryDirectory(prefix="kantorovich-hypothesis-") as tmp:
        configuration.set_hypothesis_home_dir(tmp)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(previous)


def _verify(args) -> int:
    try:
        from . import testing
    except ImportError as exc:
        print(f"kantorovich: {exc}", file=sys.stderr)
        return 2
    with _hypothesis_storage_elsewhere():
        results = testing.verify(quick=args.quick, seed=args.seed, progress=sys.stdout.isatty())
    print(testing.verify_table(results))
    failed = [(label, r) for label, rep in results for r in rep.failures()]
    n = sum(len(rep.properties) for _, rep in results)
    print(f"\n{n - len(failed)}/{n} properties hold, on "
          f"{sum(rep.examples for _, rep in results)} inputs in all")
    for label, r in failed:
        print(f"\n{label}: {r.name} ({r.theorem}) fails:\n{r.counterexample}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status.

    Output piped into a reader that stops early (``kantorovich bench --compare A B | head -3``)
    ends the command quietly with status 1, as Python's documentation recommends for a
    ``BrokenPipeError`` (the "Note on SIGPIPE" of the ``signal`` module): stdout goes to
    ``os.devnull`` so that the flush at exit has nowhere to fail, and no message is printed.

    Ctrl-C (a ``KeyboardInterrupt``) ends any command with one line on stderr, saying what was
    kept where there is something (``bench``: the cases finished), and status 130, the
    shell's 128 + SIGINT; no traceback. SIGTERM (``kill``, ``timeout``, a batch scheduler's
    time limit) is handled the same way, "terminated" and status 143 (128 + SIGTERM): bench
    writes the page of the cases finished rather than leaving ``results.json`` alone.
    """
    state = {"terminated": False}
    try:
        try:
            with _sigterm_as_interrupt(state):
                return _main(argv)
        finally:  # here, not at interpreter exit, so that a closed pipe is caught below
            sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt as exc:
        detail = str(exc)
        what = "terminated" if state["terminated"] else "interrupted"
        # on a terminal the line starts after the echoed ^C (or a progress bar), not beside it
        print(f"{chr(10) if sys.stderr.isatty() else ''}kantorovich: {what}"
              f"{f'; {detail}' if detail else ''}.", file=sys.stderr)
        return 143 if state["terminated"] else 130


@contextlib.contextmanager
def _sigterm_as_interrupt(state: dict):
    """SIGTERM raises ``KeyboardInterrupt`` in the main thread while the command runs (and
    sets ``state["terminated"]``), so that it ends as Ctrl-C does; the previous handler is put
    back after. Elsewhere than in the main thread (where Python allows no handler) nothing
    changes."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum, frame):
        state["terminated"] = True
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def _disagreeing_checks(res: dict, kept) -> tuple[list[str], list[str]]:
    """The checks of a report that do not agree, as ``section: result`` lines: those of the
    sections run now, and those kept from an earlier report."""
    now, earlier = [], []
    for name, entry in res["sections"].items():
        for c in entry["checks"]:
            if not c["agrees"]:
                (earlier if name in kept else now).append(f"{name}: {c['result']}")
    return now, earlier


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("report", "experiment"):
        from .report import run_report

        only = args.only if args.command == "report" else [args.name]
        scheduler = getattr(args, "scheduler", None)
        if (why := _out_error(args.out)) is not None:
            print(f"kantorovich: {why}", file=sys.stderr)
            return 2
        try:
            if scheduler is not None:
                from ._dask import check_client

                check_client(scheduler, "--scheduler", inproc=False)
            res = run_report(args.out, quick=args.quick, only=only, seed=args.seed,
                             show_progress=not getattr(args, "no_progress", False),
                             fig_format=args.fig_format, dpi=args.dpi, client=scheduler)
        except BrokenPipeError:  # the reader of stdout left: `main` ends quietly
            raise
        except (ValueError, TypeError, OSError, RuntimeError) as exc:
            print(f"kantorovich: {exc}", file=sys.stderr)
            return 2
        n = len(res["checks"])
        ok = sum(c["agrees"] for c in res["checks"])
        kept = res.get("kept", [])
        ran = _count(len(res["sections"]) - len(kept), "section")
        ran += f" run, {len(kept)} kept from the earlier report" if kept else ""
        print(f"wrote {Path(args.out) / 'index.html'} and results.json: {ran}, "
              f"{ok}/{n} checks agree, {res['seconds']:.1f} s")
        failed_now = [name for name in res["failed"] if name not in kept]
        failed_kept = [name for name in res["failed"] if name in kept]
        if failed_kept:
            print(f"failed sections kept from the earlier report: {', '.join(failed_kept)}", file=sys.stderr)
        if failed_now:
            print(f"failed sections: {', '.join(failed_now)}", file=sys.stderr)
        # a number that disagrees with its closed form is a result the package got wrong:
        # named, and exit status 1 (as `kantorovich verify`), when its section ran now
        differ_now, differ_kept = _disagreeing_checks(res, kept)
        if differ_kept:
            print(f"checks that disagree, kept from the earlier report: {'; '.join(differ_kept)}",
                  file=sys.stderr)
        if differ_now:
            print(f"checks that disagree with the closed form: {'; '.join(differ_now)}", file=sys.stderr)
        return 1 if failed_now or differ_now else 0
    if args.command == "list":
        from .report import list_sections

        sections = list_sections()
        width = max(len(s.name) for s in sections)  # the titles in one column, whatever the names
        for s in sections:
            print(f"{s.name:{width}s}  {s.title}")
        return 0
    if args.command == "verify":
        return _verify(args)
    if args.command == "bench":
        return _bench(args)
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
