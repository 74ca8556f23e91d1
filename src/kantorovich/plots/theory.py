"""Figures of the gradient experiments (T1-T4, T8, T9).

Data in, Figure out: each function takes the dict returned by the matching ``run_*`` function
of :mod:`kantorovich.toy_experiments.gradients` / ``parallel_lines_gan``, draws into ``ax``
when given (a sequence of Axes, one per panel) and returns its figure, else makes a new
Figure; none trains or solves anything.
"""

from __future__ import annotations

import numpy as np

from ._axes import closes_on_error, panel_axes
from ._data import as_array, as_mapping, entry, number, same_length

__all__ = [
    "plot_cauchy",
    "plot_identity",
    "plot_instance_noise",
    "plot_parallel_lines_gan",
    "plot_saturation",
    "plot_vanishing",
]

# Okabe & Ito's colour-blind-safe palette (blue, vermillion, bluish green, reddish purple,
# orange, sky blue): red against green, as before, is the pair a deuteranope cannot tell
# apart; the curves of one panel also differ in marker or line style, for a black-and-white print
_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
_MARKERS = ["o", "s", "^", "D", "v", "P"]
_LINESTYLES = ["-", "--", "-.", ":"]


def _arrays(d, name, axis, curves):
    """The 1-D arrays ``d[k]`` for the keys ``axis`` (finite) and ``curves`` (a NaN or infinity
    leaves a gap), all of one length; a missing key, a wrong shape or another length is a
    ``ValueError`` naming ``name[k]``."""
    out = {k: as_array(entry(d, k, name), f"{name}[{k!r}]", ndim=1) for k in axis}
    out.update({k: as_array(entry(d, k, name), f"{name}[{k!r}]", ndim=1, finite=False) for k in curves})
    same_length(**{f"{name}[{k!r}]": v for k, v in out.items()})
    return out


def _runs(res, name="res"):
    """``res["runs"]`` as a non-empty dict; a missing key or an empty dict names it."""
    return as_mapping(entry(res, "runs", name), f"{name}['runs']")


def _steps_runs(res, name="res"):
    """``res["runs"]``, each run's ``theta`` (per step, start included) and ``grad`` (per step)
    as arrays, one longer than the other (a NaN or infinity leaves a gap)."""
    runs = {}
    for v, r in _runs(res, name).items():
        rn = f"{name}['runs'][{v!r}]"
        theta = as_array(entry(r, "theta", rn), f"{rn}['theta']", ndim=1, finite=False)
        grad = as_array(entry(r, "grad", rn), f"{rn}['grad']", ndim=1, finite=False)
        if len(theta) != len(grad) + 1:
            raise ValueError(f"`{rn}['theta']` must be one longer than `{rn}['grad']` (the start, then one "
                             f"theta per step); got {len(theta)} and {len(grad)}.")
        runs[v] = {"theta": theta, "grad": grad}
    return runs


def _axes(ax, ncols=1, width=5.2, height=4.0):
    """``(figure, Axes list)``: ``ncols`` panels of ``width x height`` inches side by side."""
    return panel_axes(ax, ncols, figsize=(width * ncols, height))


