"""Scoring logits: metrics, calibration and the eval.json a run keeps.

The temperature is always fitted on the validation split, never on the rows
being evaluated, so the calibrated figures are honest.  It is saved in
``model/preprocessing.json`` so every later prediction applies it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bertstudio.data.findings import Finding
from bertstudio.errors import DataError, ModelError
from bertstudio.evaluation.baselines import BaselineResult
from bertstudio.evaluation.calibration import ReliabilityDiagram, TemperatureFit, fit_temperature, reliability_diagram
from bertstudio.evaluation.cautions import (
    ConfidenceVerdict,
    confidence_verdict,
    evaluation_findings,
    findings_to_json,
)
from bertstudio.evaluation.blend import blend_probabilities
from bertstudio.evaluation.metrics import classification_metrics, evaluation_metrics, log_loss, softmax
from bertstudio.predict.locate import refuse_a_data_file
from bertstudio.results import Preprocessing, no_model, read_json
from bertstudio.runs import PREPROCESSING_FILE, RunFolder, atomic_write_json

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


SAME_ROWS_NOTE = ("These are validation rows, the same the temperature was fitted on, so the calibrated "
                  "figures are optimistic; a test split gives honest ones.")


@dataclass
class FineTunedAlone:
    """A blended run's fine-tuned model without the simple word-count model, on the same rows: what the blend
    adds, labelled as not what the run ships (its probabilities temperature-scaled, as inside the blend)."""

    accuracy: float
    macro_f1: float
    log_loss: float
    ece: float

    def to_dict(self) -> dict[str, Any]:
        return {"model": "the fine-tuned model alone (not what the run ships)", **asdict(self)}


@dataclass
class EvalReport:
    """A run's scores on one set of rows: the model the run ships (the blend with the simple word-count model when
    the run kept it), with the probabilities predict gives (temperature-scaled), and before temperature scaling."""

    evaluated_on: str
    # evaluation_metrics() of the probabilities the run ships: temperature-scaled, blended when blended (so
    # ``loss``/``log_loss`` mean what summary.json's metrics.loss means)
    metrics: dict[str, Any]
    calibration: TemperatureFit  # fitted on the validation split
    reliability: ReliabilityDiagram  # before temperature scaling (the same blend of the fine-tuned model at T = 1)
    reliability_calibrated: ReliabilityDiagram  # the probabilities the run ships
    log_loss_calibrated: float  # the same as metrics["log_loss"]; kept under this name for older readers
    log_loss_uncalibrated: float = float("nan")
    blend_weight: float = 1.0  # share of the fine-tuned model in what the run ships; 1.0: the fine-tuned model alone
    fine_tuned_alone: FineTunedAlone | None = None  # blended runs only
    baselines: list[BaselineResult] = field(default_factory=list)
    path: Path | None = None
    # How the scored file was read: the columns used when not the training's, labels read as the model spells them
    notes: list[Finding] = field(default_factory=list)
    # What to know before trusting the scores (cautions.evaluation_findings): a class never predicted, rough scores
    findings: list[Finding] = field(default_factory=list)
    # Can the probabilities predict gives be taken at their word here, judged against chance (the chart's verdict)
    confidence: ConfidenceVerdict | None = None

    @property
    def temperature(self) -> float:
        return self.calibration.temperature

    @property
    def scored_model(self) -> str:
        """What was scored, in words: the reader of eval.json or the console must not guess."""
        # With T kept at 1 the probabilities are the model's own: "temperature-scaled" beside "kept at 1" read as if
        # a fit the note had just refused was applied anyway.
        probabilities = "temperature-scaled probabilities" if self.calibration.applied else \
            "probabilities without temperature scaling"
        if self.blend_weight >= 1:
            return f"the fine-tuned model ({probabilities}, as predict gives them)"
        return (f"the blend the run ships: {self.blend_weight:.0%} the fine-tuned model's {probabilities} plus "
                f"{1 - self.blend_weight:.0%} the simple word-count model's, as predict gives them")

    def headline(self) -> dict[str, Any]:
        """The figures a person reads first (the CLI's last line)."""
        out = {k: self.metrics[k] for k in ("accuracy", "macro_f1", "log_loss")}
        out.update(ece=self.reliability.ece, ece_calibrated=self.reliability_calibrated.ece,
                   temperature=self.temperature, rows=self.metrics["rows"], evaluated_on=self.evaluated_on,
                   blend_weight=self.blend_weight)
        if self.fine_tuned_alone is not None:
            out["fine_tuned_alone_macro_f1"] = self.fine_tuned_alone.macro_f1
        if self.baselines:
            out["baselines_macro_f1"] = {b.name: b.macro_f1 for b in self.baselines}
        if self.path is not None:
            out["eval_file"] = str(self.path)
        return out

    def to_dict(self) -> dict[str, Any]:
        """The content of eval.json."""
        payload = {"evaluated_on": self.evaluated_on, "scored_model": self.scored_model,
                   "blend_weight": self.blend_weight, **self.metrics,
                   "log_loss_calibrated": self.log_loss_calibrated,
                   "log_loss_uncalibrated": self.log_loss_uncalibrated,
                   "ece": self.reliability.ece, "ece_calibrated": self.reliability_calibrated.ece,
                   "temperature": self.temperature, "calibration": self.calibration.to_dict(),
                   "reliability": self.reliability.to_dict(),
                   "reliability_calibrated": self.reliability_calibrated.to_dict(),
                   "created_at": time.strftime("%Y-%m-%d %H:%M:%S")}
        if self.fine_tuned_alone is not None:
            payload["fine_tuned_alone"] = self.fine_tuned_alone.to_dict()
        if self.baselines:
            payload["baselines"] = [b.to_dict() for b in self.baselines]
        if self.notes:
            payload["notes"] = [note.message for note in self.notes]
        payload["findings"] = findings_to_json(self.findings)  # always: [] says there was nothing to warn about
        if self.confidence is not None:
            payload["confidence_verdict"] = self.confidence.to_dict()
        return payload


def shipped(fine_tuned: np.ndarray, simple: np.ndarray | None, blend_weight: float) -> np.ndarray:
    """What the run ships from the fine-tuned model's probabilities: blended with the simple model's when the run
    kept the blend (the engine's one blending rule, as predict applies it), else as they are."""
    if simple is None or blend_weight >= 1:
        return fine_tuned
    return blend_probabilities(fine_tuned, simple, blend_weight)


def fine_tuned_alone(y: np.ndarray, calibrated: np.ndarray, label_names: Sequence[str]) -> FineTunedAlone:
    metrics = classification_metrics(y, calibrated, label_names)
    return FineTunedAlone(accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"], log_loss=log_loss(y, calibrated),
                          ece=reliability_diagram(calibrated, y).ece)


def build_report(logits: np.ndarray, labels: Sequence[int], label_names: Sequence[str], calibration: TemperatureFit,
                 *, evaluated_on: str, simple_probs: np.ndarray | None = None,
                 blend_weight: float = 1.0) -> EvalReport:
    """All figures for ``logits`` against ``labels``, with a temperature fitted elsewhere (pure).

    ``simple_probs`` and ``blend_weight``: a blended run's simple word-count model on the same rows and the share of
    the fine-tuned model (preprocessing.json's), so the figures are those of the model the run ships.
    """
    y = np.asarray(labels, dtype=np.int64)
    if evaluated_on == "validation":  # no test rows: the temperature was fitted on the very rows scored here
        calibration = replace(calibration, note=f"{calibration.note} {SAME_ROWS_NOTE}".strip())
    blended = simple_probs is not None and blend_weight < 1
    weight = blend_weight if blended else 1.0
    calibrated_alone = softmax(logits, calibration.temperature)
    before = shipped(softmax(logits), simple_probs, weight)
    after = shipped(calibrated_alone, simple_probs, weight)
    metrics = evaluation_metrics(y, after, label_names)
    return EvalReport(evaluated_on=evaluated_on, metrics=metrics, findings=evaluation_findings(metrics, evaluated_on),
                      confidence=confidence_verdict(after, y, evaluated_on),
                      calibration=calibration, reliability=reliability_diagram(before, y),
                      reliability_calibrated=reliability_diagram(after, y),
                      log_loss_calibrated=log_loss(y, after), log_loss_uncalibrated=log_loss(y, before),
                      blend_weight=weight,
                      fine_tuned_alone=fine_tuned_alone(y, calibrated_alone, label_names) if blended else None)


def check_run_folder(run_dir: Path) -> None:
    if run_dir.is_file():
        refuse_a_data_file(run_dir)  # the data file given where the run is asked for: named as such
    run = RunFolder(run_dir)
    missing = [path.name for path in (run.config, run.summary, run.model) if not path.exists()]
    problem = no_model(run_dir) if run.config.is_file() else None
    if problem is not None:  # a run killed, failed or still going, or whose model was deleted since
        raise DataError(problem.message, problem.hint)
    if not run_dir.is_dir() or missing:
        raise DataError(f"{run_dir} is not a finished training run (missing: {', '.join(missing) or 'the folder'}).",
                        "Point to a run folder made by `bertstudio train`; it holds config.json, summary.json "
                        "and model/.")


def read_preprocessing(run_dir: Path) -> Preprocessing:
    path = RunFolder(run_dir).preprocessing
    if not path.is_file():
        raise ModelError(f"The run's model has no {PREPROCESSING_FILE}.", "Train the run again with this version.")
    return Preprocessing.read(path)


def save_temperature(run_dir: Path, temperature: float) -> None:
    """Record the temperature where inference reads it; every other setting stays as it was."""
    prep = read_preprocessing(run_dir)
    prep.model_copy(update={"temperature": float(temperature)}).write(RunFolder(run_dir).preprocessing)


def model_fingerprint(run_dir: Path) -> str:
    """Size and modification time of the weights: changes whenever the model is saved again."""
    for name in WEIGHT_FILES:
        path = RunFolder(run_dir).model / name
        if path.is_file():
            stat = path.stat()
            return f"{name}:{stat.st_size}:{stat.st_mtime_ns}"
    return "none"


def save_validation_logits(run_dir: Path, logits: np.ndarray, labels: Sequence[int],
                           label_names: Sequence[str]) -> None:
    """Keep the validation logits, so later evaluations can refit the temperature without the data."""
    np.savez(RunFolder(run_dir).validation_logits, logits=np.asarray(logits, dtype=np.float32),
             labels=np.asarray(labels, dtype=np.int64), label_names=np.asarray(list(label_names)),
             fingerprint=np.asarray(model_fingerprint(run_dir)))


def load_validation_logits(run_dir: Path, label_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """Saved validation (logits, labels) when they belong to the model now in the folder."""
    path = RunFolder(run_dir).validation_logits
    if not path.is_file():
        return None
    with np.load(path) as saved:
        if list(saved["label_names"]) != list(label_names) or str(saved["fingerprint"]) != model_fingerprint(run_dir):
            return None
        return saved["logits"], saved["labels"]


def read_eval(run_dir: str | Path, data: str | Path | None = None) -> dict[str, Any] | None:
    """The saved eval.json of a run (or eval-<file name>.json of an evaluation on ``data``), if any."""
    path = RunFolder(run_dir).eval_on(data)
    return read_json(path, "Evaluate the run again to write a new one.") if path.is_file() else None


def write_report(report: EvalReport, path: Path) -> EvalReport:
    atomic_write_json(path, report.to_dict())
    report.path = path
    return report


def calibrate_run(run_dir: str | Path, *, val_logits: np.ndarray, val_labels: Sequence[int],
                  label_names: Sequence[str]) -> TemperatureFit:
    """After training: fit the temperature on validation, save it and the validation logits (later evaluations
    refit from them, so ``bertstudio evaluate`` finds the same temperature).

    Call it once the model folder is saved (the temperature goes into its preprocessing.json).
    """
    run_dir = Path(run_dir)
    save_validation_logits(run_dir, val_logits, val_labels, label_names)
    calibration = fit_temperature(val_logits, val_labels)
    save_temperature(run_dir, calibration.temperature)
    return calibration


def finalize_run(run_dir: str | Path, calibration: TemperatureFit, *, test_logits: np.ndarray,
                 test_labels: Sequence[int], label_names: Sequence[str], evaluated_on: str = "test",
                 simple_probs: np.ndarray | None = None, blend_weight: float = 1.0) -> EvalReport:
    """After training, once the run knows what it ships: write eval.json as ``bertstudio evaluate RUN`` writes it.

    ``simple_probs`` and ``blend_weight``: a blended run's simple word-count model on the evaluated rows and the
    fine-tuned model's share (see :func:`build_report`). Written before the blend was chosen, eval.json and the
    summary's calibration figures described the fine-tuned model alone beside the blend's accuracy.
    """
    report = build_report(test_logits, test_labels, label_names, calibration, evaluated_on=evaluated_on,
                          simple_probs=simple_probs, blend_weight=blend_weight)
    return write_report(report, RunFolder(run_dir).eval)
