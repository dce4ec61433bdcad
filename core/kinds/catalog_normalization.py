"""The catalog entries (core/kinds/catalog.py) of the normalization kinds: batchnorm, layernorm
and groupnorm (BATCHNORM, LAYERNORM, GROUPNORM: catalog.py's OPS looks each up by its kind's
name, in capitals), kept here so that the catalog stays readable.
"""

from __future__ import annotations

from gradcalc.core.kinds.entry import OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.values import MAX_INDEX

# The keys the three kinds share: eps, and γ and β (each kind says over what they run).
EPS = Field(
    "eps",
    "number",
    "added to σ² before the square root (default 1e-5)",
    example="1e-5",
    starter=True,
    above=0,
)


def _affine(
    where: str, dims: tuple[int, int], examples: tuple[list, list] = ([1, 2], [0, 1])
) -> tuple[Field, Field]:
    """γ (``weight``) and β (``bias``): ``where`` says their shape ("one per channel")."""
    gamma, beta = examples
    return (
        Field(
            "weight", "tensor", f"γ: {where} (default ones)", example=gamma, starter=True, dims=dims
        ),
        Field(
            "bias", "tensor", f"β: {where} (default zeros)", example=beta, starter=True, dims=dims
        ),
    )


BATCHNORM = OpEntry(
    module="gradcalc.core.kinds.batchnorm",
    explain="gradcalc.core.explain.batchnorm",
    summary="Batch normalization (PyTorch BatchNorm1d on N×D, BatchNorm2d on N×C×H×W).",
    description=(
        "Normalizes each feature over the batch (mean, biased variance, σ = √(σ² + eps)), "
        "applies γx̂ + β, updates the running statistics (training) or uses them (training: "
        "false), and explains the backward pass node by node and in its compact form."
    ),
    sections=("problem", "forward", "backward", "compact", "running"),
    examples=(
        "gradcalc batchnorm --spec problems/batchnorm_training_step.yaml",
        "gradcalc batchnorm --spec problems/batchnorm_training_step.yaml --show backward",
    ),
    fields=(
        Field(
            "input",
            "tensor",
            "N×D (BatchNorm1d) or N×C×H×W (BatchNorm2d)",
            example=[[1, 2], [3, 6]],
            required=True,
            dims=(2, 4),
        ),
        *_affine("one per feature", (1, 1)),
        Field("affine", "boolean", "false: no γ and β", example=True),
        EPS,
        Field(
            "training",
            "boolean",
            "true: batch statistics; false: the running ones",
            example=True,
            starter=True,
        ),
        Field(
            "momentum",
            "number",
            "running-statistics update rate (default 0.1)",
            example="0.1",
            minimum=0,
            maximum=1,
        ),
        Field(
            "running_mean",
            "tensor",
            "one per feature (default zeros)",
            example=[0, 0],
            dims=(1, 1),
        ),
        Field(
            "running_var",
            "tensor",
            "one per feature (default ones)",
            example=[1, 1],
            dims=(1, 1),
        ),
    ),
    example_upstream=[[1, 0], [0, 1]],
    names_example={"input": "x", "weight": "γ", "bias": "β", "output": "y"},
    upstream_dims=(2, 4),
)

LAYERNORM = OpEntry(
    module="gradcalc.core.kinds.layernorm",
    explain="gradcalc.core.explain.layernorm",
    summary="Layer normalization (PyTorch LayerNorm) over the last axes.",
    description=(
        "Normalizes each sample (each leading entry) over the axes of normalized_shape "
        "(mean, biased variance, σ = √(σ² + eps)), applies γx̂ + β per normalized entry, and "
        "explains the backward pass node by node and in its compact form."
    ),
    sections=("problem", "forward", "backward", "compact"),
    examples=(
        "gradcalc layernorm --spec problems/layernorm_last_axis.yaml",
        "gradcalc layernorm --spec problems/layernorm_last_axis.yaml --show compact",
    ),
    fields=(
        Field(
            "input",
            "tensor",
            "any shape ending in normalized_shape, e.g. N×D",
            example=[[1, 3], [2, 0]],
            required=True,
            dims=(1, 6),
        ),
        Field(
            "normalized_shape",
            "ints",
            "the last axes' sizes, int or list (default: the last axis)",
            example=2,
            starter=True,
            minimum=1,
            maximum=MAX_INDEX,
            lengths=(1, 2, 3, 4, 5, 6),
        ),
        *_affine("normalized_shape", (1, 6)),
        Field("elementwise_affine", "boolean", "false: no γ and β", example=True),
        EPS,
    ),
    example_upstream=[[1, 0], [0, 1]],
    names_example={"input": "x", "weight": "γ", "bias": "β", "output": "y"},
    upstream_dims=(1, 6),
)

GROUPNORM = OpEntry(
    module="gradcalc.core.kinds.groupnorm",
    explain="gradcalc.core.explain.groupnorm",
    summary="Group normalization (PyTorch GroupNorm) over groups of channels.",
    description=(
        "Splits the C channels into num_groups groups, normalizes each sample's group "
        "(mean, biased variance, σ = √(σ² + eps)), applies γx̂ + β per channel, and "
        "explains the backward pass node by node and in its compact form."
    ),
    sections=("problem", "forward", "backward", "compact"),
    examples=(
        "gradcalc groupnorm --spec problems/groupnorm_channels.yaml",
        'gradcalc groupnorm --input "1 3 2 0; 0 2 4 2" --num-groups 2 --eps 3',
    ),
    fields=(
        Field(
            "input",
            "tensor",
            "N×C or N×C×… (e.g. N×C×H×W)",
            example=[[1, 3, 2, 0], [0, 2, 4, 2]],
            required=True,
            dims=(2, 6),
        ),
        Field(
            "num_groups",
            "integer",
            "groups G; must divide C",
            example=2,
            required=True,
            minimum=1,
            maximum=MAX_INDEX,
        ),
        *_affine("one per channel", (1, 1), ([1, 2, 1, 1], [0, 1, 0, 0])),
        Field("affine", "boolean", "false: no γ and β", example=True),
        EPS,
    ),
    example_upstream=[[1, 0, 2, 1], [0, 1, -1, 1]],
    names_example={"input": "x", "weight": "γ", "bias": "β", "output": "y"},
    upstream_dims=(2, 6),
)
