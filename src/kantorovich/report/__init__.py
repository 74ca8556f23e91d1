"""The report: registered sections, each writing figures and numbers.

A section is a function ``f(ctx: Context) -> None`` registered with :func:`register`. It
computes, and records: figures drawn by :mod:`kantorovich.plots` from its data
(``ctx.figure``), numbers (``ctx.number``), checks against closed forms (``ctx.check``),
tables (``ctx.table``) and a one-line verdict computed from its numbers (``ctx.verdict``).
:func:`run_report` runs them in order with a progress bar and writes ``OUT/index.html``,
``OUT/results.json`` and, per section, ``OUT/<section>/results.json`` beside its figures
(PNG at 110 dpi by default; SVG or PDF, and any dpi, for slides).
"""

from __future__ import annotations

import contextlib
import html
import importlib
import json
import math
import os
import platform
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from .._progress import advance, label, open_bar, progress_bar
from .._results import _jsonable
from .._validation import check_choice, check_int, check_out_dir

__all__ = ["register", "Context", "run_report", "list_sections", "FIGURE_FORMATS", "SECTION_MODULES"]

#: figure file formats of the report (matplotlib writes each; an HTML page shows PNG and SVG
#: inline and links PDF)
FIGURE_FORMATS = ("png", "svg", "pdf")

# Modules holding the sections, imported in this order. Each later issue owns one module.
SECTION_MODULES = (
    "kantorovich.report.sections.foundation",
    "kantorovich.report.sections.emd1d",
    "kantorovich.report.sections.emd_exact",
    "kantorovich.report.sections.sinkhorn",
    "kantorovich.report.sections.estimators",
    "kantorovich.report.sections.theory",
    "kantorovich.report.sections.theory_games",
    "kantorovich.report.sections.theory_ot",
    "kantorovich.report.sections.auction",
)


@dataclass(frozen=True)
class SectionSpec:
    name: str
    title: str
    func: Callable[["Context"], None]
    order: float
    description: str = ""


_REGISTRY: dict[str, SectionSpec] = {}


def register(name: str, *, title: str, order: float = 100.0, description: str = ""):
    """Decorator registering a report section under ``name`` (also its output folder)."""

    def deco(func):
        if name in _REGISTRY and _REGISTRY[name].func is not func:
            raise ValueError(f"report section {name!r} is registered twice")
        _REGISTRY[name] = SectionSpec(name, title, func, order, description or (func.__doc__ or "").strip())
        return func

    return deco


def _load() -> None:
    for mod in SECTION_MODULES:
        importlib.import_module(mod)


def list_sections() -> list[SectionSpec]:
    """All registered sections in report order."""
    _load()
    return sorted(_REGISTRY.values(), key=lambda s: (s.order, s.name))


def _close(a: float, b: float, rtol: float, atol: float) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isinf(a) and math.isinf(b):
        return (a > 0) == (b > 0)
    return bool(np.isclose(a, b, rtol=rtol, atol=atol))


