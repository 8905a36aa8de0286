"""An export request (one format or all) as a background job (for the app), and the snapshot its page draws.

Each format that is done is an event; the page polls :meth:`ExportJob.snapshot`, so it stays responsive
and a reloaded page finds a running export again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from bertstudio.events import Event, Failed
from bertstudio.export.core import ExportResult, export_run
from bertstudio.jobs import EXPORT, BackgroundJob, Emit, ShouldStop
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

    @property
    def current(self) -> str | None:
        """The format being exported right now."""
        if not self.running:
            return None
        return next((f for f in self.formats if f not in self.done), None)

    @property
    def fraction(self) -> float:
        return len(self.done) / len(self.formats) if self.formats else 0.0


class ExportJob(BackgroundJob):
    """Exports ``formats`` of a run into its own ``exports/`` folder on a daemon thread.

    ``on_result`` runs on the job's thread for each finished format before it counts as done (the app
    zips it there, so a download button never points at a missing file); ``on_all`` runs with every result
    before the job ends (the app zips every format into one file there).
    """

    kind = EXPORT
    what = "The export"

    def __init__(self, run_dir: Path | str, formats: Sequence[str],
                 on_result: Callable[[ExportResult], None] | None = None,
                 on_all: Callable[[list[ExportResult]], None] | None = None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.formats = tuple(formats)
        self.on_result = on_result
        self.on_all = on_all

    def work(self, emit: Emit, should_stop: ShouldStop) -> list[ExportResult]:
        def finished_one(result: ExportResult) -> None:
            if self.on_result is not None:
                self.on_result(result)
            emit(Exported(format=result.format))

        results = export_run(self.run_dir, list(self.formats), self.run_dir / EXPORTS_DIR, on_result=finished_one)
        if self.on_all is not None:
            self.on_all(results)
        return results

    def snapshot(self) -> ExportSnapshot:
        running = self.running  # read before the events: an ending that comes in between is still seen
        events = self.events_since(0)
        ending = events[-1] if events and events[-1].terminal else None
        return ExportSnapshot(
            run_dir=str(self.run_dir), formats=self.formats,
            done=tuple(e.format for e in events if isinstance(e, Exported)),
            running=running and ending is None,
            error=ending.text() if isinstance(ending, Failed) else "",
            seconds=ending.time - self.started_at if ending is not None and self.started_at else 0.0)
