"""The explanation data model: what a step-by-step answer is made of.

The core fills these plain dataclasses; every renderer (Rich table, JSON, Markdown,
LaTeX) walks them.  Each kind's module in this package (``dense``, …) turns a problem
and the trace its run recorded into these items; it never recomputes a result.  Numbers stay numbers (Fraction or float)
so that each renderer decides how to print them (exact, ``--decimal``,
``--precision``).  Text holds notation only (symbols such as ``X_01``), never
terminal markup.
"""

from __future__ import annotations

from dataclasses import field
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.records import record

Number = Fraction | float


@record
class Symbol:
    """A named element such as ``X_01`` or ``∂L/∂H_20``.

    ``index`` is already shifted to the spec's ``index_base``; ``separator``
    joins the indices ("" gives X_01, "," gives X_1,10 when any index has two
    digits).
    """

    name: str
    index: tuple[int, ...] = ()
    separator: str = ""

    def __init__(self, name: str, index: tuple[int, ...] = (), separator: str = "") -> None:
        # Its own __init__, which @record keeps: an explanation makes symbols by the hundred
        # (~800 for gradcalc net), and a plain __init__ costs a fifth of the shared one.
        self.name, self.index, self.separator = name, index, separator

    @property
    def text(self) -> str:
        if not self.index:
            return self.name
        return f"{self.name}_{self.separator.join(map(str, self.index))}"


@record
class Product:
    """One term of a sum: factors multiplied together, each a symbol with its value."""

    factors: tuple[tuple[Symbol, Number], ...]

    def __init__(self, factors: tuple[tuple[Symbol, Number], ...]) -> None:
        self.factors = factors  # a plain __init__ (as Symbol's): products come by the hundred


@record
class SumOfProducts:
    """``target = general = Σ terms (+ constant) = numbers = value``.

    ``general`` is an optional index-free form (``Σ_i ∂L/∂H_i·∂H_i/∂K_00``);
    ``terms`` spell every product with its symbols and then its numbers.
    ``note`` explains omissions, e.g. terms that read zero padding.
    ``omitted`` counts terms of the sum left out after ``terms`` (a long sum under a
    ``--steps`` cap): renderers write ``+ …`` where the sum is cut, and say how many.
    """

    target: Symbol
    terms: tuple[Product, ...]
    value: Number
    constant: tuple[Symbol, Number] | None = None
    general: str = ""
    note: str = ""
    omitted: int = 0

    def __init__(
        self,
        target: Symbol,
        terms: tuple[Product, ...],
        value: Number,
        constant: tuple[Symbol, Number] | None = None,
        general: str = "",
        note: str = "",
        omitted: int = 0,
    ) -> None:
        # A plain __init__, as Symbol's (explanations make sums by the dozen).
        self.target, self.terms, self.value, self.constant = target, terms, value, constant
        self.general, self.note, self.omitted = general, note, omitted

    @property
    def notes(self) -> str:
        """The note, and how many terms the ``+ …`` stands for."""
        parts = [self.note] if self.note else []
        if self.omitted:
            plural = "s" if self.omitted != 1 else ""
            parts.append(
                f"+ … stands for {self.omitted} more term{plural}; --steps all shows every term"
            )
        return "; ".join(parts)


@record
class Formula:
    """A formula written symbolically, then with its numbers, then its value.

    ``numeric`` is a sequence of text pieces and numbers, so a renderer can
    format the numbers its own way.
    """

    label: str
    symbolic: str
    numeric: tuple[str | Number, ...]
    value: Number | str

    def __init__(
        self, label: str, symbolic: str, numeric: tuple[str | Number, ...], value: Number | str
    ) -> None:
        # A plain __init__, as Symbol's (explanations make formulas by the dozen).
        self.label, self.symbolic, self.numeric, self.value = label, symbolic, numeric, value


@record
class Matrix:
    """An array to show with labelled axes.

    ``values`` has any number of dimensions; a renderer shows the last two as
    a grid and the leading ones as slices named by ``axis_names``.
    ``marks`` (same shape, optional) flags cells to highlight, e.g. wrong answers.
    ``role`` says what the values are: ``GRADIENT`` (a ∂L/∂· array, the upstream
    included), ``OUTPUT`` (what the forward pass computed), or "" (inputs,
    parameters, indices); renderers may draw gradients and outputs as heatmaps.
    """

    label: str
    values: np.ndarray
    axis_names: tuple[str, ...]
    index_base: int = 0
    caption: str = ""
    role: str = ""

    def __init__(
        self,
        label: str,
        values: np.ndarray,
        axis_names: tuple[str, ...],
        index_base: int = 0,
        caption: str = "",
        role: str = "",
    ) -> None:
        # A plain __init__, which @record keeps (as Symbol's): the items of an explanation
        # come by the dozen (the bundled net example's: ~55 matrices, ~35 notes,
        # ~15 tables and ~70 sections).
        self.label, self.values, self.axis_names = label, values, axis_names
        self.index_base, self.caption, self.role = index_base, caption, role


