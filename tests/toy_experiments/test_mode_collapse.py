"""Mode metrics on hand-made samples; the toy GAN trainer's contract and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kantorovich.toy_experiments import data as D
from kantorovich.toy_experiments.metrics import mode_metrics, perfect_hq_fraction
from kantorovich.toy_experiments.mode_collapse import GAN_VARIANTS, train_toy_gan

C8 = D.MODES["ring8"]["centers"]
S8 = D.MODES["ring8"]["std"]


def test_all_modes_hit_exactly():
    x = np.repeat(C8, 10, axis=0)
    m = mode_metrics(x, C8, S8)
    assert m["modes_captured"] == 8 and m["hq_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(0.0, abs=1e-15)
    assert m["counts"].tolist() == [10] * 8


def test_one_mode_only():
    x = np.repeat(C8[3:4], 50, axis=0) + 0.5 * S8
    m = mode_metrics(x, C8, S8)
    assert m["modes_captured"] == 1 and m["hq_fraction"] == 1.0
    assert m["reverse_kl"] == pytest.approx(math.log(8), rel=1e-12)
    assert m["counts"][3] == 50


def test_points_off_mode():
    x = np.concatenate([C8[:4], np.zeros((4, 2)), C8[:2] + 3.01 * S8 * np.array([1.0, 0.0])])
    m = mode_metrics(x, C8, S8)
    assert m["modes_captured"] == 4 and m["hq_fraction"] == pytest.approx(4 / 10)
    assert m["reverse_kl"] == pytest.approx(math.log(2), rel=1e-12)   # 4 of 8 modes, balanced
    none = mode_metrics(np.zeros((5, 2)), C8, S8)
    assert none["hq_fraction"] == 0 and none["modes_captured"] == 0 and none["reverse_kl"] == math.inf


def test_min_count_and_unbalanced_histogram():
    x = np.concatenate([np.repeat(C8[:1], 3, axis=0), C8[1:2]])
    m = mode_metrics(x, C8, S8, min_count=2)
    assert m["modes_captured"] == 1
    p = np.array([0.75, 0.25])
    assert m["reverse_kl"] == pytest.approx(float(np.sum(p * np.log(8 * p))), rel=1e-12)


def test_perfect_generator_scores_98_9_percent():
    assert perfect_hq_fraction(3.0) == pytest.approx(1 - math.exp(-4.5), rel=1e-12)
    x = D.sample("grid25", 40000, rng=1)
    m = mode_metrics(x, D.MODES["grid25"]["centers"], D.MODES["grid25"]["std"])
    assert m["modes_captured"] == 25
    se = math.sqrt(0.989 * 0.011 / 40000)
    assert abs(m["hq_fraction"] - perfect_hq_fraction(3.0)) < 5 * se
    assert m["reverse_kl"] < 0.01


def test_metrics_bad_input():
    with pytest.raises(ValueError, match="`std` must be a positive float"):
        mode_metrics(C8, C8, 0.0)
    with pytest.raises(ValueError, match="same dimension"):
        mode_metrics(np.zeros((3, 3)), C8, 0.1)
    with pytest.raises(ValueError, match="`samples` must contain only finite"):
        mode_metrics([[np.nan, 0.0]], C8, 0.1)


@pytest.mark.parametrize("variant", GAN_VARIANTS)
def test_trainer_runs_tiny(variant):
    r = train_toy_gan("ring8", variant, n_steps=3, batch=16, g_hidden=(8,), d_hidden=(8,),
                      n_eval=100, n_checkpoints=1, rng=0)
    assert r.samples.shape == (100, 2) and np.all(np.isfinite(r.samples))
    assert 0 <= r.value <= 8 and 0 <= r.hq_fraction <= 1
    assert r.history.shape[1] == 4 and r.variant == variant
    if variant == "wgan_gp":
        assert r.info["n_critic"] == 5


def test_trainer_is_reproducible():
    kw = dict(n_steps=4, batch=16, g_hidden=(8,), d_hidden=(8,), n_eval=50, n_checkpoints=1)
    a = train_toy_gan("grid25", "pacgan", rng=5, **kw)
    b = train_toy_gan("grid25", "pacgan", rng=5, **kw)
    assert np.array_equal(a.samples, b.samples)


def test_trainer_bad_configs():
    with pytest.raises(ValueError, match="one of .*pacgan"):
        train_toy_gan("ring8", "veegan")
    with pytest.raises(ValueError, match="one of .*grid25"):
        train_toy_gan("moons", "gan")
    with pytest.raises(ValueError, match="`batch` must be an integer >= 1"):
        train_toy_gan("ring8", "gan", batch=0)
    with pytest.raises(ValueError, match="`lr_g` must be a positive float"):
        train_toy_gan("ring8", "gan", lr_g=-1e-3)
    with pytest.raises(ValueError, match="`pack` must be an integer >= 2"):
        train_toy_gan("ring8", "pacgan", pack=1)


# --- mode_trajectory (T7 "samples over training") ---------------------------------------------

from kantorovich.toy_experiments.mode_collapse import (  # noqa: E402
    TRAJECTORY_VARIANTS, _disc_vjp, _mbstd_disc, _trajectory_grads, mode_trajectory)


def _flat(tree):
    from autograd.misc import flatten
    return flatten(tree)[0]


@pytest.mark.parametrize("act", ["leaky_relu", "tanh", "relu"])
def test_minibatch_stddev_backward_matches_autograd(act):
    from autograd import grad
    import autograd.numpy as anp
    from kantorovich.toy_experiments.nn import init_mlp

    g = np.random.default_rng(0)
    Dp = {"body": init_mlp(g, (2, 8, 6)), "head": init_mlp(g, (7, 5, 1))}
    # non-zero biases: with zero biases an all-dead ReLU layer gives pre-activations exactly 0,
    # where autograd's maximum takes the half-gradient and the hand-written pass takes 0
    Dp = {k: [(W, 0.1 * g.standard_normal(b.shape)) for W, b in v] for k, v in Dp.items()}
    x = g.standard_normal((10, 2)); w = g.standard_normal((10, 1))
    out, back = _disc_vjp(Dp, x, "minibatch", act)
    gp, dx = back(w)
    np.testing.assert_allclose(out, _mbstd_disc(Dp["body"], Dp["head"], x, act), rtol=1e-12, atol=1e-14)
    f = lambda P, X: anp.sum(w * _mbstd_disc(P["body"], P["head"], X, act))
    np.testing.assert_allclose(_flat(gp), _flat(grad(f)(Dp, x)), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(dx, grad(f, 1)(Dp, x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variant", TRAJECTORY_VARIANTS)
def test_trajectory_grads_match_autograd(variant):
    """The hand-written simultaneous gradients equal autograd's of losses.d_loss / g_loss."""
    from autograd import grad
    import autograd.numpy as anp
    from kantorovich.toy_experiments.losses import d_loss, g_loss
    from kantorovich.toy_experiments.nn import init_mlp, mlp

    g = np.random.default_rng(1)
    k = 2 if variant == "pacgan" else 1
    G = init_mlp(g, (3, 7, 2))
    if variant == "minibatch":
        Dp = {"body": init_mlp(g, (2, 6)), "head": init_mlp(g, (7, 1))}
    else:
        Dp = init_mlp(g, (2 * k, 6, 1))
    xr = g.standard_normal((12, 2)); z = g.standard_normal((12, 3)); s = 0.25

    def disc(P, x):
        x = anp.reshape(s * x, (-1, 2 * k))
        if variant == "minibatch":
            return _mbstd_disc(P["body"], P["head"], x, "leaky_relu")
        return mlp(P, x, activation="leaky_relu")

    gen = lambda P: mlp(P, z, activation="leaky_relu")
    dl = lambda P: d_loss("minimax", disc(P, xr), disc(P, gen(G)))
    gl = lambda P: g_loss("minimax" if variant == "gan" else "non_saturating", disc(Dp, gen(P)))
    gD, gG = _trajectory_grads(G, Dp, xr, z, variant, k, s, act_g="leaky_relu", act_d="leaky_relu")
    np.testing.assert_allclose(_flat(gD), _flat(grad(dl)(Dp)), rtol=1e-9, atol=1e-13)
    np.testing.assert_allclose(_flat(gG), _flat(grad(gl)(G)), rtol=1e-9, atol=1e-13)


