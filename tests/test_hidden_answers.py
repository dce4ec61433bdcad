"""``gradcalc check --hide-answers``: hidden means hidden (issue 18).

Under --hide-answers every report ``gradcalc check`` writes (each format in
cli/check_render.py's CHECK_RENDERERS, printed or written to a file) may say of each result
and cell only right, wrong or missing, and name only the diagnoses that reveal nothing.  So
two answer keys that the same submission gets right and wrong in the same places must give
byte-identical reports, in every format, field by field.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from pathlib import Path

import numpy as np
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gradcalc.cli.check_outputs import REPORT_FILES
from gradcalc.cli.check_render import CHECK_RENDERERS, PRINTED_FORMATS
from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.core.grading import Problem
from gradcalc.problems import PROBLEMS_DIR

# Every field a --hide-answers JSON report may hold; a new one must be added here once it is
# known to be the same for every key with the same pattern (the property test then checks it).
HIDDEN_FIELDS = {
    ("files",),
    ("files", "file"),
    ("files", "problem"),
    ("files", "student"),
    ("files", "status"),
    ("files", "kind"),
    ("files", "title"),
    ("files", "score"),
    ("files", "points"),
    ("files", "results"),
    ("files", "not_graded"),
    ("files", "unknown"),
    ("files", "error"),
    ("files", "warning"),
    *(
        ("files", "results", key)
        for key in (
            "name",
            "ok",
            "points",
            "score",
            "cells",
            "wrong",
            "missing",
            "wrong_shape",
            "flat_as",
            "reading",
            "accepted",
            "diagnosis",
            "error",
            "tolerance",
        )
    ),
    ("files", "results", "tolerance", "atol"),
    ("files", "results", "tolerance", "rtol"),
    ("files", "results", "wrong", "index"),
    ("files", "results", "wrong", "given"),  # the student's own value
    # A net's score per layer: its results' names and the pattern's points.
    ("files", "layers"),
    *(("files", "layers", key) for key in ("name", "results", "right", "score", "points")),
    ("totals",),
    *(("totals", key) for key in ("files", "passed", "failed", "errors", "skipped")),
    ("totals", "score"),
    ("totals", "points"),
    ("ok",),
}

# The same for the platform reports (--gradescope, --classroom: cli/check_sheets.py); each
# test's output or message is the table's lines for its result.  The grade sheet (--grades)
# holds points only.
HIDDEN_PLATFORM_FIELDS = {
    "gradescope": {
        ("extra_data",),
        ("extra_data", "generator"),
        ("score",),
        ("output",),
        ("output_format",),
        ("test_output_format",),
        ("visibility",),
        ("stdout_visibility",),
        ("tests",),
        *(
            ("tests", key)
            for key in ("name", "score", "max_score", "status", "output", "visibility")
        ),
    },
    "classroom": {
        ("version",),
        ("generator",),
        ("status",),
        ("max_score",),
        ("tests",),
        *(
            ("tests", key)
            for key in (
                "name",
                "status",
                "score",
                "message",
                "test_code",
                "filename",
                "line_no",
                "duration",
            )
        ),
    },
}


def field_paths(value, path=()) -> set[tuple[str, ...]]:
    """Every key path in a JSON document (list positions left out)."""
    if isinstance(value, dict):
        paths = {path} if path else set()
        for key, inner in value.items():
            paths |= field_paths(inner, (*path, key))
        return paths
    if isinstance(value, list):
        return {path}.union(*(field_paths(inner, path) for inner in value))
    return {path}


def reports(folder: Path, *extra: str) -> dict[str, tuple[int, str]]:
    """Every report format of ``gradcalc check s.yaml`` run in ``folder``: (exit code, text).
    Paths are relative, so reports from two folders compare byte for byte."""
    assert set(CHECK_RENDERERS) == set(PRINTED_FORMATS) | {
        report.format for report in REPORT_FILES.values()
    }, "a report format this test cannot reach"
    texts = {}
    with contextlib.chdir(folder):
        for output_format in PRINTED_FORMATS:
            files = {option: f"report.{REPORT_FILES[option].format}" for option in REPORT_FILES}
            args = [arg for option, path in files.items() for arg in (option, path)]
            result = CliRunner().invoke(
                main, ["check", *extra, "--format", output_format, *args, "--force", "s.yaml"]
            )
            assert result.exception is None or isinstance(result.exception, SystemExit)
            texts[output_format] = (result.exit_code, result.output)
            for option, path in files.items():
                texts[REPORT_FILES[option].format] = (
                    result.exit_code,
                    Path(path).read_text(encoding="utf-8"),
                )
    return texts


# -- a dense layer, whose key can be set entry by entry ---------------------------------------


def dense_key(x: list[int], weight: list[list[int]], bias: list[int]) -> dict[str, np.ndarray]:
    """A dense layer's results with the upstream left out (ones): output Wx + b (O),
    ∂L/∂x = the column sums of W (L), ∂L/∂W = x in every row (O×L), ∂L/∂b = ones (O)."""
    w = np.array(weight, dtype=np.int64)
    return {
        "output": w @ np.array(x) + np.array(bias),
        "grad_input": w.sum(axis=0),
        "grad_weight": np.tile(np.array(x), (len(weight), 1)),
        "grad_bias": np.ones(len(weight), dtype=np.int64),
    }


def problem_text(x, weight, bias) -> str:
    """The problem asks for every result (its ``expected``, the key).  No upstream: a dense
    layer's only diagnosis is then a transpose, which reveals and is not shown, so the hidden
    reports may depend on the pattern alone."""
    key = {name: value.tolist() for name, value in dense_key(x, weight, bias).items()}
    return f"kind: dense\ninput: {x}\nweight: {weight}\nbias: {bias}\nexpected: {json.dumps(key)}\n"


small = st.integers(-9, 9)


@st.composite
def two_keys_one_submission(draw):
    """Two dense problems and one submission that each gets right and wrong in the same cells:
    the second problem changes some of the first's numbers; a cell where the keys agree is
    answered right or wrong, one where they differ is answered with neither key's value."""
    inputs, outputs = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(st.lists(small, min_size=inputs, max_size=inputs))
    weight = draw(
        st.lists(
            st.lists(small, min_size=inputs, max_size=inputs), min_size=outputs, max_size=outputs
        )
    )
    bias = draw(st.lists(small, min_size=outputs, max_size=outputs))

    def changed(values):
        return [draw(st.one_of(st.just(v), small)) for v in values]

    second = (changed(x), [changed(row) for row in weight], changed(bias))
    first_key, second_key = dense_key(x, weight, bias), dense_key(*second)
    answers = {}
    for name, key in first_key.items():
        how = draw(st.sampled_from(["cells", "cells", "cells", "missing", "wrong shape"]))
        if how == "missing":
            continue
        if how == "wrong shape":  # one entry too many: no shape reads it
            answers[name] = [0] * (key.size + 1)
            continue
        other = second_key[name]
        answer = key.copy()
        for index in np.ndindex(key.shape):
            if key[index] != other[index] or draw(st.booleans()):  # wrong
                answer[index] = max(key[index], other[index]) + draw(st.integers(1, 5))
        answers[name] = answer.tolist()
    return (x, weight, bias), second, answers


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(two_keys_one_submission())
def test_hidden_reports_are_the_same_for_keys_with_the_same_right_and_wrong_pattern(case):
    first, second, answers = case
    assume(problem_text(*first) != problem_text(*second))
    with tempfile.TemporaryDirectory() as root:
        hidden, shown = [], []
        for name, problem in (("a", first), ("b", second)):
            folder = Path(root) / name
            folder.mkdir()
            (folder / "p.yaml").write_text(problem_text(*problem), encoding="utf-8")
            submission = f"problem: p.yaml\nanswers: {json.dumps(answers)}\n"
            (folder / "s.yaml").write_text(submission, encoding="utf-8")
            hidden.append(reports(folder, "--hide-answers"))
            shown.append(json.loads(reports(folder)["json"][1]))
    assert shown[0]["files"][0]["status"] in ("pass", "fail"), shown[0]["files"][0]["error"]
    # The premise: the same pattern of right, wrong and missing (as the full report says).
    assert [pattern(result) for result in shown[0]["files"][0]["results"]] == [
        pattern(result) for result in shown[1]["files"][0]["results"]
    ]
    for output_format in hidden[0]:
        assert hidden[0][output_format] == hidden[1][output_format], output_format
    document = json.loads(hidden[0]["json"][1])
    assert field_paths(document) <= HIDDEN_FIELDS, field_paths(document) - HIDDEN_FIELDS
    for output_format, fields in HIDDEN_PLATFORM_FIELDS.items():
        document = json.loads(hidden[0][output_format][1])
        assert field_paths(document) <= fields, (output_format, field_paths(document) - fields)


