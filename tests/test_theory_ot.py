"""T10: generators trained by OT losses without a critic (toy_experiments.ot_training, the report section)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from autograd import grad

from kantorovich.toy_experiments import ot_training as OT


def _sample(n, seed):
    g = np.random.default_rng(seed)
    z = g.uniform(size=n)
    y = np.zeros((n, 2))
    y[:, 1] = g.uniform(size=n)
    return z, y


@pytest.mark.parametrize("name", OT.LOSSES)
def test_minibatch_gradient_matches_finite_differences(name):
    cfg = OT.ParallelLinesOTConfig(batch=16, n_projections=8)
    z, y = _sample(16, 0)
    f = lambda t: OT.minibatch_loss(name, t, z, y, cfg, seed=3)  # noqa: E731
    h = 1e-5
    fd = (float(f(0.7 + h)) - float(f(0.7 - h))) / (2 * h)
    tol = 1e-3 if name == "sinkhorn" else 1e-6  # Sinkhorn stops at its tolerance
    assert abs(float(grad(f)(0.7)) - fd) < tol


def test_exact_1d_w1_is_abs_theta_and_minibatch_w1_is_biased_up():
    cfg = OT.ParallelLinesOTConfig(batch=32)
    z, y = _sample(32, 1)
    for t in (-0.4, 0.3):
        assert float(OT.minibatch_loss("w1_1d", t, z, y, cfg)) == pytest.approx(abs(t), abs=1e-15)
        assert float(grad(lambda s: OT.minibatch_loss("w1_1d", s, z, y, cfg))(t)) == np.sign(t)
        w = float(OT.minibatch_loss("emd", t, z, y, cfg))
        assert w > abs(t)
        g = float(grad(lambda s: OT.minibatch_loss("emd", s, z, y, cfg))(t))
        assert 0 < abs(g) < 1 and np.sign(g) == np.sign(t)


def test_js_gradient_is_zero_off_zero():
    assert OT.js_gradient(1.0) == 0.0
    assert OT.js_gradient(-0.3) == 0.0


def test_training_drives_theta_to_zero_and_js_stalls():
    cfg = OT.ParallelLinesOTConfig(n_steps=30, batch=16, lr=0.1, n_projections=10)
    res = OT.run_parallel_lines_ot(cfg, rng=0)
    assert set(res["runs"]) == set(OT.LOSSES) | {"js"}
    for name in OT.LOSSES:
        assert res["runs"][name]["theta"].shape == (31,)
        assert res["final_abs_theta"][name] < 0.3, name
    assert res["grad_far"]["w1_1d"] == 1.0
    assert abs(res["grad_far"]["sliced"] - 2 / math.pi) < 0.2
    assert np.all(res["runs"]["js"]["theta"] == 1.0)
    # reproducible from the seed
    res2 = OT.run_parallel_lines_ot(cfg, rng=0)
    for name in OT.LOSSES:
        np.testing.assert_array_equal(res["runs"][name]["theta"], res2["runs"][name]["theta"])


def test_landscape_shapes_and_closed_forms():
    cfg = OT.ParallelLinesOTConfig(batch=12, losses=("w1_1d", "emd"))
    land = OT.parallel_lines_landscape([-0.5, 0.0, 0.5], cfg, rng=0, n_rep=2)
    assert land["value"]["emd"].shape == (2, 3)
    np.testing.assert_allclose(land["w1"], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(land["js"], [math.log(2), 0.0, math.log(2)])
    np.testing.assert_allclose(land["value"]["w1_1d"], [[0.5, 0.0, 0.5]] * 2, atol=1e-15)
    assert np.all(land["value"]["emd"][:, 1] > 0)


@pytest.mark.parametrize("kw, match", [
    ({"n_steps": 0}, "`n_steps`"), ({"batch": 1}, "`batch`"), ({"lr": -1.0}, "`lr`"), ({"eps": 0.0}, "`eps`"),
    ({"losses": ()}, "`losses`"), ({"losses": ("kl",)}, "`losses`"), ({"theta0": float("nan")}, "`theta0`"),
    ({"n_projections": 0}, "`n_projections`"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        OT.ParallelLinesOTConfig(**kw).validate()


def test_bad_landscape_thetas():
    with pytest.raises(ValueError, match="`thetas`"):
        OT.parallel_lines_landscape([], OT.ParallelLinesOTConfig(batch=4, losses=("w1_1d",)))


def test_plots_return_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kantorovich.plots.theory_ot import plot_ot_landscape, plot_ot_training

    cfg = OT.ParallelLinesOTConfig(n_steps=3, batch=4, losses=("w1_1d",))
    for fig in (plot_ot_training(OT.run_parallel_lines_ot(cfg, rng=0)),
                plot_ot_landscape(OT.parallel_lines_landscape([-0.5, 0.0, 0.5], cfg, rng=0, n_rep=1))):
        assert len(fig.axes) == 2
        plt.close(fig)


def test_section_quick_mode_checks_agree(tmp_path):
    from kantorovich.report import run_report

    res = run_report(tmp_path, quick=True, only=["theory_t10_parallel_lines"], show_progress=False)
    assert res["failed"] == []
    checks = res["sections"]["theory_t10_parallel_lines"]["checks"]
    assert len(checks) >= 10
    assert all(c["agrees"] for c in checks), [c["result"] for c in checks if not c["agrees"]]
