"""`kantorovich bench`: the schema it writes, agreement before timing, skipped peers, --compare.
No timing is asserted."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kantorovich import bench, cli
from kantorovich.bench import suites


def _small_w1d(quick, xp, dtype, peers):  # the 1-D suite at one small size, unweighted
    for case in suites.wasserstein_1d_cases(True, xp, dtype, peers):
        if case.n == 1000 and not case.variant:
            yield case


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", _small_w1d)
    monkeypatch.setattr(bench, "BUILDERS", suites.BUILDERS)


def test_run_writes_the_documented_schema(small, tmp_path):
    res = bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=["scipy", "pot"],
                    out=tmp_path, repeat=2, progress=False, echo=lambda *a: None)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(res))
    assert res["schema"] == bench.SCHEMA
    env = res["environment"]
    assert {"date", "kantorovich", "python", "platform", "machine", "cpu_model", "cpu_count",
            "gpu", "libraries"} <= set(env)
    assert env["libraries"]["numpy"] and env["libraries"]["scipy"]
    assert res["settings"] == {"suites": ["wasserstein_1d"], "quick": True, "device": "cpu",
                               "dtype": "float64", "peers": ["scipy", "pot"], "repeat": 2}
    (case,) = res["cases"]
    assert case["suite"] == "wasserstein_1d" and case["n"] == 1000
    for impl in ("ours", "scipy", "pot"):
        rec = case["impls"][impl]
        assert rec["runs"] == 2 and rec["q1_s"] <= rec["median_s"] <= rec["q3_s"]
    for peer in ("scipy", "pot"):
        assert case["agreement"][peer]["agrees"]
        assert case["ratio"][peer] == pytest.approx(
            case["impls"][peer]["median_s"] / case["impls"]["ours"]["median_s"])
    html = (tmp_path / "index.html").read_text()
    assert "data:image/png;base64," in html and "wasserstein_1d" in html


def test_a_disagreeing_peer_is_reported_and_gets_no_ratio(small, monkeypatch, capsys):
    def wrong(quick, xp, dtype, peers):
        for case in _small_w1d(quick, xp, dtype, peers):
            case.peers["scipy"] = lambda d: 2.0 * case.ours(d)
            yield case

    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", wrong)
    lines = []
    res = bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=["scipy"], repeat=1,
                    progress=False, echo=lines.append)
    (case,) = res["cases"]
    assert not case["agreement"]["scipy"]["agrees"] and case["ratio"]["scipy"] is None
    assert any(line.startswith("DISAGREES") for line in lines)
    text = bench.table(res)
    assert "DISAGREES" in text
    # the table's columns and key: times in ms, how to read peer/ours, 100 columns at most
    assert text.splitlines()[0].split() == ["suite", "n", "impl", "median", "(ms)", "peer/ours",
                                            "agreement"]
    assert "above 1 when ours is faster" in text
    assert all(len(line) <= 100 and line == line.rstrip() for line in text.splitlines())
    # the page lists the disagreement at the top and shades its row
    page = bench._html(res)
    assert "1 disagreement: their times are not comparisons" in page
    assert "wasserstein_1d n = 1000: scipy differs from ours" in page
    assert "<tr class=bad><td>1000</td><td class=l>scipy</td>" in page


def test_a_disagreement_starts_its_own_line_under_a_progress_bar(small, monkeypatch):
    """On a terminal the bar (stderr) and the DISAGREES line (stdout) share one screen: the
    bar's line is cleared before the message, which is never glued onto it."""
    import io
    import re

    def wrong(quick, xp, dtype, peers):
        for case in _small_w1d(quick, xp, dtype, peers):
            case.peers["scipy"] = lambda d: 2.0 * case.ours(d)
            yield case

    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", wrong)
    screen = io.StringIO()
    monkeypatch.setattr("sys.stdout", screen)
    monkeypatch.setattr("sys.stderr", screen)
    bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=["scipy"], repeat=1, progress=True)
    text = screen.getvalue()
    assert "bench:" in text and "DISAGREES: wasserstein_1d" in text
    assert not re.search(r"[^\r\n]DISAGREES", text), text


