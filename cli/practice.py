"""``gradcalc random KIND --seed N``: write a practice problem as a YAML spec.

The problem is drawn and solved by :mod:`gradcalc.core.practice`; this module turns
its size table into options (one subcommand per kind), writes the spec (with its
answers under ``expected``, or without them and a separate answer key in the
submission format ``gradcalc check`` grades) and reports bad sizes as one line.
"""

from __future__ import annotations

import json
import os
import re
from decimal import Decimal
from fractions import Fraction
from typing import Any

import click

from gradcalc.cli.errors import fail
from gradcalc.core.outcome import ExitStatus

_PLAIN_TEXT = re.compile(r"^[A-Za-z_][A-Za-z0-9_./-]*$")
# Words YAML 1.1 reads as booleans or null: written quoted so they stay text.
_YAML_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


# -- writing YAML --------------------------------------------------------------------------------


def _scalar(value: Any, places: int | None = None) -> str:
    """One value in YAML; a float that is a decimal of ``places`` digits (a rounded answer) with
    all of them (0.1060), any other float in full without an exponent (0.000050001)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, Fraction):
        return f'"{value}"' if value.denominator != 1 else str(value.numerator)
    if isinstance(value, float) and places is not None and round(value, places) == value:
        return f"{value:.{places}f}"
    if isinstance(value, float) and "e" in repr(value):
        # 5.0001e-05 is text to PyYAML; positional digits are a number everywhere.
        return format(Decimal(repr(value)), "f")
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN_TEXT.match(text) and text.lower() not in _YAML_WORDS:
        return text
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _depth(value: Any) -> int:
    return 1 + max(map(_depth, value), default=0) if isinstance(value, list) else 0


class _Yaml:
    """Block YAML for a spec: vectors inline, matrices one row a line with their entries
    right-aligned, deeper arrays one block per leading index, mappings as nested keys."""

    def __init__(self, places: int | None):
        self.places = places

    def scalar(self, value: Any) -> str:
        return _scalar(value, self.places)

    def rows(self, matrix: list[list[Any]]) -> list[str]:
        cells = [[self.scalar(v) for v in row] for row in matrix]
        width = max((len(cell) for row in cells for cell in row), default=0)
        return ["[" + ", ".join(cell.rjust(width) for cell in row) + "]" for row in cells]

    def block(self, value: Any, indent: int) -> list[str]:
        pad = " " * indent
        if isinstance(value, dict):
            lines = []
            for key, item in value.items():
                lines += self.entry(str(key), item, indent)
            return lines
        if _depth(value) == 2:
            return [f"{pad}- {row}" for row in self.rows(value)]
        lines = []
        for item in value:
            lines.append(f"{pad}-")
            lines += self.block(item, indent + 2)
        return lines

    def flow(self, value: Any) -> str:
        """``value`` as one line of flow YAML: a net's layer ``{type: dense, weight: [[1, 0]]}``."""
        if isinstance(value, dict):
            return "{" + ", ".join(f"{key}: {self.flow(item)}" for key, item in value.items()) + "}"
        if isinstance(value, list):
            return "[" + ", ".join(self.flow(item) for item in value) + "]"
        return self.scalar(value)

    def entry(self, key: str, value: Any, indent: int) -> list[str]:
        pad = " " * indent
        if isinstance(value, list) and any(isinstance(item, dict) for item in value):
            return [f"{pad}{key}:", *(f"{pad}  - {self.flow(item)}" for item in value)]
        if isinstance(value, dict) or _depth(value) >= 2:
            return [f"{pad}{key}:", *self.block(value, indent + 2)]
        if isinstance(value, list):
            return [f"{pad}{key}: [{', '.join(map(self.scalar, value))}]"]
        return [f"{pad}{key}: {self.scalar(value)}"]


def to_yaml(data: dict[str, Any], comments: list[str], *, places: int | None = None) -> str:
    """``data`` (plain values, lists, mappings) as YAML that reads back the same, after
    ``comments`` (one ``# `` line each); floats are written with ``places`` decimals."""
    writer = _Yaml(places)
    lines = [f"# {line}" for line in comments]
    for key, value in data.items():
        lines += writer.entry(key, value, 0)
    return "\n".join(lines) + "\n"


