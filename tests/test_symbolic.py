"""Symbolic entries (core/symbolic.py, docs/symbolic.md): conv and dense tensors written as
symbols or formulas, results as expanded polynomials, `expected` and `gradcalc check`
comparing formulas."""

from __future__ import annotations

import itertools
import json
import random
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from nn_cli import run as run_cli
from tex import assert_compiles

from gradcalc.core import registry, symbolic
from gradcalc.core.errors import SpecError
from gradcalc.core.spec import Limits, SolveOptions

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
# The symbols of a `symbolic` field: the role's default name (upstream: g).
SYMBOL = {
    ("conv", "input"): "x",
    ("conv", "kernel"): "w",
    ("conv", "upstream"): "g",
    ("conv_transpose", "input"): "x",
    ("conv_transpose", "kernel"): "w",
    ("conv_transpose", "bias"): "b",
    ("conv_transpose", "upstream"): "g",
    ("dense", "input"): "x",
    ("dense", "weight"): "W",
    ("dense", "bias"): "b",
    ("dense", "upstream"): "g",
    ("pool", "input"): "x",
    ("pool", "upstream"): "g",
    ("dropout", "input"): "x",
    ("dropout", "upstream"): "g",
    ("embedding", "weight"): "W",
    ("embedding", "upstream"): "g",
}
# The seed problems with symbols: not bundled (problems/*.yaml), as they need spec-file keys
# (symbols, flat_index) that are no inline options.
SYMBOLIC = PROBLEMS / "symbolic"
SEEDS = ("seed000_ex3_symbolic", "seed002_symbolic_filter", "seed004_symbolic_input")


def solve(kind: str, spec: dict):
    return registry.solve({"kind": kind, **spec}, SolveOptions(limits=Limits()))


def _random_conv(rng: random.Random) -> tuple[dict, list[str]]:
    """A small conv spec with numbers, and the fields to make symbolic."""
    h, w, kh, kw = rng.randint(2, 4), rng.randint(2, 4), rng.randint(1, 2), rng.randint(1, 2)
    spec = {
        "input": [[rng.randint(-3, 3) for _ in range(w)] for _ in range(h)],
        "kernel": [[rng.randint(-3, 3) for _ in range(kw)] for _ in range(kh)],
        "stride": rng.choice([1, 2]) if min(h, w) > 2 else 1,
        "padding": rng.choice([0, 1]),
        "flip_kernel": rng.choice([False, True]),
        "index_base": rng.choice([0, 1]),
    }
    if rng.random() < 0.5:
        spec["bias"] = rng.randint(-2, 2)
    return spec, ["input", "kernel", "upstream"]


def _random_conv_transpose(rng: random.Random) -> tuple[dict, list[str]]:
    """A small transposed convolution (1-D, 2-D or 3-D, channels and groups sometimes, stride,
    padding, output_padding, dilation) with numbers, and the fields to make symbolic."""
    numbers = lambda *shape: np.array(  # noqa: E731
        [rng.randint(-3, 3) for _ in range(int(np.prod(shape)))]
    ).reshape(shape)
    dims, channels = rng.choice([1, 2, 3]), rng.choice([None, 2])
    groups = rng.choice([1, 2]) if channels else 1
    out_per_group = rng.choice([1, 2]) if channels else 1
    spatial = (rng.randint(1, 3),) * dims
    taps = tuple(rng.randint(1, 3) for _ in range(dims))
    stride, dilation = rng.choice([1, 2]), rng.choice([1, 1, 2])
    x = numbers(*((channels,) if channels else ()), *spatial)
    w = numbers(channels, out_per_group, *taps) if channels else numbers(*taps)
    spec = {
        "input": x.tolist(),
        "kernel": w.tolist(),
        "dims": dims,
        "stride": stride,
        "dilation": dilation,
        "output_padding": rng.randrange(max(stride, dilation)),
        "index_base": rng.choice([0, 1]),
    }
    # Padding that leaves at least one output row: (H − 1)·s + d·(k − 1) + 1 > 2p.
    smallest = min(
        (n - 1) * stride + dilation * (k - 1) + 1 for n, k in zip(spatial, taps, strict=True)
    )
    spec["padding"] = rng.choice([p for p in (0, 1) if 2 * p < smallest])
    if groups > 1:
        spec["groups"] = groups
    fields = ["input", "kernel", "upstream"]
    if rng.random() < 0.5:
        out_channels = out_per_group * groups if channels else 1
        spec["bias"] = [rng.randint(-2, 2) for _ in range(out_channels)]
        fields.append("bias")
    return spec, fields


