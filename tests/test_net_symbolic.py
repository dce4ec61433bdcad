"""Symbols in `gradcalc net` (core/kinds/net_symbols.py, docs/symbolic.md, docs/net.md): the
input, a layer's kernel, weight or bias and the upstream may hold symbols; every result is a
polynomial through the polynomial layers, a layer that cannot take formulas is refused where
it stands, and above the symbolic limits every symbol of the net gets one random value."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from nn_cli import run as run_cli
from nn_cli import spec_error
from tex import assert_compiles

from gradcalc.core import registry, symbolic
from gradcalc.core.explain import SymbolTable
from gradcalc.core.spec import Limits, SolveOptions

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
BUNDLED = PROBLEMS / "symbolic" / "net_conv_avgpool_dense.yaml"


def solve(spec: dict, **options):
    return registry.solve({"kind": "net", **spec}, SolveOptions(limits=Limits(), **options))


def _matrix(rng: random.Random, *shape: int) -> list:
    if len(shape) == 1:
        return [rng.randint(-3, 3) for _ in range(shape[0])]
    return [_matrix(rng, *shape[1:]) for _ in range(shape[0])]


# Random nets of polynomial layers, each with the fields that may hold symbols: ("input",),
# ("upstream",) or ("layers", i, key).
def _dense_dense_mse(rng: random.Random) -> tuple[dict, list[tuple]]:
    batch, features, hidden = rng.randint(1, 2), rng.randint(1, 3), rng.randint(1, 3)
    spec = {
        "input": _matrix(rng, batch, features),
        "layers": [
            {
                "type": "dense",
                "weight": _matrix(rng, hidden, features),
                "bias": _matrix(rng, hidden),
            },
            {"type": "dense", "weight": _matrix(rng, 2, hidden)},
        ],
        "loss": {
            "type": "mse",
            "target": _matrix(rng, batch, 2),
            "reduction": rng.choice(["mean", "sum"]),
        },
    }
    fields = [("input",), ("layers", 0, "weight"), ("layers", 0, "bias"), ("layers", 1, "weight")]
    return spec, fields


def _conv_avgpool_dense(rng: random.Random) -> tuple[dict, list[tuple]]:
    size = rng.randint(3, 4)
    spec = {
        "input": _matrix(rng, 1, 1, size, size),
        "layers": [
            {
                "type": "conv",
                "kernel": _matrix(rng, 2, 2),
                "flip_kernel": rng.choice([False, True]),
            },
            {"type": "pool", "mode": "avg", "size": rng.choice([1, 2]), "stride": 1},
            "flatten",
            {"type": "dense", "weight": _matrix(rng, 1, (size - 1 - 0) ** 2)},
        ],
        "upstream": _matrix(rng, 1, 1),
    }
    pooled = size - 1 - (spec["layers"][1]["size"] - 1)
    spec["layers"][3]["weight"] = _matrix(rng, 1, pooled * pooled)
    return spec, [("input",), ("layers", 0, "kernel"), ("layers", 3, "weight"), ("upstream",)]


def _conv1d_relu_dense(rng: random.Random) -> tuple[dict, list[tuple]]:
    """relu between: the symbols come after it (its sign is a number), and its backward
    routes a symbolic upstream."""
    length = rng.randint(3, 5)
    spec = {
        "input": _matrix(rng, 1, 2, length),
        "layers": [
            {"type": "conv", "dims": 1, "kernel": _matrix(rng, 2, 1, 2), "groups": 2},
            "relu",
            "flatten",
            {"type": "dense", "weight": _matrix(rng, 2, 2 * (length - 1))},
        ],
        "upstream": _matrix(rng, 1, 2),
    }
    return spec, [("layers", 3, "weight"), ("upstream",)]


def _conv1d_dense(rng: random.Random) -> tuple[dict, list[tuple]]:
    """A grouped 1-D convolution whose input and kernel may hold symbols."""
    length = rng.randint(3, 5)
    spec = {
        "input": _matrix(rng, 1, 2, length),
        "layers": [
            {"type": "conv", "dims": 1, "kernel": _matrix(rng, 2, 1, 2), "groups": 2},
            "flatten",
            {"type": "dense", "weight": _matrix(rng, 1, 2 * (length - 1)), "bias": [1]},
        ],
    }
    if rng.random() < 0.5:
        spec["loss"] = {"type": "mse", "target": [[rng.randint(-2, 2)]]}
    fields = [("input",), ("layers", 0, "kernel"), ("layers", 2, "weight"), ("layers", 2, "bias")]
    return spec, fields


def _conv_transpose_dense(rng: random.Random) -> tuple[dict, list[tuple]]:
    """A transposed convolution takes formulas in its input, kernel, bias and upstream."""
    spec = {
        "input": _matrix(rng, 1, 1, 2, 2),
        "layers": [
            {"type": "conv", "kernel": _matrix(rng, 1, 1)},
            {
                "type": "conv_transpose",
                "name": "up",
                "kernel": [[_matrix(rng, 2, 2)]],
                "bias": _matrix(rng, 1),
                "stride": 2,
            },
            "flatten",
            {"type": "dense", "weight": _matrix(rng, 1, 16)},
        ],
        "upstream": _matrix(rng, 1, 1),
    }
    fields = [
        ("input",),
        ("layers", 0, "kernel"),
        ("layers", 1, "kernel"),
        ("layers", 1, "bias"),
        ("layers", 3, "weight"),
        ("upstream",),
    ]
    return spec, fields


def _embedding_dropout_dense(rng: random.Random) -> tuple[dict, list[tuple]]:
    spec = {
        "input": [rng.randrange(3) for _ in range(rng.randint(1, 3))],
        "layers": [
            {"type": "embedding", "weight": _matrix(rng, 3, 2)},
            {"type": "dropout", "p": "1/2", "random": rng.randint(0, 9)},
            {"type": "dense", "weight": _matrix(rng, 1, 2)},
        ],
    }
    spec["upstream"] = _matrix(rng, len(spec["input"]), 1)
    return spec, [("layers", 0, "weight"), ("layers", 2, "weight"), ("upstream",)]


CHAINS = (
    _dense_dense_mse,
    _conv_avgpool_dense,
    _conv1d_dense,
    _conv1d_relu_dense,
    _conv_transpose_dense,
    _embedding_dropout_dense,
)


def _get(spec: dict, where: tuple):
    value = spec
    for key in where:
        value = value[key]
    return value


def _set(spec: dict, where: tuple, value) -> None:
    *head, last = where
    _get(spec, tuple(head))[last] = value


def _with_names(value, prefix: str, rng: random.Random, names: dict[str, Fraction]):
    """The nested list with some entries named (prefix0, prefix1, …), each name given a
    random rational in ``names``; at least one entry is named."""
    flat = np.asarray(value, dtype=object)
    named = flat.copy()
    chosen = [i for i in range(flat.size) if rng.random() < 0.7] or [0]
    for k, index in enumerate(chosen):
        name = f"{prefix}{k}"
        names[name] = Fraction(rng.randint(-20, 20), rng.randint(1, 6))
        named.flat[index] = name if rng.random() < 0.7 else f"2*{name} - 1"
    return named.tolist()


@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__.strip("_"))
@pytest.mark.parametrize("seed", range(6))
def test_a_symbolic_net_at_random_rationals_is_the_numeric_exact_run(chain, seed) -> None:
    """Every result of a net with symbols, the symbols replaced by random rationals, equals
    the exact numeric run of the same net with those numbers."""
    import copy

    rng = random.Random(seed)
    numeric, fields = chain(rng)
    chosen = rng.sample(fields, rng.randint(1, len(fields)))
    with_symbols = copy.deepcopy(numeric)
    names: dict[str, Fraction] = {}
    for position, where in enumerate(chosen):
        prefix = "abcdefgh"[position]
        _set(with_symbols, where, _with_names(_get(numeric, where), prefix, rng, names))
    with_symbols["symbols"] = sorted(names)
    formulas = solve(with_symbols, gradient_check=False)
    assert formulas.exact
    assert symbolic.any_symbolic(*formulas.results.values())
    numbers = copy.deepcopy(with_symbols)
    del numbers["symbols"]
    for where in chosen:
        written = np.asarray(_get(with_symbols, where), dtype=object)
        values = [
            _value(entry, names) if isinstance(entry, str) else entry for entry in written.flat
        ]
        _set(numbers, where, np.array(values, dtype=object).reshape(written.shape).tolist())
    expected = solve(numbers, gradient_check=False).results
    point = {symbolic.read_entry(name, ()): value for name, value in names.items()}
    assert set(formulas.results) == set(expected)
    for name, result in formulas.results.items():
        got = symbolic.substitute(np.asarray(result, dtype=object), point)
        want = np.asarray(expected[name], dtype=object)
        assert got.shape == want.shape, name
        assert all(a == b for a, b in zip(got.ravel(), want.ravel(), strict=True)), name


def _value(entry: str, names: dict[str, Fraction]) -> str:
    """An entry written as a name or 2*name − 1, at the name's value (as a spec's text)."""
    if entry.startswith("2*"):
        return str(2 * names[entry[2:].split(" ")[0]] - 1)
    return str(names[entry])


def test_symbolic_fields_name_their_entries_as_the_layers_tables_do() -> None:
    """`symbolic RxC` in a net: the entries are named after the layer's own symbol (W1, W2
    when two layers have parameters), and the net's upstream's after g."""
    spec = {
        "input": "symbolic 1x2",
        "layers": [
            {"type": "dense", "weight": "symbolic 2x2"},
            {"type": "dense", "weight": [[1, -1]]},
        ],
        "upstream": "symbolic",
    }
    results = solve(spec).results
    assert symbolic.text(results["dense1.output"][0, 0]) == "W1_00*x_00 + W1_01*x_01"
    assert symbolic.text(results["dense2.grad_weight"][0, 1]) == (
        "W1_10*g_00*x_00 + W1_11*g_00*x_01"
    )
    assert symbolic.text(results["grad_input"][0, 0]) == "W1_00*g_00 - W1_10*g_00"


def test_the_bundled_problem_passes_its_formula_answers() -> None:
    result = run_cli("net", "--spec", str(BUNDLED), "--no-color")
    assert result.exit_code == 0, result.output
    assert "every check passed" in result.output
    assert "symbolic entries (w1_11, w1_12, w1_21, w1_22)" in result.output


def test_json_gives_formulas_that_expected_and_check_read_back(tmp_path: Path) -> None:
    import yaml

    result = run_cli("net", "--spec", str(BUNDLED), "--format", "json")
    answer = json.loads(result.stdout)
    assert answer["gradient_check"] is None  # finite differences need numbers
    results = answer["results"]
    assert results["fc.output"][0][0] == "w1_11 - w1_12 + 2*w1_22"
    spec = yaml.safe_load(BUNDLED.read_text())
    spec["expected"] = results
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(spec))
    again = json.loads(run_cli("net", "--spec", str(path), "--format", "json").stdout)
    assert again["checks"] and all(check["ok"] for check in again["checks"])
    shutil.copy(BUNDLED, tmp_path / "task.yaml")
    (tmp_path / "sub.yaml").write_text(
        "problem: task.yaml\nanswers:\n"
        "  output: [[w1_11 - w1_12 + 2*w1_22, 4*w1_12 + 7*w1_11/2 + 3*w1_21/2 + 4*w1_22]]\n"
        "  conv1.grad_kernel: [[1, 0], [0, 1]]\n"
    )
    report = json.loads(run_cli("check", str(tmp_path / "sub.yaml"), "--format", "json").stdout)
    grades = {g["name"]: g for g in report["files"][0]["results"]}
    assert grades["output"]["ok"]
    assert not grades["conv1.grad_kernel"]["ok"]


@pytest.mark.parametrize(
    "text,where,words",
    [
        (
            "input: [[[[1, 2, 0], [0, 1, 3], [2, -2, 1]]]]\n"
            "layers:\n  - {type: conv, kernel: symbolic 2x2}\n  - relu\n  - flatten\n",
            (4, 5),
            "layers[1]: activation1 (activation): relu needs the sign of conv1.output[0,0,0] = "
            "w_00 + 2*w_01 + w_11, which depends on the symbols",
        ),
        (
            "input: [[[[1, 2, 0, 1], [0, 1, 3, 1], [2, -2, 1, 0], [1, 1, 1, 1]]]]\n"
            "layers:\n  - {type: conv, kernel: symbolic 2x2}\n  - {type: pool, mode: max, size: 2}\n",
            (4, 5),
            "max pooling needs the order of its inputs, and conv1.output[0,0,0]",
        ),
        (
            "input: [[1, 2]]\nlayers:\n  - {type: dense, weight: symbolic 2x2}\n  - sigmoid\n",
            (4, 5),
            "sigmoid is not a polynomial, so its output is no formula in the symbols of "
            "dense1.output[0,0] = W_00 + 2*W_01",
        ),
        (
            "input: [[1, 2]]\nlayers:\n  - {type: dense, weight: [[1, 2], [3, 4]]}\n  - tanh\n"
            "  - {type: dense, weight: symbolic 1x2}\n",
            (4, 5),
            "layers[1]: activation1 (activation): its upstream carries symbols back from "
            "dense2's weight, and tanh's derivatives are no exact fractions",
        ),
        (
            "input: [[1, 2]]\nlayers:\n  - {type: dense, weight: symbolic 2x2}\n"
            "loss: {type: cross_entropy, target: [0]}\n",
            (4, 14),
            "loss.type: the loss cross_entropy is not a polynomial",
        ),
        (
            "input: symbolic 1x2\nlayers:\n  - {type: layernorm, normalized_shape: 2}\n",
            (3, 5),
            "layernorm is not a polynomial",
        ),
        (
            "input: symbolic 1x2\nnames: {input: g}\nlayers:\n  - {type: dense, weight: [[1, 2]]}\n"
            "upstream: symbolic\n",
            (2, 16),
            "a symbolic input names its entries g_…, and so are the upstream's entries",
        ),
        (
            "input: symbolic 1x2\nnames: {input: W}\nlayers:\n  - {type: dense, weight: symbolic 1x2}\n",
            (2, 16),
            "and so are dense1's weight's entries",
        ),
    ],
    ids=[
        "relu",
        "max_pool",
        "sigmoid",
        "tanh_upstream",
        "cross_entropy",
        "layernorm",
        "input_named_g",
        "input_named_W",
    ],
)
def test_a_layer_that_cannot_take_formulas_is_one_located_line(
    tmp_path: Path, text: str, where: tuple[int, int], words: str
) -> None:
    path = tmp_path / "net.yaml"
    path.write_text(text)
    line, column, message = spec_error(run_cli("net", "--spec", str(path), "--no-color"))
    assert (line, column) == where, message
    assert words in message
    assert "give numbers" in message or "another symbol" in message


def test_relu_with_numbers_and_max_pool_with_a_symbolic_upstream_run() -> None:
    """relu and max pooling take formulas where the sign or order they need is a number."""
    spec = {
        "input": [[[[1, 2, 0, 1], [0, 1, 3, 1], [2, -2, 1, 0], [1, 1, 1, 1]]]],
        "layers": [
            {"type": "conv", "kernel": [[1, 0], [0, -1]]},
            "relu",
            {"type": "pool", "mode": "max", "size": 3, "ties": "first"},
            "flatten",
            {"type": "dense", "weight": "symbolic 1x1"},
        ],
    }
    results = solve(spec).results
    # conv1 is [[0, −1, −1], [2, 0, 3], [1, −3, 0]]: relu keeps 2, 3 and 1, the pool takes
    # the 3 at (1, 2), which is x_12 − x_23.
    assert symbolic.text(results["output"][0, 0]) == "3*W2_00"
    grad_input = results["grad_input"][0, 0]
    assert symbolic.text(grad_input[1, 2]) == "W2_00"
    assert symbolic.text(grad_input[2, 3]) == "-W2_00"
    assert sum(1 for v in grad_input.ravel() if v != 0) == 2


def test_above_the_cap_every_symbol_gets_one_value_and_the_net_says_so() -> None:
    grid = [[(3 * i + j) % 5 - 2 for j in range(20)] for i in range(20)]
    spec = {
        "input": [[grid]],
        "layers": [
            {"type": "conv", "kernel": "symbolic 1x1"},
            "flatten",
            {"type": "dense", "weight": "symbolic 1x400"},
        ],
        "loss": {"type": "mse", "target": [[1]]},
        "expected": {"conv1.grad_kernel": [["w1_00"]]},
    }
    solution = solve(spec)
    assert not symbolic.any_symbolic(*solution.results.values())
    note = next(c for c in solution.conventions if "random values" in c)
    assert "conv1 sums up to 400 products into one entry" in note
    # The numbers are the numeric net's at the values the note names, the same for the
    # kernel's w1_00 in every layer that sees it.
    names = ["w1_00", *(f"W2_0_{k}" if k > 9 else f"W2_0{k}" for k in range(400))]
    symbols = sorted((symbolic.read_entry(n, ()) for n in names), key=lambda s: s.name)
    values = symbolic.random_values(symbols)
    values = {s.name: v for s, v in values.items()}
    assert "(401 symbols)" in note
    numbers = {
        **spec,
        "layers": [
            {"type": "conv", "kernel": [[values["w1_00"]]]},
            "flatten",
            {"type": "dense", "weight": [[values[n] for n in names[1:]]]},
        ],
        "expected": {},
    }
    numeric = solve(numbers).results
    for name, result in solution.results.items():
        assert (np.asarray(result) == np.asarray(numeric[name])).all(), name
    assert solution.checks[0].expected[0, 0] == values["w1_00"]  # the answer, at the values too


def test_formulas_longer_than_the_cap_as_they_flow_give_the_symbols_values() -> None:
    """Each layer within the limits, but an entry of the last one past 200 terms."""
    spec = {
        "input": [[(k % 5) - 2 for k in range(30)]],
        "layers": [
            {"type": "dense", "weight": "symbolic 8x30"},
            {"type": "dense", "weight": "symbolic 8x8"},
            {"type": "dense", "weight": "symbolic 1x8"},
        ],
    }
    solution = solve(spec)
    note = next(c for c in solution.conventions if "random values" in c)
    assert "a result entry of dense3 has more than 200 terms" in note
    assert not symbolic.any_symbolic(*solution.results.values())


def test_float_is_refused_for_a_net_with_symbols() -> None:
    from gradcalc.core.errors import SpecError

    spec = {"input": [[1, 2]], "layers": [{"type": "dense", "weight": "symbolic 1x2"}]}
    with pytest.raises(SpecError, match="--float computes with numbers"):
        solve(spec, force_float=True)


def test_a_numeric_net_never_imports_sympy() -> None:
    net = PROBLEMS / "net_conv_relu_avgpool_dense.yaml"
    code = (
        "import sys\n"
        "from gradcalc.cli.main import main\n"
        f"sys.argv = ['gradcalc', 'net', '--spec', {str(net)!r}, '--format', 'json']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "assert 'sympy' not in sys.modules, 'sympy imported'\n"
        "assert 'gradcalc.core.symbolic' not in sys.modules, 'core/symbolic.py imported'\n"
        "print('no sympy')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("no sympy")


def test_the_chain_rule_product_of_each_layer_is_its_gradient() -> None:
    """In a net the product is shown layer by layer: each layer's upstream row times its
    Jacobian is that layer's gradient, formulas included."""
    import sympy
    import yaml

    spec = yaml.safe_load(BUNDLED.read_text())
    solution = registry.solve(
        spec, SolveOptions(limits=Limits(), sections=frozenset({"jacobian"})), command_kind="net"
    )
    titles = [section.title for section in solution.sections]
    assert any(t.startswith("conv1 ·") for t in titles) and any(
        t.startswith("fc ·") for t in titles
    )
    products = 0
    for section in solution.sections:
        tables = [item for item in section.items if isinstance(item, SymbolTable)]
        for index, table in enumerate(tables):
            if not (" = " in table.label and "·" in table.label):
                continue
            assert "entry for entry the backward pass's" in table.caption
            row = tables[index - 1].cells[0]
            jacobian = tables[index - 2].cells
            for k, got in enumerate(table.cells[0]):
                want = sum(
                    sympy.sympify(row[r]) * sympy.sympify(jacobian[r][k]) for r in range(len(row))
                )
                assert sympy.expand(sympy.sympify(got) - want) == 0
            products += 1
    assert products >= 4  # ∂L/∂x and ∂L/∂w1 of conv1, ∂L/∂flatten1 and ∂L/∂W2 of fc


