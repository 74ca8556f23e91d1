"""The package skeleton: cheap import, validation helpers, results, report runner, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from kantorovich import _validation as v
from kantorovich._results import EMDResult


def test_import_is_cheap():
    code = ("import sys, kantorovich, kantorovich.ot, kantorovich.divergences; "
            "heavy=[m for m in ('matplotlib','cupy','numba','numba.cuda','torch','jax') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_attribute():
    import kantorovich.ot as kot

    with pytest.raises(AttributeError):
        kot.no_such_function  # noqa: B018


@pytest.mark.parametrize("bad, err", [
    ([1.0, -0.5], ValueError), ([np.nan, 1.0], ValueError), ([np.inf, 1.0], ValueError),
    ([], ValueError), ([0.0, 0.0], ValueError), ("ab", TypeError), ([[1, 2], [3]], TypeError),
    ([True, False], TypeError),
])
def test_check_pmf_rejects(bad, err):
    with pytest.raises(err, match="`p`"):
        v.check_pmf(bad, "p")


def test_check_pmf_does_not_modify_input():
    p = np.array([1.0, 3.0])
    out = v.check_pmf(p, "p")
    assert np.allclose(out, [0.25, 0.75]) and p[1] == 3.0


def test_scalar_checks():
    assert v.check_positive(0.1, "eps") == 0.1
    for bad in (0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="`eps` must be a positive float"):
            v.check_positive(bad, "eps")
    with pytest.raises(TypeError):
        v.check_positive("1", "eps")
    with pytest.raises(TypeError):
        v.check_int(1.5, "k")
    with pytest.raises(ValueError, match=">= 1"):
        v.check_int(0, "k", minimum=1)
    with pytest.raises(ValueError, match="one of"):
        v.check_choice("x", "method", ("a", "b"))
    with pytest.raises(TypeError):
        v.check_rng("seed")
    assert isinstance(v.check_rng(3), np.random.Generator)


def test_samples_pair_dimension_mismatch():
    with pytest.raises(ValueError, match="same dimension"):
        v.check_sample_pair(np.zeros((3, 2)), np.zeros((3, 3)))


def test_result_to_dict_is_json():
    r = EMDResult(1.0, plan=np.eye(100), f=np.zeros(3), duality_gap=0.0)
    json.dumps(r.to_dict(), allow_nan=False)
    with pytest.raises(Exception):
        r.value = 2.0  # frozen


def test_report_runs_one_section_and_writes_files(tmp_path):
    from kantorovich.report import Context, register, run_report, _REGISTRY

    @register("_test_section", title="test", order=-1)
    def _sec(ctx: Context):
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot([0, 1], [0, 1])
        ctx.figure(fig, "line.png", "a line")
        ctx.check("one equals one", 1.0, 1.0 + 1e-13)
        ctx.number("x", np.float64(2.0))
        ctx.verdict("fine")

    try:
        res = run_report(tmp_path, quick=True, only=["_test_section"], show_progress=False)
    finally:
        _REGISTRY.pop("_test_section")
    assert res["all_checks_agree"] and not res["failed"]
    assert (tmp_path / "index.html").read_text().count("line.png") == 1
    assert json.loads((tmp_path / "results.json").read_text())["sections"]["_test_section"]["numbers"]["x"] == 2.0


def test_cli_list_and_unknown_section(tmp_path, capsys):
    from kantorovich.cli import main
    from kantorovich.report import list_sections

    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    sections = list_sections()
    assert len(lines) == len(sections)
    # every title starts in the same column, the longest name included (estimators_parallel_lines)
    starts = {line.index(s.title, len(s.name)) for line, s in zip(lines, sections)}
    assert len(starts) == 1 and starts.pop() > max(len(s.name) for s in sections)
    assert all(line.startswith(s.name + " ") for line, s in zip(lines, sections))
    assert main(["report", "--quick", "--out", str(tmp_path), "--only", "nope"]) == 2


def test_check_weights_rejects_an_overflowing_total():
    # 1e308 + 1e308 = inf: normalising by it gave zeros (a silent wrong answer downstream)
    with pytest.raises(ValueError, match="`w` must have a finite total mass"):
        v.check_weights([1e308, 1e308], "w", normalize=True)
    with pytest.raises(ValueError, match="`w` must have a finite total mass"):
        v.check_weights([[1.0, 1.0], [1e308, 1e308]], "w", batch=True)
    np.testing.assert_array_equal(v.check_weights([1e307, 1e307], "w", normalize=True), [0.5, 0.5])
