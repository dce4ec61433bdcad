"""Cross-check `kind: dropout` and `kind: embedding` against PyTorch (float64).

Run with a Python that has torch (not a gradcalc dependency), gradcalc importable:

    mkdir -p /tmp/gc && ln -sfn "$PWD" /tmp/gc/gradcalc
    PYTHONPATH=/tmp/gc /work/torchenv/bin/python benchmarks/dropout_embedding_pytorch_check.py

Dropout: torch's own F.dropout (training) draws a mask under a fixed torch seed; the mask is
read back from its output (every input entry is nonzero), given to gradcalc, and gradcalc's
output and ∂L/∂x (exact, and with --float) are compared with torch's output and autograd
gradient: this checks the 1/(1 − p) scale of the forward and the backward pass alike.
Embedding: F.embedding with padding_idx (negative ones too) and repeated indices, its output
and weight.grad against gradcalc's output and grad_weight.  The bundled problems'
expected answers are compared with torch too.  Prints the worst relative error per kind and
a float-mode timing ratio (gradcalc float64 over torch float64, forward + backward, in this
process); exit 1 when any error is above 1e-12.  Without torch it prints why and exits 0.
"""

from __future__ import annotations

import sys
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # the check needs torch; gradcalc does not
    print("skipped: torch is not installed (run with a Python that has torch)")
    sys.exit(0)

import yaml

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

REPO = Path(__file__).resolve().parents[1]
TOLERANCE = 1e-12


def error(got, want) -> float:
    got = np.asarray(got, dtype=object).astype(float)
    want = np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    return float(np.max(np.abs(got - want) / np.maximum(1.0, np.abs(want)), initial=0.0))


def solve(spec: dict, force_float: bool) -> dict:
    options = SolveOptions(gradient_check=False, sections=frozenset(), force_float=force_float)
    return registry.solve(spec, options).results


def text(values: np.ndarray) -> list:
    """Exact spec text for float64 values (each float is a fraction)."""
    return np.vectorize(lambda v: str(Fraction(float(v))), otypes=[object])(values).tolist()


def dropout_case(rng: np.random.Generator, seed: int) -> float:
    shape = tuple(int(s) for s in rng.integers(1, 5, size=int(rng.integers(1, 4))))
    p = float(rng.choice([0.0, 0.1, 0.25, 0.5, 0.9, 0.999]))
    x = rng.integers(1, 9, size=shape) * rng.choice([-1, 1], size=shape) / 4.0
    up = rng.integers(-8, 9, size=shape) / 4.0
    torch.manual_seed(seed)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    yt = F.dropout(xt, p=p, training=True)
    yt.backward(torch.tensor(up, dtype=torch.float64))
    mask = (yt.detach().numpy() != 0).astype(int)
    spec = {
        "kind": "dropout",
        "input": text(x),
        "p": str(Fraction(p)),
        "mask": mask.tolist(),
        "upstream": text(up),
    }
    worst = 0.0
    for force_float in (False, True):
        results = solve(spec, force_float)
        worst = max(worst, error(results["output"], yt.detach().numpy()))
        worst = max(worst, error(results["grad_input"], xt.grad.numpy()))
    return worst


def embedding_case(rng: np.random.Generator) -> float:
    vocabulary, width = int(rng.integers(2, 7)), int(rng.integers(1, 5))
    shape = tuple(int(s) for s in rng.integers(1, 4, size=int(rng.integers(0, 3))))
    indices = rng.integers(0, vocabulary, size=shape)
    weight = rng.integers(-8, 9, size=(vocabulary, width)) / 4.0
    up = rng.integers(-8, 9, size=(*shape, width)) / 4.0
    padding = None if rng.random() < 0.4 else int(rng.integers(-vocabulary, vocabulary))
    wt = torch.tensor(weight, dtype=torch.float64, requires_grad=True)
    yt = F.embedding(torch.tensor(indices, dtype=torch.long), wt, padding_idx=padding)
    yt.backward(torch.tensor(up, dtype=torch.float64))
    spec = {
        "kind": "embedding",
        "indices": indices.tolist(),
        "weight": text(weight),
        "upstream": text(up),
    }
    if padding is not None:
        spec["padding_idx"] = padding
    worst = 0.0
    for force_float in (False, True):
        results = solve(spec, force_float)
        worst = max(worst, error(results["output"], yt.detach().numpy()))
        worst = max(worst, error(results["grad_weight"], wt.grad.numpy()))
    return worst


