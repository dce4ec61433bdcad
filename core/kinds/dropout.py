"""A dropout spec: how it is read (``read(spec, limits) -> DropoutProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``).

A dropout problem is PyTorch's nn.Dropout with the mask given: in training (the default)
y = x ⊙ m/(1 − p) and ∂L/∂x = ∂L/∂y ⊙ m/(1 − p) (inverted dropout: the kept entries are
scaled so that E[y] = x); with ``training: false`` y = x.  ``mask`` is 0/1 in the input's
shape, or ``random: SEED`` draws it: keep where u ≥ p, u = numpy.random.default_rng(SEED)
.random(x.shape) (a Bernoulli keep with probability 1 − p), and the drawn mask is a result.
Every array (x, m, y, ∂L/∂y, ∂L/∂x) has the input's shape.  What the keys are is the
Field table of kind dropout in core/kinds/catalog.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import read_array, read_int, shape_text
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant
from gradcalc.core.kinds.symbolic_fields import answer_names, naming, read_tensor
from gradcalc.core.ops import adapter
from gradcalc.core.ops.dropout import DROPOUT
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import MAX_INDEX, parse_bool, parse_number
from gradcalc.core.words import plain

KIND = "dropout"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = {"input": "x", "mask": "m", "output": "y", "loss": "L"}
# mask: only when ``random`` drew it (so that it can be reproduced).
RESULTS = ("output", "grad_input", "mask")
SECTIONS = registry.sections(KIND)
DEFAULT_P = Fraction(1, 2)  # nn.Dropout's


@record
class DropoutProblem:
    """A validated dropout spec; ``input``, ``mask``, ``upstream`` are object arrays of the
    input's shape (mask of ints 0/1: ones in evaluation when none is given)."""

    title: str | None
    input: np.ndarray  # any shape
    p: Fraction  # in [0, 1)
    training: bool
    mask: np.ndarray  # the input's shape, 0/1
    mask_given: bool  # False: evaluation without a mask (nothing is dropped)
    seed: int | None  # random: SEED drew the mask
    upstream: np.ndarray  # the input's shape
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def scale(self) -> Fraction:
        """1/(1 − p) in training, 1 in evaluation."""
        return 1 / (1 - self.p) if self.training else Fraction(1)

    @property
    def keep(self) -> np.ndarray:
        """m/(1 − p) per entry (object, the input's shape); ones in evaluation."""
        if not self.training:
            return _ones(self.input.shape)
        # np.array: a 0-D mask times a Fraction is a bare Fraction.
        return np.array(self.mask * self.scale, dtype=object).reshape(self.input.shape)

    def float_keep(self) -> np.ndarray:
        """keep in float64 (m·float(1/(1 − p))), without an object array on the way."""
        if not self.training:
            return np.ones(self.input.shape)
        return np.asarray(self.mask, dtype=float) * float(self.scale)


def _ones(shape: tuple[int, ...]) -> np.ndarray:
    ones = np.empty(shape, dtype=object)
    ones.fill(1)
    return ones


def read_p(spec: Mapping[str, Any]) -> Fraction:
    """p in [0, 1) (default 1/2, nn.Dropout's)."""
    if spec.get("p") is None:
        return DEFAULT_P
    p = parse_number(spec["p"], ("p",), what="p (a number)")
    if not 0 <= p < 1:
        why = (
            ": p = 1 drops every entry and its scale 1/(1 − p) is undefined"
            if p == 1
            else " (the probability that an entry is dropped)"
        )
        raise SpecError(("p",), f"p must be in [0, 1), got {plain(p)}{why}")
    return p


def read_mask(raw: Any, shape: tuple[int, ...], limits: common.Limits) -> np.ndarray:
    """The 0/1 mask, in the input's shape; a bad entry is refused where it is written."""
    mask = read_array(raw, ("mask",), ndims=tuple(range(0, 7)), what="mask", limits=limits)
    if mask.shape != shape:
        raise SpecError(
            ("mask",),
            f"mask is {shape_text(mask.shape)} but the input is {shape_text(shape)}; "
            "the mask has one 0 or 1 per input entry",
        )
    bad = [flat for flat, value in enumerate(mask.ravel().tolist()) if value not in (0, 1)]
    if bad:
        index = tuple(int(i) for i in np.unravel_index(bad[0], shape))
        value = mask[index]
        raise SpecError(
            ("mask", *index),
            f"mask entries are 0 (dropped) or 1 (kept), got {plain(value)}",
        )
    return np.asarray(mask.astype(np.int64), dtype=object)


