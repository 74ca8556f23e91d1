"""Every ```python block of docs/*.md runs as written (each in a fresh namespace), and the
values its comments promise hold."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)


def _run(name: str) -> dict:
    ns: dict = {}
    for block in _blocks(DOCS / name):
        exec(compile(block, str(DOCS / name), "exec"), ns)  # noqa: S102 - our own docs
    return ns


def _all_docs() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md") if _blocks(p))


def test_the_docs_have_examples():
    assert {"auction.md", "emd_1d.md", "foundation.md", "sinkhorn.md"} <= set(_all_docs())


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", _all_docs())
def test_docs_example_runs(name):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        _run(name)
    # the docs teach the current API: no deprecated spelling of ours in their examples
    ours = [str(w.message) for w in caught
            if issubclass(w.category, DeprecationWarning) and str(DOCS) in str(w.filename)]
    assert not ours, ours


def test_foundation_example_values():
    ns = _run("foundation.md")
    f = ns
    assert f["tv_distance"]([0.5, 0.5, 0], [0, 0.5, 0.5]) == pytest.approx(0.5)
    assert f["js_distance"]([1, 0], [0, 1], base=2) == pytest.approx(1.0)
    assert f["js_divergence"](f["P_batch"], f["q"]).shape == (3,)
    assert list(f["cumulative_deltas"]([3, 2, 1, 4], [1, 2, 4, 3])) == [0, 2, 2, -1, 0]
    assert f["emd_1d_histogram"]([1, 1], [0, 1], bin_width=0.1, normalize=True) == pytest.approx(0.05)
    pd, pg = f["p_data"], f["p_g"]
    js = f["js_divergence"](pd, pg)
    assert f["gan_value"](f["D"], pd, pg) == pytest.approx(-math.log(4) + 2 * js)
    assert f["js_from_discriminator"](f["D_smooth"], pd, pg) <= js + 1e-12
    # densities on a grid: N(0, 1) vs N(1, 1) at D*; the grid value is close to -log 4 + 2 JS > -log 4
    v = f["gan_value"](f["optimal_discriminator"](f["pd_grid"], f["pg_grid"]), f["pd_grid"], f["pg_grid"],
                       weights=f["dx"])
    assert -math.log(4) < v < 0
    assert f["optimal_discriminator"]([1.0], [3.0]).tolist() == [0.25]
    assert f["GaussianPair"](0.0, 1.0, 2.0, 1.0).kl() == pytest.approx(2.0)
    assert f["UniformSegments"](0, 1, 2, 3).w1() == pytest.approx(2.0)
    assert f["x"].shape == (1000, 2) and f["y"].shape == (500, 2)


def test_emd_1d_example_values():
    f = _run("emd_1d.md")
    w = f["wasserstein_1d"]
    assert w([0, 1, 3], [5, 6, 8]) == pytest.approx(5.0)
    assert w([0, 1], [0, 1], [3, 1], [2, 2]) == pytest.approx(0.25)
    assert w([0, 0], [1, 3], p=2) == pytest.approx(math.sqrt(5))
    assert w(np.zeros((4, 100)), np.ones(50)).shape == (4,)


def test_auction_example_values():
    f = _run("auction.md")
    r, M = f["r"], f["M"]
    exact = f["assignment"](M)
    assert r.exact and exact.exact
    assert r.value == pytest.approx(exact.value, rel=1e-12)  # points on the fly == dense matrix
    assert sorted(r.perm) == list(range(300))
    assert f["res"].plan.shape == (4, 5)


def test_sinkhorn_example_values():
    f = _run("sinkhorn.md")
    r = f["r"]
    assert r.converged and np.isfinite(r.value)
    assert f["sinkhorn_divergence"](f["a"], f["b"], f["M_or_geometry"], eps=0.01).value >= -1e-9