def bundled(name: str) -> float:
    """The bundled problem's expected answers against torch on its own numbers."""
    spec = yaml.safe_load((REPO / "problems" / name).read_text(encoding="utf-8"))
    number = np.vectorize(lambda v: float(Fraction(str(v))), otypes=[float])
    up = torch.tensor(number(np.array(spec["upstream"], dtype=object)), dtype=torch.float64)
    if spec["kind"] == "dropout":
        x = torch.tensor(number(np.array(spec["input"], dtype=object)), requires_grad=True)
        mask = torch.tensor(np.array(spec["mask"], dtype=float))
        # torch's dropout given this mask: what its kernel computes, x·mask/(1 − p).
        y = x * mask / (1 - float(Fraction(str(spec["p"]))))
        y.backward(up)
        pairs = (("output", y), ("grad_input", x.grad))
    else:
        w = torch.tensor(number(np.array(spec["weight"], dtype=object)), requires_grad=True)
        y = F.embedding(torch.tensor(spec["indices"]), w, padding_idx=spec.get("padding_idx"))
        y.backward(up)
        pairs = (("output", y), ("grad_weight", w.grad))
    expected = spec["expected"]
    return max(error(number(np.array(expected[k], dtype=object)), v.detach()) for k, v in pairs)


def timing() -> str:
    """gradcalc's float64 path (the kinds' run) over torch float64, forward + backward."""
    rng = np.random.default_rng(0)
    x, up = rng.standard_normal((64, 128, 64)), rng.standard_normal((64, 128, 64))
    mask = (rng.random(x.shape) >= 0.5).astype(int)
    from gradcalc.core.kinds import dropout as dropout_kind

    problem = dropout_kind.DropoutProblem(
        title=None, input=x, p=Fraction(1, 2), training=True, mask=mask, mask_given=True,
        seed=None, upstream=up, upstream_given=True, names=dict(dropout_kind.NAME_DEFAULTS),
        index_base=0, expected={}, tolerance=None,
    )  # fmt: skip
    options = SolveOptions(force_float=True)
    xt, maskt, upt = torch.tensor(x, requires_grad=True), torch.tensor(mask * 1.0), torch.tensor(up)

    def theirs() -> None:
        xt.grad = None
        (xt * maskt / 0.5).backward(upt)

    ours = best_of(lambda: dropout_kind.run(problem, options))
    return_ratio = ours / best_of(theirs)
    return f"dropout 64×128×64 float64, forward + backward: {return_ratio:.2f}× torch (best of 5)"


def best_of(work, runs: int = 5) -> float:
    """The fastest of ``runs`` timings (the first warms up)."""
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times[1:])


def main() -> int:
    rng = np.random.default_rng(16)
    worst_dropout = max(dropout_case(rng, seed) for seed in range(200))
    worst_embedding = max(embedding_case(rng) for _ in range(200))
    worst_bundled = max(
        bundled("dropout_mask.yaml"),
        bundled("embedding_repeated_index.yaml")
        if (REPO / "problems" / "embedding_repeated_index.yaml").exists()
        else 0.0,
    )
    print(f"dropout: 200 random problems, worst relative error {worst_dropout:.3g}")
    print(f"embedding: 200 random problems, worst relative error {worst_embedding:.3g}")
    print(f"bundled problems' expected answers: worst relative error {worst_bundled:.3g}")
    print(timing())
    worst = max(worst_dropout, worst_embedding, worst_bundled)
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
