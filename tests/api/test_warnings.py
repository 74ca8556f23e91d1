"""Warnings name the caller's line, not a line inside kantorovich."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kantorovich.exceptions import ConvergenceWarning
from kantorovich.ot import PointCloud, sinkhorn, sinkhorn_divergence, wasserstein_1d_plan


def test_convergence_warning_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        M = np.random.default_rng(0).random((30, 30))
        sinkhorn(None, None, M, eps=1e-3, max_iter=3)
    w = [c for c in caught if issubclass(c.category, ConvergenceWarning)]
    assert w and w[0].filename == __file__


def test_warning_from_a_nested_call_points_at_the_caller():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        wasserstein_1d_plan([0.0, 1.0], [2.0, 3.0], p=1100)  # potentials beyond float64
    assert caught and all(c.filename == __file__ for c in caught)


# ----------------------------------------------------------------------------- gradients
# A gradient's warnings are raised in a rule that the framework calls (torch's autograd
# engine, autograd's backward pass, a JAX callback): they name the line that asked for the
# gradient, not a line of kantorovich or of the framework.

def _points(batch: bool):
    """Problems whose solve at eps 0.05 and 3 iterations does not converge (problem 1 of the
    batch only: 0 and 2 are close points, costs far below eps)."""
    rng = np.random.default_rng(0)
    if not batch:
        return rng.normal(size=(6, 2)), rng.normal(size=(5, 2))
    Xb, Yb = rng.normal(size=(3, 6, 2)), rng.normal(size=(3, 5, 2))
    Xb[[0, 2]] *= 0.01
    Yb[[0, 2]] *= 0.01
    return Xb, Yb


def _at_gradient(run, match: str):
    """The ConvergenceWarnings of ``run()``: at least one whose text has ``match``, all
    attributed to this file."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run()
    w = [c for c in caught if issubclass(c.category, ConvergenceWarning)]
    assert any(match in str(c.message) for c in w), [str(c.message) for c in w]
    assert all(c.filename == __file__ for c in w), [(c.filename, c.lineno) for c in w]


TORCH_PATHS = {  # (batch, implicit-solve steps or None, the function of x and y, warning text)
    "single objective": (False, None, lambda x, y: sinkhorn(
        None, None, PointCloud(x, y), eps=0.05, max_iter=3).objective, "gradient of sinkhorn"),
    "batch objective": (True, None, lambda x, y: sinkhorn(
        None, None, PointCloud(x, y), eps=0.05, max_iter=3).objective.sum(),
        "in 1 of 3 problems of the batch (problem 1): the gradient of sinkhorn"),
    "batch divergence": (True, None, lambda x, y: sinkhorn_divergence(
        None, None, PointCloud(x, y), eps=0.05, max_iter=3).value.sum(),
        "problems of the batch"),
    "single implicit": (False, 1, lambda x, y: sinkhorn(
        None, None, PointCloud(x, y), eps=0.5, tol=1e-12).value, "the implicit solve"),
    "batch implicit": (True, 5, lambda x, y: sinkhorn(
        None, None, PointCloud(x, y), eps=0.5, tol=1e-12).value.sum(),
        "in 1 of 3 problems of the batch (problem 1): the implicit solve"),
}


@pytest.mark.parametrize("how", ["backward", "autograd.grad"])
@pytest.mark.parametrize("path", list(TORCH_PATHS))
def test_torch_gradient_warning_points_at_the_backward_line(path, how, monkeypatch):
    torch = pytest.importorskip("torch")
    import kantorovich._autodiff as ad

    batch, steps, fn, match = TORCH_PATHS[path]
    if steps is not None:
        monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", steps)
    X, Y = _points(batch)
    x = torch.tensor(X, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the solver's own warning
        loss = fn(x, torch.tensor(Y))
    if how == "backward":
        _at_gradient(lambda: loss.backward(), match)
    else:
        _at_gradient(lambda: torch.autograd.grad(loss, x), match)


@pytest.mark.parametrize("path", ["single objective", "batch objective", "single implicit",
                                  "batch implicit"])
def test_autograd_gradient_warning_points_at_the_grad_line(path, monkeypatch):
    autograd = pytest.importorskip("autograd")
    import kantorovich._autodiff as ad

    batch, steps, fn, match = TORCH_PATHS[path]
    if steps is not None:
        monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", steps)
    X, Y = _points(batch)
    _at_gradient(lambda: autograd.grad(lambda x: fn(x, Y))(X), match)


@pytest.mark.parametrize("how", ["grad", "jit(grad)", "vmap(grad)", "grad of a batch"])
@pytest.mark.parametrize("implicit", [False, True])
def test_jax_gradient_warning_points_at_the_calling_line(how, implicit, monkeypatch):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp

    import kantorovich._autodiff as ad

    batch = how in ("vmap(grad)", "grad of a batch")
    if implicit:
        monkeypatch.setattr(ad, "IMPLICIT_MAX_ITER", 5 if batch else 1)
        fn = lambda x, y: sinkhorn(None, None, PointCloud(x, y), eps=0.5, tol=1e-12).value  # noqa: E731
        match = "the implicit solve"
    else:
        fn = lambda x, y: sinkhorn(None, None, PointCloud(x, y), eps=0.05, max_iter=3).objective  # noqa: E731
        match = "the gradient of sinkhorn"
    g = {"grad": jax.grad(fn), "jit(grad)": jax.jit(jax.grad(fn)),
         "vmap(grad)": jax.vmap(jax.grad(fn)),
         "grad of a batch": jax.grad(lambda x, y: fn(x, y).sum())}[how]
    before = bool(jax.config.jax_enable_x64)
    jax.config.update("jax_enable_x64", True)
    try:
        X, Y = (jnp.asarray(z) for z in _points(batch))
        _at_gradient(lambda: jax.block_until_ready(g(X, Y)), match)
    finally:
        jax.config.update("jax_enable_x64", before)
