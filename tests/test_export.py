"""``--export report.html|svg`` and the heatmaps of gradient and output matrices.

The HTML report is opened in headless Chromium and its tables are read back
from the browser's DOM and compared with the JSON output.  Without Chromium
(Debian: ``apt-get install chromium``) that one test skips, saying why; CI
installs it and sets GRADCALC_REQUIRE_BROWSER=1, so there a missing browser fails.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from gradcalc.cli.main import main
from gradcalc.cli.numbers import NumberStyle
from gradcalc.cli.render_table import HEAT_LEGEND, TableRenderer
from gradcalc.cli.spec_loader import load_file
from gradcalc.core import registry
from gradcalc.core.explain import GRADIENT, Matrix
from gradcalc.core.spec import SolveOptions
from gradcalc.problems import bundled

REPO = Path(__file__).resolve().parents[1]
TASK3 = str(REPO / "problems" / "task3.yaml")
ENV = {"COLUMNS": "100", "FORCE_COLOR": None, "NO_COLOR": None, "TERM": "xterm"}
RESULTS = ("output", "grad_input", "grad_kernel")  # the matrices task3 shows under Results
ANSI = "\x1b["
BACKGROUND = re.compile(r"background-color: ?#([0-9a-f]{6})")


def run(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env={**ENV, **(env or {})}, catch_exceptions=False)


def task3_results() -> dict[str, list[list[str]]]:
    """task3's result matrices from --format json, each cell written as the report writes it."""
    result = run("conv", "--spec", TASK3, "--format", "json")
    assert result.exit_code == 0, result.stderr
    results = json.loads(result.stdout)["results"]
    return {
        name: [[str(value).replace("-", "−") for value in row] for row in results[name]]
        for name in RESULTS
    }


def grid_rows(lines: list[str], label: str, count: int) -> list[list[str]]:
    """The ``count`` rows of the grid titled ``label`` in the Results section, without
    their row labels."""
    start = next(i for i, line in enumerate(lines) if line.startswith("── Results"))
    title = lines.index(label, start)
    rows = lines[title + 2 : title + 2 + count]  # after the title and the column header
    return [row.split()[1:] for row in rows]


def assert_results_shown(lines: list[str]) -> None:
    """Every task3 result matrix is in ``lines`` with the values of the JSON output."""
    for name, rows in task3_results().items():
        assert grid_rows(lines, name, len(rows)) == rows, name


class PreText(HTMLParser):
    """The text inside <pre>, and the background color of each styled span's text."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.parts: list[str] = []
        self.styles: list[str] = []  # the style of each open span ("" for none)
        self.shaded: list[tuple[str, str]] = []  # (text, background hex)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "pre":
            self.depth += 1
        elif tag == "span":
            self.styles.append(dict(attrs).get("style") or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self.depth -= 1
        elif tag == "span" and self.styles:
            self.styles.pop()

    def handle_data(self, data: str) -> None:
        if not self.depth:
            return
        self.parts.append(data)
        background = BACKGROUND.search(self.styles[-1]) if self.styles else None
        if background:
            self.shaded.append((data.strip(), background.group(1)))

    def lines(self) -> list[str]:
        return "".join(self.parts).rstrip("\n").split("\n")


def read_html(text: str) -> PreText:
    parser = PreText()
    parser.feed(text)
    return parser


def assert_shaded_by_sign(shaded: list[tuple[str, str]]) -> None:
    """Negative values have a red background, positive ones a blue one."""
    numbers = [(text, color) for text, color in shaded if re.fullmatch(r"−?\d+(/\d+)?", text)]
    assert any(text.startswith("−") for text, _ in numbers), shaded
    assert any(not text.startswith("−") for text, _ in numbers), shaded
    for text, color in numbers:
        red, blue = int(color[:2], 16), int(color[4:], 16)
        assert (red > blue) == text.startswith("−"), (text, color)


def browser() -> str:
    """Chromium's path; skips (or fails under GRADCALC_REQUIRE_BROWSER=1) when there is none."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("GRADCALC_REQUIRE_BROWSER") == "1":
        pytest.fail(
            "GRADCALC_REQUIRE_BROWSER=1 but chromium is not installed "
            "(`apt-get install chromium`; .ci/run installs it)"
        )
    pytest.skip("chromium is not installed: the HTML report is not opened in a browser")


# --export html -----------------------------------------------------------------------------


