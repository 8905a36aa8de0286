"""``export_run``: a trained model as Hugging Face, ONNX, ONNX INT8 and TorchScript folders, each checked.

Every format lands in its own self-contained folder ``OUT/<format>/`` (model file,
tokenizer, ``preprocessing.json``, ``config.json``, ``export.json`` with the checks,
and a ``README.md`` model card), built under a temporary name and renamed into
place: a failed export never leaves a folder that looks finished.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from bertstudio import __version__
from bertstudio.errors import ConfigError
from bertstudio.export.card import card_facts, describe_export, model_card, pipeline_advice, run_records
from bertstudio.export.hf import export_hf, pipeline_labels, save_tokenizer, set_label_maps
from bertstudio.export.hf import push_to_hub as push
from bertstudio.export.multilabel import pipeline_label_sets
from bertstudio.export.int8 import write_int8
from bertstudio.export.onnx import INT8_FILE, ONNX_FILE, OPSET, export_onnx
from bertstudio.export.parity import ValidationRows, compare_logits, validation_rows
from bertstudio.export.torchscript import TORCHSCRIPT_FILE, export_torchscript
from bertstudio.fingerprint import file_fingerprint
from bertstudio.models.word_counts import INFO_FILE as WORD_COUNTS_INFO
from bertstudio.models.word_counts import WEIGHTS_FILE as WORD_COUNTS_WEIGHTS
from bertstudio.predict.backends import OnnxBackend, TorchBackend, TorchScriptBackend, model_input_names
from bertstudio.predict.locate import ModelLocation, locate_model, owner_name
from bertstudio.predict.predictor import Predictor, load_predictor
from bertstudio.results import (
    ExportRecord,
    ExportResult,
    ParityReport,
    Preprocessing,
    Quantization,
    read_export,
    record_export_place,
)
from bertstudio.runs import (
    EXPORT_INFO_FILE,
    PREPROCESSING_FILE,
    atomic_directory,
    atomic_write_text,
    folder_bytes,
)

EXPORT_FORMATS = ("hf", "onnx", "onnx-int8", "torchscript")
FORMAT_CHOICES = EXPORT_FORMATS + ("all",)
# hf last, so its model card can list how the other formats did.
EXPORT_ORDER = ("onnx", "onnx-int8", "torchscript", "hf")
MAX_FP32_LOGIT_DIFF = 1e-3
MAX_INT8_DROP_POINTS = 1.0
MIN_INT8_AGREEMENT = 0.99  # used only when no labelled rows are available
DEFAULT_VALIDATION_ROWS = 500


@dataclass
class ExportSource:
    """The trained model and what every export is checked against."""

    location: ModelLocation
    prep: Preprocessing
    tokenizer: Any
    model: Any  # the PyTorch model, fp32, eval mode
    rows: ValidationRows
    reference_logits: np.ndarray

    def parity(self, backend) -> ParityReport:
        predictor = Predictor(backend, self.tokenizer, self.prep, self.location)
        logits = predictor.logits(self.rows.texts, self.rows.pairs)
        return compare_logits(self.reference_logits, logits, self.rows.labels, self.prep.label_names,
                              self.rows.source,
                              thresholds=self.prep.threshold_vector() if self.prep.multi_label else None)


def open_source(model_dir: str | Path, *, texts: Sequence[str] | None = None,
                max_rows: int | None = DEFAULT_VALIDATION_ROWS) -> ExportSource:
    reference = load_predictor(model_dir, backend="torch")
    prep, location = reference.prep, reference.location
    rows = validation_rows(location.run_dir, prep.label_names, prep.text_pair, texts=texts, max_rows=max_rows,
                           multi_label=prep.multi_label)
    return ExportSource(location, prep, reference.tokenizer, reference.backend.model, rows,
                        reference.logits(rows.texts, rows.pairs))


# --------------------------------------------------------------------------- checks


def fp32_warnings(title: str, report: ParityReport) -> list[str]:
    if report.max_abs_logit_diff > MAX_FP32_LOGIT_DIFF:
        return [f"{title} logits differ from PyTorch by up to {report.max_abs_logit_diff:.2g} (expected below "
                f"{MAX_FP32_LOGIT_DIFF}); compare a few predictions before relying on this export."]
    return []


def int8_warnings(report: ParityReport) -> list[str]:
    if report.accuracy_change_points is not None:
        drops = {"accuracy": report.accuracy_change_points, "macro-F1": report.macro_f1_change_points}
        worst = {k: -v for k, v in drops.items() if v is not None and -v > MAX_INT8_DROP_POINTS}
        if worst:
            lost = " and ".join(f"{v:.1f} points of {k}" for k, v in worst.items())
            return [f"The INT8 model loses {lost} on {report.labelled_rows:,} test rows; use the fp32 ONNX "
                    "export where accuracy matters more than size."]
        return []
    if report.label_agreement < MIN_INT8_AGREEMENT:
        return [f"The INT8 model predicts a different label than the full model on "
                f"{1 - report.label_agreement:.1%} of {report.rows:,} rows (accuracy could not be measured: "
                "no labelled rows); check it on your own data."]
    return []


# --------------------------------------------------------------------------- builders


# Each builder writes its model file into the temporary folder, checks it and describes it as export.json
# will (export_one adds where it came from and when).


def _build_onnx(source: ExportSource, tmp: Path, done: list[ExportResult]) -> ExportRecord:
    inputs = export_onnx(source.model, source.tokenizer, source.prep, tmp / ONNX_FILE)
    report = source.parity(OnnxBackend(tmp / ONNX_FILE, "onnx"))
    return ExportRecord(format="onnx", file=ONNX_FILE, inputs=inputs, opset=OPSET, parity=report,
                        warnings=fp32_warnings("ONNX", report))


def _build_int8(source: ExportSource, tmp: Path, done: list[ExportResult]) -> ExportRecord:
    build = write_int8(source.model, source.tokenizer, source.prep, tmp / INT8_FILE)
    report = source.parity(OnnxBackend(tmp / INT8_FILE, "onnx-int8"))
    report.fp32_size_bytes = build.fp32_size_bytes
    report.size_ratio = (tmp / INT8_FILE).stat().st_size / build.fp32_size_bytes
    quantization = Quantization(weights="QInt8", per_channel=True, ops=build.quantized_ops, graph=build.graph,
                                fused_ops=build.fused_ops)
    return ExportRecord(format="onnx-int8", file=INT8_FILE, inputs=list(model_input_names(source.model)),
                        opset=OPSET, quantization=quantization, parity=report, warnings=int8_warnings(report))


def _build_torchscript(source: ExportSource, tmp: Path, done: list[ExportResult]) -> ExportRecord:
    inputs = export_torchscript(source.model, source.tokenizer, source.prep, tmp / TORCHSCRIPT_FILE)
    # The digest of the file just written: prediction loads this TorchScript file only while it still matches.
    sha256 = file_fingerprint(tmp / TORCHSCRIPT_FILE).sha256
    report = source.parity(TorchScriptBackend(tmp / TORCHSCRIPT_FILE, inputs, sha256))
    return ExportRecord(format="torchscript", file=TORCHSCRIPT_FILE, inputs=inputs, sha256=sha256, parity=report,
                        warnings=fp32_warnings("TorchScript", report))


def _build_hf(source: ExportSource, tmp: Path, done: list[ExportResult]) -> ExportRecord:
    export_hf(source.model, source.tokenizer, source.prep, tmp)
    source.prep.write(tmp / PREPROCESSING_FILE)
    backend = TorchBackend.from_folder(tmp, tmp / "model.safetensors")
    report = source.parity(backend)
    copy_simple_model(source, tmp)
    # transformers.pipeline runs the transformer alone, so compare it with ours without the blend.
    logits = Predictor(backend, source.tokenizer, source.prep, source.location).logits(source.rows.texts,
                                                                                      source.rows.pairs)
    if source.prep.multi_label:  # transformers.pipeline(top_k=None) scores every label with a sigmoid
        ours, theirs = pipeline_label_sets(tmp, source.prep, logits, source.rows.texts, source.rows.pairs)
    else:
        ours = [source.prep.label_names[i] for i in logits.argmax(axis=1)]
        theirs = pipeline_labels(tmp, source.rows.texts, source.rows.pairs)
    report.pipeline_label_agreement = float(np.mean([a == b for a, b in zip(ours, theirs)])) if ours else 1.0
    notes = fp32_warnings("The Hugging Face export's", report)
    if report.pipeline_label_agreement < 1.0:
        notes.append(f"transformers.pipeline predicts a different label than BERT Studio on "
                     f"{1 - report.pipeline_label_agreement:.1%} of rows; " + pipeline_advice(source.prep))
    return ExportRecord(format="hf", parity=report, warnings=notes)


BUILDERS: dict[str, Callable[[ExportSource, Path, list[ExportResult]], ExportRecord]] = {
    "hf": _build_hf, "onnx": _build_onnx, "onnx-int8": _build_int8, "torchscript": _build_torchscript}


# --------------------------------------------------------------------------- folders


def write_support_files(source: ExportSource, tmp: Path) -> None:
    """Tokenizer, label config and preprocessing, so the folder predicts on its own."""

    save_tokenizer(source.tokenizer, tmp, source.prep)
    set_label_maps(source.model, source.prep.label_names)
    source.model.config.to_json_file(str(tmp / "config.json"))
    source.prep.write(tmp / PREPROCESSING_FILE)
    copy_simple_model(source, tmp)


def copy_simple_model(source: ExportSource, tmp: Path) -> None:
    """A blended run's simple word-count model goes into every export, so each predicts as the run does."""
    if source.prep.blend_weight < 1:
        for name in (WORD_COUNTS_INFO, WORD_COUNTS_WEIGHTS):
            shutil.copy2(source.location.folder / name, tmp / name)