def pattern(result: dict) -> tuple:
    return (
        result["name"],
        result["ok"],
        result["missing"],
        bool(result["wrong_shape"]),
        [cell["index"] for cell in result["wrong"]],
    )


# -- the leaks issue 18 found -------------------------------------------------------------------


def test_a_sign_flipped_submission_shows_neither_the_sign_nor_the_size(tmp_path: Path):
    # "relative error 200%" on every entry said the sign; JSON's rel_error r gave
    # |key| = |given|/(r − 1) exactly.  Against the key times 3 the report is the same.
    x, weight, bias = [3, 7], [[11, 13], [17, 19], [2, -5]], [1, 2, 3]
    key = dense_key(x, weight, bias)
    answers = {name: (-value).tolist() for name, value in key.items()}
    texts = []
    for name, scale in (("a", 1), ("b", 3)):
        folder = tmp_path / name
        folder.mkdir()
        problem = (
            [3 * v for v in x],
            [[3 * v for v in row] for row in weight],
            [3 * v for v in bias],
        )
        (folder / "p.yaml").write_text(
            problem_text(*(problem if scale == 3 else (x, weight, bias)))
        )
        (folder / "s.yaml").write_text(f"problem: p.yaml\nanswers: {json.dumps(answers)}\n")
        texts.append(reports(folder, "--hide-answers"))
    # grad_bias is ones in both; every other entry is wrong in both.
    assert texts[0] == texts[1]
    table = texts[0]["table"][1]
    assert "[0]: given -125, wrong" in table
    assert "%" not in table and "relative" not in table and "likely mistake" not in table
    for output_format, (code, text) in texts[0].items():
        assert code == 1
        assert "200" not in text and "rel_error" not in text and "abs_error" not in text, (
            output_format
        )
    for result in json.loads(texts[0]["json"][1])["files"][0]["results"]:
        assert all(set(cell) == {"index", "given"} for cell in result["wrong"])


