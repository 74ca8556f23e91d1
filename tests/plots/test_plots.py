"""kantorovich.plots: data in, Figure out; ``ax=`` draws into the given Axes; no plot computes."""

from __future__ import annotations

import ast
import doctest
import importlib
import pathlib
import warnings
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import kantorovich.plots as P  # noqa: E402

_MODULES = ("auction", "emd1d", "emd_exact", "estimators", "foundation", "mode_hopping", "sinkhorn",
            "theory", "theory_games", "theory_ot")
_RNG = np.random.default_rng(0)
_X2, _Y2 = _RNG.normal(size=(6, 2)), _RNG.normal(size=(6, 2)) + 1
_T = np.linspace(-1.0, 1.0, 5)
_NS = np.array([32, 64, 128])


def _game(path):
    path = np.asarray(path, float)
    return SimpleNamespace(path=path, method="extragradient", value=float(np.hypot(*path[-1])), diverged=False)


_PATH = np.c_[np.linspace(1, 0.1, 8), np.linspace(2, 0.2, 8)]
_RUN = {"steps": np.array([0, 10, 100]), "grad_sat": np.array([1.0, 0.1, 0.01]),
        "bound": np.array([np.inf, 0.5, 0.05]), "eps": np.array([2.0, 0.3, 0.03]),
        "mean_d_fake": np.array([0.5, 0.3, 0.2])}
_FIT = dict(x=_RNG.standard_cauchy(300), cauchy_loc=0.0, cauchy_scale=1.0, loglik_cauchy=-1.0, norm_loc=0.0,
            norm_scale=3.0, loglik_norm=-2.0, hill_alpha=1.0, running_var=[1.0, 5.0])
_LINES = {"theta": np.linspace(1, 0, 11), "grad": np.ones(10)}
_CENTERS = np.array([[1.0, 0.0], [-1.0, 0.0]])
_GX, _GY = np.meshgrid(np.linspace(-1, 2, 10), np.linspace(-1, 1, 10))
_SURF = {"gx": _GX, "gy": _GY, "values": _GX, "arrows_at": np.c_[_GX.ravel(), _GY.ravel()][::7],
         "gradients": np.tile([1.0, 0.0], (15, 1)), "value": 1.0, "w1_lp": 1.0, "max_grad_norm": 1.0}
_MODE = SimpleNamespace(samples=np.repeat(_CENTERS, 5, axis=0), value=2, hq_fraction=1.0, reverse_kl=0.0)
_TRAJ = SimpleNamespace(steps=[0, 5], samples=[np.repeat(_CENTERS, 5, axis=0)] * 2, centers=_CENTERS,
                        info={"near": 0.25}, occupied=[2, 1], shares=[np.array([0.5, 0.5]), np.array([1.0, 0.0])],
                        dominant=[0, 0])

