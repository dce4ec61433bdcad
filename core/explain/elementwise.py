"""What the activation and softmax explanations share: their symbols, the conventions they
have in common and the problem section (an input, an upstream of the same shape)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import GRADIENT, Note, Section, Symbol, index_separator, keyed_sections
from gradcalc.core.explain.pieces import element_symbol, index_and_upstream_words, show_matrix


class ElementwiseExplainer:
    """Symbols and shared sections for a problem whose ``input``, output and ``upstream``
    all have one shape; ``problem`` carries ``names``, ``index_base`` and ``upstream_given``."""

    def __init__(self, problem: Any, options: common.SolveOptions):
        self.p = problem
        self.options = options
        self.X, self.Y, self.L = (problem.names[k] for k in ("input", "output", "loss"))
        self.sep = index_separator(problem.input.shape, index_base=problem.index_base)

    # The kind's sections in order; section KEY is built by the method ``section_KEY``.
    SECTIONS: tuple[str, ...] = ()

    def sections(self) -> list[Section]:
        """The sections --show asks for, in order."""
        return keyed_sections(self, self.SECTIONS)

    def sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def dims(self) -> str:
        return "×".join(map(str, self.p.input.shape)) or "() (a single number)"

    def sym_up(self, index: tuple[int, ...]) -> Symbol:
        return self.sym(f"∂{self.L}/∂{self.Y}", index)

    def common_conventions(self) -> list[str]:
        p = self.p
        return index_and_upstream_words(p.index_base, p.upstream_given, self.L, self.Y)

    def problem_section(self, description: str) -> Section:
        section = Section("problem", "Problem")
        section.add(Note(description))
        section.add(show_matrix(self.X, self.p.input, self.p.index_base))
        section.add(
            show_matrix(
                f"∂{self.L}/∂{self.Y} (upstream)",
                self.p.upstream,
                self.p.index_base,
                role=GRADIENT,
            )
        )
        return section

    def indices(self, shape: tuple[int, ...]) -> tuple[list[tuple[int, ...]], int]:
        """The first entries to show (row-major) and how many are left out."""
        total = int(np.prod(shape))
        shown = self.options.cap(total)
        return [tuple(int(v) for v in np.unravel_index(k, shape)) for k in range(shown)], (
            total - shown
        )
