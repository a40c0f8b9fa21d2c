"""The import graph is a DAG, and apps import only downward.

The layers, lowest first, are declared here and nowhere else (docs/architecture.md
describes them). A module may import its own app and any app below it. `analytics` sits
below `chat` because chat's socket and REST presence write analytics' viewer sessions.

A function-level import of the project's own code is allowed only where Django's app
loading requires it, marked with a comment saying so, and in task bodies (services import
their tasks at the top to enqueue them; tasks import the services inside their bodies).
Anywhere else a lazy import hides a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS: list[set[str]] = [
    {"socialflow"},  # socialflow/lib: infrastructure (the project package wires the apps together)
    {"accounts"},
    {"streams"},
    {"analytics"},
    {"chat"},
    {"dvr"},
]
# The project package's top-level modules compose every app (URLs, ASGI, Celery, settings,
# /metrics); only socialflow/lib is infrastructure below the apps.
COMPOSITION = {
    "socialflow.urls",
    "socialflow.asgi",
    "socialflow.routing",
    "socialflow.celery",
    "socialflow.metrics",
}
APP_LOADING_MARK = "app loading"


def _rank(package: str) -> int | None:
    for rank, layer in enumerate(LAYERS):
        if package in layer:
            return rank
    return None


def _modules() -> dict[str, Path]:
    found = {}
    for package in set().union(*LAYERS):
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if "tests" in parts or "migrations" in parts:
                continue
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The project module an import refers to (a name inside a module resolves to it)."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


class Import:
    def __init__(self, source: str, target: str, line: int, lazy: bool, comment: str):
        self.source, self.target, self.line, self.lazy, self.comment = source, target, line, lazy, comment

    def __repr__(self) -> str:
        kind = "lazy " if self.lazy else ""
        return f"{MODULES[self.source].relative_to(ROOT)}:{self.line} {kind}imports {self.target}"


def imports_of(module: str, path: Path | None = None, text: str | None = None) -> list[Import]:
    path = path or MODULES[module]
    text = text if text is not None else path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    top_level = {id(node) for node in tree.body}
    # Imports inside `if TYPE_CHECKING:` at the top are not run.
    for node in tree.body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            top_level |= {id(inner) for inner in ast.walk(node)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base]).strip(".")
            names = [f"{base}.{alias.name}" for alias in node.names] if base else []
        else:
            continue
        nearby = " ".join(lines[max(0, node.lineno - 4) : node.end_lineno])
        for name in names:
            target = _resolve(name)
            if target and target != module:
                found.append(Import(module, target, node.lineno, id(node) not in top_level, nearby))
    return found


ALL_IMPORTS = [imp for module in MODULES for imp in imports_of(module)]


def _app(module: str) -> str:
    return module.split(".")[0]


def _allowed_lazy(imp: Import) -> bool:
    in_task = imp.source.endswith(".tasks") and _app(imp.source) == _app(imp.target)
    return in_task or APP_LOADING_MARK in imp.comment.lower()


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle in the graph as [a, b, ..., a], or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def upward(imports: list[Import]) -> list[Import]:
    """Imports from a lower layer into a higher one."""
    bad = []
    for imp in imports:
        if imp.source in COMPOSITION:
            continue
        source, target = _rank(_app(imp.source)), _rank(_app(imp.target))
        if imp.source.startswith("socialflow.lib"):
            source = -1  # infrastructure sits below every app, the project package included
        if (
            target is not None
            and source is not None
            and target > source
            and _app(imp.source) != _app(imp.target)
        ) or (imp.source.startswith("socialflow.lib") and not imp.target.startswith("socialflow.lib")):
            bad.append(imp)
    return bad


def module_graph(imports: list[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    for imp in imports:
        if not _allowed_lazy(imp):
            edges.setdefault(imp.source, set()).add(imp.target)
    return edges


def test_the_module_graph_has_no_cycle():
    assert find_cycle(module_graph(ALL_IMPORTS)) is None


def test_the_app_graph_follows_the_declared_layers():
    assert upward(ALL_IMPORTS) == []


def test_accounts_imports_no_other_app():
    assert [
        imp
        for imp in ALL_IMPORTS
        if imp.source.startswith("accounts")
        and _app(imp.target) != "accounts"
        and not imp.target.startswith("socialflow.lib")
    ] == []


def test_lazy_imports_of_project_code_only_where_app_loading_needs_them():
    assert [imp for imp in ALL_IMPORTS if imp.lazy and not _allowed_lazy(imp)] == []


# The checks above must be able to fail: the same code with a cycle or an upward import.


def test_a_reintroduced_cycle_is_found():
    """chat.hub reaching back into chat.consumers lazily, as it once did."""
    hub = MODULES["chat.hub"].read_text() + (
        "\n\ndef _missed():\n    from chat.consumers import StreamConsumer\n\n    return StreamConsumer\n"
    )
    imports = [imp for imp in ALL_IMPORTS if imp.source != "chat.hub"] + imports_of("chat.hub", text=hub)
    lazy = [imp for imp in imports if imp.lazy and not _allowed_lazy(imp)]
    assert [repr(imp) for imp in lazy] == [
        "chat/hub.py:" + str(len(hub.splitlines()) - 2) + " lazy imports chat.consumers"
    ]
    assert find_cycle(module_graph(imports)) == ["chat.consumers", "chat.hub", "chat.consumers"]


def test_a_reintroduced_upward_import_is_found():
    """streams sending chat frames through chat's modules, as it once did."""
    services = "from chat import selectors\n" + MODULES["streams.services"].read_text()
    imports = [imp for imp in ALL_IMPORTS if imp.source != "streams.services"] + imports_of(
        "streams.services", text=services
    )
    assert [(imp.source, imp.target) for imp in upward(imports)] == [("streams.services", "chat.selectors")]


@pytest.mark.parametrize("module", ["accounts.views", "accounts.apis"])
def test_accounts_pages_know_nothing_of_streams(module):
    assert not [imp for imp in imports_of(module) if _app(imp.target) == "streams"]
