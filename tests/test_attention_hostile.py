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
