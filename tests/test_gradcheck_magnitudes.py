"""The run-time finite-difference check at every magnitude: a correct gradient never fails it.

The step scales with the value (h = ε^(1/3)·max(1, |x|)) and the comparison with the size of
the loss's terms, so inputs from 1e-3 to 1e100 give ✓ (or "not checkable here" where float64
cannot resolve a step), never ✗; and a wrong gradient is still caught at ordinary magnitudes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run

from gradcalc.core import checking as opkit  # where check_gradients_where calls check_gradients
from gradcalc.core import gradcheck, registry
from gradcalc.core.kinds import conv_gradcheck  # where conv calls check_gradients
from gradcalc.core.kinds import expr_checks as expr  # where expr calls check_gradients
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

# ±m·10^e with e from −3 to 100: mixed magnitudes within one array, the hard case for rounding.
MAGNITUDE = st.builds(
    lambda sign, mantissa, exponent: f"{sign}{mantissa}e{exponent}",
    st.sampled_from(["", "-"]),
    st.sampled_from(["1", "1.5", "2.25", "3.7", "9.1"]),
    st.integers(-3, 99),  # the spec reader refuses magnitudes above 1e100
)
# Down to 1e-300 (σ(−741) and the like are subnormal), up to 1e99.
WIDE = st.builds(
    lambda sign, mantissa, exponent: f"{sign}{mantissa}e{exponent}",
    st.sampled_from(["", "-"]),
    st.sampled_from(["1", "1.5", "3.7"]),
    st.integers(-300, 99),
)
# Upstreams whose terms cancel: 1e17·y₁ − 1e17·y₂ + 3·y₃.
CANCELLING = st.sampled_from(["1e17", "-1e17", "1e17", "-1e17", "3", "0", "1e-3"])
# Activations where the output or its slope is subnormal or nearly so.
FAR_OUT = st.sampled_from(["-739", "-741", "-743", "-744", "-745.1", "-709", "-40", "-1e3"])
# LP windows near the all-zero window, where the norm has a kink.
NEAR_ZERO = st.sampled_from(["0", "0", "1e-7", "1e-6", "1e-100", "2e-100", "1", "3e-300"])
ORDINARY = st.integers(-40, 40).filter(lambda n: n not in (0,)).map(lambda n: f"{n}/8")


def values(count: int, element=MAGNITUDE):
    return st.lists(element, min_size=count, max_size=count)


def grid(rows: int, cols: int, element=MAGNITUDE):
    return st.lists(values(cols, element), min_size=rows, max_size=rows)


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu")


@st.composite
def activation_specs(draw, element=MAGNITUDE, upstream=None) -> dict[str, Any]:
    count = draw(st.integers(1, 5))
    spec = {
        "kind": "activation",
        "function": draw(st.sampled_from(ACTIVATIONS)),
        "input": draw(values(count, element)),
    }
    if upstream is not None or draw(st.booleans()):
        spec["upstream"] = draw(values(count, element if upstream is None else upstream))
    return spec


@st.composite
def loss_specs(draw, element=MAGNITUDE) -> dict[str, Any]:
    loss = draw(st.sampled_from(["cross_entropy", "nll", "mse", "bce", "bce_with_logits"]))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    spec: dict[str, Any] = {"kind": "loss", "loss": loss}
    spec["reduction"] = draw(st.sampled_from(["mean", "sum"]))
    if loss in ("cross_entropy", "nll"):
        spec["input"] = draw(grid(rows, cols, element))
        spec["target"] = draw(st.lists(st.integers(0, cols - 1), min_size=rows, max_size=rows))
        if loss == "cross_entropy" and draw(st.booleans()):
            spec["label_smoothing"] = 0.1
    elif loss == "bce":
        unit = st.integers(-3, -1).flatmap(
            lambda e: st.sampled_from([f"1e{e}", f"5e{e}", f"{1 - 10.0**e!r}"])
        )
        spec["input"] = draw(grid(rows, cols, unit))
        spec["target"] = draw(grid(rows, cols, st.sampled_from([0, 1, "1/4"])))
    else:
        spec["input"] = draw(grid(rows, cols, element))
        targets = element if loss == "mse" else st.sampled_from([0, 1, "1/4"])
        spec["target"] = draw(grid(rows, cols, targets))
    return spec


@st.composite
def conv_specs(draw, element=MAGNITUDE, upstream=None) -> dict[str, Any]:
    padding = draw(st.sampled_from([0, 1]))
    spec = {
        "kind": "conv",
        "input": draw(grid(3, 3, element)),
        "kernel": draw(grid(2, 2, element)),
        "stride": 1,
        "padding": padding,
    }
    if draw(st.booleans()):
        spec["bias"] = draw(values(1, element))
    if upstream is not None:
        spec["upstream"] = draw(grid(2 + 2 * padding, 2 + 2 * padding, upstream))
    return spec


@st.composite
def pool_specs(draw, element=MAGNITUDE, upstream=None) -> dict[str, Any]:
    mode = draw(st.sampled_from(["max", "avg", "lp"]))
    spec: dict[str, Any] = {
        "kind": "pool",
        "mode": mode,
        "input": draw(grid(3, 3, element)),
        "size": 2,
        "stride": 1,
    }
    if mode == "lp":
        spec["p"] = draw(st.sampled_from([1, 2, 3]))
        if spec["p"] != 2:  # an odd power of a negative sum has no real root (a spec error)
            spec["input"] = [[v.lstrip("-") for v in row] for row in spec["input"]]
    if upstream is not None or draw(st.booleans()):
        spec["upstream"] = draw(grid(2, 2, element if upstream is None else upstream))
    return spec


@st.composite
def lp_near_zero_specs(draw, element=NEAR_ZERO) -> dict[str, Any]:
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    size = draw(st.integers(1, min(rows, cols)))
    return {
        "kind": "pool",
        "mode": "lp",
        "p": draw(st.sampled_from([1, 2, 3, 4])),
        "input": draw(grid(rows, cols, element)),
        "size": size,
        "stride": draw(st.integers(1, size)),
    }


@st.composite
def dense_specs(draw, element=MAGNITUDE, upstream=None) -> dict[str, Any]:
    spec = {
        "kind": "dense",
        "input": draw(values(3, element)),
        "weight": draw(grid(2, 3, element)),
    }
    if draw(st.booleans()):
        spec["bias"] = draw(values(2, element))
    if upstream is not None:
        spec["upstream"] = draw(values(2, upstream))
    return spec


@st.composite
def softmax_specs(draw, element=MAGNITUDE, upstream=None) -> dict[str, Any]:
    spec = {
        "kind": "softmax",
        "function": draw(st.sampled_from(["softmax", "log_softmax"])),
        "input": draw(grid(draw(st.integers(1, 2)), draw(st.integers(1, 4)), element)),
    }
    if upstream is not None or draw(st.booleans()):
        rows, cols = len(spec["input"]), len(spec["input"][0])
        spec["upstream"] = draw(grid(rows, cols, element if upstream is None else upstream))
    return spec


KINDS = {
    "activation": activation_specs,
    "loss": loss_specs,
    "conv": conv_specs,
    "pool": pool_specs,
    "dense": dense_specs,
    "softmax": softmax_specs,
}


def solve(spec: dict[str, Any], **options: Any):
    return registry.solve(spec, SolveOptions(sections=frozenset(), **options))


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_correct_gradient_never_fails_at_any_magnitude(kind: str) -> None:
    @SETTINGS
    @given(KINDS[kind]())
    def run(spec: dict[str, Any]) -> None:
        for force_float in (False, True):
            solution = solve(spec, force_float=force_float)
            check = solution.gradient_check
            assert check is None or check.ok, (spec, check)
            assert solution.exit_status != ExitStatus.MISMATCH, spec

    run()


# Every kind at every scale: tiny and huge values, upstreams whose terms cancel, activations
# far out where their values are subnormal, LP windows near the all-zero window.
HARD_CASES = {
    "activation, tiny to huge": activation_specs(WIDE),
    "activation, far out": activation_specs(FAR_OUT, st.one_of(WIDE, CANCELLING)),
    "activation, cancelling upstream": activation_specs(MAGNITUDE, CANCELLING),
    "loss, tiny to huge": loss_specs(WIDE),
    "conv, tiny to huge": conv_specs(WIDE),
    "conv, cancelling upstream": conv_specs(ORDINARY, CANCELLING),
    "pool, tiny to huge": pool_specs(WIDE),
    "pool, cancelling upstream": pool_specs(st.sampled_from(["0", "1", "2", "-1"]), CANCELLING),
    "pool, LP near zero": lp_near_zero_specs(),
    "dense, tiny to huge": dense_specs(WIDE),
    "dense, cancelling upstream": dense_specs(ORDINARY, CANCELLING),
    "softmax, tiny to huge": softmax_specs(WIDE),
    "softmax, cancelling upstream": softmax_specs(MAGNITUDE, CANCELLING),
}


@pytest.mark.parametrize("case", sorted(HARD_CASES))
def test_a_correct_gradient_never_fails_in_the_hard_cases(case: str) -> None:
    """Exit 1 (✗ finite differences) only for a wrong gradient: never for these correct ones."""

    @SETTINGS
    @given(HARD_CASES[case])
    def run(spec: dict[str, Any]) -> None:
        for force_float in (False, True):
            solution = solve(spec, force_float=force_float)
            check = solution.gradient_check
            assert check is None or check.ok, (spec, check)
            assert solution.exit_status != ExitStatus.MISMATCH, spec

    run()


def _wrong(real):
    """check_gradients with every analytic gradient g pushed off by 0.01·(1 + |g|)."""

    def check(loss, params, analytic, **options):
        floats = {name: np.asarray(g, dtype=object).astype(float) for name, g in analytic.items()}
        pushed = {name: g + 0.01 * (1 + np.abs(g)) for name, g in floats.items()}
        return real(loss, params, pushed, **options)

    return check


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_wrong_gradient_is_still_caught_at_ordinary_magnitudes(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (opkit, conv_gradcheck, expr):
        monkeypatch.setattr(module, "check_gradients", _wrong(gradcheck.check_gradients))

    @SETTINGS
    @given(KINDS[kind](ORDINARY))
    def run(spec: dict[str, Any]) -> None:
        check = solve(spec).gradient_check
        assert check is None or not check.ok, (spec, check)

    run()


def test_relu_at_ten_million_passes_with_the_step_rule_stated() -> None:
    """The audit's case: relu at 1e7 with the right answer printed ✗ finite differences, exit 1."""
    result = run(
        "activation",
        "--no-color",
        "--function",
        "relu",
        "--input",
        "[10000000]",
        "--expected",
        "grad_input: [1]",
        "--show",
        "checks",
    )
    assert result.exit_code == 0, result.output
    assert "✓ finite differences (float64, central, h = 6.1e-06·max(1, |x|))" in result.output
    assert "✗" not in result.output and "h = 1e-06" not in result.output


