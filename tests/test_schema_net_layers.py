"""The net schema checks each layer by its type and the loss by its loss type: the keys of that
type only (the ones `gradcalc net` takes), each as the layer's own kind's schema has it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft7Validator
from random_problems import write_random

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.errors import SpecError
from gradcalc.core.kinds import net, net_messages
from gradcalc.core.schema import spec_schema
from gradcalc.core.spec import COMMON_KEYS
from gradcalc.problems import PROBLEMS_DIR

SCHEMA_DIR = PROBLEMS_DIR / "schema"
NET_SPECS = sorted(
    {
        *PROBLEMS_DIR.glob("net*.yaml"),
        *PROBLEMS_DIR.glob("seed*net*.yaml"),
        *(PROBLEMS_DIR / "symbolic").glob("net*.yaml"),
    }
)


def validators() -> list[Draft7Validator]:
    """The committed net schema and the schema of any spec, as an editor reads them."""
    names = ("net.schema.json", "gradcalc-spec.schema.json")
    return [Draft7Validator(json.loads((SCHEMA_DIR / name).read_text("utf-8"))) for name in names]


def messages(spec: Any) -> list[str]:
    """Every error of the net schema, with those of the alternatives an anyOf tried."""
    found: list[str] = []
    pending = list(validators()[0].iter_errors(spec))
    while pending:
        error = pending.pop()
        found.append(error.message)
        pending += error.context
    return found


def fits(spec: Any) -> bool:
    return all(validator.is_valid(spec) for validator in validators())


def layer_schemas() -> dict[str, dict[str, Any]]:
    """Each layer type's keys in the net schema (its `then`), by type."""
    items = spec_schema("net")["properties"]["layers"]["items"]["anyOf"][1]
    return {rule["if"]["properties"]["type"]["const"]: rule["then"] for rule in items["allOf"]}


def loss_schemas() -> dict[str, dict[str, Any]]:
    loss = spec_schema("net")["properties"]["loss"]
    return {rule["if"]["properties"]["type"]["const"]: rule["then"] for rule in loss["allOf"]}


def test_every_bundled_net_fits() -> None:
    assert len(NET_SPECS) >= 8
    for path in NET_SPECS:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert fits(spec), (path, messages(spec))


@pytest.mark.parametrize("seed", range(20))
def test_every_random_net_fits(tmp_path: Path, seed: int) -> None:
    written = write_random(tmp_path / "net.yaml", "net", "--seed", str(seed))
    spec = yaml.safe_load(written.read_text(encoding="utf-8"))
    assert fits(spec), messages(spec)


def accepted_keys(layer_type: str) -> set[str]:
    """The keys `gradcalc net` reads a layer of ``layer_type`` with, found by offering it every
    key any kind has (and a made-up one): those it does not refuse."""
    offered = {"type", "name", "bogus", *COMMON_KEYS, *net.SUPPLIED}
    for kind in registry.OPS:
        offered |= set(registry.field_names(kind))
    accepted = set()
    for key in offered:
        layer = {"type": layer_type, key: "a" if key == "name" else layer_type}
        try:
            net.read_layer(layer, 0)
        except SpecError as error:
            assert error.path == ("layers", 0, key), error
            continue
        accepted.add(key)
    return accepted


@pytest.mark.parametrize("layer_type", net.LAYER_TYPES)
def test_a_layers_keys_in_the_schema_are_those_gradcalc_takes(layer_type: str) -> None:
    keys = layer_schemas()[layer_type]
    assert set(keys["properties"]) == accepted_keys(layer_type)
    assert keys["additionalProperties"] is False
    # Each key as the layer's own kind's schema has it (help, types, choices, examples).
    if layer_type != "flatten":
        own = spec_schema(layer_type)["properties"]
        for key in set(keys["properties"]) - {"type", "name"}:
            assert keys["properties"][key] == own[key], (layer_type, key)


@pytest.mark.parametrize("loss", registry.choices("loss", "loss"))
def test_a_losss_keys_in_the_schema_are_those_its_type_takes(loss: str) -> None:
    keys = loss_schemas()[loss]
    assert set(keys["properties"]) == {"type", *net_messages.loss_keys(loss)}
    assert keys["required"] == ["target"]
    own = spec_schema("loss")["properties"]
    for key in net_messages.loss_keys(loss):
        assert keys["properties"][key] == own[key], (loss, key)


