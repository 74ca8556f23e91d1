"""The report's sections give the same numbers wherever and whenever they run."""

from __future__ import annotations


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
