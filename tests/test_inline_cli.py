"""Spec fields as options (`--input "2 -1; 0 -1"`), `--spec -`, `gradcalc run` and `gradcalc examples`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.inline import inline_fields, option_name, parse_matrix, parse_value
from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import SpecFileError, load_file
from gradcalc.core import registry
from gradcalc.core.kinds.field import Field
from gradcalc.problems import bundled

REPO = Path(__file__).resolve().parents[1]
TASK3 = REPO / "problems" / "task3.yaml"
ENV = {"COLUMNS": "100", "NO_COLOR": None, "FORCE_COLOR": None}
TASK3_INLINE = (
    "--input",
    "2 -1; 0 -1; 1 1; -1 2",
    "--kernel",
    "1 0; -1 -2",
    "--upstream",
    "0; 1; 2",
)
TENSOR = Field("input", "tensor", "")


def run(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, input=input, catch_exceptions=False)


def results(result: Result) -> dict[str, Any]:
    assert result.exit_code in (0, 1), result.stderr
    return json.loads(result.stdout)["results"]


def assert_one_line_error(result: Result, *needles: str) -> str:
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


# ---------------------------------------------------------------------------
# Reading one value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2 -1; 0 -1", [[2, -1], [0, -1]]),
        ("2,-1;0,-1", [[2, -1], [0, -1]]),
        ("  2 , -1 ;  0   -1  ", [[2, -1], [0, -1]]),
        ("0; 1; 2", [[0], [1], [2]]),
        ("1 2 3", [1, 2, 3]),
        ("1 2 3;", [[1, 2, 3]]),
        ("1/4 0.5 -1e-2", [Fraction(1, 4), Fraction(1, 2), Fraction(-1, 100)]),
        ("[[1, 2], [3, 4]]", [[1, 2], [3, 4]]),
        ("[[[1, 0.5]]]", [[[1, Fraction(1, 2)]]]),
        ("7", 7),
        ("3/4", Fraction(3, 4)),
        ("ones", "ones"),
    ],
)
def test_matrix_text(text: str, value: Any) -> None:
    assert parse_value(text, TENSOR, "--input") == value


def test_scalar_and_text_fields() -> None:
    assert parse_value("true", Field("flip_kernel", "boolean", ""), "o") is True
    assert parse_value("2 1", Field("stride", "ints", ""), "o") == [2, 1]
    assert parse_value("[2, 1]", Field("stride", "ints", ""), "o") == [2, 1]
    padding = next(f for f in inline_fields(registry.OPS["conv"]) if f.name == "padding")
    assert parse_value("same", padding, "o") == "same"  # a word among the field's choices
    assert parse_value("null", Field("d", "integer|null", ""), "o") is None
    assert parse_value("{input: X, output: H}", Field("names", "mapping", ""), "o") == {
        "input": "X",
        "output": "H",
    }
    assert parse_value("{atol: 0.01}", Field("t", "number|mapping", ""), "o") == {
        "atol": Fraction(1, 100)
    }
    # Text fields keep the text as typed, including characters YAML would read otherwise.
    assert parse_value("A: 4×2, #3", Field("title", "text", ""), "o") == "A: 4×2, #3"
    assert parse_value("x**2*y", Field("function", "texts", ""), "o") == "x**2*y"
    assert parse_value("[x, y]", Field("variables", "texts", ""), "o") == ["x", "y"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1 2; 3", "row 2 has 1 entry but row 1 has 2; every row must have the same length"),
        ("1 2; 3 4 5", "row 2 has 3 entries but row 1 has 2"),
        ("1 x; 3 4", "row 1, entry 2: 'x' is not a number"),
        ("1 2 nan", "entry 3: 'nan' is not allowed: entries must be finite numbers"),
        ("1e300 1", "entry 1: numbers larger than 1e100 in magnitude are not supported"),
        ("1 2;; 3 4", "row 2 is empty"),
        ("[[1, 2], [3", "cannot read the value"),
        # An empty entry is refused, never dropped (it would shift the rest).
        ("1,,-2", "entry 2 is empty (nothing between two commas"),
        ("1, ,-2", "entry 2 is empty (nothing between two commas"),
        ("2,,-1; 0 -1; 1 1; -1 2", "row 1, entry 2 is empty"),
        ("1 2; 3,,4", "row 2, entry 2 is empty"),
        ("1, 2, 3,", "entry 4 is empty (a comma ends the list; remove it)"),
        ("1 2,; 3 4", "row 1, entry 3 is empty (a comma ends the row; remove it)"),
        (", 1, 2", "entry 1 is empty (the list starts with a comma; remove it)"),
        ("1,", "entry 2 is empty"),
    ],
)
def test_matrix_text_errors(text: str, message: str) -> None:
    with pytest.raises(SpecFileError) as caught:
        parse_value(text, TENSOR, "gradcalc conv --input")
    assert str(caught.value).startswith("gradcalc conv --input: ")
    assert message in str(caught.value)


def test_parse_matrix_keeps_integers_as_ints() -> None:
    matrix = parse_matrix("1 2; 3 4/2", "o")
    assert matrix == [[1, 2], [3, 2]]
    assert all(type(v) is int for row in matrix for v in row)


# ---------------------------------------------------------------------------
# The command line


def test_issue_example_matches_task3() -> None:
    inline = results(run("conv", *TASK3_INLINE, "--format", "json"))
    from_file = results(run("conv", "--spec", str(TASK3), "--format", "json"))
    assert inline["output"] == [[4], [-3], [-2]]
    assert inline["grad_kernel"] == [[2, 1], [-1, 5]]
    assert inline == from_file


def test_inline_table_output() -> None:
    result = run("conv", *TASK3_INLINE, "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "= 2·1 + (−1)·0 + 0·(−1) + (−1)·(−2) = 4" in result.stdout
    assert "OK — computed" in result.stdout


def test_options_override_the_spec_file() -> None:
    # task3's expected grad_kernel holds for its upstream 0, 1, 2, not for ones.
    result = run("conv", "--spec", str(TASK3), "--upstream", "1; 1; 1", "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["title"].startswith("Task 3 (a)")  # the file's other fields still apply
    assert document["results"]["grad_kernel"] == [[3, -1], [0, 2]]
    assert [c["name"] for c in document["checks"] if not c["ok"]] == ["grad_kernel"]
    # Overriding expected too makes it pass again.
    result = run(
        "conv",
        "--spec",
        str(TASK3),
        "--upstream",
        "1; 1; 1",
        "--expected",
        "{grad_kernel: [[3, -1], [0, 2]]}",
        "--title",
        "ones instead",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.stdout
    assert json.loads(result.stdout)["title"] == "ones instead"


def test_spec_from_standard_input() -> None:
    text = TASK3.read_text(encoding="utf-8")
    result = run("conv", "--spec", "-", "--format", "json", input=text)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"]["grad_kernel"] == [[2, 1], [-1, 5]]
    # Standard input with an option laid over it; errors name <stdin>.
    options = ("--stride", "2", "--upstream", "ones", "--expected", "{}")
    result = run("conv", "--spec", "-", *options, "--format", "json", input=text)
    assert results(result)["output"] == [[4], [-2]]
    bad = text.replace("stride: 1", "stride: x")
    line = _line_of(text, "stride: 1")
    assert_one_line_error(run("conv", "--spec", "-", input=bad), f"<stdin>:{line}:9: stride")


def _line_of(text: str, start: str) -> int:
    """The 1-based number of the first line that starts with ``start``."""
    return 1 + next(i for i, line in enumerate(text.splitlines()) if line.startswith(start))


def test_spec_from_standard_input_in_a_subprocess() -> None:
    """A real pipe, through the installed console script's module."""
    completed = subprocess.run(
        [sys.executable, "-m", "gradcalc.cli", "conv", "--spec", "-", "--format", "json"],
        input=TASK3.read_text(encoding="utf-8"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout)["ok"] is True


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--input", "2 -1; 0 -1 4", "--kernel", "1"), ("gradcalc conv --input: row 2 has 3",)),
        (("--input", "2 -1; 0 q", "--kernel", "1"), ("gradcalc conv --input: row 2, entry 2",)),
        (("--input", "1 2; 3 4", "--kernel", "1;;"), ("gradcalc conv --kernel: row 2 is empty",)),
        (("--input", "[[1, 2]", "--kernel", "1"), ("gradcalc conv --input: cannot read",)),
        # Errors the core finds in an inline value name the option too.
        (
            (*TASK3_INLINE[:4], "--upstream", "0; 1"),
            ("gradcalc conv --upstream: upstream: upstream is 2×1 but the output",),
        ),
        (("--input", "1 2; 3 4", "--kernel", "1;", "--stride", "0"), ("gradcalc conv --stride",)),
        (("--input", "1 2; 3 4"), ("missing required key 'kernel'",)),
        ((), ("gradcalc conv: give a spec file (--spec FILE",)),
    ],
)
def test_inline_errors_are_one_line(args: tuple[str, ...], needles: tuple[str, ...]) -> None:
    assert_one_line_error(run("conv", *args), *needles)


