"""A pool spec: how it is read (``read(spec, limits) -> PoolProblem``) and run
(``run(problem, options)``, ``finite_differences(problem, run)``, ``focus_target``) for
core/solve.py (the last two live in core/kinds/pool_gradcheck.py and core/kinds/fields.py, the
Jacobian and argmax results in core/kinds/pool_results.py, what read() refuses beyond a
field's own range in core/kinds/pool_checks.py) and its usual mistakes
(``usual_mistakes(spec)``, for ``gradcalc check``); its practice profile (``PRACTICE``, for
``gradcalc random``) is core/kinds/pool_practice.py, named in its catalog entry (``parts``).

A pool problem is one 2-D pooling (PyTorch's MaxPool2d, AvgPool2d, LPPool2d) of an input
``x`` (H×W, C×H×W or N×C×H×W).  Arrays are NCHW inside: input N×C×H×W, output
N×C×H_out×W_out; a window's taps lie on one last axis of T = kh·kw entries in row-major
order, so "window arrays" are N×C×H_out×W_out×T (core/ops/pool_geometry.py).

Backward is the same for every mode once each tap's local derivative ∂y/∂x (its
*weight*) is known: ∂L/∂x = Σ over the windows that read a cell of upstream·weight, so
overlapping windows add up.  Max routes to the maximum (weights 1, or 1/k between k tied
maxima, by the tie policy), avg divides by the window's divisor, LP uses x^(p−1)/y^(p−1).
The array code is the max_pool, avg_pool and lp_pool ops (core/ops/pool.py), run through
core/ops/adapter.py, which makes max and avg exact (on integers) and runs LP in float64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds.fields import focus_target as focus_target
from gradcalc.core.kinds.fields import (
    pair_as_written,
    read_choice,
    read_int,
    read_pair,
    refuse_pair_text,
)
from gradcalc.core.kinds.pool_checks import (
    check_every_window_reads_input,
    check_lp_domain,
    check_windows_fit,
    pair_text,
    read_pool_input,
)
from gradcalc.core.kinds.pool_results import argmax_result, jacobian_input
from gradcalc.core.kinds.symbolic_fields import answer_names, naming
from gradcalc.core.ops import adapter
from gradcalc.core.ops.pool import AVG_POOL, LP_POOL, MAX_POOL
from gradcalc.core.ops.pool_geometry import (
    PoolGeometry,
    TapLayout,
    avg_divisors,
    lp_scales,
    tap_layout,
)
from gradcalc.core.outcome import GradientCheck, Run
from gradcalc.core.records import record
from gradcalc.core.values import MAX_INDEX, looks_numeric, parse_bool, parse_number
from gradcalc.core.words import plain

if TYPE_CHECKING:  # imported when --focus is used, and by usual_mistakes (start-up cost)
    from gradcalc.core.kinds.focus import Focusable
    from gradcalc.core.kinds.mistakes import Variant as Mistake

# ---------------------------------------------------------------------------
# Reading


KIND = "pool"
KEYS = registry.field_names(KIND)
MODES = registry.choices(KIND, "mode")
TIE_POLICIES = registry.choices(KIND, "ties")
# Keys that only some modes have (as in PyTorch: AvgPool2d has no dilation, LPPool2d no padding).
MODE_KEYS = {
    "dilation": ("max",),
    "ties": ("max",),
    "padding": ("max", "avg"),
    "count_include_pad": ("avg",),
    "divisor_override": ("avg",),
    "p": ("lp",),
}
NAME_DEFAULTS = {"input": "x", "output": "y", "loss": "L"}
# Every result a pool problem can have (argmax only for mode max).
RESULTS = ("output", "output_shape", "grad_input", "argmax", "jacobian_input")
SECTIONS = registry.sections(KIND)


@record
class PoolProblem:
    """A validated pool spec.  ``input``/``upstream`` are object arrays of Fractions in
    the spec's own shapes; ``input_axes`` names those axes (n, c, row, col or a suffix)."""

    title: str | None
    mode: str
    input: np.ndarray
    geometry: PoolGeometry
    size_text: str
    stride_given: bool
    ties: str
    count_include_pad: bool
    divisor_override: int | None
    p: Fraction | None
    upstream: np.ndarray
    upstream_given: bool
    names: dict[str, str]
    index_base: int
    input_axes: tuple[str, ...]
    expected: dict[str, np.ndarray]
    tolerance: common.Tolerance
    # What every tap of every window reads (tap_layout of ``geometry``), worked out once when
    # the spec is read: every run of the problem's op takes it (a net runs a pool layer's op
    # for its forward pass, its backward pass and each tie rule shown), none writes to it.
    layout: TapLayout

    @property
    def output_shape(self) -> tuple[int, ...]:
        return (*self.input.shape[:-2], self.geometry.out_h, self.geometry.out_w)

    def to_nchw(self, values: np.ndarray) -> np.ndarray:
        g = self.geometry
        return values.reshape(g.batch, g.channels, g.in_h, g.in_w)

    def output_nchw(self, values: np.ndarray) -> np.ndarray:
        g = self.geometry
        return values.reshape(g.batch, g.channels, g.out_h, g.out_w)

    def focusable(self) -> tuple[Focusable, ...]:
        """The arrays ``--focus`` may name: the output and the input (their axes alike)."""
        from gradcalc.core.kinds.focus import Focusable

        return (
            Focusable("output", self.names["output"], self.output_shape, self.input_axes),
            Focusable("input", self.names["input"], self.input.shape, self.input_axes),
        )


