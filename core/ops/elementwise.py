"""Elementwise activation ops (PyTorch semantics): y = f(x) entry by entry, ∂L/∂x = ∂L/∂y ⊙ f′(x).

Each function is a forward rule ``f(x, params)`` beside its derivative ``f′(x, params)``
(params: ``alpha``, ``beta``, ``threshold`` as the function takes them), made into an
:class:`~gradcalc.core.ops.Op` by :func:`elementwise_op`.  relu and leaky_relu are
piecewise linear: their pieces are chosen on the exact values and they are exact; the
others use exp, tanh or erf and run in float64.  The derivative at a kink is the left
slope, as PyTorch's backward computes it (its x ≤ 0 branch), unless ``subgradient`` says
otherwise.  Every array (x, y, ∂L/∂y, ∂L/∂x, f′(x)) has the input's shape.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product, fused

_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
# A difference of rounded floats below this fraction (about 1e-6) of its operands is taken
# in a form without the difference (σ(−x) for 1 − σ(x)) or from exact values (the bce
# ops): below it, rounding first leaves fewer than 33 of its 53 bits (10 digits); above
# it PyTorch's arithmetic is kept, off by less than 2^-33 (1e-10) relative.
CANCELLED = 2.0**-20

Rule = Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]


def _zero_one(x: np.ndarray) -> tuple[Any, Any]:
    exact = x.dtype == object
    return (Fraction(0), Fraction(1)) if exact else (0.0, 1.0)


def relu(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    if x.dtype == float:
        return _float_relu(x)
    zero, _one = _zero_one(x)
    return np.where(x > 0, x, zero)


def _float_relu(x: np.ndarray) -> np.ndarray:
    """np.where(x > 0, x, 0.0) for float64 x, without np.where's scalar broadcast (a
    hundred times slower on a large array): fmax(x, 0), which is 0 where x is nan (x > 0
    is false there), + 0.0 turning a −0.0 that fmax may keep into 0.0."""
    y = np.fmax(x, 0.0, out=np.empty_like(x))  # an array, 0-d too
    y += 0.0
    return y


def fused_relu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(relu(x), relu_grad(x)) of a large float64 x in one compiled pass (core/ops/_net.c),
    the same values as the two rules give; None for any other x."""
    kernel = fused.net_kernel(x)
    if kernel is None:
        return None
    y, slope = np.empty(x.shape), np.empty(x.shape)
    kernel.relu(np.ascontiguousarray(x), y, slope, x.size)
    return y, slope


def relu_output(x: np.ndarray) -> np.ndarray | None:
    """relu(x) of a large float64 x in one compiled pass that writes y alone (core/ops/_net.c
    relu_forward), the same values as the rule gives; None for any other x."""
    kernel = fused.net_kernel(x)
    if kernel is None:
        return None
    y = np.empty(x.shape)
    kernel.relu_forward(np.ascontiguousarray(x), y, x.size)
    return y


def relu_backward(grad_y: Any, x: np.ndarray) -> np.ndarray | None:
    """∂L/∂y ⊙ relu_grad(x) (grad_y and x float64, one shape) in one compiled pass that reads
    the slope off x (core/ops/_net.c relu_backward): the product ``grad_y * slope`` takes,
    bit for bit (−0.0 and nan included); None where the kernel does not apply."""
    if not isinstance(grad_y, np.ndarray) or grad_y.shape != x.shape:
        return None
    kernel = fused.net_kernel(grad_y, x)
    if kernel is None:
        return None
    grad_x = np.empty(x.shape)
    kernel.relu_backward(np.ascontiguousarray(grad_y), np.ascontiguousarray(x), grad_x, x.size)
    return grad_x