def _random_dense(rng: random.Random) -> tuple[dict, list[str]]:
    features, outputs = rng.randint(1, 3), rng.randint(1, 3)
    batch = rng.choice([None, 2])
    row = [rng.randint(-3, 3) for _ in range(features)]
    spec = {
        "input": row if batch is None else [row, [rng.randint(-3, 3) for _ in range(features)]],
        "weight": [[rng.randint(-3, 3) for _ in range(features)] for _ in range(outputs)],
        "bias": [rng.randint(-2, 2) for _ in range(outputs)],
        "layout": rng.choice(["column", "row"]),
    }
    return spec, ["input", "weight", "bias", "upstream"]


def _random_pool(rng: random.Random) -> tuple[dict, list[str]]:
    """Average pooling takes symbols in its input and upstream, max pooling in its upstream."""
    h, w = rng.randint(2, 5), rng.randint(2, 5)
    mode = rng.choice(["avg", "max"])
    spec = {
        "mode": mode,
        "input": [[rng.randint(-3, 3) for _ in range(w)] for _ in range(h)],
        "size": rng.choice([1, 2]),
        "stride": rng.choice([1, 2]),
    }
    spec["padding"] = rng.choice([0, 1]) if mode == "avg" and spec["size"] == 2 else 0
    if mode == "avg":
        spec["count_include_pad"] = rng.choice([True, False])
        return spec, ["input", "upstream"]
    spec["ties"] = rng.choice(["first", "all", "split"])
    return spec, ["upstream"]


def _random_dropout(rng: random.Random) -> tuple[dict, list[str]]:
    h, w = rng.randint(1, 3), rng.randint(1, 3)
    spec = {
        "input": [[rng.randint(-3, 3) for _ in range(w)] for _ in range(h)],
        "p": rng.choice(["1/2", "1/3", "0.25"]),
        "random": rng.randint(0, 99),
        "training": rng.choice([True, True, False]),
    }
    return spec, ["input", "upstream"]


def _random_embedding(rng: random.Random) -> tuple[dict, list[str]]:
    vocabulary, width = rng.randint(2, 4), rng.randint(1, 3)
    spec = {
        "weight": [[rng.randint(-3, 3) for _ in range(width)] for _ in range(vocabulary)],
        "indices": [rng.randrange(vocabulary) for _ in range(rng.randint(1, 4))],
    }
    if rng.random() < 0.5:
        spec["padding_idx"] = rng.randrange(vocabulary)
    return spec, ["weight", "upstream"]


def _shape(value) -> str:
    return "x".join(map(str, np.shape(value)))


