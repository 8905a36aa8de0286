"""The time estimate, phase by phase (pure: a plan and a fake probe in, seconds out), the probe's cache and shape,
and the per-phase measurement of a run from its events that bench/estimates.py compares it with."""

from __future__ import annotations

import pytest

from bertstudio.config import config_from_preset
from bertstudio.events import Evaluated, SimpleModelScored, Started, Step, Working
from bertstudio.train import estimate as train_estimate
from bertstudio.train import plan as train_plan
from bertstudio.train import step_timer
from bertstudio.train.auto import Hardware, ModelShape
from bertstudio.train.batch_order import padding_buckets
from bertstudio.train.loop import FEATURES_PHASE, VALIDATION_PHASE
from bertstudio.train.phase_times import phase_times
from bertstudio.train.pipeline import SAVING_PHASE, TOKENIZING_PHASE, scoring_phase
from bertstudio.train.schedule import total_optimizer_steps

COUNTS = {"billing": 100, "delivery": 100, "praise": 100, "product_quality": 100}
PROBE = train_plan.SpeedProbe(layers=6, batch_size=16, train_step=0.5, forward_batch=0.16, seq_len=16,
                              embedding_update=0.05, weights_copy=0.1, weights_save=0.2)
# SST-2-like lengths: most texts short, a long tail (percentiles 0..100).
GRID = [3 + i // 8 for i in range(90)] + [15 + 4 * i for i in range(11)]


def plan_for(preset: str = "balanced", rows: int = 4_000, grid=GRID, **settings) -> train_plan.TrainingPlan:
    config = config_from_preset(preset, data="data.csv", **settings)
    counts = {name: rows // len(COUNTS) for name in COUNTS}
    return train_plan.plan_training(config, rows, counts, length_p95=grid[95] if grid else 64,
                                    model=ModelShape(384, 6, 1536), hardware=Hardware("cpu"), length_grid=grid,
                                    suggested_max_length=64)


def estimate_of(plan: train_plan.TrainingPlan, probe: train_plan.SpeedProbe = PROBE) -> train_plan.TimeEstimate:
    return train_estimate.estimate_time(plan, probe)


def test_the_plan_counts_steps_with_the_training_loop_own_function():
    from bertstudio.train import loop

    assert train_plan.total_optimizer_steps is loop.total_optimizer_steps is total_optimizer_steps


def test_every_phase_is_counted_once_in_the_total():
    estimate = estimate_of(plan_for("balanced"))
    parts = [getattr(estimate, name) for name in train_plan.PHASES]
    assert all(part >= 0 for part in parts) and estimate.tuning == 0 and estimate.features == 0
    assert estimate.total_seconds == pytest.approx(sum(parts))
    assert estimate.tune_seconds == estimate.tuning


def test_more_rows_of_the_same_data_are_never_estimated_faster():
    # The last measurement estimated 2,000 SST-2 rows at a third of 400 rows' time.
    for preset in ("head-only", "balanced", "small-data"):
        small, large = estimate_of(plan_for(preset, 400, max_steps=60)), estimate_of(plan_for(preset, 2_000, max_steps=60))
        assert large.total_seconds > small.total_seconds, preset
        for name in ("reading", "tokenizing", "simple_model", "features", "final_scoring"):  # per text
            assert getattr(large, name) >= getattr(small, name), (preset, name)
        # (the checks need not grow: 60 steps are several epochs of 400 rows, each ending with a check)


def test_head_only_is_one_encoder_pass_then_the_head_and_the_full_model_scores_at_the_end():
    head, full = plan_for("head-only"), plan_for("balanced")
    head_time, full_time = estimate_of(head), estimate_of(full)
    per_text = PROBE.forward_per_text(head.padded.evaluation)
    assert head_time.features == pytest.approx((head.train_rows + head.val_rows) * per_text)
    assert head_time.steps == pytest.approx(head.total_steps * train_estimate.HEAD_STEP_S)
    assert head_time.validation == pytest.approx(head.evaluations * PROBE.weights_copy)  # the head on cached vectors
    # The kept model (the whole encoder) scores the test texts, and validation once more for calibration.
    assert head_time.final_scoring == pytest.approx((head.test_rows + head.val_rows) * per_text)
    assert full_time.features == 0
    assert head_time.total_seconds < full_time.total_seconds / 3  # "fastest" is the fastest


def test_validation_checks_read_the_validation_texts_and_keep_the_best_weights():
    plan = plan_for("balanced")
    check = plan.val_rows * PROBE.forward_per_text(plan.padded.evaluation) + PROBE.weights_copy
    assert estimate_of(plan).validation == pytest.approx(plan.evaluations * check)


def test_frozen_layers_only_run_forward_and_frozen_embeddings_are_not_updated():
    assert PROBE.step_seconds(6) == pytest.approx(0.5)
    assert PROBE.step_seconds(0) == pytest.approx(0.16)
    assert PROBE.step_seconds(3) == pytest.approx((0.5 + 0.16) / 2)
    frozen = plan_for("balanced", freeze_layers=3, freeze_embeddings=True)
    assert train_estimate.step_seconds(frozen, PROBE) == pytest.approx(0.33)
    everything = plan_for("large-data")  # every layer and the word embeddings learn
    assert not everything.config.freeze_embeddings and not everything.config.freeze_layers
    assert train_estimate.step_seconds(everything, PROBE) == pytest.approx(0.5 + PROBE.embedding_update)


def test_gradual_unfreezing_and_lora_cost_less_than_training_every_layer():
    full = train_estimate.step_seconds(plan_for("balanced", freeze_layers=0), PROBE)
    gradual_plan = plan_for("gradual", freeze_layers=0)
    gradual = train_estimate.step_seconds(gradual_plan, PROBE)
    # Phases of equal length open 0, 2, 4, 6 layers: 3 of 6 layers learn on average.
    assert train_estimate.mean_trainable_layers(gradual_plan, 6) == pytest.approx(3, abs=0.2)
    assert PROBE.forward_batch < gradual < full
    lora = train_estimate.step_seconds(plan_for("lora"), PROBE)
    assert PROBE.forward_batch < lora < PROBE.train_step


def test_gradient_accumulation_runs_several_batches_per_step():
    one = train_estimate.step_seconds(plan_for("balanced"), PROBE)
    assert train_estimate.step_seconds(plan_for("balanced", grad_accum=4), PROBE) == pytest.approx(4 * one)


def test_the_simple_model_fit_is_counted_and_grows_with_rows():
    small, large = estimate_of(plan_for("balanced", 400)), estimate_of(plan_for("balanced", 4_000))
    assert 0 < small.simple_model < large.simple_model
    assert estimate_of(plan_for("balanced", 400, simple_model=False)).simple_model == 0


def test_the_simple_model_is_counted_on_the_rows_it_fits_on():
    # It fits on a sample of a big training split: a million rows cost what 200,000 do, not five times more.
    big, bigger = (plan_for("balanced", rows, max_steps=10) for rows in (200_000, 1_000_000))
    assert big.val_rows == bigger.val_rows and bigger.train_rows > 4 * big.train_rows
    assert estimate_of(bigger).simple_model == pytest.approx(estimate_of(big).simple_model)


def test_longer_texts_cost_more_in_every_pass_over_them():
    short, long = plan_for("balanced", grid=GRID), plan_for("balanced", grid=[4 * v for v in GRID])
    assert long.padded.train > short.padded.train and long.padded.evaluation > short.padded.evaluation
    assert estimate_of(long).final_scoring > estimate_of(short).final_scoring


def test_tune_for_me_adds_its_probe_before_training():
    plain, tuned = estimate_of(plan_for("balanced", tune=False)), estimate_of(plan_for("balanced", tune=True))
    assert 0 < tuned.tuning <= 0.25 * plain.total_seconds
    assert tuned.total_seconds == pytest.approx(plain.total_seconds + tuned.tuning)


# --- padded lengths ------------------------------------------------------------------------------------------


def test_batches_grouped_by_length_are_padded_little_and_random_ones_to_their_longest_text():
    grouped = train_plan.padded_lengths(GRID, 2_000, 64, batch_size=16, grouped=True, seed=42)
    shuffled = train_plan.padded_lengths(GRID, 2_000, 64, batch_size=16, grouped=False, seed=42)
    assert grouped.mean_text <= grouped.train < 1.3 * grouped.mean_text
    assert shuffled.train > 1.5 * grouped.train  # the longest of 16 random texts
    assert grouped.mean_text <= grouped.evaluation < 1.2 * grouped.mean_text  # sorted: nearly no padding


def test_padded_lengths_are_cut_where_tokenizing_cuts_and_default_to_max_length():
    cut = train_plan.padded_lengths([10 * v for v in GRID], 500, 32, batch_size=16, grouped=True, seed=42)
    assert cut.train <= 32 and cut.evaluation <= 32
    assert train_plan.padded_lengths([], 500, 48, batch_size=16, grouped=True, seed=42).train == 48


def test_padded_lengths_count_the_buckets_a_device_pads_to():
    # A CPU pads each batch's longest row up to its buckets: the probe times, and the estimate counts, that length.
    own = train_plan.padded_lengths(GRID, 2_000, 64, batch_size=16, grouped=True, seed=42)
    bucketed = train_plan.padded_lengths(GRID, 2_000, 64, batch_size=16, grouped=True, seed=42,
                                         buckets=padding_buckets("cpu", 64))
    assert own.train <= bucketed.train <= own.train + 7
    assert own.evaluation < bucketed.evaluation <= own.evaluation + 7
    assert bucketed.mean_text == own.mean_text  # the simple model reads the words, not the padding


def test_planned_run_times_the_probe_at_the_padded_training_length():
    plan = plan_for("balanced")
    assert train_estimate.PlannedRun(plan).batch_length == plan.padded.train


# --- the probe ------------------------------------------------------------------------------------------------


def test_a_probe_timed_at_a_nearby_length_is_reused_scaled_and_a_far_one_measures_again(monkeypatch):
    measured = []

    def fake_measure(shape, seq_len):
        measured.append(seq_len)
        return train_plan.SpeedProbe(layers=6, batch_size=shape.batch_size, train_step=seq_len / 10,
                                     forward_batch=seq_len / 100, seq_len=seq_len)

    monkeypatch.setattr(step_timer, "_measure", fake_measure)
    monkeypatch.setattr(step_timer, "_PROBES", {})
    config = config_from_preset("balanced", data="data.csv", batch_size=16, model="bundled-minilm")
    first = step_timer.speed_probe(config, seq_len=16, device="cpu", bf16=False)
    near = step_timer.speed_probe(config, seq_len=15, device="cpu", bf16=False)
    assert measured == [16] and near.seq_len == 15
    assert near.train_step == pytest.approx(first.train_step * 15 / 16)
    step_timer.speed_probe(config, seq_len=40, device="cpu", bf16=False)
    step_timer.speed_probe(config.model_copy(update={"pooling": "cls"}), seq_len=16, device="cpu", bf16=False)
    assert measured == [16, 40, 16]  # another length, another pooling: measured again


def test_an_even_load_is_told_by_the_share_of_the_cores_the_probe_got():
    """At load 4-6 on 2 cores every round can be slow alike (spread 1.1-1.3): only the CPU time the probe's threads
    got (a quarter to 0.4 of what they asked for, against 0.83 in a quiet moment) says the machine was busy."""
    import torch

    threads = torch.get_num_threads()
    assert step_timer._cpu_share(0.3 * threads, 1.0, "cpu") == pytest.approx(0.3)
    assert step_timer._cpu_share(0.1, 1.0, "cuda") == 1.0  # a GPU's host threads wait for it: no measure there
    shaped = dict(layers=6, batch_size=16, train_step=0.5, forward_batch=0.16, slowdown=1.1)
    assert train_plan.SpeedProbe(**shaped, cpu_share=0.3).measured_while_busy
    assert not train_plan.SpeedProbe(**shaped, cpu_share=0.83).measured_while_busy


def test_a_probe_that_met_other_programs_load_is_measured_again_next_time(monkeypatch):
    """Kept, a probe timed while the machine was busy would have stood for this computer for the app's life."""
    slowdowns = iter([3.0, 1.1])
    measured = []

    def fake_measure(shape, seq_len):
        measured.append(seq_len)
        return train_plan.SpeedProbe(layers=6, batch_size=16, train_step=0.5, forward_batch=0.16, seq_len=seq_len,
                                     slowdown=next(slowdowns))

    monkeypatch.setattr(step_timer, "_measure", fake_measure)
    monkeypatch.setattr(step_timer, "_PROBES", {})
    config = config_from_preset("balanced", data="data.csv", batch_size=16, model="bundled-minilm")
    assert step_timer.speed_probe(config, seq_len=16, device="cpu", bf16=False).measured_while_busy
    assert not step_timer.speed_probe(config, seq_len=16, device="cpu", bf16=False).measured_while_busy
    step_timer.speed_probe(config, seq_len=16, device="cpu", bf16=False)
    assert measured == [16, 16]  # busy: measured again; quiet: kept


def test_the_probe_builds_the_model_as_the_run_does():
    from transformers import BertConfig

    arch = BertConfig(vocab_size=300, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64, num_labels=2)
    mean = step_timer._ProbeNet(arch, 2, 2, 8, "fp32", "cpu", "mean").net
    cls = step_timer._ProbeNet(arch, 2, 2, 8, "fp32", "cpu", None).net
    # Mean pooling reads every token: the last layer is computed in full ([CLS] pooling skips most of it).
    assert "forward" not in vars(mean.base_model.encoder.layer[-1])
    assert "forward" in vars(cls.base_model.encoder.layer[-1])
    assert mean.config._attn_implementation == "eager"  # as the run trains on a CPU
    assert not mean.base_model.embeddings.word_embeddings.weight.requires_grad  # timed apart


# --- what a run took, phase by phase ----------------------------------------------------------------------


def _started(time: float) -> Started:
    return Started(run_dir="r", model="m", device="cpu", precision="fp32", total_steps=2, steps_per_epoch=2,
                   epochs=1, train_rows=10, val_rows=2, test_rows=2, label_names=["a", "b"], time=time)


def _step(n: int, time: float) -> Step:
    return Step(step=n, total_steps=2, epoch=n / 2, loss=0.5, lr=1e-5, grad_norm=1.0, samples_per_second=1,
                tokens_per_second=1, elapsed=1, eta=1, time=time)


def test_phase_times_give_each_interval_to_the_phase_its_closing_event_ends():
    events = [
        Working(phase=TOKENIZING_PHASE, done=0, total=0, time=101.0),  # reading: 1 s
        _started(103.0),  # tokenizing: 2 s
        SimpleModelScored(accuracy=0.5, macro_f1=0.5, seconds=0.5, train_rows=10, val_rows=2, time=103.5),
        Working(phase=FEATURES_PHASE, done=0, total=12, time=103.6),  # glue, counted with the simple model
        Working(phase=FEATURES_PHASE, done=12, total=12, time=106.6),  # features: 3 s
        _step(1, 107.0), _step(2, 107.5),  # steps: 0.4 + 0.5 s
        Working(phase=VALIDATION_PHASE, done=0, total=2, time=107.5),
        Working(phase=VALIDATION_PHASE, done=2, total=2, time=108.5),
        Evaluated(step=2, epoch=1.0, val_loss=0.5, accuracy=0.5, macro_f1=0.5, is_best=True, elapsed=1, time=108.7),
        Working(phase=scoring_phase("test"), done=0, total=2, time=108.8),  # glue after the check: validation
        Working(phase=scoring_phase("test"), done=2, total=2, time=110.8),
        Working(phase=SAVING_PHASE, done=0, total=0, time=111.0),
    ]
    times = phase_times(events, start=100.0, end=112.5)
    assert times.reading == pytest.approx(1.0) and times.tokenizing == pytest.approx(2.0)
    assert times.simple_model == pytest.approx(0.6) and times.features == pytest.approx(3.0)
    assert times.steps == pytest.approx(0.9) and times.step_count == 2
    assert times.seconds_per_step == pytest.approx(0.45)
    assert times.validation == pytest.approx(1.3) and times.final_scoring == pytest.approx(2.2)
    assert times.saving == pytest.approx(1.5)
    assert times.total_seconds == pytest.approx(12.5)


def test_the_probe_scales_the_forward_pass_by_layers_and_a_step_by_its_ratio_to_a_forward(six_layer_bert_dir,
                                                                                          monkeypatch):
    # (1-layer step, 1-layer forward, 2-layer forward), as if timed
    monkeypatch.setattr(step_timer, "_interleaved", lambda works, device: step_timer.Timings([0.3, 0.1, 0.15], 1.0))
    shape = step_timer.ProbeShape(str(six_layer_bert_dir), 4, "fp32", "cpu", "mean")
    probe = step_timer._measure(shape, 16)
    assert probe.layers == 6 and probe.seq_len == 16
    assert probe.forward_batch == pytest.approx(0.05 + 6 * 0.05)  # the fixed part + 6 layers of 0.05 s
    assert probe.train_step == pytest.approx(probe.forward_batch * 3)  # a step is 3 forward passes here
    assert probe.embedding_update > 0 and probe.weights_copy > 0 and probe.weights_save > 0 and probe.model_build > 0


def test_one_layer_stays_between_a_quarter_and_a_half_of_the_two_layer_time():
    assert step_timer._scaled(1.0, 1.5, 6) == pytest.approx(0.5 + 6 * 0.5)  # a plausible difference is kept
    # A busy machine once timed the 2-layer forward at 20x the 1-layer one: a layer is then at most half of it.
    assert step_timer._scaled(0.05, 1.0, 6) == pytest.approx(6 * 0.5)
    assert step_timer._scaled(0.99, 1.0, 6) == pytest.approx(0.5 + 6 * 0.25)  # and at least a quarter


def test_each_timing_repeats_short_work_until_it_is_long_enough_to_time(monkeypatch):
    calls = []
    clock = iter(range(10_000))
    monkeypatch.setattr(step_timer.time, "perf_counter", lambda: next(clock) * 0.01)  # 10 ms per reading
    timed = step_timer._interleaved([lambda: calls.append(1)], "cpu")
    assert timed.per_call[0] < 0.01  # seconds per call: the timing covered several calls
    assert len(calls) > step_timer.WARMUP_STEPS + step_timer.TIMED_STEPS


def test_the_probe_keeps_its_quietest_round_and_says_how_busy_the_others_were(monkeypatch):
    """A German file's 40 steps were estimated at 1.68 s each and trained at 0.3 s: the probe kept the middle of
    timings taken while other programs were busy. Each round times the works in turns; the round that took least
    time is kept whole (its works shared one moment's load, so their ratio holds), and the others' slowdown is
    reported."""
    rounds = iter([[0.8, 0.06, 0.31], [0.9, 0.04, 0.69], [0.33, 0.04, 0.17], [0.7, 0.1, 0.3], [0.5, 0.05, 0.2]])
    timings = {}

    def timed(work, device, repeats=1):  # the calibration call first, then each round's three works
        if work not in timings:
            timings[work] = None
            return 1.0  # one call per timing
        if not timings.get("round"):
            timings["round"] = list(next(rounds))
        return timings["round"].pop(0)

    monkeypatch.setattr(step_timer, "_timed", timed)
    found = step_timer._interleaved([lambda: None, lambda: None, lambda: None], "cpu")
    assert found.per_call == [0.33, 0.04, 0.17]  # the quietest round, not the middle of each work (0.7, 0.05, 0.3)
    assert found.slowdown == pytest.approx(1.1 / 0.54)  # the middle round (0.7 + 0.1 + 0.3 s) over the quietest
    busy = train_plan.SpeedProbe(layers=6, batch_size=16, train_step=0.5, forward_batch=0.16, slowdown=found.slowdown)
    assert busy.measured_while_busy and train_estimate.estimate_time(plan_for(), busy).measured_while_busy
    assert not estimate_of(plan_for()).measured_while_busy  # PROBE: rounds that agreed
