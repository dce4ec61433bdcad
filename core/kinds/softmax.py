"""A softmax spec: how it is read (``read(spec, limits) -> SoftmaxProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``); its practice profile
(``PRACTICE``, for ``gradcalc random``) is core/kinds/softmax_practice.py.

A softmax problem is p = softmax(s) (or y = log p, log_softmax) over the last axis of
scores ``s``, a vector (C) or a batch (N×C), its Jacobian diag(p) − p·pᵀ and ∂L/∂s for
an upstream ∂L/∂y; every array has the scores' shape.  The op (core/ops/softmax.py) is
declared irrational (exp): the adapter runs it in float64.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where, softmax_bend
from gradcalc.core.errors import LimitError
from gradcalc.core.kinds.fields import read_array, read_choice
from gradcalc.core.ops import adapter
from gradcalc.core.ops.softmax import SOFTMAX, backward_forms, softmax_forward, softmax_jacobians
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record

if TYPE_CHECKING:  # gradcalc check's variants: usual_mistakes imports them
    from gradcalc.core.kinds.mistakes import Variant as Mistake

# ---------------------------------------------------------------------------
# Reading

KIND = "softmax"
KEYS = registry.field_names(KIND)
FUNCTIONS = registry.choices(KIND, "function")
# Softmax writes its input s and its output p (y for log_softmax).
NAME_DEFAULTS = {"input": "s", "output": "p", "loss": "L"}
LOG_NAME_DEFAULTS = {**NAME_DEFAULTS, "output": "y"}
RESULTS = ("output", "grad_input", "jacobian")
SECTIONS = registry.sections(KIND)
# The explanation writes each sample's C×C Jacobian out up to this many classes.
SMALL_CLASSES = 8


@record
class SoftmaxProblem:
    """A validated softmax spec (object arrays of Fractions, all in the scores' shape)."""

    title: str | None
    function: str  # softmax or log_softmax
    input: np.ndarray  # C or N×C scores
    upstream: np.ndarray  # the scores' shape
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def log(self) -> bool:
        return self.function == "log_softmax"


def read(spec: Mapping[str, Any], limits: common.Limits) -> SoftmaxProblem:
    """Validate a softmax spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    function = read_choice(spec, "function", FUNCTIONS, default="softmax")
    raw = common.require(spec, "input", KIND, "the scores, a vector of C or an N×C batch")
    x = read_array(raw, ("input",), ndims=(1, 2), what="input", limits=limits)
    defaults = NAME_DEFAULTS if function == "softmax" else LOG_NAME_DEFAULTS
    names = common.read_names(spec, defaults)
    upstream, upstream_given = common.read_upstream(spec, x.shape, names["output"], limits)
    known: dict[str, tuple[int, ...] | None] = {
        "output": x.shape,
        "grad_input": x.shape,
        "jacobian": (x.size, x.size),
    }
    return SoftmaxProblem(
        function=function,
        input=x,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        **common.read_shared(spec, known, limits),
    )


# ---------------------------------------------------------------------------
# Running


@record
class SoftmaxTrace:
    """What the forward and backward pass recorded, as N×C rows (a vector is one row),
    float64 as the op ran."""

    scores: np.ndarray  # s
    upstream: np.ndarray  # ∂L/∂y
    p: np.ndarray  # softmax(s)
    log_p: np.ndarray  # log softmax(s)
    grad_input: np.ndarray  # ∂L/∂s
    # 1 − p (r/Z at a row's top where 1 − p cancels: ops.softmax.softmax_parts), and where
    # log Z was taken as log1p(r) (N×1) and a cancelling ∂L/∂s entry in its other form.
    one_minus_p: np.ndarray
    log1p_rows: np.ndarray
    stable: np.ndarray
    exact: bool
    # N×C×C: each sample's Jacobian ∂y/∂s, when built or written out (else None).
    jacobians: np.ndarray | None


def block_diagonal(blocks: np.ndarray) -> np.ndarray:
    """N×C×C -> (N·C)×(N·C) with the blocks on the diagonal (rows: outputs, columns: inputs)."""
    count, size, _ = blocks.shape
    full = np.zeros((count, size, count, size))
    for n in range(count):
        full[n, :, n, :] = blocks[n]
    return full.reshape(count * size, count * size)


def run(problem: SoftmaxProblem, options: common.SolveOptions) -> Run:
    """The forward and backward pass (float64: exp), and the Jacobian when asked for and
    small enough (its per-sample blocks also when the explanation writes them out); a
    LimitError when the spec expects a Jacobian above the limit."""
    classes = problem.input.shape[-1]
    _, trace = adapter.forward(
        SOFTMAX,
        problem.input.reshape(-1, classes),
        {"log": problem.log},
        exact=not options.force_float,  # the adapter runs softmax in float64 (exp) either way
        float64=adapter.each_rounded,
    )
    grad = adapter.backward(problem.upstream.reshape(-1, classes), trace)["input"]
    upstream = adapter.as_run(problem.upstream.reshape(-1, classes), trace)
    _, stable = backward_forms(upstream, trace.cache)
    p, log_p, one_minus_p = (trace.cache[key] for key in ("p", "log_p", "one_minus_p"))
    results: dict[str, Any] = {
        "output": (log_p if problem.log else p).reshape(problem.input.shape),
        "grad_input": grad.reshape(problem.input.shape),
    }
    wanted = options.wants_jacobians() or "jacobian" in problem.expected
    built = wanted and problem.input.size**2 <= options.limits.max_jacobian
    shown = options.wants("jacobian") and classes <= SMALL_CLASSES
    blocks = softmax_jacobians(p, one_minus_p, problem.log) if built or shown else None
    if built:
        results["jacobian"] = block_diagonal(blocks)
    elif "jacobian" in problem.expected:
        raise LimitError(
            ("expected", "jacobian"),
            f"the jacobian has {problem.input.size**2:,} entries, above the limit of "
            f"{options.limits.max_jacobian:,} (raise it with --max-jacobian)",
        )
    recorded = SoftmaxTrace(
        scores=trace.cache["input"],
        upstream=upstream,
        p=p,
        log_p=log_p,
        grad_input=grad,
        one_minus_p=one_minus_p,
        log1p_rows=trace.cache["log1p_rows"],
        stable=stable,
        exact=trace.exact,
        jacobians=blocks,
    )
    return Run(results=results, trace=recorded, exact=trace.exact)


def finite_differences(problem: SoftmaxProblem, run: Run) -> GradientCheck | None:
    """∂L/∂s against float64 central differences of Σ upstream ⊙ y, moving one row at a time."""
    trace: SoftmaxTrace = run.trace
    scores, upstream = trace.scores, trace.upstream
    classes = problem.input.shape[-1]
    baseline = trace.log_p if problem.log else trace.p

    def loss(params: Mapping[str, np.ndarray]) -> float:
        # Only the probed row moves; the others would add nothing but rounding.
        values = params["input"].reshape(-1, classes)
        moved = np.any(values != scores, axis=1)
        probs, log_probs = softmax_forward(values[moved])
        change = (log_probs if problem.log else probs) - baseline[moved]
        return float(np.sum(upstream[moved] * change))

    with np.errstate(over="ignore", invalid="ignore"):
        # log_softmax = x − logsumexp(x) can be small when x is huge: count |x| too.
        sizes = np.abs(baseline) + np.abs(scores).max(axis=1, keepdims=True)
        rows = (np.abs(upstream) * sizes).sum(axis=1, keepdims=True)
        terms = np.broadcast_to(rows, scores.shape).reshape(problem.input.shape)
    return check_gradients_where(
        loss,
        {"input": problem.input.astype(float)},
        {"input": run.results["grad_input"]},
        {},
        # The loss sums the probed row's change alone: it rounds like that row's terms.
        scale={"input": terms},
        bend={"input": softmax_bend(scores).reshape(problem.input.shape)},
        bend_text="1",
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    from gradcalc.core.kinds.mistakes import forgot_upstream, negated, upstream_transposed

    return (
        forgot_upstream(spec, ("grad_input",))
        + upstream_transposed(spec, ("grad_input",))
        + [negated(("grad_input",))]
    )