@pytest.mark.parametrize(
    "kind,make",
    [
        ("conv", _random_conv),
        ("conv_transpose", _random_conv_transpose),
        ("dense", _random_dense),
        ("pool", _random_pool),
        ("dropout", _random_dropout),
        ("embedding", _random_embedding),
    ],
)
@pytest.mark.parametrize("seed", range(12))
def test_a_symbolic_run_at_random_rationals_is_the_numeric_exact_run(kind, make, seed) -> None:
    """Every result of a run with symbols, the symbols replaced by random rationals, equals
    the exact numeric run of the same problem with those numbers."""
    rng = random.Random(seed)
    numeric, fields = make(rng)
    field = rng.choice(fields)
    numbers = solve(kind, numeric)
    if field == "upstream":
        shape = np.shape(numbers.results["output"])
        symbolic_spec = {**numeric, "upstream": "symbolic"}
    else:
        symbolic_spec = {**numeric, field: f"symbolic {_shape(numeric[field])}"}
    symbols = solve(kind, symbolic_spec)
    shape = shape if field == "upstream" else np.shape(numeric[field])
    written = symbolic.symbol_array(
        SYMBOL[kind, field], shape, index_base=numeric.get("index_base", 0), flat_index=False
    )
    values = {s: Fraction(rng.randint(-20, 20), rng.randint(1, 7)) for s in written.ravel()}
    numbers = np.array([values[s] for s in written.ravel()], dtype=object).reshape(shape)
    numeric = {**numeric, field: numbers.tolist()}
    expected = solve(kind, numeric).results
    for name, result in symbols.results.items():
        if name == "output_shape":
            continue
        substituted = symbolic.substitute(np.asarray(result, dtype=object), values)
        assert substituted.shape == np.shape(expected[name]), name
        assert all(
            a == b for a, b in zip(substituted.ravel(), np.ravel(expected[name]), strict=True)
        ), name


@pytest.mark.parametrize("name", SEEDS)
def test_seed_problems_with_symbols_pass_their_formula_answers(name: str) -> None:
    result = run_cli("conv", "--spec", str(SYMBOLIC / f"{name}.yaml"), "--no-color")
    assert result.exit_code == 0, result.output
    assert "every check passed" in result.output


def test_reversed_weights_column_of_seed_000() -> None:
    """∂y/∂x₁ over y₁…y₉ is [w₉, …, w₁]."""
    import yaml

    spec = yaml.safe_load((SYMBOLIC / "seed000_ex3_symbolic.yaml").read_text())
    column = solve("conv", spec).results["jacobian_input"][:, 0]
    assert [str(v) for v in column] == [f"w{k}" for k in range(9, 0, -1)]


def test_json_gives_formulas_as_text_that_expected_reads_back() -> None:
    spec = {
        "input": "symbolic 3x3",
        "kernel": [["b11", "2*b12"], [0, "1/2"]],
        "symbols": "b11 b12",
        "upstream": "symbolic",
    }
    path = Path(__file__).parent / "_symbolic_tmp.json"
    try:
        path.write_text(json.dumps({"kind": "conv", **spec}))
        result = run_cli("conv", "--spec", str(path), "--format", "json")
        assert result.exit_code == 0, result.output
        results = json.loads(result.output)["results"]
        assert results["grad_kernel"][0][0] == "g_00*x_00 + g_01*x_01 + g_10*x_10 + g_11*x_11"
        path.write_text(json.dumps({"kind": "conv", **spec, "expected": results}))
        again = run_cli("conv", "--spec", str(path), "--format", "json")
        checks = json.loads(again.output)["checks"]
        assert checks and all(check["ok"] for check in checks)
    finally:
        path.unlink(missing_ok=True)


def test_a_wrong_formula_is_reported_and_an_equal_one_in_another_form_passes() -> None:
    spec = {
        "input": [[1, 2], [3, 4]],
        "kernel": "symbolic 1x1",
        "expected": {"output": [["w_00", "2*w_00"], ["w_00*3", "(2*w_00)^1 + 2*w_00 + 1"]]},
    }
    checks = solve("conv", spec).checks
    assert [cell.index for cell in checks[0].wrong] == [(1, 1)]
    assert checks[0].symbolic