def test_a_step_lost_in_rounding_is_not_checkable_rather_than_failed() -> None:
    """L = 1e50·a + b: a step in b vanishes in float64 next to 1e50 — say so, do not fail."""
    check = gradcheck.check_gradients(
        lambda p: float(1e50 * p["x"][0] + p["x"][1]),
        {"x": np.array([1.0, 1.0])},
        {"x": np.array([1e50, 1.0])},
    )
    assert check.ok and check.unresolved == 1 and check.entries_checked == 1
    assert "not checkable here" in check.summary()


def test_a_zero_gradient_under_rounding_noise_is_checked_against_the_problems_scale() -> None:
    """∂L/∂x₁ = 0.1 + 0.2 − 0.3 = 0, which float64 computes as about 3e-17: a zero next to a
    gradient of 3 is resolved (a wrong zero would be off by about that much), not 'not
    checkable' (seen on a --float avg-pool problem of small integers); a wrong zero fails."""

    def loss(p):
        return float(3 * p["x"][0] + 0.1 * p["x"][1] + 0.2 * p["x"][1] - 0.3 * p["x"][1])

    values = {"x": np.array([2.0, 7.0])}
    check = gradcheck.check_gradients(loss, values, {"x": np.array([3.0, 0.0])})
    assert check.ok and check.unresolved == 0 and check.entries_checked == 2, check.summary()
    wrong = gradcheck.check_gradients(loss, values, {"x": np.array([3.0, 0.5])})
    assert not wrong.ok


