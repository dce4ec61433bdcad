"""The options every problem command shares, and ``RunOptions``: the values given for them.

Click parses the options into a dict once, at the command; ``RunOptions.from_params`` turns
that dict into one frozen object, and everything below the command (solving, rendering,
``--export``) reads that object, never the dict.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import click

from gradcalc.core.errors import SpecError
from gradcalc.core.records import fields, record
from gradcalc.core.spec import Limits

if TYPE_CHECKING:
    from gradcalc.cli.export import Report
    from gradcalc.cli.spec_loader import LoadedSpec

# Sections every command can show besides its op's own (see core/<op>.py SECTIONS).
CLI_SECTIONS = ("results", "checks")
DEFAULT_STEPS = 12
AUTO_STEPS = "auto"
# Rows per section a write-up shows with --steps auto: every row of a problem worked by hand,
# not the 89,401 of a 300×300 pool (110 MB of LaTeX); --steps all insists.
DOCUMENT_ROWS = 1_000
# The formats that are write-ups: --steps auto shows every row in them.
DOCUMENT_FORMATS = ("markdown", "latex")

EXIT_CODES_HELP = """\b
Exit codes: 0 every expected answer matches; 1 an expected answer does not
match; 2 usage or spec error (one line: FILE:LINE:COL: message)."""


@record(frozen=True)
class RunOptions:
    """What one problem command (or ``run``/``examples`` for each spec) was asked to do.

    ``steps`` is already resolved: rows shown per section, None for every row.  The last
    four fields are not options: ``gradcalc run`` sets them for each spec it solves.
    """

    output_format: str = "table"
    steps: int | None = DEFAULT_STEPS
    # With steps None: the rows a section shows at most (None: all): --steps auto in a write-up.
    row_cap: int | None = None
    show: str | None = None  # --show as given: comma-separated sections
    brief: bool = False  # --brief: the heading, the results and the checks (not in JSON)
    focus: str | None = None
    decimal: bool = False
    precision: int = 6
    no_color: bool = False
    width: int | None = None  # --width: the table's lines fit this (None: the console's width)
    export: str | None = None
    force: bool = False
    force_float: bool = False
    gradient_check: bool = True
    limits: Limits = Limits()
    traceback: bool = False
    spec_path: str | None = None
    # The spec's fields given as options (``--stride 2``): spec key -> the option's text.
    inline: Mapping[str, str] = MappingProxyType({})
    json_lines: bool = False  # JSON: one document per line (run with several specs)
    preloaded: LoadedSpec | None = None  # the spec run has read already (stdin is read once)
    report: Report | None = None  # the --export file run/examples share across their specs
    layer: str | None = None  # kind net: --layer NAME, the one layer explained
    values: bool = False  # --format dot: --values labels each node with its numbers

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunOptions:
        """The options of Click's ``params`` (a kind may leave some out: their defaults)."""
        from gradcalc.cli.inline import inline_values

        output_format = params["output_format"]
        steps = params["steps"]
        row_cap = None
        if steps == AUTO_STEPS:
            # Every step in a write-up (up to DOCUMENT_ROWS a section), DEFAULT_STEPS in the
            # terminal.
            document = output_format in DOCUMENT_FORMATS
            steps = None if document else DEFAULT_STEPS
            row_cap = DOCUMENT_ROWS if document else None
        return cls(
            output_format=output_format,
            steps=steps,
            row_cap=row_cap,
            show=params["show"],
            brief=params.get("brief", False),
            focus=params.get("focus"),
            decimal=params["decimal"],
            precision=params["precision"],
            no_color=params["no_color"],
            width=params.get("width"),
            export=params["export"],
            force=params["force"],
            force_float=params.get("force_float", False),
            gradient_check=not params["no_gradient_check"],
            limits=Limits(
                max_elements=params["max_elements"],
                max_work=params.get("max_work", Limits.max_work),
                max_jacobian=params.get("max_jacobian", Limits.max_jacobian),
            ),
            traceback=params["traceback"],
            spec_path=params.get("spec_path"),
            inline=MappingProxyType(inline_values(params)),
            layer=params.get("layer"),
            values=params.get("values", False),
        )

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes``."""
        return type(self)(**{**{name: getattr(self, name) for name in fields(self)}, **changes})

    @property
    def max_values(self) -> int:
        """Numbers a spec file may hold in all (its arrays are checked one by one later)."""
        return max(self.limits.max_elements * 2, 1000)


# --width's range: below MIN_WIDTH a worked sum would hold a term or two a line.
MIN_WIDTH, MAX_WIDTH = 40, 10_000


class StepsType(click.ParamType):
    """``--steps 20``, ``--steps all``, or ``auto`` (the default): 12 rows per section in
    the terminal, every row (up to DOCUMENT_ROWS) in a Markdown or LaTeX write-up (resolved by
    ``RunOptions.from_params``)."""

    name = "N|all"

    def convert(self, value: Any, param, ctx) -> int | str | None:
        if value is None or isinstance(value, int):
            return value
        text = str(value).strip().lower()
        if text == "all":
            return None
        if text == AUTO_STEPS:
            return AUTO_STEPS
        from gradcalc.core.values import parse_int

        try:  # as every whole number is read: 20, 2e1 and 20.0 alike; 020, 0x14 refused
            return parse_int(text, (), minimum=0, what="a number of rows")
        except SpecError as error:
            if error.message.startswith("expected"):
                self.fail(f"{value!r} is not a number of rows or 'all'", param, ctx)
            self.fail(error.message, param, ctx)


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


def _as_written(message: str) -> str:
    return message


@contextlib.contextmanager
def untranslated_click_messages() -> Iterator[None]:
    """Within it, the messages Click builds its options with ("Show this message and exit.")
    are passed through as written instead of looked up with gettext.

    Click looks each of its messages up with gettext, and gettext's first lookup imports
    ``locale`` and each one searches for catalogs: about 1 ms of ``gradcalc net``, for the
    three messages a run reaches (gradcalc's own texts are English, as are Click's without a
    catalog installed for them)."""
    decorators = click.decorators
    translate = getattr(decorators, "_", None)
    if translate is None:  # a Click that makes its options otherwise
        yield
        return
    decorators._ = _as_written
    try:
        yield
    finally:
        decorators._ = translate


class UntranslatedHelp:
    """Mixed into a Click command or group: its help option is made without gettext
    (:func:`untranslated_click_messages`)."""

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        with untranslated_click_messages():
            return super().get_help_option(ctx)  # type: ignore[misc]


class Command(UntranslatedHelp, click.Command):
    """A problem command (its help option made without gettext)."""


def complete_path(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """Shell completion of a file argument: the shell lists the files (see docs/options.md: completion)."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(incomplete, type="file")]


