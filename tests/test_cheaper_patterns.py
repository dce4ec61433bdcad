"""Patterns made cheaper to compile at start-up match what the patterns they replace
matched: the number rule without U+2212 (core/values.py, for text with no U+2212), the
break finder's brackets in two classes (cli/fit.py), the surrogate found by encoding
(cli/spec_loader.py)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from gradcalc.cli import fit, spec_loader
from gradcalc.core import values

NUMBERISH = st.text(alphabet="0123456789+-−./eE _\t1", max_size=14)


@given(NUMBERISH)
def test_the_ascii_sign_number_rule_matches_as_the_full_one_without_u2212(text: str) -> None:
    ascii_text = text.replace("\u2212", "-")
    full = re.compile(values.NUMBER_TEXT_PATTERN).match(ascii_text)
    cheap = values._ASCII_SIGN_NUMBER_TEXT.match(ascii_text)
    assert (full and full.groups()) == (cheap and cheap.groups())


BREAKISH = st.text(alphabet="([{⌈⌊)]}⌉⌋ +−=·ab1", max_size=30)


@given(BREAKISH)
def test_the_bracket_or_spaces_finder_finds_what_one_class_found(text: str) -> None:
    one_class = re.compile(r"[([{⌈⌊)\]}⌉⌋]| +")
    found = [m.span() for m in fit._BRACKET_OR_SPACES.finditer(text)]
    assert found == [m.span() for m in one_class.finditer(text)]


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xE000), max_size=20))
def test_the_first_surrogate_is_the_one_the_pattern_found(text: str) -> None:
    found = re.compile("[\ud800-\udfff]").search(text)
    assert spec_loader._first_surrogate(text) == (found[0] if found else None)