def test_a_sign_flipped_cross_entropy_gradient_is_not_named_under_hide_answers(tmp_path: Path):
    # The diagnosis "sign flipped" would hand over the key: it is named only when shown.
    scores = np.array([2.0, 0.0, -1.0])
    gradient = np.exp(scores) / np.exp(scores).sum() - np.array([1.0, 0.0, 0.0])  # p − y
    problem = "kind: loss\nloss: cross_entropy\ninput: [[2, 0, -1]]\ntarget: [0]\n"
    problem += f"expected: {{grad_input: {json.dumps([gradient.tolist()])}}}\n"
    (tmp_path / "p.yaml").write_text(problem)
    flipped = [[float(-value) for value in gradient]]
    answers = json.dumps({"grad_input": flipped})
    (tmp_path / "s.yaml").write_text(f"problem: p.yaml\nanswers: {answers}\n")
    shown = reports(tmp_path)
    assert "sign flipped" in shown["table"][1]
    for output_format, (code, text) in reports(tmp_path, "--hide-answers").items():
        assert code == 1
        assert "sign" not in text and "%" not in text and "rel_error" not in text, output_format


def test_an_answer_passing_by_an_accepted_convention_is_not_named_under_hide_answers(
    tmp_path: Path,
):
    # "matches the accepted convention ties: all" would say the key's own rule gives
    # something else: hidden, the two right answers give the same reports.
    source = PROBLEMS_DIR / "seed000_ex2_pool_ties_first.yaml"
    spec = dict(load_file(str(source)).data)
    under_all = Problem({**spec, "ties": "all"}).solution.results["grad_input"]
    (tmp_path / "p.yaml").write_text(source.read_text() + "accept: {ties: [all]}\n")
    texts = []
    for grad_input in (spec["expected"]["grad_input"], under_all):
        answers = json.dumps({"grad_input": [[str(v) for v in row] for row in grad_input]})
        (tmp_path / "s.yaml").write_text(f"problem: p.yaml\nanswers: {answers}\n")
        texts.append(reports(tmp_path, "--hide-answers"))
    assert "accepted convention ties: all" in reports(tmp_path)["table"][1]
    assert texts[0] == texts[1]
    assert all("accepted convention" not in text for _, text in texts[1].values())


