"""Every script in examples/ runs to the end, prints its numbers and writes its figures.

Each script runs in a fresh interpreter with ``src`` first on PYTHONPATH (so the tree under
test is imported), figures going to a temporary folder through KANTOROVICH_EXAMPLES_OUT.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("[0-9][0-9]_*.py"))


def test_examples_are_there_and_listed():
    assert len(EXAMPLES) >= 10
    readme = (ROOT / "examples" / "README.md").read_text(encoding="utf-8")
    for script in EXAMPLES:
        assert script.name in readme, f"{script.name} is missing from examples/README.md"
        doc = script.read_text(encoding="utf-8").lstrip()
        assert doc.startswith('"""'), f"{script.name} has no docstring"
        assert "plt.show(" not in doc


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src")] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["KANTOROVICH_EXAMPLES_OUT"] = str(tmp_path)
    env["MPLBACKEND"] = "Agg"
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip(), f"{script.name} printed nothing"
    assert "Traceback" not in proc.stderr
    for line in proc.stdout.splitlines():
        if line.startswith("figure: "):
            figure = Path(line[len("figure: "):])
            assert figure.parent == tmp_path and figure.stat().st_size > 0
