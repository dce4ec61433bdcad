"""Fields every kind of spec shares, and the limits and options of a run.

An op module declares its own keys; this module checks the spec against them
(unknown keys get a did-you-mean), and reads the common fields: ``title``,
``names``, ``index_base``, ``upstream``, ``expected`` and ``tolerance``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core.answers import (
    accepted_forms,
    fit,
    read_answer,
    reading_note,
    shape_reason,
    shape_words,
)
from gradcalc.core.errors import SpecError
from gradcalc.core.records import record, replace
from gradcalc.core.values import describe, looks_numeric, parse_array, parse_int, parse_number

# points, accept, problem and answers are for `gradcalc check` (core/grading/); solvers ignore them.
COMMON_KEYS = (
    "kind",
    "title",
    "names",
    "index_base",
    "upstream",
    "expected",
    "tolerance",
    "points",
    "accept",
    "problem",
    "answers",
)

# Exact arithmetic stops here (gradcalc asks for --float instead): numerators and
# denominators of the integers it works with (each array's entries over their common
# denominator) have at most EXACT_DIGITS digits, so results have at most about twice as many,
# far below Python's 4,300-digit limit for printing an int; and products of Python ints cost
# at most EXACT_COST 64-bit word products (a 1,000-digit by 1,000-digit multiply-add: 2,704).
EXACT_DIGITS = 1000
# The longest symbol a spec's names may give (a net's default layer names may be longer:
# core/kinds/net_run.py read_kind sets them after its kind has read the layer).
MAX_SYMBOL = 12
EXACT_COST = 200_000_000

# A sum longer than this is shown with its first terms and + … unless --steps all: in the
# terminal, JSON and the Markdown and LaTeX write-ups alike (docs/output.md).
MAX_TERMS_SHOWN = 24

DEFAULT_ATOL = Fraction(1, 10**6)
DEFAULT_RTOL = Fraction(1, 10**6)


@record(frozen=True)
class Limits:
    """Caps that keep any spec cheap.  Each is documented in docs/exit-codes-and-limits.md and raised by a CLI flag.

    - ``max_elements``: entries in any one array of the spec (``--max-elements``).
    - ``max_work``: multiply-adds of one forward pass (``--max-work``).
    - ``exact_work``: above this many multiply-adds results are computed in float64.

    Exact arithmetic is also bounded by the size of its numbers (EXACT_DIGITS, EXACT_COST
    above; fixed, not raised by a flag): beyond them a run stops with one line that
    suggests --float.
    - ``max_jacobian``: entries of a Jacobian built for display/JSON (``--max-jacobian``).
    """

    max_elements: int = 250_000
    max_work: int = 200_000_000
    exact_work: int = 2_000_000
    max_jacobian: int = 1024


DEFAULT_LIMITS = Limits()


@record(frozen=True)
class SolveOptions:
    """How much explanation to build.

    ``steps`` caps rows per section (None: all); ``sections`` names the sections
    to build (None: all); ``gradient_check`` runs finite differences; ``layer`` limits a
    net's explanation to one layer (the results stay whole).
    """

    steps: int | None = 12
    # With steps None, the rows a section shows at most (None: every row); a sum then shows
    # MAX_TERMS_SHOWN terms as in the terminal (None: every term), so a write-up stays bounded.
    row_cap: int | None = None
    sections: frozenset[str] | None = None
    gradient_check: bool = True
    force_float: bool = False
    limits: Limits = DEFAULT_LIMITS
    # False when only the results are wanted (grading): no conventions, no sections.
    explain: bool = True
    # Kind net: the one layer whose sections are explained (--layer NAME); None: every layer.
    layer: str | None = None
    # The table report summarises a Jacobian section in one note when one of its tables has
    # more entries than this (cli/summary.py: no --show, --steps capped): a kind may build
    # such a section as that note (core/explain Summarised).  None: every section whole.
    summarised_above: int | None = None

    def __init__(
        self,
        steps: int | None = 12,
        row_cap: int | None = None,
        sections: frozenset[str] | None = None,
        gradient_check: bool = True,
        force_float: bool = False,
        limits: Limits = DEFAULT_LIMITS,
        explain: bool = True,
        layer: str | None = None,
        summarised_above: int | None = None,
    ) -> None:
        # A plain __init__, which @record keeps (the shared one costs several times more):
        # a net makes options for each layer run (records.replace); frozen: the fields go
        # straight into the instance's __dict__, as the shared __init__ puts them.
        self.__dict__.update(
            steps=steps,
            row_cap=row_cap,
            sections=sections,
            gradient_check=gradient_check,
            force_float=force_float,
            limits=limits,
            explain=explain,
            layer=layer,
            summarised_above=summarised_above,
        )

    def wants(self, section: str) -> bool:
        return self.explain and (self.sections is None or section in self.sections)

    def wants_jacobians(self) -> bool:
        """Jacobian results are built (also when nothing is explained, for grading)."""
        return self.sections is None or "jacobian" in self.sections

    def cap(self, total: int) -> int:
        limit = self.row_cap if self.steps is None else self.steps
        return total if limit is None else min(total, limit)

    @property
    def max_terms(self) -> int:
        """How many terms of one sum to show: all of them with ``--steps all`` (steps and
        row_cap None); MAX_TERMS_SHOWN under any row cap, a write-up's ``--steps auto`` too."""
        return sys.maxsize if self.steps is None and self.row_cap is None else MAX_TERMS_SHOWN


