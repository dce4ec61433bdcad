"""The explanation of an rnn problem (PyTorch's nn.RNN, nn.LSTM, nn.GRU), read from its run's
trace: each step forward (the two affine parts ai = x_t·W_ihᵀ + b_ih and ah = h_{t−1}·W_hhᵀ
+ b_hh, every gate's value, the new state), then backpropagation through time from
t = T−1 down to 0 (∂L/∂h_t from the output and from step t+1, each gate's local derivative,
∂L/∂x_t, and at the end ∂L/∂h_0), and the parameter gradients as sums over t.

Per-step symbols (ai, ah, gates, h, c, ∂L/∂h, …) are indexed like the output: t,n,j for a
T×N×H output, n,t,j with batch_first, n,j for one step; q is a row of the G·H stacked gates.
"""

from __future__ import annotations

from typing import Any

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    GRADIENT,
    OUTPUT,
    Formula,
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
    factor,
    index_and_upstream_words,
    plus,
    show_matrix,
)
from gradcalc.core.explain.rnn_backward import Backward
from gradcalc.core.kinds.rnn import SECTIONS, RnnProblem, RnnTrace
from gradcalc.core.ops.recurrent import GATE_NAMES
from gradcalc.core.words import count_words

_EQUATIONS = {
    "rnn": "h_t = {act}(ai + ah)",
    "lstm": (
        "i = σ(ai + ah), f = σ(ai + ah), g = tanh(ai + ah), o = σ(ai + ah) on their rows; "
        "c_t = f·c_(t−1) + i·g; h_t = o·tanh(c_t)"
    ),
    "gru": (
        "r = σ(ai + ah), z = σ(ai + ah) on their rows; n = tanh(ai_n + r·ah_n) (r multiplies "
        "W_hn·h + b_hn, its bias included, as PyTorch); h_t = (1 − z)·n + z·h_(t−1)"
    ),
}


