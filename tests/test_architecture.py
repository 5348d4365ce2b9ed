"""Layering rules, module sizes and import circles of kinmatch (imports read with ast; see
docs/architecture.md).

In the messages, a chain "a:3 -> b:7 -> c" reads: line 3 of a imports b, line 7 of b imports c.
"""

from __future__ import annotations

import ast
import functools
import shutil
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE_DIR = Path(__file__).resolve().parent.parent / "kinmatch"

KERNELS_RULE = "rule 1 (kernels import only numpy and numba)"
STORE_RULE = "rule 2 (the store never imports numba)"
QUEUE_RULE = "rule 3 (queue and security never import search, tables or kernels)"
CLI_RULE = "rule 4 (nothing outside the CLI imports the CLI)"
CYCLE_RULE = "rule 5 (no import circle)"
SIZE_RULE = "rule 6 (no module over 600 lines)"
EVIDENCE_RULE = "rule 7 (the evidence never imports the search)"

MAX_LINES = 600

# Exactly what kinmatch/kernels/ imports today (no standard library); widen only on purpose.
KERNEL_ALLOWED = frozenset({"__future__", "numpy", "numba"})


@dataclass(frozen=True)
class Import:
    """One imported name: an absolute dotted name (for kinmatch, the module imported)."""

    target: str
    line: int


Graph = dict[str, list[Import]]


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def _sources(package_dir: Path) -> dict[str, Path]:
    """Module name (from the path relative to the repository root) -> file."""
    root = package_dir.parent
    found: dict[str, Path] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if not all(part.isidentifier() for part in parts):
            continue  # not importable (editor or checkpoint copies)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        # A module and a package of one name: Python imports the package.
        if name not in found or path.name == "__init__.py":
            found[name] = path
    return found


def _absolute(node: ast.ImportFrom, own_package: str) -> str | None:
    if node.level == 0:
        return node.module
    parts = own_package.split(".")
    if node.level > len(parts):
        return None  # beyond the top-level package: an ImportError at run time, no edge
    base = ".".join(parts[: len(parts) - node.level + 1])
    return f"{base}.{node.module}" if node.module else base


@functools.cache
def _import_nodes(source: str) -> tuple[ast.Import | ast.ImportFrom, ...]:
    """Every import statement anywhere in the source (cached: the planted copies repeat files)."""
    return tuple(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
    )


def _imports(name: str, path: Path, modules: Collection[str], package: str) -> list[Import]:
    """The file's imports, in line order."""
    try:
        nodes = _import_nodes(path.read_text(encoding="utf-8"))
    except SyntaxError as exc:
        exc.filename = str(path)
        raise
    own_package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: dict[Import, None] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = _absolute(node, own_package)
            if base is None:
                continue
            if base.split(".")[0] != package:
                targets = [base]
            else:
                names = (f"{base}.{alias.name}" for alias in node.names)
                targets = [full if full in modules else base for full in names]
        found.update(dict.fromkeys(Import(target, node.lineno) for target in targets))
    return sorted(found, key=lambda imp: imp.line)


def import_graph(package_dir: Path) -> Graph:
    """Module -> its imports, for every module of the package."""
    sources = _sources(package_dir)
    # Packages without __init__.py (namespace packages) are importable modules too.
    modules = {
        ".".join(name.split(".")[:i]) for name in sources for i in range(1, name.count(".") + 2)
    }
    return {name: _imports(name, path, modules, package_dir.name) for name, path in sources.items()}


def _chain(graph: Graph, start: str, forbidden: Callable[[str], bool]) -> str | None:
    """Shortest import chain from start to a forbidden module, as 'a:3 -> b:7 -> numba'."""
    previous: dict[str, tuple[str, int]] = {}
    seen = {start}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for imp in graph.get(module, []):
            if imp.target in seen:
                continue
            seen.add(imp.target)
            previous[imp.target] = (module, imp.line)
            if forbidden(imp.target):
                steps = [imp.target]
                node = imp.target
                while node != start:
                    node, line = previous[node]
                    steps.append(f"{node}:{line}")
                return " -> ".join(reversed(steps))
            queue.append(imp.target)
    return None


def _reach_violations(
    graph: Graph, rule: str, checked: Callable[[str], bool], forbidden: Callable[[str], bool]
) -> list[str]:
    """Imports by checked modules of forbidden modules, directly or through other modules."""
    found = []
    for module, imports in graph.items():
        if not checked(module):
            continue
        for imp in imports:
            head = f"{rule}: {module} imports {imp.target} (line {imp.line})"
            if forbidden(imp.target):
                found.append(head)
            # An import of another checked module is reported at that module's own imports.
            elif imp.target in graph and not checked(imp.target):
                chain = _chain(graph, imp.target, forbidden)
                if chain is not None:
                    found.append(f"{head}, through {chain}")
    return found


