"""Running a net (core/kinds/net.py): each layer through its own kind, the loss last, and
the whole chain's finite differences.

Each layer is read and run by its own kind's module (``read`` and ``run`` on a single-layer
spec built from the layer's keys; not the solve pipeline, and not explained here: the trace
keeps each layer's problem and Run, which core/explain/net.py explains): its input is the
previous layer's output, its upstream the next layer's ∂L/∂input.  A layer's output does not
depend on its upstream, so the run is two passes: the forward pass runs each layer in order
with an all-ones upstream, only for its output; the backward pass runs each layer again in
reverse with its true upstream, and that run (its gradients) is the one kept.

Exactness flows along the chain: layers run exactly while every layer so far is rational;
from the first one that runs in float64 (softmax, sigmoid, a large layer) every later layer
runs in float64 (``force_float``), and so does the backward pass of every layer whose
upstream is float64 (all those before it).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import shape_text
from gradcalc.core.kinds.net import NORM_LAYERS, PARAMETERS, Layer, NetProblem
from gradcalc.core.ops import adapter
from gradcalc.core.ops.flatten import FLATTEN
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import fields, record

# The results of a layer's own kind that are the net's: its output and its gradients
# (not its Jacobians, argmax or probabilities).
_KEPT = ("output", "grad_input", "grad_kernel", "grad_weight", "grad_bias")


@record
class LayerRun:
    """One layer (or the loss) run by its own kind: ``problem`` as its kind read it (None
    for flatten, which is no kind), its ``run`` (results and trace), and the ``options`` it
    ran with, which its explanation (core/explain/net.py) is built with too."""

    kind: str
    problem: Any
    run: Run
    options: Any

    @property
    def results(self) -> dict[str, Any]:
        return self.run.results

    @property
    def exact(self) -> bool:
        return self.run.exact


@record
class NetTrace:
    """What the run recorded: per layer, the forward run (its output) and the backward run
    (its gradients, and the problem statement it explains); the loss's run; where float64
    began."""

    forward: list[LayerRun]
    backward: list[LayerRun]
    loss: LayerRun | None
    float_from: str | None  # the first layer (or "loss") that ran in float64


def replace(instance: Any, **changes: Any) -> Any:
    """A copy of a record with ``changes`` (dataclasses.replace for @record classes)."""
    values = {name: getattr(instance, name) for name in fields(instance)}
    return type(instance)(**{**values, **changes})


# ---------------------------------------------------------------------------
# One layer


def layer_spec(problem: NetProblem, layer: Layer, values: np.ndarray, upstream: Any) -> dict:
    """The single-layer spec of ``layer`` given its input and upstream."""
    names = {"input": problem.source(layer.index), "output": layer.name}
    names["loss"] = problem.names["loss"]
    names.update(parameter_symbols(problem, layer))
    return {
        "kind": layer.type,
        **layer.keys,
        # An embedding (the first layer) reads the net's input as its indices.
        "indices" if layer.type == "embedding" else "input": _plain(values),
        "upstream": "ones" if upstream is None else _plain(upstream),
        "names": names,
        "index_base": problem.index_base,
    }


# The symbols of a layer's parameters when the net has several layers with parameters: W2,
# b2 for the second, so that no two tables share a symbol (the kinds' own: w, W, b).
_SYMBOLS = {"kernel": "w", "weight": "W", "bias": "b"}
_NORM_SYMBOLS = {"weight": "γ", "bias": "β"}  # a normalization layer's γ, β


def parameter_symbols(problem: NetProblem, layer: Layer) -> dict[str, str]:
    """``{"weight": "W2", "bias": "b2"}`` for the second layer with parameters; {} when only
    one layer has parameters (it keeps its kind's symbols)."""
    if layer.type == "dropout":
        return _mask_symbol(problem, layer)
    with_parameters = [other.name for other in problem.layers if other.type in PARAMETERS]
    if len(with_parameters) < 2 or layer.name not in with_parameters:
        return {}
    count = with_parameters.index(layer.name) + 1
    symbols = _NORM_SYMBOLS if layer.type in NORM_LAYERS else _SYMBOLS
    return {role: f"{symbols[role]}{count}" for role in PARAMETERS[layer.type]}


def _mask_symbol(problem: NetProblem, layer: Layer) -> dict[str, str]:
    """``{"mask": "m2"}`` for the second of several dropout layers; {} for a lone one (m)."""
    dropouts = [other.name for other in problem.layers if other.type == "dropout"]
    if len(dropouts) < 2:
        return {}
    return {"mask": f"m{dropouts.index(layer.name) + 1}"}


def _plain(values: Any) -> Any:
    """Nested lists of Fractions or floats, as a spec holds them."""
    return np.asarray(values).tolist()


def run_kind(kind: str, spec: dict, options: Any) -> LayerRun:
    """Read and run a single-layer spec with its kind's own module (no checks, no finite
    differences, no explanation: those are the net's)."""
    kind_module = registry.op_module(kind)
    kind_problem = kind_module.read(spec, options.limits)
    return LayerRun(kind, kind_problem, kind_module.run(kind_problem, options), options)


def run_layer(
    problem: NetProblem, layer: Layer, values: np.ndarray, upstream: Any, options: Any
) -> LayerRun:
    """Run one layer by its own kind; its SpecErrors point into the net spec."""
    if layer.type == "flatten":
        return _flatten(problem, layer, values, upstream, options)
    spec = layer_spec(problem, layer, values, upstream)
    try:
        return run_kind(layer.type, spec, options)
    except SpecError as error:
        raise layer_error(problem, layer, values, error) from None


def _flatten(
    problem: NetProblem, layer: Layer, values: np.ndarray, upstream: Any, options: Any
) -> LayerRun:
    """Flatten (start_dim=1) forward and backward: N×… → N×(prod), by core/ops/flatten.py."""
    if values.ndim < 2:
        raise SpecError(
            ("layers", layer.index),
            f"{layer.name} keeps the batch axis N and flattens the rest, so it needs "
            f"at least 2 axes, but {problem.source(layer.index)} gives {_shape(values.shape)}",
        )
    exact = not options.force_float and values.dtype == object
    output, trace = adapter.forward(FLATTEN, values, {}, exact=exact)
    grad_y = np.ones(output.shape, dtype=object) if upstream is None else upstream
    grad_y = grad_y if exact else adapter.as_float(grad_y)
    results = {"output": output, "grad_input": adapter.backward(grad_y, trace)["input"]}
    return LayerRun("flatten", None, Run(results=results, trace=trace, exact=exact), options)


def _shape(shape: tuple[int, ...]) -> str:
    return f"shape {shape_text(shape)}" if shape else "a single number"


def layer_error(
    problem: NetProblem, layer: Layer, values: np.ndarray, error: SpecError
) -> SpecError:
    """The layer's own error with its path inside the net spec; an error about the layer's
    input is a shape mismatch between two layers, and says so."""
    source = problem.source(layer.index)
    here = ("layers", layer.index)
    dense_mismatch = layer.type == "dense" and error.path[:1] == ("weight",)
    if dense_mismatch and "each input sample has" in error.message:
        weight = np.shape(layer.keys["weight"])
        return SpecError(
            (*here, "weight"),
            f"{layer.name}'s weight is {shape_text(weight)}, so it takes {weight[1]} features, "
            f"but {source} gives {values.shape[-1]} (its output is {_shape(values.shape)})",
        )
    if error.path[:1] == ("indices",):  # an embedding's indices are the net's input
        return SpecError(("input", *error.path[1:]), f"{layer.name} (embedding): {error.message}")
    if error.path[:1] in (("input",), ("upstream",)):
        return SpecError(
            here,
            f"{layer.name} ({layer.type}) does not fit its input: {source} gives {_shape(values.shape)}, "
            f"and the {layer.type} layer says: {error.message}",
        )
    message = error.message
    if "input" in message:  # the layer's input is no key of the spec: say what it is
        feeds = "the net's input" if not layer.index else f"{source}'s output"
        message += f" ({layer.name}'s input is {feeds}, {_shape(values.shape)})"
    if layer.shorthand:
        return SpecError(here, f"{layer.name}: {message}")
    return SpecError((*here, *error.path), message, at_key=error.at_key)


def run_loss(problem: NetProblem, values: np.ndarray, options: Any) -> LayerRun:
    """Run the loss on the last layer's output; its errors point into the net's loss."""
    last = problem.layers[-1].name
    spec = {
        "kind": "loss",
        **(problem.loss or {}),
        "input": _plain(values),
        "names": {"input": last, "loss": problem.names["loss"]},
        "index_base": problem.index_base,
    }
    try:
        return run_kind("loss", spec, options)
    except SpecError as error:
        if error.path[:1] == ("input",):
            raise SpecError(
                ("loss",),
                f"the loss does not fit the net's output: {last} gives {_shape(values.shape)}, "
                f"and the loss says: {error.message}",
            ) from None
        path = ("type", *error.path[1:]) if error.path[:1] == ("loss",) else error.path
        raise SpecError(("loss", *path), error.message, at_key=error.at_key) from None


# ---------------------------------------------------------------------------
# The two passes


def quiet(options: common.SolveOptions, *, force_float: bool) -> common.SolveOptions:
    """Options for a layer run whose explanation is not shown (the forward pass, the check)."""
    return replace(
        options,
        explain=False,
        gradient_check=False,
        sections=frozenset(),
        force_float=force_float,
    )


def forward_pass(
    problem: NetProblem, options: common.SolveOptions
) -> tuple[list[LayerRun], LayerRun | None, str | None]:
    """Each layer in order on the previous output (then the loss): the layer solutions, the
    loss solution, and the first layer (or "loss") that ran in float64."""
    values = problem.input
    exact = not options.force_float
    float_from = None
    solutions = []
    for layer in problem.layers:
        solution = run_layer(problem, layer, values, None, _forward_options(layer, options, exact))
        if exact and not solution.exact:
            exact, float_from = False, layer.name
        solutions.append(solution)
        values = solution.results["output"]
    loss = None
    if problem.loss is not None:
        loss_options = replace(
            options,
            gradient_check=False,
            force_float=not exact,
            sections=_sections("loss", options),
        )
        loss = run_loss(problem, values, loss_options)
        if exact and not loss.exact:
            float_from = "loss"
    return solutions, loss, float_from


def _forward_options(layer: Layer, options: common.SolveOptions, exact: bool) -> Any:
    """A layer's forward run: explained (its size and forward sections) when the net is."""
    if not options.explain or layer.type == "flatten":
        return quiet(options, force_float=not exact)
    shown = _sections(layer.type, options) & {"size", "forward"}
    return replace(options, gradient_check=False, force_float=not exact, sections=shown)


def _sections(kind: str, options: common.SolveOptions) -> frozenset[str]:
    """The sections of a layer's own kind that the net shows (conv's loss section states
    L = Σ upstream ⊙ output, which is not the net's loss: never)."""
    own = set(registry.sections(kind)) - {"loss" if kind == "conv" else ""}
    return frozenset(own if options.sections is None else own & options.sections)


def backward_pass(
    problem: NetProblem, options: common.SolveOptions, forward: list[LayerRun], loss: Any
) -> list[LayerRun]:
    """Each layer in reverse with its true upstream (the next layer's ∂L/∂input)."""
    if loss is not None:
        upstream: Any = loss.results["grad_input"]
    else:
        upstream = None if _ones(problem.upstream) else problem.upstream
    solutions: list[LayerRun] = [None] * len(problem.layers)  # type: ignore[list-item]
    for layer in reversed(problem.layers):
        ran = forward[layer.index]
        values = problem.input if not layer.index else forward[layer.index - 1].results["output"]
        floats = upstream is not None and np.asarray(upstream).dtype != object
        layer_options = replace(
            options,
            gradient_check=False,
            force_float=options.force_float or not ran.exact or floats,
            sections=_backward_sections(layer, options),
        )
        solved = run_layer(problem, layer, values, upstream, layer_options)
        solutions[layer.index] = solved
        upstream = solved.results.get("grad_input")  # an embedding has none
    return solutions


def _backward_sections(layer: Layer, options: common.SolveOptions) -> Any:
    """A layer's backward run explains its problem statement and its backward sections."""
    if layer.type == "flatten":
        return None
    return _sections(layer.type, options) - {"size", "forward"}


def _ones(upstream: Any) -> bool:
    return upstream is None or (isinstance(upstream, str) and upstream.strip() == "ones")


def output_shapes(problem: NetProblem, limits: common.Limits) -> dict[str, tuple[int, ...]]:
    """Each layer's output shape and each parameter's shape (``conv1.kernel``), and the
    loss's (a single number, or one per sample with reduction none), from one float64
    forward pass, which also reads (validates) every layer with its own kind."""
    options = quiet(common.SolveOptions(limits=limits), force_float=True)
    solutions, loss, _ = forward_pass(problem, options)
    shapes: dict[str, tuple[int, ...]] = {}
    for layer, solution in zip(problem.layers, solutions, strict=True):
        shapes[layer.name] = np.shape(solution.results["output"])
        for parameter in layer.parameters:
            shapes[f"{layer.name}.{parameter}"] = np.shape(solution.results[f"grad_{parameter}"])
    if loss is not None:
        shapes["loss"] = np.shape(loss.results["loss"])
    if problem.loss is None and not _ones(problem.upstream):
        _check_upstream(problem, shapes[problem.layers[-1].name], limits)
    return shapes


def _check_upstream(problem: NetProblem, shape: tuple[int, ...], limits: common.Limits) -> None:
    """The net's upstream, shaped like the last layer's output; kept as an exact array."""
    last = problem.layers[-1].name
    problem.upstream, _ = common.read_upstream({"upstream": problem.upstream}, shape, last, limits)


def run(problem: NetProblem, options: common.SolveOptions) -> Run:
    """The forward pass, the loss, the backward pass; results keyed as the issue's contract."""
    forward, loss, float_from = forward_pass(problem, options)
    backward = backward_pass(problem, options, forward, loss)
    results: dict[str, Any] = {"output": forward[-1].results["output"]}
    if loss is not None:
        results["loss"] = loss.results["loss"]
    if not problem.looks_up:
        results["grad_input"] = backward[0].results["grad_input"]
    for layer in problem.layers:
        after = backward[layer.index + 1] if layer.index + 1 < len(problem.layers) else None
        results[f"{layer.name}.output"] = forward[layer.index].results["output"]
        results[f"{layer.name}.grad_output"] = _grad_output(problem, after, loss)
        for parameter in layer.parameters:
            results[f"{layer.name}.grad_{parameter}"] = backward[layer.index].results[
                f"grad_{parameter}"
            ]
    exact = all(_all_exact(value) for value in results.values())
    trace = NetTrace(forward, backward, loss, float_from)
    return Run(results=results, trace=trace, exact=exact)


def _grad_output(problem: NetProblem, after: LayerRun | None, loss: LayerRun | None) -> Any:
    """∂L/∂(a layer's output): the next layer's ∂L/∂input, the loss's, or the upstream."""
    if after is not None:
        return after.results["grad_input"]
    if loss is not None:
        return loss.results["grad_input"]
    shape = problem.shapes[problem.layers[-1].name]
    if _ones(problem.upstream):
        ones = np.empty(shape, dtype=object)
        ones.fill(1)
        return ones
    return problem.upstream


def _all_exact(value: Any) -> bool:
    return np.asarray(value).dtype == object


# ---------------------------------------------------------------------------
# Finite differences of the whole chain


def float_loss(
    problem: NetProblem, params: Mapping[str, np.ndarray], base: tuple[list[LayerRun], Any]
) -> float:
    """The net's loss in float64 (Σ upstream ⊙ output without a loss) at ``params``:
    ``input`` and ``N.kernel``, ``N.weight``, ``N.bias``.  Only forward float64 arithmetic:
    each layer's kind runs (never explains) the problem it read for ``base`` (a float64
    forward pass), with its input and parameters replaced by the float64 values."""
    options = quiet(common.SolveOptions(), force_float=True)
    values = params.get("input", problem.input)  # indices (an embedding first) never move
    layers, loss = base
    for layer, ran in zip(problem.layers, layers, strict=True):
        if ran.problem is None:  # flatten
            values = run_layer(problem, layer, values, None, options).results["output"]
            continue
        moved = {name: params[f"{layer.name}.{name}"] for name in layer.parameters}
        # An embedding's input is its indices, which never move.
        given = moved if ran.kind == "embedding" else {"input": values, **moved}
        kind_problem = _with(ran.problem, **given)
        values = registry.op_module(ran.kind).run(kind_problem, options).results["output"]
        values = np.asarray(values, dtype=float)
    if problem.loss is not None:
        kind_problem = _with(loss.problem, input=values)
        return float(registry.op_module("loss").run(kind_problem, options).results["loss"])
    upstream = 1.0 if _ones(problem.upstream) else np.asarray(problem.upstream, dtype=float)
    return float(np.sum(upstream * values))


def _with(kind_problem: Any, **changes: Any) -> Any:
    """A shallow copy of a kind's problem (a record or a dataclass) with ``changes``."""
    changed = copy.copy(kind_problem)
    for name, value in changes.items():
        setattr(changed, name, value)
    return changed


def chain_params(problem: NetProblem, run: Run) -> tuple[dict, dict]:
    """(the values, the analytic gradients) of the input and every parameter."""
    params, analytic = {}, {}
    if not problem.looks_up:  # indices have no gradient
        params["input"] = problem.input.astype(float)
        analytic["input"] = run.results["grad_input"]
    for layer in problem.layers:
        for parameter in layer.parameters:
            key = f"{layer.name}.{parameter}"
            params[key] = np.asarray(layer_value(layer, parameter), dtype=float)
            analytic[key] = run.results[f"{layer.name}.grad_{parameter}"]
    return params, analytic


def layer_value(layer: Layer, parameter: str) -> np.ndarray:
    """A parameter as the layer's kind read it: numbers written as text ("1/2") read too."""
    from gradcalc.core.values import parse_array

    return parse_array(
        layer.keys[parameter], (), ndims=tuple(range(7)), what=parameter, max_elements=10**9
    )


def _shifted(
    loss: Callable[[Mapping[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    name: str,
    index: tuple[int, ...],
    shift: float,
) -> float:
    """The loss with one entry of one parameter moved by ``shift``."""
    moved = dict(params)
    moved[name] = params[name].copy()
    moved[name][index] += shift
    return loss(moved)


# Entries of each parameter the whole-chain check probes (each costs six runs of the chain),
# and the most entries (input and parameters together) a net may have for the check to run:
# each run of the chain reads every array again, so larger nets would take minutes.
PROBED = 24
MOST_CHECKED = 5000


def probed(size: int) -> set[int]:
    """The flat indices the check probes: all of them, or PROBED spread evenly."""
    if size <= PROBED:
        return set(range(size))
    return set(np.linspace(0, size - 1, PROBED).round().astype(int).tolist())


def smooth_entries(
    loss: Callable[[Mapping[str, np.ndarray]], float], params: Mapping[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], int]:
    """True where an entry is probed and the loss is smooth around it, as far as float64
    can tell; and how many probed entries sit at a kink.

    A chain has kinks wherever any layer has one (relu at 0, tied maxima of a max pool),
    and a central difference across a kink measures no slope the analytic rule promises.
    With h the check's step, a kink at the entry shows as one-sided differences that
    disagree by the same amount at h and at h/2 (a smooth loss: by half as much); a kink
    near it, as central differences at h and h/2 that disagree."""
    from gradcalc.core.gradcheck import step_for

    centre = loss(params)
    noise = 1e-8 * max(1.0, abs(centre))
    masks, kinks = {}, 0
    for name, values in params.items():
        mask = np.zeros(values.shape, dtype=bool)
        for flat in sorted(probed(values.size)):
            index = np.unravel_index(flat, values.shape)
            h = float(step_for(values[index]))
            far, near = (
                tuple(_shifted(loss, params, name, index, shift) for shift in shifts)
                for shifts in ((h, -h), (h / 2, -h / 2))
            )
            bend_far = (far[0] - 2 * centre + far[1]) / h
            bend_near = (near[0] - 2 * centre + near[1]) / (h / 2)
            central_gap = abs((far[0] - far[1]) / (2 * h) - (near[0] - near[1]) / h)
            kinked = abs(bend_far) > noise and abs(bend_near) > 0.75 * abs(bend_far)
            mask[index] = not kinked and central_gap <= noise
            kinks += not mask[index]
        masks[name] = mask
    return masks, kinks


def _terms_size(problem: NetProblem, run: Run) -> float:
    """A bound on the size of the terms the float64 loss sums along the chain (its rounding
    scales with them, not with L): every layer's outputs in absolute value, and L."""
    size = sum(
        float(np.sum(np.abs(np.asarray(run.results[f"{layer.name}.output"], dtype=float))))
        for layer in problem.layers
    )
    return size + abs(float(run.results.get("loss", 0.0)))


def finite_differences(problem: NetProblem, run: Run) -> GradientCheck | None:
    """The analytic gradients of the input and every parameter against float64 central
    differences of the whole chain's loss, away from its kinks."""
    params, analytic = chain_params(problem, run)
    total = sum(int(np.size(value)) for value in params.values())
    if total > MOST_CHECKED:
        from gradcalc.core.gradcheck import step_for

        return GradientCheck(
            ok=True,
            max_abs_error=0.0,
            entries_checked=0,
            entries_total=total,
            step=float(step_for(0.0)),
            note=f"not run: the net has {total:,} input and parameter entries, above the "
            f"{MOST_CHECKED:,} the whole-chain check takes (each probe runs the chain again)",
        )

    base_layers, base_loss, _ = forward_pass(
        problem, quiet(common.SolveOptions(), force_float=True)
    )

    def loss(p: Mapping[str, np.ndarray]) -> float:
        return float_loss(problem, p, (base_layers, base_loss))

    smooth, kinks = smooth_entries(loss, params)
    frozen = _leave_out_padding_rows(problem, run, smooth)
    check = check_gradients_where(
        loss, params, analytic, smooth, scale=_terms_size(problem, run), max_entries=PROBED
    )
    if check is not None:
        # Only the probed entries were looked at: the note counts the kinks among them.
        many = kinks != 1
        check.note = (
            f"{kinks} probed entr{'ies' if many else 'y'} left out: the loss has a kink there "
            "(its one-sided differences disagree: relu at 0, tied maxima, …)"
            if kinks
            else ""
        )
        if frozen:
            check.note = "; ".join(filter(None, (check.note, frozen)))
    return check


def _leave_out_padding_rows(problem: NetProblem, run: Run, smooth: dict) -> str:
    """An embedding's padding_idx row gets no gradient by definition (nn.Embedding), though
    the loss moves with it: the check leaves that row out, and says so."""
    left_out = []
    for layer in problem.layers:
        kind_problem = run.trace.backward[layer.index].problem
        padding = getattr(kind_problem, "padding_idx", None) if layer.type == "embedding" else None
        if padding is not None:
            smooth[f"{layer.name}.weight"][padding] = False
            left_out.append(f"{layer.name}'s padding_idx row (its gradient is 0 by definition)")
    return "left out: " + ", ".join(left_out) if left_out else ""
