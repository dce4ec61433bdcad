"""`kind: loss`: every loss and option against the reference and float64 central differences."""

from __future__ import annotations

import io
import json
import math
from fractions import Fraction
from typing import Any

import nn_reference as ref
import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcalc.core import registry
from gradcalc.core.kinds import loss as losses
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
LOGIT = st.integers(-500, 500).map(lambda n: n / 100)
UNIT = st.integers(0, 100).map(lambda n: n / 100)
OPEN_UNIT = st.integers(1, 99).map(lambda n: n / 100)


def examples(count: int) -> settings:
    return settings(SETTINGS, max_examples=count)


def solve(spec: dict[str, Any], **options: Any):
    return registry.solve(spec, SolveOptions(**options), command_kind="loss")


def flat(array: Any) -> list[float]:
    return [float(v) for v in np.asarray(array, dtype=object).ravel()]


@st.composite
def class_cases(draw) -> dict[str, Any]:
    loss = draw(st.sampled_from(["cross_entropy", "cross_entropy", "nll"]))
    batch = draw(st.sampled_from([None, 1, 2, 4]))
    classes = draw(st.integers(1, 5))
    rows = batch or 1
    x = [draw(st.lists(LOGIT, min_size=classes, max_size=classes)) for _ in range(rows)]
    spec: dict[str, Any] = {"loss": loss, "input": x[0] if batch is None else x}
    options: dict[str, Any] = {}
    distribution = loss == "cross_entropy" and draw(st.booleans())
    if distribution:
        target: list[Any] = []
        spec_target = []
        for _ in range(rows):
            counts = draw(st.lists(st.integers(0, 4), min_size=classes, max_size=classes))
            assume(sum(counts) > 0)
            target.append([c / sum(counts) for c in counts])
            spec_target.append([f"{c}/{sum(counts)}" for c in counts])
        spec["target"] = spec_target[0] if batch is None else spec_target
    else:
        ignore = draw(st.sampled_from([-100, -100, 0]))
        if ignore != -100:
            options["ignore_index"] = spec["ignore_index"] = ignore
        choices = list(range(classes)) + ([-100] if batch and ignore == -100 else [])
        target = [draw(st.sampled_from(choices)) for _ in range(rows)]
        spec["target"] = target[0] if batch is None else target
    if draw(st.booleans()):
        weight = draw(
            st.lists(st.sampled_from([0.5, 1.0, 2.0, 3.0]), min_size=classes, max_size=classes)
        )
        options["weight"] = spec["weight"] = weight
    if loss == "cross_entropy" and draw(st.booleans()):
        options["label_smoothing"] = spec["label_smoothing"] = draw(
            st.sampled_from([0.1, 0.25, 1.0])
        )
    reduction = draw(st.sampled_from(["mean", "sum"]))
    spec["reduction"] = options["reduction"] = reduction
    if reduction == "mean" and not distribution:
        ignore = options.get("ignore_index", -100)
        assume(any(t != ignore for t in target))
    return {"spec": spec, "loss": loss, "x": x, "target": target, "options": options}


def class_reference(case: dict[str, Any], values: list[float]) -> float:
    rows = ref.reshape(values, (len(case["x"]), len(case["x"][0])))
    if case["loss"] == "nll":
        return float(ref.nll(rows, case["target"], **case["options"]))
    return ref.cross_entropy(rows, case["target"], **case["options"])


