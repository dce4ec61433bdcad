"""A conv_transpose spec (PyTorch's conv_transpose2d, conv_transpose1d with ``dims: 1`` or
conv_transpose3d with ``dims: 3``):
how it is read (``read(spec, limits)``) and run (``run(problem, options)``,
``finite_differences(problem, run)``) for core/solve.py,
its usual mistakes and its practice profile live in core/kinds/conv_transpose_checks.py,
named in its catalog entry (``parts``).

Inside a run every array is NCHW: input ``x`` N×C_in×H×W, kernel ``w`` C_in×(C_out/g)×kh×kw
(PyTorch's weight layout for a transposed convolution), output ``y`` N×C_out×H_out×W_out.
The spec may give fewer axes (H×W or C_in×H×W; kh×kw): :class:`ConvTransposeProblem`
remembers which, so results come back in the spec's own shape.  A 1-D problem (``dims: 1``,
or a vector input with a vector kernel: L, C_in×L or N×C_in×L with k or C_in×(C_out/g)×k)
runs with H = kh = 1; a 3-D problem runs on NCDHW arrays with core/ops/conv_transpose3d.py
(its geometry read by core/kinds/conv_transpose3d.py).  The array code is
core/ops/conv_transpose.py (built on the conv op it is the input-gradient of); the
explanation is core/explain/conv_transpose.py (3-D: core/explain/conv_transpose3d.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds import conv_transpose3d
from gradcalc.core.kinds.conv_jacobian import (
    SPATIAL,
    ConvArrays,
    gather,
    output_axes,
    read_answers,
)
from gradcalc.core.kinds.conv_transpose_maps import jacobian_maps
from gradcalc.core.kinds.conv_transpose_symbols import most_terms, read_input_and_kernel
from gradcalc.core.kinds.fields import (
    read_groups,
    read_padding,
    read_padding_1d,
    read_pair,
    read_single,
)
from gradcalc.core.kinds.symbolic_fields import (
    naming,
    read_tensor,
)
from gradcalc.core.ops import adapter
from gradcalc.core.ops.conv import BIAS_ADD
from gradcalc.core.ops.conv_transpose import CONV_TRANSPOSE2D, ConvTransposeGeometry
from gradcalc.core.ops.conv_transpose3d import CONV_TRANSPOSE3D, ConvTranspose3dGeometry
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import looks_numeric, parse_int
from gradcalc.core.words import all_of, entries

KIND = "conv_transpose"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = {"input": "x", "kernel": "w", "output": "y", "loss": "L", "bias": "b"}
SECTIONS = registry.sections(KIND)
RESULTS = (
    "output",
    "output_shape",
    "grad_input",
    "grad_kernel",
    "grad_bias",
    "jacobian_kernel",
    "jacobian_input",
)
COUNT_ENTRIES = True
# The spatial axes of a problem with ``dims`` of them (a 1-D signal's positions are columns).
# How the spec writes each shape, by dims (for messages).
SHAPES = {
    1: ("L, C_in×L or N×C_in×L", "k or C_in×(C_out/g)×k"),
    2: ("H×W, C_in×H×W or N×C_in×H×W", "kh×kw or C_in×(C_out/g)×kh×kw"),
    3: ("D×H×W, C_in×D×H×W or N×C_in×D×H×W", "kd×kh×kw or C_in×(C_out/g)×kd×kh×kw"),
}


@record
class ConvTransposeProblem(ConvArrays):
    """A validated conv_transpose spec: ``input``/``kernel``/``bias``/``upstream`` are object
    arrays of Fractions in the spec's own shapes, ``*_axes`` name those axes (of n, c, row,
    col for the input; c, o, row, col for the kernel; n, o, row, col for the output)."""

    title: str | None
    input: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray | None  # 0-D (one shared bias) or C_out
    geometry: ConvTransposeGeometry | ConvTranspose3dGeometry
    padding_text: str
    upstream: np.ndarray
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    input_axes: tuple[str, ...]
    kernel_axes: tuple[str, ...]
    output_axes: tuple[str, ...]
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance
    dims_inferred: bool = False  # dims 1 read from a vector input and kernel, without the key
    # Why symbols were given random values (symbolic_fields.numbers_above_cap); "" if not.
    symbolic_capped: str = ""

    def kernel_full(self, values: np.ndarray) -> np.ndarray:
        """The kernel as C_in×(C_out/g)×kh×kw (3-D: C_in×(C_out/g)×kd×kh×kw)."""
        return values.reshape(self.geometry.kernel_shape)

    def output_nchw(self, values: np.ndarray) -> np.ndarray:
        """The output as the op makes it: N×C_out×H_out×W_out (3-D: N×C_out×D_out×H_out×W_out)."""
        return values.reshape(self.geometry.output_shape)


def transpose_op(problem: ConvTransposeProblem):  # noqa: ANN201
    """The op of this problem's dims: conv_transpose3d's for 3-D, else conv_transpose2d's."""
    return CONV_TRANSPOSE3D if problem.dims == 3 else CONV_TRANSPOSE2D


