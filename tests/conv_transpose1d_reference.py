"""A plain nested-loop 1-D transposed convolution (PyTorch's conv_transpose1d, with groups),
written straight from the definition and sharing no code with gradcalc (no NumPy, no conv op,
not the 2-D reference with one row): every input entry scatters itself times the kernel.

Arrays are nested lists: input N×C_in×L, kernel C_in×(C_out/g)×k, output N×C_out×L_out;
entries Fraction or float.

- L_out = (L − 1)·s − left − right + d·(k − 1) + output_padding + 1;
- y[n][g·(C_out/g) + o][a·s + m·d − left] += x[n][c][a]·w[c][o][m] for c in group
  g = c // (C_in/g), where that position lies inside the output, then + b[channel];
- ∂L/∂x[n][c][a] = Σ_{o,m} up[n][channel][target]·w[c][o][m] over the same targets;
- ∂L/∂w[c][o][m] = Σ_{n,a} up[n][channel][target]·x[n][c][a]; ∂L/∂b[channel] = Σ up.
"""

from __future__ import annotations

from typing import Any


def out_length(
    length: int, kernel: int, stride: int, left: int, right: int, dilation: int, extra: int
) -> int:
    return (length - 1) * stride - left - right + dilation * (kernel - 1) + extra + 1


def conv_transpose1d(
    x: Any,
    w: Any,
    *,
    stride: int = 1,
    padding: tuple[int, int] = (0, 0),
    dilation: int = 1,
    output_padding: int = 0,
    groups: int = 1,
    bias: Any = None,
    upstream: Any = None,
    zero: Any = 0,
) -> dict[str, Any]:
    """output, and with ``upstream`` (N×C_out×L_out) grad_input, grad_kernel, grad_bias."""
    batch, in_channels, length = len(x), len(x[0]), len(x[0][0])
    per_out, k = len(w[0]), len(w[0][0])
    per_in = in_channels // groups
    out_channels = per_out * groups
    size = out_length(length, k, stride, padding[0], padding[1], dilation, output_padding)
    y = [[[zero] * size for _ in range(out_channels)] for _ in range(batch)]
    grad_x = [[[zero] * length for _ in range(in_channels)] for _ in range(batch)]
    grad_w = [[[zero] * k for _ in range(per_out)] for _ in range(in_channels)]
    for n in range(batch):
        for c in range(in_channels):
            group = c // per_in
            for a in range(length):
                for o in range(per_out):
                    channel = group * per_out + o
                    for m in range(k):
                        target = a * stride + m * dilation - padding[0]
                        if not 0 <= target < size:
                            continue  # cut off by the padding
                        y[n][channel][target] += x[n][c][a] * w[c][o][m]
                        if upstream is not None:
                            up = upstream[n][channel][target]
                            grad_x[n][c][a] += up * w[c][o][m]
                            grad_w[c][o][m] += up * x[n][c][a]
    result: dict[str, Any] = {"output": y}
    if bias is not None:
        for n in range(batch):
            for channel in range(out_channels):
                shift = bias[channel] if isinstance(bias, list) else bias
                y[n][channel] = [value + shift for value in y[n][channel]]
    if upstream is not None:
        result.update(grad_input=grad_x, grad_kernel=grad_w)
        if bias is not None:
            per_channel = [
                sum((v for n in range(batch) for v in upstream[n][channel]), zero)
                for channel in range(out_channels)
            ]
            result["grad_bias"] = per_channel if isinstance(bias, list) else sum(per_channel, zero)
    return result


def conv1d_padded(
    x: Any,
    w: Any,
    *,
    source: Any,
    padding: tuple[int, int],
    stride: int = 1,
    dilation: int = 1,
    groups: int = 1,
    upstream: Any = None,
    zero: Any = 0,
) -> dict[str, Any]:
    """A 1-D conv1d (kernel C_out×(C_in/g)×k) over x padded by copies: unpadded position t
    reads input position ``source(t)`` (None: a zero).  Its backward sends each product's
    up·w straight to that input position (the chain rule term by term, no padded array)."""
    batch, length = len(x), len(x[0][0])
    out_channels, per_in, k = len(w), len(w[0]), len(w[0][0])
    per_out = out_channels // groups
    size = (length + padding[0] + padding[1] - dilation * (k - 1) - 1) // stride + 1
    y = [[[zero] * size for _ in range(out_channels)] for _ in range(batch)]
    grad_x = [[[zero] * length for _ in x[0]] for _ in range(batch)]
    grad_w = [[[zero] * k for _ in range(per_in)] for _ in range(out_channels)]
    for n in range(batch):
        for o in range(out_channels):
            first = (o // per_out) * per_in
            for i in range(size):
                for c in range(per_in):
                    for m in range(k):
                        where = source(i * stride + m * dilation - padding[0])
                        if where is None:
                            continue
                        y[n][o][i] += x[n][first + c][where] * w[o][c][m]
                        if upstream is not None:
                            grad_x[n][first + c][where] += upstream[n][o][i] * w[o][c][m]
                            grad_w[o][c][m] += upstream[n][o][i] * x[n][first + c][where]
    return {"output": y, "grad_input": grad_x, "grad_kernel": grad_w}