@st.composite
def elementwise_cases(draw, names: tuple[str, ...] = ("mse", "bce", "bce_with_logits")):
    loss = draw(st.sampled_from(names))
    shape = draw(st.sampled_from([(), (3,), (2, 3), (1, 2, 2)]))
    size = math.prod(shape)
    x = draw(st.lists(OPEN_UNIT if loss == "bce" else LOGIT, min_size=size, max_size=size))
    t = draw(st.lists(UNIT if loss != "mse" else LOGIT, min_size=size, max_size=size))
    spec: dict[str, Any] = {
        "loss": loss,
        "input": ref.reshape(x, shape),
        "target": ref.reshape(t, shape),
    }
    weight_flat = None
    if loss != "mse" and shape and draw(st.booleans()):
        last = shape[-1]
        w_last = draw(st.lists(st.sampled_from([0.5, 1.0, 2.0]), min_size=last, max_size=last))
        spec["weight"] = w_last  # broadcast over the leading axes, as in PyTorch
        weight_flat = [w_last[k % last] for k in range(size)]
    reduction = draw(st.sampled_from(["mean", "sum"]))
    spec["reduction"] = reduction
    return {"spec": spec, "loss": loss, "x": x, "t": t, "w": weight_flat, "reduction": reduction}


def elementwise_reference(case: dict[str, Any], values: list[float]) -> float:
    if case["loss"] == "mse":
        return float(ref.mse(values, case["t"], case["reduction"]))
    function = ref.bce if case["loss"] == "bce" else ref.bce_with_logits
    return function(values, case["t"], case["w"], case["reduction"])


def check_against_reference(solution, case: dict[str, Any], reference) -> None:
    values = ref.flatten(case["x"])
    loss = float(solution.results["loss"])
    assert math.isclose(loss, reference(case, values), rel_tol=1e-11, abs_tol=1e-12)
    grads = flat(solution.results["grad_input"])
    for index in range(len(values)):
        numeric = ref.central_difference(lambda v: reference(case, v), values, index)
        assert abs(numeric - grads[index]) <= 2e-6 * (1 + abs(grads[index])), (
            index,
            numeric,
            grads,
        )


@examples(120)
@given(class_cases())
def test_class_losses_match_reference_and_central_differences(case: dict[str, Any]) -> None:
    solution = solve(case["spec"], gradient_check=False, sections=frozenset())
    check_against_reference(solution, case, class_reference)
    if case["loss"] == "cross_entropy":
        probabilities = np.asarray(solution.results["probabilities"], dtype=float).reshape(
            len(case["x"]), -1
        )
        for row, p in zip(case["x"], probabilities, strict=True):
            assert np.allclose(p, ref.softmax(row), atol=1e-14)


@examples(80)
@given(elementwise_cases())
def test_elementwise_losses_match_reference_and_central_differences(case: dict[str, Any]) -> None:
    solution = solve(case["spec"], gradient_check=False, sections=frozenset())
    check_against_reference(solution, case, elementwise_reference)


@examples(30)
@given(st.one_of(class_cases(), elementwise_cases()), st.sampled_from([2, None]))
def test_explanation_renders_and_gradient_check_passes(case: dict[str, Any], steps) -> None:
    from rich.console import Console

    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_json import render_json
    from gradcalc.cli.render_table import TableRenderer

    solution = solve(case["spec"], steps=steps)
    assert solution.gradient_check is not None and solution.gradient_check.ok
    assert [s.key for s in solution.sections] == list(losses.SECTIONS)
    buffer = io.StringIO()
    TableRenderer(
        Console(file=buffer, width=100, no_color=True, highlight=False), NumberStyle(), None
    ).render(solution, "loss")
    assert "Forward" in buffer.getvalue()
    document = json.loads(render_json(solution))
    assert isinstance(document["results"]["loss"], (int, float))


@examples(40)
@given(elementwise_cases(("mse",)))
def test_mse_is_exact(case: dict[str, Any]) -> None:
    spec = dict(case["spec"])
    solution = solve(spec, gradient_check=False, sections=frozenset())
    assert solution.exact
    x = [Fraction(str(v)) for v in case["x"]]
    t = [Fraction(str(v)) for v in case["t"]]
    assert solution.results["loss"][()] == ref.mse(x, t, case["reduction"])
    scale = len(x) if case["reduction"] == "mean" else 1
    want = [2 * (a - b) / scale for a, b in zip(x, t, strict=True)]
    assert list(np.asarray(solution.results["grad_input"], dtype=object).ravel()) == want
