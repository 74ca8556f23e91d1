"""The command line rejects bad arguments before it writes anything."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kantorovich.cli import main
from kantorovich.report import run_report


@pytest.mark.parametrize("argv", [
    ["report", "--quick", "--only", "no_such_section"],
    ["report", "--quick", "--only", "foundation_no_such", "another_bad_name"],
    ["experiment", "no_such_section", "--quick"],
])
def test_unknown_section_is_rejected_before_the_output_folder_is_made(tmp_path, capsys, argv):
    out = tmp_path / "nested" / "report"
    assert main([*argv, "--out", str(out)]) == 2
    assert "unknown report section" in capsys.readouterr().err
    assert not out.exists() and not out.parent.exists()


def test_run_report_validates_names_before_mkdir(tmp_path):
    out = tmp_path / "r"
    with pytest.raises(ValueError, match="no_such_section"):
        run_report(out, quick=True, only=["no_such_section"], show_progress=False)
    assert not out.exists()


_MAGIC = {"png": b"\x89PNG", "svg": b"<?xml", "pdf": b"%PDF"}


@pytest.mark.parametrize("fmt", ["svg", "pdf"])
def test_report_format_writes_and_links_that_format(tmp_path, fmt):
    import json

    out = tmp_path / "r"
    argv = ["report", "--quick", "--only", "cumulative_deltas", "--format", fmt, "--dpi", "60", "--out", str(out),
            "--no-progress"]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["all_checks_agree"] and (res["figure_format"], res["dpi"]) == (fmt, 60)
    files = [f["file"] for f in res["sections"]["cumulative_deltas"]["figures"]]
    assert files == [f"cumulative_deltas/cumulative_deltas.{fmt}"]
    assert (out / files[0]).read_bytes().startswith(_MAGIC[fmt])
    assert not list(out.rglob("*.png"))
    page = (out / "index.html").read_text()
    assert f"'{files[0]}'" in page and ".png" not in page


def test_a_rerun_in_another_format_removes_the_figures_it_replaces(tmp_path):
    # the PNG of the first run stayed beside the SVG of the second, listed nowhere
    out = tmp_path / "r"
    base = ["report", "--quick", "--only", "cumulative_deltas", "--dpi", "50", "--out", str(out), "--no-progress"]
    assert main(base) == 0
    mine = out / "cumulative_deltas" / "notes.png"  # a file the report did not write stays
    mine.write_bytes(b"x")
    assert main(base + ["--format", "svg"]) == 0
    assert sorted(p.name for p in (out / "cumulative_deltas").iterdir()) == [
        "cumulative_deltas.svg", "notes.png", "results.json"]


def test_report_dpi_sets_the_png_resolution(tmp_path):
    from PIL import Image

    out = tmp_path / "r"
    assert main(["report", "--quick", "--only", "cumulative_deltas", "--dpi", "55", "--out", str(out),
                 "--no-progress"]) == 0
    path = out / "cumulative_deltas" / "cumulative_deltas.png"
    assert path.read_bytes().startswith(_MAGIC["png"])
    with Image.open(path) as im:
        assert round(im.info["dpi"][0]) == 55
        assert im.size[0] < 7.5 * 55 * 1.1  # a 7.5-inch-wide figure at 55 dpi
    assert "'cumulative_deltas/cumulative_deltas.png'" in (out / "index.html").read_text()


@pytest.mark.parametrize("argv", [["--format", "jpg"], ["--dpi", "0"], ["--dpi", "1.5"]])
def test_bad_format_or_dpi_is_rejected_before_the_output_folder_is_made(tmp_path, capsys, argv):
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as exc:
        main(["report", "--quick", "--only", "cumulative_deltas", *argv, "--out", str(out)])
    assert exc.value.code == 2 and argv[0] in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("command", [["report", "--only", "closed_forms"], ["experiment", "closed_forms"]])
@pytest.mark.parametrize("value", ["-1", "x"])
def test_seed_below_0_is_a_usage_error_naming_it_before_the_output_folder_is_made(tmp_path, capsys, command,
                                                                                  value):
    """numpy's generators take no negative seed: every section would fail on it."""
    out = tmp_path / "r"
    with pytest.raises(SystemExit) as exc:
        main([*command, "--quick", "--seed", value, "--out", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "argument --seed: must be a non-negative integer" in err
    assert repr(value) in err and not out.exists()


def test_dpi_above_10000_is_a_usage_error_naming_it(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["experiment", "closed_forms", "--quick", "--dpi", "10001", "--out", str(tmp_path / "r")])
    assert exc.value.code == 2
    assert "argument --dpi: must be an integer from 1 to 10000; got '10001'" in capsys.readouterr().err


@pytest.mark.parametrize("kw, match", [({"fig_format": "jpg"}, "`fig_format` must be one of"),
                                       ({"dpi": 0}, "`dpi` must be an integer >= 1"),
                                       ({"seed": -1}, "`seed` must be an integer >= 0")])
def test_run_report_validates_figure_options_before_mkdir(tmp_path, kw, match):
    out = tmp_path / "r"
    with pytest.raises(ValueError, match=match):
        run_report(out, quick=True, only=["cumulative_deltas"], show_progress=False, **kw)
    assert not out.exists()


def test_auction_section_runs_without_a_benchmarks_folder(tmp_path, monkeypatch):
    """The GPU numbers of the auction section are package data: from a folder with no
    benchmarks/ (an installed wheel) the section runs and says plainly what it did not measure."""
    from kantorovich.report import Context
    from kantorovich.report.sections import auction as sec

    class Tiny(Context):  # the section at a few tiny sizes
        def size(self, quick, full):
            return [20, 40] if isinstance(quick, list) else quick

    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "benchmarks").exists()
    assert sec._GPU_DATA.is_file()  # shipped with the package
    (tmp_path / "out").mkdir()
    ctx = Tiny("auction_timing", tmp_path / "out", show_progress=False)
    sec.auction_timing(ctx)
    assert ctx.checks and all(c["agrees"] for c in ctx.checks)
    gpu = sec._gpu_numbers()
    assert ctx.numbers["gpu"] == (sec._NOT_MEASURED if gpu is None else f"GPU curve from a benchmark run on {gpu[2]}")
    assert "not measured on this install" in sec._NOT_MEASURED
    assert (tmp_path / "out" / "timing.png").is_file()


_OUT_COMMANDS = [["report", "--quick", "--only", "cumulative_deltas"],
                 ["experiment", "cumulative_deltas", "--quick"],
                 ["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers", "scipy"]]


@pytest.mark.parametrize("argv", _OUT_COMMANDS)
def test_empty_out_is_an_error_naming_it_before_any_work(tmp_path, capsys, monkeypatch, argv):
    """``--out ""`` (an unset shell variable) would write into the working folder."""
    from kantorovich import bench, report

    def no_work(*args, **kwargs):
        raise AssertionError("ran before --out was checked")

    monkeypatch.setattr(report, "_run_section", no_work)
    monkeypatch.setattr(bench, "_run_case", no_work)
    monkeypatch.chdir(tmp_path)
    assert main([*argv, "--out", ""]) == 2
    assert "`--out` must name a folder; got an empty path" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("argv", _OUT_COMMANDS)
@pytest.mark.parametrize("where", ["file", "under a file"])
def test_out_that_is_a_file_is_an_error_naming_it_before_any_work(tmp_path, capsys, monkeypatch, argv, where):
    from kantorovich import bench, report

    def no_work(*args, **kwargs):
        raise AssertionError("ran before --out was checked")

    monkeypatch.setattr(report, "_run_section", no_work)
    monkeypatch.setattr(bench, "_run_case", no_work)
    file = tmp_path / "report.log"
    file.write_text("kept")
    out = file if where == "file" else file / "sub" / "dir"
    assert main([*argv, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "`--out` must be a folder" in err and repr(str(out)) in err
    assert ("which is a file" if where == "file" else f"under the file {str(file)!r}") in err
    assert "Errno" not in err and file.read_text() == "kept"


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no folder can be made")
@pytest.mark.parametrize("argv", _OUT_COMMANDS)
def test_out_that_cannot_be_made_is_an_error_naming_it(capsys, argv):
    assert main([*argv, "--out", "/proc/kantorovich-no-such-folder"]) == 2
    err = capsys.readouterr().err
    assert "`--out` must be a folder that can be made" in err and "'/proc'" in err and "Errno" not in err


def test_check_out_dir_creates_nothing(tmp_path):
    from kantorovich._validation import check_out_dir

    assert check_out_dir(tmp_path / "a" / "b", "out") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "f").write_text("")
    with pytest.raises(ValueError, match="`out` must be a folder"):
        run_report(tmp_path / "f", quick=True, only=["cumulative_deltas"], show_progress=False)


@pytest.mark.parametrize("value", ["local:1", "tcp://10.0.0.1:8786"])
def test_scheduler_without_distributed_names_the_option_and_the_extra(tmp_path, capsys, monkeypatch, value):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # as if it were not installed
    out = tmp_path / "r"
    assert main(["report", "--quick", "--only", "cumulative_deltas", "--scheduler", value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kantorovich: `--scheduler` needs dask.distributed")
    assert 'pip install "kantorovich[distributed]"' in err and "`client`" not in err
    assert not out.exists()
    with pytest.raises(ImportError, match="`client` needs dask.distributed"):  # the Python argument's name
        run_report(out, only=["cumulative_deltas"], client=value, show_progress=False)


def test_experiment_help_describes_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["experiment", "--help"])
    assert exc.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for option, words in [("--quick", "small sizes"), ("--out OUT", "output folder"), ("--seed SEED", "random seed")]:
        assert f"{option} {words}" in text, option


def test_experiment_takes_no_progress_as_report_does(tmp_path, monkeypatch):
    import kantorovich.report as report

    seen = {}

    def record(out, **kw):
        seen.update(kw)
        return {"sections": {}, "checks": [], "failed": [], "kept": [], "seconds": 0.0}

    monkeypatch.setattr(report, "run_report", record)
    assert main(["experiment", "cumulative_deltas", "--quick", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    assert seen["show_progress"] is False


def test_report_summary_says_1_section(tmp_path, capsys):
    assert main(["report", "--quick", "--only", "cumulative_deltas", "--no-progress", "--out", str(tmp_path / "r")]) == 0
    assert ": 1 section, " in capsys.readouterr().out


_PAIR = ["cumulative_deltas", "closed_forms"]  # two of the fastest sections (about a second each)


@pytest.fixture(scope="module")
def earlier_report(tmp_path_factory):
    """A quick report of two sections, made once: each test works on a copy."""
    out = tmp_path_factory.mktemp("earlier") / "r"
    assert main(["report", "--quick", "--only", *_PAIR, "--no-progress", "--out", str(out)]) == 0
    return out


def _copy_of(earlier, tmp_path, edit=None):
    import shutil

    out = tmp_path / "r"
    shutil.copytree(earlier, out)
    if edit is not None:
        res = json.loads((out / "results.json").read_text())
        (out / "results.json").write_text(edit(res) if callable(edit) else edit)
    return out


def _mark(res):
    """Verdicts that tell an entry kept from the earlier results.json from a new one."""
    for name in _PAIR:
        res["sections"][name]["verdicts"] = [f"earlier {name}"]
    return json.dumps(res)


@pytest.mark.parametrize("argv", [["report", "--quick", "--only", "closed_forms", "--no-progress"],
                                  ["experiment", "closed_forms", "--quick"]])
def test_only_replaces_its_sections_and_keeps_the_earlier_others(earlier_report, tmp_path, capsys, argv):
    out = _copy_of(earlier_report, tmp_path, _mark)
    assert main([*argv, "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert ": 1 section run, 1 kept from the earlier report, " in captured.out and captured.err == ""
    res = json.loads((out / "results.json").read_text())
    assert list(res["sections"]) == _PAIR and res["kept"] == ["cumulative_deltas"]
    assert res["sections"]["cumulative_deltas"]["verdicts"] == ["earlier cumulative_deltas"]
    assert "earlier closed_forms" not in res["sections"]["closed_forms"]["verdicts"]
    assert res["checks"] == [c for name in _PAIR for c in res["sections"][name]["checks"]]
    assert {c["section"] for c in res["checks"]} == set(_PAIR) and res["all_checks_agree"]
    page = (out / "index.html").read_text()
    assert all(f"<h2 id='{name}'>" in page for name in _PAIR)
    assert "'cumulative_deltas/cumulative_deltas.png'" in page
    assert "kept from an earlier run in this folder: cumulative_deltas" in page


def _edit_entry(res, **fields):
    res["sections"]["cumulative_deltas"].update(fields)
    return res


@pytest.mark.parametrize("edit, why", [
    ("{", "is not JSON"),
    ("[]", "is not the results.json of a kantorovich report"),
    # JSON nested deeper than the parser goes: a RecursionError, not a ValueError
    pytest.param("[" * 100_000 + "]" * 100_000, "is not JSON that can be read (nested too deeply)",
                 id="nested-too-deeply"),
    # a kept entry of a type no run writes would fail the merge or the page after the run
    (lambda res: json.dumps(_edit_entry(res, checks=5)), "is not the results.json of a kantorovich report"),
    (lambda res: json.dumps(_edit_entry(res, figures=["a.png"])), "is not the results.json of a kantorovich report"),
    (lambda res: json.dumps(_edit_entry(res, seconds="1.0")), "is not the results.json of a kantorovich report"),
    (lambda res: json.dumps({**res, "kantorovich_version": "0.0.1"}), "is from kantorovich 0.0.1, not this version"),
    (lambda res: json.dumps({**res, "seed": 7}), "was made with another seed 7 (now 0)"),
    (lambda res: json.dumps({**res, "mode": "full"}), "was made with another mode 'full' (now 'quick')"),
])
def test_only_with_an_unusable_earlier_report_says_so_and_writes_the_new_sections(
        earlier_report, tmp_path, capsys, edit, why):
    out = _copy_of(earlier_report, tmp_path, edit)
    assert main(["report", "--quick", "--only", "closed_forms", "--no-progress", "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert f"the earlier {out / 'results.json'} {why}" in captured.err
    assert "list only the sections run now" in captured.err and ": 1 section, " in captured.out
    res = json.loads((out / "results.json").read_text())
    assert list(res["sections"]) == ["closed_forms"] and res["kept"] == []
    assert "<h2 id='cumulative_deltas'>" not in (out / "index.html").read_text()


def test_a_failed_section_kept_from_the_earlier_report_is_listed_but_not_this_runs_failure(
        earlier_report, tmp_path, capsys):
    def failed(res):
        res["sections"]["closed_forms"]["error"] = "Traceback: an earlier failure"
        res["failed"] = ["closed_forms"]
        return json.dumps(res)

    out = _copy_of(earlier_report, tmp_path, failed)
    assert main(["report", "--quick", "--only", "cumulative_deltas", "--no-progress", "--out", str(out)]) == 0
    assert "failed sections kept from the earlier report: closed_forms" in capsys.readouterr().err
    res = json.loads((out / "results.json").read_text())
    assert res["failed"] == ["closed_forms"] and res["kept"] == ["closed_forms"]
    assert "an earlier failure" in (out / "index.html").read_text()


def test_a_check_that_disagrees_is_named_and_exits_1(tmp_path, capsys, monkeypatch):
    """A number that disagrees with its closed form is a failure of the run, as in `verify`:
    the summary counts it, stderr names it, and the exit status is 1 (it was 0)."""
    import kantorovich.report as report

    real = report.run_report

    def one_disagrees(out, **kw):
        res = real(out, **kw)
        res["sections"]["cumulative_deltas"]["checks"][0]["agrees"] = False
        return res

    monkeypatch.setattr(report, "run_report", one_disagrees)
    out = tmp_path / "r"
    assert main(["report", "--quick", "--only", "cumulative_deltas", "--no-progress", "--out", str(out)]) == 1
    captured = capsys.readouterr()
    first = json.loads((out / "results.json").read_text())["sections"]["cumulative_deltas"]["checks"][0]
    assert f"checks that disagree with the closed form: cumulative_deltas: {first['result']}" in captured.err
    ok, total = map(int, re.search(r"(\d+)/(\d+) checks agree", captured.out).groups())
    assert ok == total - 1


def test_a_disagreeing_check_kept_from_the_earlier_report_is_listed_but_not_this_runs_failure(
        earlier_report, tmp_path, capsys):
    def disagrees(res):
        res["sections"]["closed_forms"]["checks"][0]["agrees"] = False
        return json.dumps(res)

    out = _copy_of(earlier_report, tmp_path, disagrees)
    assert main(["report", "--quick", "--only", "cumulative_deltas", "--no-progress", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "checks that disagree, kept from the earlier report: closed_forms: " in err
    assert "with the closed form" not in err


def _with_stdout_closed(code: str) -> tuple[int, str]:
    """Run ``code`` in a new Python whose stdout's reader has already left (as ``| head -3``
    does once it has its lines); its exit status and stderr."""
    import kantorovich

    env = {**os.environ, "PYTHONPATH": str(Path(kantorovich.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, text=True)
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(), err


_A_BENCH_RUN = ("from kantorovich import bench; case = {'suite': 'sliced', 'variant': '', 'n': 10, "
                "'impls': {'ours': {'value': 1.0, 'median_s': 1e-3}}, 'agreement': {}}; "
                "run = bench.write_json(PATH, {'schema': bench.SCHEMA, 'environment': "
                "{'date': 'd', 'cpu_model': 'c', 'gpu': None}, 'cases': [case]}); ")


@pytest.mark.parametrize("code", [
    # --compare prints inside the command's handler of OSError, which must not report the pipe
    _A_BENCH_RUN + "from kantorovich.cli import main; raise SystemExit(main(['bench', '--compare', str(run), str(run)]))",
    "from kantorovich.cli import main; raise SystemExit(main(['list']))",
    # a run's DISAGREES lines go to stdout while it runs
    "from kantorovich import bench; from kantorovich.cli import main\n"
    "def run(*a, **k):\n    print('DISAGREES: a line\\n' * 20_000)\n    raise AssertionError('printed')\n"
    "bench.run = run; raise SystemExit(main(['bench', '--out', OUT]))",
], ids=["bench --compare", "list", "bench"])
def test_a_reader_that_leaves_early_ends_the_command_quietly(tmp_path, code):
    """`kantorovich ... | head -3`: no "Broken pipe" message or traceback, status 1, as Python's
    documentation recommends for command-line tools (the "Note on SIGPIPE" of `signal`)."""
    code = code.replace("PATH", repr(str(tmp_path / "a.json"))).replace("OUT", repr(str(tmp_path / "bench")))
    status, err = _with_stdout_closed(code)
    assert (status, err) == (1, "")


@pytest.mark.parametrize("argv, where", [
    (["verify", "--quick"], "kantorovich.testing.verify"),
    (["list"], "kantorovich.report.list_sections"),
])
def test_ctrl_c_ends_the_command_in_one_line_with_status_130(argv, where, capsys, monkeypatch):
    """A KeyboardInterrupt was a traceback; now one line on stderr and the shell's 128 + SIGINT."""
    pytest.importorskip("hypothesis")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(where, interrupted)
    try:
        status = main(argv)
    except KeyboardInterrupt:  # must not reach pytest, which would stop the session
        status = "escaped"
    assert (status, capsys.readouterr().err) == (130, "kantorovich: interrupted.\n")
