"""Speed of gradcalc's float64 conv forward + backward at a realistic size, against PyTorch.

What it measures
    One step = forward and full backward of a 2-D convolution with
    input 8×16×32×32 (N×C×H×W), 32 filters of 16×3×3, a bias of 32, padding 1,
    stride 1, dilation 1, float64, upstream gradient 8×32×32×32:

    - gradcalc: ``conv2d_forward`` (+ bias), ``conv2d_grad_input``,
      ``conv2d_grad_kernel`` and the bias gradient (upstream summed over N, H, W),
      called directly from ``gradcalc.core.ops.conv`` with a ``ConvGeometry``;
    - torch (if importable): ``torch.nn.functional.conv2d`` forward and
      ``torch.autograd.grad`` of the output (with the same upstream) with respect
      to input, kernel and bias, on the CPU, in float64 and in float32, each with
      torch's default thread count and with ``torch.set_num_threads(1)`` (set
      before each timed step, outside the timing).

    The ratio that counts is gradcalc / torch float64 at torch's default threads
    (target <= 1.5); the other ratios are for information.  NumPy's BLAS runs with
    its own default thread count (``OPENBLAS_NUM_THREADS`` etc. change it).

    Also, unless ``--no-solve``: the whole ``gradcalc.core.solve.solve`` of kind conv on the same
    data as a spec (plain nested lists, as the YAML loader would give), with
    ``SolveOptions(force_float=True, sections=frozenset(), gradient_check=False)``:
    that adds reading the spec into exact Fractions, which dominates at this size
    (seconds, against milliseconds for the numeric step), so it runs only
    ``--solve-reps`` times (default 1), after the interleaved rounds.

How
    After ``--warmups`` untimed steps of every variant, ``--reps`` rounds run each
    variant once, in an order that rotates every round (noisy shared machines:
    slow periods spread over all variants); each step is timed with
    ``time.perf_counter`` and medians are reported.  When torch is present the
    results are checked against torch float64 (and float32, for information) by
    maximum absolute difference.

Usage (from the repo root; torch is optional)
    python benchmarks/conv_scale.py [--reps 20] [--warmups 2] [--no-solve] [--check 1.5]

Exit status: 0, unless ``--check RATIO`` is given and gradcalc / torch float64 is
above it, or the results disagree with torch float64 beyond 1e-9 (1).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np

from gradcalc.core import solve
from gradcalc.core.ops.conv import (
    ConvGeometry,
    conv2d_forward,
    conv2d_grad_input,
    conv2d_grad_kernel,
)
from gradcalc.core.spec import Limits, SolveOptions

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # torch is optional
    torch = None

N, C, H, W, OUT, K = 8, 16, 32, 32, 32, 3
PADDING = 1
TARGET_RATIO = 1.5
AGREEMENT = 1e-9  # max abs difference allowed against torch float64

GEOMETRY = ConvGeometry(
    batch=N,
    in_channels=C,
    out_channels=OUT,
    in_h=H,
    in_w=W,
    kernel_h=K,
    kernel_w=K,
    stride=(1, 1),
    padding=(PADDING,) * 4,
    dilation=(1, 1),
)

Arrays = dict[str, np.ndarray]


def make_data(seed: int = 0) -> Arrays:
    """Random operands, rounded to 3 decimals so a spec of them reads cheaply and exactly."""
    rng = np.random.default_rng(seed)
    g = GEOMETRY
    return {
        "x": rng.standard_normal((N, C, H, W)).round(3),
        "w": (rng.standard_normal((OUT, C, K, K)) / 12).round(3),
        "b": rng.standard_normal(OUT).round(3),
        "u": rng.standard_normal((N, OUT, g.out_h, g.out_w)).round(3),
    }


def gradcalc_step(data: Arrays, parts: dict[str, list[float]] | None = None) -> Arrays:
    """Forward + backward with gradcalc's numeric functions; per-op times go to ``parts``."""
    g = GEOMETRY
    x, w, b, u = data["x"], data["w"], data["b"], data["u"]
    t0 = time.perf_counter()
    y = conv2d_forward(x, w, g) + b.reshape(1, -1, 1, 1)
    t1 = time.perf_counter()
    gi = conv2d_grad_input(u, w, g)
    t2 = time.perf_counter()
    gk = conv2d_grad_kernel(u, x, g)
    t3 = time.perf_counter()
    gb = u.sum(axis=(0, 2, 3))
    t4 = time.perf_counter()
    if parts is not None:
        for name, seconds in (
            ("forward", t1 - t0),
            ("grad_input", t2 - t1),
            ("grad_kernel", t3 - t2),
            ("grad_bias", t4 - t3),
        ):
            parts.setdefault(name, []).append(seconds)
    return {"output": y, "grad_input": gi, "grad_kernel": gk, "grad_bias": gb}