@closes_on_error
def plot_vanishing(res, ax=None):
    """T1: generator gradient norm (solid) and the bound M eps/(1-eps) (dashed) vs D steps.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.gradients.run_vanishing_gradients`'s result:
        ``res["runs"][offset]`` holds arrays ``steps``, ``grad_sat``, ``bound``, ``eps`` of
        one length (``steps`` finite; a NaN or infinity elsewhere leaves a gap). A missing key
        or another length is a ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_vanishing
    >>> s = np.array([0, 10, 100])
    >>> run = {"steps": s, "grad_sat": [1.0, 0.1, 0.01], "bound": [np.inf, 0.5, 0.05], "eps": [2.0, 0.3, 0.03]}
    >>> fig = plot_vanishing({"runs": {1.0: run}})
    """
    runs = {off: _arrays(h, f"res['runs'][{off!r}]", ["steps"], ["grad_sat", "bound", "eps"])
            for off, h in _runs(res).items()}
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    for i, (off, h) in enumerate(sorted(runs.items(), reverse=True)):
        c, m = _COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)]
        s = h["steps"]
        a1.plot(s, h["grad_sat"], "-", marker=m, ms=3, color=c, label=f"offset {off:g}: measured")
        b = np.where(np.isfinite(h["bound"]), h["bound"], np.nan)
        a1.plot(s, b, "--", marker=m, ms=3, mfc="none", color=c, alpha=0.8, label=f"offset {off:g}: bound M ε/(1-ε)")
        a2.plot(s, h["eps"], "-", marker=m, ms=3, color=c, label=f"offset {off:g}")
    for a in (a1, a2):
        a.set_xscale("symlog", linthresh=1)
        a.set_yscale("log")
        a.set_xlabel("discriminator steps")
        a.grid(True, which="major", alpha=0.3)
    a1.set_ylabel(r"$\|\nabla_\theta\, \mathbb{E}\log(1 - D(g_\theta(z)))\|$")
    a1.set_title("Thm 2.4: the generator's gradient vanishes")
    a1.legend(fontsize=7, ncol=1)
    a2.axhline(1.0, color="k", lw=0.8, ls=":")
    a2.set_ylabel(r"$\varepsilon = \|D - D^*\|_{C^1}$ on the samples")
    a2.set_title("distance of D from the optimal D* (bound vacuous above 1)")
    a2.legend(fontsize=8)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_identity(res, ax=None):
    """T2: both sides of Theorem 2.5 against theta_0, with the KL and JS parts.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.gradients.run_gradient_identity`'s result: arrays
        ``theta0``, ``rhs``, ``lhs_quad``, ``lhs_mc``, ``lhs_se``, ``kl_grad``, ``js_grad``, of
        one length (``theta0`` finite; a NaN elsewhere leaves a gap). A missing key or another
        length is a ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_identity
    >>> t = np.array([0.5, 1.0, 2.0])
    >>> fig = plot_identity({"theta0": t, "rhs": t, "lhs_quad": t, "lhs_mc": t + 0.01, "lhs_se": 0.01 + 0 * t,
    ...                      "kl_grad": t, "js_grad": 0 * t})
    """
    res = _arrays(res, "res", ["theta0"], ["rhs", "lhs_quad", "lhs_mc", "lhs_se", "kl_grad", "js_grad"])
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    t = res["theta0"]
    a1.plot(t, res["rhs"], "k-", lw=2, label=r"$\partial_\theta[KL - 2JS]$ (quadrature + finite diff.)")
    a1.plot(t, res["lhs_quad"], "o", color=_COLORS[0], ms=7, mfc="none",
            label=r"$\mathbb{E}[-\partial_\theta \log D^*]$ by quadrature")
    a1.errorbar(t, res["lhs_mc"], yerr=3 * res["lhs_se"], fmt="x", color=_COLORS[1],
                label="same, Monte Carlo (±3 SE)")
    a1.plot(t, res["kl_grad"], ":", color=_COLORS[2], label=r"$\partial_\theta KL = \theta$")
    a1.plot(t, -2 * res["js_grad"], ":", color=_COLORS[3], label=r"$-2\,\partial_\theta JS$")
    a1.set_xlabel(r"$\theta_0$  ($P_r = N(0,1)$, $P_g = N(\theta,1)$)")
    a1.set_ylabel("gradient")
    a1.set_title("Thm 2.5: the -log D* gradient is that of KL - 2 JS")
    a1.legend(fontsize=7)
    a1.grid(alpha=0.3)
    err = np.abs(res["lhs_quad"] - res["rhs"])
    a2.semilogy(t, np.maximum(err, 1e-17), "o-", color=_COLORS[0], label="|quadrature - right side|")
    a2.semilogy(t, np.abs(res["lhs_mc"] - res["rhs"]), "x-", color=_COLORS[1], label="|Monte Carlo - right side|")
    a2.semilogy(t, res["lhs_se"], "--", color="gray", label="Monte Carlo standard error")
    a2.set_xlabel(r"$\theta_0$")
    a2.set_ylabel("absolute difference")
    a2.set_title("agreement")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    if made:
        fig.tight_layout()
    return fig


