"""Patterns made cheaper to compile at start-up, and a leaner loop, find what was found
before: the number rule without U+2212 (core/values.py, for text with no U+2212), the
break finder's brackets in two classes and its word breaks (cli/fit.py), the surrogate
found by encoding (cli/spec_loader.py)."""

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


def _word_breaks_as_before(text: str) -> list[tuple[int, int, int]]:
    """cli/fit.py word_breaks as it was written before its loop was made leaner."""
    breaks = []
    indent = len(text) - len(text.lstrip(" "))
    depth, word_start = 0, indent
    for found in re.compile(r"[([{⌈⌊)\]}⌉⌋]| +").finditer(text, indent):
        char = found.group()
        if char in fit.OPENING:
            depth += 1
            continue
        if char in fit.CLOSING:
            depth = max(0, depth - 1)
            continue
        end, i = found.span()
        word, word_start = text[word_start:end], i
        if i < len(text) and not (len(word) == 1 and word in fit.LONE_OPERATORS):
            before_operator = text[i] in fit.LONE_OPERATORS and text[i + 1 : i + 2] in ("", " ")
            breaks.append((end, i, 3 if depth else 2 if before_operator else 1))
    return breaks


WORDISH = st.text(alphabet="([{⌈⌊)]}⌉⌋    +−=·×→<>≤≥ab1x_∂", max_size=60)


@given(WORDISH)
def test_word_breaks_are_the_ones_found_before(text: str) -> None:
    assert fit.word_breaks(text) == _word_breaks_as_before(text)
