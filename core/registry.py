"""One table of op families, keyed by the spec's ``kind``.

The table holds what the CLI needs to build a command (summary, sections,
examples) without importing the op's module: modules are imported only when
their kind is used, so start-up stays cheap.  An op module provides
``solve(spec, options) -> Solution`` (or the function the entry names); its ``KEYS``,
``SECTIONS`` and word lists (``MODES``, ``LOSSES``) are read from its entry here
(:func:`field_names`, :func:`sections`, :func:`choices`), so the two cannot disagree.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import ModuleType
from typing import Any

from gradcalc.core.errors import FocusError, SpecError
from gradcalc.core.kinds.field import Field
from gradcalc.core.outcome import Solution
from gradcalc.core.spec import SolveOptions, did_you_mean
from gradcalc.core.values import MAX_INDEX, describe

# The keys every kind shares (core/spec.py COMMON_KEYS), described once; an entry
# leaves out "upstream" when its kind ends the chain (``takes_upstream=False``).
COMMON_FIELDS: dict[str, Field] = {
    "kind": Field("kind", "choice", "the op family (optional under `gradcalc KIND`)"),
    "title": Field("title", "text", "a heading for the output", example="My problem", starter=True),
    # Each kind's own example replaces this help (OpEntry.names_example).
    "names": Field("names", "mapping", "symbols for the tables"),
    "index_base": Field(
        "index_base", "choice", "0 or 1: how indices are printed", choices=(0, 1), example=0
    ),
    "upstream": Field(
        "upstream",
        "tensor",
        '∂L/∂output shaped like the output; "ones" or omitted: L = sum of outputs',
        choices=("ones",),
        dims=(0, 4),
    ),
    "expected": Field("expected", "answers", "answers to check, keyed by result name"),
    "tolerance": Field(
        "tolerance",
        "number|mapping",
        "absolute tolerance, or {atol: …, rtol: …}",
        example="1e-6",
        minimum=0,
    ),
}

# The keys of COMMON_KEYS that only `gradcalc check` reads (core/grading/); solvers accept
# and ignore them, so the JSON Schema lists them, but they are not inline options.  Their
# examples name grad_input; OpEntry.check_fields puts in the kind's example_result.
CHECK_FIELDS: dict[str, Field] = {
    "points": Field(
        "points",
        "number|mapping",
        "gradcalc check: points per result (one number, or {grad_input: 3}; others 1)",
        example=1,
        minimum=0,
    ),
    "accept": Field(
        "accept",
        "mapping",
        "gradcalc check: other conventions that count as correct, e.g. {ties: [first, all]}, "
        "and result tolerances {tolerance: {grad_input: 1e-3}}",
        example={"tolerance": {"grad_input": "1e-3"}},
    ),
    "problem": Field(
        "problem",
        "text",
        "gradcalc check: a submission's problem file (a file with problem or answers is "
        "graded as a submission)",
    ),
    "answers": Field(
        "answers",
        "answers",
        "gradcalc check: a submission's answers, keyed by result name (see problem)",
    ),
}


@dataclass(eq=False)
class OpEntry:
    """One op family as the CLI sees it.

    ``sections`` are the explanation's section keys (for ``--show``);
    ``examples`` are command lines shown in ``--help``; ``fields`` describe the
    kind's own spec keys (the module's KEYS, in order); ``takes_upstream`` is False
    for kinds that end the chain or have none.  ``focus`` names the module's
    ``(spec, options, focus_text) -> Solution`` for kinds whose outputs read sliding
    windows (``--focus``), or for a kind on the pipeline (``explain`` set) its kinds
    module's ``focus_target``; None for the others.  ``names_example`` shows the ``names``
    key with the kind's own roles (the module's NAME_DEFAULTS); ``upstream_dims`` are the
    upstream's (fewest, most) levels of nesting, those of the kind's outputs.
    """

    # The kind's module: with ``explain`` set, its kinds module (core/kinds/KIND.py, read and
    # run for core/solve.py's pipeline); else a module with its own ``function`` (solve).
    module: str
    summary: str
    description: str
    sections: tuple[str, ...]
    examples: tuple[str, ...]
    function: str = "solve"
    # The kind's explain module (core/explain/KIND.py: Explainer), or None for a module that
    # solves by itself (``function``).
    explain: str | None = None
    fields: tuple[Field, ...] = ()
    takes_upstream: bool = True
    # An upstream that fits the fields' examples, for ``gradcalc new``.
    example_upstream: Any = None
    # Shared command-line options that mean nothing for this kind (left out of its command).
    unused_options: tuple[str, ...] = ()
    focus: str | None = None
    names_example: Mapping[str, str] = field(default_factory=dict)
    # A result of every problem of the kind, for the examples of points and accept.
    example_result: str = "grad_input"
    upstream_dims: tuple[int, int] = (0, 4)

    def spec_fields(self) -> tuple[Field, ...]:
        """Every key a spec of this kind may have: the common ones, then the kind's own."""
        common = []
        for name, common_field in COMMON_FIELDS.items():
            if name == "upstream" and not self.takes_upstream:
                continue
            if name == "upstream":
                common_field = replace(common_field, dims=self.upstream_dims)
            elif name == "names" and self.names_example:
                shown = ", ".join(
                    f"{role}: {symbol}" for role, symbol in self.names_example.items()
                )
                common_field = replace(common_field, help=f"{common_field.help}, e.g. {{{shown}}}")
            common.append(common_field)
        return (*common, *self.fields)

    def check_fields(self) -> tuple[Field, ...]:
        """The keys only `gradcalc check` reads, their examples naming one of this kind's results."""
        return tuple(
            replace(
                check_field,
                help=check_field.help.replace("grad_input", self.example_result),
                example=_renamed(check_field.example, "grad_input", self.example_result),
            )
            for check_field in CHECK_FIELDS.values()
        )


