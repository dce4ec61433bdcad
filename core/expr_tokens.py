"""The tokenizer of core/expr_parse.py: an expression's text cut into numbers, names and
operators, every other character refused with the reason (no brackets, quotes, attribute
access, names starting with '_', Python keywords, number forms YAML or Python would read
otherwise).
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass

# Characters students paste from typeset maths, read as the operator they mean.
_LOOKALIKES = {"−": "-", "·": "*", "×": "*", "⋅": "*"}
NUMBER = re.compile(r"([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")
_DIGITS = frozenset("0123456789")
ALLOWED_TEXT = "numbers, names, + - * / ** ^ ( ) and commas"


@dataclass(eq=False)
class Token:
    kind: str  # "number", "name", "op" or "end"
    text: str
    start: int  # 0-based character offset


class ExpressionError(Exception):
    """Raised inside the parser; becomes a SpecError with the field path."""

    def __init__(self, message: str, start: int, *, limit: bool = False):
        super().__init__(message)
        self.message = message
        self.start = start
        self.limit = limit


def _refused_number(text: str, start: int, end: int) -> str | None:
    """Why the number at ``text[start:end]`` is refused, as everywhere in gradcalc
    (core/values.py): ``010`` (octal in YAML 1.1), ``0x1F``, ``0b1``, ``0o7``, ``1_000``."""
    from gradcalc.core.values import number_form_problem

    token = text[start:end]
    following = text[end : end + 2]
    if (token == "0" and following[:1] in tuple("xXoObB") and following[1:].isalnum()) or (
        following[:1] == "_" and following[1:].isdigit()
    ):
        while end < len(text) and (text[end].isalnum() or text[end] == "_"):
            end += 1
        return number_form_problem(text[start:end])
    if token.isdigit() and token[0] == "0" and len(token) > 1:
        return number_form_problem(token)
    return None


def tokenize(text: str) -> list[Token]:
    """Cut ``text`` into tokens, refusing every character outside the language."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
            continue
        if char in _DIGITS or (char == "." and i + 1 < n and text[i + 1] in _DIGITS):
            match = NUMBER.match(text, i)
            assert match is not None
            if match.end() < n and text[match.end()] == ".":
                raise ExpressionError("a number has at most one decimal point", match.end())
            refused = _refused_number(text, i, match.end())
            if refused is not None:
                raise ExpressionError(refused, i)
            tokens.append(Token("number", match.group(0), i))
            i = match.end()
            continue
        if char.isalpha() or char == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            name = text[i:j]
            if name.startswith("_"):
                raise ExpressionError(f"names starting with '_' are not allowed ({name!r})", i)
            if keyword.iskeyword(name) or keyword.issoftkeyword(name):
                raise ExpressionError(
                    f"{name!r} is a Python keyword; an expression is arithmetic only", i
                )
            if not name.isidentifier():
                raise ExpressionError(f"{name!r} is not a valid name", i)
            tokens.append(Token("name", name, i))
            i = j
            continue
        two = text[i : i + 2]
        if two in ("**", "=="):
            tokens.append(Token("op", two, i))
            i += 2
            continue
        if char in "+-*/^(),=":
            tokens.append(Token("op", char, i))
            i += 1
            continue
        if char in _LOOKALIKES:
            tokens.append(Token("op", _LOOKALIKES[char], i))
            i += 1
            continue
        raise ExpressionError(_refusal(char, tokens), i)
    tokens.append(Token("end", "", n))
    return tokens


def _refusal(char: str, tokens: list[Token]) -> str:
    """Why ``char`` cannot appear, in words."""
    previous = tokens[-1] if tokens else None
    if char == ".":
        if previous is not None and (previous.kind == "name" or previous.text == ")"):
            return "attribute access ('.') is not allowed"
        return "'.' is only allowed inside a number such as 0.5"
    if char in "[]":
        return "brackets [ ] are not allowed (no indexing or lists); use ( ) to group"
    if char in "{}":
        return "braces { } are not allowed; use ( ) to group"
    if char in "'\"`":
        return "quotes are not allowed: an expression holds no text"
    if char == ";":
        return "';' is not allowed: give one expression"
    if char in "@%&|~<>!:#$?\\":
        return f"{char!r} is not an operator here; allowed: {ALLOWED_TEXT}"
    if not char.isprintable():
        return f"the character {char!r} (U+{ord(char):04X}) is not allowed"
    return f"the character {char!r} is not allowed; allowed: {ALLOWED_TEXT}"
