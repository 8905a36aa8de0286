"""Evaluating a finished run folder again: reload the model, rerun it, refit the temperature, write eval.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from bertstudio.config import TrainConfig
from bertstudio.data import prepare
from bertstudio.data.columns import guess_from_profiles, model_text_column, sample_profiles
from bertstudio.data.findings import Finding, labels_read_as_finding
from bertstudio.data.inspect import LabelColumnNotFound
from bertstudio.data.io import read_table
from bertstudio.data.labels import spelled_alike
from bertstudio.data.long_texts import LongTexts
from bertstudio.errors import DataError, UserError
from bertstudio.evaluation.baselines import baseline_report
from bertstudio.evaluation.blend import saved_simple_probabilities
from bertstudio.evaluation.calibration import TemperatureFit, fit_temperature
from bertstudio.evaluation.errors_table import error_table
from bertstudio.evaluation.features import choose_encoder, in_precision, make_dataset, model_logits
from bertstudio.evaluation.metrics import softmax
from bertstudio.evaluation.multilabel_report import MultiLabelReport
from bertstudio.evaluation.multilabel_run import (
    evaluate_multilabel,
    raise_single_label_only,
    multilabel_error_table_of,
    multilabel_file_dataset,
    multilabel_predictions_dataset,
)
from bertstudio.evaluation.noise import label_noise_report
from bertstudio.evaluation.report import (
    EvalReport,
    build_report,
    check_run_folder,
    load_validation_logits,
    read_preprocessing,
    save_temperature,
    save_validation_logits,
    shipped,
    write_report,
)
from bertstudio.hardware import weights_precision
from bertstudio.models.loading import load_model_for_classification, load_tokenizer
from bertstudio.models.sources import resolve_model_source
from bertstudio.results import Preprocessing, Summary
from bertstudio.runs import PREDICTIONS_FILE, RunFolder
from bertstudio.safe_csv import read_escaped_csv
from bertstudio.train.pipeline import load_inputs, write_predictions

if TYPE_CHECKING:
    import pandas as pd

    from bertstudio.evaluation.noise import LabelNoiseReport


@dataclass
class LoadedRun:
    """A run folder opened for evaluation."""

    path: Path
    config: TrainConfig
    label_names: list[str]
    max_length: int
    model: Any
    tokenizer: Any
    summary: Summary
    long_texts: LongTexts | None = None  # what is kept of long texts (preprocessing.json); None: the head
    precision: str = "fp32"  # what the weights run in: predict's default for this run (evaluation_precision)


def open_run(run_dir: str | Path) -> LoadedRun:
    path = Path(run_dir)
    check_run_folder(path)
    run = RunFolder(path)
    config = TrainConfig.load(run.config)
    prep = read_preprocessing(path)
    names = prep.label_names
    source = resolve_model_source(str(run.model.resolve()))
    model = load_model_for_classification(source, num_labels=len(names), id2label=dict(enumerate(names)),
                                          label2id={n: i for i, n in enumerate(names)})
    precision = evaluation_precision(path)
    return LoadedRun(path, config, names, prep.max_length, in_precision(model, precision), load_tokenizer(source),
                     Summary.read(run.summary), LongTexts.of(prep), precision)


def evaluation_precision(run_dir: str | Path) -> str:
    """What evaluate runs a run's weights in: what predict and serve run them in by default (one decision,
    hardware.weights_precision), so the three give the same numbers."""
    return weights_precision(Summary.read(RunFolder(run_dir).summary).precision)


def precision_note(precision: str) -> str:
    """evaluate's line saying what the model ran in."""
    why = (" (a shorter number format, about 2x faster here: the run trained in it and this computer computes it "
           "fast; the labels almost never differ from full precision)" if precision == "bf16" else
           " (full precision)")
    return f"Ran the model in {precision}{why}, as predict and serve run it by default here."


_LABELS_LISTED = 10
# What prepare notices that matters when a file only scores the model (the rest is about training on it).
_SAID_WHEN_SCORING = ("summary_rows",)


def label_ids_for(values: Sequence[str], label_names: Sequence[str], *, where: str) -> np.ndarray:
    """Map label names to the run's ids; labels the model never learned are the user's to fix."""
    return matched_label_ids(values, label_names, where=where)[0]


