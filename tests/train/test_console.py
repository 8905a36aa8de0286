"""What `bertstudio train` prints while a run goes: the speed that means something, and why a run stopped."""

from __future__ import annotations

import dataclasses
import io
import sys
import threading

from bertstudio.events import Started, Step, Stopping
from bertstudio.train.console import ConsoleProgress


def _started() -> Started:
    return Started(run_dir="runs/x", model="Tiny", device="CPU", precision="fp32", total_steps=40, steps_per_epoch=10,
                   epochs=4, train_rows=320, val_rows=40, test_rows=40, label_names=["a", "b"])


def _step(tokens_per_second: float) -> Step:
    return Step(step=1, total_steps=40, epoch=0.1, loss=0.7, lr=1e-3, grad_norm=1.0, samples_per_second=900.0,
                tokens_per_second=tokens_per_second, elapsed=0.1, eta=4.0)


def _printed_for_a_step(tokens_per_second: float) -> str:
    out = io.StringIO()
    console = ConsoleProgress(stream=out)
    console.on_event(_started())
    console.on_event(_step(tokens_per_second))
    console.close()
    return out.getvalue()


def test_head_only_steps_show_texts_per_second_not_zero_tokens():
    printed = _printed_for_a_step(tokens_per_second=0.0)
    assert "texts_s=900" in printed and "tok_s" not in printed


def test_full_steps_show_tokens_per_second():
    assert "tok_s=12,345" in _printed_for_a_step(tokens_per_second=12_345.0)


def test_a_job_that_stops_itself_says_why():
    out = io.StringIO()
    console = ConsoleProgress(enabled=False, stream=out)
    console.on_event(Stopping(reason="It reached this demo's limit of 10 minutes per training (time limit)."))
    assert out.getvalue() == "Stopping: It reached this demo's limit of 10 minutes per training (time limit).\n"


def test_the_columns_line_names_pairs_and_label_columns_as_inspect_does():
    from bertstudio.config import make_config
    from bertstudio.train.console import columns_line

    assert columns_line(make_config(text_column="q1", text_pair_column="q2", label_column="same")) == \
        "Text column: q1 + q2; label column: same."
    assert columns_line(make_config(text_column="text", label_columns=["price", "speed"])) == \
        "Text column: text; label columns: price, speed."


class _ClosedPipe(io.StringIO):
    """A stream whose reader has gone (`| head` has read its lines)."""

    def __init__(self, after: int = 0):
        super().__init__()
        self.writes_left = after

    def write(self, text):
        if self.writes_left <= 0:
            raise BrokenPipeError(32, "Broken pipe")
        self.writes_left -= 1
        return super().write(text)


def test_a_closed_pipe_silences_the_progress_instead_of_failing_the_training():
    stream = _ClosedPipe(after=2)
    console = ConsoleProgress(stream=stream)
    console.on_event(_started())  # the first line, then the bar meets the closed pipe
    for _ in range(3):
        console.on_event(_step(1000.0))  # no exception: training goes on
    console.on_event(Stopping(reason="done"))
    console.close()
    assert stream.getvalue().startswith("Training Tiny on CPU: 320 rows, 40 steps")
    assert "Stopping" not in stream.getvalue()
    # tqdm's global lock is free for other threads: the error raised inside tqdm's refresh had left it held, and
    # the next progress bar of any other thread (a data worker's, the next training's) waited forever.
    from tqdm import tqdm

    free: list = []
    taker = threading.Thread(target=lambda: free.extend(lock.acquire(timeout=5) and not lock.release()
                                                        for lock in tqdm.get_lock().locks))
    taker.start()
    taker.join()
    assert free and all(free)


