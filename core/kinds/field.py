"""One key of a spec, as the loader, inline options, the JSON Schema and ``gradcalc new`` see it.

A module of its own, apart from the readers (core/kinds/fields.py) and the registry, so
that a table of Fields can be written wherever a kind is described, at no import cost.
"""

from __future__ import annotations

from typing import Any

from gradcalc.core.records import record


@record(frozen=True)
class Field:
    """One key of a spec, as inline options, the JSON Schema and ``gradcalc new`` see it.

    ``type`` names what the key holds, alternatives joined by ``|`` (``"number|mapping"``):
    "tensor" (a number or nested lists of numbers), "number", "integer", "ints" (an integer
    or a list of them), "boolean", "booleans" (true/false or nested lists of them), "text",
    "texts" (text or a list of texts), "mapping", "answers" (expected answers keyed by
    result: numbers, expressions or lists of them), "null", "layers" (a net's list of layers: words or mappings with a type), or "choice"
    (only the ``choices``).  ``choices`` are values accepted besides
    the type (``"ones"`` for an upstream).  ``example`` is what ``gradcalc new`` writes:
    a live key when ``required`` or ``starter``, else a commented-out line.

    The bounds the loader enforces, for the JSON Schema: ``dims`` (fewest, most) levels of
    nesting of a tensor (0: a single number); ``minimum``, ``maximum`` and ``above`` (an
    exclusive minimum) for a number or each integer of "ints"; ``lengths``, the lengths an
    "ints" list may have.
    """

    name: str
    type: str
    help: str
    choices: tuple[Any, ...] = ()
    example: Any = None
    required: bool = False
    starter: bool = False
    dims: tuple[int, int] | None = None
    minimum: Any = None
    maximum: Any = None
    above: Any = None
    lengths: tuple[int, ...] = ()
    # The lengths an "ints" list may have instead when the spec's dims is 3 (conv's stride,
    # dilation and padding triples); the schema checks them under `dims: 3` only.
    lengths_3d: tuple[int, ...] = ()
    # A tensor whose entries may be symbols and formulas, or `symbolic 3x3` (core/symbolic.py).
    symbols: bool = False

    # Compared and hashed by value, as @dataclass(frozen=True) made them (@record: a
    # fraction of its import cost, core/records.py).
    def _values(self) -> tuple[Any, ...]:
        return tuple(self.__dict__[name] for name in self.__record_fields__)  # type: ignore[attr-defined]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    @property
    def types(self) -> tuple[str, ...]:
        return tuple(self.type.split("|"))
