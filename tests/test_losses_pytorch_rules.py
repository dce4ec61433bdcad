"""PyTorch's loss rules pinned by numbers worked by hand.

Logits log 3 and 0 give p = (3/4, 1/4); equal logits give p = 1/2 each, so
every loss below is a short sum of log(4/3), log 4 and log 2.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from gradcalc.core import registry
from gradcalc.core.errors import SpecError
from gradcalc.core.spec import SolveOptions

LOG3 = math.log(3)
L43, L4, L2 = math.log(4 / 3), math.log(4), math.log(2)


def solve(**spec: Any):
    return registry.solve(spec, SolveOptions(), command_kind="loss")


def loss_of(solution) -> Any:
    return solution.results["loss"][()]


def grad(solution) -> list[Any]:
    return np.asarray(solution.results["grad_input"], dtype=object).tolist()


def approx(value: Any) -> Any:
    return pytest.approx(value, rel=1e-12, abs=1e-12)


# ---------------------------------------------------------------------------
# cross_entropy: reductions and class weights


def test_seed003_problem2_rule() -> None:
    """L = −log p_gt, ∂L/∂s_i = p_i − 1[i = gt]."""
    solution = solve(loss="cross_entropy", input=[LOG3, 0], target=0)
    assert loss_of(solution) == approx(L43)
    assert grad(solution) == approx([3 / 4 - 1, 1 / 4])
    assert solution.results["probabilities"].tolist() == approx([3 / 4, 1 / 4])


def test_weighted_mean_divides_by_the_weights_of_the_counted_samples() -> None:
    """ℓ_0 = 1·log(4/3), ℓ_1 = 3·log 2; mean = (ℓ_0 + ℓ_1)/(w_0 + w_1) = …/4, not …/2."""
    spec = dict(loss="cross_entropy", input=[[LOG3, 0], [0, 0]], target=[0, 1], weight=[1, 3])
    mean = solve(**spec)
    assert loss_of(mean) == approx((L43 + 3 * L2) / 4)
    # w[gt]·(p − onehot)/Σw: (1·(3/4 − 1, 1/4), 3·(1/2, 1/2 − 1))/4
    assert grad(mean) == [approx([-1 / 16, 1 / 16]), approx([3 / 8, -3 / 8])]
    total = solve(**spec, reduction="sum")
    assert loss_of(total) == approx(L43 + 3 * L2)
    assert grad(total) == [approx([-1 / 4, 1 / 4]), approx([3 / 2, -3 / 2])]


def test_unweighted_mean_divides_by_the_number_of_samples() -> None:
    solution = solve(loss="cross_entropy", input=[[LOG3, 0], [0, 0]], target=[0, 1])
    assert loss_of(solution) == approx((L43 + L2) / 2)


def test_one_weighted_sample_divides_its_weight_back_out() -> None:
    assert loss_of(solve(loss="cross_entropy", input=[LOG3, 0], target=0, weight=[5, 1])) == approx(
        L43
    )
    total = solve(loss="cross_entropy", input=[LOG3, 0], target=0, weight=[5, 1], reduction="sum")
    assert loss_of(total) == approx(5 * L43)


# ---------------------------------------------------------------------------
# ignore_index


def test_ignored_sample_is_left_out_of_the_mean_and_the_gradient() -> None:
    solution = solve(loss="cross_entropy", input=[[LOG3, 0], [5, -5]], target=[0, -100])
    assert loss_of(solution) == approx(L43)  # divided by 1 counted sample, not 2
    assert grad(solution) == [approx([-1 / 4, 1 / 4]), [0.0, 0.0]]


def test_ignore_index_may_be_a_real_class() -> None:
    solution = solve(loss="cross_entropy", input=[[LOG3, 0], [0, 0]], target=[0, 1], ignore_index=1)
    assert loss_of(solution) == approx(L43)
    weighted = solve(
        loss="cross_entropy", input=[[LOG3, 0], [0, 0]], target=[0, -100], weight=[2, 5]
    )
    assert loss_of(weighted) == approx(L43)  # 2·log(4/3) / 2


def test_every_sample_ignored_is_an_error_for_mean_but_zero_for_sum() -> None:
    spec = dict(loss="cross_entropy", input=[[1, 2], [3, 4]], target=[-100, -100])
    with pytest.raises(SpecError, match="divides by 0"):
        solve(**spec)
    assert loss_of(solve(**spec, reduction="sum")) == 0


# ---------------------------------------------------------------------------
# label smoothing


def test_label_smoothing_with_a_class_index() -> None:
    """ε = 0.2, C = 2: a = (0.8 + 0.1, 0.1); L = 0.9·log(4/3) + 0.1·log 4; ∂L/∂s = p − a."""
    solution = solve(loss="cross_entropy", input=[LOG3, 0], target=0, label_smoothing=0.2)
    assert loss_of(solution) == approx(0.9 * L43 + 0.1 * L4)
    assert grad(solution) == approx([3 / 4 - 0.9, 1 / 4 - 0.1])


def test_label_smoothing_with_weights() -> None:
    """a_c = (1 − ε)·w_gt·1[c = gt] + (ε/C)·w_c = (0.9, 0.3); D = w_gt = 1; ∂ℓ/∂s = 1.2·p − a = 0."""
    solution = solve(
        loss="cross_entropy", input=[LOG3, 0], target=0, label_smoothing=0.2, weight=[1, 3]
    )
    assert loss_of(solution) == approx(0.9 * L43 + 0.3 * L4)
    assert grad(solution) == approx([0.0, 0.0])


def test_label_smoothing_weighted_batch_mean() -> None:
    """Sample 0 (gt 0): a = (0.9, 0.3); sample 1 (gt 1, w 3): a = (0.1, 2.7); D = 1 + 3."""
    solution = solve(
        loss="cross_entropy",
        input=[[LOG3, 0], [0, 0]],
        target=[0, 1],
        weight=[1, 3],
        label_smoothing=0.2,
    )
    assert loss_of(solution) == approx((0.9 * L43 + 0.3 * L4 + 2.8 * L2) / 4)


def test_full_smoothing_ignores_the_target() -> None:
    solution = solve(loss="cross_entropy", input=[LOG3, 0], target=0, label_smoothing=1)
    assert loss_of(solution) == approx((L43 + L4) / 2)


# ---------------------------------------------------------------------------
# probability targets


def test_probability_targets_mean_divides_by_n_even_with_weights() -> None:
    """ℓ = (1·log 2, 3·log 2); mean = 4·log 2 / N = 2·log 2 (class indices would give log 2)."""
    probabilities = solve(
        loss="cross_entropy", input=[[0, 0], [0, 0]], target=[[1, 0], [0, 1]], weight=[1, 3]
    )
    assert loss_of(probabilities) == approx(2 * L2)
    indices = solve(loss="cross_entropy", input=[[0, 0], [0, 0]], target=[0, 1], weight=[1, 3])
    assert loss_of(indices) == approx(L2)


def test_probability_target_with_smoothing() -> None:
    """t' = (1 − ε)·t + ε/C = (0.5, 0.5) for t = (0.5, 0.5); ∂L/∂s = p − t'."""
    solution = solve(loss="cross_entropy", input=[LOG3, 0], target=[0.5, 0.5], label_smoothing=0.5)
    assert loss_of(solution) == approx(0.5 * L43 + 0.5 * L4)
    assert grad(solution) == approx([0.25, -0.25])


def test_seed001_distribution_form() -> None:
    """L = −Σ t_i·s_i + log Σ_j exp(s_j) when Σ t = 1 (seed 001)."""
    s, t = [1.0, 2.0, 0.0], [0.25, 0.5, 0.25]
    solution = solve(loss="cross_entropy", input=s, target=t)
    want = -sum(a * b for a, b in zip(s, t, strict=True)) + math.log(sum(map(math.exp, s)))
    assert loss_of(solution) == approx(want)


# ---------------------------------------------------------------------------
# large logits


def test_logits_of_1000_do_not_overflow() -> None:
    wrong = solve(loss="cross_entropy", input=[1000, 0], target=1)
    assert loss_of(wrong) == approx(1000.0)
    assert grad(wrong) == approx([1.0, -1.0])
    right = solve(loss="cross_entropy", input=[1000, 0, -1000], target=0)
    assert loss_of(right) == 0.0
    assert all(math.isfinite(v) for v in grad(right))
    logits = solve(loss="bce_with_logits", input=[1000, -1000], target=[0, 1])
    assert loss_of(logits) == approx(1000.0)
    assert grad(logits) == approx([0.5, -0.5])


# ---------------------------------------------------------------------------
# nll (exact), mse (exact), bce, bce_with_logits


def test_nll_weighted_mean_is_exact() -> None:
    """ℓ_0 = −w_1·x_01 = 2, ℓ_1 = −w_0·x_10 = 6; L = 8/(w_1 + w_0) = 8/3."""
    spec = dict(loss="nll", input=[[-1, -2], [-3, -4]], target=[1, 0], weight=[2, 1])
    solution = solve(**spec)
    assert solution.exact and "probabilities" not in solution.results
    assert loss_of(solution) == Fraction(8, 3)
    assert grad(solution) == [[0, Fraction(-1, 3)], [Fraction(-2, 3), 0]]
    total = solve(**spec, reduction="sum")
    assert loss_of(total) == 8
    assert grad(total) == [[0, -1], [-2, 0]]


def test_mse_mean_is_over_every_entry() -> None:
    spec = dict(loss="mse", input=[[1, 2], [3, 4]], target=[[0, 0], [0, 0]])
    mean = solve(**spec)
    assert loss_of(mean) == Fraction(15, 2)  # (1 + 4 + 9 + 16)/4
    assert grad(mean) == [[Fraction(1, 2), 1], [Fraction(3, 2), 2]]  # 2x/4
    total = solve(**spec, reduction="sum")
    assert loss_of(total) == 30
    assert grad(total) == [[2, 4], [6, 8]]


def test_bce_by_hand_and_at_the_edges() -> None:
    half = solve(loss="bce", input=[0.5, 0.5], target=[1, 0])
    assert loss_of(half) == approx(L2)
    assert grad(half) == approx([-1.0, 1.0])  # (x − t)/(x(1 − x))/2
    edges = solve(loss="bce", input=[0, 1, 1], target=[1, 1, 0], reduction="sum")
    # log 0 is clamped at −100; x(1 − x) = 0 at 1e-12 held as a float32, as PyTorch does.
    assert loss_of(edges) == approx(200.0)
    epsilon = float(np.float32(1e-12))
    assert grad(edges) == approx([-1 / epsilon, 0.0, 1 / epsilon])
    assert edges.gradient_check is None  # every entry sits on an edge of the domain
    weighted = solve(loss="bce", input=[[0.5, 0.5]], target=[[1, 1]], weight=[2, 4])
    assert loss_of(weighted) == approx(3 * L2)  # (2 + 4)·log 2 / 2


def test_bce_with_logits_by_hand() -> None:
    solution = solve(loss="bce_with_logits", input=[0, LOG3], target=[1, 0], weight=2)
    # ℓ_0 = 2·log 2; ℓ_1 = 2·(log 3 + log(1 + 1/3)) = 2·log 4; σ(log 3) = 3/4
    assert loss_of(solution) == approx((2 * L2 + 2 * L4) / 2)
    assert grad(solution) == approx([2 * (0.5 - 1) / 2, 2 * 0.75 / 2])
    assert solution.results["probabilities"].tolist() == approx([0.5, 0.75])
