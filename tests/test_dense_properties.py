"""`kind: dense` against the plain-loop reference, central differences and hand-worked values."""

from __future__ import annotations

import io
import json
import math
from fractions import Fraction
from typing import Any

import nn_reference as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.core import registry
from gradcalc.core.errors import LimitError
from gradcalc.core.explain import SymbolTable
from gradcalc.core.kinds import dense as dense_module
from gradcalc.core.spec import Limits, SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
BIG_JACOBIAN = Limits(max_jacobian=10**6)


def examples(count: int) -> settings:
    return settings(SETTINGS, max_examples=count)


ENTRY = st.tuples(st.integers(-6, 6), st.sampled_from([1, 1, 1, 2, 3, 4]), st.integers(0, 2))


def encode(value: Fraction, style: int) -> Any:
    """A Fraction as a spec may write it: int, "p/q" text, or an exact decimal."""
    if value.denominator == 1:
        return int(value)
    if style == 1 and value.denominator in (2, 4):
        return float(value)
    return f"{value.numerator}/{value.denominator}"


@st.composite
def rationals(draw, shape: tuple[int, ...]) -> tuple[Any, list[Fraction]]:
    """(the spec's nested list, the flat Fractions)."""
    size = math.prod(shape)
    entries = draw(st.lists(ENTRY, min_size=size, max_size=size))
    values = [Fraction(n, d) for n, d, _ in entries]
    spec = [encode(v, style) for v, (_, _, style) in zip(values, entries, strict=True)]
    return ref.reshape(spec, shape), values


@st.composite
def dense_cases(draw) -> dict[str, Any]:
    batch = draw(st.sampled_from([None, 1, 2, 3]))
    ins, outs = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    x_shape = (ins,) if batch is None else (batch, ins)
    out_shape = (outs,) if batch is None else (batch, outs)
    x_spec, x = draw(rationals(x_shape))
    w_spec, w = draw(rationals((outs, ins)))
    spec: dict[str, Any] = {"kind": "dense", "input": x_spec, "weight": w_spec}
    layout = draw(st.sampled_from(["column", "row", None]))
    if layout:
        spec["layout"] = layout
    bias = None
    if draw(st.booleans()):
        spec["bias"], bias = draw(rationals((outs,)))
    form = draw(st.sampled_from(["given", "given", "ones", "omitted"]))
    if form == "given":
        spec["upstream"], up = draw(rationals(out_shape))
    else:
        up = [Fraction(1)] * math.prod(out_shape)
        if form == "ones":
            spec["upstream"] = "ones"
    rows = batch or 1
    return {
        "spec": spec,
        "x": ref.reshape(x, (rows, ins)),
        "w": ref.reshape(w, (outs, ins)),
        "b": bias,
        "up": ref.reshape(up, (rows, outs)),
        "x_shape": x_shape,
        "out_shape": out_shape,
    }


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("limits", BIG_JACOBIAN)
    return registry.solve(spec, SolveOptions(**options), command_kind="dense")


def exact_list(array: Any) -> list[Any]:
    values = list(np.asarray(array, dtype=object).ravel())
    for value in values:
        assert isinstance(value, (Fraction, int)), f"{value!r} is not exact"
    return values


# ---------------------------------------------------------------------------
# Exact results equal the reference


@examples(60)
@given(dense_cases())
def test_exact_results_match_reference(case: dict[str, Any]) -> None:
    solution = solve(case["spec"], gradient_check=False, sections=frozenset())
    assert solution.exact
    want = ref.dense(case["x"], case["w"], case["b"], case["up"])
    results = solution.results
    assert np.shape(results["output"]) == case["out_shape"]
    assert np.shape(results["grad_input"]) == case["x_shape"]
    assert exact_list(results["output"]) == ref.flatten(want["output"])
    assert exact_list(results["grad_input"]) == ref.flatten(want["grad_input"])
    assert exact_list(results["grad_weight"]) == ref.flatten(want["grad_weight"])
    if case["b"] is None:
        assert "grad_bias" not in results
    else:
        assert exact_list(results["grad_bias"]) == want["grad_bias"]