GRADIENT = "gradient"
OUTPUT = "output"


def result_role(name: str) -> str:
    """The Matrix role of a ``Solution.results`` entry, by its (stable, JSON) name (a net's
    ``conv1.grad_kernel`` by what follows the layer's name)."""
    name = name.rsplit(".", 1)[-1]
    if name.startswith("grad_"):
        return GRADIENT
    if name in ("output", "loss", "probabilities"):
        return OUTPUT
    return ""


@record
class SymbolTable:
    """A table whose cells are symbols, numbers or text (Jacobians, routing tables).

    ``rows`` and ``columns`` are the header labels; ``cells[r][c]`` the entries.
    ``omitted`` counts rows of this table left out under the ``--steps`` cap (said under it).
    """

    label: str
    columns: tuple[str, ...]
    rows: tuple[str, ...]
    cells: tuple[tuple[Symbol | Number | str, ...], ...]
    caption: str = ""
    omitted: int = 0

    def __init__(
        self,
        label: str,
        columns: tuple[str, ...],
        rows: tuple[str, ...],
        cells: tuple[tuple[Symbol | Number | str, ...], ...],
        caption: str = "",
        omitted: int = 0,
    ) -> None:
        self.label, self.columns, self.rows, self.cells = label, columns, rows, cells
        self.caption, self.omitted = caption, omitted  # a plain __init__, as Matrix's

    @property
    def omitted_words(self) -> str:
        if not self.omitted:
            return ""
        plural = "s" if self.omitted != 1 else ""
        return f"… {self.omitted} more row{plural} of this table not shown (--steps all shows them)"


@record
class Math:
    """A formula already written in LaTeX (SymPy's), with a label and a plain-text form.

    Text renderers show ``label: plain`` and the LaTeX source; LaTeX and Markdown
    renderers typeset ``latex`` as display math.
    """

    label: str
    latex: str
    plain: str = ""


@record
class Picture:
    """A grid drawn cell by cell with some cells marked: what one element reads or feeds.

    ``cells[r][c]`` is a number, or a word for a cell outside the array: "padding", or "beyond"
    (past the padded edge).  ``marked`` holds the (r, c) positions in ``cells`` to flag;
    ``row_labels``/``column_labels`` are the printed indices ("" outside the array).
    """

    label: str
    row_labels: tuple[str, ...]
    column_labels: tuple[str, ...]
    cells: tuple[tuple[Number | str, ...], ...]
    marked: frozenset[tuple[int, int]]
    caption: str = ""


@record
class Note:
    """A sentence of explanation.

    ``pieces`` (optional) is the sentence as text and numbers, so that a renderer writes its
    numbers as it writes every other number (exact p/q, or ``--decimal``); ``text`` is then
    the sentence with the numbers exact.  Build such a note with :func:`sentence`.
    """

    text: str
    pieces: tuple[str | Number, ...] = ()

    def __init__(self, text: str, pieces: tuple[str | Number, ...] = ()) -> None:
        self.text, self.pieces = text, pieces  # a plain __init__, as Matrix's


def sentence(*pieces: str | Number) -> Note:
    """A Note whose numbers the renderer formats: ``sentence("upstream ", value)``."""
    return Note(str(Words(*pieces)), pieces)


class Words(str):
    """Text (a convention line) that is a ``str`` everywhere, and keeps its ``pieces`` (text
    and numbers) so that a renderer writes the numbers as it writes every other number."""

    pieces: tuple[str | Number, ...]

    def __new__(cls, *pieces: str | Number) -> Words:
        text = "".join(p if isinstance(p, str) else exact_text(p) for p in pieces)
        made = super().__new__(cls, text)
        made.pieces = pieces
        return made


def exact_text(value: Number) -> str:
    """A number in a Note's plain text: p/q exact, 6 digits for a float, minus sign −."""
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else f"{value:.6g}"
    elif type(value).__module__.startswith("sympy"):  # a formula (core/symbolic.py)
        from gradcalc.core.symbolic import text as formula

        text = formula(value)
    else:
        value = Fraction(value)
        text = str(value.numerator) if value.denominator == 1 else str(value)
    return text.replace("-", "−")


