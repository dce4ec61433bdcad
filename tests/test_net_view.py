"""`gradcalc net --layer NAME` (one layer's sections) and `--format dot` (the computational
graph as Graphviz DOT, `--values` for its numbers): every format, the bundled nets, and bad
or hostile input."""

from __future__ import annotations

import json
import re

import dot_syntax
import pytest
from dot_syntax import DotSyntaxError, label_lines, parse, run_dot
from nn_cli import PROBLEMS, run, run_spec

from gradcalc.cli.safe_text import one_line

EXAMPLE = PROBLEMS / "net_conv_relu_maxpool_dense.yaml"
NETS = (
    "net_conv_relu_maxpool_dense.yaml",
    "seed003_net_dense_softmax_cross_entropy.yaml",
    "net_mlp_sigmoid_mse.yaml",
    "net_conv_relu_avgpool_dense.yaml",
)
EXAMPLE_LAYERS = ("conv1", "activation1", "pool1", "flatten1", "fc")
# An all-rational net: exact fractions everywhere.
EXACT_NET = """\
kind: net
input: [1, -2]
layers:
  - {type: dense, weight: [[1, 2], [3, '1/3']]}
  - relu
loss: {type: mse, target: ['1/2', 0]}
"""


def layer_names(spec: str) -> list[str]:
    """The net's layer names, in order, from its JSON results."""
    results = json.loads(run("net", "--spec", spec, "--format", "json").stdout)["results"]
    return [key.removesuffix(".output") for key in results if key.endswith(".output")]


def section_titles(out: str) -> list[str]:
    """The table's section titles (``── conv1 · Forward … ──``)."""
    return re.findall(r"^── (.*?) ─", out, flags=re.MULTILINE)


# --layer ---------------------------------------------------------------------


@pytest.mark.parametrize("name", NETS)
def test_each_layer_of_each_bundled_net_alone(name: str) -> None:
    spec = str(PROBLEMS / name)
    names = layer_names(spec)
    for layer in names:
        result = run("net", "--spec", spec, "--layer", layer, "--no-color")
        assert result.exit_code == 0, result.stderr
        titles = section_titles(result.stdout)
        assert titles[0].startswith(f"Graph: {layer},")
        own = [t for t in titles[1:] if " · " in t]
        assert own and all(t.startswith(f"{layer} · ") for t in own), titles
        # Forward first, backward after, as in the whole net's output.
        assert any("Forward" in t or "forward" in t for t in own), own
        assert any("Backward" in t for t in own), own
        assert "Results" in titles
        # The conventions: the net's own, the --layer line, and this layer's only.
        for other in names:
            if other != layer:
                assert f"• {other}: " not in result.stdout
        assert f"--layer {layer}: only {layer}'s sections" in result.stdout


def test_the_graph_line_shows_what_flows_in_and_out() -> None:
    out = run("net", "--spec", str(EXAMPLE), "--layer", "pool1", "--no-color").stdout
    assert "activation1 1×2×3×3 → pool1 → 1×2×1×1 → flatten1" in out
    assert "conv1 → 1×2×3×3" not in out  # not the whole chain
    first = run("net", "--spec", str(EXAMPLE), "--layer", "conv1", "--no-color").stdout
    assert "x 1×1×4×4 → conv1 → 1×2×3×3 → activation1" in first
    last = run("net", "--spec", str(EXAMPLE), "--layer", "fc", "--no-color").stdout
    assert "flatten1 1×2 → fc → 1×3 → L" in last


