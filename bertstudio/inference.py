"""Predictions from a trained model: the same preprocessing as training, on any backend.

A :class:`Predictor` tokenizes exactly as training did (``preprocessing.json``:
max_length, truncation, text pairs), runs the texts through a backend (PyTorch,
ONNX Runtime, ONNX INT8 or TorchScript) in batches of similar length, and
turns logits into calibrated probabilities with ``softmax(logits / temperature)``.

``predict_file`` streams a table of any size in chunks: a million-row CSV is
never held in memory, and the output is written as it goes, then renamed into
place so a half-written file never looks finished.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Protocol, Sequence

import numpy as np

from bertstudio.errors import ConfigError, DataError, ModelError

PREPROCESSING_FILE = "preprocessing.json"  # same name as bertstudio.pipeline.PREPROCESSING_FILE
EXPORT_INFO_FILE = "export.json"
BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8", "torchscript")
# The file each backend runs, inside a model or export folder.
BACKEND_FILES = {
    "torch": ("model.safetensors", "pytorch_model.bin"),
    "torch-bf16": ("model.safetensors", "pytorch_model.bin"),  # the same weights, cast to bfloat16 when loaded
    "onnx": ("model.onnx",),
    "onnx-int8": ("model.int8.onnx",),
    "torchscript": ("model.pt",),
}
EXPORTS_DIR = "exports"  # default place of a run's exports: RUN/exports/<format>/
DEFAULT_BATCH_SIZE = 32
DEFAULT_CHUNK_ROWS = 10_000
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


# --------------------------------------------------------------------------- preprocessing


@dataclass(frozen=True)
class Preprocessing:
    """What inference must repeat exactly as training did (read from ``preprocessing.json``)."""

    label_names: list[str]
    max_length: int
    text_pair: bool = False
    temperature: float = 1.0
    truncation: str = "longest_first"
    text_column: str | None = None
    text_pair_column: str | None = None
    base_model: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the whole file, so exports can copy it unchanged

    def to_dict(self) -> dict[str, Any]:
        known = {"label_names": self.label_names, "max_length": self.max_length, "text_pair": self.text_pair,
                 "temperature": self.temperature, "truncation": self.truncation, "text_column": self.text_column,
                 "text_pair_column": self.text_pair_column, "base_model": self.base_model}
        return {**self.raw, **known}


def _labels_from_config(folder: Path) -> list[str] | None:
    path = folder / "config.json"
    if not path.is_file():
        return None
    id2label = json.loads(path.read_text(encoding="utf-8")).get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)] or None


def load_preprocessing(folder: Path) -> Preprocessing:
    """``preprocessing.json`` of a model or export folder; a plain Hugging Face folder gets safe defaults."""
    path = Path(folder) / PREPROCESSING_FILE
    raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    labels = raw.get("label_names") or _labels_from_config(Path(folder))
    if not labels:
        raise ModelError(f"The model in {folder} does not say which labels it predicts.",
                         hint="Use a folder saved by BERT Studio (it has preprocessing.json), "
                              "or one whose config.json has id2label.")
    temperature = float(raw.get("temperature") or 1.0)
    if not math.isfinite(temperature) or temperature <= 0:
        raise ModelError(f"preprocessing.json in {folder} has an unusable temperature ({temperature}).",
                         hint="Set \"temperature\" to a positive number (1.0 means no calibration).")
    return Preprocessing(label_names=[str(n) for n in labels], max_length=int(raw.get("max_length") or 512),
                         text_pair=bool(raw.get("text_pair", False)), temperature=temperature,
                         truncation=str(raw.get("truncation") or "longest_first"),
                         text_column=raw.get("text_column"), text_pair_column=raw.get("text_pair_column"),
                         base_model=raw.get("base_model"), raw=raw)


# --------------------------------------------------------------------------- where the model is


@dataclass(frozen=True)
class ModelLocation:
    """A folder with the tokenizer and preprocessing.json, and the run it came from (if any)."""

    folder: Path
    run_dir: Path | None

    def backend_file(self, backend: str) -> Path | None:
        """The file ``backend`` runs: in the folder itself, else in the run's ``exports/<backend>/``."""
        folders = [self.folder]
        if self.run_dir is not None:
            folders.append(self.run_dir / EXPORTS_DIR / backend)
        for folder in folders:
            for name in BACKEND_FILES[backend]:
                if (folder / name).is_file():
                    return folder / name
        return None

    def available_backends(self) -> list[str]:
        return [b for b in BACKEND_FILES if self.backend_file(b) is not None]


