"""usdtscan/ has no import cycle (issue 10), function-level imports counted.

A function-level import is an edge like any other: it runs whenever the
function does, so a cycle through one is a cycle in what loads what and in
what each module can be understood without.  Imports under ``if
TYPE_CHECKING:`` are not counted: they never run, and they are how a module
names another's types without depending on it at run time.

The graph is read from the source (``ast``), so it sees every import, not
only those one run happens to execute.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from .conftest import REPO

PACKAGE = REPO / "usdtscan"


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import that can run: at module level, in functions, in classes."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _import_nodes(ast.Module(body=node.orelse, type_ignores=[]))
        else:
            yield from _import_nodes(node)


def _targets(
    node: ast.Import | ast.ImportFrom, importer: str, is_package: bool, modules: set[str]
) -> Iterator[str]:
    """The modules of usdtscan that ``node`` loads: ``from . import x`` loads the
    module x when there is one, else the package (for its name x);
    ``from .model import Site`` loads model."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    if node.level:
        base = importer.split(".") if is_package else importer.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        source = ".".join([*base, node.module] if node.module else base)
    else:
        source = node.module or ""
    for alias in node.names:
        submodule = f"{source}.{alias.name}"
        yield submodule if submodule in modules else source


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        is_package = path.name == "__init__.py"
        graph[name] = {
            target
            for node in _import_nodes(tree)
            for target in _targets(node, name, is_package, set(files))
            if target in files and target != name
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as the list of modules along it, or None (depth-first, three colours)."""
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(module: str) -> list[str] | None:
        path.append(module)
        on_path.add(module)
        for target in sorted(graph[module]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle is not None:
                    return cycle
        on_path.discard(path.pop())
        done.add(module)
        return None

    for module in sorted(graph):
        if module not in done:
            cycle = visit(module)
            if cycle is not None:
                return cycle
    return None


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Every set of modules that import one another, directly or through others
    (the strongly connected components of more than one module)."""
    remaining = {module: set(targets) for module, targets in graph.items()}
    found: list[set[str]] = []
    while True:
        cycle = find_cycle(remaining)
        if cycle is None:
            return found
        members = set(cycle)
        for group in [g for g in found if g & members]:
            found.remove(group)
            members |= group
        found.append(members)
        remaining[cycle[-2]].discard(cycle[-1])


def test_the_graph_sees_function_level_and_relative_imports() -> None:
    graph = import_graph()
    # ``from .render import text`` inside a function of the listing.
    assert "usdtscan.render.text" in graph["usdtscan.listing"]
    # ``from ..lint import ...`` inside a function of a subpackage's module.
    assert "usdtscan.lint" in graph["usdtscan.render.checks"]
    # ``from . import cpython``: the module, not the package.
    assert "usdtscan.cpython" in graph["usdtscan.checkrun"]
    assert "usdtscan" not in graph["usdtscan.checkrun"]


def test_type_checking_imports_are_not_edges() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from .lint import LintResult\nelse:\n    import os\n"
        "def f():\n    from .model import Site\n"
        "class C:\n    from . import scan\n"
    )
    nodes = list(_import_nodes(ast.parse(source)))
    names = [node.module if isinstance(node, ast.ImportFrom) else "os" for node in nodes]
    assert names == ["typing", "os", "model", None]


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"b"}}) is None
    two = {"a": {"b"}, "b": {"a", "c"}, "c": {"d"}, "d": {"c"}, "e": {"a"}}
    assert sorted(map(sorted, cycles(two))) == [["a", "b"], ["c", "d"]]


def test_the_command_plumbing_has_no_cycle() -> None:
    """cli and the command modules import nothing that imports them back."""
    commands = {"usdtscan.cli", "usdtscan.listing", "usdtscan.checkrun"}
    commands |= {"usdtscan.scriptrun", "usdtscan.diffrun", "usdtscan.output"}
    assert not [group for group in cycles(import_graph()) if group & commands]


def test_no_import_cycle_in_usdtscan() -> None:
    """Issue 10's rule: not even through an import inside a function.  The last two
    went when the archive reader got its member scanner passed in and the
    analysis stopped naming the model at run time (usdtscan/basetypes.py)."""
    assert [sorted(group) for group in cycles(import_graph())] == []
