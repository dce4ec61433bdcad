"""Ops: array code only, one module per op family.

Every op is a forward/backward pair with one signature (cs231n's ``layers.py``,
micrograd's ``_backward`` beside its forward):

- ``forward(x, params) -> (y, cache)``
- ``backward(grad_y, cache) -> {"input": ∂L/∂x, "kernel": ∂L/∂w, …}``

and a declared exactness, which says how :mod:`gradcalc.core.ops.adapter` (the
only place that decides between exact and float) evaluates it exactly:

- ``BILINEAR``: each result the op lists in ``products`` is (bi)linear in its
  operands, so it is evaluated on the operands scaled to integers
  (:mod:`gradcalc.core.exact`) and divided once; anything else the op does
  (adding, selecting) runs on the exact values themselves;
- ``PIECEWISE``: the op runs on the exact values (Fractions) as they are;
- ``IRRATIONAL``: always float64.

An op knows nothing of specs, names or text: arrays and hyper-parameters in,
arrays out.  Its module is imported by the kind that uses it, not from here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Params = Mapping[str, Any]
Cache = Mapping[str, Any]


class Exactness(enum.Enum):
    """How an op's results are computed exactly (see the module docstring)."""

    BILINEAR = "bilinear: exact by integer scaling"
    PIECEWISE = "piecewise: exact with Fractions"
    IRRATIONAL = "irrational: float64"


@dataclass(frozen=True)
class Product:
    """One result of a bilinear op, as a function of one or two arrays.

    ``evaluate(*operands, cache)`` computes it; ``operands`` name the arrays it
    multiplies: ``"grad"`` (∂L/∂y) or a key of the cache (forward: of the params,
    with ``"input"`` for x).  ``terms(cache)`` bounds how many products any entry
    of the result sums (it decides whether int64 cannot overflow).
    """

    evaluate: Callable[..., np.ndarray]
    operands: tuple[str, ...]
    terms: Callable[[Cache], int]


@dataclass(frozen=True)
class Op:
    """A forward/backward pair and how it is made exact.

    ``products`` (bilinear ops only) lists the results the adapter scales to
    integers, by name: ``"output"`` for y, else a key of ``backward``'s result,
    in the order they are computed.
    """

    name: str
    exactness: Exactness
    forward: Callable[[np.ndarray, Params], tuple[np.ndarray, Cache]]
    backward: Callable[[np.ndarray, Cache], dict[str, np.ndarray]]
    products: Mapping[str, Product] = field(default_factory=dict)
