"""The normalization kinds (batchnorm, layernorm, groupnorm; issue 16): against the plain-loop
reference (tests/norm_reference.py) and central differences, the staged and compact backward
forms, exactness, bad input, `gradcalc check`'s usual mistakes and the net layer."""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import norm_reference as ref
import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, run_json, run_spec, spec_error

from gradcalc.core import registry
from gradcalc.core.grading import Problem
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
QUIET = SolveOptions(sections=frozenset(), gradient_check=False)


def solve(spec: dict[str, Any], options: SolveOptions | None = None) -> Any:
    return registry.solve(spec, options or SolveOptions())


def floats(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=object).astype(float)


def close(got: Any, want: Any, tol: float = 1e-9) -> None:
    got, want = floats(got), np.asarray(want, dtype=float)
    assert got.shape == want.shape, (got.shape, want.shape)
    assert np.allclose(got, want, rtol=tol, atol=tol), (got, want)


ENTRY = st.integers(-6, 6).map(lambda n: Fraction(n, 2))


@st.composite
def arrays(draw, shape: tuple[int, ...]) -> list:
    values = draw(st.lists(ENTRY, min_size=math.prod(shape), max_size=math.prod(shape)))
    return np.array([str(v) for v in values], dtype=object).reshape(shape).tolist()


@st.composite
def batchnorm_cases(draw) -> dict[str, Any]:
    two_d = draw(st.booleans())
    channels = draw(st.integers(1, 3))
    shape = (
        (draw(st.integers(1, 2)), channels, draw(st.integers(1, 2)), draw(st.integers(2, 3)))
        if two_d
        else (draw(st.integers(2, 5)), channels)
    )
    spec: dict[str, Any] = {
        "kind": "batchnorm",
        "input": draw(arrays(shape)),
        "upstream": draw(arrays(shape)),
        "eps": draw(st.sampled_from(["1e-5", "1/4", "3", 1])),
        "training": draw(st.booleans()),
    }
    if draw(st.booleans()):
        spec["weight"] = draw(arrays((channels,)))
        spec["bias"] = draw(arrays((channels,)))
    else:
        spec["affine"] = False
    spec["running_mean"] = draw(arrays((channels,)))
    spec["running_var"] = [
        str(Fraction(k, 2))
        for k in draw(st.lists(st.integers(0, 6), min_size=channels, max_size=channels))
    ]
    return spec


def reference_of(spec: dict[str, Any]) -> dict[str, Any]:
    """The plain-loop reference's results (tests/norm_reference.py) for a batchnorm,
    layernorm or groupnorm spec."""
    x, up = parsed(spec, "input"), parsed(spec, "upstream")
    weights = {"weight": parsed(spec, "weight"), "bias": parsed(spec, "bias")}
    eps = float(Fraction(spec["eps"]))
    if spec["kind"] == "layernorm":
        return ref.layernorm(x, up, len(spec["normalized_shape"]), **weights, eps=eps)
    if spec["kind"] == "groupnorm":
        return ref.groupnorm(x, up, spec["num_groups"], **weights, eps=eps)
    return ref.batchnorm(
        x,
        up,
        **weights,
        eps=eps,
        training=spec["training"],
        running_mean=parsed(spec, "running_mean"),
        running_var=parsed(spec, "running_var"),
    )


@SETTINGS
@given(batchnorm_cases())
def test_batchnorm_matches_the_loop_reference_and_finite_differences(spec: dict[str, Any]) -> None:
    solution = solve(spec)
    want = reference_of(spec)
    results = solution.results
    for name in ("output", "x_hat", "grad_input", "mean", "var"):
        close(results[name], want[name])
    if spec.get("affine") is not False:
        close(results["grad_weight"], want["grad_weight"])
        close(results["grad_bias"], want["grad_bias"])
    if spec["training"]:
        close(results["running_mean"], want["running_mean"])
        close(results["running_var"], want["running_var"])
    assert solution.gradient_check is None or solution.gradient_check.ok


