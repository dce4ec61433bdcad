"""conv with ``dims: 3`` (PyTorch conv3d, with groups): exact results against the plain loops
of tests/conv_dims_reference.py (N-d, no NumPy), gradients against float64 central
differences, the Jacobians against the gradients, the padding forms, and the refusals (a
kernel of the wrong rank for dims, a padding list of the wrong length, …), each one located
line with exit 2."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import conv_dims_reference as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_conv_dims import _same, cases, run_cli

from gradcalc.core import registry
from gradcalc.core.spec import Limits, SolveOptions

LIMITS = Limits(max_jacobian=10**6)
QUIET = dict(limits=LIMITS, explain=False)


def _hyper(spec: dict[str, Any]) -> dict[str, Any]:
    pads = spec["padding"]
    return dict(
        stride=tuple(spec["stride"]),
        padding=tuple((pads[2 * a], pads[2 * a + 1]) for a in range(3)),
        dilation=tuple(spec["dilation"]),
        groups=spec["groups"],
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_exact_results_equal_plain_loops(data) -> None:
    case = data.draw(cases(3))
    results = registry.solve(case["spec"], SolveOptions(**QUIET)).results
    _same(results["output"], case["y"])
    _same(results["grad_input"], case["grad_x"])
    _same(results["grad_kernel"], case["grad_w"])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_gradients_match_central_differences(data) -> None:
    """∂L/∂x and ∂L/∂w (float mode) against float64 central differences of the loops' L."""
    case = data.draw(cases(3))
    spec = case["spec"]
    results = registry.solve(spec, SolveOptions(force_float=True, **QUIET)).results
    hyper = _hyper(spec)
    upstream = np.array(case["upstream"], dtype=object).astype(float)
    x = np.array(case["x"], dtype=object).astype(float)
    w = np.array(case["w"], dtype=object).astype(float)

    def loss(x_values: np.ndarray, w_values: np.ndarray) -> float:
        y, _, _ = ref.conv_nd(x_values.tolist(), w_values.tolist(), zero=0.0, **hyper)
        return float(np.sum(np.array(y) * upstream))

    h = 1e-6
    for name, array, got in (("x", x, results["grad_input"]), ("w", w, results["grad_kernel"])):
        got = np.asarray(got, dtype=float)
        for index in list(np.ndindex(*array.shape))[:10]:
            plus, minus = array.copy(), array.copy()
            plus[index] += h
            minus[index] -= h
            pair = (plus, w) if name == "x" else (x, plus)
            pair_minus = (minus, w) if name == "x" else (x, minus)
            numeric = (loss(*pair) - loss(*pair_minus)) / (2 * h)
            assert abs(numeric - got[index]) < 1e-5, (name, index, numeric, got[index])


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), flip=st.booleans())
def test_jacobians_give_the_gradients(data, flip: bool) -> None:
    """Upstream·∂y/∂w and upstream·∂y/∂x (the Jacobians as built) are the gradients, exactly;
    with flip_kernel the result is the loops' correlation with the kernel reversed on all axes."""
    case = data.draw(cases(3))
    spec = {**case["spec"], "flip_kernel": flip}
    results = registry.solve(spec, SolveOptions(**QUIET)).results
    up = np.array(case["upstream"], dtype=object).ravel()
    for jacobian, gradient in (
        ("jacobian_kernel", "grad_kernel"),
        ("jacobian_input", "grad_input"),
    ):
        by_rows = up @ np.asarray(results[jacobian], dtype=object)
        assert list(by_rows) == list(np.asarray(results[gradient], dtype=object).ravel())
    if flip:
        w = np.array(case["w"], dtype=object)[..., ::-1, ::-1, ::-1].tolist()
        y, _, _ = ref.conv_nd(case["x"], w, zero=Fraction(0), **_hyper(spec))
        _same(results["output"], y)
    else:
        _same(results["output"], case["y"])


