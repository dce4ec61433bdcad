"""The results a pool run derives from its trace beyond the output and ∂L/∂x: the
Jacobian ∂y/∂x and PyTorch's argmax (return_indices).

Arrays are NCHW as in core/kinds/pool.py: input N×C×H×W, output N×C×H_out×W_out, window
arrays N×C×H_out×W_out×T.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # core/kinds/pool.py imports this module
    from gradcalc.core.kinds.pool import PoolProblem, PoolTrace


def jacobian_input(problem: PoolProblem, computed: PoolTrace) -> np.ndarray:
    """∂y/∂x as an (outputs)×(inputs) matrix, rows and columns in row-major order.

    Row (n, c, i, j) holds the window's tap weights at the cells the taps read.
    """
    g = problem.geometry
    rows = np.arange(g.windows).reshape(g.batch, g.channels, g.out_h, g.out_w)
    plane = g.in_h * g.in_w
    columns = (np.arange(g.batch * g.channels) * plane).reshape(g.batch, g.channels, 1, 1, 1)
    columns = columns + computed.layout.positions
    weights = np.broadcast_to(computed.weights, columns.shape)
    valid = np.broadcast_to(computed.layout.real, columns.shape)
    matrix = np.zeros((g.windows, problem.input.size), dtype=object if computed.exact else float)
    if computed.exact:
        matrix.fill(Fraction(0))
    row_index = np.broadcast_to(rows[..., None], columns.shape)[valid]
    taken = weights[valid]
    if computed.exact:
        taken = np.array([Fraction(int(w), computed.denominator) for w in taken], dtype=object)
    matrix[row_index, columns[valid]] = taken
    return matrix


def argmax_result(problem: PoolProblem, computed: PoolTrace) -> np.ndarray:
    """Spec-shaped like the output.  ties first: PyTorch's return_indices, the flat index
    r·W + c (0-based) of the winning cell in its input plane; all/split: a tuple of every
    tied maximum's flat index."""
    positions = computed.layout.positions
    g = problem.geometry
    spatial = np.broadcast_to(positions, computed.tied.shape)
    if problem.ties == "first":
        chosen = np.take_along_axis(spatial, computed.first[..., None], axis=-1)[..., 0]
        return chosen.reshape(problem.output_shape)
    flat = spatial[computed.tied]
    counts = computed.tied.sum(axis=-1).ravel()
    groups = np.split(flat, np.cumsum(counts)[:-1])
    result = np.empty(g.windows, dtype=object)
    for k, group in enumerate(groups):  # one tuple per window: a ragged result
        result[k] = tuple(int(v) for v in group)
    return result.reshape(problem.output_shape)
