"""What the JSON files of run and model folders hold, typed, each read and written in one place.

* :class:`Summary`: a run's ``summary.json`` (``run_training`` and ``train()`` return it).
* :class:`Preprocessing`: a model folder's ``preprocessing.json``; training writes it, prediction and
  every export read it.
* :class:`ExportRecord`: an export folder's ``export.json``, with its :class:`ParityReport`;
  :func:`read_export` is how anything finds a finished export.
* :class:`RunStatus`: a run folder's ``status.json``; :func:`read_run_status` is how anything asks where a run
  stands (running, done, stopped, failed or interrupted).

Each is a pydantic model: ``write`` goes through :func:`bertstudio.runs.atomic_write_json`, and ``read``
validates, so a broken file or a field of the wrong type is a :class:`ModelError` that names the file and
the field instead of a traceback.  The keys are those earlier versions wrote, so their folders still read;
fields added since have defaults.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, Field, ValidationError, computed_field

# typing.Self exists from Python 3.11 only; typing_extensions comes with pydantic.
from typing_extensions import Self

from bertstudio.errors import ModelError
from bertstudio.runs import EXPORT_INFO_FILE, RunFolder, atomic_write_json, folder_bytes


def read_json(path: Path, hint: str) -> Any:
    """The parsed content of ``path``; a missing, unreadable or broken file is a ModelError with ``hint``."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ModelError(f"{path} is missing.", hint) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ModelError(f"{path} could not be read ({exc.strerror or exc}).", hint) from exc
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
                         hint) from exc


def field_problem(error: dict[str, Any]) -> str:
    """One pydantic error in plain words: '"temperature" is 'abc' (input should be a valid number ...)'."""
    where = ".".join(str(part) for part in error["loc"]) or "the file"
    if error["type"] == "missing":
        return f'"{where}" is missing'
    reason = error["msg"][:1].lower() + error["msg"][1:]
    found = repr(error["input"])
    return f'"{where}" is {found if len(found) <= 60 else found[:57] + "..."} ({reason})'


class JsonRecord(BaseModel):
    """A JSON file of a run or model folder, validated when read and written atomically."""

    model_config = ConfigDict(protected_namespaces=())
    FIX_HINT: ClassVar[str] = "Make the file again with BERT Studio."  # what to do when the file is unusable

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Self:
        raw = read_json(Path(path), cls.FIX_HINT)
        if not isinstance(raw, dict):
            raise ModelError(f"{path} holds a {type(raw).__name__}, not a JSON object.", cls.FIX_HINT)
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(field_problem(error) for error in exc.errors()[:3])
            raise ModelError(f"{path} cannot be used: {problems}.", cls.FIX_HINT) from None

    def to_dict(self, **kwargs: Any) -> dict[str, Any]:
        """Plain JSON values, as written to the file (NaN stays NaN, as ``json`` writes it)."""
        return self.model_dump(**kwargs)

    def write(self, path: str | os.PathLike[str]) -> None:
        atomic_write_json(Path(path), self.to_dict())


# --------------------------------------------------------------------------- summary.json


class ValidationScores(BaseModel):
    """The best checkpoint's figures on the validation split (the one training kept)."""

    accuracy: float | None = None
    macro_f1: float | None = None
    loss: float | None = None


class CalibrationFigures(BaseModel):
    """The temperature fitted on validation and the calibration error before and after it."""

    temperature: float
    ece: float
    ece_calibrated: float


class BlendFigures(BaseModel):
    """What validation said about blending (``bertstudio.evaluation.blend.BlendChoice`` as saved)."""

    weight: float = 1.0  # share of the fine-tuned model; 1.0 means the fine-tuned model alone
    # Typed so that a saved "False" (summaries written before numpy booleans were turned into bools) reads as False:
    # read as a plain dict, the string was true and runs that kept the fine-tuned model said they were blended.
    used: bool = False
    fine_tuned_f1: float | None = None
    simple_f1: float | None = None
    blend_f1: float | None = None
    win_share: float = 0.0
    reason: str = ""


