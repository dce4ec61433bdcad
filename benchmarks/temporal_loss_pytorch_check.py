"""Cross-check kind loss with ``temporal`` (cs231n's temporal_softmax_loss) against PyTorch.

Random problems (N ≤ 4 sequences, T ≤ 6 steps, V ≤ 6 classes, random masks, reduction mean
and sum) solved by gradcalc in-process against torch float64: F.cross_entropy on the scores
reshaped to (N·T)×V with the masked steps' targets set to ignore_index, reduction "sum",
divided by N for cs231n's mean; ∂L/∂input by autograd.  Also prints how far PyTorch's own
mean (over the counted steps) is from cs231n's on the same problems.  Exit 1 above 1e-9.

    PYTHONPATH=/tmp/p python benchmarks/temporal_loss_pytorch_check.py [--problems 300]
"""

from __future__ import annotations

import argparse
import random
import sys
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - torch is optional
    torch = None


def random_spec(rng: random.Random) -> dict[str, Any]:
    n, t, v = rng.randint(1, 4), rng.randint(1, 6), rng.randint(2, 6)
    scores = [[[str(Fraction(rng.randint(-12, 12), rng.choice([1, 2, 4]))) for _ in range(v)]
               for _ in range(t)] for _ in range(n)]  # fmt: skip
    target = [[rng.randrange(v) for _ in range(t)] for _ in range(n)]
    mask = [[int(rng.random() < 0.7) for _ in range(t)] for _ in range(n)]
    return {
        "kind": "loss",
        "loss": "cross_entropy",
        "input": scores,
        "target": target,
        "temporal": mask,
        "reduction": rng.choice(["mean", "sum"]),
    }


def torch_results(spec: dict[str, Any]) -> tuple[float, np.ndarray, float]:
    x = torch.tensor(
        np.vectorize(lambda s: float(Fraction(s)))(np.array(spec["input"], dtype=object)),
        requires_grad=True,
    )
    n, t, v = x.shape
    target = torch.tensor(spec["target"])
    mask = torch.tensor(spec["temporal"], dtype=torch.bool)
    ignored = torch.where(mask, target, torch.full_like(target, -100))
    total = F.cross_entropy(x.reshape(n * t, v), ignored.reshape(-1), reduction="sum")
    loss = total / n if spec["reduction"] == "mean" else total
    (grad,) = torch.autograd.grad(loss, x)
    counted = int(mask.sum())
    torch_mean = float(total.detach()) / counted if counted else float("nan")
    return float(loss.detach()), grad.numpy(), torch_mean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if torch is None:
        print("skipping the comparison with PyTorch: torch is not installed")
        return 0
    torch.set_default_dtype(torch.float64)
    rng = random.Random(args.seed)
    worst, ratios = 0.0, []
    for _ in range(args.problems):
        spec = random_spec(rng)
        loss, grad, torch_mean = torch_results(spec)
        got = registry.solve(spec, SolveOptions(sections=frozenset(), gradient_check=False))
        mine_loss = float(got.results["loss"])
        mine_grad = np.asarray(got.results["grad_input"], dtype=float)
        worst = max(worst, abs(mine_loss - loss) / max(1.0, abs(loss)))
        worst = max(worst, float(np.max(np.abs(mine_grad - grad) / np.maximum(1.0, np.abs(grad)))))
        if spec["reduction"] == "mean" and mine_loss and torch_mean == torch_mean:
            ratios.append(torch_mean / mine_loss)
    print(
        f"{args.problems} random temporal losses against torch float64 (sum over the reshaped "
        f"rows, / N for the mean): worst relative difference {worst:.3g}"
    )
    if ratios:
        print(
            f"PyTorch's own mean over the counted steps is {min(ratios):.3g}–{max(ratios):.3g} "
            "times cs231n's on the mean problems (= N/(counted steps))"
        )
    return int(worst > 1e-9)


if __name__ == "__main__":
    sys.exit(main())
