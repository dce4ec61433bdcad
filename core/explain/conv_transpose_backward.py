"""The backward and identities sections of a conv_transpose explanation.

Backward: ∂L/∂X is the ordinary convolution (cross-correlation) of ∂L/∂Y with the kernel —
stride, padding and dilation as given, the kernel read as conv's O×C = C_in×(C_out/g) — and
∂L/∂K pairs each input entry with the upstream where it landed; each entry is shown as its
sum.  Identities: "conv_transpose forward = the input-gradient of conv", checked by building
that conv's input-gradient from the conv op's forward pass on unit images (never the scatter
the run used), and the adjoint identity Σ ∂L/∂Y ⊙ (Y − b) = Σ X ⊙ ∂L/∂X.

Arrays are NCHW (core/explain/conv_transpose_terms.py).
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.explain import Note, Section
from gradcalc.core.explain.conv_transpose_identities import AdjointIdentities
from gradcalc.core.explain.conv_transpose_terms import TransposeTerms
from gradcalc.core.ops.conv import conv2d_forward
from gradcalc.core.words import count_words


class BackwardSections(AdjointIdentities, TransposeTerms):
    """``section_backward`` and (through AdjointIdentities) ``section_identities`` of a
    conv_transpose explanation."""

    def conv_words(self) -> str:
        t = self.t
        if t.dims == 1:
            spacing = (
                f"stride {t.stride[1]}, padding {list(t.padding[2:])} (left, right), "
                f"dilation {t.dilation[1]}"
            )
            first = f"{t.in_w}"
        else:
            spacing = (
                f"stride {t.stride[0]}×{t.stride[1]}, padding {list(t.padding)} (top, bottom, "
                f"left, right), dilation {t.dilation[0]}×{t.dilation[1]}"
            )
            first = f"{t.in_h}×{t.in_w}"
        return (
            f"conv{t.dims}d(∂{self.L}/∂{self.Y}, {self.K}) with {spacing}"
            + (f" and groups {t.groups}" if t.groups > 1 else "")
            + (
                f" (its first {first} entries: with output_padding at least the "
                "stride, that conv's output is larger than the input)"
                if self.conv_is_larger()
                else ""
            )
        )

    def conv_is_larger(self) -> bool:
        """Whether the conv that maps the output back has more rows or columns than the input
        (output_padding ≥ stride, allowed while it is below the dilation)."""
        conv = self.t.adjoint()
        return (conv.out_h, conv.out_w) != (self.t.in_h, self.t.in_w)

    def section_backward(self) -> Section:
        t, p = self.t, self.p
        section = Section(
            "backward",
            f"Backward: ∂{self.L}/∂{self.X} as an ordinary convolution, ∂{self.L}/∂{self.K}"
            + (f", ∂{self.L}/∂{self.B}" if p.bias is not None else ""),
        )
        section.add(
            Note(
                f"∂{self.L}/∂{self.X} = {self.conv_words()}: PyTorch's ordinary conv{t.dims}d, the "
                f"kernel read as its O×C = C_in×(C_out/g) weight; each entry sums "
                f"∂{self.L}/∂{self.Y} over the outputs its scatter reached, times the tap that "
                "took it there"
            )
        )
        heading = (f"∂{self.L}/∂{self.X}, input", p.input_axes)
        self.add_entries(section, t.input_shape, heading, self._input_gradient_sum)
        self.add_entries(section, t.kernel_shape, None, self._kernel_gradient_sum)
        if p.bias is not None:
            channels = list(range(t.out_channels)) if p.bias.ndim == 1 else [None]
            shown = self.options.cap(len(channels))
            for o in channels[:shown]:
                section.add(self._bias_gradient_sum(o))
            section.cut(len(channels) - shown)
        return section

    # identities ------------------------------------------------------------
    def _identity_words(self) -> str:
        t = self.t
        conv = f"conv{t.dims}d"
        image = (
            f"signal U of {count_words(t.out_w, 'position')}"
            if t.dims == 1
            else f"{t.out_h}×{t.out_w} image U"
        )
        return self.identity_statement(conv, image, "unit images", t.out_h * t.out_w)

    def _by_conv_input_gradient(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """N×C_out×H_out×W_out: for each group, the conv's Jacobian M (rows: unit images U_r of
        the C_out/g×H_out×W_out input, columns: its C_in/g×H×W output) from conv2d_forward,
        then ∂/∂U of Σ X ⊙ conv2d(U) = M·X (``x`` N×C_in×H×W, ``w`` C_in×(C_out/g)×kh×kw)."""
        t = self.t
        conv = t.adjoint()
        size = t.out_per_group * t.out_h * t.out_w
        units = np.eye(size, dtype=np.int64).reshape(size, t.out_per_group, t.out_h, t.out_w)
        units = units.astype(object) if self.c.exact else units.astype(float)
        parts = []
        for group in range(t.groups):
            channels = slice(group * t.in_per_group, (group + 1) * t.in_per_group)
            responses = conv2d_forward(units, w[channels], _with_batch(conv, size))
            matrix = responses[:, :, : t.in_h, : t.in_w].reshape(size, -1)
            x_group = x[:, channels].reshape(t.batch, -1)
            parts.append((x_group @ matrix.T).reshape(t.batch, t.out_per_group, t.out_h, t.out_w))
        return np.concatenate(parts, axis=1)


def _with_batch(conv, batch: int):
    """``conv`` (a ConvGeometry) for a batch of ``batch`` images."""
    from gradcalc.core.records import fields

    values = {name: getattr(conv, name) for name in fields(conv)}
    return type(conv)(**{**values, "batch": batch})
