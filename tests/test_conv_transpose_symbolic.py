"""Symbolic entries in conv_transpose (issue 20, docs/symbolic.md): input, kernel, bias and
upstream may hold symbols as conv's do; the bundled problem's answers agree with plain loops,
every displayed step is true, LaTeX/Markdown/JSON write the formulas, `expected` and
`gradcalc check` compare them.  The random-rational property test is tests/test_symbolic.py
(kind conv_transpose there)."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import sympy
import yaml
from equation_truth import check_report
from nn_cli import run as run_cli
from test_symbolic import _random_conv_transpose, _shape
from tex import assert_compiles

from gradcalc.core import registry, symbolic
from gradcalc.core.errors import SpecError
from gradcalc.core.spec import Limits, SolveOptions

PROBLEM = (
    Path(__file__).resolve().parent.parent / "problems/symbolic/conv_transpose_symbolic_kernel.yaml"
)


def solve(spec: dict):
    return registry.solve({"kind": "conv_transpose", **spec}, SolveOptions(limits=Limits()))


def _by_loops(x, w, up, stride: int):
    """A 2-D single-channel transposed convolution by its definition (no gradcalc):
    y[a·s + m, b·s + q] += x[a, b]·w[m, q], and the two gradients of Σ up ⊙ y."""
    (h, wd), (kh, kw) = np.shape(x), np.shape(w)
    out = [[0] * ((wd - 1) * stride + kw) for _ in range((h - 1) * stride + kh)]
    grad_x = [[0] * wd for _ in range(h)]
    grad_w = [[0] * kw for _ in range(kh)]
    for a in range(h):
        for b in range(wd):
            for m in range(kh):
                for q in range(kw):
                    i, j = a * stride + m, b * stride + q
                    out[i][j] += x[a][b] * w[m][q]
                    grad_x[a][b] += up[i][j] * w[m][q]
                    grad_w[m][q] += up[i][j] * x[a][b]
    return out, grad_x, grad_w


def _agree(computed, written) -> bool:
    pairs = zip(np.ravel(np.asarray(computed, dtype=object)), np.ravel(written), strict=True)
    return all(sympy.expand(sympy.sympify(a) - sympy.sympify(b)) == 0 for a, b in pairs)


def test_the_bundled_problem_passes_answers_that_plain_loops_give() -> None:
    spec = yaml.safe_load(PROBLEM.read_text())
    w = [[sympy.Symbol(f"w_{m}{q}") for q in range(3)] for m in range(3)]
    out, grad_x, grad_w = _by_loops(spec["input"], w, spec["upstream"], spec["stride"])
    expected = spec["expected"]
    for name, value in (("output", out), ("grad_input", grad_x), ("grad_kernel", grad_w)):
        assert _agree(value, [[sympy.sympify(str(v)) for v in row] for row in expected[name]])
    result = run_cli("run", str(PROBLEM), "--no-color")
    assert result.exit_code == 0, result.output
    assert "every check passed" in result.output


def test_the_command_line_takes_a_symbolic_kernel_and_declared_names() -> None:
    shown = run_cli(
        "conv-transpose", "--input", "1 2; 3 4", "--kernel", "symbolic 2x2", "--no-color"
    )
    assert shown.exit_code == 0, shown.stderr
    assert "symbolic entries (w_00, w_01, w_10, w_11)" in shown.stdout
    mixed = run_cli(
        "conv-transpose",
        *("--input", "1 2; 3 4", "--kernel", "a 0; 0 a*2", "--symbols", "a"),
        *("--stride", "2", "--format", "json"),
    )
    assert mixed.exit_code == 0, mixed.stderr
    assert json.loads(mixed.stdout)["results"]["output"][3][3] == "8*a"
    flat = run_cli(
        "conv-transpose",
        *("--input", "symbolic 2x2", "--kernel", "1 0; 0 0", "--flat-index", "true"),
        *("--index-base", "1", "--format", "json"),
    )
    assert flat.exit_code == 0, flat.stderr
    output = json.loads(flat.stdout)["results"]["output"]
    assert output == [["x1", "x2", 0], ["x3", "x4", 0], [0, 0, 0]]


def test_names_in_a_matrix_need_symbols_and_a_symbolic_field_its_shape() -> None:
    with pytest.raises(SpecError, match="expected a number, got the text 'w'"):
        solve({"input": [[1, 2], [3, 4]], "kernel": [["w"]]})
    with pytest.raises(SpecError, match="needs its shape"):
        solve({"input": [[1, 2], [3, 4]], "kernel": "symbolic"})
    with pytest.raises(SpecError, match="unknown name 'b12'; did you mean 'b11'"):
        solve({"input": [[1]], "kernel": [[1]], "bias": "2*b12", "symbols": ["b11"]})


def test_bias_and_upstream_carry_symbols_into_every_result() -> None:
    spec = {
        "input": [[1, -1], [2, 0]],
        "kernel": [[1, 2]],
        "bias": "c",
        "symbols": ["c"],
        "upstream": "symbolic",
    }
    results = solve(spec).results
    assert str(results["output"][0, 0]) == "c + 1"
    assert str(results["grad_bias"]) == "g_00 + g_01 + g_02 + g_10 + g_11 + g_12"
    assert str(results["grad_input"][0, 1]) == "g_01 + 2*g_02"
    assert str(results["grad_kernel"][0, 1]) == "g_01 - g_02 + 2*g_11"


def test_expected_formulas_and_mistakes_are_graded(tmp_path: Path) -> None:
    spec = yaml.safe_load(PROBLEM.read_text())
    wrong = dict(spec["expected"])
    wrong["grad_input"] = [["w_00 + w_02", "w_00"], ["w_11", "w_22"]]
    checks = {c.name: c for c in solve({**spec, "expected": wrong}).checks}
    assert not checks["grad_input"].ok and checks["grad_input"].symbolic
    assert checks["output"].ok
    shutil.copy(PROBLEM, tmp_path / "task.yaml")
    (tmp_path / "sub.yaml").write_text(
        "problem: task.yaml\nanswers:\n"
        "  grad_input: [[w_00 + w_02 + w_11 + w_20 + 2*w_22, w_00 + w_02 + w_11 + 2*w_20 + w_22],"
        " [w_00 + 2*w_02 + w_11 + w_20 + w_22, 2*w_00 + w_02 + w_11 + w_20 + w_22]]\n"
        "  grad_kernel: [[4, 0, 8], [0, 5, 0], [7, 0, 7]]\n"
    )
    report = json.loads(run_cli("check", str(tmp_path / "sub.yaml"), "--format", "json").stdout)
    grades = {g["name"]: g for g in report["files"][0]["results"]}
    assert grades["grad_input"]["ok"] and not grades["grad_kernel"]["ok"]


def test_json_gives_formulas_that_expected_reads_back(tmp_path: Path) -> None:
    spec = {
        "input": "symbolic 2x2",
        "kernel": [["k1", 0], [1, "2*k1"]],
        "symbols": "k1",
        "bias": [1],
        "stride": 2,
        "padding": 1,
        "upstream": "symbolic",
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"kind": "conv_transpose", **spec}))
    first = run_cli("conv-transpose", "--spec", str(path), "--format", "json")
    assert first.exit_code == 0, first.stderr
    results = json.loads(first.stdout)["results"]
    path.write_text(json.dumps({"kind": "conv_transpose", **spec, "expected": results}))
    checks = json.loads(run_cli("conv-transpose", "--spec", str(path), "--format", "json").stdout)
    assert checks["checks"] and all(check["ok"] for check in checks["checks"])


def test_latex_and_markdown_typeset_the_formulas(tmp_path: Path) -> None:
    markdown = run_cli("run", str(PROBLEM), "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    assert "−w_00 + 3·w_02 + 2·w_20 + w_22" in markdown.stdout
    latex = run_cli("run", str(PROBLEM), "--format", "latex")
    assert latex.exit_code == 0, latex.stderr
    assert "- w_{00} + 3 w_{02} + 2 w_{20} + w_{22}" in latex.stdout
    assert_compiles(tmp_path, latex.stdout)  # skips without pdflatex


@pytest.mark.parametrize("width", [60, 80])
def test_terminal_output_with_formulas_fits_the_width(width: int) -> None:
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    result = CliRunner().invoke(
        main,
        ["run", str(PROBLEM), "--no-color", "--steps", "all"],
        env={"COLUMNS": str(width), "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None},
    )
    assert result.exit_code == 0, result.output
    wide = [line for line in result.output.splitlines() if len(line) > width]
    assert not wide, wide[:3]


def _audit(spec: dict, tmp_path: Path, *options: str) -> None:
    """tests/equation_truth.py over a run's Markdown: every step true, some left side
    matched to its result."""
    path = tmp_path / "spec.json"
    path.write_text(json.dumps({"kind": "conv_transpose", **spec}))
    markdown = run_cli("run", str(path), "--format", "markdown", "--steps", "all", *options)
    assert markdown.exit_code == 0, markdown.stderr
    answer = json.loads(run_cli("run", str(path), "--format", "json").stdout)
    names = {**registry.kind_constant("conv_transpose", "NAME_DEFAULTS"), **spec.get("names", {})}
    report = check_report(
        markdown.stdout,
        results=answer["results"],
        names=names,
        index_base=int(spec.get("index_base", 0)),
    )
    assert report.compared and report.matched_results
    assert not report.problems, report.problems[:3]


@pytest.mark.parametrize("options", [(), ("--decimal",)], ids=["exact", "decimal"])
def test_the_equation_audit_passes_the_bundled_problem(options, tmp_path: Path) -> None:
    spec = yaml.safe_load(PROBLEM.read_text())
    spec.pop("kind")
    _audit(spec, tmp_path, *options)


@pytest.mark.parametrize("seed", range(6))
def test_the_equation_audit_passes_a_random_problem_with_every_field_symbolic(
    seed: int, tmp_path: Path
) -> None:
    numeric, fields = _random_conv_transpose(random.Random(300 + seed))
    spec = dict(numeric)
    for field in fields:
        spec[field] = "symbolic" if field == "upstream" else f"symbolic {_shape(numeric[field])}"
    _audit(spec, tmp_path)


def test_above_the_cap_the_symbols_get_random_values_and_the_run_says_so() -> None:
    spec = {"input": "symbolic 12x12", "kernel": "symbolic 6x6", "stride": 2}
    solution = solve(spec)
    assert not symbolic.any_symbolic(*solution.results.values())
    note = next(c for c in solution.conventions if "random values" in c)
    assert f"{symbolic.MAX_SYMBOLIC_WORK:,}" in note and "w_00 = " in note
    x = symbolic.symbol_array("x", (12, 12), index_base=0, flat_index=False)
    w = symbolic.symbol_array("w", (6, 6), index_base=0, flat_index=False)
    values = symbolic.random_values(symbolic.symbols_of(w, x))
    numbers = {
        "input": [[values[s] for s in row] for row in x],
        "kernel": [[values[s] for s in row] for row in w],
        "stride": 2,
    }
    assert (solve(numbers).results["output"] == solution.results["output"]).all()


def test_a_numeric_problem_never_imports_sympy() -> None:
    import subprocess
    import sys

    problem = PROBLEM.parents[1] / "conv_transpose_doubling.yaml"
    code = (
        "import sys\n"
        "from gradcalc.cli.main import main\n"
        f"sys.argv = ['gradcalc', 'conv-transpose', '--spec', {str(problem)!r}, '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'sympy' not in sys.modules, 'sympy imported'\n"
        "assert 'gradcalc.core.symbolic' not in sys.modules, 'core/symbolic.py imported'\n"
        "print('no sympy')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("no sympy")


def test_one_name_in_two_roles_is_refused() -> None:
    """A declared name that a symbolic field also generates, or a kernel written g beside a
    symbolic upstream g_…: every derivative shown would be false."""
    with pytest.raises(SpecError, match="w_00 is also declared under symbols"):
        solve({"input": [["w_00", 1]], "symbols": ["w_00"], "kernel": "symbolic 2x2"})
    with pytest.raises(SpecError, match="kernel is also written 'g'"):
        solve(
            {
                "input": [[1, 2]],
                "kernel": "symbolic 2x2",
                "names": {"kernel": "g"},
                "upstream": "symbolic",
            }
        )


def test_a_3d_problem_with_symbols_in_input_kernel_and_bias_passes_its_own_checks(
    tmp_path: Path,
) -> None:
    """3-D identities compare formulas by expanding their difference, as 2-D's do: compared
    as unexpanded trees, the adjoint sums of this problem read "NOT equal ✗"."""
    spec = {
        "dims": 3,
        "input": "symbolic 1x1x2x1x2",
        "kernel": "symbolic 1x2x2x1x2",
        "bias": ["b0", 2],
        "symbols": ["b0"],
        "stride": [1, 1, 2],
    }
    _audit(spec, tmp_path)  # equation_truth fails a "(please report)" self-check


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_every_dimension_names_its_symbols_on_the_conventions_line(dims: int) -> None:
    # 3-D's conventions once ended at "exact rational arithmetic", without the line saying
    # the entries are symbols and every result a polynomial in them (1-D and 2-D had it).
    shape = (1,) + (2,) * dims  # C×(spatial axes)
    spec = {"dims": dims, "input": f"symbolic {'x'.join(map(str, shape))}"}
    spec["kernel"] = np.ones((1, 1) + (2,) * dims, dtype=int).tolist()
    solution = solve(spec)
    line = next(c for c in solution.conventions if c.startswith("symbolic entries ("))
    assert "x_" in line and "every result is a polynomial in them" in line
    assert solution.conventions.index(line) > next(
        i for i, c in enumerate(solution.conventions) if c.startswith("exact rational")
    )
