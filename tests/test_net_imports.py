"""What `gradcalc net` on the bundled example (problems/net_conv_relu_maxpool_dense.yaml) does
not import: each module below serves only other kinds, other options or errors, and costs
start-up when imported for nothing (issue 14).  Run in a fresh interpreter, as the command is."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

from gradcalc.core import registry

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO / "problems" / "net_conv_relu_maxpool_dense.yaml"

NOT_IMPORTED = (
    # the catalog entries of kinds the net does not use (core/kinds/catalog.py Catalog)
    "gradcalc.core.kinds.catalog_attention",
    "gradcalc.core.kinds.catalog_conv_transpose",
    "gradcalc.core.kinds.catalog_dropout_embedding",
    "gradcalc.core.kinds.catalog_normalization",
    "gradcalc.core.kinds.catalog_rnn",
    # a net's errors, in the net's terms
    "gradcalc.core.kinds.net_messages",
    # a temporal loss, the elementwise losses' steps
    "gradcalc.core.kinds.loss_temporal",
    "gradcalc.core.explain.loss_elementwise",
    # gradcalc check's mistakes and gradcalc random's profiles (each kind's entry, parts)
    "gradcalc.core.kinds.mistakes",
    "gradcalc.core.kinds.profile",
    # --focus
    "gradcalc.core.kinds.focus",
    "gradcalc.core.explain.focus",
    "gradcalc.core.explain.conv_focus",
    "gradcalc.core.explain.pool_focus",
    # LP pooling's formulas and relations
    "gradcalc.core.explain.pool_lp",
    # arrays too small for the compiled kernels, the thread pool or malloc's settings
    "gradcalc.core.ops.kernels",
    "gradcalc.core.parallel",
    "gradcalc.core.memory",
    # the softmax kind: cross_entropy's rows are written by core/explain/softmax_steps.py
    "gradcalc.core.kinds.softmax",
    "gradcalc.core.explain.softmax",
    # PyYAML: the plain reader takes the spec and types its scalars (cli/yaml_values.plain_tag)
    "yaml",
    "gradcalc.cli.yaml_nodes",
)


def test_the_net_example_imports_only_what_it_uses() -> None:
    code = (
        "import os, sys\n"
        "from gradcalc.cli.main import main\n"
        "sys.stdout = open(os.devnull, 'w')\n"
        "try:\n"
        f"    main(['net', '--spec', {str(SPEC)!r}])\n"
        "except SystemExit as done:\n"
        "    status = done.code\n"
        "sys.stdout = sys.__stdout__\n"
        f"print(status, [m for m in {NOT_IMPORTED!r} if m in sys.modules])\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert completed.stdout.strip() == "0 []", completed.stdout + completed.stderr


def test_each_kind_looks_up_its_own_catalog_entry() -> None:
    """An entry kept in a catalog_*.py module is found by its kind's name in capitals
    (core/kinds/catalog.py Catalog): each kind gets the entry of its own module."""
    for kind in registry.OPS:
        assert registry.OPS[kind].module == f"gradcalc.core.kinds.{kind}", kind


def test_every_named_part_is_in_its_module() -> None:
    """registry.kind_part reads a part from the module the entry's ``parts`` names and gives
    None when it is missing there (a kind without mistakes or a profile): a misnamed module or
    attribute would silently drop gradcalc check's diagnosis or gradcalc random's sizes."""
    for kind in registry.OPS:
        for name, module in registry.OPS[kind].parts.items():
            assert hasattr(importlib.import_module(module), name), (kind, name, module)
            assert registry.kind_part(kind, name) is not None, (kind, name)
