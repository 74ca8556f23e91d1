"""kantorovich.testing and `kantorovich verify`: the battery passes on correct code and bites on
known wrong code (a JS without its ½ factors, scipy's jensenshannon on the inputs of its NaN/inf
reports, a 1-D W that does not normalise its weights)."""

from __future__ import annotations

import functools
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import strategies as st
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from kantorovich import cli, testing
from kantorovich.divergences import js_divergence, kl_divergence, tv_distance
from kantorovich.ot import wasserstein_1d
from kantorovich.testing import check_divergence, check_wasserstein

N = 25  # inputs per property: enough for the known bugs, which the fixed hard cases reach


@pytest.mark.parametrize("fn, kind", [(kl_divergence, "kl"), (js_divergence, "js"),
                                      (tv_distance, "tv")])
def test_package_divergences_pass(fn, kind):
    rep = check_divergence(fn, kind, max_examples=N)
    assert rep.passed and rep.examples >= N * len(rep.properties)
    assert "holds" in str(rep) and "FAILS" not in str(rep)


@pytest.mark.parametrize("p", [1, 2, 3.5])
def test_package_wasserstein_1d_passes(p):
    assert check_wasserstein(functools.partial(wasserstein_1d, p=p), p, max_examples=N).passed


def test_scipy_wasserstein_distance_passes():
    rep = check_wasserstein(wasserstein_distance, p=1, max_examples=N)
    assert rep.passed and len(rep.properties) >= 10


def _js_without_halves(p, q):
    """JS with the ½ factors dropped: 2 JS, up to 2 log 2."""
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(p > 0, p * np.log(p / m), 0.0) + np.where(q > 0, q * np.log(q / m), 0.0)
    return float(np.sum(t))


def test_js_without_halves_is_caught():
    with pytest.raises(AssertionError) as err:
        check_divergence(_js_without_halves, "js", max_examples=N)
    msg = str(err.value)
    assert "0 <= JS <= log 2" in msg and "Shrunk counterexample" in msg
    rep = check_divergence(_js_without_halves, "js", max_examples=N, raise_on_failure=False)
    names = {r.name for r in rep.failures()}
    assert {"0 <= JS <= log 2", "= exact value", "JS = log 2 on disjoint supports"} <= names


# scipy's own warning on the inputs of its bug reports, which the battery feeds it on purpose
@pytest.mark.filterwarnings("ignore:invalid value encountered in sqrt:RuntimeWarning")
def test_scipy_jensenshannon_nan_and_inf_inputs_are_caught():
    """scipy/scipy#19436 (inf for a subnormal mass) and #20083/#20779 (NaN from the square root
    of a rounding-negative JS): both are among the battery's fixed hard inputs."""
    x = np.nextafter(0.5, 0)
    with np.errstate(invalid="ignore"):
        assert np.isnan(jensenshannon([x, 1 - x], [1 - x, x]))  # the bug still stands
    rep = check_divergence(lambda p, q: jensenshannon(p, q) ** 2, "js", max_examples=N,
                           raise_on_failure=False)
    text = "\n".join(r.counterexample for r in rep.failures())
    assert "NaN" in text or "nan" in text
    assert "inf" in text
    # the failing hard inputs as Python writes their floats, exact and unpadded
    assert "array([0.49999999999999994, 0.5])" in text and "array([5e-324, 1.0])" in text


def _w1_unnormalised(u, v, uw=None, vw=None):
    """W1 as the area between the CDFs, forgetting to divide the weights by their sum."""
    uw = np.full(len(u), 1.0 / len(u)) if uw is None else np.asarray(uw, float)
    vw = np.full(len(v), 1.0 / len(v)) if vw is None else np.asarray(vw, float)
    t = np.sort(np.concatenate([u, v]))
    cu = np.array([uw[u <= s].sum() for s in t[:-1]])
    cv = np.array([vw[v <= s].sum() for s in t[:-1]])
    return float(np.sum(np.abs(cu - cv) * np.diff(t)))