@SETTINGS
@given(batchnorm_cases(), st.booleans())
def test_staged_and_compact_backward_agree(spec: dict[str, Any], force_float: bool) -> None:
    """The node-by-node sum and the compact form: equal when exact, within 1e-12 in float64."""
    problem = registry.op_module("batchnorm").read(spec, SolveOptions().limits)
    ran = registry.op_module("batchnorm").run(problem, SolveOptions(force_float=force_float))
    staged, compact = ran.trace.staged["input"], ran.trace.grad_input
    if ran.trace.sigma_exact:
        assert np.all(staged == compact)
    else:
        gap = np.abs(floats(staged) - floats(compact))
        scale = max(1.0, float(np.max(np.abs(floats(compact)), initial=0.0)))
        assert float(np.max(gap, initial=0.0)) <= 1e-12 * scale


def exact(values: list) -> list[Fraction]:
    """JSON numbers as Fractions: terminating decimals are numbers, others "p/q" text."""
    return [Fraction(str(v)) for v in values]


EXACT = """kind: batchnorm
input: [[1, 2, 0], [3, 4, 2], [1, 4, 0], [3, 2, 2]]
weight: [2, 1, -1]
bias: [0, 1, 1/2]
eps: 3
upstream: [[1, 0, 2], [0, 1, -1], [2, 1, 0], [-1, 0, 1]]
"""


def test_a_rational_sigma_keeps_everything_exact(tmp_path: Path) -> None:
    """σ² = 1 per feature and eps = 3: σ = 2, and every result is a fraction."""
    result, data = run_json(tmp_path, "batchnorm", EXACT)
    assert result.exit_code == 0
    results = data["results"]
    assert exact(results["x_hat"][0]) == [Fraction(-1, 2)] * 3
    assert exact(results["grad_input"][0]) == [Fraction(1, 4), Fraction(-3, 16), Fraction(-11, 16)]
    exact_run = solve(yaml.safe_load(EXACT), QUIET).results
    assert exact_run["running_var"].tolist() == [Fraction(31, 30)] * 3
    text = run_spec(tmp_path, "batchnorm", EXACT).stdout
    assert "exact rational arithmetic: every σ² + ε is the square of a rational" in text
    assert "agree exactly on all 12 entries" in text


def test_an_irrational_sigma_says_where_floats_begin(tmp_path: Path) -> None:
    text = run_spec(tmp_path, "batchnorm", EXACT.replace("eps: 3", "eps: 1e-5")).stdout
    assert "floats begin at σ = √(σ² + ε)" in text
    _, data = run_json(tmp_path, "batchnorm", EXACT.replace("eps: 3", "eps: 1e-5"))
    assert data["results"]["mean"] == [2, 3, 1] and data["results"]["grad_bias"] == [2, 2, 2]


def test_the_explanation_shows_each_node_and_the_compact_form(tmp_path: Path) -> None:
    text = run_spec(tmp_path, "batchnorm", EXACT, "--show", "backward,compact").stdout
    for step in (
        "∂L/∂x̂_00 = ∂L/∂y_00·∂y/∂x̂ = ∂L/∂y_00·γ_0",
        "(∂x̂/∂σ = −x̃/σ²)",
        "(∂σ/∂σ² = 1/(2σ))",
        "(∂x̃/∂μ = −1)",
        "∂L/∂x_00 = (γ_0/(N·σ_0))·(N·∂L/∂y_00 − S_0 − x̂_00·P_0)",
    ):
        assert step in text, step


def test_a_long_column_is_cut_with_an_ellipsis(tmp_path: Path) -> None:
    column = "[" + ", ".join(f"[{i % 5}]" for i in range(30)) + "]"
    text = run_spec(tmp_path, "batchnorm", f"kind: batchnorm\ninput: {column}\n").stdout
    assert "+ … (6 more)" in text


# -- bad input: one located line, exit 2 ---------------------------------------------------------

BAD = {
    "batch of one": (
        "kind: batchnorm\ninput: [[1, 2, 3]]\n",
        (2, "PyTorch refuses it"),
    ),
    "eps zero": ("kind: batchnorm\ninput: [[1, 2], [3, 4]]\neps: 0\n", (3, "eps must be positive")),
    "eps negative": (
        "kind: batchnorm\ninput: [[1, 2], [3, 4]]\neps: -1\n",
        (3, "eps must be positive"),
    ),
    "weight shape": (
        "kind: batchnorm\ninput: [[1, 2], [3, 4]]\nweight: [1, 2, 3]\n",
        (3, "weight must be a list of 2"),
    ),
    "bias shape": (
        "kind: batchnorm\ninput: [[1, 2], [3, 4]]\nbias: [1]\n",
        (3, "bias must be a list of 2"),
    ),
    "running_var": (
        "kind: batchnorm\ninput: [[1, 2], [3, 4]]\ntraining: false\nrunning_var: [1, -1]\n",
        (4, "running_var + eps must be positive"),
    ),
    "3-d input": ("kind: batchnorm\ninput: [[[1, 2]], [[3, 4]]]\n", (2, "allowed: 2-D or 4-D")),
    "weight with affine false": (
        "kind: batchnorm\ninput: [[1, 2], [3, 4]]\naffine: false\nweight: [1, 1]\n",
        (4, "affine is false"),
    ),
}