def test_settings_decided_after_the_data_was_read_are_printed_when_training_starts():
    """"Tune for me" decides the learning rate (or why it did not probe) after the settings were listed: that line
    was only in config.json, so the console never said which rate the probe chose."""
    from types import SimpleNamespace

    from bertstudio.train.auto import Decision, Resolved

    listed = [Decision("max_length", 32, "Texts are cut at 32 tokens.")]
    inputs = SimpleNamespace(table=SimpleNamespace(describe=lambda: "Read 320 rows."),
                             config=SimpleNamespace(text_column="text", text_pair_column=None, label_column="label",
                                                    label_columns=None, task="single_label"),
                             report=SimpleNamespace(to_text=lambda: "Kept 320 rows."),
                             resolved=Resolved(config=None, decisions=listed))
    out = io.StringIO()
    console = ConsoleProgress(enabled=False, stream=out)
    console.show_inputs(inputs)
    tuned = {"field": "lr", "value": 2e-4, "reason": "Tune for me: tried 1e-4, 2e-4, 5e-4; 2e-4 did best."}
    console.on_event(dataclasses.replace(_started(), decisions=[*(vars(d) for d in listed), tuned]))
    printed = out.getvalue()
    assert printed.count("Texts are cut at 32 tokens.") == 1
    assert printed.index("2e-4 did best") < printed.index("Training Tiny on CPU")


def test_the_console_writes_to_stderr_as_it_is_when_the_training_starts(monkeypatch):
    """Not to the stream sys.stderr was when the module was imported (a closed capture, in the tests)."""
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    ConsoleProgress(enabled=False).on_event(_started())
    assert "Training Tiny on CPU" in later.getvalue()


def test_each_phase_outside_the_steps_is_printed_once_as_it_begins_with_its_texts():
    """A 300,000-row run printed its last validation line, then nothing for 6.5 minutes (scoring the test texts,
    validation, saving) with the bar frozen at 10/10."""
    from bertstudio.events import Evaluated, Working
    from bertstudio.train.loop import VALIDATION_PHASE
    from bertstudio.train.pipeline import SAVING_PHASE, scoring_phase

    def check(total: int) -> list[Working]:
        return [Working(phase=VALIDATION_PHASE, done=done, total=total) for done in (0, 16, 32, total)]

    evaluated = Evaluated(step=1, epoch=0.1, val_loss=0.5, accuracy=0.8, macro_f1=0.8, is_best=True, elapsed=1.0)
    out = io.StringIO()
    console = ConsoleProgress(enabled=False, stream=out)
    for event in [_started(), _step(100.0), *check(40), evaluated, _step(100.0), *check(40), evaluated,
                  *[Working(phase=scoring_phase("test"), done=done, total=10_000) for done in (0, 64, 10_000)],
                  Working(phase=SAVING_PHASE, done=0, total=0)]:
        console.on_event(event)
    lines = out.getvalue().splitlines()
    assert lines.count(f"{VALIDATION_PHASE} (40 texts)...") == 2  # each check: it begins again after a result
    assert lines[-2:] == [f"{scoring_phase('test')} (10,000 texts)...", f"{SAVING_PHASE}..."]
    # Scores as percentages, as the run's verdict below them writes them (0.8000 beside "97.5% against 87.1%").
    assert "epoch 0.10: validation macro-F1 80.0%, accuracy 80.0%, loss 0.5000 (best so far)" in lines


