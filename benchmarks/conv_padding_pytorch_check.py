"""Cross-check conv's padding modes against PyTorch (float64): random problems per mode.

Run with a Python that has torch (not a gradcalc dependency), gradcalc importable, e.g.

    mkdir -p /tmp/p && ln -sfn "$PWD" /tmp/p/gradcalc
    PYTHONPATH=/tmp/p /work/torchenv/bin/python benchmarks/conv_padding_pytorch_check.py

Each problem draws a batch, groups (1, 2 or 3; channels a multiple), channels, image and kernel sizes, stride, dilation, a padding
(one number, [ph, pw], [top, bottom, left, right], "same" or "full") within PyTorch's limits
for the mode, flip_kernel, a bias and an upstream; gradcalc solves it exactly and with
--float, and torch computes ``F.pad(x, (left, right, top, bottom), mode)`` (``constant`` for
zeros) then ``F.conv2d`` without padding, forward and backward.  Prints the largest relative
difference per mode and result; exit 1 when any is above 1e-12.  Then as many 1-D problems
per mode (``dims: 1``: N×C×L signals, padding one number, [left, right] or "full") against
``F.pad(x, (left, right), mode)`` and ``F.conv1d``, and 3-D problems (``dims: 3``:
N×C×D×H×W volumes, padding one number, [pd, ph, pw] or six sides) against ``F.pad`` of the
last three axes and ``F.conv3d``.  Without torch it prints why it skipped and exits 0.
"""

from __future__ import annotations

import argparse
import random
import sys
from fractions import Fraction

import numpy as np

MODES = ("zeros", "reflect", "replicate", "circular")
TORCH_MODE = {
    "zeros": "constant",
    "reflect": "reflect",
    "replicate": "replicate",
    "circular": "circular",
}


