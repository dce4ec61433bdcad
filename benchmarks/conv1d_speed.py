"""Speed of gradcalc's float64 conv1d forward + backward against PyTorch (issue 15's benchmark).

What it measures
    One step = forward and full backward of a 1-D convolution with input 8×16×4096 (N×C×L),
    32 filters of 16×9, a bias of 32, no padding, stride 1, float64, with a random upstream:

    - gradcalc: the conv2d and bias_add ops of ``gradcalc.core.ops.conv`` on a 1-D geometry
      (H = kh = 1, as ``gradcalc conv`` runs ``dims: 1``) through core/ops/adapter.py in float
      mode, exactly as ``gradcalc conv --float`` runs them: forward, bias forward, bias
      backward, conv backward (∂L/∂x, ∂L/∂w);
    - torch (if importable): ``torch.nn.functional.conv1d`` forward and ``torch.autograd.grad``
      of Σ upstream ⊙ y with respect to input, kernel and bias, float64, on the CPU, with
      torch's default thread count and with one thread.

    The ratio that counts is gradcalc / the faster torch float64 (target <= 1.5).

How
    ``--warmups`` untimed steps of each, then ``--reps`` rounds running each once in a rotating
    order; medians of ``time.perf_counter``.  The results are checked against torch float64
    (maximum relative difference).  Report the load average with the ratio: the machine is shared.

Usage (from the repo root, or with gradcalc on PYTHONPATH; torch is optional)
    python benchmarks/conv1d_speed.py [--reps 15] [--warmups 2] [--groups 1] [--check 1.5]

Exit status: 0, unless ``--check RATIO`` is given and the ratio is above it, or the results
disagree with torch beyond 1e-9 (1).  Without torch it times gradcalc alone and says so.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from gradcalc.core.ops import adapter
from gradcalc.core.ops.conv import BIAS_ADD, CONV2D, ConvGeometry

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional
    torch = None

BATCH, CHANNELS, LENGTH, FILTERS, TAPS = 8, 16, 4096, 32, 9


def gradcalc_step(x4, w4, bias, upstream4, geometry):
    """Forward and backward as ``gradcalc conv --float`` runs them (core/kinds/conv.compute)."""
    params = {"kernel": w4, "geometry": geometry, "flip": False}
    y, conv_trace = adapter.forward(CONV2D, x4, params, exact=False)
    y, bias_trace = adapter.forward(BIAS_ADD, y, {"bias": bias}, exact=False)
    bias_grads = adapter.backward(upstream4, bias_trace)
    grads = adapter.backward(bias_grads["input"], conv_trace)
    return y, grads["input"], grads["kernel"], bias_grads["bias"]


def torch_step(x, w, bias, upstream, groups):
    y = F.conv1d(x, w, bias, groups=groups)
    gx, gw, gb = torch.autograd.grad(y, (x, w, bias), upstream)
    return y, gx, gw, gb


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--check", type=float, default=None)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    g = args.groups
    x = rng.standard_normal((BATCH, CHANNELS, LENGTH))
    w = rng.standard_normal((FILTERS, CHANNELS // g, TAPS))
    bias = rng.standard_normal(FILTERS)
    upstream = rng.standard_normal((BATCH, FILTERS, LENGTH - TAPS + 1))
    geometry = ConvGeometry(
        batch=BATCH,
        in_channels=CHANNELS,
        out_channels=FILTERS,
        in_h=1,
        in_w=LENGTH,
        kernel_h=1,
        kernel_w=TAPS,
        stride=(1, 1),
        padding=(0, 0, 0, 0),
        dilation=(1, 1),
        groups=g,
        dims=1,
    )
    x4, w4, up4 = x[:, :, None, :], w[:, :, None, :], upstream[:, :, None, :]
    steps = {"gradcalc": lambda: gradcalc_step(x4, w4, bias, up4, geometry)}
    if torch is not None:
        tx = torch.tensor(x, requires_grad=True)
        tw = torch.tensor(w, requires_grad=True)
        tb = torch.tensor(bias, requires_grad=True)
        tu = torch.tensor(upstream)
        threads = torch.get_num_threads()

        def torch_threads(count):
            def step():
                return torch_step(tx, tw, tb, tu, g)

            step.threads = count
            return step

        steps[f"torch float64 ({threads} threads)"] = torch_threads(threads)
        steps["torch float64 (1 thread)"] = torch_threads(1)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.warmups):
        for step in steps.values():
            _run(step)
    names = list(steps)
    for round_number in range(args.reps):
        order = names[round_number % len(names) :] + names[: round_number % len(names)]
        for name in order:
            times[name].append(_run(steps[name]))
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(
        f"conv1d {BATCH}×{CHANNELS}×{LENGTH}, {FILTERS} filters of {CHANNELS // g}×{TAPS}, "
        f"groups {g}, float64; load {os.getloadavg()[0]:.2f}"
    )
    for name, value in medians.items():
        print(f"  {name:32s} {value * 1e3:8.2f} ms (median of {args.reps})")
    if torch is None:
        print("torch is not importable here: gradcalc timed alone, no ratio")
        return 0
    ours = gradcalc_step(x4, w4, bias, up4, geometry)
    theirs = [t.detach().numpy() for t in torch_step(tx, tw, tb, tu, g)]
    worst = max(
        float(np.max(np.abs(a.reshape(b.shape) - b) / np.maximum(1.0, np.abs(b))))
        for a, b in zip(ours, theirs, strict=True)
    )
    fastest = min(value for name, value in medians.items() if name.startswith("torch"))
    ratio = medians["gradcalc"] / fastest
    print(f"  gradcalc / fastest torch float64 = {ratio:.2f} (target <= 1.5)")
    print(f"  largest relative difference from torch float64: {worst:.3g}")
    failed = worst > 1e-9 or (args.check is not None and ratio > args.check)
    return 1 if failed else 0


def _run(step) -> float:
    threads = getattr(step, "threads", None)
    if threads is not None:
        torch.set_num_threads(threads)
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
