"""`gradcalc net` on the command line: the bundled nets, JSON, formats and bad specs."""

from __future__ import annotations

import numpy as np
import pytest
from nn_cli import PROBLEMS, run, run_json, run_spec, spec_error

from gradcalc.core.spec import SolveOptions

EXAMPLE = PROBLEMS / "net_conv_relu_maxpool_dense.yaml"
NETS = (
    "net_conv_relu_maxpool_dense.yaml",
    "seed003_net_dense_softmax_cross_entropy.yaml",
    "net_mlp_sigmoid_mse.yaml",
    "net_conv_relu_avgpool_dense.yaml",
)
IMAGE = "input: [[[[1, 2, 0, -1], [0, 1, 3, 1], [2, -2, 1, 0], [1, 0, -1, 2]]]]\n"
CONV = "  - {type: conv, kernel: [[[[1, 0], [-1, 1]]], [[[0, 1], [1, 0]]]], bias: [0, 1]}\n"


@pytest.mark.parametrize("name", NETS)
def test_bundled_nets_pass(name: str) -> None:
    result = run("net", "--spec", str(PROBLEMS / name), "--no-color")
    assert result.exit_code == 0, result.stdout + result.stderr
    assert "OK — every check passed" in result.stdout


def test_the_issues_example_in_json(tmp_path) -> None:
    result, data = run_json(tmp_path, "net", EXAMPLE.read_text(encoding="utf-8"))
    assert result.exit_code == 0
    results = data["results"]
    assert results["loss"] == pytest.approx(3.0489068535474058, rel=1e-15)
    assert results["fc.output"] == [[0, 8, 5]]
    for name in ("conv1", "activation1", "pool1", "flatten1", "fc"):
        assert f"{name}.output" in results and f"{name}.grad_output" in results
    assert {"conv1.grad_kernel", "conv1.grad_bias", "fc.grad_weight", "fc.grad_bias"} <= set(
        results
    )
    # pool1's first window holds 4 twice: the first one (activation1[0,0,0,1]) takes it all.
    assert results["activation1.grad_output"][0][0][0][1] != 0
    assert results["activation1.grad_output"][0][0][1][1] == 0


def test_the_graph_comes_first_and_names_the_switch_to_float64() -> None:
    out = run("net", "--spec", str(EXAMPLE), "--no-color").stdout
    assert "x 1×1×4×4 → conv1 → 1×2×3×3 → activation1 → 1×2×3×3 → pool1" in out
    assert "the forward pass is exact through fc; from loss on it runs in float64" in out
    assert out.index("Graph") < out.index("conv1 · Problem") < out.index("loss · Forward")
    assert out.index("loss · Backward") < out.index("fc · Backward") < out.index("conv1 · Backward")


def test_an_all_rational_net_is_exact(tmp_path) -> None:
    text = "kind: net\ninput: [1, -2]\nlayers:\n  - {type: dense, weight: [[1, 2], [3, '1/3']]}\n"
    text += "  - relu\nloss: {type: mse, target: ['1/2', 0]}\n"
    result, data = run_json(tmp_path, "net", text)
    assert result.exit_code == 0
    assert data["exact"] is True
    # hidden: [1 − 4, 3 − 2/3] = [−3, 7/3]; relu: [0, 7/3]; L = ((0 − 1/2)² + (7/3)²)/2
    assert data["exact_results"]["loss"] == "205/72"


@pytest.mark.parametrize("fmt", ["markdown", "latex", "json"])
def test_every_format_renders(fmt: str) -> None:
    result = run("net", "--spec", str(EXAMPLE), "--format", fmt)
    assert result.exit_code == 0, result.stderr
    assert "conv1" in result.stdout


def test_schema_new_and_run() -> None:
    assert run("schema", "net").exit_code == 0
    assert "layers:" in run("new", "net").stdout
    assert run("run", str(EXAMPLE), "--no-color").exit_code == 0


