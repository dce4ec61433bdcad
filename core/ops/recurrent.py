"""Recurrent layers (PyTorch's nn.RNN, nn.LSTM, nn.GRU; one layer, one direction) over T
steps, forward and backpropagation through time.

Arrays: input ``x`` T×N×I, ``weight_ih`` G·H×I, ``weight_hh`` G·H×H, ``bias_ih`` and
``bias_hh`` G·H (or None), ``h0`` N×H and, for an LSTM, ``c0`` N×H; G is the number of
gates (1 for rnn, 4 for lstm in PyTorch's order i, f, g, o, 3 for gru in the order r, z,
n).  At every step the two affine parts are ai = x_t·W_ihᵀ + b_ih and ah = h_{t−1}·W_hhᵀ
+ b_hh (both N×G·H), and

- rnn:  h_t = act(ai + ah) (act = tanh or relu);
- lstm: i, f, o = σ(ai + ah) on their rows, g = tanh(ai + ah), c_t = f⊙c_{t−1} + i⊙g,
  h_t = o⊙tanh(c_t);
- gru:  r, z = σ(ai + ah) on their rows, n = tanh(ai_n + r⊙ah_n),
  h_t = (1 − z)⊙n + z⊙h_{t−1} (PyTorch's GRU: r multiplies W_hn·h + b_hn, bias included).

The op's output ``y`` stacks the states the layer gives: the T outputs h_1 … h_T, then h_n
(= h_T) and, for an LSTM, c_n: (T+1)×N×H or (T+2)×N×H.  Its ∂L/∂y has the same stack, so
an upstream on the outputs and one on h_n (c_n) arrive together.

Only the loop over time is Python; each step is matrix products over the batch.  tanh and σ
are irrational (float64); a relu rnn is piecewise linear and runs on exact values (object
arrays of Fractions) as written: its slope is decided on them, the products are NumPy's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.exact import DIGIT_BITS, ExactLimitError, bilinear_exact
from gradcalc.core.ops import Cache, Exactness, Op, Params
from gradcalc.core.spec import EXACT_DIGITS

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
GATE_NAMES = {"rnn": ("h",), "lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}


def sigmoid(a: np.ndarray) -> np.ndarray:
    """σ(a) = 1/(1 + exp(−a)) in float64: exp(−a) overflows to inf only where σ(a) is below
    the smallest float (a < −709), and 1/inf is 0 there; accurate to a few ulps elsewhere."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-a))


def _activate(cell: str, nonlinearity: str, pre: np.ndarray, hidden: int) -> np.ndarray:
    """The gates' values from their pre-activations ai + ah (N×G·H; gru: its n rows are
    filled in by the caller)."""
    if cell == "rnn":
        return np.tanh(pre) if nonlinearity == "tanh" else np.maximum(pre, 0) * 1
    gates = np.empty_like(pre)
    if cell == "lstm":
        gates[:, : 2 * hidden] = sigmoid(pre[:, : 2 * hidden])
        gates[:, 2 * hidden : 3 * hidden] = np.tanh(pre[:, 2 * hidden : 3 * hidden])
        gates[:, 3 * hidden :] = sigmoid(pre[:, 3 * hidden :])
    else:
        gates[:, : 2 * hidden] = sigmoid(pre[:, : 2 * hidden])
    return gates