def test_layer_combines_with_show_and_steps() -> None:
    result = run(
        "net", "--spec", str(EXAMPLE), "--layer", "conv1", "--show", "backward", "--no-color"
    )
    assert result.exit_code == 0
    titles = section_titles(result.stdout)
    assert titles and all(t.startswith("conv1 · Backward") for t in titles), titles
    few = run("net", "--spec", str(EXAMPLE), "--layer", "conv1", "--steps", "1", "--no-color")
    every = run("net", "--spec", str(EXAMPLE), "--layer", "conv1", "--steps", "all", "--no-color")
    assert few.exit_code == every.exit_code == 0
    assert len(few.stdout) < len(every.stdout)
    assert section_titles(few.stdout) == section_titles(every.stdout)


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_layer_in_write_ups(fmt: str) -> None:
    whole = run("net", "--spec", str(EXAMPLE), "--format", fmt).stdout
    one = run("net", "--spec", str(EXAMPLE), "--format", fmt, "--layer", "fc")
    assert one.exit_code == 0
    dot = " · " if fmt == "markdown" else r" \ensuremath{\cdot} "
    assert f"fc{dot}" in one.stdout
    assert f"conv1{dot}" not in one.stdout and f"pool1{dot}" not in one.stdout
    assert f"conv1{dot}" in whole and len(one.stdout) < len(whole)


def test_layer_in_json_keeps_results_and_checks() -> None:
    whole = json.loads(run("net", "--spec", str(EXAMPLE), "--format", "json").stdout)
    result = run("net", "--spec", str(EXAMPLE), "--format", "json", "--layer", "pool1")
    assert result.exit_code == 0
    one = json.loads(result.stdout)
    for key in ("results", "exact_results", "checks", "ok", "exact", "kind", "title"):
        assert one.get(key) == whole.get(key), key
    assert one["gradient_check"]["entries_checked"] == whole["gradient_check"]["entries_checked"]
    assert any(line.startswith("--layer pool1: only pool1's") for line in one["conventions"])
    assert not any(line.startswith("conv1: ") for line in one["conventions"])
    assert any(line.startswith("conv1: ") for line in whole["conventions"])


def test_layer_in_an_html_export(tmp_path) -> None:
    page = tmp_path / "fc.html"
    result = run("net", "--spec", str(EXAMPLE), "--layer", "fc", "--export", str(page))
    assert result.exit_code == 0, result.stderr
    html = page.read_text(encoding="utf-8")
    assert "fc · " in html and "conv1 · " not in html


def test_layer_through_run_and_examples() -> None:
    ran = run("run", str(EXAMPLE), "--layer", "fc", "--no-color")
    assert ran.exit_code == 0 and "conv1 · " not in ran.stdout and "fc · " in ran.stdout
    named = run("examples", "net_conv_relu_maxpool_dense", "--layer", "fc", "--no-color")
    assert named.stdout == ran.stdout


def one_error_line(result, status: int = 2) -> str:
    assert result.exit_code == status, (result.exit_code, result.stdout, result.stderr)
    assert result.stdout == ""
    assert result.stderr.endswith("\n") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr.rstrip("\n")


def test_an_unknown_layer_is_one_line_with_did_you_mean() -> None:
    line = one_error_line(run("net", "--spec", str(EXAMPLE), "--layer", "pool"))
    assert line == (
        "gradcalc net --layer: no layer 'pool' in this net; did you mean 'pool1'? "
        "Its layers: conv1, activation1, pool1, flatten1, fc"
    )
    far = one_error_line(run("net", "--spec", str(EXAMPLE), "--layer", "zzzz"))
    assert far.endswith(
        "no layer 'zzzz' in this net; its layers: conv1, activation1, pool1, flatten1, fc"
    )


@pytest.mark.parametrize(
    "hostile", ["fc\x1b[2J", "fc\nforged line", "fc\u202eevil", "fc\tx", "\x07", "fc\r"]
)
def test_a_hostile_layer_name_is_never_printed_raw(hostile: str) -> None:
    line = one_error_line(run("net", "--spec", str(EXAMPLE), "--layer", hostile))
    assert line.startswith("gradcalc net --layer: no layer '")
    assert line.isprintable(), repr(line)
    assert "\u202e" not in line


def test_layer_is_no_option_of_other_kinds() -> None:
    line = one_error_line(run("conv", "--spec", str(PROBLEMS / "task3.yaml"), "--layer", "x"))
    assert "no such option '--layer'" in line
    assert "--layer" not in run("conv", "--help").stdout
    assert "--layer" in run("net", "--help").stdout
    line = one_error_line(run("run", str(PROBLEMS / "task3.yaml"), "--layer", "x"))
    assert line == "gradcalc conv: --layer names a layer of a net; kind conv has no layers"