BAD = {
    "unknown type": (
        IMAGE + "layers:\n  - {type: convv, kernel: [[1]]}\n",
        (4, "layers[0].type: unknown layer type 'convv'; did you mean 'conv'?"),
    ),
    "unknown word": (IMAGE + "layers:\n  - relux\n", (4, "did you mean 'relu'?")),
    "another kind's key": (
        IMAGE + "layers:\n  - {type: pool, mode: max, size: 2, kernel: 1}\n",
        (4, "layers[0].kernel: kernel is a key of conv layers, not of a pool layer"),
    ),
    "the kind's own message": (
        IMAGE + "layers:\n  - {type: pool, mode: max, size: 0}\n",
        (4, "layers[0].size: size (the window) must be at least 1"),
    ),
    "shape mismatch": (
        IMAGE
        + "layers:\n"
        + CONV
        + "  - flatten\n  - {type: dense, name: fc, weight: [[1, -1], [2, 0], [0, 1]]}\n",
        (6, "fc's weight is 3×2, so it takes 2 features, but flatten1 gives 18"),
    ),
    "loss target": (
        IMAGE + "layers:\n  - flatten\nloss: {type: cross_entropy, target: [0, 1]}\n",
        (5, "loss.target: target is a list of 2 but the input is 1×16"),
    ),
    "empty layers": (IMAGE + "layers: []\n", (3, "layers is empty")),
    # The loss ran with the net's index_base and tolerance: its own were ignored.
    "the net's key in the loss": (
        IMAGE + "layers: [flatten]\nloss: {type: mse, target: 0, index_base: 1}\n",
        (4, "loss.index_base: the loss takes no index_base here: index_base belongs to the net"),
    ),
    # The loss kind's own message listed a loss spec's keys, the net's among them.
    "a key no loss takes": (
        IMAGE + "layers: [flatten]\nloss: {type: mse, target: 0, reductoin: sum}\n",
        (
            4,
            "loss.reductoin: unknown key 'reductoin' for a mse loss; did you mean 'reduction'? "
            "Allowed keys: type, target, reduction",
        ),
    ),
    "another loss's key": (
        IMAGE + "layers: [flatten]\nloss: {type: bce, target: 0, ignore_index: 1}\n",
        (4, "loss.ignore_index: ignore_index does not apply to bce"),
    ),
    "an unknown loss with an unknown key": (
        IMAGE + "layers: [flatten]\nloss: {type: zzz, target: 0, reduce: sum}\n",
        (4, "loss.type: unknown loss 'zzz'; allowed: cross_entropy, nll, mse, bce"),
    ),
    "loss and upstream": (
        IMAGE + "layers: [flatten]\nloss: {type: mse, target: 0}\nupstream: ones\n",
        (5, "give either loss or upstream, not both"),
    ),
    "two layers, one name": (
        IMAGE + "layers:\n  - {type: pool, mode: max, size: 1, name: a}\n"
        "  - {type: pool, mode: max, size: 1, name: a}\n",
        (5, "the name 'a' is taken by layers[0] (a)"),
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2(tmp_path, case: str) -> None:
    text, (line, words) = BAD[case]
    found_line, _, message = spec_error(run_spec(tmp_path, "net", "kind: net\n" + text))
    assert found_line == line, message
    assert words in message


@pytest.mark.parametrize("chain", ["dense_relu", "mlp", "mlp5", "conv_maxpool", "conv_avgpool"])
def test_random_net_draws_a_chain_of_two_to_five_layers(chain: str) -> None:
    """`gradcalc random net`: the chain's layers with every parameter drawn (small nonzero
    integer weights and kernels), exact answers, and the drawn problem passes its own run."""
    from gradcalc.core import practice, registry
    from gradcalc.core.kinds.net_practice import CHAINS

    drawn = [practice.make_problem("net", seed, {"chain": chain}) for seed in range(3)]
    for problem in drawn:
        layers = problem.spec["layers"]
        assert 2 <= len(layers) <= 5 and len(layers) == len(CHAINS[chain][1])
        for layer in layers:
            if isinstance(layer, dict):
                for key in ("weight", "kernel"):
                    flat = np.ravel(layer.get(key, [1]))
                    assert all(float(v).is_integer() and v != 0 and abs(v) <= 2 for v in flat)
        solution = registry.solve({**problem.spec, "expected": problem.answers}, SolveOptions())
        assert solution.ok
    # Different seeds draw different parameters.
    assert len({str(problem.spec["layers"]) for problem in drawn}) > 1


def test_random_net_picks_the_chain_by_seed() -> None:
    from gradcalc.core import practice

    chains = {practice.make_problem("net", seed, {}).sizes.values["chain"] for seed in range(12)}
    assert len(chains) >= 3


def test_a_loss_type_is_shown_as_read(tmp_path) -> None:
    """ " MSE " runs as mse; the graph and the conventions said " MSE "."""
    text = "kind: net\ninput: [[1, 2]]\nlayers: [relu]\nloss: {type: ' MSE ', target: [[0, 1]]}\n"
    result = run_spec(tmp_path, "net", text)
    assert result.exit_code == 0, result.stderr
    assert "loss L: mse of activation1's output" in result.stdout
    assert "MSE " not in result.stdout
