"""A conv spec: how it is read (``read(spec, limits) -> ConvProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``, ``focus_target`` for
``--focus``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``, for ``gradcalc random``) live in core/kinds/conv_mistakes.py and
core/kinds/conv_practice.py, named in conv's catalog entry (``parts``).

A conv problem is one 2-D, 1-D or 3-D convolution (PyTorch's conv2d, conv1d or conv3d, with
``groups``).
Inside a run every array is NCHW: input ``x`` N×C×H×W, kernel ``w`` O×(C/g)×kh×kw, output
``y`` N×O×H_out×W_out; a 1-D problem (``dims: 1``, or a vector input with a vector kernel)
runs with H = kh = 1; a 3-D one (``dims: 3``) runs on N×C×D×H×W arrays with the conv3d op
(core/ops/conv3d.py; its geometry is read by core/kinds/conv3d.py).  The spec may give fewer
axes (H×W, C×H×W; kh×kw, C×kh×kw; in 1-D L, C×L, N×C×L and k, C×k, O×C×k; in 3-D D×H×W …
N×C×D×H×W and kd×kh×kw … O×C×kd×kh×kw); :class:`ConvProblem` remembers which axes were
given so results come back in the spec's own shape.  What the keys are is
the registry's Field table for kind conv (KEYS is read from it).

The array code (the conv2d and bias_add ops) is core/ops/conv.py; :func:`compute` runs it
through core/ops/adapter.py, which decides how it is made exact.  The explanation is
core/explain/conv.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds import conv_padding
from gradcalc.core.kinds.conv_jacobian import (
    SPATIAL,
    ConvArrays,
    gather,
    jacobian_maps,
    output_axes,
    read_answers,
)
from gradcalc.core.kinds.fields import focus_target as read_focus_target
from gradcalc.core.kinds.fields import (
    read_groups,
    read_padding_1d,
    read_pair,
    read_single,
)
from gradcalc.core.kinds.symbolic_fields import (
    naming,
    read_tensor,
)
from gradcalc.core.ops import adapter
from gradcalc.core.ops.conv import (
    BIAS_ADD,
    CONV2D,
    ConvGeometry,
)
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import parse_bool, parse_int
from gradcalc.core.words import entries

if TYPE_CHECKING:  # imported when --focus is used (start-up cost)
    from gradcalc.core.kinds.focus import Focusable, FocusTarget

    # Imported by a 3-D problem (dims: 3) only: a 2-D one, and every net, has no use for them.
    from gradcalc.core.ops.conv3d import Conv3dGeometry

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
# The spatial axes of a problem with ``dims`` of them (a 1-D signal's positions are columns).
# How the spec writes each shape, by dims (for messages).
SHAPES = {
    1: ("L, C×L or N×C×L", "k, C_in×k or C_out×C_in×k"),
    2: ("H×W, C×H×W or N×C×H×W", "kh×kw, C_in×kh×kw or C_out×C_in×kh×kw"),
    3: ("D×H×W, C×D×H×W or N×C×D×H×W", "kd×kh×kw, C_in×kd×kh×kw or C_out×C_in×kd×kh×kw"),
}
# The axes of the arrays a run uses (N×C×H×W, or N×C×D×H×W in 3-D), by output axis name.


# ---------------------------------------------------------------------------
# Reading


@record
class ConvProblem(ConvArrays):
    """A validated conv spec.

    ``input``/``kernel``/``bias``/``upstream`` are object arrays of Fractions
    in the spec's own shapes; ``*_axes`` name those axes (a subset of
    n, c, row, col / o, c, row, col; a 1-D problem has no row axis, a 3-D one has a depth axis
    before the rows).  ``dims_inferred``:
    dims 1 was read from a vector input and kernel, without the key.
    """

    title: str | None
    input: np.ndarray
    kernel: np.ndarray
    bias: np.ndarray | None  # 0-D (one shared bias) or O
    geometry: ConvGeometry | Conv3dGeometry
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
    dims_inferred: bool = False
    padding_mode: str = "zeros"  # or reflect, replicate, circular (core/kinds/conv_padding.py)

    # Why symbols were given random values (symbolic_fields.numbers_above_cap); "" if not.
    symbolic_capped: str = ""

    def kernel_ochw(self, values: np.ndarray) -> np.ndarray:
        """The kernel as the run holds it: O×(C/g)×kh×kw (3-D: O×(C/g)×kd×kh×kw)."""
        return values.reshape(self.geometry.kernel_shape)

    def output_nohw(self, values: np.ndarray) -> np.ndarray:
        """The output as the run holds it: N×O×H_out×W_out (3-D: N×O×D_out×H_out×W_out)."""
        return values.reshape(self.geometry.output_shape)

    def focusable(self) -> tuple[Focusable, ...]:
        """The arrays ``--focus`` may name: the output and the input."""
        from gradcalc.core.kinds.focus import Focusable

        output = Focusable("output", self.names["output"], self.output_shape, self.output_axes)
        if conv_padding.copies(self):  # an input cell's windows are its copies' (not shown)
            return (output,)
        return (output, Focusable("input", self.names["input"], self.input.shape, self.input_axes))


def read(spec: Mapping[str, Any], limits: common.Limits) -> ConvProblem:
    """Validate a conv spec (plain data) and return the problem, or raise SpecError."""
    common.check_keys(spec, KIND, KEYS)
    names = common.read_names(spec, NAME_DEFAULTS)
    x, w = _read_input_and_kernel(spec, limits, names)
    dims, dims_inferred = _read_dims(spec, x, w)
    # The leading axes the spec gave (none, c, or n and c / o and c), then the spatial ones.
    input_axes = ("n", "c")[2 + dims - x.ndim :] + SPATIAL[dims]
    kernel_axes = ("o", "c")[2 + dims - w.ndim :] + SPATIAL[dims]
    groups = _check_channels(spec, x, w, dims)
    geometry, padding_text, flip_kernel, padding_mode = _read_geometry(
        spec, x, w, limits, dims, groups
    )
    bias = _read_bias(spec, geometry.out_channels, limits, names)

    out_axes = output_axes(x, w, dims)
    problem_stub = dict(
        title=common.read_title(spec),
        geometry=geometry,
        padding_text=padding_text,
        flip_kernel=flip_kernel,
        names=names,
        index_base=common.read_index_base(spec),
        input_axes=input_axes,
        kernel_axes=kernel_axes,
        output_axes=out_axes,
        tolerance=common.read_tolerance(spec),
        dims_inferred=dims_inferred,
        padding_mode=padding_mode,
    )
    answers = read_answers(
        spec, (x, w, bias), geometry, out_axes, geometry.most_terms, (names, limits)
    )
    return ConvProblem(**problem_stub, **answers)


def _read_input_and_kernel(
    spec: Mapping[str, Any], limits: common.Limits, names: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The input (L … N×C×H×W) and kernel (k … O×C×kh×kw): numbers, or symbols and
    formulas (core/kinds/symbolic_fields.py); :func:`_read_dims` checks their ranks against
    ``dims``."""
    raw_input = common.require(
        spec,
        "input",
        KIND,
        "the input, H×W, C×H×W or N×C×H×W (1-D: L, C×L or N×C×L; 3-D: D×H×W … N×C×D×H×W)",
    )
    raw_kernel = common.require(
        spec,
        "kernel",
        KIND,
        "the kernel, kh×kw, C×kh×kw or O×C×kh×kw (1-D: k, C×k or O×C×k; 3-D: kd×kh×kw … O×C×kd×kh×kw)",
    )
    x, w = (
        read_tensor(
            raw, (key,), ndims=(1, 2, 3, 4, 5), what=key, limits=limits, **naming(spec, names, key)
        )
        for key, raw in (("input", raw_input), ("kernel", raw_kernel))
    )
    return x, w


