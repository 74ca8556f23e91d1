"""The toy GAN kit: autodiff MLPs, spectral norm, gradient penalty, optimisers, losses."""

from __future__ import annotations

import autograd.numpy as anp
import numpy as np
import pytest
from autograd import grad
from autograd.misc import flatten

from kantorovich.toy_experiments import games, losses, nn, optim


def _central_fd(f, v, h=1e-6):
    out = np.zeros_like(v)
    for i in range(v.size):
        e = np.zeros_like(v)
        e.flat[i] = h
        out.flat[i] = (f(v + e) - f(v - e)) / (2 * h)
    return out


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "leaky_relu", "relu"])
def test_param_gradient_matches_finite_differences(activation):
    rng = np.random.default_rng(0)
    params = nn.init_mlp(rng, [2, 5, 4, 1])
    x = rng.normal(size=(7, 2))
    flat, unflatten = flatten(params)

    def loss(v):
        return anp.sum(nn.mlp(unflatten(v), x, activation=activation, out_activation="sigmoid") ** 2)

    g = grad(loss)(flat)
    fd = _central_fd(loss, flat)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_input_gradient_matches_finite_differences():
    rng = np.random.default_rng(1)
    params = nn.init_mlp(rng, [3, 6, 1])
    x = rng.normal(size=(4, 3))
    f = lambda z: nn.mlp(params, z, activation="tanh")[:, 0]
    g = nn.input_gradients(f, x)
    for i in range(4):
        fd = _central_fd(lambda v: float(f(v[None, :])[0]), x[i].copy())
        np.testing.assert_allclose(g[i], fd, rtol=1e-6, atol=1e-8)


def test_mlp_shapes_and_no_input_change():
    p = nn.init_mlp(0, [2, 8, 3])
    x = np.ones((5, 2))
    x0 = x.copy()
    out = nn.mlp(p, x)
    assert out.shape == (5, 3)
    np.testing.assert_array_equal(x, x0)
    s = nn.mlp(p, 1e4 * x, out_activation="sigmoid")
    assert np.all(np.isfinite(s)) and np.all((s >= 0) & (s <= 1))


def test_bad_mlp_config():
    with pytest.raises(ValueError, match="relu"):
        nn.mlp(nn.init_mlp(0, [2, 1]), np.ones((1, 2)), activation="swish")
    with pytest.raises(ValueError, match="sizes"):
        nn.init_mlp(0, [2])
    with pytest.raises(ValueError, match="sizes"):
        nn.init_mlp(0, [2, 0, 1])


def test_clip_params():
    p = [(np.array([[2.0, -0.5]]), np.array([-3.0, 0.001]))]
    c = nn.clip_params(p, 0.01)
    np.testing.assert_array_equal(c[0][0], [[0.01, -0.01]])
    np.testing.assert_array_equal(c[0][1], [-0.01, 0.001])
    assert p[0][0][0, 0] == 2.0  # input untouched
    with pytest.raises(ValueError, match="`c`"):
        nn.clip_params(p, -1)


def test_spectral_norm_matches_numpy():
    rng = np.random.default_rng(2)
    for shape in [(5, 3), (3, 7), (16, 16)]:
        W = rng.normal(size=shape)
        sigma, u = nn.spectral_norm(W, None, n_iter=200)
        assert float(sigma) == pytest.approx(np.linalg.norm(W, 2), rel=1e-8)
        # warm start: one more iteration from the converged u stays put
        sigma2, _ = nn.spectral_norm(W, u, n_iter=1)
        assert float(sigma2) == pytest.approx(np.linalg.norm(W, 2), rel=1e-8)


def test_spectral_normalize_gives_unit_norms():
    rng = np.random.default_rng(3)
    params = nn.init_mlp(rng, [2, 10, 10, 1], scale=1.0)
    sn, us = nn.spectral_normalize(params, None, n_iter=100)
    for W, _ in sn:
        assert np.linalg.norm(W, 2) == pytest.approx(1.0, rel=1e-6)
    assert len(us) == 3


