"""How much one visitor may use: the limits of a shared (public) app, as one typed, validated settings object.

On a person's own computer nothing is limited. A public demo (``--demo``, or any Hugging Face Space, where
``SPACE_ID`` is set) starts from :data:`DEMO_LIMITS`; a settings file (JSON, the same field names) changes
any of them. The engine enforces the limits (rows, models and the tokens of a step when a training starts,
minutes while it runs); the app only states them before a person hits one. Every refusal names the limit and how
to lift it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bertstudio.errors import ConfigError, UserError, unknown_keys_error
from bertstudio.models.registry import find_variant, short_name_of

LIFT_HINT = ("These limits keep a shared demo usable for everyone. To lift them, run BERT Studio on your own "
             "computer (`python app.py`) or duplicate the Space and change its limits (docs/SPACES.md).")

# Small enough to train in minutes on a 2-vCPU Space (MiniLM ~22M, DistilBERT 66M parameters); BERT-base
# and larger take tens of minutes per epoch there and would hold the one training slot for everyone.
DEMO_MODELS = ("bundled-minilm", "distilbert-base-uncased")


class LimitExceeded(UserError):
    """A request goes past one of the app's usage limits."""


class UsageLimits(BaseModel):
    """The limits of one app; ``None`` means unlimited."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_upload_mb: float | None = Field(None, gt=0, description="Largest file a visitor may upload, in MB.")
    max_rows: int | None = Field(None, ge=10, description="Most rows (texts) one training may use, or one file "
                                                          "labelled in the Predict tab.")
    max_batch_tokens: int | None = Field(None, ge=512, description="Most tokens one training step may hold (batch "
                                                                   "size × maximum length): memory grows with them.")
    allowed_models: tuple[str, ...] | None = Field(None, description="Model keys a visitor may train.")
    max_train_minutes: float | None = Field(None, gt=0, description="Longest a training may run; it stops then.")
    max_benchmark_minutes: float | None = Field(None, gt=0, description="Longest a benchmark may run: one estimated "
                                                                        "longer is refused, one running stops then.")
    max_predict_minutes: float | None = Field(None, gt=0, description="Longest labelling a file (Predict tab) "
                                                                      "may run; it stops then.")
    sessions_disk_mb: float | None = Field(None, gt=0, description="All visitors' files (and the uploads on their "
                                                                    "way in) together, in MB; past it workspaces "
                                                                    "over their share go first, then the longest "
                                                                    "idle.")
    workspace_disk_mb: float | None = Field(None, gt=0, description="One visitor's files, in MB: new uploads, "
                                                                     "trainings, exports and labelled files are "
                                                                     "refused past it.")
    session_hours: float | None = Field(None, gt=0, description="A visitor's files are deleted after this "
                                                                "long without a visit.")
    training_slots: int = Field(1, ge=1, le=16, description="Trainings that run at once; more wait in line.")
    heavy_slots: int = Field(1, ge=1, le=16, description="Exports and benchmarks that run at once; more wait.")
    login_delay_s: float = Field(1.0, ge=0, le=30, description="Wait after a wrong password; doubles with each "
                                                               "further failure, up to 30 s.")

    @property
    def limited(self) -> bool:
        return any(v is not None for v in (self.max_upload_mb, self.max_rows, self.max_batch_tokens,
                                           self.allowed_models, self.max_train_minutes, self.max_benchmark_minutes,
                                           self.max_predict_minutes, self.sessions_disk_mb, self.workspace_disk_mb,
                                           self.session_hours))

    @property
    def own_models_allowed(self) -> bool:
        """Whether a visitor may name a model of their own (a folder or a Hugging Face id), not only a listed one."""
        return self.allowed_models is None

    def allows_model(self, key: str) -> bool:
        """Whether the registry model ``key`` may be trained (and timed) here."""
        return self.allowed_models is None or key in self.allowed_models

    def allowed_model_names(self) -> str:
        """'MiniLM-L6 and DistilBERT-base': the allowed models as a person reads them."""
        names = [short_name_of(key) for key in self.allowed_models or ()]
        return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"

    # --- checks the engine runs ---------------------------------------------------------------------
    def check_upload(self, size_bytes: int) -> None:
        if self.max_upload_mb is not None and size_bytes > self.max_upload_mb * 1e6:
            raise LimitExceeded(f"The file is {size_bytes / 1e6:.1f} MB; this demo accepts files up to "
                                f"{self.max_upload_mb:g} MB (upload size limit).",
                                f"Upload a sample of your data. {LIFT_HINT}")

    def check_rows(self, rows: int, *, exact: bool = True) -> None:
        """``exact`` False: ``rows`` is where counting stopped, past the limit (the rest of the file is never read)."""
        if self.max_rows is not None and rows > self.max_rows:
            held = f"{rows:,}" if exact else f"more than {self.max_rows:,}"
            raise LimitExceeded(f"Your data has {held} rows; this demo trains on at most {self.max_rows:,} "
                                "(row limit).", f"Keep a sample of at most {self.max_rows:,} rows. {LIFT_HINT}")

    def check_label_rows(self, rows: int) -> None:
        """Refuse a file to label past the row limit: ``rows`` were read so far and it holds more."""
        if self.max_rows is not None and rows > self.max_rows:
            raise LimitExceeded(f"The file has more than {self.max_rows:,} rows; this demo labels at most "
                                f"{self.max_rows:,} rows per file (row limit).",
                                f"Label a sample of at most {self.max_rows:,} rows. {LIFT_HINT}")

    def check_batch(self, batch_size: int | None, max_length: int | None) -> None:
        """Refuse a training step of more tokens than the machine's memory holds. A CPU that runs out of memory
        raises nothing the app could catch: the system stops the whole app, every visitor's work with it.

        ``None`` (automatic, decided from the data) passes here; the engine checks the decided values again.
        """
        if self.max_batch_tokens is None or batch_size is None or max_length is None:
            return
        tokens = batch_size * max_length
        if tokens <= self.max_batch_tokens:
            return
        fits = self.max_batch_tokens // max_length
        raise LimitExceeded(f"Batches of {batch_size:,} texts of up to {max_length} tokens hold {tokens:,} tokens "
                            f"per training step; this demo allows at most {self.max_batch_tokens:,}, such as "
                            f"{self.token_examples()} (memory limit).",
                            f"Set the batch size to {fits:,} or less in the Model tab, or lower the maximum length "
                            f"in the Data tab. {LIFT_HINT}")

    def token_examples(self) -> str:
        """'32 texts of 512 tokens or 64 of 256': batches the step limit allows, as a person picks them."""
        sizes = [(self.max_batch_tokens // length, length) for length in (512, 256)]
        return f"{sizes[0][0]:,} texts of {sizes[0][1]} tokens or {sizes[1][0]:,} of {sizes[1][1]}"

    def check_disk_share(self, used_bytes: int, adding_bytes: int = 0) -> None:
        """Refuse more files in a workspace that holds its share of the disk (``adding_bytes``: the new file)."""
        if self.workspace_disk_mb is None or used_bytes + adding_bytes <= self.workspace_disk_mb * 1e6:
            return
        with_new = f", {(used_bytes + adding_bytes) / 1e6:,.0f} MB with this file" if adding_bytes else ""
        raise LimitExceeded(f"Your files in this demo take {used_bytes / 1e6:,.0f} MB{with_new}; each visitor may "
                            f"keep up to {self.workspace_disk_mb:,g} MB (disk limit).",
                            "Delete runs you no longer need in the Runs tab, then try again. "
                            f"{LIFT_HINT}")

    def over_disk_share(self, used_bytes: int) -> bool:
        return self.workspace_disk_mb is not None and used_bytes > self.workspace_disk_mb * 1e6

    def check_model(self, model: str, use: str = "trained") -> None:
        """Refuse a model the demo does not allow, by its name alone: a folder or id is never read to decide.

        ``use`` is what the person asked for ("trained", "timed").
        """
        if self.allowed_models is None:
            return
        variant = find_variant(model)
        if variant is None:
            # Only the listed models can be allowed; a folder or Hub id may hold any size of model.
            raise LimitExceeded(f"Only {self.allowed_model_names()} can be {use} in this demo, not a model from a "
                                "folder or a Hugging Face id (model limit).", f"Pick one of them. {LIFT_HINT}")
        if variant.key not in self.allowed_models:
            raise LimitExceeded(f"{variant.display_name} cannot be {use} in this demo: only "
                                f"{self.allowed_model_names()} can (model limit: a shared CPU would be busy with a "
                                "larger model for a long time).", f"Pick one of them. {LIFT_HINT}")

    def check_benchmark(self, estimated_seconds: float) -> None:
        """Refuse a benchmark estimated to run past the cap: it would hold the machine and then be cut short."""
        if self.max_benchmark_minutes is not None and estimated_seconds > self.max_benchmark_minutes * 60:
            raise LimitExceeded(f"This benchmark would take about {estimated_seconds / 60:.0f} minutes; this demo "
                                f"runs benchmarks of at most {self.max_benchmark_minutes:g} minutes (time limit).",
                                "Tick fewer models, ways of running them or sizes (batch size 32 takes the longest). "
                                f"{LIFT_HINT}")

    def deadline(self, start: float | None = None) -> float | None:
        """The clock time a training started at ``start`` must stop by (None: no cap)."""
        return _deadline(self.max_train_minutes, start)

    def benchmark_deadline(self, start: float | None = None) -> float | None:
        """The clock time a benchmark started at ``start`` must stop by: the estimate can be wrong (None: no cap)."""
        return _deadline(self.max_benchmark_minutes, start)

    def predict_deadline(self, start: float | None = None) -> float | None:
        """The clock time labelling a file started at ``start`` must stop by (None: no cap)."""
        return _deadline(self.max_predict_minutes, start)

    def predict_cap_message(self) -> str:
        return (f"It reached this demo's limit of {self.max_predict_minutes:g} minutes per file (time limit). Label "
                f"a smaller file. {LIFT_HINT}")

    def time_cap_message(self, what: str = "It") -> str:
        """Why a training stopped; ``what`` names what reached the limit ("The 5 runs together")."""
        return (f"{what} reached this demo's limit of {self.max_train_minutes:g} minutes per training (time limit). "
                f"{LIFT_HINT}")

    def benchmark_cap_message(self) -> str:
        return (f"It reached this demo's limit of {self.max_benchmark_minutes:g} minutes per benchmark (time limit); "
                f"the measurements taken so far are shown. {LIFT_HINT}")

    # --- what the app shows before anyone hits a limit ----------------------------------------------
    def summary_lines(self) -> list[str]:
        lines = []
        if self.max_upload_mb is not None:
            lines.append(f"files up to {self.max_upload_mb:g} MB")
        if self.max_rows is not None:
            lines.append(f"at most {self.max_rows:,} rows")
        if self.max_batch_tokens is not None:
            lines.append(f"training steps of at most {self.max_batch_tokens:,} tokens (batch size × maximum length)")
        if self.allowed_models is not None:
            lines.append(f"models: {self.allowed_model_names()}")  # as the Model tab names them, not registry keys
        if self.max_train_minutes is not None:
            lines.append(f"trainings stop after {self.max_train_minutes:g} minutes")
        if self.max_benchmark_minutes is not None:
            lines.append(f"benchmarks of up to {self.max_benchmark_minutes:g} minutes")
        if self.workspace_disk_mb is not None:
            lines.append(f"up to {self.workspace_disk_mb:,g} MB of files each")
        if self.session_hours is not None:
            lines.append(f"your files are deleted {self.session_hours:g} hours after your last visit")
        return lines


def _deadline(minutes: float | None, start: float | None) -> float | None:
    if minutes is None:
        return None
    return (time.time() if start is None else start) + minutes * 60


NO_LIMITS = UsageLimits()
# A benchmark holds the whole machine (trainings wait behind it), so its cap is half a training's: the demo's
# quickest useful comparison (two models, four ways, batch 1) takes about 2 minutes on 2 quiet vCPUs.
# Tokens per step: DistilBERT (the largest demo model) training in fp32 with AdamW peaked at 4.4 GB for 32 x 256
# tokens and 6.4 GB for 32 x 512 (16,384) on 2 CPU cores; a free Space has 16 GB for the app, its other visitors'
# checks and labelling beside the one training. 16,384 is also the most the automatic settings ever pick on a CPU
# (batches of 32, texts of up to 512 tokens), so the defaults are never refused; 2,048 x 512 took 5.7 GB in 30 s
# and went on growing until the system stopped the app.
# A workspace's share: one DistilBERT run (265 MB) with all four exports zipped fits in 2,000 MB; ten visitors at
# their share fill sessions_disk_mb.
DEMO_LIMITS = UsageLimits(max_upload_mb=50, max_rows=20_000, max_batch_tokens=16_384, allowed_models=DEMO_MODELS,
                          max_train_minutes=10, max_benchmark_minutes=5, max_predict_minutes=10,
                          sessions_disk_mb=20_000, workspace_disk_mb=2_000, session_hours=24)


def load_limits(*, demo: bool = False, settings_file: str | Path | None = None,
                env: Mapping[str, str] | None = None) -> UsageLimits:
    """The limits: demo ones on a Space or with ``--demo``, then whatever the settings file changes.

    A settings file is a JSON object with any of :class:`UsageLimits`' fields (``null`` lifts one).
    """
    env = os.environ if env is None else env
    base = DEMO_LIMITS if demo or env.get("SPACE_ID") else NO_LIMITS
    settings_file = settings_file or env.get("BERTSTUDIO_SETTINGS") or None
    if not settings_file:
        return base
    path = Path(settings_file).expanduser()
    try:
        changes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"The settings file {path} could not be read: {exc}",
                          "Check that it exists and is a JSON object, such as {\"max_rows\": 50000}.") from None
    if not isinstance(changes, dict):
        raise ConfigError(f"The settings file {path} must hold a JSON object.", "Such as {\"max_rows\": 50000}.")
    unknown = [key for key in changes if key not in UsageLimits.model_fields]
    if unknown:  # pydantic said "max_row: Extra inputs are not permitted", with no word of max_rows
        raise unknown_keys_error(path, unknown, UsageLimits.model_fields, "limit",
                                 f"Fix or remove it: the limits are {', '.join(UsageLimits.model_fields)} "
                                 "(docs/SPACES.md).")
    try:
        return UsageLimits(**{**base.model_dump(), **changes})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"The settings file {path} has a problem: {problems}",
                          "Fix the value, or remove it to keep the default.") from None


def capped_stop(should_stop: Callable[[], bool], deadline: float | None,
                on_cap: Callable[[], Any]) -> Callable[[], bool]:
    """``should_stop`` that also says yes once ``deadline`` has passed (calling ``on_cap`` the first time)."""
    if deadline is None:
        return should_stop
    fired = []

    def stop() -> bool:
        if should_stop():
            return True
        if time.time() >= deadline:
            if not fired:
                fired.append(True)
                on_cap()
            return True
        return False

    return stop
