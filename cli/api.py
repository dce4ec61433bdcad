"""gradcalc from Python: ``gradcalc.solve`` and ``gradcalc.check`` (re-exported by the package).

The same pipeline as the commands, without a terminal: ``solve`` reads a spec (a file path,
YAML text or a dict), solves it and returns a :class:`Worked` problem whose results are NumPy
arrays and which renders itself as text, Markdown, LaTeX, JSON or HTML (so a Jupyter cell
shows the worked steps); ``check`` runs ``gradcalc check`` in this process and returns its
report.  Every error about a spec or an option raises :class:`ProblemError`, with the
message the command would print.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
from collections.abc import Iterable, Mapping
from fractions import Fraction
from typing import Any

from gradcalc.cli.errors import Failure
from gradcalc.cli.options import DOCUMENT_ROWS, RunOptions
from gradcalc.core.errors import FieldPath, GradcalcError, SpecError
from gradcalc.core.outcome import ExitStatus, Solution
from gradcalc.core.spec import Limits, SolveOptions


class ProblemError(ValueError):
    """A spec or an option gradcalc cannot take.

    ``str(error)`` is the line the command prints (``task.yaml:3:10: padding: …``);
    ``path`` is the field path of the value at fault (``("padding",)``, ``("layers", 2,
    "size")``; empty when the error is not about one field), ``message`` the text after it.
    """

    def __init__(self, line: str, path: FieldPath = (), message: str = "") -> None:
        super().__init__(line)
        self.path: FieldPath = tuple(path)
        self.message = message or line


class Worked:
    """A solved problem: its results, checks and every step, in any of gradcalc's formats.

    ``results`` maps each result name (``output``, ``grad_input``, ``conv1.grad_kernel``…) to
    a NumPy array: an object array of ``fractions.Fraction`` when ``exact``, else float64
    (``argmax`` and other index results: arrays of ints).  ``ok`` is True when every
    expected answer and the finite-difference check passed; ``exit_status`` is the
    command's exit status (0 or 1).
    """

    def __init__(
        self,
        solution: Solution,
        kind: str,
        options: RunOptions,
        sections: frozenset[str] | None = None,
    ) -> None:
        self.solution = solution
        self.kind = kind
        self._options = options
        self._shown = sections  # the sections built (None: all)

    @functools.cached_property
    def results(self) -> dict[str, Any]:
        return {name: _as_array(value) for name, value in self.solution.results.items()}

    @property
    def exact(self) -> bool:
        return self.solution.exact

    @property
    def title(self) -> str | None:
        return self.solution.title

    @property
    def conventions(self) -> list[str]:
        return [str(item) for item in self.solution.conventions]

    @property
    def checks(self) -> list[Any]:
        """The expected answers compared (core.outcome.Check: ``name``, ``ok``, ``wrong``…)."""
        return list(self.solution.checks)

    @property
    def exit_status(self) -> int:
        return int(self.solution.exit_status)

    @property
    def ok(self) -> bool:
        return self.solution.exit_status == ExitStatus.OK

    def _style(self) -> Any:
        from gradcalc.cli.numbers import NumberStyle

        return NumberStyle(decimal=self._options.decimal, precision=self._options.precision)

    def to_text(self, width: int = 100) -> str:
        """The terminal report, without colors, ``width`` columns wide."""
        from rich.console import Console

        from gradcalc.cli.render_table import TableRenderer

        console = Console(
            file=io.StringIO(), width=width, no_color=True, highlight=False, emoji=False
        )
        renderer = TableRenderer(console, self._style(), self._shown, plain=True, width=width)
        with console.capture() as capture:
            renderer.render(self.solution, self.kind)
        return capture.get()

    def to_markdown(self) -> str:
        from gradcalc.cli.render_markdown import MarkdownRenderer

        return MarkdownRenderer(self._style(), self._shown).render(self.solution, self.kind)

    def to_latex(self) -> str:
        from gradcalc.cli.render_latex import LatexRenderer

        return LatexRenderer(self._style(), self._shown).render(self.solution, self.kind)

    def to_json(self) -> str:
        """The JSON document ``--format json`` prints (docs/json.md)."""
        from gradcalc.cli.render_json import render_json

        return render_json(self.solution)

    def to_html(self) -> str:
        """The colored report as an HTML fragment (a ``<pre>`` block with inline styles)."""
        from rich.console import Console

        from gradcalc.cli.export import Report
        from gradcalc.cli.render_table import TableRenderer

        quiet = Console(file=io.StringIO(), no_color=True)
        renderer = TableRenderer(quiet, self._style(), self._shown)
        report = Report("worked.html")
        report.add(renderer, self.solution, self.kind)
        page = report.document()
        start, end = page.find("<body>"), page.rfind("</body>")
        return page[start + len("<body>") : end].strip() if start >= 0 and end > start else page

    def _repr_markdown_(self) -> str:
        return self.to_markdown()

    def _repr_html_(self) -> str:
        return self.to_html()

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        title = f" {self.title!r}" if self.title else ""
        verdict = "ok" if self.ok else "MISMATCH"
        return (
            f"<gradcalc.Worked {self.kind}{title}: {len(self.solution.results)} results, {verdict}>"
        )


def solve(
    spec: str | os.PathLike[str] | Mapping[str, Any],
    *,
    kind: str | None = None,
    steps: int | str | None = "auto",
    show: str | Iterable[str] | None = None,
    brief: bool = False,
    focus: str | None = None,
    force_float: bool = False,
    decimal: bool = False,
    precision: int = 6,
    gradient_check: bool = True,
    limits: Limits | None = None,
    **fields: Any,
) -> Worked:
    """Solve one problem, as ``gradcalc KIND --spec SPEC`` does.

    ``spec``: a path to a YAML spec, YAML text (anything with a newline or a ``kind:``), or a
    dict of the spec's keys (numbers as int, Fraction, float read through its shortest
    repr, or text like "1/3"; NumPy arrays are taken as nested lists).  ``fields`` set or
    override spec keys (``stride=2``).  ``kind`` is the command (default: the spec's
    ``kind``).  ``steps``: rows per section (an int, "all", or "auto": every row up to
    1,000 a section).  ``show``: the sections to build (as ``--show``); ``brief``: the
    heading, results and checks only (as ``--brief``; the same as ``show=("results",
    "checks")``, so ``to_json()`` then has Jacobians only where ``expected`` asks for them;
    not with ``show`` or ``focus``).  The other options
    are the command's (``force_float`` is ``--float``).  Raises ProblemError.
    """
    from gradcalc.cli.problem_command import shown_sections
    from gradcalc.core import registry

    loaded, data = _read(spec, fields)
    command = kind or str(data.get("kind", ""))
    if command not in registry.OPS:
        line = f"kind: {registry.unknown_kind(command)}" if command else "the spec has no kind"
        raise ProblemError(f"{_source(spec)}: {line}", ("kind",), line)
    rows, cap = _steps(steps)
    if not isinstance(show, str) and show is not None:
        show = ",".join(show)
    options = RunOptions(
        steps=rows,
        row_cap=cap,
        show=show,
        brief=brief,
        focus=focus,
        decimal=decimal,
        precision=precision,
        force_float=force_float,
        limits=limits or Limits(),
    )
    try:
        sections = shown_sections(command, options)
        solve_options = SolveOptions(
            steps=rows,
            row_cap=cap,
            sections=sections,
            gradient_check=gradient_check,
            force_float=force_float,
            limits=options.limits,
        )
        solution = registry.solve(data, solve_options, command_kind=command, focus=focus)
    except GradcalcError as error:
        raise _problem_error(error, loaded) from None
    except Failure as failure:
        raise ProblemError(failure.message) from None
    return Worked(solution, command, options, sections)


def check(*paths: str | os.PathLike[str], **options: Any) -> CheckReport:
    """Run ``gradcalc check PATHS…`` in this process and return its report.

    Each keyword is the command's option with ``-`` written ``_``: ``True`` gives a flag
    (``hide_answers=True`` is ``--hide-answers``), ``False`` or None leaves it out, any
    other value is the option's value (``format="json"``, ``jobs=2``).  Raises
    ProblemError for a usage or spec error (exit status 2), with the command's line.
    """
    arguments = ["check", *(os.fspath(path) for path in paths)]
    for name, value in options.items():
        option = "--" + name.replace("_", "-")
        if value is True:
            arguments.append(option)
        elif value is not False and value is not None:
            arguments += [option, str(value)]
    status, out, err = _run_command(arguments)
    if status == ExitStatus.ERROR:
        raise ProblemError(err.strip().splitlines()[0] if err.strip() else "gradcalc check failed")
    return CheckReport(int(status), out, err)


class CheckReport:
    """What ``gradcalc check`` printed: ``text`` (standard output), ``messages`` (standard
    error), ``exit_status`` (0 every answer right, 1 some wrong), ``ok``, and
    ``document``: the parsed JSON when ``format="json"`` was asked for."""

    def __init__(self, exit_status: int, text: str, messages: str) -> None:
        self.exit_status = exit_status
        self.text = text
        self.messages = messages

    @property
    def ok(self) -> bool:
        return self.exit_status == ExitStatus.OK

    @property
    def document(self) -> Any:
        import json

        return json.loads(self.text)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<gradcalc.CheckReport exit status {self.exit_status}>"


# ---------------------------------------------------------------------------------------


def _read(spec: Any, fields: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The loaded spec (for error positions; None for a dict) and its data with ``fields``."""
    from gradcalc.cli.spec_loader import load_file, parse_text

    try:
        if isinstance(spec, Mapping):
            loaded, data = None, {str(key): _plain(value) for key, value in spec.items()}
        elif isinstance(spec, str) and ("\n" in spec or spec.lstrip().startswith("kind:")):
            loaded = parse_text(spec, "<spec>")
            data = dict(loaded.data)
        else:
            loaded = load_file(os.fspath(spec), max_values=RunOptions().max_values)
            data = dict(loaded.data)
    except GradcalcError as error:
        raise _problem_error(error, None) from None
    if not isinstance(data, dict):
        raise ProblemError(f"{_source(spec)}: a spec is a mapping of keys to values")
    data.update({key: _plain(value) for key, value in fields.items()})
    return loaded, data


