"""Looking a kind up: its entry (core/kinds/catalog.py), its modules, its solver.

The entries hold what the CLI needs to build a command (summary, sections, examples,
the Field table) without importing the kind's modules: those are imported only when
their kind is used, so start-up stays cheap.  A kind's modules read their ``KEYS``,
``SECTIONS`` and word lists (``MODES``, ``LOSSES``) from its entry through
:func:`field_names`, :func:`sections` and :func:`choices`, so the two cannot disagree.
A kind whose entry names an explain module is solved by core/solve.py's pipeline.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from gradcalc.core.errors import FocusError, SpecError
from gradcalc.core.kinds.catalog import OPS
from gradcalc.core.kinds.entry import CHECK_FIELDS, COMMON_FIELDS, OpEntry  # noqa: F401 - their users import them from here
from gradcalc.core.outcome import Solution
from gradcalc.core.spec import SolveOptions, did_you_mean
from gradcalc.core.values import describe


def known_kinds() -> list[str]:
    return list(OPS)


def field_names(kind: str) -> tuple[str, ...]:
    """The kind's own spec keys, in the order of its fields (the op module's KEYS)."""
    return tuple(spec_field.name for spec_field in OPS[kind].fields)


def sections(kind: str) -> tuple[str, ...]:
    """The kind's explanation sections, in order (the op module's SECTIONS, ``--show``)."""
    return OPS[kind].sections


def choices(kind: str, name: str) -> tuple[Any, ...]:
    """The words the kind's field ``name`` takes (pool's modes, a loss's reductions)."""
    return next(f.choices for f in OPS[kind].fields if f.name == name)


