"""cli/'s modules import one another one way: no cycles, counting the imports made inside
functions (they run as surely as the others, only later); ``if TYPE_CHECKING:`` imports are
left out (they never run).  Only ``python -m gradcalc.cli`` imports cli/main.py."""

from __future__ import annotations

import ast
from pathlib import Path

CLI = Path(__file__).resolve().parents[1] / "cli"


def _imported(path: Path) -> set[str]:
    """The cli/ modules ``path`` imports (their short names), wherever in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "gradcalc.cli":
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("gradcalc.cli."):
            names.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            names |= {
                alias.name.split(".")[2]
                for alias in node.names
                if alias.name.startswith("gradcalc.cli.")
            }
    return names - {path.stem}


def _graph() -> dict[str, set[str]]:
    return {path.stem: _imported(path) for path in sorted(CLI.glob("*.py"))}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules along it, or None."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            found = visit(imported, [*path, module])
            if found:
                return found
        done.add(module)
        return None

    for module in graph:
        found = visit(module, [])
        if found:
            return found
    return None


def test_no_import_cycle_inside_cli() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_only_the_entry_points_import_main() -> None:
    """`python -m gradcalc.cli` and the Python API's check (which runs the command)."""
    importers = sorted(name for name, imported in _graph().items() if "main" in imported)
    assert importers == ["__main__", "api"]


def test_a_cycle_is_found() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
