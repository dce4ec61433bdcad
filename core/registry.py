"""One table of op families, keyed by the spec's ``kind``.

Modules are imported only when their kind is used, so start-up stays cheap.
Each module provides ``KIND``, ``SUMMARY``, ``KEYS``, ``SECTIONS``, ``RESULTS``
and ``solve(spec, options) -> Solution``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

from gradcalc.core.errors import SpecError
from gradcalc.core.outcome import Solution
from gradcalc.core.spec import SolveOptions
from gradcalc.core.values import describe

OP_MODULES: dict[str, str] = {
    "conv": "gradcalc.core.conv",
}


def known_kinds() -> list[str]:
    return list(OP_MODULES)


def op_module(kind: str) -> ModuleType:
    """The module implementing ``kind``; a loud error when it is missing or incomplete."""
    if kind not in OP_MODULES:
        raise SpecError(("kind",), f"unknown kind {kind!r}; known kinds: {', '.join(OP_MODULES)}")
    module = importlib.import_module(OP_MODULES[kind])
    for attribute in ("KIND", "KEYS", "SECTIONS", "RESULTS", "solve"):
        if not hasattr(module, attribute):
            raise RuntimeError(f"op module {module.__name__} lacks {attribute}")
    return module


def spec_kind(spec: Mapping[str, Any], command_kind: str | None) -> str:
    """The kind a spec asks for, checked against the command that runs it."""
    kind = spec.get("kind", command_kind)
    if kind is None:
        raise SpecError((), f"missing key 'kind'; known kinds: {', '.join(OP_MODULES)}")
    if not isinstance(kind, str):
        raise SpecError(
            ("kind",),
            f"kind must be text, got {describe(kind)}; known kinds: {', '.join(OP_MODULES)}",
        )
    if command_kind is not None and kind != command_kind:
        if kind in OP_MODULES:
            raise SpecError(
                ("kind",),
                f"this spec is kind {kind!r}, not {command_kind!r}; run it with `gradcalc {kind} --spec FILE`",
            )
        raise SpecError(
            ("kind",),
            f"kind {kind!r} does not match the command `gradcalc {command_kind}`; known kinds: {', '.join(OP_MODULES)}",
        )
    op_module(kind)
    return kind


def solve(
    spec: Mapping[str, Any], options: SolveOptions, *, command_kind: str | None = None
) -> Solution:
    """Dispatch a spec (plain data) to its op family."""
    if not isinstance(spec, Mapping):
        raise SpecError((), f"a spec must be a mapping of keys to values, got {describe(spec)}")
    kind = spec_kind(spec, command_kind)
    return op_module(kind).solve(spec, options)
