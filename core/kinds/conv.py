"""A conv spec: how it is read (``read(spec, limits) -> ConvProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``, ``focus_target`` for
``--focus``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``, for ``gradcalc random``).

A conv problem is one 2-D convolution (PyTorch's conv2d).  Inside a run every array is
NCHW: input ``x`` N×C×H×W, kernel ``w`` O×C×kh×kw, output ``y`` N×O×H_out×W_out.  The
spec may give fewer axes (H×W, C×H×W; kh×kw, C×kh×kw); :class:`ConvProblem` remembers
which axes were given so results come back in the spec's own shape.  What the keys are is
the registry's Field table for kind conv (KEYS is read from it).

The array code (the conv2d and bias_add ops) is core/ops/conv.py; :func:`compute` runs it
through core/ops/adapter.py, which decides how it is made exact.  The explanation is
core/explain/conv.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.fields import focus_target as read_focus_target
from gradcalc.core.kinds.fields import pair_as_written, read_padding, read_pair
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import (
    forgot_upstream,
    negated,
    size_mistakes,
    transposed,
    upstream_transposed,
)
from gradcalc.core.kinds.profile import BATCH, CHANNELS, IMAGE, Knob, Profile, Variant
from gradcalc.core.kinds.symbolic_fields import (
    answer_names,
    answers_at,
    naming,
    numbers_above_cap,
    read_tensor,
)
from gradcalc.core.ops import adapter
from gradcalc.core.ops.conv import (
    BIAS_ADD,
    CONV2D,
    ConvGeometry,
    tap_windows,
)
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import entries, parse_bool, to_float

if TYPE_CHECKING:  # imported when --focus is used (start-up cost)
    from gradcalc.core.kinds.focus import Focusable, FocusTarget

KIND = "conv"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = {"input": "x", "kernel": "w", "output": "y", "loss": "L", "bias": "b"}
SECTIONS = registry.sections(KIND)
# Every result a conv problem can have (grad_bias only with a bias).
RESULTS = (
    "output",
    "output_shape",
    "grad_input",
    "grad_kernel",
    "grad_bias",
    "jacobian_kernel",
    "jacobian_input",
)
# An expected Jacobian above --max-jacobian is refused with its number of entries.
COUNT_ENTRIES = True


# ---------------------------------------------------------------------------
# Reading


@record
class ConvProblem:
    """A validated conv spec.

    ``input``/``kernel``/``bias``/``upstream`` are object arrays of Fractions
    in the spec's own shapes; ``*_axes`` name those axes (a subset of
    n, c, row, col / o, c, row, col).
    """

    title: str | None
    input: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray | None  # 0-D (one shared bias) or O
    geometry: ConvGeometry
    padding_text: str
    flip_kernel: bool
    upstream: np.ndarray
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    input_axes: tuple[str, ...]
    kernel_axes: tuple[str, ...]
    output_axes: tuple[str, ...]
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance
    # Why symbols were given random values (symbolic_fields.numbers_above_cap); "" if not.
    symbolic_capped: str = ""

    @cached_property
    def floats(self) -> dict[str, np.ndarray | None]:
        """float64 copies of input, kernel, bias and upstream (made once: converting Fractions is slow)."""
        return {
            "input": to_float(self.input),
            "kernel": to_float(self.kernel),
            "bias": None if self.bias is None else to_float(self.bias),
            "upstream": to_float(self.upstream),
        }

    @property
    def output_shape(self) -> tuple[int, ...]:
        g = self.geometry
        sizes = {"n": g.batch, "o": g.out_channels, "row": g.out_h, "col": g.out_w}
        return tuple(sizes[a] for a in self.output_axes)

    def to_nchw(self, values: np.ndarray) -> np.ndarray:
        return values.reshape(
            self.geometry.batch, self.geometry.in_channels, self.geometry.in_h, self.geometry.in_w
        )

    def kernel_ochw(self, values: np.ndarray) -> np.ndarray:
        g = self.geometry
        return values.reshape(g.out_channels, g.in_channels, g.kernel_h, g.kernel_w)

    def output_nohw(self, values: np.ndarray) -> np.ndarray:
        g = self.geometry
        return values.reshape(g.batch, g.out_channels, g.out_h, g.out_w)

    def focusable(self) -> tuple[Focusable, ...]:
        """The arrays ``--focus`` may name: the output and the input."""
        from gradcalc.core.kinds.focus import Focusable

        return (
            Focusable("output", self.names["output"], self.output_shape, self.output_axes),
            Focusable("input", self.names["input"], self.input.shape, self.input_axes),
        )


def read(spec: Mapping[str, Any], limits: common.Limits) -> ConvProblem:
    """Validate a conv spec (plain data) and return the problem, or raise SpecError."""
    common.check_keys(spec, KIND, KEYS)
    names = common.read_names(spec, NAME_DEFAULTS)
    x, w = _read_input_and_kernel(spec, limits, names)
    input_axes = {2: ("row", "col"), 3: ("c", "row", "col"), 4: ("n", "c", "row", "col")}[x.ndim]
    kernel_axes = {2: ("row", "col"), 3: ("c", "row", "col"), 4: ("o", "c", "row", "col")}[w.ndim]
    _check_channels(x, w)
    geometry, padding_text, flip_kernel = _read_geometry(spec, x, w, limits)
    bias = _read_bias(spec, geometry.out_channels, limits, names)

    output_axes = (("n",) if x.ndim == 4 else ()) + (("o",) if w.ndim == 4 else ()) + ("row", "col")
    problem_stub = dict(
        title=common.read_title(spec),
        input=x,
        kernel=w,
        bias=bias,
        geometry=geometry,
        padding_text=padding_text,
        flip_kernel=flip_kernel,
        names=names,
        index_base=common.read_index_base(spec),
        input_axes=input_axes,
        kernel_axes=kernel_axes,
        output_axes=output_axes,
        tolerance=common.read_tolerance(spec),
    )
    g = geometry
    sizes = {"n": g.batch, "o": g.out_channels, "row": g.out_h, "col": g.out_w}
    output_shape = tuple(sizes[a] for a in output_axes)
    upstream, upstream_given = common.read_upstream(
        spec, output_shape, names["output"], limits, naming=naming(spec, names, "output")
    )
    out_size = int(np.prod(output_shape))
    known_results: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "output_shape": (len(output_shape),),
        "grad_input": x.shape,
        "grad_kernel": w.shape,
        "jacobian_kernel": (out_size, w.size),
        "jacobian_input": (out_size, x.size),
    }
    if bias is not None:
        known_results["grad_bias"] = bias.shape
    symbols = answer_names(spec, x, w, bias, upstream)
    fields, values, capped = numbers_above_cap(
        {"input": x, "kernel": w, "bias": bias, "upstream": upstream},
        geometry.work,
        geometry.most_terms,
    )
    expected = common.read_expected(spec, known_results, limits, symbols=symbols)
    problem_stub.update(input=fields["input"], kernel=fields["kernel"], bias=fields["bias"])
    return ConvProblem(
        upstream=fields["upstream"],
        upstream_given=upstream_given,
        expected=answers_at(expected, values),
        symbolic_capped=capped,
        **problem_stub,
    )


def _read_input_and_kernel(
    spec: Mapping[str, Any], limits: common.Limits, names: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The input (H×W, C×H×W or N×C×H×W) and kernel (kh×kw, C×kh×kw or O×C×kh×kw):
    numbers, or symbols and formulas (core/kinds/symbolic_fields.py)."""
    raw_input = common.require(spec, "input", KIND, "the input matrix, H×W, C×H×W or N×C×H×W")
    raw_kernel = common.require(spec, "kernel", KIND, "the kernel, kh×kw, C×kh×kw or O×C×kh×kw")
    x, w = (
        read_tensor(
            raw, (key,), ndims=(2, 3, 4), what=key, limits=limits, **naming(spec, names, key)
        )
        for key, raw in (("input", raw_input), ("kernel", raw_kernel))
    )
    return x, w


