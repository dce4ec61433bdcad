"""A conv problem's finite differences: its analytic gradients against float64 central
differences of L = Σ upstream ⊙ y, each probe of a big problem over only the sample or output
channel its entry reaches."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.checking import probes_for
from gradcalc.core.gradcheck import check_gradients
from gradcalc.core.ops.conv import conv2d_forward, flip
from gradcalc.core.ops.conv3d import conv3d_forward, flip3

if TYPE_CHECKING:
    from gradcalc.core.kinds.conv import ConvProblem
    from gradcalc.core.ops.conv import ConvGeometry
    from gradcalc.core.outcome import GradientCheck, Run


def checked_arrays(
    problem: Any, results: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The float64 input, kernel (and bias) a conv or conv_transpose problem's finite
    differences perturb, and the analytic gradients they are checked against."""
    params = {"input": problem.floats["input"], "kernel": problem.floats["kernel"]}
    analytic = {"input": results["grad_input"], "kernel": results["grad_kernel"]}
    if problem.bias is not None:
        params["bias"] = problem.floats["bias"]
        analytic["bias"] = results["grad_bias"]
    return params, analytic


def finite_differences(problem: ConvProblem, run: Run) -> GradientCheck | None:
    """The analytic gradients against float64 central differences of Σ upstream ⊙ y."""
    params, analytic = checked_arrays(problem, run.results)
    return check_gradients(
        lambda p: float_loss(problem, p),
        params,
        analytic,
        max_entries=probes_for(problem.geometry.work),
        terms=lambda p: float_loss(problem, p, sizes=True),
        local=local_losses(problem) if problem.geometry.work > LOCAL_FROM_WORK else None,
    )


# From this many multiply-adds a forward pass, each probe's loss covers only the sample or
# output channel its entry reaches (the bundled and practice problems are far below it).
LOCAL_FROM_WORK = 2_000_000


def local_losses(problem: ConvProblem) -> Callable[[str, tuple[int, ...]], Any]:
    """For finite differences on a big conv: the loss over the one sample an input entry is
    in (Σ over sample n of upstream ⊙ y), or the one output channel a kernel or bias entry
    feeds (Σ over channel o); the rest of the loss does not depend on the entry."""
    g = problem.geometry

    def local(name: str, index: tuple[int, ...]) -> Any:
        flat = int(np.ravel_multi_index(index, np.shape(problem.floats[name]))) if index else 0
        if name == "input":
            part = {"sample": flat // int(np.prod(g.input_shape[1:]))}
        elif name == "kernel":
            part = {"channel": flat // int(np.prod(g.kernel_shape[1:]))}
        elif problem.bias is not None and problem.bias.ndim == 1:
            part = {"channel": flat}
        else:
            return None
        return (
            lambda p: float_loss(problem, p, **part),
            lambda p: float_loss(problem, p, sizes=True, **part),
        )

    return local


def float_loss(
    problem: ConvProblem,
    params: Mapping[str, np.ndarray],
    *,
    sizes: bool = False,
    sample: int | None = None,
    channel: int | None = None,
) -> float:
    """L = Σ upstream ⊙ conv(x, w) + b in float64 (for finite differences); ``sizes``: the
    size of its terms instead, Σ |upstream| ⊙ conv(|x|, |w|) + |b|, which bounds its rounding.
    ``sample`` or ``channel``: only the part of the sum over that sample or output channel."""
    if sizes:
        params = {name: np.abs(value) for name, value in params.items()}
    g = problem.geometry
    x = params["input"].reshape(g.input_shape)
    w = params["kernel"].reshape(g.kernel_shape)
    if problem.padding_mode != "zeros" and any(g.padding):  # padded by copies, then no padding
        from gradcalc.core.kinds.conv_padding import inner_geometry
        from gradcalc.core.ops.pad import pad_forward

        x, g = pad_forward(x, g.padding, problem.padding_mode), inner_geometry(g)
    upstream = problem.output_nohw(problem.floats["upstream"])
    bias = params.get("bias")
    if bias is not None:
        bias = bias.reshape(1, -1, *(1,) * (x.ndim - 2)) if bias.ndim == 1 else bias
    if sample is not None:
        x, upstream = x[sample : sample + 1], upstream[sample : sample + 1]
        g = _with(g, batch=1)
    if channel is not None:
        w, upstream = w[channel : channel + 1], upstream[:, channel : channel + 1]
        if bias is not None and bias.ndim == x.ndim:  # one per channel (else one number)
            bias = bias[:, channel : channel + 1]
        if g.groups > 1:  # the one channel reads only its group's input channels
            group = g.group_inputs(channel)
            x = x[:, group.start : group.stop]
            g = _with(g, in_channels=g.group_in, groups=1)
        g = _with(g, out_channels=1)
    if g.dims == 3:
        output = conv3d_forward(x, flip3(w) if problem.flip_kernel else w, g)
    else:
        output = conv2d_forward(x, flip(w) if problem.flip_kernel else w, g)
    if bias is not None:
        output = output + bias
    return float(np.sum((np.abs(upstream) if sizes else upstream) * output))


def _with(geometry: ConvGeometry, **changes: int) -> ConvGeometry:
    """A copy of ``geometry`` with ``changes`` (fewer samples or output channels)."""
    from gradcalc.core.records import fields

    values = {name: getattr(geometry, name) for name in fields(geometry)}
    return type(geometry)(**{**values, **changes})
