"""Speed of ``gradcalc net`` in float mode on a 5-layer net, against PyTorch float64.

What it measures
    The net of issue 14's benchmark: input 8×3×32×32 (N×C×H×W) → conv (16 filters of 3×3,
    padding 1, bias) → relu → max pool 2 → flatten → dense 10 (bias) → cross-entropy (mean
    over the 8 samples' random labels), all in float64:

    - "gradcalc run": the numeric path, ``net.run`` of an already read problem with
      ``SolveOptions(force_float=True, explain=False, gradient_check=False)`` (as grading
      runs it): the forward pass, the loss and the backward pass through every layer;
    - "gradcalc read": ``net.read`` of the spec as the YAML loader gives it (plain nested
      lists): every number read exactly (Fractions), every layer validated by its kind;
    - "torch": ``torch.nn.functional`` conv2d, relu, max_pool2d, flatten, linear,
      cross_entropy forward and ``torch.autograd.grad`` of the loss w.r.t. the input and
      every parameter, float64, on the CPU, in this process (if torch is importable);
      otherwise a numpy-only baseline: the same forward and backward written directly
      with numpy (im2col matmuls), the least any numpy implementation costs;
    - unless ``--no-solve``: the whole ``solve('net', spec, …)`` as ``gradcalc net --float``
      runs it by default (every section explained; the finite-difference check, which
      says "not run" for a net of more than 5,000 input and parameter entries, as this
      one has), timed ``--solve-reps`` times.

    torch runs with its default thread count and with one thread; the ratio that counts is
    gradcalc run / the faster of the two (target <= 1.5); read + run / torch and solve /
    torch are printed for information.  On a loaded machine torch's threads spin against
    each other and its default-thread median can be 100 times its minimum: look at both.

How
    After ``--warmups`` untimed rounds, ``--reps`` rounds run each variant once in an order
    that rotates every round (noisy shared machines); medians are reported.  gradcalc's
    results are compared with the baseline's (max abs difference).

Usage (from the repo root, or with gradcalc on PYTHONPATH; torch is optional)
    python benchmarks/net_speed.py [--reps 20] [--warmups 3] [--no-solve] [--check 1.5]

Exit status: 0, unless ``--check RATIO`` is given and gradcalc run / baseline is above it,
or the results disagree with the baseline beyond 1e-9 (1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gradcalc.core import solve
from gradcalc.core.kinds import net
from gradcalc.core.spec import SolveOptions

try:
    import torch
    import torch.nn.functional as F

    TORCH_MISSING = ""
except ImportError as error:  # torch is optional
    torch = None
    TORCH_MISSING = f"{type(error).__name__}: {error}"

N, C, H, W, FILTERS, K, CLASSES = 8, 3, 32, 32, 16, 3, 10
POOLED = FILTERS * (H // 2) * (W // 2)
TARGET_RATIO = 1.5
AGREEMENT = 1e-9
RESULTS = ("loss", "grad_input", "conv1.grad_kernel", "conv1.grad_bias")
RESULTS += ("fc.grad_weight", "fc.grad_bias")
Arrays = dict[str, np.ndarray]


def make_data(seed: int = 0) -> Arrays:
    """Random operands rounded to a few decimals (a spec of them reads exactly and cheaply)."""
    rng = np.random.default_rng(seed)
    return {
        "x": rng.standard_normal((N, C, H, W)).round(3),
        "kernel": (rng.standard_normal((FILTERS, C, K, K)) / 5).round(3),
        "bias": rng.standard_normal(FILTERS).round(3),
        "weight": (rng.standard_normal((CLASSES, POOLED)) / 64).round(4),
        "fc_bias": rng.standard_normal(CLASSES).round(3),
        "target": rng.integers(0, CLASSES, N),
    }


def spec_of(data: Arrays) -> dict[str, Any]:
    """The net as a spec of plain nested lists, as the YAML loader gives it."""
    conv = {"type": "conv", "name": "conv1", "kernel": data["kernel"].tolist()}
    conv |= {"bias": data["bias"].tolist(), "stride": 1, "padding": 1}
    dense = {"type": "dense", "name": "fc", "weight": data["weight"].tolist()}
    dense["bias"] = data["fc_bias"].tolist()
    return {
        "input": data["x"].tolist(),
        "layers": [conv, "relu", {"type": "pool", "mode": "max", "size": 2}, "flatten", dense],
        "loss": {"type": "cross_entropy", "target": data["target"].tolist()},
    }


NUMERIC = SolveOptions(force_float=True, explain=False, gradient_check=False)


def gradcalc_run(problem: Any) -> Arrays:
    results = net.run(problem, NUMERIC).results
    return {key: np.asarray(results[key], dtype=float) for key in RESULTS}


def make_torch_step(data: Arrays) -> Callable[[], Arrays]:
    tensors = {
        key: torch.tensor(value, dtype=torch.float64, requires_grad=True)
        for key, value in data.items()
        if key != "target"
    }
    target = torch.tensor(data["target"])

    def step() -> Arrays:
        t = tensors
        y = F.conv2d(t["x"], t["kernel"], t["bias"], padding=1)
        y = F.max_pool2d(F.relu(y), 2).flatten(1)
        loss = F.cross_entropy(F.linear(y, t["weight"], t["fc_bias"]), target)
        grads = torch.autograd.grad(
            loss, [t[k] for k in ("x", "kernel", "bias", "weight")] + [t["fc_bias"]]
        )
        return dict(zip(RESULTS, [loss.detach(), *grads], strict=True))

    return step


def _with_threads(step: Callable[[], Arrays], count: int) -> Callable[[], Arrays]:
    def run() -> Arrays:
        torch.set_num_threads(count)  # a few microseconds, inside the timing
        return step()

    return run


def numpy_step(data: Arrays) -> Arrays:
    """The same net in plain numpy (im2col matmuls): what a numpy implementation costs."""
    x, kernel, bias = data["x"], data["kernel"], data["bias"]
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (K, K), axis=(2, 3))
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(N * H * W, C * K * K)
    conv = (columns @ kernel.reshape(FILTERS, -1).T + bias).reshape(N, H, W, FILTERS)
    relu = np.maximum(conv, 0)
    blocks = relu.reshape(N, H // 2, 2, W // 2, 2, FILTERS).transpose(0, 5, 1, 3, 2, 4)
    blocks = blocks.reshape(N, FILTERS, H // 2, W // 2, 4)
    first = blocks.argmax(axis=-1)
    pooled = np.take_along_axis(blocks, first[..., None], -1)[..., 0].reshape(N, -1)
    logits = pooled @ data["weight"].T + data["fc_bias"]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(N)
    loss = -log_p[rows, data["target"]].mean()
    grad_logits = np.exp(log_p)
    grad_logits[rows, data["target"]] -= 1
    grad_logits /= N
    grad_pooled = grad_logits @ data["weight"]
    grad_blocks = np.zeros(blocks.shape)
    np.put_along_axis(
        grad_blocks, first[..., None], grad_pooled.reshape(first.shape)[..., None], -1
    )
    grad_relu = grad_blocks.reshape(N, FILTERS, H // 2, W // 2, 2, 2).transpose(0, 2, 4, 3, 5, 1)
    grad_conv = grad_relu.reshape(N, H, W, FILTERS) * (conv > 0)
    flat_grad = grad_conv.reshape(N * H * W, FILTERS)
    grad_columns = (flat_grad @ kernel.reshape(FILTERS, -1)).reshape(N, H, W, C, K, K)
    grad_padded = np.zeros(padded.shape)
    for i in range(K):
        for j in range(K):
            grad_padded[:, :, i : i + H, j : j + W] += grad_columns[..., i, j].transpose(0, 3, 1, 2)
    return {
        "loss": np.asarray(loss),
        "grad_input": grad_padded[:, :, 1:-1, 1:-1],
        "conv1.grad_kernel": (flat_grad.T @ columns).reshape(kernel.shape),
        "conv1.grad_bias": flat_grad.sum(axis=0),
        "fc.grad_weight": grad_logits.T @ pooled,
        "fc.grad_bias": grad_logits.sum(axis=0),
    }


def max_abs_diff(ours: Arrays, theirs: Arrays) -> float:
    worst = 0.0
    for key, value in ours.items():
        other = theirs[key]
        if torch is not None and isinstance(other, torch.Tensor):
            other = other.detach().numpy()
        worst = max(worst, float(np.max(np.abs(value - np.asarray(other, dtype=float)))))
    return worst


def timed_rounds(variants: dict[str, Callable[[], Any]], reps: int, warmups: int) -> dict:
    names = list(variants)
    for _ in range(warmups):
        for name in names:
            variants[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(reps):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--warmups", type=int, default=3, help="untimed rounds (default 3)")
    parser.add_argument("--read-reps", type=int, default=3, help="timed reads (default 3)")
    parser.add_argument("--no-solve", action="store_true", help="skip the whole solve()")
    parser.add_argument("--solve-reps", type=int, default=1, help="timed solves (default 1)")
    parser.add_argument("--check", type=float, metavar="RATIO", default=None)
    args = parser.parse_args()
    data = make_data()
    spec = spec_of(data)
    print(
        f"net: input {N}×{C}×{H}×{W} → conv {FILTERS}×{C}×{K}×{K} (padding 1) → relu → "
        f"max pool 2 → flatten ({POOLED}) → dense {CLASSES} → cross-entropy; float64"
    )
    print(f"numpy {np.__version__}, cpus: {os.cpu_count()}, load: {os.getloadavg()[0]:.2f}")
    reads = []
    for _ in range(max(args.read_reps, 1)):
        start = time.perf_counter()
        problem = net.read(spec, NUMERIC.limits)
        reads.append(time.perf_counter() - start)
    variants: dict[str, Callable[[], Any]] = {"gradcalc run": lambda: gradcalc_run(problem)}
    if torch is None:
        print(f"torch: not importable ({TORCH_MISSING}); baseline: the numpy-only net")
        baseline_name = "numpy only"
        variants[baseline_name] = lambda: numpy_step(data)
    else:
        threads = torch.get_num_threads()
        print(f"torch {torch.__version__}, default threads: {threads}")
        step = make_torch_step(data)
        for count in dict.fromkeys((threads, 1)):
            variants[f"torch f64 {count}t"] = _with_threads(step, count)
        variants["numpy only"] = lambda: numpy_step(data)
    times = timed_rounds(variants, args.reps, args.warmups)
    if torch is not None:  # torch's faster thread count here (its threads spin on a busy machine)
        baseline_name = min(
            (name for name in times if name.startswith("torch")),
            key=lambda name: statistics.median(times[name]),
        )
    print(f"{args.warmups} warm-ups, {args.reps} rounds (rotating order); medians in ms:")
    for name, values in times.items():
        print(
            f"  {name:<14} {statistics.median(values) * 1e3:10.2f}  (min {min(values) * 1e3:.2f})"
        )
    read = statistics.median(reads)
    print(f"  {'gradcalc read':<14} {read * 1e3:10.2f}  ({len(reads)} reads)")
    ours = statistics.median(times["gradcalc run"])
    base = statistics.median(times[baseline_name])
    ratio = ours / base
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(
        f"ratio gradcalc run / {baseline_name}: {ratio:.2f}x (target <= {TARGET_RATIO}: {verdict})"
    )
    print(f"ratio gradcalc read + run / {baseline_name}: {(read + ours) / base:.1f}x")
    status = 0
    worst = max_abs_diff(gradcalc_run(problem), variants[baseline_name]())
    print(f"max |gradcalc - {baseline_name}| over every result: {worst:.2e}")
    if worst > AGREEMENT:
        print(f"FAIL: gradcalc disagrees with {baseline_name} by more than {AGREEMENT}")
        status = 1
    if args.check is not None and ratio > args.check:
        print(f"FAIL: ratio {ratio:.2f} > {args.check}")
        status = 1
    if not args.no_solve:
        status = max(status, _time_solve(spec, args.solve_reps, base, baseline_name))
    return status


def _time_solve(spec: dict[str, Any], reps: int, base: float, baseline_name: str) -> int:
    """The whole solve as `gradcalc net --float` runs it: explained, checked."""
    options = SolveOptions(force_float=True)
    solves = []
    for _ in range(max(reps, 1)):
        start = time.perf_counter()
        solution = solve.solve("net", spec, options)
        solves.append(time.perf_counter() - start)
    check = solution.gradient_check
    checked = "none" if check is None else f"{check.entries_checked} of {check.entries_total}"
    median = statistics.median(solves)
    print(
        f"whole solve (explained, finite differences: {checked} entries checked), "
        f"{len(solves)} run(s): median {median * 1e3:.0f} ms = {median / base:.0f}x {baseline_name}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