def _is_model_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for names in BACKEND_FILES.values() for name in names)


def locate_model(path: str | os.PathLike[str]) -> ModelLocation:
    """A run folder, its ``model/`` folder, an export folder or a model file -> where everything is."""
    given = Path(path).expanduser()
    if given.is_file():
        given = given.parent
    if not given.exists():
        raise ModelError(f"'{given}' does not exist.", hint="Check the path of the run or model folder.")
    if _is_model_folder(given / "model"):
        return ModelLocation(folder=given / "model", run_dir=given)
    if _is_model_folder(given):
        parent = given.parent
        is_run = given.name == "model" and (parent / "config.json").is_file()
        return ModelLocation(folder=given, run_dir=parent if is_run else None)
    raise ModelError(f"No trained model was found in '{given}'.",
                     hint="Point to a run folder (it has model/ inside), a model folder with model.safetensors, "
                          "or an export folder with model.onnx or model.pt.")


def choose_backend(location: ModelLocation, backend: str) -> tuple[str, Path]:
    """The backend to use and its file; ``auto`` prefers PyTorch, then the exports that exist."""
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend '{backend}'.", hint=f"Use one of: {', '.join(BACKENDS)}.")
    candidates = list(BACKEND_FILES) if backend == "auto" else [backend]
    for name in candidates:
        file = location.backend_file(name)
        if file is not None:
            return name, file
    found = ", ".join(location.available_backends()) or "none"
    hint = (f"Export it first: bertstudio export {location.run_dir or location.folder} --format {backend}"
            if backend in ("onnx", "onnx-int8", "torchscript") else "Use a folder with model.safetensors.")
    raise ModelError(f"There is no {backend} model in '{location.folder}' (available: {found}).", hint=hint)


# --------------------------------------------------------------------------- tokenization


def encode(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, prep: Preprocessing) -> dict[str, list]:
    """Token ids without padding, cut exactly as in training."""
    return tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=prep.truncation,
                     max_length=prep.max_length, padding=False)


def pad_batch(encoded: dict[str, list], rows: Sequence[int], pad_id: int) -> dict[str, np.ndarray]:
    """Rows ``rows`` of ``encoded`` padded to their own longest: int64 arrays for any backend."""
    width = max(len(encoded["input_ids"][i]) for i in rows)
    batch = {"input_ids": np.full((len(rows), width), pad_id, dtype=np.int64),
             "attention_mask": np.zeros((len(rows), width), dtype=np.int64)}
    has_types = "token_type_ids" in encoded
    if has_types:
        batch["token_type_ids"] = np.zeros((len(rows), width), dtype=np.int64)
    for out, i in enumerate(rows):
        ids = encoded["input_ids"][i]
        batch["input_ids"][out, :len(ids)] = ids
        batch["attention_mask"][out, :len(ids)] = 1
        if has_types:
            batch["token_type_ids"][out, :len(ids)] = encoded["token_type_ids"][i]
    return batch


# --------------------------------------------------------------------------- backends


class LogitsBackend(Protocol):
    name: str
    file: Path

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray: ...


def model_input_names(model) -> list[str]:
    """Which of input_ids, attention_mask, token_type_ids the model's forward takes (DistilBERT: no types)."""
    import inspect

    accepts = inspect.signature(model.forward).parameters
    return [name for name in MODEL_INPUTS if name in accepts]


