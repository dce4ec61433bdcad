"""Every `gradcalc …` command shown in README.md and docs/*.md runs, and shown output is real.

What is run:
- each line of a ```sh block (lines ending in `\\` joined; `a && b` runs a, then b), in a
  fresh copy of the repository's problems/ with the files the docs' examples name
  (task3.yaml, submissions/, inbox/, bank/, class/), in-process through Click's CliRunner.  The exit status
  must be 0, or the one the line's comment documents ("exit 1: …", "both exit 0").  Shell
  globs are expanded; `cat FILE | gradcalc …` feeds FILE on standard input and
  `gradcalc … | jq .kind` checks that every line is a JSON document with a `kind`.  A line
  that cannot run in-process (a virtual environment, an installer, a redirection into the
  home folder) must be listed in SHELL_ONLY with the reason: nothing is skipped silently.
- each block shown as a command's output: a ```text/```yaml block after a paragraph that says
  "`gradcalc …` prints", after an ```sh block of one command, or after a
  `<!-- output of: gradcalc … -->` comment.  The command's standard output must contain the
  block, a "…" in the block standing for any text (the docs cut long outputs); the README's
  example must be the output exactly.
"""

from __future__ import annotations

import glob
import json
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from dot_syntax import dot_installed, parse, run_dot

from gradcalc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
DOC_FILES = (REPO / "README.md", *sorted((REPO / "docs").glob("*.md")))
# A fixed console, no colour forcing, whatever the developer's shell has set.
ENV: dict[str, str | None] = {
    "COLUMNS": "100",
    "LINES": "50",
    "FORCE_COLOR": None,
    "NO_COLOR": None,
}

# Lines of ```sh blocks that are not run here, each with the reason.
SHELL_ONLY: dict[str, str] = {
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && gradcalc conv --spec "
    "problems/task3.yaml": "creates a virtual environment and installs: .ci/run does that on "
    "a fresh clone and runs this example",
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && python -m '
    "pytest": "creates a virtual environment and runs the whole suite: that is .ci/run",
    'pip install -e ".[test]"': "an installer, not a gradcalc command",
    "python -m pytest": "the whole suite (this test is part of it)",
    "ruff check . && ruff format --check .": "a linter, not a gradcalc command (.ci/run runs it)",
    "python benchmarks/startup.py": "a benchmark, minutes long",
    "python benchmarks/conv_scale.py": "a benchmark, needs torch",
    "python benchmarks/conv1d_speed.py": "a benchmark, needs torch",
    "python benchmarks/conv_family_pytorch_check.py": "a cross-check, needs torch",
    "python benchmarks/net_speed.py": "a benchmark, seconds long",
    "python benchmarks/check_speed.py": "a benchmark, minutes long",
    "python benchmarks/big_spec.py": "a benchmark, a minute long",
    "GRADCALC_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_document_formats.py": "rewrites "
    "the test snapshots: a developer's command, not an example",
    "GRADCALC_UPDATE_DOCS=1 python -m pytest tests/test_docs_reference.py": "rewrites the "
    "keys tables in docs/: a developer's command, not an example",
}

# The submissions docs/check.md grades: alice's is the YAML shown there (read from the page),
# bob's is what its report describes (a true convolution, ∂L/∂K transposed, no Jacobian).
BOB = """\
problem: ../task3.yaml
student: bob
answers:
  output: [[-4], [2], [-1]]
  grad_kernel: [[2, -1], [1, 5]]
"""
# An answers-only file for `gradcalc check --problem task3.yaml inbox/`.
INBOX = """\
answers:
  output: [[4], [-3], [-2]]
  jacobian_kernel: [[2, -1, 0, -1], [0, -1, 1, 1], [1, 1, -1, 2]]
  grad_kernel: [[2, 1], [-1, 5]]
"""


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    before: str  # the paragraph (or comment) just before the fence

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def fenced_blocks(path: Path) -> list[Block]:
    lines = path.read_text(encoding="utf-8").split("\n")
    blocks, index = [], 0
    while index < len(lines):
        fence = re.match(r"^```(\w*)$", lines[index])
        if not fence:
            index += 1
            continue
        start, end = index, index + 1
        while lines[end] != "```":
            end += 1
        paragraph: list[str] = []
        back = start - 1
        while back >= 0 and not lines[back].strip():
            back -= 1
        while back >= 0 and lines[back].strip() and not lines[back].startswith("```"):
            paragraph.insert(0, lines[back])
            back -= 1
        if back >= 0 and lines[back] == "```" and not paragraph:
            paragraph = ["```"]  # directly after another block
        text = "\n".join(lines[start + 1 : end]) + "\n"
        blocks.append(Block(path, start + 1, fence.group(1), text, "\n".join(paragraph)))
        index = end + 1
    return blocks


