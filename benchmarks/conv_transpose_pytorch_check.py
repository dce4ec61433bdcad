"""Cross-check `gradcalc conv-transpose` against PyTorch's conv_transpose2d, 1d and 3d (float64).

Random problems (seeded) over batch, channels, groups, kernel size, stride, padding (also
asymmetric: PyTorch is given the symmetric part and the extra rows are cut from its output),
dilation and output_padding (below the stride or the dilation, PyTorch's rule), with a bias
and a random upstream.  Each is solved by gradcalc's solve pipeline exactly (Fractions) and
with force_float, and compared with torch float64's forward and autograd gradients; the worst
difference (relative to the largest entry) is printed.  Then as many 1-D problems (``dims: 1``,
signals of N×C_in×L, padding [left, right]) against conv_transpose1d, and 3-D problems
(``dims: 3``, volumes of N×C_in×D×H×W, padding of six sides) against conv_transpose3d.

    PYTHONPATH=<a folder holding gradcalc> /work/torchenv/bin/python \
        benchmarks/conv_transpose_pytorch_check.py [--problems 300] [--seed 0]

Without torch it prints why and exits 0.  Exit 1 when any result differs by more than 1e-9.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

try:
    import torch
except ImportError:
    torch = None


def draw(rng: np.random.Generator) -> dict:
    """One random problem as a spec (plain lists, small integers and halves)."""
    groups = int(rng.integers(1, 4))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    stride = [int(v) for v in rng.integers(1, 4, 2)]
    dilation = [int(v) for v in rng.integers(1, 4, 2)]
    extra = [int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)]
    padding = [int(v) for v in rng.integers(0, 3, 4)]
    size = [int(v) for v in rng.integers(1, 5, 2)]
    kernel = [int(v) for v in rng.integers(1, 4, 2)]
    batch = int(rng.integers(1, 3))
    for axis in range(2):  # the output keeps at least one row and column
        full = (size[axis] - 1) * stride[axis] + dilation[axis] * (kernel[axis] - 1) + 1
        while full - padding[2 * axis] - padding[2 * axis + 1] + extra[axis] < 1:
            padding[2 * axis] = max(0, padding[2 * axis] - 1)
            padding[2 * axis + 1] = max(0, padding[2 * axis + 1] - 1)
    halves = lambda shape: (rng.integers(-6, 7, shape) / 2).tolist()  # noqa: E731
    spec = {
        "kind": "conv_transpose",
        "input": halves((batch, c_in, *size)),
        "kernel": halves((c_in, c_out // groups, *kernel)),
        "bias": halves((c_out,)),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "output_padding": extra,
        "groups": groups,
    }
    shape = registry.solve(spec, SolveOptions(sections=frozenset())).results["output_shape"]
    spec["upstream"] = halves(tuple(shape))
    return spec


def draw_1d(rng: np.random.Generator) -> dict:
    """One random 1-D problem (dims: 1) as a spec, as :func:`draw` draws a 2-D one."""
    groups = int(rng.integers(1, 4))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    stride, dilation = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    extra = int(rng.integers(0, max(stride, dilation)))
    padding = [int(v) for v in rng.integers(0, 3, 2)]
    length, kernel, batch = (
        int(rng.integers(1, 6)),
        int(rng.integers(1, 4)),
        int(rng.integers(1, 3)),
    )
    full = (length - 1) * stride + dilation * (kernel - 1) + 1
    while full - sum(padding) + extra < 1:  # the output keeps at least one position
        padding = [max(0, p - 1) for p in padding]
    halves = lambda shape: (rng.integers(-6, 7, shape) / 2).tolist()  # noqa: E731
    spec = {
        "kind": "conv_transpose",
        "dims": 1,
        "input": halves((batch, c_in, length)),
        "kernel": halves((c_in, c_out // groups, kernel)),
        "bias": halves((c_out,)),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "output_padding": extra,
        "groups": groups,
    }
    shape = registry.solve(spec, SolveOptions(sections=frozenset())).results["output_shape"]
    spec["upstream"] = halves(tuple(shape))
    return spec


def draw_3d(rng: np.random.Generator) -> dict:
    """One random 3-D problem (dims: 3) as a spec, as :func:`draw` draws a 2-D one."""
    groups = int(rng.integers(1, 3))
    c_in, c_out = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    stride = [int(v) for v in rng.integers(1, 4, 3)]
    dilation = [int(v) for v in rng.integers(1, 3, 3)]
    extra = [int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation, strict=True)]
    padding = [int(v) for v in rng.integers(0, 3, 6)]
    size = [int(v) for v in rng.integers(1, 4, 3)]
    kernel = [int(v) for v in rng.integers(1, 3, 3)]
    batch = int(rng.integers(1, 3))
    for axis in range(3):  # the output keeps at least one cell on every axis
        full = (size[axis] - 1) * stride[axis] + dilation[axis] * (kernel[axis] - 1) + 1
        while full - padding[2 * axis] - padding[2 * axis + 1] + extra[axis] < 1:
            padding[2 * axis] = max(0, padding[2 * axis] - 1)
            padding[2 * axis + 1] = max(0, padding[2 * axis + 1] - 1)
    halves = lambda shape: (rng.integers(-6, 7, shape) / 2).tolist()  # noqa: E731
    spec = {
        "kind": "conv_transpose",
        "dims": 3,
        "input": halves((batch, c_in, *size)),
        "kernel": halves((c_in, c_out // groups, *kernel)),
        "bias": halves((c_out,)),
        "stride": stride,
        "padding": padding,
        "dilation": dilation,
        "output_padding": extra,
        "groups": groups,
    }
    shape = registry.solve(spec, SolveOptions(sections=frozenset())).results["output_shape"]
    spec["upstream"] = halves(tuple(shape))
    return spec


def with_torch_3d(spec: dict) -> dict:
    """PyTorch's conv_transpose3d output and gradients; six-sided padding as symmetric + a cut."""
    pads = spec["padding"]
    both = [min(pads[2 * axis], pads[2 * axis + 1]) for axis in range(3)]
    x, w, b = (
        torch.tensor(spec[k], dtype=torch.float64, requires_grad=True)
        for k in ("input", "kernel", "bias")
    )
    y = torch.nn.functional.conv_transpose3d(
        x, w, b, stride=spec["stride"], padding=both,
        output_padding=spec["output_padding"], groups=spec["groups"], dilation=spec["dilation"],
    )  # fmt: skip
    cuts = tuple(
        slice(pads[2 * axis] - both[axis], y.shape[2 + axis] - (pads[2 * axis + 1] - both[axis]))
        for axis in range(3)
    )
    y = y[(slice(None), slice(None), *cuts)]
    grads = torch.autograd.grad(y, (x, w, b), torch.tensor(spec["upstream"], dtype=torch.float64))
    names = ("output", "grad_input", "grad_kernel", "grad_bias")
    return dict(zip(names, (y.detach().numpy(), *(g.numpy() for g in grads)), strict=True))