class SimpleModelFigures(BaseModel):
    """The simple word-count model trained beside the run, against the fine-tuned model, on the evaluated rows
    (validation decides the blend; these are the honest figures)."""

    accuracy: float
    macro_f1: float
    validation_macro_f1: float
    fine_tuned_accuracy: float  # the fine-tuned model alone, whatever the run ships
    fine_tuned_macro_f1: float
    fit_seconds: float
    speedup: float | None = None  # how many times faster the simple model predicted the same rows
    blend: BlendFigures = Field(default_factory=BlendFigures)
    verdict: str = ""


# The figures `bertstudio train` prints as its last line.
HEADLINE_KEYS = ("accuracy", "macro_f1", "train_seconds", "tune_seconds", "best_epoch", "run_dir", "evaluated_on",
                 "tokens_per_second")


class Summary(JsonRecord):
    """A finished run's ``summary.json``: written last, so its presence marks the run as done.

    Read it with attributes (``summary.macro_f1``).  ``summary["macro_f1"]`` works too, as it did when
    ``train()`` returned a plain dict; see :meth:`__getitem__`.
    """

    # Written whole and last by the run (runs.atomic_write_text), so an unreadable one was damaged afterwards.
    FIX_HINT: ClassVar[str] = ("The run wrote it whole when it finished, so it was damaged since: put it back from a "
                               "copy of the run, or train the run again.")

    accuracy: float
    macro_f1: float
    evaluated_on: str = "test"  # "test", or "validation" when the data had no test split
    model: str = ""  # the base model's display name
    device: str = ""
    precision: str = ""
    run_dir: str = ""
    finished_at: str = ""  # "YYYY-MM-DD HH:MM:SS", local time
    label_names: list[str] = Field(default_factory=list)
    train_seconds: float | None = None
    tune_seconds: float = 0.0  # "tune for me" probe; 0 for runs from before it existed
    best_epoch: float | None = None
    best_step: int | None = None
    steps: int | None = None
    tokens_per_second: float | None = None
    samples_per_second: float | None = None
    validation: ValidationScores = Field(default_factory=ValidationScores)
    # classification_metrics() of the evaluated rows (per class, confusion matrix) from the probabilities the run
    # ships: temperature-scaled, blended when it blends (as eval.json's, which has more).
    metrics: dict[str, Any] = Field(default_factory=dict)
    calibration: CalibrationFigures | None = None  # None for runs from before calibration
    simple_model: SimpleModelFigures | None = None  # None when it was turned off, or for older runs
    # Stopped (by the person) before training was done: the model is the best validation checkpoint up to
    # ``steps``, evaluated like any other.
    stopped_early: bool = False
    # Ended by early stopping, before its planned steps: the validation score had stopped improving.
    early_stopping: bool = False

    def __getitem__(self, key: str) -> Any:
        """``summary["macro_f1"]``: the value as summary.json holds it (nested parts as plain dicts).

        Kept so scripts written when ``train()`` returned a dict keep working; new code reads attributes.
        """
        values = self.to_dict()
        if key not in values:
            raise KeyError(key)
        return values[key]

    def ending(self) -> str:
        """What the run kept, in one line: status.json's message, the CLI's last words, the Train tab's text."""
        f1 = self.validation.macro_f1
        # A percentage, as the app's prose writes every score (it read "macro-F1 0.81" beside "accuracy 80.0%").
        best = f"validation macro-F1 {f1:.1%} at step {self.best_step}" if f1 is not None else "no validation score"
        if self.stopped_early:
            return (f"Stopped early at step {self.steps}: the best model so far ({best}) was kept; evaluate or "
                    "export it.")
        if self.early_stopping:
            return (f"Done after {self.steps} steps, ended early because the validation score had stopped improving: "
                    f"the best model ({best}) was kept.")
        return f"Done after {self.steps} steps: the best model ({best}) was kept."

    def headline(self) -> dict[str, Any]:
        """The figures `bertstudio train` prints as its last JSON line."""
        values = self.to_dict()
        line = {key: values[key] for key in HEADLINE_KEYS}
        if self.simple_model is not None:
            line.update(simple_model_macro_f1=self.simple_model.macro_f1,
                        blended=self.simple_model.blend.used)
        return line


# --------------------------------------------------------------------------- preprocessing.json