def _read_dims(spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray) -> tuple[int, bool]:
    """``dims`` (1, 2 or 3) and whether it was read from a vector input and vector kernel
    without the key; the input must have dims to dims + 2 axes and the kernel likewise."""
    inferred = spec.get("dims") is None and x.ndim == 1 and w.ndim == 1
    if spec.get("dims") is not None:
        dims = parse_int(spec["dims"], ("dims",), minimum=1, maximum=3, what="dims")
    else:
        dims = 1 if inferred else 2
    input_shapes, kernel_shapes = SHAPES[dims]
    fits = lambda array, d: d <= array.ndim <= d + 2  # noqa: E731
    if spec.get("dims") is not None and not fits(x, dims) and not fits(w, dims):
        # Neither array fits the dims the spec gave: the dims is the likelier slip.
        others = [d for d in (1, 2, 3) if fits(x, d) and fits(w, d)]
        raise SpecError(
            ("dims",),
            f"dims is {dims} but the input has {_axes(x.ndim)} and the kernel "
            f"{_axes(w.ndim)}: in {dims}-D give the input as "
            f"{input_shapes} and the kernel as {kernel_shapes}"
            + (f", or set dims: {others[0]}" if others else ""),
        )
    if not dims <= x.ndim <= dims + 2:
        hint = (
            "; a vector input is a 1-D signal: give a vector kernel too, or dims: 1"
            if x.ndim == 1
            else "; for a 3-D convolution (a volume) set dims: 3"
            if x.ndim == 5
            else ""
        )
        raise SpecError(
            ("input",),
            f"the input has {x.ndim} {'axis' if x.ndim == 1 else 'axes'} but dims is {dims}: "
            f"give {input_shapes}{hint}",
        )
    if not dims <= w.ndim <= dims + 2:
        hint = (
            "; for a 1-D convolution set dims: 1"
            if dims == 2 and w.ndim == 1
            else "; for a 3-D convolution set dims: 3"
            if dims == 2 and w.ndim == 5
            else ""
        )
        raise SpecError(
            ("kernel",),
            f"the kernel has {w.ndim} {'axis' if w.ndim == 1 else 'axes'} but dims is {dims}: "
            f"give {kernel_shapes}{hint}",
        )
    return dims, inferred


