"""Nets of every layer kind that several test files run (test_net_ops_path, test_net_batched_fd,
test_net_solve_cuts), each with a name for its test ids: the named ones below, the bundled
net problems and `gradcalc random net` at the first seeds, each spec without its kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"

CONV_NET = {
    "input": np.arange(2 * 1 * 6 * 6).reshape(2, 1, 6, 6).tolist(),
    "layers": [
        {
            "type": "conv",
            "name": "conv1",
            "kernel": [[[[1, -1], [0.5, 2]]]] * 3,
            "bias": [0, 1, -1],
        },
        "relu",
        {"type": "pool", "mode": "max", "size": 2},
        "flatten",
        {"type": "dense", "name": "fc", "weight": np.ones((4, 12)).tolist(), "bias": [1, 2, 3, 4]},
    ],
    "loss": {"type": "cross_entropy", "target": [0, 3]},
}
# Float64 values handed to a conv (to_float's common denominator), -0.0 from a product with
# 0, softplus and tanh (irrational), an upstream instead of a loss.
FLOAT_CHAIN = {
    "input": [
        [[[0.5, 1.5, -2.5], [3.25, 0, -1], [2, 2, 2]]],
        [[[0, -0.0, 1], [1, 1, 1], [-3, 0.1, 7]]],
    ],
    "layers": [
        "tanh",
        {"type": "conv", "kernel": [[[[0.5, -1], [1, 0.25]]], [[[0, 0], [0, 0]]]]},
        "softplus",
        "flatten",
        {"type": "dense", "weight": [[1, 2, 3, 4, 0, 0, 0, 0], [0, 0, 0, 0, 1, -1, 1, -1]]},
    ],
    "upstream": [[1.5, 0], [-0.0, 2]],
}
BCE_CHAIN = {
    "input": [[1, -2], [0.25, 3]],
    "layers": [{"type": "dense", "weight": [[1, 0.5], [-1, 2]]}, "sigmoid"],
    "loss": {"type": "bce", "target": [[1, 0], [0, 1]]},
}

# Dropout (a mask, p = 1/3: a scale 3/2 that float64 rounds; a drawn mask; evaluation) after
# an irrational layer, so that it runs in float64 unforced too.
DROPOUT_NET = {
    "input": [[0.5, -1.25, 2], [3, 0.1, -0.0]],
    "layers": [
        {"type": "dense", "name": "fc1", "weight": [[1, -0.5, 2], [0.25, 1, -1]], "bias": [0.1, 0]},
        "sigmoid",
        {"type": "dropout", "p": "1/3", "mask": [[1, 0], [1, 1]]},
        {"type": "dense", "name": "fc2", "weight": [[2, -1], [0.5, 1], [1, 1]]},
        {"type": "dropout", "p": 0.2, "random": 7},
        {"type": "dropout", "training": False},
    ],
    "loss": {"type": "mse", "target": [[1, 0, -1], [0.5, 2, 0]]},
}
# Embedding first (its input is the indices: no grad_input; a repeated index; padding_idx,
# whose row the whole-chain check leaves out), then dropout, flatten, dense and a loss.
EMBEDDING_NET = {
    "input": [[1, 3, 1], [0, 2, 2]],
    "layers": [
        {
            "type": "embedding",
            "name": "emb",
            "weight": [[1, -1], [0.2, 0.7], ["1/3", 3], [-2, 0.125]],
            "padding_idx": 0,
        },
        {"type": "dropout", "p": "1/4", "random": 2},
        "flatten",
        {"type": "dense", "name": "fc", "weight": np.linspace(-1, 1, 18).reshape(3, 6).tolist()},
        "tanh",
    ],
    "loss": {"type": "cross_entropy", "target": [2, 0]},
}

# The normalization layers (batch norm in training with its batch statistics, group norm
# over channels, layer norm without affine parameters) between float64 layers.
NORM_NET = {
    "input": [[[[1, 2, 0], [-1, 3, 1], [2, 2, -2]]], [[[0, 1, 1], [2, -1, 0], [1, 0, 3]]]],
    "layers": [
        {"type": "conv", "name": "c", "kernel": [[[[1, 0], [0, -1]]], [[[0.5, 1], [1, 0]]]]},
        {"type": "groupnorm", "name": "gn", "num_groups": 1, "weight": [1, 2], "bias": [0, 0.5]},
        "tanh",
        "flatten",
        {"type": "dense", "name": "fc", "weight": np.linspace(-1, 1, 24).reshape(3, 8).tolist()},
        {"type": "batchnorm", "name": "bn", "weight": [1, 0.5, 2], "bias": [0, 1, -1]},
        {"type": "layernorm", "name": "ln", "normalized_shape": [3], "elementwise_affine": False},
    ],
    "loss": {"type": "mse", "target": [[1, 0, -1], [0, 1, 0]]},
}


# Self-attention (issue 17) on a batch of two sequences, causal, then a dense layer.
ATTENTION_NET = {
    "input": [[[1, 0], [0.5, 1], [1, -1]], [[0, 2], [1, 1], [-1, 0.25]]],
    "layers": [
        {"type": "attention", "name": "attn", "causal": True},
        "flatten",
        {"type": "dense", "name": "fc", "weight": np.linspace(-1, 1, 12).reshape(2, 6).tolist()},
    ],
    "loss": {"type": "mse", "target": [[1, 0], [0, 1]]},
}


NAMED_NETS = [
    ("conv net", CONV_NET),
    ("float chain", FLOAT_CHAIN),
    ("bce chain", BCE_CHAIN),
    ("dropout net", DROPOUT_NET),
    ("embedding net", EMBEDDING_NET),
    ("norm net", NORM_NET),
    ("attention net", ATTENTION_NET),
]


def bundled_nets() -> list[tuple[str, dict[str, Any]]]:
    """The bundled net problems (problems/*net*.yaml), each by its file name."""
    found = []
    for path in sorted(PROBLEMS.glob("*net*.yaml")):
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec.pop("kind")
        found.append((path.name, spec))
    return found


# `gradcalc random net --seed N` as written, made once per test session for each seed
# (test_net_batched_fd and test_net_solve_cuts read the same first seeds).
_RANDOM_NETS: dict[int, str] = {}


def random_nets(count: int) -> list[tuple[str, dict[str, Any]]]:
    """The random nets at seeds 0 … count - 1, each a new spec (a caller may change it)."""
    found = []
    for seed in range(count):
        if seed not in _RANDOM_NETS:
            made = CliRunner().invoke(main, ["random", "net", "--seed", str(seed)])
            assert made.exit_code == 0, made.output
            _RANDOM_NETS[seed] = made.output
        spec = yaml.safe_load(_RANDOM_NETS[seed])
        spec.pop("kind")
        found.append((f"random net {seed}", spec))
    return found
