"""The app: the tabs in order, the state they share, and how to launch it.

Adding a tab is one line in ``TABS``: a module with ``build(ctx: AppContext)``.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from bertstudio.config import DEFAULT_PRESET
from bertstudio.jobs import JobRegistry
from bertstudio.models.registry import DEFAULT_MODEL
from bertstudio.ui import (
    benchmark_tab,
    data_tab,
    evaluate_tab,
    export_tab,
    model_tab,
    predict_tab,
    runs_tab,
    train_tab,
)
from bertstudio.ui.common import TokenizerCache
from bertstudio.ui.context import AppContext
from bertstudio.ui.predictors import PredictorCache
from bertstudio.ui.session import SessionStore, Workspace
from bertstudio.ui.state import ModelChoice
from bertstudio.ui.views.settings import preset_settings

DEFAULT_DATA_DIR = Path("~/.bertstudio")

TABS: list[Callable[[AppContext], None]] = [
    data_tab.build,
    model_tab.build,
    train_tab.build,
    evaluate_tab.build,
    export_tab.build,
    predict_tab.build,
    benchmark_tab.build,
    runs_tab.build,
]

HEADER = """# 🧪 BERT Studio
Bring a spreadsheet of texts and labels, get a text classifier trained on this computer.
Go through the tabs from left to right; the defaults work without changing anything."""

CSS = """
.bs-progress {position: relative; height: 22px; border-radius: 11px; background: #e5e7eb; overflow: hidden;}
.bs-progress-fill {height: 100%; background: linear-gradient(90deg, #6366f1, #4f46e5); transition: width .4s;}
.bs-progress span {position: absolute; inset: 0; text-align: center; font-size: 13px; line-height: 22px;
                   color: #111827; font-weight: 600;}
#eval-headline h2 {margin-bottom: 0.2em;}
"""


def _theme() -> gr.themes.Base:
    # System fonts: the default theme fetches web fonts, which an offline machine cannot reach.
    return gr.themes.Soft(primary_hue="indigo", font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def _browser_secret(data_dir: Path) -> str:
    """A stable key for the session id kept in the browser, so it survives app restarts."""
    path = data_dir / "browser-secret"
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def build_app(data_dir: str | Path = DEFAULT_DATA_DIR) -> gr.Blocks:
    data_dir = Path(data_dir).expanduser().resolve()
    store, jobs, predictors = SessionStore(data_dir), JobRegistry(), PredictorCache()
    start_settings, _ = preset_settings(DEFAULT_PRESET)

    def open_session(session_id: str | None) -> tuple[str, Workspace]:
        workspace = store.open(session_id)
        return workspace.id, workspace

    with gr.Blocks(title="BERT Studio") as demo:
        gr.Markdown(HEADER)
        session_id = gr.BrowserState(None, storage_key="bertstudio-session", secret=_browser_secret(data_dir))
        workspace = gr.State(None)
        loaded = demo.load(open_session, session_id, [session_id, workspace])
        # States are created outside gr.Tabs: a State directly inside Tabs shows up as a phantom tab.
        shared = dict(data=gr.State(None), data_file=gr.State(""), model=gr.State(DEFAULT_MODEL),
                      model_choice=gr.State(ModelChoice(settings=start_settings)), run_dir=gr.State(None),
                      settings_request=gr.State(None))
        with gr.Tabs() as tabs:
            ctx = AppContext(store=store, jobs=jobs, predictors=predictors, tokenizers=TokenizerCache(), tabs=tabs,
                             workspace=workspace, session_loaded=loaded, **shared)
            for build_tab in TABS:
                build_tab(ctx)
    return demo


def launch_options(data_dir: str | Path = DEFAULT_DATA_DIR) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: look, and the one folder downloads may come from."""
    sessions = Path(data_dir).expanduser().resolve() / "sessions"
    return {"theme": _theme(), "css": CSS, "allowed_paths": [str(sessions)], "footer_links": []}