def _check_channels(x: np.ndarray, w: np.ndarray) -> None:
    """The kernel's input channels must be the input's (a 2-D kernel has one)."""
    in_channels = x.shape[-3] if x.ndim >= 3 else 1
    kernel_channels = w.shape[-3] if w.ndim >= 3 else 1
    if kernel_channels != in_channels:
        if w.ndim == 2:
            hint = (
                f"give the kernel as C×kh×kw ({in_channels}×{w.shape[0]}×{w.shape[1]}) or O×C×kh×kw"
            )
        else:
            hint = f"the kernel's input-channel axis must be {in_channels}"
        raise SpecError(
            ("kernel",),
            f"the kernel has {kernel_channels} input channel{'s' if kernel_channels != 1 else ''} "
            f"but the input has {in_channels}; {hint}",
        )


def _read_geometry(
    spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray, limits: common.Limits
) -> tuple[ConvGeometry, str, bool]:
    """Stride, dilation, padding (and how the spec wrote it) and flip_kernel, as one
    geometry whose kernel fits the padded input and whose work is within the limit."""
    stride = read_pair(spec.get("stride", 1), ("stride",), "stride", 1)
    dilation = read_pair(spec.get("dilation", 1), ("dilation",), "dilation", 1)
    padding, padding_text = read_padding(spec.get("padding", 0), stride, dilation, w.shape[-2:])
    flip_kernel = parse_bool(spec.get("flip_kernel", False), ("flip_kernel",))
    geometry = ConvGeometry(
        batch=x.shape[0] if x.ndim == 4 else 1,
        in_channels=x.shape[-3] if x.ndim >= 3 else 1,
        out_channels=w.shape[0] if w.ndim == 4 else 1,
        in_h=x.shape[-2],
        in_w=x.shape[-1],
        kernel_h=w.shape[-2],
        kernel_w=w.shape[-1],
        stride=stride,
        padding=padding,
        dilation=dilation,
    )
    for axis, span, padded, size, pads in (
        ("rows", geometry.span_h, geometry.padded_h, geometry.in_h, padding[:2]),
        ("columns", geometry.span_w, geometry.padded_w, geometry.in_w, padding[2:]),
    ):
        if span > padded:
            dil = geometry.dilation[0 if axis == "rows" else 1]
            raise SpecError(
                ("kernel",),
                f"the kernel spans {span} {axis} (dilation {dil}) but the padded input has only {padded} "
                f"({size} + padding {pads[0]} + {pads[1]}); the kernel must fit inside the padded input",
            )
    if geometry.work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this convolution needs {geometry.work:,} multiply-adds, above the limit of {limits.max_work:,} "
            "(raise it with --max-work)",
        )
    return geometry, padding_text, flip_kernel


