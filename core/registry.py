"""One table of op families, keyed by the spec's ``kind``.

The table holds what the CLI needs to build a command (summary, sections,
examples) without importing the op's module: modules are imported only when
their kind is used, so start-up stays cheap.  An op module provides
``solve(spec, options) -> Solution`` (or the function the entry names) and a
``SECTIONS`` tuple equal to its entry's (a test checks that they agree).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from gradcalc.core.errors import SpecError
from gradcalc.core.outcome import Solution
from gradcalc.core.spec import SolveOptions
from gradcalc.core.values import describe


@dataclass(eq=False)
class OpEntry:
    """One op family as the CLI sees it.

    ``sections`` are the explanation's section keys (for ``--show``);
    ``examples`` are command lines shown in ``--help``.
    """

    module: str
    summary: str
    description: str
    sections: tuple[str, ...]
    examples: tuple[str, ...]
    function: str = "solve"


OPS: dict[str, OpEntry] = {
    "conv": OpEntry(
        module="gradcalc.core.conv",
        summary="2-D convolution / cross-correlation (PyTorch conv2d).",
        description=(
            "Computes the output, ∂L/∂input, ∂L/∂kernel and ∂L/∂bias for the spec's input, kernel, "
            "stride, padding and dilation, and explains every step."
        ),
        sections=("problem", "size", "forward", "jacobian", "backward", "identities", "loss"),
        examples=(
            "gradcalc conv --spec problems/task3.yaml",
            "gradcalc conv --spec problems/task3.yaml --format json",
            "gradcalc conv --spec big.yaml --steps 4 --show size,backward,checks",
            "gradcalc conv --spec task.yaml --decimal --precision 4",
        ),
    ),
    "dense": OpEntry(
        module="gradcalc.core.dense",
        summary="Fully connected layer (PyTorch nn.Linear): y = Wx + b or y = xWᵀ + b.",
        description=(
            "Computes the output, ∂L/∂input, ∂L/∂weight and ∂L/∂bias of a linear layer for one "
            "sample or a batch, in column (y = Wx + b) or row (y = xWᵀ + b) layout, and explains "
            "every step with its shapes."
        ),
        sections=("problem", "forward", "jacobian", "backward", "identities"),
        examples=(
            "gradcalc dense --spec problems/seed001_fully_connected.yaml",
            "gradcalc dense --spec problems/seed003_problem3_dense_row.yaml --show identities",
            "gradcalc dense --spec problems/dense_batch.yaml --format json",
        ),
    ),
    "activation": OpEntry(
        module="gradcalc.core.activations",
        summary="Elementwise activation (relu, leaky_relu, sigmoid, tanh, softplus, elu, gelu).",
        description=(
            "Computes f(x) and ∂L/∂x = ∂L/∂y·f′(x) for every element, with PyTorch's "
            "conventions at kinks (relu′(0) = 0 unless subgradient_at_zero says otherwise)."
        ),
        sections=("problem", "forward", "derivative", "backward"),
        examples=(
            "gradcalc activation --spec problems/activation_relu_kink.yaml",
            "gradcalc activation --spec relu.yaml --show derivative,checks",
        ),
        function="solve_activation",
    ),
    "softmax": OpEntry(
        module="gradcalc.core.activations",
        summary="Softmax / log-softmax over the last axis, with its Jacobian diag(p) − p·pᵀ.",
        description=(
            "Computes softmax or log_softmax of a vector or of each row of a batch (log-sum-exp, "
            "no overflow), the Jacobian and ∂L/∂input for the spec's upstream."
        ),
        sections=("problem", "forward", "jacobian", "backward"),
        examples=(
            "gradcalc softmax --spec problems/softmax_jacobian.yaml",
            "gradcalc softmax --spec problems/softmax_jacobian.yaml --show jacobian --decimal",
        ),
        function="solve_softmax",
    ),
    "loss": OpEntry(
        module="gradcalc.core.losses",
        summary="Losses (PyTorch): cross_entropy, nll, mse, bce, bce_with_logits.",
        description=(
            "Computes the loss and ∂L/∂input with PyTorch's reductions, class weights, "
            "ignore_index and label smoothing, and derives ∂L/∂s_i = p_i − 1[i = gt] with numbers."
        ),
        sections=("problem", "forward", "backward"),
        examples=(
            "gradcalc loss --spec problems/seed003_problem2_cross_entropy.yaml",
            "gradcalc loss --spec problems/cross_entropy_label_smoothing.yaml --format json",
            "gradcalc loss --spec problems/cross_entropy_batch_weighted.yaml --show backward",
        ),
    ),
    "pool": OpEntry(
        module="gradcalc.core.pool",
        summary="2-D pooling (PyTorch MaxPool2d, AvgPool2d, LPPool2d) with tie policies.",
        description=(
            "Computes the output, ∂L/∂input, argmax and ∂y/∂x of max, average or LP pooling "
            "(ceil_mode, padding, count_include_pad, divisor_override, dilation for max; ties "
            "first, all or split), and explains every window, where each upstream value goes, "
            "and each ∂L/∂x as a sum over the windows that read it."
        ),
        sections=(
            "problem",
            "size",
            "forward",
            "routing",
            "backward",
            "ties",
            "jacobian",
            "relations",
        ),
        examples=(
            "gradcalc pool --spec problems/seed000_ex2_pool_ties_all.yaml",
            "gradcalc pool --spec problems/seed002_lp_pool_relations.yaml --show forward,relations",
            "gradcalc pool --spec problems/pool_overlapping_stride1.yaml --show backward,checks",
            "gradcalc pool --spec problems/seed003_p5_max_pool_indicator.yaml --format json",
        ),
    ),
    "expr": OpEntry(
        module="gradcalc.core.expr",
        summary="Symbolic derivatives (SymPy): partials, gradient, Jacobian, Hessian, chain rule, identities.",
        description=(
            "Differentiates the spec's function (one expression or a list) by its variables, "
            "simplifies each partial derivative, applies a change of variables by the chain rule, "
            "evaluates everything at a point, proves or refutes an identity, and checks expected "
            "answers symbolically or numerically. Generic functions such as f(x, y) are allowed."
        ),
        sections=(
            "problem",
            "partials",
            "chain_rule",
            "hessian",
            "point",
            "identity",
            "expected",
            "latex",
        ),
        examples=(
            "gradcalc expr --spec problems/seed000_ex1_polar_identity.yaml",
            "gradcalc expr --spec problems/expr_sigmoid_derivative.yaml --show partials,checks",
            "gradcalc expr --spec problems/expr_softmax_cross_entropy.yaml --format json",
        ),
    ),
}

# Kept for callers that only need the names.
OP_MODULES: dict[str, str] = {kind: entry.module for kind, entry in OPS.items()}


def known_kinds() -> list[str]:
    return list(OPS)


def op_module(kind: str) -> ModuleType:
    """The module implementing ``kind``; a loud error when it is missing or incomplete."""
    if kind not in OPS:
        raise SpecError(("kind",), f"unknown kind {kind!r}; known kinds: {', '.join(OPS)}")
    entry = OPS[kind]
    module = importlib.import_module(entry.module)
    for attribute in ("SECTIONS", entry.function):
        if not hasattr(module, attribute):
            raise RuntimeError(
                f"op module {module.__name__} lacks {attribute} (needed for kind {kind!r})"
            )
    return module


def solver(kind: str) -> Callable[[Mapping[str, Any], SolveOptions], Solution]:
    """The function that solves specs of ``kind``."""
    return getattr(op_module(kind), OPS[kind].function)


def spec_kind(spec: Mapping[str, Any], command_kind: str | None) -> str:
    """The kind a spec asks for, checked against the command that runs it."""
    kind = spec.get("kind", command_kind)
    if kind is None:
        raise SpecError((), f"missing key 'kind'; known kinds: {', '.join(OPS)}")
    if not isinstance(kind, str):
        raise SpecError(
            ("kind",),
            f"kind must be text, got {describe(kind)}; known kinds: {', '.join(OPS)}",
        )
    if command_kind is not None and kind != command_kind:
        if kind in OPS:
            raise SpecError(
                ("kind",),
                f"this spec is kind {kind!r}, not {command_kind!r}; run it with `gradcalc {kind} --spec FILE`",
            )
        raise SpecError(
            ("kind",),
            f"kind {kind!r} does not match the command `gradcalc {command_kind}`; known kinds: {', '.join(OPS)}",
        )
    op_module(kind)
    return kind


def solve(
    spec: Mapping[str, Any], options: SolveOptions, *, command_kind: str | None = None
) -> Solution:
    """Dispatch a spec (plain data) to its op family."""
    if not isinstance(spec, Mapping):
        raise SpecError((), f"a spec must be a mapping of keys to values, got {describe(spec)}")
    kind = spec_kind(spec, command_kind)
    return solver(kind)(spec, options)
