"""Every equation gradcalc displays is true (see tests/equation_truth.py for what is checked).

Over every bundled problem and random problems of every kind and variant, rendered as
Markdown with every step (exact, and as rounded decimals), and the issue's own examples.
"""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from equation_truth import check_report, logical_lines, summary
from random_problems import write_random
from shared_reports import markdown_steps_all
from test_practice import variants

from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.core import practice, registry
from gradcalc.problems import bundled

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}
SEEDS = (0, 1)


def gradcalc(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.output


def symbol_names(data: dict[str, Any]) -> dict[str, str]:
    """Role → symbol name, as the problem's kind names its symbols."""
    kind = data["kind"]
    names = dict(registry.kind_constant(kind, "NAME_DEFAULTS"))
    if kind == "loss" and data.get("loss") in ("cross_entropy", None) or data.get("logits"):
        names["input"] = "s"
    if kind == "softmax" or data.get("function") in ("softmax", "log_softmax"):
        names.update(input="s", output="p" if data.get("function", "softmax") == "softmax" else "y")
    names.update(data.get("names") or {})
    return names


@functools.cache
def json_report(path: str, spec: bytes) -> str:
    """``gradcalc run PATH --format json``: once per spec (its bytes in the key, as a test's
    folder may hold another spec at the same path), as each is audited with and without
    --decimal against the same results."""
    return gradcalc("run", path, "--format", "json")


def audit(path: Path, *options: str) -> tuple[list[str], int, int, int]:
    """Check the Markdown report of the spec at ``path``: its problems, and how many
    equations it has, parts it compared and left sides it matched to a result."""
    data = load_file(str(path)).data
    if options:
        markdown = gradcalc("run", str(path), "--format", "markdown", "--steps", "all", *options)
    else:  # the report test_fit_terminal reads too: made once
        markdown = markdown_steps_all(path)
    answer = json.loads(json_report(str(path), path.read_bytes()))
    precision = 6
    if "--precision" in options:
        precision = int(options[options.index("--precision") + 1])
    report = check_report(
        markdown,
        results=answer["results"],
        names=symbol_names(data),
        index_base=int(data.get("index_base", 0)),
        precision=precision,
    )
    return report.problems, report.equations, report.compared, report.matched_results


def audit_inline(*args: str) -> list[str]:
    """Check the Markdown report of ``gradcalc ARGS`` (inline options) against its JSON."""
    markdown = gradcalc(*args, "--format", "markdown", "--steps", "all")
    answer = json.loads(gradcalc(*args, "--format", "json"))
    data = {"kind": args[0]}
    if args[0] == "softmax":
        data = {"kind": "activation", "function": args[args.index("--function") + 1]}
    for key in ("--loss", "--function"):
        if key in args:
            data[key[2:]] = args[args.index(key) + 1]
    precision = int(args[args.index("--precision") + 1]) if "--precision" in args else 6
    report = check_report(
        markdown,
        results=answer["results"],
        names=symbol_names(data),
        index_base=int(args[args.index("--index-base") + 1]) if "--index-base" in args else 0,
        precision=precision,
    )
    assert report.equations, "no equation found"
    return report.problems


def ones(rows: int, columns: int) -> str:
    return ";".join(" ".join(str(1 + (r + c) % 3) for c in range(columns)) for r in range(rows))


# Sums longer than any cap, sizes that ceil_mode clips, bce at its clamps, decimals at halves.
INLINE = {
    "conv 1-D grouped, causal": [
        "conv",
        "--dims",
        "1",
        "--groups",
        "2",
        "--input",
        "1 2 -1 3; 0 1 2 -2",
        "--kernel",
        "[[[1, -1]], [[2, 1]], [[0, 1]], [[1, 1]]]",
        "--padding",
        "[1, 0]",
        "--bias",
        "[1, 0, -1, 2]",
    ],
    "conv 2-D groups 2 of 2 channels, stride 2": [
        "conv",
        "--groups",
        "2",
        "--input",
        "[[[1, 2, 0], [0, 1, 3], [2, 2, 1]], [[1, 0, 1], [2, 1, 0], [0, 1, 2]],"
        " [[0, 1, 1], [1, 0, 2], [3, 1, 0]], [[2, 0, 1], [1, 1, 1], [0, 2, 1]]]",
        "--kernel",
        "[[[[1, 0], [0, 1]], [[2, 1], [0, 1]]], [[[0, 1], [1, 0]], [[1, 1], [1, 2]]]]",
        "--stride",
        "2",
        "--padding",
        "1",
    ],
    "conv 25-term kernel sums": [
        "conv",
        "--input",
        ones(5, 5),
        "--kernel",
        "2;",
        "--upstream",
        "ones",
    ],
    "conv 36-term sums with a bias": [
        "conv",
        "--input",
        ones(6, 6),
        "--kernel",
        "1;",
        "--bias",
        "1",
        "--upstream",
        "ones",
    ],
    # Padding by copies (issue 15): the padded input, the fold of ∂L/∂xpad onto x.
    "conv circular asymmetric padding, 2 channels, stride and dilation": [
        "conv",
        "--input",
        "[[[1,2,0,-1],[3,1,2,0],[0,-2,1,1]],[[2,0,1,1],[1,1,-1,2],[0,3,1,0]]]",
        "--kernel",
        "[[[[1,0],[2,-1]],[[0,1],[1,1]]]]",
        "--padding",
        "[2, 1, 0, 3]",
        "--padding-mode",
        "circular",
        "--stride",
        "2x1",
        "--dilation",
        "1x2",
        "--bias",
        "1/2",
        "--upstream",
        "ones",
    ],
    "conv replicate full padding, flipped, index base 1": [
        "conv",
        "--input",
        "1 2 3; 4 5 6",
        "--kernel",
        "1 2; -1 1",
        "--padding",
        "full",
        "--padding-mode",
        "replicate",
        "--flip-kernel",
        "true",
        "--index-base",
        "1",
    ],
    "pool avg 5×5 window": ["pool", "--mode", "avg", "--input", ones(5, 5), "--size", "5"],
    "pool max overlapping 26 windows": [
        "pool",
        "--mode",
        "max",
        "--input",
        " ".join("1" for _ in range(28)) + ";",
        "--size",
        "1x3",
        "--stride",
        "1",
        "--ties",
        "split",
    ],
    "pool ceil_mode drops a window": [
        "pool",
        "--mode",
        "max",
        "--input",
        "1 2 3 4 5; 6 7 8 9 0",
        "--size",
        "1",
        "--stride",
        "3",
        "--ceil-mode",
        "true",
    ],
    "pool avg ceil_mode": [
        "pool",
        "--mode",
        "avg",
        "--input",
        ones(5, 5),
        "--size",
        "2",
        "--stride",
        "2",
        "--ceil-mode",
        "true",
        "--padding",
        "1",
    ],
    "dense 30 inputs": [
        "dense",
        "--input",
        " ".join("1" for _ in range(30)),
        "--weight",
        " ".join(str(i % 4) for i in range(30)) + ";",
        "--bias",
        "[1]",
    ],
    # x_11 of a 12-entry column vector is its 11th entry (the checker read row 1, column 1)
    "dense 12 inputs, index base 1": [
        "dense",
        "--input",
        " ".join(str(i) for i in range(12)),
        "--weight",
        " ".join(str(i) for i in range(12)) + "; " + " ".join("1" for _ in range(12)),
        "--index-base",
        "1",
    ],
    "dense batch of 2, row layout": [
        "dense",
        "--input",
        "3 0 2; -1 1 5",
        "--weight",
        "2 -1 1; -3 1 4",
        "--layout",
        "row",
        "--upstream",
        "1 -2; 3 1/2",
    ],
    "dense batch 30": [
        "dense",
        "--input",
        ";".join(str(i % 3) for i in range(30)),
        "--weight",
        "2;",
        "--bias",
        "[1]",
    ],
    "softmax 30 classes": [
        "softmax",
        "--function",
        "softmax",
        "--input",
        " ".join(str(i % 3) for i in range(30)),
    ],
    "cross_entropy 30 classes": [
        "loss",
        "--loss",
        "cross_entropy",
        "--input",
        " ".join(str(i % 3) for i in range(30)),
        "--target",
        "2",
    ],
    "mse 30 entries": [
        "loss",
        "--loss",
        "mse",
        "--input",
        " ".join(str(i % 5) for i in range(30)),
        "--target",
        " ".join("1" for _ in range(30)),
    ],
    "bce at 0 and 1": ["loss", "--loss", "bce", "--input", "0 1 1/2 0 1", "--target", "1 0 1 0 1"],
    # 1 − x, 1 − t and x − t taken from the exact values near 1, with and without weights.
    "bce near 1": [
        "loss",
        "--loss",
        "bce",
        "--input",
        "9999999999999/10000000000000 1/3 999/1000 1/10000000000000",
        "--target",
        "1 9999999999999/10000000000000 1/2 0",
        "--weight",
        "2 3 1/2 1",
    ],
    # σ(s) − t in each of its three forms: as written, centred (tanh), upper ((1 − t) − σ(−s)).
    "bce_with_logits σ(s) near t": [
        "loss",
        "--loss",
        "bce_with_logits",
        "--input",
        "1e-13 -1e-13 40 -40 3/10 20 1/1000",
        "--target",
        "1/2 0.5 1 0 1 9999999999/10000000000 1/2",
    ],
    "bce_with_logits weighted": [
        "loss",
        "--loss",
        "bce_with_logits",
        "--input",
        "1e-13 30",
        "--target",
        "1/2 1",
        "--weight",
        "2 3",
        "--reduction",
        "sum",
    ],
    # LP windows scaled by their largest |x| (1e-170² underflows, 1e100^(7/2) overflows),
    # fractions as a power's base ((2/3)^2, not 2/3^2) and a large p.
    "pool lp tiny": [
        "pool",
        "--mode",
        "lp",
        "--p",
        "2",
        "--input",
        "1e-170 3e-171; 0 -2e-170",
        "--size",
        "2",
    ],
    "pool lp tiny 5/2": [
        "pool",
        "--mode",
        "lp",
        "--p",
        "5/2",
        "--input",
        "1e-200 3e-201 1e-250; 1e-210 0 1e-300",
        "--size",
        "2",
        "--stride",
        "1",
    ],
    "pool lp huge 7/2": [
        "pool",
        "--mode",
        "lp",
        "--p",
        "7/2",
        "--input",
        "1e100 3e99; 0 1",
        "--size",
        "2",
    ],
    "pool lp fractions": [
        "pool",
        "--mode",
        "lp",
        "--p",
        "3",
        "--input",
        "2/3 1/7; 1 5/2",
        "--size",
        "2",
    ],
    "pool lp clipped tiny": [
        "pool",
        "--mode",
        "lp",
        "--p",
        "2",
        "--input",
        "1e-170 2e-170 3e-170; 1e-170 0 3e-170",
        "--size",
        "2",
        "--ceil-mode",
        "true",
    ],
    # σ′ and tanh′ in their tail forms (σ(x)·σ(−x), 4·exp(−2|x|)/(1 + exp(−2|x|))²) where
    # PyTorch's cancels, PyTorch's forms elsewhere, and beyond float64's range (0 either way).
    "sigmoid tails": [
        "activation",
        "--function",
        "sigmoid",
        "--input",
        "40 -40 15 13 800 -800 1e-300 1/2",
    ],
    "tanh tails": [
        "activation",
        "--function",
        "tanh",
        "--input",
        "20 -20 8 7 400 -400 1e-300 1/2 -3",
    ],
    # a dominant p_j's gradient from its row's other entries, where PyTorch's cancels
    "softmax dominant": [
        "softmax",
        "--function",
        "softmax",
        "--input",
        "40 0 -3; 1 2 3; 800 0 1",
        "--upstream",
        "1 0 -2; 1 0 0; 1 2 1",
    ],
    "log_softmax dominant": [
        "softmax",
        "--function",
        "log_softmax",
        "--input",
        "40 0 -3; 1 2 3; 800 0 1",
        "--upstream",
        "1 0 0; 1 0 0; 3 -1 1",
    ],
    "decimal halves": [
        "dense",
        "--input",
        "7/20; 9/20; 5/2; -5/2",
        "--weight",
        "1;",
        "--decimal",
        "--precision",
        "1",
    ],
    # the values table's ≈2 for 3/2 at one significant digit (read at the report's precision)
    "expr values at 1 digit": [
        "expr",
        "--function",
        "y/(1 + exp(-3*x))",
        "--variables",
        "[x, y]",
        "--at",
        "{x: 0, y: 2}",
        "--decimal",
        "--precision",
        "1",
    ],
    # p_0 rounds to 1: log Z, 1 − p_0 and p_0 − 1 are shown in the forms computed
    "cross_entropy at a gap of 40": [
        "loss",
        "--loss",
        "cross_entropy",
        "--input",
        "[40, 0]",
        "--target",
        "0",
    ],
    "cross_entropy batch at gaps of 40 and 700": [
        "loss",
        "--loss",
        "cross_entropy",
        "--input",
        "[[40, 0, 1], [700, -700, 0]]",
        "--target",
        "[0, 0]",
        "--label-smoothing",
        "1e-9",
    ],
    "log_softmax at a gap of 40": [
        "softmax",
        "--function",
        "log_softmax",
        "--input",
        "[40, 0, -3]",
        "--upstream",
        "[1, 0.5, 2]",
    ],
    "softmax at a gap of 40": [
        "softmax",
        "--function",
        "softmax",
        "--input",
        "[40, 0, -3]",
        "--upstream",
        "[1, 0.5, 2]",
    ],
    "decimal halves, 2 digits": [
        "loss",
        "--loss",
        "mse",
        "--input",
        "1/8 3/8 5/8",
        "--target",
        "0 0 0",
        "--decimal",
        "--precision",
        "2",
    ],
}


@pytest.mark.parametrize("args", INLINE.values(), ids=INLINE.keys())
def test_every_inline_step_is_true(args: list[str]) -> None:
    problems = audit_inline(*args)
    assert not problems, summary(problems)


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_every_bundled_step_is_true(path: Path, options: tuple[str, ...]) -> None:
    problems, count, compared, matched = audit(path, *options)
    assert count or compared, "no equation found"
    assert matched or path.name.startswith(("expr", "seed000_ex1")), "no step matched to a result"
    assert not problems, summary(problems)


@pytest.mark.parametrize(("kind", "variant"), variants())
def test_every_random_step_is_true(tmp_path: Path, kind: str, variant: str | None) -> None:
    by = practice.profile(kind).by
    extra = [] if variant is None else [by.option, variant]
    for seed in SEEDS:
        path = write_random(tmp_path / f"{seed}.yaml", kind, "--seed", str(seed), *extra)
        for options in [(), ("--decimal", "--precision", "3")]:
            problems, count, compared, _ = audit(path, *options)
            assert count or compared, "no equation found"
            assert not problems, f"seed {seed} {options}:\n" + summary(problems)


# Runs with symbols that the wide audit found flagged: max pooling's tie statements with a
# symbolic upstream, dropout's rounded scale with --decimal (and dense batches beside them).
SYMBOLIC_SPECS = {
    "dense column batch, symbolic input": {
        "kind": "dense",
        "input": "symbolic 2x3",
        "weight": [[1, 2, 0], [0, 1, -1]],
        "bias": [1, -2],
        "upstream": [[1, 2], [-1, 3]],
    },
    "dense row batch, symbols in weight and bias": {
        "kind": "dense",
        "input": [[3, 0, 2], [-1, 1, 5]],
        "weight": [["a", 2, 0], [0, "2*a - 1", -1]],
        "bias": ["b", 1],
        "upstream": [[1, "b"], [2, -1]],
        "symbols": ["a", "b"],
        "layout": "row",
    },
    "max pool ties, symbolic upstream": {
        "kind": "pool",
        "mode": "max",
        "input": [[2, -1, -1], [1, 2, -3], [2, 0, -1]],
        "size": 2,
        "stride": 1,
        "ties": "all",
        "upstream": "symbolic",
    },
    "dropout, symbolic input": {
        "kind": "dropout",
        "input": "symbolic 2x2",
        "p": "1/4",
        "mask": [[1, 0], [1, 1]],
    },
}


@pytest.mark.parametrize("spec", SYMBOLIC_SPECS.values(), ids=SYMBOLIC_SPECS.keys())
@pytest.mark.parametrize(
    "options", [(), ("--decimal", "--precision", "2")], ids=["exact", "decimal"]
)
def test_every_symbolic_step_is_true(tmp_path: Path, spec: dict, options: tuple[str, ...]) -> None:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    problems, count, compared, _ = audit(path, *options)
    assert count and compared, "no equation found"
    assert not problems, summary(problems)


def test_a_column_layout_batch_reads_its_own_tables() -> None:
    """dense's column layout writes a batch as k×N matrices, but the steps name entries sample
    first (x_ni, as the spec and the results list them): its tables show one sample per row."""
    problems = audit_inline(
        "dense", "--input", "3 0 2; -1 1 5", "--weight", "2 -1 1; -3 1 4", "--bias", "1 2",
        "--upstream", "1 -2; 3 1/2",
    )  # fmt: skip
    assert not problems, summary(problems)


# -- the examples, each a displayed step that was false ----------------------------------


def test_a_single_number_has_no_empty_step() -> None:
    path = Path(__file__).parent.parent / "problems" / "cross_entropy_batch_weighted.yaml"
    markdown = gradcalc("run", str(path), "--format", "markdown", "--show", "results")
    assert "loss\n    = 0.844085\n" in markdown
    assert "=  =" not in markdown


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["activation", "--function", "relu", "--input", "3"], "x\n    = 3\n"),
        (
            ["loss", "--loss", "cross_entropy", "--input", "1 2 3", "--target", "2"],
            "t (class indices, 0-based as PyTorch reads them)\n    = 2\n",
        ),
        (["conv", "--input", "1 2; 3 4", "--kernel", "1;", "--bias", "1"], "b\n    = 1\n"),
    ],
    ids=["activation input", "class target", "scalar bias"],
)
def test_a_scalar_input_has_no_empty_step(args: list[str], shown: str) -> None:
    markdown = gradcalc(*args, "--format", "markdown")
    assert shown in markdown and "=  =" not in markdown


