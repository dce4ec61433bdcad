"""The table report's sections that grow with the problem, summarised by default.

A Jacobian is R×P: its table (and the chain-rule product rows that follow it, cf.
core/explain/pieces.py ``chain_product``) grows with the product of the problem's sizes, so
above ``JACOBIAN_CELLS`` entries the whole "jacobian" section of the terminal report becomes
one line that names what was left out and the options that show it in full.  Per-element
sums are already summarised by the ``--steps`` cap (12 rows, and 8 terms a sum).

Only the table format summarises (cli/render.py): Markdown and LaTeX are documents and JSON a
contract, so they keep every section.  ``--show jacobian`` (an explicit ask) and ``--steps
all`` (every row) show the section in full.  Nothing else changes: the numbers, the results
and the checks are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: --help reads JACOBIAN_CELLS at start-up
    from gradcalc.core.explain import Section
    from gradcalc.core.outcome import Solution

# A Jacobian with more entries than this (R×P, e.g. 8×50 = 400) is one summary line in the
# table report: the seed problems' Jacobians (up to 9×25 = 225, 8×32 = 256) stay whole.
JACOBIAN_CELLS = 256

# What the summary line tells the reader to add to the command.
FULL_OPTIONS = "--show jacobian --steps all"


def table_size(item: object) -> tuple[str, int, int] | None:
    """(label, rows, columns) of a table, counting the rows --steps left out; None for notes
    and other items."""
    import numpy as np

    from gradcalc.core.explain import Matrix, SymbolTable

    if isinstance(item, SymbolTable):
        return item.label, len(item.rows) + item.omitted, len(item.columns)
    if isinstance(item, Matrix):
        shape = np.shape(item.values)
        rows = int(np.prod(shape[:-1])) if len(shape) > 1 else 1
        return item.label, rows, int(shape[-1]) if shape else 1
    return None


def summarised_section(section: Section, limit: int = JACOBIAN_CELLS) -> Section:
    """``section`` itself when no table in it has more than ``limit`` entries; else the same
    section holding one note (core/explain summary_note): the Jacobians left out, their
    sizes, and how to see them.  A kind whose solve was told the limit
    (SolveOptions.summarised_above) may have built the section so already."""
    from gradcalc.core.explain import Section, summary_note

    sizes = [size for size in map(table_size, section.items) if size is not None]
    if not sizes or max(rows * columns for _, rows, columns in sizes) <= limit:
        return section
    return Section(section.key, section.title, [summary_note(sizes, limit)])


def summary_limit(sections: frozenset[str] | None, steps: int | None) -> int | None:
    """The entries above which the table report summarises a Jacobian section
    (``JACOBIAN_CELLS``) when it does: no --show, a --steps cap; else None (shown whole)."""
    return JACOBIAN_CELLS if sections is None and steps is not None else None


def summarise(solution: Solution, sections: frozenset[str] | None, steps: int | None) -> Solution:
    """The solution the table report shows: each "jacobian" section summarised
    (:func:`summarised_section`) when :func:`summary_limit` says so; else ``solution`` itself."""
    limit = summary_limit(sections, steps)
    if limit is None:
        return solution
    shown = [
        summarised_section(section, limit) if section.key == "jacobian" else section
        for section in solution.sections
    ]
    if all(new is old for new, old in zip(shown, solution.sections, strict=True)):
        return solution
    import copy

    brief = copy.copy(solution)
    brief.sections = shown
    return brief
