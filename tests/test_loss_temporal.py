"""The temporal option of kind loss (cs231n's temporal_softmax_loss): against the plain-loop
reference (tests/temporal_loss_reference.py) and central differences over random N, T, V,
masks and reductions; the convention it states against PyTorch's reshaped mean; its
refusals (one located line, exit 2); the bundled problem's steps."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import nn_reference
import numpy as np
import pytest
import temporal_loss_reference as ref
from drawn_values import fractions_between
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nn_cli import run, run_spec, spec_error

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    max_examples=50,
    suppress_health_check=[HealthCheck.too_slow],
)
VALUE = fractions_between(-4, 4, max_denominator=3)


def solve(spec: dict[str, Any], **options: Any):
    options.setdefault("gradient_check", False)
    options.setdefault("sections", frozenset())
    spec = {"kind": "loss", "loss": "cross_entropy", "temporal": True, **spec}
    return registry.solve(spec, SolveOptions(**options))


@st.composite
def cases(draw) -> dict[str, Any]:
    sequences, steps, classes = (
        draw(st.integers(1, 3)),
        draw(st.integers(1, 4)),
        draw(st.integers(2, 4)),
    )
    x = [[draw(st.lists(VALUE, min_size=classes, max_size=classes)) for _ in range(steps)]
         for _ in range(sequences)]  # fmt: skip
    y = [draw(st.lists(st.integers(0, classes - 1), min_size=steps, max_size=steps))
         for _ in range(sequences)]  # fmt: skip
    mask = [draw(st.lists(st.sampled_from([0, 1]), min_size=steps, max_size=steps))
            for _ in range(sequences)]  # fmt: skip
    reduction = draw(st.sampled_from(["mean", "sum"]))
    spec = {"input": [[[str(v) for v in row] for row in s] for s in x], "target": y,
            "temporal": mask, "reduction": reduction}  # fmt: skip
    return {"spec": spec, "x": [[[float(v) for v in r] for r in s] for s in x], "y": y,
            "mask": mask, "reduction": reduction}  # fmt: skip


@SETTINGS
@given(cases())
def test_temporal_loss_matches_the_plain_loop_reference(case: dict[str, Any]) -> None:
    solution = solve(case["spec"])
    loss, grad = ref.temporal_softmax_loss(case["x"], case["y"], case["mask"], case["reduction"])
    assert float(solution.results["loss"]) == pytest.approx(loss, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(
        np.asarray(solution.results["grad_input"], dtype=float), grad, rtol=1e-12, atol=1e-12
    )


@settings(SETTINGS, max_examples=25)
@given(cases())
def test_temporal_gradient_matches_central_differences(case: dict[str, Any]) -> None:
    solution = solve(case["spec"], gradient_check=True)
    assert solution.gradient_check is not None and solution.gradient_check.ok
    shape = np.shape(case["x"])
    flat = [v for s in case["x"] for r in s for v in r]

    def loss(values: list[float]) -> float:
        moved = nn_reference.reshape(values, shape)
        return ref.temporal_softmax_loss(moved, case["y"], case["mask"], case["reduction"])[0]

    grads = np.asarray(solution.results["grad_input"], dtype=float).ravel()
    for index in range(len(flat)):
        numeric = nn_reference.central_difference(loss, flat, index)
        assert abs(numeric - grads[index]) <= 1e-6 * (1 + abs(grads[index]))


def test_the_mean_divides_by_n_not_by_the_counted_steps() -> None:
    """cs231n's mean is Σ/N; PyTorch's mean over the reshaped rows (masked steps ignored) is
    Σ/(counted steps): the convention says so and names the factor."""
    spec = {"input": [[[1, 0], [0, 0], [2, 1]]], "target": [[0, 1, 0]], "temporal": [[1, 1, 0]]}
    mean = float(solve(spec).results["loss"])
    total = float(solve({**spec, "reduction": "sum"}).results["loss"])
    assert mean == pytest.approx(total / 1)  # N = 1 sequence
    text = run("loss", "--spec", _written(spec), "--no-color").stdout
    assert "L = Σ_n Σ_t mask_nt·ℓ_nt / N with N = 1" in text
    assert "divides by the counted steps instead" in text and "N/(counted steps) = 1/2" in text


def _written(spec: dict[str, Any]) -> str:
    import tempfile

    import yaml

    handle = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False, encoding="utf-8")
    yaml.safe_dump({"kind": "loss", "loss": "cross_entropy", "temporal": True, **spec}, handle)
    handle.close()
    return handle.name


def test_bundled_problem_names_each_step() -> None:
    result = run("run", "problems/cross_entropy_temporal_mask.yaml", "--no-color", "--steps", "all")
    assert result.exit_code == 0, result.stdout
    text = result.stdout
    assert "sequence 1, step 2: mask 0, so ℓ_12 = 0" in text
    assert "L = Σ_n Σ_t ℓ_nt / 2  (N sequences, as cs231n's temporal softmax loss)" in text
    assert "∂L/∂s_111 = (p_111 − 1[1 = gt])/2" in text


HEAD = "loss: cross_entropy\ntemporal: true\n"
X = "input: [[[1, 0], [0, 1]]]\n"
MASKED = "loss: cross_entropy\ninput: [[[1, 0], [0, 1]]]\ntarget: [[0, 1]]\n"
BAD = {
    "not cross_entropy": ("loss: nll\ntemporal: true\n" + X + "target: [[0, 1]]\n", (2, 11), "temporal applies to cross_entropy"),
    "weight": (HEAD + X + "target: [[0, 1]]\nweight: [1, 2]\n", (5, 1), "weight does not apply to a temporal loss"),
    "input 2-D": (HEAD + "input: [[1, 0], [0, 1]]\ntarget: [[0, 1]]\n", (3, 8), "input has 2 dimensions"),
    "target shape": (HEAD + X + "target: [[0, 1, 1]]\n", (4, 9), "a temporal loss needs one class index per step, N×T = 1×2"),
    "target out of range": (HEAD + X + "target: [[0, 2]]\n", (4, 14), "a class index is a whole number from 0 to 1"),
    "mask shape": (MASKED + "temporal: [[1]]\n", (4, 11), "temporal's mask is 1×1 but the input has N×T = 1×2 steps"),
    "mask entry": (MASKED + "temporal: [[1, 2]]\n", (4, 16), "a mask entry is 0 or 1"),
    "not a mask": (MASKED + "temporal: yes please\n", (4, 11), "temporal is true, false, or the N×T mask"),
    "mask on one step": ("loss: cross_entropy\ninput: [1, 0]\ntarget: 0\ntemporal: [[1]]\n", (4, 11), "a mask over the steps needs scores N×T×V"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    got_line, got_column, message = spec_error(run_spec(tmp_path, "loss", text))
    assert (got_line, got_column) == (line, column), message
    assert words in message, message


def test_true_false_mask_reads_as_ones_and_zeros() -> None:
    spec = {"input": [[[1, 0], [3, 1]]], "target": [[0, 1]]}
    numbers = solve({**spec, "temporal": [[1, 0]]}).results["loss"]
    flags = solve({**spec, "temporal": [[True, False]]}).results["loss"]
    assert float(numbers) == float(flags) == pytest.approx(float(Fraction(1)) * 0.31326168751822286)


def test_one_step_alone_is_plain_cross_entropy() -> None:
    """temporal: true on a single step of V (N = T = 1) gives cross_entropy's numbers."""
    plain = registry.solve(
        {"kind": "loss", "loss": "cross_entropy", "input": [2, 1, "1/10"], "target": 0},
        SolveOptions(sections=frozenset(), gradient_check=False),
    )
    one = solve({"input": [2, 1, "1/10"], "target": 0})
    assert one.results["loss"] == plain.results["loss"]