def test_file_errors_keep_their_position_under_options(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    text = TASK3.read_text(encoding="utf-8")
    spec.write_text(text.replace("stride: 1", "stride: -1"))
    line = assert_one_line_error(run("conv", "--spec", str(spec), "--upstream", "0; 1; 2"))
    assert line.startswith(f"{spec}:{_line_of(text, 'stride: 1')}:9: stride: ")


def test_every_kind_has_an_option_per_field() -> None:
    for kind, entry in registry.OPS.items():
        result = run(kind, "--help")
        assert result.exit_code == 0
        for spec_field in inline_fields(entry):
            assert f"{option_name(spec_field.name)} " in result.stdout, (kind, spec_field.name)


def test_registry_fields_match_the_modules() -> None:
    """The registry's field list (options, schema, starters) is each module's KEYS, in order."""
    for kind, entry in registry.OPS.items():
        module = registry.op_module(kind)
        keys = getattr(module, f"{kind.upper()}_KEYS", None) or module.KEYS
        assert tuple(f.name for f in entry.fields) == tuple(keys), kind
    from gradcalc.core.kinds import activation, dense, pool, softmax
    from gradcalc.core.kinds import loss as losses
    from gradcalc.core.spec import COMMON_KEYS

    for kind, entry in registry.OPS.items():
        common = {f.name for f in entry.spec_fields()} - {f.name for f in entry.fields}
        assert common <= set(COMMON_KEYS), kind

    def choices(kind: str, name: str) -> tuple:
        return next(f.choices for f in registry.OPS[kind].fields if f.name == name)

    assert choices("pool", "mode") == pool.MODES
    assert choices("pool", "ties") == pool.TIE_POLICIES
    assert choices("dense", "layout") == dense.LAYOUTS
    assert choices("activation", "function") == tuple(activation.ACTIVATIONS)
    assert choices("softmax", "function") == softmax.FUNCTIONS
    assert choices("loss", "loss") == losses.LOSSES
    assert choices("loss", "reduction") == losses.REDUCTIONS


def _as_option_text(value: Any) -> str:
    """A spec value as one would type it after an option (JSON, fractions as "1/4")."""

    def plain(item: Any) -> Any:
        if isinstance(item, Fraction):
            return item.numerator if item.denominator == 1 else str(item)
        if isinstance(item, dict):
            return {str(k): plain(v) for k, v in item.items()}
        if isinstance(item, list):
            return [plain(v) for v in item]
        return item

    if isinstance(value, str):
        return value
    return json.dumps(plain(value), ensure_ascii=False)


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.stem)
def test_every_bundled_problem_inline_and_through_run(path: Path) -> None:
    """All of a problem's fields as options give the same JSON as the file, and so does `run`."""
    data = load_file(str(path)).data
    kind = data["kind"]
    from_file = run(kind, "--spec", str(path), "--format", "json")
    assert from_file.exit_code == 0, from_file.stderr
    args = [kind, "--format", "json"]
    for key, value in data.items():
        if key != "kind":
            args += [option_name(key), _as_option_text(value)]
    inline = run(*args)
    assert inline.exit_code == 0, inline.stderr
    assert json.loads(inline.stdout) == json.loads(from_file.stdout)
    dispatched = run("run", str(path), "--format", "json")
    assert dispatched.exit_code == 0, dispatched.stderr
    assert json.loads(dispatched.stdout) == json.loads(from_file.stdout)


