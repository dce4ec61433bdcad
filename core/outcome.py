"""What a run produces: results, checks against expected answers, and an exit status.

The :class:`Solution` knows whether everything matched and which exit status
that means; the CLI only renders it.
"""

from __future__ import annotations

from dataclasses import field
from enum import IntEnum
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.explain import Item, Section
from gradcalc.core.records import record
from gradcalc.core.spec import Tolerance
from gradcalc.core.values import holds_formulas


class ExitStatus(IntEnum):
    """Process exit codes, the same for every command."""

    OK = 0  # computed, and every expected answer matches
    MISMATCH = 1  # an expected answer (or the gradient check) does not match
    ERROR = 2  # usage or spec error


@record
class WrongCell:
    index: tuple[int, ...]  # 0-based position in the result
    given: Fraction | float  # the expected answer as written in the spec
    correct: Fraction | float  # what gradcalc computed


@record
class Check:
    """One expected answer compared with the computed result."""

    name: str
    ok: bool
    cells: int
    wrong: tuple[WrongCell, ...]
    max_abs_error: float
    tolerance: Tolerance
    expected: np.ndarray
    # How an expected answer not written in its result's shape was read ("read flat in
    # row-major order as 2×2"); "" when it was written in that shape.
    reading: str = ""
    # Compared as formulas (core/symbolic.py): no tolerance, the difference is 0 or not.
    symbolic: bool = False

    @property
    def measure(self) -> str:
        """How the answer was compared, for the ✗ line: the error and tolerance, or formulas."""
        if self.symbolic:
            from gradcalc.core.symbolic import COMPARISON

            return f"compared as formulas: {COMPARISON}"
        return f"largest error {self.max_abs_error:.3g}; tolerance {self.tolerance.describe()}"


@record
class GradientCheck:
    """Analytic gradients against float64 central finite differences.

    ``step`` is the relative step: each entry x moves by h = step·max(1, |x|).
    ``unresolved`` counts entries where float64 cannot resolve the difference
    (rounding or overflow swamps it): neither passed nor failed.
    """

    ok: bool
    max_abs_error: float
    entries_checked: int
    entries_total: int
    step: float
    per_result: dict[str, float] = field(default_factory=dict)
    # Which entries were left out and why (e.g. tied maxima, where max has no derivative).
    note: str = ""
    unresolved: int = 0
    # A shorter distance over which the loss bends, capping the step ("1", "1/β"), or "".
    bend: str = ""
    # At most this many entries of each array were probed (spread evenly), when some array
    # has more; 0 when every entry of every array was probed.
    sampled: int = 0

    @property
    def step_rule(self) -> str:
        """The step as a rule, for the check line: "h = 6.1e-06·max(1, |x|)"."""
        if not self.bend:
            return f"h = {self.step:.2g}·max(1, |x|)"
        most = f"{self.step:.2g}" if self.bend == "1" else f"{self.step:.2g}·{self.bend}"
        return f"h = {self.step:.2g}·max(1, |x|), at most {most} where the function bends"

    @property
    def mark(self) -> str:
        """✓ passed, ✗ failed, – nothing could be checked."""
        if not self.ok:
            return "✗"
        return "✓" if self.entries_checked else "–"

    def summary(self) -> str:
        """The check line after its mark, the same in every format."""
        parts = [
            f"finite differences (float64, central, {self.step_rule}): "
            + (
                f"{self.entries_checked} of {self.entries_total} gradient entries checked"
                + (f" (at most {self.sampled} per array, spread evenly)" if self.sampled else "")
                + f", largest difference {self.max_abs_error:.1e}"
                if self.entries_checked
                else f"none of the {self.entries_total} gradient entries checked"
                if self.entries_total != 1
                else "the one gradient entry not checked"
            )
        ]
        if self.unresolved:
            many = self.unresolved != 1
            parts.append(
                f"{self.unresolved} entr{'ies' if many else 'y'} not checkable here: float64 cannot "
                f"resolve a step of h at {'their' if many else 'its'} magnitude (rounding or overflow)"
            )
        if self.note:
            parts.append(self.note)
        return "; ".join(parts)


@record
class Run:
    """What running one problem produced.

    ``results`` maps result names (output, grad_input, jacobian_…) to arrays in the spec's
    shapes (object arrays of Fractions when ``exact``, else float64); ``trace`` is what the
    forward and backward pass recorded, for the explanation to read; ``solution`` holds
    extra Solution fields a kind fills (``axes``).
    """

    results: dict[str, Any]
    trace: Any
    exact: bool
    solution: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        results: dict[str, Any],
        trace: Any,
        exact: bool,
        solution: dict[str, Any] | None = None,
    ) -> None:
        # A plain __init__, which @record keeps (the shared one costs several times more):
        # a net makes a Run per layer run (13 for gradcalc net's example).  No ``solution``
        # given: a new dict, as the field's default_factory makes.
        self.results, self.trace, self.exact = results, trace, exact
        self.solution = {} if solution is None else solution