@examples(40)
@given(dense_cases())
def test_gradients_match_central_differences(case: dict[str, Any]) -> None:
    """Float64 central differences of L = Σ upstream ⊙ y, from the reference forward pass."""
    solution = solve(case["spec"], gradient_check=False, sections=frozenset())
    as_float = lambda rows: [[float(v) for v in row] for row in rows]  # noqa: E731
    x, w, up = as_float(case["x"]), as_float(case["w"]), as_float(case["up"])
    b = None if case["b"] is None else [float(v) for v in case["b"]]
    shapes = {"x": (len(x), len(x[0])), "w": (len(w), len(w[0]))}
    probes = {
        "grad_input": (
            ref.flatten(x),
            lambda v: ref.dense_loss(ref.reshape(v, shapes["x"]), w, b, up),
        ),
        "grad_weight": (
            ref.flatten(w),
            lambda v: ref.dense_loss(x, ref.reshape(v, shapes["w"]), b, up),
        ),
    }
    if b is not None:
        probes["grad_bias"] = (b, lambda v: ref.dense_loss(x, w, v, up))
    for name, (values, loss) in probes.items():
        analytic = [float(v) for v in np.asarray(solution.results[name], dtype=object).ravel()]
        for index in range(len(values)):
            numeric = ref.central_difference(loss, values, index)
            assert abs(numeric - analytic[index]) <= 1e-6 * (1 + abs(analytic[index])), (
                name,
                index,
                numeric,
                analytic[index],
            )


@examples(30)
@given(dense_cases())
def test_float_mode_agrees_and_jacobians_carry_the_gradients(case: dict[str, Any]) -> None:
    exact = solve(case["spec"], gradient_check=False, sections=frozenset({"jacobian"}))
    approx = solve(
        case["spec"], gradient_check=False, sections=frozenset({"jacobian"}), force_float=True
    )
    assert not approx.exact and set(exact.results) == set(approx.results)
    for name, value in exact.results.items():
        assert np.allclose(np.asarray(value, dtype=float), approx.results[name], atol=1e-12)
    up = np.asarray(ref.flatten(case["up"]), dtype=object)
    by_input = up @ np.asarray(exact.results["jacobian_input"], dtype=object)
    by_weight = up @ np.asarray(exact.results["jacobian_weight"], dtype=object)
    assert list(by_input) == exact_list(exact.results["grad_input"])
    assert list(by_weight) == exact_list(exact.results["grad_weight"])


@examples(25)
@given(dense_cases(), st.sampled_from([1, 3, None]))
def test_explanation_renders_and_gradient_check_passes(case: dict[str, Any], steps) -> None:
    from rich.console import Console

    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_json import render_json
    from gradcalc.cli.render_table import TableRenderer

    solution = solve(case["spec"], steps=steps)
    assert solution.gradient_check is not None and solution.gradient_check.ok
    assert [s.key for s in solution.sections] == list(dense_module.SECTIONS)
    assert all(section.items for section in solution.sections)
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, highlight=False)
    TableRenderer(console, NumberStyle(), None).render(solution, "dense")
    text = buffer.getvalue()
    assert "Forward" in text and "Backward" in text and "Compact identities" in text
    assert json.loads(render_json(solution))["ok"] is True


# ---------------------------------------------------------------------------
# Hand-worked values and conventions


ISSUE_EXAMPLE = {
    "kind": "dense",
    "input": [1, 2, -1],
    "weight": [[1, 0, 2], [-1, 1, 0]],
    "bias": [0, 1],
    "layout": "column",
    "upstream": [1, -2],
}


def ints(array: Any) -> list[Any]:
    return np.asarray(array, dtype=object).tolist()


@pytest.mark.parametrize("layout", ["column", "row"])
def test_issue_example_by_hand(layout: str) -> None:
    """y_0 = 1 + 0 − 2 + 0 = −1, y_1 = −1 + 2 + 0 + 1 = 2; ∂L/∂W = ∂L/∂y·xᵀ; ∂L/∂x = Wᵀ·∂L/∂y."""
    solution = solve({**ISSUE_EXAMPLE, "layout": layout})
    assert ints(solution.results["output"]) == [-1, 2]
    assert ints(solution.results["grad_weight"]) == [[1, 2, -1], [-2, -4, 2]]
    assert ints(solution.results["grad_bias"]) == [1, -2]
    assert ints(solution.results["grad_input"]) == [3, -2, 2]
    assert ints(solution.results["jacobian_input"]) == [[1, 0, 2], [-1, 1, 0]]
    assert ints(solution.results["jacobian_weight"]) == [[1, 2, -1, 0, 0, 0], [0, 0, 0, 1, 2, -1]]


