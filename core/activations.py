"""Elementwise activations and softmax (PyTorch semantics): forward, backward, explanation.

Two kinds live here because they share their shape of explanation:

- ``activation``: y = f(x) entry by entry, ∂L/∂x = ∂L/∂y ⊙ f′(x).  The rules
  table :data:`ACTIVATIONS` holds each function's forward and derivative side
  by side.  relu and leaky_relu are rational, so they are exact when the
  input is; the others use exp, tanh or erf and run in float64.
- ``softmax``: p = softmax(s) (or log p) over the last axis of a vector (C) or
  a batch (N×C), its Jacobian diag(p) − p·pᵀ and ∂L/∂s for an upstream ∂L/∂p.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Note,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
    Words,
    index_separator,
    sentence,
)
from gradcalc.core.gradcheck import NORMAL
from gradcalc.core.kinds.fields import read_array, read_choice, read_scalar
from gradcalc.core.opkit import (
    arithmetic_words,
    bend_within,
    check_answers,
    check_gradients_where,
    element_symbol,
    factor,
    near,
    show_matrix,
    softmax_bend,
)
from gradcalc.core.ops import adapter
from gradcalc.core.ops.elementwise import (
    ELEMENTWISE,
    elu,
    elu_grad,
    gelu,
    gelu_grad,
    leaky_relu,
    leaky_relu_grad,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    sigmoid_rule,
    softplus,
    softplus_grad,
    tanh,
    tanh_grad,
)
from gradcalc.core.ops.elementwise import gelu_cdf as _gelu_cdf  # the explainer's name
from gradcalc.core.ops.softmax import (
    SOFTMAX,
    log_sum_exp,
    softmax_forward,
    softmax_jacobians,
)
from gradcalc.core.outcome import Solution
from gradcalc.core.records import record
from gradcalc.core.spec import MAX_TERMS_SHOWN

SECTIONS_BY_KIND = {kind: registry.sections(kind) for kind in ("activation", "softmax")}
# Every section this module can build, for both kinds.
SECTIONS = tuple(dict.fromkeys(key for keys in SECTIONS_BY_KIND.values() for key in keys))

ACTIVATION_KEYS = registry.field_names("activation")
SOFTMAX_KEYS = registry.field_names("softmax")
SOFTMAX_FUNCTIONS = registry.choices("softmax", "function")
# Softmax writes its input s and its output p (y for log_softmax).
NAME_DEFAULTS = {"input": "x", "output": "y", "loss": "L"}
ACTIVATION_RESULTS = ("output", "grad_input")
SOFTMAX_RESULTS = ("output", "grad_input", "jacobian")
# Jacobian tables diag(p) − p·pᵀ are written out per sample up to this many classes.
SMALL_CLASSES = 8
_SQRT2 = math.sqrt(2.0)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


# ---------------------------------------------------------------------------
# The rules: forward and derivative side by side


@dataclass(frozen=True)
class Activation:
    """One elementwise function.

    ``forward(x, params)`` and ``derivative(x, params)`` work on float64
    arrays, and on object arrays of Fractions when ``rational``.  The
    derivative at a kink is the left slope, as PyTorch's backward computes it
    (its x ≤ 0 branch); ``kink_slopes`` gives (left, right) at 0, or None.
    """

    formula: str
    derivative_formula: str
    params: tuple[str, ...]
    rational: bool
    forward: Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]
    derivative: Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]
    kink_slopes: Callable[[Mapping[str, Any]], tuple[Any, Any] | None]


def gradient_bend(
    function: str, x: np.ndarray, p: Mapping[str, Any]
) -> tuple[np.ndarray | None, str]:
    """Where ``function`` bends faster than over |x| (for the finite-difference step), and
    that distance in words: σ, tanh and gelu over 1 near 0; elu over 1 below 0; softplus
    over 1/β near 0.  (None, "") for relu and leaky_relu, linear on each side of 0."""
    if function in ("sigmoid", "tanh", "gelu"):
        return bend_within(x), "1"
    if function == "elu":
        return np.where(x > 0, np.inf, bend_within(x)), "1"
    if function == "softplus":
        beta = float(p["beta"])
        with np.errstate(over="ignore", invalid="ignore"):
            return bend_within(beta * x) / beta, "1/β"
    return None, ""


def _threshold_x(p: Mapping[str, Any]) -> Fraction:
    """Where softplus switches to x itself: β·x = threshold."""
    return Fraction(p["threshold"]) / Fraction(p["beta"])


def _kink_at_zero(left: str | None):
    """(left slope, 1) at 0, or None when both slopes agree (no kink)."""

    def slopes(p: Mapping[str, Any]) -> tuple[Any, Any] | None:
        value = Fraction(0) if left is None else p[left]
        return None if value == 1 else (value, Fraction(1))

    return slopes


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(
        "max(0, x)", "1 if x > 0, else 0", (), True, relu, relu_grad, _kink_at_zero(None)
    ),
    "leaky_relu": Activation(
        "x if x > 0, else α·x",
        "1 if x > 0, else α",
        ("alpha",),
        True,
        leaky_relu,
        leaky_relu_grad,
        _kink_at_zero("alpha"),
    ),
    "sigmoid": Activation(
        "σ(x) = 1/(1 + exp(−x))",
        "σ(x)·(1 − σ(x))",
        (),
        False,
        sigmoid_rule,
        sigmoid_grad,
        lambda _: None,
    ),
    "tanh": Activation("tanh(x)", "1 − tanh²(x)", (), False, tanh, tanh_grad, lambda _: None),
    "softplus": Activation(
        "log(1 + exp(β·x))/β, or x where β·x > threshold",
        "σ(β·x), or 1 where β·x > threshold",
        ("beta", "threshold"),
        False,
        softplus,
        softplus_grad,
        lambda _: None,
    ),
    "elu": Activation(
        "x if x > 0, else α·(exp(x) − 1)",
        "1 if x > 0, else α·exp(x)",
        ("alpha",),
        False,
        elu,
        elu_grad,
        _kink_at_zero("alpha"),
    ),
    "gelu": Activation(
        "x·Φ(x) = x·(1 + erf(x/√2))/2 (the exact erf form)",
        "Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)",
        (),
        False,
        gelu,
        gelu_grad,
        lambda _: None,
    ),
}
PARAM_DEFAULTS = {
    "leaky_relu": {"alpha": Fraction(1, 100)},
    "elu": {"alpha": Fraction(1)},
    "softplus": {"beta": Fraction(1), "threshold": Fraction(20)},
}


def activation_rule(name: str) -> Activation:
    """The rule for ``name``; a loud error when there is none."""
    if name not in ACTIVATIONS:
        raise SpecError(
            ("function",), f"unknown function {name!r}; allowed: {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def softmax_row_steps(
    scores: np.ndarray,
    *,
    score: Callable[[int], str],
    output: Callable[[int], str],
    any_score: str,
    suffix: str,
    log: bool,
    rows: int,
    max_terms: int = MAX_TERMS_SHOWN,
) -> list[Formula]:
    """One row's softmax with numbers: m = max, Z = Σ exp(s_j − m), then ``rows`` outputs.

    ``score(j)``/``output(j)`` name entry j; ``any_score`` is the row's s_j
    with a free j; ``suffix`` tells rows of a batch apart (m_0, Z_0).  The
    outputs are p_j = exp(s_j − m)/Z, or log p_j = s_j − m − log Z.
    """
    classes = scores.shape[0]
    maximum, lse = (float(v[0]) for v in log_sum_exp(scores))
    z_value = math.exp(lse - maximum)
    m_name, z_name = f"m{suffix}", f"Z{suffix}"
    shown = min(classes, max_terms)
    max_tokens: list[Any] = ["max("]
    sum_tokens: list[Any] = []
    for j in range(shown):
        if j:
            max_tokens.append(", ")
            sum_tokens.append(" + ")
        max_tokens.append(scores[j])
        sum_tokens.extend(("exp(", scores[j], " − ", *factor(maximum), ")"))
    if classes > shown:
        max_tokens.append(f", … ({classes - shown} more)")
        sum_tokens.append(f" + … ({classes - shown} more)")
    max_tokens.append(")")
    steps = [
        Formula(m_name, f"{m_name} = max_j {any_score}", tuple(max_tokens), maximum),
        Formula(z_name, f"{z_name} = Σ_j exp({any_score} − {m_name})", tuple(sum_tokens), z_value),
    ]
    for j in range(rows):
        shift = (scores[j], " − ", *factor(maximum))
        if log:
            steps.append(
                Formula(
                    output(j),
                    f"{output(j)} = log p = {score(j)} − {m_name} − log {z_name}",
                    (*shift, " − log ", z_value),
                    scores[j] - lse,
                )
            )
        else:
            steps.append(
                Formula(
                    output(j),
                    f"{output(j)} = exp({score(j)} − {m_name})/{z_name}",
                    ("exp(", *shift, ")/", z_value),
                    math.exp(scores[j] - lse),
                )
            )
    return steps


def block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """N×C×C -> (N·C)×(N·C) with the blocks on the diagonal (rows: outputs, columns: inputs)."""
    count, size, _ = blocks.shape
    full = np.zeros((count, size, count, size))
    for n in range(count):
        full[n, :, n, :] = blocks[n]
    return full.reshape(count * size, count * size)


# ---------------------------------------------------------------------------
# Reading the specs


@record
class ElementwiseProblem:
    """A validated activation or softmax spec (object arrays of Fractions, spec shapes)."""

    kind: str
    title: str | None
    function: str
    params: dict[str, Fraction]
    subgradient: Fraction | None  # f′(0) chosen by the spec, None: PyTorch's
    input: np.ndarray
    upstream: np.ndarray
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance


def _read_params(spec: Mapping[str, Any], function: str) -> dict[str, Fraction]:
    rule = activation_rule(function)
    for key in ("alpha", "beta", "threshold"):
        if spec.get(key) is not None and key not in rule.params:
            users = [name for name, r in ACTIVATIONS.items() if key in r.params]
            raise SpecError(
                (key,),
                f"{key} does not apply to {function} (it applies to {', '.join(users)})",
                at_key=True,
            )
    defaults = PARAM_DEFAULTS.get(function, {})
    params = {}
    for key in rule.params:
        if key == "beta":
            params[key] = read_scalar(spec, key, defaults[key], low=Fraction(0), low_open=True)
        else:
            params[key] = read_scalar(spec, key, defaults[key])
    return params


def read_activation(spec: Mapping[str, Any], limits: common.Limits) -> ElementwiseProblem:
    """Validate an activation spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, "activation", ACTIVATION_KEYS)
    function = read_choice(spec, "function", tuple(ACTIVATIONS))
    params = _read_params(spec, function)
    subgradient = None
    if spec.get("subgradient_at_zero") is not None:
        slopes = ACTIVATIONS[function].kink_slopes(params)
        if slopes is None:
            kinked = ("relu", "leaky_relu", "elu")
            why = "alpha = 1 leaves no kink" if function in kinked else "it is differentiable"
            raise SpecError(
                ("subgradient_at_zero",),
                f"subgradient_at_zero does not apply to {function} ({why} at 0); "
                f"it applies to {', '.join(kinked)} (with alpha ≠ 1)",
                at_key=True,
            )
        low, high = sorted(slopes)
        subgradient = read_scalar(spec, "subgradient_at_zero", low, low=low, high=high)
    raw = common.require(spec, "input", "activation", "the input, an array of any shape")
    x = read_array(raw, ("input",), ndims=tuple(range(0, 7)), what="input", limits=limits)
    return _finish(spec, "activation", function, params, subgradient, x, limits)


