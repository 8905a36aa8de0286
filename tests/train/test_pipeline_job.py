import json
import threading

import pytest

from bertstudio.config import config_from_preset
from bertstudio.events import Cancelled, Evaluated, Failed, Finished, Started, Step, Working
from bertstudio.results import Preprocessing, Summary
from bertstudio.runs import CONFIG_FILE, MODEL_DIR, RunFolder, read_metrics
from bertstudio.train import pipeline
from bertstudio.train.job import TrainingJob


def tiny_config(data, model_dir, out, **extra):
    settings = dict(data=str(data), model=str(model_dir), output_dir=str(out), max_length=32, batch_size=8,
                    epochs=2, precision="fp32")
    return config_from_preset(**{**settings, **extra})


def run_job(cfg, timeout=120):
    job = TrainingJob(cfg).start()
    assert job.wait(timeout), "training did not finish in time"
    return job


@pytest.mark.parametrize("model_fixture", ["tiny_bert_dir", "tiny_distilbert_dir"])
def test_job_emits_typed_events_and_writes_a_complete_run(request, small_csv, tmp_path, model_fixture):
    model_dir = request.getfixturevalue(model_fixture)
    job = run_job(tiny_config(small_csv, model_dir, tmp_path / "run"))
    kinds = [type(e) for e in job.history if not isinstance(e, Working)]  # progress of the phases, in between
    assert kinds[0] is Started and kinds[-1] is Finished, job.history[-1]
    assert Step in kinds and Evaluated in kinds
    steps = [e for e in job.history if isinstance(e, Step)]
    assert [s.step for s in steps] == list(range(1, len(steps) + 1))
    assert all(s.lr > 0 and s.loss > 0 and s.tokens_per_second > 0 for s in steps)
    run = RunFolder(tmp_path / "run")
    assert run.is_complete
    summary = Summary.read(run.summary)
    assert summary == job.summary == job.history[-1].summary, "returned, announced and saved: the same summary"
    assert summary.run_dir == str(run.path) and summary.train_seconds > 0 and summary.best_epoch > 0
    assert summary.tokens_per_second > 0
    assert summary.calibration.temperature > 0 and run.eval.exists()
    prep = Preprocessing.read(run.preprocessing)
    assert prep.temperature == summary.calibration.temperature  # later predictions use it
    config = json.loads(run.config.read_text())
    assert config["max_length"] == 32 and config["decisions"], "auto decisions are recorded with reasons"
    logged = list(read_metrics(run.path))
    events = [r["event"] for r in logged]
    assert events[0] == "started" and events[-1] == "finished" and "step" in events
    # Progress ticks (one per validation or scoring batch) reach the job's queue, never the run's record.
    assert any(isinstance(e, Working) for e in job.history) and "working" not in events
    assert logged[-1]["summary"]["macro_f1"] == summary.macro_f1 and "metrics" not in logged[-1]["summary"]


def test_by_default_the_bottom_layer_of_a_six_layer_model_and_the_embeddings_stay_fixed(small_csv, tmp_path,
                                                                                       six_layer_bert_dir):
    from safetensors.torch import load_file

    run_job(tiny_config(small_csv, six_layer_bert_dir, tmp_path / "run", epochs=1))
    config = json.loads((tmp_path / "run" / CONFIG_FILE).read_text())
    assert config["freeze_layers"] == 1
    assert any(d["field"] == "freeze_layers" and "stay fixed" in d["reason"] for d in config["decisions"])
    before = load_file(six_layer_bert_dir / "model.safetensors")
    after = load_file(tmp_path / "run" / MODEL_DIR / "model.safetensors")

    def same(name: str) -> bool:
        return bool((before[name] == after[f"bert.{name}"]).all())

    assert same("encoder.layer.0.intermediate.dense.weight") and same("embeddings.position_embeddings.weight")
    assert not same("encoder.layer.1.intermediate.dense.weight")


