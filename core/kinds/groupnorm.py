"""A groupnorm spec (PyTorch's GroupNorm): how it is read (``read(spec, limits) ->
NormProblem``) and run (``run``, ``finite_differences``: core/kinds/normalization.py, shared
with batch and layer norm), its usual mistakes and its practice profile.

The C channels of an N×C×… input are split into ``num_groups`` groups of C/G consecutive
channels; each sample's group is normalized over its (C/G)·H·W entries, and γ, β are per
channel.  The op sees x reshaped to N×G×(C/G)×S (S: the spatial entries) and averages axes
2 and 3.  The keys are the Field table of kind groupnorm in core/kinds/catalog_normalization.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import normalization as shared
from gradcalc.core.kinds.fields import read_array, read_int, shape_text
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.normalization import finite_differences, run  # noqa: F401 - shared by the three kinds
from gradcalc.core.kinds.profile import Knob, Profile, Variant
from gradcalc.core.values import MAX_INDEX
from gradcalc.core.words import count_words

KIND = "groupnorm"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = shared.NAME_DEFAULTS
RESULTS = ("output", "mean", "var", "x_hat", "grad_input", "grad_weight", "grad_bias")
SECTIONS = registry.sections(KIND)
NormProblem = shared.NormProblem


def read(spec: Mapping[str, Any], limits: common.Limits) -> NormProblem:
    """Validate a groupnorm spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    raw = common.require(spec, "input", KIND, "an N×C or N×C×… batch")
    x = read_array(raw, ("input",), ndims=(2, 3, 4, 5, 6), what="input", limits=limits)
    groups = read_int(spec, "num_groups", None, minimum=1, maximum=MAX_INDEX)
    if groups is None:
        raise SpecError((), "missing required key 'num_groups' (how many groups the channels form)")
    channels = x.shape[1]
    if channels % groups:
        raise SpecError(
            ("num_groups",),
            f"num_groups = {groups} does not divide the C = {count_words(channels, 'channel')} of the input "
            f"({shape_text(x.shape)}); each group takes C/G consecutive channels",
        )
    if x.shape[0] * (channels // groups) * math.prod(x.shape[2:]) == 1:
        raise SpecError(
            ("num_groups",),
            f"one sample and groups of one value each ({shape_text(x.shape)}, num_groups = "
            f"{groups}): each σ² would be 0 and x̂ = 0 whatever x is; PyTorch refuses it "
            "(Expected more than 1 value per channel when training). Give fewer groups or more "
            "samples",
        )
    eps = shared.read_eps(spec)
    what = f"the input has C = {count_words(channels, 'channel')} (one γ and one β per channel)"
    weight, bias = shared.read_affine(spec, "affine", (channels,), what, limits)
    per = channels // groups
    spatial = math.prod(x.shape[2:])
    known = shared.known_results(x, (channels,), (x.shape[0], groups), weight is not None, False)
    return NormProblem(
        kind=KIND,
        input=x,
        weight=weight,
        bias=bias,
        eps=eps,
        op_shape=(x.shape[0], groups, per, spatial),
        axes=(2, 3),
        param_shape=(1, groups, per, 1),
        stat_shape=(x.shape[0], groups),
        training=True,
        momentum=Fraction(0),
        running_mean=None,
        running_var=None,
        groups=groups,
        **shared.shared_fields(spec, x, limits),
        **common.read_shared(spec, known, limits),
    )


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """Unbiased variance, eps forgotten, a path dropped, the upstream forgotten."""
    return shared.usual_mistakes(spec, read)


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

GROUPS = Knob(
    "groups", "int", "groups G", default=2, maximum=4, field="num_groups", label="{} groups"
)
CHANNELS = Knob(
    "channels", "int", "channels C (a multiple of 2·G)", default=4, minimum=2, maximum=8,
    label="{} channels",
)  # fmt: skip
SAMPLES = Knob("batch", "int", "samples N", default=2, maximum=4, label="batch of {}")


def clean_groups(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each sample's group of channels made m ± 1: σ² = 1, and with eps = 3, σ = 2; None
    (draw again) unless C/G is even."""
    channels, groups = values["channels"], values["groups"]
    if channels % groups or (channels // groups) % 2:
        return None
    per = channels // groups
    rows = []
    for row in fields["input"]:
        made: list[int] = []
        for start in range(0, len(row), per):
            made += shared.balanced(row[start : start + per])
        rows.append(made)
    fields["input"] = rows
    return fields


PRACTICE = Profile(
    {
        "": Variant(
            (GROUPS, CHANNELS, SAMPLES),
            {"input": ("batch", "channels"), "weight": ("channels",), "bias": ("channels",)},
            fixed={"eps": 3},
            denominator_from=("channels", 8),
            adjust=clean_groups,
        )
    }
)