def draw(rng: random.Random, mode: str) -> tuple[dict, tuple[int, int, int, int]]:
    """A random conv spec with ``padding_mode: mode`` and its (top, bottom, left, right)."""
    while True:
        n, groups = rng.randint(1, 2), rng.choice((1, 1, 2, 3))
        c, o = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
        h, w = rng.randint(1, 7), rng.randint(1, 7)
        kh, kw = rng.randint(1, 4), rng.randint(1, 4)
        stride = [rng.randint(1, 3), rng.randint(1, 3)]
        dilation = [rng.randint(1, 2), rng.randint(1, 2)]
        form = rng.choice(("int", "pair", "quad", "same", "full"))
        if form == "int":
            p = rng.randint(0, 3)
            written, pads = p, (p, p, p, p)
        elif form == "pair":
            ph, pw = rng.randint(0, 3), rng.randint(0, 3)
            written, pads = [ph, pw], (ph, ph, pw, pw)
        elif form == "quad":
            pads = tuple(rng.randint(0, 4) for _ in range(4))
            written = list(pads)
        elif form == "same":
            stride = [1, 1]
            th, tw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            written, pads = "same", (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            ph, pw = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
            written, pads = "full", (ph, ph, pw, pw)
        sizes = (h, h, w, w)
        if mode == "reflect" and any(p >= s for p, s in zip(pads, sizes, strict=True)):
            continue
        if mode == "circular" and any(p > s for p, s in zip(pads, sizes, strict=True)):
            continue
        if h + pads[0] + pads[1] < dilation[0] * (kh - 1) + 1:
            continue
        if w + pads[2] + pads[3] < dilation[1] * (kw - 1) + 1:
            continue
        out_h = (h + pads[0] + pads[1] - dilation[0] * (kh - 1) - 1) // stride[0] + 1
        out_w = (w + pads[2] + pads[3] - dilation[1] * (kw - 1) - 1) // stride[1] + 1

        def values(*shape: int) -> list:
            flat = [
                str(Fraction(rng.randint(-9, 9), rng.choice((1, 2, 4, 3))))
                for _ in range(int(np.prod(shape)))
            ]
            return np.array(flat, dtype=object).reshape(shape).tolist()

        spec = {
            "kind": "conv",
            "input": values(n, c, h, w),
            "kernel": values(o, c // groups, kh, kw),
            "bias": values(o),
            "stride": stride,
            "dilation": dilation,
            "padding": written,
            "padding_mode": mode,
            "groups": groups,
            "flip_kernel": rng.random() < 0.3,
            "upstream": values(n, o, out_h, out_w),
        }
        return spec, pads


def draw_1d(rng: random.Random, mode: str) -> tuple[dict, tuple[int, int]]:
    """A random 1-D conv spec (dims: 1) with ``padding_mode: mode`` and its (left, right)."""
    while True:
        n, groups = rng.randint(1, 2), rng.choice((1, 1, 2, 3))
        c, o = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
        length, k = rng.randint(1, 8), rng.randint(1, 4)
        stride, dilation = rng.randint(1, 3), rng.randint(1, 2)
        form = rng.choice(("int", "pair", "full"))
        if form == "int":
            p = rng.randint(0, 3)
            written, pads = p, (p, p)
        elif form == "pair":
            pads = (rng.randint(0, 4), rng.randint(0, 4))
            written = list(pads)
        else:
            p = dilation * (k - 1)
            written, pads = "full", (p, p)
        if mode == "reflect" and max(pads) >= length or mode == "circular" and max(pads) > length:
            continue
        if length + sum(pads) < dilation * (k - 1) + 1:
            continue
        out = (length + sum(pads) - dilation * (k - 1) - 1) // stride + 1

        def values(*shape: int) -> list:
            flat = [
                str(Fraction(rng.randint(-9, 9), rng.choice((1, 2, 4, 3))))
                for _ in range(int(np.prod(shape)))
            ]
            return np.array(flat, dtype=object).reshape(shape).tolist()

        spec = {
            "kind": "conv",
            "dims": 1,
            "input": values(n, c, length),
            "kernel": values(o, c // groups, k),
            "bias": values(o),
            "stride": stride,
            "dilation": dilation,
            "padding": written,
            "padding_mode": mode,
            "groups": groups,
            "flip_kernel": rng.random() < 0.3,
            "upstream": values(n, o, out),
        }
        return spec, pads


def draw_3d(rng: random.Random, mode: str) -> tuple[dict, tuple[int, ...]]:
    """A random 3-D conv spec (dims: 3) with ``padding_mode: mode`` and its six sides
    (front, back, top, bottom, left, right)."""
    while True:
        n, groups = rng.randint(1, 2), rng.choice((1, 1, 2))
        c, o = groups * rng.randint(1, 2), groups * rng.randint(1, 2)
        size = [rng.randint(1, 4) for _ in range(3)]
        kernel = [rng.randint(1, 3) for _ in range(3)]
        stride = [rng.randint(1, 2) for _ in range(3)]
        dilation = [rng.randint(1, 2) for _ in range(3)]
        form = rng.choice(("int", "triple", "six"))
        if form == "int":
            p = rng.randint(0, 2)
            written, pads = p, (p,) * 6
        elif form == "triple":
            triple = [rng.randint(0, 2) for _ in range(3)]
            written, pads = triple, tuple(v for v in triple for _ in range(2))
        else:
            pads = tuple(rng.randint(0, 3) for _ in range(6))
            written = list(pads)
        sides = [size[a // 2] for a in range(6)]
        if mode == "reflect" and any(p >= s for p, s in zip(pads, sides, strict=True)):
            continue
        if mode == "circular" and any(p > s for p, s in zip(pads, sides, strict=True)):
            continue
        padded = [size[a] + pads[2 * a] + pads[2 * a + 1] for a in range(3)]
        spans = [dilation[a] * (kernel[a] - 1) + 1 for a in range(3)]
        if any(p < span for p, span in zip(padded, spans, strict=True)):
            continue
        out = [(padded[a] - spans[a]) // stride[a] + 1 for a in range(3)]

        def values(*shape: int) -> list:
            flat = [
                str(Fraction(rng.randint(-9, 9), rng.choice((1, 2, 4, 3))))
                for _ in range(int(np.prod(shape)))
            ]
            return np.array(flat, dtype=object).reshape(shape).tolist()

        spec = {
            "kind": "conv",
            "dims": 3,
            "input": values(n, c, *size),
            "kernel": values(o, c // groups, *kernel),
            "bias": values(o),
            "stride": stride,
            "dilation": dilation,
            "padding": written,
            "padding_mode": mode,
            "groups": groups,
            "flip_kernel": rng.random() < 0.3,
            "upstream": values(n, o, *out),
        }
        return spec, pads


def floats(value) -> np.ndarray:
    return np.vectorize(lambda v: float(Fraction(v)), otypes=[float])(np.array(value, dtype=object))


def torch_results(spec: dict, pads: tuple[int, int, int, int]) -> dict[str, np.ndarray]:
    import torch
    import torch.nn.functional as F

    x = torch.tensor(floats(spec["input"]), dtype=torch.float64, requires_grad=True)
    w = torch.tensor(floats(spec["kernel"]), dtype=torch.float64, requires_grad=True)
    b = torch.tensor(floats(spec["bias"]), dtype=torch.float64, requires_grad=True)
    if spec.get("dims") == 3:  # F.pad on the last three axes, then conv3d
        front, back, top, bottom, left, right = pads
        padded = F.pad(
            x, (left, right, top, bottom, front, back), mode=TORCH_MODE[spec["padding_mode"]]
        )
        slid = torch.flip(w, dims=(2, 3, 4)) if spec["flip_kernel"] else w
        y = F.conv3d(
            padded, slid, b, stride=tuple(spec["stride"]), dilation=tuple(spec["dilation"]),
            groups=spec["groups"],
        )  # fmt: skip
    elif spec.get("dims") == 1:  # F.pad on the last axis, then conv1d
        padded = F.pad(x, pads, mode=TORCH_MODE[spec["padding_mode"]])
        slid = torch.flip(w, dims=(2,)) if spec["flip_kernel"] else w
        y = F.conv1d(
            padded, slid, b, stride=spec["stride"], dilation=spec["dilation"], groups=spec["groups"]
        )
    else:
        top, bottom, left, right = pads
        padded = F.pad(x, (left, right, top, bottom), mode=TORCH_MODE[spec["padding_mode"]])
        slid = torch.flip(w, dims=(2, 3)) if spec["flip_kernel"] else w
        y = F.conv2d(
            padded,
            slid,
            b,
            stride=tuple(spec["stride"]),
            dilation=tuple(spec["dilation"]),
            groups=spec["groups"],
        )
    y.backward(torch.tensor(floats(spec["upstream"]), dtype=torch.float64))
    return {
        "output": y.detach().numpy(),
        "grad_input": x.grad.numpy(),
        "grad_kernel": w.grad.numpy(),
        "grad_bias": b.grad.numpy(),
    }


def worst(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.maximum(1.0, np.abs(b)), initial=0.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=200, help="random problems per mode")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("skipped: torch is not installed (run with a Python that has it)")
        return 0
    from gradcalc.core.spec import SolveOptions

    exact_options = SolveOptions(sections=frozenset(), gradient_check=False)
    float_options = SolveOptions(sections=frozenset(), gradient_check=False, force_float=True)
    failed = False
    for dims, draw_one in ((2, draw), (1, draw_1d), (3, draw_3d)):
        failed |= _compare(dims, draw_one, args, exact_options, float_options)
    return 1 if failed else 0


def _compare(dims: int, draw_one, args, exact_options, float_options) -> bool:
    """Every mode's problems of ``dims`` against torch; True when any differs above 1e-12."""
    from gradcalc.core import registry

    rng = random.Random(args.seed)
    failed = False
    for mode in MODES:
        largest = {"exact": 0.0, "float": 0.0}
        for _ in range(args.problems):
            spec, pads = draw_one(rng, mode)
            expected = torch_results(spec, pads)
            for label, options in (("exact", exact_options), ("float", float_options)):
                results = registry.solve(spec, options).results
                for name, want in expected.items():
                    got = floats(results[name]).reshape(want.shape)
                    largest[label] = max(largest[label], worst(got, want))
        print(
            f"{dims}-D {mode:9s} {args.problems} problems: largest relative difference from "
            f"torch exact {largest['exact']:.1e}, --float {largest['float']:.1e}"
        )
        failed |= max(largest.values()) > 1e-12
    return failed


if __name__ == "__main__":
    sys.exit(main())
