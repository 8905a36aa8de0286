"""What to time: a registry model, the bundled model, a run or model folder, or an ONNX export folder.

* The bundled model, and a registry model already in the Hugging Face cache, are timed with their
  real weights.
* A registry model that would need a download is timed as its exact architecture with random
  weights (``architecture_config``), labelled "architecture timing, weights not downloaded":
  the latency is valid (it depends on the shapes, not the values), accuracy is not claimed.
* A run folder, its ``model/`` folder, or a Hugging Face export folder uses its real weights, and
  the ONNX files already exported next to it (the user's actual artifacts) when there are any.
* An ONNX export folder (no PyTorch weights) can only be timed with the ONNX backends.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bertstudio.errors import ModelError
from bertstudio.models.bundled import bundled_model_path
from bertstudio.models.loading import _quiet_load, load_model_for_classification
from bertstudio.models.loading import load_tokenizer as load_registry_tokenizer
from bertstudio.models.registry import DEFAULT_MODEL, VARIANTS, architecture_config, find_variant
from bertstudio.models.sources import availability
from bertstudio.predict.backends import load_classifier
from bertstudio.predict.locate import locate_model
from bertstudio.predict.predictor import load_tokenizer_from
from bertstudio.predict.preprocessing import load_preprocessing
from bertstudio.results import Preprocessing, read_export
from bertstudio.runs import PREPROCESSING_FILE

ModelKind = Literal["registry", "bundled", "folder", "onnx-export"]
Weights = Literal["real", "random"]

ARCHITECTURE_NOTE = "architecture timing, weights not downloaded"
STAND_IN_TOKENIZER_NOTE = "tokenizer timed with the bundled uncased WordPiece vocabulary as a stand-in"
RANDOM_SEED = 0  # fixed, so a random-weight model is the same every time (and its ONNX cache stays valid)
BENCH_LABELS = ("0", "1")  # a 2-label head: what most users train, and its size does not matter for speed
BENCH_MAX_LENGTH = 128
TORCH_BACKENDS = ("torch-fp32", "torch-bf16")
ONNX_BACKENDS = ("onnx", "onnx-int8")
ALL_BACKENDS = (*TORCH_BACKENDS, *ONNX_BACKENDS)
# The export module's name for the file each ONNX backend runs (inference.BACKEND_FILES).
_EXPORT_BACKEND = {"onnx": "onnx", "onnx-int8": "onnx-int8"}


@dataclass(frozen=True)
class BenchModel:
    """One model to time, and where its weights, tokenizer and ONNX files come from."""

    name: str  # as the person gave it
    label: str  # short name for tables and charts
    kind: ModelKind
    weights: Weights
    registry_key: str | None = None
    folder: Path | None = None  # Hugging Face folder with config.json + weights (None for registry models)
    tokenizer_folder: Path | None = None  # None: the registry model's own (or stand-in) tokenizer
    run_dir: Path | None = None
    onnx_files: dict[str, Path] = field(default_factory=dict)  # backend -> an ONNX file that already exists
    # backend -> the export's own parity check of that file (export.json), with "passed" added
    export_checks: dict[str, dict] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def trained(self) -> bool:
        """The person's own model (trained head): the only kind whose predictions are worth checking."""
        return self.kind in ("folder", "onnx-export")

    @property
    def note(self) -> str:
        return "; ".join(self.notes)

    def supports(self, backend: str) -> bool:
        if backend in TORCH_BACKENDS:
            return self.kind != "onnx-export"
        return self.kind != "onnx-export" or backend in self.onnx_files

    def unsupported_reason(self, backend: str) -> str:
        if backend in TORCH_BACKENDS:
            return f"{self.label} is an ONNX export without PyTorch weights, so it is timed with ONNX backends only."
        source = self.run_dir or "RUN_FOLDER"  # an export folder cannot be exported again: its run can
        return f"{self.label} has no {backend} file; export it with: bertstudio export {source} --format {backend}"


