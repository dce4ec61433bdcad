"""What a submission is graded on, and grading's corner cases: asked results only, nothing
answered, a problem that asks for nothing, identities, tied argmax, accept mistakes found
up front, diagnoses that would give the key away, the "+1" slip with padding, zero and sign."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.core.errors import SpecError
from gradcalc.core.grading import Problem, compare_cells
from gradcalc.core.spec import Tolerance
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}


def check(*args: str) -> Result:
    return CliRunner().invoke(main, ["check", *args], env=ENV, catch_exceptions=False)


def bundled(name: str) -> dict:
    return dict(load_file(str(PROBLEMS_DIR / name)).data)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def graded(spec: dict, answers: dict) -> dict:
    """Result name -> ResultGrade of ``answers`` as a submission against ``spec``."""
    grade = Problem(spec).grade(answers, "answers")
    return {result.name: result for result in grade.results}


# -- what is graded ---------------------------------------------------------------------------


def test_an_empty_submission_fails_with_every_asked_result_missing():
    spec = bundled("task3.yaml")
    grade = Problem(spec).grade({}, "answers")
    assert not grade.ok and grade.score == 0
    assert {r.name for r in grade.results} == set(spec["expected"])
    assert all(r.missing for r in grade.results)


def test_a_problem_that_asks_for_nothing_cannot_grade_submissions(tmp_path: Path):
    spec = {k: v for k, v in bundled("task3.yaml").items() if k != "expected"}
    with pytest.raises(SpecError, match="asks for no results"):
        Problem(spec).grade({"output_shape": [3, 1]}, "answers")
    # points alone say what is asked, without the values.
    spec["points"] = {"output": 1, "grad_kernel": 2}
    results = graded(spec, {"output_shape": [3, 1], "output": [[4], [-3], [-2]]})
    assert set(results) == {"output", "grad_kernel"}
    assert results["grad_kernel"].missing


def test_the_random_answer_key_workflow_grades_partial_submissions(tmp_path: Path):
    made = CliRunner().invoke(
        main,
        ["random", "conv", "--seed", "7", "-o", str(tmp_path / "prob.yaml")]
        + ["--answers", str(tmp_path / "key.yaml")],
    )
    assert made.exit_code == 0, made.output
    write(tmp_path / "empty.yaml", "problem: prob.yaml\nanswers: {}\n")
    write(tmp_path / "lazy.yaml", "problem: prob.yaml\nanswers:\n  output_shape: [3, 3]\n")
    result = check(
        str(tmp_path / "key.yaml"), str(tmp_path / "empty.yaml"), str(tmp_path / "lazy.yaml")
    )
    assert result.exit_code == 1, result.output
    found = check(
        *(str(tmp_path / n) for n in ("key.yaml", "empty.yaml", "lazy.yaml")), "--format", "json"
    )
    files = {Path(f["file"]).name: f for f in json.loads(found.output)["files"]}
    assert files["key.yaml"]["status"] == "pass"
    assert (files["empty.yaml"]["status"], files["empty.yaml"]["score"]) == ("fail", 0)
    assert (files["lazy.yaml"]["status"], files["lazy.yaml"]["score"]) == ("fail", 1)
    assert files["lazy.yaml"]["points"] == 4


def test_answers_to_results_not_asked_are_not_graded():
    spec = bundled("task3.yaml")
    answers = {**spec["expected"], "grad_input": [[0, 0], [0, 0], [0, 0], [0, 0]]}
    grade = Problem(spec).grade(answers, "answers")
    assert grade.ok
    assert "grad_input" not in {r.name for r in grade.results}
    assert grade.ignored == ("grad_input",)


def test_an_unknown_result_in_a_submission_is_still_an_error():
    with pytest.raises(SpecError) as caught:
        Problem(bundled("task3.yaml")).grade({"outptu": [[4], [-3], [-2]]}, "answers")
    assert caught.value.path == ("answers", "outptu")
    assert "did you mean 'output'" in caught.value.message


def test_a_numeric_answer_key_is_located_in_the_submission():
    with pytest.raises(SpecError) as caught:
        Problem(bundled("task3.yaml")).grade({1: 5}, "answers")
    assert caught.value.path == ("answers", "1")


def test_an_expr_identity_is_not_a_free_point_for_a_submission():
    spec = bundled("expr_sigmoid_derivative.yaml")
    grade = Problem(spec).grade({}, "answers")
    assert {r.name for r in grade.results} == set(spec["expected"])
    assert not grade.ok and grade.score == 0
    # Checking the problem itself still proves its identity.
    own = Problem(spec).grade(spec["expected"])
    assert own.ok and "identity" in {r.name for r in own.results}


def test_an_expr_answer_of_the_wrong_shape_scores_zero_not_an_error(tmp_path: Path):
    spec = bundled("expr_sigmoid_derivative.yaml")
    answers = {"gradient": ["x", "y"], "gradient_at": [0.2350037]}
    results = graded(spec, answers)
    assert results["gradient"].wrong_shape == "a list of 2" and results["gradient"].score == 0
    assert results["gradient_at"].ok
    write(tmp_path / "p.yaml", (PROBLEMS_DIR / "expr_sigmoid_derivative.yaml").read_text())
    write(tmp_path / "s.yaml", 'problem: p.yaml\nanswers:\n  gradient: ["x", "y"]\n')
    result = check(str(tmp_path / "s.yaml"))
    assert result.exit_code == 1, result.output
    assert "gradient: the answer is a list of 2" in result.output


# -- argmax under ties, accept ----------------------------------------------------------------


def test_a_wrong_argmax_is_a_wrong_answer_not_a_crash(tmp_path: Path):
    write(tmp_path / "m.yaml", (PROBLEMS_DIR / "seed002_max_pool.yaml").read_text())
    write(tmp_path / "s.yaml", "problem: m.yaml\nanswers:\n  argmax: [[3, 1], [3, 7]]\n")
    result = check(str(tmp_path / "s.yaml"))
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert "argmax: 1 of 4 values wrong" in result.output


@pytest.mark.parametrize(
    ("accept", "needle"),
    [
        ({"ties": ["bogus"]}, "accept.ties: with ties: bogus the problem is invalid"),
        ({"tie": ["all"]}, "accept.tie: with tie: all the problem is invalid"),
        ({"tolerance": {"nosuch": 1e-3}}, "accept.tolerance.nosuch: unknown result 'nosuch'"),
    ],
)
def test_a_mistake_in_accept_is_found_when_the_problem_loads(accept, needle, tmp_path: Path):
    spec = bundled("seed000_ex2_pool_ties_first.yaml")
    with pytest.raises(SpecError) as caught:
        Problem({**spec, "accept": accept})
    assert needle in str(caught.value)
    assert str(caught.value).count("accept.") == needle.count("accept.")  # said once
    # Through check: a correct submission does not hide the problem's mistake.
    text = (PROBLEMS_DIR / "seed000_ex2_pool_ties_first.yaml").read_text()
    write(tmp_path / "p.yaml", text + "accept: " + json.dumps(accept) + "\n")
    answers = json.dumps(spec["expected"])
    write(tmp_path / "s.yaml", f"problem: p.yaml\nanswers: {answers}\n")
    result = check(str(tmp_path / "s.yaml"), str(tmp_path / "p.yaml"))
    assert result.exit_code == 2, result.output
    assert "s.yaml: problem " in result.output and "is not a valid problem spec" in result.output
    assert needle in result.output  # in the problem's own error line


# -- diagnoses ---------------------------------------------------------------------------------


def test_the_plus_one_slip_with_padding_is_the_first_rows_and_columns():
    spec = {
        "kind": "conv",
        "input": [[1, 2, 0, -1], [3, -2, 1, 0], [0, 1, 2, 2], [-1, 0, 1, 3]],
        "kernel": [[1, -1], [2, 1]],
        "stride": 2,
        "padding": 1,
    }
    output = Problem(spec).solution.results["output"]  # 3×3
    slipped = [[output[i][j] for j in range(2)] for i in range(2)]
    result = graded({**spec, "expected": {"output": output}}, {"output": slipped})["output"]
    assert not result.ok
    assert "without the “+1”" in result.diagnosis
    assert not result.diagnosis_reveals  # the cells kept are the student's own


def hidden_report(tmp_path: Path, problem: str, answers: dict) -> str:
    """The --hide-answers report of a submission against ``problem`` (YAML text); the same
    report without hiding names a likely mistake."""
    write(tmp_path / "p.yaml", problem)
    write(tmp_path / "s.yaml", f"problem: p.yaml\nanswers: {json.dumps(answers)}\n")
    shown = check(str(tmp_path / "s.yaml"))
    hidden = check(str(tmp_path / "s.yaml"), "--hide-answers")
    assert shown.exit_code == hidden.exit_code == 1, shown.output
    assert "likely mistake" in shown.output
    return hidden.output


TASK3 = (PROBLEMS_DIR / "task3.yaml").read_text(encoding="utf-8")
MSE_MEAN = """kind: loss
loss: mse
input: [1, 2, 4]
target: [0, 0, 0]
expected:
  loss: 7
  grad_input: ["2/3", "4/3", "8/3"]
