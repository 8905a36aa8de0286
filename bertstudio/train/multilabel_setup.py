"""What a multi-label run records before training: the task and label layout the data was read with (so its
validation and test files, a resumed run and prediction read labels the same way), and why."""

from __future__ import annotations

from typing import Any

from bertstudio.config import TrainConfig
from bertstudio.data.multilabel import LabelSettings
from bertstudio.train.auto import Decision
from bertstudio.train.multilabel import PROBLEM_TYPE


def label_layout_settings(prepared) -> dict[str, Any]:
    """The task as read from the data, for the run's config (an "auto" task is resolved here)."""
    info = prepared.multilabel
    if info is None:
        return {"task": "single_label"}
    layout: dict[str, Any] = {"task": "multi_label", "label_separator": info.separator,
                              "label_columns": info.label_columns}
    if info.label_columns:
        layout["label_column"] = None
    return layout


def task_decisions(prepared) -> list[Decision]:
    info = prepared.multilabel
    if info is None:
        return []
    return [Decision("task", "multi_label", info.reason)]


def same_label_layout(prepared, cfg: TrainConfig) -> LabelSettings | None:
    """Validation and test files are read exactly like the training file, with its labels."""
    info = prepared.multilabel
    if info is None:
        return LabelSettings(task="single_label")
    return LabelSettings(task="multi_label", separator=info.separator, label_columns=info.label_columns,
                         empty_labels=cfg.empty_labels, label_names=list(prepared.label_names))


def multilabel_preprocessing(cfg: TrainConfig) -> dict[str, Any]:
    """What prediction must know besides the thresholds: how labels were written (for files with labels)."""
    return {"problem_type": PROBLEM_TYPE, "label_separator": cfg.label_separator, "label_columns": cfg.label_columns}
