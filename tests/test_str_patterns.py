"""Patterns every run used, now tested with str methods so that no pattern is compiled at
start-up (core/patterns.py is_whole_number and is_ascii_name, cli/plain_yaml.py's characters
a flow scalar may not hold): each answers as its pattern did, on text made to trip them —
Unicode digits ("²", Arabic "١", fullwidth "１") that ``str.isdigit`` takes, non-ASCII
letters that ``str.isidentifier`` takes, leading zeros, lone signs, digit runs at and
beyond each length limit, and a final newline (which ``$`` matches before)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc.cli import plain_yaml
from gradcalc.core import values
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import net
from gradcalc.core.patterns import (
    is_ascii_name,
    is_decimal_fraction,
    is_whole_number,
    number_exponent,
)

TRICKY = "0123456789+-−²١１ _.aZé\n\t :"
NUMBERISH = st.one_of(
    st.text(alphabet=TRICKY, max_size=8),
    # digit runs around the limits (18 and 100 digits), with or without a sign or a zero
    st.builds(
        lambda sign, first, length, tail: sign + first + "7" * length + tail,
        st.sampled_from(["", "-", "+", "−", "--"]),
        st.sampled_from(["", "0", "1", "9", "²"]),
        st.sampled_from([0, 1, 16, 17, 18, 19, 98, 99, 100, 101]),
        st.sampled_from(["", "0", "\n", " ", "١"]),
    ),
    st.text(max_size=6),
)

# (signs, most_digits) -> the pattern the text was fullmatched with before
WHOLE_NUMBER_PATTERNS = {
    ("-", 18): r"-?(?:0|[1-9][0-9]{0,17})",  # cli/plain_yaml.py's int in a flow list
    ("-+", None): r"[-+]?(?:0|[1-9][0-9]*)",  # cli/spec_loader.py's YAML int
    ("-+", 100): r"[-+]?(0|[1-9][0-9]{0,99})",  # cli/spec_loader.py's row of ints
}


@pytest.mark.parametrize("form", list(WHOLE_NUMBER_PATTERNS))
@settings(max_examples=400, deadline=None)
@given(text=NUMBERISH)
def test_a_whole_number_is_what_its_pattern_fullmatched(form, text: str) -> None:
    signs, most_digits = form
    matched = re.fullmatch(WHOLE_NUMBER_PATTERNS[form], text) is not None
    assert is_whole_number(text, signs=signs, most_digits=most_digits) == matched


NAMEISH = st.one_of(
    st.text(alphabet="aZ_09éµ١²ß. -\n\t", max_size=6),
    st.text(max_size=4),
    st.builds(lambda name: name + "\n", st.text(alphabet="ab_1", max_size=3)),
)


@settings(max_examples=400, deadline=None)
@given(NAMEISH)
def test_an_ascii_name_is_what_the_identifier_pattern_fullmatched(text: str) -> None:
    assert is_ascii_name(text) == (re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text) is not None)


def _name_refused_as_before(name: str) -> bool:
    """core/kinds/net.py's check of a layer's name as it was written with its pattern."""
    return not re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$").match(name) or len(name) > 12


@settings(max_examples=400, deadline=None)
@given(NAMEISH)
def test_a_layer_name_is_refused_as_before(name: str) -> None:
    if name in ("input", "output", "loss", "grad_input"):  # refused for another reason
        return
    try:
        net._read_name({"name": name}, 0)
    except SpecError:
        refused = True
    else:
        refused = False
    assert refused == _name_refused_as_before(name)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=":{}[]#'\"&*!|>%@`?ab1 -,\\./", max_size=6) | st.text(max_size=6))
def test_a_flow_scalar_holds_an_unsafe_character_as_the_pattern_found(token: str) -> None:
    found = re.compile(r"[:{}\[\]#'\"&*!|>%@`?]").search(token) is not None
    assert (not plain_yaml._FLOW_UNSAFE.isdisjoint(token)) == found


DECIMALISH = st.one_of(
    st.text(alphabet="0123456789.eE+-−²١ _/\n", max_size=10),
    st.builds(
        "".join,
        st.lists(
            st.sampled_from(["1", "0", ".", "e", "E", "-", "+", "12", "²", " / "]), max_size=7
        ),
    ),
    st.text(max_size=5),
    # numbers as the rule reads them, exponents and denominators included
    st.from_regex(
        r"[-+]?([0-9]+\.[0-9]*|\.[0-9]+|0|[1-9][0-9]*)([eE][-+]?[0-9]+)?( ?/ ?[-+]?[1-9][0-9]*)?",
        fullmatch=True,
    ),
)


@settings(max_examples=600, deadline=None)
@given(DECIMALISH)
def test_a_decimal_fraction_is_what_its_pattern_fullmatched(text: str) -> None:
    pattern = r"[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?"
    assert is_decimal_fraction(text) == (re.fullmatch(pattern, text) is not None)


@settings(max_examples=600, deadline=None)
@given(DECIMALISH | st.builds(lambda n, tail: "9" * n + tail, st.integers(95, 105), DECIMALISH))
def test_an_outsized_number_is_looked_for_wherever_the_pattern_could_find_one(text) -> None:
    """cli/spec_loader.py _number searches only a text longer than 100 characters or holding
    an e: the pattern finds nothing anywhere else."""
    found = re.compile(r"[0-9_]{101}|[eE][-+]?0*[0-9]{4}").search(text) is not None
    if found:
        assert len(text) > 100 or "e" in text or "E" in text


@settings(max_examples=800, deadline=None)
@given(DECIMALISH | st.text(alphabet="0123456789.eE+-/ \u00a0\u2003\n١", max_size=12))
def test_the_number_rule_read_with_str_methods_takes_what_its_pattern_matched(text: str) -> None:
    """core/patterns.py number_exponent: None where the rule without U+2212 does not match,
    else the exponent the rule's group 2 holds (without its e), "" for none."""
    number = values._ASCII_SIGN_NUMBER_TEXT.match(text)
    expected = None if number is None else (number.group(2) or "e")[1:]
    assert number_exponent(text) == expected


