"""2-D toy data on low-dimensional manifolds and mixtures, for the toy GAN experiments.

``sample(name, n, rng=None, **kw)`` returns an ``(n, 2)`` float64 array of points:

==================  ==========================================================================
name                distribution (keyword options, defaults)
==================  ==========================================================================
``parallel_lines``  (theta, Z), Z ~ U[0, 1]: a vertical unit segment at x = theta (``theta=0.0``)
``segments``        uniform on a union of segments, each picked with probability proportional
                    to its length (``starts``, ``ends``: (k, 2) arrays; default the cross
                    [-1, 1] x {0} and {0} x [-1, 1])
``circle``          uniform on a circle (``radius=1.0``, ``center=(0, 0)``, ``noise=0.0``:
                    std of isotropic Gaussian noise added to each point)
``ring8``           8 Gaussians evenly spaced on a circle (``radius=1.0``, ``std=0.01``)
``grid25``          25 Gaussians on the grid {-4, -2, 0, 2, 4}^2 (``spacing=2.0``, ``std=0.05``)
``swiss_roll``      2-D swiss roll t (cos t, sin t) / (4.5 pi), t ~ U[1.5 pi, 4.5 pi], so the
                    radius is at most 1 (``noise=0.0``)
==================  ==========================================================================

``MODES`` holds the centres and the standard deviation of the two Gaussian mixtures at their
default settings (what :func:`kantorovich.toy_experiments.metrics.mode_metrics` needs). The
mixture settings follow the VEEGAN / PacGAN 2-D benchmarks as we understand them (ring of
radius 1 with std 0.01; grid spacing 2 with std 0.05); ``mode_centers(name, **kw)`` gives the
centres for other settings.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import check_choice, check_finite, check_int, check_nonnegative, check_positive, check_rng

__all__ = ["DATASETS", "MODES", "sample", "mode_centers"]

DATASETS = ("parallel_lines", "segments", "circle", "ring8", "grid25", "swiss_roll")


def mode_centers(name: str, **kw) -> tuple[np.ndarray, float]:
    """Centres ``(K, 2)`` and standard deviation of the mixture ``name`` ("ring8" or "grid25").

    Examples
    --------
    >>> c, s = mode_centers("ring8")
    >>> c.shape, s
    ((8, 2), 0.01)
    """
    check_choice(name, "name", ("ring8", "grid25"))
    if name == "ring8":
        radius = check_positive(kw.get("radius", 1.0), "radius")
        std = check_positive(kw.get("std", 0.01), "std")
        ang = 2 * np.pi * np.arange(8) / 8
        return radius * np.stack([np.cos(ang), np.sin(ang)], axis=1), std
    spacing = check_positive(kw.get("spacing", 2.0), "spacing")
    std = check_positive(kw.get("std", 0.05), "std")
    g = spacing * (np.arange(5) - 2.0)
    gx, gy = np.meshgrid(g, g, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1), std


MODES = {
    name: {"centers": mode_centers(name)[0], "std": mode_centers(name)[1]}
    for name in ("ring8", "grid25")
}


def sample(name: str, n: int, rng=None, **kw) -> np.ndarray:
    """Draw ``n`` points of the 2-D toy distribution ``name``.

    Parameters
    ----------
    name : {"parallel_lines", "segments", "circle", "ring8", "grid25", "swiss_roll"}
    n : int >= 1
    rng : None, int or numpy.random.Generator
    **kw : options of the chosen distribution (see the module docstring); unknown options
        raise ValueError.

    Returns
    -------
    x : ndarray of shape (n, 2), float64

    Complexity O(n).

    Examples
    --------
    >>> x = sample("parallel_lines", 4, rng=0, theta=0.5)
    >>> x.shape, bool((x[:, 0] == 0.5).all())
    ((4, 2), True)
    """
    check_choice(name, "name", DATASETS)
    n = check_int(n, "n", minimum=1)
    rng = check_rng(rng)
    allowed = {
        "parallel_lines": {"theta"},
        "segments": {"starts", "ends"},
        "circle": {"radius", "center", "noise"},
        "ring8": {"radius", "std"},
        "grid25": {"spacing", "std"},
        "swiss_roll": {"noise"},
    }[name]
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for dataset {name!r}; valid options are "
                         f"{sorted(allowed)}.")
    if name == "parallel_lines":
        theta = kw.get("theta", 0.0)
        theta = check_finite(theta, "theta")
        z = rng.uniform(0.0, 1.0, n)
        return np.stack([np.full(n, theta), z], axis=1)
    if name == "segments":
        starts = np.asarray(kw.get("starts", [[-1.0, 0.0], [0.0, -1.0]]), dtype=float)
        ends = np.asarray(kw.get("ends", [[1.0, 0.0], [0.0, 1.0]]), dtype=float)
        if starts.ndim != 2 or starts.shape[1] != 2 or starts.shape != ends.shape:
            raise ValueError(f"`starts` and `ends` must be (k, 2) arrays of the same shape; got "
                             f"{starts.shape} and {ends.shape}.")
        if not (np.all(np.isfinite(starts)) and np.all(np.isfinite(ends))):
            raise ValueError("`starts` and `ends` must contain only finite values.")
        lengths = np.linalg.norm(ends - starts, axis=1)
        if lengths.sum() <= 0:
            raise ValueError("`starts` and `ends` must describe segments of positive total length.")
        k = rng.choice(len(lengths), size=n, p=lengths / lengths.sum())
        t = rng.uniform(0.0, 1.0, n)[:, None]
        return starts[k] + t * (ends[k] - starts[k])
    if name == "circle":
        radius = check_positive(kw.get("radius", 1.0), "radius")
        noise = check_nonnegative(kw.get("noise", 0.0), "noise")
        center = np.asarray(kw.get("center", (0.0, 0.0)), dtype=float)
        if center.shape != (2,):
            raise ValueError(f"`center` must be a pair of floats; got shape {center.shape}.")
        a = rng.uniform(0.0, 2 * np.pi, n)
        x = center + radius * np.stack([np.cos(a), np.sin(a)], axis=1)
        return x + noise * rng.standard_normal((n, 2)) if noise > 0 else x
    if name in ("ring8", "grid25"):
        centers, std = mode_centers(name, **kw)
        k = rng.integers(0, len(centers), n)
        return centers[k] + std * rng.standard_normal((n, 2))
    # swiss_roll
    noise = check_nonnegative(kw.get("noise", 0.0), "noise")
    t = rng.uniform(1.5 * np.pi, 4.5 * np.pi, n)
    x = np.stack([t * np.cos(t), t * np.sin(t)], axis=1) / (4.5 * math.pi)
    return x + noise * rng.standard_normal((n, 2)) if noise > 0 else x