def _read_size(value: Any, in_hw: tuple[int, int]) -> tuple[tuple[int, int], str]:
    if isinstance(value, str) and value.strip().lower() == "global":
        return in_hw, f"global (the whole {in_hw[0]}×{in_hw[1]} map)"
    if isinstance(value, str):
        allowed = 'allowed: an integer, [kh, kw] or "global"'
        refuse_pair_text(value, ("size",), "size", allowed)
        if not looks_numeric(value):  # "1e3" is read below, as in every integer field
            raise SpecError(("size",), f"unknown size {value!r}; {allowed}")
    size = read_pair(value, ("size",), "size (the window)", 1)
    return size, pair_text(size)


def _read_p(spec: Mapping[str, Any]) -> Fraction:
    if "p" not in spec or spec["p"] is None:
        raise SpecError(
            (), "missing required key 'p' (the LP norm's power, a finite p ≥ 1) for mode lp"
        )
    raw = spec["p"]
    text = raw.strip().lower().lstrip("+") if isinstance(raw, str) else None
    if (isinstance(raw, float) and math.isinf(raw)) or text in ("inf", ".inf", "infinity"):
        raise SpecError(
            ("p",),
            "p = inf is max pooling ((Σ x^p)^(1/p) tends to the largest entry); use mode: max",
        )
    p = parse_number(raw, ("p",), what="p", allowed="a number ≥ 1 such as 2, 3 or 1.5")
    if p < 1:
        raise SpecError(
            ("p",), f"p must be at least 1 (a norm; LPPool2d with p < 1 is not one), got {plain(p)}"
        )
    if p > 1000:
        raise SpecError(
            ("p",), f"p = {plain(p)} is too large to compute; for the limit use mode: max"
        )
    return p


def _check_mode_keys(spec: Mapping[str, Any], mode: str) -> None:
    """Refuse keys the mode does not have, as PyTorch's modules do not take them."""
    for key, modes in MODE_KEYS.items():
        if key in spec and mode not in modes:
            owners = " and ".join(f"mode {m}" for m in modes)
            why = {
                "dilation": "PyTorch's AvgPool2d and LPPool2d have no dilation",
                "ties": "only a max has tied winners; every cell of an average or LP window gets a share",
                "padding": "PyTorch's LPPool2d has no padding",
                "count_include_pad": "it sets the divisor of an average",
                "divisor_override": "it sets the divisor of an average",
                "p": "it is the power of LP pooling",
            }[key]
            raise SpecError(
                (key,),
                f"{key} is for {owners} only ({why}); this spec has mode {mode}",
                at_key=True,
            )


