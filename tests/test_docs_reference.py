"""The spec reference in docs/ cannot drift from the registry's Field tables.

Each kind's page (docs/KIND.md) holds a table of its keys generated from its ``OpEntry``'s
``spec_fields()`` in core/kinds/entry.py, docs/numbers.md the keys every kind shares and
docs/check.md the keys only ``gradcalc check`` reads.  The tables sit between two marker
comments; this test regenerates them and fails when the committed text differs.  After
changing a Field, regenerate them with

    GRADCALC_UPDATE_DOCS=1 python -m pytest tests/test_docs_reference.py

The hand-written YAML sample at the top of a kind's page may only use keys its table has, and
gradcalc solves it with its answers right.  Every relative link in README.md and docs/ reaches a
file and heading.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core.kinds.field import Field
from gradcalc.core.registry import CHECK_FIELDS, COMMON_FIELDS, OPS, command_name, result_names

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
UPDATE = os.environ.get("GRADCALC_UPDATE_DOCS") == "1"

BEGIN = (
    "<!-- BEGIN keys generated from core/kinds/catalog.py: "
    "GRADCALC_UPDATE_DOCS=1 python -m pytest tests/test_docs_reference.py -->"
)
END = "<!-- END generated keys -->"
REGION = re.compile(re.escape(BEGIN) + r"\n(.*?)" + re.escape(END), re.S)

TYPE_WORDS = {
    "tensor": "number or nested lists",
    "number": "number",
    "integer": "whole number",
    "ints": "whole number or list of them",
    "boolean": "true or false",
    "booleans": "true/false in nested lists",
    "text": "text",
    "texts": "text or list of texts",
    "mapping": "mapping",
    "answers": "answers by result name",
    "null": "null",
    "layers": "list of layers (words or mappings with a type)",
}


def _value(value: object) -> str:
    """A YAML scalar as a spec would write it (`true`, `"ones"`, `0`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


def _holds(spec_field: Field) -> str:
    """What the key holds: its types, choices and the bounds the loader enforces."""
    words = [TYPE_WORDS[kind] for kind in spec_field.types if kind != "choice"]
    if spec_field.dims is not None:
        fewest, most = spec_field.dims
        if most == 0:
            shape = "a number"
        elif fewest == 0:
            shape = f"a number or nested lists, up to {most} levels"
        else:
            shape = f"nested lists, {fewest}–{most} levels"
        words[words.index("number or nested lists")] = shape
    holds = " or ".join(words)
    if spec_field.choices:
        listed = ", ".join(f"`{_value(choice)}`" for choice in spec_field.choices)
        holds = f"{holds} or {listed}" if holds else f"one of {listed}"
    bounds = []
    if spec_field.minimum is not None:
        bounds.append(f"≥ {spec_field.minimum}")
    if spec_field.above is not None:
        bounds.append(f"> {spec_field.above}")
    if spec_field.maximum is not None:
        bounds.append(f"≤ {spec_field.maximum}")
    if spec_field.lengths:
        bounds.append("lists of " + " or ".join(str(length) for length in spec_field.lengths))
    return holds + (f" ({', '.join(bounds)})" if bounds else "")


def keys_table(fields: tuple[Field, ...] | list[Field], kind: str | None = None) -> str:
    """A Markdown table of ``fields``: key, what it holds, its help.  ``kind`` is the page's
    kind (its `kind` key holds only that name); None lists every kind."""
    rows = ["| key | holds | meaning |", "| --- | --- | --- |"]
    for spec_field in fields:
        key = f"`{spec_field.name}`" + (" (required)" if spec_field.required else "")
        if spec_field.name == "kind":
            holds = f"`{kind}`" if kind else "one of " + ", ".join(f"`{name}`" for name in OPS)
        else:
            holds = _holds(spec_field)
        cells = (key, holds, spec_field.help)
        rows.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(rows) + "\n"


def generated_tables() -> dict[Path, str]:
    """Each page with a generated table, and the table it must hold."""
    tables = {
        DOCS / f"{kind}.md": keys_table(entry.spec_fields(), kind) for kind, entry in OPS.items()
    }
    tables[DOCS / "numbers.md"] = keys_table(list(COMMON_FIELDS.values()))
    tables[DOCS / "check.md"] = keys_table(list(CHECK_FIELDS.values()))
    return tables


@pytest.mark.parametrize("page", sorted(generated_tables()), ids=lambda path: path.name)
def test_generated_key_tables_match_the_registry(page: Path) -> None:
    expected = generated_tables()[page]
    text = page.read_text(encoding="utf-8")
    found = REGION.findall(text)
    assert len(found) == 1, f"{page.name}: needs exactly one generated keys region"
    if UPDATE and found[0] != expected:
        page.write_text(REGION.sub(lambda _: f"{BEGIN}\n{expected}{END}", text), encoding="utf-8")
        found = [expected]
    assert found[0] == expected, (
        f"{page.name}: its keys table is out of date with core/kinds/catalog.py; regenerate it with "
        "GRADCALC_UPDATE_DOCS=1 python -m pytest tests/test_docs_reference.py"
    )


def test_every_kind_has_a_page_and_no_page_names_an_unknown_kind() -> None:
    pages = {path.stem for path in DOCS.glob("*.md")}
    assert set(OPS) <= pages
    for path in DOCS.glob("*.md"):
        if path.read_text(encoding="utf-8").startswith("# Spec reference: `kind: "):
            assert path.stem in OPS, path.name


def test_every_list_of_the_kinds_names_every_kind() -> None:
    """The lists of kinds written by hand name every kind: a new kind is not left out of the
    README's command table, the docs index, the options page or the practice sizes table."""
    lists = {
        REPO / "README.md": "| `gradcalc {command}` |",  # conv-transpose for conv_transpose
        DOCS / "README.md": "[{kind}]({kind}.md)",
        DOCS / "options.md": "`{kind}`",
        DOCS / "practice.md": "| `{kind}` |",
    }
    for page, pattern in lists.items():
        text = page.read_text(encoding="utf-8")
        missing = [
            kind
            for kind in OPS
            if pattern.format(kind=kind, command=command_name(kind)) not in text
        ]
        assert not missing, f"{page.relative_to(REPO)} does not list {missing}"


@pytest.mark.parametrize("kind", sorted(OPS))
def test_a_kind_page_mentions_exactly_its_keys(kind: str) -> None:
    """Every key of the kind's Field table is in its page's table, and its YAML samples use
    no key the table lacks (the tables are generated, the samples hand-written)."""
    entry = OPS[kind]
    allowed = {f.name for f in entry.spec_fields()} | {f.name for f in entry.check_fields()}
    text = (DOCS / f"{kind}.md").read_text(encoding="utf-8")
    table = REGION.search(text)
    assert table is not None
    listed = set(re.findall(r"^\| `(\w+)`", table.group(1), re.M))
    assert listed == {f.name for f in entry.spec_fields()}
    samples = re.findall(r"```yaml\n(.*?)```", text, re.S)
    assert samples, f"{kind}.md has no YAML sample"
    for sample in samples:
        spec = yaml.safe_load(sample)
        assert isinstance(spec, dict)
        # A commented-out key in a sample (`# beta: 1, threshold: 20`) counts too.
        commented = set(re.findall(r"^# (\w+):", sample, re.M)) - {"yaml"}
        unknown = (set(spec) | commented) - allowed
        assert not unknown, f"{kind}.md's YAML sample uses keys its Field table lacks: {unknown}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    return {_slug(heading) for heading in re.findall(r"^#+ (.*)$", text, re.M)}


@pytest.mark.parametrize(
    "page", [REPO / "README.md", *sorted(DOCS.glob("*.md"))], ids=lambda path: path.name
)
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"\w+://", target):
            continue
        path_text, _, anchor = target.partition("#")
        linked = (page.parent / path_text).resolve() if path_text else page
        assert linked.is_file(), f"{page.name}: link to {target}: no such file"
        if anchor:
            assert anchor in _anchors(linked), f"{page.name}: link to {target}: no such heading"


