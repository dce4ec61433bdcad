"""The catalog entries (core/kinds/catalog.py) of dropout and embedding (issue 16), kept
apart so that catalog.py stays within the module size limit; each is one OpEntry, its Field
table the only description of its keys."""

from __future__ import annotations

from gradcalc.core.kinds.entry import SYMBOL_FIELDS, OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.values import MAX_INDEX

DROPOUT = OpEntry(
    module="gradcalc.core.kinds.dropout",
    explain="gradcalc.core.explain.dropout",
    summary="Dropout (PyTorch nn.Dropout) with a given mask: y = x ⊙ m/(1 − p) in training.",
    description=(
        "Computes y = x ⊙ m/(1 − p) and ∂L/∂x = ∂L/∂y ⊙ m/(1 − p) (inverted dropout) for a "
        "given 0/1 mask, or one drawn with random: SEED (printed), and y = x with training: "
        "false; exact."
    ),
    sections=("problem", "forward", "backward"),
    examples=(
        "gradcalc dropout --spec problems/dropout_mask.yaml",
        "gradcalc dropout --spec problems/dropout_mask.yaml --format json",
        'gradcalc dropout --input "1 -2 3; 4 5 -6" --p 1/3 --random 0',
    ),
    fields=(
        Field(
            "input",
            "tensor",
            "any shape (a single number too)",
            example=[[1, -2, 3], [4, 5, -6]],
            required=True,
            dims=(0, 6),
            symbols=True,
        ),
        Field(
            "p",
            "number",
            "the probability that an entry is dropped, in [0, 1) (default 1/2)",
            example="1/4",
            starter=True,
            minimum=0,
        ),
        Field(
            "random",
            "integer",
            "a seed: draw the mask (keep where numpy default_rng(SEED).random(shape) ≥ p)",
            example=0,
            starter=True,
            minimum=0,
            maximum=MAX_INDEX,
        ),
        Field(
            "mask",
            "tensor",
            "0/1 in the input's shape, 1 keeps an entry (in training: mask or random; "
            "with both, the mask must be the one drawn)",
            # What random: 0 draws for p = 1/4 on 2×3.
            example=[[1, 1, 0], [0, 1, 1]],
            dims=(0, 6),
        ),
        Field(
            "training",
            "boolean",
            "true (default): y = x ⊙ m/(1 − p); false: y = x (evaluation)",
            example=True,
        ),
        *SYMBOL_FIELDS,
    ),
    example_upstream=[[1, 2, -1], [0, 1, 3]],
    names_example={"input": "x", "mask": "m", "output": "y"},
    upstream_symbols=True,
)

EMBEDDING = OpEntry(
    module="gradcalc.core.kinds.embedding",
    explain="gradcalc.core.explain.embedding",
    summary="Embedding lookup (PyTorch nn.Embedding): y = W[indices], ∂L/∂W accumulated.",
    description=(
        "Looks up the rows of a V×D table for integer indices of any shape and computes "
        "∂L/∂W, each row the sum of the upstream rows of the positions that looked it up "
        "(repeated indices accumulate; the padding_idx row stays 0); exact."
    ),
    sections=("problem", "forward", "backward"),
    examples=(
        "gradcalc embedding --spec problems/embedding_repeated_index.yaml",
        "gradcalc embedding --spec problems/embedding_repeated_index.yaml --show backward",
        'gradcalc embedding --indices "1 3 1" --weight "1 0; 2 -1; 0 3; 1 1"',
    ),
    fields=(
        Field(
            "indices",
            "tensor",
            "integers in [0, V), any shape S (a single one too): the rows to look up",
            example=[1, 3, 1],
            required=True,
            dims=(0, 5),
        ),
        Field(
            "weight",
            "tensor",
            "W: the V×D table, one row of D numbers per index",
            example=[[1, 0], [2, -1], [0, 3], ["1/2", 1]],
            required=True,
            dims=(2, 2),
            symbols=True,
        ),
        Field(
            "padding_idx",
            "integer",
            "a row whose gradient stays 0, in [−V, V − 1] (negative: from the end)",
            example=0,
            minimum=-MAX_INDEX,
            maximum=MAX_INDEX,
        ),
        *SYMBOL_FIELDS,
    ),
    example_upstream=[[1, -1], [2, 0], [0, 3]],
    names_example={"input": "idx", "weight": "W", "output": "y"},
    example_result="grad_weight",
    upstream_dims=(1, 6),
    upstream_symbols=True,
)
