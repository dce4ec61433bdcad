"""Property tests: gradcalc's conv against a plain-loop reference and finite differences.

Every example is a random conv problem (shapes, channels, batch, stride,
dilation, every padding form, flip, bias, input and kernel ranks), given to the
core as plain Python data exactly as a YAML spec would give it.
"""

from __future__ import annotations

import io
import json
import math
import random
from fractions import Fraction
from typing import Any

import conv_reference as ref
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcalc.core import registry
from gradcalc.core.kinds import conv as conv_module
from gradcalc.core.spec import Limits, SolveOptions

PROPERTY_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)


def examples(count: int) -> settings:
    """Deterministic settings (fixed seed, no example database) with ``count`` examples."""
    return settings(PROPERTY_SETTINGS, max_examples=count)


# Jacobians up to 294 outputs × 294 inputs: build them whenever a test asks.
BIG_JACOBIAN = Limits(max_jacobian=10**6)


# ---------------------------------------------------------------------------
# Generating problems


def encode(value: Fraction, style: int) -> Any:
    """A Fraction the way a spec might write it: int, Fraction, "p/q" or a decimal string."""
    if value.denominator == 1:
        return int(value) if style % 2 == 0 else str(int(value))
    if style == 0:
        return value
    if style == 1 and value.denominator in (2, 4, 5, 8):
        return str(float(value))  # "0.25", "-1.5": exact decimals
    return f"{value.numerator}/{value.denominator}"


ENTRY = st.tuples(
    st.integers(-5, 5),
    st.sampled_from([1, 1, 1, 2, 3, 4]),
    st.integers(0, 3),
)


def draw_array(draw, shape: tuple[int, ...]) -> Any:
    """A nested list of spec-encoded rationals with the given shape."""
    size = math.prod(shape)
    entries = draw(st.lists(ENTRY, min_size=size, max_size=size))
    flat = [encode(Fraction(n, d), style) for n, d, style in entries]

    def build(offset: int, dims: tuple[int, ...]) -> Any:
        if not dims:
            return flat[offset]
        step = math.prod(dims[1:])
        return [build(offset + k * step, dims[1:]) for k in range(dims[0])]

    return build(0, shape)


def draw_pair_form(draw, low: int, high: int) -> tuple[Any, tuple[int, int]]:
    """An int or [rows, cols] (the spec form) and its (rows, cols) value."""
    if draw(st.booleans()):
        value = draw(st.integers(low, high))
        return value, (value, value)
    rows, cols = draw(st.integers(low, high)), draw(st.integers(low, high))
    return [rows, cols], (rows, cols)


PADDING_FORMS = ("int", "pair", "quad", "valid", "same")


