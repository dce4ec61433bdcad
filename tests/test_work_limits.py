"""No spec makes gradcalc's work grow past its documented caps.

Each refusal is one ``FILE:LINE:COL`` line and exit 2; whether the work stays
bounded is checked by what runs (a composer that must not be called, an
operation count), never by wall-clock time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from nn_cli import run, spec_error

from gradcalc.cli import spec_loader
from gradcalc.cli.spec_loader import SpecFileError, parse_text

# ---------------------------------------------------------------------------
# The value cap bounds the YAML work before anything is composed

CAP = 1_000


@pytest.mark.parametrize(
    "body",
    [
        "x:\n" + "- [[[[[[]]]]]]\n" * CAP,
        "x: [" + ",".join(["{}"] * CAP) + "]\n",
        "x:\n" + "-\n" * (2 * CAP),
        "x:\n" + "- - - - - - - - - - 1\n" * (CAP // 5),
    ],
    ids=["nested empty lists", "empty mappings", "empty items", "items of items"],
)
def test_node_heavy_text_is_refused_before_composing(monkeypatch, body: str) -> None:
    text = "kind: conv\n" + body

    def no_compose(*args, **kwargs):
        raise AssertionError("composed a text above the value cap")

    monkeypatch.setattr(yaml, "compose", no_compose)
    monkeypatch.setattr(spec_loader, "read_plain", no_compose)
    with pytest.raises(SpecFileError) as error:
        parse_text(text, "spec.yaml", max_values=CAP)
    assert str(error.value).startswith("spec.yaml:1:1: the spec holds about ")
    assert f"above the limit of {CAP:,}" in str(error.value)


def test_a_spec_at_the_value_cap_still_reads() -> None:
    rows = CAP // 10 - 5
    text = "kind: conv\ninput:\n" + "  - [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" * rows + "kernel: [[1]]\n"
    # PyYAML's path too (a comment with a tab is outside the plain reader's subset).
    for spec in (text, "#\t\n" + text):
        data = parse_text(spec, "spec.yaml", max_values=CAP).data
        assert len(data["input"]) == rows


def test_node_heavy_file_is_one_located_line(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("input:\n" + "- [[[[[[]]]]]]\n" * 200_000 + "kernel: [[1]]\n")
    line, column, message = spec_error(run("conv", "--spec", str(spec)))
    assert (line, column) == (1, 1)
    assert "the spec holds about 1,400,004 values" in message
    assert "--max-elements" in message
