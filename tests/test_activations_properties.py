"""`kind: activation` and `kind: softmax` against the reference, central differences and hand values."""

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
from gradcalc.core.kinds import activation, softmax
from gradcalc.core.spec import Limits, SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
FLOAT_FUNCTIONS = ("sigmoid", "tanh", "softplus", "elu", "gelu")
ALL_FUNCTIONS = ("relu", "leaky_relu", *FLOAT_FUNCTIONS)
# Two decimals keep every spec value exact text and every kink at an exact 0.
VALUE = st.integers(-600, 600).map(lambda n: n / 100)
SHAPES = st.sampled_from([(), (1,), (4,), (2, 3), (3, 1), (2, 2, 2)])


def examples(count: int) -> settings:
    return settings(SETTINGS, max_examples=count)


def solve(kind: str, spec: dict[str, Any], **options: Any):
    options.setdefault("limits", Limits(max_jacobian=10**6))
    return registry.solve(spec, SolveOptions(**options), command_kind=kind)


def flat(array: Any) -> list[Any]:
    return list(np.asarray(array, dtype=object).ravel())


@st.composite
def activation_cases(draw, functions: tuple[str, ...] = ALL_FUNCTIONS) -> dict[str, Any]:
    function = draw(st.sampled_from(functions))
    shape = draw(SHAPES)
    size = math.prod(shape)
    x = draw(st.lists(VALUE, min_size=size, max_size=size))
    up = draw(st.lists(VALUE, min_size=size, max_size=size))
    spec: dict[str, Any] = {"function": function, "input": ref.reshape(x, shape)}
    params: dict[str, Any] = {}
    if function in ("leaky_relu", "elu") and draw(st.booleans()):
        params["alpha"] = draw(st.sampled_from([0.1, 0.2, 0.5, 2.0]))
    if function == "softplus" and draw(st.booleans()):
        params["beta"] = draw(st.sampled_from([0.5, 2.0]))
        params["threshold"] = draw(st.sampled_from([5.0, 20.0]))
    spec.update(params)
    spec["upstream"] = ref.reshape(up, shape)
    return {"spec": spec, "function": function, "x": x, "up": up, "shape": shape, "params": params}


def reference_values(case: dict[str, Any], x: float) -> tuple[float, float]:
    return ref.activation(case["function"], x, **case["params"])


@examples(80)
@given(activation_cases())
def test_activation_matches_reference(case: dict[str, Any]) -> None:
    solution = solve("activation", case["spec"], gradient_check=False, sections=frozenset())
    outputs, grads = flat(solution.results["output"]), flat(solution.results["grad_input"])
    assert np.shape(solution.results["output"]) == case["shape"]
    for x, up, out, grad in zip(case["x"], case["up"], outputs, grads, strict=True):
        want_out, want_slope = reference_values(case, x)
        assert math.isclose(float(out), want_out, rel_tol=1e-12, abs_tol=1e-12), (x, out)
        assert math.isclose(float(grad), up * want_slope, rel_tol=1e-12, abs_tol=1e-12), (x, grad)


@examples(80)
@given(activation_cases())
def test_activation_gradient_matches_central_differences(case: dict[str, Any]) -> None:
    """Float64 central differences of L = Σ upstream ⊙ f(x), away from the kink at 0."""
    solution = solve("activation", case["spec"], gradient_check=False, sections=frozenset())
    grads = [float(g) for g in flat(solution.results["grad_input"])]

    def loss(values: list[float]) -> float:
        return sum(
            u * reference_values(case, v)[0] for u, v in zip(case["up"], values, strict=True)
        )

    for index, x in enumerate(case["x"]):
        if abs(x) < 1e-3:
            continue
        numeric = ref.central_difference(loss, case["x"], index)
        assert abs(numeric - grads[index]) <= 1e-5 * (1 + abs(grads[index])), (x, numeric)


@examples(40)
@given(activation_cases(("relu", "leaky_relu")))
def test_relu_family_is_exact(case: dict[str, Any]) -> None:
    spec = dict(case["spec"])
    spec["input"] = ref.reshape(
        [str(Fraction(v).limit_denominator(100)) for v in case["x"]], case["shape"]
    )
    spec.pop("alpha", None)
    solution = solve("activation", spec, gradient_check=False, sections=frozenset())
    assert solution.exact
    for x, out in zip(case["x"], flat(solution.results["output"]), strict=True):
        exact_x = Fraction(x).limit_denominator(100)
        assert isinstance(out, (Fraction, int))  # exact: a Fraction, or an int when whole
        assert out == ref.activation(case["function"], exact_x)[0]


@examples(30)
@given(activation_cases(), st.sampled_from([1, 2, None]))
def test_activation_explanation_and_gradient_check(case: dict[str, Any], steps) -> None:
    solution = solve("activation", case["spec"], steps=steps)
    assert solution.ok, solution.gradient_check
    wanted = activation.SECTIONS
    assert [s.key for s in solution.sections] == list(wanted)
    render(solution, "activation")


