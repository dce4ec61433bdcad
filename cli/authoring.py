"""``gradcalc schema [KIND]`` and ``gradcalc new KIND``: help for writing specs.

``schema`` prints the JSON Schema of a spec (core/schema.py) for editors; ``new`` prints
a commented starter spec that solves as it is.  Both are generated from the registry's
field descriptions, so every kind gets them without code of its own.

This module is imported when ``gradcalc --help`` lists the commands, so it imports only
Click and the exit statuses at the top; the registry, the schema builder and the files come in when a command runs.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import click

from gradcalc.core.outcome import ExitStatus

SCHEMA_DIR_NAME = "schema"  # beside the bundled problems: problems/schema/
_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Words that YAML 1.1 (PyYAML) or 1.2 (editors) reads as something other than text.
_YAML_WORDS = {"true", "false", "yes", "no", "on", "off", "null"}
_COMMENT_INDENT = 27  # characters before a line's `# help`, as in the spec references in docs/


def _complete_kind(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from gradcalc.core.registry import OPS

    return [kind for kind in OPS if kind.startswith(incomplete)]


def _known_kind(command: str, kind: str) -> str:
    """``kind`` if it is registered; else exit 2 with one line naming the known kinds."""
    from gradcalc.cli.errors import fail
    from gradcalc.core.registry import OPS, kind_hint, kind_of_command

    kind = kind_of_command(kind)
    if kind not in OPS:
        hint = kind_hint(kind)
        fail(
            f"gradcalc {command}: unknown kind {kind!r}{hint or '.'} Known kinds: {', '.join(OPS)}"
        )
    return kind


def _write(command: str, path: str, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` atomically; an existing file only with ``force``.  Either
    refusal, or an OS error, is one line and exit 2."""
    from gradcalc.cli.errors import fail
    from gradcalc.cli.files import write_atomically

    if os.path.exists(path) and not force:
        fail(f"gradcalc {command}: {path} exists; use --force to overwrite it")
    try:
        write_atomically(path, text)
    except OSError as error:
        fail(f"gradcalc {command}: cannot write {path}: {error.strerror or error}")


def schema_dir() -> Path:
    """The committed schema files (installed with the bundled problems)."""
    from gradcalc.problems import PROBLEMS_DIR

    return PROBLEMS_DIR / SCHEMA_DIR_NAME


# -- gradcalc new ------------------------------------------------------------------------------


def yaml_value(value: Any) -> str:
    """``value`` as one line of YAML flow text: ``[[2, -1], [0, -1]]``, ``{x: 1}``, ``"1/2"``.

    Words stay plain; other text is double-quoted (JSON's escapes are YAML's), so that
    numeric text such as "1/2" stays text and an expression keeps its spaces and commas.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        plain = _PLAIN_WORD.fullmatch(value) and value.lower() not in _YAML_WORDS
        return value if plain else json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(yaml_value(item) for item in value) + "]"
    if isinstance(value, dict):
        items = (f"{yaml_value(str(key))}: {yaml_value(item)}" for key, item in value.items())
        return "{" + ", ".join(items) + "}"
    raise TypeError(f"no YAML text for {value!r}")


def _with_comment(line: str, comment: str) -> str:
    padding = " " * max(_COMMENT_INDENT - len(line), 2)
    return f"{line}{padding}# {comment}"


def _field_lines(name: str, value: Any, help_text: str, *, live: bool) -> list[str]:
    """A key's lines: a matrix as one row a line when live, anything else on one line."""
    matrix = (
        live
        and isinstance(value, list)
        and len(value) > 1
        and all(isinstance(row, list) for row in value)
    )
    if matrix:
        return [_with_comment(f"{name}:", help_text), *(f"  - {yaml_value(row)}" for row in value)]
    line = f"{name}: {yaml_value(value)}"
    return [_with_comment(line if live else f"# {line}", help_text)]


