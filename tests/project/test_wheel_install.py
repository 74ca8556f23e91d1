"""The installed features work from a wheel in a fresh venv, outside any clone.

Builds the wheel, installs it (without re-downloading numpy & co.: the venv sees the running
interpreter's packages, while the wheel itself shadows any editable install), and runs
``kantorovich verify --quick``, ``kantorovich.testing`` and ``kantorovich bench`` from an empty
folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp / "dist"), str(ROOT)], check=True)
    (whl,) = (tmp / "dist").glob("kantorovich-*.whl")
    env_dir = tmp / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    py = env_dir / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall",
                    str(whl)], check=True)
    work = tmp / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    return py, work, env


def _run(py, work, env, *args, timeout=600):
    return subprocess.run([str(py), *args], cwd=work, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_the_wheel_is_what_imports(wheel_venv):
    py, work, env = wheel_venv
    out = _run(py, work, env, "-c", "import kantorovich, sys; print(kantorovich.__file__)")
    assert out.returncode == 0, out.stderr
    assert str(py.parents[1]) in out.stdout  # the venv's copy, not the clone's src/


def test_verify_from_the_wheel(wheel_venv):
    py, work, env = wheel_venv
    out = _run(py, work, env, "-m", "kantorovich", "verify", "--quick")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "properties hold" in out.stdout and "FAILS" not in out.stdout


def test_testing_api_from_the_wheel(wheel_venv):
    py, work, env = wheel_venv
    code = ("from scipy.stats import wasserstein_distance\n"
            "from kantorovich.testing import check_wasserstein\n"
            "print(check_wasserstein(wasserstein_distance, p=1, max_examples=10).passed)")
    out = _run(py, work, env, "-c", code)
    assert out.returncode == 0 and out.stdout.strip().endswith("True"), out.stderr


def test_bench_from_the_wheel(wheel_venv):
    py, work, env = wheel_venv
    out = _run(py, work, env, "-m", "kantorovich", "bench", "wasserstein_1d", "--quick",
               "--device", "cpu", "--peers", "scipy", "--repeat", "1", "--out", "b")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert (work / "b" / "results.json").is_file() and (work / "b" / "index.html").is_file()
    assert "every peer agrees" in out.stdout