def test_run_goes_on_after_a_spec_that_cannot_take_layer() -> None:
    result = run("run", str(PROBLEMS / "task3.yaml"), str(EXAMPLE), "--layer", "fc", "--no-color")
    assert result.exit_code == 2
    assert "fc · " in result.stdout
    assert "kind conv has no layers" in result.stderr


# --format dot ----------------------------------------------------------------


def dot(*args: str, status: int = 0) -> str:
    result = run("net", *args, "--format", "dot")
    assert result.exit_code == status, result.stderr
    return result.stdout


ALLOWED_ATTRIBUTES = {"label", "labelloc", "shape", "style", "penwidth"}


def check_graph(text: str, layers: list[str], *, loss: bool = True):
    """Parse gradcalc's DOT: one node per layer (and the input, the loss), a chain of edges,
    only gradcalc's attributes; the parsed graph."""
    graph = parse(text)
    ids = ["n0", *(f"n{i + 1}" for i in range(len(layers))), *(["loss"] if loss else [])]
    assert list(graph.nodes) == ids
    assert graph.edges == list(zip(ids, ids[1:], strict=False))
    for attributes in (graph.graph_attributes, graph.node_defaults, *graph.nodes.values()):
        assert set(attributes) <= ALLOWED_ATTRIBUTES, attributes
    for node, layer in zip(ids[1:], layers, strict=False):
        assert label_lines(graph.nodes[node]["label"])[0] == layer
    return graph


@pytest.mark.parametrize("values", [False, True])
@pytest.mark.parametrize("name", NETS)
def test_every_bundled_net_draws_as_dot(name: str, values: bool) -> None:
    spec = str(PROBLEMS / name)
    text = dot("--spec", spec, *(["--values"] if values else []))
    assert text.startswith("// gradcalc net: every expected answer matches")
    graph = check_graph(text, layer_names(spec))
    for node in graph.nodes.values():
        lines = label_lines(node["label"])
        assert any("=" in line for line in lines) == values
    svg = run_dot(text)
    assert svg.count('class="node"') == len(graph.nodes)


def test_the_nodes_say_type_parameters_and_shapes() -> None:
    graph = check_graph(dot("--spec", str(EXAMPLE)), list(EXAMPLE_LAYERS))
    labels = {node: label_lines(a["label"]) for node, a in graph.nodes.items()}
    assert labels["n0"] == ["x", "input", "shape 1×1×4×4"]
    assert labels["n1"] == ["conv1", "conv · kernel 2×1×2×2, bias 2", "output 1×2×3×3"]
    assert labels["n2"] == ["activation1", "activation: relu", "output 1×2×3×3"]
    assert labels["n5"] == ["fc", "dense · weight 3×2, bias 3", "output 1×3"]
    assert labels["loss"] == ["L", "loss: cross_entropy", "a single number"]
    assert graph.graph_attributes["label"] == "conv → relu → max pool → dense → cross-entropy"


def test_values_are_the_results_as_every_format_writes_them() -> None:
    graph = check_graph(dot("--spec", str(EXAMPLE), "--values"), list(EXAMPLE_LAYERS))
    fc = label_lines(graph.nodes["n5"]["label"])
    assert fc[3:6] == ["fc =", "  [0,:] 0, 8, 5", "∂L/∂fc ="]
    assert "∂L/∂fc.weight =" in fc and "∂L/∂fc.bias =" in fc
    x = label_lines(graph.nodes["n0"]["label"])
    assert x[3:5] == ["x =", "  [0,0,0,:] 1, 2, 0, −1"]
    assert "∂L/∂x =" in x
    assert label_lines(graph.nodes["loss"]["label"])[-1] == "L = 3.04891"


