"""The app's logic without a browser: live progress, advice, the settings form, config building.
(The job registry behind the Train tab is tested in tests/test_jobs.py.)"""

from __future__ import annotations

import dataclasses

import pytest

from bertstudio.errors import ConfigError, DataError
from bertstudio.events import Cancelled, Evaluated, Failed, Finished, Started, Step
from bertstudio.results import Summary, ValidationScores
from bertstudio.train import estimate as train_estimate
from bertstudio.train import plan as train_plan
from bertstudio.train.auto import Hardware, ModelShape
from bertstudio.train.schedule import total_optimizer_steps
from bertstudio.ui.state import DataSelection, ModelChoice, build_config, require_data
from bertstudio.ui.views import advice as views_advice
from bertstudio.ui.views import settings
from bertstudio.ui.views.progress import (
    TrainProgress,
    fold_events,
    format_duration,
    outcome_markdown,
    progress_fraction,
    progress_markdown,
)

COUNTS = {"billing": 100, "delivery": 100, "praise": 100, "product_quality": 100}


def _started() -> Started:
    return Started(run_dir="runs/x", model="Tiny", device="CPU (test)", precision="fp32", total_steps=4,
                   steps_per_epoch=2, epochs=2, train_rows=32, val_rows=8, test_rows=8, label_names=["a", "b"])


def _step(n: int, loss: float = 1.0) -> Step:
    return Step(step=n, total_steps=4, epoch=n / 2, loss=loss, lr=1e-4, grad_norm=0.5, samples_per_second=10,
                tokens_per_second=1234.5, elapsed=10.0 * n, eta=10.0 * (4 - n))


def _selection(**changes) -> DataSelection:
    values = dict(path="/tmp/data.csv", file_name="data.csv", columns=["text", "label"], text_column="text",
                  label_column="label", text_pair_column=None, casefold_labels=False, max_length=32, rows=400,
                  class_counts=dict(COUNTS), has_errors=False)
    return DataSelection(**{**values, **changes})


# --- progress --------------------------------------------------------------------------------------


def test_fold_events_builds_the_chart_series_and_moves_the_cursor():
    progress = TrainProgress(token="t")
    assert progress_markdown(progress).startswith("Preparing")
    fold_events(progress, [_started(), _step(1, 1.2), _step(2, 0.8)])
    assert progress.cursor == 3 and progress.steps == [1, 2] and progress.losses == [1.2, 0.8]
    assert progress_fraction(progress) == 0.5
    line = progress_markdown(progress)
    assert "Step 2 of 4" in line and "1,234 tokens/s" in line and "20 s left" in line and "CPU (test)" in line

    best = Evaluated(step=2, epoch=1.0, val_loss=0.5, accuracy=0.9, macro_f1=0.85, is_best=True, elapsed=21)
    worse = Evaluated(step=4, epoch=2.0, val_loss=0.6, accuracy=0.8, macro_f1=0.80, is_best=False, elapsed=41)
    fold_events(progress, [best, _step(3), _step(4), worse])
    assert progress.eval_steps == [2, 4] and progress.macro_f1s == [0.85, 0.80]
    assert progress.best is best and not progress.done and outcome_markdown(progress) == ""


def test_outcome_messages_are_plain_sentences():
    summary = Summary(validation=ValidationScores(macro_f1=0.912), best_epoch=3, macro_f1=0.9, accuracy=0.93,
                      evaluated_on="test")
    done = fold_events(TrainProgress(), [_started(), _step(4), Finished(run_dir="runs/x", summary=summary)])
    text = outcome_markdown(done)
    assert "Done: best validation macro-F1 **91.2%** at epoch 3, model saved" in text and "93.0%" in text
    assert done.done and progress_fraction(done) == 1.0
    assert "left" not in progress_markdown(done)
    assert "early stopping" not in text
    early = summary.model_copy(update={"early_stopping": True, "steps": 45, "best_step": 15})
    ended = fold_events(TrainProgress(), [_started(), _step(4), Finished(run_dir="runs/x", summary=early)])
    assert "ended before its planned steps: the validation score had stopped improving" in outcome_markdown(ended)
    assert early.ending().startswith("Done after 45 steps, ended early because the validation score had stopped")

    failed = fold_events(TrainProgress(), [Failed(message="Out of memory.", hint="Lower the batch size.")])
    assert outcome_markdown(failed) == "**Training failed:** Out of memory. **What to do:** Lower the batch size."
    stopped = fold_events(TrainProgress(), [Cancelled(step=7, run_dir="runs/x")])
    assert "Stopped at step 7" in outcome_markdown(stopped)