def test_gradient_penalty_zero_for_unit_gradient_critic():
    w = np.array([3.0, 4.0]) / 5.0
    rng = np.random.default_rng(4)
    xr, xf = rng.normal(size=(16, 2)), rng.normal(size=(16, 2)) + 2
    assert float(nn.gradient_penalty(lambda z: z @ w, xr, xf, 0)) < 1e-20
    # |grad| = 2 everywhere -> penalty (2 - 1)^2 = 1
    assert float(nn.gradient_penalty(lambda z: 2 * (z @ w), xr, xf, 0)) == pytest.approx(1.0, rel=1e-9)
    # zero-centred variant
    assert float(nn.gradient_penalty(lambda z: 2 * (z @ w), xr, xf, 0, center=0.0)) == pytest.approx(4.0, rel=1e-9)


def test_gradient_penalty_is_differentiable_in_params():
    rng = np.random.default_rng(5)
    params = nn.init_mlp(rng, [2, 6, 1])
    xr, xf = rng.normal(size=(8, 2)), rng.normal(size=(8, 2))
    flat, unflatten = flatten(params)

    def pen(v):
        return nn.gradient_penalty(lambda z: nn.mlp(unflatten(v), z, activation="tanh"), xr, xf, 7)

    g = grad(pen)(flat)
    fd = _central_fd(pen, flat)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-8)


def test_gradient_penalty_matches_a_second_implementation():
    # f(x) = |x|^2 / 2 has grad f(x) = x: the penalty is mean_i (|x_hat_i| - K)^2 with the same
    # interpolation weights a_i ~ U[0, 1] (drawn from the same seed)
    rng = np.random.default_rng(8)
    xr, xf = rng.normal(size=(32, 2)), rng.normal(size=(32, 2)) + 1.0
    a = np.random.default_rng(11).uniform(size=(32, 1))
    x_hat = a * xr + (1 - a) * xf
    for K in (0.0, 1.0, 2.5):
        want = np.mean((np.sqrt(np.sum(x_hat ** 2, axis=1) + 1e-12) - K) ** 2)
        got = float(nn.gradient_penalty(lambda z: 0.5 * np.sum(z * z, axis=1), xr, xf, 11, center=K))
        assert got == pytest.approx(want, rel=1e-12)


@pytest.mark.parametrize("center", [float("nan"), float("inf"), -1.0])
def test_gradient_penalty_bad_center(center):
    # a NaN target gradient norm gave a NaN penalty without a word
    with pytest.raises(ValueError, match="`center` must be a non-negative float"):
        nn.gradient_penalty(lambda z: z[:, 0], np.ones((3, 2)), np.zeros((3, 2)), 0, center=center)


def test_gradient_penalty_bad_shapes():
    with pytest.raises(ValueError, match="same shape"):
        nn.gradient_penalty(lambda z: z[:, 0], np.ones((3, 2)), np.ones((4, 2)))
    with pytest.raises(ValueError, match="batch"):
        nn.gradient_penalty(lambda z: z[:, 0], np.ones((0, 2)), np.ones((0, 2)))


@pytest.mark.filterwarnings("error::RuntimeWarning")  # the ValueError says it all
# ---------------------------------------------------------------- optimisers
def test_checked_step_reports_divergence():
    opt = optim.make_optimizer("sgd", 1e300)
    p = [np.array([1.0, -2.0])]
    assert np.allclose(optim.checked_step(optim.make_optimizer("sgd", 0.1), p, [np.array([1.0, 1.0])],
                                          step=1, what="x", hint="h")[0], [0.9, -2.1])
    with pytest.raises(ValueError, match="training diverged at step 3: the critic gradient holds NaN"):
        optim.checked_step(opt, p, [np.array([np.nan, 0.0])], step=3, what="critic", hint="lower `lr`.")
    with pytest.raises(ValueError, match="step 4: the critic parameters overflowed.*lower `lr`"):
        optim.checked_step(opt, p, [np.array([1e10, 0.0])], step=4, what="critic", hint="lower `lr`.")


