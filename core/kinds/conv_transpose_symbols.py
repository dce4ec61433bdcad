"""Reading a conv_transpose spec's tensors with symbols (issue 20, docs/symbolic.md): the
input and kernel as core/kinds/symbolic_fields.py reads a tensor field (numbers, names and
formulas, or ``symbolic 2x2``), and how many products one result entry sums (the symbolic
limit's count).  Kept apart from core/kinds/conv_transpose.py, which calls both from
``read``, so that module stays within the size limit."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.kinds.symbolic_fields import naming, read_tensor

KIND = "conv_transpose"


def most_terms(t: Any, bias: bool) -> int:
    """The most products one entry sums (the symbolic cap's count): of y (C_in/g·taps),
    ∂L/∂x (C_out/g·taps), ∂L/∂w (N·the input's cells) or ∂L/∂b (N·the output's cells, with
    a bias).  ``t``: a 1-D/2-D ConvTransposeGeometry or a 3-D ConvTranspose3dGeometry."""
    if t.dims == 3:
        taps, cells_in, cells_out = t.taps, math.prod(t.in_size), math.prod(t.out_size)
    else:
        taps, cells_in, cells_out = t.kernel_h * t.kernel_w, t.in_h * t.in_w, t.out_h * t.out_w
    counts = [t.in_per_group * taps, t.out_per_group * taps, t.batch * cells_in]
    return max(counts + ([t.batch * cells_out] if bias else []))


def read_input_and_kernel(
    spec: Mapping[str, Any], limits: common.Limits, names: Mapping[str, str]
) -> tuple[np.ndarray, np.ndarray]:
    """The input (L … N×C_in×H×W) and kernel (k … C_in×(C_out/g)×kh×kw): numbers, or
    symbols and formulas (core/kinds/symbolic_fields.py); conv_transpose's ``_read_dims``
    checks their ranks against ``dims``."""
    wanted = {
        "input": "the input, H×W, C_in×H×W or N×C_in×H×W (1-D: L, C_in×L or N×C_in×L; 3-D: "
        "D×H×W, C_in×D×H×W or N×C_in×D×H×W)",
        "kernel": "the kernel, kh×kw or C_in×(C_out/g)×kh×kw (1-D: k or C_in×(C_out/g)×k; 3-D: "
        "kd×kh×kw or C_in×(C_out/g)×kd×kh×kw)",
    }
    x, w = (
        read_tensor(
            common.require(spec, key, KIND, text),
            (key,),
            ndims=(1, 2, 3, 4, 5),
            what=key,
            limits=limits,
            **naming(spec, names, key),
        )
        for key, text in wanted.items()
    )
    return x, w
