"""Error messages name the arguments of the function that was called."""

import numpy as np
import pytest


@pytest.mark.parametrize("fn", ["gaussian_kl", "gaussian_w2"])
def test_gaussian_functions_name_their_own_arguments(fn):
    from kantorovich import families

    # the shared validation of GaussianPair(mean0, cov0, ...) named those arguments, which these
    # functions do not have
    f = getattr(families, fn)
    with pytest.raises(TypeError, match="`S1` must be an array of real numbers"):
        f(0.0, 1.0, 0.0, "ab")
    with pytest.raises(ValueError, match="`S0` must be positive definite"):
        f(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="`m0` and `m1` must have the same length"):
        f([0.0, 1.0], np.eye(2), [0.0], 1.0)
    with pytest.raises(ValueError, match="`cov0` must be positive definite"):
        families.GaussianPair(0.0, -1.0, 0.0, 1.0)