def matched_label_ids(values: Sequence[str], label_names: Sequence[str], *,
                      where: str) -> tuple[np.ndarray, Finding | None]:
    """The run's ids of ``values``, and a note naming the labels read as a known one that differs only in upper/
    lower case or spaces ('Billing' as 'billing': a file typed by hand, or booleans spelt 'True' by one format and
    'true' by another). Labels that match no known label, or several, are the user's to fix."""
    index = {name: i for i, name in enumerate(label_names)}
    unseen = sorted({v for v in values if v not in index})
    alike = spelled_alike(unseen, label_names)
    read_as = {label: found[0] for label, found in alike.items() if len(found) == 1}
    unknown = [label for label in unseen if not alike[label]]
    ambiguous = {label: found for label, found in alike.items() if len(found) > 1}
    if unknown or ambiguous:
        raise _unmatched_labels_error(unknown, ambiguous, label_names, where)
    index.update({label: index[known] for label, known in read_as.items()})
    return np.asarray([index[v] for v in values], dtype=np.int64), labels_read_as_finding(read_as, where)


def _listed(labels: Sequence[str]) -> str:
    more = f" and {len(labels) - _LABELS_LISTED:,} more" if len(labels) > _LABELS_LISTED else ""
    return ", ".join(labels[:_LABELS_LISTED]) + more


def _unmatched_labels_error(unknown: list[str], ambiguous: dict[str, list[str]], label_names: Sequence[str],
                            where: str) -> DataError:
    said = []
    if unknown:
        said.append(f"{where} has labels the model was never trained on: {_listed([repr(v) for v in unknown])}.")
    if ambiguous:
        cases = [f"{label!r} (the model knows {' and '.join(map(repr, found))})" for label, found in ambiguous.items()]
        said.append(f"{where} has labels that differ only in upper/lower case from more than one label the model "
                    f"knows, so which one is meant cannot be told: {_listed(cases)}.")
    return DataError(" ".join(said), f"The model only knows: {', '.join(label_names)}. Spell those labels as the "
                                     "model knows them, or remove those rows.")


def predictions_dataset(run: LoadedRun):
    """The evaluated rows of the run, as saved in test_predictions.csv."""
    path = RunFolder(run.path).predictions
    if not path.is_file():
        raise DataError(f"The run has no {PREDICTIONS_FILE}, so its test rows are unknown.",
                        "Evaluate on a labeled file instead: --data FILE.")
    frame = read_escaped_csv(path, dtype=str, keep_default_na=False)  # a text "NA" stays a text
    if frame.empty:
        raise DataError("The run has no test rows to evaluate.", "Evaluate on a labeled file instead: --data FILE.")
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    labels = label_ids_for(frame["label"].tolist(), run.label_names, where=PREDICTIONS_FILE)
    return make_dataset(frame["text"].tolist(), pairs, labels)


def _column(given: str | None, remembered: str | None, guessed: str | None, columns: list[str]) -> str | None:
    """The column the user named, else the one used in training if the file has it, else the guess."""
    if given:
        return given
    return remembered if remembered in columns else guessed


def labeled_file_dataset(path: str | Path, run: LoadedRun, *, text_column: str | None = None,
                         label_column: str | None = None, text_pair_column: str | None = None,
                         sheet: str | None = None) -> tuple[Any, list[Finding]]:
    """Rows of another labeled file, with labels numbered as the run's model numbers them, and what to tell about
    reading it (the columns used when they are not the training's, labels read as the model spells them)."""

    dataset, table = read_table(path, sheet=sheet)
    profiles = sample_profiles(dataset)
    guess = guess_from_profiles(profiles)
    cfg = run.config
    label_col = _column(label_column, cfg.label_column, guess.label, table.columns)
    pair_col = _column(text_pair_column, cfg.text_pair_column, guess.text_pair, table.columns) \
        if cfg.text_pair_column else None
    if label_col is None:
        raise LabelColumnNotFound(guess, table.columns, needs="scoring the model needs the right class of each text")
    if cfg.text_pair_column and pair_col is None:
        raise DataError("The model was trained on pairs of texts, but the file has no second text column.",
                        f"Name it with --text-pair (columns: {', '.join(table.columns)}).")
    trained = cfg.text_column or read_preprocessing(run.path).text_column
    text_col, notes = model_text_column(profiles, given=text_column, trained=trained, exclude={label_col, pair_col})
    label_guessed = not label_column and cfg.label_column not in table.columns
    notes += guess.notes(text_chosen=True, label_chosen=not label_guessed)
    prepared = prepare(dataset, text_col=text_col, label_col=label_col, text_pair_col=pair_col,
                       casefold_labels=cfg.casefold_labels)
    # One class only is fine here (a file of, say, only complaints still tests the model), and so are few
    # rows of many classes; labels the model never learned are refused below.
    prepared.raise_if_errors(scoring=True)
    notes += [f for f in prepared.report.findings if f.code in _SAID_WHEN_SCORING]
    names = [prepared.label_names[i] for i in prepared.dataset["label"]]
    labels, read_as = matched_label_ids(names, run.label_names, where=Path(path).name)
    pairs = prepared.dataset["text_pair"] if prepared.has_pair else None
    return make_dataset(prepared.dataset["text"], pairs, labels), notes + ([read_as] if read_as else [])


