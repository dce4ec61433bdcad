"""An attention spec: how it is read (``read(spec, limits) -> AttentionProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``, for ``gradcalc random``).

An attention problem is PyTorch's F.scaled_dot_product_attention: query Q (B×L×E), key K
(B×S×E) and value V (B×S×Ev), B none, one or two leading axes shared by all three; an
optional ``mask`` broadcast to B×L×S (booleans: true = may attend; numbers: added to the
scores) or ``causal: true`` (query i attends keys j ≤ i, top-left aligned when L ≠ S, as
PyTorch's is_causal); ``scale`` (default 1/√E).  Y = softmax(Q·Kᵀ·scale + mask)·V
(B×L×Ev).  The op (core/ops/attention.py) is declared irrational (exp): the adapter runs
it in float64.  What the keys are is the Field table of kind attention in
core/kinds/catalog_attention.py.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.attention_mask import read_causal, read_mask, refuse_empty_rows
from gradcalc.core.kinds.fields import read_array
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant
from gradcalc.core.ops import adapter
from gradcalc.core.ops.attention import ATTENTION, attention_output
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import parse_number
from gradcalc.core.words import count_words

KIND = "attention"
KEYS = registry.field_names(KIND)
# A net's attention layer is self-attention: the net hands it its input as ``input`` (the
# query, the key and the value at once), a key the Field table leaves out because a spec of
# kind attention writes query, key and value (a net layer may not: net.SUPPLIED).
NET_KEYS = (*KEYS, "input")
NAME_DEFAULTS = {
    "input": "X",
    "query": "Q",
    "key": "K",
    "value": "V",
    "scores": "A",
    "weights": "P",
    "output": "Y",
    "loss": "L",
}
RESULTS = ("output", "scores", "weights", "grad_query", "grad_key", "grad_value", "grad_input")
GRADIENTS = ("grad_query", "grad_key", "grad_value")
SECTIONS = registry.sections(KIND)


@record
class AttentionProblem:
    """A validated attention spec: ``query`` B×L×E, ``key`` B×S×E, ``value`` B×S×Ev and
    ``upstream`` B×L×Ev (object arrays of exact numbers); ``bias`` an additive mask (object,
    broadcastable to B×L×S) or None; ``allowed`` a boolean B×L×S array (None: every entry);
    ``mask_kind`` "boolean", "additive", "causal" or "none"; ``scale`` exact (a Fraction)
    or a float (1/√E for an E that is not a square)."""

    title: str | None
    query: np.ndarray
    key: np.ndarray
    value: np.ndarray
    bias: np.ndarray | None
    allowed: np.ndarray | None
    mask_kind: str
    scale: Fraction | float
    scale_given: bool
    self_attention: bool  # input given: Q = K = V = X, and ∂L/∂X = ∂L/∂Q + ∂L/∂K + ∂L/∂V
    upstream: np.ndarray
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def batch(self) -> tuple[int, ...]:
        return self.query.shape[:-2]

    @property
    def sizes(self) -> tuple[int, int, int, int]:
        """(L, S, E, Ev)."""
        return (
            self.query.shape[-2],
            self.key.shape[-2],
            self.query.shape[-1],
            self.value.shape[-1],
        )

    @property
    def score_shape(self) -> tuple[int, ...]:
        length, keys, _, _ = self.sizes
        return (*self.batch, length, keys)

    @property
    def output_shape(self) -> tuple[int, ...]:
        length, _, _, width = self.sizes
        return (*self.batch, length, width)


def default_scale(width: int) -> Fraction | float:
    """1/√E: exact when E is a perfect square, else float64."""
    root = math.isqrt(width)
    return Fraction(1, root) if root * root == width else 1 / math.sqrt(width)


def read_scale(spec: Mapping[str, Any], width: int) -> tuple[Fraction | float, bool]:
    """(scale, given): any number, or 1/√E when the spec leaves it out."""
    if spec.get("scale") is None:
        return default_scale(width), False
    return parse_number(spec["scale"], ("scale",), what="scale (a number)"), True


def read_tensors(spec: Mapping[str, Any], limits: common.Limits) -> tuple[np.ndarray, ...]:
    """Q, K and V, their shapes checked against each other where the second one is written;
    the input three times for self-attention."""
    if spec.get("input") is not None:
        for key in ("query", "key", "value"):
            if spec.get(key) is not None:
                raise SpecError(
                    (key,),
                    f"{key} with input: input is self-attention (query = key = value = input); "
                    "give input alone, or query, key and value",
                    at_key=True,
                )
        x = read_array(spec["input"], ("input",), ndims=(2, 3, 4), what="input", limits=limits)
        return x, x, x
    arrays = []
    for key, meaning in (
        ("query", "Q: L×E, or with leading batch/head axes"),
        ("key", "K: S×E, with the query's leading axes"),
        ("value", "V: S×Ev, one row per key"),
    ):
        raw = common.require(spec, key, KIND, f"{meaning} (or input alone: self-attention)")
        arrays.append(read_array(raw, (key,), ndims=(2, 3, 4), what=key, limits=limits))
    query, key, value = arrays
    for name, array in (("key", key), ("value", value)):
        if array.shape[:-2] != query.shape[:-2]:
            raise SpecError(
                (name,),
                f"{name} is {_shape(array.shape)} but query is {_shape(query.shape)}: their "
                f"leading (batch, head) axes must be the same ({_shape(query.shape[:-2]) or 'none'})",
            )
    if key.shape[-1] != query.shape[-1]:
        raise SpecError(
            ("key",),
            f"key rows have {count_words(key.shape[-1], 'entry', 'entries')} but query rows have E = "
            f"{query.shape[-1]}: Q·Kᵀ needs both E wide",
        )
    if value.shape[-2] != key.shape[-2]:
        raise SpecError(
            ("value",),
            f"value has {count_words(value.shape[-2], 'row')} but key has S = {key.shape[-2]}: "
            "one value row per key",
        )
    return query, key, value


def _shape(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def read(spec: Mapping[str, Any], limits: common.Limits) -> AttentionProblem:
    """Validate an attention spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, NET_KEYS)
    query, key, value = read_tensors(spec, limits)
    length, keys = query.shape[-2], key.shape[-2]
    score_shape = (*query.shape[:-2], length, keys)
    work = int(np.prod(score_shape)) * (query.shape[-1] + value.shape[-1])
    if work > limits.max_work:
        raise LimitError(
            ("query",),
            f"this attention takes {work:,} multiply-adds, above the limit of "
            f"{limits.max_work:,} (raise it with --max-work)",
        )
    causal = read_causal(spec)
    bias, allowed, mask_kind = read_mask(spec, score_shape, causal, limits)
    refuse_empty_rows(allowed, spec)
    scale, scale_given = read_scale(spec, query.shape[-1])
    names = common.read_names(spec, NAME_DEFAULTS)
    output_shape = (*query.shape[:-2], length, value.shape[-1])
    upstream, upstream_given = common.read_upstream(spec, output_shape, names["output"], limits)
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "scores": score_shape,
        "weights": score_shape,
        "grad_query": query.shape,
        "grad_key": key.shape,
        "grad_value": value.shape,
    }
    if spec.get("input") is not None:
        known["grad_input"] = query.shape
    return AttentionProblem(
        query=query,
        key=key,
        value=value,
        bias=bias,
        allowed=allowed,
        mask_kind=mask_kind,
        scale=scale,
        scale_given=scale_given,
        self_attention=spec.get("input") is not None,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        **common.read_shared(spec, known, limits),
    )


