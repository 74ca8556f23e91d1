"""Optimal transport: the Earth-Mover (Wasserstein) distance and friends.

- 1-D: ``wasserstein_1d`` (W_p by the quantile formula), ``wasserstein_1d_plan``,
  ``cumulative_deltas``, ``emd_1d_histogram``.
- Sliced: ``sliced_wasserstein``, ``max_sliced_wasserstein``.
- Exact LP with a certificate: ``emd``; point clouds: ``wasserstein``.
- Entropic: ``sinkhorn``, ``sinkhorn_divergence``, geometries ``DenseGeometry``, ``PointCloud``.
- Exact assignment by epsilon-scaling auction: ``assignment``.
- Matrices of W_p between many distributions, in-process or on Dask: ``pairwise_wasserstein``.
"""

from .._interop import interop
from .._lazy import attach

_EXPORTS = {
    "cumulative_deltas": "._histogram1d",
    "emd_1d_histogram": "._histogram1d",
    "wasserstein_1d": "._wasserstein_1d",
    "wasserstein_1d_plan": "._wasserstein_1d",
    "sliced_wasserstein": "._sliced",
    "max_sliced_wasserstein": "._sliced",
    "projected_wasserstein": "._sliced",
    "random_directions": "._sliced",
    "emd": "._emd",
    "wasserstein": "._wasserstein",
    "sinkhorn": "._sinkhorn",
    "sinkhorn_divergence": "._sinkhorn",
    "DenseGeometry": "._geometry",
    "PointCloud": "._geometry",
    "assignment": "._auction",
    "auction_transport": "._auction",
    "pairwise_wasserstein": "._pairwise",
}

__getattr__, __dir__, __all__ = attach(__name__, _EXPORTS, wrap=interop)
