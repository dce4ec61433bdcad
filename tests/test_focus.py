"""`--focus`: the picture of the cells one output reads, or of the outputs one input cell feeds.

The marked cells are held against the forward pass itself: perturb one input cell and see which
outputs move (the nested-loop references in conv_reference.py and pool_reference.py, which share
no code with gradcalc).  Padding cells cannot move anything, so they are checked against the
definition: tap (m, q) of window (i, j) sits on row i·s + m·d − p, column j·s + q·d − p.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conv_reference import conv2d
from hypothesis import given, settings
from hypothesis import strategies as st
from pool_reference import avg_pool, max_pool
from tex import assert_compiles

from gradcalc.cli.main import main
from gradcalc.core.ops.conv import ConvGeometry
from gradcalc.core.ops.windows import PADDING, REAL, cell_readers, window_taps

ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None}
REPO = Path(__file__).resolve().parents[1]

SEVEN = [
    [3, 1, 4, 1, 5, 9, 2],
    [6, 5, 3, 5, 8, 9, 7],
    [9, 3, 2, 3, 8, 4, 6],
    [2, 6, 4, 3, 3, 8, 3],
    [2, 7, 9, 5, 0, 2, 8],
    [8, 4, 1, 9, 7, 1, 6],
    [9, 3, 9, 9, 3, 7, 5],
]
# Distinct non-zero entries, so a perturbed input cell always moves an output it is read by,
# and the amount names the kernel entry that multiplied it.
KERNEL = [[1, 2, 3], [5, 7, 11], [13, 17, 19]]
CONV_SPEC = f"""\
kind: conv
input: {SEVEN}
kernel: {KERNEL}
stride: 2
dilation: 2
padding: 1
"""
STRIDE, DILATION, PAD = 2, 2, 1
OUT = (7 + 2 * PAD - DILATION * 2 - 1) // STRIDE + 1  # 3


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def run_spec(tmp_path: Path, text: str, *args: str, kind: str = "conv") -> Result:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return run(kind, "--spec", str(path), "--no-color", *args)


def picture(text: str, label: str) -> list[tuple[str, list[str]]]:
    """The drawn rows of the picture titled ``label``: (row label, cells), header row excluded.

    Cells never hold spaces; a row's label is its first token when the line does not start
    with a space (the pictures here have one-digit labels), and "" on a padding row.
    """
    lines = text.splitlines()
    start = lines.index(label)
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith(" ") and not line[0].isdigit():
            break  # the caption
        tokens = line.split()
        rows.append(("", tokens) if line.startswith(" ") else (tokens[0], tokens[1:]))
    return rows


def marks(
    rows: list[tuple[str, list[str]]], first_row: int, first_col: int
) -> set[tuple[int, int]]:
    """Input positions of the bracketed cells, the drawing starting at (first_row, first_col)."""
    return {
        (first_row + r, first_col + c)
        for r, (_, cells) in enumerate(rows)
        for c, cell in enumerate(cells)
        if cell.startswith("[")
    }


def frac(nested: list) -> list:
    return [[Fraction(v) for v in row] for row in nested]


def conv_output(x: list, *, flip: bool = False) -> list:
    """The 2-D output of the 7×7 problem by the reference loops."""
    return conv2d(
        [[x]],
        [[frac(KERNEL)]],
        stride=(STRIDE, STRIDE),
        padding=(PAD,) * 4,
        dilation=(DILATION, DILATION),
        flip=flip,
    )[0][0]


def moved_by(cell: tuple[int, int], *, flip: bool = False) -> dict[tuple[int, int], Fraction]:
    """Outputs that change when input ``cell`` grows by 1, and by how much (∂y/∂x)."""
    base = conv_output(frac(SEVEN), flip=flip)
    bumped = frac(SEVEN)
    bumped[cell[0]][cell[1]] += 1
    after = conv_output(bumped, flip=flip)
    return {
        (i, j): after[i][j] - base[i][j]
        for i in range(OUT)
        for j in range(OUT)
        if after[i][j] != base[i][j]
    }


def padding_taps(i: int, j: int) -> set[tuple[int, int]]:
    """The definition's positions of window (i, j) that fall outside the 7×7 input."""
    positions = {
        (i * STRIDE + m * DILATION - PAD, j * STRIDE + q * DILATION - PAD)
        for m in range(3)
        for q in range(3)
    }
    return {(r, c) for r, c in positions if not (0 <= r < 7 and 0 <= c < 7)}