def _textbook_js(p, q):
    """0.5 sum p log(2p / (p + q)) + 0.5 sum q log(2q / (p + q)): the JS as written, which rounds
    to -5.6e-17 on scipy/scipy#20083's input (a square root of it is NaN)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (np.where(p > 0, p * np.log(2 * p / (p + q)), 0.0)
             + np.where(q > 0, q * np.log(2 * q / (p + q)), 0.0))
    return float(0.5 * np.sum(t))


@pytest.mark.parametrize("shift", [0.0, 1e-13])
def test_a_divergence_rounded_below_zero_is_caught(shift):
    """The lower bound is exact: a JS of -5.6e-17 (the textbook formula on scipy/scipy#20083's
    input) or one 1e-13 too small everywhere fails `0 <= JS`, though both agree with the exact
    value to the equality tolerance."""
    x = np.nextafter(0.5, 0)
    if shift == 0.0:
        assert _textbook_js(np.array([x, 1 - x]), np.array([1 - x, x])) < 0.0
    fn = lambda p, q: _textbook_js(p, q) - shift  # noqa: E731
    rep = check_divergence(fn, "js", max_examples=N, raise_on_failure=False)
    assert "0 <= JS <= log 2" in {r.name for r in rep.failures()}
    assert "is negative" in "\n".join(r.counterexample for r in rep.failures())
    clamped = check_divergence(lambda p, q: max(0.0, _textbook_js(p, q)), "js", max_examples=N)
    assert clamped.passed


def _rel_entr_kl(p, q):
    from scipy.special import rel_entr

    return float(np.sum(rel_entr(p, q)))


def test_an_exact_kl_below_zero_on_unequal_sums_is_not_a_gibbs_failure():
    """The drawn vectors sum to 1 only to rounding: against q = three times 0.33333333333333337
    (sum 1 + 1.1e-16) the exact KL of [1/3, 1/3, 1/3] is -1.67e-16, which scipy's rel_entr
    sums to. `KL >= 0` called that a violation of Gibbs' inequality (on seeds 11 and 14 of
    hypothesis 6.x) and Pinsker's property failed with `math domain error`; the bound on such
    inputs is sum(p) - sum(q). Below it, or below 0 where the sums are equal, still fails."""
    third = np.full(3, 1 / 3)
    q = np.full(3, 0.33333333333333337)
    assert _rel_entr_kl(third, q) < 0.0
    tiny = (np.array([0.25, 0.25, 0.25, 0.25, 1.3287337e-214]),
            np.array([0.25, 0.25, 0.25, 0.25, 2.9387358770557188e-39]))
    for prop in testing.divergence_properties("kl"):
        if "disjoint" in prop.name:  # its inputs are of another kind
            continue
        for pq in ((third, q), (q, third), tiny):
            prop.check(_rel_entr_kl, pq)  # raised AssertionError / ValueError
    [rng] = [pr for pr in testing.divergence_properties("kl") if pr.name == "KL >= 0"]
    with pytest.raises(AssertionError, match=r"is below sum\(p\) - sum\(q\)"):
        rng.check(lambda p, q: _rel_entr_kl(p, q) - 1e-17, (third, q))
    with pytest.raises(AssertionError, match="is negative"):
        rng.check(lambda p, q: _rel_entr_kl(p, q) - 1e-17, (third, third))


def test_unnormalised_wasserstein_is_caught():
    with pytest.raises(AssertionError, match="weights are normalised"):
        check_wasserstein(_w1_unnormalised, p=1, max_examples=N)


def test_report_counts_and_table():
    rep = check_divergence(tv_distance, "tv", max_examples=5)
    assert all(r.examples >= 5 for r in rep.properties)
    table = rep.table()
    assert table.splitlines()[0].split() == ["theorem", "property", "examples", "result"]


def test_a_raising_function_is_a_counterexample():
    def broken(p, q):
        raise RuntimeError("boom")

    with pytest.raises(AssertionError, match="RuntimeError: boom"):
        check_divergence(broken, "tv", max_examples=3)


@pytest.mark.parametrize("call, match", [
    (lambda: check_divergence(tv_distance, "hellinger"), "`kind`"),
    (lambda: check_divergence(3, "tv"), "`fn`"),
    (lambda: check_divergence(tv_distance, "tv", max_examples=0), "`max_examples`"),
    (lambda: check_divergence(tv_distance, "tv", max_examples=2.5), "`max_examples`"),
    (lambda: check_divergence(tv_distance, "tv", max_examples=True), "`max_examples`"),
    (lambda: check_wasserstein(wasserstein_distance, p=0.5), "`p`"),
    # float("2") and float(True) would have run as W2 and W1: text or a flag is refused
    (lambda: check_wasserstein(wasserstein_distance, p="2"), "`p` must be a real number"),
    (lambda: check_wasserstein(wasserstein_distance, p=True), "`p` must be a real number"),
])
def test_bad_arguments_name_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_reference_handles_extreme_masses():
    p, q = np.array([1.0, 1e-300]), np.array([0.5, 0.5])
    assert testing._js_ref(p, q) == pytest.approx(float(js_divergence(p, q)), rel=1e-12)
    assert testing.wasserstein_1d_reference([0.0, 1.0], [2.0, 3.0], p=2) == pytest.approx(2.0)


def test_verify_command(monkeypatch, capsys):
    battery = testing._package_battery()
    monkeypatch.setattr(testing, "_package_battery", lambda: battery[3:5])
    assert cli.main(["verify", "--quick"]) == 0
    out = capsys.readouterr().out
    assert "tv_distance" in out and "wasserstein_1d(p=1)" in out and "properties hold" in out
    # one line per function above its rows, within a 100-column terminal, no trailing spaces
    assert "tv_distance: 7/7 properties hold" in out.splitlines()
    assert out.splitlines()[0].split() == ["theorem", "property", "inputs", "result"]
    assert all(len(line) <= 100 and line == line.rstrip() for line in out.splitlines())

    monkeypatch.setattr(testing, "_package_battery",
                        lambda: [("js without 1/2", "js", check_divergence, _js_without_halves)])
    assert cli.main(["verify", "--quick"]) == 1
    captured = capsys.readouterr()
    assert "FAILS" in captured.out and "Shrunk counterexample" in captured.err


def test_missing_hypothesis_names_the_extra():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import kantorovich.testing\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'kantorovich[testing]' in out.stdout


def test_missing_hypothesis_names_the_extra_for_strategies_and_verify():
    """`import kantorovich.strategies` and `kantorovich verify` without hypothesis: the
    message names the extra, and verify exits with status 2."""
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import kantorovich.strategies\nexcept ImportError as e:\n    print(e)\n"
            "from kantorovich import cli\nsys.exit(cli.main(['verify', '--quick']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 2, out.stderr
    assert 'kantorovich[testing]' in out.stdout and 'kantorovich[testing]' in out.stderr


def test_verify_command_writes_nothing_into_hypothesis_home(monkeypatch, tmp_path, capsys):
    """Hypothesis keeps caches (its constants cache, even with ``database=None``) under its home
    folder, ``./.hypothesis`` by default: `kantorovich verify` puts them in a temporary folder,
    and leaves the home setting as it found it."""
    from hypothesis import configuration

    battery = testing._package_battery()
    monkeypatch.setattr(testing, "_package_battery", lambda: battery[3:5])
    monkeypatch.delenv("HYPOTHESIS_STORAGE_DIRECTORY", raising=False)
    home = tmp_path / "home"  # stands for ./.hypothesis
    previous = getattr(configuration, "__hypothesis_home_directory", None)
    configuration.set_hypothesis_home_dir(home)
    try:
        assert cli.main(["verify", "--quick"]) == 0
        assert not home.exists()
        assert configuration.storage_directory("x", intent_to_write=False).path == home / "x"
    finally:
        configuration.set_hypothesis_home_dir(previous)
    assert "properties hold" in capsys.readouterr().out


def _tv(p, q):
    return float(tv_distance(p, q))


@pytest.mark.parametrize("lib", ["numpy 0-d", "numpy scalar", "torch", "torch requiring grad",
                                 "jax"])
def test_a_zero_dimensional_array_is_a_real_number(lib):
    """A 0-d numpy, torch or JAX array (float64) is taken as the value, without a warning."""
    if lib.startswith("torch"):
        torch = pytest.importorskip("torch")
        grad = lib.endswith("grad")
        fn = lambda p, q: torch.tensor(_tv(p, q), dtype=torch.float64, requires_grad=grad)  # noqa: E731
    elif lib == "jax":
        jax = pytest.importorskip("jax")
        fn = lambda p, q: jax.numpy.asarray(np.float64(_tv(p, q)))  # noqa: E731
    else:
        fn = (lambda p, q: np.array(_tv(p, q))) if lib == "numpy 0-d" else (  # noqa: E731
            lambda p, q: np.float64(_tv(p, q)))
    before = None
    if lib == "jax":
        before = bool(jax.config.jax_enable_x64)
        jax.config.update("jax_enable_x64", True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert check_divergence(fn, "tv", max_examples=5).passed
    finally:
        if before is not None:
            jax.config.update("jax_enable_x64", before)


@pytest.mark.parametrize("out, why", [
    (None, "returned None, not a real number"),
    ([0.25], "returned [0.25], not a real number"),
    ("0.25", "returned '0.25', a str, not a real number"),  # float("0.25") would take it
    (True, "returned True, a bool, not a real number"),
    (np.bool_(True), "a bool, not a real number"),
    (0.25 + 0j, "a complex number"),
    (np.array([0.25]), "an array of shape (1,), not a real number"),
    (np.zeros((2, 2)), "an array of shape (2, 2)"),
])
def test_a_value_that_is_not_a_real_number_is_a_type_error_at_once(out, why):
    """Every property would fail on such a function, each with its own counterexample (a
    7000-character message after seconds of shrinking for `None`); a string passed the
    battery, as float() reads it."""
    calls = []

    def fn(*args):
        calls.append(1)
        return out

    for check, kind in ((check_divergence, "tv"), (check_wasserstein, 1)):
        calls.clear()
        with pytest.raises(TypeError, match="`fn` must return a real number") as err:
            check(fn, kind, max_examples=5, raise_on_failure=False)
        assert why in str(err.value) and "fn(array([" in str(err.value)
        assert calls == [1]


def test_a_float32_function_fails_with_a_note_on_the_tolerances():
    with pytest.raises(AssertionError, match="= exact value") as err:
        check_divergence(lambda p, q: np.float32(_tv(p, q)), "tv", max_examples=5)
    assert "returns float32 values; the tolerances are float64's" in str(err.value)


def test_the_functions_own_error_is_told_from_a_property_failure():
    """An AssertionError raised inside the function (numpy.testing's, as POT's emd2_1d raises
    on weights of different sums) reads as the function's, with the line that raised it."""
    def strict(u, v, uw=None, vw=None):
        np.testing.assert_allclose(len(u), len(v))
        return wasserstein_distance(u, v, uw, vw)

    rep = check_wasserstein(strict, 1, max_examples=5, raise_on_failure=False)
    text = rep.failures()[0].counterexample
    assert "the function raised AssertionError: \nNot equal to tolerance" in text, text
    assert "(raised at " in text and "numpy" in text


