"""Peers' own test suites (scipy, POT, universal-divergence, the reference Inception-score code)
ported onto the kantorovich functions that compute the same quantities. Each test names in its
docstring the source file and test it came from; where a convention differs (POT's
``wasserstein_1d`` returns W_p^p, its ``reg`` is our ``eps``, scipy's ``entropy`` works along
axis 0), the peer is computed in the test and compared to, never a changed expected value."""
