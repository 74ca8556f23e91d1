"""T6 bilinear game and the Dirac-GAN: closed forms vs measurements; toy data; bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kantorovich.toy_experiments import data as D
from kantorovich.toy_experiments import games as G


@pytest.mark.parametrize("eta", [0.05, 0.1, 0.3, 0.7])
def test_extragradient_radius_below_one_below_gd(eta):
    eg = G.bilinear_closed_form_radius("extragradient", eta)
    gd = G.bilinear_closed_form_radius("simultaneous", eta)
    assert eg < 1 < gd
    assert eg == pytest.approx(math.sqrt(1 - eta ** 2 + eta ** 4), rel=1e-14)
    # eigenvalues of the update matrix agree with the closed forms
    assert G.bilinear_spectral_radius("extragradient", eta) == pytest.approx(eg, rel=1e-12)
    assert G.bilinear_spectral_radius("simultaneous", eta) == pytest.approx(gd, rel=1e-12)
    # and the measured per-step factor on the trajectory too (both are scaled rotations)
    n = 150
    assert G.bilinear_game("extragradient", eta, n).rate == pytest.approx(eg, rel=1e-9)
    assert G.bilinear_game("simultaneous", eta, n).rate == pytest.approx(gd, rel=1e-9)


@pytest.mark.parametrize("eta", [0.01, 0.1, 0.5, 1.5])
def test_alternating_gd_stays_bounded(eta):
    r = G.bilinear_game("alternating", eta, 5000)
    radii = np.hypot(r.path[:, 0], r.path[:, 1])
    assert not r.diverged
    # an invariant ellipse: the orbit neither grows nor shrinks
    assert radii.max() < 2.236 * 4 / math.sqrt(4 - eta ** 2) + 1e-9
    assert radii[-1000:].min() > 0.3
    assert G.bilinear_spectral_radius("alternating", eta) == pytest.approx(1.0, abs=1e-12)
    assert r.rate == pytest.approx(1.0, abs=2e-3)


def test_prediction_and_optimistic_converge():
    for m in ("prediction", "optimistic"):
        r = G.bilinear_game(m, 0.2, 2000)
        assert r.value < 1e-10 and r.spectral_radius < 1
    assert G.bilinear_closed_form_radius("prediction", 0.3) == pytest.approx(
        G.bilinear_spectral_radius("prediction", 0.3), rel=1e-12)


def test_sweep_matches_single_runs():
    s = G.bilinear_sweep([0.01, 0.2], 300, methods=("rmsprop", "adam", "momentum"))
    for m in ("rmsprop", "adam", "momentum"):
        for j, eta in enumerate([0.01, 0.2]):
            assert s["final"][m][j] == pytest.approx(G.bilinear_game(m, eta, 300).value, rel=1e-12)


@pytest.mark.parametrize("start", [{"x0": float("nan")}, {"y0": float("inf")}])
def test_sweep_refuses_a_non_finite_start(start):
    # a NaN start was reported as a trajectory that diverged at step 1
    with pytest.raises(ValueError, match="`x0` and `y0` must be finite floats"):
        G.bilinear_sweep([0.1], 10, methods=("simultaneous",), **start)


def test_rmsprop_settles_on_a_cycle_proportional_to_lr():
    # RMSProp does not converge to the saddle: its late radius scales like lr
    rad = []
    for eta in (0.01, 0.03):
        p = G.bilinear_game("rmsprop", eta, 6000).path
        rad.append(np.hypot(p[-500:, 0], p[-500:, 1]).mean() / eta)
    assert rad[0] == pytest.approx(rad[1], rel=0.02)
    assert rad[0] > 1


def test_dirac_gan_eigenvalues_measured_vs_closed_form():
    h = 0.1
    for loss in G.DIRAC_LOSSES:
        for gamma in (0.0, 0.3, 1.0, 2.5):
            for hh, method in ((None, "simultaneous"), (h, "simultaneous"), (h, "alternating")):
                cf = np.sort_complex(G.dirac_gan_eigenvalues(loss=loss, gamma=gamma, h=hh, method=method))
                for fd in (None, 1e-5):
                    J = G.dirac_gan_jacobian(loss=loss, gamma=gamma, h=hh, method=method, fd_step=fd)
                    me = np.sort_complex(np.linalg.eigvals(J))
                    assert np.allclose(me, cf, atol=1e-6), (loss, gamma, hh, method, fd)
    # Dirac-GAN (Mescheder et al. 2018): |lambda| = sqrt(1 + h^2/4) for simultaneous GD with the GAN loss (f'(0) = 1/2)
    ev = G.dirac_gan_eigenvalues(h=h)
    assert np.allclose(np.abs(ev), math.sqrt(1 + h * h / 4))
    # R1: -gamma/2 +- sqrt(gamma^2/4 - 1/4)
    g = 2.0
    assert np.allclose(np.sort(G.dirac_gan_eigenvalues(gamma=g).real),
                       np.sort([-g / 2 + math.sqrt(g * g / 4 - 0.25), -g / 2 - math.sqrt(g * g / 4 - 0.25)]))


def test_dirac_gan_trajectories():
    sim = G.dirac_gan(0.1, 3000)
    r1 = G.dirac_gan(0.1, 3000, gamma=1.0)
    alt = G.dirac_gan(0.1, 3000, method="alternating")
    assert sim.value > 2 * math.sqrt(2)         # spirals out
    assert r1.value < 1e-20                      # R1 makes (0, 0) attracting
    assert abs(alt.value - math.sqrt(2)) < 0.05  # cycles


@pytest.mark.parametrize("name", D.DATASETS)
def test_data_shapes_and_seed(name):
    x = D.sample(name, 50, rng=3)
    assert x.shape == (50, 2) and np.all(np.isfinite(x))
    assert np.array_equal(x, D.sample(name, 50, rng=3))


def test_data_geometry():
    x = D.sample("parallel_lines", 200, rng=0, theta=0.7)
    assert np.all(x[:, 0] == 0.7) and 0 <= x[:, 1].min() and x[:, 1].max() <= 1
    c = D.sample("circle", 100, rng=0, radius=2.0)
    assert np.allclose(np.hypot(c[:, 0], c[:, 1]), 2.0)
    assert np.abs(D.sample("swiss_roll", 500, rng=0)).max() <= 1.0 + 1e-12
    ring = D.sample("ring8", 4000, rng=0)
    d = np.min(np.linalg.norm(ring[:, None] - D.MODES["ring8"]["centers"][None], axis=2), axis=1)
    assert d.max() < 6 * D.MODES["ring8"]["std"]
    assert D.MODES["grid25"]["centers"].shape == (25, 2)


def test_bad_configs_raise_with_choices():
    with pytest.raises(ValueError, match="one of .*extragradient"):
        G.bilinear_game("newton", 0.1)
    with pytest.raises(ValueError, match="`lr` must be a positive float"):
        G.bilinear_game("adam", -0.1)
    with pytest.raises(ValueError, match="`n_steps` must be an integer >= 1"):
        G.bilinear_game("adam", 0.1, 0)
    with pytest.raises(ValueError, match="valid options"):
        G.bilinear_game("adam", 0.1, beta=0.5)
    with pytest.raises(ValueError, match="not linear"):
        G.bilinear_update_matrix("rmsprop", 0.1)
    with pytest.raises(ValueError, match="one of .*wgan"):
        G.dirac_gan(0.1, loss="hinge")
    with pytest.raises(ValueError, match="`gamma` must be a non-negative"):
        G.dirac_gan(0.1, gamma=-1.0)
    with pytest.raises(ValueError, match="one of .*swiss_roll"):
        D.sample("moons", 10)
    with pytest.raises(ValueError, match="`n` must be an integer >= 1"):
        D.sample("ring8", 0)
    with pytest.raises(ValueError, match="valid options"):
        D.sample("ring8", 10, theta=1.0)
