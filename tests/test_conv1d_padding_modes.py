"""conv with dims 1 and padding_mode reflect, replicate or circular (issue 15; PyTorch's Conv1d
``padding_mode``: F.pad on the signal's one axis, then conv1d): exact results against a
plain-loop reference (tests/conv_transpose1d_reference.py's conv1d_padded with
tests/conv_padding_reference.py's copy rule), float gradients against central differences,
the refusals, the usual mistake, practice (with --groups), a net layer, --focus and the truth
of every displayed step."""

from __future__ import annotations

from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conv_padding_reference import source
from conv_transpose1d_reference import conv1d_padded
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, spec_error
from test_conv_dims import _array, _same, _text  # random exact entries, exact comparison

from gradcalc.core import registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import Limits, SolveOptions

LIMITS = Limits(max_jacobian=10**6)
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("reflect", "replicate", "circular")


@st.composite
def cases(draw: Any) -> dict[str, Any]:
    """A random grouped conv1d padded by copies within PyTorch's limits (reflect < L,
    circular ≤ L), its spec and the loops' answers."""
    mode = draw(st.sampled_from(MODES))
    groups = draw(st.integers(1, 2))
    channels, out_channels = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    batch, length, k = draw(st.integers(1, 2)), draw(st.integers(2, 6)), draw(st.integers(1, 3))
    stride, dilation = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    limit = length - 1 if mode == "reflect" else length
    form = draw(st.sampled_from(("int", "pair", "full")))
    if form == "full" and dilation * (k - 1) <= limit:
        written: Any = "full"
        padding = (dilation * (k - 1),) * 2
    elif form == "pair":
        padding = (draw(st.integers(0, min(3, limit))), draw(st.integers(0, min(3, limit))))
        written = list(padding)
    else:
        padding = (draw(st.integers(1, min(3, limit))),) * 2
        written = padding[0]
    if length + sum(padding) < dilation * (k - 1) + 1:
        k = 1
    x = _array(draw, (batch, channels, length))
    w = _array(draw, (out_channels, channels // groups, k))
    hyper = dict(
        source=partial(source, size=length, mode=mode),
        padding=padding,
        stride=stride,
        dilation=dilation,
        groups=groups,
    )
    out = conv1d_padded(x, w, zero=Fraction(0), **hyper)["output"]
    upstream = _array(draw, np.array(out, dtype=object).shape)
    answers = conv1d_padded(x, w, upstream=upstream, zero=Fraction(0), **hyper)
    spec = {
        "kind": "conv",
        "dims": 1,
        "input": _text(x),
        "kernel": _text(w),
        "stride": stride,
        "dilation": dilation,
        "padding": written,
        "padding_mode": mode,
        "groups": groups,
        "upstream": _text(upstream),
    }
    return {"spec": spec, "answers": answers, "hyper": hyper, "x": x, "w": w}


@SETTINGS
@given(cases())
def test_exact_results_equal_the_plain_loops(case: dict[str, Any]) -> None:
    solution = registry.solve(case["spec"], SolveOptions(limits=LIMITS))
    assert solution.exact and solution.gradient_check.ok
    for name in ("output", "grad_input", "grad_kernel"):
        _same(solution.results[name], case["answers"][name])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_gradients_match_central_differences_of_the_loops(case: dict[str, Any]) -> None:
    spec = case["spec"]
    results = registry.solve(spec, SolveOptions(force_float=True, limits=LIMITS)).results
    upstream = np.vectorize(lambda v: float(Fraction(v)))(np.array(spec["upstream"], dtype=object))
    x = np.array(case["x"], dtype=object).astype(float)
    w = np.array(case["w"], dtype=object).astype(float)

    def loss(x_values: np.ndarray, w_values: np.ndarray) -> float:
        out = conv1d_padded(x_values.tolist(), w_values.tolist(), zero=0.0, **case["hyper"])
        return float(np.sum(np.array(out["output"]) * upstream))

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


REFLECT = """kind: conv
input: [1, 2, 3, 4]
kernel: [1, 0, -1]
padding: [2, 1]
padding_mode: reflect
upstream: [1, 2, 0, -1, 1]
"""


def test_the_padded_signal_and_the_fold_are_shown(tmp_path: Path) -> None:
    """x = [1, 2, 3, 4] reflect-padded [2, 1] is [3, 2, 1, 2, 3, 4, 3] (PyTorch's F.pad)."""
    path = tmp_path / "spec.yaml"
    path.write_text(REFLECT, encoding="utf-8")
    result = run("run", str(path), "--no-color", "--format", "json")
    assert result.exit_code == 0, result.stdout
    shown = " ".join(run("run", str(path), "--no-color", "--steps", "all").stdout.split())
    assert "reflect padding: each padded position mirrors the signal about its edge" in shown
    assert "xpad 0 1 2 3 4 5 6 3 2 1 2 3 4 3" in shown
    assert "xpad position ← x position: 0 ← 2, 1 ← 1, 6 ← 2; xpad positions 2…5 are x itself" in (
        shown
    )
    assert "L_padded = L + p_left + p_right = 4 + 2 + 1 = 7" in shown
    assert "∂L/∂x_2 = Σ ∂L/∂xpad over the cells that copy x_2 = ∂L/∂xpad_0 + ∂L/∂xpad_4 + " in (
        shown
    )
    assert "(col)" not in shown and "rows" not in shown and "top" not in shown


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "input: [1, 2, 3]\nkernel: [1, 1]\npadding: 3\npadding_mode: reflect\n",
            (4, 10),
            "reflect padding of 3 on the left is not smaller than the input's 3 positions",
        ),
        (
            "input: [1, 2]\nkernel: [1, 1]\npadding: [0, 3]\npadding_mode: circular\n",
            (4, 10),
            "circular padding of 3 on the right is not at most the input's 2 positions",
        ),
        (
            "input: [1, 2]\nkernel: [1, 1]\npadding: full\npadding_mode: mirror\n",
            (5, 15),
            "padding_mode",
        ),
    ],
)
def test_bad_input_is_one_located_line(
    tmp_path: Path, text: str, where: tuple[int, int], words: str
) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text("kind: conv\n" + text, encoding="utf-8")
    line, column, message = spec_error(run("run", str(path)))
    assert (line, column) == where, message
    assert words in message, message


