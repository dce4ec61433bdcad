"""The explanation of an embedding problem (PyTorch's nn.Embedding), read from its run's
trace: each position's lookup y_k = W[idx_k], then ∂L/∂W per table row, as the sum of the
upstream rows of the positions that looked that row up (repeated indices accumulate), with
the padding_idx row at 0.  Indices ``idx`` have any shape S, the table ``W`` is V×D, the
output ``y`` and its upstream S×D, ∂L/∂W V×D."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    GRADIENT,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    index_separator,
    keyed_sections,
)
from gradcalc.core.explain.pieces import (
    arithmetic_words,
    element_symbol,
    index_and_upstream_words,
    show_matrix,
    symbolic_words,
)
from gradcalc.core.kinds.embedding import SECTIONS, EmbeddingProblem, EmbeddingTrace


class Explainer:
    """Builds the sections of an embedding explanation; loops only over the rows it shows."""

    def __init__(self, problem: EmbeddingProblem, run: Any, options: common.SolveOptions):
        trace: EmbeddingTrace = run.trace
        self.p = problem
        self.t = trace
        self.options = options
        self.I, self.W, self.Y, self.L = (
            problem.names[k] for k in ("input", "weight", "output", "loss")
        )
        self.sep = index_separator(
            problem.output_shape, problem.weight.shape, index_base=problem.index_base
        )
        self.flat = problem.indices.reshape(-1)
        # Each position k (a multi-index of the indices' shape S), in row-major order.
        self.positions = [
            tuple(int(i) for i in np.unravel_index(k, problem.indices.shape))
            for k in range(self.flat.size)
        ]

    def sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def position_text(self, position: tuple[int, ...]) -> str:
        """idx_01 (or idx for a single index)."""
        return self.sym(self.I, position).text

    def row(self, v: int) -> int:
        return v + self.p.index_base

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p, W, Y, L = self.p, self.W, self.Y, self.L
        shape = "×".join(map(str, p.indices.shape)) or "a single index"
        items = [
            f"{Y} = {W}[{self.I}] (nn.Embedding): each position k of {self.I} ({shape}) takes row "
            f"{self.I}_k of {W} ({p.vocabulary}×{p.width}: V×D), so {Y} is "
            + "×".join(map(str, p.output_shape))
            + " (the indices' shape, then D)",
            f"∂{L}/∂{W} row v = Σ over the positions k with {self.I}_k = v of ∂{L}/∂{Y}_k: "
            "gradients accumulate where an index repeats (they are added, not overwritten); "
            "a row no position looks up gets 0; the indices get no gradient (integers)",
        ]
        if p.padding_idx is not None:
            given = p.padding_given
            counted = (
                f" (given {given}: negative counts from the end, V + ({given}) = {p.padding_idx})"
                if given is not None and given < 0
                else ""
            )
            items.append(
                f"padding_idx = {p.padding_idx}{counted}: row {self.row(p.padding_idx)} of {W} "
                f"gets no gradient (∂{L}/∂{W} row = 0, as nn.Embedding); its lookups still "
                "output the row"
            )
        if p.index_base:
            # The values of idx are PyTorch's row numbers; only the printed labels move.
            items.append(
                f"{self.I}: rows of {W}, 0-based as in PyTorch (index_base {p.index_base} only "
                f"changes how indices are printed: {self.I} = 0 looks up row {self.row(0)})"
            )
        items += index_and_upstream_words(p.index_base, p.upstream_given, L, Y)
        items.append(
            arithmetic_words(
                exact=self.t.exact,
                forced=self.options.force_float,
                size=f"{p.indices.size * p.width:,} numbers looked up",
                limit=self.options.limits.exact_work,
            )
        )
        return items + symbolic_words(p.weight, p.upstream)

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    def section_problem(self) -> Section:
        p = self.p
        section = Section("problem", "Problem")
        shape = "×".join(map(str, p.indices.shape))
        section.add(
            Note(
                f"{self.I}: {f'{shape} integer' + 's' * (p.indices.size > 1) if shape else 'a single integer'} "
                f"in [0, {p.vocabulary}); {self.W}: {p.vocabulary}×{p.width}; "
                f"{self.Y} = {self.W}[{self.I}] is " + "×".join(map(str, p.output_shape))
            )
        )
        title = f"{self.I} (0-based as PyTorch reads them)" if p.index_base else self.I
        section.add(show_matrix(title, p.indices.astype(object), p.index_base))
        section.add(show_matrix(self.W, p.weight, p.index_base))
        section.add(
            show_matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, p.index_base, role=GRADIENT)
        )
        return section

    def section_forward(self) -> Section:
        p = self.p
        section = Section("forward", f"Forward: {self.Y}_k = row {self.I}_k of {self.W}")
        total = len(self.positions) * p.width
        shown = self.options.cap(total)
        for flat in range(shown):
            k, d = divmod(flat, p.width)
            position, v = self.positions[k], int(self.flat[k])
            if d == 0:
                section.add(Note(f"{self.position_text(position)} = {v}: row {self.row(v)}"))
            section.add(
                SumOfProducts(
                    target=self.sym(self.Y, (*position, d)),
                    terms=(Product(((self.sym(self.W, (v, d)), self.t.weight[v, d]),)),),
                    value=self.t.output[(*position, d)],
                )
            )
        section.omitted = total - shown
        return section

    def section_backward(self) -> Section:
        p, L = self.p, self.L
        section = Section(
            "backward",
            f"Backward: ∂{L}/∂{self.W} row v = Σ_(k: {self.I}_k = v) ∂{L}/∂{self.Y}_k",
        )
        budget = self.options.cap(p.vocabulary * p.width)
        shown = 0
        for v in range(p.vocabulary):
            if shown >= budget:
                break
            users = [
                pos for pos, index in zip(self.positions, self.flat, strict=True) if index == v
            ]
            section.add(self._row_note(v, users))
            if v == p.padding_idx or not users:
                shown += p.width
                continue
            for d in range(p.width):
                section.add(self._row_entry(v, d, users))
            shown += p.width
        section.omitted = max(0, p.vocabulary * p.width - shown)
        section.add(show_matrix(f"∂{L}/∂{self.W}", self.t.grad_weight, p.index_base, role=GRADIENT))
        return section

    def _row_note(self, v: int, users: list[tuple[int, ...]]) -> Note:
        """Which positions look row v up, and what that makes its gradient."""
        L, W = self.L, self.W
        where = ", ".join(self.position_text(pos) for pos in users)
        row = self.row(v)
        if v == self.p.padding_idx:
            looked = f"looked up at {where}, " if users else ""
            return Note(
                f"row {row} is padding_idx: {looked}its gradient stays 0 (∂{L}/∂{W} row {row} = 0)"
            )
        if not users:
            return Note(f"row {row}: no position looks it up, so ∂{L}/∂{W} row {row} = 0")
        times = f"{len(users)} positions add" if len(users) > 1 else "1 position adds"
        return Note(f"row {row}: looked up at {where} ({self.I} = {v}): {times} into it")

    def _row_entry(self, v: int, d: int, users: list[tuple[int, ...]]) -> SumOfProducts:
        """∂L/∂W_vd = Σ ∂L/∂y_kd over the positions k that look row v up."""
        up_name = f"∂{self.L}/∂{self.Y}"
        terms = tuple(
            Product(((self.sym(up_name, (*pos, d)), self.t.upstream[(*pos, d)]),))
            for pos in users[: self.options.max_terms]
        )
        return SumOfProducts(
            target=self.sym(f"∂{self.L}/∂{self.W}", (v, d)),
            terms=terms,
            value=self.t.grad_weight[v, d],
            omitted=len(users) - len(terms),
        )
