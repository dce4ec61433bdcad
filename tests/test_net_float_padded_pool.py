"""A float64 net whose max pool pads its input: the pool's problem statement shows the padded
input with '−∞' cells, which stay text when the statement's arrays are shown as float64
(core/explain/net._as_float64 raised 'could not convert string to float' on them)."""

from __future__ import annotations

import yaml
from click.testing import CliRunner

from gradcalc.cli.main import main

SPEC = {
    "kind": "net",
    "input": [[[[1, -2, 0, 3], [0, 1, -1, 0], [2, 0, 0, -3], [0, 1, 1, 0]]]],
    "layers": [
        {"type": "conv", "name": "c1", "kernel": [[[[-1, 0.5], [0, -1]]]]},
        {"type": "pool", "mode": "max", "size": 2, "padding": 1},
        "flatten",
    ],
}


def test_float_net_shows_a_padded_max_pool(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(yaml.safe_dump(SPEC))
    args = ["net", "--spec", str(path), "--float", "--steps", "all", "--no-color"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    padded = result.output.split("c1 padded")[1].splitlines()
    assert padded[2].split()[1:] == ["−∞"] * 5  # the padding row, as text
    # c1[0, 0] = 1·(−1) + (−2)·0.5 + 0·0 + 1·(−1) = −3, a float64 value beside the text
    assert padded[3].split()[1:3] == ["−∞", "−3"]
