"""conv_transpose with dims 3 (issue 15: PyTorch's conv_transpose3d): the op
(core/ops/conv_transpose3d.py, built on conv3d's) against a plain-loop scatter
(tests/conv_transpose3d_reference.py) exactly on rationals and against float64 central
differences of the loops."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conv_transpose3d_reference import conv_transpose3d, out_sizes
from drawn_values import fractions_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.core.ops.conv_transpose3d import (
    ConvTranspose3dGeometry,
    transposed3d_forward,
    transposed3d_grad_input,
    transposed3d_grad_kernel,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENTRY = fractions_between(-3, 3, max_denominator=4)


def _nested(draw: Any, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return [draw(ENTRY) for _ in range(shape[0])]
    return [_nested(draw, shape[1:]) for _ in range(shape[0])]


@st.composite
def geometries(draw: Any) -> dict[str, Any]:
    """A conv_transpose3d PyTorch accepts: groups dividing C_in, output_padding below the
    stride or the dilation on each axis, at least one output cell on each axis."""
    groups = draw(st.integers(1, 2))
    in_channels, per_out = groups * draw(st.integers(1, 2)), draw(st.integers(1, 2))
    size = tuple(draw(st.integers(1, 3)) for _ in range(3))
    kernel = tuple(draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(3))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(3))
    extra = tuple(
        draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
    )
    padding = tuple(draw(st.integers(0, 1)) for _ in range(6))
    if min(out_sizes(size, kernel, stride, padding, dilation, extra)) < 1:
        padding = (0,) * 6
    return dict(
        batch=draw(st.integers(1, 2)),
        in_channels=in_channels,
        out_channels=per_out * groups,
        groups=groups,
        in_size=size,
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=extra,
    )


def _hyper(g: dict[str, Any]) -> dict[str, Any]:
    keys = ("stride", "padding", "dilation", "output_padding", "groups")
    return {k: g[k] for k in keys}


@SETTINGS
@given(data=st.data())
def test_op_equals_the_plain_loop_scatter_exactly(data: Any) -> None:
    g = data.draw(geometries())
    t = ConvTranspose3dGeometry(**g)
    x = _nested(data.draw, t.input_shape)
    w = _nested(data.draw, t.kernel_shape)
    up = _nested(data.draw, t.output_shape)
    want = conv_transpose3d(x, w, upstream=up, zero=Fraction(0), **_hyper(g))
    xa, wa, upa = (np.array(v, dtype=object) for v in (x, w, up))
    y = transposed3d_forward(xa, wa, t)
    assert y.shape == t.output_shape
    assert (y == np.array(want["output"], dtype=object)).all()
    assert (transposed3d_grad_input(upa, wa, t) == np.array(want["grad_input"], dtype=object)).all()
    grad_w = transposed3d_grad_kernel(upa, xa, t)
    assert (grad_w == np.array(want["grad_kernel"], dtype=object)).all()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_op_gradients_match_central_differences_of_the_loops(data: Any) -> None:
    """∂L/∂x and ∂L/∂w of L = Σ up ⊙ y (float64) against central differences of the loops."""
    g = data.draw(geometries())
    t = ConvTranspose3dGeometry(**g)
    x, w, up = (
        np.array(_nested(data.draw, shape), dtype=object).astype(float)
        for shape in (t.input_shape, t.kernel_shape, t.output_shape)
    )

    def loss(x_values: np.ndarray, w_values: np.ndarray) -> float:
        out = conv_transpose3d(x_values.tolist(), w_values.tolist(), zero=0.0, **_hyper(g))
        return float(np.sum(np.array(out["output"]) * up))

    h = 1e-6
    for name, array, got in (
        ("x", x, transposed3d_grad_input(up, w, t)),
        ("w", w, transposed3d_grad_kernel(up, x, t)),
    ):
        for index in np.ndindex(*array.shape):
            plus, minus = array.copy(), array.copy()
            plus[index] += h
            minus[index] -= h
            numeric = (
                loss(plus, w) - loss(minus, w) if name == "x" else loss(x, plus) - loss(x, minus)
            ) / (2 * h)
            assert abs(numeric - got[index]) < 1e-5, (name, index, numeric, got[index])


# ---------------------------------------------------------------------------
# The kind: gradcalc conv-transpose with dims: 3


def _text(value: Any) -> Any:
    """Fractions as spec strings ("1/2"), ints as they are."""
    if isinstance(value, list):
        return [_text(v) for v in value]
    return str(value) if value.denominator != 1 else int(value)


def _same(got: Any, want: Any) -> None:
    got, want = np.asarray(got, dtype=object), np.array(want, dtype=object)
    assert got.shape == want.shape
    for index in np.ndindex(*got.shape):
        assert isinstance(got[index], (int, Fraction)), "exact mode gave a float"
        assert got[index] == want[index], index


def _spec_form(values: tuple[int, ...], draw: Any, sides: bool = False) -> Any:
    """A triple (or six sides) as the spec may write it: one number when all agree, else the
    list (the padding's six sides as three when both sides of each axis agree)."""
    if len(set(values)) == 1 and draw(st.booleans()):
        return values[0]
    if sides and values[::2] == values[1::2] and draw(st.booleans()):
        return list(values[::2])
    return list(values)


@SETTINGS
@given(data=st.data())
def test_kind_results_equal_the_plain_loop_scatter(data: Any) -> None:
    from gradcalc.core import registry
    from gradcalc.core.spec import Limits, SolveOptions

    g = data.draw(geometries())
    t = ConvTranspose3dGeometry(**g)
    x, w = _nested(data.draw, t.input_shape), _nested(data.draw, t.kernel_shape)
    bias, up = _nested(data.draw, (t.out_channels,)), _nested(data.draw, t.output_shape)
    want = conv_transpose3d(x, w, bias=bias, upstream=up, zero=Fraction(0), **_hyper(g))
    spec = {
        "kind": "conv_transpose",
        "dims": 3,
        "input": _text(x),
        "kernel": _text(w),
        "bias": _text(bias),
        "upstream": _text(up),
        "groups": g["groups"],
        "stride": _spec_form(g["stride"], data.draw),
        "dilation": _spec_form(g["dilation"], data.draw),
        "padding": _spec_form(g["padding"], data.draw, sides=True),
        "output_padding": _spec_form(g["output_padding"], data.draw),
    }
    solution = registry.solve(spec, SolveOptions(limits=Limits(max_jacobian=10**6)))
    assert solution.exact and solution.gradient_check.ok
    assert solution.results["output_shape"] == list(t.output_shape)
    for name in ("output", "grad_input", "grad_kernel", "grad_bias"):
        _same(solution.results[name], want[name])
    floats = registry.solve(spec, SolveOptions(force_float=True, sections=frozenset()))
    assert not floats.exact and floats.gradient_check.ok
    for name in ("output", "grad_input", "grad_kernel"):
        got = np.asarray(floats.results[name], dtype=float)
        assert np.allclose(got, np.array(want[name], dtype=object).astype(float), atol=1e-9)


def test_jacobians_are_the_loops_on_unit_arrays() -> None:
    """∂y/∂w column k is the loops' output with w = e_k (and ∂y/∂x likewise): bilinear."""
    from gradcalc.core import registry
    from gradcalc.core.spec import SolveOptions

    x = [[[[1, 2], [0, -1]], [[3, 1], [2, 2]]], [[[0, 1], [1, 1]], [[-2, 1], [1, 0]]]]
    w = [[[[[1, -1]], [[2, 1]]]], [[[[0, 1]], [[1, 3]]]]]  # 2×1×2×1×2, groups 2
    hyper = dict(stride=(2, 1, 2), padding=(0, 1, 0, 0, 1, 0), groups=2)
    spec = {"kind": "conv_transpose", "dims": 3, "input": [x], "kernel": w, "groups": 2,
            "stride": [2, 1, 2], "padding": [0, 1, 0, 0, 1, 0]}  # fmt: skip
    results = registry.solve(spec, SolveOptions()).results
    full = dict(stride=hyper["stride"], padding=hyper["padding"], groups=2)
    for name, array, other in (("jacobian_kernel", w, [x]), ("jacobian_input", [x], w)):
        flat = np.array(array, dtype=object).ravel()
        columns = []
        for k in range(flat.size):
            unit = np.zeros(flat.size, dtype=object)
            unit[k] = 1
            unit = unit.reshape(np.shape(array)).tolist()
            pair = (other, unit) if name == "jacobian_kernel" else (unit, other)
            columns.append(np.array(conv_transpose3d(*pair, **full)["output"]).ravel())
        assert (np.asarray(results[name], dtype=object) == np.array(columns).T).all()


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[1]]]\nstride: 2\noutput_padding: [0, 0, 2]\n",
            (6, 24),
            "output_padding 2 (cols) must be smaller than the stride (2) or the dilation (1), "
            "as in PyTorch",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[1]]]\noutput_padding: 1\n",
            (5, 17),
            "output_padding 1 (depth) must be smaller than the stride (1) or the dilation (1)",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[[1]]]]\n",
            (4, 9),
            "the kernel has 4 axes (1×1×1×1) but dims is 3: a 3-D transposed convolution takes "
            "kd×kh×kw or C_in×(C_out/g)×kd×kh×kw (PyTorch's weight layout",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[1, 2]]\n",
            (4, 9),
            "the kernel has 2 axes (1×2) but dims is 3: a 3-D transposed convolution takes "
            "kd×kh×kw or C_in×(C_out/g)×kd×kh×kw",
        ),
        (
            "dims: 3\ninput: [[1, 2]]\nkernel: [[1, 2]]\n",
            (2, 7),
            "dims 3 (a 3-D transposed convolution) takes the input as D×H×W, C_in×D×H×W or "
            "N×C_in×D×H×W and the kernel as kd×kh×kw or C_in×(C_out/g)×kd×kh×kw, but the input "
            "has 2 axes and the kernel 2 axes; set dims: 2",
        ),
        (
            "input: [[[[[1, 2]]]]]\nkernel: [[[[[1]]]]]\n",
            (2, 8),
            "for a 3-D transposed convolution (a volume) set dims: 3",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[1]]]\npadding: [1, 0]\n",
            (5, 10),
            "padding is a list of 2 in a 3-D convolution; allowed: an integer, [depth, rows, "
            "cols] (both sides of each axis), or [front, back, top, bottom, left, right]",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[1]]]\npadding: same\n",
            (5, 10),
            "a transposed convolution takes numbers (an integer, [depth, rows, cols] or "
            "[front, back, top, bottom, left, right])",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[1]]]\npadding: [0, 0, 0, 0, 1, 1]\n",
            (5, 10),
            "the padding (1 + 1) cuts away all 2 columns of the scattered output",
        ),
        (
            "dims: 3\ninput: [[[[1]]], [[[2]]], [[[3]]]]\nkernel: [[[[[1]]]], [[[[1]]]], "
            "[[[[1]]]]]\ngroups: 2\n",
            (5, 9),
            "groups 2 does not divide the input's 3 channels",
        ),
        (
            "dims: 3\ninput: [[[1, 2]]]\nkernel: [[[1]]]\nstride: [1, 2]\n",
            (5, 9),
            "stride is a list of 2 in a 3-D convolution",
        ),
    ],
)
def test_bad_input_is_one_located_line(
    tmp_path: Path, text: str, where: tuple[int, int], words: str
) -> None:
    from nn_cli import run, spec_error

    path = tmp_path / "spec.yaml"
    path.write_text("kind: conv_transpose\n" + text, encoding="utf-8")
    result = run("run", str(path))
    assert result.exit_code == 2
    line, column, message = spec_error(result)
    assert (line, column) == where, message
    assert words in message, message


