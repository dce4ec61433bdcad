"""Running a net (core/kinds/net.py): each layer through its own kind, the loss last, and
the whole chain's finite differences.

Each layer is read by its own kind's module (``read`` on a single-layer spec built from the
layer's keys; not the solve pipeline): its input is the previous layer's output, its
upstream the next layer's ∂L/∂input.  Reading the net validates it with one float64 forward
pass, which keeps each layer's problem (``NetProblem.read_layers``).

Explained (``options.explain``), a layer is also run by its kind (``run``), and explained
from that run by core/explain/net.py: the forward pass runs each layer in order with an
all-ones upstream, for its output and forward sections; the backward pass runs it again in
reverse with its true upstream, and that run (its gradients) is the one kept.  Unexplained
(grading, benchmarks), a layer that runs in float64 runs its ops once instead
(core/kinds/net_ops.py): forward in the forward pass, backward from the same traces.

Exactness flows along the chain: layers run exactly while every layer so far is rational;
from the first one that runs in float64 (softmax, sigmoid, a large layer) every later layer
runs in float64 (``force_float``), and so does the backward pass of every layer whose
upstream is float64 (all those before it).  A layer receives arrays as if read from a spec
(core/kinds/net_ops.py ``as_read``): exact values as they are, float64 values through
their shortest repr (lists of them, for a layer whose explanation shows them as read).
A layer's error is rewritten into the net's terms by core/kinds/net_messages.py, imported
where an error is raised: a net that runs needs none of it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import net_ops, net_symbols
from gradcalc.core.kinds.net import NORM_LAYERS, RUNNING, Layer, NetProblem
from gradcalc.core.kinds.net_names import parameter_symbols
from gradcalc.core.kinds.symbolic_fields import OverCap
from gradcalc.core.ops import adapter
from gradcalc.core.ops.flatten import FLATTEN
from gradcalc.core.outcome import LayerRun, NetTrace, Run
from gradcalc.core.records import record, replace
from gradcalc.core.values import read_floats
from gradcalc.core.words import count_words

# ---------------------------------------------------------------------------
# One layer


def layer_spec(
    problem: NetProblem, layer: Layer, values: np.ndarray, upstream: Any, shown: bool = True
) -> dict:
    """The single-layer spec of ``layer`` given its input and upstream; ``shown``: the
    layer's explanation shows them, as read from lists (float64 values as Fractions).  A
    layer that cannot take the formulas they hold is refused (net_symbols.check_layer)."""
    net_symbols.check_layer(problem, layer, values, upstream)
    names = {"input": problem.source(layer.index), "output": layer.name}
    names["loss"] = problem.names["loss"]
    names.update(parameter_symbols(problem, layer))
    values, upstream = as_rows(problem, layer, values, upstream)
    return {
        "kind": layer.type,
        **layer.keys,
        # An embedding (the first layer) reads the net's input as its indices (integers).
        **(
            {"indices": _plain(values)}
            if layer.type == "embedding"
            else {"input": handed(values, layer.type, shown)}
        ),
        "upstream": "ones" if upstream is None else handed(upstream, layer.type, shown),
        "names": names,
        "index_base": problem.index_base,
        **net_symbols.symbol_keys(problem, layer.type),
    }


def as_rows(problem: NetProblem, layer: Layer, values: Any, upstream: Any) -> tuple[Any, Any]:
    """A dense layer's ≥3-D input (*, L) as rows (prod of *)×L, and its upstream (*, O) as
    rows × O: nn.Linear applies to the last axis, so each row is a sample; any other layer
    or input as it is.  A column layout (samples as columns) has no such reading: refused."""
    values = np.asarray(values)
    if layer.type != "dense" or values.ndim < 3:
        return values, upstream
    if layer.keys.get("layout") != "row":
        from gradcalc.core.kinds.net_messages import shape_words

        raise SpecError(
            ("layers", layer.index, "layout"),
            f"{layer.name}'s input ({problem.source(layer.index)}) has {shape_words(values.shape)}, "
            f"which a dense layer reads as rows of {count_words(values.shape[-1], 'feature')} (applied to the "
            "last axis, as nn.Linear), each row a sample: only layout: row reads it so; "
            "remove layout: column",
        )
    rows = values.reshape(-1, values.shape[-1])
    if upstream is not None:
        upstream = np.asarray(upstream)
        upstream = upstream.reshape(-1, upstream.shape[-1])
    return rows, upstream


def handed(values: Any, kind: str, shown: bool) -> Any:
    """An array for a layer's spec: the array itself (its kind reads it as it would read
    it from lists: core/values.py), or lists of its float64 values when they are shown
    (they read as the Fractions of their shortest reprs, which the explanation prints)."""
    values = np.asarray(values)
    if values.dtype == object:
        return values
    if not shown:
        return net_ops.as_read(values, kind)
    known = _SHOWN.get(id(values))
    if known is None or known[0] is not values:  # a layer's input is read twice: once
        if len(_FRACTIONS) > 2**20:  # layers run outside a net's run (gradcalc check)
            _FRACTIONS.clear()
        known = _SHOWN[id(values)] = (values, read_floats(values, _FRACTIONS))
    return _plain(values) if known[1] is None else known[1]


# Float64 arrays read as Fractions for an explained layer during this run, by id: (the
# array, what it read as); and each float64 value read, as its Fraction (a layer's output
# holds many of its input's values).  Emptied at each run's start and end.
_SHOWN: dict[int, tuple[np.ndarray, Any]] = {}
_FRACTIONS: dict[float, Any] = {}


def _plain(values: Any) -> Any:
    """Nested lists of Fractions or floats, as a spec holds them."""
    return np.asarray(values).tolist()


def run_kind(kind: str, spec: dict, options: Any, read: Any = None) -> LayerRun:
    """Read and run a single-layer spec with its kind's own module (no checks, no finite
    differences, no explanation: those are the net's); ``read``: the problem its kind
    already read from this very spec, run without reading it again."""
    kind_problem = read_kind(kind, spec, options.limits) if read is None else read
    return LayerRun(
        kind, kind_problem, registry.op_module(kind).run(kind_problem, options), options
    )


def read_kind(kind: str, spec: dict, limits: Any) -> Any:
    """The single-layer spec read by its kind; a default layer name longer than a symbol a
    spec may give (conv_transpose1) becomes its symbol once the kind has read the spec."""
    names = spec.get("names", {})
    later = {role: name for role, name in names.items() if len(name) > common.MAX_SYMBOL}
    kept = {role: name for role, name in names.items() if role not in later}
    kind_problem = registry.op_module(kind).read({**spec, "names": kept} if later else spec, limits)
    kind_problem.names.update(later)
    return kind_problem


def run_layer(
    problem: NetProblem,
    layer: Layer,
    values: np.ndarray,
    upstream: Any,
    options: Any,
    read: Any = None,
    forward: LayerRun | None = None,
) -> LayerRun:
    """Run one layer by its own kind; its SpecErrors point into the net spec.  ``read``:
    the problem its kind read from the spec these values and upstream make (run_kind);
    ``forward``: its forward run on these values, whose problem is taken (UPSTREAM_ONLY)."""
    if layer.type == "flatten":
        return _flatten(problem, layer, values, upstream, options)
    shown = options.explain or reads_exactly(layer, values, options)
    spec = layer_spec(problem, layer, values, upstream, shown)
    try:
        if forward is not None and read is None:
            read = common.with_upstream(forward.problem, spec, options.limits)
        ran = run_kind(layer.type, spec, options, read)
    except (SpecError, OverCap) as error:
        from gradcalc.core.kinds.net_messages import layer_error

        over = net_symbols.over_cap(layer.name, error)
        raise over or layer_error(problem, layer, values, error, upstream) from None
    if layer.type == "dense" and np.ndim(values) >= 3:
        ran = replace(ran, shaped=net_ops.rows_read_back(ran.run.results, np.shape(values)))
    return ran


def reads_exactly(layer: Layer, values: np.ndarray, options: Any) -> bool:
    """A normalization layer small enough to run exactly reads float64 values as the
    explained path hands them (exact, from their shortest reprs) whether or not it is
    explained: with --float its kind then rounds once (core/kinds/normalization.py
    rounds_once), and the results do not depend on the explanation."""
    from gradcalc.core.kinds.normalization import small

    return layer.type in NORM_LAYERS and small(np.size(values), options.limits)


def _flatten(
    problem: NetProblem, layer: Layer, values: np.ndarray, upstream: Any, options: Any
) -> LayerRun:
    """Flatten (start_dim=1) forward and backward: N×… → N×(prod), by core/ops/flatten.py."""
    _flatten_input(problem, layer, values)
    exact = not options.force_float and values.dtype == object
    output, trace = adapter.forward(FLATTEN, values, {}, exact=exact)
    grad_y = np.ones(output.shape, dtype=object) if upstream is None else upstream
    grad_y = grad_y if exact else adapter.as_float(grad_y)
    results = {"output": output, "grad_input": adapter.backward(grad_y, trace)["input"]}
    return LayerRun("flatten", None, Run(results=results, trace=trace, exact=exact), options)


def _flatten_input(problem: NetProblem, layer: Layer, values: np.ndarray) -> None:
    if values.ndim < 2:
        from gradcalc.core.kinds.net_messages import shape_words

        raise SpecError(
            ("layers", layer.index),
            f"{layer.name} keeps the batch axis N and flattens the rest, so it needs "
            f"at least 2 axes, but {problem.source(layer.index)} gives {shape_words(values.shape)}",
        )


# The losses whose float64 run uses the exact values it read (loss_trace.exact_differences).
_EXACT_INPUT = ("bce", "bce_with_logits")


def run_loss(problem: NetProblem, values: np.ndarray, options: Any) -> LayerRun:
    """Run the loss on the last layer's output; its errors point into the net's loss."""
    net_symbols.check_loss(problem, values)
    last = problem.layers[-1].name
    spec = {
        "kind": "loss",
        **(problem.loss or {}),
        # bce and bce_with_logits take 1 − x from the exact values they read: as read from lists.
        "input": handed(values, "loss", options.explain or problem.loss["loss"] in _EXACT_INPUT),
        "names": {"input": last, "loss": problem.names["loss"]},
        "index_base": problem.index_base,
    }
    try:
        return run_kind("loss", spec, options)
    except SpecError as error:
        if over := net_symbols.over_cap("the loss", error):
            raise over from None
        if error.path[:1] == ("input",):
            from gradcalc.core.kinds.net_messages import loss_input_error

            raise loss_input_error(problem, values, error) from None
        path = ("type", *error.path[1:]) if error.path[:1] == ("loss",) else error.path
        message = error.message
        # "the input" in a target's message is the last layer's output: say which (a message
        # about the target alone, "a class index must be a whole number", needs no word).
        if path[:1] == ("target",) and "input" in message:
            from gradcalc.core.kinds.net_messages import shape_words

            message += f" (the loss's input is {last}'s output, {shape_words(values.shape)})"
        raise SpecError(("loss", *path), message, at_key=error.at_key) from None


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
    loss solution, and the first layer (or "loss") that ran in float64.  While the chain is
    exact, and whenever it is explained, each layer runs by its kind; else by its ops."""
    values = problem.input
    exact = not options.force_float
    float_from = None
    solutions = []
    for layer in problem.layers:
        if exact or options.explain:
            layer_options = _forward_options(layer, options, exact)
            read = _read_with_the_net(problem, layer)
            solution = run_layer(problem, layer, values, None, layer_options, read)
        else:
            solution = _ops_forward(problem, layer, values, options)
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
        # Unexplained float64: the loss read with the net, run without reading it again.
        ran = None if exact or options.explain else net_ops.loss_run(problem.read_loss, values)
        loss = (
            run_loss(problem, values, loss_options)
            if ran is None
            else LayerRun("loss", *ran, loss_options)
        )
        if exact and not loss.exact:
            float_from = "loss"
    return solutions, loss, float_from


