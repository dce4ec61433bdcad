"""Ops: array code only, one module per op family.

Every op is a forward/backward pair with one signature (cs231n's ``layers.py``,
micrograd's ``_backward`` beside its forward):

- ``forward(x, params) -> (y, cache)``
- ``backward(grad_y, cache) -> {"input": ∂L/∂x, "kernel": ∂L/∂w, …}``

and a declared exactness, which says how :mod:`gradcalc.core.ops.adapter` (the
only place that decides between exact and float) evaluates it exactly:

- ``BILINEAR``: every result is a product of two arrays (or a sum of one), exact by
  integer scaling: the operands are scaled to integers (:mod:`gradcalc.core.exact`),
  the same array code runs on them, and the result is divided once;
- ``PIECEWISE``: the pieces (which branch, which slope, which maximum) are decided
  on exact values: relu's slope on the Fractions, with the products that follow
  scaled to integers as above; max and avg pooling (``homogeneous``) wholly on
  integers; nll on the Fractions themselves; mse by its own integer arithmetic
  (``exact_forward``);
- ``IRRATIONAL``: always float64 (exp, log, erf).

:class:`Op` declares which of these ways an op takes; the adapter follows it.

An op knows nothing of specs, names or text: arrays and hyper-parameters in,
arrays out.  Its module is imported by the kind that uses it, not from here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

import numpy as np

from gradcalc.core.records import record

Params = Mapping[str, Any]
Cache = Mapping[str, Any]


class Exactness(enum.Enum):
    """How an op's results are computed exactly (see the module docstring)."""

    BILINEAR = "bilinear: exact by integer scaling"
    PIECEWISE = "piecewise: exact with Fractions"
    IRRATIONAL = "irrational: float64"


@record(frozen=True)
class Product:
    """One result of a bilinear op, as a function of one or two arrays.

    ``evaluate(*operands, cache)`` computes it; ``operands`` name the arrays it
    multiplies: ``"grad"`` (∂L/∂y) or a key of the cache (forward: of the params,
    with ``"input"`` for x).  ``terms(cache)`` bounds how many products any entry
    of the result sums (it decides whether int64 cannot overflow); ``work(cache)``,
    when given, is the multiply-adds it makes, for the cost cap of Python ints
    (default: the larger operand's size times ``terms``).
    """

    evaluate: Callable[..., np.ndarray]
    operands: tuple[str, ...]
    terms: Callable[[Cache], int]
    work: Callable[[Cache], int] | None = None


@record(frozen=True)
class Op:
    """A forward/backward pair and how it is made exact.

    ``products`` lists the results the adapter evaluates exactly by integer
    scaling, by name: ``"output"`` for y, else the keys of ``backward``'s result,
    in the order they are computed (when an op lists gradients, they replace its
    whole backward in exact runs).  When ``"output"`` is a product, the exact
    forward builds the cache with ``remember(x, params)`` (default
    ``{"input": x, **params}``) instead of running ``forward``: piecewise parts
    such as a slope or a mask are computed there, on the exact values.

    A ``homogeneous`` op (max and avg pooling: positively homogeneous in x, linear in
    ∂L/∂y) runs exactly on integers instead: forward on x's numerators, backward on
    ∂L/∂y's, returning numerators over ``cache["y_denominator"]`` and
    ``cache["denominator"]``; the adapter divides once.

    ``exact_forward`` is an op's own exact arithmetic when neither fits (mse scales x and
    the target by their own denominators); the adapter calls it instead of ``forward``
    when it runs the op exactly, and ``backward`` then runs on its cache.
    """

    name: str
    exactness: Exactness
    forward: Callable[[np.ndarray, Params], tuple[np.ndarray, Cache]]
    backward: Callable[[np.ndarray, Cache], dict[str, np.ndarray]]
    products: Mapping[str, Product] = field(default_factory=dict)
    remember: Callable[[np.ndarray, Params], Cache] | None = None
    homogeneous: bool = False
    exact_forward: Callable[[np.ndarray, Params], tuple[np.ndarray, Cache]] | None = None
