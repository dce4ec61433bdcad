"""A plain nested-loop transposed convolution (PyTorch's conv_transpose2d), written straight
from the definition: every input entry scatters itself times the kernel into the output.

It shares no code with gradcalc's core (no NumPy, no conv op): the yardstick the tests hold
core/ops/conv_transpose.py and the conv_transpose kind against.  Arrays are nested lists,
NCHW: input N×C_in×H×W, kernel C_in×(C_out/g)×kh×kw, output N×C_out×H_out×W_out; entries
Fraction or float.

- H_out = (H − 1)·sh − top − bottom + dh·(kh − 1) + output_padding_h + 1 (likewise W_out);
- y[n][g·C_out/g + o][a·sh + m·dh − top][b·sw + q·dw − left] += x[n][c][a][b]·w[c][o][m][q]
  for c in group g = c // (C_in/g), where that target lies inside the output;
- ∂L/∂x[n][c][a][b] = Σ_{o,m,q} up[n][g·C_out/g + o][target]·w[c][o][m][q] over the same targets;
- ∂L/∂w[c][o][m][q] = Σ_{n,a,b} up[n][g·C_out/g + o][target]·x[n][c][a][b].
"""

from __future__ import annotations

from typing import Any


def out_size(
    size: int, kernel: int, stride: int, before: int, after: int, dilation: int, extra: int
) -> int:
    return (size - 1) * stride - before - after + dilation * (kernel - 1) + extra + 1


def _scatter_targets(x, w, stride, padding, dilation, output_padding, groups):
    """Yield (n, c, a, b, o_group, m, q, output channel, i, j) for every product inside the output."""
    batch, in_channels, height, width = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    per_out, kh, kw = len(w[0]), len(w[0][0]), len(w[0][0][0])
    per_in = in_channels // groups
    out_h = out_size(height, kh, stride[0], padding[0], padding[1], dilation[0], output_padding[0])
    out_w = out_size(width, kw, stride[1], padding[2], padding[3], dilation[1], output_padding[1])
    for n in range(batch):
        for c in range(in_channels):
            group = c // per_in
            for a in range(height):
                for b in range(width):
                    for o in range(per_out):
                        for m in range(kh):
                            for q in range(kw):
                                i = a * stride[0] + m * dilation[0] - padding[0]
                                j = b * stride[1] + q * dilation[1] - padding[2]
                                if 0 <= i < out_h and 0 <= j < out_w:
                                    yield n, c, a, b, o, m, q, group * per_out + o, i, j


def conv_transpose(
    x,
    w,
    *,
    stride=(1, 1),
    padding=(0, 0, 0, 0),
    dilation=(1, 1),
    output_padding=(0, 0),
    groups=1,
    bias=None,
    upstream=None,
    zero: Any = 0,
) -> dict[str, Any]:
    """{"output", "grad_input", "grad_kernel", "grad_bias"} as nested lists (upstream None: ones)."""
    batch, in_channels, height, width = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    per_out, kh, kw = len(w[0]), len(w[0][0]), len(w[0][0][0])
    out_channels = per_out * groups
    out_h = out_size(height, kh, stride[0], padding[0], padding[1], dilation[0], output_padding[0])
    out_w = out_size(width, kw, stride[1], padding[2], padding[3], dilation[1], output_padding[1])
    y = [
        [[[zero for _ in range(out_w)] for _ in range(out_h)] for _ in range(out_channels)]
        for _ in range(batch)
    ]
    if upstream is None:
        upstream = [
            [[[1 for _ in range(out_w)] for _ in range(out_h)] for _ in range(out_channels)]
            for _ in range(batch)
        ]
    gx = [
        [[[zero for _ in range(width)] for _ in range(height)] for _ in range(in_channels)]
        for _ in range(batch)
    ]
    gw = [
        [[[zero for _ in range(kw)] for _ in range(kh)] for _ in range(per_out)]
        for _ in range(in_channels)
    ]
    for n, c, a, b, o, m, q, channel, i, j in _scatter_targets(
        x, w, stride, padding, dilation, output_padding, groups
    ):
        y[n][channel][i][j] += x[n][c][a][b] * w[c][o][m][q]
        gx[n][c][a][b] += upstream[n][channel][i][j] * w[c][o][m][q]
        gw[c][o][m][q] += upstream[n][channel][i][j] * x[n][c][a][b]
    grad_bias = None
    if bias is not None:
        for n in range(batch):
            for o in range(out_channels):
                for i in range(out_h):
                    for j in range(out_w):
                        y[n][o][i][j] += bias[o]
        grad_bias = [
            sum(
                (
                    upstream[n][o][i][j]
                    for n in range(batch)
                    for i in range(out_h)
                    for j in range(out_w)
                ),
                zero,
            )
            for o in range(out_channels)
        ]
    return {"output": y, "grad_input": gx, "grad_kernel": gw, "grad_bias": grad_bias}
