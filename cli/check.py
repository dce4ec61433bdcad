"""``gradcalc check PATH...``: grade many specs and submissions, and report.

The command only wires the parts together: cli/check_paths.py finds the files,
cli/check_jobs.py checks each under its budget (cli/check_budget.py), in one process or
several, by reading and grading it (cli/check_grade.py, which hands plain data to
:mod:`gradcalc.core.grading`) into a :class:`FileReport` (cli/check_report.py);
cli/check_render.py renders the reports as a summary table, JSON, a CSV grade sheet and JUnit
XML, and cli/check_outputs.py guards the report files.  A broken file becomes one error line
in the report; it never stops the others.
"""

from __future__ import annotations

import os

import click

from gradcalc.cli import check_bank
from gradcalc.cli.check_budget import DEFAULT_TIMEOUT, MEMORY_BUDGET, SecondsType
from gradcalc.cli.check_grade import forget_problems
from gradcalc.cli.check_jobs import AUTO_JOBS_MIN_FILES, JobsType, auto_jobs, check_files
from gradcalc.cli.check_outputs import REPORT_FILES, check_report_paths, problem_conflicts
from gradcalc.cli.check_paths import ShardType, expand_paths, take_shard
from gradcalc.cli.check_progress import CheckProgress
from gradcalc.cli.check_render import CHECK_RENDERERS, PRINTED_FORMATS
from gradcalc.cli.check_report import FileReport, Settings, exit_status
from gradcalc.cli.check_sheets import StudentPattern, StudentPatternType, name_students
from gradcalc.cli.files import write_atomically
from gradcalc.core.outcome import ExitStatus
from gradcalc.core.spec import Limits

# -- writing the report files ------------------------------------------------------------------


def write_reports(reports: dict[str, tuple[str, str]]) -> list[str]:
    """Write each report (option: (path, text)); the error line of each file that cannot be
    written (printed after the summary, where it is seen)."""
    errors = []
    for option, (path, text) in reports.items():
        try:
            write_atomically(path, text)
        except OSError as error:
            errors.append(
                f"gradcalc check: {option}: cannot write {path!r}: {error.strerror or error}"
            )
    return errors


def _write_report_files(
    targets: dict[str, str | None], reports: list[FileReport], hide: bool
) -> list[str]:
    """Render and write each report file asked for (option: path); the error lines of those
    not written."""
    outputs = {
        option: (path, CHECK_RENDERERS[REPORT_FILES[option].format](reports, hide))
        for option, path in targets.items()
        if path is not None
    }
    conflicts = problem_conflicts(outputs, reports)
    errors = list(conflicts.values())
    errors += write_reports({k: v for k, v in outputs.items() if k not in conflicts})
    return errors


def is_folder_or_glob(path: str) -> bool:
    import glob

    return os.path.isdir(path) or (not os.path.exists(path) and glob.has_magic(path))


def warn_students_choose(reports: list[FileReport], output_format: str) -> None:
    """Without a bank, in a folder of submissions, each submission names its own problem file:
    a student can choose what they are graded against.  Each such report carries the warning
    (JSON ``warning``); the table's reader gets it once, on standard error."""
    chosen = [report for report in reports if report.problem is not None]
    for report in chosen:
        report.warning = check_bank.CHOSEN_BY_STUDENT
    if chosen and output_format == "table":
        count = f"{len(chosen)} submission{'s' if len(chosen) != 1 else ''}"
        click.echo(f"gradcalc check: warning: {count}: {check_bank.CHOSEN_BY_STUDENT}", err=True)


# -- the command -------------------------------------------------------------------------------

EPILOG = """\b
Examples:
  gradcalc check problems/
  gradcalc check --problem task3.yaml submissions/ --csv grades.csv
  gradcalc check --problems bank/ class/ --csv grades.csv --exit-zero
  gradcalc check 'homework/**/*.yaml' --hide-answers
  gradcalc check submissions/ --junit report.xml --shard 1/4 --jobs 2
  gradcalc check --problem task3.yaml subs/ --grades sheet.csv --student-from '{student}_*.yaml'
  gradcalc check --problem task3.yaml answers.yaml --gradescope results/results.json

\b
Exit codes: 0 every answer matches; 1 an answer does not match; 2 a spec or
submission has an error (the others are still checked and reported).  With
--exit-zero: 0 once the reports are written, but 2 for a usage error or a broken
--problem/--problems problem."""


def _submitted_files(
    paths: tuple[str, ...], problem_path: str | None, bank: str | None
) -> tuple[list[str], list[tuple[str, str]]]:
    """The spec files PATHS name (less the --problem file and the bank's own problems), and
    the paths that name none (each with its line)."""
    if bank is not None and problem_path is not None:
        raise click.UsageError("give --problem FILE or --problems DIR, not both")
    files, empty = expand_paths(paths)
    if problem_path is not None:
        problem_real = os.path.realpath(problem_path)
        files = [f for f in files if os.path.realpath(f) != problem_real]
    if bank is not None:  # the bank's problems are not submissions
        files = [f for f in files if not check_bank.holds(bank, f)]
    return files, empty


def _say_empty_shard(shard: tuple[int, int], count: int) -> None:
    click.echo(
        f"gradcalc check: shard {shard[0]}/{shard[1]} has no files: "
        f"{count} file{'s' if count != 1 else ''} over {shard[1]} shards",
        err=True,
    )