def read_softmax(spec: Mapping[str, Any], limits: common.Limits) -> ElementwiseProblem:
    """Validate a softmax spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, "softmax", SOFTMAX_KEYS)
    function = read_choice(spec, "function", SOFTMAX_FUNCTIONS, default="softmax")
    raw = common.require(spec, "input", "softmax", "the scores, a vector of C or an N×C batch")
    x = read_array(raw, ("input",), ndims=(1, 2), what="input", limits=limits)
    return _finish(spec, "softmax", function, {}, None, x, limits)


def _finish(
    spec: Mapping[str, Any],
    kind: str,
    function: str,
    params: dict[str, Fraction],
    subgradient: Fraction | None,
    x: np.ndarray,
    limits: common.Limits,
) -> ElementwiseProblem:
    defaults = NAME_DEFAULTS
    if kind == "softmax":
        defaults = {**NAME_DEFAULTS, "input": "s", "output": "p" if function == "softmax" else "y"}
    names = common.read_names(spec, defaults)
    upstream, upstream_given = common.read_upstream(spec, x.shape, names["output"], limits)
    known: dict[str, tuple[int, ...] | None] = {"output": x.shape, "grad_input": x.shape}
    if kind == "softmax":
        known["jacobian"] = (x.size, x.size)
    return ElementwiseProblem(
        kind=kind,
        title=common.read_title(spec),
        function=function,
        params=params,
        subgradient=subgradient,
        input=x,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        index_base=common.read_index_base(spec),
        expected=common.read_expected(spec, known, limits),
        tolerance=common.read_tolerance(spec),
    )


# ---------------------------------------------------------------------------
# Solving


def solve_activation(spec: Mapping[str, Any], options: common.SolveOptions) -> Solution:
    """Read, compute, check and explain one activation spec."""
    problem = read_activation(spec, options.limits)
    rule = ACTIVATIONS[problem.function]
    # relu and leaky_relu run exactly (as x·f′(x) and ∂L/∂y·f′(x), in integers); the
    # others are irrational and the adapter runs them in float64.
    output, trace = adapter.forward(
        ELEMENTWISE[problem.function],
        problem.input,
        {**problem.params, "subgradient": problem.subgradient},
        exact=not options.force_float and problem.input.size <= options.limits.exact_work,
        float64=adapter.each_rounded,
    )
    grad_input = adapter.backward(problem.upstream, trace)["input"]
    exact = trace.exact
    x, slope = trace.cache["input"], trace.cache["slope"]
    upstream = adapter.as_run(problem.upstream, trace)
    dtype = object if exact else float
    results: dict[str, Any] = {
        "output": np.asarray(output, dtype=dtype),
        "grad_input": np.asarray(grad_input, dtype=dtype),
    }
    checks = check_answers(
        problem.expected, results, problem.tolerance, options.limits.max_jacobian
    )
    gradient_check = None
    kinks = np.zeros(problem.input.shape, dtype=bool)
    if rule.kink_slopes(problem.params) is not None:
        kinks = near(problem.input.astype(float), (0.0,))
    jumps = np.zeros(problem.input.shape, dtype=bool)
    if problem.function == "softplus":
        try:
            at = float(_threshold_x(problem.params))
        except OverflowError:  # beyond float64: no input can sit there
            at = math.inf
        jumps = near(problem.input.astype(float), (at,))
    if options.gradient_check:
        float_params = {k: float(v) for k, v in problem.params.items()}
        weights = problem.upstream.astype(float)
        start = problem.input.astype(float)
        baseline = rule.forward(start, float_params)
        with np.errstate(over="ignore", invalid="ignore"):
            # f(x) below the smallest normal number still rounds by 2^-1074 (σ(−741)):
            # each term rounds like |upstream|·max(|f(x)|, 2^-1022) at least.
            terms = np.abs(weights) * np.maximum(np.abs(baseline), NORMAL)
        bend, bend_text = gradient_bend(problem.function, start, float_params)

        def loss(p: Mapping[str, np.ndarray]) -> float:
            # Only the probed entry moves: sum its change alone, so rounding in a sum
            # over every other entry cannot swamp the difference quotient.
            moved = p["input"] != start
            change = rule.forward(p["input"][moved], float_params) - baseline[moved]
            return float(np.sum(weights[moved] * change))

        because = [
            why
            for why, where in (
                ("at the kink at 0", kinks),
                (
                    "at softplus's threshold (β·x = threshold), where PyTorch's softplus jumps",
                    jumps,
                ),
            )
            if where.any()
        ]
        gradient_check = check_gradients_where(
            loss,
            {"input": problem.input.astype(float)},
            {"input": results["grad_input"]},
            {"input": ~(kinks | jumps)},
            skipped_because="; ".join(because),
            # The loss sums the probed entry's change alone: it rounds like that entry's term.
            scale={"input": terms},
            bend=None if bend is None else {"input": bend},
            bend_text=bend_text,
        )
    explainer = _ActivationExplainer(problem, x, upstream, results, slope, exact, options)
    conventions = explainer.conventions(kinks, jumps) if options.explain else []
    return Solution(
        kind="activation",
        title=problem.title,
        results=results,
        exact=exact,
        conventions=conventions,
        sections=[
            build()
            for key, build in explainer.builders()
            if key in SECTIONS_BY_KIND["activation"] and options.wants(key)
        ],
        checks=checks,
        gradient_check=gradient_check,
        index_base=problem.index_base,
    )


def solve_softmax(spec: Mapping[str, Any], options: common.SolveOptions) -> Solution:
    """Read, compute, check and explain one softmax spec (always float64: exp)."""
    problem = read_softmax(spec, options.limits)
    log = problem.function == "log_softmax"
    classes = problem.input.shape[-1]
    _, trace = adapter.forward(
        SOFTMAX,
        problem.input.reshape(-1, classes),
        {"log": log},
        exact=not options.force_float,  # the adapter runs softmax in float64 (exp) either way
        float64=adapter.each_rounded,
    )
    grad = adapter.backward(problem.upstream.reshape(-1, classes), trace)["input"]
    scores, p, log_p = trace.cache["input"], trace.cache["p"], trace.cache["log_p"]
    upstream = adapter.as_run(problem.upstream.reshape(-1, classes), trace)
    results: dict[str, Any] = {
        "output": (log_p if log else p).reshape(problem.input.shape),
        "grad_input": grad.reshape(problem.input.shape),
    }
    wanted = options.wants_jacobians() or "jacobian" in problem.expected
    if wanted and problem.input.size**2 <= options.limits.max_jacobian:
        results["jacobian"] = block_diagonal(softmax_jacobians(p, log))
    elif "jacobian" in problem.expected:
        raise LimitError(
            ("expected", "jacobian"),
            f"the jacobian has {problem.input.size**2:,} entries, above the limit of "
            f"{options.limits.max_jacobian:,} (raise it with --max-jacobian)",
        )
    checks = check_answers(
        problem.expected, results, problem.tolerance, options.limits.max_jacobian
    )
    gradient_check = None
    if options.gradient_check:
        baseline = log_p if log else p

        def loss(params: Mapping[str, np.ndarray]) -> float:
            # Only the probed row moves; the others would add nothing but rounding.
            values = params["input"].reshape(-1, classes)
            moved = np.any(values != scores, axis=1)
            probs, log_probs = softmax_forward(values[moved])
            change = (log_probs if log else probs) - baseline[moved]
            return float(np.sum(upstream[moved] * change))

        with np.errstate(over="ignore", invalid="ignore"):
            # log_softmax = x − logsumexp(x) can be small when x is huge: count |x| too.
            sizes = np.abs(baseline) + np.abs(scores).max(axis=1, keepdims=True)
            rows = (np.abs(upstream) * sizes).sum(axis=1, keepdims=True)
            terms = np.broadcast_to(rows, scores.shape).reshape(problem.input.shape)
        gradient_check = check_gradients_where(
            loss,
            {"input": problem.input.astype(float)},
            {"input": results["grad_input"]},
            {},
            # The loss sums the probed row's change alone: it rounds like that row's terms.
            scale={"input": terms},
            bend={"input": softmax_bend(scores).reshape(problem.input.shape)},
            bend_text="1",
        )
    explainer = _SoftmaxExplainer(problem, scores, upstream, p, log_p, grad, results, options)
    return Solution(
        kind="softmax",
        title=problem.title,
        results=results,
        exact=False,
        conventions=explainer.conventions() if options.explain else [],
        sections=[
            build()
            for key, build in explainer.builders()
            if key in SECTIONS_BY_KIND["softmax"] and options.wants(key)
        ],
        checks=checks,
        gradient_check=gradient_check,
        index_base=problem.index_base,
    )


# ---------------------------------------------------------------------------
# Explaining


class _Base:
    """What both explainers share: symbols, the conventions they have in common, the problem."""

    def __init__(self, problem: ElementwiseProblem, options: common.SolveOptions):
        self.p = problem
        self.options = options
        self.X, self.Y, self.L = (problem.names[k] for k in ("input", "output", "loss"))
        self.sep = index_separator(problem.input.shape, index_base=problem.index_base)

    def sym(self, name: str, index: tuple[int, ...]) -> Symbol:
        return element_symbol(name, index, self.p.index_base, self.sep)

    def dims(self) -> str:
        return "×".join(map(str, self.p.input.shape)) or "() (a single number)"

    def sym_up(self, index: tuple[int, ...]) -> Symbol:
        return self.sym(f"∂{self.L}/∂{self.Y}", index)

    def common_conventions(self) -> list[str]:
        p = self.p
        items = [f"indices start at {p.index_base} (index_base: {p.index_base})"]
        if p.upstream_given:
            items.append(f"upstream ∂{self.L}/∂{self.Y} as given in the spec")
        else:
            items.append(
                f"upstream omitted: ∂{self.L}/∂{self.Y} = ones, i.e. {self.L} = sum of all outputs"
            )
        return items

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


class _ActivationExplainer(_Base):
    def __init__(
        self,
        problem: ElementwiseProblem,
        x: np.ndarray,
        upstream: np.ndarray,
        results: dict[str, Any],
        slope: np.ndarray,
        exact: bool,
        options: common.SolveOptions,
    ):
        super().__init__(problem, options)
        self.x, self.up, self.results, self.slope, self.exact = x, upstream, results, slope, exact
        self.rule = ACTIVATIONS[problem.function]
        self.f = problem.function
        self.values = {k: (v if exact else float(v)) for k, v in problem.params.items()}

    def conventions(self, kinks: np.ndarray, jumps: np.ndarray) -> list[str]:
        p, f = self.p, self.f
        items = [f"{f}(x) = {self.rule.formula}; {f}′(x) = {self.rule.derivative_formula}"]
        items.extend(Words(f"{key} = ", value) for key, value in p.params.items())
        slopes = self.rule.kink_slopes(p.params)
        if slopes is not None:
            default = slopes[0]
            if p.subgradient is None:
                items.append(
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
                )
            else:
                items.append(
                    Words(
                        f"{f}′(0) = ",
                        p.subgradient,
                        " (subgradient_at_zero; PyTorch uses ",
                        default,
                        ")",
                    )
                )
            if kinks.any():
                count = int(kinks.sum())
                items.append(
                    f"{count} input entr{'y is' if count == 1 else 'ies are'} at (or within two "
                    "finite-difference steps of) the kink at 0: "
                    f"the finite-difference check skips {'it' if count == 1 else 'them'} "
                    "(a central difference there measures the average of the two slopes)"
                )
        if f == "softplus":
            items.append(
                Words(
                    "β·x > threshold (",
                    p.params["threshold"],
                    "): PyTorch returns x itself there (slope 1)",
                )
            )
            if jumps.any():
                count = int(jumps.sum())
                items.append(
                    Words(
                        f"{count} input entr{'y is' if count == 1 else 'ies are'} at (or within "
                        "two finite-difference steps of) the threshold, x = threshold/β = ",
                        _threshold_x(p.params),
                        ": PyTorch's softplus jumps there (from log(1 + exp(threshold))/β to x), "
                        f"so the finite-difference check skips {'it' if count == 1 else 'them'}",
                    )
                )
        items.extend(self.common_conventions())
        items.append(
            arithmetic_words(
                exact=self.exact,
                irrational="" if self.rule.rational else f"{f} uses exp, log or erf",
                forced=self.options.force_float,
                size=f"{p.input.size:,} entries",
                limit=self.options.limits.exact_work,
            )
        )
        return items

    def builders(self):
        return (
            ("problem", self.section_problem),
            ("forward", self.section_forward),
            ("derivative", self.section_derivative),
            ("backward", self.section_backward),
        )

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

    def derivative_tokens(self, x: Any) -> tuple[str, tuple]:
        f, v = self.f, self.values
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
        cdf = float(_gelu_cdf(np.array(x)))
        pdf = math.exp(-0.5 * x * x) / _SQRT_2PI
        return "Φ({x}) + {x}·φ({x})", (cdf, " + ", *factor(x), "·", pdf)

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
            words, numbers = self.derivative_tokens(x)
            section.add(
                Formula(
                    label=f"{f}′({x_sym})",
                    symbolic=f"{f}′({x_sym}) = " + words.replace("{x}", x_sym),
                    numeric=numbers,
                    value=self.slope[index],
                )
            )
            if slopes is not None and x == 0:
                chosen = self.p.subgradient
                choice: tuple = (
                    ("PyTorch uses ", slopes[0], ".")
                    if chosen is None
                    else ("the spec chooses ", chosen, " (PyTorch uses ", slopes[0], ").")
                )
                section.add(
                    sentence(
                        f"{x_sym} = 0 sits on {f}'s kink: slope ",
                        slopes[0],
                        " on the left, ",
                        slopes[1],
                        f" on the right, so {f} has no derivative there; ",
                        *choice,
                    )
                )
        section.omitted = omitted
        return section

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


class _SoftmaxExplainer(_Base):
    def __init__(
        self,
        problem: ElementwiseProblem,
        scores: np.ndarray,
        upstream: np.ndarray,
        p: np.ndarray,
        log_p: np.ndarray,
        grad: np.ndarray,
        results: dict[str, Any],
        options: common.SolveOptions,
    ):
        super().__init__(problem, options)
        self.s, self.up, self.prob, self.log_p, self.grad = scores, upstream, p, log_p, grad
        self.results = results
        self.log = problem.function == "log_softmax"
        self.batched = problem.input.ndim == 2
        self.P = self.Y if not self.log else "p"

    def idx(self, n: int, j: int) -> tuple[int, ...]:
        return (n, j) if self.batched else (j,)

    def per_sample(self, name: str, n: int) -> str:
        return f"{name}_{n + self.p.index_base}" if self.batched else name

    def conventions(self) -> list[str]:
        classes = self.s.shape[1]
        items = [
            f"{self.p.function} over the last axis (dim = −1): each of the {self.s.shape[0]} row"
            f"{'s' if self.s.shape[0] != 1 else ''} of C = {classes} scores separately"
            if self.batched
            else f"{self.p.function} over the C = {classes} entries of the vector (dim = −1)"
        ]
        items.append(
            "log-sum-exp: m = max_j s_j is subtracted before exp, so every exponent is ≤ 0 "
            "and logits like 1000 cannot overflow; the result is unchanged"
        )
        items.extend(self.common_conventions())
        if not self.p.upstream_given and not self.log:
            items.append(
                f"(with an upstream of ones, {self.L} = Σ p = 1 per row is constant, so ∂{self.L}/∂{self.X} = 0)"
            )
        items.append(
            arithmetic_words(
                exact=False, irrational="softmax uses exp", forced=False, size="", limit=0
            )
        )
        return items

    def builders(self):
        return (
            ("problem", self.section_problem),
            ("forward", self.section_forward),
            ("jacobian", self.section_jacobian),
            ("backward", self.section_backward),
        )

    def section_problem(self) -> Section:
        X, Y = self.X, self.Y
        if self.log:
            text = f"{Y} = log_softmax({X}) = log p, p_j = exp({X}_j)/Σ_k exp({X}_k)"
        else:
            text = f"{Y} = softmax({X}), {Y}_j = exp({X}_j)/Σ_k exp({X}_k)"
        text += f"; {X}, {Y} and ∂{self.L}/∂{Y} all have shape {self.dims()}"
        return self.problem_section(text)

    def section_forward(self) -> Section:
        section = Section("forward", "Forward: log-sum-exp, then each probability")
        count, classes = self.s.shape
        budget = self.options.cap(count * classes)
        shown = 0
        for n in range(count):
            if shown >= budget:
                break
            rows = min(classes, budget - shown)
            shown += rows
            for item in softmax_row_steps(
                self.s[n],
                score=lambda j, n=n: self.sym(self.X, self.idx(n, j)).text,
                output=lambda j, n=n: self.sym(self.Y, self.idx(n, j)).text,
                any_score=f"{self.X}_{n + self.p.index_base}{self.sep}j"
                if self.batched
                else f"{self.X}_j",
                suffix=f"_{n + self.p.index_base}" if self.batched else "",
                log=self.log,
                rows=rows,
                max_terms=self.options.max_terms,
            ):
                section.add(item)
        section.omitted = count * classes - shown
        return section
        return section

    def section_jacobian(self) -> Section:
        count, classes = self.s.shape
        P, X = self.P, self.X
        name = f"∂{self.Y}/∂{X}"
        section = Section(
            "jacobian",
            f"Jacobian {name} = "
            + ("I − 1·pᵀ (δ_ij − p_j)" if self.log else "diag(p) − p·pᵀ (p_i·(δ_ij − p_j))"),
        )
        if "jacobian" not in self.results:
            section.add(
                Note(
                    f"not built: {self.p.input.size**2:,} entries, above the limit of "
                    f"{self.options.limits.max_jacobian:,} (raise it with --max-jacobian)"
                )
            )
        if classes > SMALL_CLASSES:
            section.add(
                Note(
                    f"C = {classes} classes: the C×C tables are not written out here (at most {SMALL_CLASSES}); "
                    + ("the results hold the whole Jacobian." if "jacobian" in self.results else "")
                )
            )
            return section
        if self.batched:
            section.add(
                Note(
                    "each sample has its own C×C block; the full Jacobian (results: jacobian) is block diagonal, "
                    "zero between samples"
                )
            )
        else:
            section.add(
                Note(
                    "each row sums to 0: the probabilities always sum to 1"
                    if not self.log
                    else "each row i is e_i − p: raising any score raises log Z by p_j"
                )
            )
        budget = self.options.cap(count * classes)
        shown = 0
        blocks = softmax_jacobians(self.prob, self.log)
        for n in range(count):
            if shown >= budget:
                break
            rows = min(classes, budget - shown)
            shown += rows
            out_labels = tuple(self.sym(self.Y, self.idx(n, i)).text for i in range(rows))
            in_labels = tuple(self.sym(X, self.idx(n, j)).text for j in range(classes))

            def p_text(k: int, n: int = n) -> str:
                return self.sym(P, self.idx(n, k)).text

            symbolic = tuple(
                tuple(
                    (f"1 − {p_text(j)}" if i == j else f"−{p_text(j)}")
                    if self.log
                    else (
                        f"{p_text(i)}(1 − {p_text(i)})" if i == j else f"−{p_text(i)}·{p_text(j)}"
                    )
                    for j in range(classes)
                )
                for i in range(rows)
            )
            suffix = f", sample {n + self.p.index_base}" if self.batched else ""
            section.add(SymbolTable(f"{name} (symbols{suffix})", in_labels, out_labels, symbolic))
            section.add(
                SymbolTable(
                    f"{name} (values{suffix})",
                    in_labels,
                    out_labels,
                    tuple(tuple(blocks[n, i]) for i in range(rows)),
                )
            )
        section.omitted = count * classes - shown
        return section

    def section_backward(self) -> Section:
        count, classes = self.s.shape
        L, Y, X, P = self.L, self.Y, self.X, self.P
        title = (
            f"Backward: ∂{L}/∂{X}_j = ∂{L}/∂{Y}_j − p_j·Σ_i ∂{L}/∂{Y}_i"
            if self.log
            else f"Backward: ∂{L}/∂{X}_j = {Y}_j·(∂{L}/∂{Y}_j − Σ_i ∂{L}/∂{Y}_i·{Y}_i)"
        )
        section = Section("backward", title)
        budget = self.options.cap(count * classes)
        shown = 0
        for n in range(count):
            if shown >= budget:
                break
            # The one number every entry of this row needs.
            inner_terms = tuple(
                Product(
                    (
                        (self.sym_up(self.idx(n, i)), self.up[n, i]),
                        *(() if self.log else ((self.sym(P, self.idx(n, i)), self.prob[n, i]),)),
                    )
                )
                for i in range(min(classes, self.options.max_terms))
            )
            inner_value = self.up[n].sum() if self.log else float(self.up[n] @ self.prob[n])
            inner_name = self.per_sample("g", n)
            section.add(
                SumOfProducts(
                    target=Symbol(inner_name),
                    general=f"Σ_i ∂{L}/∂{Y}_i" + ("" if self.log else f"·{Y}_i"),
                    terms=inner_terms,
                    value=inner_value,
                    omitted=classes - len(inner_terms),
                )
            )
            for j in range(classes):
                if shown >= budget:
                    break
                shown += 1
                index = self.idx(n, j)
                target = self.sym(f"∂{L}/∂{X}", index)
                p_sym = self.sym(P, index)
                if self.log:
                    section.add(
                        Formula(
                            target.text,
                            f"{target.text} = ∂{L}/∂{self.sym(Y, index).text} − {p_sym.text}·{inner_name}",
                            (self.up[n, j], " − ", self.prob[n, j], "·", *factor(inner_value)),
                            self.grad[n, j],
                        )
                    )
                else:
                    section.add(
                        Formula(
                            target.text,
                            f"{target.text} = {p_sym.text}·(∂{L}/∂{p_sym.text} − {inner_name})",
                            (
                                self.prob[n, j],
                                "·(",
                                self.up[n, j],
                                " − ",
                                *factor(inner_value),
                                ")",
                            ),
                            self.grad[n, j],
                        )
                    )
        section.add(
            Note(
                f"the same as Σ_i ∂{L}/∂{Y}_i·∂{Y}_i/∂{X}_j: the upstream (a row) times the Jacobian above"
            )
        )
        section.omitted = count * classes - shown
        return section