def _nested(values: Any) -> str:
    """[[1, 0], [0, 1]] as a spec writes it."""
    if isinstance(values, list):
        return "[" + ", ".join(_nested(item) for item in values) + "]"
    return str(int(values))


def draw_mask(seed: int, p: Fraction, shape: tuple[int, ...]) -> np.ndarray:
    """keep (1) where u ≥ p, u = numpy.random.default_rng(seed).random(shape): each entry
    kept with probability 1 − p.  An object array of 0/1 ints in ``shape``."""
    uniform = np.random.default_rng(seed).random(shape)
    return np.asarray((uniform >= float(p)).astype(np.int64), dtype=object).reshape(shape)


def _read_mask_or_seed(
    spec: Mapping[str, Any], shape: tuple[int, ...], p: Fraction, training: bool, limits
) -> tuple[np.ndarray, bool, int | None]:
    """(the mask, whether there is one, the seed that drew it or None)."""
    if spec.get("random") is not None:
        seed = read_int(spec, "random", None, minimum=0, maximum=MAX_INDEX, what="random (a seed)")
        assert seed is not None
        drawn = draw_mask(seed, p, shape)
        if spec.get("mask") is not None:
            # Both: the mask written down to reproduce the draw must be the draw.
            if not np.array_equal(read_mask(spec["mask"], shape, limits), drawn):
                raise SpecError(
                    ("mask",),
                    f"mask is not the one random: {seed} draws for p = {plain(p)} "
                    f"({_nested(drawn.tolist())}); give one or the other, or that mask",
                )
        return drawn, True, seed
    if spec.get("mask") is not None:
        return read_mask(spec["mask"], shape, limits), True, None
    if training:
        raise SpecError(
            (),
            "missing required key 'mask' (0/1 in the input's shape: 1 keeps an entry) for "
            "kind 'dropout' in training; or give random: SEED to draw it, or training: false",
        )
    return _ones(shape), False, None