def test_html_report_opens_in_chromium_with_the_json_values(tmp_path: Path) -> None:
    chromium = browser()
    report = tmp_path / "report.html"
    result = run("conv", "--spec", TASK3, "--export", str(report))
    assert result.exit_code == 0, result.stderr
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",  # CI containers run as root
            "--disable-gpu",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            report.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "<title>gradcalc conv — Task 3 (a)" in dom
    page = read_html(dom)
    lines = page.lines()
    assert lines[0].startswith("gradcalc conv — Task 3 (a)")
    assert_results_shown(lines)
    assert "OK — every check passed" in lines
    assert_shaded_by_sign(page.shaded)


def test_html_report_matches_stdout_and_keeps_colors_when_stdout_is_plain(
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.html"
    # The export is not fitted to the terminal (docs/output.md): compared with a wide one.
    wide = {"COLUMNS": "1000"}
    plain = run("conv", "--spec", TASK3, env=wide)
    result = run("conv", "--spec", TASK3, "--export", str(report), env={"NO_COLOR": "1", **wide})
    assert result.exit_code == 0
    assert result.stdout == plain.stdout  # stdout is the usual report, without colors
    assert ANSI not in result.stdout
    page = read_html(report.read_text(encoding="utf-8"))
    lines = page.lines()
    assert_results_shown(lines)
    assert_shaded_by_sign(page.shaded)
    assert sum(line.startswith("shading:") for line in lines) == 1
    assert HEAT_LEGEND in "\n".join(lines)
    # the export is the colored report: its text is stdout's plus the legend and cell margins
    assert [line.split() for line in lines if not line.startswith("shading:")] == [
        line.split() for line in plain.stdout.rstrip("\n").split("\n")
    ]


# --export svg --------------------------------------------------------------------------------


def svg_lines(path: Path) -> list[str]:
    """The SVG's terminal text, line by line: its <text> pieces placed by their x and y."""
    namespace = "{http://www.w3.org/2000/svg}"
    root = ET.parse(path).getroot()  # raises if the file is not well-formed XML
    assert root.tag == f"{namespace}svg"
    pieces = [
        (float(node.get("y")), float(node.get("x")), "".join(node.itertext()))
        for node in root.iter(f"{namespace}text")
        if node.get("clip-path")  # the terminal's text, not the window title
    ]
    char_width = min(
        float(node.get("textLength")) / len("".join(node.itertext()))
        for node in root.iter(f"{namespace}text")
        if node.get("textLength")
    )
    rows: dict[float, list[str]] = {}
    for y, x, text in pieces:
        row = rows.setdefault(y, [])
        column = round(x / char_width)
        row.extend(" " * (column + len(text) - len(row)))
        row[column : column + len(text)] = text.replace("\xa0", " ")
    return ["".join(rows[y]).rstrip() for y in sorted(rows)]


def test_svg_report_is_xml_with_the_json_values(tmp_path: Path) -> None:
    report = tmp_path / "report.svg"
    result = run("conv", "--spec", TASK3, "--export", str(report))
    assert result.exit_code == 0, result.stderr
    lines = svg_lines(report)
    assert lines[0].startswith("gradcalc conv — Task 3 (a)")
    assert_results_shown(lines)
    text = report.read_text(encoding="utf-8")
    assert "#b2182b" in text and "#2166ac" in text  # the deepest red and blue shades


def test_run_exports_every_spec_into_one_file(tmp_path: Path) -> None:
    report = tmp_path / "both.html"
    pool = str(REPO / "problems" / "seed002_max_pool.yaml")
    result = run("run", TASK3, pool, "--export", str(report))
    assert result.exit_code == 0, result.stderr
    lines = read_html(report.read_text(encoding="utf-8")).lines()
    titles = [line for line in lines if line.startswith("gradcalc ")]
    assert [title.split(" — ")[0] for title in titles] == ["gradcalc conv", "gradcalc pool"]
    assert "<title>gradcalc: 2 reports</title>" in report.read_text(encoding="utf-8")


def test_examples_name_exports(tmp_path: Path) -> None:
    report = tmp_path / "task3.svg"
    result = run("examples", "task3", "--export", str(report))
    assert result.exit_code == 0, result.stderr
    assert_results_shown(svg_lines(report))


# --export: bad use and writing -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["conv", "--spec", TASK3, "--export", "{dir}/report.pdf"],
            "gradcalc conv: --export: use .html or .svg (got '{dir}/report.pdf')",
        ),
        (
            ["conv", "--spec", TASK3, "--format", "json", "--export", "{dir}/r.html"],
            "gradcalc conv: --export writes the table report; it cannot be combined with "
            "--format json",
        ),
        (
            ["conv", "--spec", TASK3, "--export", "{dir}/missing/r.html"],
            "gradcalc conv: --export: no folder '{dir}/missing' to write into",
        ),
        (
            ["run", TASK3, "--export", "{dir}/report.txt"],
            "gradcalc run: --export: use .html or .svg (got '{dir}/report.txt')",
        ),
        (
            ["examples", "--export", "{dir}/r.html"],
            "gradcalc examples: --export needs a problem NAME (the list is not a report)",
        ),
    ],
)
def test_export_misuse_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run(*(arg.format(dir=tmp_path) for arg in args))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message.format(dir=tmp_path) + "\n"
    assert list(tmp_path.iterdir()) == []


