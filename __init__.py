"""gradcalc: work out gradients of small deep-learning problems step by step.

From Python (docs/python.md)::

    import gradcalc
    worked = gradcalc.solve("problems/task3.yaml")
    worked.results["grad_kernel"]      # a NumPy array of Fractions
    worked.ok                          # every expected answer right
    print(worked)                      # the steps, as `gradcalc conv` prints them

``gradcalc.check(...)`` runs ``gradcalc check``; errors raise ``gradcalc.ProblemError``.
The command line is ``gradcalc`` or ``python -m gradcalc``.

This file is the package ``gradcalc`` itself (pyproject maps it to the project's top
folder, whose cli/, core/ and problems/ are its subpackages).  It imports nothing until
an attribute is used: every ``gradcalc`` command starts by importing it.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CheckReport", "ProblemError", "Worked", "check", "solve"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from gradcalc.cli import api

        return getattr(api, name)
    raise AttributeError(f"module 'gradcalc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
