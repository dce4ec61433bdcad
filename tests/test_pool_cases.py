"""Hand-worked pooling cases: tie policies, PyTorch's ceil_mode, divisor and LP rules.

Each expected value below is worked out by hand in the comment beside it (PyTorch's
rules as its CPU kernels implement them), not taken from gradcalc's output.
"""

from __future__ import annotations

import math
from fractions import Fraction as F
from typing import Any

import numpy as np
import pytest

from gradcalc.core import registry
from gradcalc.core.errors import SpecError
from gradcalc.core.ops.pool_geometry import pooled_size
from gradcalc.core.spec import SolveOptions


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("steps", None)
    return registry.solve({"kind": "pool", **spec}, SolveOptions(**options))


def values(array: Any) -> list:
    """A result as nested lists of Fractions/ints (floats stay floats)."""
    return np.asarray(array, dtype=object).tolist()


# ---------------------------------------------------------------------------
# Ties: first (PyTorch), all (seed 000 / indicator), split (1/k each)

TIE_WINDOW = {"mode": "max", "input": [[2, 2], [1, 2]], "size": 2, "upstream": [[6]]}


@pytest.mark.parametrize(
    ("ties", "grad", "argmax"),
    [
        # three 2s tie; the first in row-major order is x_00
        ("first", [[6, 0], [0, 0]], [[0]]),
        # every tied maximum gets the full 6
        ("all", [[6, 6], [0, 6]], [[(0, 1, 3)]]),
        # 6 split three ways
        ("split", [[2, 2], [0, 2]], [[(0, 1, 3)]]),
    ],
)
def test_tie_policies_in_one_window(ties: str, grad: list, argmax: list) -> None:
    solution = solve({**TIE_WINDOW, "ties": ties})
    assert values(solution.results["output"]) == [[2]]
    assert values(solution.results["grad_input"]) == grad
    assert values(solution.results["argmax"]) == argmax
    # max has no derivative at a tie: the finite-difference check leaves x_00, x_01, x_11 out
    check = solution.gradient_check
    assert check.entries_checked == 1 and check.entries_total == 4 and "tied" in check.note


@pytest.mark.parametrize(
    ("ties", "grad"),
    [
        # windows {5, 5} and {5, 1}, upstream 1 each: PyTorch gives window 0 to x_0, window 1 to x_1
        ("first", [[1, 1, 0]]),
        # window 0 gives 1 to both 5s, window 1 gives 1 to x_1 again
        ("all", [[1, 2, 0]]),
        # window 0 gives 1/2 to each 5, window 1 gives 1 to x_1
        ("split", [[F(1, 2), F(3, 2), 0]]),
    ],
)
def test_tie_policies_with_overlapping_windows(ties: str, grad: list) -> None:
    solution = solve(
        {"mode": "max", "input": [[5, 5, 1]], "size": [1, 2], "stride": 1, "ties": ties}
    )
    assert values(solution.results["output"]) == [[5, 5]]
    assert values(solution.results["grad_input"]) == grad


def test_ties_section_shows_the_other_policies() -> None:
    solution = solve({**TIE_WINDOW, "ties": "all"})
    ties = next(s for s in solution.sections if s.key == "ties")
    text = " ".join(getattr(item, "text", getattr(item, "label", "")) for item in ties.items)
    assert "3-way tie" in text
    assert "under ties: first" in text and "under ties: split" in text
    assert "under ties: all (this spec)" in text
    matrices = {item.label: values(item.values) for item in ties.items if hasattr(item, "values")}
    assert matrices["∂L/∂x under ties: split"] == [[2, 2], [0, 2]]
    assert matrices["∂L/∂x under ties: first"] == [[6, 0], [0, 0]]


def test_no_ties_says_the_policies_agree() -> None:
    solution = solve({"mode": "max", "input": [[1, 2], [3, 4]], "size": 2})
    ties = next(s for s in solution.sections if s.key == "ties")
    assert "no ties" in ties.items[0].text


# ---------------------------------------------------------------------------
# Output size and ceil_mode (PyTorch's pooling_output_shape)