ROW = [[1, -2, 3]]  # one sample of three features
DENSE = {"type": "dense", "weight": [[1, 0, -1], [2, 1, 0]]}
CE = {"type": "cross_entropy", "target": [1]}

# (layers, loss or None, whether gradcalc takes the net).  The schema must agree.
AGREEMENT: list[tuple[list[Any], dict[str, Any] | None, bool]] = [
    ([DENSE, "relu"], CE, True),
    # Another kind's key, a misspelled key, a wrong choice, a missing required key.
    ([{**DENSE, "kernel": [[1]]}], None, False),
    ([{"type": "pool", "mode": "max", "size": 1, "kernel": 1}, "flatten"], None, False),
    ([{**DENSE, "wieght": 1}], None, False),
    ([{**DENSE, "layout": "diagonal"}], None, False),
    ([{"type": "pool", "mode": "maxx", "size": 1}], None, False),
    ([{"type": "activation", "function": "rleu"}], None, False),
    ([{"type": "dense"}], None, False),
    ([{"type": "pool", "size": 1}], None, False),
    # Keys the net supplies, and keys of a spec rather than of a layer.
    ([{**DENSE, "input": ROW}], None, False),
    ([{**DENSE, "tolerance": 1}], None, False),
    ([{**DENSE, "points": {"output": 1}}], None, False),
    # A name.
    ([{**DENSE, "name": "fc"}], None, True),
    ([{**DENSE, "name": "output"}], None, False),
    ([{**DENSE, "name": "a_name_too_long"}], None, False),
    ([{**DENSE, "name": "2fc"}], None, False),
    ([{"type": "flatten", "name": "flat"}], None, True),
    ([{"type": "flatten", "size": 1}], None, False),
    # The loss by its type: its own options only, not the net's keys.
    ([DENSE], {**CE, "label_smoothing": "1/10", "weight": [1, 2]}, True),
    ([DENSE], {**CE, "reduction": "sum", "ignore_index": 0}, True),
    ([DENSE], {"type": "mse", "target": [[1, 0]], "reduction": "sum"}, True),
    ([DENSE], {"type": "mse", "target": [[1, 0]], "label_smoothing": 0}, False),
    ([DENSE], {"type": "mse", "target": [[1, 0]], "weight": [1, 1]}, False),
    ([DENSE], {"type": "nll", "target": [1], "label_smoothing": 0}, False),
    ([DENSE], {"type": "bce", "target": [[1, 0]], "ignore_index": 0}, False),
    ([DENSE], {"type": "mse", "target": [[1, 0]], "temporal": True}, False),
    ([DENSE], {**CE, "reduction": "none!"}, False),
    ([DENSE], {**CE, "index_base": 1}, False),
    ([DENSE], {**CE, "tolerance": 1}, False),
    ([DENSE], {**CE, "input": ROW}, False),
    ([DENSE], {**CE, "taget": [1]}, False),
    ([DENSE], {"type": "cross_entropy"}, False),
]


@pytest.mark.parametrize(("layers", "loss", "valid"), AGREEMENT, ids=lambda v: json.dumps(v))
def test_the_net_schema_and_gradcalc_agree(
    tmp_path: Path, layers: list[Any], loss: dict[str, Any] | None, valid: bool
) -> None:
    spec: dict[str, Any] = {"kind": "net", "input": ROW, "layers": layers}
    if loss is not None:
        spec["loss"] = loss
    assert fits(spec) == valid, messages(spec)
    path = tmp_path / "net.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    result = CliRunner().invoke(main, ["run", str(path)], catch_exceptions=False)
    assert result.exit_code == (0 if valid else 2), result.output


def test_the_schema_says_which_key_is_out_of_place() -> None:
    """What an editor shows: the key of another kind, by name."""
    spec = {"kind": "net", "input": ROW, "layers": [{"type": "pool", "size": 1, "kernel": 1}]}
    found = messages(spec)
    assert "Additional properties are not allowed ('kernel' was unexpected)" in found
    assert "'mode' is a required property" in found