@pytest.mark.parametrize("case", BAD, ids=BAD)
def test_bad_input_gives_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, words) = BAD[case]
    kind = text.split("\n")[0].split(": ")[1]
    got_line, _, message = spec_error(run_spec(tmp_path, kind, text))
    assert got_line == line and words in message, (got_line, message)


def test_a_batch_of_one_in_evaluation_is_fine(tmp_path: Path) -> None:
    result = run_spec(tmp_path, "batchnorm", "kind: batchnorm\ninput: [[1, 2]]\ntraining: false\n")
    assert result.exit_code == 0, result.stderr


# -- gradcalc check: the usual mistakes ---------------------------------------------------------

TRAINING = {
    "kind": "batchnorm",
    "input": [[1, 2, 0], [3, 6, 1], [5, 2, 2], [7, 6, 5]],
    "weight": [2, 1, -1],
    "bias": [0, 1, "1/2"],
    "eps": "1/2",
    "upstream": [[1, 0, 2], [0, 1, -1], [2, 1, 0], [-1, 0, 1]],
}


def mistaken(spec: dict[str, Any], slip: str) -> dict[str, np.ndarray]:
    """The slip made by hand with NumPy (not gradcalc's code): the student's answers."""
    x = np.array(spec["input"], dtype=float)
    up = np.array(spec["upstream"], dtype=float)
    gamma = np.array([float(Fraction(v)) for v in spec["weight"]])
    n = x.shape[0]
    mean = x.mean(axis=0)
    var = x.var(axis=0, ddof=1 if slip == "unbiased" else 0)
    sigma = np.sqrt(var + (0 if slip == "no eps" else float(Fraction(spec["eps"]))))
    x_hat = (x - mean) / sigma
    g = up * gamma
    mean_path = -(g / sigma).sum(axis=0) / n
    var_path = -x_hat * (g * x_hat).sum(axis=0) / (n * sigma)
    grad = (
        g / sigma
        + (0 if slip == "no mean path" else mean_path)
        + (0 if slip == "no var path" else var_path)
    )
    return {"x_hat": x_hat, "grad_input": grad}


@pytest.mark.parametrize(
    ("slip", "result", "words"),
    [
        ("unbiased", "x_hat", "unbiased variance"),
        ("unbiased", "grad_input", "unbiased variance"),
        ("no eps", "x_hat", "eps forgotten"),
        ("no mean path", "grad_input", "without the path through μ"),
        ("no var path", "grad_input", "without the path through σ²"),
    ],
)
def test_check_names_the_usual_mistakes(slip: str, result: str, words: str) -> None:
    answer = mistaken(TRAINING, slip)[result].tolist()
    grade = Problem(TRAINING).grade({result: answer})
    graded = next(r for r in grade.results if r.name == result)
    assert not graded.ok and words in graded.diagnosis, graded.diagnosis


def test_the_right_answer_gets_no_diagnosis() -> None:
    answer = floats(solve(TRAINING, QUIET).results["grad_input"]).tolist()
    grade = Problem(TRAINING).grade({"grad_input": answer})
    assert all(r.ok and not r.diagnosis for r in grade.results)


# -- as a layer of gradcalc net -------------------------------------------------------------------

NET = {
    "kind": "net",
    "input": [[1, 2], [3, -1], [0, 1], [2, 2]],
    "layers": [
        {"type": "dense", "name": "fc", "weight": [[1, 0], [2, 1], [-1, 1]], "bias": [0, 1, 0]},
        {"type": "batchnorm", "name": "bn", "weight": [1, 2, -1], "bias": ["1/2", 1, 1], "eps": 3},
        "tanh",
    ],
    "loss": {"type": "mse", "target": [[0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 1]]},
}


