"""The reference Inception-score code on :func:`kantorovich.divergences.inception_score`.

Source: openai/improved-gan, inception_score/model.py, ``get_inception_score`` (Salimans et al.
2016), whose score step, after the network's softmax ``preds`` (N, C), is transcribed below
verbatim: consecutive splits ``preds[(i * N // splits):((i + 1) * N // splits), :]``, in each
exp(mean_x KL(p(y|x) ‖ mean p(y))), then the mean and the (population) standard deviation of the
split scores. kantorovich takes the class probabilities directly (the network is not part of
it): ``value`` is the mean and ``info['split_std']`` the standard deviation.
"""

from __future__ import annotations

import numpy as np
import pytest

from kantorovich.divergences import inception_score


def reference_inception_score(preds, splits=10):
    """improved-gan inception_score/model.py get_inception_score, its loop over the splits."""
    scores = []
    for i in range(splits):
        part = preds[(i * preds.shape[0] // splits):((i + 1) * preds.shape[0] // splits), :]
        kl = part * (np.log(part) - np.log(np.expand_dims(np.mean(part, 0), 0)))
        kl = np.mean(np.sum(kl, 1))
        scores.append(np.exp(kl))
    return np.mean(scores), np.std(scores)


def _softmax_rows(rng, n, c, sharpness):
    z = rng.standard_normal((n, c)) * sharpness
    z -= z.max(1, keepdims=True)
    p = np.exp(z)
    return p / p.sum(1, keepdims=True)


@pytest.mark.parametrize("n", [100, 500, 1000, 5000])
@pytest.mark.parametrize("splits", [1, 2, 5, 10])
def test_divisible_sizes(n, splits):
    """model.py get_inception_score with N divisible by splits (the usual 50 000 / 10)."""
    rng = np.random.default_rng(n + splits)
    preds = _softmax_rows(rng, n, 10, 3.0)
    mean, std = reference_inception_score(preds, splits)
    r = inception_score(preds, n_splits=splits)
    np.testing.assert_allclose(r.value, mean, rtol=1e-12)
    np.testing.assert_allclose(r.info["split_std"], std, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("n, splits", [(101, 10), (999, 10), (7, 3), (50, 7), (1003, 4),
                                       (13, 13), (14, 13)])
def test_indivisible_sizes(n, splits):
    """model.py get_inception_score with N not divisible by splits: the splits are the
    reference's ``[i N // splits, (i + 1) N // splits)``, so every score and the spread match."""
    rng = np.random.default_rng(n * 31 + splits)
    preds = _softmax_rows(rng, n, 10, 2.0)
    mean, std = reference_inception_score(preds, splits)
    r = inception_score(preds, n_splits=splits)
    np.testing.assert_allclose(r.value, mean, rtol=1e-12)
    np.testing.assert_allclose(r.info["split_std"], std, rtol=1e-9, atol=1e-14)


@pytest.mark.parametrize("c", [2, 10, 1000])
def test_closed_forms(c):
    """model.py get_inception_score at its extremes: one-hot predictions spread evenly over the
    C classes score C; identical rows score 1."""
    preds = np.eye(c)[np.arange(10 * c) % c]
    r = inception_score(preds, n_splits=10)
    np.testing.assert_allclose(r.value, c, rtol=1e-12)
    same = np.tile(_softmax_rows(np.random.default_rng(c), 1, c, 1.0), (50, 1))
    np.testing.assert_allclose(inception_score(same, n_splits=5).value, 1.0, rtol=1e-12)


def test_zero_probabilities():
    """model.py get_inception_score takes log(0) on a zero probability (0 * -inf = NaN); the
    0 log 0 = 0 convention gives the limit, which the reference reaches with the zeros replaced
    by a vanishing 1e-300."""
    rng = np.random.default_rng(0)
    preds = _softmax_rows(rng, 200, 5, 2.0)
    preds[rng.random(preds.shape) < 0.2] = 0.0
    preds[:, 0] += 1e-3
    preds /= preds.sum(1, keepdims=True)
    mean, std = reference_inception_score(np.where(preds == 0, 1e-300, preds), 10)
    r = inception_score(preds, n_splits=10)
    assert np.isfinite(r.value)
    np.testing.assert_allclose(r.value, mean, rtol=1e-12)
    np.testing.assert_allclose(r.info["split_std"], std, rtol=1e-9, atol=1e-14)
