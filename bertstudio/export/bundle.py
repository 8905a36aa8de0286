"""The zips a person downloads: the trained model, one export, or every export in one zip.

Each has a ``README.md`` (the model card) at its top level saying what it holds and how to load it: the model
zip and an export's zip carry the folder's own card; the zip of every format gets :func:`card.bundle_card`
(what each folder is, how to load each format) with each folder's card inside it.  Zips are built under a
temporary name and renamed into place, so a download never gets half a zip, and are rebuilt only when what
they hold is newer.  Zipping every format of a BERT-base run (about 1.3 GB) takes tens of seconds, so the files
are copied in chunks and ``on_progress`` hears after each one: the app shows the bytes zipped and stops between
two chunks (the partial zip is then removed).
"""

from __future__ import annotations

import os
import threading
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bertstudio.export.card import bundle_card, card_facts, describe_export, model_card
from bertstudio.predict.locate import locate_model
from bertstudio.results import ExportResult, Preprocessing, read_export
from bertstudio.runs import EXPORT_INFO_FILE, PREPROCESSING_FILE, RunFolder, temp_prefix

README = "README.md"
# Model weights barely compress: a light level keeps zipping a 400 MB model to seconds.
ZIP_LEVEL = 1
_ZIP_LOCK = threading.Lock()  # an export thread and a page refresh may both want the same zip
# One progress report per 8 MB copied: a few per second at level 1, so a Stop is honoured within a moment.
ZIP_CHUNK = 8 * 1024 * 1024

Progress = Callable[[int, int], None]  # (bytes zipped so far, bytes in all); raising stops the zip


def _newest_mtime(files: Sequence[Path]) -> float:
    return max((f.stat().st_mtime for f in files if f.exists()), default=float("inf"))


def _is_fresh(target: Path, sources: Sequence[Path]) -> bool:
    """Whether ``target`` was zipped after every one of ``sources`` was (re)made."""
    return target.is_file() and all(s.exists() for s in sources) and target.stat().st_mtime >= _newest_mtime(sources)


def _files_of(folders: Mapping[str, Path], texts: Mapping[str, str]) -> list[tuple[Path, str]]:
    """Every (file, name in the zip) of ``folders``, except the names ``texts`` provides."""
    files = []
    for prefix, folder in folders.items():
        for file in sorted(folder.rglob("*")):
            name = (Path(prefix) / file.relative_to(folder)).as_posix()
            if file.is_file() and name not in texts:
                files.append((file, name))
    return files


def _add_file(archive: zipfile.ZipFile, file: Path, name: str, copied: Callable[[int], None]) -> None:
    """``archive.write(file, name)``, copied chunk by chunk so ``copied`` hears after each chunk."""
    info = zipfile.ZipInfo.from_file(file, name)
    info.compress_type = zipfile.ZIP_DEFLATED
    info._compresslevel = ZIP_LEVEL  # what ZipFile.write sets; the ZipFile's own level is not applied to an info
    with file.open("rb") as source, archive.open(info, "w", force_zip64=True) as sink:
        while chunk := source.read(ZIP_CHUNK):
            sink.write(chunk)
            copied(len(chunk))


def _write_zip(target: Path, folders: Mapping[str, Path], texts: Mapping[str, str],
               on_progress: Progress | None = None) -> Path:
    """``folders`` (prefix -> folder; prefix "" for the top level) and ``texts`` (name -> content) as one zip."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{temp_prefix(target)}partial")
    files = _files_of(folders, texts)
    total = sum(file.stat().st_size for file, _ in files)
    done = 0

    def copied(size: int) -> None:
        nonlocal done
        done += size
        if on_progress is not None:
            on_progress(done, total)

    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=ZIP_LEVEL) as archive:
            for name, text in texts.items():
                archive.writestr(name, text)
            for file, name in files:
                _add_file(archive, file, name, copied)
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target


def export_zip_is_fresh(folder: Path, target: Path) -> bool:
    """Whether ``target`` was zipped after the export folder was (re)made."""
    return _is_fresh(target, [folder / EXPORT_INFO_FILE])


def zip_export(folder: Path, target: Path) -> Path:
    """One export folder as a zip (its README.md, the format's model card, at the top), built once per export."""
    with _ZIP_LOCK:
        if export_zip_is_fresh(folder, target):
            return target
        return _write_zip(target, {"": folder}, {})


def zip_model(run_dir: Path, target: Path) -> Path:
    """The run's trained model folder as a zip, with a README.md model card (it loads like the Hugging Face
    export: ``transformers.pipeline`` or ``bertstudio predict``)."""
    run = RunFolder(run_dir)
    with _ZIP_LOCK:
        if _is_fresh(target, [run.summary, run.model]):
            return target
        location = locate_model(run.path)
        card = model_card(card_facts(location, Preprocessing.read(run.preprocessing)), "hf")
        return _write_zip(target, {"": run.model}, {README: card})


def exports_zip_is_fresh(results: Sequence[ExportResult], target: Path) -> bool:
    """Whether ``target`` was zipped after every one of the exports was (re)made."""
    return _is_fresh(target, [r.folder / EXPORT_INFO_FILE for r in results])


def zip_exports(run_dir: Path, results: Sequence[ExportResult], target: Path,
                on_progress: Progress | None = None) -> Path:
    """Several exports of one run in one zip: ``<format>/`` each, and a README.md saying how to load each;
    ``on_progress`` hears the bytes zipped as they go (and may raise to stop)."""
    folders = {r.format: r.folder for r in results}
    with _ZIP_LOCK:
        if exports_zip_is_fresh(results, target):
            return target
        location = locate_model(run_dir)
        facts = card_facts(location, Preprocessing.read(location.folder / PREPROCESSING_FILE))
        facts.checks = [describe_export(r, relative_to=r.folder.parent) for r in results]
        facts.warnings = [f"{r.format}: {w}" for r in results for w in r.warnings]
        return _write_zip(target, folders, {README: bundle_card(facts, list(folders))}, on_progress)


def finished_exports(run_dir: Path, formats: Sequence[str]) -> dict[str, ExportResult]:
    """The run's finished exports among ``formats`` (in its own ``exports/`` folder), by format."""
    run = RunFolder(run_dir)
    return {fmt: found for fmt in formats if (found := read_export(run.export(fmt))) is not None}


def missing_exports(run_dir: Path, formats: Sequence[str]) -> list[str]:
    """Which of ``formats`` must still be exported before they can be downloaded."""
    done = finished_exports(run_dir, formats)
    return [fmt for fmt in formats if fmt not in done]
