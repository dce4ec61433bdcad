"""A table report's Rich Text: built in one piece (:class:`Canvas`) and printed, writing
what Rich writes with less of Rich's work.

Rich prints a Text with soft wrapping in three steps: it splits the Text into a Text per
line (to wrap them: with no width to wrap to, it only expands tabs), joins them again, and
cuts the result into segments, each written with its style's escape codes.  For a report of
a thousand lines that is a tenth of a second; the two shortcuts here give the same bytes.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import COLOR_SYSTEMS, Console
from rich.style import Style
from rich.text import Span, Text

from gradcalc.cli.fit import Piece, plain
from gradcalc.cli.safe_text import has_unsafe, visible


class Canvas:
    """Accumulates a report's pieces (plain text, or (text, Rich style)) line by line;
    becomes its plain text, or one Rich Text, at the end.

    Appending to a Rich ``Text`` costs microseconds per call; collecting the pieces and
    building the Text once keeps rendering a few ms.  The pieces are kept as they come (a
    report writes thousands; a plain report, the usual one, never needs their spans) and
    read once at the end: their text by :meth:`plain`, their spans only by :meth:`text`.
    """

    def __init__(self) -> None:
        self.pieces: list[Piece] = []  # every piece written, "\n" between lines
        self.started = False  # whether any text is written yet (a line then starts with "\n")

    def clear(self) -> None:
        self.pieces.clear()
        self.started = False

    def write(self, *pieces: Piece) -> None:
        self.pieces += pieces
        if not self.started:
            self.started = _has_text(pieces)

    def line(self, *pieces: Piece) -> None:
        if self.started:
            self.pieces.append("\n")
            self.pieces += pieces
        else:
            self.pieces += pieces
            self.started = _has_text(pieces)

    def joined(self) -> str:
        """The accumulated text without styles, as written (control characters raw)."""
        return plain(self.pieces)

    def plain(self) -> str:
        """The accumulated text without styles, as :meth:`text` holds it."""
        joined = self.joined()
        return visible(joined) if has_unsafe(joined) else joined

    def _parts_and_spans(self) -> tuple[list[str], list[tuple[int, int, str]]]:
        """The pieces' texts, and a (start, end, style) span for each styled piece that has
        text."""
        parts: list[str] = []
        spans: list[tuple[int, int, str]] = []
        length = 0
        for piece in self.pieces:
            if isinstance(piece, str):
                parts.append(piece)
                length += len(piece)
                continue
            text, style = piece
            if style and text:
                spans.append((length, length + len(text), style))
            parts.append(text)
            length += len(text)
        return parts, spans

    def text(self) -> Text:
        """The accumulated text, with any control character from a spec written out as
        ``\\x1b`` (cli/safe_text.py): every table report, and the exports, pass here."""
        parts, raw_spans = self._parts_and_spans()
        joined = "".join(parts)
        if not has_unsafe(joined):
            return Text(joined, spans=list(map(Span._make, raw_spans)))
        # Rare: escaping lengthens pieces, so the spans (each covers one whole piece) move.
        new_start: dict[int, int] = {}
        shown_parts: list[str] = []
        old = new = 0
        for part in parts:
            shown = visible(part)
            new_start.setdefault(old, new)
            shown_parts.append(shown)
            old, new = old + len(part), new + len(shown)
        new_start[old] = new
        spans = [Span(new_start[start], new_start[end], style) for start, end, style in raw_spans]
        return Text("".join(shown_parts), spans=spans)


def _has_text(pieces: Sequence[Piece]) -> bool:
    return any(piece if isinstance(piece, str) else piece[0] for piece in pieces)


def print_report(console: Console, text: Text, *, direct: bool, unstyled: bool) -> None:
    """Print ``text`` and a newline on ``console``, as ``console.print(text, soft_wrap=True)``.

    ``direct``: the console is gradcalc's own for standard output (cli/render.py), which
    nothing captures or records.  There, when Rich would write no style (no color system: a
    pipe, a file, TERM=dumb; or ``unstyled``, --no-color's text without spans) and there is
    no tab for it to expand, what it writes is the text and a newline, written here directly
    (:func:`writes_plain`).  Otherwise Rich prints it without the splitting step where that
    changes nothing (:class:`_Unwrapped`)."""
    plain = text.plain
    if not writes_plain(console, plain, direct=direct, unstyled=unstyled):
        console.print(_Unwrapped.of(text), soft_wrap=True)
        return
    write_plain(console, plain)


def writes_plain(console: Console, plain: str, *, direct: bool, unstyled: bool) -> bool:
    """Whether :func:`print_report` writes a report whose text is ``plain`` as it is: then
    the caller may write it with :func:`write_plain` without making its Rich Text at all
    (Rich's Text scans the whole report for control codes as it is made: a net's report
    has none left, cli/safe_text.py wrote them out)."""
    return _written_at_once(console, plain, direct=direct) and (
        unstyled or console.color_system is None
    )


def _written_at_once(console: Console, plain: str, *, direct: bool) -> bool:
    """Whether Rich would write a report whose text is ``plain`` on ``console`` at once, as
    it is but for styles: gradcalc's own console (``direct``) that nothing records, captures
    or quiets, off Windows, and no tab for Rich to expand."""
    return (
        direct
        and not (console.record or console.is_jupyter or console.quiet)
        and sys.platform != "win32"  # Rich writes in batches there (a Windows bug)
        and "\t" not in plain
    )


def write_plain(console: Console, plain: str) -> None:
    """``plain`` and a newline on the console's file, as Rich writes an unstyled Text."""
    try:
        console.file.write(plain + "\n")
        console.file.flush()
    except UnicodeEncodeError as error:  # as Rich says it
        error.reason = f"{error.reason}\n*** You may need to add PYTHONIOENCODING=utf-8 to your environment ***"
        raise
    except BrokenPipeError:
        console.on_broken_pipe()


def write_styled(console: Console, canvas: Canvas, plain: str, *, direct: bool) -> bool:
    """Write the report on ``canvas`` (whose plain text is ``plain``) and a newline on the
    console's file, each styled piece in its escape codes, as :func:`print_report` writes
    its Text in color; or write nothing and return False where that could differ.

    Rich cuts a Text into a segment at every span's start and end and renders each segment's
    style (Text.render, Console._render_buffer); a canvas's spans are its styled pieces, one
    each, none overlapping, so the segments are the pieces themselves, and each is written here
    with the very Style Rich would use (the Text's own empty style combined with the piece's).
    That skips making the Text and its segments (a tenth of a net report's time).  Taken only
    where :class:`_Unwrapped` prints the Text (no tab, no styled line break) on gradcalc's own
    console (``direct``: nothing records or captures it), in color (``no_color`` removes
    colors segment by segment), off Windows (Rich writes in batches there), and without a
    control character from a spec (the Text writes those out: cli/safe_text.py)."""
    if not (
        _written_at_once(console, plain, direct=direct)
        and console.color_system is not None
        and not console.no_color
        and not has_unsafe(canvas.joined())
    ):
        return False
    color_system = COLOR_SYSTEMS[console.color_system]
    base = console.get_style("", default=Style.null())  # the Text's own style
    styles: dict[str, Style] = {}
    written: list[str] = []
    for piece in canvas.pieces:
        if isinstance(piece, str):
            written.append(piece)
            continue
        text, name = piece
        if not (text and name):  # no span: written as it is
            written.append(text)
            continue
        if "\n" in text:
            return False
        style = styles.get(name)
        if style is None:
            style = styles[name] = Style.combine(
                (base, console.get_style(name, default=Style.null()))
            )
        written.append(style.render(text, color_system=color_system) if style else text)
    write_plain(console, "".join(written))
    return True


class _Unwrapped:
    """A report Rich prints as it prints its Text with soft wrapping, without the wrapping
    step: with no width to wrap to, that step splits the Text into a Text per line and joins
    them again (a few microseconds a line, a tenth of a second for a net's report), which
    changes nothing when no tab is to be expanded and no style covers a line break (so the
    segments, hence the escape codes, are the same).  Otherwise the Text itself is printed."""

    def __init__(self, text: Text) -> None:
        self.text = text

    @classmethod
    def of(cls, text: Text) -> _Unwrapped | Text:
        plain = text.plain
        if "\t" in plain or text.style or text.end != "\n":
            return text
        if any("\n" in plain[span.start : span.end] for span in text.spans):
            return text
        return cls(text)

    def __rich_console__(self, console: Console, options: Any) -> Iterable[Any]:
        return self.text.render(console, end="\n")