def _read_with_the_net(problem: NetProblem, layer: Layer) -> Any:
    """The first layer's problem as its kind read it when the net was read (output_shapes),
    which its forward run takes as it is: its spec is the same (the net's input, exact, and
    an all-ones upstream).  None for any other layer (its input was float64 there), and in a
    net with symbols (its forward run may decide the symbolic caps otherwise:
    net_decides_cap)."""
    if layer.index or net_symbols.holds_symbols(problem):
        return None
    return problem.read_layers[0]


@record
class OpsRun:
    """A layer run by its ops in float64 (core/kinds/net_ops.py): the problem its kind read
    when the net was read, and the traces of its forward pass, for its backward pass."""

    problem: Any
    traces: list[Any]


def _ops_forward(problem: NetProblem, layer: Layer, values: np.ndarray, options: Any) -> LayerRun:
    """A float64 layer's forward pass by its ops; the trace keeps what its backward needs.
    A normalization layer its kind would run exactly and round (rounds_once) runs so."""
    kind_problem = problem.read_layers[layer.index]
    if layer.type in NORM_LAYERS and _rounds_once(kind_problem, options):
        output, traces = net_ops.rounded_norm(kind_problem, net_ops.rational(values))
    else:
        output, traces = _float_forward(problem, layer, values, kind_problem)
    results = {"output": output, **net_ops.running(layer.type, kind_problem, traces)}
    ran = Run(results=results, trace=OpsRun(kind_problem, traces), exact=False)
    return LayerRun(layer.type, None, ran, options)


