"""Cross-check kind attention against PyTorch's F.scaled_dot_product_attention (float64).

Random problems (leading batch/head axes or none, L ≠ S, E ≠ Ev, boolean masks that
broadcast, additive masks, causal: true with L above and below S, a given scale or the
default 1/√E, an upstream or ones) solved by gradcalc in-process, exactly (the default) and
with ``force_float``, against torch with autograd, all in float64: every result (output,
scores, weights, grad_query, grad_key, grad_value; the scores as Q·Kᵀ·scale + the additive
mask, weights as softmax over the allowed keys).  Prints the worst relative difference
|gradcalc − torch|/max(1, |torch|); exit 1 above 1e-9.

Run from the repo root with a Python that has torch (not a gradcalc dependency); gradcalc is
imported as the package ``gradcalc`` (e.g. ``PYTHONPATH=/tmp/p`` with /tmp/p/gradcalc a link to
the repo).  Without torch it prints why it skips.

    python benchmarks/attention_pytorch_check.py [--problems 300] [--seed 0]
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


def draw(rng: random.Random, shape: tuple[int, ...]) -> list:
    values = [
        str(Fraction(rng.randint(-8, 8), rng.choice([1, 2, 4]))) for _ in range(int(np.prod(shape)))
    ]
    return np.array(values, dtype=object).reshape(shape).tolist()


def floats(value: Any) -> np.ndarray:
    return np.vectorize(lambda v: float(Fraction(v)), otypes=[float])(
        np.asarray(value, dtype=object)
    )


def boolean_mask(rng: random.Random, shape: tuple[int, ...]) -> list:
    """A random true/false mask of ``shape`` whose last axis (keys) is never all false
    (an all-false row is refused: see the kind)."""
    mask = np.array([rng.random() < 0.6 for _ in range(int(np.prod(shape)))]).reshape(shape)
    rows = mask.reshape(-1, shape[-1])
    rows[~rows.any(axis=1), rng.randrange(shape[-1])] = True
    return rows.reshape(shape).tolist()


def random_spec(rng: random.Random) -> dict[str, Any]:
    batch = rng.choice([(), (2,), (2, 3), (1, 2)])
    length, keys = rng.randint(1, 5), rng.randint(1, 5)
    width, value_width = rng.randint(1, 4), rng.randint(1, 4)
    spec: dict[str, Any] = {
        "kind": "attention",
        "query": draw(rng, (*batch, length, width)),
        "key": draw(rng, (*batch, keys, width)),
        "value": draw(rng, (*batch, keys, value_width)),
    }
    masking = rng.choice(["none", "causal", "boolean", "additive"])
    full = (*batch, length, keys)
    # A mask of the scores' shape or one that broadcasts (L×S, 1×S, S).
    mask_shape = rng.choice([full, (length, keys), (1, keys), (keys,)])
    if masking == "causal":
        spec["causal"] = True
    elif masking == "boolean":
        spec["mask"] = boolean_mask(rng, mask_shape if mask_shape != (keys,) else (1, keys))
    elif masking == "additive":
        spec["mask"] = draw(rng, mask_shape)
    if rng.random() < 0.4:
        spec["scale"] = str(Fraction(rng.randint(-4, 8), rng.choice([1, 2, 3, 4])))
    if rng.random() < 0.7:
        spec["upstream"] = draw(rng, (*batch, length, value_width))
    return spec


def torch_results(spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every gradcalc result of ``spec``, computed by torch in float64."""
    q, k, v = (
        torch.tensor(floats(spec[name]), requires_grad=True) for name in ("query", "key", "value")
    )
    scale = float(Fraction(spec["scale"])) if "scale" in spec else None
    mask = spec.get("mask")
    attn_mask = None
    if mask is not None:
        raw = np.asarray(mask)
        if raw.ndim == 1:  # torch's kernels want L×S at least: the same broadcast, written 1×S
            raw, mask = raw[None, :], [mask]
        attn_mask = torch.tensor(raw) if raw.dtype == bool else torch.tensor(floats(mask))
    out = F.scaled_dot_product_attention(
        q, k, v, attn_mask=attn_mask, is_causal=bool(spec.get("causal")), scale=scale
    )
    upstream = (
        torch.tensor(floats(spec["upstream"])) if "upstream" in spec else torch.ones_like(out)
    )
    grads = torch.autograd.grad(out, (q, k, v), upstream)
    used = scale if scale is not None else 1 / np.sqrt(q.shape[-1])
    scores = (q @ k.transpose(-2, -1) * used).detach()
    logits = scores.clone()
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        logits = logits.masked_fill(~attn_mask, float("-inf"))
    elif attn_mask is not None:
        scores = scores + attn_mask
        logits = scores.clone()
    if spec.get("causal"):
        lower = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        logits = logits.masked_fill(~lower, float("-inf"))
    found = {
        "output": out.detach(),
        "scores": scores,
        "weights": torch.softmax(logits, dim=-1),
        "grad_query": grads[0],
        "grad_key": grads[1],
        "grad_value": grads[2],
    }
    return {name: value.numpy() for name, value in found.items()}


def compare(problems: int, seed: int) -> float:
    rng = random.Random(seed)
    worst, where = 0.0, ""
    for number in range(problems):
        spec = random_spec(rng)
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
                    worst, where = gap, f"problem {number} {name}"
    print(
        f"{problems} random attention problems (masks, causal, scale; exact and --float) "
        f"against torch float64: worst relative difference {worst:.3g} at {where or '-'}"
    )
    return worst


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if torch is None:
        print("skipping the comparison with PyTorch: torch is not installed")
        return 0
    torch.set_default_dtype(torch.float64)
    return int(compare(args.problems, args.seed) > 1e-9)


if __name__ == "__main__":
    sys.exit(main())
