"""Speed of gradcalc's float64 transposed convolution, forward + backward, against PyTorch.

What it measures
    One step = forward and full backward of conv_transpose2d with input 8×32×16×16
    (N×C_in×H×W), 16 output channels, a 3×3 kernel (32×16×3×3, PyTorch's layout), a bias of
    16, stride 2, padding 1, output_padding 1 (output 8×16×32×32), float64, upstream
    8×16×32×32:

    - gradcalc: the float path of kind conv_transpose as the adapter runs it
      (``adapter.forward(CONV_TRANSPOSE2D, …, exact=False)`` + the bias op, then
      ``adapter.backward`` for ∂L/∂x, ∂L/∂w and ∂L/∂b);
    - torch (if importable): ``torch.nn.functional.conv_transpose2d`` forward and
      ``torch.autograd.grad`` with respect to input, kernel and bias, CPU, float64, at
      torch's default thread count.

    The ratio that counts is gradcalc / torch float64 by medians (target ≤ 1.5; ``--check``
    tests it).  Rounds alternate the two (the order rotates); medians and best rounds are
    reported with the load average.

    On a machine shared by several jobs, both libraries' default thread pools oversubscribe
    the cores and the timings swing tenfold; there, run both on one thread each:
    ``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1`` (NumPy's BLAS and torch read them at import).

Usage (from the repo root, or with gradcalc importable; torch is optional)
    python benchmarks/conv_transpose_speed.py [--reps 15] [--warmups 2] [--groups 1] [--check 1.5]

Exit status: 0, unless ``--check RATIO`` is given and the ratio is above it, or the results
differ from torch float64 by more than 1e-9 relative (1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

from gradcalc.core.ops import adapter
from gradcalc.core.ops.conv import BIAS_ADD
from gradcalc.core.ops.conv_transpose import CONV_TRANSPOSE2D, ConvTransposeGeometry

try:
    import torch
except ImportError:  # the benchmark still times gradcalc alone
    torch = None


def geometry(groups: int) -> ConvTransposeGeometry:
    return ConvTransposeGeometry(
        batch=8,
        in_channels=32,
        out_channels=16,
        groups=groups,
        in_h=16,
        in_w=16,
        kernel_h=3,
        kernel_w=3,
        stride=(2, 2),
        padding=(1, 1, 1, 1),
        dilation=(1, 1),
        output_padding=(1, 1),
    )


def gradcalc_step(x, w, b, up, t) -> tuple[np.ndarray, ...]:
    y, trace = adapter.forward(CONV_TRANSPOSE2D, x, {"kernel": w, "geometry": t}, exact=False)
    y, bias_trace = adapter.forward(BIAS_ADD, y, {"bias": b}, exact=False)
    bias_grads = adapter.backward(up, bias_trace)
    grads = adapter.backward(bias_grads["input"], trace)
    return y, grads["input"], grads["kernel"], bias_grads["bias"]


def torch_step(x, w, b, up, t) -> tuple[np.ndarray, ...]:
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = torch.nn.functional.conv_transpose2d(
        xt, wt, bt, stride=t.stride, padding=t.padding[::2], output_padding=t.output_padding,
        groups=t.groups, dilation=t.dilation,
    )  # fmt: skip
    gx, gw, gb = torch.autograd.grad(y, (xt, wt, bt), torch.from_numpy(up))
    return y.detach().numpy(), gx.numpy(), gw.numpy(), gb.numpy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=15)
    parser.add_argument("--warmups", type=int, default=2)
    parser.add_argument("--groups", type=int, default=1)
    parser.add_argument("--check", type=float, default=None)
    args = parser.parse_args()
    t = geometry(args.groups)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((t.batch, t.in_channels, t.in_h, t.in_w))
    w = rng.standard_normal((t.in_channels, t.out_per_group, t.kernel_h, t.kernel_w))
    b = rng.standard_normal(t.out_channels)
    up = rng.standard_normal((t.batch, t.out_channels, t.out_h, t.out_w))
    steps = {"gradcalc": gradcalc_step}
    if torch is not None:
        steps["torch float64"] = torch_step
    else:
        print("torch is not installed: timing gradcalc alone (no ratio)")
    for _ in range(args.warmups):
        for step in steps.values():
            step(x, w, b, up, t)
    times: dict[str, list[float]] = {name: [] for name in steps}
    names = list(steps)
    for round_ in range(args.reps):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            start = time.perf_counter()
            steps[name](x, w, b, up, t)
            times[name].append(time.perf_counter() - start)
    print(
        f"conv_transpose2d {t.batch}×{t.in_channels}×{t.in_h}×{t.in_w} → {t.out_channels} channels, "
        f"3×3, stride 2, groups {t.groups}; output {t.out_h}×{t.out_w}; load average "
        f"{os.getloadavg()[0]:.2f}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', '-')}"
        + (f", torch threads {torch.get_num_threads()}" if torch is not None else "")
    )
    medians = {name: statistics.median(values) for name, values in times.items()}
    best = {name: min(values) for name, values in times.items()}
    for name, value in medians.items():
        print(
            f"  {name:14s} median {value * 1e3:8.2f} ms, best {best[name] * 1e3:8.2f} ms "
            f"over {args.reps} rounds"
        )
    status = 0
    if torch is not None:
        ratio = medians["gradcalc"] / medians["torch float64"]
        best_ratio = best["gradcalc"] / best["torch float64"]
        print(
            f"  ratio gradcalc / torch float64: {ratio:.2f} by medians, {best_ratio:.2f} by best "
            "rounds (target ≤ 1.5, by medians)"
        )
        ours, theirs = gradcalc_step(x, w, b, up, t), torch_step(x, w, b, up, t)
        worst = max(
            float(np.max(np.abs(a - c)) / max(1.0, float(np.max(np.abs(c)))))
            for a, c in zip(ours, theirs, strict=True)
        )
        print(f"  largest difference from torch float64 (relative): {worst:.1e}")
        if worst > 1e-9 or (args.check is not None and ratio > args.check):
            status = 1
    return status


if __name__ == "__main__":
    sys.exit(main())