@record(frozen=True)
class Tolerance:
    atol: Fraction = DEFAULT_ATOL
    rtol: Fraction = DEFAULT_RTOL

    def __init__(self, atol: Fraction = DEFAULT_ATOL, rtol: Fraction = DEFAULT_RTOL) -> None:
        self.__dict__.update(atol=atol, rtol=rtol)  # a plain __init__, as SolveOptions'

    def describe(self) -> str:
        return f"|answer − expected| ≤ {float(self.atol):g} + {float(self.rtol):g}·|expected|"


def check_keys(spec: Mapping[str, Any], kind: str, own_keys: tuple[str, ...]) -> None:
    """Raise at the first key that this kind does not know, suggesting a close one."""
    allowed = (*COMMON_KEYS, *own_keys)
    for key in spec:
        if not isinstance(key, str):
            raise SpecError((key,), f"keys must be text, got {describe(key)}", at_key=True)
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            raise SpecError(
                (key,),
                f"unknown key {key!r} for kind {kind!r}{hint or '.'} Allowed keys: {', '.join(allowed)}",
                at_key=True,
            )


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    """ "; did you mean 'kernel'?" for a close or prefix match, else ""."""
    import difflib

    stripped = word.strip()
    if stripped != word and stripped in choices:
        return f"; did you mean {stripped!r} (without the spaces)?"
    word = stripped  # " kernel" is compared as "kernel" (its space made 'tolerance' closer)
    prefixed = (
        [c for c in choices if c.startswith(word) or word.startswith(c)] if len(word) >= 3 else []
    )
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5) or prefixed[:1]
    return f"; did you mean {close[0]!r}?" if close else ""


# A kind's own hint for a result name it does not have, given the names it has: "; did you
# mean 'activation1.output' (…)?" for a net's relu1.output; None leaves it to did_you_mean.
ResultHints = Callable[[str, list[str]], "str | None"]


def result_hint(name: str, known: list[str], hints: ResultHints | None = None) -> str:
    """The hint for a result name that is not among ``known``: the kind's own (``hints``),
    else a close match (:func:`did_you_mean`), else ""."""
    own = hints(name, known) if hints is not None else None
    return own or did_you_mean(name, known)


def require(spec: Mapping[str, Any], key: str, kind: str, meaning: str) -> Any:
    if key not in spec:
        raise SpecError((), f"missing required key {key!r} ({meaning}) for kind {kind!r}")
    return spec[key]


def read_title(spec: Mapping[str, Any]) -> str | None:
    title = spec.get("title")
    if title is None:
        return None
    if not isinstance(title, (str, int, float, Fraction)) or isinstance(title, bool):
        raise SpecError(("title",), f"title must be text, got {describe(title)}")
    return str(title)


def read_names(spec: Mapping[str, Any], defaults: Mapping[str, str]) -> dict[str, str]:
    """Symbols for the tables, e.g. ``{input: X, kernel: K, output: H, loss: L}``."""
    names = dict(defaults)
    given = spec.get("names")
    if given is None:
        return names
    if not isinstance(given, Mapping):
        raise SpecError(
            ("names",), f"names must be a mapping such as {{input: X}}, got {describe(given)}"
        )
    for role, symbol in given.items():
        if role not in defaults:
            hint = did_you_mean(str(role), tuple(defaults))  # " input": "without the spaces"
            allowed = f"{hint} Allowed: " if hint else "; allowed: "
            raise SpecError(
                ("names", role),
                f"unknown name role {role!r}{allowed}{', '.join(defaults)}",
                at_key=True,
            )
        if not isinstance(symbol, str) or not symbol.strip() or len(symbol) > MAX_SYMBOL:
            raise SpecError(
                ("names", role),
                f"a symbol must be short text (1-{MAX_SYMBOL} characters), got {describe(symbol)}",
            )
        names[role] = symbol.strip()
    # Two roles with one symbol would make every table ambiguous (∂L/∂b for kernel and bias).
    # A symbol the spec chose wins over a default; the default then gets a prime (b′).
    for role in defaults:
        if role in given:
            continue
        while any(names[role] == names[other] for other in names if other != role):
            names[role] += "′"
    chosen = [role for role in defaults if role in given]
    for i, role in enumerate(chosen):
        for other in chosen[:i]:
            if names[role] == names[other]:
                raise SpecError(
                    ("names", role),
                    f"{role} and {other} are both written {names[role]!r}; give each role its own symbol",
                )
    return names


