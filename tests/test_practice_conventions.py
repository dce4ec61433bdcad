"""`gradcalc random`: every spec states the conventions its answers depend on, and a max
pool's problems have no tied window unless `--ties` asks for them (issue 18, item 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result

from gradcalc.cli.main import main
from gradcalc.cli.spec_loader import load_file
from gradcalc.core import practice

ENV = {"COLUMNS": "120", "NO_COLOR": "1", "FORCE_COLOR": None}
SEEDS = range(1, 61)


def gradcalc(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), env=ENV, catch_exceptions=False)


def generate(tmp_path: Path, *args: str, name: str = "prob.yaml") -> dict[str, Any]:
    """Write `gradcalc random ARGS` to a file; its data as the project's loader reads it."""
    path = tmp_path / name
    result = gradcalc("random", *args, "--output", str(path), "--force")
    assert result.exit_code == 0, result.output
    return load_file(str(path)).data


def pairs(value: Any) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def windows(spec: dict[str, Any]) -> list[tuple[int, slice, slice]]:
    """(plane, rows, cols) of each window's input cells (padding left out), written out
    independently of gradcalc: floor mode, no dilation."""
    x = np.array(spec["input"])
    (kh, kw), (sh, sw) = pairs(spec["size"]), pairs(spec["stride"])
    ph, pw = pairs(spec.get("padding", 0))
    height, width = x.shape[-2:]
    found = []
    for plane in range(int(np.prod(x.shape[:-2], dtype=int))):
        for top in range(-ph, height + ph - kh + 1, sh):
            for left in range(-pw, width + pw - kw + 1, sw):
                rows = slice(max(top, 0), min(top + kh, height))
                cols = slice(max(left, 0), min(left + kw, width))
                found.append((plane, rows, cols))
    return found


def planes(spec: dict[str, Any]) -> np.ndarray:
    x = np.array(spec["input"])
    return x.reshape(-1, *x.shape[-2:])


def tied_windows(spec: dict[str, Any]) -> int:
    x = planes(spec)
    return sum(
        int(np.count_nonzero(x[p][r, c] == x[p][r, c].max()) > 1) for p, r, c in windows(spec)
    )


def all_maxima_gradient(spec: dict[str, Any]) -> np.ndarray:
    """∂L/∂x under "all maxima": each window's upstream value to every cell holding its max."""
    x = planes(spec)
    upstream = np.array(spec["upstream"]).reshape(-1)
    grad = np.zeros_like(x)
    for (p, r, c), u in zip(windows(spec), upstream, strict=True):
        window = x[p][r, c]
        grad[p][r, c] += np.where(window == window.max(), u, 0)
    return grad.reshape(np.shape(spec["input"]))


# -- ties ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_max_pool_draws_no_tied_window_and_says_ties(tmp_path: Path, seed: int) -> None:
    data = generate(tmp_path, "pool", "--mode", "max", "--seed", str(seed))
    assert data["ties"] == "first"
    assert tied_windows(data) == 0
    # No tie: the all-maxima rule a course may teach gives the key's answer too.
    assert np.array_equal(all_maxima_gradient(data), data["expected"]["grad_input"])


@pytest.mark.parametrize(
    "sizes",
    [
        ("--size", "12", "--window", "3", "--stride", "1", "--channels", "4"),
        ("--size", "5", "--window", "3", "--stride", "2", "--padding", "1"),
        ("--size", "6x5", "--window", "2x3", "--stride", "1x2"),
    ],
)
def test_no_tied_window_at_any_size(tmp_path: Path, sizes: tuple[str, ...]) -> None:
    for seed in ("1", "2", "3"):
        data = generate(tmp_path, "pool", "--mode", "max", "--seed", seed, *sizes)
        assert data["ties"] == "first" and tied_windows(data) == 0
        assert gradcalc("run", str(tmp_path / "prob.yaml")).exit_code == 0


def test_ties_all_key_is_the_all_maxima_answer(tmp_path: Path) -> None:
    with_ties = 0
    for seed in SEEDS:
        data = generate(tmp_path, "pool", "--seed", str(seed), "--ties", "all")
        assert data["mode"] == "max" and data["ties"] == "all"
        assert "ties: all" in data["title"]
        with_ties += tied_windows(data) > 0
        key = data["expected"]
        assert "argmax" not in key  # one index per window: only ties: first has one
        assert np.array_equal(all_maxima_gradient(data), key["grad_input"])
        solved = gradcalc("pool", "--spec", str(tmp_path / "prob.yaml"), "--format", "json")
        assert solved.exit_code == 0, solved.output
    assert with_ties > 20  # ties are allowed, and the draws have them


