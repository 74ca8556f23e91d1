"""Theory by experiment, part A: T1, T2, T3, T4, T8, T9 at tiny sizes with fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from autograd import grad, jacobian

from kantorovich.toy_experiments import gradients as G
from kantorovich.toy_experiments import nn
from kantorovich.toy_experiments import parallel_lines_gan as PL
from kantorovich.toy_experiments.losses import d_loss, g_loss


# ---------------------------------------------------------------- hand-written chain rules
def test_generator_jacobian_matches_autograd():
    z = np.array([-0.7, 0.0, 0.4])
    theta = np.array([1.0, 0.25, 0.3, 1.0])
    J = jacobian(lambda th: G.segment_generator(th, z))(theta)
    np.testing.assert_allclose(G.generator_jacobian(z), J)
    np.testing.assert_allclose(np.linalg.norm(J, 2, axis=(1, 2)) ** 2, 1 + z ** 2)


def test_minimax_d_grads_match_autograd():
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [2, 6, 6, 1])
    xr, xf = rng.normal(size=(5, 2)), rng.normal(size=(7, 2))
    mine = G.minimax_d_grads(params, xr, xf, "tanh")
    ref = grad(lambda p: d_loss("minimax", nn.mlp(p, xr, activation="tanh")[:, 0],
                                nn.mlp(p, xf, activation="tanh")[:, 0]))(params)
    for (a, b), (c, d) in zip(mine, ref):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(b, d, rtol=1e-10, atol=1e-13)


def test_generator_gradients_match_autograd():
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [2, 6, 1])
    theta = np.array([1.0, 0.25, 0.0, 1.0])
    z = rng.uniform(-1, 1, 11)
    noise = 0.3 * rng.normal(size=(11, 2))
    sat, ns = G.generator_gradients(params, theta, z, "tanh", noise)
    f = lambda th: nn.mlp(params, G.segment_generator(th, z) + noise, activation="tanh")[:, 0]
    np.testing.assert_allclose(sat, grad(lambda th: g_loss("minimax", f(th)))(theta), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(ns, grad(lambda th: g_loss("non_saturating", f(th)))(theta), rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- T1
def test_t1_gradient_vanishes_under_the_bound():
    cfg = G.VanishingConfig(offsets=(1.0,), segments=G.SegmentsConfig(n_steps=400, n_checkpoints=10, n_eval=128,
                                                                      batch=64))
    res = G.run_vanishing_gradients(cfg, 0)
    h = res["runs"][1.0]
    assert res["fall"][1.0] >= 10.0                      # gradient fell at least 10x
    assert res["bound_held"][1.0] and res["n_valid"][1.0] >= 5
    assert h["eps"][-1] < 0.1                             # D close to D* in C^1 at the end
    assert h["M"] == pytest.approx(np.sqrt(1 + 1 / 3), rel=0.1)  # E(1 + z^2), z ~ U[-1, 1]


# ---------------------------------------------------------------- T2
def test_t2_identity():
    res = G.run_gradient_identity(G.IdentityConfig(thetas=(0.5, 2.0), n_mc=4000), 0)
    np.testing.assert_allclose(res["lhs_quad"], res["rhs"], atol=1e-6)
    assert res["max_z_mc"] < 4.0
    # KL(N(t,1)||N(0,1)) = t^2/2 and JS in (0, log 2)
    assert np.all((res["js"] > 0) & (res["js"] < np.log(2)))


# ---------------------------------------------------------------- T3
def test_t3_cauchy_beats_gaussian():
    res = G.run_cauchy_gradients(G.CauchyConfig(n_draws=4000), 0)
    d, c = res["disjoint"], res["control"]
    assert d["loglik_cauchy"] > d["loglik_norm"]
    assert d["ks_cauchy"] < d["ks_norm"]
    assert 0.6 < d["hill_alpha"] < 1.6
    # control (overlapping supports): light tails, the Gaussian fits better
    assert c["loglik_norm"] > c["loglik_cauchy"] and c["hill_alpha"] > 3


def test_hill_on_known_tails():
    rng = np.random.default_rng(3)
    x = rng.standard_cauchy(20000)
    assert G.hill_tail_index(x, 400) == pytest.approx(1.0, abs=0.15)
    with pytest.raises(ValueError, match="`k`"):
        G.hill_tail_index(x[:10], 10)


def test_hill_ignores_zeros_and_names_k():
    # zeros carry no tail: the estimate on x with zeros appended is the estimate on x
    x = np.random.default_rng(4).pareto(2.0, 5000) + 1.0
    assert G.hill_tail_index(np.concatenate([x, np.zeros(3000)]), 100) == G.hill_tail_index(x, 100)
    # 10 nonzero values of 100: k = 20 is too many, a ValueError naming `k` (was an IndexError)
    with pytest.raises(ValueError, match="`k` must be an integer <= 9"):
        G.hill_tail_index(np.concatenate([np.zeros(90), np.arange(1.0, 11.0)]), 20)
    with pytest.raises(ValueError, match="`x` must contain only finite"):
        G.hill_tail_index(np.array([1.0, np.nan, 2.0, 3.0]), 1)


@pytest.mark.parametrize("kw,match", [
    ({"tail_fraction": 2.0}, "`tail_fraction` must be a float in \\(0, 1\\)"),
    ({"tail_fraction": 1.0}, "`tail_fraction`"),
    ({"d_star": float("nan")}, "`d_star` must be a finite float"),
    ({"control_d_star": float("inf")}, "`control_d_star` must be a finite float"),
])
def test_bad_cauchy_config(kw, match):
    with pytest.raises(ValueError, match=match):
        G.run_cauchy_gradients(G.CauchyConfig(n_draws=100, **kw), 0)


@pytest.mark.parametrize("field", ["offset", "slope"])
def test_cauchy_config_has_no_settings_that_do_nothing(field):
    # `offset` and `slope` were accepted and never read by the formal model
    with pytest.raises(TypeError, match=field):
        G.CauchyConfig(**{field: 2.0})


# ---------------------------------------------------------------- T4
def test_t4_wgan_moves_js_stalls():
    cfg = PL.ParallelLinesConfig(variants=("js", "wgan_gp"), n_gen_steps=30, n_pretrain=100, n_critic=3,
                                 batch=32, hidden=(16, 16), lr_g=0.03)
    res = PL.run_parallel_lines(cfg, 0)
    js, wg = res["runs"]["js"], res["runs"]["wgan_gp"]
    assert np.max(np.abs(js["grad"])) < 0.05            # trained JS discriminator: gradient ~ 0
    assert abs(js["theta"][-1] - 1.0) < 0.01             # theta did not move
    assert res["mean_abs_grad_early"]["wgan_gp"] == pytest.approx(1.0, abs=0.35)  # ~ sign(theta)
    assert np.min(np.abs(wg["theta"])) < 0.3             # theta travelled toward 0


# ---------------------------------------------------------------- T8
def test_t8_instance_noise_restores_gradients():
    cfg = G.InstanceNoiseConfig(noise_stds=(0.0, 0.5),
                                segments=G.SegmentsConfig(n_steps=400, n_checkpoints=6, n_eval=128, batch=64))
    res = G.run_instance_noise(cfg, 0)
    assert res["ratio_to_clean"][0.5] > 10.0


# ---------------------------------------------------------------- T9
def test_t9_non_saturating_beats_saturating():
    h = G.run_saturation(G.SaturationConfig(G.SegmentsConfig(n_steps=300, n_checkpoints=6, n_eval=128, batch=64)), 0)
    assert h["mean_d_fake"][-1] < 0.05                   # D rejects the fakes confidently
    assert h["ratio_final"] > 10.0
    # the ratio is the mean of (1 - D)|grad f| over the mean of D |grad f|: at least ~1/max D
    assert np.all(h["grad_ns"][-3:] > h["grad_sat"][-3:])


# ---------------------------------------------------------------- bad configurations
@pytest.mark.parametrize("kw,match", [
    ({"lr": -0.1}, "lr"),
    ({"batch": 0}, "batch"),
    ({"optimizer": "adagrad"}, "sgd"),
    ({"activation": "swish"}, "relu"),
    ({"slope": 2.0}, "slope"),
    ({"slope": float("nan")}, "`slope` must be a finite float"),
    ({"slope": float("inf"), "noise_std": 0.5}, "`slope` must be a finite float"),
])
def test_bad_segments_config(kw, match):
    with pytest.raises(ValueError, match=match):
        G.run_discriminator_training(G.SegmentsConfig(**kw), 0)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the ValueError says it all
def test_bad_parallel_lines_config():
    with pytest.raises(ValueError, match="js"):
        PL.run_parallel_lines(PL.ParallelLinesConfig(variants=("wgan_clip",)), 0)
    with pytest.raises(ValueError, match="batch"):
        PL.run_parallel_lines(PL.ParallelLinesConfig(batch=0), 0)
    with pytest.raises(ValueError, match="lr_g"):
        PL.run_parallel_lines(PL.ParallelLinesConfig(lr_g=0), 0)
    # a diverging run named the optimiser's internal `grads`
    with pytest.raises(ValueError, match=r"training diverged at step \d+: .*`lr_g` \(got 1e\+300\)"):
        PL.run_parallel_lines(PL.ParallelLinesConfig(lr_g=1e300, variants=("wgan_gp",), n_gen_steps=5,
                                                     n_critic=1, n_pretrain=0, batch=8, hidden=(4,)), 0)
    # a NaN start ran until the optimiser refused the NaN gradients, naming `grads`
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="`theta0` must be a finite float"):
            PL.run_parallel_lines(PL.ParallelLinesConfig(theta0=bad, n_pretrain=0, n_gen_steps=2), 0)


@pytest.mark.parametrize("bad", ["1.0", None, [1.0], True])
def test_scalar_settings_that_are_not_numbers_are_type_errors_naming_them(bad):
    # they were ValueErrors, or (toy_sampler's `shift`) numpy's "could not convert string"
    from kantorovich.toy_experiments import critics as C
    from kantorovich.toy_experiments import ot_training as OT
    from kantorovich.toy_experiments.data import sample

    for name, run in (("theta0", lambda: PL.ParallelLinesConfig(theta0=bad).validate()),
                      ("theta0", lambda: OT.ParallelLinesOTConfig(theta0=bad).validate()),
                      ("slope", lambda: G.SegmentsConfig(slope=bad).validate()),
                      ("d_star", lambda: G.run_cauchy_gradients(G.CauchyConfig(n_draws=100, d_star=bad), 0)),
                      ("shift", lambda: C.toy_sampler("gaussians", shift=bad)),
                      ("theta", lambda: sample("parallel_lines", 4, np.random.default_rng(0), theta=bad))):
        with pytest.raises(TypeError, match=f"`{name}` must be a finite float"):
            run()
    PL.ParallelLinesConfig(theta0=np.float32(0.5)).validate()  # numpy numbers are numbers
