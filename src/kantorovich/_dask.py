"""Dask clients from what a user passes: a ``dask.distributed.Client``, a scheduler address or
``local[:N]``, checked before anything connects. Used by :func:`kantorovich.ot.pairwise_wasserstein`
(``client=``) and by the report (``kantorovich report --scheduler``)."""

from __future__ import annotations

import re
from typing import Any

from ._validation import describe, require_distributed

# the schemes of Dask's network transports (``inproc://`` addresses exist only inside the
# process that made them: taken from Python callers, not on the command line)
_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx", "ucxx")
# [scheme://]host[:port], the host a name, an IPv4 address or a bracketed IPv6 address (the port
# is required: matched as optional only so that a missing one gets its own message)
_ADDRESS = re.compile(r"^(?:(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://)?"
                      r"(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(?P<port>\d+))?/?$")
_LOCAL = re.compile(r"^local(?::(.*))?$")


def parse_scheduler(value: str, name: str, inproc: bool = False) -> tuple[str, int | None]:
    """``("local", n_workers or None)`` for ``local[:N]``, else ``(address, None)``.

    An address is ``[scheme://]host:port``: the scheme one of Dask's network transports
    (tcp when left out), the host a name, an IPv4 address or a bracketed IPv6 address, and
    the port required (Dask's client has no default port; ``dask scheduler`` listens on 8786).
    With ``inproc``, an ``inproc://`` address (a scheduler in this process, such as
    ``LocalCluster(processes=False)``'s) is taken as it is.
    Raises ValueError naming ``name`` for anything else (:func:`check_client` has checked that
    ``value`` is a string).
    """
    text = value.strip()
    if inproc and text.lower().startswith("inproc://"):
        return text, None
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


def check_client(client: Any, name: str = "client", inproc: bool = True) -> tuple[str, int | None] | None:
    """Check ``client`` without connecting: dask.distributed installed, and an open Client (None
    is returned; a closed one is a ValueError) or a well-formed address / ``local[:N]`` (what
    :func:`parse_scheduler` returns; ``inproc`` as there, on for Python callers)."""
    require_distributed(name)
    from distributed import Client

    if isinstance(client, Client):
        # a closed Client has no scheduler connection left: its first scatter or submit failed
        # deep inside Dask ("'NoneType' object has no attribute 'scatter'")
        if client.status in ("closing", "closed", "failed"):
            raise ValueError(f"`{name}` is a dask.distributed.Client that is {client.status}: "
                             "pass an open Client, or the scheduler's address to connect anew.")
        return None
    if not isinstance(client, str):
        raise TypeError(f"`{name}` must be a dask.distributed.Client, a scheduler address such as "
                        f"'tcp://10.0.0.1:8786' or 'local[:N]'; got {describe(client)}.")
    return parse_scheduler(client, name, inproc)


def open_client(client: Any, name: str = "client"):
    """(Client, close) for a Client (left open), an address or ``local[:N]`` (closed by ``close``).
    An address where no scheduler answers within 20 s is an OSError naming it."""
    parsed = check_client(client, name)
    if parsed is None:
        return client, lambda: None
    from distributed import Client

    address, n_workers = parsed
    if address != "local":
        inproc = address.lower().startswith("inproc://")
        if inproc and (why := _inproc_elsewhere(address[len("inproc://"):])) is not None:
            raise OSError(f"no Dask scheduler answered at {address!r}: {why}.")
        try:
            cl = Client(address, timeout="20s")
        except Exception as exc:  # noqa: BLE001 - a refused or unreachable address, whatever the transport raises
            if inproc:
                raise OSError(f"no Dask scheduler answered at {address!r}: none listens there in this "
                              f"process (it was closed, or never started).") from None
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


def _inproc_elsewhere(location: str) -> str | None:
    """Why the ``inproc://`` address ``location`` (``HOST/PID/N`` as Dask writes them) cannot
    reach a scheduler in this process, or None if it might: an inproc scheduler is reached only
    from the process that started it (``LocalCluster(processes=False)``)."""
    import os

    parts = location.split("/")
    if len(parts) != 3 or not parts[1].isdigit():
        return ("an inproc address names a scheduler started in this process, as "
                "'inproc://HOST/PID/N' (LocalCluster(processes=False).scheduler_address); "
                "this one is not of that form")
    if int(parts[1]) != os.getpid():
        return (f"it names process {parts[1]}, not this one ({os.getpid()}), and an inproc "
                f"scheduler is reached only from the process that started it")
    return None


def describe_client(client) -> dict:
    """The scheduler's address and its workers and threads now (for ``results.json``)."""
    threads = client.nthreads()
    return {"scheduler": client.scheduler.address, "workers": len(threads),
            "threads": int(sum(threads.values()))}
