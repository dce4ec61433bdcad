"""Numbers are read one way everywhere: spec files (either YAML reader), inline options,
quoted text and expressions.  Decimal integers, decimals, exponents and fractions p/q are
numbers; YAML 1.1's other spellings (octal 010, 0x1F, 0b1, base-60 1:30, 1_000) are
refused with the fix named, never read as a different number.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli import spec_loader
from gradcalc.cli.main import main
from gradcalc.cli.plain_yaml import read_plain
from gradcalc.cli.spec_loader import parse_text

ENV = {"COLUMNS": "100", "NO_COLOR": None, "FORCE_COLOR": None}
POOL = "kind: pool\nmode: avg\ninput: [[1, 2, 3, 4], [5, 6, 7, 8]]\nsize: 1\n"
POOL_INLINE = ("pool", "--mode", "avg", "--input", "1 2 3 4; 5 6 7 8", "--size", "1")


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def one_line_error(result: Result, prefix: str) -> str:
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


REFUSED = [
    ("010", "write 10, or 8 if octal was meant"),
    ("-010", "write -10, or -8 if octal was meant"),
    ("09", "write 9;"),
    ("00", "write 0;"),
    ("1:30", "write 90 if base 60 was meant, or 1/30 for a fraction"),
    ("190:20:30", "write 685230 if base 60"),
    ("1:30.5", "write 90.5 if base 60"),
    ("0x1F", "write 31; hexadecimal"),
    ("0o17", "write 15; octal"),
    ("0b101", "write 5; binary"),
    ("1__0", "write 10; underscores"),
    ("1_000", "write 1000; underscores"),
    ("1_0.5", "write 10.5; underscores"),
]


@pytest.mark.parametrize(("text", "fix"), REFUSED)
def test_yaml_1_1_numbers_are_refused_in_a_file_with_the_fix(tmp_path: Path, text, fix) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(POOL + f"divisor_override: {text}\n", encoding="utf-8")
    line = one_line_error(run("pool", "--spec", str(spec)), f"{spec}:5:19: divisor_override: ")
    assert fix in line


@pytest.mark.parametrize(("text", "fix"), REFUSED)
def test_the_same_numbers_are_refused_inline_with_the_same_words(text, fix) -> None:
    line = one_line_error(
        run(*POOL_INLINE, "--divisor-override", text), "gradcalc pool --divisor-override: "
    )
    assert fix in line


MAX_POOL = "kind: pool\nmode: max\nsize: 1\n"


@pytest.mark.parametrize(
    ("lines", "where"),
    [
        ("input: [[1, 2]]\nstride: 010\n", ":5:9: stride: "),
        ('input: [[1, 2]]\nstride: "010"\n', ":5:9: stride: "),  # quoted: the same rule
        ("input: [[1, 2]]\nstride: [010, 1]\n", ":5:10: stride[0]: "),
        ("input: [[1, 2]]\npadding: 0x1\n", ":5:10: padding: "),
        ("input: [[1, 2, 010, 4], [5, 6, 7, 8]]\n", ":4:16: input[0][2]: "),
        ("input:\n  - [1, 2, 3, 4]\n  - [5, 6, 7, 010]\n", ":6:15: input[1][3]: "),
    ],
)
def test_lists_and_quoted_text_follow_the_same_rule(tmp_path: Path, lines: str, where) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(MAX_POOL + lines, encoding="utf-8")
    line = one_line_error(run("pool", "--spec", str(spec)), str(spec) + where)
    assert "write " in line


@pytest.mark.parametrize("text", ["1 010", "[3, 010]", "010", "3\n010"])
def test_an_inline_matrix_refuses_010_too(text: str) -> None:
    line = one_line_error(
        run("activation", "--function", "relu", "--input", text), "gradcalc activation --input: "
    )
    assert "write 10, or 8 if octal was meant" in line


@pytest.mark.parametrize(
    "text", ["2", "+2", "2.0", "2.", '"2"', "4/2", '"4/2"', "2e0", "0.2e1", '"2e0"']
)
def test_a_file_and_an_option_read_a_number_alike(tmp_path: Path, text: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(POOL + f"divisor_override: {text}\n", encoding="utf-8")
    from_file = run("pool", "--spec", str(spec), "--format", "json")
    inline = run(*POOL_INLINE, "--divisor-override", text.strip('"'), "--format", "json")
    assert from_file.exit_code == inline.exit_code == 0, from_file.stderr + inline.stderr
    assert json.loads(from_file.stdout)["results"] == json.loads(inline.stdout)["results"]
    assert json.loads(inline.stdout)["results"]["output"] == [[0.5, 1, 1.5, 2], [2.5, 3, 3.5, 4]]


@pytest.mark.parametrize(
    "template", ["value: {s}\n", "value: [1, {s}]\n", "value:\n  - {s}\n", "value: {{a: {s}}}\n"]
)
@pytest.mark.parametrize("scalar", [text for text, _ in REFUSED] + ["0x_", "+010", "1:0:0.0"])
def test_both_readers_keep_refused_numbers_as_text(template: str, scalar: str) -> None:
    """The plain reader and PyYAML's path give the same text; the number reader refuses it."""
    text = template.format(s=scalar)
    plain = read_plain(text, spec_loader._plain_scalar, 10_000_000)
    # A multi-line flow list is outside the plain reader's subset: PyYAML's path reads this.
    full = parse_text(text + "other: [\n 1]\n", "x").data
    assert full.pop("other") == [1]
    assert scalar in json.dumps(full)
    if plain is None:  # the plain reader leaves ':' inside [...] and {...} to PyYAML
        assert ":" in scalar and template.startswith(("value: [", "value: {"))
    else:
        assert plain == full


