"""The ways to run a trained model (PyTorch fp32/bf16, ONNX Runtime, TorchScript) behind one interface."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence

import numpy as np

from bertstudio.errors import ModelError
from bertstudio.fingerprint import file_fingerprint
from bertstudio.models.pooling import folder_class, own_config
from bertstudio.predict.locate import ModelLocation, choose_backend
from bertstudio.results import read_export
from bertstudio.train.speedups.cls_only import last_layer_for_cls_only

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


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


def load_classifier(folder: Path, *, bf16: bool = False):
    """The Hugging Face classifier saved in ``folder``, in eval mode; a ModelError in plain words if it cannot load."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification

    dtype = torch.bfloat16 if bf16 else torch.float32
    try:
        # use_safetensors: never a pickle, whose loading runs whatever code it carries.
        # A model that pools another way loads as BERT Studio's own class (never code from the folder).
        model_class = folder_class(folder) or AutoModelForSequenceClassification
        config = own_config(folder)
        return model_class.from_pretrained(folder, dtype=dtype, use_safetensors=True,
                                           **({"config": config} if config is not None else {})).eval()
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: a damaged weights file
        raise ModelError(f"Could not load the model in {folder}: {(str(exc) or type(exc).__name__).splitlines()[0]}",
                         hint="The folder needs config.json and model.safetensors as saved by training; "
                              "if the file is damaged, train or export the model again.") from exc


def inference_device() -> str:
    """Where prediction runs PyTorch models: the GPU when there is one (BERT-base in bf16 at batch 64: ~15,000
    texts/s on an H200 against tens on a laptop CPU), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


class TorchBackend:
    """A Hugging Face classifier run by PyTorch, in fp32, or in bf16: on CPUs with bf16 instructions
    (AVX512-BF16, AMX) about 2.5x faster, with labels that match fp32 on nearly every text.

    ``prepare`` puts a batch where the model is and ``run`` computes the logits (the last layer for [CLS]
    alone), so the benchmark can time ``run`` by itself; ``logits`` is both, as numpy.
    """

    def __init__(self, model, *, name: str = "torch", file: Path | None = None, device: str = "cpu"):
        self.model, self.name, self.file, self.device = model, name, file, device
        self.inputs = model_input_names(model)

    @classmethod
    def from_folder(cls, folder: Path, file: Path, *, bf16: bool = False, device: str = "cpu") -> TorchBackend:
        """The model saved in ``folder`` (``file``: its weights, reported as what runs), on ``device``."""
        return cls(load_classifier(folder, bf16=bf16).to(device), name="torch-bf16" if bf16 else "torch", file=file,
                   device=device)

    def prepare(self, batch: dict[str, np.ndarray]) -> dict:
        import torch

        # Not waiting for the copy: the GPU still runs the batch before while this one crosses (one wait per batch,
        # when its logits are read back).
        return {k: torch.from_numpy(v).to(self.device, non_blocking=True)
                for k, v in feed_for(batch, self.inputs).items()}

    def run(self, tensors: dict):
        import torch

        with torch.inference_mode(), last_layer_for_cls_only(self.model):
            return self.model(**tensors).logits

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.run(self.prepare(batch)).float().cpu().numpy()


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
    """An exported ONNX file (fp32 or INT8) run by ONNX Runtime on the CPU (``threads``: see :func:`ort_session`).

    ``prepare`` picks the arrays the file takes and ``run`` runs the session on them, as :class:`TorchBackend`.
    """

    def __init__(self, file: Path, name: str = "onnx", *, threads: int | None = None):
        self.name, self.file = name, file
        self.session = ort_session(file, threads)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def prepare(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return feed_for(batch, self.inputs)

    def run(self, feed: dict[str, np.ndarray]) -> list:
        return self.session.run(None, feed)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return np.asarray(self.run(self.prepare(batch))[0], dtype=np.float32)


def check_trusted_torchscript(file: Path, sha256: str | None) -> None:
    """Refuse a TorchScript file BERT Studio did not write: ``torch.jit.load`` runs the code a file carries, so
    only a file whose SHA-256 matches the one its export recorded in export.json is loaded."""
    if not sha256:
        raise ModelError(f"{file} is not trusted: it was not exported by BERT Studio (its export.json records no "
                         "SHA-256 of it), and a TorchScript file can carry code that runs when it is loaded.",
                         hint="Export the run again (bertstudio export RUN --format torchscript), or use the "
                              "model.safetensors or ONNX backend.")
    found = file_fingerprint(file)
    if found is None or found.sha256 != sha256:
        raise ModelError(f"{file} is not trusted: it changed since it was exported (its SHA-256 no longer matches "
                         "the one recorded in export.json), and a TorchScript file can carry code.",
                         hint="Export the run again (bertstudio export RUN --format torchscript).")


class TorchScriptBackend:
    """A traced TorchScript module: positional (input_ids, attention_mask[, token_type_ids]) -> logits.

    ``sha256``: the file's digest as its export recorded it; the file is loaded only when it matches.
    """

    name = "torchscript"

    def __init__(self, file: Path, inputs: Sequence[str], sha256: str | None):
        import torch

        check_trusted_torchscript(file, sha256)
        self.file = file
        self.module = torch.jit.load(str(file), map_location="cpu").eval()
        self.inputs = list(inputs)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            feed = feed_for(batch, self.inputs)
            return self.module(*[torch.from_numpy(feed[k]) for k in self.inputs]).float().numpy()


def _torchscript_backend(file: Path) -> TorchScriptBackend:
    """The export's TorchScript file, with the input order and SHA-256 recorded at export time (the traced
    module cannot tell its inputs; the digest says the file is the one BERT Studio wrote)."""
    export = read_export(file.parent)
    record = export.record if export is not None and export.path == file else None
    inputs = list(record.inputs) if record is not None and record.inputs else list(MODEL_INPUTS)
    return TorchScriptBackend(file, inputs, record.sha256 if record is not None else None)


def open_backend(location: ModelLocation, backend: str) -> LogitsBackend:
    name, file = choose_backend(location, backend)
    if name in ("torch", "torch-bf16"):
        return TorchBackend.from_folder(file.parent, file, bf16=name == "torch-bf16", device=inference_device())
    if name == "torchscript":
        return _torchscript_backend(file)
    return OnnxBackend(file, name)