def test_a_function_that_overflows_is_not_checkable() -> None:
    check = gradcheck.check_gradients(
        lambda p: float(p["x"][0] ** 4), {"x": np.array([1e100])}, {"x": np.array([4e300])}
    )
    assert check.ok and check.unresolved == 1 and check.entries_checked == 0
    assert check.mark == "–" and "not checkable here" in check.summary()


def test_softplus_at_its_threshold_is_skipped_with_the_reason() -> None:
    """β = 2, threshold = 2, x = 1: PyTorch's softplus jumps from log(1 + e²)/2 to 1 there."""
    result = run(
        "activation",
        "--no-color",
        "--function",
        "softplus",
        "--beta",
        "2",
        "--threshold",
        "2",
        "--input",
        "[1, 3]",
        "--expected",
        "grad_input: [0.8807970779778823, 1]",
    )
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output
    assert "1 entry not probed: at softplus's threshold" in " ".join(result.output.split())


def test_a_huge_entry_times_a_zero_slope_stays_exact() -> None:
    """relu at −1e19: the slope 0 made the int64 bound 0 while −10^19 itself overflowed int64."""
    solution = solve({"kind": "activation", "function": "relu", "input": ["-1e19", "1e19"]})
    assert [int(v) for v in solution.results["output"]] == [0, 10**19]
    assert solution.gradient_check.ok


