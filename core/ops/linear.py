"""The fully connected op (PyTorch's nn.Linear without its bias) and the bias add of a row batch.

Arrays are batches of rows: input ``x`` N×L, weight ``w`` O×L, output ``y`` N×O,
y = x·Wᵀ.  The three matrix products run on float64, int64 and object (Python int)
arrays alike; the adapter (:mod:`gradcalc.core.ops.adapter`) makes them exact by
running them on integers.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.ops import Cache, Exactness, Op, Params, Product


def linear_forward(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x: N×L, w: O×L -> N×O, y = x·Wᵀ (no bias)."""
    return x @ w.T


def linear_grad_weight(upstream: np.ndarray, x: np.ndarray) -> np.ndarray:
    """upstream: N×O, x: N×L -> O×L, ∂L/∂W = (∂L/∂y)ᵀ·x (summed over the batch)."""
    return upstream.T @ x


def linear_grad_input(upstream: np.ndarray, w: np.ndarray) -> np.ndarray:
    """upstream: N×O, w: O×L -> N×L, ∂L/∂x = (∂L/∂y)·W."""
    return upstream @ w


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×L, params ``weight``: O×L -> y: N×O; cache {"input": x, "weight": w}."""
    return linear_forward(x, params["weight"]), {"input": x, **params}


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×O -> {"weight": O×L, "input": N×L}."""
    return {
        "weight": linear_grad_weight(grad_y, cache["input"]),
        "input": linear_grad_input(grad_y, cache["weight"]),
    }


def _work(cache: Cache) -> int:
    """N·L·O multiply-adds: samples × in features × out features."""
    return cache["input"].shape[0] * cache["weight"].size


LINEAR = Op(
    name="linear",
    exactness=Exactness.BILINEAR,
    forward=forward,
    backward=backward,
    products={
        # Terms each entry sums: L features, N samples, O outputs; each product makes
        # N·L·O multiply-adds.
        "output": Product(
            lambda x, w, _: linear_forward(x, w),
            ("input", "weight"),
            lambda c: c["weight"].shape[1],
            _work,
        ),
        "weight": Product(
            lambda u, x, _: linear_grad_weight(u, x),
            ("grad", "input"),
            lambda c: c["input"].shape[0],
            _work,
        ),
        "input": Product(
            lambda u, w, _: linear_grad_input(u, w),
            ("grad", "weight"),
            lambda c: c["weight"].shape[0],
            _work,
        ),
    },
)


def bias_forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: N×O, params ``bias``: O -> y = x + b: N×O; cache {"samples": N}."""
    return x + params["bias"], {"samples": x.shape[0]}


def bias_backward(grad_y: np.ndarray, cache: Cache) -> dict[str, np.ndarray]:
    """grad_y: N×O -> {"bias": O (summed over the batch), "input": N×O (grad_y itself)}."""
    return {"bias": grad_y.sum(axis=0), "input": grad_y}


BIAS_ADD = Op(
    name="bias_add_rows",
    exactness=Exactness.BILINEAR,  # linear: its gradients are sums of ∂L/∂y, scaled to integers
    forward=bias_forward,
    backward=bias_backward,
    products={
        "bias": Product(lambda u, _: u.sum(axis=0), ("grad",), lambda c: c["samples"]),
        "input": Product(lambda u, _: u, ("grad",), lambda c: 1),
    },
)
