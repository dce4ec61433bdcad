"""A conv problem's practice profile (``PRACTICE``, for ``gradcalc random conv``): an image
(the default, ``--dims 2``), a signal (``--dims 1``) or a volume (``--dims 3``: frames of
an image, ``--depth`` of them), with its kernel, stride, padding, dilation, padding mode,
channels and groups.  conv's catalog entry names this module in its ``parts``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcalc.core.kinds.profile import BATCH, CHANNELS, IMAGE, Knob, Profile, Variant
from gradcalc.core.ops.pad import MODES

# gradcalc random conv --padding-mode (left out of the seed text and spec at zeros, so the
# problems drawn before it existed stay the same).
PADDING_MODE = Knob(
    "padding_mode",
    "choice",
    "what the padding holds: zeros, reflect, replicate or circular",
    default="zeros",
    field="padding_mode",
    choices=MODES,
    label="{} padding",
    label_default=False,
    quiet_default=True,
)

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

# 1-D problems (--dims 1): a signal of L, a kernel of k, int stride, padding and dilation.
LENGTH = Knob("length", "int", "1-D: signal length L", default=6, maximum=16, label="length {}")
KERNEL_LENGTH = Knob(
    "kernel_length", "int", "1-D: kernel length k", default=3, maximum=7, label="kernel of {}"
)
STRIDE_1D = Knob("stride", "int", "N", default=1, field="stride", maximum=4, label="stride {}")
PADDING_1D = Knob(
    "padding",
    "int",
    "zeros on each side: N",
    default=0,
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
)
DILATION_1D = Knob(
    "dilation",
    "int",
    "N",
    default=1,
    field="dilation",
    maximum=3,
    label="dilation {}",
    label_default=False,
)
# Grouped and depthwise convolution (--groups G; depthwise: G = --channels): left out of the
# seed text and the spec at 1, so the problems drawn before it existed stay the same.
GROUPS = Knob(
    "groups",
    "int",
    "groups g: --channels and --out-channels multiples of g (depthwise: g = --channels)",
    default=1,
    field="groups",
    maximum=4,
    label="{} groups",
    label_default=False,
    quiet_default=True,
)


def _grouped_kernel(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """With g groups the kernel is C_out×(C_in/g)×…: the drawn C_out×C_in×… kernel keeps the
    first C_in/g channels of each output channel (sizes that do not divide are left for the
    solver to refuse with its own words)."""
    groups, channels, out_channels = values["groups"], values["channels"], values["out_channels"]
    if groups > 1 and channels > 1 and out_channels > 1 and not channels % groups:
        fields["kernel"] = [kernel[: channels // groups] for kernel in fields["kernel"]]
    return fields


# 3-D problems (--dims 3): --depth frames of a --size image, a kernel of --kernel-depth ×
# --kernel-size; int stride, padding and dilation (the same on every axis).
DEPTH = Knob("depth", "int", "3-D: input depth D (frames)", default=3, maximum=6, label="depth {}")
KERNEL_DEPTH = Knob(
    "kernel_depth", "int", "3-D: kernel depth kd", default=2, maximum=5, label="kernel depth {}"
)
DIMS = Knob(
    "dims",
    "choice",
    "spatial axes: 2 (an image), 1 (a signal) or 3 (a volume)",
    default="2",
    choices=("2", "1", "3"),
    seed_names=(("2", ""),),  # 2-D problems keep the draws they had before --dims
    quiet_default=True,
)

PRACTICE = Profile(
    {
        "2": Variant(
            knobs=(
                IMAGE,
                KERNEL,
                STRIDE,
                PADDING,
                PADDING_MODE,
                DILATION,
                CHANNELS,
                OUT_CHANNELS,
                GROUPS,
                BATCH,
            ),
            tensors={
                "input": ("batch?", "channels?", "size"),
                "kernel": ("out_channels?", "channels?", "kernel_size"),
            },
            # Cross-correlation (PyTorch) or true convolution: courses teach both.
            fixed={"flip_kernel": False},
            adjust=_grouped_kernel,
        ),
        "1": Variant(
            knobs=(
                LENGTH,
                KERNEL_LENGTH,
                STRIDE_1D,
                PADDING_1D,
                PADDING_MODE,
                DILATION_1D,
                CHANNELS,
                OUT_CHANNELS,
                GROUPS,
                BATCH,
            ),
            tensors={
                "input": ("batch?", "channels?", "length"),
                "kernel": ("out_channels?", "channels?", "kernel_length"),
            },
            fixed={"flip_kernel": False, "dims": 1},
            adjust=_grouped_kernel,
        ),
        "3": Variant(
            knobs=(
                DEPTH,
                IMAGE,
                KERNEL_DEPTH,
                KERNEL,
                STRIDE_1D,
                PADDING_1D,
                PADDING_MODE,
                DILATION_1D,
                CHANNELS,
                OUT_CHANNELS,
                GROUPS,
                BATCH,
            ),
            tensors={
                "input": ("batch?", "channels?", "depth", "size"),
                "kernel": ("out_channels?", "channels?", "kernel_depth", "kernel_size"),
            },
            fixed={"flip_kernel": False, "dims": 3},
            adjust=_grouped_kernel,
        ),
    },
    by=DIMS,
)
