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

import itertools
import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from gradcalc.cli.numbers import MINUS, is_formula
from gradcalc.cli.render_doc import DocumentRenderer, Grid
from gradcalc.cli.safe_text import visible
from gradcalc.core.explain import Formula, Math, Product, SumOfProducts, Symbol, SymbolTable

PREAMBLE = "\\documentclass{article}\n\\usepackage{amsmath}\n"
# Terms per line of a worked sum; more would run off the page.
TERMS_PER_LINE = 4
# Widths are counted in characters of math as written (about 4.3pt each in a display, so
# about 80 to a line of an article page; _cell_width counts them).
# Room for the terms of a worked sum (the left side takes the rest of the line).
SUM_CHARS = 64
# A formula's worked line longer than this wraps at its pluses.
FORMULA_CHARS = 64

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
# Combining accents after a letter (ỹ, ŷ as y + U+0302, …): (text-mode, math-mode) commands.
_ACCENTS = {
    "\u0300": ("\\`", "\\grave"),
    "\u0301": ("\\'", "\\acute"),
    "\u0302": ("\\^", "\\hat"),
    "\u0303": ("\\~", "\\tilde"),
    "\u0304": ("\\=", "\\bar"),
    "\u0306": ("\\u", "\\breve"),
    "\u0307": ("\\.", "\\dot"),
    "\u0308": ('\\"', "\\ddot"),
    "\u030c": ("\\v", "\\check"),
}


def _decomposed(value: str) -> str:
    """Accented letters LaTeX cannot take as they are (ŷ, ē) as letter + combining accents."""
    out = []
    for char in value:
        if ord(char) >= 128 and char not in MATH_SYMBOLS and not _PASS_THROUGH.match(char):
            parts = unicodedata.normalize("NFD", char)
            if len(parts) > 1 and ord(parts[0]) < 128 and all(a in _ACCENTS for a in parts[1:]):
                char = parts
        out.append(char)
    return "".join(out)


def _accented(value: str, i: int, piece: str, mode: int) -> str:
    """``piece`` under the combining accents that follow position ``i`` (mode 0 text, 1 math)."""
    for accent in itertools.takewhile(lambda c: c in _ACCENTS, value[i + 1 :]):
        piece = f"{_ACCENTS[accent][mode]}{{{piece}}}"
    return piece


# y_0,12 (indices of 10 or more are written with commas) is one subscript: y_{0,12}.
_SUBSCRIPT = re.compile(r"_([A-Za-z0-9]+(?:_[A-Za-z0-9]+)*(?:,[0-9]+)*)")
# max_{j ≤ 0}, Σ_{j ∈ {0, 2}}: a braced subscript (one level of braces inside, a set's, which
# stays literal braces) is one subscript group, not the text "_{j ≤ 0}".
_BRACED_SUBSCRIPT = re.compile(r"_\{((?:[^{}]|\{[^{}]*\})*)\}")
_POWER = re.compile(r"\^(\([^()]*\)|[A-Za-z0-9]+)")
# Words upright, but not inside subscripts (X_ij keeps italic indices).
_WORD = re.compile(r"(?<![A-Za-z\\\x01\x02])[A-Za-z]{2,}")
_SPACE_BETWEEN_WORDS = re.compile(r"(?<=[A-Za-z0-9)\]]) +(?=[A-Za-z0-9(\[])")


def _unknown(char: str) -> str:
    return f"[U+{ord(char):04X}]"


def _plain(value: str) -> str:
    """Control characters written out as ``\\x1b`` (then typeset as a backslash and text), and
    line breaks as spaces: a blank line would end the paragraph inside a heading, an ``\\item``
    or a formula, which LaTeX refuses."""
    return visible(value).replace("\n", " ").replace("\t", " ")


def text(value: str) -> str:
    """Plain notation as text-mode LaTeX: specials escaped, symbols as ``\\ensuremath``."""
    value = _decomposed(_plain(value))
    pieces = []
    for i, char in enumerate(value):
        if char in _ACCENTS:
            continue
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
        pieces.append(_accented(value, i, piece, 0))
    return "".join(pieces)