# ---------------------------------------------------------------------------
# gradcalc run, gradcalc examples


def test_run_several_specs_exits_with_the_worst_status(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(TASK3.read_text(encoding="utf-8").replace("[-1, 5]]", "[-1, 7]]"))
    pool = REPO / "problems" / "seed002_max_pool.yaml"
    result = run("run", str(TASK3), str(pool), "--show", "checks", "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "gradcalc conv — Task 3" in result.stdout and "gradcalc pool — Seed 002" in result.stdout
    result = run("run", str(TASK3), str(wrong), str(pool), "--show", "checks", "--no-color")
    assert result.exit_code == 1
    assert result.stdout.count("OK — every check passed") == 2
    assert "MISMATCH" in result.stdout
    result = run("run", str(TASK3), str(tmp_path / "missing.yaml"), str(wrong), "--show", "checks")
    assert result.exit_code == 2
    assert "missing.yaml: no such file" in result.stderr


def test_run_needs_a_kind_and_reads_stdin() -> None:
    line = assert_one_line_error(run("run", "-", input="input: [[1]]\n"))
    assert line.startswith("<stdin>:1:1: missing key 'kind'")
    result = run("run", "-", "--format", "json", input=TASK3.read_text(encoding="utf-8"))
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["kind"] == "conv"
    result = run("run", "-", input="kind: convolution\ninput: [[1]]\n")
    assert_one_line_error(result, "<stdin>:1:7: kind: unknown kind 'convolution'")


def test_examples_lists_and_runs_bundled_problems() -> None:
    listing = run("examples")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    task3 = next(line for line in lines if line.startswith("task3 "))
    assert "conv" in task3 and "Task 3 (a): 4×2 input" in task3
    assert len([line for line in lines if line.strip()]) == len(bundled()) + 1
    rows = json.loads(run("examples", "--format", "json").stdout)
    assert {row["name"] for row in rows} == {p.stem for p in bundled()}
    solved = run("examples", "task3", "--format", "json")
    assert solved.exit_code == 0 and json.loads(solved.stdout)["ok"] is True
    assert run("examples", "seed002_max", "--format", "json").exit_code == 0  # a unique prefix
    assert_one_line_error(run("examples", "tsk3"), "did you mean 'task3'?")
    assert_one_line_error(run("examples", "seed00"), "could be seed000_ex1_polar_identity")


def test_start_up_imports_no_op_module_or_new_renderer() -> None:
    code = (
        "import sys, gradcalc.cli.main; "
        "print(sorted(m for m in sys.modules if m.startswith('gradcalc.core.') "
        "and m.rsplit('.', 1)[1] in ('conv', 'pool', 'dense', 'activations', 'losses', 'expr')"
        " or m in ('yaml', 'gradcalc.cli.render_markdown', 'gradcalc.cli.render_latex',"
        " 'gradcalc.cli.authoring')))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == "[]"


# ---------------------------------------------------------------------------
# Line breaks separate rows, like ';'


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1 2 3\n4 5 6", [[1, 2, 3], [4, 5, 6]]),
        ("1 2 3\r\n4 5 6\r\n", [[1, 2, 3], [4, 5, 6]]),
        ("1 2\r3 4", [[1, 2], [3, 4]]),
        ("\n\n  1 2\n  3 4\n\n", [[1, 2], [3, 4]]),  # blank lines at the ends
        ("1 2;\n3 4;\n", [[1, 2], [3, 4]]),  # ';' ending a line is one separator with it
        ("1 2\n; 3 4", [[1, 2], [3, 4]]),
        ("1\n2", [[1], [2]]),
        ("1 2 3\n", [1, 2, 3]),  # a trailing line break alone does not make a matrix
        ("1 2\u20283 4", [[1, 2], [3, 4]]),  # U+2028 LINE SEPARATOR
    ],
)
def test_line_breaks_split_rows(text: str, value: Any) -> None:
    assert parse_value(text, TENSOR, "--input") == value


@pytest.mark.parametrize("text", ["1 2\n\n3 4", "1 2\n  \n3 4", "1 2\r\n\r\n3 4", "1 2;\n;3 4"])
def test_an_empty_line_inside_a_matrix_is_an_error(text: str) -> None:
    with pytest.raises(SpecFileError, match="row 2 is empty"):
        parse_value(text, TENSOR, "gradcalc conv --input")


def test_line_breaks_on_the_command_line() -> None:
    softmax = results(run("softmax", "--input", "1 2 3\n4 5 6", "--format", "json"))
    batch = results(run("softmax", "--input", "1 2 3; 4 5 6", "--format", "json"))
    assert softmax == batch
    assert len(softmax["output"]) == 2 and len(softmax["output"][0]) == 3
    for breaks in ("\n", "\r\n"):
        inline = TASK3_INLINE[1].replace("; ", breaks) + breaks
        result = run("conv", "--input", inline, *TASK3_INLINE[2:], "--format", "json")
        assert results(result) == results(run("conv", *TASK3_INLINE, "--format", "json"))
    assert_one_line_error(
        run("conv", "--input", "1 2\n\n3 4", "--kernel", "1"), "--input: row 2 is empty"
    )


# ---------------------------------------------------------------------------
# Empty entries between commas are refused, not dropped


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1, 2, 3", [1, 2, 3]),
        ("1 ,2 , 3", [1, 2, 3]),
        ("1 2, 3", [1, 2, 3]),
        ("1,2; 3,4", [[1, 2], [3, 4]]),
        ("1,\t2", [1, 2]),
    ],
)
def test_spaces_around_commas_are_fine(text: str, value: Any) -> None:
    assert parse_value(text, TENSOR, "--input") == value


