"""The rules of docs/ARCHITECTURE.md that a machine can check: the engine never imports gradio, the
package has no import cycles, and bertstudio modules import each other at the top of the file only.

The import graph counts every import statement, inside functions too, and the package ``__init__`` each
import runs, so a cycle cannot hide behind a late import.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import bertstudio

PACKAGE_DIR = Path(bertstudio.__file__).resolve().parent
UI_DIR = PACKAGE_DIR / "ui"
GRADIO_IMPORT = re.compile(r"^\s*(import\s+gradio\b|from\s+gradio\b)", re.MULTILINE)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules() -> dict[str, Path]:
    return {module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}


def imported_names(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
    return []


def import_graph() -> dict[str, set[str]]:
    """module -> the bertstudio modules its execution imports (packages' __init__ included)."""
    modules = package_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            for target in imported_names(node):
                parts = target.split(".")
                for end in range(2, len(parts) + 1):  # importing a.b.c runs a.b's __init__ first
                    prefix = ".".join(parts[:end])
                    if prefix in modules and prefix != name and not name.startswith(prefix + "."):
                        graph[name].add(prefix)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a path (first == last), or None; depth-first search with colours."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_find_cycle_sees_a_cycle_and_a_clean_graph():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_package_has_no_import_cycle():
    assert find_cycle(import_graph()) is None


def test_bertstudio_modules_are_imported_at_the_top_of_a_file():
    """Imports inside functions hid two cycles once. Heavy third-party libraries (torch, transformers,
    onnxruntime, sklearn) may still load where they are used, so `bertstudio --help` and the app start fast."""
    late = []
    for name, path in package_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                late += [f"{name}.{function.name}: {target}" for node in ast.walk(function)
                         for target in imported_names(node)[:1] if target.startswith("bertstudio")]
    assert late == []


def engine_modules() -> list[str]:
    names = ["bertstudio"]
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="bertstudio."):
        if info.name == "bertstudio.ui" or info.name.startswith("bertstudio.ui.") or info.name.endswith("__main__"):
            continue  # the app itself, and `python -m bertstudio` (importing it runs the CLI)
        names.append(info.name)
    return names


def test_engine_modules_exist():
    names = engine_modules()
    assert {"bertstudio.config", "bertstudio.train.pipeline", "bertstudio.train.job", "bertstudio.data"} <= set(names)


def test_importing_every_engine_module_leaves_gradio_unloaded():
    code = (
        "import importlib, json, sys\n"
        f"names = {engine_modules()!r}\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'gradio' or m.startswith('gradio.'))))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=240,
                            cwd=PACKAGE_DIR.parent)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_no_file_outside_ui_imports_gradio():
    offenders = [str(path.relative_to(PACKAGE_DIR)) for path in PACKAGE_DIR.rglob("*.py")
                 if UI_DIR not in path.parents and GRADIO_IMPORT.search(path.read_text(encoding="utf-8"))]
    assert offenders == []
