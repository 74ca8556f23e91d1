"""Hypothesis strategies shared by the tests: the public ones of :mod:`kantorovich.strategies`."""

from kantorovich.strategies import pmf_pairs, pmfs

__all__ = ["pmfs", "pmf_pairs"]
