"""A plain-loop reference for scaled dot-product attention (PyTorch's
F.scaled_dot_product_attention), sharing no code with gradcalc (no NumPy): one slice
(no batch axes) as lists of floats, every sum an explicit loop over indices.

- scores a[i][j] = scale·Σ_e q[i][e]·k[j][e] (+ bias[i][j]);
- weights p[i][j] = exp(a[i][j] − m_i)/Σ_k exp(a[i][k] − m_i) over the keys allowed[i][k]
  (m_i the row's largest allowed score), 0 where not allowed;
- output y[i][c] = Σ_j p[i][j]·v[j][c];
- ∂L/∂v[j][c] = Σ_i p[i][j]·g[i][c];  ∂L/∂p[i][j] = Σ_c g[i][c]·v[j][c];
- ∂L/∂a[i][j] = Σ_k ∂L/∂p[i][k]·∂p[i][k]/∂a[i][j] with ∂p_k/∂a_j = p_k·(δ_kj − p_j), the
  full Jacobian of the row written out entry by entry (not its p·(g − Σ g·p) shortcut);
- ∂L/∂q[i][e] = scale·Σ_j ∂L/∂a[i][j]·k[j][e];  ∂L/∂k[j][e] = scale·Σ_i ∂L/∂a[i][j]·q[i][e].
"""

from __future__ import annotations

import math
from typing import Any

Matrix = list[list[float]]


def zeros(rows: int, columns: int) -> Matrix:
    return [[0.0] * columns for _ in range(rows)]


def attention(
    q: Matrix,
    k: Matrix,
    v: Matrix,
    g: Matrix,
    scale: float,
    allowed: list[list[bool]] | None = None,
    bias: Matrix | None = None,
) -> dict[str, Any]:
    """Every result of one attention slice, by loops over indices."""
    length, keys, width, value_width = len(q), len(k), len(q[0]), len(v[0])
    ok = allowed or [[True] * keys for _ in range(length)]
    scores = zeros(length, keys)
    for i in range(length):
        for j in range(keys):
            total = 0.0
            for e in range(width):
                total += q[i][e] * k[j][e]
            scores[i][j] = total * scale + (bias[i][j] if bias else 0.0)
    weights = zeros(length, keys)
    for i in range(length):
        top = max(scores[i][j] for j in range(keys) if ok[i][j])
        z = 0.0
        for j in range(keys):
            if ok[i][j]:
                z += math.exp(scores[i][j] - top)
        for j in range(keys):
            if ok[i][j]:
                weights[i][j] = math.exp(scores[i][j] - top) / z
    output = zeros(length, value_width)
    for i in range(length):
        for c in range(value_width):
            for j in range(keys):
                output[i][c] += weights[i][j] * v[j][c]
    grad_value = zeros(keys, value_width)
    for j in range(keys):
        for c in range(value_width):
            for i in range(length):
                grad_value[j][c] += weights[i][j] * g[i][c]
    grad_weights = zeros(length, keys)
    for i in range(length):
        for j in range(keys):
            for c in range(value_width):
                grad_weights[i][j] += g[i][c] * v[j][c]
    grad_scores = zeros(length, keys)
    for i in range(length):
        for j in range(keys):
            for kk in range(keys):
                delta = 1.0 if kk == j else 0.0
                jacobian = weights[i][kk] * (delta - weights[i][j])
                grad_scores[i][j] += grad_weights[i][kk] * jacobian
    grad_query = zeros(length, width)
    for i in range(length):
        for e in range(width):
            for j in range(keys):
                grad_query[i][e] += grad_scores[i][j] * k[j][e] * scale
    grad_key = zeros(keys, width)
    for j in range(keys):
        for e in range(width):
            for i in range(length):
                grad_key[j][e] += grad_scores[i][j] * q[i][e] * scale
    return {
        "output": output,
        "scores": scores,
        "weights": weights,
        "grad_query": grad_query,
        "grad_key": grad_key,
        "grad_value": grad_value,
    }


def causal(length: int, keys: int) -> list[list[bool]]:
    """Query i attends keys j ≤ i (top-left aligned)."""
    return [[j <= i for j in range(keys)] for i in range(length)]