def read_index_base(spec: Mapping[str, Any]) -> int:
    """0 or 1, read as every integer field is (1, 1.0, "1" and 1e0 are 1; 01 is refused)."""
    base = spec.get("index_base", 0)
    if not isinstance(base, bool) and base is not None:
        try:
            number = parse_int(base, ("index_base",), what="index_base")
        except SpecError as error:
            if not error.message.startswith("expected"):
                raise  # "'01': write 1; …"
        else:
            if number in (0, 1):
                return number
    raise SpecError(("index_base",), f"index_base must be 0 or 1, got {describe(base)}")


def with_upstream(kind_problem: Any, spec: Mapping[str, Any], limits: Limits) -> Any:
    """What a kind reads from ``spec``, given what it read from the same spec but for the
    upstream (``kind_problem``, whose fields ``upstream`` and ``upstream_given`` are
    read_upstream's alone): a copy with the spec's upstream read so, from the fields alone
    (records.replace: nothing a run kept on the problem, such as a float64 copy of its
    upstream, carries over).  A net's backward pass takes a layer's forward problem so."""
    upstream, given = read_upstream(
        spec, kind_problem.upstream.shape, kind_problem.names["output"], limits
    )
    return replace(kind_problem, upstream=upstream, upstream_given=given)


TOLERANCE_NUMBER = 'a number ≥ 0 such as 1e-6, 0.001 or "1/1000"'


def read_tolerance(spec: Mapping[str, Any]) -> Tolerance:
    value = spec.get("tolerance")
    if value is None:
        return Tolerance()
    if isinstance(value, Mapping):
        for key in value:
            if key not in ("atol", "rtol"):
                raise SpecError(
                    ("tolerance", key),
                    f"unknown tolerance key {key!r}; allowed: atol, rtol",
                    at_key=True,
                )
        atol = parse_number(
            value.get("atol", DEFAULT_ATOL), ("tolerance", "atol"), allowed=TOLERANCE_NUMBER
        )
        rtol = parse_number(
            value.get("rtol", 0 if "atol" in value else DEFAULT_RTOL),
            ("tolerance", "rtol"),
            allowed=TOLERANCE_NUMBER,
        )
        path_atol: tuple = ("tolerance", "atol")
        path_rtol: tuple = ("tolerance", "rtol")
    else:
        atol = parse_number(value, ("tolerance",), what="a tolerance", allowed=TOLERANCE_NUMBER)
        rtol = Fraction(0)
        path_atol = path_rtol = ("tolerance",)
    if atol < 0:
        raise SpecError(path_atol, "a tolerance must be 0 or more")
    if rtol < 0:
        raise SpecError(path_rtol, "a tolerance must be 0 or more")
    return Tolerance(atol=atol, rtol=rtol)


