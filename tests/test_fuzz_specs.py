"""Seeded mutation fuzzing of the bundled problems: whatever a spec says, gradcalc answers.

Each bundled problem is mutated a few times (a value replaced by a hostile token, a line
dropped or doubled, the text cut short, a stray character inserted, the kind swapped, an
unknown key added) and run through ``gradcalc run`` in one of the output formats, or through
``gradcalc check``.  Every run must:

- exit 0, 1 or 2, never with an exception (a traceback);
- on exit 2 from ``run``, print exactly one located line ``FILE:LINE:COL: message``;
- print no raw control byte (C0 but newline and tab, DEL, C1) on stdout or stderr;
- finish within a generous bound (a hang detector, not a speed test).

The mutations are seeded, so a failure names its case and reproduces.  The number of
mutations per problem is ``GRADCALC_FUZZ_PER_PROBLEM`` (default 12, about 300 runs in under a minute; CI keeps the default).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
PROBLEMS = sorted((REPO / "problems").glob("*.yaml"))
PER_PROBLEM = int(os.environ.get("GRADCALC_FUZZ_PER_PROBLEM", "12"))
HANG_SECONDS = 60  # far above any honest run: only a hang or a runaway computation reaches it

ERROR_LINE = re.compile(r"^[^\n]+:\d+:\d+: [^\n]+\n$")
RAW_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None}

# Values a spec should never be trusted to hold: YAML 1.1 number forms, numbers past int64
# and float range, exact numbers with many digits, text, wrong shapes, control characters,
# tags and aliases, Unicode look-alikes.
HOSTILE = [
    "010",
    "09",
    "0x1F",
    "0b1",
    "0o7",
    "1:30",
    "1__0",
    "1e19",
    "-1e19",
    "9223372036854775808",
    "1e400",
    "-1e-400",
    "1e7",
    "1e100",
    "0",
    "-1",
    "-0",
    "1/0",
    "0/0",
    '"1/3"',
    ".nan",
    ".inf",
    "nan",
    "abc",
    "banana",
    "~",
    "null",
    "true",
    "[]",
    "{}",
    "[[]]",
    "[[1, 2], [3]]",
    "[[1, 2], [3, abc]]",
    "[1, 2, 3, 4, 5, 6, 7, 8, 9]",
    '"1/' + "9" * 400 + '"',
    "9" * 500,
    '"' + "1:" * 200 + '0"',
    '"\x1b[2J\x1b]0;owned\x07"',
    '"\x1b]52;c;SGVsbG8=\x07"',
    '"\\e[31mred\\x9b"',
    '"\\ud800"',
    "!!python/object/apply:os.system [echo]",
    "!!binary aGVsbG8=",
    "&anchor 1",
    "*anchor",
    "１",
    "−3",
    "–3",
    "2x1",
    "\u00a02",
    '"\\n\\n"',
    "[1e308, -1e308]",
    "[1e-320, 5e-324]",
    "12345678901234567890123",
]
TEXT_NOISE = [
    "\x1b",
    "\x00",
    "\x07",
    "\x9b",
    "\t",
    "\r",
    "\u2028",
    ":",
    "[",
    "]",
    "{",
    '"',
    "'",
    "-",
    "#",
    "&",
    "*",
    "!",
    "|",
    ">",
    "%",
    "@",
    "\ufeff",
]
KINDS = ["conv", "pool", "dense", "activation", "softmax", "loss", "expr", "net", "Conv", ""]
FORMATS = ["table", "json", "markdown", "latex"]
VALUE_LINE = re.compile(r"^(\s*-?\s*[A-Za-z_][A-Za-z0-9_]*\s*:\s*)(\S.*)$")
NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?(?:/\d+)?")


def mutate(text: str, rng: random.Random) -> tuple[str, str]:
    """One mutation of a spec's text, and a short name of what was done."""
    lines = text.split("\n")
    action = rng.choice(
        ["value", "value", "number", "number", "drop", "double", "cut", "noise", "kind", "key"]
    )
    if action == "value":
        candidates = [i for i, line in enumerate(lines) if VALUE_LINE.match(line)]
        if candidates:
            i = rng.choice(candidates)
            token = rng.choice(HOSTILE)
            lines[i] = VALUE_LINE.sub(lambda m: m.group(1) + token, lines[i])
            return "\n".join(lines), f"value line {i + 1} := {token[:40]!r}"
    if action == "number":
        spots = [(i, m) for i, line in enumerate(lines) for m in NUMBER.finditer(line)]
        spots = [(i, m) for i, m in spots if not lines[i].lstrip().startswith("#")]
        if spots:
            i, m = rng.choice(spots)
            token = rng.choice(HOSTILE)
            lines[i] = lines[i][: m.start()] + token + lines[i][m.end() :]
            return "\n".join(lines), f"number on line {i + 1} := {token[:40]!r}"
    if action == "drop" and len(lines) > 1:
        i = rng.randrange(len(lines))
        del lines[i]
        return "\n".join(lines), f"line {i + 1} dropped"
    if action == "double":
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
        return "\n".join(lines), f"line {i + 1} doubled"
    if action == "cut":
        at = rng.randrange(len(text) + 1)
        return text[:at], f"cut at {at}"
    if action == "kind":
        kind = rng.choice(KINDS)
        out = re.sub(r"(?m)^kind:.*$", f"kind: {kind}", text)
        return out, f"kind := {kind!r}"
    if action == "key":
        key = rng.choice(["stride", "padding", "bias", "weight", "Name", " kernel", "\x1bkey", "x"])
        token = rng.choice(HOSTILE)
        return f"{text}\n{key}: {token}\n", f"key {key!r} := {token[:40]!r}"
    at = rng.randrange(len(text) + 1)
    noise = rng.choice(TEXT_NOISE)
    return text[:at] + noise + text[at:], f"{noise!r} inserted at {at}"


