"""A big conv's finite differences probe each entry with the loss over the one sample or output
channel it reaches (core/kinds/conv_gradcheck.local_losses): those parts add up to the whole loss, and the
check passes a right gradient and fails a wrong one as with the whole loss."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gradcalc.core.kinds import conv, conv_gradcheck
from gradcalc.core.spec import Limits, SolveOptions


@st.composite
def conv_specs(draw) -> dict[str, Any]:
    batch, channels, out = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    size, k = draw(st.integers(3, 6)), draw(st.integers(1, 3))
    stride, padding = draw(st.integers(1, 2)), draw(st.integers(0, 1))
    ints = st.integers(-4, 4)

    def array(shape: tuple[int, ...]) -> Any:
        return (
            np.array(
                draw(st.lists(ints, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
            )
            .reshape(shape)
            .tolist()
        )

    spec = {
        "kind": "conv",
        "input": array((batch, channels, size, size)),
        "kernel": array((out, channels, k, k)),
        "stride": stride,
        "padding": padding,
        "flip_kernel": draw(st.booleans()),
    }
    bias = draw(st.sampled_from(["none", "one", "per channel"]))
    if bias == "one":
        spec["bias"] = draw(ints)
    elif bias == "per channel":
        spec["bias"] = array((out,))
    out_size = (size + 2 * padding - k) // stride + 1
    spec["upstream"] = array((batch, out, out_size, out_size))
    return spec


def solved(spec: dict[str, Any]) -> tuple[Any, Any]:
    problem = conv.read(spec, Limits())
    return problem, conv.run(problem, SolveOptions(force_float=True, sections=frozenset()))


@settings(max_examples=40, deadline=None)
@given(conv_specs())
def test_the_parts_add_up_to_the_whole_loss(spec: dict[str, Any]) -> None:
    problem, _ = solved(spec)
    names = ["input", "kernel"] + (["bias"] if "bias" in spec else [])
    params = {name: np.array(problem.floats[name], dtype=float) for name in names}
    g = problem.geometry
    for sizes in (False, True):
        total = conv_gradcheck.float_loss(problem, params, sizes=sizes)
        by_sample = sum(
            conv_gradcheck.float_loss(problem, params, sizes=sizes, sample=n)
            for n in range(g.batch)
        )
        by_channel = sum(
            conv_gradcheck.float_loss(problem, params, sizes=sizes, channel=o)
            for o in range(g.out_channels)
        )
        assert abs(by_sample - total) <= 1e-9 * max(1, abs(total))
        assert abs(by_channel - total) <= 1e-9 * max(1, abs(total))


@settings(max_examples=40, deadline=None)
@given(conv_specs(), st.booleans())
def test_the_local_check_passes_right_gradients_and_fails_wrong_ones(
    spec: dict[str, Any], wrong: bool
) -> None:
    problem, run = solved(spec)
    if wrong:
        run.results["grad_kernel"] = np.asarray(run.results["grad_kernel"], dtype=float) + 1
    original = conv_gradcheck.LOCAL_FROM_WORK
    conv_gradcheck.LOCAL_FROM_WORK = -1  # every problem probes locally
    try:
        check = conv.finite_differences(problem, run)
    finally:
        conv_gradcheck.LOCAL_FROM_WORK = original
    assert check is not None
    assert check.ok is (not wrong)
