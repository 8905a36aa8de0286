"""A multi-label model predicts label sets with every label's score: Python API, file, server."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from bertstudio.evaluation.multilabel_metrics import sigmoid
from bertstudio.predict.files import NO_LABEL, predict_file
from bertstudio.predict.predictor import load_predictor
from bertstudio.predict.serve import create_app

TEXTS = ["happy and smiling", "furious, annoyed and scared", "nothing much"]


@pytest.fixture(scope="module")
def predictor(multilabel_run):
    return load_predictor(multilabel_run)


def test_label_sets_follow_the_saved_thresholds(predictor):
    batch = predictor.predict(TEXTS)
    probs = sigmoid(predictor.logits(TEXTS))
    thresholds = np.asarray(predictor.prep.threshold_vector())
    assert np.allclose(batch.probs, probs)  # each label's own sigmoid, no softmax over labels
    for chosen, row in zip(batch.label_sets, probs):
        assert chosen == [n for n, p, t in zip(predictor.label_names, row, thresholds) if p >= t]
    records = batch.to_records()
    assert records[0]["labels"] == batch.label_sets[0] and set(records[0]["probabilities"]) == {"anger", "fear", "joy"}
    assert predictor.info()["problem_type"] == "multi_label_classification"
    assert "several labels per text" in predictor.describe()


def test_predict_file_writes_the_label_set(predictor, tmp_path):
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": TEXTS}).to_csv(data, index=False)
    result = predict_file(predictor, data, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert out["label"].tolist() == [label or NO_LABEL for label in predictor.predict(TEXTS).labels]
    expected = predictor.predict(TEXTS).label_hits()
    assert result.label_counts == dict(zip(predictor.label_names, expected.tolist()))


def test_a_zero_one_files_own_labels_are_named_in_file_and_no_label_is_said(predictor, tmp_path):
    """The file's 0/1 columns under bare label names read as predictions; an empty label cell as a failure."""
    onehot = copy.copy(predictor)
    onehot.prep = predictor.prep.model_copy(update={"label_columns": ["joy", "anger", "fear"], "thresholds": {},
                                                    "threshold": 0.99})  # no label reaches it: none applies
    data = tmp_path / "in.csv"
    pd.DataFrame({"text": [*TEXTS, ""], "id": [1, 2, 3, 4], "joy": [1, 0, 0, 0], "anger": [0, 1, 0, 0],
                  "fear": [0, 1, 0, 1]}).to_csv(data, index=False)
    predict_file(onehot, data, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False, dtype=str)
    assert list(out.columns)[-4:] == ["id", "joy_in_file", "anger_in_file", "fear_in_file"]
    assert out["fear_in_file"].tolist() == ["0", "1", "0", "1"]
    assert out["label"].tolist() == [NO_LABEL] * 3 + [""]  # the row without a text got no prediction at all


def test_server_returns_label_sets(predictor):
    client = TestClient(create_app(predictor))
    body = client.post("/predict", json={"texts": TEXTS}).json()
    expected = predictor.predict(TEXTS)
    assert [p["labels"] for p in body["predictions"]] == expected.label_sets
    assert [p["label"] for p in body["predictions"]] == expected.labels
