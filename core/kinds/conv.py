"""What a conv spec may say: its usual mistakes and its practice profile.

A conv problem is one 2-D convolution layer (PyTorch's nn.Conv2d, or true convolution
with ``flip_kernel: true``): an input, a kernel, stride, padding and dilation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gradcalc.core.kinds.fields import pair_as_written
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream, size_mistakes, transposed
from gradcalc.core.kinds.profile import BATCH, CHANNELS, IMAGE, Knob, Profile, Variant

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
        ),
        transposed("grad_kernel", "∂L/∂kernel"),
    ]
    stride = pair_as_written(spec.get("stride", 1))
    return (
        variants
        + size_mistakes(spec, stride)
        + forgot_upstream(spec, ("grad_input", "grad_kernel", "grad_bias"))
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
        )
    }
)
