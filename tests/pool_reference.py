"""Plain nested-loop pooling written from PyTorch's CPU kernels.

The yardstick for gradcalc's vectorized pool module: no NumPy, no tap
layouts; each output is computed the way PyTorch's loops do it (window start
``hstart = i·s − pad``, clipped ranges, a scan for the maximum), and each
gradient by running over the windows again.

Arrays are nested Python lists in NCHW layout; entries are ``Fraction``
(exact: max and avg) or ``float`` (LP).

- output size (pooling_output_shape): ⌊(H + 2p − d·(k − 1) − 1)/s⌋ + 1, or with
  ceil_mode the ⌈·⌉ version, minus one when (out − 1)·s ≥ H + p;
- max: scan the window's in-bounds taps in row-major order; the first strictly
  larger value wins (PyTorch); ties: first / all / split route the upstream;
- avg: hend = min(hstart + k, H + p) gives pool_size (padding counted, clipped
  at the padded edge); divisor = divisor_override, else pool_size when
  count_include_pad, else the in-bounds cells;
- LP: avg_pool2d(x^p, k, s, 0, ceil_mode)·kh·kw, then the 1/p-th power;
  gradient 0 where the window's sum is 0.
"""

from __future__ import annotations

from decimal import Decimal, localcontext
from fractions import Fraction
from typing import Any

Pair = tuple[int, int]


def output_size(size: int, k: int, pad: int, s: int, d: int, ceil_mode: bool) -> int:
    numerator = size + 2 * pad - d * (k - 1) - 1
    if ceil_mode:
        numerator += s - 1
    out = numerator // s + 1
    if ceil_mode and (out - 1) * s >= size + pad:
        out -= 1
    return out


def _zeros(n: int, c: int, h: int, w: int, zero: Any) -> list:
    return [[[[zero for _ in range(w)] for _ in range(h)] for _ in range(c)] for _ in range(n)]


def _in_bounds_taps(start: int, k: int, d: int, size: int) -> list[int]:
    """Input rows a window starting at ``start`` reads (PyTorch: skip negative, stop at size)."""
    end = min(start + (k - 1) * d + 1, size)
    while start < 0:
        start += d
    return list(range(start, end, d))


def max_pool(
    x: list,
    upstream: list,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    dilation: Pair,
    ceil_mode: bool,
    ties: str,
) -> tuple[list, list, list]:
    """Returns (output, grad_input, argmax); argmax: PyTorch's flat index under first,
    a tuple of every tied maximum's flat index under all/split."""
    n_, c_, h, w = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    ho = output_size(h, kernel[0], padding[0], stride[0], dilation[0], ceil_mode)
    wo = output_size(w, kernel[1], padding[1], stride[1], dilation[1], ceil_mode)
    out = _zeros(n_, c_, ho, wo, None)
    arg = _zeros(n_, c_, ho, wo, None)
    grad = _zeros(n_, c_, h, w, Fraction(0))
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                rows = _in_bounds_taps(i * stride[0] - padding[0], kernel[0], dilation[0], h)
                for j in range(wo):
                    cols = _in_bounds_taps(j * stride[1] - padding[1], kernel[1], dilation[1], w)
                    best = None
                    best_at = None
                    for r in rows:
                        for col in cols:
                            if best is None or x[n][c][r][col] > best:
                                best, best_at = x[n][c][r][col], (r, col)
                    if best is None:
                        raise ValueError("a window reads only padding")
                    tied = [(r, col) for r in rows for col in cols if x[n][c][r][col] == best]
                    out[n][c][i][j] = best
                    u = upstream[n][c][i][j]
                    if ties == "first":
                        arg[n][c][i][j] = best_at[0] * w + best_at[1]
                        grad[n][c][best_at[0]][best_at[1]] += u
                    else:
                        arg[n][c][i][j] = tuple(r * w + col for r, col in tied)
                        share = u if ties == "all" else u / len(tied)
                        for r, col in tied:
                            grad[n][c][r][col] += share
    return out, grad, arg


def avg_pool(
    x: list,
    upstream: list,
    kernel: Pair,
    stride: Pair,
    padding: Pair,
    ceil_mode: bool,
    count_include_pad: bool,
    divisor_override: int | None,
) -> tuple[list, list]:
    n_, c_, h, w = len(x), len(x[0]), len(x[0][0]), len(x[0][0][0])
    ho = output_size(h, kernel[0], padding[0], stride[0], 1, ceil_mode)
    wo = output_size(w, kernel[1], padding[1], stride[1], 1, ceil_mode)
    out = _zeros(n_, c_, ho, wo, None)
    grad = _zeros(n_, c_, h, w, Fraction(0))
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    hstart = i * stride[0] - padding[0]
                    wstart = j * stride[1] - padding[1]
                    hend = min(hstart + kernel[0], h + padding[0])
                    wend = min(wstart + kernel[1], w + padding[1])
                    pool_size = (hend - hstart) * (wend - wstart)
                    hstart, wstart = max(hstart, 0), max(wstart, 0)
                    hend, wend = min(hend, h), min(wend, w)
                    if divisor_override is not None:
                        divisor = divisor_override
                    elif count_include_pad:
                        divisor = pool_size
                    else:
                        divisor = (hend - hstart) * (wend - wstart)
                    total = Fraction(0)
                    for r in range(hstart, hend):
                        for col in range(wstart, wend):
                            total += x[n][c][r][col]
                    out[n][c][i][j] = total / divisor
                    for r in range(hstart, hend):
                        for col in range(wstart, wend):
                            grad[n][c][r][col] += upstream[n][c][i][j] / divisor
    return out, grad