def readable_by_others(folder: Path) -> None:
    """Temporary files are created private (0600); an export is meant to be copied and served, so give it
    the permissions any new file gets (the umask decides)."""
    import os

    mask = os.umask(0)
    os.umask(mask)
    folder.chmod(0o777 & ~mask)
    for file in folder.rglob("*"):
        file.chmod((0o777 if file.is_dir() else 0o666) & ~mask)


def export_one(source: ExportSource, fmt: str, out_dir: Path, done: list[ExportResult],
               hub_repo: str | None = None) -> ExportResult:
    """Build one format in a temporary folder, check it, describe it, then rename it into place."""
    target = Path(out_dir) / fmt
    start = time.perf_counter()
    results: list[ExportResult] = []

    def fill(tmp: Path) -> None:
        built = BUILDERS[fmt](source, tmp, done)
        if fmt != "hf":
            write_support_files(source, tmp)
        record = built.model_copy(update={"source": str(source.location.folder.resolve()),
                                          "source_sha256": source.location.weights_sha256,
                                          "bertstudio_version": __version__,
                                          "created": time.strftime("%Y-%m-%d %H:%M:%S")})
        size = (tmp / record.file).stat().st_size if record.file else folder_bytes(tmp)
        result = ExportResult(target, record, size, time.perf_counter() - start)
        record.write(tmp / EXPORT_INFO_FILE)
        facts = card_facts(source.location, source.prep)
        if hub_repo and fmt == "hf":
            facts.reference = hub_repo
        shown = [*done, result] if fmt == "hf" else [result]
        facts.checks = [describe_export(r, relative_to=Path(out_dir)) for r in shown]
        facts.warnings = [w for r in shown for w in r.warnings]
        atomic_write_text(tmp / "README.md", model_card(facts, fmt))
        results.append(result)
        readable_by_others(tmp)

    atomic_directory(target, fill)
    result = results[0]
    result.seconds = time.perf_counter() - start
    return result


