"""The Train tab shows the simple word-count model: its score while training runs, the verdict at the end."""

from __future__ import annotations

from bertstudio.events import Finished, SimpleModelScored, Started, Step, Working
from bertstudio.results import SimpleModelFigures, Summary
from bertstudio.ui.views.progress import TrainProgress, fold_events, outcome_markdown, progress_markdown


def started() -> Started:
    return Started(run_dir="/r", model="m", device="CPU", precision="fp32", total_steps=10, steps_per_epoch=5,
                   epochs=2, train_rows=80, val_rows=10, test_rows=10, label_names=["a", "b"])


def summary(blend_used: bool) -> Summary:
    blend = {"used": blend_used, "weight": 0.6 if blend_used else 1.0, "reason": "It won on 95% of resamples."}
    figures = SimpleModelFigures(accuracy=0.8, macro_f1=0.79, validation_macro_f1=0.8, fine_tuned_accuracy=0.9,
                                 fine_tuned_macro_f1=0.88, fit_seconds=1.2, speedup=150.0, blend=blend,
                                 verdict="The fine-tuned model beats a simple word-count model by 9.0 points.")
    return Summary(accuracy=0.9, macro_f1=0.88, evaluated_on="test", simple_model=figures)


def test_the_score_to_beat_is_shown_before_and_during_training():
    progress = fold_events(TrainProgress(), [started()])
    assert "first a simple word-count model" in progress_markdown(progress)
    fitting = Working(phase="Fitting the simple word-count model", done=0, total=80)
    fold_events(progress, [fitting, SimpleModelScored(accuracy=0.8, macro_f1=0.831, seconds=2.0, train_rows=80,
                                                      val_rows=10)])
    assert progress.simple.macro_f1 == 0.831
    assert progress.working is None  # its phase ended with its score, which the line now shows
    assert "scored 83.1% macro-F1 on the validation texts" in progress_markdown(progress)
    fold_events(progress, [Step(step=1, total_steps=10, epoch=0.2, loss=1.0, lr=1e-4, grad_norm=1.0,
                                samples_per_second=10, tokens_per_second=100, elapsed=1.0, eta=9.0)])
    assert "simple model to beat: 83.1% macro-F1 on the validation texts" in progress_markdown(progress)


def test_the_verdict_and_the_blend_are_said_at_the_end():
    alone = fold_events(TrainProgress(), [started(), Finished(run_dir="/r", summary=summary(False))])
    text = outcome_markdown(alone)
    assert "beats a simple word-count model by 9.0 points" in text and "blends" not in text
    # The status line above gives the simple model's validation score; this verdict is on the test texts.
    assert "**Compared with a simple model, on the test texts:**" in text
    blended = outcome_markdown(fold_events(TrainProgress(), [started(), Finished(run_dir="/r", summary=summary(True))]))
    assert "blends both (60% fine-tuned)" in blended and "won on 95%" in blended


def test_one_scale_for_the_scores_a_person_reads():
    """The outcome read "macro-F1 is 0.880 and accuracy 90.0%", then "83.9% against 81.4%" in the verdict: every
    score in the Train tab's prose is a percentage, and each simple-model figure says which texts it is on."""
    text = outcome_markdown(fold_events(TrainProgress(), [started(), Finished(run_dir="/r", summary=summary(False))]))
    assert "macro-F1 is **88.0%** and accuracy **90.0%**" in text
    assert "0.88" not in text