# name -> (positional arguments, keyword arguments, number of panels)
CASES = {
    "plot_transport_plan": ((_X2, _Y2, np.eye(6) / 6), {}, 1),
    "plot_plan_matrix": ((np.eye(6) / 6,), {}, 1),
    "plot_plan_panels": ((_X2, _Y2, np.eye(6) / 6), {"value": 1.0}, 2),
    "plot_estimate_vs_n": ((_NS, 1 + _NS ** -0.5, 0.1 * _NS ** -0.5, 1.0), {"n_replicates": 3}, 1),
    "plot_empirical_convergence": ((_NS, {"e": _NS ** -0.5}), {"rates": {"e": 0.5}}, 1),
    "plot_w2_convergence": ((_NS, 1 + _NS ** -0.5, 0.1 * _NS ** -0.5, 1.0, {"e": _NS ** -0.5}),
                            {"n_replicates": 3}, 2),
    "plot_cdf_area": ((_X2[:, 0], _Y2[:, 0]), {"value": 1.0}, 1),
    "plot_quantile_area": ((_X2[:, 0], _Y2[:, 0]), {"p": 2, "value": 1.0}, 1),
    "plot_cdf_quantile_panels": ((_X2[:, 0], _Y2[:, 0]), {"value": 1.0, "population_value": 1.0}, 2),
    "plot_sliced_convergence": ((_RNG.uniform(0.5, 1.5, 50),), {"closed_form": 1.0, "upper_lines": {"W": 2.0}}, 1),
    "plot_sliced_parallel_lines": ((_T, 2 * abs(_T) / np.pi, abs(_T), abs(_T)), {}, 1),
    "plot_sliced_panels": ((_RNG.uniform(0.5, 1.5, 50), _T, 2 * abs(_T) / np.pi, abs(_T), abs(_T)),
                           {"closed_form": 1.0, "ymax": 2.0}, 2),
    "plot_timings": (({"a": ([10, 20, 40], [0.1, 0.4, 1.6])},), {"notes": "synthetic"}, 1),
    "plot_matching_vs_sinkhorn": ((_X2, _Y2, np.arange(6), np.full((6, 6), 1 / 36)), {"eps": 0.1,
                                                                                    "values": (1.0, 1.1)}, 2),
    "plot_plans": ((_X2, _Y2, [np.full((6, 6), 1 / 36), np.eye(6) / 6], ["blur", "exact"]), {}, 2),
    "plot_convergence": (({"run": ([10, 20, 30], [1e-1, 1e-3, 1e-5])},), {"eps": 0.01}, 1),
    "plot_value_vs_eps": ((np.geomspace(0.3, 1e-3, 4), 1 + np.geomspace(0.3, 1e-3, 4), 1.0), {}, 2),
    "plot_parallel_lines": ((_T, abs(_T), np.where(_T == 0, 0, np.log(2)), np.where(_T == 0, 0, 1.0)), {}, 4),
    "plot_cumulative_deltas": (([3, 2, 1, 4], [1, 2, 4, 3], [0, 2, 2, -1, 0], 5.0), {}, 2),
    "plot_optimal_discriminator": ((_T, 1 + 0 * _T, 1 + _T ** 2, 1 / (2 + _T ** 2)),
                                   {"t": _T, "bound": -_T ** 2, "js": 0.1}, 2),
    "plot_estimator_errors": (({1: {"knn": (_NS, _NS ** -0.5, 0.01 + 0 * _NS)},
                                2: {"knn": (_NS, _NS ** -0.3, 0.01 + 0 * _NS)}},), {"title": "t"}, 2),
    "plot_estimators_parallel_lines": (([100, 400], {"knn": [0.6, 0.68]}, {"knn": [0.9, 0.97]}, [9.0, 11.8]),
                                       {}, 3),
    "plot_vanishing": (({"runs": {1.0: _RUN, 2.0: _RUN}},), {}, 2),
    "plot_identity": (({"theta0": _NS / 100, "rhs": _NS / 100, "lhs_quad": _NS / 100, "lhs_mc": _NS / 100 + 0.01,
                        "lhs_se": 0.01 + 0 * _NS, "kl_grad": _NS / 100, "js_grad": 0 * _NS},), {}, 2),
    "plot_cauchy": (({"disjoint": dict(_FIT, d_star=0.0), "control": dict(_FIT, d_star=0.5), "ns": [100, 300],
                      "k": 30},), {}, 3),
    "plot_parallel_lines_gan": (({"runs": {"js": _LINES, "wgan_gp": _LINES}},), {}, 2),
    "plot_instance_noise": (({"runs": {0.0: _RUN, 0.5: _RUN}},), {}, 2),
    "plot_saturation": (({"mean_d_fake": _T[3:] / 2, "grad_sat": _T[3:], "grad_ns": 1 - _T[3:] / 2,
                          "ratio": 2 / _T[3:]},), {}, 2),
    "plot_bilinear_trajectories": (({"a": _game(_PATH), "b": _PATH * 1.1},), {}, 1),
    "plot_bilinear_grid": (({"extragradient": {0.1: _game(_PATH)}, "adam": {0.1: _game(_PATH)}},), {"ncols": 2}, 2),
    "plot_lr_sweep": (({"lrs": np.array([0.01, 0.1]), "final": {"adam": [1.0, 0.1]}},), {"n_steps": 10}, 1),
    "plot_dirac_gan": (({"a": _game(_PATH), "b": _game(_PATH[::-1])},),
                       {"field_fn": lambda title: (lambda t, p: (-p, t))}, 2),
    "plot_critic_surfaces": (({"exact": _SURF},), {"samples": (_X2, _Y2)}, 1),
    "plot_critic_estimates": ((["clip", "GP"], [0.05, 0.97]), {}, 1),
    "plot_mode_samples": (({"gan": _MODE}, _MODE.samples, _CENTERS, 0.05), {}, 2),
    "plot_mode_trajectories": (({"gan": _TRAJ},), {"real": _MODE.samples}, 3),
    "plot_ot_training": (({"runs": {"emd": _LINES, "sliced": _LINES}},), {}, 2),
    "plot_ot_landscape": (({"theta": _T, "value": {"emd": abs(_T)[None]}, "grad": {"emd": np.sign(_T)[None]},
                            "w1": abs(_T), "sliced_pop": 2 * abs(_T) / np.pi, "js": np.where(_T == 0, 0, 0.69),
                            "batch": 8},), {}, 2),
    "plot_ot_generators": (({"sinkhorn": {"samples": _MODE.samples, "centers": _CENTERS, "std": 0.05, "modes": 2,
                                          "hq_fraction": 1.0, "reverse_kl": 0.0}}, _MODE.samples), {}, 2),
    "plot_sinkhorn_flow": (({"target": _Y2, "snapshots": {0: _X2, 5: _Y2}, "value": {0: 1.0, 5: 0.0}},), {}, 2),
}


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_every_public_function_has_a_case_and_a_numpy_docstring():
    assert sorted(CASES) == sorted(P.__all__)
    for name in P.__all__:
        doc = getattr(P, name).__doc__ or ""
        for head in ("Parameters\n", "Returns\n", "Examples\n"):
            assert head in doc, (name, head)