@dataclass
class Context:
    """What a section gets: its output folder, the mode, a seed, and recorders."""

    name: str
    out_dir: Path
    quick: bool = True
    seed: int = 0
    show_progress: bool = True
    fig_format: str = "png"
    dpi: int = 110
    figures: list = field(default_factory=list)
    numbers: dict = field(default_factory=dict)
    checks: list = field(default_factory=list)
    tables: list = field(default_factory=list)
    verdicts: list = field(default_factory=list)
    #: runs the calls of :meth:`map` (None: one after the other, here)
    mapper: Callable | None = field(default=None, repr=False, compare=False)

    def rng(self, offset: int = 0) -> np.random.Generator:
        """A Generator seeded from the report seed, the section name and ``offset``."""
        key = [self.seed, offset] + [ord(c) for c in self.name]
        return np.random.default_rng(key)

    def size(self, quick, full):
        """Pick a size by mode: ``ctx.size(200, 5000)``."""
        return quick if self.quick else full

    def figure(self, fig, filename: str, caption: str = "") -> Path:
        """Save a matplotlib figure in the section folder and close it.

        The file is ``filename`` with the report's format as its suffix (``fig_format``,
        PNG by default) at the report's ``dpi``.
        """
        import matplotlib.pyplot as plt

        filename = Path(filename).with_suffix("." + self.fig_format).name
        path = self.out_dir / filename
        fig.savefig(path, format=self.fig_format, dpi=self.dpi, bbox_inches="tight")
        plt.close(fig)
        self.figures.append({"file": f"{self.name}/{filename}", "caption": caption})
        return path

    def number(self, key: str, value: Any) -> Any:
        self.numbers[key] = _jsonable(value)
        return value

    def check(self, result: str, closed_form: Any, computed: Any, *, agrees: bool | None = None,
              rtol: float = 1e-9, atol: float = 1e-12, source: str = "",
              tolerance: str | None = None) -> bool:
        """Record a "result / closed form / computed / agrees" row.

        ``agrees`` defaults to ``isclose(computed, closed_form, rtol, atol)`` for numbers, and
        the row's tolerance is then ``rtol`` and ``atol``. A given ``agrees`` is the result's
        own criterion: the row says so, or gives ``tolerance`` (rtol and atol are not used, so
        they are not shown).
        """
        if tolerance is None:
            tolerance = (f"rtol={rtol:g}, atol={atol:g}" if agrees is None
                         else "the criterion stated in the result")
        if agrees is None:
            try:
                agrees = _close(float(computed), float(closed_form), rtol, atol)
            except (TypeError, ValueError):
                agrees = computed == closed_form
        self.checks.append({
            "section": self.name,
            "result": result,
            "closed_form": _jsonable(closed_form),
            "computed": _jsonable(computed),
            "agrees": bool(agrees),
            "tolerance": tolerance,
            "source": source,
        })
        return bool(agrees)

    def table(self, title: str, columns: list[str], rows: list[list[Any]]) -> None:
        self.tables.append({"title": title, "columns": list(columns),
                            "rows": [[_jsonable(c) for c in r] for r in rows]})

    def verdict(self, text: str) -> None:
        self.verdicts.append(text)

    def progress(self, iterable: Iterable | None = None, *, total: int | None = None, desc: str = ""):
        """``iterable`` wrapped in a progress bar (silent when not on a terminal or when
        disabled: then ``iterable`` itself)."""
        bar = progress_bar(self.show_progress, iterable=iterable, total=total,
                           desc=desc or self.name, terminal_only=True)
        return iterable if bar is None else bar

    def map(self, func: Callable, calls: list[dict]) -> list:
        """``[func(**kw) for kw in calls]``, for independent calls (own seeded generators).

        In a run with a Dask client (``run_report(client=)``) the calls are tasks on the same
        cluster, and a ``progress`` argument is left out there; the results are the same.
        """
        if self.mapper is None:
            return [func(**kw) for kw in calls]
        return self.mapper(func, [{k: v for k, v in kw.items() if k != "progress"} for kw in calls])

    def to_dict(self) -> dict:
        return {"figures": self.figures, "numbers": self.numbers, "checks": self.checks,
                "tables": self.tables, "verdicts": self.verdicts}


