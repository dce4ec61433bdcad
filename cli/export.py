"""``--export FILE.html|FILE.svg``: the table report as one self-contained file to share.

The report is drawn a second time, in color, on a recording Rich console
whatever standard output is (a pipe, ``--no-color``, ``NO_COLOR``, a dumb
terminal), so that the file keeps the heatmaps; standard output gets the usual
report.  ``gradcalc run``/``examples`` put all their specs' reports in one file.
Only imported when ``--export`` is given.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.console import Console

from gradcalc.cli.errors import fail
from gradcalc.cli.files import earlier_report, same_file, write_atomically
from gradcalc.cli.safe_text import visible

if TYPE_CHECKING:
    from gradcalc.cli.options import RunOptions
    from gradcalc.cli.render_table import TableRenderer
    from gradcalc.core.outcome import Solution

EXTENSIONS = (".html", ".svg")
# The Rich SVG is as wide as its longest line (lines are never cut), but at least this.
MIN_SVG_COLUMNS = 80


# Written into every export (in its first line or two), and looked for before an existing file
# is replaced: only an empty file or an earlier export of the same type is replaced without
# --force (cli/files.earlier_report, the rule of check's reports too).
MARKERS = {
    ".html": '<meta name="generator" content="gradcalc export">',
    ".svg": "<!-- generator: gradcalc export -->",
}


def check_export(
    command: str, options: RunOptions, *, listing: bool = False, inputs: Sequence[str] = ()
) -> None:
    """Fail with one line (exit 2) when ``--export`` cannot be honoured, before any work is done:
    a wrong type or folder, a file that is one of the ``inputs`` (the specs being read, also
    through a symbolic link), or an existing file that is not an earlier gradcalc export of
    the same type (unless ``--force``)."""
    path = options.export
    if path is None:
        return
    if not path.lower().endswith(EXTENSIONS):
        fail(f"gradcalc {command}: --export: use .html or .svg (got {path!r})")
    if options.output_format != "table":
        fail(
            f"gradcalc {command}: --export writes the table report; "
            f"it cannot be combined with --format {options.output_format}"
        )
    if listing:
        fail(f"gradcalc {command}: --export needs a problem NAME (the list is not a report)")
    if os.path.isdir(path):
        fail(f"gradcalc {command}: --export: {path!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"gradcalc {command}: --export: no folder {os.path.dirname(path)!r} to write into")
    spec_path = options.spec_path
    for spec in (*inputs, *([spec_path] if spec_path else [])):
        if same_file(path, spec):  # even with --force: the spec would be lost
            which = "read from standard input" if spec == "-" else repr(spec)
            fail(
                f"gradcalc {command}: --export: {path!r} is the spec {which}; "
                "give the report another file name"
            )
    if os.path.isfile(path) and not options.force and not _earlier_export(path):
        kind = "an HTML" if path.lower().endswith(".html") else "an SVG"
        fail(
            f"gradcalc {command}: --export: {path!r} exists and is not {kind} report of "
            "gradcalc's; use --force to replace it"
        )


def _earlier_export(path: str) -> bool:
    """Empty, or starting like an export of gradcalc's of the type its name says."""
    marker = MARKERS[os.path.splitext(path)[1].lower()].encode()
    return earlier_report(path, lambda head: marker in head)


_FONT_FACE = re.compile(r"@font-face\s*\{[^}]*\}\s*")


class Report:
    """Reports recorded in color, saved as one HTML or SVG file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.titles: list[str] = []
        # One shading legend for the whole file, under its first shaded matrix.
        self.legend_shown = False
        # Truecolor on a terminal that is not there: the file has every color whatever
        # stdout is; no_color=False overrides NO_COLOR, which is about stdout.
        self.console = Console(
            record=True,
            file=io.StringIO(),
            force_terminal=True,
            color_system="truecolor",
            no_color=False,
            highlight=False,
            emoji=False,
            width=MIN_SVG_COLUMNS,
        )

    def add(self, renderer: TableRenderer, solution: Solution, command: str) -> None:
        """Record one report: the one ``renderer`` printed, redrawn in color."""
        if self.titles:
            self.console.print()
        self.titles.append(
            f"gradcalc {command}" + (f" — {solution.title}" if solution.title else "")
        )
        twin = renderer.colored_copy(self.console)
        twin.legend_shown = self.legend_shown
        twin.render(solution, command)
        self.legend_shown = twin.legend_shown

    def document(self) -> str:
        """The HTML page or SVG image of everything recorded."""
        title = self.titles[0] if len(self.titles) == 1 else f"gradcalc: {len(self.titles)} reports"
        title = visible(" ".join(title.split()))  # one line, no control characters
        if self.path.lower().endswith(".svg"):
            longest = max(
                cell_len(line) for line in self.console.export_text(clear=False).split("\n")
            )
            self.console.width = max(MIN_SVG_COLUMNS, longest)
            # Rich's template fetches Fira Code from a CDN; the file must stand alone, so the
            # @font-face rules go and the text falls back to the reader's monospace font.
            svg = _FONT_FACE.sub("", self.console.export_svg(title=title))
            return f"{MARKERS['.svg']}\n{svg}"
        page = self.console.export_html(inline_styles=True)
        head = f"<head>\n{MARKERS['.html']}\n<title>{escape(title)}</title>"
        return page.replace("<head>", head, 1)

    def save(self, command: str) -> None:
        """Write the file atomically; an unwritable path is one line and exit 2."""
        try:
            write_atomically(self.path, self.document())
        except OSError as error:
            fail(f"gradcalc {command}: --export: cannot write {self.path!r}: {error.strerror}")


def export_report(
    options: RunOptions, renderer: TableRenderer, solution: Solution, command: str
) -> None:
    """Add this report to the file ``--export`` names: to run/examples' shared Report, else
    to a Report of its own, saved at once."""
    shared = options.report
    report = shared if shared is not None else Report(options.export)
    report.add(renderer, solution, command)
    if shared is None:
        report.save(command)
