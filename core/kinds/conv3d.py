"""A 3-D conv spec's geometry (``dims: 3``, PyTorch's conv3d) and its Jacobian maps, for
core/kinds/conv.py, which reads and runs every conv problem.

Every spatial triple is (depth, rows, columns): ``stride`` and ``dilation`` are an int or
[sd, sh, sw]; ``padding`` is an int, [pd, ph, pw] (both sides of each axis), [front, back,
top, bottom, left, right], "valid", "same" (stride 1) or "full" (d·(k−1) on every side).
Inside a run the arrays are NCDHW: input N×C×D×H×W, kernel O×(C/g)×kd×kh×kw (core/ops/conv3d.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import _pair_int, read_choice, refuse_pair_text
from gradcalc.core.ops.conv3d import Conv3dGeometry, tap_windows3
from gradcalc.core.ops.pad import MODES, fits, limit_words
from gradcalc.core.values import describe, looks_numeric, parse_bool

if TYPE_CHECKING:
    from gradcalc.core.kinds.conv import ConvProblem

AXES = ("depth", "rows", "cols")
SIDES = ("front", "back", "top", "bottom", "left", "right")


def read_triple(value: Any, path: tuple, what: str, minimum: int) -> tuple[int, int, int]:
    """An int (every axis), or [depth, rows, cols], each at least ``minimum``."""
    allowed = f"allowed: a whole number or [depth, rows, cols], each at least {minimum}"
    if isinstance(value, (list, tuple)):
        if len(value) != 3:
            raise SpecError(
                path, f"{what} is a list of {len(value)} in a 3-D convolution; {allowed}"
            )
        return tuple(  # type: ignore[return-value]
            _pair_int(v, (*path, i), f"{what} ({AXES[i]})", minimum, allowed)
            for i, v in enumerate(value)
        )
    refuse_pair_text(value, path, what, allowed, triple=True)
    if isinstance(value, bool) or value is None:
        raise SpecError(path, f"{what} must not be {describe(value)}; {allowed}")
    number = _pair_int(value, path, what, minimum, allowed)
    return number, number, number


def read_padding_3d(
    value: Any,
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    kernel: tuple[int, ...],
    *,
    words: bool = True,
) -> tuple[tuple[int, int, int, int, int, int], str]:
    """(front, back, top, bottom, left, right) and a short text of what the spec said.
    ``words``: whether "valid", "same" and "full" are offered in the messages (a transposed
    convolution refuses them before it calls this)."""
    path = ("padding",)
    allowed = "allowed: an integer, [depth, rows, cols] (both sides of each axis), " + (
        '[front, back, top, bottom, left, right], "valid", "same" or "full"'
        if words
        else "or [front, back, top, bottom, left, right]"
    )
    totals = [d * (k - 1) for d, k in zip(dilation, kernel, strict=True)]
    if isinstance(value, str) and value.strip().lower() in ("valid", "same", "full"):
        word = value.strip().lower()
        if word == "valid":
            return (0,) * 6, '"valid" (no padding)'  # type: ignore[return-value]
        if word == "full":
            pads = tuple(p for t in totals for p in (t, t))
            return pads, (  # type: ignore[return-value]
                f'"full" (d·(k − 1) on both sides: {totals[0]} front and back, '
                f"{totals[1]} above and below, {totals[2]} left and right)"
            )
        if tuple(stride) != (1, 1, 1):
            raise SpecError(
                path,
                f'padding "same" needs stride 1 (as in PyTorch), but stride is {list(stride)}; '
                "give the padding as numbers",
            )
        # PyTorch puts the odd extra cell after (back, bottom, right).
        pads = tuple(p for t in totals for p in (t // 2, t - t // 2))
        return pads, (  # type: ignore[return-value]
            '"same" (output as large as the input; an odd extra cell goes back/bottom/right)'
        )
    if isinstance(value, (list, tuple)):
        if len(value) == 3:
            pads3 = [
                _pair_int(v, (*path, i), f"padding ({AXES[i]})", 0, allowed)
                for i, v in enumerate(value)
            ]
            return tuple(p for p in pads3 for _ in range(2)), f"[{', '.join(map(str, pads3))}]"  # type: ignore[return-value]
        if len(value) == 6:
            pads = tuple(
                _pair_int(v, (*path, i), f"padding ({SIDES[i]})", 0, allowed)
                for i, v in enumerate(value)
            )
            return pads, f"[{', '.join(map(str, pads))}]"  # type: ignore[return-value]
        raise SpecError(path, f"padding is a list of {len(value)} in a 3-D convolution; {allowed}")
    if isinstance(value, str):
        refuse_pair_text(value, path, "padding", allowed, triple=True)
        if not looks_numeric(value):
            raise SpecError(path, f"unknown padding {value!r}; {allowed}")
    if isinstance(value, bool) or value is None:
        raise SpecError(path, f"padding must not be {describe(value)}; {allowed}")
    p = _pair_int(value, path, "padding", 0, allowed)
    return (p,) * 6, str(p)  # type: ignore[return-value]


def read_geometry(
    spec: Mapping[str, Any], x: np.ndarray, w: np.ndarray, groups: int
) -> tuple[Conv3dGeometry, str, bool, str]:
    """The geometry of a 3-D problem (x: D×H×W … N×C×D×H×W, w: kd×kh×kw … O×C×kd×kh×kw),
    how the spec wrote the padding, flip_kernel and the padding mode (zeros, or reflect,
    replicate, circular: copies of the input, core/kinds/conv_padding.py)."""
    mode = read_choice(spec, "padding_mode", MODES, default="zeros")
    stride = read_triple(spec.get("stride", 1), ("stride",), "stride", 1)
    dilation = read_triple(spec.get("dilation", 1), ("dilation",), "dilation", 1)
    kernel = tuple(w.shape[-3:])
    padding, padding_text = read_padding_3d(spec.get("padding", 0), stride, dilation, kernel)
    flip_kernel = parse_bool(spec.get("flip_kernel", False), ("flip_kernel",))
    geometry = Conv3dGeometry(
        batch=x.shape[0] if x.ndim == 5 else 1,
        in_channels=x.shape[-4] if x.ndim > 3 else 1,
        out_channels=w.shape[0] if w.ndim == 5 else 1,
        in_size=tuple(x.shape[-3:]),
        kernel=kernel,
        stride=stride,
        padding=padding,
        dilation=dilation,
        groups=groups,
    )
    check_fits(geometry)
    _check_mode_fits(spec, geometry, mode)
    return geometry, padding_text, flip_kernel, mode


def _check_mode_fits(spec: Mapping[str, Any], g: Conv3dGeometry, mode: str) -> None:
    """PyTorch's rule: reflect padding < the input's size on that axis, circular ≤ it."""
    words = ("depth slice", "row", "column")
    for side, pad in zip(SIDES, g.padding, strict=True):
        axis = SIDES.index(side) // 2
        size = g.in_size[axis]
        if fits(mode, pad, size):
            continue
        allowed = size - 1 if mode == "reflect" else size
        raise SpecError(
            ("padding",) if "padding" in spec else ("padding_mode",),
            f"{mode} padding of {pad} at the {side} is not {limit_words(mode)} the input's "
            f"{size} {words[axis]}{'s' if size != 1 else ''} (PyTorch's rule: {mode} padding "
            f"must be {limit_words(mode)} the input size on that axis); pad at most {allowed} "
            "there, or use padding_mode replicate or zeros",
        )


def check_fits(g: Conv3dGeometry) -> None:
    """The (dilated) kernel must fit inside the padded input along every axis."""
    words = ("depth slices", "rows", "columns")
    for axis in range(3):
        if g.span[axis] > g.padded[axis]:
            raise SpecError(
                ("kernel",),
                f"the kernel spans {g.span[axis]} {words[axis]} (dilation {g.dilation[axis]}) "
                f"but the padded input has only {g.padded[axis]} ({g.in_size[axis]} + padding "
                f"{g.before[axis]} + {g.after[axis]}); the kernel must fit inside the padded input",
            )


def jacobian_maps(problem: ConvProblem) -> tuple[np.ndarray, np.ndarray]:
    """Which entry each Jacobian cell is, as flat indices (−1: the cell is 0):
    kernel_map R×K (∂y_r/∂w_k = input.flat[…]) and input_map R×I (∂y_r/∂x_i = kernel.flat[…]),
    R outputs, K kernel entries, I input entries, all row-major."""
    from gradcalc.core.ops.conv3d import pad_input3

    g: Conv3dGeometry = problem.geometry  # type: ignore[assignment]
    positions = np.arange(int(np.prod(g.input_shape))).reshape(g.input_shape)
    padded = pad_input3(positions + 1, g.padding) - 1  # −1 in the padding
    taps = tap_windows3(padded, g)  # N×C×Do×Ho×Wo×kd×kh×kw: input index under each slid tap
    if problem.flip_kernel:
        taps = taps[..., ::-1, ::-1, ::-1]  # index by the spec's kernel entry
    rows = int(np.prod(g.output_shape))
    kernel_map = np.full((*g.output_shape, *g.kernel_shape), -1, dtype=np.int64)
    for o in range(g.out_channels):
        group = g.group_inputs(o)
        kernel_map[:, o, :, :, :, o] = taps[:, group.start : group.stop].transpose(
            0, 2, 3, 4, 1, 5, 6, 7
        )
    kernel_index = np.arange(int(np.prod(g.kernel_shape))).reshape(g.kernel_shape)
    # For output (n,o,t,i,j) and tap (c,e,m,q): the input read, whose Jacobian cell is w[o,c,e,m,q].
    n, o, t, i, j, c, e, m, q = np.meshgrid(
        *(np.arange(s) for s in (*g.output_shape, g.group_in, *g.kernel)), indexing="ij"
    )
    read = taps[n, (o // g.group_out) * g.group_in + c, t, i, j, e, m, q]
    row_index = np.arange(rows).reshape(g.output_shape)[n, o, t, i, j]
    valid = read >= 0
    input_map = np.full((rows, positions.size), -1, dtype=np.int64)
    input_map[row_index[valid], read[valid]] = kernel_index[o, c, e, m, q][valid]
    return kernel_map.reshape(rows, -1), input_map
