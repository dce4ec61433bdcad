"""The `gradcalc conv` command line: the task3 walk-through, the JSON contract, exit codes, options."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
TASK3 = REPO / "problems" / "task3.yaml"

TASK3_TEXT = """\
kind: conv
title: "Task 3 (a)"
input: [[2, -1], [0, -1], [1, 1], [-1, 2]]
kernel: [[1, 0], [-1, -2]]
stride: 1
padding: 0
flip_kernel: false
upstream: [[0], [1], [2]]
names: {input: X, kernel: K, output: H, loss: L}
index_base: 0
expected:
  output: [[4], [-3], [-2]]
  grad_kernel: [[2, 1], [-1, GRAD_K11]]
"""

FRACTION_TEXT = """\
input: [["1/4", "1/2"], [1, "3/4"]]
kernel: [["1/2", "1/3"]]
upstream: [[1], [2]]
expected:
  output: [["7/24"], ["3/4"]]
"""

# An SGR sequence that sets a colour (foreground/background, 8/16/256/true colour).
COLOR_CODE = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
ANY_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


# A fixed, wide-enough console and no colour forcing, whatever the developer's shell has set.
BASE_ENV: dict[str, str | None] = {
    "COLUMNS": "100",
    "LINES": "50",
    "FORCE_COLOR": None,
    "NO_COLOR": None,
}


def run(*args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
    """Invoke the CLI in-process; stdout and stderr are captured separately."""
    return CliRunner().invoke(
        main, list(args), env={**BASE_ENV, **(env or {})}, input=input, catch_exceptions=False
    )


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def task3_copy(tmp_path: Path) -> Path:
    return write(tmp_path, TASK3_TEXT.replace("GRAD_K11", "5"), "task3.yaml")


@pytest.fixture
def task3_wrong(tmp_path: Path) -> Path:
    return write(tmp_path, TASK3_TEXT.replace("GRAD_K11", "7"), "task3_wrong.yaml")


# ---------------------------------------------------------------------------
# The task3 walk-through


def test_task3_table_shows_the_worked_steps() -> None:
    result = run("conv", "--spec", str(TASK3), "--no-color")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    # Output size with the numbers substituted.
    assert "⌊(4 + 0 + 0 − 1·(2 − 1) − 1)/1⌋ + 1 = 3" in out
    # Forward: symbolic sum, then numbers, then value.
    assert "H_00 = X_00·K_00 + X_01·K_01 + X_10·K_10 + X_11·K_11" in out
    assert "= 2·1 + (−1)·0 + 0·(−1) + (−1)·(−2) = 4" in out
    assert "= 0·1 + (−1)·0 + 1·(−1) + 1·(−2) = −3" in out
    assert "= 1·1 + 1·0 + (−1)·(−1) + 2·(−2) = −2" in out
    # Backward: each kernel gradient as its sum of contributions.
    assert "∂L/∂K_00" in out
    assert "0·2 + 1·0 + 2·1 = 2" in out
    assert "0·(−1) + 1·1 + 2·2 = 5" in out
    # Jacobian tables label rows and columns with symbols.
    assert "K_00" in out and "H_20" in out
    assert "✓" in out
    assert result.stderr == ""


def test_task3_bundled_problem_is_package_data() -> None:
    """The problems ship with the package, so the installed copy runs too."""
    from importlib.resources import files

    bundled = files("gradcalc.problems") / "task3.yaml"
    assert bundled.is_file()
    result = run("conv", "--spec", str(bundled), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["ok"] is True


def test_task3_json_contract() -> None:
    result = run("conv", "--spec", str(TASK3), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    document = json.loads(result.stdout)  # the whole of stdout is one JSON document
    for key in ("kind", "title", "results", "checks", "ok"):
        assert key in document, f"missing {key!r}"
    assert document["kind"] == "conv"
    assert isinstance(document["title"], str)
    results = document["results"]
    assert results["output"] == [[4], [-3], [-2]]
    assert results["grad_kernel"] == [[2, 1], [-1, 5]]
    assert results["grad_input"] == [[0, 0], [1, 0], [1, -2], [-2, -4]]
    assert results["output_shape"] == [3, 1]
    assert results["jacobian_kernel"] == [[2, -1, 0, -1], [0, -1, 1, 1], [1, 1, -1, 2]]
    # Exact integers are JSON integers (4, not 4.0).
    assert all(type(v) is int for row in results["output"] for v in row)
    assert document["ok"] is True
    assert {"output", "grad_kernel"} <= {check["name"] for check in document["checks"]}
    assert all(check["ok"] is True for check in document["checks"])


def test_json_ignores_table_options() -> None:
    """--steps/--decimal/--no-color never leak into the JSON."""
    plain = json.loads(run("conv", "--spec", str(TASK3), "--format", "json").stdout)
    other = run(
        "conv", "--spec", str(TASK3), "--format", "json", "--steps", "1", "--decimal", "--no-color"
    )
    assert other.exit_code == 0
    assert json.loads(other.stdout)["results"] == plain["results"]


# ---------------------------------------------------------------------------
# Exit codes


def test_wrong_expected_answer_exits_1_and_marks_the_cell(task3_wrong: Path) -> None:
    result = run("conv", "--spec", str(task3_wrong), "--no-color")
    assert result.exit_code == 1
    out = result.stdout
    assert "✗" in out
    assert re.search(r"✗\s*7\s*→\s*5", out), (
        "the wrong cell should show the given 7 and the correct 5"
    )
    assert "✓ output" in out  # the other checks still pass
    assert "MISMATCH" in out


def test_wrong_expected_answer_json(task3_wrong: Path) -> None:
    result = run("conv", "--spec", str(task3_wrong), "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    checks = {check["name"]: check for check in document["checks"]}
    assert checks["output"]["ok"] is True
    assert checks["grad_kernel"]["ok"] is False
    assert checks["grad_kernel"]["wrong"] == [{"index": [1, 1], "given": 7, "correct": 5}]


def test_matching_copy_exits_0(task3_copy: Path) -> None:
    result = run("conv", "--spec", str(task3_copy))
    assert result.exit_code == 0, result.stderr


def test_spec_file_is_never_written(task3_wrong: Path) -> None:
    before = task3_wrong.read_bytes()
    mtime = task3_wrong.stat().st_mtime_ns
    run("conv", "--spec", str(task3_wrong))
    run("conv", "--spec", str(task3_wrong), "--format", "json")
    assert task3_wrong.read_bytes() == before
    assert task3_wrong.stat().st_mtime_ns == mtime


def test_missing_spec_option_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["conv"])
    assert result.exit_code == 2
    assert "--spec" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_show_section_is_a_usage_error() -> None:
    result = run("conv", "--spec", str(TASK3), "--show", "size,bogus")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bogus" in lines[0]


def test_stdin_spec(task3_copy: Path) -> None:
    result = run(
        "conv", "--spec", "-", "--format", "json", input=task3_copy.read_text(encoding="utf-8")
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["results"]["grad_kernel"] == [[2, 1], [-1, 5]]


def test_help_documents_options_and_exit_codes() -> None:
    result = run("conv", "--help")
    assert result.exit_code == 0
    for option in (
        "--format",
        "--steps",
        "--show",
        "--decimal",
        "--precision",
        "--no-color",
        "--max-elements",
    ):
        assert option in result.stdout
    assert "Exit codes" in result.stdout
    assert "gradcalc conv --spec" in result.stdout


# ---------------------------------------------------------------------------
# Options


def test_steps_caps_rows() -> None:
    capped = run("conv", "--spec", str(TASK3), "--no-color", "--steps", "1")
    assert capped.exit_code == 0
    assert "H_00 = X_00·K_00" in capped.stdout
    assert "H_10 = X_10·K_00" not in capped.stdout
    assert "H_20 = X_20·K_00" not in capped.stdout
    assert "∂L/∂K_00" in capped.stdout
    assert "0·(−1) + 1·1 + 2·2 = 5" not in capped.stdout  # ∂L/∂K_11's row is cut
    assert "not shown" in capped.stdout
    full = run("conv", "--spec", str(TASK3), "--no-color", "--steps", "all")
    assert full.exit_code == 0
    assert "H_20 = X_20·K_00" in full.stdout
    assert "0·(−1) + 1·1 + 2·2 = 5" in full.stdout
    assert "not shown" not in full.stdout


def test_steps_rejects_garbage() -> None:
    result = CliRunner().invoke(main, ["conv", "--spec", str(TASK3), "--steps", "many"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_show_selects_sections() -> None:
    result = run("conv", "--spec", str(TASK3), "--no-color", "--show", "size,checks")
    assert result.exit_code == 0
    out = result.stdout
    assert "⌊(4 + 0 + 0 − 1·(2 − 1) − 1)/1⌋ + 1 = 3" in out  # size
    assert "✓ grad_kernel" in out  # checks
    assert "H_00 = X_00·K_00" not in out  # forward left out
    assert "0·2 + 1·0 + 2·1 = 2" not in out  # backward left out
    assert "∂H/∂K" not in out  # jacobian left out


def test_decimal_prints_fractions_as_decimals(tmp_path: Path) -> None:
    spec = write(tmp_path, 'input: [["1/4", "1/2"], [1, "3/4"]]\nkernel: [[1]]\n')
    exact = run("conv", "--spec", str(spec), "--no-color", "--show", "results")
    assert exact.exit_code == 0
    assert "1/4" in exact.stdout and "3/4" in exact.stdout
    decimal = run("conv", "--spec", str(spec), "--no-color", "--show", "results", "--decimal")
    assert decimal.exit_code == 0
    assert "0.25" in decimal.stdout and "0.75" in decimal.stdout and "0.5" in decimal.stdout
    assert "1/4" not in decimal.stdout and "3/4" not in decimal.stdout


def test_decimal_precision(tmp_path: Path) -> None:
    spec = write(tmp_path, FRACTION_TEXT)
    result = run(
        "conv",
        "--spec",
        str(spec),
        "--no-color",
        "--decimal",
        "--precision",
        "4",
        "--show",
        "results",
    )
    assert result.exit_code == 0, result.stderr
    assert "0.2917" in result.stdout  # 7/24
    assert "0.3333" in result.stdout  # 1/3
    assert "7/24" not in result.stdout


def test_fractional_json_numbers_and_exact_checks(tmp_path: Path) -> None:
    spec = write(tmp_path, FRACTION_TEXT)
    result = run("conv", "--spec", str(spec), "--format", "json")
    assert result.exit_code == 0, result.stderr  # 7/24 is matched exactly
    document = json.loads(result.stdout)
    assert document["results"]["output"] == [[pytest.approx(7 / 24)], [0.75]]
    assert document["ok"] is True


def run_in_terminal(*args: str, env: dict[str, str] | None = None) -> bytes:
    """Run the installed CLI on a pseudo-terminal (so Rich sees a colour terminal); return what it printed."""
    pty = pytest.importorskip("pty")
    clean = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "COLUMNS")}
    clean.update({"TERM": "xterm-256color", "COLUMNS": "100", **(env or {})})
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "gradcalc.cli", *args],
            stdout=follower,
            stderr=follower,
            env=clean,
        )
        os.close(follower)
        output = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            output += chunk
        process.wait(timeout=60)
    finally:
        os.close(leader)
    return output


def test_terminal_gets_colours() -> None:
    """Sanity check for the tests below: on a terminal gradcalc does colour its output."""
    output = run_in_terminal("conv", "--spec", str(TASK3), "--show", "checks")
    assert COLOR_CODE.search(output.decode("utf-8"))


def test_no_color_flag_on_a_terminal() -> None:
    output = run_in_terminal(
        "conv", "--spec", str(TASK3), "--show", "forward,checks", "--no-color"
    ).decode("utf-8")
    assert not COLOR_CODE.search(output)
    assert "H_00 = X_00·K_00" in ANY_ESCAPE.sub("", output)


def test_no_color_flag_with_force_color() -> None:
    colored = run("conv", "--spec", str(TASK3), env={"FORCE_COLOR": "1", "NO_COLOR": None})
    assert colored.exit_code == 0
    assert COLOR_CODE.search(colored.stdout), (
        "FORCE_COLOR=1 should give colours (else this test proves nothing)"
    )
    plain = run(
        "conv", "--spec", str(TASK3), "--no-color", env={"FORCE_COLOR": "1", "NO_COLOR": None}
    )
    assert plain.exit_code == 0
    assert not COLOR_CODE.search(plain.stdout)
    assert "H_00 = X_00·K_00" in ANY_ESCAPE.sub("", plain.stdout)


def test_no_color_environment_variable_on_a_terminal() -> None:
    output = run_in_terminal(
        "conv", "--spec", str(TASK3), "--show", "checks", env={"NO_COLOR": "1"}
    ).decode("utf-8")
    assert "every check passed" in output
    assert not COLOR_CODE.search(output), sorted(set(ANY_ESCAPE.findall(output)))


def test_no_color_is_plain_text() -> None:
    result = run(
        "conv", "--spec", str(TASK3), "--no-color", env={"FORCE_COLOR": "1", "NO_COLOR": None}
    )
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout, repr(result.stdout[:80])


def test_not_a_terminal_means_no_escape_codes() -> None:
    result = run(
        "conv",
        "--spec",
        str(TASK3),
        env={"FORCE_COLOR": None, "NO_COLOR": None, "TERM": "xterm-256color"},
    )
    assert result.exit_code == 0
    assert "\x1b[" not in result.stdout


# ---------------------------------------------------------------------------
# Entry points


def test_python_dash_m(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["COLUMNS"] = "100"
    completed = subprocess.run(
        [sys.executable, "-m", "gradcalc.cli", "conv", "--spec", str(TASK3), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert completed.returncode == 0, completed.stderr
    document = json.loads(completed.stdout)
    assert document["results"]["output"] == [[4], [-3], [-2]]
    table = subprocess.run(
        [sys.executable, "-m", "gradcalc.cli", "conv", "--spec", str(TASK3), "--no-color"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=env,
    )
    assert table.returncode == 0, table.stderr
    assert "= 2·1 + (−1)·0 + 0·(−1) + (−1)·(−2) = 4" in table.stdout


def test_python_dash_m_exit_codes(tmp_path: Path) -> None:
    wrong = write(tmp_path, TASK3_TEXT.replace("GRAD_K11", "7"))
    completed = subprocess.run(
        [sys.executable, "-m", "gradcalc.cli", "conv", "--spec", str(wrong)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 1
    missing = subprocess.run(
        [sys.executable, "-m", "gradcalc.cli", "conv", "--spec", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 2
    assert missing.stdout == ""
    assert len(missing.stderr.strip().splitlines()) == 1


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert "gradcalc" in result.stdout