def _plain(value: Any) -> Any:
    """NumPy arrays and scalars as the nested lists and numbers a YAML file gives."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes, Fraction)):
        return value.tolist()
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _as_array(value: Any) -> Any:
    """A result as a NumPy array; exact entries all Fractions (the exact path leaves some as
    ints where nothing was divided)."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype == object:
        array = np.vectorize(
            lambda x: Fraction(x) if isinstance(x, int) and not isinstance(x, bool) else x,
            otypes=[object],
        )(array)
    return array


def _steps(steps: int | str | None) -> tuple[int | None, int | None]:
    """(rows per section, cap) as RunOptions.from_params resolves ``--steps``."""
    if steps == "auto":
        return None, DOCUMENT_ROWS
    if steps is None or steps == "all":
        return None, None
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ProblemError(
            f"steps: expected a positive number of rows, 'all' or 'auto', got {steps!r}"
        )
    return steps, None


def _source(spec: Any) -> str:
    return "<dict>" if isinstance(spec, Mapping) else "<spec>"


def _problem_error(error: GradcalcError, loaded: Any) -> ProblemError:
    from gradcalc.cli.errors import error_line

    line = error_line(error, loaded)
    if loaded is None and line.startswith("<spec>: ") and isinstance(error, SpecError):
        line = line[len("<spec>: ") :]
    if isinstance(error, SpecError):
        return ProblemError(line, error.path, error.message)
    return ProblemError(line)


def _run_command(arguments: list[str]) -> tuple[int, str, str]:
    """Run a gradcalc command in this process: (exit status, standard output, standard error)."""
    import click

    from gradcalc.cli.main import main  # (sets nothing in the host's environment)

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = main.main(args=arguments, prog_name="gradcalc", standalone_mode=True)
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 2
        except click.exceptions.Exit as exit_:
            status = exit_.exit_code
    return int(status or 0), out.getvalue(), err.getvalue()
