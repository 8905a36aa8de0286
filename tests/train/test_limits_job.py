"""The usage limits a training job enforces: model and rows before anything trains, minutes while it runs."""

import threading
import time

import pytest

from bertstudio import limits as limits_module
from bertstudio.config import config_from_preset
from bertstudio.events import Cancelled, Evaluated, Failed, Finished, Started, Step, Stopping
from bertstudio.limits import DEMO_LIMITS, LimitExceeded, UsageLimits
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import read_run_status
from bertstudio.runs import RunFolder, read_metrics
from bertstudio.train.job import TrainingJob


def tiny_config(data, model_dir, out, **extra):
    settings = dict(data=str(data), model=str(model_dir), output_dir=str(out), max_length=32, batch_size=8,
                    epochs=2, precision="fp32")
    return config_from_preset(**{**settings, **extra})


def cap_passes_after(event_type, monkeypatch):
    """The limits' clock jumps an hour ahead right after the first ``event_type`` event, whatever the machine's
    speed; returns the job's ``on_event`` that watches for it."""
    seen = threading.Event()
    real_time = time.time

    class Clock:
        @staticmethod
        def time():
            return real_time() + (3600 if seen.is_set() else 0)

    monkeypatch.setattr(limits_module, "time", Clock)
    return lambda event: seen.set() if isinstance(event, event_type) else None


def run_capped_after(event_type, data, model_dir, tmp_path, monkeypatch) -> TrainingJob:
    """A 50-epoch run under a 10-minute cap that passes right after the first ``event_type``; waited for."""
    cfg = tiny_config(data, model_dir, tmp_path / "run", epochs=50, early_stopping_patience=0)
    job = TrainingJob(cfg, limits=UsageLimits(max_train_minutes=10),
                      on_event=cap_passes_after(event_type, monkeypatch)).start()
    assert job.wait(120)
    return job


def test_a_run_that_hits_the_time_cap_stops_cleanly_and_says_why(small_csv, tiny_bert_dir, tmp_path, monkeypatch):
    job = run_capped_after(Step, small_csv, tiny_bert_dir, tmp_path, monkeypatch)
    assert isinstance(job.outcome, Cancelled), job.outcome
    assert "limit of 10 minutes per training" in job.outcome.message and "duplicate the Space" in job.outcome.message
    steps = [e.step for e in job.history if isinstance(e, Step)]
    assert steps and steps[-1] < 50, "stopped within a step or so of the cap, long before 50 epochs"
    assert [r["event"] for r in read_metrics(tmp_path / "run")][-1] == "cancelled"
    assert not RunFolder(tmp_path / "run").is_complete


def test_a_forbidden_model_is_refused_before_anything_loads(small_csv, tmp_path):
    cfg = tiny_config(small_csv, "bert-large-uncased", tmp_path / "run")
    job = TrainingJob(cfg, limits=DEMO_LIMITS).start()
    assert job.wait(60)
    assert isinstance(job.outcome, Failed)
    assert "model limit" in job.outcome.message and "only MiniLM-L6" in job.outcome.message
    assert "run BERT Studio on your own computer" in job.outcome.hint
    assert not any(isinstance(e, Started) for e in job.history) and not (tmp_path / "run").exists()


def test_too_many_rows_are_refused_before_training(small_csv, tiny_bert_dir, tmp_path):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run")
    job = TrainingJob(cfg, limits=UsageLimits(max_rows=10)).start()
    assert job.wait(60)
    assert isinstance(job.outcome, Failed), job.outcome
    assert "row limit" in job.outcome.message and "at most 10 rows" in job.outcome.hint
    assert not any(isinstance(e, Started) for e in job.history)


def test_a_run_capped_after_a_validation_check_keeps_its_best_model(small_csv, tiny_bert_dir, tmp_path, monkeypatch):
    job = run_capped_after(Evaluated, small_csv, tiny_bert_dir, tmp_path, monkeypatch)
    assert isinstance(job.outcome, Finished), job.outcome
    summary = job.outcome.summary
    assert summary.stopped_early and summary.best_step is not None
    reasons = [e.reason for e in job.history if isinstance(e, Stopping)]
    assert len(reasons) == 1 and "limit of 10 minutes per training" in reasons[0], "the Train tab says why"
    run = RunFolder(tmp_path / "run")
    assert run.is_complete and read_run_status(run.path).state == "stopped"
    assert load_predictor(run.path).predict(["a refund please"]).labels


def test_a_step_of_too_many_tokens_is_refused_before_it_waits_in_line(small_csv, tiny_bert_dir, tmp_path):
    """Batches of 2,048 texts of 512 tokens filled 5.7 GB of a 16 GB Space in 30 s; the system then stops the app."""
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", batch_size=2048, max_length=512)
    with pytest.raises(LimitExceeded, match=r"1,048,576 tokens per training step.*\(memory limit\)"):
        TrainingJob(cfg, limits=DEMO_LIMITS)
    TrainingJob(cfg)  # a person's own computer: their memory, their choice


def test_automatic_settings_are_checked_once_decided_from_the_data(small_csv, tiny_bert_dir, tmp_path):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", batch_size=64, max_length=None)
    job = TrainingJob(cfg, limits=UsageLimits(max_batch_tokens=512)).start()  # the length is not known yet
    assert job.wait(60)
    assert isinstance(job.outcome, Failed) and "memory limit" in job.outcome.message, job.outcome
    assert not any(isinstance(e, Started) for e in job.history) and not (tmp_path / "run").exists()