def short_name(display_name: str) -> str:
    """'DistilBERT-base (uncased)' -> 'DistilBERT-base': the parenthesis is detail a table does not need."""
    return re.sub(r"\s*\(.*\)\s*$", "", display_name).strip() or display_name


def _registry_model(name: str) -> BenchModel:
    variant = find_variant(name)
    assert variant is not None
    label = short_name(variant.display_name)
    if variant.is_bundled:
        return BenchModel(name, label, "bundled", "real", registry_key=variant.key)
    if availability(variant.key) != "download":
        return BenchModel(name, label, "registry", "real", registry_key=variant.key)
    notes = [ARCHITECTURE_NOTE]
    if variant.cased or variant.architecture.vocab_size != 30522:
        notes.append(STAND_IN_TOKENIZER_NOTE)
    return BenchModel(name, label, "registry", "random", registry_key=variant.key, notes=tuple(notes))


def _folder_label(folder: Path, run_dir: Path | None) -> str:
    """'Your model (MiniLM-L6)' for a run; the folder's name otherwise."""

    if run_dir is None:
        return folder.name
    base = None
    if (folder / PREPROCESSING_FILE).is_file():
        base_key = load_preprocessing(folder).base_model
        variant = find_variant(base_key) if base_key else None
        base = short_name(variant.display_name) if variant else base_key
    return f"Your model ({base})" if base else f"Your model ({run_dir.name})"


def export_check(model_file: Path, backend: str) -> dict | None:
    """The parity check the export wrote next to ``model_file`` (export.json), with ``passed``: no warnings."""
    export = read_export(model_file.parent)
    if export is None or export.format != backend:
        return None
    return {**export.parity.to_dict(), "passed": not export.warnings}


def _folder_model(name: str) -> BenchModel:
    location = locate_model(name)
    onnx_files = {b: f for b in ONNX_BACKENDS if (f := location.backend_file(_EXPORT_BACKEND[b])) is not None}
    checks = {b: check for b, f in onnx_files.items() if (check := export_check(f, b)) is not None}
    torch_file = location.backend_file("torch")
    label = _folder_label(location.folder, location.run_dir)
    if torch_file is not None:
        return BenchModel(name, label, "folder", "real", folder=torch_file.parent, tokenizer_folder=torch_file.parent,
                          run_dir=location.run_dir, onnx_files=onnx_files, export_checks=checks)
    if not onnx_files:
        raise ModelError(f"'{name}' has neither PyTorch weights nor an ONNX file to time.",
                         hint="Point to a run folder, a model folder with model.safetensors, or an ONNX export "
                              "folder with model.onnx.")
    first = next(iter(onnx_files.values()))
    return BenchModel(name, label, "onnx-export", "real", tokenizer_folder=first.parent,
                      run_dir=location.run_dir, onnx_files=onnx_files, export_checks=checks)


def resolve_model(name: str) -> BenchModel:
    """What ``name`` (registry key, hub id of a registry model, or a folder) means for the benchmark."""

    text = str(name).strip()
    if not text:
        raise ModelError("No model was given to benchmark.",
                         hint="Name a built-in model (e.g. distilbert-base-uncased) or a run folder.")
    if find_variant(text) is not None:
        return _registry_model(text)
    if Path(text).expanduser().exists():
        return _folder_model(str(Path(text).expanduser()))

    raise ModelError(f"'{text}' is neither a built-in model nor a folder on this computer.",
                     hint=f"Built-in models: {', '.join(VARIANTS)}; or give the path of a run or export folder.")


# --------------------------------------------------------------------------- loading


@contextlib.contextmanager
def _seeded() -> Iterator[None]:
    """Random weights (a whole model, or a fresh head) come out the same every time; the global RNG is left as it was."""
    import torch

    with torch.random.fork_rng():
        torch.manual_seed(RANDOM_SEED)
        yield


