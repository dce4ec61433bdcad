"""Click's messages for --help and --version are made as written, not looked up with gettext
(cli/options.py untranslated_click_messages): the same help, and gettext's lookup (which
imports ``locale``, ~1 ms of start-up) left out of a problem command's run."""

from __future__ import annotations

import gettext
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from gradcalc.cli.main import main

ROOT = Path(__file__).resolve().parents[1]
NET = str(ROOT / "problems" / "net_conv_relu_maxpool_dense.yaml")


def test_the_help_and_version_options_say_what_click_says() -> None:
    for arguments in (["--help"], ["net", "--help"], ["conv", "-h"]):
        shown = CliRunner().invoke(main, arguments, prog_name="gradcalc")
        assert shown.exit_code == 0
        assert "-h, --help" in shown.output
        assert "Show this message and exit." in shown.output
        assert click.decorators._ is gettext.gettext  # put back
    shown = CliRunner().invoke(main, ["--help"], prog_name="gradcalc")
    assert "--version" in shown.output and "Show the version and exit." in shown.output
    version = CliRunner().invoke(main, ["--version"], prog_name="gradcalc")
    assert version.output.startswith("gradcalc, version ")


def test_a_net_command_looks_up_no_message() -> None:
    script = (
        "import sys\n"
        "from gradcalc.cli.main import main\n"
        f"try:\n    main(['net', '--spec', {NET!r}], prog_name='gradcalc')\n"
        "except SystemExit:\n    pass\n"
        "print('locale' in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.stderr.strip().splitlines()[-1] == "False"
