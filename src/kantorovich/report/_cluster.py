"""The report's sections as Dask tasks: ``kantorovich report --scheduler ADDRESS | local[:N]``.

Each section is one task. The task runs the section on a worker in a folder of its own and
returns what the section recorded (numbers, checks, tables, verdicts, its time and error)
with the bytes of the figure files it wrote; the client writes them where the serial run
writes them, and :func:`kantorovich.report.run_report` assembles ``results.json`` and
``index.html`` in report order, as it does serially. A section's random numbers come from
:meth:`Context.rng`, seeded by the report seed and the section's name, so where it runs does
not change them.
"""

from __future__ import annotations

import tempfile
import threading
import traceback
import uuid
from pathlib import Path

from .._progress import advance

# A worker process with several threads would run sections side by side in one interpreter,
# where pyplot's figure registry and `warnings.catch_warnings` are shared: sections in one
# process therefore take turns (start workers with one thread each to use every core).
_ONE_SECTION_PER_PROCESS = threading.Lock()

# Dask priority of the calls of ``Context.map`` (the sections' priorities are their seconds)
_CALL_PRIORITY = 10**9

def section_task(name: str, quick: bool, seed: int, fig_format: str, dpi: int, version: str):
    """Run one section on a worker: (its results entry, {figure file name: bytes})."""
    from .. import __version__
    from . import _run_section, list_sections

    if __version__ != version:
        raise RuntimeError(f"this worker has kantorovich {__version__}, the client {version}: "
                           f"install the same version on every worker.")
    spec = {s.name: s for s in list_sections()}[name]
    with _ONE_SECTION_PER_PROCESS, tempfile.TemporaryDirectory(prefix=f"kantorovich-{name}-") as tmp:
        entry = _run_section(spec, Path(tmp), quick=quick, seed=seed, show_progress=False,
                             fig_format=fig_format, dpi=dpi, mapper=_map_on_cluster)
        files = {p.name: p.read_bytes() for p in sorted(Path(tmp).iterdir()) if p.is_file()}
    return entry, files


def _map_on_cluster(func, calls: list[dict]) -> list:
    """``Context.map`` inside a section's task: the calls as tasks on the same cluster.

    The section's thread leaves the worker's pool while it waits (``worker_client``), and its
    process lets another section run meanwhile (it computes nothing itself until the calls
    are back), so a worker with one thread can run the calls and nothing waits on itself.
    """
    from distributed import worker_client

    _ONE_SECTION_PER_PROCESS.release()
    try:
        with worker_client() as client:
            # ahead of the sections still queued: the section waiting on them holds its place
            return client.gather([client.submit(func, pure=False, priority=_CALL_PRIORITY, **kw)
                                  for kw in calls])
    finally:
        _ONE_SECTION_PER_PROCESS.acquire()


def run_on_client(client, specs, out: Path, *, quick: bool, seed: int, fig_format: str, dpi: int,
                  retries: int, priority: dict[str, float], bar) -> dict[str, dict]:
    """Every section in ``specs`` as a task on ``client``; returns {name: entry}.

    A section that raises on its worker comes back with its traceback, as in the serial run.
    A task the cluster lost (its worker died each time Dask rescheduled it) is submitted
    again, ``retries`` rounds at most, and then recorded as a failed section: none is missing.
    """
    from distributed import as_completed

    from .. import __version__
    from ..ot._pairwise import _lost
    from . import _write_entry

    by_name = {s.name: s for s in specs}
    entries: dict[str, dict] = {}

    def submit(name):
        return client.submit(section_task, name, quick, seed, fig_format, dpi, __version__,
                             key=f"kantorovich-report-{name}-{uuid.uuid4().hex[:8]}", pure=False,
                             priority=priority.get(name, 0.0))

    todo = [s.name for s in specs]
    for round_ in range(retries + 1):
        futs = {submit(n): n for n in todo}
        todo = []
        for f in as_completed(list(futs)):
            name = futs[f]
            try:
                entry, files = f.result()
            except Exception as exc:  # noqa: BLE001 - recorded as that section's failure
                if _lost(exc) and round_ < retries:
                    todo.append(name)
                    continue
                how = (f"lost by the Dask cluster in {retries + 1} rounds (its worker died each time)"
                       if _lost(exc) else "failed on its worker before the section ran")
                error = f"section {name!r} {how}:\n" + "".join(traceback.format_exception(exc))
                spec = by_name[name]
                entry, files = {"title": spec.title, "description": spec.description, "seconds": 0.0,
                                "error": error, "figures": [], "numbers": {}, "checks": [],
                                "tables": [], "verdicts": []}, {}
            sdir = out / name
            sdir.mkdir(parents=True, exist_ok=True)
            for fname, data in files.items():
                (sdir / fname).write_bytes(data)
            entries[name] = _write_entry(sdir, entry)
            advance(bar, 1, name)
        if not todo:
            break
    return entries
