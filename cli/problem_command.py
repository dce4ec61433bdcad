"""The problem commands (``gradcalc conv``, ``gradcalc pool``, …, one per registered kind),
and what they, ``run`` and ``examples`` do for each spec: load, solve, render.

``run_problem_command`` turns every error about its spec into that spec's one line and
returns the exit status (0 all match, 1 a mismatch, 2 an error), so that ``gradcalc run``
goes on with its other specs; the boundary (cli/main.py) turns the status into the exit.
"""

from __future__ import annotations

from typing import Any

import click

from gradcalc.cli.errors import Failure, echo_error, error_line, fail, is_output_error
from gradcalc.cli.options import (
    CLI_SECTIONS,
    EXIT_CODES_HELP,
    Command,
    RunOptions,
    common_options,
    net_options,
    offer_net_formats,
)
from gradcalc.core.errors import FocusError, GradcalcError, LayerError
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.spec import SolveOptions


def problem_command(kind: str) -> click.Command:
    """The command for one registered kind, with the shared options and its inline fields."""
    from gradcalc.cli.inline import field_options
    from gradcalc.core.registry import OPS, command_name

    entry = OPS[kind]
    sections = ", ".join((*entry.sections, *CLI_SECTIONS))
    lines = (
        *entry.examples,
        f"{entry.examples[0]} --brief",
        f"{entry.examples[0]} --export report.html",
    )
    examples = "\n".join(f"  {line}" for line in lines)
    epilog = (
        f"\b\nExamples:\n{examples}\n\n\b\nSections for --show:\n  {sections}\n\n{EXIT_CODES_HELP}"
    )

    def command(**params: Any) -> ExitStatus:
        return run_problem_command(kind, RunOptions.from_params(params))

    command.__doc__ = f"{entry.summary}\n\n{entry.description}"
    with_fields = field_options(entry)(command)
    if kind == "net":  # listed after the shared options, before the spec's fields
        with_fields = net_options(with_fields)
    built = click.command(command_name(kind), cls=Command, epilog=epilog, short_help=entry.summary)(
        common_options(with_fields)
    )
    built.params = [p for p in built.params if p.name not in entry.unused_options]
    return offer_net_formats(built, only_net=True) if kind == "net" else built


def shown_sections(kind: str, options: RunOptions) -> frozenset[str] | None:
    """The sections to build and show (None: all): --show's, plus the focus when --focus is
    given (the focus alone, unless --show asks for more); an unknown section fails."""
    from gradcalc.core import registry

    known_sections = (*registry.OPS[kind].sections, *CLI_SECTIONS)
    sections = None
    if options.brief:
        return brief_sections(kind, options)
    if options.show:
        sections = frozenset(s.strip() for s in options.show.split(",") if s.strip())
        unknown = sorted(sections - set(known_sections))
        if unknown:
            from gradcalc.core.spec import did_you_mean

            hint = did_you_mean(unknown[0], known_sections)
            fail(
                f"gradcalc {kind}: unknown section {unknown[0]!r} in --show"
                f"{f' ({hint[2:]})' if hint else ''}; allowed: {', '.join(known_sections)}"
            )
    if options.focus is not None:
        sections = (sections or frozenset()) | {"focus"}
    return sections


def brief_sections(kind: str, options: RunOptions) -> frozenset[str] | None:
    """--brief: the results and the checks (the heading is always printed); JSON and the
    graph are unchanged (None and all sections, as without it).  --show or --focus with it
    fail: each picks what is shown."""
    for other, given in (("--show", options.show), ("--focus", options.focus)):
        if given is not None:
            fail(f"gradcalc {kind}: --brief and {other} each choose what is shown; give one")
    if options.output_format in ("json", "dot"):
        return None
    return frozenset(CLI_SECTIONS)


def check_net_options(kind: str, options: RunOptions) -> None:
    """Fail (exit 2) on --layer, --format dot or --values where they mean nothing: --layer and
    --format dot for a kind other than net (``gradcalc run`` and ``examples`` offer them for
    every spec), --values without --format dot, --show with it (the graph has no sections)."""
    dot = options.output_format == "dot"
    if options.layer is not None and kind != "net":
        fail(f"gradcalc {kind}: --layer names a layer of a net; kind {kind} has no layers")
    if dot and kind != "net":
        fail(
            f"gradcalc {kind}: --format dot draws a net's computational graph; kind {kind} "
            "has none (use table, json, markdown or latex)"
        )
    if options.values and not dot:
        fail(f"gradcalc {kind}: --values labels the nodes of the graph; add --format dot")
    if dot and options.show:
        fail(
            f"gradcalc {kind}: --show picks sections of the report; --format dot draws the "
            "graph alone (--values adds its numbers)"
        )


