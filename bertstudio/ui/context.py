"""What the tabs share: the page's state holders and the app-wide stores.

A tab's ``build(ctx)`` creates its own components, reads and writes these
states, and listens to their ``change`` events; tabs never reach into each
other's components, nor import each other: what two tabs share lives in the
engine, ``ui/common.py``, ``ui/views/`` or here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from bertstudio.jobs import JobRegistry
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.ui.common import TokenizerCache
from bertstudio.ui.predictors import PredictorCache
from bertstudio.ui.session import SessionStore


@dataclass
class AppContext:
    store: SessionStore  # app-wide: where workspaces live
    jobs: JobRegistry  # app-wide: every background job (training, benchmark, export, evaluate checks)
    predictors: PredictorCache  # app-wide: the models the Predict tab loaded
    tokenizers: TokenizerCache  # app-wide: the tokenizers that measure text lengths (Data tab)
    tabs: gr.Tabs
    workspace: gr.State  # session.Workspace | None, set when the page loads
    data: gr.State  # state.DataSelection | None, written by the Data tab
    data_file: gr.State  # str: path of the loaded file; changes only when a new file is loaded
    model: gr.State  # str: the chosen model (its tokenizer measures lengths in the Data tab)
    model_choice: gr.State  # state.ModelChoice, written by the Model tab
    run_dir: gr.State  # str | None: the finished run shown in Evaluate and Export
    session_loaded: Any  # the page-load event; tabs chain their own start-up with .then()
    limits: UsageLimits = NO_LIMITS  # app-wide: what a visitor may use (shown before anyone hits a limit)
    # state.SettingsRequest | None: settings the Runs tab asks the Model tab to show (None: an app without a Runs tab)
    settings_request: gr.State | None = None