def test_reflect_treated_as_zeros_is_named_in_1d() -> None:
    spec = {
        "kind": "conv",
        "input": [1, 2, 3, 4],
        "kernel": [1, 0, -1],
        "padding": [2, 1],
        "padding_mode": "reflect",
    }
    zeros = {**spec, "padding_mode": "zeros"}
    answer = np.asarray(registry.solve(zeros, SolveOptions()).results["output"]).tolist()
    graded = Problem(spec).grade({"output": answer}).results[0]
    assert not graded.ok
    assert "the reflect padding was treated as zeros" in graded.diagnosis


@pytest.mark.parametrize("written", ["Reflect", " reflect "])
def test_reflect_treated_as_zeros_is_named_as_the_mode_is_read(written: str) -> None:
    """The reader takes padding_mode in any case and spacing; the slip was tried only for
    the exact word, so 'Reflect' solved as reflect but its zero-padded answer went unnamed."""
    spec = {"kind": "conv", "input": [1, 2, 3, 4], "kernel": [1, 0, -1], "padding": [2, 1]}
    zeros = registry.solve(spec, SolveOptions()).results["output"]
    graded = Problem({**spec, "padding_mode": written}).grade({"output": zeros}).results[0]
    assert not graded.ok
    assert "the reflect padding was treated as zeros" in graded.diagnosis


def test_dims_written_as_text_gets_the_slips_of_its_dims() -> None:
    """dims: "1" is read as 1, but the slips were a 2-D problem's: ∂L/∂kernel transposed, and
    the "+1" dropped, which cut the last output channel and position of an O×L output."""
    spec = {"kind": "conv", "input": [[1, 2, 3, 4, 5]], "kernel": [[[1, -1, 2]], [[0, 1, 1]]]}
    labels = [v.label for v in Problem({**spec, "dims": "1"}).mistakes()]
    assert labels == [v.label for v in Problem({**spec, "dims": 1}).mistakes()]
    assert "transposed" not in labels and "size without +1" not in labels


def test_groups_ignored_is_named_in_1d() -> None:
    spec = {
        "kind": "conv",
        "dims": 1,
        "input": [[1, 2, -1], [0, 1, 2]],
        "kernel": [[[1, -1]], [[2, 1]]],
        "groups": 2,
    }
    wrong = {**spec, "kernel": [[[1, -1], [1, -1]], [[2, 1], [2, 1]]]}
    wrong.pop("groups")
    answer = np.asarray(registry.solve(wrong, SolveOptions()).results["output"]).tolist()
    graded = Problem(spec).grade({"output": answer}).results[0]
    assert not graded.ok and "with groups 2 ignored" in graded.diagnosis


