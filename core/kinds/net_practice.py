"""The practice profile of kind net (``gradcalc random net``): a chain of 2–5 layers.

The seed (or ``--chain``) picks one of the chain shapes in :data:`CHAINS`; every entry of
the input and of every layer's weights, kernel and bias is then drawn from −2..2 (weights and
kernels never 0), and the
last layer's upstream as for every kind (``--upstream random|ones``).  The shapes are fixed
per chain so that the drawn problem stays small enough to work by hand; the layers are
dense (nn.Linear's out×in weight), conv (one 2×2 kernel), relu, max or average pool and
flatten, all rational, so the answers are exact.  A chain ends with an upstream, not a loss
(the profile's upstream knob applies to every variant, and a net takes one or the other).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant

# Each chain: (the input's shape, its layers). In a layer, a parameter given as a shape
# is drawn entry by entry; other keys are kept as written.
CHAINS: dict[str, tuple[tuple[int, ...], tuple[Any, ...]]] = {
    "dense_relu": ((1, 3), ({"type": "dense", "weight": (2, 3), "bias": (2,)}, "relu")),
    "mlp": (
        (1, 3),
        (
            {"type": "dense", "weight": (2, 3), "bias": (2,)},
            "relu",
            {"type": "dense", "weight": (2, 2), "bias": (2,)},
        ),
    ),
    "mlp5": (
        (1, 2),
        (
            {"type": "dense", "weight": (3, 2), "bias": (3,)},
            "relu",
            {"type": "dense", "weight": (2, 3), "bias": (2,)},
            "relu",
            {"type": "dense", "weight": (1, 2), "bias": (1,)},
        ),
    ),
    "conv_maxpool": (
        (1, 1, 3, 3),
        (
            {"type": "conv", "kernel": (1, 1, 2, 2), "bias": (1,)},
            "relu",
            {"type": "pool", "mode": "max", "size": 2},
            "flatten",
            {"type": "dense", "weight": (2, 1), "bias": (2,)},
        ),
    ),
    "conv_avgpool": (
        (1, 1, 4, 4),
        (
            {"type": "conv", "kernel": (1, 1, 2, 2), "bias": (1,)},
            "relu",
            {"type": "pool", "mode": "avg", "size": 2, "stride": 1},
            "flatten",
        ),
    ),
}

PARAMETERS = ("weight", "kernel", "bias")
# Weights and kernels are never 0 (a zero weight only hides a term); biases and inputs may be.
ENTRY = Draw(-2, 2)
WEIGHT = Draw(-2, 2, nonzero=True)

CHAIN = Knob(
    "chain",
    "choice",
    "the chain's layers: dense_relu (dense → relu), mlp (dense → relu → dense), mlp5 "
    "(dense → relu → dense → relu → dense), conv_maxpool (conv → relu → max pool → flatten "
    "→ dense), conv_avgpool (conv → relu → avg pool → flatten); default: by the seed",
    choices=tuple(CHAINS),
    menu=tuple(CHAINS),
    label="{}",
)


def _placeholders(prefix: str, shape: tuple[int, ...]) -> Any:
    """Nested lists of ``{prefix_k}`` texts, one per entry (k the flat index), ``shape``."""
    names = np.array([f"{{{prefix}_{k}}}" for k in range(int(np.prod(shape)))], dtype=object)
    return names.reshape(shape).tolist()


def _variant(chain: str) -> Variant:
    """The chain's variant: its layers with one drawn coefficient per parameter entry."""
    input_shape, layers = CHAINS[chain]
    written: list[Any] = []
    draws: dict[str, Draw] = {}
    for position, layer in enumerate(layers, start=1):
        if isinstance(layer, str):
            written.append(layer)
            continue
        keys: dict[str, Any] = {}
        for key, value in layer.items():
            if key not in PARAMETERS:
                keys[key] = value
                continue
            prefix = f"l{position}{key[0]}"
            keys[key] = _placeholders(prefix, value)
            draw = ENTRY if key == "bias" else WEIGHT
            draws.update({f"{prefix}_{k}": draw for k in range(int(np.prod(value)))})
        written.append(keys)
    draws["input"] = ENTRY
    return Variant((), {"input": input_shape}, draws, fixed={"layers": written})


PRACTICE = Profile({chain: _variant(chain) for chain in CHAINS}, by=CHAIN)