# ---------------------------------------------------------------------------
# conv, output → input


@pytest.mark.parametrize("i, j", [(1, 0), (0, 0), (2, 2), (1, 2)])
def test_conv_output_focus_marks_exactly_the_cells_it_reads(tmp_path: Path, i: int, j: int) -> None:
    result = run_spec(tmp_path, CONV_SPEC, "--focus", f"output[{i},{j}]")
    assert result.exit_code == 0, result.stderr
    rows = picture(result.stdout, "x")
    read = {cell for cell in np.ndindex(7, 7) if (i, j) in moved_by(cell)}
    assert marks(rows, -PAD, -PAD) == read | padding_taps(i, j)
    # The padding ring is drawn all around, in dots; the padding cells read are [·].
    assert [label for label, _ in rows] == ["", "0", "1", "2", "3", "4", "5", "6", ""]
    assert all(cell in ("·", "[·]") for cell in rows[0][1] + rows[-1][1])
    assert all(cells[0] in ("·", "[·]") and cells[-1] in ("·", "[·]") for _, cells in rows)
    for r, c in padding_taps(i, j):
        assert rows[r + PAD][1][c + PAD] == "[·]"
    # Every other cell shows the input's value, bracketed when read.
    for r, c in read:
        assert rows[r + PAD][1][c + PAD] == f"[{SEVEN[r][c]}]"


def test_conv_output_focus_shows_window_rule_taps_and_sum(tmp_path: Path) -> None:
    # Wide: the window rule's sentence whole, not wrapped to fit.
    out = run_spec(tmp_path, CONV_SPEC, "--focus", "output[1,0]", "--width", "1000").stdout
    assert "── Focus: the 6 cells of x that y_10 reads" in out
    assert "row i·s + m·d − p = 1·2 + m·2 − 1 = 1, 3, 5" in out
    assert "column j·s + q·d − p = 0·2 + q·2 − 1 = −1, 1, 3" in out
    taps = picture(out, "w: the cell of x each entry multiplies in y_10")
    assert taps == [
        ("0", ["pad", "(1,", "−1)", "x_11", "x_13"]),
        ("1", ["pad", "(3,", "−1)", "x_31", "x_33"]),
        ("2", ["pad", "(5,", "−1)", "x_51", "x_53"]),
    ]
    y = conv_output(frac(SEVEN))[1][0]
    assert f"= {y}   (3 terms read zero padding (0))" in out
    # The focus alone: no other section unless --show asks.
    assert "── Forward" not in out and "── Results" not in out and "Checks" not in out


def test_conv_focus_json_taps_match_the_forward_pass(tmp_path: Path) -> None:
    """Every output's taps: the input cells are those that move it, each by its kernel entry."""
    for flip in (False, True):
        spec = CONV_SPEC + f"flip_kernel: {str(flip).lower()}\n"
        for i in range(OUT):
            for j in range(OUT):
                result = run_spec(tmp_path, spec, "--focus", f"y[{i},{j}]", "--format", "json")
                focus = json.loads(result.stdout)["focus"]
                assert focus["target"] == f"y_{i}{j}" and focus["index"] == [i, j]
                inside = [t for t in focus["taps"] if t["where"] == "input"]
                outside = [t for t in focus["taps"] if t["where"] == "padding"]
                assert {tuple(t["cell"]) for t in outside} == padding_taps(i, j)
                moved = {
                    cell: moved_by(cell, flip=flip) for cell in (tuple(t["cell"]) for t in inside)
                }
                assert {
                    cell for cell in np.ndindex(7, 7) if (i, j) in moved_by(cell, flip=flip)
                } == set(moved)
                for tap in inside:
                    m, q = tap["kernel"]
                    assert moved[tuple(tap["cell"])][(i, j)] == KERNEL[m][q]
                    # flip_kernel reverses the taps: kernel entry (2, 2) sits on window tap (0, 0).
                    expected = [2 - tap["tap"][0], 2 - tap["tap"][1]] if flip else tap["tap"]
                    assert tap["kernel"] == expected