def test_batch_sums_weight_and_bias_gradients_over_samples() -> None:
    """Two samples: ∂L/∂W = Σ_n ∂L/∂y_n·x_nᵀ, ∂L/∂b = Σ_n ∂L/∂y_n (worked by hand)."""
    spec = {
        "input": [[1, 0], [0, "1/2"]],
        "weight": [[2, 1]],
        "bias": [3],
        "upstream": [[1], [4]],
    }
    solution = solve(spec)
    assert ints(solution.results["output"]) == [[5], [Fraction(7, 2)]]
    assert ints(solution.results["grad_weight"]) == [[1, 2]]
    assert ints(solution.results["grad_bias"]) == [5]
    assert ints(solution.results["grad_input"]) == [[2, 1], [8, 4]]
    # Block diagonal: sample 1's output does not depend on sample 0's input.
    assert ints(solution.results["jacobian_input"]) == [[2, 1, 0, 0], [0, 0, 2, 1]]


def shapes_said(solution) -> str:
    return " ".join(
        getattr(item, "text", "") for section in solution.sections for item in section.items
    )


def test_each_layout_states_its_shapes() -> None:
    column = shapes_said(solve(ISSUE_EXAMPLE))
    assert "∂L/∂W = ∂L/∂y·xᵀ: (2×1)·(1×3) = 2×3" in column
    assert "∂L/∂x = Wᵀ·∂L/∂y: (3×2)·(2×1) = 3×1" in column
    row = shapes_said(solve({**ISSUE_EXAMPLE, "layout": "row"}))
    assert "∂L/∂W = (∂L/∂y)ᵀ·x: (2×1)·(1×3) = 2×3" in row
    assert "∂L/∂x = ∂L/∂y·W: (1×2)·(2×3) = 1×3" in row
    assert "∂L/∂b = ∂L/∂y (1×2)" in row


def test_upstream_omitted_means_sum_of_outputs() -> None:
    solution = solve({k: v for k, v in ISSUE_EXAMPLE.items() if k != "upstream"})
    # ∂L/∂x_i = Σ_j W_ji with L = y_0 + y_1.
    assert ints(solution.results["grad_input"]) == [0, 1, 2]
    assert any("upstream omitted" in c for c in solution.conventions)


def test_large_layer_uses_floats_and_skips_the_jacobian() -> None:
    spec = {"input": [[1] * 40] * 5, "weight": [[1] * 40] * 30}
    solution = registry.solve(
        spec,
        SolveOptions(limits=Limits(exact_work=1000), gradient_check=False),
        command_kind="dense",
    )
    assert not solution.exact
    assert any("above the exact limit" in c for c in solution.conventions)
    assert "jacobian_input" not in solution.results
    assert np.asarray(solution.results["output"]).dtype == np.float64
    with pytest.raises(LimitError):
        registry.solve(
            {**spec, "expected": {"jacobian_weight": [[0] * 1200] * 150}},
            SolveOptions(),
            command_kind="dense",
        )


def test_steps_cap_every_list_of_rows() -> None:
    spec = {"input": [[1, 2, 3]] * 4, "weight": [[1, 0, 1]] * 5, "bias": [0] * 5}
    solution = solve(spec, steps=2)
    for section in solution.sections:
        if section.key in ("forward", "backward"):
            assert section.omitted > 0, section.key
        if section.key == "jacobian":  # each table counts the rows it hides
            # (the chain rule's one-row tables, upstream and product, hide nothing)
            tables = [
                item
                for item in section.items
                if isinstance(item, SymbolTable) and item.label.endswith(("(symbols)", "(values)"))
            ]
            assert tables and all(table.omitted > 0 for table in tables)
    forward = next(s for s in solution.sections if s.key == "forward")
    assert len(forward.items) == 2
