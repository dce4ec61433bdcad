"""Running gradcalc in a child process whose standard input stays open, for hang tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_with_open_stdin(args: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``python -m gradcalc.cli ARGS`` with a standard input that stays open (a pipe nobody
    writes to): anything that reads it, or blocks opening a FIFO, fails the test after
    30 s instead of stopping the suite."""
    env = {k: v for k, v in os.environ.items() if k != "FORCE_COLOR"}
    process = subprocess.Popen(
        [sys.executable, "-m", "gradcalc.cli", *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env=env,
    )
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError(f"gradcalc {' '.join(args)} hung") from None
    stdout, stderr = process.communicate()
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)