# ---------------------------------------------------------------------------
# conv, input → output


@pytest.mark.parametrize("r, c", [(3, 1), (0, 0), (6, 6), (4, 4)])
def test_conv_input_focus_marks_exactly_the_outputs_it_feeds(
    tmp_path: Path, r: int, c: int
) -> None:
    result = run_spec(tmp_path, CONV_SPEC, "--focus", f"input[{r},{c}]")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    moved = moved_by((r, c))
    if moved:
        assert f"── Focus: the {len(moved)} output" in out
    else:
        assert "feeds no output y (no window reads it)" in out
    assert marks(picture(out, "y"), 0, 0) == set(moved)
    assert marks(picture(out, "x"), -PAD, -PAD) == {(r, c)}
    if moved:  # the table names the kernel entry that multiplies x_rc in each output
        for (i, j), amount in moved.items():
            assert re.search(rf"^y_{i}{j} +\(\d, \d\) +w_\d\d +{amount}$", out, re.M)
    else:
        assert "no window reads this cell" in out


def test_conv_cell_no_window_reads(tmp_path: Path) -> None:
    """Stride 3 with a 2×2 kernel skips row and column 2 of a 5×5 input."""
    spec = "input: [[1,2,3,4,5],[1,2,3,4,5],[1,2,3,4,5],[1,2,3,4,5],[1,2,3,4,5]]\n"
    spec += "kernel: [[1, 2], [3, 4]]\nstride: 3\n"
    out = run_spec(tmp_path, spec, "--focus", "input[2,2]").stdout
    assert "── Focus: x_22 feeds no output y (no window reads it)" in out
    assert "no window reaches row 2 (no i, m with i·3 + m·1 − 0 = 2)" in out
    assert marks(picture(out, "y"), 0, 0) == set()


# ---------------------------------------------------------------------------
# Geometry, for any sizes: the core's maps against the reference forward pass


@settings(max_examples=25, deadline=None)
@given(
    size=st.tuples(st.integers(1, 6), st.integers(1, 6)),
    kernel=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    stride=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    dilation=st.tuples(st.integers(1, 3), st.integers(1, 3)),
    padding=st.tuples(*(st.integers(0, 2) for _ in range(4))),
    flip=st.booleans(),
)
def test_window_maps_match_perturbation(size, kernel, stride, dilation, padding, flip) -> None:
    h, w = size
    kh, kw = kernel
    top, bottom, left, right = padding
    out_h = (h + top + bottom - dilation[0] * (kh - 1) - 1) // stride[0] + 1
    out_w = (w + left + right - dilation[1] * (kw - 1) - 1) // stride[1] + 1
    if out_h < 1 or out_w < 1:
        return
    geometry = ConvGeometry(1, 1, 1, h, w, kh, kw, stride, padding, dilation)
    rows, cols = geometry.window_axes()
    weights = [[Fraction(1 + m * kw + q) for q in range(kw)] for m in range(kh)]
    x = [[Fraction(0)] * w for _ in range(h)]

    def forward(values):
        return conv2d(
            [[values]], [[weights]], stride=stride, padding=padding, dilation=dilation, flip=flip
        )[0][0]

    base = forward(x)
    feeds = {}
    for r in range(h):
        for c in range(w):
            bumped = [row[:] for row in x]
            bumped[r][c] += 1
            after = forward(bumped)
            feeds[r, c] = {
                (i, j): after[i][j] - base[i][j]
                for i in range(out_h)
                for j in range(out_w)
                if after[i][j] != base[i][j]
            }
            readers = cell_readers(rows, cols, r, c)
            assert {tap.output for tap in readers} == set(feeds[r, c])
            for tap in readers:  # the tap's kernel entry is what multiplies the cell
                m, q = tap.tap
                entry = (kh - 1 - m, kw - 1 - q) if flip else (m, q)
                assert feeds[r, c][tap.output] == weights[entry[0]][entry[1]]
    for i in range(out_h):
        for j in range(out_w):
            taps = window_taps(rows, cols, i, j)
            assert len(taps) == kh * kw
            real = {tap.cell for tap in taps if tap.where == REAL}
            assert real == {cell for cell, outs in feeds.items() if (i, j) in outs}
            for tap in taps:
                r, c = tap.cell
                assert (r, c) == (
                    i * stride[0] + tap.tap[0] * dilation[0] - top,
                    j * stride[1] + tap.tap[1] * dilation[1] - left,
                )
                assert (tap.where == PADDING) == (not (0 <= r < h and 0 <= c < w))