def test_batchnorm_is_a_net_layer() -> None:
    solution = solve(NET)
    assert solution.gradient_check is not None and solution.gradient_check.ok
    fc = floats(solution.results["fc.output"])
    layer = ref.batchnorm(
        fc, floats(solution.results["bn.grad_output"]), weight=[1, 2, -1], bias=[0.5, 1, 1], eps=3
    )
    close(solution.results["bn.output"], layer["output"])
    close(solution.results["bn.grad_weight"], layer["grad_weight"])
    close(solution.results["fc.grad_output"], layer["grad_input"])


def test_the_net_names_a_second_norm_layers_parameters_apart(tmp_path: Path) -> None:
    second = {"type": "batchnorm", "name": "bn2", "weight": [1, 1, 2], "bias": [0, 0, 0]}
    spec = {**NET, "layers": [*NET["layers"][:2], second]}
    path = tmp_path / "net.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = run("run", str(path), "--show", "backward", "--no-color")
    assert result.exit_code == 0, result.stderr
    assert "∂L/∂γ2_0" in result.stdout and "∂L/∂γ3_0" in result.stdout
    assert "bn2.grad_weight" in solve(spec).results


# -- layer norm and group norm ---------------------------------------------------------------------


@st.composite
def layernorm_cases(draw) -> dict[str, Any]:
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    count = draw(st.integers(1, len(shape)))
    normalized = shape[len(shape) - count :]
    if math.prod(normalized) == 1:
        normalized = shape[-1:]
    spec: dict[str, Any] = {
        "kind": "layernorm",
        "input": draw(arrays(shape)),
        "upstream": draw(arrays(shape)),
        "normalized_shape": list(normalized),
        "eps": draw(st.sampled_from(["1e-5", "1/4", "3"])),
    }
    if draw(st.booleans()):
        spec["weight"] = draw(arrays(normalized))
        spec["bias"] = draw(arrays(normalized))
    else:
        spec["elementwise_affine"] = False
    return spec


@st.composite
def groupnorm_cases(draw) -> dict[str, Any]:
    groups = draw(st.integers(1, 3))
    channels = groups * draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 2)), channels, *draw(st.lists(st.integers(1, 3), max_size=2)))
    if math.prod(shape) == groups:  # one value a group in one sample: refused, as PyTorch does
        shape = (2, *shape[1:])
    spec: dict[str, Any] = {
        "kind": "groupnorm",
        "input": draw(arrays(shape)),
        "upstream": draw(arrays(shape)),
        "num_groups": groups,
        "eps": draw(st.sampled_from(["1e-5", "1/4", "3"])),
    }
    if draw(st.booleans()):
        spec["weight"] = draw(arrays((channels,)))
        spec["bias"] = draw(arrays((channels,)))
    else:
        spec["affine"] = False
    return spec


def parsed(spec: dict[str, Any], key: str) -> Any:
    value = spec.get(key)
    return (
        None if value is None else floats(np.vectorize(Fraction)(np.asarray(value, dtype=object)))
    )


@SETTINGS
@given(st.one_of(layernorm_cases(), groupnorm_cases()), st.booleans())
def test_layer_and_group_norm_match_the_loop_reference(
    spec: dict[str, Any], force_float: bool
) -> None:
    solution = solve(spec, SolveOptions(force_float=force_float))
    want = reference_of(spec)
    for name in ("output", "x_hat", "grad_input", "mean", "var"):
        close(solution.results[name], want[name])
    if "weight" in spec:
        close(solution.results["grad_weight"], want["grad_weight"])
        close(solution.results["grad_bias"], want["grad_bias"])
    assert solution.gradient_check is None or solution.gradient_check.ok
    staged, compact = solution_trace(spec, force_float)
    assert float(np.max(np.abs(staged - compact), initial=0.0)) <= 1e-12 * max(
        1.0, float(np.max(np.abs(compact), initial=0.0))
    )


def solution_trace(spec: dict[str, Any], force_float: bool) -> tuple[np.ndarray, np.ndarray]:
    module = registry.op_module(spec["kind"])
    ran = module.run(
        module.read(spec, SolveOptions().limits), SolveOptions(force_float=force_float)
    )
    return floats(ran.trace.staged["input"]), floats(ran.trace.grad_input)


