"""The explanation of a pool problem (PyTorch's MaxPool2d, AvgPool2d, LPPool2d), read
from its run's trace (core/kinds/pool.py: PoolTrace).

Arrays are NCHW: input ``x`` N×C×H×W, output ``y`` N×C×H_out×W_out; a window's taps lie
on one last axis of T = kh·kw entries in row-major order.  The explanation shows every
window, where each upstream value goes, and each ∂L/∂x as a sum over the windows that
read it; it loops only over the rows it shows.
"""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Matrix,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
    index_separator,
    keyed_sections,
    sentence,
)
from gradcalc.core.explain.pieces import element_symbol, plus, show_matrix, symbolic_words
from gradcalc.core.explain.pool_matrices import MatrixSections
from gradcalc.core.explain.pool_size import SizeSection
from gradcalc.core.kinds.pool import SECTIONS, PoolProblem, PoolTrace
from gradcalc.core.kinds.pool_checks import power_text

# REAL, PADDING, BEYOND: where a window's tap lands
from gradcalc.core.ops.windows import BEYOND, PADDING, REAL, cell_readers
from gradcalc.core.words import count_words, plain

if TYPE_CHECKING:
    from gradcalc.core.explain.focus import Focus
    from gradcalc.core.kinds.focus import FocusTarget