def _rounds_once(kind_problem: Any, options: Any) -> bool:
    """What the kind's rounds_once says of the layer run with --float (its input and
    upstream are exact as the explained path hands them: read from their shortest reprs)."""
    from gradcalc.core.kinds import normalization

    small = normalization.small(kind_problem.input.size, options.limits)
    return small and normalization.rational_parameters(kind_problem)


def _float_forward(
    problem: NetProblem, layer: Layer, values: np.ndarray, kind_problem: Any
) -> tuple[np.ndarray, list[Any]]:
    if values is problem.input:  # the spec's exact input: converted once
        key = ("input", layer.type)
        if key not in problem.floats:
            problem.floats[key] = net_ops.as_read(values, layer.type)
        x = problem.floats[key]
    else:
        before = problem.layers[layer.index - 1]  # (values is a layer's output here)
        source = (before.type, problem.read_layers[before.index])
        x = net_ops.forward_input(values, layer.type, kind_problem, source)
    params = net_ops.float_params(layer.type, kind_problem, problem.floats)
    return net_ops.forward(layer.type, kind_problem, x, params)


def _ops_backward(
    layer: Layer, ran: LayerRun, upstream: Any, source: tuple[str, Any] | None = None
) -> LayerRun:
    """A float64 layer's backward pass from its forward traces (``upstream`` None: ones;
    ``source``: the kind and problem of the layer that gave it by its ops, else None)."""
    output = ran.results["output"]
    grad_y = np.ones(np.shape(output)) if upstream is None else upstream
    trace = ran.run.trace
    exact = trace.traces[0].exact  # a normalization layer that rounds once
    if exact:
        grad_y = net_ops.rational(grad_y)
    else:
        grad_y = net_ops.upstream_input(grad_y, layer.type, source)
    gradients = net_ops.backward(layer.type, trace.problem, trace.traces, grad_y)
    results = {"output": output, **gradients}
    return LayerRun(layer.type, None, Run(results=results, trace=trace, exact=False), ran.options)