def _cauchy_result(res):
    """``res`` of :func:`plot_cauchy` with its arrays and numbers checked (a new dict)."""
    ns = as_array(entry(res, "ns", "res"), "res['ns']", ndim=1)
    if np.any(ns <= 0):
        raise ValueError(f"`res['ns']` must be positive sample sizes (a log axis); got {ns.tolist()}.")
    out = {"ns": ns}
    for part in ("disjoint", "control"):
        d, name = entry(res, part, "res"), f"res[{part!r}]"
        fit = {"x": as_array(entry(d, "x", name), f"{name}['x']", ndim=1),
               "running_var": as_array(entry(d, "running_var", name), f"{name}['running_var']", ndim=1,
                                       finite=False)}
        same_length(**{"res['ns']": ns, f"{name}['running_var']": fit["running_var"]})
        for key in ("d_star", "hill_alpha", "loglik_cauchy", "loglik_norm"):
            fit[key] = number(entry(d, key, name), f"{name}[{key!r}]", finite=False)
        for key in ("cauchy_loc", "cauchy_scale", "norm_loc", "norm_scale"):
            fit[key] = number(entry(d, key, name), f"{name}[{key!r}]")
            if key.endswith("scale") and fit[key] <= 0:
                raise ValueError(f"`{name}[{key!r}]` must be positive; got {fit[key]}.")
        out[part] = fit
    k, n = entry(res, "k", "res"), len(out["disjoint"]["x"])
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise TypeError(f"`res['k']` must be an integer (the Hill order); got {type(k).__name__}.")
    if not 0 <= k < n:
        raise ValueError(f"`res['k']` must be in [0, {n}) (the Hill order, below the {n} points of "
                         f"res['disjoint']['x']); got {k}.")
    out["k"] = int(k)
    return out