def read(spec: Mapping[str, Any], limits: common.Limits) -> PoolProblem:
    """Validate a pool spec (plain data) and return the problem, or raise SpecError."""
    common.check_keys(spec, KIND, KEYS)
    mode = read_choice(spec, "mode", MODES)
    _check_mode_keys(spec, mode)
    raw_input = common.require(spec, "input", KIND, "the input, H×W, C×H×W or N×C×H×W")
    names = common.read_names(spec, NAME_DEFAULTS)
    x = read_pool_input(raw_input, mode, limits, naming(spec, names, "input"))
    input_axes = {2: ("row", "col"), 3: ("c", "row", "col"), 4: ("n", "c", "row", "col")}[x.ndim]
    window = _read_window(spec, x.shape[-2:])
    ceil_mode = parse_bool(spec.get("ceil_mode", False), ("ceil_mode",))
    count_include_pad = parse_bool(spec.get("count_include_pad", True), ("count_include_pad",))
    divisor_override = read_int(spec, "divisor_override", None, minimum=1, maximum=MAX_INDEX)
    ties = "first"
    if mode == "max" and spec.get("ties") is not None:
        ties = read_choice(spec, "ties", TIE_POLICIES)
    p = _read_p(spec) if mode == "lp" else None

    geometry = _geometry(x.shape, window, ceil_mode)
    check_windows_fit(geometry, limits)
    layout = tap_layout(geometry)
    layout.codes.flags.writeable = layout.positions.flags.writeable = False  # shared by runs
    if mode == "max":
        check_every_window_reads_input(layout, geometry, x.ndim)
    if mode == "lp":
        check_lp_domain(x, p, layout, geometry)

    output_shape = (*x.shape[:-2], geometry.out_h, geometry.out_w)
    symbols = None if mode == "lp" else naming(spec, names, "output")  # LP runs in float64
    upstream, upstream_given = common.read_upstream(
        spec, output_shape, names["output"], limits, naming=symbols
    )
    known = _known_results(spec, mode, ties, x.shape, output_shape)
    return PoolProblem(
        mode=mode,
        input=x,
        geometry=geometry,
        size_text=window["size_text"],
        stride_given=window["stride_given"],
        ties=ties,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
        p=p,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        input_axes=input_axes,
        layout=layout,
        **common.read_shared(spec, known, limits, symbols=answer_names(spec, x, upstream)),
    )


def _read_window(spec: Mapping[str, Any], in_hw: tuple[int, int]) -> dict[str, Any]:
    """The window's size (and its size_text), stride (and whether it was given), dilation
    and padding, each (rows, cols); padding at most half the window, as PyTorch."""
    kernel, size_text = _read_size(
        common.require(spec, "size", KIND, 'the window: an integer, [kh, kw] or "global"'),
        in_hw,
    )
    stride_given = spec.get("stride") is not None
    stride = read_pair(spec["stride"], ("stride",), "stride", 1) if stride_given else kernel
    dilation = read_pair(spec.get("dilation", 1), ("dilation",), "dilation", 1)
    padding_value = spec.get("padding", 0)
    if isinstance(padding_value, (list, tuple)) and len(padding_value) == 4:
        raise SpecError(
            ("padding",),
            "pooling pads both sides alike (as PyTorch): give one integer or [rows, cols]",
        )
    padding = read_pair(padding_value, ("padding",), "padding", 0)
    for axis, pad, k in (("rows", padding[0], kernel[0]), ("cols", padding[1], kernel[1])):
        if pad > k // 2:
            raise SpecError(
                ("padding",),
                f"padding {pad} ({axis}) is more than half the window ({k} → at most {k // 2}); "
                "PyTorch refuses it, since a window could then hold padding only",
            )
    return {
        "size": kernel,
        "size_text": size_text,
        "stride": stride,
        "stride_given": stride_given,
        "dilation": dilation,
        "padding": padding,
    }


def _geometry(shape: tuple[int, ...], window: Mapping[str, Any], ceil_mode: bool) -> PoolGeometry:
    """The pooling of an input of ``shape`` (H×W, C×H×W or N×C×H×W) by ``window``
    (``_read_window``'s size, stride, padding and dilation)."""
    kernel = window["size"]
    return PoolGeometry(
        batch=shape[0] if len(shape) == 4 else 1,
        channels=shape[-3] if len(shape) >= 3 else 1,
        in_h=shape[-2],
        in_w=shape[-1],
        kernel_h=kernel[0],
        kernel_w=kernel[1],
        stride=window["stride"],
        padding=window["padding"],
        dilation=window["dilation"],
        ceil_mode=ceil_mode,
    )


