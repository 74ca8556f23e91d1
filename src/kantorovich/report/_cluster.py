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

import re
import tempfile
import threading
import traceback
import uuid
from pathlib import Path
from typing import Any

from .._validation import describe, require_distributed

# A worker process with several threads would run sections side by side in one interpreter,
# where pyplot's figure registry and `warnings.catch_warnings` are shared: sections in one
# process therefore take turns (start workers with one thread each to use every core).
_ONE_SECTION_PER_PROCESS = threading.Lock()

# Dask priority of the calls of ``Context.map`` (the sections' priorities are their seconds)
_CALL_PRIORITY = 10**9

# the schemes of Dask's network transports (``inproc://`` addresses exist only inside the
# process that made them)
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "ucxx")
# [scheme://]host[:port], the host a name, an IPv4 address or a bracketed IPv6 address (the port
# is required: matched as optional only so that a missing one gets its own message)
_ADDRESS = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
                      r"(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d+))?/?$")
_LOCAL = re.compile(r"^local(?::(.*))?$")


def parse_scheduler(value: Any, name: str) -> tuple[str, int | None]:
    """``("local", n_workers or None)`` for ``local[:N]``, else ``(address, None)``.

    An address is ``[scheme://]host:port``: the scheme one of Dask's network transports
    (tcp when left out), the host a name, an IPv4 address or a bracketed IPv6 address, and
    the port required (Dask's client has no default port; ``dask scheduler`` listens on 8786).
    Raises ValueError/TypeError naming ``name`` for anything else.
    """
    if not isinstance(value, str):
        raise TypeError(f"`{name}` must be a scheduler address such as 'tcp://10.0.0.1:8786' or "
                        f"'local[:N]'; got {describe(value)}.")
    text = value.strip()
    local = _LOCAL.match(text)
    if local:
        n = local.group(1)
        if n is None:
            return "local", None
        if n.isdigit() and int(n) >= 1:
            return "local", int(n)
        raise ValueError(f"`{name}` must be local:N with N, the number of workers, a positive integer; "
                         f"got {value!r}.")
    m = _ADDRESS.match(text)
    if not m:
        raise ValueError(f"`{name}` must be a Dask scheduler address [scheme://]host:port such as "
                         f"'tcp://10.0.0.1:8786' (or 'local[:N]' for N worker processes on this "
                         f"machine); got {value!r}.")
    scheme, host, port = m.group("scheme"), m.group("host"), m.group("port")
    if scheme is not None and scheme.lower() not in _SCHEMES:
        raise ValueError(f"`{name}` must be an address with one of the schemes {', '.join(_SCHEMES)} "
                         f"(or none: tcp); got {value!r}.")
    if port is None:
        raise ValueError(f"`{name}` must include the scheduler's port: Dask has no default one "
                         f"(`dask scheduler` listens on 8786 unless told otherwise: "
                         f"'{(scheme or 'tcp').lower()}://{host}:8786'); got {value!r}.")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"`{name}` must have a port from 1 to 65535; got {value!r}.")
    address = text.rstrip("/")
    return address if scheme is None else scheme.lower() + address[len(scheme):], None


def open_client(client: Any, name: str = "client"):
    """(Client, close) for a Client (left open), an address or ``local[:N]`` (closed by ``close``)."""
    require_distributed(name)
    from distributed import Client

    if isinstance(client, Client):
        return client, lambda: None
    address, n_workers = parse_scheduler(client, name)
    if address != "local":
        try:
            cl = Client(address, timeout="20s")
        except Exception as exc:  # noqa: BLE001 - a refused or unreachable address, whatever the transport raises
            raise OSError(f"no Dask scheduler answered at {address!r} "
                          f"({str(exc) or type(exc).__name__}).") from None
        return cl, cl.close
    import logging

    from distributed import LocalCluster

    cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                           dashboard_address=":0", silence_logs=logging.ERROR)
    cl = Client(cluster)

    def close():
        cl.close()
        cluster.close()

    return cl, close


def describe_client(client) -> dict:
    """The scheduler's address and its workers and threads now (for ``results.json``)."""
    threads = client.nthreads()
    return {"scheduler": client.scheduler.address, "workers": len(threads),
            "threads": int(sum(threads.values()))}


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
            bar.set_postfix_str(name)
            bar.update(1)
        if not todo:
            break
    return entries
