"""``--format markdown``: the explanation as Markdown to paste into a write-up or notebook.

Sections are ``##`` headings, notes paragraphs, matrices and symbol tables
Markdown tables, and the worked formulas and sums fenced ``text`` blocks laid
out exactly as in the terminal (consecutive ones share a block).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gradcalc.cli.numbers import NumberStyle
from gradcalc.cli.render_doc import DocumentRenderer, Grid
from gradcalc.cli.render_table import TableRenderer
from gradcalc.core.explain import Formula, Math, SumOfProducts, Symbol, SymbolTable

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


def escape(text: str) -> str:
    """Text with Markdown's punctuation backslash-escaped, so it shows as written."""
    return _SPECIAL.sub(r"\\\1", text)


class MarkdownRenderer(DocumentRenderer):
    def __init__(
        self, style: NumberStyle, sections: frozenset[str] | None, *, truncate: bool = True
    ):
        super().__init__(style, sections, truncate=truncate)
        # The terminal renderer lays out formulas and sums; its plain text goes in code blocks.
        self.text = TableRenderer(None, style, sections, truncate=truncate, plain=True)  # type: ignore[arg-type]
        self.block: list[str] = []

    def emit(self, *lines: str) -> None:
        self.flush()
        self.out.extend([*lines, ""])

    def flush(self) -> None:
        if self.block:
            self.out.extend(["```text", *self.block, "```", ""])
            self.block = []

    def finish(self) -> str:
        self.flush()
        return super().finish()

    def cell(self, value: Any) -> str:
        text = value.text if isinstance(value, Symbol) else self.style.format(value)
        return escape(text) if text else " "

    def heading(self, text: str, level: int) -> None:
        self.emit(f"{'#' * level} {escape(text)}")

    def paragraph(self, text: str) -> None:
        self.emit(escape(text))

    def bullets(self, lines: Sequence[str]) -> None:
        self.emit(*(f"- {escape(line)}" for line in lines))

    def _laid_out(self, draw) -> None:
        self.text.canvas.clear()
        draw()
        self.block.extend(self.text.canvas.joined().strip("\n").split("\n"))

    def math(self, item: Math) -> None:
        self.emit(f"{escape(item.label)}:", "", f"$$ {item.latex} $$")

    def formula(self, formula: Formula) -> None:
        self._laid_out(lambda: self.text.formula(formula))

    def sum_of_products(self, step: SumOfProducts) -> None:
        self._laid_out(lambda: self.text.sum_of_products(step))

    def table(self, header: Sequence[str], rows: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
        lines = [
            "| " + " | ".join([" ", *header]) + " |",
            "|" + "---|" * (len(header) + 1),
        ]
        lines += ["| " + " | ".join([label or " ", *cells]) + " |" for label, cells in rows]
        return lines

    def grid(self, grid: Grid, caption: str) -> None:
        header = list(grid.column_labels) + (["…"] if grid.more_columns else [])
        rows = [
            (label, [self.cell(v) for v in row] + (["…"] if grid.more_columns else []))
            for label, row in zip(grid.row_labels, grid.cells, strict=True)
        ]
        self.emit(f"**{escape(grid.title)}**")
        self.emit(*self.table(header, rows))
        if caption:
            self.emit(f"*{escape(caption)}*")

    def symbol_table(self, table: SymbolTable) -> None:
        rows = [
            (escape(label), [self.cell(v) for v in row])
            for label, row in zip(table.rows, table.cells, strict=True)
        ]
        self.emit(f"**{escape(table.label)}**")
        self.emit(*self.table([escape(c) for c in table.columns], rows))
        if table.omitted:
            self.paragraph(table.omitted_words)
        if table.caption:
            self.emit(f"*{escape(table.caption)}*")
