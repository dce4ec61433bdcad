"""A plain nested-loop 3-D transposed convolution (PyTorch's conv_transpose3d, with groups),
written straight from the definition and sharing no code with gradcalc (no NumPy, no conv op,
not the 1-D or 2-D references): every input entry scatters itself times the kernel.

Arrays are nested lists: input N×C_in×D×H×W, kernel C_in×(C_out/g)×kd×kh×kw, output
N×C_out×D_out×H_out×W_out; entries Fraction or float.  Every triple is (depth, rows, cols);
``padding`` is (front, back, top, bottom, left, right).

- size_out = (size − 1)·s − p_before − p_after + d·(k − 1) + output_padding + 1 per axis;
- y[n][g·(C_out/g) + o][a·sd + e·dd − front][b·sh + m·dh − top][c'·sw + q·dw − left]
  += x[n][c][a][b][c']·w[c][o][e][m][q] for c in group g = c // (C_in/g), where the target
  lies inside the output, then + b[channel];
- ∂L/∂x = Σ up[target]·w over the same targets; ∂L/∂w = Σ up[target]·x; ∂L/∂b = Σ up.
"""

from __future__ import annotations

import itertools
from typing import Any


def out_sizes(
    size: tuple, kernel: tuple, stride: tuple, padding: tuple, dilation: tuple, extra: tuple
) -> tuple[int, int, int]:
    return tuple(
        (size[i] - 1) * stride[i]
        - padding[2 * i]
        - padding[2 * i + 1]
        + dilation[i] * (kernel[i] - 1)
        + extra[i]
        + 1
        for i in range(3)
    )


def _zeros(shape: tuple, zero: Any) -> list:
    if len(shape) == 1:
        return [zero] * shape[0]
    return [_zeros(shape[1:], zero) for _ in range(shape[0])]


def conv_transpose3d(
    x: Any,
    w: Any,
    *,
    stride: tuple = (1, 1, 1),
    padding: tuple = (0, 0, 0, 0, 0, 0),
    dilation: tuple = (1, 1, 1),
    output_padding: tuple = (0, 0, 0),
    groups: int = 1,
    bias: Any = None,
    upstream: Any = None,
    zero: Any = 0,
) -> dict[str, Any]:
    """output, and with ``upstream`` (N×C_out×D_out×H_out×W_out) grad_input, grad_kernel,
    grad_bias."""
    batch, in_channels = len(x), len(x[0])
    size = (len(x[0][0]), len(x[0][0][0]), len(x[0][0][0][0]))
    per_out = len(w[0])
    kernel = (len(w[0][0]), len(w[0][0][0]), len(w[0][0][0][0]))
    per_in = in_channels // groups
    out_channels = per_out * groups
    out = out_sizes(size, kernel, stride, padding, dilation, output_padding)
    y = _zeros((batch, out_channels, *out), zero)
    grad_x = _zeros((batch, in_channels, *size), zero)
    grad_w = _zeros((in_channels, per_out, *kernel), zero)
    for n, c, a, b, col in itertools.product(
        range(batch), range(in_channels), range(size[0]), range(size[1]), range(size[2])
    ):
        for o, e, m, q in itertools.product(
            range(per_out), range(kernel[0]), range(kernel[1]), range(kernel[2])
        ):
            t = a * stride[0] + e * dilation[0] - padding[0]
            i = b * stride[1] + m * dilation[1] - padding[2]
            j = col * stride[2] + q * dilation[2] - padding[4]
            if not (0 <= t < out[0] and 0 <= i < out[1] and 0 <= j < out[2]):
                continue  # cut off by the padding
            channel = (c // per_in) * per_out + o
            y[n][channel][t][i][j] += x[n][c][a][b][col] * w[c][o][e][m][q]
            if upstream is not None:
                up = upstream[n][channel][t][i][j]
                grad_x[n][c][a][b][col] += up * w[c][o][e][m][q]
                grad_w[c][o][e][m][q] += up * x[n][c][a][b][col]
    if bias is not None:
        for n, channel, t, i, j in itertools.product(
            range(batch), range(out_channels), *(range(s) for s in out)
        ):
            y[n][channel][t][i][j] += bias[channel] if isinstance(bias, list) else bias
    result: dict[str, Any] = {"output": y}
    if upstream is not None:
        result.update(grad_input=grad_x, grad_kernel=grad_w)
        if bias is not None:
            per_channel = [
                sum(
                    (
                        upstream[n][channel][t][i][j]
                        for n, t, i, j in itertools.product(range(batch), *(range(s) for s in out))
                    ),
                    zero,
                )
                for channel in range(out_channels)
            ]
            result["grad_bias"] = per_channel if isinstance(bias, list) else sum(per_channel, zero)
    return result