@click.command("check", epilog=EPILOG, short_help="Grade specs and submissions; CI reports.")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--problem",
    "problem_path",
    metavar="FILE",
    default=None,
    help="Grade every file as a submission (answers:) against this problem spec.",
)
@click.option(
    "--problems",
    "bank",
    metavar="DIR",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="The instructor's problem bank: each submission's problem: is a name looked up in "
    "DIR only (task3, week2/task3.yaml), and a submission gives answers only.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(list(PRINTED_FORMATS)),
    default="table",
    show_default=True,
    help="table: summary and failures; json: one object per file plus totals.",
)
@click.option(
    "--hide-answers",
    is_flag=True,
    help="Say only which results and cells are right, wrong or missing: no correct value, "
    "no error size, no diagnosis that gives the key away.",
)
@click.option(
    "--csv",
    "csv_path",
    metavar="FILE",
    help="Write a grade sheet: a row per file, a column per result.",
)
@click.option(
    "--junit",
    "junit_path",
    metavar="FILE",
    help="Write JUnit XML: a testsuite per file, a testcase per result.",
)
@click.option(
    "--grades",
    "grades_path",
    metavar="FILE",
    help="Write a class grade sheet (CSV): a row per student, a column per problem, the total.",
)
@click.option(
    "--student-from",
    type=StudentPatternType(),
    default=None,
    help="Tell each file's student from its path, e.g. '{student}_*.yaml' or "
    "'{student}/*.yaml' (* and ? within one name); else a submission's student: key.",
)
@click.option(
    "--gradescope",
    "gradescope_path",
    metavar="FILE",
    help="Write Gradescope's autograder results.json: a test per result, with its points.",
)
@click.option(
    "--classroom",
    "classroom_path",
    metavar="FILE",
    help="Write a GitHub Classroom autograding result (JSON, for the grading reporter).",
)
@click.option(
    "--jobs",
    type=JobsType(),
    default="auto",
    show_default=True,
    help="Processes to use: a number, or auto (every CPU this process may use, "
    f"once there are {AUTO_JOBS_MIN_FILES} files or more; one process below that).",
)
@click.option(
    "--shard",
    type=ShardType(),
    default=None,
    help="Check only the i-th of n parts (files sorted by path, dealt round-robin).",
)
@click.option(
    "--max-elements",
    type=click.IntRange(1),
    default=Limits.max_elements,
    show_default=True,
    help="Largest number of entries in any one array of a spec.",
)
@click.option(
    "--timeout",
    type=SecondsType(),
    default=f"{DEFAULT_TIMEOUT:g}",
    show_default=True,
    help="Processor time each file may take, in seconds (its problem's first solve "
    f"included; memory: {MEMORY_BUDGET // 2**30} GiB a file); a file over it is that file's "
    "error.",
)
@click.option(
    "--force",
    is_flag=True,
    help="Let a report file (--csv, --junit, --grades, …) replace an existing file that is "
    "not an earlier report of the "
    "same kind (never a file being checked, a problem or a .yaml/.yml file).",
)
@click.option(
    "--exit-zero",
    is_flag=True,
    help="Exit 0 once every report is written, wrong answers and broken submissions included "
    "(a grading job that reports rather than fails); still 2 for a usage error, no files, a "
    "report not written or a broken --problem/--problems problem.",
)
@click.option("--traceback", is_flag=True, help="On an internal error, show the Python traceback.")
def check(
    paths: tuple[str, ...],
    problem_path: str | None,
    bank: str | None,
    output_format: str,
    hide_answers: bool,
    csv_path: str | None,
    junit_path: str | None,
    grades_path: str | None,
    student_from: StudentPattern | None,
    gradescope_path: str | None,
    classroom_path: str | None,
    jobs: int | None,
    shard: tuple[int, int] | None,
    max_elements: int,
    timeout: float,
    force: bool,
    exit_zero: bool,
    traceback: bool,
) -> ExitStatus:
    """Check every spec's expected answers, or grade submissions against a problem.

    PATHS are files, folders (searched recursively for *.yaml and *.yml, names
    starting with "." left out) and globs.  A spec with `expected` is solved
    and its answers compared; a submission (`problem: FILE` plus `answers:`) is
    graded against its problem: with --problems DIR, a name in that bank only.
    Points, partial credit, accepted conventions and a diagnosis of the usual
    mistakes are reported for every answer.
    """
    targets = {
        "--csv": csv_path,
        "--junit": junit_path,
        "--grades": grades_path,
        "--gradescope": gradescope_path,
        "--classroom": classroom_path,
    }
    files, empty = _submitted_files(paths, problem_path, bank)
    check_report_paths(targets, files, problem_path, force=force)
    if bank is not None:
        check_bank.refuse_reports_inside(bank, targets)
    shard_files = take_shard(files, shard)
    if shard is not None and files and not shard_files:
        _say_empty_shard(shard, len(files))
    settings = Settings(
        problem=problem_path,
        bank=bank,
        limits=Limits(max_elements=max_elements),
        traceback=traceback,
        timeout=timeout,
        memory=MEMORY_BUDGET,
    )
    forget_problems()  # a problem file may have changed since an earlier run in this process
    reports = [FileReport(source=path, error=line, instructor_error=True) for path, line in empty]
    with CheckProgress(len(shard_files)) as progress:  # on stderr, in a terminal only
        reports += check_files(
            shard_files, settings, auto_jobs(len(shard_files)) if jobs is None else jobs, progress
        )
    if not reports and not files:
        click.echo("gradcalc check: no spec files to check", err=True)
        return ExitStatus.ERROR
    if not settings.instructor_problems and any(is_folder_or_glob(path) for path in paths):
        warn_students_choose(reports, output_format)
    warnings = [] if student_from is None else name_students(reports, student_from)
    # The report files first: `gradcalc check … --junit r.xml | head` still writes them.
    write_errors = _write_report_files(targets, reports, hide_answers)
    click.echo(CHECK_RENDERERS[output_format](reports, hide_answers))
    for line in warnings + write_errors:
        click.echo(line, err=True)
    return ExitStatus.ERROR if write_errors else exit_status(reports, exit_zero=exit_zero)