class _Scripts:
    """Keeps math() from writing a double sub- or superscript, which TeX refuses: in
    ``a^b^c``, ``x²³`` or ``y_1 _2`` the second script goes on an empty group (``a^{b}{}^{c}``).
    Told each piece as it is written (the marker characters of math() open and close groups)."""

    def __init__(self) -> None:
        self.attached: set[str] = set()  # the scripts the current nucleus already has
        self.groups: list[set[str] | None] = []  # outside a group: its nucleus' scripts
        self.prime = False  # the last piece was a prime (primes in a row are one superscript)

    def atom(self, piece: str) -> str:
        self.attached, self.prime = set(), False
        return piece

    def script(self, kind: str, piece: str) -> str:
        if kind in self.attached:
            piece = "{}" + piece
            self.attached = set()
        self.attached.add(kind)
        return piece

    def place(self, char: str, piece: str) -> str:
        prime = piece in ("'", "''")
        if prime and self.prime:
            return piece
        if char in "\x01\x04":  # _{ or ^{ opens a script group
            piece = self.script("_" if char == "\x01" else "^", piece)
            self.groups.append(self.attached)
            self.attached, self.prime = set(), False
            return piece
        if char == "\x06":  # \mathrm{ opens a group that is one atom
            self.groups.append(None)
            self.attached, self.prime = set(), False
            return piece
        if char == "\x03" and self.groups:
            outside = self.groups.pop()
            self.attached, self.prime = (outside if outside is not None else set()), False
            return piece
        if piece == " ":
            return piece
        if prime or piece.startswith("^"):  # ', ² and ᵀ are superscripts
            piece = self.script("^", piece)
        elif piece.startswith("_{"):  # ₀ is a subscript
            piece = self.script("_", piece)
        else:
            return self.atom(piece)
        self.prime = prime
        return piece


def math(value: str) -> str:
    """Plain notation as math-mode LaTeX.

    ``X_01`` -> ``X_{01}``; ``f_x_y`` -> ``f_{x\\_y}`` (one subscript); ``a^(p−1)`` ->
    ``a^{(p-1)}``; words of two or more letters upright; spaces between words kept.
    """
    value = _decomposed(_plain(value))  # and no control character is left to clash with these:
    value = _BRACED_SUBSCRIPT.sub(lambda m: "\x01" + m.group(1) + "\x03", value)
    value = _SUBSCRIPT.sub(lambda m: "\x01" + m.group(1).replace("_", "\x02") + "\x03", value)
    value = _POWER.sub(lambda m: "\x04" + m.group(1) + "\x03", value)
    value = _SPACE_BETWEEN_WORDS.sub("\x05", value)
    value = _WORD.sub(lambda m: "\x06" + m.group(0) + "\x03", value)
    pieces = []
    scripts = _Scripts()
    for i, char in enumerate(value):
        if char in _ACCENTS:
            continue
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
        accented = _accented(value, i, piece, 1)
        pieces.append(scripts.place(char, piece) if accented == piece else scripts.atom(accented))
    return "".join(pieces)


# A matrix's or table's columns side by side, less the brackets.
PAGE_CHARS = 68
_FRACTION = re.compile(r"\\tfrac\{([^{}]*)\}\{([^{}]*)\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")


def _cell_width(cell: str) -> int:
    """About how many characters wide a cell is on the page (a fraction: its wider part;
    a command such as \\partial: one)."""
    cell = _FRACTION.sub(lambda m: "0" * max(len(m.group(1)), len(m.group(2))), cell)
    cell = _COMMAND.sub("0", cell.replace("\\ ", " "))
    # A minus sign (or plus) is about two digits wide in math.
    return len(re.sub(r"[{}$_^]", "", cell)) + cell.count("-") + cell.count("+")


