"""Finite differences for a pool problem: the analytic ∂L/∂x against float64 central
differences of L = Σ upstream ⊙ pool(x), on the entries where pooling is differentiable.

Arrays are NCHW as in core/kinds/pool.py: input N×C×H×W, window arrays N×C×H_out×W_out×T.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from gradcalc.core.checking import check_gradients_where, near, probes_for
from gradcalc.core.gradcheck import step_for
from gradcalc.core.ops.pool import gather_windows, lp_pool
from gradcalc.core.ops.pool_geometry import TapLayout, avg_divisors, lp_scales
from gradcalc.core.outcome import GradientCheck, Run

if TYPE_CHECKING:  # core/kinds/pool.py imports this module
    from gradcalc.core.kinds.pool import PoolProblem, PoolTrace


def finite_differences(problem: PoolProblem, run: Run) -> GradientCheck | None:
    """∂L/∂x against central differences, skipping ties (max) and LP's kinks; LP windows
    smaller than their entries' own steps shrink the step h (the window's largest |x|)."""
    probe, reason = gradient_probe(problem, run.trace)
    upstream = problem.upstream.astype(float)
    x = problem.input.astype(float)

    def terms(params: Mapping[str, np.ndarray]) -> float:
        # Σ|upstream|·pool(|x|): every term of the loss, also those that cancel through
        # the upstream (1e17·y₁ − 1e17·y₂), as a bound on its rounding.
        sizes = float_output(problem, np.abs(params["input"])).reshape(upstream.shape)
        return float(np.sum(np.abs(upstream) * np.where(np.isfinite(sizes), sizes, 0.0)))

    bend = lp_bend(problem, run.trace.layout) if problem.mode == "lp" else None
    if bend is not None and not np.any(probe & (bend < np.maximum(1.0, np.abs(x)))):
        bend = None  # no window is smaller than its entries' own steps: h as usual
    gradient_check = check_gradients_where(
        lambda params: float(
            np.sum(upstream * float_output(problem, params["input"]).reshape(upstream.shape))
        ),
        {"input": problem.input.astype(float)},
        {"input": run.results["grad_input"]},
        {"input": probe},
        max_entries=probes_for(problem.geometry.work),
        terms=terms,
        bend=None if bend is None else {"input": bend},
        bend_text="the window's largest |x|",
    )
    if gradient_check is not None and reason:
        gradient_check.note = reason
    return gradient_check


def float_output(problem: PoolProblem, x: np.ndarray) -> np.ndarray:
    """The forward pass alone in float64, for finite differences: x in the spec's shape."""
    g = problem.geometry
    layout = problem.layout
    xf = x.reshape(g.batch, g.channels, g.in_h, g.in_w).astype(float)
    if problem.mode == "lp":
        scales = lp_scales(layout.codes, g.taps)
        return lp_pool(gather_windows(xf, layout, 0.0), layout.real, float(problem.p), scales)[0]
    if problem.mode == "max":
        return gather_windows(xf, layout, -np.inf).max(axis=-1)
    divisors = avg_divisors(layout.codes, problem.count_include_pad, problem.divisor_override)
    return gather_windows(xf, layout, 0.0).sum(axis=-1) / divisors


def lp_bend(problem: PoolProblem, layout: TapLayout) -> np.ndarray:
    """Per input cell, the distance over which an LP window's norm bends: the norm
    (Σ|x|^p)^(1/p) has a kink at the all-zero window and curves over its own size, which is
    at least the window's largest |x|; a cell takes the least over the windows it lies in."""
    g = problem.geometry
    x = np.abs(problem.to_nchw(problem.input).astype(float))
    largest = gather_windows(x, layout, 0.0).max(axis=-1, keepdims=True)
    plane = (np.arange(g.batch * g.channels) * g.in_h * g.in_w).reshape(
        g.batch, g.channels, 1, 1, 1
    )
    cells = np.broadcast_to(plane + layout.positions, (*largest.shape[:4], g.taps))
    real = np.broadcast_to(layout.real, cells.shape)
    bend = np.full(x.size, np.inf)
    np.minimum.at(bend, cells[real], np.broadcast_to(largest, cells.shape)[real])
    return bend.reshape(problem.input.shape)


def gradient_probe(problem: PoolProblem, computed: PoolTrace) -> tuple[np.ndarray, str]:
    """Input entries where central differences measure the gradient, and why others are skipped.

    Max is not differentiable at a tie (nor within two steps h = step_for(x) of one); LP not where
    Σ x^p = 0 (PyTorch defines the gradient as 0 there), nor at x = 0 with a
    non-integer p (x − h has no real power).
    """
    g = problem.geometry
    layout = computed.layout
    x = problem.to_nchw(problem.input).astype(float)
    skip = np.zeros(g.batch * g.channels * g.in_h * g.in_w, dtype=bool)
    plane = (np.arange(g.batch * g.channels) * g.in_h * g.in_w).reshape(
        g.batch, g.channels, 1, 1, 1
    )
    cells = plane + layout.positions
    reason = ""
    if problem.mode == "max":
        windows = gather_windows(x, layout, -np.inf)
        top = windows.max(axis=-1, keepdims=True)
        with np.errstate(invalid="ignore"):  # a window of padding alone has top = −∞
            close = (windows >= top - 2 * step_for(top)) & layout.real
        crowded = np.broadcast_to(close.sum(axis=-1, keepdims=True) > 1, close.shape) & close
        skip[cells[crowded]] = True
        reason = "tied maxima skipped: max is not differentiable where two entries tie"
    elif problem.mode == "lp":
        flat_windows = computed.output == 0
        zero_sum = np.broadcast_to(flat_windows[..., None], cells.shape) & layout.real
        skip[cells[zero_sum]] = True
        reasons = []
        if zero_sum.any():
            reasons.append(
                "cells of windows whose Σ x^p = 0 skipped (gradient 0 by PyTorch's rule)"
            )
        if problem.p.denominator != 1:
            at_zero = near(x.ravel(), (0.0,))
            skip |= at_zero
            if at_zero.any():
                reasons.append("cells at 0 skipped (x^p with a non-integer p is not real below 0)")
        reason = "; ".join(reasons)
    probe = ~skip.reshape(problem.input.shape)
    return probe, (reason if not probe.all() else "")