def feed_for(batch: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The arrays a model takes; token types default to zeros when the tokenizer made none."""
    return {name: batch[name] if name in batch else np.zeros_like(batch["input_ids"]) for name in names}


class TorchBackend:
    """The saved Hugging Face model, run by PyTorch in fp32, or in bf16 (``bf16=True``): on CPUs with bf16
    instructions (AVX512-BF16, AMX) about 2.5x faster, with labels that match fp32 on nearly every text."""

    def __init__(self, folder: Path, file: Path, *, bf16: bool = False):
        import torch
        from safetensors import SafetensorError
        from transformers import AutoModelForSequenceClassification

        self.file, self.name = file, "torch-bf16" if bf16 else "torch"
        dtype = torch.bfloat16 if bf16 else torch.float32
        try:
            self.model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=dtype).eval()
        except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: a damaged weights file
            raise ModelError(f"Could not load the model in {folder}: {(str(exc) or type(exc).__name__).splitlines()[0]}",
                             hint="The folder needs config.json and model.safetensors as saved by training; "
                                  "if the file is damaged, train or export the model again.") from exc
        self.inputs = model_input_names(self.model)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        from bertstudio.cls_only import last_layer_for_cls_only

        with torch.inference_mode(), last_layer_for_cls_only(self.model):
            feed = {k: torch.from_numpy(v) for k, v in feed_for(batch, self.inputs).items()}
            return self.model(**feed).logits.float().numpy()


# ONNX Runtime fuses "Add + LayerNormalization" into one SkipLayerNormalization kernel, and on this project's
# reference CPU (onnxruntime 1.32, Xeon with AVX512) that kernel is ~5x slower than the two ops it replaces
# (measured: 255 us vs 51 us for 128 x 768): 24 of them cost BERT-base several ms per call, a fifth of its
# INT8 latency.  Leaving the pair unfused costs at most a few microseconds where the kernel is fast, so it is off.
ORT_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def ort_session(file: Path, threads: int | None = None):
    """An ONNX Runtime CPU session for ``file``: every graph optimisation but the slow one above, quiet logs,
    ``threads`` cores for one inference at a time (None: ONNX Runtime's default, all cores)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # errors only: ORT's info lines mean nothing to a user
    if threads is not None:
        options.intra_op_num_threads = max(1, int(threads))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        return ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"],
                                    disabled_optimizers=list(ORT_DISABLED_OPTIMIZERS))
    except Exception as exc:  # ORT raises its own untyped errors for broken files
        raise ModelError(f"Could not open the ONNX file {file}: {str(exc).splitlines()[0]}",
                         hint="Export the model again (bertstudio export RUN --format onnx).") from exc


class OnnxBackend:
    """An exported ONNX file (fp32 or INT8) run by ONNX Runtime on the CPU."""

    def __init__(self, file: Path, name: str = "onnx"):
        self.name, self.file = name, file
        self.session = ort_session(file)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, feed_for(batch, self.inputs))[0].astype(np.float32)


class TorchScriptBackend:
    """A traced TorchScript module: positional (input_ids, attention_mask[, token_type_ids]) -> logits."""

    name = "torchscript"

    def __init__(self, file: Path, inputs: Sequence[str]):
        import torch

        self.file = file
        self.module = torch.jit.load(str(file), map_location="cpu").eval()
        self.inputs = list(inputs)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            feed = feed_for(batch, self.inputs)
            return self.module(*[torch.from_numpy(feed[k]) for k in self.inputs]).float().numpy()


def _torchscript_inputs(file: Path) -> list[str]:
    """Input order recorded at export time (the traced module cannot tell it)."""
    info = file.parent / EXPORT_INFO_FILE
    if info.is_file():
        inputs = json.loads(info.read_text(encoding="utf-8")).get("inputs")
        if inputs:
            return list(inputs)
    return list(MODEL_INPUTS)


def open_backend(location: ModelLocation, backend: str) -> LogitsBackend:
    name, file = choose_backend(location, backend)
    if name in ("torch", "torch-bf16"):
        return TorchBackend(file.parent, file, bf16=name == "torch-bf16")
    if name == "torchscript":
        return TorchScriptBackend(file, _torchscript_inputs(file))
    return OnnxBackend(file, name)


# --------------------------------------------------------------------------- predictions


@dataclass
class PredictionBatch:
    """Predicted label, its probability and every class probability, in input order."""

    labels: list[str]
    confidences: np.ndarray
    probs: np.ndarray  # rows x classes, calibrated with the saved temperature
    label_names: list[str]

    def __len__(self) -> int:
        return len(self.labels)

    def to_records(self) -> list[dict[str, Any]]:
        return [{"label": label, "confidence": float(conf),
                 "probabilities": {name: float(p) for name, p in zip(self.label_names, row)}}
                for label, conf, row in zip(self.labels, self.confidences, self.probs)]


