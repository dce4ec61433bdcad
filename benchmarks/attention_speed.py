"""The attention benchmark of issue 17: L = S = 256, E = 64, batch 8, forward + backward in
float mode (core/ops/attention.py through the op adapter, as ``gradcalc attention --float``
runs it) against PyTorch's F.scaled_dot_product_attention in float64 on the CPU, in the same
process: medians of interleaved rounds and the ratio gradcalc / torch (target ≤ 1.5), with
and without causal: true.  Without torch it times gradcalc alone and says why.

    python benchmarks/attention_speed.py [--reps 9] [--threads N]

``--threads N`` runs both on N threads (OpenBLAS's, set before NumPy is imported, and
torch.set_num_threads): on a busy shared machine one thread each gives steadier ratios.

Run from the repo root with gradcalc importable as the package ``gradcalc`` (see
benchmarks/attention_pytorch_check.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

if "--threads" in sys.argv:  # before NumPy loads OpenBLAS, which reads it once
    _threads = sys.argv[sys.argv.index("--threads") + 1]
    for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_name] = _threads

import numpy as np  # noqa: E402

from gradcalc.core.ops import adapter  # noqa: E402
from gradcalc.core.ops.attention import ATTENTION  # noqa: E402

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None

BATCH, LENGTH, WIDTH = 8, 256, 64


def gradcalc_step(q, k, v, up, allowed) -> dict[str, np.ndarray]:
    params = {"key": k, "value": v, "scale": 1 / np.sqrt(WIDTH), "bias": None, "allowed": allowed}
    _, trace = adapter.forward(ATTENTION, q, params, exact=False)
    return adapter.backward(up, trace)


def torch_step(q, k, v, up, causal: bool):
    q, k, v = (t.detach().requires_grad_(True) for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return torch.autograd.grad(out, (q, k, v), up)


def bench(causal: bool, reps: int) -> None:
    rng = np.random.default_rng(0)
    q, k, v, up = (rng.standard_normal((BATCH, LENGTH, WIDTH)) for _ in range(4))
    allowed = np.tril(np.ones((LENGTH, LENGTH), dtype=bool)) if causal else None
    label = f"attention {BATCH}×{LENGTH}×{WIDTH}{', causal' if causal else ''}"
    variants = {"gradcalc": lambda: gradcalc_step(q, k, v, up, allowed)}
    if torch is not None:
        tq, tk, tv, tup = (torch.from_numpy(a) for a in (q, k, v, up))
        variants["torch"] = lambda: torch_step(tq, tk, tv, tup, causal)
        mine = gradcalc_step(q, k, v, up, allowed)
        theirs = torch_step(tq, tk, tv, tup, causal)
        gap = max(
            float(np.max(np.abs(mine[name] - t.numpy())))
            for name, t in zip(("input", "key", "value"), theirs, strict=True)
        )
        print(f"{label}: max |gradient − torch| = {gap:.3g}")
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
    else:
        line += " (torch is not installed: no comparison)"
    print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads and torch is not None:
        torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f}")
    for causal in (False, True):
        bench(causal, args.reps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
