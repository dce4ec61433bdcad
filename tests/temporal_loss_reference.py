"""A plain-loop reference for cs231n's temporal_softmax_loss, sharing no code with gradcalc
(no NumPy): scores x N×T×V, class indices y N×T, mask N×T of 0/1, as nested lists.

  L = Σ_n Σ_t mask[n][t]·(−log p[n][t][y[n][t]]) / N   (reduction "mean", cs231n's)
  L = Σ_n Σ_t mask[n][t]·(−log p[n][t][y[n][t]])       (reduction "sum")
  ∂L/∂x[n][t][v] = mask[n][t]·(p[n][t][v] − 1[v = y[n][t]]) / D,  D = N or 1.
"""

from __future__ import annotations

import math
from typing import Any


def temporal_softmax_loss(
    x: list[Any], y: list[list[int]], mask: list[list[int]], reduction: str = "mean"
) -> tuple[float, list[list[list[float]]]]:
    sequences, steps, classes = len(x), len(x[0]), len(x[0][0])
    divisor = sequences if reduction == "mean" else 1
    loss = 0.0
    grad = [[[0.0] * classes for _ in range(steps)] for _ in range(sequences)]
    for n in range(sequences):
        for t in range(steps):
            row = [float(v) for v in x[n][t]]
            top = max(row)
            total = 0.0
            for v in range(classes):
                total += math.exp(row[v] - top)
            p = [math.exp(row[v] - top) / total for v in range(classes)]
            if not mask[n][t]:
                continue
            loss += -math.log(p[y[n][t]])
            for v in range(classes):
                grad[n][t][v] = (p[v] - (1.0 if v == y[n][t] else 0.0)) / divisor
    return loss / divisor, grad