@closes_on_error
def plot_cauchy(res, ax=None):
    """T3: histogram with both fits, the tail (log-log), and the running variance.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.gradients.run_cauchy_gradients`'s result: ``ns``,
        ``k`` (Hill order) and, for ``"disjoint"`` and ``"control"``, dicts with the samples
        ``x``, ``d_star``, ``hill_alpha``, ``running_var`` (at ``ns``) and the fits
        ``cauchy_loc``, ``cauchy_scale``, ``loglik_cauchy``, ``norm_loc``, ``norm_scale``,
        ``loglik_norm`` (the fitted densities are drawn; nothing is fitted here). ``x`` finite,
        ``running_var`` one per entry of ``ns``, ``0 <= k < len(x)``, ``cauchy_scale`` positive;
        a missing key or bad value is a ``ValueError`` naming it.
    ax : sequence of 3 matplotlib Axes, optional
        Default a new 1 x 3 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_cauchy
    >>> x = np.random.default_rng(0).standard_cauchy(500)
    >>> fit = dict(x=x, cauchy_loc=0.0, cauchy_scale=1.0, loglik_cauchy=-1.0, norm_loc=0.0, norm_scale=3.0,
    ...            loglik_norm=-2.0, hill_alpha=1.0, running_var=[1.0, 5.0])
    >>> fig = plot_cauchy({"disjoint": dict(fit, d_star=0.0), "control": dict(fit, d_star=0.5),
    ...                    "ns": [100, 500], "k": 50})
    """
    from scipy import stats

    res = _cauchy_result(res)
    made = ax is None
    fig, (a1, a2, a3) = _axes(ax, 3, width=4.6)
    d = res["disjoint"]
    x = d["x"]
    lim = 10 * d["cauchy_scale"]
    xs = np.linspace(-lim, lim, 400)
    a1.hist(x[np.abs(x - d["cauchy_loc"]) < lim], bins=120, density=True, color="0.75",
            label="gradient coordinate $c_1$")
    # the histogram omits the tails: rescale the pdfs to the window's mass
    inside = np.mean(np.abs(x - d["cauchy_loc"]) < lim)
    a1.plot(xs, stats.cauchy.pdf(xs, d["cauchy_loc"], d["cauchy_scale"]) / inside, color=_COLORS[1],
            label=f"Cauchy fit (loglik {d['loglik_cauchy']:.3g})")
    gauss = stats.norm.pdf(xs, d["norm_loc"], d["norm_scale"]) / inside
    a1.plot(xs, gauss, color=_COLORS[0], ls="--", label=f"Gaussian fit (loglik {d['loglik_norm']:.3g})")
    a1.set_yscale("log")
    # the Gaussian fit to heavy-tailed data is nearly flat at about 1 / (2.5 sigma): with the
    # sample sigma of a Cauchy sample (10^4 and more) it fell under a fixed 1e-4 floor and its
    # legend entry named a curve the panel did not show
    low = float(gauss[gauss > 0].min()) if np.any(gauss > 0) else 1e-4
    a1.set_ylim(min(1e-4, 0.3 * low), None)
    a1.set_title("D = D* + white noise, disjoint supports")
    a1.set_ylabel("density")
    a1.set_xlabel("coordinate value")
    a1.legend(fontsize=7)
    for name, c in (("disjoint", _COLORS[1]), ("control", _COLORS[0])):
        r = res[name]
        v = np.sort(np.abs(r["x"]))[::-1]
        surv = np.arange(1, v.size + 1) / v.size
        a2.loglog(v, surv, color=c, label=f"D* = {r['d_star']:g}: Hill α = {r['hill_alpha']:.2f}")
        a3.loglog(res["ns"], r["running_var"], "o-", ms=3, color=c, label=f"D* = {r['d_star']:g}")
    v = np.sort(np.abs(d["x"]))[::-1]
    ref = np.geomspace(v[res["k"]], v[0], 10)
    a2.loglog(ref, (res["k"] / v.size) * v[res["k"]] / ref, "k--", lw=1, label="slope -1 (Cauchy)")
    a2.set_xlabel("|coordinate|")
    a2.set_ylabel("P(|X| > x)")
    a2.set_title("tails")
    a2.legend(fontsize=7)
    a3.set_xlabel("number of gradient samples n")
    a3.set_ylabel("sample variance of the first n")
    a3.set_title("running variance")
    a3.legend(fontsize=8)
    for a in (a2, a3):
        a.grid(alpha=0.3, which="major")
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_parallel_lines_gan(res, ax=None):
    """T4: theta over generator steps, and the generator gradient, per variant.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.parallel_lines_gan.run_parallel_lines`'s result:
        ``res["runs"][variant]`` holds arrays ``theta``
        (per step, start included) and ``grad`` (per step), so ``theta`` is one longer;
        variants ``"js"``, ``"js_ns"``, ``"wgan_gp"`` get long labels. A missing key or
        another length is a ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_parallel_lines_gan
    >>> fig = plot_parallel_lines_gan({"runs": {"wgan_gp": {"theta": np.linspace(1, 0, 11),
    ...                                                     "grad": np.ones(10)}}})
    """
    runs = _steps_runs(res)
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    labels = {"js": "JS-GAN (minimax loss)", "js_ns": "JS-GAN (non-saturating loss)",
              "wgan_gp": "WGAN-GP"}
    for i, (v, r) in enumerate(runs.items()):
        c, ls = _COLORS[i % len(_COLORS)], _LINESTYLES[i % len(_LINESTYLES)]
        a1.plot(np.arange(r["theta"].size), r["theta"], color=c, ls=ls, label=labels.get(v, v))
        a2.plot(np.arange(1, r["grad"].size + 1), np.abs(r["grad"]), color=c, ls=ls, label=labels.get(v, v))
    a1.axhline(0, color="k", lw=0.8)
    a1.set_xlabel("generator steps")
    a1.set_ylabel(r"$\theta$ (data at $\theta = 0$)")
    a1.set_title("parallel lines: the generator's position")
    # no legend here: the right panel's names the same colours, and this one's, placed where
    # the oscillating and the descending curves leave no corner free, covered a curve
    a1.grid(alpha=0.3)
    a2.set_yscale("log")
    a2.axhline(1.0, color="k", lw=0.8, ls=":", label=r"$|\partial_\theta W_1| = 1$")
    a2.set_xlabel("generator steps")
    a2.set_ylabel(r"$|\partial_\theta$ generator loss$|$")
    a2.set_title("the generator's gradient")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_instance_noise(res, ax=None):
    """T8: generator gradient norm vs D steps for each instance-noise level.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.gradients.run_instance_noise`'s result:
        ``res["runs"][sigma]`` holds arrays ``steps``, ``grad_sat``, ``mean_d_fake`` of one
        length (``steps`` finite; a NaN elsewhere leaves a gap). A missing key or another length
        is a ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from kantorovich.plots import plot_instance_noise
    >>> run = {"steps": [0, 10, 100], "grad_sat": [1.0, 0.5, 0.4], "mean_d_fake": [0.5, 0.3, 0.2]}
    >>> fig = plot_instance_noise({"runs": {0.0: run, 0.5: run}})
    """
    runs = {s: _arrays(h, f"res['runs'][{s!r}]", ["steps"], ["grad_sat", "mean_d_fake"])
            for s, h in _runs(res).items()}
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    for i, (s, h) in enumerate(sorted(runs.items())):
        c, m = _COLORS[i % len(_COLORS)], _MARKERS[i % len(_MARKERS)]
        lab = "no noise" if s == 0 else f"noise σ = {s:g}"
        a1.plot(h["steps"], h["grad_sat"], "-", marker=m, ms=3, color=c, label=lab)
        a2.plot(h["steps"], h["mean_d_fake"], "-", marker=m, ms=3, color=c, label=lab)
    for a in (a1, a2):
        a.set_xscale("symlog", linthresh=1)
        a.set_yscale("log")
        a.set_xlabel("discriminator steps")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    a1.set_ylabel(r"$\|\nabla_\theta\, \mathbb{E}\log(1 - D(g_\theta(z) + \sigma n))\|$")
    a1.set_title("instance noise keeps the generator's gradient")
    a2.set_ylabel("mean D on generated points")
    a2.set_title("the noisy D cannot become perfect")
    if made:
        fig.tight_layout()
    return fig


