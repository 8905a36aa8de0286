"""The Model tab's "Get this model" panel in words: whether the model is here, how much it needs, and how the
download goes (pure: from the engine's LocalStatus and the download job's events)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bertstudio.events import Event, Failed, Working
from bertstudio.jobs import Completed, Stopped
from bertstudio.models.download import LocalStatus, format_mb
from bertstudio.ui.views.progress import bar_html


@dataclass(frozen=True)
class DownloadView:
    """What the panel shows."""

    visible: bool  # only for a model that is not on this computer yet (or is being fetched)
    text: str
    bar: str
    running: bool


def plan_line(status: LocalStatus) -> str:
    """The plan's line about the model's files: 'downloaded' or 'needs 268 MB'."""
    if status.state in ("needed", "partial"):
        return f"{PLAN_LINE_START} {status.text()}: press **Get this model** above, once, while online."
    return f"{PLAN_LINE_START} {status.text()}."


PLAN_LINE_START = "**Model files:**"


def with_plan_line(plan: str, status: LocalStatus) -> str:
    """``plan`` with its model-files line replaced by the current one (after a download ended)."""
    lines = [line for line in (plan or "").split("\n\n") if not line.startswith(PLAN_LINE_START)]
    return "\n\n".join([*lines, plan_line(status)]) if plan else plan


def download_view(status: LocalStatus, events: Sequence[Event]) -> DownloadView:
    """The panel for a model whose state is ``status``, with the events of its latest download job (if any)."""
    working = [e for e in events if isinstance(e, Working)]
    ending = events[-1] if events and events[-1].terminal else None
    last = working[-1] if working else None
    if events and ending is None:
        if last is None or not last.total:
            return DownloadView(True, "Asking the Hugging Face Hub for the model's files…", bar_html(0), True)
        return DownloadView(True, f"{last.phase}: {format_mb(last.done)} of {format_mb(last.total)}. It can be "
                                  "stopped and resumed later; every file is checked against the Hub's checksum.",
                            bar_html(last.done / last.total), True)
    if status.state not in ("needed", "partial"):
        done = isinstance(ending, Completed)
        return DownloadView(done, "Downloaded and checked: ready to train." if done else "", "", False)
    text = (f"This model is not on this computer yet: it {status.text()} (a one-time download from the "
            "Hugging Face Hub, kept in its usual cache).")
    if isinstance(ending, Failed):
        text = f"Failed: {ending.text()}"
    elif isinstance(ending, Stopped):
        text = "Stopped; what arrived is kept: **Get this model** continues where it stopped."
    return DownloadView(True, text, "", False)