def _components(edges: dict[str, dict[str, int]]) -> list[set[str]]:
    """Strongly connected components (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            components.append(component)

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(components, key=min)


def _cycle(edges: dict[str, dict[str, int]], component: set[str]) -> list[tuple[str, int]]:
    """Shortest circle from the component's first module back to it: (module, line) steps."""
    start = min(component)
    previous: dict[str, tuple[str, int]] = {}
    queue = deque([start])
    while queue:
        module = queue.popleft()
        for target, line in edges[module].items():
            if target == start:
                steps = [(module, line)]
                while steps[-1][0] != start:
                    steps.append(previous[steps[-1][0]])
                return steps[::-1]
            if target in component and target not in previous and target != start:
                previous[target] = (module, line)
                queue.append(target)
    raise AssertionError(f"no circle through {start}")


def _cycle_violations(graph: Graph) -> list[str]:
    edges: dict[str, dict[str, int]] = {module: {} for module in graph}
    for module, imports in graph.items():
        for imp in imports:
            if imp.target in graph:
                edges[module].setdefault(imp.target, imp.line)
    found = []
    for component in _components(edges):
        first = min(component)
        if len(component) == 1 and first not in edges[first]:
            continue
        steps = _cycle(edges, component)
        circle = " -> ".join([*(f"{module}:{line}" for module, line in steps), first])
        message = f"{CYCLE_RULE}: {circle}"
        others = sorted(component - {module for module, _ in steps})
        if others:
            message += f"; the same tangle also holds {', '.join(others)}"
        found.append(message)
    return found


def violations(package_dir: Path) -> list[str]:
    """Every layering-rule violation and import circle in the package, one line each."""
    graph = import_graph(package_dir)
    package = package_dir.name
    kernels, store, cli = f"{package}.kernels", f"{package}.store", f"{package}.cli"
    found = [
        f"{KERNELS_RULE}: {module} imports {imp.target} (line {imp.line})"
        for module, imports in graph.items()
        if _within(module, kernels)
        for imp in imports
        if imp.target.split(".")[0] not in KERNEL_ALLOWED and not _within(imp.target, kernels)
    ]
    found += _reach_violations(
        graph,
        STORE_RULE,
        lambda module: _within(module, store),
        lambda target: _within(target, "numba") or _within(target, kernels),
    )
    found += _reach_violations(
        graph,
        QUEUE_RULE,
        lambda module: (
            _within(module, f"{package}.queue") or _within(module, f"{package}.security")
        ),
        lambda target: any(
            _within(target, f"{package}.{layer}") for layer in ("search", "tables", "kernels")
        ),
    )
    found += [
        f"{CLI_RULE}: {module} imports {imp.target} (line {imp.line})"
        for module, imports in graph.items()
        if not _within(module, cli) and module != f"{package}.__main__"
        for imp in imports
        if _within(imp.target, cli)
    ]
    found += _reach_violations(
        graph,
        EVIDENCE_RULE,
        lambda module: _within(module, f"{package}.evidence"),
        lambda target: _within(target, f"{package}.search"),
    )
    found += [
        f"{SIZE_RULE}: {name} has {lines} lines"
        for name, path in _sources(package_dir).items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    ]
    return found + _cycle_violations(graph)


def _of(rule: str, found: list[str]) -> list[str]:
    return [violation for violation in found if violation.startswith(f"{rule}:")]


def _assert_none(rule: str, found: list[str]) -> None:
    broken = _of(rule, found)
    if broken:
        pytest.fail(f"{len(broken)} violation(s) of {rule}:\n" + "\n".join(broken), pytrace=False)


@pytest.fixture(scope="module")
def real() -> list[str]:
    """Violations in the real kinmatch/ tree."""
    return violations(PACKAGE_DIR)


def test_graph_sees_the_package() -> None:
    graph = import_graph(PACKAGE_DIR)
    assert "kinmatch.store" in graph
    assert "kinmatch.queue" in graph
    assert any(
        imp.target == "numba"
        for module in graph
        if _within(module, "kinmatch.kernels")
        for imp in graph[module]
    )


RULES = (KERNELS_RULE, STORE_RULE, QUEUE_RULE, CLI_RULE, CYCLE_RULE, SIZE_RULE, EVIDENCE_RULE)