GROUPED_3D = """kind: conv_transpose
dims: 3
input: [[[[1, 2], ["1/2", -1]], [[0, 1], [2, 1]]], [[[2, 0], [1, 1]], [[-1, 1], [1, 0]]]]
kernel: [[[[[1, 2]], [[0, -1]]]], [[[[1, 0]], [[2, 1]]]]]
groups: 2
stride: [2, 1, 3]
padding: [1, 0, 0, 1, 2, 1]
dilation: [1, 2, 1]
output_padding: [1, 1, 0]
bias: [1, "-1/2"]
upstream: ones
"""
CUT_OFF_3D = """kind: conv_transpose
dims: 3
index_base: 1
input: [[[1, -2]], [[3, 1]]]
kernel: [[[2, 1]], [[-1, 1]]]
stride: 2
padding: [1, 0, 1]
"""


@pytest.mark.parametrize("spec", [GROUPED_3D, CUT_OFF_3D], ids=["grouped", "cut-off"])
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_every_displayed_step_is_true(tmp_path: Path, spec: str, options: tuple) -> None:
    from test_displayed_equations import audit

    path = tmp_path / "problem.yaml"
    path.write_text(spec, encoding="utf-8")
    problems, count, compared, matched = audit(path, *options)
    assert count and compared and matched
    assert not problems, problems[:3]


