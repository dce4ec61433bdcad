"""gradcalc's numeric core: NumPy only.

Plain data (dicts, lists, numbers) goes in; results and an explanation (plain
dataclasses, see :mod:`gradcalc.core.explain`) come out.  Nothing here knows
about terminals, YAML or Click.

Record classes use :func:`gradcalc.core.records.record` rather than
``@dataclass``: on Python 3.11 each dataclass costs about a millisecond to
define, which across thirty records would eat most of the start-up budget
(see benchmarks/startup.py).
"""

__version__ = "0.1.0"