def test_sgd_and_momentum_by_hand():
    p = [np.array([1.0, -2.0])]
    g = [np.array([0.5, 1.0])]
    assert np.allclose(optim.make_optimizer("sgd", 0.1).step(p, g)[0], [0.95, -2.1])
    opt = optim.make_optimizer("momentum", 0.1, momentum=0.5)
    p1 = opt.step(p, g)                       # v = g
    p2 = opt.step(p1, g)                      # v = 0.5 g + g = 1.5 g
    np.testing.assert_allclose(p2[0], p[0] - 0.1 * g[0] - 0.1 * 1.5 * g[0])
    assert np.array_equal(p[0], [1.0, -2.0])  # not in place


def test_rmsprop_by_hand():
    opt = optim.make_optimizer("rmsprop", 0.01, alpha=0.9, eps=1e-8)
    p, g = np.array([1.0]), np.array([2.0])
    p1 = opt.step(p, g)
    s = 0.1 * 4.0
    np.testing.assert_allclose(p1, 1.0 - 0.01 * 2.0 / (np.sqrt(s) + 1e-8))
    p2 = opt.step(p1, np.array([-1.0]))
    s = 0.9 * s + 0.1 * 1.0
    np.testing.assert_allclose(p2, p1 + 0.01 / (np.sqrt(s) + 1e-8))


def test_adam_by_hand():
    opt = optim.make_optimizer("adam", 0.1, beta1=0.9, beta2=0.999, eps=1e-8)
    params = {"a": np.array([0.0, 0.0]), "b": (np.array(1.0),)}
    grads = {"a": np.array([3.0, -0.1]), "b": (np.array(0.5),)}
    new = opt.step(params, grads)
    # first Adam step is lr * sign(g) (up to eps)
    np.testing.assert_allclose(new["a"], [-0.1, 0.1], rtol=1e-6)
    np.testing.assert_allclose(new["b"][0], 0.9, rtol=1e-6)
    g2 = {"a": np.array([1.0, 1.0]), "b": (np.array(0.0),)}
    new2 = opt.step(new, g2)
    m = 0.9 * 0.1 * 3.0 + 0.1 * 1.0
    s = 0.999 * 0.001 * 9.0 + 0.001 * 1.0
    step = 0.1 * (m / (1 - 0.81)) / (np.sqrt(s / (1 - 0.999 ** 2)) + 1e-8)
    first = -0.1 * 3.0 / (3.0 + 1e-8)         # step 1 exactly: lr * mhat / (sqrt(shat) + eps)
    np.testing.assert_allclose(new2["a"][0], first - step, rtol=1e-12)


@pytest.mark.parametrize("name,lr,kw,match", [
    ("adagrad", 0.1, {}, "sgd"),
    ("sgd", -0.1, {}, "lr"),
    ("sgd", 0.0, {}, "lr"),
    ("adam", 0.1, {"momentum": 0.9}, "beta1"),
    ("momentum", 0.1, {"momentum": 1.5}, "momentum"),
])
def test_bad_optimizer_config(name, lr, kw, match):
    with pytest.raises(ValueError, match=match):
        optim.make_optimizer(name, lr, **kw)


def test_game_schemes_bilinear():
    gx = lambda x, y: y
    gy = lambda x, y: -x
    eta = 0.1
    # simultaneous GD on xy: the radius grows by sqrt(1 + eta^2) per step
    x, y = np.array(1.0), np.array(2.0)
    ox, oy = optim.make_optimizer("sgd", eta), optim.make_optimizer("sgd", eta)
    for _ in range(50):
        x, y = optim.game_step(x, y, gx, gy, ox, oy, scheme="simultaneous")
    assert np.hypot(x, y) == pytest.approx(np.sqrt(5) * (1 + eta ** 2) ** 25, rel=1e-9)
    # alternating GD: y first, then x with the new y (bounded orbit)
    x, y = np.array(1.0), np.array(2.0)
    x1, y1 = optim.game_step(x, y, gx, gy, ox, oy, scheme="alternating")
    assert float(y1) == pytest.approx(2.0 + eta * 1.0)
    assert float(x1) == pytest.approx(1.0 - eta * float(y1))
    with pytest.raises(ValueError, match="simultaneous"):
        optim.game_step(x, y, gx, gy, ox, oy, scheme="leapfrog")