def test_exact_values_print_as_fractions_or_as_decimal_and_float_say(tmp_path) -> None:
    def labels(*options: str) -> dict[str, list[str]]:
        result = run_spec(tmp_path, "net", EXACT_NET, "--format", "dot", "--values", *options)
        assert result.exit_code == 0, result.stderr
        graph = check_graph(result.stdout, ["dense1", "activation1"])
        return {node: label_lines(a["label"]) for node, a in graph.nodes.items()}

    exact = labels()
    # hidden = [1 − 4, 3 − 2/3] = [−3, 7/3]; L = ((0 − 1/2)² + (7/3)²)/2 = 205/72
    assert "  −3, 7/3" in exact["n1"]
    assert exact["loss"][-1] == "L = 205/72"
    assert "  −3, 2.33333" in labels("--decimal")["n1"]
    assert labels("--decimal", "--precision", "3")["loss"][-1] == "L = 2.85"
    floats = labels("--float")
    assert "  −3, 2.33333" in floats["n1"] and floats["loss"][-1] == "L = 2.84722"
    assert "  1, −2" in floats["n0"]


def test_big_arrays_are_cut_with_a_visible_ellipsis(tmp_path) -> None:
    wide = [[i - 20 for i in range(40)] for _ in range(30)]
    text = f"kind: net\ninput: {wide}\nlayers: [relu]\n"
    result = run_spec(tmp_path, "net", text, "--format", "dot", "--values")
    assert result.exit_code == 0, result.stderr
    lines = label_lines(parse(result.stdout).nodes["n1"]["label"])
    rows = [line for line in lines if line.startswith("  [")]
    assert len(rows) == 2 * 12  # relu1 and ∂L/∂relu1, 12 rows each
    assert all(row.endswith(", …") and row.count(",") == 13 for row in rows)
    assert "  … 18 more rows (--steps all shows every one)" in lines
    every = run_spec(tmp_path, "net", text, "--format", "dot", "--values", "--steps", "all")
    lines = label_lines(parse(every.stdout).nodes["n1"]["label"])
    assert len([line for line in lines if line.startswith("  [")]) == 2 * 30
    assert not any("…" in line for line in lines)
    run_dot(every.stdout)


def test_a_net_without_a_loss_has_no_loss_node(tmp_path) -> None:
    text = "kind: net\ninput: [[1, -2]]\nlayers: [relu, flatten]\nupstream: [[3, 4]]\n"
    result = run_spec(tmp_path, "net", text, "--format", "dot", "--values")
    graph = check_graph(result.stdout, ["activation1", "flatten1"], loss=False)
    assert "  [0,:] 3, 4" in label_lines(graph.nodes["n2"]["label"])  # ∂L/∂flatten1: the upstream
    run_dot(result.stdout)


def test_layer_with_dot_marks_its_node() -> None:
    graph = check_graph(dot("--spec", str(EXAMPLE), "--layer", "pool1"), list(EXAMPLE_LAYERS))
    assert graph.nodes["n3"]["style"] == "rounded,bold"
    assert all("penwidth" not in a for n, a in graph.nodes.items() if n != "n3")


HOSTILE_TITLE = 'a"]; evil [shape=circle]; b="\\N\\G \\"\n# x\r\x1b[2J\u202e}'


def test_a_hostile_title_and_names_cannot_break_the_dot(tmp_path) -> None:
    text = (
        "kind: net\n"
        f"title: {json.dumps(HOSTILE_TITLE)}\n"
        "input: [[1, -2]]\n"
        "layers: [relu]\n"
        "loss: {type: mse, target: [[0, 1]]}\n" + 'names: {input: "x\\"];n9[", loss: "\\\\N\\n}"}\n'
    )
    result = run_spec(tmp_path, "net", text, "--format", "dot", "--values")
    assert result.exit_code == 0, result.stderr
    graph = check_graph(result.stdout, ["activation1"])
    assert graph.graph_attributes["label"] == one_line(HOSTILE_TITLE).replace("\\", "\\\\")
    assert label_lines(graph.graph_attributes["label"]) == [one_line(HOSTILE_TITLE)]
    assert label_lines(graph.nodes["n0"]["label"])[0] == 'x"];n9['
    assert label_lines(graph.nodes["loss"]["label"])[0] == one_line("\\N\n}")
    assert all(ch.isprintable() or ch == "\n" for ch in result.stdout)
    svg = run_dot(result.stdout)
    assert svg.count('class="node"') == 3