@pytest.mark.parametrize("rule", ["first", "split"])
def test_other_tie_rules_are_written_and_check(tmp_path: Path, rule: str) -> None:
    spec, key = tmp_path / "prob.yaml", tmp_path / "key.yaml"
    for seed in ("1", "4", "9"):
        args = ("random", "pool", "--seed", seed, "--ties", rule, "--output", str(spec))
        made = gradcalc(*args, "--answers", str(key), "--force")
        assert made.exit_code == 0, made.output
        data = load_file(str(spec)).data
        assert data["ties"] == rule
        assert ("argmax" in load_file(str(key)).data["answers"]) == (rule == "first")
        checked = gradcalc("check", str(key))
        assert checked.exit_code == 0, checked.output


@pytest.mark.parametrize("args", [("--mode", "max"), ("--ties", "all"), ("--ties", "none")])
def test_same_seed_same_output(args: tuple[str, ...]) -> None:
    first = gradcalc("random", "pool", "--seed", "17", *args)
    again = gradcalc("random", "pool", "--seed", "17", *args)
    assert first.exit_code == 0 and first.output == again.output
    assert "--ties" in first.output.splitlines()[0]


def test_ties_is_a_max_pool_option_only() -> None:
    refused = gradcalc("random", "pool", "--mode", "avg", "--ties", "all")
    assert refused.exit_code == 2 and "ties" in refused.output
    assert gradcalc("random", "pool", "--ties", "some").exit_code == 2
    help_text = gradcalc("random", "pool", "--help").output
    assert "--ties" in help_text and "none draws no tied window" in help_text


def test_the_seed_stream_of_a_max_pool_is_pinned() -> None:
    problem = practice.make_problem("pool", 3, {"mode": "max"})
    assert problem.spec["input"] == [[0, 2, 7, 6], [8, 6, 3, 6], [5, 1, 6, 2], [2, 4, 3, 7]]


# -- the other conventions -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "key", "value"),
    [
        (("loss", "--loss", "mse"), "reduction", "mean"),
        (("loss", "--loss", "cross_entropy", "--reduction", "sum"), "reduction", "sum"),
        (("dense",), "layout", "column"),
        (("dense", "--layout", "row"), "layout", "row"),
        (("pool", "--mode", "max"), "ties", "first"),
        (("conv",), "flip_kernel", False),
        (("activation", "--function", "relu"), "subgradient_at_zero", 0),
        (
            ("activation", "--function", "leaky_relu", "--alpha", "1/4"),
            "subgradient_at_zero",
            "1/4",
        ),
        (("pool", "--mode", "avg", "--padding", "1"), "count_include_pad", True),
        (("pool", "--mode", "max", "--size", "5"), "ceil_mode", False),
        (("pool", "--mode", "lp", "--size", "5x4", "--window", "3"), "ceil_mode", False),
    ],
)
def test_every_convention_is_written_even_at_its_default(
    tmp_path: Path, args: tuple[str, ...], key: str, value: Any
) -> None:
    for seed in ("0", "5"):
        assert generate(tmp_path, *args, "--seed", seed)[key] == value


def test_rules_that_cannot_matter_are_left_out(tmp_path: Path) -> None:
    """ceil_mode when the windows tile the input; count_include_pad without padding."""
    data = generate(tmp_path, "pool", "--mode", "avg", "--seed", "2")
    assert "ceil_mode" not in data and "count_include_pad" not in data
    # α = 1: leaky_relu is the identity, with no kink to choose a slope at.
    data = generate(
        tmp_path, "activation", "--function", "leaky_relu", "--alpha", "1", "--seed", "1"
    )
    assert "subgradient_at_zero" not in data


@pytest.mark.parametrize(
    "args",
    [
        ("conv", "--seed", "3"),
        ("activation", "--function", "relu", "--seed", "4"),
        ("activation", "--function", "leaky_relu", "--seed", "4"),
        ("pool", "--mode", "avg", "--padding", "1", "--seed", "4"),
        ("pool", "--mode", "lp", "--size", "5", "--seed", "4"),
    ],
)
def test_a_spec_stating_its_rules_still_runs(tmp_path: Path, args: tuple[str, ...]) -> None:
    generate(tmp_path, *args)
    assert gradcalc("run", str(tmp_path / "prob.yaml")).exit_code == 0


def test_max_pool_sizes_that_make_no_problem_are_one_line() -> None:
    refused = gradcalc("random", "pool", "--mode", "max", "--window", "2", "--padding", "2")
    assert refused.exit_code == 2 and "more than half the window" in refused.output
