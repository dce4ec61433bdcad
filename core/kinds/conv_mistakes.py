"""A conv problem's usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``): the kernel
flipped or not, the groups ignored, a padding mode treated as zeros, the sliding window's size slips, the upstream forgotten or
transposed, a gradient transposed or negated.  conv's catalog entry names this module in its
``parts``."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import pair_as_written
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import (
    forgot_upstream,
    is_zero,
    negated,
    size_mistakes,
    transposed,
    upstream_transposed,
)
from gradcalc.core.ops.pad import MODES
from gradcalc.core.values import parse_array


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    flipped = spec.get("flip_kernel") is True
    dims = _written_dims(spec)
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
        *_groups_ignored(spec),
    ]
    gradients = ("grad_input", "grad_kernel", "grad_bias")
    if dims == 3:  # the "+1" slip would drop depth too
        stride = pair_as_written(spec.get("stride", 1))
        sizes = [v for v in size_mistakes(spec, stride) if v.label != "size without +1"]
        return (
            variants
            + [transposed("grad_kernel", "∂L/∂kernel")]
            + mode_mistakes(spec)
            + sizes
            + forgot_upstream(spec, gradients)
            + upstream_transposed(spec, gradients)
            + [negated(gradients)]
        )
    if dims == 1:  # no rows and columns to swap, and one axis for the size slips
        stride = pair_as_written(spec.get("stride", 1))
        sizes = [v for v in size_mistakes(spec, stride) if v.label != "size without +1"]
        return (
            variants
            + mode_mistakes(spec)
            + sizes
            + forgot_upstream(spec, gradients)
            + [negated(gradients)]
        )
    variants.append(transposed("grad_kernel", "∂L/∂kernel"))
    stride = pair_as_written(spec.get("stride", 1))
    return (
        variants
        + mode_mistakes(spec)
        + size_mistakes(spec, stride)
        + forgot_upstream(spec, gradients)
        + upstream_transposed(spec, gradients)
        + [negated(gradients)]
    )


def _written_dims(spec: Mapping[str, Any]) -> int:
    """The spec's dims as reading it decides (1, 2 or 3: the key, which the reader also takes
    as text such as "1", or 1 for a vector input and kernel)."""
    declared = spec.get("dims")
    if declared is not None:
        try:
            number = Fraction(str(declared).strip())
        except (ValueError, ZeroDivisionError):
            return 2  # refused when the spec is read
        return int(number) if number in (1, 3) else 2

    def depth(value: Any) -> int:
        if isinstance(value, list):  # nested lists: follow the first entries
            return 1 + depth(value[0]) if value else 1
        limit = common.Limits().max_elements  # a matrix written as text: read it
        return parse_array(value, (), ndims=(0, 1, 2, 3, 4), what="", max_elements=limit).ndim

    try:
        return 1 if depth(spec["input"]) == 1 and depth(spec["kernel"]) == 1 else 2
    except (SpecError, KeyError):
        return 2


def _groups_ignored(spec: Mapping[str, Any]) -> list[Mistake]:
    """groups g > 1 ignored: every output channel reads all C input channels, its C/g kernel
    channels applied to each group alike (the kernel repeated g times along its channel
    axis).  Only the output and ∂L/∂x have the key's shape."""
    groups = spec.get("groups")
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 2:
        return []
    try:
        kernel = parse_array(
            spec["kernel"],
            ("kernel",),
            ndims=(1, 2, 3, 4, 5),
            what="kernel",
            max_elements=common.Limits().max_elements,
        )
    except (SpecError, KeyError):
        return []
    if kernel.ndim < 3:
        return []
    repeated = np.concatenate([kernel] * groups, axis=1)
    as_written = np.vectorize(lambda v: int(v) if v.denominator == 1 else str(v), otypes=[object])(
        repeated
    )
    return [
        Mistake(
            "groups ignored",
            f"{{name}} matches the result with groups {groups} ignored: every output channel "
            "reading all input channels (its kernel applied to each group alike), instead of "
            "only the input channels of its own group",
            (("groups", None), ("kernel", as_written.tolist())),
            results=("output", "grad_input", "jacobian_input"),
            slip=f"the groups ({groups}) were ignored",
        )
    ]


def mode_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """Padding by copies (reflect, replicate, circular) treated as zeros, for gradcalc check."""
    mode = spec.get("padding_mode")
    mode = mode.strip().lower() if isinstance(mode, str) else mode  # as read_choice reads it
    if mode not in MODES[1:] or is_zero(spec.get("padding")):
        return []
    return [
        Mistake(
            "padding mode ignored",
            f"{{name}} matches the result with zero padding: the {mode} padding was treated as "
            "zeros (padding_mode: zeros)",
            (("padding_mode", "zeros"),),
            slip=f"the {mode} padding was treated as zeros",
        )
    ]
