"""conv_transpose (issue 15 item 4): the op and the kind against a plain-loop scatter
(tests/conv_transpose_reference.py) and float64 central differences, exactness for rational
inputs, the refusals, the usual mistakes, practice, the command's two spellings and the
bundled problem."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conv_transpose_reference import conv_transpose as reference
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, run_spec, spec_error

from gradcalc.core import practice, registry
from gradcalc.core.grading import Problem
from gradcalc.core.ops.conv_transpose import (
    ConvTransposeGeometry,
    transposed_forward,
    transposed_grad_input,
    transposed_grad_kernel,
)
from gradcalc.core.spec import SolveOptions


@st.composite
def geometries(draw: Any) -> dict[str, Any]:
    """A random transposed convolution PyTorch accepts: groups dividing the channels,
    output_padding below the stride or the dilation, an output of at least one cell."""
    groups = draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    extra = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    case = {
        "batch": draw(st.integers(1, 2)),
        "in_channels": groups * draw(st.integers(1, 2)),
        "out_per_group": draw(st.integers(1, 2)),
        "groups": groups,
        "size": (draw(st.integers(1, 4)), draw(st.integers(1, 4))),
        "kernel": (draw(st.integers(1, 3)), draw(st.integers(1, 3))),
        "stride": stride,
        "padding": tuple(draw(st.integers(0, 2)) for _ in range(4)),
        "dilation": dilation,
        "output_padding": extra,
        "seed": draw(st.integers(0, 10_000)),
    }
    geometry = _geometry(case)
    if geometry.out_h < 1 or geometry.out_w < 1:
        case["padding"] = (0, 0, 0, 0)
    return case


def _geometry(case: dict[str, Any]) -> ConvTransposeGeometry:
    return ConvTransposeGeometry(
        batch=case["batch"],
        in_channels=case["in_channels"],
        out_channels=case["out_per_group"] * case["groups"],
        groups=case["groups"],
        in_h=case["size"][0],
        in_w=case["size"][1],
        kernel_h=case["kernel"][0],
        kernel_w=case["kernel"][1],
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        output_padding=case["output_padding"],
    )


def _operands(case: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = _geometry(case)
    rng = np.random.default_rng(case["seed"])
    x = rng.integers(-3, 4, (t.batch, t.in_channels, t.in_h, t.in_w))
    w = rng.integers(-3, 4, (t.in_channels, t.out_per_group, t.kernel_h, t.kernel_w))
    up = rng.integers(-3, 4, (t.batch, t.out_channels, t.out_h, t.out_w))
    return x, w, up


def _reference(case: dict[str, Any], x, w, up, zero: Any = 0) -> dict[str, Any]:
    return reference(
        x.tolist(),
        w.tolist(),
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        output_padding=case["output_padding"],
        groups=case["groups"],
        upstream=up.tolist(),
        zero=zero,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometries())
def test_op_matches_the_plain_loop_scatter(case: dict[str, Any]) -> None:
    t = _geometry(case)
    x, w, up = _operands(case)
    expected = _reference(case, x, w, up)
    assert transposed_forward(x, w, t).tolist() == expected["output"]
    assert transposed_grad_input(up, w, t).tolist() == expected["grad_input"]
    assert transposed_grad_kernel(up, x, t).tolist() == expected["grad_kernel"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometries())
def test_gradients_match_central_differences(case: dict[str, Any]) -> None:
    t = _geometry(case)
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((t.batch, t.in_channels, t.in_h, t.in_w))
    w = rng.standard_normal((t.in_channels, t.out_per_group, t.kernel_h, t.kernel_w))
    up = rng.standard_normal((t.batch, t.out_channels, t.out_h, t.out_w))

    def loss(x_: np.ndarray, w_: np.ndarray) -> float:
        return float(np.sum(up * transposed_forward(x_, w_, t)))

    h = 1e-6
    for values, grad, is_input in (
        (x, transposed_grad_input(up, w, t), True),
        (w, transposed_grad_kernel(up, x, t), False),
    ):
        for flat in range(values.size):
            step = np.zeros(values.size)
            step[flat] = h
            step = step.reshape(values.shape)
            if is_input:
                numeric = (loss(x + step, w) - loss(x - step, w)) / (2 * h)
            else:
                numeric = (loss(x, w + step) - loss(x, w - step)) / (2 * h)
            assert abs(numeric - grad.flat[flat]) <= 1e-6 * (1 + abs(numeric))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(geometries(), st.integers(1, 5))
def test_kind_is_exact_for_rational_inputs(case: dict[str, Any], denominator: int) -> None:
    """The kind's results equal the plain-loop scatter on Fractions, exactly."""
    x, w, up = _operands(case)
    x = np.vectorize(lambda v: Fraction(int(v), denominator), otypes=[object])(x)
    spec = {
        "kind": "conv_transpose",
        "input": [[[[str(v) for v in row] for row in c] for c in n] for n in x.tolist()],
        "kernel": w.tolist(),
        "upstream": up.tolist(),
        "stride": list(case["stride"]),
        "padding": list(case["padding"]),
        "dilation": list(case["dilation"]),
        "output_padding": list(case["output_padding"]),
        "groups": case["groups"],
        "bias": [1] * (case["out_per_group"] * case["groups"]),
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    expected = reference(
        x.tolist(),
        w.tolist(),
        stride=case["stride"],
        padding=case["padding"],
        dilation=case["dilation"],
        output_padding=case["output_padding"],
        groups=case["groups"],
        upstream=up.tolist(),
        bias=[Fraction(1)] * (case["out_per_group"] * case["groups"]),
        zero=Fraction(0),
    )
    for name in ("output", "grad_input", "grad_kernel", "grad_bias"):
        got = np.asarray(solution.results[name], dtype=object)
        assert all(isinstance(v, (int, Fraction)) for v in got.ravel()), name
        assert got.tolist() == expected[name], name


def test_bundled_problem_passes_and_doubles_the_map() -> None:
    result = run("run", "problems/conv_transpose_doubling.yaml", "--no-color")
    assert result.exit_code == 0, result.stdout
    assert "= (2 − 1)·2 − 1 − 1 + 1·(3 − 1) + 1 + 1 = 4" in result.stdout
    assert "conv_transpose forward = the input-gradient of conv" in result.stdout
    assert "✓ rebuilt from conv2d's outputs on unit images" in result.stdout
    assert "equal ✓" in result.stdout


@pytest.mark.parametrize("command", ["conv-transpose", "conv_transpose"])
def test_both_spellings_of_the_command(command: str) -> None:
    result = run(
        command, "--input", "1 2; 3 4", "--kernel", "1 0; -1 2", "--stride", "2", "--steps", "all"
    )
    assert result.exit_code == 0, result.stderr
    assert "y_33 = x_11·w_11" in result.stdout
    listed = run("--help").stdout
    # issue 15: the command is conv-transpose; conv_transpose is accepted but not listed.
    assert "\n  conv-transpose " in listed and "\n  conv_transpose " not in listed
    practice = run("random", "--help").stdout
    assert "\n  conv-transpose " in practice and "\n  conv_transpose " not in practice
    usage = run(command, "--help").stdout
    assert f" {command} [OPTIONS]" in usage.splitlines()[0]


def test_scatter_lists_are_cut() -> None:
    """An input entry scattering more than nine products names nine and says how many more."""
    kernel = "; ".join(" ".join(["1"] * 4) for _ in range(4))
    result = run("conv-transpose", "--input", "1;", "--kernel", kernel, "--show", "forward")
    assert result.exit_code == 0, result.stderr
    assert "… 7 more" in result.stdout


BAD = {
    "output_padding not below stride or dilation": (
        "input: [[1, 2], [3, 4]]\nkernel: [[1, 0], [0, 1]]\nstride: 2\noutput_padding: 2\n",
        (4, 17),
        "output_padding 2 (rows) must be smaller than the stride (2) or the dilation (1)",
    ),
    "output_padding of one axis": (
        "input: [[1, 2], [3, 4]]\nkernel: [[1, 0], [0, 1]]\nstride: [2, 1]\n"
        "output_padding: [1, 1]\n",
        (4, 21),
        "output_padding 1 (cols) must be smaller than the stride (1) or the dilation (1)",
    ),
    "groups not dividing": (
        "input: [[[1]], [[2]], [[3]]]\nkernel: [[[[1]]], [[[1]]], [[[1]]]]\ngroups: 2\n",
        (3, 9),
        "groups 2 does not divide the input's 3 channels",
    ),
    "kernel of the wrong rank": (
        "input: [[[1, 2]], [[3, 4]]]\nkernel: [[[1, 0]], [[0, 1]]]\n",
        (2, 9),
        "the kernel has 3 axes (2×1×2)",
    ),
    "kernel channels": (
        "input: [[[1, 2]], [[3, 4]]]\nkernel: [[[[1, 0]]]]\n",
        (2, 9),
        "the kernel has 1 input channel but the input has 2",
    ),
    "padding eats the output": (
        "input: [[1]]\nkernel: [[1]]\npadding: 1\n",
        (3, 10),
        "cuts away the only row of the scattered output",
    ),
    "padding word": (
        "input: [[1]]\nkernel: [[1]]\npadding: same\n",
        (3, 10),
        "a transposed convolution takes numbers",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    got_line, got_column, message = spec_error(run_spec(tmp_path, "conv-transpose", text))
    assert (got_line, got_column) == (line, column), message
    assert words in message, message


DOUBLING = {
    "kind": "conv_transpose",
    "input": [[1, 2], [3, 4]],
    "kernel": [[1, 0, -1], [2, 1, 0], [0, 1, 1]],
    "stride": 2,
    "padding": 1,
    "output_padding": 1,
    "upstream": [[1, 0, 2, -1], [0, 1, 1, 0], [2, -1, 0, 1], [1, 1, -2, 0]],
}


def _diagnosis(spec: dict[str, Any], result: str, answer: Any) -> str:
    grade = Problem(spec).grade({result: answer})
    one = next(r for r in grade.results if r.name == result)
    assert not one.ok
    return one.diagnosis


def test_output_padding_forgotten_is_named() -> None:
    without = {k: v for k, v in DOUBLING.items() if k not in ("output_padding", "upstream")}
    output = registry.solve(without, SolveOptions(sections=frozenset())).results["output"]
    assert "without output_padding (1)" in _diagnosis(DOUBLING, "output", output.tolist())
    assert "without output_padding (1)" in _diagnosis(DOUBLING, "output_shape", [3, 3])


def test_stride_on_the_output_is_named() -> None:
    spec = {"kind": "conv_transpose", "input": [[1, 2, 0], [3, 4, 1], [0, 1, 2]]}
    spec["kernel"] = [[1, 0], [-1, 2]]
    spec["stride"] = 2
    stride_one = {**spec, "stride": 1}
    output = registry.solve(stride_one, SolveOptions(sections=frozenset())).results["output"]
    words = "stride applied to the output"
    assert words in _diagnosis(spec, "output", np.asarray(output)[::2, ::2].tolist())
    assert words in _diagnosis(spec, "output_shape", [2, 2])


def test_sign_and_upstream_mistakes_are_named() -> None:
    key = registry.solve(DOUBLING, SolveOptions(sections=frozenset())).results
    negated = (-np.asarray(key["grad_input"], dtype=object)).tolist()
    assert "sign was flipped" in _diagnosis(DOUBLING, "grad_input", negated)
    ones = {k: v for k, v in DOUBLING.items() if k != "upstream"}
    forgot = registry.solve(ones, SolveOptions(sections=frozenset())).results["grad_kernel"]
    assert "upstream" in _diagnosis(DOUBLING, "grad_kernel", forgot.tolist())


def test_practice_problems_are_clean_and_solve() -> None:
    for seed in range(10):
        problem = practice.make_problem("conv_transpose", seed, {})
        for value in problem.answers.values():
            for entry in np.asarray(value, dtype=object).ravel():
                assert Fraction(str(entry)).denominator == 1
    for command in ("conv-transpose", "conv_transpose"):
        result = run("random", command, "--seed", "2", "--channels", "2", "--output-padding", "1")
        assert result.exit_code == 0, result.stderr
        assert "output_padding: 1" in result.stdout
    grouped = run("random", "conv_transpose", "--seed", "1", "--channels", "4", "--groups", "2")
    assert grouped.exit_code == 0 and "groups: 2" in grouped.stdout


def test_json_and_new(tmp_path: Path) -> None:
    result = run(
        "conv-transpose", "--spec", "problems/conv_transpose_doubling.yaml", "--format", "json"
    )
    data = json.loads(result.stdout)
    assert data["results"]["output_shape"] == [4, 4]
    assert data["results"]["grad_bias"] == 6
    starter = run("new", "conv-transpose")
    assert starter.exit_code == 0 and "kind: conv_transpose" in starter.stdout
    path = tmp_path / "new.yaml"
    path.write_text(starter.stdout, encoding="utf-8")
    assert run("run", str(path)).exit_code == 0


def test_conv_transpose_as_a_net_layer_matches_the_reference() -> None:
    """conv_transpose (2 output channels, bias) → flatten, upstream given: the layer's output
    and gradients are the plain-loop scatter's, exactly, and the chain's check passes."""
    x = [[[1, -1], [2, 0]]]
    kernel = [[[[1, 0, -1], [2, 1, 0], [0, 1, 1]], [[0, 1, 0], [1, 0, 1], [1, 1, 0]]]]
    up = [[((i * 7 + 3) % 5) - 2 for i in range(row * 16, row * 16 + 16)] for row in range(2)]
    spec = {
        "kind": "net",
        "input": x,
        "layers": [
            {
                "type": "conv_transpose",
                "name": "up",
                "kernel": kernel,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
                "bias": [1, "-1/2"],
            },
            "flatten",
        ],
        "upstream": up,
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    grid = np.array(up, dtype=object).reshape(1, 2, 4, 4).tolist()
    expected = reference(
        [x],
        kernel,
        stride=(2, 2),
        padding=(1, 1, 1, 1),
        output_padding=(1, 1),
        bias=[Fraction(1), Fraction(-1, 2)],
        upstream=grid,
        zero=Fraction(0),
    )
    assert np.asarray(solution.results["up.output"]).tolist() == expected["output"][0]
    assert np.asarray(solution.results["grad_input"]).tolist() == expected["grad_input"][0]
    assert np.asarray(solution.results["up.grad_kernel"]).tolist() == expected["grad_kernel"]
    assert np.asarray(solution.results["up.grad_bias"]).tolist() == expected["grad_bias"]
    floats = registry.solve(spec, SolveOptions(sections=frozenset(), force_float=True))
    assert np.allclose(
        np.asarray(floats.results["up.grad_kernel"], dtype=float),
        np.asarray(expected["grad_kernel"], dtype=float),
    )


GROUPED = """kind: conv_transpose
input: [[[[1, 2], [0, "1/2"]], [[2, -1], [1, 1]]], [[[0, 1], [3, -2]], [[1, 1], [-1, 0]]]]
kernel: [[[[1, 2], [0, 1]], [[1, -1], [2, 0]]], [[[1, 0], [-1, 1]], [[0, 2], [1, 1]]]]
groups: 2
stride: [2, 1]
padding: [1, 0, 0, 1]
dilation: [1, 2]
output_padding: [1, 1]
bias: [1, 2, "-1/3", 0]
upstream: ones
"""


# output_padding 2 ≥ stride 1 (PyTorch allows it below the dilation 3): the conv that maps the
# output back has 3×3 outputs for the 2×2 input.
BEYOND_STRIDE = """kind: conv_transpose
input: [[1, 2], [3, "-1/2"]]
kernel: [[1, 2], [3, 4]]
dilation: 3
output_padding: 2
upstream: ones
"""


@pytest.mark.parametrize("spec", [GROUPED, BEYOND_STRIDE], ids=["grouped", "beyond-stride"])
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_every_displayed_step_is_true(tmp_path: Path, spec: str, options) -> None:
    """groups, a batch, asymmetric padding, dilation and output_padding (also at least the
    stride): every displayed equation is true and matched to its result
    (tests/equation_truth.py), and the identity holds."""
    from test_displayed_equations import audit

    path = tmp_path / "problem.yaml"
    path.write_text(spec, encoding="utf-8")
    shown = " ".join(run("run", str(path), "--no-color", "--steps", "all").stdout.split())
    assert "✓ rebuilt from conv2d's outputs on unit images" in shown
    problems, count, compared, matched = audit(path, *options)
    assert count and compared and matched
    assert not problems, problems[:3]
