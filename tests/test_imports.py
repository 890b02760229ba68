"""The package's import graph: no module imports another that imports it back, and the command
line is a leaf that library modules never import.

The graph is read from the source (``ast``), so it counts imports inside functions and
``importlib.import_module("pyroclust...")`` calls too (a cycle hidden in a function is still a
cycle of concerns); imports under ``if TYPE_CHECKING:`` are left out (they never run).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pyroclust

ROOT = Path(pyroclust.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    modules = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(tree: ast.AST, package: str, modules: dict[str, Path]) -> set[str]:
    """The pyroclust modules a module's source imports (explicitly; not parent packages)."""
    found: set[str] = set()

    def add(base: str, names: list[str]) -> None:
        for name in names:
            if f"{base}.{name}" in modules:
                found.add(f"{base}.{name}")
            elif base in modules:
                found.add(base)

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in modules)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            if base.split(".")[0] == "pyroclust":
                add(base, [a.name for a in node.names])
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            name = getattr(func, "attr", getattr(func, "id", ""))
            arg = node.args[0]
            if name in ("import_module", "__import__") and isinstance(arg, ast.Constant):
                if arg.value in modules:
                    found.add(arg.value)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> dict[str, set[str]]:
    """Module name -> the pyroclust modules it imports."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = _imported(ast.parse(path.read_text()), package, modules) - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_is_read() -> None:
    graph = import_graph()
    assert "pyroclust.cli.fit" in graph["pyroclust.cli"]
    assert "pyroclust.zoo" in graph["pyroclust.cli.fit"]
    assert "pyroclust.posthoc" in graph["pyroclust.representations.clusterer"]


def test_no_import_cycles() -> None:
    assert find_cycle(import_graph()) is None


def test_cycles_are_found() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_library_modules_never_import_the_command_line() -> None:
    """Only the command line itself and the ``__main__`` entry points import pyroclust.cli."""
    for module, imports in import_graph().items():
        if module.startswith("pyroclust.cli") or module.endswith("__main__"):
            continue
        assert not [m for m in imports if m.startswith("pyroclust.cli")], module
