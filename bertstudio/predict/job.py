"""Labelling every row of a file (the Predict tab) as a background job, within the app's usage limits.

It waits in the app's line for heavy work (with the exports), so labelling never runs beside as many others as
visitors ask for; its page reads ``rows_done`` while it runs. On a shared app a file of more rows than
``max_rows`` stops at the first piece past them and one that takes longer than ``max_predict_minutes`` stops
then: without them a 4.4-million-row file held a CPU for about seven hours. It is stopped when the page that
started it closes (``ends_with_page``): the predictions are for that page to download, and no other finds them.
"""

from __future__ import annotations

import functools
from pathlib import Path

from bertstudio.jobs import PREDICT_FILE, BackgroundJob, Emit, JobStopped, ShouldStop, Stopped
from bertstudio.limits import NO_LIMITS, UsageLimits, capped_stop
from bertstudio.predict.files import DEFAULT_CHUNK_ROWS, PredictFileResult, predict_file
from bertstudio.predict.predictor import Predictor


class LabelFileJob(BackgroundJob):
    """:func:`~bertstudio.predict.files.predict_file` on a daemon thread; ends with ``Completed(PredictFileResult)``.

    Stop (and each limit) is honoured between two pieces of ``chunk_rows`` rows; the half-written predictions are
    then deleted, as after any failure.
    """

    kind = PREDICT_FILE
    what = "Labelling the file"
    ends_with_page = True

    def __init__(self, predictor: Predictor, data: str | Path, out: str | Path, *, text_column: str | None = None,
                 text_pair_column: str | None = None, chunk_rows: int = DEFAULT_CHUNK_ROWS,
                 limits: UsageLimits = NO_LIMITS) -> None:
        super().__init__()
        self.predictor, self.data, self.out = predictor, Path(data), Path(out)
        self.text_column, self.text_pair_column, self.chunk_rows = text_column, text_pair_column, chunk_rows
        self.limits = limits
        self.rows_done = 0
        self.stop_reason = ""  # why the job stopped itself (the time limit)

    def work(self, emit: Emit, should_stop: ShouldStop) -> PredictFileResult:
        # The clock starts when the job leaves the line, as a training's does.
        should_stop = capped_stop(should_stop, self.limits.predict_deadline(), self._hit_time_cap)
        return predict_file(self.predictor, self.data, self.out, text_column=self.text_column,
                            text_pair_column=self.text_pair_column, chunk_rows=self.chunk_rows,
                            on_progress=functools.partial(self._labelled, should_stop))

    def _labelled(self, should_stop: ShouldStop, rows: int) -> None:
        """After each piece: past the row limit the file is refused; a stop (or the time limit) ends the job."""
        self.rows_done = rows
        self.limits.check_label_rows(rows)
        if should_stop():
            raise JobStopped()

    def _hit_time_cap(self) -> None:
        self.stop_reason = self.limits.predict_cap_message()

    def cancelled_event(self) -> Stopped:
        return Stopped(message=self.stop_reason) if self.stop_reason else Stopped()
