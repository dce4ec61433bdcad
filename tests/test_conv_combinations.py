"""conv's features together: groups with a padding mode (reflect, replicate, circular),
dilation, stride, batch, bias and flip_kernel; 1-D grouped convolutions; symbolic entries
with both — what the hostile review of the merged conv family found."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli.main import main

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}

GROUPED_REFLECT = """\
kind: conv
input: [[[1, 2, 0], [3, 4, 1], [2, 2, 5]], [[0, 1, 3], [1, 0, 2], [4, 1, 1]]]
kernel: [[[[1, -1], [2, 0]]], [[[0, 1], [1, 3]]]]
groups: 2
padding: 1
padding_mode: reflect
dilation: 2
stride: 2
bias: [1, 2]
"""


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_the_kernel_identity_correlates_xpad_itself(tmp_path: Path) -> None:
    """With a padding mode the convolution slides over xpad with no padding of its own:
    the ∂L/∂w identity names xpad, not an "xpad_padded" (x padded twice)."""
    for flip in ("false", "true"):
        spec = tmp_path / f"g_{flip}.yaml"
        spec.write_text(GROUPED_REFLECT + f"flip_kernel: {flip}\n")
        text = run("run", str(spec), "--show", "identities")
        assert "xpad_padded" not in text
        assert ("rot180(xpad ⋆ ∂L/∂y)" if flip == "true" else "∂L/∂w = xpad ⋆ ∂L/∂y") in text
    # zero padding keeps its x_padded (x with its zeros)
    zeros = tmp_path / "z.yaml"
    zeros.write_text(GROUPED_REFLECT.replace("reflect", "zeros"))
    assert "∂L/∂w = x_padded ⋆ ∂L/∂y" in run("run", str(zeros), "--show", "identities")


def test_grouped_reflect_flipped_dilated_strided_numbers(tmp_path: Path) -> None:
    """groups 2 (two kernels per group) + reflect padding [top 1, bottom 2, left 2, right 1] +
    dilation 2 + stride 2 + flip_kernel + bias, exact and --float, against PyTorch float64:
    F.conv2d(F.pad(x, (2, 1, 1, 2), "reflect"), w.flip(2, 3), b, stride=2, dilation=2,
    groups=2), backward with the upstream below."""
    spec = tmp_path / "g.yaml"
    upstream = [[[-1, 0, 1]] * 3] * 4
    spec.write_text(
        "kind: conv\n"
        "input: [[[1, 2, 0, -1], [3, 4, 1, 0], [2, 2, 5, 1], [0, -2, 1, 3]],"
        " [[0, 1, 3, 2], [1, 0, 2, -1], [4, 1, 1, 0], [2, 0, -3, 1]]]\n"
        "kernel: [[[[1, -1], [2, 0]]], [[[0, 1], [1, 3]]], [[[2, 0], [-1, 1]]],"
        " [[[1, 1], [0, -2]]]]\n"
        "groups: 2\npadding: [1, 2, 2, 1]\npadding_mode: reflect\ndilation: 2\nstride: 2\n"
        f"flip_kernel: true\nbias: [1, 2, 0, -1]\nupstream: {upstream}\n"
    )
    torch = {
        "output": [
            [[9, 1, 3], [6, 4, 3], [3, 1, 3]],
            [[9, 15, 7], [9, 12, 7], [6, 6, 7]],
            [[3, 3, 4], [5, -7, -6], [-3, 9, 4]],
            [[-2, 0, -1], [-6, -4, -11], [8, -2, 9]],
        ],
        "grad_input": [
            [[0, 0, 0, 0], [-8, 0, 8, 0], [0, 0, 0, 0], [-4, 0, 4, 0]],
            [[0, 0, 0, 0], [-4, 0, 4, 0], [0, 0, 0, 0], [-2, 0, 2, 0]],
        ],
        "grad_kernel": [[[[-3, 0], [-3, 0]]]] * 4,
        "grad_bias": [0, 0, 0, 0],
    }
    for extra in ((), ("--float",)):
        results = json.loads(run("run", str(spec), "--format", "json", *extra))["results"]
        for name, want in torch.items():
            assert results[name] == want, (extra, name)


def test_a_grouped_signal_without_dims_says_dims_1_fits() -> None:
    """A C×L input with a C_out×(C_in/groups)×k kernel and no dims key is read as an image
    (H×W and C_in×kh×kw), so its channels do not fit: the refusal says a 1-D reading fits."""
    kernel = "[[[1, -1, 2]], [[0, 1, 1]], [[1, 1, 1]], [[2, 0, -1]]]"
    for signal in ("[[1, 0, 2], [3, -2, 1]]", "[[[1, 0, 2], [3, -2, 1]], [[1, 1, 0], [0, 2, 1]]]"):
        args = ["conv", "--input", signal, "--kernel", kernel, "--groups", "2"]
        result = CliRunner().invoke(main, args, env=ENV)
        assert result.exit_code == 2
        assert "as a 1-D signal, dims: 1, its channels fit" in result.output
        fixed = CliRunner().invoke(main, [*args, "--dims", "1", "--format", "json"], env=ENV)
        assert fixed.exit_code == 0, fixed.output
    # an image whose channels do not fit either way gets no such hint
    image = ["--input", "[[[1, 2], [3, 4]], [[1, 2], [3, 4]], [[0, 1], [1, 0]]]"]
    result = CliRunner().invoke(
        main, ["conv", *image, "--kernel", "[[[[1]]], [[[1]]], [[[1]]]]", "--groups", "2"], env=ENV
    )
    assert result.exit_code == 2 and "dims: 1" not in result.output


def test_reflect_padding_on_a_one_row_input_counts_one_row() -> None:
    args = ["conv", "--input", "[[[1, 2, 3]], [[4, 5, 6]]]", "--kernel", "[[[[1]]], [[[2]]]]"]
    result = CliRunner().invoke(
        main, [*args, "--groups", "2", "--padding", "1", "--padding-mode", "reflect"], env=ENV
    )
    assert result.exit_code == 2
    assert "not smaller than the input's 1 row (PyTorch's rule" in result.output
