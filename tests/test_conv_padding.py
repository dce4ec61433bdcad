"""conv's padding modes (reflect, replicate, circular; PyTorch's Conv2d padding_mode) and
``padding: full``: against a plain-loop reference (tests/conv_padding_reference.py), float64
central finite differences, the refusals PyTorch makes, gradcalc check, gradcalc random and
gradcalc net."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import conv_padding_reference as ref
import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import Limits, SolveOptions
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}
MODES = ("zeros", "reflect", "replicate", "circular")
SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
QUIET = SolveOptions(
    sections=frozenset({"jacobian"}), gradient_check=False, limits=Limits(max_jacobian=10**6)
)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), env=ENV, input=input)


def nested(array: np.ndarray) -> Any:
    return np.asarray(array, dtype=object).tolist()


def fits(mode: str, pad: int, size: int) -> bool:
    """PyTorch's rule, written here from its error messages: reflect < size, circular ≤ size."""
    return {"reflect": pad < size, "circular": pad <= size}.get(mode, True)


@st.composite
def cases(draw) -> dict[str, Any]:
    """A random NCHW conv with a padding mode: the spec and what the reference needs."""
    batch, channels, out_channels = (draw(st.integers(1, 2)) for _ in range(3))
    height, width = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    mode = draw(st.sampled_from(MODES))
    form = draw(st.sampled_from(("quad", "full", "same")))
    if form == "quad":
        padding = tuple(draw(st.integers(0, 4)) for _ in range(4))
        written: Any = list(padding)
    elif form == "full":
        ph, pw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
        padding, written = (ph, ph, pw, pw), "full"
    else:
        stride = (1, 1)
        th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
        padding, written = (th // 2, th - th // 2, tw // 2, tw - tw // 2), "same"
    assume(
        all(fits(mode, p, s) for p, s in zip(padding, (height, height, width, width), strict=True))
    )
    assume(height + padding[0] + padding[1] >= dilation[0] * (kh - 1) + 1)
    assume(width + padding[2] + padding[3] >= dilation[1] * (kw - 1) + 1)

    def array(shape: tuple[int, ...]) -> list:
        values = draw(
            st.lists(st.integers(-4, 4), min_size=math.prod(shape), max_size=math.prod(shape))
        )
        denominators = draw(st.sampled_from((1, 2, 3)))
        flat = [Fraction(v, denominators) for v in values]
        return np.array(flat, dtype=object).reshape(shape).tolist()

    x = array((batch, channels, height, width))
    w = array((out_channels, channels, kh, kw))
    bias = array((out_channels,)) if draw(st.booleans()) else None
    flip = draw(st.booleans())
    top, bottom, left, right = padding
    out_h = (height + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (width + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    upstream = array((batch, out_channels, out_h, out_w))
    spec = {
        "kind": "conv",
        "input": [[[[str(v) for v in row] for row in c] for c in n] for n in x],
        "kernel": [[[[str(v) for v in row] for row in c] for c in o] for o in w],
        "stride": list(stride),
        "dilation": list(dilation),
        "padding": written,
        "padding_mode": mode,
        "flip_kernel": flip,
        "upstream": [[[[str(v) for v in row] for row in c] for c in n] for n in upstream],
    }
    if bias is not None:
        spec["bias"] = [str(v) for v in bias]
    hyper = dict(stride=stride, padding=padding, dilation=dilation, mode=mode, flip=flip)
    return dict(spec=spec, x=x, w=w, bias=bias, upstream=upstream, hyper=hyper)


@SETTINGS
@given(cases())
def test_exact_results_match_the_plain_loop_reference(case: dict[str, Any]) -> None:
    solution = registry.solve(case["spec"], QUIET)
    results = solution.results
    assert solution.exact
    expected_y = ref.conv2d(case["x"], case["w"], bias=case["bias"], **case["hyper"])
    grad_x, grad_w = ref.conv2d_backward(case["x"], case["w"], case["upstream"], **case["hyper"])
    assert nested(results["output"]) == expected_y
    assert nested(results["grad_input"]) == grad_x
    assert nested(results["grad_kernel"]) == grad_w
    if case["bias"] is not None:
        sums = np.asarray(case["upstream"], dtype=object).sum(axis=(0, 2, 3)).tolist()
        assert nested(results["grad_bias"]) == sums
    # ∂y/∂x column by column: the output of a unit input (linear in x, no bias).
    jacobian = np.asarray(results["jacobian_input"], dtype=object)
    flat_x = np.asarray(case["x"], dtype=object)
    for index in list(np.ndindex(flat_x.shape))[:6]:
        unit = np.zeros(flat_x.shape, dtype=object)
        unit.fill(0)
        unit[index] = 1
        column = ref.conv2d(unit.tolist(), case["w"], **case["hyper"])
        flat = int(np.ravel_multi_index(index, flat_x.shape))
        assert jacobian[:, flat].tolist() == np.asarray(column, dtype=object).ravel().tolist()
    up = np.asarray(case["upstream"], dtype=object).ravel()
    assert (up @ jacobian).tolist() == np.asarray(grad_x, dtype=object).ravel().tolist()


@SETTINGS
@given(cases())
def test_float_gradients_match_central_finite_differences(case: dict[str, Any]) -> None:
    """float64 run against central differences of L = Σ upstream ⊙ y (the reference's loops)."""
    options = SolveOptions(sections=frozenset(), gradient_check=False, force_float=True)
    results = registry.solve(case["spec"], options).results
    x = np.asarray(case["x"], dtype=float)
    w = np.asarray(case["w"], dtype=float)
    up = np.asarray(case["upstream"], dtype=float)

    def loss(x_: np.ndarray, w_: np.ndarray) -> float:
        y = np.asarray(ref.conv2d(x_.tolist(), w_.tolist(), **case["hyper"]), dtype=float)
        return float(np.sum(up * y))

    step = 1e-6
    for array, analytic, name in (
        (x, results["grad_input"], "x"),
        (w, results["grad_kernel"], "w"),
    ):
        for index in list(np.ndindex(array.shape))[:8]:
            plus, minus = array.copy(), array.copy()
            plus[index] += step
            minus[index] -= step
            if name == "x":
                numeric = (loss(plus, w) - loss(minus, w)) / (2 * step)
            else:
                numeric = (loss(x, plus) - loss(x, minus)) / (2 * step)
            value = float(np.asarray(analytic, dtype=float)[index])
            assert abs(numeric - value) <= 1e-6 * (1 + abs(value)), (name, index, numeric, value)


@pytest.mark.parametrize("mode", MODES[1:])
def test_pad_op_is_exact_on_fractions_and_its_backward_is_the_adjoint(mode: str) -> None:
    from gradcalc.core.ops.pad import pad_backward_input, pad_forward

    x = np.array([Fraction(k, 3) for k in range(12)], dtype=object).reshape(1, 1, 3, 4)
    padding = (2, 1, 3, 0) if mode != "reflect" else (2, 1, 3, 0)
    padded = pad_forward(x, padding, mode)
    assert padded.tolist() == [[ref.padded(x.tolist(), padding, mode)[0][0]]]
    g = np.array([Fraction(k, 7) for k in range(padded.size)], dtype=object).reshape(padded.shape)
    back = pad_backward_input(g, x.shape, padding, mode)
    assert back.dtype == object
    # <pad(x), g> = <x, padᵀ(g)> for the exact adjoint.
    assert (padded * g).sum() == (x * back).sum()


def test_bundled_reflect_problem_shows_the_padded_input_and_the_fold() -> None:
    path = PROBLEMS_DIR / "conv_reflect_padding.yaml"
    result = run("run", str(path), "--steps", "all")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "reflect padding: each padded cell mirrors the input" in out
    assert "xpad row ← x row: 0 ← 1, 4 ← 1" in out
    assert "folding the padding back" in out
    assert "∂L/∂x_11 = Σ ∂L/∂xpad over the cells that copy x_11" in out
    assert "= 1 − 2 + 2 + 2 + 0 + 3 = 6" in out
    assert "H_padded = H + p_top + p_bottom" in out
    assert "OK — every check passed" in out


def test_full_padding_is_d_times_k_minus_1_each_side() -> None:
    result = run("conv", "--input", "1 2 3; 4 5 6", "--kernel", "1 -1; 2 0", "--padding", "full",
                 "--dilation", "2", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)["results"]
    x = [[[[1, 2, 3], [4, 5, 6]]]]
    w = [[[[1, -1], [2, 0]]]]
    expected = ref.conv2d(x, w, padding=(2, 2, 2, 2), dilation=(2, 2))
    assert answer["output"] == expected[0][0]


# ---------------------------------------------------------------------------
# Refusals: one located line, exit 2


REFUSALS = {
    "reflect not smaller than the input": (
        "padding: [0, 0, 3, 0]\npadding_mode: reflect\n",
        "4:10: padding: reflect padding of 3 on the left is not smaller than the input's 3 columns",
    ),
    "reflect from padding same": (
        "padding: same\npadding_mode: reflect\nkernel: [[1, 1, 1, 1, 1, 1, 1]]\n",
        "3:10: padding: reflect padding of 3 on the left is not smaller than the input's 3 columns",
    ),
    "circular wraps more than once": (
        "padding: [3, 0]\npadding_mode: circular\n",
        "4:10: padding: circular padding of 3 on the top is not at most the input's 2 rows",
    ),
    "unknown mode": (
        "padding: 1\npadding_mode: mirror\n",
        "5:15: padding_mode: unknown padding_mode 'mirror'; allowed: zeros, reflect, replicate, circular",
    ),
    "mode not a word": ("padding: 1\npadding_mode: 3\n", "5:15: padding_mode:"),
}


@pytest.mark.parametrize("name", REFUSALS)
def test_refusals_are_one_located_line(name: str, tmp_path: Path) -> None:
    keys, message = REFUSALS[name]
    kernel = "" if "kernel:" in keys else "kernel: [[1, 0], [0, 1]]\n"
    spec = tmp_path / "spec.yaml"
    spec.write_text("kind: conv\ninput: [[1, 2, 3], [4, 5, 6]]\n" + kernel + keys, encoding="utf-8")
    result = run("run", str(spec))
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{spec}:"), lines[0]
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output


def test_reflect_padding_equal_to_input_minus_one_is_allowed() -> None:
    result = run("conv", "--input", "1 2 3; 4 5 6", "--kernel", "1;", "--padding", "1x2",
                 "--padding-mode", "reflect", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (
        json.loads(result.stdout)["results"]["output"]
        == ref.padded([[[[1, 2, 3], [4, 5, 6]]]], (1, 1, 2, 2), "reflect")[0][0]
    )


def test_focus_on_an_input_cell_is_refused_with_copied_padding_output_works() -> None:
    path = str(PROBLEMS_DIR / "conv_reflect_padding.yaml")
    refused = run("run", path, "--focus", "input[1,1]")
    assert refused.exit_code == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "also read through its copies in the padding" in refused.stderr
    shown = run("run", path, "--focus", "output[0,0]")
    assert shown.exit_code == 0, shown.output
    assert "y_00" in shown.stdout


# ---------------------------------------------------------------------------
# gradcalc check, gradcalc random, gradcalc net


def test_check_names_reflect_padding_treated_as_zeros() -> None:
    spec = yaml.safe_load((PROBLEMS_DIR / "conv_reflect_padding.yaml").read_text(encoding="utf-8"))
    zeros = dict(spec, padding_mode="zeros")
    zeros.pop("expected")
    wrong = registry.solve(zeros, QUIET).results["grad_input"]
    grade = Problem(spec).grade({"grad_input": [[str(v) for v in row] for row in wrong]})
    graded = next(r for r in grade.results if r.name == "grad_input")
    assert not graded.ok
    assert "the reflect padding was treated as zeros" in graded.diagnosis


@pytest.mark.parametrize("mode", MODES[1:])
def test_practice_draws_a_padding_mode(mode: str, tmp_path: Path) -> None:
    spec, key = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run("random", "conv", "--seed", "4", "--size", "3x4", "--kernel-size", "3",
               "--padding", "1", "--padding-mode", mode, "-o", str(spec), "--answers", str(key))  # fmt: skip
    assert made.exit_code == 0, made.output
    data = yaml.safe_load(spec.read_text(encoding="utf-8"))
    assert data["padding_mode"] == mode
    checked = run("check", str(spec), str(key))
    assert checked.exit_code == 0, checked.output


def test_practice_without_the_mode_writes_no_padding_mode() -> None:
    made = run("random", "conv", "--seed", "0")
    assert made.exit_code == 0
    assert "padding_mode" not in made.stdout and "padding-mode" not in made.stdout


NET = """kind: net
input: [[[1, 0, 2, -1], [3, -2, 1, 0], [0, 1, -1, 2]]]
layers:
  - {type: conv, kernel: [[[[1, -1], [0, 2]]]], bias: [1], padding: 1, padding_mode: MODE}
  - relu
  - flatten
names: {input: x}
"""


@pytest.mark.parametrize("mode", MODES[1:])
@pytest.mark.parametrize("arithmetic", ("exact", "float"))
def test_net_conv_layer_with_a_padding_mode(mode: str, arithmetic: str, tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(NET.replace("MODE", mode), encoding="utf-8")
    extra = ("--float",) if arithmetic == "float" else ()
    result = run("run", str(spec), "--format", "json", *extra)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    x = [[[[1, 0, 2, -1], [3, -2, 1, 0], [0, 1, -1, 2]]]]
    w = [[[[1, -1], [0, 2]]]]
    hyper = dict(padding=(1, 1, 1, 1), mode=mode)
    y = ref.conv2d(x, w, bias=[1], **hyper)
    # L = Σ relu(y): the upstream of the conv is 1 where y > 0.
    upstream = [[[[1 if v > 0 else 0 for v in row] for row in y[0][0]]]]
    grad_x, grad_w = ref.conv2d_backward(x, w, upstream, **hyper)
    assert np.allclose(
        np.asarray(answer["results"]["grad_input"], dtype=float), np.asarray(grad_x[0], dtype=float)
    )
    assert np.allclose(
        np.asarray(answer["results"]["conv1.grad_kernel"], dtype=float),
        np.asarray(grad_w, dtype=float),
    )
    assert answer["gradient_check"]["ok"] if "ok" in answer.get("gradient_check", {}) else True
    assert "MISMATCH" not in run("run", str(spec), *extra).stdout


def test_a_1d_convolution_pads_by_copies_and_takes_full(tmp_path: Path) -> None:
    """Padding modes work in 1-D (issue 15; they were refused until the 1-D explanation drew
    them): F.pad on the signal's one axis, then the convolution; padding full is d·(k−1) on
    each side in 1-D too."""
    spec = tmp_path / "p.yaml"
    spec.write_text(
        "kind: conv\ninput: [1, 2, 3]\nkernel: [1, 1]\npadding: 1\npadding_mode: reflect\n"
    )
    result = CliRunner().invoke(main, ["run", str(spec), "--format", "json"], env=ENV)
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    # [2, 1, 2, 3, 2] correlated with [1, 1]; x_1 and x_2 are also read through their copies
    assert results["output"] == [3, 3, 5, 5]
    assert results["grad_input"] == [2, 4, 2]  # x_1 sums xpad_0, xpad_2 and xpad_4
    spec.write_text("kind: conv\ninput: [1, 2, 3]\nkernel: [1, -1]\npadding: full\n")
    result = CliRunner().invoke(main, ["run", str(spec), "--format", "json"], env=ENV)
    assert result.exit_code == 0, result.output
    results = json.loads(result.output)["results"]
    # [0, 1, 2, 3, 0] correlated with [1, −1]
    assert results["output"] == [-1, -1, -1, 3]
