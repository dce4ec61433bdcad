"""The sections of a pool explanation that show whole matrices: ∂L/∂x under every tie
policy (ties, for max) and the Jacobian ∂y/∂x.

A mixin of core/explain/pool.py's Explainer: it uses the explainer's problem ``p``,
geometry ``g``, trace ``c``, results, names, symbols, ``_taps`` and ``_matrix``.
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.explain import GRADIENT, Note, Section, SymbolTable, sentence
from gradcalc.core.explain.pieces import chain_product
from gradcalc.core.ops.windows import REAL


class MatrixSections:
    """``section_ties`` and ``section_jacobian``."""

    # ties ----------------------------------------------------------------
    def section_ties(self) -> Section:
        p = self.p
        section = Section("ties", "Ties")
        if p.mode != "max":
            section.add(Note(f"mode {p.mode}: ties do not matter (only a max picks a winner)"))
            return section
        tied = self.c.tied
        counts = tied.sum(axis=-1)
        tie_windows = np.argwhere(counts > 1)
        if not len(tie_windows):
            section.add(
                Note(
                    "no ties: every window has a single maximum, so first, all and split give the "
                    "same gradient (and max is differentiable at this input)"
                )
            )
            return section
        section.add(
            Note(
                f"{len(tie_windows)} window{'s have' if len(tie_windows) != 1 else ' has'} tied maxima; "
                f"this spec uses ties: {p.ties}. Max is not differentiable at a tie, so each policy is a "
                "convention (a subgradient), and the finite-difference check skips the tied cells."
            )
        )
        shown = self.options.cap(len(tie_windows))
        for n, c, i, j in tie_windows[:shown]:
            taps = [
                (t, r, col)
                for t, r, col, code in self._taps(int(i), int(j))
                if code == REAL and tied[n, c, i, j, t]
            ]
            names = " = ".join(self.sym_x(n, c, r, col).text for _, r, col in taps)
            section.add(
                sentence(
                    f"{self.sym_y(n, c, i, j).text}: {names} = ",
                    self.c.output[n, c, i, j],
                    f" ({len(taps)}-way tie; upstream ",
                    self.up[n, c, i, j],
                    ")",
                )
            )
        section.omitted = len(tie_windows) - shown
        for policy, grad in self.c.grad_by_ties.items():
            label = f"∂{self.L}/∂{self.X} under ties: {policy}" + (
                " (this spec)" if policy == p.ties else ""
            )
            caption = {
                "first": "PyTorch: only the first maximum gets the value",
                "all": "every tied maximum gets the full value (seed 000 Ex. 2, seed 003's indicator)",
                "split": "k tied maxima get 1/k each",
            }[policy]
            section.add(
                self._matrix(label, grad.reshape(p.input.shape), caption=caption, role=GRADIENT)
            )
        return section

    # jacobian ------------------------------------------------------------
    def section_jacobian(self) -> Section:
        p, g = self.p, self.g
        section = Section("jacobian", f"Jacobian ∂{self.Y}/∂{self.X}")
        matrix = self.results.get("jacobian_input")
        if matrix is None:
            section.add(
                Note(
                    f"not built: ∂{self.Y}/∂{self.X} would have {g.windows * p.input.size:,} entries, above "
                    f"the limit of {self.options.limits.max_jacobian:,} (raise it with --max-jacobian)"
                )
            )
            return section
        out_labels = tuple(
            self.sym_y(*idx).text for idx in np.ndindex(g.batch, g.channels, g.out_h, g.out_w)
        )
        x_labels = tuple(
            self.sym_x(*idx).text for idx in np.ndindex(g.batch, g.channels, g.in_h, g.in_w)
        )
        shown = self.options.cap(len(out_labels))
        section.add(
            SymbolTable(
                f"∂{self.Y}/∂{self.X} (values)",
                x_labels,
                out_labels[:shown],
                tuple(tuple(matrix[r]) for r in range(shown)),
                f"row: output, column: input; {len(out_labels)}×{len(x_labels)}; "
                f"∂{self.L}/∂{self.X} = (∂{self.L}/∂{self.Y} as a row)·this matrix",
                omitted=len(out_labels) - shown,
            )
        )
        for item in chain_product(
            (self.L, self.Y, self.X),
            out_labels,
            self.up,
            x_labels,
            matrix,
            self.results["grad_input"],
        ):
            section.add(item)
        return section