# ---------------------------------------------------------------- losses
def test_losses_values():
    f = np.array([0.3, -1.2, 2.0])
    r = np.array([1.0, 0.5])
    D = lambda t: 1 / (1 + np.exp(-t))
    assert losses.d_loss("minimax", r, f) == pytest.approx(-np.mean(np.log(D(r))) - np.mean(np.log(1 - D(f))))
    assert losses.g_loss("minimax", f) == pytest.approx(np.mean(np.log(1 - D(f))))
    assert losses.g_loss("non_saturating", f) == pytest.approx(-np.mean(np.log(D(f))))
    assert losses.d_loss("wgan_gp", r, f) == pytest.approx(f.mean() - r.mean())
    assert losses.g_loss("wgan", f) == pytest.approx(-f.mean())
    assert losses.d_loss("least_squares", r, f) == pytest.approx(0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(f ** 2))
    assert losses.g_loss("least_squares", f) == pytest.approx(0.5 * np.mean((f - 1) ** 2))
    assert losses.d_loss("hinge", r, f) == pytest.approx(np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + f)))
    assert losses.g_loss("hinge", f) == pytest.approx(-f.mean())


def test_losses_stable_for_extreme_logits():
    big = np.array([800.0, -800.0])
    for name in losses.LOSSES:
        assert np.isfinite(losses.d_loss(name, big, big))
        assert np.isfinite(losses.g_loss(name, big))
    # gradient of the saturating loss at a confident D is tiny but finite
    g = grad(lambda t: losses.g_loss("minimax", t))(np.array([-30.0]))
    assert np.isfinite(g).all() and abs(g[0]) < 1e-12


def test_bad_loss_config():
    with pytest.raises(ValueError, match="non_saturating"):
        losses.d_loss("wasserstein", np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="hinge"):
        losses.g_loss("bce", np.ones(2))
    with pytest.raises(ValueError, match="batch"):
        losses.d_loss("wgan", np.ones(0), np.ones(2))
    with pytest.raises(ValueError, match="batch"):
        losses.g_loss("wgan", np.ones((0, 1)))


