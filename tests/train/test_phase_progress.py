"""Every phase that takes time reports progress and honours Stop: head-only feature caching (the encoder's one
pass over every text: over 100 s on 10,000 texts with BERT-base on 2 CPU cores), the validation checks between
steps and the final scoring of the kept model emit ``Working`` events between their batches, so no batch goes by
without an event and Stop takes effect before the next batch (one batch: about a second at most, so no phase goes
two seconds without an event).

No clocks: a batch is the unit of work (about a second at most), and the tests check the order of batches and
events, which does not depend on how fast the machine is.
"""

import pytest

from bertstudio.events import Evaluated, Finished, Started, Step, Working
from bertstudio.train import feeds, pipeline
from bertstudio.train.job import READING_PHASE
from bertstudio.train.loop import FEATURES_PHASE, VALIDATION_PHASE, StopRequested
from bertstudio.ui.views.progress import TrainProgress, fold_events, progress_markdown
from tests.train.test_pipeline_job import run_job, tiny_config


@pytest.fixture
def logged_batches(monkeypatch):
    """A log of encoder batches (the slow unit of feature caching) and events, in the order they happen."""
    log: list[object] = []
    build = pipeline.build_model

    def build_and_watch(inputs, cfg):
        model = build(inputs, cfg)
        forward = model.base_model.forward

        def watched(*args, **kwargs):
            log.append("batch")
            return forward(*args, **kwargs)

        model.base_model.forward = watched
        return model

    monkeypatch.setattr(pipeline, "build_model", build_and_watch)
    monkeypatch.setattr(feeds, "EVAL_BATCH_SIZE", 4)  # many small batches: a slow phase in miniature
    return log


def test_no_feature_batch_goes_without_a_progress_event(small_csv, tmp_path, tiny_bert_dir, logged_batches):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", preset="head-only", epochs=1)
    pipeline.run_training(pipeline.load_inputs(cfg), emit=logged_batches.append)
    caching = logged_batches[next(i for i, e in enumerate(logged_batches) if isinstance(e, Started)):
                             next(i for i, e in enumerate(logged_batches) if isinstance(e, Step))]
    batches = caching.count("batch")
    assert batches > 5
    assert all(not (a == "batch" and b == "batch") for a, b in zip(caching, caching[1:])), "a batch without an event"
    # Before the features, the simple word-count model says it is fitting (one event: one call of seconds).
    others = [e.phase for e in caching if isinstance(e, Working) and e.phase != FEATURES_PHASE]
    assert len(others) == 1 and others[0].startswith("Fitting the simple word-count model")
    working = [e for e in caching if isinstance(e, Working) and e.phase == FEATURES_PHASE]
    assert [e.done for e in working] == sorted(e.done for e in working)  # counts only go up
    assert working[-1].done == working[-1].total  # and end at every text of both splits


def test_stop_during_feature_caching_takes_effect_before_the_next_batch(small_csv, tmp_path, tiny_bert_dir,
                                                                        logged_batches):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", preset="head-only", epochs=1)
    asked = []

    def emit(event):
        logged_batches.append(event)
        if isinstance(event, Working) and event.done > 0:
            asked.append(logged_batches.count("batch"))  # Stop pressed after the first batch

    with pytest.raises(StopRequested):
        pipeline.run_training(pipeline.load_inputs(cfg), emit=emit, should_stop=lambda: bool(asked))
    assert logged_batches.count("batch") == asked[0]  # not one encoder batch after Stop
    assert not any(isinstance(e, Step) for e in logged_batches)


def test_the_train_tab_shows_the_phase_and_texts_per_second_for_head_only():
    started = Started(run_dir="r", model="m", device="CPU", precision="fp32", total_steps=40, steps_per_epoch=10,
                      epochs=4, train_rows=320, val_rows=40, test_rows=40, label_names=["a", "b"])
    progress = fold_events(TrainProgress(), [started, Working(phase=FEATURES_PHASE, done=64, total=360)])
    assert FEATURES_PHASE in progress_markdown(progress) and "64 of 360 texts" in progress_markdown(progress)
    step = Step(step=1, total_steps=40, epoch=0.1, loss=1.0, lr=1e-3, grad_norm=1.0, samples_per_second=900.0,
                tokens_per_second=0.0, elapsed=0.1, eta=4.0)
    shown = progress_markdown(fold_events(progress, [step]))
    assert "900 texts/s" in shown and "tokens/s" not in shown


def _after(log: list, event_type) -> list:
    return log[next(i for i, e in enumerate(log) if isinstance(e, event_type)):]


