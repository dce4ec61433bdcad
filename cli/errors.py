"""How the command line reports what went wrong: one line on standard error.

A command that cannot go on calls ``fail(message)``: it raises ``Failure``, which the one
boundary (``LazyGroup.main`` in cli/main.py) prints and turns into the exit status; ``gradcalc
run`` catches it per spec (cli/problem_command.py) so that the other specs still run.
"""

from __future__ import annotations

import errno
from typing import Any, NoReturn

import click

from gradcalc.core.errors import GradcalcError, SpecError, format_path
from gradcalc.core.outcome import ExitStatus


class Failure(Exception):
    """A command stops: ``message`` is its one line on standard error, ``status`` its exit."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def fail(message: str, status: ExitStatus = ExitStatus.ERROR) -> NoReturn:
    """Stop the command with one line on standard error (printed by the boundary)."""
    raise Failure(message, status)


def echo_error(message: str) -> None:
    """Print an error line on stderr, one line with its control, tab, newline and bidirectional
    characters written out (a file name, a spec's key or text may hold an escape sequence or a
    right-to-left override); a stderr that cannot be written is left be."""
    from gradcalc.cli.safe_text import error_text

    try:
        click.echo(error_text(message), err=True)
    except OSError:
        pass


def error_line(error: GradcalcError, loaded: Any) -> str:
    """``FILE:LINE:COL: field: message`` for any error the core or loader raised; ``loaded``
    (a LoadedSpec, or None before the spec is read) turns a field path into its position."""
    from gradcalc.cli.spec_loader import SpecFileError

    if isinstance(error, SpecFileError):
        return str(error)
    if isinstance(error, SpecError):
        where = loaded.where(error.path, at_key=error.at_key) if loaded is not None else "<spec>"
        field = f"{format_path(error.path)}: " if error.path else ""
        return f"{where}: {field}{error.message}"
    return f"gradcalc: {error}"


# How writing to standard output fails: a full disk or /dev/full, an I/O error, a file too
# large, a closed or non-blocking descriptor.  (Errors about named files carry the file name.)
_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF, errno.EAGAIN, errno.EPIPE}
)


def is_output_error(error: BaseException) -> bool:
    """``error`` is standard output failing, not a bug."""
    return isinstance(error, OSError) and error.errno in _WRITE_ERRNOS and error.filename is None
