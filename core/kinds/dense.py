"""How a dense spec is read into a DenseProblem (``read(spec, limits)``), its usual mistakes
(``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile (``PRACTICE``).

A dense problem is one fully connected layer (PyTorch's nn.Linear): input ``x`` (L or
N×L), weight ``W`` (O×L), an optional bias ``b`` (O) and the layout its explanation
writes vectors in.  What the keys are is the registry's Field table for kind dense (the
only description of them: KEYS and LAYOUTS are read from it).  The table stays in
core/registry.py for now: every command builds its options from it at start-up, when no
module named after a kind may be imported (tests/test_inline_cli.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.fields import read_array, read_choice, shape_text
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream, transposed
from gradcalc.core.kinds.profile import BATCH, Knob, Profile, Variant
from gradcalc.core.records import record

KIND = "dense"
KEYS = registry.field_names(KIND)
LAYOUTS = registry.choices(KIND, "layout")
NAME_DEFAULTS = {"input": "x", "weight": "W", "bias": "b", "output": "y", "loss": "L"}


@record
class DenseProblem:
    """A validated dense spec; arrays are object arrays of Fractions in the spec's shapes."""

    title: str | None
    input: np.ndarray  # L or N×L
    weight: np.ndarray  # O×L
    bias: np.ndarray | None  # O
    layout: str
    upstream: np.ndarray  # O or N×O
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def batched(self) -> bool:
        return self.input.ndim == 2

    @property
    def batch(self) -> int:
        return self.input.shape[0] if self.batched else 1

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (self.batch, self.out_features) if self.batched else (self.out_features,)

    @property
    def work(self) -> int:
        """Multiply-adds of the forward pass."""
        return self.batch * self.out_features * self.in_features

    def jacobian_shapes(self) -> dict[str, tuple[int, int]]:
        rows = self.batch * self.out_features
        return {
            "jacobian_input": (rows, self.input.size),
            "jacobian_weight": (rows, self.weight.size),
        }


def read(spec: Mapping[str, Any], limits: common.Limits) -> DenseProblem:
    """Validate a dense spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    raw_input = common.require(spec, "input", KIND, "a vector of L numbers or an N×L batch")
    raw_weight = common.require(spec, "weight", KIND, "the O×L weight matrix")
    x = read_array(raw_input, ("input",), ndims=(1, 2), what="input", limits=limits)
    w = read_array(raw_weight, ("weight",), ndims=(2,), what="weight", limits=limits)
    in_features = x.shape[-1]
    if w.shape[1] != in_features:
        hint = (
            f"; it looks transposed: nn.Linear's weight is out_features × in_features, here {w.shape[1]}×{w.shape[0]}"
            if w.shape[0] == in_features
            else ""
        )
        raise SpecError(
            ("weight",),
            f"weight is {shape_text(w.shape)} but each input sample has L = {in_features} entries; "
            f"weight must be O×L (O outputs, L = {in_features} inputs){hint}",
        )
    out_features = w.shape[0]
    bias = None
    if spec.get("bias") is not None:
        bias = read_array(spec["bias"], ("bias",), ndims=(1,), what="bias", limits=limits)
        if bias.shape[0] != out_features:
            raise SpecError(
                ("bias",),
                f"bias has {bias.shape[0]} entries but the weight has O = {out_features} rows; "
                "give one bias per output",
            )
    layout = read_choice(spec, "layout", LAYOUTS, default="column")
    batch = x.shape[0] if x.ndim == 2 else 1
    if batch * out_features * in_features > limits.max_work:
        raise LimitError(
            ("input",),
            f"this layer needs {batch * out_features * in_features:,} multiply-adds, above the limit "
            f"of {limits.max_work:,} (raise it with --max-work)",
        )
    names = common.read_names(spec, NAME_DEFAULTS)
    output_shape = (batch, out_features) if x.ndim == 2 else (out_features,)
    upstream, upstream_given = common.read_upstream(spec, output_shape, names["output"], limits)
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "grad_input": x.shape,
        "grad_weight": w.shape,
    }
    if bias is not None:
        known["grad_bias"] = bias.shape
    rows = batch * out_features
    known["jacobian_input"] = (rows, x.size)
    known["jacobian_weight"] = (rows, w.size)
    return DenseProblem(
        title=common.read_title(spec),
        input=x,
        weight=w,
        bias=bias,
        layout=layout,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        index_base=common.read_index_base(spec),
        expected=common.read_expected(spec, known, limits),
        tolerance=common.read_tolerance(spec),
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    return [transposed("grad_weight", "∂L/∂W")] + forgot_upstream(
        spec, ("grad_input", "grad_weight", "grad_bias")
    )


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

INPUTS = Knob("inputs", "int", "input features L", default=3, label="{} inputs")
OUTPUTS = Knob("outputs", "int", "output features O", default=2, label="{} outputs")
LAYOUT = Knob(
    "layout",
    "choice",
    "column: y = Wx + b; row: y = xWᵀ + b",
    default="column",
    field="layout",
    choices=("column", "row"),
    label="{} layout",
)

PRACTICE = Profile(
    {
        "": Variant(
            (INPUTS, OUTPUTS, BATCH, LAYOUT),
            {
                "input": ("batch?", "inputs"),
                "weight": ("outputs", "inputs"),
                "bias": ("outputs",),
            },
        )
    }
)