class Explainer(Backward):
    """Builds the sections of an rnn explanation; loops only over the rows it shows."""

    def __init__(self, problem: RnnProblem, run: Any, options: common.SolveOptions):
        trace: RnnTrace = run.trace
        self.p, self.t, self.options, self.results = problem, trace, options, run.results
        self.steps, self.grads = trace.cache["steps"], trace.grads
        names = problem.names
        self.X, self.Y, self.H, self.L = (names[k] for k in ("input", "output", "h", "loss"))
        self.H0, self.C, self.C0 = names["h0"], names["c"], names["c0"]
        self.Wih, self.Whh, self.bih, self.bhh = (
            names[k] for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        )
        self.count, self.batch, self.inputs, self.hidden = problem.shape
        self.sep = index_separator(
            problem.input.shape,
            problem.weight_ih.shape,
            problem.weight_hh.shape,
            index_base=problem.index_base,
        )

    # time as printed: t runs first … last; h_before is h0 ----------------
    @property
    def first(self) -> str:
        return str(self.p.index_base)

    @property
    def last(self) -> str:
        return "T" if self.p.index_base else "T−1"

    @property
    def before(self) -> str:
        """The index h0 has in the run of h_t: h_(−1) counting from 0, h_0 from 1."""
        return "0" if self.p.index_base else "(−1)"

    # symbols -------------------------------------------------------------
    def at(self, t: int, n: int, j: int) -> tuple[int, ...]:
        """A per-step index in the output's layout."""
        if self.p.single_step:
            return (n, j)
        return (n, t, j) if self.p.batch_first else (t, n, j)

    def sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def step_sym(self, name: str, t: int, n: int, j: int) -> Symbol:
        return self.sym(name, self.at(t, n, j))

    def h_prev(self, t: int, n: int, k: int) -> tuple[Symbol, Any]:
        """h_(t−1) at (n, k): h0 at the first step."""
        if t == 0:
            return self.sym(self.H0, (n, k)), self.t.cache["h0"][n, k]
        return self.step_sym(self.H, t - 1, n, k), self.steps[t - 1]["h"][n, k]

    def c_prev(self, t: int, n: int, j: int) -> tuple[Symbol, Any]:
        if t == 0:
            return self.sym(self.C0, (n, j)), self.t.cache["c0"][n, j]
        return self.step_sym(self.C, t - 1, n, j), self.steps[t - 1]["c"][n, j]

    def d_sym(self, part: str, t: int, n: int, q: int) -> Symbol:
        """∂L/∂a (a = ai + ah, one gradient for both), or ∂L/∂ai, ∂L/∂ah on a gru's n rows."""
        split = self.p.cell == "gru" and q >= 2 * self.hidden
        return self.step_sym(f"∂{self.L}/∂a{part if split else ''}", t, n, q)

    def d_value(self, part: str, t: int, n: int, q: int) -> Any:
        return self.grads["steps"][t][f"da{part}"][n, q]

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p = self.p
        gates = ", ".join(GATE_NAMES[p.cell])
        act = p.nonlinearity if p.cell == "rnn" else ""
        layout = (
            "one step (N×I input, as RNNCell)"
            if p.single_step
            else f"{count_words(self.count, 'step')} ({'N×T×I: batch_first' if p.batch_first else 'T×N×I'})"
        )
        items = [
            f"{p.cell} (PyTorch nn.{p.cell.upper()}) over {layout}; N = {self.batch}, "
            f"I = {self.inputs}, H = {self.hidden}; per step ai = x_t·{self.Wih}ᵀ + {self.bih} "
            f"and ah = h_(t−1)·{self.Whh}ᵀ + {self.bhh} ("
            + (
                f"H = {self.hidden} rows q)"
                if p.gates == 1
                else f"{p.gates}·H = {p.gates * self.hidden} rows q: the gates {gates} "
                "stacked in PyTorch's order)"
            ),
            _EQUATIONS[p.cell].format(act=act)
            + (
                "; relu′(0) is taken as 0, as PyTorch does"
                if act == "relu"
                else "; σ(a) = 1/(1 + exp(−a))"
                if p.cell != "rnn"
                else ""
            ),
            f"{self.Y} holds every step's h_t (output[t] = h_t); h_{self.before} is {self.H0}"
            + (" (zeros: h0 omitted)" if not p.h0_given else ""),
            f"∂{self.L}/∂{self.H}_t = ∂{self.L}/∂{self.Y}_t (from the output) + what step t+1 "
            f"sends back through {self.Whh} (at t = {self.last}: ∂{self.L}/∂h_n, "
            + ("given" if p.upstream_h_n is not None else "0: upstream_h_n omitted")
            + ")",
            f"∂{self.L}/∂a: the gradient of a = ai + ah, which ai and ah share"
            + (" (a gru's n rows differ: ∂L/∂ah_n = r·∂L/∂ai_n)" if p.cell == "gru" else ""),
            "per-step symbols are indexed like the output ("
            + ("n,j" if p.single_step else "n,t,j" if p.batch_first else "t,n,j")
            + "); q is a row of the stacked gates",
        ]
        items += index_and_upstream_words(p.index_base, p.upstream_given, self.L, self.Y)
        irrational = "" if self.t.exact else ("tanh and σ" if act != "relu" else "")
        items.append(
            arithmetic_words(
                exact=self.t.exact,
                irrational=irrational,
                forced=self.options.force_float,
                size=f"{p.work:,} multiply-adds",
                limit=self.options.limits.exact_work,
            )
        )
        return items

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        return keyed_sections(self, SECTIONS)

    def section_problem(self) -> Section:
        p, base = self.p, self.p.index_base
        section = Section("problem", "Problem")
        section.add(
            Note(
                f"{self.X}: " + "×".join(map(str, p.input.shape)) + f"; {self.Wih}: "
                f"{p.gates * self.hidden}×{self.inputs}; {self.Whh}: "
                f"{p.gates * self.hidden}×{self.hidden}; {self.Y}: "
                + "×".join(map(str, p.output_shape))
            )
        )
        section.add(show_matrix(self.X, p.input, base))
        for name, values in (
            (self.Wih, p.weight_ih),
            (self.Whh, p.weight_hh),
            (self.bih, p.bias_ih),
            (self.bhh, p.bias_hh),
            (self.H0, p.h0),
            (self.C0, p.c0),
        ):
            if values is not None:
                section.add(show_matrix(name, values, base))
        section.add(show_matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, base, role=GRADIENT))
        if p.upstream_h_n is not None:
            section.add(
                show_matrix(f"∂{self.L}/∂hn (upstream on h_n)", p.upstream_h_n, base, role=GRADIENT)
            )
        if p.upstream_c_n is not None:
            section.add(
                show_matrix(f"∂{self.L}/∂cn (upstream on c_n)", p.upstream_c_n, base, role=GRADIENT)
            )
        return section

    # forward -------------------------------------------------------------
    def affine(self, part: str, t: int, n: int, q: int) -> SumOfProducts:
        """ai = Σ_i x·W_ih + b_ih, or ah = Σ_k h_(t−1)·W_hh + b_hh, at row q.

        The operands are the ones the run multiplied (its cache): in float64, the float64
        copies, as dense shows them.  Exact spec values over a float64 sum were false where
        it cancels: (1/3)·(1/2) + 1·(−1/2) + 1/3 is 0, not the −5.55e-17 float64 gives."""
        cache, cap = self.t.cache, self.options.max_terms
        terms: list[Product] = []
        if part == "i":
            weight, bias, name, bias_name = cache["weight_ih"], cache["bias_ih"], self.Wih, self.bih
            count = self.inputs
            sources = (
                (self.step_sym(self.X, t, n, i), cache["input"][t, n, i])
                for i in range(min(count, cap))
            )
        else:
            weight, bias, name, bias_name = cache["weight_hh"], cache["bias_hh"], self.Whh, self.bhh
            count = self.hidden
            sources = (self.h_prev(t, n, k) for k in range(min(count, cap)))
        for k, source in enumerate(sources):
            terms.append(Product((source, (self.sym(name, (q, k)), weight[q, k]))))
        constant = None if bias is None else (self.sym(bias_name, (q,)), bias[q])
        return SumOfProducts(
            target=self.step_sym(f"a{part}", t, n, q),
            terms=tuple(terms),
            value=self.steps[t][f"a{part}"][n, q],
            constant=constant,
            omitted=count - len(terms),
        )

    def gate(self, k: int, t: int, n: int, j: int, function: str) -> Formula:
        """A gate's value from its pre-activation ai + ah at row q = k·H + j."""
        q = k * self.hidden + j
        step = self.steps[t]
        ai, ah = step["ai"][n, q], step["ah"][n, q]
        name = GATE_NAMES[self.p.cell][k]
        target = self.step_sym(self.H if self.p.cell == "rnn" else name, t, n, j).text
        a = f"{self.step_sym('ai', t, n, q).text} + {self.step_sym('ah', t, n, q).text}"
        inner = (*factor(ai), *plus(ah))
        if function == "σ":
            numeric: tuple = ("1/(1 + exp(−(", *inner, ")))")
        elif function == "relu":
            numeric = ("max(", *inner, ", 0)")
        else:
            numeric = ("tanh(", *inner, ")")
        return Formula(
            label=target,
            symbolic=f"{target} = {function}({a})",
            numeric=numeric,
            value=step["gates"][n, q],
        )

    def forward_rows(self, section: Section, t: int, n: int, j: int) -> None:
        """Every equation of step t for sample n and hidden unit j."""
        p, hidden = self.p, self.hidden
        for k in range(p.gates):
            q = k * hidden + j
            section.add(self.affine("i", t, n, q))
            section.add(self.affine("h", t, n, q))
            if p.cell == "gru" and k == 2:
                section.add(self.gru_candidate(t, n, j))
            elif p.cell == "rnn":
                section.add(self.gate(0, t, n, j, p.nonlinearity))
            else:
                function = "tanh" if p.cell == "lstm" and k == 2 else "σ"
                section.add(self.gate(k, t, n, j, function))
        if p.cell == "lstm":
            for item in self.lstm_state(t, n, j):
                section.add(item)
        elif p.cell == "gru":
            section.add(self.gru_state(t, n, j))

    def gru_candidate(self, t: int, n: int, j: int) -> Formula:
        hidden, step = self.hidden, self.steps[t]
        q = 2 * hidden + j
        r = step["gates"][n, j]
        target = self.step_sym("n", t, n, j).text
        ai, ah = step["ai"][n, q], step["ah"][n, q]
        symbolic = (
            f"{target} = tanh({self.step_sym('ai', t, n, q).text} + "
            f"{self.step_sym('r', t, n, j).text}·{self.step_sym('ah', t, n, q).text})"
        )
        numeric = ("tanh(", *factor(ai), " + ", *factor(r), "·", *factor(ah), ")")
        return Formula(target, symbolic, numeric, step["gates"][n, q])

    def gru_state(self, t: int, n: int, j: int) -> Formula:
        hidden, step = self.hidden, self.steps[t]
        z, new = step["gates"][n, hidden + j], step["gates"][n, 2 * hidden + j]
        prev_sym, prev = self.h_prev(t, n, j)
        target = self.step_sym(self.H, t, n, j).text
        z_text, n_text = self.step_sym("z", t, n, j).text, self.step_sym("n", t, n, j).text
        symbolic = f"{target} = (1 − {z_text})·{n_text} + {z_text}·{prev_sym.text}"
        numeric = ("(1 − ", *factor(z), ")·", *factor(new), " + ", *factor(z), "·", *factor(prev))
        return Formula(target, symbolic, numeric, step["h"][n, j])

    def lstm_state(self, t: int, n: int, j: int) -> list[Any]:
        hidden, step = self.hidden, self.steps[t]
        i, f, g, o = (step["gates"][n, k * hidden + j] for k in range(4))
        prev_sym, prev = self.c_prev(t, n, j)
        gate = {name: self.step_sym(name, t, n, j) for name in "ifgo"}
        cell = SumOfProducts(
            target=self.step_sym(self.C, t, n, j),
            terms=(
                Product(((gate["f"], f), (prev_sym, prev))),
                Product(((gate["i"], i), (gate["g"], g))),
            ),
            value=step["c"][n, j],
        )
        c_text, target = self.step_sym(self.C, t, n, j).text, self.step_sym(self.H, t, n, j).text
        hidden_state = Formula(
            target,
            f"{target} = {gate['o'].text}·tanh({c_text})",
            (*factor(o), "·tanh(", *factor(step["c"][n, j]), ")"),
            step["h"][n, j],
        )
        return [cell, hidden_state]

    def section_forward(self) -> Section:
        p = self.p
        section = Section("forward", f"Forward: every step, t = {self.first} … {self.last}")
        total = self.count * self.batch * self.hidden
        shown = self.options.cap(total)
        for row in range(shown):
            t, rest = divmod(row, self.batch * self.hidden)
            n, j = divmod(rest, self.hidden)
            if rest == 0:
                section.add(
                    Note(f"step t = {t + p.index_base}" if not p.single_step else "one step")
                )
            self.forward_rows(section, t, n, j)
        section.cut(total - shown)
        section.add(show_matrix(self.Y, self.results["output"], p.index_base, role=OUTPUT))
        return section