def test_gelu_far_below_zero_is_not_rounded_to_zero() -> None:
    """1 + erf(x/√2) cancels to 0 at x = −10; erfc keeps Φ(−10) = 7.6e-24."""
    solution = solve({"kind": "activation", "function": "gelu", "input": [-10]})
    assert float(solution.results["output"][0]) == pytest.approx(
        -7.61985302416e-23, rel=1e-9, abs=0
    )
    assert solution.gradient_check.ok


def test_softmax_of_equal_large_logits_is_exactly_uniform() -> None:
    """At 1e10 the rounding of logsumexp put p at 0.49999976 and ∂L/∂x at 2.4e-7, not 0."""
    solution = solve({"kind": "softmax", "function": "softmax", "input": [["1e10", "1e10"]]})
    assert [float(v) for v in solution.results["output"].ravel()] == [0.5, 0.5]
    assert [float(v) for v in solution.results["grad_input"].ravel()] == [0.0, 0.0]


def _mistaken(real, how: str, changed: list[bool]):
    """check_gradients given a wrong analytic gradient: ×2, its sign flipped, or +1 on the
    first entry it probes; ``changed`` records whether that changed anything (an all-zero
    gradient is its own double, and softmax's without an upstream is 0 up to rounding)."""

    def check(loss, params, analytic, **options):
        floats = {name: np.asarray(g, dtype=object).astype(float) for name, g in analytic.items()}
        if how == "plus one":
            first = next(iter(floats))
            floats[first] = floats[first].copy()
            floats[first].reshape(-1)[0] += 1
            changed.append(True)
        else:
            factor = 2.0 if how == "doubled" else -1.0
            changed.append(any(np.any(np.abs(g) > 1e-6) for g in floats.values()))
            floats = {name: factor * g for name, g in floats.items()}
        return real(loss, params, floats, **options)

    return check