@pytest.mark.parametrize("name", sorted(CASES))
def test_draws_into_the_given_axes_and_returns_their_figure(name):
    args, kwargs, n = CASES[name]
    fig, grid = plt.subplots(1, n, squeeze=False)
    axes = list(grid.ravel())
    out = getattr(P, name)(*args, **kwargs, ax=axes[0] if n == 1 else axes)
    assert out is fig
    for a in axes:  # every given panel got something drawn into it
        assert a.has_data() or a.get_title() or a.texts, (name, axes.index(a))
    assert len(plt.get_fignums()) == 1  # and no other figure was made


@pytest.mark.parametrize("name", sorted(CASES))
def test_without_ax_returns_a_new_figure(name):
    args, kwargs, _ = CASES[name]
    before = set(plt.get_fignums())
    out = getattr(P, name)(*args, **kwargs)
    assert isinstance(out, matplotlib.figure.Figure)
    assert set(plt.get_fignums()) - before == {out.number}


def test_too_few_axes_is_a_value_error_naming_ax():
    _, ax = plt.subplots()
    with pytest.raises(ValueError, match="`ax` must hold 2 Axes"):
        P.plot_value_vs_eps(*CASES["plot_value_vs_eps"][0], ax=[ax])


def test_old_axes_keyword_warns_and_still_draws():
    fig, axes = plt.subplots(1, 2)
    with pytest.warns(DeprecationWarning, match="axes=.*deprecated"):
        assert P.plot_plans(*CASES["plot_plans"][0], axes=axes) is fig


@pytest.mark.parametrize("module, old, new", [("estimators", "error_vs_n", "plot_estimator_errors"),
                                              ("estimators", "parallel_lines", "plot_estimators_parallel_lines"),
                                              ("theory", "plot_parallel_lines", "plot_parallel_lines_gan")])
def test_old_names_warn_and_return_the_renamed_function(module, old, new):
    mod = importlib.import_module(f"kantorovich.plots.{module}")
    with pytest.warns(DeprecationWarning, match=new):
        assert getattr(mod, old) is getattr(P, new)


