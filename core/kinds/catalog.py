"""The kinds gradcalc knows: one :class:`~gradcalc.core.kinds.entry.OpEntry` per spec ``kind``.

Each entry names the kind's modules (imported only when the kind is used, so start-up
stays cheap), its command's summary, description, sections and examples, and its Field
table: the only description of its spec keys, from which the loader's validation,
``gradcalc schema``, ``gradcalc new``, the inline options and the keys tables in docs/
are made.  Adding a kind adds its entry here.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping

from gradcalc.core.kinds.entry import SYMBOL_FIELDS, OpEntry
from gradcalc.core.kinds.field import Field
from gradcalc.core.values import MAX_INDEX

# Each kind's entry, or the dotted name of the module that holds it (as an entry names its
# modules and parts; core/kinds/catalog_*.py, kept apart so that this file stays within the
# size limit): see Catalog below.
_ENTRIES: dict[str, OpEntry | str] = {
    "conv": "gradcalc.core.kinds.catalog_conv",
    "conv_transpose": "gradcalc.core.kinds.catalog_conv_transpose",
    "dense": OpEntry(
        module="gradcalc.core.kinds.dense",
        parts={"PRACTICE": "gradcalc.core.kinds.dense_practice"},
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
                symbols=True,
            ),
            Field(
                "weight",
                "tensor",
                "W: O×L (out_features × in_features)",
                example=[[1, 0, -2], [3, 1, 1]],
                required=True,
                dims=(2, 2),
                symbols=True,
            ),
            Field(
                "bias",
                "tensor",
                "one per output (O)",
                example=[1, -1],
                starter=True,
                dims=(1, 1),
                symbols=True,
            ),
            Field(
                "layout",
                "choice",
                "column: y = Wx + b; row: y = xWᵀ + b",
                choices=("column", "row"),
                example="column",
                starter=True,
            ),
            *SYMBOL_FIELDS,
        ),
        example_upstream=["1/2", -1],
        names_example={"input": "x", "weight": "W", "output": "y"},
        upstream_dims=(1, 2),
        upstream_symbols=True,
    ),
    "activation": OpEntry(
        module="gradcalc.core.kinds.activation",
        parts={"PRACTICE": "gradcalc.core.kinds.activation_practice"},
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
        parts={"PRACTICE": "gradcalc.core.kinds.softmax_practice"},
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
        module="gradcalc.core.kinds.loss",
        parts={"PRACTICE": "gradcalc.core.kinds.loss_practice"},
        explain="gradcalc.core.explain.loss",
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
            Field(
                "temporal",
                "boolean|tensor|booleans",
                "cross_entropy over input N×T×V, target N×T: true, or the N×T 0/1 mask of the "
                "steps that count; summed over steps, mean divides by N (cs231n)",
                example=True,
                dims=(2, 2),
            ),
        ),
        takes_upstream=False,
        names_example={"input": "s", "target": "t", "loss": "L"},
    ),
    "pool": OpEntry(
        module="gradcalc.core.kinds.pool",
        parts={"PRACTICE": "gradcalc.core.kinds.pool_practice"},
        explain="gradcalc.core.explain.pool",
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
                symbols=True,
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
            *SYMBOL_FIELDS,
        ),
        example_upstream=[[1, 2], [3, 4]],
        focus="focus_target",
        names_example={"input": "X", "output": "Y"},
        upstream_dims=(2, 4),
        upstream_symbols=True,
    ),
    "dropout": "gradcalc.core.kinds.catalog_dropout_embedding",
    "embedding": "gradcalc.core.kinds.catalog_dropout_embedding",
    "attention": "gradcalc.core.kinds.catalog_attention",
    "batchnorm": "gradcalc.core.kinds.catalog_normalization",
    "layernorm": "gradcalc.core.kinds.catalog_normalization",
    "groupnorm": "gradcalc.core.kinds.catalog_normalization",
    "rnn": "gradcalc.core.kinds.catalog_rnn",
    "net": OpEntry(
        module="gradcalc.core.kinds.net",
        parts={
            "PRACTICE": "gradcalc.core.kinds.net_practice",
            # relu1.output → activation1.output: read on the error path alone
            "result_hint": "gradcalc.core.kinds.net_messages",
        },
        explain="gradcalc.core.explain.net",
        summary=(
            "A small network, layer by layer: conv, pool, dense, activation, softmax, flatten, "
            "dropout, embedding (first), normalization, rnn, self-attention, conv_transpose, a loss."
        ),
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
            "compact",  # the normalization layers
            "running",
            "scores",  # attention
            "weights",
        ),
        examples=(
            "gradcalc net --spec problems/net_conv_relu_maxpool_dense.yaml",
            "gradcalc net --spec problems/net_mlp_sigmoid_mse.yaml --show graph,backward",
            "gradcalc net --spec problems/net_conv_relu_maxpool_dense.yaml --format json",
            "gradcalc net --spec problems/net_conv_relu_maxpool_dense.yaml --layer pool1",
            "gradcalc net --spec problems/net_mlp_sigmoid_mse.yaml --format dot --values",
        ),
        fields=(
            Field(
                "input",
                "tensor",
                (
                    "the network's input: any shape its first layer takes (N×C×H×W for conv; "
                    "integer indices for an embedding)"
                ),
                example=[[1, -2, 3]],
                required=True,
                dims=(0, 6),
                symbols=True,
            ),
            Field(
                "layers",
                "layers",
                "the layers in order: mappings with type (conv, pool, dense, activation, "
                "softmax, flatten, dropout, embedding, batchnorm, layernorm, groupnorm, rnn, "
                "conv_transpose, attention), an optional name and the kind's own keys; or a word: relu, "
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
            # For the input, every layer's parameters and the upstream (docs/symbolic.md).
            *SYMBOL_FIELDS,
        ),
        example_upstream=[[1, -1]],
        names_example={"input": "x", "loss": "L"},
        example_result="grad_input",
        upstream_dims=(0, 6),
        upstream_symbols=True,
    ),
    "expr": OpEntry(
        module="gradcalc.core.kinds.expr",
        explain="gradcalc.core.explain.expr",
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


class Catalog(Mapping[str, OpEntry]):
    """The entries by kind, in the order the commands are listed.  An entry kept in a module
    of its own is imported the first time it is looked up (that module names it after its
    kind, in capitals: ``CONV_TRANSPOSE``), so listing the kinds, or running one, reads no
    other kind's entry."""

    def __init__(self, entries: dict[str, OpEntry | str]) -> None:
        self._entries = dict(entries)

    def __getitem__(self, kind: str) -> OpEntry:
        entry = self._entries[kind]
        if isinstance(entry, str):
            module = importlib.import_module(entry)
            entry = self._entries[kind] = getattr(module, kind.upper())
        return entry

    def __contains__(self, kind: object) -> bool:
        return kind in self._entries  # Mapping's would look the entry up, importing it

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)


OPS = Catalog(_ENTRIES)