# ---------------------------------------------------------------------------
# index_base, names, channels


def test_index_base_1_and_spec_symbols(tmp_path: Path) -> None:
    spec = CONV_SPEC + "index_base: 1\nnames: {input: X, output: H, kernel: K}\n"
    zero_based = run_spec(tmp_path, CONV_SPEC, "--focus", "output[1,0]").stdout
    for target in ("output[2,1]", "H[2,1]"):
        result = run_spec(tmp_path, spec, "--focus", target)
        assert result.exit_code == 0, result.stderr
        out = result.stdout
        assert "── Focus: the 6 cells of X that H_21 reads" in out
        rows = picture(out, "X")
        assert [label for label, _ in rows] == ["", "1", "2", "3", "4", "5", "6", "7", ""]
        # The same cells as output[1,0] with indices from 0.
        assert marks(rows, -PAD, -PAD) == marks(picture(zero_based, "x"), -PAD, -PAD)
        assert "(counted from 0; the picture and the symbols add 1)" in out
        assert "pad (2, 0)" in out  # padding positions print from 1 too: row 1 → 2, col −1 → 0
    out = run_spec(tmp_path, spec, "--focus", "X[4,2]").stdout
    assert f"── Focus: the {len(moved_by((3, 1)))} outputs H that X_42 feeds" in out
    assert marks(picture(out, "H"), 0, 0) == set(moved_by((3, 1)))
    # The default symbols are not names of this spec.
    result = run_spec(tmp_path, spec, "--focus", "y[1,1]")
    assert result.exit_code == 2
    assert result.stderr.startswith("gradcalc conv --focus: unknown array 'y'; allowed:")


MULTI = """\
input:
  - [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
  - [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
kernel:
  - [[[1, 0], [0, 1]], [[2, 0], [0, -1]]]
  - [[[0, 1], [1, 0]], [[1, 1], [1, 1]]]
padding: 1
stride: 2
"""


def test_channels_full_index_or_row_and_column(tmp_path: Path) -> None:
    full = run_spec(tmp_path, MULTI, "--focus", "output[1,1,0]").stdout
    assert "── Focus: the 2 cells of x that y_110 reads, in each of 2 channels" in full
    for plane in ("x [c=0]", "x [c=1]"):  # every input channel is read, at the same cells
        assert marks(picture(full, plane), -1, -1) == {(1, -1), (1, 0), (2, -1), (2, 0)}
    short = run_spec(tmp_path, MULTI, "--focus", "output[1,0]").stdout
    assert "y_010 reads" in short  # the leading index (output channel) defaults to the first
    fed = run_spec(tmp_path, MULTI, "--focus", "input[1,2,2]").stdout
    assert "── Focus: the 2 outputs y that x_122 feeds" in fed
    assert marks(picture(fed, "y [o=0]"), 0, 0) == {(1, 1)}
    assert marks(picture(fed, "y [o=1]"), 0, 0) == {(1, 1)}
    assert re.search(r"^y_011 +\(1, 1\) +w_0111 +−1$", fed, re.M)
    assert re.search(r"^y_111 +\(1, 1\) +w_1111 +1$", fed, re.M)


# ---------------------------------------------------------------------------
# Bad --focus values


