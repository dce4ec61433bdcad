"""conv_transpose with dims 1 (issue 15: PyTorch's conv_transpose1d): the kind against a
plain-loop 1-D scatter (tests/conv_transpose1d_reference.py) exactly and against float64
central differences of it, the vector reading without the key, the refusals (one located
line, exit 2), the usual mistakes, practice, a net layer and the truth of every displayed
step."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conv_transpose1d_reference import conv_transpose1d
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, spec_error
from test_conv_dims import _array, _same, _text  # random exact entries, exact comparison

from gradcalc.core import registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import Limits, SolveOptions

LIMITS = Limits(max_jacobian=10**6)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    """A random conv_transpose1d PyTorch accepts (groups dividing C_in, output_padding below
    the stride or the dilation, at least one output position), its spec and the loops' answers."""
    groups = draw(st.integers(1, 3))
    in_channels, per_out = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    batch, length, k = draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 3))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    extra = draw(st.integers(0, max(stride, dilation) - 1))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    if (length - 1) * stride + dilation * (k - 1) + 1 - sum(padding) + extra < 1:
        padding = (0, 0)
    x = _array(draw, (batch, in_channels, length))
    w = _array(draw, (in_channels, per_out, k))
    bias = _array(draw, (per_out * groups,))
    hyper = dict(
        stride=stride, padding=padding, dilation=dilation, output_padding=extra, groups=groups
    )
    out = conv_transpose1d(x, w, bias=bias, zero=Fraction(0), **hyper)["output"]
    upstream = _array(draw, np.array(out, dtype=object).shape)
    answers = conv_transpose1d(x, w, bias=bias, upstream=upstream, zero=Fraction(0), **hyper)
    spec = {
        "kind": "conv_transpose",
        "dims": 1,
        "input": _text(x),
        "kernel": _text(w),
        "bias": _text(bias),
        "stride": [stride] if draw(st.booleans()) else stride,
        "padding": list(padding) if padding[0] != padding[1] else padding[0],
        "dilation": dilation,
        "output_padding": extra,
        "groups": groups,
        "upstream": _text(upstream),
    }
    return {"spec": spec, "answers": answers, "hyper": hyper, "x": x, "w": w, "bias": bias}


