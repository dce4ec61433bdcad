"""2-D pooling (PyTorch's MaxPool2d, AvgPool2d, LPPool2d): forward, backward and their explanation.

Array layout inside this module is NCHW: input ``x`` N×C×H×W, output ``y``
N×C×H_out×W_out.  A window's taps are laid out on one last axis of T = kh·kw
entries in row-major order, so "window arrays" are N×C×H_out×W_out×T.

Backward is the same for every mode once each tap's local derivative ∂y/∂x
(its *weight*) is known: ∂L/∂x = Σ over the windows that read a cell of
upstream·weight, so overlapping windows add up.  Max routes to the maximum
(weights 1, or 1/k between k tied maxima, by the tie policy), avg divides by
the window's divisor, LP uses x^(p−1)/y^(p−1).

The array code (the max_pool, avg_pool and lp_pool ops) lives in
:mod:`gradcalc.core.ops.pool`; :func:`compute` runs it through
:mod:`gradcalc.core.ops.adapter`, which makes max and avg exact (on integers) and
runs LP in float64.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import numpy as np

from gradcalc.core import registry
from gradcalc.core import spec as common
from gradcalc.core.errors import LimitError, SpecError
from gradcalc.core.explain import (
    GRADIENT,
    Formula,
    Matrix,
    Note,
    Picture,
    Product,
    Section,
    SumOfProducts,
    Symbol,
    SymbolTable,
    index_separator,
    sentence,
)
from gradcalc.core.gradcheck import step_for
from gradcalc.core.kinds.fields import read_choice, read_int, read_pair, refuse_pair_text
from gradcalc.core.opkit import (
    check_answers,
    check_gradients_where,
    element_symbol,
    focus_target,
    near,
    plain,
    probes_for,
    show_matrix,
    solution_with_focus,
)
from gradcalc.core.ops import adapter
from gradcalc.core.ops.pool import (
    AVG_POOL,
    LP_POOL,
    MAX_POOL,
    gather_windows,
    lp_pool,
    power_sums,
)
from gradcalc.core.outcome import Solution
from gradcalc.core.records import record
from gradcalc.core.values import (
    MAX_INDEX,
    looks_numeric,
    parse_array,
    parse_bool,
    parse_number,
)
from gradcalc.core.windows import (  # REAL, PADDING, BEYOND: where a window's tap lands
    BEYOND,
    PADDING,
    REAL,
    Focus,
    Focusable,
    FocusTarget,
    WindowAxis,
    cell_name,
    cell_readers,
    picture,
    placement_note,
    plane_label,
    position_text,
    read_caption,
    readers_note,
    tap_grid,
    window_taps,
)

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

# p values of the "growing p approaches the max" table.
RELATION_PS = (1, 2, 4, 8, 16, 32, 64, 128)


# ---------------------------------------------------------------------------
# Geometry


def pooled_size(
    size: int, kernel: int, pad: int, stride: int, dilation: int, ceil_mode: bool
) -> int:
    """PyTorch's pooling_output_shape: the number of windows along one axis (may be < 1).

    floor: ⌊(size + 2·pad − d·(k − 1) − 1)/s⌋ + 1; ceil: the same with ⌈·⌉, then
    the last window is dropped when it would start past the input and the left
    padding ((out − 1)·s ≥ size + pad).
    """
    numerator = size + 2 * pad - dilation * (kernel - 1) - 1
    if not ceil_mode:
        return numerator // stride + 1
    out = -(-numerator // stride) + 1
    if (out - 1) * stride >= size + pad:
        out -= 1
    return out


@dataclass(frozen=True)
class PoolGeometry:
    """Every size and hyper-parameter of one pooling, in NCHW terms."""

    batch: int
    channels: int
    in_h: int
    in_w: int
    kernel_h: int
    kernel_w: int
    stride: tuple[int, int]
    padding: tuple[int, int]  # rows (top and bottom), cols (left and right)
    dilation: tuple[int, int]
    ceil_mode: bool

    @property
    def span_h(self) -> int:
        """Rows one (dilated) window covers: d·(kh − 1) + 1."""
        return self.dilation[0] * (self.kernel_h - 1) + 1

    @property
    def span_w(self) -> int:
        return self.dilation[1] * (self.kernel_w - 1) + 1

    @property
    def out_h(self) -> int:
        return pooled_size(
            self.in_h,
            self.kernel_h,
            self.padding[0],
            self.stride[0],
            self.dilation[0],
            self.ceil_mode,
        )

    @property
    def out_w(self) -> int:
        return pooled_size(
            self.in_w,
            self.kernel_w,
            self.padding[1],
            self.stride[1],
            self.dilation[1],
            self.ceil_mode,
        )

    @property
    def taps(self) -> int:
        return self.kernel_h * self.kernel_w

    @property
    def windows(self) -> int:
        return self.batch * self.channels * self.out_h * self.out_w

    @property
    def work(self) -> int:
        """Taps read by one forward pass."""
        return self.windows * self.taps

    def window_axes(self) -> tuple[WindowAxis, WindowAxis]:
        """The row and column axes of the sliding window (pooling pads both sides alike)."""
        return (
            WindowAxis(
                self.in_h,
                self.kernel_h,
                self.stride[0],
                self.dilation[0],
                self.padding[0],
                self.padding[0],
                self.out_h,
            ),
            WindowAxis(
                self.in_w,
                self.kernel_w,
                self.stride[1],
                self.dilation[1],
                self.padding[1],
                self.padding[1],
                self.out_w,
            ),
        )

    def tap_position(self, i: int, j: int, m: int, q: int) -> tuple[int, int]:
        """Input (row, col) that tap (m, q) of window (i, j) reads (may be outside the input)."""
        return (
            i * self.stride[0] + m * self.dilation[0] - self.padding[0],
            j * self.stride[1] + q * self.dilation[1] - self.padding[1],
        )


@record(frozen=True)
class TapLayout:
    """What every tap of every window reads (the same for every n and c).

    ``codes``: H_out×W_out×T, REAL / PADDING / BEYOND;
    ``positions``: H_out×W_out×T, the flat input index r·W + c of a REAL tap, −1 otherwise.
    """

    codes: np.ndarray
    positions: np.ndarray

    @property
    def real(self) -> np.ndarray:
        return self.codes == REAL


def tap_layout(g: PoolGeometry) -> TapLayout:
    row_axis, col_axis = g.window_axes()
    rows, cols = row_axis.taps(), col_axis.taps()  # H_out×kh, W_out×kw
    codes_h, codes_w = row_axis.where(rows), col_axis.where(cols)
    # REAL < PADDING < BEYOND: a tap is as far out as its farther coordinate.
    codes = np.maximum(codes_h[:, None, :, None], codes_w[None, :, None, :])
    positions = rows[:, None, :, None] * g.in_w + cols[None, :, None, :]
    positions = np.where(codes == REAL, positions, -1)
    shape = (g.out_h, g.out_w, g.taps)
    return TapLayout(codes=codes.reshape(shape), positions=positions.reshape(shape))


def avg_divisors(
    codes: np.ndarray, count_include_pad: bool, divisor_override: int | None
) -> np.ndarray:
    """H_out×W_out divisors, PyTorch's rule.

    divisor_override wins; else count_include_pad counts the taps up to the
    padded edge (a ceil_mode window is clipped there), else only the input cells.
    """
    if divisor_override is not None:
        return np.full(codes.shape[:2], divisor_override, dtype=np.int64)
    counted = codes != BEYOND if count_include_pad else codes == REAL
    return counted.sum(axis=-1)


def lp_scales(codes: np.ndarray, taps: int) -> np.ndarray:
    """PyTorch's LPPool2d is avg_pool2d(x^p)·kh·kw: with no padding its divisor is the
    number of cells inside the window, so a window clipped by ceil_mode has its sum
    scaled by kh·kw/cells (1 for every whole window)."""
    inside = (codes == REAL).sum(axis=-1)
    return taps / inside


# ---------------------------------------------------------------------------
# Reading the spec


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
        return (
            Focusable("output", self.names["output"], self.output_shape, self.input_axes),
            Focusable("input", self.names["input"], self.input.shape, self.input_axes),
        )


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"[{pair[0]}, {pair[1]}]"


def _read_size(value: Any, in_hw: tuple[int, int]) -> tuple[tuple[int, int], str]:
    if isinstance(value, str) and value.strip().lower() == "global":
        return in_hw, f"global (the whole {in_hw[0]}×{in_hw[1]} map)"
    if isinstance(value, str):
        allowed = 'allowed: an integer, [kh, kw] or "global"'
        refuse_pair_text(value, ("size",), "size", allowed)
        if not looks_numeric(value):  # "1e3" is read below, as in every integer field
            raise SpecError(("size",), f"unknown size {value!r}; {allowed}")
    size = read_pair(value, ("size",), "size (the window)", 1)
    return size, _pair_text(size)


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


def read_problem(spec: Mapping[str, Any], limits: common.Limits) -> PoolProblem:
    """Validate a pool spec (plain data) and return the problem, or raise SpecError."""
    common.check_keys(spec, KIND, KEYS)
    mode = read_choice(spec, "mode", MODES)
    _check_mode_keys(spec, mode)
    raw_input = common.require(spec, "input", KIND, "the input, H×W, C×H×W or N×C×H×W")
    x = parse_array(
        raw_input, ("input",), ndims=(2, 3, 4), what="input", max_elements=limits.max_elements
    )
    input_axes = {2: ("row", "col"), 3: ("c", "row", "col"), 4: ("n", "c", "row", "col")}[x.ndim]
    in_h, in_w = x.shape[-2:]
    kernel, size_text = _read_size(
        common.require(spec, "size", KIND, 'the window: an integer, [kh, kw] or "global"'),
        (in_h, in_w),
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
    ceil_mode = parse_bool(spec.get("ceil_mode", False), ("ceil_mode",))
    count_include_pad = parse_bool(spec.get("count_include_pad", True), ("count_include_pad",))
    divisor_override = read_int(spec, "divisor_override", None, minimum=1, maximum=MAX_INDEX)
    ties = "first"
    if mode == "max" and spec.get("ties") is not None:
        ties = read_choice(spec, "ties", TIE_POLICIES)
    p = _read_p(spec) if mode == "lp" else None

    geometry = PoolGeometry(
        batch=x.shape[0] if x.ndim == 4 else 1,
        channels=x.shape[-3] if x.ndim >= 3 else 1,
        in_h=in_h,
        in_w=in_w,
        kernel_h=kernel[0],
        kernel_w=kernel[1],
        stride=stride,
        padding=padding,
        dilation=dilation,
        ceil_mode=ceil_mode,
    )
    for axis, out, span, size, pad in (
        ("rows", geometry.out_h, geometry.span_h, in_h, padding[0]),
        ("columns", geometry.out_w, geometry.span_w, in_w, padding[1]),
    ):
        if out < 1:
            raise SpecError(
                ("size",),
                f"the window spans {span} {axis} but the padded input has only {size + 2 * pad} "
                f"({size} + 2·padding {pad}); the window must fit inside the padded input "
                "(ceil_mode: true keeps one clipped window instead, as PyTorch does)",
            )
    if geometry.work > limits.max_work:
        raise LimitError(
            ("input",),
            f"this pooling reads {geometry.work:,} window taps, above the limit of {limits.max_work:,} "
            "(raise it with --max-work)",
        )
    layout = tap_layout(geometry)
    if mode == "max":
        _check_every_window_reads_input(layout, geometry, x.ndim)
    if mode == "lp":
        _check_lp_domain(x, p, layout, geometry)

    names = common.read_names(spec, NAME_DEFAULTS)
    output_shape = (*x.shape[:-2], geometry.out_h, geometry.out_w)
    upstream, upstream_given = common.read_upstream(spec, output_shape, names["output"], limits)
    out_size = math.prod(output_shape)
    known: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "output_shape": (len(output_shape),),
        "grad_input": x.shape,
        "jacobian_input": (out_size, x.size),
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
    return PoolProblem(
        title=common.read_title(spec),
        mode=mode,
        input=x,
        geometry=geometry,
        size_text=size_text,
        stride_given=stride_given,
        ties=ties,
        count_include_pad=count_include_pad,
        divisor_override=divisor_override,
        p=p,
        upstream=upstream,
        upstream_given=upstream_given,
        names=names,
        index_base=common.read_index_base(spec),
        input_axes=input_axes,
        expected=common.read_expected(spec, known, limits),
        tolerance=common.read_tolerance(spec),
    )


def _check_every_window_reads_input(layout: TapLayout, g: PoolGeometry, ndim: int) -> None:
    """A dilated max window can fall entirely on padding; PyTorch then outputs −inf."""
    empty = ~layout.real.any(axis=-1)
    if empty.any():
        i, j = (int(v) for v in np.argwhere(empty)[0])
        raise SpecError(
            ("dilation",),
            f"window ({i}, {j}) (0-based) reads only padding: with dilation "
            f"{_pair_text(g.dilation)} its taps skip over every input cell, and PyTorch would "
            "output −inf; use a smaller dilation or padding",
        )


def _check_lp_domain(x: np.ndarray, p: Fraction, layout: TapLayout, g: PoolGeometry) -> None:
    """Where PyTorch's LP pooling gives NaN, refuse the spec.

    x^p is not real for x < 0 and a non-integer p; with an odd p ≥ 3 a window's
    Σ x^p can be negative, and its 1/p-th power is not real.
    """
    negative = np.asarray(x < 0, dtype=bool)
    if not negative.any():
        return
    if p.denominator == 1:
        if p % 2 == 0 or p == 1:
            return
        xf = x.reshape(g.batch, g.channels, g.in_h, g.in_w).astype(float)
        sums = power_sums(gather_windows(xf, layout, 0.0), layout.real, int(p))[0]
        if (sums < 0).any():
            n, c, i, j = (int(v) for v in np.argwhere(sums < 0)[0])
            where = "".join(
                f"{k}, " for k in ((n, c) if x.ndim == 4 else (c,) if x.ndim == 3 else ())
            )
            raise SpecError(
                ("input",),
                f"the window of output ({where}{i}, {j}) (0-based) has a negative Σ x^{plain(p)}, whose "
                f"1/{plain(p)}-th power is not real (PyTorch gives NaN); use an even p or inputs ≥ 0",
            )
        return
    if negative.any():
        index = tuple(int(v) for v in np.argwhere(negative)[0])
        raise SpecError(
            ("input", *index),
            f"entry {plain(x[index])} is negative and p = {plain(p)} is not an integer: "
            f"({plain(x[index])})^{_power_text(p)} is not a real number (PyTorch gives NaN); "
            "use an integer p or inputs ≥ 0",
        )


# ---------------------------------------------------------------------------
# Solving


@record
class PoolResults:
    """Results in NCHW layout (object Fractions when exact, else float64), plus what the
    explanation needs: each tap's weight ∂y/∂x = weights/denominator (N×C×H_out×W_out×T,
    or broadcastable to it), ties (max) and divisors (avg)."""

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
    units: np.ndarray | None = (
        None  # lp: N×C×H_out×W_out, the largest |x| a window was scaled by, or 1
    )

    def weight(self, index: tuple[int, ...]) -> Fraction | float:
        """∂y/∂x of one tap, index (n, c, i, j, t)."""
        value = self.weights[
            tuple(min(i, s - 1) for i, s in zip(index, self.weights.shape, strict=True))
        ]
        return Fraction(int(value), self.denominator) if self.exact else float(value)


def compute(problem: PoolProblem, *, exact: bool, ties: str | None = None) -> PoolResults:
    """Forward and backward pass, exactly (max, avg) or in float64 (lp, or on request); the
    adapter decides how.  ``ties`` overrides the problem's tie policy (to show what another
    policy gives)."""
    g = problem.geometry
    layout = tap_layout(g)
    params: dict[str, Any] = {"geometry": g, "layout": layout}
    if problem.mode == "max":
        op = MAX_POOL
        params["ties"] = ties or problem.ties
    elif problem.mode == "avg":
        op = AVG_POOL
        params["divisors"] = avg_divisors(
            layout.codes, problem.count_include_pad, problem.divisor_override
        )
    else:
        op = LP_POOL
        params["p"] = problem.p
        params["scales"] = lp_scales(layout.codes, g.taps)
    output, trace = adapter.forward(
        op, problem.to_nchw(problem.input), params, exact=exact, float64=adapter.each_rounded
    )
    grad = adapter.backward(problem.output_nchw(problem.upstream), trace)["input"]
    cache = trace.cache
    weights, denominator = cache["weights"], cache["denominator"]
    if not trace.exact:
        weights, denominator = weights / denominator, 1
    return PoolResults(
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


def float_output(problem: PoolProblem, x: np.ndarray) -> np.ndarray:
    """The forward pass alone in float64, for finite differences: x in the spec's shape."""
    g = problem.geometry
    layout = tap_layout(g)
    xf = x.reshape(g.batch, g.channels, g.in_h, g.in_w).astype(float)
    if problem.mode == "lp":
        scales = lp_scales(layout.codes, g.taps)
        windows = gather_windows(xf, layout, 0.0)
        return lp_pool(windows, layout.real, float(problem.p), scales)[0]
    if problem.mode == "max":
        return gather_windows(xf, layout, -np.inf).max(axis=-1)
    divisors = avg_divisors(layout.codes, problem.count_include_pad, problem.divisor_override)
    return gather_windows(xf, layout, 0.0).sum(axis=-1) / divisors


