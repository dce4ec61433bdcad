"""Practice problems: ``gradcalc random KIND --seed N``.

:func:`make_problem` fills a kind's spec with small integer entries drawn from a
seed, solves it with the kind's own solver (``registry.solve``) and keeps it when
its answers are *clean*; otherwise it draws again from the next sub-seed, up to
:data:`MAX_ATTEMPTS` times.

What "clean" means, per result entry:

- an integer, or a fraction whose denominator is at most :data:`MAX_DENOMINATOR`
  (or the kind's natural denominator, e.g. the window area of an average pool,
  when that is larger) -- whether the solver computed it exactly or in floats
  (a float equal to such a fraction to 1e-9, like √25 in an LP pool, counts);
- for answers that cannot be rational (softmax, cross-entropy, sigmoid, tanh,
  softplus, elu, gelu, the LP pool's roots), only in the variants marked
  ``decimals``: a decimal written to :data:`DECIMAL_PLACES` places, and no nonzero
  answer below :data:`SMALLEST_DECIMAL` (so four places keep two significant digits).
  The spec's ``tolerance`` then accepts exactly that rounding (half a unit of the last
  place), and ``accept.tolerance`` holds every result without a rounded entry to
  gradcalc's usual tolerance, so an exact answer stays exact for ``gradcalc check``.
  A float that is a fraction with a larger denominator (4/27) is rational, so it is
  never rounded: the draw is not clean;
- symbolic answers (``expr``'s gradient and Hessian) are kept as SymPy prints them.

A drawn problem is also solved once more with its answers and the gradient check,
and kept only when that run passes: what ``gradcalc run`` would report.

The draws come from SHA-256 of a text naming the kind, the seed, every size and
the attempt, so the same command gives the same problem on any machine and any
Python or NumPy version.

Size knobs and how each spec field is drawn are data: :data:`PROFILES` below.  A
kind without a profile gets a generic one from the registry: each required or
starter tensor field is drawn with the shape of its example, every other such
field keeps its example.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.errors import GradcalcError, SpecError, format_path
from gradcalc.core.kinds.fields import PAIR_SEPARATOR
from gradcalc.core.spec import DEFAULT_ATOL, SolveOptions

MAX_ATTEMPTS = 200
MAX_DENOMINATOR = 12
DECIMAL_PLACES = 4
# Rounding to 4 places is off by at most 5e-5, a wrong last digit by more: the tolerance is
# 5e-5 plus a slack far below the last place, for the float a result is computed in.
DECIMAL_TOLERANCE = Fraction(1, 2 * 10**DECIMAL_PLACES) + Fraction(1, 10**9)
# The results of such a spec that have no rounded entry keep gradcalc's usual tolerance.
EXACT_TOLERANCE = DEFAULT_ATOL
SMALLEST_DECIMAL = 0.001
# A float answer within this (relative) distance of a simple fraction is that fraction.
_FRACTION_MATCH = 1e-9
# A float this close to a fraction with a denominator up to this is rational, not a decimal
# to round (computed rationals are a few ulps off; an irrational value is rarely this close).
_RATIONAL_DENOMINATOR = 1000
_RATIONAL_MATCH = 1e-12


class PracticeError(GradcalcError):
    """Sizes that make no problem, or no clean problem; ``knob`` names the size at fault."""

    def __init__(self, message: str, knob: str | None = None):
        super().__init__(message)
        self.message = message
        self.knob = knob


# -- the table -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Knob:
    """One size option of ``gradcalc random KIND``.

    ``type``: "int"; "pair" (N or HxW: two dimensions, N means N×N); "shape" (N, AxB
    or AxBxC); "choice" (one of ``choices``); "number" (an exact number such as 1/10).
    A knob either sets the spec key ``field`` or gives dimensions to shape templates.
    ``default`` may name another knob ("window": the same value).  When ``menu`` is
    given and the knob is not, the seed picks the value from the menu.  ``label``
    formats the value for the title ("" leaves it out).
    """

    name: str
    type: str
    help: str
    default: Any = None
    field: str | None = None
    choices: tuple[Any, ...] = ()
    menu: tuple[Any, ...] = ()
    minimum: int = 1
    maximum: int = 8
    aliases: tuple[str, ...] = ()
    label: str = ""
    # False: the title names the value only when it is not the default (1 channel goes unsaid).
    label_default: bool = True

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Draw:
    """Entries drawn uniformly from low..high (both included), divided by ``denominator``.

    ``high`` may name a knob: then it is that knob's value − 1 (class indices).
    """

    low: int = -3
    high: int | str = 3
    denominator: int = 1
    nonzero: bool = False


SMALL = Draw(-3, 3)
COEFFICIENT = Draw(-3, 3, nonzero=True)


@dataclass(frozen=True)
class Variant:
    """One way to draw a kind's problem.

    ``tensors`` maps spec fields to shape templates: knob names (an int knob is one
    dimension, a pair two, a shape its own), literal ints, and ``"name?"`` for a
    leading dimension left out while it is 1 (C×H×W becomes H×W for one channel).
    ``draws`` says how each tensor's entries (and each ``{coefficient}`` of ``fixed``)
    are drawn (default :data:`SMALL`).  ``fixed`` holds spec keys with set values, in
    which a text that is only ``{name}`` becomes the drawn number and ``{name}`` inside
    a text is replaced by it.  ``decimals``: answers may be irrational (see the module
    docstring).  ``denominator_from``: knobs (or literal ints) whose product is a natural
    denominator; a knob holding a fraction (α) counts with its denominator.
    ``require``: results every key must contain.  ``retry_invalid``: see below.
    """

    knobs: tuple[Knob, ...]
    tensors: Mapping[str, tuple[str | int, ...]] = field(default_factory=dict)
    draws: Mapping[str, Draw] = field(default_factory=dict)
    fixed: Mapping[str, Any] = field(default_factory=dict)
    decimals: bool = False
    denominator_from: tuple[str | int, ...] = ()
    require: tuple[str, ...] = ()
    # Draw again when the solver refuses a drawn spec (the generic profile cannot know which
    # entries a kind accepts); otherwise a refusal is about the sizes, and is reported at once.
    retry_invalid: bool = False


@dataclass(frozen=True)
class Profile:
    """A kind's variants, chosen by the ``by`` knob (None: one variant, keyed "")."""

    variants: Mapping[str, Variant]
    by: Knob | None = None

    def knobs(self) -> tuple[Knob, ...]:
        """Every knob of every variant, the variant knob first, each name once."""
        found: dict[str, Knob] = {}
        if self.by is not None:
            found[self.by.name] = self.by
        for variant in self.variants.values():
            for knob in variant.knobs:
                found.setdefault(knob.name, knob)
        return tuple(found.values())