@pytest.mark.parametrize("seconds, text", [(4.4, "4 s"), (185, "3 min 05 s"), (3720, "1 h 02 min"), (-3, "0 s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


# --- advice ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows, counts, preset", [
    (600, {"a": 500, "b": 100}, "imbalanced"),
    (120, {"a": 40, "b": 40, "c": 40}, "small-data"),
    (60_000, {"a": 30_000, "b": 30_000}, "large-data"),
    (400, COUNTS, "balanced"),
])
def test_recommend_preset(rows, counts, preset):
    tip = train_plan.recommend_preset(rows, counts)
    assert tip.preset == preset
    assert tip.reason.endswith(".") and len(tip.reason.split(". ")) == 1  # one sentence


def test_plan_follows_the_engine_rules_and_the_step_limit():
    choice = ModelChoice(settings={**settings.preset_settings("balanced")[0], "max_steps": 30})
    config = build_config(_selection(), choice)
    plan = train_plan.plan_training(config, 400, COUNTS, length_p95=31, model=ModelShape(384, 6, 1536), hardware=Hardware("cpu"))
    assert (plan.train_rows, plan.val_rows, plan.test_rows) == (320, 40, 40)  # the split's own sizes
    assert plan.config.batch_size == 16 and plan.config.epochs == 10  # the engine's choices for 320 rows
    assert plan.steps_per_epoch == -(-plan.train_rows // 16)
    assert plan.total_steps == 30 and plan.evaluations == 2 and plan.capped
    assert (plan.total_steps, plan.steps_per_epoch) == total_optimizer_steps(plan.config, -(-plan.train_rows // 16))
    assert any("learning rate" in d.reason for d in plan.decisions)

    estimate = train_estimate.estimate_time(plan, PROBE)
    assert estimate.steps == pytest.approx(30 * train_estimate.step_seconds(plan, PROBE))
    assert estimate.total_seconds > estimate.steps
    text = views_advice.plan_markdown(plan, estimate, "CPU", 0.5)
    assert "at most 30 steps" in text and "Estimated training time" in text and "0.50 s" in text
    # What the estimate assumes is said; that the measurement met other programs' load is said when it did.
    assert "for this computer with nothing else running" in text and "Other programs were busy" not in text
    busy = views_advice.plan_markdown(plan, dataclasses.replace(estimate, measured_while_busy=True), "CPU", 0.5)
    assert "Other programs were busy on this computer while its speed was measured, so this estimate is rough" in busy
    # Patience 2 with 2 checks: early stopping cannot end this plan sooner, so it is not promised.
    assert "validation texts twice; " in text and "early stopping" not in text
    longer = dataclasses.replace(plan, evaluations=4)
    assert "4 times and early stopping may end training sooner" in views_advice.plan_markdown(longer, None, "CPU")
    assert "No estimate" in views_advice.plan_markdown(plan, None, "CPU", note="No estimate: unknown size.")
    never = dataclasses.replace(plan, config=plan.config.model_copy(update={"early_stopping_patience": 0}))
    assert "early stopping is off" in views_advice.plan_markdown(never, None, "CPU")


PROBE = train_plan.SpeedProbe(layers=6, batch_size=16, train_step=0.5, forward_batch=0.16)


def test_plan_shows_what_tune_for_me_adds_before_starting():
    def plan_for(tune: bool):
        choice = ModelChoice(settings={**settings.preset_settings("balanced")[0], "tune": tune})
        return train_plan.plan_training(build_config(_selection(), choice), 4_000, COUNTS, length_p95=31,
                                    model=ModelShape(384, 6, 1536), hardware=Hardware("cpu"))

    plain = train_estimate.estimate_time(plan_for(False), PROBE)
    plan = plan_for(True)
    estimate = train_estimate.estimate_time(plan, PROBE)
    assert 0 < estimate.tune_seconds <= 0.25 * plain.total_seconds
    assert estimate.total_seconds == pytest.approx(plain.total_seconds + estimate.tune_seconds)
    text = views_advice.plan_markdown(plan, estimate, "CPU", 0.5)
    assert "Tune for me" in text and "at most 25% more time" in text and "tuning" in text


# --- settings form and config ----------------------------------------------------------------------------


def test_widget_values_round_trip_to_config_values():
    specs = {spec.name: spec for spec in settings.advanced_specs()}
    assert set(specs) == set(settings.ADVANCED_FIELDS)
    assert all(spec.help for spec in specs.values())  # every field has a help text from the config
    tristate = specs["freeze_embeddings"]
    assert [settings.to_widget(tristate, v) for v in (None, True, False)] == ["auto", "yes", "no"]
    assert [settings.from_widget(tristate, v) for v in ("auto", "yes", "no")] == [None, True, False]
    assert settings.from_widget(specs["max_steps"], 30.4) == 30
    assert settings.from_widget(specs["max_steps"], None) is None
    assert settings.from_widget(specs["lr"], "0.0002") == pytest.approx(2e-4)
    assert specs["precision"].choices == ("auto", "bf16", "fp16", "fp32")
    assert "automatic" in specs["epochs"].help


def test_build_config_applies_preset_then_settings_then_data():
    values, model = settings.preset_settings("head-only")
    assert model is None and values["freeze_encoder"] is True
    config = build_config(_selection(casefold_labels=True), ModelChoice(preset="head-only",
                                                                        settings={**values, "max_steps": 20}))
    assert config.freeze_encoder and config.max_steps == 20 and config.preset == "head-only"
    assert (config.data, config.text_column, config.label_column, config.max_length) == \
        ("/tmp/data.csv", "text", "label", None)  # the suggested length stays automatic, as in the CLI
    typed = build_config(_selection(max_length=48, max_length_set=True), ModelChoice())
    assert typed.max_length == 48  # one the person typed is theirs
    assert config.casefold_labels
    assert settings.preset_settings("low-latency")[1] == "distilbert-base-uncased"
    with pytest.raises(ConfigError):
        build_config(_selection(), ModelChoice(settings={"batch_size": 0}))


def test_require_data_explains_what_to_do():
    with pytest.raises(DataError, match="No data"):
        require_data(None)
    with pytest.raises(DataError, match="Only one class"):
        require_data(_selection(has_errors=True, errors_text="Only one class."))
    assert require_data(_selection()).rows == 400


# --- engine calls behind the Data and Model tabs (real tokenizer, tiny model) ------------------------


def test_analyse_reads_checks_and_measures_the_sample(sample_csv):
    from bertstudio.ui.common import TokenizerCache
    from bertstudio.ui.data_tab import analyse, lengths_markdown, preview_table

    tokenizers = TokenizerCache()
    selection = analyse(tokenizers, str(sample_csv), "bundled-minilm")
    assert (selection.text_column, selection.label_column, selection.text_pair_column) == ("text", "label", None)
    assert selection.rows == 400 and selection.class_counts == COUNTS and not selection.has_errors
    assert selection.max_length == selection.lengths.suggested_max_length == 32
    preview = preview_table(tokenizers, selection)
    assert len(preview) == 5 and preview["What the model reads"].str.startswith("[CLS]").all()
    assert "Suggested maximum length: **32**" in lengths_markdown(selection)


def test_plan_text_measures_a_step_of_a_local_model(tiny_bert_dir):
    from bertstudio.ui.model_tab import plan_text

    values, _ = settings.preset_settings("balanced")
    choice = ModelChoice(model=str(tiny_bert_dir), settings={**values, "max_steps": 10, "precision": "fp32"})
    plan, reasons = plan_text(_selection(), choice, training_now=False)
    assert "at most 10 steps" in plan and "Estimated training time on this computer" in plan
    assert "Chosen automatically from your data" in reasons
    first, _ = plan_text(_selection(), choice, training_now=False, measure=False)
    assert "at most 10 steps" in first and "Measuring" in first
    waiting, _ = plan_text(_selection(), choice, training_now=True)
    assert "waits until the computer is free" in waiting
    assert "Load your data" in plan_text(None, choice, training_now=False)[0]
    blocked, _ = plan_text(_selection(has_errors=True, errors_text="Only one class."), choice, training_now=False)
    assert "Only one class." in blocked


def test_a_new_file_switches_preset_only_when_another_one_is_recommended():
    # Already the recommended one: None, so nothing the person typed in the settings is overwritten.
    assert train_plan.preset_for_new_file(400, COUNTS, current="balanced") is None
    assert train_plan.preset_for_new_file(600, {"a": 500, "b": 100}, current="balanced") == "imbalanced"
    assert train_plan.preset_for_new_file(400, COUNTS, current="head-only") == "balanced"


def test_the_speed_probe_scales_one_layer_and_keeps_the_fixed_part():
    from bertstudio.train.step_timer import _scaled

    assert _scaled(1.0, 1.5, 12) == pytest.approx(0.5 + 12 * 0.5)  # fixed 0.5 s + 12 layers of 0.5 s
    assert _scaled(1.5, 1.0, 12) == pytest.approx(12 * 0.5)  # a busy machine's inverted timings: no fixed part


# --- a new file's preset and the settings the person set ----------------------------------------------------------


IMBALANCED = {"a": 500, "b": 100}  # recommended: Imbalanced classes


def _shown(preset: str, **typed) -> list:
    """The advanced settings as the form shows ``preset``, with what the person typed over it."""
    values = {**settings.preset_settings(preset)[0], **typed}
    return [settings.to_widget(spec, values[spec.name]) for spec in settings.advanced_specs()]


def test_a_recommended_preset_keeps_the_settings_the_person_set_and_says_so():
    """A tester set Maximum steps to 40, loaded a file recommending Imbalanced, and found the box emptied."""
    specs = settings.advanced_specs()
    shown = _shown("balanced", max_steps=40.0, lr=2e-4)
    shown[[spec.name for spec in specs].index("lr")] = 0.0002  # a number box sends 2e-4 back as 0.0002
    assert settings.own_settings(specs, shown, "balanced") == {"max_steps": 40, "lr": 2e-4}
    switch = settings.switch_preset(specs, shown, "balanced", "imbalanced")
    recommended, _ = settings.preset_settings("imbalanced")
    assert switch.preset == "imbalanced"
    assert switch.values == {**recommended, "max_steps": 40, "lr": 2e-4}  # the rest is the recommendation's
    assert switch.kept == {"max_steps": 40, "lr": 2e-4}
    note = settings.switch_note(switch, specs)
    assert note == ("The preset is now Imbalanced classes, the one recommended for this file. Your own settings stay "
                    "as you set them: Maximum steps 40, Learning rate (pre-trained model) 0.0002.")
    untouched = settings.switch_preset(specs, _shown("balanced"), "balanced", "imbalanced")
    assert untouched.values == recommended and not untouched.kept
    assert settings.switch_note(untouched, specs) == ("The preset is now Imbalanced classes, the one recommended for "
                                                      "this file.")
    # A setting typed to what the new preset sets anyway is not listed as kept (nothing was at stake).
    same = settings.switch_preset(specs, _shown("balanced", class_weighting=recommended["class_weighting"]),
                                  "balanced", "imbalanced")
    assert same.kept == {} and same.values == recommended


def _model_tab_handler(tmp_path, name: str):
    from bertstudio.ui.app import build_app

    demo = build_app(tmp_path / "data", warm=False)
    handler = next(fn for fn in demo.fns.values() if getattr(fn.fn, "__name__", "") == name)
    by_id = {getattr(block, "elem_id", None): block for block in handler.outputs}
    return handler, by_id


def test_the_model_tab_keeps_typed_settings_when_a_new_file_switches_the_preset(tmp_path):
    """The wiring: the new file's handler reads the shown settings and puts the person's own back over the
    recommended preset, with a note saying so; a file whose preset is already selected changes no setting."""
    handler, outputs = _model_tab_handler(tmp_path, "on_new_file")
    assert [getattr(block, "elem_id", None) for block in handler.inputs[4:]] == \
        [f"setting-{spec.name}" for spec in settings.advanced_specs()]  # every shown setting reaches it
    shown = _shown("balanced", max_steps=40)
    switched = handler.fn(_selection(rows=600, class_counts=IMBALANCED), "balanced", None, "/tmp/other.csv", *shown)
    assert switched[outputs["setting-max_steps"]] == 40
    assert switched[outputs["setting-class_weighting"]] == settings.preset_settings("imbalanced")[0]["class_weighting"]
    assert switched[outputs["preset-choice"]].value == "imbalanced"
    assert "Maximum steps 40" in switched[outputs["preset-switch-note"]]
    kept = handler.fn(_selection(), "balanced", None, "/tmp/data.csv", *shown)
    assert outputs["setting-max_steps"] not in kept and kept[outputs["preset-switch-note"]] == ""
