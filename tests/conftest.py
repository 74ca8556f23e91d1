"""Shared test setup: hypothesis profiles, GPU/slow markers, fixtures."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "dev", deadline=None, max_examples=100, suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def _gpu_available() -> bool:
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return False
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


GPU = _gpu_available()


def pytest_collection_modifyitems(config, items):
    if GPU:
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU with CuPy (run benchmarks/gpu_check.sh on a GPU machine)")
    for item in items:
        # the marker, not the keyword: every test under tests/gpu/ has "gpu" (its folder) among
        # its keywords, and those CPU-side compile checks must run without a GPU
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture
def input_seed(request):
    """The seed of a test that draws its inputs at random.

    Fixed per test by default (the CRC-32 of its node id), so a run is reproducible;
    ``KANTOROVICH_TEST_SEED=fresh`` draws new inputs every run (a fuzzing run), and an integer
    replays one. The seed is printed, and pytest shows it with a failure's captured output.
    """
    spec = os.environ.get("KANTOROVICH_TEST_SEED", "").strip()
    if spec == "fresh":
        seed = int(np.random.SeedSequence().entropy % 2**63)
    elif spec:
        seed = int(spec)
    else:
        seed = zlib.crc32(request.node.nodeid.encode())
    print(f"input seed {seed} (KANTOROVICH_TEST_SEED={seed} replays it)")
    return seed
