"""The README's Python tour runs as written, and its commented values hold."""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[2] / "README.md"


def _python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_readme_has_a_python_tour():
    assert README.exists(), "README.md is missing"
    assert _python_blocks(README.read_text(encoding="utf-8")), "README.md has no ```python block"


def test_readme_tour_runs_and_its_comments_hold():
    ns: dict = {}
    # The README documents no warning for its examples, so any warning one of them raises (a
    # ConvergenceWarning, a KantorovichWarning, a numpy RuntimeWarning) fails the test. Only
    # numba's own deprecation notices are let through, as in pyproject's filterwarnings.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=DeprecationWarning, module="numba")
        for block in _python_blocks(README.read_text(encoding="utf-8")):
            exec(compile(block, str(README), "exec"), ns)  # noqa: S102 - our own README
    assert not caught, "README examples warned: " + "; ".join(
        f"{w.category.__name__}: {w.message}" for w in caught)
    f = ns
    # the values the tour's comments promise
    assert f["emd_1d_histogram"]([3, 2, 1, 4], [1, 2, 4, 3]) == pytest.approx(5.0)
    assert f["js_divergence"]([1, 0], [0, 1]) == pytest.approx(math.log(2))
    assert f["kl_divergence"]([0.5, 0.5], [1, 0]) == math.inf
    fam = f["fam"]
    assert (fam.w1(), fam.js(), fam.tv(), fam.kl()) == pytest.approx((0.3, math.log(2), 1.0, math.inf))
    r, a, s = f["r"], f["a"], f["s"]
    assert a.exact and a.value == pytest.approx(r.value, rel=1e-12)
    assert abs(r.duality_gap) <= 1e-9 * max(1.0, abs(r.value))
    assert s.value >= r.value - 1e-9  # the entropic plan's cost is never below the exact optimum
    e = f["e"]
    assert 1.5 < e.value < 1.9 and e.stderr < 0.1 and e.ci[0] < e.value < e.ci[1]
    assert np.isfinite(e.stderr)


@pytest.mark.parametrize("n", [200, 500])
def test_readme_sinkhorn_call_converges_with_the_defaults(n):
    # the tour's call at its own size (500) and at 200, where the former default tol = 1e-6
    # needed about 10 000 iterations and warned
    import warnings

    from kantorovich.exceptions import ConvergenceWarning
    from kantorovich.ot import PointCloud, sinkhorn

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        s = sinkhorn(None, None, PointCloud(x, y), eps=0.05)
    assert s.converged and s.n_iter < 2000