def relu_grad(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    if x.dtype == float:
        # np.where(x > 0, 1.0, 0.0) at copy speed: the comparison written as 1.0 and 0.0
        return np.greater(x, 0.0, out=np.empty(np.shape(x)))
    zero, one = _zero_one(x)
    return np.where(x > 0, one, zero)


def leaky_relu(x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    return np.where(x > 0, x, x * p["alpha"])


def leaky_relu_grad(x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    _zero, one = _zero_one(x)
    return np.where(x > 0, one, p["alpha"])


def sigmoid_rule(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    return sigmoid(x)


def sigmoid_slope(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(σ′(x), where it was taken in its tail form σ(x)·σ(−x)), both of x's shape.

    PyTorch computes σ(x)·(1 − σ(x)); for x above about 14, 1 − σ(x) is below 2^-20 and
    keeps fewer than 33 of its 53 bits (σ(x) was rounded first), and above about 37 it is
    0: σ′(40) = 0 where the true value is 4.25e-18.  σ(−x) holds that difference without
    cancellation, so it is taken there (where 1 − σ(x) < CANCELLED and the two differ).
    Elsewhere PyTorch's form stays, bit for bit: σ(x)·σ(−x) rounds differently for about
    two inputs in three, and the plain form is off by less than 2^-33 relative there.
    """
    s = sigmoid(x)
    plain = s * (1 - s)
    complement = sigmoid(-x)
    tail = (complement < CANCELLED) & (s * complement != plain)
    return np.where(tail, s * complement, plain), tail


def sigmoid_grad(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    return sigmoid_slope(x)[0]


def tanh(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    return np.tanh(x)


def tanh_slope(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(tanh′(x), where it was taken in its tail form 4·e/(1 + e)², e = exp(−2|x|)), both
    of x's shape.

    PyTorch computes 1 − tanh²(x), which cancels as |tanh(x)| nears 1: below 2^-20 (|x|
    above about 7.6) it keeps fewer than 33 bits, and above about 19 it is 0 (tanh′(20)
    is 1.7e-17).  4·e/(1 + e)² is 1/cosh²(x) without overflow (e ≤ 1; cosh overflows
    above |x| ≈ 710), and is taken where 1 − tanh²(x) < CANCELLED and the two differ;
    elsewhere PyTorch's form stays, bit for bit (the tail form rounds differently for
    most inputs).
    """
    plain = 1 - np.tanh(x) ** 2
    e = np.exp(-2 * np.abs(np.asarray(x, dtype=float)))
    closed = 4 * e / (1 + e) ** 2
    tail = (closed < CANCELLED) & (closed != plain)
    return np.where(tail, closed, plain), tail


def tanh_grad(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    return tanh_slope(x)[0]


def softplus(x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    # PyTorch: x itself where β·x > threshold, else log(1 + exp(β·x))/β.
    z = p["beta"] * x
    return np.where(z > p["threshold"], x, np.logaddexp(0.0, z) / p["beta"])


def softplus_grad(x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    z = p["beta"] * x
    return np.where(z > p["threshold"], 1.0, sigmoid(z))


def elu(x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    return np.where(x > 0, x, p["alpha"] * np.expm1(np.minimum(x, 0.0)))


def elu_grad(x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    return np.where(x > 0, 1.0, p["alpha"] * np.exp(np.minimum(x, 0.0)))


def gelu_cdf(x: np.ndarray) -> np.ndarray:
    """Φ(x) = (1 + erf(x/√2))/2 = erfc(−x/√2)/2, the standard normal CDF.

    Computed as erfc: 1 + erf(x/√2) cancels to 0 below x ≈ −8.3, which made gelu(−10) 0
    instead of −7.6e-23."""
    return 0.5 * erfc(-x / _SQRT2)


def gelu(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    return x * gelu_cdf(x)


def gelu_grad(x: np.ndarray, _: Mapping[str, Any]) -> np.ndarray:
    return gelu_cdf(x) + x * np.exp(-0.5 * x * x) / _SQRT_2PI


def _positively_homogeneous(x: np.ndarray, slope: np.ndarray, _: Cache) -> np.ndarray:
    """f(x) = x·f′(x) for relu and leaky_relu: one elementwise product (exact in integers)."""
    return np.asarray(x * slope)


def _times(grad_y: np.ndarray, slope: np.ndarray, _: Cache) -> np.ndarray:
    """∂L/∂x = ∂L/∂y ⊙ f′(x), elementwise."""
    return np.asarray(grad_y * slope)


# The entries of an elementwise op's cache that _SlopesOnDemand makes when first read.
_SLOPES = ("raw_slope", "slope", "tail")


class _SlopesOnDemand(dict):
    """The float64 cache of an op whose output ran compiled alone (a large relu): {"input": x},
    with "raw_slope", "slope" and "tail" (x's shape) made by ``remember`` when first read
    (``cache[key]`` or ``cache.get``).  A net's backward pass reads none of them (its compiled
    backward takes f′ off x), so the forward pass writes one array instead of two; the
    activation kind's trace reads them, and they are the values the rules give."""

    def __init__(self, x: np.ndarray, remember: Callable[[], Cache]) -> None:
        super().__init__(input=x)
        self._remember = remember

    def __missing__(self, key: str) -> Any:
        if key not in _SLOPES:
            raise KeyError(key)
        self.update(self._remember())
        return self[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self or key in _SLOPES else default


def elementwise_op(
    name: str,
    forward_rule: Rule,
    derivative: Rule,
    *,
    rational: bool,
    tail: Callable[[np.ndarray], np.ndarray] | None = None,
    fused_rule: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray] | None] | None = None,
    fused_output: Callable[[np.ndarray], np.ndarray | None] | None = None,
    fused_backward: Callable[[Any, np.ndarray], np.ndarray | None] | None = None,
) -> Op:
    """The op y = f(x) with params (the function's own, and ``subgradient``: f′(0) when a kink
    is given a chosen slope, else None).  Its cache holds ``input``, ``slope`` (f′(x), the
    subgradient applied), ``raw_slope`` (without it) and ``tail`` (bool: where f′ was taken
    in a form other than PyTorch's, because PyTorch's cancels; ``tail(x)`` says where).
    ``fused_rule(x)``, where given, is (f(x), f′(x)) from one pass, or None where it does not
    apply (then the two rules run).  Without a subgradient, ``fused_output(x)`` (f(x) alone,
    or None) comes first: the slopes are then made only if read (_SlopesOnDemand), and
    ``fused_backward(∂L/∂y, x)`` gives ∂L/∂y ⊙ f′(x) (or None: the product is taken)."""

    def remember(x: np.ndarray, params: Params, raw_slope: Any = None) -> Cache:
        if raw_slope is None:
            raw_slope = derivative(x, params)
        slope = raw_slope
        if params.get("subgradient") is not None:
            slope = np.where(x == 0, params["subgradient"], raw_slope)
        tail_form = np.zeros(np.shape(x), dtype=bool) if tail is None else tail(x)
        return {"input": x, "raw_slope": raw_slope, "slope": slope, "tail": tail_form}

    def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
        """x: any shape -> y = f(x), same shape."""
        if fused_output is not None and params.get("subgradient") is None:
            y = fused_output(x)
            if y is not None:
                return y, _SlopesOnDemand(x, lambda: remember(x, params))
        both = None if fused_rule is None else fused_rule(x)
        if both is not None:
            return both[0], remember(x, params, both[1])
        return forward_rule(x, params), remember(x, params)

    def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
        """grad_y: the input's shape -> {"input": ∂L/∂y ⊙ f′(x)}."""
        if fused_backward is not None and isinstance(cache, _SlopesOnDemand):
            grad_x = fused_backward(grad_y, cache["input"])
            if grad_x is not None:
                return {"input": grad_x}
        return {"input": grad_y * cache["slope"]}

    products = {}
    if rational:
        products = {
            "output": Product(_positively_homogeneous, ("input", "raw_slope"), lambda _: 1),
            "input": Product(_times, ("grad", "slope"), lambda _: 1),
        }
    return Op(
        name=name,
        exactness=Exactness.PIECEWISE if rational else Exactness.IRRATIONAL,
        forward=forward,
        backward=backward,
        products=products,
        remember=remember,
    )


ELEMENTWISE: dict[str, Op] = {
    "relu": elementwise_op(
        "relu",
        relu,
        relu_grad,
        rational=True,
        fused_rule=fused_relu,
        fused_output=relu_output,
        fused_backward=relu_backward,
    ),
    "leaky_relu": elementwise_op("leaky_relu", leaky_relu, leaky_relu_grad, rational=True),
    "sigmoid": elementwise_op(
        "sigmoid",
        sigmoid_rule,
        sigmoid_grad,
        rational=False,
        tail=lambda x: sigmoid_slope(x)[1],
    ),
    "tanh": elementwise_op(
        "tanh", tanh, tanh_grad, rational=False, tail=lambda x: tanh_slope(x)[1]
    ),
    "softplus": elementwise_op("softplus", softplus, softplus_grad, rational=False),
    "elu": elementwise_op("elu", elu, elu_grad, rational=False),
    "gelu": elementwise_op("gelu", gelu, gelu_grad, rational=False),
}


# ---------------------------------------------------------------------------
# Special functions, float64 and overflow-free (the loss ops use them too)


def sigmoid(values: np.ndarray) -> np.ndarray:
    """1/(1 + e^(−x)) without overflow: e^(−|x|) is never above 1."""
    values = np.asarray(values, dtype=float)
    small = np.exp(-np.abs(values))
    return np.where(values >= 0, 1 / (1 + small), small / (1 + small))


def erf(values: np.ndarray) -> np.ndarray:
    """The error function, elementwise, from math.erf.

    NumPy has no erf; ``frompyfunc`` runs math.erf from NumPy's C loop (about
    0.1 µs an entry) and is exact to the last bit, which no short polynomial is.
    """
    return np.asarray(_ERF(np.asarray(values, dtype=float)), dtype=float)


def erfc(values: np.ndarray) -> np.ndarray:
    """1 − erf(x), elementwise, from math.erfc: accurate where 1 − erf(x) cancels (x ≥ 6)."""
    return np.asarray(_ERFC(np.asarray(values, dtype=float)), dtype=float)


_ERF = np.frompyfunc(math.erf, 1, 1)
_ERFC = np.frompyfunc(math.erfc, 1, 1)