def read_upstream(
    spec: Mapping[str, Any],
    output_shape: tuple[int, ...],
    output_name: str,
    limits: Limits,
    *,
    naming: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, bool]:
    """∂L/∂output shaped like the output.  Returns (array, given) where ``given``
    is False when the upstream is all ones because the spec omitted it or said
    "ones" (L = sum of outputs), True when the spec wrote out a matrix.

    With ``naming`` (a kind that takes symbols: its index base and flat_index), the upstream
    may be ``symbolic`` (entries g_ij) or hold formulas (core/kinds/symbolic_fields.py)."""
    value = spec.get("upstream")
    shape_text = "×".join(map(str, output_shape)) or "a scalar"
    if value is None or (isinstance(value, str) and value.strip() == "ones"):
        ones = np.empty(output_shape, dtype=object)
        ones.fill(1)  # a Python int is an exact value too, and converts to float fast
        return ones, False
    if naming is not None and isinstance(value, str) and value.strip().startswith("symbolic"):
        from gradcalc.core.kinds.symbolic_fields import UPSTREAM_SYMBOL, read_tensor

        array = read_tensor(
            value,
            ("upstream",),
            ndims=(len(output_shape),),
            what="upstream",
            limits=limits,
            symbol=UPSTREAM_SYMBOL,
            index_base=naming["index_base"],
            flat_index=naming["flat_index"],
            declared=naming["declared"],
            shape=output_shape,
        )
        return array, True
    if isinstance(value, str) and not looks_numeric(value):
        raise SpecError(
            ("upstream",),
            f'upstream must be a matrix shaped {shape_text} or "ones", got {describe(value)}',
        )
    array = parse_array(
        value,
        ("upstream",),
        # Up to 4-D as every kind, or the output's own rank (a 5-D group norm, an embedding
        # of 3-D indices).
        ndims=tuple(range(0, max(5, len(output_shape) + 1))),
        what="upstream",
        max_elements=limits.max_elements,
        symbols=(naming or {}).get("declared") or False,
    )
    if array.ndim == 0 and output_shape:
        raise SpecError(
            ("upstream",),
            f'upstream must be shaped like the output {output_name} ({shape_text}), got a single number; use "ones" for all ones',
        )
    if array.shape != output_shape:
        got, want = shape_words(array.shape), shape_words(output_shape)
        raise SpecError(
            ("upstream",),
            f"upstream is {got} but the output {output_name} is {want}; ∂L/∂{output_name} must have the output's shape",
        )
    return array, True


class ExpectedAnswers(dict):
    """Expected answers keyed by result name (each an array in its result's shape), and
    ``readings``: how each answer not written in its result's own shape was read (the note
    core/answers.reading_note gives), by name."""

    readings: dict[str, str]


def read_expected(
    spec: Mapping[str, Any],
    known: Mapping[str, tuple[int, ...] | None],
    limits: Limits,
    *,
    symbols: bool | frozenset[str] = False,
    hints: ResultHints | None = None,
) -> ExpectedAnswers:
    """Expected answers keyed by result name, each shaped like its result.

    ``known`` maps each result name this problem produces to its shape (None:
    not a matrix, e.g. ``output_shape``).  Each answer is read by core/answers.py, the reader
    ``gradcalc check`` grades submissions with: its result's shape, or its entries in
    row-major order as a flat list, one row or one column; any other shape is an error that
    names the mistake.  With ``symbols`` (a problem that holds symbols) answers may be
    formulas in the syntax core/symbolic.py documents.  ``hints``: the kind's own hints for
    a name that is no result (:func:`result_hint`).
    """
    value = spec.get("expected")
    answers = ExpectedAnswers()
    answers.readings = {}
    if value is None:
        return answers
    if not isinstance(value, Mapping):
        raise SpecError(
            ("expected",),
            f"expected must be a mapping of result names to answers, got {describe(value)}",
        )
    for name, answer in value.items():
        path = ("expected", name)
        if name not in known:
            hint = result_hint(str(name), list(known), hints)
            raise SpecError(
                path,
                f"unknown result {name!r}{hint or '.'} This problem's results: {', '.join(known)}",
                at_key=True,
            )
        shape = known[name]
        array = read_answer(answer, path, limits.max_elements, symbols=symbols)
        if shape is not None:
            fitted, how = fit(array, shape)
            if fitted is None:
                got = "×".join(map(str, array.shape)) or "a single number"
                want = "×".join(map(str, shape)) or "a single number"
                raise SpecError(
                    path,
                    f"expected.{name} is {got} but {name} is {want}: "
                    f"{shape_reason(array.shape, shape)}; accepted: {accepted_forms(shape)}",
                )
            array = fitted
            if how:
                answers.readings[str(name)] = reading_note(how, shape)
        answers[str(name)] = array
    return answers


def read_shared(
    spec: Mapping[str, Any],
    known: Mapping[str, tuple[int, ...] | None],
    limits: Limits,
    *,
    symbols: bool | frozenset[str] = False,
) -> dict[str, Any]:
    """The fields every problem carries, read in this order: ``title``, ``index_base``,
    ``expected`` (each answer checked against the ``known`` shapes of the kind's results) and
    ``tolerance``; a kind passes them on with ``Problem(..., **read_shared(...))``."""
    return {
        "title": read_title(spec),
        "index_base": read_index_base(spec),
        "expected": read_expected(spec, known, limits, symbols=symbols),
        "tolerance": read_tolerance(spec),
    }
