"""A conv problem's Jacobians as index maps: which input entry each ∂y_r/∂w_k equals and
which kernel entry each ∂y_r/∂x_i equals (flat indices, −1 for a cell that is 0), built from
the sliding windows' taps, :func:`gather`, which turns a map into the Jacobian's values, and
:func:`result_shapes`, every result's shape, and what conv's and conv_transpose's problems
share (:class:`ConvArrays`, :func:`output_shape`, ``SPATIAL``).
core/kinds/conv.py runs them; conv_transpose gathers with the same function."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

from gradcalc.core import spec as common
from gradcalc.core.kinds.symbolic_fields import answer_names, answers_at, naming, numbers_above_cap
from gradcalc.core.ops.conv import tap_windows
from gradcalc.core.values import to_float

if TYPE_CHECKING:
    from gradcalc.core.kinds.conv import ConvProblem
    from gradcalc.core.ops.conv import ConvGeometry

# The spatial axes of a 1-, 2- and 3-D problem as the spec's axes name them, and the axes of
# the output the ops make (N×O×H_out×W_out, or N×O×D_out×H_out×W_out).
SPATIAL = {1: ("col",), 2: ("row", "col"), 3: ("depth", "row", "col")}
RUN_OUTPUT_AXES = {4: ("n", "o", "row", "col"), 5: ("n", "o", "depth", "row", "col")}


def output_shape(geometry: Any, axes: tuple[str, ...]) -> tuple[int, ...]:
    """The output's shape in the spec's own ``axes`` (a subset of n, o, depth, row, col);
    ``geometry``: a conv's or conv_transpose's, 1-D/2-D or 3-D."""
    full = geometry.output_shape
    sizes = dict(zip(RUN_OUTPUT_AXES[len(full)], full, strict=True))
    return tuple(sizes[a] for a in axes)


def output_axes(x: np.ndarray, w: np.ndarray, dims: int) -> tuple[str, ...]:
    """The output's axes in the spec's own shape: n if the input has a batch axis, o if the
    kernel has both channel axes, then the ``dims`` spatial ones."""
    return (
        (("n",) if x.ndim == dims + 2 else ())
        + (("o",) if w.ndim == dims + 2 else ())
        + SPATIAL[dims]
    )


def read_answers(
    spec: Mapping[str, Any],
    arrays: tuple[np.ndarray, np.ndarray, np.ndarray | None],
    geometry: Any,
    out_axes: tuple[str, ...],
    most_terms: int,
    context: tuple[Mapping[str, str], common.Limits],
) -> dict[str, Any]:
    """The upstream and expected answers of a conv or conv_transpose spec, with the input,
    kernel and bias ``arrays`` as they are solved: above the symbolic limits (``geometry.work``
    multiply-adds, ``most_terms`` terms in one sum) every symbol gets a random whole number
    (docs/symbolic.md).  ``context`` is the spec's names and the limits.  The problem's fields
    by name: input, kernel, bias, upstream, upstream_given, expected, symbolic_capped."""
    names, limits = context
    x, w, bias = arrays
    out_shape = output_shape(geometry, out_axes)
    upstream, upstream_given = common.read_upstream(
        spec, out_shape, names["output"], limits, naming=naming(spec, names, "output")
    )
    known_results = result_shapes(out_shape, x, w, bias)
    symbols = answer_names(spec, x, w, bias, upstream)
    fields, values, capped = numbers_above_cap(
        {"input": x, "kernel": w, "bias": bias, "upstream": upstream}, geometry.work, most_terms
    )
    expected = common.read_expected(spec, known_results, limits, symbols=symbols)
    return dict(
        fields,
        upstream_given=upstream_given,
        expected=answers_at(expected, values),
        symbolic_capped=capped,
    )


class ConvArrays:
    """What conv's and conv_transpose's problems share, read off their ``geometry``,
    ``output_axes`` and arrays (``input``, ``kernel``, ``bias``, ``upstream``)."""

    @property
    def dims(self) -> int:
        return self.geometry.dims

    @cached_property
    def floats(self) -> dict[str, np.ndarray | None]:
        """float64 copies of input, kernel, bias and upstream (made once: converting
        Fractions is slow)."""
        bias = self.bias
        return {
            "input": to_float(self.input),
            "kernel": to_float(self.kernel),
            "bias": None if bias is None else to_float(bias),
            "upstream": to_float(self.upstream),
        }

    @property
    def output_shape(self) -> tuple[int, ...]:
        return output_shape(self.geometry, self.output_axes)

    def to_nchw(self, values: np.ndarray) -> np.ndarray:
        """The input as the op reads it: N×C×H×W (3-D: N×C×D×H×W)."""
        return values.reshape(self.geometry.input_shape)


def jacobian_maps(problem: ConvProblem) -> tuple[np.ndarray, np.ndarray]:
    """Which entry each Jacobian cell is, as flat indices (−1: the cell is 0).

    Returns (kernel_map, input_map):
    - kernel_map: R×K, ∂y_r/∂w_k = input.flat[kernel_map[r, k]];
    - input_map:  R×I, ∂y_r/∂x_i = kernel.flat[input_map[r, i]];
    with R outputs, K kernel entries and I input entries, all in row-major order.
    """
    g = problem.geometry
    positions = np.arange(g.batch * g.in_channels * g.in_h * g.in_w).reshape(
        g.batch, g.in_channels, g.in_h, g.in_w
    )
    padded_positions = np.full((g.batch, g.in_channels, g.padded_h, g.padded_w), -1, dtype=np.int64)
    top, _, left, _ = g.padding
    padded_positions[:, :, top : top + g.in_h, left : left + g.in_w] = positions
    taps = tap_windows(padded_positions, g)  # N×C×Ho×Wo×kh×kw, input index under each (slid) tap
    if problem.flip_kernel:
        taps = taps[..., ::-1, ::-1]  # index by the spec's kernel entry, not the slid one
    return _kernel_map(taps, g), _input_map(taps, g, positions.size)


def _kernel_map(taps: np.ndarray, g: ConvGeometry) -> np.ndarray:
    """R×K: the input entry (flat index, −1: none) each ∂y_r/∂w_k equals; ``taps`` is
    N×C×H_out×W_out×kh×kw, the input index under each tap (output channel o's kernel
    meets only the input channels of its group)."""
    rows = g.batch * g.out_channels * g.out_h * g.out_w
    kernel_map = np.full(
        (
            g.batch,
            g.out_channels,
            g.out_h,
            g.out_w,
            g.out_channels,
            g.group_in,
            g.kernel_h,
            g.kernel_w,
        ),
        -1,
        dtype=np.int64,
    )
    for o in range(g.out_channels):
        group = g.group_inputs(o)
        kernel_map[:, o, :, :, o] = taps[:, group.start : group.stop].transpose(0, 2, 3, 1, 4, 5)
    return kernel_map.reshape(rows, -1)


def _input_map(taps: np.ndarray, g: ConvGeometry, inputs: int) -> np.ndarray:
    """R×I: the kernel entry (flat index, −1: none) each ∂y_r/∂x_i equals."""
    rows = g.batch * g.out_channels * g.out_h * g.out_w
    input_map = np.full((rows, inputs), -1, dtype=np.int64)
    kernel_index = np.arange(g.out_channels * g.group_in * g.kernel_h * g.kernel_w).reshape(
        g.out_channels, g.group_in, g.kernel_h, g.kernel_w
    )
    row_index = np.arange(rows).reshape(g.batch, g.out_channels, g.out_h, g.out_w)
    # For each output (n,o,i,j) and kernel tap (c,m,q): the input cell read, if any
    # (c counts within o's group: input channel (o // (O/g))·(C/g) + c).
    n, o, i, j, c, m, q = np.meshgrid(
        *(
            np.arange(s)
            for s in (
                g.batch,
                g.out_channels,
                g.out_h,
                g.out_w,
                g.group_in,
                g.kernel_h,
                g.kernel_w,
            )
        ),
        indexing="ij",
    )
    read = taps[n, (o // g.group_out) * g.group_in + c, i, j, m, q]
    valid = read >= 0
    input_map[row_index[n, o, i, j][valid], read[valid]] = kernel_index[o, c, m, q][valid]
    return input_map


def gather(values: np.ndarray, index_map: np.ndarray, exact: bool) -> np.ndarray:
    """values.flat[index_map] with −1 meaning 0."""
    flat = values.ravel() if exact else to_float(values).ravel()
    zero = Fraction(0) if exact else 0.0
    result = np.empty(index_map.shape, dtype=object if exact else float)
    result.fill(zero)
    valid = index_map >= 0
    result[valid] = flat[index_map[valid]]
    return result


def result_shapes(
    output_shape: tuple[int, ...], x: np.ndarray, w: np.ndarray, bias: np.ndarray | None
) -> dict[str, tuple[int, ...] | None]:
    """Each result's shape, for reading ``expected`` (a Jacobian: output entries × entries),
    as conv and conv_transpose name their results."""
    out_size = int(np.prod(output_shape))
    shapes: dict[str, tuple[int, ...] | None] = {
        "output": output_shape,
        "output_shape": (len(output_shape),),
        "grad_input": x.shape,
        "grad_kernel": w.shape,
        "jacobian_kernel": (out_size, w.size),
        "jacobian_input": (out_size, x.size),
    }
    if bias is not None:
        shapes["grad_bias"] = bias.shape
    return shapes