def jacobian_input(problem: PoolProblem, computed: PoolResults) -> np.ndarray:
    """∂y/∂x as an (outputs)×(inputs) matrix, rows and columns in row-major order.

    Row (n, c, i, j) holds the window's tap weights at the cells the taps read.
    """
    g = problem.geometry
    rows = np.arange(g.windows).reshape(g.batch, g.channels, g.out_h, g.out_w)
    plane = g.in_h * g.in_w
    columns = (np.arange(g.batch * g.channels) * plane).reshape(g.batch, g.channels, 1, 1, 1)
    columns = columns + computed.layout.positions
    weights = np.broadcast_to(computed.weights, columns.shape)
    valid = np.broadcast_to(computed.layout.real, columns.shape)
    matrix = np.zeros((g.windows, problem.input.size), dtype=object if computed.exact else float)
    if computed.exact:
        matrix.fill(Fraction(0))
    row_index = np.broadcast_to(rows[..., None], columns.shape)[valid]
    taken = weights[valid]
    if computed.exact:
        taken = np.array([Fraction(int(w), computed.denominator) for w in taken], dtype=object)
    matrix[row_index, columns[valid]] = taken
    return matrix


def argmax_result(problem: PoolProblem, computed: PoolResults) -> np.ndarray:
    """Spec-shaped like the output.  ties first: PyTorch's return_indices, the flat index
    r·W + c (0-based) of the winning cell in its input plane; all/split: a tuple of every
    tied maximum's flat index."""
    positions = computed.layout.positions
    g = problem.geometry
    spatial = np.broadcast_to(positions, computed.tied.shape)
    if problem.ties == "first":
        chosen = np.take_along_axis(spatial, computed.first[..., None], axis=-1)[..., 0]
        return chosen.reshape(problem.output_shape)
    flat = spatial[computed.tied]
    counts = computed.tied.sum(axis=-1).ravel()
    groups = np.split(flat, np.cumsum(counts)[:-1])
    result = np.empty(g.windows, dtype=object)
    for k, group in enumerate(groups):  # one tuple per window: a ragged result
        result[k] = tuple(int(v) for v in group)
    return result.reshape(problem.output_shape)


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


