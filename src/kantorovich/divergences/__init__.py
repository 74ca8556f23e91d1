"""Divergences between probability distributions.

Exact, on probability vectors (batched along leading axes; numpy or CuPy):
``tv_distance``, ``kl_divergence``, ``js_divergence``, ``js_distance``.
The optimal discriminator of a GAN and its value: ``optimal_discriminator``, ``gan_value``.
From samples: ``estimate_kl``, ``estimate_js``, ``estimate_tv``, ``parzen_log_likelihood``,
``inception_score``.

All in nats. JS uses the ½-weighted definition, so JS is in [0, log 2].
"""

from .._interop import interop
from .._lazy import attach

_EXPORTS = {
    # exact divergences on pmfs
    "tv_distance": "._exact",
    "kl_divergence": "._exact",
    "js_divergence": "._exact",
    "js_distance": "._exact",
    # GAN optimal discriminator (C3-C7)
    "optimal_discriminator": "._discriminator",
    "gan_value": "._discriminator",
    "js_from_discriminator": "._discriminator",
    # estimators from samples
    "estimate_kl": "._estimators",
    "estimate_js": "._estimators",
    "estimate_tv": "._estimators",
    "parzen_log_likelihood": "._parzen",
    "inception_score": "._inception",
}

_exported, __dir__, __all__ = attach(__name__, _EXPORTS, wrap=interop)

# deprecated public names, still importable for one release (they warn when called)
_DEPRECATED = {"argmax_a_log_y_b_log_1my": "._discriminator"}
_deprecated, _, _ = attach(__name__, _DEPRECATED, wrap=interop)


def __getattr__(name: str):
    return _deprecated(name) if name in _DEPRECATED else _exported(name)