def run_logits(run: LoadedRun, dataset) -> np.ndarray:
    """The run's model on ``dataset``, on the device it was trained on, its weights in ``run.precision`` as predict
    runs them by default."""

    return model_logits(run.model, run.tokenizer, dataset, run.max_length, device=run.config.device,
                        precision=run.precision, long_texts=run.long_texts)


def rebuild_split(config: TrainConfig):
    """The run's train/validation/test split, re-created from its data and seed."""

    return load_inputs(config).split


def validation_logits(run: LoadedRun, split=None) -> tuple[np.ndarray, np.ndarray] | None:
    """Validation (logits, labels): saved ones if current, else by re-running the model on the
    re-created validation split (then saved).  ``split`` avoids re-creating it twice."""
    saved = load_validation_logits(run.path, run.label_names)
    if saved is not None:
        return saved
    split = split if split is not None else rebuild_split(run.config)
    if list(split.label_names) != run.label_names:
        raise DataError("The training file has changed since this run was trained (its labels differ).",
                        "Calibration needs the original validation rows; restore the training file.")
    logits = run_logits(run, split.validation)
    labels = np.asarray(split.validation["label"], dtype=np.int64)
    save_validation_logits(run.path, logits, labels, run.label_names)
    return logits, labels


def _kept_temperature(run: LoadedRun, reason: str) -> TemperatureFit:
    current = read_preprocessing(run.path).temperature
    nan = float("nan")
    return TemperatureFit(temperature=current, rows=0, nll_before=nan, nll_after=nan, ece_before=nan, ece_after=nan,
                          note=f"Temperature not refitted ({reason}); kept at {current:g}.")


def _fit_on_validation(run: LoadedRun, split) -> TemperatureFit:
    """The temperature fitted on the run's validation split; when the split cannot be re-created
    (training file moved or changed), the run's current temperature with the reason."""
    try:
        validation = validation_logits(run, split)
    except UserError as err:
        return _kept_temperature(run, err.message)
    if validation is None or len(validation[1]) == 0:
        return _kept_temperature(run, "the run has no validation rows")
    return fit_temperature(*validation)


def evaluate_run(run_dir: str | Path, *, data: str | Path | None = None, text_column: str | None = None,
                 label_column: str | None = None, text_pair_column: str | None = None, baselines: bool = False,
                 encoder: str | None = None, sheet: str | None = None) -> EvalReport | MultiLabelReport:
    """Re-evaluate a saved run on its test rows (or on the labeled file ``data``) and write eval.json
    (``eval-<file name>.json`` for ``data``).  ``baselines`` adds TF-IDF and frozen-encoder baselines
    trained on the run's training split (``encoder``: the run's base model unless given); ``sheet``: the sheet of
    a workbook ``data`` to read (default: chosen as training chooses it)."""
    run = open_run(run_dir)
    prep = read_preprocessing(run.path)
    if prep.multi_label:
        if baselines:
            raise_single_label_only("The baseline comparison")
        return _evaluate_multilabel_run(run, prep, data=data, text_column=text_column, label_column=label_column,
                                        text_pair_column=text_pair_column, sheet=sheet)
    # Before any work: a named encoder that cannot load is refused before the run is scored.
    chosen = choose_encoder(encoder, run.config.model) if baselines else None
    if data is None:
        dataset, evaluated_on, notes = predictions_dataset(run), run.summary.evaluated_on, []
    else:
        dataset, notes = labeled_file_dataset(data, run, text_column=text_column, label_column=label_column,
                                              text_pair_column=text_pair_column, sheet=sheet)
        evaluated_on = f"file: {Path(data).name}"
    logits = run_logits(run, dataset)
    labels = np.asarray(dataset["label"], dtype=np.int64)

    split = rebuild_split(run.config) if baselines else None
    calibration = _fit_on_validation(run, split)
    if calibration.rows:
        save_temperature(run.path, calibration.temperature)
    # The run's model is what predict and serve run: with the simple word-count model blended in when the run kept
    # the blend (scoring the fine-tuned part alone put a blended run's 0.81 macro-F1 at 0.68).
    simple = simple_model_probabilities(run, prep, dataset)
    report = build_report(logits, labels, run.label_names, calibration, evaluated_on=evaluated_on,
                          simple_probs=simple, blend_weight=prep.blend_weight)
    report.notes = notes
    if chosen is not None:
        report.baselines = baseline_report(split, evaluated=dataset, encoder=chosen.name)
        if chosen.note:
            report.notes.append(Finding("info", "encoder_stands_in", chosen.note))
    if data is not None:
        write_file_predictions(RunFolder(run.path).predictions_on(data), dataset,
                               shipped(softmax(logits, calibration.temperature), simple, prep.blend_weight),
                               run.label_names)
    return write_report(report, RunFolder(run.path).eval_on(data))


