"""gradcalc's numeric core: NumPy only.

Plain data (dicts, lists, numbers) goes in; results and an explanation (plain
dataclasses, see :mod:`gradcalc.core.explain`) come out.  Nothing here knows
about terminals, YAML or Click.
"""

__version__ = "0.1.0"