ONES = ";".join(["1 1 1 1 1"] * 5)
CUT = ["conv", "--input", ONES, "--kernel", "2;", "--upstream", "ones", "--show", "backward"]


def test_steps_all_shows_every_term_of_a_long_sum() -> None:
    markdown = gradcalc(*CUT, "--format", "markdown", "--steps", "all")
    first = markdown.split("∂L/∂x_00")[0]
    numbers = first.splitlines()[-1]
    assert numbers.count("1·1") == 25 and numbers.endswith(" = 25")
    assert "…" not in first and "more term" not in first


@pytest.mark.parametrize("output_format", ["markdown", "table", "latex"])
def test_a_cut_sum_shows_where_it_is_cut(output_format: str) -> None:
    text = gradcalc(*CUT, "--format", output_format, "--steps", "3")
    first = text.split("∂L/∂x_00" if output_format != "latex" else "L/\\partial x_{00}")[0]
    cut = "+ \\dots" if output_format == "latex" else "+ … = 25"
    assert cut in first
    assert "stands for 1 more term;" in first and "1 more terms" not in first
    if output_format == "markdown":
        assert not check_report(text).problems


def test_ceil_mode_size_line_ends_at_the_true_size() -> None:
    args = ["pool", "--mode", "max", "--input", "1 2 3 4 5; 6 7 8 9 0", "--size", "1"]
    args += ["--stride", "3", "--ceil-mode", "true", "--show", "size", "--format", "markdown"]
    markdown = gradcalc(*args)
    assert "H_ceil = ⌈(H + 2p − d·(kh − 1) − 1)/s⌉ + 1\n" in markdown
    assert "H_out = H_ceil − 1\n    = 2 − 1 = 1\n" in markdown
    assert "W_out = W_ceil − 1\n    = 3 − 1 = 2\n" in markdown
    assert "H_out = ⌈" not in markdown and "W_out = ⌈" not in markdown


