"""What the CLI knows of a kind before importing it: :class:`OpEntry`, and the keys every
kind shares (COMMON_FIELDS) or only `gradcalc check` reads (CHECK_FIELDS).

The entries themselves are core/kinds/catalog.py; core/registry.py looks them up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from gradcalc.core.kinds.field import Field
from gradcalc.core.records import record, replace

# The keys every kind shares (core/spec.py COMMON_KEYS), described once; an entry
# leaves out "upstream" when its kind ends the chain (``takes_upstream=False``).
COMMON_FIELDS: dict[str, Field] = {
    "kind": Field("kind", "choice", "the op family (optional under `gradcalc KIND`)"),
    "title": Field("title", "text", "a heading for the output", example="My problem", starter=True),
    # Each kind's own example replaces this help (OpEntry.names_example).
    "names": Field("names", "mapping", "symbols for the tables"),
    "index_base": Field(
        "index_base", "choice", "0 or 1: how indices are printed", choices=(0, 1), example=0
    ),
    "upstream": Field(
        "upstream",
        "tensor",
        '∂L/∂output shaped like the output; "ones" or omitted: L = sum of outputs',
        choices=("ones",),
        dims=(0, 4),
    ),
    "expected": Field("expected", "answers", "answers to check, keyed by result name"),
    "tolerance": Field(
        "tolerance",
        "number|mapping",
        "absolute tolerance, or {atol: …, rtol: …}",
        example="1e-6",
        minimum=0,
    ),
}

# The keys of a kind whose tensors may hold symbols (core/symbolic.py, docs/symbolic.md).
SYMBOL_FIELDS: tuple[Field, ...] = (
    Field(
        "symbols",
        "texts",
        "names matrix entries may use, e.g. [b11, b12] (entries are numbers without it)",
        example=["b11", "b12"],
    ),
    Field(
        "flat_index",
        "boolean",
        "symbolic fields: entries w1 … w9 (one row-major index) instead of w_00 … w_22",
        example=False,
    ),
)

# The keys of COMMON_KEYS that only `gradcalc check` reads (core/grading/); solvers accept
# and ignore them, so the JSON Schema lists them, but they are not inline options.  Their
# examples name grad_input; OpEntry.check_fields puts in the kind's example_result.
CHECK_FIELDS: dict[str, Field] = {
    "points": Field(
        "points",
        "number|mapping",
        "gradcalc check: points per result (one number, or {grad_input: 3}; others 1)",
        example=1,
        minimum=0,
    ),
    "accept": Field(
        "accept",
        "mapping",
        "gradcalc check: other conventions that count as correct, e.g. {ties: [first, all]}, "
        "and result tolerances {tolerance: {grad_input: 1e-3}}",
        example={"tolerance": {"grad_input": "1e-3"}},
    ),
    "problem": Field(
        "problem",
        "text",
        "gradcalc check: a submission's problem file (a file with problem or answers is "
        "graded as a submission)",
    ),
    "answers": Field(
        "answers",
        "answers",
        "gradcalc check: a submission's answers, keyed by result name (see problem)",
    ),
}


@record
class OpEntry:
    """One op family as the CLI sees it.

    ``sections`` are the explanation's section keys (for ``--show``);
    ``examples`` are command lines shown in ``--help``; ``fields`` describe the
    kind's own spec keys (the module's KEYS, in order); ``takes_upstream`` is False
    for kinds that end the chain or have none.  ``focus`` names the kinds module's
    ``(focus_text, problem) -> target`` for kinds whose outputs read sliding windows
    (``--focus``); None for the others.  ``names_example`` shows the ``names``
    key with the kind's own roles (the module's NAME_DEFAULTS); ``upstream_dims`` are the
    upstream's (fewest, most) levels of nesting, those of the kind's outputs.
    """

    # The kind's modules, which core/solve.py's pipeline runs: its kinds module
    # (core/kinds/KIND.py: read, run, finite_differences) and its explain module
    # (core/explain/KIND.py: Explainer).
    module: str
    explain: str
    summary: str
    description: str
    sections: tuple[str, ...]
    examples: tuple[str, ...]
    fields: tuple[Field, ...] = ()
    takes_upstream: bool = True
    # An upstream that fits the fields' examples, for ``gradcalc new``.
    example_upstream: Any = None
    # Shared command-line options that mean nothing for this kind (left out of its command).
    unused_options: tuple[str, ...] = ()
    focus: str | None = None
    names_example: Mapping[str, str] = field(default_factory=dict)
    # A result of every problem of the kind, for the examples of points and accept.
    example_result: str = "grad_input"
    upstream_dims: tuple[int, int] = (0, 4)
    # The kind reads symbols in its tensors and upstream (core/symbolic.py): conv, dense.
    upstream_symbols: bool = False
    # What only some commands read (``usual_mistakes``: gradcalc check; ``PRACTICE``: gradcalc
    # random), by name, when the kind keeps it apart from its kinds module: the module that
    # holds it, imported by registry.kind_part when asked for (solving imports none of them).
    parts: Mapping[str, str] = field(default_factory=dict)

    def spec_fields(self) -> tuple[Field, ...]:
        """Every key a spec of this kind may have: the common ones, then the kind's own."""
        common = []
        for name, common_field in COMMON_FIELDS.items():
            if name == "upstream" and not self.takes_upstream:
                continue
            if name == "upstream":
                common_field = replace(
                    common_field, dims=self.upstream_dims, symbols=self.upstream_symbols
                )
            elif name == "names" and self.names_example:
                shown = ", ".join(
                    f"{role}: {symbol}" for role, symbol in self.names_example.items()
                )
                common_field = replace(common_field, help=f"{common_field.help}, e.g. {{{shown}}}")
            common.append(common_field)
        return (*common, *self.fields)

    def check_fields(self) -> tuple[Field, ...]:
        """The keys only `gradcalc check` reads, their examples naming one of this kind's results."""
        return tuple(
            replace(
                check_field,
                help=check_field.help.replace("grad_input", self.example_result),
                example=_renamed(check_field.example, "grad_input", self.example_result),
            )
            for check_field in CHECK_FIELDS.values()
        )


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with the mapping key ``old`` renamed ``new`` at any depth."""
    if isinstance(value, Mapping):
        return {new if key == old else key: _renamed(item, old, new) for key, item in value.items()}
    return value
