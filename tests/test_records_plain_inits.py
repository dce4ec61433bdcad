"""The records a solve makes by the dozen write a plain ``__init__`` (core/records.py keeps
it; the shared one costs several times more).  Each must be the shared one's equal: the
fields in order as parameters, the same defaults, a new container where the field has a
default_factory, every field set and nothing else, and no assignment to a frozen one after."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import numpy as np
import pytest

from gradcalc.core.explain import Matrix, Note, Section, SymbolTable
from gradcalc.core.ops.adapter import Trace
from gradcalc.core.ops.windows import WindowAxis
from gradcalc.core.outcome import LayerRun, Run
from gradcalc.core.records import fields, replace
from gradcalc.core.spec import SolveOptions, Tolerance

PLAIN = (Section, Note, Matrix, SymbolTable, Trace, Run, LayerRun, WindowAxis, SolveOptions)
PLAIN += (Tolerance,)
FROZEN = (WindowAxis, SolveOptions, Tolerance)


@pytest.mark.parametrize("cls", PLAIN, ids=[cls.__name__ for cls in PLAIN])
def test_a_plain_init_takes_the_fields_with_their_defaults(cls: type) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    assert tuple(p.name for p in parameters) == fields(cls)
    defaults = cls.__record_defaults__
    factories = cls.__record_factories__
    for parameter in parameters:
        if parameter.name in factories:
            assert parameter.default is None  # a new container each time (below)
        elif parameter.name in defaults:
            assert parameter.default is defaults[parameter.name]
        else:
            assert parameter.default is inspect.Parameter.empty


def _required(cls: type) -> dict[str, Any]:
    """A distinct object for every field without a default."""
    return {
        name: object()
        for name in fields(cls)
        if name not in cls.__record_defaults__ and name not in cls.__record_factories__
    }


@pytest.mark.parametrize("cls", PLAIN, ids=[cls.__name__ for cls in PLAIN])
def test_a_plain_init_sets_every_field_and_nothing_else(cls: type) -> None:
    given = _required(cls)
    made = cls(**given)
    assert tuple(vars(made)) == fields(cls)
    for name in fields(cls):
        if name in given:
            assert getattr(made, name) is given[name]
        elif name in cls.__record_defaults__:
            assert getattr(made, name) is cls.__record_defaults__[name]
        else:  # a default_factory: a new, empty container, not shared
            assert getattr(made, name) == cls.__record_factories__[name]()
            assert getattr(made, name) is not getattr(cls(**given), name)
    positional = cls(*(given.get(name, getattr(made, name)) for name in fields(cls)))
    assert all(getattr(positional, n) is getattr(made, n) for n in fields(cls) if n in given)
    again = replace(made)
    assert all(getattr(again, name) is getattr(made, name) for name in fields(cls))


@pytest.mark.parametrize("cls", FROZEN, ids=[cls.__name__ for cls in FROZEN])
def test_a_frozen_record_stays_frozen(cls: type) -> None:
    made = cls(**_required(cls))
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.__setattr__(fields(cls)[0], 1)


def test_a_section_keeps_the_items_it_is_given() -> None:
    items: list[Any] = [Note("a")]
    section = Section("forward", "Forward", items)
    assert section.items is items
    section.add(Matrix("x", np.zeros(2), ("i",)))
    assert len(items) == 2
