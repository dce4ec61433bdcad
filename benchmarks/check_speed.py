"""How long ``gradcalc check`` takes over 1,000 seed-sized specs (target: ≤ 1.5 s on two cores).

What it measures
    A temporary folder gets 1,000 specs: the bundled problems (every kind but ``expr``,
    whose symbolic work is a different scale), copied round-robin under new names.
    One in ten has a wrong answer (a changed cell), so the timed run also grades
    failures and diagnoses them.  ``gradcalc check FOLDER`` then runs as a fresh
    subprocess (the console script next to ``sys.executable``, else ``-m gradcalc.cli``),
    timed wall-clock, start-up included; the median and the fastest of ``--repeat``
    runs (after one warm-up) are printed for ``--jobs 1`` and ``--jobs 2``.  The
    target is judged on the median.

Usage
    python benchmarks/check_speed.py [--count 1000] [--repeat 5] [--check]

``--check`` exits 1 when the best setting is above 1.5 s.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 1.5


def command() -> list[str]:
    script = Path(sys.executable).with_name("gradcalc")
    return [str(script)] if script.exists() else [sys.executable, "-m", "gradcalc.cli"]


def build_folder(folder: Path, count: int) -> None:
    from gradcalc.problems import PROBLEMS_DIR

    sources = [
        path
        for path in sorted(PROBLEMS_DIR.glob("*.yaml"))
        if not re.search(r"^kind:\s*expr\b", path.read_text(encoding="utf-8"), re.MULTILINE)
    ]
    for number in range(count):
        source = sources[number % len(sources)]
        target = folder / f"spec{number:04d}_{source.name}"
        if number % 10 == 9:
            # A wrong answer: the first "expected:" block's first digit 1 becomes 7.
            text = source.read_text(encoding="utf-8")
            head, _, tail = text.partition("expected:")
            target.write_text(head + "expected:" + tail.replace("1", "7", 1), encoding="utf-8")
        else:
            shutil.copyfile(source, target)


def timed(arguments: list[str], repeat: int) -> tuple[float, float, int]:
    runs = []
    status = 0
    for attempt in range(repeat + 1):
        start = time.perf_counter()
        completed = subprocess.run(arguments, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        status = completed.returncode
        if status == 2:
            sys.exit(f"gradcalc check failed: {completed.stderr.decode()[:500]}")
        if attempt:
            runs.append(elapsed)
    return statistics.median(runs), min(runs), status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--check", action="store_true", help="exit 1 above the target")
    args = parser.parse_args()
    env_note = f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
    with tempfile.TemporaryDirectory(prefix="gradcalc-check-speed-") as name:
        folder = Path(name)
        build_folder(folder, args.count)
        best = None
        for jobs in (1, 2):
            seconds, fastest, status = timed(
                [*command(), "check", "--jobs", str(jobs), str(folder)], args.repeat
            )
            print(
                f"gradcalc check, {args.count} specs, --jobs {jobs}: {seconds:.2f} s "
                f"(median of {args.repeat}, fastest {fastest:.2f} s; exit {status}; {env_note})"
            )
            best = seconds if best is None else min(best, seconds)
    print(f"target ≤ {TARGET_SECONDS} s: {'met' if best <= TARGET_SECONDS else 'NOT met'}")
    return 1 if args.check and best > TARGET_SECONDS else 0


if __name__ == "__main__":
    sys.exit(main())
