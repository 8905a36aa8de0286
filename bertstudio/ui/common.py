"""Glue every tab shares: readable errors instead of tracebacks, and the app's cache of tokenizers."""

from __future__ import annotations

import functools
import logging
import threading
from typing import Any, Callable, TypeVar

import gradio as gr

from bertstudio.benchmark.job import BenchmarkJob
from bertstudio.errors import ModelError, UserError
from bertstudio.jobs import BENCHMARK, JobRegistry
from bertstudio.models.loading import load_tokenizer
from bertstudio.models.sources import availability, hub_reachable, resolve_model_source
from bertstudio.ui.session import Workspace, list_workspace_runs

logger = logging.getLogger("bertstudio.ui")
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Show a refusal (a :class:`UserError`: no data yet, a deleted run, an empty text) as a warning saying what to
    do, leaving the page as it was (:func:`refused`); show a bug as a short apology, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as refusal:
            return refused(refusal)
        except Exception as exc:  # noqa: BLE001 - the page must never show a traceback
            logger.exception("Unexpected error in %s", getattr(fn, "__name__", fn))
            raise gr.Error(f"Something unexpected went wrong: {type(exc).__name__}: {exc}. "
                           "This is likely a bug in BERT Studio; the details are in the server's log. "
                           "Reloading the page usually helps.", title="Sorry", print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def refused(refusal: UserError) -> Any:
    """A refusal as the Train tab shows one: a yellow toast saying what to do first, and every output left as it
    was (gr.skip). Raising gr.Error instead puts a red "Error" badge on each output, which stays after the toast
    has gone and can cover the text beneath it."""
    gr.Warning(str(refusal), title="Please check")
    return gr.skip()


def require_workspace(workspace: Workspace | None) -> Workspace:
    if workspace is None:
        raise UserError("The page is still starting up.", "Wait a second and try again.")
    return workspace


class TokenizerCache:
    """The models' own tokenizers, each loaded once (loading takes a moment); the app owns one."""

    def __init__(self, size: int = 4) -> None:
        self._load = functools.lru_cache(maxsize=size)(self._tokenizer)
        self._lock = threading.Lock()  # the app's warm-up and a first click load the same tokenizer once

    @staticmethod
    def _tokenizer(model: str):
        return load_tokenizer(resolve_model_source(model))

    def get(self, model: str):
        with self._lock:
            return self._load(model)


def ensure_model_obtainable(model: str) -> None:
    """Fail early, in the app's words, when the model needs a download that cannot happen."""

    source = resolve_model_source(model)
    if availability(source) == "download" and not hub_reachable():
        raise ModelError(f"{source.display_name} is not on this computer yet and needs a one-time download, "
                         "but huggingface.co cannot be reached.",
                         "Pick the bundled MiniLM model in the Model tab (it works offline), or connect to the "
                         "internet and try again.")


@friendly
def list_runs(workspace: Workspace | None, wanted: str | None, current: str | None) -> gr.Dropdown:
    """The run picker of the Evaluate, Export and Predict tabs: the app's current run if it is one of this
    workspace's, else the one already shown, else the newest."""
    choices = [(info.label, str(info.path)) for info in list_workspace_runs(require_workspace(workspace))]
    paths = [p for _, p in choices]
    value = next((p for p in (wanted, current) if p in paths), paths[0] if paths else None)
    return gr.Dropdown(choices=choices, value=value)


def benchmark_records(jobs: JobRegistry, workspace: Workspace) -> list[Any]:
    """What the Benchmark tab measured for this workspace (empty when it measured nothing)."""
    job = jobs.latest(workspace.id, BENCHMARK)
    return list(job.snapshot().records) if isinstance(job, BenchmarkJob) else []