def test_entries_may_be_numbers_names_and_polynomials_only() -> None:
    declared = {"input": [[1, 2], [3, 4]], "symbols": ["w", "b11"]}
    with pytest.raises(SpecError, match="no functions"):
        solve("conv", {**declared, "kernel": [["sin(w)"]]})
    with pytest.raises(SpecError, match="no division by a name"):
        solve("conv", {**declared, "kernel": [["1/w"]]})
    with pytest.raises(SpecError, match="unknown name 'b12'; did you mean 'b11'"):
        solve("conv", {**declared, "kernel": [["2*b12"]]})
    # Without `symbols`, a name in a matrix is the error it always was (O for 0, a typo).
    with pytest.raises(SpecError, match="expected a number, got the text 'w'"):
        solve("conv", {"input": [[1, 2], [3, 4]], "kernel": [["w"]]})
    with pytest.raises(SpecError, match="hexadecimal"):
        solve("conv", {"input": [[1, 2], [3, 4]], "kernel": [["0x10"]]})
    with pytest.raises(SpecError, match="needs its shape"):
        solve("conv", {"input": [[1, 2], [3, 4]], "kernel": "symbolic"})


def test_flat_index_and_index_base_name_the_symbols() -> None:
    def names(**options):
        spec = {"input": [[1, 0], [0, 1]], "kernel": "symbolic 2x2", **options}
        return [str(v) for v in solve("conv", spec).results["grad_kernel"].ravel()]

    assert names() == ["1", "0", "0", "1"]  # ∂L/∂w needs no w: numbers stay numbers
    spec = {"input": "symbolic 2x2", "kernel": [[1]], "index_base": 1, "flat_index": True}
    assert [str(v) for v in solve("conv", spec).results["output"].ravel()] == [
        "x1",
        "x2",
        "x3",
        "x4",
    ]
    spec = {"input": "symbolic 2x2", "kernel": [[1]], "index_base": 1}
    assert str(solve("conv", spec).results["output"][1, 0]) == "x_21"


def test_gradcalc_check_grades_formula_answers(tmp_path: Path) -> None:
    shutil.copy(SYMBOLIC / "seed004_symbolic_input.yaml", tmp_path / "task.yaml")
    (tmp_path / "sub.yaml").write_text(
        "problem: task.yaml\nanswers:\n"
        "  grad_kernel: [[X_10 + 2*X_20, X_11 + 2*X_21], [X_20 + 2*X_30, X_21 + 2*X_31 + 1]]\n"
        "  jacobian_kernel: [[X_00, X_01, X_10, X_11], [X_10, X_11, X_20, X_21], "
        "[X_20, X_21, X_30, X_31]]\n"
    )
    result = run_cli("check", str(tmp_path / "sub.yaml"), "--format", "json")
    report = json.loads(result.output)
    grades = {g["name"]: g for g in report["files"][0]["results"]}
    assert grades["jacobian_kernel"]["ok"]
    assert not grades["grad_kernel"]["ok"]


def test_equal_at_random_points_for_large_differences() -> None:
    import sympy

    x = sympy.symbols("x_0:40", real=True)
    big = sympy.Mul(*[(v + 1) for v in x[:12]], evaluate=False)
    assert symbolic.equal(big, sympy.expand(big) if False else big)
    assert not symbolic.equal(big, big + x[20])


def test_latex_and_markdown_typeset_the_formulas(tmp_path: Path) -> None:
    spec = str(SYMBOLIC / "seed002_symbolic_filter.yaml")
    markdown = run_cli("conv", "--spec", spec, "--format", "markdown")
    assert markdown.exit_code == 0
    assert "b_11 + b_12 + b_13" in markdown.output
    latex = run_cli("conv", "--spec", spec, "--format", "latex")
    assert latex.exit_code == 0
    assert "b_{11} + b_{12} + b_{13}" in latex.output
    assert_compiles(tmp_path, latex.output)  # skips without pdflatex


