"""The Evaluate tab's words for what the engine found about an evaluation (pure functions, no gradio)."""

from __future__ import annotations

from collections.abc import Sequence

from bertstudio.data.findings import Finding

LEVEL_LABELS = {"error": "Must fix", "warning": "Warning", "info": "Note"}


def finding_markdown(finding: Finding) -> str:
    """One finding as a quoted block: what it means in bold-led words, then what to do on a line of its own, so it
    stands out from the scores around it."""
    lines = [f"> **{LEVEL_LABELS.get(finding.level, 'Note')}:** {finding.message}"]
    if finding.hint:
        lines += [">", f"> **What to do:** {finding.hint}"]
    return "\n".join(lines)


def findings_markdown(findings: Sequence[Finding]) -> list[str]:
    """The findings as blocks, in the engine's order (most important first)."""
    return [finding_markdown(f) for f in findings]