# ---------------------------------------------------------------------------
# Running


@record
class AttentionTrace:
    """What the run recorded, float64 as the op ran: Q, K, V and ∂L/∂Y as given, the scores
    A, weights P and output Y, ∂L/∂P and ∂L/∂A (B×L×S), the three gradients, the boolean
    B×L×S ``allowed`` (every entry True without a boolean or causal mask) and the scale."""

    query: np.ndarray
    key: np.ndarray
    value: np.ndarray
    upstream: np.ndarray
    scores: np.ndarray
    weights: np.ndarray
    output: np.ndarray
    grad_weights: np.ndarray
    grad_scores: np.ndarray
    grad_query: np.ndarray
    grad_key: np.ndarray
    grad_value: np.ndarray
    grad_input: np.ndarray | None  # self-attention: the three gradients' sum
    allowed: np.ndarray
    scale: float


def params_of(problem: AttentionProblem, diagonal_only: bool = False) -> dict[str, Any]:
    """The op's parameters for this problem (exact; the adapter converts them)."""
    return {
        "key": problem.key,
        "value": problem.value,
        "scale": float(problem.scale),
        "bias": problem.bias,
        "allowed": problem.allowed,
        "diagonal_only": diagonal_only,
    }


def run(problem: AttentionProblem, options: common.SolveOptions) -> Run:
    """The forward and backward pass (float64: exp)."""
    output, trace = adapter.forward(
        ATTENTION,
        problem.query,
        params_of(problem),
        exact=not options.force_float,  # the adapter runs attention in float64 (exp) either way
        float64=adapter.each_rounded,
    )
    grads = adapter.backward(problem.upstream, trace)
    cache = trace.cache
    allowed = problem.allowed
    recorded = AttentionTrace(
        query=cache["input"],
        key=cache["key"],
        value=cache["value"],
        upstream=adapter.as_run(problem.upstream, trace),
        scores=cache["scores"],
        weights=cache["weights"],
        output=output,
        grad_weights=grads["weights"],
        grad_scores=grads["scores"],
        grad_query=grads["input"],
        grad_key=grads["key"],
        grad_value=grads["value"],
        grad_input=grads["input"] + grads["key"] + grads["value"]
        if problem.self_attention
        else None,
        allowed=np.broadcast_to(True if allowed is None else allowed, problem.score_shape),
        scale=cache["scale"],
    )
    results = {
        "output": output,
        "scores": cache["scores"],
        "weights": cache["weights"],
        "grad_query": grads["input"],
        "grad_key": grads["key"],
        "grad_value": grads["value"],
    }
    if problem.self_attention:
        results["grad_input"] = recorded.grad_input
    return Run(results=results, trace=recorded, exact=False)