def softmax_with_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    from bertstudio.metrics import softmax

    return softmax(np.asarray(logits, dtype=np.float64) / temperature)


class Predictor:
    """Texts in, calibrated predictions out; the same for every backend."""

    def __init__(self, backend: LogitsBackend, tokenizer, prep: Preprocessing, location: ModelLocation,
                 batch_size: int = DEFAULT_BATCH_SIZE):
        self.backend = backend
        self.tokenizer = tokenizer
        self.prep = prep
        self.location = location
        self.batch_size = batch_size

    @property
    def label_names(self) -> list[str]:
        return list(self.prep.label_names)

    def info(self) -> dict[str, Any]:
        """What a user (or the server's /info) wants to know about the loaded model."""
        return {"labels": self.label_names, "model": str(self.location.run_dir or self.location.folder),
                "model_file": str(self.backend.file), "backend": self.backend.name,
                "max_length": self.prep.max_length, "text_pair": self.prep.text_pair,
                "temperature": self.prep.temperature, "base_model": self.prep.base_model}

    def describe(self) -> str:
        pair = " (text pairs)" if self.prep.text_pair else ""
        return (f"{self.backend.name} model from {self.backend.file}{pair}: {len(self.label_names)} labels "
                f"({', '.join(self.label_names)}), texts cut at {self.prep.max_length} tokens.")

    def _check_pairs(self, texts: Sequence[str], text_pairs: Sequence[str] | None) -> None:
        if self.prep.text_pair and text_pairs is None:
            raise DataError("This model was trained on pairs of texts, but only one text per row was given.",
                            hint="Give the second text too (text_pairs, or --text-pair for a file).")
        if text_pairs is not None and len(text_pairs) != len(texts):
            raise DataError(f"{len(texts)} texts but {len(text_pairs)} second texts were given.",
                            hint="Give one second text for every text.")

    def logits(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> np.ndarray:
        """Raw logits in input order; batches are formed from texts of similar length for speed."""
        from bertstudio.batching import sorted_batches

        self._check_pairs(texts, text_pairs)
        pairs = text_pairs if self.prep.text_pair else None
        out = np.zeros((len(texts), len(self.label_names)), dtype=np.float32)
        if not len(texts):
            return out
        encoded = encode(self.tokenizer, texts, pairs, self.prep)
        lengths = [len(ids) for ids in encoded["input_ids"]]
        pad_id = self.tokenizer.pad_token_id or 0
        for rows in sorted_batches(lengths, self.batch_size):
            out[rows] = self.backend.logits(pad_batch(encoded, rows, pad_id))
        return out

    def predict(self, texts: Sequence[str], text_pairs: Sequence[str] | None = None) -> PredictionBatch:
        probs = softmax_with_temperature(self.logits(texts, text_pairs), self.prep.temperature)
        best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=np.int64)
        return PredictionBatch(labels=[self.label_names[i] for i in best],
                               confidences=probs.max(axis=1) if len(probs) else np.zeros(0),
                               probs=probs, label_names=self.label_names)

    def predict_file(self, path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                     text_column: str | None = None, text_pair_column: str | None = None,
                     chunk_rows: int = DEFAULT_CHUNK_ROWS,
                     on_progress: Callable[[int], None] | None = None) -> "PredictFileResult":
        return predict_file(self, path, out, text_column=text_column, text_pair_column=text_pair_column,
                            chunk_rows=chunk_rows, on_progress=on_progress)


def load_tokenizer_from(folder: Path):
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ModelError(f"Could not load the tokenizer in {folder}: {str(exc).splitlines()[0]}",
                         hint="The folder needs the tokenizer files saved with the model "
                              "(tokenizer.json or vocab.txt).") from exc


