"""The Model tab's Get-this-model panel and plan line, from the engine's status and the download job's events."""

from __future__ import annotations

from pathlib import Path

from bertstudio.events import Failed, Working
from bertstudio.jobs import Completed, Stopped
from bertstudio.models.download import LocalStatus
from bertstudio.ui.views.downloads import download_view, plan_line, with_plan_line

NEEDED = LocalStatus("needed", 268_000_000)


def test_plan_line_says_downloaded_or_how_much_it_needs():
    assert plan_line(LocalStatus("downloaded")) == "**Model files:** downloaded."
    assert plan_line(NEEDED).startswith("**Model files:** needs 268 MB: press **Get this model**")
    assert "resumes" in plan_line(LocalStatus("partial", 120_000_000))
    assert plan_line(LocalStatus("bundled")) == "**Model files:** comes with BERT Studio."
    plan = "Trains 3 epochs.\n\n" + plan_line(NEEDED)
    assert with_plan_line(plan, LocalStatus("downloaded")) == "Trains 3 epochs.\n\n**Model files:** downloaded."


def test_panel_shows_size_then_progress_then_done():
    before = download_view(NEEDED, [])
    assert before.visible and not before.running and "needs 268 MB" in before.text and before.bar == ""
    asking = download_view(NEEDED, [Working(phase="Asking the Hub for the files of x", done=0, total=0)])
    assert asking.running and "Asking" in asking.text
    halfway = download_view(NEEDED, [Working(phase="Downloading model.safetensors", done=134_000_000,
                                             total=268_000_000)])
    assert halfway.running and 'aria-valuenow="50"' in halfway.bar
    assert "Downloading model.safetensors: 134 MB of 268 MB" in halfway.text
    done = download_view(LocalStatus("downloaded"), [Completed(value=Path("/cache/snap"))])
    assert done.visible and not done.running and done.text.startswith("Downloaded and checked")
    assert not download_view(LocalStatus("downloaded"), []).visible  # nothing to get, nothing shown
    assert not download_view(LocalStatus("bundled"), []).visible


def test_panel_says_what_went_wrong_and_what_to_do():
    offline = Failed(message="The model DistilBERT is not on this computer and cannot be downloaded: offline mode "
                             "is switched on (HF_HUB_OFFLINE=1).", hint="Use the bundled model instead.")
    shown = download_view(NEEDED, [offline])
    assert shown.text.startswith("Failed: The model DistilBERT") and "bundled model" in shown.text and not shown.running
    stopped = download_view(LocalStatus("partial", 100), [Stopped()])
    assert "continues where it stopped" in stopped.text