def run_report(out: str | os.PathLike = "report", *, quick: bool = True, only: list[str] | None = None,
               seed: int = 0, show_progress: bool = True, fig_format: str = "png", dpi: int = 110,
               client: Any = None, retries: int = 2) -> dict:
    """Run the registered sections and write ``index.html`` and ``results.json`` under ``out``.

    ``seed`` (an integer >= 0) seeds every section's generators (:meth:`Context.rng`).
    ``fig_format`` (one of :data:`FIGURE_FORMATS`) and ``dpi`` set the figure files (PDF or
    SVG for slides; the dpi then sets only their embedded raster parts). Returns the results
    dictionary. A section that raises is recorded with its traceback and the others still
    run; ``results["failed"]`` lists the failures.

    ``client`` (a ``dask.distributed.Client``, a scheduler address such as
    ``'tcp://10.0.0.1:8786'``, or ``'local[:N]'`` for a local cluster of N worker processes)
    runs each section as one Dask task; the files written are those of the serial run, with
    the same numbers (docs/report_cluster.md, "The report on a Dask cluster"). A task whose
    worker died is rescheduled by Dask and then submitted again, ``retries`` rounds at most,
    before its section is recorded as failed. With an earlier ``OUT/results.json``, its
    section times start the longest sections first.

    With ``only``, a folder holding an earlier report keeps it: the sections run now replace
    their entries in ``OUT/results.json`` and the others stay as they were, so ``index.html``
    lists them all, in report order (``results["kept"]`` names those kept). That needs the
    earlier ``results.json`` to be readable and made by this kantorovich version with the same
    mode, seed, figure format and dpi; otherwise a line on stderr says why, and ``index.html``
    and ``results.json`` hold only the sections run now.
    """
    import matplotlib

    seed = check_int(seed, "seed", minimum=0)  # numpy's generators take no negative seed
    fig_format = check_choice(fig_format, "fig_format", FIGURE_FORMATS)
    dpi = check_int(dpi, "dpi", minimum=1, maximum=10_000)
    retries = check_int(retries, "retries", minimum=0)
    matplotlib.use("Agg")

    specs = list_sections()
    if only:
        known = {s.name for s in specs}
        unknown = [n for n in only if n not in known]
        if unknown:
            raise ValueError(f"unknown report section(s) {unknown}; choose from {sorted(known)}.")
        specs = [s for s in specs if s.name in only]
    out = check_out_dir(out, "out")  # a file there, or nowhere to make it: said before any work
    close = None
    if client is not None:  # checked (and connected to) before anything is written
        from .._dask import describe_client, open_client

        client, close = open_client(client)
    try:
        # the folder is created only once the section names (and the client) are known to be valid
        priority = _earlier_seconds(out / "results.json") if client is not None else {}
        earlier = (_earlier_sections(out / "results.json", quick=quick, seed=seed, fig_format=fig_format,
                                     dpi=dpi) if only else {})
        out.mkdir(parents=True, exist_ok=True)
        before = {spec.name: _listed_figures(out / spec.name / "results.json") for spec in specs}
        results: dict[str, Any] = {
            "kantorovich_version": _version(),
            "mode": "quick" if quick else "full",
            "seed": seed,
            "figure_format": fig_format,
            "dpi": dpi,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            "python": platform.python_version(),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "cluster": None if client is None else describe_client(client),
            "sections": {},
            "checks": [],
            "failed": [],
        }
        t_all = time.perf_counter()
        with open_bar(show_progress, total=len(specs), desc="kantorovich report", unit="section",
                      leave=True, terminal_only=True) as bar:
            if client is None:
                entries = {}
                for spec in specs:
                    label(bar, spec.name)
                    sdir = out / spec.name
                    sdir.mkdir(parents=True, exist_ok=True)
                    entries[spec.name] = _write_entry(sdir, _run_section(
                        spec, sdir, quick=quick, seed=seed, show_progress=show_progress,
                        fig_format=fig_format, dpi=dpi))
                    advance(bar)
            else:
                from ._cluster import run_on_client

                entries = run_on_client(client, specs, out, quick=quick, seed=seed, fig_format=fig_format,
                                        dpi=dpi, retries=retries, priority=priority, bar=bar)
        seconds = round(time.perf_counter() - t_all, 3)
    finally:
        if close is not None:
            close()
    # figures an earlier run of a section listed that this run did not draw again (another
    # --format, a figure since renamed): removed, so a folder holds one report's figures
    for name, entry in entries.items():
        now = {f["file"] for f in entry["figures"]}
        for file in before.get(name, set()) - now:
            with contextlib.suppress(OSError):
                (out / file).unlink()
    # in report order, wherever and whenever each section ran; an earlier report's sections
    # that were not run now are kept (sections no longer registered go last)
    kept = {name: entry for name, entry in earlier.items() if name not in entries}
    order = [s.name for s in list_sections()]
    names = [n for n in order if n in entries or n in kept] + [n for n in kept if n not in order]
    for name in names:
        entry = entries[name] if name in entries else kept[name]
        results["sections"][name] = entry
        results["checks"].extend(entry["checks"])
        if entry["error"]:
            results["failed"].append(name)
    results["kept"] = [n for n in names if n in kept]
    results["seconds"] = seconds
    results["all_checks_agree"] = all(c["agrees"] for c in results["checks"])
    (out / "results.json").write_text(json.dumps(results, indent=2, allow_nan=False))
    (out / "index.html").write_text(_html(results))
    return results


def _run_section(spec: SectionSpec, sdir: Path, *, quick: bool, seed: int, show_progress: bool,
                 fig_format: str, dpi: int, mapper: Callable | None = None) -> dict:
    """Run one section with its figures going to ``sdir``: its ``results.json`` entry."""
    ctx = Context(spec.name, sdir, quick=quick, seed=seed, show_progress=show_progress,
                  fig_format=fig_format, dpi=dpi, mapper=mapper)
    t0 = time.perf_counter()
    error = None
    try:
        spec.func(ctx)
    except Exception:  # a failing section is reported, the rest still run
        error = traceback.format_exc()
    return {"title": spec.title, "description": spec.description,
            "seconds": round(time.perf_counter() - t0, 3), "error": error, **ctx.to_dict()}