def test_the_explanation_shows_sizes_slices_and_the_identity(tmp_path: Path) -> None:
    from nn_cli import run

    path = tmp_path / "problem.yaml"
    path.write_text(GROUPED_3D, encoding="utf-8")
    result = run("run", str(path), "--no-color", "--steps", "all")
    assert result.exit_code == 0, result.stdout
    shown = " ".join(result.stdout.split())
    assert "PyTorch conv_transpose3d" in shown
    assert "D_out = (D − 1)·s − p_front − p_back + d·(kd − 1) + output_padding + 1" in shown
    assert "= (2 − 1)·2 − 1 − 0 + 1·(2 − 1) + 1 + 1 = 4" in shown  # depth
    assert "= (2 − 1)·1 − 0 − 1 + 2·(1 − 1) + 1 + 1 = 2" in shown  # rows (op ≥ stride)
    assert "= (2 − 1)·3 − 2 − 1 + 1·(2 − 1) + 0 + 1 = 2" in shown  # columns
    assert "input depth slice 1 (channel 0):" in shown
    assert "output depth slice 2 (channel 1):" in shown
    assert "∂L/∂x, input depth slice 0 (channel 1):" in shown
    assert "conv3d(∂L/∂y, w) with stride 2×1×3" in shown and "groups 2" in shown
    assert "that conv's output is larger than the input" in shown
    assert "✓ rebuilt from conv3d's outputs on unit volumes, entry for entry" in shown
    assert "equal ✓" in shown and "✗" not in shown


