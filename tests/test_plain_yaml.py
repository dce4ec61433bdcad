"""The plain reader (cli/plain_yaml.py) gives exactly PyYAML's values, or steps aside.

For any text, ``read_plain`` must return either None or the very data the full
PyYAML path gives (same values, same Python types); and it must return None
for every text PyYAML's path rejects.  Checked on the bundled problems, on
tricky scalars one by one, and on generated documents.
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc.cli import spec_loader, yaml_nodes, yaml_values
from gradcalc.cli.plain_yaml import read_plain
from gradcalc.cli.spec_loader import SpecFileError, load_file, parse_text
from gradcalc.problems import bundled


def full_path(text: str):
    """The data PyYAML's path gives (compose, then the loader's converter), or the error."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return "yaml error"
    if not isinstance(node, yaml.MappingNode):
        return "not a mapping"
    try:
        return yaml_nodes.Converter("test", 10_000_000).convert(node)
    except SpecFileError as error:
        return f"error: {error.message}"


def typed(value):
    """Values with their exact types, NaN made comparable."""
    if isinstance(value, dict):
        return {(type(k), k): typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    if isinstance(value, float) and math.isnan(value):
        return (float, "nan")
    return (type(value), value)


def assert_agrees(text: str) -> None:
    plain = read_plain(text, spec_loader._plain_scalar, 10_000_000)
    if plain is None:
        return
    full = full_path(text)
    assert not isinstance(full, str), f"plain reader took text PyYAML rejects ({full}):\n{text}"
    assert typed(plain) == typed(full), text


def test_bundled_problems_read_the_same_and_mostly_take_the_plain_path():
    paths = bundled()
    plain_count = 0
    for path in paths:
        text = path.read_text(encoding="utf-8")
        assert_agrees(text)
        plain_count += read_plain(text, spec_loader._plain_scalar, 10_000_000) is not None
    # The reader exists for speed: it must take the usual spec.
    assert plain_count >= 0.8 * len(paths)


TRICKY_SCALARS = [
    "0",
    "-0",
    "7",
    "-12",
    "012",
    "0o17",
    "0x1F",
    "0b101",
    "1_000",
    "+5",
    "1:30",
    "190:20:30",
    "1e3",
    "1.0e+3",
    "1.0e3",
    "1.5",
    "-1.5",
    ".5",
    "-.5",
    "+.5",
    "1.",
    "1_0.5",
    "6.8523015e+5",
    ".inf",
    "-.inf",
    ".Inf",
    ".nan",
    ".NaN",
    "nan",
    "inf",
    "yes",
    "No",
    "ON",
    "off",
    "y",
    "n",
    "true",
    "False",
    "TRUE",
    "~",
    "null",
    "Null",
    "NULL",
    "2024-01-01",
    "2001-12-14t21:59:43.10-05:00",
    "1/2",
    "-1/2",
    "3/-4",
    "a b",
    "C#",
    "x#y",
    "conv",
    "same",
    "ones",
    "-x",
    "--",
    "-",
    "=",
    "<<",
    "a,b",
    "[1]",
    "{a: 1}",
    "'q'",
    '"q"',
    "a: b",
    "a:b",
    "@x",
    "`x",
    "%x",
    "!x",
    "&a x",
    "*a",
    "|",
    ">",
    "?",
    "? x",
    "9" * 30,
    "1" * 101,
    "1e4000",
    "0." + "0" * 120 + "1",
    # PyYAML cannot convert these ints; control characters and YAML's other line breaks.
    "0x_",
    "0b_",
    "-0x_",
    "x\x07",
    "x\x00",
    "x\x7f",
    "x\x85y",
    "x\u2028y",
    "x\u2029 y",
    "x\ufeffy",
    "x\ufffe",
    "\u00e9t\u00e9",
    "∂L/∂x",
]


@pytest.mark.parametrize("scalar", TRICKY_SCALARS)
@pytest.mark.parametrize(
    "template",
    [
        "value: {s}\n",
        "value: {s}  # note\n",
        "value: [{s}]\n",
        "value: [1, {s}, 2]\n",
        "value: [[{s}], [{s}, 3]]\n",
        "value: {{a: {s}}}\n",
        "value:\n  - {s}\n",
        "value:\n- - {s}\n  - 1\n",
        'value: "{s}"\n',
        "value: '{s}'\n",
        "other: 1\nvalue:\n  inner: {s}\n",
    ],
)
def test_tricky_scalars_agree(scalar, template):
    assert_agrees(template.format(s=scalar))


IDENT = st.sampled_from(["input", "kernel", "a", "b_2", "expected", "yes", "null", "on"])
TOKEN = st.one_of(
    st.sampled_from(TRICKY_SCALARS),
    st.integers(-(10**20), 10**20).map(str),
    st.integers(-20, 20).map(str),
    st.integers(-20, 20).map(str),
    st.fractions(max_denominator=50).map(str),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
    st.text(alphabet="ab #:'\",[]{}-\\x", min_size=0, max_size=6),
)


def _quoted(text: str, quote: str) -> str:
    return quote + text + quote


def _flow(draw, depth: int) -> str:
    if depth > 2 or draw(st.booleans()):
        token = draw(TOKEN)
        choice = draw(st.integers(0, 5))
        if choice == 0:
            return _quoted(token, '"')
        if choice == 1:
            return _quoted(token.replace("'", "''"), "'")
        return token
    items = draw(st.lists(st.deferred(lambda: st.just(None)), max_size=4))
    parts = [_flow(draw, depth + 1) for _ in items]
    separator = draw(st.sampled_from([", ", ",", " , ", ",  "]))
    return "[" + separator.join(parts) + draw(st.sampled_from(["]", "]", " ]", ",]"]))


@st.composite
def documents(draw) -> str:
    lines = []
    for _ in range(draw(st.integers(1, 6))):
        key = draw(IDENT) if draw(st.integers(0, 3)) else f"k{len(lines)}"
        indent = " " * draw(st.sampled_from([0] * 8 + [1, 2]))
        shape = draw(st.integers(0, 5))
        comment = draw(st.sampled_from(["", "", "", "  # c", " #c", "#c", " # a: b [1]"]))
        if draw(st.integers(0, 6)) == 0:
            lines.append(draw(st.sampled_from(["# comment", "", "   ", "---", "..."])))
        if shape <= 1:
            lines.append(f"{indent}{key}: {_flow(draw, 0)}{comment}")
        elif shape == 2:
            inner = draw(IDENT)
            lines.append(f"{indent}{key}: {{{inner}: {draw(TOKEN)}}}{comment}")
        elif shape == 3:
            lines.append(f"{indent}{key}:{comment}")
            child = " " * draw(st.sampled_from([0, 2, 4]))
            for _ in range(draw(st.integers(0, 3))):
                dash = draw(st.sampled_from(["- ", "- ", "- - ", "-  ", "-"]))
                lines.append(f"{indent}{child}{dash}{_flow(draw, 1)}")
        elif shape == 4:
            lines.append(f"{indent}{key}:")
            child = " " * draw(st.sampled_from([2, 4, 3]))
            for _ in range(draw(st.integers(0, 3))):
                lines.append(f"{indent}{child}{draw(IDENT)}: {_flow(draw, 0)}{comment}")
        else:
            lines.append(f"{indent}{key}: {draw(TOKEN)}{comment}")
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\n\n"]))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_documents_agree(text):
    assert_agrees(text)


def test_errors_found_after_the_plain_path_still_have_positions(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("kind: conv\ninput: [[1, 2], [3, 4]]\nkernel: [[1]]\nstride: 0\n")
    loaded = load_file(str(spec))
    assert loaded.root is None and loaded.text is not None  # read by the plain reader
    assert loaded.position(("stride",)) == (4, 9)
    assert loaded.position(("input", 1, 0)) == (2, 18)
    assert loaded.position(("kernel",), at_key=True) == (3, 1)


def test_values_beyond_the_limit_go_to_pyyaml_for_the_error():
    # Just beyond: far beyond (50 for 10), the linear pre-scan refuses the text at 1:1
    # before either reader runs (tests/test_work_limits.py).
    text = "input: [" + ", ".join(["1"] * 10) + "]\n"
    assert read_plain(text, spec_loader._plain_scalar, 10) is None
    with pytest.raises(SpecFileError, match="more than 10 values"):
        parse_text(text, "spec.yaml", max_values=10)


def test_exact_numbers_survive_the_plain_path():
    data = parse_text('a: [0.1, "1/3", 1/4, 2]\n', "x").data
    assert data["a"] == [Fraction(1, 10), "1/3", "1/4", 2]
    assert type(data["a"][3]) is int


@pytest.mark.parametrize("separator", ["\u2028", "\u2029", "\x85"])
def test_yaml_line_breaks_other_than_newline_are_not_hidden_in_a_comment(separator):
    text = (
        f"kind: conv\ninput: [[1, 2, 3]]\nkernel: [[1]]\npadding: 0  # note{separator}stride: 2\n"
    )
    assert read_plain(text, spec_loader._plain_scalar, 10_000_000) is None
    assert_agrees(text)


NESTED = {
    "flow-40": "a: " + "[0," * 40 + "1" + "]" * 40 + "\n",
    "flow-brackets-20": "a: " + "[" * 20 + "1" + "]" * 20 + "\n",
    "block-mappings-40": "a:\n"
    + "".join(" " * level + f"b{level}:\n" for level in range(1, 40))
    + " " * 40
    + "c: 1\n",
    "compact-items-40": "a:\n" + "- " * 40 + "1\n",
    "items-1200": "a:\n" + "- " * 1200 + "1\n",
}


@pytest.mark.parametrize("name", NESTED)
def test_deep_nesting_is_left_to_pyyaml(name):
    assert read_plain(NESTED[name], spec_loader._plain_scalar, 10_000_000) is None


def test_an_unconvertible_int_is_text_for_the_number_reader():
    assert parse_text("a: [1, 0x_]\n", "x").data == {"a": [1, "0x_"]}


@pytest.mark.parametrize(
    "text", ["a" * 1025 + ": 1\n", "x: {" + "a" * 1025 + ": 1}\n", "k: 1\n" + "b" * 200 + ": 2\n"]
)
def test_keys_longer_than_yaml_allows_go_to_pyyaml(text):
    assert read_plain(text, spec_loader._plain_scalar, 10_000_000) is None
    assert_agrees(text)


@pytest.mark.parametrize("odd", ["01", "-0", "1 2", "- 1", "--1", "", "1-", "0" * 25])
def test_long_integer_rows_read_by_json_agree(odd):
    """Rows of 300 characters or more take the json shortcut; odd entries must not slip by."""
    row = ", ".join(str(n % 19 - 9) for n in range(120))
    for text in (
        f"a: [[{row}], [{row}]]\n",
        f"a: [[{row}, {odd}], [{row}, 3]]\n",
        f"a: [{row}, {odd}]\n",
    ):
        assert len(text) >= 300
        assert_agrees(text)
    assert read_plain(f"a: [[{row}], [{row}]]\n", spec_loader._plain_scalar, 10**7) is not None


@pytest.mark.parametrize("scalar", ["−1", "−1/2", "1e−3", "−0.5", "１", "−１", "2 −1"])
@pytest.mark.parametrize(
    "template",
    ["value: {s}\n", "value: [{s}, 2]\n", "value: [[1, {s}], [{s}, 3]]\n", 'value: "{s}"\n'],
)
def test_unicode_minus_and_digits_agree_and_stay_text(scalar, template):
    """U+2212 and Unicode digits are text to both readers; the number reader decides."""
    text = template.format(s=scalar)
    plain = read_plain(text, spec_loader._plain_scalar, 10_000_000)
    assert plain is not None  # the plain path takes them
    assert typed(plain) == typed(full_path(text))
    assert scalar in str(plain["value"])


@st.composite
def flow_mappings(draw) -> str:
    """A net's layers written as flow mappings whose values are scalars or flow lists
    (``- {type: conv, kernel: [[1, 0], [0, 1]], stride: 1}``), odd spacing, commas,
    brackets and quotes included."""
    entries = []
    for _ in range(draw(st.integers(0, 4))):
        odd = draw(st.integers(0, 5)) == 0  # mostly entries the plain reader takes
        key = draw(st.sampled_from(["k", "a.b", "1", "-x", "", "a b"]) if odd else IDENT)
        value = _flow(draw, 0) if draw(st.booleans()) else draw(TOKEN)
        colon = draw(st.sampled_from([":  ", ":", " : "]) if odd else st.just(": "))
        entries.append(f"{key}{colon}{value}{draw(st.sampled_from(['', '', ' ']))}")
    separator = draw(st.sampled_from([", ", ", ", ",", " , "]))
    mapping = "{" + draw(st.sampled_from(["", " "])) + separator.join(entries)
    mapping += draw(st.sampled_from(["}"] * 6 + [" }", ",}", "} # c", "}x", "] }"]))
    lead = draw(st.sampled_from(["layers:\n  - ", "loss: ", "layers:\n- ", "a:\n  - b: "]))
    return lead + mapping + "\n" + draw(st.sampled_from(["", "kind: net\n", "x: [1]\n"]))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow_mappings())
def test_generated_flow_mappings_of_lists_agree(text):
    assert_agrees(text)


def test_the_bundled_net_example_takes_the_plain_path():
    """Its layers are flow mappings holding flow lists (issue 14: PyYAML's path costs more)."""
    text = (bundled()[0].parent / "net_conv_relu_maxpool_dense.yaml").read_text(encoding="utf-8")
    assert read_plain(text, spec_loader._plain_scalar, 10_000_000) is not None
    assert_agrees(text)


# ---------------------------------------------------------------------------
# plain_tag: PyYAML's resolver, without importing PyYAML, for the usual scalars

RESOLVER = yaml.resolver.Resolver()
# Every character the resolver's patterns use, and some they do not.
TAG_ALPHABET = "0123456789+-_.:eExXbBaAcCdDfFiInNtTZ \t\nyYoOsSrRlLuU~=</¹٣π,!&*"
TAG_WORDS = [
    *(
        w
        for word in ("yes", "no", "true", "false", "on", "off", "null")
        for w in (word, word.capitalize(), word.upper(), word[:-1] + word[-1].upper())
    ),
    "~",
    "",
    "=",
    "<<",
    "<",
    ".inf",
    "-.inf",
    "+.Inf",
    ".nan",
    ".NaN",
    "2001-12-14",
    "2001-12-14t21:59:43.10-05:00",
    "2001-12-14 21:59:43.10 -5",
    "1:30",
    "1:30.5",
    "0x1F",
    "0b101",
    "010",
    "08",
    "1_000",
    "1.5e-3",
    "1.5e3",
    "1e-9",
    "1E+9",
    "-1e9",
    "0e5",
    ".5",
    "1.",
    "-0",
    "+0",
    "00",
    "0.0",
    "1/3",
    "-2/7",
    "relu",
    "max",
    "first",
    "cross_entropy",
]


def pyyaml_tag(text: str) -> str:
    return RESOLVER.resolve(yaml.ScalarNode, text, (True, False))


@pytest.mark.parametrize("text", TAG_WORDS + [word + "\n" for word in TAG_WORDS])
def test_plain_tag_is_pyyamls_tag_where_it_decides(text):
    tag = yaml_values.plain_tag(text)
    assert tag is None or tag == pyyaml_tag(text), text


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=TAG_ALPHABET, max_size=10))
def test_plain_tag_agrees_with_pyyaml_on_generated_texts(text):
    tag = yaml_values.plain_tag(text)
    assert tag is None or tag == pyyaml_tag(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=6))
def test_plain_tag_agrees_with_pyyaml_on_any_text(text):
    tag = yaml_values.plain_tag(text)
    assert tag is None or tag == pyyaml_tag(text)


def test_plain_tag_decides_what_specs_hold():
    """It exists so that the usual spec never imports PyYAML: it must decide these."""
    for text in (
        "relu",
        "max",
        "first",
        "true",
        "null",
        "3",
        "-12",
        "0",
        "0.25",
        "-1.",
        "1e-9",
        "2E+3",
        "1/3",
        "-2/7",
        "conv → relu",
    ):
        assert yaml_values.plain_tag(text) is not None, text


def test_a_lone_surrogate_is_refused_before_either_reader():
    """Only text from Python can hold one; parse_text refuses it at its line and column, so
    neither reader sees it."""
    with pytest.raises(SpecFileError) as caught:
        parse_text("kind: conv\ntitle: [a, b\ud800]\n", "x.yaml")
    assert str(caught.value).startswith("x.yaml:2:13: U+D800 is a lone surrogate")
