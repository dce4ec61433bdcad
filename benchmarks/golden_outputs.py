"""Record every output gradcalc prints for a fixed set of problems, and compare two records.

A refactor that must change no behaviour (the op-interface issue) is checked with it:

    python benchmarks/golden_outputs.py record before.json     # on main, before the change
    python benchmarks/golden_outputs.py record after.json      # after it
    python benchmarks/golden_outputs.py compare before.json after.json

``record --float`` runs every problem with ``--float`` (compare it with a ``--float`` record).

The problems are every bundled ``problems/*.yaml`` and ``--random N`` (default 200) problems
of each kind drawn by ``gradcalc random KIND --seed S --answers``.  Each problem is solved in
every output format (table without colour, JSON, Markdown, LaTeX) with all steps, and each
random problem's answer key is graded by ``gradcalc check --format json``; the record keeps the exit status and the SHA-256 of stdout and stderr
per case and format, with the temporary folder's name replaced by a fixed one.  ``compare``
lists the cases whose output changed and exits 1 if any did.

Runs in-process (Click's CliRunner): about a minute for the default set.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from click.testing import CliRunner

from gradcalc.cli.main import main

REPO = Path(__file__).resolve().parents[1]
KINDS = ("conv", "pool", "dense", "activation", "softmax", "loss", "expr")
FORMATS = {
    "table": ["--no-color"],
    "json": ["--format", "json"],
    "markdown": ["--format", "markdown"],
    "latex": ["--format", "latex"],
}
ENV = {"COLUMNS": "100", "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None}


def _digest(text: str, folder: str) -> str:
    return hashlib.sha256(
        text.replace(folder, "<tmp>").encode("utf-8", "surrogatepass")
    ).hexdigest()


def cases(folder: Path, per_kind: int) -> dict[str, Path]:
    """name -> spec file: the bundled problems, then random ones with their answers."""
    found = {f"problems/{path.name}": path for path in sorted((REPO / "problems").glob("*.yaml"))}
    runner = CliRunner()
    for kind in KINDS:
        for seed in range(per_kind):
            spec, key = folder / f"{kind}-{seed}.yaml", folder / f"{kind}-{seed}-key.yaml"
            made = runner.invoke(
                main,
                ["random", kind, "--seed", str(seed), "-o", str(spec), "--answers", str(key)],
                env=ENV,
            )
            if made.exit_code != 0:
                raise SystemExit(f"gradcalc random {kind} --seed {seed}: {made.output}")
            found[f"random {kind} --seed {seed}"] = spec
            found[f"random {kind} --seed {seed} (answer key)"] = key
    return found


def record(per_kind: int, extra: tuple[str, ...] = ()) -> dict[str, dict[str, list]]:
    """{case: {format: [exit status, sha256(stdout), sha256(stderr)]}}; ``extra`` options
    (``--float``) are added to every ``run``."""
    runner = CliRunner()
    outputs: dict[str, dict[str, list]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, spec in cases(Path(folder), per_kind).items():
            outputs[name] = {}
            for format_name, options in FORMATS.items():
                if name.endswith("(answer key)"):  # graded as a submission by check
                    args = ["check", str(spec), *options[-2:]] if format_name == "json" else []
                else:
                    args = ["run", str(spec), "--steps", "all", *extra, *options]
                if not args:
                    continue
                result = runner.invoke(main, args, env=ENV)
                outputs[name][format_name] = [
                    result.exit_code,
                    _digest(result.stdout, folder),
                    _digest(result.stderr, folder),
                ]
    return outputs


def compare(before: dict, after: dict) -> list[str]:
    """One line per case and format whose status or output differs."""
    changed = []
    for name in sorted(set(before) | set(after)):
        if name not in before or name not in after:
            changed.append(f"{name}: only in {'after' if name not in before else 'before'}")
            continue
        for format_name in FORMATS:
            old, new = before[name].get(format_name), after[name].get(format_name)
            if old != new:
                what = "exit status" if old and new and old[0] != new[0] else "output"
                changed.append(f"{name} [{format_name}]: {what} differs")
    return changed


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    recording = commands.add_parser("record", help="solve the problems and write the record")
    recording.add_argument("output", type=Path)
    recording.add_argument("--random", type=int, default=200, help="random problems per kind")
    recording.add_argument(
        "--float",
        action="store_true",
        help="run every problem with --float too (the float64 paths the default record skips)",
    )
    comparing = commands.add_parser("compare", help="list what differs between two records")
    comparing.add_argument("before", type=Path)
    comparing.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "record":
        outputs = record(args.random, ("--float",) if args.float else ())
        args.output.write_text(json.dumps(outputs, indent=1, sort_keys=True) + "\n", "utf-8")
        runs = sum(len(formats) for formats in outputs.values())
        print(f"{len(outputs)} problems, {runs} runs recorded in {args.output}")
        return 0
    before = json.loads(args.before.read_text("utf-8"))
    after = json.loads(args.after.read_text("utf-8"))
    changed = compare(before, after)
    for line in changed:
        print(line)
    print(f"{len(changed)} of {sum(len(f) for f in before.values())} runs differ")
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
