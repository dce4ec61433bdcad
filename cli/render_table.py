"""Render a Solution for the terminal with Rich: headings, matrices, worked sums, checks."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
from rich.console import Console, Group, RenderableType
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from gradcalc.cli.numbers import NumberStyle
from gradcalc.core.explain import Formula, Matrix, Note, Product, Section, SumOfProducts, Symbol, SymbolTable
from gradcalc.core.outcome import Check, Solution

# Which result arrays the "results" section shows, in order.
RESULT_ORDER = ("output", "grad_input", "grad_kernel", "grad_bias")


class TableRenderer:
    """Walks the explanation model and prints it on a Rich console."""

    def __init__(self, console: Console, style: NumberStyle, sections: frozenset[str] | None):
        self.console = console
        self.style = style
        self.sections = sections

    def wants(self, key: str) -> bool:
        return self.sections is None or key in self.sections

    # numbers and symbols ---------------------------------------------------
    def num(self, value: Any) -> str:
        return self.style.format(value)

    def cell(self, value: Any) -> str:
        if isinstance(value, Symbol):
            return value.text
        return self.num(value)

    def product_symbols(self, product: Product) -> str:
        return "·".join(symbol.text for symbol, _ in product.factors)

    def product_numbers(self, product: Product) -> str:
        if len(product.factors) == 1:
            return self.style.format(product.factors[0][1])
        return "·".join(self.style.factor(value) for _, value in product.factors)

    def joined(self, parts: Iterable[str]) -> str:
        text = ""
        for part in parts:
            if not text:
                text = part
            elif part.startswith("−") and not part.startswith("(−"):
                text += " − " + part[1:]
            else:
                text += " + " + part
        return text

    # top level ---------------------------------------------------------------
    def render(self, solution: Solution, command: str) -> None:
        heading = f"gradcalc {command}"
        if solution.title:
            heading += f" — {solution.title}"
        self.console.print(Rule(Text(heading, style="bold")))
        if self.wants("problem"):
            self.console.print(Text("Conventions", style="bold"))
            for line in solution.conventions:
                self.console.print(Text("  • " + line))
        for section in solution.sections:
            self.render_section(section)
        if self.wants("results"):
            self.render_results(solution)
        if self.wants("checks"):
            self.render_checks(solution)

    def render_section(self, section: Section) -> None:
        self.console.print()
        self.console.print(Rule(Text(section.title, style="bold cyan"), align="left"))
        for item in section.items:
            self.console.print(self.item(item))
        if section.omitted:
            self.console.print(
                Text(f"… {section.omitted} more row{'s' if section.omitted != 1 else ''} not shown "
                     "(show them with --steps all, or --steps N)", style="dim")
            )

    def item(self, item: Any) -> RenderableType:
        if isinstance(item, Note):
            return Text(item.text)
        if isinstance(item, Formula):
            return self.formula(item)
        if isinstance(item, SumOfProducts):
            return self.sum_of_products(item)
        if isinstance(item, Matrix):
            return self.matrix(item)
        if isinstance(item, SymbolTable):
            return self.symbol_table(item)
        raise TypeError(f"no renderer for {type(item).__name__}")

    def formula(self, formula: Formula) -> Text:
        numeric = "".join(
            piece if isinstance(piece, str) else self.num(piece) for piece in formula.numeric
        )
        value = formula.value if isinstance(formula.value, str) else self.num(formula.value)
        text = Text(formula.symbolic, style="bold")
        text.append(f"\n    = {numeric} = ")
        text.append(value, style="bold green")
        return text

    def sum_of_products(self, step: SumOfProducts) -> Text:
        target = step.target.text
        text = Text(target, style="bold")
        pad = " " * (len(target) + 1)
        symbolic_terms = [self.product_symbols(p) for p in step.terms]
        numeric_terms = [self.product_numbers(p) for p in step.terms]
        if step.constant is not None:
            symbolic_terms.append(step.constant[0].text)
            numeric_terms.append(self.num(step.constant[1]))
        if step.general:
            text.append(f" = {step.general}")
            text.append(f"\n{pad}= ")
        else:
            text.append(" = ")
        if symbolic_terms:
            text.append(" + ".join(symbolic_terms))
            text.append(f"\n{pad}= ")
            text.append(self.joined(numeric_terms))
            text.append(" = ")
        text.append(self.num(step.value), style="bold green")
        if step.note:
            text.append(f"   ({step.note})", style="dim")
        return text

    def matrix(self, matrix: Matrix) -> RenderableType:
        values = np.asarray(matrix.values, dtype=object)
        base = matrix.index_base
        if values.ndim == 0:
            text = Text(f"{matrix.label} = ", style="bold")
            text.append(self.num(values[()]))
            return text
        if values.ndim == 1:
            values = values.reshape(1, -1)
            row_labels = [""]
        else:
            row_labels = None
        lead_shape = values.shape[:-2]
        lead_names = matrix.axis_names[: len(lead_shape)]
        tables = []
        for lead in np.ndindex(*lead_shape):
            title = matrix.label
            if lead:
                title += " [" + ", ".join(f"{name}={i + base}" for name, i in zip(lead_names, lead)) + "]"
            grid = values[lead]
            table = Table(title=title, title_justify="left", show_edge=True, pad_edge=True, header_style="dim")
            table.add_column("", style="dim", justify="right")
            for column in range(grid.shape[1]):
                table.add_column(str(column + base), justify="right")
            for row in range(grid.shape[0]):
                label = row_labels[row] if row_labels is not None else str(row + base)
                table.add_row(label, *(self.num(v) for v in grid[row]))
            tables.append(table)
        if matrix.caption:
            tables.append(Text(matrix.caption, style="dim"))
        return Group(*tables)

    def symbol_table(self, table_item: SymbolTable) -> RenderableType:
        table = Table(title=table_item.label, title_justify="left", header_style="bold")
        table.add_column("", style="bold")
        for column in table_item.columns:
            table.add_column(column, justify="right")
        for label, row in zip(table_item.rows, table_item.cells):
            table.add_row(label, *(self.cell(v) for v in row))
        if table_item.caption:
            return Group(table, Text(table_item.caption, style="dim"))
        return table

    # results and checks ----------------------------------------------------
    def render_results(self, solution: Solution) -> None:
        self.console.print()
        self.console.print(Rule(Text("Results", style="bold cyan"), align="left"))
        shape = solution.results.get("output_shape")
        if shape is not None:
            self.console.print(Text(f"output_shape = {'×'.join(map(str, shape))}"))
        for name in RESULT_ORDER:
            if name in solution.results:
                axes = ("",) * np.ndim(solution.results[name])
                self.console.print(self.matrix(Matrix(name, solution.results[name], axes, solution.index_base)))
        if solution.exact:
            self.console.print(Text("exact: every value above is exact (rational arithmetic)", style="dim"))

    def render_checks(self, solution: Solution) -> None:
        self.console.print()
        self.console.print(Rule(Text("Checks", style="bold cyan"), align="left"))
        if not solution.checks:
            self.console.print(Text("no expected answers in the spec (add `expected:` to check them)", style="dim"))
        for check in solution.checks:
            self.console.print(self.check(check, solution.index_base))
        gradient = solution.gradient_check
        if gradient is not None:
            mark, style = ("✓", "green") if gradient.ok else ("✗", "bold red")
            text = Text(f"{mark} ", style=style)
            text.append(
                f"finite differences (float64, central, h = {gradient.step:g}): {gradient.entries_checked} of "
                f"{gradient.entries_total} gradient entries checked, largest difference {gradient.max_abs_error:.1e}"
            )
            self.console.print(text)
        verdict = Text()
        if solution.ok:
            verdict.append("OK", style="bold green")
            verdict.append(" — every check passed" if solution.checks else " — computed")
        else:
            verdict.append("MISMATCH", style="bold red")
            failed = [c.name for c in solution.checks if not c.ok]
            if solution.gradient_check is not None and not solution.gradient_check.ok:
                failed.append("finite differences")
            verdict.append(" — " + ", ".join(failed))
        self.console.print(verdict)

    def check(self, check: Check, base: int) -> RenderableType:
        if check.ok:
            text = Text("✓ ", style="green")
            text.append(f"{check.name}: {check.cells} value{'s' if check.cells != 1 else ''} match")
            return text
        text = Text("✗ ", style="bold red")
        text.append(
            f"{check.name}: {len(check.wrong)} of {check.cells} value{'s' if check.cells != 1 else ''} wrong "
            f"(largest error {check.max_abs_error:.3g}; tolerance {check.tolerance.describe()})"
        )
        wrong = {cell.index: cell for cell in check.wrong}
        expected = check.expected
        if expected.ndim == 0:
            cell = check.wrong[0]
            text.append(f"\n    given {self.num(cell.given)}, correct {self.num(cell.correct)}")
            return text
        grid = expected.reshape(1, -1) if expected.ndim == 1 else expected.reshape(-1, expected.shape[-1])
        table = Table(title=f"{check.name}: given → correct (✗ marks wrong cells)", title_justify="left")
        table.add_column("", style="dim", justify="right")
        for column in range(grid.shape[1]):
            table.add_column(str(column + base), justify="right")
        for row_number in range(grid.shape[0]):
            cells = []
            for column in range(grid.shape[1]):
                flat = row_number * grid.shape[1] + column
                index = tuple(int(i) for i in np.unravel_index(flat, expected.shape))
                if index in wrong:
                    cell = wrong[index]
                    cells.append(Text(f"✗ {self.num(cell.given)} → {self.num(cell.correct)}", style="bold red"))
                else:
                    cells.append(Text(self.num(grid[row_number, column])))
            label = "" if expected.ndim == 1 else str(row_number + base)
            table.add_row(label, *cells)
        return Group(text, table)