def _axes(count: int) -> str:
    return f"{count} {'axis' if count == 1 else 'axes'}"


def _check_channels(spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray, dims: int) -> int:
    """``groups`` (default 1), which must divide the input and output channels; the
    kernel's input channels must be the input's over groups (a kernel with no channel
    axis has one)."""
    in_channels = x.shape[-dims - 1] if x.ndim > dims else 1
    out_channels = w.shape[0] if w.ndim == dims + 2 else 1
    kernel_channels = w.shape[-dims - 1] if w.ndim > dims else 1
    groups = read_groups(spec)
    if groups != 1:
        for count, which in ((in_channels, "input"), (out_channels, "output")):
            if count % groups:
                raise SpecError(
                    ("groups",),
                    f"groups {groups} does not divide the {count} {which} channel"
                    f"{'s' if count != 1 else ''}; groups must divide both the input and the "
                    "output channels (depthwise: groups = input channels)"
                    + _one_d_hint(spec, x, w, dims, groups),
                )
    wanted = in_channels // groups
    if kernel_channels != wanted:
        spatial = "×".join(map(str, w.shape[w.ndim - dims :]))
        if w.ndim == dims:
            spatial_names = {1: "k", 2: "kh×kw", 3: "kd×kh×kw"}[dims]
            hint = (
                f"give the kernel as C×{spatial_names} ({in_channels}×{spatial}) "
                f"or O×C×{spatial_names}"
            )
        elif groups > 1:
            hint = f"with groups {groups} the kernel is C_out×(C_in/groups)×…: its input-channel axis must be {wanted}"
        else:
            hint = f"the kernel's input-channel axis must be {in_channels}"
        raise SpecError(
            ("kernel",),
            f"the kernel has {kernel_channels} input channel{'s' if kernel_channels != 1 else ''} "
            f"but the input has {in_channels}{f' in {groups} groups' if groups > 1 else ''}; {hint}"
            + _one_d_hint(spec, x, w, dims, groups),
        )
    return groups


def _one_d_hint(
    spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray, dims: int, groups: int
) -> str:
    """When the channels do not fit a 2-D reading chosen by default (no dims key) but would
    fit a 1-D one (x: C×L or N×C×L, w: C_in×k or C_out×(C_in/groups)×k), say so: a grouped
    1-D problem written without dims: 1 is read as an image and its channels miscounted."""
    if spec.get("dims") is not None or dims != 2 or x.ndim not in (2, 3) or w.ndim not in (2, 3):
        return ""
    in_channels, kernel_channels = x.shape[-2], w.shape[-2]
    out_channels = w.shape[0] if w.ndim == 3 else 1
    if in_channels % groups or out_channels % groups or kernel_channels != in_channels // groups:
        return ""
    return (
        " (dims is not given, so the input was read as an image; as a 1-D signal, dims: 1, "
        "its channels fit)"
    )


