"""cross_entropy, softmax and log_softmax where a row's top probability is within 2^-20 of 1.

There p_gt − 1, log Z = log(1 + r) and g − p·Σ g cancel in float64 (PyTorch's loss at
s = [40, 0], gt = 0 is 0; true log(1 + e^−40) = 4.248e-18).  Compared with a reference
that evaluates the textbook formulas in mpmath with 50 significant digits to spare beyond
the largest gap between the logits (e^−1400 next to 1 needs 608 digits), so it never
cancels, and with the steps as printed.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import mpmath
from click.testing import CliRunner
from hypothesis import assume, given
from hypothesis import strategies as st
from test_pool_properties import examples, spec_text

from gradcalc.cli.main import main

# Where a form cancels by less than 2^-20 gradcalc keeps PyTorch's float arithmetic, off by
# at most about 2^-53/2^-20 relative; where it cancels more, it takes a form without it.
TOLERANCE = mpmath.mpf(2) ** -32
# A form that still cancels (a smoothed or soft target near p) keeps the rounding of its
# terms: a few units of 2^-53 of their size.
TERM_ROUNDING = mpmath.mpf(2) ** -48
SIGMA_40 = 4.248354255291589e-18  # e^−40/(1 + e^−40)


def solve(kind: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The JSON results of a spec given on stdin (JSON is YAML)."""
    result = CliRunner().invoke(
        main,
        [kind, "--spec", "-", "--format", "json", "--no-gradient-check"],
        input=json.dumps(spec),
        env={"COLUMNS": "200", "NO_COLOR": "1"},
    )
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output)["results"]