BAD_OTHERS = {
    "normalized_shape not ending the input": (
        "kind: layernorm\ninput: [[1, 2, 3], [4, 5, 6]]\nnormalized_shape: [2]\n",
        (3, "does not end the input's shape 2×3"),
    ),
    "normalized_shape too long": (
        "kind: layernorm\ninput: [1, 2, 3]\nnormalized_shape: [1, 3]\n",
        (3, "does not end the input's shape"),
    ),
    "layernorm weight shape": (
        "kind: layernorm\ninput: [[1, 2, 3], [4, 5, 6]]\nweight: [1, 2]\n",
        (3, "weight must be a list of 3"),
    ),
    "layernorm eps": ("kind: layernorm\ninput: [1, 2]\neps: -1e-5\n", (3, "eps must be positive")),
    "num_groups not dividing C": (
        "kind: groupnorm\ninput: [[1, 2, 3], [4, 5, 6]]\nnum_groups: 2\n",
        (3, "does not divide the C = 3 channels"),
    ),
    "groupnorm groups of one value": (
        "kind: groupnorm\ninput: [[1, 2, 3]]\nnum_groups: 3\n",
        (3, "PyTorch refuses it"),
    ),
    "groupnorm bias shape": (
        "kind: groupnorm\ninput: [[1, 2, 3, 4]]\nnum_groups: 2\nbias: [1, 2]\n",
        (4, "bias must be a list of 4"),
    ),
}


@pytest.mark.parametrize("case", BAD_OTHERS, ids=BAD_OTHERS)
def test_bad_layer_and_group_norm_input(tmp_path: Path, case: str) -> None:
    text, (line, words) = BAD_OTHERS[case]
    kind = text.split("\n")[0].split(": ")[1]
    got_line, _, message = spec_error(run_spec(tmp_path, kind, text))
    assert got_line == line and words in message, (got_line, message)


def test_layer_norm_check_names_the_mean_path() -> None:
    spec = {
        "kind": "layernorm",
        "input": [[1, 3, 2, 6], [2, 0, 0, 2]],
        "weight": [1, 2, -1, "1/2"],
        "upstream": [[1, 0, 2, 1], [0, 1, -1, 1]],
    }
    x, up = np.array(spec["input"], float), np.array(spec["upstream"], float)
    gamma = np.array([1, 2, -1, 0.5])
    sigma = np.sqrt(x.var(axis=1, keepdims=True) + 1e-5)
    x_hat = (x - x.mean(axis=1, keepdims=True)) / sigma
    g = up * gamma
    answer = g / sigma - x_hat * (g * x_hat).mean(axis=1, keepdims=True) / sigma  # no mean path
    grade = Problem(spec).grade({"grad_input": answer.tolist()})
    graded = next(r for r in grade.results if r.name == "grad_input")
    assert not graded.ok and "without the path through μ" in graded.diagnosis


def test_layer_and_group_norm_are_net_layers() -> None:
    spec = {
        "kind": "net",
        "input": [[1, 2], [3, -1], [0, 1]],
        "layers": [
            {"type": "dense", "weight": [[1, 0], [2, 1], [-1, 1], [1, 1]], "bias": [0, 1, 0, 0]},
            {"type": "layernorm", "weight": [1, 2, -1, 1], "bias": [0, 0, 1, 0]},
            {"type": "groupnorm", "num_groups": 2, "eps": "1/2"},
            "sigmoid",
        ],
    }
    solution = solve(spec)
    assert solution.gradient_check is not None and solution.gradient_check.ok
    assert "layernorm1.grad_weight" in solution.results
    dense = floats(solution.results["dense1.output"])
    layer = ref.layernorm(
        dense,
        floats(solution.results["layernorm1.grad_output"]),
        1,
        weight=[1, 2, -1, 1],
        bias=[0, 0, 1, 0],
    )
    close(solution.results["layernorm1.output"], layer["output"])
    close(solution.results["dense1.grad_output"], layer["grad_input"])


