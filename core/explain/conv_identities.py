"""The identities section of a conv explanation: ∂L/∂K and ∂L/∂X as whole-array
correlations, each computed by that other formula (conv2d_forward on other operands) and
compared with the element sums the run produced — a check, never the number shown.

Arrays are NCHW (core/explain/conv_terms.py).
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from gradcalc.core.exact import bilinear_exact
from gradcalc.core.explain import GRADIENT, Note, Section
from gradcalc.core.explain.conv_terms import ConvTerms
from gradcalc.core.explain.pieces import same as _same
from gradcalc.core.ops.conv import ConvGeometry, conv2d_forward, flip, pad_input

AGREES = "✓ equals the element sums above"
DISAGREES = "✗ DOES NOT equal the element sums (please report)"


class IdentitySections(ConvTerms):
    """``section_identities`` of a conv explanation."""

    def section_identities(self) -> Section:
        """The compact matrix identities, recomputed independently and compared."""
        g = self.g
        section = Section("identities", "Compact identities")
        kernel_ok = _same(self._grouped_kernel_by_identity(), self.c.grad_kernel, self.c.exact)
        section.add(Note(self._kernel_identity_words(kernel_ok)))
        spread_padded, rotated, by_identity_x = self._grouped_input_by_identity()
        input_ok = _same(by_identity_x, self.c.grad_input, self.c.exact)
        section.add(Note(self._input_identity_words(input_ok)))
        if (
            g.batch == 1
            and g.in_channels == 1
            and g.out_channels == 1
            and spread_padded.size <= 400
        ):
            # A 1-D problem's planes are one row: shown as the vectors they are.
            plane = (lambda a: a[0, 0, 0]) if g.dims == 1 else (lambda a: a[0, 0])  # noqa: E731
            axes = ("col",) if g.dims == 1 else ("row", "col")
            section.add(
                self.matrix(
                    f"∂{self.L}/∂{self.Y} spread and padded",
                    plane(spread_padded),
                    axes,
                    role=GRADIENT,
                )
            )
            kernel_words = self._rotated_kernel_words()
            section.add(self.matrix(kernel_words.split(" ")[0], plane(rotated), axes))
            section.add(
                self.matrix(f"∂{self.L}/∂{self.X}", plane(by_identity_x), axes, role=GRADIENT)
            )
        return section

    def _grouped_kernel_by_identity(self) -> np.ndarray:
        """O×(C/g)×kh×kw: the ∂L/∂K identity, group by group (each group is an ordinary
        convolution of its input channels into its output channels)."""
        g = self.g
        if g.groups == 1:
            return self._kernel_by_identity(self.x, self.up, g)
        parts = [
            self._kernel_by_identity(
                self.x[:, k * g.group_in : (k + 1) * g.group_in],
                self.up[:, k * g.group_out : (k + 1) * g.group_out],
                _one_group(g),
            )
            for k in range(g.groups)
        ]
        return np.concatenate(parts, axis=0)

    def _grouped_input_by_identity(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ∂L/∂X identity's spread upstream, rotated kernel and result, group by group
        (the spread and rotated kernel are shown only for one channel, so the first group's)."""
        g = self.g
        if g.groups == 1:
            return self._input_by_identity(self.up, self.w, g)
        parts = [
            self._input_by_identity(
                self.up[:, k * g.group_out : (k + 1) * g.group_out],
                self.w[k * g.group_out : (k + 1) * g.group_out],
                _one_group(g),
            )
            for k in range(g.groups)
        ]
        return parts[0][0], parts[0][1], np.concatenate([part[2] for part in parts], axis=1)

    def _correlate(
        self, x: np.ndarray, w: np.ndarray, geometry: ConvGeometry, terms: int
    ) -> np.ndarray:
        """conv2d_forward(x, w, geometry), exactly when the run was exact (``terms``: the
        products summed into one entry, for the exact path's bound)."""
        if self.c.exact:
            return bilinear_exact(
                lambda a, b: conv2d_forward(a, b, geometry), x, w, terms, geometry.work
            )
        return conv2d_forward(x, w, geometry)

    def _kernel_by_identity(self, x: np.ndarray, up: np.ndarray, g: ConvGeometry) -> np.ndarray:
        """O×C×kh×kw: ∂L/∂K as the correlation of the padded input x (N×C×H×W) with the
        upstream (N×O×H_out×W_out; stride and dilation swap roles), rotated back under flip_kernel."""
        x_padded = pad_input(x, g.padding)
        kernel_geometry = ConvGeometry(
            batch=g.in_channels,
            in_channels=g.batch,
            out_channels=g.out_channels,
            in_h=g.padded_h,
            in_w=g.padded_w,
            kernel_h=g.out_h,
            kernel_w=g.out_w,
            stride=g.dilation,  # the forward dilation: how far the window moves
            padding=(0, 0, 0, 0),
            dilation=g.stride,  # the forward stride: how far apart the taps are
        )
        x_t = x_padded.transpose(1, 0, 2, 3)
        up_t = up.transpose(1, 0, 2, 3)
        by_identity = self._correlate(x_t, up_t, kernel_geometry, g.batch * g.out_h * g.out_w)
        by_identity = by_identity.transpose(1, 0, 2, 3)[:, :, : g.kernel_h, : g.kernel_w]
        return flip(by_identity) if self.p.flip_kernel else by_identity

    def correlated_input(self) -> str:
        """The name of the input the ∂L/∂K identity correlates with the upstream: x with its
        zero padding."""
        return f"{self.X}_padded"

    def _kernel_identity_words(self, kernel_ok: bool) -> str:
        """The ∂L/∂K identity in words, and whether it agreed."""
        g = self.g
        sh, sw = g.stride
        dh, dw = g.dilation
        strides = f"{sw}" if g.dims == 1 else f"{sh}×{sw}"
        dilations = f"{dw}" if g.dims == 1 else f"{dh}×{dw}"
        stride_words = (
            ""
            if g.stride == (1, 1)
            else f" (taps {strides} apart: the forward stride becomes a dilation)"
        )
        dil_words = (
            ""
            if g.dilation == (1, 1)
            else f" (window moves {dilations}: the forward dilation becomes a stride)"
        )
        batch_words = ", summed over the batch" if g.batch > 1 else ""
        batch_words += _group_words(g)
        verdict = AGREES if kernel_ok else DISAGREES
        if self.p.flip_kernel:
            return (
                f"∂{self.L}/∂{self.K} = {'rot180' if g.dims == 2 else 'reversed'}({self.correlated_input()} ⋆ ∂{self.L}/∂{self.Y}){stride_words}{dil_words} "
                f"= ∂{self.L}/∂{self.Y} * x̃ as a true convolution with the flipped input (seed 001's ∂L/∂w = ∂L/∂y * x̃)"
                + batch_words
                + "; "
                + verdict
            )
        return (
            f"∂{self.L}/∂{self.K} = {self.correlated_input()} ⋆ ∂{self.L}/∂{self.Y}: the correlation of the (padded) input with the upstream"
            f"{stride_words}{dil_words}" + batch_words + "; " + verdict
        )

    def _full_pad(self) -> tuple[int, int, int, int]:
        """d·(k−1) zeros on every side: the padding of a full correlation."""
        g = self.g
        dh, dw = g.dilation
        return (
            dh * (g.kernel_h - 1),
            dh * (g.kernel_h - 1),
            dw * (g.kernel_w - 1),
            dw * (g.kernel_w - 1),
        )

    def _input_by_identity(
        self, up: np.ndarray, w: np.ndarray, g: ConvGeometry
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """∂L/∂X by the full correlation: stride-dilate the upstream (N×O×H_out×W_out), pad
        it by d·(k−1), correlate with the rotated kernel (w: O×C×kh×kw), crop the padding.
        Returns the spread and padded upstream (N×O×·×·), the rotated kernel (C×O×kh×kw)
        and ∂L/∂X (N×C×H×W)."""
        p = self.p
        exact = self.c.exact
        sh, sw = g.stride
        w_slid = flip(w) if p.flip_kernel else w
        grid_h = sh * (g.out_h - 1) + 1
        grid_w = sw * (g.out_w - 1) + 1
        spread = np.zeros((g.batch, g.out_channels, grid_h, grid_w), dtype=up.dtype)
        if exact:
            spread.fill(Fraction(0))
        spread[:, :, ::sh, ::sw] = up
        spread_padded = pad_input(spread, self._full_pad())
        rotated = flip(w_slid).transpose(1, 0, 2, 3)  # C×O×kh×kw
        input_geometry = ConvGeometry(
            batch=g.batch,
            in_channels=g.out_channels,
            out_channels=g.in_channels,
            in_h=spread_padded.shape[2],
            in_w=spread_padded.shape[3],
            kernel_h=g.kernel_h,
            kernel_w=g.kernel_w,
            stride=(1, 1),
            padding=(0, 0, 0, 0),
            dilation=g.dilation,
        )
        covered = self._correlate(
            spread_padded, rotated, input_geometry, g.out_channels * g.kernel_h * g.kernel_w
        )
        # `covered` spans the padded rows/cols some window reads; rows past the last window stay 0.
        grad_padded = np.zeros(
            (g.batch, g.in_channels, g.padded_h, g.padded_w), dtype=covered.dtype
        )
        if exact:
            grad_padded.fill(Fraction(0))
        grad_padded[:, :, : covered.shape[2], : covered.shape[3]] = covered
        top, left = g.padding[0], g.padding[2]
        by_identity_x = grad_padded[:, :, top : top + g.in_h, left : left + g.in_w]
        return spread_padded, rotated, by_identity_x

    def _rotated_kernel_words(self) -> str:
        """What the full correlation slides: rot180(K), or K itself under flip_kernel."""
        if not self.p.flip_kernel:
            return f"rot180({self.K})" if self.g.dims == 2 else f"reversed({self.K})"
        turned = "rotated" if self.g.dims == 2 else "reversed"
        return f"{self.K} itself (the slid kernel is already {turned})"

    def _input_identity_words(self, input_ok: bool) -> str:
        """The ∂L/∂X identity in words, and whether it agreed."""
        g, p = self.g, self.p
        sh, sw = g.stride
        full_pad = self._full_pad()
        conv_words = (
            f"= the full true convolution ∂{self.L}/∂{self.Y} * {self.K}"
            if not p.flip_kernel
            else f"= the full true convolution ∂{self.L}/∂{self.Y} * {self.K}̃ with the flipped kernel (seed 001's ∂L/∂x = ∂L/∂y * w̃)"
        )
        if g.dims == 1:
            spread_words = (
                f"stride-dilated: {sw - 1} zero{'s' if sw != 2 else ''} inserted between entries, then "
                if g.stride != (1, 1)
                else ""
            )
            full_words = f"{full_pad[2]}"
        else:
            spread_words = (
                f"stride-dilated: {sh - 1} zero row{'s' if sh != 2 else ''} and {sw - 1} zero column{'s' if sw != 2 else ''} "
                "inserted between entries, then "
                if g.stride != (1, 1)
                else ""
            )
            full_words = f"{full_pad[0]}×{full_pad[2]}"
        cropped = "entries" if g.dims == 1 else "rows/cols"
        return (
            f"∂{self.L}/∂{self.X} = full correlation of the upstream ({spread_words}zero-padded by d·(k−1) = "
            f"{full_words}) with {self._rotated_kernel_words()} {conv_words}"
            + (", dilated" if g.dilation != (1, 1) else "")
            + (", summed over output channels" if g.group_out > 1 else "")
            + _group_words(g)
            + (f", then the padding {cropped} are cropped" if any(g.padding) else "")
            + "; "
            + (AGREES if input_ok else DISAGREES)
        )


def _group_words(g: ConvGeometry) -> str:
    """How the identity runs with groups: each group on its own channels."""
    if g.groups == 1:
        return ""
    return f", in each of the {g.groups} groups on its own channels (as the run's grouped sums)"


def _one_group(g: ConvGeometry) -> ConvGeometry:
    """The geometry of one group of a grouped convolution: an ordinary (groups 1)
    convolution of C/g input channels into O/g output channels."""
    from gradcalc.core.records import fields

    values = {name: getattr(g, name) for name in fields(g)}
    return ConvGeometry(
        **{**values, "in_channels": g.group_in, "out_channels": g.group_out, "groups": 1}
    )