def test_empty_entries_on_the_command_line() -> None:
    for text in ("1,,-2", "1, ,-2"):
        result = run("activation", "--function", "relu", "--input", text)
        assert_one_line_error(result, "gradcalc activation --input: entry 2 is empty")
    result = run("conv", "--input", "2,,-1; 0 -1; 1 1; -1 2", *TASK3_INLINE[2:])
    assert_one_line_error(result, "--input: row 1, entry 2 is empty")
    assert_one_line_error(run("conv", *TASK3_INLINE, "--stride", "2,"), "--stride: entry 2")


# ---------------------------------------------------------------------------
# The minus sign U+2212 that gradcalc prints reads back in; Unicode digits do not


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("−1", Fraction(-1)),
        (" −0.5 ", Fraction(-1, 2)),
        ("−1/2", Fraction(-1, 2)),
        ("1/−2", Fraction(-1, 2)),
        ("1e−3", Fraction(1, 1000)),
        ("−2.5E−1", Fraction(-1, 4)),
    ],
)
def test_parse_number_takes_the_minus_sign(text: str, value: Fraction) -> None:
    from gradcalc.core.values import parse_int, parse_number

    assert parse_number(text, ()) == value
    assert parse_number(text.replace("−", "-"), ()) == value
    assert parse_int("−3", ()) == -3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("１", "'１' has the digit '１' (U+FF11); use ASCII digits 0-9"),
        ("−１", "use ASCII digits 0-9"),
        ("1٣", "(U+0663); use ASCII digits 0-9"),
        ("2²", "use ASCII digits 0-9"),
        ("−inf", "not allowed: entries must be finite numbers"),
        ("−−1", "expected a number"),
        ("–1", "has the dash"),  # an en dash is not a minus sign: named
    ],
)
def test_parse_number_refuses_unicode_digits(text: str, message: str) -> None:
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_int, parse_number

    with pytest.raises(SpecError, match=re.escape(message)):
        parse_number(text, ("input", 0))
    with pytest.raises(SpecError):
        parse_int(text, ("stride",), what="stride")