@pytest.mark.parametrize(
    "target, words",
    [
        ("output[3,0]", "row 3 is out of range; allowed: row 0–2, column 0–2"),
        ("output[0,-1]", "column -1 is out of range; allowed:"),
        ("input[7,0]", "row 7 is out of range; allowed: row 0–6, column 0–6"),
        ("output[1]", "has 1 index; allowed: 2 (row, col)"),
        ("output[0,0,0]", "has 3 indices; allowed: 2 (row, col)"),
        ("output[a,0]", "indices must be whole numbers; allowed:"),
        ("kernel[0,0]", "unknown array 'kernel'; allowed: output[i,j] or input[i,j] or y[i,j]"),
        ("output", "cannot read 'output' as an element; allowed:"),
        ("output[1,0", "cannot read 'output[1,0' as an element; allowed:"),
    ],
)
def test_bad_focus_is_one_line_exit_2(tmp_path: Path, target: str, words: str) -> None:
    result = run_spec(tmp_path, CONV_SPEC, "--focus", target)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith("gradcalc conv --focus: ")
    assert words in result.stderr


def test_index_base_1_range_in_the_error(tmp_path: Path) -> None:
    result = run_spec(tmp_path, CONV_SPEC + "index_base: 1\n", "--focus", "output[0,1]")
    assert result.exit_code == 2
    assert "row 0 is out of range; allowed: row 1–3, column 1–3" in result.stderr


def test_kinds_without_windows_refuse_focus() -> None:
    result = run(
        "dense", "--spec", str(REPO / "problems" / "dense_batch.yaml"), "--focus", "y[0,0]"
    )
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        "gradcalc dense --focus: kind dense has no sliding window to draw; allowed with: conv, pool\n"
    )


# ---------------------------------------------------------------------------
# pool


MAX_POOL = """\
kind: pool
mode: max
input:
  - [1, 5, 2, 8, 3, 7]
  - [4, 0, 6, 1, 9, 2]
  - [7, 3, 8, 5, 1, 4]
  - [2, 9, 1, 6, 0, 3]
  - [5, 2, 7, 3, 8, 6]
  - [0, 4, 3, 9, 2, 1]
size: 3
stride: 2
padding: 1
dilation: 2
"""


def pool_reads(x: list, i: int, j: int, forward) -> set[tuple[int, int]]:
    """Input cells that move output (i, j) when raised far above every other value."""
    base = forward(x)
    moved = set()
    for r in range(len(x)):
        for c in range(len(x[0])):
            bumped = [row[:] for row in x]
            bumped[r][c] += 1000
            if forward(bumped)[i][j] != base[i][j]:
                moved.add((r, c))
    return moved


def test_max_pool_focus_with_dilation_and_padding(tmp_path: Path) -> None:
    x = frac([[1, 5, 2, 8, 3, 7], [4, 0, 6, 1, 9, 2], [7, 3, 8, 5, 1, 4]])
    x += frac([[2, 9, 1, 6, 0, 3], [5, 2, 7, 3, 8, 6], [0, 4, 3, 9, 2, 1]])

    def forward(values):
        ones = [[[[1] * 2 for _ in range(2)]]]
        return max_pool([[values]], ones, (3, 3), (2, 2), (1, 1), (2, 2), False, "first")[0][0][0]

    for i in range(2):
        for j in range(2):
            out = run_spec(tmp_path, MAX_POOL, "--focus", f"output[{i},{j}]", kind="pool").stdout
            rows = picture(out, "x")
            padding = {
                (i * 2 + m * 2 - 1, j * 2 + q * 2 - 1) for m in range(3) for q in range(3)
            } - set(np.ndindex(6, 6))
            assert marks(rows, -1, -1) == pool_reads(x, i, j, forward) | padding
            assert "·: padding (−∞, never the max)" in out
            assert f"y_{i}{j} = max(" in out


AVG_CEIL = (REPO / "problems" / "pool_avg_ceil_padding.yaml").read_text(encoding="utf-8")


