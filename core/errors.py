"""The few named exceptions the core raises.

Every error about a spec carries the *field path* of the value at fault, e.g.
``("padding", 2)`` or ``("expected", "grad_kernel")``.  The CLI turns that path
into ``FILE:LINE:COL`` at one boundary; the core never sees files.
"""

from __future__ import annotations

FieldPath = tuple[str | int, ...]


def format_path(path: FieldPath) -> str:
    """``("expected", "grad_kernel", 1)`` -> ``expected.grad_kernel[1]``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<spec>"


class GradcalcError(Exception):
    """Base class of every error gradcalc reports as one clean line."""


class SpecError(GradcalcError):
    """A value in the spec is wrong.

    ``path`` locates the value; ``at_key`` says the error is about the key
    itself (an unknown or duplicate key), so the position shown is the key's.
    """

    def __init__(self, path: FieldPath, message: str, *, at_key: bool = False):
        super().__init__(message)
        self.path: FieldPath = tuple(path)
        self.message = message
        self.at_key = at_key

    def __str__(self) -> str:
        return f"{format_path(self.path)}: {self.message}"


class ShapeError(SpecError):
    """An answer has the wrong shape for its result (a list of 2 for 3 partials): in a
    submission that is a wrong answer, not a broken file."""


class LimitError(SpecError):
    """The spec is valid but larger than a documented limit allows."""


class FocusError(GradcalcError):
    """``--focus`` names no element of the problem (bad syntax, unknown array, index out of
    range), or the kind has no sliding window to draw.  The message says what is allowed."""


class LayerError(GradcalcError):
    """``--layer`` names no layer of the net.  The message lists the layers (and the closest
    name); the name given is quoted with repr, so no character of it reaches the terminal raw."""