class Preprocessing(JsonRecord):
    """What inference must repeat exactly as training did: a model folder's ``preprocessing.json``.

    Keys this version does not know are kept (``extra="allow"``), so an export copies the file unchanged.
    """

    model_config = ConfigDict(frozen=True, extra="allow", coerce_numbers_to_str=True, protected_namespaces=())
    FIX_HINT: ClassVar[str] = ("Fix the file (label_names: the classes in training order; temperature: a positive "
                               "number, 1.0 for none), or train the model again to write a new one.")

    label_names: list[str] = Field(min_length=1)
    max_length: int = Field(512, ge=1)  # 512: BERT's own limit, for a plain Hugging Face folder
    text_pair: bool = False
    temperature: float = Field(1.0, gt=0, allow_inf_nan=False)  # fitted on validation; 1.0 is no calibration
    # Share of the fine-tuned model's probabilities when blended with the simple word-count model saved beside
    # it (word_counts.json + .safetensors); 1.0: the fine-tuned model alone.
    blend_weight: float = Field(1.0, ge=0, le=1, allow_inf_nan=False)
    truncation: str = "longest_first"
    truncation_side: str = "right"
    lowercase: bool = False
    text_column: str | None = None
    text_pair_column: str | None = None
    casefold_labels: bool = False
    base_model: str | None = None
    bertstudio_version: str | None = None
    # --- long texts --- (bertstudio.data.long_texts; files without them cut at the head, as before)
    long_texts: Literal["head", "tail", "head_tail", "windows"] = "head"
    head_tokens: int | None = Field(None, ge=0)  # head_tail: tokens from the start (None: 128/510 of the room)
    window_stride: int | None = Field(None, ge=1)  # windows: tokens between window starts (None: half a window)
    window_aggregation: Literal["mean", "max"] = "mean"
    max_windows: int | None = Field(None, ge=1)  # windows: per text (None: the default, 8)
    # --- multi-label ---
    # "multi_label_classification": one sigmoid per label, and a label is predicted when its probability reaches
    # its threshold (tuned on validation; ``threshold`` for labels with too few validation examples).
    problem_type: Literal["single_label_classification", "multi_label_classification"] = "single_label_classification"
    thresholds: dict[str, float] = Field(default_factory=dict)
    threshold: float = Field(0.5, gt=0, lt=1, allow_inf_nan=False)
    # What tuning chose, in words, and the labels with too few validation examples for a threshold of their own:
    # evaluating again says it as training did (it only said "saved with the model").
    threshold_note: str = ""
    threshold_fallback: list[str] = Field(default_factory=list)
    label_separator: str | None = None
    label_columns: list[str] | None = None

    @property
    def multi_label(self) -> bool:
        return self.problem_type == "multi_label_classification"

    def threshold_vector(self) -> list[float]:
        """One decision threshold per label, in label order."""
        return [float(self.thresholds.get(name, self.threshold)) for name in self.label_names]
    # --- fine-tuning strategies (issue 20) ---
    # How the classifier read the text: "cls" (BERT's pooler), "cls_no_pooler" or "mean"; None: the model's own
    # (files written before it existed). The model's config.json carries it too, where the model class reads it.
    pooling: str | None = None
    lora_rank: int = 0  # > 0: trained with LoRA adapters of this rank, merged into the saved weights


# --------------------------------------------------------------------------- export.json


class ParityReport(JsonRecord):
    """How closely an export reproduces the PyTorch model on the same rows (``export.json``'s ``parity``)."""

    rows: int
    source: str = ""  # what the rows were: "48 test rows of the run", "10 given texts", ...
    max_abs_logit_diff: float = 0.0
    label_agreement: float  # share of rows with the same predicted label
    labelled_rows: int = 0
    reference_accuracy: float | None = None
    accuracy: float | None = None
    reference_macro_f1: float | None = None
    macro_f1: float | None = None
    # Added by the export that made the file:
    fp32_size_bytes: int | None = None  # INT8: the fp32 graph it was quantized from
    size_ratio: float | None = None  # INT8: its size over that graph's
    pipeline_label_agreement: float | None = None  # Hugging Face: transformers.pipeline against BERT Studio
    # --- multi-label ---
    max_abs_probability_diff: float | None = None  # largest difference of any label's sigmoid probability

    @computed_field
    @property
    def accuracy_change_points(self) -> float | None:
        if self.accuracy is None or self.reference_accuracy is None:
            return None
        return round(100 * (self.accuracy - self.reference_accuracy), 2)

    @computed_field
    @property
    def macro_f1_change_points(self) -> float | None:
        if self.macro_f1 is None or self.reference_macro_f1 is None:
            return None
        return round(100 * (self.macro_f1 - self.reference_macro_f1), 2)

    @property
    def checked_on(self) -> str:
        """What the check ran on, in words ("48 test rows of the run"; older records: "48 rows")."""
        return self.source or f"{self.rows:,} rows"

    def describe(self) -> str:
        text = f"labels agree on {self.label_agreement:.1%} of {self.checked_on}"
        if self.accuracy_change_points is not None:
            text += f"; accuracy change {self.accuracy_change_points:+.1f} points"
            text += f", macro-F1 change {self.macro_f1_change_points:+.1f} points"
        return text


