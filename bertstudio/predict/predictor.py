"""Predictions from a trained model: the same preprocessing as training, on any backend."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence, overload

import numpy as np

from bertstudio.data.long_texts import LongTexts
from bertstudio.errors import DataError, ModelError
from bertstudio.evaluation.blend import blend_probabilities
from bertstudio.evaluation.metrics import softmax
from bertstudio.evaluation.multilabel_metrics import label_set_names, predict_sets, sigmoid
from bertstudio.models.loading import quiet_library_progress, tokenizer_in_folder
from bertstudio.models.sources import check_tokenizer_files
from bertstudio.models.word_counts import WordCountModel, joined_texts
from bertstudio.predict.backends import LogitsBackend, TorchBackend, open_backend
from bertstudio.predict.locate import (
    EXPORT_BACKENDS,
    ModelLocation,
    NoModelYet,
    check_finished,
    locate_model,
    passed_over_note,
    unfinished_run,
)
from bertstudio.predict.preprocessing import encode, load_preprocessing, pad_batch, per_text_logits
from bertstudio.results import Preprocessing
from bertstudio.train.batch_order import padding_buckets, sorted_batches
from bertstudio.train.speedups.allocator import ReleaseOnNewShape

DEFAULT_BATCH_SIZE = 32


@dataclass
class PredictionBatch:
    """Predicted label, its probability and every class probability, in input order."""

    labels: list[str]
    confidences: np.ndarray
    probs: np.ndarray  # rows x classes, calibrated with the saved temperature
    label_names: list[str]
    # Multi-label models: each text's label set (``labels`` then holds it joined by "; "; ``probs`` are each
    # label's own sigmoid probability and ``confidences`` the least certain of the label decisions).
    label_sets: list[list[str]] | None = None

    def __len__(self) -> int:
        return len(self.labels)

    def to_records(self) -> list[dict[str, Any]]:
        records = [{"label": label, "confidence": float(conf),
                    "probabilities": {name: float(p) for name, p in zip(self.label_names, row)}}
                   for label, conf, row in zip(self.labels, self.confidences, self.probs)]
        for record, chosen in zip(records, self.label_sets or ()):
            record["labels"] = list(chosen)
        return records

    def label_hits(self) -> np.ndarray:
        """How many texts got each label."""
        if self.label_sets is not None:
            index = {name: i for i, name in enumerate(self.label_names)}
            return np.bincount([index[n] for chosen in self.label_sets for n in chosen],
                               minlength=len(self.label_names))
        return np.bincount(self.probs.argmax(axis=1), minlength=len(self.label_names)) if len(self.probs) else \
            np.zeros(len(self.label_names), dtype=np.int64)


class Predictor:
    """Texts in, calibrated predictions out; the same for every backend."""

    def __init__(self, backend: LogitsBackend, tokenizer, prep: Preprocessing, location: ModelLocation,
                 batch_size: int = DEFAULT_BATCH_SIZE, *, notes: Sequence[str] = ()):
        self.backend = backend
        self.tokenizer = tokenizer
        self.prep = prep
        self.location = location
        self.batch_size = batch_size
        # A run whose blend with the simple word-count model won on validation ships that model beside the
        # weights; every backend's probabilities are blended the same way.
        self.simple = WordCountModel.load(location.folder) if prep.blend_weight < 1 else None
        # Why the model's run is unfinished, when it was used anyway (--allow-unfinished); None when finished.
        self.unfinished = unfinished_run(location)
        # What else every output must say about the model used (another folder's export passed over, ...).
        self.notes = list(notes)

    @property
    def label_names(self) -> list[str]:
        return list(self.prep.label_names)

    def info(self) -> dict[str, Any]:
        """What a user (or the server's /info) wants to know about the loaded model."""
        return {"labels": self.label_names, "model": str(self.location.run_dir or self.location.folder),
                "model_file": str(self.backend.file), "backend": self.backend.name,
                "max_length": self.prep.max_length, "text_pair": self.prep.text_pair,
                "long_texts": self.prep.long_texts, "kept": LongTexts.of(self.prep).describe(),
                "temperature": self.prep.temperature, "base_model": self.prep.base_model,
                "blend_weight": self.prep.blend_weight, "unfinished": self.unfinished, "notes": self.model_notes,
                "problem_type": self.prep.problem_type, "thresholds": self.prep.threshold_vector()
                if self.prep.multi_label else None}

    @property
    def model_notes(self) -> list[str]:
        """What an output (predict's JSON summary, /info) must say about the model, UNFINISHED first: a script
        that reads only the output, not the console, still learns it."""
        unfinished = [f"UNFINISHED: {self.unfinished}; this may not be the model it was meant to produce."] \
            if self.unfinished else []
        return [*unfinished, *self.notes]

    def describe(self) -> str:
        pair = " (text pairs)" if self.prep.text_pair else ""
        blend = (f" Blended with a simple word-count model ({self.prep.blend_weight:.0%} fine-tuned)."
                 if self.simple is not None else "")
        pair += " (several labels per text)" if self.prep.multi_label else ""
        notes = "".join(f"{note} " for note in self.model_notes)
        return (f"{notes}{self.backend.name} model from {self.backend.file}{pair}: {len(self.label_names)} labels "
                f"({', '.join(self.label_names)}), {LongTexts.of(self.prep).describe()}.{blend}")

    def _check_pairs(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> None:
        if self.prep.text_pair and text_pairs is None:
            raise DataError("This model was trained on pairs of texts, but only one text per row was given.",
                            hint="Give the second text too (text_pairs, or --text-pair for a file).")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(text_pairs)} second texts were given.",
                            hint="Give one second text for every text.")

    def logits(self, texts: str | Sequence[str], text_pairs: str | Sequence[str] | None = None) -> np.ndarray:
        """Raw logits in input order (one row for a single string); batches are formed from texts of similar
        length for speed."""

        texts, text_pairs = as_text_list(texts), as_text_list(text_pairs)
        self._check_pairs(texts, text_pairs)
        pairs = text_pairs if self.prep.text_pair else None
        if not len(texts):
            return np.zeros((0, len(self.label_names)), dtype=np.float32)
        encoded = encode(self.tokenizer, texts, pairs, self.prep)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        out = np.zeros((len(lengths), len(self.label_names)), dtype=np.float32)  # one row per window, if windows
        pad_id = self.tokenizer.pad_token_id or 0
        buckets = self._length_buckets()
        # Exported runtimes keep memory their own way; PyTorch on a CPU runs glibc's heap (see the allocator).
        memory = ReleaseOnNewShape(self.backend.device if isinstance(self.backend, TorchBackend) else "runtime")
        for rows in sorted_batches(lengths, self.batch_size):
            batch = pad_batch(encoded, rows, pad_id, buckets)
            memory.before(batch)
            out[rows] = self.backend.logits(batch)
        return per_text_logits(out, encoded, self.prep)

    def _length_buckets(self) -> tuple[int, ...]:
        """PyTorch pads as training does (on a CPU to a few lengths: its kernels keep state per batch shape, which a
        long-running ``serve`` meeting every length up to 512 would grow without end); exported runtimes do not."""
        if not isinstance(self.backend, TorchBackend):
            return ()
        return padding_buckets(self.backend.device, self.prep.max_length)

    def predict(self, texts: str | Sequence[str], text_pairs: str | Sequence[str] | None = None) -> PredictionBatch:
        """Predictions for ``texts`` in input order; a single string is one text (a batch of one)."""
        texts, text_pairs = as_text_list(texts), as_text_list(text_pairs)
        logits = self.logits(texts, text_pairs)
        probs = sigmoid(logits) if self.prep.multi_label else softmax(logits, self.prep.temperature)
        if self.simple is not None and len(texts):
            simple = self.simple.probabilities(joined_texts(texts, text_pairs if self.prep.text_pair else None))
            probs = blend_probabilities(probs, simple, self.prep.blend_weight)
        if self.prep.multi_label:
            return label_set_batch(probs, self.prep)
        best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
        return PredictionBatch(labels=[self.label_names[i] for i in best],
                               confidences=probs.max(axis=1) if len(probs) else np.zeros(0),
                               probs=probs, label_names=self.label_names)


