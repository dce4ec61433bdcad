"""Sliding-window geometry that conv and pool share: which input cells one output element reads,
and which output elements one input cell feeds.

Along one axis, window i puts its tap m on input position i·s + m·d − p (stride s, dilation d,
p padding cells before the input).  A position below 0 or at the input's size and beyond lies in
the padding, or past the padded edge: only a ceil_mode pooling window reaches there, and PyTorch
clips it.  Positions are input coordinates throughout, so a padding cell has row −1, not 0.

Everything here is plain data (NumPy and records); cli/ draws the pictures.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradcalc.core.records import record

# Where a tap lands: on an input cell, in the padding, or past the padded edge.
REAL, PADDING, BEYOND = 0, 1, 2

WHERE = ("input", "padding", "beyond")


@record(frozen=True)
class WindowAxis:
    """One spatial axis of a sliding window: ``out`` windows over ``size`` input cells."""

    size: int
    kernel: int
    stride: int
    dilation: int
    pad_before: int
    pad_after: int
    out: int

    def __init__(
        self,
        size: int,
        kernel: int,
        stride: int,
        dilation: int,
        pad_before: int,
        pad_after: int,
        out: int,
    ) -> None:
        # A plain __init__, which @record keeps (the shared one costs several times more:
        # every window layout makes two axes, 30 in a solve of the bundled net example);
        # frozen: the fields go straight into the instance's __dict__, as the shared
        # __init__ puts them.
        self.__dict__.update(
            size=size,
            kernel=kernel,
            stride=stride,
            dilation=dilation,
            pad_before=pad_before,
            pad_after=pad_after,
            out=out,
        )

    @property
    def padded_end(self) -> int:
        """One past the last padding cell."""
        return self.size + self.pad_after

    def taps(self) -> np.ndarray:
        """out×kernel: the input position under tap m of window i."""
        return (
            np.arange(self.out)[:, None] * self.stride
            + np.arange(self.kernel)[None, :] * self.dilation
            - self.pad_before
        )

    def where(self, positions: Any) -> np.ndarray:
        """REAL, PADDING or BEYOND for each position (same shape)."""
        positions = np.asarray(positions)
        inside = (positions >= 0) & (positions < self.size)
        padded = (positions >= -self.pad_before) & (positions < self.padded_end)
        return np.where(inside, REAL, np.where(padded, PADDING, BEYOND))

    def readers(self, position: int) -> list[tuple[int, int]]:
        """(window i, tap m) of every window tap on ``position``, by window."""
        found = []
        for m in range(self.kernel):
            i, rest = divmod(position + self.pad_before - m * self.dilation, self.stride)
            if not rest and 0 <= i < self.out:
                found.append((i, m))
        return sorted(found)


@record(frozen=True)
class WindowTap:
    """Tap ``tap`` (m, q) of the window of output ``output`` (i, j) reads input cell ``cell``
    (row, col), which lies ``where``: REAL, PADDING or BEYOND.  All 0-based."""

    output: tuple[int, int]
    tap: tuple[int, int]
    cell: tuple[int, int]
    where: int


def window_taps(rows: WindowAxis, cols: WindowAxis, i: int, j: int) -> list[WindowTap]:
    """Every tap of window (i, j), in row-major tap order (kh·kw of them)."""
    row_positions = rows.taps()[i]
    col_positions = cols.taps()[j]
    row_where = rows.where(row_positions)
    col_where = cols.where(col_positions)
    return [
        WindowTap(
            (i, j),
            (m, q),
            (int(row_positions[m]), int(col_positions[q])),
            # A tap is as far out as its farther coordinate (REAL < PADDING < BEYOND).
            int(max(row_where[m], col_where[q])),
        )
        for m in range(rows.kernel)
        for q in range(cols.kernel)
    ]


def cell_readers(rows: WindowAxis, cols: WindowAxis, r: int, c: int) -> list[WindowTap]:
    """Every window tap that reads input cell (r, c), by window in row-major order."""
    return [
        WindowTap((i, j), (m, q), (r, c), REAL)
        for i, m in rows.readers(r)
        for j, q in cols.readers(c)
    ]
