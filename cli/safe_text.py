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

# Characters that are invisible yet change what is shown: the bidirectional controls (the
# marks U+200E/U+200F/U+061C, the embeddings and overrides U+202A-U+202E, the isolates
# U+2066-U+2069: a right-to-left override in a title reverses the step printed after it),
# the line and paragraph separators U+2028/U+2029 (a line break to some terminals and
# editors), the byte-order mark / zero-width no-break space U+FEFF and the zero-width space
# U+200B.  Written out as \u202e like the controls below, so the reader sees they are there.
INVISIBLE = "\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff"
# C0 controls but the newline and the tab, DEL, C1 controls, lone surrogates (the bytes of a
# file name that are not UTF-8), the non-characters U+FFFE/U+FFFF (not allowed in XML) and
# the invisible characters above.
_UNSAFE = f"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff{INVISIBLE}]"
# What json.dumps(ensure_ascii=False) leaves raw (it escapes C0 itself).
_JSON_UNSAFE = f"[\x7f-\x9f\ud800-\udfff\ufffe\uffff{INVISIBLE}]"


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
    (``\\u…`` beyond U+00FF, also the invisible bidirectional controls and separators,
    :data:`INVISIBLE`): nothing in it can drive a terminal, reorder what is shown or break
    XML, and the reader still sees which character it was."""
    if _plain(text):
        return text
    return _pattern(_UNSAFE).sub(_written_out, text)


def one_line(text: str) -> str:
    """:func:`visible`, with the newline and the tab written out too (``\\x0a``, ``\\x09``):
    for a text that must stay on its line (a file name, a student's name, an error line in a
    report) where a newline could forge the next line, or a tab the next cell."""
    return visible(text).replace("\n", "\\x0a").replace("\t", "\\x09")


def error_text(text: str) -> str:
    """:func:`visible` for an error line printed to the terminal: a tab or newline is written
    out as ``\\t``, ``\\n``, the way ``repr`` writes them in the message's quoted parts, so the
    line stays one line with no raw tab, control or bidirectional character, its field path
    and file name included."""
    return visible(text.rstrip("\n")).replace("\t", "\\t").replace("\n", "\\n")


def json_visible(document: str) -> str:
    """A JSON text with DEL, C1 controls, lone surrogates and :data:`INVISIBLE` escaped as
    ``\\u007f`` …: the same JSON values, safe on a terminal.  (These characters can only occur
    inside strings.)"""
    if _plain(document):
        return document
    return _pattern(_JSON_UNSAFE).sub(lambda m: f"\\u{ord(m.group()):04x}", document)
