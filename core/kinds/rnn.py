"""An rnn spec: how it is read (``read(spec, limits) -> RnnProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``) for core/solve.py; its
usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its practice profile
(``PRACTICE``) live in core/kinds/rnn_extras.py, named in rnn's catalog entry (``parts``).

An rnn problem is one recurrent layer of PyTorch (nn.RNN with tanh or relu, nn.LSTM,
nn.GRU; one layer, one direction) over one step (input N×I, as RNNCell) or T steps (T×N×I,
N×T×I with ``batch_first``), with the weights in PyTorch's layout and gate order
(core/ops/recurrent.py).  The loss is L = Σ upstream ⊙ output + Σ upstream_h_n ⊙ h_n
(+ Σ upstream_c_n ⊙ c_n).  What the keys are is the Field table of kind rnn in
core/kinds/catalog_rnn.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.checking import check_gradients_where, near, probes_for
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.kinds.fields import read_array, read_choice, shape_text
from gradcalc.core.ops import adapter
from gradcalc.core.ops.recurrent import GATE_NAMES, GATES, forward, op_for
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import parse_bool
from gradcalc.core.words import count_words

KIND = "rnn"
KEYS = registry.field_names(KIND)
CELLS = registry.choices(KIND, "cell")
NONLINEARITIES = registry.choices(KIND, "nonlinearity")
NAME_DEFAULTS = {
    "input": "x",
    "output": "y",
    "h": "h",
    "h0": "h0",
    "c": "c",
    "c0": "c0",
    "weight_ih": "Wih",
    "weight_hh": "Whh",
    "bias_ih": "bih",
    "bias_hh": "bhh",
    "loss": "L",
}
RESULTS = (
    "output",
    "h_n",
    "c_n",
    "grad_input",
    "grad_h0",
    "grad_c0",
    "grad_weight_ih",
    "grad_weight_hh",
    "grad_bias_ih",
    "grad_bias_hh",
    "grad_h",
)
SECTIONS = registry.sections(KIND)
# The arrays a problem reads and the op takes, and their results' names.
PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
# What one step costs beyond its multiply-adds (Python's loop, NumPy's calls), counted as
# multiply-adds when finite differences decide how many entries to probe: a long sequence of
# a tiny layer is cheap in multiply-adds but not in time (T = 20,000 took 17 s at 32 probes).
STEP_OVERHEAD = 1_000


@record
class RnnProblem:
    """A validated rnn spec.  Arrays are object arrays of Fractions: ``input`` as written,
    ``steps`` the input step-major T×N×I (one step: 1×N×I), ``h0`` and ``c0`` N×H (zeros
    when omitted), the upstreams on the output (its shape), on h_n and c_n (N×H)."""

    title: str | None
    cell: str
    nonlinearity: str
    batch_first: bool
    input: np.ndarray
    steps: np.ndarray  # T×N×I
    weight_ih: np.ndarray  # G·H×I
    weight_hh: np.ndarray  # G·H×H
    bias_ih: np.ndarray | None  # G·H
    bias_hh: np.ndarray | None  # G·H
    h0: np.ndarray  # N×H
    h0_given: bool
    c0: np.ndarray | None  # N×H, lstm only
    c0_given: bool
    upstream: np.ndarray  # the output's shape
    upstream_given: bool
    upstream_h_n: np.ndarray | None  # N×H or None (zeros)
    upstream_c_n: np.ndarray | None  # N×H or None (zeros)
    names: dict[str, str]
    index_base: int
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance

    @property
    def single_step(self) -> bool:
        """An N×I input: one step, as RNNCell (output N×H, no time axis)."""
        return self.input.ndim == 2

    @property
    def gates(self) -> int:
        return GATES[self.cell]

    @property
    def hidden(self) -> int:
        return self.weight_hh.shape[1]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(T, N, I, H)."""
        count, batch, inputs = self.steps.shape
        return count, batch, inputs, self.hidden

    @property
    def output_shape(self) -> tuple[int, ...]:
        count, batch, _, hidden = self.shape
        if self.single_step:
            return (batch, hidden)
        return (batch, count, hidden) if self.batch_first else (count, batch, hidden)

    @property
    def work(self) -> int:
        """Multiply-adds of the forward pass: T·N·G·H·(I + H)."""
        count, batch, inputs, hidden = self.shape
        return count * batch * self.gates * hidden * (inputs + hidden)

    def step_major(self, values: np.ndarray) -> np.ndarray:
        """An array in the output's (or input's) layout as T×N×… ."""
        if self.single_step:
            return values[None]
        return values.swapaxes(0, 1) if self.batch_first else values

    def as_written(self, values: np.ndarray) -> np.ndarray:
        """A T×N×… array in the layout of the spec's input and output."""
        if self.single_step:
            return values[0]
        return values.swapaxes(0, 1) if self.batch_first else values


