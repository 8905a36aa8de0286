import json
import math

from bertstudio.config import config_from_preset
from bertstudio.events import Started, Tuning, Working
from bertstudio.runs import CONFIG_FILE, SUMMARY_FILE
from bertstudio.train.job import TrainingJob
from bertstudio.train.tuning import (
    MAX_EXTRA_SHARE,
    MAX_PROBE_STEPS,
    MIN_PROBE_STEPS,
    PROBE_SHARE,
    ProbeResult,
    candidate_lrs,
    choose,
    plan_probe,
    probe_config,
    probe_learning_rates,
)


def cfg(**extra):
    return config_from_preset(**{"lr": 1e-4, "head_lr": 1e-3, "epochs": 3, "batch_size": 16, **extra})


def test_candidates_surround_the_rule_rate():
    assert candidate_lrs(1e-4) == (5e-5, 1e-4, 2e-4)


def test_probe_budget_is_a_bounded_share_of_the_planned_steps():
    for planned in (200, 1_000, 10_000, 100_000):
        plan = plan_probe(cfg(), planned)
        assert plan.skip_reason is None and plan.steps >= MIN_PROBE_STEPS
        assert plan.steps * len(plan.candidates) <= PROBE_SHARE * planned < MAX_EXTRA_SHARE * planned
        assert plan.steps <= MAX_PROBE_STEPS


def test_too_short_a_run_skips_the_probe_and_says_why():
    plan = plan_probe(cfg(), 40)
    assert plan.steps == 0 and "too short" in plan.skip_reason and "1e-05" not in plan.skip_reason


def test_choose_lowest_finite_loss_and_ties_go_to_the_rule_rate():
    results = [ProbeResult(5e-5, 5e-4, 0.50, 0.6), ProbeResult(1e-4, 1e-3, 0.40, 0.7),
               ProbeResult(2e-4, 2e-3, math.nan, 0.1)]
    assert choose(results, 1e-4).lr == 1e-4
    tied = [ProbeResult(5e-5, 5e-4, 0.40, 0.6), ProbeResult(1e-4, 1e-3, 0.40, 0.6)]
    assert choose(tied, 1e-4).lr == 1e-4
    diverged = [ProbeResult(5e-5, 5e-4, math.inf, 0.0), ProbeResult(2e-4, 2e-3, math.nan, 0.0)]
    assert choose(diverged, 1e-4).lr == 5e-5  # nothing finite: stay near the rule


def test_probe_config_keeps_the_head_ratio_and_scores_once_by_loss():
    probe = probe_config(cfg(), 2e-4, 12)
    assert probe.lr == 2e-4 and probe.head_lr == 2e-3
    assert probe.max_steps == 12 and probe.eval_every == 12
    assert probe.early_stopping_patience == 0 and probe.metric_for_best == "val_loss"


def test_probe_learning_rates_picks_the_best_and_explains_it():
    losses = {5e-5: 0.9, 1e-4: 0.7, 2e-4: 0.5}
    seen = []
    plan = plan_probe(cfg(), 600)
    tuned, decision = probe_learning_rates(cfg(), plan, lambda c: {"loss": losses[c.lr], "macro_f1": 0.5},
                                           on_candidate=lambda i, lr: seen.append((i, lr)))
    assert seen == [(0, 5e-5), (1, 1e-4), (2, 2e-4)]
    assert tuned.lr == 2e-4 and tuned.head_lr == 2e-3 and tuned.epochs == 3 and tuned.max_steps is None
    assert decision.field == "lr" and decision.value == 2e-4
    assert "Tune for me" in decision.reason and f"{plan.steps} steps each" in decision.reason


def test_tune_for_me_runs_before_training_and_is_recorded(small_csv, tmp_path, tiny_bert_dir, monkeypatch):
    import bertstudio.train.tuning

    monkeypatch.setattr(bertstudio.train.tuning, "PROBE_VAL_ROWS", 5)  # a subset of validation, as with real data
    config = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(tmp_path / "run"),
                                max_length=32, batch_size=2, epochs=12, precision="fp32", tune=True)
    job = TrainingJob(config).start()
    assert job.wait(180), "training did not finish in time"
    kinds = [type(e) for e in job.history if not isinstance(e, Working)]  # the phases' progress, in between
    tuning = [e for e in job.history if isinstance(e, Tuning)]
    assert [t.index for t in tuning] == [1, 2, 3] and kinds.index(Started) == 3, "probe first, then training"
    saved = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    assert saved["tune"] is True and saved["lr"] in {t.lr for t in tuning}
    reasons = [d["reason"] for d in saved["decisions"] if d["field"] == "lr"]
    assert any("Tune for me" in r for r in reasons)
    started = next(e for e in job.history if isinstance(e, Started))
    assert any("Tune for me" in d["reason"] for d in started.decisions)
    summary = json.loads((tmp_path / "run" / SUMMARY_FILE).read_text())
    assert summary["tune_seconds"] > 0