def test_a_counterexample_is_shown_exactly_without_hypothesis_explain_lines():
    """hypothesis prints the shrunk input as numpy does, to 8 digits: the message adds it with
    each float exact; and none of the "explain" phase's lines, which name lines of
    kantorovich.testing and numpy."""
    off = lambda p, q: _tv(p, q) * (1 + 1e-6)  # noqa: E731
    with pytest.raises(AssertionError) as err:
        check_divergence(off, "tv", max_examples=10)
    msg = str(err.value)
    exact = [ln.split(": ", 1)[1] for ln in msg.splitlines()
             if ln.startswith("The input, each float exact: ")]
    # hypothesis heads each shrunk example "Falsifying example:" (6.155, say) or "Failing test
    # case:" (6.170: a fresh install's newest)
    shrunk = [ln for ln in msg.splitlines()
              if ln.startswith(("Falsifying example", "Failing test case"))]
    assert len(exact) == len(shrunk) >= 1
    for text in exact:  # Python's shortest exact floats: evaluating the text gives the input
        p, q = eval(text, {"array": np.array})  # noqa: S307 - the message's own text
        assert testing._show((p, q)) == text and p.sum() == pytest.approx(1.0)
    assert "always and only run by failing examples" not in msg and "testing.py" not in msg
    # the shrunk example is the input itself, not the call of the checker's inner function
    assert "body(" not in msg and "drawn=" not in msg
    assert all(ln.split(": ", 1)[1].startswith("(array(") for ln in shrunk)


