"""The optional compiled kernels (core/ops/kernels.py) load, or are reported missing."""

from __future__ import annotations

import fnmatch
import os
import re
from pathlib import Path

import pytest

from gradcalc.core.ops import kernels


@pytest.mark.parametrize("name", kernels.available() or ["(none yet)"])
def test_every_kernel_is_built_where_ci_requires_it(name, monkeypatch):
    if name == "(none yet)":
        pytest.skip("no core/ops/_*.c kernel sources in this tree")
    if os.environ.get("GRADCALC_REQUIRE_KERNELS") != "1":
        module = kernels.load(name)
        if module is None:
            pytest.skip(f"kernel {name} is not built here (no C compiler at install?)")
    else:
        assert kernels.load(name) is not None


def test_kernels_off_gives_the_numpy_path(monkeypatch):
    monkeypatch.setenv("GRADCALC_KERNELS", "off")
    for name in kernels.available():
        assert kernels.load(name) is None


def test_a_missing_kernel_is_none_or_an_error_when_required(monkeypatch):
    monkeypatch.delenv("GRADCALC_KERNELS", raising=False)
    monkeypatch.delenv("GRADCALC_REQUIRE_KERNELS", raising=False)
    assert kernels.load("_no_such_kernel") is None
    kernels._loaded.pop("_no_such_kernel", None)
    monkeypatch.setenv("GRADCALC_REQUIRE_KERNELS", "1")
    with pytest.raises(ImportError, match="not built"):
        kernels.load("_no_such_kernel")
    kernels._loaded.pop("_no_such_kernel", None)


def test_the_sdist_ships_every_file_a_kernel_includes():
    """A kernel includes shared headers (core/ops/_*.h), which setuptools 68 leaves out of
    the sdist unless they are package data: a build from such an sdist would fail to
    compile and fall back to NumPy without a word.  Every quoted #include of the kernel
    sources must match pyproject's package data for core/ops, and no header is a module."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    root = Path(__file__).resolve().parents[1]
    ops = root / "core" / "ops"
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = config["tool"]["setuptools"]["package-data"]["gradcalc.core.ops"]
    sources = [*ops.glob("_*.c"), *ops.glob("_*.h")]
    for source in sources:
        assert any(fnmatch.fnmatch(source.name, pattern) for pattern in shipped), source.name
        for included in re.findall(r'^\s*#\s*include\s+"([^"]+)"', source.read_text(), re.M):
            assert (ops / included).is_file(), f"{source.name} includes {included}"
            assert any(fnmatch.fnmatch(included, pattern) for pattern in shipped), included
    assert not any(name.endswith(".h") for name in kernels.available())
