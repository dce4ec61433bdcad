"""The catalog entry (core/kinds/catalog.py) of the recurrent kind ``rnn`` (issue 17): one
OpEntry, its Field table the only description of its keys."""

from __future__ import annotations

from gradcalc.core.kinds.entry import OpEntry
from gradcalc.core.kinds.field import Field

RNN = OpEntry(
    module="gradcalc.core.kinds.rnn",
    parts={
        "usual_mistakes": "gradcalc.core.kinds.rnn_extras",
        "PRACTICE": "gradcalc.core.kinds.rnn_extras",
    },
    explain="gradcalc.core.explain.rnn",
    summary="A recurrent layer (PyTorch nn.RNN, nn.LSTM, nn.GRU): forward and BPTT.",
    description=(
        "Runs an rnn (tanh or relu), lstm or gru cell over one step (input N×I) or T steps "
        "(T×N×I, or N×T×I with batch_first) with PyTorch's weight layout and gate order, and "
        "explains each step forward, then backpropagation through time from t = T−1 down to 0 "
        "and the parameter gradients summed over time; exact for a relu rnn, float64 otherwise."
    ),
    sections=("problem", "forward", "backward", "parameters"),
    examples=(
        "gradcalc rnn --spec problems/rnn_tanh_step.yaml",
        "gradcalc rnn --spec problems/rnn_three_steps.yaml --show backward",
        "gradcalc rnn --spec problems/lstm_step.yaml --format json",
        'gradcalc rnn --cell rnn --nonlinearity relu --input "1 -1;" --weight-ih "1 2; 0 1" '
        '--weight-hh "1 0; -1 1"',
    ),
    fields=(
        Field(
            "cell",
            "choice",
            "rnn (default), lstm (gates i, f, g, o) or gru (gates r, z, n)",
            choices=("rnn", "lstm", "gru"),
            example="lstm",
            starter=True,
        ),
        Field(
            "nonlinearity",
            "choice",
            "the rnn cell's: tanh (default) or relu (an lstm or gru takes tanh only)",
            choices=("tanh", "relu"),
            example="tanh",
        ),
        Field(
            "input",
            "tensor",
            "x: N×I (one step), T×N×I (T steps) or N×T×I with batch_first",
            example=[[1, -1]],
            required=True,
            dims=(2, 3),
        ),
        Field(
            "batch_first",
            "boolean",
            "a 3-D input (and output, upstream, grad_h) is N×T×… (default false: T×N×…)",
            example=False,
        ),
        Field(
            "weight_ih",
            "tensor",
            "W_ih: G·H×I, the gates' rows stacked in PyTorch's order (G = 1, 4 or 3)",
            example=[["1/2", 1], [0, -1], [1, 0], [0, 1], [1, 1], ["-1/2", 0], [0, "1/2"], [1, -1]],
            required=True,
            dims=(2, 2),
        ),
        Field(
            "weight_hh",
            "tensor",
            "W_hh: G·H×H, the gates' rows in the same order",
            example=[[1, 0], ["-1/2", 1], [0, 1], [1, 0], ["1/2", 0], [0, 0], [1, 1], [0, -1]],
            required=True,
            dims=(2, 2),
        ),
        Field(
            "bias_ih",
            "tensor",
            "b_ih: G·H (default none)",
            example=[0, 1, 0, 0, "1/2", 0, 0, 0],
            dims=(1, 1),
        ),
        Field(
            "bias_hh",
            "tensor",
            "b_hh: G·H (default none)",
            example=[0, 0, 1, 0, 0, 0, "1/4", 0],
            dims=(1, 1),
        ),
        Field(
            "h0",
            "tensor",
            "h_0: N×H, the initial state (default zeros)",
            example=[[0, 1]],
            dims=(2, 2),
        ),
        Field("c0", "tensor", "lstm only: c_0, N×H (default zeros)", example=[[0, 0]], dims=(2, 2)),
        Field(
            "upstream_h_n",
            "tensor",
            "∂L/∂h_n: N×H, on the last hidden state (default zeros: L reads only the output)",
            example=[[1, 0]],
            dims=(2, 2),
        ),
        Field(
            "upstream_c_n",
            "tensor",
            "lstm only: ∂L/∂c_n, N×H (default zeros)",
            example=[[0, 0]],
            dims=(2, 2),
        ),
    ),
    example_upstream=[[1, 2]],
    names_example={"input": "x", "output": "y", "h": "h"},
    example_result="grad_weight_hh",
    upstream_dims=(2, 3),
)