def test_a_loaded_hypothesis_profile_changes_nothing():
    """The checks set their own phases and verbosity: a profile loaded for the user's tests
    (verbose output, the explicit phase only) neither fills the message with every example
    tried nor leaves the properties untried."""
    from hypothesis import Phase, Verbosity, settings

    off = lambda p, q: _tv(p, q) * (1 + 1e-6)  # noqa: E731
    runs = {}
    settings.register_profile("kantorovich-verbose", verbosity=Verbosity.verbose)
    settings.register_profile("kantorovich-explicit", phases=[Phase.explicit])
    try:
        for name in ("default", "kantorovich-verbose", "kantorovich-explicit"):
            settings.load_profile(name)
            rep = check_divergence(off, "tv", max_examples=5, raise_on_failure=False)
            runs[name] = ([r.examples for r in rep.properties],
                          [r.counterexample for r in rep.properties])
    finally:
        settings.load_profile("default")
    assert runs["kantorovich-verbose"] == runs["default"] == runs["kantorovich-explicit"]
    assert all(n >= 5 for n in runs["default"][0])


@pytest.mark.parametrize("seed", [None, 3])
def test_the_same_seed_gives_the_same_counterexamples(seed):
    off = lambda p, q: _tv(p, q) * (1 + 1e-6)  # noqa: E731
    runs = [[r.counterexample for r in check_divergence(
        off, "tv", max_examples=10, seed=seed, raise_on_failure=False).failures()] for _ in range(2)]
    assert runs[0] == runs[1] and runs[0]


