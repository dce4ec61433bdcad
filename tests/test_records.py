"""core/records.py's @record: dataclass-like construction, defaults, factories, errors and
__post_init__ (on the class, or on a subclass that is not decorated itself)."""

from dataclasses import FrozenInstanceError, field

import pytest

from gradcalc.core.records import record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: list = field(default_factory=list)


def test_positional_keyword_default_and_factory():
    assert (Point(1, 2).x, Point(1, 2).y) == (1, 2)
    assert Point(1).y == 0 and Point(1).tags == [] and Point(1).tags is not Point(1).tags
    assert Point(x=3, tags=[1]).tags == [1]
    assert repr(Point(1, 2, [3])) == "Point(x=1, y=2, tags=[3])"
    assert replace(Point(1, 2), y=5).y == 5


@pytest.mark.parametrize(
    ("args", "kwargs"),
    [((1, 2, [], 4), {}), ((1,), {"x": 2}), ((), {}), ((1,), {"z": 3})],
)
def test_wrong_arguments_raise(args, kwargs):
    with pytest.raises(TypeError):
        Point(*args, **kwargs)


def test_post_init_runs_on_the_class_and_on_a_subclass():
    @record
    class Checked:
        value: int

        def __post_init__(self) -> None:
            self.__dict__["double"] = 2 * self.value

    class Sub(Point):
        def __post_init__(self) -> None:
            self.__dict__["sum"] = self.x + self.y

    assert Checked(3).double == 6
    assert Sub(1, 2).sum == 3


def test_frozen_records_refuse_assignment():
    @record(frozen=True)
    class Fixed:
        value: int

    with pytest.raises(FrozenInstanceError):
        Fixed(1).value = 2


def test_lazy_pattern_is_the_compiled_pattern():
    """core/patterns.py: a LazyPattern answers as re.compile's pattern, before and after
    its first use compiled it."""
    import re

    from gradcalc.core.patterns import LazyPattern

    lazy, compiled = LazyPattern(r"([0-9]+)x", re.IGNORECASE), re.compile(r"([0-9]+)x", re.I)
    assert lazy.pattern == compiled.pattern and lazy.flags == compiled.flags
    for text in ("12X", "a3x4x", ""):
        assert bool(lazy.fullmatch(text)) == bool(compiled.fullmatch(text))
        assert lazy.findall(text) == compiled.findall(text)
        assert lazy.sub("-", text) == compiled.sub("-", text)
        assert lazy.split(text) == compiled.split(text)


def test_a_class_that_writes_its_own_init_keeps_it():
    @record
    class Plain:
        a: int
        b: str = "b"

        def __init__(self, a: int, b: str = "b") -> None:
            self.a, self.b = a, b

    made = Plain(1)
    assert (made.a, made.b) == (1, "b")
    assert Plain.__init__.__qualname__.endswith("Plain.__init__")
    assert repr(replace(made, b="c")) == "Plain(a=1, b='c')"
