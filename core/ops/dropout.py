"""Dropout (PyTorch's nn.Dropout, inverted scaling) with a given 0/1 mask.

In training y = x ⊙ m/(1 − p) and ∂L/∂x = ∂L/∂y ⊙ m/(1 − p); in evaluation y = x.  The
op takes ``keep`` = m/(1 − p) (the kind builds it: m ⊙ the scale, or ones in evaluation),
so both results are a product of two arrays of the input's shape: declared BILINEAR, the
adapter makes them exact by integer scaling.  Every array has the input's shape.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product


def dropout_forward(x: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """x, keep: any shape (the same) -> y = x ⊙ keep."""
    return x * keep


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: any shape, params ``keep``: x's shape -> y: x's shape; cache {"keep": keep}."""
    return dropout_forward(x, params["keep"]), {"input": x, "keep": params["keep"]}


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: the input's shape -> {"input": ∂L/∂y ⊙ keep}."""
    return {"input": grad_y * cache["keep"]}


DROPOUT = Op(
    name="dropout",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        # Each entry is one product: one term.
        "output": Product(lambda x, keep, _: x * keep, ("input", "keep"), lambda _: 1),
        "input": Product(lambda u, keep, _: u * keep, ("grad", "keep"), lambda _: 1),
    },
)
