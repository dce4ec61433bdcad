"""`gradcalc pool` end to end with CliRunner: the tables, the JSON contract, exit codes,
and every class of bad pool spec as one `FILE:LINE:COL: message` line with exit 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main
from gradcalc.problems import PROBLEMS_DIR

# Wide enough that no line is wrapped to fit (these tests read whole sentences and steps).
ENV = {"COLUMNS": "1000", "NO_COLOR": "1", "FORCE_COLOR": None}
POOL_PROBLEMS = (
    "seed000_ex2_pool_ties_all.yaml",
    "seed000_ex2_pool_ties_first.yaml",
    "seed002_max_pool.yaml",
    "seed002_lp_pool_relations.yaml",
    "seed003_p5_max_pool_indicator.yaml",
    "pool_overlapping_stride1.yaml",
    "pool_avg_ceil_padding.yaml",
)


def run(*args: str) -> Result:
    return CliRunner().invoke(main, ["pool", *args], env=ENV, catch_exceptions=False)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ---------------------------------------------------------------------------
# The bundled problems and what the tables say


@pytest.mark.parametrize("name", POOL_PROBLEMS)
def test_bundled_pool_problem_passes(name: str) -> None:
    result = run("--spec", str(PROBLEMS_DIR / name), "--steps", "all")
    assert result.exit_code == 0, result.output
    assert "OK — every check passed" in result.stdout


def test_ties_all_table() -> None:
    result = run("--spec", str(PROBLEMS_DIR / "seed000_ex2_pool_ties_all.yaml"), "--steps", "all")
    out = result.stdout
    assert "ties: all — every tied maximum gets the full upstream value" in out
    assert "y_11 = max(x_22, x_23, x_32, x_33)" in out
    assert "= max(5, 5, 5, 1) = 5" in out
    assert "y_11: x_22 = x_23 = x_32 = 5 (3-way tie; upstream 4)" in out
    assert re.search(r"x_23\s+5\s+tied max \(3\), all: full value\s+1\s+4", out)
    assert "∂L/∂x under ties: split" in out and "4/3" in out
    assert "∂L/∂x_23 = Σ over windows reading x_23: ∂L/∂y·1[x_23 = y]" in out
    assert "tied maxima skipped" in out


def test_overlapping_windows_are_called_out() -> None:
    result = run(
        "--spec",
        str(PROBLEMS_DIR / "pool_overlapping_stride1.yaml"),
        "--show",
        "backward",
        "--steps",
        "all",
    )
    out = result.stdout
    assert "∂L/∂x_22 = Σ over windows reading x_22" in out
    assert "= ∂L/∂y_11·∂y_11/∂x_22 + ∂L/∂y_12·∂y_12/∂x_22" in out
    assert (
        "= 5·1 + 6·1 = 11   (in 2 overlapping windows (y_11, y_12): their contributions add)" in out
    )
    # x_11 sits in all four windows of rows 0-1 and cols 0-1, and is the max of y_10 only
    assert "= 1·0 + 2·0 + 4·1 + 5·0 = 4   (in 4 overlapping windows" in out


def test_size_section_shows_the_ceil_mode_rule() -> None:
    result = run(
        "--spec",
        str(PROBLEMS_DIR / "pool_avg_ceil_padding.yaml"),
        "--show",
        "size,forward",
        "--steps",
        "all",
    )
    out = result.stdout
    assert "H_out = ⌈(H + 2p − d·(kh − 1) − 1)/s⌉ + 1" in out
    assert "= ⌈(4 + 2·1 − 1·(3 − 1) − 1)/2⌉ + 1 = ⌈3/2⌉ + 1 = 2 + 1 = 3" in out
    assert "(out − 1)·s = 4 < H + p = 5" in out
    assert "clipped at the padded edge" in out
    assert "y_22 = (x_33)/1" in out
    assert "divisor 2: only the input cells count (count_include_pad: false)" in out


def test_lp_relations_table() -> None:
    result = run(
        "--spec",
        str(PROBLEMS_DIR / "seed002_lp_pool_relations.yaml"),
        "--show",
        "forward,relations",
    )
    out = result.stdout
    assert "Y_00 = (C_00^2 + C_01^2 + C_10^2 + C_11^2)^(1/2)" in out
    assert "= (113^2 + 87^2 + 114^2 + 80^2)^(1/2) = (39734)^(1/2) = 199.334" in out
    assert "113 + 87 + 114 + 80 = 197/2·4 = 394" in out
    assert "growing p approaches the max 114" in out


def test_show_limits_the_sections() -> None:
    result = run("--spec", str(PROBLEMS_DIR / "seed002_max_pool.yaml"), "--show", "routing")
    assert "Backward routing" in result.stdout
    assert "Forward" not in result.stdout and "Checks" not in result.stdout


# ---------------------------------------------------------------------------
# JSON


def test_json_contract_ties_first() -> None:
    result = run(
        "--spec", str(PROBLEMS_DIR / "seed000_ex2_pool_ties_first.yaml"), "--format", "json"
    )
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert document["kind"] == "pool" and document["exact"] is True and document["ok"] is True
    results = document["results"]
    assert results["output"] == [[4, 2], [2, 5]]
    assert results["output_shape"] == [2, 2]
    assert results["argmax"] == [[4, 2], [13, 10]]
    assert results["grad_input"][2] == [0, 0, 4, 0]
    assert len(results["jacobian_input"]) == 4 and len(results["jacobian_input"][0]) == 16
    assert {c["name"] for c in document["checks"]} == {"output", "argmax", "grad_input"}
    assert document["gradient_check"]["entries_checked"] == 13
    assert "tied maxima" in document["gradient_check"]["note"]


def test_json_argmax_lists_under_ties_all_and_exact_fractions() -> None:
    result = run(
        "--spec", str(PROBLEMS_DIR / "seed003_p5_max_pool_indicator.yaml"), "--format", "json"
    )
    document = json.loads(result.stdout)
    argmax = document["results"]["argmax"]
    # channel 0, window (0, 0): the two 5s at x_01 (flat 1) and x_10 (flat 4)
    assert argmax[0][0][0] == [1, 4]
    assert argmax[1][1][1] == [11]  # channel 1, window (1, 1): the 9 at x_23 = 2·4 + 3
    assert document["exact_results"]["grad_input"][0][2][3] == "1/2"


def test_json_lp_is_float() -> None:
    result = run("--spec", str(PROBLEMS_DIR / "seed002_lp_pool_relations.yaml"), "--format", "json")
    document = json.loads(result.stdout)
    assert document["exact"] is False
    assert document["results"]["output"][0][0] == pytest.approx(199.33389074615485)
    assert "argmax" not in document["results"]


# ---------------------------------------------------------------------------
# Exit codes


def test_wrong_answer_exits_1(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "kind: pool\nmode: max\ninput: [[1, 3], [3, 2]]\nsize: 2\nties: all\n"
        "expected:\n  grad_input: [[0, 1], [0, 0]]\n",
    )
    result = run("--spec", str(spec))
    assert result.exit_code == 1
    assert "✗ grad_input: 1 of 4 values wrong" in result.stdout
    assert "MISMATCH" in result.stdout


def test_kind_pool_under_another_command(tmp_path: Path) -> None:
    spec = write(tmp_path, "kind: pool\nmode: max\ninput: [[1]]\nsize: 1\n")
    result = CliRunner().invoke(main, ["conv", "--spec", str(spec)], env=ENV)
    assert result.exit_code == 2
    assert "gradcalc pool --spec FILE" in result.stderr


# ---------------------------------------------------------------------------
# Bad specs: exit 2, one line FILE:LINE:COL: message


@pytest.mark.parametrize(
    ("body", "line", "column", "words"),
    [
        # window larger than the padded input
        ("mode: max\ninput: [[1, 2], [3, 4]]\nsize: 3\n", 3, 7, "must fit inside the padded input"),
        # stride below 1
        ("mode: max\ninput: [[1, 2], [3, 4]]\nsize: 2\nstride: 0\n", 4, 9, "at least 1"),
        # p below 1
        ("mode: lp\ninput: [[1, 2], [3, 4]]\nsize: 2\np: 0.5\n", 4, 4, "at least 1"),
        # p = inf points to mode: max
        ("mode: lp\ninput: [[1, 2], [3, 4]]\nsize: 2\np: .inf\n", 4, 4, "use mode: max"),
        ("mode: lp\ninput: [[1, 2], [3, 4]]\nsize: 2\np: inf\n", 4, 4, "use mode: max"),
        # a negative input with a non-integer p: at the entry
        ("mode: lp\np: 1.5\ninput:\n  - [1, 2]\n  - [3, -4]\nsize: 2\n", 5, 9, "not a real number"),
        # padding over half the window
        (
            "mode: avg\ninput: [[1, 2, 3], [4, 5, 6]]\nsize: 2\npadding: 2\n",
            4,
            10,
            "half the window",
        ),
        # ties given for avg: at the key
        ("mode: avg\ninput: [[1, 2], [3, 4]]\nsize: 2\nties: split\n", 4, 1, "mode max only"),
        ("mode: avg\ninput: [[1, 2], [3, 4]]\nsize: 2\ndilation: 2\n", 4, 1, "mode max only"),
        (
            "mode: lp\np: 2\ninput: [[1, 2], [3, 4]]\nsize: 2\npadding: 1\n",
            5,
            1,
            "LPPool2d has no padding",
        ),
        ("mode: maximum\ninput: [[1, 2], [3, 4]]\nsize: 2\n", 1, 7, "allowed: max, avg, lp"),
        (
            "mode: max\ninput: [[1, 2], [3, 4]]\nsize: 2\nties: random\n",
            4,
            7,
            "allowed: first, all, split",
        ),
        (
            "mode: max\ninput: [[1, 2], [3, 4]]\nsize: 2\nupstream: [[1, 2]]\n",
            4,
            11,
            "upstream is 1×2",
        ),
        ("mode: max\ninput: [[1, 2], [3, 4]]\nsize: 2\nsrtide: 1\n", 4, 1, "did you mean 'stride'"),
    ],
)
def test_bad_spec_is_one_line_with_position(
    tmp_path: Path, body: str, line: int, column: int, words: str
) -> None:
    spec = write(tmp_path, "kind: pool\n" + body)
    result = run("--spec", str(spec))
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    match = re.fullmatch(re.escape(str(spec)) + r":(\d+):(\d+): (.+)\n", result.stderr)
    assert match, result.stderr
    assert (int(match.group(1)), int(match.group(2))) == (line + 1, column), result.stderr
    assert words.lower() in match.group(3).lower(), result.stderr


def test_missing_mode_has_no_position(tmp_path: Path) -> None:
    spec = write(tmp_path, "kind: pool\ninput: [[1, 2], [3, 4]]\nsize: 2\n")
    result = run("--spec", str(spec))
    assert result.exit_code == 2
    assert re.fullmatch(
        re.escape(str(spec)) + r"(:\d+:\d+)?: missing required key 'mode'.*\n", result.stderr
    )
