r"""Property-based checks of divergences and 1-D Wasserstein distances: point them at your code.

Each check runs a battery of `hypothesis <https://hypothesis.readthedocs.io>`_ properties
derived from the closed forms and theorems that ``kantorovich report`` checks, on probability
vectors with zeros, disjoint supports, tiny masses, repeated values and unnormalised weights
(:mod:`kantorovich.strategies`). A property that fails raises an :class:`AssertionError` naming
the property and the theorem, with hypothesis's shrunk counterexample::

    import numpy as np
    from scipy.stats import wasserstein_distance
    from kantorovich.testing import check_divergence, check_wasserstein

    report = check_wasserstein(wasserstein_distance, p=1)   # passes
    print(report)

    def js_without_halves(p, q):                             # a common typo
        m = (p + q) / 2
        return np.sum(p * np.log(p / m)) + np.sum(q * np.log(q / m))
    check_divergence(js_without_halves, "js")   # AssertionError: property '0 <= JS <= log 2' ...

Conventions: divergences in nats (natural logarithm); JS is the ½-weighted
:math:`\mathrm{JS}(p, q) = \tfrac12 \mathrm{KL}(p \| m) + \tfrac12 \mathrm{KL}(q \| m)`,
:math:`m = (p + q)/2`, so :math:`0 \le \mathrm{JS} \le \log 2`; TV is
:math:`\tfrac12 \sum_i |p_i - q_i| \in [0, 1]`. A Wasserstein function takes scipy's
arguments ``fn(u_values, v_values, u_weights=None, v_weights=None)`` and returns :math:`W_p`
itself (not its p-th power); weights need not be normalised.

Needs ``hypothesis``: ``pip install "kantorovich[testing]"``.
"""

from __future__ import annotations

import math
import operator
import re
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

try:
    import hypothesis
    from hypothesis import HealthCheck, Phase, Verbosity, given, settings
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise ImportError(
        "kantorovich.testing needs hypothesis; install it with "
        "pip install \"kantorovich[testing]\"") from exc

import numpy as np

from . import strategies as ks
from ._text import text_table

__all__ = ["check_divergence", "check_wasserstein", "CheckReport", "PropertyResult",
           "divergence_properties", "wasserstein_properties"]

LOG2 = math.log(2.0)
KINDS = ("kl", "js", "tv")


# --------------------------------------------------------------------------- references
def _kl_ref(p, q) -> float:
    """KL(p || q) in nats, term by term with math.fsum (0 log 0 = 0; p > 0 = q gives inf)."""
    terms = []
    for pi, qi in zip(map(float, p), map(float, q)):
        if pi == 0.0:
            continue
        if qi == 0.0:
            return math.inf
        terms.append(pi * math.log(pi / qi))
    return max(math.fsum(terms), 0.0)


def _kl_lower_bound(p, q) -> float:
    """sum(p) - sum(q), correctly rounded, where it is negative, else 0: the lower bound of
    KL(p || q) for any non-negative masses (the log-sum inequality and log x >= 1 - 1/x give
    KL >= sum p log(sum p / sum q) >= sum p - sum q). Gibbs' KL >= 0 is the case of equal
    sums; vectors normalised in floating point sum to 1 only to rounding, and the exact KL of
    [1/3, 1/3, 1/3] against three times 0.33333333333333337 (which sum to 1 + 1.1e-16) is
    -1.7e-16."""
    return min(0.0, math.fsum([*map(float, p), *(-float(x) for x in q)]))


def _js_ref(p, q) -> float:
    """½ KL(p || m) + ½ KL(q || m), each term x log(2x / (x + y)) through log1p near x = y."""
    terms = []
    for pi, qi in zip(map(float, p), map(float, q)):
        s = pi + qi
        if s == 0.0:
            continue
        for x, y in ((pi, qi), (qi, pi)):
            if x > 0.0:
                r = (x - y) / s  # log(2x / (x + y)) = log1p(r), accurate near x = y
                terms.append(x * (math.log1p(r) if r > -0.5 else math.log(2.0 * x / s)))
    return min(max(0.5 * math.fsum(terms), 0.0), LOG2)


def _tv_ref(p, q) -> float:
    return 0.5 * math.fsum(abs(float(a) - float(b)) for a, b in zip(p, q))


_DIV_REF = {"kl": _kl_ref, "js": _js_ref, "tv": _tv_ref}


def _quantile_pieces(values, weights):
    order = np.argsort(values, kind="stable")
    x = np.asarray(values, dtype=np.float64)[order]
    w = np.ones(x.size) if weights is None else np.asarray(weights, dtype=np.float64)[order]
    c = np.cumsum(w / w.sum())
    c[-1] = 1.0
    return x, c