ALL_BLOCKS = [block for path in DOC_FILES for block in fenced_blocks(path)]


def _outside_quotes(command: str) -> list[tuple[int, str]]:
    """(position, character) of each character of ``command`` outside quotes."""
    found, quote = [], ""
    for position, char in enumerate(command):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        else:
            found.append((position, char))
    return found


def split_comment(line: str) -> tuple[str, str]:
    for position, char in _outside_quotes(line):
        if char == "#" and (position == 0 or line[position - 1] == " "):
            return line[:position].strip(), line[position + 1 :].strip()
    return line.strip(), ""


def sh_lines(block: Block) -> list[tuple[str, str]]:
    """The block's commands (continuations joined) with their comments; comment lines dropped."""
    joined = block.text.replace("\\\n", " ")
    commands = []
    for line in joined.split("\n"):
        command, comment = split_comment(line)
        if command:
            commands.append((" ".join(command.split()) if "  " in command else command, comment))
    return commands


def documented_status(comment: str) -> int:
    status = re.search(r"\bexits? (\d)\b", comment)
    return int(status.group(1)) if status else 0


def argv(command: str) -> list[str]:
    """``gradcalc …`` as its arguments, globs expanded in the current folder."""
    words = shlex.split(command)
    assert words[0] == "gradcalc", command
    args = []
    for word in words[1:]:
        quoted = f"'{word}'" in command or f'"{word}"' in command
        if not quoted and any(char in word for char in "*?["):
            matches = sorted(glob.glob(word))
            assert matches, f"{command}: {word} matches no file"
            args.extend(matches)
        else:
            args.append(word)
    return args


def invoke(command: str, stdin: str | None = None, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        main,
        argv(command),
        prog_name="gradcalc",
        env={**ENV, **(env or {})},
        input=stdin,
        catch_exceptions=False,
    )