def read(spec: Mapping[str, Any], limits: common.Limits) -> ConvTransposeProblem:
    """Validate a conv_transpose spec (plain data) and return the problem, or raise SpecError."""
    common.check_keys(spec, KIND, KEYS)
    names = common.read_names(spec, NAME_DEFAULTS)
    x, w = read_input_and_kernel(spec, limits, names)
    dims, dims_inferred = _read_dims(spec, x, w)
    geometry, padding_text = _read_geometry(spec, x, w, limits, dims)
    bias = _read_bias(spec, geometry.out_channels, limits, names)
    out_axes = output_axes(x, w, dims)
    terms = most_terms(geometry, bias is not None)
    answers = read_answers(spec, (x, w, bias), geometry, out_axes, terms, (names, limits))
    return ConvTransposeProblem(
        title=common.read_title(spec),
        geometry=geometry,
        padding_text=padding_text,
        names=names,
        index_base=common.read_index_base(spec),
        input_axes=("n", "c")[2 + dims - x.ndim :] + SPATIAL[dims],
        kernel_axes=("c", "o", *SPATIAL[dims]) if w.ndim == dims + 2 else SPATIAL[dims],
        output_axes=out_axes,
        tolerance=common.read_tolerance(spec),
        dims_inferred=dims_inferred,
        **answers,
    )


def _read_dims(spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray) -> tuple[int, bool]:
    """``dims`` (1, 2 or 3) and whether it was read from a vector input and vector kernel without
    the key; the input has dims to dims + 2 axes, the kernel dims or dims + 2 (PyTorch's
    C_in×(C_out/g)×…: a kernel with one channel axis is refused by name)."""
    inferred = spec.get("dims") is None and x.ndim == 1 and w.ndim == 1
    if spec.get("dims") is not None:
        dims = parse_int(spec["dims"], ("dims",), minimum=1, maximum=3, what="dims")
    else:
        dims = 1 if inferred else 2
    input_shapes, kernel_shapes = SHAPES[dims]
    fits = lambda array, d: d <= array.ndim <= d + 2 and (array is x or array.ndim != d + 1)  # noqa: E731
    if spec.get("dims") is not None and not fits(x, dims) and not fits(w, dims):
        # Neither array fits the dims the spec gave: the dims is the likelier slip.
        others = [d for d in (1, 2, 3) if fits(x, d) and fits(w, d)]
        raise SpecError(
            ("dims",),
            f"dims {dims} (a {dims}-D transposed convolution) takes the input as {input_shapes} "
            f"and the kernel as {kernel_shapes}, but the input has {_axes(x.ndim)} and the "
            f"kernel {_axes(w.ndim)}" + (f"; set dims: {others[0]}" if others else ""),
        )
    if not dims <= x.ndim <= dims + 2:
        hint = (
            "; a vector input is a 1-D signal: give a vector kernel too, or dims: 1"
            if x.ndim == 1
            else "; for a 3-D transposed convolution (a volume) set dims: 3"
            if dims == 2 and x.ndim == 5
            else ""
        )
        raise SpecError(
            ("input",),
            f"the input has {x.ndim} {'axis' if x.ndim == 1 else 'axes'} but dims is {dims}: "
            f"give {input_shapes}{hint}",
        )
    if w.ndim not in (dims, dims + 2):
        shape = "×".join(map(str, w.shape))
        hint = (
            "; for a 1-D transposed convolution set dims: 1"
            if dims == 2 and w.ndim == 1
            else "; for a 3-D transposed convolution set dims: 3"
            if dims == 2 and w.ndim == 5
            else ""
        )
        if w.ndim == dims + 1:
            hint = (
                " (PyTorch's weight layout: input channels first, then output channels per group)"
            )
            if dims == 2 and spec.get("dims") is None and x.ndim in (2, 3):
                hint += "; for a 1-D transposed convolution of C_in×L signals set dims: 1"
        raise SpecError(
            ("kernel",),
            f"the kernel has {w.ndim} {'axis' if w.ndim == 1 else 'axes'} ({shape}) but dims is "
            f"{dims}: a {dims}-D transposed convolution takes {kernel_shapes}{hint}",
        )
    return dims, inferred


