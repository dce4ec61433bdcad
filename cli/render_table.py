"""Render a Solution for the terminal with Rich: headings, matrices, worked sums, checks.

The whole report is built as one styled :class:`rich.text.Text` and printed
once with soft wrapping: Rich's ``Table`` layout costs tens of milliseconds
per table, which would dominate a homework-sized run.  Grids are aligned by
cli/fit.py's ``grid`` instead.  Every line fits the renderer's ``width`` (the
console's; None: no limit, as in the exports and Markdown's text blocks): grids
too wide split into blocks of columns, long equations and sentences wrap
(cli/fit.py).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from rich.console import Console
from rich.text import Text

from gradcalc.cli import fit
from gradcalc.cli.fit import grid
from gradcalc.cli.heat import HEAT_LEGEND, HEATMAP_ROLES, LEGEND_SWATCHES, heat_peak, heat_style
from gradcalc.cli.numbers import NumberStyle, has_formulas
from gradcalc.cli.report_output import (
    Canvas,
    print_report,
    write_plain,
    write_styled,
    writes_plain,
)
from gradcalc.core.explain import (
    Formula,
    Math,
    Matrix,
    Note,
    Picture,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
    result_role,
)
from gradcalc.core.outcome import Check, Solution

# Which result arrays the "results" section shows, in order.
RESULT_ORDER = (
    "output",
    "loss",
    "probabilities",
    "grad_input",
    "grad_kernel",
    "grad_weight",
    "grad_bias",
    "argmax",
)


def shown_results(results: dict) -> list[str]:
    """The result names the results section shows: RESULT_ORDER's, then a net's per-layer
    results (``conv1.output``, ``fc.grad_weight``) in the order the run made them."""
    return [name for name in RESULT_ORDER if name in results] + [
        name for name in results if "." in name
    ]


RULE_WIDTH = 72
# A matrix larger than this is shown in part (unless --steps all); JSON always has all of it.
MAX_GRID_ROWS = 32
MAX_GRID_COLUMNS = 24
MAX_SLICES = 8

Piece = fit.Piece  # plain text, or (text, Rich style)


# How a focus picture writes a cell outside the array (core/ops/windows.py WHERE).
OUTSIDE_MARKS = {"padding": "·", "beyond": "×"}


def picture_cell(number: Any, value: Any, marked: bool) -> tuple[str, str]:
    """One cell of a focus picture: ``[5]`` marked, `` 5 `` not (so the digits align),
    ``·``/``[·]`` for padding and ``×``/``[×]`` past the padded edge."""
    outside = isinstance(value, str) and value in OUTSIDE_MARKS
    text = OUTSIDE_MARKS[value] if outside else number(value)
    if marked:
        return (f"[{text}]", "bold magenta" if outside else "bold yellow")
    return (f" {text} ", "dim" if outside else "")


class TableRenderer:
    """Walks the explanation model and prints it on a Rich console."""

    def __init__(
        self,
        console: Console,
        style: NumberStyle,
        sections: frozenset[str] | None,
        *,
        truncate: bool = True,
        plain: bool = False,
        width: int | None = None,
        direct: bool = False,
    ):
        self.width = width  # every line fits this many cells (None: no limit)
        # The console is gradcalc's own for standard output (cli/render.py): nothing captures
        # or records it, so unstyled output may go straight to its file (see print_text).
        self.direct = direct
        self.plain = plain  # --no-color: no styles at all, not even bold
        self.console = console
        self.style = style
        self.sections = sections
        self.truncate = truncate
        self.canvas = Canvas()
        # Heatmaps only where color reaches the reader: not for --no-color, NO_COLOR,
        # TERM=dumb or a pipe (Rich then has no color system).
        # (console is None when the Markdown renderer borrows this layout, always plain.)
        self.heat = not plain and console.color_system is not None and not console.no_color
        self.standard_colors = self.heat and console.color_system in ("standard", "windows")
        self.legend_shown = False

    def colored_copy(self, console: Console) -> TableRenderer:
        """The same report settings drawing in color on ``console`` (for ``--export``)."""
        twin = copy.copy(self)
        twin.console, twin.canvas, twin.plain, twin.heat = console, Canvas(), False, True
        twin.direct = False
        twin.width = None  # an export is as wide as its lines (docs/output.md)
        twin.standard_colors, twin.legend_shown = False, False
        return twin

    def wants(self, key: str) -> bool:
        return self.sections is None or key in self.sections

    def line(self, *pieces: Piece) -> None:
        """A line of words, wrapped at spaces (a hanging indent) when wider than the width."""
        if self.width is not None:
            text = fit.plain(pieces)
            if fit.cells(text) > self.width:  # (most lines fit: written as they are)
                for part in fit.wrap_words(pieces, self.width, text):
                    self.canvas.line(*part)
                return
        self.canvas.line(*pieces)

    def equation(self, pieces: Sequence[Piece], indent: int) -> None:
        """A line of an equation, wrapped before its operators (continuations ``indent``
        cells in) when wider than the width."""
        if self.width is not None:
            text = fit.plain(pieces)
            if fit.cells(text) > self.width:  # (most lines fit: written as they are)
                for part in fit.wrap_equation(pieces, self.width, indent, text):
                    self.canvas.line(*part)
                return
        self.canvas.line(*pieces)

    def rule(self, title: str) -> None:
        self.line()
        width = RULE_WIDTH if self.width is None else min(RULE_WIDTH, self.width)
        dashes = max(3, width - len(title) - 4)
        if self.width is not None and fit.cells(f"── {title} ") + dashes > self.width:
            dashes = max(0, self.width - fit.cells(f"── {title} "))  # a long title: fewer
        self.line((f"── {title} ", "bold cyan"), ("─" * dashes, "dim"))

    # numbers and symbols ---------------------------------------------------
    def num(self, value: Any) -> str:
        return self.style.format(value)

    def cell(self, value: Any) -> str:
        if isinstance(value, Symbol):
            return value.text
        return self.num(value)

    # (Lists, not generators, joined: join makes a list of a generator anyway, and a sum of
    # products writes hundreds of products.)
    def product_symbols(self, product: Product) -> str:
        return "·".join([symbol.text for symbol, _ in product.factors])

    def product_numbers(self, product: Product) -> str:
        if len(product.factors) == 1:
            return self.style.format(product.factors[0][1])
        factor = self.style.factor
        return "·".join([factor(value) for _, value in product.factors])

    @staticmethod
    def joined(parts: Iterable[str]) -> str:
        """Terms joined by + (a negative single number is written as − 3)."""
        text = ""
        for part in parts:
            if not text:
                text = part
            elif part.startswith("−"):
                text += " − " + part[1:]
            else:
                text += " + " + part
        return text

    # top level ---------------------------------------------------------------
    def render(self, solution: Solution, command: str) -> None:
        heading = f"gradcalc {command}"
        if solution.title:
            heading += f" — {solution.title}"
        self.line((heading, "bold"))
        self.line(("═" * min(RULE_WIDTH, len(heading), self.width or RULE_WIDTH), "dim"))
        if self.wants("problem"):
            self.line(("Conventions", "bold"))
            for convention in solution.conventions:
                self.line("  • " + self.style.sentence(convention))
        for section in solution.sections:
            self.render_section(section)
        if self.wants("results"):
            self.render_results(solution)
        if self.wants("checks"):
            self.render_checks(solution)
        plain = self.canvas.plain()
        if writes_plain(self.console, plain, direct=self.direct, unstyled=self.plain):
            write_plain(self.console, plain)  # the same bytes, without making a Rich Text
            return
        if write_styled(self.console, self.canvas, plain, direct=self.direct and not self.plain):
            return  # the same bytes, in color, without making a Rich Text
        text = self.canvas.text()
        if self.plain:
            text = Text(text.plain)
        self.print_text(text)

    def print_text(self, text: Text) -> None:
        """Print the report on the console, as Rich prints it with soft wrapping."""
        print_report(self.console, text, direct=self.direct, unstyled=self.plain)

    def render_section(self, section: Section) -> None:
        self.rule(section.title)
        for item in section.placed():
            if isinstance(item, int):  # rows left out here by the --steps cap
                plural = "s" if item != 1 else ""
                self.line(
                    (
                        f"… {item} more row{plural} not shown (show them with --steps all, or --steps N)",
                        "dim",
                    )
                )
            else:
                self.item(item)

    def item(self, item: Any) -> None:
        if isinstance(item, Note):
            self.line(self.style.sentence(item))
        elif isinstance(item, Formula):
            self.formula(item)
        elif isinstance(item, SumOfProducts):
            self.sum_of_products(item)
        elif isinstance(item, Matrix):
            self.matrix(item)
        elif isinstance(item, SymbolTable):
            self.symbol_table(item)
        elif isinstance(item, Math):
            self.line((f"{item.label}: ", "bold"), item.latex)  # LaTeX reads a break as a space
        elif isinstance(item, Picture):
            self.picture(item)
        else:
            raise TypeError(f"no renderer for {type(item).__name__}")

    def formula(self, formula: Formula) -> None:
        numeric = "".join(
            piece if isinstance(piece, str) else self.num(piece) for piece in formula.numeric
        )
        value = formula.value if isinstance(formula.value, str) else self.num(formula.value)
        self.equation([(formula.symbolic, "bold")], fit.first_term_column(formula.symbolic) or 4)
        # A value with no working (a single number shown as a formula): "= value", not "=  = value".
        self.equation([f"    = {numeric} = " if numeric else "    = ", (value, "bold green")], 6)

    def sum_of_products(self, step: SumOfProducts) -> None:
        target = step.target.text
        pad = " " * (len(target) + 1)
        symbolic_terms = [self.product_symbols(p) for p in step.terms]
        numeric_terms = [self.product_numbers(p) for p in step.terms]
        if step.omitted:  # the sum is cut here: say so where it is cut
            symbolic_terms.append("…")
            numeric_terms.append("…")
        if step.constant is not None:
            symbolic_terms.append(step.constant[0].text)
            numeric_terms.append(self.num(step.constant[1]))
        value: Piece = (self.num(step.value), "bold green")
        right_sides: list[list[Piece]] = [[step.general]] if step.general else []
        if symbolic_terms:
            right_sides.append([" + ".join(symbolic_terms)])
            right_sides.append([self.joined(numeric_terms), " = ", value])
        else:
            right_sides.append([value])
        lines = [[(target, "bold"), " = ", *right_sides[0]]]
        lines += [[f"{pad}= ", *right] for right in right_sides[1:]]
        under = False  # the notes under the value, where beside it is too wide
        if step.notes:  # (measured only when there are notes to place)
            note: Piece = (f"   ({step.notes})", "dim")
            if self.width is None or fit.cells(fit.plain([*lines[-1], note])) <= self.width:
                lines[-1].append(note)
            else:
                under = True
        indent = fit.cells(target) + 3
        for line in lines:
            self.equation(line, indent)
        if under:
            self.line((f"{pad}  ({step.notes})", "dim"))

    def matrix(self, matrix: Matrix, marks: dict[tuple[int, ...], Piece] | None = None) -> None:
        """A labelled grid; arrays with more than 2 axes print one grid per leading index."""
        values = np.asarray(matrix.values)  # not converted as a whole: it may be large
        base = matrix.index_base
        if values.ndim == 0:
            self.equation([(f"{matrix.label} = ", "bold"), self.num(values[()])], 4)
            return
        shaped = values.reshape(1, -1) if values.ndim == 1 else values
        lead_shape = shaped.shape[:-2]
        lead_names = matrix.axis_names[: len(lead_shape)]
        # Every leading index in order (np.ndindex's order, without its array machinery).
        slices = list(itertools.product(*map(range, lead_shape)))
        row_count, column_count = shaped.shape[-2:]
        if self.truncate:
            slices = slices[:MAX_SLICES]
            row_count = min(row_count, MAX_GRID_ROWS)
            column_count = min(column_count, MAX_GRID_COLUMNS)
        heat = self.heat and matrix.role in HEATMAP_ROLES
        if heat:  # relative to what is shown, so that the shades shown span the full range
            peak = heat_peak(shaped[lead][:row_count, :column_count] for lead in slices)
        for lead in slices:
            self.line((_slice_title(matrix.label, lead_names, lead, base), "bold"))
            # (Its entries are read as Python objects by tolist, as astype(object) would make them.)
            block = shaped[lead][:row_count, :column_count]
            cut = column_count < shaped.shape[-1]
            rows = self._grid_rows(
                block, lead, values.ndim, base, marks, peak if heat else None, cut
            )
            # One formula a line where no column fits (only an object array holds formulas: a
            # float one is not measured for them).
            formulas = block.dtype == object and not marks
            if formulas and fit.grid_too_wide(rows, self.width) and has_formulas(block):
                for where, value in fit.entry_labels(block, base):
                    self.equation([where, self.num(value)], len(where))
                continue
            header = [str(c + base) for c in range(column_count)]
            if cut:
                header.append("…")

            def named(start: int, stop: int, total: int = shaped.shape[-1]) -> str:
                return fit.columns_named(start + base, min(stop, column_count) - 1 + base, total)

            grid(self.canvas, header, rows, width=self.width, blocks_named=named)
        hidden = _hidden_parts(shaped.shape, len(slices), row_count, column_count, base)
        if hidden:
            self.line(
                (
                    f"… {matrix.label} is {'×'.join(map(str, values.shape))}: not shown here: {', '.join(hidden)} "
                    "(--steps all shows everything; --format json has every value)",
                    "dim",
                )
            )
        if matrix.caption:
            self.line((matrix.caption, "dim"))
        if heat and not self.legend_shown:
            self.heat_legend()

    def _grid_rows(
        self,
        block: np.ndarray,
        lead: tuple[int, ...],
        ndim: int,
        base: int,
        marks: dict[tuple[int, ...], Piece] | None,
        peak: Any,
        cut: bool,
    ) -> list[tuple[str, list[Piece]]]:
        """The rows of one grid (``block``: rows × columns shown of slice ``lead``): each
        cell marked, shaded against ``peak`` (None: no heat map) or plain; "…" ends a row
        whose columns are ``cut``."""
        rows = []
        # The block's entries as lists of Python objects (an object array's own): read one
        # by one from the array, each entry would be a call into numpy.
        for r, values in enumerate(block.tolist()):
            if marks or peak is not None:
                cells = self._marked_or_shaded(values, r, lead, ndim, marks, peak)
            else:
                cells = list(map(self.style.format, values))
            if cut:
                cells.append("…")
            rows.append(("" if ndim == 1 else str(r + base), cells))
        return rows

    def _marked_or_shaded(
        self,
        values: list[Any],
        r: int,
        lead: tuple[int, ...],
        ndim: int,
        marks: dict[tuple[int, ...], Piece] | None,
        peak: Any,
    ) -> list[Piece]:
        """Row ``r`` of a grid's cells (``values``): each marked, shaded against ``peak``
        (None: no heat map) or plain."""
        cells: list[Piece] = []
        for c, value in enumerate(values):
            index = (c,) if ndim == 1 else (*lead, r, c)
            if marks and index in marks:
                cells.append(marks[index])
            elif peak is not None:
                # A space of margin inside the shade keeps neighbouring blocks apart.
                shade = heat_style(value, peak, standard_colors=self.standard_colors)
                cells.append((" " + self.num(value), shade))
            else:
                cells.append(self.num(value))
        return cells

    def heat_legend(self) -> None:
        """One line, under the first shaded matrix, saying what the shades mean."""
        self.legend_shown = True
        pieces: list[Piece] = [("shading: ", "dim")]
        for label, value in LEGEND_SWATCHES:
            shade = heat_style(value, 1.0, standard_colors=self.standard_colors)
            pieces += [(f" {label} ", shade), " "]
        legend: Piece = (f" {HEAT_LEGEND}", "dim")
        if self.width is None or fit.cells(fit.plain([*pieces, legend])) <= self.width:
            self.canvas.line(*pieces, legend)
        else:  # the swatches, and what they mean under them
            self.canvas.line(*pieces[:-1])
            self.line((f"  {HEAT_LEGEND}", "dim"))

    def picture(self, picture: Picture) -> None:
        """A focus picture: marked cells in brackets (readable without color), padding as dots."""
        rows = [
            [picture_cell(self.num, value, (r, c) in picture.marked) for c, value in enumerate(row)]
            for r, row in enumerate(picture.cells)
        ]
        header = [f"{label} " for label in picture.column_labels]
        widths = [
            max(len(title), *(len(row[c][0]) for row in rows)) for c, title in enumerate(header)
        ]
        label_width = max((len(label) for label in picture.row_labels), default=0)
        self.line((picture.label, "bold"))
        header_row = [(title, "dim") for title in header]
        column_cells = [1 + width for width in widths]
        blocks = fit.column_blocks(column_cells, label_width + 1, self.width)
        for start, stop in blocks:
            if len(blocks) > 1:  # named by the labels it has (padding columns have none)
                labelled = [label for label in picture.column_labels[start:stop] if label.strip()]
                shown = f"columns {labelled[0]}–{labelled[-1]}" if labelled else "padding"
                self.line(
                    (f"{shown} (part {blocks.index((start, stop)) + 1} of {len(blocks)})", "dim")
                )
            for label, cells in [("", header_row), *zip(picture.row_labels, rows, strict=True)]:
                pieces = [(label.rjust(label_width) + " ", "dim")]
                pieces += [
                    (" " + text.rjust(width), style)
                    for (text, style), width in zip(
                        cells[start:stop], widths[start:stop], strict=True
                    )
                ]
                # No trailing spaces: drop blank cells at the end of the line, then strip the last.
                while len(pieces) > 1 and not pieces[-1][0].strip():
                    pieces.pop()
                pieces[-1] = (pieces[-1][0].rstrip(), pieces[-1][1])
                self.canvas.line(*pieces)
        if picture.caption:
            self.line((picture.caption, "dim"))

    def symbol_table(self, table: SymbolTable) -> None:
        self.line((table.label, "bold"))
        rows = [
            (label, [self.cell(v) for v in row])
            for label, row in zip(table.rows, table.cells, strict=True)
        ]
        if fit.grid_too_wide(rows, self.width) and has_formulas(
            np.array(table.cells, dtype=object)
        ):
            for where, value in fit.cell_labels(table.rows, table.columns, table.cells):
                self.equation([where, self.cell(value)], len(where))  # one formula a line
        else:
            grid(self.canvas, list(table.columns), rows, header_style="bold", width=self.width)
        if table.omitted:
            self.line((table.omitted_words, "dim"))
        if table.caption:
            self.line((table.caption, "dim"))

    # results and checks ----------------------------------------------------
    def render_results(self, solution: Solution) -> None:
        self.rule("Results")
        for item in solution.result_items:
            self.item(item)
        shape = solution.results.get("output_shape")
        if shape is not None:
            self.line(f"output_shape = {'×'.join(map(str, shape))}")
        for name in shown_results(solution.results):
            ndim = np.ndim(solution.results[name])
            axes = solution.axes.get(name) or tuple(f"axis{i}" for i in range(ndim))
            self.matrix(
                Matrix(
                    name,
                    solution.results[name],
                    axes,
                    solution.index_base,
                    role=result_role(name),
                )
            )
        if solution.exact and self.style.decimal:
            self.line(
                (
                    f"computed exactly; shown as decimals rounded to {self.style.precision} significant digits "
                    "(exact halves to even; ≈ marks a rounded value that reads as a whole number)",
                    "dim",
                )
            )
        elif solution.exact:
            self.line(("every value above is exact (rational arithmetic)", "dim"))

    def render_checks(self, solution: Solution) -> None:
        self.rule("Checks")
        if not solution.checks:
            self.line(("no expected answers in the spec (add `expected:` to check them)", "dim"))
        for check in solution.checks:
            self.check(check, solution.index_base, solution.axes.get(check.name))
        gradient = solution.gradient_check
        if gradient is not None:
            style = {"✓": "green", "✗": "bold red"}.get(gradient.mark, "dim")
            self.line((f"{gradient.mark} ", style), gradient.summary())
        if solution.ok:
            self.line(
                ("OK", "bold green"), " — every check passed" if solution.checks else " — computed"
            )
        else:
            failed = [c.name for c in solution.checks if not c.ok]
            if solution.gradient_check is not None and not solution.gradient_check.ok:
                failed.append("finite differences")
            self.line(("MISMATCH", "bold red"), " — " + ", ".join(failed))

    def check(self, check: Check, base: int, axes: tuple[str, ...] | None = None) -> None:
        plural = "s" if check.cells != 1 else ""
        note = f" ({check.reading})" if check.reading else ""
        if check.ok:
            self.line(("✓ ", "green"), f"{check.name}: {check.cells} value{plural} match{note}")
            return
        self.line(
            ("✗ ", "bold red"),
            f"{check.name}: {len(check.wrong)} of {check.cells} value{plural} wrong{note} "
            f"({check.measure})",
        )
        if check.expected.ndim == 0:
            cell = check.wrong[0]
            self.line(f"    given {self.num(cell.given)}, correct {self.num(cell.correct)}")
            return
        marks: dict[tuple[int, ...], Piece] = {
            cell.index: (f"✗ {self.num(cell.given)} → {self.num(cell.correct)}", "bold red")
            for cell in check.wrong
        }
        if axes is None or len(axes) != check.expected.ndim:
            axes = tuple(f"axis{i}" for i in range(check.expected.ndim))
        self.matrix(
            Matrix(
                f"{check.name} as given (✗ given → correct where wrong)", check.expected, axes, base
            ),
            marks,
        )


def _slice_title(label: str, names: Sequence[str], lead: tuple[int, ...], base: int) -> str:
    """A matrix's title over its slice ``lead`` (the indices of its leading axes ``names``):
    ``x [n=0, c=1]``."""
    if not lead:
        return label
    return (
        label + " [" + ", ".join(f"{n}={i + base}" for n, i in zip(names, lead, strict=True)) + "]"
    )


def _hidden_parts(
    shape: tuple[int, ...], slices_shown: int, row_count: int, column_count: int, base: int
) -> list[str]:
    """What a cut matrix of ``shape`` (at least 2 axes) leaves out: slices, rows, columns."""
    hidden = []
    slices = math.prod(shape[:-2])
    if slices_shown < slices:
        hidden.append(f"{slices - slices_shown} more slices")
    if row_count < shape[-2]:
        hidden.append(f"rows {row_count + base}–{shape[-2] - 1 + base}")
    if column_count < shape[-1]:
        hidden.append(f"columns {column_count + base}–{shape[-1] - 1 + base}")
    return hidden
