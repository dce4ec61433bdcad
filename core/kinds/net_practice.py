"""The practice profile of kind net (``gradcalc random net``): a chain of 2–5 layers and,
on most seeds, a loss.

The seed (or ``--chain``) picks one of the chain shapes in :data:`CHAINS`; every entry of
the input and of every layer's weights, kernel and bias is then drawn from −2..2 (weights and
kernels never 0).  The shapes are fixed per chain so that the drawn problem stays small
enough to work by hand; the layers are dense (nn.Linear's out×in weight), conv (one 2×2
kernel), relu, max or average pool and flatten, all rational.  The seed (or ``--loss``)
then ends the chain with a mean squared error against a drawn target (exact: every answer a
small fraction), a softmax cross-entropy against drawn classes (irrational: answers written
as decimals), or no loss: then the last layer's upstream as for every kind (``--upstream
random|ones``).  Every convention the answers depend on is written out: each relu's
``subgradient_at_zero``, each max pool's ``ties``, each conv's ``flip_kernel``, each dense
layer's ``layout`` and the loss's ``reduction``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant

# relu with PyTorch's relu′(0) = 0 written out (courses differ at the kink).
RELU = {"type": "activation", "function": "relu", "subgradient_at_zero": 0}
CONV = {"type": "conv", "kernel": (1, 1, 2, 2), "bias": (1,), "flip_kernel": False}


def _dense(outputs: int, inputs: int) -> dict[str, Any]:
    """A dense layer of nn.Linear's out×in weight, batches as rows (layout: row)."""
    return {"type": "dense", "weight": (outputs, inputs), "bias": (outputs,), "layout": "row"}


# Each chain: (the input's shape, its layers, the shape of its output).  In a layer, a
# parameter given as a shape is drawn entry by entry; other keys are kept as written.
CHAINS: dict[str, tuple[tuple[int, ...], tuple[Any, ...], tuple[int, ...]]] = {
    "dense_relu": ((1, 3), (_dense(2, 3), RELU), (1, 2)),
    "mlp": ((1, 3), (_dense(2, 3), RELU, _dense(2, 2)), (1, 2)),
    "mlp5": ((1, 2), (_dense(3, 2), RELU, _dense(2, 3), RELU, _dense(2, 2)), (1, 2)),
    "conv_maxpool": (
        (1, 1, 3, 3),
        (
            CONV,
            RELU,
            {"type": "pool", "mode": "max", "size": 2, "ties": "first"},
            "flatten",
            _dense(2, 1),
        ),
        (1, 2),
    ),
    "conv_avgpool": (
        (1, 1, 4, 4),
        (CONV, RELU, {"type": "pool", "mode": "avg", "size": 2, "stride": 1}, "flatten"),
        (1, 4),
    ),
}

# A chain's natural denominator, where it is above core/practice's usual 12: the mean squared
# error over conv_avgpool's 4 outputs gives ∂L/∂y = (y − t)/2 with y in quarters (eighths),
# and the average pool's backward quarters them again (32nds).
DENOMINATORS = {"conv_avgpool": (32,)}

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


LOSS = Knob(
    "loss",
    "choice",
    "the chain's end: mse (against a drawn target; exact answers), cross_entropy (against "
    "drawn classes; answers as decimals) or none (the last layer's upstream, --upstream); "
    "default: by the seed, a loss on three seeds in four",
    choices=("mse", "cross_entropy", "none"),
    menu=("mse", "mse", "cross_entropy", "none"),
)


def _placeholders(prefix: str, shape: tuple[int, ...]) -> Any:
    """Nested lists of ``{prefix_k}`` texts, one per entry (k the flat index), ``shape``."""
    names = np.array([f"{{{prefix}_{k}}}" for k in range(int(np.prod(shape)))], dtype=object)
    return names.reshape(shape).tolist()


def _variant(chain: str) -> Variant:
    """The chain's variant: its layers with one drawn coefficient per parameter entry."""
    input_shape, layers, output_shape = CHAINS[chain]
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
    # Both losses' targets are drawn (under loss); _end keeps the one --loss names, or none.
    classes = Draw(0, output_shape[-1] - 1)
    draws.update({f"t_{k}": ENTRY for k in range(int(np.prod(output_shape)))})
    draws.update({f"c_{k}": classes for k in range(output_shape[0])})
    targets = {
        "mse": _placeholders("t", output_shape),
        "cross_entropy": [f"{{c_{k}}}" for k in range(output_shape[0])],
    }
    fixed = {"layers": written, "loss": targets}
    # Cross-entropy's answers are irrational: written as decimals (core/practice).
    return Variant(
        (LOSS,),
        {"input": input_shape},
        draws,
        fixed=fixed,
        decimals=True,
        denominator_from=DENOMINATORS.get(chain, ()),
        adjust=_end,
    )


def _end(fields: dict[str, Any], values: Any) -> dict[str, Any]:
    """The chain's end: the loss --loss names, with its target and reduction written out;
    none: the upstream (core/practice adds it as for every kind)."""
    targets = fields.pop("loss")  # each loss's drawn target
    if values["loss"] != "none":
        loss = values["loss"]
        fields["loss"] = {"type": loss, "target": targets[loss], "reduction": "mean"}
    return fields


PRACTICE = Profile({chain: _variant(chain) for chain in CHAINS}, by=CHAIN)