def run_line(command: str, status: int) -> None:
    """Run one ```sh line: `a && b`, `cat FILE | gradcalc …`, `gradcalc … | jq .kind` and
    `VAR=value gradcalc > FILE` (the file written in the current folder, not under ~) and
    `gradcalc … --format dot | dot -Tsvg > FILE` (the DOT parsed, and drawn when Graphviz is
    installed)."""
    special = {char for _, char in _outside_quotes(command)} & set("|<>$~;`")
    parts = [part.strip() for part in command.split(" && ")]
    for part in parts:
        stdin, jq, env, target, drawn = None, False, {}, None, None
        if match := re.fullmatch(r"(\w+)=(\w+) (gradcalc) > (\S+)", part):
            env, part = {match.group(1): match.group(2)}, match.group(3)
            target = Path(Path(match.group(4)).name)
        elif match := re.fullmatch(r"cat (\S+) \| (gradcalc .*)", part):
            stdin, part = Path(match.group(1)).read_text(encoding="utf-8"), match.group(2)
        elif match := re.fullmatch(r"(gradcalc .*) \| jq \.kind", part):
            part, jq = match.group(1), True
        elif match := re.fullmatch(r"(gradcalc .*) \| dot -Tsvg > (\S+)", part):
            part, drawn = match.group(1), Path(Path(match.group(2)).name)
        elif special:
            pytest.fail(f"{command!r} needs a shell: list it in SHELL_ONLY with the reason")
        result = invoke(part, stdin, env)
        assert result.exit_code == status, (
            f"{part}: exit {result.exit_code}, documented {status}\n{result.stdout}{result.stderr}"
        )
        if target is not None:
            assert result.stdout.strip(), f"{command}: wrote nothing"
            target.write_text(result.stdout, encoding="utf-8")
        if jq:
            for line in result.stdout.splitlines():
                assert "kind" in json.loads(line), line
        if drawn is not None:  # `gradcalc … --format dot | dot -Tsvg > FILE`
            parse(result.stdout)  # valid DOT, read as Graphviz reads it (tests/dot_syntax.py)
            if dot_installed():  # else the DOT parser alone (tests/test_net_view.py says so)
                drawn.write_text(run_dot(result.stdout), encoding="utf-8")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the files the examples name, as the current folder."""
    shutil.copytree(REPO / "problems", tmp_path / "problems")
    shutil.copy(REPO / "problems" / "task3.yaml", tmp_path / "task3.yaml")
    (tmp_path / "submissions").mkdir()
    alice = next(b.text for b in ALL_BLOCKS if b.text.startswith("problem: ../task3.yaml"))
    (tmp_path / "submissions" / "alice.yaml").write_text(alice, encoding="utf-8")
    (tmp_path / "submissions" / "bob.yaml").write_text(BOB, encoding="utf-8")
    (tmp_path / "inbox").mkdir()
    (tmp_path / "inbox" / "carol.yaml").write_text(INBOX, encoding="utf-8")
    # The README's CI recipe: the instructor's bank and a class of answers-only submissions.
    (tmp_path / "bank").mkdir()
    shutil.copy(REPO / "problems" / "task3.yaml", tmp_path / "bank" / "task3.yaml")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "dana.yaml").write_text("problem: task3\n" + INBOX, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


SH_BLOCKS = [block for block in ALL_BLOCKS if block.lang == "sh"]


@pytest.mark.parametrize("block", SH_BLOCKS, ids=lambda block: block.where)
def test_every_command_in_the_docs_runs(block: Block, workspace: Path) -> None:
    runnable = [(c, s) for c, s in sh_lines(block) if c not in SHELL_ONLY]
    if not runnable:
        pytest.skip("; ".join(SHELL_ONLY[c] for c, _ in sh_lines(block)))
    for command, comment in runnable:
        if "gradcalc" not in command:
            pytest.fail(f"{block.where}: {command!r} is not gradcalc: list it in SHELL_ONLY")
        run_line(command, documented_status(comment))


def test_shell_only_lists_only_lines_the_docs_have() -> None:
    shown = {command for block in SH_BLOCKS for command, _ in sh_lines(block)}
    assert set(SHELL_ONLY) <= shown, set(SHELL_ONLY) - shown


@dataclass(frozen=True)
class OutputExample:
    block: Block
    command: str
    status: int


def output_examples() -> list[OutputExample]:
    examples, previous = [], None
    for block in ALL_BLOCKS:
        if block.lang in ("text", "yaml", "json"):
            marker = re.search(r"<!-- output of: (gradcalc .*?) -->", block.before)
            prints = re.search(r"`(gradcalc [^`]*)`[^`]*\bprints\b", block.before)
            if marker:
                examples.append(OutputExample(block, marker.group(1), 0))
            elif prints:
                status = documented_status(block.before[prints.end() :] or block.before)
                examples.append(OutputExample(block, prints.group(1), status))
            elif (
                block.before == "```"
                and previous is not None
                and previous.lang == "sh"
                and len(sh_lines(previous)) == 1
            ):
                command, comment = sh_lines(previous)[0]
                examples.append(OutputExample(block, command, documented_status(comment)))
        previous = block
    return examples


OUTPUT_EXAMPLES = output_examples()


def shown_pattern(shown: str) -> re.Pattern[str]:
    """``shown`` as a pattern: "…" and the spaces around it stand for any text (the docs cut
    long outputs: `grad_input: …` stands for the lines of a matrix)."""
    pieces = re.split(r"[ \t]*…[ \t]*", shown)
    return re.compile(".*?".join(re.escape(piece) for piece in pieces), re.S)


@pytest.mark.parametrize("example", OUTPUT_EXAMPLES, ids=lambda example: example.block.where)
def test_shown_output_is_the_real_output(example: OutputExample, workspace: Path) -> None:
    result = invoke(example.command)
    assert result.exit_code == example.status, result.stdout + result.stderr
    if example.block.path.name == "README.md":
        assert result.stdout == example.block.text
    else:
        assert shown_pattern(example.block.text).search(result.stdout), (
            f"{example.block.where}: the output shown is not what `{example.command}` prints:\n"
            + result.stdout
        )


def test_the_examples_are_found() -> None:
    """The extraction finds what the docs show (a regex that stops matching fails here)."""
    assert sum(len(sh_lines(block)) for block in SH_BLOCKS) >= 30
    shown = {(example.block.path.name, example.command) for example in OUTPUT_EXAMPLES}
    assert (
        "README.md",
        "gradcalc conv --spec problems/task3.yaml --show forward,backward,checks --steps 2",
    ) in shown
    assert len(shown) >= 6, shown


def test_the_readme_example_spec_is_the_bundled_file() -> None:
    """The README shows problems/task3.yaml as it is, and then its output."""
    readme = next(b for b in ALL_BLOCKS if b.path.name == "README.md" and b.lang == "yaml")
    assert readme.before == "`problems/task3.yaml`:"
    assert readme.text == (REPO / "problems" / "task3.yaml").read_text(encoding="utf-8")
