"""Grading answers against a problem: points, partial credit, accepted conventions, diagnosis.

``gradcalc check`` reads files; this module only sees plain data.  A
:class:`Problem` is a spec (its ``expected`` answers, ``points`` and ``accept``
set aside) solved once without any explanation; :meth:`Problem.grade` compares
a mapping of answers with its results and returns a :class:`Grade`.

When an answer is wrong, the problem is solved again under the usual mistakes
(the kernel flipped, the stride ignored, the upstream forgotten, …) by changing
the spec and re-solving through the registry; the first mistake whose result
the answer matches is named.  Each kind lists its own mistakes in its module
(core/kinds/<kind>.py, ``usual_mistakes(spec)``, or the module its catalog entry's ``parts``
names: core/registry.py ``kind_part``).  Every re-solve is cached on the problem, so a
folder of submissions against one problem solves each variant once.

Errors are :class:`SpecError` with field paths, as everywhere in the core:
answers sit under ``answers_key`` (``expected`` in a problem spec, ``answers``
in a submission), points under ``points`` and accepted conventions under
``accept``.

The parts: :mod:`.problem` (a problem solved once, grading answer sets against it),
:mod:`.grades` (what a grade holds), :mod:`.compare` (reading and comparing answers) and
:mod:`.keys` (reading ``points`` and ``accept``).
"""

from gradcalc.core.answers import fit, read_answer, shape_words
from gradcalc.core.grading.compare import compare_cells
from gradcalc.core.grading.grades import CellError, Grade, GroupScore, ResultGrade, exact_total
from gradcalc.core.grading.keys import GRADING_KEYS, SUBMISSION_KEYS
from gradcalc.core.grading.problem import SYMBOLIC_KINDS, Problem, usual_mistakes
from gradcalc.core.kinds.mistakes import Variant

__all__ = [
    "GRADING_KEYS",
    "SUBMISSION_KEYS",
    "SYMBOLIC_KINDS",
    "CellError",
    "Grade",
    "GroupScore",
    "Problem",
    "ResultGrade",
    "Variant",
    "compare_cells",
    "exact_total",
    "fit",
    "read_answer",
    "shape_words",
    "usual_mistakes",
]
