"""``python -m gradcalc.cli``."""

from gradcalc.cli.main import main

main(prog_name="gradcalc")
