"""The gradcalc command tells NumPy's OpenBLAS to let its worker threads sleep at once
(cli/main.py): set before NumPy is imported, kept when the user set it, and not set by
``import gradcalc`` (the library leaves its host process alone)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# A finder that records the variable at the moment NumPy starts to import (OpenBLAS reads it
# then, once), then lets the usual finders import it.
RECORD_AT_NUMPY_IMPORT = """
import os, sys
class Recorder:
    seen = None
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name == "numpy" and cls.seen is None:
            cls.seen = os.environ.get("OPENBLAS_THREAD_TIMEOUT", "unset")
        return None
sys.meta_path.insert(0, Recorder)
"""


def _run(code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_THREAD_TIMEOUT"}
    environment.update(env)
    completed = subprocess.run(
        [sys.executable, "-c", RECORD_AT_NUMPY_IMPORT + code],
        capture_output=True,
        text=True,
        env=environment,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    return completed.stdout.strip()


def test_the_command_sets_the_timeout_before_numpy_is_imported() -> None:
    code = "import gradcalc.cli.main\nprint(Recorder.seen)"
    assert _run(code) == "4"


def test_a_value_the_user_set_is_kept() -> None:
    code = "import gradcalc.cli.main\nprint(Recorder.seen)"
    assert _run(code, OPENBLAS_THREAD_TIMEOUT="28") == "28"


def test_the_library_leaves_openblas_alone() -> None:
    code = (
        "import gradcalc\n"
        "worked = gradcalc.solve('problems/task3.yaml')\n"
        "print(Recorder.seen, os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset'))"
    )
    assert _run(code) == "unset unset"


def test_gradcalc_check_leaves_the_hosts_environment_alone() -> None:
    """gradcalc.check runs the command in the host process (cli/main.py imported there, after
    the host's NumPy): the variable it sets for the command is not left in the host's
    environment, which the processes the host starts would inherit."""
    code = (
        "import gradcalc\n"
        "report = gradcalc.check('problems/task3.yaml')\n"
        "print(report.exit_status, os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset'))"
    )
    assert _run(code) == "0 unset"