@overload
def as_text_list(texts: str | Sequence[str]) -> Sequence[str]: ...


@overload
def as_text_list(texts: str | Sequence[str] | None) -> Sequence[str] | None: ...


def as_text_list(texts: str | Sequence[str] | None) -> Sequence[str] | None:
    """A single string as a list of one text; anything else as given.

    A str is itself a sequence of strings, so ``predict("a text")`` classified each character; a Python user
    means one text, as ``transformers.pipeline`` reads it."""
    return [texts] if isinstance(texts, str) else texts


def label_set_batch(probs: np.ndarray, prep: Preprocessing) -> PredictionBatch:
    """Each label whose probability reaches its saved threshold; an empty set when none does."""
    chosen = predict_sets(probs, prep.threshold_vector()) if len(probs) else np.zeros((0, len(prep.label_names)))
    names = list(prep.label_names)
    sets = [label_set_names(row, names) for row in chosen]
    certainty = np.where(chosen > 0, probs, 1 - probs).min(axis=1) if len(probs) else np.zeros(0)
    return PredictionBatch(labels=["; ".join(s) for s in sets], confidences=certainty, probs=probs,
                           label_names=names, label_sets=sets)


def load_tokenizer_from(folder: Path):
    check_tokenizer_files(folder)
    try:
        return tokenizer_in_folder(folder)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Could not load the tokenizer in {folder}: {str(exc).splitlines()[0]}",
                         hint="The folder needs the tokenizer files saved with the model "
                              "(tokenizer.json or vocab.txt).") from exc


