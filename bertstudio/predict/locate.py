"""Finding the model to run: a run folder, its model/, or an export folder, and which backend can run it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path

from bertstudio.data.io import SUPPORTED_EXTENSIONS
from bertstudio.errors import ConfigError, ModelError, UserError
from bertstudio.fingerprint import file_fingerprint
from bertstudio.hardware import weights_precision
from bertstudio.models.sources import check_no_pickle_only
from bertstudio.results import (
    ExportResult,
    Summary,
    no_model,
    read_export,
    read_export_places,
    unfinished_hint,
    why_unfinished,
)
from bertstudio.runs import MODEL_WEIGHTS_FILE, RunFolder

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
# The backends whose file may come from one of the run's export folders rather than the model folder itself.
EXPORT_BACKENDS = ("onnx", "onnx-int8", "torchscript")
WEIGHTS_FILE = MODEL_WEIGHTS_FILE


@lru_cache(maxsize=16)
def _file_sha256(path: str, size: int, modified_ns: int) -> str | None:
    """The file's SHA-256, remembered by size and modification time: the app locates a model several times per
    prediction, and hashing a large model's weights takes about a second (a model replaced is hashed again)."""
    fingerprint = file_fingerprint(path)
    return fingerprint.sha256 if fingerprint is not None else None


class NoModelYet(ModelError):
    """A run folder that never saved its model (killed or failed before its first save, or still training)."""


class ModelGone(ModelError):
    """A run that ended with its model, whose model folder or weights were deleted or moved since."""


@dataclass(frozen=True)
class ExportSearch:
    """Where a run's export of one format was looked for: the first made from the run's own model, and the exports
    passed over on the way because another model made them (a second run exported with the same --out)."""

    found: ExportResult | None = None
    passed_over: tuple[ExportResult, ...] = ()


@dataclass(frozen=True)
class ModelLocation:
    """A folder with the tokenizer and preprocessing.json, and the run it came from (if any)."""

    folder: Path
    run_dir: Path | None

    def backend_file(self, backend: str) -> Path | None:
        """The file ``backend`` runs: in the folder itself, else one of the run's finished exports (where the
        last export of that format recorded it went, then the default ``RUN/exports/<backend>/``)."""
        for name in BACKEND_FILES[backend]:
            if (self.folder / name).is_file():
                return self.folder / name
        found = self.find_export(backend).found
        return found.path if found is not None else None

    def find_export(self, backend: str) -> ExportSearch:
        """The run's finished ``backend`` export, looked for in :meth:`export_folders`; an export there that was
        made from another model is passed over, never used."""
        passed_over: list[ExportResult] = []
        for folder in self.export_folders(backend):
            export = read_export(folder)
            if export is None or export.format != backend or not export.path.is_file():
                continue
            if self.made_this_export(export):
                return ExportSearch(export, tuple(passed_over))
            passed_over.append(export)
        return ExportSearch(None, tuple(passed_over))

    @cached_property
    def weights_sha256(self) -> str | None:
        """SHA-256 of the model's weights, as an export records the model it was made from."""
        weights = self.folder / WEIGHTS_FILE
        if not weights.is_file():
            return None
        stat = weights.stat()
        return _file_sha256(str(weights.resolve()), stat.st_size, stat.st_mtime_ns)

    @property
    def own_exports(self) -> Path:
        """Where this model's exports go by default: RUN/exports for a run, next to a bare model folder otherwise."""
        if self.run_dir is not None:
            return RunFolder(self.run_dir).exports
        return self.folder.parent / f"{self.folder.name}-exports"

    def made_this_export(self, export: ExportResult) -> bool:
        """Whether ``export`` was made from this model: the weights' SHA-256 it recorded is this model's.

        An export from before that was recorded is trusted only in the model's own exports folder: a recorded
        --out folder may since hold another run's export, and using it would predict another model's labels.
        """
        if export.record.source_sha256 is None:
            return export.folder.resolve().is_relative_to(self.own_exports.resolve())
        return export.record.source_sha256 == self.weights_sha256

    def recorded_export(self, backend: str) -> Path | None:
        """Where the run's last ``backend`` export was written (it may since have been moved or deleted)."""
        if self.run_dir is None:
            return None
        recorded = read_export_places(self.run_dir).folders.get(backend)
        return Path(recorded) if recorded else None

    def export_folders(self, backend: str) -> list[Path]:
        """The folders that may hold the run's ``backend`` export, in the order they are tried."""
        if self.run_dir is None:
            return []
        folders = [self.recorded_export(backend), RunFolder(self.run_dir).export(backend)]
        return list(dict.fromkeys(f for f in folders if f is not None))

    def available_backends(self) -> list[str]:
        return [b for b in BACKEND_FILES if self.backend_file(b) is not None]


