"""A batchnorm spec (PyTorch's BatchNorm1d on N×D, BatchNorm2d on N×C×H×W): how it is read
(``read(spec, limits) -> NormProblem``) and run (``run``, ``finite_differences``, shared
with layer and group norm in core/kinds/normalization.py), its usual mistakes and its
practice profile.

Each feature (channel) c is normalized over the M = N (1d) or N·H·W (2d) entries of its
column with the batch's mean and biased variance (``training: true``), and the running
statistics are updated as PyTorch does, with the unbiased variance; or, with ``training:
false``, with the given running statistics (an affine map).  The keys are the Field table
of kind batchnorm in core/kinds/catalog.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import normalization as shared
from gradcalc.core.kinds.fields import read_array, read_scalar, shape_text
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.normalization import finite_differences, run  # noqa: F401 - shared by the three kinds
from gradcalc.core.kinds.profile import Knob, Profile, Variant
from gradcalc.core.words import count_words

KIND = "batchnorm"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = shared.NAME_DEFAULTS
RESULTS = (
    "output",
    "mean",
    "var",
    "x_hat",
    "grad_input",
    "grad_weight",
    "grad_bias",
    "running_mean",
    "running_var",
)
SECTIONS = registry.sections(KIND)
NormProblem = shared.NormProblem


def _read_running(
    spec: Mapping[str, Any], key: str, channels: int, fill: int, limits: common.Limits
) -> np.ndarray:
    """running_mean or running_var (C), or PyTorch's initial zeros or ones."""
    if spec.get(key) is None:
        values = np.empty((channels,), dtype=object)
        values.fill(fill)
        return values
    values = read_array(spec[key], (key,), ndims=(1,), what=key, limits=limits)
    if values.shape != (channels,):
        raise SpecError(
            (key,),
            f"{key} has {shape_text(values.shape)} entries but the input has C = {channels} "
            f"features; give one per feature",
        )
    return values


def _refuse_batch_of_one(x: np.ndarray) -> None:
    per_channel = x.size // x.shape[1]
    if per_channel == 1:
        # BatchNorm1d averages over N, BatchNorm2d over N·H·W.
        count = "N" if x.ndim == 2 else "N·H·W"
        raise SpecError(
            ("input",),
            f"a batch of one ({shape_text(x.shape)}): in training each feature's statistics "
            f"average its {count} = 1 value, so σ² = 0 and x̂ = 0 whatever x is, and the unbiased "
            f"variance for running_var divides by {count} − 1 = 0; PyTorch refuses it (Expected more "
            "than 1 value per channel when training). Give N ≥ 2 samples, or training: false",
        )


def read(spec: Mapping[str, Any], limits: common.Limits) -> NormProblem:
    """Validate a batchnorm spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    raw = common.require(spec, "input", KIND, "an N×D batch or an N×C×H×W batch of images")
    x = read_array(raw, ("input",), ndims=(2, 4), what="input", limits=limits)
    channels = x.shape[1]
    eps = shared.read_eps(spec)
    training = shared.read_flag(spec, "training", True)
    momentum = read_scalar(spec, "momentum", Fraction(1, 10), low=Fraction(0), high=Fraction(1))
    what = f"the input has C = {count_words(channels, 'feature')} (one γ and one β per feature)"
    weight, bias = shared.read_affine(spec, "affine", (channels,), what, limits)
    running_mean = _read_running(spec, "running_mean", channels, 0, limits)
    running_var = _read_running(spec, "running_var", channels, 1, limits)
    if training:
        _refuse_batch_of_one(x)
    else:
        bad = next((i for i, v in enumerate(running_var) if v + eps <= 0), None)
        if bad is not None:
            raise SpecError(
                ("running_var", bad),
                "running_var + eps must be positive: σ = √(running_var + eps) divides x − "
                "running_mean",
            )
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    param_shape = (1, channels) + (1,) * (x.ndim - 2)
    known = shared.known_results(x, (channels,), (channels,), weight is not None, training)
    return NormProblem(
        kind=KIND,
        input=x,
        weight=weight,
        bias=bias,
        eps=eps,
        op_shape=x.shape,
        axes=axes,
        param_shape=param_shape,
        stat_shape=(channels,),
        training=training,
        momentum=momentum,
        running_mean=running_mean,
        running_var=running_var,
        groups=channels,
        **shared.shared_fields(spec, x, limits),
        **common.read_shared(spec, known, limits),
    )


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """Unbiased variance, eps forgotten, a path dropped (training), the upstream forgotten."""
    return shared.usual_mistakes(spec, read)


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

FEATURES = Knob("features", "int", "features D", default=3, maximum=6, label="{} features")
SAMPLES = Knob(
    "batch", "int", "samples N (even)", default=4, minimum=2, maximum=6, label="batch of {}"
)


def clean_columns(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Each feature's column made m ± 1 (half the samples each way), so σ² = 1 and, with
    eps = 3, σ = 2; None (draw again) for an odd batch."""
    rows = fields["input"]
    if len(rows) % 2:
        return None
    columns = [shared.balanced([row[c] for row in rows]) for c in range(len(rows[0]))]
    fields["input"] = [list(row) for row in zip(*columns, strict=True)]
    return fields


PRACTICE = Profile(
    {
        "": Variant(
            (FEATURES, SAMPLES),
            {
                "input": ("batch", "features"),
                "weight": ("features",),
                "bias": ("features",),
            },
            fixed={"eps": 3},
            denominator_from=("batch", 8),
            adjust=clean_columns,
        )
    }
)
