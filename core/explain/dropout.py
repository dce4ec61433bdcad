"""The explanation of a dropout problem (PyTorch's nn.Dropout with a given mask), read from
its run's trace: the mask, the scale 1/(1 − p), and each entry's product
y = x·m·1/(1 − p) and ∂L/∂x = ∂L/∂y·m·1/(1 − p) (in evaluation y = x, ∂L/∂x = ∂L/∂y).
Every array has the input's shape."""

from __future__ import annotations

from typing import Any

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    Words,
)
from gradcalc.core.explain.elementwise import ElementwiseExplainer
from gradcalc.core.explain.pieces import arithmetic_words, show_matrix, symbolic_words
from gradcalc.core.kinds.dropout import SECTIONS as KIND_SECTIONS
from gradcalc.core.kinds.dropout import DropoutProblem, DropoutTrace
from gradcalc.core.words import entries

SCALE = "1/(1 − p)"


def mask_text(mask: Any) -> str:
    """The mask as a spec writes it: [[1, 0], [0, 1]] (a single 0 or 1 as itself)."""
    if isinstance(mask, list):
        return "[" + ", ".join(mask_text(item) for item in mask) + "]"
    return str(int(mask))


class Explainer(ElementwiseExplainer):
    """Builds the sections of a dropout explanation; loops only over the entries it shows."""

    SECTIONS = KIND_SECTIONS

    def __init__(self, problem: DropoutProblem, run: Any, options: common.SolveOptions):
        super().__init__(problem, options)
        trace: DropoutTrace = run.trace
        self.x, self.up, self.exact = trace.input, trace.upstream, trace.exact
        self.results = run.results
        self.M = problem.names["mask"]
        # The scale as the run used it (a float in float64 runs).
        self.scale = problem.scale if self.exact else float(problem.scale)

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[Any]:
        p = self.p
        X, Y, M, L = self.X, self.Y, self.M, self.L
        items: list[Any] = []
        if p.training:
            items.append(
                f"training (nn.Dropout in train mode): inverted dropout, {Y} = {X} ⊙ {M}/(1 − p) "
                f"and ∂{L}/∂{X} = ∂{L}/∂{Y} ⊙ {M}/(1 − p): a dropped entry ({M} = 0) gives 0, a "
                f"kept one ({M} = 1) is scaled by 1/(1 − p) so that E[{Y}] = {X}"
            )
            items.append(Words("p = ", p.p, f"; scale {SCALE} = ", p.scale))
            kept = int(sum(int(v) for v in p.mask.ravel().tolist()))
            items.append(f"{kept} of {entries(p.mask.size)} kept ({M} = 1)")
        else:
            items.append(
                f"training: false (evaluation): dropout is the identity, {Y} = {X} and "
                f"∂{L}/∂{X} = ∂{L}/∂{Y}; p and the mask are not used"
            )
        if p.seed is not None:
            items.append(
                f"mask {M} drawn with random: {p.seed}: keep (1) where u ≥ p, "
                f"u = numpy.random.default_rng({p.seed}).random({tuple(p.input.shape)}); "
                f"{M} = {mask_text(p.mask.tolist())} (give it as mask to reproduce it)"
            )
        items.extend(self.common_conventions())
        items.append(
            arithmetic_words(
                exact=self.exact,
                forced=self.options.force_float,
                size=f"{p.input.size:,} entries",
                limit=self.options.limits.exact_work,
            )
        )
        return items + symbolic_words(p.input, p.upstream)

    # sections ------------------------------------------------------------
    def section_problem(self) -> Section:
        p = self.p
        if p.training:
            words = f"{self.Y} = {self.X} ⊙ {self.M}/(1 − p) entry by entry"
        else:
            words = f"{self.Y} = {self.X} (evaluation: the identity)"
        arrays = f"{self.X}, {self.M}, {self.Y}" if p.mask_given else f"{self.X}, {self.Y}"
        section = self.problem_section(
            f"{words}; {arrays} and ∂{self.L}/∂{self.Y} all have shape {self.dims()}"
        )
        if p.mask_given:
            caption = "1 keeps an entry, 0 drops it" + ("" if p.training else " (not used)")
            section.items.insert(2, show_matrix(self.M, p.mask, p.index_base, caption=caption))
        return section

    def _factors(self, index: tuple[int, ...], first: Symbol, value: Any) -> Product:
        """first·m·1/(1 − p) in training, first alone in evaluation."""
        if not self.p.training:
            return Product(((first, value),))
        return Product(
            (
                (first, value),
                (self.sym(self.M, index), self.p.mask[index]),
                (Symbol(SCALE), self.scale),
            )
        )

    def section_forward(self) -> Section:
        general = f"{self.X}·{self.M}·{SCALE}" if self.p.training else f"{self.X}"
        section = Section("forward", f"Forward: {self.Y} = {general} per entry")
        rows, omitted = self.indices(self.p.input.shape)
        output = self.results["output"]
        for index in rows:
            section.add(
                SumOfProducts(
                    target=self.sym(self.Y, index),
                    terms=(self._factors(index, self.sym(self.X, index), self.x[index]),),
                    value=output[index],
                )
            )
        section.omitted = omitted
        return section

    def section_backward(self) -> Section:
        L, X, Y = self.L, self.X, self.Y
        general = f"∂{L}/∂{Y}·{self.M}·{SCALE}" if self.p.training else f"∂{L}/∂{Y}"
        section = Section("backward", f"Backward: ∂{L}/∂{X} = {general} per entry")
        rows, omitted = self.indices(self.p.input.shape)
        grad = self.results["grad_input"]
        for index in rows:
            section.add(
                SumOfProducts(
                    target=self.sym(f"∂{L}/∂{X}", index),
                    terms=(self._factors(index, self.sym_up(index), self.up[index]),),
                    value=grad[index],
                )
            )
        section.omitted = omitted
        if self.p.training:
            section.add(
                Note(
                    f"∂{Y}/∂{X} is diagonal with {self.M}·{SCALE} on its diagonal: the same "
                    "factor as the forward pass, so a dropped entry passes no gradient back"
                )
            )
        return section