def _random_weight_model(key: str):
    from transformers import AutoModelForSequenceClassification


    config = architecture_config(key)
    config.num_labels = len(BENCH_LABELS)
    with _seeded():
        model = AutoModelForSequenceClassification.from_config(config).float().eval()
        distinct_vectors(model)
    return model


def distinct_vectors(model, scale: float = 0.02) -> None:
    """Give every bias and normalisation weight small values of its own, as training does.

    A freshly initialised model has hundreds of identical vectors (biases all zero, LayerNorm weights all
    one). The ONNX exporter stores identical constants once, and ONNX Runtime then cannot fold a shared
    bias into the quantized matrix product before it: measured here, random-weight BERT-base in INT8
    kept 25 separate bias additions and 2 dequantizations that a trained model's graph does not have,
    ~5% slower. Architecture timing must time the graph a trained model gets.
    """
    import torch

    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(torch.randn_like(parameter), alpha=scale)


def load_torch_model(model: BenchModel):
    """The model in fp32 and eval mode, with a classification head (a fresh 2-label one for registry models)."""

    if model.kind == "onnx-export":
        raise ModelError(model.unsupported_reason("torch-fp32"))
    if model.weights == "random":
        return _random_weight_model(model.registry_key or model.name)
    if model.folder is None:
        labels = dict(enumerate(BENCH_LABELS))
        with _seeded():
            loaded = load_model_for_classification(model.registry_key or model.name, num_labels=len(labels),
                                                   id2label=labels, label2id={v: k for k, v in labels.items()})
        return loaded.eval()
    with _quiet_load(show_progress=False):  # a model folder without a head gets a fresh one: expected, not news
        return load_classifier(model.folder)


def load_tokenizer(model: BenchModel):
    """The model's own fast tokenizer; random-weight registry models borrow the bundled one (see notes)."""

    if model.tokenizer_folder is not None:
        return load_tokenizer_from(model.tokenizer_folder)
    return load_registry_tokenizer(DEFAULT_MODEL if model.weights == "random" else model.registry_key or model.name)


def preprocessing_for(model: BenchModel) -> Preprocessing:
    """How texts are prepared for this model: its saved preprocessing.json, else plain defaults."""

    folder = model.folder or model.tokenizer_folder
    if folder is not None and (folder / PREPROCESSING_FILE).is_file():
        return load_preprocessing(folder)
    return Preprocessing(label_names=list(BENCH_LABELS), max_length=BENCH_MAX_LENGTH)


@dataclass(frozen=True)
class TrainedFacts:
    """What the benchmark's selection needs to know of the person's own model."""

    base_model: str | None  # the registry key it was fine-tuned from (None: unknown)
    max_length: int  # the tokens of each text it reads: the length worth timing it at


def trained_facts(name: str) -> TrainedFacts | None:
    """For the person's own model (a run, model or export folder): what it was fine-tuned from and how many tokens
    it reads, from its preprocessing.json; None for a built-in model."""
    if find_variant(str(name).strip()) is not None:
        return None
    model = resolve_model(name)
    if not model.trained:
        return None
    prep = preprocessing_for(model)
    return TrainedFacts(prep.base_model or None, prep.max_length)


def vocab_size(torch_model=None, tokenizer=None) -> int:
    """The number of token ids the model accepts (random inputs must stay below it)."""
    if torch_model is not None:
        return int(torch_model.config.vocab_size)
    return len(tokenizer)


def torch_weights_bytes(model: BenchModel, torch_model) -> int:
    """Size of the fp32 weights on disk: the saved file, or (random weights) what saving them would take."""

    folder = bundled_model_path() if model.kind == "bundled" else model.folder
    if folder is not None:
        found = [folder / n for n in ("model.safetensors", "pytorch_model.bin") if (folder / n).is_file()]
        if found:
            return found[0].stat().st_size
    return sum(p.numel() * p.element_size() for p in torch_model.state_dict().values())