Item = SumOfProducts | Formula | Matrix | SymbolTable | Note | Math | Picture


@record
class Section:
    """One titled part of an explanation, keyed for ``--show``.

    ``omitted`` counts rows left out because of the ``--steps`` cap; ``cuts`` says where:
    (number of items before the cut, rows left out there), so that "… 4 more rows" follows
    the list it shortens, not a matrix after it.  Rows counted in ``omitted`` but in no cut
    are said at the end.
    """

    key: str
    title: str
    items: list[Item] = field(default_factory=list)
    omitted: int = 0
    cuts: tuple[tuple[int, int], ...] = ()

    def __init__(
        self,
        key: str,
        title: str,
        items: list[Item] | None = None,
        omitted: int = 0,
        cuts: tuple[tuple[int, int], ...] = (),
    ) -> None:
        # A plain __init__, as Matrix's (a net re-titles each layer's sections: ~70 a run);
        # no items given: a new list, as the field's default_factory makes.
        self.key, self.title = key, title
        self.items = [] if items is None else items
        self.omitted, self.cuts = omitted, cuts

    def add(self, item: Item) -> None:
        self.items.append(item)

    def cut(self, rows: int) -> None:
        """The list just added was cut by ``rows`` rows: say so here."""
        if rows > 0:
            self.cuts = (*self.cuts, (len(self.items), rows))
            self.omitted += rows

    def placed(self) -> list[Item | int]:
        """The items with each cut's row count (an int) where it belongs, the rest at the end."""
        out: list[Item | int] = []
        at = dict(self.cuts)
        for index, item in enumerate(self.items):
            if index in at:
                out.append(at[index])
            out.append(item)
        rest = self.omitted - sum(
            rows for position, rows in self.cuts if position < len(self.items)
        )
        if rest > 0:
            out.append(rest)
        return out

    def with_items(self, items: list[Item], title: str | None = None, shift: int = 0) -> Section:
        """The same section with other items (``shift`` of them put before the old ones)."""
        cuts = tuple((position + shift, rows) for position, rows in self.cuts)
        title = self.title if title is None else title
        return type(self)(self.key, title, items, self.omitted, cuts)


class Summarised(Section):
    """A section built as the one note the table report makes of it (cli/summary.py): its
    Jacobians above the report's limit (SolveOptions.summarised_above) named, not built.
    Nothing is added to it (a padding's note on ∂y/∂x, a net's on where the upstream comes
    from): the report's summary leaves them out too."""

    def add(self, item: Item) -> None:
        """Leave ``item`` out: the summary is the whole section."""


# What the table report's summary of a large Jacobian section tells the reader to add.
FULL_JACOBIANS = "--show jacobian --steps all"


def summary_note(tables: list[tuple[str, int, int]], limit: int) -> Note:
    """The note a Jacobian section is summarised to: ``tables`` (label, rows with those
    --steps left out, columns) of its tables, one of them above ``limit`` entries."""
    named = {}  # a Jacobian's symbols and values tables are one Jacobian
    for label, rows, columns in tables:
        # "∂y/∂x (values)" is ∂y/∂x; the chain rule's rows (the upstream as a row, the
        # product) belong to the Jacobian before them
        if "(a row)" not in label and " · " not in label:
            name = label.split(" (", 1)[0]
            named.setdefault(name, f"{name} ({rows}×{columns})")
    names = list(named.values())
    listed = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
    plural = "s" if len(named) != 1 else ""
    return Note(
        f"summarised (a Jacobian here has more than {limit} entries): the table{plural} of "
        f"{listed}, the chain rule as a product and their notes are left out; add "
        f"{FULL_JACOBIANS} to show them in full"
    )


def index_separator(*shapes: tuple[int, ...], index_base: int = 0) -> str:
    """ "" when every index printed has one digit, else ","."""
    largest = max((dim - 1 + index_base for shape in shapes for dim in shape), default=0)
    return "" if largest < 10 else ","


def keyed_sections(
    explainer: Any, keys: tuple[str, ...], skip: frozenset[str] = frozenset()
) -> list[Section]:
    """The sections ``--show`` asks for (``explainer.options.wants``), in the kind's order
    ``keys``: section KEY is built by the explainer's method ``section_KEY``.  ``skip``: keys
    that do not apply to this problem, left out unless ``--show`` names sections."""
    options = explainer.options
    return [
        getattr(explainer, f"section_{key}")()
        for key in keys
        if options.wants(key) and (key not in skip or options.sections is not None)
    ]