def _axes(count: int) -> str:
    return f"{count} {'axis' if count == 1 else 'axes'}"


def _read_groups(spec: Mapping[str, Any], in_channels: int, w: np.ndarray, dims: int) -> int:
    """groups: a whole number ≥ 1 dividing the input channels; the kernel's first axis is C_in."""
    groups = read_groups(spec)
    kernel_in = w.shape[0] if w.ndim == dims + 2 else 1
    if kernel_in != in_channels:
        spatial = {1: "k", 2: "kh×kw", 3: "kd×kh×kw"}[dims]
        hint = (
            f"give it as C_in×(C_out/g)×{spatial} ({in_channels}×…)"
            if w.ndim == dims
            else f"its first axis (input channels, PyTorch's layout) must be {in_channels}"
        )
        raise SpecError(
            ("kernel",),
            f"the kernel has {kernel_in} input channel{'s' if kernel_in != 1 else ''} but the "
            f"input has {in_channels}; {hint}",
        )
    if in_channels % groups:
        raise SpecError(
            ("groups",),
            f"groups {groups} does not divide the input's {in_channels} channel"
            f"{'s' if in_channels != 1 else ''}; C_in (and C_out) must be multiples of groups",
        )
    return groups


def _read_output_padding(
    spec: Mapping[str, Any], stride: tuple[int, int], dilation: tuple[int, int], dims: int
) -> tuple[int, int]:
    """output_padding: 0, a number or [rows, cols] (1-D: a number or [n], on the positions);
    each below its stride or its dilation (PyTorch: "output padding must be smaller than
    either stride or dilation")."""
    raw = spec.get("output_padding", 0)
    if dims == 1:
        padding = (0, read_single(raw, ("output_padding",), "output_padding", 0))
    else:
        padding = read_pair(raw, ("output_padding",), "output_padding", 0)
    for axis, (extra, s, d) in enumerate(zip(padding, stride, dilation, strict=True)):
        if extra >= s and extra >= d:
            path = ("output_padding", axis + dims - 2) if isinstance(raw, list) else ()
            which = "" if dims == 1 else f" ({('rows', 'cols')[axis]})"
            raise SpecError(
                path or ("output_padding",),
                f"output_padding {extra}{which} must be smaller than the "
                f"stride ({s}) or the dilation ({d}), as in PyTorch",
            )
    return padding


def _read_spacing(
    spec: Mapping[str, Any], w: np.ndarray, dims: int
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int], str]:
    """Stride, dilation, padding (top, bottom, left, right) and how the spec wrote the padding:
    numbers only, as in PyTorch.  A 1-D problem is a 2-D one with one row: stride and dilation
    1 and no padding on the rows."""
    raw_padding = spec.get("padding", 0)
    _refuse_padding_words(raw_padding, dims)
    if dims == 1:
        stride = (1, read_single(spec.get("stride", 1), ("stride",), "stride", 1))
        dilation = (1, read_single(spec.get("dilation", 1), ("dilation",), "dilation", 1))
        sides, padding_text = read_padding_1d(
            raw_padding, stride[1], dilation[1], w.shape[-1], words=False
        )
        return stride, dilation, (0, 0, *sides), padding_text
    stride = read_pair(spec.get("stride", 1), ("stride",), "stride", 1)
    dilation = read_pair(spec.get("dilation", 1), ("dilation",), "dilation", 1)
    padding, padding_text = read_padding(raw_padding, stride, dilation, w.shape[-2:], words=False)
    return stride, dilation, padding, padding_text


def _refuse_padding_words(raw_padding: Any, dims: int) -> None:
    """A transposed convolution's padding is numbers only ("same" and the like refused)."""
    if isinstance(raw_padding, str) and not looks_numeric(raw_padding):
        allowed = {
            1: "an integer or [left, right]",
            2: "an integer, [rows, cols] or [top, bottom, left, right]",
            3: "an integer, [depth, rows, cols] or [front, back, top, bottom, left, right]",
        }[dims]
        raise SpecError(
            ("padding",),
            f"padding {raw_padding!r}: a transposed convolution takes numbers ({allowed}), "
            "as in PyTorch",
        )