def check_not_another_models_export(location: ModelLocation, target: Path) -> None:
    """Refuse to replace an export another model made: a second run exported with the same --out replaced the
    first run's export without a word, and the first run then predicted with the second's model."""
    existing = read_export(target)
    if existing is None or location.made_this_export(existing):
        return
    record = existing.record
    whose = (f"an export of another model, from {owner_name(record.source)}" if record.source_sha256 is not None
             else f"an export of {owner_name(record.source)} made by an earlier version of BERT Studio, which did "
                  "not record which model it came from")
    raise ConfigError(f"'{target}' already holds {whose}; exporting this model there would replace it.",
                      hint="Choose another --out folder (one per run), or delete that folder first if its export "
                           "is no longer needed.")


def formats_for(fmt: str | Sequence[str]) -> list[str]:
    """"all", one format, "onnx,onnx-int8" or a list of formats -> the formats in export order."""
    wanted = [f.strip() for f in (fmt.split(",") if isinstance(fmt, str) else fmt) if f.strip()]
    unknown = [f for f in wanted if f not in FORMAT_CHOICES]
    if unknown or not wanted:
        raise ConfigError(f"Unknown export format '{', '.join(unknown) or fmt}'.",
                          hint=f"Use one of: {', '.join(FORMAT_CHOICES)} (several: separate with commas).")
    return [f for f in EXPORT_ORDER if f in wanted or "all" in wanted]


def export_run(run_dir: str | Path, fmt: str | Sequence[str] = "all", out_dir: str | Path | None = None, *,
               texts: Sequence[str] | None = None, max_rows: int | None = DEFAULT_VALIDATION_ROWS,
               push_to_hub: str | None = None, token_env: str = "HF_TOKEN", private: bool = True,
               on_result: Callable[[ExportResult], None] | None = None) -> list[ExportResult]:
    """Export a run (or a model folder) as ``fmt`` (hf, onnx, onnx-int8, torchscript, all, or several) into
    ``out_dir/<format>/``; every export is checked against the PyTorch model on up to ``max_rows``
    validation rows (``texts`` when given, else the run's labelled test rows, else example sentences).

    ``push_to_hub="user/name"`` uploads the hf export (private unless ``private=False``) with the token
    in the environment variable ``token_env``.  ``on_result`` is called as each format finishes.
    """

    formats = formats_for(fmt)
    if push_to_hub and "hf" not in formats:
        raise ConfigError("Only the Hugging Face export can be pushed to the Hub.",
                          hint="Use --format hf (or all) together with --push-to-hub.")
    location = locate_model(run_dir)
    # The run's records go into every model card, written once a format is built: a damaged one refused there
    # came after minutes of converting (a config.json holding a list ended in an AttributeError).
    run_records(location)
    out = Path(out_dir).expanduser() if out_dir else location.own_exports
    for name in formats:  # all of them before the model is loaded and the first is written
        check_not_another_models_export(location, out / name)
    source = open_source(run_dir, texts=texts, max_rows=max_rows)
    done: list[ExportResult] = []
    for name in formats:
        result = export_one(source, name, out, done, hub_repo=push_to_hub)
        if source.location.run_dir is not None:  # so `bertstudio predict RUN --backend onnx` finds it there
            record_export_place(source.location.run_dir, name, result.folder)
        if name == "hf" and push_to_hub:
            result.hub_url = push(result.folder, push_to_hub, token_env=token_env, private=private)
        done.append(result)
        if on_result is not None:
            on_result(result)
    return done