def load_predictor(model_dir: str | os.PathLike[str], backend: str = "auto",
                   batch_size: int = DEFAULT_BATCH_SIZE) -> Predictor:
    """A predictor for a run folder, its ``model/`` folder, or an hf/onnx/torchscript export folder.

    ``backend``: torch, onnx, onnx-int8, torchscript, or auto (PyTorch when the weights are there, else
    whichever export the folder holds).  An ONNX or TorchScript file is looked for in the folder itself,
    then in the run's ``exports/<backend>/``.
    """
    from bertstudio.pipeline import quiet_library_progress

    quiet_library_progress()
    location = locate_model(model_dir)
    runner = open_backend(location, backend)
    # Export folders carry their own tokenizer and preprocessing.json, next to the model file.
    folder = runner.file.parent
    return Predictor(runner, load_tokenizer_from(folder), load_preprocessing(folder), location,
                     batch_size=max(1, int(batch_size)))


# --------------------------------------------------------------------------- files


def escape_formula(cell: str) -> str:
    """Stop spreadsheets from running a cell as a formula: a leading apostrophe makes it plain text.

    Plain numbers such as ``-1`` stay as they are: they cannot run anything.
    """
    if cell and cell.startswith(FORMULA_TRIGGERS) and not _PLAIN_NUMBER.match(cell):
        return "'" + cell
    return cell


@dataclass
class PredictFileResult:
    rows: int
    out_path: Path
    seconds: float
    backend: str
    label_counts: dict[str, int]
    text_column: str
    text_pair_column: str | None = None

    def describe(self) -> str:
        speed = self.rows / self.seconds if self.seconds > 0 else 0.0
        counts = ", ".join(f"{name}: {n:,}" for name, n in self.label_counts.items())
        return (f"Predicted {self.rows:,} rows in {self.seconds:.1f} s ({speed:,.0f} rows/s, {self.backend}); "
                f"wrote {self.out_path}. Labels: {counts}.")

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "out": str(self.out_path), "seconds": round(self.seconds, 2),
                "backend": self.backend, "label_counts": self.label_counts}


def _delimited_options(file: Path) -> dict[str, Any]:
    from bertstudio.data.io import detect_delimiter, detect_encoding

    with file.open("rb") as handle:
        sample = handle.read(256 * 1024)
    encoding = detect_encoding(sample)
    text = sample.decode(encoding, errors="replace")
    sep = "\t" if file.suffix.lower() == ".tsv" else detect_delimiter(text)
    return {"encoding": encoding, "sep": sep}


def _read_columns(file: Path) -> list[str]:
    """Column names without reading the data."""
    import pandas as pd

    kind = file.suffix.lower()
    if kind in (".csv", ".tsv", ".txt"):
        return list(pd.read_csv(file, nrows=0, **_delimited_options(file)).columns.astype(str))
    if kind == ".parquet":
        import pyarrow.parquet as pq

        return list(pq.ParquetFile(file).schema_arrow.names)
    return list(next(iter_table_chunks(file, None, 1)).columns.astype(str))


def iter_table_chunks(file: Path, columns: list[str] | None, chunk_rows: int) -> Iterator[Any]:
    """The table in DataFrames of at most ``chunk_rows`` rows, all cells as strings ("" for empty).

    CSV/TSV, JSON lines and Parquet are streamed; Excel and plain JSON are small by nature and read whole.
    """
    import pandas as pd

    kind = file.suffix.lower()
    if kind in (".csv", ".tsv", ".txt"):
        reader = pd.read_csv(file, usecols=columns, dtype=str, keep_default_na=False, chunksize=chunk_rows,
                             **_delimited_options(file))
        with reader:
            yield from reader
        return
    if kind == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(file).iter_batches(batch_size=chunk_rows, columns=columns):
            yield batch.to_pandas().fillna("").astype(str)
        return
    if kind == ".jsonl":
        with pd.read_json(file, lines=True, dtype=False, chunksize=chunk_rows) as reader:
            for frame in reader:
                yield (frame[columns] if columns else frame).fillna("").astype(str)
        return
    if kind in (".xlsx", ".xls"):
        frame = pd.read_excel(file, dtype=str, keep_default_na=False)
    elif kind == ".json":
        frame = pd.read_json(file, dtype=False).fillna("").astype(str)
    else:
        raise DataError(f"'{file.name}' is not a supported file type.",
                        hint="Use CSV, TSV, JSON lines, Parquet or Excel.")
    frame.columns = frame.columns.astype(str)
    frame = frame[columns] if columns else frame
    for start in range(0, max(len(frame), 1), chunk_rows):
        yield frame.iloc[start:start + chunk_rows]


