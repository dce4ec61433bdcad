"""Defects hostile reviews left behind: each bad input gives one line ``FILE:LINE:COL: message``
(exit 2) pointing at the offending key or value, saying what is allowed, with no Python repr.

Each spec puts the offending key on a line of its own so LINE:COL can be checked.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main

CONV_1D = "input: [1, 2, 3, 4]\nkernel: [1, -1]\n"
CONV_TRANSPOSE_2D = "kind: conv_transpose\ninput: [[1, 2], [3, 4]]\nkernel: [[1, 0], [0, 1]]\n"
REPR = re.compile(r"Fraction\(|np\.\w+\(|numpy\.|array\(")


def one_line_error(tmp_path: Path, command: str, content: str, *args: str) -> tuple[int, int, str]:
    """Run ``gradcalc COMMAND --spec FILE ARGS``; assert exit 2 with one stderr line and no repr;
    return (line, column, message)."""
    path = tmp_path / "spec.yaml"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, [command, "--spec", str(path), *args])
    assert result.exit_code == 2, (result.exit_code, result.stdout[-400:], result.stderr)
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    match = re.fullmatch(re.escape(str(path)) + r":(\d+):(\d+): (.+)\n", result.stderr)
    assert match, result.stderr
    assert not REPR.search(result.stderr), result.stderr
    return int(match[1]), int(match[2]), match[3]


def inline_error(command: str, *args: str) -> str:
    """An inline run's one-line error (exit 2), with no Python repr in it."""
    result = CliRunner().invoke(main, [command, *args])
    assert result.exit_code == 2, (result.exit_code, result.stdout[-400:], result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    assert not REPR.search(result.stderr), result.stderr
    return result.stderr


# ---------------------------------------------------------------------------
# 1 and 7: padding_mode: null and groups (null, 3/2, 0) are refused at their own line


@pytest.mark.parametrize(
    "command, spec",
    [
        ("conv", "input: [[1, 2], [3, 4]]\nkernel: [[1]]\npadding: 1\n"),
        ("conv", CONV_1D + "padding: 1\n"),
        ("conv", "dims: 3\ninput: [[[1, 2], [3, 4]]]\nkernel: [[[1]]]\npadding: 1\n"),
    ],
)
def test_padding_mode_null_is_refused_at_its_line(tmp_path: Path, command: str, spec: str) -> None:
    content = spec + "padding_mode: null\n"
    line, column, message = one_line_error(tmp_path, command, content)
    assert (line, column) == (content.count("\n"), len("padding_mode: ") + 1)
    assert message.startswith("padding_mode: ")
    assert "null" in message and "zeros, reflect, replicate, circular" in message


@pytest.mark.parametrize(
    "command, spec", [("conv", CONV_1D), ("conv-transpose", CONV_TRANSPOSE_2D)]
)
@pytest.mark.parametrize("value", ["null", "3/2", "1.5", "0", '"two"'])
def test_groups_not_a_positive_integer_says_what_is_allowed(
    tmp_path: Path, command: str, spec: str, value: str
) -> None:
    content = spec + f"groups: {value}\n"
    line, column, message = one_line_error(tmp_path, command, content)
    assert (line, column) == (content.count("\n"), len("groups: ") + 1)
    assert message.startswith("groups: ")
    assert "a positive integer dividing both in_channels and out_channels" in message
    assert "expected groups" not in message


def test_groups_shows_the_number_as_written(tmp_path: Path) -> None:
    assert "got 3/2;" in one_line_error(tmp_path, "conv", CONV_1D + 'groups: "3/2"\n')[2]
    assert "got 3/2;" in one_line_error(tmp_path, "conv", CONV_1D + "groups: 1.5\n")[2]
    message = one_line_error(tmp_path, "conv", CONV_1D + "padding_mode: 1.5\n")[2]
    assert message.startswith("padding_mode: unknown padding_mode 3/2;"), message
    message = one_line_error(tmp_path, "conv", CONV_1D + "flip_kernel: 1.0e+300\n")[2]
    assert message == "flip_kernel: expected true or false, got 1e+300", message


# ---------------------------------------------------------------------------
# 3: a count of one takes the singular ("b has 1 entry", "1 row top and bottom")


def solved(command: str, spec: str, tmp_path: Path, *args: str) -> str:
    path = tmp_path / "spec.yaml"
    path.write_text(spec, encoding="utf-8")
    result = CliRunner().invoke(main, [command, "--spec", str(path), "--no-color", *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


ONE_COUNTS = re.compile(r"\b1 (entries|rows|cols|cells|channels|features|samples|steps|classes)\b")


def test_one_bias_entry_is_singular(tmp_path: Path) -> None:
    out = solved("conv", "input: [[1, 2], [3, 4]]\nkernel: [[1]]\nbias: [1]\n", tmp_path)
    assert "b has 1 entry)" in out
    assert not ONE_COUNTS.search(out), ONE_COUNTS.search(out)


def test_pool_padding_of_one_row_is_singular(tmp_path: Path) -> None:
    spec = "kind: pool\nmode: avg\ninput: [[1, 2, 3], [4, 5, 6], [7, 8, 9]]\nsize: 3\npadding: 1\n"
    out = solved("pool", spec, tmp_path, "--steps", "all", "--width", "400")
    assert "1 row top and bottom, 1 col left and right" in out
    assert not ONE_COUNTS.search(out), ONE_COUNTS.search(out)


@pytest.mark.parametrize(
    "command, content, wanted",
    [
        ("dense", "input: [1]\nweight: [[1, 2]]\n", "each input sample has L = 1 entry;"),
        ("rnn", "input: [[1]]\nweight_ih: [[1], [1]]\nweight_hh: [[1]]\n", "I = 1 entry: it"),
        (
            "rnn",
            "input: [[1]]\nweight_ih: [[1], [1]]\nweight_hh: [[1, 0], [0, 1]]\nbias_ih: [1]\n",
            "bias_ih has 1 entry but must have G·H = 2",
        ),
    ],
)
def test_count_words_in_messages(tmp_path: Path, command: str, content: str, wanted: str) -> None:
    assert wanted in one_line_error(tmp_path, command, content)[2]


# ---------------------------------------------------------------------------
# 4 and 5: inline triples under --dims 3, and 1-D messages that name one axis

VOLUME = (
    "--input",
    "[[[1, 2, 3], [4, 5, 6], [7, 8, 9]], [[1, 0, 1], [0, 1, 0], [1, 1, 1]], "
    "[[2, 2, 2], [0, 0, 1], [1, 0, 0]]]",
    "--kernel",
    "[[[1, 0], [0, 1]], [[1, 1], [0, 2]]]",
)


def inline_json(*args: str) -> dict:
    import json

    result = CliRunner().invoke(main, [*args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["results"]


@pytest.mark.parametrize("command", ["conv", "conv-transpose"])
@pytest.mark.parametrize(
    "option, text, written",
    [
        ("--stride", "1x2x2", "[1, 2, 2]"),
        ("--dilation", "2×1x1", "[2, 1, 1]"),
        ("--padding", "1 x 0 x 0", "[1, 0, 0]"),
    ],
)
def test_inline_triples_under_dims_3_read_as_the_spec_list(
    command: str, option: str, text: str, written: str
) -> None:
    as_triple = inline_json(command, "--dims", "3", *VOLUME, option, text)
    as_list = inline_json(command, "--dims", "3", *VOLUME, option, written)
    assert as_triple == as_list


@pytest.mark.parametrize("dims", ["3", '"3"', "3.0"])
def test_inline_triple_takes_dims_from_the_spec_file(tmp_path: Path, dims: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(f"dims: {dims}\ninput: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]\nkernel: [[[1]]]\n")
    results = inline_json("conv", "--spec", str(path), "--stride", "2x2x1")
    assert results["output_shape"] == [1, 1, 2]


def test_a_spec_file_triple_written_as_text_shows_the_list(tmp_path: Path) -> None:
    spec = "dims: 3\ninput: [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]\nkernel: [[[1]]]\nstride: 1x2x2\n"
    line, column, message = one_line_error(tmp_path, "conv", spec)
    assert (line, column) == (4, 9)
    assert "write [1, 2, 2] here" in message


@pytest.mark.parametrize("command", ["conv", "conv-transpose"])
@pytest.mark.parametrize("option", ["--stride", "--padding", "--dilation"])
def test_one_d_inline_messages_name_one_axis(command: str, option: str) -> None:
    """No rows, columns or HxW pairs for a 1-D signal, and no words a transposed conv refuses."""
    signal = ("--dims", "1", "--input", "1 2 3 4 5", "--kernel", "1 -1")
    for text in ("abc", "1x2x3", "[1, 2, 3]"):
        message = inline_error(command, *signal, option, text)
        assert not re.search(r"\brows?\b|\bcol(umn)?s?\b|HxW", message), message
        if command == "conv-transpose":
            assert "same" not in message and "valid" not in message, message


# ---------------------------------------------------------------------------
# 6: a capped net's a**999 and an inline 1/a say why


CAPPED_NET = """kind: net
symbols: [a]
input: [["a**999", 1, 2, 3]]
layers:
  - {type: dense, weight: symbolic 8x4}
  - {type: dense, weight: symbolic 8x8}
  - {type: dense, weight: symbolic 8x8}
upstream: symbolic 1x8
"""


def test_a_capped_net_says_the_degree_is_too_large(tmp_path: Path) -> None:
    """Above the symbolic limits every symbol gets a random whole number up to ±9; a**999 there
    is above 1e100, which was 'dense1 does not fit its input … numbers larger than 1e100'."""
    line, column, message = one_line_error(tmp_path, "net", CAPPED_NET)
    assert (line, column) == (3, 10), message
    assert message.startswith("input[0][0]: a**999 is above 1e100 at a = "), message
    assert "above the symbolic limit" in message
    assert "its degree 999 is too large" in message and "at most 104" in message
    assert "does not fit its input" not in message


def test_a_high_power_under_the_cap_stays_symbolic(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(
        'kind: net\nsymbols: [a]\ninput: [["a**999"]]\nlayers:\n  - {type: dense, weight: [[2]]}\n'
        "upstream: [[1]]\n"
    )
    result = CliRunner().invoke(main, ["net", "--spec", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    assert "2*a**999" in result.stdout


@pytest.mark.parametrize(
    "entries, wanted",
    [
        ("1/a 2;", "'1/a': an entry is a polynomial"),
        ("1/b 2;", "unknown name 'b'"),
        ("3a 2;", "write 3*a to multiply"),
    ],
)
def test_inline_formula_entries_get_the_spec_readers_reason(entries: str, wanted: str) -> None:
    message = inline_error("dense", "--input", "1 2", "--weight", entries, "--symbols", "a")
    assert message.startswith("gradcalc dense --weight: weight[0][0]: "), message
    assert wanted in message and "is not a number" not in message


def test_inline_formula_entry_matches_the_spec_file(tmp_path: Path) -> None:
    spec = "input: [1, 2]\nweight: [['1/a', 2]]\nsymbols: [a]\n"
    from_file = one_line_error(tmp_path, "dense", spec)[2]
    inline = inline_error("dense", "--input", "1 2", "--weight", "1/a 2;", "--symbols", "a")
    assert inline.split(": ", 1)[1].rstrip("\n") == from_file


def test_a_layer_word_as_a_type_says_how_to_write_it(tmp_path: Path) -> None:
    spec = "kind: net\ninput: [[1, 2]]\nlayers:\n  - {type: dense, weight: [[1, 2]]}\n  - {type: relu}\n"
    line, column, message = one_line_error(tmp_path, "net", spec)
    assert (line, column) == (5, 12)
    assert "did you mean 'relu'" not in message
    assert "write it bare (- relu) or as {type: activation, function: relu}" in message


# ---------------------------------------------------------------------------
# 8: a float64 sum's displayed terms add up to its displayed total


@pytest.mark.parametrize("precision", ["6", "3"])
def test_a_float_average_shows_the_floats_it_summed(precision: str) -> None:
    """(−0.7 + 1 − 0.6 + 0.3)/4 is 1.38778e-17 in float64; the window was shown with the
    spec's exact terms, (−7/10 + 1 − 3/5 + 3/10)/4, which make 0: a false equation."""
    from test_displayed_equations import audit_inline

    args = [
        "pool",
        "--mode",
        "avg",
        "--input",
        "-0.3 3 0.6 -0.6; 1 0.6 -0.3 0.2; -0.7 1 3 0.2; -0.6 0.3 3 0.7",
        "--size",
        "2",
        "--upstream",
        "-0.3 -0.7; 0.6 0.1",
        "--float",
        "--precision",
        precision,
    ]
    assert audit_inline(*args) == []
