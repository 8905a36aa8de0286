"""The engine works without gradio: only bertstudio/ui may import it."""

from __future__ import annotations

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
