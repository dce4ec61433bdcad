"""What `gradcalc net` on the bundled example (problems/net_conv_relu_maxpool_dense.yaml) does
not import: each module below serves only other kinds, other options or errors, and costs
start-up when imported for nothing (issue 14).  Run in a fresh interpreter, as the command is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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
    # a temporal loss
    "gradcalc.core.kinds.loss_temporal",
    # gradcalc check's mistakes and gradcalc random's profiles (each kind's entry, parts)
    "gradcalc.core.kinds.mistakes",
    "gradcalc.core.kinds.profile",
    # --focus
    "gradcalc.core.kinds.focus",
    "gradcalc.core.explain.focus",
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