def test_no_encoder_batch_of_a_whole_run_goes_without_a_progress_event(small_csv, tmp_path, tiny_bert_dir,
                                                                       logged_batches):
    """Fine-tuning from the first step to the saved model: training steps, validation checks, the final scoring."""
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", preset="balanced", epochs=1, eval_every=2,
                      simple_model=False)
    pipeline.run_training(pipeline.load_inputs(cfg), emit=logged_batches.append)
    run = _after(logged_batches, Started)
    assert isinstance(run[-1], Finished) and run.count("batch") > 10
    silent = [i for i, (a, b) in enumerate(zip(run, run[1:])) if a == "batch" and b == "batch"]
    assert not silent, f"batches without an event between them at {silent[:5]}: {run[silent[0] - 3:silent[0] + 3]}"
    phases = [e.phase for e in run if isinstance(e, Working)]
    assert VALIDATION_PHASE in phases
    assert pipeline.scoring_phase("test") in phases and pipeline.SAVING_PHASE in phases
    checks = [e for e in run if isinstance(e, Working) and e.phase == VALIDATION_PHASE]
    assert checks[-1].done == checks[-1].total > 0


def test_stop_during_a_validation_check_keeps_the_best_model_so_far(small_csv, tmp_path, tiny_bert_dir,
                                                                    logged_batches):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", preset="balanced", epochs=3, eval_every=2,
                      simple_model=False)
    asked = []

    def emit(event):
        logged_batches.append(event)
        checks = sum(isinstance(e, Evaluated) for e in logged_batches)
        if isinstance(event, Working) and event.phase == VALIDATION_PHASE and event.done > 0 and checks >= 1:
            asked.append(logged_batches.count("batch"))  # Stop pressed in the second check, after one batch

    summary = pipeline.run_training(pipeline.load_inputs(cfg), emit=emit, should_stop=lambda: bool(asked))
    assert summary.stopped_early and summary.best_step == 2
    second_check = _after(logged_batches[logged_batches.index(next(e for e in logged_batches
                                                                   if isinstance(e, Evaluated))) + 1:], Working)
    before_scoring = next(i for i, e in enumerate(second_check)
                          if isinstance(e, Working) and e.phase != VALIDATION_PHASE)
    assert second_check[:before_scoring].count("batch") == 1, "not one validation batch after Stop"
    assert not any(isinstance(e, Step) for e in second_check), "no training step after Stop"


def test_stop_in_the_first_validation_check_keeps_nothing(small_csv, tmp_path, tiny_bert_dir, logged_batches):
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", preset="balanced", epochs=1, eval_every=2,
                      simple_model=False)
    asked = []

    def emit(event):
        logged_batches.append(event)
        if isinstance(event, Working) and event.phase == VALIDATION_PHASE and event.done > 0:
            asked.append(True)

    with pytest.raises(StopRequested):
        pipeline.run_training(pipeline.load_inputs(cfg), emit=emit, should_stop=lambda: bool(asked))
    assert not any(isinstance(e, Evaluated) for e in logged_batches)


def test_the_train_tab_shows_a_check_between_steps_and_the_phases_after_them():
    started = Started(run_dir="r", model="m", device="CPU", precision="fp32", total_steps=40, steps_per_epoch=10,
                      epochs=4, train_rows=320, val_rows=40, test_rows=40, label_names=["a", "b"])
    step = Step(step=10, total_steps=40, epoch=1.0, loss=1.0, lr=1e-3, grad_norm=1.0, samples_per_second=9.0,
                tokens_per_second=300.0, elapsed=10, eta=30)
    progress = fold_events(TrainProgress(), [started, step, Working(phase=VALIDATION_PHASE, done=16, total=40)])
    shown = progress_markdown(progress)
    assert shown.startswith("**Step 10 of 40**") and f"**{VALIDATION_PHASE}:** 16 of 40 texts" in shown
    fold_events(progress, [Evaluated(step=10, epoch=1.0, val_loss=0.5, accuracy=0.8, macro_f1=0.8, is_best=True,
                                     elapsed=11)])
    assert VALIDATION_PHASE not in progress_markdown(progress)  # the check is over
    fold_events(progress, [Working(phase=pipeline.SAVING_PHASE, done=0, total=0)])
    assert progress_markdown(progress).endswith(f"**{pipeline.SAVING_PHASE}**…")


def test_the_phases_before_the_first_step_say_what_they_do(small_csv, tmp_path, tiny_bert_dir):
    job = run_job(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", max_steps=2, simple_model=False))
    before = job.history[:next(i for i, e in enumerate(job.history) if isinstance(e, Started))]
    assert [e.phase for e in before] == [READING_PHASE, pipeline.TOKENIZING_PHASE]
    assert progress_markdown(fold_events(TrainProgress(), before[:1])) == f"**{READING_PHASE}**…"
    started = fold_events(TrainProgress(), job.history[:len(before) + 1])
    assert progress_markdown(started).startswith("Starting:"), "the phases before the start are over"
