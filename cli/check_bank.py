"""The instructor's problem bank (``gradcalc check --problems DIR``): a submission's
``problem:`` is a name looked up inside the bank, never a path the student chooses.

A name is the path of a .yaml or .yml file inside the bank, with or without its suffix
(``task3``, ``task3.yaml``, ``week2/task3``): ASCII letters, digits, ``_``, ``-`` and ``.``,
parts separated by ``/``, no part starting with ``.`` (so no ``..``, no hidden file), no
absolute path, no backslash.  The file it names must be a regular file whose real path
(symbolic links resolved) is inside the bank.  With a bank, a submission gives answers only:
a ``kind``, ``input`` or ``expected`` in it is that submission's error.
"""

from __future__ import annotations

import functools
import os
import re
from typing import Any

from gradcalc.cli.check_paths import SPEC_SUFFIXES
from gradcalc.core.errors import SpecError
from gradcalc.core.spec import did_you_mean
from gradcalc.core.values import describe

# One part of a name: no leading "." (no "..", no hidden file), ASCII only (no look-alikes).
_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
ALLOWED = (
    "a name is the path of a .yaml or .yml file inside the problem bank (--problems), with or "
    "without its suffix, such as task3 or week2/task3.yaml: ASCII letters, digits, '_', '-' "
    "and '.', parts separated by '/', none starting with '.'"
)
# The warning when submissions name their own problem files (no --problems, a folder).
CHOSEN_BY_STUDENT = (
    "the problem is the file the submission names (problem:), so a student can choose what "
    "they are graded against; to grade a class, give the instructor's problems with "
    "--problems DIR"
)
# Keys that make a problem, not a submission: with a bank, the problem is the bank's.
PROBLEM_KEYS = ("kind", "input", "expected")


def answers_only(data: Any) -> None:
    """Refuse a submission that carries a problem of its own (with --problems)."""
    for key in data:
        if key in PROBLEM_KEYS:
            raise SpecError(
                (key,),
                f"a submission gives answers only: {key!r} belongs to the problem, which comes "
                "from the problem bank (--problems); name it with problem: and give answers:",
                at_key=True,
            )


def _why_not_a_name(name: str) -> str | None:
    """Why ``name`` is not a bank name (its first fault), or None."""
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "an absolute path"
    if "\\" in name:
        return "a backslash ('/' separates folders)"
    parts = name.split("/")
    if ".." in parts:
        return "a '..' part"
    if len(name) > 1024 or not all(_PART.fullmatch(part) for part in parts):
        return "a character or part that is not allowed"
    return None


@functools.lru_cache(maxsize=8)
def _real(folder: str) -> str:
    return os.path.realpath(folder)


def resolve(bank: str, raw: Any) -> str:
    """The file in ``bank`` (the folder as given) that the submission's ``problem:`` names,
    as a path under ``bank``, or a SpecError at ``problem`` saying what is allowed."""
    if not isinstance(raw, str) or not raw:
        raise SpecError(
            ("problem",),
            f"a submission names its problem in the bank (problem: task3), got {describe(raw)}; "
            + ALLOWED,
        )
    fault = _why_not_a_name(raw)
    if fault is not None:
        raise SpecError(
            ("problem",), f"{raw!r} is not a name in the problem bank: {fault}; {ALLOWED}"
        )
    candidates = [raw] if raw.lower().endswith(SPEC_SUFFIXES) else [raw + s for s in SPEC_SUFFIXES]
    for candidate in candidates:
        path = os.path.join(bank, candidate)
        real = os.path.realpath(path)
        if not os.path.isfile(real):
            continue
        if not inside(bank, real):
            raise SpecError(
                ("problem",), f"problem {raw!r} leads out of the problem bank (a symbolic link)"
            )
        return path
    hint = did_you_mean(raw, bank_names(bank))
    raise SpecError(("problem",), f"no problem {raw!r} in the problem bank{hint or '.'}")


def bank_names(bank: str) -> list[str]:
    """The names of the bank's problems, without their suffix (for a did-you-mean)."""
    names = []
    for parent, folders, files in os.walk(bank):
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        for file in sorted(files):
            if not file.startswith(".") and file.lower().endswith(SPEC_SUFFIXES):
                relative = os.path.relpath(os.path.join(parent, file), bank)
                names.append(os.path.splitext(relative.replace(os.sep, "/"))[0])
    return names


def inside(bank: str, path: str) -> bool:
    """True when ``path`` (symbolic links resolved) is in the ``bank`` folder."""
    root = _real(os.path.abspath(bank))  # by absolute path: the current folder may change
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def refuse_reports_inside(bank: str, targets: dict[str, str | None]) -> None:
    """A report is never written into the problem bank (a usage error naming the option)."""
    import click

    for option, path in targets.items():
        if path and inside(bank, path):
            raise click.BadParameter(
                f"{path!r} is inside the problem bank {bank!r}; write reports elsewhere",
                param_hint=f"'{option}'",
            )


def holds(bank: str, path: str) -> bool:
    """True when ``path`` is in the bank folder as written or once symbolic links are resolved
    (a link in the bank to a file elsewhere is the bank's too): not a submission."""
    folder = os.path.abspath(bank)
    return os.path.commonpath([folder, os.path.abspath(path)]) == folder or inside(bank, path)
