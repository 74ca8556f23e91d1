"""Release files: the licence text, the type marker, one version and ``kantorovich --version``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import kantorovich
from kantorovich.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_version_flag_prints_the_package_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"kantorovich {kantorovich.__version__}"


def test_one_version_source():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'dynamic = ["version"]' in text and 'attr = "kantorovich.__version__"' in text
    assert f"version: {kantorovich.__version__}" in (ROOT / "CITATION.cff").read_text()


def test_licence_and_type_marker_ship():
    assert "BSD 3-Clause License" in (ROOT / "LICENSE").read_text()
    assert (ROOT / "src" / "kantorovich" / "py.typed").exists()
    assert re.search(r'kantorovich = \["py.typed"', (ROOT / "pyproject.toml").read_text())
