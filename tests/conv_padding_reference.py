"""A plain nested-loop conv2d with a padding mode (PyTorch's Conv2d ``padding_mode``),
written from the definition and sharing no code with gradcalc's core.

Arrays are nested lists in NCHW layout; entries are Fractions (exact) or floats.  A padded
cell at unpadded coordinate t (t < 0 or t ≥ size along an axis) copies input cell
``source(t, size, mode)``:

- reflect: the mirror about the edge cell, which is not repeated (t = −1 → 1, t = size → size − 2);
- replicate: the nearest edge cell;
- circular: t mod size;
- zeros: no cell (the term is 0).

The backward pass sends each product's upstream·w straight to the input cell the padded
cell copies (no padded array, no fold: the chain rule term by term).
"""

from __future__ import annotations

from typing import Any

from conv_reference import output_size, shape_of, zeros


def source(t: int, size: int, mode: str) -> int | None:
    """The input index unpadded coordinate ``t`` reads along an axis of ``size`` cells."""
    if 0 <= t < size:
        return t
    if mode == "zeros":
        return None
    if mode == "replicate":
        return 0 if t < 0 else size - 1
    if mode == "circular":
        while t < 0:
            t += size
        while t >= size:
            t -= size
        return t
    assert mode == "reflect"
    while not 0 <= t < size:
        t = -t if t < 0 else 2 * (size - 1) - t
    return t


def padded(x: Any, padding: tuple[int, int, int, int], mode: str) -> Any:
    """x padded by ``mode`` (zeros: 0), as nested lists."""
    batch, channels, height, width = shape_of(x)
    top, bottom, left, right = padding
    out = zeros((batch, channels, height + top + bottom, width + left + right))
    for n in range(batch):
        for c in range(channels):
            for r in range(height + top + bottom):
                for col in range(width + left + right):
                    sr, sc = source(r - top, height, mode), source(col - left, width, mode)
                    out[n][c][r][col] = 0 if sr is None or sc is None else x[n][c][sr][sc]
    return out


def _taps(x: Any, w: Any, stride, padding, dilation, mode):
    """Every term of the forward sum: (n, o, i, j, input cell (c, row, col), kernel tap)."""
    batch, channels, height, width = shape_of(x)
    out_channels, _, kh, kw = shape_of(w)
    top, bottom, left, right = padding
    out_h = output_size(height, kh, top, bottom, stride[0], dilation[0])
    out_w = output_size(width, kw, left, right, stride[1], dilation[1])
    for n in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    for c in range(channels):
                        for m in range(kh):
                            for q in range(kw):
                                row = source(i * stride[0] + m * dilation[0] - top, height, mode)
                                col = source(j * stride[1] + q * dilation[1] - left, width, mode)
                                if row is not None and col is not None:
                                    yield n, o, i, j, (c, row, col), (m, q)


def conv2d(x, w, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1), mode="zeros",
           flip=False, bias=None):  # fmt: skip
    """y = x ⋆ w (+ b) with the padding read through ``mode``."""
    batch, _, height, width = shape_of(x)
    out_channels, _, kh, kw = shape_of(w)
    top, bottom, left, right = padding
    out_h = output_size(height, kh, top, bottom, stride[0], dilation[0])
    out_w = output_size(width, kw, left, right, stride[1], dilation[1])
    y = zeros((batch, out_channels, out_h, out_w))
    for n, o, i, j, (c, row, col), (m, q) in _taps(x, w, stride, padding, dilation, mode):
        wm, wq = (kh - 1 - m, kw - 1 - q) if flip else (m, q)
        y[n][o][i][j] = y[n][o][i][j] + x[n][c][row][col] * w[o][c][wm][wq]
    if bias is not None:
        for n in range(batch):
            for o in range(out_channels):
                for i in range(out_h):
                    for j in range(out_w):
                        y[n][o][i][j] += bias[o] if isinstance(bias, list) else bias
    return y


def conv2d_backward(x, w, upstream, *, stride=(1, 1), padding=(0, 0, 0, 0), dilation=(1, 1),
                    mode="zeros", flip=False):  # fmt: skip
    """(∂L/∂x, ∂L/∂w) for L = Σ upstream ⊙ y: each product x·w sends upstream·w to the input
    cell it read (through its copy) and upstream·x to the kernel tap."""
    batch, channels, height, width = shape_of(x)
    out_channels, _, kh, kw = shape_of(w)
    grad_x = zeros((batch, channels, height, width))
    grad_w = zeros((out_channels, channels, kh, kw))
    for n, o, i, j, (c, row, col), (m, q) in _taps(x, w, stride, padding, dilation, mode):
        wm, wq = (kh - 1 - m, kw - 1 - q) if flip else (m, q)
        g = upstream[n][o][i][j]
        grad_x[n][c][row][col] += g * w[o][c][wm][wq]
        grad_w[o][c][wm][wq] += g * x[n][c][row][col]
    return grad_x, grad_w