def test_a_size_slip_on_output_shape_is_not_named_under_hide_answers(tmp_path: Path):
    # Without the "+1" (or the padding) a 6×6 input, 3×3 kernel, stride 2, padding 1 gives
    # 2×2 for 3×3: naming the slip gives output_shape away (the answer through the formula).
    problem = {
        "kind": "conv",
        "input": [[(3 * i + j) % 5 for j in range(6)] for i in range(6)],
        "kernel": [[1, 0, -1], [2, 1, 0], [0, 1, 1]],
        "stride": 2,
        "padding": 1,
    }
    key = Problem({**problem, "expected": {"output_shape": [3, 3]}}).solution.results
    shape = [int(v) for v in key["output_shape"]]
    slipped = shape[:-2] + [v - 1 for v in shape[-2:]]
    problem["expected"] = {"output_shape": shape}
    (tmp_path / "p.yaml").write_text(json.dumps(problem))
    (tmp_path / "s.yaml").write_text(
        json.dumps({"problem": "p.yaml", "answers": {"output_shape": slipped}})
    )
    assert "likely mistake" in reports(tmp_path)["table"][1]
    for output_format, (code, text) in reports(tmp_path, "--hide-answers").items():
        assert code == 1
        assert "likely mistake" not in text and "+1" not in text and "padding" not in text, (
            output_format
        )
        assert '"diagnosis": null' in text if output_format == "json" else True


def test_a_max_pools_tie_rule_is_not_named_under_hide_answers(tmp_path: Path):
    # "matches the result under ties: all" hands over the key: each tied window's share moved.
    source = PROBLEMS_DIR / "seed000_ex2_pool_ties_first.yaml"
    spec = dict(load_file(str(source)).data)
    under_all = Problem({**spec, "ties": "all"}).solution.results["grad_input"]
    (tmp_path / "p.yaml").write_text(source.read_text())
    answers = json.dumps({"grad_input": [[str(v) for v in row] for row in under_all]})
    (tmp_path / "s.yaml").write_text(f"problem: p.yaml\nanswers: {answers}\n")
    assert (
        "likely mistake: grad_input matches the result under ties: all"
        in (reports(tmp_path)["table"][1])
    )
    for output_format, (code, text) in reports(tmp_path, "--hide-answers").items():
        assert code == 1
        assert "likely mistake" not in text and "ties" not in text, output_format


def test_a_row_reading_an_unreadable_entry_and_an_unknown_key_hide_nothing(tmp_path: Path):
    # The new fields (reading, error, unknown, warning) say how the student's own answer was
    # read or why it was not: the same for two keys with the same right-and-wrong pattern.
    # The second key moves W[0][0] and b[0] so that the output stays: ∂L/∂x differs.
    x = [3, 7]
    first = (x, [[11, 13], [17, 19], [2, -5]], [1, 2, 3])
    second = (x, [[12, 13], [17, 19], [2, -5]], [1 - x[0], 2, 3])
    key = dense_key(*first)
    answers = {
        "output": [key["output"].tolist()],  # right in both, as a 1×3 row
        "grad_input": ["one", 1],  # unreadable
        "grad_weight": (key["grad_weight"] + 1).reshape(-1, 1).tolist(),  # wrong, a column
        "grad_bais": [1, 1, 1],  # no such result
    }
    texts = []
    for name, problem in (("a", first), ("b", second)):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "p.yaml").write_text(problem_text(*problem))
        (folder / "s.yaml").write_text(f"problem: p.yaml\nanswers: {json.dumps(answers)}\n")
        texts.append(reports(folder, "--hide-answers"))
    assert texts[0] == texts[1]
    document = json.loads(texts[0]["json"][1])
    assert field_paths(document) <= HIDDEN_FIELDS
    results = {result["name"]: result for result in document["files"][0]["results"]}
    assert results["output"]["ok"] and "1×3 row" in results["output"]["reading"]
    assert "'one'" in results["grad_input"]["error"] and results["grad_input"]["score"] == 0
    assert "column" in results["grad_weight"]["reading"] and not results["grad_weight"]["ok"]
    assert "did you mean 'grad_bias'" in document["files"][0]["unknown"][0]
