"""Text from a spec or a file name never reaches the terminal or an export as control bytes.

A title like ``"\\x1b]52;c;…\\x07"`` (an OSC 52 clipboard write), ``"\\x1b[2J"`` (clear
the screen) or a C1 CSI would act on the reader's terminal; in an SVG export it makes the
file invalid XML.  Every format shows such characters written out (``\\x1b``); JSON keeps the
value and escapes it the JSON way.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tex import assert_compiles

from gradcalc.cli.main import main
from gradcalc.cli.safe_text import json_visible, visible

# Clear screen, set the window title, write the clipboard (OSC 52), a C1 CSI, DEL, NUL.
TITLE = "T\x1b[2J\x1b]0;pwned\x07\x1b]52;c;aGk=\x07\x9b31m\x7fZ\x00"
NAME = "X\x1b[31m"
SPEC = f"""kind: conv
title: {json.dumps(TITLE)}
input: [[2, -1], [0, -1], [1, 1], [-1, 2]]
kernel: [[1, 0], [-1, -2]]
upstream: [[0], [1], [2]]
names: {{input: {json.dumps(NAME)}, kernel: K, output: H, loss: L}}
expected:
  output: [[4], [-3], [-2]]
"""
# Any byte a terminal may act on, but the newline and the tab.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Rich's own color codes, the only escape sequences a colored report may contain.
RICH_STYLE = re.compile(r"\x1b\[[0-9;]*m")
SHOWN_TITLE = "T\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;aGk=\\x07\\x9b31m\\x7fZ\\x00"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "hostile.yaml"
    path.write_text(SPEC, encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env or {}, catch_exceptions=False)


def test_visible_writes_out_control_characters_only() -> None:
    assert visible("a\tb\nc") == "a\tb\nc"
    assert visible("\x1b[2J\x07\x00\x7f\x9b\r") == "\\x1b[2J\\x07\\x00\\x7f\\x9b\\x0d"
    assert visible("é ∂ ŷ —") == "é ∂ ŷ —"
    assert visible("bad\udcffname") == "bad\\xffname"  # a file name byte that is not UTF-8
    assert json.loads(json_visible(json.dumps("\x7f\x9b", ensure_ascii=False))) == "\x7f\x9b"


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["conv", "--no-color"], {}),
        (["conv"], {"NO_COLOR": None, "TERM": "dumb"}),  # a pipe: Rich's plain text
        (["conv"], {"FORCE_COLOR": "1", "NO_COLOR": None}),  # a color terminal
        (["run"], {"NO_COLOR": "1"}),
        (["conv", "--format", "markdown"], {}),
        (["conv", "--format", "latex"], {}),
    ],
    ids=["no-color", "pipe", "color-terminal", "run", "markdown", "latex"],
)
def test_control_characters_from_a_spec_are_written_out(
    spec: Path, args: list[str], env: dict[str, str | None]
) -> None:
    command = [*args[:1], str(spec)] if args[0] == "run" else [*args[:1], "--spec", str(spec)]
    result = run(*command, *args[1:], env=env)
    assert result.exit_code == 0, result.output
    assert not CONTROL.search(RICH_STYLE.sub("", result.stdout)), result.stdout[:300]
    if "latex" in args:
        assert "T\\textbackslash{}x1b[2J\\textbackslash{}x1b]0;pwned" in result.stdout
    else:
        shown = SHOWN_TITLE
        if "markdown" in args:  # Markdown escapes its brackets
            shown = shown.replace("[", "\\[").replace("]", "\\]")
        assert shown in result.stdout
        assert "X\\x1b" in result.stdout  # the name too


def test_json_keeps_the_value_and_escapes_it(spec: Path) -> None:
    result = run("conv", "--spec", str(spec), "--format", "json")
    assert result.exit_code == 0
    assert not CONTROL.search(result.stdout)
    assert json.loads(result.stdout)["title"] == TITLE
    lines = run("run", str(spec), str(spec), "--format", "json").stdout
    assert not CONTROL.search(lines)
    assert [json.loads(line)["title"] for line in lines.splitlines()] == [TITLE, TITLE]


def test_latex_with_control_characters_compiles(spec: Path, tmp_path: Path) -> None:
    result = run("conv", "--spec", str(spec), "--format", "latex")
    assert result.exit_code == 0
    assert_compiles(tmp_path, result.stdout)


class Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.data: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.open.append(tag)

    def handle_data(self, data: str) -> None:
        self.data.append(data)


def test_html_export_has_no_control_bytes(spec: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    assert run("conv", "--spec", str(spec), "--export", str(report)).exit_code == 0
    page = report.read_text(encoding="utf-8")
    assert not CONTROL.search(page)
    parser = Text()
    parser.feed(page)
    parser.close()
    text = "".join(parser.data)
    assert f"gradcalc conv — {SHOWN_TITLE}" in text  # in <title> and in the report
    assert {"html", "head", "title", "body", "pre"} <= set(parser.open)


def test_svg_export_is_valid_xml(spec: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.svg"
    assert run("conv", "--spec", str(spec), "--export", str(report)).exit_code == 0
    assert not CONTROL.search(report.read_text(encoding="utf-8"))
    root = ET.parse(report).getroot()  # raises on a control character (invalid XML 1.0)
    text = "".join(root.itertext()).replace("\xa0", " ")
    assert "\\x1b]52;c;aGk=" in text


@pytest.mark.parametrize(
    "args",
    [
        ["conv", "--spec", "{dir}/\x1b]0;x\x07missing.yaml"],
        ["run", "{dir}/\x1b[2Jmissing.yaml"],
        ["conv", "--spec", "{dir}/ok.yaml", "--export", "{dir}/\x1b[2J.pdf"],
        ["run", "{dir}/bad\x1b[31m.yaml"],
        ["random", "conv", "--seed", "1", "-o", "{dir}/no\x1b[2J/p.yaml"],
    ],
    ids=["spec", "run", "export", "spec-error", "random"],
)
def test_a_file_name_with_control_characters_is_written_out_in_the_error(
    tmp_path: Path, args: list[str]
) -> None:
    (tmp_path / "ok.yaml").write_text(SPEC, encoding="utf-8")
    (tmp_path / "bad\x1b[31m.yaml").write_text("kind: conv\ninput: [[1]]\nkernel: 5\n", "utf-8")
    result = run(*(arg.format(dir=tmp_path) for arg in args))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert not CONTROL.search(result.stderr), result.stderr
    assert "\\x1b" in result.stderr


# -- LaTeX that compiles whatever the spec says ----------------------------------------------------

EVERY_SPECIAL = "\\ { } # $ % & _ ^ ~ < > | \" ' ` [ ] -- --- ! ? @ * ½ × é ŷ ∂"


@pytest.mark.parametrize(
    ("title", "names"),
    [
        ("Paragraph one\n\nparagraph two\n\n\n", {"input": "X", "output": "H"}),
        (EVERY_SPECIAL, {"input": "[x", "kernel": "{%#&}", "output": "\\n"}),
        ("brackets", {"input": "*'SN)5", "kernel": "~~(", "output": "[J"}),  # aligned's [t]
        ("\t\x1b\x00\x7f\x9b\r\n", {"input": "a^b^c", "kernel": "x²³", "output": "y_1 _2"}),
        ("primes", {"input": "X'^2", "kernel": "k^2'", "output": "H_a^b_c"}),
    ],
    ids=["blank-lines", "specials", "brackets", "controls", "scripts"],
)
def test_latex_compiles_for_any_title_and_names(
    tmp_path: Path, title: str, names: dict[str, str]
) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "kind: conv\ninput: [[2, -1], [0, 1]]\nkernel: [[1, 0], [-1, 2]]\n"
        f"title: {json.dumps(title)}\nnames: {json.dumps(names, ensure_ascii=False)}\n",
        encoding="utf-8",
    )
    result = run("conv", "--spec", str(spec), "--format", "latex")
    assert result.exit_code == 0, result.output
    body = result.stdout
    # Checked as text too, for machines without TeX: the heading is one line, nothing is a
    # control character, and no symbol has two subscripts or two superscripts in a row.
    heading = next(line for line in body.splitlines() if line.startswith("\\section*{"))
    assert heading.endswith("}") and heading.count("{") == heading.count("}")
    assert not CONTROL.search(body)
    assert not re.search(r"(?<!\\)(_\{[^{}]*\} *_|\^\{[^{}]*\} *\^|'\^|\^\{[^{}]*\}')", body)
    # a "[" right after \begin{aligned} or \\ would be read as an optional argument
    assert not re.search(r"(\\begin\{\w+\}|\\\\)\n *\[", body)
    assert_compiles(tmp_path, body)


def test_a_bullet_starting_with_a_bracket_is_not_an_item_label(tmp_path: Path) -> None:
    from gradcalc.cli.numbers import NumberStyle
    from gradcalc.cli.render_latex import LatexRenderer

    renderer = LatexRenderer(NumberStyle(), None)
    renderer.bullets(["[x] is the window", "[", "plain"])
    body = "\n".join(renderer.out)
    assert "\\item {}[x] is the window" in body and "\\item {}[\n" in body
    assert_compiles(tmp_path, body)


# ---------------------------------------------------------------------------
# Invisible characters that change what is shown: bidirectional controls, separators

# A right-to-left override (U+202E) reverses the text after it on screen: "a = 1 ‮+ 2" could
# show a step that is not the one computed.  Every such character is written out (\u202e).
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
INVISIBLE = BIDI + "\u2028\u2029\ufeff\u200b"
RAW_INVISIBLE = re.compile(f"[{INVISIBLE}]")
BIDI_TITLE = "T" + INVISIBLE + "Z"
BIDI_SPEC = f"""kind: conv
title: {json.dumps(BIDI_TITLE)}
input: [[2, -1], [0, -1], [1, 1], [-1, 2]]
kernel: [[1, 0], [-1, -2]]
names: {{input: {json.dumps("X" + chr(0x202E))}, kernel: {json.dumps("K" + chr(0x2066))}}}
"""


def test_visible_writes_out_bidirectional_controls_and_separators() -> None:
    assert visible(INVISIBLE) == "".join(f"\\u{ord(c):04x}" for c in INVISIBLE)
    assert visible("a\tb\nc é ∂ — العربية") == "a\tb\nc é ∂ — العربية"  # RTL text itself stays
    assert json.loads(json_visible(json.dumps(INVISIBLE, ensure_ascii=False))) == INVISIBLE
    assert not RAW_INVISIBLE.search(json_visible(json.dumps(INVISIBLE, ensure_ascii=False)))


@pytest.mark.parametrize("output_format", ["table", "markdown", "latex", "json", "html", "svg"])
def test_bidi_controls_in_a_title_or_name_are_written_out(
    tmp_path: Path, output_format: str
) -> None:
    spec = tmp_path / "bidi.yaml"
    spec.write_text(BIDI_SPEC, encoding="utf-8")
    if output_format in ("html", "svg"):
        report = tmp_path / f"report.{output_format}"
        result = run("conv", "--spec", str(spec), "--export", str(report))
        text = report.read_text(encoding="utf-8")
    else:
        result = run("conv", "--spec", str(spec), "--format", output_format)
        text = result.stdout
    assert result.exit_code == 0, result.output
    assert not RAW_INVISIBLE.search(text), output_format
    assert not RAW_INVISIBLE.search(result.output)
    if output_format == "json":
        assert json.loads(text)["title"] == BIDI_TITLE  # the same value, escaped the JSON way
    else:
        assert "u202e" in text  # written out, so the reader sees it is there


def test_bidi_controls_in_an_inline_title_are_written_out() -> None:
    result = run(
        "conv", "--input", "1 2; 3 4", "--kernel", "1 0; 0 1", "--title", "a\u202eb\u2069c"
    )
    assert result.exit_code == 0, result.output
    assert not RAW_INVISIBLE.search(result.stdout)
    assert "a\\u202eb\\u2069c" in result.stdout


@pytest.mark.parametrize(
    ("content", "shown"),
    [
        ('kind: conv\ninput: [[1, 2]]\n"\\tkernel": [[1]]\n', "\\tkernel: unknown key '\\tkernel'"),
        ('kind: conv\ninput: [[1, 2]]\n"k\\u202eernel": [[1]]\n', "k\\u202eernel: unknown key"),
        ("kind: conv\ninput: [[1, 2]]\nkernel: [[1]]\ntitle: [1]\n", "title must be text"),
    ],
)
def test_an_error_line_has_no_raw_tab_control_or_bidi_character(
    tmp_path: Path, content: str, shown: str
) -> None:
    spec = tmp_path / "q\t\u202e.yaml"  # the file name too
    spec.write_text(content, encoding="utf-8")
    result = run("conv", "--spec", str(spec))
    assert result.exit_code == 2
    line = result.stderr
    assert line.count("\n") == 1 and line.endswith("\n"), line
    assert not CONTROL.search(line.rstrip("\n")) and "\t" not in line, line
    assert not RAW_INVISIBLE.search(line), line
    assert line.startswith(f"{tmp_path}/q\\t\\u202e.yaml:"), line
    assert shown in line, line


def test_a_braced_subscript_is_one_latex_subscript_group():
    # attention's "max_{j ≤ 0}" was typeset as the text "max\_\{j ≤ 0\}"
    from gradcalc.cli.render_latex import math

    assert math("m_0 = max_{j ≤ 0} A_0j") == r"m_{0} = \mathrm{max}_{j \le  0} A_{0j}"
    assert math("Σ_{j ∈ {0, 2}} e").endswith(r"_{j \in  \{0, 2\}} e")  # a set keeps its braces
    assert math("x_{") == r"x\_\{"  # an unclosed brace stays text