def test_no_plot_imports_a_solver_or_an_experiment():
    src = pathlib.Path(P.__file__).parent
    for path in sorted(src.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level >= 2:
                assert node.module in ("_warnings",), (path.name, node.module)
            if isinstance(node, ast.ImportFrom) and node.level == 0:
                assert not (node.module or "").startswith("kantorovich"), (path.name, node.module)


@pytest.mark.parametrize("module", ("__init__",) + _MODULES)
def test_docstring_examples_run(module):
    mod = P if module == "__init__" else importlib.import_module(f"kantorovich.plots.{module}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert res.failed == 0 and res.attempted > 0


@pytest.mark.parametrize("name", sorted(CASES))
def test_given_axes_keep_their_figure_title_and_constrained_layout(name):
    # a slide made with layout="constrained" and its own title: drawing a figure into some of
    # its Axes must not switch it to tight_layout (a UserWarning; a RuntimeError beside a
    # colour bar) nor replace its title
    args, kwargs, n = CASES[name]
    fig, grid = plt.subplots(1, n + 1, squeeze=False, layout="constrained")
    fig.suptitle("my slide")
    axes = list(grid.ravel())[:n]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert getattr(P, name)(*args, **kwargs, ax=axes[0] if n == 1 else axes) is fig
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    assert fig.get_suptitle() == "my slide"
    assert not fig.legends


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_call_that_fails_leaves_no_open_figure(name, monkeypatch):
    # whatever fails once the function has made its Figure, pyplot must not keep that Figure
    def fail(*args, **kwargs):
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(matplotlib.figure.Figure, "subplots", fail)
    args, kwargs, _ = CASES[name]
    before = plt.get_fignums()
    with pytest.raises(RuntimeError, match="drawing failed"):
        getattr(P, name)(*args, **kwargs)
    assert plt.get_fignums() == before


_PLAN = np.eye(6) / 6
BAD_DATA = [  # (function, positional arguments, keyword arguments, the message's start)
    ("plot_transport_plan", (_X2, _Y2[:5], _PLAN), {}, r"`plan` must have shape \(n, m\) = \(6, 5\)"),
    ("plot_transport_plan", (_X2[:, :1], _Y2, _PLAN), {}, "`x` must have 2 columns"),
    ("plot_transport_plan", (_X2, _Y2, np.full((6, 6), np.nan)), {}, "`plan` holds NaN"),
    ("plot_transport_plan", (_X2, _Y2, _PLAN), {"a": np.ones(5)}, "`a` and `x` must have one length"),
    ("plot_plan_matrix", (np.zeros((0, 3)),), {}, "`plan` is empty"),
    ("plot_plan_matrix", (np.array([[np.nan, 1.0]]),), {}, "`plan` holds NaN"),
    ("plot_plan_panels", (_X2, _Y2, _PLAN[:5]), {}, r"`plan` must have shape"),
    ("plot_estimate_vs_n", (_NS, [1.0, 1.1], [0.1, 0.1, 0.1], 1.0), {"n_replicates": 3},
     "`ns` and `mean` and `sd` must have one length"),
    ("plot_empirical_convergence", (_NS, {"e": [1.0, 0.5]}), {}, r"`ns` and `errors\['e'\]` must have one length"),
    ("plot_empirical_convergence", ([0, 10, 100], {"e": [1.0, 0.5, 0.2]}), {}, "`ns` must be positive"),
    ("plot_cdf_area", ([], [1.0, 2.0]), {}, "`u` is empty"),
    ("plot_quantile_area", ([1.0, np.nan], [1.0, 2.0]), {}, "`u` holds NaN"),
    ("plot_cdf_area", ([1.0, 2.0], [1.0, 2.0]), {"v_weights": [1.0]}, "`v` and `v_weights` must have one length"),
    ("plot_plans", (_X2, _Y2, [_PLAN, _PLAN[:, :5]], ["a", "b"]), {}, r"`plans\[1\]` must have shape"),
    ("plot_plans", (_X2, _Y2, [_PLAN], ["a", "b"]), {}, "`plans` and `titles` must have one"),
    ("plot_matching_vs_sinkhorn", (_X2, _Y2, [0, 1, 2, 3, 4, 4], _PLAN), {"eps": 0.1}, "`perm` must be a permutation"),
    ("plot_matching_vs_sinkhorn", (_X2, _Y2, np.arange(5), _PLAN), {"eps": 0.1}, "`perm` must have length 6"),
    ("plot_optimal_discriminator", (_T, _T[:4], _T, _T), {}, "`x` and `p_data` and `p_g` and `D` must have one"),
    ("plot_sliced_convergence", ([1.0, np.nan, 0.5],), {}, "`per_direction_wp` holds NaN"),
    ("plot_sliced_convergence", ([1.0, -0.5],), {}, "`per_direction_wp` must be non-negative"),
    ("plot_sliced_parallel_lines", (_T, _T, _T, _T[:3]), {}, "`thetas` and `sw` and `msw` and `w` must have one"),
    ("plot_sliced_panels", ([1.0, np.nan], _T, _T, _T, _T), {}, "`per_direction_wp` holds NaN"),
    ("plot_sliced_panels", ([1.0, 0.5], _T, _T[:4], _T, _T), {}, "`thetas` and `sw` and `msw` and `w` must have one"),
    ("plot_timings", ({"a": ([10, 20], [0.1])},), {}, r"`curves\['a'\]\[0\]` and `curves\['a'\]\[1\]` must have one"),
    ("plot_timings", ({"a": ([10, 20], [0.1, 0.0])},), {}, r"`curves\['a'\]` must hold positive"),
    ("plot_timings", ({"a": ([], [])},), {}, "`curves` holds no timings"),
    ("plot_convergence", ({"run": ([10, 20, 30], [1e-1, 1e-3])},), {}, r"`curves\['run'\]\[0\]` and .* must have one"),
    ("plot_convergence", ({},), {}, "`curves` is empty"),
    ("plot_value_vs_eps", ([0.1, 0.01, 0.001], [1.1, 1.01], 1.0), {}, "`eps` and `values` must have one length"),
    ("plot_value_vs_eps", ([0.1, 0.0], [1.1, 1.01], 1.0), {}, "`eps` must be positive"),
    ("plot_value_vs_eps", ([0.1, 0.01], [1.1, np.nan], 1.0), {}, "`values` holds NaN"),
    ("plot_parallel_lines", (_T, abs(_T), abs(_T)[:3], abs(_T)), {}, "`thetas` and `w1` and `js` and `tv` must have one"),
    ("plot_parallel_lines", (_T, abs(_T), abs(_T), [np.nan] * 5), {}, "`tv` holds NaN"),
    ("plot_cumulative_deltas", ([3, 2, 1, 4], [1, 2, 4, 3], [0, 2, 2, -1], 5.0), {}, "`deltas` must have length n \\+ 1 = 5"),
    ("plot_cumulative_deltas", ([3, 2, np.nan, 4], [1, 2, 4, 3], [0, 2, 2, -1, 0], 5.0), {}, "`p` holds NaN"),
    ("plot_estimator_errors", ({1: {"knn": (_NS, _NS[:2] ** -0.5, 0.01 + 0 * _NS)}},), {},
     r"`results\[1\]\['knn'\]\[0\]` and .* must have one length"),
    ("plot_estimator_errors", ({1: {"knn": ([0, 10, 100], [0.1, 0.1, 0.1], [0.0, 0.0, 0.0])}},), {},
     r"`results\[1\]\['knn'\]\[0\]` must be positive"),
    ("plot_estimators_parallel_lines", ([100, 400], {"knn": [0.6]}, {"knn": [0.9, 0.97]}, [9.0, 11.8]), {},
     r"`ns` and `js\['knn'\]` must have one length"),
    ("plot_estimators_parallel_lines", ([100, 400], {"knn": [0.6, 0.7]}, {"knn": [0.9, 0.97]}, [9.0]), {},
     "`ns` and `kl_raw` must have one length"),
    ("plot_vanishing", ({"runs": {1.0: dict(_RUN, eps=_RUN["eps"][:2])}},), {}, r"`res\['runs'\]\[1.0\]\['steps'\]` and"),
    ("plot_vanishing", ({"runs": {1.0: {k: v for k, v in _RUN.items() if k != "bound"}}},), {},
     r"`res\['runs'\]\[1.0\]` has no key 'bound'"),
    ("plot_vanishing", ({},), {}, "`res` has no key 'runs'"),
    ("plot_identity", ({"theta0": _T, "rhs": _T},), {}, "`res` has no key 'lhs_quad'"),
    ("plot_cauchy", ({"disjoint": dict(_FIT, d_star=0.0), "control": dict(_FIT, d_star=0.5), "ns": [100, 300],
                      "k": 300},), {}, r"`res\['k'\]` must be in \[0, 300\)"),
    ("plot_cauchy", ({"disjoint": dict(_FIT, d_star=0.0), "control": dict(_FIT, d_star=0.5), "ns": [100],
                      "k": 30},), {}, r"`res\['ns'\]` and `res\['disjoint'\]\['running_var'\]` must have one"),
    ("plot_parallel_lines_gan", ({"runs": {"js": {"theta": np.ones(10), "grad": np.ones(10)}}},), {},
     r"`res\['runs'\]\['js'\]\['theta'\]` must be one longer"),
    ("plot_instance_noise", ({"runs": {0.0: {"steps": [0, 1], "grad_sat": [1.0, 0.5]}}},), {},
     r"`res\['runs'\]\[0.0\]` has no key 'mean_d_fake'"),
    ("plot_saturation", ({"mean_d_fake": _T[3:], "grad_sat": _T[3:], "grad_ns": _T, "ratio": _T[3:]},), {},
     r"`res\['mean_d_fake'\]` and .*`res\['grad_ns'\]`.* must have one"),
    ("plot_bilinear_trajectories", ({"a": _PATH[:, :1]},), {}, r"`trajs\['a'\]` must have 2 columns"),
    ("plot_bilinear_trajectories", ({},), {}, "`trajs` is empty"),
    ("plot_bilinear_grid", ({"adam": {0.1: _PATH}},), {}, r"`runs\['adam'\]\[0.1\]` has no 'path'"),
    ("plot_lr_sweep", ({"lrs": [0.01, 0.1], "final": {"adam": [1.0]}},), {},
     r"`sweep\['lrs'\]` and `sweep\['final'\]\['adam'\]` must have one"),
    ("plot_lr_sweep", ({"final": {"adam": [1.0]}},), {}, "`sweep` has no key 'lrs'"),
    ("plot_dirac_gan", ({"a": SimpleNamespace(path=_PATH)},), {}, r"`trajs\['a'\]` has no 'value'"),
    ("plot_critic_surfaces", ({"exact": dict(_SURF, values=_GX[:5])}, (_X2, _Y2)), {}, "must have one shape"),
    ("plot_critic_surfaces", ({"exact": {k: v for k, v in _SURF.items() if k != "w1_lp"}}, (_X2, _Y2)), {},
     r"`surfaces\['exact'\]` has no key 'w1_lp'"),
    ("plot_critic_estimates", (["clip", "GP"], [0.05]), {}, "`labels` and `ratios` must have one length"),
    ("plot_critic_estimates", (["clip", "GP"], [0.05, -1.0]), {}, "`ratios` must be positive"),
    ("plot_mode_samples", ({"gan": _MODE}, _MODE.samples[:, :1], _CENTERS, 0.05), {}, "`real` must have 2 columns"),
    ("plot_mode_samples", ({"gan": _MODE}, _MODE.samples, _CENTERS, np.nan), {}, "`std` holds NaN"),
    ("plot_mode_trajectories", ({"gan": SimpleNamespace(**dict(vars(_TRAJ), occupied=[2]))},), {},
     r"`trajectories\['gan'\].steps` and .*`trajectories\['gan'\].occupied`.* must have one"),
    ("plot_ot_training", ({"runs": {"emd": {"theta": np.ones(3)}}},), {}, r"`res\['runs'\]\['emd'\]` has no key 'grad'"),
    ("plot_ot_landscape", ({"theta": _T, "value": {"emd": abs(_T)[None, :4]}, "grad": {"emd": np.sign(_T)[None]},
                            "w1": abs(_T), "sliced_pop": abs(_T), "js": abs(_T), "batch": 8},), {},
     r"`land\['value'\]\['emd'\]` must have shape \(replicates, 5\)"),
    ("plot_ot_generators", ({"s": {"samples": _MODE.samples, "centers": _CENTERS, "std": 0.05}}, _MODE.samples), {},
     r"`runs\['s'\]` has no key 'modes'"),
    ("plot_ot_generators", ({"s": {"samples": _MODE.samples, "centers": _CENTERS, "std": 0.05, "modes": 2,
                                   "hq_fraction": 1.0, "reverse_kl": 0.0}}, [[np.nan, 0.0]]), {}, "`data` holds NaN"),
    ("plot_sinkhorn_flow", ({"target": _Y2, "snapshots": {0: _X2, 5: _Y2}, "value": {0: 1.0}},), {},
     r"`flow\['value'\]` has no key 5"),
    ("plot_sinkhorn_flow", ({"target": _Y2, "snapshots": {0: _X2, 5: _Y2}, "value": [1.0, 0.5]},), {},
     r"`flow\['value'\]` must hold S_eps at every snapshot step \[0, 5\]"),
    ("plot_sinkhorn_flow", ({"target": _Y2, "snapshots": {0: _X2[:, :1]}, "value": {0: 1.0}},), {},
     r"`flow\['snapshots'\]\[0\]` must have 2 columns"),
]


@pytest.mark.parametrize("name, args, kwargs, message", BAD_DATA)
def test_bad_data_is_a_value_error_naming_the_argument(name, args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(P, name)(*args, **kwargs)
    assert plt.get_fignums() == []


def test_torch_tensors_and_lists_are_arrays():
    torch = pytest.importorskip("torch")
    t = torch.linspace(-1.0, 1.0, 5, requires_grad=True)
    dens = (1 + t ** 2).detach().requires_grad_()
    assert isinstance(P.plot_optimal_discriminator(t, torch.ones(5), dens, 1 / (1 + dens)), matplotlib.figure.Figure)
    assert isinstance(P.plot_plans(_X2.tolist(), _Y2.tolist(), [_PLAN.tolist()], ["exact"]), matplotlib.figure.Figure)
    assert isinstance(P.plot_matching_vs_sinkhorn(torch.as_tensor(_X2), _Y2.tolist(), torch.arange(6),
                                                  torch.as_tensor(_PLAN), eps=0.1), matplotlib.figure.Figure)
    # lists where an array is documented: each of these raised TypeError or IndexError before
    for name, args in [("plot_mode_samples", ({"gan": _MODE}, _MODE.samples.tolist(), _CENTERS.tolist(), 0.05)),
                       ("plot_ot_generators", ({"s": {**CASES["plot_ot_generators"][0][0]["sinkhorn"],
                                                      "samples": _MODE.samples.tolist()}}, _MODE.samples.tolist())),
                       ("plot_parallel_lines_gan", ({"runs": {"js": {"theta": list(_LINES["theta"]),
                                                                     "grad": torch.ones(10)}}},)),
                       ("plot_sinkhorn_flow", ({"target": _Y2.tolist(), "snapshots": {0: torch.as_tensor(_X2)},
                                                "value": {0: 1.0}},)),
                       ("plot_sinkhorn_flow", ({"target": _Y2, "snapshots": {0: _X2, 2: _Y2},  # S_eps by step
                                                "value": np.array([1.0, 0.5, 0.1])},)),
                       ("plot_critic_surfaces", ({"exact": _SURF}, (_X2.tolist(), torch.as_tensor(_Y2))))]:
        assert isinstance(getattr(P, name)(*args), matplotlib.figure.Figure), name


# What a reader of a projected or printed figure needs, checked without eyes: every panel
# says what its axes are and what it shows, legends stay on the page, and curves told apart
# by a legend differ in more than colour.

def _is_colorbar(a):
    return a.get_label() == "<colorbar>" or hasattr(a, "_colorbar")


def _panels(fig):
    """The Axes of ``fig`` a reader looks at: visible, axis shown, no colour bars, no twins
    (an Axes at the position of an earlier one: its partner carries title and x label)."""
    seen, out = [], []
    for a in fig.axes:
        if not a.get_visible() or not a.axison or _is_colorbar(a):
            continue
        pos = tuple(np.round(a.get_position().bounds, 4))
        if pos in seen:
            continue
        seen.append(pos)
        out.append(a)
    return out


def _labelled(a, panels, which, fig_label):
    """``a``'s x (or y) axis says what it is: its own label, the figure's common label, or
    that of a panel in the same column (row) with the same limits and scale."""
    get = (lambda p: p.get_xlabel()) if which == "x" else (lambda p: p.get_ylabel())
    if get(a) or fig_label:
        return True
    lim, scale = (a.get_xlim(), a.get_xscale()) if which == "x" else (a.get_ylim(), a.get_yscale())
    box = a.get_position()
    for p in panels:
        pb = p.get_position()
        same_line = np.isclose(pb.x0, box.x0) if which == "x" else np.isclose(pb.y0, box.y0)
        p_lim, p_scale = (p.get_xlim(), p.get_xscale()) if which == "x" else (p.get_ylim(), p.get_yscale())
        if p is not a and same_line and np.allclose(p_lim, lim) and p_scale == scale and get(p):
            return True
    return False


def _shows_ticks(a, which):
    labels = a.get_xticklabels() if which == "x" else a.get_yticklabels()
    return any(t.get_visible() and t.get_text() for t in labels)


def _drawn_points(a):
    """The display coordinates of the vertices of ``a``'s lines and of its scatter points."""
    pts = [ln.get_transform().transform(ln.get_xydata()) for ln in a.get_lines() if len(ln.get_xydata())]
    pts += [c.get_offset_transform().transform(c.get_offsets()) for c in a.collections
            if isinstance(c, matplotlib.collections.PathCollection) and len(c.get_offsets())]
    pts = np.vstack(pts) if pts else np.zeros((0, 2))
    return pts[np.isfinite(pts).all(axis=1)]


# plot_cauchy's case fits a Gaussian of scale 3 to its Cauchy sample: its flat curve then runs
# under the legend, where the real fit (scale 10^4 and more) lies two decades lower
_LEGEND_OVER_SYNTHETIC_DATA = {"plot_cauchy"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_figure_reads_without_the_code(name):
    # one drawing per figure, several checks: every panel names its axes (a scatter in the
    # plane, drawn without ticks, needs no label) and says what it shows; legends stay on the
    # page and off the drawn points; no text under 6 pt, the smallest a projected or printed
    # figure keeps legible
    args, kwargs, _ = CASES[name]
    fig = getattr(P, name)(*args, **kwargs)
    fig.draw_without_rendering()
    renderer, page = fig.canvas.get_renderer(), fig.bbox
    sup = {w: (getattr(fig, f"_sup{w}label", None) or SimpleNamespace(get_text=str)).get_text() for w in "xy"}
    panels = _panels(fig)
    for i, a in enumerate(panels):
        for w in "xy":
            if _shows_ticks(a, w):
                assert _labelled(a, panels, w, sup[w]), (name, i, f"no {w} label")
        assert a.get_title() or fig.get_suptitle(), (name, i, "no title")
    for a in fig.axes:
        leg = a.get_legend()
        if leg is None or name in _LEGEND_OVER_SYNTHETIC_DATA:
            continue
        box, pts = leg.get_window_extent(renderer), _drawn_points(a)
        inside = (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)
        assert not inside.any(), (name, "legend covers", pts[inside])
    for leg in [a.get_legend() for a in fig.axes if a.get_legend() is not None] + list(fig.legends):
        box = leg.get_window_extent(renderer)
        assert (box.x0 >= page.x0 - 1 and box.y0 >= page.y0 - 1 and box.x1 <= page.x1 + 1
                and box.y1 <= page.y1 + 1), (name, "legend off the page", box.bounds, page.bounds)
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(matplotlib.text.Text)
             if t.get_visible() and t.get_text() and t.get_fontsize() < 6]
    assert not small, (name, small)


_SEVERAL_CURVES = {  # figures whose curves a legend tells apart: (function, positional arguments)
    "plot_parallel_lines_gan": ({"runs": {"js": _LINES, "js_ns": _LINES, "wgan_gp": _LINES}},),
    "plot_vanishing": ({"runs": {2.0: _RUN, 1.0: _RUN, 0.5: _RUN}},),
    "plot_instance_noise": ({"runs": {0.0: _RUN, 0.2: _RUN, 0.5: _RUN}},),
    "plot_saturation": CASES["plot_saturation"][0],
    "plot_ot_training": ({"runs": {k: _LINES for k in ("w1_1d", "emd", "sinkhorn", "sliced", "js")}},),
    "plot_ot_landscape": (dict(CASES["plot_ot_landscape"][0][0],
                               value={k: abs(_T)[None] for k in ("w1_1d", "emd", "sinkhorn", "sliced")},
                               grad={k: np.sign(_T)[None] for k in ("w1_1d", "emd", "sinkhorn", "sliced")}),),
    "plot_estimators_parallel_lines": ([100, 400], {"knn": [0.6, 0.68], "classifier": [0.69, 0.69],
                                                    "histogram": [0.69, 0.69]},
                                       {"knn": [0.9, 0.97], "classifier": [1.0, 1.0], "histogram": [1.0, 1.0]},
                                       [9.0, 11.8]),
    "plot_convergence": ({k: ([10, 20, 30], [1e-1, 1e-3, 1e-5]) for k in ("a", "b", "c", "d")},),
    "plot_estimator_errors": ({1: {m: (_NS, _NS ** -0.5, 0.01 + 0 * _NS) for m in ("knn", "ensemble", "corrected")}},),
    "plot_lr_sweep": ({"lrs": np.array([0.01, 0.1]),
                       "final": {m: [1.0, 0.1] for m in ("simultaneous", "alternating", "momentum", "adam", "rmsprop",
                                                         "extragradient", "optimistic", "prediction")}},),
}


@pytest.mark.parametrize("name", sorted(_SEVERAL_CURVES))
def test_curves_differ_in_more_than_colour(name):
    # a grey print or a colour-blind reader (red against green) loses the colours: the
    # curves of one panel must differ in line style or marker too
    fig = getattr(P, name)(*_SEVERAL_CURVES[name])
    for a in fig.axes:
        handles, labels = a.get_legend_handles_labels()
        # an errorbar's legend entry is its container: the first of its lines is the curve
        lines = [h.lines[0] if isinstance(h, matplotlib.container.ErrorbarContainer) else h for h in handles]
        styles = [(ln.get_linestyle(), ln.get_marker()) for ln in lines if isinstance(ln, matplotlib.lines.Line2D)]
        assert len(set(styles)) == len(styles), (name, labels, styles)


def test_cauchy_panel_shows_the_gaussian_fit_it_names():
    # the Gaussian fitted to Cauchy samples is nearly flat at 1 / (2.5 sigma): with the sample
    # sigma of a large Cauchy sample it fell under the panel's floor, invisible but in the legend
    fit = dict(_FIT, norm_scale=3e4)
    fig = P.plot_cauchy({"disjoint": dict(fit, d_star=0.0), "control": dict(fit, d_star=0.5), "ns": [100, 300],
                         "k": 30})
    a = fig.axes[0]
    (gauss,) = [ln for ln in a.get_lines() if ln.get_label().startswith("Gaussian")]
    low, high = a.get_ylim()
    assert low <= np.min(gauss.get_ydata()) <= high
