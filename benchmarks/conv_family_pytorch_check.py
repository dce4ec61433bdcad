"""Cross-check `gradcalc conv` (1-D, 2-D and 3-D, grouped and depthwise) against PyTorch float64.

Run with a Python that has torch (not a gradcalc dependency); gradcalc is imported in-process:

    mkdir -p /tmp/me && ln -sfn "$PWD" /tmp/me/gradcalc
    PYTHONPATH=/tmp/me /work/torchenv/bin/python benchmarks/conv_family_pytorch_check.py --count 200

Draws random problems (dims 1 and 2, then --count3 of dims 3; groups 1, grouped and depthwise; stride, dilation and
asymmetric padding; optional bias and flip_kernel; fractions in the entries), solves each
exactly and with --float, runs torch.nn.functional.conv1d/conv2d forward and backward in
float64 (conv3d in 3-D) on the same numbers (the flipped kernel for flip_kernel), and prints the largest
difference of output, ∂L/∂input, ∂L/∂kernel and ∂L/∂bias.  Also checks the bundled conv
problems in problems/.  Exit 1 when any differs by more than 1e-9 (relative to the entry's
size); without torch it prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import random
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import yaml

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - run without torch
    torch = None

from gradcalc.core import registry
from gradcalc.core.spec import Limits, SolveOptions

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-9


def _number(value) -> float:
    return float(Fraction(value)) if isinstance(value, str) else float(value)


def _floats(value) -> np.ndarray:
    return np.vectorize(_number, otypes=[float])(np.array(value, dtype=object))


def random_spec(rng: random.Random, dims: int | None = None) -> dict:
    """A random conv spec, 1-D or 2-D (or ``dims``), maybe grouped or depthwise, in its
    full-axes form."""
    dims = dims or rng.choice((1, 2))
    largest = 7 if dims < 3 else 4  # a 3-D problem's exact run loops over object arrays
    groups = rng.choice((1, 1, 2, 3))
    group_in = rng.randint(1, 3)
    depthwise = rng.random() < 0.3
    group_out = rng.randint(1, 2) if not depthwise else rng.choice((1, 2))
    if depthwise:
        group_in = 1
    channels, out_channels = groups * group_in, groups * group_out
    kernel = [rng.randint(1, 4) for _ in range(dims)]
    stride = [rng.randint(1, 3) for _ in range(dims)]
    dilation = [rng.randint(1, 2) for _ in range(dims)]
    padding = [rng.randint(0, 2) for _ in range(2 * dims)]
    sizes = [
        max(rng.randint(1, largest), d * (k - 1) + 1 - padding[2 * a] - padding[2 * a + 1])
        for a, (k, d) in enumerate(zip(kernel, dilation, strict=True))
    ]

    def draw(shape):
        values = np.empty(shape, dtype=object)
        for index in np.ndindex(*shape):
            value = Fraction(rng.randint(-9, 9), rng.choice((1, 1, 2, 3, 4)))
            values[index] = str(value) if value.denominator != 1 else int(value)
        return values.tolist()

    batch = rng.randint(1, 2)
    spec = {
        "kind": "conv",
        "dims": dims,
        "input": draw((batch, channels, *sizes)),
        "kernel": draw((out_channels, group_in, *kernel)),
        "stride": stride if dims > 1 else stride[0],
        "dilation": dilation if dims > 1 else [dilation[0]],
        "padding": padding,
        "groups": groups,
        "flip_kernel": rng.random() < 0.2,
    }
    if rng.random() < 0.5:
        spec["bias"] = draw((out_channels,))
    return spec


def torch_results(spec: dict, upstream: np.ndarray) -> dict[str, np.ndarray]:
    """PyTorch's output and gradients (float64) for a spec in its full-axes form."""
    dims = spec.get("dims", 2)
    x = torch.tensor(_floats(spec["input"]), requires_grad=True)
    w = torch.tensor(_floats(spec["kernel"]), requires_grad=True)
    bias = torch.tensor(_floats(spec["bias"]), requires_grad=True) if "bias" in spec else None
    stride = spec.get("stride", 1)
    stride = tuple(stride) if isinstance(stride, list) else stride
    dilation = spec.get("dilation", 1)
    dilation = tuple(dilation) if isinstance(dilation, list) else dilation
    padding = spec.get("padding", 0)
    padding = padding if isinstance(padding, list) else [padding] * 2 * dims
    if len(padding) == dims:
        padding = [p for p in padding for _ in (0, 1)]
    # F.pad takes the last axis first: (left, right, top, bottom).
    pads = [p for a in reversed(range(dims)) for p in (padding[2 * a], padding[2 * a + 1])]
    slid = torch.flip(w, dims=tuple(range(2, 2 + dims))) if spec.get("flip_kernel") else w
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[dims]
    y = conv(
        F.pad(x, pads),
        slid,
        bias,
        stride=stride,
        dilation=dilation,
        groups=spec.get("groups", 1),
    )
    (y * torch.tensor(upstream)).sum().backward()
    found = {
        "output": y.detach().numpy(),
        "grad_input": x.grad.numpy(),
        "grad_kernel": w.grad.numpy(),
    }
    if bias is not None:
        found["grad_bias"] = bias.grad.numpy()
    return found


