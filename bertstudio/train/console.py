"""Console progress for ``bertstudio train``: a tqdm bar on stderr driven by training events.

Printing never stops a training: when the reader of the output goes away (``bertstudio train ... 2>&1 | head``),
the progress falls silent and the run goes on to its end.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator

from bertstudio.evaluation.cautions import evaluation_findings
from bertstudio.evaluation.multilabel_metrics import accuracy_name
from bertstudio.events import (
    Evaluated,
    Failed,
    Finished,
    SimpleModelScored,
    Started,
    Step,
    Stopping,
    Tuning,
    Working,
)
from bertstudio.results import read_run_status
from bertstudio.train.auto import Decision, explanations
from bertstudio.train.processes import Processes, resume_command


def columns_line(cfg) -> str:
    """The columns a run reads, worded as ``bertstudio inspect`` words them."""
    text = f"{cfg.text_column}" + (f" + {cfg.text_pair_column}" if cfg.text_pair_column else "")
    labels = (f"label columns: {', '.join(cfg.label_columns)}" if cfg.label_columns
              else f"label column: {cfg.label_column}")
    return f"Text column: {text}; {labels}."


def interrupted_line(run_dir: str) -> str:
    """How a training stopped by Ctrl-C or SIGTERM ends: the checkpoint it kept (its status says which) and the
    command that goes on from there, under accelerate launch when it trained on several processes."""
    command = resume_command(run_dir, Processes.from_environment().count)
    step = read_run_status(run_dir).checkpoint_step
    if step:
        return f"Interrupted at step {step:,}, saved as a checkpoint. Go on from there with: {command}"
    return f"Interrupted before its first checkpoint. Go on (from the start) with: {command}"


def phase_line(event: Working) -> str:
    """'Checking the model on the validation texts (5,000 texts)...': the count where the engine knows it."""
    count = f" ({event.total:,} texts)" if event.total > 0 else ""
    return f"{event.phase}{count}..."


class _ReaderGuard:
    """The console's stream, catching a closed pipe inside every write: tqdm never sees the error.  Raised inside
    tqdm's own refresh, it left tqdm's global lock held, and every later progress bar of the process (a data
    worker's, another training's) waited for it forever."""

    def __init__(self, stream, on_closed: Callable[[], None]):
        self._stream = stream
        self._on_closed = on_closed
        self.closed_pipe = False

    def write(self, text: str) -> int:
        if not self.closed_pipe:
            try:
                return self._stream.write(text)
            except BrokenPipeError:
                self._reader_left()
        return len(text)

    def flush(self) -> None:
        if not self.closed_pipe:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._reader_left()

    def _reader_left(self) -> None:
        self.closed_pipe = True
        self._on_closed()

    def __getattr__(self, name: str):
        return getattr(self._stream, name)


class ConsoleProgress:
    def __init__(self, enabled: bool = True, stream=None):
        self.enabled = enabled
        # sys.stderr as it is now, not as it was when this module was imported (a default argument is bound then:
        # a test capturing stderr left every later console writing to its closed stream).
        self.stream = _ReaderGuard(stream or sys.stderr, self._silence)
        self._bar = None
        self._silenced = False  # the reader of the output has gone: nothing more is printed
        self._decisions_shown = 0  # settings explained before training; those decided later follow at its start
        self._run_dir = ""  # the run folder, once training has started
        self._phase = ""  # the phase outside the steps last announced; "" once steps or a check's result followed
        # With several labels per text, "accuracy" is the share of texts whose every label is right: said so, as
        # "accuracy 0.0%" beside a macro-F1 of 77% read as a broken model.
        self._accuracy = "accuracy"
        self.told_how_to_go_on = False  # a stopped run's last line is printed

    def _print(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream)

    def show_inputs(self, inputs) -> None:
        """What was read, the columns used and why each automatic setting was chosen."""
        if self._silenced:
            return
        with self._unless_the_reader_left():
            self._print(inputs.table.describe())
            self._print(columns_line(inputs.config))
            self._accuracy = accuracy_name(inputs.config.task == "multi_label")
            for line in inputs.report.to_text().splitlines():
                self._print(f"  {line}")
            for reason in explanations(inputs.resolved.decisions):
                self._print(f"  - {reason}")
            self._decisions_shown = len(inputs.resolved.decisions)

    def on_event(self, event) -> None:
        if self._silenced:
            return
        with self._unless_the_reader_left():
            self._show(event)

    @contextlib.contextmanager
    def _unless_the_reader_left(self):
        """Runs the printing inside; a closed pipe (``| head`` has read its lines) silences the progress for good
        instead of failing the training with BrokenPipeError."""
        try:
            yield
        except BrokenPipeError:
            self._silence()

    def _silence(self) -> None:
        self._silenced = True
        self._bar = None  # closing the bar would write to the closed pipe again
        # Python's recipe ("Note on SIGPIPE"): the stream's descriptor now points at devnull, so whatever still
        # writes to it (tqdm's clean-up, warnings, the buffer flushed at exit) neither fails nor prints a traceback.
        with contextlib.suppress(AttributeError, OSError, ValueError):  # a stream without a descriptor (tests)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.stream.fileno())
            os.close(devnull)

    def _show(self, event) -> None:
        if isinstance(event, Working):
            self._announce(event)
            return
        self._phase = ""  # whatever comes next (a step, a check's result) ends the phase: the next one is new
        if isinstance(event, Tuning):
            self._print(f"Tune for me: trying learning rate {event.index} of {event.candidates}: {event.lr:g} "
                        f"({event.steps} steps)")
        elif isinstance(event, Started):
            if event.resumed_from_step is not None:
                self._print(f"Resuming from the checkpoint at step {event.resumed_from_step:,}"
                            if event.resumed_from_step else "No checkpoint was written yet: training from the start")
            # Settings decided once the data was tokenized ("tune for me": the learning rate it chose, or why it
            # did not probe) were only in config.json.
            for reason in explanations([Decision(**d) for d in event.decisions[self._decisions_shown:]]):
                self._print(f"  - {reason}")
            self._run_dir = event.run_dir
            # Several processes: batch_size is per process, so the update is what says how the run trains.
            together = (f" x {event.processes} processes ({event.texts_per_update:,} texts per update)"
                        if event.processes > 1 and event.texts_per_update else "")
            self._print(f"Training {event.model} on {event.device}{together}: {event.train_rows:,} rows, "
                        f"{event.total_steps:,} steps, run folder {event.run_dir}")
            if self.enabled:
                from tqdm.auto import tqdm

                self._bar = tqdm(total=event.total_steps, initial=event.resumed_from_step or 0, file=self.stream,
                                 unit="step", dynamic_ncols=True)
        elif isinstance(event, SimpleModelScored):
            # Scores as percentages, as the run's verdict and the app write them (a loss is no share: a number).
            self._print(f"Simple word-count model (the score to beat, {event.seconds:.1f} s): validation macro-F1 "
                        f"{event.macro_f1:.1%}, {self._accuracy} {event.accuracy:.1%}")
        elif isinstance(event, Step) and self._bar is not None:
            self._bar.update(event.step - self._bar.n)
            # Head-only steps read cached features, not tokens (0 tokens/s): texts per second is their speed.
            speed = {"tok_s": f"{event.tokens_per_second:,.0f}"} if event.tokens_per_second > 0 else \
                {"texts_s": f"{event.samples_per_second:,.0f}"}
            self._bar.set_postfix(loss=f"{event.loss:.3f}", epoch=f"{event.epoch:.2f}", **speed)
        elif isinstance(event, Evaluated):
            best = " (best so far)" if event.is_best else ""
            self._print(f"epoch {event.epoch:.2f}: validation macro-F1 {event.macro_f1:.1%}, "
                        f"{self._accuracy} {event.accuracy:.1%}, loss {event.val_loss:.4f}{best}")
        elif isinstance(event, Stopping):
            self._print(f"Stopping: {event.reason}")
        elif isinstance(event, Finished):
            self._finished(event.summary)
        elif isinstance(event, Failed):
            self._print(f"Failed: {event.message}")

    def _finished(self, summary) -> None:
        self.close()
        if summary.stopped_early:
            self._print(summary.ending())
        elif summary.simple_model is not None:
            self._print(summary.simple_model.verdict)
            if summary.simple_model.blend.used:
                self._print(f"The run's final model is the blend of both: {summary.simple_model.blend.reason}")
        if summary.metrics.get("threshold_note"):  # multi-label: the decision thresholds it saved
            self._print(summary.metrics["threshold_note"])
        # Last, where the eye lands: a 93% accuracy printed above would otherwise hide a model that never predicts
        # its rare class.
        for finding in evaluation_findings(summary.metrics, summary.evaluated_on):
            self._print(finding.to_text())

    def _announce(self, event: Working) -> None:
        """One line as each phase outside the steps begins: scoring 10,000 test texts, the validation check, saving
        or fitting the simple model left the bar frozen for minutes on a big file, with no sign of life."""
        if event.phase == self._phase:
            return
        self._phase = event.phase
        self._print(phase_line(event))

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Around a training: the bar is closed at the end, and Ctrl-C or SIGTERM ends with one line, the checkpoint
        kept and how to go on (``told_how_to_go_on``: nothing more to say)."""
        try:
            yield
        except KeyboardInterrupt:
            if self._run_dir and not self._silenced:
                self.close()
                self._print(interrupted_line(self._run_dir))
                self.told_how_to_go_on = True
            raise
        finally:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            with self._unless_the_reader_left():
                self._bar.close()
            self._bar = None