def _read_weights(
    spec: Mapping[str, Any], cell: str, inputs: int, limits: common.Limits
) -> tuple[np.ndarray, np.ndarray, int]:
    """W_ih (G·H×I) and W_hh (G·H×H), and H; a wrong gate count is refused at the weight."""
    gates, names = GATES[cell], ", ".join(GATE_NAMES[cell])
    w_hh = read_array(
        common.require(spec, "weight_hh", KIND, "the G·H×H hidden-to-hidden weights"),
        ("weight_hh",),
        ndims=(2,),
        what="weight_hh",
        limits=limits,
    )
    hidden = w_hh.shape[1]
    gate_words = (
        f"{'an' if cell == 'lstm' else 'a'} {cell} has {gates} gates ({names})"
        if gates > 1
        else "an rnn has 1 gate"
    )
    if w_hh.shape[0] != gates * hidden:
        raise SpecError(
            ("weight_hh",),
            f"weight_hh is {shape_text(w_hh.shape)}, so H = {hidden} (its columns), but "
            f"{gate_words}: it must be {gates}·H×H = {gates * hidden}×{hidden}, the gates' rows "
            "stacked in PyTorch's order",
        )
    w_ih = read_array(
        common.require(spec, "weight_ih", KIND, "the G·H×I input-to-hidden weights"),
        ("weight_ih",),
        ndims=(2,),
        what="weight_ih",
        limits=limits,
    )
    if w_ih.shape != (gates * hidden, inputs):
        raise SpecError(
            ("weight_ih",),
            f"weight_ih is {shape_text(w_ih.shape)} but {gate_words} of H = {hidden} and each "
            f"input step has I = {count_words(inputs, 'entry', 'entries')}: it must be {gates}·H×I = "
            f"{gates * hidden}×{inputs}",
        )
    return w_ih, w_hh, hidden


def _read_vector(spec: Mapping[str, Any], key: str, size: int, limits: common.Limits) -> Any:
    """A bias of ``size`` (G·H) entries, or None when the spec has none."""
    if spec.get(key) is None:
        return None
    bias = read_array(spec[key], (key,), ndims=(1,), what=key, limits=limits)
    if bias.shape[0] != size:
        raise SpecError(
            (key,),
            f"{key} has {count_words(bias.shape[0], 'entry', 'entries')} but must have G·H = {size}",
        )
    return bias


def _read_state(
    spec: Mapping[str, Any], key: str, shape: tuple[int, int], limits: common.Limits, what: str
) -> np.ndarray | None:
    """An N×H state or upstream, or None when omitted; a wrong size is refused there."""
    if spec.get(key) is None:
        return None
    state = read_array(spec[key], (key,), ndims=(2,), what=key, limits=limits)
    if state.shape != shape:
        raise SpecError(
            (key,),
            f"{key} is {shape_text(state.shape)} but {what} is N×H = {shape[0]}×{shape[1]} "
            f"(N = {count_words(shape[0], 'sample')}, H = {count_words(shape[1], 'hidden unit')})",
        )
    return state


def _zeros(shape: tuple[int, ...]) -> np.ndarray:
    zeros = np.empty(shape, dtype=object)
    zeros.fill(0)
    return zeros