def test_the_minus_sign_inline_and_in_spec_files(tmp_path: Path) -> None:
    expected = results(run("conv", *TASK3_INLINE, "--format", "json"))
    minus = [t if t.startswith("--") else t.replace("-", "−") for t in TASK3_INLINE]
    assert results(run("conv", *minus, "--format", "json")) == expected
    spec = TASK3.read_text(encoding="utf-8")
    assert "-1" in spec
    for name, text in (("plain", spec.replace("-1", "−1")), ("quoted", spec.replace("-1", '"−1"'))):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        result = run("conv", "--spec", str(path), "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert results(result) == expected
    assert results(run("conv", *TASK3_INLINE, "--padding", "−0", "--format", "json")) == expected
    assert_one_line_error(
        run("conv", *TASK3_INLINE, "--padding", "−1"), "padding must be at least 0, got -1"
    )
    assert_one_line_error(
        run("activation", "--function", "relu", "--input", "１ 2"),
        "--input: entry 1: '１' has the digit '１' (U+FF11); use ASCII digits 0-9",
    )
    assert_one_line_error(run("conv", *TASK3_INLINE, "--stride", "２"), "use ASCII digits 0-9")


def test_pasting_a_printed_table_back_reads_the_same_numbers() -> None:
    """The Results table prints negatives with U+2212; its rows paste back as input."""
    shown = run("conv", *TASK3_INLINE, "--show", "results", "--no-color").stdout
    assert "−" in shown
    block = shown.split("grad_input", 1)[1].split("grad_kernel", 1)[0]
    rows = [line.split()[1:] for line in block.strip().splitlines()[1:]]
    assert "−" in " ".join(" ".join(row) for row in rows)
    pasted = parse_value("; ".join(" ".join(row) for row in rows), TENSOR, "--input")
    assert pasted == results(run("conv", *TASK3_INLINE, "--format", "json"))["grad_input"]


# ---------------------------------------------------------------------------
# Pair-valued fields take "2x1" inline, as `gradcalc random` does


@pytest.mark.parametrize("text", ["2x1", "2×1", "2X1", "2 x 1", " 2*1 ", "2 1", "[2, 1]"])
def test_pair_text_for_pair_fields(text: str) -> None:
    assert parse_value(text, Field("stride", "ints", ""), "o") == [2, 1]


def test_pair_text_is_only_for_pair_fields() -> None:
    with pytest.raises(SpecFileError, match="is not a number"):
        parse_value("2x1 3", TENSOR, "o")
    assert parse_value("2x1", Field("title", "text", ""), "o") == "2x1"


def test_pair_options_on_the_command_line() -> None:
    base = ("conv", "--input", "1 2 3; 4 5 6; 7 8 9", "--kernel", "[[1]]", "--format", "json")
    assert results(run(*base, "--stride", "2x1"))["output"] == [[1, 2, 3], [7, 8, 9]]
    for text in ("2×1", "2 x 1", "[2, 1]", "2 1"):
        assert results(run(*base, "--stride", text)) == results(run(*base, "--stride", "2x1"))
    assert results(run(*base, "--padding", "0x1"))["output_shape"] == [3, 5]
    assert results(run(*base, "--dilation", "1x2"))["output_shape"] == [3, 3]
    pool = ("pool", "--mode", "max", "--input", "1 2 3; 4 5 6", "--format", "json")
    assert results(run(*pool, "--size", "1x3"))["output"] == [[3], [6]]
    assert results(run(*pool, "--size", "2×1", "--stride", "1x1"))["output"] == [[4, 5, 6]]
    assert results(run(*pool, "--size", "global"))["output"] == [[6]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("conv", *TASK3_INLINE, "--stride", "2x1x1"),
            'gradcalc conv --stride: expected a whole number or two as HxW (2x1), "2 1" or '
            "[2, 1], got '2x1x1' (stride: int or [sh, sw])",
        ),
        (("conv", *TASK3_INLINE, "--stride", "abc"), "two as HxW (2x1)"),
        (("conv", *TASK3_INLINE, "--padding", "-1x2"), "two as HxW (2x1)"),
        (("conv", *TASK3_INLINE, "--padding", "wide"), "valid or same)"),
        (("conv", *TASK3_INLINE, "--stride", "2.5"), "allowed: a whole number or [rows, cols]"),
        (("conv", *TASK3_INLINE, "--stride", "0x1"), "stride (rows) must be at least 1, got 0"),
        (("conv", *TASK3_INLINE, "--stride", "same"), "two as HxW (2x1)"),
        (("pool", "--mode", "max", "--input", "1 2", "--size", "big"), "or global)"),
    ],
)
def test_pair_option_errors_say_what_is_allowed(args: tuple[str, ...], message: str) -> None:
    assert_one_line_error(run(*args), message)


