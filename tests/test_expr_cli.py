"""`gradcalc expr`: identities proved and refuted, answers checked, values at points against
finite differences, hostile expressions refused, the time limit, JSON, and start-up."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.kinds import expr as expr_module
from gradcalc.core.spec import SolveOptions

pytest.importorskip("sympy")

REPO = Path(__file__).resolve().parents[1]
POLAR = REPO / "problems" / "seed000_ex1_polar_identity.yaml"

FALSE_POLAR = """\
kind: expr
function: f(x, y)
variables: [x, y]
substitute: {x: r*cos(theta), y: r*sin(theta)}
identity: "f_x**2 + f_y**2 = f_r**2 + f_theta**2"
"""


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def solve(spec: dict, **options) -> object:
    return registry.solve(spec, SolveOptions(**options), command_kind="expr")


# ---------------------------------------------------------------------------
# Identities


def test_polar_identity_is_proved() -> None:
    result = run("expr", "--spec", str(POLAR), "--no-color")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    # The chain-rule table with every factor, then the identity proved.
    assert "∂f/∂r = ∂f/∂x·∂x/∂r + ∂f/∂y·∂y/∂r" in out
    assert "= f_x·cos(theta) + f_y·sin(theta) = f_x*cos(theta) + f_y*sin(theta)" in out
    assert "∂f/∂theta = ∂f/∂x·∂x/∂theta + ∂f/∂y·∂y/∂theta" in out
    assert "f_x·(-r*sin(theta)) + f_y·(r*cos(theta))" in out
    assert "✓ proved: the difference simplifies to 0" in out
    assert "✓ identity: 1 value match" in out
    assert "OK — every check passed" in out
    assert result.stderr == ""


def test_false_identity_is_refuted_with_a_counterexample(tmp_path: Path) -> None:
    result = run("expr", "--spec", str(write(tmp_path, FALSE_POLAR)), "--no-color")
    assert result.exit_code == 1
    out = result.stdout
    assert "✗ refuted at r = " in out
    line = next(line for line in out.splitlines() if "✗ refuted at" in line)
    # The counterexample names every value it used, and the two sides differ there.
    for name in ("r = ", "theta = ", "f_x = ", "f_y = "):
        assert name in line
    assert "MISMATCH — identity" in out


def test_counterexample_really_is_one(tmp_path: Path) -> None:
    """Put the reported values back into the claim by hand: the two sides differ."""
    solution = solve(json_spec(FALSE_POLAR))
    claim = solution.results["identity"]
    assert claim["status"] == "refuted"
    point = {k: float(v) for k, v in claim["counterexample"].items()}
    r, theta, fx, fy = point["r"], point["theta"], point["f_x"], point["f_y"]
    f_r = fx * math.cos(theta) + fy * math.sin(theta)
    f_theta = -fx * r * math.sin(theta) + fy * r * math.cos(theta)
    left, right = fx**2 + fy**2, f_r**2 + f_theta**2
    assert abs(left - right) > 1e-3
    assert claim["difference"] == pytest.approx(left - right, rel=1e-9)


def json_spec(text: str) -> dict:
    import yaml

    return yaml.safe_load(text)


def test_identity_holds_at_the_point_but_not_everywhere_is_refuted() -> None:
    spec = {
        "function": "x**3",
        "variables": ["x"],
        "at": {"x": 0},
        "identity": "f_x = 3*x",  # true at x = 0 only
    }
    solution = solve(spec)
    assert solution.exit_status == 1
    assert solution.results["identity"]["status"] == "refuted"


def test_identity_refuted_at_the_spec_point_first() -> None:
    spec = {"function": "x**2", "variables": ["x"], "at": {"x": 3}, "identity": "f_x = 5"}
    claim = solve(spec).results["identity"]
    assert claim["counterexample"] == {"x": 3}
    assert claim["difference"] == 1


def test_sigmoid_identity_and_named_second_derivative() -> None:
    spec = {
        "function": "sigmoid(x)",
        "variables": ["x"],
        "identity": ["f_x = f*(1 - f)", "f_x_x = f_x*(1 - 2*f)"],
    }
    solution = solve(spec)
    assert [c.ok for c in solution.checks] == [True, True]
    assert [c["status"] for c in solution.results["identity"]] == ["proved", "proved"]


def test_vector_function_components_and_jacobian() -> None:
    spec = {
        "function": ["r*cos(theta)", "r*sin(theta)"],
        "variables": ["r", "theta"],
        "index_base": 1,
        "identity": "f_1_r*f_2_theta - f_1_theta*f_2_r = r",  # the Jacobian determinant
        "expected": {"jacobian": [["cos(theta)", "-r*sin(theta)"], ["sin(theta)", "r*cos(theta)"]]},
    }
    solution = solve(spec)
    assert solution.exit_status == 0
    assert solution.results["jacobian"][1] == ["sin(theta)", "r*cos(theta)"]


def test_generic_functions_inside_the_function() -> None:
    """g_x names ∂g/∂x for g applied to the variables; g′(x*y) is written for a composition."""
    solution = solve(
        {"function": "g(x, y)**2", "variables": ["x", "y"], "identity": "f_x = 2*g(x, y)*g_x"}
    )
    assert solution.exit_status == 0
    assert solution.results["gradient"] == ["2*g_x*g(x, y)", "2*g_y*g(x, y)"]
    composed = solve({"function": "h(x*y)", "variables": ["x", "y"], "identity": "x*f_x = y*f_y"})
    assert composed.exit_status == 0
    assert composed.results["gradient"] == ["y*h′(x*y)", "x*h′(x*y)"]


def test_undecided_identity_exits_1() -> None:
    """No test point gives a real value (log of a negative number): not proved, not refuted."""
    solution = solve({"function": "x", "variables": ["x"], "identity": "log(-x**2 - 1) = 0"})
    assert solution.results["identity"]["status"] == "undecided"
    assert solution.exit_status == 1


def test_ambiguous_partial_name_is_a_spec_error() -> None:
    spec = {"function": "a*b*a_b", "variables": ["a", "b", "a_b"], "identity": "f_a_b"}
    with pytest.raises(Exception, match="ambiguous"):
        solve(spec)


# ---------------------------------------------------------------------------
# Expected answers


def test_expected_symbolic_and_numeric(tmp_path: Path) -> None:
    spec = """\