@SETTINGS
@given(layernorm_cases())
def test_the_blocked_rows_path_matches_the_loop_reference(spec: dict[str, Any]) -> None:
    """Large layer norms run a block of rows at a time (core/ops/normalization_rows.py): made
    to run so at these sizes, with blocks of a few entries, it still gives the reference's."""
    from gradcalc.core.ops import normalization_rows

    saved = normalization_rows.SMALLEST, normalization_rows.BLOCK
    normalization_rows.SMALLEST, normalization_rows.BLOCK = 1, 5
    try:
        solution = solve(spec, SolveOptions(force_float=True, gradient_check=False))
    finally:
        normalization_rows.SMALLEST, normalization_rows.BLOCK = saved
    x, up = parsed(spec, "input"), parsed(spec, "upstream")
    eps = float(Fraction(spec["eps"]))
    weights = {"weight": parsed(spec, "weight"), "bias": parsed(spec, "bias"), "eps": eps}
    want = ref.layernorm(x, up, len(spec["normalized_shape"]), **weights)
    for name in ("output", "x_hat", "grad_input", "mean", "var"):
        close(solution.results[name], want[name])
    if "weight" in spec:
        close(solution.results["grad_weight"], want["grad_weight"])
        close(solution.results["grad_bias"], want["grad_bias"])


@pytest.mark.parametrize(
    ("input_text", "count"), [("[[1, 2, 3]]", "N"), ("[[[[1]], [[2]]]]", "N·H·W")]
)
def test_a_batch_of_one_names_the_count_it_averages(
    tmp_path: Path, input_text: str, count: str
) -> None:
    """BatchNorm1d averages over N and BatchNorm2d over N·H·W; no undefined M appears."""
    _, _, message = spec_error(run_spec(tmp_path, "batchnorm", f"input: {input_text}\n"))
    assert f"average its {count} = 1 value" in message and f"divides by {count} − 1 = 0" in message
    assert "M − 1" not in message


def test_the_biased_variance_convention_names_n_for_batchnorm(tmp_path: Path) -> None:
    text = run_spec(tmp_path, "batchnorm", "input: [[1, 2], [3, 4]]\n").stdout
    assert "(divided by N = 2, not by N − 1)" in text
    assert "M − 1" not in text


def test_a_5d_group_norm_takes_a_5d_upstream(tmp_path: Path) -> None:
    """GroupNorm accepts N×C×D×H×W input; its upstream has that shape too."""
    spec = (
        "input: [[[[[1, 2]], [[3, 5]]], [[[0, 1]], [[2, 2]]]]]\nnum_groups: 1\n"
        "upstream: [[[[[1, 0]], [[2, 1]]], [[[0, 3]], [[1, 1]]]]]\n"
    )
    result = run_spec(tmp_path, "groupnorm", spec)
    assert result.exit_code == 0, result.stderr


def test_the_unbiased_variance_slip_is_undefined_for_groups_of_one() -> None:
    """Σ(x − μ)²/(M − 1) with M = 1 divides by zero: no such slip, and no numpy warning
    written to the terminal while grading."""
    import warnings

    from gradcalc.core.kinds import layernorm, normalization
    from gradcalc.core.spec import Limits

    spec = {"kind": "layernorm", "input": [[1], [4]], "normalized_shape": [1]}
    problem = layernorm.read(spec, Limits())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert normalization.slipped(problem, "unbiased variance") is None
        assert normalization.slipped(problem, "eps forgotten") is None


