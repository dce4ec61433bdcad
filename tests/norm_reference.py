"""Plain-loop references for batch, layer and group norm (PyTorch semantics), written
independently of gradcalc's core: index loops over groups, float64, and the backward pass
from the Jacobian entry by entry,

    ∂x̂_j/∂x_i = (δ_ij − 1/M)/σ − x̃_j·x̃_i/(M·σ³)   (i, j in the same group).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np


def _normalize_groups(
    x: np.ndarray,
    up: np.ndarray,
    groups: list[list[tuple[int, ...]]],
    gamma_at,
    beta_at,
    eps: float,
) -> dict[str, Any]:
    """Every group normalized by loops; gamma_at(i)/beta_at(i): the parameters entry i uses
    (a hashable key, value)."""
    out = np.zeros(x.shape)
    x_hat = np.zeros(x.shape)
    grad = np.zeros(x.shape)
    grad_w: dict[Any, float] = {}
    grad_b: dict[Any, float] = {}
    means, variances = [], []
    for members in groups:
        m = len(members)
        mean = sum(float(x[i]) for i in members) / m
        var = sum((float(x[i]) - mean) ** 2 for i in members) / m
        sigma = math.sqrt(var + eps)
        means.append(mean)
        variances.append(var)
        for i in members:
            key_w, g = gamma_at(i)
            key_b, b = beta_at(i)
            x_hat[i] = (float(x[i]) - mean) / sigma
            out[i] = g * x_hat[i] + b
            grad_w[key_w] = grad_w.get(key_w, 0.0) + float(up[i]) * x_hat[i]
            grad_b[key_b] = grad_b.get(key_b, 0.0) + float(up[i])
        for i in members:
            total = 0.0
            for j in members:
                delta = 1.0 if i == j else 0.0
                centred_i, centred_j = float(x[i]) - mean, float(x[j]) - mean
                d_hat = (delta - 1 / m) / sigma - centred_j * centred_i / (m * sigma**3)
                total += float(up[j]) * gamma_at(j)[1] * d_hat
            grad[i] = total
    return {
        "output": out,
        "x_hat": x_hat,
        "grad_input": grad,
        "grad_weight": grad_w,
        "grad_bias": grad_b,
        "mean": means,
        "var": variances,
    }


def _indices(shape: tuple[int, ...]) -> list[tuple[int, ...]]:
    return list(itertools.product(*(range(n) for n in shape)))


def batchnorm(
    x: Any,
    up: Any,
    *,
    weight: Any = None,
    bias: Any = None,
    eps: float = 1e-5,
    training: bool = True,
    momentum: float = 0.1,
    running_mean: Any = None,
    running_var: Any = None,
) -> dict[str, Any]:
    """BatchNorm1d (N×D) or 2d (N×C×H×W); results keyed as gradcalc names them."""
    x = np.asarray(x, dtype=float)
    up = np.asarray(up, dtype=float)
    channels = x.shape[1]
    weight = [1.0] * channels if weight is None else [float(v) for v in weight]
    bias = [0.0] * channels if bias is None else [float(v) for v in bias]
    rm = [0.0] * channels if running_mean is None else [float(v) for v in running_mean]
    rv = [1.0] * channels if running_var is None else [float(v) for v in running_var]
    groups = [[i for i in _indices(x.shape) if i[1] == c] for c in range(channels)]
    if not training:
        return _batchnorm_eval(x, up, groups, weight, bias, eps, rm, rv)
    found = _normalize_groups(
        x, up, groups, lambda i: (i[1], weight[i[1]]), lambda i: (i[1], bias[i[1]]), eps
    )
    m = len(groups[0])
    found["running_mean"] = [
        (1 - momentum) * rm[c] + momentum * found["mean"][c] for c in range(channels)
    ]
    found["running_var"] = [
        (1 - momentum) * rv[c] + momentum * found["var"][c] * m / (m - 1) for c in range(channels)
    ]
    found["grad_weight"] = [found["grad_weight"][c] for c in range(channels)]
    found["grad_bias"] = [found["grad_bias"][c] for c in range(channels)]
    return found


def _batchnorm_eval(x, up, groups, weight, bias, eps, rm, rv) -> dict[str, Any]:
    out, x_hat, grad = np.zeros(x.shape), np.zeros(x.shape), np.zeros(x.shape)
    grad_w, grad_b = [0.0] * len(groups), [0.0] * len(groups)
    for c, members in enumerate(groups):
        sigma = math.sqrt(rv[c] + eps)
        for i in members:
            x_hat[i] = (x[i] - rm[c]) / sigma
            out[i] = weight[c] * x_hat[i] + bias[c]
            grad[i] = up[i] * weight[c] / sigma
            grad_w[c] += up[i] * x_hat[i]
            grad_b[c] += up[i]
    return {
        "output": out,
        "x_hat": x_hat,
        "grad_input": grad,
        "grad_weight": grad_w,
        "grad_bias": grad_b,
        "mean": rm,
        "var": rv,
    }


def layernorm(x: Any, up: Any, normalized: int, *, weight=None, bias=None, eps=1e-5) -> dict:
    """LayerNorm over the last ``normalized`` axes; γ, β shaped like them (flattened here)."""
    x = np.asarray(x, dtype=float)
    up = np.asarray(up, dtype=float)
    lead, tail = x.shape[: x.ndim - normalized], x.shape[x.ndim - normalized :]
    size = math.prod(tail)
    w = [1.0] * size if weight is None else list(np.asarray(weight, dtype=float).ravel())
    b = [0.0] * size if bias is None else list(np.asarray(bias, dtype=float).ravel())

    def flat(i: tuple[int, ...]) -> int:
        k = 0
        for n, v in zip(tail, i[len(lead) :], strict=True):
            k = k * n + v
        return k

    groups = [[(*g, *t) for t in _indices(tail)] for g in _indices(lead)]
    found = _normalize_groups(
        x, up, groups, lambda i: (flat(i), w[flat(i)]), lambda i: (flat(i), b[flat(i)]), eps
    )
    found["grad_weight"] = np.array([found["grad_weight"][k] for k in range(size)]).reshape(tail)
    found["grad_bias"] = np.array([found["grad_bias"][k] for k in range(size)]).reshape(tail)
    found["mean"] = np.array(found["mean"]).reshape(lead)
    found["var"] = np.array(found["var"]).reshape(lead)
    return found


def groupnorm(x: Any, up: Any, groups: int, *, weight=None, bias=None, eps=1e-5) -> dict:
    """GroupNorm: N×C×…, C/G consecutive channels a group; γ, β per channel."""
    x = np.asarray(x, dtype=float)
    up = np.asarray(up, dtype=float)
    n, channels = x.shape[:2]
    per = channels // groups
    w = [1.0] * channels if weight is None else [float(v) for v in weight]
    b = [0.0] * channels if bias is None else [float(v) for v in bias]
    every = _indices(x.shape)
    members = [
        [i for i in every if i[0] == s and i[1] // per == g]
        for s in range(n)
        for g in range(groups)
    ]
    found = _normalize_groups(
        x, up, members, lambda i: (i[1], w[i[1]]), lambda i: (i[1], b[i[1]]), eps
    )
    found["grad_weight"] = [found["grad_weight"][c] for c in range(channels)]
    found["grad_bias"] = [found["grad_bias"][c] for c in range(channels)]
    found["mean"] = np.array(found["mean"]).reshape(n, groups)
    found["var"] = np.array(found["var"]).reshape(n, groups)
    return found
