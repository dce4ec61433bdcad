"""`gradcalc new KIND` (starter specs that solve as they are) and shell completion."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from jsonschema import Draft7Validator

from gradcalc.cli.authoring import default_schema_ref, schema_dir, yaml_value
from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import parse_text
from gradcalc.core import registry
from gradcalc.core.schema import kind_fields, spec_schema
from gradcalc.problems import PROBLEMS_DIR

KINDS = list(registry.OPS)
ENV = {"COLUMNS": "100", "NO_COLOR": None, "FORCE_COLOR": None}


def run(*args: str, env: dict[str, Any] | None = None) -> Result:
    return CliRunner().invoke(
        main, list(args), env={**ENV, **(env or {})}, prog_name="gradcalc", catch_exceptions=False
    )


def starter(kind: str) -> str:
    result = run("new", kind)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def uncommented(text: str, key: str) -> str:
    """The starter with the commented-out ``key`` line made live."""
    prefix = f"# {key}: "
    assert sum(line.startswith(prefix) for line in text.splitlines()) == 1, key
    return "\n".join(line[2:] if line.startswith(prefix) else line for line in text.splitlines())


@pytest.mark.parametrize("kind", KINDS)
def test_starter_solves_as_it_is(tmp_path: Path, kind: str) -> None:
    text = starter(kind)
    path = tmp_path / f"{kind}.yaml"
    path.write_text(text, encoding="utf-8")
    for args in (("run", str(path)), (kind, "--spec", str(path))):
        result = run(*args, "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["title"] == "My problem"


@pytest.mark.parametrize("kind", KINDS)
def test_starter_lists_every_key_with_its_help(kind: str) -> None:
    """Required and starter keys live with their examples; every other key commented out."""
    entry = registry.OPS[kind]
    text = starter(kind)
    lines = text.splitlines()
    assert lines[0] == f"# yaml-language-server: $schema={schema_dir() / f'{kind}.schema.json'}"
    data = yaml.safe_load(text)
    assert data["kind"] == kind
    for spec_field in entry.spec_fields():
        if spec_field.name == "kind":
            continue
        if spec_field.required or spec_field.starter:
            assert data[spec_field.name] == spec_field.example, spec_field.name
        else:
            assert spec_field.name not in data
            line = next(line for line in lines if line.startswith(f"# {spec_field.name}: "))
            assert f"# {spec_field.help}" in line, line
    # The title comes first; then the kind's own keys, in the registry's order.
    keys = list(data)
    own = [f.name for f in entry.fields if f.name in data]
    assert keys == ["kind", "title", *own]


@pytest.mark.parametrize("kind", KINDS)
def test_each_commented_key_fits_the_schema_when_uncommented(kind: str) -> None:
    """Removing the '# ' of any optional key leaves a spec the kind's schema accepts."""
    text = starter(kind)
    validator = Draft7Validator(spec_schema(kind))
    assert list(validator.iter_errors(yaml.safe_load(text))) == []
    optional = [line[2:].split(":")[0] for line in text.splitlines() if line.startswith("# ")]
    optional = [key for key in optional if key in spec_schema(kind)["properties"]]
    assert optional, kind
    for key in optional:
        spec = yaml.safe_load(uncommented(text, key))
        assert key in spec
        assert [e.message for e in validator.iter_errors(spec)] == [], key


ONLY_WITH = re.compile(r"# Only with (\w+): ([\w ]+?)(?: \(and no ([\w, ]+)\))?:")
Heading = tuple[str, str, tuple[str, ...]]  # the key to set, its value, the live keys to remove


def commented_keys(text: str, kind: str) -> list[tuple[str, Heading | None]]:
    """Each commented-out key with what its "# Only with mode: avg:" heading asks for (the first
    value it names), or None when the starter as it is accepts it."""
    properties = spec_schema(kind)["properties"]
    found: list[tuple[str, Heading | None]] = []
    heading: Heading | None = None
    for line in text.splitlines():
        only = ONLY_WITH.fullmatch(line)
        if only:
            without = tuple(only.group(3).split(", ")) if only.group(3) else ()
            heading = (only.group(1), only.group(2).split(" or ")[0], without)
        elif line.startswith("# ") and line[2:].split(":")[0] in properties:
            found.append((line[2:].split(":")[0], heading))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_each_commented_key_solves_when_uncommented(tmp_path: Path, kind: str) -> None:
    """The schema cannot see everything gradcalc checks (a key for another mode, a subgradient
    outside [α, 1]): each key, uncommented, also passes `gradcalc run`; one under an
    "Only with mode: avg:" heading does once that mode is set."""
    text = starter(kind)
    keys = commented_keys(text, kind)
    assert keys, kind
    path = tmp_path / "spec.yaml"
    for key, heading in keys:
        spec = uncommented(text, key)
        if heading is not None:
            selector, value, without = heading
            lines = [line for line in spec.splitlines() if line.split(":")[0] not in without]
            at = next(i for i, line in enumerate(lines) if line.startswith(f"{selector}: "))
            lines[at] = f"{selector}: {value}"
            spec = "\n".join(lines)
            # The heading is needed: the starter's own choice rejects the key.
            path.write_text(uncommented(text, key), encoding="utf-8")
            assert run("run", str(path)).exit_code == 2, key
        path.write_text(spec, encoding="utf-8")
        result = run("run", str(path), "--format", "json")
        assert result.exit_code == 0, (key, heading, result.stderr)


