"""The package's structure, computed from its source: no import circle between files or
between packages of wskrecv/, and the runner reaches its receiver only through the hooks
runner/contracts.py declares. Every import counts, also one inside a function or under
TYPE_CHECKING: a circle there is still two layers that each need the other."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from functools import cache
from pathlib import Path

from wskrecv.runner.contracts import Receiver

PACKAGE = Path(__file__).resolve().parent.parent / "wskrecv"


def module_files() -> dict[str, Path]:
    """Every module of wskrecv by dotted name (a package by its __init__.py)."""
    files = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = path
    return files


def imported(path: Path, name: str, modules: dict[str, Path]) -> Iterator[str]:
    """The wskrecv modules the file `path` (module `name`) imports, wherever it imports
    them: `from pkg import sub` is the module pkg.sub when there is one, else pkg."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                if sub in modules:
                    yield sub
                elif base in modules:
                    yield base


@cache
def graph() -> dict[str, frozenset[str]]:
    """Each module of wskrecv and the modules of wskrecv it imports (read once)."""
    modules = module_files()
    return {name: frozenset(m for m in imported(path, name, modules) if m != name)
            for name, path in modules.items()}


def circles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return found


def package_of(module: str) -> str:
    """wskrecv.runner.loop -> wskrecv.runner; a top-level module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_the_import_graph_is_read_whole() -> None:
    edges = graph()
    assert "wskrecv.runner.loop" in edges["wskrecv.session.single"] or (
        "wskrecv.session.assembly" in edges["wskrecv.session.single"])
    # an import inside a function counts: program imports the session when it runs
    assert "wskrecv.session.receive" in edges["wskrecv.program"]
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circle_between_files() -> None:
    assert circles(graph()) == []


def test_no_import_circle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, targets in graph().items():
        here = package_of(module)
        packages.setdefault(here, set()).update(
            package_of(t) for t in targets if package_of(t) != here)
    assert circles(packages) == []


def receiver_uses(path: Path, names: set[str]) -> Iterator[tuple[str, int]]:
    """Attributes read on the runner's receiver (`self.app.X`, or `app.X` for a parameter
    named app), and any getattr/hasattr on it."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Attribute):
            value = node.value
            if (isinstance(value, ast.Attribute) and value.attr in names
                    and isinstance(value.value, ast.Name) and value.value.id == "self") or (
                    isinstance(value, ast.Name) and value.id in names):
                yield node.attr, node.lineno
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and (
                node.func.id in ("getattr", "hasattr", "setattr")) and node.args:
            target = node.args[0]
            if (isinstance(target, ast.Attribute) and target.attr in names) or (
                    isinstance(target, ast.Name) and target.id in names):
                yield f"{node.func.id}()", node.lineno


def test_the_runner_calls_its_receiver_only_through_the_protocol() -> None:
    hooks = {n for n in vars(Receiver) if not n.startswith("_")}
    assert {"attach", "start", "stop", "statistics", "on_fault", "verdict"} <= hooks
    seen = []
    for path in sorted((PACKAGE / "runner").glob("*.py")):
        for attr, line in receiver_uses(path, {"app", "receiver"}):
            seen.append(attr)
            assert attr in hooks, f"{path.name}:{line} uses the receiver's {attr}"
    assert "attach" in seen and "verdict" in seen  # the walk found the runner's calls


def test_every_package_directory_is_a_package() -> None:
    """find_packages (setup.py) leaves out a directory without __init__.py: a non-editable
    install would miss its modules."""
    for directory in sorted({p.parent for p in PACKAGE.rglob("*.py")}):
        if "__pycache__" not in directory.parts:
            assert (directory / "__init__.py").exists(), directory