# Keys a kind page's sample lists for other modes than its own (commented "avg only", "lp only"):
# left out when the sample is solved.
OTHER_MODES = {"pool": {"count_include_pad", "divisor_override", "p"}}


@pytest.mark.parametrize("kind", sorted(OPS))
def test_a_kind_pages_sample_solves(kind: str, tmp_path: Path) -> None:
    """The YAML sample at the top of a kind's page is a spec gradcalc solves, its answers right."""
    sample = re.search(
        r"```yaml\n(.*?)```", (DOCS / f"{kind}.md").read_text(encoding="utf-8"), re.S
    )
    assert sample is not None
    lines = [
        line
        for line in sample.group(1).splitlines(keepends=True)
        if line.split(":")[0] not in OTHER_MODES.get(kind, set())
    ]
    (tmp_path / "sample.yaml").write_text("".join(lines), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(tmp_path / "sample.yaml"), "--no-color"])
    assert result.exit_code == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", sorted(OPS))
def test_a_kind_pages_results_are_the_kinds_results(kind: str) -> None:
    """The page's **Results** bullet names every result the kind has (registry.result_names),
    and no `grad_…`/`jacobian…`/`…_at` name it lacks."""
    text = (DOCS / f"{kind}.md").read_text(encoding="utf-8")
    bullet = re.search(r"^- \*\*Results.*?(?=^- |^$)", text, re.S | re.M)
    assert bullet is not None, f"{kind}.md has no **Results** bullet"
    named = set(re.findall(r"`(\w+)`", bullet.group(0)))
    results = set(result_names(kind))
    assert results <= named, f"{kind}.md does not name the results {results - named}"
    resultlike = {name for name in named if re.match(r"grad_|jacobian|.*_at$", name)}
    assert resultlike <= results, f"{kind}.md names results {kind} lacks: {resultlike - results}"


def test_the_readme_stays_short_and_keeps_its_two_commands() -> None:
    """The README is the front page (≤ 250 lines); the reference lives in docs/.  Its two set-up
    commands are what a fresh clone runs (.ci/run runs the test command's `python -m pytest`)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250
    assert "pip install . && gradcalc conv --spec problems/task3.yaml\n" in readme
    assert 'pip install -e ".[test]" && python -m pytest\n' in readme