def test_export_replaces_atomically_with_shareable_permissions(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    # An earlier export is replaced (a file that is not one needs --force: see below).
    assert run("conv", "--spec", TASK3, "--export", str(report), "--show", "results").exit_code == 0
    os.chmod(report, 0o640)
    assert run("conv", "--spec", TASK3, "--export", str(report)).exit_code == 0
    assert report.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert report.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its mode
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left
    fresh = tmp_path / "fresh.svg"
    assert run("conv", "--spec", TASK3, "--export", str(fresh)).exit_code == 0
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask


def spec_copy(folder: Path, name: str) -> Path:
    path = folder / name
    path.write_text(Path(TASK3).read_text(encoding="utf-8"), encoding="utf-8")
    return path


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("how", ["run-itself", "run-second", "symlink", "hard-link", "spec"])
def test_an_export_is_never_one_of_the_specs(tmp_path: Path, how: str, force: list[str]) -> None:
    spec = spec_copy(tmp_path, "s.html")  # a spec may have any name
    target, args = spec, ["run", str(spec)]
    if how == "run-second":
        args = ["run", TASK3, str(spec)]
    elif how == "symlink":
        target = tmp_path / "link.html"
        target.symlink_to(spec.name)
        args = ["conv", "--spec", str(spec)]
    elif how == "hard-link":
        target = tmp_path / "hard.html"
        os.link(spec, target)
        args = ["conv", "--spec", str(spec)]
    elif how == "spec":
        args = ["conv", "--spec", str(spec)]
    before = spec.read_text(encoding="utf-8")
    result = run(*args, "--export", str(target), *force)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"gradcalc {args[0]}: --export: {str(target)!r} is the spec {str(spec)!r}; "
        "give the report another file name\n"
    )
    assert spec.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("force", [[], ["--force"]], ids=["", "force"])