@pytest.mark.parametrize(
    ("size", "kernel", "pad", "stride", "dilation", "ceil_mode", "expected"),
    [
        (4, 2, 0, 2, 1, False, 2),  # ⌊(4 − 2)/2⌋ + 1
        (5, 2, 0, 2, 1, False, 2),  # ⌊3/2⌋ + 1: the last partial window is dropped
        (5, 2, 0, 2, 1, True, 3),  # ⌈3/2⌉ + 1; start 4 < 5: kept, clipped
        (3, 2, 1, 2, 1, True, 2),  # ⌈3/2⌉ + 1 = 3, but start (3 − 1)·2 = 4 ≥ 3 + 1: dropped
        (4, 3, 1, 2, 1, True, 3),  # ⌈3/2⌉ + 1; start 4 < 5: kept
        (1, 2, 0, 2, 1, True, 1),  # window larger than the input: ceil keeps one clipped window
        (1, 2, 0, 2, 1, False, 0),  # ... floor has none (an error in gradcalc, as in PyTorch)
        (7, 2, 1, 1, 3, False, 6),  # ⌊(7 + 2 − 3 − 1)/1⌋ + 1 with dilation 3
    ],
)
def test_pooled_size(size, kernel, pad, stride, dilation, ceil_mode, expected) -> None:
    assert pooled_size(size, kernel, pad, stride, dilation, ceil_mode) == expected


def test_ceil_mode_keeps_a_clipped_last_window() -> None:
    # [1, 2, 3, 4, 5], windows of 2, stride 2: [1, 2], [3, 4] and, with ceil_mode, [5]
    base = {"input": [[1, 2, 3, 4, 5]], "size": [1, 2]}
    assert values(solve({**base, "mode": "max"}).results["output"]) == [[2, 4]]
    assert values(solve({**base, "mode": "max", "ceil_mode": True}).results["output"]) == [
        [2, 4, 5]
    ]
    # avg: the clipped window [5] divides by 1 (pool_size stops at the padded edge)
    avg = solve({**base, "mode": "avg", "ceil_mode": True})
    assert values(avg.results["output"]) == [[F(3, 2), F(7, 2), 5]]
    assert values(avg.results["grad_input"]) == [[F(1, 2), F(1, 2), F(1, 2), F(1, 2), 1]]


def test_ceil_mode_drops_a_window_starting_in_the_right_padding() -> None:
    # W = 3, window 2, stride 2, padding 1: windows start at padded cols 0 and 2 (real −1, 1);
    # a third would start at padded col 4 = W + p: in the right padding, so PyTorch drops it.
    spec = {
        "mode": "avg",
        "input": [[2, 4, 6]],
        "size": [1, 2],
        "padding": [0, 1],
        "ceil_mode": True,
    }
    # count_include_pad (default): [(0 + 2)/2, (4 + 6)/2]
    assert values(solve(spec).results["output"]) == [[1, 5]]
    # without: x_0 alone divides by 1
    assert values(solve({**spec, "count_include_pad": False}).results["output"]) == [[2, 5]]


def test_count_include_pad_and_a_clipped_window() -> None:
    # 4×4, x_ij = 4i + j + 1, window 3, stride 2, padding 1, ceil_mode: windows cover rows
    # {0, 1} + 1 padding row, {1, 2, 3}, {3} + 1 padding row (+ 1 row past the padded edge).
    # count_include_pad counts up to the padded edge: 3, 3, 2 per axis -> divisors
    # [[9, 9, 6], [9, 9, 6], [6, 6, 4]]; sums [[14, 30, 12], [57, 99, 36], [27, 45, 16]].
    spec = {
        "mode": "avg",
        "input": [[4 * i + j + 1 for j in range(4)] for i in range(4)],
        "size": 3,
        "stride": 2,
        "padding": 1,
        "ceil_mode": True,
    }
    assert values(solve(spec).results["output"]) == [
        [F(14, 9), F(30, 9), F(12, 6)],
        [F(57, 9), F(99, 9), F(36, 6)],
        [F(27, 6), F(45, 6), F(16, 4)],
    ]
    # without padding in the divisor: input cells only, 2, 3, 1 per axis
    assert values(solve({**spec, "count_include_pad": False}).results["output"]) == [
        [F(14, 4), F(30, 6), F(12, 2)],
        [F(57, 6), F(99, 9), F(36, 3)],
        [F(27, 2), F(45, 3), F(16, 1)],
    ]


def test_divisor_override() -> None:
    # 2×2 input, window 2, stride 2, padding 1: each window holds one input cell (a corner)
    spec = {"mode": "avg", "input": [[1, 2], [3, 4]], "size": 2, "padding": 1}
    assert values(solve(spec).results["output"]) == [[F(1, 4), F(1, 2)], [F(3, 4), 1]]
    assert values(solve({**spec, "count_include_pad": False}).results["output"]) == [[1, 2], [3, 4]]
    override = solve({**spec, "divisor_override": 3})
    assert values(override.results["output"]) == [[F(1, 3), F(2, 3)], [1, F(4, 3)]]
    assert values(override.results["grad_input"]) == [[F(1, 3)] * 2] * 2