def test_the_tokenizer_catches_what_it_should() -> None:
    with pytest.raises(DotSyntaxError):
        parse('digraph net { n0 [label="a"]; "b" ] }')
    with pytest.raises(DotSyntaxError):
        label_lines("\\N")
    assert parse('digraph net { n0 [label="a\\"b"]; }').nodes["n0"]["label"] == 'a"b'


def test_a_mismatch_exits_1_and_says_so(tmp_path) -> None:
    text = EXACT_NET + "expected: {loss: 3, output: [0, 1]}\n"
    result = run_spec(tmp_path, "net", text, "--format", "dot")
    assert result.exit_code == 1
    assert result.stdout.startswith("// gradcalc net: 2 of 2 expected answers do not match: ")
    parse(result.stdout)


def test_run_of_several_nets_gives_one_graph_each() -> None:
    result = run("run", *(str(PROBLEMS / name) for name in NETS[:2]), "--format", "dot")
    assert result.exit_code == 0
    graphs = result.stdout.split("\n\n")
    assert len(graphs) == 2
    for text in graphs:
        parse(text)
    run_dot(result.stdout)


BAD_DOT = {
    "dot for another kind": (
        ("conv", "--spec", str(PROBLEMS / "task3.yaml"), "--format", "dot"),
        "gradcalc conv: --format: 'dot' is not one of 'table', 'json', 'markdown', 'latex' "
        "(see gradcalc conv --help)",
    ),
    "values without dot": (
        ("net", "--spec", str(EXAMPLE), "--values"),
        "gradcalc net: --values labels the nodes of the graph; add --format dot",
    ),
    "values with json": (
        ("net", "--spec", str(EXAMPLE), "--values", "--format", "json"),
        "gradcalc net: --values labels the nodes of the graph; add --format dot",
    ),
    "values on another kind": (
        ("conv", "--spec", str(PROBLEMS / "task3.yaml"), "--values"),
        "gradcalc conv: no such option '--values'. Did you mean '--names'? "
        "(see gradcalc conv --help)",
    ),
    "show with dot": (
        ("net", "--spec", str(EXAMPLE), "--format", "dot", "--show", "graph"),
        "gradcalc net: --show picks sections of the report; --format dot draws the graph alone "
        "(--values adds its numbers)",
    ),
    "export with dot": (
        ("net", "--spec", str(EXAMPLE), "--format", "dot", "--export", "n.html"),
        "gradcalc net: --export writes the table report; it cannot be combined with --format dot",
    ),
    "the examples list as dot": (
        ("examples", "--format", "dot"),
        "gradcalc examples: --format dot draws one net: give a problem NAME",
    ),
    "run of another kind as dot": (
        ("run", str(PROBLEMS / "task3.yaml"), "--format", "dot"),
        "gradcalc conv: --format dot draws a net's computational graph; kind conv has none "
        "(use table, json, markdown or latex)",
    ),
    "unknown layer with dot": (
        ("net", "--spec", str(EXAMPLE), "--format", "dot", "--layer", "fc2"),
        "gradcalc net --layer: no layer 'fc2' in this net; did you mean 'fc'? Its layers: "
        "conv1, activation1, pool1, flatten1, fc",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_DOT))
def test_bad_dot_options_are_one_line_exit_2(case: str) -> None:
    args, line = BAD_DOT[case]
    assert one_error_line(run(*args)) == line


def test_help_shows_an_example_of_each() -> None:
    out = " ".join(run("net", "--help").stdout.split())
    assert "--layer pool1" in out and "--format dot --values" in out
    assert "dot: the net's computational graph as Graphviz DOT" in out
    assert "dot (kind net): the net's" in " ".join(run("run", "--help").stdout.split())
    assert "dot" not in run("conv", "--help").stdout