def _known_results(
    spec: Mapping[str, Any],
    mode: str,
    ties: str,
    input_shape: tuple[int, ...],
    output_shape: tuple[int, ...],
) -> dict[str, tuple[int, ...] | None]:
    """The shape of every result an ``expected`` may give (argmax only under ties: first)."""
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "output_shape": (len(output_shape),),
        "grad_input": input_shape,
        "jacobian_input": (math.prod(output_shape), math.prod(input_shape)),
    }
    if mode == "max":
        known["argmax"] = output_shape
        given = spec.get("expected")
        if ties != "first" and isinstance(given, Mapping) and "argmax" in given:
            raise SpecError(
                ("expected", "argmax"),
                f"expected.argmax can be checked under ties: first (one index per window); "
                f"under ties: {ties} a window may route to several cells, so check grad_input instead",
                at_key=True,
            )
    return known


# ---------------------------------------------------------------------------
# Running


@record
class PoolTrace:
    """What the forward and backward pass recorded, in NCHW layout (object Fractions when
    exact, else float64): the results, and what the explanation reads: each tap's weight
    ∂y/∂x = weights/denominator (N×C×H_out×W_out×T, or broadcastable to it), ties (max),
    divisors (avg) and scales (lp)."""

    output: np.ndarray  # N×C×H_out×W_out
    grad_input: np.ndarray  # N×C×H×W
    weights: np.ndarray
    denominator: int
    exact: bool
    layout: TapLayout
    tied: np.ndarray | None = None  # max: N×C×H_out×W_out×T
    first: np.ndarray | None = None  # max: N×C×H_out×W_out
    divisors: np.ndarray | None = None  # avg: H_out×W_out
    scales: np.ndarray | None = None  # lp: H_out×W_out
    # lp: N×C×H_out×W_out, the largest |x| a window was scaled by, or 1
    units: np.ndarray | None = None
    # max with tied windows, when the ties section is shown: ∂L/∂x (N×C×H×W) under
    # every tie policy, for the section's side-by-side matrices.
    grad_by_ties: dict[str, np.ndarray] | None = None

    def weight(self, index: tuple[int, ...]) -> Fraction | float:
        """∂y/∂x of one tap, index (n, c, i, j, t)."""
        value = self.weights[
            tuple(min(i, s - 1) for i, s in zip(index, self.weights.shape, strict=True))
        ]
        return Fraction(int(value), self.denominator) if self.exact else float(value)


def op_params(problem: PoolProblem, ties: str | None = None) -> tuple[Any, dict[str, Any]]:
    """The pooling op of the problem's mode and its hyper-parameters (geometry, tap layout,
    tie rule, divisors or LP scales); ``ties`` overrides the problem's tie policy."""
    g = problem.geometry
    layout = problem.layout
    params: dict[str, Any] = {"geometry": g, "layout": layout}
    if problem.mode == "max":
        params["ties"] = ties or problem.ties
        return MAX_POOL, params
    if problem.mode == "avg":
        params["divisors"] = avg_divisors(
            layout.codes, problem.count_include_pad, problem.divisor_override
        )
        return AVG_POOL, params
    params["p"] = problem.p
    params["scales"] = lp_scales(layout.codes, g.taps)
    return LP_POOL, params


def compute(problem: PoolProblem, *, exact: bool, ties: str | None = None) -> PoolTrace:
    """Forward and backward pass, exactly (max, avg) or in float64 (lp, or on request); the
    adapter decides how.  ``ties`` overrides the problem's tie policy (to show what another
    policy gives)."""
    op, params = op_params(problem, ties)
    layout = params["layout"]
    output, trace = adapter.forward(
        op, problem.to_nchw(problem.input), params, exact=exact, float64=adapter.each_rounded
    )
    grad = adapter.backward(problem.output_nchw(problem.upstream), trace)["input"]
    cache = trace.cache
    weights, denominator = cache["weights"], cache["denominator"]
    if not trace.exact:
        weights, denominator = weights / denominator, 1
    return PoolTrace(
        output,
        grad,
        weights,
        denominator,
        trace.exact,
        layout,
        tied=cache.get("tied"),
        first=cache.get("first"),
        divisors=params.get("divisors"),
        scales=params.get("scales"),
        units=cache.get("units"),
    )


