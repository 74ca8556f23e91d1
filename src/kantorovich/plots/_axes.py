"""Where a figure function draws: the Axes it is given, or a new Figure of its own."""

from __future__ import annotations

import functools

import numpy as np


def single_axes(ax, figsize):
    """``(figure, ax)``: a new Figure of one Axes of ``figsize`` when ``ax`` is None, else ``ax``'s."""
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(figsize=figsize)
    return ax.figure, ax


def panel_axes(ax, n, *, figsize, nrows=1, ncols=None, **subplots_kw):
    """``(figure, [Axes])``: a new ``nrows x ncols`` grid of ``figsize`` when ``ax`` is None
    (``1 x n`` by default), else the given Axes (any sequence or array of at least ``n``),
    in row-major order.

    A ``ValueError`` names ``ax`` when fewer than ``n`` Axes are given.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        ncols = n if ncols is None else ncols
        fig, grid = plt.subplots(nrows, ncols, figsize=figsize, squeeze=False, **subplots_kw)
        return fig, list(grid.ravel())
    axs = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(axs) < n:
        raise ValueError(f"`ax` must hold {n} Axes for this figure; got {len(axs)}.")
    return axs[0].figure, axs


def wrapped_axes(ax, n, *, panel_size, max_cols):
    """``(figure, [Axes])`` as :func:`panel_axes`, but a new Figure holds the ``n`` panels in
    rows of at most ``max_cols`` (its spare cells left blank): seven square panels of 3 inches
    in one row made a Figure 21 inches wide whose 8 pt titles shrank to 3 pt on a page or a
    slide."""
    if ax is not None:
        return panel_axes(ax, n, figsize=None)
    ncols = min(n, max_cols)
    nrows = -(-n // ncols)
    fig, axes = panel_axes(None, n, nrows=nrows, ncols=ncols,
                           figsize=(panel_size[0] * ncols, panel_size[1] * nrows))
    for a in axes[n:]:
        a.axis("off")
    return fig, axes[:n]


def old_axes_keyword(func):
    """Accept the keyword ``axes=`` as a deprecated spelling of ``ax=`` (one release)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if "axes" in kwargs:
            if kwargs.get("ax") is not None:
                raise TypeError(f"{func.__name__}() takes `ax`; `axes` is its old spelling: give one.")
            from .._warnings import warn

            warn(f"{func.__name__}(axes=...) is deprecated; pass the Axes as `ax=`.", DeprecationWarning)
            kwargs["ax"] = kwargs.pop("axes")
        return func(*args, **kwargs)

    return wrapper


def closes_on_error(func):
    """Close the Figures ``func`` made when it raises: a call that fails leaves no open Figure
    behind (pyplot keeps every Figure it made until closed)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import matplotlib.pyplot as plt

        before = set(plt.get_fignums())
        try:
            return func(*args, **kwargs)
        except BaseException:
            for num in set(plt.get_fignums()) - before:
                plt.close(num)
            raise

    return wrapper
