"""--float sums of products: each displayed sum has the sign (and zero-ness) its products add to.

A float64 matrix product adds an entry's products in an order of its own; where they cancel,
what is left (−3.3e-18 or 0) depended on that order, and the explanation, adding the same
products left to right, could show ``… = 0`` for a result of −3.3e-18 (core/ops/faithful.py).
Random problems of the kinds whose sums are matrix products run here with entries such as
3/10 and 1/3, which float64 does not hold exactly, through the displayed-equation audit
against the --float run's own results, and each sum's value against ``math.fsum`` of the
products it shows.
"""

from __future__ import annotations

import json
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from equation_truth import check_report, summary
from test_displayed_equations import gradcalc, symbol_names

from gradcalc.cli.spec_loader import load_file
from gradcalc.core import registry
from gradcalc.core.explain import SumOfProducts
from gradcalc.core.ops import faithful
from gradcalc.core.spec import SolveOptions

# kind -> its `gradcalc random` options: a batch and channels make ∂L/∂w and col2im's sums
# run over several items and taps.
KINDS = {
    "conv": [],
    "conv batch": ["--batch", "2", "--channels", "2"],
    "conv_transpose": ["--batch", "2", "--channels", "2"],
    "dense": [],
    "attention": [],
    "rnn": [],
}
SEEDS = range(6)
NUMBER = re.compile(r"(?<![\w./])(-?[1-9]\d*)(?![\w./])")


def tenths(spec: str) -> str:
    """The spec with each nonzero integer of its matrix rows as tenths (3 -> 3/10), its
    expected answers dropped (they were for the integers)."""
    spec = re.sub(r"(?ms)^expected:.*", "", spec)
    rows = (
        NUMBER.sub(r"\1/10", line) if line.lstrip().startswith("- [") else line
        for line in spec.splitlines()
    )
    return "\n".join(rows) + "\n"


def float_problem(tmp_path: Path, case: str, seed: int) -> Path:
    path = tmp_path / f"{case.replace(' ', '_')}{seed}.yaml"
    kind = case.split()[0]
    gradcalc("random", kind, "--seed", str(seed), *KINDS[case], "--output", str(path), "--force")
    path.write_text(tenths(path.read_text()))
    return path


def shown_products(step: SumOfProducts) -> list[float]:
    products = [math.prod(float(value) for _, value in term.factors) for term in step.terms]
    if step.constant is not None:
        products.append(float(step.constant[1]))
    return products


def sign(value: float) -> int:
    return (value > 0) - (value < 0)


def test_a_cancelling_product_is_the_exact_sum_rounded() -> None:
    a = np.array([[0.1, 0.2, -0.3], [1.0, 2.0, 3.0]])
    b = np.ones((3, 1))
    exact = sum(Fraction(x) for x in (0.1, 0.2, -0.3))
    got = faithful.matmul(a, b)
    assert got[0, 0] == float(exact) == math.fsum([0.1, 0.2, -0.3])
    assert got[1, 0] == 6.0
    assert faithful.matmul(a.astype(object), b.astype(object))[0, 0] == 0.1 + 0.2 - 0.3


@pytest.mark.parametrize("case", KINDS)
def test_every_float_sum_has_the_sign_of_its_products(tmp_path: Path, case: str) -> None:
    wrong = []
    for seed in SEEDS:
        spec = load_file(str(float_problem(tmp_path, case, seed))).data
        solution = registry.solve(spec, SolveOptions(force_float=True, steps=None))
        for section in solution.sections:
            for step in section.items:
                if not isinstance(step, SumOfProducts) or step.omitted:
                    continue
                total = math.fsum(shown_products(step))
                if sign(total) != sign(float(step.value)):
                    wrong.append(f"seed {seed}: {step.target.text} = {step.value}, not {total}")
    assert not wrong, "\n".join(wrong[:5])


@pytest.mark.parametrize("case", KINDS)
def test_every_float_step_is_true(tmp_path: Path, case: str) -> None:
    for seed in SEEDS[:3]:
        path = float_problem(tmp_path, case, seed)
        data = load_file(str(path)).data
        markdown = gradcalc("run", str(path), "--format", "markdown", "--steps", "all", "--float")
        answer = json.loads(gradcalc("run", str(path), "--format", "json", "--float"))
        report = check_report(
            markdown,
            results=answer["results"],
            names=symbol_names(data),
            index_base=int(data.get("index_base", 0)),
        )
        assert report.equations, "no equation found"
        assert not report.problems, f"seed {seed}:\n" + summary(report.problems)
