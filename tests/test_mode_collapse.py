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
