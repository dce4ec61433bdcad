"""A conv's padding beyond zeros: ``padding: full`` (d·(k−1) on every side) and
``padding_mode: reflect | replicate | circular`` (PyTorch's Conv2d ``padding_mode``: the input
is padded by ``torch.nn.functional.pad`` with that mode, then convolved without padding).

A conv whose padding copies input cells runs as two ops: the pad op (core/ops/pad.py)
builds the padded input x_padded (N×C×H_padded×W_padded), and the conv op convolves it
with no padding.  That inner convolution is an ordinary conv problem (:func:`inner_problem`,
its input named ``xpad``), run and explained as one; ∂L/∂x is then ∂L/∂x_padded folded back
onto the input cells each padded cell copied (the pad op's backward), and ∂y/∂x the
columns of ∂y/∂x_padded added the same way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.fields import read_choice, read_padding
from gradcalc.core.ops import adapter
from gradcalc.core.ops.pad import MODES, PAD, fits, limit_words, pad_backward_input, pad_forward
from gradcalc.core.outcome import Run
from gradcalc.core.records import fields, record

if TYPE_CHECKING:
    from gradcalc.core import spec as common
    from gradcalc.core.kinds.conv import ConvProblem
    from gradcalc.core.ops.conv import ConvGeometry
    from gradcalc.core.ops.conv3d import Conv3dGeometry

MODE_WORDS = {
    "reflect": "reflect padding: each padded cell mirrors the input about its edge row/column "
    "(the edge itself not repeated)",
    "replicate": "replicate padding: each padded cell repeats the nearest edge cell",
    "circular": "circular padding: the input wraps around (the padding above is the last rows, …)",
}
# The same for a 1-D signal (dims 1), which is padded on its left and right only.
MODE_WORDS_1D = {
    "reflect": "reflect padding: each padded position mirrors the signal about its edge "
    "position (the edge itself not repeated)",
    "replicate": "replicate padding: each padded position repeats the nearest edge position",
    "circular": "circular padding: the signal wraps around (the padding on the left is its "
    "last positions, on the right its first)",
}


def read_padding_and_mode(
    spec: Mapping[str, Any],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    kernel_hw: tuple[int, int],
    input_hw: tuple[int, int],
) -> tuple[tuple[int, int, int, int], str, str]:
    """(top, bottom, left, right), how the spec wrote the padding, and the padding mode."""
    mode = read_choice(spec, "padding_mode", MODES, default="zeros")
    value = spec.get("padding", 0)
    if isinstance(value, str) and value.strip().lower() == "full":
        # d·(k−1) on every side: every window that overlaps the input at all.
        pad_h, pad_w = dilation[0] * (kernel_hw[0] - 1), dilation[1] * (kernel_hw[1] - 1)
        padding = (pad_h, pad_h, pad_w, pad_w)
        text = f'"full" (d·(k − 1) on every side: {pad_h} above and below, {pad_w} left and right)'
    else:
        padding, text = read_padding(value, stride, dilation, kernel_hw)
    _check_fits(spec, padding, mode, input_hw)
    return padding, text, mode


def read_mode_1d(spec: Mapping[str, Any], sides: tuple[int, int], length: int) -> str:
    """A 1-D conv's padding mode, once its (left, right) padding is known: PyTorch's conv1d
    pads the last axis with ``F.pad`` in that mode, each side within the signal's length."""
    mode = read_choice(spec, "padding_mode", MODES, default="zeros")
    _check_fits(spec, (0, 0, *sides), mode, (1, length), one_d=True)
    return mode


def _check_fits(
    spec: Mapping[str, Any],
    padding: tuple[int, int, int, int],
    mode: str,
    input_hw: tuple[int, int],
    one_d: bool = False,
) -> None:
    """PyTorch's rule: reflect padding < the input's size on that axis, circular ≤ it
    (``one_d``: a signal of input_hw[1] positions, padded left and right only)."""
    sides = ("top", "bottom", "left", "right")
    for side, pad in zip(sides, padding, strict=True):
        rows = side in ("top", "bottom")
        size = input_hw[0] if rows else input_hw[1]
        if fits(mode, pad, size):
            continue
        cell = "row" if rows else ("position" if one_d else "column")
        cells = cell + ("s" if size != 1 else "")
        allowed = size - 1 if mode == "reflect" else size
        path = ("padding",) if "padding" in spec else ("padding_mode",)
        raise SpecError(
            path,
            f"{mode} padding of {pad} on the {side} is not {limit_words(mode)} the input's "
            f"{size} {cells} (PyTorch's rule: {mode} padding must be {limit_words(mode)} the "
            f"input size on that axis); pad at most {allowed} there, or use padding_mode "
            "replicate or zeros",
        )


def check_padded_size(geometry: ConvGeometry | Conv3dGeometry, limits: common.Limits) -> None:
    """The padded input (N×C×padded spatial sizes, built whole by the ops and shown) must be
    within --max-elements: padding "same" or "full" with a large dilation pads a few input
    cells by billions, a small work that would not fit in memory."""
    if hasattr(geometry, "padded"):  # 3-D: (D, H, W) padded
        padded = tuple(geometry.padded)
    elif geometry.dims == 1:
        padded = (geometry.padded_w,)
    else:
        padded = (geometry.padded_h, geometry.padded_w)
    entries = geometry.batch * geometry.in_channels * math.prod(padded)
    if entries <= limits.max_elements:
        return
    raise LimitError(
        ("padding",),
        f"the padded input would have {entries:,} entries ({geometry.batch}×"
        f"{geometry.in_channels}×{'×'.join(map(str, padded))}), above the limit of "
        f"{limits.max_elements:,} (raise it with --max-elements)",
    )