def test_a_missing_dot_fails_where_dot_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dot_syntax.shutil, "which", lambda name: None)
    monkeypatch.setenv("GRADCALC_REQUIRE_DOT", "1")
    with pytest.raises(pytest.fail.Exception, match="GRADCALC_REQUIRE_DOT"):
        dot_syntax.dot_path()
    monkeypatch.delenv("GRADCALC_REQUIRE_DOT")
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        dot_syntax.dot_path()


# YAML values for a title or a symbol that try to break out of a DOT string, add a node or an
# attribute, make Graphviz substitute a name, or drive the terminal.
HOSTILE_TEXT = [
    '"\\"];\\n n9 [shape=circle"',
    '"\\"]; n9 [x"',
    '"}\\n{ n9"',
    '"\\x1b[2J"',
    '"} digraph x {"',
    '"\\\\N\\\\G\\\\E"',
    '"a\\\\"',
    '"\\\\"',
    '"\\x1b[2J\\x1b]0;owned\\x07"',
    '"\\u202eevil\\u2028x"',
    '"\\r\\n// x\\n#y"',
    '"<b>html</b>"',
    '"/* x"',
    "'-> n0'",
    '"\\ud800"',
]


@pytest.mark.parametrize("token", HOSTILE_TEXT)
@pytest.mark.parametrize("where", ["title", "input", "loss"])
def test_hostile_text_anywhere_keeps_the_dot_whole(tmp_path, where: str, token: str) -> None:
    """Each bundled-style net with the hostile text as its title or a symbol of ``names``: the
    DOT parses to exactly gradcalc's nodes and edges (or the spec is refused in one line)."""
    text = EXAMPLE.read_text(encoding="utf-8")
    if where == "title":
        text = re.sub(r"(?m)^title:.*$", lambda _: f"title: {token}", text)
    else:
        symbols = {"input": "x", "loss": "L", where: "SYMBOL"}
        text = re.sub(r"(?m)^names:.*$", lambda _: f"names: {json.dumps(symbols)}", text)
        text = text.replace('"SYMBOL"', token)
    result = run_spec(tmp_path, "net", text, "--format", "dot", "--values")
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    if result.exit_code == 2:
        assert result.stdout == "" and result.stderr.count("\n") == 1, result.stderr
        return
    assert result.exit_code == 0, result.stderr
    assert all(ch.isprintable() or ch == "\n" for ch in result.stdout)
    graph = check_graph(result.stdout, list(EXAMPLE_LAYERS))
    for attributes in (graph.graph_attributes, *graph.nodes.values()):
        if "label" in attributes:
            label_lines(attributes["label"])  # no escape Graphviz would replace
    if dot_syntax.dot_installed():
        assert run_dot(result.stdout).count('class="node"') == len(EXAMPLE_LAYERS) + 2


@pytest.mark.parametrize("options", [(), ("--float",)])
def test_an_embedding_nets_input_draws_as_its_indices(tmp_path, options) -> None:
    """An embedding first: the input node shows the integer indices (under --float too) and
    no ∂L/∂x, which indices do not have."""
    text = (
        "input: [[1, 2], [2, 0]]\n"
        "layers: [{type: embedding, name: emb, weight: [[1, -1], [2, 0], [0, 3]]}, flatten]\n"
    )
    result = run_spec(tmp_path, "net", text, "--format", "dot", "--values", *options)
    assert result.exit_code == 0, result.stderr
    graph = check_graph(result.stdout, ["emb", "flatten1"], loss=False)
    x = label_lines(graph.nodes["n0"]["label"])
    assert x[3:6] == ["x =", "  [0,:] 1, 2", "  [1,:] 2, 0"]
    assert not any(line.startswith("∂L/∂x") for line in x)
    assert "∂L/∂emb.weight =" in label_lines(graph.nodes["n1"]["label"])
