"""A plain nested-loop conv2d written straight from the definition.

This is the yardstick the tests hold gradcalc's vectorized core against, so it
deliberately shares no code with it (no NumPy, no stride tricks, no im2col):
every output element is one explicit sum over channels and kernel taps.

Arrays are nested Python lists in NCHW layout (input N×C×H×W, kernel
O×C×kh×kw, output N×O×H_out×W_out).  Entries may be ``Fraction`` (exact) or
``float``; the arithmetic is whatever the entries support.

Definitions (PyTorch conv2d semantics):

- zero padding (top, bottom, left, right): x_pad[r][c] = x[r − top][c − left]
  inside the input, 0 outside;
- cross-correlation: y[n][o][i][j] = Σ_{c,m,q} x_pad[n][c][i·sh + m·dh][j·sw + q·dw] · w[o][c][m][q] + b[o];
- true convolution (flip): the same sum with w[o][c][kh−1−m][kw−1−q];
- H_out = ⌊(H + top + bottom − dh·(kh − 1) − 1)/sh⌋ + 1 (likewise W_out).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

Padding = tuple[int, int, int, int]
Pair = tuple[int, int]


# ---------------------------------------------------------------------------
# Plain-data helpers


def to_fraction(value: Any) -> Fraction:
    """A spec entry (int, Fraction, "1/4", "0.25", "-3") as an exact Fraction."""
    if isinstance(value, bool):
        raise TypeError("booleans are not numbers here")
    if isinstance(value, str):
        return Fraction(value.replace(" ", ""))
    return Fraction(value)


def map_nested(function, value: Any) -> Any:
    """Apply ``function`` to every leaf of a nested list."""
    if isinstance(value, list):
        return [map_nested(function, item) for item in value]
    return function(value)


def shape_of(value: Any) -> tuple[int, ...]:
    """The shape of a regular nested list (following first elements)."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


def zeros(shape: tuple[int, ...], zero: Any = 0) -> Any:
    """A nested list of ``zero`` with the given shape."""
    if not shape:
        return zero
    return [zeros(shape[1:], zero) for _ in range(shape[0])]


def flatten(value: Any) -> list[Any]:
    """Leaves of a nested list in row-major order."""
    if isinstance(value, list):
        return [leaf for item in value for leaf in flatten(item)]
    return [value]


def as_input4(x: Any) -> Any:
    """H×W, C×H×W or N×C×H×W -> N×C×H×W."""
    rank = len(shape_of(x))
    if rank == 2:
        return [[x]]
    if rank == 3:
        return [x]
    return x


def as_kernel4(w: Any) -> Any:
    """kh×kw, C×kh×kw (one filter) or O×C×kh×kw -> O×C×kh×kw."""
    rank = len(shape_of(w))
    if rank == 2:
        return [[w]]
    if rank == 3:
        return [w]
    return w


def output_to_spec_shape(y4: Any, input_rank: int, kernel_rank: int) -> Any:
    """N×O×H_out×W_out -> the spec's output shape.

    The output keeps a batch axis only for a 4-D input and an output-channel
    axis only for a 4-D kernel.
    """
    if input_rank == 4 and kernel_rank == 4:
        return y4
    if input_rank == 4:
        return [image[0] for image in y4]
    if kernel_rank == 4:
        return y4[0]
    return y4[0][0]


def spec_output_to4(y: Any, input_rank: int, kernel_rank: int) -> Any:
    """The inverse of :func:`output_to_spec_shape`."""
    if input_rank == 4 and kernel_rank == 4:
        return y
    if input_rank == 4:
        return [[image] for image in y]
    if kernel_rank == 4:
        return [y]
    return [[y]]


# ---------------------------------------------------------------------------
# Hyper-parameters


