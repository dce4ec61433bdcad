"""What a kind's practice profile is made of (``gradcalc random KIND`` draws from it).

A kind's module (core/kinds/<kind>.py) describes how its problems are drawn in its
``PRACTICE`` :class:`Profile`: the size options (:class:`Knob`), the variants chosen by
one of them, the tensors' shape templates and how their entries are drawn
(:class:`Draw`).  core/practice reads the profile; the knobs several kinds share (the
upstream, a batch, an image and its channels, classes) are defined here, once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import field
from typing import Any

from gradcalc.core.records import record


@record(frozen=True)
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
    # (value, what the spec writes for it) where the two differ: ``--ties none`` draws no
    # tied window, so the spec can state PyTorch's rule, ``ties: first``.
    spec_values: tuple[tuple[Any, Any], ...] = ()
    # True for a knob added after problems were drawn without it: at its default it is left
    # out of the seed text, the command line and the spec, so those problems stay the same.
    unsaid_default: bool = False

    def unsaid(self, value: Any) -> bool:
        """Whether ``value`` is this knob's unsaid default (see ``unsaid_default``)."""
        return self.unsaid_default and value == self.default

    @property
    def option(self) -> str:
        return "--" + self.name.replace("_", "-")


@record(frozen=True)
class Draw:
    """Entries drawn uniformly from low..high (both included), divided by ``denominator``.

    ``high`` may name a knob: then it is that knob's value − 1 (class indices).
    """

    low: int = -3
    high: int | str = 3
    denominator: int = 1
    nonzero: bool = False


SMALL = Draw(-3, 3)


@record(frozen=True)
class Variant:
    """One way to draw a kind's problem.

    ``tensors`` maps spec fields to shape templates: knob names (an int knob is one
    dimension, a pair two, a shape its own), literal ints, and ``"name?"`` for a
    leading dimension left out while it is 1 (C×H×W becomes H×W for one channel).
    ``draws`` says how each tensor's entries (and each ``{coefficient}`` of ``fixed``)
    are drawn (default :data:`SMALL`).  ``fixed`` holds spec keys with set values, in
    which a text that is only ``{name}`` becomes the drawn number and ``{name}`` inside
    a text is replaced by it.  ``decimals``: answers may be irrational (see core/practice's
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
    # ``adjust(fields, values)``: the drawn fields (spec key -> plain data), changed to honour
    # a knob the entries' draw cannot (max pooling's ``--ties none``); None: draw again.
    adjust: Callable[[dict[str, Any], Mapping[str, Any]], dict[str, Any] | None] | None = None
    # ``omit(values)``: results the key leaves out for these knob values (a max pool's argmax
    # names one cell per window, which only ties: first checks).
    omit: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None


@record(frozen=True)
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

# softmax and loss
CLASSES = Knob("classes", "int", "classes C", default=3, minimum=2, maximum=6, label="{} classes")