@pytest.mark.parametrize("args", [["conv", "--spec", "-"], ["run", "-"]], ids=["conv", "run"])
def test_an_export_is_never_the_spec_read_from_standard_input(
    tmp_path: Path, args: list[str], force: list[str]
) -> None:
    """`< s.html`: standard input is the file (compared by device and inode, in a child
    process, whose file descriptor 0 is the redirected file)."""
    import sys

    spec = spec_copy(tmp_path, "s.html")
    before = spec.read_text(encoding="utf-8")
    with spec.open("rb") as stdin:
        result = subprocess.run(
            [sys.executable, "-m", "gradcalc.cli", *args, "--export", str(spec), *force],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert result.stderr == (
        f"gradcalc {args[0]}: --export: {str(spec)!r} is the spec read from standard input; "
        "give the report another file name\n"
    )
    assert spec.read_text(encoding="utf-8") == before


@pytest.mark.parametrize("suffix", [".html", ".svg"])
def test_an_empty_file_is_replaced_without_force(tmp_path: Path, suffix: str) -> None:
    """The rule of check's --csv/--junit (cli/files.earlier_report): an empty file loses
    nothing; a file that is blank only in its first 4096 bytes is someone's."""
    empty = tmp_path / f"empty{suffix}"
    empty.write_bytes(b"")
    assert run("conv", "--spec", TASK3, "--export", str(empty)).exit_code == 0
    assert empty.stat().st_size > 0
    padded = tmp_path / f"padded{suffix}"
    padded.write_text(" " * 5000 + "my notes", encoding="utf-8")
    assert run("conv", "--spec", TASK3, "--export", str(padded)).exit_code == 2
    assert padded.read_text(encoding="utf-8").endswith("my notes")


@pytest.mark.parametrize("suffix", [".html", ".svg"])
def test_an_existing_file_is_replaced_only_if_it_is_an_earlier_export(
    tmp_path: Path, suffix: str
) -> None:
    notes = tmp_path / f"notes{suffix}"
    notes.write_text("my notes", encoding="utf-8")
    refused = run("conv", "--spec", TASK3, "--export", str(notes))
    assert refused.exit_code == 2 and refused.stdout == ""
    kind = "an HTML" if suffix == ".html" else "an SVG"
    assert refused.stderr == (
        f"gradcalc conv: --export: {str(notes)!r} exists and is not {kind} report of gradcalc's; "
        "use --force to replace it\n"
    )
    assert notes.read_text(encoding="utf-8") == "my notes"
    # through a symbolic link, the file it points to is what counts
    link = tmp_path / f"link{suffix}"
    link.symlink_to(notes.name)
    assert run("conv", "--spec", TASK3, "--export", str(link)).exit_code == 2
    assert run("conv", "--spec", TASK3, "--export", str(notes), "--force").exit_code == 0
    assert notes.read_text(encoding="utf-8") != "my notes"
    # now an earlier export: replaced without --force, by run and examples too
    for args in (["conv", "--spec", TASK3], ["run", TASK3], ["examples", "task3"]):
        assert run(*args, "--export", str(notes)).exit_code == 0, args
    other = tmp_path / f"other{'.svg' if suffix == '.html' else '.html'}"
    other.write_text(notes.read_text(encoding="utf-8"), encoding="utf-8")
    assert run("conv", "--spec", TASK3, "--export", str(other)).exit_code == 2  # not its type


def test_unwritable_export_is_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gradcalc.cli.export as export

    def refuse(source: str, target: str) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(export.os, "replace", refuse)
    target = tmp_path / "taken.html"
    result = run("conv", "--spec", TASK3, "--export", str(target))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"gradcalc conv: --export: cannot write '{target}': ")
    assert result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # the temporary file is gone too