def run(problem: PoolProblem, options: common.SolveOptions) -> Run:
    """The forward and backward pass (max and avg exactly, LP in float64: the adapter
    decides), argmax for max, the Jacobian when asked for and small enough."""
    g = problem.geometry
    computed = compute(
        problem, exact=not options.force_float and g.work <= options.limits.exact_work
    )
    results: dict[str, Any] = {
        "output": computed.output.reshape(problem.output_shape),
        "output_shape": list(problem.output_shape),
        "grad_input": computed.grad_input.reshape(problem.input.shape),
    }
    if problem.mode == "max":
        results["argmax"] = argmax_result(problem, computed)
        if options.wants("ties") and (computed.tied.sum(axis=-1) > 1).any():
            computed.grad_by_ties = {
                policy: computed.grad_input
                if policy == problem.ties
                else compute(problem, exact=computed.exact, ties=policy).grad_input
                for policy in TIE_POLICIES
            }
    wanted = options.wants_jacobians() or "jacobian_input" in problem.expected
    if wanted and g.windows * problem.input.size <= options.limits.max_jacobian:
        results["jacobian_input"] = jacobian_input(problem, computed)
    axes = {
        "output": problem.input_axes,
        "grad_input": problem.input_axes,
        "argmax": problem.input_axes,
    }
    return Run(results=results, trace=computed, exact=computed.exact, solution={"axes": axes})


# ---------------------------------------------------------------------------
# Usual mistakes (gradcalc check)

# Each tie rule in words: where a max pool's backward pass sends a window's upstream value.
_TIES = (
    ("first", "the whole upstream value to the first maximum, PyTorch's rule"),
    ("all", "the upstream value to every tied maximum"),
    ("split", "1/k of the upstream value to each of k tied maxima"),
)


def usual_mistakes(spec: Mapping[str, Any]) -> list[Mistake]:
    """The mistakes worth trying for this problem, most telling first."""
    from gradcalc.core.kinds.mistakes import Variant as Mistake
    from gradcalc.core.kinds.mistakes import (
        forgot_upstream,
        is_zero,
        negated,
        size_mistakes,
        spec_text,
        upstream_transposed,
    )

    variants = []
    mode = spec.get("mode")
    if mode == "max":
        current = spec.get("ties", "first")
        for ties, words in _TIES:
            if ties != current:
                variants.append(
                    Mistake(
                        f"ties: {ties}",
                        f"{{name}} matches the result under ties: {ties} ({words}); "
                        f"this problem uses ties: {current}",
                        (("ties", ties),),
                        results=("grad_input", "jacobian_input", "argmax"),
                        # The key is the answer with each tied window's share moved.
                        reveals=("grad_input", "jacobian_input", "argmax"),
                        slip=f"ties were resolved by ties: {ties}",
                    )
                )
    if mode == "avg" and not is_zero(spec.get("padding")):
        include = spec.get("count_include_pad", True) is not False
        variants.append(
            Mistake(
                "count_include_pad",
                f"{{name}} matches the result with count_include_pad: {spec_text(not include)}; "
                f"this problem uses count_include_pad: {spec_text(include)} (padding cells "
                f"{'count' if include else 'do not count'} in the divisor)",
                (("count_include_pad", not include),),
                # The key is the answer with each border cell rescaled by its count.
                reveals=("output", "grad_input", "jacobian_input"),
                slip=f"count_include_pad was taken as {spec_text(not include)}",
            )
        )
    stride = (
        pair_as_written(spec["stride"])
        if spec.get("stride") is not None
        else pair_as_written(spec.get("size"))
    )
    # Upstream forgotten: a max pool's answer marks each window's maximum, where the key puts
    # that window's upstream value.
    forgot = forgot_upstream(spec, ("grad_input",), reveals=("grad_input",))
    return (
        variants
        + size_mistakes(spec, stride)
        + forgot
        + upstream_transposed(spec, ("grad_input",))
        + [negated(("grad_input",))]
    )


def finite_differences(problem: PoolProblem, run: Run) -> GradientCheck | None:
    """∂L/∂x against central differences (core/kinds/pool_gradcheck.py, imported when a pool
    problem is checked: a net checks its whole chain its own way)."""
    from gradcalc.core.kinds.pool_gradcheck import finite_differences as check

    return check(problem, run)
