"""The backward half of an rnn explanation (core/explain/rnn.py's Explainer inherits it):
backpropagation through time from t = T−1 down to 0 (∂L/∂h_t from the output and from
step t+1, each gate's local derivative, ∂L/∂x_t, then ∂L/∂h_0 and ∂L/∂c_0) and the
parameter gradients as sums over t and the batch.  It reads the op's recorded gradients
(each step's ∂L/∂ai, ∂L/∂ah, ∂L/∂c) and recomputes nothing."""

from __future__ import annotations

from typing import Any

from gradcalc.core.explain import GRADIENT, Formula, Note, Product, Section, SumOfProducts
from gradcalc.core.explain.pieces import factor, show_matrix


class Backward:
    """Sections backward and parameters; the attributes are the Explainer's."""

    p: Any
    t: Any
    options: Any
    results: Any
    steps: Any
    grads: Any

    # ∂L/∂h_t ---------------------------------------------------------------
    def arriving(self, t: int, n: int, j: int) -> SumOfProducts:
        """∂L/∂h_t = ∂L/∂y_t + Σ_q ∂L/∂ah_(t+1),q·W_hh[q, j] (+ gru: ∂L/∂h_(t+1)·z_(t+1))."""
        L, grad_y = self.L, self.t.grad_y
        terms = [Product(((self.step_sym(f"∂{L}/∂{self.Y}", t, n, j), grad_y[t, n, j]),))]
        general = f"∂{L}/∂{self.Y} (output)"
        omitted = 0
        if t == self.count - 1:
            if self.p.upstream_h_n is not None:
                terms.append(Product(((self.sym(f"∂{L}/∂hn", (n, j)), grad_y[t + 1, n, j]),)))
                general += f" + ∂{L}/∂{self.H}_n"
        else:
            rows = self.p.gates * self.hidden
            shown = min(rows, self.options.max_terms)
            for q in range(shown):
                terms.append(
                    Product(
                        (
                            (self.d_sym("h", t + 1, n, q), self.d_value("h", t + 1, n, q)),
                            (self.sym(self.Whh, (q, j)), self.t.cache["weight_hh"][q, j]),
                        )
                    )
                )
            omitted = rows - shown
            general += f" + Σ_q ∂{L}/∂ah(t+1)·{self.Whh}_q,j (from step t+1)"
            if self.p.cell == "gru":
                z = self.steps[t + 1]["gates"][n, self.hidden + j]
                dh = self.grads["h"][t + 1][n, j]
                terms.append(
                    Product(
                        (
                            (self.step_sym(f"∂{L}/∂{self.H}", t + 1, n, j), dh),
                            (self.step_sym("z", t + 1, n, j), z),
                        )
                    )
                )
                general += f" + ∂{L}/∂{self.H}(t+1)·z(t+1)"
        return SumOfProducts(
            target=self.step_sym(f"∂{L}/∂{self.H}", t, n, j),
            terms=tuple(terms),
            value=self.grads["h"][t][n, j],
            general=general,
            omitted=omitted,
        )

    # each gate's local derivative -----------------------------------------
    def local(self, t: int, n: int, j: int) -> list[Any]:
        cell = self.p.cell
        if cell == "rnn":
            return [self.local_rnn(t, n, j)]
        return self.local_lstm(t, n, j) if cell == "lstm" else self.local_gru(t, n, j)

    def _formula(self, target: Any, symbolic: str, numeric: tuple, value: Any) -> Formula:
        return Formula(target.text, f"{target.text} = {symbolic}", numeric, value)

    def local_rnn(self, t: int, n: int, j: int) -> Formula:
        dh_sym = self.step_sym(f"∂{self.L}/∂{self.H}", t, n, j).text
        dh = self.grads["h"][t][n, j]
        h_sym, h = self.step_sym(self.H, t, n, j).text, self.steps[t]["h"][n, j]
        target, value = self.d_sym("i", t, n, j), self.d_value("i", t, n, j)
        if self.p.nonlinearity == "tanh":
            return self._formula(
                target, f"{dh_sym}·(1 − {h_sym}²)", (*factor(dh), "·(1 − ", *factor(h), "²)"), value
            )
        pre = self.steps[t]["ai"][n, j] + self.steps[t]["ah"][n, j]
        slope = 1 if pre > 0 else 0
        words = "ai + ah > 0" if slope else "ai + ah ≤ 0"
        return self._formula(
            target, f"{dh_sym}·relu′(ai + ah) ({words})", (*factor(dh), "·", slope), value
        )

    def local_lstm(self, t: int, n: int, j: int) -> list[Any]:
        L, hidden, step = self.L, self.hidden, self.steps[t]
        i, f, g, o = (step["gates"][n, k * hidden + j] for k in range(4))
        c, dh = step["c"][n, j], self.grads["h"][t][n, j]
        dc = self.grads["steps"][t]["dc"][n, j]
        s = {name: self.step_sym(name, t, n, j).text for name in "ifgo"}
        dh_s = self.step_sym(f"∂{L}/∂{self.H}", t, n, j).text
        c_s, dc_s = self.step_sym(self.C, t, n, j).text, self.step_sym(f"∂{L}/∂{self.C}", t, n, j)
        if t == self.count - 1:
            carried_text = self.sym(f"∂{L}/∂cn", (n, j)).text
            carried = (*factor(self.t.grad_y[t + 2, n, j]),)
        else:
            f_next = self.steps[t + 1]["gates"][n, hidden + j]
            carried_text = (
                f"{self.step_sym(f'∂{L}/∂{self.C}', t + 1, n, j).text}·"
                f"{self.step_sym('f', t + 1, n, j).text}"
            )
            dc_next = self.grads["steps"][t + 1]["dc"][n, j]
            carried = (*factor(dc_next), "·", *factor(f_next))
        tanh_c = ("tanh(", c, ")")
        items = [
            self._formula(
                dc_s,
                f"{carried_text} + {dh_s}·{s['o']}·(1 − tanh({c_s})²)",
                (*carried, " + ", *factor(dh), "·", *factor(o), "·(1 − ", *tanh_c, "²)"),
                dc,
            )
        ]
        prev_sym, prev = self.c_prev(t, n, j)
        dc_text = dc_s.text
        rules = (
            (f"{dc_text}·{s['g']}·{s['i']}·(1 − {s['i']})", (dc, g, i), (i,), ""),
            (f"{dc_text}·{prev_sym.text}·{s['f']}·(1 − {s['f']})", (dc, prev, f), (f,), ""),
            (f"{dc_text}·{s['i']}·(1 − {s['g']}²)", (dc, i), (g,), "²"),
            (f"{dh_s}·tanh({c_s})·{s['o']}·(1 − {s['o']})", (dh, "tanh", o), (o,), ""),
        )
        for k, (symbolic, factors, (last,), square) in enumerate(rules):
            numeric: list[Any] = []
            for value in factors:
                numeric += [*tanh_c, "·"] if value == "tanh" else [*factor(value), "·"]
            if square:
                numeric[-1:] = ["·(1 − ", *factor(last), "²)"]
            else:
                numeric += ["(1 − ", *factor(last), ")"]
            q = k * hidden + j
            items.append(
                self._formula(
                    self.d_sym("i", t, n, q), symbolic, tuple(numeric), self.d_value("i", t, n, q)
                )
            )
        return items

    def local_gru(self, t: int, n: int, j: int) -> list[Any]:
        L, hidden, step = self.L, self.hidden, self.steps[t]
        r, z, new = (step["gates"][n, k * hidden + j] for k in range(3))
        dh = self.grads["h"][t][n, j]
        s = {name: self.step_sym(name, t, n, j).text for name in "rzn"}
        dh_s = self.step_sym(f"∂{L}/∂{self.H}", t, n, j).text
        qn = 2 * hidden + j
        dai_n, dah_n = self.d_sym("i", t, n, qn), self.d_sym("h", t, n, qn)
        ah_s, ah = self.step_sym("ah", t, n, qn).text, step["ah"][n, qn]
        prev_sym, prev = self.h_prev(t, n, j)
        d_n = self.d_value("i", t, n, qn)
        return [
            self._formula(
                dai_n,
                f"{dh_s}·(1 − {s['z']})·(1 − {s['n']}²)",
                (*factor(dh), "·(1 − ", *factor(z), ")·(1 − ", *factor(new), "²)"),
                d_n,
            ),
            self._formula(
                dah_n,
                f"{dai_n.text}·{s['r']}",
                (*factor(d_n), "·", *factor(r)),
                self.d_value("h", t, n, qn),
            ),
            self._formula(
                self.d_sym("i", t, n, j),
                f"{dai_n.text}·{ah_s}·{s['r']}·(1 − {s['r']})",
                (*factor(d_n), "·", *factor(ah), "·", *factor(r), "·(1 − ", *factor(r), ")"),
                self.d_value("i", t, n, j),
            ),
            self._formula(
                self.d_sym("i", t, n, hidden + j),
                f"{dh_s}·({prev_sym.text} − {s['n']})·{s['z']}·(1 − {s['z']})",
                (*factor(dh), "·(", *factor(prev), " − ", *factor(new), ")·")
                + (*factor(z), "·(1 − ", *factor(z), ")"),
                self.d_value("i", t, n, hidden + j),
            ),
        ]

    # ∂L/∂x_t, ∂L/∂h_0, ∂L/∂c_0 ----------------------------------------------
    def through_weights(self, part: str, t: int, n: int, k: int) -> SumOfProducts:
        """∂L/∂x_t at (n, k) = Σ_q ∂L/∂ai_q·W_ih[q, k], or ∂L/∂h0 at (n, k) = Σ_q ∂L/∂ah_q·
        W_hh[q, k] (+ gru: ∂L/∂h_0·z_0) for t = 0."""
        p, L = self.p, self.L
        cache = self.t.cache
        weight, name = (
            (cache["weight_ih"], self.Wih) if part == "i" else (cache["weight_hh"], self.Whh)
        )
        rows = p.gates * self.hidden
        shown = min(rows, self.options.max_terms)
        terms = [
            Product(
                (
                    (self.d_sym(part, t, n, q), self.d_value(part, t, n, q)),
                    (self.sym(name, (q, k)), weight[q, k]),
                )
            )
            for q in range(shown)
        ]
        if part == "i":
            target, value = self.step_sym(f"∂{L}/∂{self.X}", t, n, k), self.grads["input"][t][n, k]
        else:
            target, value = self.sym(f"∂{L}/∂{self.H0}", (n, k)), self.grads["h0"][n, k]
            if p.cell == "gru":
                z = self.steps[0]["gates"][n, self.hidden + k]
                dh = self.grads["h"][0][n, k]
                terms.append(
                    Product(
                        (
                            (self.step_sym(f"∂{L}/∂{self.H}", 0, n, k), dh),
                            (self.step_sym("z", 0, n, k), z),
                        )
                    )
                )
        return SumOfProducts(target=target, terms=tuple(terms), value=value, omitted=rows - shown)

    def first_cell(self, n: int, j: int) -> SumOfProducts:
        """∂L/∂c0 = ∂L/∂c_0·f_0."""
        L = self.L
        return SumOfProducts(
            target=self.sym(f"∂{L}/∂{self.C0}", (n, j)),
            terms=(
                Product(
                    (
                        (
                            self.step_sym(f"∂{L}/∂{self.C}", 0, n, j),
                            self.grads["steps"][0]["dc"][n, j],
                        ),
                        (self.step_sym("f", 0, n, j), self.steps[0]["gates"][n, self.hidden + j]),
                    )
                ),
            ),
            value=self.grads["c0"][n, j],
        )

    def section_backward(self) -> Section:
        p = self.p
        section = Section(
            "backward", f"Backward through time: t = {self.last} down to {self.first}"
        )
        per_step = self.batch * (self.hidden + self.inputs)
        total = self.count * per_step + self.batch * self.hidden * (2 if p.cell == "lstm" else 1)
        budget = self.options.cap(total)
        used = 0
        for t in reversed(range(self.count)):
            if used >= budget:
                break
            section.add(Note(f"step t = {t + p.index_base}" if not p.single_step else "one step"))
            for row in range(min(per_step, budget - used)):
                n, k = divmod(row, self.hidden + self.inputs)
                if k < self.hidden:
                    section.add(self.arriving(t, n, k))
                    for item in self.local(t, n, k):
                        section.add(item)
                else:
                    section.add(self.through_weights("i", t, n, k - self.hidden))
                used += 1
        if used < budget:
            section.add(Note(f"the initial state: what step {self.first} sends back"))
        for row in range(min(self.batch * self.hidden, budget - used)):
            n, k = divmod(row, self.hidden)
            section.add(self.through_weights("h", 0, n, k))
            if p.cell == "lstm":
                section.add(self.first_cell(n, k))
            used += 2 if p.cell == "lstm" else 1
        section.cut(total - min(used, total))
        base = p.index_base
        section.add(
            show_matrix(f"∂{self.L}/∂{self.H}", self.results["grad_h"], base, role=GRADIENT)
        )
        section.add(
            show_matrix(f"∂{self.L}/∂{self.X}", self.results["grad_input"], base, role=GRADIENT)
        )
        section.add(
            show_matrix(f"∂{self.L}/∂{self.H0}", self.results["grad_h0"], base, role=GRADIENT)
        )
        if p.cell == "lstm":
            section.add(
                show_matrix(f"∂{self.L}/∂{self.C0}", self.results["grad_c0"], base, role=GRADIENT)
            )
        return section

    # parameters ------------------------------------------------------------
    def summed(self, key: str, q: int, k: int) -> SumOfProducts:
        """∂L/∂W[q, k] (or ∂L/∂b[q]) = Σ_t Σ_n of one step's term: shared weights add up."""
        p, L = self.p, self.L
        part = "i" if key.endswith("ih") else "h"
        name = {
            "weight_ih": self.Wih,
            "weight_hh": self.Whh,
            "bias_ih": self.bih,
            "bias_hh": self.bhh,
        }[key]
        pairs = [(t, n) for t in range(self.count) for n in range(self.batch)]
        shown = pairs[: self.options.max_terms]
        terms = []
        for t, n in shown:
            d = (self.d_sym(part, t, n, q), self.d_value(part, t, n, q))
            if key.startswith("bias"):
                terms.append(Product((d,)))
            elif part == "i":
                x = self.t.cache["input"][t, n, k]
                terms.append(Product((d, (self.step_sym(self.X, t, n, k), x))))
            else:
                terms.append(Product((d, self.h_prev(t, n, k))))
        index = (q,) if key.startswith("bias") else (q, k)
        source = (
            "" if key.startswith("bias") else (f"·{self.X}" if part == "i" else f"·{self.H}(t−1)")
        )
        return SumOfProducts(
            target=self.sym(f"∂{L}/∂{name}", index),
            terms=tuple(terms),
            value=self.results[f"grad_{key}"][index],
            general=f"Σ_t Σ_n ∂{L}/∂a{part if p.cell == 'gru' else ''}{source} "
            f"(every step shares {name})",
            omitted=len(pairs) - len(shown),
        )

    def section_parameters(self) -> Section:
        p = self.p
        section = Section(
            "parameters",
            f"Parameter gradients: sums over t = {self.first} … {self.last} (and the batch)",
        )
        entries = []
        rows = p.gates * self.hidden
        for key, columns in (
            ("weight_ih", self.inputs),
            ("weight_hh", self.hidden),
            ("bias_ih", 1),
            ("bias_hh", 1),
        ):
            if getattr(p, key) is None:
                continue
            entries += [(key, q, k) for q in range(rows) for k in range(columns)]
        shown = self.options.cap(len(entries))
        for key, q, k in entries[:shown]:
            section.add(self.summed(key, q, k))
        section.cut(len(entries) - shown)
        names = {
            "weight_ih": self.Wih,
            "weight_hh": self.Whh,
            "bias_ih": self.bih,
            "bias_hh": self.bhh,
        }
        for key, name in names.items():
            if f"grad_{key}" in self.results:
                section.add(
                    show_matrix(
                        f"∂{self.L}/∂{name}",
                        self.results[f"grad_{key}"],
                        p.index_base,
                        role=GRADIENT,
                    )
                )
        return section