def _read_bias(
    spec: Mapping[str, Any], out_channels: int, limits: common.Limits, names: Mapping[str, str]
) -> np.ndarray | None:
    """The bias: None, one shared number (0-D) or one per output channel."""
    if spec.get("bias") is None:
        return None
    bias = read_tensor(
        spec["bias"],
        ("bias",),
        ndims=(0, 1),
        what="bias",
        limits=limits,
        **naming(spec, names, "bias"),
    )
    if bias.ndim == 1 and bias.shape[0] != out_channels:
        raise SpecError(
            ("bias",),
            f"bias has {entries(bias.shape[0])} but the kernel has {out_channels} output channel"
            f"{'s' if out_channels != 1 else ''}; give one number per output channel, or a single number",
        )
    return bias


def focus_target(focus: str, problem: ConvProblem) -> FocusTarget:
    """The element ``--focus output[1,0]`` names, in the output or the input."""
    return read_focus_target(focus, problem)


# ---------------------------------------------------------------------------
# Running


@record
class ConvTrace:
    """What the forward and backward pass recorded, in NCHW layout (object Fractions when
    exact, else float64): the results, the operands as the pass used them, and which
    entry each Jacobian cell is (:func:`jacobian_maps`, when the Jacobians were built)."""

    output: np.ndarray  # N×O×H_out×W_out
    grad_input: np.ndarray  # N×C×H×W
    grad_kernel: np.ndarray  # O×C×kh×kw (the spec's kernel, unflipped)
    grad_bias: np.ndarray | None  # 0-D or O
    exact: bool
    input: np.ndarray  # N×C×H×W
    kernel: np.ndarray  # O×C×kh×kw (the spec's kernel, unflipped)
    upstream: np.ndarray  # N×O×H_out×W_out
    bias: np.ndarray | None  # 0-D or O
    jacobian_maps: tuple[np.ndarray, np.ndarray] | None = None


def kernel_params(problem: ConvProblem, kernel: np.ndarray) -> dict[str, Any]:
    """The conv op's parameters: ``kernel`` (the problem's, or float64 values in its shape)
    as O×C×kh×kw, the geometry and whether the kernel is flipped."""
    return {
        "kernel": problem.kernel_ochw(kernel),
        "geometry": problem.geometry,
        "flip": problem.flip_kernel,
    }


