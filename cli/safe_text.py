"""Text from a spec, a file name or a submission, made safe to print.

A title such as ``"\\x1b]52;c;…\\x07"`` would otherwise reach the reader's terminal as an
escape sequence (clear the screen, set the window title, write the clipboard), and the
same bytes make an SVG export invalid XML.  Every renderer's text path and every error
line pass their text through :func:`visible`; JSON goes through :func:`json_visible`.
No Rich or Click here: error lines import this module too.
"""

from __future__ import annotations

import re
from functools import cache

# C0 controls but the newline and the tab, DEL, C1 controls, lone surrogates (the bytes of a
# file name that are not UTF-8) and the non-characters U+FFFE/U+FFFF (not allowed in XML).
_UNSAFE = "[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]"
# What json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself).
_JSON_UNSAFE = "[\x7f-\x9f\ud800-\udfff\ufffe\uffff]"


@cache
def _pattern(expression: str) -> re.Pattern[str]:
    return re.compile(expression)  # compiled on first use: not at start-up


def _written_out(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _plain(text: str) -> bool:
    """True for text with nothing to escape, known without compiling a pattern (the usual case:
    compiling one with ranges beyond U+00FF costs half a millisecond of start-up)."""
    return text.replace("\n", "").replace("\t", "").isprintable()


def has_unsafe(text: str) -> bool:
    """True when :func:`visible` would change ``text``."""
    return not _plain(text) and _pattern(_UNSAFE).search(text) is not None


def visible(text: str) -> str:
    """``text`` with every control character but newline and tab written out as ``\\x1b``
    (``\\u…`` beyond U+00FF): nothing in it can drive a terminal or break XML, and the
    reader still sees which character it was."""
    if _plain(text):
        return text
    return _pattern(_UNSAFE).sub(_written_out, text)


def one_line(text: str) -> str:
    """:func:`visible`, with the newline and the tab written out too (``\\x0a``, ``\\x09``):
    for a text that must stay on its line (a file name, a student's name, an error line in a
    report) where a newline could forge the next line, or a tab the next cell."""
    return visible(text).replace("\n", "\\x0a").replace("\t", "\\x09")


def json_visible(document: str) -> str:
    """A JSON text with DEL, C1 controls and lone surrogates escaped as ``\\u007f`` …: the same
    JSON values, safe on a terminal.  (These characters can only occur inside strings.)"""
    if _plain(document):
        return document
    return _pattern(_JSON_UNSAFE).sub(lambda m: f"\\u{ord(m.group()):04x}", document)