# The sections a layer's forward run explains: its size, its forward pass (attention's
# score table and softmax rows before its weighted sums), and a training batch norm's
# running statistics (they move with the batch statistics, so the forward run's
# results, N.running_mean and N.running_var, are the ones shown).
FORWARD_SECTIONS = frozenset({"size", "scores", "weights", "forward", "running"})


def _forward_options(layer: Layer, options: common.SolveOptions, exact: bool) -> Any:
    """A layer's forward run: explained (its size and forward sections) when the net is."""
    if not options.explain or layer.type == "flatten":
        return quiet(options, force_float=not exact)
    shown = _sections(layer.type, options) & FORWARD_SECTIONS
    return replace(options, gradient_check=False, force_float=not exact, sections=shown)


def _sections(kind: str, options: common.SolveOptions) -> frozenset[str]:
    """The sections of a layer's own kind that the net shows (conv's loss section states
    L = Σ upstream ⊙ output, which is not the net's loss: never)."""
    own = set(registry.sections(kind)) - {"loss" if kind == "conv" else ""}
    return frozenset(own if options.sections is None else own & options.sections)


def backward_pass(
    problem: NetProblem, options: common.SolveOptions, forward: list[LayerRun], loss: Any
) -> list[LayerRun]:
    """Each layer in reverse with its true upstream (the next layer's ∂L/∂input): by its
    kind again, or from its forward traces when its ops ran it."""
    if loss is not None:
        upstream: Any = loss.results["grad_input"]
    else:
        upstream = None if upstream_is_ones(problem.upstream) else problem.upstream
    solutions: list[LayerRun] = [None] * len(problem.layers)  # type: ignore[list-item]
    source = None  # (kind, problem) of the layer that gave the upstream by its ops
    for layer in reversed(problem.layers):
        ran = forward[layer.index]
        if isinstance(ran.run.trace, OpsRun):
            solved = _ops_backward(layer, ran, upstream, source)
            source = (layer.type, ran.run.trace.problem)
        else:
            source = None
            values = (
                problem.input if not layer.index else forward[layer.index - 1].results["output"]
            )
            floats = upstream is not None and np.asarray(upstream).dtype != object
            layer_options = replace(
                options,
                gradient_check=False,
                force_float=options.force_float or not ran.exact or floats,
                sections=_backward_sections(layer, options),
            )
            solved = run_layer(
                problem, layer, values, upstream, layer_options, forward=_kept(problem, ran)
            )
        solutions[layer.index] = solved
        upstream = solved.results.get("grad_input")  # an embedding has none
    return solutions


