"""gradcalc from Python: gradcalc.solve, gradcalc.check, ProblemError, the notebook reprs and
`python -m gradcalc`, each checked against what the command prints."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import gradcalc
from gradcalc.cli.main import main

ROOT = Path(__file__).resolve().parent.parent
TASK3 = ROOT / "problems" / "task3.yaml"


def command_output(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), env={"COLUMNS": "100", "NO_COLOR": "1"})
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def test_results_are_arrays_of_fractions_as_the_command_computes_them() -> None:
    worked = gradcalc.solve(TASK3)
    assert worked.ok and worked.exit_status == 0 and worked.exact and worked.kind == "conv"
    grad = worked.results["grad_kernel"]
    assert isinstance(grad, np.ndarray) and grad.dtype == object
    assert grad.tolist() == [[Fraction(2), Fraction(1)], [Fraction(-1), Fraction(5)]]
    assert all(isinstance(x, Fraction) for x in worked.results["output"].ravel())
    document = json.loads(command_output("conv", "--spec", str(TASK3), "--format", "json"))
    assert json.loads(worked.to_json()) == document


def test_the_formats_are_the_commands() -> None:
    worked = gradcalc.solve(str(TASK3))
    assert worked.to_markdown() == command_output(
        "conv", "--spec", str(TASK3), "--format", "markdown"
    )
    assert worked.to_latex() == command_output("conv", "--spec", str(TASK3), "--format", "latex")
    assert worked._repr_markdown_() == worked.to_markdown()
    html = worked._repr_html_()
    assert html.startswith("<pre") and "Task 3 (a)" in html and "<body>" not in html
    text = str(worked)
    assert text.startswith("gradcalc conv — Task 3 (a)") and "OK — every check passed" in text


def test_a_spec_as_text_or_a_dict_with_fields_and_options() -> None:
    text = "kind: dense\ninput: [1, 2]\nweight: [[1, 0], [0, 1]]\nexpected:\n  output: [1, 3]\n"
    worked = gradcalc.solve(text)
    assert not worked.ok and worked.exit_status == 1
    assert [check.name for check in worked.checks if not check.ok] == ["output"]
    as_dict = gradcalc.solve(
        {"kind": "dense", "input": np.array([1, 2]), "weight": [[1, 0], [0, 1]]},
        bias=[Fraction(1, 2), "1/3"],
        force_float=True,
        show=["forward", "results"],
    )
    assert not as_dict.exact
    assert as_dict.results["output"].tolist() == pytest.approx([1.5, 2 + 1 / 3])
    assert "Backward" not in as_dict.to_text() and "Forward" in as_dict.to_text()
    assert gradcalc.solve(TASK3, kind="conv", steps=1).to_text().count("more row") >= 1


@pytest.mark.parametrize(
    "spec, options, line, path",
    [
        (
            "kind: conv\ninput: [[1, 2], [3, 4]]\nkernel: [[1]]\npadding: -1\n",
            {},
            "<spec>:4:10: padding: padding must be at least 0, got -1",
            ("padding",),
        ),
        (
            {"kind": "conv", "input": [[1, 2], [3, 4]], "kernel": [[1]], "padding": -1},
            {},
            "padding: padding must be at least 0, got -1",
            ("padding",),
        ),
        (
            {"kind": "convolution"},
            {},
            "<dict>: kind: unknown kind 'convolution'; did you mean 'conv'?",
            ("kind",),
        ),
        (str(TASK3), {"show": "backwards"}, "gradcalc conv: unknown section 'backwards'", ()),
        (str(TASK3), {"steps": 0}, "steps: expected a positive number of rows", ()),
        ("/no/such/spec.yaml", {}, "/no/such/spec.yaml: no such file", ()),
    ],
)
def test_errors_raise_one_exception_with_the_commands_line(spec, options, line, path) -> None:
    with pytest.raises(gradcalc.ProblemError) as raised:
        gradcalc.solve(spec, **options)
    assert str(raised.value).startswith(line)
    assert raised.value.path == path
    assert isinstance(raised.value, ValueError)


def test_check_returns_the_report_gradcalc_check_prints(tmp_path: Path) -> None:
    report = gradcalc.check(TASK3, format="json")
    assert report.ok and report.exit_status == 0
    assert report.document["totals"]["score"] == report.document["totals"]["points"] == 3
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        TASK3.read_text().replace(
            "grad_kernel: [[2, 1], [-1, 5]]", "grad_kernel: [[2, 1], [-1, 6]]"
        )
    )
    failed = gradcalc.check(wrong, hide_answers=True)
    assert failed.exit_status == 1 and not failed.ok and "grad_kernel" in failed.text
    with pytest.raises(gradcalc.ProblemError, match="no such option '--bogus'"):
        gradcalc.check(TASK3, bogus=True)


def test_python_dash_m_gradcalc_is_the_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gradcalc", "conv", "--spec", str(TASK3), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["results"]["grad_kernel"] == [[2, 1], [-1, 5]]


def test_a_course_test_suite_can_use_it(tmp_path: Path) -> None:
    """The docs' pytest example, run as a course repository would run it."""
    (tmp_path / "test_homework.py").write_text(
        textwrap.dedent(
            f"""
            import gradcalc
            from fractions import Fraction

            def test_task3_kernel_gradient():
                worked = gradcalc.solve({str(TASK3)!r})
                assert worked.ok, worked.to_text()
                assert worked.results["grad_kernel"][1, 1] == Fraction(5)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_importing_gradcalc_imports_nothing_else() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import gradcalc, sys; print(sorted(m for m in sys.modules if m.startswith('gradcalc')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "['gradcalc']"


def test_every_python_example_in_the_docs_runs() -> None:
    """docs/python.md's ```python blocks, each run from the project's top folder."""
    import os
    import re

    page = (ROOT / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", page, flags=re.S)
    assert len(blocks) >= 4
    here = os.getcwd()
    os.chdir(ROOT)
    try:
        for block in blocks:
            namespace: dict[str, object] = {}
            exec(compile(block, "docs/python.md", "exec"), namespace)
            if "def test_task3_kernel_gradient" in block:
                namespace["test_task3_kernel_gradient"]()  # type: ignore[operator]
    finally:
        os.chdir(here)


@pytest.mark.parametrize("where", ["title: a\ud800", "title: 'a\udfff'", "input: [[1, \ud800]]"])
def test_a_spec_text_holding_a_lone_surrogate_is_a_problem_error(where: str) -> None:
    """Only text from Python can hold one (a file's bytes are decoded as UTF-8): neither YAML
    reader takes it, and it is refused at its line and column, not with a UnicodeEncodeError."""
    text = f"kind: conv\n{where}\nkernel: [[1]]\n"
    with pytest.raises(gradcalc.ProblemError) as caught:
        gradcalc.solve(text)
    column = where.index(next(c for c in where if "\ud800" <= c <= "\udfff")) + 1
    assert str(caught.value).startswith(f"<spec>:2:{column}: U+D")
    assert "lone surrogate" in str(caught.value)