@st.composite
def conv_cases(
    draw, padding_form: str | None = None, ranks: tuple[int, int] | None = None
) -> dict[str, Any]:
    """A random conv problem: the spec (plain data) plus everything the reference needs.

    ``padding_form`` fixes the padding's spelling (one of PADDING_FORMS; "same"
    forces stride 1); ``ranks`` fixes (input rank, kernel rank).
    """
    if ranks is None:
        input_rank = draw(st.sampled_from([2, 3, 4]))
        kernel_rank = draw(st.sampled_from([2, 3, 4]))
    else:
        input_rank, kernel_rank = ranks
    batch = draw(st.integers(1, 2)) if input_rank == 4 else 1
    # The kernel's channel axis must match the input's; a 2-D array has one channel.
    if input_rank >= 3 and kernel_rank >= 3:
        channels = draw(st.integers(1, 3))
    else:
        channels = 1
    out_channels = draw(st.integers(1, 3)) if kernel_rank == 4 else 1
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))

    if padding_form == "same":
        stride_spec, stride = draw(st.sampled_from([(1, (1, 1)), ([1, 1], (1, 1))]))
    else:
        stride_spec, stride = draw_pair_form(draw, 1, 3)
    dilation_spec, dilation = draw_pair_form(draw, 1, 3)
    if padding_form is None:
        form = draw(st.sampled_from(PADDING_FORMS if stride == (1, 1) else PADDING_FORMS[:-1]))
    else:
        form = padding_form
    if form == "int":
        padding_spec: Any = draw(st.integers(0, 3))
    elif form == "pair":
        padding_spec = [draw(st.integers(0, 3)), draw(st.integers(0, 3))]
    elif form == "quad":
        padding_spec = [draw(st.integers(0, 3)) for _ in range(4)]
    else:
        padding_spec = form
    padding = ref.padding_sides(padding_spec, (kh, kw), dilation)

    # The (dilated) kernel must fit inside the padded input.
    span_h = dilation[0] * (kh - 1) + 1
    span_w = dilation[1] * (kw - 1) + 1
    low_h = max(1, span_h - padding[0] - padding[1])
    low_w = max(1, span_w - padding[2] - padding[3])
    assume(low_h <= 7 and low_w <= 7)
    height, width = draw(st.integers(low_h, 7)), draw(st.integers(low_w, 7))

    input_shape = {
        2: (height, width),
        3: (channels, height, width),
        4: (batch, channels, height, width),
    }[input_rank]
    kernel_shape = {2: (kh, kw), 3: (channels, kh, kw), 4: (out_channels, channels, kh, kw)}[
        kernel_rank
    ]
    x = draw_array(draw, input_shape)
    w = draw_array(draw, kernel_shape)

    out_h = ref.output_size(height, kh, padding[0], padding[1], stride[0], dilation[0])
    out_w = ref.output_size(width, kw, padding[2], padding[3], stride[1], dilation[1])
    output_shape = (
        ((batch,) if input_rank == 4 else ())
        + ((out_channels,) if kernel_rank == 4 else ())
        + (out_h, out_w)
    )

    spec: dict[str, Any] = {"kind": "conv", "input": x, "kernel": w}
    # Hyper-parameters are sometimes left at their defaults, sometimes spelled out.
    if stride_spec != 1 or draw(st.booleans()):
        spec["stride"] = stride_spec
    if dilation_spec != 1 or draw(st.booleans()):
        spec["dilation"] = dilation_spec
    if padding_spec != 0 or draw(st.booleans()):
        spec["padding"] = padding_spec
    flip = draw(st.booleans())
    if flip or draw(st.booleans()):
        spec["flip_kernel"] = flip

    bias_form = draw(st.sampled_from(["none", "scalar", "channel"]))
    bias: Any = None
    if bias_form == "scalar":
        spec["bias"] = draw_array(draw, ())
        bias = ref.to_fraction(spec["bias"])
    elif bias_form == "channel":
        spec["bias"] = draw_array(draw, (out_channels,))
        bias = [ref.to_fraction(b) for b in spec["bias"]]

    upstream_form = draw(st.sampled_from(["given", "given", "given", "ones", "omitted"]))
    if upstream_form == "given":
        spec["upstream"] = draw_array(draw, output_shape)
        upstream = ref.map_nested(ref.to_fraction, spec["upstream"])
    else:
        if upstream_form == "ones":
            spec["upstream"] = "ones"
        upstream = ref.map_nested(lambda _: Fraction(1), ref.zeros(output_shape))

    return {
        "spec": spec,
        "x": ref.as_input4(ref.map_nested(ref.to_fraction, x)),
        "w": ref.as_kernel4(ref.map_nested(ref.to_fraction, w)),
        "upstream": ref.spec_output_to4(upstream, input_rank, kernel_rank),
        "bias": bias,
        "hyper": {"stride": stride, "padding": padding, "dilation": dilation, "flip": flip},
        "input_rank": input_rank,
        "kernel_rank": kernel_rank,
        "output_shape": output_shape,
        "seed": draw(st.integers(0, 2**16)),
    }


def solve(case: dict[str, Any], **options: Any):
    options.setdefault("limits", BIG_JACOBIAN)
    return registry.solve(case["spec"], SolveOptions(**options))


def as_object_array(value: Any) -> np.ndarray:
    """A nested list (or one number) as an object array, without NumPy guessing at types."""
    flat = ref.flatten(value)
    array = np.empty(len(flat), dtype=object)
    array[:] = flat
    return array.reshape(ref.shape_of(value))