def test_avg_pool_ceil_mode_window_is_clipped_past_the_padded_edge(tmp_path: Path) -> None:
    x = frac([[4 * r + c + 1 for c in range(4)] for r in range(4)])

    def forward(values):
        ones = [[[[1] * 3 for _ in range(3)]]]
        return avg_pool([[values]], ones, (3, 3), (2, 2), (1, 1), True, False, None)[0][0][0]

    out = run_spec(  # wide: the caption whole, not wrapped to fit
        tmp_path, AVG_CEIL, "--focus", "output[2,2]", "--width", "1000", kind="pool"
    ).stdout
    rows = picture(out, "x")
    # Rows −1 … 4 are the input and its padding; row and column 5 lie past the padded edge.
    assert [label for label, _ in rows] == ["", "0", "1", "2", "3", "", ""]
    marked = marks(rows, -1, -1)
    inside = {(r, c) for r, c in marked if 0 <= r < 4 and 0 <= c < 4}
    assert inside == pool_reads(x, 2, 2, forward) == {(3, 3)}
    assert marked == {(r, c) for r in (3, 4, 5) for c in (3, 4, 5)}
    assert rows[-1][1] == ["×", "×", "×", "×", "[×]", "[×]", "[×]"]
    assert rows[5][1][4:] == ["[·]", "[·]", "[×]"]
    assert (
        "×: past the padded edge; [×]: a tap of the ceil_mode window there, clipped (not read)"
        in out
    )


def test_pool_input_focus_lists_the_windows_and_their_weights(tmp_path: Path) -> None:
    x = frac([[4 * r + c + 1 for c in range(4)] for r in range(4)])
    out = run_spec(tmp_path, AVG_CEIL, "--focus", "input[1,1]", kind="pool").stdout
    assert "── Focus: the 4 windows y that x_11 is in" in out
    windows = set()
    for i in range(3):
        for j in range(3):

            def forward(values):
                ones = [[[[1] * 3 for _ in range(3)]]]
                return avg_pool([[values]], ones, (3, 3), (2, 2), (1, 1), True, False, None)[0][0][
                    0
                ]

            if (1, 1) in pool_reads(x, i, j, forward):
                windows.add((i, j))
    assert marks(picture(out, "y"), 0, 0) == windows
    for line, weight in (("y_00", "1/4"), ("y_01", "1/6"), ("y_10", "1/6"), ("y_11", "1/9")):
        assert re.search(rf"^{line} +\(\d, \d\) +{weight}$", out, re.M)
    assert "= 1·(1/4) + 1·(1/6) + 1·(1/6) + 1·(1/9) = 25/36" in out


# ---------------------------------------------------------------------------
# Output as a whole, other formats, other commands


README_COMMAND = (
    'gradcalc conv --input "1 2 0 1 3; 0 1 2 3 1; 2 1 0 1 2; 3 0 1 2 1; 1 1 2 0 3" '
    '--kernel "1 0 -1; 2 1 0; 0 -1 1" --stride 2 --dilation 2 --padding 1 '
    '--focus "output[1,0]" --no-color'
)
# At 100 columns (ENV): the window rule's sentence wraps to fit.
SNAPSHOT = """\
gradcalc conv
═════════════

── Focus: the 4 cells of x that y_10 reads ─────────────────────────────
window (1, 0) puts tap (m, q) on row i·s + m·d − p = 1·2 + m·2 − 1 = 1, 3, 5 and on column
  j·s + q·d − p = 0·2 + q·2 − 1 = −1, 1, 3
x
        0   1   2   3   4
    ·   ·   ·   ·   ·   ·   ·
0   ·   1   2   0   1   3   ·
1  [·]  0  [1]  2  [3]  1   ·
2   ·   2   1   0   1   2   ·
3  [·]  3  [0]  1  [2]  1   ·
4   ·   1   1   2   0   3   ·
   [·]  ·  [·]  ·  [·]  ·   ·
[v]: a cell y_10 reads; ·: zero padding (0); [·]: padding y_10 reads
w: the cell of x each entry multiplies in y_10
             0           1           2
0  pad (1, −1)        x_11        x_13
1  pad (3, −1)        x_31        x_33
2  pad (5, −1)  pad (5, 1)  pad (5, 3)
rows and columns: w's indices
y_10 = x_11·w_01 + x_13·w_02 + x_31·w_11 + x_33·w_12
     = 1·0 + 3·(−1) + 0·1 + 2·0 = −3   (5 terms read zero padding (0))
"""