@pytest.mark.parametrize(
    "sizes",
    [
        ("--dims", "1", "--padding", "2", "--padding-mode", "reflect"),
        ("--dims", "1", "--channels", "2", "--out-channels", "2", "--groups", "2"),
        ("--channels", "2", "--out-channels", "4", "--groups", "2"),
        ("--channels", "3", "--out-channels", "3", "--groups", "3", "--padding", "1"),
    ],
)
def test_random_conv_with_modes_and_groups_is_graded_right(tmp_path: Path, sizes: tuple) -> None:
    spec, key = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run("random", "conv", "--seed", "5", *sizes, "-o", str(spec), "--answers", str(key))
    assert made.exit_code == 0, made.stderr
    text = spec.read_text(encoding="utf-8")
    if "--groups" in sizes:
        groups = int(sizes[sizes.index("--groups") + 1])
        assert f"groups: {groups}" in text
        kernel = np.asarray(
            registry.solve(dict(_load(spec)), SolveOptions()).results["grad_kernel"]
        )
        channels = int(sizes[sizes.index("--channels") + 1])
        assert kernel.shape[1] == channels // groups  # C_out×(C_in/g)×…
    graded = run("check", str(key), "--format", "json")
    assert graded.exit_code == 0, graded.stdout


def _load(path: Path) -> Any:
    from gradcalc.cli.spec_loader import load_file

    return load_file(str(path)).data


def test_random_conv_without_groups_is_unchanged() -> None:
    """--groups 1 (the default) is left out of the spec and the seed's draws."""
    plain = run("random", "conv", "--seed", "7").stdout
    assert "groups" not in plain
    assert run("random", "conv", "--seed", "7", "--groups", "1").stdout == plain


def test_net_conv_layer_1d_replicate_matches_the_loops() -> None:
    x = [[1, 2, -1, 3], [0, 1, 2, 2]]
    kernel = [[[1, -1, 2], [0, 1, 1]]]
    up = [[1, -2, 0, 1, 3, -1]]
    spec = {
        "kind": "net",
        "input": x,
        "layers": [
            {"type": "conv", "name": "c1", "dims": 1, "kernel": kernel, "padding": 2,
             "padding_mode": "replicate"},
        ],
        "upstream": up,
    }  # fmt: skip
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and solution.gradient_check.ok
    expected = conv1d_padded(
        [x], kernel, source=partial(source, size=4, mode="replicate"), padding=(2, 2),
        upstream=[up], zero=Fraction(0),
    )  # fmt: skip
    assert np.asarray(solution.results["c1.output"]).tolist() == expected["output"][0]
    assert np.asarray(solution.results["grad_input"]).tolist() == expected["grad_input"][0]
    assert np.asarray(solution.results["c1.grad_kernel"]).tolist() == expected["grad_kernel"]


def test_focus_names_outputs_only(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(REFLECT, encoding="utf-8")
    result = run("run", str(path), "--no-color", "--focus", "output[1]")
    assert result.exit_code == 0, result.stdout
    assert "y_1 = xpad_1·w_0 + xpad_2·w_1 + xpad_3·w_2" in result.stdout
    refused = run("run", str(path), "--no-color", "--focus", "input[1]")
    assert refused.exit_code != 0
    assert "focus on an output element (output[i] or y[i])" in refused.stderr


CIRCULAR_GROUPED = """kind: conv
dims: 1
input: [[[1, 2, 3], [0, -1, 2]], [[2, 2, 1], [1, 0, 0]]]
kernel: [[[1, -1]], [[2, 0]], [[0, 1]], [[1, "1/2"]]]
groups: 2
padding: [1, 2]
padding_mode: circular
stride: 2
bias: [1, 0, -1, 2]
"""


@pytest.mark.parametrize("spec", [REFLECT, CIRCULAR_GROUPED], ids=["reflect", "circular"])
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_every_displayed_step_is_true(tmp_path: Path, spec: str, options: tuple) -> None:
    from test_displayed_equations import audit

    path = tmp_path / "problem.yaml"
    path.write_text(spec, encoding="utf-8")
    problems, count, compared, matched = audit(path, *options)
    assert count and compared and matched
    assert not problems, problems[:3]