UPSTREAM = Knob(
    "upstream",
    "choice",
    "random: ∂L/∂output drawn like the entries; ones: L = sum of the outputs",
    default="random",
    choices=("random", "ones"),
)
BATCH = Knob(
    "batch",
    "int",
    "samples N (1: no batch axis)",
    default=1,
    maximum=4,
    label="batch of {}",
    label_default=False,
)

# conv and pool
IMAGE = Knob(
    "size",
    "pair",
    "input height×width: N or HxW",
    default=(4, 4),
    maximum=12,
    aliases=("--input-size",),
    label="{} input",
)
CHANNELS = Knob(
    "channels",
    "int",
    "input channels C (1: no channel axis)",
    default=1,
    maximum=4,
    label="{} channels",
    label_default=False,
)
KERNEL = Knob(
    "kernel_size",
    "pair",
    "kernel height×width: N or HxW",
    default=(2, 2),
    maximum=7,
    label="{} kernel",
)
OUT_CHANNELS = Knob(
    "out_channels",
    "int",
    "output channels (kernels)",
    default=1,
    maximum=4,
    label="{} output channels",
    label_default=False,
)
CONV_STRIDE = Knob(
    "stride", "pair", "N or SHxSW", default=(1, 1), field="stride", maximum=4, label="stride {}"
)
CONV_PADDING = Knob(
    "padding",
    "pair",
    "zeros on each side: N or PHxPW",
    default=(0, 0),
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
)
DILATION = Knob(
    "dilation",
    "pair",
    "N or DHxDW",
    default=(1, 1),
    field="dilation",
    maximum=3,
    label="dilation {}",
    label_default=False,
)
WINDOW = Knob(
    "window",
    "pair",
    "pool window: N or KHxKW",
    default=(2, 2),
    field="size",
    maximum=6,
    label="{} window",
)
POOL_STRIDE = Knob(
    "stride",
    "pair",
    "N or SHxSW (default: the window)",
    default="window",
    field="stride",
    maximum=6,
    label="stride {}",
)
POOL_PADDING = Knob(
    "padding",
    "pair",
    "max and avg: N or PHxPW, at most half the window",
    default=(0, 0),
    field="padding",
    minimum=0,
    maximum=3,
    label="padding {}",
)
MODE = Knob(
    "mode",
    "choice",
    "max, avg or lp (default: max or avg, by the seed)",
    field="mode",
    choices=("max", "avg", "lp"),
    menu=("max", "avg"),
    label="{} pool",
)
LP_P = Knob("p", "int", "lp only: the power p", default=2, field="p", maximum=4, label="p={}")