def test_running_section_of_an_evaluation_batchnorm_says_nothing_is_updated(
    tmp_path: Path,
) -> None:
    """--show running with training: false (and a net's eval batchnorm, whose layer names
    every section) crashed on the missing running_mean result."""
    spec = "input: [[1, 2], [3, 4]]\ntraining: false\nrunning_var: [4, 4]\n"
    result = run_spec(tmp_path, "batchnorm", spec, "--show", "running")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "training: false" in result.stdout and "not updated" in result.stdout
    net = {
        "kind": "net",
        "input": [[1, 2, 3]],
        "layers": [
            {"type": "batchnorm", "training": False, "running_mean": [1, 1, 1],
             "running_var": [4, 4, 4]},
        ],
        "loss": {"type": "mse", "target": [[0, 0, 0]]},
    }  # fmt: skip
    path = tmp_path / "net.yaml"
    path.write_text(json.dumps(net), encoding="utf-8")
    result = run("run", str(path), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "Warning" not in result.stderr


@pytest.mark.parametrize("word", ["batchnorm", "groupnorm", "dropout", "dense"])
def test_a_layer_type_written_as_a_bare_word_says_to_write_a_mapping(
    tmp_path: Path, word: str
) -> None:
    """It said "unknown layer 'batchnorm'; did you mean 'batchnorm'?"."""
    text = f"kind: net\ninput: [[1, 2], [3, 4]]\nlayers:\n  - {word}\n"
    line, _, message = spec_error(run_spec(tmp_path, "net", text))
    assert line == 4 and f"{{type: {word}, …}}" in message
    assert "did you mean" not in message


def test_flatten_and_softmax_stay_bare_words(tmp_path: Path) -> None:
    text = "kind: net\ninput: [[1, 2], [3, 4]]\nlayers:\n  - flatten\n  - softmax\n"
    assert run_spec(tmp_path, "net", text).exit_code == 0


def test_group_norm_conventions_count_in_english(tmp_path: Path) -> None:
    text = run_spec(tmp_path, "groupnorm", "input: [[[5]], [[7]]]\nnum_groups: 1\n").stdout
    assert "the C = 1 channel form 1 group of 1 consecutive channel;" in " ".join(text.split())


def test_evaluation_without_running_statistics_says_it_uses_0_and_1(tmp_path: Path) -> None:
    text = run_spec(tmp_path, "batchnorm", "input: [[1, 2], [3, 4]]\ntraining: false\n").stdout
    assert "else PyTorch's initial 0 and 1" in " ".join(text.split())


def test_a_sum_of_fractions_that_is_zero_is_shown_as_zero() -> None:
    """∂L/∂σ = −Σ ∂L/∂x̂·x̃/σ²: with rational ∂L/∂x̂ and x̃ the sum is taken exactly before the
    float64 σ² divides it, so the step that shows −(1·(−4/3) + 1·(−1/3) + 1·(5/3))/σ² says 0,
    not float64's −1.4e-16 (σ = √(14/9 + 1e-5) is irrational)."""
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    spec = "kind: layernorm\ninput: [[1, 2, 4]]\nnormalized_shape: [3]\nelementwise_affine: false\n"
    text = (
        CliRunner()
        .invoke(main, ["layernorm", "--spec", "-", "--no-color", "--width", "200"], input=spec)
        .output
    )
    assert "= −(1·(−4/3) + 1·(−1/3) + 1·(5/3))/(1.24722)² = 0\n" in text
    assert "= 0/(2·1.24722) = 0\n" in text


@pytest.mark.parametrize(
    "spec",
    [
        {
            "kind": "layernorm",
            "input": [[1, 2, 4]],
            "normalized_shape": [3],
            "elementwise_affine": False,
        },
        {"kind": "batchnorm", "input": [[1, 2], [3, 5], [0, -1]], "affine": False},
        {
            "kind": "groupnorm",
            "input": [[[1, 2], [3, 5], [0, 1], [2, 2]]],
            "num_groups": 2,
            "eps": "1/4",
        },
        {
            "kind": "layernorm",
            "input": [[1, 2, 4], [0, 3, 3]],
            "normalized_shape": [3],
            "upstream": [[2, 2, 2], [1, 1, 1]],
        },
    ],
    ids=[
        "layernorm ones",
        "batchnorm no affine",
        "groupnorm eps 1/4",
        "layernorm uniform upstream",
    ],
)
def test_every_step_is_true_where_the_gradient_is_exactly_zero(spec: dict, tmp_path: Path) -> None:
    """A uniform upstream makes ∂L/∂x exactly 0 with an irrational σ: the rational sums are
    taken exactly (core/ops/normalization.py), so no step shows float64's ±1e-16 as a value
    its own terms do not give."""
    from test_displayed_equations import audit

    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    problems, equations, _, _ = audit(path)
    assert equations > 20 and problems == []


@pytest.mark.parametrize("kind", ["batchnorm", "layernorm", "groupnorm"])
@pytest.mark.parametrize("symbol", ["P", "S", "μ"])
def test_a_name_the_steps_write_for_a_sum_or_statistic_is_refused(
    tmp_path: Path, kind: str, symbol: str
) -> None:
    """names: {output: P} made P_00 both the output and the backward pass's Σ ∂L/∂x̂·x̂ of
    group 00 (P_00 = 4 beside an output P_00 = 2)."""
    groups = "num_groups: 1\n" if kind == "groupnorm" else ""
    text = f"input: [[1, 2], [3, 5]]\n{groups}names: {{output: {symbol}}}\n"
    _, _, message = spec_error(run_spec(tmp_path, kind, text))
    assert f"{symbol!r} is what the explanation writes" in message