def _top_level_terms(formula: str) -> list[str]:
    """``a + b\\cdot (c + d)`` -> [a, b\\cdot (c + d)]: split at the pluses outside brackets,
    so a long general formula wraps like the worked terms."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(formula):
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth -= 1
        if depth == 0 and formula.startswith(" + ", i) and i > start:
            terms.append(formula[start:i])
            start = i + 3
    terms.append(formula[start:])
    return [term for term in terms if term]


def _column_blocks(
    cells: list[list[str]], reserved: int = 0, separation: int = 2
) -> list[tuple[int, int]]:
    """Runs of columns (start, stop) that fit the page side by side: all of them at once when
    the matrix fits, else as many as fit per block (``reserved``: characters taken by labels;
    ``separation``: the space between columns, 2 in a matrix, 3 in a tabular)."""
    if not cells or not cells[0]:
        return [(0, 0)]
    widths = [max(_cell_width(row[j]) for row in cells) + separation for j in range(len(cells[0]))]
    room = PAGE_CHARS - reserved
    if sum(widths) <= room:
        return [(0, len(widths))]
    blocks, start, used = [], 0, 0
    for j, width in enumerate(widths):
        if j > start and used + width > room:
            blocks.append((start, j))
            start, used = j, 0
        used += width
    blocks.append((start, len(widths)))
    return blocks


class LatexRenderer(DocumentRenderer):
    def number(self, value: Any, *, factor: bool = False) -> str:
        """A number in math mode: 1/4 as \\tfrac{1}{4}, 1.5e-7 as 1.5\\times 10^{-7}."""
        if isinstance(value, str):
            return math(value)
        if is_formula(value):  # a symbolic entry: SymPy's LaTeX, w_{1} x_{1} + \frac{w_{2}}{2}
            from gradcalc.core.symbolic import is_sum, latex

            body = latex(value)
            wrap = factor and (is_sum(value) or body.startswith("-"))
            return f"\\left({body}\\right)" if wrap else body
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
        # An item starting with "[" would be read as \item's optional label: {} ends the label.
        items = [("{}" if line.startswith("[") else "") + text(line) for line in lines]
        self.emit("\\begin{itemize}", *(f"  \\item {item}" for item in items), "\\end{itemize}")

    def math(self, item: Math) -> None:
        self.emit(f"{text(item.label)}:", "\\[", item.latex, "\\]")

    def display(self, lines: Sequence[str]) -> None:
        """An ``aligned`` display: the first line, then ``= …`` lines aligned on the =."""
        # After \begin{aligned} or \\ a "[" would start an optional argument: {} ends it.
        body = " \\\\\n".join(("{}" if line.startswith("[") else "") + line for line in lines)
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
        lines = [first, *self.wrapped(numeric)]
        lines.append(f"&= {value}")
        self.display(lines)

    def product(self, product: Product, *, numbers: bool) -> str:
        if numbers:
            if len(product.factors) == 1:
                return self.number(product.factors[0][1])
            return r" \cdot ".join(self.number(v, factor=True) for _, v in product.factors)
        return r" \cdot ".join(math(symbol.text) for symbol, _ in product.factors)

    def wrapped(self, formula: str) -> list[str]:
        """``&= formula`` as one aligned line, or wrapped at its pluses when too long for the
        page; no line for an empty formula."""
        if not formula:
            return []
        if _cell_width(formula) <= FORMULA_CHARS:
            return [f"&= {formula}"]
        return self.terms(_top_level_terms(formula))

    def terms(self, terms: list[str]) -> list[str]:
        """Terms joined by +, as many per line as fit the page (at most TERMS_PER_LINE); later
        lines start with ``&\\quad +``."""
        chunks: list[list[str]] = [[]]
        used = 0
        for term in terms:
            width = _cell_width(term) + 3  # the sign between terms
            if chunks[-1] and (len(chunks[-1]) == TERMS_PER_LINE or used + width > SUM_CHARS):
                chunks.append([])
                used = 0
            chunks[-1].append(term)
            used += width
        lines = []
        for number, chunk in enumerate(chunks):
            joined = chunk[0]
            for term in chunk[1:]:
                joined += f" - {term[1:]}" if term.startswith("-") else f" + {term}"
            if number:
                lead = "- " + joined[1:] if joined.startswith("-") else "+ " + joined
                lines.append(f"&\\quad {lead}")
            else:
                lines.append(f"&= {joined}")
        return lines

    def sum_of_products(self, step: SumOfProducts) -> None:
        symbolic = [self.product(p, numbers=False) for p in step.terms]
        numeric = [self.product(p, numbers=True) for p in step.terms]
        if step.omitted:  # the sum is cut here: say so where it is cut
            symbolic.append(r"\dots")
            numeric.append(r"\dots")
        if step.constant is not None:
            symbolic.append(math(step.constant[0].text))
            numeric.append(self.number(step.constant[1]))
        lines = self.wrapped(math(step.general) if step.general else "")
        if symbolic:
            lines += self.terms(symbolic) + self.terms(numeric)
        lines.append(f"&= {self.number(step.value)}")
        lines[0] = f"{math(step.target.text)} {lines[0]}"
        self.display(lines)
        if step.notes:  # below the sum: beside it, a long note would run off the page
            self.emit(f"({text(step.notes)})")

    def grid(self, grid: Grid, caption: str) -> None:
        cells = [[self.cell(v) for v in row] for row in grid.cells]
        title_width = _cell_width(text(grid.title)) + 3  # "title =" beside a single block
        blocks = _column_blocks(cells, title_width)
        for start, stop in blocks:
            last = stop == len(grid.cells[0]) if grid.cells else True
            more = ["\\cdots"] if grid.more_columns and last else []
            rows = []
            for row in cells:
                row_text = " & ".join(row[start:stop] + more)
                # After \\ a "[" would be read as the row's vertical skip: start such rows with {}.
                rows.append("{}" + row_text if row_text.startswith("[") else row_text)
            columns = stop - start + len(more)
            lines = []
            if columns > 10:  # amsmath's matrices allow 10 columns unless told otherwise
                lines.append(f"\\setcounter{{MaxMatrixCols}}{{{columns}}}")
            if len(blocks) == 1:
                lines += ["\\[", f"\\text{{{text(grid.title)}}} = \\begin{{bmatrix}}"]
            else:
                # Too wide for the page in one piece: a block of columns at a time.
                shown = f"columns {start + 1}--{stop} of {len(grid.cells[0])}"
                lines += [
                    f"\\noindent {text(grid.title)}, {shown}:",
                    "\\[",
                    "\\begin{bmatrix}",
                ]
            lines += [" \\\\\n".join(rows), "\\end{bmatrix}", "\\]"]
            self.emit(*lines)
        if caption:
            self.emit(f"\\emph{{{text(caption)}}}")

    def symbol_table(self, table: SymbolTable) -> None:
        def math_cell(value: Any) -> str:
            if isinstance(value, str):
                return f"${math(value)}$" if value else ""
            return f"${self.cell(value)}$"

        header = [math_cell(c) for c in table.columns]
        cells = [[math_cell(v) for v in row] for row in table.cells]
        labels = [math_cell(label) for label in table.rows]
        label_width = max((_cell_width(label) for label in labels), default=0) + 3
        # The header counts toward a column's width; the row labels repeat in every block.
        blocks = _column_blocks([header, *cells], label_width, separation=3)
        for start, stop in blocks:
            title = text(table.label)
            if len(blocks) > 1:
                title += f", columns {start + 1}--{stop} of {len(header)}"
            rows = [
                " & ".join([label, *row[start:stop]])
                for label, row in zip(labels, cells, strict=True)
            ]
            self.emit(
                f"\\noindent\\textbf{{{title}}}\\\\[2pt]",
                f"\\begin{{tabular}}{{r|{'r' * (stop - start)}}}",
                " & ".join(["", *header[start:stop]]) + " \\\\ \\hline",
                *(row + " \\\\" for row in rows),
                "\\end{tabular}",
            )
        if table.omitted:
            self.emit(text(table.omitted_words))
        if table.caption:
            self.emit(f"\\emph{{{text(table.caption)}}}")
