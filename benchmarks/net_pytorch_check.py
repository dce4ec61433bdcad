"""Cross-check `gradcalc net` against PyTorch (float64): every result of every spec given.

Run with a Python that has torch (not a gradcalc dependency), e.g.

    /work/torchenv/bin/python benchmarks/net_pytorch_check.py problems/net_*.yaml \
        problems/seed003_net_*.yaml --gradcalc .venv/bin/gradcalc

For each spec it builds the same network in torch (Conv2d, MaxPool2d/AvgPool2d, Linear,
activations, softmax/log_softmax, flatten, Embedding, RNN/LSTM/GRU and their cells, the loss,
cross-entropy over time steps with a mask as cs231n's temporal_softmax_loss), runs forward and
backward in float64,
runs `gradcalc net --spec F --format json --decimal` exactly and with --float, and prints the
largest difference per spec.  Exit 1 when any differs by more than 1e-9 (relative), or when
the two name different results.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F
import yaml

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu")


def tensor(value, grad=False):
    def num(v):
        return float(Fraction(v)) if isinstance(v, str) else float(v)

    array = np.vectorize(num, otypes=[float])(np.array(value, dtype=object))
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


def normalise(layers):
    out, counts = [], {}
    for item in layers:
        if isinstance(item, str):
            layer = (
                {"type": "activation", "function": item}
                if item in ACTIVATIONS
                else {"type": "flatten"}
                if item == "flatten"
                else {"type": "softmax", "function": item}
            )
        else:
            layer = dict(item)
        counts[layer["type"]] = counts.get(layer["type"], 0) + 1
        layer.setdefault("name", f"{layer['type']}{counts[layer['type']]}")
        out.append(layer)
    return out


def pair(v):
    return tuple(v) if isinstance(v, list) else (v, v)


RNN_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")


def recurrent(layer, x, params):
    """nn.RNN/LSTM/GRU over a sequence (T×N×I, or N×T×I with batch_first), or their cell for
    one step (N×I), with the layer's own tensors as the module's parameters; returns every
    step's h (the sequence) or h' (a step), as an rnn layer of `gradcalc net` passes on."""
    from torch.func import functional_call

    cell = layer.get("cell", "rnn")
    w_ih = params[layer["name"] + ".weight_ih"]
    hidden, inputs = w_ih.shape[0] // {"rnn": 1, "gru": 3, "lstm": 4}[cell], w_ih.shape[1]
    given = {key: params.get(f"{layer['name']}.{key}") for key in RNN_PARAMETERS}
    bias = given["bias_ih"] is not None or given["bias_hh"] is not None
    for key in ("bias_ih", "bias_hh"):
        if bias and given[key] is None:  # the other one given: this one is zeros
            given[key] = torch.zeros(w_ih.shape[0], dtype=torch.float64)
    step = x.dim() == 2
    options = {"bias": bias}
    if cell == "rnn":
        options["nonlinearity"] = layer.get("nonlinearity", "tanh")
    if not step:
        options["batch_first"] = bool(layer.get("batch_first", False))
    module = getattr(
        torch.nn, {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM"}[cell] + ("Cell" if step else "")
    )
    module = module(inputs, hidden, **options).double()
    suffix = "" if step else "_l0"
    weights = {f"{key}{suffix}": value for key, value in given.items() if value is not None}
    state = [tensor(layer[key]) for key in ("h0", "c0") if layer.get(key) is not None]
    if state and not step:
        state = [s.unsqueeze(0) for s in state]  # num_layers × N × H
    if cell == "lstm" and state:
        zeros = torch.zeros_like(state[0])
        state = (state[0], state[1] if len(state) > 1 else zeros)
    arguments = (x,) if not state else (x, state if cell == "lstm" else state[0])
    out = functional_call(module, weights, arguments)
    if step:
        return out[0] if cell == "lstm" else out
    return out[0]


def apply(layer, x, params):
    kind = layer["type"]
    if kind == "embedding":
        padding = layer.get("padding_idx")
        return F.embedding(x, params[layer["name"] + ".weight"], padding_idx=padding)
    if kind == "rnn":
        return recurrent(layer, x, params)
    if kind == "conv":
        kernel = params[layer["name"] + ".kernel"]
        bias = params.get(layer["name"] + ".bias")
        return F.conv2d(
            x,
            kernel,
            bias,
            stride=pair(layer.get("stride", 1)),
            padding=pair(layer.get("padding", 0)),
        )
    if kind == "dense":
        return F.linear(x, params[layer["name"] + ".weight"], params.get(layer["name"] + ".bias"))
    if kind == "pool":
        size = pair(layer["size"])
        stride = pair(layer.get("stride", layer["size"]))
        if layer["mode"] == "max":
            return F.max_pool2d(x, size, stride)
        return F.avg_pool2d(x, size, stride)
    if kind == "flatten":
        return torch.flatten(x, start_dim=1)
    if kind == "softmax":
        return (F.log_softmax if layer.get("function") == "log_softmax" else F.softmax)(x, dim=-1)
    function = layer["function"]
    return (
        getattr(torch, function)(x) if function in ("sigmoid", "tanh") else getattr(F, function)(x)
    )


def loss_of(spec, y):
    loss = spec["loss"]
    kind, reduction = loss["type"], loss.get("reduction", "mean")
    if loss.get("temporal") not in (None, False):
        # cs231n's temporal_softmax_loss: scores N×T×V, targets N×T, the steps a mask counts
        # summed, a mean divided by the N sequences (not by the counted steps)
        target = torch.tensor(loss["target"], dtype=torch.long)
        mask = torch.ones(target.shape) if loss["temporal"] is True else tensor(loss["temporal"])
        steps = F.cross_entropy(y.flatten(0, 1), target.flatten(), reduction="none")
        total = (steps * mask.flatten()).sum()
        return total / y.shape[0] if reduction == "mean" else total
    if kind in ("cross_entropy", "nll"):
        target = torch.tensor(loss["target"], dtype=torch.long)
        function = F.cross_entropy if kind == "cross_entropy" else F.nll_loss
        return function(y, target, reduction=reduction)
    target = tensor(loss["target"])
    return {"mse": F.mse_loss, "bce": F.binary_cross_entropy}[kind](y, target, reduction=reduction)


def torch_results(spec):
    layers = normalise(spec["layers"])
    embedded = layers[0]["type"] == "embedding"  # the net's input is its indices
    x = torch.tensor(spec["input"]) if embedded else tensor(spec["input"], grad=True)
    params = {}
    for layer in layers:
        for key in ("kernel", "weight", "bias", *RNN_PARAMETERS):
            if layer.get(key) is not None:
                params[f"{layer['name']}.{key}"] = tensor(layer[key], grad=True)
    outputs, value = {}, x
    for layer in layers:
        value = apply(layer, value, params)
        value.retain_grad()
        outputs[layer["name"]] = value
    loss = (
        loss_of(spec, value) if "loss" in spec else (value * tensor(spec.get("upstream", 1))).sum()
    )
    loss.backward()
    results = {"output": value} if embedded else {"output": value, "grad_input": x.grad}
    if "loss" in spec:
        results["loss"] = loss
    for name, out in outputs.items():
        results[f"{name}.output"] = out
        results[f"{name}.grad_output"] = out.grad
    for key, param in params.items():
        name, what = key.rsplit(".", 1)
        results[f"{name}.grad_{what}"] = param.grad
    return {k: v.detach().numpy() for k, v in results.items()}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("specs", nargs="+")
    parser.add_argument("--gradcalc", default="gradcalc")
    args = parser.parse_args()
    worst = 0.0
    for path in args.specs:
        spec = yaml.safe_load(open(path, encoding="utf-8"))
        expected = torch_results(spec)
        for extra in ([], ["--float"]):
            command = [
                args.gradcalc,
                "net",
                "--spec",
                path,
                "--format",
                "json",
                "--decimal",
                *extra,
            ]
            done = subprocess.run(command, capture_output=True, text=True)
            got = json.loads(done.stdout)["results"]
            missing = set(expected) ^ set(got)
            error = max(
                float(
                    np.max(
                        np.abs(np.array(got[k], dtype=float) - v) / np.maximum(1, np.abs(v)),
                        initial=0,
                    )
                )
                for k, v in expected.items()
            )
            worst = max(worst, error)
            label = "float" if extra else "exact"
            print(
                f"{path} ({label}): {len(expected)} results, largest relative difference {error:.1e}"
                + (f"; keys differ: {sorted(missing)}" if missing else "")
            )
            if missing:
                worst = float("inf")
    print(f"worst: {worst:.1e}")
    return 0 if worst <= 1e-9 else 1


if __name__ == "__main__":
    sys.exit(main())