def _read_geometry(
    spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray, limits: common.Limits, dims: int
) -> tuple[ConvTransposeGeometry | ConvTranspose3dGeometry, str]:
    in_channels = x.shape[-dims - 1] if x.ndim > dims else 1
    groups = _read_groups(spec, in_channels, w, dims)
    if dims == 3:
        _refuse_padding_words(spec.get("padding", 0), dims)
        return conv_transpose3d.read_geometry(spec, x, w, groups, limits)
    stride, dilation, padding, padding_text = _read_spacing(spec, w, dims)
    geometry = ConvTransposeGeometry(
        batch=x.shape[0] if x.ndim == dims + 2 else 1,
        in_channels=in_channels,
        out_channels=(w.shape[1] if w.ndim == dims + 2 else 1) * groups,
        groups=groups,
        in_h=x.shape[-2] if dims == 2 else 1,
        in_w=x.shape[-1],
        kernel_h=w.shape[-2] if dims == 2 else 1,
        kernel_w=w.shape[-1],
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=_read_output_padding(spec, stride, dilation, dims),
        dims=dims,
    )
    axes = (
        ("rows", geometry.out_h, geometry.full_h, padding[:2]),
        ("columns", geometry.out_w, geometry.full_w, padding[2:]),
    )
    for axis, out, full, pads in axes[2 - dims :]:
        if out < 1:
            raise SpecError(
                ("padding",),
                f"the padding ({pads[0]} + {pads[1]}) cuts away "
                f"{all_of(full, 'position' if dims == 1 else axis[:-1])} of the scattered "
                "output; it must leave at least one",
            )
    _check_output_size(spec, geometry, limits)
    if geometry.work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this transposed convolution needs {geometry.work:,} multiply-adds, above the limit "
            f"of {limits.max_work:,} (raise it with --max-work)",
        )
    return geometry, padding_text


def _check_output_size(
    spec: Mapping[str, Any], geometry: ConvTransposeGeometry, limits: common.Limits
) -> None:
    """The output grows with the stride and the dilation, not with the work (a 2×2 input with
    stride 100000 is 4 multiply-adds into a 10¹⁰-entry output): cap its entries as the spec's
    own arrays are capped, at the key that spreads it (stride, else dilation, else input)."""
    t = geometry
    entries_out = t.batch * t.out_channels * t.out_h * t.out_w
    # The ops build the scattered output whole before the padding cuts it: a large padding
    # under a large stride leaves a small output of a huge scatter.
    full_h, full_w = t.full_h + t.output_padding[0], t.full_w + t.output_padding[1]
    entries_full = t.batch * t.out_channels * full_h * full_w
    if entries_out <= limits.max_elements < entries_full:
        spatial = f"{full_w}" if t.dims == 1 else f"{full_h}×{full_w}"
        raise LimitError(
            ("padding",),
            f"the scattered output, before the padding cuts it, would have {entries_full:,} "
            f"entries ({t.batch}×{t.out_channels}×{spatial}), above the limit of "
            f"{limits.max_elements:,} (raise it with --max-elements)",
        )
    if entries_out <= limits.max_elements:
        return
    spread = [key for key in ("stride", "dilation") if max(getattr(t, key)) > 1]
    spatial = f"{t.out_w}" if t.dims == 1 else f"{t.out_h}×{t.out_w}"
    raise LimitError(
        (spread[0] if spread else "input",),
        f"the output would have {entries_out:,} entries ({t.batch}×{t.out_channels}×{spatial}"
        f"), above the limit of {limits.max_elements:,} (raise it with --max-elements)",
    )


def _read_bias(
    spec: Mapping[str, Any], out_channels: int, limits: common.Limits, names: Mapping[str, str]
) -> np.ndarray | None:
    """The bias: None, one shared number (0-D) or one per output channel (numbers, symbols
    or formulas)."""
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
            f"bias has {entries(bias.shape[0])} but the output has {out_channels} channel"
            f"{'s' if out_channels != 1 else ''}; give one number per output channel, or one number",
        )
    return bias


# ---------------------------------------------------------------------------
# Running


@record
class ConvTransposeTrace:
    """What the passes recorded, NCHW (Fractions when exact, else float64)."""

    output: np.ndarray  # N×C_out×H_out×W_out
    grad_input: np.ndarray  # N×C_in×H×W
    grad_kernel: np.ndarray  # C_in×(C_out/g)×kh×kw
    grad_bias: np.ndarray | None
    exact: bool
    input: np.ndarray
    kernel: np.ndarray
    upstream: np.ndarray
    bias: np.ndarray | None
    jacobian_maps: tuple[np.ndarray, np.ndarray] | None = None


