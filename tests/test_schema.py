"""`gradcalc schema`: the JSON Schema of a spec, the committed schema files, and every bundled
problem validated against them (with the jsonschema library, as an editor would)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result
from jsonschema import Draft7Validator
from random_problems import write_random

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.schema import DEFINITIONS, kind_fields, schema_file_name, spec_schema
from gradcalc.core.spec import COMMON_KEYS
from gradcalc.problems import PROBLEMS_DIR, bundled

SCHEMA_DIR = PROBLEMS_DIR / "schema"
KINDS = list(registry.OPS)
ENV = {"COLUMNS": "100", "NO_COLOR": None, "FORCE_COLOR": None}


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def validator(kind: str | None) -> Draft7Validator:
    return Draft7Validator(json.loads((SCHEMA_DIR / schema_file_name(kind)).read_text("utf-8")))


def errors(kind: str | None, spec: Any) -> list[str]:
    return [error.message for error in validator(kind).iter_errors(spec)]


@pytest.mark.parametrize("kind", [None, *KINDS])
def test_schemas_are_valid_draft_07(kind: str | None) -> None:
    schema = spec_schema(kind)
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("kind", [None, *KINDS])
def test_committed_schema_files_are_what_gradcalc_schema_prints(kind: str | None) -> None:
    """Regenerate them with `gradcalc schema --dir problems/schema` (README: Editors)."""
    result = run("schema", *([kind] if kind else []))
    assert result.exit_code == 0, result.stderr
    committed = (SCHEMA_DIR / schema_file_name(kind)).read_text(encoding="utf-8")
    assert result.stdout == committed, f"stale {schema_file_name(kind)}: regenerate it"
    assert json.loads(result.stdout) == spec_schema(kind)


def test_schema_folder_holds_exactly_the_generated_files() -> None:
    names = {path.name for path in SCHEMA_DIR.iterdir()}
    assert names == {schema_file_name(kind) for kind in (None, *KINDS)}


@pytest.mark.parametrize("kind", KINDS)
def test_kind_schema_has_the_keys_the_loader_accepts(kind: str) -> None:
    """core/spec.py check_keys allows COMMON_KEYS and the module's KEYS; upstream only where the
    kind takes one (the others reject it with their own message)."""
    entry = registry.OPS[kind]
    module = registry.op_module(kind)
    own = getattr(module, f"{kind.upper()}_KEYS", None) or module.KEYS
    expected = {*COMMON_KEYS, *own} - (set() if entry.takes_upstream else {"upstream"})
    schema = spec_schema(kind)
    assert set(schema["properties"]) == expected
    assert schema["additionalProperties"] is False
    assert schema["required"] == [f.name for f in entry.fields if f.required]
    assert schema["properties"]["kind"]["const"] == kind
    for spec_field in kind_fields(entry):
        # Keyed by result or role, a key's description goes on to list them.
        assert schema["properties"][spec_field.name]["description"].startswith(spec_field.help)


@pytest.mark.parametrize("kind", KINDS)
def test_every_field_example_fits_its_schema(kind: str) -> None:
    properties = spec_schema(kind)["properties"]
    for spec_field in kind_fields(registry.OPS[kind]):
        one = Draft7Validator({**properties[spec_field.name], "definitions": DEFINITIONS})
        if spec_field.example is not None:
            assert one.is_valid(spec_field.example), (kind, spec_field.name)
        for choice in spec_field.choices:
            assert one.is_valid(choice), (kind, spec_field.name, choice)


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
def test_every_bundled_problem_fits_the_schemas(path: Path) -> None:
    """As an editor sees it: the first line names the kind's schema, which exists and
    accepts the problem, and so does the schema of any spec."""
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    first_line = text.splitlines()[0]
    assert first_line == f"# yaml-language-server: $schema=schema/{data['kind']}.schema.json"
    assert (path.parent / first_line.split("$schema=")[1]).is_file()
    assert errors(data["kind"], data) == []
    assert errors(None, data) == []


TASK3 = {
    "kind": "conv",
    "input": [[2, -1], [0, -1], [1, 1], [-1, 2]],
    "kernel": [[1, 0], [-1, -2]],
}


@pytest.mark.parametrize(
    ("change", "message", "loader_message"),
    [
        ({"strid": 1}, "'strid' was unexpected", "unknown key 'strid'"),
        ({"stride": "two"}, "'two' is not valid", "stride"),
        ({"stride": 1.5}, "1.5 is not valid", "stride"),
        ({"flip_kernel": "no"}, "'no' is not of type 'boolean'", "flip_kernel"),
        ({"input": [[2, "1/x"]]}, "is not valid", "input"),
        ({"input": True}, "True is not valid", "input"),
        ({"padding": "half"}, "'half' is not valid", "padding"),  # full is a padding now (issue 15)
        ({"index_base": 2}, "2 is not one of [0, 1]", "index_base"),
        ({"expected": [1, 2]}, "is not of type 'object'", "expected"),
        ({"kernel": None}, "None is not valid", "kernel"),
    ],
)
def test_schema_rejects_what_the_loader_rejects(
    tmp_path: Path, change: dict[str, Any], message: str, loader_message: str
) -> None:
    spec = {**TASK3, **change}
    for kind in ("conv", None):
        found = errors(kind, spec)
        assert any(message in error for error in found), (kind, found)
    path = tmp_path / "bad.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    result = run("run", str(path))
    assert result.exit_code == 2
    assert loader_message in result.stderr


def test_schema_rejects_a_missing_required_key_and_an_unknown_kind() -> None:
    assert errors("conv", {"kind": "conv", "input": [[1]]}) == ["'kernel' is a required property"]
    assert any("'convv' is not one of" in e for e in errors(None, {**TASK3, "kind": "convv"}))
    assert errors("conv", {**TASK3, "kind": "pool"}) == ["'conv' was expected"]
    # The schema of any spec checks a spec against its own kind's keys.
    pool_key = {**TASK3, "ties": "all"}
    assert errors(None, pool_key) == [
        "Additional properties are not allowed ('ties' was unexpected)"
    ]
    assert errors(None, {"kind": "pool", "mode": "maxx", "input": [[1]], "size": 1}) == [
        "'maxx' is not one of ['max', 'avg', 'lp']"
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"input": [["1/4", "-3/2"], ["1e-3", 0.5]], "kernel": [[2]]},  # exact numeric text
        {"upstream": "ones", "tolerance": {"atol": "1e-9", "rtol": 0}},
        {"padding": "same", "stride": [1, 1], "names": {"input": "X"}, "index_base": 1},
        {"padding": [0, 1, 0, 1], "bias": [1], "flip_kernel": True, "tolerance": "1e-6"},
        {"points": {"output": 2}, "accept": {"flip_kernel": [True]}},
        {"expected": {"output": [["8/2"], [-3], ["-2.0"]], "output_shape": [3, 1]}},
    ],
)
def test_schema_accepts_what_the_loader_accepts(tmp_path: Path, change: dict[str, Any]) -> None:
    spec = {**TASK3, **change}
    assert errors("conv", spec) == []
    assert errors(None, spec) == []
    without_kind = {key: value for key, value in spec.items() if key != "kind"}
    assert errors(None, without_kind) == []  # as `gradcalc conv --spec` takes it
    path = tmp_path / "ok.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = run("run", str(path), "--format", "json")
    assert result.exit_code == 0, result.stderr


def test_schema_command_writes_a_file_and_names_unknown_kinds(tmp_path: Path) -> None:
    out = tmp_path / "conv.json"
    result = run("schema", "conv", "--output", str(out))
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text(encoding="utf-8")) == spec_schema("conv")
    again = run("schema", "conv", "--output", str(out))
    assert again.exit_code == 2 and "exists; use --force" in again.stderr
    assert run("schema", "pool", "--output", str(out), "--force").exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8")) == spec_schema("pool")

    unknown = run("schema", "cnov")
    assert unknown.exit_code == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        f"gradcalc schema: unknown kind 'cnov'; did you mean 'conv'? Known kinds: {', '.join(KINDS)}"
    ]
    assert run("schema", "conv", "--dir", str(tmp_path)).exit_code == 2

    folder = tmp_path / "schemas"
    folder.mkdir()
    assert run("schema", "--dir", str(folder)).exit_code == 0
    for kind in (None, *KINDS):
        written = (folder / schema_file_name(kind)).read_text(encoding="utf-8")
        assert written == (SCHEMA_DIR / schema_file_name(kind)).read_text(encoding="utf-8")
    missing = run("schema", "--dir", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert missing.stderr.strip().endswith("nowhere is not a folder")


def test_schema_help_has_examples() -> None:
    result = run("schema", "--help")
    assert result.exit_code == 0
    assert "gradcalc schema conv" in result.stdout
    assert "gradcalc schema --dir problems/schema" in result.stdout


# -- the schema and gradcalc agree --------------------------------------------------------------


def starter_spec(kind: str) -> dict[str, Any]:
    """`gradcalc new KIND` as plain data: a spec that solves as it is."""
    result = run("new", kind)
    assert result.exit_code == 0, result.stderr
    return yaml.safe_load(result.stdout)


LP_POOL = {"kind": "pool", "mode": "lp", "input": [[1, 2], [3, 4]], "size": 2, "p": 2}
# A spec graded by `gradcalc check` (points and accept are read there, not by `gradcalc run`).
GRADED = {**TASK3, "expected": {"output_shape": [3, 1]}}

# (kind or a base spec, change, command, whether gradcalc accepts it).  Each change is judged
# alone against the kind's starter spec (`gradcalc new KIND`) or the spec given.
AGREEMENT: list[tuple[str | dict[str, Any], dict[str, Any], str, bool]] = [
    # The audit's six: each passed the schema and made gradcalc exit 2.
    ("conv", {"expected": {"bogus": 1}}, "run", False),
    ("conv", {"names": {"foo": "Y"}}, "run", False),
    ("conv", {"stride": 0}, "run", False),
    ("pool", {"mode": "avg", "divisor_override": 0}, "run", False),
    ("loss", {"label_smoothing": 2}, "run", False),
    ("conv", {"kernel": 1}, "run", False),
    # Result names, kind by kind.
    ("conv", {"expected": {"output_shape": [3, 1]}}, "run", True),
    ("dense", {"expected": {"grad_kernel": 1}}, "run", False),
    ("softmax", {"expected": {"argmax": 1}}, "run", False),
    ("activation", {"expected": {"jacobian": 1}}, "run", False),
    ("loss", {"expected": {"output": 1}}, "run", False),
    ("pool", {"expected": {"output_shape": [2, 2]}}, "run", True),
    ("pool", {"expected": {"grad_kernel": 1}}, "run", False),
    ("expr", {"expected": {"gradient": ["2*x*y", "x**2 + cos(y)"]}}, "run", True),
    ("expr", {"expected": {"bogus": 1}}, "run", False),
    ("expr", {"expected": {"output": 1}}, "run", False),
    # Name roles: the example each kind's help shows is valid for it.
    *((kind, {"names": dict(registry.OPS[kind].names_example)}, "run", True) for kind in KINDS),
    ("loss", {"names": {"input": "X", "output": "H"}}, "run", False),
    ("expr", {"names": {"input": "X"}}, "run", False),
    ("dense", {"names": {"kernel": "K"}}, "run", False),
    ("conv", {"names": {"input": "ABCDEFGHIJKLM"}}, "run", False),
    ("conv", {"names": {"input": " "}}, "run", False),
    # Bounds on one key.
    ("conv", {"stride": [1, 2]}, "run", True),
    ("conv", {"stride": [1, 1, 1]}, "run", False),
    ("conv", {"dilation": 0}, "run", False),
    ("conv", {"padding": -1}, "run", False),
    ("conv", {"padding": [0, 1, 0, 1]}, "run", True),
    ("conv", {"padding": [0, 0, 0]}, "run", False),
    ("conv", {"bias": [[1]]}, "run", False),
    ("conv", {"upstream": 1}, "run", False),
    ("pool", {"size": 0}, "run", False),
    ("pool", {"stride": 0}, "run", False),
    ("pool", {"padding": [0, 0, 0, 0]}, "run", False),
    ("pool", {"mode": "avg", "divisor_override": 3}, "run", True),
    ("pool", {"mode": "avg", "divisor_override": 2**31}, "run", False),
    ("pool", {"mode": "avg", "divisor_override": 2**31 - 1}, "run", True),
    ("conv", {"stride": [1, 2**31]}, "run", False),
    ("conv", {"stride": 2**31 - 1}, "run", True),
    (LP_POOL, {"p": 0.5}, "run", False),
    (LP_POOL, {"p": 1001}, "run", False),
    (LP_POOL, {"p": 3}, "run", True),
    ("loss", {"label_smoothing": "1/10"}, "run", True),
    ("loss", {"label_smoothing": -0.5}, "run", False),
    ("activation", {"function": "softplus", "beta": 0}, "run", False),
    ("activation", {"function": "softplus", "beta": 2}, "run", True),
    ("dense", {"weight": [1, 2, 3]}, "run", False),
    ("dense", {"bias": 1}, "run", False),
    ("softmax", {"input": 1}, "run", False),
    ("activation", {"input": 2}, "run", True),
    ("conv", {"tolerance": -1}, "run", False),
    ("conv", {"tolerance": {"abs": 1}}, "run", False),
    ("conv", {"tolerance": {"rtol": "1e-3"}}, "run", True),
    # What `gradcalc check` reads.
    (GRADED, {"points": {"output_shape": 2}}, "check", True),
    (GRADED, {"points": {"bogus": 2}}, "check", False),
    (GRADED, {"points": -1}, "check", False),
    (GRADED, {"accept": {"tolerance": {"output": "1e-3"}}}, "check", True),
    (GRADED, {"accept": {"tolerance": {"bogus": "1e-3"}}}, "check", False),
    (GRADED, {"accept": {"tolerance": {"output": -1}}}, "check", False),
]


@pytest.mark.parametrize(
    ("base", "change", "command", "valid"),
    AGREEMENT,
    ids=lambda value: (
        json.dumps(value) if isinstance(value, dict) and "kind" not in value else None
    ),
)
def test_schema_and_gradcalc_agree(
    tmp_path: Path, base: str | dict[str, Any], change: dict[str, Any], command: str, valid: bool
) -> None:
    """The schema accepts a spec exactly when gradcalc does (exit 0, or 2 for a bad spec)."""
    spec = {**(starter_spec(base) if isinstance(base, str) else base), **change}
    for kind in (spec["kind"], None):
        assert (errors(kind, spec) == []) == valid, (kind, errors(kind, spec))
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = run(command, str(path))
    assert result.exit_code == (0 if valid else 2), result.output


@pytest.mark.parametrize("kind", KINDS)
def test_names_roles_are_gradcalcs(tmp_path: Path, kind: str) -> None:
    """The roles the schema lists are the ones gradcalc's own error names."""
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({**starter_spec(kind), "names": {"foo": "Y"}}), encoding="utf-8")
    result = run("run", str(path))
    assert result.exit_code == 2
    allowed = result.stderr.split("allowed: ")[1].split()
    roles = list(spec_schema(kind)["properties"]["names"]["properties"])
    assert ", ".join(roles) == " ".join(allowed).rstrip(".")
    assert roles == list(registry.name_roles(kind))