def _read_geometry(
    spec: Mapping[str, Any],
    x: np.ndarray,
    w: np.ndarray,
    limits: common.Limits,
    dims: int,
    groups: int,
) -> tuple[ConvGeometry, str, bool, str]:
    """Stride, dilation, padding (and how the spec wrote it), flip_kernel and the padding
    mode, as one geometry whose kernel fits the padded input and whose work is within the
    limit.  A 1-D problem is a 2-D one with one row: stride and dilation 1 and no padding on
    the rows; a 3-D one is read by core/kinds/conv3d.py."""
    if dims == 3:
        from gradcalc.core.kinds import conv3d

        geometry3, padding_text, flip_kernel, padding_mode = conv3d.read_geometry(
            spec, x, w, groups
        )
        _check_work(geometry3, limits)
        return geometry3, padding_text, flip_kernel, padding_mode
    if dims == 1:
        stride = (1, read_single(spec.get("stride", 1), ("stride",), "stride", 1))
        dilation = (1, read_single(spec.get("dilation", 1), ("dilation",), "dilation", 1))
        sides, padding_text = read_padding_1d(
            spec.get("padding", 0), stride[1], dilation[1], w.shape[-1]
        )
        padding_mode = conv_padding.read_mode_1d(spec, sides, x.shape[-1])
        padding = (0, 0, *sides)
    else:
        stride = read_pair(spec.get("stride", 1), ("stride",), "stride", 1)
        dilation = read_pair(spec.get("dilation", 1), ("dilation",), "dilation", 1)
        padding, padding_text, padding_mode = conv_padding.read_padding_and_mode(
            spec, stride, dilation, w.shape[-2:], x.shape[-2:]
        )
    flip_kernel = parse_bool(spec.get("flip_kernel", False), ("flip_kernel",))
    geometry = ConvGeometry(
        batch=x.shape[0] if x.ndim == dims + 2 else 1,
        in_channels=x.shape[-dims - 1] if x.ndim > dims else 1,
        out_channels=w.shape[0] if w.ndim == dims + 2 else 1,
        in_h=x.shape[-2] if dims == 2 else 1,
        in_w=x.shape[-1],
        kernel_h=w.shape[-2] if dims == 2 else 1,
        kernel_w=w.shape[-1],
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
        dims=dims,
    )
    _check_fits(geometry)
    _check_work(geometry, limits)
    return geometry, padding_text, flip_kernel, padding_mode


def _check_work(geometry: ConvGeometry | Conv3dGeometry, limits: common.Limits) -> None:
    conv_padding.check_padded_size(geometry, limits)
    if geometry.work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this convolution needs {geometry.work:,} multiply-adds, above the limit of {limits.max_work:,} "
            "(raise it with --max-work)",
        )


def _check_fits(geometry: ConvGeometry) -> None:
    """The (dilated) kernel must fit inside the padded input along every spatial axis."""
    padding = geometry.padding
    axes = (
        ("rows", geometry.span_h, geometry.padded_h, geometry.in_h, padding[:2], 0),
        ("columns", geometry.span_w, geometry.padded_w, geometry.in_w, padding[2:], 1),
    )
    if geometry.dims == 1:  # one axis: positions along the signal
        axes = (("positions", *axes[1][1:]),)
    for axis, span, padded, size, pads, index in axes:
        if span > padded:
            dil = geometry.dilation[index]
            raise SpecError(
                ("kernel",),
                f"the kernel spans {span} {axis} (dilation {dil}) but the padded input has only {padded} "
                f"({size} + padding {pads[0]} + {pads[1]}); the kernel must fit inside the padded input",
            )


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
    if focus is not None and conv_padding.copies(problem):
        conv_padding.refuse_input_focus(focus, problem)
    return read_focus_target(focus, problem)


# ---------------------------------------------------------------------------
# Running


@record
class ConvTrace:
    """What the forward and backward pass recorded, in NCHW layout (object Fractions when
    exact, else float64): the results, the operands as the pass used them, and which
    entry each Jacobian cell is (:func:`jacobian_maps`, when the Jacobians were built)."""

    output: np.ndarray  # N×O×H_out×W_out (3-D: N×O×D_out×H_out×W_out; likewise below)
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
    as O×C×kh×kw (3-D: O×C×kd×kh×kw), the geometry and whether the kernel is flipped."""
    return {
        "kernel": problem.kernel_ochw(kernel),
        "geometry": problem.geometry,
        "flip": problem.flip_kernel,
    }


def conv_op(problem: ConvProblem) -> Any:
    """The op that runs the problem: conv3d in 3-D, else conv2d (1-D with one row)."""
    if problem.dims == 3:
        from gradcalc.core.ops.conv3d import CONV3D

        return CONV3D
    return CONV2D


def compute(problem: ConvProblem, *, exact: bool) -> ConvTrace:
    """Forward and backward pass, exactly (rational) or in float64 (the adapter decides how)."""
    kernel = kernel_params(problem, problem.kernel)
    output, conv_trace = adapter.forward(
        conv_op(problem), problem.to_nchw(problem.input), kernel, exact=exact
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
    if conv_padding.copies(problem):  # pad by copies, then this run on the padded input
        return conv_padding.run(problem, options)
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
        if problem.dims == 3:
            from gradcalc.core.kinds import conv3d

            trace.jacobian_maps = conv3d.jacobian_maps(problem)
        else:
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
