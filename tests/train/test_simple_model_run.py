"""Every run trains the simple word-count model beside it; a run whose blend wins ships the blend everywhere."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import LABELS, make_tiny_run, sample_texts

from bertstudio.config import config_from_preset
from bertstudio.events import SimpleModelScored, Started, Step
from bertstudio.export.core import export_run
from bertstudio.models.word_counts import INFO_FILE, WEIGHTS_FILE, WordCountModel
from bertstudio.predict.predictor import load_predictor
from bertstudio.results import Preprocessing, Summary
from bertstudio.runs import RunFolder
from bertstudio.train.job import TrainingJob


def test_a_run_scores_the_simple_model_before_the_first_step_and_keeps_it(small_csv, tiny_bert_dir, tmp_path):
    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(tmp_path / "run"),
                             max_length=32, batch_size=8, max_steps=6, precision="fp32")
    job = TrainingJob(cfg).start()
    assert job.wait(120)
    kinds = [type(e) for e in job.history]
    assert kinds.index(Started) < kinds.index(SimpleModelScored) < kinds.index(Step)
    scored = next(e for e in job.history if isinstance(e, SimpleModelScored))
    assert scored.macro_f1 > 0.9  # the small data set's classes are separated by their words
    run = RunFolder(tmp_path / "run")
    summary = Summary.read(run.summary)
    simple = summary.simple_model
    assert simple is not None and simple.validation_macro_f1 == pytest.approx(scored.macro_f1)
    assert simple.verdict and simple.fit_seconds >= 0
    assert WordCountModel.load(run.simple_model).label_names == summary.label_names
    blended = simple.blend.used
    assert isinstance(blended, bool)
    assert Preprocessing.read(run.preprocessing).blend_weight == (simple.blend.weight if blended else 1.0)
    assert (run.model / INFO_FILE).exists() == blended


def test_turned_off_it_leaves_no_trace(small_csv, tiny_bert_dir, tmp_path):
    cfg = config_from_preset(data=str(small_csv), model=str(tiny_bert_dir), output_dir=str(tmp_path / "run"),
                             max_length=32, batch_size=8, max_steps=2, precision="fp32", simple_model=False)
    job = TrainingJob(cfg).start()
    assert job.wait(120)
    assert not any(isinstance(e, SimpleModelScored) for e in job.history)
    run = RunFolder(tmp_path / "run")
    assert Summary.read(run.summary).simple_model is None and not run.simple_model.exists()


@pytest.fixture(scope="module")
def blended_run(tmp_path_factory):
    """A tiny run whose model folder carries a simple model blended in at 40% fine-tuned."""
    run = make_tiny_run(tmp_path_factory.mktemp("blended"))
    texts = sample_texts(60)
    WordCountModel.fit(texts, [i % 3 for i in range(60)], LABELS).save(run / "model")
    prep = Preprocessing.read(run / "model" / "preprocessing.json")
    prep.model_copy(update={"blend_weight": 0.4}).write(run / "model" / "preprocessing.json")
    return run


def test_prediction_blends_the_two_models_with_the_saved_weight(blended_run):
    predictor = load_predictor(blended_run)
    texts = sample_texts(12)
    fine = predictor.logits(texts)
    fine_probs = np.exp(fine - fine.max(axis=1, keepdims=True))
    fine_probs /= fine_probs.sum(axis=1, keepdims=True)
    simple = WordCountModel.load(blended_run / "model").probabilities(texts)
    np.testing.assert_allclose(predictor.predict(texts).probs, 0.4 * fine_probs + 0.6 * simple, atol=1e-5)
    assert "Blended with a simple word-count model (40% fine-tuned)" in predictor.describe()


def test_every_export_carries_the_blend_and_predicts_as_the_run(blended_run, tmp_path):
    results = export_run(blended_run, "all", tmp_path / "exports", max_rows=24)
    texts = sample_texts(12)
    reference = load_predictor(blended_run).predict(texts).probs
    for result in results:
        assert (result.folder / INFO_FILE).exists() and (result.folder / WEIGHTS_FILE).exists()
        assert not list(result.folder.rglob("*.pkl")) and not list(result.folder.rglob("*.pickle"))
        if result.record.format == "onnx-int8":
            continue  # quantized: close, not equal
        probs = load_predictor(result.folder, backend=result.record.format if result.record.format != "hf"
                               else "torch").predict(texts).probs
        np.testing.assert_allclose(probs, reference, atol=1e-4)
    card = (results[0].folder / "README.md").read_text()
    assert "This model is a blend: 40%" in card


def test_texts_without_words_skip_the_comparison_instead_of_failing_the_run():
    from datasets import Dataset

    from bertstudio.train.simple_model import fit_simple_model

    symbols = Dataset.from_dict({"text": [" ".join(["!?"] * 300)] * 6, "label": [0, 1, 0, 1, 0, 1]})
    assert fit_simple_model(symbols, symbols, ["a", "b"], seed=0) is None


def test_the_simple_model_says_what_it_fits_before_its_score():
    """Its fit took 121 s before the first step of a 300,000-row run, with nothing on the console meanwhile."""
    from bertstudio.evaluation.features import make_dataset
    from bertstudio.events import Working
    from bertstudio.train.simple_model import SimpleModelFit

    texts = sample_texts(45)
    events = []
    SimpleModelFit.begin(make_dataset(texts[:30], labels=[i % 3 for i in range(30)]),
                         make_dataset(texts[30:], labels=[i % 3 for i in range(15)]), LABELS, 0, events.append)
    assert [type(e) for e in events] == [Working, SimpleModelScored]
    assert events[0].phase.startswith("Fitting the simple word-count model") and "on 30 training texts" in events[0].phase
