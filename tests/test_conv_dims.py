"""conv with ``dims: 1`` (PyTorch conv1d) and ``groups`` (grouped and depthwise convolution):
exact results against plain loops (tests/conv_dims_reference.py), gradients against float64
central differences, and the refusals (groups not dividing the channels, a kernel of the wrong
rank for dims), each one located line with exit 2."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import conv_dims_reference as ref
import numpy as np
import pytest
from click.testing import CliRunner
from drawn_values import fractions_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.spec import Limits, SolveOptions

LIMITS = Limits(max_jacobian=10**6)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
small = st.integers(-3, 3)
entry = st.one_of(small, fractions_between(-2, 2, max_denominator=4))


def _array(draw, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return [draw(entry) for _ in range(shape[0])]
    return [_array(draw, shape[1:]) for _ in range(shape[0])]


def _text(value: Any) -> Any:
    """Fractions as spec strings ("1/2"), ints as they are."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    return str(value) if isinstance(value, Fraction) and value.denominator != 1 else int(value)


@st.composite
def cases(draw, dims: int) -> dict[str, Any]:
    """A random grouped conv (1-D or 2-D) with its spec and the loops' answers."""
    groups = draw(st.integers(1, 3))
    group_in, group_out = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    channels, out_channels = groups * group_in, groups * group_out
    batch = draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(dims))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(dims))
    padding = tuple((draw(st.integers(0, 2)), draw(st.integers(0, 2))) for _ in range(dims))
    sizes = tuple(
        draw(st.integers(max(1, d * (k - 1) + 1 - sum(p)), 6))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    )
    x = _array(draw, (batch, channels, *sizes))
    w = _array(draw, (out_channels, group_in, *kernel))
    hyper = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y, _, _ = ref.conv_nd(x, w, zero=Fraction(0), **hyper)
    out_shape = np.array(y, dtype=object).shape
    upstream = _array(draw, out_shape)
    y, grad_x, grad_w = ref.conv_nd(x, w, upstream=upstream, zero=Fraction(0), **hyper)
    if dims == 1:
        spec_padding = [padding[0][0], padding[0][1]]
        spec_stride, spec_dilation = [stride[0]], dilation[0]
    else:
        spec_padding = [p for pair in padding for p in pair]
        spec_stride, spec_dilation = list(stride), list(dilation)
    spec = {
        "kind": "conv",
        "dims": dims,
        "input": _text(x),
        "kernel": _text(w),
        "stride": spec_stride,
        "dilation": spec_dilation,
        "padding": spec_padding,
        "groups": groups,
        "upstream": _text(upstream),
    }
    return {
        "spec": spec,
        "y": y,
        "grad_x": grad_x,
        "grad_w": grad_w,
        "x": x,
        "w": w,
        "upstream": upstream,
    }


def _same(got: Any, want: Any) -> None:
    got = np.asarray(got, dtype=object)
    want = np.array(want, dtype=object)
    assert got.shape == want.shape
    for index in np.ndindex(*got.shape):
        assert isinstance(got[index], (int, Fraction)), "exact mode gave a float"
        assert got[index] == want[index], index


@pytest.mark.parametrize("dims", [1, 2])
@SETTINGS
@given(data=st.data())
def test_exact_results_equal_plain_loops(dims: int, data) -> None:
    case = data.draw(cases(dims))
    solution = registry.solve(case["spec"], SolveOptions(limits=LIMITS))
    results = solution.results
    _same(results["output"], case["y"])
    _same(results["grad_input"], case["grad_x"])
    _same(results["grad_kernel"], case["grad_w"])


@pytest.mark.parametrize("dims", [1, 2])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_gradients_match_central_differences(dims: int, data) -> None:
    """∂L/∂x and ∂L/∂w against float64 central differences of the loops' L = Σ up ⊙ y."""
    case = data.draw(cases(dims))
    spec = case["spec"]
    results = registry.solve(spec, SolveOptions(force_float=True, limits=LIMITS)).results
    hyper = _hyper(spec, dims)
    upstream = np.array(case["upstream"], dtype=object).astype(float).tolist()
    x = np.array(case["x"], dtype=object).astype(float)
    w = np.array(case["w"], dtype=object).astype(float)

    def loss(x_values: np.ndarray, w_values: np.ndarray) -> float:
        y, _, _ = ref.conv_nd(x_values.tolist(), w_values.tolist(), zero=0.0, **hyper)
        return float(np.sum(np.array(y) * np.array(upstream)))

    h = 1e-6
    for name, array, got in (("x", x, results["grad_input"]), ("w", w, results["grad_kernel"])):
        got = np.asarray(got, dtype=float)
        for index in list(np.ndindex(*array.shape))[:12]:
            plus, minus = array.copy(), array.copy()
            plus[index] += h
            minus[index] -= h
            pair = (plus, w) if name == "x" else (x, plus)
            pair_minus = (minus, w) if name == "x" else (x, minus)
            numeric = (loss(*pair) - loss(*pair_minus)) / (2 * h)
            assert abs(numeric - got[index]) < 1e-5, (name, index, numeric, got[index])


