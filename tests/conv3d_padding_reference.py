"""A plain nested-loop conv3d with a padding mode (PyTorch's Conv3d ``padding_mode``), written
from the definition and sharing no code with gradcalc's core (the per-axis ``source`` rule is
tests/conv_padding_reference.py's).

Arrays are nested lists in NCDHW layout: input N×C×D×H×W, kernel O×(C/g)×kd×kh×kw; entries
Fractions or floats.  ``padding`` is (front, back, top, bottom, left, right).  A tap at
unpadded coordinate (t, r, col) reads input cell (source(t), source(r), source(col)) — zero
when any axis has no source (zeros mode).  The backward pass sends each product's
upstream·w straight to the input cell the tap read (no padded array, no fold).
"""

from __future__ import annotations

import itertools
from typing import Any

from conv_padding_reference import source


def _zeros(shape: tuple[int, ...], zero: Any) -> Any:
    if len(shape) == 1:
        return [zero] * shape[0]
    return [_zeros(shape[1:], zero) for _ in range(shape[0])]


def conv3d_padded(
    x: Any,
    w: Any,
    upstream: Any = None,
    *,
    stride: tuple = (1, 1, 1),
    padding: tuple = (0,) * 6,
    dilation: tuple = (1, 1, 1),
    groups: int = 1,
    mode: str = "zeros",
    zero: Any = 0,
) -> dict[str, Any]:
    """output (N×O×D_out×H_out×W_out) and, with ``upstream``, grad_input and grad_kernel."""
    batch, channels = len(x), len(x[0])
    size = (len(x[0][0]), len(x[0][0][0]), len(x[0][0][0][0]))
    out_channels, group_in = len(w), len(w[0])
    kernel = (len(w[0][0]), len(w[0][0][0]), len(w[0][0][0][0]))
    group_out = out_channels // groups
    out = tuple(
        (size[a] + padding[2 * a] + padding[2 * a + 1] - dilation[a] * (kernel[a] - 1) - 1)
        // stride[a]
        + 1
        for a in range(3)
    )
    y = _zeros((batch, out_channels, *out), zero)
    grad_x = _zeros((batch, channels, *size), zero)
    grad_w = _zeros((out_channels, group_in, *kernel), zero)
    for n, o, t, i, j in itertools.product(
        range(batch), range(out_channels), *(range(v) for v in out)
    ):
        first = (o // group_out) * group_in
        for c, e, m, q in itertools.product(range(group_in), *(range(k) for k in kernel)):
            spots = [
                source(p * stride[a] + k * dilation[a] - padding[2 * a], size[a], mode)
                for a, (p, k) in enumerate(((t, e), (i, m), (j, q)))
            ]
            if None in spots:
                continue  # a zero of the padding
            a, b, col = spots
            cell = x[n][first + c][a][b][col]
            y[n][o][t][i][j] += cell * w[o][c][e][m][q]
            if upstream is not None:
                up = upstream[n][o][t][i][j]
                grad_x[n][first + c][a][b][col] += up * w[o][c][e][m][q]
                grad_w[o][c][e][m][q] += up * cell
    result: dict[str, Any] = {"output": y}
    if upstream is not None:
        result.update(grad_input=grad_x, grad_kernel=grad_w)
    return result
