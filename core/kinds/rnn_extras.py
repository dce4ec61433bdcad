"""The rnn kind's usual mistakes (``usual_mistakes(spec)``, for ``gradcalc check``) and its
practice profile (``PRACTICE``, for ``gradcalc random rnn``), which core/registry.py's
kind_part reads here (rnn's catalog entry names this module in its ``parts``).

A slip of backpropagation through time is run by :func:`slipped`: the float64 op's forward,
then a backward written out here with one step changed (the gradient from step t+1
dropped, the parameter gradients of the last step only, tanh′ as 1 − tanh), or the op run
with the gate blocks of the weights read in another order.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.mistakes import Variant as Mistake
from gradcalc.core.kinds.mistakes import forgot_upstream
from gradcalc.core.kinds.profile import BATCH, Draw, Knob, Profile, Variant
from gradcalc.core.ops import recurrent

PARAMETER_GRADS = ("grad_weight_ih", "grad_weight_hh", "grad_bias_ih", "grad_bias_hh")
GRADIENTS = ("grad_input", "grad_h0", "grad_c0", *PARAMETER_GRADS, "grad_h")
# A gate order someone may read PyTorch's rows in: cs231n's LSTM (i, f, o, g), Keras's GRU
# (z, r, n); as the position in PyTorch's order of each block read.
MIXED_ORDER = {"lstm": ((0, 1, 3, 2), "i, f, o, g"), "gru": ((1, 0, 2), "z, r, n")}


def _backward_slipped(cache: Mapping[str, Any], grad_y: np.ndarray, slip: str) -> dict[str, Any]:
    """recurrent.backward with one slip: "next" drops the gradient from step t+1, "last"
    keeps the parameter gradients of step T−1 only, "tanh" takes tanh′ as 1 − tanh."""
    x, count = cache["input"], cache["input"].shape[0]
    lstm = cache["cell"] == "lstm"
    dh_next, dc = grad_y[count], grad_y[count + 1] if lstm else None
    sums: dict[str, Any] = {key: 0 for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
    dx, dh_all = [None] * count, [None] * count
    for t in reversed(range(count)):
        dh = grad_y[t] + dh_next
        step = recurrent._gate_grads(cache, t, dh, dc)
        if slip == "tanh":
            h = cache["steps"][t]["gates"]
            step["dai"] = step["dah"] = dh * (1 - h)
        h_prev = cache["steps"][t - 1]["h"] if t else cache["h0"]
        if slip != "last" or t == count - 1:
            sums["weight_ih"] = sums["weight_ih"] + step["dai"].T @ x[t]
            sums["weight_hh"] = sums["weight_hh"] + step["dah"].T @ h_prev
            sums["bias_ih"] = sums["bias_ih"] + step["dai"].sum(axis=0)
            sums["bias_hh"] = sums["bias_hh"] + step["dah"].sum(axis=0)
        dx[t] = step["dai"] @ cache["weight_ih"]
        dh_next = step["dah"] @ cache["weight_hh"]
        if step["direct"] is not None:
            dh_next = dh_next + step["direct"]
        # The slip drops what step t+1 sends to h_t (and c_t); what the first step sends
        # to h0 (c0) is still ∂L/∂h0 (cs231n's rnn_backward returns it as dh0), not zero.
        forgets = slip == "next" and t > 0
        if forgets:
            dh_next = 0 * dh_next
        dc = (0 * dh if forgets else step.get("dc_prev")) if lstm else None
        dh_all[t] = dh
    out = {"input": np.stack(dx), "h0": dh_next, "h": np.stack(dh_all), **sums}
    if lstm:
        out["c0"] = dc
    return out


def slipped(spec: Mapping[str, Any], slip: str) -> dict[str, Any] | None:
    """The results with ``slip`` ("next", "last", "tanh" or "order"), in float64; None when
    the spec cannot be read."""
    from gradcalc.core.kinds import rnn

    try:
        problem = rnn.read(spec, common.Limits())
    except SpecError:
        return None
    params = {
        key: (value.astype(float) if isinstance(value, np.ndarray) else value)
        for key, value in rnn.op_params(problem).items()
    }
    grad_y = rnn.stacked_upstream(problem).astype(float)
    x = problem.steps.astype(float)
    if slip == "order":
        return _mixed_order(problem, params, x, grad_y)
    _, cache = recurrent.forward(x, params)
    return _as_results(problem, _backward_slipped(cache, grad_y, slip))


def _mixed_order(problem: Any, params: dict, x: np.ndarray, grad_y: np.ndarray) -> dict:
    """The gates' blocks read in MIXED_ORDER: the same rows, each used as another gate."""
    order, _ = MIXED_ORDER[problem.cell]
    hidden = problem.hidden
    rows = np.concatenate([np.arange(k * hidden, (k + 1) * hidden) for k in order])
    for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if params.get(key) is not None:
            params[key] = params[key][rows]
    _, cache = recurrent.forward(x, params)
    grads = recurrent.backward(grad_y, cache)
    back = np.argsort(rows)
    for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if key in grads:
            grads[key] = grads[key][back]
    return _as_results(problem, grads)