def render(solution, kind: str) -> str:
    from rich.console import Console

    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_json import render_json
    from gradcalc.cli.render_table import TableRenderer

    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, highlight=False)
    TableRenderer(console, NumberStyle(), None).render(solution, kind)
    assert json.loads(render_json(solution))["kind"] == kind
    return buffer.getvalue()


# ---------------------------------------------------------------------------
# PyTorch's conventions at the kink, by hand


@pytest.mark.parametrize(
    ("function", "params", "slope_at_zero"),
    [
        ("relu", {}, 0),
        ("leaky_relu", {}, Fraction(1, 100)),
        ("leaky_relu", {"alpha": "1/5"}, Fraction(1, 5)),
        ("elu", {"alpha": 0.5}, 0.5),
    ],
)
def test_derivative_at_zero_is_pytorchs(function: str, params: dict, slope_at_zero) -> None:
    solution = solve("activation", {"function": function, "input": [0, 2], **params})
    assert flat(solution.results["grad_input"])[0] == slope_at_zero
    assert flat(solution.results["grad_input"])[1] == 1
    text = render(solution, "activation")
    assert f"x_0 = 0 sits on {function}'s kink" in text
    # The kink entry is left out of the finite-difference check, the other is probed.
    assert solution.gradient_check.entries_checked == 1
    assert solution.gradient_check.entries_total == 2


def test_subgradient_at_zero_overrides() -> None:
    solution = solve(
        "activation",
        {
            "function": "relu",
            "input": [0, -1, 3],
            "upstream": [4, 4, 4],
            "subgradient_at_zero": "1/2",
        },
    )
    assert flat(solution.results["grad_input"]) == [2, 0, 4]
    assert any("subgradient_at_zero; PyTorch uses 0" in c for c in solution.conventions)


def test_elu_with_alpha_one_has_no_kink() -> None:
    solution = solve("activation", {"function": "elu", "input": [0.0]})
    assert flat(solution.results["grad_input"]) == [1.0]
    assert solution.gradient_check.entries_checked == 1


def test_softplus_threshold_as_pytorch() -> None:
    """β·x > threshold returns x itself (slope 1); at exactly the threshold it does not."""
    solution = solve("activation", {"function": "softplus", "input": [25, 20, 0]})
    out = flat(solution.results["output"])
    assert out[0] == 25.0
    assert out[1] == pytest.approx(20 + math.log1p(math.exp(-20)), rel=1e-15)
    assert out[2] == pytest.approx(math.log(2))
    assert flat(solution.results["grad_input"]) == [1.0, pytest.approx(ref.sigmoid(20)), 0.5]
    scaled = solve("activation", {"function": "softplus", "input": [6], "beta": 2, "threshold": 10})
    assert flat(scaled.results["output"]) == [6.0]


def test_gelu_is_the_exact_erf_form() -> None:
    solution = solve("activation", {"function": "gelu", "input": [1, 0, -1]})
    out = flat(solution.results["output"])
    assert out[0] == pytest.approx(0.8413447460685429, rel=1e-15)  # Φ(1)
    assert out[2] == pytest.approx(-0.15865525393145707, rel=1e-15)  # −Φ(−1)
    assert flat(solution.results["grad_input"])[1] == pytest.approx(0.5)


def test_sigmoid_and_tanh_by_hand() -> None:
    solution = solve("activation", {"function": "sigmoid", "input": [0, 1000, -1000]})
    assert flat(solution.results["output"]) == [0.5, 1.0, 0.0]
    assert flat(solution.results["grad_input"]) == [0.25, 0.0, 0.0]
    solution = solve("activation", {"function": "tanh", "input": [0]})
    assert flat(solution.results["grad_input"]) == [1.0]
    assert not solution.exact
    assert any("float64 arithmetic: tanh" in c for c in solution.conventions)


def test_scalar_input() -> None:
    solution = solve("activation", {"function": "leaky_relu", "input": -4, "upstream": 2})
    assert solution.results["output"][()] == Fraction(-1, 25)
    assert solution.results["grad_input"][()] == Fraction(1, 50)


# ---------------------------------------------------------------------------
# softmax / log_softmax


@st.composite
def softmax_cases(draw) -> dict[str, Any]:
    batch = draw(st.sampled_from([None, 1, 3]))
    classes = draw(st.integers(1, 6))
    rows = batch or 1
    x = [draw(st.lists(VALUE, min_size=classes, max_size=classes)) for _ in range(rows)]
    up = [draw(st.lists(VALUE, min_size=classes, max_size=classes)) for _ in range(rows)]
    function = draw(st.sampled_from(["softmax", "log_softmax"]))
    spec = {
        "function": function,
        "input": x[0] if batch is None else x,
        "upstream": up[0] if batch is None else up,
    }
    return {"spec": spec, "x": x, "up": up, "log": function == "log_softmax"}


