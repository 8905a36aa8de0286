"""No emoji in what the app shows: without an emoji font (a plain Linux desktop, a server's headless browser, many
corporate machines) they render as empty boxes. The app's words come from string literals in ``bertstudio/``
(the UI's and the engine's messages it shows), so scanning those literals keeps them out."""

from __future__ import annotations

import ast
from pathlib import Path

import bertstudio

PACKAGE = Path(bertstudio.__file__).parent
# Blocks whose characters fonts that are always present (DejaVu, Liberation, the system UI fonts) mostly lack, or
# that browsers draw from a colour emoji font: misc technical (hourglass, stop), misc symbols and dingbats (check and
# cross marks), arrows and shapes of the emoji set, the pictographs, and the selector that asks for emoji style.
EMOJI_RANGES = ((0x2300, 0x23FF), (0x2600, 0x27BF), (0x2B00, 0x2BFF), (0x1F000, 0x1FAFF))
EMOJI_STYLE = "\ufe0f"
INFORMATION = "\u2139"  # drawn as an emoji by most browsers
# Drawn as text by DejaVu Sans when no emoji selector follows: the benchmark report's "timed while busy" mark.
TEXT_SYMBOLS = {"\u26a0"}


def font_risky(text: str) -> list[str]:
    """The characters of ``text`` that need an emoji font."""
    found = []
    for i, char in enumerate(text):
        follows = text[i + 1:i + 2]
        if char == EMOJI_STYLE or char == INFORMATION:
            found.append(char)
        elif any(low <= ord(char) <= high for low, high in EMOJI_RANGES):
            if char not in TEXT_SYMBOLS or follows == EMOJI_STYLE:
                found.append(char)
    return found


def string_literals(path: Path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_the_check_finds_emoji_and_passes_plain_text():
    assert font_risky("\u2705 Done") == ["\u2705"]
    assert font_risky("\u26a0\ufe0f careful") == ["\u26a0", "\ufe0f"]
    assert font_risky("# \U0001f9ea BERT Studio") == ["\U0001f9ea"]
    assert font_risky("Stopping\u2026 \u2192 see \u201cData\u201d \u00b7 12\u00d73 caf\u00e9") == []
    assert font_risky("5.0 \u26a0") == []


def test_no_string_the_app_shows_needs_an_emoji_font():
    offenders = [f"{path.relative_to(PACKAGE.parent)}:{line}: {value[:60]!r}"
                 for path in sorted(PACKAGE.rglob("*.py")) for line, value in string_literals(path)
                 if font_risky(value)]
    assert offenders == []


def test_presets_need_no_emoji_font():
    presets = sorted((PACKAGE.parent / "presets").glob("*.json")) + sorted(PACKAGE.rglob("presets/*.json"))
    offenders = [str(p) for p in presets if font_risky(p.read_text(encoding="utf-8"))]
    assert offenders == []
