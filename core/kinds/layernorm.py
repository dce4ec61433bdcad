"""A layernorm spec (PyTorch's LayerNorm): how it is read (``read(spec, limits) ->
NormProblem``) and run (``run``, ``finite_differences``: core/kinds/normalization.py, shared
with batch and group norm), its usual mistakes and its practice profile.

Each entry of the leading axes (a sample, a token) is normalized over the last
len(normalized_shape) axes, which must be ``normalized_shape``; γ and β have that shape (one
per normalized entry).  The keys are the Field table of kind layernorm in
core/kinds/catalog_normalization.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import normalization as shared
from gradcalc.core.kinds.fields import read_array, shape_text
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.normalization import finite_differences, run  # noqa: F401 - shared by the three kinds
from gradcalc.core.kinds.profile import BATCH, Knob, Profile, Variant
from gradcalc.core.values import MAX_INDEX, describe, parse_int

KIND = "layernorm"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = shared.NAME_DEFAULTS
RESULTS = ("output", "mean", "var", "x_hat", "grad_input", "grad_weight", "grad_bias")
SECTIONS = registry.sections(KIND)
NormProblem = shared.NormProblem


def read_normalized_shape(spec: Mapping[str, Any], shape: tuple[int, ...]) -> tuple[int, ...]:
    """normalized_shape (an int or a list of ints; default the last axis), which must end
    the input's shape."""
    raw = spec.get("normalized_shape")
    if raw is None:
        return shape[-1:]
    items = raw if isinstance(raw, list) else [raw]
    if not items:
        raise SpecError(("normalized_shape",), "normalized_shape is empty; give at least one size")
    sizes = []
    for i, item in enumerate(items):
        path = ("normalized_shape", i) if isinstance(raw, list) else ("normalized_shape",)
        sizes.append(parse_int(item, path, minimum=1, maximum=MAX_INDEX, what="a size"))
    wanted = tuple(sizes)
    if len(wanted) > len(shape) or shape[len(shape) - len(wanted) :] != wanted:
        ending = list(shape[max(0, len(shape) - len(wanted)) :])
        raise SpecError(
            ("normalized_shape",),
            f"normalized_shape {describe(raw) if not isinstance(raw, list) else list(wanted)} does "
            f"not end the input's shape {shape_text(shape)}: layer norm normalizes over the last "
            f"{len(wanted)} ax{'es' if len(wanted) != 1 else 'is'}, which are {ending}",
        )
    return wanted


def read(spec: Mapping[str, Any], limits: common.Limits) -> NormProblem:
    """Validate a layernorm spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    raw = common.require(spec, "input", KIND, "any shape ending in normalized_shape")
    x = read_array(raw, ("input",), ndims=(1, 2, 3, 4, 5, 6), what="input", limits=limits)
    normalized = read_normalized_shape(spec, x.shape)
    eps = shared.read_eps(spec)
    what = f"normalized_shape is {list(normalized)} (one γ and one β per normalized entry)"
    weight, bias = shared.read_affine(spec, "elementwise_affine", normalized, what, limits)
    lead = x.ndim - len(normalized)
    known = shared.known_results(x, normalized, x.shape[:lead], weight is not None, False)
    return NormProblem(
        kind=KIND,
        input=x,
        weight=weight,
        bias=bias,
        eps=eps,
        op_shape=x.shape,
        axes=tuple(range(lead, x.ndim)),
        param_shape=(1,) * lead + normalized,
        stat_shape=x.shape[:lead],
        training=True,
        momentum=shared.Fraction(0),
        running_mean=None,
        running_var=None,
        groups=math.prod(x.shape[:lead]),
        **shared.shared_fields(spec, x, limits),
        **common.read_shared(spec, known, limits),
    )


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """Unbiased variance, eps forgotten, a path dropped, the upstream forgotten."""
    return shared.usual_mistakes(spec, read)


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

FEATURES = Knob(
    "features", "int", "features D (even): the normalized last axis", default=4, minimum=2,
    maximum=6, label="{} features",
)  # fmt: skip


def clean_rows(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each row made m ± 1 (half its entries each way): σ² = 1, and with eps = 3, σ = 2;
    None (draw again) for an odd D."""
    rows = fields["input"]
    single = not isinstance(rows[0], list)
    rows = [rows] if single else rows
    if len(rows[0]) % 2:
        return None
    made = [shared.balanced(row) for row in rows]
    fields["input"] = made[0] if single else made
    return fields


PRACTICE = Profile(
    {
        "": Variant(
            (FEATURES, BATCH),
            {"input": ("batch?", "features"), "weight": ("features",), "bias": ("features",)},
            fixed={"eps": 3},
            denominator_from=("features", 8),
            adjust=clean_rows,
        )
    }
)
