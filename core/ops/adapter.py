"""The one place that decides how an op is evaluated: exactly or in float64.

``forward(op, x, params, exact=…)`` runs an op and returns its output and a
:class:`Trace`; ``backward(grad_y, trace)`` runs the op's backward rule with what
the trace remembers.  With ``exact=False``, or for an op declared irrational, every
array is converted to float64 and the op runs as written.  With ``exact=True``:

- a bilinear op's declared products are evaluated on their operands scaled to
  integers (:func:`gradcalc.core.exact.bilinear_exact`, or ``linear_exact`` for a
  product of one operand), at NumPy speed; its forward, when it is no product
  (an addition), runs on the exact values;
- a piecewise op runs on the exact values (object arrays of ints and Fractions).

Exact values are object arrays of Python ints and Fractions, as the kinds read them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core.exact import bilinear_exact, linear_exact
from gradcalc.core.ops import Cache, Exactness, Op, Params, Product
from gradcalc.core.records import record
from gradcalc.core.values import to_float


@record
class Trace:
    """What ``backward`` needs from a forward pass: the op, its cache, and how it ran."""

    op: Op
    cache: Cache
    exact: bool


def runs_exactly(op: Op, exact: bool) -> bool:
    """Whether ``op`` is evaluated exactly when the caller asks for ``exact``."""
    return exact and op.exactness is not Exactness.IRRATIONAL


def as_float(value: Any) -> Any:
    """An array as float64 (exact values converted; float arrays unchanged); other values as given."""
    if isinstance(value, np.ndarray) and value.dtype != float:
        return to_float(value)
    return value


def forward(op: Op, x: np.ndarray, params: Params, *, exact: bool) -> tuple[np.ndarray, Trace]:
    """y = op(x, params), exactly or in float64; the trace is for :func:`backward`."""
    if not runs_exactly(op, exact):
        y, cache = op.forward(as_float(x), {key: as_float(v) for key, v in params.items()})
        return y, Trace(op=op, cache=cache, exact=False)
    product = op.products.get("output")
    if op.exactness is Exactness.BILINEAR and product is not None:
        cache = {"input": x, **params}  # a bilinear op's cache is its operands
        return _exact_product(product, cache, None), Trace(op=op, cache=cache, exact=True)
    y, cache = op.forward(x, params)
    return y, Trace(op=op, cache=cache, exact=True)


def backward(grad_y: np.ndarray, trace: Trace) -> dict[str, np.ndarray]:
    """The op's gradients {"input": …, "kernel": …} given ∂L/∂y, computed as the forward ran."""
    op = trace.op
    if not trace.exact:
        return op.backward(as_float(grad_y), trace.cache)
    if op.exactness is Exactness.BILINEAR:
        return {
            name: _exact_product(product, trace.cache, grad_y)
            for name, product in op.products.items()
            if name != "output"
        }
    return op.backward(grad_y, trace.cache)


def _exact_product(product: Product, cache: Mapping[str, Any], grad_y: np.ndarray | None) -> Any:
    operands = [grad_y if name == "grad" else cache[name] for name in product.operands]
    terms = product.terms(cache)
    if len(operands) == 1:
        return linear_exact(lambda a: product.evaluate(a, cache), operands[0], terms)
    left, right = operands
    return bilinear_exact(lambda a, b: product.evaluate(a, b, cache), left, right, terms)
