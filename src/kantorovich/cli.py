"""Command line: ``kantorovich report | experiment NAME | list | bench [NAME]``.

``kantorovich report --quick --out report/`` runs every registered section at a quick size
(under about two minutes on 2 CPU cores) and writes ``report/index.html`` and
``report/results.json``. Without ``--quick`` the figures are made at publication size.
``--format svg|pdf`` and ``--dpi N`` write the figures for slides (PNG at 110 dpi by default).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def _figure_options(p: argparse.ArgumentParser) -> None:
    from .report import FIGURE_FORMATS

    p.add_argument("--format", dest="fig_format", choices=FIGURE_FORMATS, default="png",
                   help="figure file format (default png; svg or pdf for slides)")
    p.add_argument("--dpi", type=_positive_int, default=110,
                   help="figure resolution in dots per inch (default 110)")


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
    r.add_argument("--only", nargs="+", metavar="SECTION", help="run only these sections")
    r.add_argument("--seed", type=int, default=0, help="random seed of every section (default 0)")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    _figure_options(r)

    e = sub.add_parser("experiment", help="run one report section")
    e.add_argument("name", help="section name (see `kantorovich list`)")
    e.add_argument("--quick", action="store_true")
    e.add_argument("--out", default="report")
    e.add_argument("--seed", type=int, default=0)
    _figure_options(e)

    sub.add_parser("list", help="list the report sections")

    b = sub.add_parser("bench", help="run a benchmark script from ./benchmarks (JSON to benchmarks/results/)")
    b.add_argument("name", nargs="?", help="benchmark name (file benchmarks/bench_NAME.py); none lists them")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("report", "experiment"):
        from .report import run_report

        only = args.only if args.command == "report" else [args.name]
        try:
            res = run_report(args.out, quick=args.quick, only=only, seed=args.seed,
                             show_progress=not getattr(args, "no_progress", False),
                             fig_format=args.fig_format, dpi=args.dpi)
        except ValueError as exc:
            print(f"kantorovich: {exc}", file=sys.stderr)
            return 2
        n = len(res["checks"])
        ok = sum(c["agrees"] for c in res["checks"])
        print(f"wrote {Path(args.out) / 'index.html'} and results.json: {len(res['sections'])} sections, "
              f"{ok}/{n} checks agree, {res['seconds']:.1f} s")
        if res["failed"]:
            print(f"failed sections: {', '.join(res['failed'])}", file=sys.stderr)
            return 1
        return 0
    if args.command == "list":
        from .report import list_sections

        for s in list_sections():
            print(f"{s.name:24s} {s.title}")
        return 0
    if args.command == "bench":
        bdir = Path("benchmarks")
        scripts = sorted(bdir.glob("bench_*.py")) if bdir.is_dir() else []
        if not args.name:
            if not scripts:
                print("no benchmarks/ folder here: run from a clone of the repository", file=sys.stderr)
                return 2
            for s in scripts:
                print(s.stem[len("bench_"):])
            return 0
        script = bdir / f"bench_{args.name}.py"
        if not script.exists():
            print(f"kantorovich: no benchmark {args.name!r}; choose from "
                  f"{[s.stem[6:] for s in scripts]}", file=sys.stderr)
            return 2
        return subprocess.call([sys.executable, str(script), *args.args], env=os.environ.copy())
    return 2  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
