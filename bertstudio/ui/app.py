"""The app: the tabs in order, the state they share, and how to launch it.

Adding a tab is one line in ``TABS``: a module with ``build(ctx: AppContext)``.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from pathlib import Path
from typing import Any, Callable

import gradio as gr
from starlette.middleware import Middleware

from bertstudio.config import DEFAULT_PRESET
from bertstudio.data.io import table_cache_root
from bertstudio.jobs import JobRegistry, app_limits
from bertstudio.leftovers import remove_leftovers
from bertstudio.limits import NO_LIMITS, UsageLimits
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
from bertstudio.ui.guard import (
    COOKIE,
    LOCAL_BODY_BYTES,
    SHARED_BODY_BYTES,
    UPLOAD_OVERHEAD_BYTES,
    SessionGuard,
    VisitorKeys,
)
from bertstudio.ui.login import SlowLogin
from bertstudio.ui.predictors import PredictorCache
from bertstudio.ui.session import SessionStore, Workspace
from bertstudio.ui.state import ModelChoice
from bertstudio.ui.views.settings import preset_settings

DEFAULT_DATA_DIR = Path("~/.bertstudio")
# On a shared app Gradio deletes the files in its cache (uploads, and the copies of files handed out) an hour
# after they were made, looking every ten minutes: without it five raw 10 MB uploads stayed on disk for good. An
# upload is copied into its workspace at once, and a download button makes its file again.
SHARED_CACHE_CLEANING = (600, 3600)
logger = logging.getLogger("bertstudio.ui")

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

HEADER = """# BERT Studio
Bring a spreadsheet of texts and labels, get a text classifier trained on this computer.
Go through the tabs from left to right; the defaults work without changing anything."""

SHARED_HEADER = """# BERT Studio: train a text classifier from a spreadsheet
A public demo: upload a file of texts and labels (or use the sample), train a small BERT model on this
Space's CPU, see how good it is, and download it. **Your data stays in this Space**: only your browser can see
your files (they are tied to a private cookie), and nothing is sent anywhere else.
Limits of this demo: {limits}. Trainings wait in line when someone else is training.
To lift the limits, run it on your own computer or duplicate the Space."""

CSS = """
.bs-progress {position: relative; height: 22px; border-radius: 11px; background: #e5e7eb; overflow: hidden;}
.bs-progress-fill {height: 100%; background: linear-gradient(90deg, #6366f1, #4f46e5); transition: width .4s;}
.bs-progress span {position: absolute; inset: 0; text-align: center; font-size: 13px; line-height: 22px;
                   color: #111827; font-weight: 600;}
#eval-headline h2 {margin-bottom: 0.2em;}
#data-status {min-height: 2.2em;}
/* Tables (every gr.Dataframe): a word or a number is never cut in two ("Sev|eri|ty", "1|7"). Text wraps between
   words only, and a table too wide for its box scrolls sideways, with a scrollbar that stays in sight. */
.table-wrap .text.wrap {word-break: normal; overflow-wrap: normal;}
.block:has(> .table-container), .table-wrap .virtual-table-viewport {scrollbar-width: auto;
                                                                     scrollbar-color: #9ca3af #f3f4f6;}
/* The tables sized to their content (the per-class table, the confusion matrix): the class names in the first
   column may wrap too, so that up to about 8 classes fit the width of a laptop's page. */
#per-class-table .sizing-body td, #confusion-table .sizing-body td {white-space: normal;}
@media (max-width: 720px) {
  /* A phone: a table whose columns are shares of its box (the check table, the error browser) gets the width it
     has on a laptop to share, and its box scrolls sideways, instead of columns a few letters wide. */
  .block:not(#per-class-table):not(#confusion-table) > .table-container .virtual-table-viewport {min-width: 1200px;}
  .block > .table-container, .block > .table-container .upload-container {overflow-x: visible;}
}
"""


def _theme() -> gr.themes.Base:
    # System fonts: the default theme fetches web fonts, which an offline machine cannot reach.
    return gr.themes.Soft(primary_hue="indigo", font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "monospace"])


def _browser_secret(data_dir: Path) -> str:
    """The server's key that turns a browser's cookie into its workspace id; kept, so workspaces survive
    app restarts. It never leaves the server."""
    path = data_dir / "browser-secret"
    if not path.is_file():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(24), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def header_markdown(limits: UsageLimits) -> str:
    """What the app is and, on a shared app, its limits before anyone hits one."""
    if not limits.limited:
        return HEADER
    return SHARED_HEADER.format(limits="; ".join(limits.summary_lines()))


def warm_up(tokenizers: TokenizerCache) -> None:
    """Import the data libraries and load the default model's tokenizer while the page opens. On a cold app the
    first "Use the sample data" spent about 12 s on exactly this (2 shared cores) with nothing on the screen;
    warmed, it takes about 2 s. A failure here only means the first click does the work itself."""
    try:
        import datasets  # noqa: F401  (the Data tab reads files through it)

        tokenizers.get(DEFAULT_MODEL)
    except Exception:  # noqa: BLE001 - warming up is an optimisation, never a reason to fail
        logger.warning("Warming up the Data tab failed; the first file load will be slower.", exc_info=True)


def stop_page_work(jobs: JobRegistry, keys: VisitorKeys, request: gr.Request) -> None:
    """A page closed (or reloaded): the work only it was waiting for stops (labelling a file), as nobody else can
    collect it."""
    owner = keys.workspace_id(request.cookies.get(COOKIE))
    if owner is not None and request.session_hash:
        jobs.stop_page(owner, request.session_hash)


def build_app(data_dir: str | Path = DEFAULT_DATA_DIR, limits: UsageLimits = NO_LIMITS, *,
              warm: bool = True) -> gr.Blocks:
    data_dir = Path(data_dir).expanduser().resolve()
    store = SessionStore(data_dir, limits, cache_dir=gr.utils.get_upload_folder())
    # runs/ and exports/ of every workspace, and the data cache's half-written cleaned tables: see leftovers.py
    remove_leftovers([*data_dir.glob("sessions/*/*"), table_cache_root()])
    minutes = limits.max_train_minutes or 10
    jobs = JobRegistry(app_limits(limits.training_slots, limits.heavy_slots, training_typical_s=minutes * 60))
    store.keep_clean(busy=jobs.active_workspaces)  # a shared app sweeps without waiting for page loads too
    predictors = PredictorCache()
    keys = VisitorKeys(_browser_secret(data_dir).encode("utf-8"))
    start_settings, _ = preset_settings(DEFAULT_PRESET)
    tokenizers = TokenizerCache()
    if warm:
        threading.Thread(target=warm_up, args=(tokenizers,), name="bertstudio-warm-up", daemon=True).start()

    def open_session(request: gr.Request) -> Workspace:
        # The workspace comes from the HttpOnly cookie the server set (see ui/guard.py), never from
        # anything the page sends: a made-up or stolen id cannot open another visitor's files.
        store.clean_up(busy=jobs.active_workspaces())
        return store.open(keys.workspace_id(request.cookies.get(COOKIE)))

    def close_page(request: gr.Request) -> None:
        stop_page_work(jobs, keys, request)

    cache_cleaning = SHARED_CACHE_CLEANING if limits.limited else None
    with gr.Blocks(title="BERT Studio", delete_cache=cache_cleaning) as demo:
        gr.Markdown(header_markdown(limits), elem_id="app-header")
        workspace = gr.State(None)
        loaded = demo.load(open_session, None, workspace)
        demo.unload(close_page)
        # States are created outside gr.Tabs: a State directly inside Tabs shows up as a phantom tab.
        shared = dict(data=gr.State(None), data_file=gr.State(""), model=gr.State(DEFAULT_MODEL),
                      model_choice=gr.State(ModelChoice(settings=start_settings)), run_dir=gr.State(None),
                      settings_request=gr.State(None))
        with gr.Tabs() as tabs:
            ctx = AppContext(store=store, jobs=jobs, predictors=predictors, tokenizers=tokenizers, tabs=tabs,
                             workspace=workspace, session_loaded=loaded, limits=limits, open_session=open_session,
                             **shared)
            for build_tab in TABS:
                build_tab(ctx)
    return demo


def launch_options(data_dir: str | Path = DEFAULT_DATA_DIR, limits: UsageLimits = NO_LIMITS,
                   auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """Keyword arguments for ``demo.launch``: look, the guard in front of every route (with its bounds on a
    request's size: an event's body of a few MB on a shared app, an upload of the upload limit), the upload limit,
    the login (slowed down after wrong passwords) and the one folder results are copied from.

    ``allowed_paths`` must hold the sessions folder: Gradio copies a file a handler returns into its cache
    only from there. The guard serves nothing from it except to its owner.
    """
    data_dir = Path(data_dir).expanduser().resolve()
    upload_bytes = None if limits.max_upload_mb is None else int(limits.max_upload_mb * 1e6) + UPLOAD_OVERHEAD_BYTES
    guard = Middleware(SessionGuard, keys=VisitorKeys(_browser_secret(data_dir).encode("utf-8")), data_dir=data_dir,
                       upload_dir=gr.utils.get_upload_folder(), secure_cookie=bool(os.environ.get("SPACE_ID")),
                       cookie_max_age_s=int((limits.session_hours or 24 * 365) * 3600),
                       max_body_bytes=SHARED_BODY_BYTES if limits.limited else LOCAL_BODY_BYTES,
                       max_upload_bytes=upload_bytes)
    options: dict[str, Any] = {"theme": _theme(), "css": CSS, "allowed_paths": [str(data_dir / "sessions")],
                               "footer_links": [], "app_kwargs": {"middleware": [guard]}}
    if limits.max_upload_mb is not None:
        options["max_file_size"] = int(limits.max_upload_mb * 1e6)
    if auth is not None:
        options["auth"] = SlowLogin({auth[0]: auth[1]}, base_delay_s=limits.login_delay_s).auth()
    return options
