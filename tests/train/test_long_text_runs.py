"""Long texts through the engine: the automatic choice and its reason, the plan's steps, and a run trained on
windows whose evaluation, prediction, serving and exports all read the same windows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bertstudio.config import config_from_preset, make_config
from bertstudio.data.long_texts import LongTexts
from bertstudio.errors import ConfigError
from bertstudio.train.auto import DataStats, Hardware, ModelShape, resolve
from bertstudio.train.long_texts import (
    choose_aggregation,
    examples_per_text,
    share_longer,
)
from bertstudio.train.plan import plan_training

MINILM = ModelShape(hidden=384, layers=6, ffn=1536)
SHORT_GRID = tuple(range(5, 106))  # 100% of texts within 105 tokens
# IMDb-like: median ~300 tokens, p95 ~870 (the shared IMDb split measured with the bundled tokenizer).
LONG_GRID = tuple(int(v) for v in np.linspace(40, 1400, 101) ** 1.0)


def stats(grid, *, pair=False, rows=12_000):
    return DataStats(train_rows=rows, class_counts={"neg": rows // 2, "pos": rows // 2},
                     suggested_max_length=512 if grid[95] > 384 else 128, length_p95=grid[95], is_pair=pair,
                     length_grid=grid)


def fields(resolved, name):
    return [d for d in resolved.decisions if d.field == name]


def test_short_texts_keep_todays_settings_and_reasons_exactly():
    before = resolve(make_config(long_texts="head"), stats(SHORT_GRID), Hardware("cpu"), model=MINILM)
    after = resolve(make_config(), stats(SHORT_GRID), Hardware("cpu"), model=MINILM)
    assert after.config.long_texts == "head" and after.decisions == before.decisions
    assert after.config.model_copy(update={"long_texts": "head"}) == before.config


def test_long_reviews_on_a_cpu_keep_head_and_tail_at_256_tokens_and_say_why():
    resolved = resolve(make_config(), stats(LONG_GRID), Hardware("cpu"), model=MINILM)
    cfg = resolved.config
    assert (cfg.max_length, cfg.long_texts) == (256, "head_tail")
    [length] = fields(resolved, "max_length")
    assert "on this CPU reading 512 tokens of each would take about" in length.reason
    [kept] = fields(resolved, "long_texts")
    share = share_longer(LONG_GRID, 256)
    assert kept.reason.startswith(f"{share:.0%} of your texts are longer than 256 tokens; keeping the first 64 and "
                                  "last 190 tokens")
    assert "windows would take about" in kept.reason


def test_on_a_gpu_the_maximum_length_stays_and_windows_are_chosen_when_affordable():
    few_long = tuple(sorted([100] * 80 + [700] * 21))  # 20% of texts ~700 tokens
    resolved = resolve(make_config(), stats(few_long), Hardware("cuda", bf16=True), model=MINILM)
    assert resolved.config.max_length == 512 and resolved.config.long_texts == "windows"
    reason = fields(resolved, "long_texts")[0].reason
    assert "each is read in up to 8 overlapping windows" in reason and "No part of any text is lost" in reason
    assert not fields(resolved, "max_windows")  # 700 tokens: read whole by 8 windows of 512


def test_texts_longer_than_the_windows_read_are_counted_in_the_plan_with_what_to_change():
    """Tester: with 8 windows of 64 tokens a 10,000-token text is about 5% read, where the plan said windows miss
    nothing; chosen by the engine or by the person, the plan says how many texts are read only in part."""
    grid = tuple(sorted([40] * 90 + [600] * 10 + [10_000]))  # a few long texts, one of 10,000 tokens
    chosen = resolve(make_config(), stats(grid, rows=112), Hardware("cuda", bf16=True), model=MINILM)
    mine = resolve(make_config(max_length=64, long_texts="windows"), stats(grid, rows=112), Hardware("cpu"),
                   model=MINILM)
    for resolved in (chosen, mine):
        assert resolved.config.long_texts == "windows"
        [note] = fields(resolved, "max_windows")
        assert " of 112 (" in note.reason and "read only in part" in note.reason and "--max-windows" in note.reason
        assert "No part of any text is lost" not in " ".join(d.reason for d in resolved.decisions)
    assert "About 12 texts of 112 (11%) are longer than the 498 tokens" in fields(mine, "max_windows")[0].reason
    short = resolve(make_config(max_length=64, long_texts="windows"), stats(tuple([40] * 101)), Hardware("cpu"),
                    model=MINILM)
    assert not fields(short, "max_windows")


def test_a_set_maximum_length_is_never_lowered():
    resolved = resolve(make_config(max_length=512), stats(LONG_GRID), Hardware("cpu"), model=MINILM)
    assert resolved.config.max_length == 512 and resolved.config.long_texts == "head_tail"


def test_pairs_keep_the_head_with_a_reason_and_refuse_windows():
    resolved = resolve(make_config(), stats(LONG_GRID, pair=True), Hardware("cpu"), model=MINILM)
    assert resolved.config.long_texts == "head" and "text pairs" in fields(resolved, "long_texts")[0].reason
    with pytest.raises(ConfigError, match="cannot be used with text pairs"):
        resolve(make_config(long_texts="windows"), stats(LONG_GRID, pair=True), Hardware("cpu"), model=MINILM)


def test_a_stride_checked_once_the_maximum_length_is_known():
    with pytest.raises(ConfigError, match="not below the maximum length"):
        resolve(make_config(long_texts="windows", window_stride=300), stats(SHORT_GRID), Hardware("cpu"),
                model=MINILM)  # the data asks for 128 tokens


def test_the_plan_counts_every_window_as_a_training_example():
    common = dict(length_p95=LONG_GRID[95], model=MINILM, hardware=Hardware("cpu"), length_grid=LONG_GRID)
    cut = plan_training(make_config(max_length=256, long_texts="head", batch_size=32, epochs=1), 10_000,
                        {"a": 5_000, "b": 5_000}, **common)
    windows = plan_training(make_config(max_length=256, long_texts="windows", batch_size=32, epochs=1), 10_000,
                            {"a": 5_000, "b": 5_000}, **common)
    factor = examples_per_text(LONG_GRID, LongTexts("windows", 256))
    assert factor > 2 and windows.steps_per_epoch == pytest.approx(cut.steps_per_epoch * factor, rel=0.01)


def test_aggregation_is_chosen_on_validation():
    import datasets

    val = datasets.Dataset.from_dict({"text_row": [0, 0, 1, 1, 1], "label": [0, 0, 1, 1, 1]})
    # Text 1 (class 1) has one window that says so clearly, two that mildly say 0: only max gets it right.
    logits = np.array([[5.0, 0.0], [0.0, 1.0], [2.0, 0.0], [2.0, 0.0], [0.0, 3.0]])
    def accuracy(labels, scores):
        return float((scores.argmax(1) == labels).mean())

    choice = choose_aggregation(make_config(long_texts="windows"), logits, val, accuracy)
    assert choice.value == "max" and "mean 0.500, max 1.000" in choice.reason
    assert choose_aggregation(make_config(long_texts="windows", window_aggregation="mean"), logits, val,
                              accuracy) is None


# --------------------------------------------------------------------------- a run on windows, end to end


def write_long_csv(path, rows_per_class=24):
    """Three classes told apart by one word that sits at the END of long texts (a head cut never sees it)."""
    words = {"billing": "invoice", "delivery": "courier", "praise": "wonderful"}
    rows = []
    for i in range(rows_per_class):
        for label, word in words.items():
            filler = " ".join(f"the weather was plain on day {i + k}" for k in range(1 + i % 5))
            rows.append({"text": f"{filler} {word} {word}", "label": label})
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def windows_run(tmp_path_factory, tiny_bert_dir):
    from bertstudio.train.pipeline import train

    root = tmp_path_factory.mktemp("long-run")
    cfg = config_from_preset(data=str(write_long_csv(root / "long.csv")), model=str(tiny_bert_dir), max_length=16,
                             long_texts="windows", window_stride=7, epochs=2, output_dir=str(root / "run"),
                             simple_model=False, seed=3)
    return train(cfg), root / "run"


def test_a_windows_run_records_its_windows_and_predicts_what_it_evaluated(windows_run):
    from bertstudio.predict.predictor import load_predictor

    summary, run = windows_run
    prep = json.loads((run / "model" / "preprocessing.json").read_text())
    assert prep["long_texts"] == "windows" and prep["window_stride"] == 7 and prep["max_windows"] == 8
    assert prep["window_aggregation"] in ("mean", "max")
    decisions = json.loads((run / "config.json").read_text())["decisions"]
    assert any(d["field"] == "window_aggregation" for d in decisions)
    evaluated = pd.read_csv(run / "test_predictions.csv")
    assert len(evaluated) == summary.metrics["rows"]  # one row per text, not per window
    predictor = load_predictor(run)
    predicted = predictor.predict(evaluated["text"].tolist())
    assert predicted.labels == evaluated["predicted"].tolist()
    np.testing.assert_allclose(predicted.confidences, evaluated["confidence"], atol=1e-4)
    assert "windows of 16 tokens, 7 tokens apart" in predictor.describe()


def test_evaluating_the_run_again_reads_the_same_windows(windows_run):
    from bertstudio.evaluation.run import evaluate_run

    summary, run = windows_run
    report = evaluate_run(run)
    assert report.metrics["accuracy"] == pytest.approx(summary.accuracy)
    assert report.metrics["macro_f1"] == pytest.approx(summary.macro_f1)


def test_every_export_and_the_server_read_the_windows_the_run_trained_on(windows_run):
    from fastapi.testclient import TestClient

    from bertstudio.export.core import export_run
    from bertstudio.predict.predictor import load_predictor
    from bertstudio.predict.serve import create_app

    _, run = windows_run
    texts = pd.read_csv(run / "test_predictions.csv")["text"].tolist()
    reference = load_predictor(run, backend="torch")  # fp32, as the exports are
    expected = reference.logits(texts)
    results = {r.format: r for r in export_run(run, "all")}
    for fmt in ("onnx", "onnx-int8", "torchscript"):
        assert results[fmt].parity.rows == len(texts)
        exported = load_predictor(results[fmt].folder)
        assert json.loads((results[fmt].folder / "preprocessing.json").read_text())["long_texts"] == "windows"
        got = exported.logits(texts)
        assert got.shape == expected.shape
        if fmt != "onnx-int8":
            np.testing.assert_allclose(got, expected, atol=1e-4)
            assert results[fmt].parity.label_agreement == 1.0
    card = (results["hf"].folder / "README.md").read_text()
    assert "long texts are read in up to 8 overlapping windows of 16 tokens" in card
    assert "transformers.pipeline (and the snippets above) cannot" in card
    client = TestClient(create_app(reference))
    body = client.post("/predict", json={"texts": texts[:3]}).json()
    assert [p["label"] for p in body["predictions"]] == reference.predict(texts[:3]).labels
    assert client.get("/info").json()["long_texts"] == "windows"


def test_class_weights_under_windows_count_texts_not_windows(tmp_path, tiny_bert_dir):
    """A class of long texts read in windows has many rows per text: counted by rows it would look common and
    weigh less than its share of the texts (the share the automatic choice of weighting counted)."""
    from datasets import Dataset
    from helpers import write_long_text_csv
    from transformers import AutoTokenizer

    from bertstudio.data.long_texts import tokenize_long_split
    from bertstudio.train.model_setup import class_weights, training_class_weights

    table = pd.read_csv(write_long_text_csv(tmp_path / "long.csv", long_labels=("good",)))
    table = pd.concat([table[table.label == "good"].head(15), table[table.label == "bad"]])  # 15 long, 30 short
    texts = Dataset.from_dict({"text": table.text.tolist(), "label": (table.label == "good").astype(int).tolist()})
    windowed = tokenize_long_split(texts, AutoTokenizer.from_pretrained(tiny_bert_dir), LongTexts("windows", 64))
    window_labels = np.asarray(windowed["label"])
    assert (window_labels == 1).sum() > 3 * 15 and (window_labels == 0).sum() < 2 * 30  # long texts: many windows

    weights = training_class_weights(windowed, 2, "balanced")
    assert weights.tolist() == pytest.approx([45 / (2 * 30), 45 / (2 * 15)])  # bad 0.75, good (the rare class) 1.5
    by_windows = class_weights(window_labels, 2, "balanced")
    assert by_windows[1] < 1 < by_windows[0]  # what counting windows did: the rare long class under-weighted
    assert training_class_weights(windowed, 2, "none") is None