class Explainer(SizeSection, MatrixSections):
    """Builds the sections of a pool explanation; loops only over the rows it shows.

    Here: conventions, problem, forward, routing, backward and relations (lp), and the
    symbols and per-window steps every section uses; the size section, ties and the
    Jacobian come from the mixins (core/explain/pool_size.py, pool_matrices.py), --focus
    from core/explain/pool_focus.py.
    """

    def section_relations(self) -> Section:
        """LP pooling against average and max pooling (seed 002), for mode lp
        (core/explain/pool_lp.py, imported for that mode only: start-up cost)."""
        section = Section("relations", "LP pooling, average and max (seed 002)")
        if self.p.mode != "lp":
            section.add(Note(f"mode {self.p.mode}: these relations are shown for mode lp"))
            return section
        from gradcalc.core.explain import pool_lp

        pool_lp.add_relations(self, section)
        return section

    def section_focus(self, target: FocusTarget) -> tuple[Section, Focus]:
        """``--focus`` (core/explain/pool_focus.py: imported only then, start-up cost)."""
        from gradcalc.core.explain import pool_focus

        return pool_focus.section_focus(self, target)

    def __init__(self, problem: PoolProblem, run: Any, options: common.SolveOptions):
        computed: PoolTrace = run.trace
        self.p = problem
        self.c = computed
        self.g = problem.geometry
        self.results = run.results
        self.options = options
        self.X, self.Y, self.L = (problem.names[k] for k in ("input", "output", "loss"))
        self.sep = index_separator(
            problem.input.shape, problem.output_shape, index_base=problem.index_base
        )
        self.xs = problem.to_nchw(problem.input)  # the spec's exact values, for display
        upstream = problem.upstream if computed.exact else problem.upstream.astype(float)
        self.up = problem.output_nchw(upstream)  # as the run used it

    # symbols -------------------------------------------------------------
    def _index(self, n: int, c: int, r: int, col: int) -> tuple[int, ...]:
        full = {"n": n, "c": c, "row": r, "col": col}
        return tuple(full[a] for a in self.p.input_axes)

    def sym_x(self, n: int, c: int, r: int, col: int) -> Symbol:
        return element_symbol(self.X, self._index(n, c, r, col), self.p.index_base, self.sep)

    def sym_y(self, n: int, c: int, i: int, j: int, prefix: str = "") -> Symbol:
        return element_symbol(prefix + self.Y, self._index(n, c, i, j), self.p.index_base, self.sep)

    def sym_up(self, n: int, c: int, i: int, j: int) -> Symbol:
        return self.sym_y(n, c, i, j, prefix=f"∂{self.L}/∂")

    def _windows_shown(self) -> tuple[list[tuple[int, int, int, int]], int]:
        g = self.g
        shape = (g.batch, g.channels, g.out_h, g.out_w)
        shown = self.options.cap(g.windows)
        return [
            tuple(int(v) for v in np.unravel_index(k, shape)) for k in range(shown)
        ], g.windows - shown

    def _taps(self, i: int, j: int) -> list[tuple[int, int, int, int]]:
        """(tap t, row, col, code) of window (i, j), in row-major order."""
        g = self.g
        codes = self.c.layout.codes[i, j]
        return [
            (m * g.kernel_w + q, *g.tap_position(i, j, m, q), int(codes[m * g.kernel_w + q]))
            for m in range(g.kernel_h)
            for q in range(g.kernel_w)
        ]

    # conventions ---------------------------------------------------------
    def mode_words(self) -> str:
        p = self.p
        if p.mode == "max":
            return (
                f"max pooling (PyTorch MaxPool2d): {self.Y} = the largest entry of each window; "
                "padding cells count as −∞ and never win"
            )
        if p.mode == "avg":
            if p.divisor_override is not None:
                divisor = f"every window divides by divisor_override = {p.divisor_override}"
            elif p.count_include_pad:
                divisor = (
                    "the divisor counts the window's cells up to the padded edge, padding included "
                    "(count_include_pad: true)"
                )
            else:
                divisor = (
                    "the divisor counts only the window's input cells (count_include_pad: false)"
                )
            return f"average pooling (PyTorch AvgPool2d): {self.Y} = (sum of the window)/divisor; {divisor}"
        from gradcalc.core.explain.pool_lp import root_text  # LP only (start-up cost)

        pw = power_text(p.p)
        return (
            f"LP pooling (PyTorch LPPool2d), p = {plain(p.p)}: {self.Y} = (Σ {self.X}^{pw})^{root_text(p.p)} over "
            "each window, with no 1/N (seed 002's formula); PyTorch computes it as avg_pool2d(x^p)·kh·kw "
            "then the 1/p-th power; the gradient is 0 where Σ x^p = 0"
        )

    def tie_words(self) -> str:
        return {
            "first": "ties: first — the first maximum in row-major order gets the whole upstream value "
            "(PyTorch's rule; the other tied cells get 0)",
            "all": "ties: all — every tied maximum gets the full upstream value (seed 000 Exercise 2; "
            "the indicator form 1[x = y] of seed 003 Problem 5)",
            "split": "ties: split — k tied maxima get 1/k of the upstream value each "
            "(the subgradient tf.reduce_max uses)",
        }[self.p.ties]

    def conventions(self) -> list[str]:
        p, g = self.p, self.g
        items = [self.mode_words()]
        if p.mode == "max":
            items.append(self.tie_words())
        stride_words = "" if p.stride_given else " (default: the window size, as PyTorch)"
        items.append(
            f"window {g.kernel_h}×{g.kernel_w} (size: {p.size_text}), stride "
            f"{g.stride[0]}×{g.stride[1]}{stride_words}"
            + (f", dilation {g.dilation[0]}×{g.dilation[1]}" if p.mode == "max" else "")
        )
        if any(g.padding):
            fill = "−∞ (never the max)" if p.mode == "max" else "zeros"
            items.append(
                f"padding {count_words(g.padding[0], 'row')} top and bottom, "
                f"{count_words(g.padding[1], 'col')} left and right, "
                f"filled with {fill}; at most half the window (as PyTorch)"
            )
        if g.ceil_mode:
            items.append(
                "ceil_mode: true — the output size rounds up, but a last window must start inside "
                "the input or the left padding; a window past the padded edge is clipped there"
            )
        else:
            items.append("ceil_mode: false — the output size rounds down (partial windows dropped)")
        base = p.index_base
        items.append(
            f"indices start at {base} (index_base: {base}); "
            f"{self.X}_{''.join('ncij'[('n', 'c', 'row', 'col').index(a)] for a in p.input_axes)} "
            f"is input[{', '.join({'n': 'n', 'c': 'c', 'row': 'i', 'col': 'j'}[a] for a in p.input_axes)}]"
        )
        if p.mode == "max":
            items.append(
                "argmax (results, JSON) is PyTorch's return_indices: the flat index row·W + col, "
                "counted from 0, of the winning cell in its input plane"
                + (
                    ""
                    if p.ties == "first"
                    else "; under this tie policy, a tuple of every tied maximum"
                )
            )
        if p.upstream_given:
            items.append(f"upstream ∂{self.L}/∂{self.Y} as given in the spec")
        else:
            items.append(f"upstream ∂{self.L}/∂{self.Y} = all ones (L = the sum of the outputs)")
        return [*items, *self._arithmetic_words()]

    def _arithmetic_words(self) -> list[str]:
        """The conventions' last lines: exact or float64 arithmetic, and why."""
        g = self.g
        if self.p.mode == "lp":
            from gradcalc.core.explain import pool_lp  # LP only (start-up cost)

            items = ["float64 arithmetic: LP results are roots, irrational in general"]
            if pool_lp.scaled_windows(self):
                items.append(
                    "a window whose x^p would underflow or overflow float64 is scaled by its "
                    "largest |x|, m: y = m·(Σ (x/m)^p)^(1/p), the true value where PyTorch "
                    "(Σ x^p in float) gives 0 or inf"
                )
            return items
        if self.c.exact:
            return [
                "exact rational arithmetic (fractions print as p/q unless --decimal)",
                *symbolic_words(self.p.input, self.p.upstream),
            ]
        if g.work > self.options.limits.exact_work:
            return [
                f"float64 arithmetic: the problem reads {g.work:,} window taps, above the exact limit "
                f"of {self.options.limits.exact_work:,}"
            ]
        return ["float64 arithmetic (--float)"]

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS, self.not_applicable())

    def not_applicable(self) -> frozenset[str]:
        """The sections left out unless --show names them (a net leaves them out too):
        ties apply to max pooling, relations (between the norms) to LP pooling."""
        skip = {"ties"} if self.p.mode != "max" else set()
        skip |= {"relations"} if self.p.mode != "lp" else set()
        return frozenset(skip)

    def _matrix(
        self, label: str, values: np.ndarray, caption: str = "", role: str = ""
    ) -> Matrix | Note:
        return show_matrix(
            label, values, self.p.index_base, axes=self.p.input_axes, caption=caption, role=role
        )

    def section_problem(self) -> Section:
        p, g = self.p, self.g
        section = Section("problem", "Problem")
        shape = lambda s: "×".join(map(str, s))  # noqa: E731
        section.add(
            Note(
                f"{p.mode} pooling of {self.X}: {shape(p.input.shape)} ({', '.join(p.input_axes)}) "
                f"with a {g.kernel_h}×{g.kernel_w} window, stride {g.stride[0]}×{g.stride[1]} -> "
                f"{self.Y}: {shape(p.output_shape)}"
            )
        )
        section.add(self._matrix(self.X, p.input))
        if any(g.padding):
            ph, pw = g.padding
            padded = np.empty((*p.input.shape[:-2], g.in_h + 2 * ph, g.in_w + 2 * pw), dtype=object)
            padded.fill("−∞" if p.mode == "max" else 0)
            padded[..., ph : ph + g.in_h, pw : pw + g.in_w] = p.input
            section.add(
                self._matrix(
                    f"{self.X} padded",
                    padded,
                    caption=f"{count_words(ph, 'row')} above and below, "
                    f"{count_words(pw, 'col')} left and right; padded indices count from the "
                    "padded corner",
                )
            )
        section.add(self._matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, role=GRADIENT))
        return section

    # forward -------------------------------------------------------------
    def _window_note(self, taps: list[tuple[int, int, int, int]], i: int, j: int) -> str:
        padding = sum(1 for t in taps if t[3] == PADDING)
        beyond = sum(1 for t in taps if t[3] == BEYOND)
        parts = []
        if padding:
            what = "−∞, never the max" if self.p.mode == "max" else "zeros"
            parts.append(f"{padding} tap{'s' if padding != 1 else ''} on padding ({what})")
        if beyond:
            parts.append(
                f"clipped: {beyond} tap{'s' if beyond != 1 else ''} past the padded edge (ceil_mode)"
            )
        return "; ".join(parts)

    def section_forward(self) -> Section:
        p = self.p
        title = {
            "max": f"Forward: each window and its max {self.Y}",
            "avg": f"Forward: each window and its average {self.Y}",
            "lp": f"Forward: each window and its LP value {self.Y} = (Σ x^p)^(1/p)",
        }[p.mode]
        section = Section("forward", title)
        rows, omitted = self._windows_shown()
        for n, c, i, j in rows:
            for item in self._window_items(n, c, i, j):
                section.add(item)
        section.omitted = omitted
        return section

    def _window_items(self, n: int, c: int, i: int, j: int) -> list[Formula | Note]:
        """Window (n, c, i, j): its formula with numbers, and a note on padding and divisors."""
        taps = self._taps(i, j)
        real = [(t, r, col) for t, r, col, code in taps if code == REAL]
        cap = self.options.max_terms
        shown, extra = real[:cap], len(real) - len(real[:cap])
        symbols = [self.sym_x(n, c, r, col).text for _, r, col in shown]
        values = [self.xs[n, c, r, col] for _, r, col in shown]
        more_symbolic = f" + … ({extra} more)" if extra > 0 else ""
        target = self.sym_y(n, c, i, j).text
        value = self.c.output[n, c, i, j]
        if self.p.mode == "max":
            numeric: list[Any] = ["max("]
            for k, v in enumerate(values):
                numeric.extend([", " if k else "", v])
            numeric.append(f", … ({extra} more))" if extra > 0 else ")")
            symbolic = f"{target} = max({', '.join(symbols)}{', …' if extra > 0 else ''})"
        elif self.p.mode == "avg":
            symbolic, numeric = self._average_formula(target, symbols, values, i, j, more_symbolic)
        else:
            from gradcalc.core.explain import pool_lp  # LP only (start-up cost)

            at = (n, c, i, j)
            symbolic, numeric = pool_lp.window_formula(
                self, target, symbols, values, at, real, more_symbolic
            )
        items: list[Formula | Note] = [
            Formula(label=target, symbolic=symbolic, numeric=tuple(numeric), value=value)
        ]
        note = self._window_note(taps, i, j)
        if self.p.mode == "avg":
            note = "; ".join(filter(None, [note, self._divisor_words(i, j)]))
        if self.p.mode == "lp" and self.c.scales[i, j] != 1:
            inside = len(real)
            note = "; ".join(
                filter(
                    None,
                    [
                        note,
                        f"PyTorch's avg_pool2d(x^p)·kh·kw divides this clipped window's sum by its "
                        f"{count_words(inside, 'cell')}, not {self.g.taps}, so the sum is scaled by "
                        f"{self.g.taps}/{inside}",
                    ],
                )
            )
        if note:
            items.append(Note(f"   {target}: {note}"))
        if self.p.mode == "lp" and self.c.units[n, c, i, j] != 1:
            items.append(
                sentence(
                    f"   {target}: m is the window's largest |x|, ",
                    max(abs(self.xs[n, c, r, col]) for _, r, col in real),
                    ", and each term is shown as x/m: x^p would underflow or overflow float64 "
                    "(PyTorch's LPPool2d gives 0 or inf here)",
                )
            )
        return items

    def _average_formula(
        self, target: str, symbols: list[str], values: list[Any], i: int, j: int, more: str
    ) -> tuple[str, list[Any]]:
        """y = (x_a + x_b + …)/divisor, with its numbers.  In float64 the terms shown are the
        floats summed, so (−0.7 + 1 − 0.6 + 0.3)/4 = 1.38778e-17 is true as shown; the spec's
        exact terms, (−7/10 + …)/4, make 0."""
        divisor = int(self.c.divisors[i, j])
        symbolic = f"{target} = ({' + '.join(symbols)}{more})/{divisor}"
        summed = values if self.c.exact else [float(v) for v in values]
        return symbolic, ["(", *self._sum_tokens(summed), f"{more})/", divisor]

    @staticmethod
    def _sum_tokens(values: list[Any]) -> list[Any]:
        """a + b − c as formula tokens (a negative term after the first is subtracted)."""
        tokens: list[Any] = []
        for k, v in enumerate(values):
            if k == 0:
                tokens.append(v)
            else:
                tokens.extend(plus(v))
        return tokens

    def _divisor_words(self, i: int, j: int) -> str:
        p = self.p
        divisor = int(self.c.divisors[i, j])
        codes = self.c.layout.codes[i, j]
        inside = int((codes == REAL).sum())
        counted = int((codes != BEYOND).sum())
        if p.divisor_override is not None:
            return f"divisor {divisor} = divisor_override (the window has {inside} input cells)"
        if p.count_include_pad:
            if counted == self.g.taps and inside == counted:
                return ""
            why = []
            if counted != inside:
                why.append(
                    f"{counted - inside} padding cell{'s' if counted - inside != 1 else ''} counted"
                )
            if counted != self.g.taps:
                why.append(f"clipped at the padded edge: {counted} of {self.g.taps} cells")
            return f"divisor {divisor} ({', '.join(why)}; count_include_pad: true)"
        if inside == self.g.taps:
            return ""
        return f"divisor {divisor}: only the input cells count (count_include_pad: false)"

    # routing -------------------------------------------------------------
    def section_routing(self) -> Section:
        p = self.p
        section = Section(
            "routing", f"Backward routing: where each upstream value ∂{self.L}/∂{self.Y} goes"
        )
        columns = (f"∂{self.L}/∂{self.Y}", "to", "value", "rule", f"∂{self.Y}/∂{self.X}", "amount")
        labels: list[str] = []
        cells: list[tuple[Any, ...]] = []
        rows, omitted = self._windows_shown()
        for n, c, i, j in rows:
            up = self.up[n, c, i, j]
            first_row = True
            for t, r, col, code in self._taps(i, j):
                if code != REAL:
                    continue
                rule = self._rule(n, c, i, j, t, r, col)
                if rule is None:
                    continue
                weight = self.c.weight((n, c, i, j, t))
                labels.append(self.sym_y(n, c, i, j).text if first_row else "")
                cells.append(
                    (
                        up if first_row else "",
                        self.sym_x(n, c, r, col),
                        self.xs[n, c, r, col],
                        rule,
                        weight,
                        up * weight,
                    )
                )
                first_row = False
        section.add(
            SymbolTable(
                "routing table",
                columns,
                tuple(labels),
                tuple(cells),
                caption={
                    "max": "the upstream value of a window goes to its maximum; the other cells get 0",
                    "avg": "the upstream value of a window is divided by its divisor and given to each input cell",
                    "lp": f"each cell gets upstream·x^(p−1)/{self.Y}^(p−1) (times kh·kw/cells for a clipped window)",
                }[p.mode],
            )
        )
        section.cut(omitted)
        if p.mode == "max":
            section.add(
                Note(
                    "argmax in the results is PyTorch's return_indices: the flat index row·W + col "
                    f"(from 0) in the input plane, e.g. {self.sym_x(0, 0, self.g.in_h - 1, self.g.in_w - 1).text} "
                    f"is {self.g.in_h * self.g.in_w - 1}"
                )
            )
        return section

    def _rule(self, n: int, c: int, i: int, j: int, t: int, r: int, col: int) -> str | None:
        """Why tap t of a window gets its share (None: a max tap that gets nothing and is not tied)."""
        p = self.p
        if p.mode == "avg":
            return f"÷ {int(self.c.divisors[i, j])}"
        if p.mode == "lp":
            power = "" if p.p == 2 else f"^{power_text(p.p - 1)}"
            y = self.c.output[n, c, i, j]
            scale = self.c.scales[i, j]
            scale_text = "" if scale == 1 else f"{self.g.taps}/{int(round(self.g.taps / scale))}·"
            if y == 0:
                return "Σ x^p = 0: gradient 0"
            if p.p == 1:
                return f"{scale_text}x^0/y^0 = {plain(scale)}"
            x = self.xs[n, c, r, col]
            base = (
                f"({plain(x)})" if power and (x < 0 or Fraction(x).denominator != 1) else plain(x)
            )
            return f"{scale_text}{base}{power}/{plain(y)}{power}"
        tied = self.c.tied[n, c, i, j]
        if not tied[t]:
            return None
        count = int(tied.sum())
        if count == 1:
            return "the max"
        if p.ties == "first":
            return (
                f"first of {count} tied maxima"
                if self.c.first[n, c, i, j] == t
                else "tied, not first: 0"
            )
        if p.ties == "all":
            return f"tied max ({count}), all: full value"
        return f"tied max: split {count} ways"

    # backward ------------------------------------------------------------
    def _containing(self, r: int, col: int) -> list[tuple[int, int, int]]:
        """(i, j, t) of every window tap that reads input cell (r, col)."""
        rows, cols = self.g.window_axes()
        return sorted(
            (tap.output[0], tap.output[1], tap.tap[0] * self.g.kernel_w + tap.tap[1])
            for tap in cell_readers(rows, cols, r, col)
        )

    def general_rule(self, target: str) -> str:
        p = self.p
        y, L = self.Y, self.L
        if p.mode == "avg":
            return f"Σ over windows reading {target}: ∂{L}/∂{y}/divisor"
        if p.mode == "lp":
            return f"Σ over windows reading {target}: ∂{L}/∂{y}·{target}^(p−1)/{y}^(p−1)"
        return {
            "first": f"Σ over windows reading {target}: ∂{L}/∂{y}·1[{target} is the first max of {y}]",
            "all": f"Σ over windows reading {target}: ∂{L}/∂{y}·1[{target} = {y}]",
            "split": f"Σ over windows reading {target}: ∂{L}/∂{y}·1[{target} = {y}]/(number of maxima of {y})",
        }[p.ties]

    def section_backward(self) -> Section:
        g, p = self.g, self.p
        section = Section("backward", f"Backward: ∂{self.L}/∂{self.X}, cell by cell")
        total = p.input.size
        shown = self.options.cap(total)
        for flat in range(shown):
            n, c, r, col = (
                int(v) for v in np.unravel_index(flat, (g.batch, g.channels, g.in_h, g.in_w))
            )
            section.add(self._input_sum(n, c, r, col))
        section.cut(total - shown)
        section.add(self._matrix(f"∂{self.L}/∂{self.X}", self.results["grad_input"], role=GRADIENT))
        return section

    def _input_sum(self, n: int, c: int, r: int, col: int) -> SumOfProducts:
        """∂L/∂x at (n, c, r, col) as a sum over the windows that read it."""
        grad = self.c.grad_input
        target = self.sym_x(n, c, r, col)
        containing = self._containing(r, col)
        terms = []
        for i, j, t in containing[: self.options.max_terms]:
            y = self.sym_y(n, c, i, j).text
            terms.append(
                Product(
                    (
                        (self.sym_up(n, c, i, j), self.up[n, c, i, j]),
                        (Symbol(f"∂{y}/∂{target.text}"), self.c.weight((n, c, i, j, t))),
                    )
                )
            )
        notes = []
        if not containing:
            notes.append("no window reads this cell")
        if len(containing) > 1:
            names = ", ".join(self.sym_y(n, c, i, j).text for i, j, _ in containing[:6])
            notes.append(
                f"in {len(containing)} overlapping windows ({names}{', …' if len(containing) > 6 else ''}): "
                "their contributions add"
            )
        clipped = [
            self.sym_y(n, c, i, j).text
            for i, j, _ in containing
            if (self.c.layout.codes[i, j] == BEYOND).any()
        ]
        if clipped:
            notes.append(
                f"clipped window{'s' if len(clipped) > 1 else ''} {', '.join(clipped)} (ceil_mode)"
            )
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.X}", target.index, self.sep),
            general=self.general_rule(target.text),
            terms=tuple(terms),
            value=grad[n, c, r, col],
            note="; ".join(notes),
            omitted=len(containing) - len(terms),
        )