def gradient_probe(problem: PoolProblem, computed: PoolResults) -> tuple[np.ndarray, str]:
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


def solve(spec: Mapping[str, Any], options: common.SolveOptions) -> Solution:
    """Read, compute, check and explain one pool spec."""
    return _solve(spec, options, None)


def solve_focus(spec: Mapping[str, Any], options: common.SolveOptions, focus: str) -> Solution:
    """solve(), led by a picture of what one element reads or feeds (``--focus output[1,0]``)."""
    return _solve(spec, options, focus)


def _solve(spec: Mapping[str, Any], options: common.SolveOptions, focus: str | None) -> Solution:
    problem = read_problem(spec, options.limits)
    target = focus_target(focus, problem)
    g = problem.geometry
    # max and avg run exactly; the adapter runs LP (x^(1/p)) in float64.
    computed = compute(
        problem, exact=not options.force_float and g.work <= options.limits.exact_work
    )
    exact = computed.exact
    results: dict[str, Any] = {
        "output": computed.output.reshape(problem.output_shape),
        "output_shape": list(problem.output_shape),
        "grad_input": computed.grad_input.reshape(problem.input.shape),
    }
    if problem.mode == "max":
        results["argmax"] = argmax_result(problem, computed)
    wanted = options.wants_jacobians() or "jacobian_input" in problem.expected
    if wanted and g.windows * problem.input.size <= options.limits.max_jacobian:
        results["jacobian_input"] = jacobian_input(problem, computed)
    checks = check_answers(
        problem.expected, results, problem.tolerance, options.limits.max_jacobian
    )

    gradient_check = None
    if options.gradient_check:
        probe, reason = gradient_probe(problem, computed)
        upstream = problem.upstream.astype(float)
        x = problem.input.astype(float)

        def terms(params: Mapping[str, np.ndarray]) -> float:
            # Σ|upstream|·pool(|x|): every term of the loss, also those that cancel through
            # the upstream (1e17·y₁ − 1e17·y₂), as a bound on its rounding.
            sizes = float_output(problem, np.abs(params["input"])).reshape(upstream.shape)
            return float(np.sum(np.abs(upstream) * np.where(np.isfinite(sizes), sizes, 0.0)))

        bend = lp_bend(problem, computed.layout) if problem.mode == "lp" else None
        if bend is not None and not np.any(probe & (bend < np.maximum(1.0, np.abs(x)))):
            bend = None  # no window is smaller than its entries' own steps: h as usual
        gradient_check = check_gradients_where(
            lambda params: float(
                np.sum(upstream * float_output(problem, params["input"]).reshape(upstream.shape))
            ),
            {"input": problem.input.astype(float)},
            {"input": results["grad_input"]},
            {"input": probe},
            max_entries=probes_for(g.work),
            terms=terms,
            bend=None if bend is None else {"input": bend},
            bend_text="the window's largest |x|",
        )
        if gradient_check is not None and reason:
            gradient_check.note = reason

    explainer = _Explainer(problem, computed, results, options)
    return solution_with_focus(
        KIND,
        problem,
        explainer,
        options,
        target,
        results=results,
        exact=exact,
        checks=checks,
        gradient_check=gradient_check,
        axes={
            "output": problem.input_axes,
            "grad_input": problem.input_axes,
            "argmax": problem.input_axes,
        },
    )


