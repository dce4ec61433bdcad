"""A 3-D conv_transpose spec's geometry (``dims: 3``, PyTorch's conv_transpose3d) and its
Jacobian maps, for core/kinds/conv_transpose.py, which reads and runs every conv_transpose
problem.

Every spatial triple is (depth, rows, columns): ``stride``, ``dilation`` and
``output_padding`` are an int or [depth, rows, cols]; ``padding`` is an int, [pd, ph, pw]
(both sides of each axis) or [front, back, top, bottom, left, right], numbers only as in
PyTorch.  Inside a run the arrays are NCDHW: input N×C_in×D×H×W, kernel
C_in×(C_out/g)×kd×kh×kw, output N×C_out×D_out×H_out×W_out (core/ops/conv_transpose3d.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.conv3d import AXES, read_padding_3d, read_triple
from gradcalc.core.ops.conv_transpose3d import ConvTranspose3dGeometry
from gradcalc.core.words import all_of

WORDS = ("depth slices", "rows", "columns")


def read_output_padding(
    spec: Mapping[str, Any], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[int, int, int]:
    """output_padding: 0, a number or [depth, rows, cols]; each below its stride or its
    dilation (PyTorch: "output padding must be smaller than either stride or dilation")."""
    raw = spec.get("output_padding", 0)
    padding = read_triple(raw, ("output_padding",), "output_padding", 0)
    for axis, (extra, s, d) in enumerate(zip(padding, stride, dilation, strict=True)):
        if extra >= s and extra >= d:
            path = ("output_padding", axis) if isinstance(raw, list) else ("output_padding",)
            raise SpecError(
                path,
                f"output_padding {extra} ({AXES[axis]}) must be smaller than the stride ({s}) "
                f"or the dilation ({d}), as in PyTorch",
            )
    return padding


def read_geometry(
    spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray, groups: int, limits: common.Limits
) -> tuple[ConvTranspose3dGeometry, str]:
    """The geometry of a 3-D problem (x: D×H×W, C_in×D×H×W or N×C_in×D×H×W; w: kd×kh×kw or
    C_in×(C_out/g)×kd×kh×kw) and how the spec wrote the padding."""
    stride = read_triple(spec.get("stride", 1), ("stride",), "stride", 1)
    dilation = read_triple(spec.get("dilation", 1), ("dilation",), "dilation", 1)
    kernel = tuple(w.shape[-3:])
    padding, padding_text = read_padding_3d(
        spec.get("padding", 0), stride, dilation, kernel, words=False
    )
    geometry = ConvTranspose3dGeometry(
        batch=x.shape[0] if x.ndim == 5 else 1,
        in_channels=x.shape[-4] if x.ndim > 3 else 1,
        out_channels=(w.shape[1] if w.ndim == 5 else 1) * groups,
        groups=groups,
        in_size=tuple(x.shape[-3:]),
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        output_padding=read_output_padding(spec, stride, dilation),
    )
    for axis in range(3):
        if geometry.out_size[axis] < 1:
            raise SpecError(
                ("padding",),
                f"the padding ({geometry.before[axis]} + {geometry.after[axis]}) cuts away "
                f"{all_of(geometry.full_size[axis], WORDS[axis][:-1])} of the scattered output; "
                "it must leave at least one",
            )
    _check_output_size(geometry, limits)
    if geometry.work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this transposed convolution needs {geometry.work:,} multiply-adds, above the limit "
            f"of {limits.max_work:,} (raise it with --max-work)",
        )
    return geometry, padding_text


def _check_output_size(t: ConvTranspose3dGeometry, limits: common.Limits) -> None:
    """The output grows with the stride and the dilation, not with the work: cap its entries
    as the spec's own arrays are capped, at the key that spreads it."""
    entries_out = math.prod(t.output_shape)
    if entries_out <= limits.max_elements:
        return
    spread = [key for key in ("stride", "dilation") if max(getattr(t, key)) > 1]
    raise LimitError(
        (spread[0] if spread else "input",),
        f"the output would have {entries_out:,} entries ({'×'.join(map(str, t.output_shape))}"
        f"), above the limit of {limits.max_elements:,} (raise it with --max-elements)",
    )