def starter_spec(kind: str, schema_ref: str) -> str:
    """A commented spec of ``kind`` that solves as it is: the required and starter keys
    live with their registry examples, every other key commented out with its help."""
    from gradcalc.core.registry import OPS

    entry = OPS[kind]
    fields = [f for f in entry.spec_fields() if f.name != "kind"]
    shared = [f for f in fields if f not in entry.fields]
    # Live: the title, then the kind's own keys.  Commented out: the kind's own keys first,
    # then the shared ones, as in `gradcalc KIND --help`.
    live = [f for f in (*shared, *entry.fields) if f.required or f.starter]
    optional = [f for f in (*entry.fields, *shared) if f not in live]
    # Keys for another mode or function than the starter's come last, under a heading each.
    elsewhere: dict[str, list[Any]] = {}
    for spec_field in optional:
        heading = _only_with(entry, spec_field, live)
        if heading is not None:
            elsewhere.setdefault(heading, []).append(spec_field)
    optional = [f for f in optional if not any(f in group for group in elsewhere.values())]
    lines = [
        f"# yaml-language-server: $schema={schema_ref}",
        f"# A gradcalc {kind} problem: {entry.summary}",
        f"# Solve it with `gradcalc run FILE` (or `gradcalc {kind} --spec FILE`).",
        f"kind: {kind}",
    ]
    for spec_field in live:
        lines += _field_lines(spec_field.name, spec_field.example, _help(spec_field), live=True)
    if optional:
        lines += ["", "# More keys: remove the '# ' before one to use it."]
    for spec_field in optional:
        lines += _field_lines(
            spec_field.name, _starter_example(entry, spec_field), _help(spec_field), live=False
        )
    for heading, group in elsewhere.items():
        lines += ["", f"# {heading}"]
        for spec_field in group:
            lines += _field_lines(
                spec_field.name, _starter_example(entry, spec_field), _help(spec_field), live=False
            )
    return "\n".join(lines) + "\n"


_ONLY = re.compile(r"(?P<values>[\w ,]+?) only\b")


def _limited_to(entry: Any, spec_field: Any) -> tuple[str, list[str]] | None:
    """The choice key and the values of it a field's help limits it to ("avg only: …" ->
    ("mode", ["avg"]), "max and avg only: …" -> ("mode", ["max", "avg"])); None if unlimited."""
    match = _ONLY.match(spec_field.help)
    if match is None:
        return None
    values = re.split(r",\s*|\s+(?:and|or)\s+", match["values"].strip())
    for selector in entry.fields:
        if selector.type == "choice" and set(values) <= {str(c) for c in selector.choices}:
            return selector.name, values
    return None


def _only_with(entry: Any, spec_field: Any, live: list[Any]) -> str | None:
    """The heading of a key that the starter's own mode or function rejects, naming the live
    keys that the other one rejects: "Only with mode: lp (and no padding):"; None for a key
    the starter accepts as it is."""
    limited = _limited_to(entry, spec_field)
    if limited is None:
        return None
    selector, values = limited
    chosen = next(f.example for f in entry.fields if f.name == selector)
    if str(chosen) in values:
        return None
    clashes = [
        f.name
        for f in live
        if (other := _limited_to(entry, f)) and other[0] == selector and set(values) - set(other[1])
    ]
    without = f" (and no {', '.join(clashes)})" if clashes else ""
    return f"Only with {selector}: {' or '.join(values)}{without}:"


def _starter_example(entry: Any, spec_field: Any) -> Any:
    """What a commented-out key shows: its example, else a value of its type that is valid."""
    if spec_field.name == "upstream" and entry.example_upstream is not None:
        return entry.example_upstream
    if spec_field.example is not None or "null" in spec_field.types:
        return spec_field.example
    if spec_field.types[0] in ("mapping", "answers"):
        return {}
    raise ValueError(f"field {spec_field.name!r} of a {entry.module} spec has no example")


def _help(spec_field: Any) -> str:
    """The field's help, with its choices when the help does not list them already."""
    words = [str(choice) for choice in spec_field.choices]
    if spec_field.type == "choice" and not all(word in spec_field.help for word in words):
        return f"{spec_field.help}: {', '.join(words)}"
    return spec_field.help