@record
class Solution:
    """Everything one spec produced.

    ``results`` maps result names (output, grad_input, …) to arrays (object
    arrays of Fractions when ``exact``, else float64) or lists of ints.
    ``conventions`` lists every convention in force, in words.
    """

    kind: str
    title: str | None
    results: dict[str, Any]
    exact: bool
    conventions: list[str]
    sections: list[Section]
    checks: list[Check] = field(default_factory=list)
    gradient_check: GradientCheck | None = None
    index_base: int = 0
    notes: list[str] = field(default_factory=list)
    # Axis names of each result array (e.g. ("c", "row", "col")), for labelling slices.
    axes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Items the results section shows before the arrays it knows (kind expr: its symbolic results).
    result_items: list[Item] = field(default_factory=list)
    # What --focus found (a core/explain/focus.py Focus), for the JSON; None without --focus.
    focus: Any = None
    # Kind net: its NetProblem (core/kinds/net.py: layers, shapes, input), which --format dot
    # draws; None for every other kind.
    net: Any = None

    @property
    def ok(self) -> bool:
        checks_ok = all(check.ok for check in self.checks)
        gradient_ok = self.gradient_check is None or self.gradient_check.ok
        return checks_ok and gradient_ok

    @property
    def exit_status(self) -> ExitStatus:
        return ExitStatus.OK if self.ok else ExitStatus.MISMATCH


def compare(name: str, result: Any, expected: np.ndarray, tolerance: Tolerance) -> Check:
    """Compare elementwise: |result − expected| ≤ atol + rtol·|expected|.

    Exact results are compared in Fractions (no rounding at all); float
    results in float64.
    """
    computed = np.asarray(result, dtype=object)
    if holds_formulas(computed, expected):
        return _compare_formulas(name, computed, expected, tolerance)
    exact = all(isinstance(v, (Fraction, int)) for v in computed.ravel())
    wrong: list[WrongCell] = []
    max_error: float = 0.0
    for index in np.ndindex(*expected.shape):
        given = expected[index]
        correct = computed[index]
        if exact:
            error = abs(Fraction(correct) - given)
            ok = error <= tolerance.atol + tolerance.rtol * abs(given)
        else:
            error = abs(float(correct) - float(given))
            ok = error <= float(tolerance.atol) + float(tolerance.rtol) * abs(float(given))
        max_error = max(max_error, float(error))
        if not ok:
            wrong.append(WrongCell(tuple(int(i) for i in index), given, correct))
    return Check(
        name=name,
        ok=not wrong,
        cells=int(expected.size),
        wrong=tuple(wrong),
        max_abs_error=max_error,
        tolerance=tolerance,
        expected=expected,
    )


def _compare_formulas(
    name: str, computed: np.ndarray, expected: np.ndarray, tolerance: Tolerance
) -> Check:
    """Compare entries that are formulas (core/symbolic.py): equal when their difference
    expands to 0 (no tolerance: a formula is right or wrong), or, for a difference too
    large to expand, when it is 0 at random rational points (symbolic.equal)."""
    from gradcalc.core import symbolic

    wrong = tuple(
        WrongCell(tuple(int(i) for i in index), expected[index], computed[index])
        for index in np.ndindex(*expected.shape)
        if not symbolic.equal(computed[index], expected[index])
    )
    return Check(
        name=name,
        ok=not wrong,
        cells=int(expected.size),
        wrong=wrong,
        max_abs_error=0.0,
        tolerance=tolerance,
        expected=expected,
        symbolic=True,
    )


# ---------------------------------------------------------------------------
# A net's run (core/kinds/net_run.py), layer by layer


@record
class LayerRun:
    """One layer (or the loss) run by its own kind: ``problem`` as its kind read it (None
    for flatten, which is no kind), its ``run`` (results and trace), and the ``options`` it
    ran with, which its explanation (core/explain/net.py) is built with too."""

    kind: str
    problem: Any
    run: Run
    options: Any
    # A dense layer on a ≥3-D input: its kind ran on rows (``run``, which its explanation
    # shows); its output and ∂L/∂input reshaped back to the input's leading axes.
    shaped: dict[str, Any] | None = None

    def __init__(self, kind: str, problem: Any, run: Run, options: Any, shaped: Any = None):
        # A plain __init__, which @record keeps (as core/outcome.py Run's): one a layer run.
        self.kind, self.problem, self.run = kind, problem, run
        self.options, self.shaped = options, shaped

    @property
    def results(self) -> dict[str, Any]:
        return self.run.results if self.shaped is None else self.shaped

    @property
    def exact(self) -> bool:
        return self.run.exact


@record
class NetTrace:
    """What the run recorded: per layer, the forward run (its output) and the backward run
    (its gradients, and the problem statement it explains); the loss's run; where float64
    began."""

    forward: list[LayerRun]
    backward: list[LayerRun]
    loss: LayerRun | None
    float_from: str | None  # the first layer (or "loss") that ran in float64
