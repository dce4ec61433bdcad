"""``@record``: a dataclass-like decorator that costs microseconds, not a millisecond.

On Python 3.11 ``@dataclass`` compiles each generated method with its own
``exec``: about 0.4-1 ms a class.  gradcalc defines some thirty record classes
on every start-up, which alone would be a third of its start-up budget (see
benchmarks/startup.py).  ``@record`` reads the same annotations and defaults
(including ``dataclasses.field(default_factory=...)``) and installs one shared,
generic ``__init__``/``__repr__``; type checkers treat it as a dataclass
through ``dataclass_transform``.

Records compare by identity (like ``@dataclass(eq=False)``).  ``frozen=True``
forbids assignment after ``__init__``.  A class that writes its own ``__init__`` keeps it
(the records an explanation makes by the hundred or dozen, core/explain's ``Symbol``,
``Product``, ``SumOfProducts`` and ``Formula``: the shared ``__init__`` costs several times a
plain one); it must set every field.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

try:  # Python 3.11+
    from typing import dataclass_transform
except ImportError:  # pragma: no cover - Python 3.10

    def dataclass_transform(**_kwargs: Any):  # type: ignore[no-redef]
        return lambda decorated: decorated


T = TypeVar("T")
_MISSING = object()


def _own_fields(cls: type) -> list[str]:
    names: list[str] = []
    for klass in reversed(cls.__mro__):
        for name in klass.__dict__.get("__annotations__", {}):
            if not name.startswith("_") and name not in names and not _is_classvar(klass, name):
                names.append(name)
    return names


def _is_classvar(klass: type, name: str) -> bool:
    annotation = klass.__dict__["__annotations__"][name]
    return isinstance(annotation, str) and annotation.startswith(("ClassVar", "typing.ClassVar"))


@dataclass_transform(field_specifiers=(dataclasses.field,))
def record(cls: type[T] | None = None, *, frozen: bool = False) -> Any:
    """Decorate a class with annotated fields, like ``@dataclass(eq=False)``."""

    def wrap(klass: type[T]) -> type[T]:
        names = _own_fields(klass)
        defaults: dict[str, Any] = {}
        factories: dict[str, Any] = {}
        for base in reversed(klass.__mro__[1:]):
            defaults.update(base.__dict__.get("__record_defaults__", {}))
            factories.update(base.__dict__.get("__record_factories__", {}))
        for name in names:
            value = klass.__dict__.get(name, _MISSING)
            if isinstance(value, dataclasses.Field):
                if value.default_factory is not dataclasses.MISSING:
                    factories[name] = value.default_factory
                elif value.default is not dataclasses.MISSING:
                    defaults[name] = value.default
                delattr(klass, name)
            elif value is not _MISSING:
                if isinstance(value, (list, dict, set)):
                    raise ValueError(
                        f"{klass.__name__}.{name}: a mutable default needs field(default_factory=...)"
                    )
                defaults[name] = value
        positional = tuple(names)
        count = len(positional)
        # Whether __post_init__ must be looked up: the class has one, or the instance is of
        # a subclass (which may define one).  Looked up on every instance, a missing one
        # costs an AttributeError inside getattr: records are made by the thousand.
        has_post_init = hasattr(klass, "__post_init__")

        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if len(args) > count:
                raise TypeError(f"{klass.__name__}() takes {count} arguments, got {len(args)}")
            # Straight into the instance's __dict__, as object.__setattr__ puts them (records
            # have no slots and no descriptors for their fields): a record or two per term
            # shown, so this is on the path of every explanation.
            state = self.__dict__
            if kwargs:
                for name in positional[: len(args)]:
                    if name in kwargs:
                        raise TypeError(f"{klass.__name__}() got two values for {name!r}")
            state.update(zip(positional, args, strict=False))
            if len(args) < count:
                for name in positional[len(args) :]:
                    if name in kwargs:
                        state[name] = kwargs.pop(name)
                    elif name in defaults:
                        state[name] = defaults[name]
                    elif name in factories:
                        state[name] = factories[name]()
                    else:
                        raise TypeError(f"{klass.__name__}() missing argument {name!r}")
            if kwargs:
                raise TypeError(f"{klass.__name__}() got unexpected arguments {sorted(kwargs)}")
            if has_post_init or self.__class__ is not klass:
                post_init = getattr(self, "__post_init__", None)
                if post_init is not None:
                    post_init()

        def __repr__(self) -> str:
            shown = ", ".join(f"{name}={getattr(self, name, '?')!r}" for name in positional)
            return f"{klass.__name__}({shown})"

        if "__init__" not in klass.__dict__:
            klass.__init__ = __init__  # type: ignore[misc]
        klass.__repr__ = __repr__  # type: ignore[method-assign]
        klass.__record_fields__ = positional  # type: ignore[attr-defined]
        klass.__record_defaults__ = defaults  # type: ignore[attr-defined]
        klass.__record_factories__ = factories  # type: ignore[attr-defined]
        if frozen:

            def __setattr__(self, name: str, value: Any) -> None:
                raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

            klass.__setattr__ = __setattr__  # type: ignore[method-assign]
            klass.__delattr__ = __setattr__  # type: ignore[method-assign, assignment]
        return klass

    return wrap if cls is None else wrap(cls)


def fields(instance_or_class: Any) -> tuple[str, ...]:
    """The field names of a record, in order."""
    return instance_or_class.__record_fields__


def replace(instance: T, **changes: Any) -> T:
    """A copy of a record with ``changes`` (``dataclasses.replace`` for records: ``__init__``
    and ``__post_init__`` run again on the values)."""
    values = {name: getattr(instance, name) for name in fields(instance)}
    return type(instance)(**{**values, **changes})