def text_of(kind: str, *args: str) -> str:
    result = CliRunner().invoke(main, [kind, *args], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code in (0, 1), result.output
    return result.output


# -- the examples -------------------------------------------------------------------------


def test_cross_entropy_at_a_gap_of_40_keeps_the_tail() -> None:
    found = solve("loss", {"loss": "cross_entropy", "input": [40, 0], "target": 0})
    assert found["loss"] == SIGMA_40  # log1p(e^−40) rounds to e^−40's float
    assert found["grad_input"] == [-SIGMA_40, SIGMA_40]
    text = text_of("loss", "--loss", "cross_entropy", "--input", "[40, 0]", "--target", "0")
    # every step shows the form computed: r, log(1 + r), and 1 − p_0 from the other class
    assert "= exp(0 − 40) = 4.24835e-18" in text
    assert "= log(1 + 4.24835e-18) = 4.24835e-18" in text
    assert "= −40 + 40 + log(1 + 4.24835e-18) = 4.24835e-18" in text
    assert "= 1·4.24835e-18 = 4.24835e-18" in text  # ∂p_0/∂s_0 = p_0·Σ_{j≠0} p_j
    assert "= (−4.24835e-18) = −4.24835e-18" in text
    assert "1·(1 − 1)" not in text and "= 1 − 1 = 0" not in text
    assert "log Z = log(1 + r) is taken as log1p(r)" in " ".join(text.split())


def test_the_written_forms_stay_where_nothing_cancels() -> None:
    text = text_of("loss", "--loss", "cross_entropy", "--input", "[2, 0]", "--target", "0")
    assert "log1p" not in text and "r = " not in text
    assert "= 0.880797 − 1 = −0.119203" in text


def test_softmax_and_log_softmax_at_a_gap_of_40() -> None:
    up = [1, 0]
    soft = solve("softmax", {"input": [40, 0], "upstream": up})
    assert soft["grad_input"] == [SIGMA_40, -SIGMA_40]
    assert soft["jacobian"][0][0] == SIGMA_40  # p_0·(1 − p_0), was 0
    log = solve("softmax", {"function": "log_softmax", "input": [40, 0], "upstream": up})
    assert log["output"][0] == -SIGMA_40  # was 0
    assert log["grad_input"] == [SIGMA_40, -SIGMA_40]
    assert log["jacobian"][0][0] == SIGMA_40  # 1 − p_0


# -- against the reference ------------------------------------------------------------------------


def mp(value: Fraction) -> mpmath.mpf:
    return mpmath.mpf(value.numerator) / value.denominator


def digits_for(rows: list[list[Fraction]]) -> int:
    """Enough digits that 1 − p and log Z do not cancel: e^−gap next to 1, plus 50."""
    gap = max(max(row) - min(row) for row in rows)
    return 60 + int(gap / 2) + 1  # ln 10 > 2


def softmax_reference(row: list[Fraction]) -> tuple[list[Any], list[Any]]:
    """p and log p of one row, as written (exp(s − m)/Σ exp(s − m), s − m − log Σ exp(s − m);
    m = max s, which only keeps log p of a single class at 0 exactly), at the current precision."""
    top = max(row)
    exps = [mpmath.exp(mp(s - top)) for s in row]
    total = mpmath.fsum(exps)
    return [e / total for e in exps], [mp(s - top) - mpmath.log(total) for s in row]


def close(found: float, reference: Any, terms: Any = 0) -> bool:
    """found within TOLERANCE of reference (relative), or within the rounding of terms."""
    error = abs(mpmath.mpf(found) - reference)
    return error <= TOLERANCE * abs(reference) + TERM_ROUNDING * terms or error < 1e-300


LOGIT = st.integers(-70000, 70000).map(lambda k: Fraction(k, 100))


@st.composite
def logit_rows(draw: st.DrawFn, count: int, classes: int) -> list[list[Fraction]]:
    """Rows of logits within ±700, each with its own spread (so some rows have a top far
    above the rest, some ties and near-ties)."""
    rows = []
    for _ in range(count):
        spread = draw(st.sampled_from([Fraction(1), Fraction(30), Fraction(700)]))
        centre = draw(LOGIT)
        row = [
            max(min(centre + spread * draw(st.integers(-100, 100)) / 100, Fraction(700)), -700)
            for _ in range(classes)
        ]
        rows.append(row)
    return rows


@st.composite
def cross_entropy_cases(draw: st.DrawFn) -> dict[str, Any]:
    count, classes = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    rows = draw(logit_rows(count, classes))
    spec: dict[str, Any] = {
        "loss": "cross_entropy",
        "input": [[spec_text(s) for s in row] for row in rows],
        "reduction": draw(st.sampled_from(["mean", "sum"])),
    }
    if draw(st.booleans()):
        shares = [
            draw(st.lists(st.integers(0, 5), min_size=classes, max_size=classes)) for _ in rows
        ]
        assume(all(sum(share) for share in shares))
        spec["target"] = [[spec_text(Fraction(k, sum(share))) for k in share] for share in shares]
    else:
        labels = draw(st.lists(st.integers(0, classes - 1), min_size=count, max_size=count))
        ignored = draw(st.lists(st.booleans(), min_size=count, max_size=count))
        spec["target"] = [
            -100 if skip else label for label, skip in zip(labels, ignored, strict=True)
        ]
    if draw(st.booleans()):
        spec["weight"] = [draw(st.sampled_from([0, 1, 2, "1/3"])) for _ in range(classes)]
    spec["label_smoothing"] = draw(st.sampled_from([0, 0, "1/10", "1/1000000000"]))
    return spec


def coefficients_reference(spec: dict[str, Any], classes: int) -> tuple[list[list[Any]], Any]:
    """a[n][c] and the mean's denominator D, as PyTorch's CrossEntropyLoss defines them."""
    weight = [mp(Fraction(w)) for w in spec.get("weight") or [1] * classes]
    eps = mp(Fraction(spec["label_smoothing"]))
    rows: list[list[Any]] = []
    denominator = mpmath.mpf(0)
    for n, target in enumerate(spec["target"]):
        if isinstance(target, list):  # probabilities
            rows.append(
                [
                    weight[c] * ((1 - eps) * mp(Fraction(target[c])) + eps / classes)
                    for c in range(classes)
                ]
            )
            denominator += 1
        elif target == -100:
            rows.append([mpmath.mpf(0)] * classes)
        else:
            rows.append(
                [
                    (1 - eps) * weight[c] * (c == target) + eps / classes * weight[c]
                    for c in range(classes)
                ]
            )
            denominator += weight[target]
        del n
    return rows, denominator if spec["reduction"] == "mean" else mpmath.mpf(1)


@given(cross_entropy_cases())
@examples(150)
def test_cross_entropy_matches_the_reference(spec: dict[str, Any]) -> None:
    rows = [[Fraction(s) for s in row] for row in spec["input"]]
    classes = len(rows[0])
    with mpmath.workdps(digits_for(rows)):
        a, denominator = coefficients_reference(spec, classes)
        assume(denominator != 0)  # PyTorch's mean divides by 0: a SpecError
        found = solve("loss", spec)
        loss = mpmath.mpf(0)
        for n, row in enumerate(rows):
            p, log_p = softmax_reference(row)
            total = mpmath.fsum(a[n])
            loss += -mpmath.fsum(a[n][c] * log_p[c] for c in range(classes))
            for k in range(classes):
                grad = (total * p[k] - a[n][k]) / denominator
                # the stable form's terms: p_k·Σ_{c≠k} a_c and a_k·(1 − p_k)
                terms = (p[k] * (total - a[n][k]) + a[n][k] * (1 - p[k])) / denominator
                assert close(found["grad_input"][n][k], grad, terms), (n, k, found, grad)
        loss /= denominator
        # −log p ≥ 0 for every class: the loss is a sum of terms of one sign
        assert close(found["loss"], loss), (found["loss"], loss)


@given(st.integers(1, 3), st.integers(1, 4), st.data())
@examples(100)
def test_softmax_and_log_softmax_match_the_reference(count: int, classes: int, data: Any) -> None:
    rows = data.draw(logit_rows(count, classes))
    upstream = [
        [data.draw(st.sampled_from([0, 1, -1, 2, Fraction(1, 3)])) for _ in range(classes)]
        for _ in range(count)
    ]
    log = data.draw(st.booleans())
    spec = {
        "function": "log_softmax" if log else "softmax",
        "input": [[spec_text(s) for s in row] for row in rows],
        "upstream": [[spec_text(Fraction(g)) for g in row] for row in upstream],
    }
    found = solve("softmax", spec)
    with mpmath.workdps(digits_for(rows)):
        for n, row in enumerate(rows):
            p, log_p = softmax_reference(row)
            g = [mp(Fraction(v)) for v in upstream[n]]
            for k in range(classes):
                if log:
                    output = log_p[k]
                    grad = g[k] - p[k] * mpmath.fsum(g)
                    others = mpmath.fsum(abs(g[i]) for i in range(classes) if i != k)
                    terms = abs(g[k]) * (1 - p[k]) + p[k] * others
                else:
                    output = p[k]
                    grad = p[k] * (g[k] - mpmath.fsum(gi * pi for gi, pi in zip(g, p, strict=True)))
                    terms = p[k] * mpmath.fsum(abs(g[k] - g[i]) * p[i] for i in range(classes))
                assert close(found["output"][n][k], output), (n, k, found, output)
                assert close(found["grad_input"][n][k], grad, terms), (n, k, found, grad)


def test_an_underflowed_probability_is_said_to_be_rounded_to_zero() -> None:
    """exp(−799) is below the smallest float64: the step's `= 0` is float64's rounding, said so."""
    text = (
        CliRunner()
        .invoke(
            main,
            ["softmax", "--spec", "-", "--no-gradient-check"],
            input=json.dumps({"kind": "softmax", "input": [0, 800, 1], "upstream": [1, 2, 3]}),
            env={"COLUMNS": "400", "NO_COLOR": "1"},
        )
        .output
    )
    assert "below the smallest float64 (about 4.9e-324) for 2 entries" in text
    calm = (
        CliRunner()
        .invoke(
            main,
            ["softmax", "--spec", "-", "--no-gradient-check"],
            input=json.dumps({"kind": "softmax", "input": [0, 700, 1]}),
            env={"COLUMNS": "400", "NO_COLOR": "1"},
        )
        .output
    )
    assert "smallest float64" not in calm


def test_cross_entropy_says_so_too() -> None:
    text = (
        CliRunner()
        .invoke(
            main,
            ["loss", "--spec", "-", "--no-gradient-check"],
            input=json.dumps(
                {"kind": "loss", "loss": "cross_entropy", "input": [[0, 800, 1]], "target": [0]}
            ),
            env={"COLUMNS": "400", "NO_COLOR": "1"},
        )
        .output
    )
    assert "below the smallest float64 (about 4.9e-324) for 2 entries" in text
