"""Cross-check `gradcalc net` against PyTorch (float64): every result of every spec given.

Run with a Python that has torch (not a gradcalc dependency), e.g.

    /work/torchenv/bin/python benchmarks/net_pytorch_check.py problems/net_*.yaml \
        problems/seed003_net_*.yaml --gradcalc .venv/bin/gradcalc

For each spec it builds the same network in torch (Conv2d, MaxPool2d/AvgPool2d, Linear,
activations, softmax/log_softmax, flatten, the loss), runs forward and backward in float64,
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


def apply(layer, x, params):
    kind = layer["type"]
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
    if kind in ("cross_entropy", "nll"):
        target = torch.tensor(loss["target"], dtype=torch.long)
        function = F.cross_entropy if kind == "cross_entropy" else F.nll_loss
        return function(y, target, reduction=reduction)
    target = tensor(loss["target"])
    return {"mse": F.mse_loss, "bce": F.binary_cross_entropy}[kind](y, target, reduction=reduction)


def torch_results(spec):
    layers = normalise(spec["layers"])
    x = tensor(spec["input"], grad=True)
    params = {}
    for layer in layers:
        for key in ("kernel", "weight", "bias"):
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
    results = {"output": value, "grad_input": x.grad}
    if "loss" in spec:
        results["loss"] = loss
    for name, out in outputs.items():
        results[f"{name}.output"] = out
        results[f"{name}.grad_output"] = out.grad
    for key, param in params.items():
        name, what = key.split(".")
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
