"""The catalog entry (core/kinds/catalog.py) of attention (issue 17), kept apart so that
catalog.py stays within the module size limit; one OpEntry, its Field table the only
description of its keys."""

from __future__ import annotations

from gradcalc.core.kinds.entry import OpEntry
from gradcalc.core.kinds.field import Field

ATTENTION = OpEntry(
    module="gradcalc.core.kinds.attention",
    explain="gradcalc.core.explain.attention",
    summary=(
        "Scaled dot-product attention (PyTorch F.scaled_dot_product_attention): "
        "softmax(Q·Kᵀ·scale + mask)·V."
    ),
    description=(
        "Computes the score table Q·Kᵀ·scale (+ an additive mask), its softmax rows over the "
        "keys a boolean mask or causal: true allows, the weighted sums of the values, and "
        "∂L/∂Q, ∂L/∂K, ∂L/∂V back through each softmax row's Jacobian diag(p) − p·pᵀ; "
        "float64 (exp)."
    ),
    sections=("problem", "scores", "weights", "forward", "backward"),
    examples=(
        "gradcalc attention --spec problems/attention_causal_2x2.yaml",
        "gradcalc attention --spec problems/attention_causal_2x2.yaml --show backward",
        'gradcalc attention --query "1 0; 0 1" --key "1 0; 0 1" --value "1 2; 3 4" --causal true',
    ),
    fields=(
        Field(
            "query",
            "tensor",
            "Q: L×E (L queries of E numbers), or with one or two leading batch/head axes",
            example=[[1, 0], [0, 1]],
            required=True,
            dims=(2, 4),
        ),
        Field(
            "key",
            "tensor",
            "K: S×E (S keys), with the query's leading axes",
            example=[[1, 0], [1, 1]],
            required=True,
            dims=(2, 4),
        ),
        Field(
            "value",
            "tensor",
            "V: S×Ev (one row per key), with the query's leading axes",
            example=[[1, 2], [3, -1]],
            required=True,
            dims=(2, 4),
        ),
        Field(
            "mask",
            "tensor|booleans",
            "broadcast to …×L×S: true/false (true = may attend, as PyTorch's attn_mask) or "
            "numbers added to the scores",
            example=[[True, False], [True, True]],
            dims=(1, 4),
        ),
        Field(
            "causal",
            "boolean",
            "true: query i attends keys j ≤ i (PyTorch's is_causal, top-left aligned)",
            example=True,
        ),
        Field(
            "scale",
            "number",
            "multiplies Q·Kᵀ (default 1/√E)",
            example="1/2",
        ),
    ),
    example_upstream=[[1, 0], [0, 1]],
    names_example={"query": "Q", "key": "K", "value": "V", "output": "Y"},
    example_result="grad_query",
    upstream_dims=(2, 4),
)
