"""The repository's benchmarks/ scripts: built on kantorovich.bench's timing loop, agreement
check, environment block and JSON writer (no copies of their own), and each runs with --quick.
No timing is asserted."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"

#: script -> the JSON it writes with --quick
SCRIPTS = {
    "bench_arrays.py": "bench_arrays_quick.json",
    "bench_auction.py": "bench_auction.json",
    "bench_batch.py": "batch_cpu_quick.json",
    "bench_estimators.py": "bench_estimators.json",
    "bench_grad.py": "bench_grad.json",
    "bench_implicit.py": "bench_implicit.json",
    "bench_pairwise.py": "pairwise_cpu.json",
    "bench_sinkhorn.py": "sinkhorn.json",
    "bench_sinkhorn_crossover.py": "sinkhorn_crossover_quick.json",
    "bench_small_sinkhorn.py": "small_sinkhorn_quick.json",
    "bench_wasserstein_1d.py": "bench_wasserstein_1d.json",
}


def test_every_script_is_listed_and_none_has_its_own_timer_or_json_writer():
    """A timing loop, an agreement check or a JSON writer of a script's own would drift from
    the package's: the scripts reach them through benchmarks/_common.py only."""
    assert sorted(p.name for p in BENCH.glob("bench_*.py")) == sorted(SCRIPTS)
    for name in SCRIPTS:
        src = (BENCH / name).read_text()
        assert "perf_counter" not in src, name
        assert not re.search(r"\.write_text\(|json\.dump\(", src), name
        assert "from _common import" in src, name
    common = (BENCH / "_common.py").read_text()
    assert "from kantorovich.bench import" in common and "statistics" not in common


def test_common_timing_is_the_package_measure(tmp_path):
    sys.path.insert(0, str(BENCH))
    try:
        import _common
    finally:
        sys.path.remove(str(BENCH))
    from kantorovich import bench

    assert _common.measure is bench.measure and _common.interleaved is bench.interleaved
    rec = _common.time_cpu(lambda: None, repeat=3, warmup=0)
    assert rec["runs"] == 3 and rec["min_s"] <= rec["median_s"]
    value, seconds = _common.timed_once(lambda: 42)
    assert value == 42 and seconds >= 0
    path = _common.write("x", str(tmp_path), {"a": 1}, echo=False)
    got = json.loads(path.read_text())
    assert got["benchmark"] == "x" and got["a"] == 1 and "cpus" in got["environment"]


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_script_runs_quick(script, tmp_path):
    """Each script at its smallest sizes (--quick): exits 0 and writes its JSON (tens of
    seconds to three minutes each on 2 cores)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    r = subprocess.run([sys.executable, str(BENCH / script), "--quick", "--out", str(tmp_path)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    payload = json.loads((tmp_path / SCRIPTS[script]).read_text())
    assert "environment" in payload
    assert '"traceback"' not in json.dumps(payload), "a case raised (recorded by Checkpoint)"


def test_gpu_check_plans_kantorovich_bench_after_grad_before_the_tests():
    """benchmarks/gpu_check.sh's `bench` part: `kantorovich bench --device gpu --quick` into
    $OUT/bench_gpu, after `grad` and before `tests`, within its budget; alone, it is planned
    as a re-run's subset. (The plan only: DRY_RUN runs nothing.)"""
    env = {"PATH": "/usr/bin:/bin", "DRY_RUN": "1", "OUT": "/tmp/out"}
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh"], cwd=ROOT, capture_output=True,
                       text=True, env=env, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    lines = [ln.strip() for ln in r.stdout.splitlines()[1:]]
    order = [ln.split(":")[0] for ln in lines]
    assert order == ["sinkhorn", "auction", "wasserstein_1d", "estimators", "grad", "bench",
                     "tests"]
    assert lines[5] == ("bench: python3 -m kantorovich bench --device gpu --quick --out "
                        "/tmp/out/bench_gpu (<= 90s of what is left)")
    r = subprocess.run(["bash", "benchmarks/gpu_check.sh", "bench"], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.returncode == 0 and r.stdout.splitlines()[1].strip().startswith("bench: ")
