"""``gradcalc run SPEC...`` and ``gradcalc examples [NAME]``: solve specs of any kind.

Both dispatch on each spec's ``kind`` and then do exactly what ``gradcalc KIND
--spec FILE`` does, with the same options (all but ``--spec``).  The exit status
is the worst of the specs' (0 all matched, 1 a mismatch, 2 an error).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from gradcalc.cli.errors import echo_error, error_line, fail
from gradcalc.cli.options import (
    EXIT_CODES_HELP,
    RunOptions,
    common_options,
    complete_path,
    net_options,
    offer_net_formats,
)
from gradcalc.core.outcome import ExitStatus


def _without_spec_option(command: Any) -> Any:
    command.__click_params__ = [
        param for param in command.__click_params__ if param.name != "spec_path"
    ]
    return command


def run_spec(path: str, options: RunOptions) -> ExitStatus:
    """Solve and render one spec file whatever its kind; its exit status."""
    from gradcalc.cli.problem_command import run_problem_command
    from gradcalc.cli.spec_loader import load_file
    from gradcalc.core.errors import GradcalcError
    from gradcalc.core.registry import spec_kind

    loaded = None
    try:
        loaded = load_file(path, max_values=options.max_values)
        kind = spec_kind(loaded.data, None)
    except GradcalcError as error:
        echo_error(error_line(error, loaded))
        return ExitStatus.ERROR
    return run_problem_command(kind, options.replace(spec_path=path, preloaded=loaded))


def find_example(name: str) -> Path:
    """The bundled problem called ``name`` (its file name without .yaml, or a unique prefix);
    LookupError says why none is."""
    from gradcalc.core.spec import did_you_mean
    from gradcalc.problems import bundled

    problems = {path.stem: path for path in bundled()}
    stem = name.removesuffix(".yaml")
    if stem in problems:
        return problems[stem]
    starting = [s for s in problems if s.startswith(stem)]
    if len(starting) == 1:
        return problems[starting[0]]
    if starting:
        raise LookupError(f"{name!r} could be {', '.join(starting)}; give more of the name")
    hint = did_you_mean(stem, list(problems))
    raise LookupError(f"no bundled problem {name!r}{hint or '.'} `gradcalc examples` lists them")


def example_rows() -> list[dict[str, str]]:
    """Name, kind and title of every bundled problem."""
    from gradcalc.cli.spec_loader import load_file
    from gradcalc.problems import bundled

    rows = []
    for path in bundled():
        data = load_file(str(path)).data
        rows.append(
            {
                "name": path.stem,
                "kind": str(data.get("kind", "")),
                "title": str(data.get("title") or ""),
                "path": str(path),
            }
        )
    return rows


def add_commands(group: click.Group) -> None:
    """Register ``run`` and ``examples`` on the main group."""

    @group.command(
        "run",
        short_help="Solve spec files of any kind (dispatches on each spec's `kind`).",
        epilog=(
            "\b\nExamples:\n  gradcalc run problems/task3.yaml problems/seed002_max_pool.yaml\n"
            "  cat spec.yaml | gradcalc run -\n"
            "  gradcalc run problems/*.yaml --export reports.html\n\n" + EXIT_CODES_HELP
        ),
    )
    @click.argument(
        "specs", nargs=-1, required=True, metavar="SPEC...", shell_complete=complete_path
    )
    @_without_spec_option
    @common_options
    @net_options
    def run(specs: tuple[str, ...], **params: Any) -> ExitStatus:
        """Solve each SPEC file ('-' reads standard input) with the command its `kind` names.

        Takes the options of the problem commands.  With several specs the
        reports follow one another (JSON: JSON Lines, one document per line);
        --export writes them all into one file (specs that fail to load are left out).
        """
        options = RunOptions.from_params(params).replace(json_lines=len(specs) > 1)
        report = None
        if options.export is not None:
            from gradcalc.cli.export import Report, check_export

            check_export("run", options, inputs=specs)
            report = Report(options.export)
            options = options.replace(report=report)
        status = ExitStatus.OK
        for i, path in enumerate(specs):
            if i and options.output_format != "json":
                click.echo()
            status = max(status, run_spec(path, options))
        if report is not None and report.titles:  # specs that failed to load are not in it
            report.save("run")
        return status

    @group.command(
        "examples",
        short_help="List the bundled example problems, or solve one by name.",
        epilog=(
            "\b\nExamples:\n  gradcalc examples\n  gradcalc examples task3\n"
            "  gradcalc examples seed002_max_pool --format json\n"
            "  gradcalc examples task3 --export task3.svg\n\n" + EXIT_CODES_HELP
        ),
    )
    @click.argument("name", required=False)
    @_without_spec_option
    @common_options
    @net_options
    def examples(name: str | None, **params: Any) -> ExitStatus:
        """Without NAME, list the bundled problems with their kind and title;
        with NAME, solve that problem (the options are those of the problem commands)."""
        options = RunOptions.from_params(params)
        path = None
        if name is not None:
            try:
                path = find_example(name)
            except LookupError as error:
                fail(f"gradcalc examples: {error}")
        if options.export is not None:
            from gradcalc.cli.export import check_export

            check_export("examples", options, listing=name is None, inputs=[str(path)] * bool(path))
        if name is None and (options.output_format == "dot" or options.values):
            fail("gradcalc examples: --format dot draws one net: give a problem NAME")
        if path is not None:
            return run_spec(str(path), options)
        from gradcalc.cli.safe_text import json_visible, visible

        rows = example_rows()
        if options.output_format == "json":
            import json

            click.echo(json_visible(json.dumps(rows, ensure_ascii=False, indent=2)))
            return ExitStatus.OK
        name_width = max(len(row["name"]) for row in rows)
        kind_width = max(len(row["kind"]) for row in rows)
        for row in rows:
            click.echo(
                visible(
                    f"{row['name'].ljust(name_width)}  {row['kind'].ljust(kind_width)}  {row['title']}"
                )
            )
        click.echo("\nSolve one with `gradcalc examples NAME` (a unique prefix is enough).")
        return ExitStatus.OK

    for name in ("run", "examples"):  # they may solve a net: --format dot too
        offer_net_formats(group.commands[name], only_net=False)
