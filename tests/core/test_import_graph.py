"""The package's modules import each other without a circle, and each imports alone.

A circle is found in the source: every import at module level, in a function or
behind ``TYPE_CHECKING`` (a deferred import in a circle is still a circle), where
importing ``a.b.c`` also runs the packages ``a.b`` above it.
"""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import infercore

ROOT = Path(infercore.__file__).parent
PACKAGE = ROOT.name


def _modules() -> dict[str, Path]:
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imported(name: str, path: Path) -> Iterator[str]:
    """The package's modules that ``name`` imports, anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            # Importing a.b.c runs a.b first, unless the importer is inside a.b already.
            while target.startswith(PACKAGE):
                if not name.startswith(target + ".") and target != name:
                    yield target
                target = target.rpartition(".")[0]


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return circles


def test_no_import_circle() -> None:
    graph = {name: set(_imported(name, path)) for name, path in MODULES.items()}
    assert _circles(graph) == []


def test_the_check_finds_a_circle() -> None:
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _import_alone(name: str) -> str | None:
    """Why ``name`` fails to import first in a fresh interpreter, or None."""
    result = subprocess.run(
        [sys.executable, "-c", f"import {name}"], capture_output=True, text=True, timeout=120
    )
    return None if result.returncode == 0 else f"{name}: {result.stderr[-1500:]}"


def test_each_module_imports_alone() -> None:
    """Each first in a fresh interpreter, so no other import has prepared the way."""
    names = sorted(MODULES)
    if importlib.util.find_spec("fastapi") is None:  # the server's need the serve extra
        names = [n for n in names if not n.startswith(f"{PACKAGE}._server.") or "_settings" in n]
    if importlib.util.find_spec("gradio") is None:  # the web chat's need the app extra
        names = [n for n in names if not n.startswith(f"{PACKAGE}._app")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        failures = [failure for failure in pool.map(_import_alone, names) if failure]
    assert failures == []