def read(spec: Mapping[str, Any], limits: common.Limits) -> DropoutProblem:
    """Validate a dropout spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    raw = common.require(spec, "input", KIND, "the input, an array of any shape")
    names = common.read_names(spec, NAME_DEFAULTS)
    x = read_tensor(
        raw,
        ("input",),
        ndims=tuple(range(0, 7)),
        what="input",
        limits=limits,
        **naming(spec, names, "input"),
    )
    p = read_p(spec)
    training = True if spec.get("training") is None else parse_bool(spec["training"], ("training",))
    mask, mask_given, seed = _read_mask_or_seed(spec, x.shape, p, training, limits)
    upstream, upstream_given = common.read_upstream(
        spec, x.shape, names["output"], limits, naming=naming(spec, names, "output")
    )
    known: dict[str, tuple[int, ...] | None] = {"output": x.shape, "grad_input": x.shape}
    if seed is not None:
        known["mask"] = x.shape
    return DropoutProblem(
        input=x,
        p=p,
        training=training,
        mask=mask,
        mask_given=mask_given,
        seed=seed,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        **common.read_shared(spec, known, limits, symbols=answer_names(spec, x, upstream)),
    )


# ---------------------------------------------------------------------------
# Running


@record
class DropoutTrace:
    """What the run recorded, every array in the input's shape (object exact values when
    ``exact``, else float64): x and ∂L/∂y as the op ran, and keep = m/(1 − p)."""

    input: np.ndarray
    upstream: np.ndarray
    keep: np.ndarray
    exact: bool


def run(problem: DropoutProblem, options: common.SolveOptions) -> Run:
    """y = x ⊙ keep and ∂L/∂x = ∂L/∂y ⊙ keep, exactly unless --float or too large."""
    exact = not options.force_float and problem.input.size <= options.limits.exact_work
    keep = problem.keep if exact else problem.float_keep()
    output, trace = adapter.forward(
        DROPOUT, problem.input, {"keep": keep}, exact=exact, float64=adapter.each_rounded
    )
    grad_input = adapter.backward(problem.upstream, trace)["input"]
    dtype = object if trace.exact else float
    results: dict[str, Any] = {
        "output": np.asarray(output, dtype=dtype).reshape(problem.input.shape),
        "grad_input": np.asarray(grad_input, dtype=dtype).reshape(problem.input.shape),
    }
    if problem.seed is not None:
        results["mask"] = problem.mask
    recorded = DropoutTrace(
        input=adapter.as_run(problem.input, trace),
        upstream=adapter.as_run(problem.upstream, trace),
        keep=adapter.as_run(keep, trace),
        exact=trace.exact,
    )
    return Run(results=results, trace=recorded, exact=trace.exact)


def float_loss(problem: DropoutProblem, params: Mapping[str, np.ndarray]) -> float:
    """L = Σ upstream ⊙ x ⊙ keep in float64, for finite differences."""
    keep = problem.float_keep()
    return float(np.sum(problem.upstream.astype(float) * params["input"] * keep))


def finite_differences(problem: DropoutProblem, run: Run) -> GradientCheck | None:
    """∂L/∂x against float64 central differences of Σ upstream ⊙ y."""
    keep, upstream = problem.float_keep(), problem.upstream.astype(float)
    return check_gradients_where(
        lambda params: float_loss(problem, params),
        {"input": problem.input.astype(float)},
        {"input": run.results["grad_input"]},
        {},
        # Each term of the loss is upstream·x·keep: its rounding scales with their size.
        scale={
            "input": np.abs(upstream * keep) * np.maximum(1, np.abs(problem.input.astype(float)))
        },
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The scale 1/(1 − p) left out, the mask ignored (and both), the upstream forgotten."""
    if spec.get("training") is False:
        return forgot_upstream(spec, ("grad_input",), reveals=("grad_input",))
    both = ("output", "grad_input")
    # p = 0 drops the scale; a drawn mask is kept as drawn (random would draw another at p = 0).
    unscaled: tuple[tuple[str, Any], ...] = (("p", 0),)
    if spec.get("random") is not None:
        drawn = _drawn_mask(spec)
        if drawn is not None:
            unscaled = (("p", 0), ("random", None), ("mask", drawn))
    mistakes = [
        Mistake(
            "scale 1/(1 − p) left out",
            "{name} matches the result without the scale 1/(1 − p): inverted dropout divides "
            "the kept entries by 1 − p in training (nn.Dropout), in the forward and the "
            "backward pass alike",
            unscaled,
            results=both,
            reveals=both,
        ),
    ]
    if spec.get("random") is None:
        mistakes.append(
            Mistake(
                "mask ignored",
                "{name} matches the result with every entry kept: the mask was ignored "
                "(a dropped entry's output and gradient are 0)",
                (("mask", _ones_like(spec.get("mask"))),),
                results=both,
                reveals=both,  # the key is the answer times the mask
            )
        )
    mistakes.append(
        Mistake(
            "dropout ignored",
            "{name} matches the identity: neither the mask nor the scale 1/(1 − p) was applied "
            "(that is evaluation mode, training: false)",
            (("training", False),),
            results=both,
            reveals=both,
        )
    )
    return mistakes + forgot_upstream(spec, ("grad_input",))


def _drawn_mask(spec: Mapping[str, Any]) -> Any:
    """The mask ``random`` draws for this spec (nested lists), or None if it cannot be read."""
    try:
        return read(spec, common.Limits()).mask.tolist()
    except SpecError:
        return None


def _ones_like(value: Any) -> Any:
    """A mask of ones in the written mask's nesting (1 for a single number)."""
    if isinstance(value, list):
        return [_ones_like(item) for item in value]
    return 1


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

SIZE = Knob(
    "size", "shape", "input shape: N, AxB or AxBxC", default=(2, 3), maximum=6, label="{} input"
)
P = Knob(
    "p",
    "number",
    "the drop probability p (default: 1/2, 1/4, 1/3 or 1/5, by the seed)",
    field="p",
    menu=(Fraction(1, 2), Fraction(1, 4), Fraction(1, 3), Fraction(1, 5)),
    label="p = {}",
)

PRACTICE = Profile(
    {
        "": Variant(
            (SIZE, P),
            {"input": ("size",), "mask": ("size",)},
            # 1/(1 − p) = 2, 4/3, 3/2 or 5/4: the answers' denominators stay small.
            {"mask": Draw(0, 1)},
        )
    }
)
