"""The BLAS pools limited to one thread around small linear algebra."""

from __future__ import annotations

import pytest

from kantorovich._threads import blas_single_thread


def test_blas_single_thread_limits_and_restores():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import scipy.linalg  # noqa: F401

    def blas_threads():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    before = blas_threads()
    assert before  # numpy's OpenBLAS at least
    with blas_single_thread():
        assert set(blas_threads()) == {1}
    assert blas_threads() == before