def _write_entry(sdir: Path, entry: dict) -> dict:
    """Write a section's ``results.json`` (and say on stderr if it failed)."""
    if entry["error"]:
        print(f"\n[kantorovich report] section {sdir.name!r} failed:\n{entry['error']}", file=sys.stderr)
    (sdir / "results.json").write_text(json.dumps(entry, indent=2, allow_nan=False))
    return entry


def _listed_figures(path: Path) -> set[str]:
    """The figure files (relative to the report folder) a section's ``results.json`` lists; only
    names inside that section's folder, with a figure format's suffix, are taken."""
    try:
        entry = json.loads(path.read_text())
        files = {str(f["file"]) for f in entry["figures"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return set()
    section = path.parent.name
    return {f for f in files
            if Path(f).parent == Path(section) and Path(f).suffix.lstrip(".") in FIGURE_FORMATS}


def _earlier_seconds(path: Path) -> dict[str, float]:
    """Section times of an earlier run in the same folder (Dask priorities: longest first)."""
    try:
        sections = json.loads(path.read_text())["sections"]
        return {k: float(v["seconds"]) for k, v in sections.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return {}


_ENTRY_KEYS = frozenset({"title", "description", "seconds", "error", "figures", "numbers", "checks",
                         "tables", "verdicts"})


def _is_entry(e: Any) -> bool:
    """Whether ``e`` is a section's entry as a run writes it: its fields, of the types that the
    merge and the page read (an edited one would fail there, after the new sections ran)."""
    def dicts(v, *keys):
        return isinstance(v, list) and all(isinstance(x, dict) and set(keys) <= x.keys() for x in v)

    return (isinstance(e, dict) and _ENTRY_KEYS <= e.keys()
            and isinstance(e["title"], str) and isinstance(e["description"], str)
            and isinstance(e["seconds"], (int, float)) and not isinstance(e["seconds"], bool)
            and (e["error"] is None or isinstance(e["error"], str))
            and dicts(e["figures"], "file", "caption")
            and dicts(e["checks"], "result", "closed_form", "computed", "agrees", "tolerance", "source")
            and dicts(e["tables"], "title", "columns", "rows")
            and all(isinstance(t["columns"], list) and isinstance(t["rows"], list)
                    and all(isinstance(r, list) for r in t["rows"]) for t in e["tables"])
            and isinstance(e["numbers"], dict)
            and isinstance(e["verdicts"], list) and all(isinstance(v, str) for v in e["verdicts"]))


def _earlier_sections(path: Path, *, quick: bool, seed: int, fig_format: str, dpi: int) -> dict[str, dict]:
    """The sections of an earlier report at ``path`` that a run of some sections keeps.

    ``{}`` when there is none; also ``{}``, with a line on stderr saying why, when the file
    cannot be read, is not a report's ``results.json`` of this version, or was made with
    another mode, seed, figure format or dpi (its sections would not match the new ones).
    """
    if not path.exists():
        return {}
    why = None
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        why = f"cannot be read ({exc.strerror or exc})"
    except ValueError as exc:  # UnicodeDecodeError included
        why = f"is not JSON ({exc})"
    except RecursionError:  # JSON nested deeper than Python's parser goes: no report's file
        why = "is not JSON that can be read (nested too deeply)"
    else:
        sections = earlier.get("sections") if isinstance(earlier, dict) else None
        if not (isinstance(sections, dict) and all(_is_entry(e) for e in sections.values())):
            why = "is not the results.json of a kantorovich report"
        elif earlier.get("kantorovich_version") != _version():
            why = (f"is from kantorovich {earlier.get('kantorovich_version')}, "
                   f"not this version ({_version()})")
        else:
            now = {"mode": "quick" if quick else "full", "seed": seed, "figure_format": fig_format,
                   "dpi": dpi}
            differ = [f"{k} {earlier.get(k)!r} (now {v!r})" for k, v in now.items() if earlier.get(k) != v]
            if differ:
                why = "was made with another " + ", ".join(differ)
    if why is not None:
        print(f"[kantorovich report] the earlier {path} {why}: index.html and results.json list "
              f"only the sections run now.", file=sys.stderr)
        return {}
    return sections


def _version() -> str:
    from .. import __version__

    return __version__


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, bool):
        return "yes" if v else "NO"
    return html.escape(str(v))


def _html(results: dict) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>kantorovich report</title>",
        "<style>body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;"
        "color:#222}img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:3px 8px;font-size:90%}th{background:#f3f3f3}"
        ".no{color:#b00;font-weight:bold}.yes{color:#070}.verdict{background:#f6f8ff;padding:.5em;"
        "border-left:4px solid #46f}.err{background:#fee;white-space:pre-wrap;font-size:80%}"
        "figure{margin:1em 0}figcaption{font-size:90%;color:#555}</style></head><body>",
        "<h1>kantorovich report</h1>",
        f"<p>Mode <b>{e(results['mode'])}</b>, seed {results['seed']}, created {e(results['created'])}, "
        f"kantorovich {e(results['kantorovich_version'])}, Python {e(results['python'])}, "
        f"{e(results['machine'])}; total {results['seconds']:.1f} s{_cluster_note(results)}.</p>",
    ]
    if results.get("kept"):
        parts.append(f"<p>Run now: {e(', '.join(k for k in results['sections'] if k not in results['kept']))}; "
                     f"kept from an earlier run in this folder: {e(', '.join(results['kept']))}.</p>")
    n_ok = sum(c["agrees"] for c in results["checks"])
    parts.append(f"<p>{n_ok} of {len(results['checks'])} checks agree with the closed form."
                 + (f" <span class='no'>Failed sections: {e(', '.join(results['failed']))}</span>"
                    if results["failed"] else "") + "</p>")
    parts.append("<h2>Contents</h2><ol>" + "".join(
        f"<li><a href='#{e(k)}'>{e(s['title'])}</a> ({s['seconds']:.1f} s)</li>"
        for k, s in results["sections"].items()) + "<li><a href='#checks'>All checks</a></li></ol>")
    for key, s in results["sections"].items():
        parts.append(f"<h2 id='{e(key)}'>{e(s['title'])}</h2>")
        if s["description"]:
            parts.append(f"<p>{e(s['description'])}</p>")
        for v in s["verdicts"]:
            parts.append(f"<p class='verdict'>{e(v)}</p>")
        if s["error"]:
            parts.append(f"<div class='err'>{e(s['error'])}</div>")
        for fig in s["figures"]:
            parts.append(_figure_html(fig["file"], fig["caption"]))
        for t in s["tables"]:
            parts.append(_table_html(t["title"], t["columns"], t["rows"]))
        if s["checks"]:
            parts.append(_checks_html(s["checks"]))
        if s["numbers"]:
            parts.append(_table_html("Numbers", ["quantity", "value"],
                                     [[k, v] for k, v in s["numbers"].items()]))
    parts.append("<h2 id='checks'>All checks: result / closed form / computed / agrees</h2>")
    parts.append(_checks_html(results["checks"]))
    parts.append("</body></html>")
    return "\n".join(parts)


def _cluster_note(results: dict) -> str:
    cl = results.get("cluster")
    if not cl:
        return ""
    busy = sum(s["seconds"] for s in results["sections"].values())
    return (f" with the sections as Dask tasks on {cl['workers']} worker(s), {cl['threads']} thread(s) "
            f"({html.escape(cl['scheduler'])}); the sections' own times add up to {busy:.1f} s")


def _figure_html(file: str, caption: str) -> str:
    """A figure: PNG and SVG shown by ``<img>``, PDF embedded with a link as its fallback."""
    e = html.escape
    if file.endswith(".pdf"):
        body = (f"<object data='{e(file)}' type='application/pdf' width='100%' height='520'>"
                f"<a href='{e(file)}'>{e(file)}</a></object><br><a href='{e(file)}'>{e(file)}</a>")
    else:
        body = f"<img src='{e(file)}' alt='{e(caption)}'>"
    return f"<figure>{body}<figcaption>{e(caption)}</figcaption></figure>"


def _table_html(title: str, columns: list, rows: list) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><caption>{e(title)}</caption><tr>{head}</tr>{body}</table>"


def _checks_html(checks: list) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(c['result'])}</td><td>{_cell(c['closed_form'])}</td><td>{_cell(c['computed'])}</td>"
        f"<td class='{'yes' if c['agrees'] else 'no'}'>{'yes' if c['agrees'] else 'NO'}</td>"
        f"<td>{e(c['tolerance'])}</td><td>{e(c['source'])}</td></tr>" for c in checks)
    return ("<table><tr><th>result</th><th>closed form</th><th>computed</th><th>agrees</th>"
            f"<th>tolerance</th><th>source</th></tr>{rows}</table>")