def _reference_failure(fn, p):
    rep = check_wasserstein(fn, p, max_examples=N, raise_on_failure=False)
    return next(r.counterexample for r in rep.failures() if "integral" in r.name)


def test_a_wasserstein_off_by_a_convention_is_told_which():
    """The closed form's failure says what the value is instead: W_p^p (POT's convention),
    W1 (the order not passed on), or W of weights taken as they are (not normalised)."""
    power = lambda u, v, uw=None, vw=None: wasserstein_1d(u, v, uw, vw, p=3) ** 3  # noqa: E731
    assert "The value is W3^3, the p-th power" in _reference_failure(power, 3)
    assert "W1, the order p = 2 ignored (pass it" in _reference_failure(wasserstein_1d, 2)
    text = _reference_failure(_w1_unnormalised, 1)
    assert "weights sum to" in text and "not normalised" in text
    with pytest.raises(AssertionError, match="should divide the weights by their sum"):
        check_wasserstein(_w1_unnormalised, p=1, max_examples=N)


@pytest.mark.parametrize("p", [1.5, 2])
def test_a_negative_wasserstein_fails_each_comparison_as_a_property(p):
    """-W at a non-integer p made the comparisons of p-th powers complex: the triangle
    inequality failed with the checker's own TypeError ('<=' between complex numbers), and at
    an even p the closed form held for -W (its square is W's)."""
    def negative(u, v, uw=None, vw=None):
        return -wasserstein_1d(u, v, uw, vw, p=p)

    rep = check_wasserstein(negative, p=p, max_examples=10, raise_on_failure=False)
    failed = {r.name: r.counterexample for r in rep.failures()}
    assert not any("TypeError" in text for text in failed.values()), failed
    for name in ("W >= 0 and finite", f"W{p:g} = quantile integral", "W >= |E u - E v|",
                 "W(u, w) <= W(u, v) + W(v, w)"):
        assert name in failed and "AssertionError" in failed[name]
    assert "np.float64" not in failed["W >= |E u - E v|"]