"""


def test_hidden_answers_leave_out_a_flipped_kernels_grad_kernel(tmp_path: Path):
    # Under the other convention ∂L/∂K is the key rotated by 180°: naming it gives it away.
    spec = bundled("task3.yaml")
    rotated = [row[::-1] for row in spec["expected"]["grad_kernel"][::-1]]
    output = hidden_report(tmp_path, TASK3, {"grad_kernel": rotated})
    assert "likely mistake" not in output


def test_hidden_answers_keep_a_flipped_kernels_output(tmp_path: Path):
    spec = bundled("task3.yaml")
    flipped = {**{k: v for k, v in spec.items() if k != "expected"}, "flip_kernel": True}
    output = Problem(flipped).solution.results["output"]
    answer = [[str(v) for v in row] for row in output]
    report = hidden_report(tmp_path, TASK3, {"output": answer})
    assert "likely mistake: output matches the result for true convolution" in report


def test_hidden_answers_leave_out_a_reduction_diagnosis(tmp_path: Path):
    # The sum is the key times the batch size: naming the slip gives the key away.
    output = hidden_report(tmp_path, MSE_MEAN, {"grad_input": [2, 4, 8]})
    assert "likely mistake" not in output
    assert "grad_input: 3 of 3 values wrong" in output


# -- tolerance ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "correct"), [(0, -3), (0, 7), (-3, 0), (7, 0)])
def test_zero_and_a_nonzero_value_differ_in_sign_in_both_paths(given, correct):
    tolerance = Tolerance(atol=Fraction(0), rtol=Fraction(2))
    exact = compare_cells(_objects([given]), _objects([Fraction(correct)]), tolerance)
    floats = compare_cells(_objects([given]), _floats([correct]), tolerance)
    assert len(exact) == len(floats) == 1


def _objects(values):
    import numpy as np

    array = np.empty(len(values), dtype=object)
    array[:] = values
    return array


def _floats(values):
    import numpy as np

    return np.array(values, dtype=float)


def test_answers_not_graded_are_named_in_the_report(tmp_path: Path):
    write(tmp_path / "task3.yaml", TASK3)
    extra = "output: [[4], [-3], [-2]]\n  grad_input: [[0, 0], [0, 0], [0, 0], [0, 0]]"
    write(tmp_path / "s.yaml", f"problem: task3.yaml\nanswers:\n  {extra}\n")
    table = check(str(tmp_path / "s.yaml"))
    assert table.exit_code == 1
    assert "· not graded (the problem does not ask for it): grad_input" in table.output
    document = json.loads(check(str(tmp_path / "s.yaml"), "--format", "json").output)
    assert document["files"][0]["not_graded"] == ["grad_input"]
    assert "grad_input" not in {r["name"] for r in document["files"][0]["results"]}


@pytest.mark.parametrize(
    ("grading", "needle"),
    [
        ({"points": {"bogus": 1}}, "points.bogus: unknown result 'bogus'"),
        ({"accept": {"tolerance": {"gradiant": 1e-3}}}, "did you mean 'gradient'"),
    ],
)
def test_an_expr_problem_names_only_its_own_results(grading, needle):
    spec = {**bundled("expr_sigmoid_derivative.yaml"), **grading}
    with pytest.raises(SpecError) as caught:
        Problem(spec)
    assert needle in str(caught.value)


def test_a_spec_with_an_empty_expected_is_skipped(tmp_path: Path):
    write(tmp_path / "p.yaml", TASK3.split("expected:")[0] + "expected: {}\n")
    result = check(str(tmp_path / "p.yaml"))
    assert result.exit_code == 0, result.output
    assert "1 skipped" in result.output


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs (POSIX)")
def test_a_report_to_a_pipe_or_device_is_written_into_it_not_replaced(tmp_path: Path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text(encoding="utf-8")))
    reader.start()
    result = check(str(PROBLEMS_DIR / "task3.yaml"), "--junit", str(fifo))
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert received and received[0].startswith("<?xml")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert check(str(PROBLEMS_DIR / "task3.yaml"), "--csv", os.devnull).exit_code == 0
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_reports_are_written_before_the_summary_so_a_closed_pipe_loses_nothing(tmp_path: Path):
    report = tmp_path / "r.xml"
    command = [sys.executable, "-m", "gradcalc.cli", "check", str(PROBLEMS_DIR), "--junit"]
    with subprocess.Popen([*command, str(report)], stdout=subprocess.PIPE) as process:
        assert process.stdout is not None
        process.stdout.close()  # `| head -0`: the first line printed meets a closed pipe
        process.wait(timeout=60)
    assert report.read_text(encoding="utf-8").startswith("<?xml")


def test_an_unknown_result_in_an_expr_submission_is_an_error_not_ignored():
    spec = bundled("expr_sigmoid_derivative.yaml")
    with pytest.raises(SpecError) as caught:
        Problem(spec).grade({**spec["expected"], "gradiant": [1]}, "answers")
    assert caught.value.path == ("answers", "gradiant")
    assert "did you mean 'gradient'" in caught.value.message


def test_an_unasked_jacobian_is_neither_built_nor_an_error():
    spec = {
        "kind": "conv",
        "input": [[(i * 7 + j) % 5 - 2 for j in range(40)] for i in range(40)],
        "kernel": [[1, 0], [0, -1]],
        "points": {"output": 1},
    }
    problem = Problem(spec)
    output = problem.solution.results["output"]
    grade = problem.grade({"output": output.tolist(), "jacobian_input": [[0]]}, "answers")
    assert grade.ok and grade.ignored == ("jacobian_input",)


def test_expr_results_keep_the_problems_order_when_one_has_the_wrong_shape():
    spec = bundled("expr_sigmoid_derivative.yaml")
    answers = {**spec["expected"], "gradient": ["x", "y"]}
    names = [r.name for r in Problem(spec).grade(answers, "answers").results]
    assert names == list(spec["expected"])


def test_hidden_answers_leave_out_the_stride_and_an_activations_upstream():
    strided = Problem(bundled("seed003_multichannel_strided.yaml")).mistakes()
    stride = next(v for v in strided if v.label == "stride ignored")
    assert stride.gives_away("output")
    relu = Problem(bundled("activation_relu_kink.yaml"))
    forgotten = [v for v in relu.mistakes() if v.label == "upstream forgotten"]
    assert all(v.gives_away("grad_input") for v in forgotten)
    kernel = next(v for v in Problem(bundled("task3.yaml")).mistakes() if v.label == "kernel flip")
    assert kernel.gives_away("grad_kernel") and not kernel.gives_away("output")


def test_an_expr_problem_asking_for_a_value_at_no_point_is_the_problems_error():
    spec = {k: v for k, v in bundled("expr_sigmoid_derivative.yaml").items() if k != "at"}
    spec = {**spec, "expected": {"gradient": spec["expected"]["gradient"]}}
    with pytest.raises(SpecError) as caught:
        Problem({**spec, "points": {"gradient": 1, "gradient_at": 1}})
    assert caught.value.path == ("points", "gradient_at")
    assert "add at:" in caught.value.message