# --allow-unfinished uses the model/ a run saved before it stopped; a run stopped before its first save has only
# checkpoints, which hold the training state for a resume, not a model to ship.
NOTHING_SAVED_TO_ALLOW = ("--allow-unfinished uses a model the run saved before it stopped; this run saved none yet "
                          "(its checkpoints are for resuming it).")


def find_model(model_dir: str | os.PathLike[str], *, allow_unfinished: bool = False,
               unfinished_anyway: str = "") -> ModelLocation:
    """The model ``model_dir`` names, refused as :func:`load_predictor` refuses it, without loading anything: a
    command checks its other arguments between the two (a data file given as the model is said first)."""
    quiet_library_progress()
    try:
        location = locate_model(model_dir)
    except NoModelYet as err:
        if allow_unfinished:  # why the flag could not help
            raise NoModelYet(err.message, f"{err.hint} {NOTHING_SAVED_TO_ALLOW}".strip()) from None
        raise
    if not allow_unfinished:
        check_finished(location, unfinished_anyway)
    return location


def load_predictor(model_dir: str | os.PathLike[str] | ModelLocation, backend: str = "auto",
                   batch_size: int = DEFAULT_BATCH_SIZE, *, allow_unfinished: bool = False,
                   unfinished_anyway: str = "") -> Predictor:
    """A predictor for a run folder, its ``model/`` folder, or an hf/onnx/torchscript export folder (or the model
    :func:`find_model` found).

    ``backend``: torch, onnx, onnx-int8, torchscript, or auto (PyTorch when the weights are there, else
    whichever export the folder holds).  An ONNX or TorchScript file is looked for in the folder itself,
    then in the run's ``exports/<backend>/``.  The model of a run that has not finished (still training,
    interrupted, failed) is refused unless ``allow_unfinished``; the predictor then says so (``unfinished``).
    ``unfinished_anyway``: the caller's way to use such a model all the same, said in the refusal's hint.
    """
    location = model_dir if isinstance(model_dir, ModelLocation) else \
        find_model(model_dir, allow_unfinished=allow_unfinished, unfinished_anyway=unfinished_anyway)
    runner = open_backend(location, backend)
    # Export folders carry their own tokenizer and preprocessing.json, next to the model file.
    folder = runner.file.parent
    passed_over = passed_over_note(location, runner.name, runner.file) if runner.name in EXPORT_BACKENDS else None
    return Predictor(runner, load_tokenizer_from(folder), load_preprocessing(folder), location,
                     batch_size=max(1, int(batch_size)), notes=[passed_over] if passed_over else [])
