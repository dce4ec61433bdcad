"""The backward sections of a normalization explanation (core/explain/normalization.py):
∂L/∂β and ∂L/∂γ, then node by node back along x → μ → x̃ → σ² → σ → x̂ → y with each node's
local gradient, the compact ∂L/∂x checked against that staged sum, and batch norm's running
statistics.  A mixin: the symbols and groups are NormExplainer's."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.explain import Formula, Note, Product, Section, SumOfProducts, Symbol, sentence
from gradcalc.core.explain.pieces import plus


def wrap(value: Any) -> tuple[Any, ...]:
    from gradcalc.core.explain.normalization import wrap as wrapped

    return wrapped(value)


class NormBackward:
    """section_backward, section_compact and section_running of NormExplainer."""

    p: Any
    t: Any
    results: Any
    options: Any

    # parameters ------------------------------------------------------------
    def parameter_sums(self, section: Section) -> None:
        """∂L/∂β = Σ ∂L/∂y and ∂L/∂γ = Σ ∂L/∂y·x̂ over the entries sharing each γ, β."""
        size = self.p.weight.size
        shown = self.options.cap(size)
        grad_w = self.results["grad_weight"].reshape(-1)
        grad_b = self.results["grad_bias"].reshape(-1)
        for flat in range(shown):
            entry = tuple(int(i) for i in np.unravel_index(flat, self.p.param_shape))
            sharers = self.sharers(entry, self.options.max_terms)
            more = self.sharer_count - len(sharers)
            section.add(
                SumOfProducts(
                    target=Symbol(self.d(self.param(self.B, entry))),
                    general=f"Σ {self.d(self.Y)}·∂{self.Y}/∂{self.B}  (∂{self.Y}/∂{self.B} = 1)",
                    terms=tuple(
                        Product(((Symbol(self.at(self.d(self.Y), i)), self.up[i]),))
                        for i in sharers
                    ),
                    value=grad_b[flat],
                    omitted=more,
                )
            )
            section.add(
                SumOfProducts(
                    target=Symbol(self.d(self.param(self.G, entry))),
                    general=f"Σ {self.d(self.Y)}·∂{self.Y}/∂{self.G}  (∂{self.Y}/∂{self.G} = x̂)",
                    terms=tuple(
                        Product(
                            (
                                (Symbol(self.at(self.d(self.Y), i)), self.up[i]),
                                (Symbol(self.at(self.hat, i)), self.x_hat[i]),
                            )
                        )
                        for i in sharers
                    ),
                    value=grad_w[flat],
                    omitted=more,
                )
            )
        section.omitted += size - shown

    @property
    def sharer_count(self) -> int:
        return int(
            np.prod([n for n, k in zip(self.p.op_shape, self.p.param_shape, strict=True) if k == 1])
        )

    # staged ------------------------------------------------------------------
    def section_backward(self) -> Section:
        section = Section("backward", self.backward_title())
        if self.p.affine:
            self.parameter_sums(section)
        groups, left = self.shown_groups()
        for group in groups:
            for item in self.staged_steps(group):
                section.add(item)
        section.omitted += left
        return section

    def backward_title(self) -> str:
        if self.frozen:
            return "Backward: ∂L/∂β, ∂L/∂γ, then ∂L/∂x̂ = ∂L/∂y·γ and ∂L/∂x = ∂L/∂x̂/σ"
        return "Backward, node by node: y → x̂ → σ → σ² → x̃ → μ → x"

    def grad_input(self, index: tuple[int, ...]) -> Any:
        return self.results["grad_input"].reshape(self.p.op_shape)[index]

    def staged_steps(self, group: tuple[int, ...]) -> list[Formula]:
        staged = self.t.staged
        shown = self.members(group, self.options.cap(self.m))
        steps = [self.hat_step(index) for index in shown]
        sigma = self.stat("σ", group)
        if self.frozen:
            for index in shown:
                target = self.at(self.d(self.X), index)
                steps.append(
                    Formula(
                        target,
                        f"{target} = {self.at(self.d(self.hat), index)}·∂x̂/∂x"
                        f" = {self.at(self.d(self.hat), index)}/{sigma}",
                        (*wrap(staged["x_hat"][index]), "/", *wrap(self.sigma[group])),
                        self.grad_input(index),
                    )
                )
            return steps
        steps += self.statistic_steps(group, sigma)
        steps += [self.centred_step(index, group, sigma) for index in shown]
        steps.append(self.mean_step(group))
        steps += [self.input_step(index, group) for index in shown]
        return steps

    def hat_step(self, index: tuple[int, ...]) -> Formula:
        target = self.at(self.d(self.hat), index)
        upstream = self.at(self.d(self.Y), index)
        if self.gamma is None:
            return Formula(
                target, f"{target} = {upstream}  (y = x̂)", (self.up[index],), self.up[index]
            )
        gamma = self.gamma[self.param_index(index)]
        return Formula(
            target,
            f"{target} = {upstream}·∂y/∂x̂ = {upstream}·{self.param(self.G, index)}",
            (*wrap(self.up[index]), "·", *wrap(gamma)),
            self.t.staged["x_hat"][index],
        )

    def statistic_steps(self, group: tuple[int, ...], sigma: str) -> list[Formula]:
        """∂L/∂σ (∂x̂/∂σ = −x̃/σ²) and ∂L/∂σ² (∂σ/∂σ² = 1/(2σ))."""
        staged = self.t.staged
        members = self.members(group, self.options.max_terms)
        symbols, tokens = [], []
        for k, index in enumerate(members):
            symbols.append(f"{self.at(self.d(self.hat), index)}·{self.at(self.tilde, index)}")
            tokens.extend(
                (" + " if k else "", *wrap(staged["x_hat"][index]), "·", *wrap(self.centred[index]))
            )
        if self.m > len(members):
            symbols.append("…")
            tokens.append(f" + … ({self.m - len(members)} more)")
        d_sigma, d_var = self.d(self.stat("σ", group)), self.d(self.stat("σ²", group))
        return [
            Formula(
                d_sigma,
                f"{d_sigma} = Σ ∂L/∂x̂·∂x̂/∂σ  (∂x̂/∂σ = −x̃/σ²) = −({' + '.join(symbols)})/{sigma}²",
                ("−(", *tokens, ")/(", self.sigma[group], ")²"),
                staged["sigma"][group],
            ),
            Formula(
                d_var,
                f"{d_var} = {d_sigma}·∂σ/∂σ²  (∂σ/∂σ² = 1/(2σ)) = {d_sigma}/(2·{sigma})",
                (*wrap(staged["sigma"][group]), "/(2·", *wrap(self.sigma[group]), ")"),
                staged["var"][group],
            ),
        ]

    def centred_step(self, index: tuple[int, ...], group: tuple[int, ...], sigma: str) -> Formula:
        """∂L/∂x̃ along its two paths: through x̂ = x̃/σ and through σ² = Σ x̃²/M."""
        staged = self.t.staged
        target = self.at(self.d(self.tilde), index)
        d_hat = self.at(self.d(self.hat), index)
        d_var = self.d(self.stat("σ²", group))
        return Formula(
            target,
            f"{target} = {d_hat}·∂x̂/∂x̃ + {d_var}·∂σ²/∂x̃  (1/σ and 2x̃/{self.M})"
            f" = {d_hat}/{sigma} + {d_var}·2·{self.at(self.tilde, index)}/{self.M}",
            (
                *wrap(staged["x_hat"][index]),
                "/",
                *wrap(self.sigma[group]),
                " + ",
                *wrap(staged["var"][group]),
                "·2·",
                *wrap(self.centred[index]),
                "/",
                self.m,
            ),
            staged["centred"][index],
        )

    def mean_step(self, group: tuple[int, ...]) -> Formula:
        """∂L/∂μ = −Σ ∂L/∂x̃ (∂x̃/∂μ = −1)."""
        staged = self.t.staged
        members = self.members(group, self.options.max_terms)
        symbols = [self.at(self.d(self.tilde), index) for index in members]
        tokens: list[Any] = []
        for k, index in enumerate(members):
            value = staged["centred"][index]
            tokens.extend(plus(value) if k else (value,))
        if self.m > len(members):
            symbols.append("…")
            tokens.append(f" + … ({self.m - len(members)} more)")
        target = self.d(self.stat("μ", group))
        return Formula(
            target,
            f"{target} = Σ ∂L/∂x̃·∂x̃/∂μ  (∂x̃/∂μ = −1) = −({' + '.join(symbols)})",
            ("−(", *tokens, ")"),
            staged["mean"][group],
        )

    def input_step(self, index: tuple[int, ...], group: tuple[int, ...]) -> Formula:
        """∂L/∂x = ∂L/∂x̃·1 + ∂L/∂μ·(1/M)."""
        staged = self.t.staged
        target = self.at(self.d(self.X), index)
        d_centred = self.at(self.d(self.tilde), index)
        d_mean = self.d(self.stat("μ", group))
        return Formula(
            target,
            f"{target} = {d_centred}·∂x̃/∂x + {d_mean}·∂μ/∂x  (1 and 1/{self.M})"
            f" = {d_centred} + {d_mean}/{self.M}",
            (*wrap(staged["centred"][index]), " + ", *wrap(staged["mean"][group]), "/", self.m),
            self.grad_input(index),
        )

    # compact -----------------------------------------------------------------
    def section_compact(self) -> Section:
        per_group = self.p.kind == "batchnorm"
        M = self.M
        if per_group:
            title = f"Compact form: ∂L/∂x = (γ/({M}·σ))·({M}·∂L/∂y − Σ∂L/∂y − x̂·Σ(∂L/∂y·x̂))"
        else:
            title = f"Compact form: ∂L/∂x = (1/({M}·σ))·({M}·∂L/∂x̂ − Σ∂L/∂x̂ − x̂·Σ(∂L/∂x̂·x̂))"
        section = Section("compact", title)
        if self.frozen:
            section.add(Note("with the running statistics fixed, ∂L/∂x = γ·∂L/∂y/σ (above)"))
            return section
        groups, left = self.shown_groups()
        for group in groups:
            for item in self.compact_steps(group, per_group):
                section.add(item)
        section.omitted = left
        section.add(self.agreement())
        return section

    def compact_steps(self, group: tuple[int, ...], per_group: bool) -> list[Any]:
        """S = Σ ∂L/∂y and P = Σ ∂L/∂y·x̂ over the group (∂L/∂x̂ where γ varies inside
        it), then each shown entry's compact ∂L/∂x."""
        grads = self.up if per_group else self.t.staged["x_hat"]
        name = self.Y if per_group else self.hat
        total, projected = self.t.staged["total"][group], self.t.staged["projected"][group]
        if per_group and self.gamma is not None:  # Σ ∂L/∂y = ∂L/∂β, Σ ∂L/∂y·x̂ = ∂L/∂γ
            entry = self.param_index(group)
            total = self.results["grad_bias"].reshape(self.p.param_shape)[entry]
            projected = self.results["grad_weight"].reshape(self.p.param_shape)[entry]
        members = self.members(group, max(self.options.max_terms, self.options.cap(self.m)))
        shown = members[: self.options.cap(self.m)]
        members = members[: self.options.max_terms]
        more = self.m - len(members)
        s_name, p_name = self.stat("S", group), self.stat("P", group)
        steps: list[Any] = [
            SumOfProducts(
                target=Symbol(s_name),
                general=f"Σ {self.d(name)}",
                terms=tuple(
                    Product(((Symbol(self.at(self.d(name), i)), grads[i]),)) for i in members
                ),
                value=total,
                omitted=more,
            ),
            SumOfProducts(
                target=Symbol(p_name),
                general=f"Σ {self.d(name)}·x̂",
                terms=tuple(
                    Product(
                        (
                            (Symbol(self.at(self.d(name), i)), grads[i]),
                            (Symbol(self.at(self.hat, i)), self.x_hat[i]),
                        )
                    )
                    for i in members
                ),
                value=projected,
                omitted=more,
            ),
        ]
        sums = ((s_name, total), (p_name, projected))
        for index in shown:
            steps.append(self.compact_entry(index, group, per_group, name, sums))
        return steps

    def compact_entry(self, index, group, per_group: bool, name: str, sums) -> Formula:
        grads = self.up if per_group else self.t.staged["x_hat"]
        (s_name, total), (p_name, projected) = sums
        sigma = self.stat("σ", group)
        M = self.M
        gamma_text, gamma = "1", 1
        if per_group and self.gamma is not None:
            gamma_text, gamma = self.param(self.G, index), self.gamma[self.param_index(index)]
        target = self.at(self.d(self.X), index)
        return Formula(
            target,
            f"{target} = ({gamma_text}/({M}·{sigma}))·({M}·{self.at(self.d(name), index)} − "
            f"{s_name} − {self.at(self.hat, index)}·{p_name})",
            (
                "(", *wrap(gamma), "/(", self.m, "·", *wrap(self.sigma[group]), "))·(",
                self.m, "·", *wrap(grads[index]), " − ", *wrap(total), " − ",
                *wrap(self.x_hat[index]), "·", *wrap(projected), ")",
            ),
            self.grad_input(index),
        )  # fmt: skip

    def agreement(self) -> Note:
        staged = np.asarray(self.t.staged["input"])
        compact = np.asarray(self.t.grad_input)
        if self.t.sigma_exact:
            same = bool(np.all(staged == compact))
            return Note(
                "the staged sum (node by node) and the compact form agree exactly on all "
                f"{compact.size:,} entries"
                if same
                else "the staged and compact forms DISAGREE"
            )
        gap = float(np.max(np.abs(staged.astype(float) - compact.astype(float)), initial=0.0))
        return sentence(
            f"the staged sum (node by node) and the compact form agree on all {compact.size:,} "
            "entries: max |difference| = ",
            gap,
            " (float64 rounding)",
        )

    # running statistics --------------------------------------------------------
    def section_running(self) -> Section:
        p = self.p
        title = (
            "Running statistics (training): running ← (1 − momentum)·running + momentum·batch, "
            "with the unbiased variance"
            if p.running
            else "Running statistics (evaluation): used, not updated"
        )
        section = Section("running", title)
        if not p.running:
            # Asked for by --show (or a net, which names every section of its layers): in
            # evaluation there is no batch statistic to move the running ones toward.
            section.add(
                Note(
                    "training: false: running_mean and running_var are used as given, not "
                    "updated (no batch statistics in evaluation)"
                )
            )
            return section
        exact = self.t.exact
        momentum = p.momentum if exact else float(p.momentum)
        m = self.m
        channels = p.stat_shape[0]
        shown = self.options.cap(channels)
        for c in range(shown):
            group = tuple(c if a == 1 else 0 for a in range(len(p.op_shape)))
            mu, var = self.mean[group], self.var[group]
            old_mean = p.running_mean[c] if exact else float(p.running_mean[c])
            old_var = p.running_var[c] if exact else float(p.running_var[c])
            unbiased = var * m / (m - 1)
            s = self.stat("s²", group)
            section.add(
                Formula(s, f"{s} = {self.stat('σ²', group)}·{self.M}/({self.M} − 1)",
                        (*wrap(var), "·", m, "/(", m, " − 1)"), unbiased)
            )  # fmt: skip
            for label, old, batch, key in (
                ("running_mean", old_mean, mu, "running_mean"),
                ("running_var", old_var, unbiased, "running_var"),
            ):
                new = self.results[key][c]
                name = f"new {label}[{c + p.index_base}]"
                batch_name = self.stat("μ", group) if key == "running_mean" else s
                section.add(
                    Formula(
                        name,
                        f"{name} = (1 − momentum)·{label}[{c + p.index_base}] + momentum·{batch_name}",
                        ("(1 − ", *wrap(momentum), ")·", *wrap(old), " + ", *wrap(momentum), "·", *wrap(batch)),
                        new,
                    )
                )  # fmt: skip
        section.omitted = channels - shown
        return section
