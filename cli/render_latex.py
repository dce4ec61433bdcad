"""``--format latex``: the explanation as LaTeX to paste into a write-up.

The output is a document body: it compiles between ``\\begin{document}`` and
``\\end{document}`` with nothing but ``\\usepackage{amsmath}`` in the preamble
(pdfLaTeX's default UTF-8 input is enough: every other character is written as a
command here).  Worked sums and formulas are ``aligned`` displays, matrices
``bmatrix``, symbol tables ``tabular``.

The core's notation is plain text (``∂L/∂K_00``, ``⌊(H − 1)/s⌋``); two
translators turn it into math-mode and text-mode LaTeX.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from gradcalc.cli.numbers import MINUS
from gradcalc.cli.render_doc import DocumentRenderer, Grid
from gradcalc.core.explain import Formula, Math, Product, SumOfProducts, Symbol, SymbolTable

PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n"
# Terms per line of a worked sum; more would run off the page.
TERMS_PER_LINE = 4

# Non-ASCII characters of the core's notation, as math-mode LaTeX.
MATH_SYMBOLS = {
    "∂": r"\partial ",
    "·": r"\cdot ",
    "×": r"\times ",
    "÷": r"\div ",
    "Σ": r"\sum ",
    "∑": r"\sum ",
    "ᵀ": r"^{\top}",
    "…": r"\ldots ",
    "⋯": r"\cdots ",
    "′": "'",
    "ℓ": r"\ell ",
    "←": r"\leftarrow ",
    "→": r"\rightarrow ",
    "⇒": r"\Rightarrow ",
    "−": "-",
    "–": "-",
    "—": r"\text{---}",
    "∞": r"\infty ",
    "≠": r"\neq ",
    "≤": r"\le ",
    "≥": r"\ge ",
    "≈": r"\approx ",
    "±": r"\pm ",
    "⊙": r"\odot ",
    "⋆": r"\star ",
    "∗": r"\ast ",
    "∘": r"\circ ",
    "⌈": r"\lceil ",
    "⌉": r"\rceil ",
    "⌊": r"\lfloor ",
    "⌋": r"\rfloor ",
    "√": r"\surd ",
    "∈": r"\in ",
    "∀": r"\forall ",
    "°": r"^{\circ}",
    "✓": r"\surd ",
    "✗": r"\times ",
    "•": r"\bullet ",
    "⟨": r"\langle ",
    "⟩": r"\rangle ",
    "‖": r"\|",
    "∇": r"\nabla ",
    "∫": r"\int ",
    "∏": r"\prod ",
    "≡": r"\equiv ",
    "∝": r"\propto ",
    "Φ": r"\Phi ",
    "ϕ": r"\phi ",
}
_GREEK = (
    "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho "
    "sigma tau upsilon phi chi psi omega"
).split()
for _i, _name in enumerate(_GREEK):
    MATH_SYMBOLS.setdefault(chr(0x3B1 + _i + (1 if _i > 16 else 0)), f"\\{_name} ")
MATH_SYMBOLS.update({"ε": r"\varepsilon ", "ο": "o", "ς": r"\varsigma "})
for _capital, _name in zip(
    "ΓΔΘΛΞΠΣΥΦΨΩ", "Gamma Delta Theta Lambda Xi Pi Sigma Upsilon Phi Psi Omega".split(), strict=True
):
    MATH_SYMBOLS.setdefault(_capital, f"\\{_name} ")
for _digit in range(10):
    MATH_SYMBOLS["₀₁₂₃₄₅₆₇₈₉"[_digit]] = f"_{{{_digit}}}"
    MATH_SYMBOLS["⁰¹²³⁴⁵⁶⁷⁸⁹"[_digit]] = f"^{{{_digit}}}"

_TEXT_SPECIALS = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
    "|": r"\textbar{}",
    '"': "''",
}
_MATH_SPECIALS = {
    "\\": r"\backslash ",
    "{": r"\{",
    "}": r"\}",
    "#": r"\#",
    "$": r"\$",
    "%": r"\%",
    "&": r"\&",
    "~": r"\sim ",
    '"': "''",
}
# Latin-1 letters (é, ü, …) pass through: pdfLaTeX's UTF-8 input sets them.
_PASS_THROUGH = re.compile(r"[\u00c0-\u00ff]")
_COMBINING_TILDE = "\u0303"
_SUBSCRIPT = re.compile(r"_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*)")
_POWER = re.compile(r"\^(\([^()]*\)|[A-Za-z0-9]+)")
# Words upright, but not inside subscripts (X_ij keeps italic indices).
_WORD = re.compile(r"(?<![A-Za-z\\\x01\x02])[A-Za-z]{2,}")
_SPACE_BETWEEN_WORDS = re.compile(r"(?<=[A-Za-z0-9)\]]) +(?=[A-Za-z0-9(\[])")


def _unknown(char: str) -> str:
    return f"[U+{ord(char):04X}]"


def text(value: str) -> str:
    """Plain notation as text-mode LaTeX: specials escaped, symbols as ``\\ensuremath``."""
    pieces = []
    for i, char in enumerate(value):
        if char == _COMBINING_TILDE:
            continue
        tilde = i + 1 < len(value) and value[i + 1] == _COMBINING_TILDE
        if char in _TEXT_SPECIALS:
            piece = _TEXT_SPECIALS[char]
        elif char == "-" and value[i + 1 : i + 2] == "-":
            piece = "-{}"  # "--decimal", not an en dash
        elif ord(char) < 128 or _PASS_THROUGH.match(char):
            piece = char
        elif char in MATH_SYMBOLS:
            piece = f"\\ensuremath{{{MATH_SYMBOLS[char].strip()}}}"
        else:
            piece = _unknown(char)
        pieces.append(f"\\~{{{piece}}}" if tilde else piece)
    return "".join(pieces)


def math(value: str) -> str:
    """Plain notation as math-mode LaTeX.

    ``X_01`` -> ``X_{01}``; ``f_x_y`` -> ``f_{x\\_y}`` (one subscript); ``a^(p−1)`` ->
    ``a^{(p-1)}``; words of two or more letters upright; spaces between words kept.
    """
    value = _SUBSCRIPT.sub(lambda m: "\x01" + m.group(1).replace("_", "\x02") + "\x03", value)
    value = _POWER.sub(lambda m: "\x04" + m.group(1) + "\x03", value)
    value = _SPACE_BETWEEN_WORDS.sub("\x05", value)
    value = _WORD.sub(lambda m: "\x06" + m.group(0) + "\x03", value)
    pieces = []
    for i, char in enumerate(value):
        if char == _COMBINING_TILDE:
            continue
        tilde = i + 1 < len(value) and value[i + 1] == _COMBINING_TILDE
        if char == "\x01":
            piece = "_{"
        elif char == "\x04":
            piece = "^{"
        elif char == "\x06":
            piece = r"\mathrm{"
        elif char == "\x03":
            piece = "}"
        elif char == "\x02":
            piece = r"\_"
        elif char == "\x05":
            piece = r"\ "
        elif char == "_":
            piece = r"\_"
        elif char == "^":
            piece = r"\wedge "
        elif char == " ":
            piece = " "
        elif char in _MATH_SPECIALS:
            piece = _MATH_SPECIALS[char]
        elif ord(char) < 128:
            piece = char
        elif char in MATH_SYMBOLS:
            piece = MATH_SYMBOLS[char]
        elif _PASS_THROUGH.match(char):
            piece = f"\\text{{{char}}}"
        else:
            piece = f"\\text{{{_unknown(char)}}}"
        pieces.append(f"\\tilde{{{piece}}}" if tilde else piece)
    return "".join(pieces)


class LatexRenderer(DocumentRenderer):
    def number(self, value: Any, *, factor: bool = False) -> str:
        """A number in math mode: 1/4 as \\tfrac{1}{4}, 1.5e-7 as 1.5\\times 10^{-7}."""
        if isinstance(value, str):
            return math(value)
        written = self.style.format(value).replace(MINUS, "-")
        negative = written.startswith("-")
        body = written.lstrip("-")
        if isinstance(value, tuple) or not re.fullmatch(r"[0-9.]+(e[-+]?[0-9]+)?(/[0-9]+)?", body):
            return math(written)
        if "/" in body:
            numerator, denominator = body.split("/")
            body = f"\\tfrac{{{numerator}}}{{{denominator}}}"
        elif "e" in body:
            mantissa, exponent = body.split("e")
            body = f"{mantissa}\\times 10^{{{int(exponent)}}}"
        result = ("-" if negative else "") + body
        if factor and (negative or "\\" in body):
            return f"\\left({result}\\right)"
        return result

    def cell(self, value: Any) -> str:
        if isinstance(value, Symbol):
            return math(value.text)
        return self.number(value)

    def emit(self, *lines: str) -> None:
        self.out.extend([*lines, ""])

    def render(self, solution, command: str) -> str:
        self.out.append(
            "% gradcalc --format latex: compiles with \\documentclass{article} and "
            "\\usepackage{amsmath} alone."
        )
        return super().render(solution, command)

    def heading(self, value: str, level: int) -> None:
        command = "section" if level == 1 else "subsection"
        self.emit(f"\\{command}*{{{text(value)}}}")

    def paragraph(self, value: str) -> None:
        self.emit(text(value))

    def bullets(self, lines: Sequence[str]) -> None:
        self.emit(
            "\\begin{itemize}", *(f"  \\item {text(line)}" for line in lines), "\\end{itemize}"
        )

    def math(self, item: Math) -> None:
        self.emit(f"{text(item.label)}:", "\\[", item.latex, "\\]")

    def display(self, lines: Sequence[str]) -> None:
        """An ``aligned`` display: the first line, then ``= …`` lines aligned on the =."""
        body = " \\\\\n".join(lines)
        self.emit("\\[", "\\begin{aligned}", body, "\\end{aligned}", "\\]")

    def formula(self, formula: Formula) -> None:
        left, equals, right = formula.symbolic.partition(" = ")
        first = f"{math(left)} &= {math(right)}" if equals else f"&{math(formula.symbolic)}"
        numeric = "".join(
            math(piece) if isinstance(piece, str) else self.number(piece)
            for piece in formula.numeric
        )
        value = formula.value if isinstance(formula.value, str) else self.number(formula.value)
        value = math(value) if isinstance(formula.value, str) else value
        lines = [first]
        if numeric:
            lines.append(f"&= {numeric}")
        lines.append(f"&= {value}")
        self.display(lines)

    def product(self, product: Product, *, numbers: bool) -> str:
        if numbers:
            if len(product.factors) == 1:
                return self.number(product.factors[0][1])
            return r" \cdot ".join(self.number(v, factor=True) for _, v in product.factors)
        return r" \cdot ".join(math(symbol.text) for symbol, _ in product.factors)

    def terms(self, terms: list[str]) -> list[str]:
        """Terms joined by +, several per line; later lines start with ``&\\quad +``."""
        lines = []
        for start in range(0, len(terms), TERMS_PER_LINE):
            chunk = terms[start : start + TERMS_PER_LINE]
            joined = chunk[0]
            for term in chunk[1:]:
                joined += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
            if start:
                lead = "- " + joined[1:] if joined.startswith("-") else "+ " + joined
                lines.append(f"&\\quad {lead}")
            else:
                lines.append(f"&= {joined}")
        return lines

    def sum_of_products(self, step: SumOfProducts) -> None:
        symbolic = [self.product(p, numbers=False) for p in step.terms]
        numeric = [self.product(p, numbers=True) for p in step.terms]
        if step.constant is not None:
            symbolic.append(math(step.constant[0].text))
            numeric.append(self.number(step.constant[1]))
        lines = [f"&= {math(step.general)}"] if step.general else []
        if symbolic:
            lines += self.terms(symbolic) + self.terms(numeric)
        lines.append(f"&= {self.number(step.value)}")
        lines[0] = f"{math(step.target.text)} {lines[0]}"
        if step.note:
            lines[-1] += f" &&\\text{{({text(step.note)})}}"
        self.display(lines)

    def grid(self, grid: Grid, caption: str) -> None:
        columns = len(grid.column_labels) + (1 if grid.more_columns else 0)
        rows = []
        for row in grid.cells:
            cells = [self.cell(v) for v in row] + (["\\cdots"] if grid.more_columns else [])
            row_text = " & ".join(cells)
            # After \\ a "[" would be read as the row's vertical skip: start such rows with {}.
            rows.append("{}" + row_text if row_text.startswith("[") else row_text)
        lines = []
        if columns > 10:  # amsmath's matrices allow 10 columns unless told otherwise
            lines.append(f"\\setcounter{{MaxMatrixCols}}{{{columns}}}")
        lines += [
            "\\[",
            f"\\text{{{text(grid.title)}}} = \\begin{{bmatrix}}",
            " \\\\\n".join(rows),
            "\\end{bmatrix}",
            "\\]",
        ]
        self.emit(*lines)
        if caption:
            self.emit(f"\\emph{{{text(caption)}}}")

    def symbol_table(self, table: SymbolTable) -> None:
        def math_cell(value: Any) -> str:
            if isinstance(value, str):
                return f"${math(value)}$" if value else ""
            return f"${self.cell(value)}$"

        header = " & ".join(["", *(math_cell(c) for c in table.columns)])
        rows = [
            " & ".join([math_cell(label), *(math_cell(v) for v in row)])
            for label, row in zip(table.rows, table.cells, strict=True)
        ]
        self.emit(
            f"\\noindent\\textbf{{{text(table.label)}}}\\\\[2pt]",
            f"\\begin{{tabular}}{{r|{'r' * len(table.columns)}}}",
            header + " \\\\ \\hline",
            *(row + " \\\\" for row in rows),
            "\\end{tabular}",
        )
        if table.caption:
            self.emit(f"\\emph{{{text(table.caption)}}}")