def test_bce_at_its_edges_shows_the_clamp_inside_the_step() -> None:
    args = ["loss", "--loss", "bce", "--input", "0 1 1/2", "--target", "1 0 1", "--format"]
    markdown = gradcalc(*args, "markdown")
    assert "ℓ_0 = −[t_0·max(log x_0, −100) + (1 − t_0)·log(1 − x_0)]\n" in markdown
    assert "    = −[1·(−100) + 0·log 1] = 100\n" in markdown
    assert "    = −[0·log 1 + 1·(−100)] = 100\n" in markdown
    assert "∂L/∂x_0 = (x_0 − t_0)/max(x_0·(1 − x_0), 1e-12)/3\n" in markdown
    assert "log 0 +" not in markdown and "/(0·1)" not in markdown
    assert not check_report(markdown).problems


def test_bce_shows_each_clamp_wherever_it_acts() -> None:
    """Not only at 0 and 1: 1e-13·(1 − 1e-13) < 1e-12 and log 1e-100 < −100 are clamped too,
    and the step says so (it read (1e-13 − 0)/(1e-13·1)/2 = 0.05, and log 1e-100 as −100)."""
    args = ["loss", "--loss", "bce", "--input", "1e-13 0.5 1e-100 0.99999", "--target", "0 1 1 0"]
    markdown = gradcalc(*args, "--format", "markdown", "--steps", "all")
    assert "    = (1e-13 − 0)/max(1e-13·≈1, 1e-12)/4 = 0.025\n" in markdown
    assert "    = −[1·max(log 1e-100, −100) + 0·log(1 − 1e-100)] = 100\n" in markdown
    assert "x\\_2 = 1e-100: log x\\_2 = −230.259 is clamped to −100, as PyTorch does" in markdown
    # 0.99999 is near 1 (the finite-difference check skips it) but no clamp acts there.
    assert "2 input entries are where PyTorch clamps" in markdown
    assert "3 input entries lie within 2h of 0 or 1" in markdown
    assert "(0.99999 − 0)/(0.99999·≈1e-5)/4" in markdown
    assert not audit_inline(*args)