def test_a_numeric_problem_never_imports_sympy() -> None:
    code = (
        "import sys\n"
        "from gradcalc.cli.main import main\n"
        f"sys.argv = ['gradcalc', 'conv', '--spec', {str(PROBLEMS / 'task3.yaml')!r}, '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'sympy' not in sys.modules, 'sympy imported'\n"
        "assert 'gradcalc.core.symbolic' not in sys.modules, 'core/symbolic.py imported'\n"
        "print('no sympy')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("no sympy")


def test_above_the_cap_the_symbols_get_random_values_and_the_run_says_so() -> None:
    spec = {"input": "symbolic 30x30", "kernel": "symbolic 5x5"}
    solution = solve("conv", spec)
    assert not symbolic.any_symbolic(*solution.results.values())
    note = next(c for c in solution.conventions if "random values" in c)
    assert f"{symbolic.MAX_SYMBOLIC_WORK:,}" in note and "w_00 = " in note
    # The results are the numeric run's for the values the note names.
    values = symbolic.random_values(
        symbolic.symbols_of(
            symbolic.symbol_array("w", (5, 5), index_base=0, flat_index=False),
            symbolic.symbol_array("x", (30, 30), index_base=0, flat_index=False),
        )
    )
    numbers = {
        "input": [
            [values[s] for s in row]
            for row in symbolic.symbol_array("x", (30, 30), index_base=0, flat_index=False)
        ],
        "kernel": [
            [values[s] for s in row]
            for row in symbolic.symbol_array("w", (5, 5), index_base=0, flat_index=False)
        ],
    }
    assert (solve("conv", numbers).results["output"] == solution.results["output"]).all()


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.parametrize("width", [60, 80])
def test_terminal_output_with_formulas_fits_the_width(name: str, width: int) -> None:
    """A formula wider than a table's room is printed as [i, j] = … lines, wrapped."""
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    result = CliRunner().invoke(
        main,
        ["conv", "--spec", str(SYMBOLIC / f"{name}.yaml"), "--no-color"],
        env={"COLUMNS": str(width), "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None},
    )
    assert result.exit_code == 0, result.output
    wide = [line for line in result.output.splitlines() if len(line) > width]
    assert not wide, wide[:3]


def test_the_schema_takes_names_in_a_matrix_only_with_symbols() -> None:
    import jsonschema

    from gradcalc.core.schema import spec_schema

    spec = {"kind": "dense", "input": "symbolic 3", "weight": [[1, 0, -2], ["w21", "w22", 3]]}
    for kind in ("dense", None):
        validator = jsonschema.Draft7Validator(spec_schema(kind))
        assert list(validator.iter_errors(spec))
        assert not list(validator.iter_errors({**spec, "symbols": ["w21", "w22"]}))
        assert not list(validator.iter_errors({**spec, "weight": "symbolic 2x3"}))
    with pytest.raises(SpecError, match="expected a number"):
        solve("dense", spec)
    assert solve("dense", {**spec, "symbols": ["w21", "w22"]}).results["output"].shape == (2,)


def test_float_is_refused_for_symbols_and_decimal_leaves_formulas_exact() -> None:
    spec = str(SYMBOLIC / "seed004_symbolic_input.yaml")
    refused = run_cli("conv", "--spec", spec, "--float")
    assert refused.exit_code == 2
    assert "--float computes with numbers" in refused.stderr
    decimal = run_cli("conv", "--spec", spec, "--decimal", "--no-color")
    assert decimal.exit_code == 0
    assert "X_10 − X_20 − 2·X_21" in decimal.stdout


# -- every displayed formula step is true ---------------------------------------------------------


def _equations(markdown: str) -> Iterator[list[str]]:
    """Each equation of the Markdown's text blocks as its parts (lhs = p1 = p2 …): a line
    that does not start with a space and holds " = ", with its continuation lines (which
    do), a trailing note "   (…)" dropped."""
    blocks = re.findall(r"```text\n(.*?)```", markdown, re.S)
    for block in blocks:
        current: list[str] = []
        for line in block.splitlines():
            if line[:1] not in (" ", "") and " = " in line:
                if current:
                    yield " ".join(current).split(" = ")
                current = [line.split("   (")[0].strip()]
            elif current and line.strip().startswith(("=", "+", "−")):
                current.append(line.split("   (")[0].strip())
            elif current:
                yield " ".join(current).split(" = ")
                current = []
        if current:
            yield " ".join(current).split(" = ")


def _formula(part: str, symbols: set) -> object | None:
    """A part read as a polynomial of the problem's symbols, or None (words, ∂, Σ, other
    names: not a formula of the values)."""
    text = part.strip().lstrip("=").strip()
    text = text.replace("·", "*").replace("−", "-").replace("^", "**").replace("×", "*")
    if not text or not re.fullmatch(r"[A-Za-z0-9_ +\-*/().]+", text):
        return None
    try:
        value = symbolic.read_entry(text, ())
    except SpecError:
        return None
    names = getattr(value, "free_symbols", set())
    return value if names <= symbols else None


def _assert_formula_steps_true(kind: str, spec: dict, path: Path) -> int:
    """Every equation's formula parts (after its left side) are equal; returns how many
    parts were compared."""
    import sympy

    symbols = set(symbolic.symbols_of(*solve(kind, spec).results.values()))
    path.write_text(json.dumps({"kind": kind, **spec}))
    result = run_cli(kind, "--spec", str(path), "--format", "markdown", "--steps", "all")
    assert result.exit_code == 0, result.stderr
    compared = 0
    for parts in _equations(result.stdout):
        values = [v for v in (_formula(p, symbols) for p in parts[1:]) if v is not None]
        for left, right in itertools.pairwise(values):
            assert sympy.expand(sympy.sympify(left) - sympy.sympify(right)) == 0, parts
            compared += 1
    return compared


@pytest.mark.parametrize("name", SEEDS)
def test_every_formula_step_of_the_seed_problems_is_true(name: str, tmp_path: Path) -> None:
    import yaml

    spec = yaml.safe_load((SYMBOLIC / f"{name}.yaml").read_text())
    kind = spec.pop("kind")
    assert _assert_formula_steps_true(kind, spec, tmp_path / "spec.json") > 0


@pytest.mark.parametrize(
    "kind,make",
    [
        ("conv", _random_conv),
        ("conv_transpose", _random_conv_transpose),
        ("dense", _random_dense),
        ("pool", _random_pool),
        ("dropout", _random_dropout),
        ("embedding", _random_embedding),
    ],
)
@pytest.mark.parametrize("seed", range(4))
def test_every_formula_step_of_a_random_symbolic_problem_is_true(
    kind, make, seed, tmp_path: Path
) -> None:
    rng = random.Random(100 + seed)
    numeric, fields = make(rng)
    spec = dict(numeric)
    for field in fields:  # every field that takes symbols, symbolic
        spec[field] = "symbolic" if field == "upstream" else f"symbolic {_shape(numeric[field])}"
    _assert_formula_steps_true(kind, spec, tmp_path / "spec.json")


@pytest.mark.parametrize("name", SEEDS)
@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_the_equation_audit_passes_the_seed_problems(name: str, options: tuple[str, ...]) -> None:
    """tests/equation_truth.py over the symbolic seed problems, as test_displayed_equations
    audits the bundled ones: every step true, and some left side matched to its result."""
    import yaml
    from equation_truth import check_report

    path = SYMBOLIC / f"{name}.yaml"
    data = yaml.safe_load(path.read_text())
    markdown = run_cli("run", str(path), "--format", "markdown", "--steps", "all", *options)
    answer = json.loads(run_cli("run", str(path), "--format", "json").stdout)
    names = {**registry.kind_constant("conv", "NAME_DEFAULTS"), **data.get("names", {})}
    report = check_report(
        markdown.stdout,
        results=answer["results"],
        names=names,
        index_base=int(data.get("index_base", 0)),
    )
    assert report.compared and report.matched_results
    assert not report.problems, report.problems[:3]