def test_pair_options_help_mentions_hxw() -> None:
    text = " ".join(run("conv", "--help").stdout.split())  # the help wraps lines
    assert "Spec field stride: int or [sh, sw]; here also HxW, e.g. 2x1." in text


@pytest.mark.parametrize("dash", ["–", "—", "－"])
def test_a_dash_that_is_not_a_minus_sign_is_named(dash: str) -> None:
    result = CliRunner().invoke(main, ["conv", "--input", f"1 {dash}2; 3 4", "--kernel", "1;"])
    assert result.exit_code == 2
    assert f"has the dash {dash!r}" in result.output and "write a minus sign as -" in result.output


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["random", "conv", "--seed", "７"], "--seed"),
        (["random", "conv", "--seed", "1", "--size", "４x4"], "--size"),
        (["conv", "--spec", "problems/task3.yaml", "--focus", "output[１,0]"], "whole numbers"),
        (["expr", "--function", "x**２", "--variables", "[x]"], "'２' is not allowed"),
    ],
)
def test_non_ascii_digits_are_refused_everywhere(args: list[str], needle: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert needle in result.output


# ---------------------------------------------------------------------------
# Symbols in options (docs/symbolic.md)


def test_a_symbolic_field_as_an_option_gives_the_same_results_as_the_spec_file(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "kind: conv\ninput: symbolic 3x3\nkernel: [[b11, b12], [0, b22/2]]\n"
        "symbols: [b11, b12, b22]\nflat_index: true\n"
    )
    from_file = results(run("conv", "--spec", str(spec), "--format", "json"))
    inline = run(
        "conv",
        *("--input", "symbolic 3x3", "--kernel", "b11 b12; 0 b22/2"),
        *("--symbols", "b11 b12 b22", "--flat-index", "true", "--format", "json"),
    )
    assert results(inline) == from_file
    assert from_file["grad_input"][0][0] == "b11"


def test_option_names_need_declared_symbols_and_a_typo_keeps_its_message():
    typo = run("conv", "--input", "1 2; 3 O", "--kernel", "1;")
    assert_one_line_error(typo, "--input", "row 2, entry 2: 'O' is not a number")
    undeclared = run("conv", "--input", "1 2; 3 c", "--kernel", "1;", "--symbols", "b")
    assert_one_line_error(undeclared, "--input", "unknown name 'c'")
    bad_shape = run("conv", "--input", "symbolic 3x", "--kernel", "1;")
    assert_one_line_error(bad_shape, "--input", "'symbolic 3x' is not a symbolic shape")


def test_symbol_options_appear_only_for_kinds_that_take_symbols():
    assert "--symbols" in run("dense", "--help").stdout
    assert "'symbolic 3x3', or names given to --symbols" in run("conv", "--help").stdout
    assert "--symbols" not in run("softmax", "--help").stdout
