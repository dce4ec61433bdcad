"""gradcalc's numeric core: NumPy only.

Plain data (dicts, lists, numbers) goes in; results and an explanation (plain
dataclasses, see :mod:`gradcalc.core.explain`) come out.  Nothing here knows
about terminals, YAML or Click.

Records are ``@dataclass(eq=False)`` unless they are configuration: on Python
3.11 every generated method costs its own ``exec``, and a frozen class with
equality takes about 1 ms to define, which across twenty records would eat
most of the start-up budget (see benchmarks/startup.py).
"""

__version__ = "0.1.0"
