"""The shape of the code: imports point down the layers, the module graph has no cycle, a class
name names one class, and a package that lists its modules lists all of them.

    supervision  ->  actors  ->  protocols        (benchmarks may import any of them)
    supervision.runtime  ->  actors.behaviour, protocols   (it knows nothing of trading)

Every module under the four packages is parsed with `ast`, not imported, and every import counts:
top-level, deferred inside a function, and under `if TYPE_CHECKING:` (a type-only cycle is still a
cycle a reader has to hold in their head). `from package import name` is an edge to the module
`package.name` when there is one, else to the package's `__init__`.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("protocols", "actors", "supervision", "benchmarks")

# Wire formats mirror each venue's own vocabulary: `binance.Trade` and `hyperliquid.Trade` are the
# same idea in two dialects, always read with their module's name in front.
SHARED_NAMES_OK = {"Trade": {"protocols.venues.binance", "protocols.venues.hyperliquid"}}


def _modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> Iterable[str]:
    """The names of our modules that one import statement of `module` loads."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:  # relative: resolve against the importing module's package
        package = module.split(".")
        if MODULES[module].name != "__init__.py":
            package.pop()
        package = package[: len(package) - (node.level - 1)]
        base = ".".join([*package, base] if base else package)
    for alias in node.names:
        submodule = f"{base}.{alias.name}"
        yield submodule if submodule in MODULES else base


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {name: set() for name in MODULES}
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name].update(t for t in _imported(name, node) if t in MODULES)
    return graph


GRAPH = import_graph()


def _top(module: str) -> str:
    return module.partition(".")[0]


def _layer_problem(source: str, target: str) -> str | None:
    top, target_top = _top(source), _top(target)
    if target_top == "benchmarks" and top != "benchmarks":
        return "only benchmarks import benchmarks"
    if top == "protocols" and target_top in ("actors", "supervision"):
        return "protocols is data only: it imports nothing from actors or supervision"
    if top == "actors" and target_top == "supervision":
        return "actors never import supervision"
    if source == "supervision.runtime" or source.startswith("supervision.runtime."):
        if target_top == "actors" and target != "actors.behaviour":
            return "the runtime knows nothing of trading: from actors, only actors.behaviour"
        if target_top == "supervision" and not (
            target == "supervision.runtime" or target.startswith("supervision.runtime.")
        ):
            return "the runtime imports nothing from the rest of supervision"
    return None


def find_cycle(graph: Mapping[str, Iterable[str]]) -> list[str] | None:
    """One cycle as a path that starts and ends on the same module, or None for a DAG."""
    state: dict[str, int] = {}  # 1 on the current path, 2 finished
    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        state[start] = 1
        stack = [iter(sorted(graph[start]))]
        while stack:
            target = next(stack[-1], None)
            if target is None:
                stack.pop()
                state[path.pop()] = 2
            elif state.get(target) == 1:
                return [*path[path.index(target):], target]
            elif target not in state:
                state[target] = 1
                path.append(target)
                stack.append(iter(sorted(graph.get(target, ()))))
    return None


def test_the_graph_sees_every_kind_of_import() -> None:
    # Guards the parser: a graph that lost its edges would pass every test below.
    assert len(MODULES) > 80
    assert "protocols.risk" in GRAPH["actors.risk.gate"]  # top level
    assert "actors.behaviour" in GRAPH["supervision.runtime.specs"]  # under TYPE_CHECKING
    assert "supervision.control.http" in GRAPH["supervision.node.run"]  # inside a function
    assert "supervision.runtime.cell" in GRAPH["supervision.runtime.introspection"]


def test_imports_point_down_the_layers() -> None:
    problems = sorted(
        f"{source} imports {target}: {problem}"
        for source, targets in GRAPH.items()
        for target in targets
        if (problem := _layer_problem(source, target)) is not None
    )
    assert not problems, "\n".join(problems)


def test_the_module_graph_has_no_cycle() -> None:
    cycle = find_cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_find_cycle_reports_the_cycle_path() -> None:
    graph = {"a": {"b"}, "b": {"c", "d"}, "c": {"a"}, "d": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"a"}}) == ["a", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"b"}}) is None


def test_a_class_name_names_one_class() -> None:
    defined: dict[str, set[str]] = defaultdict(set)
    for module, tree in TREES.items():
        for node in tree.body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                defined[node.name].add(module)
    shared = {
        name: sorted(modules) for name, modules in defined.items()
        if len(modules) > 1 and modules != SHARED_NAMES_OK.get(name)
    }
    assert not shared, f"one name for different classes: {shared}"


def _declared_all(tree: ast.Module) -> list[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__all__" for target in node.targets
        ):
            return list(ast.literal_eval(node.value))
    return None


def test_a_package_that_lists_its_modules_lists_all_of_them() -> None:
    # A package's `__all__` is either its facade (public names) or the table of its modules, as
    # the subpackages' docstrings describe them; a table must not go stale as modules are added.
    stale = {}
    for package, path in MODULES.items():
        if path.name != "__init__.py" or (declared := _declared_all(TREES[package])) is None:
            continue
        modules = {
            name.rpartition(".")[2] for name in MODULES
            if name.rpartition(".")[0] == package and not name.rpartition(".")[2].startswith("_")
        }
        if set(declared) <= modules and set(declared) != modules:
            stale[package] = sorted(modules - set(declared))
    assert not stale, f"modules missing from their package's __all__: {stale}"