def _pick_column(given: str | None, preferred: Sequence[str | None], columns: list[str]) -> str | None:
    if given is not None:
        if given not in columns:
            raise DataError(f"The file has no column named '{given}'.",
                            hint=f"Columns in the file: {', '.join(columns)}.")
        return given
    for name in preferred:
        if name and name in columns:
            return name
    return None


def resolve_text_columns(columns: list[str], prep: Preprocessing, text_column: str | None,
                         text_pair_column: str | None) -> tuple[str, str | None]:
    """Which column is the text (and the second text): as given, else as in training, else guessed."""
    text = _pick_column(text_column, [prep.text_column, "text", "sentence", "review"], columns)
    if text is None:
        if len(columns) == 1:
            text = columns[0]
        else:
            raise DataError("Could not tell which column holds the texts.",
                            hint=f"Name it with --text (columns: {', '.join(columns)}).")
    pair = None
    if prep.text_pair:
        pair = _pick_column(text_pair_column, [prep.text_pair_column, "text_pair", "text_b"], columns)
        if pair is None:
            raise DataError("This model was trained on pairs of texts; could not tell which column holds the "
                            "second text.", hint=f"Name it with --text-pair (columns: {', '.join(columns)}).")
    return text, pair


def _output_frame(chunk, text_col: str, pair_col: str | None, batch: PredictionBatch):
    import pandas as pd

    out = pd.DataFrame({"text": [escape_formula(t) for t in chunk[text_col]]})
    if pair_col is not None:
        out["text_pair"] = [escape_formula(t) for t in chunk[pair_col]]
    out["label"] = [escape_formula(label) for label in batch.labels]
    out["confidence"] = np.round(batch.confidences, 6)
    for i, name in enumerate(batch.label_names):
        out[f"prob_{escape_formula(name)}"] = np.round(batch.probs[:, i], 6)
    return out


def predict_file(predictor: Predictor, path: str | os.PathLike[str], out: str | os.PathLike[str], *,
                 text_column: str | None = None, text_pair_column: str | None = None,
                 chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 on_progress: Callable[[int], None] | None = None) -> PredictFileResult:
    """Predict every row of a table and write text, label, confidence and ``prob_<label>`` columns as CSV.

    Reads and writes ``chunk_rows`` rows at a time, so memory stays flat however long the file is.
    ``on_progress(rows_done)`` is called after each chunk.
    """
    file, target = Path(path).expanduser(), Path(out).expanduser()
    if not file.is_file():
        raise DataError(f"The file '{file}' was not found.", hint="Check the file name and folder.")
    columns = _read_columns(file)
    text_col, pair_col = resolve_text_columns(columns, predictor.prep, text_column, text_pair_column)
    wanted = [text_col] + ([pair_col] if pair_col else [])
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    start, rows = time.perf_counter(), 0
    counts = np.zeros(len(predictor.label_names), dtype=np.int64)
    try:
        with tmp.open("w", encoding="utf-8", newline="") as handle:
            for chunk in iter_table_chunks(file, wanted, chunk_rows):
                if not len(chunk):
                    continue
                texts = chunk[text_col].tolist()
                pairs = chunk[pair_col].tolist() if pair_col else None
                batch = predictor.predict(texts, pairs)
                _output_frame(chunk, text_col, pair_col, batch).to_csv(handle, index=False, header=rows == 0)
                counts += np.bincount(batch.probs.argmax(axis=1), minlength=len(counts))
                rows += len(chunk)
                if on_progress is not None:
                    on_progress(rows)
        if rows == 0:
            raise DataError(f"'{file.name}' has no rows to predict.", hint="Choose a file with data rows.")
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return PredictFileResult(rows=rows, out_path=target, seconds=time.perf_counter() - start,
                             backend=predictor.backend.name,
                             label_counts=dict(zip(predictor.label_names, counts.tolist())),
                             text_column=text_col, text_pair_column=pair_col)