class Quantization(BaseModel):
    """How an INT8 export was quantized."""

    weights: str  # "QInt8"
    per_channel: bool
    ops: list[str]  # the ONNX operators quantized
    graph: str  # "fused" (one attention kernel per layer) or "plain"
    fused_ops: dict[str, int] = Field(default_factory=dict)


class ExportRecord(JsonRecord):
    """An export folder's ``export.json``: what it holds and how its check against the trained model went."""

    FIX_HINT: ClassVar[str] = "Export this format again."

    format: str  # hf, onnx, onnx-int8 or torchscript
    file: str | None = None  # the model file in the folder; None: the whole folder is the model (hf)
    inputs: list[str] | None = None  # ONNX and TorchScript: the model's inputs, in order
    # SHA-256 of the model file as written (TorchScript: checked before loading, since a TorchScript file can
    # carry code; a file without a matching record is never loaded).
    sha256: str | None = None
    opset: int | None = None  # ONNX
    quantization: Quantization | None = None  # ONNX INT8
    parity: ParityReport
    warnings: list[str] = Field(default_factory=list)  # checks that failed, in plain words
    source: str = ""  # the model folder it was made from
    # SHA-256 of that model's weights (model.safetensors) when exported: what tells whose export a folder holds
    # (two runs exported with the same --out write the same folder; the path in ``source`` moves with the run).
    # None in exports made before it was recorded.
    source_sha256: str | None = None
    created: str = ""
    bertstudio_version: str | None = None


@dataclass
class ExportResult:
    """One finished export: its folder, its ``export.json`` and its size.

    ``seconds`` and ``hub_url`` are known only to the export that made it (0 and None when read from disk).
    """

    folder: Path
    record: ExportRecord
    size_bytes: int
    seconds: float = 0.0
    hub_url: str | None = None

    @property
    def format(self) -> str:
        return self.record.format

    @property
    def path(self) -> Path:
        """The model file (the folder, for hf)."""
        return self.folder / self.record.file if self.record.file else self.folder

    @property
    def parity(self) -> ParityReport:
        return self.record.parity

    @property
    def warnings(self) -> list[str]:
        return self.record.warnings

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "path": str(self.path), "folder": str(self.folder),
                "size_bytes": self.size_bytes, "parity": self.parity.to_dict(), "warnings": self.warnings,
                "seconds": round(self.seconds, 2), "hub_url": self.hub_url}


def read_export(folder: str | os.PathLike[str]) -> ExportResult | None:
    """The finished export in ``folder``, or None when there is none.

    An export is finished when its ``export.json`` reads and the model file it names exists; a broken
    ``export.json`` counts as no export (exporting that format again replaces it).
    """
    folder = Path(folder)
    try:
        record = ExportRecord.read(folder / EXPORT_INFO_FILE)
    except ModelError:
        return None
    model = folder / record.file if record.file else folder
    if not model.exists():
        return None
    size = model.stat().st_size if model.is_file() else folder_bytes(folder)
    return ExportResult(folder, record, size)


class ExportPlaces(JsonRecord):
    """A run's ``export_places.json``: the folder each format was last exported to, so prediction finds an
    export wherever ``bertstudio export RUN --out DIR`` put it."""

    FIX_HINT: ClassVar[str] = "Export the run again; the file is rewritten by every export."

    folders: dict[str, str] = Field(default_factory=dict)  # format -> absolute export folder


def read_export_places(run_dir: str | os.PathLike[str]) -> ExportPlaces:
    """Where the run's exports went; none recorded (or an unreadable file) reads as none."""
    try:
        return ExportPlaces.read(RunFolder(run_dir).export_places)
    except ModelError:
        return ExportPlaces()


