"""A conv_transpose problem's usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``)
and its practice profile (``PRACTICE``, for ``gradcalc random conv-transpose``, an image, with
``--dims 1`` a signal, with ``--dims 3`` a volume), which core/registry.py's kind_part reads
here (conv_transpose's catalog entry names this module in its ``parts``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core.errors import SpecError

# The spec's dims as reading it decides (the key, or a vector input with a vector kernel).
from gradcalc.core.kinds.conv_mistakes import _written_dims as written_dims
from gradcalc.core.kinds.conv_practice import KERNEL_LENGTH
from gradcalc.core.kinds.fields import pair_as_written
from gradcalc.core.kinds.mistakes import (
    FORWARD,
    forgot_upstream,
    is_zero,
    negated,
    spec_text,
    upstream_given,
    upstream_transposed,
)
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.profile import BATCH, CHANNELS, Knob, Profile, Variant

GRADIENTS = ("grad_input", "grad_kernel", "grad_bias")


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    forward_only = upstream_given(spec)
    results = FORWARD if forward_only else ()
    ones = (("upstream", None),) if forward_only else ()
    variants = []
    if not is_zero(spec.get("output_padding")):
        shown = spec_text(spec["output_padding"])
        extra = {
            1: "positions at the right",
            2: "rows/columns at the bottom and right",
            3: "depth slices, rows and columns at the back, bottom and right",
        }[_dims(spec)]
        variants.append(
            Mistake(
                "output_padding forgotten",
                f"{{name}} matches the result without output_padding ({shown}): the extra "
                f"{extra} were forgotten",
                (("output_padding", None), *ones),
                results=results,
                reveals=("output_shape",),
                slip=f"output_padding ({shown}) was forgotten",
            )
        )
    stride = _stride_as_written(spec)
    if stride is not None and set(stride) != {1}:
        variants.append(
            Mistake(
                "stride on the output",
                "{name} matches the stride applied to the output (the stride-1 transposed convolution "
                f"subsampled by the stride, {spec_text(spec['stride'])}) "
                "instead of to the input (its entries spread apart by the stride)",
                results=FORWARD,
                rerun=_stride_on_output(spec, stride),
                slip="the stride was applied to the output instead of the input",
            )
        )
    variants += _groups_ignored(spec)
    if not is_zero(spec.get("padding")):
        shown = spec_text(spec["padding"])
        variants.append(
            Mistake(
                "padding ignored",
                f"{{name}} matches the result without padding: the padding ({shown}) cut off "
                "the scattered output was ignored",
                (("padding", 0), *ones),
                results=results,
                reveals=("output_shape",),
                slip=f"the padding ({shown}) was ignored",
            )
        )
    return (
        variants
        + forgot_upstream(spec, GRADIENTS)
        + upstream_transposed(spec, GRADIENTS)
        + [negated(GRADIENTS)]
    )


def _groups_ignored(spec: Mapping[str, Any]) -> list[Mistake]:
    """groups read as 1: every input channel scatters into the kernel's C_out/g output
    channels, which then add up all C_in input channels (a per-channel bias: its first C_out/g
    entries, in order).  Forward results only: the output has g times fewer channels."""
    groups = spec.get("groups")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 2:
        return []
    bias = spec.get("bias")
    if isinstance(bias, list):
        bias = bias[: len(bias) // groups]
    return [
        Mistake(
            "groups ignored",
            f"{{name}} matches the result with groups ({groups}) ignored: every input channel "
            "scattered into the same output channels, so each output channel added up all the "
            "input channels instead of only its group's",
            (("groups", None), ("bias", bias), ("upstream", None)),
            results=FORWARD,
            reveals=("output_shape",),
            slip=f"groups ({groups}) was ignored",
        )
    ]


def _dims(spec: Mapping[str, Any]) -> int:
    """The spec's dims as reading it decides: 3 from the key, else 1 or 2 (written_dims)."""
    return 3 if spec.get("dims") == 3 else written_dims(spec)


def _stride_as_written(spec: Mapping[str, Any]) -> tuple[int, ...] | None:
    """The stride a validated spec wrote plainly ((s, s) or (sh, sw); 3-D: (sd, sh, sw)), None
    for an unusual spelling."""
    raw = spec.get("stride", 1)
    if _one_number(raw):  # 1-D's [s]
        return raw[0], raw[0]
    if _dims(spec) != 3:
        return pair_as_written(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw, raw, raw
    if isinstance(raw, list) and len(raw) == 3 and all(type(v) is int for v in raw):
        return tuple(raw)
    return None


def _one_number(value: Any) -> bool:
    """Whether ``value`` is a list of one whole number (a 1-D spec's [s])."""
    return (
        isinstance(value, list)
        and len(value) == 1
        and isinstance(value[0], int)
        and not isinstance(value[0], bool)
    )


def _stride_on_output(spec: Mapping[str, Any], stride: tuple[int, ...]) -> Any:
    """A rerun: the stride-1 transposed convolution's output, every stride-th row and column
    (3-D: depth slice, row and column)."""

    def rerun(limits: Any) -> dict[str, Any] | None:
        from gradcalc.core.kinds import conv_transpose

        plain = {k: v for k, v in spec.items() if k not in ("expected", "upstream")}
        plain["stride"] = 1
        plain.pop("output_padding", None)  # below stride 1 it must be 0
        try:
            problem = conv_transpose.read(plain, limits)
        except SpecError:
            return None
        output = conv_transpose.compute(problem, exact=True).output
        # N×C_out×H_out×W_out: a 1-D problem's one row is kept, its positions subsampled
        # (3-D: N×C_out×D_out×H_out×W_out, every axis subsampled).
        steps = (1, stride[1]) if problem.dims == 1 else stride
        output = output[(slice(None), slice(None), *(slice(None, None, s) for s in steps))]
        dims = problem.dims
        shape = (*problem.output_shape[:-dims], *output.shape[-dims:])
        return {"output": output.reshape(shape), "output_shape": np.array(shape)}

    return rerun


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random conv-transpose)

