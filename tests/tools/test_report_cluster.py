"""`kantorovich report --scheduler`: the sections as Dask tasks write what the serial run writes."""

from __future__ import annotations

import json
import types

import pytest

from kantorovich.cli import main
from kantorovich.report import SectionSpec, _REGISTRY, run_report
from kantorovich._dask import parse_scheduler
from kantorovich.report import _cluster

from ..dask_support import killing_a_busy_worker

distributed = pytest.importorskip("distributed")

_CHEAP = ["cumulative_deltas", "closed_forms"]


def _cluster_of_2(processes=False):
    return distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=processes,
                                    dashboard_address=":0", silence_logs=40)


def _without_times(res: dict) -> dict:
    return {k: {f: v for f, v in s.items() if f != "seconds"} for k, s in res["sections"].items()}


def _files(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png"))}


@pytest.mark.parametrize("value", ["local:0", "local:x", "local:-1", "", "two words", "tcp://",
                                   "tcp://host:port", "/a/path"])
def test_bad_scheduler_is_rejected_naming_it_before_the_output_folder_is_made(tmp_path, capsys, value):
    out = tmp_path / "r"
    assert main(["report", "--quick", "--only", "closed_forms", "--scheduler", value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "`--scheduler`" in err and repr(value) in err
    assert not out.exists()


@pytest.mark.parametrize("value, why", [
    ("bogus", "must include the scheduler's port: Dask has no default one"),
    ("tcp://bogus", "'tcp://bogus:8786'"),
    ("[::1]", "'tcp://[::1]:8786'"),
    ("http://bogus:8786", "one of the schemes tcp, tls"),
    ("inproc://x", "one of the schemes tcp, tls"),
    ("tcp://bogus:0", "a port from 1 to 65535"),
    ("tcp://bogus:65536", "a port from 1 to 65535"),
    ("tcp:/bogus:8786", "[scheme://]host:port"),
])
def test_malformed_scheduler_address_says_what_is_wrong_without_a_traceback(tmp_path, capsys, value, why):
    out = tmp_path / "r"
    assert main(["report", "--quick", "--only", "closed_forms", "--scheduler", value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kantorovich: `--scheduler` must") and why in err and repr(value) in err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("value, parsed", [
    ("tcp://10.0.0.1:8786", "tcp://10.0.0.1:8786"), ("host.example.org:8786", "host.example.org:8786"),
    ("TLS://[::1]:8786/", "tls://[::1]:8786"), (" ws://node_1:9000 ", "ws://node_1:9000"),
])
def test_well_formed_scheduler_addresses_parse(value, parsed):
    assert parse_scheduler(value, "--scheduler") == (parsed, None)


@pytest.mark.parametrize("client, exc", [(3, TypeError), ("local:0", ValueError), ("a b", ValueError)])
def test_run_report_rejects_a_bad_client(tmp_path, client, exc):
    with pytest.raises(exc, match="`client`"):
        run_report(tmp_path / "r", only=["closed_forms"], client=client, show_progress=False)
    assert not (tmp_path / "r").exists()


def test_sections_on_a_cluster_write_the_serial_numbers_and_figures(tmp_path):
    serial = run_report(tmp_path / "serial", only=_CHEAP, show_progress=False)
    with _cluster_of_2() as cluster, distributed.Client(cluster) as client:
        dask = run_report(tmp_path / "dask", only=_CHEAP, show_progress=False, client=client)
    assert list(dask["sections"]) == list(serial["sections"]) == _CHEAP
    assert dask["cluster"]["workers"] == 2 and serial["cluster"] is None
    assert not dask["failed"] and dask["checks"] == serial["checks"]
    assert json.dumps(_without_times(dask)).encode() == json.dumps(_without_times(serial)).encode()
    for name in _CHEAP:  # each section's own results.json too
        per = [json.loads((tmp_path / run / name / "results.json").read_text()) for run in ("serial", "dask")]
        assert [{k: v for k, v in p.items() if k != "seconds"} for p in per][0] == \
               {k: v for k, v in per[1].items() if k != "seconds"}
    figures = _files(tmp_path / "serial")
    assert figures and _files(tmp_path / "dask") == figures
    assert "Dask tasks on 2 worker(s)" in (tmp_path / "dask" / "index.html").read_text()


def _raising_section(ctx):
    """A section that fails after recording a number."""
    ctx.number("before", 1.0)
    raise ArithmeticError("this section fails on purpose")


def test_a_section_failing_on_a_worker_is_reported_as_in_the_serial_run(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(_REGISTRY, "failing_section",
                        SectionSpec("failing_section", "Fails", _raising_section, order=0.5))
    only = ["failing_section", "closed_forms"]
    serial = run_report(tmp_path / "serial", only=only, show_progress=False)
    capsys.readouterr()
    with _cluster_of_2() as cluster, distributed.Client(cluster) as client:
        dask = run_report(tmp_path / "dask", only=only, show_progress=False, client=client)
    assert dask["failed"] == serial["failed"] == ["failing_section"]
    assert _without_times(dask) == _without_times(serial)
    assert "ArithmeticError: this section fails on purpose" in dask["sections"]["failing_section"]["error"]
    assert "section 'failing_section' failed" in capsys.readouterr().err
    assert main(["report", "--only", "failing_section", "--quick", "--no-progress",
                 "--out", str(tmp_path / "cli")]) == 1


def _square_where(x, progress=None):
    """x**2, and whether it ran as a Dask task (and with a progress callback)."""
    try:
        distributed.get_worker()
        in_task = True
    except ValueError:
        in_task = False
    return x * x, in_task, progress is not None


def _mapping_section(ctx):
    """A section whose independent calls go through ``ctx.map``."""
    out = ctx.map(_square_where, [{"x": float(x), "progress": print} for x in ctx.rng(3).random(4)])
    ctx.number("squares", [o[0] for o in out])
    ctx.verdict(f"calls in tasks: {sum(o[1] for o in out)}, with progress: {sum(o[2] for o in out)}")


def test_ctx_map_calls_are_tasks_on_the_cluster_with_the_serial_results(tmp_path, monkeypatch):
    monkeypatch.setitem(_REGISTRY, "mapping_section",
                        SectionSpec("mapping_section", "Maps", _mapping_section, order=0.5))
    only = ["mapping_section"]
    serial = run_report(tmp_path / "serial", only=only, show_progress=False)
    with _cluster_of_2() as cluster, distributed.Client(cluster) as client:
        dask = run_report(tmp_path / "dask", only=only, show_progress=False, client=client)
    assert not dask["failed"] and not serial["failed"]
    assert serial["sections"]["mapping_section"]["verdicts"] == ["calls in tasks: 0, with progress: 4"]
    assert dask["sections"]["mapping_section"]["verdicts"] == ["calls in tasks: 4, with progress: 0"]
    assert dask["sections"]["mapping_section"]["numbers"] == serial["sections"]["mapping_section"]["numbers"]


_LOST: dict[str, int] = {}


def _lost_once(name, *args):
    """The task of ``closed_forms`` is lost (as if its worker died each time) on its first try."""
    from distributed.scheduler import KilledWorker

    _LOST[name] = _LOST.get(name, 0) + 1
    if name == "closed_forms" and _LOST[name] == 1:
        raise KilledWorker("closed_forms", types.SimpleNamespace(address="tcp://gone:1"), 3)
    return _section_task(name, *args)


_section_task = _cluster.section_task


@pytest.mark.parametrize("retries", [1, 0])
def test_a_lost_task_is_submitted_again_and_never_silently_missing(tmp_path, monkeypatch, retries):
    monkeypatch.setattr(_cluster, "section_task", _lost_once)
    _LOST.clear()
    with _cluster_of_2() as cluster, distributed.Client(cluster) as client:
        res = run_report(tmp_path / "r", only=_CHEAP, show_progress=False, client=client, retries=retries)
    assert list(res["sections"]) == _CHEAP and _LOST["closed_forms"] == 1 + retries
    if retries:
        assert not res["failed"] and res["all_checks_agree"]
    else:
        assert res["failed"] == ["closed_forms"]
        assert "lost by the Dask cluster in 1 rounds" in res["sections"]["closed_forms"]["error"]
        assert not res["sections"]["closed_forms"]["checks"]


@pytest.mark.slow
def test_a_worker_process_killed_mid_section_is_rescheduled(tmp_path):
    """A worker process killed while it runs a section: Dask runs that section again on the
    other worker, and the report is whole and equal to the serial one."""
    only = ["cumulative_deltas", "closed_forms", "emd_exact_plan", "sinkhorn_float32"]
    serial = run_report(tmp_path / "serial", only=only, show_progress=False)
    with _cluster_of_2(processes=True) as cluster, distributed.Client(cluster) as client:
        client.wait_for_workers(2)
        # killed half a second into a section (its imports), not before it
        with killing_a_busy_worker(client, timeout=120, settle=0.5) as killed:
            dask = run_report(tmp_path / "dask", only=only, show_progress=False, client=client)
    assert killed, "the run ended before a worker could be killed"
    assert not dask["failed"]
    assert _without_times(dask) == _without_times(serial)


def test_estimators_convergence_is_reproducible(tmp_path, monkeypatch):
    """Every random draw of the section comes from its seeded generators (the Gaussian
    references of "knn-gauss-corrected" included), so two runs give the same numbers: what
    lets its task run anywhere."""
    from kantorovich.report import Context
    from kantorovich.report.sections import estimators as sec

    class Tiny(Context):  # the section at one tiny size, its figure not drawn
        def size(self, quick, full):
            return [30] if isinstance(quick, list) else quick

        def figure(self, fig, filename, caption=""):
            pass

    monkeypatch.setattr("kantorovich.plots.estimators.plot_estimator_errors", lambda *a, **k: None)

    runs = []
    for k in range(2):
        (tmp_path / str(k)).mkdir()
        ctx = Tiny("estimators_convergence", tmp_path / str(k), show_progress=False)
        sec.convergence(ctx)
        runs.append(ctx.tables)
    assert any(r[1] == "knn-gauss-corrected" for r in runs[0][0]["rows"])
    assert runs[0] == runs[1]


@pytest.mark.slow
def test_cli_local_cluster_of_processes(tmp_path, capsys):
    """`--scheduler local:1` starts a worker process, runs the section there and stops it."""
    assert main(["report", "--quick", "--only", "closed_forms", "--no-progress",
                 "--out", str(tmp_path / "serial")]) == 0
    assert main(["report", "--quick", "--only", "closed_forms", "--no-progress", "--scheduler", "local:1",
                 "--out", str(tmp_path / "dask")]) == 0
    res = [json.loads((tmp_path / run / "results.json").read_text()) for run in ("serial", "dask")]
    assert res[1]["cluster"]["workers"] == 1 and res[0]["cluster"] is None
    assert _without_times(res[1]) == _without_times(res[0])


@pytest.mark.slow
def test_t10_trainings_as_tasks_give_the_serial_numbers(tmp_path):
    only = ["theory_t10_manifolds"]
    serial = run_report(tmp_path / "serial", only=only, show_progress=False)
    with _cluster_of_2() as cluster, distributed.Client(cluster) as client:
        dask = run_report(tmp_path / "dask", only=only, show_progress=False, client=client)
    assert not dask["failed"] and not serial["failed"]
    timing = ("ms_per_step",)
    nums = [{k: v for k, v in r["sections"][only[0]]["numbers"].items() if not k.endswith(timing)}
            for r in (serial, dask)]
    assert nums[0] == nums[1] and len(nums[0]) > 20