def test_a_multilabel_run_says_exact_match_and_ends_with_its_thresholds():
    """Its "accuracy" is the share of texts whose every label is right; which thresholds it chose was unsaid."""
    from types import SimpleNamespace

    from bertstudio.config import make_config
    from bertstudio.events import Evaluated, Finished
    from bertstudio.results import Summary

    out = io.StringIO()
    console = ConsoleProgress(enabled=False, stream=out)
    inputs = SimpleNamespace(table=SimpleNamespace(describe=lambda: "Read 40 rows."),
                             config=make_config(text_column="text", label_columns=["a", "b"], task="multi_label"),
                             report=SimpleNamespace(to_text=lambda: ""), resolved=SimpleNamespace(decisions=[]))
    console.show_inputs(inputs)
    console.on_event(Evaluated(step=10, epoch=1.0, val_loss=0.3, accuracy=0.0, macro_f1=0.77, is_best=True,
                               elapsed=1.0))
    note = "Thresholds tuned on 40 validation rows: 1 label got a threshold of its own (b 0.30); 1 label kept 0.5."
    console.on_event(Finished(run_dir="runs/x", summary=Summary(accuracy=0.0, macro_f1=0.77,
                                                                metrics={"threshold_note": note})))
    printed = out.getvalue()
    assert "validation macro-F1 77.0%, exact match 0.0%" in printed and "accuracy" not in printed
    assert printed.rstrip().endswith(note)


def test_a_run_that_never_predicts_a_class_ends_with_a_plain_warning():
    """A 95/5 run ended on 'accuracy 93.3%' with nothing saying the model calls every text 'positive'."""
    import numpy as np

    from bertstudio.evaluation.metrics import classification_metrics
    from bertstudio.events import Finished
    from bertstudio.results import Summary

    metrics = classification_metrics([0, 0] + [1] * 28, np.tile([0.1, 0.9], (30, 1)), ["negative", "positive"])
    out = io.StringIO()
    console = ConsoleProgress(enabled=False, stream=out)
    console.on_event(Finished(run_dir="runs/x", summary=Summary(accuracy=0.933, macro_f1=0.483, metrics=metrics,
                                                                steps=6, stopped_early=True)))
    printed = out.getvalue().splitlines()
    assert printed[-2].startswith("WARNING: The model labels every one of the 30 test texts 'positive'; it never "
                                  "predicts 'negative' (0 of 2 found)")
    assert "What to do: Give it more examples of 'negative'" in printed[-2]
    assert printed[-1].startswith("WARNING: Scores on only 30 test texts are rough")


def test_several_processes_are_said_with_the_texts_an_update_averages():
    out = io.StringIO()
    ConsoleProgress(enabled=False, stream=out).on_event(dataclasses.replace(_started(), processes=2,
                                                                            texts_per_update=32))
    assert "Training Tiny on CPU x 2 processes (32 texts per update): 320 rows, 40 steps" in out.getvalue()
    out = io.StringIO()
    ConsoleProgress(enabled=False, stream=out).on_event(_started())
    assert "Training Tiny on CPU: 320 rows" in out.getvalue()


def test_a_stopped_run_ends_with_one_line_naming_its_checkpoint_and_the_command_that_goes_on(tmp_path, monkeypatch):
    """It said "Interrupted. Go on with: ... (from its last checkpoint, or from the start if it saved none)", then
    "Stopped."; under accelerate launch the command lacked the launch prefix."""
    import pytest

    from bertstudio.results import RunStatus
    from bertstudio.runs import RunFolder

    run = RunFolder(tmp_path / "run")
    run.path.mkdir()
    monkeypatch.delenv("WORLD_SIZE", raising=False)

    def ending() -> str:
        out = io.StringIO()
        console = ConsoleProgress(enabled=False, stream=out)
        console.on_event(dataclasses.replace(_started(), run_dir=str(run.path)))
        with pytest.raises(KeyboardInterrupt), console.running():
            raise KeyboardInterrupt()
        assert console.told_how_to_go_on
        return out.getvalue().splitlines()[-1]

    RunStatus.now("interrupted", step=18, checkpoint_step=18).write(run.status)
    assert ending() == f"Interrupted at step 18, saved as a checkpoint. Go on from there with: bertstudio train " \
                       f"--resume {run.path}"
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert ending().endswith(f"with: accelerate launch --multi_gpu --num_processes 2 -m bertstudio train --resume "
                             f"{run.path}")
    RunStatus.now("interrupted").write(run.status)
    assert ending().startswith("Interrupted before its first checkpoint. Go on (from the start) with: accelerate")
