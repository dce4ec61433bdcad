"""Flatten (PyTorch's ``torch.flatten(x, start_dim=1)`` / ``nn.Flatten``): N×d1×…×dk → N×(d1·…·dk).

A reshape moves no value and computes nothing, so it is exact on anything: Fractions go
through as they are (declared PIECEWISE with no products: the adapter runs ``forward`` and
``backward`` on the exact values themselves).  The backward pass reshapes ∂L/∂y back to
the input's shape.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params


def flatten_forward(x: np.ndarray) -> np.ndarray:
    """x: N×d1×…×dk (k ≥ 1) -> N×(d1·…·dk), row-major (C order, as PyTorch)."""
    return x.reshape(x.shape[0], -1)


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×… -> y: N×(prod); cache {"shape": x's shape}."""
    return flatten_forward(x), {"shape": x.shape}


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×(prod) -> {"input": grad_y reshaped to x's shape}."""
    return {"input": grad_y.reshape(cache["shape"])}


FLATTEN = Op(name="flatten", exactness=Exactness.PIECEWISE, forward=forward, backward=backward)