NEAR_EDGES = 4


@pytest.mark.parametrize("seed", range(NEAR_EDGES))
@pytest.mark.parametrize("loss", ["bce", "bce_with_logits"])
def test_every_step_near_the_edges_is_true(seed: int, loss: str) -> None:
    """Random inputs near 0 and 1 (bce) and large logits (bce_with_logits), where the clamps
    and the rounding of 1 − x act: every displayed step's arithmetic, as written, holds."""
    rng = random.Random(f"{loss}-{seed}")
    if loss == "bce":
        pool = [f"1e-{rng.randint(1, 300)}" for _ in range(3)]
        pool += ["0." + "9" * rng.randint(1, 15) for _ in range(3)]
        pool += [f"{rng.randint(1, 9)}e-{rng.randint(10, 14)}", "0", "1", "1/2"]
    else:
        pool = [f"{rng.choice('-')}{rng.randint(1, 800)}" for _ in range(3)]
        pool += [str(rng.randint(1, 800)), f"1e-{rng.randint(1, 300)}", "0"]
    inputs = rng.sample(pool, 5)
    targets = [rng.choice(["0", "1", "1/3"]) for _ in inputs]
    for options in [(), ("--decimal", "--precision", str(rng.randint(1, 6)))]:
        args = ["loss", "--loss", loss, "--input", " ".join(inputs), "--target", " ".join(targets)]
        problems = audit_inline(*args, *options)
        assert not problems, f"{inputs} {targets} {options}:\n" + summary(problems)