def test_explanation_equations_and_bias() -> None:
    """A small 3-D problem with a bias, explained in full: every section is built, the
    identities agree, and the bias gradient sums each channel's upstream."""
    spec = {
        "kind": "conv",
        "dims": 3,
        "input": [[[[1, 2], [0, -1]], [[3, 0], [1, 1]], [[-2, 1], [0, 2]]]],  # C×D×H×W = 1×3×2×2
        "kernel": [[[[[1, -1]], [[2, 0]]]], [[[[0, 1]], [[1, 1]]]]],  # O×C×kd×kh×kw = 2×1×2×1×2
        "bias": [1, -1],
        "padding": [0, 0, 1, 0, 0, 0],
    }
    solution = registry.solve(spec, SolveOptions(limits=LIMITS))
    results = solution.results
    assert results["output_shape"] == [2, 2, 3, 1]
    x = np.array(spec["input"], dtype=object)[None]
    w = np.array(spec["kernel"], dtype=object)
    y, _, _ = ref.conv_nd(
        x.tolist(),
        w.tolist(),
        stride=(1, 1, 1),
        padding=((0, 0), (1, 0), (0, 0)),
        dilation=(1, 1, 1),
        zero=Fraction(0),
    )
    want = np.array(y, dtype=object)[0] + np.array([1, -1], dtype=object)[:, None, None, None]
    _same(results["output"], want)
    assert list(results["grad_bias"]) == [6, 6]
    texts = [str(item) for section in solution.sections for item in section.items]
    assert not any("DOES NOT" in text for text in texts)
    keys = [section.key for section in solution.sections]
    for key in ("problem", "size", "forward", "jacobian", "backward", "identities", "loss"):
        assert key in keys


@pytest.mark.parametrize(
    ("padding", "want"),
    [
        (1, (1, 1, 1, 1, 1, 1)),
        ([1, 0, 2], (1, 1, 0, 0, 2, 2)),
        ([1, 0, 2, 0, 0, 1], (1, 0, 2, 0, 0, 1)),
        ("valid", (0,) * 6),
        ("same", (0, 1, 1, 1, 1, 1)),
        ("full", (1, 1, 2, 2, 2, 2)),
    ],
)
def test_padding_forms(padding: Any, want: tuple[int, ...]) -> None:
    spec = {
        "kind": "conv",
        "dims": 3,
        "input": np.ones((3, 3, 3), dtype=int).tolist(),
        "kernel": np.ones((2, 3, 3), dtype=int).tolist(),
        "padding": padding,
    }
    from gradcalc.core.kinds import conv

    problem = conv.read(spec, Limits())
    assert problem.geometry.padding == want