def test_max_padding_never_wins_and_dilation() -> None:
    # all-negative input padded with 1: the padding (−∞) never beats −5
    padded = solve({"mode": "max", "input": [[-5, -7], [-6, -8]], "size": 2, "padding": 1})
    assert values(padded.results["output"]) == [[-5, -7], [-6, -8]]
    # dilation 2 in the columns: windows read cols {0, 2} and {1, 3}
    dilated = solve(
        {"mode": "max", "input": [[1, 9, 2, 8]], "size": [1, 2], "stride": 1, "dilation": [1, 2]}
    )
    assert values(dilated.results["output"]) == [[2, 9]]
    assert values(dilated.results["grad_input"]) == [[0, 1, 1, 0]]
    assert values(dilated.results["argmax"]) == [[2, 1]]


def test_global_size_and_batched_channels() -> None:
    spec = {
        "mode": "avg",
        "input": [[[[1, 2, 3], [4, 5, 6]]], [[[0, 0, 6], [0, 0, 0]]]],
        "size": "global",
    }
    solution = solve(spec)
    assert solution.results["output_shape"] == [2, 1, 1, 1]
    assert values(solution.results["output"]) == [[[[F(7, 2)]]], [[[1]]]]
    assert values(solution.results["grad_input"])[0][0] == [[F(1, 6)] * 3] * 2


# ---------------------------------------------------------------------------
# LP pooling


def test_lp_p1_is_the_window_sum_and_p2_the_euclidean_norm() -> None:
    x = [[1, 2], [3, 4]]
    p1 = solve({"mode": "lp", "p": 1, "input": x, "size": 2})
    assert values(p1.results["output"]) == [[10.0]]  # 1 + 2 + 3 + 4 = average 5/2 · 4
    assert values(p1.results["grad_input"]) == [[1.0, 1.0], [1.0, 1.0]]
    p2 = solve({"mode": "lp", "p": 2, "input": x, "size": 2})
    assert values(p2.results["output"])[0][0] == pytest.approx(math.sqrt(30))
    expected = [[v / math.sqrt(30) for v in row] for row in x]  # ∂y/∂x = x/y
    assert np.allclose(np.asarray(p2.results["grad_input"], dtype=float), expected)


def test_lp_relations_section() -> None:
    solution = solve({"mode": "lp", "p": 2, "input": [[1, 2], [3, 4]], "size": 2})
    relations = next(s for s in solution.sections if s.key == "relations")
    formula, table = relations.items
    assert formula.value == 10 and "average" in formula.symbolic
    rows = dict(zip(table.rows, (row[0] for row in table.cells), strict=True))
    assert rows["1"] == 10 and rows["∞"] == 4
    assert rows["2"] == pytest.approx(math.sqrt(30))
    # growing p approaches the max from above
    finite = [rows[p] for p in ("1", "2", "4", "8", "16", "32", "64", "128")]
    assert all(a > b for a, b in zip(finite, finite[1:], strict=False)) and finite[-1] - 4 < 0.05


def test_lp_negative_inputs_with_even_p_and_zero_windows() -> None:
    # (−3)² + 4² = 25: y = 5, ∂y/∂x = x/y
    solution = solve({"mode": "lp", "p": 2, "input": [[-3, 4]], "size": [1, 2]})
    assert values(solution.results["output"]) == [[5.0]]
    assert np.allclose(np.asarray(solution.results["grad_input"], dtype=float), [[-0.6, 0.8]])
    # a window of zeros: y = 0, and the gradient is 0 there (PyTorch's rule), not NaN
    zeros = solve({"mode": "lp", "p": 2, "input": [[0, 0, 3, 4]], "size": [1, 2]})
    assert values(zeros.results["output"]) == [[0.0, 5.0]]
    assert np.allclose(np.asarray(zeros.results["grad_input"], dtype=float), [[0, 0, 0.6, 0.8]])
    assert "Σ x^p = 0" in zeros.gradient_check.note


def test_lp_clipped_window_is_scaled_as_pytorch_does() -> None:
    # ceil_mode keeps the clipped window [3]; PyTorch's avg_pool2d(x^p)·kh·kw divides its
    # sum by 1 cell, not 2, so y = (2·3²)^(1/2) = √18
    solution = solve(
        {"mode": "lp", "p": 2, "input": [[1, 2, 3]], "size": [1, 2], "ceil_mode": True}
    )
    got = np.asarray(solution.results["output"], dtype=float)
    assert np.allclose(got, [[math.sqrt(5), math.sqrt(18)]])
    # ∂y/∂x_2 = 2·x/y = 6/√18
    assert np.asarray(solution.results["grad_input"], dtype=float)[0, 2] == pytest.approx(
        6 / math.sqrt(18)
    )


