"""The explanation of an activation problem (y = f(x) entry by entry), read from its run's
trace: f and f′ per entry with the numbers of the branch each entry takes, PyTorch's
choice at a kink, and ∂L/∂x = ∂L/∂y ⊙ f′(x).  Every array has the input's shape."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.explain import (
    Formula,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    Words,
    sentence,
)
from gradcalc.core.explain.elementwise import ElementwiseExplainer
from gradcalc.core.explain.pieces import arithmetic_words, factor
from gradcalc.core.kinds.activation import (
    ACTIVATIONS,
    ActivationProblem,
    ActivationTrace,
    threshold_x,
)
from gradcalc.core.kinds.activation import SECTIONS as KIND_SECTIONS
from gradcalc.core.ops.elementwise import gelu_cdf, sigmoid

_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _entries(count: int) -> str:
    return f"{count} input entr{'y is' if count == 1 else 'ies are'}"


class Explainer(ElementwiseExplainer):
    """Builds the sections of an activation explanation; loops only over the entries it shows."""

    SECTIONS = KIND_SECTIONS

    def __init__(self, problem: ActivationProblem, run: Any, options: common.SolveOptions):
        super().__init__(problem, options)
        trace: ActivationTrace = run.trace
        self.trace = trace
        self.x, self.up, self.slope, self.exact = (
            trace.input,
            trace.upstream,
            trace.slope,
            trace.exact,
        )
        self.results = run.results
        self.rule = ACTIVATIONS[problem.function]
        self.f = problem.function
        self.values = {k: (v if self.exact else float(v)) for k, v in problem.params.items()}

    # conventions ---------------------------------------------------------
    def conventions(self) -> list[str]:
        p, f = self.p, self.f
        items = [f"{f}(x) = {self.rule.formula}; {f}′(x) = {self.rule.derivative_formula}"]
        items.extend(Words(f"{key} = ", value) for key, value in p.params.items())
        items.extend(self.kink_conventions())
        if f == "softplus":
            items.extend(self.threshold_conventions())
        if self.trace.tail.any():
            items.append(_TAIL_FORMS[f])
        items.extend(self.common_conventions())
        items.append(
            arithmetic_words(
                exact=self.exact,
                irrational=f"{f} uses exp, log or erf" if self.trace.irrational else "",
                forced=self.options.force_float,
                size=f"{p.input.size:,} entries",
                limit=self.options.limits.exact_work,
            )
        )
        return items

    def kink_conventions(self) -> list[str]:
        """f′(0) at a kink (PyTorch's or the spec's) and the entries the check skips there."""
        p, f = self.p, self.f
        slopes = self.rule.kink_slopes(p.params)
        if slopes is None:
            return []
        default = slopes[0]
        if p.subgradient is None:
            items = [
                Words(
                    f"{f}′(0) = ",
                    default,
                    " as in PyTorch (its backward takes the x ≤ 0 branch); "
                    "set subgradient_at_zero to choose another slope in [",
                    min(slopes),
                    ", ",
                    max(slopes),
                    "]",
                )
            ]
        else:
            items = [
                Words(
                    f"{f}′(0) = ",
                    p.subgradient,
                    " (subgradient_at_zero; PyTorch uses ",
                    default,
                    ")",
                )
            ]
        kinks = self.trace.kinks
        if kinks.any():
            count = int(kinks.sum())
            items.append(
                f"{_entries(count)} at (or within two "
                "finite-difference steps of) the kink at 0: "
                f"the finite-difference check skips {'it' if count == 1 else 'them'} "
                "(a central difference there measures the average of the two slopes)"
            )
        return items

    def threshold_conventions(self) -> list[str]:
        """softplus's switch to x above the threshold, and the entries the check skips there."""
        p = self.p
        items = [
            Words(
                "β·x > threshold (",
                p.params["threshold"],
                "): PyTorch returns x itself there (slope 1)",
            )
        ]
        jumps = self.trace.jumps
        if jumps.any():
            count = int(jumps.sum())
            items.append(
                Words(
                    f"{_entries(count)} at (or within "
                    "two finite-difference steps of) the threshold, x = threshold/β = ",
                    threshold_x(p.params),
                    ": PyTorch's softplus jumps there (from log(1 + exp(threshold))/β to x), "
                    f"so the finite-difference check skips {'it' if count == 1 else 'them'}",
                )
            )
        return items

    # sections ------------------------------------------------------------
    def section_problem(self) -> Section:
        return self.problem_section(
            f"{self.Y} = {self.f}({self.X}) entry by entry; {self.X}, {self.Y} and ∂{self.L}/∂{self.Y} "
            f"all have shape {self.dims()}"
        )

    def forward_tokens(self, x: Any, out: Any) -> tuple[str, tuple]:
        """(the formula in words for this entry's branch, its numbers)."""
        f, v = self.f, self.values
        if f == "relu":
            return "max(0, {x})", ("max(0, ", x, ")")
        if f == "leaky_relu":
            if x > 0:
                return "{x}  ({x} > 0)", (x,)
            return "α·{x}  ({x} ≤ 0)", (v["alpha"], "·", *factor(x))
        if f == "sigmoid":
            return "1/(1 + exp(−{x}))", ("1/(1 + exp(", -x, "))")
        if f == "tanh":
            return "tanh({x})", ("tanh(", x, ")")
        if f == "softplus":
            z = v["beta"] * x
            if z > v["threshold"]:
                return "{x}  (β·{x} > threshold)", (x,)
            if v["beta"] == 1:
                return "log(1 + exp({x}))", ("log(1 + exp(", x, "))")
            return "log(1 + exp(β·{x}))/β", ("log(1 + exp(", z, "))/", v["beta"])
        if f == "elu":
            if x > 0:
                return "{x}  ({x} > 0)", (x,)
            return "α·(exp({x}) − 1)", (v["alpha"], "·(exp(", x, ") − 1)")
        # gelu
        return "{x}·(1 + erf({x}/√2))/2", (*factor(x), "·(1 + erf(", x / _SQRT2, "))/2")

    def derivative_tokens(self, x: Any, tail: bool = False) -> tuple[str, tuple]:
        """(f′ in words for this entry's branch, its numbers: the factors of the slope).
        ``tail``: f′ was taken in its tail form (σ(x)·σ(−x), 4·e/(1 + e)²), shown as such."""
        f, v = self.f, self.values
        if tail:
            return self.tail_tokens(x)
        if f in ("relu", "leaky_relu", "elu") and x == 0 and self.p.subgradient is not None:
            return "subgradient_at_zero", (self.p.subgradient,)
        if f == "relu":
            return "1[{x} > 0]", ("1[", x, " > 0]")
        if f == "leaky_relu":
            return ("1  ({x} > 0)", (1,)) if x > 0 else ("α  ({x} ≤ 0)", (v["alpha"],))
        if f == "sigmoid":
            s = float(sigmoid(np.array(x)))
            return "σ({x})·(1 − σ({x}))", (s, "·(1 − ", s, ")")
        if f == "tanh":
            t = math.tanh(x)
            return "1 − tanh²({x})", ("1 − ", *factor(t), "²")
        if f == "softplus":
            z = v["beta"] * x
            if z > v["threshold"]:
                return "1  (β·{x} > threshold)", (1,)
            return "σ(β·{x})", ("σ(", z, ")")
        if f == "elu":
            if x > 0:
                return "1  ({x} > 0)", (1,)
            return "α·exp({x})", (v["alpha"], "·exp(", x, ")")
        cdf = float(gelu_cdf(np.array(x)))
        pdf = math.exp(-0.5 * x * x) / _SQRT_2PI
        return "Φ({x}) + {x}·φ({x})", (cdf, " + ", *factor(x), "·", pdf)

    def tail_tokens(self, x: Any) -> tuple[str, tuple]:
        """σ′ or tanh′ in the form the op took where PyTorch's cancels (see
        :func:`~gradcalc.core.ops.elementwise.sigmoid_slope` and ``tanh_slope``)."""
        if self.f == "sigmoid":
            s, complement = (float(sigmoid(np.array(value))) for value in (x, -x))
            return "σ({x})·σ(−{x})", (s, "·", complement)
        exponent = -2 * abs(x)
        return (
            "4·exp(−2·|{x}|)/(1 + exp(−2·|{x}|))²",
            ("4·exp(", exponent, ")/(1 + exp(", exponent, "))²"),
        )

    def section_forward(self) -> Section:
        section = Section("forward", f"Forward: {self.Y} = {self.f}({self.X}) per entry")
        rows, omitted = self.indices(self.p.input.shape)
        output = self.results["output"]
        for index in rows:
            x_sym = self.sym(self.X, index).text
            words, numbers = self.forward_tokens(self.x[index], output[index])
            section.add(
                Formula(
                    label=self.sym(self.Y, index).text,
                    symbolic=f"{self.sym(self.Y, index).text} = {self.f}({x_sym}) = "
                    + words.replace("{x}", x_sym),
                    numeric=numbers,
                    value=output[index],
                )
            )
        section.omitted = omitted
        return section

    def section_derivative(self) -> Section:
        f = self.f
        section = Section(
            "derivative",
            f"Derivative {f}′({self.X}) per entry (the Jacobian ∂{self.Y}/∂{self.X} is diagonal)",
        )
        rows, omitted = self.indices(self.p.input.shape)
        slopes = self.rule.kink_slopes(self.p.params)
        for index in rows:
            x_sym = self.sym(self.X, index).text
            x = self.x[index]
            words, numbers = self.derivative_tokens(x, bool(self.trace.tail[index]))
            section.add(
                Formula(
                    label=f"{f}′({x_sym})",
                    symbolic=f"{f}′({x_sym}) = " + words.replace("{x}", x_sym),
                    numeric=numbers,
                    value=self.slope[index],
                )
            )
            if slopes is not None and x == 0:
                section.add(self.kink_note(x_sym, slopes))
        section.omitted = omitted
        return section

    def kink_note(self, x_sym: str, slopes: tuple[Any, Any]) -> Note:
        """The sentence under an entry at 0 on a kink: both slopes, and the one taken."""
        f, chosen = self.f, self.p.subgradient
        choice: tuple = (
            ("PyTorch uses ", slopes[0], ".")
            if chosen is None
            else ("the spec chooses ", chosen, " (PyTorch uses ", slopes[0], ").")
        )
        return sentence(
            f"{x_sym} = 0 sits on {f}'s kink: slope ",
            slopes[0],
            " on the left, ",
            slopes[1],
            f" on the right, so {f} has no derivative there; ",
            *choice,
        )

    def section_backward(self) -> Section:
        f, L = self.f, self.L
        section = Section("backward", f"Backward: ∂{L}/∂{self.X} = ∂{L}/∂{self.Y} ⊙ {f}′({self.X})")
        rows, omitted = self.indices(self.p.input.shape)
        grad = self.results["grad_input"]
        for index in rows:
            x_sym = self.sym(self.X, index)
            section.add(
                SumOfProducts(
                    target=self.sym(f"∂{L}/∂{self.X}", index),
                    general=f"∂{L}/∂{self.sym(self.Y, index).text}·∂{self.sym(self.Y, index).text}/∂{x_sym.text}",
                    terms=(
                        Product(
                            (
                                (self.sym_up(index), self.up[index]),
                                (Symbol(f"{f}′({x_sym.text})"), self.slope[index]),
                            )
                        ),
                    ),
                    value=grad[index],
                )
            )
        section.omitted = omitted
        return section


# Where PyTorch's form of f′ cancels in float64, the op takes another (core/ops/elementwise.py).
_TAIL_FORMS = {
    "sigmoid": "where 1 − σ(x) would cancel in float64 (x above about 14), sigmoid′(x) is "
    "taken as σ(x)·σ(−x), as the steps show: PyTorch's σ(x)·(1 − σ(x)) loses those digits "
    "and gives 0 above x ≈ 37 (sigmoid′(40) is 4.24835e-18)",
    "tanh": "where 1 − tanh²(x) would cancel in float64 (|x| above about 7.6), tanh′(x) is "
    "taken as 1/cosh²(x) = 4·exp(−2|x|)/(1 + exp(−2|x|))², as the steps show: PyTorch's "
    "1 − tanh²(x) loses those digits and gives 0 above |x| ≈ 19 (tanh′(20) is 1.69934e-17)",
}
