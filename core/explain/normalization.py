"""The explanation the normalization kinds share (batchnorm, layernorm, groupnorm), read from
the run's trace: the forward pass node by node (μ, x̃ = x − μ, σ², σ = √(σ² + ε), x̂, y),
the backward pass node by node with each node's local gradient, the compact form of ∂L/∂x
checked against the staged one, and (batch norm in training) the running statistics.

A *group* is the set of M entries one statistic averages (a feature's column, a sample's
row, a sample's group of channels).  Entries are found in the op's layout (core/kinds/
normalization.py: ``op_shape``, ``axes``) and printed with their indices in the input's own
shape (the op's layout is a C-order reshape of it).  Loops run only over what is shown.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Note,
    Section,
    index_separator,
    keyed_sections,
)
from gradcalc.core.explain.pieces import element_symbol, index_and_upstream_words, plus, show_matrix
from gradcalc.core.kinds.normalization import NormProblem, NormTrace

HAT, TILDE = "\u0302", "\u0303"


def wrap(value: Any) -> tuple[Any, ...]:
    """A number as a factor: parenthesized when negative or a fraction p/q."""
    if value < 0 or (isinstance(value, Fraction) and value.denominator != 1):
        return ("(", value, ")")
    return (value,)


class NormExplainer:
    """The sections of a normalization explanation; a kind's module subclasses it with its
    SECTIONS and its words for the groups (``group_words``, ``axes_words``)."""

    SECTIONS: tuple[str, ...] = ()

    def __init__(self, problem: NormProblem, run: Any, options: common.SolveOptions):
        self.p = problem
        self.t: NormTrace = run.trace
        self.results = run.results
        self.options = options
        self.X, self.Y, self.G, self.B, self.L = (
            problem.names[k] for k in ("input", "output", "weight", "bias", "loss")
        )
        shapes = [problem.input.shape, problem.stat_shape]
        if problem.affine:
            shapes.append(problem.weight.shape)
        # x̂ and x̃ over a one-letter input symbol; a longer one (a net's layer name) gets
        # the plain x̂, x̃ (fĉ would read as f and ĉ).
        short = len(self.X) == 1
        self.hat = self.X + HAT if short else "x" + HAT
        self.tilde = self.X + TILDE if short else "x" + TILDE
        self.sep = index_separator(*shapes, index_base=problem.index_base)
        self.m = problem.count
        self.keep_shape = tuple(
            1 if a in problem.axes else n for a, n in enumerate(problem.op_shape)
        )
        cache = self.t.cache
        self.mean, self.centred, self.var = cache["mean"], cache["centred"], cache["var"]
        self.sigma, self.x_hat = cache["sigma"], cache["x_hat"]
        self.x = problem.input.reshape(problem.op_shape)
        if not self.t.exact:
            self.x = self.x.astype(float)
        self.up = self.t.upstream
        weight = problem.weight
        self.gamma = None
        if weight is not None:
            self.gamma = weight.reshape(problem.param_shape)
            if not self.t.sigma_exact:
                self.gamma = self.gamma.astype(float)
        # The count's symbol: N for batch norm 1d (the compact form), else M.
        self.M = "N" if problem.kind == "batchnorm" and problem.input.ndim == 2 else "M"

    def sections(self) -> list[Section]:
        return keyed_sections(self, self.SECTIONS, self.not_applicable())

    def not_applicable(self) -> frozenset[str]:
        """The sections left out unless --show names them (a net leaves them out too): the
        running statistics, without them."""
        return frozenset() if self.p.running else frozenset({"running"})

    # indices and symbols ---------------------------------------------------
    def groups(self) -> list[tuple[int, ...]]:
        """Every group, as its index in the op's layout with the averaged axes at 0."""
        return [tuple(int(i) for i in g) for g in np.ndindex(*self.keep_shape)]

    def members(self, group: tuple[int, ...], limit: int | None = None) -> list[tuple[int, ...]]:
        """The first ``limit`` (all: None) entries of ``group``, in the op's layout."""
        sizes = [self.p.op_shape[a] for a in self.p.axes]
        found = []
        for inner in np.ndindex(*sizes):
            if limit is not None and len(found) >= limit:
                break
            index = list(group)
            for axis, i in zip(self.p.axes, inner, strict=True):
                index[axis] = int(i)
            found.append(tuple(index))
        return found

    def sharers(self, entry: tuple[int, ...], limit: int | None = None) -> list[tuple[int, ...]]:
        """The first entries that share ``entry``'s γ and β (the ones ∂L/∂γ sums)."""
        free = [a for a, n in enumerate(self.p.param_shape) if n == 1]
        found = []
        for inner in np.ndindex(*[self.p.op_shape[a] for a in free]):
            if limit is not None and len(found) >= limit:
                break
            index = list(entry)
            for axis, i in zip(free, inner, strict=True):
                index[axis] = int(i)
            found.append(tuple(index))
        return found

    def _sym(self, name: str, index: tuple[int, ...]) -> str:
        return element_symbol(name, index, self.p.index_base, self.sep).text

    def at(self, name: str, op_index: tuple[int, ...]) -> str:
        """``name`` at an entry, indexed as in the input's shape."""
        flat = int(np.ravel_multi_index(op_index, self.p.op_shape))
        return self._sym(name, tuple(int(i) for i in np.unravel_index(flat, self.p.input.shape)))

    def stat(self, name: str, group: tuple[int, ...]) -> str:
        """``name`` (μ, σ², σ) of a group, indexed as the mean and var results are."""
        if not self.p.stat_shape:
            return name
        flat = int(np.ravel_multi_index(group, self.keep_shape))
        return self._sym(name, tuple(int(i) for i in np.unravel_index(flat, self.p.stat_shape)))

    def param_index(self, op_index: tuple[int, ...]) -> tuple[int, ...]:
        """The entry of γ (in the op's broadcast shape) that ``op_index`` uses."""
        return tuple(0 if n == 1 else i for i, n in zip(op_index, self.p.param_shape, strict=True))

    def param(self, name: str, op_index: tuple[int, ...]) -> str:
        flat = int(np.ravel_multi_index(self.param_index(op_index), self.p.param_shape))
        shape = self.p.weight.shape
        return self._sym(name, tuple(int(i) for i in np.unravel_index(flat, shape)))

    def d(self, name: str) -> str:
        return f"∂{self.L}/∂{name}"

    # conventions -------------------------------------------------------------
    def conventions(self) -> list[str]:
        p = self.p
        items = [self.axes_words()]
        if not (p.kind == "batchnorm" and not p.training):
            items.append(
                f"σ² = Σ(x − μ)²/{self.M} is the biased variance (divided by {self.M} = {self.m},"
                f" not by {self.M} − 1), as PyTorch normalizes"
            )
        items.append(f"ε = eps = {_plain_number(p.eps)}, added to σ² under the square root")
        if p.affine:
            items.append(f"y = {self.G}·x̂ + {self.B} with {self.G}, {self.B} as given (or 1, 0)")
        else:
            items.append("no affine map: y = x̂")
        zero = " (then ∂L/∂x = 0: Σ x̂ = 0 over each group)" if self.zero_gradient else ""
        items += index_and_upstream_words(p.index_base, p.upstream_given, self.L, self.Y, zero)
        items.append(self.arithmetic_words())
        return items

    @property
    def zero_gradient(self) -> bool:
        """With an upstream of ones, ∂L/∂x = 0 when γ is constant over each group (batch
        norm, or no γ) and the statistics are the batch's: Σ x̂ = 0 then."""
        constant = self.p.kind == "batchnorm" or not self.p.affine
        return constant and not self.frozen

    @property
    def frozen(self) -> bool:
        return bool(self.t.cache["frozen"])

    def axes_words(self) -> str:
        raise NotImplementedError

    def arithmetic_words(self) -> str:
        if self.t.sigma_exact:
            return (
                "exact rational arithmetic: every σ² + ε is the square of a rational, so σ is "
                "exact too (fractions print as p/q unless --decimal)"
            )
        if self.t.exact:
            return (
                "μ, x − μ and σ² (and ∂L/∂β) are exact rationals; floats begin at σ = √(σ² + ε), "
                "which is irrational here (σ² + ε is not the square of a rational): σ, x̂, y, "
                "∂L/∂x and ∂L/∂γ are float64"
            )
        if self.t.rounded:
            return (
                "float64 arithmetic (--float), from exact sums: μ, x − μ, σ² and the sums "
                "that can cancel (Σ ∂L/∂x̂, Σ ∂L/∂x̂·x̃) are taken exactly on the rational "
                "inputs and rounded to float64, so a gradient that is exactly 0 shows as 0"
            )
        if self.options.force_float:
            return "float64 arithmetic (--float)"
        limit = self.options.limits.exact_work // 100
        return (
            f"float64 arithmetic: {self.p.input.size:,} entries, above the exact limit of {limit:,}"
        )

    # problem -------------------------------------------------------------------
    def section_problem(self) -> Section:
        section = Section("problem", "Problem")
        section.add(Note(self.problem_words()))
        base = self.p.index_base
        section.add(show_matrix(self.X, self.p.input, base))
        if self.p.affine:
            section.add(show_matrix(self.G, self.p.weight, base))
            section.add(show_matrix(self.B, self.p.bias, base))
        up = f"∂{self.L}/∂{self.Y} (upstream)"
        section.add(show_matrix(up, self.p.upstream, base, role=GRADIENT))
        return section

    def problem_words(self) -> str:
        raise NotImplementedError

    # forward -------------------------------------------------------------------
    def shown_groups(self) -> tuple[list[tuple[int, ...]], int]:
        groups = self.groups()
        shown = self.options.cap(len(groups))
        return groups[:shown], len(groups) - shown

    def section_forward(self) -> Section:
        section = Section("forward", self.forward_title())
        groups, left = self.shown_groups()
        for group in groups:
            for item in self.forward_steps(group):
                section.add(item)
        section.omitted = left
        return section

    def forward_title(self) -> str:
        if self.frozen:
            return "Forward: σ from the running variance, x̂ = (x − running_mean)/σ, y = γ·x̂ + β"
        return "Forward: μ, x̃ = x − μ, σ², σ = √(σ² + ε), x̂ = x̃/σ, y = γ·x̂ + β"

    def plain_sum(self, name: str, group: tuple[int, ...], values: Any, squared: bool) -> tuple:
        """(symbols, number tokens) of Σ over the group's shown entries of ``name``
        (squared: each term squared), cut with + … after max_terms."""
        members = self.members(group, self.options.max_terms)
        symbols, tokens = [], []
        for k, index in enumerate(members):
            symbols.append(self.at(name, index) + ("²" if squared else ""))
            value = values[index]
            if squared:
                tokens.extend((" + " if k else "", "(", value, ")²"))
            else:
                tokens.extend(plus(value) if k else (value,))
        more = self.m - len(members)
        text = " + ".join(symbols)
        if more:
            text += " + …"
            tokens.append(f" + … ({more} more)")
        return text, tokens

    def forward_steps(self, group: tuple[int, ...]) -> list[Formula]:
        mu, var, sigma = (self.stat(s, group) for s in ("μ", "σ²", "σ"))
        eps = self.p.eps if self.t.exact else float(self.p.eps)
        steps: list[Formula] = []
        if not self.frozen:
            text, tokens = self.plain_sum(self.X, group, self.x, squared=False)
            steps.append(
                Formula(
                    mu, f"{mu} = ({text})/{self.M}", ("(", *tokens, ")/", self.m), self.mean[group]
                )
            )
        shown = self.members(group, self.options.cap(self.m))
        if not self.frozen:
            for index in shown:
                steps.append(
                    Formula(
                        self.at(self.tilde, index),
                        f"{self.at(self.tilde, index)} = {self.at(self.X, index)} − {mu}",
                        (self.x[index], " − ", *wrap(self.mean[group])),
                        self.centred[index],
                    )
                )
            text, tokens = self.plain_sum(self.tilde, group, self.centred, squared=True)
            steps.append(
                Formula(
                    var, f"{var} = ({text})/{self.M}", ("(", *tokens, ")/", self.m), self.var[group]
                )
            )
            sigma_text = f"{sigma} = √({var} + ε)"
        else:
            sigma_text = f"{sigma} = √(running_var + ε)"
        steps.append(
            Formula(
                sigma, sigma_text, ("sqrt(", self.var[group], " + ", eps, ")"), self.sigma[group]
            )
        )
        for index in shown:
            steps.append(self.normalized_step(index, group, mu, sigma))
        for index in shown:
            steps.append(self.output_step(index))
        return steps

    def normalized_step(self, index, group, mu: str, sigma: str) -> Formula:
        hat = self.at(self.hat, index)
        if self.frozen:
            return Formula(
                hat,
                f"{hat} = ({self.at(self.X, index)} − running_mean)/{sigma}",
                (
                    "(",
                    self.x[index],
                    " − ",
                    *wrap(self.mean[group]),
                    ")/",
                    *wrap(self.sigma[group]),
                ),
                self.x_hat[index],
            )
        return Formula(
            hat,
            f"{hat} = {self.at(self.tilde, index)}/{sigma}",
            (*wrap(self.centred[index]), "/", *wrap(self.sigma[group])),
            self.x_hat[index],
        )

    def output_step(self, index: tuple[int, ...]) -> Formula:
        out = self.at(self.Y, index)
        hat = self.at(self.hat, index)
        y = self.results["output"].reshape(self.p.op_shape)[index]
        if self.gamma is None:
            return Formula(out, f"{out} = {hat}", (self.x_hat[index],), y)
        p = self.param_index(index)
        beta = self.p.bias.reshape(self.p.param_shape)[p]
        beta = beta if self.t.sigma_exact else float(beta)
        return Formula(
            out,
            f"{out} = {self.param(self.G, index)}·{hat} + {self.param(self.B, index)}",
            (*wrap(self.gamma[p]), "·", *wrap(self.x_hat[index]), *plus(beta)),
            y,
        )


def _plain_number(value: Fraction) -> str:
    from gradcalc.core.words import plain

    return plain(value)
