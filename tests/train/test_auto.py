import pytest

from bertstudio.config import TrainConfig
from bertstudio.train.auto import (
    DataStats,
    Hardware,
    ModelShape,
    choose_class_weighting,
    choose_epochs,
    choose_eval_every,
    choose_freeze_layers,
    resolve,
)

MINILM = ModelShape(hidden=384, layers=6, ffn=1536)


def stats(rows=1000, classes=4, imbalance=1.0, p95=40, suggested=64):
    per = rows // classes
    counts = {f"c{i}": per for i in range(classes)}
    counts["c0"] = int(per * imbalance)
    return DataStats(train_rows=rows, class_counts=counts, suggested_max_length=suggested, length_p95=p95)


def test_every_auto_field_gets_a_value_and_a_reason():
    result = resolve(TrainConfig(), stats(), Hardware("cpu", bf16=True), model=MINILM)
    cfg = result.config
    for name in ("max_length", "batch_size", "epochs", "lr", "head_lr", "eval_every", "freeze_layers"):
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
    many = resolve(TrainConfig(), stats(classes=28, rows=8_400), Hardware(), model=MINILM)
    assert many.config.head_lr == 10 * many.config.lr == 1e-3
    assert "28 classes with about 300 rows each" in next(d.reason for d in many.decisions if d.field == "head_lr")
    few = resolve(TrainConfig(), stats(classes=2), Hardware(), model=MINILM).config
    assert few.head_lr == few.lr
    head_only = resolve(TrainConfig(freeze_encoder=True), stats(classes=2), Hardware(), model=MINILM).config
    assert head_only.head_lr == 10 * head_only.lr  # nothing pre-trained to disturb: the head learns fast


@pytest.mark.parametrize("rows,expected", [(800, 16), (4_999, 16), (5_000, 32), (60_000, 32)])
def test_small_data_gets_smaller_batches(rows, expected):
    from bertstudio.train.auto import choose_batch_size

    assert choose_batch_size(stats(rows=rows), Hardware()).value == expected


def test_several_processes_are_said_where_the_batch_is_explained():
    """Tester: on 2 processes the reason said "batches of 16 give twice as many updates as batches of 32" while
    every update averaged 32 texts, and nothing said there were 2 processes."""
    two = resolve(TrainConfig(grad_accum=1), stats(rows=240, classes=2), Hardware("cpu", processes=2), model=MINILM)
    reasons = {d.field: d.reason for d in two.decisions}
    assert reasons["batch_size"] == ("With 240 training rows, batches of 16 per process give the model twice as many "
                                     "updates per pass over the data as batches of 32 per process.")
    assert reasons["processes"] == ("2 processes train together: each takes batches of 16, so every update averages "
                                    "32 texts (16 x 2 processes).")
    chosen = resolve(TrainConfig(batch_size=8, grad_accum=2), stats(), Hardware("cpu", processes=4), model=MINILM)
    assert next(d.value for d in chosen.decisions if d.field == "processes") == 4
    assert "every update averages 64 texts (8 x 4 processes x 2 accumulated)" in \
        next(d.reason for d in chosen.decisions if d.field == "processes")
    one = resolve(TrainConfig(), stats(rows=240, classes=2), Hardware("cpu"), model=MINILM)
    assert "processes" not in {d.field for d in one.decisions}
    assert "per process" not in next(d.reason for d in one.decisions if d.field == "batch_size")


def test_imbalance_turns_on_class_weights():
    assert choose_class_weighting(stats(imbalance=5)).value == "balanced"
    assert choose_class_weighting(stats(imbalance=1.2)).value == "none"


@pytest.mark.parametrize("rows,expected", [(300, 10), (3000, 4), (10_000, 4), (30_000, 2), (70_000, 1)])
def test_fewer_epochs_for_more_data(rows, expected):
    assert choose_epochs(stats(rows=rows)).value == expected


def test_the_passes_reason_names_a_step_limit():
    """--max-steps 2 read '320 training rows: up to 10 passes over the data' with no word of the limit."""
    assert "maximum of 2 steps ends training sooner" in choose_epochs(stats(rows=320), max_steps=2).reason
    assert "maximum" not in choose_epochs(stats(rows=320)).reason


def test_long_epochs_are_evaluated_several_times():
    assert choose_eval_every(stats(rows=100_000), 32, 1).value == 782
    assert choose_eval_every(stats(rows=1000), 32, 1).value == 32


def test_no_bf16_means_fp32():
    assert resolve(TrainConfig(), stats(), Hardware("cpu", bf16=False)).config.precision == "fp32"


@pytest.mark.parametrize("bf16,expected", [(False, "fp32"), (True, "bf16")])
def test_fp16_on_a_cpu_becomes_what_runs_there_and_says_so(bf16, expected):
    """accelerate runs no fp16 on a CPU: the run trained in fp32 and its summary recorded fp16 beside the CPU."""
    result = resolve(TrainConfig(precision="fp16"), stats(), Hardware("cpu", bf16=bf16))
    assert result.config.precision == expected
    (said,) = [d for d in result.decisions if d.field == "precision"]
    assert said.reason.startswith("fp16 runs only on a GPU; on this CPU training uses ")
    on_a_gpu = resolve(TrainConfig(precision="fp16"), stats(), Hardware("cuda", bf16=True))
    assert on_a_gpu.config.precision == "fp16" and "precision" not in [d.field for d in on_a_gpu.decisions]


@pytest.mark.parametrize("layers,expected", [(2, 0), (5, 0), (6, 1), (12, 2), (24, 4)])
def test_the_bottom_sixth_of_the_layers_stays_fixed(layers, expected):
    decision = choose_freeze_layers(layers)
    assert decision.value == expected
    assert ("stay fixed" in decision.reason) == (expected > 0)


def test_freezing_follows_the_model_and_respects_the_user_and_head_only():
    assert resolve(TrainConfig(), stats(), Hardware(), model=MINILM).config.freeze_layers == 1
    assert resolve(TrainConfig(), stats(), Hardware(), model=ModelShape()).config.freeze_layers == 2
    assert resolve(TrainConfig(freeze_layers=0), stats(), Hardware(), model=MINILM).config.freeze_layers == 0
    head_only = resolve(TrainConfig(freeze_encoder=True), stats(), Hardware(), model=MINILM)
    assert head_only.config.freeze_layers == 0
    assert "whole pre-trained model stays fixed" in next(d.reason for d in head_only.decisions
                                                         if d.field == "freeze_layers")


def test_model_shape_reads_bert_and_distilbert_configs():
    from transformers import BertConfig, DistilBertConfig

    assert ModelShape.of(BertConfig(hidden_size=384, num_hidden_layers=6, intermediate_size=1536)) == MINILM
    assert ModelShape.of(DistilBertConfig(dim=768, n_layers=6, hidden_dim=3072)) == ModelShape(768, 6, 3072)