def _refuse_lstm_only(spec: Mapping[str, Any], cell: str) -> None:
    for key in ("c0", "upstream_c_n"):
        if cell != "lstm" and spec.get(key) is not None:
            raise SpecError((key,), f"{key} is an lstm's cell state; {article(cell)} has none")
    expected = spec.get("expected")
    for key in ("c_n", "grad_c0"):
        # Said here, not as "did you mean 'h_n'?", which would point at another quantity.
        if cell != "lstm" and isinstance(expected, Mapping) and key in expected:
            raise SpecError(
                ("expected", key),
                f"{key} belongs to an lstm's cell state (cell: lstm); {article(cell)} has "
                "none: its state is h (h_n, grad_h0)",
                at_key=True,
            )
    if cell != "rnn" and spec.get("nonlinearity") not in (None, "tanh"):
        raise SpecError(
            ("nonlinearity",),
            f"nonlinearity is for cell rnn; {article(cell)} uses σ and tanh (PyTorch has no relu {cell})",
        )


def article(cell: str) -> str:
    """'an rnn', 'an lstm', 'a gru'."""
    return f"{'a' if cell == 'gru' else 'an'} {cell}"


def _refuse_step_symbols(spec: Mapping[str, Any], cell: str, names: Mapping[str, str]) -> None:
    """A symbol from ``names`` that the explanation also writes for a gate or a
    pre-activation (lstm's o, gru's z, ai, ah) would make its steps ambiguous: o_00 both
    the output and the output gate."""
    taken = {"a", "ai", "ah"} | (set(GATE_NAMES[cell]) if cell != "rnn" else set())
    for role in spec.get("names") or {}:
        if names.get(role) in taken:
            raise SpecError(
                ("names", role),
                f"{names[role]!r} is what the explanation of {article(cell)} writes for "
                f"{'a pre-activation' if names[role] in ('a', 'ai', 'ah') else 'a gate'}; "
                f"give {role} another symbol (taken: {', '.join(sorted(taken))}; in a net, "
                "a layer's name is its output's symbol)",
            )


def _read_batch_first(spec: Mapping[str, Any], ndim: int) -> bool:
    """batch_first (default false), refused on an N×I input: PyTorch's nn.RNN reads a 2-D
    input as one unbatched sequence, gradcalc as one step, and neither has a batch axis
    first."""
    if spec.get("batch_first") is None:
        return False
    batch_first = parse_bool(spec["batch_first"], ("batch_first",))
    if batch_first and ndim == 2:
        raise SpecError(
            ("batch_first",),
            "batch_first is for a 3-D input (N×T×I); this input is N×I, one step (as "
            "RNNCell), which has no time axis: drop batch_first or give N×T×I",
        )
    return batch_first


def _check_work(work: int, limits: common.Limits) -> None:
    """Refuse a layer above the work limit (T·N·G·H·(I + H) multiply-adds)."""
    if work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this layer needs {work:,} multiply-adds, above the limit of {limits.max_work:,} "
            "(raise it with --max-work)",
        )


