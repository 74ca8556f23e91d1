r"""The Inception score (C12).

:func:`inception_score` computes :math:`\exp(E_x KL(p(y|x)\,\|\,p(y)))` from class
probabilities, with the split-based spread of the original code (Salimans et al. 2016).
"""

from __future__ import annotations

import math

import numpy as np

from .._results import EstimateResult
from .._validation import as_float_array, check_int

__all__ = ["inception_score"]


def inception_score(class_probs, *, n_splits: int = 10) -> EstimateResult:
    r"""Inception score :math:`\exp(E_x KL(p(y|x)\,\|\,p(y)))` from class probabilities.

    As in Salimans et al. (2016)'s code (openai/improved-gan, ``inception_score.py``): the
    N rows are cut into ``n_splits`` consecutive splits at the rows ``i * N // n_splits``
    (so when N is not a multiple of ``n_splits`` the later splits hold the extra rows); in each, :math:`p(y)` is the mean row and the score is
    :math:`\exp(\text{mean}_x \sum_y p(y|x)[\log p(y|x) - \log p(y)])`; ``value`` is the
    mean of the split scores and ``info['split_std']`` their standard deviation (the
    "±" of the original); ``stderr`` = split_std / sqrt(n_splits).

    Parameters
    ----------
    class_probs : array_like, shape (N, C)
        Rows are probability vectors (non-negative; each row is normalised to sum 1). A row
        whose total overflows to infinity is an error, as for every weight vector of the
        package (README "Conventions"): divide the rows by a common factor first.
    n_splits : int
        Number of splits (1 <= n_splits <= N).

    Returns
    -------
    EstimateResult (n = N, m = C, method "inception_score").

    Examples
    --------
    >>> import numpy as np
    >>> round(inception_score(np.eye(4), n_splits=1).value, 12)   # 4 confident, distinct classes
    4.0
    """
    from scipy.special import xlogy

    p = as_float_array(class_probs, "class_probs", min_ndim=2, max_ndim=2)
    if not np.all(np.isfinite(p)):
        raise ValueError("`class_probs` must contain only finite values; got NaN or infinity.")
    if np.any(p < 0):
        raise ValueError(f"`class_probs` must be non-negative; got a minimum of {float(p.min())!r}.")
    with np.errstate(over="ignore"):
        tot = p.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(tot)):
        raise ValueError("`class_probs` rows must have a finite total; got a row whose total "
                         "overflows to infinity (divide the rows by a common factor).")
    if np.any(tot <= 0):
        raise ValueError("`class_probs` rows must have a positive total; got a zero row.")
    p = p / tot
    N = p.shape[0]
    n_splits = check_int(n_splits, "n_splits", minimum=1, maximum=N)
    scores = []
    for i in range(n_splits):
        part = p[i * N // n_splits:(i + 1) * N // n_splits]
        py = part.mean(axis=0, keepdims=True)
        kl = (xlogy(part, part) - xlogy(part, np.broadcast_to(py, part.shape))).sum(axis=1)
        scores.append(math.exp(float(kl.mean())))
    scores = np.array(scores)
    std = float(scores.std()) if n_splits > 1 else 0.0
    se = std / math.sqrt(n_splits) if n_splits > 1 else float("nan")
    value = float(scores.mean())
    return EstimateResult(value=value, stderr=se, ci=(value - 1.959964 * se, value + 1.959964 * se)
                          if n_splits > 1 else (float("nan"), float("nan")), n=N, m=p.shape[1],
                          method="inception_score", info={"split_std": std, "split_scores": scores,
                                                          "n_splits": n_splits})