def assert_exact_equal(got: Any, want: Any, what: str) -> None:
    """Elementwise equality of a gradcalc result with a reference nested list, in Fractions."""
    got = np.asarray(got, dtype=object)
    want_array = as_object_array(want)
    assert got.shape == want_array.shape, f"{what}: shape {got.shape} != {want_array.shape}"
    for index in np.ndindex(*got.shape):
        value = got[index]
        assert isinstance(value, (Fraction, int)) and not isinstance(value, bool), (
            f"{what}{list(index)}: exact mode gave {value!r} ({type(value).__name__}), not a Fraction"
        )
        assert value == want_array[index], (
            f"{what}{list(index)}: gradcalc {value} != reference {want_array[index]}"
        )


def reference_grads(case: dict[str, Any]) -> tuple[Any, Any, Any]:
    return ref.conv2d_backward(
        case["x"], case["w"], case["upstream"], bias=case["bias"], **case["hyper"]
    )


def spec_shaped_input(case: dict[str, Any], value4: Any) -> Any:
    return {2: lambda v: v[0][0], 3: lambda v: v[0], 4: lambda v: v}[case["input_rank"]](value4)


def spec_shaped_kernel(case: dict[str, Any], value4: Any) -> Any:
    return {2: lambda v: v[0][0], 3: lambda v: v[0], 4: lambda v: v}[case["kernel_rank"]](value4)


# ---------------------------------------------------------------------------
# The reference itself, on hand-worked problems


def test_reference_task3() -> None:
    """Seed 004 Task 3 (a), worked by hand: H = [4, −3, −2], ∂L/∂K = [[2, 1], [−1, 5]]."""
    x = [[[[2, -1], [0, -1], [1, 1], [-1, 2]]]]
    w = [[[[1, 0], [-1, -2]]]]
    up = [[[[0], [1], [2]]]]
    assert ref.conv2d(x, w) == [[[[4], [-3], [-2]]]]
    grad_x, grad_w, grad_b = ref.conv2d_backward(x, w, up)
    assert grad_w == [[[[2, 1], [-1, 5]]]]
    assert grad_x == [[[[0, 0], [1, 0], [1, -2], [-2, -4]]]]
    assert grad_b is None


def test_reference_padding_stride_dilation_flip_bias() -> None:
    """A 3×3 input, 2×2 kernel, padding 1, stride 2, dilation 2, worked by hand.

    Padded input (5×5) has the input in rows/cols 1..3; the dilated kernel
    spans 3×3; windows start at padded rows/cols 0 and 2, so the output is 2×2.
    """
    x = [[[[1, 2, 3], [4, 5, 6], [7, 8, 9]]]]
    w = [[[[1, 10], [100, 1000]]]]
    hyper = {"stride": (2, 2), "padding": (1, 1, 1, 1), "dilation": (2, 2)}
    # Window (0, 0) reads padded (0,0) (0,2) (2,0) (2,2) -> 0, 0, 0, x[1][1] = 5.
    # Window (0, 1) reads padded (0,2) (0,4) (2,2) (2,4) -> 0, 0, x[1][1] = 5, x[1][3]: outside -> 0.
    # Window (1, 0) reads padded (2,0) (2,2) (4,0) (4,2) -> 0, 5, 0, 0.
    # Window (1, 1) reads padded (2,2) (2,4) (4,2) (4,4) -> 5, 0, 0, 0.
    assert ref.conv2d(x, w, **hyper) == [[[[5000, 500], [50, 5]]]]
    # Flipped: w as slid is [[1000, 100], [10, 1]].
    assert ref.conv2d(x, w, flip=True, **hyper) == [[[[5, 50], [500, 5000]]]]
    assert ref.conv2d(x, w, bias=[Fraction(1, 2)], **hyper) == [
        [[[Fraction(10001, 2), Fraction(1001, 2)], [Fraction(101, 2), Fraction(11, 2)]]]
    ]
    assert ref.padding_sides("same", (2, 3), (1, 2)) == (0, 1, 2, 2)
    assert ref.padding_sides([1, 2], (3, 3), (1, 1)) == (1, 1, 2, 2)


# ---------------------------------------------------------------------------
# (a) forward (and backward) equal the plain-loop reference exactly