class Hang(BaseException):
    """Raised by the alarm: a BaseException so that no ``except Exception`` swallows it."""


def _on_alarm(signum, frame):  # pragma: no cover - only reached by a hang
    raise Hang


CASES = [(problem, index) for problem in PROBLEMS for index in range(PER_PROBLEM)]


@pytest.mark.parametrize(("problem", "index"), CASES, ids=[f"{p.stem}-{i}" for p, i in CASES])
def test_a_mutated_spec_gets_an_answer_or_one_located_line(problem: Path, index: int, tmp_path):
    rng = random.Random(f"{problem.stem}/{index}")
    text, done = problem.read_text(encoding="utf-8"), []
    for _ in range(rng.choice([1, 1, 2, 3])):
        text, what = mutate(text, rng)
        done.append(what)
    what = "; ".join(done)
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8", errors="surrogatepass")
    command = rng.choice(["run"] * 4 + ["check"])
    output_format = rng.choice(FORMATS)
    if command == "run":
        args = ["run", str(spec), "--no-color", "--format", output_format]
        if rng.random() < 0.3:
            args += ["--steps", "all"]
        args += rng.choice([[], [], ["--decimal"], ["--float"], ["--decimal", "--precision", "3"]])
    else:
        args = ["check", str(spec), "--format", "json"]
    result = _invoke(args, what)
    case = f"{what} ({' '.join(args[:1] + args[2:])})"
    stdout, stderr = result.stdout, result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{case}: {type(result.exception).__name__}") from result.exception
    assert result.exit_code in (0, 1, 2), case
    assert "Traceback" not in stdout + stderr, case
    assert not RAW_CONTROL.search(stdout), (case, RAW_CONTROL.search(stdout))
    assert not RAW_CONTROL.search(stderr), (case, stderr)
    assert "internal error" not in stdout + stderr, (case, stderr)
    if command == "run" and result.exit_code == 2:
        assert ERROR_LINE.match(stderr), (case, stderr)
        assert stdout == "", (case, stdout[:200])
    if command == "check":
        (report,) = json.loads(stdout)["files"]
        if report["status"] == "error":
            assert ERROR_LINE.match(report["error"] + "\n"), (case, report["error"])
        else:
            # A problem check passes, fails or skips must be one that gradcalc can solve: a
            # broken problem is never passed over (the silent wrong verdict of a CI gate).
            solved = _invoke(["run", str(spec), "--format", "json"], what)
            status, code = report["status"], solved.exit_code
            # An answer key of the wrong shape is a wrong answer to check, a spec error to run.
            wrong_key = code == 2 and ": expected." in solved.stderr
            allowed = {"pass": code == 0, "skipped": code in (0, 1)}.get(
                status, code == 1 or wrong_key
            )
            assert allowed, (case, status, solved.stderr)


def _invoke(args: list[str], what: str):
    """Run the CLI in-process under a hang detector."""
    previous = signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        return CliRunner().invoke(main, args, env=ENV)
    except Hang:
        pytest.fail(f"{what}: gradcalc {args[0]} ran past {HANG_SECONDS} s")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
