"""The WSK model's modules import one way: no circle (TYPE_CHECKING imports included), and
nothing above the model (no socket, thread-free core aside: irql.py keeps per-thread IRQL)."""

from __future__ import annotations

import ast
from pathlib import Path

import wskrecv.wsk

WSK = Path(wskrecv.wsk.__file__).parent


def _imports(path: Path) -> set[str]:
    """The wskrecv.wsk modules `path` imports, anywhere in it (TYPE_CHECKING too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            if name.startswith("wskrecv.wsk.") and (WSK / f"{name.split('.')[2]}.py").exists():
                found.add(name.split(".")[2])
    return found


def _graph() -> dict[str, set[str]]:
    return {p.stem: _imports(p) - {p.stem} for p in WSK.glob("*.py") if p.stem != "__init__"}


def test_the_model_has_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError("import circle: " + " -> ".join(path + [node, nxt]))
            if nxt not in state:
                visit(nxt, path + [node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_indications_do_not_know_the_socket() -> None:
    assert "socket" not in _graph()["indication"] and "socket" not in _graph()["events"]


def test_the_model_imports_nothing_above_it() -> None:
    for path in WSK.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                module = node.module
            elif isinstance(node, ast.Import):
                module = node.names[0].name
            else:
                continue
            top = module.split(".")[0]
            assert top not in ("socket", "click", "rich", "select"), (path.name, module)
            if module.startswith("wskrecv."):
                assert module.startswith("wskrecv.wsk"), (path.name, module)