@pytest.mark.filterwarnings("error::RuntimeWarning")  # numpy's 0 * inf warning leaked
def test_a_large_order_is_checked_without_overflow():
    """At p = 200 the checker's own powers (35.0 ** 200) raised OverflowError, so a correct
    W200 failed ten of its eleven properties, and the reference was inf where W is finite."""
    assert testing.wasserstein_1d_reference([0.0, 1.0], [35.0, 0.0], p=200) == pytest.approx(
        34.0 * 0.5 ** (1 / 200), rel=1e-14)
    rep = check_wasserstein(functools.partial(wasserstein_1d, p=200), p=200, max_examples=N,
                            raise_on_failure=False)
    assert rep.passed, [(r.name, r.counterexample) for r in rep.failures()]
    # still bites: W1 checked as W200 fails the closed form
    rep = check_wasserstein(wasserstein_1d, p=200, max_examples=N, raise_on_failure=False)
    assert "W200 = quantile integral" in [r.name for r in rep.failures()]


def test_a_function_that_does_not_repeat_its_failure_is_told_so_with_the_input():
    """A nondeterministic function (wrong on the first call of each input, right after):
    hypothesis raises FlakyFailure, whose members carry no notes, so the failure was shown
    with no input and without saying that it did not repeat."""
    seen = set()

    def first_call_wrong(p, q):
        key = (p.tobytes(), q.tobytes())
        wrong = key not in seen
        seen.add(key)
        return tv_distance(p, q) * (1.5 if wrong else 1.0) + (0.1 if wrong else 0.0)

    rep = check_divergence(first_call_wrong, "tv", max_examples=5, raise_on_failure=False)
    texts = [r.counterexample for r in rep.failures()]
    flaky = [t for t in texts if "not deterministic" in t]
    assert flaky, texts
    assert all("The input, each float exact: (array(" in t for t in flaky), flaky
    assert not any("Failed to reproduce exception" in t for t in texts)


def _normalised(w, n):
    return np.full(n, 1.0 / n) if w is None else np.asarray(w, float) / np.sum(w)


@pytest.mark.parametrize("p", [1, 2])
def test_pots_wasserstein_1d_passes_in_scipys_convention(p):
    """POT's ot.wasserstein_1d takes probability weights and returns W_p^p: given normalised
    weights and its p-th root taken, it passes; as it is, it fails, and the message says why."""
    ot = pytest.importorskip("ot")

    def pot(u, v, uw=None, vw=None):
        return ot.wasserstein_1d(u, v, _normalised(uw, len(u)), _normalised(vw, len(v)),
                                 p=p) ** (1.0 / p)

    assert check_wasserstein(pot, p, max_examples=N).passed
    raw = functools.partial(ot.wasserstein_1d, p=p)
    text = "\n".join(r.counterexample for r in check_wasserstein(
        raw, p, max_examples=N, raise_on_failure=False).failures())
    assert "should divide the weights by their sum" in text
    if p != 1:
        assert "the p-th power" in text


def test_max_examples_may_be_a_numpy_integer():
    """A count computed with numpy (np.int64) is an integer: it was refused."""
    rep = check_divergence(tv_distance, "tv", max_examples=np.int64(5))
    assert rep.passed and all(r.examples >= 5 for r in rep.properties)