kind: expr
function: "x**2*y + sin(x)"
variables: [x, y]
at: {x: 1, y: 2}
expected:
  gradient: ["cos(x) + 2*x*y", "x^2"]
  hessian: [["2*y - sin(x)", "2*x"], ["2*x", 0]]
  gradient_at: ["4 + cos(1)", 1]
  function_at: 2.8414710
"""
    result = run("expr", "--spec", str(write(tmp_path, spec)), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    for name in ("gradient", "hessian", "gradient_at", "function_at"):
        assert f"✓ {name}:" in result.stdout


def test_wrong_expected_answer_exits_1_and_shows_the_right_one(tmp_path: Path) -> None:
    spec = 'kind: expr\nfunction: "x**2*y"\nvariables: [x, y]\nexpected:\n  gradient: ["2*x*y", "x**3"]\n'
    result = run("expr", "--spec", str(write(tmp_path, spec)), "--no-color")
    assert result.exit_code == 1
    assert "✗ x**3 → x**2" in result.stdout
    document = json.loads(
        run("expr", "--spec", str(tmp_path / "spec.yaml"), "--format", "json").stdout
    )
    check = document["checks"][0]
    assert check["ok"] is False
    assert check["wrong"] == [{"index": [1], "given": "x**3", "correct": "x**2"}]


def test_a_number_for_a_symbolic_result_compares_at_the_point() -> None:
    base = {"function": "x**2", "variables": ["x"], "expected": {"gradient": [6]}}
    assert solve({**base, "at": {"x": 3}}).exit_status == 0
    assert solve({**base, "at": {"x": 2}}).exit_status == 1


# ---------------------------------------------------------------------------
# Values at points against finite differences

FUNCTIONS = [
    ("x**2*y + sin(x)", lambda x, y: x**2 * y + math.sin(x)),
    ("exp(x*y)/(1 + x**2)", lambda x, y: math.exp(x * y) / (1 + x**2)),
    ("log(1 + x**2 + y**2)", lambda x, y: math.log(1 + x**2 + y**2)),
    ("atan2(y, x)", lambda x, y: math.atan2(y, x)),
    ("sigmoid(x*y - 1)", lambda x, y: 1 / (1 + math.exp(-(x * y - 1)))),
    ("sqrt(x**2 + y**2)", lambda x, y: math.hypot(x, y)),
    ("tanh(x - y)**2 + x^3/y", lambda x, y: math.tanh(x - y) ** 2 + x**3 / y),
]
COORDINATE = st.integers(5, 40).map(lambda n: n / 20)  # 0.25 … 2, exact in decimal


@settings(
    max_examples=20,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.sampled_from(range(len(FUNCTIONS))), COORDINATE, COORDINATE)
def test_values_at_points_match_finite_differences(which: int, x: float, y: float) -> None:
    text, f = FUNCTIONS[which]
    spec = {"function": text, "variables": ["x", "y"], "at": {"x": x, "y": y}}
    with pytest.MonkeyPatch.context() as patch:  # values come from the raw derivatives
        patch.setattr(
            expr_module.Engine, "tidy", lambda self, entry: setattr(entry, "shown", entry.raw)
        )
        results = solve(spec, gradient_check=False).results
    h = 1e-6
    gradient = [(f(x + h, y) - f(x - h, y)) / (2 * h), (f(x, y + h) - f(x, y - h)) / (2 * h)]
    assert float(results["function_at"]) == pytest.approx(f(x, y), rel=1e-12, abs=1e-12)
    assert [float(v) for v in results["gradient_at"]] == pytest.approx(gradient, rel=1e-6, abs=1e-6)
    k = 1e-4
    second = [
        (f(x + k, y) - 2 * f(x, y) + f(x - k, y)) / k**2,
        (f(x + k, y + k) - f(x + k, y - k) - f(x - k, y + k) + f(x - k, y - k)) / (4 * k**2),
        (f(x, y + k) - 2 * f(x, y) + f(x, y - k)) / k**2,
    ]
    hessian = [[float(v) for v in row] for row in results["hessian_at"]]
    assert [hessian[0][0], hessian[0][1], hessian[1][1]] == pytest.approx(
        second, rel=1e-4, abs=1e-4
    )
    assert hessian[0][1] == hessian[1][0]


def test_chain_rule_values_at_a_point_in_the_new_variables() -> None:
    spec = {
        "function": "x**2*y",
        "variables": ["x", "y"],
        "substitute": {"x": "r*cos(theta)", "y": "r*sin(theta)"},
        "at": {"r": 2, "theta": "pi/6"},
    }
    results = solve(spec).results
    r, t = 2, math.pi / 6

    def g(r: float, t: float) -> float:
        return (r * math.cos(t)) ** 2 * (r * math.sin(t))

    h = 1e-6
    numeric = [(g(r + h, t) - g(r - h, t)) / (2 * h), (g(r, t + h) - g(r, t - h)) / (2 * h)]
    assert [float(v) for v in results["gradient_new_at"]] == pytest.approx(numeric, rel=1e-7)
    assert results["point"] == {"r": 2, "theta": pytest.approx(t)}


def test_runtime_finite_difference_check_is_reported() -> None:
    spec = {"function": "exp(x)*cos(y)", "variables": ["x", "y"], "at": {"x": 0.5, "y": 1}}
    check = solve(spec).gradient_check
    assert check is not None and check.ok and check.entries_checked == 2


# ---------------------------------------------------------------------------
# Hostile and broken expressions


HOSTILE = [
    "__import__('os').system('touch MARKER')",
    '__import__("os").system("touch MARKER")',
    "x.__class__.__base__.__subclasses__()",
    "(lambda: __import__('os').system('touch MARKER'))()",
    'exec(\'open("MARKER", "w")\')',
    "eval(x)",
    "open(x)",
    "[x for x in ().__class__.__base__.__subclasses__()]",
    "x; import os",
    "{'a': 1}",
    "x if x else y",
    "f'{x}'",
    "x @ y",
    "sin.__globals__",
    "__builtins__",
    "10**10**10",
]


@pytest.mark.parametrize(
    "field", ["function", "identity", "define", "substitute", "expected", "at"]
)
@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_expression_is_refused_in_one_line(tmp_path: Path, field: str, text: str) -> None:
    marker = tmp_path / "pwned"
    text = text.replace("MARKER", str(marker))
    quoted = json.dumps(text)  # a YAML double-quoted scalar
    fields = {
        "function": f"function: {quoted}\nvariables: [x, y]\n",
        "identity": f'function: "x*y"\nvariables: [x, y]\nidentity: {quoted}\n',
        "define": f'function: "x*y"\nvariables: [x, y]\ndefine: {{Z: {quoted}}}\n',
        "substitute": f'function: "x*y"\nvariables: [x, y]\nsubstitute: {{x: {quoted}, y: "r"}}\n',
        "expected": f'function: "x*y"\nvariables: [x, y]\nexpected: {{gradient: [{quoted}, "x"]}}\n',
        "at": f'function: "x*y"\nvariables: [x, y]\nat: {{x: {quoted}, y: 1}}\n',
    }
    spec = write(tmp_path, "kind: expr\n" + fields[field])
    result = run("expr", "--spec", str(spec))
    assert result.exit_code == 2, result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{spec}:"), lines[0]
    assert "Traceback" not in result.stderr
    assert not marker.exists()


def test_refusal_points_at_the_expression(tmp_path: Path) -> None:
    spec = write(tmp_path, 'kind: expr\nvariables: [x]\nfunction: "x + x.real"\n')
    result = run("expr", "--spec", str(spec))
    assert result.exit_code == 2
    assert result.stderr.startswith(f"{spec}:3:11: function: attribute access ('.') is not allowed")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('function: "x**2"\n', "missing required key 'variables'"),
        ("variables: [x]\n", "missing required key 'function'"),
        ('function: "x**2"\nvariables: [x]\nupstream: [1]\n', "upstream does not apply"),
        ('function: "x**2"\nvariables: [x]\nat: {y: 1}\n', "'y' is not a variable"),
        ('function: "x**2"\nvariables: [x, x]\n', "listed twice"),
        ('function: "x**2"\nvariables: [sin]\n', "built-in function or constant"),
        ('function: "x**2"\nvariables: [x]\nidentity: "f_y"\n', "'y' is not a variable"),
        (
            'function: "x**2"\nvariables: [x]\nexpected: {gradient: [4]}\n',
            "give the point with at:",
        ),
        ('function: "x**2"\nvariables: [x]\nexpected: {gradient_at: [4]}\n', "no point is given"),
        (
            'function: "x**2"\nvariables: [x]\nexpected: {gradeint: ["2*x"]}\n',
            "did you mean 'gradient'",
        ),
        ('function: "x**2"\nvariables: [x]\nsubstitute: {x: "x + 1"}\n', "old variable"),
        ('function: "f(x) + f(x)**2"\nvariables: [x]\n', "cannot also name the whole function"),
        ('function: "x"\nvariables: [x, f_x]\n', "reads like a partial derivative"),
        ('function: "x"\nvariables: [x]\nidentity: "f(x)"\n', "names this problem's function"),
    ],
)
def test_spec_errors_exit_2(tmp_path: Path, body: str, message: str) -> None:
    result = run("expr", "--spec", str(write(tmp_path, "kind: expr\n" + body)))
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------
# The time limit

SLOW = """\
kind: expr
function: "{terms}"
variables: [x, y, z]
identity: "f_x = f_z"
"""


def test_a_pathological_simplification_returns_promptly(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(expr_module, "SIMPLIFY_SECONDS", 0.2)
    monkeypatch.setattr(expr_module, "CHECK_SECONDS", 0.3)
    monkeypatch.setattr(expr_module, "TOTAL_SECONDS", 1.2)
    terms = " + ".join(f"1/(x + {k}*y + z)" for k in range(1, 12))
    spec = write(tmp_path, SLOW.format(terms=terms))
    started = time.monotonic()
    result = run("expr", "--spec", str(spec), "--no-color")
    elapsed = time.monotonic() - started
    assert result.exit_code == 0, result.stdout + result.stderr
    assert elapsed < 5, elapsed
    assert "(not simplified: time limit)" in result.stdout
    document = json.loads(run("expr", "--spec", str(spec), "--format", "json").stdout)
    assert document["results"]["not_simplified"]


def test_symbolic_work_beyond_the_total_limit_is_a_limit_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(expr_module, "TOTAL_SECONDS", 0.0)
    spec = write(tmp_path, 'kind: expr\nfunction: "x**2"\nvariables: [x]\n')
    result = run("expr", "--spec", str(spec))
    assert result.exit_code == 2
    assert "time limit" in result.stderr or "took longer" in result.stderr


# ---------------------------------------------------------------------------
# JSON and the command


def test_json_contract_for_the_polar_identity() -> None:
    result = run("expr", "--spec", str(POLAR), "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["kind"] == "expr" and document["ok"] is True
    results = document["results"]
    assert results["variables"] == ["x", "y"]
    assert results["new_variables"] == ["r", "theta"]
    assert results["gradient"] == ["f_x", "f_y"]
    assert results["gradient_new"][0] == "f_x*cos(theta) + f_y*sin(theta)"
    assert results["identity"]["status"] == "proved"
    assert results["identity"]["simplified"] == "0"
    assert (
        results["identity"]["latex"]
        == r"f_{x}^{2} + f_{y}^{2} = f_{r}^{2} + \frac{f_{\theta}^{2}}{r^{2}}"
    )
    assert results["latex"]["gradient"] == ["f_{x}", "f_{y}"]
    assert {c["name"] for c in document["checks"]} == {"identity", "gradient", "gradient_new"}


@pytest.mark.parametrize(
    "name",
    [
        "seed000_ex1_polar_identity.yaml",
        "expr_sigmoid_derivative.yaml",
        "expr_softmax_cross_entropy.yaml",
    ],
)
def test_bundled_problems_as_json(name: str) -> None:
    result = run("expr", "--spec", str(REPO / "problems" / name), "--format", "json")
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["checks"]
    claims = document["results"].get("identity", [])
    for claim in claims if isinstance(claims, list) else [claims]:
        assert claim["status"] == "proved"


def test_json_numbers_at_the_point() -> None:
    spec = write_temp('kind: expr\nfunction: "x**2*y"\nvariables: [x, y]\nat: {x: "1/2", y: 3}\n')
    document = json.loads(run("expr", "--spec", str(spec), "--format", "json").stdout)
    results = document["results"]
    assert results["gradient"] == ["2*x*y", "x**2"]
    assert results["gradient_at"] == [3, 0.25]
    assert results["point"] == {"x": 0.5, "y": 3}
    assert document["gradient_check"]["ok"] is True


def write_temp(text: str) -> Path:
    import tempfile

    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8")
    with handle:
        handle.write(text)
    return Path(handle.name)


def test_show_selects_sections() -> None:
    result = run("expr", "--spec", str(POLAR), "--no-color", "--show", "latex")
    assert "── LaTeX" in result.stdout
    assert "── Chain rule" not in result.stdout and "── Checks" not in result.stdout


def test_help_lists_sections_and_examples() -> None:
    result = run("expr", "--help")
    assert result.exit_code == 0
    assert "chain_rule" in result.stdout and "seed000_ex1_polar_identity.yaml" in result.stdout


def test_other_commands_never_import_sympy() -> None:
    """SymPy costs about half a second to import: only `gradcalc expr` may load it."""
    code = (
        "import sys\n"
        "import gradcalc.cli.main, gradcalc.core.registry, gradcalc.core.kinds.expr\n"
        "assert 'sympy' not in sys.modules, 'imported at start-up'\n"
        "from click.testing import CliRunner\n"
        "from gradcalc.cli.main import main\n"
        f"result = CliRunner().invoke(main, ['conv', '--spec', {str(REPO / 'problems' / 'task3.yaml')!r}])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'sympy' not in sys.modules, 'imported by conv'\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_expr_help_leaves_out_options_that_mean_nothing_for_it():
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    expr_help = CliRunner().invoke(main, ["expr", "--help"]).output
    conv_help = CliRunner().invoke(main, ["conv", "--help"]).output
    for option in ("--float", "--max-work", "--max-jacobian"):
        assert option not in expr_help
        assert option in conv_help
    assert "--max-elements" in expr_help  # the spec reader's cap applies to every kind


def test_a_value_whose_exponent_is_too_long_to_write_prints_as_a_power_of_ten() -> None:
    """exp(x**1000) at x = 10 was "internal error: InvalidOperation" (formatting a Float
    whose exponent has 1,000 digits) and its derivative read "undefined (or not real)"."""
    result = run("expr", "--function", "exp(x**1000)", "--variables", "[x]", "--at", "{x: 10}")
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    assert "≈ 10^(4.34294E+999), beyond float64" in result.output
    assert "undefined" not in result.output
    negative = run("expr", "--function", "-exp(x**1000)", "--variables", "[x]", "--at", "{x: 10}")
    assert negative.exit_code == 0, negative.output
    assert "≈ −10^(4.34294E+999)" in negative.output