FAR_APART = 6


def far_apart_rows(rng: random.Random, count: int, classes: int) -> list[list[int]]:
    """Rows of logits up to ±700 whose top is often far above the rest (p_top within
    2^-20 of 1), with ties and near-ties among them.  Gaps stay within 300, so that a
    product of two probabilities (softmax's p_k·(g_k − g)) stays above float64's smallest
    number: below it the product rounds to 0, which no form of the step can print."""
    rows = []
    for _ in range(count):
        top = rng.randint(-400, 700)
        far = [top - rng.randint(15, 60), top - rng.randint(100, 300)]
        pool = [top, *far, top - 1] if rng.random() < 0.3 else far
        rows.append([top] + [rng.choice(pool) for _ in range(classes - 1)])
        rng.shuffle(rows[-1])
    return rows


@pytest.mark.parametrize("seed", range(FAR_APART))
@pytest.mark.parametrize("loss", ["cross_entropy", "softmax", "log_softmax"])
def test_every_step_at_far_apart_logits_is_true(seed: int, loss: str) -> None:
    """cross_entropy (hard labels, ignore_index, weights, label smoothing, probability
    targets), softmax and log_softmax where log Z, 1 − p and the gradient would cancel:
    every displayed step, in the form computed, holds as printed."""
    rng = random.Random(f"{loss}-{seed}")
    count, classes = rng.randint(1, 3), rng.randint(2, 4)
    rows = far_apart_rows(rng, count, classes)
    scores = str(rows)
    if loss == "cross_entropy":
        # mostly the top class (p_gt − 1 cancels there), some others and ignored samples
        labels = [rng.choice([row.index(max(row))] * 3 + [0, -100]) for row in rows]
        labels[0] = max(labels[0], 0)
        args = ["loss", "--loss", loss, "--input", scores, "--target", str(labels)]
        args += rng.choice([[], ["--weight", str([rng.randint(1, 3) for _ in range(classes)])]])
        args += rng.choice([[], ["--label-smoothing", "1e-9"], ["--reduction", "sum"]])
        if seed % 2:
            target = [[int(c == max(label, 0)) for c in range(classes)] for label in labels]
            args[args.index("--target") + 1] = str(target)
    else:
        upstream = [[rng.choice([0, 1, -1, 2]) for _ in range(classes)] for _ in range(count)]
        args = ["softmax", "--function", loss, "--input", scores, "--upstream", str(upstream)]
    for options in [(), ("--decimal", "--precision", str(rng.randint(1, 6)))]:
        problems = audit_inline(*args, *options)
        assert not problems, f"{args} {options}:\n" + summary(problems)