def make_torch_step(data: Arrays, dtype) -> Callable[[], Arrays]:
    x = torch.tensor(data["x"], dtype=dtype, requires_grad=True)
    w = torch.tensor(data["w"], dtype=dtype, requires_grad=True)
    b = torch.tensor(data["b"], dtype=dtype, requires_grad=True)
    u = torch.tensor(data["u"], dtype=dtype)

    def step() -> Arrays:
        y = F.conv2d(x, w, b, stride=1, padding=PADDING)
        gi, gk, gb = torch.autograd.grad(y, (x, w, b), u)
        return {"output": y.detach(), "grad_input": gi, "grad_kernel": gk, "grad_bias": gb}

    return step


def spec_of(data: Arrays) -> dict:
    return {
        "kind": "conv",
        "input": data["x"].tolist(),
        "kernel": data["w"].tolist(),
        "bias": data["b"].tolist(),
        "upstream": data["u"].tolist(),
        "stride": 1,
        "padding": PADDING,
    }


# Limits raised just enough for this size (the defaults may be lower), as --max-elements would.
SOLVE_OPTIONS = SolveOptions(
    force_float=True,
    sections=frozenset(),
    gradient_check=False,
    limits=Limits(
        max_elements=max(N * C * H * W, N * OUT * H * W, Limits().max_elements),
        max_work=max(GEOMETRY.work, Limits().max_work),
    ),
)


def solve_step(spec: dict) -> Arrays:
    solution = solve.solve("conv", spec, SOLVE_OPTIONS)
    return {
        k: np.asarray(solution.results[k], dtype=float)
        for k in ("output", "grad_input", "grad_kernel", "grad_bias")
    }