@SETTINGS
@given(cases())
def test_exact_results_equal_the_plain_loop_scatter(case: dict[str, Any]) -> None:
    solution = registry.solve(case["spec"], SolveOptions(limits=LIMITS))
    assert solution.exact and solution.gradient_check.ok
    for name in ("output", "grad_input", "grad_kernel", "grad_bias"):
        _same(solution.results[name], case["answers"][name])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_gradients_match_central_differences_of_the_loops(case: dict[str, Any]) -> None:
    """∂L/∂x and ∂L/∂w (float mode) against float64 central differences of the loops'
    L = Σ up ⊙ y."""
    spec = case["spec"]
    results = registry.solve(spec, SolveOptions(force_float=True, limits=LIMITS)).results
    upstream = np.array(spec["upstream"], dtype=object)
    upstream = np.vectorize(lambda v: float(Fraction(v)))(upstream)
    x = np.array(case["x"], dtype=object).astype(float)
    w = np.array(case["w"], dtype=object).astype(float)
    bias = [float(b) for b in case["bias"]]

    def loss(x_values: np.ndarray, w_values: np.ndarray) -> float:
        out = conv_transpose1d(
            x_values.tolist(), w_values.tolist(), bias=bias, zero=0.0, **case["hyper"]
        )["output"]
        return float(np.sum(np.array(out) * upstream))

    h = 1e-6
    for name, array, got in (("x", x, results["grad_input"]), ("w", w, results["grad_kernel"])):
        got = np.asarray(got, dtype=float)
        for index in np.ndindex(*array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += h
            minus[index] -= h
            numeric = (
                loss(plus, w) - loss(minus, w) if name == "x" else loss(x, plus) - loss(x, minus)
            ) / (2 * h)
            assert abs(numeric - got[index]) < 1e-5, (name, index, numeric, got[index])


def test_vector_input_and_kernel_is_1d_and_says_so(tmp_path: Path) -> None:
    """A plain signal with a plain kernel: dims 1 without the key, a plain output."""
    spec = {"kind": "conv_transpose", "input": [1, 2, 3], "kernel": [1, -1, 2], "stride": 2}
    solution = registry.solve(spec, SolveOptions())
    output = np.asarray(solution.results["output"]).tolist()
    assert output == [1, -1, 4, -2, 7, -3, 6]  # (3 − 1)·2 + 1·(3 − 1) + 1 = 7
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    shown = " ".join(run("run", str(path), "--no-color").stdout.split())
    assert (
        "1-D transposed convolution (dims 1, read from the vector input and vector kernel)" in shown
    )
    assert "PyTorch conv_transpose1d" in shown
    assert "L_out = (L − 1)·s − p_left − p_right + d·(k − 1) + output_padding + 1" in shown
    assert "= (3 − 1)·2 − 0 − 0 + 1·(3 − 1) + 0 + 1 = 7" in shown
    assert "conv1d(∂L/∂y, w) with stride 2, padding [0, 0] (left, right), dilation 1" in shown
    assert "H_out" not in shown and "rows" not in shown


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "dims: 1\ninput: [[1, 2, 3]]\nkernel: [[1, 2]]\n",
            (4, 9),
            "the kernel has 2 axes (1×2) but dims is 1: a 1-D transposed convolution takes k or "
            "C_in×(C_out/g)×k (PyTorch's weight layout",
        ),
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\nstride: 2\noutput_padding: 2\n",
            (5, 17),
            "output_padding 2 must be smaller than the stride (2) or the dilation (1), as in PyTorch",
        ),
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\noutput_padding: [1]\n",
            (4, 18),
            "output_padding 1 must be smaller than the stride (1) or the dilation (1)",
        ),
        (
            "dims: 1\ninput: [[1, 2], [3, 4], [5, 6]]\nkernel: [[[1]], [[1]], [[1]]]\ngroups: 2\n",
            (5, 9),
            "groups 2 does not divide the input's 3 channels",
        ),
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\npadding: same\n",
            (4, 10),
            "a transposed convolution takes numbers (an integer or [left, right])",
        ),
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\npadding: [1, 0, 1]\n",
            (4, 10),
            "padding is a list of 3 in a 1-D convolution",
        ),
        (
            "input: [1, 2]\nkernel: [1]\npadding: [1, 1]\n",
            (4, 10),
            "the padding (1 + 1) cuts away all 2 positions of the scattered output",
        ),
        (
            "dims: 1\ninput: [[[[1, 2]]]]\nkernel: [1]\n",
            (3, 8),
            "the input has 4 axes but dims is 1: give L, C_in×L or N×C_in×L",
        ),
        ("dims: 3\ninput: [1, 2, 3]\nkernel: [1, 1]\n", (2, 7), "dims 3"),
        (
            "input: [[1, 2, 3]]\nkernel: [[[1, 2]]]\n",
            (3, 9),
            "the kernel has 3 axes (1×1×2) but dims is 2: a 2-D transposed convolution takes "
            "kh×kw or C_in×(C_out/g)×kh×kw (PyTorch's weight layout: input channels first, then "
            "output channels per group); for a 1-D transposed convolution of C_in×L signals set "
            "dims: 1",
        ),
        (
            "input: [1, 2, 3]\nkernel: [[1, 1]]\n",
            (2, 8),
            "a vector input is a 1-D signal: give a vector kernel too, or dims: 1",
        ),
    ],
)
def test_bad_input_is_one_located_line(
    tmp_path: Path, text: str, where: tuple[int, int], words: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("kind: conv_transpose\n" + text, encoding="utf-8")
    line, column, message = spec_error(run("run", str(path)))
    assert (line, column) == where, message
    assert words in message, message


# ---------------------------------------------------------------------------
# gradcalc check: the usual mistakes of a 1-D transposed convolution

SPEC = {
    "kind": "conv_transpose",
    "dims": 1,
    "input": [[1, 2, -1], [0, 1, 2]],
    "kernel": [[[1, -1, 2], [2, 0, 1]], [[0, 1, 1], [1, 1, 0]]],
    "groups": 2,
    "stride": 2,
    "padding": [1, 0],
    "output_padding": 1,
}


def _output(spec: dict[str, Any]) -> list:
    return np.asarray(registry.solve(spec, SolveOptions()).results["output"]).tolist()


def _diagnosis(answer: list) -> str:
    graded = Problem(SPEC).grade({"output": answer}).results[0]
    assert not graded.ok
    return graded.diagnosis


def test_output_padding_forgotten_is_named_in_positions() -> None:
    answer = _output({k: v for k, v in SPEC.items() if k != "output_padding"})
    assert "without output_padding (1): the extra positions at the right" in _diagnosis(answer)


def test_stride_on_the_output_is_named() -> None:
    plain = {k: v for k, v in SPEC.items() if k != "output_padding"}
    answer = [row[::2] for row in _output({**plain, "stride": 1})]
    assert "the stride applied to the output" in _diagnosis(answer)
    # the stride written [2] is read as 2 for the diagnosis too
    graded = Problem({**SPEC, "stride": [2]}).grade({"output": answer}).results[0]
    assert "the stride applied to the output" in graded.diagnosis


def test_groups_and_padding_ignored_are_named() -> None:
    answer = _output({k: v for k, v in SPEC.items() if k != "groups"})
    assert "with groups (2) ignored" in _diagnosis(answer)
    answer = _output({**SPEC, "padding": 0})
    assert "the padding ([1, 0]) cut off the scattered output was ignored" in _diagnosis(answer)


# ---------------------------------------------------------------------------
# Practice, net, the bundled problem and the displayed steps


@pytest.mark.parametrize(
    "sizes",
    [
        (),
        ("--channels", "2", "--groups", "2", "--out-channels", "2", "--batch", "2"),
        ("--padding", "1", "--output-padding", "1", "--length", "4"),
    ],
)
def test_random_conv_transpose_dims_1_is_graded_right(tmp_path: Path, sizes: tuple) -> None:
    spec, key = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run("random", "conv-transpose", "--seed", "3", "--dims", "1", *sizes, "-o", str(spec))
    assert made.exit_code == 0, made.stderr
    made = run(
        "random", "conv-transpose", "--seed", "3", "--dims", "1", *sizes,
        "-o", str(spec), "--answers", str(key), "--force",
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    text = spec.read_text(encoding="utf-8")
    assert "dims: 1" in text
    graded = run("check", str(key), "--format", "json")
    assert graded.exit_code == 0, graded.stdout


def test_random_conv_transpose_2d_draws_are_unchanged() -> None:
    """--dims 2 (the default) keeps the draws it had before --dims existed."""
    plain = run("random", "conv-transpose", "--seed", "4").stdout
    explicit = run("random", "conv-transpose", "--seed", "4", "--dims", "2").stdout
    assert plain.splitlines()[1:] == explicit.splitlines()[1:]
    assert "input:\n  - [" in plain or "input: [[" in plain


def test_net_conv_transpose_1d_layer_matches_the_reference() -> None:
    x = [[1, 2, -1], [0, 1, 2]]
    kernel = [[[1, -1, 2]], [[0, 1, 1]]]
    up = [[1, -2, 0, 1, 3, -1, 2, 1]]
    spec = {
        "kind": "net",
        "input": x,
        "layers": [
            {"type": "conv_transpose", "name": "up", "dims": 1, "kernel": kernel,
             "stride": 2, "output_padding": 1, "bias": "1/2"},
        ],
        "upstream": up,
    }  # fmt: skip
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    expected = conv_transpose1d(
        [x], kernel, stride=2, output_padding=1, bias=Fraction(1, 2), upstream=[up],
        zero=Fraction(0),
    )  # fmt: skip
    assert np.asarray(solution.results["up.output"]).tolist() == expected["output"][0]
    assert np.asarray(solution.results["grad_input"]).tolist() == expected["grad_input"][0]
    assert np.asarray(solution.results["up.grad_kernel"]).tolist() == expected["grad_kernel"]
    assert solution.results["up.grad_bias"] == expected["grad_bias"]


def test_net_conv_transpose_layer_without_a_name_keeps_its_long_default() -> None:
    """An unnamed conv_transpose layer is conv_transpose1 (issue 14's naming rule), longer than
    a symbol a spec may give (12 characters): every such net was refused at
    layers[0].names.output."""
    spec = {
        "kind": "net",
        "input": [[1, 2, 3]],
        "layers": [{"type": "conv_transpose", "dims": 1, "kernel": [[[1, -1]]], "stride": 2}],
        "upstream": [[1, 0, 1, 0, 1, 0]],
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    assert np.asarray(solution.results["conv_transpose1.output"]).tolist() == [
        [1, -1, 2, -2, 3, -3]
    ]
    assert np.asarray(solution.results["conv_transpose1.grad_kernel"]).tolist() == [[[6, 0]]]


def test_bundled_problem_is_right_and_says_so() -> None:
    result = run("run", "problems/conv_transpose1d_upsample.yaml", "--no-color")
    assert result.exit_code == 0, result.stdout
    shown = " ".join(result.stdout.split())
    assert "= (3 − 1)·2 − 1 − 1 + 1·(3 − 1) + 1 + 1 = 6" in shown
    assert "✓ rebuilt from conv1d's outputs on unit images" in shown
    assert "MISMATCH" not in shown


GROUPED_1D = """kind: conv_transpose
dims: 1
input: [[[1, 2, "1/2"], [0, -1, 3]], [[2, 0, 1], [-1, 1, 1]]]
kernel: [[[1, 2], [0, -1]], [[1, 0], [2, 1]]]
groups: 2
stride: 3
padding: [2, 1]
dilation: 2
output_padding: 2
bias: [1, "-1/2", 0, 2]
upstream: ones
"""
CUT_OFF_1D = """kind: conv_transpose
input: [1, -2, 3, 1]
kernel: [2, 1, -1]
stride: 2
padding: [3, 0]
"""


@pytest.mark.parametrize("spec", [GROUPED_1D, CUT_OFF_1D], ids=["grouped", "cut-off"])
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_every_displayed_step_is_true(tmp_path: Path, spec: str, options: tuple) -> None:
    from test_displayed_equations import audit

    path = tmp_path / "problem.yaml"
    path.write_text(spec, encoding="utf-8")
    problems, count, compared, matched = audit(path, *options)
    assert count and compared and matched
    assert not problems, problems[:3]