@pytest.mark.parametrize(
    ("text", "where", "words"),
    [
        (
            "dims: 3\ninput: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nkernel: [[1, 1]]\n",
            "spec.yaml:3:9",
            "the kernel has 2 axes but dims is 3: give kd×kh×kw",
        ),
        (
            "dims: 3\ninput: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nkernel: [[[1]]]\n"
            "padding: [1, 0, 1, 0]\n",
            "spec.yaml:4:10",
            "padding is a list of 4 in a 3-D convolution",
        ),
        (
            "dims: 3\ninput: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nkernel: [[[1]]]\n"
            "stride: [1, 2]\n",
            "spec.yaml:4:9",
            "stride is a list of 2 in a 3-D convolution",
        ),
        (
            "dims: 3\ninput: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nkernel: [[[1]]]\n"
            "padding: 2\npadding_mode: reflect\n",
            "spec.yaml:4:10",
            "reflect padding of 2 at the front is not smaller than the input's 2 depth slices",
        ),
        (
            "dims: 3\ninput: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nkernel: [[[1]], [[1]], [[1]]]\n",
            "spec.yaml:3:9",
            "the kernel spans 3 depth slices",
        ),
        (
            "input: [[[[[1]]]]]\nkernel: [[1]]\n",
            "spec.yaml:1:8",
            "for a 3-D convolution (a volume) set dims: 3",
        ),
        # A small work whose padded input (built whole) is above --max-elements: refused.
        (
            "dims: 3\ninput: [[[1, 2], [3, 4]], [[1, 2], [3, 4]]]\nkernel: [[[1]]]\n"
            "padding: [100, 100, 100]\nstride: 100\n",
            "spec.yaml:4:10",
            "the padded input would have 8,242,408 entries (1×1×202×202×202), above the limit",
        ),
        (
            "dims: 1\ninput: [1, 2, 3]\nkernel: [1, -1, 2]\npadding: same\ndilation: 1000000\n",
            "spec.yaml:4:10",
            "the padded input would have 2,000,003 entries (1×1×2000003), above the limit",
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


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), flip=st.booleans(), bias=st.booleans())
def test_explanation_is_true(data, flip: bool, bias: bool) -> None:
    """Every section of a random 3-D problem's explanation is built; the identities and the
    chain-rule products agree with the run; each forward sum adds up to the output shown."""
    case = data.draw(cases(3))
    spec = {**case["spec"], "flip_kernel": flip}
    out_channels = np.array(case["w"], dtype=object).shape[0]
    if bias:
        spec["bias"] = list(range(1, out_channels + 1))
    solution = registry.solve(spec, SolveOptions(limits=LIMITS, steps=6))
    texts = [str(item) for section in solution.sections for item in section.items]
    assert not any("DOES NOT" in text or "NOT the backward" in text for text in texts)
    for section in solution.sections:
        for item in section.items:
            if type(item).__name__ == "SumOfProducts" and not item.omitted:
                total = sum(
                    (np.prod([value for _, value in term.factors]) for term in item.terms),
                    Fraction(0),
                )
                if item.constant is not None:
                    total += item.constant[1]
                assert total == item.value, item.target
    y = np.asarray(solution.results["output"], dtype=object)
    want = np.array(case["y"], dtype=object) if not flip else None
    if want is not None:
        if bias:
            want = want + np.arange(1, out_channels + 1).reshape(1, -1, 1, 1, 1)
        assert (y == want).all()


def test_focus_reads_the_window_per_depth_slice() -> None:
    spec = {
        "kind": "conv",
        "dims": 3,
        "input": [[[1, 2, 0], [0, -1, 1]], [[3, 0, 1], [1, 1, -2]], [[-2, 1, 0], [0, 2, 1]]],
        "kernel": [[[1, -1], [0, 2]], [[2, 0], [1, -1]]],
        "padding": [1, 0, 0, 0, 0, 1],
    }
    from gradcalc.core.kinds import conv

    problem = conv.read(spec, Limits())
    target = conv.focus_target("output[0,0,2]", problem)
    solution = registry.solve(
        spec, SolveOptions(sections=frozenset({"size"})), focus="output[0,0,2]"
    )
    assert solution.focus is not None and len(solution.focus.taps) == 8
    texts = [str(item) for item in solution.sections[0].items]
    assert any("depth tap e = 0 lands on slice −1, in the padding" in text for text in texts)
    assert target.index == (0, 0, 2)
    from gradcalc.core.errors import FocusError

    with pytest.raises(FocusError, match=r"allowed: 3 \(depth, row, col\)"):
        conv.focus_target("output[0,2]", problem)


@pytest.mark.parametrize(
    ("change", "valid"),
    [
        ({}, True),
        ({"stride": [1, 2, 2], "dilation": [1, 1, 2], "padding": [1, 0, 0, 1, 0, 1]}, True),
        ({"padding": [1, 0, 1]}, True),
        ({"stride": [1, 2]}, False),
        ({"padding": [1, 0, 1, 0]}, False),
        ({"dilation": [1, 1, 1, 1]}, False),
    ],
)
def test_schema_agrees_on_3d_triples(change: dict[str, Any], valid: bool) -> None:
    """The schema takes a triple (and 6 paddings) under dims 3 exactly when gradcalc does."""
    from test_schema import errors

    spec = {
        "kind": "conv",
        "dims": 3,
        "input": np.ones((1, 4, 4, 4), dtype=int).tolist(),
        "kernel": np.ones((1, 1, 2, 2, 2), dtype=int).tolist(),
        **change,
    }
    for kind in ("conv", None):
        assert (errors(kind, spec) == []) == valid, errors(kind, spec)
    from gradcalc.core.errors import SpecError
    from gradcalc.core.kinds import conv

    try:
        conv.read(spec, Limits())
        accepted = True
    except SpecError:
        accepted = False
    assert accepted == valid


# ---------------------------------------------------------------------------
# gradcalc check, practice, gradcalc net and the bundled problem


def test_bundled_problem_checks_and_slips_are_diagnosed() -> None:
    from test_conv_dims import _bundled, _diagnose, _listed

    spec = _bundled("conv3d_clip_strided.yaml")
    solution = registry.solve(spec, SolveOptions(**QUIET))
    assert all(check.ok for check in solution.checks)
    flipped = {k: v for k, v in spec.items() if k != "expected"}
    flipped["flip_kernel"] = True
    answer = _listed(registry.solve(flipped, SolveOptions(**QUIET)).results["grad_input"])
    ok, diagnosis = _diagnose(spec, "grad_input", answer)
    assert not ok and "true convolution" in diagnosis, diagnosis
    unpadded = {k: v for k, v in spec.items() if k not in ("expected", "upstream", "padding")}
    answer = _listed(registry.solve(unpadded, SolveOptions(**QUIET)).results["output"])
    ok, diagnosis = _diagnose(spec, "output", answer)
    assert not ok and "the padding ([1, 0, 0, 1, 0, 1]) was ignored" in diagnosis, diagnosis


@pytest.mark.parametrize("seed", range(3))
def test_random_conv_dims_3_solves_and_checks(tmp_path: Path, seed: int) -> None:
    import yaml

    spec_path, key_path = tmp_path / "p.yaml", tmp_path / "k.yaml"
    made = run_cli(
        "random", "conv", "--dims", "3", "--seed", str(seed), "--channels", "2",
        "-o", str(spec_path), "--answers", str(key_path),
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    spec = yaml.safe_load(spec_path.read_text("utf-8"))
    assert spec["dims"] == 3 and np.ndim(spec["input"]) == 4 and np.ndim(spec["kernel"]) == 4
    solved = run_cli("conv", "--spec", str(spec_path), "--format", "json")
    assert solved.exit_code == 0, solved.output
    checked = run_cli("check", str(key_path), "--format", "json")
    assert checked.exit_code == 0, checked.output


def test_net_conv_layer_with_dims_3() -> None:
    """A 3-D conv layer, relu and flatten: its gradient against central differences of the
    plain loops' forward pass."""
    x = [[[[[1, 2, 0], [-1, 1, 3]], [[2, 0, 1], [0, 1, -1]]]]]  # N×C×D×H×W = 1×1×2×2×3
    w = [[[[[1, 0], [0, -1]], [[1, 1], [0, 1]]]], [[[[2, 1], [0, 1]], [[0, 0], [1, 0]]]]]
    spec = {
        "kind": "net",
        "input": x,
        "layers": [
            {
                "type": "conv",
                "dims": 3,
                "kernel": w,
                "bias": ["1/2", "1/2"],  # no output at relu's kink (0)
                "padding": [0, 0, 0, 1, 0, 0],
            },
            "relu",
            "flatten",
        ],
        "upstream": [[1, -1, 2, 0, 1, 1, -2, 1]],
    }
    results = registry.solve(spec, SolveOptions(explain=False)).results
    hyper = dict(stride=(1, 1, 1), padding=((0, 0), (0, 1), (0, 0)), dilation=(1, 1, 1))
    up = np.array(spec["upstream"], dtype=float).ravel()

    def forward(values: np.ndarray) -> np.ndarray:
        y, _, _ = ref.conv_nd(values.tolist(), w, zero=0.0, **hyper)
        y = np.array(y) + 0.5
        return np.maximum(y, 0).ravel()

    x_values = np.array(x, dtype=float)
    assert [float(v) for v in np.asarray(results["output"]).ravel()] == list(forward(x_values))
    grad = np.asarray(results["grad_input"], dtype=float)
    for index in np.ndindex(*x_values.shape):
        step = np.zeros_like(x_values)
        step[index] = 1e-6
        numeric = (forward(x_values + step) @ up - forward(x_values - step) @ up) / 2e-6
        assert abs(numeric - grad[index]) < 1e-6, index


@pytest.mark.parametrize("dims", ["1", "3"])
def test_random_conv_takes_one_number_stride_and_padding_in_1d_and_3d(dims: str) -> None:
    """--stride and --padding are one number in 1-D and 3-D (HxW in 2-D): each variant reads
    the option with its own knob."""
    made = run_cli(
        "random", "conv", "--dims", dims, "--seed", "5", "--stride", "2", "--padding", "1"
    )
    assert made.exit_code == 0, made.output
    assert "stride: 2" in made.stdout and "padding: 1" in made.stdout