def max_abs_diff(ours: Arrays, theirs: Arrays) -> dict[str, float]:
    out = {}
    for key, value in ours.items():
        other = theirs[key]
        if torch is not None and isinstance(other, torch.Tensor):
            other = other.detach().double().numpy()
        out[key] = float(
            np.max(np.abs(np.asarray(value, dtype=float) - np.asarray(other, dtype=float)))
        )
    return out


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def summary(values: list[float]) -> tuple[float, float, float, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return statistics.median(values), min(values), q[0], q[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20, help="timed rounds (default 20)")
    parser.add_argument("--warmups", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument(
        "--no-solve", action="store_true", help="skip timing the whole solve() path"
    )
    parser.add_argument(
        "--solve-reps", type=int, default=1, help="timed runs of solve() (default 1)"
    )
    parser.add_argument(
        "--check",
        type=float,
        metavar="RATIO",
        default=None,
        help="exit 1 if gradcalc / torch float64 (default threads) is above RATIO",
    )
    args = parser.parse_args()
    if args.reps < 1:
        parser.error("--reps must be at least 1")

    g = GEOMETRY
    data = make_data()
    macs = 3 * g.work  # forward, grad input and grad kernel each do the forward's multiply-adds
    print(
        f"conv2d forward + backward: input {N}×{C}×{H}×{W}, kernel {OUT}×{C}×{K}×{K}, bias {OUT}, "
        f"padding {PADDING}, stride 1 -> output {N}×{OUT}×{g.out_h}×{g.out_w}, float64"
    )
    print(f"work: {g.work / 1e6:.1f} M multiply-adds per pass, {macs / 1e6:.1f} M per step")
    blas_env = {
        k: os.environ[k]
        for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
        if k in os.environ
    }
    print(
        f"numpy {np.__version__} (BLAS threads: {blas_env or 'library default'}), cpus: {os.cpu_count()}"
    )

    variants: dict[str, Callable[[], Arrays]] = {}
    threads: dict[str, int] = {}  # torch's thread count per variant, set outside the timing
    parts: dict[str, list[float]] = {}
    variants["gradcalc f64"] = lambda: gradcalc_step(data, parts)
    if torch is None:
        print(
            "torch: not importable; reporting gradcalc only "
            "(run with a Python that has torch to compare)"
        )
    else:
        default_threads = torch.get_num_threads()
        print(f"torch {torch.__version__}, default threads: {default_threads}")
        for count, label in ((default_threads, ""), (1, " 1 thread")):
            for dtype, bits in ((torch.float64, "64"), (torch.float32, "32")):
                variants[f"torch f{bits}{label}"] = make_torch_step(data, dtype)
                threads[f"torch f{bits}{label}"] = count
    print(f"{args.warmups} warm-up rounds, {args.reps} timed rounds, order rotating each round")
    print(f"load average before: {load_average()}")
    print()

    def run(name: str) -> Arrays:
        if name in threads:
            torch.set_num_threads(threads[name])
        return variants[name]()

    names = list(variants)
    for _ in range(args.warmups):
        for name in names:
            run(name)
    parts.clear()
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.reps):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if name in threads:
                torch.set_num_threads(threads[name])
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)

    print(
        f"load average after:  {load_average()}  (other work on the machine inflates and spreads the times)"
    )
    print(f"{'variant':<22} {'median':>9} {'min':>9} {'q1':>9} {'q3':>9}   (ms)  GMAC/s")
    for name in names:
        med, low, q1, q3 = summary(times[name])
        print(
            f"{name:<22} {med * 1e3:9.2f} {low * 1e3:9.2f} {q1 * 1e3:9.2f} {q3 * 1e3:9.2f}   {macs / med / 1e9:8.2f}"
        )
    print()
    print("gradcalc by operation (median ms):")
    for name, values in parts.items():
        print(f"  {name:<12} {statistics.median(values) * 1e3:8.2f}")

    status = 0
    ours = statistics.median(times["gradcalc f64"])
    if torch is not None:
        print()
        reference = run("torch f64")
        result = gradcalc_step(data)
        print("ratio gradcalc / torch (median / median):")
        for name in names[1:]:
            ratio = ours / statistics.median(times[name])
            note = ""
            if name == "torch f64":
                note = f"   <- the one that counts (target <= {TARGET_RATIO}: {'OK' if ratio <= TARGET_RATIO else 'ABOVE TARGET'})"
            print(f"  vs {name:<20} {ratio:6.2f}x{note}")
        print()
        print("max |gradcalc - torch|:")
        diffs64 = max_abs_diff(result, reference)
        diffs32 = max_abs_diff(result, run("torch f32"))
        for key in diffs64:
            print(f"  {key:<12} vs f64 {diffs64[key]:9.2e}   vs f32 {diffs32[key]:9.2e}")
        if max(diffs64.values()) > AGREEMENT:
            print(f"FAIL: gradcalc disagrees with torch float64 by more than {AGREEMENT}")
            status = 1
        if args.check is not None:
            ratio = ours / statistics.median(times["torch f64"])
            if ratio > args.check:
                print(f"FAIL: ratio {ratio:.2f} > {args.check}")
                status = 1
    elif args.check is not None:
        print("--check ignored: torch is not importable")

    if not args.no_solve:
        print()
        print(
            "timing the whole solve() (several seconds a run; --no-solve skips it) ...", flush=True
        )
        spec = spec_of(data)
        solve_times = []
        try:
            for _ in range(max(args.solve_reps, 1)):
                start = time.perf_counter()
                solved = solve_step(spec)
                solve_times.append(time.perf_counter() - start)
        except Exception as error:  # report, but keep the numbers above
            print(f"solve() failed: {type(error).__name__}: {error}")
            return status
        med = statistics.median(solve_times)
        print(
            f"whole solve('conv', spec, force_float, no sections, no gradient check), "
            f"{len(solve_times)} runs: median {med * 1e3:.1f} ms "
            f"(min {min(solve_times) * 1e3:.1f}); {med / ours:.1f}x the numeric step"
        )
        agree = max_abs_diff(solved, gradcalc_step(data))
        print(f"  max |solve - direct| over all results: {max(agree.values()):.2e}")
    return status


if __name__ == "__main__":
    sys.exit(main())