# dense
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

# activation, softmax, loss
VALUES = Knob(
    "size", "shape", "input shape: N, AxB or AxBxC", default=(2, 3), maximum=6, label="{} input"
)
ACTIVATION = Knob(
    "function",
    "choice",
    "relu, leaky_relu, sigmoid, tanh, softplus, elu or gelu (default: relu or leaky_relu, "
    "by the seed)",
    field="function",
    menu=("relu", "leaky_relu"),
    choices=("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu"),
    label="{}",
)
ALPHA = Knob(
    "alpha",
    "number",
    "leaky_relu's slope for x < 0 (default: 1/10, 1/5, 1/4 or 1/2, by the seed)",
    field="alpha",
    menu=(Fraction(1, 10), Fraction(1, 5), Fraction(1, 4), Fraction(1, 2)),
    label="α = {}",
)
CLASSES = Knob("classes", "int", "classes C", default=3, minimum=2, maximum=6, label="{} classes")
SOFTMAX = Knob(
    "function",
    "choice",
    "softmax or log_softmax",
    default="softmax",
    field="function",
    choices=("softmax", "log_softmax"),
    label="{}",
)
LOSS = Knob(
    "loss",
    "choice",
    "cross_entropy, nll, mse, bce or bce_with_logits (default: mse or nll, by the seed)",
    field="loss",
    choices=("cross_entropy", "nll", "mse", "bce", "bce_with_logits"),
    menu=("mse", "nll"),
    label="{}",
)
REDUCTION = Knob(
    "reduction",
    "choice",
    "mean or sum",
    default="mean",
    field="reduction",
    choices=("mean", "sum"),
    label="{}",
)
LOSS_VALUES = Knob(
    "size", "shape", "input shape: N, AxB or AxBxC", default=(2, 2), maximum=4, label="{} input"
)