@settings(max_examples=600, deadline=None)
@given(DECIMALISH)
def test_a_numbers_exponent_is_the_one_searched_for_before(text: str) -> None:
    """core/values.py parse_number reads a number's exponent from the number rule's group
    2 where it searched the text for [eE]([-+]?\\d+)."""
    number = values._ASCII_SIGN_NUMBER_TEXT.match(text.strip())
    if number is None:
        return
    searched = re.search(r"[eE]([-+]?\d+)", text.strip())
    exponent = number.group(2)
    assert (int(exponent[1:]) if exponent else None) == (
        int(searched.group(1)) if searched else None
    )


KEY_PATTERN = re.compile(r"([A-Za-z_][A-Za-z0-9_.]{0,127}):(?: +|$)")  # cli/plain_yaml.py's
KEYISH = st.one_of(
    st.text(alphabet="ab_Z09.:- \n#é١", max_size=10),
    st.builds(
        lambda lead, length, tail: lead + "a" * length + tail,
        st.sampled_from(["", "-", " ", ".", "_", "1", "- ", "é"]),
        st.sampled_from([0, 1, 126, 127, 128, 129]),
        st.sampled_from([":", ": ", ":  x", ":x", ":\n", ":\n\n", "", " :", ".:", "::"]),
    ),
    st.text(max_size=6),
)


@settings(max_examples=800, deadline=None)
@given(KEYISH, st.integers(0, 3))
def test_a_key_is_found_where_the_key_pattern_matched(text: str, start: int) -> None:
    matched = KEY_PATTERN.match(text, start)
    expected = (matched.group(1), matched.end()) if matched else None
    assert plain_yaml._key_at(text, start) == expected


@settings(max_examples=800, deadline=None)
@given(KEYISH)
def test_a_flow_mappings_key_is_one_the_key_pattern_took(key: str) -> None:
    assert plain_yaml._is_key(key) == (KEY_PATTERN.fullmatch(key + ":") is not None)


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="0123456789 .,[]-²١\n", max_size=30) | st.text(max_size=10))
def test_a_text_holds_at_most_half_its_length_in_digit_runs(text: str) -> None:
    """cli/spec_loader.py load_file counts digit runs only in a text long enough to hold more
    than the limit: (n + 1) // 2 bounds the runs of n characters."""
    assert len(re.findall(r"[0-9]+", text)) <= (len(text) + 1) // 2