def test_lp_large_values_do_not_overflow() -> None:
    # x^p alone would overflow float64 (1e396); the result itself is representable.
    solution = solve({"mode": "lp", "p": 4, "input": [["1e99", "2e99"]], "size": [1, 2]})
    assert np.asarray(solution.results["output"], dtype=float)[0, 0] == pytest.approx(
        17**0.25 * 1e99
    )


# ---------------------------------------------------------------------------
# Spec errors the core raises (the CLI tests check their one-line form)


@pytest.mark.parametrize(
    ("spec", "path", "words"),
    [
        ({"mode": "max", "input": [[1, 2]], "size": 3}, ("size",), "padded input"),
        ({"mode": "max", "input": [[1, 2]], "size": 1, "stride": 0}, ("stride",), "at least 1"),
        ({"mode": "lp", "input": [[1, 2]], "size": 1, "p": "1/2"}, ("p",), "at least 1"),
        ({"mode": "lp", "input": [[1, 2]], "size": 1, "p": ".inf"}, ("p",), "mode: max"),
        (
            {"mode": "lp", "input": [[1, -2]], "size": [1, 2], "p": 1.5},
            ("input", 0, 1),
            "not a real number",
        ),
        ({"mode": "lp", "input": [[1, -2]], "size": [1, 2], "p": 3}, ("input",), "negative"),
        (
            {"mode": "max", "input": [[1, 2, 3]], "size": 2, "padding": 2},
            ("padding",),
            "half the window",
        ),
        ({"mode": "avg", "input": [[1, 2]], "size": 1, "ties": "all"}, ("ties",), "mode max"),
        ({"mode": "avg", "input": [[1, 2]], "size": 1, "dilation": 2}, ("dilation",), "mode max"),
        (
            {"mode": "lp", "input": [[1, 2]], "size": 1, "p": 2, "padding": 1},
            ("padding",),
            "LPPool2d",
        ),
        (
            {"mode": "max", "input": [[1, 2]], "size": 1, "divisor_override": 2},
            ("divisor_override",),
            "mode avg",
        ),
        (
            {"mode": "avg", "input": [[1, 2]], "size": 1, "divisor_override": 0},
            ("divisor_override",),
            "at least 1",
        ),
        ({"mode": "mean", "input": [[1, 2]], "size": 1}, ("mode",), "max, avg, lp"),
        ({"input": [[1, 2]], "size": 1}, (), "mode"),
        ({"mode": "lp", "input": [[1, 2]], "size": 1}, (), "'p'"),
        ({"mode": "max", "input": [[1, 2]], "size": "all"}, ("size",), "global"),
        (
            {"mode": "max", "input": [[1, 2]], "size": 1, "padding": [0, 0, 0, 0]},
            ("padding",),
            "both sides",
        ),
        (
            {"mode": "max", "input": [[1, 2], [3, 4]], "size": 2, "padding": 1, "dilation": 3},
            ("dilation",),
            "only padding",
        ),
        (
            {"mode": "max", "input": [[1, 2]], "size": 1, "ties": "last"},
            ("ties",),
            "first, all, split",
        ),
        (
            {
                "mode": "max",
                "input": [[1, 2]],
                "size": 1,
                "ties": "all",
                "expected": {"argmax": [[0, 1]]},
            },
            ("expected", "argmax"),
            "ties: first",
        ),
    ],
)
def test_spec_errors(spec: dict[str, Any], path: tuple, words: str) -> None:
    with pytest.raises(SpecError) as raised:
        solve(spec)
    assert raised.value.path == path, raised.value
    assert words.lower() in raised.value.message.lower(), raised.value.message


def test_float_avg_pool_gives_an_exact_zero_gradient_as_zero() -> None:
    """--float summed upstream·(1/k) with 1/k as floats: 2.2e-16 where the gradient is 0.
    The integer weights are summed first and divided once, as in the exact path."""
    spec = {
        "mode": "avg",
        "input": [[1, 1, 1], [1, 1, 1], [1, 1, 1]],
        "size": 3,
        "stride": 1,
        "padding": 1,
        "count_include_pad": False,
        "ceil_mode": True,
        "upstream": [[-1, -3, -3], [2, 3, 3], [3, -3, "1/3"]],
    }
    exact = values(solve(spec).results["grad_input"])
    approx = solve(spec, force_float=True).results["grad_input"]
    zeros = [i for i, v in enumerate(np.ravel(np.array(exact, dtype=object))) if v == 0]
    assert zeros, exact
    assert all(float(np.ravel(approx)[i]) == 0.0 for i in zeros), approx
