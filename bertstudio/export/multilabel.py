"""Multi-label exports: ``transformers.pipeline`` gives every label a sigmoid score (the exported config says
``problem_type="multi_label_classification"``); BERT Studio's thresholds turn the scores into label sets, so the
two are compared as sets."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from bertstudio.evaluation.multilabel_metrics import label_set_names, predict_sets, sigmoid
from bertstudio.export.hf import folder_pipeline, pipeline_inputs
from bertstudio.results import Preprocessing


def pipeline_scores(folder: Path, label_names: Sequence[str], texts: Sequence[str], pairs: Sequence[str] | None,
                    batch_size: int = 32) -> np.ndarray:
    """Every label's score from ``transformers.pipeline("text-classification", top_k=None)``, rows x labels."""
    pipe = folder_pipeline(folder, top_k=None)
    inputs = pipeline_inputs(texts, pairs)
    index = {name: i for i, name in enumerate(label_names)}
    out = np.zeros((len(inputs), len(label_names)))
    for row, scores in enumerate(pipe(inputs, truncation=True, batch_size=batch_size)):
        for item in scores:
            out[row, index[item["label"]]] = item["score"]
    return out


def pipeline_label_sets(folder: Path, prep: Preprocessing, logits: np.ndarray, texts: Sequence[str],
                        pairs: Sequence[str] | None) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(BERT Studio's label sets, the pipeline's scores at the same thresholds), for the agreement check."""
    thresholds = prep.threshold_vector()
    names = list(prep.label_names)
    ours = [tuple(label_set_names(row, names)) for row in predict_sets(sigmoid(logits), thresholds)]
    scores = pipeline_scores(folder, names, texts, pairs)
    theirs = [tuple(label_set_names(row, names)) for row in predict_sets(scores, thresholds)]
    return ours, theirs


def multilabel_usage_note(thresholds: dict[str, float] | None) -> str:
    """The model card's paragraph on label sets: sigmoid scores, and the thresholds that decide each label."""
    if not thresholds:
        return ""
    listed = ", ".join(f"{name} {value:.2f}" for name, value in thresholds.items())
    return ("\n\nSeveral labels per text: every label gets its own probability (a sigmoid; `top_k=None` makes the "
            "pipeline return all of them), and a label applies when its probability reaches its threshold, tuned "
            f"on the validation split (`preprocessing.json`): {listed}. BERT Studio applies them for you.")
