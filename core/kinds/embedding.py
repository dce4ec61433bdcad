"""An embedding spec: how it is read (``read(spec, limits) -> EmbeddingProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py, its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``).

An embedding problem is PyTorch's nn.Embedding: integer ``indices`` of any shape S, a
``weight`` table V×D, y = W[indices] (S×D), and ∂L/∂W (V×D), whose row v is the sum of the
upstream rows at every position whose index is v (repeated indices accumulate), zero for
the ``padding_idx`` row (a negative padding_idx counts from the end, V + padding_idx, as
nn.Embedding).  The indices get no gradient.  What the keys are is the Field table of kind
embedding in core/kinds/catalog.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.fields import read_array, read_int
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.kinds.profile import Draw, Knob, Profile, Variant
from gradcalc.core.kinds.symbolic_fields import answer_names, naming, read_tensor
from gradcalc.core.ops import adapter
from gradcalc.core.ops.embedding import EMBEDDING, embedding_forward
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import MAX_INDEX
from gradcalc.core.words import count_words, plain

KIND = "embedding"
KEYS = registry.field_names(KIND)
# "input" names the indices (the input every kind has; an embedding's are integers).
NAME_DEFAULTS = {"input": "idx", "weight": "W", "output": "y", "loss": "L"}
RESULTS = ("output", "grad_weight")
SECTIONS = registry.sections(KIND)


@record
class EmbeddingProblem:
    """A validated embedding spec: ``indices`` int64 (any shape S), ``weight`` object V×D,
    ``upstream`` object S×D; ``padding_idx`` in [0, V) (a negative one already counted from
    the end) or None, and ``padding_given`` as the spec wrote it."""

    title: str | None
    indices: np.ndarray  # S, int64
    weight: np.ndarray  # V×D
    padding_idx: int | None
    padding_given: int | None
    upstream: np.ndarray  # S×D
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def vocabulary(self) -> int:
        return self.weight.shape[0]

    @property
    def width(self) -> int:
        return self.weight.shape[1]

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (*self.indices.shape, self.width)


def read_indices(raw: Any, vocabulary: int, limits: common.Limits) -> np.ndarray:
    """Integer indices in [0, V), any shape; a bad one is refused where it is written."""
    values = read_array(raw, ("indices",), ndims=tuple(range(0, 7)), what="indices", limits=limits)
    flat = values.ravel().tolist()
    for position, value in enumerate(flat):
        index = tuple(int(i) for i in np.unravel_index(position, values.shape))
        if getattr(value, "denominator", 1) != 1:
            raise SpecError(
                ("indices", *index),
                f"indices are integers (rows of the weight table), got {plain(value)}",
            )
        if not 0 <= value < vocabulary:
            raise SpecError(
                ("indices", *index),
                f"index {plain(value)} is out of range: the weight has V = {count_words(vocabulary, 'row')}, "
                f"so an index is in [0, {vocabulary}) (0 to {vocabulary - 1})",
            )
    return np.asarray([int(v) for v in flat], dtype=np.int64).reshape(values.shape)


def read_padding(spec: Mapping[str, Any], vocabulary: int) -> tuple[int | None, int | None]:
    """(padding_idx in [0, V), as written): nn.Embedding takes −V..V − 1, a negative one
    counting from the end."""
    given = read_int(spec, "padding_idx", None, minimum=-MAX_INDEX, maximum=MAX_INDEX)
    if given is None:
        return None, None
    if not -vocabulary <= given < vocabulary:
        raise SpecError(
            ("padding_idx",),
            f"padding_idx must be in [−{vocabulary}, {vocabulary - 1}] (a row of the V = "
            f"{vocabulary} row weight; a negative one counts from the end), got {given}",
        )
    return given % vocabulary, given


def read(spec: Mapping[str, Any], limits: common.Limits) -> EmbeddingProblem:
    """Validate an embedding spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    raw_weight = common.require(spec, "weight", KIND, "the V×D table, one row per index")
    raw_indices = common.require(spec, "indices", KIND, "integer rows of the table, any shape")
    names = common.read_names(spec, NAME_DEFAULTS)
    weight = read_tensor(
        raw_weight,
        ("weight",),
        ndims=(2,),
        what="weight",
        limits=limits,
        **naming(spec, names, "weight"),
    )
    indices = read_indices(raw_indices, weight.shape[0], limits)
    padding_idx, padding_given = read_padding(spec, weight.shape[0])
    work = indices.size * weight.shape[1]
    if work > limits.max_work:
        raise LimitError(
            ("indices",),
            f"this lookup copies {work:,} numbers, above the limit of {limits.max_work:,} "
            "(raise it with --max-work)",
        )
    output_shape = (*indices.shape, weight.shape[1])
    upstream, upstream_given = common.read_upstream(
        spec, output_shape, names["output"], limits, naming=naming(spec, names, "output")
    )
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "grad_weight": weight.shape,
    }
    return EmbeddingProblem(
        indices=indices,
        weight=weight,
        padding_idx=padding_idx,
        padding_given=padding_given,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        **common.read_shared(spec, known, limits, symbols=answer_names(spec, weight, upstream)),
    )


# ---------------------------------------------------------------------------
# Running


