"""Regular expressions compiled on first use, not at import.

Compiling a pattern costs 0.05-0.5 ms (more with ranges beyond U+00FF), and the modules
every command imports hold dozens that a run seldom needs (hexadecimal and sexagesimal
numbers, inline matrices, --focus targets, "2x1" pairs).  A :class:`LazyPattern` stands
where the compiled pattern would; its first use compiles it.
"""

from __future__ import annotations

import re
from typing import Any

# What a pattern is used for; each is copied into the instance's dict at the first use, so
# later uses find it there directly, as fast as on the compiled pattern itself.
_ATTRIBUTES = (
    "match",
    "fullmatch",
    "search",
    "sub",
    "subn",
    "split",
    "findall",
    "finditer",
    "pattern",
    "flags",
    "groups",
    "groupindex",
)


class LazyPattern:
    """``re.compile(pattern, flags)``, compiled the first time one of its attributes is
    read (``LazyPattern(r"[0-9]+").fullmatch(text)``)."""

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._source = (pattern, flags)

    def __getattr__(self, name: str) -> Any:
        compiled = re.compile(*self._source)
        for attribute in _ATTRIBUTES:
            self.__dict__[attribute] = getattr(compiled, attribute)
        return getattr(compiled, name)