def _is_model_folder(folder: Path) -> bool:
    return folder.is_dir() and any((folder / name).is_file() for names in BACKEND_FILES.values() for name in names)


class DataFileAsModel(ModelError):
    """A data file given where the model is asked for (the arguments swapped), with what to type instead:
    ``bertstudio <command> runs/RUN`` (``--data FILE`` too where ``reads_data``).  ``serve data.csv`` and
    ``export data.csv`` were told to run ``bertstudio predict runs/RUN --data data.csv``."""

    def __init__(self, given: Path, command: str = "predict", reads_data: bool = True):
        self.given = given
        models = "a run folder, or a model or export folder"
        if reads_data:
            message = (f"'{given}' is a data file, not a trained model: the model is asked for first ({models}), "
                       "then the data.")
            example = f"Give the run folder as the first argument and {given.name} with --data, for example " \
                      f"`bertstudio {command} runs/RUN --data {given.name}`"
        else:
            message = f"'{given}' is a data file, not a trained model: `bertstudio {command}` takes the folder of one."
            example = f"Give the run folder, for example `bertstudio {command} runs/RUN`"
        super().__init__(message, hint=f"{example}; `bertstudio runs list` shows the runs.")

    def for_command(self, command: str, reads_data: bool) -> DataFileAsModel:
        """The same refusal, telling what to type for ``command``."""
        return DataFileAsModel(self.given, command, reads_data)


def refuse_a_data_file(given: Path) -> None:
    """`bertstudio predict data.csv --data other.csv` said "No trained model was found in '.'": a data file where
    the model is asked for is named as such (a model file, such as model.onnx, is still taken as its folder)."""
    if given.suffix.lower() not in SUPPORTED_EXTENSIONS or any(
            _is_model_folder(folder) for folder in (given.parent, given.parent / "model")):
        return
    raise DataFileAsModel(given)


def locate_model(path: str | os.PathLike[str]) -> ModelLocation:
    """A run folder, its ``model/`` folder, an export folder or a model file -> where everything is."""
    given = Path(path).expanduser()
    if given.is_file():
        refuse_a_data_file(given)
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
    missing = no_model(given) if RunFolder(given).config.is_file() else None
    if missing is not None:  # a run that never saved its model, or whose model was deleted since
        raise (NoModelYet if missing.unfinished else ModelGone)(missing.message, hint=missing.hint)
    raise ModelError(f"No trained model was found in '{given}'.",
                     hint="Point to a run folder (it has model/ inside), a model folder with model.safetensors, "
                          "or an export folder with model.onnx or model.pt.")


def unfinished_run(location: ModelLocation) -> str | None:
    """Why the run the model belongs to has not finished, in plain words; None for a finished run or a model folder
    outside a run.

    A killed or failed run may have a model/ folder from an earlier save, which would predict without any sign
    that it is not the model the run was meant to produce.
    """
    return None if location.run_dir is None else why_unfinished(location.run_dir)


def check_finished(location: ModelLocation, anyway: str = "") -> None:
    """Refuse the model of a run that has not finished (see :func:`unfinished_run`).

    ``anyway``: how the caller can use that model all the same, added to the hint; only ``predict`` has a way
    (--allow-unfinished), and export and serve named that flag, which they refused as unknown."""
    problem = unfinished_run(location)
    if problem is not None:
        raise ModelError(f"No finished model to use: {problem[:1].upper()}{problem[1:]}.",
                         hint=unfinished_hint(location.run_dir) + (f" {anyway}" if anyway else ""))


def auto_backends(location: ModelLocation) -> list[str]:
    """What ``auto`` tries, in order: the weights as trained (:func:`auto_precision`), then the exports."""
    weights = "torch-bf16" if auto_precision(location) == "bf16" else "torch"
    return [weights, *EXPORT_BACKENDS]