def common_options(command: Callable) -> Callable:
    """Options every problem command shares, in the order --help lists them."""
    groups = (_output_options(), _number_and_file_options(), _computation_options())
    for option in reversed([option for group in groups for option in group]):
        command = option(command)
    return command


FORMAT_HELP = (
    "table: step-by-step tables; json: the machine-readable contract; "
    "markdown, latex: blocks to paste into a write-up"
)
# Formats only a net has (--format dot: its computational graph), offered by the commands
# that may solve a net: net, run and examples.
NET_FORMATS = ("dot",)


def offer_net_formats(command: click.Command, *, only_net: bool) -> click.Command:
    """Let ``command``'s --format take dot too (``only_net``: the command solves nets only)."""
    from gradcalc.cli.render import PROBLEM_RENDERERS

    for param in command.params:
        if param.name == "output_format":
            param.type = click.Choice(list(PROBLEM_RENDERERS))
            which = "" if only_net else " (kind net)"
            param.help = (
                f"{FORMAT_HELP}; dot{which}: the net's computational graph as Graphviz DOT "
                "text (--values adds its numbers)."
            )
    return command


def net_options(command: Callable) -> Callable:
    """The options only kind net takes (``gradcalc net``, and ``run``/``examples``, which may
    solve a net): --layer and --values."""
    options = [
        click.option(
            "--layer",
            metavar="NAME",
            default=None,
            help="Kind net: explain only layer NAME (its line of the graph, its forward and "
            "backward sections, the conventions); results and checks stay the whole net's.",
        ),
        click.option(
            "--values",
            is_flag=True,
            help="With --format dot: label each node with its forward values and ∂L/∂(its "
            "output) (and parameter gradients), cut to --steps rows.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _output_options() -> list[Callable]:
    """What to read and what to print: --spec, --format, --steps, --show."""
    from gradcalc.cli.render import PROBLEM_RENDERERS
    from gradcalc.cli.summary import JACOBIAN_CELLS

    return [
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
            type=click.Choice([name for name in PROBLEM_RENDERERS if name not in NET_FORMATS]),
            default="table",
            show_default=True,
            help=FORMAT_HELP + ".",
        ),
        click.option(
            "--steps",
            type=StepsType(),
            default=AUTO_STEPS,
            show_default=f"{DEFAULT_STEPS} in a table, all (up to {DOCUMENT_ROWS:,}) in markdown and latex",
            help="Rows shown per section (a number, or 'all').",
        ),
        click.option(
            "--show",
            "show",
            metavar="SECTIONS",
            default=None,
            help="Comma-separated sections to show (default: all); each kind lists its own at "
            "the end of `gradcalc KIND --help`.  A Jacobian above "
            f"{JACOBIAN_CELLS} entries is one summary line in a table unless --show names "
            "jacobian (or --steps all).",
        ),
        click.option(
            "--brief",
            is_flag=True,
            help="Print the problem's heading, the results and the checks only (table, "
            "markdown, latex; JSON is unchanged): see the examples below.",
        ),
    ]


def _number_and_file_options() -> list[Callable]:
    """How numbers print and where else the report goes: --decimal … --force."""
    return [
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
            "--width",
            type=WholeNumber(MIN_WIDTH, MAX_WIDTH),
            default=None,
            metavar="N",
            help="Fit the table to N columns (default: COLUMNS, else the terminal's width, "
            "else 80).",
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
    ]


def _computation_options() -> list[Callable]:
    """How to compute and what to check: --float, the limits, --traceback, --focus."""
    return [
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
        click.option("--focus", cls=FocusOption, metavar="WHAT", default=None),
    ]


class FocusOption(click.Option):
    """--focus, whose help begins with the kinds it works with: looked up in their catalog
    entries when the help is read, not when a command is made (running one kind reads no
    other kind's entry)."""

    @property
    def help(self) -> str:
        from gradcalc.core.registry import focus_kinds

        return (
            f"{', '.join(focus_kinds())}: draw what one element reads or feeds. "
            "'output[1,0]' marks the input "
            "cells output (1,0) reads (its window: stride, dilation, padding); 'input[2,1]' marks "
            "the outputs input (2,1) feeds. The spec's symbols work too ('H[1,0]'). Indices "
            "count from the spec's index_base; with batch/channels give every index "
            "('output[0,1,0]') or only row and column (the others: the first). Shows just the focus "
            "unless --show names more sections."
        )

    @help.setter
    def help(self, given: str | None) -> None:
        """Click's Parameter sets the help it was given (None): the property above makes it."""