@pytest.mark.parametrize("padding_form", PADDING_FORMS)
def test_exact_output_matches_reference(padding_form: str) -> None:
    @examples(30)
    @given(conv_cases(padding_form))
    def check(case: dict[str, Any]) -> None:
        exact_output_matches_reference(case)

    check()


@examples(20)
@given(conv_cases(ranks=(4, 4)))
def test_exact_output_matches_reference_batched_multichannel(case: dict[str, Any]) -> None:
    exact_output_matches_reference(case)


def exact_output_matches_reference(case: dict[str, Any]) -> None:
    solution = solve(case, gradient_check=False, sections=frozenset())
    assert solution.exact
    y4 = ref.conv2d(case["x"], case["w"], bias=case["bias"], **case["hyper"])
    want = ref.output_to_spec_shape(y4, case["input_rank"], case["kernel_rank"])
    assert tuple(solution.results["output_shape"]) == case["output_shape"]
    assert_exact_equal(solution.results["output"], want, "output")


@pytest.mark.parametrize("padding_form", PADDING_FORMS)
def test_exact_gradients_match_reference_chain_rule(padding_form: str) -> None:
    @examples(30)
    @given(conv_cases(padding_form))
    def check(case: dict[str, Any]) -> None:
        exact_gradients_match_reference(case)

    check()


@examples(20)
@given(conv_cases(ranks=(4, 4)))
def test_exact_gradients_match_reference_batched_multichannel(case: dict[str, Any]) -> None:
    exact_gradients_match_reference(case)


def exact_gradients_match_reference(case: dict[str, Any]) -> None:
    solution = solve(case, gradient_check=False, sections=frozenset())
    grad_x, grad_w, grad_b = reference_grads(case)
    assert_exact_equal(
        solution.results["grad_input"], spec_shaped_input(case, grad_x), "grad_input"
    )
    assert_exact_equal(
        solution.results["grad_kernel"], spec_shaped_kernel(case, grad_w), "grad_kernel"
    )
    if case["bias"] is None:
        assert "grad_bias" not in solution.results
    else:
        assert_exact_equal(solution.results["grad_bias"], grad_b, "grad_bias")


# ---------------------------------------------------------------------------
# (b) exact gradients equal float64 central finite differences

FD_STEP = 1e-6
FD_ENTRIES = 20  # entries probed per array (all of them when the array is smaller)


def close(numeric: float, analytic: float, rounding_scale: float) -> bool:
    """|numeric − analytic| ≤ 1e-6·max(1, |analytic|) plus the rounding the difference quotient can carry.

    L is linear in each entry, so central differences have no truncation
    error; what remains is float64 rounding of L (about ε·Σ|terms|) divided by
    the step.  ``rounding_scale`` is Σ|upstream|·|terms of the output|.
    """
    rounding = 8 * np.finfo(float).eps * rounding_scale / FD_STEP
    return abs(numeric - analytic) <= 1e-6 * max(1.0, abs(analytic)) + rounding


@pytest.mark.parametrize("padding_form", PADDING_FORMS)
def test_gradients_match_central_finite_differences(padding_form: str) -> None:
    @examples(12)
    @given(conv_cases(padding_form))
    def check(case: dict[str, Any]) -> None:
        gradients_match_finite_differences(case)

    check()


@examples(10)
@given(conv_cases(ranks=(4, 4)))
def test_gradients_match_central_finite_differences_batched_multichannel(
    case: dict[str, Any],
) -> None:
    gradients_match_finite_differences(case)