def results_of(path: Path) -> list[str]:
    """The results gradcalc names for a spec, from its error for an unknown one."""
    result = run("run", str(path))
    assert result.exit_code == 2
    return result.stderr.split("This problem's results: ")[1].strip().rstrip(".").split(", ")


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
def test_each_bundled_problems_results_are_in_the_schema(tmp_path: Path, path: Path) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(json.dumps({**data, "expected": {"bogus": 1}}), encoding="utf-8")
    expected = spec_schema(data["kind"])["properties"]["expected"]
    listed = expected["properties"]
    # A net's per-layer results (conv1.grad_kernel) are named by a pattern, not listed.
    patterns = expected.get("patternProperties", {})
    named = [name for name in results_of(bad) if not any(re.match(p, name) for p in patterns)]
    assert set(named) <= set(listed)


def random_cases() -> list[tuple[str, list[str]]]:
    """A `gradcalc random` command line for each kind and variant (two seeds)."""
    from gradcalc.core.practice import profile

    cases = []
    for kind in KINDS:
        by = profile(kind).by
        for variant in profile(kind).variants:
            knob = ["--" + by.name.replace("_", "-"), variant] if by is not None else []
            cases += [(kind, ["--seed", str(seed), *knob]) for seed in (0, 1)]
    return cases