def test_plain_output_snapshot_and_readme() -> None:
    args = [a.strip('"') for a in re.findall(r'"[^"]*"|\S+', README_COMMAND)][1:]
    result = run(*args)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == SNAPSHOT
    # The docs (docs/options.md, moved there from the README) show the same command and picture.
    readme = (REPO / "docs" / "options.md").read_text(encoding="utf-8")
    assert README_COMMAND.removesuffix(" --no-color") in readme.replace(" \\\n  ", " ")
    assert SNAPSHOT.split("\n", 3)[3] in readme


def test_show_adds_sections_after_the_focus(tmp_path: Path) -> None:
    out = run_spec(tmp_path, CONV_SPEC, "--focus", "output[0,0]", "--show", "size,checks").stdout
    assert out.index("── Focus") < out.index("── Output size") < out.index("── Checks")
    assert "── Forward" not in out


@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_documents_render_the_picture(tmp_path: Path, output_format: str) -> None:
    result = run_spec(tmp_path, CONV_SPEC, "--focus", "output[1,0]", "--format", output_format)
    assert result.exit_code == 0, result.stderr
    if output_format == "markdown":
        assert "| 1 | \\[·\\] | 6 | \\[5\\] | 3 | \\[5\\] | 8 | 9 | 7 | · |" in result.stdout
    else:
        # A row may start with "[": after \\ it would be read as a vertical skip.
        assert "\n{}[\\cdot ] & 6 & [5] & 3 & [5] & 8 & 9 & 7 & \\cdot  \\\\" in result.stdout


def test_latex_with_focus_compiles(tmp_path: Path) -> None:
    conv = run_spec(tmp_path, CONV_SPEC, "--focus", "output[1,0]", "--format", "latex")
    pool = run_spec(tmp_path, AVG_CEIL, "--focus", "output[2,2]", "--format", "latex", kind="pool")
    assert_compiles(tmp_path, conv.stdout, pool.stdout)


def test_run_and_examples_take_focus() -> None:
    path = str(REPO / "problems" / "padding_same_dilated.yaml")
    for args in (("run", path), ("examples", "padding_same_dilated")):
        result = run(*args, "--focus", "output[0,0]", "--no-color")
        assert result.exit_code == 0, result.stderr
        assert "── Focus: the 1 cell of x that y_00 reads" in result.stdout


def test_focus_module_is_imported_only_with_focus() -> None:
    code = (
        "import sys; from click.testing import CliRunner; from gradcalc.cli.main import main; "
        f"CliRunner().invoke(main, ['conv', '--spec', {str(REPO / 'problems' / 'task3.yaml')!r}]); "
        "print(any(m in sys.modules for m in ('gradcalc.core.ops.windows', "
        "'gradcalc.core.kinds.focus', 'gradcalc.core.explain.focus')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == "False"


def test_an_input_cell_no_window_reads_says_so(tmp_path: Path) -> None:
    conv = run(
        "conv",
        "--input",
        "1 2 0 -1 3; 0 1 2 1 -2; 2 -1 0 1 1; 1 0 -1 2 0; -2 1 1 0 1",
        "--kernel",
        "1 0 -1; 2 1 0; 0 -1 1",
        "--stride",
        "2",
        "--dilation",
        "2",
        "--padding",
        "1",
        "--focus",
        "input[2,1]",
        "--no-color",
    )
    assert conv.exit_code == 0, conv.stderr
    assert "Focus: x_21 feeds no output y (no window reads it)" in conv.stdout
    assert "no output's window reads x_21" in conv.stdout and "[v]: an output" not in conv.stdout
    pool = run(
        "pool", "--mode", "max", "--input", "1 2 3; 4 5 6; 7 8 9", "--size", "2",
        "--focus", "input[2,2]", "--no-color",
    )  # fmt: skip
    assert pool.exit_code == 0, pool.stderr
    assert "Focus: x_22 is in no window of y" in pool.stdout
    assert "no window reads x_22" in pool.stdout
