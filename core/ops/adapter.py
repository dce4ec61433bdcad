"""The one place that decides how an op is evaluated: exactly or in float64.

``forward(op, x, params, exact=…)`` runs an op and returns its output and a
:class:`Trace`; ``backward(grad_y, trace)`` runs the op's backward rule with what
the trace remembers.  With ``exact=False``, or for an op declared irrational, every
array is converted to float64 and the op runs as written.  With ``exact=True``:

- the products an op declares are evaluated on their operands scaled to integers
  (:func:`gradcalc.core.exact.bilinear_exact`, or ``linear_exact`` for a product of
  one operand), at NumPy speed;
- a homogeneous op (max, avg pooling) runs on its input's and ∂L/∂y's numerators
  and is divided once;
- everything else (an addition, a branch, a mask) runs on the exact values (object
  arrays of ints and Fractions).

Exact values are object arrays of Python ints and Fractions, as the kinds read them.

A symbolic run (core/symbolic.py) is one more exact mode: when an operand holds a SymPy
formula the op runs as written on the object arrays (their + and * are SymPy's), and each
result entry is expanded (``symbolic.tidy``; numbers come back as ints and Fractions).
Whether an operand is symbolic costs nothing while SymPy was never imported.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.exact import bilinear_exact, from_integers, integers, linear_exact
from gradcalc.core.float_source import each_float
from gradcalc.core.ops import Cache, Exactness, Op, Params, Product
from gradcalc.core.records import record
from gradcalc.core.values import holds_formulas, to_float

Float64 = Callable[[np.ndarray], np.ndarray]

# Float64 entries from which an op's arrays are worth having malloc keep freed memory (512 KiB,
# core/memory.py): smaller problems never import core/memory.py, nor ctypes (start-up time).
LARGE_ENTRIES = 1 << 16


@record
class Trace:
    """What ``backward`` needs from a forward pass: the op, its cache, and how it ran
    (``float64``: how exact values were converted when it ran in float)."""

    op: Op
    cache: Cache
    exact: bool
    float64: Float64
    symbolic: bool = False

    def __init__(
        self, op: Op, cache: Cache, exact: bool, float64: Float64, symbolic: bool = False
    ) -> None:
        # A plain __init__, which @record keeps: every op run makes one (25 a net solve).
        self.op, self.cache, self.exact = op, cache, exact
        self.float64, self.symbolic = float64, symbolic


def each_rounded(values: np.ndarray) -> np.ndarray:
    """float64 by rounding each exact value once (``Fraction.__float__``); the other
    converter, ``to_float``, divides numerators over one common denominator.  Values a
    net read from float64 ones (core/values.py float_source) give those back."""
    return each_float(values)


def as_run(values: np.ndarray, trace: Trace) -> np.ndarray:
    """``values`` as the traced op saw them: exact, or converted to float64 as it was."""
    return values if trace.exact else as_float(values, trace.float64)


def runs_exactly(op: Op, exact: bool) -> bool:
    """Whether ``op`` is evaluated exactly when the caller asks for ``exact``."""
    return exact and op.exactness is not Exactness.IRRATIONAL


def as_float(value: Any, float64: Float64 = to_float) -> Any:
    """Exact values (an object array, a Fraction) as float64; anything else (float or integer
    arrays such as divisors, records, flags) as given."""
    if isinstance(value, np.ndarray) and value.dtype == object:
        return float64(value)
    if isinstance(value, Fraction):
        return float(value)
    return value


def forward(
    op: Op, x: np.ndarray, params: Params, *, exact: bool, float64: Float64 = to_float
) -> tuple[np.ndarray, Trace]:
    """y = op(x, params), exactly or in float64; the trace is for :func:`backward`.

    ``float64`` converts exact arrays when the op runs in float: ``to_float`` (one common
    denominator) or ``astype(float)`` (each Fraction rounded once), as the kind has always
    converted them.
    """
    if not runs_exactly(op, exact):
        x = as_float(x, float64)
        if np.size(x) >= LARGE_ENTRIES:  # its arrays should reuse freed memory
            from gradcalc.core.memory import keep_freed_memory  # here: large problems only

            keep_freed_memory()
        y, cache = op.forward(x, {key: as_float(v, float64) for key, v in params.items()})
        return y, Trace(op=op, cache=cache, exact=False, float64=float64)
    if holds_formulas(x, *params.values()):
        from gradcalc.core import symbolic

        y, cache = symbolic.evaluate(_with_params(op.forward, params), x, *params.values())
        if op.homogeneous:  # it gave numerators (pooling's weights are integers)
            y = symbolic.tidy(y * Fraction(1, cache["y_denominator"]))
        return y, Trace(op=op, cache=cache, exact=True, float64=float64, symbolic=True)
    if op.exact_forward is not None:
        y, cache = op.exact_forward(x, params)
        return y, Trace(op=op, cache=cache, exact=True, float64=float64)
    if op.homogeneous:
        numerators, denominator = integers(x)
        y, cache = op.forward(numerators, params)
        y = from_integers(y, denominator * cache["y_denominator"])
        return y, Trace(op=op, cache=cache, exact=True, float64=float64)
    product = op.products.get("output")
    if product is None:
        y, cache = op.forward(x, params)
    else:
        cache = op.remember(x, params) if op.remember else {"input": x, **params}
        y = _exact_product(product, cache, None)
    return y, Trace(op=op, cache=cache, exact=True, float64=float64)


def forward_float(op: Op, x: np.ndarray, params: Params, float64: Float64 = to_float) -> Any:
    """y = op(x, params) in float64, as ``forward(…, exact=False)`` computes it, without
    a trace (no backward follows: finite differences)."""
    y, _ = op.forward(
        as_float(x, float64), {key: as_float(v, float64) for key, v in params.items()}
    )
    return y


def backward(grad_y: np.ndarray, trace: Trace) -> dict[str, np.ndarray]:
    """The op's gradients {"input": …, "kernel": …} given ∂L/∂y, computed as the forward ran."""
    op = trace.op
    if not trace.exact:
        return op.backward(as_float(grad_y, trace.float64), trace.cache)
    if trace.symbolic or holds_formulas(grad_y):
        from gradcalc.core import symbolic

        cache = trace.cache
        grads = symbolic.evaluate(_with_params(op.backward, cache), grad_y, *cache.values())
        if op.homogeneous:
            grads = {name: grad * Fraction(1, cache["denominator"]) for name, grad in grads.items()}
        return {name: symbolic.tidy(np.asarray(grad, dtype=object)) for name, grad in grads.items()}
    if op.homogeneous:
        numerators, denominator = integers(grad_y)
        scale = denominator * trace.cache["denominator"]
        return {
            name: from_integers(grad, scale)
            for name, grad in op.backward(numerators, trace.cache).items()
        }
    gradients = {name: product for name, product in op.products.items() if name != "output"}
    if not gradients:
        return op.backward(grad_y, trace.cache)
    return {
        name: _exact_product(product, trace.cache, grad_y) for name, product in gradients.items()
    }


def _with_params(function: Callable[..., Any], params: Mapping[str, Any]) -> Callable[..., Any]:
    """``function(array, params)`` as a function of the array and the values of ``params``
    in their order (what symbolic.evaluate passes on, converted)."""
    keys = list(params)

    def positional(array: Any, *values: Any) -> Any:
        return function(array, dict(zip(keys, values, strict=True)))

    return positional


def _exact_product(product: Product, cache: Mapping[str, Any], grad_y: np.ndarray | None) -> Any:
    operands = [grad_y if name == "grad" else cache[name] for name in product.operands]
    terms = product.terms(cache)
    if len(operands) == 1:
        return linear_exact(lambda a: product.evaluate(a, cache), operands[0], terms)
    left, right = operands
    work = product.work(cache) if product.work is not None else None
    return bilinear_exact(lambda a, b: product.evaluate(a, b, cache), left, right, terms, work)