@pytest.mark.parametrize("how", ["doubled", "sign flipped", "plus one"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_a_doubled_flipped_or_shifted_gradient_is_caught(
    kind: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    changed: list[bool] = []
    for module in (opkit, conv_gradcheck, expr):
        monkeypatch.setattr(
            module, "check_gradients", _mistaken(gradcheck.check_gradients, how, changed)
        )

    @SETTINGS
    @given(KINDS[kind](ORDINARY))
    def run(spec: dict[str, Any]) -> None:
        changed.clear()
        solution = solve(spec)
        if solution.gradient_check is not None and all(changed):
            assert not solution.gradient_check.ok, (spec, solution.gradient_check)
            assert solution.exit_status == ExitStatus.MISMATCH, spec

    run()


@pytest.mark.parametrize("mode", ["avg", "max"])
def test_a_correct_pool_gradient_passes_when_the_upstream_cancels(mode: str) -> None:
    """1e17·y₀₀ + 3·y₀₁ − 1e17·y₁₀: Σ|gradient·x| = 0.75 missed the 1e17 terms, whose
    rounding swamps the step; the right answers gave ✗ finite differences, exit 1."""
    grad = "[[25000000000000000, 100000000000000003/4, 3/4], [0, 3/4, 3/4], "
    grad += "[-25000000000000000, -25000000000000000, 0]]"
    if mode == "max":
        grad = "[[0, 0, 0], [0, 3, 0], [0, 0, 0]]"
    result = run(
        "pool",
        "--no-color",
        "--mode",
        mode,
        "--input",
        "0 0 0;0 1 0;0 0 0",
        "--size",
        "2",
        "--stride",
        "1",
        "--upstream",
        "1e17 3;-1e17 0",
        "--expected",
        f"grad_input: {grad}",
        "--show",
        "checks",
    )
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_a_correct_linear_gradient_passes_when_the_upstream_cancels(kind: str) -> None:
    spec: dict[str, Any] = {"kind": kind}
    if kind == "dense":
        spec |= {"input": [0, 1, 0], "weight": [[1, 1, 1], [1, 1, 1]]}
        spec["upstream"] = ["1e17", "-1e17"]
    else:
        spec |= {"input": [[0, 0, 0], [0, 1, 0], [0, 0, 0]], "kernel": [[1, 1], [1, 1]]}
        spec["upstream"] = [["1e17", 3], ["-1e17", 0]]
    for force_float in (False, True):
        solution = solve(spec, force_float=force_float)
        assert solution.gradient_check.ok, solution.gradient_check.summary()


@pytest.mark.parametrize("function", ["sigmoid", "softplus"])
@pytest.mark.parametrize("x", ["-739", "-741", "-743", "-744", "-745.1"])
def test_a_subnormal_gradient_is_not_failed(function: str, x: str) -> None:
    """σ'(−741) = 1.5e-322 is subnormal: the check printed ✗ with a difference of 4.9e-324."""
    result = run("activation", "--no-color", "--function", function, "--input", x)
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output
    solution = solve(
        {"kind": "activation", "function": function, "input": [x, x], "upstream": ["1e100", "-3"]}
    )
    assert solution.gradient_check.ok, solution.gradient_check.summary()


@pytest.mark.parametrize(
    ("p", "values"),
    [("2", "0 0; 0 1e-7"), ("2", "1e-6 0; 0 0"), ("3", "1e-100 1e-100; 1e-100 1e-100")],
)
def test_lp_pooling_near_the_all_zero_window_passes(p: str, values: str) -> None:
    """The norm bends within h = 6e-6 of a window of norm 1e-7: the step is bounded by the
    window's largest |x| (said in the check's line), and the right gradient passes."""
    result = run(
        "pool", "--no-color", "--mode", "lp", "--p", p, "--size", "2", "--input", values,
        "--show", "checks",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "✓ finite differences" in result.output
    assert "the window's largest |x|" in " ".join(result.output.split())


def test_a_wrong_zero_well_above_the_rounding_fails() -> None:
    """L = 1e9·a + b with ∂L/∂b given as 0: the quotient is 1.0 with rounding of about 0.02,
    but the bound 64·ε·1e9/2h = 1.2 let the wrong 0 pass against the largest entry 1e9."""
    values = {"x": np.array([1.0, 1.0])}

    def loss(p):
        return float(1e9 * p["x"][0] + p["x"][1])

    wrong = gradcheck.check_gradients(loss, values, {"x": np.array([1e9, 0.0])})
    assert not wrong.ok, wrong.summary()
    right = gradcheck.check_gradients(loss, values, {"x": np.array([1e9, 1.0])})
    assert right.ok, right.summary()


def test_the_check_line_says_when_it_samples() -> None:
    """66 of 88 entries: the input's 50 are sampled at 32; the line says so, and only then."""

    def loss(params: dict[str, np.ndarray]) -> float:
        return float((params["x"] ** 2).sum())

    many = np.arange(50, dtype=float)
    sampled = gradcheck.check_gradients(loss, {"x": many}, {"x": 2 * many})
    assert sampled.entries_checked == 32 and sampled.sampled == 32
    assert "32 of 50 gradient entries checked (at most 32 per array, spread evenly)" in (
        sampled.summary()
    )
    few = gradcheck.check_gradients(loss, {"x": many[:5]}, {"x": 2 * many[:5]})
    assert few.sampled == 0 and "spread evenly" not in few.summary()


def test_step_at_is_step_for_to_the_bit():
    """step_at, the one-number step the checks take per probed entry, is step_for's."""
    from gradcalc.core.gradcheck import step_at, step_for

    values = [0.0, -0.0, 0.5, 1.0, -1.0, 1.0 + 2**-52, 3.7e5, -2.5e-7, 1e300, 5e-324]
    values += [float("inf"), float("-inf"), float("nan")]
    values += list(np.random.default_rng(14).normal(0, 10, 500))
    for value in values:
        expected = np.float64(step_for(value)).tobytes()
        assert np.float64(step_at(value)).tobytes() == expected, value
