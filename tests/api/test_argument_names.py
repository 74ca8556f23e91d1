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


def test_ragged_lists_name_the_argument():
    # numpy's "setting an array element with a sequence" named no argument
    from kantorovich.divergences._discriminator import _argmax_a_log_y_b_log_1my
    from kantorovich.ot import projected_wasserstein

    with pytest.raises(TypeError, match="`a` must be an array of real numbers"):
        _argmax_a_log_y_b_log_1my([[1.0, 2.0], [3.0]], np.array([0.0, 0.78]))
    with pytest.raises(TypeError, match="`directions` must be an array of real numbers"):
        projected_wasserstein([[0.5], [1.0]], [[2.0], [0.0]], [[1.0, 2.0], [3.0]])
    assert _argmax_a_log_y_b_log_1my(1.0, 3.0) == 0.25 and isinstance(_argmax_a_log_y_b_log_1my(1.0, 3.0), float)
    assert _argmax_a_log_y_b_log_1my([1.0], [3.0]).tolist() == [0.25]
    w = projected_wasserstein([[0.0], [1.0]], [[2.0], [3.0]], [[1.0]])
    assert w.tolist() == [2.0]
