"""conv_transpose attacked as a hostile student or TA would (issue 15 item 4, review): sizes
that blow up the output without any work, the displayed equations on awkward problems, the
formats, --focus, and the usual mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest
from nn_cli import run_spec, spec_error

HUGE = {
    "a huge stride": ("stride: 100000\n", (3, 9), "the output would have 10,000,400,004 entries"),
    "a huge dilation": ("dilation: 100000\n", (3, 11), "above the limit of 250,000"),
    "output_padding under a huge stride": (
        "stride: 1000000\noutput_padding: 999999\n",
        (3, 9),
        "(raise it with --max-elements)",
    ),
}


@pytest.mark.parametrize("case", list(HUGE), ids=list(HUGE))
def test_an_output_spread_too_far_is_refused_at_once(tmp_path: Path, case: str) -> None:
    """A 2×2 input and a 2×2 kernel are 16 multiply-adds whatever the stride, but the output
    grows with it: before the fix a stride of 100000 asked for a 10¹⁰-entry array (an
    unlocated out-of-memory line) and a stride of 2000 took seconds."""
    keys, (line, column), words = HUGE[case]
    text = "input: [[1, 2], [3, 4]]\nkernel: [[1, 0], [0, 1]]\n" + keys
    got_line, got_column, message = spec_error(run_spec(tmp_path, "conv-transpose", text))
    assert (got_line, got_column) == (line, column), message
    assert words in message, message


def test_the_output_cap_is_raised_by_max_elements(tmp_path: Path) -> None:
    text = "input: [[1, 2], [3, 4]]\nkernel: [[1, 0], [0, 1]]\nstride: 600\n"
    assert run_spec(tmp_path, "conv-transpose", text).exit_code == 2
    result = run_spec(tmp_path, "conv-transpose", text, "--max-elements", "400000", "--brief")
    assert result.exit_code == 0, result.stderr