def test_saved_model_reloads_and_predicts_the_same(small_csv, tmp_path, tiny_bert_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    job = run_job(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run"))
    model_dir = tmp_path / "run" / MODEL_DIR
    prep = json.loads((model_dir / "preprocessing.json").read_text())
    assert prep["max_length"] == 32 and prep["label_names"] == ["billing", "delivery", "praise"]
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tok = AutoTokenizer.from_pretrained(model_dir)
    assert model.config.id2label == {0: "billing", 1: "delivery", 2: "praise"}
    with torch.no_grad():
        logits = model(**tok(["refund invoice"], return_tensors="pt")).logits
    assert logits.shape == (1, 3)
    assert job.summary["label_names"] == prep["label_names"]


def test_stop_is_cooperative_and_ends_in_cancelled(small_csv, tmp_path, tiny_bert_dir):
    first_step = threading.Event()

    def on_event(event):
        if isinstance(event, Step):
            first_step.set()

    # No validation check before the stop can land (a stop after one keeps the best model: test_runs_you_keep).
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=50, early_stopping_patience=0,
                      eval_every=10_000)
    job = TrainingJob(cfg, on_event=on_event).start()
    assert first_step.wait(60)
    job.stop()
    assert job.wait(30)
    assert isinstance(job.outcome, Cancelled)
    steps = [e.step for e in job.history if isinstance(e, Step)]
    assert steps[-1] < 300, "stopped long before the 50 epochs"
    assert not RunFolder(tmp_path / "run").is_complete, "a cancelled run is never marked done"
    assert [r["event"] for r in read_metrics(tmp_path / "run")][-1] == "cancelled"


def test_a_run_ended_by_early_stopping_says_so(small_csv, tmp_path, tiny_bert_dir):
    """Learning rates too small to change a prediction: macro-F1 never beats its first check, so patience 1 ends
    the run at the second check, long before its planned steps, and the summary says why."""
    cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", epochs=20, early_stopping_patience=1, eval_every=2,
                      lr=1e-12, head_lr=1e-12, metric_for_best="macro_f1", simple_model=False)
    job = run_job(cfg)
    started = next(e for e in job.history if isinstance(e, Started))
    summary = job.outcome.summary
    assert summary.early_stopping and not summary.stopped_early and summary.steps == 4 < started.total_steps
    assert "ended early because the validation score had stopped improving" in summary.ending()


def test_bad_input_becomes_a_failed_event_not_a_crash(tmp_path, tiny_bert_dir):
    job = run_job(config_from_preset(data=str(tmp_path / "missing.csv"), model=str(tiny_bert_dir)))
    assert isinstance(job.outcome, Failed)
    assert "missing.csv" in job.outcome.message and job.outcome.details is None


def test_unexpected_exception_in_the_thread_is_reported(small_csv, tmp_path, tiny_bert_dir, monkeypatch):

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(pipeline, "train_model", explode)
    job = run_job(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run"))
    assert isinstance(job.outcome, Failed)
    assert "boom" in job.outcome.message and "RuntimeError" in job.outcome.details
    assert not RunFolder(tmp_path / "run").is_complete


def test_head_only_trains_only_the_head(small_csv, tmp_path, tiny_bert_dir):
    import torch
    from safetensors.torch import load_file

    job = run_job(tiny_config(small_csv, tiny_bert_dir, tmp_path / "run", preset="head-only"))
    assert isinstance(job.outcome, Finished)
    before = load_file(str(tiny_bert_dir / "model.safetensors"))
    after = load_file(str(tmp_path / "run" / MODEL_DIR / "model.safetensors"))
    key = next(k for k in after if "encoder.layer.0.attention.self.query.weight" in k)
    assert torch.equal(after[key], before[key.removeprefix("bert.")])
    # Its steps read features computed once, not tokens: the speed in tokens is not measured (it said 0.0).
    summary = job.outcome.summary
    assert summary.tokens_per_second is None and summary.headline()["tokens_per_second"] is None
    assert summary.samples_per_second > 0


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_same_seed_same_data_gives_the_same_run(small_csv, tmp_path, tiny_bert_dir, precision):
    """The config promises it: same seed and data, same split and the same training, step for step."""
    from bertstudio.train.pipeline import load_inputs, run_training

    losses = []
    for attempt in range(2):
        cfg = tiny_config(small_csv, tiny_bert_dir, tmp_path / f"run{attempt}", precision=precision, epochs=3)
        steps = []
        run_training(load_inputs(cfg), emit=lambda e: steps.append(e.loss) if isinstance(e, Step) else None)
        losses.append(steps)
    assert losses[0] == losses[1]


def test_test_predictions_with_many_classes_are_written_whole_and_without_warnings(tmp_path):
    """300 classes printed 200 pandas "highly fragmented" warnings into the training output (one column added at a
    time); the file holds every class's probability column in order."""
    import warnings

    import datasets
    import numpy as np
    import pandas as pd

    from bertstudio.train.pipeline import write_predictions

    names = [f"class {i}" for i in range(300)]
    rows = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 299]})
    probs = np.full((2, 300), 1 / 300)
    probs[1, 299] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_predictions(tmp_path / "p.csv", rows, probs, names)
    written = pd.read_csv(tmp_path / "p.csv")
    assert list(written.columns[:6]) == ["text", "label", "predicted", "confidence", "loss", "prob_class 0"]
    assert len(written.columns) == 5 + 300 and written["predicted"].tolist() == ["class 0", "class 299"]
    assert written["prob_class 299"].tolist() == pytest.approx([1 / 300, 0.5])