def test_latex_compiles_and_markdown_typesets_the_formulas(tmp_path: Path) -> None:
    markdown = run_cli("net", "--spec", str(BUNDLED), "--format", "markdown")
    assert markdown.exit_code == 0
    assert "53·w1_11^2/8" in markdown.stdout and "53*w1_11**2/8" not in markdown.stdout
    latex = run_cli("net", "--spec", str(BUNDLED), "--format", "latex")
    assert latex.exit_code == 0
    assert "w1_{11}" in latex.stdout and "w_{1 11}" not in latex.stdout
    assert_compiles(tmp_path, latex.stdout)  # skips without pdflatex


@pytest.mark.parametrize("width", [60, 80])
def test_terminal_output_of_a_symbolic_net_fits_the_width(width: int) -> None:
    from click.testing import CliRunner

    from gradcalc.cli.main import main

    result = CliRunner().invoke(
        main,
        ["net", "--spec", str(BUNDLED), "--no-color"],
        env={"COLUMNS": str(width), "LINES": "50", "FORCE_COLOR": None, "NO_COLOR": None},
    )
    assert result.exit_code == 0, result.output
    wide = [line for line in result.output.splitlines() if len(line) > width]
    assert not wide, wide[:3]


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("chain", CHAINS, ids=lambda c: c.__name__.strip("_"))
def test_every_displayed_equation_of_a_symbolic_net_is_true(chain, seed, tmp_path: Path) -> None:
    """tests/equation_truth.py over the Markdown of symbolic nets (the bundled one, and every
    chain above with all its fields symbolic): every step true, formulas included."""
    from equation_truth import check_report

    if seed == 0 and chain is CHAINS[0]:
        path = BUNDLED
    else:
        spec, fields = chain(random.Random(50 + seed))
        names: dict[str, Fraction] = {}
        for position, where in enumerate(fields):
            prefix = "abcdefgh"[position]
            _set(spec, where, _with_names(_get(spec, where), prefix, random.Random(seed), names))
        spec["symbols"] = sorted(names)
        path = tmp_path / "net.json"
        path.write_text(json.dumps({"kind": "net", **spec}))
    markdown = run_cli("run", str(path), "--format", "markdown", "--steps", "all")
    assert markdown.exit_code == 0, markdown.output
    answer = json.loads(run_cli("run", str(path), "--format", "json").stdout)
    report = check_report(
        markdown.stdout,
        results=answer["results"],
        names={"input": "x", "loss": "L"},
        index_base=1 if path == BUNDLED else 0,
    )
    assert report.compared and report.matched_results
    assert not report.problems, report.problems[:3]


def test_a_conv_transpose_layer_takes_a_symbolic_kernel_and_a_formula_bias() -> None:
    """y[a·2 + m, b·2 + q] = x[a, b]·w[m, q] + c over a 2×2 input [[1, 2], [0, −1]]; the
    dense row sums the even columns: (1 + 2 − 1)·w_00 + (1 + 2 − 1)·w_10 + 8·c."""
    spec = {
        "input": [[[[1, 2], [0, -1]]]],
        "layers": [
            {"type": "conv_transpose", "name": "up", "kernel": "symbolic 1x1x2x2", "bias": ["c"]},
            "flatten",
            {"type": "dense", "name": "fc", "weight": [[1, 0] * 8]},
        ],
        "symbols": ["c"],
        "upstream": [[1]],
    }
    spec["layers"][0]["stride"] = 2
    results = solve(spec, gradient_check=False).results
    assert str(results["output"][0, 0]) == "8*c + 2*w1_0000 + 2*w1_0010"
    assert str(results["up.grad_bias"][0]) == "8"
    assert [str(v) for v in results["up.grad_kernel"].ravel()] == ["2", "0", "2", "0"]
    assert str(results["grad_input"][0, 0, 0, 0]) == "w1_0000 + w1_0010"
