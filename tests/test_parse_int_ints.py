"""core/values.py parse_int reads a plain int (not a bool) within bounds without making a
Fraction of it (session 10): the same result, and the same error, as the code it replaced
(kept below) for every value and bound."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc.core import values
from gradcalc.core.errors import SpecError
from gradcalc.core.words import number_text


def _old_parse_int(
    value: Any,
    path: tuple,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    what: str = "an integer",
) -> int:
    """parse_int before session 10."""
    if (
        isinstance(value, str)
        and not values._INT_TEXT.match(value)
        and not values._NUMBER_TEXT.match(value)
    ):
        if not value.isascii():
            values._check_characters(value.strip(), path)
        problem = values.number_form_problem(value)
        raise SpecError(path, problem or f"expected {what}, got {values.describe(value)}")
    try:
        number = values.parse_number(value, path, what=what)
    except SpecError as error:
        if not error.message.startswith("expected"):
            raise
        raise SpecError(path, f"expected {what}, got {values.describe(value)}") from None
    if number.denominator != 1:
        raise SpecError(path, f"expected {what}, got {number_text(number)}")
    result = int(number)
    if minimum is not None and result < minimum:
        raise SpecError(path, f"{what} must be at least {minimum}, got {result}")
    if maximum is not None and result > maximum:
        limit = values.MAX_INDEX_TEXT if maximum == values.MAX_INDEX else str(maximum)
        raise SpecError(path, f"{what} must be at most {limit}, got {result}")
    return result


def _outcome(parse: Any, value: Any, minimum: Any, maximum: Any) -> tuple[str, Any]:
    try:
        result = parse(value, ("size",), minimum=minimum, maximum=maximum, what="size")
    except SpecError as error:
        return "error", (error.path, error.message)
    return "value", (type(result), result)


BIG = 10**100
INTS = st.one_of(
    st.integers(-5, 5),
    st.integers(),
    st.sampled_from([BIG, BIG + 1, -BIG, -BIG - 1, 2**31 - 1, 2**31, 2**63]),
)
VALUES = st.one_of(
    INTS,
    st.booleans(),
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.fractions(max_denominator=4),
    st.sampled_from(["2", " 3 ", "1e3", "2.5", "−4", "01", "x", "1/2", "4/2", "1e101"]),
)
BOUNDS = st.one_of(st.none(), st.integers(-3, 3), st.just(values.MAX_INDEX))


@settings(deadline=None, derandomize=True, database=None, max_examples=600)
@given(VALUES, BOUNDS, BOUNDS)
def test_parse_int_reads_as_before(value: Any, minimum: Any, maximum: Any) -> None:
    assert _outcome(values.parse_int, value, minimum, maximum) == _outcome(
        _old_parse_int, value, minimum, maximum
    )


def test_a_plain_int_reads_without_a_fraction(monkeypatch: Any) -> None:
    made = []
    monkeypatch.setattr(values, "Fraction", lambda *a: made.append(a) or Fraction(*a))
    assert values.parse_int(3, ("size",)) == 3 and made == []