@pytest.mark.parametrize("activation", ["tanh", "relu", "leaky_relu", "sigmoid"])
def test_mlp_vjp_matches_autograd(activation):
    rng = np.random.default_rng(6)
    params = nn.init_mlp(rng, [2, 7, 5, 3])
    x = rng.normal(size=(9, 2))
    dout = rng.normal(size=(9, 3))
    out, back = nn.mlp_vjp(params, x, activation=activation)
    np.testing.assert_allclose(out, nn.mlp(params, x, activation=activation), rtol=1e-12)
    pg, dx = back(dout)
    ag = grad(lambda p: anp.sum(dout * nn.mlp(p, x, activation=activation)))(params)
    for (w1, b1), (w2, b2) in zip(pg, ag):
        np.testing.assert_allclose(w1, w2, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(b1, b2, rtol=1e-10, atol=1e-12)
    adx = grad(lambda z: anp.sum(dout * nn.mlp(params, z, activation=activation)))(x)
    np.testing.assert_allclose(dx, adx, rtol=1e-10, atol=1e-12)


def test_fast_flatten_roundtrip():
    tree = [(np.ones((2, 3)), np.arange(3.0)), {"b": np.array(2.0), "a": (np.zeros(1),)}]
    flat, unflatten = optim.flatten(tree)
    ref, _ = flatten(tree)  # autograd's
    np.testing.assert_array_equal(flat, ref)
    back = unflatten(flat)
    np.testing.assert_array_equal(back[0][0], tree[0][0])
    assert isinstance(back[1]["a"], tuple) and back[1]["b"].shape == ()


# ------------------------------------------------ game schemes vs the T6 closed forms
def _bilinear_pytree_run(scheme, eta, n, *, lead=None, opt="sgd"):
    """min_x max_y xy with x = {"w": (array,)} and y = [array] through the generic game_step."""
    x = {"w": (np.array([1.0]),)}
    y = [np.array(2.0)]
    gx = lambda x, y: {"w": (np.array([float(y[0])]),)}     # d(xy)/dx = y
    gy = lambda x, y: [np.array(-float(x["w"][0][0]))]       # y ascends xy: descend -xy
    ox, oy = optim.make_optimizer(opt, eta), optim.make_optimizer(opt, eta)
    path = [(1.0, 2.0)]
    for _ in range(n):
        x0, y0 = x, y
        x, y = optim.game_step(x, y, gx, gy, ox, oy, scheme=scheme, lead=lead)
        assert isinstance(x, dict) and isinstance(x["w"], tuple) and x["w"][0].shape == (1,)
        assert isinstance(y, list) and y[0].shape == ()
        assert x is not x0 and y is not y0
        path.append((float(x["w"][0][0]), float(y[0])))
    return np.array(path)


@pytest.mark.parametrize("scheme,lead,method", [
    ("simultaneous", None, "simultaneous"),
    ("alternating", "x", "alternating"),
    ("extragradient", None, "extragradient"),
    ("prediction", None, "prediction"),
])
def test_game_scheme_iterates_equal_update_matrix(scheme, lead, method):
    eta = 0.3
    path = _bilinear_pytree_run(scheme, eta, 5, lead=lead)
    M = games.bilinear_update_matrix(method, eta)
    z = np.array([1.0, 2.0])
    for t in range(1, 6):
        z = M @ z
        np.testing.assert_allclose(path[t], z, rtol=1e-13, atol=1e-15)
    # and the same iterates as the vectorised T6 implementation
    np.testing.assert_allclose(path, games.bilinear_game(method, eta, 5).path, rtol=1e-13, atol=1e-15)


def test_game_scheme_hand_computations():
    eta = 0.1
    # extragradient: trial (0.8, 2.1), then from (1, 2) with the trial gradients
    p = _bilinear_pytree_run("extragradient", eta, 1)
    np.testing.assert_allclose(p[1], [1 - eta * 2.1, 2 + eta * 0.8], rtol=1e-14)
    # optimistic: first step plain GD, then x' = x - eta (2 y_1 - y_0), y' = y + eta (2 x_1 - x_0)
    p = _bilinear_pytree_run("optimistic", eta, 2)
    x1, y1 = 1 - eta * 2, 2 + eta * 1
    np.testing.assert_allclose(p[1], [x1, y1], rtol=1e-14)
    np.testing.assert_allclose(p[2], [x1 - eta * (2 * y1 - 2), y1 + eta * (2 * x1 - 1)], rtol=1e-14)
    # prediction (x leads): x' = x - eta y, y' = y + eta (2 x' - x)
    p = _bilinear_pytree_run("prediction", eta, 1)
    np.testing.assert_allclose(p[1], [0.8, 2 + eta * (2 * 0.8 - 1)], rtol=1e-14)
    # prediction with y leading: y' = y + eta x, x' = x - eta (2 y' - y)
    p = _bilinear_pytree_run("prediction", eta, 1, lead="y")
    np.testing.assert_allclose(p[1], [1 - eta * (2 * 2.1 - 2), 2.1], rtol=1e-14)
    # default alternating: y first
    p = _bilinear_pytree_run("alternating", eta, 1)
    np.testing.assert_allclose(p[1], [1 - eta * 2.1, 2.1], rtol=1e-14)


def test_optimistic_iterates_equal_companion_matrix():
    eta = 0.2
    path = _bilinear_pytree_run("optimistic", eta, 8)
    C = games.bilinear_update_matrix("optimistic", eta)  # state (z_t, z_{t-1}), z_{-1} = z_0
    s = np.array([1.0, 2.0, 1.0, 2.0])
    for t in range(1, 9):
        s = C @ s
        np.testing.assert_allclose(path[t], s[:2], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(path, games.bilinear_game("optimistic", eta, 8).path, rtol=1e-12)


def test_extragradient_optimistic_converge_simultaneous_diverges():
    eta, n = 0.3, 300
    r0 = np.hypot(1.0, 2.0)
    final = {s: np.hypot(*_bilinear_pytree_run(s, eta, n)[-1])
             for s in ("simultaneous", "extragradient", "optimistic", "prediction")}
    assert final["extragradient"] < 1e-3 * r0
    assert final["optimistic"] < 1e-3 * r0
    assert final["prediction"] < 1e-3 * r0
    assert final["simultaneous"] > 100 * r0
    assert final["simultaneous"] == pytest.approx(r0 * (1 + eta ** 2) ** (n / 2), rel=1e-9)


def test_optimistic_step_composes_with_optimizers():
    g0, g1 = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    for name in ("momentum", "rmsprop", "adam"):
        a, b = optim.make_optimizer(name, 0.01), optim.make_optimizer(name, 0.01)
        p = np.array([0.3, 0.4])
        d0 = a.direction(g0)
        d1 = a.direction(g1)
        q = b.optimistic_step(b.optimistic_step(p, g0), g1)
        np.testing.assert_allclose(q, p - 0.01 * d0 - 0.01 * (2 * d1 - d0), rtol=1e-14)
    # reset forgets the previous direction: the next optimistic step is plain
    o = optim.make_optimizer("sgd", 0.1)
    o.optimistic_step(np.zeros(2), g0)
    o.reset()
    np.testing.assert_allclose(o.optimistic_step(np.zeros(2), g1), -0.1 * g1)


def test_game_step_bad_scheme_and_lead():
    gx = lambda x, y: y
    gy = lambda x, y: -x
    ox, oy = optim.make_optimizer("sgd", 0.1), optim.make_optimizer("sgd", 0.1)
    x, y = np.array(1.0), np.array(2.0)
    with pytest.raises(ValueError, match="extragradient.*optimistic.*prediction"):
        optim.game_step(x, y, gx, gy, ox, oy, scheme="leapfrog")
    with pytest.raises(ValueError, match="lead"):
        optim.game_step(x, y, gx, gy, ox, oy, scheme="prediction", lead="z")
    with pytest.raises(ValueError, match="lead"):
        optim.game_step(x, y, gx, gy, ox, oy, scheme="extragradient", lead="x")


@pytest.mark.parametrize("scheme", optim.GAME_SCHEMES)
def test_game_step_mlp_gan_smoke(scheme):
    rng = np.random.default_rng(3)
    G = nn.init_mlp(rng, [2, 8, 2])
    D = nn.init_mlp(rng, [2, 8, 1])
    z = rng.normal(size=(16, 2))
    x_real = rng.normal(size=(16, 2)) + 3.0
    G0 = [(W.copy(), b.copy()) for W, b in G]
    D0 = [(W.copy(), b.copy()) for W, b in D]

    def d_logit(p, x):
        return nn.mlp(p, x, activation="leaky_relu")[:, 0]

    def g_obj(g, d):
        return losses.g_loss("non_saturating", d_logit(d, nn.mlp(g, z, activation="tanh")))

    def d_obj(g, d):
        return losses.d_loss("minimax", d_logit(d, x_real), d_logit(d, nn.mlp(g, z, activation="tanh")))

    grad_g, grad_d = grad(g_obj, 0), grad(d_obj, 1)
    og, od = optim.make_optimizer("adam", 1e-2), optim.make_optimizer("adam", 1e-2)
    g, d = G, D
    for _ in range(3):
        g, d = optim.game_step(g, d, grad_g, grad_d, og, od, scheme=scheme)
    for new, old in ((g, G0), (d, D0)):
        assert len(new) == len(old)
        for (W, b), (W0, b0) in zip(new, old):
            assert W.shape == W0.shape and b.shape == b0.shape
            assert np.all(np.isfinite(W)) and np.all(np.isfinite(b))
        assert not np.allclose(flatten(new)[0], flatten(old)[0])
    for (W, b), (W0, b0) in zip(G, G0):  # inputs untouched
        np.testing.assert_array_equal(W, W0)
        np.testing.assert_array_equal(b, b0)
