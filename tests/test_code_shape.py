"""The code stays readable: no module in core/ or cli/ over 600 lines, no function over 60.

A function's length is counted from its ``def`` to its last line, without its docstring
(a long docstring is no reason to split a function) and without the functions defined
inside it, which are measured on their own.  The few exceptions are listed with
the reason each must be one; a new module or function over the limit fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 60

# path → why it may be longer than MAX_MODULE_LINES
LONG_MODULES: dict[str, str] = {}

# "path:function" → why it may be longer than MAX_FUNCTION_LINES
LONG_FUNCTIONS: dict[str, str] = {}


def _sources() -> list[Path]:
    return sorted([*ROOT.glob("core/**/*.py"), *ROOT.glob("cli/**/*.py")])


def _docstring_lines(node: ast.AST) -> int:
    first = node.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
        if isinstance(first.value.value, str):
            return first.end_lineno - first.lineno + 1
    return 0


def _nested_lines(node: ast.AST) -> int:
    """Lines of the functions defined directly inside ``node`` (counted on their own: a
    command registrar's ``@group.command`` functions are measured one by one)."""
    lines = 0
    for child in ast.walk(node):
        if child is not node and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            outer = [n for n in ast.walk(node) if n is not child and n is not node]
            if not any(
                isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and child in ast.walk(n)
                for n in outer
            ):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                lines += child.end_lineno - start + 1
    return lines


def _function_lengths(tree: ast.AST) -> list[tuple[str, int]]:
    """(name, lines) of every function: def to last line, less its docstring and the
    functions nested in it."""
    return [
        (
            node.name,
            node.end_lineno - node.lineno + 1 - _docstring_lines(node) - _nested_lines(node),
        )
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    ]


def test_no_module_is_too_long() -> None:
    too_long = []
    for path in _sources():
        name = str(path.relative_to(ROOT))
        lines = path.read_text("utf-8").count("\n")
        if lines > MAX_MODULE_LINES and name not in LONG_MODULES:
            too_long.append(f"{name}: {lines} lines")
    assert not too_long, "split these modules (or list them with a reason):\n" + "\n".join(too_long)


def test_no_compiled_kernel_source_is_too_long() -> None:
    """The C kernels and their shared headers (core/ops/_*.c, _*.h) keep the same limit."""
    too_long = []
    for path in sorted([*ROOT.glob("core/ops/_*.c"), *ROOT.glob("core/ops/_*.h")]):
        lines = path.read_text("utf-8").count("\n")
        if lines > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    advice = "split these by concern (what two share into a header):\n"
    assert not too_long, advice + "\n".join(too_long)


def test_no_function_is_too_long() -> None:
    too_long = []
    for path in _sources():
        name = str(path.relative_to(ROOT))
        for function, length in _function_lengths(ast.parse(path.read_text("utf-8"))):
            key = f"{name}:{function}"
            if length > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                too_long.append(f"{key}: {length} lines")
    assert not too_long, "split these functions (or list them with a reason):\n" + "\n".join(
        too_long
    )


def test_every_exception_is_still_needed() -> None:
    """An exception whose module or function got short (or was removed) is taken off the list."""
    lengths: dict[str, int] = {}
    for path in _sources():
        name = str(path.relative_to(ROOT))
        lengths[name] = path.read_text("utf-8").count("\n")
        for function, length in _function_lengths(ast.parse(path.read_text("utf-8"))):
            lengths[f"{name}:{function}"] = max(length, lengths.get(f"{name}:{function}", 0))
    stale = [key for key in LONG_MODULES if lengths.get(key, 0) <= MAX_MODULE_LINES]
    stale += [key for key in LONG_FUNCTIONS if lengths.get(key, 0) <= MAX_FUNCTION_LINES]
    assert not stale, f"no longer over the limit: {stale}"


def test_every_package_is_installed() -> None:
    """A folder of core/ or cli/ with an __init__.py is in pyproject.toml's packages: a package
    left out works in the editable install the tests use, and is missing from a wheel."""
    import tomllib

    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"][
            "packages"
        ]
    )
    for top in ("core", "cli"):
        for init in (ROOT / top).glob("**/__init__.py"):
            parts = init.parent.relative_to(ROOT).parts
            assert ".".join(("gradcalc", *parts)) in listed, (
                f"{init.parent} is not in pyproject.toml"
            )


# Data flows one way: ops ← kinds ← explain ← solve ← cli.  A module of a layer imports
# nothing from the layers after it (at any depth of the file: lazy imports count too).
LATER_LAYERS = {
    "core/ops/": (
        "gradcalc.core.kinds",
        "gradcalc.core.explain",
        "gradcalc.core.solve",
        "gradcalc.cli",
    ),
    "core/kinds/": ("gradcalc.core.explain", "gradcalc.core.solve", "gradcalc.cli"),
    "core/explain/": ("gradcalc.core.solve", "gradcalc.cli"),
    "core/": ("gradcalc.cli",),
}


def _imported_modules(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
    return found


def test_no_module_imports_from_a_later_layer() -> None:
    backwards = []
    for path in _sources():
        name = str(path.relative_to(ROOT))
        layer = next((prefix for prefix in LATER_LAYERS if name.startswith(prefix)), None)
        if layer is None:
            continue
        for module in _imported_modules(ast.parse(path.read_text("utf-8"))):
            if module.startswith(LATER_LAYERS[layer]):
                backwards.append(f"{name} imports {module}")
    assert not backwards, "\n".join(backwards)


# The registry reaches every layer: a kinds or ops module that calls its solver or its explain
# modules goes through the pipeline or the explainers as surely as one that imports them.
LATER_THROUGH_REGISTRY = ("solve", "solver", "explain_module")


def _registry_uses(tree: ast.AST) -> list[str]:
    """``registry.solve``, ``registry.solver``, ``registry.explain_module`` (attributes of a
    name ``registry``) and the same names imported from gradcalc.core.registry."""
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "registry"
            and node.attr in LATER_THROUGH_REGISTRY
        ):
            found.append(f"registry.{node.attr} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module == "gradcalc.core.registry":
            found += [
                f"{alias.name} from gradcalc.core.registry (line {node.lineno})"
                for alias in node.names
                if alias.name in LATER_THROUGH_REGISTRY
            ]
    return found


def test_no_kind_or_op_reaches_a_later_layer_through_the_registry() -> None:
    backwards = []
    for path in _sources():
        name = str(path.relative_to(ROOT))
        if name.startswith(("core/kinds/", "core/ops/")):
            backwards += [
                f"{name} uses {use}" for use in _registry_uses(ast.parse(path.read_text("utf-8")))
            ]
    assert not backwards, "\n".join(backwards)