@record
class EmbeddingTrace:
    """What the run recorded (object exact values when ``exact``, else float64): the
    output S×D, ∂L/∂W V×D, and W and ∂L/∂y as the op ran."""

    output: np.ndarray
    grad_weight: np.ndarray
    weight: np.ndarray
    upstream: np.ndarray
    exact: bool


def run(problem: EmbeddingProblem, options: common.SolveOptions) -> Run:
    """y = W[indices] and ∂L/∂W by scatter-add, exactly unless --float or too large."""
    exact = (
        not options.force_float
        and problem.indices.size * problem.width <= options.limits.exact_work
    )
    params = {"weight": problem.weight, "padding_idx": problem.padding_idx}
    output, trace = adapter.forward(
        EMBEDDING, problem.indices, params, exact=exact, float64=adapter.each_rounded
    )
    grad_weight = adapter.backward(problem.upstream, trace)["weight"]
    dtype = object if trace.exact else float
    output = np.asarray(output, dtype=dtype).reshape(problem.output_shape)
    grad_weight = np.asarray(grad_weight, dtype=dtype)
    recorded = EmbeddingTrace(
        output=output,
        grad_weight=grad_weight,
        weight=adapter.as_run(problem.weight, trace),
        upstream=adapter.as_run(problem.upstream, trace),
        exact=trace.exact,
    )
    results = {"output": output, "grad_weight": grad_weight}
    return Run(results=results, trace=recorded, exact=trace.exact)


def float_loss(problem: EmbeddingProblem, params: Mapping[str, np.ndarray]) -> float:
    """L = Σ upstream ⊙ W[indices] in float64 (the padding row's lookups held constant, as
    nn.Embedding treats that row), for finite differences."""
    weight = params["weight"]
    if problem.padding_idx is not None:
        weight = weight.copy()
        weight[problem.padding_idx] = problem.weight[problem.padding_idx].astype(float)
    output = embedding_forward(problem.indices, weight)
    return float(np.sum(problem.upstream.astype(float) * output))


def finite_differences(problem: EmbeddingProblem, run: Run) -> GradientCheck | None:
    """∂L/∂W against float64 central differences of Σ upstream ⊙ y."""
    weight = problem.weight.astype(float)
    looked_up = embedding_forward(problem.indices, np.abs(weight))
    size = float(np.sum(np.abs(problem.upstream.astype(float)) * looked_up))
    return check_gradients_where(
        lambda params: float_loss(problem, params),
        {"weight": weight},
        {"weight": run.results["grad_weight"]},
        {},
        scale=max(size, 1.0),
    )


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """Gradients overwritten on repeated indices (the last write wins), the padding_idx row
    not zeroed, the upstream forgotten."""
    mistakes = []
    overwritten = _overwritten(spec)
    if overwritten is not None:
        mistakes.append(
            Mistake(
                "overwritten, not accumulated",
                "{name} matches the result with each row's gradient overwritten instead of "
                "accumulated: where an index repeats, only its last position's upstream was "
                "kept (grad[idx] = u, the last write wins); nn.Embedding adds them up",
                transform=lambda _array, _name: overwritten,
                results=("grad_weight",),
            )
        )
    if spec.get("padding_idx") is not None:
        mistakes.append(
            Mistake(
                "padding_idx row not zeroed",
                "{name} matches the result without padding_idx: the padding row's gradient "
                "must stay 0 (nn.Embedding never updates it)",
                (("padding_idx", None),),
                results=("grad_weight",),
                reveals=("grad_weight",),  # the key is the answer with that row zeroed
            )
        )
    return mistakes + forgot_upstream(spec, ("grad_weight",))


def _overwritten(spec: Mapping[str, Any]) -> np.ndarray | None:
    """∂L/∂W as ``grad[idx] = upstream`` computes it (last write wins), or None when no
    index repeats (then it is the right answer) or the spec cannot be read."""
    try:
        problem = read(spec, common.Limits())
    except SpecError:
        return None
    flat = problem.indices.reshape(-1)
    if len(set(flat.tolist())) == flat.size:
        return None
    grad = np.empty(problem.weight.shape, dtype=object)
    grad.fill(0)
    rows = problem.upstream.reshape(-1, problem.width)
    grad[flat] = rows  # NumPy's fancy assignment: the last position of a repeat wins
    if problem.padding_idx is not None:
        grad[problem.padding_idx] = 0
    return grad


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random)

VOCABULARY = Knob(
    "vocabulary", "int", "table rows V", default=4, minimum=2, maximum=8, label="V = {}"
)
WIDTH = Knob("width", "int", "embedding width D", default=2, maximum=6, label="D = {}")
LOOKUPS = Knob(
    "lookups", "shape", "indices shape: N or AxB", default=(4,), maximum=6, label="{} indices"
)


def _with_a_repeat(fields: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """Draw again unless some index repeats (the point of the exercise)."""
    flat = np.asarray(fields["indices"]).ravel().tolist()
    return fields if len(set(flat)) < len(flat) else None


PRACTICE = Profile(
    {
        "": Variant(
            (VOCABULARY, WIDTH, LOOKUPS),
            {"indices": ("lookups",), "weight": ("vocabulary", "width")},
            {"indices": Draw(0, "vocabulary")},
            adjust=_with_a_repeat,
        )
    }
)