SIZE = Knob(
    "size",
    "pair",
    "input height×width: N or HxW",
    default=(2, 2),
    maximum=8,
    aliases=("--input-size",),
    label="{} input",
)
KERNEL = Knob(
    "kernel_size",
    "pair",
    "kernel height×width: N or HxW",
    default=(3, 3),
    maximum=5,
    label="{} kernel",
)
OUT_CHANNELS = Knob(
    "out_channels",
    "int",
    "output channels of each group (all of them with --groups 1)",
    default=1,
    maximum=4,
    label="{} output channels",
    label_default=False,
)
STRIDE = Knob(
    "stride", "pair", "N or SHxSW", default=(2, 2), field="stride", maximum=4, label="stride {}"
)
PADDING = Knob(
    "padding",
    "pair",
    "rows/columns cut off each side: N or PHxPW",
    default=(0, 0),
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
    label_default=False,
)
OUTPUT_PADDING = Knob(
    "output_padding",
    "pair",
    "extra rows/columns at the bottom/right (below the stride): N or OHxOW",
    default=(0, 0),
    field="output_padding",
    minimum=0,
    maximum=3,
    label="output_padding {}",
    label_default=False,
)

GROUPS = Knob(
    "groups",
    "int",
    "groups g (--channels a multiple of g)",
    default=1,
    field="groups",
    maximum=4,
    label="{} groups",
    label_default=False,
)

# 1-D problems (--dims 1): a signal of L, a kernel of k, int stride, padding and output_padding.
LENGTH = Knob("length", "int", "1-D: signal length L", default=3, maximum=8, label="length {}")
STRIDE_1D = Knob("stride", "int", "N", default=2, field="stride", maximum=4, label="stride {}")
PADDING_1D = Knob(
    "padding",
    "int",
    "positions cut off each side: N",
    default=0,
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
    label_default=False,
)
OUTPUT_PADDING_1D = Knob(
    "output_padding",
    "int",
    "extra positions at the right (below the stride): N",
    default=0,
    field="output_padding",
    minimum=0,
    maximum=3,
    label="output_padding {}",
    label_default=False,
)
# 3-D problems (--dims 3): --depth frames of a --size image, a kernel of --kernel-depth ×
# --kernel-size; int stride, padding and output_padding (the same on every axis).
DEPTH = Knob("depth", "int", "3-D: input depth D (frames)", default=2, maximum=6, label="depth {}")
KERNEL_DEPTH = Knob(
    "kernel_depth", "int", "3-D: kernel depth kd", default=2, maximum=5, label="kernel depth {}"
)
DIMS = Knob(
    "dims",
    "choice",
    "spatial axes: 2 (an image), 1 (a signal) or 3 (a volume; stride, padding and "
    "output_padding then one number for every axis)",
    default="2",
    choices=("2", "1", "3"),
    seed_names=(("2", ""),),  # 2-D problems keep the draws they had before --dims
    quiet_default=True,
)


def _plain_kernel(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """A 1-D problem with one input and one output channel takes its kernel as a plain k
    (its output then a plain signal, as conv1d's is), not 1×1×k."""
    if values["channels"] == 1 and values["out_channels"] == 1:
        fields["kernel"] = fields["kernel"][0][0]
    return fields


PRACTICE = Profile(
    {
        "2": Variant(
            knobs=(
                SIZE,
                KERNEL,
                STRIDE,
                PADDING,
                OUTPUT_PADDING,
                CHANNELS,
                OUT_CHANNELS,
                GROUPS,
                BATCH,
            ),
            tensors={
                "input": ("batch?", "channels?", "size"),
                # PyTorch's layout, C_in×C_out×kh×kw, always 4-D (a kh×kw kernel is C_in = 1 only).
                "kernel": ("channels", "out_channels", "kernel_size"),
            },
        ),
        "1": Variant(
            knobs=(
                LENGTH,
                KERNEL_LENGTH,
                STRIDE_1D,
                PADDING_1D,
                OUTPUT_PADDING_1D,
                CHANNELS,
                OUT_CHANNELS,
                GROUPS,
                BATCH,
            ),
            tensors={
                "input": ("batch?", "channels?", "length"),
                # C_in×(C_out/g)×k, always 3-D, as in 2-D.
                "kernel": ("channels", "out_channels", "kernel_length"),
            },
            fixed={"dims": 1},
            adjust=_plain_kernel,
        ),
        "3": Variant(
            knobs=(
                DEPTH,
                SIZE,
                KERNEL_DEPTH,
                KERNEL,
                STRIDE_1D,
                PADDING_1D,
                OUTPUT_PADDING_1D,
                CHANNELS,
                OUT_CHANNELS,
                GROUPS,
                BATCH,
            ),
            tensors={
                "input": ("batch?", "channels?", "depth", "size"),
                # C_in×(C_out/g)×kd×kh×kw, always 5-D, as in 1-D and 2-D.
                "kernel": ("channels", "out_channels", "kernel_depth", "kernel_size"),
            },
            fixed={"dims": 3},
        ),
    },
    by=DIMS,
)