def test_keys_for_another_mode_are_grouped_under_a_heading() -> None:
    pool = commented_keys(starter("pool"), "pool")
    assert ("count_include_pad", ("mode", "avg", ())) in pool
    assert ("p", ("mode", "lp", ("padding",))) in pool  # LPPool2d has no padding
    assert ("dilation", None) in pool and ("ties", None) in pool  # max only: the starter's mode
    activation = dict(commented_keys(starter("activation"), "activation"))
    assert activation["beta"] == activation["threshold"] == ("function", "softplus", ())
    assert activation["alpha"] is None and activation["subgradient_at_zero"] is None


@pytest.mark.parametrize("kind", [k for k in KINDS if registry.OPS[k].takes_upstream])
def test_the_example_upstream_fits_the_starter(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "with_upstream.yaml"
    path.write_text(uncommented(starter(kind), "upstream"), encoding="utf-8")
    result = run("run", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    # The loader checks the upstream against the output's shape; this says it was read.
    output = json.loads(result.stdout)["results"]["output"]
    assert _shape(output) == _shape(registry.OPS[kind].example_upstream)


def _shape(value: Any) -> tuple[int, ...]:
    return (len(value), *_shape(value[0])) if isinstance(value, list) else ()


def test_new_writes_a_file_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    out = tmp_path / "mine.yaml"
    result = run("new", "pool", "--output", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert f"Wrote {out}" in result.stderr
    assert out.read_text(encoding="utf-8") == starter("pool").replace(
        default_schema_ref("pool", None), default_schema_ref("pool", str(out))
    )
    assert run("run", str(out)).exit_code == 0

    again = run("new", "conv", "--output", str(out))
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines() == [
        f"gradcalc new: {out} exists; use --force to overwrite it"
    ]
    assert "kind: pool" in out.read_text(encoding="utf-8")
    assert run("new", "conv", "--output", str(out), "--force").exit_code == 0
    assert "kind: conv" in out.read_text(encoding="utf-8")

    nowhere = run("new", "conv", "--output", str(tmp_path / "no" / "such" / "dir.yaml"))
    assert nowhere.exit_code == 2
    assert nowhere.stderr.startswith("gradcalc new: cannot write ")
    assert len(nowhere.stderr.strip().splitlines()) == 1


def test_new_unknown_kind_is_one_line() -> None:
    result = run("new", "dens")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        f"gradcalc new: unknown kind 'dens'; did you mean 'dense'? Known kinds: {', '.join(KINDS)}"
    ]
    assert "Known kinds" in run("new", "zzz").stderr


def test_schema_reference_is_relative_inside_the_project(tmp_path: Path) -> None:
    inside = PROBLEMS_DIR / "my_new_problem.yaml"  # not written: only the path is used
    assert default_schema_ref("conv", str(inside)) == "schema/conv.schema.json"
    outside = default_schema_ref("conv", str(tmp_path / "mine.yaml"))
    assert Path(outside).is_absolute() and Path(outside).is_file()
    assert default_schema_ref("conv", None) == outside
    given = run("new", "expr", "--schema", "https://example.org/expr.schema.json")
    assert given.stdout.splitlines()[0].endswith("$schema=https://example.org/expr.schema.json")


@pytest.mark.parametrize(
    "value",
    [
        [[2, -1], [0, -1]],
        ["1/2", -1, 0.01, "1e-6"],
        {"Z": "exp(x) + exp(y)", "x": 1},
        ["x", "y", "on", "null", "true", 'say "hi"', "α"],
        [True, False, None, 0],
        "x**2*y + sin(y)",
    ],
)
def test_yaml_values_read_back(value: Any) -> None:
    text = yaml_value(value)
    assert "\n" not in text
    assert yaml.safe_load(text) == value
    loaded = parse_text(f"key: {text}", "<test>").data["key"]  # numbers exact, as gradcalc reads

    def exact(item: Any) -> Any:
        if isinstance(item, float):
            return Fraction(repr(item))
        if isinstance(item, list):
            return [exact(i) for i in item]
        if isinstance(item, dict):
            return {k: exact(v) for k, v in item.items()}
        return item

    assert loaded == exact(value)


def test_every_field_has_a_starter_value() -> None:
    """`gradcalc new` needs an example for each key (or an empty mapping for mappings)."""
    for kind, entry in registry.OPS.items():
        for spec_field in kind_fields(entry):
            if spec_field.name in ("kind", "upstream", "problem", "answers"):
                continue
            assert (
                spec_field.example is not None
                or "null" in spec_field.types
                or spec_field.types[0] in ("mapping", "answers")
            ), (kind, spec_field.name)
        if entry.takes_upstream:
            assert entry.example_upstream is not None, kind


def test_new_help_has_examples() -> None:
    result = run("new", "--help")
    assert result.exit_code == 0
    assert "gradcalc new pool --output my_pool.yaml" in result.stdout


# -- shell completion ------------------------------------------------------------------------


def complete(shell: str, words: str, cword: int | str) -> list[str]:
    """What `_GRADCALC_COMPLETE=<shell>_complete gradcalc` answers (as the shell scripts ask)."""
    result = run(
        env={
            "_GRADCALC_COMPLETE": f"{shell}_complete",
            "COMP_WORDS": words,
            "COMP_CWORD": str(cword),
        }
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_bash_completion_lists_lazy_commands_and_their_options() -> None:
    assert complete("bash", "gradcalc co", 1) == ["plain,conv", "plain,conv-transpose"]
    every = {line.split(",")[1] for line in complete("bash", "gradcalc ", 1)}
    commands = {registry.command_name(kind) for kind in KINDS}  # conv-transpose (issue 15)
    assert every == {*commands, "check", "run", "examples", "schema", "new", "random"}
    assert complete("bash", "gradcalc conv --fl", 2) == [
        "plain,--float",
        "plain,--flip-kernel",
        "plain,--flat-index",  # symbols in options (docs/symbolic.md)
    ]
    assert complete("bash", "gradcalc schema p", 2) == ["plain,pool"]
    assert complete("bash", "gradcalc new ", 2) == [f"plain,{kind}" for kind in KINDS]
    # File names are left to the shell.
    assert complete("bash", "gradcalc conv --spec prob", 3) == ["file,prob"]
    assert complete("bash", "gradcalc run prob", 2) == ["file,prob"]


def test_zsh_and_fish_completion() -> None:
    assert complete("zsh", "gradcalc co", 1) == [
        "plain",
        "conv",
        registry.OPS["conv"].summary,
        "plain",
        "conv-transpose",
        registry.OPS["conv_transpose"].summary,
    ]
    # fish passes the word being completed itself as COMP_CWORD.
    assert complete("fish", "gradcalc new", "new") == [
        "plain,new\tPrint a commented starter spec of a kind."
    ]


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_printed(shell: str) -> None:
    result = run(env={"_GRADCALC_COMPLETE": f"{shell}_source"})
    assert result.exit_code == 0
    assert "_GRADCALC_COMPLETE" in result.stdout
    assert f"{shell}_complete" in result.stdout


def test_completion_in_a_real_bash(tmp_path: Path) -> None:
    """Source the script `_GRADCALC_COMPLETE=bash_source gradcalc` prints (as the README says)
    and run its completion function, as bash does on <Tab>."""
    bash = shutil.which("bash")
    assert bash is not None
    script = tmp_path / "gradcalc"
    script.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" -c '
        '\'from gradcalc.cli.main import main; main(prog_name="gradcalc")\' "$@"\n'
    )
    script.chmod(0o755)
    program = (
        "source <(_GRADCALC_COMPLETE=bash_source gradcalc)\n"
        "COMP_WORDS=(gradcalc co); COMP_CWORD=1; _gradcalc_completion gradcalc\n"
        'echo "${COMPREPLY[@]}"\n'
        "COMPREPLY=(); COMP_WORDS=(gradcalc new lo); COMP_CWORD=2; _gradcalc_completion gradcalc\n"
        'echo "${COMPREPLY[@]}"\n'
    )
    completed = subprocess.run(
        [bash, "-c", program],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines() == ["conv conv-transpose", "loss"]


def test_only_the_authoring_commands_import_their_modules() -> None:
    """`gradcalc --help` lists schema and new without building a schema; a problem command
    imports neither module (start-up budget: benchmarks/startup.py)."""
    task3 = str(PROBLEMS_DIR / "task3.yaml")
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from gradcalc.cli.main import main\n"
        "mine = ('gradcalc.cli.authoring', 'gradcalc.core.schema')\n"
        f"assert CliRunner().invoke(main, ['conv', '--spec', {task3!r}]).exit_code == 0\n"
        "assert not [m for m in mine if m in sys.modules], 'imported by conv'\n"
        "help = CliRunner().invoke(main, ['--help'])\n"
        "assert 'schema' in help.output and 'new' in help.output\n"
        "assert 'gradcalc.core.schema' not in sys.modules, 'imported by --help'\n"
        "assert CliRunner().invoke(main, ['new', 'conv']).exit_code == 0\n"
        "assert 'gradcalc.core.schema' not in sys.modules, 'imported by new'\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert completed.returncode == 0, completed.stderr