def _hyper(spec: dict[str, Any], dims: int) -> dict[str, Any]:
    if dims == 1:
        left, right = spec["padding"]
        return dict(
            stride=tuple(spec["stride"]),
            padding=((left, right),),
            dilation=(spec["dilation"],),
            groups=spec["groups"],
        )
    top, bottom, left, right = spec["padding"]
    return dict(
        stride=tuple(spec["stride"]),
        padding=((top, bottom), (left, right)),
        dilation=tuple(spec["dilation"]),
        groups=spec["groups"],
    )


# ---------------------------------------------------------------------------
# Shapes as the spec writes them


def test_vector_input_and_kernel_is_1d_and_says_so() -> None:
    spec = {"kind": "conv", "input": [1, 2, -1, 3], "kernel": [1, -1], "padding": [1, 0]}
    solution = registry.solve(spec, SolveOptions())
    assert list(solution.results["output"]) == [-1, -1, 3, -4]
    assert solution.results["output_shape"] == [4]
    result = run_cli("conv", "--input", "1 2 -1 3", "--kernel", "1 -1", "--no-color")
    assert result.exit_code == 0, result.output
    assert "1-D convolution (dims 1, read from the vector input and vector kernel)" in result.stdout
    assert "y[i] = Σ_m x[i+m]·w[m]" in result.stdout


def test_1d_channels_and_batch_keep_their_axes() -> None:
    spec = {
        "kind": "conv",
        "dims": 1,
        "input": [[[1, 2, 3], [0, 1, -1]]],  # N×C×L = 1×2×3
        "kernel": [[1, 1], [2, -1]],  # C×k: one filter, no output-channel axis
    }
    results = registry.solve(spec, SolveOptions()).results
    assert results["output_shape"] == [1, 2]
    # y[i] = x0[i] + x0[i+1] + 2·x1[i] − x1[i+1]: 1 + 2 + 0 − 1, 2 + 3 + 2 + 1
    assert [list(row) for row in results["output"]] == [[2, 8]]


def test_causal_padding_reads_only_the_past() -> None:
    spec = {"kind": "conv", "input": [5, 0, 0, 0], "kernel": [1, 2, 3], "padding": [2, 0]}
    results = registry.solve(spec, SolveOptions()).results
    # x[0] = 5 reaches y[0] (tap 2), y[1] (tap 1) and y[2] (tap 0) only: nothing before it.
    assert list(results["output"]) == [15, 10, 5, 0]


def test_depthwise_reads_only_its_own_channel() -> None:
    spec = {
        "kind": "conv",
        "input": [[[1, 0], [0, 0]], [[0, 0], [0, 7]]],
        "kernel": [[[[1, 1], [1, 1]]], [[[2, 2], [2, 2]]]],
        "groups": 2,
    }
    results = registry.solve(spec, SolveOptions()).results
    assert [[list(r) for r in channel] for channel in results["output"]] == [[[1]], [[14]]]
    assert np.asarray(results["grad_kernel"]).shape == (2, 1, 2, 2)


# ---------------------------------------------------------------------------
# Refusals: one located line, exit 2


