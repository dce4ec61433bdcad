"""Cross-check the rnn kind against PyTorch (float64): random rnn (tanh, relu), lstm and gru
problems (lengths, batches, sizes, batch_first, one step, with and without biases, h0, c0 and
the upstreams on h_n and c_n), solved by gradcalc in-process (a relu rnn exactly, the others in
float64) against torch.nn.RNN/LSTM/GRU with autograd in float64: every result.  Prints the worst
difference per cell and overall; exit 1 above 1e-9 (relative to 1 + |value|).

Run from the repo root with a Python that has torch (not a gradcalc dependency); gradcalc is
imported as the package ``gradcalc`` (``PYTHONPATH=/tmp/p`` with /tmp/p/gradcalc a link to the
repo).  Without torch it says so and exits 0.

    python benchmarks/rnn_pytorch_check.py [--problems 200]
"""

from __future__ import annotations

import argparse
import random
import sys
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

try:
    import torch
except ImportError as error:  # torch is optional
    torch = None
    MISSING = str(error)

GATES = {"rnn": 1, "lstm": 4, "gru": 3}


def draw(rng: random.Random) -> dict[str, Any]:
    cell = rng.choice(["rnn", "rnn", "lstm", "gru"])
    count, batch, inputs, hidden = (rng.randint(1, 4) for _ in range(4))
    rows = GATES[cell] * hidden

    def grid(*shape: int) -> Any:
        return np.asarray([rng.uniform(-1.5, 1.5) for _ in range(int(np.prod(shape)))]).reshape(
            shape
        )

    single = count == 1 and rng.random() < 0.5
    batch_first = not single and rng.random() < 0.3
    case = {
        "cell": cell,
        "nonlinearity": rng.choice(["tanh", "relu"]) if cell == "rnn" else "tanh",
        "x": grid(count, batch, inputs),
        "weight_ih": grid(rows, inputs),
        "weight_hh": grid(rows, hidden),
        "bias": rng.random() < 0.8,
        "bias_ih": grid(rows),
        "bias_hh": grid(rows),
        "h0": grid(batch, hidden) if rng.random() < 0.7 else np.zeros((batch, hidden)),
        "c0": grid(batch, hidden),
        "up": grid(count, batch, hidden),
        "up_h": grid(batch, hidden) if rng.random() < 0.5 else None,
        "up_c": grid(batch, hidden) if cell == "lstm" and rng.random() < 0.5 else None,
        "single": single,
        "batch_first": batch_first,
    }
    return case


def layout(case: dict[str, Any], values: np.ndarray) -> np.ndarray:
    if case["single"]:
        return values[0]
    return values.swapaxes(0, 1) if case["batch_first"] else values


def gradcalc_results(case: dict[str, Any]) -> dict[str, Any]:
    spec = {
        "kind": "rnn",
        "cell": case["cell"],
        "input": layout(case, case["x"]).tolist(),
        "weight_ih": case["weight_ih"].tolist(),
        "weight_hh": case["weight_hh"].tolist(),
        "h0": case["h0"].tolist(),
        "upstream": layout(case, case["up"]).tolist(),
        "batch_first": case["batch_first"],
    }
    if case["cell"] == "rnn":
        spec["nonlinearity"] = case["nonlinearity"]
    if case["bias"]:
        spec.update(bias_ih=case["bias_ih"].tolist(), bias_hh=case["bias_hh"].tolist())
    if case["cell"] == "lstm":
        spec["c0"] = case["c0"].tolist()
        if case["up_c"] is not None:
            spec["upstream_c_n"] = case["up_c"].tolist()
    if case["up_h"] is not None:
        spec["upstream_h_n"] = case["up_h"].tolist()
    solution = registry.solve(spec, SolveOptions(gradient_check=False, sections=frozenset()))
    return {k: np.asarray(v, dtype=float) for k, v in solution.results.items()}


def torch_results(case: dict[str, Any]) -> dict[str, Any]:
    cell, inputs, hidden = case["cell"], case["x"].shape[2], case["weight_hh"].shape[1]
    kwargs = {"bias": case["bias"], "batch_first": case["batch_first"]}
    if cell == "rnn":
        module = torch.nn.RNN(inputs, hidden, nonlinearity=case["nonlinearity"], **kwargs)
    else:
        module = (torch.nn.LSTM if cell == "lstm" else torch.nn.GRU)(inputs, hidden, **kwargs)
    module = module.double()
    with torch.no_grad():
        module.weight_ih_l0.copy_(torch.tensor(case["weight_ih"]))
        module.weight_hh_l0.copy_(torch.tensor(case["weight_hh"]))
        if case["bias"]:
            module.bias_ih_l0.copy_(torch.tensor(case["bias_ih"]))
            module.bias_hh_l0.copy_(torch.tensor(case["bias_hh"]))
    x_steps = case["x"].swapaxes(0, 1) if case["batch_first"] else case["x"]
    x = torch.tensor(x_steps, requires_grad=True)
    h0 = torch.tensor(case["h0"][None], requires_grad=True)
    c0 = torch.tensor(case["c0"][None], requires_grad=True)
    output, state = module(x, (h0, c0) if cell == "lstm" else h0)
    up = case["up"].swapaxes(0, 1) if case["batch_first"] else case["up"]
    loss = (output * torch.tensor(up)).sum()
    h_n = state[0] if cell == "lstm" else state
    if case["up_h"] is not None:
        loss = loss + (h_n[0] * torch.tensor(case["up_h"])).sum()
    if case["up_c"] is not None:
        loss = loss + (state[1][0] * torch.tensor(case["up_c"])).sum()
    output.retain_grad()
    loss.backward()
    grad_x = x.grad.numpy()
    out_steps = output.detach().numpy()
    if case["batch_first"]:
        grad_x, out_steps = grad_x.swapaxes(0, 1), out_steps.swapaxes(0, 1)
    results = {
        "output": layout(case, out_steps),
        "h_n": h_n.detach().numpy()[0],
        "grad_input": layout(case, grad_x),
        "grad_h0": h0.grad.numpy()[0],
        "grad_weight_ih": module.weight_ih_l0.grad.numpy(),
        "grad_weight_hh": module.weight_hh_l0.grad.numpy(),
    }
    if case["bias"]:
        results.update(
            grad_bias_ih=module.bias_ih_l0.grad.numpy(), grad_bias_hh=module.bias_hh_l0.grad.numpy()
        )
    if cell == "lstm":
        results.update(c_n=state[1].detach().numpy()[0], grad_c0=c0.grad.numpy()[0])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if torch is None:
        print(f"skipped: torch is not importable ({MISSING})")
        return 0
    rng = random.Random(args.seed)
    worst: dict[str, float] = {}
    for _ in range(args.problems):
        case = draw(rng)
        ours, theirs = gradcalc_results(case), torch_results(case)
        label = case["cell"] if case["cell"] != "rnn" else f"rnn {case['nonlinearity']}"
        for name, value in theirs.items():
            gap = float(np.max(np.abs(ours[name] - value) / (1 + np.abs(value)), initial=0))
            worst[label] = max(worst.get(label, 0.0), gap)
    for label, gap in sorted(worst.items()):
        print(f"{label:10} worst relative difference {gap:.2e}")
    overall = max(worst.values())
    print(f"overall worst {overall:.2e} over {args.problems} problems (target ≤ 1e-9)")
    return 0 if overall <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