def test_a_failed_solve_writes_no_file(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text("kind: conv\ninput: [[1, 2]]\n", encoding="utf-8")
    report = tmp_path / "report.html"
    result = run("conv", "--spec", str(spec), "--export", str(report))
    assert result.exit_code == 2
    assert not report.exists()


# heatmaps in the terminal ----------------------------------------------------------------------


def render_task3(console: Console, *, plain: bool = False) -> str:
    solution = registry.solve(load_file(TASK3).data, SolveOptions(), command_kind="conv")
    TableRenderer(console, NumberStyle(), None, plain=plain).render(solution, "conv")
    return console.file.getvalue()


def terminal(**settings) -> Console:
    return Console(file=io.StringIO(), width=200, highlight=False, emoji=False, **settings)


def test_heatmap_colors_cells_by_sign_and_magnitude() -> None:
    text = render_task3(terminal(force_terminal=True, color_system="truecolor"))
    # grad_input row 3 is −2, −4: both red, −4 (the matrix's largest |value|) the deepest
    row = re.search(
        r"\n\x1b\[2m3\x1b\[0m  \x1b\[38;2;(\d+);\d+;\d+;48;2;(\d+);(\d+);(\d+)m −2\x1b\[0m"
        r"  \x1b\[38;2;(\d+);\d+;\d+;48;2;(\d+);(\d+);(\d+)m −4\x1b\[0m",
        text[text.index("grad_input") :],
    )
    assert row, text
    ink2, *shade2 = map(int, row.groups()[:4])
    ink4, *shade4 = map(int, row.groups()[4:])
    assert shade4 == [178, 24, 43]  # deepest red
    assert shade2[0] > shade2[2] and sum(shade2) > sum(shade4)  # red, paler
    assert ink4 == 255 and ink2 == 0  # white on deep, black on pale
    # the upstream 2 (largest) is the deepest blue; zero is not shaded
    assert "\x1b[38;2;255;255;255;48;2;33;102;172m 2\x1b[0m" in text
    assert "48;2" not in text[: text.index("∂L/∂H (upstream)")]  # inputs are not shaded
    legend = [line for line in text.split("\n") if "shading:" in line]
    assert len(legend) == 1 and HEAT_LEGEND in legend[0]


def test_heatmap_with_16_colors_keeps_the_sign() -> None:
    text = render_task3(terminal(force_terminal=True, color_system="standard"))
    after = text[text.index("grad_input") :]
    assert "\x1b[1;97;41m −4\x1b[0m" in after  # deep: white on red
    assert "\x1b[31m −2\x1b[0m" in after  # pale: red text
    assert "\x1b[94m 1\x1b[0m" in after  # pale positive: blue text


@pytest.mark.parametrize(
    ("env", "settings", "plain"),
    [
        ({}, {"force_terminal": True, "color_system": "truecolor"}, True),  # --no-color
        ({"NO_COLOR": "1"}, {"force_terminal": True}, False),
        ({"TERM": "dumb"}, {"force_terminal": True}, False),
        ({}, {}, False),  # not a terminal (a pipe or file)
    ],
    ids=["no-color", "NO_COLOR", "TERM=dumb", "pipe"],
)
def test_no_heatmap_and_no_legend_without_color(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], settings: dict, plain: bool
) -> None:
    for name in ("NO_COLOR", "FORCE_COLOR", "TERM", "COLORTERM"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    text = render_task3(terminal(**settings), plain=plain)
    assert "shading" not in text
    assert ";48;" not in text and "\x1b[4" not in text  # no background colors
    if plain or "TERM" in env or not settings:
        assert ANSI not in text
    # the grids read as before: one space-separated number per column, none shaded
    assert "\n3  −2  −4\n" in re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_plain_cli_output_is_unchanged() -> None:
    for args in (["--no-color"], []):
        result = run("conv", "--spec", TASK3, *args)
        assert ANSI not in result.stdout and "shading" not in result.stdout
        assert (
            "grad_input\n    0   1\n0   0   0\n1   1   0\n2   1  −2\n3  −2  −4\n" in result.stdout
        )


def test_gradient_matrices_say_so() -> None:
    """Every matrix of a gradient (a ∂L/∂… label) carries the role the heatmap reads."""
    gradients = 0
    for path in bundled():
        data = load_file(str(path)).data
        solution = registry.solve(data, SolveOptions(steps=None), command_kind=data["kind"])
        for section in solution.sections:
            for item in section.items:
                if isinstance(item, Matrix):
                    is_gradient = re.match(r"\(?∂\w+/∂", item.label) is not None
                    assert (item.role == GRADIENT) == is_gradient, (path.name, item.label)
                    gradients += is_gradient
    assert gradients > 10


def test_a_missing_browser_skips_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.delenv("GRADCALC_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is not installed"):
        browser()
    monkeypatch.setenv("GRADCALC_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="GRADCALC_REQUIRE_BROWSER=1"):
        browser()


def test_no_color_environment_means_plain_text_on_a_terminal() -> None:
    """NO_COLOR (no-color.org) drops bold and dim too, as --no-color does."""
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    args = ["conv", "--spec", "problems/task3.yaml"]
    forced = CliRunner(env={"FORCE_COLOR": "1", "NO_COLOR": None}).invoke(main, args)
    assert "\x1b[" in forced.output  # a terminal as Rich sees it: styled
    plain = CliRunner(env={"FORCE_COLOR": "1", "NO_COLOR": "1"}).invoke(main, args)
    assert plain.exit_code == 0
    assert "\x1b[" not in plain.output
    assert "shading" not in plain.output


def test_a_run_export_has_one_legend_and_no_outside_fonts(tmp_path) -> None:
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    html, svg = tmp_path / "all.html", tmp_path / "one.svg"
    specs = ["problems/task3.yaml", "problems/seed002_max_pool.yaml"]
    CliRunner().invoke(main, ["run", *specs, "--export", str(html)])
    assert html.read_text(encoding="utf-8").count("shading") == 1
    CliRunner().invoke(main, ["conv", "--spec", specs[0], "--export", str(svg)])
    text = svg.read_text(encoding="utf-8")
    assert 'url("http' not in text and "@font-face" not in text  # nothing fetched from outside
    folder = tmp_path / "report.html"
    folder.mkdir()
    result = CliRunner().invoke(main, ["conv", "--spec", specs[0], "--export", str(folder)])
    assert result.exit_code == 2 and "is a folder" in result.output
    assert result.output.count("\n") == 1  # refused before anything was printed