def pair(value: Any) -> Pair:
    """An int or [rows, cols] -> (rows, cols)."""
    if isinstance(value, (list, tuple)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def padding_sides(padding: Any, kernel_hw: Pair, dilation: Pair) -> Padding:
    """Any spec padding form -> (top, bottom, left, right).

    "same" (stride 1 only) pads d·(k − 1) in total per axis, the odd extra row
    or column going to the bottom/right, as PyTorch does.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            total_h = dilation[0] * (kernel_hw[0] - 1)
            total_w = dilation[1] * (kernel_hw[1] - 1)
            return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
        raise ValueError(f"unknown padding {padding!r}")
    if isinstance(padding, (list, tuple)):
        if len(padding) == 2:
            return (int(padding[0]), int(padding[0]), int(padding[1]), int(padding[1]))
        top, bottom, left, right = (int(p) for p in padding)
        return (top, bottom, left, right)
    return (int(padding),) * 4  # type: ignore[return-value]


def output_size(
    in_size: int, kernel: int, pad_before: int, pad_after: int, stride: int, dilation: int
) -> int:
    """⌊(I + p_before + p_after − d·(k − 1) − 1)/s⌋ + 1."""
    return (in_size + pad_before + pad_after - dilation * (kernel - 1) - 1) // stride + 1


# ---------------------------------------------------------------------------
# Forward and backward by the definition


def conv2d(
    x: Any,
    w: Any,
    *,
    stride: Pair = (1, 1),
    padding: Padding = (0, 0, 0, 0),
    dilation: Pair = (1, 1),
    flip: bool = False,
    bias: Any = None,
) -> Any:
    """y = x ⋆ w (+ b) for 4-D nested lists; ``bias`` is None, one number, or one per output channel."""
    batch, channels, height, width = shape_of(x)
    out_channels, kernel_channels, kh, kw = shape_of(w)
    assert kernel_channels == channels, "channel mismatch"
    sh, sw = stride
    dh, dw = dilation
    top, bottom, left, right = padding
    out_h = output_size(height, kh, top, bottom, sh, dh)
    out_w = output_size(width, kw, left, right, sw, dw)
    assert out_h >= 1 and out_w >= 1, "the kernel does not fit"
    y = zeros((batch, out_channels, out_h, out_w))
    for n in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    total = 0
                    for c in range(channels):
                        for m in range(kh):
                            for q in range(kw):
                                row = i * sh + m * dh - top  # row in the unpadded input
                                col = j * sw + q * dw - left
                                if not (0 <= row < height and 0 <= col < width):
                                    continue  # a zero from the padding
                                wm, wq = (kh - 1 - m, kw - 1 - q) if flip else (m, q)
                                total = total + x[n][c][row][col] * w[o][c][wm][wq]
                    if bias is not None:
                        total = total + (bias[o] if isinstance(bias, list) else bias)
                    y[n][o][i][j] = total
    return y


def conv2d_backward(
    x: Any,
    w: Any,
    upstream: Any,
    *,
    stride: Pair = (1, 1),
    padding: Padding = (0, 0, 0, 0),
    dilation: Pair = (1, 1),
    flip: bool = False,
    bias: Any = None,
) -> tuple[Any, Any, Any]:
    """(∂L/∂x, ∂L/∂w, ∂L/∂b) for L = Σ upstream ⊙ y, by the chain rule term by term.

    Every product x·w in the forward sum sends upstream·w to x and upstream·x
    to w; the bias receives the upstream itself.  ∂L/∂b is None without a bias,
    one number for a shared bias, one per output channel otherwise.
    """
    batch, channels, height, width = shape_of(x)
    out_channels, _, kh, kw = shape_of(w)
    _, _, out_h, out_w = shape_of(upstream)
    sh, sw = stride
    dh, dw = dilation
    top, _, left, _ = padding
    grad_x = zeros((batch, channels, height, width))
    grad_w = zeros((out_channels, channels, kh, kw))
    grad_b: Any = None
    if bias is not None:
        grad_b = zeros((out_channels,)) if isinstance(bias, list) else 0
    for n in range(batch):
        for o in range(out_channels):
            for i in range(out_h):
                for j in range(out_w):
                    g = upstream[n][o][i][j]
                    for c in range(channels):
                        for m in range(kh):
                            for q in range(kw):
                                row = i * sh + m * dh - top
                                col = j * sw + q * dw - left
                                if not (0 <= row < height and 0 <= col < width):
                                    continue
                                wm, wq = (kh - 1 - m, kw - 1 - q) if flip else (m, q)
                                grad_x[n][c][row][col] += g * w[o][c][wm][wq]
                                grad_w[o][c][wm][wq] += g * x[n][c][row][col]
                    if bias is not None:
                        if isinstance(bias, list):
                            grad_b[o] += g
                        else:
                            grad_b += g
    return grad_x, grad_w, grad_b


def loss(
    x: Any,
    w: Any,
    upstream: Any,
    **hyper: Any,
) -> Any:
    """L = Σ upstream ⊙ conv2d(x, w, **hyper)."""
    y = conv2d(x, w, **hyper)
    return sum((u * v for u, v in zip(flatten(upstream), flatten(y), strict=True)), 0)