def _dot(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """left @ right (2-D); on exact values (a relu rnn's object arrays of Fractions) through
    core/exact.py's integer products: Fraction objects multiplied one by one took 29 s for a
    layer at the exact-work limit, and the integer path also enforces EXACT_COST."""
    if left.dtype != object and right.dtype != object:
        return left @ right
    return bilinear_exact(np.matmul, left, right, terms_per_output=left.shape[-1])


def _bounded(values: np.ndarray, what: str) -> None:
    """Refuse an exact (object) N×H state whose numerators or denominators pass
    EXACT_DIGITS digits.  A relu rnn multiplies by W_hh at every step, so W_hh = 1/3 over
    T steps makes denominators of 3^T: without this cap a long sequence would hold T such
    numbers (gigabytes at T = 100,000) instead of stopping with a hint to use --float."""
    if values.dtype != object:
        return
    for value in values.flat:
        bits = max(
            abs(getattr(value, "numerator", value)).bit_length(),
            getattr(value, "denominator", 1).bit_length(),
        )
        if bits > DIGIT_BITS:
            raise ExactLimitError(what.format(f"more than {EXACT_DIGITS:,} digits"))


def _step(p: Params, ai: np.ndarray, h: np.ndarray, c: Any) -> dict[str, Any]:
    """One step: ai = x_t·W_ihᵀ + b_ih (N×G·H, every step's computed at once), h (and c)
    N×H -> {"ai", "ah": N×G·H, "gates": N×G·H, "h", "c"}."""
    cell, hidden = p["cell"], p["weight_hh"].shape[1]
    ah = _dot(h, p["weight_hh"].T)
    if p.get("bias_hh") is not None:
        ah = ah + p["bias_hh"]
    step: dict[str, Any] = {"ai": ai, "ah": ah, "c": None}
    if cell == "gru":
        gates = _activate(cell, "", ai + ah, hidden)
        r = gates[:, :hidden]
        gates[:, 2 * hidden :] = np.tanh(ai[:, 2 * hidden :] + r * ah[:, 2 * hidden :])
        z, n = gates[:, hidden : 2 * hidden], gates[:, 2 * hidden :]
        step["h"] = (1 - z) * n + z * h
    else:
        gates = _activate(cell, p.get("nonlinearity", "tanh"), ai + ah, hidden)
        if cell == "rnn":
            step["h"] = gates
        else:
            i, f = gates[:, :hidden], gates[:, hidden : 2 * hidden]
            g, o = gates[:, 2 * hidden : 3 * hidden], gates[:, 3 * hidden :]
            step["c"] = f * c + i * g
            step["tanh_c"] = np.tanh(step["c"])
            step["h"] = o * step["tanh_c"]
    step["gates"] = gates
    return step


def forward(x: np.ndarray, params: Params) -> tuple[np.ndarray, Cache]:
    """x: T×N×I; params cell, nonlinearity, weight_ih, weight_hh, bias_ih, bias_hh (or
    None), h0 (N×H), c0 (N×H, lstm) -> y: (T+1)×N×H (outputs then h_n) or (T+2)×N×H (lstm:
    then c_n); cache: the params, x and every step's record."""
    h, c = params["h0"], params.get("c0")
    count, batch, inputs = x.shape
    # The input's part of every step at once: one product instead of T small ones.
    ai_all = _dot(x.reshape(count * batch, inputs), params["weight_ih"].T)
    ai_all = ai_all.reshape(count, batch, -1)
    if params.get("bias_ih") is not None:
        ai_all = ai_all + params["bias_ih"]
    steps = []
    for t in range(count):
        step = _step(params, ai_all[t], h, c)
        steps.append(step)
        h, c = step["h"], step["c"]
        _bounded(h, f"hidden states of {{}} after {t + 1} steps")
    outputs = [step["h"] for step in steps]
    stacked = [*outputs, h] + ([c] if params["cell"] == "lstm" else [])
    return np.stack(stacked), {**params, "input": x, "steps": steps}


def _gate_grads(cache: Cache, t: int, dh: np.ndarray, dc: Any) -> dict[str, Any]:
    """∂L/∂(ai), ∂L/∂(ah) (N×G·H) of step t given ∂L/∂h_t (N×H), and for an LSTM ∂L/∂c_t
    arriving from step t+1 (N×H); also ∂L/∂c_t in total and the part of ∂L/∂h_{t−1} that
    bypasses W_hh (gru's z⊙…)."""
    cell, step = cache["cell"], cache["steps"][t]
    gates, hidden = step["gates"], cache["weight_hh"].shape[1]
    h_prev = cache["steps"][t - 1]["h"] if t else cache["h0"]
    out: dict[str, Any] = {"direct": None, "dc": None}
    if cell == "rnn":
        if cache.get("nonlinearity", "tanh") == "tanh":
            da = dh * (1 - gates * gates)
        else:
            da = dh * ((step["ai"] + step["ah"]) > 0)
        out["dai"] = out["dah"] = da
        return out
    if cell == "lstm":
        c_prev = cache["steps"][t - 1]["c"] if t else cache["c0"]
        i, f, g, o = (gates[:, k * hidden : (k + 1) * hidden] for k in range(4))
        tanh_c = step["tanh_c"]
        dc_total = dc + dh * o * (1 - tanh_c * tanh_c)
        d_gates = (dc_total * g, dc_total * c_prev, dc_total * i, dh * tanh_c)
        slopes = (i * (1 - i), f * (1 - f), 1 - g * g, o * (1 - o))
        da = np.concatenate([d * s for d, s in zip(d_gates, slopes, strict=True)], axis=1)
        out.update(dai=da, dah=da, dc=dc_total, dc_prev=dc_total * f)
        return out
    r, z, n = (gates[:, k * hidden : (k + 1) * hidden] for k in range(3))
    ah_n = step["ah"][:, 2 * hidden :]
    dan = dh * (1 - z) * (1 - n * n)
    dar = dan * ah_n * r * (1 - r)
    daz = dh * (h_prev - n) * z * (1 - z)
    out["dai"] = np.concatenate([dar, daz, dan], axis=1)
    out["dah"] = np.concatenate([dar, daz, dan * r], axis=1)
    out["direct"] = dh * z
    return out


def backward(grad_y: np.ndarray, cache: Cache) -> dict[str, Any]:
    """grad_y: (T+1)×N×H or (T+2)×N×H (as y) -> {"input": T×N×I, "h0", "c0": N×H,
    "weight_ih", "weight_hh", "bias_ih", "bias_hh" (summed over time and the batch),
    "h": ∂L/∂h_t T×N×H (from the output and from step t+1), "c": ∂L/∂c_t (lstm), and
    "steps": each step's {"dai", "dah", …} for the explanation}.

    Only ∂L/∂h_(t−1) needs the loop; the products with x and h_(t−1) that give ∂L/∂x and
    the weights' gradients run once over every step afterwards."""
    x, steps = cache["input"], cache["steps"]
    count, batch, inputs = x.shape
    lstm = cache["cell"] == "lstm"
    dh_next = grad_y[count]  # ∂L/∂h_n
    dc = grad_y[count + 1] if lstm else None
    dh_all, dc_all, records = [None] * count, [None] * count, [None] * count
    for t in reversed(range(count)):
        dh = grad_y[t] + dh_next
        step = _gate_grads(cache, t, dh, dc)
        dh_next = _dot(step["dah"], cache["weight_hh"])
        if step["direct"] is not None:
            dh_next = dh_next + step["direct"]
        _bounded(dh_next, f"gradients ∂L/∂h of {{}} {count - t} steps back from the last")
        if lstm:
            dc_all[t], dc = step["dc"], step["dc_prev"]
        dh_all[t], records[t] = dh, step
    rows = cache["weight_hh"].shape[0]
    dai = np.stack([step["dai"] for step in records]).reshape(count * batch, rows)
    dah = np.stack([step["dah"] for step in records]).reshape(count * batch, rows)
    h_prev = np.stack([cache["h0"], *(step["h"] for step in steps[:-1])])
    grads: dict[str, Any] = {
        "weight_ih": _dot(dai.T, x.reshape(count * batch, inputs)),
        "weight_hh": _dot(dah.T, h_prev.reshape(count * batch, -1)),
        "input": _dot(dai, cache["weight_ih"]).reshape(count, batch, inputs),
        "h0": dh_next,
        "h": np.stack(dh_all),
        "steps": records,
    }
    if cache.get("bias_ih") is not None:
        grads["bias_ih"] = dai.sum(axis=0)
    if cache.get("bias_hh") is not None:
        grads["bias_hh"] = dah.sum(axis=0)
    if lstm:
        grads.update(c0=dc, c=np.stack(dc_all))
    return grads


RECURRENT = Op(
    name="recurrent",
    exactness=Exactness.IRRATIONAL,  # tanh and σ
    forward=forward,
    backward=backward,
)

# A relu rnn: h_t = max(ai + ah, 0) is piecewise linear, so on exact values (Fractions) it
# runs exactly as written (the adapter's "everything else" path: no products declared).
RECURRENT_RELU = Op(
    name="recurrent_relu",
    exactness=Exactness.PIECEWISE,
    forward=forward,
    backward=backward,
)


def op_for(cell: str, nonlinearity: str) -> Op:
    """The op that runs this cell: exact for a relu rnn, float64 otherwise."""
    return RECURRENT_RELU if cell == "rnn" and nonlinearity == "relu" else RECURRENT
