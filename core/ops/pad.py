"""Padding with a mode (PyTorch's ``torch.nn.functional.pad`` for ``reflect``, ``replicate``
and ``circular``; Conv2d's ``padding_mode``) on the last two axes of N×C×H×W arrays, or the
last three of N×C×D×H×W ones (Conv3d's ``padding_mode``: six sides given).

Every padded cell is a copy of one input cell: :func:`source_rows` says which, axis by axis
(``zeros`` has no source, −1).  The forward pass gathers by those index maps; the backward
pass adds ∂L/∂x_padded back onto the cells each padded cell copied (the centre block, then
one vectorized add per padding row and column).  Moving and adding values is exact on
anything: the op is declared PIECEWISE with no products, so the adapter runs it on
Fractions as they are.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params

MODES = ("zeros", "reflect", "replicate", "circular")


def source_rows(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """The input index each of the ``before + size + after`` padded positions copies, along
    one axis of ``size`` cells (−1: a zero).  PyTorch's rules: reflect mirrors about the edge
    cell without repeating it (needs before, after < size), replicate repeats the edge cell,
    circular wraps around (needs before, after ≤ size)."""
    shifted = np.arange(-before, size + after)
    if mode == "reflect":
        return np.where(
            shifted < 0, -shifted, np.where(shifted >= size, 2 * (size - 1) - shifted, shifted)
        )
    if mode == "replicate":
        return np.clip(shifted, 0, size - 1)
    if mode == "circular":
        return shifted % size
    return np.where((shifted >= 0) & (shifted < size), shifted, -1)


def limit_words(mode: str) -> str:
    """PyTorch's bound on each side's padding for ``mode`` (reflect: < size; circular: ≤ size)."""
    return {"reflect": "smaller than", "circular": "at most"}.get(mode, "")


def fits(mode: str, pad: int, size: int) -> bool:
    """Whether one side's padding is allowed for an axis of ``size`` cells."""
    if mode == "reflect":
        return pad < size
    if mode == "circular":
        return pad <= size
    return True


def pad_forward(x: np.ndarray, padding: tuple[int, ...], mode: str) -> np.ndarray:
    """x: N×C×H×W -> N×C×(top+H+bottom)×(left+W+right), padded by copies (``mode`` not zeros);
    with six sides (front, back, top, bottom, left, right) x: N×C×D×H×W, padded likewise."""
    first = x.ndim - len(padding) // 2  # the first padded axis
    for axis in range(first, x.ndim):
        before, after = padding[2 * (axis - first)], padding[2 * (axis - first) + 1]
        x = np.take(x, source_rows(x.shape[axis], before, after, mode), axis=axis)
    return x


def _fold_axis(
    grad: np.ndarray, sources: np.ndarray, before: int, size: int, axis: int
) -> np.ndarray:
    """Sum ``grad`` along ``axis`` (padded length) onto ``size`` input cells: the centre block
    as it is, plus each padding position added onto the cell it copied."""
    centre = np.take(grad, range(before, before + size), axis=axis)
    folded = centre.copy()
    padding_positions = [p for p in range(len(sources)) if not before <= p < before + size]
    for position in padding_positions:  # one vectorized add per padding row (or column)
        target = [slice(None)] * grad.ndim
        target[axis] = int(sources[position])
        source = [slice(None)] * grad.ndim
        source[axis] = position
        folded[tuple(target)] = folded[tuple(target)] + grad[tuple(source)]
    return folded


def pad_backward_input(
    grad_padded: np.ndarray, shape: tuple[int, ...], padding: tuple[int, ...], mode: str
) -> np.ndarray:
    """grad_padded: N×C×H_padded×W_padded -> ∂L/∂x: N×C×H×W (``shape``), every padded cell's
    gradient added onto the input cell it copied (six sides: N×C×D×H×W, axis by axis)."""
    first = len(shape) - len(padding) // 2
    for axis in range(first, len(shape)):
        before, after = padding[2 * (axis - first)], padding[2 * (axis - first) + 1]
        size = shape[axis]
        sources = source_rows(size, before, after, mode)
        grad_padded = _fold_axis(grad_padded, sources, before, size, axis=axis)
    return grad_padded


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×C×H×W; params ``padding`` (top, bottom, left, right) and ``mode`` (or N×C×D×H×W
    with six sides).  Returns the padded N×C×H_padded×W_padded (N×C×D_padded×H_padded×W_padded)
    and the cache {"shape", "padding", "mode"}."""
    cache = {"shape": x.shape, "padding": params["padding"], "mode": params["mode"]}
    return pad_forward(x, params["padding"], params["mode"]), cache


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×C×H_padded×W_padded -> {"input": N×C×H×W} (or the 3-D shapes)."""
    return {"input": pad_backward_input(grad_y, cache["shape"], cache["padding"], cache["mode"])}


PAD = Op(name="pad", exactness=Exactness.PIECEWISE, forward=forward, backward=backward)