def compute(problem: ConvProblem, *, exact: bool) -> ConvTrace:
    """Forward and backward pass, exactly (rational) or in float64 (the adapter decides how)."""
    kernel = kernel_params(problem, problem.kernel)
    output, conv_trace = adapter.forward(
        CONV2D, problem.to_nchw(problem.input), kernel, exact=exact
    )
    upstream = problem.output_nohw(problem.upstream)
    grad_bias = None
    if problem.bias is not None:
        output, bias_trace = adapter.forward(BIAS_ADD, output, {"bias": problem.bias}, exact=exact)
        bias_grads = adapter.backward(upstream, bias_trace)
        grad_bias, upstream = bias_grads["bias"], bias_grads["input"]
    grads = adapter.backward(upstream, conv_trace)
    if exact:
        x, w, up, bias = problem.input, problem.kernel, problem.upstream, problem.bias
    else:  # as the float64 pass used them (to_float: the adapter's conversion)
        floats = problem.floats
        x, w, up, bias = (floats[k] for k in ("input", "kernel", "upstream", "bias"))
    return ConvTrace(
        output=output,
        grad_input=grads["input"],
        grad_kernel=grads["kernel"],
        grad_bias=grad_bias,
        exact=exact,
        input=problem.to_nchw(x),
        kernel=problem.kernel_ochw(w),
        upstream=problem.output_nohw(up),
        bias=bias,
    )


def run(problem: ConvProblem, options: common.SolveOptions) -> Run:
    """The forward and backward pass, and the Jacobians when asked for and small enough."""
    exact = not options.force_float and problem.geometry.work <= options.limits.exact_work
    trace = compute(problem, exact=exact)
    results: dict[str, Any] = {
        "output": trace.output.reshape(problem.output_shape),
        "output_shape": list(problem.output_shape),
        "grad_input": trace.grad_input.reshape(problem.input.shape),
        "grad_kernel": trace.grad_kernel.reshape(problem.kernel.shape),
    }
    if trace.grad_bias is not None:
        results["grad_bias"] = trace.grad_bias.reshape(problem.bias.shape)

    out_size = int(np.prod(problem.output_shape))
    jacobian_wanted = options.wants_jacobians() or any(
        k.startswith("jacobian") for k in problem.expected
    )
    small_enough = (
        out_size * max(problem.kernel.size, problem.input.size) <= options.limits.max_jacobian
    )
    if jacobian_wanted and small_enough:
        trace.jacobian_maps = jacobian_maps(problem)
        results["jacobian_kernel"] = gather(problem.input, trace.jacobian_maps[0], exact)
        results["jacobian_input"] = gather(problem.kernel, trace.jacobian_maps[1], exact)
    axes = {
        "output": problem.output_axes,
        "grad_input": problem.input_axes,
        "grad_kernel": problem.kernel_axes,
        "grad_bias": ("o",) if problem.bias is not None and problem.bias.ndim else (),
    }
    return Run(results=results, trace=trace, exact=exact, solution={"axes": axes})


def finite_differences(problem: ConvProblem, run: Run) -> GradientCheck | None:
    """The analytic gradients against float64 central differences of Σ upstream ⊙ y
    (core/kinds/conv_gradcheck.py)."""
    from gradcalc.core.kinds import conv_gradcheck

    return conv_gradcheck.finite_differences(problem, run)


def jacobian_maps(problem: ConvProblem) -> tuple[np.ndarray, np.ndarray]:
    """Which entry each Jacobian cell is, as flat indices (−1: the cell is 0).

    Returns (kernel_map, input_map):
    - kernel_map: R×K, ∂y_r/∂w_k = input.flat[kernel_map[r, k]];
    - input_map:  R×I, ∂y_r/∂x_i = kernel.flat[input_map[r, i]];
    with R outputs, K kernel entries and I input entries, all in row-major order.
    """
    g = problem.geometry
    positions = np.arange(g.batch * g.in_channels * g.in_h * g.in_w).reshape(
        g.batch, g.in_channels, g.in_h, g.in_w
    )
    padded_positions = np.full((g.batch, g.in_channels, g.padded_h, g.padded_w), -1, dtype=np.int64)
    top, _, left, _ = g.padding
    padded_positions[:, :, top : top + g.in_h, left : left + g.in_w] = positions
    taps = tap_windows(padded_positions, g)  # N×C×Ho×Wo×kh×kw, input index under each (slid) tap
    if problem.flip_kernel:
        taps = taps[..., ::-1, ::-1]  # index by the spec's kernel entry, not the slid one
    return _kernel_map(taps, g), _input_map(taps, g, positions.size)