# The kinds whose problem holds its upstream in ``upstream`` and ``upstream_given`` alone, as
# common.read_upstream reads it (nothing else read from it): common.with_upstream copies it.
UPSTREAM_ONLY = ("conv", "pool", "dense", "activation")


def _kept(problem: NetProblem, ran: LayerRun) -> LayerRun | None:
    """The forward run whose problem the backward run takes with its upstream: a layer of an
    UPSTREAM_ONLY kind in a net without symbols or declared names; else None, and the
    backward run reads its spec whole (with symbols, what a kind reads may hinge on what
    the arrays hold: answer names, symbolic caps)."""
    if ran.kind not in UPSTREAM_ONLY or net_symbols.holds_symbols(problem) or problem.declared:
        return None
    return ran


def _backward_sections(layer: Layer, options: common.SolveOptions) -> Any:
    """A layer's backward run explains its problem statement and its backward sections
    (every section but the forward run's)."""
    if layer.type == "flatten":
        return None
    return _sections(layer.type, options) - FORWARD_SECTIONS


def upstream_is_ones(upstream: Any) -> bool:
    return upstream is None or (isinstance(upstream, str) and upstream.strip() == "ones")


def output_shapes(
    problem: NetProblem, limits: common.Limits
) -> tuple[dict[str, tuple[int, ...]], list[Any], Any]:
    """Each layer's output shape and each parameter's shape (``conv1.kernel``), and the
    loss's (a single number, or one per sample with reduction none), from one float64
    forward pass, which reads (validates) every layer with its own kind; with each layer's
    problem as its kind read it (None for flatten) and the loss's (None without one)."""
    options = quiet(common.SolveOptions(limits=limits), force_float=True)
    values = problem.input
    read: list[Any] = []
    shapes: dict[str, tuple[int, ...]] = {}
    # Once a formula is met, the values are stand-ins: no bound of the net's own numbers.
    symbolic = net_symbols.holds_symbols(problem)
    for layer in problem.layers:
        if symbolic and layer.index:
            values = net_symbols.within_bounds(values)
        kind_problem = read_layer(problem, layer, values, options)
        read.append(kind_problem)
        symbolic = symbolic or net_symbols.reads_symbols(layer, kind_problem)
        x, numeric = net_symbols.stand_in(values), net_symbols.stand_in(kind_problem)
        values, _ = net_ops.forward(layer.type, numeric, net_ops.as_read(x, layer.type))
        shapes[layer.name] = np.shape(values)
        for parameter in layer.parameters:
            shapes[f"{layer.name}.{parameter}"] = np.shape(getattr(kind_problem, parameter))
    loss = None
    if problem.loss is not None:
        values = net_symbols.within_bounds(values) if symbolic else values
        loss = net_symbols.stand_in_loss(problem, values, read, run_loss, options)
        shapes["loss"] = np.shape(loss.results["loss"])
    if problem.loss is None and not upstream_is_ones(problem.upstream):
        net_symbols.read_upstream(problem, shapes[problem.layers[-1].name], limits)
    return shapes, read, None if loss is None else loss.problem