def run_cli(*args: str):
    return CliRunner().invoke(
        main, list(args), env={"COLUMNS": "100", "NO_COLOR": None, "FORCE_COLOR": None}
    )


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "input: [[[1, 2], [3, 4]], [[1, 2], [3, 4]], [[0, 1], [1, 0]]]\n"
            "kernel: [[[[1]]], [[[1]]], [[[1]]]]\ngroups: 2\n",
            "spec.yaml:3:9",
            "groups 2 does not divide the 3 input channels",
        ),
        (
            "input: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\n"
            "kernel: [[[[1]]], [[[1]]], [[[1]]]]\ngroups: 2\n",
            "spec.yaml:3:9",
            "groups 2 does not divide the 3 output channels",
        ),
        (
            "input: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\n"
            "kernel: [[[[1]], [[1]]], [[[1]], [[1]]]]\ngroups: 2\n",
            "spec.yaml:2:9",
            "with groups 2 the kernel is C_out×(C_in/groups)×…",
        ),
        (
            "dims: 1\ninput: [1, 2, 3]\nkernel: [[[[1]]]]\n",
            "spec.yaml:3:9",
            "the kernel has 4 axes but dims is 1: give k, C_in×k or C_out×C_in×k",
        ),
        (
            "input: [[1, 2, 3], [4, 5, 6]]\nkernel: [1, 1]\n",
            "spec.yaml:2:9",
            "the kernel has 1 axis but dims is 2",
        ),
        (
            "input: [1, 2, 3]\nkernel: [[1, 1]]\n",
            "spec.yaml:1:8",
            "a vector input is a 1-D signal: give a vector kernel too, or dims: 1",
        ),
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\npadding: [1, 0, 1]\n",
            "spec.yaml:3:10",
            "padding is a list of 3 in a 1-D convolution",
        ),
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\nstride: [1, 2]\n",
            "spec.yaml:3:9",
            "stride is a list of 2 in a 1-D convolution",
        ),
        (
            "dims: 3\ninput: [1, 2, 3]\nkernel: [1, 1]\n",
            "spec.yaml:1:7",
            "dims",
        ),
    ],
)
def test_bad_input_is_one_located_line(tmp_path: Path, text: str, where: str, words: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("kind: conv\n" + text, encoding="utf-8")
    result = run_cli("conv", "--spec", str(path))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    line_number = int(where.split(":")[1]) + 1  # the "kind: conv" line comes first
    assert f"spec.yaml:{line_number}:{where.split(':')[2]}" in lines[0], lines[0]
    assert words in lines[0], lines[0]


# ---------------------------------------------------------------------------
# gradcalc check: groups ignored; the 1-D problem's slips


def _diagnose(spec: dict[str, Any], result: str, answer: Any) -> tuple[bool, str]:
    from gradcalc.core.grading import Problem

    grade = Problem(spec).grade({result: answer})
    graded = next(r for r in grade.results if r.name == result)
    return graded.ok, graded.diagnosis


def _bundled(name: str) -> dict[str, Any]:
    from gradcalc.cli.spec_loader import load_file
    from gradcalc.problems import PROBLEMS_DIR

    return dict(load_file(str(PROBLEMS_DIR / name)).data)


def _listed(value: Any) -> Any:
    array = np.asarray(value, dtype=object)
    return str(array[()]) if array.ndim == 0 else [_listed(row) for row in array]


@pytest.mark.parametrize("result", ["output", "grad_input"])
def test_groups_ignored_is_diagnosed(result: str) -> None:
    spec = _bundled("conv_depthwise.yaml")
    # The student's way: a plain convolution, each filter applied to every input channel.
    wrong = {k: v for k, v in spec.items() if k not in ("expected", "groups")}
    kernel = np.array(spec["kernel"], dtype=object)
    wrong["kernel"] = np.concatenate([kernel, kernel], axis=1).tolist()
    answer = _listed(registry.solve(wrong, SolveOptions()).results[result])
    ok, diagnosis = _diagnose(spec, result, answer)
    assert not ok
    assert diagnosis.startswith(f"{result} matches the result with groups 2 ignored"), diagnosis
    right = _listed(registry.solve(spec, SolveOptions()).results[result])
    assert _diagnose(spec, result, right) == (True, "")


def test_1d_kernel_flip_and_padding_ignored_are_diagnosed() -> None:
    spec = _bundled("conv1d_causal.yaml")
    flipped = {k: v for k, v in spec.items() if k != "expected"}
    flipped["flip_kernel"] = True
    answer = _listed(registry.solve(flipped, SolveOptions()).results["grad_input"])
    ok, diagnosis = _diagnose(spec, "grad_input", answer)
    assert not ok and "true convolution" in diagnosis
    unpadded = {k: v for k, v in spec.items() if k not in ("expected", "upstream", "padding")}
    answer = _listed(registry.solve(unpadded, SolveOptions()).results["output"])
    ok, diagnosis = _diagnose(spec, "output", answer)
    assert not ok and "the padding ([2, 0]) was ignored" in diagnosis, diagnosis


# ---------------------------------------------------------------------------
# Practice, gradcalc new and gradcalc net


@pytest.mark.parametrize("seed", range(6))
def test_random_conv_dims_1_solves_with_clean_numbers(tmp_path: Path, seed: int) -> None:
    spec_path, key_path = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run_cli(
        "random",
        "conv",
        "--dims",
        "1",
        "--seed",
        str(seed),
        "-o",
        str(spec_path),
        "--answers",
        str(key_path),
    )
    assert made.exit_code == 0, made.output
    import yaml

    spec = yaml.safe_load(spec_path.read_text("utf-8"))
    assert spec["dims"] == 1
    assert np.ndim(spec["input"]) == np.ndim(spec["kernel"]) - 0 or spec["dims"] == 1
    solved = run_cli("conv", "--spec", str(spec_path), "--format", "json")
    assert solved.exit_code == 0, solved.output
    checked = run_cli("check", str(key_path), "--format", "json")
    assert checked.exit_code == 0, checked.output


def test_net_conv_layer_with_dims_1() -> None:
    spec = {
        "kind": "net",
        "input": [[[1, 2, -1, 3, 0]]],  # N×C×L
        "layers": [
            {"type": "conv", "dims": 1, "kernel": [[[1, -1, 2]]], "bias": [1], "padding": [2, 0]},
            "relu",
            "flatten",
        ],
        "upstream": [[1, 0, -1, 2, 1]],
    }
    results = registry.solve(spec, SolveOptions()).results
    # conv: y[i] = x[i−2] − x[i−1] + 2·x[i] + 1 = [3, 4, −4, 10, −2]; relu zeroes y[4].
    assert [list(row) for row in np.asarray(results["output"])] == [[3, 4, 0, 10, 0]]
    grad = registry.solve(spec, SolveOptions()).results["grad_input"]
    x = np.array([1, 2, -1, 3, 0], dtype=float)
    up = np.array([1, 0, -1, 2, 1], dtype=float)

    def loss(values: np.ndarray) -> float:
        padded = np.concatenate([[0.0, 0.0], values])
        y = padded[:-2] - padded[1:-1] + 2 * padded[2:] + 1
        return float(np.sum(np.maximum(y, 0) * up))

    numeric = [
        (loss(x + np.eye(5)[i] * 1e-6) - loss(x - np.eye(5)[i] * 1e-6)) / 2e-6 for i in range(5)
    ]
    assert np.allclose(np.asarray(grad, dtype=float).ravel(), numeric, atol=1e-6)


def test_new_conv_lists_dims_and_groups() -> None:
    made = run_cli("new", "conv")
    assert made.exit_code == 0, made.output
    assert "groups" in made.stdout and "dims" in made.stdout


# ---------------------------------------------------------------------------
# --focus in 1-D notation and with groups


def test_focus_on_a_1d_output_and_input() -> None:
    spec = _bundled_path("conv1d_causal.yaml")
    result = run_cli("conv", "--spec", spec, "--focus", "output[0]", "--show", "results")
    assert result.exit_code == 0, result.output
    assert "window 0 puts tap m on position i·s + m·d − p = 0·1 + m·1 − 2 = −2, −1, 0" in (
        result.stdout
    )
    assert "y_0 = x_0·w_2" in result.stdout
    result = run_cli("conv", "--spec", spec, "--focus", "input[3]", "--show", "results")
    assert result.exit_code == 0, result.output
    assert "position 3 = i·1 + m·1 − 2 = 3 for (i, m) = (3, 2), (4, 1), (5, 0)" in result.stdout
    assert "window tap m" in result.stdout


def test_focus_on_a_1d_output_with_channels_takes_the_position_alone() -> None:
    """The short form names the spatial indices only, as output[i,j] does in 2-D: in 1-D the
    position.  output[1] on a C_out×L output was refused ("has 1 index; allowed: 2 (o,
    col)"), and every --focus message offered output[i,j] in 1-D (output[t,i,j] in 3-D)."""
    options = ["--dims", "1", "--input", "[[1, 2, 3, 4], [0, 1, 0, 1]]"]
    options += ["--kernel", "[[[1, -1], [2, 0]]]", "--show", "results"]
    short = run_cli("conv", *options, "--focus", "output[1]")
    assert short.exit_code == 0, short.output
    assert "the 2 cells of x that y_01 reads" in short.stdout
    assert short.stdout == run_cli("conv", *options, "--focus", "output[0,1]").stdout
    wrong = run_cli("conv", *options, "--focus", "w[1]")
    assert wrong.exit_code == 2
    assert "allowed: output[i] or input[i] or y[i] or x[i], indices from 0" in wrong.stderr
    volume = run_cli("conv", "--spec", _bundled_path("conv3d_clip_strided.yaml"), "--focus", "w[1]")
    assert "allowed: output[t,i,j] or input[t,i,j]" in volume.stderr


def test_focus_with_groups_reads_only_the_group() -> None:
    spec = _bundled_path("conv_depthwise.yaml")
    result = run_cli("conv", "--spec", spec, "--focus", "output[1,0,0]", "--show", "results")
    assert result.exit_code == 0, result.output
    assert "(input channel 1, its group)" in result.stdout
    assert "x [c=0]" not in result.stdout
    result = run_cli("conv", "--spec", spec, "--focus", "input[0,1,1]", "--show", "results")
    assert result.exit_code == 0, result.output
    assert "y [o=1]" not in result.stdout  # channel 0 feeds output channel 0 only


def _bundled_path(name: str) -> str:
    from gradcalc.problems import PROBLEMS_DIR

    return str(PROBLEMS_DIR / name)