def _as_results(problem: Any, grads: Mapping[str, Any]) -> dict[str, Any]:
    results = {
        "grad_input": problem.as_written(grads["input"]),
        "grad_h0": grads["h0"],
        "grad_h": problem.as_written(grads["h"]),
    }
    if "c0" in grads:
        results["grad_c0"] = grads["c0"]
    for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        if getattr(problem, key) is not None:
            results[f"grad_{key}"] = grads[key]
    return results


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """BPTT's slips: the gradient from step t+1 forgotten, the parameter gradients not summed
    over time, tanh′ as 1 − tanh (tanh rnn), the gate order mixed up (lstm, gru); then the
    upstream forgotten."""
    cell = spec.get("cell", "rnn")
    nonlinearity = spec.get("nonlinearity", "tanh")
    mistakes = [
        Mistake(
            "gradient from step t+1 forgotten",
            "{name} matches backpropagation through time without the gradient arriving from "
            "step t+1: ∂L/∂h_t is the output's upstream plus what step t+1 sends back through "
            "W_hh (and ∂L/∂c_t gets f_(t+1)·∂L/∂c_(t+1))",
            rerun=lambda _limits: slipped(spec, "next"),
            results=GRADIENTS,
            slip="the gradient from step t+1 was dropped",
        ),
        Mistake(
            "not summed over time",
            "{name} matches the gradient of the last step alone: the weights are shared by "
            "every step, so their gradients are sums over t = 0 … T−1",
            rerun=lambda _limits: slipped(spec, "last"),
            results=PARAMETER_GRADS,
            slip="only the last step's parameter gradient was kept",
        ),
    ]
    if cell == "rnn" and nonlinearity == "tanh":
        mistakes.append(
            Mistake(
                "tanh′ written wrong",
                "{name} matches tanh′(a) taken as 1 − tanh(a): it is 1 − tanh(a)² = 1 − h²",
                rerun=lambda _limits: slipped(spec, "tanh"),
                results=GRADIENTS,
                slip="tanh′ was taken as 1 − h",
            )
        )
    if cell in MIXED_ORDER:
        words = "i, f, g, o" if cell == "lstm" else "r, z, n"
        mistakes.append(
            Mistake(
                "gate order mixed up",
                "{name} matches the weights' row blocks read as gates "
                f"{MIXED_ORDER[cell][1]}: PyTorch stacks them as {words}",
                rerun=lambda _limits: slipped(spec, "order"),
                results=GRADIENTS,
                slip="the gate blocks were read in another order",
            )
        )
    return mistakes + forgot_upstream(spec, GRADIENTS)


# ---------------------------------------------------------------------------
# Practice profile (gradcalc random rnn)

CELL = Knob(
    "cell",
    "choice",
    "rnn, lstm or gru (default: rnn)",
    default="rnn",
    field="cell",
    choices=("rnn", "lstm", "gru"),
    label="{} cell",
)
NONLINEARITY = Knob(
    "nonlinearity",
    "choice",
    "rnn only: tanh or relu (relu: exact answers)",
    default="tanh",
    field="nonlinearity",
    choices=("tanh", "relu"),
    label="{}",
)
STEPS = Knob(
    "steps", "int", "time steps T (1: one step, N×I)", default=2, maximum=5, label="T = {}"
)
INPUTS = Knob("inputs", "int", "input features I", default=2, maximum=4, label="I = {}")
HIDDEN = Knob("hidden", "int", "hidden units H", default=2, maximum=4, label="H = {}")
_WEIGHT = Draw(-2, 2, denominator=2)


def _gate_rows(fields: dict[str, Any], _values: Mapping[str, Any]) -> dict[str, Any]:
    """Weights and biases drawn as G×H×… blocks, stacked into PyTorch's G·H rows."""
    for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        blocks = fields[key]
        fields[key] = [row for block in blocks for row in block]
    return fields


def _variant(gates: int, knobs: tuple[Knob, ...]) -> Variant:
    return Variant(
        knobs,
        {
            "input": ("steps?", "batch", "inputs"),
            "weight_ih": (gates, "hidden", "inputs"),
            "weight_hh": (gates, "hidden", "hidden"),
            "bias_ih": (gates, "hidden"),
            "bias_hh": (gates, "hidden"),
        },
        {key: _WEIGHT for key in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")}
        | {"input": Draw(-2, 2)},
        decimals=True,
        adjust=_gate_rows,
    )


_SIZES = (STEPS, BATCH, INPUTS, HIDDEN)
PRACTICE = Profile(
    {
        "rnn": _variant(1, (*_SIZES, NONLINEARITY)),
        "lstm": _variant(4, _SIZES),
        "gru": _variant(3, _SIZES),
    },
    by=CELL,
)
