"""bench/RESULTS.md is shared by every benchmark script: each owns one "## " section and replaces only it."""

from __future__ import annotations

import platform
import re
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEach section is written by the script it names; rerun that script to refresh it.\n"


def machine_line() -> str:
    import os

    from bertstudio.hardware import detect_device

    device = detect_device("auto")
    return (f"Measured {time.strftime('%Y-%m-%d %H:%M')} on {device.describe()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}.")


def command_line() -> str:
    """This run's own command, as a person would type it from the repository root (for "Reproduce:")."""
    import shlex
    import sys

    script = Path(sys.argv[0]).resolve()
    shown = f"bench/{script.name}" if script.parent == RESULTS.parent else sys.argv[0]
    return " ".join(["python", shown, *map(shlex.quote, sys.argv[1:])])


def write_section(title: str, body: str, path: Path = RESULTS) -> None:
    """Replace the section headed ``## {title}`` (or append it), leaving every other section as it was."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