# ---------------------------------------------------------------------------
# Explaining


def _power_text(p: Fraction) -> str:
    """An exponent after ^: 2, or (3/2) in parentheses."""
    return str(p) if p.denominator == 1 else f"({p})"


def _power_base(value: Any) -> tuple[Any, ...]:
    """A number as the tokens of a power's base: parenthesized when negative or a fraction,
    so that (2/3)^2 does not read as 2/(3^2)."""
    fraction = isinstance(value, Fraction) and value.denominator != 1
    return ("(", value, ")") if value < 0 or fraction else (value,)


def _root_text(p: Fraction) -> str:
    """The exponent 1/p after ^, always parenthesized: (1/2), (2/3), (1)."""
    return f"({1 / p})"


class _Explainer:
    """Builds the sections of a pool explanation; loops only over the rows it shows."""

    def __init__(
        self,
        problem: PoolProblem,
        computed: PoolResults,
        results: dict[str, Any],
        options: common.SolveOptions,
    ):
        self.p = problem
        self.c = computed
        self.g = problem.geometry
        self.results = results
        self.options = options
        self.X, self.Y, self.L = (problem.names[k] for k in ("input", "output", "loss"))
        self.sep = index_separator(
            problem.input.shape, problem.output_shape, index_base=problem.index_base
        )
        exact = computed.exact
        self.x = problem.to_nchw(problem.input if exact else problem.input.astype(float))
        self.xs = problem.to_nchw(problem.input)  # the spec's exact values, for display
        self.up = problem.output_nchw(problem.upstream if exact else problem.upstream.astype(float))

    # symbols -------------------------------------------------------------
    def _index(self, n: int, c: int, r: int, col: int) -> tuple[int, ...]:
        full = {"n": n, "c": c, "row": r, "col": col}
        return tuple(full[a] for a in self.p.input_axes)

    def sym_x(self, n: int, c: int, r: int, col: int) -> Symbol:
        return element_symbol(self.X, self._index(n, c, r, col), self.p.index_base, self.sep)

    def sym_y(self, n: int, c: int, i: int, j: int, prefix: str = "") -> Symbol:
        return element_symbol(prefix + self.Y, self._index(n, c, i, j), self.p.index_base, self.sep)

    def sym_up(self, n: int, c: int, i: int, j: int) -> Symbol:
        return self.sym_y(n, c, i, j, prefix=f"∂{self.L}/∂")

    def _windows_shown(self) -> tuple[list[tuple[int, int, int, int]], int]:
        g = self.g
        shape = (g.batch, g.channels, g.out_h, g.out_w)
        shown = self.options.cap(g.windows)
        return [
            tuple(int(v) for v in np.unravel_index(k, shape)) for k in range(shown)
        ], g.windows - shown

    def _taps(self, i: int, j: int) -> list[tuple[int, int, int, int]]:
        """(tap t, row, col, code) of window (i, j), in row-major order."""
        g = self.g
        codes = self.c.layout.codes[i, j]
        return [
            (m * g.kernel_w + q, *g.tap_position(i, j, m, q), int(codes[m * g.kernel_w + q]))
            for m in range(g.kernel_h)
            for q in range(g.kernel_w)
        ]

    # conventions ---------------------------------------------------------
    def mode_words(self) -> str:
        p = self.p
        if p.mode == "max":
            return (
                f"max pooling (PyTorch MaxPool2d): {self.Y} = the largest entry of each window; "
                "padding cells count as −∞ and never win"
            )
        if p.mode == "avg":
            if p.divisor_override is not None:
                divisor = f"every window divides by divisor_override = {p.divisor_override}"
            elif p.count_include_pad:
                divisor = (
                    "the divisor counts the window's cells up to the padded edge, padding included "
                    "(count_include_pad: true)"
                )
            else:
                divisor = (
                    "the divisor counts only the window's input cells (count_include_pad: false)"
                )
            return f"average pooling (PyTorch AvgPool2d): {self.Y} = (sum of the window)/divisor; {divisor}"
        pw = _power_text(p.p)
        return (
            f"LP pooling (PyTorch LPPool2d), p = {plain(p.p)}: {self.Y} = (Σ {self.X}^{pw})^{_root_text(p.p)} over "
            "each window, with no 1/N (seed 002's formula); PyTorch computes it as avg_pool2d(x^p)·kh·kw "
            "then the 1/p-th power; the gradient is 0 where Σ x^p = 0"
        )

    def _scaled_windows(self) -> bool:
        """Whether the LP computation scaled any window by its largest |x|."""
        return self.c.units is not None and bool((self.c.units != 1).any())

    def tie_words(self) -> str:
        return {
            "first": "ties: first — the first maximum in row-major order gets the whole upstream value "
            "(PyTorch's rule; the other tied cells get 0)",
            "all": "ties: all — every tied maximum gets the full upstream value (seed 000 Exercise 2; "
            "the indicator form 1[x = y] of seed 003 Problem 5)",
            "split": "ties: split — k tied maxima get 1/k of the upstream value each "
            "(the subgradient tf.reduce_max uses)",
        }[self.p.ties]

    def conventions(self) -> list[str]:
        p, g = self.p, self.g
        items = [self.mode_words()]
        if p.mode == "max":
            items.append(self.tie_words())
        stride_words = "" if p.stride_given else " (default: the window size, as PyTorch)"
        items.append(
            f"window {g.kernel_h}×{g.kernel_w} (size: {p.size_text}), stride "
            f"{g.stride[0]}×{g.stride[1]}{stride_words}"
            + (f", dilation {g.dilation[0]}×{g.dilation[1]}" if p.mode == "max" else "")
        )
        if any(g.padding):
            fill = "−∞ (never the max)" if p.mode == "max" else "zeros"
            items.append(
                f"padding {g.padding[0]} rows top and bottom, {g.padding[1]} cols left and right, "
                f"filled with {fill}; at most half the window (as PyTorch)"
            )
        if g.ceil_mode:
            items.append(
                "ceil_mode: true — the output size rounds up, but a last window must start inside "
                "the input or the left padding; a window past the padded edge is clipped there"
            )
        else:
            items.append("ceil_mode: false — the output size rounds down (partial windows dropped)")
        base = p.index_base
        items.append(
            f"indices start at {base} (index_base: {base}); "
            f"{self.X}_{''.join('ncij'[('n', 'c', 'row', 'col').index(a)] for a in p.input_axes)} "
            f"is input[{', '.join({'n': 'n', 'c': 'c', 'row': 'i', 'col': 'j'}[a] for a in p.input_axes)}]"
        )
        if p.mode == "max":
            items.append(
                "argmax (results, JSON) is PyTorch's return_indices: the flat index row·W + col, "
                "counted from 0, of the winning cell in its input plane"
                + (
                    ""
                    if p.ties == "first"
                    else "; under this tie policy, a tuple of every tied maximum"
                )
            )
        if p.upstream_given:
            items.append(f"upstream ∂{self.L}/∂{self.Y} as given in the spec")
        else:
            items.append(f"upstream ∂{self.L}/∂{self.Y} = all ones (L = the sum of the outputs)")
        if p.mode == "lp":
            items.append("float64 arithmetic: LP results are roots, irrational in general")
            if self._scaled_windows():
                items.append(
                    "a window whose x^p would underflow or overflow float64 is scaled by its "
                    "largest |x|, m: y = m·(Σ (x/m)^p)^(1/p), the true value where PyTorch "
                    "(Σ x^p in float) gives 0 or inf"
                )
        elif self.c.exact:
            items.append("exact rational arithmetic (fractions print as p/q unless --decimal)")
        elif g.work > self.options.limits.exact_work:
            items.append(
                f"float64 arithmetic: the problem reads {g.work:,} window taps, above the exact limit "
                f"of {self.options.limits.exact_work:,}"
            )
        else:
            items.append("float64 arithmetic (--float)")
        return items

    # sections ------------------------------------------------------------
    def sections(self) -> list[Section]:
        builders = {
            "problem": self.section_problem,
            "size": self.section_size,
            "forward": self.section_forward,
            "routing": self.section_routing,
            "backward": self.section_backward,
            "ties": self.section_ties,
            "jacobian": self.section_jacobian,
            "relations": self.section_relations,
        }
        applies = {"ties": self.p.mode == "max", "relations": self.p.mode == "lp"}
        return [
            builders[key]()
            for key in SECTIONS
            if self.options.wants(key)
            and (applies.get(key, True) or self.options.sections is not None)
        ]

    def _matrix(
        self, label: str, values: np.ndarray, caption: str = "", role: str = ""
    ) -> Matrix | Note:
        return show_matrix(
            label, values, self.p.index_base, axes=self.p.input_axes, caption=caption, role=role
        )

    def section_problem(self) -> Section:
        p, g = self.p, self.g
        section = Section("problem", "Problem")
        shape = lambda s: "×".join(map(str, s))  # noqa: E731
        section.add(
            Note(
                f"{p.mode} pooling of {self.X}: {shape(p.input.shape)} ({', '.join(p.input_axes)}) "
                f"with a {g.kernel_h}×{g.kernel_w} window, stride {g.stride[0]}×{g.stride[1]} -> "
                f"{self.Y}: {shape(p.output_shape)}"
            )
        )
        section.add(self._matrix(self.X, p.input))
        if any(g.padding):
            ph, pw = g.padding
            padded = np.empty((*p.input.shape[:-2], g.in_h + 2 * ph, g.in_w + 2 * pw), dtype=object)
            padded.fill("−∞" if p.mode == "max" else 0)
            padded[..., ph : ph + g.in_h, pw : pw + g.in_w] = p.input
            section.add(
                self._matrix(
                    f"{self.X} padded",
                    padded,
                    caption=f"{ph} rows above and below, {pw} cols left and right; padded indices "
                    "count from the padded corner",
                )
            )
        section.add(self._matrix(f"∂{self.L}/∂{self.Y} (upstream)", p.upstream, role=GRADIENT))
        return section

    def section_size(self) -> Section:
        g, p = self.g, self.p
        section = Section("size", "Output size")
        if p.size_text.startswith("global"):
            section.add(
                Note(
                    f'size "global": the window is the whole map, kh = H = {g.in_h}, kw = W = {g.in_w}'
                )
            )
        for axis, size, pad, d, k, s, out in (
            ("H", g.in_h, g.padding[0], g.dilation[0], g.kernel_h, g.stride[0], g.out_h),
            ("W", g.in_w, g.padding[1], g.dilation[1], g.kernel_w, g.stride[1], g.out_w),
        ):
            k_name = "kh" if axis == "H" else "kw"
            numerator = size + 2 * pad - d * (k - 1) - 1
            left, right = ("⌈", "⌉") if g.ceil_mode else ("⌊", "⌋")
            rounded = -(-numerator // s) if g.ceil_mode else numerator // s
            dropped = g.ceil_mode and rounded + 1 != out
            # When ceil_mode drops the last window, the formula counts it: its count gets its own
            # name, and H_out is the next step (an equation never ends at a size that is not it).
            count = f"{axis}_ceil" if dropped else f"{axis}_out"
            section.add(
                Formula(
                    label=count,
                    symbolic=f"{count} = {left}({axis} + 2p − d·({k_name} − 1) − 1)/s{right} + 1",
                    numeric=(
                        f"{left}(",
                        size,
                        " + 2·",
                        pad,
                        " − ",
                        d,
                        "·(",
                        k,
                        " − 1) − 1)/",
                        s,
                        f"{right} + 1 = {left}",
                        Fraction(numerator, s),
                        f"{right} + 1 = ",
                        rounded,
                        " + 1",
                    ),
                    value=rounded + 1,
                )
            )
            if g.ceil_mode:
                start = rounded * s
                if dropped:
                    section.add(
                        Note(
                            f"ceil_mode rule: the last window would start at padded {'row' if axis == 'H' else 'col'} "
                            f"({count} − 1)·s = {start} ≥ {axis} + p = {size + pad}, past the input and the left "
                            f"padding, so it is dropped:"
                        )
                    )
                    section.add(
                        Formula(
                            label=f"{axis}_out",
                            symbolic=f"{axis}_out = {count} − 1",
                            numeric=(rounded + 1, " − 1"),
                            value=out,
                        )
                    )
                else:
                    section.add(
                        Note(
                            f"ceil_mode rule: the last window starts at padded {'row' if axis == 'H' else 'col'} "
                            f"(out − 1)·s = {start} < {axis} + p = {size + pad}, inside the input or the "
                            f"left padding, so it stays: {axis}_out = {out}"
                        )
                    )
                end = (out - 1) * s + d * (k - 1) + 1
                if end > size + 2 * pad:
                    section.add(
                        Note(
                            f"that last window reaches padded {'row' if axis == 'H' else 'col'} {end - 1} but the "
                            f"padded input ends at {size + 2 * pad - 1}: it is clipped at the padded edge"
                        )
                    )
            elif numerator % s:
                section.add(
                    Note(
                        f"(the division leaves {numerator % s}: the stride does not tile the "
                        f"{'rows' if axis == 'H' else 'columns'}, so the floor drops the last partial window)"
                    )
                )
        unread = ~np.isin(
            np.arange(g.in_h * g.in_w), self.c.layout.positions[self.c.layout.real]
        ).reshape(g.in_h, g.in_w)
        if unread.any():
            cells = [
                self.sym_x(0, 0, int(r), int(c)).text
                for r, c in np.argwhere(unread)[: self.options.max_terms]
            ]
            more = int(unread.sum()) - len(cells)
            section.add(
                Note(
                    f"no window reads {', '.join(cells)}{f' and {more} more' if more > 0 else ''}"
                    + (" (in every channel)" if g.batch * g.channels > 1 else "")
                    + ": their gradient is 0"
                )
            )
        return section

    # forward -------------------------------------------------------------
    def _window_note(self, taps: list[tuple[int, int, int, int]], i: int, j: int) -> str:
        padding = sum(1 for t in taps if t[3] == PADDING)
        beyond = sum(1 for t in taps if t[3] == BEYOND)
        parts = []
        if padding:
            what = "−∞, never the max" if self.p.mode == "max" else "zeros"
            parts.append(f"{padding} tap{'s' if padding != 1 else ''} on padding ({what})")
        if beyond:
            parts.append(
                f"clipped: {beyond} tap{'s' if beyond != 1 else ''} past the padded edge (ceil_mode)"
            )
        return "; ".join(parts)

    def section_forward(self) -> Section:
        p = self.p
        title = {
            "max": f"Forward: each window and its max {self.Y}",
            "avg": f"Forward: each window and its average {self.Y}",
            "lp": f"Forward: each window and its LP value {self.Y} = (Σ x^p)^(1/p)",
        }[p.mode]
        section = Section("forward", title)
        rows, omitted = self._windows_shown()
        for n, c, i, j in rows:
            for item in self._window_items(n, c, i, j):
                section.add(item)
        section.omitted = omitted
        return section

    def _window_items(self, n: int, c: int, i: int, j: int) -> list[Formula | Note]:
        """Window (n, c, i, j): its formula with numbers, and a note on padding and divisors."""
        taps = self._taps(i, j)
        real = [(t, r, col) for t, r, col, code in taps if code == REAL]
        cap = self.options.max_terms
        shown, extra = real[:cap], len(real) - len(real[:cap])
        symbols = [self.sym_x(n, c, r, col).text for _, r, col in shown]
        values = [self.xs[n, c, r, col] for _, r, col in shown]
        more_symbolic = f" + … ({extra} more)" if extra > 0 else ""
        target = self.sym_y(n, c, i, j).text
        value = self.c.output[n, c, i, j]
        if self.p.mode == "max":
            numeric: list[Any] = ["max("]
            for k, v in enumerate(values):
                numeric.extend([", " if k else "", v])
            numeric.append(f", … ({extra} more))" if extra > 0 else ")")
            symbolic = f"{target} = max({', '.join(symbols)}{', …' if extra > 0 else ''})"
        elif self.p.mode == "avg":
            divisor = int(self.c.divisors[i, j])
            symbolic = f"{target} = ({' + '.join(symbols)}{more_symbolic})/{divisor}"
            numeric = ["(", *self._sum_tokens(values), f"{more_symbolic})/", divisor]
        else:
            if self.c.units[n, c, i, j] != 1:
                # m as the computation took it (the largest |x| of every tap, shown or not),
                # exactly: the float it was rounded to is that of this Fraction.
                largest = max(abs(self.xs[n, c, r, col]) for _, r, col in real)
                symbolic, numeric = self._lp_scaled_formula(
                    target, symbols, values, largest, (i, j), more_symbolic
                )
            else:
                symbolic, numeric = self._lp_formula(target, symbols, values, i, j, more_symbolic)
        items: list[Formula | Note] = [
            Formula(label=target, symbolic=symbolic, numeric=tuple(numeric), value=value)
        ]
        note = self._window_note(taps, i, j)
        if self.p.mode == "avg":
            note = "; ".join(filter(None, [note, self._divisor_words(i, j)]))
        if self.p.mode == "lp" and self.c.scales[i, j] != 1:
            inside = len(real)
            note = "; ".join(
                filter(
                    None,
                    [
                        note,
                        f"PyTorch's avg_pool2d(x^p)·kh·kw divides this clipped window's sum by its "
                        f"{inside} cells, not {self.g.taps}, so the sum is scaled by "
                        f"{self.g.taps}/{inside}",
                    ],
                )
            )
        if note:
            items.append(Note(f"   {target}: {note}"))
        if self.p.mode == "lp" and self.c.units[n, c, i, j] != 1:
            items.append(
                sentence(
                    f"   {target}: m is the window's largest |x|, ",
                    max(abs(self.xs[n, c, r, col]) for _, r, col in real),
                    ", and each term is shown as x/m: x^p would underflow or overflow float64 "
                    "(PyTorch's LPPool2d gives 0 or inf here)",
                )
            )
        return items

    @staticmethod
    def _sum_tokens(values: list[Any]) -> list[Any]:
        """a + b − c as formula tokens (a negative term after the first is subtracted)."""
        tokens: list[Any] = []
        for k, v in enumerate(values):
            if k == 0:
                tokens.append(v)
            else:
                tokens.extend([" − ", -v] if v < 0 else [" + ", v])
        return tokens

    def _divisor_words(self, i: int, j: int) -> str:
        p = self.p
        divisor = int(self.c.divisors[i, j])
        codes = self.c.layout.codes[i, j]
        inside = int((codes == REAL).sum())
        counted = int((codes != BEYOND).sum())
        if p.divisor_override is not None:
            return f"divisor {divisor} = divisor_override (the window has {inside} input cells)"
        if p.count_include_pad:
            if counted == self.g.taps and inside == counted:
                return ""
            why = []
            if counted != inside:
                why.append(
                    f"{counted - inside} padding cell{'s' if counted - inside != 1 else ''} counted"
                )
            if counted != self.g.taps:
                why.append(f"clipped at the padded edge: {counted} of {self.g.taps} cells")
            return f"divisor {divisor} ({', '.join(why)}; count_include_pad: true)"
        if inside == self.g.taps:
            return ""
        return f"divisor {divisor}: only the input cells count (count_include_pad: false)"

    def _lp_formula(
        self, target: str, symbols: list[str], values: list[Any], i: int, j: int, more: str
    ) -> tuple[str, list[Any]]:
        p = self.p.p
        pw, root = _power_text(p), _root_text(p)
        scale = self.c.scales[i, j]
        scale_text = "" if scale == 1 else f"{self.g.taps}/{int(round(self.g.taps / scale))}·"
        opening, closing = ("(", ")") if scale_text else ("", "")
        terms = " + ".join(f"{s}^{pw}" for s in symbols)
        symbolic = f"{target} = ({scale_text}{opening}{terms}{more}{closing})^{root}"
        numeric: list[Any] = [f"({scale_text}{opening}"]
        for k, v in enumerate(values):
            numeric.append(" + " if k else "")
            numeric.extend((*_power_base(v), f"^{pw}"))
        total = (
            sum((Fraction(v) ** int(p) for v in values), Fraction(0))
            if p.denominator == 1
            else sum(float(v) ** float(p) for v in values)
        )
        numeric.extend([f"{more}{closing})^{root} = ({scale_text}", total, f")^{root}"])
        return symbolic, numeric

    def _lp_scaled_formula(
        self,
        target: str,
        symbols: list[str],
        values: list[Any],
        largest: Fraction,
        window: tuple[int, int],
        more: str,
    ) -> tuple[str, list[Any]]:
        """y = m·((x/m)^p + …)^(1/p), m = ``largest``, the window's largest |x|, each x/m
        written as its exact value: the form the float64 computation used for this window."""
        p = self.p.p
        pw, root = _power_text(p), _root_text(p)
        scale = self.c.scales[window]
        scale_text = "" if scale == 1 else f"{self.g.taps}/{int(round(self.g.taps / scale))}·"
        opening, closing = ("(", ")") if scale_text else ("", "")
        terms = " + ".join(f"({s}/m)^{pw}" for s in symbols)
        symbolic = f"{target} = m·({scale_text}{opening}{terms}{more}{closing})^{root}"
        ratios = [Fraction(v) / largest for v in values]
        numeric: list[Any] = [largest, f"·({scale_text}{opening}"]
        for k, r in enumerate(ratios):
            numeric.append(" + " if k else "")
            numeric.extend((*_power_base(r), f"^{pw}"))
        total = (
            sum((r ** int(p) for r in ratios), Fraction(0))
            if p.denominator == 1
            else sum(float(r) ** float(p) for r in ratios)
        )
        numeric.extend(
            [f"{more}{closing})^{root} = ", largest, f"·({scale_text}", total, f")^{root}"]
        )
        return symbolic, numeric

    # routing -------------------------------------------------------------
    def section_routing(self) -> Section:
        p = self.p
        section = Section(
            "routing", f"Backward routing: where each upstream value ∂{self.L}/∂{self.Y} goes"
        )
        columns = (f"∂{self.L}/∂{self.Y}", "to", "value", "rule", f"∂{self.Y}/∂{self.X}", "amount")
        labels: list[str] = []
        cells: list[tuple[Any, ...]] = []
        rows, omitted = self._windows_shown()
        for n, c, i, j in rows:
            up = self.up[n, c, i, j]
            first_row = True
            for t, r, col, code in self._taps(i, j):
                if code != REAL:
                    continue
                rule = self._rule(n, c, i, j, t, r, col)
                if rule is None:
                    continue
                weight = self.c.weight((n, c, i, j, t))
                labels.append(self.sym_y(n, c, i, j).text if first_row else "")
                cells.append(
                    (
                        up if first_row else "",
                        self.sym_x(n, c, r, col),
                        self.xs[n, c, r, col],
                        rule,
                        weight,
                        up * weight,
                    )
                )
                first_row = False
        section.add(
            SymbolTable(
                "routing table",
                columns,
                tuple(labels),
                tuple(cells),
                caption={
                    "max": "the upstream value of a window goes to its maximum; the other cells get 0",
                    "avg": "the upstream value of a window is divided by its divisor and given to each input cell",
                    "lp": f"each cell gets upstream·x^(p−1)/{self.Y}^(p−1) (times kh·kw/cells for a clipped window)",
                }[p.mode],
            )
        )
        if p.mode == "max":
            section.add(
                Note(
                    "argmax in the results is PyTorch's return_indices: the flat index row·W + col "
                    f"(from 0) in the input plane, e.g. {self.sym_x(0, 0, self.g.in_h - 1, self.g.in_w - 1).text} "
                    f"is {self.g.in_h * self.g.in_w - 1}"
                )
            )
        section.omitted = omitted
        return section

    def _rule(self, n: int, c: int, i: int, j: int, t: int, r: int, col: int) -> str | None:
        """Why tap t of a window gets its share (None: a max tap that gets nothing and is not tied)."""
        p = self.p
        if p.mode == "avg":
            return f"÷ {int(self.c.divisors[i, j])}"
        if p.mode == "lp":
            power = "" if p.p == 2 else f"^{_power_text(p.p - 1)}"
            y = self.c.output[n, c, i, j]
            scale = self.c.scales[i, j]
            scale_text = "" if scale == 1 else f"{self.g.taps}/{int(round(self.g.taps / scale))}·"
            if y == 0:
                return "Σ x^p = 0: gradient 0"
            if p.p == 1:
                return f"{scale_text}x^0/y^0 = {plain(scale)}"
            x = self.xs[n, c, r, col]
            base = (
                f"({plain(x)})" if power and (x < 0 or Fraction(x).denominator != 1) else plain(x)
            )
            return f"{scale_text}{base}{power}/{plain(y)}{power}"
        tied = self.c.tied[n, c, i, j]
        if not tied[t]:
            return None
        count = int(tied.sum())
        if count == 1:
            return "the max"
        if p.ties == "first":
            return (
                f"first of {count} tied maxima"
                if self.c.first[n, c, i, j] == t
                else "tied, not first: 0"
            )
        if p.ties == "all":
            return f"tied max ({count}), all: full value"
        return f"tied max: split {count} ways"

    # backward ------------------------------------------------------------
    def _containing(self, r: int, col: int) -> list[tuple[int, int, int]]:
        """(i, j, t) of every window tap that reads input cell (r, col)."""
        rows, cols = self.g.window_axes()
        return sorted(
            (tap.output[0], tap.output[1], tap.tap[0] * self.g.kernel_w + tap.tap[1])
            for tap in cell_readers(rows, cols, r, col)
        )

    def general_rule(self, target: str) -> str:
        p = self.p
        y, L = self.Y, self.L
        if p.mode == "avg":
            return f"Σ over windows reading {target}: ∂{L}/∂{y}/divisor"
        if p.mode == "lp":
            return f"Σ over windows reading {target}: ∂{L}/∂{y}·{target}^(p−1)/{y}^(p−1)"
        return {
            "first": f"Σ over windows reading {target}: ∂{L}/∂{y}·1[{target} is the first max of {y}]",
            "all": f"Σ over windows reading {target}: ∂{L}/∂{y}·1[{target} = {y}]",
            "split": f"Σ over windows reading {target}: ∂{L}/∂{y}·1[{target} = {y}]/(number of maxima of {y})",
        }[p.ties]

    def section_backward(self) -> Section:
        g, p = self.g, self.p
        section = Section("backward", f"Backward: ∂{self.L}/∂{self.X}, cell by cell")
        total = p.input.size
        shown = self.options.cap(total)
        for flat in range(shown):
            n, c, r, col = (
                int(v) for v in np.unravel_index(flat, (g.batch, g.channels, g.in_h, g.in_w))
            )
            section.add(self._input_sum(n, c, r, col))
        section.add(self._matrix(f"∂{self.L}/∂{self.X}", self.results["grad_input"], role=GRADIENT))
        section.omitted = total - shown
        return section

    def _input_sum(self, n: int, c: int, r: int, col: int) -> SumOfProducts:
        """∂L/∂x at (n, c, r, col) as a sum over the windows that read it."""
        grad = self.c.grad_input
        target = self.sym_x(n, c, r, col)
        containing = self._containing(r, col)
        terms = []
        for i, j, t in containing[: self.options.max_terms]:
            y = self.sym_y(n, c, i, j).text
            terms.append(
                Product(
                    (
                        (self.sym_up(n, c, i, j), self.up[n, c, i, j]),
                        (Symbol(f"∂{y}/∂{target.text}"), self.c.weight((n, c, i, j, t))),
                    )
                )
            )
        notes = []
        if not containing:
            notes.append("no window reads this cell")
        if len(containing) > 1:
            names = ", ".join(self.sym_y(n, c, i, j).text for i, j, _ in containing[:6])
            notes.append(
                f"in {len(containing)} overlapping windows ({names}{', …' if len(containing) > 6 else ''}): "
                "their contributions add"
            )
        clipped = [
            self.sym_y(n, c, i, j).text
            for i, j, _ in containing
            if (self.c.layout.codes[i, j] == BEYOND).any()
        ]
        if clipped:
            notes.append(
                f"clipped window{'s' if len(clipped) > 1 else ''} {', '.join(clipped)} (ceil_mode)"
            )
        return SumOfProducts(
            target=Symbol(f"∂{self.L}/∂{self.X}", target.index, self.sep),
            general=self.general_rule(target.text),
            terms=tuple(terms),
            value=grad[n, c, r, col],
            note="; ".join(notes),
            omitted=len(containing) - len(terms),
        )

    # focus ---------------------------------------------------------------
    def section_focus(self, target: FocusTarget) -> tuple[Section, Focus]:
        """``--focus``: the cells one window reads (stride, dilation, padding and a ceil_mode
        clip drawn), or the windows one input cell is in; with its forward or backward step."""
        g, p = self.g, self.p
        base = p.index_base
        rows, cols = g.window_axes()
        n, c = target.at("n"), target.at("c")
        plane = {"n": n, "c": c}
        padding = ""
        if any(g.padding):
            padding = "padding (−∞, never the max)" if p.mode == "max" else "zero padding (0)"
        if target.array.role == "output":
            i, j = target.at("row"), target.at("col")
            y = self.sym_y(n, c, i, j).text
            taps = window_taps(rows, cols, i, j)
            real = sum(tap.where == REAL for tap in taps)
            section = Section(
                "focus",
                f"Focus: the {real} cell{'s' if real != 1 else ''} of {self.X} that {y} reads",
            )
            section.add(Note(placement_note(rows, cols, i, j, base)))
            section.add(
                self._input_picture(
                    n, c, [tap.cell for tap in taps], read_caption(y, taps, padding)
                )
            )
            section.add(
                tap_grid(
                    f"the cell of {self.X} each window tap (m, q) of {y} reads",
                    taps,
                    (g.kernel_h, g.kernel_w),
                    lambda tap: cell_name(tap, lambda r, col: self.sym_x(n, c, r, col).text, base),
                    index_base=base,
                    caption="rows: m, columns: q",
                )
            )
            for item in self._window_items(n, c, i, j):
                section.add(item)
            return section, Focus(y, "output", target.index, tuple(taps), {})

        r, col = target.at("row"), target.at("col")
        x = self.sym_x(n, c, r, col).text
        taps = cell_readers(rows, cols, r, col)
        section = Section(
            "focus",
            f"Focus: the {len(taps)} window{'s' if len(taps) != 1 else ''} {self.Y} that {x} is in"
            if taps
            else f"Focus: {x} is in no window of {self.Y}",
        )
        section.add(Note(readers_note(rows, cols, r, col, base)))
        section.add(
            self._input_picture(
                n, c, [(r, col)], f"[v]: {x}" + (f"; ·: {padding}" if padding else "")
            )
        )
        section.add(
            picture(
                plane_label(self.Y, p.input_axes, plane, base),
                self.c.output[n, c],
                [tap.output for tap in taps],
                index_base=base,
                caption=f"[v]: a window that reads {x}" if taps else f"no window reads {x}",
            )
        )
        if taps:
            section.add(
                SymbolTable(
                    f"the windows {x} is in, and ∂{self.Y}/∂{x} in each",
                    ("window tap (m, q)", f"∂{self.Y}/∂{x}"),
                    tuple(self.sym_y(n, c, *tap.output).text for tap in taps),
                    tuple(
                        (
                            position_text(tap.tap, base),
                            self.c.weight(
                                (n, c, *tap.output, tap.tap[0] * g.kernel_w + tap.tap[1])
                            ),
                        )
                        for tap in taps
                    ),
                )
            )
        section.add(self._input_sum(n, c, r, col))
        return section, Focus(x, "input", target.index, tuple(taps), {})

    def _input_picture(self, n: int, c: int, cells: list[tuple[int, int]], caption: str) -> Picture:
        """Input plane (n, c) in its padding, with ``cells`` marked."""
        base = self.p.index_base
        return picture(
            plane_label(self.X, self.p.input_axes, {"n": n, "c": c}, base),
            self.xs[n, c],
            cells,
            index_base=base,
            frame=self.g.window_axes(),
            caption=caption,
        )

    # ties ----------------------------------------------------------------
    def section_ties(self) -> Section:
        p = self.p
        section = Section("ties", "Ties")
        if p.mode != "max":
            section.add(Note(f"mode {p.mode}: ties do not matter (only a max picks a winner)"))
            return section
        tied = self.c.tied
        counts = tied.sum(axis=-1)
        tie_windows = np.argwhere(counts > 1)
        if not len(tie_windows):
            section.add(
                Note(
                    "no ties: every window has a single maximum, so first, all and split give the "
                    "same gradient (and max is differentiable at this input)"
                )
            )
            return section
        section.add(
            Note(
                f"{len(tie_windows)} window{'s have' if len(tie_windows) != 1 else ' has'} tied maxima; "
                f"this spec uses ties: {p.ties}. Max is not differentiable at a tie, so each policy is a "
                "convention (a subgradient), and the finite-difference check skips the tied cells."
            )
        )
        shown = self.options.cap(len(tie_windows))
        for n, c, i, j in tie_windows[:shown]:
            taps = [
                (t, r, col)
                for t, r, col, code in self._taps(int(i), int(j))
                if code == REAL and tied[n, c, i, j, t]
            ]
            names = " = ".join(self.sym_x(n, c, r, col).text for _, r, col in taps)
            section.add(
                sentence(
                    f"{self.sym_y(n, c, i, j).text}: {names} = ",
                    self.c.output[n, c, i, j],
                    f" ({len(taps)}-way tie; upstream ",
                    self.up[n, c, i, j],
                    ")",
                )
            )
        section.omitted = len(tie_windows) - shown
        for policy in TIE_POLICIES:
            if policy == p.ties:
                grad = self.c.grad_input
            else:
                grad = compute(p, exact=self.c.exact, ties=policy).grad_input
            label = f"∂{self.L}/∂{self.X} under ties: {policy}" + (
                " (this spec)" if policy == p.ties else ""
            )
            caption = {
                "first": "PyTorch: only the first maximum gets the value",
                "all": "every tied maximum gets the full value (seed 000 Ex. 2, seed 003's indicator)",
                "split": "k tied maxima get 1/k each",
            }[policy]
            section.add(
                self._matrix(label, grad.reshape(p.input.shape), caption=caption, role=GRADIENT)
            )
        return section

    # jacobian ------------------------------------------------------------
    def section_jacobian(self) -> Section:
        p, g = self.p, self.g
        section = Section("jacobian", f"Jacobian ∂{self.Y}/∂{self.X}")
        matrix = self.results.get("jacobian_input")
        if matrix is None:
            section.add(
                Note(
                    f"not built: ∂{self.Y}/∂{self.X} would have {g.windows * p.input.size:,} entries, above "
                    f"the limit of {self.options.limits.max_jacobian:,} (raise it with --max-jacobian)"
                )
            )
            return section
        out_labels = tuple(
            self.sym_y(*idx).text for idx in np.ndindex(g.batch, g.channels, g.out_h, g.out_w)
        )
        x_labels = tuple(
            self.sym_x(*idx).text for idx in np.ndindex(g.batch, g.channels, g.in_h, g.in_w)
        )
        shown = self.options.cap(len(out_labels))
        section.add(
            SymbolTable(
                f"∂{self.Y}/∂{self.X} (values)",
                x_labels,
                out_labels[:shown],
                tuple(tuple(matrix[r]) for r in range(shown)),
                f"row: output, column: input; {len(out_labels)}×{len(x_labels)}; "
                f"∂{self.L}/∂{self.X} = (∂{self.L}/∂{self.Y} as a row)·this matrix",
                omitted=len(out_labels) - shown,
            )
        )
        return section

    # relations (lp) ------------------------------------------------------
    def section_relations(self) -> Section:
        p = self.p
        section = Section("relations", "LP pooling, average and max (seed 002)")
        if p.mode != "lp":
            section.add(Note(f"mode {p.mode}: these relations are shown for mode lp"))
            return section
        values = [self.xs[0, 0, r, col] for _, r, col, code in self._taps(0, 0) if code == REAL]
        window = self.sym_y(0, 0, 0, 0).text
        count = len(values)
        total = sum(values, Fraction(0))
        section.add(
            Formula(
                label=f"{window} at p = 1",
                symbolic=f"p = 1, window of {window}: (Σ x^1)^(1/1) = Σ x = average·window size "
                "(seed 002: AvgPool = (1/|S|)·LP with p = 1)",
                numeric=(*self._sum_tokens(values), " = ", total / count, "·", count),
                value=total,
            )
        )
        largest = max(values)
        largest_abs = max(abs(v) for v in values)
        table = []
        for power in sorted(set(RELATION_PS) | ({int(p.p)} if p.p.denominator == 1 else set())):
            if any(v < 0 for v in values) and power % 2 and power != 1:
                continue
            if power == 1 or not largest_abs:
                norm = float(total)
            else:  # scaled by the largest |x| so that x^p cannot overflow
                scaled = sum((float(v) / float(largest_abs)) ** power for v in values)
                norm = float(largest_abs) * scaled ** (1 / power)
            table.append((str(power), norm, norm - float(largest)))
        table.append(("∞", largest, 0))
        section.add(
            SymbolTable(
                f"(Σ x^p)^(1/p) over the window of {window} as p grows",
                ("(Σ x^p)^(1/p)", "minus the max"),
                tuple(row[0] for row in table),
                tuple(row[1:] for row in table),
                caption=f"growing p approaches the max {plain(largest)} (seed 002: MaxPool = lim p→∞ of LP)"
                + (
                    "; with negative entries, even p approach the largest |x| instead"
                    if any(v < 0 for v in values)
                    else ""
                ),
            )
        )
        return section
