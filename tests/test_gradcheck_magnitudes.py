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

from gradcalc.core import conv, expr, gradcheck, opkit, registry
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
ORDINARY = st.integers(-40, 40).filter(lambda n: n not in (0,)).map(lambda n: f"{n}/8")


def values(count: int, element=MAGNITUDE):
    return st.lists(element, min_size=count, max_size=count)


def grid(rows: int, cols: int, element=MAGNITUDE):
    return st.lists(values(cols, element), min_size=rows, max_size=rows)


ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu")


@st.composite
def activation_specs(draw, element=MAGNITUDE) -> dict[str, Any]:
    count = draw(st.integers(1, 5))
    spec = {
        "kind": "activation",
        "function": draw(st.sampled_from(ACTIVATIONS)),
        "input": draw(values(count, element)),
    }
    if draw(st.booleans()):
        spec["upstream"] = draw(values(count, element))
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
def conv_specs(draw, element=MAGNITUDE) -> dict[str, Any]:
    spec = {
        "kind": "conv",
        "input": draw(grid(3, 3, element)),
        "kernel": draw(grid(2, 2, element)),
        "stride": 1,
        "padding": draw(st.sampled_from([0, 1])),
    }
    if draw(st.booleans()):
        spec["bias"] = draw(values(1, element))
    return spec


@st.composite
def pool_specs(draw, element=MAGNITUDE) -> dict[str, Any]:
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
    if draw(st.booleans()):
        spec["upstream"] = draw(grid(2, 2, element))
    return spec


@st.composite
def dense_specs(draw, element=MAGNITUDE) -> dict[str, Any]:
    spec = {
        "kind": "dense",
        "input": draw(values(3, element)),
        "weight": draw(grid(2, 3, element)),
    }
    if draw(st.booleans()):
        spec["bias"] = draw(values(2, element))
    return spec


@st.composite
def softmax_specs(draw, element=MAGNITUDE) -> dict[str, Any]:
    spec = {
        "kind": "softmax",
        "function": draw(st.sampled_from(["softmax", "log_softmax"])),
        "input": draw(grid(draw(st.integers(1, 2)), draw(st.integers(1, 4)), element)),
    }
    if draw(st.booleans()):
        spec["upstream"] = draw(grid(len(spec["input"]), len(spec["input"][0]), element))
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
    for module in (opkit, conv, expr):
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
