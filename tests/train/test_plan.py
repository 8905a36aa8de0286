"""The plan the Model tab shows is the run the engine does: the split's sizes, the training class counts and the
step count, for any shape of classes (a property test against a real split of a generated file)."""

from __future__ import annotations

import random

import datasets
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bertstudio.config import config_from_preset
from bertstudio.data import prepare, split
from bertstudio.train import plan as train_plan
from bertstudio.train.auto import DataStats, Hardware, ModelShape, resolve
from bertstudio.train.batching import EpochBatchSampler
from bertstudio.train.schedule import total_optimizer_steps

MODEL = ModelShape(384, 6, 1536)
SETTINGS = settings(max_examples=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BERTSTUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))


def prepared_file(counts: list[int], seed: int):
    """A checked file with ``counts[i]`` rows of class i, its rows shuffled (the split must not depend on their
    order), or None when the checks refuse it (too few rows to train on at all)."""
    texts, labels = [], []
    for cls, n in enumerate(counts):
        texts += [f"text {cls} {i}" for i in range(n)]
        labels += [f"class {cls:04d}"] * n
    order = list(range(len(texts)))
    random.Random(seed).shuffle(order)
    table = datasets.Dataset.from_dict({"text": [texts[i] for i in order], "label": [labels[i] for i in order]})
    prepared = prepare(table, text_col="text", label_col="label")
    return None if prepared.report.has_errors else prepared


def check_plan_is_the_run(prepared, seed: int = 42, **config_settings) -> train_plan.TrainingPlan:
    assert prepared is not None, "the checks refused the generated file"
    report = prepared.report
    config = config_from_preset("balanced", data="data.csv", seed=seed, **config_settings)
    plan = train_plan.plan_training(config, report.n_rows_kept, report.class_counts, length_p95=8, model=MODEL,
                                    hardware=Hardware("cpu"))
    run = split(prepared, seed=seed)
    assert (plan.train_rows, plan.val_rows, plan.test_rows) == (run.train.num_rows, run.validation.num_rows,
                                                                run.test.num_rows)
    # The settings are decided from the training part's class counts (batch size, class weights): the real ones.
    names = run.label_names
    real_counts = {name: 0 for name in names}
    for label in run.train["label"]:
        real_counts[names[label]] += 1
    resolved = resolve(config, DataStats(train_rows=run.train.num_rows, class_counts=real_counts, length_p95=8),
                       Hardware("cpu"), model=MODEL).config
    assert plan.config == resolved
    # The steps as the training loop counts them: its sampler's batches per epoch, then total_optimizer_steps.
    sampler = EpochBatchSampler(range(run.train.num_rows), resolved.batch_size, seed=seed, group_by_length=True)
    assert (plan.total_steps, plan.steps_per_epoch) == total_optimizer_steps(resolved, len(sampler))
    return plan


@pytest.mark.parametrize("counts", [
    [5] * 32,  # the tester's file: 156 rows, 32 classes of about 5 (the plan said 110 training texts; the run had 92)
    [5] * 31 + [1],
    [4, 3, 2, 1, 1, 1],  # classes of one row stay in training
    [2] * 10,
    [8, 4],  # tiny
    [600, 300, 100],
    [30] * 40 + [1] * 5,
    [20_000, 15_000, 10_000, 7_000, 3_000, 2],  # big: validation capped at 5,000 rows, test at 10,000
    [60] * 1_000,  # big, with the most classes a file may have
])
def test_the_plan_splits_and_steps_as_the_run_does(counts):
    check_plan_is_the_run(prepared_file(counts, seed=42))


def test_the_testers_file_plans_what_the_run_showed():
    plan = check_plan_is_the_run(prepared_file([5] * 28 + [4] * 4, seed=42))
    # The run said "Step 30 of 60" at epoch 5 and "On 32 test texts"; the plan had said 110, 7 per pass, 70, 23.
    assert (plan.train_rows, plan.val_rows, plan.test_rows) == (92, 32, 32)
    assert (plan.steps_per_epoch, plan.total_steps) == (6, 60)


@SETTINGS
@given(counts=st.lists(st.integers(1, 60), min_size=2, max_size=50), seed=st.integers(0, 1_000),
       batch_size=st.sampled_from([None, 8, 16, 32]))
def test_any_class_counts_plan_what_the_run_splits_and_steps(counts, seed, batch_size):
    prepared = prepared_file(counts, seed)
    assume(prepared is not None)
    check_plan_is_the_run(prepared, seed, batch_size=batch_size)


def test_the_steps_count_batches_per_process_as_the_run_shares_them():
    assert train_plan.batches_per_epoch(92, 16) == 6
    assert train_plan.batches_per_epoch(92, 16, processes=4) == 2  # 6 batches dealt to 4 processes: 2 rounds
    assert train_plan.batches_per_epoch(0, 16) == 0