def test_a_refuted_expected_answer_names_its_sides() -> None:
    args = ["expr", "--function", "x*y", "--variables", "[x, y]"]
    result = CliRunner().invoke(
        main, [*args, "--expected", "{gradient: [y, y]}", "--show", "expected"], env=ENV
    )
    assert result.exit_code == 1
    # The line as written, its continuations (wrapped to fit the terminal) joined.
    line = logical_lines(result.output.split("gradient[1]")[1])[0]
    assert "expected y, computed x" in line
    # y = 5/2 is the expected side, x = 1/3 the computed one (they were swapped).
    assert "the expected side is 2.5, the computed side 0.333333" in line


@pytest.mark.parametrize(
    "args",
    [
        ["conv", "--input", ONES, "--kernel", "1 2; 3 4", "--show", "jacobian"],
        [
            "dense",
            "--input",
            "1 2; 3 4; 5 6; 7 8",
            "--weight",
            "1 2; 3 4; 5 6",
            "--show",
            "jacobian",
        ],
    ],
    ids=["conv", "dense"],
)
@pytest.mark.parametrize("output_format", ["markdown", "table"])
def test_each_capped_table_says_what_it_hides(args: list[str], output_format: str) -> None:
    text = gradcalc(*args, "--steps", "4", "--format", output_format)
    tables = text.count("(values)") + text.count("(symbols)")
    assert tables == 4
    rows = 16 - 4 if args[0] == "conv" else 12 - 4
    assert text.count(f"… {rows} more rows of this table not shown") == tables
    assert "more rows not shown" not in text