def test_the_mean_over_the_counted_steps_is_named_by_check() -> None:
    """gradcalc check: PyTorch's reshaped mean (Σ/counted steps) instead of cs231n's Σ/N."""
    from gradcalc.core.grading import Problem

    spec = {"kind": "loss", "loss": "cross_entropy", "input": [[[1, 0], [0, 0], [2, 1]]],
            "target": [[0, 1, 0]], "temporal": [[1, 1, 0]]}  # fmt: skip
    right = float(solve({k: v for k, v in spec.items() if k != "kind"}).results["loss"])
    grade = Problem(spec).grade({"loss": right / 2})  # N = 1, 2 counted steps
    one = next(r for r in grade.results if r.name == "loss")
    assert not one.ok and "mean over the 2 counted steps" in one.diagnosis, one.diagnosis


def test_a_net_ends_in_a_temporal_loss() -> None:
    """embedding → self-attention → temporal cross_entropy: the net's loss is the temporal loss
    of its last layer's N×T×V output, and the chain's gradient passes finite differences."""
    spec = {
        "kind": "net",
        "input": [[1, 0, 2], [2, 2, 1]],
        "layers": [
            {"type": "embedding", "name": "emb", "weight": [[1, 0, -1], [0, 2, 1], [1, 1, 0]]},
            {"type": "attention", "name": "attn", "causal": True},
        ],
        "loss": {"type": "cross_entropy", "temporal": [[1, 1, 0], [1, 1, 1]],
                 "target": [[0, 1, 2], [2, 0, 1]]},
    }  # fmt: skip
    net = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert net.gradient_check is not None and net.gradient_check.ok
    scores = np.asarray(net.results["attn.output"], dtype=float).tolist()
    loss, grad = ref.temporal_softmax_loss(scores, [[0, 1, 2], [2, 0, 1]], [[1, 1, 0], [1, 1, 1]])
    assert float(net.results["loss"]) == pytest.approx(loss, rel=1e-12)
    np.testing.assert_allclose(
        np.asarray(net.results["attn.grad_output"], dtype=float), grad, rtol=1e-12, atol=1e-15
    )
