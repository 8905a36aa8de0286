"""Finding the model to run: a run folder, its model/, or an export folder, and which backend can run it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bertstudio.errors import ConfigError, ModelError
from bertstudio.models.sources import check_no_pickle_only
from bertstudio.results import read_export, read_run_status
from bertstudio.runs import RunFolder

BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8", "torchscript")


# The file each backend runs, inside a model or export folder.  Never pytorch_model.bin: a pickle runs whatever
# code it carries when loaded (see PICKLE_WEIGHT_FILES).
BACKEND_FILES = {
    "torch": ("model.safetensors",),
    "torch-bf16": ("model.safetensors",),  # the same weights, cast to bfloat16 when loaded
    "onnx": ("model.onnx",),
    "onnx-int8": ("model.int8.onnx",),
    "torchscript": ("model.pt",),
}




@dataclass(frozen=True)
class ModelLocation:
    """A folder with the tokenizer and preprocessing.json, and the run it came from (if any)."""

    folder: Path
    run_dir: Path | None

    def backend_file(self, backend: str) -> Path | None:
        """The file ``backend`` runs: in the folder itself, else the run's finished ``exports/<backend>/``."""
        for name in BACKEND_FILES[backend]:
            if (self.folder / name).is_file():
                return self.folder / name
        export = read_export(RunFolder(self.run_dir).export(backend)) if self.run_dir is not None else None
        return export.path if export is not None and export.path.is_file() else None

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
        is_run = given.name == "model" and RunFolder(parent).config.is_file()
        return ModelLocation(folder=given, run_dir=parent if is_run else None)
    for folder in (given / "model", given):
        check_no_pickle_only(folder)
    raise ModelError(f"No trained model was found in '{given}'.",
                     hint="Point to a run folder (it has model/ inside), a model folder with model.safetensors, "
                          "or an export folder with model.onnx or model.pt.")


def unfinished_run(location: ModelLocation) -> str | None:
    """Why the run the model belongs to has not finished, in plain words; None for a finished run (done, or
    stopped early with its best model) or a model folder outside a run.

    A killed or failed run may have a model/ folder from an earlier save, which would predict without any sign
    that it is not the model the run was meant to produce.
    """
    if location.run_dir is None:
        return None
    run = RunFolder(location.run_dir)
    status = read_run_status(run.path)
    if status.state in ("done", "stopped") and run.summary.is_file():
        return None
    if status.state == "running":
        return f"the run in {run.path} is still training (process {status.pid})"
    if status.state == "failed":
        return f"the run in {run.path} failed" + (f" ({status.message})" if status.message else "")
    return f"the run in {run.path} was interrupted before it finished"


def check_finished(location: ModelLocation) -> None:
    """Refuse the model of a run that has not finished (see :func:`unfinished_run`)."""
    problem = unfinished_run(location)
    if problem is not None:
        raise ModelError(f"No finished model to use: {problem[:1].upper()}{problem[1:]}.",
                         hint=f"Wait for it to finish, resume it (bertstudio train --resume {location.run_dir}) "
                              "or train again; --allow-unfinished uses the model it holds anyway, labelled "
                              "as unfinished.")


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