@pytest.mark.parametrize(
    "args",
    [
        ["activation", "--function", "relu", "--input", "[[[1, -2], [3, 4]], [[-1, 2], [0, 1]]]"],
        [
            "loss", "--loss", "mse", "--input", "[[[1, 2], [3, 4]], [[1, 2], [0, 1]]]",
            "--target", "[[[0, 2], [3, 4]], [[1, 0], [0, 1]]]",
        ],
    ],
    ids=["activation", "loss"],
)  # fmt: skip
def test_slices_of_3d_inputs_name_their_axis(args: list[str]) -> None:
    text = gradcalc(*args, "--show", "problem,results", "--format", "markdown")
    assert "[=0]" not in text
    # The inputs' slices are named as the results' are.
    assert "**x \\[axis0=0\\]**" in text and "**grad\\_input \\[axis0=0\\]**" in text
    assert "**t \\[axis0=1\\]**" in text or args[0] == "activation"


# -- the checker itself --------------------------------------------------------------------------

TABLES = "**x**\n\n|   | 0 | 1 |\n|---|---|---|\n|   | 2 | −3 |\n\n"


@pytest.mark.parametrize(
    ("block", "why"),
    [
        ("y = a + b\n  = 1 + 2 = 4", "false"),
        ("y = a·b\n  = 0.333333·3 = 1.1", "false"),
        ("y_0 = Σ\n    = 1·1 + 1·1 = 3   (1 more term not shown)", "without '+ …'"),
        ("loss\n    =  = 2", "empty step"),
        ("ℓ = −log x\n  = −log 0 = 100", "undefined"),
        ("y = Σ\n  = x_0·x_1\n  = 2·3 = 6", "x_1 is -3"),
        ("y = Σ\n  = x_0·w + x_1·w\n  = 2·1 − 3·1 = −1\n", None),
        ("y = a·b\n  = 0.333333·3 = 1", None),
        ("y = a/b\n  = (≈2)·1 = 2.5", None),
        # the forms that scaled LP windows and σ(s) − t near t are shown in
        (
            "y = m·((x/m)^2)^(1/2)\n  = 1e-170·(1^2 + (2/3)^2)^(1/2) = 1e-170·(13/9)^(1/2) = 1.20185e-170",
            None,
        ),
        (
            "y = m·((x/m)^2)^(1/2)\n  = 1/10·(1^2 + 2/3^2)^(1/2) = 1/10·(13/9)^(1/2)",
            "false",
        ),
        ("g = (tanh(s/2)/2 + (1/2 − t))\n  = (tanh(1e-13/2)/2 + (1/2 − 0.5)) = 2.5e-14", None),
        ("g = ((1 − t) − σ(−s))\n  = ((1 − 1) − 4.24835e-18) = −4.24835e-18", None),
        # tanh′ as 1 − tanh², and σ′, tanh′ in the tail forms gradcalc takes where it cancels
        ("g = 1 − tanh²(x)\n  = 1 − 0.5² = 0.75", None),
        ("g = 1 − tanh²(x)\n  = 1 − (−0.5)² = 0.5", "false"),
        ("g = σ(x)·σ(−x)\n  = 1·4.24835e-18 = 4.24835e-18", None),
        ("g = σ(x)·(1 − σ(x))\n  = 1·(1 − 1) = 4.24835e-18", "false"),
        (
            "g = 4·exp(−2·|x|)/(1 + exp(−2·|x|))²\n  = 4·exp(−40)/(1 + exp(−40))² = 1.69934e-17",
            None,
        ),
        ("g = 4·exp(−2·|x|)/(1 + exp(−2·|x|))²\n  = 4·exp(−40)/(1 + exp(−40))² = 0", "false"),
        ("y = a + b + …\n  = 1 + 2 + … = 7   (+ … stands for 1 more term)", None),
        # cross_entropy and softmax where the top probability rounds to 1: the written forms
        # are false there, the forms computed without the 1 true
        ("ℓ = −log p_0\n  = −log 1 = 4.24835e-18", "false"),
        ("d = p_0·(1 − p_0)\n  = 1·(1 − 1) = 4.24835e-18", "false"),
        ("y_0 = s_0 − m − log Z\n  = 40 − 40 − log 1 = −4.24835e-18", "false"),
        ("ℓ = log(1 + r)\n  = log(1 + 4.24835e-18) = 4.24835e-18", None),
        ("ℓ = −s_0 + m + log(1 + r)\n  = −40 + 40 + log(1 + 4.24835e-18) = 4.24835e-18", None),
    ],
)
def test_the_checker_finds_false_steps(block: str, why: str | None) -> None:
    problems = check_report(TABLES + "```text\n" + block + "\n```\n", precision=1).problems
    if why is None:
        assert not problems, problems
    else:
        assert problems and all(why in p.replace("−", "-") or "false" in p for p in problems)
        assert any(why in p.replace("−", "-") for p in problems), problems