def read_layer(problem: NetProblem, layer: Layer, values: np.ndarray, options: Any) -> Any:
    """The layer's problem as its kind reads it (None for flatten, after checking that its
    input has a batch axis); its SpecErrors point into the net spec."""
    if layer.type == "flatten":
        _flatten_input(problem, layer, values)
        return None
    spec = layer_spec(problem, layer, values, None, options.explain)
    try:
        return read_kind(layer.type, spec, options.limits)
    except (SpecError, OverCap) as error:
        from gradcalc.core.kinds.net_messages import layer_error

        over = net_symbols.over_cap(layer.name, error)
        raise over or layer_error(problem, layer, values, error) from None


def run(problem: NetProblem, options: common.SolveOptions) -> Run:
    """The forward pass, the loss, the backward pass; results keyed as the issue's contract."""
    _SHOWN.clear()
    _FRACTIONS.clear()
    try:
        forward, loss, float_from = forward_pass(problem, options)
        backward = backward_pass(problem, options, forward, loss)
    finally:
        _SHOWN.clear()
        _FRACTIONS.clear()
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
        results.update(running_results(layer, forward[layer.index]))
    exact = all(_all_exact(value) for value in results.values())
    trace = NetTrace(forward, backward, loss, float_from)
    return Run(results=results, trace=trace, exact=exact)


def running_results(layer: Layer, ran: LayerRun) -> dict[str, Any]:
    """``N.running_mean`` and ``N.running_var`` of a batch norm layer in training, from its
    forward run (they move with the batch statistics, which its upstream does not touch);
    {} for every other layer."""
    return {
        f"{layer.name}.{key}": ran.results[key]
        for key in RUNNING
        if layer.type == "batchnorm" and key in ran.results
    }


def _grad_output(problem: NetProblem, after: LayerRun | None, loss: LayerRun | None) -> Any:
    """∂L/∂(a layer's output): the next layer's ∂L/∂input, the loss's, or the upstream."""
    if after is not None:
        return after.results["grad_input"]
    if loss is not None:
        return loss.results["grad_input"]
    shape = problem.shapes[problem.layers[-1].name]
    if upstream_is_ones(problem.upstream):
        ones = np.empty(shape, dtype=object)
        ones.fill(1)
        return ones
    return problem.upstream


def _all_exact(value: Any) -> bool:
    return np.asarray(value).dtype == object
