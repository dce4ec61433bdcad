"""``python -m gradcalc.cli``."""

from gradcalc.cli.main import run

run()