@examples(60)
@given(softmax_cases())
def test_softmax_matches_reference_and_central_differences(case: dict[str, Any]) -> None:
    solution = solve("softmax", case["spec"], gradient_check=False, sections=frozenset())
    forward = ref.log_softmax if case["log"] else ref.softmax
    outputs = [float(v) for v in flat(solution.results["output"])]
    grads = [float(v) for v in flat(solution.results["grad_input"])]
    want = [v for row in case["x"] for v in forward(row)]
    assert np.allclose(outputs, want, rtol=1e-12, atol=1e-14)
    classes = len(case["x"][0])
    flat_up = ref.flatten(case["up"])

    def loss(values: list[float]) -> float:
        rows = ref.reshape(values, (len(case["x"]), classes))
        return sum(
            u * v for u, v in zip(flat_up, [y for r in rows for y in forward(r)], strict=True)
        )

    values = ref.flatten(case["x"])
    for index in range(len(values)):
        numeric = ref.central_difference(loss, values, index)
        assert abs(numeric - grads[index]) <= 1e-6 * (1 + abs(grads[index]))


@examples(40)
@given(softmax_cases())
def test_softmax_jacobian_is_diag_p_minus_ppt(case: dict[str, Any]) -> None:
    solution = solve(
        "softmax", case["spec"], gradient_check=False, sections=frozenset({"jacobian"})
    )
    jacobian = np.asarray(solution.results["jacobian"], dtype=float)
    classes = len(case["x"][0])
    for n, row in enumerate(case["x"]):
        block = jacobian[n * classes : (n + 1) * classes, n * classes : (n + 1) * classes]
        assert np.allclose(block, ref.softmax_jacobian(row, case["log"]), atol=1e-14)
        if not case["log"]:
            assert np.allclose(block.sum(axis=1), 0, atol=1e-14)
    off_block = jacobian.copy()
    for n in range(len(case["x"])):
        off_block[n * classes : (n + 1) * classes, n * classes : (n + 1) * classes] = 0
    assert not off_block.any()
    upstream = np.asarray(ref.flatten(case["up"]))
    grads = np.asarray(flat(solution.results["grad_input"]), dtype=float)
    assert np.allclose(upstream @ jacobian, grads, atol=1e-12)


@examples(20)
@given(softmax_cases(), st.sampled_from([1, 4, None]))
def test_softmax_explanation_and_gradient_check(case: dict[str, Any], steps) -> None:
    solution = solve("softmax", case["spec"], steps=steps)
    assert solution.ok
    assert [s.key for s in solution.sections] == list(softmax.SECTIONS)
    render(solution, "softmax")


def test_softmax_by_hand() -> None:
    """softmax(log 3, 0) = (3/4, 1/4); J = diag(p) − p·pᵀ = [[3/16, −3/16], [−3/16, 3/16]]."""
    solution = solve("softmax", {"input": [math.log(3), 0], "upstream": [1, 0]})
    assert flat(solution.results["output"]) == pytest.approx([0.75, 0.25])
    assert np.allclose(solution.results["jacobian"], [[3 / 16, -3 / 16], [-3 / 16, 3 / 16]])
    # ∂L/∂s = p ⊙ (g − g·p) = (3/4·(1 − 3/4), 1/4·(0 − 3/4))
    assert flat(solution.results["grad_input"]) == pytest.approx([3 / 16, -3 / 16])


def test_log_softmax_by_hand() -> None:
    """log_softmax(0, 0) = (−log 2, −log 2); ∂L/∂s = g − p·Σg."""
    solution = solve("softmax", {"function": "log_softmax", "input": [0, 0], "upstream": [1, 3]})
    assert flat(solution.results["output"]) == pytest.approx([-math.log(2)] * 2)
    assert flat(solution.results["grad_input"]) == pytest.approx([1 - 2, 3 - 2])
    assert np.allclose(solution.results["jacobian"], [[0.5, -0.5], [-0.5, 0.5]])


def test_large_logits_do_not_overflow() -> None:
    solution = solve("softmax", {"input": [[1000, 0, -1000], [5, 5, 5]]})
    out = np.asarray(solution.results["output"], dtype=float)
    assert np.all(np.isfinite(out))
    assert out[0].tolist() == [1.0, pytest.approx(math.exp(-1000)), pytest.approx(0.0)]
    assert out[1] == pytest.approx([1 / 3] * 3)
    log = solve("softmax", {"function": "log_softmax", "input": [1000, 0]})
    assert flat(log.results["output"]) == [0.0, -1000.0]
    assert solution.gradient_check.ok and log.gradient_check.ok


def test_softmax_jacobian_above_the_limit_is_not_built() -> None:
    solution = registry.solve(
        {"input": [[1, 2, 3, 4]] * 10},
        SolveOptions(limits=Limits(max_jacobian=100)),
        command_kind="softmax",
    )
    assert "jacobian" not in solution.results
    jacobian = next(s for s in solution.sections if s.key == "jacobian")
    assert any("not built" in getattr(item, "text", "") for item in jacobian.items)


def test_many_classes_skip_the_written_tables() -> None:
    solution = solve("softmax", {"input": list(range(12))}, steps=None)
    jacobian = next(s for s in solution.sections if s.key == "jacobian")
    assert any("not written out" in getattr(item, "text", "") for item in jacobian.items)
    assert "jacobian" in solution.results