def kind_hint(word: Any) -> str:
    """ "; did you mean 'conv'?" for a kind's name that begins the word (convolution, pooling:
    likelier slips than difflib's closest, which puts 'convolution' nearer 'activation') or a
    close spelling (covn); else "".  Stricter than for keys: 'nope' is not a slip for 'net'."""
    import difflib

    text = str(word).strip().lower()
    starts = [name for name in OPS if len(name) >= 3 and text.startswith(name)]
    close = starts or difflib.get_close_matches(text, list(OPS), n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else ""


def command_name(kind: str) -> str:
    """A kind's listed command, "-" for "_" (`gradcalc conv-transpose`; the kind's own name
    `gradcalc conv_transpose` is accepted too)."""
    return kind.replace("_", "-")


def kind_of_command(name: str) -> str:
    """The kind a command word names: conv-transpose and conv_transpose are both
    conv_transpose; any other word as it is (unknown kinds are reported by the caller)."""
    spelled = name.replace("-", "_")
    return spelled if spelled in OPS else name


def unknown_kind(kind: Any) -> str:
    """ "unknown kind 'convolution'; did you mean 'conv'? known kinds: …"."""
    return f"unknown kind {kind!r}{kind_hint(kind) or ';'} known kinds: {', '.join(OPS)}"


def op_module(kind: str) -> ModuleType:
    """The module implementing ``kind``; a loud error when it is missing or incomplete."""
    if kind not in OPS:
        raise SpecError(("kind",), unknown_kind(kind))
    entry = OPS[kind]
    module = importlib.import_module(entry.module)
    needed = ("SECTIONS", "read", "run", "finite_differences")
    needed += (entry.focus,) if entry.focus else ()
    for attribute in needed:
        if not hasattr(module, attribute):
            raise RuntimeError(
                f"op module {module.__name__} lacks {attribute} (needed for kind {kind!r})"
            )
    return module


def kind_part(kind: str, name: str) -> Any:
    """The kind's ``usual_mistakes`` (for ``gradcalc check``), ``PRACTICE`` (its practice
    profile, for ``gradcalc random``), ``result_groups`` or ``result_hint`` (its hint for a
    result name it does not have, core/grading/problem.py): from the module its entry's
    ``parts`` names for it, else from the kind's own module (core/kinds/<kind>.py), each
    imported the first time it is asked for; None when the kind has none, or for a name
    that is not a kind."""
    if kind not in OPS:
        return None
    apart = OPS[kind].parts.get(name)
    return getattr(importlib.import_module(apart) if apart else op_module(kind), name, None)


def kind_constant(kind: str, name: str) -> Any:
    """The op module's ``{KIND}_{name}`` (``SOFTMAX_RESULTS``, for a module serving several
    kinds), else its ``name``; a loud error when it has neither."""
    module = op_module(kind)
    value = getattr(module, f"{kind.upper()}_{name}", None)
    if value is None:
        value = getattr(module, name, None)
    if value is None:
        raise RuntimeError(f"op module {module.__name__} lacks {name} (needed for kind {kind!r})")
    return value


def result_names(kind: str) -> tuple[str, ...]:
    """Every result a problem of ``kind`` can have (the union over its modes and options):
    the names ``expected``, ``points`` and ``accept.tolerance`` may use."""
    return tuple(kind_constant(kind, "RESULTS"))


def name_roles(kind: str) -> tuple[str, ...]:
    """The roles ``names`` may give symbols to (the module's NAME_DEFAULTS)."""
    return tuple(kind_constant(kind, "NAME_DEFAULTS"))


def explain_module(kind: str) -> ModuleType:
    """The module explaining ``kind`` (its ``Explainer``); a loud error when it has none."""
    module = importlib.import_module(OPS[kind].explain)
    if not hasattr(module, "Explainer"):
        raise RuntimeError(f"explain module {module.__name__} lacks Explainer (kind {kind!r})")
    return module


def solver(kind: str) -> Callable[[Mapping[str, Any], SolveOptions], Solution]:
    """The function that solves specs of ``kind``: core/solve.py's pipeline."""
    from gradcalc.core import solve  # the pipeline imports this module: import it on use

    return lambda spec, options: solve.solve(kind, spec, options)


def spec_kind(spec: Mapping[str, Any], command_kind: str | None) -> str:
    """The kind a spec asks for, checked against the command that runs it."""
    kind = spec.get("kind", command_kind)
    if kind is None:
        for key in spec:  # " kind": conv
            if isinstance(key, str) and key.strip() == "kind":
                hint = did_you_mean(key, ("kind",))
                raise SpecError(
                    (key,), f"missing key 'kind'{hint} Known kinds: {', '.join(OPS)}", at_key=True
                )
        raise SpecError((), f"missing key 'kind'; known kinds: {', '.join(OPS)}")
    if not isinstance(kind, str):
        raise SpecError(
            ("kind",),
            f"kind must be text, got {describe(kind)}; known kinds: {', '.join(OPS)}",
        )
    if command_kind is not None and kind != command_kind:
        if kind in OPS:
            raise SpecError(
                ("kind",),
                f"this spec is kind {kind!r}, not {command_kind!r}; run it with `gradcalc {kind} --spec FILE`",
            )
        raise SpecError(
            ("kind",),
            f"kind {kind!r} does not match the command `gradcalc {command_kind}`; known kinds: {', '.join(OPS)}",
        )
    op_module(kind)
    return kind


def focus_kinds() -> list[str]:
    """The kinds ``--focus`` works with (their outputs read sliding windows)."""
    return [kind for kind, entry in OPS.items() if entry.focus]


def solve(
    spec: Mapping[str, Any],
    options: SolveOptions,
    *,
    command_kind: str | None = None,
    focus: str | None = None,
) -> Solution:
    """Dispatch a spec (plain data) to its op family; ``focus`` (``output[1,0]``) asks for the
    picture of what one element reads or feeds, for the kinds that have one."""
    if not isinstance(spec, Mapping):
        raise SpecError((), f"a spec must be a mapping of keys to values, got {describe(spec)}")
    kind = spec_kind(spec, command_kind)
    if focus is None:
        return solver(kind)(spec, options)
    entry = OPS[kind]
    if entry.focus is None:
        raise FocusError(
            f"kind {kind} has no sliding window to draw; allowed with: {', '.join(focus_kinds())}"
        )
    from gradcalc.core import solve as pipeline

    return pipeline.solve(kind, spec, options, focus)
