"""What the Markdown and LaTeX renderers share: the walk over a Solution.

A :class:`DocumentRenderer` visits the explanation in the order the terminal
shows it (heading, conventions, sections, results, checks) and leaves each piece
of markup to its subclass.  Matrices are cut to the same size as in the
terminal when ``--steps N`` is given (a write-up shows every step by default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcalc.cli.numbers import NumberStyle
from gradcalc.cli.render_table import MAX_GRID_COLUMNS, MAX_GRID_ROWS, MAX_SLICES, shown_results
from gradcalc.core.explain import (
    Formula,
    Math,
    Matrix,
    Note,
    Picture,
    Section,
    SumOfProducts,
    SymbolTable,
)
from gradcalc.core.outcome import Check, Solution


@dataclass(eq=False)
class Grid:
    """One 2-D slice of a matrix, ready for markup: ``cells[r][c]`` are values."""

    title: str
    row_labels: list[str]
    column_labels: list[str]
    cells: list[list[Any]]
    more_columns: bool


class DocumentRenderer:
    """Walks a Solution; subclasses write headings, paragraphs, lists, formulas and grids."""

    def __init__(
        self, style: NumberStyle, sections: frozenset[str] | None, *, truncate: bool = True
    ):
        self.style = style
        self.sections = sections
        self.truncate = truncate
        self.out: list[str] = []

    def wants(self, key: str) -> bool:
        return self.sections is None or key in self.sections

    # hooks ------------------------------------------------------------------
    def heading(self, text: str, level: int) -> None:
        raise NotImplementedError

    def paragraph(self, text: str) -> None:
        raise NotImplementedError

    def bullets(self, lines: Sequence[str]) -> None:
        raise NotImplementedError

    def formula(self, formula: Formula) -> None:
        raise NotImplementedError

    def sum_of_products(self, step: SumOfProducts) -> None:
        raise NotImplementedError

    def grid(self, grid: Grid, caption: str) -> None:
        raise NotImplementedError

    def symbol_table(self, table: SymbolTable) -> None:
        raise NotImplementedError

    def finish(self) -> str:
        return "\n".join(self.out).rstrip() + "\n"

    # the walk ---------------------------------------------------------------
    def render(self, solution: Solution, command: str) -> str:
        heading = f"gradcalc {command}"
        if solution.title:
            heading += f" — {solution.title}"
        self.heading(heading, 1)
        if self.wants("problem") and solution.conventions:
            self.paragraph("Conventions:")
            self.bullets([self.style.sentence(c) for c in solution.conventions])
        for section in solution.sections:
            self.section(section)
        if self.wants("results"):
            self.results(solution)
        if self.wants("checks"):
            self.checks(solution)
        return self.finish()

    def section(self, section: Section) -> None:
        self.heading(section.title, 2)
        for item in section.placed():
            if isinstance(item, int):  # rows left out here by the --steps cap
                plural = "s" if item != 1 else ""
                self.paragraph(f"… {item} more row{plural} not shown (--steps all shows them)")
            else:
                self.item(item)

    def item(self, item: Any) -> None:
        if isinstance(item, Note):
            self.paragraph(self.style.sentence(item))
        elif isinstance(item, Formula):
            self.formula(item)
        elif isinstance(item, SumOfProducts):
            self.sum_of_products(item)
        elif isinstance(item, Matrix):
            self.matrix(item)
        elif isinstance(item, SymbolTable):
            self.symbol_table(item)
        elif isinstance(item, Math):
            self.math(item)
        elif isinstance(item, Picture):
            self.picture(item)
        else:
            raise TypeError(f"no renderer for {type(item).__name__}")

    def math(self, item: Math) -> None:
        """A LaTeX formula; overridden by formats that can typeset it."""
        self.paragraph(f"{item.label}: {item.latex}")

    def picture(self, picture: Picture) -> None:
        """A focus picture as a grid of text cells: [5] marked, · padding, × past the padded edge."""
        from gradcalc.cli.render_table import picture_cell

        cells = [
            [
                picture_cell(self.style.format, value, (r, c) in picture.marked)[0].strip()
                for c, value in enumerate(row)
            ]
            for r, row in enumerate(picture.cells)
        ]
        grid = Grid(
            picture.label, list(picture.row_labels), list(picture.column_labels), cells, False
        )
        self.grid(grid, picture.caption)

    def matrix(self, matrix: Matrix) -> None:
        values = np.asarray(matrix.values, dtype=object)
        if values.ndim == 0:
            self.formula(Formula(matrix.label, matrix.label, (), values[()]))
            return
        grids, hidden = self.grids(matrix)
        for i, grid in enumerate(grids):
            last = i == len(grids) - 1
            notes = [hidden] if hidden and last else []
            if matrix.caption and last:
                notes.append(matrix.caption)
            self.grid(grid, "; ".join(notes))

    def grids(self, matrix: Matrix) -> tuple[list[Grid], str]:
        """The matrix as 2-D grids (one per leading index), and what was left out."""
        values = np.asarray(matrix.values, dtype=object)
        base = matrix.index_base
        shaped = values.reshape(1, -1) if values.ndim == 1 else values
        lead_shape = shaped.shape[:-2]
        slices = list(np.ndindex(*lead_shape))
        rows, columns = shaped.shape[-2:]
        if self.truncate:
            slices = slices[:MAX_SLICES]
            rows, columns = min(rows, MAX_GRID_ROWS), min(columns, MAX_GRID_COLUMNS)
        grids = []
        for lead in slices:
            title = matrix.label
            if lead:
                names = matrix.axis_names[: len(lead)]
                title += (
                    " ["
                    + ", ".join(f"{n}={i + base}" for n, i in zip(names, lead, strict=True))
                    + "]"
                )
            block = shaped[lead]
            grids.append(
                Grid(
                    title=title,
                    row_labels=[""] if values.ndim == 1 else [str(r + base) for r in range(rows)],
                    column_labels=[str(c + base) for c in range(columns)],
                    cells=[[block[r, c] for c in range(columns)] for r in range(rows)],
                    more_columns=columns < shaped.shape[-1],
                )
            )
        hidden = []
        if len(slices) < int(np.prod(lead_shape)):
            hidden.append(f"{int(np.prod(lead_shape)) - len(slices)} more slices")
        if rows < shaped.shape[-2]:
            hidden.append(f"rows {rows + base}–{shaped.shape[-2] - 1 + base}")
        if columns < shaped.shape[-1]:
            hidden.append(f"columns {columns + base}–{shaped.shape[-1] - 1 + base}")
        note = ""
        if hidden:
            note = (
                f"{matrix.label} is {'×'.join(map(str, values.shape))}; not shown: "
                f"{', '.join(hidden)} (--steps all shows everything)"
            )
        return grids, note

    def results(self, solution: Solution) -> None:
        self.heading("Results", 2)
        for item in solution.result_items:
            self.item(item)
        shape = solution.results.get("output_shape")
        if shape is not None:
            self.paragraph(f"output_shape = {'×'.join(map(str, shape))}")
        for name in shown_results(solution.results):
            ndim = np.ndim(solution.results[name])
            axes = solution.axes.get(name) or tuple(f"axis{i}" for i in range(ndim))
            self.matrix(Matrix(name, solution.results[name], axes, solution.index_base))
        if solution.exact and self.style.decimal:
            self.paragraph(
                f"Computed exactly; shown as decimals rounded to {self.style.precision} significant digits "
                "(exact halves to even; ≈ marks a rounded value that reads as a whole number)."
            )
        elif solution.exact:
            self.paragraph("Every value above is exact (rational arithmetic).")

    def checks(self, solution: Solution) -> None:
        self.heading("Checks", 2)
        lines = [self.check_line(check) for check in solution.checks]
        if not solution.checks:
            lines.append("no expected answers in the spec")
        gradient = solution.gradient_check
        if gradient is not None:
            lines.append(f"{gradient.mark} {gradient.summary()}")
        self.bullets(lines)
        if solution.ok:
            self.paragraph("OK — every check passed" if solution.checks else "OK — computed")
        else:
            failed = [c.name for c in solution.checks if not c.ok]
            if solution.gradient_check is not None and not solution.gradient_check.ok:
                failed.append("finite differences")
            self.paragraph("MISMATCH — " + ", ".join(failed))

    def check_line(self, check: Check) -> str:
        plural = "s" if check.cells != 1 else ""
        note = f" ({check.reading})" if check.reading else ""
        if check.ok:
            return f"✓ {check.name}: {check.cells} value{plural} match{note}"
        wrong = ", ".join(
            f"[{', '.join(map(str, cell.index))}] given {self.style.format(cell.given)}, "
            f"correct {self.style.format(cell.correct)}"
            for cell in check.wrong[:12]
        )
        more = f", … ({len(check.wrong) - 12} more)" if len(check.wrong) > 12 else ""
        measure = check.measure if check.symbolic else f"tolerance {check.tolerance.describe()}"
        return (
            f"✗ {check.name}: {len(check.wrong)} of {check.cells} value{plural} wrong{note} "
            f"({measure}): {wrong}{more}"
        )