def solve_options(options: RunOptions, sections: frozenset[str] | None) -> SolveOptions:
    """What to build for the format asked: the sections shown, and the finite differences
    when the checks are shown (or in JSON).  The graph (--format dot) shows no section and no
    check line: none is built and the finite differences are skipped (the expected answers
    are still checked, for the exit status)."""
    dot = options.output_format == "dot"
    json = options.output_format == "json"
    shows_checks = sections is None or "checks" in sections or json
    summarised_above = _summarised_above(options, sections)
    if dot:
        sections = frozenset()
    elif json and sections is None:
        # JSON holds the results (Jacobians among them), conventions and checks, no
        # section: build none but the Jacobians (on a big problem the sections cost seconds).
        sections = frozenset({"jacobian"})
    return SolveOptions(
        steps=options.steps,
        row_cap=options.row_cap,
        sections=sections,
        gradient_check=options.gradient_check and shows_checks and not dot,
        force_float=options.force_float,
        limits=options.limits,
        layer=options.layer,
        summarised_above=summarised_above,
    )


def _summarised_above(options: RunOptions, sections: frozenset[str] | None) -> int | None:
    """The entries above which the table report summarises a Jacobian section in one note
    (cli/summary.py summary_limit), told to the solve, which may then build such a section
    as that note; None for every other report (each shows it whole)."""
    if options.output_format != "table":
        return None
    from gradcalc.cli.summary import summary_limit

    return summary_limit(sections, options.steps)


def run_problem_command(kind: str, options: RunOptions) -> ExitStatus:
    """Load, solve and render one spec; its status: 0 (all match), 1 (mismatch) or 2 (an
    error, said in one line on standard error).

    The garbage collector is paused meanwhile: a spec's run imports its kinds' modules
    (some 70 for a net) and makes thousands of records, and the collections their
    allocations set off (twenty-odd for ``gradcalc net``) walk them all to free nothing:
    the run makes no reference cycles but SymPy's few (a symbolic net: some 2,000 objects),
    which the collections after it free (``gradcalc run`` of many specs included)."""
    import gc

    collecting = gc.isenabled()
    gc.disable()
    try:
        return _load_solve_render(kind, options)
    finally:
        if collecting:
            gc.enable()


def _load_solve_render(kind: str, options: RunOptions) -> ExitStatus:
    from gradcalc.cli.inline import load_problem
    from gradcalc.cli.render import render
    from gradcalc.core import registry

    loaded = None
    try:
        check_net_options(kind, options)
        sections = shown_sections(kind, options)
        if options.export is not None and options.report is None:
            from gradcalc.cli.export import check_export

            check_export(kind, options)  # run and examples checked it before their specs
        loaded = load_problem(
            kind,
            options.spec_path,
            options.inline,
            max_values=options.max_values,
            preloaded=options.preloaded,
        )
        solution = registry.solve(
            loaded.data, solve_options(options, sections), command_kind=kind, focus=options.focus
        )
        render(solution, kind, sections, options)
    except Failure as failure:
        echo_error(failure.message)
        return failure.status
    except GradcalcError as error:
        if options.traceback:
            import traceback

            traceback.print_exc()
        if isinstance(error, FocusError):
            return _failed(f"gradcalc {kind} --focus: {error}")
        if isinstance(error, LayerError):
            return _failed(f"gradcalc {kind} --layer: {error}")
        return _failed(error_line(error, loaded))
    except RecursionError:
        return _failed(f"{options.spec_path}: the spec is nested too deeply to read")
    except MemoryError:
        return _failed(
            f"{options.spec_path}: the problem needs more memory than this machine has; lower its size"
        )
    except Exception as error:  # a bug: still one line unless --traceback
        if is_output_error(error):
            raise  # not a bug: standard output is full or gone (LazyGroup.main says so)
        if options.traceback:
            raise
        return _failed(
            f"gradcalc: internal error: {type(error).__name__}: {error} (this is a bug; rerun with --traceback and report it)"
        )
    return solution.exit_status


def _failed(message: str) -> ExitStatus:
    echo_error(message)
    return ExitStatus.ERROR
