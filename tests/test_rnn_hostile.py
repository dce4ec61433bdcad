"""The rnn kind under hostile input (issue 17 item 1 review): refusals that were missing,
ambiguous symbols, exact numbers that grew without bound, and finite differences whose cost
grew with the sequence length."""

from __future__ import annotations

from pathlib import Path

import pytest
from nn_cli import run_spec, spec_error

from gradcalc.core import registry
from gradcalc.core.spec import SolveOptions

ONE = "weight_ih: [[1, 2]]\nweight_hh: [[1]]\n"
LSTM = "cell: lstm\nweight_ih: [[1], [1], [1], [1]]\nweight_hh: [[1], [1], [1], [1]]\n"
BAD = {
    # PyTorch's nn.RNN reads a 2-D input as one unbatched sequence, gradcalc as one step:
    # batch_first there was silently ignored.
    "batch_first on one step": (
        "input: [[1, 2]]\n" + ONE + "batch_first: true\n",
        (4, 14),
        "batch_first is for a 3-D input (N×T×I); this input is N×I, one step",
    ),
    # o_00 was both the output and the lstm's output gate in the explanation.
    "output named like a gate": (
        LSTM + "input: [[1]]\nnames: {output: o}\n",
        (5, 17),
        "'o' is what the explanation of an lstm writes for a gate; give output another symbol",
    ),
    "input named ai": (
        "input: [[1, 2]]\n" + ONE + "names: {input: ai}\n",
        (4, 16),
        "'ai' is what the explanation of an rnn writes for a pre-activation",
    ),
    "an rnn, not a rnn": (
        "input: [[1, 2]]\n" + ONE + "upstream_c_n: [[1]]\n",
        (4, 15),
        "upstream_c_n is an lstm's cell state; an rnn has none",
    ),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_inputs_give_one_located_line(tmp_path: Path, case: str) -> None:
    text, (line, column), words = BAD[case]
    got_line, got_column, message = spec_error(run_spec(tmp_path, "rnn", text))
    assert (got_line, got_column) == (line, column), message
    assert words in message, message


def test_a_gate_letter_is_free_for_a_cell_without_that_gate(tmp_path: Path) -> None:
    result = run_spec(tmp_path, "rnn", "input: [[1, 2]]\n" + ONE + "names: {output: o}\n")
    assert result.exit_code == 0, result.stderr


def long_relu(steps: int) -> str:
    """A relu rnn whose states gain 7 digits of denominator per step (W_hh = 1/1000003)."""
    return (
        "nonlinearity: relu\ninput: ["
        + ", ".join("[[1]]" for _ in range(steps))
        + "]\nweight_ih: [[1]]\nweight_hh: [[1/1000003]]\n"
    )


def test_exact_relu_states_are_capped_in_digits(tmp_path: Path) -> None:
    """Exact states grew without bound (T = 100,000 steps of W_hh = 1/3 held 3 GB): the
    run now stops at EXACT_DIGITS with the hint, and --float runs it."""
    result = run_spec(tmp_path, "rnn", long_relu(400))
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr
    assert "hidden states of more than 1,000 digits after" in result.stderr
    assert "rerun with --float" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert run_spec(tmp_path, "rnn", long_relu(400), "--float").exit_code == 0
    assert run_spec(tmp_path, "rnn", long_relu(100)).exit_code == 0


def test_finite_differences_of_a_long_sequence_probe_few_entries() -> None:
    """Every probe is two passes over all T steps: a long sequence probes few entries."""
    spec = {"kind": "rnn", "input": [[[1]]] * 5000, "weight_ih": [[1]], "weight_hh": [["1/2"]]}
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    check = solution.gradient_check
    assert check.ok and check.entries_checked <= 2 * 4 + 2, check


def test_index_base_1_counts_steps_from_1_everywhere(tmp_path: Path) -> None:
    """The steps printed t = 1, 2 under 'Forward: every step, t = 0 … T−1', h0 was called
    h_(−1) and the initial state 'what step 0 sends back'; relu′(0) is now stated."""
    text = (
        "nonlinearity: relu\nindex_base: 1\ninput: [[[1]], [[-1]]]\n"
        "weight_ih: [[1]]\nweight_hh: [[1]]\n"
    )
    result = run_spec(tmp_path, "rnn", text, "--width", "100")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for words in (
        "Forward: every step, t = 1 … T",
        "Backward through time: t = T down to 1",
        "sums over t = 1 … T",
        "h_0 is h0",
        "what step 1 sends back",
        "relu′(0) is taken as 0, as PyTorch does",
    ):
        assert words in out, words
    assert "T−1" not in out and "h_(−1)" not in out and "σ(a)" not in out


def test_a_float64_sum_that_cancels_is_shown_with_the_operands_it_used(tmp_path: Path) -> None:
    """ai = (1/3)·(1/2) + 1·(−1/2) + 1/3 is 0 exactly but −5.55e-17 in float64: written with
    the spec's exact fractions it was a false equation; the float64 operands make it true."""
    from test_displayed_equations import audit

    path = tmp_path / "cancel.yaml"
    path.write_text(
        "kind: rnn\ninput: [[1/3, 1]]\nweight_ih: [[1/2, -1/2]]\nweight_hh: [[1]]\n"
        "bias_ih: [1/3]\n",
        encoding="utf-8",
    )
    problems, equations, _, _ = audit(path)
    assert equations and problems == [], problems


def test_forgetting_step_t_plus_1_still_gives_h0_what_the_first_step_sends() -> None:
    """cs231n's slip (dh[t] instead of dh[t] + dprev_h) still returns dh0 = what step 0
    sends back; the slip model gave ∂L/∂h0 = 0 always, so any all-zero answer was
    'diagnosed' and the real slip's ∂L/∂h0 was not."""
    import numpy as np

    from gradcalc.core.kinds.rnn_extras import slipped

    spec = {
        "kind": "rnn",
        "input": [[[1, 0]], [[0, 1]], [[-1, 1]]],
        "weight_ih": [["1/2", -1], [1, "1/2"]],
        "weight_hh": [["1/2", 0], ["-1/2", "1/2"]],
        "h0": [["1/2", -1]],
    }
    x = np.array([[[1, 0]], [[0, 1]], [[-1, 1]]], dtype=float)
    w_ih, w_hh = np.array([[0.5, -1], [1, 0.5]]), np.array([[0.5, 0], [-0.5, 0.5]])
    h = [np.array([[0.5, -1.0]])]
    for t in range(3):
        h.append(np.tanh(x[t] @ w_ih.T + h[-1] @ w_hh.T))
    da0 = np.ones((1, 2)) * (1 - h[1] ** 2)  # step 0 with its own upstream (ones) only
    got = slipped(spec, "next")["grad_h0"]
    assert np.allclose(got, da0 @ w_hh) and np.abs(got).max() > 0.1
    lstm = {
        **spec,
        "cell": "lstm",
        "weight_ih": [[1, 0], [0, 1], [1, 1], [-1, 1]] * 2,
        "weight_hh": [[1, 0], [0, 1], [1, 1], [-1, 1]] * 2,
        "c0": [[1, -1]],
    }
    assert np.abs(slipped(lstm, "next")["grad_c0"]).max() > 0.01


def test_exact_products_run_on_integers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A relu rnn's matrix products go through core/exact.py (integers, EXACT_COST), not
    Fraction objects one by one (29 s → 3.4 s for a 200×200 layer at the exact-work limit)."""
    from fractions import Fraction

    from gradcalc.core.ops import recurrent

    calls = []
    real = recurrent.bilinear_exact
    monkeypatch.setattr(
        recurrent, "bilinear_exact", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    spec = {
        "kind": "rnn",
        "nonlinearity": "relu",
        "input": [[[1, "1/3"]], [["-1/2", 2]]],
        "weight_ih": [["1/3", 1], [-1, "1/2"]],
        "weight_hh": [[1, "1/7"], ["1/2", -1]],
    }
    solution = registry.solve(spec, SolveOptions(sections=frozenset()))
    assert solution.exact and calls
    assert solution.gradient_check.ok
    grads = solution.results["grad_weight_hh"]
    assert all(isinstance(v, (int, Fraction)) for row in grads for v in row)


def test_every_inline_help_example_runs() -> None:
    """`gradcalc rnn --help` showed `--input "1 -1"`, a 1-D input that rnn refuses (exit 2).
    Every kind's help example that gives its values inline (no --spec file) must run."""
    import shlex

    from nn_cli import run

    from gradcalc.core.kinds.catalog import OPS

    inline = [
        example
        for entry in OPS.values()
        for example in entry.examples
        if "--spec" not in example and ">" not in example and "--export" not in example
    ]
    assert any(example.startswith("gradcalc rnn") for example in inline)
    for example in inline:
        result = run(*shlex.split(example)[1:])
        assert result.exit_code in (0, 1), (example, result.stderr)


def test_random_rnn_help_names_no_empty_variant_list() -> None:
    """Every rnn variant may be irrational: the help said 'small fractions for cell ;'."""
    from nn_cli import run

    result = run("random", "rnn", "--help")
    text = " ".join(result.stdout.split())
    assert result.exit_code == 0 and "for cell ;" not in text
    assert "Answers are exact where they can be; irrational ones (tanh, σ, exp, log)" in text


def test_a_net_layer_named_like_a_gate_is_refused_at_the_layer(tmp_path: Path) -> None:
    text = (
        "kind: net\ninput: [[[1, 2]], [[1, -1]]]\nlayers:\n  - type: rnn\n    name: o\n"
        "    cell: lstm\n    weight_ih: [[1, 0], [0, 1], [1, 1], [-1, 1]]\n"
        "    weight_hh: [[1], [0], [1], [-1]]\n"
    )
    line, column, message = spec_error(run_spec(tmp_path, "net", text))
    assert (line, column) == (4, 5), message
    assert "'o' is what the explanation of an lstm writes for a gate" in message
    assert "a layer's name is its output's symbol" in message
