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

Size knobs and how each spec field is drawn are data: each kind's ``PRACTICE``
profile in its own module, core/kinds/<kind>.py, or in the one its catalog entry's
``parts`` names (:data:`PROFILES` reads them through core/registry.py ``kind_part``).  A
kind without a profile gets a generic one from the registry: each required or
starter tensor field is drawn with the shape of its example, every other such
field keeps its example.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.errors import SpecError, format_path
from gradcalc.core.kinds.profile import SMALL, UPSTREAM, Draw, Knob, Profile, Variant
from gradcalc.core.practice.answers import (
    DECIMAL_PLACES,
    DECIMAL_TOLERANCE,
    EXACT_TOLERANCE,
    SMALLEST_DECIMAL,
    _clean_key,
    _natural_denominator,
    set_tolerances,
)
from gradcalc.core.practice.draws import Draws, fill_template, shape_of, spec_value
from gradcalc.core.practice.sizes import PracticeError, Sizes, knob_text, parse_knob, title_words
from gradcalc.core.spec import SolveOptions

__all__ = [
    "DECIMAL_PLACES",
    "DECIMAL_TOLERANCE",
    "EXACT_TOLERANCE",
    "MAX_ATTEMPTS",
    "MAX_DENOMINATOR",
    "PROFILES",
    "SMALLEST_DECIMAL",
    "Draw",
    "Draws",
    "Knob",
    "Practice",
    "PracticeError",
    "Profile",
    "Sizes",
    "Variant",
    "knob_text",
    "make_problem",
    "parse_knob",
    "profile",
    "resolve_sizes",
    "shape_of",
]

MAX_ATTEMPTS = 200
MAX_DENOMINATOR = 12


# -- the table -----------------------------------------------------------------------------------


class KindProfiles(MutableMapping[str, Profile]):
    """kind -> its practice Profile, its ``PRACTICE`` (registry.kind_part: the kind's own
    module core/kinds/<kind>.py, or the one its entry's ``parts`` names) read the first time it
    is asked for: ``gradcalc random conv`` imports no other kind's profile.  An entry set or removed here wins over the module's (tests remove one to
    see the generic profile)."""

    def __init__(self) -> None:
        # None: the kind has no profile (or it was removed).
        self._read: dict[str, Profile | None] = {}

    def __getitem__(self, kind: str) -> Profile:
        if kind not in self._read:
            self._read[kind] = registry.kind_part(kind, "PRACTICE")
        found = self._read[kind]
        if found is None:
            raise KeyError(kind)
        return found

    def __setitem__(self, kind: str, found: Profile) -> None:
        self._read[kind] = found

    def __delitem__(self, kind: str) -> None:
        self[kind]  # a KeyError for a kind without a profile, as a dict gives
        self._read[kind] = None

    def __iter__(self) -> Iterator[str]:
        kinds = dict.fromkeys([*registry.OPS, *self._read])
        return iter([kind for kind in kinds if kind in self])

    def __len__(self) -> int:
        return sum(1 for _ in self)


PROFILES: MutableMapping[str, Profile] = KindProfiles()


def _with_knobs(variant: Variant, knobs: tuple[Knob, ...]) -> Variant:
    """``variant`` with other knobs (profiles are records, which dataclasses.replace does not
    know: records keep the kinds' profiles cheap to import on every command)."""
    fields = {name: getattr(variant, name) for name in Variant.__annotations__}
    return Variant(**{**fields, "knobs": knobs})


def profile(kind: str) -> Profile:
    """The kind's profile: from :data:`PROFILES`, or built from the registry's fields."""
    if kind not in registry.OPS:
        raise PracticeError(f"unknown kind {kind!r}; known kinds: {', '.join(registry.OPS)}")
    found = PROFILES.get(kind) or _generic_profile(kind)
    if registry.OPS[kind].takes_upstream:
        variants = {
            name: _with_knobs(variant, (*variant.knobs, UPSTREAM))
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
    # By name: variants may hold their own knob of one name (conv's --stride is a pair in 2-D
    # and an int in 1-D), and the variant's knob reads the value.
    names_of = lambda each: {knob.name for knob in each.knobs}  # noqa: E731
    for name in given:
        if name not in values and name not in names_of(variant):
            users = [v for v, each in found.variants.items() if name in names_of(each)]
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
    by = profile(kind).by
    drawn_as = (
        dict(by.seed_names).get(resolved.variant, resolved.variant) if by else resolved.variant
    )
    expectable = getattr(registry.op_module(kind), "EXPECTABLE", None)
    limit = max(MAX_DENOMINATOR, _natural_denominator(variant, resolved.values))
    refusal: PracticeError | None = None
    for attempt in range(MAX_ATTEMPTS):
        draws = Draws(f"gradcalc-random:{kind}:{seed}:{drawn_as}:{resolved.text()}:{attempt}")
        try:
            spec = _draw_spec(kind, seed, resolved, variant, draws)
            if spec is None:  # the variant's adjust found no way to honour its knobs
                continue
            solution = _solve(spec, resolved, gradient_check=False)
        except PracticeError as error:
            if not variant.retry_invalid:
                raise
            refusal = error
            continue
        omitted = variant.omit(resolved.values) if variant.omit is not None else ()
        results = {k: v for k, v in solution.results.items() if k not in omitted}
        answers, decimal_results = _clean_key(results, expectable, limit, variant)
        if answers is None or any(name not in answers for name in variant.require):
            continue
        if decimal_results:
            set_tolerances(spec, answers, decimal_results)
        if not _solve({**spec, "expected": answers}, resolved, gradient_check=True).ok:
            continue
        return Practice(kind, seed, resolved, spec, answers, attempt + 1, decimal_results)
    if refusal is not None:
        raise refusal
    raise PracticeError(
        f"no problem of kind {kind} with these sizes had clean answers in {MAX_ATTEMPTS} draws "
        f"(integers or fractions with denominators up to {limit}); try smaller sizes"
    )


def _draw_spec(
    kind: str, seed: int, sizes: Sizes, variant: Variant, draws: Draws
) -> dict[str, Any] | None:
    """The spec drawn from ``draws``; None when the variant's ``adjust`` asks for another draw."""
    values = sizes.values
    title_parts = [
        title_words(k, values[k.name])
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
    for knob in sizes.said():
        if knob.field is not None:
            written = dict(knob.spec_values).get(values[knob.name], values[knob.name])
            fields[knob.field] = spec_value(written)
    fields.update(fill_template(dict(variant.fixed), coefficients))
    for name, template in variant.tensors.items():
        shape = shape_of(template, values)
        fields[name] = draws.tensor(variant.draws.get(name, SMALL), shape, values)
    if variant.adjust is not None:
        adjusted = variant.adjust(fields, values)
        if adjusted is None:
            return None
        fields = adjusted
    # The kind's own keys in the registry's order, then anything else the variant set.
    order = [f.name for f in registry.OPS[kind].fields]
    for name in sorted(fields, key=lambda n: order.index(n) if n in order else len(order)):
        spec[name] = fields[name]
    if isinstance(spec.get("loss"), Mapping):
        pass  # a net that ends in a loss takes no upstream: the loss gives it
    elif values.get("upstream") == "ones":
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