def record_export_place(run_dir: str | os.PathLike[str], fmt: str, folder: str | os.PathLike[str]) -> None:
    """Note (atomically) that the run's ``fmt`` export now lives in ``folder``.

    Two exports of one run (to different ``--out`` folders, or the app's and a command's) may finish a format at
    the same moment: without the lock each read the file, added its own entry and wrote it back, and the later
    write dropped the other's entry (a test with two processes lost about half of 80). The lock is the operating
    system's (filelock: released when a killed process dies, so it never stays stuck)."""
    run = RunFolder(run_dir)
    with FileLock(run.export_places_lock):
        places = read_export_places(run_dir)
        places.folders[fmt] = str(Path(folder).resolve())
        places.write(run.export_places)


# --------------------------------------------------------------------------- status.json

RunState = Literal["running", "done", "stopped", "failed", "interrupted"]
ENDED_STATES: tuple[RunState, ...] = ("done", "stopped", "failed")


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (seconds since the epoch), or None when there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


class RunStatus(JsonRecord):
    """A run folder's ``status.json``: where the run stands, rewritten atomically as it goes.

    The training process writes ``running`` when it starts (again at each checkpoint, with the step), then
    exactly one of ``done`` / ``stopped`` / ``failed``, or ``interrupted`` when it is stopped from outside (Ctrl-C,
    SIGTERM, another process of the training gone).  A killed process (SIGKILL) writes nothing: :func:`read_run_status`
    reports ``interrupted`` for a run whose file still says ``running`` while the process that wrote it is gone (the
    pid alone could be re-used, so its start time is compared too).
    """

    FIX_HINT: ClassVar[str] = "The run's status file is damaged; BERT Studio rewrites it when the run is resumed."

    state: RunState
    step: int = 0  # the last optimizer step known done (updated at each checkpoint and at the end)
    checkpoint_step: int | None = None  # the step the latest checkpoint resumes from (None: no checkpoint)
    message: str = ""  # the ending in plain words: what was kept, why it failed
    updated_at: str = ""  # "YYYY-MM-DD HH:MM:SS", local time
    host: str = ""
    pid: int | None = None
    process_started: float | None = None

    @classmethod
    def now(cls, state: RunState, **values: Any) -> Self:
        """The status of the run this process is training, stamped with this process and the time."""
        pid = os.getpid()
        return cls(state=state, updated_at=time.strftime("%Y-%m-%d %H:%M:%S"), host=socket.gethostname(),
                   pid=pid, process_started=_process_start(pid), **values)

    @property
    def ended(self) -> bool:
        return self.state in ENDED_STATES

    @property
    def resumable(self) -> bool:
        """Interrupted (or failed) with a checkpoint to go on from."""
        return self.state in ("interrupted", "failed") and self.checkpoint_step is not None

    def writer_alive(self) -> bool:
        """False when the process that wrote this is gone from this machine (True when it cannot be told)."""
        if self.pid is None or self.host != socket.gethostname():
            return True
        started = _process_start(self.pid)
        if started is None:
            return False
        return self.process_started is None or abs(started - self.process_started) < 1.0


def read_run_status(run_dir: str | os.PathLike[str]) -> RunStatus:
    """Where the run in ``run_dir`` stands.

    ``running`` whose process is gone is ``interrupted``.  A run without a readable ``status.json`` (from
    before it existed, or damaged) is ``done`` when its summary and model are there, else ``interrupted``.
    """
    run = RunFolder(run_dir)
    try:
        status = RunStatus.read(run.status)
    except ModelError:
        return RunStatus(state="done" if run.is_complete else "interrupted")
    if status.state == "running" and not status.writer_alive():
        return status.model_copy(update={"state": "interrupted"})
    return status


def why_unfinished(run_dir: str | os.PathLike[str]) -> str | None:
    """Why the run in ``run_dir`` has no finished model, in plain words ("the run in runs/x was interrupted before
    it finished"); None for a run that ended with its model (:func:`ended_with_model`), even one whose files were
    damaged since (:func:`lost_model` says that: resume refuses a run that has ended)."""
    run = RunFolder(run_dir)
    status = read_run_status(run.path)
    if ended_with_model(run, status):
        return None
    if status.state == "running":
        return f"the run in {run.path} is still training (process {status.pid})"
    if status.state == "failed":
        return f"the run in {run.path} failed" + (f" ({status.message})" if status.message else "")
    return f"the run in {run.path} was interrupted before it finished"