def _kernel_map(taps: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """R×K: the input entry (flat index, −1: none) each ∂y_r/∂w_k equals; ``taps`` is
    N×C×H_out×W_out×kh×kw, the input index under each tap."""
    rows = g.batch * g.out_channels * g.out_h * g.out_w
    kernel_map = np.full(
        (
            g.batch,
            g.out_channels,
            g.out_h,
            g.out_w,
            g.out_channels,
            g.in_channels,
            g.kernel_h,
            g.kernel_w,
        ),
        -1,
        dtype=np.int64,
    )
    for o in range(g.out_channels):
        kernel_map[:, o, :, :, o] = taps.transpose(0, 2, 3, 1, 4, 5)
    return kernel_map.reshape(rows, -1)


def _input_map(taps: np.ndarray, g: ConvGeometry, inputs: int) -> np.ndarray:
    """R×I: the kernel entry (flat index, −1: none) each ∂y_r/∂x_i equals."""
    rows = g.batch * g.out_channels * g.out_h * g.out_w
    input_map = np.full((rows, inputs), -1, dtype=np.int64)
    kernel_index = np.arange(g.out_channels * g.in_channels * g.kernel_h * g.kernel_w).reshape(
        g.out_channels, g.in_channels, g.kernel_h, g.kernel_w
    )
    row_index = np.arange(rows).reshape(g.batch, g.out_channels, g.out_h, g.out_w)
    # For each output (n,o,i,j) and kernel tap (c,m,q): the input cell read, if any.
    n, o, i, j, c, m, q = np.meshgrid(
        *(
            np.arange(s)
            for s in (
                g.batch,
                g.out_channels,
                g.out_h,
                g.out_w,
                g.in_channels,
                g.kernel_h,
                g.kernel_w,
            )
        ),
        indexing="ij",
    )
    read = taps[n, c, i, j, m, q]
    valid = read >= 0
    input_map[row_index[n, o, i, j][valid], read[valid]] = kernel_index[o, c, m, q][valid]
    return input_map


def gather(values: np.ndarray, index_map: np.ndarray, exact: bool) -> np.ndarray:
    """values.flat[index_map] with −1 meaning 0."""
    flat = values.ravel() if exact else to_float(values).ravel()
    zero = Fraction(0) if exact else 0.0
    result = np.empty(index_map.shape, dtype=object if exact else float)
    result.fill(zero)
    valid = index_map >= 0
    result[valid] = flat[index_map[valid]]
    return result


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    flipped = spec.get("flip_kernel") is True
    variants = [
        Mistake(
            "kernel flip",
            "{name} matches the result for cross-correlation (flip_kernel: false, the kernel "
            "not flipped); this problem uses true convolution (the kernel flipped by 180°)"
            if flipped
            else "{name} matches the result for true convolution (flip_kernel: true); "
            "this problem uses cross-correlation",
            (("flip_kernel", not flipped),),
            # ∂L/∂K under the other convention is the key rotated by 180°.
            reveals=("grad_kernel", "jacobian_kernel"),
            slip="the kernel was not flipped (cross-correlation)"
            if flipped
            else "the kernel was flipped (true convolution)",
        ),
        transposed("grad_kernel", "∂L/∂kernel"),
    ]
    stride = pair_as_written(spec.get("stride", 1))
    gradients = ("grad_input", "grad_kernel", "grad_bias")
    return (
        variants
        + size_mistakes(spec, stride)
        + forgot_upstream(spec, gradients)
        + upstream_transposed(spec, gradients)
        + [negated(gradients)]
    )


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

KERNEL = Knob(
    "kernel_size",
    "pair",
    "kernel height×width: N or HxW",
    default=(2, 2),
    maximum=7,
    label="{} kernel",
)
OUT_CHANNELS = Knob(
    "out_channels",
    "int",
    "output channels (kernels)",
    default=1,
    maximum=4,
    label="{} output channels",
    label_default=False,
)
STRIDE = Knob(
    "stride", "pair", "N or SHxSW", default=(1, 1), field="stride", maximum=4, label="stride {}"
)
PADDING = Knob(
    "padding",
    "pair",
    "zeros on each side: N or PHxPW",
    default=(0, 0),
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
)
DILATION = Knob(
    "dilation",
    "pair",
    "N or DHxDW",
    default=(1, 1),
    field="dilation",
    maximum=3,
    label="dilation {}",
    label_default=False,
)

PRACTICE = Profile(
    {
        "": Variant(
            knobs=(IMAGE, KERNEL, STRIDE, PADDING, DILATION, CHANNELS, OUT_CHANNELS, BATCH),
            tensors={
                "input": ("batch?", "channels?", "size"),
                "kernel": ("out_channels?", "channels?", "kernel_size"),
            },
            # Cross-correlation (PyTorch) or true convolution: courses teach both.
            fixed={"flip_kernel": False},
        )
    }
)