def _renamed(value: Any, old: str, new: str) -> Any:
    """``value`` with the mapping key ``old`` renamed ``new`` at any depth."""
    if isinstance(value, Mapping):
        return {new if key == old else key: _renamed(item, old, new) for key, item in value.items()}
    return value


OPS: dict[str, OpEntry] = {
    "conv": OpEntry(
        module="gradcalc.core.kinds.conv",
        explain="gradcalc.core.explain.conv",
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
            "gradcalc conv --spec problems/task3.yaml --no-color > steps.txt",
            'gradcalc conv --input "2 -1; 0 -1; 1 1; -1 2" --kernel "1 0; -1 -2"',
            'gradcalc conv --spec problems/padding_same_dilated.yaml --focus "output[1,0]"',
        ),
        fields=(
            Field(
                "input",
                "tensor",
                "H×W, C×H×W or N×C×H×W",
                example=[[2, -1], [0, -1], [1, 1], [-1, 2]],
                required=True,
                dims=(2, 4),
            ),
            Field(
                "kernel",
                "tensor",
                "kh×kw, C_in×kh×kw or C_out×C_in×kh×kw",
                example=[[1, 0], [-1, -2]],
                required=True,
                dims=(2, 4),
            ),
            Field(
                "bias",
                "tensor",
                "one number (shared) or one per output channel",
                example=0,
                dims=(0, 1),
            ),
            Field(
                "stride",
                "ints",
                "int or [sh, sw]",
                example=1,
                starter=True,
                minimum=1,
                maximum=MAX_INDEX,
                lengths=(2,),
            ),
            Field(
                "padding",
                "ints",
                "int, [ph, pw], [top, bottom, left, right], valid or same",
                choices=("valid", "same"),
                example=0,
                starter=True,
                minimum=0,
                maximum=MAX_INDEX,
                lengths=(2, 4),
            ),
            Field(
                "dilation",
                "ints",
                "int or [dh, dw]",
                example=1,
                starter=True,
                minimum=1,
                maximum=MAX_INDEX,
                lengths=(2,),
            ),
            Field(
                "flip_kernel",
                "boolean",
                "false: cross-correlation; true: true convolution",
                example=False,
                starter=True,
            ),
        ),
        example_upstream=[[0], [1], [2]],
        focus="focus_target",
        names_example={"input": "X", "kernel": "K", "output": "H"},
        upstream_dims=(2, 4),
    ),
    "dense": OpEntry(
        module="gradcalc.core.kinds.dense",
        explain="gradcalc.core.explain.dense",
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
        fields=(
            Field(
                "input",
                "tensor",
                "x: a vector of L or an N×L batch",
                example=[2, -1, 3],
                required=True,
                dims=(1, 2),
            ),
            Field(
                "weight",
                "tensor",
                "W: O×L (out_features × in_features)",
                example=[[1, 0, -2], [3, 1, 1]],
                required=True,
                dims=(2, 2),
            ),
            Field(
                "bias", "tensor", "one per output (O)", example=[1, -1], starter=True, dims=(1, 1)
            ),
            Field(
                "layout",
                "choice",
                "column: y = Wx + b; row: y = xWᵀ + b",
                choices=("column", "row"),
                example="column",
                starter=True,
            ),
        ),
        example_upstream=["1/2", -1],
        names_example={"input": "x", "weight": "W", "output": "y"},
        upstream_dims=(1, 2),
    ),
    "activation": OpEntry(
        module="gradcalc.core.kinds.activation",
        explain="gradcalc.core.explain.activation",
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
        fields=(
            Field(
                "input",
                "tensor",
                "any shape (a single number too)",
                example=[[1.5, 0, -2]],
                required=True,
                dims=(0, 6),
            ),
            Field(
                "function",
                "choice",
                "the activation",
                choices=("relu", "leaky_relu", "sigmoid", "tanh", "softplus", "elu", "gelu"),
                example="leaky_relu",
                required=True,
            ),
            Field(
                "alpha", "number", "leaky_relu's negative slope (0.01); elu's α (1)", example=0.01
            ),
            Field("beta", "number", "softplus only: log(1 + exp(β·x))/β", example=1, above=0),
            Field(
                "threshold", "number", "softplus only: x itself where β·x > threshold", example=20
            ),
            # 1 is within [α, 1] or [1, α] for every kinked function (0 is below leaky_relu's α).
            Field("subgradient_at_zero", "number", "relu, leaky_relu, elu: f′(0)", example=1),
        ),
        example_upstream=[[2, 3, -1]],
        names_example={"input": "z", "output": "a"},
    ),
    "softmax": OpEntry(
        module="gradcalc.core.kinds.softmax",
        explain="gradcalc.core.explain.softmax",
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
        fields=(
            Field(
                "input",
                "tensor",
                "scores: a vector of C or an N×C batch",
                example=[1, 0, -1],
                required=True,
                dims=(1, 2),
            ),
            Field(
                "function",
                "choice",
                "over the last axis (default softmax)",
                choices=("softmax", "log_softmax"),
                example="softmax",
                starter=True,
            ),
        ),
        example_upstream=[1, -1, "1/2"],
        names_example={"input": "s", "output": "p"},
        upstream_dims=(1, 2),
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
        fields=(
            Field(
                "loss",
                "choice",
                "the loss",
                choices=("cross_entropy", "nll", "mse", "bce", "bce_with_logits"),
                example="cross_entropy",
                required=True,
            ),
            Field(
                "input",
                "tensor",
                "cross_entropy/nll: C or N×C; others: any shape",
                example=[2, 1, "1/10"],
                required=True,
                dims=(0, 6),
            ),
            Field(
                "target",
                "tensor",
                "class indices, probabilities or values",
                example=0,
                required=True,
                dims=(0, 6),
            ),
            Field(
                "reduction",
                "choice",
                "mean (default) or sum",
                choices=("mean", "sum"),
                example="mean",
                starter=True,
            ),
            Field(
                "label_smoothing",
                "number",
                "cross_entropy, in [0, 1]",
                example=0,
                minimum=0,
                maximum=1,
            ),
            Field(
                "weight",
                "tensor",
                "cross_entropy, nll: one per class; bce: broadcast to the input",
                example=[1, 2, "1/2"],
                dims=(0, 6),
            ),
            Field("ignore_index", "integer", "cross_entropy, nll: a target to skip", example=-100),
        ),
        takes_upstream=False,
        names_example={"input": "s", "target": "t", "loss": "L"},
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
            'gradcalc pool --spec problems/pool_avg_ceil_padding.yaml --focus "input[1,1]"',
        ),
        fields=(
            Field(
                "mode",
                "choice",
                "max, avg or lp",
                choices=("max", "avg", "lp"),
                example="max",
                required=True,
            ),
            Field(
                "input",
                "tensor",
                "H×W, C×H×W or N×C×H×W",
                example=[[1, 3, 2, 1], [4, 2, 1, 0], [1, 1, 5, 5], [0, 2, 5, 1]],
                required=True,
                dims=(2, 4),
            ),
            Field(
                "size",
                "ints",
                "the window: int, [kh, kw] or global",
                choices=("global",),
                example=2,
                required=True,
                minimum=1,
                maximum=MAX_INDEX,
                lengths=(2,),
            ),
            Field(
                "stride",
                "ints",
                "int or [sh, sw] (default: the window size)",
                example=2,
                starter=True,
                minimum=1,
                maximum=MAX_INDEX,
                lengths=(2,),
            ),
            Field(
                "padding",
                "ints",
                "max and avg only: int or [ph, pw]",
                example=0,
                starter=True,
                minimum=0,
                maximum=MAX_INDEX,
                lengths=(2,),
            ),
            Field(
                "dilation",
                "ints",
                "max only: int or [dh, dw]",
                example=1,
                minimum=1,
                maximum=MAX_INDEX,
                lengths=(2,),
            ),
            Field("ceil_mode", "boolean", "round the output size up", example=False, starter=True),
            Field(
                "count_include_pad",
                "boolean",
                "avg only: padding counts in the divisor",
                example=True,
            ),
            Field(
                "divisor_override",
                "integer|null",
                "avg only: a fixed divisor",
                example=None,
                minimum=1,
                maximum=MAX_INDEX,
            ),
            Field(
                "p",
                "number",
                "lp only (required there): a finite p ≥ 1",
                example=2,
                minimum=1,
                maximum=1000,
            ),
            Field(
                "ties",
                "choice",
                "max only: first (PyTorch), all or split",
                choices=("first", "all", "split"),
                example="first",
            ),
        ),
        example_upstream=[[1, 2], [3, 4]],
        focus="solve_focus",
        names_example={"input": "X", "output": "Y"},
        upstream_dims=(2, 4),
    ),
    "net": OpEntry(
        module="gradcalc.core.kinds.net",
        explain="gradcalc.core.explain.net",
        summary="A small network, layer by layer: conv, pool, dense, activation, softmax, flatten, a loss.",
        description=(
            "Runs the input through the layers in order and back, each layer solved and "
            "explained by its own kind (the upstream it receives is the next layer's ∂L/∂input), "
            "and gives every layer's output, ∂L/∂output and parameter gradients, exactly while "
            "every layer is rational."
        ),
        sections=(
            "graph",
            "problem",
            "size",
            "forward",
            "derivative",
            "jacobian",
            "routing",
            "backward",
            "ties",
            "identities",
            "relations",
        ),
        examples=(
            "gradcalc net --spec problems/net_conv_relu_maxpool_dense.yaml",
            "gradcalc net --spec problems/net_mlp_sigmoid_mse.yaml --show graph,backward",
            "gradcalc net --spec problems/net_conv_relu_maxpool_dense.yaml --format json",
        ),
        fields=(
            Field(
                "input",
                "tensor",
                "the network's input: any shape its first layer takes (N×C×H×W for conv)",
                example=[[1, -2, 3]],
                required=True,
                dims=(0, 6),
            ),
            Field(
                "layers",
                "layers",
                "the layers in order: mappings with type (conv, pool, dense, activation, "
                "softmax, flatten), an optional name and the kind's own keys; or a word: relu, "
                "tanh, …, flatten, softmax, log_softmax",
                example=[
                    {
                        "type": "dense",
                        "name": "fc",
                        "weight": [[1, 0, -1], [2, 1, 0]],
                        "bias": [0, 1],
                    },
                    "relu",
                ],
                required=True,
            ),
            Field(
                "loss",
                "mapping",
                "the loss on the last output: a loss spec's keys with type for its name, e.g. "
                "{type: cross_entropy, target: [2]} (or give upstream instead)",
                example={"type": "mse", "target": [[1, 0]]},
            ),
        ),
        example_upstream=[[1, -1]],
        names_example={"input": "x", "loss": "L"},
        example_result="grad_input",
        upstream_dims=(0, 6),
    ),
    "expr": OpEntry(
        module="gradcalc.core.expr",
        # Symbolic: no float path, no multiply-add budget, no Jacobian tables to cap.
        unused_options=("force_float", "max_work", "max_jacobian"),
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
        fields=(
            Field(
                "function",
                "texts",
                "one expression, or a list of them",
                example="x**2*y + sin(y)",
                required=True,
            ),
            Field(
                "variables",
                "texts",
                "what to differentiate by, e.g. [x, y]",
                example=["x", "y"],
                required=True,
            ),
            Field(
                "define",
                "mapping",
                "named expressions, e.g. {Z: exp(x) + exp(y)}",
                example={"Z": "exp(x) + exp(y)"},
            ),
            Field(
                "substitute",
                "mapping",
                "a change of variables, e.g. {x: r*cos(theta)}",
                example={"x": "r*cos(theta)", "y": "r*sin(theta)"},
            ),
            Field(
                "at",
                "mapping",
                "a point, e.g. {x: 1, y: 2}",
                example={"x": 1, "y": 2},
                starter=True,
            ),
            Field("identity", "texts", '"a = b", "a" (a = 0) or a list', example="f_x = 2*x*y"),
        ),
        takes_upstream=False,
        names_example={"function": "F"},
        example_result="gradient",
    ),
}


