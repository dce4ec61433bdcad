"""The whole chain of a net (core/kinds/net.py) against float64 central finite differences:
``finite_differences(problem, run)``, for core/solve.py.

The loss is evaluated by each layer's ops forward alone, in float64 (core/kinds/net_ops.py),
on the problems the layers' kinds read when the net was read: no kind's run, no backward
pass, no exact arithmetic per probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from gradcalc.core.checking import check_gradients_where
from gradcalc.core.kinds import net_batched, net_ops
from gradcalc.core.kinds.net import Layer, NetProblem
from gradcalc.core.kinds.net_run import upstream_is_ones
from gradcalc.core.outcome import GradientCheck, Run


def float_loss(problem: NetProblem, params: Mapping[str, np.ndarray]) -> float:
    """The net's loss in float64 (Σ upstream ⊙ output without a loss) at ``params``:
    ``input`` and ``N.kernel``, ``N.weight``, ``N.bias``.  Only forward float64 arithmetic:
    each layer's ops forward (core/kinds/net_ops.py) on the problem its kind read when the
    net was read, with its input and parameters replaced by the float64 values.  Without
    ``input`` (an embedding first: the input is its indices, which never move) the first
    layer takes its own."""
    values = params.get("input")
    for layer, kind_problem in zip(problem.layers, problem.read_layers, strict=True):
        moved = {name: params[f"{layer.name}.{name}"] for name in layer.parameters}
        values, _ = net_ops.forward(layer.type, kind_problem, values, moved)
        values = np.asarray(values, dtype=float)
    if problem.loss is not None:
        return net_ops.loss_value(problem.read_loss, values)
    upstream = (
        1.0 if upstream_is_ones(problem.upstream) else np.asarray(problem.upstream, dtype=float)
    )
    return float(np.sum(upstream * values))


def chain_params(problem: NetProblem, run: Run) -> tuple[dict, dict]:
    """(the values, the analytic gradients) of the input (not an embedding's indices) and
    every parameter."""
    params, analytic = {}, {}
    if not problem.looks_up:  # indices have no gradient
        params["input"] = problem.input.astype(float)
        analytic["input"] = run.results["grad_input"]
    for layer in problem.layers:
        for parameter in layer.parameters:
            key = f"{layer.name}.{parameter}"
            params[key] = np.asarray(layer_value(problem, layer, parameter), dtype=float)
            analytic[key] = run.results[f"{layer.name}.grad_{parameter}"]
    return params, analytic


def layer_value(problem: NetProblem, layer: Layer, parameter: str) -> np.ndarray:
    """A parameter as the layer's kind read it when the net was read (its problem in
    ``read_layers``): numbers written as text ("1/2") read too, and one not written (a
    normalization layer's γ or β) is its kind's default (ones, zeros).  These are the very
    values float_loss's moved parameters stand in for (net_ops.forward takes them in place
    of the problem's), so they are taken from there, not parsed from the spec again."""
    return getattr(problem.read_layers[layer.index], parameter)


# Entries of each parameter the whole-chain check probes (each costs six runs of the chain),
# and the most entries (input and parameters together) a net may have for the check to run:
# each run of the chain reads every array again, so larger nets would take minutes.
PROBED = 24
MOST_CHECKED = 5000


def probed(size: int) -> set[int]:
    """The flat indices the check probes: all of them, or PROBED spread evenly."""
    if size <= PROBED:
        return set(range(size))
    return set(np.linspace(0, size - 1, PROBED).round().astype(int).tolist())


def _probed_entries(values: np.ndarray) -> list[tuple[int, ...]]:
    """The indices of the entries the check probes (``probed``), in flat order."""
    if not values.ndim:
        return [()]
    flats = np.array(sorted(probed(values.size)), dtype=int)
    return list(
        zip(*(axis.tolist() for axis in np.unravel_index(flats, values.shape)), strict=True)
    )


def smooth_entries(
    shifted: Callable[[str, tuple[int, ...], float], float],
    centre: float,
    params: Mapping[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], int]:
    """True where an entry is probed and the loss is smooth around it, as far as float64
    can tell; and how many probed entries sit at a kink.  ``shifted(name, index, shift)``
    is the loss with that one entry moved by ``shift``, ``centre`` the loss at ``params``.

    A chain has kinks wherever any layer has one (relu at 0, tied maxima of a max pool),
    and a central difference across a kink measures no slope the analytic rule promises.
    With h the check's step, a kink at the entry shows as one-sided differences that
    disagree by the same amount at h and at h/2 (a smooth loss: by half as much); a kink
    near it, as central differences at h and h/2 that disagree."""
    noise = 1e-8 * max(1.0, abs(centre))
    masks, kinks = {}, 0
    for name, values in params.items():
        mask = np.zeros(values.shape, dtype=bool)
        for index in _probed_entries(values):
            # The very moves _probe_moves made (the ones ``shifted`` knows): ±h and ±h/2.
            h, minus_h, half, minus_half = _shifts(float(values[index]))
            far, near = (
                tuple(shifted(name, index, shift) for shift in pair)
                for pair in ((h, minus_h), (half, minus_half))
            )
            bend_far = (far[0] - 2 * centre + far[1]) / h
            bend_near = (near[0] - 2 * centre + near[1]) / (h / 2)
            central_gap = abs((far[0] - far[1]) / (2 * h) - (near[0] - near[1]) / h)
            kinked = abs(bend_far) > noise and abs(bend_near) > 0.75 * abs(bend_far)
            mask[index] = not kinked and central_gap <= noise
            kinks += not mask[index]
        masks[name] = mask
    return masks, kinks


def _probe_moves(params: Mapping[str, np.ndarray]) -> list[net_batched.Move]:
    """Every point smooth_entries takes the loss at besides the centre (each probed entry
    moved by ±h and ±h/2), and with them every point the check's differences at h take."""
    moves = []
    for name, values in params.items():
        for index in _probed_entries(values):
            moves += [(name, index, shift) for shift in _shifts(float(values[index]))]
    return moves


class _Losses:
    """The loss at every point the check takes, each computed once: the probed points (each
    probed entry moved by ±h and ±h/2, smooth_entries' points and the check's at h and h/2)
    from stacked passes (core/kinds/net_batched.py: the same bits as one float_loss per
    point, in a fraction of the time), any other point by float_loss."""

    def __init__(self, problem: NetProblem, params: Mapping[str, np.ndarray]):
        self.problem, self.params = problem, params
        self.base = {name: values.tobytes() for name, values in params.items()}
        moves = _probe_moves(params)
        # Each probed point's loss by its move, and by the moved array's bits (the points the
        # check rebuilds are known by what they hold).
        self.moved: dict[tuple[str, tuple[int, ...], float], float] = {}
        self.by_array: dict[tuple[str, bytes], float] = {}
        for move, value in zip(
            moves, net_batched.float_losses(problem, params, moves), strict=True
        ):
            name, index, shift = move
            self.moved.setdefault(move, value)
            moved = params[name].copy()
            moved[index] += shift  # as float_loss's caller moves it
            self.by_array.setdefault((name, moved.tobytes()), value)
        self.centre = float_loss(problem, params)
        # Keyed by every value's bits, as the check's points come (the centre among them).
        self.points: dict[bytes, float] = {b"".join(self.base.values()): self.centre}

    def shifted(self, name: str, index: tuple[int, ...], shift: float) -> float:
        """The loss with entry ``index`` of ``name`` moved by ``shift`` (a probed move)."""
        return self.moved[(name, index, shift)]

    def __call__(self, point: Mapping[str, np.ndarray]) -> float:
        """The loss at ``point`` (every array by name, as params)."""
        parts = [np.asarray(point[name], dtype=float).tobytes() for name in self.params]
        key = b"".join(parts)
        if key not in self.points:
            # A probed point moves one array (the others keep their bits): known by that
            # array's bits; any other point runs the chain.
            moved = [
                (name, part)
                for name, part in zip(self.params, parts, strict=True)
                if part != self.base[name]
            ]
            value = self.by_array.get(moved[0]) if len(moved) == 1 else None
            self.points[key] = float_loss(self.problem, point) if value is None else value
        return self.points[key]


def _shifts(value: float) -> tuple[float, ...]:
    """The shifts a probed entry of ``value`` is moved by: ±h and ±h/2."""
    from gradcalc.core.gradcheck import step_at

    h = step_at(value)
    return (h, -h, h / 2, -h / 2)


def _terms_size(problem: NetProblem, run: Run) -> float:
    """A bound on the size of the terms the float64 loss sums along the chain (its rounding
    scales with them, not with L): every layer's outputs in absolute value, and L."""
    size = sum(
        float(np.sum(np.abs(np.asarray(run.results[f"{layer.name}.output"], dtype=float))))
        for layer in problem.layers
    )
    return size + abs(float(run.results.get("loss", 0.0)))


def finite_differences(problem: NetProblem, run: Run) -> GradientCheck | None:
    """The analytic gradients of the input and every parameter against float64 central
    differences of the whole chain's loss, away from its kinks."""
    total = (0 if problem.looks_up else problem.input.size) + sum(
        math.prod(problem.shapes[f"{layer.name}.{parameter}"])
        for layer in problem.layers
        for parameter in layer.parameters
    )
    if total > MOST_CHECKED:
        from gradcalc.core.gradcheck import step_for

        return GradientCheck(
            ok=True,
            max_abs_error=0.0,
            entries_checked=0,
            entries_total=total,
            step=float(step_for(0.0)),
            note=f"not run: the net has {total:,} input and parameter entries, above the "
            f"{MOST_CHECKED:,} the whole-chain check takes (each probe runs the chain again)",
        )

    params, analytic = chain_params(problem, run)
    net_ops.TRACING[0] = False  # forward only: no op keeps a trace
    try:
        loss = _Losses(problem, params)
        smooth, kinks = smooth_entries(loss.shifted, loss.centre, params)
        frozen = _leave_out_padding_rows(problem, smooth)
        check = check_gradients_where(
            loss, params, analytic, smooth, scale=_terms_size(problem, run), max_entries=PROBED
        )
    finally:
        net_ops.TRACING[0] = True
    if check is not None:
        # Only the probed entries were looked at: the note counts the kinks among them.
        many = kinks != 1
        check.note = (
            f"{kinks} probed entr{'ies' if many else 'y'} left out: the loss has a kink there "
            "(its one-sided differences disagree: relu at 0, tied maxima, …)"
            if kinks
            else ""
        )
        if frozen:
            check.note = "; ".join(filter(None, (check.note, frozen)))
    return check


def _leave_out_padding_rows(problem: NetProblem, smooth: dict) -> str:
    """An embedding's padding_idx row gets no gradient by definition (nn.Embedding), though
    the loss moves with it: the check leaves that row out, and says so."""
    left_out = []
    for layer, kind_problem in zip(problem.layers, problem.read_layers, strict=True):
        padding = getattr(kind_problem, "padding_idx", None) if layer.type == "embedding" else None
        if padding is not None:
            smooth[f"{layer.name}.weight"][padding] = False
            left_out.append(f"{layer.name}'s padding_idx row (its gradient is 0 by definition)")
    return "left out: " + ", ".join(left_out) if left_out else ""