def auto_precision(location: ModelLocation) -> str:
    """The precision ``auto`` runs a model's weights in: as its run trained (hardware.weights_precision, which
    evaluate uses too); "fp32" for a model outside a run."""
    return weights_precision(trained_precision(location))


def trained_precision(location: ModelLocation) -> str:
    """The precision the model's run trained in ("bf16", "fp32", ...); "" when it is not known (a model folder
    outside a run, an unfinished run, a summary from before precision was recorded)."""
    if location.run_dir is None or not RunFolder(location.run_dir).summary.is_file():
        return ""
    try:
        return Summary.read(RunFolder(location.run_dir).summary).precision
    except UserError:  # a damaged summary: choosing the backend is not the place to refuse it
        return ""


def choose_backend(location: ModelLocation, backend: str) -> tuple[str, Path]:
    """The backend to use and its file; ``auto`` prefers PyTorch (see :func:`auto_backends`), then the exports
    that exist."""
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend '{backend}'.", hint=f"Use one of: {', '.join(BACKENDS)}.")
    candidates = auto_backends(location) if backend == "auto" else [backend]
    for name in candidates:
        file = location.backend_file(name)
        if file is not None:
            return name, file
    raise missing_backend(location, backend)


def missing_backend(location: ModelLocation, backend: str) -> ModelError:
    """No ``backend`` model anywhere: say where we looked and the command that makes it."""
    found = ", ".join(location.available_backends()) or "none"
    if backend not in EXPORT_BACKENDS:
        return ModelError(f"There is no {backend} model in '{location.folder}' (available: {found}).",
                          hint="Use a folder with model.safetensors.")
    source = location.run_dir or location.folder
    passed_over = location.find_export(backend).passed_over
    if passed_over:
        return another_models_export(source, backend, passed_over[0])
    looked = [location.folder, *location.export_folders(backend)]
    recorded = location.recorded_export(backend)
    gone = (f" The {backend} export was written to '{recorded}', but it is no longer there (moved or deleted)."
            if recorded is not None else "")
    default = RunFolder(source).exports.resolve()
    out = f" --out {recorded.parent}" if recorded is not None and recorded.parent != default else ""
    return ModelError(f"There is no {backend} export of '{source}' (available: {found}).{gone} Looked in: "
                      + ", ".join(f"'{f}'" for f in looked) + ".",
                      hint=f"Export it (again): bertstudio export {source} --format {backend}{out}")


def whose_export(export: ExportResult) -> str:
    """The model an export was made from, in words, for an export passed over as another model's."""
    record = export.record
    if record.source_sha256 is None:
        return ("an export made by an earlier version of BERT Studio, which did not record the model it came from, "
                "so it cannot be told apart from another run's")
    made = f" on {record.created}" if record.created else ""
    return f"the export of another model (from {owner_name(record.source)}, exported{made})"


def owner_name(source: str) -> str:
    """The run an export's ``source`` model folder belongs to ("the run 'runs/x'" for runs/x/model), in words."""
    folder = Path(source or "unknown")
    return f"the run '{folder.parent}'" if folder.name == "model" else f"'{folder}'"


def another_models_export(source: Path, backend: str, export: ExportResult) -> ModelError:
    """The run's recorded ``backend`` export folder holds another model's export (another run was exported to the
    same --out since): refused, as it would predict that model's labels under this run's name."""
    return ModelError(f"'{export.folder}', where the {backend} export of '{source}' was written, now holds "
                      f"{whose_export(export)}. It was not used: predictions must come from this run's own model.",
                      hint=f"Export this run again: bertstudio export {source} --format {backend} (into the run's "
                           "own exports folder), or add --out with a folder no other run is exported to.")


def passed_over_note(location: ModelLocation, backend: str, used: Path) -> str | None:
    """What to say when the run's recorded ``backend`` export folder held another model's export and the run's
    own export (the file ``used``) was run instead; None when nothing was passed over."""
    search = location.find_export(backend)
    if search.found is None or search.found.path != used or not search.passed_over:
        return None
    return (f"'{search.passed_over[0].folder}' (where this run's {backend} export was last written) now holds "
            f"{whose_export(search.passed_over[0])}; the run's own {backend} export in '{search.found.folder}' "
            "was used instead.")
