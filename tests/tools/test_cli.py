"""The command line rejects bad arguments before it writes anything."""

from __future__ import annotations

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