def test_the_checker_reads_tie_statements() -> None:
    tables = "**x**\n\n|   | 0 | 1 |\n|---|---|---|\n| 0 | 1 | 2 |\n| 1 | 2 | 1 |\n\n"
    true = tables + "y\\_00: x\\_01 = x\\_10 = 2 (2-way tie; upstream 9/5)\n"
    assert not check_report(true).problems
    false = tables + "y\\_00: x\\_00 = x\\_10 = 2 (2-way tie; upstream 9/5)\n"
    assert any("x_00 is 1, not tied" in p for p in check_report(false).problems)


def test_the_checker_reads_a_tie_statement_with_a_symbolic_upstream() -> None:
    """Max pooling's upstream g_00 in a run with symbols is a formula, not unreadable."""
    tables = "**x**\n\n|   | 0 | 1 |\n|---|---|---|\n| 0 | 1 | 2 |\n| 1 | 2 | 1 |\n\n"
    results = {"grad_input": [["0", "g_00/2"], ["g_00/2", "0"]]}
    true = tables + "y\\_00: x\\_01 = x\\_10 = 2 (2-way tie; upstream g\\_00)\n"
    assert not check_report(true, results=results).problems
    false = tables + "y\\_00: x\\_00 = x\\_10 = 2 (2-way tie; upstream g\\_00)\n"
    assert any("x_00 is 1, not tied" in p for p in check_report(false, results=results).problems)


@pytest.mark.parametrize(
    ("shown", "precision", "true"),
    [
        ("x_00·1·1.33333 = 4·x_00/3", 6, True),
        ("x_00·1·1.3 = 4·x_00/3", 2, True),
        ("x_00·1·1.33333 = 5·x_00/3", 6, False),
        ("x_00·1·1.4 = 4·x_00/3", 2, False),
        ("x_00·0.5 + x_01 = x_00/2 + x_01", 6, True),
        ("x_00·0.5 + x_01 = x_00/2 + 2·x_01", 6, False),
    ],
)
def test_the_checker_reads_formulas_beside_rounded_decimals(
    shown: str, precision: int, true: bool
) -> None:
    """--decimal with symbols: the step's numbers are rounded decimals, its formulas exact
    (dropout's x_00·1·1.33333 = 4·x_00/3); a decimal stands for the numbers rounding to it."""
    results = {"output": [["4*x_00/3", "x_01"]]}
    markdown = f"```text\ny_00 = x_00·m_00·1/(1 − p)\n     = {shown}\n```\n"
    problems = check_report(markdown, results=results, precision=precision).problems
    assert not problems if true else problems, problems


def test_the_written_out_weight_gradient_says_what_it_hides() -> None:
    weight = ";".join(["1 2"] * 30)
    args = ["dense", "--input", "1 2", "--weight", weight, "--show", "identities"]
    assert "… 6 more rows of this table not shown" in gradcalc(*args)
    every = gradcalc(*args, "--steps", "all")
    assert "more rows" not in every and "\n29  ∂L/∂y_29·x_0" in every


def test_the_new_steps_compile_as_latex(tmp_path: Path) -> None:
    from tex import assert_compiles

    pool = ["pool", "--mode", "max", "--input", "1 2 3 4 5; 6 7 8 9 0", "--size", "1"]
    bodies = [
        gradcalc(*CUT, "--steps", "3", "--format", "latex"),
        gradcalc(*pool, "--stride", "3", "--ceil-mode", "true", "--format", "latex"),
        gradcalc("loss", "--loss", "bce", "--input", "0 1", "--target", "1 0", "--format", "latex"),
        gradcalc(
            "dense", "--input", "5/2; -5/2", "--weight", "1;", "--decimal", "--precision", "1",
            "--format", "latex",
        ),
        gradcalc("conv", "--input", ONES, "--kernel", "1 2; 3 4", "--show", "jacobian",
                 "--steps", "4", "--format", "latex"),
    ]  # fmt: skip
    assert "\\approx" in bodies[3]
    assert_compiles(tmp_path, *bodies)