@pytest.mark.parametrize(
    ("function", "fix"),
    [
        ("010*x", "write 10, or 8 if octal was meant"),
        ("0x1F*x", "write 31; hexadecimal"),
        ("x**0b10", "write 2; binary"),
        ("1_000*x", "write 1000; underscores"),
    ],
)
def test_expressions_read_numbers_alike(function: str, fix: str) -> None:
    line = one_line_error(
        run("expr", "--function", function, "--variables", "x", "--at", "x: 1"),
        "gradcalc expr --function: ",
    )
    assert fix in line


# ---------------------------------------------------------------------------
# Integers that meet C, base-60 that never reaches PyYAML, text no output can encode


@pytest.mark.parametrize(
    ("kind", "lines", "where"),
    [
        ("pool", "mode: max\nsize: 1\nstride: 1e19\n", ":5:9: stride: stride must be"),
        ("pool", "mode: max\nsize: [1, 1e19]\n", ":4:11: size[1]: size (the window) (cols) must"),
        ("pool", "mode: max\nsize: 2\ndilation: 1e19\n", ":5:11: dilation: dilation must be"),
        ("pool", "mode: avg\nsize: 1\ndivisor_override: 1e19\n", ":5:19: divisor_override: "),
        ("pool", "mode: avg\nsize: 1\ndivisor_override: 2147483648\n", ":5:19: divisor_"),
        ("conv", "kernel: [[1]]\nstride: 9223372036854775808\n", ":4:9: stride: stride must"),
        ("conv", "kernel: [[1]]\npadding: [0, 0, 0, 1e19]\n", ":4:20: padding[3]: padding"),
        ("conv", "kernel: [[1]]\ndilation: [1e30, 1]\n", ":4:12: dilation[0]: dilation"),
    ],
)
def test_integers_that_reach_numpy_are_range_checked(tmp_path: Path, kind, lines, where) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"kind: {kind}\ninput: [[1, 2], [3, 4]]\n" + lines, encoding="utf-8")
    line = one_line_error(run(kind, "--spec", str(spec)), str(spec) + where)
    assert "must be at most 2147483647 (2^31 − 1)" in line