def wasserstein_1d_reference(u, v, uw=None, vw=None, p=1) -> float:
    r"""W_p in 1-D through the quantile functions, summed exactly over their common pieces.

    :math:`W_p^p = \int_0^1 |F^{-1}(t) - G^{-1}(t)|^p \, dt`; both quantile functions are
    constant between consecutive cumulative weights, so the integral is a finite sum.
    """
    xu, cu = _quantile_pieces(u, uw)
    xv, cv = _quantile_pieces(v, vw)
    t = np.unique(np.concatenate([[0.0], cu, cv]))
    t = t[(t >= 0.0) & (t <= 1.0)]
    mid = 0.5 * (t[1:] + t[:-1])
    qu = xu[np.minimum(np.searchsorted(cu, mid, side="left"), xu.size - 1)]
    qv = xv[np.minimum(np.searchsorted(cv, mid, side="left"), xv.size - 1)]
    return _power_mean(t[1:] - t[:-1], np.abs(qu - qv), p)


def _power_mean(weights, d, p) -> float:
    """(sum of weights * d^p)^(1/p), in math.fsum; where d^p passes float64's range (d = 35
    at p = 200) the same in units of max(d), so that a finite W is not computed as inf."""
    weights, d = np.asarray(weights, dtype=np.float64), np.asarray(d, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # inf, or 0 * inf: rescaled below
        total = math.fsum((weights * d ** p).tolist())
    if math.isfinite(total) or not np.all(np.isfinite(d)):
        return total ** (1.0 / p)
    m = float(np.max(d))
    return m * math.fsum((weights * (d / m) ** p).tolist()) ** (1.0 / p)


# --------------------------------------------------------------------------- results
@dataclass
class PropertyResult:
    """One property: its name, the theorem it comes from, how many inputs it saw, the outcome."""

    name: str
    theorem: str
    examples: int = 0
    passed: bool = True
    counterexample: str = ""


@dataclass
class CheckReport:
    """What a check ran: the function, its kind, and one :class:`PropertyResult` per property."""

    function: str
    kind: str
    properties: list[PropertyResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.properties)

    @property
    def examples(self) -> int:
        return sum(r.examples for r in self.properties)

    def failures(self) -> list[PropertyResult]:
        return [r for r in self.properties if not r.passed]

    def table(self) -> str:
        """A plain-text table: theorem, property, examples, result."""
        rows = [(r.theorem, r.name, str(r.examples), "holds" if r.passed else "FAILS")
                for r in self.properties]
        return text_table(("theorem", "property", "examples", "result"), rows)

    def __str__(self) -> str:
        head = (f"{self.function} ({self.kind}): {len(self.properties) - len(self.failures())}/"
                f"{len(self.properties)} properties hold on {self.examples} examples")
        return head + "\n" + self.table()


# --------------------------------------------------------------------------- the battery
@dataclass(frozen=True)
class _Property:
    name: str
    theorem: str
    strategy: Any
    check: Callable[..., None]  # check(fn, drawn) raises AssertionError on a violation
    examples: tuple = ()        # inputs always tried first (known hard cases)


def _not_real(out) -> str | None:
    """Why ``out`` is not a real number a check can compare (None if it is one): a Python
    int or float, a numpy scalar, or a 0-d numpy, torch or JAX array of integers or floats.
    ``float()`` alone would take a string ("0.5"), a bool and a 1-element array."""
    shape = getattr(out, "shape", None)
    dtype = str(getattr(out, "dtype", ""))
    if isinstance(out, (str, bytes, bool)) or "bool" in dtype:
        what = "a bool" if isinstance(out, bool) or "bool" in dtype else f"a {type(out).__name__}"
        return f"returned {out!r}, {what}, not a real number"
    if shape is not None and tuple(shape) != ():
        return (f"returned {out!r}, an array of shape {tuple(shape)}, not a real number "
                "(a float or a 0-d array)")
    if "complex" in dtype or isinstance(out, complex):
        return f"returned {out!r}, a complex number, not a real number"
    try:
        float(_detached(out))
    except (TypeError, ValueError, RuntimeError):
        return f"returned {out!r}, not a real number"
    return None


def _detached(out):
    """A torch tensor without its graph (``float`` of one that requires grad warns)."""
    return out.detach() if callable(getattr(out, "detach", None)) else out


def _value(fn, *args) -> float:
    try:
        out = fn(*args)
    except Exception as exc:  # noqa: BLE001 - the function's own error, told from a property's
        where = traceback.extract_tb(exc.__traceback__)[-1]
        text = f": {exc}" if str(exc) else ""
        raise AssertionError(f"the function raised {type(exc).__name__}{text}\n"
                             f"(raised at {where.filename}:{where.lineno})") from exc
    why = _not_real(out)
    if why is not None:
        raise AssertionError(f"the function {why}")
    return float(_detached(out))


def _close(a, b, rtol=1e-9, atol=1e-12):
    return a == b or abs(a - b) <= atol + rtol * abs(b)


def _require(ok: bool, msg: str):
    if not ok:
        raise AssertionError(msg)


def _finite_nonneg(v, what="value", allow_inf=False, atol=1e-12):
    _require(not math.isnan(v), f"{what} is NaN")
    _require(allow_inf or math.isfinite(v), f"{what} is {v}, not finite")
    _require(v >= -atol, f"{what} = {v!r} is negative")


def _shares(fn, drawn):
    p, q = drawn
    return _value(fn, p.copy(), q.copy())


# Known hard inputs: near-identical vectors whose JS rounds below zero (scipy/scipy#20083 and
# scipy/scipy#20779 on GitHub), a subnormal mass against zero (scipy/scipy#19436), equal vectors.
_X = float(np.nextafter(0.5, 0.0))
_HARD_PAIRS = (
    (np.array([_X, 1.0 - _X]), np.array([1.0 - _X, _X])),
    (np.array([0.0, 1.0]), np.array([5e-324, 1.0])),
    (np.array([0.027501475, 0.055202297]) / (0.027501475 + 0.055202297),
     np.array([0.027537677, 0.055334348]) / (0.027537677 + 0.055334348)),
    (np.array([0.25, 0.25, 0.5]), np.array([0.25, 0.25, 0.5])),
)


def divergence_properties(kind: str) -> list[_Property]:
    """The properties :func:`check_divergence` runs for ``kind`` ("kl", "js" or "tv")."""
    if kind not in KINDS:
        raise ValueError(f"`kind` must be one of {KINDS}; got {kind!r}.")
    ref = _DIV_REF[kind]
    pairs, triples, disjoint = ks.pmf_pairs(), ks.pmf_triples(), ks.disjoint_pmf_pairs()
    props: list[_Property] = []

    def range_check(fn, pq):
        v = _shares(fn, pq)
        # exactly: a divergence rounded below zero breaks what follows it (the square root of
        # a JS is NaN: scipy/scipy#20083); an implementation clamps at 0
        if kind == "kl" and (low := _kl_lower_bound(*pq)) < 0.0:
            # q holds more mass than p by a rounding: the exact KL itself is below zero
            _require(not math.isnan(v), "value is NaN")
            _require(v >= low * (1.0 + 1e-9),
                     f"value = {v!r} is below sum(p) - sum(q) = {low!r}, the lower bound of "
                     "KL on these inputs (0 where both sum to 1 exactly)")
            return
        _finite_nonneg(v, allow_inf=(kind == "kl"), atol=0.0)
        if kind == "js":
            _require(v <= LOG2 + 1e-12, f"JS = {v!r} exceeds log 2 = {LOG2!r}")
        if kind == "tv":
            _require(v <= 1.0 + 1e-12, f"TV = {v!r} exceeds 1")

    rng_name = {"kl": "KL >= 0", "js": "0 <= JS <= log 2", "tv": "0 <= TV <= 1"}[kind]
    rng_thm = {"kl": "Gibbs' inequality", "js": "JS bounds (Lin 1991)", "tv": "TV bounds"}[kind]
    props.append(_Property(rng_name, rng_thm, pairs, range_check, _HARD_PAIRS))

    def identity(fn, pq):
        p, _ = pq
        v = _value(fn, p.copy(), p.copy())
        _require(abs(v) <= 1e-12, f"D(p, p) = {v!r}, not 0")

    props.append(_Property("D(p, p) = 0", "identity of indiscernibles", pairs, identity,
                           _HARD_PAIRS))

    def reference(fn, pq):
        v, r = _shares(fn, pq), ref(*pq)
        _require(_close(v, r), f"value {v!r} differs from the exact value {r!r}")

    props.append(_Property("= exact value", "definition (term-by-term reference)", pairs,
                           reference, _HARD_PAIRS))

    if kind in ("js", "tv"):
        def symmetry(fn, pq):
            p, q = pq
            a, b = _value(fn, p.copy(), q.copy()), _value(fn, q.copy(), p.copy())
            _require(_close(a, b), f"D(p, q) = {a!r} but D(q, p) = {b!r}")

        props.append(_Property("D(p, q) = D(q, p)", "symmetry", pairs, symmetry, _HARD_PAIRS))

    def parallel(fn, pq):
        v = _shares(fn, pq)
        want = {"kl": math.inf, "js": LOG2, "tv": 1.0}[kind]
        _require(v == want or (math.isfinite(want) and _close(v, want, atol=1e-12)),
                 f"value {v!r} on disjoint supports; the theorem gives {want!r}")

    props.append(_Property(
        {"kl": "KL = inf on disjoint supports", "js": "JS = log 2 on disjoint supports",
         "tv": "TV = 1 on disjoint supports"}[kind],
        "parallel lines (Arjovsky et al. 2017, Example 1)", disjoint, parallel))

    if kind == "kl":
        def support(fn, pq):
            p, q = pq
            v = _shares(fn, pq)
            outside = bool(np.any((p > 0) & (q == 0)))
            _require(math.isinf(v) == outside,
                     f"value {v!r}, but p {'has' if outside else 'has no'} mass where q is 0")

        props.append(_Property("KL = inf iff supp p not in supp q", "absolute continuity",
                               pairs, support, _HARD_PAIRS))

    if kind in ("kl", "tv"):
        def pinsker(fn, pq):
            v = _shares(fn, pq)
            tv = v if kind == "tv" else _tv_ref(*pq)
            # a KL below zero (within the bound of the range property) counts as 0 here
            kl = max(v, 0.0) if kind == "kl" else _kl_ref(*pq)
            _require(tv <= math.sqrt(kl / 2.0) + 1e-9,
                     f"TV = {tv!r} > sqrt(KL / 2) = {math.sqrt(kl / 2.0)!r}")

        props.append(_Property("TV <= sqrt(KL / 2)", "Pinsker's inequality", pairs, pinsker))

    if kind == "js":
        def js_tv(fn, pq):
            v = _shares(fn, pq)
            tv = _tv_ref(*pq)
            _require(v <= tv * LOG2 + 1e-12, f"JS = {v!r} > TV log 2 = {tv * LOG2!r}")

        props.append(_Property("JS <= TV log 2", "JS-TV bound (Lin 1991)", pairs, js_tv))

    if kind == "tv":
        def triangle(fn, pqr):
            p, q, r = pqr
            a = _value(fn, p.copy(), r.copy())
            b = _value(fn, p.copy(), q.copy()) + _value(fn, q.copy(), r.copy())
            _require(a <= b + 1e-12, f"D(p, r) = {a!r} > D(p, q) + D(q, r) = {b!r}")

        props.append(_Property("D(p, r) <= D(p, q) + D(q, r)", "triangle inequality", triples,
                               triangle))
    return props


def wasserstein_properties(p: float = 1) -> list[_Property]:
    """The properties :func:`check_wasserstein` runs for the order ``p``."""
    if isinstance(p, (bool, np.bool_, str, bytes)) or not isinstance(p, (int, float, np.integer, np.floating)):
        # float("2") and float(True) would pass: an order given as text or a flag is a slip
        raise TypeError(f"`p` must be a real number >= 1; got {type(p).__name__} {p!r}.")
    p = float(p)
    if not (p >= 1.0 and math.isfinite(p)):
        raise ValueError(f"`p` must be a finite number >= 1; got {p!r}.")
    pairs, triples = ks.sample_pairs(), ks.sample_triples()
    shifts = st.floats(-100.0, 100.0, allow_nan=False)

    def tol(*xs, c=0.0):
        """The scale s of the values (at least 1): W^p is allowed 1e-10 s^p of rounding (of
        sums of costs |x - y|^p of values of this size), and compared in units of s^p, so
        that s^p never passes float64's range (35.0 ** 200 is an OverflowError)."""
        return max(1.0, abs(c), *(float(np.max(np.abs(x))) for x in xs))

    def power(x):
        """x^p with x's sign: a negative value (which "W >= 0" reports) to a non-integer p
        would be a complex number, and comparing it a TypeError of the checker's own; inf
        past float64's range."""
        try:
            return math.copysign(abs(x) ** p, x)
        except OverflowError:
            return math.copysign(math.inf, x)

    def same(a, b, s):
        """a = b up to rtol 1e-9 and 1e-10 s^p on the p-th powers (where the rounding
        happens), compared in units of s^p."""
        if a == b:
            return True
        a, b = a / s, b / s
        return abs(power(a) - power(b)) <= 1e-10 + 1e-9 * power(abs(b))

    def at_most(a, b, s):
        return power(a / s) <= power(b / s) + 1e-10

    props: list[_Property] = []

    def call(fn, u, v, uw, vw):
        return _value(fn, u.copy(), v.copy(), None if uw is None else uw.copy(),
                      None if vw is None else vw.copy())

    def nonneg(fn, d):
        _finite_nonneg(call(fn, *d))

    props.append(_Property("W >= 0 and finite", "metric axioms", pairs, nonneg))

    def identity(fn, d):
        u, _, uw, _ = d
        w = call(fn, u, u, uw, uw)
        _require(at_most(abs(w), 0.0, tol(u)), f"W(u, u) = {w!r}, not 0")

    props.append(_Property("W(u, u) = 0", "metric axioms", pairs, identity))

    def symmetry(fn, d):
        u, v, uw, vw = d
        a, b = call(fn, u, v, uw, vw), call(fn, v, u, vw, uw)
        _require(same(a, b, tol(u, v)), f"W(u, v) = {a!r} but W(v, u) = {b!r}")

    props.append(_Property("W(u, v) = W(v, u)", "metric axioms", pairs, symmetry))

    def reference(fn, d):
        w, r = call(fn, *d), wasserstein_1d_reference(*d, p=p)
        if same(w, r, tol(d[0], d[1])):
            return
        raise AssertionError(f"W = {w!r}; the quantile integral gives {r!r}"
                             + _convention_hint(w, r, d))

    def _convention_hint(w, r, d):
        """What a value off the closed form may be instead: the p-th power, W1, or W of
        weights taken as they are (POT's ot.wasserstein_1d does the first and the last)."""
        u, v, uw, vw = d
        at = tol(u, v)
        r1 = wasserstein_1d_reference(u, v, uw, vw, p=1)
        seen = []
        if p != 1.0 and r > 0.0 and w >= 0.0 and same(w ** (1.0 / p), r, at):
            seen.append(f"W{p:g}^{p:g}, the p-th power (check_wasserstein compares W{p:g} "
                        "itself: take the p-th root of the function's value)")
        if p != 1.0 and not same(r1, r, at) and abs(w - r1) <= 1e-10 * max(1.0, abs(r1)):
            seen.append(f"W1, the order p = {p:g} ignored (pass it to the function too, e.g. "
                        f"functools.partial(fn, p={p:g}))")
        if seen:
            return ". The value is " + ", or ".join(seen)
        sums = [f"{name}'s weights sum to {float(np.sum(x))!r}" for name, x in (("u", uw), ("v", vw))
                if x is not None and float(np.sum(x)) != 1.0]
        if sums:
            return (f". {' and '.join(sums).capitalize()}: the checks pass weights that are "
                    "not normalised, as scipy.stats.wasserstein_distance takes them, and W is "
                    "that of the normalised ones; a function that expects probability weights "
                    "needs them divided by their sum")
        return ""

    ref_name = "W1 = integral of |F - G|" if p == 1.0 else f"W{p:g} = quantile integral"
    props.append(_Property(ref_name, "1-D closed form (Villani 2003, Thm 2.18)", pairs, reference))

    def normalise(fn, d):
        u, v, uw, vw = d
        k = 3.0
        a = call(fn, u, v, uw, vw)
        b = call(fn, u, v, k * (np.ones(u.size) if uw is None else uw), vw)
        _require(same(a, b, tol(u, v)),
                 f"scaling u's weights by {k} changed W from {a!r} to {b!r} (W compares "
                 "probability measures: the function should divide the weights by their sum, "
                 "as scipy.stats.wasserstein_distance does)")

    props.append(_Property("weights are normalised", "W of probability measures", pairs, normalise))

    def translate(fn, dc):
        (u, v, uw, vw), c = dc
        a, b = call(fn, u, v, uw, vw), call(fn, u + c, v + c, uw, vw)
        _require(same(a, b, tol(u, v, c=c)),
                 f"W(u, v) = {a!r} but W(u + {c!r}, v + {c!r}) = {b!r}")

    props.append(_Property("W(u + c, v + c) = W(u, v)", "translation invariance",
                           st.tuples(pairs, shifts), translate))

    def dilate(fn, ds):
        (u, v, uw, vw), s = ds
        a, b = call(fn, u, v, uw, vw), call(fn, s * u, s * v, uw, vw)
        _require(same(b, abs(s) * a, tol(s * u, s * v)),
                 f"W(s u, s v) = {b!r}, |s| W(u, v) = {abs(s) * a!r} (s = {s!r})")

    props.append(_Property("W(s u, s v) = |s| W(u, v)", "homogeneity",
                           st.tuples(pairs, st.floats(-10.0, 10.0, allow_nan=False)), dilate))

    def parallel(fn, dc):
        (u, _, uw, _), c = dc
        w = call(fn, u, u + c, uw, uw)
        _require(same(w, abs(c), tol(u, c=c)),
                 f"W(u, u + {c!r}) = {w!r}, not |{c!r}|")

    props.append(_Property("W(u, u + theta) = |theta|", "parallel lines (Arjovsky et al. 2017, "
                           "Example 1)", st.tuples(pairs, shifts), parallel))

    def dirac(fn, dc):
        (_, v, _, vw), c = dc
        w = call(fn, np.array([c]), v, None, vw)
        vwn = np.ones(v.size) / v.size if vw is None else vw / vw.sum()
        want = _power_mean(vwn, np.abs(v - c), p)
        _require(same(w, want, tol(v, c=c)),
                 f"W(delta_{c!r}, v) = {w!r}; (E|v - c|^p)^(1/p) = {want!r}")

    props.append(_Property("W(delta_c, v) = (E|v - c|^p)^(1/p)", "a Dirac has one coupling",
                           st.tuples(pairs, shifts), dirac))

    def mean_bound(fn, d):
        u, v, uw, vw = d
        w = call(fn, u, v, uw, vw)
        mu = np.average(u, weights=uw)
        mv = np.average(v, weights=vw)
        _require(at_most(abs(mu - mv), w, tol(u, v)), f"W = {w!r} < |E u - E v| = {float(abs(mu - mv))!r}")

    props.append(_Property("W >= |E u - E v|", "Jensen's inequality", pairs, mean_bound))

    def triangle(fn, d):
        (u, uw), (v, vw), (x, xw) = d
        a = call(fn, u, x, uw, xw)
        b = call(fn, u, v, uw, vw) + call(fn, v, x, vw, xw)
        _require(at_most(a, b, tol(u, v, x)), f"W(u, w) = {a!r} > W(u, v) + W(v, w) = {b!r}")

    props.append(_Property("W(u, w) <= W(u, v) + W(v, w)", "triangle inequality", triples,
                           triangle))
    return props


def _fn_name(fn) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


_SHRUNK_CALL = re.compile(r"^(Falsifying example|Failing test case): body\(\s*drawn=(.*?),?\s*\)\s*$",
                          re.DOTALL)


def _notes(e) -> list[str]:
    # hypothesis writes the shrunk example as the call of the checker's inner function,
    # "Falsifying example: body(\n    drawn=(...),\n)": the input alone is what reads; its
    # "Failed to reproduce exception" note is a traceback through this module
    return [_SHRUNK_CALL.sub(r"\1: \2", ln) for ln in getattr(e, "__notes__", ())
            if ln.strip() and not ln.startswith("Failed to reproduce exception")]


def _describe(exc, lines) -> str:
    """The failure(s) with hypothesis's falsifying examples (reported lines or exception notes)."""
    excs = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else [exc]
    out = []
    flaky = isinstance(exc, hypothesis.errors.Flaky)
    if flaky:
        # the input is in the group's notes, not its members': unpacked alone, the failure
        # showed no input and did not say that it did not repeat
        out.append("the function is not deterministic: on the input below it failed once, then "
                   "passed when hypothesis called it again (hypothesis's FlakyFailure)")
    for e in excs:
        notes = _notes(e) or (_notes(exc) if flaky else [])
        label = ["Shrunk counterexample (hypothesis):"] if notes else []
        out.append("\n".join([f"{type(e).__name__}: {e}", *label, *notes]))
    out += [ln for ln in lines if ln.strip()]
    return "\n".join(out).strip()


def _show(drawn) -> str:
    """A fixed input as Python would write it: each float in its shortest exact form
    (0.49999999999999994, 5e-324), without numpy's padding of the shorter ones."""
    if isinstance(drawn, np.ndarray):
        return f"array({drawn.tolist()!r})"
    if isinstance(drawn, (tuple, list)):
        inner = ", ".join(_show(x) for x in drawn)
        return f"({inner},)" if isinstance(drawn, tuple) and len(drawn) == 1 else (
            f"({inner})" if isinstance(drawn, tuple) else f"[{inner}]")
    return repr(drawn)


def _body(prop, fn, seen):
    def body(drawn):
        seen[0] += 1
        # hypothesis shows the input as numpy prints it, to 8 digits: this note, on the final
        # (shrunk) example only, gives each float exactly, to call the function on again
        hypothesis.note(f"The input, each float exact: {_show(drawn)}")
        prop.check(fn, drawn)

    return body


def _first_call(fn, args) -> str:
    """``fn`` once on a plain input, before the battery: a TypeError at once if it returns
    something other than a real number (every property would fail on it, each with its own
    counterexample), and a note for the failure message if it computes in less than float64
    (the tolerances are float64's). A function that raises here is left to the battery,
    which reports the inputs it raises on."""
    try:
        out = fn(*(a.copy() if a is not None else None for a in args))
    except Exception:  # noqa: BLE001 - reported by the properties, with their inputs
        return ""
    why = _not_real(out)
    if why is not None:
        shown = ", ".join("None" if a is None else _show(a) for a in args)
        raise TypeError(f"`fn` must return a real number (a float, an int, a numpy scalar or a "
                        f"0-d numpy, torch or JAX array); {_fn_name(fn)}({shown}) {why}.")
    dtype = str(getattr(out, "dtype", ""))
    if any(low in dtype for low in ("float16", "float32")) or isinstance(out, np.float32):
        return (f"\n\nNote: {_fn_name(fn)} returns {dtype.split('.')[-1]} values; the "
                "tolerances are float64's (relative 1e-9), which a float32 computation "
                "misses: compute in float64.")
    return ""


#: every phase but "explain", whose "lines always and only run by failing examples" name lines
#: of this module and of numpy, not of the function checked. Set here with the verbosity, so
#: that a hypothesis profile the user loaded for their own tests (verbose output, fewer
#: phases) changes neither what the battery runs nor its messages.
_PHASES = tuple(ph for ph in Phase if ph.name != "explain")


def _run(fn, kind, props, *, max_examples, seed, raise_on_failure=True,
         first=None) -> CheckReport:
    note = "" if first is None else _first_call(fn, first)
    report = CheckReport(_fn_name(fn), kind)
    for prop in props:
        res = PropertyResult(prop.name, prop.theorem)
        seen = [0]
        lines: list[str] = []
        hard = []
        for ex in prop.examples:  # the fixed hard inputs, each reported on its own
            seen[0] += 1
            try:
                prop.check(fn, ex)
            except Exception as exc:  # noqa: BLE001 - every failure of the user's function counts
                hard.append(f"{type(exc).__name__}: {exc}\nFailing hard input: {_show(ex)}")
        test = given(prop.strategy)(_body(prop, fn, seen))
        test = settings(max_examples=max_examples, database=None, deadline=None,
                        derandomize=seed is None, print_blob=False, phases=_PHASES,
                        verbosity=Verbosity.normal, report_multiple_bugs=True,
                        suppress_health_check=list(HealthCheck))(test)
        if seed is not None:
            test = hypothesis.seed(seed)(test)
        try:
            with hypothesis.reporting.with_reporter(lines.append):
                test()
        except hypothesis.errors.InvalidArgument:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure of the user's function counts
            hard.append(_describe(exc, lines))
        if hard:
            res.passed = False
            res.counterexample = "\n".join(hard)
        res.examples = seen[0]
        report.properties.append(res)
    if raise_on_failure and not report.passed:
        msgs = [f"property {r.name!r} ({r.theorem}) fails for {report.function}:\n"
                f"{r.counterexample}" for r in report.failures()]
        raise AssertionError("\n\n".join(msgs) + note)
    return report


def _check_fn(fn):
    if not callable(fn):
        raise TypeError(f"`fn` must be callable; got {type(fn).__name__}.")


def _check_max_examples(max_examples) -> int:
    """``max_examples`` as an int: any integer (a numpy one too, as ``np.int64(50)``), >= 1."""
    try:
        n = None if isinstance(max_examples, (bool, np.bool_)) else operator.index(max_examples)
    except TypeError:
        n = None
    if n is None or n < 1:
        raise ValueError(f"`max_examples` must be a positive integer; got {max_examples!r}.")
    return n


def check_divergence(fn: Callable, kind: str, *, max_examples: int = 100,
                     seed: int | None = None, raise_on_failure: bool = True) -> CheckReport:
    r"""Check a divergence between probability vectors against its theorems.

    Parameters
    ----------
    fn : callable
        ``fn(p, q) -> float``: the divergence of two float64 probability vectors on the same
        bins, in nats (natural logarithm).
    kind : {"kl", "js", "tv"}
        Which divergence ``fn`` computes. JS is the ½-weighted one, in :math:`[0, \log 2]`.
    max_examples : int
        Inputs tried per property, after the fixed hard cases.
    seed : int, optional
        Hypothesis's seed; ``None`` derandomises (the same inputs every run).
    raise_on_failure : bool
        Raise at the end if a property fails (default); ``False`` only records it.

    Returns
    -------
    CheckReport
        One :class:`PropertyResult` per property (name, theorem, examples tried, outcome).

    Raises
    ------
    AssertionError
        Naming each failed property and its theorem, with the shrunk counterexample.

    Notes
    -----
    The properties: the range (Gibbs' inequality :math:`\mathrm{KL} \ge 0`;
    :math:`0 \le \mathrm{JS} \le \log 2`; :math:`0 \le \mathrm{TV} \le 1`), :math:`D(p, p) = 0`,
    the exact value (a term-by-term reference in math.fsum), symmetry (JS, TV), the parallel
    lines of Arjovsky, Chintala and Bottou (2017, Example 1) as disjoint supports
    (KL = ∞, JS = log 2, TV = 1), absolute continuity (KL), Pinsker's inequality
    :math:`\mathrm{TV} \le \sqrt{\mathrm{KL}/2}` (KL, TV), :math:`\mathrm{JS} \le
    \mathrm{TV}\log 2` (Lin 1991), and the triangle inequality (TV). The hard cases always tried
    first include the inputs of scipy's ``jensenshannon`` NaN and inf reports on GitHub
    (scipy/scipy#19436, #20083, #20779).
    """
    _check_fn(fn)
    max_examples = _check_max_examples(max_examples)
    props = divergence_properties(kind)
    return _run(fn, kind, props, max_examples=max_examples, seed=seed,
                raise_on_failure=raise_on_failure,
                first=(np.array([0.5, 0.5]), np.array([0.25, 0.75])))


def check_wasserstein(fn: Callable, p: float = 1, *, max_examples: int = 100,
                      seed: int | None = None, raise_on_failure: bool = True) -> CheckReport:
    r"""Check a 1-D Wasserstein distance :math:`W_p` against its theorems.

    Parameters
    ----------
    fn : callable
        With scipy's signature ``fn(u_values, v_values, u_weights=None, v_weights=None)``,
        returning :math:`W_p` (not its p-th power); weights are not normalised by the caller.
        For ``p != 1`` pass e.g. ``functools.partial(wasserstein_1d, p=2)``.
    p : float
        The order, ``p >= 1``.
    max_examples, seed, raise_on_failure
        As in :func:`check_divergence`.

    Returns
    -------
    CheckReport

    Notes
    -----
    The properties: :math:`W \ge 0`, :math:`W(u, u) = 0`, symmetry, the closed form
    :math:`W_p^p = \int_0^1 |F^{-1} - G^{-1}|^p` (for p = 1 the area between the CDFs),
    invariance under rescaling one sample's weights, translation invariance, homogeneity
    :math:`W(su, sv) = |s| W(u, v)`, the parallel lines :math:`W(u, u + \theta) = |\theta|`,
    a Dirac :math:`W(\delta_c, v) = (E|v - c|^p)^{1/p}`, Jensen's bound
    :math:`W \ge |E u - E v|`, and the triangle inequality. Values are compared as
    :math:`W^p`, where solvers round (a transport cost is a sum of masses times
    :math:`|x - y|^p`): relative 1e-9 plus :math:`10^{-10} s^p`, with s the largest
    absolute value in the inputs.
    """
    _check_fn(fn)
    max_examples = _check_max_examples(max_examples)
    props = wasserstein_properties(p)
    return _run(fn, f"W{float(p):g}", props, max_examples=max_examples, seed=seed,
                raise_on_failure=raise_on_failure,
                first=(np.array([0.0, 1.0]), np.array([0.5, 2.0]), None, None))


# --------------------------------------------------------------------------- the package's own
def _package_battery():
    """(label, kind or order, check, fn) for every function of the package the battery fits."""
    from .divergences import js_distance, js_divergence, kl_divergence, tv_distance
    from .ot import projected_wasserstein, wasserstein, wasserstein_1d

    def w1d(p):
        return lambda u, v, uw=None, vw=None: wasserstein_1d(u, v, uw, vw, p=p)

    def lp(p):
        return lambda u, v, uw=None, vw=None: wasserstein(u[:, None], v[:, None], uw, vw, p=p,
                                                          method="exact")

    def projected(u, v, uw=None, vw=None):
        return projected_wasserstein(u[:, None], v[:, None], np.ones((1, 1)), a=uw, b=vw, p=1)[0]

    return [
        ("kl_divergence", "kl", check_divergence, kl_divergence),
        ("js_divergence", "js", check_divergence, js_divergence),
        ("js_distance ** 2", "js", check_divergence, lambda p, q: js_distance(p, q) ** 2),
        ("tv_distance", "tv", check_divergence, tv_distance),
        ("wasserstein_1d(p=1)", 1, check_wasserstein, w1d(1)),
        ("wasserstein_1d(p=2)", 2, check_wasserstein, w1d(2)),
        ("wasserstein(p=1), exact LP", 1, check_wasserstein, lp(1)),
        ("wasserstein(p=2), exact LP", 2, check_wasserstein, lp(2)),
        ("projected_wasserstein(p=1)", 1, check_wasserstein, projected),
    ]


def verify(*, quick: bool = False, seed: int | None = None, progress: bool = False):
    """Run the whole battery on the package's own functions.

    Returns a list of ``(label, CheckReport)``; nothing is raised, failures are in the reports.
    ``quick`` tries 20 inputs per property instead of 100.
    """
    out = []
    battery = _package_battery()
    for i, (label, kind, check, fn) in enumerate(battery):
        if progress:
            print(f"[{i + 1}/{len(battery)}] {label}", flush=True)
        rep = check(fn, kind, max_examples=20 if quick else 100, seed=seed,
                    raise_on_failure=False)
        rep.function = label
        out.append((label, rep))
    return out


def verify_table(results) -> str:
    """The table ``kantorovich verify`` prints: theorem, property, inputs, result, one row per
    property under a line naming each function (a function column made the table 132
    characters wide; this one fits in 100)."""
    rows = [(r.theorem, r.name, str(r.examples), "holds" if r.passed else "FAILS")
            for _, rep in results for r in rep.properties]
    lines = text_table(("theorem", "property", "inputs", "result"), rows, right=(2,)).split("\n")
    out, i = lines[:2], 2
    for label, rep in results:
        held = len(rep.properties) - len(rep.failures())
        out += ["", f"{label}: {held}/{len(rep.properties)} properties hold"]
        out += lines[i:i + len(rep.properties)]
        i += len(rep.properties)
    return "\n".join(out)