def read(spec: Mapping[str, Any], limits: common.Limits) -> RnnProblem:
    """Validate an rnn spec (plain data) or raise SpecError at the value at fault."""
    common.check_keys(spec, KIND, KEYS)
    cell = read_choice(spec, "cell", CELLS, default="rnn")
    nonlinearity = read_choice(spec, "nonlinearity", NONLINEARITIES, default="tanh")
    _refuse_lstm_only(spec, cell)
    raw_input = common.require(spec, "input", KIND, "N×I (one step) or T×N×I")
    x = read_array(raw_input, ("input",), ndims=(2, 3), what="input", limits=limits)
    batch_first = _read_batch_first(spec, x.ndim)
    steps = x[None] if x.ndim == 2 else (x.swapaxes(0, 1) if batch_first else x)
    count, batch, inputs = steps.shape
    w_ih, w_hh, hidden = _read_weights(spec, cell, inputs, limits)
    biases = [
        _read_vector(spec, key, GATES[cell] * hidden, limits) for key in ("bias_ih", "bias_hh")
    ]
    state = (batch, hidden)
    h0 = _read_state(spec, "h0", state, limits, "the hidden state")
    c0 = _read_state(spec, "c0", state, limits, "the cell state") if cell == "lstm" else None
    _check_work(count * batch * GATES[cell] * hidden * (inputs + hidden), limits)
    names = common.read_names(spec, NAME_DEFAULTS)
    _refuse_step_symbols(spec, cell, names)
    output_shape = (
        state
        if x.ndim == 2
        else ((batch, count, hidden) if batch_first else (count, batch, hidden))
    )
    upstream, upstream_given = common.read_upstream(spec, output_shape, names["output"], limits)
    shapes = {"input": x.shape, "weight_ih": w_ih.shape, "weight_hh": w_hh.shape}
    for key, bias in zip(("bias_ih", "bias_hh"), biases, strict=True):
        if bias is not None:
            shapes[key] = bias.shape
    return RnnProblem(
        cell=cell,
        nonlinearity=nonlinearity,
        batch_first=batch_first,
        input=x,
        steps=steps,
        weight_ih=w_ih,
        weight_hh=w_hh,
        bias_ih=biases[0],
        bias_hh=biases[1],
        h0=_zeros(state) if h0 is None else h0,
        h0_given=h0 is not None,
        c0=(_zeros(state) if c0 is None else c0) if cell == "lstm" else None,
        c0_given=c0 is not None,
        upstream=upstream,
        upstream_given=upstream_given,
        upstream_h_n=_read_state(spec, "upstream_h_n", state, limits, "h_n"),
        upstream_c_n=_read_state(spec, "upstream_c_n", state, limits, "c_n")
        if cell == "lstm"
        else None,
        names=names,
        **common.read_shared(spec, known_results(cell, output_shape, state, shapes), limits),
    )


def known_results(
    cell: str,
    output_shape: tuple[int, ...],
    state: tuple[int, int],
    shapes: Mapping[str, tuple[int, ...]],
) -> dict[str, tuple[int, ...] | None]:
    """Every result's shape: ``shapes`` holds the input's, the weights' and the biases' given."""
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "h_n": state,
        "grad_input": shapes["input"],
        "grad_h0": state,
        "grad_weight_ih": shapes["weight_ih"],
        "grad_weight_hh": shapes["weight_hh"],
        "grad_h": output_shape,
    }
    if cell == "lstm":
        known.update(c_n=state, grad_c0=state)
    for key in ("bias_ih", "bias_hh"):
        if key in shapes:
            known[f"grad_{key}"] = shapes[key]
    return known


# ---------------------------------------------------------------------------
# Running


@record
class RnnTrace:
    """What the run recorded, step-major (object Fractions when exact, else float64): the op's
    cache (every step's ai, ah, gates, h, c), its gradients (every step's ∂L/∂ai, ∂L/∂ah,
    ∂L/∂h_t T×N×H, ∂L/∂c_t), and the stacked upstream it ran with ((T+1 or T+2)×N×H)."""

    cache: Mapping[str, Any]
    grads: Mapping[str, Any]
    grad_y: np.ndarray
    exact: bool


def op_params(problem: RnnProblem) -> dict[str, Any]:
    """The op's params: the cell, its weights and biases, h0 (and c0)."""
    params: dict[str, Any] = {
        "cell": problem.cell,
        "nonlinearity": problem.nonlinearity,
        "weight_ih": problem.weight_ih,
        "weight_hh": problem.weight_hh,
        "bias_ih": problem.bias_ih,
        "bias_hh": problem.bias_hh,
        "h0": problem.h0,
    }
    if problem.cell == "lstm":
        params["c0"] = problem.c0
    return params


def stacked_upstream(problem: RnnProblem) -> np.ndarray:
    """∂L/∂y of the op: the outputs' upstream (T×N×H), then ∂L/∂h_n (and ∂L/∂c_n)."""
    state = problem.h0.shape
    rows = [problem.step_major(problem.upstream)]
    rows.append((_zeros(state) if problem.upstream_h_n is None else problem.upstream_h_n)[None])
    if problem.cell == "lstm":
        rows.append((_zeros(state) if problem.upstream_c_n is None else problem.upstream_c_n)[None])
    return np.concatenate(rows)


