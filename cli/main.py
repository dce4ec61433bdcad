"""The ``gradcalc`` command line: parse options, call the core, render.

Everything that can go wrong with a spec arrives here as a named exception and
leaves as one line, ``FILE:LINE:COL: message``, with exit status 2.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from gradcalc.core import __version__
from gradcalc.core.errors import FocusError, GradcalcError, SpecError, format_path
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.spec import Limits, SolveOptions

# Sections every command can show besides its op's own (see core/<op>.py SECTIONS).
CLI_SECTIONS = ("results", "checks")
DEFAULT_STEPS = 12
AUTO_STEPS = "auto"


class StepsType(click.ParamType):
    """``--steps 20``, ``--steps all``, or ``auto`` (the default): 12 rows per section in
    the terminal, every row in a Markdown or LaTeX write-up (resolved by ``steps_for``)."""

    name = "N|all"

    def convert(self, value: Any, param, ctx) -> int | str | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return None
        if text == AUTO_STEPS:
            return AUTO_STEPS
        if text.isascii() and text.isdigit() and (len(text) == 1 or text[0] != "0"):
            return int(text)  # ASCII digits, no leading zeros: as every number is read
        self.fail(f"{value!r} is not a number of rows or 'all'", param, ctx)


class WholeNumber(click.IntRange):
    """An integer option read as every integer field is (core/values.py parse_int): 1000,
    1e3 and 1000.0 alike; "１", "1_000" and "010" refused with their fix (click's int() read
    them as 1, 1000 and 10)."""

    def convert(self, value: Any, param, ctx) -> Any:
        if isinstance(value, str):
            from gradcalc.core.values import parse_int

            try:
                value = parse_int(value, (), what="a whole number")
            except SpecError as error:
                self.fail(error.message, param, ctx)
        return super().convert(value, param, ctx)


def steps_for(params: dict[str, Any]) -> int | None:
    """Rows shown per section: --steps as given, else all of them in a document (a write-up
    shows every step) and DEFAULT_STEPS in the terminal."""
    steps = params["steps"]
    if steps != AUTO_STEPS:
        return steps
    return None if params["output_format"] in ("markdown", "latex") else DEFAULT_STEPS


def _error_line(error: GradcalcError, loaded) -> str:
    """``FILE:LINE:COL: field: message`` for any error the core or loader raised."""
    from gradcalc.cli.spec_loader import SpecFileError

    if isinstance(error, SpecFileError):
        return str(error)
    if isinstance(error, SpecError):
        where = loaded.where(error.path, at_key=error.at_key) if loaded is not None else "<spec>"
        field = f"{format_path(error.path)}: " if error.path else ""
        return f"{where}: {field}{error.message}"
    return f"gradcalc: {error}"


def echo_error(message: str) -> None:
    """Print an error line on stderr, its control characters written out (a file name or a
    spec's text may hold an escape sequence); a stderr that cannot be written is left be."""
    from gradcalc.cli.safe_text import visible

    try:
        click.echo(visible(message), err=True)
    except OSError:
        pass


def fail(message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
    echo_error(message)
    sys.exit(int(status))


def complete_path(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of a file argument: the shell lists the files (see README: completion)."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="file")]


def common_options(command: Callable) -> Callable:
    """Options every problem command shares."""
    from gradcalc.core.registry import focus_kinds

    options = [
        click.option(
            "--spec",
            "spec_path",
            metavar="FILE",
            default=None,
            shell_complete=complete_path,
            help="The YAML problem spec to solve ('-' reads standard input); "
            "optional when the spec's fields are given as options (below).",
        ),
        click.option(
            "--format",
            "output_format",
            type=click.Choice(["table", "json", "markdown", "latex"]),
            default="table",
            show_default=True,
            help="table: step-by-step tables; json: the machine-readable contract; "
            "markdown, latex: blocks to paste into a write-up.",
        ),
        click.option(
            "--steps",
            type=StepsType(),
            default=AUTO_STEPS,
            show_default=f"{DEFAULT_STEPS} in a table, all in markdown and latex",
            help="Rows shown per section (a number, or 'all').",
        ),
        click.option(
            "--show",
            "show",
            metavar="SECTIONS",
            default=None,
            help="Comma-separated sections to show (default: all); each kind lists its own at "
            "the end of `gradcalc KIND --help`.",
        ),
        click.option("--decimal", is_flag=True, help="Print fractions as decimals (1/4 -> 0.25)."),
        click.option(
            "--precision",
            type=WholeNumber(1, 17),
            default=6,
            show_default=True,
            help="Significant digits for decimals.",
        ),
        click.option(
            "--no-color", is_flag=True, help="Plain text without colors (also: NO_COLOR=1)."
        ),
        click.option(
            "--export",
            metavar="FILE",
            default=None,
            help="Also write the report, in color, to FILE (.html page or .svg image) to share; "
            "an existing FILE is replaced only if it is an earlier export (or with --force).",
        ),
        click.option(
            "--force",
            is_flag=True,
            help="Let --export replace an existing file that is not an earlier export.",
        ),
        click.option(
            "--float",
            "force_float",
            is_flag=True,
            help="Compute in float64 even when exact arithmetic is possible.",
        ),
        click.option(
            "--no-gradient-check",
            is_flag=True,
            help="Skip the finite-difference check of the backward pass.",
        ),
        click.option(
            "--max-elements",
            type=WholeNumber(1),
            default=Limits.max_elements,
            show_default=True,
            help="Largest number of entries in any one array of the spec.",
        ),
        click.option(
            "--max-work",
            type=WholeNumber(1),
            default=Limits.max_work,
            show_default=True,
            help="Largest number of multiply-adds one forward pass may need.",
        ),
        click.option(
            "--max-jacobian",
            type=WholeNumber(0),
            default=Limits.max_jacobian,
            show_default=True,
            help="Largest Jacobian (entries) that is built and shown.",
        ),
        click.option(
            "--traceback",
            is_flag=True,
            help="On an error, show the Python traceback too (for debugging).",
        ),
        click.option(
            "--focus",
            metavar="WHAT",
            default=None,
            help=f"{', '.join(focus_kinds())}: draw what one element reads or feeds. "
            "'output[1,0]' marks the input "
            "cells output (1,0) reads (its window: stride, dilation, padding); 'input[2,1]' marks "
            "the outputs input (2,1) feeds. The spec's symbols work too ('H[1,0]'). Indices "
            "count from the spec's index_base; with batch/channels give every index "
            "('output[0,1,0]') or only row and column (the others: the first). Shows just the focus "
            "unless --show names more sections.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


# Set by `gradcalc run` with several specs: one JSON document per line (JSON Lines).
JSON_LINES = "json_lines"


def render(
    solution, command_kind: str, sections: frozenset[str] | None, params: dict[str, Any]
) -> None:
    """Print the solution in the chosen format (the whole output is built before it is printed)."""
    if params["output_format"] == "json":
        from gradcalc.cli.render_json import render_json
        from gradcalc.cli.safe_text import json_visible

        click.echo(json_visible(render_json(solution, one_line=params.get(JSON_LINES, False))))
        return
    if params["output_format"] in ("markdown", "latex"):
        from gradcalc.cli.render_doc import render_document
        from gradcalc.cli.safe_text import visible

        # LaTeX writes control characters out in its own, compilable way (render_latex.text).
        click.echo(visible(render_document(solution, command_kind, sections, params)), nl=False)
        return
    from rich.console import Console

    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_table import TableRenderer

    # --no-color and NO_COLOR (any non-empty value, no-color.org) mean plain text: no colors,
    # and no bold or dim either (Rich's own NO_COLOR handling keeps those).
    plain = bool(params["no_color"] or os.environ.get("NO_COLOR"))
    console = Console(no_color=True if plain else None, highlight=False, emoji=False)
    style = NumberStyle(decimal=params["decimal"], precision=params["precision"])
    renderer = TableRenderer(
        console, style, sections, truncate=params["steps"] is not None, plain=plain
    )
    renderer.render(solution, command_kind)
    if params["export"] is not None:
        from gradcalc.cli.export import export_report

        export_report(params, renderer, solution, command_kind)


def run_problem_command(command_kind: str, **params: Any) -> None:
    """Load, solve and render one spec; exit 0 (all match), 1 (mismatch) or 2 (error)."""
    from gradcalc.cli.inline import load_problem
    from gradcalc.core import registry

    loaded = None
    traceback_wanted = params["traceback"]
    params["steps"] = steps_for(params)
    try:
        known_sections = (*registry.OPS[command_kind].sections, *CLI_SECTIONS)
        sections = None
        if params["show"]:
            sections = frozenset(s.strip() for s in params["show"].split(",") if s.strip())
            unknown = sorted(sections - set(known_sections))
            if unknown:
                fail(
                    f"gradcalc {command_kind}: unknown section {unknown[0]!r} in --show; "
                    f"allowed: {', '.join(known_sections)}"
                )
        if params["export"] is not None:
            from gradcalc.cli.export import REPORT, check_export

            if REPORT not in params:  # run and examples checked it before their specs
                check_export(command_kind, params)
        focus = params.get("focus")
        if focus is not None:
            # The focus alone, unless --show asks for more.
            sections = (sections or frozenset()) | {"focus"}
        limits = Limits(
            max_elements=params["max_elements"],
            max_work=params.get("max_work", Limits.max_work),
            max_jacobian=params.get("max_jacobian", Limits.max_jacobian),
        )
        options = SolveOptions(
            steps=params["steps"],
            sections=sections,
            gradient_check=not params["no_gradient_check"]
            and (sections is None or "checks" in sections or params["output_format"] == "json"),
            force_float=params.get("force_float", False),
            limits=limits,
        )
        loaded = load_problem(
            command_kind, params, max_values=max(params["max_elements"] * 2, 1000)
        )
        solution = registry.solve(loaded.data, options, command_kind=command_kind, focus=focus)
        render(solution, command_kind, sections, params)
    except GradcalcError as error:
        if traceback_wanted:
            import traceback

            traceback.print_exc()
        if isinstance(error, FocusError):
            fail(f"gradcalc {command_kind} --focus: {error}")
        fail(_error_line(error, loaded))
    except RecursionError:
        fail(f"{params['spec_path']}: the spec is nested too deeply to read")
    except MemoryError:
        fail(
            f"{params['spec_path']}: the problem needs more memory than this machine has; lower its size"
        )
    except Exception as error:  # a bug: still one line unless --traceback
        if _output_error(error):
            raise  # not a bug: standard output is full or gone (LazyGroup.main says so)
        if traceback_wanted:
            raise
        fail(
            f"gradcalc: internal error: {type(error).__name__}: {error} (this is a bug; rerun with --traceback and report it)"
        )

    sys.exit(int(solution.exit_status))


EXIT_CODES_HELP = """\b
Exit codes: 0 every expected answer matches; 1 an expected answer does not
match; 2 usage or spec error (one line: FILE:LINE:COL: message)."""


def _usage_line(error: click.ClickException, command: str) -> str:
    """A Click usage error as one line like gradcalc's others:
    ``gradcalc conv: --precision: 18 is not in the range 1<=x<=17 (see gradcalc conv --help)``.
    ``command``: the command the arguments name, for an error that does not say."""
    ctx = getattr(error, "ctx", None)
    if ctx is not None:
        names = []
        while ctx is not None:
            names.append(ctx.info_name or "")
            ctx = ctx.parent
        command = " ".join(["gradcalc", *reversed(names[:-1])])  # the root as the user calls it
    message = error.format_message()
    if isinstance(error, click.BadParameter) and not isinstance(error, click.MissingParameter):
        hint = error.param_hint
        if hint is None and error.param is not None:
            hint = getattr(error.param, "opts", None) or error.param.human_readable_name
        if isinstance(hint, str):
            hint = [hint]
        if hint:
            where = "/".join(str(h).strip("'\"") for h in hint)
            message = f"{where}: {error.message}"
    message = " ".join(message.split()).rstrip(".")
    if message[:1].isupper() and message[1:2].islower():  # "No such option" -> "no such option"
        message = message[0].lower() + message[1:]
    hint = f" (see {command} --help)" if isinstance(error, click.UsageError) else ""
    return f"{command}: {message}{hint}"


# How writing to standard output fails: a full disk or /dev/full, an I/O error, a file too
# large, a closed or non-blocking descriptor.  (Errors about named files carry the file name.)
_WRITE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EBADF, errno.EAGAIN, errno.EPIPE}
)


def _output_error(error: BaseException) -> bool:
    """``error`` is standard output failing, not a bug."""
    return isinstance(error, OSError) and error.errno in _WRITE_ERRNOS and error.filename is None


def _silence_stdout() -> None:
    """After a failed write, point standard output at /dev/null: what is still buffered there
    would otherwise fail again when Python exits, with a message and exit status 120."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (CliRunner)
        return
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, descriptor)
    os.close(null)


class LazyGroup(click.Group):
    """A group whose commands are built the first time they are needed.

    Building a problem command means creating its ~30 options, and ``check``
    and the authoring commands import their own modules: together that would
    cost more than gradcalc's whole start-up budget.  So each command is a
    factory here, run only for the command invoked (or for ``--help``).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.factories: dict[str, Callable[[], click.Command]] = {}

    def lazy(self, name: str, factory: Callable[[], click.Command]) -> None:
        self.factories[name] = factory

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.factories})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.factories:
            self.add_command(self.factories[name](), name)
        return self.commands.get(name)

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """The one boundary of every command: Click's usage errors as one line (exit 2), and
        standard output that cannot be written (``> /dev/full``) as one line (exit 2) instead of
        a traceback.  A closed pipe (``| head -1``) ends gradcalc quietly, as Click does."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            status = super().main(*args, standalone_mode=False, **kwargs)
        except click.ClickException as error:
            arguments = kwargs.get("args", args[0] if args else None)
            echo_error(_usage_line(error, self.command_named(arguments)))
            status = error.exit_code
        except click.Abort:
            echo_error("gradcalc: aborted")
            status = 1
        except SystemExit as done:
            status = done.code
        except OSError as error:
            if not _output_error(error):
                raise
            status = self.output_failed(error)
        if status is None:
            status = 0
        try:
            sys.stdout.flush()  # the last of the output, if any is still buffered
        except OSError as error:
            status = self.output_failed(error)
        except (AttributeError, ValueError):  # no standard output at all, or closed
            pass
        sys.exit(status)

    def command_named(self, arguments: Sequence[str] | None) -> str:
        """``gradcalc random conv`` for the arguments ``random conv --seed``: the (sub)command
        they call, as far as it is known."""
        names, command = ["gradcalc"], self
        for argument in sys.argv[1:] if arguments is None else arguments:
            if not isinstance(command, click.Group):
                break
            command = command.get_command(click.Context(command), argument)
            if command is None:
                break
            names.append(argument)
        return " ".join(names)

    @staticmethod
    def output_failed(error: OSError) -> int:
        _silence_stdout()
        echo_error(f"gradcalc: cannot write to standard output: {error.strerror or error}")
        return int(ExitStatus.ERROR)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="gradcalc")
def main() -> None:
    """gradcalc: work out gradients of small deep-learning problems step by step.

    Each command reads a YAML problem spec, computes the forward and backward
    pass exactly, and prints every step: sizes, sums of products, Jacobians,
    partial derivatives, and checks against the spec's expected answers.

    \b
    Example:
      gradcalc conv --spec problems/task3.yaml
    """
    import signal

    if hasattr(signal, "SIGPIPE"):
        # `gradcalc run *.yaml | head` ends like any Unix tool when the reader stops reading,
        # instead of a BrokenPipeError reported as an internal error.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)


def _problem_command(kind: str) -> click.Command:
    """The command for one registered kind, with the shared options and its inline fields."""
    from gradcalc.cli.inline import field_options
    from gradcalc.core.registry import OPS

    entry = OPS[kind]
    sections = ", ".join((*entry.sections, *CLI_SECTIONS))
    lines = (*entry.examples, f"{entry.examples[0]} --export report.html")
    examples = "\n".join(f"  {line}" for line in lines)
    epilog = (
        f"\b\nExamples:\n{examples}\n\n\b\nSections for --show:\n  {sections}\n\n{EXIT_CODES_HELP}"
    )

    def command(**params: Any) -> None:
        run_problem_command(kind, **params)

    command.__doc__ = f"{entry.summary}\n\n{entry.description}"
    built = click.command(kind, epilog=epilog, short_help=entry.summary)(
        common_options(field_options(entry)(command))
    )
    built.params = [p for p in built.params if p.name not in entry.unused_options]
    return built


def _check_command() -> click.Command:
    from gradcalc.cli.check import check

    return check


def _authoring_command(name: str) -> click.Command:
    """``run``/``examples`` (cli.runner), ``schema``/``new`` (cli.authoring): each module
    registers its commands on a group; take the one asked for."""
    from gradcalc.cli import authoring, runner

    scratch = click.Group()
    runner.add_commands(scratch)
    authoring.add_commands(scratch)
    return scratch.commands[name]


# Names of the commands cli.runner and cli.authoring define (kept here so listing them imports nothing).
AUTHORING_COMMANDS = ("run", "examples", "schema", "new")


def _random_command() -> click.Command:
    from gradcalc.cli.practice import random_group

    return random_group()


def _register_commands(group: LazyGroup) -> None:
    from gradcalc.core.registry import OPS

    for kind in OPS:
        group.lazy(kind, functools.partial(_problem_command, kind))
    group.lazy("check", _check_command)
    for name in AUTHORING_COMMANDS:
        group.lazy(name, functools.partial(_authoring_command, name))
    group.lazy("random", _random_command)


_register_commands(main)


if __name__ == "__main__":  # pragma: no cover
    main()