def finite_differences(problem: AttentionProblem, run: Run) -> GradientCheck | None:
    """∂L/∂Q, ∂L/∂K and ∂L/∂V against float64 central differences of Σ ∂L/∂Y ⊙ Y.

    A step in q_ie moves row i's scores by scale·k_je·h: the softmax bends over a distance
    of 1 in the scores, so over 1/(|scale|·max_j |k_je|) in q_ie (and alike for K)."""
    trace: AttentionTrace = run.trace
    upstream = trace.upstream
    bias = None if problem.bias is None else problem.bias.astype(float)

    def loss(params: Mapping[str, np.ndarray]) -> float:
        # Self-attention: a step in the input moves the query, the key and the value alike.
        shift = params["input"] - trace.query if "input" in params else 0.0
        query, key, value = (params[name] + shift for name in ("query", "key", "value"))
        output = attention_output(query, key, value, trace.scale, bias, problem.allowed)
        return float(np.sum(upstream * output))

    size = float(np.sum(np.abs(upstream) * np.matmul(trace.weights, np.abs(trace.value))))
    scale = abs(trace.scale)
    with np.errstate(divide="ignore"):
        bend_query = 1 / (scale * np.abs(trace.key).max(axis=-2, keepdims=True))
        bend_key = 1 / (scale * np.abs(trace.query).max(axis=-2, keepdims=True))
    params = {"query": trace.query, "key": trace.key, "value": trace.value}
    bend = {
        "query": np.broadcast_to(bend_query, trace.query.shape),
        "key": np.broadcast_to(bend_key, trace.key.shape),
    }
    if problem.self_attention:
        params["input"] = trace.query
        bend["input"] = np.minimum(bend["query"], bend["key"])
    return check_gradients_where(
        loss,
        params,
        {name: run.results[f"grad_{name}"] for name in params},
        {},
        scale=max(size, 1.0),
        bend=bend,
        bend_text="1/(|scale|·max|k|) for Q, 1/(|scale|·max|q|) for K",
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The scale forgotten, each softmax row's Jacobian replaced by its diagonal p(1 − p),
    the upstream forgotten."""
    try:
        problem = read(spec, common.Limits())
    except SpecError:
        return forgot_upstream(spec, GRADIENTS)
    gradients = (*GRADIENTS, "grad_input") if problem.self_attention else GRADIENTS
    mistakes = []
    if problem.scale != 1:
        mistakes.append(
            Mistake(
                "scale forgotten",
                "{name} matches the result without the scale: the scores were Q·Kᵀ, not "
                f"Q·Kᵀ·scale (scale = {_scale_text(problem)})",
                (("scale", 1),),
                slip="the scale was forgotten",
            )
        )
    wrong = _diagonal_jacobian(problem)
    mistakes.append(
        Mistake(
            "softmax Jacobian as p(1 − p)",
            "{name} matches the result with each softmax row's Jacobian replaced by its "
            "diagonal p_ij·(1 − p_ij): the cross terms −p_ij·p_ik of diag(p) − p·pᵀ were "
            "dropped (every score of a row moves every weight of the row)",
            transform=lambda _array, name: wrong.get(name),
            results=("grad_query", "grad_key", "grad_input"),
            slip="the softmax Jacobian was taken entry by entry, p(1 − p)",
        )
    )
    return mistakes + forgot_upstream(spec, gradients)


def _scale_text(problem: AttentionProblem) -> str:
    if problem.scale_given:
        return str(problem.scale)
    return f"1/√{problem.sizes[2]} = {float(problem.scale):.6g}"


def _diagonal_jacobian(problem: AttentionProblem) -> dict[str, np.ndarray]:
    """∂L/∂Q and ∂L/∂K with each row's Jacobian diag(p) − p·pᵀ replaced by diag(p(1 − p))."""
    _, trace = adapter.forward(
        ATTENTION, problem.query, params_of(problem, diagonal_only=True), exact=False
    )
    grads = adapter.backward(problem.upstream, trace)
    wrong = {"grad_query": grads["input"], "grad_key": grads["key"]}
    if problem.self_attention:  # ∂L/∂V does not go through the softmax: it stays right
        wrong["grad_input"] = grads["input"] + grads["key"] + grads["value"]
    return wrong


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

QUERIES = Knob("queries", "int", "queries L", default=2, maximum=4, label="L = {}")
KEYS_COUNT = Knob("keys", "int", "keys S", default=2, maximum=4, label="S = {}")
WIDTH = Knob("width", "int", "query/key width E", default=2, maximum=4, label="E = {}")
VALUE_WIDTH = Knob("value_width", "int", "value width Ev", default=2, maximum=4, label="Ev = {}")
MASKING = Knob(
    "masking",
    "choice",
    "causal (PyTorch's is_causal) or none (default: by the seed)",
    choices=("causal", "none"),
    menu=("causal", "none"),
    label="{}",
)
SIZES = (QUERIES, KEYS_COUNT, WIDTH, VALUE_WIDTH)
TENSORS = {
    "query": ("queries", "width"),
    "key": ("keys", "width"),
    "value": ("keys", "value_width"),
}
DRAWS = {name: Draw(-2, 2) for name in TENSORS}

# exp makes every answer irrational but where a row's scores are equal: decimals.
PRACTICE = Profile(
    {
        "causal": Variant(SIZES, TENSORS, DRAWS, fixed={"causal": True}, decimals=True),
        "none": Variant(SIZES, TENSORS, DRAWS, decimals=True),
    },
    by=MASKING,
)
