"""conv_transpose attacked as a hostile student or TA would (issue 15 item 4, review): sizes
that blow up the output without any work, the displayed equations on awkward problems, the
formats, --focus, and the usual mistakes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from nn_cli import run_spec, spec_error

from gradcalc.core import registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions

HUGE = {
    "a huge stride": ("stride: 100000\n", (3, 9), "the output would have 10,000,400,004 entries"),
    "a huge dilation": ("dilation: 100000\n", (3, 11), "above the limit of 250,000"),
    "output_padding under a huge stride": (
        "stride: 1000000\noutput_padding: 999999\n",
        (3, 9),
        "(raise it with --max-elements)",
    ),
    # A 4×4 output, but the ops scatter into the whole 20002×20002 output before the padding
    # cuts it (before the fix: 20 s and 3 GB with entries beyond int64).
    "a huge padding under a huge stride": (
        "stride: 20000\npadding: 9999\n",
        (4, 10),
        "the scattered output, before the padding cuts it, would have 400,080,004 entries",
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


GROUPED = {
    "kind": "conv_transpose",
    "input": [[[1, 2], [3, -1]], [[0, 1], [2, 2]]],
    "kernel": [[[[1, 0, -1], [2, 1, 0], [0, 1, 1]]], [[[1, 1, 0], [0, -1, 2], [1, 0, 1]]]],
    "groups": 2,
    "stride": 2,
    "padding": 1,
    "bias": [1, -1],
    "upstream": [[[1, 0, -1], [0, 1, 1], [-1, 0, 1]], [[1, 1, 1], [0, 0, -1], [2, 0, 1]]],
}


def test_groups_ignored_is_named() -> None:
    """Issue 15 lists "groups ignored" among the usual mistakes; it was not diagnosed (the
    answer was only "1×3×3 where the result is 2×3×3"). Read with groups 1 the kernel
    C_in×(C_out/g)×kh×kw gives C_out/g output channels, each adding up every input channel."""
    plain = {k: v for k, v in GROUPED.items() if k not in ("groups", "upstream")}
    plain["bias"] = [1]
    slip = registry.solve(plain, SolveOptions(sections=frozenset())).results
    output = np.asarray(slip["output"], dtype=object)
    assert output.shape == (1, 3, 3)
    for result, answer in (("output", output.tolist()), ("output_shape", [1, 3, 3])):
        grade = Problem(GROUPED).grade({result: answer})
        (one,) = (r for r in grade.results if r.name == result)
        assert "with groups (2) ignored" in one.diagnosis, one.diagnosis


def test_groups_are_named_in_the_problems_index_base() -> None:
    """The groups line said "channels counted from 0" under index_base 1, where every symbol
    counts channels from 1 (true, but a trap): the channels are now numbered as the indices."""
    spec = {**GROUPED, "index_base": 1}
    conventions = registry.solve(spec, SolveOptions()).conventions
    (line,) = (c for c in conventions if c.startswith("groups"))
    assert line.endswith("input channel 1 → output channel 1; input channel 2 → output channel 2")
    many = {
        "kind": "conv_transpose",
        "input": [[[1]]] * 12,
        "kernel": [[[[1]]] * 3] * 12,
        "groups": 6,
        "index_base": 1,
    }
    (line,) = (c for c in registry.solve(many, SolveOptions()).conventions if "groups" in c)
    assert line == (
        "groups 6: input channels 2·k + 1 … 2·k + 2 scatter only into output channels "
        "3·k + 1 … 3·k + 3 (group k = 0 … 5)"
    )


@pytest.mark.parametrize("padding", ["[1, 1, 1]", "true", "[1, x]"])
def test_a_bad_padding_does_not_offer_the_words_it_refuses(tmp_path: Path, padding: str) -> None:
    """read_padding (shared with conv) offered "valid" or "same", which conv_transpose refuses."""
    text = f"input: [[1, 2], [3, 4]]\nkernel: [[1, 0], [0, 1]]\npadding: {padding}\n"
    line, _, message = spec_error(run_spec(tmp_path, "conv-transpose", text))
    assert line == 3, message
    assert "[top, bottom, left, right]" in message and "same" not in message, message


def test_finite_differences_count_the_groups_as_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    """Groups run one after another: a depthwise 1×1 problem of 20,000 channels is 20,000
    multiply-adds but 20,000 numpy passes per loss, and finite differences probed 32 entries
    (257 losses, 80 s).  The probes now count each group's pass."""
    from gradcalc.core.kinds import conv_transpose

    calls = []
    plain = conv_transpose.float_loss
    monkeypatch.setattr(
        conv_transpose, "float_loss", lambda *a, **k: calls.append(1) or plain(*a, **k)
    )
    channels = 3000
    spec = {"kind": "conv_transpose", "input": [[[1]]] * channels, "groups": channels}
    spec["kernel"] = [[[["1/2"]]]] * channels
    solved = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solved.gradient_check is not None and solved.gradient_check.ok
    assert len(calls) <= 24, len(calls)