# -- the command ---------------------------------------------------------------------------------


_STDOUT = "-"


def _check_target(kind: str, path: str, force: bool) -> None:
    """Exit 2 before anything is drawn when ``path`` cannot be written or exists without --force."""
    where = f"gradcalc random {kind}"
    if os.path.isdir(path):
        fail(f"{where}: cannot write {path}: it is a folder")
    if os.path.lexists(path) and not force:
        fail(f"{where}: {path} exists; use --force to overwrite it")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        fail(f"{where}: cannot write {path}: no folder {folder}")


def _publish(kind: str, files: list[tuple[str, str]]) -> None:
    """Write each (path, text) in order, ``-`` to standard output.

    Every file is first written in full beside its target, then moved into place
    (os.replace), so an error leaves no file half-written and none of them changed.
    """
    import secrets

    staged: list[tuple[str, str]] = []  # (temporary file, target)

    def discard() -> None:
        for temporary, _ in staged:
            try:
                os.unlink(temporary)
            except OSError:
                pass

    for path, text in files:
        if path == _STDOUT:
            continue
        target = os.path.realpath(path)  # a link keeps pointing at the file it names
        folder, name = os.path.split(target)
        temporary = os.path.join(folder, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            staged.append((temporary, target))
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(text)
        except OSError as error:
            discard()
            fail(f"gradcalc random {kind}: cannot write {path}: {error.strerror or error}")
    moves = iter(staged)
    for path, text in files:
        if path == _STDOUT:
            click.echo(text, nl=False)
            continue
        temporary, target = next(moves)
        try:
            os.replace(temporary, target)
        except OSError as error:
            discard()
            fail(f"gradcalc random {kind}: cannot write {path}: {error.strerror or error}")


_MAX_SEED = 10**18 - 1


def _read_seed(kind: str, text: str) -> int:
    """``--seed``, read as every whole number is (7, 7.0 and 7e0 alike): a seed is a number,
    so "010" is refused with its fix as anywhere else, never drawn as seed 10 (or 8)."""
    from gradcalc.core.errors import SpecError
    from gradcalc.core.values import parse_int

    try:
        return parse_int(text, (), minimum=0, maximum=_MAX_SEED, what="a seed")
    except SpecError as error:
        reason = error.message  # "'010': write 10, or 8 if octal was meant; …"
        if reason.startswith(("expected", "a seed must")):
            reason = (
                f"expected a whole number from 0 to {_MAX_SEED} (at most 18 digits), got {text!r}"
            )
        fail(f"gradcalc random {kind}: --seed: {reason}")


def generate(kind: str, params: dict[str, Any]) -> None:
    """Draw the problem, write the spec, then the key; or report one line and exit 2.

    ``-`` (or no --output) is standard output; ``--answers -`` prints the key there, so it
    needs the spec in a file.  Existing files are overwritten only with ``force``.
    """
    import shlex

    from gradcalc.core import practice

    seed_text = params.pop("seed")
    output = params.pop("output") or _STDOUT
    answers_path = params.pop("answers")
    force = params.pop("force")
    if seed_text is None:
        import secrets

        seed = secrets.randbelow(10_000)
    else:
        seed = _read_seed(kind, seed_text)
    if answers_path == _STDOUT and output == _STDOUT:
        fail(f"gradcalc random {kind}: --answers - prints the key, so the spec needs --output FILE")
    if answers_path not in (None, _STDOUT) and output != _STDOUT:
        if os.path.realpath(answers_path) == os.path.realpath(output):
            fail(f"gradcalc random {kind}: --answers and --output name the same file")
    for path in (output, answers_path):
        if path not in (None, _STDOUT):
            _check_target(kind, path, force)
    try:
        problem = practice.make_problem(kind, seed, params)
    except practice.PracticeError as error:
        knobs = {knob.name: knob for knob in practice.profile(kind).knobs()}
        option = knobs[error.knob].option if error.knob in knobs else None
        where = f"{option}: " if option else ""
        fail(f"gradcalc random {kind}: {where}{error.message}")
    command = "gradcalc " + shlex.join(problem.arguments())
    comments = [f"generated by: {command}", *_decimal_comments(problem)]
    places = practice.DECIMAL_PLACES
    if answers_path is None:
        _publish(kind, [(output, to_yaml(problem.with_answers(), comments, places=places))])
        return
    shown = "standard output" if answers_path == _STDOUT else answers_path
    # The results asked, without their values: what a student's submission is graded on.
    asked = {**problem.spec, "points": {name: 1 for name in problem.answers}}
    spec_text = to_yaml(asked, [*comments, f"answer key: {shown}"], places=places)
    key: dict[str, Any] = {}
    key_comments = [f"answer key, generated by: {command}"]
    if output == _STDOUT:
        key_comments.append("grade: gradcalc check --problem PROBLEM.yaml THIS_FILE")
    elif answers_path == _STDOUT:
        key_comments.append(f"grade: gradcalc check --problem {shlex.quote(output)} THIS_FILE")
    else:
        folder = os.path.dirname(os.path.abspath(answers_path))
        key["problem"] = os.path.relpath(os.path.abspath(output), folder)
        key_comments.append(f"grade: gradcalc check {answers_path}")
    key["title"] = problem.spec["title"]
    key["answers"] = problem.answers
    key_text = to_yaml(key, key_comments, places=places)
    _publish(kind, [(output, spec_text), (answers_path, key_text)])


def _decimal_comments(problem: Any) -> list[str]:
    """What the rounded answers and the two tolerances mean, for the spec's first lines."""
    from gradcalc.core import practice

    if not problem.decimal_results:
        return []
    lines = [
        f"{', '.join(problem.decimal_results)}: irrational, written to "
        f"{practice.DECIMAL_PLACES} decimal places; tolerance accepts that rounding and no more"
    ]
    exact = list(problem.spec.get("accept", {}).get("tolerance", {}))
    if exact:
        lines.append(
            f"{', '.join(exact)}: exact; accept.tolerance keeps {'them' if len(exact) > 1 else 'it'}"
            " so for gradcalc check"
        )
    return lines


def _variant_notes(kind: str) -> str:
    from gradcalc.core import practice

    found = practice.profile(kind)
    decimal = [name for name, v in found.variants.items() if v.decimals]
    if not decimal:
        return "Answers are integers or fractions with small denominators."
    exact = [name for name in found.variants if name not in decimal]
    # Every variant may have irrational answers (rnn: tanh and σ; its relu is a knob):
    # "for cell ;" named no variant.
    if found.by is None or not exact:
        functions = "exp, log, roots" if found.by is None else "tanh, σ, exp, log"
        return (
            f"Answers are exact where they can be; irrational ones ({functions}) are written "
            f"to {practice.DECIMAL_PLACES} decimal places with a tolerance that accepts them."
        )
    return (
        f"Answers are integers or small fractions for {found.by.name} {', '.join(exact)}; "
        f"for {', '.join(decimal)} the irrational ones are written to "
        f"{practice.DECIMAL_PLACES} decimal places with a tolerance that accepts them."
    )


def kind_command(kind: str) -> click.Command:
    """``gradcalc random KIND``: options from the kind's size table."""
    from gradcalc.core import practice

    found = practice.profile(kind)
    knobs = found.knobs()
    epilog = "\b\nExamples:\n" + "\n".join(f"  {line}" for line in _examples(kind, found))

    def command(**params: Any) -> ExitStatus:
        generate(kind, params)  # a problem that cannot be written fails (cli/errors.py)
        return ExitStatus.OK

    command.__doc__ = (
        f"A practice {kind} problem drawn from SEED, as a YAML spec with its answers.\n\n"
        f"{_variant_notes(kind)} The same seed and sizes always give the same problem; "
        "the spec's first line is the command that makes it again.  The spec states every "
        "convention its answers depend on, even at its default (a max pool's ties, a loss's "
        "reduction, a dense layer's layout)."
    )
    options = [
        click.option(
            "--seed", metavar="N", help="Which problem (default: a random one, shown in the spec)."
        ),
        click.option(
            "--output", "-o", metavar="FILE", help="Write the spec here (default: standard output)."
        ),
        click.option(
            "--answers",
            metavar="FILE",
            help="Write the answer key here (graded by `gradcalc check FILE`) and leave "
            "expected out of the spec; - prints it (the spec then needs --output).",
        ),
        click.option("--force", is_flag=True, help="Overwrite FILEs that exist."),
    ]
    for knob in knobs:
        choices = (
            f" ({', '.join(map(str, knob.choices))})" if knob.choices and not knob.menu else ""
        )
        default = _default_text(knob)
        options.append(
            click.option(
                knob.option,
                *knob.aliases,
                knob.name,
                metavar=_metavar(knob),
                default=None,
                help=f"{knob.help}{choices}{default}",
            )
        )
    for option in reversed(options):
        command = option(command)
    return click.command(kind, epilog=epilog, short_help=f"A practice {kind} problem.")(command)


def _examples(kind: str, found: Any) -> list[str]:
    """The command lines ``gradcalc random KIND --help`` shows, for the kind's profile."""
    from gradcalc.core import practice

    example_knobs = [k for k in found.knobs() if k is not found.by and k.type != "choice"][:2]
    tuned = " ".join(
        f"{k.option} {practice.knob_text(k, k.default if not k.menu else k.menu[0])}"
        for k in example_knobs
    )
    examples = [
        f"gradcalc random {kind} --seed 7",
        f"gradcalc random {kind} --seed 7 --output prob.yaml --answers key.yaml",
        "gradcalc check key.yaml",
    ]
    if found.by is not None:
        examples.insert(
            1, f"gradcalc random {kind} --seed 3 {found.by.option} {found.by.choices[-1]}"
        )
    if tuned:
        examples.insert(1, f"gradcalc random {kind} --seed 7 {tuned}")
    return examples


def _default_text(knob: Any) -> str:
    """The default for --help; "" when the help says it (drawn from a menu, or another knob's)."""
    from gradcalc.core.practice import knob_text

    if knob.menu or knob.default is None:
        return ""
    if isinstance(knob.default, str) and knob.type != "choice":
        return ""
    return f" [default: {knob_text(knob, knob.default)}]"


def _metavar(knob: Any) -> str:
    return {"int": "N", "pair": "HxW", "shape": "SHAPE", "choice": "NAME", "number": "X"}[knob.type]


class KindGroup(click.Group):
    """One subcommand per registered kind, built when asked for; an unknown kind is one line."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        from gradcalc.core.registry import OPS, command_name

        return [command_name(kind) for kind in OPS]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        from gradcalc.core.registry import OPS, kind_of_command

        name = kind_of_command(name)

        if name not in OPS:
            return None
        if name not in self.commands:
            self.add_command(kind_command(name), name)
        return self.commands[name]

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        from gradcalc.core.registry import OPS, kind_of_command

        name = kind_of_command(args[0])
        if name not in OPS and not name.startswith("-"):
            from gradcalc.core.registry import unknown_kind

            fail(f"gradcalc random: {unknown_kind(name)}")
        return super().resolve_command(ctx, args)


def random_group() -> click.Group:
    @click.group(
        "random",
        cls=KindGroup,
        subcommand_metavar="KIND [--seed N] [SIZE OPTIONS]",
        short_help="Write a practice problem (a spec with small integer entries) from a seed.",
        epilog=(
            "\b\nExamples:\n"
            "  gradcalc random conv --seed 7\n"
            "  gradcalc random conv --seed 7 --size 5x5 --kernel-size 3 --stride 2\n"
            "  gradcalc random pool --seed 1 --mode avg --window 2\n"
            "  gradcalc random loss --seed 4 --loss cross_entropy --classes 4\n"
            "  gradcalc random dense --seed 2 -o prob.yaml --answers key.yaml\n"
            "  gradcalc run prob.yaml; gradcalc check key.yaml\n\n"
            "\b\nSee the sizes of one kind: gradcalc random KIND --help"
        ),
    )
    def group() -> None:
        """Draw a practice problem of KIND from a seed: small integer entries, answers that
        are integers or simple fractions (decimals where a kind's answers cannot be rational),
        solved by gradcalc itself.  The same seed and sizes give the same problem everywhere,
        and the spec states every convention its answers depend on (a max pool's ties, a
        loss's reduction, a dense layer's layout)."""

    return group