def known_kinds() -> list[str]:
    return list(OPS)


def field_names(kind: str) -> tuple[str, ...]:
    """The kind's own spec keys, in the order of its fields (the op module's KEYS)."""
    return tuple(spec_field.name for spec_field in OPS[kind].fields)


def sections(kind: str) -> tuple[str, ...]:
    """The kind's explanation sections, in order (the op module's SECTIONS, ``--show``)."""
    return OPS[kind].sections


def choices(kind: str, name: str) -> tuple[Any, ...]:
    """The words the kind's field ``name`` takes (pool's modes, a loss's reductions)."""
    return next(f.choices for f in OPS[kind].fields if f.name == name)


def op_module(kind: str) -> ModuleType:
    """The module implementing ``kind``; a loud error when it is missing or incomplete."""
    if kind not in OPS:
        raise SpecError(("kind",), f"unknown kind {kind!r}; known kinds: {', '.join(OPS)}")
    entry = OPS[kind]
    module = importlib.import_module(entry.module)
    if entry.explain is not None:  # a kinds module, run by core/solve.py
        needed = ("SECTIONS", "read", "run", "finite_differences")
        needed += ("focus_target",) if entry.focus else ()
    else:
        needed = ("SECTIONS", entry.function, *([entry.focus] if entry.focus else []))
    for attribute in needed:
        if not hasattr(module, attribute):
            raise RuntimeError(
                f"op module {module.__name__} lacks {attribute} (needed for kind {kind!r})"
            )
    return module


