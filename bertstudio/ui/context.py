"""What the tabs share: the page's state holders and the app-wide stores.

A tab's ``build(ctx)`` creates its own components, reads and writes these
states, and listens to their ``change`` events; tabs never reach into each
other's components, nor import each other: what two tabs share lives in the
engine, ``ui/common.py``, ``ui/views/`` or here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from bertstudio.jobs import JobRegistry
from bertstudio.limits import NO_LIMITS, UsageLimits
from bertstudio.ui.common import TokenizerCache, require_workspace
from bertstudio.ui.predictors import PredictorCache
from bertstudio.ui.session import SessionStore, Workspace


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
    # app-wide: the page-load handler that opens a visitor's workspace from the request's cookie (None: a test app)
    open_session: Callable[[gr.Request], Workspace] | None = None

    def workspace_for(self, workspace: Workspace | None, request: gr.Request | None) -> Workspace:
        """The page's workspace. On a cold app the first click can arrive before the page's load event has set it
        (it was refused with "The page is still starting up" 2 times in 10 fresh starts): the workspace is then
        opened here from the same cookie, so that click is served."""
        if workspace is None and self.open_session is not None and request is not None:
            return self.open_session(request)
        return require_workspace(workspace)
