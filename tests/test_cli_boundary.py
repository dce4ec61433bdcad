"""The one boundary every command passes (cli/main.py ``LazyGroup.main``): Click's usage errors
and a standard output that cannot be written end as one line and exit 2, like every other error;
a reader that stops reading (``| head -1``) ends gradcalc quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
TASK3 = str(REPO / "problems" / "task3.yaml")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["conv", "--precision", "18"],
            "gradcalc conv: --precision: 18 is not in the range 1<=x<=17 (see gradcalc conv --help)",
        ),
        (
            ["check", "--jobs", "0", "."],
            "gradcalc check: --jobs: '0' is not a number from 1 to 64, or auto "
            "(see gradcalc check --help)",
        ),
        (
            ["check", "--shard", "0/0", "."],
            "gradcalc check: --shard: '0/0': need 1 ≤ i ≤ n (for example 1/4 … 4/4) "
            "(see gradcalc check --help)",
        ),
        (
            ["pool", "--format", "pdf"],
            "gradcalc pool: --format: 'pdf' is not one of 'table', 'json', 'markdown', 'latex' "
            "(see gradcalc pool --help)",
        ),
        (
            ["dense", "--steps", "many"],
            "gradcalc dense: --steps: 'many' is not a number of rows or 'all' "
            "(see gradcalc dense --help)",
        ),
        (["run"], "gradcalc run: missing argument 'SPEC...' (see gradcalc run --help)"),
        (["nope"], "gradcalc: no such command 'nope' (see gradcalc --help)"),
        (
            ["covn"],
            "gradcalc: no such command 'covn'; did you mean 'conv'? (see gradcalc --help)",
        ),
        (
            ["conv", "--show", "backwards", "--spec", "problems/task3.yaml"],
            "gradcalc conv: unknown section 'backwards' in --show (did you mean 'backward'?); "
            "allowed: problem, size, forward, jacobian, backward, identities, loss, results, checks",
        ),
        (
            ["schema", "--bogus"],
            "gradcalc schema: no such option '--bogus' (see gradcalc schema --help)",
        ),
        (
            ["random", "conv", "--seed"],
            "gradcalc random conv: option '--seed' requires an argument "
            "(see gradcalc random conv --help)",
        ),
        (
            ["examples", "a", "b"],
            "gradcalc examples: got unexpected extra argument (b) (see gradcalc examples --help)",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr == line + "\n"


def test_usage_error_values_are_shown_safely() -> None:
    result = CliRunner().invoke(main, ["conv", "--format", "\x1b]0;x\x07"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr


def gradcalc(*args: str, **popen: object) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    return subprocess.Popen(
        [sys.executable, "-m", "gradcalc.cli", *args],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
        **popen,
    )


needs_dev_full = pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")


@needs_dev_full
@pytest.mark.parametrize(
    "args",
    [
        ["conv", "--spec", TASK3],
        ["conv", "--spec", TASK3, "--format", "json"],
        ["conv", "--spec", TASK3, "--format", "markdown"],
        ["conv", "--spec", TASK3, "--format", "latex"],
        ["run", TASK3, TASK3],
        ["examples"],
        ["new", "conv"],
        ["schema", "conv"],
        ["random", "conv", "--seed", "1"],
        ["check", TASK3, "--jobs", "1"],
        ["--help"],
        ["conv", "--help"],
        ["--version"],
    ],
    ids=" ".join,
)
def test_a_full_standard_output_is_one_line_and_exit_2(args: list[str]) -> None:
    with open("/dev/full", "w") as full:
        process = gradcalc(*args, stdout=full)
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    assert stderr == "gradcalc: cannot write to standard output: No space left on device\n"


def test_a_reader_that_stops_reading_ends_gradcalc_quietly() -> None:
    process = gradcalc(
        "run", *(str(p) for p in sorted((REPO / "problems").glob("*.yaml"))), stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    process.stdout.close()  # `| head -1`
    stderr = process.stderr.read() if process.stderr else ""
    process.wait(timeout=120)
    assert first.startswith("gradcalc ")
    assert stderr == ""


def test_commands_return_their_status_and_only_the_boundary_exits(tmp_path: Path) -> None:
    """Without the boundary (standalone_mode=False) a command returns its ExitStatus: no
    SystemExit is raised below LazyGroup.main to say how a run ended."""
    from gradcalc.core.outcome import ExitStatus

    status = main.main(["conv", "--spec", TASK3, "--format", "json"], standalone_mode=False)
    assert status is ExitStatus.OK
    status = main.main(["run", TASK3, TASK3, "--format", "json"], standalone_mode=False)
    assert status is ExitStatus.OK
    status = main.main(["run", str(tmp_path / "nope.yaml")], standalone_mode=False)
    assert status is ExitStatus.ERROR


def test_run_options_are_built_once_and_frozen() -> None:
    import dataclasses

    from gradcalc.cli.options import DEFAULT_STEPS, RunOptions

    assert RunOptions().steps == DEFAULT_STEPS
    options = RunOptions(output_format="json")
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.steps = None  # type: ignore[misc]
    changed = options.replace(spec_path="a.yaml", json_lines=True)
    assert (changed.spec_path, changed.json_lines) == ("a.yaml", True)
    assert changed.output_format == "json"
    assert options.spec_path is None and options.json_lines is False


def test_a_kind_named_in_full_is_matched_to_its_short_name() -> None:
    result = CliRunner().invoke(main, ["run", "-"], input="kind: convolution\n")
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "<stdin>:1:7: kind: unknown kind 'convolution'; did you mean 'conv'? known kinds: conv,"
    )
    random = CliRunner().invoke(main, ["random", "convolution"])
    assert random.exit_code == 2
    assert random.stderr.startswith(
        "gradcalc random: unknown kind 'convolution'; did you mean 'conv'? known kinds: conv,"
    )