# expr: each template is a function with drawn integer coefficients and a point at which
# every value and derivative is rational (exp, log, sin and cos are taken where they are).
TEMPLATES: dict[str, dict[str, Any]] = {
    "polynomial": {
        "function": "{a}*x**2*y + {b}*x*y**2 + {c}*y",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "quadratic": {
        "function": "{a}*x**2 + {b}*x*y + {c}*y**2 + {d}*x",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "rational": {
        "function": "({a}*x + {b})/(y**2 + 1)",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": "{y0}"},
    },
    "exponential": {
        "function": "{a}*x*exp({b}*y)",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": 0},
    },
    "logarithm": {
        "function": "{a}*x**2*log(y) + {b}*x*y",
        "variables": ["x", "y"],
        "at": {"x": "{x0}", "y": 1},
    },
    "trigonometric": {
        "function": "{a}*sin(x)*y**2 + {b}*cos(x)*y",
        "variables": ["x", "y"],
        "at": {"x": 0, "y": "{y0}"},
    },
    "sigmoid": {
        "function": "y/(1 + exp({a}*x))",
        "variables": ["x", "y"],
        "at": {"x": 0, "y": "{y0}"},
    },
    "three_variables": {
        "function": "{a}*x*y*z + {b}*x**2*z + {c}*y",
        "variables": ["x", "y", "z"],
        "at": {"x": "{x0}", "y": "{y0}", "z": "{z0}"},
    },
}
TEMPLATE = Knob(
    "template",
    "choice",
    "the function's form (default: one of them, by the seed)",
    choices=tuple(TEMPLATES),
    menu=tuple(TEMPLATES),
    label="{} template",
)
_EXPR_DRAWS = {
    **{name: COEFFICIENT for name in "abcd"},
    **{name: Draw(-2, 2) for name in ("x0", "y0", "z0")},
}

_CONV = Variant(
    knobs=(IMAGE, KERNEL, CONV_STRIDE, CONV_PADDING, DILATION, CHANNELS, OUT_CHANNELS, BATCH),
    tensors={
        "input": ("batch?", "channels?", "size"),
        "kernel": ("out_channels?", "channels?", "kernel_size"),
    },
)
_POOL_KNOBS = (IMAGE, WINDOW, POOL_STRIDE, POOL_PADDING, CHANNELS)
_POOL_TENSORS = {"input": ("channels?", "size")}
_BINARY = Draw(0, 1)

PROFILES: dict[str, Profile] = {
    "conv": Profile({"": _CONV}),
    "pool": Profile(
        {
            "max": Variant(_POOL_KNOBS, _POOL_TENSORS, {"input": Draw(0, 9)}),
            "avg": Variant(
                _POOL_KNOBS, _POOL_TENSORS, {"input": Draw(0, 9)}, denominator_from=("window",)
            ),
            # LP pooling takes p-th roots: √(a² + b² + …) is rarely whole.
            "lp": Variant(
                (IMAGE, WINDOW, POOL_STRIDE, LP_P, CHANNELS),
                _POOL_TENSORS,
                {"input": Draw(0, 4)},
                decimals=True,
            ),
        },
        by=MODE,
    ),
    "dense": Profile(
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
    ),
    "activation": Profile(
        {
            "relu": Variant((VALUES,), {"input": ("size",)}),
            # α·x for x < 0: α's denominator (1/13, 0.05 = 1/20) is the natural one.
            "leaky_relu": Variant(
                (VALUES, ALPHA), {"input": ("size",)}, denominator_from=("alpha",)
            ),
            **{
                name: Variant(
                    (VALUES,), {"input": ("size",)}, {"input": Draw(-2, 2)}, decimals=True
                )
                for name in ("sigmoid", "tanh", "softplus", "elu", "gelu")
            },
        },
        by=ACTIVATION,
    ),
    # exp(a)/Σ exp is rational only when every score of a row is equal: 1/C, and a
    # gradient (1/C)(u_i − Σu/C) with denominator C².
    "softmax": Profile(
        {
            "": Variant(
                (SOFTMAX, CLASSES, BATCH),
                {"input": ("batch?", "classes")},
                {"input": Draw(-2, 2)},
                decimals=True,
                denominator_from=("classes", "classes"),
            )
        }
    ),
    "loss": Profile(
        {
            # A row of equal scores has p = 1/C: a gradient (p − 1[i = t])/N.
            "cross_entropy": Variant(
                (CLASSES, BATCH, REDUCTION),
                {"input": ("batch?", "classes"), "target": ("batch?",)},
                {"input": Draw(-2, 2), "target": Draw(0, "classes")},
                decimals=True,
                denominator_from=("classes", "batch"),
            ),
            "nll": Variant(
                (CLASSES, BATCH, REDUCTION),
                {"input": ("batch?", "classes"), "target": ("batch?",)},
                {"input": Draw(-4, 0), "target": Draw(0, "classes")},
                denominator_from=("batch",),
            ),
            "mse": Variant(
                (LOSS_VALUES, REDUCTION),
                {"input": ("size",), "target": ("size",)},
                denominator_from=("size",),
            ),
            # The loss is a log; its gradient (x − t)/(x(1 − x))/N is rational: with x in
            # {1/4, 1/2, 3/4} it is ±2, 4/3 or 4 over N, so 3N is its natural denominator.
            "bce": Variant(
                (LOSS_VALUES, REDUCTION),
                {"input": ("size",), "target": ("size",)},
                {"input": Draw(1, 3, denominator=4), "target": _BINARY},
                decimals=True,
                denominator_from=("size", 3),
            ),
            # (σ(x) − t)/N is rational where x = 0: ±1/(2N).
            "bce_with_logits": Variant(
                (LOSS_VALUES, REDUCTION),
                {"input": ("size",), "target": ("size",)},
                {"input": Draw(-2, 2), "target": _BINARY},
                decimals=True,
                denominator_from=("size", 2),
            ),
        },
        by=LOSS,
    ),
    "expr": Profile(
        {
            name: Variant(
                (),
                fixed=template,
                draws=_EXPR_DRAWS,
                require=("function_at", "gradient_at", "hessian_at"),
            )
            for name, template in TEMPLATES.items()
        },
        by=TEMPLATE,
    ),
}


def profile(kind: str) -> Profile:
    """The kind's profile: from :data:`PROFILES`, or built from the registry's fields."""
    if kind not in registry.OPS:
        raise PracticeError(f"unknown kind {kind!r}; known kinds: {', '.join(registry.OPS)}")
    found = PROFILES.get(kind) or _generic_profile(kind)
    if registry.OPS[kind].takes_upstream:
        variants = {
            name: replace(variant, knobs=(*variant.knobs, UPSTREAM))
            for name, variant in found.variants.items()
        }
        return Profile(variants, found.by)
    return found


def _generic_profile(kind: str) -> Profile:
    """Required and starter fields: tensors drawn in their example's shape, the rest as given."""
    tensors: dict[str, tuple[str | int, ...]] = {}
    fixed: dict[str, Any] = {}
    for spec_field in registry.OPS[kind].fields:
        if not (spec_field.required or spec_field.starter) or spec_field.example is None:
            continue
        if "tensor" in spec_field.types:
            tensors[spec_field.name] = tuple(np.shape(spec_field.example))
        else:
            fixed[spec_field.name] = spec_field.example
    # Nothing says whether the kind's answers can be rational: exact where they are.
    return Profile({"": Variant((), tensors, fixed=fixed, decimals=True, retry_invalid=True)})


# -- reading the sizes ---------------------------------------------------------------------------


def parse_knob(knob: Knob, value: Any) -> Any:
    """A knob's value from text or plain data, checked: ints, tuples of ints, text or Fraction."""
    if knob.type == "choice":
        text = str(value).strip()
        if text not in knob.choices:
            raise PracticeError(
                f"{text!r} is not one of {', '.join(map(str, knob.choices))}", knob.name
            )
        return text
    if knob.type == "number":
        from gradcalc.core.values import parse_number

        try:
            number = parse_number(value, (knob.name,))
        except SpecError as error:
            raise PracticeError(error.message, knob.name) from None
        if not 0 < number <= 1:
            raise PracticeError(f"must be in (0, 1], got {number}", knob.name)
        return number
    dims = _dims(value, knob)
    allowed = {"int": (1,), "pair": (1, 2), "shape": (1, 2, 3)}[knob.type]
    if len(dims) not in allowed:
        form = {"int": "a whole number", "pair": "N or HxW", "shape": "N, AxB or AxBxC"}
        raise PracticeError(f"expected {form[knob.type]}, got {_text(value)!r}", knob.name)
    for dim in dims:
        if not knob.minimum <= dim <= knob.maximum:
            raise PracticeError(
                f"each size must be from {knob.minimum} to {knob.maximum}, got {dim}", knob.name
            )
    if knob.type == "int":
        return dims[0]
    if knob.type == "pair" and len(dims) == 1:
        return (dims[0], dims[0])
    return dims


def _dims(value: Any, knob: Knob) -> tuple[int, ...]:
    if isinstance(value, bool):
        raise PracticeError(f"expected a size, got {value}", knob.name)
    if isinstance(value, int):
        return (value,)
    if isinstance(value, (tuple, list)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        return tuple(value)
    from gradcalc.core.values import looks_numeric, parse_int

    text = _text(value)
    parts = PAIR_SEPARATOR.split(text.strip())
    if not all(looks_numeric(part) for part in parts):
        raise PracticeError(f"expected a size such as 3 or 2x3, got {text!r}", knob.name)
    try:  # each size is read as every integer field reads it: 3, 3.0 and 3e0 are 3; 03 is refused
        return tuple(parse_int(part, (knob.name,), what="a size") for part in parts)
    except SpecError as error:
        raise PracticeError(error.message, knob.name) from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def knob_text(knob: Knob, value: Any) -> str:
    """How the value is written on a command line (and in the seed text): 4x4, 1, 1/10.

    A square pair that sets a spec key (stride 1) is written as the spec writes it."""
    if isinstance(value, tuple):
        if knob.field is not None and len(set(value)) == 1:
            return str(value[0])
        return "x".join(map(str, value))
    return str(value)


def _label(knob: Knob, value: Any) -> str:
    """The title's words for a value: "4×4 input", "stride 2" (a square pair named after its
    value reads as one number; one named before it, "2×2 window", keeps both)."""
    shown = "×".join(map(str, value)) if isinstance(value, tuple) else str(value)
    if isinstance(value, tuple) and len(set(value)) == 1 and not knob.label.startswith("{}"):
        shown = str(value[0])
    return knob.label.format(shown)


@dataclass(frozen=True)
class Sizes:
    """The resolved sizes of one problem: the variant and every one of its knobs' values."""

    kind: str
    variant: str
    values: Mapping[str, Any]
    knobs: tuple[Knob, ...]

    def arguments(self) -> list[str]:
        """The options that reproduce these sizes, e.g. ["--size", "4x4", "--stride", "1"]."""
        found: list[str] = []
        for knob in self.knobs:
            found += [knob.option, knob_text(knob, self.values[knob.name])]
        return found

    def text(self) -> str:
        return ";".join(
            f"{knob.name}={knob_text(knob, self.values[knob.name])}" for knob in self.knobs
        )


def resolve_sizes(kind: str, seed: int, given: Mapping[str, Any] | None = None) -> Sizes:
    """Every knob of the kind's variant: given (checked), else default, else drawn from its menu.

    A variant left to the seed is drawn among the menu's variants that use every knob
    given (else among all such variants: ``--p 3`` means an LP pool).  A knob given that
    the chosen variant does not use is an error.
    """
    found = profile(kind)
    given = {k: v for k, v in (given or {}).items() if v is not None}
    knobs = found.knobs()
    by_name = {knob.name: knob for knob in knobs}
    for name in given:
        if name not in by_name:
            options = ", ".join(k.option for k in knobs) or "none"
            raise PracticeError(f"kind {kind} has no size {name!r}; its options: {options}", name)

    def value_of(knob: Knob) -> Any:
        if knob.name in given:
            return parse_knob(knob, given[knob.name])
        if knob.menu:
            menu = knob.menu
            if knob is found.by:
                menu = (
                    _variants_using(found, menu, given)
                    or _variants_using(found, knob.choices, given)
                    or menu
                )
            draws = Draws(f"gradcalc-random:{kind}:{seed}:menu:{knob.name}")
            return menu[draws.below(len(menu))]
        return knob.default

    variant_name = ""
    values: dict[str, Any] = {}
    chosen: tuple[Knob, ...] = ()
    if found.by is not None:
        variant_name = values[found.by.name] = value_of(found.by)
        chosen = (found.by,)
    variant = found.variants[variant_name]
    for name in given:
        if name not in values and by_name[name] not in variant.knobs:
            users = [v for v, each in found.variants.items() if by_name[name] in each.knobs]
            chosen_by = f" with {found.by.option} {variant_name}" if found.by else ""
            raise PracticeError(
                f"does not apply to {kind}{chosen_by} (it applies to: {', '.join(users)})",
                name,
            )
    for knob in variant.knobs:
        values[knob.name] = value_of(knob)
    for knob in variant.knobs:  # a default naming another knob: "the window"
        if knob.name not in given and knob.type != "choice" and isinstance(knob.default, str):
            values[knob.name] = values[knob.default]
    return Sizes(kind, variant_name, values, (*chosen, *variant.knobs))


def _variants_using(found: Profile, names: tuple[Any, ...], given: Mapping[str, Any]) -> tuple:
    """The variants among ``names`` whose knobs include every knob given."""
    return tuple(
        name
        for name in names
        if name in found.variants
        and set(given) <= {knob.name for knob in found.variants[name].knobs}
    )


# -- drawing -------------------------------------------------------------------------------------


class Draws:
    """Deterministic integers from SHA-256 of ``key`` and a counter: the same everywhere."""

    def __init__(self, key: str):
        self.key = key
        self.count = 0

    def below(self, n: int) -> int:
        """An integer in 0..n−1 (the modulo bias of a 64-bit draw is negligible for small n)."""
        digest = hashlib.sha256(f"{self.key}#{self.count}".encode()).digest()
        self.count += 1
        return int.from_bytes(digest[:8], "big") % n

    def entry(self, draw: Draw, values: Mapping[str, Any]) -> int | Fraction:
        high = values[draw.high] - 1 if isinstance(draw.high, str) else draw.high
        pool = [v for v in range(draw.low, high + 1) if not (draw.nonzero and v == 0)]
        chosen = pool[self.below(len(pool))]
        return Fraction(chosen, draw.denominator) if draw.denominator != 1 else chosen

    def tensor(self, draw: Draw, shape: tuple[int, ...], values: Mapping[str, Any]) -> Any:
        if not shape:
            return self.entry(draw, values)
        return [self.tensor(draw, shape[1:], values) for _ in range(shape[0])]


def shape_of(template: tuple[str | int, ...], values: Mapping[str, Any]) -> tuple[int, ...]:
    """A shape template filled in: leading ``name?`` dimensions of 1 are left out."""
    dims: list[int] = []
    for part in template:
        if isinstance(part, int):
            dims.append(part)
            continue
        optional = part.endswith("?")
        value = values[part.rstrip("?")]
        if optional and value == 1 and not dims:
            continue
        dims += list(value) if isinstance(value, tuple) else [value]
    return tuple(dims)


def _spec_value(value: Any) -> Any:
    """Sizes as a spec writes them: (2, 2) -> 2, (2, 3) -> [2, 3]."""
    if isinstance(value, tuple):
        return value[0] if len(set(value)) == 1 else list(value)
    return value


def _fill(value: Any, coefficients: Mapping[str, Any]) -> Any:
    """``"{a}"`` -> the drawn number; ``"{a}*x + {b}"`` -> the text with them, tidied
    (``+ -3`` as ``- 3``, ``1*x`` as ``x``)."""
    if isinstance(value, Mapping):
        return {k: _fill(v, coefficients) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, coefficients) for v in value]
    if not isinstance(value, str) or "{" not in value:
        return value
    whole = re.fullmatch(r"\{(\w+)\}", value)
    if whole:
        return coefficients[whole.group(1)]
    text = value.format(**coefficients).replace("+ -", "- ")
    # 1*x reads as x (but 11*x and 0.1*x stay).
    return re.sub(r"(?<![\w.*/])1\*", "", text)


# -- solving and checking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Practice:
    """A drawn problem: its spec (without answers), its answer key and how it was made.

    ``spec`` and ``answers`` hold plain data: ints, Fractions, floats (rounded
    decimals, and the tolerances of a spec that has them), text and lists of them.  ``decimal_results`` names the results
    written as rounded decimals.
    """

    kind: str
    seed: int
    sizes: Sizes
    spec: dict[str, Any]
    answers: dict[str, Any]
    attempts: int
    decimal_results: tuple[str, ...] = ()

    def arguments(self) -> list[str]:
        """The command line that makes this problem again (without ``gradcalc``)."""
        return ["random", self.kind, "--seed", str(self.seed), *self.sizes.arguments()]

    def with_answers(self) -> dict[str, Any]:
        return {**self.spec, "expected": self.answers}


def make_problem(kind: str, seed: int, sizes: Mapping[str, Any] | None = None) -> Practice:
    """Draw the problem ``seed`` of ``kind`` with the given sizes (knob name -> value).

    Raises PracticeError for an unknown kind or size, for sizes that make no valid
    problem, and when no clean problem turns up in :data:`MAX_ATTEMPTS` draws.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise PracticeError(f"the seed must be a whole number ≥ 0, got {seed!r}", "seed")
    resolved = resolve_sizes(kind, seed, sizes)
    variant = profile(kind).variants[resolved.variant]
    expectable = getattr(registry.op_module(kind), "EXPECTABLE", None)
    limit = max(MAX_DENOMINATOR, _natural_denominator(variant, resolved.values))
    refusal: PracticeError | None = None
    for attempt in range(MAX_ATTEMPTS):
        draws = Draws(
            f"gradcalc-random:{kind}:{seed}:{resolved.variant}:{resolved.text()}:{attempt}"
        )
        try:
            spec = _draw_spec(kind, seed, resolved, variant, draws)
            solution = _solve(spec, resolved, gradient_check=False)
        except PracticeError as error:
            if not variant.retry_invalid:
                raise
            refusal = error
            continue
        answers, decimal_results = _clean_key(solution.results, expectable, limit, variant)
        if answers is None or any(name not in answers for name in variant.require):
            continue
        if decimal_results:
            _set_tolerances(spec, answers, decimal_results)
        if not _solve({**spec, "expected": answers}, resolved, gradient_check=True).ok:
            continue
        return Practice(kind, seed, resolved, spec, answers, attempt + 1, decimal_results)
    if refusal is not None:
        raise refusal
    raise PracticeError(
        f"no problem of kind {kind} with these sizes had clean answers in {MAX_ATTEMPTS} draws "
        f"(integers or fractions with denominators up to {limit}); try smaller sizes"
    )


def _set_tolerances(
    spec: dict[str, Any], answers: Mapping[str, Any], decimal_results: tuple[str, ...]
) -> None:
    """The spec-wide tolerance accepts the rounding (``gradcalc run`` reads only that one);
    ``accept.tolerance`` keeps each result without a rounded entry exact for ``gradcalc check``.

    Both are floats whose shortest text is the exact decimal (0.000050001), as a spec writes it.
    """
    spec["tolerance"] = float(DECIMAL_TOLERANCE)
    exact = [n for n in answers if n not in decimal_results and _numeric(answers[n])]
    if exact:
        spec["accept"] = {"tolerance": {name: float(EXACT_TOLERANCE) for name in exact}}


def _natural_denominator(variant: Variant, values: Mapping[str, Any]) -> int:
    product = 1
    for part in variant.denominator_from:
        value = part if isinstance(part, int) else values[part]
        if isinstance(value, Fraction):
            value = value.denominator
        product *= math.prod(value) if isinstance(value, tuple) else value
    return product


def _draw_spec(
    kind: str, seed: int, sizes: Sizes, variant: Variant, draws: Draws
) -> dict[str, Any]:
    values = sizes.values
    title_parts = [
        _label(k, values[k.name])
        for k in sizes.knobs
        if k.label and (k.label_default or values[k.name] != k.default)
    ]
    spec: dict[str, Any] = {
        "kind": kind,
        "title": f"Practice {kind}: {', '.join(title_parts) or 'random entries'} (seed {seed})",
    }
    coefficients = {
        name: draws.entry(draw, values)
        for name, draw in variant.draws.items()
        if name not in variant.tensors
    }
    fields: dict[str, Any] = {}
    for knob in sizes.knobs:
        if knob.field is not None:
            fields[knob.field] = _spec_value(values[knob.name])
    fields.update(_fill(dict(variant.fixed), coefficients))
    for name, template in variant.tensors.items():
        shape = shape_of(template, values)
        fields[name] = draws.tensor(variant.draws.get(name, SMALL), shape, values)
    # The kind's own keys in the registry's order, then anything else the variant set.
    order = [f.name for f in registry.OPS[kind].fields]
    for name in sorted(fields, key=lambda n: order.index(n) if n in order else len(order)):
        spec[name] = fields[name]
    if values.get("upstream") == "ones":
        spec["upstream"] = "ones"
    elif "upstream" in values:
        output = _solve(spec, sizes, gradient_check=False).results.get("output")
        if output is not None:
            spec["upstream"] = draws.tensor(SMALL, np.shape(output), values)
    return spec


def _solve(spec: Mapping[str, Any], sizes: Sizes, *, gradient_check: bool):
    options = SolveOptions(
        steps=0 if not gradient_check else None,
        sections=frozenset() if not gradient_check else frozenset({"checks"}),
        gradient_check=gradient_check,
    )
    try:
        return registry.solve(spec, options)
    except SpecError as error:
        where = f"{format_path(error.path)}: " if error.path else ""
        raise PracticeError(
            f"these sizes make no valid {sizes.kind} problem: {where}{error.message}"
        ) from None


def _clean_key(
    results: Mapping[str, Any], expectable: tuple[str, ...] | None, limit: int, variant: Variant
) -> tuple[dict[str, Any] | None, tuple[str, ...]]:
    """The answer key (result name -> plain data), and the results written as decimals;
    (None, ()) when an answer is not clean."""
    key: dict[str, Any] = {}
    decimal_results: list[str] = []
    for name, value in results.items():
        if expectable is not None and name not in expectable:
            continue
        if name.startswith("jacobian"):
            continue
        found = _plain(value, limit, variant.decimals)
        if found is None:
            if expectable is None and not _numeric(value):
                continue  # text, mappings: not something an answer can give
            return None, ()
        plain, decimal = found
        key[name] = plain
        if decimal:
            decimal_results.append(name)
    return key, tuple(decimal_results)


def _numeric(value: Any) -> bool:
    flat = (
        np.asarray(value, dtype=object).ravel().tolist() if not isinstance(value, Mapping) else []
    )
    return bool(flat) and all(
        isinstance(v, (int, float, Fraction, np.number)) and not isinstance(v, bool) for v in flat
    )


def _plain(value: Any, limit: int, decimals: bool) -> tuple[Any, bool] | None:
    """``value`` (array, list or scalar) as nested lists of clean entries, and whether any
    entry is a rounded decimal; None when an entry is not clean."""
    if isinstance(value, np.ndarray):
        value = value.tolist() if value.ndim else value.item()
    if isinstance(value, (list, tuple)):
        entries = [_plain(v, limit, decimals) for v in value]
        if any(e is None for e in entries):
            return None
        return [e[0] for e in entries], any(e[1] for e in entries)  # type: ignore[index]
    if isinstance(value, str):
        return value, False
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float, Fraction)):
        return None
    if isinstance(value, (int, Fraction)):
        number = Fraction(value)
        if number.denominator > limit:
            return None
        return (int(number) if number.denominator == 1 else number), False
    if not math.isfinite(value):
        return None
    nearest = Fraction(value).limit_denominator(limit)
    if abs(float(nearest) - value) <= _FRACTION_MATCH * max(1.0, abs(value)):
        return (int(nearest) if nearest.denominator == 1 else nearest), False
    if not decimals or abs(value) < SMALLEST_DECIMAL:
        return None
    rational = Fraction(value).limit_denominator(_RATIONAL_DENOMINATOR)
    if abs(float(rational) - value) <= _RATIONAL_MATCH * max(1.0, abs(value)):
        return None  # a fraction with a large denominator: exact, but not clean
    return round(value, DECIMAL_PLACES), True
