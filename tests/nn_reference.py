"""Plain-loop references for dense layers, activations, softmax and losses.

The yardstick the dense/activation/loss tests hold gradcalc against.  It
shares no code with gradcalc (no NumPy): every value is written from its
definition with Python numbers, ``fractions`` for the rational ops and
``math`` for the rest.  PyTorch semantics throughout:

- nn.Linear: y[n][j] = Σ_i W[j][i]·x[n][i] + b[j];
- ReLU′(0) = 0, LeakyReLU′(0) = α, ELU′(0) = α (PyTorch's x ≤ 0 branch);
  Softplus(β, threshold) is x where β·x > threshold; GELU is x·Φ(x) (erf);
- CrossEntropyLoss / NLLLoss: weighted mean over Σ w[y_n] of the counted
  samples (class indices), over N (probability targets); label smoothing
  mixes (1 − ε)·target with ε/C; ignore_index drops a sample entirely;
- MSELoss, BCELoss (log clamped at −100), BCEWithLogitsLoss: mean over all entries.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

Rows = list[list[Any]]


# ---------------------------------------------------------------------------
# nn.Linear


def dense(x: Rows, w: Rows, b: list[Any] | None, up: Rows) -> dict[str, Any]:
    """Forward and backward of y = x·Wᵀ + b for a batch of rows (x: N×L, W: O×L, up: N×O)."""
    outs, ins = len(w), len(w[0])
    y = [
        [sum((w[j][i] * row[i] for i in range(ins)), 0) + (b[j] if b else 0) for j in range(outs)]
        for row in x
    ]
    grad_w = [
        [sum((u[j] * row[i] for row, u in zip(x, up, strict=True)), 0) for i in range(ins)]
        for j in range(outs)
    ]
    grad_b = [sum((u[j] for u in up), 0) for j in range(outs)]
    grad_x = [[sum((u[j] * w[j][i] for j in range(outs)), 0) for i in range(ins)] for u in up]
    return {"output": y, "grad_weight": grad_w, "grad_bias": grad_b, "grad_input": grad_x}


def dense_loss(x: Rows, w: Rows, b: list[float] | None, up: Rows) -> float:
    """L = Σ up ⊙ (x·Wᵀ + b)."""
    y = dense(x, w, b, up)["output"]
    return sum(u * v for ur, yr in zip(up, y, strict=True) for u, v in zip(ur, yr, strict=True))


# ---------------------------------------------------------------------------
# Elementwise activations: (f(x), f′(x)) for one number


def phi(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def activation(name: str, x: Any, alpha: Any = None, beta: float = 1.0, threshold: float = 20.0):
    """(f(x), f′(x)); exact for relu and leaky_relu when x and α are Fractions."""
    if name == "relu":
        return (x if x > 0 else 0 * x), (1 if x > 0 else 0)
    if name == "leaky_relu":
        a = Fraction(1, 100) if alpha is None else alpha
        return (x if x > 0 else a * x), (1 if x > 0 else a)
    if name == "elu":
        a = 1.0 if alpha is None else alpha
        return (x if x > 0 else a * (math.exp(x) - 1)), (1.0 if x > 0 else a * math.exp(x))
    if name == "sigmoid":
        s = sigmoid(x)
        return s, s * (1 - s)
    if name == "tanh":
        t = math.tanh(x)
        return t, 1 - t * t
    if name == "softplus":
        if beta * x > threshold:
            return x, 1.0
        return math.log1p(math.exp(beta * x)) / beta, sigmoid(beta * x)
    if name == "gelu":
        return x * phi(x), phi(x) + x * math.exp(-x * x / 2) / math.sqrt(2 * math.pi)
    raise ValueError(name)


# ---------------------------------------------------------------------------
# Softmax


def softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(v - top) for v in row]
    total = sum(exps)
    return [e / total for e in exps]


def log_softmax(row: list[float]) -> list[float]:
    top = max(row)
    lse = top + math.log(sum(math.exp(v - top) for v in row))
    return [v - lse for v in row]


def softmax_jacobian(row: list[float], log: bool = False) -> Rows:
    p = softmax(row)
    size = len(row)
    if log:
        return [[(1.0 if i == j else 0.0) - p[j] for j in range(size)] for i in range(size)]
    return [[p[i] * ((1.0 if i == j else 0.0) - p[j]) for j in range(size)] for i in range(size)]


# ---------------------------------------------------------------------------
# Losses (the input as a list of rows for the class losses, a flat list otherwise)


def cross_entropy(
    rows: Rows,
    target: list[Any],
    *,
    weight: list[float] | None = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
    reduction: str = "mean",
) -> float:
    """CrossEntropyLoss; ``target`` holds class indices or probability rows."""
    classes = len(rows[0])
    w = weight or [1.0] * classes
    eps = label_smoothing
    total, denominator = 0.0, 0.0
    for row, t in zip(rows, target, strict=True):
        logp = log_softmax(row)
        if isinstance(t, list):
            smoothed = [(1 - eps) * t[c] + eps / classes for c in range(classes)]
            total += -sum(w[c] * smoothed[c] * logp[c] for c in range(classes))
            denominator += 1
            continue
        if t == ignore_index:
            continue
        nll = -w[t] * logp[t]
        smooth = -sum(w[c] * logp[c] for c in range(classes))
        total += (1 - eps) * nll + eps / classes * smooth
        denominator += w[t]
    return total if reduction == "sum" else total / denominator


def nll(
    rows: Rows,
    target: list[int],
    *,
    weight: list[Any] | None = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Any:
    w = weight or [1] * len(rows[0])
    counted = [(row, t) for row, t in zip(rows, target, strict=True) if t != ignore_index]
    total = sum((-w[t] * row[t] for row, t in counted), 0)
    if reduction == "sum":
        return total
    return total / sum((w[t] for _, t in counted), 0)


def mse(x: list[Any], t: list[Any], reduction: str = "mean") -> Any:
    total = sum(((a - b) * (a - b) for a, b in zip(x, t, strict=True)), 0)
    return total / len(x) if reduction == "mean" else total


def bce(x: list[float], t: list[float], w: list[float] | None = None, reduction: str = "mean"):
    w = w or [1.0] * len(x)
    total = 0.0
    for a, b, c in zip(x, t, w, strict=True):
        log_a = max(math.log(a), -100.0) if a > 0 else -100.0
        log_rest = max(math.log(1 - a), -100.0) if a < 1 else -100.0
        total += -c * (b * log_a + (1 - b) * log_rest)
    return total / len(x) if reduction == "mean" else total


def bce_with_logits(
    s: list[float], t: list[float], w: list[float] | None = None, reduction: str = "mean"
) -> float:
    """−w·[t·log σ(s) + (1 − t)·log(1 − σ(s))], with log σ written without overflow."""
    w = w or [1.0] * len(s)
    total = 0.0
    for a, b, c in zip(s, t, w, strict=True):
        log_sig = -math.log1p(math.exp(-a)) if a >= 0 else a - math.log1p(math.exp(a))
        log_one_minus = log_sig - a
        total += -c * (b * log_sig + (1 - b) * log_one_minus)
    return total / len(s) if reduction == "mean" else total


# ---------------------------------------------------------------------------
# Central differences on nested lists


def central_difference(loss, values: list[float], index: int, step: float = 1e-6) -> float:
    """(L(v + h·e_i) − L(v − h·e_i))/2h for a flat list of floats."""
    plus = list(values)
    minus = list(values)
    plus[index] += step
    minus[index] -= step
    return (loss(plus) - loss(minus)) / (2 * step)


def reshape(flat: list[Any], shape: tuple[int, ...]) -> Any:
    """A flat list as nested lists of ``shape`` (a bare number for ())."""
    if not shape:
        return flat[0]
    step = math.prod(shape[1:])
    return [reshape(flat[k * step : (k + 1) * step], shape[1:]) for k in range(shape[0])]


def flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [v for item in value for v in flatten(item)]
    return [value]
