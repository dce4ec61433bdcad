"""Start-up cost of ``gradcalc conv --spec problems/task3.yaml`` against its own dependencies.

What it measures
    A: the full command ``gradcalc conv --spec problems/task3.yaml`` (table output,
       written to /dev/null), run through the ``gradcalc`` console script that sits
       next to ``sys.executable`` (falls back to ``sys.executable -m gradcalc.cli``).
    B: the baseline ``python -c "import numpy, click, yaml, rich.console"``, run with
       the same interpreter: the least any CLI built on these libraries can cost.
       Both run with ``OPENBLAS_THREAD_TIMEOUT=4`` (unless it is set already), which
       gradcalc's command sets for itself before NumPy loads (cli/main.py): without it,
       B would also pay OpenBLAS's worker threads busy-waiting while NumPy loads, which
       gradcalc no longer does, and the ratio would flatter gradcalc.

    D: the baseline without PyYAML, ``python -c "import numpy, click, rich.console"``.
       gradcalc imports PyYAML only for a spec outside the plain subset its own reader
       takes, or for an error's line and column (cli/yaml_nodes.py), so the usual
       command costs less than B's imports; A/D, printed for information, compares it
       with the libraries it does load.

    The figure of merit is median(A) / median(B); the target is <= 1.15.

How
    Each command is a fresh subprocess timed wall-clock with ``time.perf_counter``.
    Machines are shared and noisy, so after 2 warm-ups of each the runs are
    interleaved in pairs whose order alternates (A B, B A, A B, ...), which spreads
    slow drifts evenly over both sides; medians (not means) are reported, along with
    the median of the per-pair ratios as a second, drift-robust estimate.  The
    children's CPU time (user + system, from ``getrusage``) is reported as well:
    it is less disturbed than wall-clock time by other processes competing for
    the cores (it does count OpenBLAS worker threads spinning while numpy loads),
    so its ratio is a cross-check when the wall-clock spread (q1..q3) is wide.
    The target and ``--check`` use the wall-clock ratio.

    ``--breakdown`` adds C to the same interleaving: B's imports plus every gradcalc
    module the command imports (``gradcalc.cli.main`` and the ones it imports lazily),
    splitting A - B into "importing gradcalc" (C - B) and "running the command:
    parse, solve, render" (A - C).

    The children run without ``PYTHONDONTWRITEBYTECODE`` (nor ``PYTHONSTARTUP`` or
    ``PYTHONPROFILEIMPORTTIME``), so gradcalc's modules load from an up-to-date
    bytecode cache as they do for a user; with that variable set, every module
    edited since its cache was written is compiled from source on every run, which
    roughly doubles the cost of importing gradcalc.

    ``--importtime`` then runs A (and B) a few times under ``-X importtime``
    (``PYTHONPROFILEIMPORTTIME=1``) and prints the median self time of each
    gradcalc module and of every module A imports that B does not: the extra
    import cost of the command.  (``-X importtime`` adds overhead of its own, so
    its figures are larger than in a normal run; compare them with each other.)
    Modules imported through ``importlib.import_module`` (gradcalc's op modules,
    such as ``gradcalc.core.kinds.conv``) bypass ``-X importtime``; each is timed instead
    as one import in a process that has already loaded everything else.

Usage (from the repo root)
    python benchmarks/startup.py [--runs 20] [--warmups 2] [--breakdown]
                                 [--importtime] [--check 1.15] [--command ARGS]

Exit status: 0, unless ``--check RATIO`` is given and the median ratio exceeds it (1),
or a command fails (2).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

try:
    import resource
except ImportError:  # not on Windows: CPU times are then not reported
    resource = None

REPO = Path(__file__).resolve().parent.parent
SPEC = REPO / "problems" / "task3.yaml"
BASELINE_IMPORTS = "import numpy, click, yaml, rich.console"
BASELINE_WITHOUT_YAML = "import numpy, click, rich.console"
# Every gradcalc module `gradcalc conv` imports, eagerly or lazily (missing ones are skipped).
GRADCALC_MODULES = (
    "gradcalc.cli.main",
    "gradcalc.cli.problem_command",
    "gradcalc.cli.options",
    "gradcalc.cli.render",
    "gradcalc.cli.spec_loader",
    "gradcalc.cli.numbers",
    "gradcalc.cli.render_table",
    "gradcalc.core.registry",
    "gradcalc.core.solve",
    "gradcalc.core.kinds.conv",
    "gradcalc.core.explain.conv",
)
IMPORT_ALL = (
    BASELINE_IMPORTS
    + "\nimport importlib\n"
    + f"for name in {GRADCALC_MODULES!r}:\n"
    + "    try:\n        importlib.import_module(name)\n"
    + "    except ModuleNotFoundError:\n        pass\n"
)
TARGET_RATIO = 1.15


def gradcalc_command() -> tuple[list[str], str]:
    """The command line that runs gradcalc, and a short description of how."""
    bindir = Path(sys.executable).parent
    for name in ("gradcalc", "gradcalc.exe"):
        script = bindir / name
        if script.is_file() and os.access(script, os.X_OK):
            return [str(script)], f"console script {script}"
    return [sys.executable, "-m", "gradcalc.cli"], f"{sys.executable} -m gradcalc.cli"


def commands(breakdown: bool, command: str | None = None) -> dict[str, list[str]]:
    gradcalc, _ = gradcalc_command()
    arguments = ["conv", "--spec", str(SPEC)] if command is None else shlex.split(command)
    found = {
        f"A gradcalc {arguments[0]}": [*gradcalc, *arguments],
        "B baseline imports": [sys.executable, "-c", BASELINE_IMPORTS],
        "D baseline without PyYAML": [sys.executable, "-c", BASELINE_WITHOUT_YAML],
    }
    if breakdown:
        found["C B + gradcalc imports"] = [sys.executable, "-c", IMPORT_ALL]
    return found


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except (AttributeError, OSError):
        return "unknown"


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    # Keep the children from inheriting anything that changes start-up work.
    for name in ("PYTHONPROFILEIMPORTTIME", "PYTHONDONTWRITEBYTECODE", "PYTHONSTARTUP"):
        env.pop(name, None)
    # As gradcalc's command sets it for itself (cli/main.py): the baseline too is spared
    # OpenBLAS's threads busy-waiting while NumPy loads (see the module docstring).
    env.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    env.update(extra)
    return env


def children_cpu() -> float:
    """User + system CPU seconds of all waited-for children so far (0 where unknown)."""
    if resource is None:
        return 0.0
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall-clock, CPU) seconds of one run; exits 2 if the command fails."""
    cpu = children_cpu()
    start = time.perf_counter()
    done = subprocess.run(
        argv,
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    elapsed = time.perf_counter() - start
    cpu = children_cpu() - cpu
    if done.returncode != 0:
        print(f"error: {' '.join(argv)} exited {done.returncode}", file=sys.stderr)
        print(done.stderr.decode(errors="replace"), file=sys.stderr)
        sys.exit(2)
    return elapsed, cpu


Samples = dict[str, list[float]]


def measure(cmds: dict[str, list[str]], runs: int, warmups: int) -> tuple[Samples, Samples]:
    """Wall-clock and CPU seconds of every command, ``runs`` each, interleaved."""
    env = child_env()
    names = list(cmds)
    for _ in range(warmups):
        for name in names:
            run_once(cmds[name], env)
    wall: Samples = {name: [] for name in names}
    cpu: Samples = {name: [] for name in names}
    for i in range(runs):
        order = names if i % 2 == 0 else names[::-1]
        for name in order:
            seconds, cpu_seconds = run_once(cmds[name], env)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    return wall, cpu


def quartiles(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def print_table(title: str, times: Samples) -> float:
    """Print one table with its differences and ratios; return median(A) / median(B)."""
    print(f"{title:<28} {'median':>9} {'min':>9} {'q1':>9} {'q3':>9} {'max':>9}   (ms)")
    for name, values in times.items():
        q1, q3 = quartiles(values)
        row = (statistics.median(values), min(values), q1, q3, max(values))
        print(f"{name:<28} " + " ".join(f"{v * 1000:9.1f}" for v in row))
    med = {name: statistics.median(values) for name, values in times.items()}
    command = next(iter(times))  # A: the gradcalc command timed
    a, b = med[command], med["B baseline imports"]
    ratio = a / b
    pairs = zip(times[command], times["B baseline imports"], strict=True)
    pair_ratio = statistics.median(x / y for x, y in pairs if y > 0)
    print(f"  extra start-up of gradcalc: {(a - b) * 1000:+.1f} ms (median A - median B)")
    c = med.get("C B + gradcalc imports")
    if c is not None:
        print(f"    importing gradcalc and what it pulls in: {(c - b) * 1000:+.1f} ms (C - B)")
        print(f"    parsing, solving, rendering:            {(a - c) * 1000:+.1f} ms (A - C)")
    print(f"  median of per-pair ratios A/B: {pair_ratio:.3f}")
    print(f"  ratio median(A)/median(B): {ratio:.3f}x")
    d = med.get("D baseline without PyYAML")
    if d is not None:
        print(
            f"  ratio median(A)/median(D): {a / d:.3f}x  (for information: D is B without "
            f"PyYAML, {(b - d) * 1000:.1f} ms less)"
        )
    return ratio


# ---------------------------------------------------------------------------
# -X importtime


def import_times(argv: list[str], repeats: int) -> dict[str, float]:
    """Median self time (µs) of every module the command imports, over ``repeats`` runs."""
    env = child_env(PYTHONPROFILEIMPORTTIME="1")
    samples: dict[str, list[int]] = defaultdict(list)
    for _ in range(repeats):
        done = subprocess.run(
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for line in done.stderr.splitlines():
            if not line.startswith("import time:") or "self [us]" in line:
                continue
            self_us, _cumulative, name = line[len("import time:") :].split("|", 2)
            samples[name.strip()].append(int(self_us))
    # A module missing from some runs (it never is, in practice) counts as 0 there.
    return {name: statistics.median(v + [0] * (repeats - len(v))) for name, v in samples.items()}


def unlogged_import_time(module: str, before: list[str], repeats: int) -> float:
    """Median µs to import ``module`` once ``before`` (and B's imports) are loaded."""
    code = (
        f"{BASELINE_IMPORTS}\nimport importlib, time\n"
        f"for name in {before!r}:\n    importlib.import_module(name)\n"
        f"start = time.perf_counter()\nimportlib.import_module({module!r})\n"
        "print((time.perf_counter() - start) * 1e6)\n"
    )
    samples = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
        )
        if done.returncode == 0:
            samples.append(float(done.stdout.strip()))
    return statistics.median(samples) if samples else float("nan")


def print_import_times(cmds: dict[str, list[str]], repeats: int = 5, top: int = 15) -> None:
    command = import_times(next(iter(cmds.values())), repeats)
    baseline = import_times(cmds["B baseline imports"], repeats)
    ours = {n: t for n, t in command.items() if n == "gradcalc" or n.startswith("gradcalc.")}
    extra = {n: t for n, t in command.items() if n not in baseline and n not in ours}
    print()
    print(
        f"-X importtime, median of {repeats} runs (self time; importtime's own overhead inflates all figures)"
    )
    print(
        f"  all imports of A: {sum(command.values()) / 1000:7.1f} ms   of B: {sum(baseline.values()) / 1000:7.1f} ms"
    )
    print(
        f"  gradcalc modules: {sum(ours.values()) / 1000:7.1f} ms   modules A imports beyond B: {sum(extra.values()) / 1000:7.1f} ms"
    )
    print()
    print(f"  top gradcalc modules by self time (of {len(ours)}):")
    for name, us in sorted(ours.items(), key=lambda item: -item[1])[:top]:
        print(f"    {us / 1000:7.2f} ms  {name}")
    print()
    print(f"  top other modules A imports that B does not (of {len(extra)}):")
    for name, us in sorted(extra.items(), key=lambda item: -item[1])[:top]:
        print(f"    {us / 1000:7.2f} ms  {name}")
    unlogged = [name for name in GRADCALC_MODULES if name not in command]
    if unlogged:
        print()
        print(
            "  not logged by -X importtime (imported through importlib.import_module, which"
            " bypasses it);"
        )
        print("  timed instead as one import after B's imports and the logged gradcalc modules:")
        for name in unlogged:
            us = unlogged_import_time(name, sorted(ours), repeats)
            print(
                f"    {us / 1000:7.2f} ms  {name} (cumulative: its own code and anything new it imports)"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--runs", type=int, default=20, help="timed runs of each command (default 20)"
    )
    parser.add_argument(
        "--warmups", type=int, default=2, help="untimed runs of each first (default 2)"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time C: B's imports plus gradcalc's modules (import vs run)",
    )
    parser.add_argument(
        "--command",
        metavar="ARGS",
        default=None,
        help="time A as `gradcalc ARGS` instead (e.g. 'net --spec problems/net_mlp_sigmoid_mse.yaml')",
    )
    parser.add_argument(
        "--importtime", action="store_true", help="print the costliest imports under -X importtime"
    )
    parser.add_argument(
        "--check",
        type=float,
        metavar="RATIO",
        default=None,
        help="exit 1 if the median ratio A/B is above RATIO",
    )
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    cmds = commands(args.breakdown, args.command)
    _, how = gradcalc_command()
    print(f"python: {sys.executable} ({sys.version.split()[0]})")
    print(f"gradcalc via: {how}")
    for name, argv in cmds.items():
        shown = (
            " ".join(argv)
            if not name.startswith("C")
            else f"{sys.executable} -c <{BASELINE_IMPORTS}; import {', '.join(GRADCALC_MODULES)}>"
        )
        print(f"  {name[0]}: {shown}")
    print(
        f"{args.warmups} warm-ups, then {args.runs} interleaved runs of each (order alternating), cpus: {os.cpu_count()}"
    )
    print(f"load average before: {load_average()}")
    print()
    wall, cpu = measure(cmds, args.runs, args.warmups)
    print(f"load average after:  {load_average()}")
    print()
    ratio = print_table("wall-clock", wall)
    if resource is not None:
        print()
        cpu_ratio = print_table("CPU (user+sys)", cpu)
        print(
            f"  (CPU time is less disturbed by other work on the machine; "
            f"the CPU ratio {cpu_ratio:.3f}x is for information)"
        )
    print()
    verdict = "OK" if ratio <= TARGET_RATIO else "ABOVE TARGET"
    print(
        f"START-UP RATIO (wall-clock medians, A/B): {ratio:.3f}x  "
        f"(target <= {TARGET_RATIO:.2f}x: {verdict})"
    )
    if args.importtime:
        print_import_times(cmds)
    if args.check is not None and ratio > args.check:
        print(f"FAIL: ratio {ratio:.3f} > {args.check}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
