"""The catalog entry (core/kinds/catalog.py) of conv_transpose (issue 15), kept apart so that
catalog.py stays within the module size limit; its Field table is the only description of
its keys."""

from __future__ import annotations

from gradcalc.core.kinds.entry import SYMBOL_FIELDS, OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.values import MAX_INDEX

CONV_TRANSPOSE = OpEntry(
    module="gradcalc.core.kinds.conv_transpose",
    parts={
        "usual_mistakes": "gradcalc.core.kinds.conv_transpose_checks",
        "PRACTICE": "gradcalc.core.kinds.conv_transpose_checks",
    },
    explain="gradcalc.core.explain.conv_transpose",
    summary=(
        "2-D, 1-D or 3-D transposed convolution (PyTorch conv_transpose2d, conv_transpose1d, "
        "conv_transpose3d), with groups."
    ),
    description=(
        "Computes the output, ∂L/∂input, ∂L/∂kernel and ∂L/∂bias of a transposed convolution "
        "(each input entry scatters input·kernel into the output) for the spec's stride, "
        "padding, output_padding, dilation and groups, shows the backward pass as the ordinary "
        "convolution it is, and checks that the forward pass is the input-gradient of a conv."
    ),
    sections=("problem", "size", "forward", "jacobian", "backward", "identities"),
    examples=(
        "gradcalc conv-transpose --spec problems/conv_transpose_doubling.yaml",
        "gradcalc conv-transpose --spec problems/conv_transpose_doubling.yaml --format json",
        "gradcalc conv-transpose --spec problems/conv_transpose1d_upsample.yaml",
        "gradcalc conv-transpose --spec problems/conv_transpose3d_grouped.yaml",
        'gradcalc conv-transpose --input "1 2; 3 4" --kernel "1 0; -1 2" --stride 2',
    ),
    fields=(
        Field(
            "input",
            "tensor",
            "H×W, C_in×H×W or N×C_in×H×W; 1-D: L, C_in×L or N×C_in×L; 3-D: D×H×W, C_in×D×H×W "
            "or N×C_in×D×H×W",
            example=[[1, 2], [3, 4]],
            required=True,
            dims=(1, 5),
            symbols=True,
        ),
        Field(
            "kernel",
            "tensor",
            "kh×kw or C_in×(C_out/groups)×kh×kw (PyTorch's weight layout); 1-D: k or "
            "C_in×(C_out/groups)×k; 3-D: kd×kh×kw or C_in×(C_out/groups)×kd×kh×kw",
            example=[[1, 0], [-1, 2]],
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
            "int or [sh, sw]: how far apart the input entries scatter",
            example=2,
            starter=True,
            minimum=1,
            maximum=MAX_INDEX,
            lengths=(1, 2),
            lengths_3d=(1, 3),
        ),
        Field(
            "padding",
            "ints",
            "int, [ph, pw] or [top, bottom, left, right]: rows/columns cut off the scattered output",
            example=0,
            starter=True,
            minimum=0,
            maximum=MAX_INDEX,
            lengths=(1, 2, 4),
            lengths_3d=(1, 3, 6),
        ),
        Field(
            "output_padding",
            "ints",
            "int or [oh, ow]: rows/columns added at the bottom/right, each below the stride or the dilation",
            example=0,
            starter=True,
            minimum=0,
            maximum=MAX_INDEX,
            lengths=(1, 2),
            lengths_3d=(1, 3),
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
            "g: input and output channels in g groups (C_in divisible by g)",
            example=1,
            minimum=1,
            maximum=MAX_INDEX,
        ),
        Field(
            "dims",
            "integer",
            "spatial axes: 2 (default), 1 (a vector input with a vector kernel is 1-D) or 3 "
            "(a volume: depth, rows, columns); in 1-D stride, dilation and output_padding are "
            "an int or [n], padding an int, [p] or [left, right]; in 3-D stride, dilation and "
            "output_padding are an int or [sd, sh, sw], padding an int, [pd, ph, pw] or "
            "[front, back, top, bottom, left, right]",
            example=2,
            minimum=1,
            maximum=3,
        ),
        *SYMBOL_FIELDS,
    ),
    example_upstream=[[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]],
    names_example={"input": "X", "kernel": "K", "output": "Y"},
    upstream_dims=(1, 5),
    upstream_symbols=True,
)
