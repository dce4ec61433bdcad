"""End to end on a big spec: `gradcalc conv --spec big.yaml --float --format json` against the
script a user would write instead.

What it measures
    The spec: input 8×16×32×32 (random integers −9…9), 32 filters of 16×3×3, a bias of 32,
    padding 1 (about 480 KB of YAML), written once to a temporary folder.

    - baseline, "the ten-line NumPy script": load the YAML with PyYAML's C loader, build the
      arrays, convolution forward and backward in float64 (the same vectorized NumPy
      gradcalc uses, core/ops/conv.py, so only what surrounds it differs), and dump the
      output and the three gradients with ``json.dumps(array.tolist())``;
    - gradcalc: the command ``conv --spec big.yaml --float --format json`` run in this
      process through the CLI's entry point (standard output into a buffer), which also
      validates every value, locates errors, runs the finite-difference check and writes
      every result of the JSON contract (Jacobians are over its limit and left out).

    Each variant runs ``--reps`` times, alternating; medians of wall-clock time are compared.
    ``--breakdown`` profiles one gradcalc run and prints the 15 most expensive functions.

Usage (from the repo root)
    python benchmarks/big_spec.py [--reps 5] [--breakdown] [--check 1.0]

Exit status: 0, unless ``--check RATIO`` is given and gradcalc / baseline is above it (1).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from gradcalc.cli.main import main
from gradcalc.core.ops.conv import (
    ConvGeometry,
    conv2d_forward,
    conv2d_grad_input,
    conv2d_grad_kernel,
)

SHAPE = (8, 16, 32, 32)
FILTERS = 32


def write_spec(folder: Path) -> Path:
    """The spec as a course would write it: flow-style nested lists of small integers."""
    rng = np.random.default_rng(0)
    spec = {
        "kind": "conv",
        "title": "8×16×32×32 input, 32 filters of 3×3",
        "input": rng.integers(-9, 10, SHAPE).tolist(),
        "kernel": rng.integers(-9, 10, (FILTERS, SHAPE[1], 3, 3)).tolist(),
        "bias": rng.integers(-9, 10, FILTERS).tolist(),
        "padding": 1,
    }
    path = folder / "big.yaml"
    # As a script writes it: each array as one flow list (JSON's nested lists are YAML).
    path.write_text(
        "".join(f"{key}: {json.dumps(value, ensure_ascii=False)}\n" for key, value in spec.items())
    )
    return path


def baseline(path: Path) -> str:
    """What a user would script: C loader, NumPy forward and backward, json of tolist()."""
    spec = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
    x = np.array(spec["input"], dtype=float)
    k = np.array(spec["kernel"], dtype=float)
    b = np.array(spec["bias"], dtype=float)
    geometry = ConvGeometry(
        *x.shape[:2], k.shape[0], *x.shape[2:], *k.shape[2:], (1, 1), (1, 1, 1, 1), (1, 1)
    )
    y = conv2d_forward(x, k, geometry) + b[None, :, None, None]
    upstream = np.ones_like(y)
    grads = {
        "output": y,
        "grad_input": conv2d_grad_input(upstream, k, geometry),
        "grad_kernel": conv2d_grad_kernel(upstream, x, geometry),
        "grad_bias": upstream.sum(axis=(0, 2, 3)),
    }
    return json.dumps({name: value.tolist() for name, value in grads.items()})


def gradcalc_json(path: Path) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            main.main(
                args=["conv", "--spec", str(path), "--float", "--format", "json"],
                prog_name="gradcalc",
                standalone_mode=True,
            )
        except SystemExit as done:
            if done.code not in (0, None):
                raise RuntimeError(f"gradcalc exited {done.code}") from None
    return out.getvalue()


def timed(run, path: Path) -> float:
    start = time.perf_counter()
    run(path)
    return time.perf_counter() - start


def main_(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--breakdown", action="store_true")
    parser.add_argument("--check", type=float, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = write_spec(Path(folder))
        print(
            f"spec: {path.stat().st_size / 1024:.0f} KB, input {'×'.join(map(str, SHAPE))}, {FILTERS} filters"
        )
        ours = json.loads(gradcalc_json(path))["results"]
        theirs = json.loads(baseline(path))
        worst = max(
            float(np.max(np.abs(np.array(ours[n], dtype=float) - np.array(v))))
            for n, v in theirs.items()
        )
        print(f"largest difference between the two: {worst:.1e}")
        times: dict[str, list[float]] = {"baseline": [], "gradcalc": []}
        for _ in range(args.reps):
            times["baseline"].append(timed(baseline, path))
            times["gradcalc"].append(timed(gradcalc_json, path))
        medians = {name: statistics.median(values) for name, values in times.items()}
        for name, value in medians.items():
            print(f"  {name:9s} median {value:.3f} s over {args.reps} runs")
        ratio = medians["gradcalc"] / medians["baseline"]
        print(f"END-TO-END RATIO gradcalc / NumPy script: {ratio:.2f}x (target <= 1.0x)")
        if args.breakdown:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(gradcalc_json, path)
            pstats.Stats(profile).sort_stats("cumulative").print_stats(15)
    return 1 if args.check is not None and ratio > args.check else 0


if __name__ == "__main__":
    sys.exit(main_())