def copies(problem: ConvProblem) -> bool:
    """Whether the padding copies input cells (a mode other than zeros, and some padding)."""
    return problem.padding_mode != "zeros" and any(problem.geometry.padding)


def refuse_input_focus(focus: str, problem: ConvProblem) -> None:
    """``--focus input[…]`` under padding by copies: an input cell is read through its copies
    in the padding too, which the window pictures do not draw; say so (FocusError)."""
    from gradcalc.core.errors import FocusError

    name = focus.split("[", 1)[0].strip()
    index = {1: "[i]", 2: "[i,j]", 3: "[t,i,j]"}[problem.dims]
    if name.lower() == "input" or name == problem.names["input"]:
        raise FocusError(
            f"{name}[…]: with {problem.padding_mode} padding an input cell is also read through "
            "its copies in the padding, which --focus does not draw; focus on an output "
            f"element (output{index} or {problem.names['output']}{index}), whose window shows "
            "the padded input"
        )


def inner_geometry(g: ConvGeometry) -> ConvGeometry:
    """The convolution of the padded input: its sizes, and no padding of its own (a 3-D
    Conv3dGeometry likewise, over its padded depth, rows and columns)."""
    values = {name: getattr(g, name) for name in fields(g)}
    if g.dims == 3:
        values.update(in_size=g.padded, padding=(0,) * 6)
    else:
        values.update(in_h=g.padded_h, in_w=g.padded_w, padding=(0, 0, 0, 0))
    return type(g)(**values)


def padded_name(names: Mapping[str, str]) -> str:
    """The padded input's symbol: ``xpad`` for input ``x`` (primed while it is taken)."""
    name = f"{names['input']}pad"
    while name in names.values():
        name += "′"
    return name


def pad_params(problem: ConvProblem) -> dict[str, Any]:
    """The pad op's parameters: ``padding`` (top, bottom, left, right) and ``mode``."""
    return {"padding": problem.geometry.padding, "mode": problem.padding_mode}


def inner_problem(problem: ConvProblem) -> ConvProblem:
    """The conv of the padded input (exact values, the spec's own axes) with no padding, the
    input named ``xpad``; no expected answers (the problem itself checks them)."""
    g = problem.geometry
    padded = pad_forward(problem.to_nchw(problem.input), g.padding, problem.padding_mode)
    values = {name: getattr(problem, name) for name in fields(problem)}
    spatial = {1: lambda: (g.padded_w,), 2: lambda: (g.padded_h, g.padded_w)}.get(
        problem.dims, lambda: g.padded
    )()
    values.update(
        input=padded.reshape(*problem.input.shape[: -problem.dims], *spatial),
        geometry=inner_geometry(g),
        padding_text=f"none: {padded_name(problem.names)} is already padded",
        padding_mode="zeros",
        names={**problem.names, "input": padded_name(problem.names)},
        expected={},
    )
    return type(problem)(**values)


@record
class PaddedTrace:
    """A run whose padding copies input cells: the inner conv (its problem and run) and the
    folded ∂L/∂x (N×C×H×W; exact Fractions or float64, as the inner run was)."""

    inner_problem: Any  # ConvProblem
    inner_run: Run
    grad_input: np.ndarray
    exact: bool


def run(problem: ConvProblem, options: common.SolveOptions) -> Run:
    """Pad, convolve without padding (conv's own run), fold ∂L/∂x_padded back onto the input."""
    from gradcalc.core.kinds import conv

    inner = inner_problem(problem)
    inner_run = conv.run(inner, options)
    exact = inner_run.exact
    x = problem.to_nchw(problem.input)
    _, pad_trace = adapter.forward(PAD, x, pad_params(problem), exact=exact)
    g = inner.geometry
    grad_padded = inner_run.results["grad_input"].reshape(g.input_shape)
    grad_input = adapter.backward(grad_padded, pad_trace)["input"]
    results = dict(inner_run.results)
    results["grad_input"] = grad_input.reshape(problem.input.shape)
    if "jacobian_input" in results:
        results["jacobian_input"] = fold_columns(problem, results["jacobian_input"])
    trace = PaddedTrace(inner, inner_run, grad_input, exact)
    return Run(results=results, trace=trace, exact=exact, solution=inner_run.solution)


def fold_columns(problem: ConvProblem, jacobian_padded: np.ndarray) -> np.ndarray:
    """R×I_padded ∂y/∂x_padded -> R×I ∂y/∂x: each padded column added onto the input column
    it copied (the pad op's backward, row by row)."""
    g = problem.geometry
    rows = jacobian_padded.shape[0]
    padded = g.padded if g.dims == 3 else (g.padded_h, g.padded_w)
    size = g.in_size if g.dims == 3 else (g.in_h, g.in_w)
    as_images = jacobian_padded.reshape(rows * g.batch, g.in_channels, *padded)
    folded = pad_backward_input(
        as_images, (rows * g.batch, g.in_channels, *size), g.padding, problem.padding_mode
    )
    return folded.reshape(rows, -1)
