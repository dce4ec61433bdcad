"""``python -m gradcalc``: the gradcalc command."""

from gradcalc.cli.main import run

run()
