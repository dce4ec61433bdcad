"""The gradcalc program's entry (cli/main.run: the console script, ``python -m gradcalc``)
ends without Python's finalization: the same output, to the last byte, and the same exit
status as ``main`` itself gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
NET = str(ROOT / "problems" / "net_conv_relu_maxpool_dense.yaml")


@pytest.mark.parametrize(
    "arguments",
    [
        ["net", "--spec", NET, "--steps", "all", "--width", "100"],
        ["net", "--spec", NET, "--format", "json"],
        ["net", "--spec", str(ROOT / "nope.yaml")],
        ["covn"],
        ["--version"],
    ],
)
def test_the_program_writes_and_exits_as_main(arguments: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gradcalc", *arguments], capture_output=True, timeout=120
    )
    expected = CliRunner().invoke(main, arguments, prog_name="gradcalc")
    assert done.returncode == expected.exit_code
    assert done.stdout == expected.stdout_bytes
    assert done.stderr.decode().strip() == expected.stderr.strip()


def test_a_mismatch_exits_1(tmp_path: Path) -> None:
    spec = tmp_path / "wrong.yaml"
    spec.write_text(
        "kind: dense\ninput: [[1, 2]]\nweight: [[1, 0], [0, 1]]\nexpected: {output: [[9, 9]]}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "gradcalc", "dense", "--spec", str(spec)],
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 1 and b"output" in done.stdout