def run(problem: RnnProblem, options: common.SolveOptions) -> Run:
    """Forward over every step and backpropagation through time, exactly for a relu rnn
    within the exact limit, else in float64 (the adapter decides)."""
    exact = not options.force_float and problem.work <= options.limits.exact_work
    op = op_for(problem.cell, problem.nonlinearity)
    y, trace = adapter.forward(
        op, problem.steps, op_params(problem), exact=exact, float64=adapter.each_rounded
    )
    grad_y = adapter.as_run(stacked_upstream(problem), trace)
    grads = adapter.backward(grad_y, trace)
    count = problem.shape[0]
    results: dict[str, Any] = {
        "output": problem.as_written(y[:count]),
        "h_n": y[count],
    }
    if problem.cell == "lstm":
        results["c_n"] = y[count + 1]
    results["grad_input"] = problem.as_written(grads["input"])
    results["grad_h0"] = grads["h0"]
    if problem.cell == "lstm":
        results["grad_c0"] = grads["c0"]
    for key in PARAMETERS:
        if key in grads:
            results[f"grad_{key}"] = grads[key]
    results["grad_h"] = problem.as_written(grads["h"])
    recorded = RnnTrace(cache=trace.cache, grads=grads, grad_y=grad_y, exact=trace.exact)
    return Run(results=results, trace=recorded, exact=trace.exact)


def float_loss(problem: RnnProblem, values: Mapping[str, np.ndarray]) -> float:
    """L = Σ upstream ⊙ (outputs, h_n, c_n) in float64 for ``values`` (input step-major,
    h0, c0, weights, biases), for finite differences."""
    params = {**op_params(problem), **{k: v for k, v in values.items() if k != "input"}}
    params = {k: (v.astype(float) if isinstance(v, np.ndarray) else v) for k, v in params.items()}
    y, _ = forward(values["input"], params)
    return float(np.sum(stacked_upstream(problem).astype(float) * y))


def finite_differences(problem: RnnProblem, run: Run) -> GradientCheck | None:
    """Every gradient against float64 central differences of L; a relu rnn with a
    pre-activation at its kink (0) is not checked there (relu has no derivative at 0)."""
    results = run.results
    values = {"input": problem.steps.astype(float), "h0": problem.h0.astype(float)}
    analytic = {
        "input": problem.step_major(np.asarray(results["grad_input"])),
        "h0": results["grad_h0"],
    }
    if problem.cell == "lstm":
        values["c0"], analytic["c0"] = problem.c0.astype(float), results["grad_c0"]
    for key in PARAMETERS:
        if getattr(problem, key) is not None:
            values[key], analytic[key] = getattr(problem, key).astype(float), results[f"grad_{key}"]
    probe: dict[str, np.ndarray] = {}
    because = ""
    if problem.cell == "rnn" and problem.nonlinearity == "relu":
        steps = run.trace.cache["steps"]
        pre = np.stack([np.asarray(s["ai"] + s["ah"], dtype=float) for s in steps])
        if near(pre, (0.0,)).any():
            probe = {key: np.zeros(np.shape(value), dtype=bool) for key, value in values.items()}
            because = "a pre-activation sits at relu's kink at 0, where relu has no derivative"
    upstream = np.abs(stacked_upstream(problem).astype(float))
    size = float(
        np.sum(
            upstream
            * (1 + np.abs(np.asarray(run.trace.cache["steps"][-1]["h"], dtype=float)).max())
        )
    )
    analytic = {k: np.asarray(v, dtype=float) for k, v in analytic.items()}
    return check_gradients_where(
        lambda p: float_loss(problem, p),
        values,
        analytic,
        probe,
        max_entries=probes_for(problem.work + problem.shape[0] * STEP_OVERHEAD),
        skipped_because=because,
        scale=max(size, 1.0),
    )
