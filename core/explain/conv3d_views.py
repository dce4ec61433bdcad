"""The identities, Jacobians and loss of a 3-D conv explanation (core/explain/conv3d.py builds
the rest, core/explain/conv3d_focus.py ``--focus``): ∂L/∂K and ∂L/∂X as whole-array
correlations, recomputed by conv3d_forward on other operands and compared with the element
sums (a check, never the number shown); the Jacobians as symbols and values with the chain
rule as a product; the loss this upstream is the gradient of, and the gradient's sign.

Arrays are NCDHW; indices (n, c, t, r, col) for the input, (n, o, t, i, j) for the output,
(o, c, e, m, q) for the kernel.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.exact import bilinear_exact
from gradcalc.core.explain import Note, Section
from gradcalc.core.explain.conv3d_focus import FocusSections3d
from gradcalc.core.explain.pieces import (
    conv_jacobians_section,
    conv_loss_section,
    index_tuple_labels,
)
from gradcalc.core.explain.pieces import same as _same
from gradcalc.core.ops.conv3d import Conv3dGeometry, conv3d_forward, flip3, pad_input3
from gradcalc.core.records import fields

AGREES = "✓ equals the element sums above"
DISAGREES = "✗ DOES NOT equal the element sums (please report)"


def _with(g: Conv3dGeometry, **changes: Any) -> Conv3dGeometry:
    values = {name: getattr(g, name) for name in fields(g)}
    return Conv3dGeometry(**{**values, **changes})


class ViewSections(FocusSections3d):
    """``section_identities``, ``section_jacobian`` and ``section_loss`` of a 3-D conv
    explanation (the attributes are set by core/explain/conv3d.py's Explainer3d)."""

    L: str
    x: Any
    up: Any
    maps: Any
    results: Any
    options: Any
    _output_indices: Any

    # identities ------------------------------------------------------------
    def section_identities(self) -> Section:
        g = self.g
        section = Section("identities", "Compact identities")
        kernel_ok = _same(
            self._by_groups(self._kernel_by_identity, 0), self.c.grad_kernel, self.c.exact
        )
        input_ok = _same(
            self._by_groups(self._input_by_identity, 1), self.c.grad_input, self.c.exact
        )
        stride, dilation = "×".join(map(str, g.stride)), "×".join(map(str, g.dilation))
        swap = ""
        if g.stride != (1, 1, 1):
            swap += f" (taps {stride} apart: the forward stride becomes a dilation)"
        if g.dilation != (1, 1, 1):
            swap += f" (window moves {dilation}: the forward dilation becomes a stride)"
        groups = (
            f", in each of the {g.groups} groups on its own channels (as the run's grouped sums)"
            if g.groups > 1
            else ""
        )
        L, K, X, Y = self.L, self.K, self.X, self.Y
        padded = f"{X}_padded" if any(g.padding) else X
        flipped = "reversed on every axis" if self.p.flip_kernel else ""
        section.add(
            Note(
                f"∂{L}/∂{K} = "
                + (f"reversed({padded} ⋆ ∂{L}/∂{Y})" if flipped else f"{padded} ⋆ ∂{L}/∂{Y}")
                + ": the correlation of the (padded) input with the upstream"
                + swap
                + (", summed over the batch" if g.batch > 1 else "")
                + groups
                + "; "
                + (AGREES if kernel_ok else DISAGREES)
            )
        )
        full = "×".join(str(d * (k - 1)) for d, k in zip(g.dilation, g.kernel, strict=True))
        spread = (
            "stride-dilated: stride − 1 zeros inserted between entries along each axis, then "
            if g.stride != (1, 1, 1)
            else ""
        )
        kernel_words = (
            f"{K} itself (the slid kernel is already reversed)"
            if self.p.flip_kernel
            else f"{K} reversed along depth, rows and columns"
        )
        section.add(
            Note(
                f"∂{L}/∂{X} = full correlation of the upstream ({spread}zero-padded by "
                f"d·(k−1) = {full} (depth×rows×cols)) with {kernel_words}"
                + (", dilated" if g.dilation != (1, 1, 1) else "")
                + (", summed over output channels" if g.group_out > 1 else "")
                + groups
                + (", then the padding slices/rows/cols are cropped" if any(g.padding) else "")
                + "; "
                + (AGREES if input_ok else DISAGREES)
            )
        )
        return section

    def _by_groups(self, identity: Any, axis: int) -> np.ndarray:
        """An identity run group by group (each an ordinary convolution of its channels),
        the parts joined along ``axis`` (0: kernel's output channels, 1: input channels)."""
        g = self.g
        one = _with(g, in_channels=g.group_in, out_channels=g.group_out, groups=1)
        parts = [
            identity(
                self.x[:, k * g.group_in : (k + 1) * g.group_in],
                self.w[k * g.group_out : (k + 1) * g.group_out],
                self.up[:, k * g.group_out : (k + 1) * g.group_out],
                one,
            )
            for k in range(g.groups)
        ]
        return np.concatenate(parts, axis=axis)

    def _correlate(self, x: np.ndarray, w: np.ndarray, g: Conv3dGeometry, terms: int) -> Any:
        if self.c.exact:
            return bilinear_exact(lambda a, b: conv3d_forward(a, b, g), x, w, terms, g.work)
        return conv3d_forward(x, w, g)

    def _kernel_by_identity(self, x: Any, _w: Any, up: Any, g: Conv3dGeometry) -> np.ndarray:
        """O×C×kd×kh×kw: the padded input (channels as the batch) correlated with the upstream
        (output channels as kernels), strides and dilations swapped, cropped to the kernel."""
        swapped = Conv3dGeometry(
            batch=g.in_channels,
            in_channels=g.batch,
            out_channels=g.out_channels,
            in_size=g.padded,
            kernel=g.out_size,
            stride=g.dilation,
            padding=(0,) * 6,
            dilation=g.stride,
        )
        x_t = pad_input3(x, g.padding).transpose(1, 0, 2, 3, 4)
        by_identity = self._correlate(
            x_t, up.transpose(1, 0, 2, 3, 4), swapped, g.batch * int(np.prod(g.out_size))
        ).transpose(1, 0, 2, 3, 4)
        kd, kh, kw = g.kernel
        by_identity = by_identity[:, :, :kd, :kh, :kw]
        return flip3(by_identity) if self.p.flip_kernel else by_identity

    def _input_by_identity(self, _x: Any, w: Any, up: Any, g: Conv3dGeometry) -> np.ndarray:
        """N×C×D×H×W: the upstream spread by the stride, padded by d·(k−1), correlated with
        the slid kernel reversed on every axis (C×O×kd×kh×kw), the padding cropped."""
        w_slid = flip3(w) if self.p.flip_kernel else w
        grid = tuple(s * (o - 1) + 1 for s, o in zip(g.stride, g.out_size, strict=True))
        spread = np.zeros((g.batch, g.out_channels, *grid), dtype=up.dtype)
        if self.c.exact:
            spread.fill(Fraction(0))
        sd, sh, sw = g.stride
        spread[:, :, ::sd, ::sh, ::sw] = up
        full = tuple(d * (k - 1) for d, k in zip(g.dilation, g.kernel, strict=True))
        spread_padded = pad_input3(spread, tuple(p for f in full for p in (f, f)))
        rotated = flip3(w_slid).transpose(1, 0, 2, 3, 4)
        geometry = Conv3dGeometry(
            batch=g.batch,
            in_channels=g.out_channels,
            out_channels=g.in_channels,
            in_size=spread_padded.shape[2:],
            kernel=g.kernel,
            stride=(1, 1, 1),
            padding=(0,) * 6,
            dilation=g.dilation,
        )
        covered = self._correlate(spread_padded, rotated, geometry, g.out_channels * g.taps)
        grad_padded = np.zeros((g.batch, g.in_channels, *g.padded), dtype=covered.dtype)
        if self.c.exact:
            grad_padded.fill(Fraction(0))
        d, h, w_ = covered.shape[2:]
        grad_padded[:, :, :d, :h, :w_] = covered  # past the last window: no gradient
        (front, top, left), (size_d, size_h, size_w) = g.before, g.in_size
        return grad_padded[:, :, front : front + size_d, top : top + size_h, left : left + size_w]

    def section_jacobian(self) -> Section:
        return conv_jacobians_section(self, lambda: index_tuple_labels(self, self.g))

    def section_loss(self) -> Section:
        return conv_loss_section(self, self.sym_y, self.sym_w)
