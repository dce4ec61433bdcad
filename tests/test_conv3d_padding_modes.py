"""padding_mode reflect | replicate | circular in a 3-D conv (issue 15, PyTorch's Conv3d
padding_mode): against a plain-loop reference (tests/conv3d_padding_reference.py) exactly and
through gradcalc's own float64 central differences, PyTorch's bound on each side refused in
one located line, a net layer, and every displayed step true."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conv3d_padding_reference import conv3d_padded
from drawn_values import fractions_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.core import registry
from gradcalc.core.spec import Limits, SolveOptions

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENTRY = fractions_between(-3, 3, max_denominator=4)
MODES = ("reflect", "replicate", "circular")


def _nested(draw: Any, shape: tuple[int, ...]) -> list:
    if len(shape) == 1:
        return [draw(ENTRY) for _ in range(shape[0])]
    return [_nested(draw, shape[1:]) for _ in range(shape[0])]


def _text(value: Any) -> Any:
    if isinstance(value, list):
        return [_text(v) for v in value]
    return str(value) if value.denominator != 1 else int(value)


def _same(got: Any, want: Any) -> None:
    got, want = np.asarray(got, dtype=object), np.array(want, dtype=object)
    assert got.shape == want.shape
    for index in np.ndindex(*got.shape):
        assert isinstance(got[index], (int, Fraction)), "exact mode gave a float"
        assert got[index] == want[index], index


@SETTINGS
@given(data=st.data())
def test_results_equal_the_plain_loops(data: Any) -> None:
    mode = data.draw(st.sampled_from(MODES))
    groups = data.draw(st.integers(1, 2))
    channels, out_channels = groups * data.draw(st.integers(1, 2)), groups
    size = tuple(data.draw(st.integers(1, 3)) for _ in range(3))
    kernel = tuple(data.draw(st.integers(1, 2)) for _ in range(3))
    stride = tuple(data.draw(st.integers(1, 2)) for _ in range(3))
    limit = (lambda s: s - 1) if mode == "reflect" else (lambda s: s if mode == "circular" else 2)
    padding = tuple(data.draw(st.integers(0, min(2, limit(size[a // 2])))) for a in range(6))
    if any(size[a] + padding[2 * a] + padding[2 * a + 1] < kernel[a] for a in range(3)):
        kernel = (1, 1, 1)
    batch = data.draw(st.integers(1, 2))
    x = _nested(data.draw, (batch, channels, *size))
    w = _nested(data.draw, (out_channels, channels // groups, *kernel))
    hyper = dict(stride=stride, padding=padding, groups=groups, mode=mode)
    out = conv3d_padded(x, w, zero=Fraction(0), **hyper)["output"]
    up = _nested(data.draw, np.array(out, dtype=object).shape)
    want = conv3d_padded(x, w, up, zero=Fraction(0), **hyper)
    spec = {
        "kind": "conv", "dims": 3, "input": _text(x), "kernel": _text(w), "upstream": _text(up),
        "stride": list(stride), "padding": list(padding), "groups": groups, "padding_mode": mode,
    }  # fmt: skip
    solution = registry.solve(spec, SolveOptions(limits=Limits(max_jacobian=10**6)))
    assert solution.exact and solution.gradient_check.ok
    for name in ("output", "grad_input", "grad_kernel"):
        _same(solution.results[name], want[name])
    if "jacobian_input" in solution.results:  # ∂y/∂x folded: its columns times up = ∂L/∂x
        jacobian = np.asarray(solution.results["jacobian_input"], dtype=object)
        folded = np.array(up, dtype=object).ravel() @ jacobian
        assert (folded == np.array(want["grad_input"], dtype=object).ravel()).all()
    floats = registry.solve(spec, SolveOptions(force_float=True, sections=frozenset()))
    assert floats.gradient_check.ok


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "padding: [0, 2, 0, 0, 0, 0]\npadding_mode: reflect\n",
            (5, 10),
            "reflect padding of 2 at the back is not smaller than the input's 2 depth slices",
        ),
        (
            "padding: [0, 0, 0, 0, 4, 0]\npadding_mode: circular\n",
            (5, 10),
            "circular padding of 4 at the left is not at most the input's 3 columns",
        ),
        ("padding_mode: mirror\n", (5, 15), "mirror"),
    ],
)
def test_bad_padding_is_one_located_line(
    tmp_path: Path, text: str, where: tuple[int, int], words: str
) -> None:
    from nn_cli import run, spec_error

    path = tmp_path / "spec.yaml"
    path.write_text(
        "kind: conv\ndims: 3\ninput: [[[1, 2, 3], [4, 5, 6]], [[1, 0, 1], [0, 1, 0]]]\n"
        "kernel: [[[1]]]\n" + text,
        encoding="utf-8",
    )
    result = run("run", str(path))
    assert result.exit_code == 2
    line, column, message = spec_error(result)
    assert (line, column) == where, message
    assert words in message, message


REFLECT_3D = """kind: conv
dims: 3
input: [[[1, 2, 0], [3, -1, 2]], [[0, "1/2", 1], [2, 2, -2]]]
kernel: [[[1, -1], [2, 0]], [[0, 1], [1, 1]]]
padding: [1, 0, 0, 1, 1, 1]
padding_mode: reflect
bias: 1
upstream: ones
"""
CIRCULAR_3D = """kind: conv
dims: 3
index_base: 1
input: [[[[1, 2], [3, -1]], [[0, 1], [2, 2]]], [[[1, 0], [0, 1]], [[2, -1], [1, 1]]]]
kernel: [[[[[1]], [[-1]]]], [[[[2]], [[1]]]]]
groups: 2
stride: [1, 1, 2]
padding: [1, 1, 0, 0, 2, 1]
padding_mode: circular
"""


@pytest.mark.parametrize("spec", [REFLECT_3D, CIRCULAR_3D], ids=["reflect", "circular"])
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_every_displayed_step_is_true(tmp_path: Path, spec: str, options: tuple) -> None:
    from test_displayed_equations import audit

    path = tmp_path / "problem.yaml"
    path.write_text(spec, encoding="utf-8")
    problems, count, compared, matched = audit(path, *options)
    assert count and compared and matched
    assert not problems, problems[:3]


def test_the_explanation_shows_the_padded_volume_and_the_fold(tmp_path: Path) -> None:
    from nn_cli import run

    path = tmp_path / "problem.yaml"
    path.write_text(REFLECT_3D, encoding="utf-8")
    result = run("run", str(path), "--no-color", "--steps", "all")
    assert result.exit_code == 0, result.stdout
    shown = " ".join(result.stdout.split())
    assert "reflect padding: each padded cell mirrors the input about its edge depth slice" in shown
    assert "xpad depth slices ← x depth slices: 0 ← 1" in shown
    assert "D_padded = D + p_front + p_back = 2 + 1 + 0 = 3" in shown
    assert "folding the padding back" in shown
    assert "∂L/∂x_000 = Σ ∂L/∂xpad over the cells that copy x_000" in shown


def test_net_conv3d_layer_with_replicate_padding_matches_the_loops() -> None:
    x = [[[[1, 2], [0, -1]], [[2, 1], [1, 0]]]]  # C×D×H×W = 1×2×2×2
    kernel = [[[[[1, -1], [0, 2]]]]]  # 1×1×1×2×2
    spec = {
        "kind": "net",
        "input": x,
        "layers": [{"type": "conv", "name": "c", "dims": 3, "kernel": kernel,
                    "padding": [1, 0, 1], "padding_mode": "replicate"}],
    }  # fmt: skip
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    hyper = dict(padding=(1, 1, 0, 0, 1, 1), mode="replicate", zero=Fraction(0))
    out = conv3d_padded([x], kernel, **hyper)["output"]
    ones = np.ones(np.shape(out), dtype=int).tolist()
    want = conv3d_padded([x], kernel, ones, **hyper)
    assert np.asarray(solution.results["c.output"]).tolist() == want["output"][0]
    assert np.asarray(solution.results["grad_input"]).tolist() == want["grad_input"][0]
    assert np.asarray(solution.results["c.grad_kernel"]).tolist() == want["grad_kernel"]


def test_padding_mode_treated_as_zeros_is_named() -> None:
    from gradcalc.core.grading import Problem

    spec = {"kind": "conv", "dims": 3, "input": [[[1, 2, 0], [3, -1, 2]], [[0, 1, 1], [2, 2, -2]]],
            "kernel": [[[1, -1]]], "padding": [0, 0, 1], "padding_mode": "circular"}  # fmt: skip
    zeros = registry.solve({**spec, "padding_mode": "zeros"}, SolveOptions(sections=frozenset()))
    graded = Problem(spec).grade({"output": np.asarray(zeros.results["output"]).tolist()})
    assert "the circular padding was treated as zeros" in graded.results[0].diagnosis


def test_random_conv_dims_3_with_a_padding_mode_is_graded_right(tmp_path: Path) -> None:
    from nn_cli import run

    spec, key = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run(
        "random", "conv", "--seed", "4", "--dims", "3", "--padding", "1",
        "--padding-mode", "reflect", "-o", str(spec), "--answers", str(key),
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert "padding_mode: reflect" in spec.read_text(encoding="utf-8")
    assert run("check", str(key), "--format", "json").exit_code == 0


def test_focus_draws_the_padded_volume_and_refuses_an_input_cell(tmp_path: Path) -> None:
    from nn_cli import run

    path = tmp_path / "problem.yaml"
    path.write_text(REFLECT_3D, encoding="utf-8")
    shown = run("run", str(path), "--no-color", "--focus", "output[1,0,2]")
    assert shown.exit_code == 0, shown.stdout
    assert "xpad [depth=1]" in shown.stdout
    refused = run("run", str(path), "--focus", "input[0,0,0]")
    assert refused.exit_code == 2
    assert "focus on an output element (output[t,i,j] or y[t,i,j])" in refused.stderr