def lp_windows(shape: tuple[int, ...], kernel: Pair, stride: Pair, ceil_mode: bool):
    """Each LP window of an NCHW ``shape``: (n, c, i, j, its cells (r, col), clipped at the
    input's edge, row-major).  No padding (PyTorch's LPPool2d has none)."""
    n_, c_, h, w = shape
    ho = output_size(h, kernel[0], 0, stride[0], 1, ceil_mode)
    wo = output_size(w, kernel[1], 0, stride[1], 1, ceil_mode)
    for n in range(n_):
        for c in range(c_):
            for i in range(ho):
                for j in range(wo):
                    hstart, wstart = i * stride[0], j * stride[1]
                    hend, wend = min(hstart + kernel[0], h), min(wstart + kernel[1], w)
                    cells = [(r, col) for r in range(hstart, hend) for col in range(wstart, wend)]
                    yield n, c, i, j, cells


def _lp_arrays(x: list, kernel: Pair, stride: Pair, ceil_mode: bool, zero: Any):
    """Zero output (N×C×H_out×W_out) and gradient (N×C×H×W) nested lists, and x's shape."""
    shape = (len(x), len(x[0]), len(x[0][0]), len(x[0][0][0]))
    ho = output_size(shape[2], kernel[0], 0, stride[0], 1, ceil_mode)
    wo = output_size(shape[3], kernel[1], 0, stride[1], 1, ceil_mode)
    return _zeros(*shape[:2], ho, wo, zero), _zeros(*shape, zero), shape


def lp_pool(
    x: list, upstream: list, p: float, kernel: Pair, stride: Pair, ceil_mode: bool
) -> tuple[list, list]:
    """Floats.  PyTorch: avg_pool2d(x^p) (no padding, so its divisor is the clipped
    window size) times kh·kw, then ^(1/p)."""
    out, grad, shape = _lp_arrays(x, kernel, stride, ceil_mode, 0.0)
    for n, c, i, j, cells in lp_windows(shape, kernel, stride, ceil_mode):
        scale = kernel[0] * kernel[1] / len(cells)
        total = scale * sum(float(x[n][c][r][col]) ** p for r, col in cells)
        if total == 0:
            continue
        y = total if p == 1 else total ** (1 / p)
        out[n][c][i][j] = y
        for r, col in cells:
            local = scale * float(x[n][c][r][col]) ** (p - 1) * y ** (1 - p)
            grad[n][c][r][col] += float(upstream[n][c][i][j]) * local
    return out, grad


def lp_pool_decimal(
    x: list, upstream: list, p: Fraction, kernel: Pair, stride: Pair, ceil_mode: bool
) -> tuple[list, list]:
    """LP pooling of exact inputs (Fractions) in 50-digit decimal arithmetic: the true
    value at any magnitude (Decimal's exponent range is far wider than float64's), as
    Decimals.  The same windows and clipped-window scale as :func:`lp_pool`."""
    with localcontext() as context:
        context.prec = 50
        power = Decimal(p.numerator) / Decimal(p.denominator)
        out, grad, shape = _lp_arrays(x, kernel, stride, ceil_mode, Decimal(0))
        for n, c, i, j, cells in lp_windows(shape, kernel, stride, ceil_mode):
            scale = Decimal(kernel[0] * kernel[1]) / len(cells)
            values = [_decimal(x[n][c][r][col]) for r, col in cells]
            total = scale * sum((_decimal_power(v, power) for v in values), Decimal(0))
            if total == 0:
                continue
            y = total ** (1 / power)
            out[n][c][i][j] = y
            for (r, col), v in zip(cells, values, strict=True):
                local = scale * _decimal_power(v / y, power - 1)
                grad[n][c][r][col] += _decimal(upstream[n][c][i][j]) * local
    return out, grad


def _decimal(value: Fraction | int) -> Decimal:
    value = Fraction(value)
    return Decimal(value.numerator) / Decimal(value.denominator)


def _decimal_power(base: Decimal, power: Decimal) -> Decimal:
    """base^power with 0^0 = 1 (p = 1's x^(p−1)) and an integer power of a negative base."""
    if power == 0:
        return Decimal(1)
    if base == 0:
        return Decimal(0)
    if base < 0:
        return (-base) ** power * (-1 if int(power) % 2 else 1)
    return base**power
