"""The four ways to run a model that the benchmark compares: the prediction backends of
:mod:`bertstudio.predict.backends` (what ``bertstudio predict`` runs), with timing on top.

* ``torch-fp32``: PyTorch in float32 under ``torch.inference_mode()``, the last layer for [CLS] alone, as
  ``bertstudio predict`` runs it (the exported ONNX files compute the same; see :mod:`bertstudio.train.speedups.cls_only`).
* ``torch-bf16``: PyTorch in bfloat16.  Two ways exist: cast the weights once (``cast``, the default)
  or keep fp32 weights and use ``torch.autocast`` (``autocast``).  On a CPU with AVX512-BF16/AMX the
  cast is faster, because autocast converts every weight matrix again on every call.
* ``onnx``: the ONNX export run by ONNX Runtime (CPU), all graph optimisations on.
* ``onnx-int8``: the dynamically quantized INT8 file (fused for ONNX Runtime), run the same way.

ONNX files are exactly what the export module writes (:mod:`bertstudio.export.onnx` and
:mod:`bertstudio.export.int8`), so the figures are those of a one-click export.  The benchmark caches
them, keyed by a hash of the weights and the export settings, so a model is exported once.  A run's own
exported files, when it has them, are timed as they are.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bertstudio.benchmark.timing import TimedCall, host_timed
from bertstudio.data.io import cache_dir
from bertstudio.disk_cache import mark_used, prune_lru
from bertstudio.errors import ConfigError, ModelError
from bertstudio.export import onnx as onnx_export
from bertstudio.export.int8 import GRAPH_VERSION, write_int8
from bertstudio.export.onnx import INT8_FILE, ONNX_FILE, export_onnx
from bertstudio.predict.backends import OnnxBackend, TorchBackend
from bertstudio.runs import slugify

if TYPE_CHECKING:
    import numpy as np

    from bertstudio.benchmark.models import BenchModel
    from bertstudio.results import Preprocessing

Bf16Method = Literal["cast", "autocast"]
BF16_METHODS: tuple[str, ...] = ("cast", "autocast")
DEFAULT_BF16_METHOD: Bf16Method = "cast"
BACKEND_LABELS = {"torch-fp32": "PyTorch fp32", "torch-bf16": "PyTorch bf16", "onnx": "ONNX Runtime fp32",
                  "onnx-int8": "ONNX Runtime INT8"}
# The benchmark's backend names as the predictor and ``bertstudio serve --backend`` call them (others are the same).
PREDICTOR_BACKENDS = {"torch-fp32": "torch"}
CACHE_SUBDIR = "benchmark-onnx"
CACHE_BUDGET_BYTES = 4 * 1024**3  # holds every file of a large benchmark (BERT-large alone: ~1.7 GB)


def check_bf16_method(method: str) -> None:
    if method not in BF16_METHODS:
        raise ConfigError(f"Unknown bf16 method '{method}'.", hint=f"Use one of: {', '.join(BF16_METHODS)}.")


class Runner:
    """A prediction backend (:mod:`bertstudio.predict.backends`, the code ``bertstudio predict`` runs) with
    what only the benchmark needs: a batch bound once so that only the model is timed, a clock that sees
    GPU work, and bf16 by autocast.  Also plain logits for the parity checks."""

    def __init__(self, engine: TorchBackend | OnnxBackend, backend: str, device: str = "cpu", *,
                 autocast: bool = False):
        self.engine, self.backend, self.device = engine, backend, device
        self.file: Path | None = engine.file  # the ONNX file, for its size on disk (None for PyTorch)
        self._precision = functools.partial(_bf16_autocast, device) if autocast else contextlib.nullcontext
        # Without autocast the prediction backend's own call is what gets timed, with nothing around it.
        self.run = self._run_autocast if autocast else engine.run

    def _run_autocast(self, prepared: Any) -> Any:
        with self._precision():
            return self.engine.run(prepared)

    def bind(self, batch: dict[str, np.ndarray]) -> Callable[[], Any]:
        """A zero-argument call running the model on ``batch``, with the inputs already where they must be."""
        return functools.partial(self.run, self.engine.prepare(batch))

    def ready(self, batch: dict[str, np.ndarray]) -> Callable[[], Any]:
        """:meth:`bind`, and on a GPU a wait until the inputs are there: the end-to-end path, whose host clock
        must see the copy (``prepare`` does not wait for it)."""
        work = self.bind(batch)
        if self.on_cuda:
            wait_for_cuda()
        return work

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        with self._precision():
            return self.engine.logits(batch)

    @property
    def on_cuda(self) -> bool:
        return self.device.startswith("cuda")

    def timed(self, work: Callable[[], Any]) -> TimedCall:
        """``work`` wrapped so that calling it returns its duration in seconds."""
        return cuda_event_timed(work) if self.on_cuda else host_timed(work)

    def close(self) -> None:
        """Let go of the backend: a bf16 copy of the weights or an ONNX session is freed (the fp32 model
        belongs to the caller)."""
        del self.engine, self.run


def _bf16_autocast(device: str):
    import torch

    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def torch_runner(model, backend: str, device: str, bf16_method: Bf16Method = DEFAULT_BF16_METHOD) -> Runner:
    """``model`` as ``bertstudio predict`` runs it (the last layer for [CLS] alone), in fp32 or bf16 on ``device``.

    The ONNX files compute the same ([CLS] alone; see :mod:`bertstudio.train.speedups.cls_only`), so the rows
    compare like for like.
    """
    import torch

    check_bf16_method(bf16_method)
    if backend == "torch-bf16" and bf16_method == "cast":
        # A copy, so the fp32 model stays intact for the other backends (and the ONNX export).
        model = copy.deepcopy(model).to(device=device, dtype=torch.bfloat16)
    else:
        model = model.to(device)
    return Runner(TorchBackend(model.eval(), name=backend, device=device), backend, device,
                  autocast=backend == "torch-bf16" and bf16_method == "autocast")


def ort_runner(file: Path, backend: str, threads: int) -> Runner:
    """``file`` in ONNX Runtime with the session options of ``bertstudio predict``, on ``threads`` cores."""
    return Runner(OnnxBackend(file, backend, threads=threads), backend)


# --------------------------------------------------------------------------- CUDA clocks


def cuda_event_timed(work: Callable[[], Any]) -> TimedCall:
    """Device time of ``work`` between two CUDA events: the host clock would only see the kernel launches."""
    import torch

    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)

    def call() -> float:
        start.record()
        work()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1000.0  # elapsed_time is in milliseconds

    return call


def wait_for_cuda() -> None:
    """Wait until the GPU has done what it was given, so that a host clock sees it."""
    import torch

    torch.cuda.synchronize()


# --------------------------------------------------------------------------- ONNX files (export + cache)


def default_cache_dir() -> Path:
    return cache_dir() / CACHE_SUBDIR


def weights_digest(torch_model, extra: dict[str, Any]) -> str:
    """A short hash of every weight, the architecture and the export settings: the ONNX cache key.

    Hashing the tensors (not a file's name or date) keeps the key right for models that were never
    saved (random weights, a fresh head) and for a folder whose weights were replaced.
    """
    digest = hashlib.blake2b(digest_size=8)
    digest.update(json.dumps({**extra, "config": torch_model.config.to_diff_dict()}, sort_keys=True,
                             default=str).encode())
    for name, tensor in sorted(torch_model.state_dict().items()):
        digest.update(name.encode())
        digest.update(_tensor_bytes(tensor))
    return digest.hexdigest()


def _tensor_bytes(tensor) -> bytes:
    import torch

    flat = tensor.detach().to("cpu").contiguous()
    if flat.dtype == torch.bfloat16:
        flat = flat.float()
    return flat.numpy().tobytes()


@dataclass(frozen=True)
class OnnxFiles:
    fp32: Path
    int8: Path | None
    source: str  # "export folder" (the person's own files) or "benchmark cache"


def _export_settings() -> dict[str, Any]:
    return {"opset": onnx_export.OPSET, "int8_ops": list(onnx_export.INT8_OPS), "per_channel": True,
            "int8_graph": GRAPH_VERSION}


def _atomic_file(target: Path, write: Callable[[Path], Any]) -> Path:
    """Write ``target`` through a temporary file in the same folder, so a crash never leaves half a model."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        write(tmp / target.name)
        os.replace(tmp / target.name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def cached_onnx(torch_model, tokenizer, prep: Preprocessing, *, label: str, cache_root: Path,
                int8: bool) -> OnnxFiles:
    """The model's fp32 and (when asked) INT8 ONNX files as the export module writes them, made once."""

    folder = cache_root / f"{slugify(label)}-{weights_digest(torch_model, _export_settings())}"
    fp32 = folder / ONNX_FILE
    if not fp32.is_file():
        _atomic_file(fp32, lambda path: export_onnx(torch_model, tokenizer, prep, path))
    int8_file = folder / INT8_FILE
    if int8 and not int8_file.is_file():
        _atomic_file(int8_file, lambda path: write_int8(torch_model, tokenizer, prep, path))
    mark_used(folder)  # the last to go when the cache is trimmed
    with contextlib.suppress(OSError):  # housekeeping: a folder another process removes meanwhile must not fail this
        prune_cache(cache_root, in_use=folder)
    return OnnxFiles(fp32, int8_file if int8 else None, "benchmark cache")


def prune_cache(cache_root: Path, in_use: Path, budget: int = CACHE_BUDGET_BYTES) -> list[Path]:
    """Delete the least recently used exports until the cache fits ``budget``; ``in_use`` always stays.

    Every trained run and every change of weights makes new files (BERT-base: ~520 MB); what is deleted is
    re-exported if needed.
    """

    return prune_lru(cache_root.iterdir(), in_use, budget)


def onnx_file(model: BenchModel, backend: str, torch_model, tokenizer, prep: Preprocessing,
              cache_root: Path) -> tuple[Path, str]:
    """The ONNX file ``backend`` runs for ``model`` and where it came from.

    The person's own exported files win (they are what will be deployed); otherwise the benchmark
    exports the PyTorch model itself into its cache.
    """
    if backend in model.onnx_files:
        return model.onnx_files[backend], "export folder"
    if torch_model is None:
        raise ModelError(model.unsupported_reason(backend))
    files = cached_onnx(torch_model, tokenizer, prep, label=model.label, cache_root=cache_root,
                        int8=backend == "onnx-int8")
    return (files.int8 if backend == "onnx-int8" else files.fp32), files.source


def file_bytes(path: Path) -> int:
    """Size of an ONNX model on disk, its external-data files included."""
    total = path.stat().st_size
    data = path.with_name(path.name + ".data")
    return total + (data.stat().st_size if data.is_file() else 0)
