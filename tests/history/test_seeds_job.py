""""Train N times" within the usage limits: a tester's five-run job under a 12-second cap ran for minutes, because
the job was made without the limits."""

import threading
import time

import pytest

from bertstudio import limits as limits_module
from bertstudio.config import config_from_preset
from bertstudio.events import Cancelled, Failed, Started
from bertstudio.history.seeds_job import SeedDone, SeedsJob
from bertstudio.limits import DEMO_LIMITS, LimitExceeded, UsageLimits


def tiny_config(data, model_dir, **extra):
    settings = dict(data=str(data), model=str(model_dir), max_length=32, batch_size=8, epochs=1, precision="fp32")
    return config_from_preset(**{**settings, **extra})


def test_the_model_and_the_tokens_of_a_step_are_refused_when_the_job_is_made(small_csv, tmp_path):
    with pytest.raises(LimitExceeded, match="model limit"):
        SeedsJob(tiny_config(small_csv, "bert-large-uncased"), 3, runs_root=tmp_path, limits=DEMO_LIMITS)
    with pytest.raises(LimitExceeded, match="memory limit"):
        SeedsJob(tiny_config(small_csv, "bundled-minilm", batch_size=2048, max_length=512), 3, runs_root=tmp_path,
                 limits=DEMO_LIMITS)


def test_too_many_rows_are_refused_before_the_first_run(small_csv, tiny_bert_dir, tmp_path):
    job = SeedsJob(tiny_config(small_csv, tiny_bert_dir), 2, runs_root=tmp_path / "runs",
                   limits=UsageLimits(max_rows=10)).start()
    assert job.wait(60)
    assert isinstance(job.outcome, Failed) and "row limit" in job.outcome.message, job.outcome
    assert not any(isinstance(e, Started) for e in job.history) and not (tmp_path / "runs").exists()


def test_the_runs_together_stop_at_the_time_limit_of_one_training(small_csv, tiny_bert_dir, tmp_path, monkeypatch):
    first_done = threading.Event()
    real_time = time.time

    class Clock:  # ten minutes pass as soon as the first run is done
        @staticmethod
        def time():
            return real_time() + (600 if first_done.is_set() else 0)

    monkeypatch.setattr(limits_module, "time", Clock)
    job = SeedsJob(tiny_config(small_csv, tiny_bert_dir), 5, runs_root=tmp_path / "runs",
                   limits=UsageLimits(max_train_minutes=10))
    job.on_event = lambda event: first_done.set() if isinstance(event, SeedDone) else None
    assert job.start().wait(120)
    assert isinstance(job.outcome, Cancelled), job.outcome
    assert job.outcome.message.startswith("Stopped after 1 of 5 runs. The 5 runs together reached this demo's limit "
                                          "of 10 minutes per training (time limit).")
    assert len(list((tmp_path / "runs").glob("*/seed-*"))) == 1, "no second run was begun only to stop"