def simple_model_probabilities(run: LoadedRun, prep: Preprocessing, dataset) -> np.ndarray | None:
    """A blended run's simple word-count model on ``dataset`` (the one saved beside its weights); None when the run
    ships the fine-tuned model alone."""
    if prep.blend_weight >= 1:
        return None
    pairs = dataset["text_pair"] if prep.text_pair and "text_pair" in dataset.column_names else None
    return saved_simple_probabilities(RunFolder(run.path).model, dataset["text"], pairs)


def _evaluate_multilabel_run(run: LoadedRun, prep, *, data, text_column, label_column,
                             text_pair_column, sheet) -> MultiLabelReport:
    """Multi-label: the saved thresholds, no temperature (each label's own sigmoid)."""
    if data is None:
        frame = read_escaped_csv(RunFolder(run.path).predictions, dtype=str, keep_default_na=False)
        dataset, evaluated_on = multilabel_predictions_dataset(run.path, prep, frame), run.summary.evaluated_on
        notes = []
    else:
        dataset, notes = multilabel_file_dataset(data, prep, text_column=text_column, label_column=label_column,
                                                 text_pair_column=text_pair_column, sheet=sheet)
        evaluated_on = f"file: {Path(data).name}"
    return evaluate_multilabel(run.path, dataset, run_logits(run, dataset), evaluated_on=evaluated_on, data=data,
                               notes=notes)


def write_file_predictions(path: Path, dataset, probs: np.ndarray, label_names: list[str]) -> None:
    """Per-row predictions on another file, in test_predictions.csv's layout (calibrated probabilities)."""

    write_predictions(path, dataset, probs, label_names)


def label_noise_for_run(run_dir: str | Path, *, encoder: str | None = None, folds: int = 5) -> LabelNoiseReport:
    """Rank the run's training rows most likely mislabeled; writes label_issues.csv into the run.

    Features come from ``encoder`` (refused when it cannot load) or the run's base model kept frozen (not the
    fine-tuned one, which has learned the wrong labels too); the bundled encoder stands in, said in the report's
    summary, if the base model cannot load.
    """

    path = Path(run_dir)
    check_run_folder(path)
    config = TrainConfig.load(RunFolder(path).config)
    if config.task == "multi_label":
        raise_single_label_only("The label-noise check")
    chosen = choose_encoder(encoder, config.model)
    split = rebuild_split(config)
    train = split.train
    pairs = train["text_pair"] if "text_pair" in train.column_names else None
    report = label_noise_report(train["text"], train["label"], split.label_names,
                                encoder=chosen.name, text_pairs=pairs, folds=folds)
    report.note = chosen.note
    report.to_csv(RunFolder(path).label_issues)
    return report


def load_run_error_table(run_dir: str | Path, predictions_file: str = PREDICTIONS_FILE) -> pd.DataFrame:
    """The error table (see :func:`error_table`) of a run's saved predictions, without re-running the model.

    ``predictions_file``: test_predictions.csv, or a predictions-<name>.csv written by
    ``evaluate --data``.  Probabilities are used as saved.
    """
    path = Path(run_dir)
    prep = read_preprocessing(path)
    names = prep.label_names
    file = path / predictions_file
    if not file.is_file():
        raise DataError(f"The run has no {predictions_file}.", "Train or evaluate the run first.")
    frame = read_escaped_csv(file, dtype=str, keep_default_na=False)
    if prep.multi_label:
        return multilabel_error_table_of(frame, prep, predictions_file)
    probs = frame[[f"prob_{name}" for name in names]].astype(float).to_numpy()
    labels = label_ids_for(frame["label"].tolist(), names, where=predictions_file)
    pairs = frame["text_pair"].tolist() if "text_pair" in frame.columns else None
    return error_table(frame["text"].tolist(), labels, probs, names, text_pairs=pairs)