def test_cli_says_no_peer_ran_when_none_did(small, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench, "peer_available", lambda name: (False, f"{name} not installed"))
    assert cli.main(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers", "scipy,pot",
                     "--repeat", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 case, no peer ran (skipped: pot, scipy)" in out and "agrees" not in out
    # a suite no chosen peer is wired for: sliced runs with POT only
    monkeypatch.setattr(bench, "peer_available", lambda name: (True, ""))
    monkeypatch.setitem(suites.BUILDERS, "sliced", lambda quick, xp, dtype, peers:
                        list(suites.sliced_cases(quick, xp, dtype, peers))[:1])
    assert cli.main(["bench", "sliced", "--quick", "--device", "cpu", "--peers", "geomloss,ott",
                     "--repeat", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    assert "no peer ran (skipped: geomloss, ott)" in capsys.readouterr().out



@pytest.mark.parametrize("peers", ["", ",,", " , "])
def test_an_empty_peers_list_times_ours_alone_and_says_so(small, tmp_path, capsys, peers):
    assert cli.main(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers", peers,
                     "--repeat", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 case, no peer ran (--peers is empty: ours alone)" in out
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["settings"]["peers"] == [] and res["skipped"] == []
    assert list(res["cases"][0]["impls"]) == ["ours"]


def test_bench_help_says_what_an_empty_peers_list_does(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "an empty list (--peers '') times ours alone" in help_text

def test_missing_peer_is_skipped_with_one_line(small, monkeypatch):
    monkeypatch.setattr(bench, "peer_available",
                        lambda name: (False, f"{name} not installed: pip install {name}"))
    lines = []
    res = bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=["pot"], repeat=1,
                    progress=False, echo=lines.append)
    assert lines == ["skipped: pot not installed: pip install pot"]
    assert res["skipped"][0]["peer"] == "pot" and set(res["cases"][0]["impls"]) == {"ours"}


def test_a_failing_implementation_is_recorded(small, monkeypatch):
    def broken(quick, xp, dtype, peers):
        for case in _small_w1d(quick, xp, dtype, peers):
            def boom(d):
                raise RuntimeError("peer crashed")
            case.peers["scipy"] = boom
            yield case

    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", broken)
    res = bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=["scipy"], repeat=1,
                    progress=False, echo=lambda *a: None)
    assert "peer crashed" in res["cases"][0]["impls"]["scipy"]["error"]


@pytest.mark.parametrize("kwargs, match", [
    ({"suites": ["nope"]}, "`suites`"),
    ({"device": "tpu"}, "`device`"),
    ({"dtype": "float16"}, "`dtype`"),
    ({"peers": ["matlab"]}, "`peers`"),
    ({"repeat": 0}, "`repeat` must be an integer >= 1"),
    ({"repeat": -3}, "`repeat` must be an integer >= 1"),
])
def test_bad_arguments_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bench.run(**{"suites": ["wasserstein_1d"], **kwargs}, progress=False)


def test_gpu_requested_without_gpu(monkeypatch):
    monkeypatch.setattr(bench, "_gpu", lambda: None)
    with pytest.raises(RuntimeError, match="--device cpu"):
        bench.run(["wasserstein_1d"], device="gpu", progress=False)


def test_cli_run_and_compare(small, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        assert cli.main(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers",
                         "scipy", "--repeat", "1", "--out", str(out)]) == 0
    assert "every peer agrees" in capsys.readouterr().out
    assert cli.main(["bench", "--compare", str(a / "results.json"), str(b / "results.json")]) == 0
    out = capsys.readouterr().out
    assert "B / A" in out and "wasserstein_1d" in out and "scipy" in out
    # each run's settings above the table, the direction of B / A under it
    assert out.count("; CPU, float64, --quick") == 2 and "below 1: faster in B" in out
    assert "DISAGREES" not in out
    # a peer whose value disagreed with ours in one run: its row says so (the time compares
    # nothing there), and the key under the table explains it
    import json

    rb = json.loads((b / "results.json").read_text())
    case = next(c for c in rb["cases"] if "scipy" in c["agreement"])
    case["agreement"]["scipy"]["agrees"] = False
    (b / "results.json").write_text(json.dumps(rb))
    assert cli.main(["bench", "--compare", str(a / "results.json"), str(b / "results.json")]) == 0
    out = capsys.readouterr().out
    flagged = [ln for ln in out.splitlines() if ln.endswith("DISAGREES in B")]
    assert len(flagged) == 1 and "scipy" in flagged[0] and str(case["n"]) in flagged[0]
    assert "its time there is not a comparison" in out
    assert max(len(ln) for ln in out.splitlines() if not ln.startswith(("A: ", "B: "))) <= 100
    (tmp_path / "bad.json").write_text("{}")
    assert cli.main(["bench", "--compare", str(a / "results.json"), str(tmp_path / "bad.json")]) == 2


@pytest.mark.parametrize("value", ["0", "-3", "1.5", "x"])
def test_cli_repeat_below_1_is_rejected_naming_it_before_any_case(tmp_path, capsys, monkeypatch, value):
    def no_work(*args, **kwargs):
        raise AssertionError("a case ran")

    monkeypatch.setattr(bench, "_run_case", no_work)
    with pytest.raises(SystemExit) as exc:
        cli.main(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--repeat", value,
                  "--out", str(tmp_path / "b")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "argument --repeat: must be a positive integer" in err and repr(value) in err
    assert not (tmp_path / "b").exists()


def _edited_run(median_s=1e-3, n=10, gpu=None, agreement=None) -> str:
    """A bench results.json of one case with the given field values (as an edit could leave)."""
    case = {"suite": "sliced", "variant": "", "n": n, "impls": {"ours": {"value": 1.0, "median_s": median_s}},
            "agreement": agreement or {}}
    return json.dumps({"schema": bench.SCHEMA, "environment": {"date": "d", "cpu_model": "c", "gpu": gpu},
                       "cases": [case]})


@pytest.mark.parametrize("make, why", [
    (lambda p: p.write_text("not json"), "is not JSON (Expecting value"),
    (lambda p: p.write_bytes(b"\xff\xfe"), "is not JSON (not UTF-8 text)"),
    (lambda p: None, "does not exist"),
    (lambda p: p.mkdir(), "is a folder; give its results.json"),
    (lambda p: p.write_text("[1, 2]"), "is not the results.json of a kantorovich bench run"),
    # valid JSON nested deeper than Python's parser goes: a RecursionError, not a ValueError
    (lambda p: p.write_text("[" * 100_000 + "]" * 100_000), "is nested too deeply to read"),
    (lambda p: p.write_text('{"schema": "%s", "cases": []}' % bench.SCHEMA),
     "without environment.date, environment.cpu_model, environment.gpu: it was cut or edited"),
    (lambda p: p.write_text('{"schema": "%s", "environment": {"date": "d", "cpu_model": "c", '
                            '"gpu": null}, "cases": [{"suite": "sliced", "n": 10}]}' % bench.SCHEMA),
     "without cases[0].impls"),
    # a field of a type no run writes: named, not a TypeError from the table
    (lambda p: p.write_text(_edited_run(median_s="x")),
     "whose cases[0].impls.ours.median_s is 'x', not a positive number: it was edited"),
    (lambda p: p.write_text(_edited_run(median_s=None)), "median_s is None, not a positive number"),
    (lambda p: p.write_text(_edited_run(n="ten")), "whose cases[0].n is 'ten', not an integer"),
    (lambda p: p.write_text(_edited_run(gpu="A100")), "whose environment.gpu is 'A100', not an object or null"),
    (lambda p: p.write_text(_edited_run(agreement=["scipy"])), "whose cases[0].agreement is ['scipy']"),
])
def test_compare_names_the_option_and_the_file_that_is_not_a_run(tmp_path, capsys, make, why):
    good = tmp_path / "good.json"
    bench.write_json(good, {"schema": bench.SCHEMA, "environment": bench.environment(), "cases": []})
    bad = tmp_path / "B.json"
    make(bad)
    assert cli.main(["bench", "--compare", str(good), str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kantorovich: `--compare`: run B") and repr(str(bad)) in err and why in err
    assert "Errno" not in err and "Traceback" not in err
    assert cli.main(["bench", "--compare", str(bad), str(good)]) == 2
    assert f"run A ({str(bad)!r})" in capsys.readouterr().err


@pytest.mark.parametrize("suite", [s for s in suites.SUITES if s != "wasserstein_1d"])
def test_every_suite_builds_cases_whose_values_agree_at_the_smallest_size(suite):
    """One case per suite, untimed: ours and each installed peer agree."""
    peers = [p for p in suites.SUITE_PEERS[suite] if suites.peer_available(p)[0]]
    import numpy as np

    case = next(iter(suites.BUILDERS[suite](True, np, np.float64, peers)))
    data = case.make()
    ref = case.ours(data)
    assert np.isfinite(ref)
    for name, fn in case.peers.items():
        assert fn(data) == pytest.approx(ref, rel=case.rtol), name


def test_timing_loop_agreement_and_json_helpers(tmp_path):
    """The helpers the suites and the benchmarks/ scripts share: one timing loop, one agreement
    check, one JSON writer."""
    import numpy as np

    calls = []
    t = bench.interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")},
                          rounds=3, warmup=1)
    assert calls == ["a", "b"] + ["a", "b"] * 3  # warm-up, then interleaved rounds
    for rec in t.values():
        assert rec["runs"] == 3 and rec["min_s"] <= rec["q1_s"] <= rec["median_s"] <= rec["q3_s"]
    assert bench.measure(lambda: None, repeat=4, warmup=0)["runs"] == 4
    assert bench.agreement(1.0 + 1e-10, 1.0, 1e-9)["agrees"]
    assert not bench.agreement(1.1, 1.0, 1e-9)["agrees"]
    assert not bench.agreement(float("nan"), 1.0, 1e-9)["agrees"]
    path = bench.write_json(tmp_path / "sub" / "x.json", {"v": np.float64(0.5), "o": object})
    got = json.loads(path.read_text())
    assert got["v"] == 0.5 and "object" in got["o"]
    assert [p.name for p in path.parent.iterdir()] == ["x.json"]


def _smallest_sinkhorn(quick, xp, dtype, peers):  # the Sinkhorn suite at n = 200 only
    for case in suites.sinkhorn_cases(True, xp, dtype, peers):
        if case.n == 200:
            yield case


def test_geomloss_peer_agrees_at_the_smallest_size():
    """GeomLoss's debiased Sinkhorn divergence at blur = sqrt(eps / 2), times 2, is ours at eps
    (docs/conventions.md), to the error its fixed epsilon-scaling schedule leaves."""
    pytest.importorskip("geomloss")
    import numpy as np

    case = suites.sinkhorn_divergence_case(200, np, np.float64, 0.05)
    data = case.make()
    ours, peer = case.ours(data), case.peers["geomloss"](data)
    assert case.variant == "divergence" and ours > 0
    assert peer == pytest.approx(ours, rel=suites.GEOMLOSS_RTOL)
    # the factor 2 is the conversion, not slack: without it they are a factor 2 apart
    assert abs(peer / 2 - ours) > 0.4 * ours


def test_cli_sinkhorn_with_geomloss_writes_a_geomloss_row(monkeypatch, tmp_path, capsys):
    pytest.importorskip("geomloss")
    monkeypatch.setitem(suites.BUILDERS, "sinkhorn", _smallest_sinkhorn)
    monkeypatch.setattr(bench, "BUILDERS", suites.BUILDERS)
    assert cli.main(["bench", "sinkhorn", "--quick", "--device", "cpu", "--peers", "geomloss",
                     "--repeat", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "sinkhorn/divergence" in out and "geomloss" in out
    res = json.loads((tmp_path / "results.json").read_text())
    (div,) = [c for c in res["cases"] if c["variant"] == "divergence"]
    assert div["suite"] == "sinkhorn" and div["n"] == 200
    assert div["agreement"]["geomloss"]["agrees"] and div["ratio"]["geomloss"] > 0
    assert "median_s" in div["impls"]["geomloss"]
    assert "sinkhorn/divergence" in (tmp_path / "index.html").read_text()


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_weighted_1d_variant_agrees_with_the_peers(dtype):
    """`wasserstein_1d/weighted`: scipy with the raw weights, POT with normalised ones."""
    import numpy as np

    peers = [p for p in suites.SUITE_PEERS["wasserstein_1d"] if suites.peer_available(p)[0]]
    plain, weighted = list(suites.wasserstein_1d_cases(True, np, np.dtype(dtype).type, peers))[:2]
    assert (plain.variant, weighted.variant) == ("", "weighted") and weighted.n == 1000
    data = weighted.make()
    ref = weighted.ours(data)
    assert abs(ref - plain.ours(plain.make())) > 1e-3 * ref  # the weights are used
    for name, fn in weighted.peers.items():
        assert fn(data) == pytest.approx(ref, rel=weighted.rtol), name


def test_assignment_points_variant_agrees_with_the_peers_on_the_matrix():
    """`assignment/points` (costs on the fly) solves the same problem as the peers on M."""
    import numpy as np

    peers = [p for p in suites.SUITE_PEERS["assignment"] if suites.peer_available(p)[0]]
    dense, points = list(suites.assignment_cases(True, np, np.float64, peers))[:2]
    assert (dense.variant, points.variant) == ("", "points") and dense.n == points.n == 100
    d, dp = dense.make(), points.make()
    assert np.array_equal(dp[2], d[0])  # the peers get the same matrix in both
    ref = points.ours(dp)
    assert ref == pytest.approx(dense.ours(d), rel=1e-12)
    for name, fn in points.peers.items():
        assert fn(dp) == pytest.approx(ref, rel=points.rtol), name


def test_sinkhorn_without_geomloss_skips_it_with_one_line(monkeypatch):
    """No GeomLoss (or torch): one line, no divergence rows, the suite runs as before."""
    monkeypatch.setitem(suites.BUILDERS, "sinkhorn", _smallest_sinkhorn)
    monkeypatch.setattr(bench, "BUILDERS", suites.BUILDERS)
    monkeypatch.setattr(bench, "peer_available",
                        lambda name: (False, f"{name} not installed: pip install {name}")
                        if name == "geomloss" else (True, ""))
    lines = []
    res = bench.run(["sinkhorn"], quick=True, device="cpu", peers=["geomloss"], repeat=1,
                    progress=False, echo=lines.append)
    assert lines == ["skipped: geomloss not installed: pip install geomloss"]
    assert [(c["variant"], set(c["impls"])) for c in res["cases"]] == [("", {"ours"})]


def test_knn_suite_covers_d_5_and_10_and_agrees_there():
    """The knn suite's `d=5` and `d=10` rows (what the estimator target is stated for)."""
    import numpy as np

    peers = [p for p in suites.SUITE_PEERS["knn"] if suites.peer_available(p)[0]]
    cases = list(suites.knn_cases(True, np, np.float64, peers))
    assert [(c.variant, c.n) for c in cases] == [("", 2000), ("", 10_000), ("d=5", 2000),
                                                  ("d=10", 2000)]
    case = cases[-1]
    data = case.make()
    assert data[0].shape == (2000, 10)
    ref = case.ours(data)
    for name, fn in case.peers.items():
        assert fn(data) == pytest.approx(ref, rel=case.rtol), name


def test_sinkhorn_iter_points_variant_and_pot_kernel_agree():
    """`sinkhorn_iter/points` (ours on the points, online soft-min; OTT-JAX on its PointCloud)
    and POT's kernel-space Sinkhorn (`pot-kernel`) give the value of the same 100 iterations."""
    import numpy as np

    peers = [p for p in suites.SUITE_PEERS["sinkhorn_iter"] if suites.peer_available(p)[0]]
    dense, points = list(suites.sinkhorn_iter_cases(True, np, np.float64, peers))[:2]
    assert (dense.variant, points.variant) == ("", "points") and points.n == 500
    if "pot" in peers:
        assert {"pot", "pot-kernel"} <= set(points.peers)
    data = points.make()
    ref = points.ours(data)
    assert ref == pytest.approx(dense.ours(data), rel=1e-9)
    for name, fn in points.peers.items():
        assert fn(data) == pytest.approx(ref, rel=points.rtol), name


def test_a_nan_value_is_written_as_strict_json_and_the_page_rebuilds(small, tmp_path,
                                                                      monkeypatch):
    """A peer returning NaN (a disagreement) was written as the bare token NaN, which JSON does
    not have: JavaScript's JSON.parse refused the whole results.json. It is written as "nan",
    as in the report's results.json, and bench.write rebuilds the page from the file."""
    def nan_peer(quick, xp, dtype, peers):
        for case in _small_w1d(quick, xp, dtype, peers):
            case.peers = {"scipy": lambda d: float("nan")}
            yield case

    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", nan_peer)
    bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=["scipy"], out=tmp_path,
              repeat=1, progress=False, echo=lambda *a: None)

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    text = (tmp_path / "results.json").read_text()
    run = json.loads(text, parse_constant=refuse)
    (case,) = run["cases"]
    assert case["impls"]["scipy"]["value"] == "nan"
    assert case["agreement"]["scipy"]["rel_diff"] == "nan"
    assert case["agreement"]["scipy"]["agrees"] is False
    bench.write(run, tmp_path / "again")
    # a 0-d array (read by json's default hook, not by the walk) is written the same way
    path = bench.write_json(tmp_path / "zero_d.json", {"v": np.array(np.nan), "w": np.float32(1.5)})
    assert json.loads(path.read_text(), parse_constant=refuse) == {"v": "nan", "w": 1.5}
    page = (tmp_path / "again" / "index.html").read_text()
    assert "DISAGREES (nan &gt; 1e-09)" in page and "<td>nan</td>" in page


def test_a_peer_that_is_installed_but_fails_to_import_is_not_called_missing(monkeypatch):
    """A peer whose import raised (a RuntimeError of its own, or a dependency missing) was
    skipped as "not installed ...: pip install geomloss", hiding the error."""
    import importlib

    real = importlib.import_module

    def fake(name, *args, **kwargs):
        if name == "geomloss":
            raise RuntimeError("CUDA driver version is insufficient\nmore")
        if name == "ott":
            raise ModuleNotFoundError("No module named 'jax'", name="jax")
        if name == "universal_divergence":
            raise ModuleNotFoundError("No module named 'universal_divergence'",
                                      name="universal_divergence")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", fake)
    assert suites.peer_available("geomloss") == (
        False, "geomloss does not import (RuntimeError: CUDA driver version is insufficient)")
    assert suites.peer_available("ott") == (
        False, "ott does not import (ModuleNotFoundError: No module named 'jax')")
    assert suites.peer_available("universal-divergence") == (
        False, "universal-divergence not installed (ModuleNotFoundError): "
               "pip install universal-divergence")


def test_knn_cases_record_the_float64_they_run_in_a_float32_run(monkeypatch):
    """The knn samples are float64 whatever --dtype, but a float32 run recorded its knn cases
    (and titled their figure) as float32."""
    def one_knn(quick, xp, dtype, peers):
        yield next(suites.knn_cases(True, xp, dtype, peers))

    def one_w1d(quick, xp, dtype, peers):
        yield next(_small_w1d(quick, xp, dtype, peers))

    monkeypatch.setitem(suites.BUILDERS, "knn", one_knn)
    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", one_w1d)
    monkeypatch.setattr(bench, "BUILDERS", suites.BUILDERS)
    res = bench.run(["knn", "wasserstein_1d"], quick=True, device="cpu", dtype="float32",
                    peers=[], repeat=1, progress=False, echo=lambda *a: None)
    assert res["settings"]["dtype"] == "float32"
    assert [(c["suite"], c["dtype"]) for c in res["cases"]] == [("knn", "float64"),
                                                                ("wasserstein_1d", "float32")]


def test_run_takes_a_single_name_as_a_string(small):
    """bench.run("wasserstein_1d", peers="scipy") iterated the strings: "`suites` must be one
    of [...]; got 'w'"."""
    res = bench.run("wasserstein_1d", quick=True, device="cpu", peers="scipy", repeat=1,
                    progress=False, echo=lambda *a: None)
    assert res["settings"]["suites"] == ["wasserstein_1d"]
    assert res["settings"]["peers"] == ["scipy"]
    assert set(res["cases"][0]["impls"]) == {"ours", "scipy"}


def test_sinkhorn_iter_shows_ours_solving_another_problem_as_a_disagreement():
    """The same 100 iterations from the same start agree to rounding (7.4e-13 at most): the
    tolerance of 1e-3 let ours with epsilon 0.1 % off (a relative difference of 6e-4) agree."""
    import dataclasses

    pytest.importorskip("ot")
    from kantorovich.ot import sinkhorn

    case = next(suites.sinkhorn_iter_cases(True, np, np.float64, ["pot"]))
    assert case.n == 500 and not case.variant

    def off(d):  # a bug: epsilon 0.1 % too large
        return float(sinkhorn(d[0], d[1], d[2], eps=0.05 * 1.001, tol=1e-30, max_iter=100,
                              scaling=None).value)

    right = bench._run_case(case, "cpu", 1, 0.0)
    assert all(ag["agrees"] for ag in right["agreement"].values()), right["agreement"]
    wrong = bench._run_case(dataclasses.replace(case, ours=off), "cpu", 1, 0.0)
    assert wrong["agreement"] and not any(ag["agrees"] for ag in wrong["agreement"].values())


def test_cli_refuses_gpu_without_cupy_in_one_line(monkeypatch, tmp_path, capsys):
    """`--device gpu` without CuPy: one line saying so, exit status 2, nothing written;
    `--device auto` runs on the CPU and says why in one line."""
    import sys

    monkeypatch.setitem(sys.modules, "cupy", None)  # `import cupy` raises ImportError
    assert cli.main(["bench", "wasserstein_1d", "--device", "gpu", "--out",
                     str(tmp_path / "gpu")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CuPy is not installed" in err[0] and "--device cpu" in err[0]
    assert not (tmp_path / "gpu").exists()
    lines = []
    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", _small_w1d)
    monkeypatch.setattr(bench, "BUILDERS", suites.BUILDERS)
    res = bench.run(["wasserstein_1d"], quick=True, device="auto", peers=[], repeat=1,
                    progress=False, echo=lines.append)
    assert res["settings"]["device"] == "cpu"
    assert len(lines) == 1 and lines[0].startswith("device auto: CuPy is not installed (")
    assert lines[0].endswith("; running on the CPU")


class _DeviceArray(np.ndarray):
    """A stand-in for a CuPy array (``.get()`` copies to the host); the package treats it as
    numpy, so the suites' GPU code paths run on the CPU."""

    def get(self):
        return np.array(self)


def _fake_cupy():
    import time
    import types

    class Event:
        def record(self):
            self.t = time.perf_counter()

        def synchronize(self):
            pass

    cuda = types.SimpleNamespace(
        Device=lambda: types.SimpleNamespace(synchronize=lambda: None), Event=Event,
        get_elapsed_time=lambda start, end: (end.t - start.t) * 1e3)
    mod = types.ModuleType("cupy")
    mod.asarray = lambda a, dtype=None: np.asarray(a, dtype=dtype).view(_DeviceArray)
    mod.cuda = cuda
    return mod


@pytest.mark.parametrize("suite", suites.SUITES)
def test_gpu_cases_give_ours_device_arrays_and_host_peers_host_copies(suite):
    """With CuPy as the array module, every suite's data are device arrays, with host copies
    made by `make` (outside the timing) for the CPU-only peers."""
    fake = _fake_cupy()
    case = next(iter(suites.BUILDERS[suite](True, fake, np.float64, [])))
    data = case.make()
    assert all(type(v) is _DeviceArray for v in data), suite
    assert all(type(h) is np.ndarray for h in data.host), suite
    for v, h in zip(data, data.host):
        assert np.array_equal(v.get(), h)


def test_gpu_run_times_with_cuda_events_and_records_the_device(small, monkeypatch, tmp_path):
    """`run(device="gpu")` with a fake CuPy: the suites get it as their array module, the timer
    is the CUDA-event one, the peers agree, and results.json says "gpu"."""
    import sys

    monkeypatch.setitem(sys.modules, "cupy", _fake_cupy())
    monkeypatch.setattr(bench, "_gpu", lambda: {"name": "fake", "driver": 0, "cuda": 0})
    res = bench.run(["wasserstein_1d"], quick=True, device="gpu", peers=["scipy", "pot"],
                    out=tmp_path, repeat=2, progress=False, echo=lambda *a: None)
    (case,) = res["cases"]
    assert case["device"] == "gpu" and res["settings"]["device"] == "gpu"
    assert all(ag["agrees"] for ag in case["agreement"].values())
    assert case["impls"]["ours"]["runs"] == 2
    assert json.loads((tmp_path / "results.json").read_text())["cases"][0]["device"] == "gpu"


def test_compare_keeps_each_runs_line_within_100_columns_whatever_the_cpu_name(tmp_path):
    """The line of date, version, CPU and GPU above the table breaks between its parts."""
    cpu = "Intel(R) Xeon(R) Platinum 8480+ Processor with a long marketing name"
    runs = []
    for name in ("a", "b"):
        run = json.loads(_edited_run())
        run["environment"].update(cpu_model=cpu, kantorovich="0.1.0")
        run["settings"] = {"device": "cpu", "dtype": "float64", "quick": True}
        runs.append(bench.write_json(tmp_path / name / "results.json", run))
    text = bench.compare(*runs)
    assert max(len(ln) for ln in text.splitlines() if not ln.startswith(("A: ", "B: "))) <= 100
    assert text.count(cpu) == 2 and text.count("GPU none; CPU, float64, --quick") == 2


@pytest.mark.parametrize("extra, named", [(["emd", "sinkhorn"], "SUITE"), (["--quick"], "--quick"),
                                          (["--device", "cpu", "--out", "x"], "--device, --out"),
                                          (["--peers", "pot"], "--peers"), (["--repeat", "2"], "--repeat"),
                                          (["--dtype", "float32", "--no-progress"], "--dtype, --no-progress")])
def test_compare_with_a_suite_or_a_run_option_is_an_error_naming_them(tmp_path, capsys, extra, named):
    """--compare runs nothing: what would set a run is refused, not silently ignored."""
    run = bench.write_json(tmp_path / "a.json", json.loads(_edited_run()))
    assert cli.main(["bench", *extra, "--compare", str(run), str(run)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and f"it takes no {named}." in captured.err
    assert not (tmp_path / "x").exists()


def test_the_run_options_refused_beside_compare_are_the_bench_defaults():
    args = cli._parser().parse_args(["bench"])
    assert {k: getattr(args, k) for k in cli._BENCH_RUN_DEFAULTS} == cli._BENCH_RUN_DEFAULTS
    assert set(vars(args)) == {"command", "compare", *cli._BENCH_RUN_DEFAULTS}


def test_a_suite_or_peer_named_twice_runs_once(small, tmp_path):
    res = bench.run(["wasserstein_1d", "wasserstein_1d"], quick=True, device="cpu", peers=["scipy", "scipy"],
                    out=tmp_path, repeat=1, progress=False, echo=lambda *a: None)
    assert res["settings"]["suites"] == ["wasserstein_1d"] and res["settings"]["peers"] == ["scipy"]
    (case,) = res["cases"]
    assert sorted(case["impls"]) == ["ours", "scipy"]
    assert json.loads((tmp_path / "results.json").read_text())["cases"] == json.loads(json.dumps(res["cases"]))


@pytest.mark.parametrize("argv, named", [(["nosuch"], "`SUITE` must be among wasserstein_1d, sliced"),
                                         (["emd", "--peers", "pot,POT,nosuch"],
                                          "`--peers` must be among scipy, pot, universal-divergence")])
def test_cli_unknown_suite_or_peer_names_the_option_as_typed_before_any_case(tmp_path, capsys, monkeypatch,
                                                                             argv, named):
    def no_work(*args, **kwargs):
        raise AssertionError("a case ran")

    monkeypatch.setattr(bench, "_run_case", no_work)
    assert cli.main(["bench", *argv, "--device", "cpu", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kantorovich: " + named) and "got " in err and "Traceback" not in err
    assert ("'POT', 'nosuch'" in err) if "--peers" in named else ("'nosuch'" in err)
    assert not (tmp_path / "b").exists()


def _ours_broken(quick, xp, dtype, peers):
    for case in _small_w1d(quick, xp, dtype, peers):
        def boom(d):
            raise RuntimeError("ours crashed")
        case.ours = boom
        yield case


def test_a_run_where_ours_failed_says_so_and_exits_1(small, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", _ours_broken)
    monkeypatch.setattr(bench, "peer_available", lambda name: (True, ""))
    assert cli.main(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers", "scipy",
                     "--repeat", "1", "--no-progress", "--out", str(tmp_path)]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "1 case, ours failed in 1, no peer compared" in last and "no peer ran" not in last
    page = (tmp_path / "index.html").read_text()
    assert "1 case where ours failed" in page and "peer error" not in page
    assert "every peer's value agrees" not in page


@pytest.mark.parametrize("peers, says", [("", "no peer ran (the peers list was empty"),
                                         ("scipy", "no peer ran; see Skipped below")])
def test_the_page_of_a_run_where_no_peer_ran_does_not_say_every_peer_agrees(
        small, tmp_path, monkeypatch, peers, says):
    monkeypatch.setattr(bench, "peer_available", lambda name: (False, f"{name} not installed"))
    assert cli.main(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers", peers,
                     "--repeat", "1", "--no-progress", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "index.html").read_text()
    assert says in page and "every peer's value agrees" not in page


def _main_or_escaped(argv):
    """``cli.main(argv)``, or the string ``"escaped"`` when a KeyboardInterrupt leaves it (it
    must not reach pytest, which would stop the whole session)."""
    try:
        return cli.main(argv)
    except KeyboardInterrupt:
        return "escaped"


def _stop_in_the_second_case(monkeypatch, stop):
    """The 1-D suite at n = 1000 (two cases, both variants), ``stop()`` called as the second
    case starts."""
    def two_cases(quick, xp, dtype, peers):
        return [c for c in suites.wasserstein_1d_cases(True, xp, dtype, peers) if c.n == 1000]

    monkeypatch.setitem(suites.BUILDERS, "wasserstein_1d", two_cases)
    monkeypatch.setattr(bench, "BUILDERS", suites.BUILDERS)
    real, calls = bench._run_case, []

    def run_case(case, *args):
        calls.append(case)
        if len(calls) == 2:
            stop()
        return real(case, *args)

    monkeypatch.setattr(bench, "_run_case", run_case)


def test_ctrl_c_during_a_run_keeps_the_cases_finished_and_ends_in_one_line(tmp_path, capsys,
                                                                          monkeypatch):
    """Ctrl-C in the second case: results.json and index.html of the first, one line on stderr
    saying so, status 130 and no traceback (a KeyboardInterrupt traceback, and no page)."""
    def interrupt():
        raise KeyboardInterrupt

    _stop_in_the_second_case(monkeypatch, interrupt)
    out = tmp_path / "b"
    status = _main_or_escaped(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers",
                               "scipy", "--repeat", "1", "--no-progress", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 130
    assert err.strip() == (f"kantorovich: interrupted; 1 of 2 bench cases finished "
                           f"({out / 'results.json'} and index.html hold them).")
    assert len(json.loads((out / "results.json").read_text())["cases"]) == 1
    assert "wasserstein_1d" in (out / "index.html").read_text()


def test_ctrl_c_before_a_case_finished_leaves_an_earlier_run_in_place(small, tmp_path, capsys,
                                                                     monkeypatch):
    out = tmp_path / "b"
    out.mkdir()
    (out / "results.json").write_text("an earlier run")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(bench, "_run_case", interrupted)
    with pytest.raises(KeyboardInterrupt, match=r"^0 of 1 bench cases finished$"):
        bench.run(["wasserstein_1d"], quick=True, device="cpu", peers=[], out=out,
                  progress=False, echo=lambda *a: None)
    assert (out / "results.json").read_text() == "an earlier run"
    assert not (out / "index.html").exists()
    status = _main_or_escaped(["bench", "wasserstein_1d", "--quick", "--device", "cpu",
                               "--peers", "", "--no-progress", "--out", str(out)])
    assert (status, capsys.readouterr().err.strip()) == (
        130, "kantorovich: interrupted; 0 of 1 bench cases finished.")


def test_sigterm_during_a_run_keeps_the_cases_finished_and_ends_in_one_line(tmp_path, capsys,
                                                                           monkeypatch):
    """A kill (SIGTERM: ``timeout``, a scheduler's time limit) in the second case ended the
    process at once: results.json of the first case but no index.html. Now as Ctrl-C: the page
    of the cases finished, one line saying "terminated", status 143 (128 + SIGTERM), and the
    previous SIGTERM handler back after the command."""
    import os
    import signal

    def terminate():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(1000):  # the handler runs between two bytecodes of this loop
            pass

    _stop_in_the_second_case(monkeypatch, terminate)

    class Killed(Exception):
        pass

    def killed(signum, frame):  # the test's own handler: without the command's, this ends it
        raise Killed

    before = signal.signal(signal.SIGTERM, killed)
    try:
        out = tmp_path / "b"
        status = _main_or_escaped(["bench", "wasserstein_1d", "--quick", "--device", "cpu", "--peers",
                                   "scipy", "--repeat", "1", "--no-progress", "--out", str(out)])
        assert signal.getsignal(signal.SIGTERM) is killed
    finally:
        signal.signal(signal.SIGTERM, before)
    err = capsys.readouterr().err
    assert status == 143
    assert err.strip() == (f"kantorovich: terminated; 1 of 2 bench cases finished "
                           f"({out / 'results.json'} and index.html hold them).")
    assert len(json.loads((out / "results.json").read_text())["cases"]) == 1
    assert "wasserstein_1d" in (out / "index.html").read_text()
    assert not list(out.glob("*.tmp"))


def test_an_interrupted_json_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    """write_json writes a temporary file and renames it; an interrupt between the two left
    ``results.json.tmp`` beside the previous results.json."""
    import pathlib

    path = tmp_path / "results.json"
    path.write_text('{"old": 1}')

    def interrupted(self, target):
        raise KeyboardInterrupt

    monkeypatch.setattr(pathlib.Path, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        bench.write_json(path, {"new": 2})
    assert path.read_text() == '{"old": 1}' and not list(tmp_path.glob("*.tmp"))
