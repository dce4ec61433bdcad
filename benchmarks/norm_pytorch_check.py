"""Cross-check the normalization kinds against PyTorch (float64), and the issue's benchmark.

1. Random problems of ``batchnorm`` (1d and 2d, training and evaluation, with and without
   γ, β), ``layernorm`` and ``groupnorm`` (those registered), solved by gradcalc in-process
   exactly (the default) and with ``force_float``, against torch.nn.functional's batch_norm,
   layer_norm and group_norm with autograd, all in float64: every result (output, mean, var,
   x_hat, grad_input, grad_weight, grad_bias, running_mean, running_var).  Prints the worst
   relative difference; exit 1 above 1e-9.
2. The benchmark of issue 16: batch norm 2d over 32×64×32×32 and layer norm over 64×128×512,
   forward + backward in float mode (core/ops/normalization.py through the op adapter, as
   ``gradcalc batchnorm --float`` runs it) against PyTorch float64 on the CPU in the same
   process; medians of interleaved rounds, and the ratio gradcalc / torch (target ≤ 1.5).
   Both use every core by default (gradcalc through core/parallel.py); ``--one-thread``
   runs both on one (GRADCALC_THREADS=1, torch.set_num_threads(1)): a comparison of the
   work each does that a busy machine disturbs less.

Run from the repo root with a Python that has torch (not a gradcalc dependency); gradcalc is
imported as the package ``gradcalc`` (e.g. ``PYTHONPATH=/tmp/p`` with /tmp/p/gradcalc a link to
the repo).  Without torch it prints why it skips the comparisons and times gradcalc alone.

    python benchmarks/norm_pytorch_check.py [--problems 200] [--reps 7] [--no-bench] [--one-thread]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.ops import adapter
from gradcalc.core.ops.normalization import NORMALIZE
from gradcalc.core.spec import SolveOptions

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None


def draw(rng: random.Random, shape: tuple[int, ...]) -> list:
    values = [
        str(Fraction(rng.randint(-8, 8), rng.choice([1, 2, 4]))) for _ in range(np.prod(shape))
    ]
    return np.array(values, dtype=object).reshape(shape).tolist()


def floats(value: Any) -> np.ndarray:
    return np.vectorize(lambda v: float(Fraction(v)), otypes=[float])(
        np.asarray(value, dtype=object)
    )


def random_spec(rng: random.Random) -> dict[str, Any]:
    kinds = [k for k in ("batchnorm", "layernorm", "groupnorm") if k in registry.OPS]
    kind = rng.choice(kinds)
    eps = rng.choice(["1e-5", "1/4", "3", "1/100"])
    if kind == "batchnorm":
        channels = rng.randint(1, 4)
        shape = (
            (rng.randint(2, 5), channels)
            if rng.random() < 0.5
            else (rng.randint(1, 3), channels, rng.randint(1, 3), rng.randint(2, 3))
        )
        spec = {"kind": kind, "eps": eps, "training": rng.random() < 0.7}
        spec["momentum"] = rng.choice(["0.1", "1/2", "0"])
        spec["running_mean"] = draw(rng, (channels,))
        spec["running_var"] = [str(Fraction(rng.randint(0, 8), 2)) for _ in range(channels)]
        param = (channels,)
    elif kind == "layernorm":
        shape = tuple(rng.randint(1, 4) for _ in range(rng.randint(1, 3)))
        count = rng.randint(1, len(shape))
        spec = {"kind": kind, "eps": eps, "normalized_shape": list(shape[len(shape) - count :])}
        param = shape[len(shape) - count :]
    else:
        groups = rng.randint(1, 3)
        channels = groups * rng.randint(1, 3)
        shape = (
            rng.randint(1, 3),
            channels,
            *[rng.randint(1, 3) for _ in range(rng.randint(0, 2))],
        )
        spec = {"kind": kind, "eps": eps, "num_groups": groups}
        param = (channels,)
    spec["input"] = draw(rng, shape)
    spec["upstream"] = draw(rng, shape)
    if rng.random() < 0.75:
        spec["weight"] = draw(rng, param)
        spec["bias"] = draw(rng, param)
    else:
        spec["affine" if kind != "layernorm" else "elementwise_affine"] = False
    return spec


def torch_results(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every gradcalc result of ``spec``, computed by torch in float64."""
    x = torch.tensor(floats(spec["input"]), requires_grad=True)
    up = torch.tensor(floats(spec["upstream"]))
    weight = bias = None
    if "weight" in spec:
        weight = torch.tensor(floats(spec["weight"]), requires_grad=True)
        bias = torch.tensor(floats(spec["bias"]), requires_grad=True)
    eps = float(Fraction(spec["eps"]))
    found: dict[str, Any] = {}
    kind = spec["kind"]
    if kind == "batchnorm":
        rm = torch.tensor(floats(spec["running_mean"]))
        rv = torch.tensor(floats(spec["running_var"]))
        momentum = float(Fraction(spec["momentum"]))
        training = spec["training"]
        axes = (0,) if x.ndim == 2 else (0, 2, 3)
        y = F.batch_norm(x, rm, rv, weight, bias, training, momentum, eps)
        if training:
            found.update(running_mean=rm, running_var=rv)
            found["mean"] = x.detach().mean(axes)
            found["var"] = x.detach().var(axes, unbiased=False)
        else:
            found["mean"], found["var"] = (
                torch.tensor(floats(spec["running_mean"])),
                torch.tensor(floats(spec["running_var"])),
            )
        shape = [1, x.shape[1]] + [1] * (x.ndim - 2)
        mean = found["mean"].reshape(shape)
        var = found["var"].reshape(shape)
    elif kind == "layernorm":
        normalized = tuple(spec["normalized_shape"])
        y = F.layer_norm(x, normalized, weight, bias, eps)
        axes = tuple(range(x.ndim - len(normalized), x.ndim))
        mean = x.detach().mean(axes, keepdim=True)
        var = x.detach().var(axes, unbiased=False, keepdim=True)
        found["mean"], found["var"] = (
            mean.reshape(x.shape[: x.ndim - len(normalized)]),
            var.reshape(x.shape[: x.ndim - len(normalized)]),
        )
    else:
        groups = spec["num_groups"]
        y = F.group_norm(x, groups, weight, bias, eps)
        grouped = x.detach().reshape(x.shape[0], groups, -1)
        found["mean"] = grouped.mean(2)
        found["var"] = grouped.var(2, unbiased=False)
        mean = (
            found["mean"]
            .repeat_interleave(x.shape[1] // groups, 1)
            .reshape(x.shape[:2] + (1,) * (x.ndim - 2))
        )
        var = found["var"].repeat_interleave(x.shape[1] // groups, 1).reshape(mean.shape)
    found["x_hat"] = (x.detach() - mean) / torch.sqrt(var + eps)
    y.backward(up)
    found["output"] = y.detach()
    found["grad_input"] = x.grad
    if weight is not None:
        found["grad_weight"], found["grad_bias"] = weight.grad, bias.grad
    return {k: np.asarray(v, dtype=float) for k, v in found.items()}


def compare(problems: int, seed: int) -> float:
    rng = random.Random(seed)
    worst = 0.0
    where = ""
    for number in range(problems):
        spec = random_spec(rng)
        shape = np.shape(spec["input"])
        if spec["kind"] == "batchnorm" and spec["training"] and np.prod(shape) // shape[1] == 1:
            continue  # a batch of one: refused, as torch refuses it
        if spec["kind"] == "groupnorm" and np.prod(shape) // spec["num_groups"] == 1:
            continue  # groups of one value in one sample: likewise
        want = torch_results(spec)
        for force_float in (False, True):
            options = SolveOptions(
                sections=frozenset(), gradient_check=False, force_float=force_float
            )
            got = registry.solve(spec, options).results
            assert set(got) == set(want), (set(got) ^ set(want), spec)
            for name, value in want.items():
                mine = np.asarray(got[name], dtype=object).astype(float)
                gap = float(
                    np.max(np.abs(mine - value) / np.maximum(1.0, np.abs(value)), initial=0.0)
                )
                if gap > worst:
                    worst, where = gap, f"problem {number} ({spec['kind']}) {name}"
    print(
        f"{problems} random problems (exact and --float) against torch float64: worst relative difference {worst:.3g} at {where or '-'}"
    )
    return worst


# -- the benchmark ----------------------------------------------------------------------------------


def gradcalc_step(x: np.ndarray, up: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    _, trace = adapter.forward(NORMALIZE, x, params, exact=False)
    return adapter.backward(up, trace)["input"]


def torch_step(x, up, weight, bias, kind: str):
    x = x.detach().requires_grad_(True)
    w = weight.detach().requires_grad_(True)
    b = bias.detach().requires_grad_(True)
    if kind == "batchnorm":
        y = F.batch_norm(x, None, None, w, b, True, 0.1, 1e-5)
    else:
        y = F.layer_norm(x, x.shape[-1:], w, b, 1e-5)
    return torch.autograd.grad(y, (x, w, b), up)


def bench(reps: int) -> None:
    cases = {
        "batchnorm2d 32×64×32×32": ("batchnorm", (32, 64, 32, 32), (0, 2, 3), (1, 64, 1, 1)),
        "layernorm 64×128×512": ("layernorm", (64, 128, 512), (2,), (1, 1, 512)),
    }
    for label, case in cases.items():
        bench_case(label, *case, reps=reps)


def bench_case(label: str, kind: str, shape, axes, param_shape, *, reps: int) -> None:
    """Median times of gradcalc's and torch's float64 forward + backward, interleaved."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape)
    up = rng.standard_normal(shape)
    weight = rng.standard_normal(param_shape)
    bias = rng.standard_normal(param_shape)
    params = {"axes": axes, "eps": 1e-5, "weight": weight, "bias": bias, "mean": None, "var": None}
    variants = {"gradcalc": lambda: gradcalc_step(x, up, params)}
    if torch is not None:
        tx, tup = torch.from_numpy(x), torch.from_numpy(up)
        tw, tb = torch.from_numpy(weight.ravel()), torch.from_numpy(bias.ravel())
        variants["torch"] = lambda: torch_step(tx, tup, tw, tb, kind)
        mine = gradcalc_step(x, up, params)
        theirs = torch_step(tx, tup, tw, tb, kind)[0].numpy()
        print(f"{label}: max |grad_input − torch| = {np.max(np.abs(mine - theirs)):.3g}")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for step in variants.values():
        step()  # warm-up
    names = list(variants)
    for round_ in range(reps):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            start = time.perf_counter()
            variants[name]()
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    line = f"{label}: gradcalc {medians['gradcalc'] * 1000:.1f} ms"
    if "torch" in medians:
        ratio = medians["gradcalc"] / medians["torch"]
        line += (
            f", torch float64 {medians['torch'] * 1000:.1f} ms (threads "
            f"{torch.get_num_threads()}), ratio {ratio:.2f} (target ≤ 1.5)"
        )
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-bench", action="store_true")
    parser.add_argument("--one-thread", action="store_true", help="gradcalc and torch on one core")
    args = parser.parse_args()
    if args.one_thread:
        os.environ["GRADCALC_THREADS"] = "1"  # core/parallel.py reads it at each call
        if torch is not None:
            torch.set_num_threads(1)
    status = 0
    if torch is None:
        print("skipping the comparisons with PyTorch: torch is not installed")
    else:
        torch.set_default_dtype(torch.float64)
        status = int(compare(args.problems, args.seed) > 1e-9)
    if not args.no_bench:
        bench(args.reps)
    return status


if __name__ == "__main__":
    sys.exit(main())
