"""Hostile review of `kind: attention` and cross-entropy's `temporal` option (issue 17):
each test pins one bug found (and fixed) by trying the kind as a hostile student would."""

from __future__ import annotations

from pathlib import Path

from nn_cli import run_spec

ADDITIVE = """\
query: [[[1, 0], [1, 2], [0, 1]]]
key: [[[1, 1], [0, 2]]]
value: [[[1, 2, 0], [3, -1, 1]]]
mask: [[0, -3]]
scale: -1/3
"""


def test_an_additive_mask_is_in_every_displayed_score_equation(tmp_path: Path) -> None:
    # The problem line and the scores heading read Y = softmax(Q·Kᵀ·scale)·V and
    # A = Q·Kᵀ·scale, false with an additive mask (each entry's step added it).
    result = run_spec(tmp_path, "attention", ADDITIVE, "--no-color", "--width", "100")
    assert result.exit_code == 0, result.output
    assert "Y = softmax(Q·Kᵀ·scale + mask)·V" in result.output
    assert "Scores: A = Q·Kᵀ·scale + mask, one per" in result.output
    assert "softmax(Q·Kᵀ·scale)·V" not in result.output
    plain = run_spec(tmp_path, "attention", ADDITIVE.replace("mask: [[0, -3]]\n", ""))
    assert "Y = softmax(Q·Kᵀ·scale)·V" in plain.output
    assert "+ mask" not in plain.output


CAUSAL_WIDE = """\
query: [[1, 0], [1, 2]]
key: [[1, 1], [0, 2], [1, -1]]
value: [[1, 2], [3, -1], [0, 0]]
causal: true
scale: -2
"""


def test_a_masked_rows_max_and_sum_name_the_keys_it_attends(tmp_path: Path) -> None:
    # "m_0 = max_j A_0j = max(−2) = −2" was false read as written: A_01 = 0 is larger
    # (masked, so left out). The range of j is now shown under max and Σ.
    result = run_spec(tmp_path, "attention", CAUSAL_WIDE, "--no-color", "--width", "100")
    assert result.exit_code == 0, result.output
    assert "m_0 = max_{j ≤ 0} A_0j" in result.output
    assert "Z_0 = Σ_{j ≤ 0} exp(A_0j − m_0)" in result.output
    assert "max_j A_0j" not in result.output
    boolean = CAUSAL_WIDE.replace("causal: true", "mask: [[true, false, true], [true, true, true]]")
    result = run_spec(tmp_path, "attention", boolean + "index_base: 1\n", "--no-color")
    assert "m_1 = max_{j ∈ {1, 3}} A_1j" in result.output
    assert "m_2 = max_j A_2j" in result.output  # a row attending every key keeps j


def test_the_leading_axes_convention_counts_them(tmp_path: Path) -> None:
    # "leading axes 2 (batch, heads)" read as two leading axes when it was one of size 2.
    one = run_spec(tmp_path, "attention", ADDITIVE, "--no-color", "--width", "200")
    assert "1 leading (batch, head) axis of shape 1:" in one.output
    assert "the first index of every symbol" in one.output
    two = ADDITIVE.replace("[[[", "[[[[").replace("]]]", "]]]]")
    result = run_spec(tmp_path, "attention", two, "--no-color", "--width", "200")
    assert "2 leading (batch, head) axes of shape 1×1:" in result.output
    assert "the first 2 indices of every symbol" in result.output


def test_a_temporal_single_step_refuses_probability_targets(tmp_path: Path) -> None:
    # A single step of V scores with temporal: true ran as plain cross_entropy and so took a
    # list target as probabilities (the docs: refused with temporal), or refused [1] as a
    # probability target of the wrong shape.
    from nn_cli import spec_error

    for target in ("[0.2, 0.3, 0.5]", "[1]"):
        text = f"loss: cross_entropy\ninput: [2, 0, -1]\ntarget: {target}\ntemporal: true\n"
        result = run_spec(tmp_path, "loss", text)
        line, _, message = spec_error(result)
        assert line == 3
        assert "class indices, not probabilities" in message
    text = "loss: cross_entropy\ninput: [2, 0, -1]\ntarget: 1\ntemporal: true\n"
    assert run_spec(tmp_path, "loss", text).exit_code == 0


def test_an_additive_minus_infinity_says_to_write_a_boolean_mask(tmp_path: Path) -> None:
    from nn_cli import spec_error

    spec = "query: [[1, 0], [1, 2]]\nkey: [[1, 1], [0, 2]]\nvalue: [[1, 2], [3, -1]]\n"
    for mask, column in (("[[0, -.inf], [0, 0]]", 12), ('[[0, "-inf"], [0, 0]]', 12)):
        line, col, message = spec_error(run_spec(tmp_path, "attention", spec + f"mask: {mask}\n"))
        assert (line, col) == (4, column)
        assert "write a boolean mask instead" in message
    _, _, message = spec_error(
        run_spec(tmp_path, "attention", spec + "mask: [[.nan, 0], [0, 0]]\n")
    )
    assert "boolean" not in message