@closes_on_error
def plot_saturation(res, ax=None):
    """T9: saturating vs non-saturating gradient norms against D's confidence.

    Parameters
    ----------
    res : dict
        :func:`~kantorovich.toy_experiments.gradients.run_saturation`'s result: arrays
        ``mean_d_fake``, ``grad_sat``, ``grad_ns``, ``ratio``, of one length (``mean_d_fake``
        finite; a NaN elsewhere leaves a gap). A missing key or another length is a
        ``ValueError`` naming it.
    ax : sequence of 2 matplotlib Axes, optional
        Default a new 1 x 2 Figure.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from kantorovich.plots import plot_saturation
    >>> d = np.array([0.3, 0.1, 0.01])
    >>> fig = plot_saturation({"mean_d_fake": d, "grad_sat": d, "grad_ns": 1 - d, "ratio": (1 - d) / d})
    """
    res = _arrays(res, "res", ["mean_d_fake"], ["grad_sat", "grad_ns", "ratio"])
    made = ax is None
    fig, (a1, a2) = _axes(ax, 2)
    d = res["mean_d_fake"]
    a1.loglog(d, res["grad_sat"], "o-", ms=3, color=_COLORS[1], label=r"saturating $\log(1 - D(G(z)))$")
    a1.loglog(d, res["grad_ns"], "s--", ms=3, color=_COLORS[0], label=r"non-saturating $-\log D(G(z))$")
    a1.invert_xaxis()
    a1.set_xlabel("mean D(G(z))  (D grows confident to the right)")
    a1.set_ylabel("generator gradient norm")
    a1.set_title("as D rejects the fakes")
    a1.legend(fontsize=8)
    a1.grid(alpha=0.3)
    a2.loglog(d, res["ratio"], "o-", ms=3, color="k", label="measured ratio non-sat / sat")
    a2.loglog(d, (1 - d) / d, "--", color="gray", label="(1 - D)/D at the mean D")
    a2.invert_xaxis()
    a2.set_xlabel("mean D(G(z))")
    a2.set_ylabel("gradient ratio non-saturating / saturating")
    a2.set_title("ratio of the two gradients")
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    if made:
        fig.tight_layout()
    return fig


def __getattr__(name):
    if name == "plot_parallel_lines":
        from .._warnings import warn

        warn("kantorovich.plots.theory.plot_parallel_lines is deprecated; use "
             "kantorovich.plots.plot_parallel_lines_gan.", DeprecationWarning)
        return plot_parallel_lines_gan
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
