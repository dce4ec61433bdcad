"""An activation spec: how it is read (``read(spec, limits) -> ActivationProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``); its practice profile
(``PRACTICE``, for ``gradcalc random``) is core/kinds/activation_practice.py.

An activation problem is y = f(x) entry by entry (PyTorch semantics) and ∂L/∂x = ∂L/∂y ⊙
f′(x) for an input ``x`` of any shape (a single number too); every array has x's shape.
Each function's forward and derivative are an op of core/ops/elementwise.py, which also
declares how exact it is (relu and leaky_relu piecewise linear, the others irrational):
the op adapter runs it exactly or in float64 from that declaration alone.  The table
:data:`ACTIVATIONS` here says what a spec of each function may set and how its rule reads.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import bend_within, check_gradients_where, near
from gradcalc.core.errors import SpecError
from gradcalc.core.float_source import each_float
from gradcalc.core.gradcheck import NORMAL
from gradcalc.core.kinds.fields import read_array, read_choice, read_scalar
from gradcalc.core.ops import adapter
from gradcalc.core.ops.elementwise import (
    ELEMENTWISE,
    elu,
    gelu,
    leaky_relu,
    relu,
    sigmoid_rule,
    softplus,
    tanh,
)
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record

if TYPE_CHECKING:  # gradcalc check's variants: usual_mistakes imports them
    from gradcalc.core.kinds.mistakes import Variant as Mistake

# ---------------------------------------------------------------------------
# Reading

KIND = "activation"
KEYS = registry.field_names(KIND)
NAME_DEFAULTS = {"input": "x", "output": "y", "loss": "L"}
RESULTS = ("output", "grad_input")
SECTIONS = registry.sections(KIND)


@record(frozen=True)
class Activation:
    """One elementwise function as a spec and its explanation see it.

    ``formula`` and ``derivative_formula`` are f and f′ in words; ``params`` the keys the
    function takes; ``forward(x, params)`` is the op's float64 forward rule (for finite
    differences).  The derivative at a kink is the left slope, as PyTorch's backward
    computes it (its x ≤ 0 branch); ``kink_slopes`` gives (left, right) at 0, or None.
    """

    formula: str
    derivative_formula: str
    params: tuple[str, ...]
    forward: Callable[[np.ndarray, Mapping[str, Any]], np.ndarray]
    kink_slopes: Callable[[Mapping[str, Any]], tuple[Any, Any] | None]


def _kink_at_zero(left: str | None):
    """(left slope, 1) at 0, or None when both slopes agree (no kink)."""

    def slopes(p: Mapping[str, Any]) -> tuple[Any, Any] | None:
        value = Fraction(0) if left is None else p[left]
        return None if value == 1 else (value, Fraction(1))

    return slopes


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation("max(0, x)", "1 if x > 0, else 0", (), relu, _kink_at_zero(None)),
    "leaky_relu": Activation(
        "x if x > 0, else α·x",
        "1 if x > 0, else α",
        ("alpha",),
        leaky_relu,
        _kink_at_zero("alpha"),
    ),
    "sigmoid": Activation(
        "σ(x) = 1/(1 + exp(−x))", "σ(x)·(1 − σ(x))", (), sigmoid_rule, lambda _: None
    ),
    "tanh": Activation("tanh(x)", "1 − tanh²(x)", (), tanh, lambda _: None),
    "softplus": Activation(
        "log(1 + exp(β·x))/β, or x where β·x > threshold",
        "σ(β·x), or 1 where β·x > threshold",
        ("beta", "threshold"),
        softplus,
        lambda _: None,
    ),
    "elu": Activation(
        "x if x > 0, else α·(exp(x) − 1)",
        "1 if x > 0, else α·exp(x)",
        ("alpha",),
        elu,
        _kink_at_zero("alpha"),
    ),
    "gelu": Activation(
        "x·Φ(x) = x·(1 + erf(x/√2))/2 (the exact erf form)",
        "Φ(x) + x·φ(x), φ(x) = exp(−x²/2)/√(2π)",
        (),
        gelu,
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


@record
class ActivationProblem:
    """A validated activation spec (object arrays of Fractions, all in the input's shape)."""

    title: str | None
    function: str
    params: dict[str, Fraction]
    subgradient: Fraction | None  # f′(0) chosen by the spec, None: PyTorch's
    input: np.ndarray  # any shape
    upstream: np.ndarray  # the input's shape
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


def _read_subgradient(
    spec: Mapping[str, Any], function: str, params: dict[str, Fraction]
) -> Fraction | None:
    """f′(0) as the spec chooses it (within the kink's two slopes), or None: PyTorch's."""
    if spec.get("subgradient_at_zero") is None:
        return None
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
    return read_scalar(spec, "subgradient_at_zero", low, low=low, high=high)


def read(spec: Mapping[str, Any], limits: common.Limits) -> ActivationProblem:
    """Validate an activation spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    function = read_choice(spec, "function", tuple(ACTIVATIONS))
    params = _read_params(spec, function)
    subgradient = _read_subgradient(spec, function, params)
    raw = common.require(spec, "input", KIND, "the input, an array of any shape")
    x = read_array(raw, ("input",), ndims=tuple(range(0, 7)), what="input", limits=limits)
    names = common.read_names(spec, NAME_DEFAULTS)
    upstream, upstream_given = common.read_upstream(spec, x.shape, names["output"], limits)
    known: dict[str, tuple[int, ...] | None] = {"output": x.shape, "grad_input": x.shape}
    return ActivationProblem(
        function=function,
        params=params,
        subgradient=subgradient,
        input=x,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        **common.read_shared(spec, known, limits),
    )


# ---------------------------------------------------------------------------
# Running


@record
class ActivationTrace:
    """What the forward and backward pass recorded; every array has the input's shape
    (object Fractions when ``exact``, else float64)."""

    input: np.ndarray  # x as the op ran
    upstream: np.ndarray  # ∂L/∂y as the op ran
    slope: np.ndarray  # f′(x), the chosen subgradient applied
    exact: bool
    irrational: bool  # the op is declared irrational (exp, log, erf): never exact
    kinks: np.ndarray  # bool: entries at (or within two finite-difference steps of) the kink
    jumps: np.ndarray  # bool: entries at (or near) softplus's threshold, where it jumps
    tail: np.ndarray  # bool: f′ taken as σ(x)·σ(−x) or 4·e/(1 + e)², where PyTorch's cancels


def threshold_x(p: Mapping[str, Any]) -> Fraction:
    """Where softplus switches to x itself: β·x = threshold."""
    return Fraction(p["threshold"]) / Fraction(p["beta"])


def _kinks_and_jumps(problem: ActivationProblem) -> tuple[np.ndarray, np.ndarray]:
    """The entries near a kink at 0 and near softplus's jump (bool, the input's shape)."""
    kinks = np.zeros(problem.input.shape, dtype=bool)
    if ACTIVATIONS[problem.function].kink_slopes(problem.params) is not None:
        kinks = near(each_float(problem.input), (0.0,))
    jumps = np.zeros(problem.input.shape, dtype=bool)
    if problem.function == "softplus":
        try:
            at = float(threshold_x(problem.params))
        except OverflowError:  # beyond float64: no input can sit there
            at = math.inf
        jumps = near(each_float(problem.input), (at,))
    return kinks, jumps


def run(problem: ActivationProblem, options: common.SolveOptions) -> Run:
    """y = f(x) and ∂L/∂x = ∂L/∂y ⊙ f′(x), exactly when the op's declared exactness allows
    it (relu and leaky_relu, as x·f′(x) and ∂L/∂y·f′(x) in integers), else in float64."""
    op = ELEMENTWISE[problem.function]
    output, trace = adapter.forward(
        op,
        problem.input,
        {**problem.params, "subgradient": problem.subgradient},
        exact=not options.force_float and problem.input.size <= options.limits.exact_work,
        float64=adapter.each_rounded,
    )
    grad_input = adapter.backward(problem.upstream, trace)["input"]
    exact = trace.exact
    dtype = object if exact else float
    results: dict[str, Any] = {
        "output": np.asarray(output, dtype=dtype),
        "grad_input": np.asarray(grad_input, dtype=dtype),
    }
    kinks, jumps = _kinks_and_jumps(problem)
    recorded = ActivationTrace(
        input=trace.cache["input"],
        upstream=adapter.as_run(problem.upstream, trace),
        slope=trace.cache["slope"],
        exact=exact,
        irrational=not adapter.runs_exactly(op, True),
        kinks=kinks,
        jumps=jumps,
        tail=np.asarray(trace.cache["tail"], dtype=bool),
    )
    return Run(results=results, trace=recorded, exact=exact)


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


def finite_differences(problem: ActivationProblem, run: Run) -> GradientCheck | None:
    """∂L/∂x against float64 central differences of Σ upstream ⊙ f(x), away from kinks and
    softplus's jump (where a central difference measures nothing the rule promises)."""
    rule = ACTIVATIONS[problem.function]
    kinks, jumps = run.trace.kinks, run.trace.jumps
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
            ("at softplus's threshold (β·x = threshold), where PyTorch's softplus jumps", jumps),
        )
        if where.any()
    ]
    return check_gradients_where(
        loss,
        {"input": problem.input.astype(float)},
        {"input": run.results["grad_input"]},
        {"input": ~(kinks | jumps)},
        skipped_because="; ".join(because),
        # The loss sums the probed entry's change alone: it rounds like that entry's term.
        scale={"input": terms},
        bend=None if bend is None else {"input": bend},
        bend_text=bend_text,
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    from gradcalc.core.kinds.mistakes import forgot_upstream, negated, upstream_transposed

    return (
        forgot_upstream(spec, ("grad_input",), reveals=("grad_input",))
        + upstream_transposed(spec, ("grad_input",))
        + [negated(("grad_input",))]
    )