@pytest.mark.parametrize("rule", RULES, ids=[rule.split(" (")[0] for rule in RULES])
def test_rule_holds(rule: str, real: list[str]) -> None:
    """Each rule of docs/architecture.md on the real tree."""
    _assert_none(rule, real)


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """A copy of the real kinmatch/ tree to plant violations in."""
    target = tmp_path / PACKAGE_DIR.name
    shutil.copytree(PACKAGE_DIR, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def _plant(rule: str, tree: Path, real: list[str], files: dict[str, str], expected: str) -> None:
    """Check that writing files into the copy makes the expected violation, absent before."""
    before = _of(rule, violations(tree))
    if not _of(rule, real):
        assert before == []
    assert expected not in before
    for relative, text in files.items():
        path = tree / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    after = _of(rule, violations(tree))
    assert expected in after, "\n".join(after)


PLANTED = {
    "kernel imports scipy (in a try block)": (
        KERNELS_RULE,
        {"kernels/planted_scipy.py": "import numpy\n\ntry:\n    import scipy\nexcept ImportError:\n"
         "    scipy = None\n"},
        "kinmatch.kernels.planted_scipy imports scipy (line 4)",
    ),
    "queue imports tables under TYPE_CHECKING": (
        QUEUE_RULE,
        {"queue/planted_tables.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
         "    from kinmatch.tables import ScoreTables\n"},
        "kinmatch.queue.planted_tables imports kinmatch.tables (line 4)",
    ),
    "security imports tables relatively": (
        QUEUE_RULE,
        {"security/planted_relative.py": "from .. import tables\n"},
        "kinmatch.security.planted_relative imports kinmatch.tables (line 1)",
    ),
    "a module imports the CLI": (
        CLI_RULE,
        {"planted_cli_user.py": "import kinmatch.cli\n"},
        "kinmatch.planted_cli_user imports kinmatch.cli (line 1)",
    ),
    "a circle through a function body": (
        CYCLE_RULE,
        {"planted_a.py": "from kinmatch.planted_b import B\n\nA = 1\n",
         "planted_b.py": "B = 2\n\n\ndef f() -> int:\n    from kinmatch.planted_a import A\n\n"
         "    return A\n"},
        "kinmatch.planted_a:1 -> kinmatch.planted_b:5 -> kinmatch.planted_a",
    ),
    "a module of 601 lines": (
        SIZE_RULE,
        {"planted_long.py": "".join(f"X{i} = {i}\n" for i in range(MAX_LINES + 1))},
        f"kinmatch.planted_long has {MAX_LINES + 1} lines",
    ),
    "evidence imports the search in a function": (
        EVIDENCE_RULE,
        {"evidence/planted_search.py": "def f() -> None:\n"
         "    from kinmatch.search import Searcher\n"},
        "kinmatch.evidence.planted_search imports kinmatch.search (line 2)",
    ),
}  # fmt: skip
"""Planted violations: (rule, files written into a copy of the tree, what is reported)."""


@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_violation_is_reported(case: str, tree_copy: Path, real: list[str]) -> None:
    rule, files, expected = PLANTED[case]
    _plant(rule, tree_copy, real, files, f"{rule}: {expected}")


def test_planted_store_importing_numba_transitively(tree_copy: Path, real: list[str]) -> None:
    store = (tree_copy / "store.py").read_text(encoding="utf-8").rstrip("\n") + "\n"
    store += "import kinmatch.planted_numba\n"
    line = len(store.splitlines())
    files = {"planted_numba.py": "import numba\n", "store.py": store}
    expected = (
        f"{STORE_RULE}: kinmatch.store imports kinmatch.planted_numba (line {line}),"
        " through kinmatch.planted_numba:1 -> numba"
    )
    _plant(STORE_RULE, tree_copy, real, files, expected)


def test_package_reexport_is_no_circle(tree_copy: Path) -> None:
    package = tree_copy / "planted_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("from kinmatch.planted_pkg.child import VALUE\n")
    (package / "child.py").write_text(
        "from . import sibling\nfrom kinmatch.planted_pkg import sibling as again\n"
    )
    (package / "sibling.py").write_text("X = 1\n")
    graph = import_graph(tree_copy)
    assert graph["kinmatch.planted_pkg"] == [Import("kinmatch.planted_pkg.child", 1)]
    assert graph["kinmatch.planted_pkg.child"] == [
        Import("kinmatch.planted_pkg.sibling", 1),
        Import("kinmatch.planted_pkg.sibling", 2),
    ]
    assert not [v for v in _of(CYCLE_RULE, violations(tree_copy)) if "planted_pkg" in v]