def compare(spec: dict, rng: random.Random, name: str) -> float:
    """The largest relative difference between gradcalc (exact and float) and torch."""
    limits = Limits(max_jacobian=0)
    exact = registry.solve(spec, SolveOptions(limits=limits)).results
    shape = tuple(exact["output_shape"])
    upstream = np.array(
        [rng.randint(-5, 5) / rng.choice((1, 2)) for _ in range(int(np.prod(shape)))]
    ).reshape(shape)
    spec = {**spec, "upstream": upstream.tolist()}
    worst = 0.0
    for force_float in (False, True):
        ours = registry.solve(spec, SolveOptions(limits=limits, force_float=force_float)).results
        theirs = torch_results(spec, upstream)
        for key, want in theirs.items():
            got = np.vectorize(float, otypes=[float])(np.asarray(ours[key], dtype=object))
            difference = np.abs(got - want) / np.maximum(1.0, np.abs(want))
            error = float(difference.max()) if difference.size else 0.0
            if error > TOLERANCE:
                print(f"{name}: {key} differs by {error:.3g} (float: {force_float})")
            worst = max(worst, error)
    return worst


def bundled() -> list[tuple[str, dict]]:
    """The bundled conv problems whose arrays have every axis (N×C×… and O×C×…)."""
    found = []
    for path in sorted((REPO / "problems").glob("*.yaml")):
        spec = yaml.safe_load(path.read_text("utf-8"))
        if not isinstance(spec, dict) or spec.get("kind") != "conv":
            continue
        dims = spec.get("dims", 1 if np.ndim(spec["input"]) == 1 else 2)
        x, w = np.array(spec["input"], dtype=object), np.array(spec["kernel"], dtype=object)
        spec = {key: value for key, value in spec.items() if key not in ("expected", "upstream")}
        spec["input"] = x.reshape((1,) * (dims + 2 - x.ndim) + x.shape).tolist()
        spec["kernel"] = w.reshape((1,) * (dims + 2 - w.ndim) + w.shape).tolist()
        spec["dims"] = dims
        if (
            spec.get("padding") in ("same", "valid")
            or "bias" in spec
            and np.ndim(spec["bias"]) == 0
        ):
            continue  # torch's padding words and a shared bias: not compared here
        found.append((path.name, spec))
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--count3", type=int, default=60, help="random 3-D problems")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if torch is None:
        print("skipped: torch is not installed in this Python (see the module docstring)")
        return 0
    rng = random.Random(args.seed)
    worst, kinds = 0.0, {"1-D": 0, "2-D": 0, "3-D": 0, "grouped": 0, "depthwise": 0}
    for number in range(args.count):
        spec = random_spec(rng)
        kinds["1-D" if spec["dims"] == 1 else "2-D"] += 1
        channels = len(spec["input"][0])
        if spec["groups"] > 1:
            kinds["depthwise" if spec["groups"] == channels else "grouped"] += 1
        worst = max(worst, compare(spec, rng, f"random {number}"))
    rng3 = random.Random(args.seed + 1)  # its own draws: the 1-D and 2-D ones stay as they were
    for number in range(args.count3):
        spec = random_spec(rng3, dims=3)
        kinds["3-D"] += 1
        channels = len(spec["input"][0])
        if spec["groups"] > 1:
            kinds["depthwise" if spec["groups"] == channels else "grouped"] += 1
        worst = max(worst, compare(spec, rng3, f"random 3-D {number}"))
    for name, spec in bundled():
        worst = max(worst, compare(spec, rng, name))
    print(
        f"{args.count + args.count3} random problems ({kinds}) and {len(bundled())} bundled ones:"
    )
    print(f"largest difference from PyTorch float64 (relative to max(1, |entry|)): {worst:.3g}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