@pytest.mark.parametrize("make, match", [
    (lambda ks: ks.pmfs(0), "`n_bins` must be an integer >= 1"),
    (lambda ks: ks.pmfs(st.integers(0, 0)), "`n_bins` must be an integer >= 1"),
    (lambda ks: ks.pmf_pairs(n_bins=0), "`n_bins`"),
    (lambda ks: ks.pmfs(3, min_value=2.0), "`min_value` must be a number in \\[0, 1\\]"),
    # the comparison raised a TypeError naming neither the argument nor the strategy
    (lambda ks: ks.pmfs(3, min_value="0.5"), "`min_value` must be a number in \\[0, 1\\]"),
    (lambda ks: ks.pmfs(3, min_value=None), "`min_value` must be a number in \\[0, 1\\]"),
    (lambda ks: ks.pmfs(3, min_value=True), "`min_value` must be a number in \\[0, 1\\]"),
    (lambda ks: ks.weighted_samples(min_size=0), "`min_size` must be an integer >= 1;"),
    (lambda ks: ks.sample_pairs(min_size=5, max_size=2), "`max_size` \\(2\\) must be >= `min_size`"),
    (lambda ks: ks.point_clouds(0), "`n` must be an integer >= 1"),
    (lambda ks: ks.cost_matrices(3, 0), "`m` must be an integer >= 1"),
    # one bin cannot hold two disjoint supports: a pair of 2 bins was drawn instead
    (lambda ks: ks.disjoint_pmf_pairs(1), "`n_bins` must be an integer >= 2"),
    (lambda ks: ks.disjoint_pmf_pairs(st.integers(1, 1)), "`n_bins` must be an integer >= 2"),
    # hypothesis's own message named neither the argument nor the strategy
    (lambda ks: ks.weighted_samples(bound=-1.0), "`bound` must be a number >= 0"),
    (lambda ks: ks.sample_pairs(bound=float("nan")), "`bound` must be a number >= 0"),
    (lambda ks: ks.point_clouds(bound=-1.0), "`bound` must be a number >= 0"),
    (lambda ks: ks.cost_matrices(bound="10"), "`bound` must be a number >= 0"),
])
def test_strategies_refuse_empty_sizes(make, match):
    """A size of 0 drew empty "probability vectors" (summing to 0) and empty samples, or
    failed inside hypothesis on the draws that had weights."""
    from hypothesis import given, settings

    from kantorovich import strategies as ks

    with pytest.raises(ValueError, match=match):
        settings(max_examples=5, database=None)(given(make(ks))(lambda drawn: None))()


def test_strategies_draw_what_they_say():
    from hypothesis import HealthCheck, given, settings

    from kantorovich import strategies as ks

    @settings(max_examples=100, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(ks.pmfs(), ks.disjoint_pmf_pairs(), ks.weighted_samples())
    def draws(p, pq, sample):
        assert p.dtype == np.float64 and p.size >= 1 and np.all(p >= 0)
        assert abs(p.sum() - 1.0) <= 1e-12
        assert not np.any((pq[0] > 0) & (pq[1] > 0))
        values, w = sample
        assert values.size >= 1 and (w is None or (w.shape == values.shape and np.all(w >= 0)
                                                   and w.sum() > 0))

    draws()


def test_pmfs_with_a_min_value_still_draws_zero_bins():
    """allow_zeros=True (the default) with a min_value > 0 drew no zero bin at all: min_value
    bounds the non-zero masses, as its docstring says, and zeros stay allowed."""
    from hypothesis import HealthCheck, given, settings

    from kantorovich import strategies as ks

    zeros, smallest = [], []

    @settings(max_examples=100, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(ks.pmfs(4, min_value=0.1), ks.pmfs(4, allow_zeros=False, min_value=0.1))
    def draws(p, q):
        zeros.append(bool(np.any(p == 0.0)))
        assert np.all(q > 0.0)
        # before normalisation every non-zero mass was >= 0.1 and <= 1: after it, >= 0.1 / 4
        smallest.append(min(p[p > 0].min(), q.min()))

    draws()
    assert any(zeros) and min(smallest) >= 0.1 / 4


def test_cost_matrices_are_finite_with_an_infinite_bound():
    """bound=inf (any finite value, as for the samples and clouds) drew infinite costs."""
    from hypothesis import HealthCheck, given, settings

    from kantorovich import strategies as ks

    @settings(max_examples=200, database=None, deadline=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(ks.cost_matrices(bound=np.inf))
    def draws(M):
        assert np.all(np.isfinite(M)) and np.all(M >= 0)

    draws()