def gradients_match_finite_differences(case: dict[str, Any]) -> None:
    solution = solve(case, gradient_check=False, sections=frozenset())
    to_float = lambda v: float(v)  # noqa: E731
    x = ref.map_nested(to_float, case["x"])
    w = ref.map_nested(to_float, case["w"])
    up = ref.map_nested(to_float, case["upstream"])
    bias = ref.map_nested(to_float, case["bias"]) if case["bias"] is not None else None
    hyper = case["hyper"]
    rng = random.Random(case["seed"])

    def loss(x_: Any, w_: Any, b_: Any) -> float:
        return ref.loss(x_, w_, up, bias=b_, **hyper)

    magnitude = lambda v: abs(v)  # noqa: E731
    rounding_scale = ref.loss(
        ref.map_nested(magnitude, x),
        ref.map_nested(magnitude, w),
        ref.map_nested(magnitude, up),
        bias=ref.map_nested(magnitude, bias) if bias is not None else None,
        **hyper,
    )

    def probe(array: Any, analytic: np.ndarray, rebuild, what: str) -> None:
        """Central differences of L along each probed entry of ``array`` (a 4-D or flat nested list)."""
        shape = ref.shape_of(array)
        indices = list(np.ndindex(*shape))
        if len(indices) > FD_ENTRIES:
            indices = rng.sample(indices, FD_ENTRIES)
        flat_analytic = [float(v) for v in np.asarray(analytic, dtype=object).ravel()]
        for index in indices:

            def shifted(delta: float, index=index) -> Any:
                copy = ref.map_nested(lambda v: v, array)
                if not index:
                    return copy + delta
                target = copy
                for k in index[:-1]:
                    target = target[k]
                target[index[-1]] += delta
                return copy

            numeric = (loss(*rebuild(shifted(FD_STEP))) - loss(*rebuild(shifted(-FD_STEP)))) / (
                2 * FD_STEP
            )
            flat = int(np.ravel_multi_index(index, shape)) if index else 0
            analytic_value = flat_analytic[flat]
            assert close(numeric, analytic_value, rounding_scale), (
                f"∂L/∂{what}{list(index)}: gradcalc {analytic_value} but finite differences give {numeric}"
            )

    # The reference works in NCHW; gradcalc's results are in the spec's own shape,
    # whose row-major order is the same as the NCHW order (only size-1 axes differ).
    probe(x, solution.results["grad_input"], lambda v: (v, w, bias), "input")
    probe(w, solution.results["grad_kernel"], lambda v: (x, v, bias), "kernel")
    if bias is not None:
        probe(bias, solution.results["grad_bias"], lambda v: (x, w, v), "bias")


# ---------------------------------------------------------------------------
# (c) float mode agrees with exact mode


def assert_close_arrays(exact: Any, approx: Any, what: str, tolerance: float = 1e-9) -> None:
    exact_f = np.asarray(exact, dtype=object).astype(float)
    approx_a = np.asarray(approx)
    assert approx_a.dtype == np.float64, f"{what}: float mode gave dtype {approx_a.dtype}"
    assert exact_f.shape == approx_a.shape, f"{what}: shapes {exact_f.shape} != {approx_a.shape}"
    assert np.all(np.abs(exact_f - approx_a) <= tolerance * (1 + np.abs(exact_f))), (
        f"{what}: float mode differs from exact mode by {np.max(np.abs(exact_f - approx_a))}"
    )


@examples(50)
@given(conv_cases())
def test_float_mode_agrees_with_exact_mode(case: dict[str, Any]) -> None:
    exact = solve(case, gradient_check=False, sections=frozenset({"jacobian"}))
    approx = solve(case, gradient_check=False, sections=frozenset({"jacobian"}), force_float=True)
    assert exact.exact and not approx.exact
    assert set(exact.results) == set(approx.results)
    for name, value in exact.results.items():
        if name == "output_shape":
            assert list(approx.results[name]) == list(value)
        else:
            assert_close_arrays(value, approx.results[name], name)


# ---------------------------------------------------------------------------
# (d) the Jacobians carry the gradients: upstream · J = gradient


@examples(50)
@given(conv_cases())
def test_jacobians_times_upstream_give_gradients(case: dict[str, Any]) -> None:
    solution = solve(case, gradient_check=False, sections=frozenset({"jacobian"}))
    results = solution.results
    assert "jacobian_kernel" in results and "jacobian_input" in results
    upstream_flat = np.asarray(
        ref.flatten(
            ref.output_to_spec_shape(case["upstream"], case["input_rank"], case["kernel_rank"])
        ),
        dtype=object,
    )
    jac_kernel = np.asarray(results["jacobian_kernel"], dtype=object)
    jac_input = np.asarray(results["jacobian_input"], dtype=object)
    out_size = math.prod(case["output_shape"])
    assert jac_kernel.shape == (out_size, np.asarray(results["grad_kernel"]).size)
    assert jac_input.shape == (out_size, np.asarray(results["grad_input"]).size)
    by_jacobian_kernel = upstream_flat @ jac_kernel
    by_jacobian_input = upstream_flat @ jac_input
    assert list(by_jacobian_kernel) == list(
        np.asarray(results["grad_kernel"], dtype=object).ravel()
    )
    assert list(by_jacobian_input) == list(np.asarray(results["grad_input"], dtype=object).ravel())


