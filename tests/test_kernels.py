"""The optional compiled kernels (core/ops/kernels.py) load, or are reported missing."""

from __future__ import annotations

import os

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