def unfinished_hint(run_dir: str | os.PathLike[str]) -> str:
    """What to do about a run that has not finished: wait for it, or resume it (from its checkpoint's step, when
    status.json names one)."""
    status = read_run_status(run_dir)
    if status.state == "running":
        return "Wait for it to finish (or stop it to keep its best model so far)."
    start = (f" from step {status.checkpoint_step:,}" if status.checkpoint_step is not None
             else " (it saved no checkpoint, so it starts again from the beginning)")
    return (f"Resume it{start}: bertstudio train --resume {run_dir}, or the Train tab's Resume button; or train "
            "again.")


def ended_with_model(run: RunFolder, status: RunStatus) -> bool:
    """Whether the run ended with its model saved: done, or stopped early after its first validation check (then it
    kept its best model and wrote summary.json; stopped before it, it kept none)."""
    return status.state == "done" or (status.state == "stopped" and run.summary.is_file())


@dataclass(frozen=True)
class NoModel:
    """Why a run folder has no model to predict with, evaluate or export, and what to do: the one wording of
    predict, serve, evaluate, label-noise and export (each said it its own way, one of them wrongly)."""

    message: str
    hint: str
    unfinished: bool  # the run has not finished (wait or resume), rather than finished with its model gone since


def missing_model_file(run_dir: str | os.PathLike[str]) -> Path | None:
    """What is missing of the run's trained model: ``model/``, else its weights (``model/model.safetensors``);
    None when the weights are there."""
    run = RunFolder(run_dir)
    if not run.model.is_dir():
        return run.model
    return None if run.weights.is_file() else run.weights


def no_model(run_dir: str | os.PathLike[str]) -> NoModel | None:
    """Why the run in ``run_dir`` has no trained model to use; None when it has one.

    A finished run whose model (or summary) was deleted or moved since is :func:`lost_model`: never told to resume,
    which refuses a run that has ended.  An unfinished run without its model or summary is told to wait or resume."""
    lost = lost_model(run_dir)
    if lost is not None:
        return lost
    why = why_unfinished(run_dir)
    if why is not None and (missing_model_file(run_dir) is not None or not RunFolder(run_dir).summary.is_file()):
        return NoModel(f"No trained model yet: {why[:1].upper()}{why[1:]}.", unfinished_hint(run_dir), unfinished=True)
    return None


def lost_model(run_dir: str | os.PathLike[str]) -> NoModel | None:
    """A run that ended with its model (:func:`ended_with_model`) and no longer has it, or its summary.json, naming
    the file that is missing; None for any other run."""
    run = RunFolder(run_dir)
    if not ended_with_model(run, read_run_status(run.path)):
        return None
    missing = missing_model_file(run.path) or (None if run.summary.is_file() else run.summary)
    if missing is None:
        return None
    what = {run.model: "its model is", run.weights: "its model's weights are", run.summary: "its scores are"}[missing]
    shown = missing.relative_to(run.path).as_posix() + ("/" if missing == run.model else "")
    again = (f"train it again with its settings (bertstudio train --config {run.config}, or the Runs tab's Train "
             "again with these settings: a new run)" if run.config.is_file() else "train a new run")
    return NoModel(f"The run in {run.path} finished, but {what} missing ({shown}): deleted or moved since.",
                   f"Put {shown} back from a copy of the run, or {again}. A run that has ended cannot be resumed.",
                   unfinished=False)


# What to do about a run's damaged config.json: BERT Studio writes it whole (atomically), so it was damaged since.
RUN_SETTINGS_HINT = ("Put the run's config.json back from a copy of the run; without it the run cannot be evaluated, "
                     "resumed or trained again with its settings.")


def read_run_settings(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's ``config.json`` as saved: every setting and the reason for each automatic one.  Missing, broken or
    not a JSON object, it is a ModelError naming it, in the words ``TrainConfig.load`` refuses it with (evaluate
    and resume read it so)."""
    path = RunFolder(run_dir).config
    raw = read_json(path, RUN_SETTINGS_HINT)
    if not isinstance(raw, dict):
        raise ModelError(f"{path} holds a JSON {type(raw).__name__}, not settings.", RUN_SETTINGS_HINT)
    return raw