@pytest.mark.parametrize(("kind", "options"), random_cases(), ids=str)
def test_random_problems_fit_the_schemas(tmp_path: Path, kind: str, options: list[str]) -> None:
    """`gradcalc random` with its answers in expected, and with them apart (points list them).
    With them: the file --output writes, which is what it prints (made once per session for
    the tests that read the same problem, tests/random_problems.py)."""
    with_expected = yaml.safe_load(
        write_random(tmp_path / "with.yaml", kind, *options).read_text(encoding="utf-8")
    )
    apart = tmp_path / "problem.yaml"
    result = run("random", kind, *options, "-o", str(apart), "--answers", str(tmp_path / "k.yaml"))
    assert result.exit_code == 0, result.stderr
    for spec in (with_expected, yaml.safe_load(apart.read_text(encoding="utf-8"))):
        assert errors(kind, spec) == []
        assert errors(None, spec) == []


@pytest.mark.parametrize("kind", KINDS)
def test_random_writes_to_its_output_what_it_prints(tmp_path: Path, kind: str) -> None:
    """What test_random_problems_fit_the_schemas (and the other readers of
    tests/random_problems.py) rely on: the file --output writes is the problem `gradcalc
    random` prints, byte for byte, so the printed problem fits the schemas too."""
    printed = run("random", kind, "--seed", "0")
    assert printed.exit_code == 0, printed.stderr
    written = write_random(tmp_path / "problem.yaml", kind, "--seed", "0")
    assert written.read_text(encoding="utf-8") == printed.stdout


@pytest.mark.parametrize(
    ("base", "change", "command"),
    [
        # A number written as text is not bounded (a pattern for "≥ 1" would be unreadable).
        ("conv", {"stride": "0"}, "run"),
        (LP_POOL, {"p": "1/2"}, "run"),
        # What depends on another key: the shapes, the pool's mode, the loss.
        ("conv", {"expected": {"grad_bias": [1]}}, "run"),  # no bias
        ("pool", {"expected": {"argmax": [[0, 0], [0, 0]]}, "mode": "avg"}, "run"),
        ("pool", {"padding": 2}, "run"),  # more than half the window
        ("conv", {"kernel": [[1, 0, 1, 0, 1]]}, "run"),  # wider than the input
        ("loss", {"label_smoothing": 0, "loss": "mse"}, "run"),
    ],
)
def test_where_the_schema_stays_looser(
    tmp_path: Path, base: str | dict[str, Any], change: dict[str, Any], command: str
) -> None:
    """What only gradcalc catches (the module docstring of core/schema.py and the README say so)."""
    spec = {**(starter_spec(base) if isinstance(base, str) else base), **change}
    assert errors(spec["kind"], spec) == []
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    assert run(command, str(path)).exit_code == 2