def test_trajectory_contract_and_reproducible():
    kw = dict(n_steps=30, n_snapshots=3, batch=16, z_dim=4, g_hidden=(8,), d_hidden=(8,), n_eval=200)
    a = mode_trajectory("minibatch", rng=3, **kw)
    b = mode_trajectory("minibatch", rng=3, **kw)
    assert np.array_equal(a.samples, b.samples)
    assert a.steps.tolist() == [0, 10, 20, 30] and a.samples.shape == (4, 200, 2)
    np.testing.assert_allclose(a.cell_shares.sum(axis=1), 1.0)
    assert np.all(a.shares.sum(axis=1) <= 1 + 1e-12)
    assert np.all(a.occupied <= a.cells) and a.value == a.occupied[-1]
    assert np.array_equal(a.dominant, np.argmax(a.cell_shares, axis=1))
    np.testing.assert_allclose(a.spread, np.sqrt(a.samples.var(axis=1).sum(axis=1)))
    assert a.centers.shape == (8, 2) and a.std == 0.02
    np.testing.assert_allclose(np.linalg.norm(a.centers, axis=1), 2.0)


def test_trajectory_metrics_recomputed_from_samples():
    from kantorovich.toy_experiments import mode_collapse as mc

    tr = mode_trajectory("gan", n_steps=1, n_snapshots=1, batch=8, z_dim=2, g_hidden=(4,),
                         d_hidden=(4,), n_eval=50, rng=0)
    x = tr.samples[0]
    nearest = np.argmin(((x[:, None] - tr.centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_allclose(tr.cell_shares[0], np.bincount(nearest, minlength=8) / 50)
    near = np.linalg.norm(x - tr.centers[nearest], axis=1) <= 0.25
    np.testing.assert_allclose(tr.shares[0], np.bincount(nearest[near], minlength=8) / 50)
    assert mc.TRAJECTORY_VARIANTS == ("gan", "non_saturating", "pacgan", "minibatch")


def test_trajectory_bad_input():
    with pytest.raises(ValueError, match="one of .*minibatch"):
        mode_trajectory("wgan_gp")
    with pytest.raises(ValueError, match="`batch` must be an integer >= 2"):
        mode_trajectory("gan", batch=1)
    with pytest.raises(ValueError, match="`d_hidden` must have at least one layer"):
        mode_trajectory("minibatch", d_hidden=())
    with pytest.raises(ValueError, match="`near` must be a positive float"):
        mode_trajectory("gan", near=0.0)


def test_plot_mode_trajectories_grid():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from kantorovich.plots.mode_hopping import plot_mode_trajectories

    kw = dict(n_steps=4, n_snapshots=2, batch=8, z_dim=2, g_hidden=(4,), d_hidden=(4,), n_eval=30)
    trs = {"gan": mode_trajectory("gan", rng=0, **kw), "pacgan": mode_trajectory("pacgan", rng=0, **kw)}
    fig = plot_mode_trajectories(trs, real=np.zeros((5, 2)))
    assert len(fig.axes) == 2 * 4                      # 2 rows x (real + 3 snapshots)
    assert fig.axes[1].get_title().startswith("step 0")
    plt.close(fig)


@pytest.mark.slow
def test_hopping_setup_gan_collapses_and_minibatch_covers():
    """The T7 'samples over training' claim on one seed (~1 min): GAN <= 2 Voronoi cells and
    >= 3 dominant modes over the second half; minibatch-stddev D >= 7 modes occupied at the end."""
    from kantorovich.toy_experiments.mode_collapse import HOPPING_SETUP

    gan = mode_trajectory("gan", rng=0, **HOPPING_SETUP)
    late = gan.steps >= HOPPING_SETUP["n_steps"] / 2
    assert gan.cells[late].max() <= 2 and len(set(gan.dominant[late].tolist())) >= 3
    mb = mode_trajectory("minibatch", rng=0, **HOPPING_SETUP)
    assert mb.occupied[-1] >= 7


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the ValueError says it all
@pytest.mark.parametrize("variant", ["gan", "minibatch"])
def test_diverging_gan_says_so_and_names_the_learning_rates(variant):
    # lr = 1e200 overflows within a step; the error named the optimiser's internal `grads`
    with pytest.raises(ValueError, match=r"training diverged at step 1: .*`lr_d` \(got 1e\+200\)"):
        train_toy_gan("ring8", variant, n_steps=5, batch=16, g_hidden=(8,), d_hidden=(8,), n_eval=20,
                      lr_g=1e200, lr_d=1e200, rng=0)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the ValueError says it all
def test_diverging_trajectory_says_so():
    with pytest.raises(ValueError, match=r"training diverged at step \d+: .*`lr_g` \(got 1e\+200\)"):
        mode_trajectory("gan", n_steps=5, n_snapshots=1, batch=16, z_dim=2, g_hidden=(8,), d_hidden=(8,),
                        n_eval=20, lr_g=1e200, lr_d=1e200, rng=0)


@pytest.mark.parametrize("betas", [(0.5,), (0.5, 0.9, 0.99), "ab", None])
def test_adam_betas_must_be_two_numbers(betas):
    """A one-element `betas` was a bare IndexError (betas[1]) inside the trainers."""
    from kantorovich.toy_experiments.mode_collapse import mode_trajectory, train_toy_gan
    from kantorovich.toy_experiments.ot_training import train_ot_generator

    for run in (lambda: train_toy_gan("ring8", "gan", n_steps=1, batch=8, betas=betas),
                lambda: mode_trajectory("gan", n_steps=1, batch=8, z_dim=2, betas=betas),
                lambda: train_ot_generator("ring8", "sliced", n_steps=1, batch=8, betas=betas)):
        with pytest.raises(ValueError, match=r"`betas` must be two numbers"):
            run()
