"""An export request (one format or all) as a background job (for the app), and the snapshot its page draws.

Each format that is done is an event, and so is each chunk of the zip of every format (a ``Working`` event with
the bytes zipped); the page polls :meth:`ExportJob.snapshot`, so it stays responsive and a reloaded page finds a
running export again.  Stop is honoured between two formats and between two chunks of the zip.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bertstudio.events import Event, Failed, Working
from bertstudio.export.bundle import finished_exports, zip_exports
from bertstudio.export.core import EXPORT_FORMATS, ExportResult, export_run
from bertstudio.jobs import EXPORT, BackgroundJob, Emit, JobStopped, ShouldStop, Stopped
from bertstudio.runs import EXPORTS_DIR


@dataclass
class Exported(Event):
    """One format is exported, checked and (when the app asked for it) zipped."""

    kind: ClassVar[str] = "exported"
    format: str


@dataclass(frozen=True)
class ExportSnapshot:
    """Where an export job is; what the page draws from."""

    run_dir: str = ""
    formats: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    running: bool = False
    error: str = ""
    seconds: float = 0.0
    bundle: bool = False  # the job ends by zipping every format into one file
    zipped: Working | None = None  # how far that zip is (bytes), once it has begun
    stopped: bool = False  # ended on the person's Stop

    @property
    def current(self) -> str | None:
        """The format being exported right now."""
        if not self.running:
            return None
        return next((f for f in self.formats if f not in self.done), None)

    @property
    def steps(self) -> int:
        """The formats to export, plus the zip of every format when there is one."""
        return len(self.formats) + int(self.bundle)

    @property
    def fraction(self) -> float:
        zipped = self.zipped.done / self.zipped.total if self.zipped is not None and self.zipped.total else 0.0
        return (len(self.done) + zipped) / self.steps if self.steps else 0.0


ZIPPING = "Zipping every format into one file"


class ExportJob(BackgroundJob):
    """Exports ``formats`` of a run into its own ``exports/`` folder on a daemon thread.

    ``on_result`` runs on the job's thread for each finished format before it counts as done (the app
    zips it there, so a download button never points at a missing file); with ``bundle`` (a zip's path) every
    format of the run is zipped into that one file before the job ends, with progress (``formats`` may then be
    empty: the job only zips).
    """

    kind = EXPORT
    what = "The export"

    def __init__(self, run_dir: Path | str, formats: Sequence[str],
                 on_result: Callable[[ExportResult], None] | None = None,
                 bundle: Path | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.formats = tuple(formats)
        self.on_result = on_result
        self.bundle = bundle

    def work(self, emit: Emit, should_stop: ShouldStop) -> list[ExportResult]:
        def finished_one(result: ExportResult) -> None:
            if self.on_result is not None:
                self.on_result(result)
            emit(Exported(format=result.format))
            if should_stop() and (self.bundle is not None or result.format != self.formats[-1]):
                raise JobStopped  # the formats done so far are kept; the next one is not begun

        results = []
        if self.formats:
            results = export_run(self.run_dir, list(self.formats), self.run_dir / EXPORTS_DIR,
                                 on_result=finished_one)
        if self.bundle is not None:
            self._zip_every_format(self.bundle, emit, should_stop)
        return results

    def _zip_every_format(self, target: Path, emit: Emit, should_stop: ShouldStop) -> None:
        def zipped(done: int, total: int) -> None:
            if should_stop():
                raise JobStopped  # the partial zip is removed: no half a zip is ever offered
            emit(Working(phase=ZIPPING, done=done, total=total))

        done = finished_exports(self.run_dir, EXPORT_FORMATS)
        zip_exports(self.run_dir, [done[f] for f in EXPORT_FORMATS], target, on_progress=zipped)

    def snapshot(self) -> ExportSnapshot:
        running = self.running  # read before the events: an ending that comes in between is still seen
        events = self.events_since(0)
        ending = events[-1] if events and events[-1].terminal else None
        return ExportSnapshot(
            run_dir=str(self.run_dir), formats=self.formats,
            done=tuple(e.format for e in events if isinstance(e, Exported)),
            running=running and ending is None,
            error=ending.text() if isinstance(ending, Failed) else "",
            seconds=ending.time - self.started_at if ending is not None and self.started_at else 0.0,
            bundle=self.bundle is not None,
            zipped=next((e for e in reversed(events) if isinstance(e, Working)), None),
            stopped=isinstance(ending, Stopped))