def test_net_conv_transpose_3d_layer_matches_the_reference() -> None:
    """A 3-D transposed convolution as a layer of gradcalc net, then a relu."""
    from gradcalc.core import registry
    from gradcalc.core.spec import SolveOptions

    x = [[[[1, 2], [-1, 0]], [[0, 1], [2, -2]]]]  # C_in×D×H×W = 1×2×2×2
    kernel = [[[[[1, -1], [2, 1]]], [[[0, 1], [1, 1]]]]]  # 1×2×1×2×2 (C_out 2)
    spec = {
        "kind": "net",
        "input": x,
        "layers": [
            {"type": "conv_transpose", "name": "up", "dims": 3, "kernel": kernel,
             "stride": [1, 2, 2], "output_padding": [0, 1, 0], "bias": [1, "-1/2"]},
        ],
    }  # fmt: skip
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    out = conv_transpose3d([x], kernel, stride=(1, 2, 2), output_padding=(0, 1, 0),
                           bias=[1, Fraction(-1, 2)], zero=Fraction(0))["output"]  # fmt: skip
    ones = np.ones(np.shape(out), dtype=int).tolist()
    want = conv_transpose3d(
        [x], kernel, stride=(1, 2, 2), output_padding=(0, 1, 0), bias=[1, Fraction(-1, 2)],
        upstream=ones, zero=Fraction(0),
    )  # fmt: skip
    assert np.asarray(solution.results["up.output"]).tolist() == want["output"][0]
    assert np.asarray(solution.results["grad_input"]).tolist() == want["grad_input"][0]
    assert np.asarray(solution.results["up.grad_kernel"]).tolist() == want["grad_kernel"]
    assert list(solution.results["up.grad_bias"]) == want["grad_bias"]
    shown = registry.solve(spec, SolveOptions())  # the explanation builds without error
    assert shown.sections


# ---------------------------------------------------------------------------
# gradcalc check: the usual mistakes of a 3-D transposed convolution

SPEC = {
    "kind": "conv_transpose",
    "dims": 3,
    "input": [[[[1, 2], [-1, 0]], [[0, 1], [2, 1]]], [[[2, -1], [0, 1]], [[1, 1], [0, -2]]]],
    "kernel": [[[[[1, -1], [2, 0]]]], [[[[0, 1], [1, 1]]]]],  # 2×1×1×2×2, groups 2
    "groups": 2,
    "stride": [1, 2, 2],
    "padding": [0, 0, 1, 0, 0, 1],
    "output_padding": [0, 1, 1],
}


def _output(spec: dict[str, Any]) -> list:
    from gradcalc.core import registry
    from gradcalc.core.spec import SolveOptions

    return np.asarray(registry.solve(spec, SolveOptions(sections=frozenset())).results["output"])


def _diagnosis(answer: Any) -> str:
    from gradcalc.core.grading import Problem

    graded = Problem(SPEC).grade({"output": np.asarray(answer).tolist()}).results[0]
    assert not graded.ok
    return graded.diagnosis


def test_usual_mistakes_are_named_in_3d() -> None:
    answer = _output({k: v for k, v in SPEC.items() if k != "output_padding"})
    assert (
        "without output_padding ([0, 1, 1]): the extra depth slices, rows and columns at the "
        "back, bottom and right were forgotten" in _diagnosis(answer)
    )
    plain = {k: v for k, v in SPEC.items() if k != "output_padding"}
    answer = _output({**plain, "stride": 1})[:, :, ::2, ::2]
    assert "the stride applied to the output" in _diagnosis(answer)
    answer = _output({k: v for k, v in SPEC.items() if k != "groups"})
    assert "with groups (2) ignored" in _diagnosis(answer)
    answer = _output({**SPEC, "padding": 0})
    assert "the padding ([0, 0, 1, 0, 0, 1]) cut off the scattered output" in _diagnosis(answer)


