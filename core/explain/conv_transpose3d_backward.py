"""The backward and identities sections of a 3-D conv_transpose explanation (``dims: 3``,
PyTorch's conv_transpose3d), over the symbols, index arithmetic and sums of
core/explain/conv_transpose_terms.py (Terms3d: depth, rows and columns);
core/explain/conv_transpose3d.py builds the rest.

The scatter: input entry (a, b, c') times kernel tap (e, m, q) lands on output
(a·sd + e·dd − p_front, b·sh + m·dh − p_top, c'·sw + q·dw − p_left).  Backward: ∂L/∂X is the
ordinary conv3d of ∂L/∂Y with the kernel (read as conv3d's O×(C/g) = C_in×(C_out/g)), each
entry shown as its sum, one input depth slice at a time; ∂L/∂K pairs each input entry with the
upstream where it landed.  Identities: "conv_transpose forward = the input-gradient of conv3d",
checked by building that conv's input-gradient from conv3d's forward pass on unit volumes
(never the scatter the run used), and the adjoint identity Σ ∂L/∂Y ⊙ (Y − b) = Σ X ⊙ ∂L/∂X.

Arrays are NCDHW: input ``x`` N×C_in×D×H×W indexed (n, c, a, b, c'), kernel ``w``
C_in×(C_out/g)×kd×kh×kw indexed (c, o, e, m, q), output and upstream
N×C_out×D_out×H_out×W_out indexed (n, o, t, i, j).
"""

from __future__ import annotations

import numpy as np

from gradcalc.core.explain import (
    Note,
)
from gradcalc.core.explain.conv_transpose_backward import BackwardSections
from gradcalc.core.explain.conv_transpose_identities import AdjointIdentities
from gradcalc.core.explain.conv_transpose_terms import Index, TransposeTerms
from gradcalc.core.ops.conv3d import conv3d_forward
from gradcalc.core.records import fields


class Terms3d(TransposeTerms):
    """The symbols, operands, index arithmetic and sums of a 3-D conv_transpose explanation
    (core/explain/conv_transpose_terms.py's over depth, rows and columns)."""

    SPATIAL = ("depth", "row", "col")
    KERNEL_INDEX = ("c", "o", *SPATIAL)  # C_in×(C_out/g)×kd×kh×kw
    SCATTER_EXPANDED = False  # as before the 2-D and 3-D sums were one (see TransposeTerms)

    def slice_note(
        self, what: str, index: Index, previous: Index | None, axes: tuple[str, ...]
    ) -> Note | None:
        """A heading each time the (n, channel, depth) of the listed entries changes: the
        entries are shown one depth slice at a time; ``axes`` are the spec's axes of the
        listed array (a sample or channel is named only if it has that axis)."""
        if previous is not None and previous[:3] == index[:3]:
            return None
        n, channel, depth = index[:3]
        base = self.p.index_base
        where = [f"sample {n + base}"] if "n" in axes else []
        where += [f"channel {channel + base}"] if {"c", "o"} & set(axes) else []
        return Note(
            f"{what} depth slice {depth + base}" + (f" ({', '.join(where)})" if where else "") + ":"
        )


class BackwardSections3d(AdjointIdentities, Terms3d):
    """``section_backward`` and (through AdjointIdentities) ``section_identities`` of a 3-D
    conv_transpose explanation."""

    def conv_words(self) -> str:
        t = self.t
        triple = lambda v: "×".join(map(str, v))  # noqa: E731
        return (
            f"conv3d(∂{self.L}/∂{self.Y}, {self.K}) with stride {triple(t.stride)}, padding "
            f"{list(t.padding)} (front, back, top, bottom, left, right), dilation "
            f"{triple(t.dilation)}"
            + (f" and groups {t.groups}" if t.groups > 1 else "")
            + (
                f" (its first {triple(t.in_size)} entries: with output_padding at least the "
                "stride, that conv's output is larger than the input)"
                if self.conv_is_larger()
                else ""
            )
        )

    def conv_is_larger(self) -> bool:
        """Whether the conv3d that maps the output back has more cells than the input on some
        axis (output_padding ≥ stride, allowed while it is below the dilation)."""
        return tuple(self.t.adjoint().out_size) != tuple(self.t.in_size)

    # The 2-D explainer's, with Terms3d's depth-slice headings.
    section_backward = BackwardSections.section_backward

    # identities ------------------------------------------------------------
    def _identity_words(self) -> str:
        volume = "×".join(map(str, self.t.out_size))
        return self.identity_statement(
            "conv3d", f"{volume} volume U", "unit volumes", int(np.prod(self.t.out_size))
        )

    def _by_conv_input_gradient(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        """N×C_out×D_out×H_out×W_out: for each group, the conv3d's Jacobian M (rows: unit
        volumes U_r of the (C_out/g)×D_out×H_out×W_out input, columns: its (C_in/g)×D×H×W
        output) from conv3d_forward, then ∂/∂U of Σ X ⊙ conv3d(U) = M·X (``x`` N×C_in×D×H×W,
        ``w`` C_in×(C_out/g)×kd×kh×kw)."""
        t = self.t
        conv = t.adjoint()
        values = {name: getattr(conv, name) for name in fields(conv)}
        size = t.out_per_group * int(np.prod(t.out_size))
        one_group = type(conv)(
            **{
                **values,
                "batch": size,
                "in_channels": t.out_per_group,
                "out_channels": t.in_per_group,
                "groups": 1,
            }
        )
        units = np.eye(size, dtype=np.int64).reshape(size, t.out_per_group, *t.out_size)
        units = units.astype(object) if self.c.exact else units.astype(float)
        depth, height, width = t.in_size
        parts = []
        for group in range(t.groups):
            channels = slice(group * t.in_per_group, (group + 1) * t.in_per_group)
            responses = conv3d_forward(units, w[channels], one_group)
            matrix = responses[:, :, :depth, :height, :width].reshape(size, -1)
            x_group = x[:, channels].reshape(t.batch, -1)
            parts.append((x_group @ matrix.T).reshape(t.batch, t.out_per_group, *t.out_size))
        return np.concatenate(parts, axis=1)