def kind_module(kind: str) -> ModuleType | None:
    """The kind's own module, core/kinds/<kind>.py (its usual mistakes for ``gradcalc check``,
    its practice profile for ``gradcalc random``), imported the first time it is asked for so
    that start-up imports none; None for a kind without one (or not a kind)."""
    if kind not in OPS:
        return None
    name = f"gradcalc.core.kinds.{kind}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != name:
            raise
        return None


def kind_constant(kind: str, name: str) -> Any:
    """The op module's ``{KIND}_{name}`` (``SOFTMAX_RESULTS``, for a module serving several
    kinds), else its ``name``; a loud error when it has neither."""
    module = op_module(kind)
    value = getattr(module, f"{kind.upper()}_{name}", None)
    if value is None:
        value = getattr(module, name, None)
    if value is None:
        raise RuntimeError(f"op module {module.__name__} lacks {name} (needed for kind {kind!r})")
    return value


def result_names(kind: str) -> tuple[str, ...]:
    """Every result a problem of ``kind`` can have (the union over its modes and options):
    the names ``expected``, ``points`` and ``accept.tolerance`` may use."""
    return tuple(kind_constant(kind, "RESULTS"))


def name_roles(kind: str) -> tuple[str, ...]:
    """The roles ``names`` may give symbols to (the module's NAME_DEFAULTS)."""
    return tuple(kind_constant(kind, "NAME_DEFAULTS"))


