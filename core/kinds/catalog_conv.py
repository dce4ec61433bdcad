"""The catalog entry (core/kinds/catalog.py) of ``conv`` (conv2d and conv1d, groups, padding
modes): one OpEntry, its Field table the only description of its keys."""

from __future__ import annotations

from gradcalc.core.kinds.entry import SYMBOL_FIELDS, OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.values import MAX_INDEX

CONV = OpEntry(
    module="gradcalc.core.kinds.conv",
    parts={
        "usual_mistakes": "gradcalc.core.kinds.conv_mistakes",
        "PRACTICE": "gradcalc.core.kinds.conv_practice",
    },
    explain="gradcalc.core.explain.conv",
    summary=(
        "2-D, 1-D or 3-D convolution / cross-correlation (PyTorch conv2d, conv1d, conv3d), "
        "with groups."
    ),
    description=(
        "Computes the output, ∂L/∂input, ∂L/∂kernel and ∂L/∂bias for the spec's input, kernel, "
        "stride, padding, dilation and groups, and explains every step."
    ),
    sections=("problem", "size", "forward", "jacobian", "backward", "identities", "loss"),
    examples=(
        "gradcalc conv --spec problems/task3.yaml",
        "gradcalc conv --spec problems/task3.yaml --format json",
        "gradcalc conv --spec big.yaml --steps 4 --show size,backward,checks",
        "gradcalc conv --spec task.yaml --decimal --precision 4",
        "gradcalc conv --spec problems/task3.yaml --no-color > steps.txt",
        'gradcalc conv --input "2 -1; 0 -1; 1 1; -1 2" --kernel "1 0; -1 -2"',
        'gradcalc conv --spec problems/padding_same_dilated.yaml --focus "output[1,0]"',
    ),
    fields=(
        Field(
            "input",
            "tensor",
            "H×W, C×H×W or N×C×H×W; 1-D: L, C×L or N×C×L; 3-D: D×H×W, C×D×H×W or N×C×D×H×W",
            example=[[2, -1], [0, -1], [1, 1], [-1, 2]],
            required=True,
            dims=(1, 5),
            symbols=True,
        ),
        Field(
            "kernel",
            "tensor",
            "kh×kw, C_in×kh×kw or C_out×C_in×kh×kw (C_in/groups with groups); 1-D: k, C_in×k or "
            "C_out×C_in×k; 3-D: kd×kh×kw, C_in×kd×kh×kw or C_out×C_in×kd×kh×kw",
            example=[[1, 0], [-1, -2]],
            required=True,
            dims=(1, 5),
            symbols=True,
        ),
        Field(
            "bias",
            "tensor",
            "one number (shared) or one per output channel",
            example=0,
            dims=(0, 1),
            symbols=True,
        ),
        Field(
            "stride",
            "ints",
            "int or [sh, sw]",
            example=1,
            starter=True,
            minimum=1,
            maximum=MAX_INDEX,
            lengths=(1, 2),
            lengths_3d=(1, 3),
        ),
        Field(
            "padding",
            "ints",
            "int, [ph, pw], [top, bottom, left, right], full (d·(k−1) each side), valid or same",
            choices=("valid", "same", "full"),
            example=0,
            starter=True,
            minimum=0,
            maximum=MAX_INDEX,
            lengths=(1, 2, 4),
            lengths_3d=(1, 3, 6),
        ),
        Field(
            "padding_mode",
            "choice",
            "what the padding holds: zeros, or copies of the input (reflect, replicate, circular)",
            choices=("zeros", "reflect", "replicate", "circular"),
            example="zeros",
        ),
        Field(
            "dilation",
            "ints",
            "int or [dh, dw]",
            example=1,
            starter=True,
            minimum=1,
            maximum=MAX_INDEX,
            lengths=(1, 2),
            lengths_3d=(1, 3),
        ),
        Field(
            "groups",
            "integer",
            "input channels split into groups (divides C_in and C_out; depthwise: C_in)",
            example=1,
            minimum=1,
            maximum=MAX_INDEX,
        ),
        Field(
            "dims",
            "integer",
            "spatial axes: 2 (default), 1 (a vector input with a vector kernel is 1-D) or 3 "
            "(a volume: depth, rows, columns); in 1-D stride and dilation are an int or [s], "
            "padding an int, [p] or [left, right] (causal: [k−1, 0]); in 3-D stride and "
            "dilation are an int or [sd, sh, sw], padding an int, [pd, ph, pw] or "
            "[front, back, top, bottom, left, right]",
            example=2,
            minimum=1,
            maximum=3,
        ),
        Field(
            "flip_kernel",
            "boolean",
            "false: cross-correlation; true: true convolution",
            example=False,
            starter=True,
        ),
        *SYMBOL_FIELDS,
    ),
    example_upstream=[[0], [1], [2]],
    focus="focus_target",
    names_example={"input": "X", "kernel": "K", "output": "H"},
    upstream_dims=(1, 5),
    upstream_symbols=True,
)