def default_schema_ref(kind: str, output: str | None) -> str:
    """Where a new spec's editor finds its schema: relative to the spec when both sit in
    one project (``schema/conv.schema.json`` for a spec in problems/), else absolute."""
    target = schema_dir() / f"{kind}.schema.json"
    if output is not None:
        folder = Path(output).resolve().parent
        project = schema_dir().parent.parent
        if folder == project or project in folder.parents:
            return Path(os.path.relpath(target, folder)).as_posix()
    return target.as_posix()


# -- the commands ------------------------------------------------------------------------------


def add_commands(group: click.Group) -> None:
    """Register ``schema`` and ``new`` on the main group."""
    from gradcalc.cli.options import complete_path

    @group.command(
        "schema",
        short_help="Print the JSON Schema of a spec, for editors.",
        epilog=(
            "\b\nExamples:\n  gradcalc schema conv\n"
            "  gradcalc schema --output gradcalc-spec.schema.json\n"
            "  gradcalc schema --dir problems/schema      # regenerate the committed files"
        ),
    )
    @click.argument("kind", required=False, shell_complete=_complete_kind)
    @click.option(
        "--output",
        metavar="FILE",
        shell_complete=complete_path,
        help="Write the schema to FILE instead of printing it.",
    )
    @click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
    @click.option(
        "--dir",
        "directory",
        metavar="DIR",
        shell_complete=complete_path,
        help="Write the schema of any spec and one per kind into DIR "
        "(gradcalc-spec.schema.json, KIND.schema.json), replacing the ones there.",
    )
    def schema(
        kind: str | None, output: str | None, force: bool, directory: str | None
    ) -> ExitStatus:
        """Print the draft-07 JSON Schema of a KIND spec, or without KIND of any spec
        (dispatching on its `kind`).

        Editors validate and complete a spec whose first line names its schema:
        `# yaml-language-server: $schema=schema/conv.schema.json` (VS Code's YAML
        extension, or any editor using yaml-language-server).
        """
        from gradcalc.cli.errors import fail
        from gradcalc.core.registry import OPS
        from gradcalc.core.schema import schema_file_name, schema_text, spec_schema

        if directory is not None:
            if kind is not None or output is not None:
                fail("gradcalc schema: --dir writes every schema; give no KIND and no --output")
            if not Path(directory).is_dir():
                fail(f"gradcalc schema: {directory} is not a folder")
            for name in (None, *OPS):
                _write(
                    "schema",
                    str(Path(directory) / schema_file_name(name)),
                    schema_text(spec_schema(name)),
                    force=True,  # --dir regenerates the files there
                )
            return ExitStatus.OK
        if kind is not None:
            kind = _known_kind("schema", kind)
        text = schema_text(spec_schema(kind))
        if output is None:
            click.echo(text, nl=False)
            return ExitStatus.OK
        _write("schema", output, text, force=force)
        return ExitStatus.OK

    @group.command(
        "new",
        short_help="Print a commented starter spec of a kind.",
        epilog=(
            "\b\nExamples:\n  gradcalc new conv\n"
            "  gradcalc new pool --output my_pool.yaml && gradcalc run my_pool.yaml\n"
            "  gradcalc new expr --schema https://example.org/expr.schema.json"
        ),
    )
    @click.argument("kind", shell_complete=_complete_kind)
    @click.option(
        "--output",
        metavar="FILE",
        shell_complete=complete_path,
        help="Write the spec to FILE instead of printing it.",
    )
    @click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
    @click.option(
        "--schema",
        "schema_ref",
        metavar="PATH|URL",
        help="The schema named on the spec's first line "
        "(default: the installed KIND.schema.json, relative when FILE is in the same project).",
    )
    def new(kind: str, output: str | None, force: bool, schema_ref: str | None) -> ExitStatus:
        """Print a starter spec of KIND: its required keys with example values (it solves as
        it is), every other key commented out with its help.

        The first line names the kind's JSON Schema, so editors validate and complete it.
        """

        kind = _known_kind("new", kind)
        text = starter_spec(kind, schema_ref or default_schema_ref(kind, output))
        if output is None:
            click.echo(text, nl=False)
            return ExitStatus.OK
        _write("new", output, text, force=force)
        from gradcalc.cli.safe_text import visible

        click.echo(visible(f"Wrote {output}; solve it with `gradcalc run {output}`."), err=True)
        return ExitStatus.OK
