"""``python -m gradcalc``: the gradcalc command."""

from gradcalc.cli.main import main

main(prog_name="gradcalc")