def compute(problem: ConvTransposeProblem, *, exact: bool) -> ConvTransposeTrace:
    """Forward and backward pass, exactly (rational) or in float64 (the adapter decides how)."""
    params = {"kernel": problem.kernel_full(problem.kernel), "geometry": problem.geometry}
    output, trace = adapter.forward(
        transpose_op(problem), problem.to_nchw(problem.input), params, exact=exact
    )
    upstream = problem.output_nchw(problem.upstream)
    grad_bias = None
    if problem.bias is not None:
        output, bias_trace = adapter.forward(BIAS_ADD, output, {"bias": problem.bias}, exact=exact)
        bias_grads = adapter.backward(upstream, bias_trace)
        grad_bias, upstream = bias_grads["bias"], bias_grads["input"]
    grads = adapter.backward(upstream, trace)
    if exact:
        x, w, up, bias = problem.input, problem.kernel, problem.upstream, problem.bias
    else:
        x, w, up, bias = (problem.floats[k] for k in ("input", "kernel", "upstream", "bias"))
    return ConvTransposeTrace(
        output=output,
        grad_input=grads["input"],
        grad_kernel=grads["kernel"],
        grad_bias=grad_bias,
        exact=exact,
        input=problem.to_nchw(x),
        kernel=problem.kernel_full(w),
        upstream=problem.output_nchw(up),
        bias=bias,
    )


def run(problem: ConvTransposeProblem, options: common.SolveOptions) -> Run:
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
    wanted = options.wants_jacobians() or any(k.startswith("jacobian") for k in problem.expected)
    small = out_size * max(problem.kernel.size, problem.input.size) <= options.limits.max_jacobian
    if wanted and small:
        trace.jacobian_maps = jacobian_maps(problem.geometry)
        results["jacobian_kernel"] = gather(problem.input, trace.jacobian_maps[0], exact)
        results["jacobian_input"] = gather(problem.kernel, trace.jacobian_maps[1], exact)
    axes = {
        "output": problem.output_axes,
        "grad_input": problem.input_axes,
        "grad_kernel": problem.kernel_axes,
        "grad_bias": ("o",) if problem.bias is not None and problem.bias.ndim else (),
    }
    return Run(results=results, trace=trace, exact=exact, solution={"axes": axes})


def finite_differences(problem: ConvTransposeProblem, run: Run) -> GradientCheck | None:
    """The analytic gradients against float64 central differences of Σ upstream ⊙ y."""
    from gradcalc.core.checking import probes_for
    from gradcalc.core.gradcheck import check_gradients
    from gradcalc.core.kinds.conv_gradcheck import checked_arrays

    params, analytic = checked_arrays(problem, run.results)
    return check_gradients(
        lambda p: float_loss(problem, p),
        params,
        analytic,
        max_entries=probes_for(loss_cost(problem.geometry)),
        terms=lambda p: float_loss(problem, p, sizes=True),
    )


# What one group's pass costs beyond its multiply-adds, in multiply-adds: the groups run one
# after another (core/ops/conv_transpose.py), ~30 µs of numpy calls each.
GROUP_COST = 4_000


def loss_cost(t: ConvTransposeGeometry) -> int:
    """The cost of one float_loss, in multiply-adds: a depthwise 1×1 problem of 20,000
    groups is 20,000 multiply-adds but 20,000 passes (probing 32 entries took 80 s)."""
    return t.work + GROUP_COST * t.groups


def float_loss(
    problem: ConvTransposeProblem, params: Mapping[str, np.ndarray], *, sizes: bool = False
) -> float:
    """L = Σ upstream ⊙ (conv_transpose(x, w) + b) in float64; ``sizes``: the size of its
    terms instead (every operand by its absolute value), which bounds its rounding."""
    from gradcalc.core.ops.conv_transpose import transposed_forward
    from gradcalc.core.ops.conv_transpose3d import transposed3d_forward

    forward_pass = transposed3d_forward if problem.dims == 3 else transposed_forward
    if sizes:
        params = {name: np.abs(value) for name, value in params.items()}
    upstream = problem.output_nchw(problem.floats["upstream"])
    output = forward_pass(
        problem.to_nchw(params["input"]), problem.kernel_full(params["kernel"]), problem.geometry
    )
    bias = params.get("bias")
    if bias is not None:
        per_channel = (1, -1) + (1,) * (output.ndim - 2)
        output = output + (bias.reshape(per_channel) if bias.ndim == 1 else bias)
    return float(np.sum((np.abs(upstream) if sizes else upstream) * output))
