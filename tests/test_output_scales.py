"""Output that scales with the problem (issue 19, item 2): a Jacobian above JACOBIAN_CELLS
entries is one line in the table report, naming what was left out and the options that
show it; --show jacobian and --steps all show it in full; Markdown, LaTeX and JSON keep it;
--brief prints the heading, the results and the checks only."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

import gradcalc
from gradcalc.cli.main import main
from gradcalc.cli.summary import FULL_OPTIONS, JACOBIAN_CELLS
from gradcalc.problems import PROBLEMS_DIR

ENV = {"COLUMNS": "100", "NO_COLOR": "1", "FORCE_COLOR": None}
BIG = str(PROBLEMS_DIR / "padding_same_dilated.yaml")  # ∂y/∂x is 20×20 = 400 entries
SMALL = str(PROBLEMS_DIR / "task3.yaml")  # ∂H/∂X is 3×8
NET = str(PROBLEMS_DIR / "net_conv_relu_maxpool_dense.yaml")  # conv1's ∂/∂x is 18×16
ALL_SECTIONS = "problem,size,forward,jacobian,backward,identities,loss,results,checks"


def gradcalc_output(*args: str, status: int = 0) -> str:
    result = CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)
    assert result.exit_code == status, result.output
    return result.output


def after(report: str, title: str) -> str:
    return report[report.index(f"── {title}") :]


def test_the_size_is_documented() -> None:
    assert JACOBIAN_CELLS == 256 and FULL_OPTIONS == "--show jacobian --steps all"


def test_a_big_jacobian_is_one_line_naming_what_is_left_out_and_how_to_see_it() -> None:
    report = gradcalc_output("conv", "--spec", BIG)
    section = report[report.index("── Jacobians") : report.index("── Backward")]
    assert "(symbols)" not in section and "chain rule as a product" in section
    one_line = " ".join(section.split())
    assert "∂y/∂w (20×4) and ∂y/∂x (20×20)" in one_line
    assert f"more than {JACOBIAN_CELLS} entries" in one_line
    assert f"add {FULL_OPTIONS} to show them in full" in one_line


def test_the_rest_of_the_report_is_unchanged() -> None:
    summarised = gradcalc_output("conv", "--spec", BIG)
    shown = gradcalc_output("conv", "--spec", BIG, "--show", ALL_SECTIONS)
    assert "∂y/∂x (symbols)" in shown and "summarised" not in shown
    assert after(summarised, "Backward") == after(shown, "Backward")
    head = summarised[: summarised.index("── Jacobians")]
    assert head == shown[: shown.index("── Jacobians")]


def test_the_command_it_names_shows_the_jacobians_in_full() -> None:
    report = gradcalc_output("conv", "--spec", BIG, *FULL_OPTIONS.split())
    assert "summarised" not in report and "more row" not in report
    assert report.count("∂y/∂x (symbols)") == 1 and "\ny_34 " in report  # the last of 20 rows


def test_show_jacobian_shows_it_and_steps_still_caps_its_rows() -> None:
    report = gradcalc_output("conv", "--spec", BIG, "--show", "jacobian", "--steps", "3")
    assert "∂y/∂x (values)" in report and "summarised" not in report
    assert "17 more rows of this table not shown" in report


def test_steps_all_shows_it_and_steps_n_does_not() -> None:
    assert "summarised" not in gradcalc_output("conv", "--spec", BIG, "--steps", "all")
    assert "summarised" in gradcalc_output("conv", "--spec", BIG, "--steps", "4")


def test_small_jacobians_are_shown_as_before() -> None:
    report = gradcalc_output("conv", "--spec", SMALL)
    assert "∂H/∂X (symbols)" in report and "summarised" not in report


def test_a_net_layer_is_summarised_alone() -> None:
    report = gradcalc_output("net", "--spec", NET)
    conv = report[report.index("── conv1 · Jacobians") :]
    conv = conv[: conv.index("\n──", 1)]
    assert "∂conv1/∂x (18×16)" in " ".join(conv.split()) and "(symbols)" not in conv
    assert "∂fc/∂W2 (symbols)" in report  # fc's 3×6 stays


def test_run_and_examples_summarise_as_the_command_does() -> None:
    direct = gradcalc_output("conv", "--spec", BIG)
    assert gradcalc_output("run", BIG) == direct
    assert gradcalc_output("examples", "padding_same_dilated") == direct


@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_documents_keep_every_jacobian(output_format: str) -> None:
    report = gradcalc_output("conv", "--spec", BIG, "--format", output_format)
    assert "summarised" not in report and "(symbols)" in report


def test_json_keeps_every_jacobian_and_ignores_brief() -> None:
    document = gradcalc_output("conv", "--spec", BIG, "--format", "json")
    assert gradcalc_output("conv", "--spec", BIG, "--format", "json", "--brief") == document
    assert len(json.loads(document)["results"]["jacobian_input"]) == 20


def test_brief_is_the_heading_results_and_checks() -> None:
    report = gradcalc_output("conv", "--spec", SMALL, "--brief")
    titles = [line for line in report.splitlines() if line.startswith("── ")]
    assert [title.split()[1] for title in titles] == ["Results", "Checks"]
    assert report.startswith("gradcalc conv — Task 3 (a)")
    assert report == gradcalc_output("conv", "--spec", SMALL, "--show", "results,checks")
    assert "✓ grad_kernel: 4 values match" in report


@pytest.mark.parametrize("output_format", ["markdown", "latex"])
def test_brief_write_ups(output_format: str) -> None:
    brief = gradcalc_output("conv", "--spec", SMALL, "--brief", "--format", output_format)
    shown = gradcalc_output(
        "conv", "--spec", SMALL, "--show", "results,checks", "--format", output_format
    )
    assert brief == shown and "Forward" not in brief


def test_brief_with_run_keeps_the_exit_status(tmp_path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(
        open(SMALL, encoding="utf-8").read().replace("[[4], [-3], [-2]]", "[[5], [-3], [-2]]"),
        encoding="utf-8",
    )
    report = gradcalc_output("run", SMALL, str(wrong), "--brief", status=1)
    assert report.count("── Results") == 2 and "Forward" not in report


@pytest.mark.parametrize("other", [["--show", "forward"], ["--focus", "output[0,0]"]])
def test_brief_with_show_or_focus_is_a_usage_error(other: list[str]) -> None:
    result = CliRunner().invoke(main, ["conv", "--spec", SMALL, "--brief", *other], env=ENV)
    assert result.exit_code == 2
    assert f"--brief and {other[0]} each choose what is shown" in result.output


def test_the_python_api_takes_brief() -> None:
    worked = gradcalc.solve(SMALL, brief=True)
    assert "── Results" in str(worked) and "Forward" not in str(worked)
    assert worked.ok
    with pytest.raises(gradcalc.ProblemError):
        gradcalc.solve(SMALL, brief=True, show="forward")


def test_help_explains_brief_with_an_example() -> None:
    text = " ".join(gradcalc_output("conv", "--help").split())
    assert "--brief" in text and "gradcalc conv --spec problems/task3.yaml --brief" in text
    assert f"A Jacobian above {JACOBIAN_CELLS} entries" in text