def explain_module(kind: str) -> ModuleType:
    """The module explaining ``kind`` (its ``Explainer``); a loud error when it has none."""
    module = importlib.import_module(OPS[kind].explain or "")
    if not hasattr(module, "Explainer"):
        raise RuntimeError(f"explain module {module.__name__} lacks Explainer (kind {kind!r})")
    return module


def solver(kind: str) -> Callable[[Mapping[str, Any], SolveOptions], Solution]:
    """The function that solves specs of ``kind``."""
    if OPS[kind].explain is not None:
        from gradcalc.core import solve  # the pipeline imports this table: import it on use

        return lambda spec, options: solve.solve(kind, spec, options)
    return getattr(op_module(kind), OPS[kind].function)


def spec_kind(spec: Mapping[str, Any], command_kind: str | None) -> str:
    """The kind a spec asks for, checked against the command that runs it."""
    kind = spec.get("kind", command_kind)
    if kind is None:
        for key in spec:  # " kind": conv
            if isinstance(key, str) and key.strip() == "kind":
                hint = did_you_mean(key, ("kind",))
                raise SpecError(
                    (key,), f"missing key 'kind'{hint} Known kinds: {', '.join(OPS)}", at_key=True
                )
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


def focus_kinds() -> list[str]:
    """The kinds ``--focus`` works with (their outputs read sliding windows)."""
    return [kind for kind, entry in OPS.items() if entry.focus]


def solve(
    spec: Mapping[str, Any],
    options: SolveOptions,
    *,
    command_kind: str | None = None,
    focus: str | None = None,
) -> Solution:
    """Dispatch a spec (plain data) to its op family; ``focus`` (``output[1,0]``) asks for the
    picture of what one element reads or feeds, for the kinds that have one."""
    if not isinstance(spec, Mapping):
        raise SpecError((), f"a spec must be a mapping of keys to values, got {describe(spec)}")
    kind = spec_kind(spec, command_kind)
    if focus is None:
        return solver(kind)(spec, options)
    entry = OPS[kind]
    if entry.focus is None:
        raise FocusError(
            f"kind {kind} has no sliding window to draw; allowed with: {', '.join(focus_kinds())}"
        )
    if entry.explain is not None:
        from gradcalc.core import solve as pipeline

        return pipeline.solve(kind, spec, options, focus)
    return getattr(op_module(kind), entry.focus)(spec, options, focus)