def with_torch_1d(spec: dict) -> dict:
    """PyTorch's conv_transpose1d output and gradients; [left, right] as symmetric + a cut."""
    left, right = spec["padding"]
    x, w, b = (
        torch.tensor(spec[k], dtype=torch.float64, requires_grad=True)
        for k in ("input", "kernel", "bias")
    )
    y = torch.nn.functional.conv_transpose1d(
        x, w, b, stride=spec["stride"], padding=min(left, right),
        output_padding=spec["output_padding"], groups=spec["groups"], dilation=spec["dilation"],
    )  # fmt: skip
    y = y[:, :, left - min(left, right) : y.shape[2] - (right - min(left, right))]
    grads = torch.autograd.grad(y, (x, w, b), torch.tensor(spec["upstream"], dtype=torch.float64))
    names = ("output", "grad_input", "grad_kernel", "grad_bias")
    return dict(zip(names, (y.detach().numpy(), *(g.numpy() for g in grads)), strict=True))


def with_torch(spec: dict) -> dict:
    """PyTorch's output and gradients; asymmetric padding as symmetric + a cut."""
    top, bottom, left, right = spec["padding"]
    x, w, b = (
        torch.tensor(spec[k], dtype=torch.float64, requires_grad=True)
        for k in ("input", "kernel", "bias")
    )
    y = torch.nn.functional.conv_transpose2d(
        x, w, b, stride=spec["stride"], padding=(min(top, bottom), min(left, right)),
        output_padding=spec["output_padding"], groups=spec["groups"], dilation=spec["dilation"],
    )  # fmt: skip
    cut_h, cut_w = top - min(top, bottom), left - min(left, right)
    end_h = y.shape[2] - (bottom - min(top, bottom))
    end_w = y.shape[3] - (right - min(left, right))
    y = y[:, :, cut_h:end_h, cut_w:end_w]
    grads = torch.autograd.grad(y, (x, w, b), torch.tensor(spec["upstream"], dtype=torch.float64))
    names = ("output", "grad_input", "grad_kernel", "grad_bias")
    return dict(zip(names, (y.detach().numpy(), *(g.numpy() for g in grads)), strict=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--problems", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if torch is None:
        print("torch is not installed: nothing to compare against (skipped)")
        return 0
    failed = False
    checks = ((2, draw, with_torch), (1, draw_1d, with_torch_1d), (3, draw_3d, with_torch_3d))
    for dims, draw_one, torch_one in checks:
        rng = np.random.default_rng(args.seed)
        worst, where = 0.0, ""
        for number in range(args.problems):
            spec = draw_one(rng)
            theirs = torch_one(spec)
            for force_float in (False, True):
                options = SolveOptions(sections=frozenset(), force_float=force_float)
                ours = registry.solve(spec, options).results
                for name, value in theirs.items():
                    mine = np.asarray(ours[name], dtype=float)
                    gap = float(np.max(np.abs(mine - value), initial=0.0))
                    gap /= max(1.0, float(np.max(np.abs(value), initial=0.0)))
                    if gap > worst:
                        worst, where = (
                            gap,
                            f"problem {number} {name} ({'float' if force_float else 'exact'})",
                        )
        print(
            f"{args.problems} random conv_transpose{dims}d problems (groups, dilation, "
            "output_padding, asymmetric padding), exact and float: worst difference from "
            f"torch float64 {worst:.1e}" + (f" at {where}" if where else "")
        )
        failed |= worst > 1e-9
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
