"""Plain nested loops for a grouped 1-D or 2-D convolution and its gradients, written straight
from PyTorch's definition (conv1d / conv2d with ``groups``).

Shares no code with gradcalc (no NumPy, no stride tricks): every entry is one explicit sum.
Arrays are nested Python lists: 1-D input N×C×L, kernel O×(C/g)×k, output N×O×L_out;
2-D input N×C×H×W, kernel O×(C/g)×kh×kw.  Entries may be Fractions or floats.

- x_pad[p] = x[p − before] inside the input, 0 outside (per spatial axis);
- y[n][o][i…] = Σ_{c < C/g, taps} x_pad[n][g0 + c][i·s + m·d …] · w[o][c][m …] + b[o],
  with g0 = (o // (O/g))·(C/g), the first input channel of o's group;
- ∂L/∂w and ∂L/∂x by the chain rule over the same loops.
"""

from __future__ import annotations

import itertools
from typing import Any


def _size(value: Any) -> tuple[int, ...]:
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        value = value[0]
    return tuple(shape)


def _zeros(shape: tuple[int, ...], zero: Any) -> Any:
    if not shape:
        return zero
    return [_zeros(shape[1:], zero) for _ in range(shape[0])]


def _get(array: Any, index: tuple[int, ...]) -> Any:
    for i in index:
        array = array[i]
    return array


def _add(array: Any, index: tuple[int, ...], value: Any) -> None:
    for i in index[:-1]:
        array = array[i]
    array[index[-1]] += value


def conv_nd(
    x: Any,
    w: Any,
    *,
    stride: tuple[int, ...],
    padding: tuple[tuple[int, int], ...],
    dilation: tuple[int, ...],
    groups: int = 1,
    upstream: Any = None,
    zero: Any = 0,
) -> tuple[Any, Any, Any]:
    """(y, ∂L/∂x, ∂L/∂w) for L = Σ upstream ⊙ y (upstream None: only y; the gradients None).

    x: N×C×(spatial…), w: O×(C/g)×(kernel…), padding: (before, after) per spatial axis."""
    n_batch, channels, *sizes = _size(x)
    out_channels, group_in, *kernel = _size(w)
    dims = len(sizes)
    group_out = out_channels // groups
    outs = [
        (sizes[a] + sum(padding[a]) - dilation[a] * (kernel[a] - 1) - 1) // stride[a] + 1
        for a in range(dims)
    ]
    y = _zeros((n_batch, out_channels, *outs), zero)
    grad_x = _zeros((n_batch, channels, *sizes), zero) if upstream is not None else None
    grad_w = _zeros((out_channels, group_in, *kernel), zero) if upstream is not None else None
    for n, o in itertools.product(range(n_batch), range(out_channels)):
        first = (o // group_out) * group_in
        for out_index in itertools.product(*(range(s) for s in outs)):
            total = zero
            up = _get(upstream, (n, o, *out_index)) if upstream is not None else None
            for c in range(group_in):
                for taps in itertools.product(*(range(k) for k in kernel)):
                    where = tuple(
                        out_index[a] * stride[a] + taps[a] * dilation[a] - padding[a][0]
                        for a in range(dims)
                    )
                    if not all(0 <= where[a] < sizes[a] for a in range(dims)):
                        continue  # zero padding
                    x_value = _get(x, (n, first + c, *where))
                    w_value = _get(w, (o, c, *taps))
                    total += x_value * w_value
                    if upstream is not None:
                        _add(grad_w, (o, c, *taps), up * x_value)
                        _add(grad_x, (n, first + c, *where), up * w_value)
            _add(y, (n, o, *out_index), total)
    return y, grad_x, grad_w
