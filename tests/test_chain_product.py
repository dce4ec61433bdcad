"""The chain rule as a product (seed 004's ∂L/∂K = ∂L/∂H · ∂H/∂K): for every kind with a
Jacobian, the upstream row times the Jacobian is the backward pass's gradient, and the step
says so; computed here again from the tables shown, independently of the explainer."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from click.testing import CliRunner

from gradcalc.cli.main import main
from gradcalc.core import registry
from gradcalc.core.explain import SymbolTable
from gradcalc.core.spec import SolveOptions

KINDS = ("conv", "dense", "pool", "softmax")


def practice_spec(kind: str, seed: int) -> str:
    result = CliRunner().invoke(main, ["random", kind, "--seed", str(seed)])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(1, 9))
def test_the_product_of_the_tables_shown_is_the_gradient(kind: str, seed: int) -> None:
    import yaml

    spec = yaml.safe_load(practice_spec(kind, seed))
    solution = registry.solve(
        spec, SolveOptions(steps=None, sections=frozenset({"jacobian"})), command_kind=kind
    )
    section = next(s for s in solution.sections if s.key == "jacobian")
    tables = [item for item in section.items if isinstance(item, SymbolTable)]
    products = [t for t in tables if " = " in t.label and "·" in t.label]
    if not products:  # too big for a Jacobian, or a softmax block cut
        return
    for product in products:
        assert "NOT" not in product.caption
        assert "the backward pass's" in product.caption
        index = tables.index(product)
        upstream, values = tables[index - 1], tables[index - 2]
        assert upstream.label.endswith("(a row)") and values.label.endswith("(values)")
        assert values.omitted == 0
        row = np.array(upstream.cells[0], dtype=object)
        jacobian = np.array(values.cells, dtype=object)
        got = np.array(product.cells[0], dtype=object)
        want = [
            sum((row[r] * jacobian[r, k] for r in range(len(row))), Fraction(0))
            for k in range(len(got))
        ]
        assert [float(g) for g in got] == pytest.approx([float(w) for w in want], abs=1e-12)


@pytest.mark.parametrize("seed", range(1, 9))
def test_a_net_shows_the_product_layer_by_layer(seed: int) -> None:
    """`gradcalc net`: each layer with a Jacobian writes its own product (its upstream, the
    next layer's ∂L/∂input, as a row times its Jacobian), equal to that layer's gradient."""
    import yaml

    spec = yaml.safe_load(practice_spec("net", seed))
    solution = registry.solve(
        spec, SolveOptions(steps=None, sections=frozenset({"jacobian"})), command_kind="net"
    )
    layers_with_products = set()
    for section in solution.sections:
        tables = [item for item in section.items if isinstance(item, SymbolTable)]
        for index, product in enumerate(tables):
            if not (" = " in product.label and "·" in product.label):
                continue
            assert "the backward pass's" in product.caption and "NOT" not in product.caption
            row = np.array(tables[index - 1].cells[0], dtype=object)
            jacobian = np.array(tables[index - 2].cells, dtype=object)
            got = [float(g) for g in product.cells[0]]
            want = [
                float(sum(row[r] * jacobian[r, k] for r in range(len(row))))
                for k in range(len(got))
            ]
            assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
            layers_with_products.add(section.title.split(" · ")[0])
    kinds = {layer.get("type") for layer in spec["layers"] if isinstance(layer, dict)}
    if kinds & {"dense", "conv"}:
        assert layers_with_products, "no layer showed the chain rule as a product"