@examples(20)
@given(conv_cases())
def test_jacobian_entries_are_partial_derivatives(case: dict[str, Any]) -> None:
    """Each Jacobian row is ∂(one output)/∂(entries): the reference backward with a one-hot upstream."""
    solution = solve(case, gradient_check=False, sections=frozenset({"jacobian"}))
    jac_kernel = np.asarray(solution.results["jacobian_kernel"], dtype=object)
    jac_input = np.asarray(solution.results["jacobian_input"], dtype=object)
    out_shape4 = ref.shape_of(case["upstream"])
    rng = random.Random(case["seed"])
    rows = list(range(math.prod(out_shape4)))
    for row in rng.sample(rows, min(len(rows), 4)):
        one_hot = ref.zeros(out_shape4, Fraction(0))
        n, o, i, j = np.unravel_index(row, out_shape4)
        one_hot[n][o][i][j] = Fraction(1)
        grad_x, grad_w, _ = ref.conv2d_backward(case["x"], case["w"], one_hot, **case["hyper"])
        assert list(jac_kernel[row]) == ref.flatten(grad_w), f"jacobian_kernel row {row}"
        assert list(jac_input[row]) == ref.flatten(grad_x), f"jacobian_input row {row}"


# ---------------------------------------------------------------------------
# (e) the built-in gradient check passes and the whole explanation builds


@examples(40)
@given(conv_cases())
def test_gradient_check_and_explanation(case: dict[str, Any]) -> None:
    from rich.console import Console

    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_json import render_json
    from gradcalc.cli.render_table import TableRenderer

    # Default limits: small problems get their Jacobians, larger ones the "not built" note.
    solution = solve(case, steps=4, limits=Limits())
    assert solution.gradient_check is not None
    assert solution.gradient_check.ok, f"gradient check failed: {solution.gradient_check}"
    assert solution.ok
    assert [section.key for section in solution.sections] == list(conv_module.SECTIONS)
    for section in solution.sections:
        assert section.items, f"section {section.key!r} is empty"
    assert solution.conventions

    # Both renderers walk the whole explanation without error.
    buffer = io.StringIO()
    console = Console(file=buffer, width=100, no_color=True, highlight=False, emoji=False)
    TableRenderer(console, NumberStyle(), None).render(solution, "conv")
    assert buffer.getvalue().strip()
    document = json.loads(render_json(solution))
    assert document["ok"] is True
    assert document["results"]["output_shape"] == list(case["output_shape"])


@pytest.mark.parametrize("padding", [0, 2, [1, 2], [0, 1, 2, 3], "valid", "same"])
def test_every_padding_form_against_reference(padding: Any) -> None:
    """A fixed multi-channel, batched problem through every padding form (a deterministic backstop)."""
    rng = random.Random(7)
    x = [
        [
            [
                [Fraction(rng.randint(-4, 4), rng.choice([1, 2, 3])) for _ in range(5)]
                for _ in range(4)
            ]
            for _ in range(2)
        ]
        for _ in range(2)
    ]
    w = [
        [[[Fraction(rng.randint(-3, 3)) for _ in range(3)] for _ in range(2)] for _ in range(2)]
        for _ in range(3)
    ]
    sides = ref.padding_sides(padding, (2, 3), (1, 1))
    spec = {
        "input": [[[[str(v) for v in row] for row in ch] for ch in img] for img in x],
        "kernel": w,
        "padding": padding,
        "bias": ["1/2", -1, 0],
    }
    solution = registry.solve(spec, SolveOptions(), command_kind="conv")
    want = ref.conv2d(x, w, padding=sides, bias=[Fraction(1, 2), -1, 0])
    assert_exact_equal(solution.results["output"], want, "output")
    assert solution.gradient_check is not None and solution.gradient_check.ok
