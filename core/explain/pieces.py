"""Pieces the explanations are made of: a symbol at an index, a matrix (or a sentence when
it is too large to print), the signs and brackets of numbers in a formula, the arithmetic
convention line, and the check an identity's recomputed value gets.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.explain import (
    Formula,
    Matrix,
    Note,
    Section,
    Summarised,
    Symbol,
    SymbolTable,
    sentence,
    summary_note,
)
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.values import holds_formulas, to_float
from gradcalc.core.words import entries

# A matrix with more entries than this is summarized in a sentence, not printed.
MAX_MATRIX_SHOWN = 400


def arithmetic_words(
    *, exact: bool, irrational: str = "", forced: bool, size: str, limit: int
) -> str:
    """The convention line saying how the numbers were computed, and why.

    ``irrational`` names what forces floats ("sigmoid uses exp"); ``size`` is
    the problem's size in the unit the exact limit counts ("2,000 entries").
    """
    if exact:
        return "exact rational arithmetic (fractions print as p/q unless --decimal)"
    if irrational:
        return f"float64 arithmetic: {irrational}, whose values are irrational"
    if forced:
        return "float64 arithmetic (--float)"
    return f"float64 arithmetic: {size}, above the exact limit of {limit:,}"


def conv_arithmetic_words(explainer: Any, work: int) -> list[str]:
    """How a conv or conv_transpose run computed (``work``: its multiply-adds, against the
    exact limit): exact, with the symbols it holds and why any were given values; or
    float64, and why."""
    p, limit = explainer.p, explainer.options.limits.exact_work
    if not explainer.c.exact:
        size = f"the problem needs {work:,} multiply-adds"
        return [arithmetic_words(exact=False, forced=work <= limit, size=size, limit=limit)]
    items = [arithmetic_words(exact=True, forced=False, size="", limit=limit)]
    items += symbolic_words(p.input, p.kernel, p.bias, p.upstream)
    if p.symbolic_capped:
        items.append(p.symbolic_capped)
    return items


def symbolic_words(*arrays: Any) -> list[str]:
    """The convention line of a symbolic run (core/symbolic.py), naming its symbols; none
    for numbers."""
    if not holds_formulas(*arrays):
        return []
    from gradcalc.core import symbolic

    names = [s.name for s in symbolic.symbols_of(*(a for a in arrays if a is not None))]
    shown = ", ".join(names[:12]) + (f", … ({len(names)} symbols)" if len(names) > 12 else "")
    return [
        f"symbolic entries ({shown}): every result is a polynomial in them, expanded; "
        "JSON and expected write it as text such as 2*w_1*x_1 + w_2**2 (docs/symbolic.md)"
    ]


def plus(value: Any) -> tuple[str | Any, ...]:
    """A term added after another, as formula tokens: " + 2", or " − 2" for −2."""
    if holds_formulas(value):  # a formula: " − w_1" for −w_1, " + (w_1 − w_2)" kept whole
        from gradcalc.core.symbolic import is_sum

        if is_sum(value):
            return (" + (", value, ")")
        return (" − ", -value) if value.could_extract_minus_sign() else (" + ", value)
    return (" − ", -value) if value < 0 else (" + ", value)


def factor(value: Any) -> tuple[str | Any, ...]:
    """A number as formula tokens, parenthesized when negative: (−1); a formula when it is
    a sum or negative: (w_1 + w_2)."""
    if holds_formulas(value):
        from gradcalc.core.symbolic import is_sum

        wrap = is_sum(value) or value.could_extract_minus_sign()
        return ("(", value, ")") if wrap else (value,)
    return ("(", value, ")") if value < 0 else (value,)


def element_symbol(name: str, index: tuple[int, ...], base: int, separator: str) -> Symbol:
    """``name`` at a 0-based ``index``, printed from ``base``."""
    return Symbol(name, tuple(int(i) + base for i in index), separator)


def show_matrix(
    label: str,
    values: np.ndarray,
    base: int,
    *,
    axes: tuple[str, ...] = (),
    caption: str = "",
    role: str = "",
) -> Matrix | Note:
    """A Matrix (``role`` as in :class:`Matrix`), or a one-line summary when it is too large
    to print usefully."""
    values = np.asarray(values, dtype=object)
    if values.size > MAX_MATRIX_SHOWN:
        return Note(
            f"{label}: {shape_text(values.shape)} ({values.size:,} entries, not printed; "
            "the results hold every value)"
        )
    # The results name unnamed axes axis0, axis1, …: the inputs' slices are named alike.
    names = axes or tuple(f"axis{i}" for i in range(values.ndim))
    return Matrix(
        label=label, values=values, axis_names=names, index_base=base, caption=caption, role=role
    )


def same(a: np.ndarray, b: np.ndarray, exact: bool) -> bool:
    """Two results agree: equal when exact, else within 1e-9 (an identity's check)."""
    if exact:
        return bool(np.all(a == b))
    return bool(np.allclose(to_float(a), to_float(b), rtol=1e-9, atol=1e-9))


def underflow_words(scores: Any) -> list[str]:
    """A convention line when float64 rounds a softmax probability to 0 (scores: …×C, softmax
    over the last axis): the steps then show `= 0` for a value that is positive."""
    shifted = np.asarray(scores, dtype=float)
    shifted = shifted - shifted.max(axis=-1, keepdims=True)
    count = int(np.count_nonzero(np.exp(shifted) == 0))
    if not count:
        return []
    return [
        f"exp(s_j − m) is below the smallest float64 (about 4.9e-324) for {count} "
        f"{'entry' if count == 1 else 'entries'} (s_j − m < −745.1): float64 rounds those "
        "probabilities, and what they multiply, to 0 — their true values are positive but "
        "under e^−745"
    ]


def chain_product(
    names: tuple[str, str, str],
    out_labels: tuple[str, ...],
    upstream: Any,
    param_labels: tuple[str, ...],
    jacobian: Any,
    result: Any,
) -> list[Any]:
    """The chain rule as a product, as seed 004 writes it: ∂L/∂θ = ∂L/∂y · ∂y/∂θ, the upstream
    as a row (R entries, in the Jacobian's row order) times the Jacobian (R×P) above, and
    the row it gives (P entries), compared with the backward pass's ``result`` (P entries in
    the Jacobian's column order).  ``names``: (L, y, θ) as printed."""
    loss, out, param = names
    row = np.asarray(upstream, dtype=object).reshape(-1)
    table = np.asarray(jacobian, dtype=object).reshape(len(row), -1)
    product = row.dot(table) if len(row) else np.zeros(table.shape[1], dtype=object)
    given = np.asarray(result, dtype=object).reshape(-1)
    if holds_formulas(product, given):
        # Formulas (a net's upstream of polynomials times a Jacobian of symbols): expanded,
        # as every result is, so that equal polynomials are equal entries.
        from gradcalc.core import symbolic

        product = symbolic.tidy(product)
    if all(a == b for a, b in zip(product, given, strict=True)):
        agreement = f"entry for entry the backward pass's ∂{loss}/∂{param}"
    else:
        # float64: each column's sum rounds by a few ε times the size of its terms.
        terms = np.abs(row.astype(float)).dot(np.abs(table.astype(float)))
        gaps = np.abs(product.astype(float) - given.astype(float))
        gap = float(gaps.max())
        if np.all(gaps <= 1e-12 * terms + 1e-300):
            agreement = f"the backward pass's ∂{loss}/∂{param} to float64 rounding ({gap:.1e})"
        else:
            agreement = (
                f"NOT the backward pass's ∂{loss}/∂{param} (largest difference {gap:.3g}): a bug"
            )
    upstream_name, product_name = f"∂{loss}/∂{out}", f"∂{loss}/∂{param}"
    return [
        Note(
            f"the chain rule as a product: {product_name} = {upstream_name} · ∂{out}/∂{param}, "
            f"the upstream as a row ({entries(len(row))}) times the Jacobian above "
            f"({len(row)}×{table.shape[1]})"
        ),
        SymbolTable(f"{upstream_name} (a row)", out_labels, (upstream_name,), (tuple(row),)),
        SymbolTable(
            f"{product_name} = {upstream_name} · ∂{out}/∂{param}",
            param_labels,
            (product_name,),
            (tuple(product),),
            caption=f"column k: Σ_r {upstream_name}_r·(∂{out}/∂{param})_rk; {agreement}",
        ),
    ]


def mapped_jacobians(
    names: tuple[str, str],
    rows: tuple[str, ...],
    upstream: Any,
    jacobians: Any,
    shown_rows: int,
) -> list[Any]:
    """Each Jacobian given as an index map, as a table of symbols, a table of values and the
    chain rule as a product (:func:`chain_product`): conv's and conv_transpose's, in 1-D, 2-D
    and 3-D.  ``names``: (L, y) as printed; ``rows``: the R outputs' labels; ``jacobians``:
    (θ, its K entries' labels, the R×K index map, the symbols the map indexes, the R×K values,
    the backward pass's ∂L/∂θ) per parameter.  Cell (r, k) of the symbols is
    ``symbols[map[r, k]]``, 0 where the map holds −1; the first ``shown_rows`` rows are shown."""
    from fractions import Fraction

    loss, out = names
    caption = "row r, column k: ∂(output r)/∂(entry k)"
    items: list[Any] = []
    zero = Fraction(0)  # one for every cell the map leaves empty (Fractions are immutable)
    for param, columns, index_map, symbols, values, gradient in jacobians:
        label = f"∂{out}/∂{param}"
        symbolic = tuple(
            tuple(symbols[k] if k >= 0 else zero for k in np.asarray(index_map[r]).tolist())
            for r in range(shown_rows)
        )
        numeric = tuple(tuple(values[r]) for r in range(shown_rows))
        omitted = len(rows) - shown_rows
        shown = rows[:shown_rows]
        items += [
            SymbolTable(
                f"{label} (symbols)",
                tuple(columns),
                shown,
                symbolic,
                f"{caption}; {len(rows)}×{len(columns)}",
                omitted=omitted,
            ),
            SymbolTable(f"{label} (values)", tuple(columns), shown, numeric, omitted=omitted),
            *chain_product((loss, out, param), rows, upstream, columns, values, gradient),
        ]
    return items


def conv_jacobians_section(explainer: Any, labelled: Any) -> Section:
    """The Jacobians section of a conv or conv_transpose explainer, 1-D, 2-D or 3-D: a note
    when the run built no index maps (above --max-jacobian), else :func:`mapped_jacobians`
    over ∂y/∂w and ∂y/∂x.  ``labelled()`` gives (the outputs' labels, (the kernel's labels,
    its symbols), (the input's labels, its symbols)), each entry's in row-major order; it is
    called only when the maps exist (a large problem's labels cost)."""
    ex, p = explainer, explainer.p
    section = Section("jacobian", "Jacobians")
    if ex.maps is None:
        out_size = int(np.prod(p.output_shape))
        section.add(
            Note(
                f"not built: ∂{ex.Y}/∂{ex.K} would have {out_size * p.kernel.size:,} "
                f"entries and ∂{ex.Y}/∂{ex.X} {out_size * p.input.size:,}, above the "
                f"limit of {ex.options.limits.max_jacobian:,} (raise it with --max-jacobian)"
            )
        )
        return section
    r = ex.results
    summary = _summarised(ex, ((ex.K, r["jacobian_kernel"]), (ex.X, r["jacobian_input"])))
    if summary is not None:
        return summary
    out_labels, (k_labels, w_symbols), (x_labels, x_symbols) = labelled()
    kernel_map, input_map = ex.maps
    jacobians = (
        (ex.K, k_labels, kernel_map, x_symbols, r["jacobian_kernel"], r["grad_kernel"]),
        (ex.X, x_labels, input_map, w_symbols, r["jacobian_input"], r["grad_input"]),
    )
    shown = ex.options.cap(len(out_labels))
    for item in mapped_jacobians((ex.L, ex.Y), out_labels, ex.up, jacobians, shown):
        section.add(item)
    return section


def _summarised(explainer: Any, jacobians: Any) -> Section | None:
    """The Jacobians section as the one note the table report would make of it, when one of
    its tables (R×K, ∂y/∂θ for each (θ, its R×K values) of ``jacobians``) has more entries
    than the report shows (SolveOptions.summarised_above); else None (built in full)."""
    limit = explainer.options.summarised_above
    if limit is None:
        return None
    tables = [(f"∂{explainer.Y}/∂{param}", *np.shape(values)) for param, values in jacobians]
    if max(rows * columns for _, rows, columns in tables) <= limit:
        return None
    return Summarised("jacobian", "Jacobians", [summary_note(tables, limit)])


def index_tuple_labels(explainer: Any, geometry: Any) -> tuple[Any, ...]:
    """``conv_jacobians_section``'s labels for an explainer whose symbols take index tuples
    (3-D: N×C×D×H×W): every entry of ``geometry``'s output, kernel and input shapes."""
    ex = explainer
    out_labels = tuple(ex.sym_y(i).text for i in np.ndindex(*geometry.output_shape))
    w_symbols = [ex.sym_w(i) for i in np.ndindex(*geometry.kernel_shape)]
    x_symbols = [ex.sym_x(i) for i in np.ndindex(*geometry.input_shape)]
    return (
        out_labels,
        (tuple(s.text for s in w_symbols), w_symbols),
        (tuple(s.text for s in x_symbols), x_symbols),
    )


def conv_loss_section(explainer: Any, entry_y: Any, entry_w: Any) -> Section:
    """The loss section of a conv explainer, 1-D to 3-D: L = Σ upstream ⊙ y (the loss whose
    gradient the upstream is), written out for the outputs --steps shows and summed over all,
    then what the sign of ∂L/∂w says at the kernel's first entry and its largest.
    ``entry_y(index)`` and ``entry_w(index)`` are the output's and the kernel's symbols at a
    full index tuple (N×O×… of the output, O×C×… of the kernel, as the run holds them)."""
    ex = explainer
    section = Section("loss", "A loss with this upstream, and reading the gradient's sign")
    rows, omitted = ex._output_indices()
    tokens: list[Any] = []
    for position, index in enumerate(rows):
        if position:
            tokens.append(" + ")
        tokens.extend(factor(ex.up[index]))
        tokens.append("·" + entry_y(index).text)
    if omitted:
        tokens.append(f" + … ({omitted} more)")
    products = ex.up * ex.c.output
    total = sum(products.ravel(), Fraction(0)) if ex.c.exact else float(np.sum(products))
    section.add(
        Formula(
            label=ex.L,
            symbolic=f"{ex.L} = Σ ∂{ex.L}/∂{ex.Y} ⊙ {ex.Y}  (upstream values held constant)",
            numeric=tuple(tokens),
            value=total,
        )
    )
    section.add(
        Note(
            f"differentiating gives ∂{ex.L}/∂{ex.Y} = the upstream exactly; with the other "
            f"operand fixed, {ex.L} changes exactly linearly in {ex.K} (and in {ex.X}), "
            "so the statements below hold for any ε."
        )
    )
    grad = ex.c.grad_kernel
    if holds_formulas(grad):  # its signs depend on values the spec left open
        section.add(
            Note(f"the sign of each entry of ∂{ex.L}/∂{ex.K} depends on the symbols' values.")
        )
        return section
    candidates = [(0,) * grad.ndim]
    largest = tuple(
        int(v) for v in np.unravel_index(int(np.argmax(np.abs(to_float(grad)))), grad.shape)
    )
    if largest not in candidates:
        candidates.append(largest)
    for index in candidates:
        section.add(_sign_sentence(ex.L, entry_w(index).text, grad[index]))
    return section


def _sign_sentence(loss: str, name: str, value: Any) -> Note:
    """What the sign of ∂L/∂``name`` (``value``) says about a small step of ``name``."""
    L = loss
    if value > 0:
        words: tuple = (
            f"raising {name} by ε raises {L} by ",
            *_times_epsilon(value),
            f"; lowering it lowers {L}. Gradient descent ({name} ← {name} − η·",
            value,
            f") lowers {name}, which lowers {L}.",
        )
    elif value < 0:
        words = (
            f"raising {name} by ε lowers {L} by ",
            *_times_epsilon(-value),
            f"; lowering it raises {L}. Gradient descent ({name} ← {name} − η·(",
            value,
            f")) raises {name}, which lowers {L}.",
        )
    else:
        words = (f"{L} does not change when {name} changes (to first order).",)
    return sentence(f"∂{L}/∂{name} = ", value, ": ", *words)


def _times_epsilon(value: Any) -> tuple:
    """2 -> (2, "ε"), 1 -> ("ε",), 1/2 -> ("(", 1/2, ")ε"): sentence pieces."""
    if value == 1:
        return ("ε",)
    if value == int(value):
        return (value, "ε")
    return ("(", value, ")ε")


def index_and_upstream_words(
    index_base: int, upstream_given: bool, loss: str, output: str, omitted_note: str = ""
) -> list[str]:
    """The conventions every kind states about its indices and its upstream ∂L/∂y (given, or
    ones: L is the sum of the outputs); ``omitted_note`` follows the latter."""
    upstream = (
        f"upstream ∂{loss}/∂{output} as given in the spec"
        if upstream_given
        else f"upstream omitted: ∂{loss}/∂{output} = ones, i.e. {loss} = sum of all outputs"
        + omitted_note
    )
    return [f"indices start at {index_base} (index_base: {index_base})", upstream]