def test_the_limit_itself_is_fine_and_the_same_inline() -> None:
    fine = run(*POOL_INLINE, "--stride", "2147483647", "--divisor-override", "2147483647")
    assert fine.exit_code == 0, fine.stderr
    line = one_line_error(run(*POOL_INLINE, "--stride", "1e19"), "gradcalc pool --stride: ")
    assert "at most 2147483647" in line


def test_a_long_base_60_number_is_one_line(tmp_path: Path) -> None:
    """174 parts: PyYAML's conversion raised OverflowError (a 52-line traceback)."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "kind: activation\nfunction: relu\ninput: " + "1:" + "0:" * 172 + "0.0\n", "utf-8"
    )
    line = one_line_error(run("activation", "--spec", str(spec)), f"{spec}:3:8: input: ")
    assert "base-60 numbers" in line


# A line of 300 spaces makes the loader use PyYAML's pure-Python reader (LibYAML refuses
# "\ud800" itself, and crashes on absurd nesting, which this reader guards against).
PURE_PYTHON = "#\n" + " " * 300 + "\n"


@pytest.mark.parametrize(
    ("lines", "where"),
    [('title: "a\\ud800b"\n', ":3:8: "), ('"k\\udfff": 1\n', ":3:1: ")],
)
def test_a_lone_surrogate_in_a_file_is_refused(tmp_path: Path, lines: str, where: str) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "kind: activation\nfunction: relu\n" + lines + "input: [1]\n" + PURE_PYTHON, "utf-8"
    )
    for output in ("table", "json", "markdown"):
        line = one_line_error(
            run("activation", "--spec", str(spec), "--format", output), str(spec) + where
        )
        assert "lone surrogate" in line


@pytest.mark.parametrize("option", ["--title", "--input"])
def test_an_option_that_is_not_utf8_is_refused(option: str) -> None:
    args = {"--title": "a\udcffb", "--input": "1\udcff"}
    line = one_line_error(
        run("activation", "--function", "relu", "--input", "1", option, args[option]),
        f"gradcalc activation {option}: ",
    )
    assert "U+DCFF is not text" in line


# ---------------------------------------------------------------------------
# One rule for every integer field: any whole number (2, 2.0, 2e0, "4/2"); 02 refused


@pytest.mark.parametrize(
    ("kind", "lines"),
    [
        ("pool", "mode: max\nsize: {n}\n"),
        ("pool", "mode: max\nsize: 1\nstride: {n}\n"),
        ("conv", "kernel: [[1]]\npadding: {n}\n"),
        ("conv", "kernel: [[1]]\nstride: {n}\n"),
    ],
)
@pytest.mark.parametrize(("text", "value"), [("1e0", 1), ("1.0", 1), ('"1"', 1), ("1e3", 1000)])
def test_every_integer_field_reads_whole_numbers_alike(
    tmp_path: Path, kind: str, lines: str, text: str, value: int
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"kind: {kind}\ninput: [[1, 2], [3, 4]]\n" + lines.format(n=text), encoding="utf-8"
    )
    result = run(kind, "--spec", str(spec), "--format", "json")
    plain = tmp_path / "plain.yaml"
    plain.write_text(
        f"kind: {kind}\ninput: [[1, 2], [3, 4]]\n" + lines.format(n=value), encoding="utf-8"
    )
    expected = run(kind, "--spec", str(plain), "--format", "json")
    assert result.exit_code == expected.exit_code
    assert result.stdout == expected.stdout
    assert result.stderr == expected.stderr.replace(str(plain), str(spec))


@pytest.mark.parametrize(
    ("size", "outcome"),
    [
        ("3.0", "--size 3x3"),
        ("3e0x4", "--size 3x4"),
        ("03", "'03': write 3; a whole number may not start with 0"),
        ("1_0", "'1_0': write 10; underscores"),
        ("3.5", "expected a size, got 7/2"),
        ("1e19", "each size must be from"),
        ("abc", "expected a size such as 3 or 2x3"),
    ],
)
def test_practice_sizes_follow_the_same_rule(size: str, outcome: str) -> None:
    result = run("random", "conv", "--seed", "1", "--size", size)
    assert outcome in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------------------
# Every reader is linear in its input (a ratio measured in this process, not a time)

MiB = 1 << 20
# A multi-line flow list sends a text to PyYAML's path (the plain reader's subset is one line).
TO_PYYAML = "other: [\n 1]\n"


def _base_60(size: int) -> str:  # PyYAML's conversion of this took 167 s for 3 MB
    return "bias: 1" + ":59" * (size // 3) + "\n"


WORST_FILES = {
    "base-60, plain reader": lambda size: _base_60(size),
    "base-60, PyYAML": lambda size: TO_PYYAML + _base_60(size),
    # cli/plain_yaml.py copied the rest of the line per "- ": 8M of them took over 300 s.
    "a line of dashes": lambda size: "input:\n" + "- " * (size // 2) + "1\n",
    "hexadecimal": lambda size: "bias: 0x" + "F" * size + "\n",
    "underscores": lambda size: TO_PYYAML + "bias: 1" + "_1" * (size // 2) + "\n",
}
WORST_OPTIONS = {
    "base-60": lambda size: "1" + ":59" * (size // 3),
    "a long row": lambda size: "1 " * (size // 2),
    "hexadecimal": lambda size: "0x" + "F" * size,
}


def _cpu_seconds(action, repeat: int) -> float:
    import time

    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        action()
        best = min(best, time.process_time() - start)
    return best


def _read_file(text: str) -> None:
    from gradcalc.cli.spec_loader import SpecFileError
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_array

    try:
        data = parse_text(text, "spec.yaml", max_values=10**7).data
        for value in data.values():
            parse_array(value, (), ndims=(0, 1, 2, 3), what="x", max_elements=10**7)
    except (SpecFileError, SpecError):
        pass


def _read_option(text: str) -> None:
    from gradcalc.cli.inline import parse_value
    from gradcalc.cli.spec_loader import SpecFileError
    from gradcalc.core.errors import SpecError
    from gradcalc.core.kinds.field import Field
    from gradcalc.core.values import parse_array

    try:
        value = parse_value(text, Field("input", "tensor", ""), "--input")
        parse_array(value, (), ndims=(0, 1, 2), what="input", max_elements=10**7)
    except (SpecFileError, SpecError):
        pass


# Files up to the 16 MiB cap: 1 MiB against 8 MiB.  A command-line argument is at most
# 128 KiB on Linux (MAX_ARG_STRLEN), and PyYAML's pure-Python reader reads option text
# (about 1 s a MiB): 64 KiB against 512 KiB, the same ratio of 8.
READERS = [(_read_file, make, MiB) for make in WORST_FILES.values()] + [
    (_read_option, make, MiB // 16) for make in WORST_OPTIONS.values()
]


@pytest.mark.parametrize(
    ("reader", "make", "size"),
    READERS,
    ids=[f"file: {name}" for name in WORST_FILES] + [f"option: {name}" for name in WORST_OPTIONS],
)
def test_readers_take_linear_time(reader, make, size: int) -> None:
    """8 times the input may take about 8 times as long (24 allows for noise), not 64."""
    small, large = make(size), make(8 * size)
    reader(small)  # imports and caches out of the measurement
    # The best of a few runs each: the first run of a large text also pays for fresh memory.
    # The large text's second run only when the first is too slow: the best of two passes
    # whenever the first does, and each large run is most of this test's time.
    large_seconds = _cpu_seconds(lambda: reader(large), 1)
    small_seconds = max(_cpu_seconds(lambda: reader(small), 3), 1e-3)
    if large_seconds / small_seconds >= 24:
        large_seconds = min(large_seconds, _cpu_seconds(lambda: reader(large), 1))
    ratio = large_seconds / small_seconds
    assert ratio < 24, f"8× the input took {ratio:.0f}× the time"


# ---------------------------------------------------------------------------
# Whole-file errors have a position too


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the spec is empty"),
        ("# only a comment\n", "the spec is empty"),
        ("input: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
        ("input:\n" + "- " * 5000 + "1\n", "nested too deeply"),
    ],
    ids=["empty", "comments", "deep flow", "deep items"],
)
def test_whole_file_errors_say_line_1_column_1(tmp_path: Path, content: str, message) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(content, encoding="utf-8")
    line = one_line_error(run("conv", "--spec", str(spec)), f"{spec}:1:1: ")
    assert message in line


# ---------------------------------------------------------------------------
# --shard, did-you-mean


@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ("１/2", "is not i/n"),
        ("1_0/2_0", "is not i/n"),
        ("1/2 0", "is not i/n"),
        ("01/2", "without leading zeros"),
        ("1/99999999999999999999", "at most 9 each"),
    ],
)
def test_shard_takes_ascii_digits_only(tmp_path: Path, shard: str, message: str) -> None:
    (tmp_path / "a.yaml").write_text("kind: conv\ninput: [[1]]\nkernel: [[1]]\n", "utf-8")
    result = CliRunner().invoke(main, ["check", "--shard", shard, str(tmp_path)], env=ENV)
    assert result.exit_code == 2
    assert result.output.startswith("gradcalc check: --shard: ") and message in result.output
    assert result.output.count("\n") == 1  # a usage error is one line, like every error
    fine = CliRunner().invoke(main, ["check", "--shard", " 1/2 ", str(tmp_path)], env=ENV)
    assert fine.exit_code == 0, fine.output


@pytest.mark.parametrize(
    ("kind", "lines", "hint"),
    [
        ("conv", 'input: [[1]]\n" kernel": [[1]]\n', "did you mean 'kernel' (without the spaces)?"),
        ("conv", 'input: [[1]]\nkernel: [[1]]\n"strid ": 1\n', "did you mean 'stride'?"),
        ("dense", 'input: [1]\nweight: [[1]]\n" weight ": 1\n', "'weight' (without the spaces)"),
    ],
)
def test_did_you_mean_ignores_surrounding_spaces(tmp_path: Path, kind, lines, hint) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"kind: {kind}\n" + lines, encoding="utf-8")
    line = one_line_error(run(kind, "--spec", str(spec)), f"{spec}:")
    assert hint in line
    assert "tolerance" not in line.split("Allowed")[0]


@pytest.mark.parametrize(
    ("text", "outcome"),
    [("1", 0), ("1.0", 0), ('"1"', 0), ("1e0", 0), ("01", "'01': write 1"), ("2", "0 or 1")],
)
def test_index_base_reads_numbers_as_every_integer_field(tmp_path: Path, text, outcome) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"kind: conv\ninput: [[1, 2]]\nkernel: [[1]]\nindex_base: {text}\n", "utf-8")
    result = run("conv", "--spec", str(spec), "--format", "json")
    if outcome == 0:
        assert result.exit_code == 0, result.stderr
    else:
        assert outcome in one_line_error(result, f"{spec}:4:13: index_base: ")


def test_focus_indices_and_steps_refuse_other_spellings() -> None:
    task3 = str(Path(__file__).resolve().parents[1] / "problems" / "task3.yaml")
    focus = run("conv", "--spec", task3, "--focus", "input[010,1]")
    assert "'010': write 10, or 8 if octal was meant" in focus.stderr
    assert focus.exit_code == 2
    for steps in ("５", "05", "1_0"):
        result = run("conv", "--spec", task3, "--steps", steps)
        assert result.exit_code == 2, steps
        assert result.output.startswith("gradcalc conv: --steps: "), result.output


# ---------------------------------------------------------------------------
# A file and an option agree on any numeric-looking text

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

NUMERIC_TEXT = st.text(alphabet="0123456789._:xbo+-e/", min_size=1, max_size=12)


def _as_numbers(read) -> object:
    from gradcalc.cli.spec_loader import SpecFileError
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_number

    try:
        value = read()
        return [parse_number(v, ("v",)) for v in (value if isinstance(value, list) else [value])]
    except (SpecError, SpecFileError):
        return "refused"


@settings(max_examples=300, deadline=None)
@given(NUMERIC_TEXT)
@example("0:.")  # base-60-looking text that is no number: once a raw ValueError
@example("1::2")
def test_a_file_and_an_option_agree_on_any_number_text(text: str) -> None:
    """One number (a number field) and a row of two (a matrix field, "1 TEXT" inline)."""
    from gradcalc.cli.inline import parse_value
    from gradcalc.core.kinds.field import Field

    for file_text, option_text, field_type in (
        (text, text, "number"),
        (f"[1, {text}]", f"1 {text}", "tensor"),
    ):
        try:
            from_file = parse_text(f"v: {file_text}\n", "spec.yaml").data["v"]
        except Exception:  # not a YAML scalar at all ("-", "a: b"): nothing to compare
            continue
        in_file = _as_numbers(lambda: from_file)  # noqa: B023
        inline = _as_numbers(lambda: parse_value(option_text, Field("v", field_type, ""), "--v"))  # noqa: B023
        assert in_file == inline, (file_text, from_file)


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("1e3", 0),
        ("1000.0", 0),
        ("010", "'010': write 10, or 8 if octal was meant"),
        ("１", "use ASCII digits 0-9"),
        ("1_000", "'1_000': write 1000; underscores"),
        ("2.5", "expected a whole number, got 5/2"),
    ],
)
def test_integer_options_read_numbers_as_integer_fields(text: str, outcome) -> None:
    task3 = str(Path(__file__).resolve().parents[1] / "problems" / "task3.yaml")
    result = run("conv", "--spec", task3, "--max-jacobian", text, "--format", "json")
    if outcome == 0:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2
        assert result.output.startswith("gradcalc conv: --max-jacobian: "), result.output
        assert outcome in result.output


@pytest.mark.parametrize("text", ["0:.", "1::2", "0:.:.", "1:2:.", "_:_", "0:1.", "1:.5"])
def test_malformed_base_60_text_is_one_refusal(text: str) -> None:
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_number

    with pytest.raises(SpecError) as raised:
        parse_number(text, ("v",))
    assert "\n" not in raised.value.message
    result = run(*POOL_INLINE[:-1], text)
    assert one_line_error(result, "gradcalc pool --size: ")


# ---------------------------------------------------------------------------
# A pair written as text (HxW) reads its two numbers as every number is read

CONV_INLINE = ("conv", "--input", "1 2 3; 4 5 6; 7 8 9", "--kernel", "1 0; 0 1")


@pytest.mark.parametrize(
    ("option", "text", "message"),
    [
        ("--stride", "1x010", "'1x010': write 1x10, or 1x8 if octal was meant"),
        ("--stride", "010x1", "'010x1': write 10x1, or 8x1 if octal was meant"),
        ("--padding", "0x010", "'0x010': write 0x10, or 0x8 if octal was meant"),
        ("--dilation", "1x02", "'1x02': write 1x2; leading zeros are not read"),
        ("--stride", "1x" + "1" * 5000, "too long"),
    ],
)
def test_inline_pairs_refuse_leading_zeros_with_the_fix(option: str, text: str, message: str):
    line = one_line_error(run(*CONV_INLINE, option, text), f"gradcalc conv {option}: ")
    assert message in line


def test_a_pool_size_pair_refuses_leading_zeros() -> None:
    result = run("pool", "--mode", "max", "--input", "1 2; 3 4", "--size", "1x02")
    assert "'1x02': write 1x2;" in one_line_error(result, "gradcalc pool --size: ")


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        ("stride", "2x01", "stride: '2x01': write [2, 1]; leading zeros"),
        ("stride", "2x010", "stride: '2x010': write [2, 10], or [2, 8] if octal was meant"),
        ("dilation", "2x1", "dilation '2x1': write [2, 1] here"),
    ],
)
def test_a_spec_pair_text_suggests_a_pair_that_reads(tmp_path, key: str, text: str, message: str):
    spec = tmp_path / "p.yaml"
    spec.write_text(f'kind: conv\ninput: [[1, 2], [3, 4]]\nkernel: [[1]]\n{key}: "{text}"\n')
    assert message in one_line_error(run("conv", "--spec", str(spec)), f"{spec}:4:")


def test_inline_pairs_still_read_decimal_pairs() -> None:
    plain = run(*CONV_INLINE, "--stride", "[2, 1]", "--format", "json")
    assert plain.exit_code == 0, plain.output
    for text in ("2x1", "2×1", " 2 x 1 "):
        assert run(*CONV_INLINE, "--stride", text, "--format", "json").stdout == plain.stdout


@pytest.mark.parametrize(
    ("seed", "outcome"),
    [
        ("010", "--seed: '010': write 10, or 8 if octal was meant"),
        ("0x10", "--seed: '0x10': write 16; hexadecimal"),
        ("1_0", "--seed: '1_0': write 10; underscores"),
        ("１", "use ASCII digits 0-9"),
        ("-1", "expected a whole number from 0 to 999999999999999999"),
        ("10", "--seed 10 "),
        ("1e1", "--seed 10 "),
    ],
)
def test_a_seed_is_read_as_every_number_is(seed: str, outcome: str) -> None:
    result = run("random", "conv", "--seed", seed)
    if outcome.startswith("--seed "):
        assert result.exit_code == 0, result.output
        assert outcome in result.stdout.splitlines()[0]
    else:
        assert outcome in one_line_error(result, "gradcalc random conv: --seed: ")


@pytest.mark.parametrize(
    ("steps", "outcome"),
    [
        ("0x10", "--steps: '0x10': write 16; hexadecimal"),
        ("010", "--steps: '010': write 10, or 8"),
        ("1e1", 0),
        ("abc", "'abc' is not a number of rows or 'all'"),
    ],
)
def test_steps_reads_numbers_as_integer_fields(steps: str, outcome) -> None:
    task3 = str(Path(__file__).resolve().parents[1] / "problems" / "task3.yaml")
    result = run("conv", "--spec", task3, "--steps", steps)
    if outcome == 0:
        assert result.exit_code == 0, result.output
        ten = run("conv", "--spec", task3, "--steps", "10")
        assert result.stdout == ten.stdout
    else:
        assert outcome in one_line_error(result, "gradcalc conv: --steps: ")


def test_precision_reads_1e1_as_10_as_integer_fields_do() -> None:
    task3 = str(Path(__file__).resolve().parents[1] / "problems" / "task3.yaml")
    given = run("conv", "--spec", task3, "--decimal", "--precision", "1e1")
    assert given.exit_code == 0, given.output
    assert given.stdout == run("conv", "--spec", task3, "--decimal", "--precision", "10").stdout


def test_numpy_floats_read_as_the_floats_they_hold() -> None:
    """NumPy's float64 is a Python float whose repr (NumPy 2) is ``np.float64(…)``: a Python
    caller's NumPy scalars read as their shortest decimal, as plain floats do."""
    from fractions import Fraction

    import numpy as np

    from gradcalc.core.values import parse_number

    for value, exact in (
        (np.float64(0.1), Fraction(1, 10)),
        (np.float64(-2.5e-7), Fraction(-25, 10**8)),
        (np.float32(0.5), Fraction(1, 2)),
    ):
        assert parse_number(value, "input") == exact