@pytest.mark.parametrize(
    "sizes",
    [
        (),
        ("--channels", "2", "--groups", "2", "--out-channels", "2", "--batch", "2"),
        ("--padding", "1", "--output-padding", "1", "--depth", "3", "--kernel-size", "2"),
    ],
)
def test_random_conv_transpose_dims_3_is_graded_right(tmp_path: Path, sizes: tuple) -> None:
    from nn_cli import run

    spec, key = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run(
        "random", "conv-transpose", "--seed", "5", "--dims", "3", *sizes,
        "-o", str(spec), "--answers", str(key),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert "dims: 3" in spec.read_text(encoding="utf-8")
    graded = run("check", str(key), "--format", "json")
    assert graded.exit_code == 0, graded.stdout


# ---------------------------------------------------------------------------
# The bundled problem

BUNDLED = Path(__file__).resolve().parents[1] / "problems" / "conv_transpose3d_grouped.yaml"
TORCH = Path("/work/torchenv/bin/python")
TORCH_SCRIPT = """
import json, sys, torch
spec = json.load(sys.stdin)
x, w, b = (torch.tensor([spec[k]] if k == "input" else spec[k], dtype=torch.float64,
           requires_grad=True) for k in ("input", "kernel", "bias"))
y = torch.nn.functional.conv_transpose3d(x, w, b, stride=2, padding=(0, 0, 0), groups=2,
                                         output_padding=(1, 1, 0))
y = y[:, :, 1:, : y.shape[3] - 1, :]  # padding [1, 0, 0, 1, 0, 0]: front 1, bottom 1
up = torch.tensor([spec["upstream"]], dtype=torch.float64)
gx, gw, gb = torch.autograd.grad(y, (x, w, b), up)
print(json.dumps({"output": y[0].tolist(), "grad_input": gx[0].tolist(),
                  "grad_kernel": gw.tolist(), "grad_bias": gb.tolist()}))
"""


def _bundled() -> dict[str, Any]:
    import yaml

    return yaml.safe_load(BUNDLED.read_text(encoding="utf-8"))


def test_bundled_problem_expected_values_are_the_loops() -> None:
    spec = _bundled()
    fractions = lambda v: np.vectorize(Fraction)(np.array(v, dtype=object)).tolist()  # noqa: E731
    want = conv_transpose3d(
        [fractions(spec["input"])], fractions(spec["kernel"]), bias=fractions(spec["bias"]),
        upstream=[fractions(spec["upstream"])], stride=(2, 2, 2), padding=(1, 0, 0, 1, 0, 0),
        output_padding=(1, 1, 0), groups=2, zero=Fraction(0),
    )  # fmt: skip
    expected = spec["expected"]
    assert expected["output_shape"] == list(np.shape(want["output"][0]))
    for name, value in (
        ("output", want["output"][0]),
        ("grad_input", want["grad_input"][0]),
        ("grad_kernel", want["grad_kernel"]),
        ("grad_bias", want["grad_bias"]),
    ):
        assert fractions(expected[name]) == value, name


@pytest.mark.skipif(not TORCH.exists(), reason="no PyTorch environment at /work/torchenv")
def test_bundled_problem_expected_values_are_pytorchs() -> None:
    import json
    import subprocess

    spec = _bundled()
    plain = lambda v: np.vectorize(float)(np.vectorize(Fraction)(np.array(v, dtype=object)))  # noqa: E731
    sent = {k: plain(spec[k]).tolist() for k in ("input", "kernel", "bias", "upstream")}
    done = subprocess.run(
        [str(TORCH), "-c", TORCH_SCRIPT], input=json.dumps(sent), capture_output=True,
        text=True, check=True, timeout=300,
    )  # fmt: skip
    theirs = json.loads(done.stdout)
    for name, value in theirs.items():
        assert np.allclose(plain(spec["expected"][name]), value, rtol=0, atol=1e-12), name


def test_bundled_problem_runs_and_matches() -> None:
    from nn_cli import run

    result = run("run", str(BUNDLED), "--no-color")
    assert result.exit_code == 0, result.stdout
    shown = " ".join(result.stdout.split())
    assert "✓ output: 128 values match" in shown
    assert "✓ rebuilt from conv3d's outputs on unit volumes" in shown
    assert "MISMATCH" not in shown and "✗" not in shown


def test_bundled_problem_every_displayed_step_is_true() -> None:
    from test_displayed_equations import audit

    problems, count, compared, matched = audit(BUNDLED)
    assert count and compared and matched
    assert not problems, problems[:3]
