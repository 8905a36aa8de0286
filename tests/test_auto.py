import pytest

from bertstudio.auto import DataStats, Hardware, choose_class_weighting, choose_epochs, choose_eval_every, resolve
from bertstudio.config import TrainConfig


def stats(rows=1000, classes=4, imbalance=1.0, p95=40, suggested=64):
    per = rows // classes
    counts = {f"c{i}": per for i in range(classes)}
    counts["c0"] = int(per * imbalance)
    return DataStats(train_rows=rows, class_counts=counts, suggested_max_length=suggested, length_p95=p95)


def test_every_auto_field_gets_a_value_and_a_reason():
    result = resolve(TrainConfig(), stats(), Hardware("cpu", bf16=True), model_hidden=384)
    cfg = result.config
    for name in ("max_length", "batch_size", "epochs", "lr", "head_lr", "eval_every"):
        assert getattr(cfg, name) is not None
    assert cfg.precision == "bf16" and cfg.class_weighting in ("none", "balanced")
    assert len(result.decisions) >= 8
    assert all(d.reason.endswith(".") and len(d.reason) > 20 for d in result.decisions)


def test_user_values_are_never_overridden():
    cfg = TrainConfig(lr=3e-5, epochs=7, max_length=100, precision="fp32", class_weighting="none")
    result = resolve(cfg, stats(imbalance=10), Hardware("cpu", bf16=True))
    assert (result.config.lr, result.config.epochs, result.config.max_length) == (3e-5, 7, 100)
    assert result.config.precision == "fp32" and result.config.class_weighting == "none"
    assert "lr" not in {d.field for d in result.decisions}


def test_head_learns_faster_than_encoder_only_with_many_classes():
    many = resolve(TrainConfig(), stats(classes=28, rows=8_400), Hardware(), model_hidden=384)
    assert many.config.head_lr == 10 * many.config.lr == 1e-3
    assert "28 classes with about 300 rows each" in next(d.reason for d in many.decisions if d.field == "head_lr")
    few = resolve(TrainConfig(), stats(classes=2), Hardware(), model_hidden=384).config
    assert few.head_lr == few.lr
    head_only = resolve(TrainConfig(freeze_encoder=True), stats(classes=2), Hardware(), model_hidden=384).config
    assert head_only.head_lr == 10 * head_only.lr  # nothing pre-trained to disturb: the head learns fast


@pytest.mark.parametrize("rows,expected", [(800, 16), (4_999, 16), (5_000, 32), (60_000, 32)])
def test_small_data_gets_smaller_batches(rows, expected):
    from bertstudio.auto import choose_batch_size

    assert choose_batch_size(stats(rows=rows), Hardware()).value == expected


def test_imbalance_turns_on_class_weights():
    assert choose_class_weighting(stats(imbalance=5)).value == "balanced"
    assert choose_class_weighting(stats(imbalance=1.2)).value == "none"


@pytest.mark.parametrize("rows,expected", [(300, 10), (3000, 4), (10_000, 4), (30_000, 2), (70_000, 1)])
def test_fewer_epochs_for_more_data(rows, expected):
    assert choose_epochs(stats(rows=rows)).value == expected


def test_long_epochs_are_evaluated_several_times():
    assert choose_eval_every(stats(rows=100_000), 32, 1).value == 782
    assert choose_eval_every(stats(rows=1000), 32, 1).value == 32


def test_no_bf16_means_fp32():
    assert resolve(TrainConfig(), stats(), Hardware("cpu", bf16=False)).config.precision == "fp32"
